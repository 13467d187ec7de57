/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat.c - seed 001, basic-redis-chat-demo-go (docs/dialects.md): WebSocket /ws,
 * JSON envelopes {"type": T, "<T>": {...}, "userUUID", "accessKey"}, its React bundle served
 * from the listener's www= directory and /links. A signed-in session is the core user named
 * by its account (auth.c): user id = name = the account's name, the account's UUID is 001's
 * userUUID. The public channel is the core room "public"; a private channel between two
 * accounts is a core room named from both UUIDs under the accounts' key (cf_auth_derive()). */
#define _GNU_SOURCE /* explicit_bzero */
#include "confab/auth.h"
#include "confab/bus.h"
#include "confab/config.h"
#include "confab/dialect.h"
#include "confab/frame.h"
#include "confab/ident.h"
#include "confab/log.h"
#include "confab/room.h"
#include "confab/env.h"
#include "confab/sess.h"
#include "confab/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <systemd/sd-id128.h>
#include <uthash.h>

#define PUBLIC_ROOM  "public"
#define PRIVATE_PFX  "001p:"
#define PRIVATE_LBL  "redis_chat private channel"
#define JOIN_HISTORY 10
#define NAMES_MAX    65536 /* account UUID <-> name pairs remembered for rendering */
/* The nonce of a 001 message: "r1:<sender's account UUID>:<32 hex>", 72 bytes. Longer than
 * any nonce confab.v1 accepts (64), so only this dialect makes them: the renderer can trust
 * the UUID in it. */
#define NONCE_PFX "r1:"
#define NONCE_LEN (3 + 36 + 1 + 32)

/* Error codes: the seed's, and 5 (unauthorized), which it never needed. */
enum {
	E_GENERIC = 0,
	E_JSON = 1,
	E_SIGNIN = 4,
	E_UNAUTHORIZED = 5,
	E_SIGNOUT = 6,
	E_USER = 100,
	E_JOIN = 101,
	E_USERS = 103,
	E_WRITE = 104,
};

enum type {
	T_SIGNIN,
	T_SIGNUP,
	T_USERS,
	T_JOIN,
	T_MESSAGE,
	T_LEAVE,
	T_SIGNOUT,
	T_NTYPES,
};

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

/* ---- process-wide: account UUID <-> name, and private channels' parties ------------------ */

/* What renderers need beyond a message (sender's name and id): an account's UUID. Filled when
 * a session signs in, looks an account up, or lists the users; bounded, oldest out first. */
struct name_ent {
	UT_hash_handle hh_uuid, hh_name;
	struct lws_dll2 order;
	char uuid[37];
	char name[];
};

/* A private channel's parties, while a session of this node is joined to it (refs). */
struct pair_ent {
	UT_hash_handle hh;
	uint32_t refs;
	char uuid[2][37];
	char *name[2];
	char room[];
};

static struct name_ent *by_uuid, *by_name;
static struct lws_dll2_owner names_order;
static struct pair_ent *pairs;

static void
name_del(struct name_ent *e)
{
	HASH_DELETE(hh_uuid, by_uuid, e);
	HASH_DELETE(hh_name, by_name, e);
	lws_dll2_remove(&e->order);
	free(e);
}

static void
name_put(const char *uuid, const char *name)
{
	struct name_ent *e;
	size_t nl = strlen(name);

	HASH_FIND(hh_uuid, by_uuid, uuid, strlen(uuid), e);
	if (e)
		return; /* an account's name never changes */
	if (strlen(uuid) != 36)
		return;
	if (names_order.count >= NAMES_MAX)
		name_del(lws_container_of(names_order.head, struct name_ent, order));
	e = calloc(1, sizeof(*e) + nl + 1);
	if (!e)
		return; /* renderers fall back to the user id */
	memcpy(e->uuid, uuid, 37);
	memcpy(e->name, name, nl + 1);
	HASH_ADD(hh_uuid, by_uuid, uuid[0], 36, e);
	HASH_ADD_KEYPTR(hh_name, by_name, e->name, nl, e);
	lws_dll2_add_tail(&e->order, &names_order);
}

/* The account UUID of the core user uid, or uid itself (guests of other dialects). */
static const char *
uuid_of(const char *uid)
{
	struct name_ent *e;

	HASH_FIND(hh_name, by_name, uid, strlen(uid), e);
	return e ? e->uuid : uid;
}

static struct pair_ent *
pair_ref(const char *room, const char *ua, const char *na, const char *ub, const char *nb)
{
	struct pair_ent *p;
	size_t rl = strlen(room);

	HASH_FIND_STR(pairs, room, p);
	if (p) {
		p->refs++;
		return p;
	}
	p = calloc(1, sizeof(*p) + rl + 1);
	if (!p)
		return NULL;
	memcpy(p->room, room, rl + 1);
	memcpy(p->uuid[0], ua, 37);
	memcpy(p->uuid[1], ub, 37);
	p->name[0] = strdup(na);
	p->name[1] = strdup(nb);
	if (!p->name[0] || !p->name[1]) {
		free(p->name[0]);
		free(p->name[1]);
		free(p);
		return NULL;
	}
	p->refs = 1;
	HASH_ADD_KEYPTR(hh, pairs, p->room, rl, p);
	return p;
}

