/* SPDX-License-Identifier: MIT */
/* dialect_disposable.c - seed 000, disposable-chat (docs/dialects.md): GET /ws?name=&room=
 * validated before the upgrade, one room per connection given by the query, a UUID v4 per
 * connection as the core's user id, {"type","data"} events rendered from the core's messages
 * and presence events, {"text"} frames parsed into publishes. */
#include "base/ident.h"
#include "base/log.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/req.h"
#include "core/room.h"
#include "core/rules.h"
#include "core/sess.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#define LEN_MIN   3
#define LEN_MAX   30
#define TEXT_MAX  300
#define FRAME_MAX 512
/* A query argument longer than this (before trimming) is refused like any other bad one. */
#define ARG_MAX 256

static const char err_params[] =
        "Provide `name` and `room` query parameters, with size between 3 and 30 characters. "
        "`room` must contain only alphanumeric, hyphen and underscore characters.";
static const char err_origin[] =
        "Forbidden\nwebsocket: request origin not allowed by Upgrader.CheckOrigin";
static const char err_not_ws[] = "Bad Request\nwebsocket: the client is not using the websocket "
                                 "protocol: 'upgrade' token not found in 'Connection' header";

/* Its WebSocket endpoint, with dialects.disposable_chat on. */
static int
ws_path(const struct cf_config *cfg, const char *path)
{
	return cfg->disposable_chat && !strcmp(path, "/ws");
}

/* Length of the Unicode White_Space character at s (n bytes left), 0 if there is none: what
 * Go's strings.TrimSpace trims. */
static size_t
space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3; /* U+1680 */
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3; /* U+2000..200A, 2028, 2029, 202F */
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3; /* U+205F */
	if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3; /* U+3000 */
	return 0;
}

/* Trims leading and trailing white space in place; returns the new length. */
static size_t
trim_space(char *buf, size_t len)
{
	unsigned char *s = (unsigned char *)buf;
	size_t start = 0, k;

	while (start < len && (k = space_at(s + start, len - start)))
		start += k;
	for (;;) {
		size_t cut = 0;

		/* A white space character ends the string if it is 1, 2 or 3 bytes long. */
		for (size_t w = 1; w <= 3 && !cut; w++)
			if (len - start >= w && space_at(s + len - w, w) == w)
				cut = w;
		if (!cut)
			break;
		len -= cut;
	}
	memmove(buf, buf + start, len - start);
	buf[len - start] = '\0';
	return len - start;
}

/* The first value of the query argument name (cf_req_query_arg()), white space trimmed.
 * Returns its length, or -1 when absent or too long. */
static int
query_arg(struct lws *wsi, const char *name, char *out, size_t outlen)
{
	int n = cf_req_query_arg(wsi, name, out, outlen);

	return n < 0 ? -1 : (int)trim_space(out, (size_t)n);
}

