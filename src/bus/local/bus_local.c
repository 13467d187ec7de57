/* SPDX-License-Identifier: MIT */
/* bus_local.c - the standalone bus: orders messages in-process. A publish is queued and
 * completed on the next loop turn (a zero-delay lws_sul), so callers see the same asynchronous
 * contract as with Redis: ordering, delivery and the sender's ack all happen later, in FIFO
 * order, and a publisher that goes away in between simply loses its ack. Typing events take the
 * same queue, so they stay behind their session's earlier messages. It also keeps what the
 * cluster bus keeps in Redis for every node: the offline inboxes (inbox.c) and seed 002's
 * created rooms, so that no dialect has to ask which bus runs. */
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bus.h"
#include "bus/local/rules_file_int.h"
#include "config/config.h"
#include "core/inbox.h"
#include "core/reads.h"
#include "core/room.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>
#include <uthash.h>

struct pending {
	struct lws_dll2 list;
	struct cf_msg *m; /* one reference; NULL: deliver uid's inbox, or a typing event */
	char *uid;
	char *room; /* a typing event's room (owned), with typing; NULL: not a typing event */
	int typing;
	uint64_t read; /* a read marker instead (struct cf_typing.read) */
	cf_bus_done_cb *cb;
	void *ud;
	int64_t tag;
};

static void
pending_free(struct pending *p)
{
	cf_msg_unref(p->m);
	free(p->uid);
	free(p->room);
	free(p);
}

struct bus_local {
	struct cf_bus bus; /* first: cf_bus* <-> bus_local* */
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	struct lws_dll2_owner queue;
	struct cf_inbox *inbox; /* NULL: kept direct messages fail like the others */

	/* Seed 002's created rooms, by name and by deadline; none while cfg is NULL (see
	 * cf_bus_local_rooms()). */
	struct created *created;
	struct lws_dll2_owner by_end;
	const struct cf_config *cfg;

	/* Room rules (rules_file_int.h); NULL: none kept (cf_bus_local_rules() not called). Their
	 * completions wait for the next turn on rules_q. */
	struct cf_rules_file *rules;
	struct cf_reads *reads; /* NULL: none kept (cf_bus_local_reads() not called) */
	struct lws_dll2_owner rules_q;
	lws_sorted_usec_list_t sul_rules;
};

/* A rules or read-marker completion waiting for the next turn. */
struct rules_done {
	struct lws_dll2 list;
	cf_bus_rules_cb *cb;
	cf_bus_read_cb *rcb;
	cf_bus_reads_cb *rscb;
	void *ud;
	int err;
	uint64_t seq;
	int moved;
	size_t n;
	uint64_t *seqs; /* owned */
	cf_bus_dir_cb *dcb;
	char *dir_after;  /* owned: the page is read when it completes */
	char *dir_prefix; /* owned */
	uint32_t limit;
	char room[];
};

/* Delivers uid's inbox to its sessions here, oldest first; each message stays kept until a
 * session has written it (local_dm_written()). */
static void
drain(struct bus_local *bl, const char *uid)
{
	struct cf_msg **v;
	size_t n = cf_inbox_drain(bl->inbox, uid, cf_wall_ms(), &v);

	for (size_t i = 0; i < n; i++) {
		if (bl->bus.host.deliver_dm(bl->bus.host.ud, v[i]))
			cf_metrics.inbox_delivered_total++;
		cf_msg_unref(v[i]);
	}
	free(v);
}

/* A direct message to keep: delivered and held until a session has written it (or delivered
 * unheld when it cannot be kept), or kept waiting if its user is offline (m->queued). 0 or a
 * negative errno. Everything here runs in one loop turn, so the user cannot appear halfway;
 * messages wait while the user has a session only between its first session and the drain
 * queued for it: a new one queues behind them, and the drain (now) keeps the order. */