static void
pair_unref(struct pair_ent *p)
{
	if (!p || --p->refs)
		return;
	HASH_DEL(pairs, p);
	free(p->name[0]);
	free(p->name[1]);
	free(p);
}

/* The party of a private channel other than the user uid (uid itself in a channel with
 * oneself): 0 or 1, or -1 when the room is not a private channel known here. */
static int
pair_other(const char *room, const char *uid, struct pair_ent **ret)
{
	struct pair_ent *p;

	if (strncmp(room, PRIVATE_PFX, sizeof(PRIVATE_PFX) - 1))
		return -1;
	HASH_FIND_STR(pairs, room, p);
	if (!p)
		return -1;
	*ret = p;
	return !strcmp(p->name[0], uid) ? 1 : 0;
}

/* Forgets the account names and private channels it remembers (at exit). */
static void
cleanup(void)
{
	struct pair_ent *p, *ptmp;

	while (names_order.head)
		name_del(lws_container_of(names_order.head, struct name_ent, order));
	HASH_ITER(hh, pairs, p, ptmp)
	{
		HASH_DEL(pairs, p);
		free(p->name[0]);
		free(p->name[1]);
		free(p);
	}
}

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

/* ---- rendering ---------------------------------------------------------------------------- */

/* A UUID (version 4 layout) derived from the message's place in its room, so that every node
 * renders the same one for the same message. */
static void
msg_uuid(const struct cf_msg *m, char out[37])
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char buf[CF_ROOM_NAME_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "%s%c%" PRIu64 "%c%" PRIu64, m->room, '\0', m->epoch,
	                 '\0', m->seq);
	sd_id128_t id;

	SHA256((const unsigned char *)buf, n > 0 ? (size_t)n : 0, h);
	memcpy(id.bytes, h, sizeof(id.bytes));
	id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40);
	id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
	sd_id128_to_uuid_string(id, out);
}

/* Go's time.Time in JSON (RFC 3339, fraction without trailing zeros), UTC. */
static void
created_at(int64_t ms, char out[40])
{
	time_t t = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		char f[8];
		int len = 3;

		snprintf(f, sizeof(f), "%03d", frac);
		while (f[len - 1] == '0')
			len--;
		snprintf(out + n, 40 - n, ".%.*sZ", len, f);
	} else {
		snprintf(out + n, 40 - n, "Z");
	}
}

static json_t *
user_obj(const char *uuid, const char *name, int online)
{
	return json_pack("{s:s,s:s,s:b}", "UUID", uuid, "Username", name, "OnLine", online);
}

/* The sender's account UUID into out: from the nonce of a 001 message, else what this node
 * knows of the user, else the user id. Returns out, or the user id when it is too long. */
static const char *
sender_uuid(const struct cf_msg *m, char out[37])
{
	const char *u;

	if (m->nonce && strlen(m->nonce) == NONCE_LEN &&
	    !strncmp(m->nonce, NONCE_PFX, sizeof(NONCE_PFX) - 1)) {
		memcpy(out, m->nonce + sizeof(NONCE_PFX) - 1, 36);
		out[36] = '\0';
		return out;
	}
	u = uuid_of(m->from_id);
	return u;
}

/* The message object, in the field order of the pub/sub form or of a history entry. */
static json_t *
msg_obj(const struct cf_msg *m, int history)
{
	char id[37], buf[37], at[40];
	const char *su = sender_uuid(m, buf), *ru = "";
	struct pair_ent *p = NULL;
	json_t *o = json_object(), *recipient = NULL;
	int other = pair_other(m->room, m->from_id, &p);

	if (!o)
		return NULL;
	if (other >= 0) {
		ru = p->uuid[other];
		recipient = user_obj(ru, p->name[other], 0);
	}
	msg_uuid(m, id);
	created_at(m->ts_ms, at);
	json_object_set_new(o, "UUID", json_string(id));
	if (history)
		json_object_set_new(o, "SenderUUID", json_string(su));
	json_object_set_new(o, "Sender", user_obj(su, m->from_name, 0));
	if (!history)
		json_object_set_new(o, "SenderUUID", json_string(su));
	if (history)
		json_object_set_new(o, "RecipientUUID", json_string(ru));
	if (recipient)
		json_object_set_new(o, "Recipient", recipient);
	if (!history)
		json_object_set_new(o, "RecipientUUID", json_string(ru));
	json_object_set_new(o, "Message", json_string(m->text));
	json_object_set_new(o, "CreatedAt", json_string(at));
	return o;
}

static struct cf_frame *
render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:o}", "type", "channelMessage", "channelMessage", msg_obj(m, 0)));
}

