/* SPDX-License-Identifier: MIT */
/* http_api.c - confab's own HTTP API (README "HTTP API"): /healthz on every listener; /metrics,
 * the rooms, their history and the admin API's messages (a room's, a user's kept ones) where a
 * dialect that asks for it is mounted. Reads answer at once, or when the bus has read the
 * history or presence; writes take the admin token and are answered when the bus completes. */
#include "base/clock.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/msg.h"
#include "core/req.h"
#include "core/room.h"
#include "core/rules.h"
#include "net/http_int.h"
#include "net/mount.h"
#include "net/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>

int
cf_http_api_healthz(struct lws *wsi, struct http_pss *p)
{
	struct cf_server *srv = p->srv;
	int ok = !srv->draining && cf_bus_healthy(srv->env.bus);

	const char *why = srv->draining ? "draining" : cf_bus_status(srv->env.bus);
	json_t *o = json_pack(
	        "{s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I}", "status", ok ? "ok" : "unavailable", "reason",
	        ok ? "" : why, "node", srv->env.node_id, "version", CONFAB_VERSION, "bus",
	        srv->env.bus->ops->name, "draining", srv->draining, "connections",
	        (json_int_t)srv->sessions.count, "rooms", (json_int_t)srv->env.reg->nrooms);
	const char *st;

	/* Sharded Redis: each shard's state, in shard order (redis.url is 0). */
	if (o && cf_bus_shard_status(srv->env.bus, 0)) {
		json_t *a = json_array();

		for (size_t i = 0; a && (st = cf_bus_shard_status(srv->env.bus, i)); i++)
			json_array_append_new(a, json_pack("{s:I,s:b,s:s}", "shard", (json_int_t)i,
			                                   "up", !strcmp(st, "up"), "status", st));
		json_object_set_new(o, "redis_shards", a);
	}
	return cf_http_respond_json(wsi, p, ok ? 200 : 503, NULL, o);
}

int
cf_http_api_metrics(struct lws *wsi, struct http_pss *p)
{
	char *txt;
	size_t len;
	int r;

	if (cf_metrics_render(&txt, &len) < 0)
		return -1;
	r = cf_http_respond(wsi, p, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, txt,
	                    len);
	free(txt);
	return r;
}

/* Whether a dialect keeps the room out of listings (any dialect: rooms are the node's). */
static int
room_hidden(const char *name)
{
	const struct cf_dialect *d;

	for (size_t i = 0; (d = cf_mount_at(i)); i++)
		if (d->room_hidden && d->room_hidden(name))
			return 1;
	return 0;
}

static long long urlarg_uint(struct lws *wsi, const char *name, long long def);

/* The rooms this node holds (an operator's view), and a page of the room directory
 * (docs/protocol.md "rooms"): dir NULL when the bus keeps none. */
static int
rooms_respond(struct http_pss *p, const struct cf_dir_entry *e, size_t n, int more, int have_dir)
{
	json_t *a = json_array(), *dir = have_dir ? json_array() : json_null();
	struct cf_room *room;

	for (room = cf_room_first(p->srv->env.reg); room; room = cf_room_next(room))
		if (!room_hidden(room->name))
			json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I}", "name", room->name,
			                                   "members", (json_int_t)room->nusers,
			                                   "seq", (json_int_t)room->seq, "epoch",
			                                   (json_int_t)room->epoch));
	for (size_t i = 0; have_dir && i < n; i++)
		json_array_append_new(dir,
		                      json_pack("{s:s,s:s,s:s,s:I}", "room", e[i].room, "topic",
		                                e[i].topic, "kind", cf_rules_kind_name(e[i].kind),
		                                "members", (json_int_t)e[i].members));
	return cf_http_respond_json(
	        p->wsi, p, 200, NULL,
	        json_pack("{s:o,s:o,s:o}", "rooms", a, "directory", dir, "next",
	                  more && n ? json_string(e[n - 1].room) : json_null()));
}

