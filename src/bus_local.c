/* SPDX-License-Identifier: MIT */
/* bus_local.c - the standalone bus: orders messages in-process. A publish is queued and
 * completed on the next loop turn (a zero-delay lws_sul), so callers see the same asynchronous
 * contract as with Redis: ordering, delivery and the sender's ack all happen later, in FIFO
 * order, and a publisher that goes away in between simply loses its ack. */
#include "confab/bus.h"
#include "confab/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>

struct pending {
	struct lws_dll2 list;
	struct cf_msg *m; /* one reference */
	cf_bus_done_cb *cb;
	void *ud;
	int64_t tag;
};

struct bus_local {
	struct cf_bus bus; /* first: cf_bus* <-> bus_local* */
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	struct lws_dll2_owner queue;
};

static void
order_one(struct bus_local *bl, struct pending *p)
{
	struct cf_msg *m = p->m;
	struct timespec ts;
	uint64_t seq = 0, epoch = 0;
	int r;

	r = bl->bus.host.room_seq(bl->bus.host.ud, m->room, &seq, &epoch);
	if (r < 0) {
		if (p->cb)
			p->cb(p->ud, p->tag, m, r);
		return;
	}
	m->seq = seq + 1;
	m->epoch = epoch;
	clock_gettime(CLOCK_REALTIME, &ts);
	m->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m->ordered_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	/* Ack before delivery: the sender's reply precedes its own msg event. */
	if (p->cb)
		p->cb(p->ud, p->tag, m, 0);
	bl->bus.host.deliver(bl->bus.host.ud, m);
}

void
cf_bus_local_run(struct cf_bus *b)
{
	struct bus_local *bl = (struct bus_local *)b;

	/* Only what is queued now: completions may publish again, on the next turn. */
	uint32_t n = bl->queue.count;
	while (n-- && bl->queue.head) {
		struct pending *p = lws_container_of(bl->queue.head, struct pending, list);

		lws_dll2_remove(&p->list);
		if (p->m->dm) {
			uint32_t got = bl->bus.host.deliver_dm(bl->bus.host.ud, p->m);

			if (p->cb)
				p->cb(p->ud, p->tag, p->m, got ? 0 : -ENOENT);
		} else {
			order_one(bl, p);
		}
		cf_msg_unref(p->m);
		free(p);
	}
}

static void
run_cb(lws_sorted_usec_list_t *sul)
{
	struct bus_local *bl = lws_container_of(sul, struct bus_local, sul);

	cf_bus_local_run(&bl->bus);
	if (bl->queue.count)
		lws_sul_schedule(bl->ctx, 0, &bl->sul, run_cb, 1);
}

static int
local_publish(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->m = cf_msg_ref(m);
	p->cb = cb;
	p->ud = ud;
	p->tag = tag;
	lws_dll2_add_tail(&p->list, &bl->queue);
	if (bl->ctx && bl->queue.count == 1)
		lws_sul_schedule(bl->ctx, 0, &bl->sul, run_cb, 1);
	return 0;
}

static void
local_cancel(struct cf_bus *b, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;

	lws_start_foreach_dll (struct lws_dll2 *, d, bl->queue.head) {
		struct pending *p = lws_container_of(d, struct pending, list);
		if (p->ud == ud)
			p->cb = NULL;
	}
	lws_end_foreach_dll(d);
}

static int
local_healthy(struct cf_bus *b)
{
	return 1;
}

static void
local_free(struct cf_bus *b)
{
	struct bus_local *bl = (struct bus_local *)b;

	/* Freed after the lws context is destroyed (cf_server_stop): the sul is no longer on any
	 * list then, so it needs no cancel. */
	while (bl->queue.head) {
		struct pending *p = lws_container_of(bl->queue.head, struct pending, list);
		lws_dll2_remove(&p->list);
		cf_msg_unref(p->m);
		free(p);
	}
	free(bl);
}

static const struct cf_bus_ops local_ops = {
        .name = "local",
        .publish = local_publish,
        .dm = local_publish, /* queued alike; run_cb tells them apart */
        .cancel = local_cancel,
        .healthy = local_healthy,
        .free = local_free,
};

struct cf_bus *
cf_bus_local_new(struct lws_context *ctx, const struct cf_bus_host *host)
{
	struct bus_local *bl = calloc(1, sizeof(*bl));

	if (!bl)
		return NULL;
	bl->bus.ops = &local_ops;
	bl->bus.host = *host;
	bl->ctx = ctx;
	return &bl->bus;
}