/* sys channelJoin: a user's first session joined the channel. suuid: the joiner's session
 * (only on the joiner's own copy), recip: the recipient it named, NULL: from the room. */
static json_t *
sys_join(const char *room, const char *uid, const char *uname, const char *suuid, const char *recip)
{
	struct pair_ent *p = NULL;
	const char *uuid = uuid_of(uid);
	json_t *cj = json_object(), *o;
	int other;

	if (!recip && (other = pair_other(room, uid, &p)) >= 0)
		recip = p->uuid[other];
	if (cj && recip && *recip)
		json_object_set_new(cj, "recipientUUID", json_string(recip));
	o = json_pack("{s:s,s:s,s:o,s:{s:s,s:o}}", "type", "sys", "userUUID", uuid, "user",
	              user_obj(uuid, uname, 1), "sys", "type", "channelJoin", "channelJoin", cj);
	if (o && suuid)
		json_object_set_new(o, "SUUID", json_string(suuid));
	return o;
}

static struct cf_frame *
render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	/* 001 has no leave event. */
	if (strcmp(ev, "join"))
		return NULL;
	return cf_frame_from_json(sys_join(room, uid, uname, NULL, NULL));
}

/* No direct messages, gaps or bye in 001. */
/* A direct message to this user (a confab.v1 dm, a seed 004 send, one kept in the inbox while
 * the user was away). The seed has no such event: it is shown as a private-channel message
 * from the sender, which the bundle files under RecipientUUID as it does the seed's own private
 * messages. Without this a DM to a user signed in only through 001 would be taken from the
 * inbox and shown nowhere. */
static struct cf_frame *
render_dm(const struct cf_msg *m)
{
	char id[37], at[40];
	const char *su = uuid_of(m->from_id), *ru = uuid_of(m->room);

	if (m->mid[0])
		snprintf(id, sizeof(id), "%s", m->mid);
	else
		cf_text_uuid4(id, (unsigned long long)m->ts_ms);
	created_at(m->ts_ms, at);
	return cf_frame_from_json(
	        json_pack("{s:s,s:{s:s,s:o,s:s,s:o,s:s,s:s,s:s}}", "type", "channelMessage",
	                  "channelMessage", "UUID", id, "Sender", user_obj(su, m->from_name, 0),
	                  "SenderUUID", su, "Recipient", user_obj(ru, m->room, 0), "RecipientUUID",
	                  ru, "Message", m->text, "CreatedAt", at));
}

/* ---- the session's state ------------------------------------------------------------------ */

/* The request being served; later ones are held (sess.h: cf_sess_hold()) until it is done. */
struct req {
	enum type type;
	json_t *o;      /* the request, for error payloads */
	char uid[37];   /* userUUID as given ("" none) */
	char *key;      /* accessKey (NULL none) */
	char recip[37]; /* recipientUUID ("" public) */
	char *rname;    /* the recipient's name, once looked up */
	char *pw;       /* signIn/signUp, wiped */
	size_t pwlen;
	char *name;               /* signIn/signUp */
	int retried;              /* signIn/signUp: the other operation was tried too */
	struct cf_account *accts; /* users: names owned */
	size_t n, done;
	json_t *list; /* users: the answer's array */
	char room[CF_ROOM_NAME_MAX + 1];
	unsigned names_read : 1; /* channelJoin: the account list was read for members' UUIDs */
};

struct rc {
	char suuid[37];
	char room[CF_ROOM_NAME_MAX + 1]; /* the joined channel's room, "" none */
	char recip[37];                  /* ... its recipient, "" public */
	struct pair_ent *pair;           /* held while joined to a private channel */
	struct req *cur;                 /* NULL: idle (else the session is busy) */
};

static struct rc *
rc_of(struct cf_sess *s)
{
	return s->x ? s->x->dstate : NULL;
}

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

static void
push(struct cf_sess *s, json_t *o)
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

static void send_error(struct cf_sess *s, unsigned code, json_t *req, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
send_error(struct cf_sess *s, unsigned code, json_t *req, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	push(s, json_pack("{s:s,s:{s:i,s:s,s:o}}", "type", "error", "error", "code", (int)code,
	                  "error", text, "payload", payload_of(req)));
}

/* ---- request flow: one at a time, in order ------------------------------------------------ */

static int inner_str(json_t *obj, const char *name, const char **ret);

/* The current request is done: the next ones run, in order. */
static void
finish(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);

	req_free(rc->cur);
	rc->cur = NULL;
	cf_sess_done(s);
}

/* ---- channels ----------------------------------------------------------------------------- */

static void
leave_channel(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct cf_room *room;

	if (rc->room[0] && (room = cf_room_find(s->env->reg, rc->room)))
		cf_room_leave(s->env->reg, s, room);
	rc->room[0] = '\0';
	rc->recip[0] = '\0';
	pair_unref(rc->pair);
	rc->pair = NULL;
}

