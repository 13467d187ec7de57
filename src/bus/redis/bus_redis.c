/* SPDX-License-Identifier: MIT */
/* bus_redis.c - the cluster bus: Redis orders every room's messages for all nodes, keeps who
 * is where, carries direct messages and keeps the offline inboxes (bus.h's interface; what
 * each part does is in its file, bus_redis_int.h lists them).
 *
 * This file is the bus itself: the two links to Redis (redis.c) and what happens when they
 * come up (the scripts are loaded first thing, with SCRIPT LOAD, so no EVALSHA can find one
 * missing; every followed room and user is subscribed again and caught up) or go down (joins
 * waiting for a catch-up fail; mirrors stay), the messages that arrive on subscribed channels,
 * the callers' requests in flight (one list, so cf_bus_cancel() finds every one), and the
 * timer that keeps this node and its rooms' keys alive. A reply that says the links lost the
 * scripts or reached a replica (NOSCRIPT, READONLY, ...) drops the links rather than resending:
 * a resent publish could be overtaken by a later one. */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/store.h"
#include "core/msg.h"

#include <openssl/sha.h>

#include "cf_lua.h"

/* A request of kind for ud, on b's list; room is copied (REQ_ROOM), may be NULL. */
struct req *
cf_bus_redis_req_new(struct bus_redis *b, enum req_kind kind, void *ud, const char *room)
{
	size_t n = room ? strlen(room) : 0;
	struct req *q = calloc(1, sizeof(*q) + n + 1);

	if (!q)
		return NULL;
	q->b = b;
	q->kind = kind;
	q->ud = ud;
	memcpy(q->room, room ? room : "", n + 1);
	lws_dll2_add_tail(&q->list, &b->reqs);
	return q;
}

void
cf_bus_redis_req_free(struct req *q)
{
	lws_dll2_remove(&q->list);
	cf_msg_unref(q->m);
	if (q->own_free)
		q->own_free(q->own);
	else
		free(q->own);
	free(q);
}

int
cf_bus_redis_publish_json(struct bus_redis *b, const char *ch, json_t *o)
{
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	const char *argv[] = {"PUBLISH", ch, txt};
	int r;

	json_decref(o);
	if (!txt)
		return -ENOMEM;
	r = cf_redis_cmd(b->redis, NULL, NULL, 3, argv, NULL);
	free(txt);
	return r;
}

/* Tells q's caller err (0 only for the kinds whose callback carries no answer but err) and
 * frees q. */
void
cf_bus_redis_req_finish(struct req *q, int err)
{
	switch (q->kind) {
	case REQ_PUBLISH:
		if (err < 0)
			cf_metrics.redis_unavailable_total++;
		if (q->cb.done)
			q->cb.done(q->ud, q->tag, q->m, err);
		break;
	case REQ_HISTORY:
		if (q->cb.history)
			q->cb.history(q->ud, err, 0, 0, NULL, 0);
		break;
	case REQ_ROOM:
		if (q->cb.room)
			q->cb.room(q->ud, q->room, err);
		break;
	case REQ_ONLINE:
		if (q->cb.online)
			q->cb.online(q->ud, err, NULL, 0);
		break;
	case REQ_RULES:
		if (q->cb.rules)
			q->cb.rules(q->ud, err, NULL);
		break;
	case REQ_DIR:
		if (q->cb.dir)
			q->cb.dir(q->ud, err, NULL, 0, 0);
		break;
	case REQ_READS:
		if (q->add && q->cb.reads_get)
			q->cb.reads_get(q->ud, err, NULL, 0);
		else if (!q->add && q->cb.reads_set)
			q->cb.reads_set(q->ud, err, 0, 0);
		break;
	}
	cf_bus_redis_req_free(q);
}

/* The room's state, created if the bus had none for it. NULL on OOM. */
struct room_state *
cf_bus_redis_state_get(struct cf_room *room)
{
	if (!room->bus_state)
		room->bus_state = calloc(1, sizeof(struct room_state));
	return room->bus_state;
}

void
cf_bus_redis_state_free(void *state)
{
	struct room_state *st = state;
	struct remote *rm, *tmp;

	HASH_ITER(hh, st->remote, rm, tmp)
	{
		HASH_DEL(st->remote, rm);
		free(rm);
	}
	if (st->rules)
		cf_rules_fini(st->rules);
	free(st->rules);
	free(st);
}

