/* SPDX-License-Identifier: MIT */
/* test_room.c - the room registry, presence, fan-out and the local bus, without a network:
 * sessions have no wsi, so whatever is sent to them stays in their queue for inspection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/frame.h"
#include "core/ring.h"
#include "core/registry_int.h" /* the address sweep at a time of the test's choosing */
#include "core/room.h"
#include "dialects/dialects.h"
#include "net/server.h"
#include "net/session.h"

#include "bus/redis/bus_redis_int.h" /* the cluster bus's (node, user) presence entries */

#define NSESS 4

struct fx {
	struct cf_config cfg;
	struct cf_server srv;
	struct cf_bus *bus;
	struct cf_sess s[NSESS];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct cf_bus_host host;

	if (!fx)
		return -1;
	cf_metrics_init();
	if (cf_config_init(&fx->cfg) < 0)
		return -1;
	fx->cfg.history = 5;
	fx->cfg.join_history = 5;
	fx->srv.env.cfg = &fx->cfg;
	fx->srv.env.reg = cf_registry_new(&fx->cfg);
	if (!fx->srv.env.reg)
		return -1;
	cf_bus_host_registry(&host, fx->srv.env.reg);
	fx->bus = cf_bus_local_new(NULL, &host);
	if (!fx->bus)
		return -1;
	fx->srv.env.bus = fx->bus;
	{
		/* As server.c does. */
		struct cf_registry_host rh = {.push = cf_sess_push, .addr = cf_sess_addr};

		cf_bus_registry_host(fx->bus, &rh);
		cf_registry_set_host(fx->srv.env.reg, &rh);
	}
	for (int i = 0; i < NSESS; i++) {
		struct cf_sess *s = &fx->s[i];

		s->env = &fx->srv.env;
		s->dialect = &cf_dialect_native;
		s->id = (uint64_t)i + 1;
	}
	/* s[0] is Alice, s[1] Alice's second session, s[2] Bob, s[3] Carol. */
	if (cf_sess_set_user(&fx->s[0], "u1", "Alice") < 0 ||
	    cf_sess_set_user(&fx->s[1], "u1", "Alice") < 0 ||
	    cf_sess_set_user(&fx->s[2], "u2", "Bob") < 0 ||
	    cf_sess_set_user(&fx->s[3], "u3", "Carol") < 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	/* As a closing session does: leave, drop the queue, free the identity. */
	for (int i = 0; i < NSESS; i++) {
		struct cf_sess *s = &fx->s[i];

		cf_bus_cancel(fx->bus, s);
		cf_room_leave_all(fx->srv.env.reg, s);
	}
	for (int i = 0; i < NSESS; i++) {
		struct cf_sess *s = &fx->s[i];

		cf_ring_clear(&s->out);
		free(s->user_id); /* user_name shares the allocation */
	}
	cf_bus_free(fx->bus);
	cf_registry_free(fx->srv.env.reg);
	cf_config_fini(&fx->cfg);
	free(fx);
	cf_metrics_init();
	return 0;
}

static const char *
payload_str(struct cf_frame *f, char *buf, size_t len)
{
	assert_non_null(f);
	assert_true(f->len < len);
	memcpy(buf, cf_frame_payload(f), f->len);
	buf[f->len] = '\0';
	return buf;
}

static void
expect_payload(struct cf_frame *f, const char *want)
{
	char buf[512];

	assert_string_equal(payload_str(f, buf, sizeof(buf)), want);
}

static struct cf_presence *
presence_of(struct cf_room *room, const char *uid)
{
	struct cf_presence *p;

	HASH_FIND_STR(room->users, uid, p);
	return p;
}

/* ------------------------------------------------------------------------------------------ */

static void
test_join_creates_room(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room = NULL, *again = NULL, *other = NULL;

	assert_null(cf_room_find(reg, "lobby"));
	assert_int_equal(cf_room_join(reg, &fx->s[0], "lobby", &room, NULL), 0);
	assert_non_null(room);
	assert_string_equal(room->name, "lobby");
	assert_ptr_equal(cf_room_find(reg, "lobby"), room);
	assert_int_not_equal(room->epoch, 0);
	assert_true(room->epoch < (1ULL << 53));
	assert_int_equal(room->seq, 0);
	assert_int_equal(room->hist_count, 0);
	assert_null(room->hist); /* no history storage before the first message */
	assert_int_equal(room->members.count, 1);
	assert_int_equal(room->nusers, 1);
	assert_int_equal(reg->nrooms, 1);
	assert_int_equal(cf_metrics.rooms, 1);
	assert_int_equal(fx->s[0].rooms.count, 1);
	assert_non_null(cf_room_member_of(&fx->s[0], room));
	assert_null(cf_room_member_of(&fx->s[2], room));
	/* A member is not on the empty list. */
	assert_int_equal(reg->empty.count, 0);
	/* Joining does not queue anything to the joiner itself. */
	assert_int_equal(fx->s[0].out.count, 0);

	/* Twice: -EALREADY, nothing changes. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "lobby", &again, NULL), -EALREADY);
	assert_int_equal(room->members.count, 1);
	assert_int_equal(fx->s[0].rooms.count, 1);
	assert_int_equal(presence_of(room, "u1")->sessions, 1);

	/* Another session joins the same room: same room, same epoch. */
	assert_int_equal(cf_room_join(reg, &fx->s[2], "lobby", &again, NULL), 0);
	assert_ptr_equal(again, room);
	assert_int_equal(room->members.count, 2);
	assert_int_equal(reg->nrooms, 1);

	/* Another room: its own epoch (random; equal by chance with probability 2^-53). */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "other", &other, NULL), 0);
	assert_ptr_not_equal(other, room);
	assert_int_not_equal(other->epoch, room->epoch);
	assert_int_equal(reg->nrooms, 2);
	assert_int_equal(cf_metrics.rooms, 2);
	assert_int_equal(fx->s[0].rooms.count, 2);

	/* Leave: -ENOENT the second time. A room nobody spoke in goes at once. */
	assert_int_equal(cf_room_leave(reg, &fx->s[0], other), 0);
	assert_null(cf_room_find(reg, "other"));
	assert_int_equal(reg->nrooms, 1);
	assert_int_equal(cf_metrics.rooms, 1);
	assert_int_equal(reg->empty.count, 0);
	assert_int_equal(cf_room_join(reg, &fx->s[0], "other", &other, NULL), 0);
	/* One that was spoken in stays (history_ttl) on the empty list. */
	other->spoken = 1;
	assert_int_equal(cf_room_leave(reg, &fx->s[0], other), 0);
	assert_int_equal(cf_room_leave(reg, &fx->s[0], other), -ENOENT);
	assert_ptr_equal(cf_room_find(reg, "other"), other);
	assert_int_equal(other->members.count, 0);
	assert_int_equal(other->nusers, 0);
	assert_int_equal(reg->empty.count, 1);
	assert_int_equal(fx->s[0].rooms.count, 1);
	/* Joining it again takes it off the empty list and keeps the epoch. */
	{
		uint64_t epoch = other->epoch;
		assert_int_equal(cf_room_join(reg, &fx->s[3], "other", &again, NULL), 0);
		assert_ptr_equal(again, other);
		assert_int_equal(other->epoch, epoch);
		assert_int_equal(reg->empty.count, 0);
	}
}

static void
test_room_limits(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room;

	fx->cfg.max_rooms_per_session = 2;
	fx->cfg.max_rooms = 3;
	assert_int_equal(cf_room_join(reg, &fx->s[0], "a", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[0], "b", &room, NULL), 0);
	/* Rooms per session. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "c", &room, NULL), -E2BIG);
	assert_null(cf_room_find(reg, "c"));
	assert_int_equal(reg->nrooms, 2);
	assert_int_equal(fx->s[0].rooms.count, 2);
	/* ... counted per session, not per user: Alice's other session may join. */
	assert_int_equal(cf_room_join(reg, &fx->s[1], "c", &room, NULL), 0);
	assert_int_equal(reg->nrooms, 3);
	/* Rooms on the server. */
	assert_int_equal(cf_room_join(reg, &fx->s[2], "d", &room, NULL), -ENOSPC);
	assert_null(cf_room_find(reg, "d"));
	assert_int_equal(cf_room_get(reg, "d", &room), -ENOSPC);
	assert_int_equal(reg->nrooms, 3);
	assert_int_equal(fx->s[2].rooms.count, 0);
	/* Existing rooms can still be joined at the limit. */
	assert_int_equal(cf_room_join(reg, &fx->s[2], "a", &room, NULL), 0);
	assert_int_equal(cf_room_get(reg, "b", &room), 0);
	assert_string_equal(room->name, "b");
	/* Leaving frees a slot of the session. */
	assert_int_equal(cf_room_leave(reg, &fx->s[0], cf_room_find(reg, "a")), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[0], "c", &room, NULL), 0);
	assert_int_equal(fx->s[0].rooms.count, 2);
}

/* Cluster mode: users on other nodes are listed too, and a user present both here and there
 * is announced once, when first seen, and once when gone everywhere. The cluster bus keeps
 * which nodes have whom (bus_redis_presence.c) on the room, and the room frees it. */
