/* SPDX-License-Identifier: MIT */
/* store.h - where accounts and the token signing key are kept, behind one interface, so that
 * auth.c (which decides what an account operation does: hashing, limits, tokens) does not know
 * where: the file store of a standalone node (auth_file.c: memory, state.dir/accounts.json and
 * auth.key) or the Redis store of the cluster bus (bus_redis_store.c, over the bus's own
 * connection: the bus is the only Redis client). A store keeps records; it hashes nothing and
 * signs nothing.
 *
 * Every asynchronous operation returns 0 (its callback runs exactly once) or a negative errno
 * (it never runs). The callback may run before the operation returns: the file store answers
 * at once, the Redis store later, from the loop. Errors: -ENOENT (no such account), -EEXIST
 * (the name is taken), -ENOSPC (auth.max_accounts are kept), -EAGAIN (unreachable now, or what
 * came back was not an account), -EIO (not written), -EINVAL, -ENOMEM. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_config;
struct cf_redis;

#define CF_STORE_ID_LEN  36 /* an account id: a UUID's text */
#define CF_STORE_KEY_LEN 32 /* bytes of a signing key a store makes */

/* The public part of an account (never the hash). */
struct cf_account {
	char id[CF_STORE_ID_LEN + 1];
	char *name;      /* owned by whoever holds the struct */
	int64_t created; /* unix seconds */
	uint64_t gen;
};

/* An account (and its hash where the operation reads it, else NULL), borrowed for the call;
 * acct is NULL when err < 0. */
typedef void cf_store_acct_cb(void *ud, int err, const struct cf_account *acct, const char *hash);
typedef void cf_store_done_cb(void *ud, int err);
/* Accounts in creation order, borrowed for the call. */
typedef void cf_store_list_cb(void *ud, int err, const struct cf_account *accts, size_t n);
/* The signing key, borrowed for the call. */
typedef void cf_store_key_cb(void *ud, int err, const unsigned char *key, size_t len);

struct cf_store;

struct cf_store_ops {
	/* The account with that name (by_id 0) or id (1), with its hash. */
	int (*get)(struct cf_store *st, int by_id, const char *what, cf_store_acct_cb *cb,
	           void *ud);
	/* Keeps a new account with its hash, unless its name is taken or auth.max_accounts are
	 * kept: decided in one step, so two nodes racing for a name cannot both win. */
	int (*create)(struct cf_store *st, const struct cf_account *acct, const char *hash,
	              cf_store_done_cb *cb, void *ud);
	/* Adds one to the account's gen; the result is the account as it is now. */
	int (*bump)(struct cf_store *st, const char *name, cf_store_acct_cb *cb, void *ud);
	/* Every account, in creation order, at most auth.max_accounts. */
	int (*list)(struct cf_store *st, cf_store_list_cb *cb, void *ud);
	/* The token signing key of every node that shares the store: CF_STORE_KEY_LEN random
	 * bytes, made and kept the first time one is asked for. */
	int (*key)(struct cf_store *st, cf_store_key_cb *cb, void *ud);
	/* Answers now, for a store that can without waiting (NULL: it cannot). Whether name is an
	 * account: 1 or 0. */
	int (*has)(const struct cf_store *st, const char *name);
	/* What create would answer for name now, before its password is hashed: 0, -EEXIST or
	 * -ENOSPC. */
	int (*can_create)(const struct cf_store *st, const char *name);
	void (*free)(struct cf_store *st);
};

struct cf_store {
	const struct cf_store_ops *ops;
};

int cf_store_get(struct cf_store *st, int by_id, const char *what, cf_store_acct_cb *cb, void *ud);
int cf_store_create(struct cf_store *st, const struct cf_account *acct, const char *hash,
                    cf_store_done_cb *cb, void *ud);
int cf_store_bump(struct cf_store *st, const char *name, cf_store_acct_cb *cb, void *ud);
int cf_store_list(struct cf_store *st, cf_store_list_cb *cb, void *ud);
int cf_store_key(struct cf_store *st, cf_store_key_cb *cb, void *ud);
/* 1 or 0, or -EOPNOTSUPP where only an asynchronous operation can tell (Redis). */
int cf_store_has(const struct cf_store *st, const char *name);
/* 0 (also where the store cannot tell now: create decides), -EEXIST or -ENOSPC. */
int cf_store_can_create(const struct cf_store *st, const char *name);
/* NULL-safe. */
void cf_store_free(struct cf_store *st);

/* The Redis store (bus_redis_store.c): accounts under redis.prefix, sent over r (borrowed: the
 * cluster bus's connection, which must outlive the store). Only the cluster bus makes one;
 * everyone else gets it from cf_bus_store(). NULL on OOM. */
struct cf_store *cf_bus_redis_store_new(struct cf_redis *r, const struct cf_config *cfg);
