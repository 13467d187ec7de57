/* SPDX-License-Identifier: MIT */
/* dialect_chatty.c - seed 002, chatty (docs/dialects.md): POST /chat?name= creates a room with
 * a KSUID id, which is the core's room name; GET /chat/join?name=&room=<id> is admitted only for
 * a room created here and only from the same origin; the participant's text frames are the
 * message text verbatim; participant_joined/left and message events are rendered from the
 * core's presence events and messages; server_shutting_down is the bye of a drain.
 *
 * The bus keeps the created ids (cf_bus_room_create/check): the local bus in memory, the
 * cluster bus in Redis so that every node can admit a join. POST /chat answers once the bus has
 * the id. A join is refused before the upgrade when the bus can tell at once that the id is
 * unknown (cf_bus_room_known); otherwise a well-formed id is admitted (the gate cannot wait for
 * Redis) and checked right after the upgrade, closing with 4404 when the bus does not know it.
 * Either way the check after the upgrade keeps the id alive. */
#include "base/clock.h"
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
#include <time.h>
#include <sys/random.h>
#include <jansson.h>

#define KSUID_LEN   27
#define KSUID_EPOCH 1400000000LL
/* Longest room or participant name taken from a query (bytes, after %XX decoding). */
#define ARG_MAX CF_REQ_ARG_MAX

static const char body_forbidden[] = "Forbidden\n";
static const char body_not_found[] = "Not Found\n";
static const char body_bad_request[] = "Bad Request\n";
static const char body_redis_down[] =
        "Service Unavailable: Redis is unreachable, the room was not created\n";
static const char body_redis_error[] =
        "Service Unavailable: Redis did not store the room, it was not created\n";

static const char body_too_many[] = "Too Many Requests\n";

/* A POST /chat the bus is recording. The HTTP side cancels it (http_cancel()) when its
 * connection goes away first; the bus's completion frees it, unless it came before
 * cf_bus_room_create() returned (the local bus): then the POST answers at once. */
struct chatty_post {
	struct lws_dll2 list;
	void (*done)(struct cf_http_req *rq, int status, const char *body); /* NULL: cancelled */
	struct cf_http_req *rq;
	uint32_t max;
	uint8_t inside;     /* in cf_bus_room_create() */
	int status;         /* an answer that came inside; 0 until then */
	const char *answer; /* its body (borrowed: static, or body) */
	char body[];        /* of the 201 */
};

static struct lws_dll2_owner posts;

/* Its WebSocket endpoint, with dialects.chatty on. */
static int
ws_path(const struct cf_config *cfg, const char *path)
{
	return cfg->chatty && !strcmp(path, "/chat/join");
}

/* Forgets the POSTs still waiting for the bus (at exit, after the bus is freed). */
static void
cleanup(void)
{
	/* The bus completed every request before it was freed; nothing should be left. */
	while (posts.head) {
		struct lws_dll2 *d = posts.head;

		lws_dll2_remove(d);
		free(lws_container_of(d, struct chatty_post, list));
	}
}

static void
http_cancel(struct cf_http_req *rq)
{
	lws_start_foreach_dll (struct lws_dll2 *, d, posts.head) {
		struct chatty_post *p = lws_container_of(d, struct chatty_post, list);
		if (p->rq == rq)
			p->done = NULL;
	}
	lws_end_foreach_dll(d);
}

/* ---- KSUID ------------------------------------------------------------------------------- */

/* 20 bytes (big-endian seconds since KSUID_EPOCH, then 16 random bytes) as 27 base62 digits,
 * zero-padded: the string order is the byte order, so ids sort by creation second. */
