/* SPDX-License-Identifier: MIT */
/* bus_redis_order.c - a room across the nodes of a cluster: Redis orders its messages.
 *
 * Publishing runs one Lua script (publish.lua, EVALSHA) that bumps the room's seq, appends the
 * message to the room's log stream (entry id "<seq>-0", trimmed to about rooms.history) and
 * PUBLISHes it on the room's channel, all atomically; its reply is the sender's ack. Each
 * room's seq lives with an epoch: when the room's keys are lost the script starts a new epoch,
 * so a restarted counter is never mistaken for the old one.
 *
 * Each node keeps a mirror of the rooms it has members in (room.c: seq, epoch, history). It
 * subscribes to a room's channel when the first local member joins; once Redis confirms, it
 * reads the log after the last seq it has (fetch.lua, which also creates the epoch) and
 * delivers what it missed in order; only then is the room LIVE and the waiting joins answered.
 * A live message that does not follow the mirror's seq (lost while the links were down, or a
 * new epoch) starts the same catch-up, so members see every message once, in order, or a gap
 * event where the log no longer reaches. A history that diverged in a failover continues in a
 * new epoch (newepoch.lua; docs/architecture.md "A history that diverged in a failover"). */
#include "bus/redis/bus_redis_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core/msg.h"

#define FETCH_BATCH 1000

/* One catch-up read in flight; the room is found again by name (it may be gone). */
struct fetch {
	struct bus_redis *b;
	int64_t after;
	uint32_t upto; /* entries up to after to compare with the mirror */
	char room[];
};

static void start_fetch(struct bus_redis *b, struct cf_room *room);
static void send_fetch(struct fetch *f);
static void send_pub(struct req *p);

/* A message as the scripts encode it; NULL if o is not one. New reference. An edit or
 * delete (cf_msg.kind) has "f" ("e" or "d") and "o", the seq it corrects. */
static struct cf_msg *
msg_of(json_t *o)
{
	const char *r, *s, *e, *t, *u, *n, *x, *k, *f = NULL, *ref = NULL;
	struct cf_msg *m;
	int kind = CF_MSG_PLAIN;

	if (json_unpack(o, "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s?s,s?s}", "r", &r, "s", &s, "e", &e,
	                "t", &t, "u", &u, "n", &n, "x", &x, "k", &k, "f", &f, "o", &ref) < 0)
		return NULL;
	if (f) {
		if (!strcmp(f, "e"))
			kind = CF_MSG_EDIT;
		else if (!strcmp(f, "d"))
			kind = CF_MSG_DELETE;
		else
			return NULL;
		if (!ref || !*ref || strspn(ref, "0123456789") != strlen(ref))
			return NULL;
	}
	m = cf_msg_new(r, u, n, x, *k ? k : NULL);
	if (m) {
		m->seq = strtoull(s, NULL, 10);
		m->epoch = strtoull(e, NULL, 10);
		m->ts_ms = strtoll(t, NULL, 10);
		m->ordered_ns = cf_now_ns();
		m->kind = (uint8_t)kind;
		m->ref = ref ? strtoull(ref, NULL, 10) : 0;
	}
	return m;
}

static struct cf_msg *
parse_msg(const char *buf, size_t len)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	struct cf_msg *m = o ? msg_of(o) : NULL;

	json_decref(o);
	return m;
}

/* Whether the mirror's message a is Redis's b. The mirror holds a message as corrected
 * (room.c): its text is then not the log's. */
static int
same_msg(const struct cf_msg *a, const struct cf_msg *b)
{
	return a->ts_ms == b->ts_ms && a->kind == b->kind && !strcmp(a->from_id, b->from_id) &&
	       (a->edited_ms || a->deleted || !strcmp(a->text, b->text));
}

/* Entries of an epoch that was replaced after a failover (prev, with base), written after its
 * base (before a node noticed), belong to the epoch that replaced it. */
static void
relabel(uint64_t epoch, uint64_t prev, uint64_t base, struct cf_msg *m)
{
	if (prev && m->epoch == prev && m->seq > base)
		m->epoch = epoch;
}

/* Delivers m if it follows what the room has; a hole or a new epoch is announced to the
 * members as a gap first. Older messages are skipped. */