static void
test_remote_presence(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *bob = &fx->s[2], *a1 = &fx->s[0];
	struct cf_registry_host rh = reg->host;
	struct cf_room *room;

	rh.state_free = cf_bus_redis_state_free;
	cf_registry_set_host(reg, &rh);
	assert_int_equal(cf_room_join(reg, bob, "lobby", &room, NULL), 0);
	/* A node that never had a user leaving: nothing to tell. */
	assert_int_equal(cf_room_presence_remote(reg, room, "u7", "Gone", 0), 0);
	assert_int_equal(room->nusers, 1);
	assert_int_equal(bob->out.count, 0);
	/* Alice on node n2: Bob hears of her. The same event again changes nothing. */
	cf_bus_redis_remote(reg, room, "n2", "u1", "Alice", 1);
	cf_bus_redis_remote(reg, room, "n2", "u1", "Alice", 1);
	assert_int_equal(room->nusers, 2);
	assert_int_equal(presence_of(room, "u1")->remote, 1);
	assert_int_equal(bob->out.count, 1);
	/* And on n3, and here: still one user, no more events. */
	cf_bus_redis_remote(reg, room, "n3", "u1", "Alice", 1);
	assert_int_equal(cf_room_join(reg, a1, "lobby", &room, NULL), 0);
	assert_int_equal(bob->out.count, 1);
	assert_int_equal(presence_of(room, "u1")->remote, 2);
	assert_int_equal(presence_of(room, "u1")->sessions, 1);
	/* Gone from n2 and from here: n3 still has her. */
	cf_bus_redis_remote(reg, room, "n2", "u1", "Alice", 0);
	assert_int_equal(cf_room_leave(reg, a1, room), 0);
	assert_int_equal(bob->out.count, 1);
	assert_non_null(presence_of(room, "u1"));
	/* A full read without n3's entry (the node died): she leaves, once. */
	cf_bus_redis_remote_mark(room);
	cf_bus_redis_remote(reg, room, "n4", "u9", "Zed", 1);
	cf_bus_redis_remote_sweep(reg, room);
	assert_null(presence_of(room, "u1"));
	assert_non_null(presence_of(room, "u9"));
	assert_int_equal(room->nusers, 2);
	assert_non_null(room->bus_state);
	assert_int_equal(HASH_COUNT(((struct room_state *)room->bus_state)->remote), 1);
	assert_int_equal(bob->out.count, 3); /* Zed's join, Alice's leave */
	expect_payload(cf_ring_peek(&bob->out, 2),
	               "{\"ev\":\"leave\",\"room\":\"lobby\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"}}");
}

/* What the bus walks without knowing the registry's tables: every room, every user with a
 * session here, every user present in a room, each once. */
static void
test_iteration(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room, *lobby;
	unsigned rooms = 0, users = 0, present = 0;

	assert_int_equal(cf_room_join(reg, &fx->s[0], "lobby", &lobby, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[1], "lobby", &lobby, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "lobby", &lobby, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[3], "attic", &room, NULL), 0);
	for (room = cf_room_first(reg); room; room = cf_room_next(room)) {
		unsigned bit = room == lobby ? 1 : room == cf_room_find(reg, "attic") ? 2 : 4;

		assert_false(rooms & bit);
		rooms |= bit;
	}
	assert_int_equal(rooms, 3);
	for (struct cf_user *u = cf_registry_user_first(reg); u; u = cf_registry_user_next(u)) {
		int i = u->id[1] - '1';

		assert_true(i >= 0 && i < 3);
		assert_false(users & (1u << i));
		users |= 1u << i;
	}
	assert_int_equal(users, 7); /* u1, u2, u3 */
	for (const struct cf_presence *p = cf_room_presence_first(lobby); p;
	     p = cf_room_presence_next(p)) {
		int i = p->id[1] - '1';

		assert_true(i >= 0 && i < 2);
		assert_false(present & (1u << i));
		present |= 1u << i;
	}
	assert_int_equal(present, 3); /* Alice (two sessions) and Bob, not Carol */
}

/* Whether rooms are mirrors is the bus's word, through the registry host: the local bus orders
 * here (rooms LIVE, with an epoch); a mirroring bus's rooms wait for it, STALE, without one,
 * until their first member, and go STALE again with their last. */
static void
test_mirror_host(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_registry_host rh = reg->host;
	struct cf_room *room;

	assert_int_equal(reg->host.mirror, 0);
	assert_int_equal(cf_room_get(reg, "here", &room), 0);
	assert_int_equal(room->sync, CF_ROOM_LIVE);
	assert_true(room->epoch != 0);

	rh.mirror = 1;
	cf_registry_set_host(reg, &rh);
	assert_int_equal(cf_room_get(reg, "there", &room), 0);
	assert_int_equal(room->sync, CF_ROOM_STALE);
	assert_int_equal(room->epoch, 0);
	/* The local bus's watch says current: LIVE at once. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "there", &room, NULL), 0);
	assert_int_equal(room->sync, CF_ROOM_LIVE);
	room->spoken = 1; /* kept when empty, to be looked at */
	assert_int_equal(cf_room_leave(reg, &fx->s[0], room), 0);
	assert_ptr_equal(cf_room_find(reg, "there"), room);
	assert_int_equal(room->sync, CF_ROOM_STALE);
}

static void
test_presence(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *a1 = &fx->s[0], *a2 = &fx->s[1], *bob = &fx->s[2];
	struct cf_room *room;

	/* Bob first: nobody to tell. */
	assert_int_equal(cf_room_join(reg, bob, "lobby", &room, NULL), 0);
	assert_int_equal(bob->out.count, 0);
	assert_int_equal(room->nusers, 1);

	/* Alice's first session: Bob hears of it, Alice does not. */
	assert_int_equal(cf_room_join(reg, a1, "lobby", &room, NULL), 0);
	assert_int_equal(room->nusers, 2);
	assert_int_equal(presence_of(room, "u1")->sessions, 1);
	assert_string_equal(cf_presence_name(presence_of(room, "u1")), "Alice");
	assert_int_equal(bob->out.count, 1);
	expect_payload(cf_ring_peek(&bob->out, 0),
	               "{\"ev\":\"join\",\"room\":\"lobby\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"}}");
	assert_int_equal(a1->out.count, 0);

	/* Alice's second session: the same user, no event, counted once. */
	assert_int_equal(cf_room_join(reg, a2, "lobby", &room, NULL), 0);
	assert_int_equal(room->members.count, 3);
	assert_int_equal(room->nusers, 2);
	assert_int_equal(presence_of(room, "u1")->sessions, 2);
	assert_int_equal(bob->out.count, 1);
	assert_int_equal(a1->out.count, 0);
	assert_int_equal(a2->out.count, 0);

	/* One of Alice's sessions leaves: she is still there, no event. */
	assert_int_equal(cf_room_leave(reg, a1, room), 0);
	assert_int_equal(room->nusers, 2);
	assert_int_equal(presence_of(room, "u1")->sessions, 1);
	assert_int_equal(bob->out.count, 1);
	assert_int_equal(a2->out.count, 0);

	/* Her last session leaves: Bob hears "leave", the leaver nothing. */
	assert_int_equal(cf_room_leave(reg, a2, room), 0);
	assert_int_equal(room->nusers, 1);
	assert_null(presence_of(room, "u1"));
	assert_int_equal(bob->out.count, 2);
	expect_payload(cf_ring_peek(&bob->out, 1),
	               "{\"ev\":\"leave\",\"room\":\"lobby\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"}}");
	assert_int_equal(a1->out.count, 0);
	assert_int_equal(a2->out.count, 0);
	/* A presence event is not a message: no delivery latency is measured for it. */
	assert_int_equal(cf_ring_peek(&bob->out, 1)->ordered_ns, 0);

	/* Alice rejoins: one join frame rendered once, shared by Bob and Carol. */
	assert_int_equal(cf_room_join(reg, &fx->s[3], "lobby", &room, NULL), 0);
	assert_int_equal(bob->out.count, 3); /* Carol's join */
	assert_int_equal(cf_room_join(reg, a1, "lobby", &room, NULL), 0);
	assert_int_equal(bob->out.count, 4);
	assert_int_equal(fx->s[3].out.count, 1);
	assert_ptr_equal(cf_ring_peek(&bob->out, 3), cf_ring_peek(&fx->s[3].out, 0));
	assert_int_equal(cf_ring_peek(&bob->out, 3)->refs, 2);
	expect_payload(cf_ring_peek(&fx->s[3].out, 0),
	               "{\"ev\":\"join\",\"room\":\"lobby\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"}}");
	assert_int_equal(a1->out.count, 0);
}

/* ------------------------------------------------------------------------------------------ */

struct done_rec {
	unsigned n;
	struct {
		int64_t tag;
		uint64_t seq;
		int err;
		struct cf_msg *m;
		uint32_t queued; /* s[0]'s queue length when the ack ran */
	} c[16];
	struct cf_sess *watch;
};

static void
on_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct done_rec *rec = ud;

	assert_true(rec->n < 16);
	rec->c[rec->n].tag = tag;
	rec->c[rec->n].seq = m->seq;
	rec->c[rec->n].err = err;
	rec->c[rec->n].m = m;
	rec->c[rec->n].queued = rec->watch ? rec->watch->out.count : 0;
	rec->n++;
}

static void
publish(struct fx *fx, const char *room, const char *uid, const char *text, const char *nonce,
        void *ud, int64_t tag)
{
	struct cf_msg *m = cf_msg_new(room, uid, "Someone", text, nonce);

	assert_non_null(m);
	assert_int_equal(m->refs, 1);
	assert_int_equal(cf_room_publish(fx->srv.env.reg, m, on_done, ud, tag), 0);
	assert_int_equal(m->refs, 2); /* the bus holds one */
	cf_msg_unref(m);
}

