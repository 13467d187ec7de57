/* SPDX-License-Identifier: MIT */
/* bus_redis.c - the cluster bus: Redis orders every room's messages for all nodes.
 *
 * Publishing runs one Lua script (EVALSHA; EVAL when Redis lost its script cache) that bumps
 * the room's seq, appends the message to the room's log stream (entry id "<seq>-0", trimmed
 * to about rooms.history) and PUBLISHes it on the room's channel, all atomically; its reply
 * is the sender's ack. Each room's seq lives with an epoch: when the room's keys are lost the
 * script starts a new epoch, so a restarted counter is never mistaken for the old one.
 *
 * Each node keeps a mirror of the rooms it has members in (room.c: seq, epoch, history). It
 * subscribes to a room's channel when the first local member joins; once Redis confirms, it
 * reads the log after the last seq it has (a second script, which also creates the epoch) and
 * delivers what it missed in order; only then is the room LIVE and the waiting joins answered.
 * A live message that does not follow the mirror's seq (lost while the links were down, or a
 * new epoch) starts the same catch-up, so members see every message once, in order, or a gap
 * event where the log no longer reaches. After a reconnect every followed room catches up. */
#include "confab/bus.h"
#include "confab/clock.h"
#include "confab/config.h"
#include "confab/log.h"
#include "confab/metrics.h"
#include "confab/redis.h"
#include "confab/room.h"
#include "confab/text.h"
#include "confab/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "cf_lua.h"

/* The scripts are src/lua/<name>.lua, each with its KEYS, ARGV and reply; cf_lua.h is generated
 * from them (src/lua/embed.cmake). */

#define FETCH_BATCH 1000
/* drain.lua's grace: far above the time from a publish to the write on a node that is alive. */
#define DRAIN_GRACE_MS "2000"
#define KEY_TTL_MIN    10

struct script {
	const char *name;
	const char *body;
	char sha[41];
};

struct bus_redis {
	struct cf_bus bus; /* first: cf_bus* <-> bus_redis* */
	struct cf_redis *redis;
	struct cf_store *store;      /* the accounts (bus_redis_store.c), over redis */
	struct cf_registry *reg;     /* borrowed */
	const struct cf_config *cfg; /* borrowed */
	struct lws_dll2_owner reqs;  /* struct req in flight */
	struct script pub, fetch, presence, alive, newepoch, history, created, dmkeep, drain,
	        dmdone;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul_alive;
	uint64_t touched_us; /* when the followed rooms' keys were last refreshed */
	char node[128];
	int replicated; /* ack = replicated */
	char status[320];
};

enum req_kind {
	REQ_PUBLISH, /* a room message or a direct message: cb.done */
	REQ_HISTORY, /* a history read for the REST API: cb.history */
	REQ_ROOM,    /* seed 002's room_create or room_check: cb.room */
	REQ_ONLINE,  /* a presence question (PUBSUB NUMSUB): cb.online */
};

/* A caller's request in flight, on b->reqs until its last reply is in, so that cf_bus_cancel()
 * finds it (its callback is cleared) and redis_free() ends it. */
struct req {
	struct lws_dll2 list;
	struct bus_redis *b;
	enum req_kind kind;
	union {
		cf_bus_done_cb *done;
		cf_bus_history_cb *history;
		cf_bus_room_cb *room;
		cf_bus_online_cb *online;
	} cb; /* NULL once cancelled */
	void *ud;
	struct cf_msg *m; /* REQ_PUBLISH: one reference */
	int64_t tag;      /* REQ_PUBLISH: the caller's */
	size_t n;         /* REQ_ONLINE: how many users were asked about */
	uint8_t add;      /* REQ_ROOM: create (else check) */
	char room[];      /* REQ_ROOM: the room */
};

/* One catch-up read in flight; the room is found again by name (it may be gone). */
struct fetch {
	struct bus_redis *b;
	int64_t after;
	uint32_t upto; /* entries up to after to compare with the mirror */
	char room[];
};

/* A request of kind for ud, on b's list; room is copied (REQ_ROOM), may be NULL. */
static struct req *
req_new(struct bus_redis *b, enum req_kind kind, void *ud, const char *room)
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

static void
req_free(struct req *q)
{
	lws_dll2_remove(&q->list);
	cf_msg_unref(q->m);
	free(q);
}

/* Tells q's caller err (0 only for the kinds whose callback carries no answer but err) and
 * frees q. */
static void
req_finish(struct req *q, int err)
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
	}
	req_free(q);
}

static void
sha1_hex(const char *s, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)s, strlen(s), md);
	cf_text_hex(md, sizeof(md), out);
}

