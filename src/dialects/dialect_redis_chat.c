/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat.c - seed 001, basic-redis-chat-demo-go (docs/dialects.md): WebSocket /ws,
 * JSON envelopes {"type": T, "<T>": {...}, "userUUID", "accessKey"}, its React bundle served
 * from the listener's www= directory and /links. This file is the protocol: envelopes parsed
 * and checked as Go decoded them, one request at a time in order (later ones held, sess.h),
 * who may ask for what, the errors; the requests are served by its other files
 * (dialect_redis_chat_int.h). A signed-in session is the core user named by its account
 * (auth.c): user id = name = the account's name, the account's UUID is 001's userUUID. */
#define _GNU_SOURCE /* explicit_bzero */
#include "base/text.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "dialects/dialect_redis_chat_int.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request types, their per-type object's key, and its string fields (lowercase, as
 * cf_text_go_key_is() wants them). */
static const struct {
	const char *name;
	const char *key;
	const char *fields[3];
} types[T_NTYPES] = {
        [T_SIGNIN] = {"signIn", "signin", {"username", "password", NULL}},
        [T_SIGNUP] = {"signUp", "signup", {"username", "password", NULL}},
        [T_USERS] = {"users", NULL, {NULL}},
        [T_JOIN] = {"channelJoin", "channeljoin", {"recipientuuid", NULL}},
        [T_MESSAGE] = {"channelMessage", "channelmessage", {"recipientuuid", "message", NULL}},
        [T_LEAVE] = {"channelLeave", "channelleave", {"recipientuuid", NULL}},
        [T_SIGNOUT] = {"signOut", "signout", {"uuid", NULL}},
};

/* Its WebSocket endpoint (it has no [dialects] switch). */
static int
ws_path(const struct cf_config *cfg, const char *path)
{
	(void)cfg;
	return !strcmp(path, "/ws");
}

/* Its private channels are private by their unguessable names only: kept out of room lists. */
static int
room_hidden(const char *room)
{
	return !strncmp(room, PRIVATE_PFX, sizeof(PRIVATE_PFX) - 1);
}

/* /links, /ws without an upgrade (refused as gobwas/ws words it), and /index.html, which Go's
 * http.FileServer (serving the seed's bundle) sent to /. */
static int
http(struct cf_http_req *rq, char *out, size_t outlen)
{
	static const char links[] = "{\"github\":\"https://github.com/redis-developer/"
	                            "basic-redis-chat-demo-go\"}";
	int get = rq->method == 'G';

	if (!strcmp(rq->path, "/links")) {
		snprintf(out, outlen, "%s", links);
		return 200;
	}
	if (!strcmp(rq->path, "/ws")) {
		snprintf(out, outlen, "%s",
		         get ? "handshake error: bad \"Upgrade\" header"
		             : "handshake error: bad HTTP request method");
		return get ? 400 : 405;
	}
	if (get && *rq->www && !strcmp(rq->path, "/index.html")) {
		free(rq->headers);
		rq->headers = strdup("Location: /\r\n");
		if (!rq->headers)
			return -ENOMEM;
		rq->ctype = "text/html; charset=utf-8";
		out[0] = '\0';
		return 301;
	}
	return 0;
}

/* ---- the session's state ------------------------------------------------------------------ */

static void
req_free(struct req *q)
{
	if (!q)
		return;
	json_decref(q->o);
	free(q->key);
	free(q->rname);
	if (q->pw) {
		explicit_bzero(q->pw, q->pwlen);
		free(q->pw);
	}
	free(q->name);
	for (size_t i = 0; i < q->n; i++)
		free(q->accts[i].name);
	free(q->accts);
	json_decref(q->list);
	free(q);
}

/* ---- replies ------------------------------------------------------------------------------ */

void
cf_redis_chat_push(struct cf_sess *s, json_t *o)
{
	cf_sess_push_owned(s, cf_frame_from_json(o));
}