static void
check_msg_json(struct cf_frame *f, const char *room, uint64_t seq, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loadb((const char *)cf_frame_payload(f), f->len, 0, &jerr);
	const char *ev = NULL, *r = NULL, *t = NULL, *fid = NULL;
	json_int_t s = -1, ts = -1;

	if (!o)
		fail_msg("payload is not JSON: %s", jerr.text);
	assert_int_equal(json_unpack(o, "{s:s,s:s,s:I,s:I,s:{s:s},s:s}", "ev", &ev, "room", &r,
	                             "seq", &s, "ts", &ts, "from", "id", &fid, "text", &t),
	                 0);
	assert_string_equal(ev, "msg");
	assert_string_equal(r, room);
	assert_int_equal(s, seq);
	assert_true(ts > 1600000000000LL); /* wall clock in ms */
	assert_string_equal(t, text);
	json_decref(o);
}

static void
test_bus_publish_fanout(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {.watch = &fx->s[0]};
	struct cf_room *room;
	char text[32];

	assert_int_equal(cf_bus_healthy(fx->bus), 1);
	assert_int_equal(cf_room_join(reg, &fx->s[0], "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "r", &room, NULL), 0);
	cf_ring_clear(&fx->s[0].out); /* Bob's join */
	assert_int_equal(fx->s[0].out.count, 0);

	for (int i = 1; i <= 3; i++) {
		snprintf(text, sizeof(text), "hello %d", i);
		publish(fx, "r", "u1", text, NULL, &rec, 100 + i);
	}
	/* Asynchronous: nothing ordered or delivered before the bus runs. */
	assert_int_equal(rec.n, 0);
	assert_int_equal(room->seq, 0);
	assert_int_equal(room->hist_count, 0);
	assert_int_equal(fx->s[0].out.count, 0);
	assert_int_equal(fx->s[2].out.count, 0);
	assert_int_equal(cf_metrics.messages_in_total, 0);

	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 3);
	for (unsigned i = 0; i < 3; i++) {
		struct cf_msg *m = rec.c[i].m;
		struct cf_frame *f;

		assert_int_equal(rec.c[i].err, 0);
		assert_int_equal(rec.c[i].tag, 101 + i);
		assert_int_equal(rec.c[i].seq, i + 1);
		/* The ack comes before the message is queued to members. */
		assert_int_equal(rec.c[i].queued, i);
		/* History holds the message (history 5 > 3). */
		assert_ptr_equal(cf_room_hist_at(room, i), m);
		assert_int_equal(m->refs, 1);
		assert_int_equal(m->epoch, room->epoch);
		assert_int_not_equal(m->ordered_ns, 0);
		/* Encoded once: every member's queue holds the cached frame. */
		f = m->frames[CF_DIALECT_NATIVE];
		assert_non_null(f);
		assert_ptr_equal(cf_ring_peek(&fx->s[0].out, i), f);
		assert_ptr_equal(cf_ring_peek(&fx->s[2].out, i), f);
		assert_int_equal(f->refs, 2 + 1);
		assert_int_equal(f->ordered_ns, m->ordered_ns);
		snprintf(text, sizeof(text), "hello %u", i + 1);
		check_msg_json(f, "r", i + 1, text);
	}
	assert_true(rec.c[0].m->ordered_ns <= rec.c[1].m->ordered_ns);
	assert_true(rec.c[1].m->ordered_ns <= rec.c[2].m->ordered_ns);
	assert_int_equal(fx->s[0].out.count, 3);
	assert_int_equal(fx->s[2].out.count, 3);
	assert_int_equal(fx->s[1].out.count, 0); /* not a member */
	assert_int_equal(room->seq, 3);
	assert_int_equal(room->hist_count, 3);
	assert_int_equal(cf_metrics.messages_in_total, 3);
	/* One observation per push: Bob's join announced to Alice, then 3 x 2 messages. */
	assert_int_equal(cf_metrics.queue_depth.count, 1 + 6);

	/* Running again with nothing queued does nothing. */
	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 3);
	assert_int_equal(fx->s[0].out.count, 3);

	/* A member's queue drained: the frame loses that reference only. */
	{
		struct cf_frame *f = rec.c[0].m->frames[CF_DIALECT_NATIVE];
		cf_ring_drop(&fx->s[0].out, 1);
		assert_int_equal(f->refs, 2);
	}

	/* A message to a room nobody joined creates its state and continues its count. */
	publish(fx, "quiet", "u9", "anyone?", NULL, &rec, 7);
	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 4);
	assert_int_equal(rec.c[3].seq, 1);
	assert_non_null(cf_room_find(reg, "quiet"));
	assert_int_equal(cf_room_find(reg, "quiet")->hist_count, 1);
	assert_int_equal(cf_room_find(reg, "quiet")->members.count, 0);
}

/* A message of room as the bus orders it, delivered. */
static void
deliver(struct cf_registry *reg, struct cf_room *room, uint64_t seq, const char *uid,
        const char *text, int kind, uint64_t ref)
{
	struct cf_msg *m = cf_msg_new(room->name, uid, uid, text, NULL);

	assert_non_null(m);
	m->seq = seq;
	m->epoch = room->epoch;
	m->ts_ms = 1000 + (int64_t)seq;
	m->kind = (uint8_t)kind;
	m->ref = ref;
	cf_room_deliver(reg, m);
	cf_msg_unref(m);
}

/* Edits and deletes fold into the held message they name, the same on every node: only the
 * author's edit, any delete (who may is checked before publishing), never twice. */
static void
test_history_fold(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room;
	json_t *o;

	assert_int_equal(cf_room_join(reg, &fx->s[0], "f", &room, NULL), 0);
	deliver(reg, room, 1, "u1", "helo", CF_MSG_PLAIN, 0);
	deliver(reg, room, 2, "u2", "spam", CF_MSG_PLAIN, 0);
	deliver(reg, room, 3, "u2", "forged", CF_MSG_EDIT, 1); /* not the author's: no effect */
	assert_string_equal(cf_room_hist_find(room, 1)->text, "helo");
	deliver(reg, room, 4, "u1", "hello", CF_MSG_EDIT, 1);
	deliver(reg, room, 5, "u1", "", CF_MSG_DELETE, 2);   /* a moderator's delete */
	deliver(reg, room, 6, "u2", "back", CF_MSG_EDIT, 2); /* deleted: stays deleted */
	deliver(reg, room, 7, "u1", "", CF_MSG_DELETE, 4);   /* a fix is no message */
	deliver(reg, room, 8, "u1", "", CF_MSG_DELETE, 99);  /* not held */
	assert_int_equal(room->hist_count, 5);               /* ring of five: seqs 4 .. 8 */
	deliver(reg, room, 9, "u1", "again", CF_MSG_EDIT, 1);
	assert_null(cf_room_hist_find(room, 1));
	assert_int_equal(cf_room_hist_find(room, 5)->kind, CF_MSG_DELETE);
	assert_null(cf_room_hist_find(room, 10));
	assert_null(cf_room_hist_find(room, 0));

	/* Before the ring moved on: a room of its own. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "g", &room, NULL), 0);
	{
		struct cf_msg *a = cf_msg_new("g", "u1", "u1", "helo", NULL), *b, *fix, *c;

		assert_non_null(a);
		a->seq = 1;
		fix = cf_msg_new("g", "u1", "u1", "hello", NULL);
		fix->kind = CF_MSG_EDIT;
		fix->seq = 2;
		fix->ref = 1;
		fix->ts_ms = 77;
		b = cf_msg_fixed(a, fix);
		assert_non_null(b);
		assert_string_equal(b->text, "hello");
		assert_int_equal(b->edited_ms, 77);
		assert_int_equal(b->seq, 1);
		o = cf_msg_json(b);
		assert_int_equal(json_integer_value(json_object_get(o, "edited")), 77);
		json_decref(o);
		o = cf_msg_json(fix);
		assert_string_equal(json_string_value(json_object_get(o, "ev")), "edit");
		assert_int_equal(json_integer_value(json_object_get(o, "ref")), 1);
		json_decref(o);
		fix->kind = CF_MSG_DELETE;
		c = cf_msg_fixed(b, fix);
		assert_non_null(c);
		assert_true(c->deleted);
		assert_string_equal(c->text, "");
		assert_null(cf_msg_json(c));
		assert_null(cf_msg_fixed(c, fix)); /* once */
		fix->ref = 2;
		assert_null(cf_msg_fixed(b, fix)); /* another seq */
		o = cf_msg_json(fix);
		assert_string_equal(json_string_value(json_object_get(o, "ev")), "delete");
		assert_null(json_object_get(o, "text"));
		json_decref(o);
		cf_msg_unref(a);
		cf_msg_unref(b);
		cf_msg_unref(c);
		cf_msg_unref(fix);
	}
	deliver(reg, room, 1, "u1", "a", CF_MSG_PLAIN, 0);
	deliver(reg, room, 2, "u1", "b", CF_MSG_PLAIN, 0);
	deliver(reg, room, 3, "u1", "", CF_MSG_DELETE, 2);
	assert_true(cf_room_hist_find(room, 2)->deleted);
	/* A page counts what it shows: [1, 3) shows one message, so two go back to 0. */
	assert_int_equal(cf_room_hist_back(room, 3, 1, 0), 2);
	assert_int_equal(cf_room_hist_back(room, 3, 2, 0), 0);
	assert_int_equal(cf_room_hist_back(room, 3, 1, 1), 0);
	assert_int_equal(cf_room_hist_back(room, 2, 5, 0), 0);
}