static int
ksuid_new(char *out)
{
	static const char digits[] =
	        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char b[20];
	/* CLOCK_REALTIME, not time(): glibc's time() reads the coarse clock, which lags the
	 * real one by up to a tick, so an id made just after a second began could carry the
	 * second before (test_dialect_002.py saw it once in about 20 CI runs). */
	uint32_t ts = (uint32_t)(cf_wall_ms() / 1000 - KSUID_EPOCH);
	size_t done = 0;

	b[0] = (unsigned char)(ts >> 24);
	b[1] = (unsigned char)(ts >> 16);
	b[2] = (unsigned char)(ts >> 8);
	b[3] = (unsigned char)ts;
	while (done < 16) {
		ssize_t n = getrandom(b + 4 + done, 16 - done, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			done += (size_t)n;
	}
	/* Long division of the 160-bit number by 62, least significant digit first. */
	for (int pos = KSUID_LEN - 1; pos >= 0; pos--) {
		unsigned rem = 0;

		for (size_t i = 0; i < sizeof(b); i++) {
			unsigned cur = (rem << 8) | b[i];

			b[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
		}
		out[pos] = digits[rem];
	}
	out[KSUID_LEN] = '\0';
	return 0;
}

static int
ksuid_ok(const char *s, size_t len)
{
	if (len != KSUID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z')))
			return 0;
	return 1;
}

/* ---- the HTTP side ------------------------------------------------------------------------ */

/* A query argument into a buffer of ARG_MAX + 1 bytes (cf_req_query_arg()). */
static int
query_arg(struct lws *wsi, const char *name, char *out)
{
	return cf_req_query_arg(wsi, name, out, ARG_MAX + 1);
}

/* The bus has answered a POST /chat. */
static void
created(void *ud, const char *room, int err)
{
	struct chatty_post *p = ud;
	const char *body = "";
	int status = 201;

	if (err == -ENOSPC) {
		log_warn("chatty: POST /chat refused: rooms.max_rooms (%u) rooms are alive",
		         p->max);
		status = 503;
	} else if (err == -ENOTCONN || err == -ECANCELED) {
		body = body_redis_down;
		status = 503;
	} else if (err < 0) {
		log_warn("chatty: room %s not created: %s", room, strerror(-err));
		body = body_redis_error;
		status = 503;
	} else {
		body = p->body;
	}
	if (p->inside) {
		p->status = status;
		p->answer = body;
		return; /* create() answers */
	}
	if (p->done)
		p->done(p->rq, status, body);
	lws_dll2_remove(&p->list);
	free(p);
}

/* The new id goes to the bus; the answer (the 201's body) waits for it. The status with its
 * body in out, or -EINPROGRESS when the bus answers later (done() then). */
static int
create(struct cf_env *srv, const char *id, const char *body, struct cf_http_req *rq, char *out,
       size_t outlen)
{
	size_t bl = strlen(body);
	struct chatty_post *p = calloc(1, sizeof(*p) + bl + 1);
	int r, status;

	if (!p)
		return 500;
	p->done = rq->done;
	p->rq = rq;
	p->max = (uint32_t)srv->cfg->max_rooms;
	memcpy(p->body, body, bl + 1);
	lws_dll2_add_tail(&p->list, &posts);
	p->inside = 1;
	r = cf_bus_room_create(srv->bus, id, p->max, created, p);
	p->inside = 0;
	if (r == 0 && !p->status)
		return -EINPROGRESS;
	status = r == 0 ? p->status : r == -ENOTCONN ? 503 : 500;
	snprintf(out, outlen, "%s", r == 0 ? p->answer : r == -ENOTCONN ? body_redis_down : "");
	lws_dll2_remove(&p->list);
	free(p);
	return status;
}

/* POST /chat?name=: a new room. 201 with {"id","name"} in out, 400 (no name, or not a valid
 * room name once repaired), 429 (rooms.create_rate_per_ip), 503 at rooms.max_rooms, 500 (no
 * memory or entropy); out is empty then, but for 429. When the bus answers later (Redis):
 * -EINPROGRESS, done() answers; or 503 when Redis is unreachable, with a body. */
static int
create_room(struct cf_env *srv, struct lws *wsi, char *out, size_t outlen, struct cf_http_req *rq)
{
	char name[ARG_MAX + 1], ip[48], id[KSUID_LEN + 1], *clean, *txt;
	json_t *o;
	int nl = query_arg(wsi, "name", name), status;
	size_t cl;

	out[0] = '\0';
	/* A name with a control, bidi or zero-width character is refused as a missing one. */
	if (nl <= 0 || cf_text_has_invisible(name, (size_t)nl))
		return 400;
	clean = cf_text_utf8_sanitize(name, strlen(name));
	if (!clean)
		return 500;
	/* Room names are the core's: at most CF_ROOM_NAME_MAX bytes (after the repair, which
	 * triples an invalid byte), no control characters. The seed took anything. */
	cl = strlen(clean);
	if (cf_text_name_ok(clean, cl, 1, CF_ROOM_NAME_MAX, 0) < 0) {
		free(clean);
		return 400;
	}
	cf_req_client_ip(srv->cfg, wsi, ip, sizeof(ip));
	if (cf_registry_create_take(srv->reg, ip) < 0) {
		free(clean);
		snprintf(out, outlen, "%s", body_too_many);
		return 429;
	}
	if (ksuid_new(id) < 0) {
		free(clean);
		return 500;
	}
	o = json_pack("{s:s,s:s}", "id", id, "name", clean);
	free(clean);
	txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!txt || strlen(txt) >= outlen) {
		free(txt);
		return 500;
	}
	status = create(srv, id, txt, rq, out, outlen);
	free(txt);
	return status;
}

/* /ping, /chat (POST creates a room) and /chat/join without an upgrade, in plain text. A POST
 * /chat the bus records later (cluster mode) gives -EINPROGRESS: rq->done() answers. */
static int
http(struct cf_http_req *rq, char *out, size_t outlen)
{
	struct cf_env *srv = rq->env;
	const char *path = rq->path;
	int method = rq->method;

	if (!srv->cfg->chatty)
		return 0;
	if (!strcmp(path, "/ping")) {
		snprintf(out, outlen, "pong");
		return 200;
	}
	if (!strcmp(path, "/chat")) {
		out[0] = '\0';
		return method == 'P' ? create_room(srv, rq->wsi, out, outlen, rq) : 405;
	}
	if (!strcmp(path, "/chat/join")) {
		/* Not an upgrade: gorilla's first check ('upgrade' token in Connection). */
		snprintf(out, outlen, "%s", body_bad_request);
		return 400;
	}
	return 0;
}

/* gorilla's default CheckOrigin: no Origin, or an Origin whose host[:port] equals Host,
 * ASCII case-insensitively. */
static int
same_origin(struct lws *wsi)
{
	char origin[512], host[300];
	const char *h, *end;
	int n = lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);

	if (n < 0)
		return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) == 0;
	if (n == 0)
		return 1;
	if (lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) < 0)
		return 0;
	h = strstr(origin, "://");
	if (!h)
		return 0; /* url.Parse gives no host */
	h += 3;
	end = h + strcspn(h, "/?#");
	/* userinfo is not part of the host */
	for (const char *at = h; at < end; at++)
		if (*at == '@')
			h = at + 1;
	return (size_t)(end - h) == strlen(host) && !strncasecmp(h, host, (size_t)(end - h));
}