/* The request as the error's payload, without passwords. New reference, or null. */
static json_t *
payload_of(json_t *o)
{
	json_t *c, *v;
	const char *key;

	if (!json_is_object(o))
		return json_null();
	c = json_deep_copy(o);
	if (!c)
		return json_null();
	json_object_foreach (c, key, v) {
		if ((cf_text_go_key_is(key, "signin") || cf_text_go_key_is(key, "signup")) &&
		    json_is_object(v)) {
			const char *k2;
			json_t *v2;
			void *tmp;

			json_object_foreach_safe(v, tmp, k2, v2)
			{
				if (cf_text_go_key_is(k2, "password"))
					json_object_del(v, k2);
			}
		}
	}
	return c;
}

void
cf_redis_chat_error(struct cf_sess *s, unsigned code, json_t *req, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cf_redis_chat_push(s, json_pack("{s:s,s:{s:i,s:s,s:o}}", "type", "error", "error", "code",
	                                (int)code, "error", text, "payload", payload_of(req)));
}

/* ---- request flow: one at a time, in order ------------------------------------------------ */

/* The current request is done: the next ones run, in order. */
void
cf_redis_chat_finish(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);

	req_free(rc->cur);
	rc->cur = NULL;
	cf_sess_done(s);
}

/* ---- who is asking ------------------------------------------------------------------------ */

static void run(struct cf_sess *s);

static void
deny(struct cf_sess *s, int unknown)
{
	struct req *q = rc_of(s)->cur;

	if (unknown && q->type == T_JOIN)
		cf_redis_chat_error(s, E_USER, q->o, "no user %s", q->uid);
	else if (unknown && q->type == T_SIGNOUT)
		cf_redis_chat_error(s, E_SIGNOUT, q->o, "no user %s", q->uid);
	else if (*q->uid)
		cf_redis_chat_error(s, E_UNAUTHORIZED, q->o,
		                    "unauthorized: sign in as %s or send its accessKey", q->uid);
	else
		cf_redis_chat_error(s, E_UNAUTHORIZED, q->o, "unauthorized: sign in first");
	cf_redis_chat_finish(s);
}

static void
key_checked(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err < 0 || strcmp(r->acct->id, q->uid)) {
		deny(s, 0);
		return;
	}
	if (cf_redis_chat_become(s, r->acct) < 0) {
		cf_sess_close(s, 1011, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	run(s);
}

static void
user_found(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err == -ENOENT) {
		deny(s, 1);
		return;
	}
	if (r->err < 0) {
		cf_redis_chat_error(s, q->type == T_JOIN ? E_USER : E_UNAUTHORIZED, q->o, "%s",
		                    cf_redis_chat_auth_why(r->err));
		cf_redis_chat_finish(s);
		return;
	}
	cf_redis_chat_name_put(r->acct->id, r->acct->name);
	if (!q->key || cf_auth_token_check(s->env->auth, q->key, key_checked, s, 0) < 0) {
		deny(s, 0);
		return;
	}
}

/* Requests that act as a user: the session's own, or userUUID's when the session is signed
 * in as it or the request carries a valid accessKey of it (which signs the session in). */
