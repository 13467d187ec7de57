/* SPDX-License-Identifier: MIT */
/* bus_redis_store.c - the Redis store (store.h): the accounts of a cluster and its token
 * signing key, kept in Redis under redis.prefix (no TTL) and reached over the cluster bus's
 * connection, so that the bus stays the only Redis client and the key layout lives in the bus
 * layer (bus_redis.c's keep script reads acct:<name> too).
 *
 * Keys: hash acct:<name> {id, hash, gen, created}, string acctid:<id> -> name, list accts (the
 * names in creation order; its length bounds auth.max_accounts), string authkey (hex). Every
 * script is sent with EVAL: there is no SHA cache to lose on a restarted Redis, and they are
 * small and rare. */
#define _GNU_SOURCE /* explicit_bzero */
#include "base/log.h"
#include "base/text.h"
#include "bus/redis/redis.h"
#include "bus/store.h"
#include "config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cf_lua.h"

/* The scripts are src/bus/redis/lua/store_<name>.lua (cf_lua.h, src/bus/redis/lua/embed.cmake). */

struct redis_store {
	struct cf_store st; /* first: cf_store* <-> redis_store* */
	struct cf_redis *r; /* the bus's */
	const struct cf_config *cfg;
};

/* One script in flight: whose callback runs with its reply. */
struct req {
	const struct redis_store *rs;
	union {
		cf_store_acct_cb *acct;
		cf_store_done_cb *done;
		cf_store_list_cb *list;
		cf_store_key_cb *key;
	} cb;
	void *ud;
	char name[]; /* bump: the account's name */
};

static struct req *
req_new(const struct redis_store *rs, void *ud, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	struct req *q = calloc(1, sizeof(*q) + n + 1);

	if (!q)
		return NULL;
	q->rs = rs;
	q->ud = ud;
	memcpy(q->name, name ? name : "", n + 1);
	return q;
}