static int
keep_dm(struct bus_local *bl, struct cf_msg *m)
{
	const struct cf_bus_host *h = &bl->bus.host;
	int r;

	if (!cf_inbox_waiting(bl->inbox, m->room) && h->user_sessions(h->ud, m->room)) {
		/* Too large or too many to keep: delivered all the same, as it always was. */
		m->held = 1;
		if (cf_inbox_put(bl->inbox, m, cf_wall_ms()) < 0)
			m->held = 0;
		/* Should no session take it (dialects without direct messages), it stays held for
		 * the user's next first session. */
		(void)h->deliver_dm(h->ud, m);
		return 0;
	}
	r = cf_inbox_put(bl->inbox, m, cf_wall_ms());
	if (r < 0)
		return r;
	if (h->user_sessions(h->ud, m->room))
		drain(bl, m->room);
	else
		m->queued = 1;
	return 0;
}

static void
local_dm_written(struct cf_bus *b, const char *uid, const char *mid)
{
	struct bus_local *bl = (struct bus_local *)b;

	if (bl->inbox && !cf_inbox_done(bl->inbox, uid, mid))
		log_debug("inbox: %s's message %s is written", uid, mid);
}

static void
order_one(struct bus_local *bl, struct pending *p)
{
	struct cf_msg *m = p->m;
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
	m->ts_ms = cf_wall_ms();
	m->ordered_ns = cf_now_ns();
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
		if (p->room) {
			struct cf_typing t = {.room = p->room,
			                      .uid = p->uid,
			                      .typing = p->typing,
			                      .read = p->read};

			if (bl->bus.host.typing)
				bl->bus.host.typing(bl->bus.host.ud, &t);
			pending_free(p);
			continue;
		}
		if (!p->m) {
			if (bl->inbox && bl->bus.host.user_sessions(bl->bus.host.ud, p->uid))
				drain(bl, p->uid);
			pending_free(p);
			continue;
		}
		if (p->m->dm && p->m->keep && !p->m->keep_acct && bl->inbox) {
			int r = keep_dm(bl, p->m);

			if (p->cb)
				p->cb(p->ud, p->tag, p->m, r);
		} else if (p->m->dm) {
			uint32_t got = bl->bus.host.deliver_dm(bl->bus.host.ud, p->m);

			if (p->cb)
				p->cb(p->ud, p->tag, p->m, got ? 0 : -ENOENT);
		} else {
			order_one(bl, p);
		}
		pending_free(p);
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

static void
enqueue(struct bus_local *bl, struct pending *p)
{
	lws_dll2_add_tail(&p->list, &bl->queue);
	if (bl->ctx && bl->queue.count == 1)
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
	enqueue(bl, p);
	return 0;
}

/* Queued with the messages, so that a typing event comes after what its session published
 * before it (a client that sends and starts typing again is not hidden by its own message). */
static int
local_typing(struct cf_bus *b, const struct cf_typing *t)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct pending *p = calloc(1, sizeof(*p));

	if (!p || !(p->uid = strdup(t->uid)) || !(p->room = strdup(t->room))) {
		if (p)
			pending_free(p);
		return -ENOMEM;
	}
	p->typing = t->typing;
	p->read = t->read;
	enqueue(bl, p);
	return 0;
}

/* The user's first session here: its inbox is delivered on the next turn, after the session
 * got its identity (and the dialect its greeting out), in FIFO order with the direct messages
 * queued before it. */
static void
local_user(struct cf_bus *b, const char *uid, int present)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct pending *p;

	if (!present || !bl->inbox || !cf_inbox_count(bl->inbox, uid))
		return;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->uid = strdup(uid))) {
		free(p);
		log_error("inbox: out of memory: %s's kept messages wait for the next session",
		          uid);
		return;
	}
	enqueue(bl, p);
}

static int
local_online(struct cf_bus *b, const char *const *uids, size_t n, cf_bus_online_cb *cb, void *ud)
{
	uint8_t on[CF_BUS_ONLINE_MAX];

	for (size_t i = 0; i < n; i++)
		on[i] = b->host.user_sessions && b->host.user_sessions(b->host.ud, uids[i]) > 0;
	cb(ud, 0, on, n);
	return 0;
}

/* ---- seed 002's created rooms ------------------------------------------------------------- */

/* Joinable at least this long, as in Redis (bus_redis.c's KEY_TTL_MIN). */
#define CREATED_TTL_MIN 10

/* A room created by room_create: forgotten at its deadline unless the registry holds it. */
struct created {
	UT_hash_handle hh;
	struct lws_dll2 in_end; /* on by_end */
	uint64_t deadline_s;    /* cf_now_s() */
	char room[];
};

