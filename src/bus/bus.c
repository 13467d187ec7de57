/* SPDX-License-Identifier: MIT */
/* bus.c - the bus interface dispatch (see bus.h). */
#include "bus/bus.h"
#include "base/text.h"
#include "core/room.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
cf_bus_publish(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	return b->ops->publish(b, m, cb, ud, tag);
}

void
cf_bus_cancel(struct cf_bus *b, void *ud)
{
	b->ops->cancel(b, ud);
}

int
cf_bus_healthy(struct cf_bus *b)
{
	return b->ops->healthy(b);
}

const char *
cf_bus_status(struct cf_bus *b)
{
	return b->ops->status ? b->ops->status(b) : "ok";
}

int
cf_bus_settled(struct cf_bus *b)
{
	return !b->ops->settled || b->ops->settled(b);
}

const char *
cf_bus_shard_status(struct cf_bus *b, size_t i)
{
	return b->ops->shard_status ? b->ops->shard_status(b, i) : NULL;
}

int
cf_bus_watch(struct cf_bus *b, struct cf_room *room)
{
	return b && b->ops->watch ? b->ops->watch(b, room) : 0;
}

void
cf_bus_unwatch(struct cf_bus *b, struct cf_room *room)
{
	if (b && b->ops->unwatch)
		b->ops->unwatch(b, room);
}

int
cf_bus_history(struct cf_bus *b, const char *room, uint64_t before, uint32_t limit,
               cf_bus_history_cb *cb, void *ud)
{
	if (!b->ops->history)
		return -EOPNOTSUPP;
	return b->ops->history(b, room, before, limit, cb, ud);
}

int
cf_bus_dm(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	if (m->keep && !m->mid[0])
		cf_text_uuid4(m->mid, (unsigned long long)m->ts_ms);
	return b->ops->dm(b, m, cb, ud, tag);
}

int
cf_bus_online(struct cf_bus *b, const char *const *uids, size_t n, cf_bus_online_cb *cb, void *ud)
{
	if (n < 1 || n > CF_BUS_ONLINE_MAX)
		return -EINVAL;
	if (!b->ops->online)
		return -EOPNOTSUPP;
	return b->ops->online(b, uids, n, cb, ud);
}

void
cf_bus_user(struct cf_bus *b, const char *uid, int present)
{
	if (b && b->ops->user)
		b->ops->user(b, uid, present);
}

void
cf_bus_dm_written(struct cf_bus *b, const char *uid, const char *mid)
{
	if (b && b->ops->dm_written)
		b->ops->dm_written(b, uid, mid);
}

void
cf_bus_presence(struct cf_bus *b, struct cf_room *room, const char *uid, const char *name,
                int joined)
{
	if (b && b->ops->presence)
		b->ops->presence(b, room, uid, name, joined);
}

const struct cf_rules *
cf_bus_rules(struct cf_bus *b, const char *room)
{
	return b && b->ops->rules ? b->ops->rules(b, room) : NULL;
}

int
cf_bus_rules_get(struct cf_bus *b, const char *room, cf_bus_rules_cb *cb, void *ud)
{
	if (!b->ops->rules_get)
		return -EOPNOTSUPP;
	return b->ops->rules_get(b, room, cb, ud);
}

int
cf_bus_rules_change(struct cf_bus *b, const char *room, const struct cf_rules_change *c,
                    cf_bus_rules_cb *cb, void *ud)
{
	if (!b->ops->rules_change)
		return -EOPNOTSUPP;
	return b->ops->rules_change(b, room, c, cb, ud);
}

int
cf_bus_typing(struct cf_bus *b, const struct cf_typing *t)
{
	if (!b || !b->ops->typing)
		return -EOPNOTSUPP;
	return b->ops->typing(b, t);
}

int
cf_bus_notice(struct cf_bus *b, const char *text, int64_t ts_ms)
{
	if (!b || !b->ops->notice)
		return -EOPNOTSUPP;
	return b->ops->notice(b, text, ts_ms);
}

int
cf_bus_directory(struct cf_bus *b, const char *prefix, const char *after, uint32_t limit,
                 cf_bus_dir_cb *cb, void *ud)
{
	if (limit < 1 || limit > CF_BUS_DIR_MAX)
		return -EINVAL;
	if (!b->ops->directory)
		return -EOPNOTSUPP;
	return b->ops->directory(b, prefix, after, limit, cb, ud);
}

int
cf_bus_read_set(struct cf_bus *b, const char *uid, const char *room, uint64_t seq,
                cf_bus_read_cb *cb, void *ud)
{
	if (!b->ops->read_set)
		return -EOPNOTSUPP;
	return b->ops->read_set(b, uid, room, seq, cb, ud);
}