static int
key(char *buf, size_t len, const struct bus_redis *b, const char *kind, const char *room)
{
	int n = snprintf(buf, len, "%s%s:%s", b->cfg->redis_prefix, kind, room);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Seconds every key lives after its last use: the history TTL, but never 0 (that would delete
 * them at once) nor so short that a catch-up could outrun it. */
static int
key_ttl(const struct bus_redis *b)
{
	return b->cfg->history_ttl > KEY_TTL_MIN ? b->cfg->history_ttl : KEY_TTL_MIN;
}

/* An error that means this Redis is not the one to talk to (it lost our scripts, or it is a
 * replica after a failover): reconnect, which loads the scripts again and, with Sentinel,
 * asks for the master again. Resending here instead would let later commands overtake. */
static int
check_link_error(struct bus_redis *b, const redisReply *rep)
{
	if (!rep || rep->type != REDIS_REPLY_ERROR)
		return 0;
	if (strncmp(rep->str, "NOSCRIPT", 8) && strncmp(rep->str, "READONLY", 8) &&
	    strncmp(rep->str, "LOADING", 7) && strncmp(rep->str, "MASTERDOWN", 10))
		return 0;
	cf_redis_reset(b->redis, rep->str);
	return 1;
}

static uint64_t
reply_u64(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return (uint64_t)r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoull(r->str, NULL, 10);
	return 0;
}

/* ---- messages from Redis --------------------------------------------------------------- */

/* A message as the scripts encode it; NULL if o is not one. New reference. */
static struct cf_msg *
msg_of(json_t *o)
{
	const char *r, *s, *e, *t, *u, *n, *x, *k;
	struct cf_msg *m;

	if (json_unpack(o, "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "r", &r, "s", &s, "e", &e, "t", &t,
	                "u", &u, "n", &n, "x", &x, "k", &k) < 0)
		return NULL;
	m = cf_msg_new(r, u, n, x, *k ? k : NULL);
	if (m) {
		m->seq = strtoull(s, NULL, 10);
		m->epoch = strtoull(e, NULL, 10);
		m->ts_ms = strtoll(t, NULL, 10);
		m->ordered_ns = cf_now_ns();
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

/* The message the mirror holds with this seq, or NULL. Borrowed. */
static const struct cf_msg *
held(const struct cf_room *room, uint64_t seq)
{
	uint32_t i = cf_room_hist_after(room, seq - 1);
	const struct cf_msg *m = cf_room_hist_at(room, i);

	return m && m->seq == seq ? m : NULL;
}

static int
same_msg(const struct cf_msg *a, const struct cf_msg *b)
{
	return a->ts_ms == b->ts_ms && !strcmp(a->from_id, b->from_id) && !strcmp(a->text, b->text);
}

/* Entries of an epoch that was replaced after a failover, written after its base (before a
 * node noticed), belong to the epoch that replaced it. */
static void
relabel(const struct cf_room *room, struct cf_msg *m)
{
	if (room->prev_epoch && m->epoch == room->prev_epoch && m->seq > room->base_seq)
		m->epoch = room->epoch;
}

static void start_fetch(struct bus_redis *b, struct cf_room *room);
static void on_script_reply(void *privdata, redisReply *rep);

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

/* {"p":"join"|"leave","r":room,"u":user id,"n":name,"o":node} from another node. */
static void
on_presence(struct bus_redis *b, json_t *o)
{
	const char *p, *r, *u, *n, *node;
	struct cf_room *room;

	if (json_unpack(o, "{s:s,s:s,s:s,s:s,s:s}", "p", &p, "r", &r, "u", &u, "n", &n, "o",
	                &node) < 0 ||
	    !strcmp(node, b->node))
		return;
	room = cf_room_find(b->reg, r);
	if (!room || room->sync == CF_ROOM_STALE)
		return;
	if (room->sync == CF_ROOM_SYNCING) {
		/* The full read decides; one in flight may predate this event: read again. */
		if (room->fetching)
			room->refetch = 1;
		return;
	}
	cf_room_remote(b->reg, room, node, u, n, !strcmp(p, "join"));
}

static void
on_live(struct bus_redis *b, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	struct cf_msg *m = NULL;
	struct cf_room *room;

	if (o && json_object_get(o, "p")) {
		on_presence(b, o);
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
	if (!room || room->sync == CF_ROOM_STALE) {
		cf_msg_unref(m);
		return;
	}
	relabel(room, m);
	if (room->sync == CF_ROOM_SYNCING) {
		/* The catch-up read may have missed it: it decides when it completes. */
		room->seen_epoch = m->epoch;
		room->seen_seq = m->seq;
	} else if (m->epoch == room->epoch && m->seq == room->seq + 1) {
		b->bus.host.deliver(b->bus.host.ud, m);
	} else if (m->epoch == room->epoch && m->seq <= room->seq) {
		const struct cf_msg *mine = held(room, m->seq);

		/* A seq we delivered, with another message: Redis's history diverged from ours
		 * (a failover lost what we had). The catch-up read confirms and starts over. */
		if (mine && !same_msg(mine, m)) {
			room->sync = CF_ROOM_SYNCING;
			start_fetch(b, room);
		}
	} else if (m->epoch != room->epoch || m->seq > room->seq + 1) {
		/* Something is missing before it (or the room started over): read the log. */
		room->sync = CF_ROOM_SYNCING;
		room->seen_epoch = m->epoch;
		room->seen_seq = m->seq;
		start_fetch(b, room);
	}
	cf_msg_unref(m);
}

/* A direct message on a user's channel: {"to","u","n","x","t"}, and for a kept one "i" (its
 * id), "h" when the inbox holds it until written, and, when it comes from the inbox, "q" (when
 * it was kept). */
static void
on_dm(struct bus_redis *b, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *to, *u, *n, *x, *t, *i = NULL, *q = NULL;
	struct cf_msg *m = NULL;

	if (o && json_unpack(o, "{s:s,s:s,s:s,s:s,s:s,s?s,s?s}", "to", &to, "u", &u, "n", &n, "x",
	                     &x, "t", &t, "i", &i, "q", &q) == 0)
		m = cf_msg_new(to, u, n, x, NULL);
	if (m) {
		m->dm = 1;
		/* Kept until a session writes it: dmkeep.lua and drain.lua say so with "h". */
		m->held = i && json_is_integer(json_object_get(o, "h"));
		m->ts_ms = strtoll(t, NULL, 10);
		if (i)
			snprintf(m->mid, sizeof(m->mid), "%s", i);
		if (q) {
			m->queued = 1;
			m->queued_ms = strtoll(q, NULL, 10);
		}
		if (b->bus.host.deliver_dm(b->bus.host.ud, m) && q)
			cf_metrics.inbox_delivered_total++;
		cf_msg_unref(m);
	} else {
		log_warn("redis: ignoring a malformed direct message");
	}
	json_decref(o);
}

static void
on_drain_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	if (check_link_error(b, rep))
		return;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		/* Lost link: on_up subscribes again and the confirmation drains again. */
		on_script_reply(&b->drain, rep);
		return;
	}
	cf_metrics.inbox_dropped_expired += reply_u64(rep->element[1]);
}

/* The subscription to user uid's channel is confirmed: from now on a kept direct message is
 * either PUBLISHed to this node or appended to the inbox before the drain script runs (Redis
 * runs one script or command at a time), so draining now loses nothing and sends nothing
 * twice. The drained messages come back as messages on the channel, like live ones. */
static void
drain_inbox(struct bus_redis *b, const char *uid, size_t len)
{
	char name[256], ik[512], ch[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->drain.sha, "1", ik, ch, ttl, DRAIN_GRACE_MS};
	struct cf_user *u;

	if (len >= sizeof(name))
		return;
	memcpy(name, uid, len);
	name[len] = '\0';
	HASH_FIND_STR(b->reg->users, name, u);
	if (!u || key(ik, sizeof(ik), b, "inbox", name) < 0 ||
	    key(ch, sizeof(ch), b, "user", name) < 0)
		return; /* gone again: its next session drains */
	snprintf(ttl, sizeof(ttl), "%d", b->cfg->inbox_ttl);
	(void)cf_redis_cmd(b->redis, on_drain_reply, b, 7, argv, NULL);
}

static void
on_message(void *ud, const char *channel, size_t clen, const char *payload, size_t plen)
{
	struct bus_redis *b = ud;
	size_t pl = strlen(b->cfg->redis_prefix);

	if (payload) {
		if (clen > pl + 5 && !memcmp(channel + pl, "user:", 5))
			on_dm(b, payload, plen);
		else
			on_live(b, payload, plen);
		return;
	}
	/* A subscribe confirmation: from now on nothing published is missed, so read the log. */
	log_debug("redis: subscribed to %.*s", (int)clen, channel);
	if (clen > pl + 5 && !memcmp(channel + pl, "user:", 5)) {
		drain_inbox(b, channel + pl + 5, clen - pl - 5);
		return;
	}
	if (clen > pl + 5 && !memcmp(channel + pl, "room:", 5)) {
		char name[256];
		struct cf_room *room;
		size_t n = clen - pl - 5;

		if (n >= sizeof(name))
			return;
		memcpy(name, channel + pl + 5, n);
		name[n] = '\0';
		room = cf_room_find(b->reg, name);
		if (room && room->sync == CF_ROOM_SYNCING && room->members.count)
			start_fetch(b, room);
	}
}

/* ---- catch-up ---------------------------------------------------------------------------- */

static void send_fetch(struct fetch *f);

/* The room's whole presence hash (field "<node>\x1f<user id>", value the name): the other
 * nodes' entries replace what the mirror had. */
static void
apply_presence(struct bus_redis *b, struct cf_room *room, const redisReply *h)
{
	size_t nl = strlen(b->node);

	cf_room_remote_mark(room);
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const redisReply *k = h->element[i], *v = h->element[i + 1];
		char node[128];
		const char *sep;

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		sep = memchr(k->str, '\x1f', k->len);
		if (!sep || (size_t)(sep - k->str) >= sizeof(node))
			continue;
		if ((size_t)(sep - k->str) == nl && !memcmp(k->str, b->node, nl))
			continue; /* our own: the registry knows them first-hand */
		memcpy(node, k->str, (size_t)(sep - k->str));
		node[sep - k->str] = '\0';
		cf_room_remote(b->reg, room, node, sep + 1, v->str, 1);
	}
	cf_room_remote_sweep(b->reg, room);
}

static void
fetch_done(struct bus_redis *b, struct cf_room *room, int err)
{
	room->fetching = 0;
	if (err < 0) {
		/* The link is down: the reconnect starts over. Waiting joins fail now. */
		cf_room_ready(b->reg, room, err);
		return;
	}
	if (room->refetch ||
	    (room->seen_seq && (room->seen_epoch != room->epoch || room->seen_seq > room->seq))) {
		/* A live message went by while we read, and the read did not include it. */
		room->refetch = 0;
		start_fetch(b, room);
		return;
	}
	cf_metrics.redis_resyncs_total++;
	cf_room_ready(b->reg, room, 0);
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
		mine = held(room, theirs->seq);
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
	const struct cf_msg *mine = held(room, after);
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
	const redisReply *ents, *upto;
	uint64_t epoch, seq, prev, base, common;
	size_t n;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!room || room->sync != CF_ROOM_SYNCING) {
		if (room)
			room->fetching = 0;
		free(f);
		return;
	}
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 7 ||
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
		room->prev_epoch = prev;
		room->base_seq = base;
		cf_room_rewind(b->reg, room, epoch, common);
		f->after = (int64_t)common;
		f->upto = 1;
		send_fetch(f);
		return;
	}
	room->prev_epoch = prev;
	room->base_seq = base;
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
		relabel(room, m);
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
	apply_presence(b, room, rep->element[3]);
	free(f);
	fetch_done(b, room, 0);
}