static void
test_history_ring(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {0};
	struct cf_room *room;
	char text[32], nonce[8];

	assert_int_equal(cf_room_join(reg, &fx->s[0], "h", &room, NULL), 0);
	assert_int_equal(cf_room_hist_after(room, 0), 0);
	assert_null(cf_room_hist_at(room, 0));
	assert_null(cf_room_find_nonce(room, "u1", "n1"));
	for (int i = 1; i <= 7; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		snprintf(nonce, sizeof(nonce), "n%d", i);
		publish(fx, "h", i == 6 ? "u2" : "u1", text, i == 4 ? NULL : nonce, &rec, i);
	}
	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 7);
	assert_int_equal(room->seq, 7);
	/* Only the last five are kept, oldest first. */
	assert_int_equal(room->hist_cap, 5);
	assert_int_equal(room->hist_count, 5);
	for (uint32_t i = 0; i < 5; i++) {
		struct cf_msg *m = cf_room_hist_at(room, i);
		assert_non_null(m);
		assert_int_equal(m->seq, i + 3);
		snprintf(text, sizeof(text), "m%u", i + 3);
		assert_string_equal(m->text, text);
		assert_int_equal(m->refs, 1);
	}
	assert_null(cf_room_hist_at(room, 5));
	/* The session got all seven. */
	assert_int_equal(fx->s[0].out.count, 7);
	check_msg_json(cf_ring_peek(&fx->s[0].out, 0), "h", 1, "m1");

	/* hist_after: index of the first message with seq > since. */
	assert_int_equal(cf_room_hist_after(room, 0), 0);
	assert_int_equal(cf_room_hist_after(room, 2), 0);
	assert_int_equal(cf_room_hist_after(room, 3), 1);
	assert_int_equal(cf_room_hist_after(room, 4), 2);
	assert_int_equal(cf_room_hist_after(room, 6), 4);
	assert_int_equal(cf_room_hist_after(room, 7), 5);
	assert_int_equal(cf_room_hist_after(room, 1000), 5);

	/* Nonces: per user, only among the held messages. */
	assert_non_null(cf_room_find_nonce(room, "u1", "n7"));
	assert_int_equal(cf_room_find_nonce(room, "u1", "n7")->seq, 7);
	assert_int_equal(cf_room_find_nonce(room, "u1", "n3")->seq, 3);
	assert_null(cf_room_find_nonce(room, "u1", "n2")); /* evicted */
	assert_null(cf_room_find_nonce(room, "u1", "n1"));
	assert_null(cf_room_find_nonce(room, "u1", "n4")); /* sent without a nonce */
	assert_null(cf_room_find_nonce(room, "u1", "n6")); /* u2's */
	assert_int_equal(cf_room_find_nonce(room, "u2", "n6")->seq, 6);
	assert_null(cf_room_find_nonce(room, "u2", "n7"));

	/* Eight more: the ring wraps again and stays in order. */
	for (int i = 8; i <= 15; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		publish(fx, "h", "u1", text, NULL, &rec, i);
	}
	rec.n = 0;
	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 8);
	assert_int_equal(room->hist_count, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(cf_room_hist_at(room, i)->seq, 11 + i);
	assert_int_equal(cf_room_hist_after(room, 12), 2);
	assert_int_equal(cf_room_hist_after(room, 10), 0);
	assert_null(cf_room_find_nonce(room, "u1", "n7"));
}

/* A message ordered in another life of the room (another epoch) replaces the history. */
static void
test_deliver_new_epoch(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {0};
	struct cf_room *room;
	struct cf_msg *m;

	assert_int_equal(cf_room_join(reg, &fx->s[0], "e", &room, NULL), 0);
	publish(fx, "e", "u1", "one", NULL, &rec, 1);
	publish(fx, "e", "u1", "two", NULL, &rec, 2);
	cf_bus_local_run(fx->bus);
	assert_int_equal(room->hist_count, 2);
	m = cf_msg_new("e", "u2", "Bob", "reborn", NULL);
	assert_non_null(m);
	m->seq = 1;
	m->epoch = room->epoch ^ 1;
	cf_room_deliver(reg, m);
	assert_int_equal(room->epoch, m->epoch);
	assert_int_equal(room->seq, 1);
	assert_int_equal(room->hist_count, 1);
	assert_ptr_equal(cf_room_hist_at(room, 0), m);
	assert_int_equal(m->refs, 2);
	assert_int_equal(fx->s[0].out.count, 3);
	cf_msg_unref(m);
}

static void
test_bus_cancel(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec gone = {0}, stays = {0};
	struct cf_room *room;

	assert_int_equal(cf_room_join(reg, &fx->s[2], "c", &room, NULL), 0);
	publish(fx, "c", "u1", "from a session that goes away", NULL, &gone, 1);
	publish(fx, "c", "u3", "from one that stays", NULL, &stays, 2);
	publish(fx, "c", "u1", "again from the one going away", NULL, &gone, 3);
	cf_bus_cancel(fx->bus, &gone);
	cf_bus_local_run(fx->bus);
	/* No ack for the cancelled owner ... */
	assert_int_equal(gone.n, 0);
	assert_int_equal(stays.n, 1);
	assert_int_equal(stays.c[0].tag, 2);
	assert_int_equal(stays.c[0].seq, 2);
	/* ... but its messages are ordered and delivered. */
	assert_int_equal(room->seq, 3);
	assert_int_equal(room->hist_count, 3);
	assert_int_equal(fx->s[2].out.count, 3);
	check_msg_json(cf_ring_peek(&fx->s[2].out, 0), "c", 1, "from a session that goes away");
	check_msg_json(cf_ring_peek(&fx->s[2].out, 2), "c", 3, "again from the one going away");
	/* Cancelling an owner with nothing pending is harmless. */
	cf_bus_cancel(fx->bus, &stays);
	cf_bus_local_run(fx->bus);
	assert_int_equal(stays.n, 1);
}

/* The bus cannot order into a room it cannot create: the ack says why, nothing is delivered. */
static void
test_bus_error(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {0};
	struct cf_room *room;

	fx->cfg.max_rooms = 1;
	assert_int_equal(cf_room_join(reg, &fx->s[0], "only", &room, NULL), 0);
	publish(fx, "elsewhere", "u1", "x", NULL, &rec, 5);
	cf_bus_local_run(fx->bus);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.c[0].err, -ENOSPC);
	assert_int_equal(rec.c[0].tag, 5);
	assert_int_equal(rec.c[0].seq, 0);
	assert_null(cf_room_find(reg, "elsewhere"));
	assert_int_equal(cf_metrics.messages_in_total, 0);
	assert_int_equal(fx->s[0].out.count, 0);
}

static void
test_slow_consumer(void **state)
{
	struct fx *fx = *state;
	struct cf_sess *s = &fx->s[0];
	struct cf_frame *f = cf_frame_new("{\"ev\":\"x\"}", 10);

	assert_non_null(f);
	fx->cfg.queue_frames = 8;
	for (int i = 0; i < 8; i++)
		cf_sess_push(s, f);
	assert_int_equal(s->out.count, 8);
	assert_false(s->slow);
	assert_int_equal(f->refs, 9);
	assert_int_equal(cf_metrics.queue_depth.count, 8);
	assert_int_equal(cf_metrics.slow_consumer_closes_total, 0);
	/* The ninth overflows: the queue is dropped and the session marked slow. */
	cf_sess_push(s, f);
	assert_true(s->slow);
	assert_int_equal(s->out.count, 0);
	assert_int_equal(s->out.bytes, 0);
	assert_null(s->out.v);
	assert_int_equal(f->refs, 1);
	assert_int_equal(cf_metrics.slow_consumer_closes_total, 1);
	assert_int_equal(cf_metrics.drops_total, 8);
	/* Nothing more is queued to it, nothing counted twice. */
	cf_sess_push(s, f);
	assert_int_equal(s->out.count, 0);
	assert_int_equal(f->refs, 1);
	assert_int_equal(cf_metrics.slow_consumer_closes_total, 1);
	assert_int_equal(cf_metrics.drops_total, 8);
	/* A bye to a slow session is not queued either. */
	cf_sess_close(s, 1001, "bye");
	assert_int_equal(s->out.count, 0);
	assert_false(s->closing);

	/* The byte limit too: 4096 bytes, frames of 1000. */
	{
		struct cf_sess *t = &fx->s[2];
		char big[1000];
		struct cf_frame *g;

		memset(big, 'x', sizeof(big));
		g = cf_frame_new(big, sizeof(big));
		assert_non_null(g);
		fx->cfg.queue_frames = 1024;
		fx->cfg.queue_bytes = 4096;
		for (int i = 0; i < 4; i++)
			cf_sess_push(t, g);
		assert_false(t->slow);
		assert_int_equal(t->out.bytes, 4000);
		cf_sess_push(t, g);
		assert_true(t->slow);
		assert_int_equal(t->out.count, 0);
		assert_int_equal(g->refs, 1);
		assert_int_equal(cf_metrics.slow_consumer_closes_total, 2);
		assert_int_equal(cf_metrics.drops_total, 12);
		cf_frame_unref(g);
	}
	cf_frame_unref(f);
}