static void
deliver_in_order(struct bus_redis *b, struct cf_room *room, struct cf_msg *m)
{
	int gapped = 0;

	if (m->epoch != room->epoch) {
		cf_room_gap(b->reg, room, m->epoch); /* a new life: seq restarts at 0 */
		gapped = 1;
	} else if (m->seq <= room->seq) {
		return;
	}
	if (!gapped && m->seq != room->seq + 1)
		cf_room_gap(b->reg, room, m->epoch);
	b->bus.host.deliver(b->bus.host.ud, m);
}

void
cf_bus_redis_on_live(struct bus_redis *b, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	struct cf_msg *m = NULL;
	struct cf_room *room;
	struct room_state *st;

	if (o && json_object_get(o, "p")) {
		cf_bus_redis_on_presence(b, o);
		json_decref(o);
		return;
	}
	if (o && json_object_get(o, "q")) {
		cf_bus_redis_on_rules(b, o);
		json_decref(o);
		return;
	}
	if (o && json_object_get(o, "y")) {
		cf_bus_redis_on_typing(b, o);
		json_decref(o);
		return;
	}
	if (o)
		m = msg_of(o);
	json_decref(o);
	if (!m) {
		log_warn("redis: ignoring a malformed message on a room channel");
		return;
	}
	room = cf_room_find(b->reg, m->room);
	if (!room || room->sync == CF_ROOM_STALE || !(st = state_of(room))) {
		cf_msg_unref(m);
		return;
	}
	relabel(room->epoch, st->prev_epoch, st->base_seq, m);
	if (room->sync == CF_ROOM_SYNCING) {
		/* The catch-up read may have missed it: it decides when it completes. */
		st->seen_epoch = m->epoch;
		st->seen_seq = m->seq;
	} else if (m->epoch == room->epoch && m->seq == room->seq + 1) {
		b->bus.host.deliver(b->bus.host.ud, m);
	} else if (m->epoch == room->epoch && m->seq <= room->seq) {
		const struct cf_msg *mine = cf_room_hist_find(room, m->seq);

		/* A seq we delivered, with another message: Redis's history diverged from ours
		 * (a failover lost what we had). The catch-up read confirms and starts over. */
		if (mine && !same_msg(mine, m)) {
			room->sync = CF_ROOM_SYNCING;
			start_fetch(b, room);
		}
	} else if (m->epoch != room->epoch || m->seq > room->seq + 1) {
		/* Something is missing before it (or the room started over): read the log. */
		room->sync = CF_ROOM_SYNCING;
		st->seen_epoch = m->epoch;
		st->seen_seq = m->seq;
		start_fetch(b, room);
	}
	cf_msg_unref(m);
	if (b->parked.count)
		cf_bus_redis_acks_release(b);
}

static void
fetch_done(struct bus_redis *b, struct cf_room *room, int err)
{
	struct room_state *st = state_of(room);

	if (st)
		st->fetching = 0;
	if (err < 0 || !st) {
		/* The link is down: the reconnect starts over. Waiting joins fail now. */
		cf_room_ready(b->reg, room, err < 0 ? err : -ENOMEM);
	} else if (st->refetch ||
	           (st->seen_seq && (st->seen_epoch != room->epoch || st->seen_seq > room->seq))) {
		/* A live message went by while we read, and the read did not include it. */
		st->refetch = 0;
		start_fetch(b, room);
	} else {
		cf_metrics.redis_resyncs_total++;
		cf_room_ready(b->reg, room, 0); /* may free the room */
	}
	if (b->parked.count)
		cf_bus_redis_acks_release(b);
}

/* The message of a log entry ([id, [field, value]]), or NULL. New reference. */
static struct cf_msg *
entry_msg(const redisReply *e)
{
	const redisReply *fv;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
		return NULL;
	fv = e->element[1];
	if (fv->type != REDIS_REPLY_ARRAY || fv->elements < 2 ||
	    fv->element[1]->type != REDIS_REPLY_STRING)
		return NULL;
	return parse_msg(fv->element[1]->str, fv->element[1]->len);
}

/* The last seq up to which Redis's log and the mirror agree, from the log's entries up to
 * after (newest first): the first one the mirror holds the same (or does not hold: older than
 * what it keeps). With no entries to compare, what Redis's counter allows. */