static int
room_ok(const char *room, size_t len)
{
	if (len < LEN_MIN || len > LEN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = room[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* name and room (ARG_MAX bytes each) from the query, validated. 0, or -EINVAL. */
static int
params(struct lws *wsi, char *name, char *room)
{
	int nl = query_arg(wsi, "name", name, ARG_MAX), rl = query_arg(wsi, "room", room, ARG_MAX);

	/* Lengths are bytes (Go's len()); the name may be any text, NUL cut it short, but no
	 * control, bidi or zero-width character (a look-alike of another user's name). */
	if (nl < LEN_MIN || nl > LEN_MAX || strlen(name) != (size_t)nl ||
	    cf_text_has_invisible(name, (size_t)nl) || !room_ok(room, rl < 0 ? 0 : (size_t)rl))
		return -EINVAL;
	return 0;
}

/* Checks a request for /ws before the upgrade, in the seed's order: the query (400), then, for
 * an upgrade, dialects.disposable_origin against Origin (403). A request that is no upgrade gets
 * 400 too. 0: admitted; else the status with the exact plain-text body. */
static int
check(const struct cf_config *cfg, struct lws *wsi, int upgrade, const char **ret_body)
{
	char name[ARG_MAX], room[ARG_MAX], origin[512];
	int n;

	if (params(wsi, name, room) < 0) {
		*ret_body = err_params;
		return 400;
	}
	if (!upgrade) {
		*ret_body = err_not_ws;
		return 400;
	}
	/* Exact string comparison; no Origin header is the empty string. */
	n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
	if (n < 0 && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
		*ret_body = err_origin; /* longer than any configured origin */
		return 403;
	}
	if (n <= 0)
		origin[0] = '\0';
	if (strcmp(origin, cfg->disposable_origin)) {
		*ret_body = err_origin;
		return 403;
	}
	return 0;
}

static int
admit(struct cf_env *env, struct lws *wsi, const char **ret_body)
{
	return check(env->cfg, wsi, 1, ret_body);
}

/* /health, and /ws without an upgrade: any method, as the seed's mux took them. */
static int
http(struct cf_http_req *rq, char *out, size_t outlen)
{
	const char *text;
	int status;

	if (!rq->env->cfg->disposable_chat)
		return 0;
	if (!strcmp(rq->path, "/health")) {
		out[0] = '\0';
		return 200;
	}
	if (strcmp(rq->path, "/ws"))
		return 0;
	status = check(rq->env->cfg, rq->wsi, 0, &text);
	free(rq->headers);
	rq->headers = strdup("X-Content-Type-Options: nosniff\r\n");
	if (!rq->headers)
		return -ENOMEM;
	snprintf(out, outlen, "%s", text);
	return status;
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* A 000 client's id is its bare UUID; users of other spaces show theirs tagged (ident.h). */
static json_t *
client_json(const char *id, const char *name)
{
	char buf[CF_IDENT_MAX];

	return json_pack("{s:s,s:s}", "id", cf_ident_show(id, CF_ID_DISPOSABLE, buf, sizeof(buf)),
	                 "name", name);
}

static struct cf_frame *
render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(json_pack(
	        "{s:s,s:{s:{s:s},s:o,s:s}}", "type", "chat", "data", "room", "name", m->room,
	        "client", client_json(m->from_id, m->from_name), "text", m->text));
}

static struct cf_frame *
render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	const char *action = !strcmp(ev, "join") ? "registered" : "unregistered";

	return cf_frame_from_json(json_pack("{s:s,s:{s:{s:s},s:o,s:s}}", "type", "info", "data",
	                                    "room", "name", room, "client", client_json(uid, uname),
	                                    "action", action));
}

static void
send_error(struct cf_sess *s, const char *text)
{
	cf_sess_push_owned(s, cf_frame_from_json(json_pack("{s:s,s:{s:s}}", "type", "error", "data",
	                                                   "text", text)));
}

/* ---- the connection ------------------------------------------------------------------------ */

static struct cf_member *
membership(struct cf_sess *s)
{
	return s->rooms.head ? lws_container_of(s->rooms.head, struct cf_member, in_sess) : NULL;
}

static const char *
show_id(const char *id, char *buf, size_t buflen)
{
	return cf_ident_show(id, CF_ID_DISPOSABLE, buf, buflen);
}

static void
welcome(struct cf_sess *s, struct cf_room *room)
{
	static const char pre[] = "{\"type\":\"welcome\",\"data\":{\"room\":{\"name\":",
	                  key[] = ",\"activeClients\":", tail[] = "}}}";
	char head[sizeof(pre) + sizeof(key) + CF_TEXT_JSON_MAX(CF_ROOM_NAME_MAX)];
	size_t rl = strlen(room->name), n = sizeof(pre) - 1;

	/* Written straight, not as a jansson tree: the list is as long as the room
	 * (cf_room_members_frame()). A 000 room name is at most LEN_MAX bytes. */
	if (rl > CF_ROOM_NAME_MAX)
		return;
	memcpy(head, pre, n);
	n += cf_text_json_str(room->name, rl, head + n);
	memcpy(head + n, key, sizeof(key) - 1);
	n += sizeof(key) - 1;
	cf_sess_push_owned(s,
	                   cf_room_members_frame(room, show_id, head, n, tail, sizeof(tail) - 1));
	/* The others heard of the join from the registry; the joiner hears it after its welcome. */
	cf_sess_push_owned(s, render_presence("join", room->name, s->user_id, s->user_name));
}

static void
refuse(struct cf_sess *s, const char *why, int code, const char *reason)
{
	send_error(s, why);
	cf_sess_close(s, code, reason);
}

static void
join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	if (err < 0) {
		refuse(s, "the room could not be loaded, try again later", 1013, "try again later");
		return;
	}
	welcome(s, mb->room);
}

static int
on_open(struct cf_sess *s, struct lws *wsi)
{
	char name[ARG_MAX], room_name[ARG_MAX], id[40], uid[CF_IDENT_MAX], *clean;
	struct cf_room *room;
	struct cf_member *mb;
	int r;

	/* Validated in cf_disposable_admit(); read again because lws keeps no state for us. */
	if (params(wsi, name, room_name) < 0) {
		cf_sess_close(s, 1008, "bad parameters");
		return 0;
	}
	cf_text_uuid4(id, s->id);
	clean = cf_text_utf8_sanitize(name, strlen(name));
	/* The user "disposable:<uuid>": one per connection, in a space of its own (ident.h). */
	r = clean ? cf_ident_make(CF_ID_DISPOSABLE, id, 0, uid, sizeof(uid)) : -ENOMEM;
	r = r < 0 ? r : cf_sess_set_user(s, uid, clean);
	free(clean);
	if (r < 0) {
		cf_sess_close(s, 1011, "out of memory");
		return 0;
	}
	r = cf_room_join(s->env->reg, s, room_name, &room, &mb);
	switch (r) {
	case 0:
		welcome(s, room);
		break;
	case -EINPROGRESS:
		break; /* join_done() welcomes */
	case -ENOSPC:
		refuse(s, "the server holds its maximum number of rooms", 1013, "try again later");
		break;
	case -EDQUOT:
		refuse(s, "your address created its maximum number of rooms", 1013,
		       "try again later");
		break;
	case -EBUSY:
		refuse(s, "too many joins, slow down", 1013, "try again later");
		break;
	case -ENOTCONN:
	case -EAGAIN:
		refuse(s, "the room cannot be loaded now, try again later", 1013,
		       "try again later");
		break;
	case -EPERM:
	case -EACCES:
	case -EKEYREJECTED:
		refuse(s, cf_rules_why(r), 1008, "not allowed in this room");
		break;
	default:
		cf_sess_close(s, 1011, "internal error");
		break;
	}
	return 0;
}

static void
send_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	(void)tag;
	(void)m;
	if (err < 0)
		send_error(ud, "the message could not be sent, try again later");
}