/* Fan-out to a room with one slow member: the others still get everything. */
static void
test_slow_member_in_room(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {0};
	struct cf_room *room;
	char text[16];

	fx->cfg.queue_frames = 8;
	assert_int_equal(cf_room_join(reg, &fx->s[0], "busy", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "busy", &room, NULL), 0);
	cf_ring_clear(&fx->s[0].out);
	for (int i = 1; i <= 12; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		publish(fx, "busy", "u2", text, NULL, &rec, i);
		cf_bus_local_run(fx->bus);
		/* Bob reads everything as it comes; Alice reads nothing. */
		assert_int_equal(fx->s[2].out.count, 1);
		cf_ring_drop(&fx->s[2].out, 1);
		assert_int_equal(fx->s[0].out.count, i <= 8 ? i : 0);
		assert_int_equal(fx->s[0].slow, i > 8);
	}
	assert_int_equal(rec.n, 12);
	assert_true(fx->s[0].slow);
	assert_false(fx->s[2].slow);
	assert_int_equal(fx->s[0].out.count, 0);
	assert_int_equal(cf_metrics.slow_consumer_closes_total, 1);
	assert_int_equal(cf_metrics.drops_total, 8);
	assert_int_equal(room->seq, 12);
}

static void
test_expire(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room, *kept;
	struct done_rec rec = {0};
	uint64_t t0, t1;

	fx->cfg.history_ttl = 3600;
	assert_int_equal(cf_room_join(reg, &fx->s[0], "a", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "b", &kept, NULL), 0);
	publish(fx, "a", "u1", "keep me", NULL, &rec, 0);
	cf_bus_local_run(fx->bus);
	t0 = cf_now_s();
	assert_int_equal(cf_room_leave(reg, &fx->s[0], room), 0);
	t1 = cf_now_s();
	assert_ptr_equal(cf_room_find(reg, "a"), room);
	assert_int_equal(reg->empty.count, 1);
	/* Not before history_ttl has passed. */
	assert_int_equal(cf_registry_expire(reg, t0), 0);
	assert_int_equal(cf_registry_expire(reg, t0 + 3599), 0);
	assert_ptr_equal(cf_room_find(reg, "a"), room);
	assert_int_equal(reg->nrooms, 2);
	/* Then forgotten; a room with members never is. */
	assert_int_equal(cf_registry_expire(reg, t1 + 3600), 1);
	assert_null(cf_room_find(reg, "a"));
	assert_int_equal(reg->nrooms, 1);
	assert_int_equal(cf_metrics.rooms, 1);
	assert_int_equal(reg->empty.count, 0);
	assert_int_equal(cf_registry_expire(reg, t1 + 1000000000ULL), 0);
	assert_ptr_equal(cf_room_find(reg, "b"), kept);
	/* A room re-created later has a new life: seq from 0. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "a", &room, NULL), 0);
	assert_int_equal(room->seq, 0);

	/* Rooms created without a member (a message to them) expire the same way. */
	assert_int_equal(cf_room_get(reg, "nobody", &room), 0);
	t1 = cf_now_s();
	assert_int_equal(reg->empty.count, 1);
	assert_int_equal(cf_registry_expire(reg, t0 + 3599), 0);
	assert_int_equal(cf_registry_expire(reg, t1 + 3600), 1);
	assert_null(cf_room_find(reg, "nobody"));
}

static void
test_expire_ttl_zero(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct done_rec rec = {0};
	struct cf_room *room;

	fx->cfg.history_ttl = 0;
	assert_int_equal(cf_room_join(reg, &fx->s[0], "z", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "z", &room, NULL), 0);
	publish(fx, "z", "u1", "soon forgotten", "n", &rec, 1);
	cf_bus_local_run(fx->bus);
	assert_int_equal(room->hist_count, 1);
	assert_int_equal(cf_room_leave(reg, &fx->s[0], room), 0);
	assert_ptr_equal(cf_room_find(reg, "z"), room); /* Bob is still there */
	/* The last member leaves: the room and its history go at once. */
	assert_int_equal(cf_room_leave(reg, &fx->s[2], room), 0);
	assert_null(cf_room_find(reg, "z"));
	assert_int_equal(reg->nrooms, 0);
	assert_int_equal(cf_metrics.rooms, 0);
	/* The message frames queued to the sessions outlive the room. */
	assert_int_equal(fx->s[0].out.count, 2); /* Bob's join, the message */
	check_msg_json(cf_ring_peek(&fx->s[0].out, 1), "z", 1, "soon forgotten");

	/* An empty room made by a message is forgotten on the next expiry with ttl 0. */
	assert_int_equal(cf_room_get(reg, "y", &room), 0);
	assert_ptr_equal(cf_room_find(reg, "y"), room);
	assert_int_equal(cf_registry_expire(reg, cf_now_s()), 1);
	assert_null(cf_room_find(reg, "y"));
	/* Rejoining makes a new room. */
	assert_int_equal(cf_room_join(reg, &fx->s[0], "z", &room, NULL), 0);
	assert_int_equal(room->seq, 0);
	assert_int_equal(room->hist_count, 0);
}

static void
test_leave_all(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *alice = &fx->s[0], *bob = &fx->s[2];
	struct cf_room *a, *b, *c;

	/* Nothing to leave: harmless. */
	cf_room_leave_all(reg, alice);
	assert_int_equal(alice->rooms.count, 0);

	assert_int_equal(cf_room_join(reg, bob, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "b", &b, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "c", &c, NULL), 0);
	assert_int_equal(alice->rooms.count, 3);
	assert_int_equal(bob->out.count, 1); /* Alice's join of a */
	cf_room_leave_all(reg, alice);
	assert_int_equal(alice->rooms.count, 0);
	assert_null(cf_room_member_of(alice, a));
	assert_int_equal(a->members.count, 1);
	assert_int_equal(a->nusers, 1);
	assert_null(presence_of(a, "u1"));
	/* b and c, never spoken in, went at once. */
	assert_null(cf_room_find(reg, "b"));
	assert_null(cf_room_find(reg, "c"));
	assert_int_equal(reg->empty.count, 0);
	assert_int_equal(reg->nrooms, 1);
	/* Bob heard that Alice left a. */
	assert_int_equal(bob->out.count, 2);
	expect_payload(cf_ring_peek(&bob->out, 1),
	               "{\"ev\":\"leave\",\"room\":\"a\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"}}");
	assert_int_equal(alice->out.count, 0);
	/* Alice may join them all again. */
	assert_int_equal(cf_room_join(reg, alice, "b", &b, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "a", &a, NULL), 0);
	assert_int_equal(bob->out.count, 3);
}

/* A user borrows its id from one of its sessions: when that session goes (or takes another
 * identity, which frees the string), the user keys on another session's copy and is found as
 * before (ASan and valgrind see a use of the freed id). */
static void
test_user_id_borrowed(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *a1 = &fx->s[0], *a2 = &fx->s[1];
	struct cf_user *u;
	struct cf_msg *m;

	HASH_FIND_STR(reg->users, "u1", u);
	assert_non_null(u);
	assert_ptr_equal(u->id, a1->user_id);
	assert_int_equal(cf_registry_user_sessions(reg, "u1"), 2);

	/* a1 becomes someone else: its old id is freed, u1 keys on a2's. */
	assert_int_equal(cf_sess_set_user(a1, "u9", "Zed"), 0);
	HASH_FIND_STR(reg->users, "u1", u);
	assert_non_null(u);
	assert_ptr_equal(u->id, a2->user_id);
	assert_ptr_equal(u->hh.key, a2->user_id);
	assert_int_equal(cf_registry_user_sessions(reg, "u1"), 1);
	assert_int_equal(cf_registry_user_sessions(reg, "u9"), 1);
	m = cf_msg_new("u1", "u2", "Bob", "hi", NULL);
	assert_non_null(m);
	assert_int_equal(cf_registry_deliver_dm(reg, m), 1);
	cf_msg_unref(m);
	assert_int_equal(a2->out.count, 1);
	assert_int_equal(a1->out.count, 0);

	/* The user's last session goes: so does the user. */
	cf_registry_user_remove(reg, a2);
	assert_int_equal(cf_registry_user_sessions(reg, "u1"), 0);
	HASH_FIND_STR(reg->users, "u1", u);
	assert_null(u);
	/* And comes back with it. */
	assert_int_equal(cf_registry_user_add(reg, a2), 0);
	HASH_FIND_STR(reg->users, "u1", u);
	assert_non_null(u);
	assert_ptr_equal(u->id, a2->user_id);
}

/* A room's presence entry borrows its id and name from a member session of the user: from
 * another when that one leaves, its own copy once another node has the user (whose entry
 * outlives the local members). ASan and valgrind see a use of a string freed under it. */