/* The id is joinable for another TTL from now. by_end stays in deadline order. */
static void
created_touch(struct bus_local *bl, struct created *c, uint64_t now)
{
	int ttl = bl->cfg->history_ttl;

	c->deadline_s = now + (uint64_t)(ttl > CREATED_TTL_MIN ? ttl : CREATED_TTL_MIN);
	lws_dll2_remove(&c->in_end);
	lws_dll2_add_tail(&c->in_end, &bl->by_end);
}

static void
created_free(struct bus_local *bl, struct created *c)
{
	HASH_DEL(bl->created, c);
	lws_dll2_remove(&c->in_end);
	free(c);
}

/* Forgets the ids past their deadline whose room is not held (one whose room is held, with
 * members or history, gets another TTL). Each id is looked at once per TTL at most, so this is
 * cheap enough to run on every create and check. */
static void
created_sweep(struct bus_local *bl)
{
	const struct cf_bus_host *h = &bl->bus.host;
	uint64_t now = cf_now_s();

	while (bl->by_end.head) {
		struct created *c = lws_container_of(bl->by_end.head, struct created, in_end);

		if (c->deadline_s > now)
			break;
		if (h->room_held && h->room_held(h->ud, c->room))
			created_touch(bl, c, now);
		else
			created_free(bl, c);
	}
}

static struct created *
created_find(struct bus_local *bl, const char *room)
{
	struct created *c;

	created_sweep(bl);
	HASH_FIND_STR(bl->created, room, c);
	return c;
}

static int
local_room_create(struct cf_bus *b, const char *room, uint32_t max, cf_bus_room_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	size_t n = strlen(room);
	struct created *c;

	if (!bl->cfg)
		return -EOPNOTSUPP;
	if (created_find(bl, room)) {
		cb(ud, room, -EEXIST);
		return 0;
	}
	if (HASH_COUNT(bl->created) >= max) {
		cb(ud, room, -ENOSPC);
		return 0;
	}
	c = calloc(1, sizeof(*c) + n + 1);
	if (!c)
		return -ENOMEM;
	memcpy(c->room, room, n + 1);
	HASH_ADD_STR(bl->created, room, c);
	created_touch(bl, c, cf_now_s());
	cb(ud, room, 0);
	return 0;
}

static int
local_room_check(struct cf_bus *b, const char *room, cf_bus_room_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct created *c;

	if (!bl->cfg)
		return -EOPNOTSUPP;
	c = created_find(bl, room);
	if (c)
		created_touch(bl, c, cf_now_s());
	cb(ud, room, c ? 0 : -ENOENT);
	return 0;
}

static int
local_room_known(struct cf_bus *b, const char *room)
{
	struct bus_local *bl = (struct bus_local *)b;

	return bl->cfg && created_find(bl, room);
}

void
cf_bus_local_rooms(struct cf_bus *b, const struct cf_config *cfg)
{
	((struct bus_local *)b)->cfg = cfg;
}

static void
local_stop(struct cf_bus *b)
{
	struct bus_local *bl = (struct bus_local *)b;

	cf_inbox_stop(bl->inbox);
	cf_reads_stop(bl->reads);
	if (bl->ctx)
		lws_sul_cancel(&bl->sul_rules);
}

/* ---- room rules ---- */

int
cf_bus_local_rules(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct cf_rules_file *f = cf_rules_file_open(cfg, err, errlen);

	if (!f)
		return -EINVAL;
	cf_rules_file_free(bl->rules);
	bl->rules = f;
	return 0;
}

static const struct cf_rules *
local_rules(struct cf_bus *b, const char *room)
{
	struct bus_local *bl = (struct bus_local *)b;

	return bl->rules ? cf_rules_file_get(bl->rules, room) : NULL;
}