static uint64_t
common_seq(const struct cf_room *room, uint64_t after, uint64_t seq, const redisReply *upto)
{
	uint64_t r = after < seq ? after : seq;

	for (size_t i = 0; i < upto->elements; i++) {
		struct cf_msg *theirs = entry_msg(upto->element[i]);
		const struct cf_msg *mine;
		int same;

		if (!theirs)
			continue;
		mine = cf_room_hist_find(room, theirs->seq);
		same = !mine || same_msg(mine, theirs);
		r = theirs->seq - (same ? 0 : 1);
		cf_msg_unref(theirs);
		if (same)
			break;
	}
	return r;
}

/* Whether Redis's history may no longer be the one the mirror delivered up to after: its
 * counter is below it, or the newest entry up to after is not the mirror's message at after
 * (a lower one means after's entry is gone; the log is trimmed from the old end only). */
static int
suspicious(const struct cf_room *room, uint64_t after, uint64_t seq, const redisReply *upto)
{
	const struct cf_msg *mine = cf_room_hist_find(room, after);
	struct cf_msg *theirs;
	int r;

	if (seq < after)
		return 1;
	if (!mine || !upto->elements)
		return 0;
	theirs = entry_msg(upto->element[0]);
	if (!theirs)
		return 0;
	r = theirs->seq != after || !same_msg(mine, theirs);
	cf_msg_unref(theirs);
	return r;
}

/* A catch-up read that cannot go on: f goes, the room's waiting joins hear err. */
static void
fetch_fail(struct fetch *f, int err)
{
	struct bus_redis *b = f->b;
	struct cf_room *room = cf_room_find(b->reg, f->room);

	free(f);
	if (room)
		fetch_done(b, room, err);
}

/* Sends one command of the catch-up f (its reply callback owns f from here). */
static void
fetch_cmd(struct fetch *f, cf_redis_reply_cb *cb, int argc, const char **argv)
{
	int r = cf_redis_cmd(f->b->redis, cb, f, argc, argv, NULL);

	if (r < 0)
		fetch_fail(f, r);
}

static void
on_newepoch_reply(void *privdata, redisReply *rep)
{
	struct fetch *f = privdata;
	struct cf_room *room = cf_room_find(f->b->reg, f->room);

	if (!rep || !room || room->sync != CF_ROOM_SYNCING) {
		if (room)
			fetch_done(f->b, room, -ENOTCONN);
		free(f);
		return;
	}
	/* Read again: the epoch differs now, so the mirror starts over with a gap. */
	send_fetch(f);
}

/* Replaces the room's epoch in Redis (unless another node already did) by one that continues
 * it after seq base, then reads again. */
static void
new_epoch(struct fetch *f, uint64_t seen, uint64_t base)
{
	struct bus_redis *b = f->b;
	char meta[512], old[24], neu[24], bs[24];
	const char *argv[] = {"EVALSHA", b->newepoch.sha, "1", meta, old, neu, bs};

	key(meta, sizeof(meta), b, "meta", f->room);
	snprintf(old, sizeof(old), "%llu", (unsigned long long)seen);
	snprintf(neu, sizeof(neu), "%llu", (unsigned long long)cf_room_new_epoch());
	snprintf(bs, sizeof(bs), "%llu", (unsigned long long)base);
	fetch_cmd(f, on_newepoch_reply, 7, argv);
}