static void
send_fetch(struct fetch *f)
{
	struct bus_redis *b = f->b;
	char meta[512], log[512], pres[512], after[24], count[16], epoch[24], ttl[16], upto[16];
	const char *argv[] = {"EVALSHA", b->fetch.sha, "3",   meta, log, pres,
	                      after,     count,        epoch, ttl,  upto};

	key(meta, sizeof(meta), b, "meta", f->room);
	key(log, sizeof(log), b, "log", f->room);
	key(pres, sizeof(pres), b, "presence", f->room);
	snprintf(after, sizeof(after), "%lld", (long long)f->after);
	snprintf(count, sizeof(count), "%d", f->after < 0 ? b->cfg->history : FETCH_BATCH);
	snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)cf_room_new_epoch());
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	snprintf(upto, sizeof(upto), "%u", f->upto);
	fetch_cmd(f, on_fetch_reply, 11, argv);
}

static void
start_fetch(struct bus_redis *b, struct cf_room *room)
{
	size_t n = strlen(room->name);
	struct fetch *f;

	if (room->fetching) {
		room->refetch = 1;
		return;
	}
	f = calloc(1, sizeof(*f) + n + 1);
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
	room->fetching = 1;
	room->refetch = 0;
	room->seen_seq = 0;
	room->seen_epoch = room->epoch;
	send_fetch(f);
}