static int
rkey(char *buf, size_t len, const struct redis_store *rs, const char *kind, const char *rest)
{
	int n = snprintf(buf, len, "%s%s%s", rs->cfg->redis_prefix, kind, rest);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* Sends EVAL with q as the reply's privdata: 0, or -EAGAIN (Redis unreachable, q freed). */
static int
eval(struct req *q, cf_redis_reply_cb *cb, const char *script, int nkeys, int nargs,
     const char **args)
{
	const char *argv[16];
	char nk[8];

	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = nk;
	for (int i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	if (cf_redis_cmd(q->rs->r, cb, q, 3 + nargs, argv, NULL) < 0) {
		free(q);
		return -EAGAIN;
	}
	return 0;
}

/* A usable reply, or NULL after logging an error reply. */
static const redisReply *
reply_ok(const redisReply *rep)
{
	if (rep && rep->type == REDIS_REPLY_ERROR) {
		log_warn("auth: Redis: %.*s", (int)rep->len, rep->str);
		return NULL;
	}
	return rep;
}

static int
rep_str(const redisReply *r, size_t i, const char **ret)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return -1;
	*ret = r->element[i]->str;
	return 0;
}

static uint64_t
rep_u64(const redisReply *r, size_t i)
{
	const char *s;

	return rep_str(r, i, &s) < 0 ? 0 : strtoull(s, NULL, 10);
}

/* An account from Redis: 0, or -1 when its id is not one (the name is borrowed from the
 * reply). */
static int
acct_set(struct cf_account *a, const char *id, const char *name, uint64_t created, uint64_t gen)
{
	if (strlen(id) != CF_STORE_ID_LEN)
		return -1;
	memcpy(a->id, id, CF_STORE_ID_LEN + 1);
	a->name = (char *)name;
	a->created = (int64_t)created;
	a->gen = gen;
	return 0;
}

/* ---- get ---------------------------------------------------------------------------------- */

static void
on_get(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	const redisReply *r = reply_ok(rep);
	struct cf_account a;
	const char *name, *id, *hash;

	if (!r) {
		q->cb.acct(q->ud, -EAGAIN, NULL, NULL);
	} else if (r->type == REDIS_REPLY_NIL) {
		q->cb.acct(q->ud, -ENOENT, NULL, NULL);
	} else if (rep_str(r, 0, &name) < 0 || rep_str(r, 1, &id) < 0 || rep_str(r, 2, &hash) < 0 ||
	           acct_set(&a, id, name, rep_u64(r, 4), rep_u64(r, 3)) < 0) {
		log_warn("auth: a malformed account in Redis");
		q->cb.acct(q->ud, -EAGAIN, NULL, NULL);
	} else {
		q->cb.acct(q->ud, 0, &a, hash);
	}
	free(q);
}

static int
redis_get(struct cf_store *st, int by_id, const char *what, cf_store_acct_cb *cb, void *ud)
{
	const struct redis_store *rs = (const struct redis_store *)st;
	struct req *q = req_new(rs, ud, NULL);
	const char *args[3] = {rs->cfg->redis_prefix, by_id ? "id" : "name", what};

	if (!q)
		return -ENOMEM;
	q->cb.acct = cb;
	return eval(q, on_get, cf_lua_store_get, 0, 3, args);
}

/* ---- create ------------------------------------------------------------------------------- */

static void
on_create(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	const redisReply *r = reply_ok(rep);

	if (!r || r->type != REDIS_REPLY_INTEGER)
		q->cb.done(q->ud, -EAGAIN);
	else
		q->cb.done(q->ud, r->integer == 0 ? -EEXIST : r->integer < 0 ? -ENOSPC : 0);
	free(q);
}

static int
redis_create(struct cf_store *st, const struct cf_account *acct, const char *hash,
             cf_store_done_cb *cb, void *ud)
{
	const struct redis_store *rs = (const struct redis_store *)st;
	char k1[512], k2[256], k3[256], created[24], max[24];
	const char *args[8] = {k1, k2, k3, acct->name, acct->id, hash, created, max};
	struct req *q;

	if (rkey(k1, sizeof(k1), rs, "acct:", acct->name) < 0 ||
	    rkey(k2, sizeof(k2), rs, "acctid:", acct->id) < 0 ||
	    rkey(k3, sizeof(k3), rs, "accts", "") < 0)
		return -EINVAL;
	snprintf(created, sizeof(created), "%" PRId64, acct->created);
	snprintf(max, sizeof(max), "%d", rs->cfg->auth_max_accounts);
	q = req_new(rs, ud, NULL);
	if (!q)
		return -ENOMEM;
	q->cb.done = cb;
	return eval(q, on_create, cf_lua_store_create, 3, 8, args);
}

/* ---- bump --------------------------------------------------------------------------------- */

static void
on_bump(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	const redisReply *r = reply_ok(rep);
	struct cf_account a;
	const char *id;

	if (!r)
		q->cb.acct(q->ud, -EAGAIN, NULL, NULL);
	else if (r->type == REDIS_REPLY_NIL)
		q->cb.acct(q->ud, -ENOENT, NULL, NULL);
	else if (rep_str(r, 0, &id) < 0 ||
	         acct_set(&a, id, q->name, rep_u64(r, 2), rep_u64(r, 1)) < 0)
		q->cb.acct(q->ud, -EAGAIN, NULL, NULL);
	else
		q->cb.acct(q->ud, 0, &a, NULL);
	free(q);
}

static int
redis_bump(struct cf_store *st, const char *name, cf_store_acct_cb *cb, void *ud)
{
	const struct redis_store *rs = (const struct redis_store *)st;
	char k[512];
	const char *args[1] = {k};
	struct req *q;

	if (rkey(k, sizeof(k), rs, "acct:", name) < 0)
		return -ENOENT; /* no account has a name that long */
	q = req_new(rs, ud, name);
	if (!q)
		return -ENOMEM;
	q->cb.acct = cb;
	return eval(q, on_bump, cf_lua_store_bump, 1, 1, args);
}

/* ---- list --------------------------------------------------------------------------------- */

static void
on_list(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	const redisReply *r = reply_ok(rep);
	struct cf_account *v = NULL;
	size_t n = 0;
	int err = 0;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 4)
		err = -EAGAIN;
	else if (!(v = calloc(r->elements / 4 + 1, sizeof(*v))))
		err = -ENOMEM;
	for (; !err && n < r->elements / 4; n++) {
		const char *name, *id;

		if (rep_str(r, 4 * n, &name) < 0 || rep_str(r, 4 * n + 1, &id) < 0 ||
		    acct_set(&v[n], id, name, rep_u64(r, 4 * n + 3), rep_u64(r, 4 * n + 2)) < 0)
			err = -EAGAIN;
	}
	q->cb.list(q->ud, err, err ? NULL : v, err ? 0 : n);
	free(v);
	free(q);
}