static void
test_presence_borrowed(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *a1 = &fx->s[0], *a2 = &fx->s[1], *bob = &fx->s[2];
	struct cf_room *room;
	struct cf_presence *p;

	assert_int_equal(cf_room_join(reg, a1, "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, a2, "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, bob, "r", &room, NULL), 0);
	p = presence_of(room, "u1");
	assert_non_null(p);
	assert_false(p->own);
	assert_ptr_equal(p->id, a1->user_id);
	assert_int_equal(p->sessions, 2);

	/* a1 leaves and takes another name: u1 is a2's now, and found as before. */
	assert_int_equal(cf_room_leave(reg, a1, room), 0);
	assert_int_equal(cf_sess_set_user(a1, "u9", "Zed"), 0);
	p = presence_of(room, "u1");
	assert_non_null(p);
	assert_ptr_equal(p->id, a2->user_id);
	assert_ptr_equal(p->hh.key, a2->user_id);
	assert_string_equal(cf_presence_name(p), "Alice");
	assert_int_equal(room->nusers, 2);

	/* Another node has u1 too: the entry copies the strings, and outlives a2's. */
	assert_int_equal(cf_room_presence_remote(reg, room, "u1", "Alice", 1), 0);
	p = presence_of(room, "u1");
	assert_true(p->own);
	assert_ptr_not_equal(p->id, a2->user_id);
	assert_int_equal(cf_room_leave(reg, a2, room), 0);
	assert_int_equal(cf_sess_set_user(a2, "u8", "Yan"), 0);
	p = presence_of(room, "u1");
	assert_non_null(p);
	assert_string_equal(p->id, "u1");
	assert_string_equal(cf_presence_name(p), "Alice");
	assert_int_equal(p->sessions, 0);
	assert_int_equal(p->remote, 1);
	/* Another node's user alone has its own copy from the start. */
	assert_int_equal(cf_room_presence_remote(reg, room, "u7", "Xi", 1), 0);
	assert_true(presence_of(room, "u7")->own);
	assert_string_equal(cf_presence_name(presence_of(room, "u7")), "Xi");
	assert_int_equal(cf_room_presence_remote(reg, room, "u7", "Xi", 0), 0);
	assert_null(presence_of(room, "u7"));
	assert_int_equal(cf_room_presence_remote(reg, room, "u1", "Alice", 0), 0);
	assert_null(presence_of(room, "u1"));
	assert_int_equal(room->nusers, 1);

	/* A member's identity changes only outside rooms: its rooms' entries borrow it. */
	assert_int_equal(cf_sess_set_user(bob, "u6", "Bobby"), -EBUSY);
	assert_string_equal(bob->user_id, "u2");
	assert_ptr_equal(presence_of(room, "u2")->id, bob->user_id);
}

static int
watch_syncing(void *bus, struct cf_room *room)
{
	(void)bus;
	(void)room;
	return 1; /* the bus syncs the room first: joins wait */
}

/* Only a join that waits for its room to sync carries the request's parameters, and the
 * dialect's reply gets them back when the room is ready. */
static void
test_join_waits(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_registry_host rh = reg->host;
	struct cf_sess *alice = &fx->s[0], *bob = &fx->s[2];
	struct cf_room *room;
	struct cf_member *mb;
	char buf[512];

	assert_int_equal(cf_room_join(reg, bob, "live", &room, &mb), 0);
	assert_null(cf_member_wait(mb));
	assert_int_equal(mb->pending, 0);

	rh.mirror = 1;
	rh.watch = watch_syncing;
	cf_registry_set_host(reg, &rh);
	assert_int_equal(cf_room_join(reg, alice, "synced", &room, &mb), -EINPROGRESS);
	assert_int_equal(room->sync, CF_ROOM_SYNCING);
	assert_int_equal(mb->pending, 1);
	assert_non_null(cf_member_wait(mb));
	cf_member_wait(mb)->req_id = 42;
	cf_member_wait(mb)->req_since = -1;
	cf_member_wait(mb)->req_epoch = -1;
	assert_int_equal(alice->out.count, 0);

	cf_room_ready(reg, room, 0);
	assert_int_equal(room->sync, CF_ROOM_LIVE);
	assert_int_equal(mb->pending, 0);
	assert_int_equal(alice->out.count, 1);
	payload_str(cf_ring_peek(&alice->out, 0), buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"id\":42"));
	assert_non_null(strstr(buf, "\"room\":\"synced\""));
	/* A waited membership is freed as any other. */
	assert_int_equal(cf_room_leave(reg, alice, room), 0);
	assert_null(cf_room_member_of(alice, room));
}

/* Joins have their own buckets, per session and per client address; refused joins change
 * nothing and tell nobody. */
static void
test_join_buckets(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_ipcount addr = {.n = 2, .ip = "192.0.2.7"};
	struct cf_sess *alice = &fx->s[0], *alice2 = &fx->s[1], *bob = &fx->s[2];
	struct cf_room *room, *lobby;
	char name[16];

	/* Rates of 1/s: no token comes back while the test runs. */
	fx->cfg.join_rate = 1;
	fx->cfg.join_burst = 3;
	fx->cfg.join_rate_per_ip = 1;
	fx->cfg.join_burst_per_ip = 5;
	assert_int_equal(cf_room_join(reg, bob, "lobby", &lobby, NULL), 0);
	alice->ipc = alice2->ipc = &addr;
	assert_string_equal(cf_sess_addr(alice), "192.0.2.7");
	assert_null(cf_sess_addr(bob));

	/* Join and leave: three pairs, then the session's bucket is empty. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cf_room_join(reg, alice, "lobby", &room, NULL), 0);
		assert_int_equal(cf_room_leave(reg, alice, room), 0);
	}
	assert_int_equal(bob->out.count, 6); /* three joins, three leaves */
	assert_int_equal(cf_room_join(reg, alice, "lobby", &room, NULL), -EBUSY);
	assert_int_equal(cf_room_join(reg, alice, "new", &room, NULL), -EBUSY);
	assert_null(cf_room_find(reg, "new"));
	assert_int_equal(lobby->members.count, 1);
	assert_int_equal(bob->out.count, 6); /* a refused join costs the others nothing */
	assert_int_equal(cf_metrics.join_limited_total, 2);
	/* Already joined and too many rooms are answered before a token is taken. */
	assert_int_equal(cf_room_join(reg, bob, "lobby", &room, NULL), -EALREADY);

	/* The address's bucket (5) is shared by its sessions: alice2 gets the two left. */
	assert_int_equal(cf_room_join(reg, alice2, "a", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice2, "b", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice2, "c", &room, NULL), -EBUSY);
	assert_int_equal(alice2->rooms.count, 2);
	/* A session without an address has only its own bucket. */
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "bob%d", i);
		assert_int_equal(cf_room_join(reg, bob, name, &room, NULL), 0);
	}
	assert_int_equal(cf_room_join(reg, bob, "bob9", &room, NULL), -EBUSY);
	alice->ipc = alice2->ipc = NULL;
}

/* Rooms one address created by joining are bounded while they are held; joining rooms that
 * exist is not. The count follows the rooms as they are freed. */
static void
test_rooms_per_ip(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_ipcount addr = {.n = 1, .ip = "2001:db8::1"};
	struct cf_sess *alice = &fx->s[0], *bob = &fx->s[2];
	struct cf_room *room, *a, *b;
	struct done_rec rec = {0};

	fx->cfg.max_rooms_per_ip = 2;
	fx->cfg.history_ttl = 3600;
	fx->cfg.join_rate_per_ip = 1; /* refills a token a second: not while the test runs */
	fx->cfg.join_burst_per_ip = 8;
	alice->ipc = &addr;
	assert_int_equal(cf_room_join(reg, bob, "bobs", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice, "b", &b, NULL), 0);
	assert_non_null(a->creator);
	assert_ptr_equal(a->creator, b->creator);
	assert_int_equal(a->creator->rooms, 2);
	assert_int_equal(reg->naddrs, 1);
	assert_int_equal(cf_room_join(reg, alice, "c", &room, NULL), -EDQUOT);
	assert_null(cf_room_find(reg, "c"));
	assert_int_equal(cf_metrics.room_quota_total, 1);
	/* An existing room may still be joined. */
	assert_int_equal(cf_room_join(reg, alice, "bobs", &room, NULL), 0);
	/* a is spoken in: kept after its last member, and still counted. */
	publish(fx, "a", "u1", "hello", NULL, &rec, 0);
	assert_int_equal(cf_room_leave(reg, alice, a), 0); /* before the bus ordered it */
	cf_bus_local_run(fx->bus);
	assert_ptr_equal(cf_room_find(reg, "a"), a);
	assert_int_equal(a->seq, 1);
	assert_int_equal(cf_room_join(reg, alice, "c", &room, NULL), -EDQUOT);
	/* b was not: freed at once, which gives the address a room back. */
	assert_int_equal(cf_room_leave(reg, alice, b), 0);
	assert_null(cf_room_find(reg, "b"));
	assert_int_equal(a->creator->rooms, 1);
	assert_int_equal(cf_room_join(reg, alice, "c", &room, NULL), 0);
	assert_int_equal(room->creator->rooms, 2);
	/* Bob, joining a room Alice created, does not change whose it is. */
	assert_int_equal(cf_room_join(reg, bob, "c", &room, NULL), 0);
	assert_int_equal(room->creator->rooms, 2);
	/* The entry lives while it holds rooms, then is swept once its bucket is full. */
	cf_room_leave_all(reg, alice);
	cf_room_leave_all(reg, bob);
	assert_int_equal(cf_registry_expire(reg, cf_now_s()), 0);
	assert_int_equal(reg->naddrs, 1); /* "a" is held for history_ttl */
	assert_int_equal(cf_registry_expire(reg, cf_now_s() + 3600), 1);
	assert_int_equal(reg->naddrs, 1); /* swept on the next tick after its bucket refilled */
	fx->cfg.join_rate_per_ip = 1000000;
	assert_int_equal(cf_registry_expire(reg, cf_now_s() + 3600), 0);
	assert_int_equal(reg->naddrs, 0);
	alice->ipc = NULL;
}