static void
rooms_page(void *ud, int err, const struct cf_dir_entry *e, size_t n, int more)
{
	struct http_pss *p = ud;
	int r;

	p->waiting = 0;
	if (err < 0)
		r = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
		                  "the room directory cannot be read now: %s", strerror(-err));
	else
		r = rooms_respond(p, e, n, more, 1);
	if (r < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

int
cf_http_api_rooms(struct lws *wsi, struct http_pss *p)
{
	char prefix[CF_ROOM_NAME_MAX + 1] = "", after[CF_ROOM_NAME_MAX + 1] = "";
	long long limit = urlarg_uint(wsi, "limit", 50);
	int rp = cf_req_query_arg(wsi, "prefix", prefix, sizeof(prefix));
	int ra = cf_req_query_arg(wsi, "after", after, sizeof(after));
	int r;

	if ((rp < 0 && rp != -ENOENT) || (ra < 0 && ra != -ENOENT) || limit < 1 ||
	    limit > CF_BUS_DIR_MAX)
		return cf_http_error(wsi, p, 400, NULL, "bad_request",
		                     "prefix and after are at most %d bytes, limit 1 to %d",
		                     CF_ROOM_NAME_MAX, CF_BUS_DIR_MAX);
	r = cf_bus_directory(p->srv->env.bus, prefix, after, (uint32_t)limit, rooms_page, p);
	if (r == -EOPNOTSUPP)
		return rooms_respond(p, NULL, 0, 0, 0);
	if (r < 0)
		return cf_http_error(wsi, p, 503, NULL, "unavailable",
		                     "the room directory cannot be read now: %s", strerror(-r));
	p->waiting = 1;
	return 0;
}

/* An unsigned query argument, or def when absent; -1 when malformed, also when the query
 * holds an argument too long to read (cf_req_query_arg(): lws's own reader would call every
 * argument after it absent, and the default would answer for a value that was given). */
static long long
urlarg_uint(struct lws *wsi, const char *name, long long def)
{
	char buf[64], *end;
	long long n;
	int r = cf_req_query_arg(wsi, name, buf, sizeof(buf));

	if (r == -ENOENT)
		return def;
	if (r < 0)
		return -1;
	n = strtoll(buf, &end, 10);
	if (end == buf || *end || n < 0)
		return -1;
	return n;
}

static json_t *
history_json(const char *room, uint64_t epoch, uint64_t seq, json_t *msgs)
{
	return json_pack("{s:s,s:I,s:I,s:o}", "room", room, "epoch", (json_int_t)epoch, "seq",
	                 (json_int_t)seq, "messages", msgs);
}

/* A history read from the cluster bus (a room this node does not follow) is in. */
static void
history_done(void *ud, int err, uint64_t epoch, uint64_t seq, struct cf_msg **msgs, size_t n)
{
	struct http_pss *p = ud;
	json_t *a;
	int r;

	p->waiting = 0;
	if (err == -ENOENT || err == -ERANGE) {
		r = cf_http_error(p->wsi, p, 404, NULL, "no_such_room", "no room '%s'", p->room);
	} else if (err < 0) {
		r = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
		                  "the history could not be read: %s", strerror(-err));
	} else {
		a = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *o = cf_msg_json(msgs[i]);

			if (o)
				json_array_append_new(a, o);
		}
		r = cf_http_respond_json(p->wsi, p, 200, NULL,
		                         history_json(p->room, epoch, seq, a));
	}
	if (r < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

int
cf_http_api_history(struct lws *wsi, struct http_pss *p, const char *name)
{
	const struct cf_room *room = cf_room_find(p->srv->env.reg, name);
	long long before = urlarg_uint(wsi, "before", 0), limit;
	uint32_t from, to;
	json_t *a;
	int r;

	limit = urlarg_uint(wsi, "limit", 50);
	if (before < 0 || limit < 1 || limit > p->srv->env.cfg->history)
		return cf_http_error(wsi, p, 400, NULL, "bad_request",
		                     "before must be an integer >= 0, limit in [1, %d]",
		                     p->srv->env.cfg->history);
	if (!room || room->sync != CF_ROOM_LIVE) {
		/* Cluster mode: what this node does not follow is read from Redis. history_done()
		 * names the room from p->room (the caller's name usually is p->room). */
		if (name != p->room) {
			free(p->room);
			p->room = strdup(name);
			if (!p->room)
				return -1;
		}
		r = cf_bus_history(p->srv->env.bus, name, (uint64_t)before, (uint32_t)limit,
		                   history_done, p);
		if (r == 0) {
			p->waiting = 1; /* history_done() fills p->resp and asks for WRITEABLE */
			return 0;
		}
		if (r == -ENOTCONN)
			return cf_http_error(wsi, p, 503, NULL, "unavailable",
			                     "this room is read from Redis, which is unreachable");
		if (r != -EOPNOTSUPP && r != -ERANGE)
			return cf_http_error(wsi, p, 500, NULL, "internal", "%s", strerror(-r));
	}
	if (!room)
		return cf_http_error(wsi, p, 404, NULL, "no_such_room", "no room '%s'", name);
	to = before ? cf_room_hist_after(room, (uint64_t)before - 1) : room->hist_count;
	from = cf_room_hist_back(room, to, (uint32_t)limit, 0);
	a = json_array();
	for (uint32_t i = from; i < to; i++) {
		json_t *o = cf_msg_json(cf_room_hist_at(room, i));

		if (o) /* NULL: deleted */
			json_array_append_new(a, o);
	}
	return cf_http_respond_json(wsi, p, 200, NULL,
	                            history_json(room->name, room->epoch, room->seq, a));
}

int
cf_http_api_auth(struct lws *wsi, struct cf_server *srv)
{
	const char *tok = srv->env.cfg->admin_token;
	char hdr[512];
	size_t tl = strlen(tok);
	int n;

	if (!tl)
		return -1;
	n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n <= 7 || strncasecmp(hdr, "Bearer ", 7))
		return 0;
	/* Constant time: do not leak the token's prefix through timing. */
	return (size_t)n - 7 == tl && !CRYPTO_memcmp(hdr + 7, tok, tl);
}