/* Gives a created room (if room is one) the key TTL again: a no-op for other rooms. */
static void
touch_created(struct bus_redis *b, const char *room)
{
	char ck[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->created.sha, "1", ck, "check", ttl, "0", room};

	snprintf(ck, sizeof(ck), "%screated", b->cfg->redis_prefix);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	(void)cf_redis_cmd(b->redis, NULL, NULL, 8, argv, NULL);
}

/* ---- following rooms ---------------------------------------------------------------------- */

static int
subscribe_room(struct bus_redis *b, struct cf_room *room)
{
	char ch[512];

	if (key(ch, sizeof(ch), b, "room", room->name) < 0)
		return -ENAMETOOLONG;
	return cf_redis_subscribe(b->redis, ch);
}

static int
redis_watch(struct cf_bus *bus, struct cf_room *room)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	int r;

	if (!cf_redis_is_up(b->redis))
		return -ENOTCONN;
	r = subscribe_room(b, room);
	if (r < 0)
		return r;
	room->seen_seq = 0;
	room->seen_epoch = room->epoch;
	return 1; /* the subscribe confirmation starts the catch-up */
}

static void
redis_unwatch(struct cf_bus *bus, struct cf_room *room)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];

	if (key(ch, sizeof(ch), b, "room", room->name) == 0)
		(void)cf_redis_unsubscribe(b->redis, ch);
	/* A created room expires history_ttl after its last member left, not earlier. */
	if (cf_redis_is_up(b->redis))
		touch_created(b, room->name);
}