/* The session becomes the account's user (leaving the channel of the one it was). */
static int
become(struct cf_sess *s, const struct cf_account *a)
{
	name_put(a->id, a->name);
	if (s->user_id && !strcmp(s->x->account_id, a->id))
		return 0;
	leave_channel(s);
	if (cf_sess_set_user(s, a->name, a->name) < 0)
		return -ENOMEM;
	memcpy(s->x->account_id, a->id, sizeof(s->x->account_id));
	return 0;
}

/* Back to a session that is nobody. */
static void
become_nobody(struct cf_sess *s)
{
	leave_channel(s);
	cf_registry_user_remove(s->env->reg, s);
	free(s->user_id);
	s->user_id = NULL;
	s->user_name = NULL;
	s->x->account_id[0] = '\0';
}

/* The room of a channel: "public", or the private channel of accounts a and b. */
static int
channel_room(struct cf_sess *s, const char *a, const char *b, char *out, size_t outlen)
{
	char pair[80], mac[48];
	int r;

	if (!*b) {
		snprintf(out, outlen, "%s", PUBLIC_ROOM);
		return 0;
	}
	snprintf(pair, sizeof(pair), "%s:%s", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
	r = cf_auth_derive(s->env->auth, PRIVATE_LBL, pair, mac, sizeof(mac));
	if (r < 0)
		return r;
	snprintf(out, outlen, "%s%s", PRIVATE_PFX, mac);
	return 0;
}

/* ---- signIn, signUp ----------------------------------------------------------------------- */

static void auth_step(void *ud, int64_t tag, const struct cf_auth_result *r);

static void
signed_in(struct cf_sess *s, const struct cf_auth_result *r)
{
	struct req *q = rc_of(s)->cur;

	if (become(s, r->acct) < 0) {
		cf_sess_close(s, 1011, "out of memory");
		return;
	}
	push(s, json_pack("{s:s,s:{s:s,s:s}}", "type", "authorized", "authorized", "userUUID",
	                  r->acct->id, "accessKey", r->token ? r->token : ""));
	/* The client learns who it is from this; to the signing-in connection only, as other
	 * clients would take it for their own identity. */
	if (q->type == T_SIGNIN)
		push(s,
		     json_pack("{s:s,s:{s:s,s:{s:s,s:s}}}", "type", "sys", "sys", "type", "signIn",
		               "signIn", "uuid", r->acct->id, "username", r->acct->name));
}

static const char *
auth_why(int err)
{
	switch (err) {
	case -EACCES:
		return "wrong password";
	case -ENOSPC:
		return "the server holds its maximum number of accounts";
	case -EBUSY:
		return "too many password checks are waiting: try again";
	case -EAGAIN:
		return "accounts are unavailable now: try again later";
	case -EIO:
		return "the account could not be saved: try again later";
	default:
		return "the request could not be served";
	}
}

/* signIn: verify, and create the account when there is none. signUp: create, and when the
 * name is taken sign in with the password given (never without checking it). */
static void
auth_step(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;
	int r2;

	(void)tag;
	if (!r->err) {
		signed_in(s, r);
	} else if (!q->retried && ((q->type == T_SIGNIN && r->err == -ENOENT) ||
	                           (q->type == T_SIGNUP && r->err == -EEXIST) ||
	                           (q->type == T_SIGNIN && r->err == -EEXIST))) {
		/* -EEXIST after signIn's create: another node created it meanwhile. */
		q->retried = 1;
		if (r->err == -ENOENT && !strncmp(q->name, "guest-", 6)) {
			send_error(s, E_SIGNIN, q->o,
			           "names starting with 'guest-' are for guests");
		} else {
			r2 = r->err == -ENOENT ? cf_auth_create(s->env->auth, q->name, q->pw,
			                                        q->pwlen, auth_step, s, 0)
			                       : cf_auth_verify(s->env->auth, q->name, q->pw,
			                                        q->pwlen, auth_step, s, 0);
			if (r2 == 0)
				return;
			send_error(s, E_SIGNIN, q->o, "out of memory");
		}
	} else {
		send_error(s, E_SIGNIN, q->o, "%s", auth_why(r->err));
	}
	finish(s);
}

static void
do_credentials(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const struct cf_config *cfg = s->env->cfg;
	const char *name = NULL, *pw = NULL, *key;
	size_t nl = 0, pl = 0;
	json_t *v;
	int r;

	if (!s->env->auth) {
		send_error(s, E_SIGNIN, q->o, "accounts are disabled on this server");
		goto done;
	}
	json_object_foreach (obj, key, v) {
		if (cf_text_go_key_is(key, "username") && json_is_string(v)) {
			name = json_string_value(v);
			nl = json_string_length(v);
		} else if (cf_text_go_key_is(key, "password") && json_is_string(v)) {
			pw = json_string_value(v);
			pl = json_string_length(v);
		}
	}
	if (!name || !pw) {
		send_error(s, E_SIGNIN, q->o, "%s.username and %s.password are required",
		           types[q->type].name, types[q->type].name);
		goto done;
	}
	/* 001's users are accounts: an account's name has no ':' (ident.h). */
	if (cf_ident_local_ok(CF_ID_ACCOUNT, name, nl, (size_t)cfg->max_name) < 0) {
		send_error(s, E_SIGNIN, q->o,
		           "user names are 1 to %d bytes of UTF-8 without control characters, "
		           "':' or leading/trailing spaces",
		           cfg->max_name);
		goto done;
	}
	if (cf_auth_password_ok(s->env->auth, pl) < 0 || strlen(pw) != pl) {
		send_error(s, E_SIGNIN, q->o, "passwords are %d to %d bytes without NUL",
		           cfg->auth_password_min, cfg->auth_password_max);
		goto done;
	}
	if (cf_auth_attempt(s->env->auth, s->ipc ? s->ipc->ip : "?", name) < 0) {
		send_error(s, E_SIGNIN, q->o, "too many attempts: wait a minute");
		goto done;
	}
	q->name = strdup(name);
	q->pw = malloc(pl + 1);
	if (!q->name || !q->pw)
		goto oom;
	memcpy(q->pw, pw, pl + 1);
	q->pwlen = pl;
	if (q->type == T_SIGNUP && !strncmp(name, "guest-", 6)) {
		send_error(s, E_SIGNIN, q->o, "names starting with 'guest-' are for guests");
		goto done;
	}
	r = q->type == T_SIGNIN ? cf_auth_verify(s->env->auth, name, pw, pl, auth_step, s, 0)
	                        : cf_auth_create(s->env->auth, name, pw, pl, auth_step, s, 0);
	if (r < 0)
		goto oom;
	cf_sess_wait(s);
	return;
oom:
	send_error(s, E_SIGNIN, q->o, "out of memory");
done:
	finish(s);
}

/* ---- users -------------------------------------------------------------------------------- */

static void users_online(void *ud, int err, const uint8_t *online, size_t n);

static void
users_next(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;
	const char *ids[CF_BUS_ONLINE_MAX];
	size_t n = 0;
	int r;

	if (q->done == q->n) {
		push(s,
		     json_pack("{s:s,s:{s:I,s:I,s:O}}", "type", "users", "users", "total",
		               (json_int_t)q->n, "received", (json_int_t)q->n, "users", q->list));
		finish(s);
		return;
	}
	while (n < CF_BUS_ONLINE_MAX && q->done + n < q->n) {
		ids[n] = q->accts[q->done + n].name;
		n++;
	}
	r = cf_bus_online(s->env->bus, ids, n, users_online, s);
	if (r < 0) {
		send_error(s, E_USERS, q->o, "users: who is online cannot be read now (%s)",
		           strerror(-r));
		finish(s);
	}
	/* else users_online() runs, maybe already has */
}

static void
users_online(void *ud, int err, const uint8_t *online, size_t n)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	if (err < 0) {
		send_error(s, E_USERS, q->o, "users: who is online cannot be read now (%s)",
		           strerror(-err));
		finish(s);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cf_account *a = &q->accts[q->done + i];

		json_array_append_new(q->list, user_obj(a->id, a->name, online[i]));
	}
	q->done += n;
	users_next(s);
}