static void
post_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct http_pss *p = ud;
	int r;

	(void)tag;
	p->waiting = 0;
	if (err < 0)
		r = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
		                  "the bus could not order the message: %s", strerror(-err));
	else
		r = cf_http_respond_json(
		        p->wsi, p, 200, NULL,
		        json_pack("{s:s,s:I}", "room", m->room, "seq", (json_int_t)m->seq));
	/* Out of memory: close rather than leave the client waiting. */
	if (r < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* The admin API's POSTed message, {"text": ..., "from"?: ...}, to target (a room, or the user
 * of a direct message): 0 with *ret a new message, 0 with *ret NULL when the request has been
 * answered (an error), or -1. */
static int
admin_message(struct lws *wsi, struct http_pss *p, const char *target, struct cf_msg **ret)
{
	const struct cf_config *cfg = p->srv->env.cfg;
	const char *from = "admin";
	json_t *o, *t, *f;
	int r = 0;

	*ret = NULL;
	if (p->auth_ok < 0)
		return cf_http_error(wsi, p, 403, NULL, "forbidden",
		                     "the admin API is off (server.admin_token is empty)");
	if (!p->auth_ok)
		return cf_http_error(wsi, p, 401, "WWW-Authenticate: Bearer\r\n", "unauthorized",
		                     "missing or wrong bearer token");
	if (p->too_big)
		return cf_http_error(wsi, p, 413, NULL, "too_big", "body over %d bytes", BODY_MAX);
	o = json_loadb(p->post ? p->post : "", p->post_len, 0, NULL);
	t = o ? json_object_get(o, "text") : NULL;
	f = o ? json_object_get(o, "from") : NULL;
	if (f && json_is_string(f))
		from = json_string_value(f);
	if (!o || !json_is_object(o) || !json_is_string(t) || (f && !json_is_string(f)))
		r = cf_http_error(wsi, p, 400, NULL, "bad_request",
		                  "body must be a JSON object with string 'text' (and 'from')");
	else if (!json_string_length(t) || json_string_length(t) > (size_t)cfg->max_text ||
	         strlen(json_string_value(t)) != json_string_length(t))
		r = cf_http_error(wsi, p, 400, NULL, "text_too_long", "text must be 1 to %d bytes",
		                  cfg->max_text);
	else if (cf_text_name_ok(from, strlen(from), 1, (size_t)cfg->max_name, 1) < 0)
		r = cf_http_error(wsi, p, 400, NULL, "user_name_invalid", "invalid 'from'");
	else if (!(*ret = cf_msg_new(target, from, from, json_string_value(t), NULL)))
		r = -1;
	json_decref(o);
	return r;
}