/* A directory page, read when it completes so that what it borrows is current. */
static void
dir_complete(struct bus_local *bl, struct rules_done *d)
{
	const struct cf_bus_host *h = &bl->bus.host;
	const char *names[CF_BUS_DIR_MAX];
	const struct cf_rules *rules[CF_BUS_DIR_MAX];
	struct cf_dir_entry e[CF_BUS_DIR_MAX];
	int more = 0, n = cf_rules_file_list(bl->rules, d->dir_prefix, d->dir_after, d->limit,
	                                     names, rules, &more);

	for (int i = 0; i < n; i++)
		e[i] = (struct cf_dir_entry){
		        .room = names[i],
		        .topic = rules[i]->topic ? rules[i]->topic : "",
		        .kind = rules[i]->kind,
		        .members = h->room_users ? h->room_users(h->ud, names[i]) : 0};
	d->dcb(d->ud, n < 0 ? n : 0, n < 0 ? NULL : e, n < 0 ? 0 : (size_t)n, more);
}

static void
rules_run(lws_sorted_usec_list_t *sul)
{
	struct bus_local *bl = lws_container_of(sul, struct bus_local, sul_rules);

	while (bl->rules_q.head) {
		struct rules_done *d = lws_container_of(bl->rules_q.head, struct rules_done, list);

		lws_dll2_remove(&d->list);
		if (d->cb)
			d->cb(d->ud, d->err, d->err ? NULL : cf_rules_file_get(bl->rules, d->room));
		else if (d->rcb)
			d->rcb(d->ud, d->err, d->seq, d->moved);
		else if (d->rscb)
			d->rscb(d->ud, d->err, d->seqs, d->n);
		else if (d->dcb)
			dir_complete(bl, d);
		free(d->seqs);
		free(d->dir_after);
		free(d->dir_prefix);
		free(d);
	}
}

/* Completes cb on the next loop turn, as every bus completion. */
static int
rules_later(struct bus_local *bl, const char *room, int err, cf_bus_rules_cb *cb, void *ud)
{
	size_t n = strlen(room);
	struct rules_done *d = calloc(1, sizeof(*d) + n + 1);

	if (!d)
		return -ENOMEM;
	memcpy(d->room, room, n + 1);
	d->err = err;
	d->cb = cb;
	d->ud = ud;
	lws_dll2_add_tail(&d->list, &bl->rules_q);
	if (bl->ctx && bl->rules_q.count == 1)
		lws_sul_schedule(bl->ctx, 0, &bl->sul_rules, rules_run, 1);
	return 0;
}

/* ---- read markers ---- */

int
cf_bus_local_reads(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct cf_reads *rd = cf_reads_open(bl->ctx, cfg, err, errlen);

	if (!rd)
		return -EINVAL;
	cf_reads_free(bl->reads);
	bl->reads = rd;
	return 0;
}

static int
local_read_set(struct cf_bus *b, const char *uid, const char *room, uint64_t seq,
               cf_bus_read_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	const struct cf_bus_host *h = &bl->bus.host;
	uint64_t now;
	int r, moved;

	if (!bl->reads)
		return -EOPNOTSUPP;
	r = cf_reads_set(bl->reads, uid, room, seq, &now);
	if (r < 0)
		return r;
	moved = r;
	if (r > 0 && h->read)
		h->read(h->ud, uid, room, now);
	r = rules_later(bl, room, 0, NULL, ud);
	if (r == 0) {
		struct rules_done *d = lws_container_of(bl->rules_q.tail, struct rules_done, list);

		d->rcb = cb;
		d->seq = now;
		d->moved = moved;
	}
	return r;
}