static void
users_listed(void *ud, int64_t tag, int err, const struct cf_account *accts, size_t n)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (err < 0) {
		send_error(s, E_USERS, q->o, "users: %s", auth_why(err));
		finish(s);
		return;
	}
	q->accts = calloc(n ? n : 1, sizeof(*q->accts));
	q->list = json_array();
	if (!q->accts || !q->list)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		q->accts[i] = accts[i];
		q->accts[i].name = strdup(accts[i].name);
		if (!q->accts[i].name)
			goto oom;
		q->n++;
		name_put(accts[i].id, accts[i].name);
	}
	users_next(s);
	return;
oom:
	send_error(s, E_USERS, q->o, "out of memory");
	finish(s);
}

static void
do_users(struct cf_sess *s)
{
	if (cf_auth_list(s->env->auth, users_listed, s, 0) < 0) {
		send_error(s, E_USERS, rc_of(s)->cur->o, "out of memory");
		finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* ---- channelJoin -------------------------------------------------------------------------- */

static void
join_reply(struct cf_sess *s, const struct cf_room *room, int recip_online)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	json_t *cj = json_object(), *users = json_array(), *msgs;
	uint32_t from = room->hist_count > JOIN_HISTORY ? room->hist_count - JOIN_HISTORY : 0;
	int recip_listed = !*q->recip;

	if (*q->recip)
		json_object_set_new(cj, "recipientUUID", json_string(q->recip));
	if (room->hist_count) {
		msgs = json_array();
		for (uint32_t i = from; i < room->hist_count; i++)
			json_array_append_new(msgs, msg_obj(cf_room_hist_at(room, i), 1));
		json_object_set_new(cj, "messages", msgs);
	}
	for (const struct cf_presence *p = room->users; p; p = p->hh.next) {
		const char *uuid = uuid_of(p->id);

		recip_listed |= !strcmp(uuid, q->recip);
		json_array_append_new(users, user_obj(uuid, p->name, 1));
	}
	if (!recip_listed)
		json_array_append_new(users, user_obj(q->recip, q->rname, recip_online));
	json_object_set_new(cj, "users", users);
	push(s, json_pack("{s:s,s:o}", "type", "channelJoin", "channelJoin", cj));
	/* Members already there heard of a user's first session from the registry; the joiner
	 * always hears of its own join, after the reply, as in the seed. */
	push(s, sys_join(room->name, s->user_id, s->user_name, rc->suuid, q->recip));
}

static void
join_online(void *ud, int err, const uint8_t *online, size_t n)
{
	struct cf_sess *s = ud;
	struct cf_room *room = cf_room_find(s->env->reg, rc_of(s)->room);

	if (room)
		join_reply(s, room, !err && n == 1 && online[0]);
	finish(s);
}

/* Whether a member of room is an account whose UUID this node does not know yet: one that
 * signed in on another node only (cluster mode). */
static int
unknown_members(const struct cf_room *room)
{
	for (const struct cf_presence *p = room->users; p; p = p->hh.next)
		if (cf_ident_space_of(p->id, NULL) == CF_ID_ACCOUNT && uuid_of(p->id) == p->id)
			return 1;
	return 0;
}

static void join_complete(struct cf_sess *s, struct cf_room *room);

static void
join_names_listed(void *ud, int64_t tag, int err, const struct cf_account *accts, size_t n)
{
	struct cf_sess *s = ud;
	struct cf_room *room = cf_room_find(s->env->reg, rc_of(s)->room);

	(void)tag;
	/* Without the list the reply still goes out, with the names the node knows. */
	for (size_t i = 0; !err && i < n; i++)
		name_put(accts[i].id, accts[i].name);
	if (room) {
		join_complete(s, room);
		return;
	}
	send_error(s, E_JOIN, rc_of(s)->cur->o, "the channel could not be loaded, try again later");
	finish(s);
}

/* The session is a member of the channel's room: answer, after reading the UUIDs of members
 * that signed in elsewhere (users lists each member's account UUID, never its name), and after
 * asking whether the recipient of a private channel is online when it is not in the room. */
static void
join_complete(struct cf_sess *s, struct cf_room *room)
{
	struct req *q = rc_of(s)->cur;
	const char *ids[1] = {q->rname};

	/* Once per request: the list names every account, so one read is enough. */
	if (!q->names_read && s->env->auth && unknown_members(room)) {
		q->names_read = 1;
		if (cf_auth_list(s->env->auth, join_names_listed, s, 0) == 0) {
			cf_sess_wait(s);
			return;
		}
	}

	if (*q->recip && q->rname) {
		struct cf_presence *p;

		HASH_FIND_STR(room->users, q->rname, p);
		if (!p && cf_bus_online(s->env->bus, ids, 1, join_online, s) == 0)
			return;
	}
	join_reply(s, room, 0);
	finish(s);
}

static void
join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	struct rc *rc = rc_of(s);

	if (!rc->cur || rc->cur->type != T_JOIN)
		return;
	if (err < 0) {
		send_error(s, E_JOIN, rc->cur->o,
		           "the channel could not be loaded, try again later");
		/* The registry removes the member after this returns. */
		rc->room[0] = '\0';
		rc->recip[0] = '\0';
		pair_unref(rc->pair);
		rc->pair = NULL;
		finish(s);
		return;
	}
	join_complete(s, mb->room);
}