int
cf_http_api_post_message(struct lws *wsi, struct http_pss *p)
{
	struct cf_server *srv = p->srv;
	struct cf_room *room;
	struct cf_msg *m;
	int r = admin_message(wsi, p, p->room, &m);

	if (r < 0 || !m)
		return r;
	if (cf_room_get(srv->env.reg, p->room, &room) < 0) {
		cf_msg_unref(m);
		return cf_http_error(wsi, p, 503, NULL, "room_limit", "room limit reached");
	}
	r = cf_bus_publish(srv->env.bus, m, post_done, p, 0);
	cf_msg_unref(m);
	if (r < 0)
		return cf_http_error(wsi, p, 503, NULL, "unavailable",
		                     "the bus refused the message");
	p->waiting = 1; /* post_done() fills p->resp and asks for WRITEABLE */
	return 0;
}

/* ---- /api/v1/users/<id>: presence, and direct messages kept while the user is offline ---- */

static void
online_done(void *ud, int err, const uint8_t *online, size_t n)
{
	struct http_pss *p = ud;
	int r;

	p->waiting = 0;
	if (err < 0 || n != 1)
		r = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
		                  "presence is unknown now: %s", strerror(err < 0 ? -err : EIO));
	else
		r = cf_http_respond_json(
		        p->wsi, p, 200, NULL,
		        json_pack("{s:s,s:b}", "id", p->room, "online", online[0]));
	if (r < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static int
get_user(struct lws *wsi, struct http_pss *p)
{
	const char *uid = p->room;
	int r;

	/* online_done() may run before cf_bus_online() returns (the local bus answers at once). */
	p->waiting = 1;
	r = cf_bus_online(p->srv->env.bus, &uid, 1, online_done, p);
	if (r == 0)
		return 0;
	p->waiting = 0;
	if (r == -ENOTCONN)
		return cf_http_error(wsi, p, 503, NULL, "unavailable", "Redis is unreachable");
	return cf_http_error(wsi, p, 500, NULL, "internal", "%s", strerror(-r));
}

static void
dm_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct http_pss *p = ud;
	int r;

	(void)tag;
	p->waiting = 0;
	if (err == -ENOSPC)
		r = cf_http_error(p->wsi, p, 507, NULL, "inbox_full",
		                  "inbox.max_users users have kept messages already");
	else if (err == -EMSGSIZE)
		r = cf_http_error(p->wsi, p, 413, NULL, "too_big",
		                  "the message exceeds inbox.max_bytes");
	else if (err < 0)
		r = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
		                  "the message could not be sent: %s", strerror(-err));
	else if (m->queued)
		r = cf_http_respond_json(p->wsi, p, 202, NULL,
		                         json_pack("{s:b,s:s}", "queued", 1, "mid", m->mid));
	else
		r = cf_http_respond_json(p->wsi, p, 200, NULL,
		                         json_pack("{s:b,s:s}", "delivered", 1, "mid", m->mid));
	if (r < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* An operator's notice to a user: delivered to every session the user has on any node, or
 * kept in the user's inbox until one appears (guest or account: the operator
 * decides). */
int
cf_http_api_post_dm(struct lws *wsi, struct http_pss *p)
{
	struct cf_msg *m;
	int r = admin_message(wsi, p, p->room, &m);

	if (r < 0 || !m)
		return r;
	m->dm = 1;
	m->keep = 1;
	m->ts_ms = cf_wall_ms();
	p->waiting = 1;
	r = cf_bus_dm(p->srv->env.bus, m, dm_done, p, 0);
	cf_msg_unref(m);
	if (r < 0) {
		p->waiting = 0;
		return cf_http_error(wsi, p, 503, NULL, "unavailable",
		                     "the bus refused the message");
	}
	return 0; /* dm_done() fills p->resp and asks for WRITEABLE */
}