/* ---- presence across nodes --------------------------------------------------------------- */

static void
on_script_reply(void *privdata, redisReply *rep)
{
	struct script *sc = privdata;

	if (rep && rep->type == REDIS_REPLY_ERROR)
		log_warn("redis: the %s script failed: %s", sc->name, rep->str);
}

static void
redis_user(struct cf_bus *bus, const char *uid, int present)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];

	/* Down: on_up subscribes every user with a session again. */
	if (key(ch, sizeof(ch), b, "user", uid) < 0 || !cf_redis_is_up(b->redis))
		return;
	if (present)
		(void)cf_redis_subscribe(b->redis, ch);
	else
		(void)cf_redis_unsubscribe(b->redis, ch);
}

static void
on_dmkeep_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;
	int64_t dc;

	if (check_link_error(p->b, rep) || !rep || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 4) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("redis: the keep script failed: %s", rep->str);
		req_finish(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	if (rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer < 0) {
		req_finish(p, -ENOENT); /* not an account, and nobody follows the user */
		return;
	}
	dc = rep->element[1]->type == REDIS_REPLY_INTEGER ? rep->element[1]->integer : 0;
	if (dc < 0) {
		cf_metrics.inbox_dropped_bytes++;
		req_finish(p, -EMSGSIZE);
		return;
	}
	cf_metrics.inbox_dropped_count += (uint64_t)dc;
	cf_metrics.inbox_dropped_bytes += reply_u64(rep->element[2]);
	cf_metrics.inbox_dropped_expired += reply_u64(rep->element[3]);
	if (reply_u64(rep->element[0]) == 0) {
		p->m->queued = 1;
		cf_metrics.inbox_queued_total++;
	}
	req_finish(p, 0);
}

static void
on_dmdone_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	/* Lost, the message stays held: the user's next drain delivers it again. */
	if (!check_link_error(b, rep))
		on_script_reply(&b->dmdone, rep);
}

static void
redis_dm_written(struct cf_bus *bus, const char *uid, const char *mid)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ik[512];
	const char *argv[] = {"EVALSHA", b->dmdone.sha, "1", ik, mid};

	if (cf_redis_is_up(b->redis) && key(ik, sizeof(ik), b, "inbox", uid) == 0)
		(void)cf_redis_cmd(b->redis, on_dmdone_reply, b, 5, argv, NULL);
}

static void
on_dm_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;

	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		req_finish(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	/* PUBLISH says how many nodes follow the user's channel. */
	req_finish(p, rep->integer > 0 ? 0 : -ENOENT);
}

static int
redis_dm(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512], ts[24];
	const char *argv[] = {"PUBLISH", ch, NULL};
	struct req *p;
	json_t *o;
	char *txt;
	int r;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (key(ch, sizeof(ch), b, "user", m->room) < 0)
		return -ENAMETOOLONG;
	snprintf(ts, sizeof(ts), "%lld", (long long)m->ts_ms);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "to", m->room, "u", m->from_id, "n", m->from_name,
	              "x", m->text, "t", ts);
	if (o && m->keep && json_object_set_new(o, "i", json_string(m->mid)) < 0) {
		json_decref(o);
		o = NULL;
	}
	txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	p = txt ? req_new(b, REQ_PUBLISH, ud, NULL) : NULL;
	if (!p) {
		free(txt);
		return -ENOMEM;
	}
	p->m = cf_msg_ref(m);
	p->cb.done = cb;
	p->tag = tag;
	argv[2] = txt;
	if (m->keep) {
		char ik[512], ak[512], maxn[16], maxb[16], ttl[16];
		const char *kv[] = {"EVALSHA", b->dmkeep.sha, "1",  ik,  ch,
		                    txt,       maxn,          maxb, ttl, NULL};
		int nk = 9;

		/* keep_acct: the script keeps it only if acct:<user> (the account store's key,
		 * bus_redis_store.c) exists. */
		if (m->keep_acct) {
			memmove(kv + 5, kv + 4, 5 * sizeof(*kv));
			kv[2] = "2";
			kv[4] = ak;
			nk = 10;
		}
		if (key(ik, sizeof(ik), b, "inbox", m->room) < 0 ||
		    key(ak, sizeof(ak), b, "acct", m->room) < 0) {
			free(txt);
			req_finish(p, -ENAMETOOLONG);
			return 0;
		}
		snprintf(maxn, sizeof(maxn), "%d", b->cfg->inbox_max_messages);
		snprintf(maxb, sizeof(maxb), "%d", b->cfg->inbox_max_bytes);
		snprintf(ttl, sizeof(ttl), "%d", b->cfg->inbox_ttl);
		r = cf_redis_cmd(b->redis, on_dmkeep_reply, p, nk, kv, NULL);
	} else {
		r = cf_redis_cmd(b->redis, on_dm_reply, p, 3, argv, NULL);
	}
	free(txt);
	if (r < 0)
		req_finish(p, r);
	return 0;
}