/* Seed 002's POST /chat: create_rate_per_ip per minute per address, as a burst. */
static void
test_create_bucket(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;

	fx->cfg.create_rate_per_ip = 3;
	for (int i = 0; i < 3; i++)
		assert_int_equal(cf_registry_create_take(reg, "192.0.2.1"), 0);
	assert_int_equal(cf_registry_create_take(reg, "192.0.2.1"), -EBUSY);
	assert_int_equal(cf_metrics.create_limited_total, 1);
	/* Another address has its own. */
	assert_int_equal(cf_registry_create_take(reg, "192.0.2.2"), 0);
	assert_int_equal(reg->naddrs, 2);
	/* Not swept while a bucket refills (a token takes 20 s at 3 per minute); the untouched
	 * join bucket alone does not keep an entry. */
	assert_int_equal(cf_registry_expire(reg, cf_now_s()), 0);
	assert_int_equal(reg->naddrs, 2);
	/* A full bucket is swept: 192.0.2.2 holds 2 tokens, a full one after a reload to 2. */
	fx->cfg.create_rate_per_ip = 2;
	assert_int_equal(cf_registry_expire(reg, cf_now_s()), 0);
	assert_int_equal(reg->naddrs, 1);
	assert_int_equal(cf_registry_create_take(reg, "192.0.2.1"), -EBUSY);
}

static const char *
show_x(const char *id, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "x-%s", id);
	return buf;
}

/* The room's members as jansson writes them, for comparison: the list as iteration gives it. */
static char *
members_ref(const struct cf_room *room, cf_room_show_fn *show)
{
	json_t *a = json_array();
	char buf[CF_IDENT_MAX], *txt;

	for (const struct cf_presence *p = cf_room_presence_first(room); p;
	     p = cf_room_presence_next(p))
		json_array_append_new(a, json_pack("{s:s,s:s}", "id",
		                                   show ? show(p->id, buf, sizeof(buf)) : p->id,
		                                   "name", cf_presence_name(p)));
	txt = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	assert_non_null(txt);
	return txt;
}

/* The frame is head, the list, tail; the list is what jansson writes for the same members. */
static void
expect_members(struct cf_room *room, cf_room_show_fn *show)
{
	struct cf_frame *f = cf_room_members_frame(room, show, "<head>", 6, "<tail>", 6);
	char *want = members_ref(room, show);
	size_t n = strlen(want);

	assert_non_null(f);
	assert_int_equal(f->len, 6 + n + 6);
	assert_memory_equal(cf_frame_payload(f), "<head>", 6);
	assert_memory_equal(cf_frame_payload(f) + 6, want, n);
	assert_memory_equal(cf_frame_payload(f) + 6 + n, "<tail>", 6);
	free(want);
	cf_frame_unref(f);
}

/* Member lists written straight into a frame: the same text jansson writes, in small rooms
 * (written each time) and large ones (kept between joins, for each way of showing ids), after
 * joins, leaves and a rejoin. */
static void
test_members_frame(void **state)
{
	enum { N = 80 };
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *many = calloc(N, sizeof(*many));
	struct cf_room *room;
	struct cf_frame *f;
	char id[32], name[32];

	assert_non_null(many);
	assert_int_equal(cf_room_get(reg, "empty", &room), 0);
	f = cf_room_members_frame(room, NULL, "{", 1, "}", 1);
	expect_payload(f, "{[]}");
	cf_frame_unref(f);

	assert_int_equal(cf_room_join(reg, &fx->s[0], "lobby", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, &fx->s[2], "lobby", &room, NULL), 0);
	f = cf_room_members_frame(room, NULL, "H", 1, "T", 1);
	expect_payload(f,
	               "H[{\"id\":\"u1\",\"name\":\"Alice\"},{\"id\":\"u2\",\"name\":\"Bob\"}]T");
	cf_frame_unref(f);
	expect_members(room, show_x);
	assert_null(room->mtext); /* a small room keeps nothing */

	/* Names that JSON escapes, and a large room. */
	for (int i = 0; i < N; i++) {
		struct cf_sess *s = &many[i];

		s->env = &fx->srv.env;
		s->dialect = &cf_dialect_native;
		s->id = 100 + (uint64_t)i;
		snprintf(id, sizeof(id), "m%d", i);
		snprintf(name, sizeof(name), i % 3 ? "m\"%d\\" : "\xc3\xa9t\xc3\xa9 %d", i);
		assert_int_equal(cf_sess_set_user(s, id, name), 0);
		assert_int_equal(cf_room_join(reg, s, "lobby", &room, NULL), 0);
		if (i % 17 == 0) {
			expect_members(room, NULL);
			expect_members(room, show_x);
		}
	}
	assert_non_null(room->mtext);
	expect_members(room, NULL);
	expect_members(room, show_x);
	/* A user goes: the kept lists go with it and are made again. */
	assert_int_equal(cf_room_leave(reg, &many[5], room), 0);
	expect_members(room, show_x);
	expect_members(room, NULL);
	assert_int_equal(cf_room_join(reg, &many[5], "lobby", &room, NULL), 0);
	expect_members(room, NULL);
	expect_members(room, show_x);
	/* A second session of a listed user changes nothing. */
	assert_int_equal(cf_room_join(reg, &fx->s[1], "lobby", &room, NULL), 0);
	expect_members(room, NULL);

	for (int i = 0; i < N; i++) {
		cf_room_leave_all(reg, &many[i]);
		cf_registry_user_remove(reg, &many[i]);
		cf_ring_clear(&many[i].out);
		free(many[i].user_id);
	}
	free(many);
}

/* ------------------------------------------------------------------------------------------ */

static int
typing_of(struct fx *fx, const char *room, const char *uid, int typing)
{
	struct cf_room *r = cf_room_find(fx->srv.env.reg, room);
	struct cf_sess *s = NULL;

	for (int i = 0; i < NSESS && !s; i++)
		if (!strcmp(fx->s[i].user_id, uid) && cf_room_member_of(&fx->s[i], r))
			s = &fx->s[i];
	assert_non_null(s);
	return cf_room_typing(fx->srv.env.reg, s, r, typing);
}

/* A typing event goes through the bus (after the messages published before it), is rendered
 * once, reaches the other users' sessions only and is kept nowhere. */
static void
test_typing_fanout(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_sess *alice = &fx->s[0], *alice2 = &fx->s[1], *bob = &fx->s[2],
	               *carol = &fx->s[3];
	struct done_rec rec = {0};
	struct cf_room *room, *other;

	fx->cfg.typing_ttl = 4000;
	assert_int_equal(cf_room_join(reg, alice, "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice2, "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, bob, "r", &room, NULL), 0);
	assert_int_equal(cf_room_join(reg, carol, "elsewhere", &other, NULL), 0);
	for (int i = 0; i < NSESS; i++)
		cf_ring_clear(&fx->s[i].out);

	/* A message, then typing: queued on the bus, in that order. */
	publish(fx, "r", "u1", "first", NULL, &rec, 1);
	assert_int_equal(cf_room_typing(reg, alice, room, 1), 0);
	assert_int_equal(bob->out.count, 0);
	cf_bus_local_run(fx->bus);
	assert_int_equal(bob->out.count, 2);
	check_msg_json(cf_ring_peek(&bob->out, 0), "r", 1, "first");
	expect_payload(cf_ring_peek(&bob->out, 1),
	               "{\"ev\":\"typing\",\"room\":\"r\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"},\"typing\":true,\"ttl\":4000}");
	/* Neither of Alice's sessions hears her own typing; Carol is not in the room. */
	assert_int_equal(alice->out.count, 1);
	assert_int_equal(alice2->out.count, 1);
	assert_int_equal(carol->out.count, 0);
	assert_int_equal(room->hist_count, 1); /* the message only */
	assert_int_equal(cf_metrics.typing_total, 1);

	/* Stopped: no ttl. Bob's typing reaches both of Alice's sessions, one frame shared. */
	assert_int_equal(cf_room_typing(reg, alice2, room, 0), 0);
	assert_int_equal(cf_room_typing(reg, bob, room, 1), 0);
	cf_bus_local_run(fx->bus);
	assert_int_equal(bob->out.count, 3);
	expect_payload(cf_ring_peek(&bob->out, 2),
	               "{\"ev\":\"typing\",\"room\":\"r\",\"user\":{\"id\":\"u1\",\"name\":"
	               "\"Alice\"},\"typing\":false}");
	assert_int_equal(alice->out.count, 2);
	assert_ptr_equal(cf_ring_peek(&alice->out, 1), cf_ring_peek(&alice2->out, 1));
	assert_int_equal(cf_ring_peek(&alice->out, 1)->refs, 2);

	/* Not a member: refused before any token. */
	assert_int_equal(cf_room_typing(reg, carol, room, 1), -ENOENT);

	/* A user that left before the bus ran is not shown typing; nor is one never there. */
	assert_int_equal(cf_room_typing(reg, bob, room, 1), 0);
	assert_int_equal(cf_room_leave(reg, bob, room), 0);
	cf_ring_clear(&alice->out);
	cf_ring_clear(&alice2->out);
	cf_bus_local_run(fx->bus);
	assert_int_equal(alice->out.count, 0);
	cf_room_typing_deliver(reg, &(struct cf_typing){.room = "r", .uid = "u3", .typing = 1});
	cf_room_typing_deliver(reg,
	                       &(struct cf_typing){.room = "nowhere", .uid = "u1", .typing = 1});
	assert_int_equal(alice->out.count + alice2->out.count, 0);
	assert_null(cf_room_find(reg, "nowhere"));

	/* A join that waits hears nothing until it is answered. */
	assert_int_equal(cf_room_join(reg, bob, "r", &room, NULL), 0);
	cf_ring_clear(&alice->out);
	cf_ring_clear(&alice2->out);
	cf_room_member_of(alice2, room)->pending = 1;
	assert_int_equal(typing_of(fx, "r", "u2", 1), 0);
	cf_bus_local_run(fx->bus);
	assert_int_equal(alice->out.count, 1);
	assert_int_equal(alice2->out.count, 0);
	cf_room_member_of(alice2, room)->pending = 0;
}