/* GET /api/v1/users/<id> (public, like the room API's reads) and POST
 * /api/v1/users/<id>/messages (admin token). */
int
cf_http_api_users(struct lws *wsi, struct http_pss *p, const char *rest, int method)
{
	const char *slash = strchr(rest, '/');
	size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
	char id[CF_IDENT_MAX], *raw;
	int r;

	if (slash && strcmp(slash, "/messages"))
		return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
	/* A user id as confab.v1's dm takes it: an account's name or "<space>:<id>" (ident.h). */
	raw = strndup(rest, len);
	if (!raw)
		return -1;
	r = cf_ident_parse(raw, len, CF_ID_ACCOUNT, (size_t)p->srv->env.cfg->max_name, id,
	                   sizeof(id));
	free(raw);
	if (r < 0)
		return cf_http_error(wsi, p, 400, NULL, "user_name_invalid", "invalid user id");
	free(p->room);
	p->room = strdup(id);
	if (!p->room)
		return -1;
	if (!slash) {
		if (method != 'G')
			return cf_http_error(wsi, p, 405, "Allow: GET\r\n", "method_not_allowed",
			                     "use GET");
		return get_user(wsi, p);
	}
	if (method != 'P')
		return cf_http_error(wsi, p, 405, "Allow: POST\r\n", "method_not_allowed",
		                     "use POST");
	p->route = R_POST_DM;
	p->auth_ok = cf_http_api_auth(wsi, p->srv);
	return 0; /* the body follows */
}

/* ---- /api/v1/rooms/<room>/rules: the operator's view and changes of a room's rules ---- */

/* The admin token: 0 to go on, else the request is answered. */
static int
admin_only(struct lws *wsi, struct http_pss *p, int *answered)
{
	*answered = 1;
	if (p->auth_ok < 0)
		return cf_http_error(wsi, p, 403, NULL, "forbidden",
		                     "the admin API is off (server.admin_token is empty)");
	if (!p->auth_ok)
		return cf_http_error(wsi, p, 401, "WWW-Authenticate: Bearer\r\n", "unauthorized",
		                     "missing or wrong bearer token");
	*answered = 0;
	return 0;
}