static void
on_numsub_reply(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	uint8_t on[CF_BUS_ONLINE_MAX];

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 * q->n) {
		req_finish(q, rep ? -EIO : -ENOTCONN);
		return;
	}
	/* {channel, subscribers, ...}: each node follows user:<id> while the user has a session
	 * there, so more than 0 subscribers means a session somewhere. */
	for (size_t i = 0; i < q->n; i++)
		on[i] = reply_u64(rep->element[2 * i + 1]) > 0;
	if (q->cb.online)
		q->cb.online(q->ud, 0, on, q->n);
	req_free(q);
}

static int
redis_online(struct cf_bus *bus, const char *const *uids, size_t n, cf_bus_online_cb *cb, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	const char **argv = calloc(n + 2, sizeof(*argv));
	char *chs = malloc(n * 512);
	struct req *q = NULL;
	int r = 0;

	if (!argv || !chs) {
		r = -ENOMEM;
		goto out;
	}
	if (!cf_redis_is_up(b->redis)) {
		r = -ENOTCONN;
		goto out;
	}
	argv[0] = "PUBSUB";
	argv[1] = "NUMSUB";
	for (size_t i = 0; i < n && !r; i++) {
		r = key(chs + i * 512, 512, b, "user", uids[i]);
		argv[i + 2] = chs + i * 512;
	}
	if (r < 0)
		goto out;
	q = req_new(b, REQ_ONLINE, ud, NULL);
	if (!q) {
		r = -ENOMEM;
		goto out;
	}
	q->cb.online = cb;
	q->n = n;
	r = cf_redis_cmd(b->redis, on_numsub_reply, q, (int)n + 2, argv, NULL);
	if (r < 0)
		req_free(q);
out:
	free(chs);
	free(argv);
	return r;
}

static void
redis_presence(struct cf_bus *bus, struct cf_room *room, const char *uid, const char *name,
               int joined)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char pk[512], rk[512], ch[512], field[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->presence.sha,    "2", pk,   rk,  field,
	                      name,      joined ? "1" : "0", ch,  NULL, ttl, room->name};
	json_t *ev;
	char *txt;

	/* Down: on_up announces every local user again. */
	if (!cf_redis_is_up(b->redis))
		return;
	ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "p", joined ? "join" : "leave", "r", room->name,
	               "u", uid, "n", name, "o", b->node);
	txt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!txt)
		return;
	argv[9] = txt;
	key(pk, sizeof(pk), b, "presence", room->name);
	key(rk, sizeof(rk), b, "noderooms", b->node);
	key(ch, sizeof(ch), b, "room", room->name);
	snprintf(field, sizeof(field), "%s\x1f%s", b->node, uid);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	(void)cf_redis_cmd(b->redis, on_script_reply, &b->presence, 12, argv, NULL);
	free(txt);
}

static void
on_alive_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
		log_info("redis: removed %lld node(s) that stopped without leaving from presence",
		         (long long)rep->integer);
	else
		on_script_reply(&b->alive, rep);
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
	for (struct cf_room *room = b->reg->rooms; room; room = room->hh.next) {
		if (!room->members.count)
			continue;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (key(k, sizeof(k), b, kinds[i], room->name) == 0)
				(void)cf_redis_cmd(b->redis, NULL, NULL, 3, argv, NULL);
		touch_created(b, room->name);
	}
	if (key(k, sizeof(k), b, "noderooms", b->node) == 0)
		(void)cf_redis_cmd(b->redis, NULL, NULL, 3, argv, NULL);
}