/* Checks an upgrade to /chat/join: same origin (403), a room created by POST /chat (404; where
 * the bus cannot tell at once, as in cluster mode, only a well-formed id: the bus is asked once
 * the session is open). 0: admitted; else the status with the exact plain-text body. */
static int
admit(struct cf_env *srv, struct lws *wsi, const char **ret_body)
{
	char room[ARG_MAX + 1];
	int rl, known = 0;

	if (!same_origin(wsi)) {
		*ret_body = body_forbidden;
		return 403;
	}
	rl = query_arg(wsi, "room", room);
	/* -EAGAIN (only Redis knows): admitted; on_open() asks the bus after the upgrade. */
	if (rl > 0 && ksuid_ok(room, (size_t)rl))
		known = cf_bus_room_known(srv->bus, room) != 0;
	if (!known || (rl = query_arg(wsi, "name", room)) == -E2BIG) {
		*ret_body = body_not_found;
		return 404;
	}
	/* A participant name with a control, bidi or zero-width character: a look-alike. */
	if (rl > 0 && cf_text_has_invisible(room, (size_t)rl)) {
		*ret_body = body_bad_request;
		return 400;
	}
	return 0;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static struct cf_frame *
render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:s}", "text", m->text, "participant", m->from_name));
}

static struct cf_frame *
render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	(void)room;
	(void)uid;
	return cf_frame_from_json(
	        json_pack("{s:s,s:s}", "event_type",
	                  !strcmp(ev, "join") ? "participant_joined" : "participant_left",
	                  "participant", uname));
}

/* The only close chatty announces is the server's: a drain closes every session with 1001. */
static struct cf_frame *
render_bye(int code, const char *reason)
{
	(void)reason;
	if (code != 1001)
		return NULL;
	return cf_frame_from_json(json_pack("{s:s}", "event_type", "server_shutting_down"));
}

/* ---- the connection ------------------------------------------------------------------------ */

static struct cf_member *
membership(struct cf_sess *s)
{
	return s->rooms.head ? lws_container_of(s->rooms.head, struct cf_member, in_sess) : NULL;
}

/* The others heard of the join from the registry; the joiner hears its own from here. */
static void
joined(struct cf_sess *s)
{
	cf_sess_push_owned(s, render_presence("join", NULL, s->user_id, s->user_name));
}

static void
join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	(void)mb;
	if (err < 0) {
		cf_sess_close(s, 1013, "try again later");
		return;
	}
	joined(s);
}