static void
on_fetch_reply(void *privdata, redisReply *rep)
{
	struct fetch *f = privdata;
	struct bus_redis *b = f->b;
	struct cf_room *room = cf_room_find(b->reg, f->room);
	struct room_state *st = room ? state_of(room) : NULL;
	const redisReply *ents, *upto;
	uint64_t epoch, seq, prev, base, common;
	size_t n;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!room || room->sync != CF_ROOM_SYNCING || !st) {
		if (st)
			st->fetching = 0;
		free(f);
		return;
	}
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 8 ||
	    rep->element[2]->type != REDIS_REPLY_ARRAY ||
	    rep->element[3]->type != REDIS_REPLY_ARRAY ||
	    rep->element[4]->type != REDIS_REPLY_ARRAY ||
	    (rep->element[5]->type != REDIS_REPLY_STRING &&
	     rep->element[5]->type != REDIS_REPLY_NIL)) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("redis: reading the log of room '%s': %s", f->room, rep->str);
		free(f);
		fetch_done(b, room, rep ? -EIO : -ENOTCONN);
		return;
	}
	epoch = reply_u64(rep->element[0]);
	seq = reply_u64(rep->element[1]);
	prev = rep->element[5]->type == REDIS_REPLY_STRING ? reply_u64(rep->element[5]) : 0;
	base = rep->element[6]->type == REDIS_REPLY_STRING ? reply_u64(rep->element[6]) : 0;
	upto = rep->element[4];
	ents = rep->element[2];
	n = ents->elements;
	if (f->after > 0 && epoch == room->epoch &&
	    suspicious(room, (uint64_t)f->after, seq, upto)) {
		if (f->upto < (uint32_t)b->cfg->history) {
			/* Read what the mirror holds to find where the histories part. */
			f->upto = (uint32_t)b->cfg->history;
			send_fetch(f);
			return;
		}
		common = common_seq(room, (uint64_t)f->after, seq, upto);
		log_warn("redis: room '%s' lost messages after seq %llu that this node delivered "
		         "(a failover?): continuing in a new epoch after seq %llu",
		         room->name, (unsigned long long)common, (unsigned long long)common);
		new_epoch(f, epoch, common);
		return;
	}
	if (f->after > 0 && room->epoch && epoch != room->epoch && prev == room->epoch) {
		/* Redis continues the mirror's epoch in a new one after base: keep what both have,
		 * void the rest, and read on from there. */
		if (f->upto < (uint32_t)b->cfg->history) {
			f->upto = (uint32_t)b->cfg->history;
			send_fetch(f);
			return;
		}
		common = common_seq(room, (uint64_t)f->after, seq, upto);
		if (common > room->seq)
			common = room->seq;
		log_info(
		        "redis: room '%s' continues in a new epoch after seq %llu; its members are "
		        "told of a gap",
		        room->name, (unsigned long long)common);
		st->prev_epoch = prev;
		st->base_seq = base;
		cf_room_rewind(b->reg, room, epoch, common);
		f->after = (int64_t)common;
		f->upto = 1;
		send_fetch(f);
		return;
	}
	st->prev_epoch = prev;
	st->base_seq = base;
	if (epoch != room->epoch) {
		/* A new life (or the first read): what the mirror holds belongs to another. */
		if (room->epoch)
			log_info("redis: room '%s' has a new epoch; its members are told of a gap",
			         room->name);
		cf_room_gap(b->reg, room, epoch);
		if (f->after >= 0) {
			/* Read this life from its start. */
			f->after = -1;
			send_fetch(f);
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		/* XREVRANGE gives the newest first. */
		struct cf_msg *m = entry_msg(ents->element[f->after < 0 ? n - 1 - i : i]);

		if (!m)
			continue;
		relabel(room->epoch, st->prev_epoch, st->base_seq, m);
		if (m->epoch == room->epoch)
			deliver_in_order(b, room, m);
		cf_msg_unref(m);
	}
	if (f->after >= 0 && n == FETCH_BATCH) {
		f->after = (int64_t)room->seq;
		send_fetch(f);
		return;
	}
	if (seq > room->seq) {
		/* Published but no longer in the log (trimmed or expired): say so. */
		room->seq = seq;
		cf_room_gap(b->reg, room, epoch);
	}
	cf_bus_redis_apply_presence(b, room, rep->element[3]);
	free(f);
	fetch_done(b, room, cf_bus_redis_rules_fetched(b, room, rep->element[7]));
}

static void
send_fetch(struct fetch *f)
{
	struct bus_redis *b = f->b;
	char meta[512], log[512], pres[512], rules[512], after[24], count[16], epoch[24], ttl[16],
	        upto[16];
	const char *argv[] = {"EVALSHA", b->fetch.sha, "4",   meta,  log, pres,
	                      rules,     after,        count, epoch, ttl, upto};

	key(meta, sizeof(meta), b, "meta", f->room);
	key(log, sizeof(log), b, "log", f->room);
	key(pres, sizeof(pres), b, "presence", f->room);
	key(rules, sizeof(rules), b, "rules", f->room);
	snprintf(after, sizeof(after), "%lld", (long long)f->after);
	snprintf(count, sizeof(count), "%d", f->after < 0 ? b->cfg->history : FETCH_BATCH);
	snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)cf_room_new_epoch());
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	snprintf(upto, sizeof(upto), "%u", f->upto);
	fetch_cmd(f, on_fetch_reply, 12, argv);
}