/* Every third of node_ttl: keep this node alive and bury the dead. */
static void
alive_cb(lws_sorted_usec_list_t *sul)
{
	struct bus_redis *b = lws_container_of(sul, struct bus_redis, sul_alive);
	char nk[512], sk[512], ttl[16], sttl[16];
	const char *argv[] = {"EVALSHA", b->alive.sha,         "2", nk, sk, b->node,
	                      ttl,       b->cfg->redis_prefix, sttl};

	if (cf_redis_is_up(b->redis)) {
		key(nk, sizeof(nk), b, "node", b->node);
		snprintf(sk, sizeof(sk), "%snodes", b->cfg->redis_prefix);
		snprintf(ttl, sizeof(ttl), "%d", b->cfg->redis_node_ttl);
		snprintf(sttl, sizeof(sttl), "%d",
		         b->cfg->history_ttl > 10 * b->cfg->redis_node_ttl
		                 ? b->cfg->history_ttl
		                 : 10 * b->cfg->redis_node_ttl);
		(void)cf_redis_cmd(b->redis, on_alive_reply, b, 9, argv, NULL);
		touch_rooms(b);
	}
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
	struct cf_room *room, *tmp;

	/* First on the new link: every EVALSHA after them finds the scripts (a restarted or
	 * promoted Redis has none). */
	load_script(b, &b->pub);
	load_script(b, &b->fetch);
	load_script(b, &b->presence);
	load_script(b, &b->alive);
	load_script(b, &b->newepoch);
	load_script(b, &b->history);
	load_script(b, &b->created);
	load_script(b, &b->dmkeep);
	load_script(b, &b->drain);
	load_script(b, &b->dmdone);
	alive_cb(&b->sul_alive);
	for (struct cf_user *u = b->reg->users; u; u = u->hh.next)
		redis_user(&b->bus, u->id, 1);

	/* The new subscriber link follows nothing yet: follow every room with members again and
	 * catch each up from its log once the subscription is confirmed. */
	HASH_ITER(hh, b->reg->rooms, room, tmp)
	{
		if (!room->members.count)
			continue;
		room->sync = CF_ROOM_SYNCING;
		room->fetching = 0;
		if (subscribe_room(b, room) < 0)
			log_warn("redis: cannot follow room '%s' again", room->name);
		/* If we were gone longer than node_ttl the others removed our users. */
		for (struct cf_presence *p = room->users; p; p = p->hh.next)
			if (p->sessions)
				redis_presence(&b->bus, room, p->id, p->name, 1);
	}
}

static void
on_down(void *ud, const char *why)
{
	struct bus_redis *b = ud;
	struct cf_room *room, *tmp;

	char **names = NULL;
	size_t n = 0;

	(void)why; /* logged by redis.c; /healthz and STATUS= say it */
	/* Rooms keep their members and mirrors; joins still waiting for a sync fail. Failing
	 * them may free rooms, so collect the names first. */
	HASH_ITER(hh, b->reg->rooms, room, tmp)
	{
		room->fetching = 0;
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

/* ---- publishing --------------------------------------------------------------------------- */

static void send_pub(struct req *p);

static void
on_wait_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;

	if (!rep || rep->type != REDIS_REPLY_INTEGER || rep->integer < 1) {
		log_debug("redis: no replica confirmed seq %llu of room '%s'",
		          (unsigned long long)p->m->seq, p->m->room);
		req_finish(p, rep ? -ETIMEDOUT : -ENOTCONN);
		return;
	}
	req_finish(p, 0);
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
		req_finish(p, rep ? -EIO : -ENOTCONN);
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
		req_finish(p, -ENOTCONN);
		return;
	}
	req_finish(p, 0);
}

static void
send_pub(struct req *p)
{
	struct bus_redis *b = p->b;
	struct cf_msg *m = p->m;
	char meta[512], log[512], nk[1024], ch[512], maxlen[16], ttl[16], epoch[24];
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
	                      m->room};
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
	r = cf_redis_cmd(b->redis, on_pub_reply, p, 15, argv, NULL);
	if (r < 0)
		req_finish(p, r);
}

static int
redis_publish(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	struct req *p;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	p = req_new(b, REQ_PUBLISH, ud, NULL);
	if (!p)
		return -ENOMEM;
	p->m = cf_msg_ref(m);
	p->cb.done = cb;
	p->tag = tag;
	send_pub(p);
	return 0;
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
		uint64_t epoch = reply_u64(rep->element[0]);
		struct cf_room tmp = {.epoch = epoch};

		if (rep->elements == 5 && rep->element[3]->type == REDIS_REPLY_STRING) {
			tmp.prev_epoch = reply_u64(rep->element[3]);
			tmp.base_seq = reply_u64(rep->element[4]);
		}

		msgs = calloc(ents->elements ? ents->elements : 1, sizeof(*msgs));
		if (!msgs)
			err = -ENOMEM;
		for (size_t i = ents->elements; msgs && i-- > 0;) {
			struct cf_msg *m = entry_msg(ents->element[i]);

			if (m)
				relabel(&tmp, m);
			if (m && m->epoch == epoch)
				msgs[n++] = m; /* older lives are not this room's history */
			else
				cf_msg_unref(m);
		}
		if (rd->cb.history)
			rd->cb.history(rd->ud, err, epoch, reply_u64(rep->element[1]), msgs, n);
		rd->cb.history = NULL;
	}
	if (rd->cb.history)
		rd->cb.history(rd->ud, err, 0, 0, NULL, 0);
	for (size_t i = 0; i < n; i++)
		cf_msg_unref(msgs[i]);
	free(msgs);
	req_free(rd);
}

static int
redis_history(struct cf_bus *bus, const char *room, uint64_t before, uint32_t limit,
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
	rd = req_new(b, REQ_HISTORY, ud, NULL);
	if (!rd)
		return -ENOMEM;
	rd->cb.history = cb;
	r = cf_redis_cmd(b->redis, on_history_reply, rd, 7, argv, NULL);
	if (r < 0)
		req_free(rd);
	return r;
}