static void
authorize(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;

	if (!s->env->auth) {
		cf_redis_chat_error(s, E_UNAUTHORIZED, q->o,
		                    "accounts are disabled on this server");
		cf_redis_chat_finish(s);
		return;
	}
	if (!*q->uid || !strcmp(q->uid, s->x->account_id)) {
		if (!s->user_id || !s->x->account_id[0]) {
			deny(s, 0);
			return;
		}
		run(s);
		return;
	}
	if (cf_auth_by_id(s->env->auth, q->uid, user_found, s, 0) < 0) {
		cf_redis_chat_error(s, E_GENERIC, q->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* The per-type object of the request (NULL: missing or null). */
static json_t *
inner(json_t *o, enum type t)
{
	const char *key;
	json_t *v, *found = NULL;

	if (!types[t].key)
		return NULL;
	json_object_foreach (o, key, v) {
		if (cf_text_go_key_is(key, types[t].key))
			found = v;
	}
	return json_is_null(found) ? NULL : found;
}

static void
run(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;
	json_t *obj = inner(q->o, q->type);

	switch (q->type) {
	case T_USERS:
		cf_redis_chat_users(s);
		return;
	case T_JOIN:
		cf_redis_chat_join(s);
		return;
	case T_MESSAGE:
		cf_redis_chat_message(s, obj);
		break;
	case T_LEAVE:
		cf_redis_chat_leave(s);
		break;
	case T_SIGNOUT:
		cf_redis_chat_signout(s, obj);
		return;
	default:
		break;
	}
	cf_redis_chat_finish(s);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static const char *
kind_of(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

/* The envelope's string member name (lowercase), the last matching key winning; "" when
 * absent or null. -EINVAL (why in err) for another type. Borrowed. */
static int
env_str(json_t *o, const char *name, const char **ret, char *err, size_t errlen)
{
	const char *key;
	json_t *v, *found = NULL;

	*ret = "";
	json_object_foreach (o, key, v) {
		if (cf_text_go_key_is(key, name))
			found = v;
	}
	if (!found || json_is_null(found))
		return 0;
	if (!json_is_string(found)) {
		snprintf(err, errlen,
		         "json: cannot unmarshal %s into Go struct field .%s of type string",
		         kind_of(found), name);
		return -EINVAL;
	}
	*ret = json_string_value(found);
	return 0;
}

/* Every per-type object present must be an object whose known fields are strings, as Go
 * decoded them into the request struct (whatever the type). -EINVAL with Go's complaint. */
static int
check_types(json_t *o, char *err, size_t errlen)
{
	for (int t = 0; t < T_NTYPES; t++) {
		json_t *obj = inner(o, (enum type)t);
		const char *key;
		json_t *v;

		if (!obj)
			continue;
		if (!json_is_object(obj)) {
			snprintf(
			        err, errlen,
			        "json: cannot unmarshal %s into Go struct field .%s of type object",
			        kind_of(obj), types[t].name);
			return -EINVAL;
		}
		json_object_foreach (obj, key, v) {
			for (const char *const *f = types[t].fields; *f; f++)
				if (cf_text_go_key_is(key, *f) && !json_is_null(v) &&
				    !json_is_string(v)) {
					snprintf(err, errlen,
					         "json: cannot unmarshal %s into Go struct field "
					         ".%s.%s of type string",
					         kind_of(v), types[t].name, *f);
					return -EINVAL;
				}
		}
	}
	return 0;
}

/* A UUID field: "" stays "", else it must be a UUID (any case) and is kept in lowercase. */
static int
uuid_arg(const char *in, char out[37])
{
	if (!*in) {
		out[0] = '\0';
		return 0;
	}
	return cf_text_uuid_parse(in, strlen(in), out);
}

int
cf_redis_chat_inner_str(json_t *obj, const char *name, const char **ret)
{
	const char *key;
	json_t *v;

	*ret = NULL;
	json_object_foreach (obj, key, v) {
		if (cf_text_go_key_is(key, name) && json_is_string(v))
			*ret = json_string_value(v);
	}
	return *ret ? 0 : -ENOENT;
}

/* Serves one request (the session is idle). */
static void
dispatch(struct cf_sess *s, json_t *o)
{
	struct rc *rc = rc_of(s);
	const char *type, *uid, *key, *recip = "";
	char err[256];
	struct req *q;
	json_t *obj;
	int t;

	if (json_is_null(o)) {
		/* Go decodes null into an empty request. */
		cf_redis_chat_error(s, E_GENERIC, NULL, "unknow request data type: ");
		return;
	}
	if (!json_is_object(o)) {
		cf_redis_chat_error(
		        s, E_JSON, NULL,
		        "json: cannot unmarshal %s into Go value of type websocket.Request",
		        kind_of(o));
		return;
	}
	if (env_str(o, "type", &type, err, sizeof(err)) < 0 ||
	    env_str(o, "useruuid", &uid, err, sizeof(err)) < 0 ||
	    env_str(o, "accesskey", &key, err, sizeof(err)) < 0 ||
	    check_types(o, err, sizeof(err)) < 0) {
		cf_redis_chat_error(s, E_JSON, o, "%s", err);
		return;
	}
	for (t = 0; t < T_NTYPES; t++)
		if (!strcmp(type, types[t].name))
			break;
	if (t == T_NTYPES) {
		cf_redis_chat_error(s, E_GENERIC, o, "unknow request data type: %s", type);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		cf_redis_chat_error(s, E_GENERIC, NULL, "out of memory");
		return;
	}
	q->type = (enum type)t;
	q->o = json_incref(o);
	rc->cur = q;
	cf_sess_busy(s);
	if (uuid_arg(uid, q->uid) < 0) {
		/* Not a UUID: no such user. */
		snprintf(q->uid, sizeof(q->uid), "%.36s", uid);
		deny(s, 1);
		return;
	}
	if (*key && !(q->key = strdup(key))) {
		cf_redis_chat_error(s, E_GENERIC, o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	obj = inner(o, q->type);
	if (types[t].key && !obj) {
		static const unsigned missing[T_NTYPES] = {
		        [T_SIGNIN] = E_SIGNIN, [T_SIGNUP] = E_SIGNIN, [T_JOIN] = E_JOIN,
		        [T_MESSAGE] = E_WRITE, [T_LEAVE] = E_GENERIC, [T_SIGNOUT] = E_SIGNOUT,
		};

		cf_redis_chat_error(s, missing[t], o, "missing %s", types[t].name);
		cf_redis_chat_finish(s);
		return;
	}
	if (t == T_SIGNIN || t == T_SIGNUP) {
		cf_redis_chat_credentials(s, obj);
		return;
	}
	if (obj && types[t].fields[0] && !strcmp(types[t].fields[0], "recipientuuid")) {
		cf_redis_chat_inner_str(obj, "recipientuuid", &recip);
		if (!recip)
			recip = "";
		if (uuid_arg(recip, q->recip) < 0) {
			cf_redis_chat_error(s,
			                    t == T_JOIN      ? E_USER
			                    : t == T_MESSAGE ? E_WRITE
			                                     : E_GENERIC,
			                    o, "recipientUUID is not a UUID");
			cf_redis_chat_finish(s);
			return;
		}
	}
	authorize(s);
}

static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	struct rc *rc = rc_of(s);
	json_error_t jerr;
	json_t *o;
	int r;

	if (!rc)
		return 0; /* on_open failed: the session is closing */
	if (cf_sess_must_hold(s)) {
		r = cf_sess_hold(s, buf, len);
		if (r == -ENOBUFS)
			cf_redis_chat_error(
			        s, E_GENERIC, NULL,
			        "more than %d requests wait for an earlier one: slow down",
			        CF_SESS_HOLD_MAX);
		return r < 0 && r != -ENOBUFS ? -1 : 0;
	}
	if (!buf)
		return 0;
	/* Binary frames arrive as UTF-8 already (binary_as_text); a NUL ends the request. */
	o = json_loadb(buf, strnlen(buf, len), JSON_DECODE_ANY, &jerr);
	if (!o) {
		cf_redis_chat_error(s, E_JSON, NULL, "%s", jerr.text);
		return 0;
	}
	dispatch(s, o);
	json_decref(o);
	return 0;
}

static int
on_open(struct cf_sess *s, struct lws *wsi)
{
	struct rc *rc = calloc(1, sizeof(*rc));

	(void)wsi;
	/* Every 001 session has s->x: the code below uses s->x wherever rc_of(s) is set. */
	if (!rc || !cf_sess_ext(s)) {
		free(rc);
		cf_sess_close(s, 1011, "out of memory");
		return 0;
	}
	s->x->dstate = rc;
	cf_text_uuid4(rc->suuid, s->id);
	cf_redis_chat_push(
	        s, json_pack("{s:s,s:{s:s}}", "type", "ready", "ready", "sessionUUID", rc->suuid));
	return 0;
}

static void
on_close(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);

	if (!rc)
		return;
	req_free(rc->cur);
	cf_redis_chat_pair_unref(rc->pair);
	free(rc);
	s->x->dstate = NULL;
}

const struct cf_dialect cf_dialect_redis_chat = {
        .id = CF_DIALECT_REDIS_CHAT,
        .name = "redis_chat",
        .paths = (const char *const[]){"/ws", "/links", NULL},
        .binary_as_text = 1,
        .on_open = on_open,
        .on_text = on_text,
        .render_msg = cf_redis_chat_render_msg,
        .render_presence = cf_redis_chat_render_presence,
        .render_dm = cf_redis_chat_render_dm,
        .join_done = cf_redis_chat_join_done,
        .on_close = on_close,
        .ws_path = ws_path,
        .seed = 1,
        .http = http,
        .room_hidden = room_hidden,
        .cleanup = cf_redis_chat_cleanup,
};