/* Above presence_events_max users a room gets no typing events, and they cost no token. */
static void
test_typing_large_room(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_room *room;

	fx->cfg.presence_events_max = 2;
	fx->cfg.typing_burst = 1;
	fx->cfg.typing_rate = 1;
	for (int i = 0; i < NSESS; i++)
		assert_int_equal(cf_room_join(reg, &fx->s[i], "big", &room, NULL), 0);
	for (int i = 0; i < NSESS; i++)
		cf_ring_clear(&fx->s[i].out);
	assert_int_equal(room->nusers, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(typing_of(fx, "big", "u2", 1), 0);
	cf_bus_local_run(fx->bus);
	cf_room_typing_deliver(reg, &(struct cf_typing){.room = "big", .uid = "u2", .typing = 1});
	for (int i = 0; i < NSESS; i++)
		assert_int_equal(fx->s[i].out.count, 0);
	assert_int_equal(cf_metrics.typing_total, 0);

	/* At the limit they are sent again: Carol leaves, 2 users (3 sessions). */
	assert_int_equal(cf_room_leave(reg, &fx->s[3], room), 0);
	cf_ring_clear(&fx->s[0].out);
	cf_ring_clear(&fx->s[1].out);
	assert_int_equal(typing_of(fx, "big", "u2", 1), 0);
	cf_bus_local_run(fx->bus);
	assert_int_equal(fx->s[0].out.count, 1);
	assert_int_equal(fx->s[1].out.count, 1);
}

/* Typing has its own buckets, per session (all rooms together) and per client address (all
 * sessions together); a refused event is sent nowhere. */
static void
test_typing_buckets(void **state)
{
	struct fx *fx = *state;
	struct cf_registry *reg = fx->srv.env.reg;
	struct cf_ipcount addr = {.n = 2, .ip = "198.51.100.3"};
	struct cf_sess *alice = &fx->s[0], *alice2 = &fx->s[1], *bob = &fx->s[2],
	               *carol = &fx->s[3];
	struct cf_room *a, *b;

	/* Rates of 1/s: no token comes back while the test runs. */
	fx->cfg.typing_rate = 1;
	fx->cfg.typing_burst = 3;
	fx->cfg.typing_rate_per_ip = 1;
	fx->cfg.typing_burst_per_ip = 5;
	assert_int_equal(cf_room_join(reg, bob, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, bob, "b", &b, NULL), 0);
	assert_int_equal(cf_room_join(reg, carol, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, carol, "b", &b, NULL), 0);
	assert_int_equal(cf_room_typing(reg, bob, a, 1), 0);
	assert_int_equal(cf_room_typing(reg, bob, b, 0), 0);
	assert_int_equal(cf_room_typing(reg, bob, a, 0), 0);
	/* The session's bucket is shared by its rooms and by true and false. */
	assert_int_equal(cf_room_typing(reg, bob, b, 1), -EBUSY);
	assert_int_equal(cf_room_typing(reg, bob, a, 0), -EBUSY);
	assert_int_equal(cf_metrics.typing_limited_total, 2);
	cf_bus_local_run(fx->bus);
	assert_int_equal(carol->out.count, 3);
	/* Another session has its own. */
	assert_int_equal(cf_room_typing(reg, carol, a, 1), 0);

	/* The address's bucket (5) is shared by its sessions: after alice's three, alice2 gets
	 * the two left, and its own bucket keeps its refused token. */
	alice->ipc = alice2->ipc = &addr;
	assert_int_equal(cf_room_join(reg, alice, "a", &a, NULL), 0);
	assert_int_equal(cf_room_join(reg, alice2, "b", &b, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cf_room_typing(reg, alice, a, i & 1), 0);
	assert_int_equal(cf_room_typing(reg, alice, a, 1), -EBUSY);
	assert_int_equal(cf_room_typing(reg, alice2, b, 1), 0);
	assert_int_equal(cf_room_typing(reg, alice2, b, 0), 0);
	assert_int_equal(cf_room_typing(reg, alice2, b, 1), -EBUSY);
	assert_true(alice2->typing_bucket.tokens >= 1.0);
	/* The entry lives until its typing bucket is full again (5 s at 1/s), its join bucket
	 * refilled at once. */
	cf_room_leave_all(reg, alice);
	cf_room_leave_all(reg, alice2);
	fx->cfg.join_rate_per_ip = 1000000;
	cf_registry_addr_sweep(reg, cf_now_us() + 1000000);
	assert_int_equal(reg->naddrs, 1);
	cf_registry_addr_sweep(reg, cf_now_us() + 10000000);
	assert_int_equal(reg->naddrs, 0);
	alice->ipc = alice2->ipc = NULL;
}

/* What another node (or anyone who can PUBLISH on a room channel) sends as a typing event. */
static void
test_typing_redis_payload(void **state)
{
	static const char *const bad[] = {
	        "{\"r\":\"r\",\"u\":\"u1\"}",                    /* no y */
	        "{\"y\":1,\"r\":\"r\",\"u\":\"u1\"}",            /* not a boolean */
	        "{\"y\":\"true\",\"r\":\"r\",\"u\":\"u1\"}",     /* nor this */
	        "{\"y\":true,\"u\":\"u1\"}",                     /* no room */
	        "{\"y\":true,\"r\":7,\"u\":\"u1\"}",             /* not a string */
	        "{\"y\":true,\"r\":\"r\"}",                      /* no user */
	        "{\"y\":true,\"r\":\"r\",\"u\":null}",           /* not a string */
	        "{\"y\":true,\"r\":\"\",\"u\":\"u1\"}",          /* empty room */
	        "{\"y\":true,\"r\":\"r\",\"u\":\"\"}",           /* empty user */
	        "{\"y\":true,\"r\":\"a\\u0007b\",\"u\":\"u1\"}", /* control */
	        "{\"y\":true,\"r\":\"a\\u202eb\",\"u\":\"u1\"}", /* bidi */
	        /* A read marker's seq: 1 to 15 digits, not 0. */
	        "{\"y\":false,\"r\":\"r\",\"u\":\"u1\",\"s\":\"0\"}",
	        "{\"y\":false,\"r\":\"r\",\"u\":\"u1\",\"s\":\"-1\"}",
	        "{\"y\":false,\"r\":\"r\",\"u\":\"u1\",\"s\":7}",
	        "{\"y\":false,\"r\":\"r\",\"u\":\"u1\",\"s\":\"9999999999999999\"}",
	        "{\"y\":false,\"r\":\"r\",\"u\":\"u1\",\"s\":\" 5\"}",
	};
	struct cf_typing t;
	char big[400];
	json_t *o;

	(void)state;
	o = json_loads("{\"y\":true,\"r\":\"lobby\",\"u\":\"guest:bob\",\"x\":1}", 0, NULL);
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), 0);
	assert_string_equal(t.room, "lobby");
	assert_string_equal(t.uid, "guest:bob");
	assert_int_equal(t.typing, 1);
	json_decref(o);
	o = json_loads("{\"y\":false,\"r\":\"lobby\",\"u\":\"guest:bob\"}", 0, NULL);
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), 0);
	assert_int_equal(t.typing, 0);
	assert_int_equal(t.read, 0);
	json_decref(o);
	o = json_loads("{\"y\":false,\"r\":\"lobby\",\"u\":\"bob\",\"s\":\"42\"}", 0, NULL);
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), 0);
	assert_int_equal(t.read, 42);
	json_decref(o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i], 0, NULL);
		assert_non_null(o);
		if (cf_bus_redis_typing_parse(o, &t) == 0)
			fail_msg("accepted %s", bad[i]);
		json_decref(o);
	}
	/* Longer than any room name, or any user id. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o = json_pack("{s:b,s:s,s:s}", "y", 1, "r", big + sizeof(big) - 1 - 65, "u", "u1");
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), -EINVAL);
	json_decref(o);
	o = json_pack("{s:b,s:s,s:s}", "y", 1, "r", big + sizeof(big) - 1 - 64, "u", "u1");
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), 0);
	json_decref(o);
	o = json_pack("{s:b,s:s,s:s}", "y", 1, "r", "r", "u", big + sizeof(big) - 1 - CF_IDENT_MAX);
	assert_int_equal(cf_bus_redis_typing_parse(o, &t), -EINVAL);
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_join_creates_room, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_room_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_join_buckets, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rooms_per_ip, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_create_bucket, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_presence, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remote_presence, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_iteration, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_members_frame, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mirror_host, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bus_publish_fanout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_history_ring, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_history_fold, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_deliver_new_epoch, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bus_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bus_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_member_in_room, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expire_ttl_zero, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_leave_all, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_user_id_borrowed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_presence_borrowed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_join_waits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_typing_fanout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_typing_large_room, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_typing_buckets, setup, teardown),
	        cmocka_unit_test(test_typing_redis_payload),
	};

	/* The slow-consumer log lines are expected; keep the output to failures. */
	cf_log_set_level(CF_LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