static void
join_room(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	struct cf_room *room;
	struct cf_member *mb;
	int r;

	if (*q->recip) {
		r = channel_room(s, s->x->account_id, q->recip, q->room, sizeof(q->room));
		if (r < 0) {
			send_error(s, E_JOIN, q->o, "the channel cannot be joined now (%s)",
			           strerror(-r));
			finish(s);
			return;
		}
	} else {
		snprintf(q->room, sizeof(q->room), "%s", PUBLIC_ROOM);
	}
	if (!strcmp(rc->room, q->room) && (room = cf_room_find(s->env->reg, q->room)) &&
	    cf_room_member_of(s, room) && !cf_room_member_of(s, room)->pending) {
		/* Already there (the seed's client re-sends the join): the same answer again. */
		memcpy(rc->recip, q->recip, sizeof(rc->recip));
		join_complete(s, room);
		return;
	}
	leave_channel(s);
	if (*q->recip) {
		rc->pair = pair_ref(q->room, s->x->account_id, s->user_name, q->recip, q->rname);
		if (!rc->pair) {
			send_error(s, E_JOIN, q->o, "out of memory");
			finish(s);
			return;
		}
	}
	memcpy(rc->room, q->room, sizeof(rc->room));
	memcpy(rc->recip, q->recip, sizeof(rc->recip));
	r = cf_room_join(s->env->reg, s, q->room, &room, &mb);
	if (r == 0) {
		join_complete(s, room);
		return;
	}
	if (r == -EINPROGRESS) {
		cf_sess_wait(s); /* join_done() */
		return;
	}
	rc->room[0] = '\0';
	rc->recip[0] = '\0';
	pair_unref(rc->pair);
	rc->pair = NULL;
	send_error(s, E_JOIN, q->o, "%s",
	           r == -ENOSPC   ? "the server holds its maximum number of rooms"
	           : r == -EDQUOT ? "your address created its maximum number of rooms"
	           : r == -EBUSY  ? "too many channel joins, slow down"
	                          : "the channel cannot be joined now, try again later");
	finish(s);
}