static void
start_fetch(struct bus_redis *b, struct cf_room *room)
{
	size_t n = strlen(room->name);
	struct room_state *st = cf_bus_redis_state_get(room);
	struct fetch *f;

	if (st && st->fetching) {
		st->refetch = 1;
		return;
	}
	f = st ? calloc(1, sizeof(*f) + n + 1) : NULL;
	if (!f) {
		cf_room_ready(b->reg, room, -ENOMEM);
		return;
	}
	log_debug("redis: catching up room '%s' after seq %llu", room->name,
	          (unsigned long long)room->seq);
	f->b = b;
	/* Incremental when the mirror has a life to continue; otherwise the newest entries. */
	f->after = room->epoch ? (int64_t)room->seq : -1;
	f->upto = 1; /* enough to notice a history that is no longer ours */
	memcpy(f->room, room->name, n + 1);
	st->fetching = 1;
	st->refetch = 0;
	st->seen_seq = 0;
	st->seen_epoch = room->epoch;
	send_fetch(f);
}

/* Redis confirmed the subscription to a room's channel: from now on nothing published is
 * missed, so read the log. */
void
cf_bus_redis_room_subscribed(struct bus_redis *b, const char *name, size_t len)
{
	char buf[256];
	struct cf_room *room;

	if (len >= sizeof(buf))
		return;
	memcpy(buf, name, len);
	buf[len] = '\0';
	room = cf_room_find(b->reg, buf);
	if (room && room->sync == CF_ROOM_SYNCING && room->members.count)
		start_fetch(b, room);
}

int
cf_bus_redis_subscribe_room(struct bus_redis *b, struct cf_room *room)
{
	char ch[512];

	if (key(ch, sizeof(ch), b, "room", room->name) < 0)
		return -ENAMETOOLONG;
	return cf_redis_subscribe(b->redis, ch);
}

int
cf_bus_redis_watch(struct cf_bus *bus, struct cf_room *room)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	struct room_state *st;
	int r;

	if (!cf_redis_is_up(b->redis))
		return -ENOTCONN;
	if (!(st = cf_bus_redis_state_get(room)))
		return -ENOMEM;
	r = cf_bus_redis_subscribe_room(b, room);
	if (r < 0)
		return r;
	st->seen_seq = 0;
	st->seen_epoch = room->epoch;
	return 1; /* the subscribe confirmation starts the catch-up */
}

void
cf_bus_redis_unwatch(struct cf_bus *bus, struct cf_room *room)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];

	if (key(ch, sizeof(ch), b, "room", room->name) == 0)
		(void)cf_redis_unsubscribe(b->redis, ch);
	/* Not followed any more: what we knew of other nodes goes stale. */
	cf_bus_redis_remote_mark(room);
	cf_bus_redis_remote_sweep(b->reg, room);
	/* A created room expires history_ttl after its last member left, not earlier. */
	if (cf_redis_is_up(b->redis))
		cf_bus_redis_touch_created(b, room->name);
}

/* The longest an ack waits for the message to reach this node's mirror: past it the live
 * message was lost on the way (its link went down), and the catch-up that follows is not
 * waited for. */
#define ACK_WAIT_NS (2 * 1000000000ull)

/* Whether room's mirror here is yet to hold m, which Redis ordered. */
static int
mirror_behind(const struct cf_room *room, const struct cf_msg *m)
{
	return room->sync != CF_ROOM_STALE && room->epoch == m->epoch && room->seq < m->seq;
}

/* A publish Redis ordered. Its reply and the message itself come on two links, in either
 * order: the ack waits for the mirror of the room on this node to hold the message, so that
 * what its sender does next here (read up to it, edit it, read the history) finds it, as
 * standalone, where the ack and the delivery come in one loop turn. */
