/* SPDX-License-Identifier: MIT */
/* typing.c - typing indicators (room.h struct cf_typing): a member says it is typing, or that it
 * stopped, and the room's other users see it on every node. Nothing is kept: the event goes
 * through the bus (so that it stays behind the messages its session published before it) and
 * is queued to the members present at that moment; clients forget it after rooms.typing_ttl.
 * What bounds it is here: a token bucket per session and one per client address, and no events
 * in rooms too large for presence events. */
#include "base/clock.h"
#include "base/metrics.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/frame.h"
#include "core/registry_int.h"
#include "base/ident.h"
#include "core/room.h"
#include "core/rules.h"
#include "core/sess.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* Too many users for events every member hears: N typing would cost N^2 frames. The users
 * present on any node, so that every node (and the sender's, before it asks the bus) decides
 * alike. */
static int
too_large(const struct cf_registry *reg, const struct cf_room *room)
{
	return room->nusers > (uint32_t)reg->cfg->presence_events_max;
}

int
cf_room_typing(struct cf_registry *reg, struct cf_sess *s, struct cf_room *room, int typing)
{
	const struct cf_config *cfg = reg->cfg;
	const char *ip = reg->host.addr ? reg->host.addr(s) : NULL;
	struct cf_typing t = {.room = room->name, .uid = s->user_id, .typing = !!typing};
	struct cf_addr *addr = NULL;
	uint64_t now = cf_now_us();

	if (!cf_room_member_of(s, room))
		return -ENOENT;
	/* Who may not send there (muted, an announce room's audience) is not shown typing. */
	if (typing && reg->host.rules) {
		int r = cf_rules_may_send(reg->host.rules(reg->host.bus, room->name), s->user_id,
		                          cf_ident_space_of(s->user_id, NULL) == CF_ID_ACCOUNT,
		                          (int64_t)time(NULL));

		if (r < 0)
			return r;
	}
	if (too_large(reg, room))
		return 0;
	/* Sessions without an address (none in practice) are bounded by their own bucket. */
	if (ip && !(addr = cf_registry_addr(reg, ip)))
		return -ENOMEM;
	if (!cf_sbucket_take(&s->typing_bucket, cfg->typing_rate, cfg->typing_burst, now / 1000)) {
		cf_metrics.typing_limited_total++;
		return -EBUSY;
	}
	if (addr && !cf_bucket_take(&addr->typing, cfg->typing_rate_per_ip,
	                            cfg->typing_burst_per_ip, now)) {
		/* The session's token was not used: a client refused for its address keeps its
		 * own rate for when the address has tokens again. */
		cf_sbucket_refund(&s->typing_bucket, cfg->typing_burst);
		cf_metrics.typing_limited_total++;
		return -EBUSY;
	}
	if (!reg->host.typing)
		return -ENOTCONN;
	cf_metrics.typing_total++;
	return reg->host.typing(reg->host.bus, &t);
}

void
cf_room_typing_deliver(struct cf_registry *reg, const struct cf_typing *t)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};
	uint8_t tried[CF_DIALECT_SLOTS] = {0};
	struct cf_room *room = cf_room_find(reg, t->room);
	const struct cf_presence *p;

	if (!room || !(p = cf_room_presence_find(room, t->uid)))
		return;
	/* A read marker is shown in rooms of up to rooms.read_show_max users (0: none). */
	if (t->read ? room->nusers > (uint32_t)reg->cfg->read_show_max : too_large(reg, room))
		return;
	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, room->members.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
		const struct cf_dialect *dl = mb->sess->dialect;

		/* The user's own sessions (other tabs) know; a waiting join hears nothing yet. No
		 * `continue` in lws's foreach macros: it would skip the step to the next. */
		if (!mb->pending &&
		    (t->read ? dl->render_read_of != NULL : dl->render_typing != NULL) &&
		    strcmp(mb->sess->user_id, t->uid)) {
			if (!tried[dl->id]) {
				tried[dl->id] = 1;
				frames[dl->id] =
				        t->read ? dl->render_read_of(room->name, p->id,
				                                     cf_presence_name(p), t->read)
				                : dl->render_typing(room->name, p->id,
				                                    cf_presence_name(p), t->typing,
				                                    reg->cfg->typing_ttl);
			}
			if (frames[dl->id] && reg->host.push)
				reg->host.push(mb->sess, frames[dl->id]);
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}