static int
local_read_get(struct cf_bus *b, const char *uid, const char *const *rooms, size_t n,
               cf_bus_reads_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	uint64_t *seqs;
	int r;

	if (!bl->reads)
		return -EOPNOTSUPP;
	seqs = calloc(n ? n : 1, sizeof(*seqs));
	if (!seqs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		seqs[i] = cf_reads_get(bl->reads, uid, rooms[i]);
	r = rules_later(bl, "", 0, NULL, ud);
	if (r < 0) {
		free(seqs);
		return r;
	}
	{
		struct rules_done *d = lws_container_of(bl->rules_q.tail, struct rules_done, list);

		d->rscb = cb;
		d->seqs = seqs;
		d->n = n;
	}
	return 0;
}

static int
local_directory(struct cf_bus *b, const char *prefix, const char *after, uint32_t limit,
                cf_bus_dir_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct rules_done *d;
	char *a = strdup(after), *p = strdup(prefix);
	int r;

	if (!bl->rules) {
		free(a);
		free(p);
		return -EOPNOTSUPP;
	}
	r = a && p ? rules_later(bl, "", 0, NULL, ud) : -ENOMEM;
	if (r < 0) {
		free(a);
		free(p);
		return r;
	}
	d = lws_container_of(bl->rules_q.tail, struct rules_done, list);
	d->dcb = cb;
	d->dir_after = a;
	d->dir_prefix = p;
	d->limit = limit;
	return 0;
}

/* The one node: its sessions hear it now. */
static int
local_notice(struct cf_bus *b, const char *text, int64_t ts_ms)
{
	if (b->host.notice)
		b->host.notice(b->host.ud, text, ts_ms);
	return 0;
}

static int
local_rules_get(struct cf_bus *b, const char *room, cf_bus_rules_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;

	if (!bl->rules)
		return -EOPNOTSUPP;
	return rules_later(bl, room, 0, cb, ud);
}

static int
local_rules_change(struct cf_bus *b, const char *room, const struct cf_rules_change *c,
                   cf_bus_rules_cb *cb, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;
	const struct cf_bus_host *h = &bl->bus.host;
	int r;

	if (!bl->rules)
		return -EOPNOTSUPP;
	/* Only a new room gets an owner: one that has members or history is everybody's. */
	if (c->op == CF_RULES_CREATE && !cf_rules_file_get(bl->rules, room) && h->room_held &&
	    h->room_held(h->ud, room))
		r = -EEXIST;
	else
		r = cf_rules_file_change(bl->rules, room, c, (int64_t)time(NULL));
	if (r == -ENOMEM)
		return r;
	/* The one node: its members hear of it now, the actor's answer comes next turn. A role
	 * the user has already is done, without a change to tell. */
	if (r == 0 && h->rules_changed)
		h->rules_changed(h->ud, room, cf_rules_file_get(bl->rules, room), c);
	if (r == -EALREADY)
		r = 0;
	return rules_later(bl, room, r, cb, ud);
}

int
cf_bus_local_inbox(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen)
{
	struct bus_local *bl = (struct bus_local *)b;
	struct cf_inbox *ib = cf_inbox_new(bl->ctx, cfg);
	int r;

	if (!ib) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = cf_inbox_load(ib, cf_wall_ms(), err, errlen);
	if (r < 0) {
		cf_inbox_free(ib);
		return r;
	}
	cf_inbox_free(bl->inbox);
	bl->inbox = ib;
	return 0;
}

static void
local_cancel(struct cf_bus *b, void *ud)
{
	struct bus_local *bl = (struct bus_local *)b;

	lws_start_foreach_dll (struct lws_dll2 *, d, bl->rules_q.head) {
		struct rules_done *x = lws_container_of(d, struct rules_done, list);
		if (x->ud == ud) {
			x->cb = NULL;
			x->rcb = NULL;
			x->rscb = NULL;
			x->dcb = NULL;
		}
	}
	lws_end_foreach_dll(d);
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
		pending_free(p);
	}
	cf_inbox_free(bl->inbox);
	while (bl->rules_q.head) {
		struct rules_done *d = lws_container_of(bl->rules_q.head, struct rules_done, list);
		lws_dll2_remove(&d->list);
		free(d->seqs);
		free(d->dir_after);
		free(d->dir_prefix);
		free(d);
	}
	cf_reads_free(bl->reads);
	cf_rules_file_free(bl->rules);
	while (bl->created)
		created_free(bl, bl->created);
	free(bl);
}

static const struct cf_bus_ops local_ops = {
        .name = "local",
        .publish = local_publish,
        .dm = local_publish, /* queued alike; run_cb tells them apart */
        .cancel = local_cancel,
        .healthy = local_healthy,
        .user = local_user,
        .typing = local_typing,
        .dm_written = local_dm_written,
        .online = local_online,
        .room_create = local_room_create,
        .room_check = local_room_check,
        .room_known = local_room_known,
        .rules = local_rules,
        .rules_get = local_rules_get,
        .rules_change = local_rules_change,
        .read_set = local_read_set,
        .directory = local_directory,
        .notice = local_notice,
        .read_get = local_read_get,
        .stop = local_stop,
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