static void
rules_done(void *ud, int err, const struct cf_rules *r)
{
	static const struct {
		int err, status;
		const char *code, *msg;
	} map[] = {
	        {-EEXIST, 409, "room_exists", "the room has rules, members or history"},
	        {-ENOENT, 404, "no_rules", "the room has no rules: create it first"},
	        {-EPERM, 403, "forbidden", "not allowed"},
	        {-EINVAL, 400, "bad_request", "a field is missing or out of range"},
	        {-E2BIG, 409, "rule_limit", "the room's rules list rooms.max_rule_users users"},
	        {-ENOSPC, 409, "room_limit", "rooms.max_ruled rooms have rules"},
	        {-EDQUOT, 409, "room_limit", "the creator's rooms.max_created_per_user is reached"},
	        {-EBUSY, 409, "last_owner", "the room would have no owner left"},
	};
	struct http_pss *p = ud;
	int rr = 0;

	p->waiting = 0;
	if (err < 0) {
		size_t i;

		for (i = 0; i < sizeof(map) / sizeof(map[0]) && map[i].err != err; i++)
			;
		if (i < sizeof(map) / sizeof(map[0]))
			rr = cf_http_error(p->wsi, p, map[i].status, NULL, map[i].code, "%s",
			                   map[i].msg);
		else
			rr = cf_http_error(p->wsi, p, 503, NULL, "unavailable",
			                   "the room's rules cannot be reached now: %s",
			                   strerror(-err));
	} else {
		rr = cf_http_respond_json(p->wsi, p, 200, NULL,
		                          json_pack("{s:s,s:o}", "room", p->room, "rules",
		                                    r ? cf_rules_json(r) : json_null()));
	}
	if (rr < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

int
cf_http_api_get_rules(struct lws *wsi, struct http_pss *p)
{
	int answered, r = admin_only(wsi, p, &answered);

	if (answered)
		return r;
	r = cf_bus_rules_get(p->srv->env.bus, p->room, rules_done, p);
	if (r < 0)
		return cf_http_error(wsi, p, 503, NULL, "unavailable",
		                     "the rules cannot be read: %s", strerror(-r));
	p->waiting = 1;
	return 0;
}

/* {"op", "user"?, "role"?, "kind"?, "topic"?, "seconds"?}: the operator may do anything a
 * room's owner may, and create a room with or without an owner ("user"). */
int
cf_http_api_post_rules(struct lws *wsi, struct http_pss *p)
{
	static const char *const ops[] = {"create", "topic", "kind", "role",   "kick",
	                                  "ban",    "unban", "mute", "unmute", "close"};
	const struct cf_config *cfg = p->srv->env.cfg;
	struct cf_rules_change c = {0};
	const char *op = NULL, *user = NULL, *role = "none", *kind = "open", *topic = NULL;
	char uid[CF_IDENT_MAX];
	json_int_t secs = 0;
	json_t *o;
	size_t i;
	int answered, r = admin_only(wsi, p, &answered);

	if (answered)
		return r;
	if (p->too_big)
		return cf_http_error(wsi, p, 413, NULL, "too_big", "body over %d bytes", BODY_MAX);
	o = json_loadb(p->post ? p->post : "", p->post_len, 0, NULL);
	if (!json_is_object(o) ||
	    json_unpack(o, "{s:s,s?s,s?s,s?s,s?s,s?I}", "op", &op, "user", &user, "role", &role,
	                "kind", &kind, "topic", &topic, "seconds", &secs) < 0) {
		json_decref(o);
		return cf_http_error(wsi, p, 400, NULL, "bad_request",
		                     "body: {\"op\", \"user\", \"role\", \"kind\", \"topic\", "
		                     "\"seconds\"} (strings; seconds an integer)");
	}
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]) && strcmp(op, ops[i]); i++)
		;
	c.op = (enum cf_rules_op)i;
	c.role = (uint8_t)cf_rules_role_parse(role);
	c.kind = (uint8_t)cf_rules_kind_parse(kind);
	c.topic = topic ? topic : (c.op == CF_RULES_CREATE ? "" : NULL);
	c.until = secs > 0 && secs <= 10LL * 365 * 86400 ? (int64_t)time(NULL) + secs
	                                                 : CF_RULES_FOREVER;
	if (i == sizeof(ops) / sizeof(ops[0]) || cf_rules_role_parse(role) < 0 ||
	    cf_rules_kind_parse(kind) < 0 || secs < 0 || secs > 10LL * 365 * 86400) {
		json_decref(o);
		return cf_http_error(wsi, p, 400, NULL, "bad_request",
		                     "op, role or kind is not one of those of docs/protocol.md");
	}
	if (user && cf_ident_parse(user, strlen(user), CF_ID_ACCOUNT, (size_t)cfg->max_name, uid,
	                           sizeof(uid)) < 0) {
		json_decref(o);
		return cf_http_error(wsi, p, 400, NULL, "user_name_invalid",
		                     "'user' is no user id");
	}
	c.target = user ? uid : NULL;
	c.actor = NULL; /* the operator */
	r = cf_bus_rules_change(p->srv->env.bus, p->room, &c, rules_done, p);
	json_decref(o);
	if (r < 0)
		return cf_http_error(wsi, p, 503, NULL, "unavailable",
		                     "the rules cannot be changed: %s", strerror(-r));
	p->waiting = 1;
	return 0;
}

/* ---- the operator's views and notices (the admin page, www/admin/) ---- */

#define LIST_MAX 1000 /* most entries of one answer: rooms may hold 10k users */

/* GET /api/v1/rooms/<room>/members?limit=: the users this node knows present in the room
 * (cluster mode: every node's, in a room this node follows; none in one it does not). */
