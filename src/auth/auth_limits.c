/* SPDX-License-Identifier: MIT */
/* auth_limits.c - the password-attempt buckets (see auth_limits.h): a hash table of token
 * buckets (ratelimit.c, its clock slowed 60 times so rates are per minute), bounded at
 * LIMITS_MAX entries; full buckets are dropped when it fills, as they are the same as none. */
#define _GNU_SOURCE /* asprintf */
#include "auth/auth_limits.h"
#include "base/clock.h"
#include "base/ratelimit.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define LIMITS_MAX 65536 /* entries (names and addresses) held at once */

/* A bucket: attempts from one client address ("i:<ip>"), attempts at one account name from
 * one address ("p:<ip> <name>"; addresses hold no space), or failed logins for one name from
 * anywhere ("n:<name>", the slow-down). */
struct cf_auth_limit {
	UT_hash_handle hh;
	struct cf_bucket b;
	int rate; /* per minute, also the burst */
	char key[];
};

/* Per minute: the bucket's clock runs 60 times slower, so its rate is per minute. */
static uint64_t
minute_clock(void)
{
	return cf_now_us() / 60;
}

static void
limits_sweep(struct cf_auth_limits *t, uint64_t now)
{
	struct cf_auth_limit *l, *tmp;

	/* A bucket that has refilled completely is the same as none. */
	HASH_ITER(hh, t->table, l, tmp)
	{
		if (l->b.tokens + (double)(now - l->b.last_us) * l->rate / 1e6 >= l->rate) {
			HASH_DEL(t->table, l);
			free(l);
			t->n--;
		}
	}
}

static struct cf_auth_limit *
limit_get(struct cf_auth_limits *t, char kind, const char *what, int burst, uint64_t now)
{
	size_t n = strlen(what) + 2;
	char *key = malloc(n + 1);
	struct cf_auth_limit *l;

	if (!key)
		return NULL;
	snprintf(key, n + 1, "%c:%s", kind, what);
	HASH_FIND_STR(t->table, key, l);
	if (!l) {
		if (t->n >= LIMITS_MAX)
			limits_sweep(t, now);
		if (t->n >= LIMITS_MAX || !(l = malloc(sizeof(*l) + n + 1))) {
			free(key);
			return NULL;
		}
		memcpy(l->key, key, n + 1);
		l->rate = burst;
		cf_bucket_init(&l->b, burst, now);
		HASH_ADD_STR(t->table, key, l);
		t->n++;
	}
	free(key);
	return l;
}

int
cf_auth_limits_attempt(struct cf_auth_limits *t, const char *ip, const char *name)
{
	const struct cf_config *cfg = t->cfg;
	uint64_t now = minute_clock();
	struct cf_auth_limit *li = limit_get(t, 'i', ip, cfg->auth_attempts_ip, now);
	struct cf_auth_limit *ln = NULL;
	char *pair = NULL;

	/* The name's bucket is per address: an attacker who exhausts it locks out only
	 * itself, never the owner logging in from elsewhere (the slow-down in cf_auth_verify()
	 * is what bounds guessing from many addresses). */
	if (name && asprintf(&pair, "%s %s", ip, name) < 0)
		return -EAGAIN;
	if (pair)
		ln = limit_get(t, 'p', pair, cfg->auth_attempts_name, now);
	free(pair);
	if (!li || (name && !ln))
		return -EAGAIN;
	/* Both are charged: an attacker spreading over names still pays per address. */
	if (!cf_bucket_take(&li->b, cfg->auth_attempts_ip, cfg->auth_attempts_ip, now))
		return -EAGAIN;
	if (ln && !cf_bucket_take(&ln->b, cfg->auth_attempts_name, cfg->auth_attempts_name, now))
		return -EAGAIN;
	return 0;
}

/* A failed login for name (wrong password, or no such account): one token of its slow-down
 * bucket. */
void
cf_auth_limits_failed(struct cf_auth_limits *t, const char *name)
{
	uint64_t now = minute_clock();
	struct cf_auth_limit *l = limit_get(t, 'n', name, t->cfg->auth_failures_name, now);

	if (l)
		(void)cf_bucket_take(&l->b, t->cfg->auth_failures_name, t->cfg->auth_failures_name,
		                     now);
}

/* Whether the bucket kind:what is empty, at rate per minute (it is not charged here). */
static int
bucket_empty(struct cf_auth_limits *t, char kind, const char *what, int rate)
{
	uint64_t now = minute_clock();
	struct cf_auth_limit *l;
	size_t n = strlen(what) + 3;
	char *key = malloc(n);
	double tokens;

	if (!key)
		return 0;
	snprintf(key, n, "%c:%s", kind, what);
	HASH_FIND_STR(t->table, key, l);
	free(key);
	if (!l)
		return 0;
	tokens = l->b.tokens + (double)(now > l->b.last_us ? now - l->b.last_us : 0) * rate / 1e6;
	return tokens < 1.0;
}

/* Whether name's slow-down bucket is empty (it is not charged here: only failures are). */
int
cf_auth_limits_slowed(struct cf_auth_limits *t, const char *name)
{
	return bucket_empty(t, 'n', name, t->cfg->auth_failures_name);
}

int
cf_auth_limits_spent(struct cf_auth_limits *t, const char *ip)
{
	return bucket_empty(t, 'i', ip, t->cfg->auth_attempts_ip);
}

void
cf_auth_limits_clear(struct cf_auth_limits *t)
{
	struct cf_auth_limit *l, *tmp;

	HASH_ITER(hh, t->table, l, tmp)
	{
		HASH_DEL(t->table, l);
		free(l);
	}
	t->n = 0;
}
