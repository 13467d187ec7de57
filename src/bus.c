/* SPDX-License-Identifier: MIT */
/* bus.c - ordered chat messages (struct cf_msg) and the bus interface dispatch. */
#include "confab/bus.h"
#include "confab/frame.h"
#include "confab/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cf_msg *
cf_msg_new(const char *room, const char *from_id, const char *from_name, const char *text,
           const char *nonce)
{
	struct cf_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->refs = 1;
	m->room = strdup(room);
	m->from_id = strdup(from_id);
	m->from_name = strdup(from_name);
	m->text = strdup(text);
	m->nonce = nonce ? strdup(nonce) : NULL;
	if (!m->room || !m->from_id || !m->from_name || !m->text || (nonce && !m->nonce)) {
		m->refs = 1;
		return cf_msg_unref(m);
	}
	return m;
}

struct cf_msg *
cf_msg_ref(struct cf_msg *m)
{
	m->refs++;
	return m;
}

struct cf_msg *
cf_msg_unref(struct cf_msg *m)
{
	if (!m || --m->refs)
		return NULL;
	for (int i = 0; i < CF_DIALECT_MAX; i++)
		cf_frame_unref(m->frames[i]);
	free(m->room);
	free(m->from_id);
	free(m->from_name);
	free(m->text);
	free(m->nonce);
	free(m);
	return NULL;
}

struct cf_frame *
cf_msg_frame(struct cf_msg *m, const struct cf_dialect *d)
{
	cf_frame_render_fn *render = m->dm ? d->render_dm : d->render_msg;

	if (!m->frames[d->id] && render) {
		m->frames[d->id] = render(m);
		if (m->frames[d->id])
			m->frames[d->id]->ordered_ns = m->ordered_ns;
		/* Without its ack (OOM) the message stays kept and comes again: never lost. */
		if (m->frames[d->id] && m->held && m->mid[0])
			(void)cf_frame_set_ack(m->frames[d->id], m->room, m->mid);
	}
	return m->frames[d->id];
}

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