int
cf_http_api_members(struct lws *wsi, struct http_pss *p)
{
	const struct cf_room *room = cf_room_find(p->srv->env.reg, p->room);
	long long limit = urlarg_uint(wsi, "limit", 100);
	int answered, r = admin_only(wsi, p, &answered);
	const struct cf_presence *u;
	json_t *a;
	size_t n = 0;

	if (answered)
		return r;
	if (limit < 1 || limit > LIST_MAX)
		return cf_http_error(wsi, p, 400, NULL, "bad_request", "limit in [1, %d]",
		                     LIST_MAX);
	a = json_array();
	for (u = room ? cf_room_presence_first(room) : NULL; a && u && n < (size_t)limit;
	     u = cf_room_presence_next(u), n++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "id", u->id, "name",
		                                   cf_presence_name(u), "here", u->sessions > 0));
	return cf_http_respond_json(wsi, p, 200, NULL,
	                            json_pack("{s:s,s:o,s:I,s:b,s:b}", "room", p->room, "members",
	                                      a, "total", (json_int_t)(room ? room->nusers : 0),
	                                      "more", u != NULL, "followed",
	                                      room && room->sync == CF_ROOM_LIVE));
}

/* GET /api/v1/users?limit=: this node's connections, and the users who hold them. */
int
cf_http_api_online(struct lws *wsi, struct http_pss *p)
{
	struct cf_registry *reg = p->srv->env.reg;
	long long limit = urlarg_uint(wsi, "limit", 100);
	int answered, r = admin_only(wsi, p, &answered);
	struct cf_user *u;
	json_t *a;
	size_t n = 0, total = 0;

	if (answered)
		return r;
	if (limit < 1 || limit > LIST_MAX)
		return cf_http_error(wsi, p, 400, NULL, "bad_request", "limit in [1, %d]",
		                     LIST_MAX);
	a = json_array();
	for (u = cf_registry_user_first(reg); u; u = cf_registry_user_next(u), total++)
		if (a && n < (size_t)limit && u->sessions) {
			json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:s}", "id", u->id, "name",
			                                   u->sessions->user_name, "sessions",
			                                   (json_int_t)u->nsessions, "dialect",
			                                   u->sessions->dialect->name));
			n++;
		}
	return cf_http_respond_json(wsi, p, 200, NULL,
	                            json_pack("{s:s,s:I,s:o,s:I,s:b}", "node", p->srv->env.node_id,
	                                      "connections", (json_int_t)p->srv->sessions.count,
	                                      "users", a, "total", (json_int_t)total, "more",
	                                      n < total));
}

/* POST /api/v1/notice {"text"}: to every session on every node. */
int
cf_http_api_post_notice(struct lws *wsi, struct http_pss *p)
{
	const struct cf_config *cfg = p->srv->env.cfg;
	int answered, r = admin_only(wsi, p, &answered);
	int64_t ts = cf_wall_ms();
	json_t *o, *t;

	if (answered)
		return r;
	if (p->too_big)
		return cf_http_error(wsi, p, 413, NULL, "too_big", "body over %d bytes", BODY_MAX);
	o = json_loadb(p->post ? p->post : "", p->post_len, 0, NULL);
	t = json_object_get(o, "text");
	if (!json_is_object(o) || !json_is_string(t))
		r = cf_http_error(wsi, p, 400, NULL, "bad_request",
		                  "body must be a JSON object with string 'text'");
	else if (!json_string_length(t) || json_string_length(t) > (size_t)cfg->max_text ||
	         strlen(json_string_value(t)) != json_string_length(t))
		r = cf_http_error(wsi, p, 400, NULL, "text_too_long", "text must be 1 to %d bytes",
		                  cfg->max_text);
	else if ((r = cf_bus_notice(p->srv->env.bus, json_string_value(t), ts)) < 0)
		r = cf_http_error(wsi, p, 503, NULL, "unavailable", "the notice was not sent: %s",
		                  strerror(-r));
	else
		r = cf_http_respond_json(wsi, p, 200, NULL,
		                         json_pack("{s:b,s:I}", "sent", 1, "ts", (json_int_t)ts));
	json_decref(o);
	return r;
}