/* The "text" member as Go's json.Unmarshal into struct{Text string} finds it: the key matched
 * without regard to case, the last string value wins, anything else leaves "". Borrowed. */
static const char *
text_of(json_t *o, size_t *ret_len)
{
	const char *key, *text = "";
	json_t *v;

	*ret_len = 0;
	if (!json_is_object(o))
		return text;
	json_object_foreach (o, key, v) {
		if (!strcasecmp(key, "text") && json_is_string(v)) {
			text = json_string_value(v);
			*ret_len = json_string_length(v);
		}
	}
	return text;
}

static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	struct cf_member *mb = membership(s);
	const char *text;
	size_t tlen;
	struct cf_msg *m;
	json_t *o;
	int r;

	if (!mb)
		return 0; /* the join failed: the session is closing */
	o = json_loadb(buf, len, JSON_DECODE_ANY, NULL);
	text = text_of(o, &tlen);
	if (tlen == 0 || tlen > TEXT_MAX || strlen(text) != tlen) {
		send_error(s, tlen > TEXT_MAX ? "'text' must not contain over 300 characters"
		                              : "'text' must not be empty");
		json_decref(o);
		return 0;
	}
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED) {
		json_decref(o);
		return 0;
	}
	if (r < 0) {
		send_error(s, "too many messages, slow down");
		json_decref(o);
		return 0;
	}
	m = cf_msg_new(mb->room->name, s->user_id, s->user_name, text, NULL);
	json_decref(o);
	if (!m)
		return -1;
	r = cf_room_publish(s->env->reg, m, send_done, s, 0);
	cf_msg_unref(m);
	if (r < 0)
		send_error(s, cf_rules_why(r) ? cf_rules_why(r)
		                              : "the message could not be sent, try again later");
	return 0;
}

const struct cf_dialect cf_dialect_disposable = {
        .id = CF_DIALECT_DISPOSABLE,
        .name = "disposable-chat",
        .paths = (const char *const[]){"/ws", "/health", NULL},
        .binary_as_text = 1,
        .max_frame = FRAME_MAX,
        .on_open = on_open,
        .on_text = on_text,
        .render_msg = render_msg,
        .render_presence = render_presence,
        .join_done = join_done,
        .ws_path = ws_path,
        .admit = admit,
        .seed = 1,
        .http = http,
};