/* sc runs body, under its SHA1 (what SCRIPT LOAD answers and EVALSHA names). */
static void
script_init(struct script *sc, const char *name, const char *body)
{
	unsigned char md[SHA_DIGEST_LENGTH];

	sc->name = name;
	sc->body = body;
	SHA1((const unsigned char *)body, strlen(body), md);
	cf_text_hex(md, sizeof(md), sc->sha);
}

static void
on_message(void *ud, const char *channel, size_t clen, const char *payload, size_t plen)
{
	struct bus_redis *b = ud;
	size_t pl = strlen(b->cfg->redis_prefix);

	if (payload) {
		if (clen == pl + 6 && !memcmp(channel + pl, "notice", 6))
			cf_bus_redis_on_notice(b, payload, plen);
		else if (clen > pl + 5 && !memcmp(channel + pl, "user:", 5))
			cf_bus_redis_on_dm(b, payload, plen);
		else
			cf_bus_redis_on_live(b, payload, plen);
		return;
	}
	/* A subscribe confirmation: from now on nothing published is missed, so read the log. */
	log_debug("redis: subscribed to %.*s", (int)clen, channel);
	if (clen > pl + 5 && !memcmp(channel + pl, "user:", 5)) {
		cf_bus_redis_drain(b, channel + pl + 5, clen - pl - 5);
		return;
	}
	if (clen > pl + 5 && !memcmp(channel + pl, "room:", 5))
		cf_bus_redis_room_subscribed(b, channel + pl + 5, clen - pl - 5);
}

void
cf_bus_redis_script_reply(void *privdata, redisReply *rep)
{
	struct script *sc = privdata;

	if (rep && rep->type == REDIS_REPLY_ERROR)
		log_warn("redis: the %s script failed: %s", sc->name, rep->str);
}

/* Keys expire history_ttl after their last write: rooms whose members are all quiet must not
 * lose their history under them. A third of the TTL apart, every followed room's keys and this
 * node's room set get their TTL back. */
static void
touch_rooms(struct bus_redis *b)
{
	uint64_t now = (uint64_t)lws_now_usecs();
	char k[512], ttl[16];
	const char *argv[] = {"EXPIRE", k, ttl};
	static const char *const kinds[] = {"meta", "log", "presence"};

	if (now - b->touched_us < (uint64_t)key_ttl(b) * LWS_US_PER_SEC / 3)
		return;
	b->touched_us = now;
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	for (struct cf_room *room = cf_room_first(b->reg); room; room = cf_room_next(room)) {
		if (!room->members.count || !owns(b, room->name))
			continue;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (key(k, sizeof(k), b, kinds[i], room->name) == 0)
				(void)cf_redis_cmd(b->redis, NULL, NULL, 3, argv, NULL);
		cf_bus_redis_touch_created(b, room->name);
	}
	if (key(k, sizeof(k), b, "noderooms", b->node) == 0)
		(void)cf_redis_cmd(b->redis, NULL, NULL, 3, argv, NULL);
}

/* Every third of node_ttl: keep this node alive, bury the dead, keep the followed rooms' keys. */
static void
alive_cb(lws_sorted_usec_list_t *sul)
{
	struct bus_redis *b = lws_container_of(sul, struct bus_redis, sul_alive);

	if (cf_redis_is_up(b->redis)) {
		cf_bus_redis_alive(b);
		touch_rooms(b);
	}
	cf_bus_redis_acks_release(b);
	lws_sul_schedule(b->ctx, 0, &b->sul_alive, alive_cb,
	                 (lws_usec_t)b->cfg->redis_node_ttl * LWS_US_PER_SEC / 3);
}