/* ---- created rooms ------------------------------------------------------------------------ */

static void
on_created_reply(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct bus_redis *b = q->b;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep) {
		req_finish(q, -ENOTCONN);
	} else if (rep->type != REDIS_REPLY_INTEGER) {
		log_warn("redis: %s room '%s': %s", q->add ? "creating" : "checking", q->room,
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		req_finish(q, -EIO);
	} else {
		req_finish(q, rep->integer == 1 ? 0
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
	q = req_new(b, REQ_ROOM, ud, room);
	if (!q)
		return -ENOMEM;
	q->cb.room = cb;
	q->add = (uint8_t)add;
	snprintf(ck, sizeof(ck), "%screated", b->cfg->redis_prefix);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	snprintf(mx, sizeof(mx), "%u", max);
	r = cf_redis_cmd(b->redis, on_created_reply, q, 8, argv, NULL);
	if (r < 0)
		req_free(q);
	return r;
}

static int
redis_room_create(struct cf_bus *bus, const char *room, uint32_t max, cf_bus_room_cb *cb, void *ud)
{
	return send_idreq((struct bus_redis *)bus, room, max, 1, cb, ud);
}

static int
redis_room_check(struct cf_bus *bus, const char *room, cf_bus_room_cb *cb, void *ud)
{
	return send_idreq((struct bus_redis *)bus, room, 0, 0, cb, ud);
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
		req_finish(lws_container_of(b->reqs.head, struct req, list), -ECANCELED);
	free(b);
}

static const struct cf_bus_ops redis_ops = {
        .name = "redis",
        .publish = redis_publish,
        .cancel = redis_cancel,
        .healthy = redis_healthy,
        .status = redis_status,
        .settled = redis_settled,
        .watch = redis_watch,
        .unwatch = redis_unwatch,
        .presence = redis_presence,
        .dm = redis_dm,
        .history = redis_history,
        .room_create = redis_room_create,
        .room_check = redis_room_check,
        .user = redis_user,
        .dm_written = redis_dm_written,
        .online = redis_online,
        .store = redis_store,
        .stop = redis_stop,
        .free = redis_free,
};

struct cf_bus *
cf_bus_redis_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
                 struct cf_registry *reg, const char *node_id, const struct cf_bus_host *host,
                 char *err, size_t errlen)
{
	struct bus_redis *b;
	struct cf_redis_target t;
	struct cf_redis_events ev = {.up = on_up, .down = on_down, .message = on_message};

	if (cf_redis_target_from_config(cfg, &t, err, errlen) < 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->bus.ops = &redis_ops;
	b->bus.host = *host;
	b->reg = reg;
	b->cfg = cfg;
	b->replicated = !strcmp(cfg->redis_ack, "replicated");
	b->pub.name = "publish";
	b->pub.body = cf_lua_publish;
	b->fetch.name = "fetch";
	b->fetch.body = cf_lua_fetch;
	b->presence.name = "presence";
	b->presence.body = cf_lua_presence;
	b->alive.name = "liveness";
	b->alive.body = cf_lua_alive;
	b->history.name = "history";
	b->history.body = cf_lua_history;
	sha1_hex(cf_lua_history, b->history.sha);
	b->created.name = "created rooms";
	b->created.body = cf_lua_created;
	sha1_hex(cf_lua_created, b->created.sha);
	b->dmkeep.name = "keep";
	b->dmkeep.body = cf_lua_dmkeep;
	sha1_hex(cf_lua_dmkeep, b->dmkeep.sha);
	b->drain.name = "drain";
	b->drain.body = cf_lua_drain;
	sha1_hex(cf_lua_drain, b->drain.sha);
	b->dmdone.name = "dmdone";
	b->dmdone.body = cf_lua_dmdone;
	sha1_hex(cf_lua_dmdone, b->dmdone.sha);
	b->newepoch.name = "new epoch";
	b->newepoch.body = cf_lua_newepoch;
	sha1_hex(cf_lua_newepoch, b->newepoch.sha);
	sha1_hex(cf_lua_presence, b->presence.sha);
	sha1_hex(cf_lua_alive, b->alive.sha);
	b->ctx = ctx;
	snprintf(b->node, sizeof(b->node), "%s", node_id);
	sha1_hex(cf_lua_publish, b->pub.sha);
	sha1_hex(cf_lua_fetch, b->fetch.sha);
	reg->mirror = 1;
	cf_metrics.redis_mode = 1;
	ev.ud = b;
	b->redis = cf_redis_new(ctx, vh, cfg, &t, node_id, &ev);
	b->store = b->redis ? cf_bus_redis_store_new(b->redis, cfg) : NULL;
	if (!b->store) {
		cf_redis_free(b->redis);
		free(b);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return &b->bus;
}