static void
join_room(struct cf_sess *s, const char *room)
{
	struct cf_room *cr;
	struct cf_member *mb;

	switch (cf_room_join(s->env->reg, s, room, &cr, &mb)) {
	case 0:
		joined(s);
		break;
	case -EINPROGRESS:
		break; /* join_done() announces */
	case -ENOSPC:
	case -EDQUOT:
	case -EBUSY:
	case -ENOTCONN:
	case -EAGAIN:
		cf_sess_close(s, 1013, "try again later");
		break;
	case -EPERM:
	case -EACCES:
	case -EKEYREJECTED:
		/* The room's rules (core/rules.h): seed 002 has no error frame to say so. */
		cf_sess_close(s, 1008, "not allowed in this room");
		break;
	default:
		cf_sess_close(s, 1011, "internal error");
		break;
	}
}

/* The bus said whether the room of an admitted join was created (and is alive): at once
 * (standalone) or later (Redis). Cancelled when the session closes first (session.c cancels
 * the bus's requests for it). */
static void
checked(void *ud, const char *room, int err)
{
	struct cf_sess *s = ud;

	if (s->closing)
		return; /* e.g. the drain began meanwhile */
	if (err == -ENOENT) {
		cf_sess_close(s, 4404, "unknown room");
		return;
	}
	if (err < 0) {
		cf_sess_close(s, 1013, "try again later");
		return;
	}
	join_room(s, room);
}

static int
on_open(struct cf_sess *s, struct lws *wsi)
{
	char name[ARG_MAX + 1], room[ARG_MAX + 1], id[KSUID_LEN + 1], uid[CF_IDENT_MAX], *clean;
	int r;

	/* Admitted by cf_chatty_admit(); read again because lws keeps no state for us. */
	if (query_arg(wsi, "room", room) != KSUID_LEN) {
		cf_sess_close(s, 1008, "bad parameters");
		return 0;
	}
	if (query_arg(wsi, "name", name) < 0)
		name[0] = '\0'; /* the seed takes a missing name as the empty one */
	if (ksuid_new(id) < 0) {
		cf_sess_close(s, 1011, "internal error");
		return 0;
	}
	clean = cf_text_utf8_sanitize(name, strlen(name));
	/* The user "chatty:<ksuid>": one per connection, in a space of its own (ident.h). */
	r = clean ? cf_ident_make(CF_ID_CHATTY, id, 0, uid, sizeof(uid)) : -ENOMEM;
	r = r < 0 ? r : cf_sess_set_user(s, uid, clean);
	free(clean);
	if (r < 0) {
		cf_sess_close(s, 1011, "out of memory");
		return 0;
	}
	/* Also where the gate knew the id: this keeps it alive, and it may have expired since. */
	r = cf_bus_room_check(s->env->bus, room, checked, s);
	if (r < 0)
		cf_sess_close(s, r == -ENOTCONN ? 1013 : 1011,
		              r == -ENOTCONN ? "try again later" : "internal error");
	return 0;
}

/* A text frame is the message, verbatim (lws checked its UTF-8; the size cap is
 * limits.max_text). Binary frames are ignored. The protocol has no error events: a message the
 * bus refuses, or one over the rate limit, is dropped. */
static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	struct cf_member *mb = membership(s);
	struct cf_msg *m;
	char *text;
	int r;

	if (!buf || !mb)
		return 0;
	r = cf_sess_rate_take(s);
	if (r < 0)
		return 0;
	text = strndup(buf, len); /* a NUL (U+0000) ends the text */
	if (!text)
		return -1;
	m = cf_msg_new(mb->room->name, s->user_id, s->user_name, text, NULL);
	free(text);
	if (!m)
		return -1;
	r = cf_room_publish(s->env->reg, m, NULL, NULL, 0);
	cf_msg_unref(m);
	if (r < 0)
		log_debug("chatty: session %llu: message dropped: %s", (unsigned long long)s->id,
		          strerror(-r));
	return 0;
}

const struct cf_dialect cf_dialect_chatty = {
        .id = CF_DIALECT_CHATTY,
        .name = "chatty",
        .paths = (const char *const[]){"/chat", "/chat/join", "/ping", NULL},
        .max_is_text = 1,
        .on_open = on_open,
        .on_text = on_text,
        .render_msg = render_msg,
        .render_presence = render_presence,
        .render_bye = render_bye,
        .join_done = join_done,
        .ws_path = ws_path,
        .admit = admit,
        .seed = 1,
        .http = http,
        .http_cancel = http_cancel,
        .cleanup = cleanup,
};