int
cf_bus_read_get(struct cf_bus *b, const char *uid, const char *const *rooms, size_t n,
                cf_bus_reads_cb *cb, void *ud)
{
	if (n > CF_BUS_READS_MAX)
		return -EINVAL;
	if (!b->ops->read_get)
		return -EOPNOTSUPP;
	return b->ops->read_get(b, uid, rooms, n, cb, ud);
}

int
cf_bus_room_create(struct cf_bus *b, const char *room, uint32_t max, cf_bus_room_cb *cb, void *ud)
{
	if (!b->ops->room_create)
		return -EOPNOTSUPP;
	return b->ops->room_create(b, room, max, cb, ud);
}

int
cf_bus_room_check(struct cf_bus *b, const char *room, cf_bus_room_cb *cb, void *ud)
{
	if (!b->ops->room_check)
		return -EOPNOTSUPP;
	return b->ops->room_check(b, room, cb, ud);
}

int
cf_bus_room_known(struct cf_bus *b, const char *room)
{
	return b->ops->room_known ? b->ops->room_known(b, room) : -EAGAIN;
}

struct cf_store *
cf_bus_store(struct cf_bus *b)
{
	return b && b->ops->store ? b->ops->store(b) : NULL;
}

void
cf_bus_stop(struct cf_bus *b)
{
	if (b && b->ops->stop)
		b->ops->stop(b);
}

void
cf_bus_free(struct cf_bus *b)
{
	if (b)
		b->ops->free(b);
}

static int
reg_publish(void *b, struct cf_msg *m, cf_msg_done_cb *cb, void *ud, int64_t tag)
{
	return cf_bus_publish(b, m, cb, ud, tag);
}

static int
reg_watch(void *b, struct cf_room *room)
{
	return cf_bus_watch(b, room);
}

static void
reg_unwatch(void *b, struct cf_room *room)
{
	cf_bus_unwatch(b, room);
}

static void
reg_presence(void *b, struct cf_room *room, const char *uid, const char *name, int joined)
{
	cf_bus_presence(b, room, uid, name, joined);
}

static void
reg_user(void *b, const char *uid, int present)
{
	cf_bus_user(b, uid, present);
}

static int
reg_typing(void *b, const struct cf_typing *t)
{
	return cf_bus_typing(b, t);
}

static void
reg_typing_deliver(void *ud, const struct cf_typing *t)
{
	cf_room_typing_deliver(ud, t);
}

static void
reg_deliver(void *ud, struct cf_msg *m)
{
	cf_room_deliver(ud, m);
}

static uint32_t
reg_deliver_dm(void *ud, struct cf_msg *m)
{
	return cf_registry_deliver_dm(ud, m);
}

static uint32_t
reg_user_sessions(void *ud, const char *uid)
{
	return cf_registry_user_sessions(ud, uid);
}

static int
reg_room_seq(void *ud, const char *name, uint64_t *ret_seq, uint64_t *ret_epoch)
{
	struct cf_room *room;
	int r = cf_room_get(ud, name, &room);

	if (r < 0)
		return r;
	*ret_seq = room->seq;
	*ret_epoch = room->epoch;
	return 0;
}

static int
reg_room_held(void *ud, const char *name)
{
	return cf_room_find(ud, name) != NULL;
}

static void
reg_rules_changed(void *ud, const char *room, const struct cf_rules *r,
                  const struct cf_rules_change *c)
{
	cf_room_rules_changed(ud, room, r, c);
}

static uint32_t
reg_room_users(void *ud, const char *name)
{
	struct cf_room *room = cf_room_find(ud, name);

	return room ? room->nusers : 0;
}

static void
reg_read(void *ud, const char *uid, const char *room, uint64_t seq)
{
	cf_registry_read_deliver(ud, uid, room, seq);
}

static void
reg_notice(void *ud, const char *text, int64_t ts_ms)
{
	cf_registry_notice(ud, text, ts_ms);
}

static const struct cf_rules *
reg_rules(void *b, const char *room)
{
	return cf_bus_rules(b, room);
}

void
cf_bus_host_registry(struct cf_bus_host *h, struct cf_registry *reg)
{
	*h = (struct cf_bus_host){.deliver = reg_deliver,
	                          .deliver_dm = reg_deliver_dm,
	                          .typing = reg_typing_deliver,
	                          .user_sessions = reg_user_sessions,
	                          .room_seq = reg_room_seq,
	                          .room_held = reg_room_held,
	                          .rules_changed = reg_rules_changed,
	                          .read = reg_read,
	                          .room_users = reg_room_users,
	                          .notice = reg_notice,
	                          .ud = reg};
}

void
cf_bus_registry_host(struct cf_bus *b, struct cf_registry_host *h)
{
	h->bus = b;
	h->publish = reg_publish;
	h->watch = reg_watch;
	h->unwatch = reg_unwatch;
	h->presence = reg_presence;
	h->user = reg_user;
	h->rules = reg_rules;
	h->typing = reg_typing;
	h->mirror = b->ops->mirror;
	h->state_free = b->ops->room_state_free;
}