static void
recipient_found(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err < 0) {
		if (r->err == -ENOENT)
			send_error(s, E_USER, q->o, "no user %s", q->recip);
		else
			send_error(s, E_USER, q->o, "%s", auth_why(r->err));
		finish(s);
		return;
	}
	name_put(r->acct->id, r->acct->name);
	q->rname = strdup(r->acct->name);
	if (!q->rname) {
		send_error(s, E_JOIN, q->o, "out of memory");
		finish(s);
		return;
	}
	join_room(s);
}

static void
do_join(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;

	if (!*q->recip) {
		join_room(s);
		return;
	}
	if (cf_auth_by_id(s->env->auth, q->recip, recipient_found, s, 0) < 0) {
		send_error(s, E_JOIN, q->o, "out of memory");
		finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* ---- channelMessage, channelLeave, signOut ------------------------------------------------ */

static void
message_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	(void)tag;
	(void)m;
	if (err < 0)
		send_error(ud, E_WRITE, NULL, "the message could not be sent, try again later");
}

static void
do_message(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const char *text = NULL, *key;
	char room[CF_ROOM_NAME_MAX + 1], nonce[NONCE_LEN + 1], rnd[37];
	size_t tl = 0;
	struct cf_msg *m;
	json_t *v;
	int r;

	json_object_foreach (obj, key, v) {
		if (cf_text_go_key_is(key, "message") && json_is_string(v)) {
			text = json_string_value(v);
			tl = json_string_length(v);
		}
	}
	if (!text || !tl || tl > (size_t)s->env->cfg->max_text || strlen(text) != tl) {
		send_error(s, E_WRITE, q->o, "channelMessage.message must be 1 to %d bytes",
		           s->env->cfg->max_text);
		return;
	}
	r = channel_room(s, s->x->account_id, q->recip, room, sizeof(room));
	if (r < 0) {
		send_error(s, E_WRITE, q->o, "the channel cannot be written now (%s)",
		           strerror(-r));
		return;
	}
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return;
	if (r < 0) {
		send_error(s, E_WRITE, q->o, "too many messages, slow down");
		return;
	}
	/* The sender's account UUID travels with the message (to every node, into history):
	 * 32 hex digits of a fresh UUID keep each nonce unique. */
	cf_text_uuid4(rnd, s->id);
	snprintf(nonce, sizeof(nonce), "%s%s:%.8s%.4s%.4s%.4s%.12s", NONCE_PFX, s->x->account_id,
	         rnd, rnd + 9, rnd + 14, rnd + 19, rnd + 24);
	m = cf_msg_new(room, s->user_id, s->user_name, text, nonce);
	if (!m) {
		send_error(s, E_WRITE, q->o, "out of memory");
		return;
	}
	r = cf_room_publish(s->env->reg, m, message_done, s, 0);
	cf_msg_unref(m);
	if (r < 0)
		send_error(s, E_WRITE, q->o, "the message could not be sent, try again later");
}

static void
do_leave(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	json_t *cl;

	if (!rc->room[0] || strcmp(rc->recip, q->recip)) {
		send_error(s, E_GENERIC, q->o, "channel not found");
		return;
	}
	leave_channel(s);
	cl = json_object();
	if (*q->recip)
		json_object_set_new(cl, "recipientUUID", json_string(q->recip));
	push(s, json_pack("{s:s,s:o}", "type", "channelLeave", "channelLeave", cl));
}

static void
signed_out(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err < 0) {
		send_error(s, E_SIGNOUT, q->o, "%s", auth_why(r->err));
	} else {
		become_nobody(s);
		push(s, json_pack("{s:s,s:{s:s}}", "type", "signOut", "signOut", "uuid",
		                  q->rname ? q->rname : ""));
	}
	finish(s);
}