static void
ack(struct req *p)
{
	struct bus_redis *b = p->b;
	const struct cf_room *room = cf_room_find(b->reg, p->m->room);

	if (!room || !mirror_behind(room, p->m)) {
		cf_bus_redis_req_finish(p, 0);
		return;
	}
	lws_dll2_remove(&p->list);
	lws_dll2_add_tail(&p->list, &b->parked);
	p->parked_ns = cf_now_ns();
}

void
cf_bus_redis_acks_release(struct bus_redis *b)
{
	uint64_t now = cf_now_ns();

	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, b->parked.head) {
		struct req *q = lws_container_of(d, struct req, list);
		const struct cf_room *room = cf_room_find(b->reg, q->m->room);

		if (!room || !mirror_behind(room, q->m) || now - q->parked_ns > ACK_WAIT_NS)
			cf_bus_redis_req_finish(q, 0);
	}
	lws_end_foreach_dll_safe(d, d1);
}

static void
on_wait_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;

	if (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer < 1) {
		log_debug("redis: no replica confirmed seq %llu of room '%s'",
		          (unsigned long long)p->m->seq, p->m->room);
		cf_bus_redis_req_finish(p, rep ? -ETIMEDOUT : -ENOTCONN);
		return;
	}
	ack(p);
}

static void
on_pub_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;
	struct bus_redis *b = p->b;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("redis: publishing to room '%s': %s", p->m->room, rep->str);
		cf_bus_redis_req_finish(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	p->m->seq = reply_u64(rep->element[0]);
	p->m->epoch = reply_u64(rep->element[1]);
	p->m->ts_ms = (int64_t)reply_u64(rep->element[2]);
	p->m->dup = reply_u64(rep->element[3]) != 0;
	if (b->replicated) {
		char ms[16];
		const char *argv[] = {"WAIT", "1", ms};

		snprintf(ms, sizeof(ms), "%d", b->cfg->redis_wait_timeout);
		if (cf_redis_cmd(b->redis, on_wait_reply, p, 3, argv, NULL) == 0)
			return;
		cf_bus_redis_req_finish(p, -ENOTCONN);
		return;
	}
	ack(p);
}

static void
send_pub(struct req *p)
{
	struct bus_redis *b = p->b;
	struct cf_msg *m = p->m;
	char meta[512], log[512], nk[1024], ch[512], maxlen[16], ttl[16], epoch[24], ref[24];
	static const char *const kinds[] = {"", "e", "d"};
	const char *argv[] = {"EVALSHA",
	                      b->pub.sha,
	                      "3",
	                      meta,
	                      log,
	                      nk,
	                      ch,
	                      m->from_id,
	                      m->from_name,
	                      m->text,
	                      m->nonce ? m->nonce : "",
	                      maxlen,
	                      ttl,
	                      epoch,
	                      m->room,
	                      kinds[m->kind],
	                      ref};
	int r;

	key(meta, sizeof(meta), b, "meta", m->room);
	key(log, sizeof(log), b, "log", m->room);
	key(ch, sizeof(ch), b, "room", m->room);
	/* Room names and user ids have no control characters: \x1f separates them. */
	snprintf(nk, sizeof(nk), "%snonce:%s\x1f%s\x1f%s", b->cfg->redis_prefix, m->room,
	         m->from_id, m->nonce ? m->nonce : "");
	snprintf(maxlen, sizeof(maxlen), "%d", b->cfg->history);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)cf_room_new_epoch());
	snprintf(ref, sizeof(ref), "%llu", (unsigned long long)m->ref);
	r = cf_redis_cmd(b->redis, on_pub_reply, p, 17, argv, NULL);
	if (r < 0)
		cf_bus_redis_req_finish(p, r);
}

int
cf_bus_redis_publish(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud,
                     int64_t tag)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	struct req *p;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	p = cf_bus_redis_req_new(b, REQ_PUBLISH, ud, NULL);
	if (!p)
		return -ENOMEM;
	p->m = cf_msg_ref(m);
	p->cb.done = cb;
	p->tag = tag;
	send_pub(p);
	return 0;
}

/* Folds fix into the message of msgs[0 .. n) (ascending seqs) it corrects, as room.c folds
 * a mirror's history: the page shows what the log says now. */