static int
redis_list(struct cf_store *st, cf_store_list_cb *cb, void *ud)
{
	const struct redis_store *rs = (const struct redis_store *)st;
	char k[256], max[24];
	const char *args[3] = {k, rs->cfg->redis_prefix, max};
	struct req *q;

	if (rkey(k, sizeof(k), rs, "accts", "") < 0)
		return -EINVAL;
	snprintf(max, sizeof(max), "%d", rs->cfg->auth_max_accounts);
	q = req_new(rs, ud, NULL);
	if (!q)
		return -ENOMEM;
	q->cb.list = cb;
	return eval(q, on_list, cf_lua_store_list, 1, 3, args);
}

/* ---- the signing key ---------------------------------------------------------------------- */

static void
on_key(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	const redisReply *r = reply_ok(rep);
	unsigned char key[CF_STORE_KEY_LEN];

	if (!r) {
		q->cb.key(q->ud, -EAGAIN, NULL, 0);
	} else if (r->type != REDIS_REPLY_STRING || cf_text_unhex(r->str, key, sizeof(key)) < 0) {
		log_error("auth: %sauthkey in Redis is not a key of %d hex-encoded bytes",
		          q->rs->cfg->redis_prefix, CF_STORE_KEY_LEN);
		q->cb.key(q->ud, -EAGAIN, NULL, 0);
	} else {
		q->cb.key(q->ud, 0, key, sizeof(key));
	}
	explicit_bzero(key, sizeof(key));
	free(q);
}

static int
redis_key(struct cf_store *st, cf_store_key_cb *cb, void *ud)
{
	const struct redis_store *rs = (const struct redis_store *)st;
	unsigned char rnd[CF_STORE_KEY_LEN];
	char hex[2 * CF_STORE_KEY_LEN + 1], k[256];
	const char *args[2] = {k, hex};
	struct req *q;
	int r;

	if (rkey(k, sizeof(k), rs, "authkey", "") < 0 ||
	    getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	/* Proposed: the first node's key wins (SET NX), and every node reads that one. */
	cf_text_hex(rnd, sizeof(rnd), hex);
	q = req_new(rs, ud, NULL);
	if (q) {
		q->cb.key = cb;
		r = eval(q, on_key, cf_lua_store_key, 1, 2, args);
	} else {
		r = -ENOMEM;
	}
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(hex, sizeof(hex));
	return r;
}

static void
redis_free(struct cf_store *st)
{
	free(st);
}

static const struct cf_store_ops redis_ops = {
        .get = redis_get,
        .create = redis_create,
        .bump = redis_bump,
        .list = redis_list,
        .key = redis_key,
        .free = redis_free,
};

struct cf_store *
cf_bus_redis_store_new(struct cf_redis *r, const struct cf_config *cfg)
{
	struct redis_store *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->st.ops = &redis_ops;
	rs->r = r;
	rs->cfg = cfg;
	return &rs->st;
}