static void
on_script_loaded(void *privdata, redisReply *rep)
{
	struct script *sc = privdata;

	if (!rep)
		return;
	if (rep->type != REDIS_REPLY_STRING || strcmp(rep->str, sc->sha))
		log_error("redis: loading the %s script: %s", sc->name,
		          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
}

static void
load_script(struct bus_redis *b, struct script *sc)
{
	const char *argv[] = {"SCRIPT", "LOAD", sc->body};

	(void)cf_redis_cmd(b->redis, on_script_loaded, sc, 3, argv, NULL);
}

static void
on_up(void *ud)
{
	struct bus_redis *b = ud;
	struct script *all[] = {&b->pub,     &b->fetch,   &b->presence, &b->alive, &b->newepoch,
	                        &b->history, &b->created, &b->dmkeep,   &b->drain, &b->dmdone,
	                        &b->rules,   &b->readset, &b->directory};

	/* First on the new link: every EVALSHA after them finds the scripts (a restarted or
	 * promoted Redis has none). */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		load_script(b, all[i]);
	alive_cb(&b->sul_alive);
	/* The operator's notices are the cluster's: shard 0 carries them. */
	if (b->idx == 0) {
		char ch[512];

		if (cf_bus_redis_notice_channel(b, ch, sizeof(ch)) == 0)
			(void)cf_redis_subscribe(b->redis, ch);
	}
	for (struct cf_user *u = cf_registry_user_first(b->reg); u; u = cf_registry_user_next(u))
		if (owns(b, u->id))
			cf_bus_redis_user(&b->bus, u->id, 1);

	/* The new subscriber link follows nothing yet: follow every room with members again and
	 * catch each up from its log once the subscription is confirmed. */
	for (struct cf_room *room = cf_room_first(b->reg); room; room = cf_room_next(room)) {
		struct room_state *st = state_of(room);

		if (!room->members.count || !owns(b, room->name))
			continue;
		room->sync = CF_ROOM_SYNCING;
		if (st)
			st->fetching = 0;
		if (cf_bus_redis_subscribe_room(b, room) < 0)
			log_warn("redis: cannot follow room '%s' again", room->name);
		/* If we were gone longer than node_ttl the others removed our users. */
		for (const struct cf_presence *p = cf_room_presence_first(room); p;
		     p = cf_room_presence_next(p))
			if (p->sessions)
				cf_bus_redis_presence(&b->bus, room, p->id, cf_presence_name(p), 1);
	}
}

static void
on_down(void *ud, const char *why)
{
	struct bus_redis *b = ud;
	struct cf_room *room;
	char **names = NULL;
	size_t n = 0;

	(void)why; /* logged by redis.c; /healthz and STATUS= say it */
	/* Rooms keep their members and mirrors; joins still waiting for a sync fail. Failing
	 * them may free rooms, so collect the names first. */
	for (room = cf_room_first(b->reg); room; room = cf_room_next(room)) {
		if (!owns(b, room->name))
			continue;
		if (state_of(room))
			state_of(room)->fetching = 0;
		if (room->sync != CF_ROOM_SYNCING)
			continue;
		room->sync = CF_ROOM_LIVE;
		if (!(n & (n - 1))) {
			char **v = realloc(names, (n ? 2 * n : 1) * sizeof(*v));
			if (!v)
				continue;
			names = v;
		}
		if ((names[n] = strdup(room->name)))
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		room = cf_room_find(b->reg, names[i]);
		if (room)
			cf_room_ready(b->reg, room, -ENOTCONN);
		free(names[i]);
	}
	free(names);
}

static void
redis_cancel(struct cf_bus *bus, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;

	lws_start_foreach_dll (struct lws_dll2 *, d, b->reqs.head) {
		struct req *q = lws_container_of(d, struct req, list);
		if (q->ud == ud)
			memset(&q->cb, 0, sizeof(q->cb));
	}
	lws_end_foreach_dll(d);
	lws_start_foreach_dll (struct lws_dll2 *, d, b->parked.head) {
		struct req *q = lws_container_of(d, struct req, list);
		if (q->ud == ud)
			memset(&q->cb, 0, sizeof(q->cb));
	}
	lws_end_foreach_dll(d);
}

static int
redis_healthy(struct cf_bus *bus)
{
	return cf_redis_is_up(((struct bus_redis *)bus)->redis);
}

static const char *
redis_status(struct cf_bus *bus)
{
	struct bus_redis *b = (struct bus_redis *)bus;

	if (cf_redis_is_up(b->redis))
		return "ok";
	if (b->set)
		snprintf(b->status, sizeof(b->status), "redis shard %u: %s", b->idx,
		         cf_redis_status(b->redis));
	else
		snprintf(b->status, sizeof(b->status), "redis: %s", cf_redis_status(b->redis));
	return b->status;
}

static int
redis_settled(struct cf_bus *bus)
{
	return cf_redis_settled(((struct bus_redis *)bus)->redis);
}

static void
redis_stop(struct cf_bus *bus)
{
	struct bus_redis *b = (struct bus_redis *)bus;

	/* Pending replies run now, with NULL: their publishers hear -ENOTCONN. */
	lws_sul_cancel(&b->sul_alive);
	cf_redis_close(b->redis);
}

static struct cf_store *
redis_store(struct cf_bus *bus)
{
	return ((struct bus_redis *)bus)->store;
}

static void
redis_free(struct cf_bus *bus)
{
	struct bus_redis *b = (struct bus_redis *)bus;

	/* First the link: the store's pending replies run with NULL, its callers hear -EAGAIN. */
	cf_redis_free(b->redis);
	cf_store_free(b->store);
	while (b->reqs.head)
		cf_bus_redis_req_finish(lws_container_of(b->reqs.head, struct req, list),
		                        -ECANCELED);
	/* Ordered: the ack is true, whether the mirror got there or not. */
	while (b->parked.head)
		cf_bus_redis_req_finish(lws_container_of(b->parked.head, struct req, list), 0);
	free(b);
}

static const struct cf_bus_ops cf_bus_redis_ops = {
        .name = "redis",
        .mirror = 1,
        .room_state_free = cf_bus_redis_state_free,
        .publish = cf_bus_redis_publish,
        .cancel = redis_cancel,
        .healthy = redis_healthy,
        .status = redis_status,
        .settled = redis_settled,
        .watch = cf_bus_redis_watch,
        .unwatch = cf_bus_redis_unwatch,
        .presence = cf_bus_redis_presence,
        .typing = cf_bus_redis_typing,
        .dm = cf_bus_redis_dm,
        .history = cf_bus_redis_history,
        .room_create = cf_bus_redis_room_create,
        .room_check = cf_bus_redis_room_check,
        .user = cf_bus_redis_user,
        .dm_written = cf_bus_redis_dm_written,
        .online = cf_bus_redis_online,
        .rules = cf_bus_redis_rules,
        .rules_get = cf_bus_redis_rules_get,
        .rules_change = cf_bus_redis_rules_change,
        .read_set = cf_bus_redis_read_set,
        .directory = cf_bus_redis_directory,
        .notice = cf_bus_redis_notice,
        .read_get = cf_bus_redis_read_get,
        .store = redis_store,
        .stop = redis_stop,
        .free = redis_free,
};

struct bus_redis *
cf_bus_redis_one(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
                 struct cf_registry *reg, const char *node_id, const struct cf_bus_host *host,
                 const struct cf_redis_target *t, const struct shard_set *set, unsigned idx)
{
	struct bus_redis *b;
	struct cf_redis_events ev = {.up = on_up, .down = on_down, .message = on_message};

	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->bus.ops = &cf_bus_redis_ops;
	b->bus.host = *host;
	b->set = set;
	b->idx = idx;
	b->reg = reg;
	b->cfg = cfg;
	b->replicated = !strcmp(cfg->redis_ack, "replicated");
	script_init(&b->pub, "publish", cf_lua_publish);
	script_init(&b->fetch, "fetch", cf_lua_fetch);
	script_init(&b->presence, "presence", cf_lua_presence);
	script_init(&b->alive, "liveness", cf_lua_alive);
	script_init(&b->newepoch, "new epoch", cf_lua_newepoch);
	script_init(&b->history, "history", cf_lua_history);
	script_init(&b->created, "created rooms", cf_lua_created);
	script_init(&b->dmkeep, "keep", cf_lua_dmkeep);
	script_init(&b->drain, "drain", cf_lua_drain);
	script_init(&b->dmdone, "dmdone", cf_lua_dmdone);
	script_init(&b->rules, "rules", cf_lua_rules);
	script_init(&b->readset, "readset", cf_lua_readset);
	script_init(&b->directory, "directory", cf_lua_directory);
	b->ctx = ctx;
	snprintf(b->node, sizeof(b->node), "%s", node_id);
	cf_metrics.redis_mode = 1;
	ev.ud = b;
	b->redis = cf_redis_new(ctx, vh, cfg, t, node_id, idx, &ev);
	/* The accounts and the token key are the cluster's, not a name's: shard 0 keeps them. */
	if (b->redis && idx == 0 && !(b->store = cf_bus_redis_store_new(b->redis, cfg))) {
		cf_redis_free(b->redis);
		b->redis = NULL;
	}
	if (!b->redis) {
		free(b);
		return NULL;
	}
	return b;
}

struct cf_bus *
cf_bus_redis_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
                 struct cf_registry *reg, const char *node_id, const struct cf_bus_host *host,
                 char *err, size_t errlen)
{
	struct bus_redis *b;
	struct cf_redis_target t;

	if (cfg->redis_shards.n)
		return cf_bus_redis_sharded_new(ctx, vh, cfg, reg, node_id, host, err, errlen);
	if (cf_redis_target_from_config(cfg, &t, err, errlen) < 0)
		return NULL;
	cf_metrics.redis_shards = 1;
	b = cf_bus_redis_one(ctx, vh, cfg, reg, node_id, host, &t, NULL, 0);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return &b->bus;
}