static void
fold(struct cf_msg **msgs, size_t n, const struct cf_msg *fix)
{
	size_t lo = 0, hi = n;
	struct cf_msg *m;

	if (fix->kind == CF_MSG_PLAIN)
		return;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (msgs[mid]->seq < fix->ref)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && (m = cf_msg_fixed(msgs[lo], fix))) {
		cf_msg_unref(msgs[lo]);
		msgs[lo] = m;
	}
}

/* The edits and deletes newer than a page (history.lua), folded into it. */
static void
fold_newer(struct cf_msg **msgs, size_t n, const redisReply *fixes)
{
	for (size_t i = 0; i < fixes->elements && n; i++) {
		struct cf_msg *fix = entry_msg(fixes->element[i]);

		if (fix && fix->epoch == msgs[0]->epoch)
			fold(msgs, n, fix);
		cf_msg_unref(fix);
	}
}

static void
on_history_reply(void *privdata, redisReply *rep)
{
	struct req *rd = privdata;
	struct cf_msg **msgs = NULL;
	size_t n = 0;
	int err = 0;

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[2]->type != REDIS_REPLY_ARRAY) {
		err = rep ? -EIO : -ENOTCONN;
	} else if (rep->element[0]->type != REDIS_REPLY_STRING) {
		err = -ENOENT; /* no epoch: the room does not exist (or expired) */
	} else {
		const redisReply *ents = rep->element[2];
		uint64_t epoch = reply_u64(rep->element[0]), prev = 0, base = 0;

		if (rep->elements >= 5 && rep->element[3]->type == REDIS_REPLY_STRING) {
			prev = reply_u64(rep->element[3]);
			base = reply_u64(rep->element[4]);
		}

		msgs = calloc(ents->elements ? ents->elements : 1, sizeof(*msgs));
		if (!msgs)
			err = -ENOMEM;
		for (size_t i = ents->elements; msgs && i-- > 0;) {
			struct cf_msg *m = entry_msg(ents->element[i]);

			if (m)
				relabel(epoch, prev, base, m);
			if (m && m->epoch == epoch)
				msgs[n++] = m; /* older lives are not this room's history */
			else
				cf_msg_unref(m);
		}
		if (rep->elements == 6 && rep->element[5]->type == REDIS_REPLY_ARRAY)
			fold_newer(msgs, n, rep->element[5]);
		for (size_t i = 0; i < n; i++)
			fold(msgs, i, msgs[i]);
		if (rd->cb.history)
			rd->cb.history(rd->ud, err, epoch, reply_u64(rep->element[1]), msgs, n);
		rd->cb.history = NULL;
	}
	if (rd->cb.history)
		rd->cb.history(rd->ud, err, 0, 0, NULL, 0);
	for (size_t i = 0; i < n; i++)
		cf_msg_unref(msgs[i]);
	free(msgs);
	cf_bus_redis_req_free(rd);
}

int
cf_bus_redis_history(struct cf_bus *bus, const char *room, uint64_t before, uint32_t limit,
                     cf_bus_history_cb *cb, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char meta[512], log[512], end[32], count[16];
	const char *argv[] = {"EVALSHA", b->history.sha, "2", meta, log, end, count};
	struct req *rd;
	int r;

	if (!cf_redis_is_up(b->redis))
		return -ENOTCONN;
	if (key(meta, sizeof(meta), b, "meta", room) < 0 ||
	    key(log, sizeof(log), b, "log", room) < 0)
		return -ENAMETOOLONG;
	if (before == 0)
		snprintf(end, sizeof(end), "+");
	else if (before == 1)
		return -ERANGE; /* nothing is older than seq 1 */
	else
		snprintf(end, sizeof(end), "%llu-0", (unsigned long long)(before - 1));
	snprintf(count, sizeof(count), "%u", limit);
	rd = cf_bus_redis_req_new(b, REQ_HISTORY, ud, NULL);
	if (!rd)
		return -ENOMEM;
	rd->cb.history = cb;
	r = cf_redis_cmd(b->redis, on_history_reply, rd, 7, argv, NULL);
	if (r < 0)
		cf_bus_redis_req_free(rd);
	return r;
}
