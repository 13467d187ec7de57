/* SPDX-License-Identifier: MIT */
/* bus_redis_created.c - seed 002's created rooms in a cluster: POST /chat records a room id
 * (created.lua, "add") that /chat/join then checks ("check") on any node. The ids live in one
 * sorted set scored by when they stop being joinable (Redis's clock), bounded by
 * rooms.max_rooms; a join check, and the last local member leaving, give a room its TTL
 * again. */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"
#include "base/metrics.h"

/* Gives a created room (if room is one) the key TTL again: a no-op for other rooms. */
void
cf_bus_redis_touch_created(struct bus_redis *b, const char *room)
{
	char ck[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->created.sha, "1", ck, "check", ttl, "0", room};

	snprintf(ck, sizeof(ck), "%screated", b->cfg->redis_prefix);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	(void)cf_redis_cmd(b->redis, NULL, NULL, 8, argv, NULL);
}

static void
on_created_reply(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct bus_redis *b = q->b;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep) {
		cf_bus_redis_req_finish(q, -ENOTCONN);
	} else if (rep->type != REDIS_REPLY_INTEGER) {
		log_warn("redis: %s room '%s': %s", q->add ? "creating" : "checking", q->room,
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		cf_bus_redis_req_finish(q, -EIO);
	} else {
		cf_bus_redis_req_finish(q, rep->integer == 1 ? 0
		                           : !q->add         ? -ENOENT
		                           : rep->integer    ? -EEXIST
		                                             : -ENOSPC);
	}
}

static int
send_idreq(struct bus_redis *b, const char *room, uint32_t max, int add, cf_bus_room_cb *cb,
           void *ud)
{
	char ck[512], ttl[16], mx[16];
	const char *argv[] = {"EVALSHA", b->created.sha, "1", ck, add ? "add" : "check", ttl, mx,
	                      room};
	struct req *q;
	int r;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	q = cf_bus_redis_req_new(b, REQ_ROOM, ud, room);
	if (!q)
		return -ENOMEM;
	q->cb.room = cb;
	q->add = (uint8_t)add;
	snprintf(ck, sizeof(ck), "%screated", b->cfg->redis_prefix);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	snprintf(mx, sizeof(mx), "%u", max);
	r = cf_redis_cmd(b->redis, on_created_reply, q, 8, argv, NULL);
	if (r < 0)
		cf_bus_redis_req_free(q);
	return r;
}

int
cf_bus_redis_room_create(struct cf_bus *bus, const char *room, uint32_t max, cf_bus_room_cb *cb,
                         void *ud)
{
	return send_idreq((struct bus_redis *)bus, room, max, 1, cb, ud);
}

int
cf_bus_redis_room_check(struct cf_bus *bus, const char *room, cf_bus_room_cb *cb, void *ud)
{
	return send_idreq((struct bus_redis *)bus, room, 0, 0, cb, ud);
}
