/* SPDX-License-Identifier: MIT */
/* bus_redis_reads.c - read markers in a cluster: hash read:<uid> (room -> seq) with its recency
 * set readt:<uid>, on the user's shard, raised by readset.lua, which tells the user's sessions on
 * every node on the user's channel ({"rd":1,"u","r","s"}); what arrives there is parsed as
 * hostile input. No TTL: markers last as accounts do, bounded by rooms.max_read_markers. */
#include "bus/redis/bus_redis_int.h"

#include "base/ident.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"

/* A request: which rooms were asked about (get), in the order asked. */
struct reads_op {
	size_t n;
};

/* 1 to 19 decimal digits: what readset.lua writes (strtoull would take "-1" or " 1"). */
static int
digits(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n && n <= 19 && !s[n];
}

static void
finish_set(struct req *q, int err, uint64_t seq, int moved)
{
	if (q->cb.reads_set)
		q->cb.reads_set(q->ud, err, seq, moved);
	cf_bus_redis_req_free(q);
}

static void
on_set(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	char *end;
	uint64_t v;

	if (check_link_error(q->b, rep))
		rep = NULL;
	if (!rep) {
		finish_set(q, -ENOTCONN, 0, 0);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER || !digits(rep->element[0]->str) ||
	    ((v = strtoull(rep->element[0]->str, &end, 10)), *end) || v >= (1ULL << 53)) {
		log_warn("redis: raising a read marker: %s",
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		finish_set(q, -EIO, 0, 0);
		return;
	}
	finish_set(q, 0, v, rep->element[1]->integer == 1);
}

static void
on_get(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct reads_op *op = q->own;
	uint64_t *seqs;
	int err = 0;

	if (check_link_error(q->b, rep))
		rep = NULL;
	seqs = calloc(op->n ? op->n : 1, sizeof(*seqs));
	if (!rep || !seqs)
		err = !rep ? -ENOTCONN : -ENOMEM;
	else if (op->n && (rep->type != REDIS_REPLY_ARRAY || rep->elements != op->n))
		err = -EIO;
	for (size_t i = 0; !err && i < op->n; i++) {
		const redisReply *e = rep->element[i];
		char *end;

		/* A marker that is not a number is none: the room counts as unread. */
		if (e->type == REDIS_REPLY_STRING && digits(e->str))
			seqs[i] = strtoull(e->str, &end, 10);
		if (seqs[i] >= (1ULL << 53))
			seqs[i] = 0;
	}
	if (q->cb.reads_get)
		q->cb.reads_get(q->ud, err, err ? NULL : seqs, err ? 0 : op->n);
	free(seqs);
	cf_bus_redis_req_free(q);
}

static struct req *
new_req(struct bus_redis *b, void *ud, size_t n)
{
	struct reads_op *op = calloc(1, sizeof(*op));
	struct req *q = op ? cf_bus_redis_req_new(b, REQ_READS, ud, NULL) : NULL;

	if (!q) {
		free(op);
		return NULL;
	}
	op->n = n;
	q->own = op;
	return q;
}

int
cf_bus_redis_read_set(struct cf_bus *bus, const char *uid, const char *room, uint64_t seq,
                      cf_bus_read_cb *cb, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char hk[512], zk[512], ch[512], s[24], mx[16];
	char *msg;
	json_t *o;
	struct req *q;
	int r;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (key(hk, sizeof(hk), b, "read", uid) < 0 || key(zk, sizeof(zk), b, "readt", uid) < 0 ||
	    key(ch, sizeof(ch), b, "user", uid) < 0)
		return -ENAMETOOLONG;
	snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
	snprintf(mx, sizeof(mx), "%d", b->cfg->read_max_markers);
	o = json_pack("{s:i,s:s,s:s,s:s}", "rd", 1, "u", uid, "r", room, "s", s);
	msg = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	q = msg ? new_req(b, ud, 0) : NULL;
	if (!q) {
		free(msg);
		return -ENOMEM;
	}
	q->cb.reads_set = cb;
	{
		const char *argv[] = {"EVALSHA", b->readset.sha, "2", hk, zk, room, s, mx, ch, msg};

		r = cf_redis_cmd(b->redis, on_set, q, 10, argv, NULL);
	}
	free(msg);
	if (r < 0)
		cf_bus_redis_req_free(q);
	return r;
}

int
cf_bus_redis_read_get(struct cf_bus *bus, const char *uid, const char *const *rooms, size_t n,
                      cf_bus_reads_cb *cb, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	const char *argv[2 + CF_BUS_READS_MAX];
	char hk[512];
	struct req *q;
	int r;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (key(hk, sizeof(hk), b, "read", uid) < 0)
		return -ENAMETOOLONG;
	q = new_req(b, ud, n);
	if (!q)
		return -ENOMEM;
	q->cb.reads_get = cb;
	q->add = 1;
	if (!n) {
		/* Nothing to ask Redis: answered from the loop like any reply would be. */
		const char *ping[] = {"PING"};

		((struct reads_op *)q->own)->n = 0;
		r = cf_redis_cmd(b->redis, on_get, q, 1, ping, NULL);
		if (r < 0)
			cf_bus_redis_req_free(q);
		return r;
	}
	argv[0] = "HMGET";
	argv[1] = hk;
	for (size_t i = 0; i < n; i++)
		argv[2 + i] = rooms[i];
	r = cf_redis_cmd(b->redis, on_get, q, (int)(2 + n), argv, NULL);
	if (r < 0)
		cf_bus_redis_req_free(q);
	return r;
}

int
cf_bus_redis_on_read(struct bus_redis *b, json_t *o)
{
	const char *uid, *room, *s;
	size_t ul, rl;
	char *end;
	uint64_t seq;

	if (!json_object_get(o, "rd"))
		return 0;
	if (json_unpack(o, "{s:s%,s:s%,s:s}", "u", &uid, &ul, "r", &room, &rl, "s", &s) < 0 ||
	    cf_ident_space_of(uid, NULL) != CF_ID_ACCOUNT ||
	    !cf_ident_ok(uid, (size_t)b->cfg->max_name) ||
	    cf_text_name_ok(room, rl, 1, CF_ROOM_NAME_MAX, 0) < 0 || !digits(s) ||
	    ((seq = strtoull(s, &end, 10)), *end) || seq >= (1ULL << 53)) {
		log_warn("redis: ignoring a malformed read marker on a user channel");
		return 1;
	}
	if (b->bus.host.read)
		b->bus.host.read(b->bus.host.ud, uid, room, seq);
	return 1;
}