/* Revokes every access key of the account (its gen) and makes the session nobody. */
static void
do_signout(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const char *uuid;

	/* signOut.uuid is echoed, as the seed did; rname holds it. */
	if (inner_str(obj, "uuid", &uuid) == 0 && !(q->rname = strdup(uuid))) {
		send_error(s, E_SIGNOUT, q->o, "out of memory");
		finish(s);
		return;
	}
	if (cf_auth_bump_gen(s->env->auth, s->user_id, signed_out, s, 0) < 0) {
		send_error(s, E_SIGNOUT, q->o, "out of memory");
		finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* ---- who is asking ------------------------------------------------------------------------ */

static void run(struct cf_sess *s);

static void
deny(struct cf_sess *s, int unknown)
{
	struct req *q = rc_of(s)->cur;

	if (unknown && q->type == T_JOIN)
		send_error(s, E_USER, q->o, "no user %s", q->uid);
	else if (unknown && q->type == T_SIGNOUT)
		send_error(s, E_SIGNOUT, q->o, "no user %s", q->uid);
	else if (*q->uid)
		send_error(s, E_UNAUTHORIZED, q->o,
		           "unauthorized: sign in as %s or send its accessKey", q->uid);
	else
		send_error(s, E_UNAUTHORIZED, q->o, "unauthorized: sign in first");
	finish(s);
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
	if (become(s, r->acct) < 0) {
		cf_sess_close(s, 1011, "out of memory");
		finish(s);
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
		send_error(s, q->type == T_JOIN ? E_USER : E_UNAUTHORIZED, q->o, "%s",
		           auth_why(r->err));
		finish(s);
		return;
	}
	name_put(r->acct->id, r->acct->name);
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
		send_error(s, E_UNAUTHORIZED, q->o, "accounts are disabled on this server");
		finish(s);
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
		send_error(s, E_GENERIC, q->o, "out of memory");
		finish(s);
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
		do_users(s);
		return;
	case T_JOIN:
		do_join(s);
		return;
	case T_MESSAGE:
		do_message(s, obj);
		break;
	case T_LEAVE:
		do_leave(s);
		break;
	case T_SIGNOUT:
		do_signout(s, obj);
		return;
	default:
		break;
	}
	finish(s);
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

static int
inner_str(json_t *obj, const char *name, const char **ret)
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
		send_error(s, E_GENERIC, NULL, "unknow request data type: ");
		return;
	}
	if (!json_is_object(o)) {
		send_error(s, E_JSON, NULL,
		           "json: cannot unmarshal %s into Go value of type websocket.Request",
		           kind_of(o));
		return;
	}
	if (env_str(o, "type", &type, err, sizeof(err)) < 0 ||
	    env_str(o, "useruuid", &uid, err, sizeof(err)) < 0 ||
	    env_str(o, "accesskey", &key, err, sizeof(err)) < 0 ||
	    check_types(o, err, sizeof(err)) < 0) {
		send_error(s, E_JSON, o, "%s", err);
		return;
	}
	for (t = 0; t < T_NTYPES; t++)
		if (!strcmp(type, types[t].name))
			break;
	if (t == T_NTYPES) {
		send_error(s, E_GENERIC, o, "unknow request data type: %s", type);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		send_error(s, E_GENERIC, NULL, "out of memory");
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
		send_error(s, E_GENERIC, o, "out of memory");
		finish(s);
		return;
	}
	obj = inner(o, q->type);
	if (types[t].key && !obj) {
		static const unsigned missing[T_NTYPES] = {
		        [T_SIGNIN] = E_SIGNIN, [T_SIGNUP] = E_SIGNIN, [T_JOIN] = E_JOIN,
		        [T_MESSAGE] = E_WRITE, [T_LEAVE] = E_GENERIC, [T_SIGNOUT] = E_SIGNOUT,
		};

		send_error(s, missing[t], o, "missing %s", types[t].name);
		finish(s);
		return;
	}
	if (t == T_SIGNIN || t == T_SIGNUP) {
		do_credentials(s, obj);
		return;
	}
	if (obj && types[t].fields[0] && !strcmp(types[t].fields[0], "recipientuuid")) {
		inner_str(obj, "recipientuuid", &recip);
		if (!recip)
			recip = "";
		if (uuid_arg(recip, q->recip) < 0) {
			send_error(s,
			           t == T_JOIN      ? E_USER
			           : t == T_MESSAGE ? E_WRITE
			                            : E_GENERIC,
			           o, "recipientUUID is not a UUID");
			finish(s);
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
			send_error(s, E_GENERIC, NULL,
			           "more than %d requests wait for an earlier one: slow down",
			           CF_SESS_HOLD_MAX);
		return r < 0 && r != -ENOBUFS ? -1 : 0;
	}
	if (!buf)
		return 0;
	/* Binary frames arrive as UTF-8 already (binary_as_text); a NUL ends the request. */
	o = json_loadb(buf, strnlen(buf, len), JSON_DECODE_ANY, &jerr);
	if (!o) {
		send_error(s, E_JSON, NULL, "%s", jerr.text);
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
	push(s, json_pack("{s:s,s:{s:s}}", "type", "ready", "ready", "sessionUUID", rc->suuid));
	return 0;
}

static void
on_close(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);

	if (!rc)
		return;
	req_free(rc->cur);
	pair_unref(rc->pair);
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
        .render_msg = render_msg,
        .render_presence = render_presence,
        .render_dm = render_dm,
        .join_done = join_done,
        .on_close = on_close,
        .ws_path = ws_path,
        .seed = 1,
        .http = http,
        .room_hidden = room_hidden,
        .cleanup = cleanup,
};
