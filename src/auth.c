/* SPDX-License-Identifier: MIT */
/* auth.c - accounts and access tokens (see auth.h).
 *
 * Every operation is a `struct op` that walks through a few steps: a lookup in the account
 * store (store.h: the file store standalone, the Redis store beside the cluster bus), maybe a
 * password job on the hashing thread, maybe a write to the store, maybe a token. A store may
 * answer before its call returns (the file store) or later (Redis); either way the op ends in
 * finish(), which puts it on the done list, and a zero-delay timer runs the callbacks in order,
 * so no callback ever runs inside the call that queued it.
 *
 * The hashing thread is the one exception to "one loop, no threads" (docs/architecture.md):
 * yescrypt at libcrypt's default cost takes about 60 ms here, so one login on the loop would
 * stall every chat for that long, and a handful per second would stall it for good. The thread
 * only runs crypt_rn() on an op's own buffers; the queue and the completion list are under one
 * mutex; completions wake the loop through an eventfd adopted into lws as a raw file. */
#define _GNU_SOURCE /* explicit_bzero */
#include "confab/auth.h"
#include "confab/auth_file.h"
#include "confab/clock.h"
#include "confab/config.h"
#include "confab/log.h"
#include "confab/metrics.h"
#include "confab/ratelimit.h"
#include "confab/store.h"
#include "confab/text.h"

#include <crypt.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uthash.h>

#define SECRET_MIN    32    /* bytes of a configured secret */
#define LIMITS_MAX    65536 /* rate-limit entries (names and addresses) held at once */
#define TOKEN_VERSION "1"

/* A rate-limit bucket: attempts from one client address ("i:<ip>"), attempts at one account
 * name from one address ("p:<ip> <name>"; addresses hold no space), or failed logins for one
 * name from anywhere ("n:<name>", the slow-down). */
struct limit {
	UT_hash_handle hh;
	struct cf_bucket b;
	int rate; /* per minute, also the burst */
	char key[];
};

enum op_kind { OP_CREATE, OP_VERIFY, OP_BY_NAME, OP_BY_ID, OP_TOKEN, OP_BUMP, OP_LIST };
enum job_kind { JOB_HASH, JOB_CHECK };

struct op;
typedef void step_fn(struct op *o);

struct op {
	struct lws_dll2 list;  /* on a->ops until freed */
	struct lws_dll2 dlist; /* on a->done once finished */
	struct lws_dll2 wlist; /* on a->wq or a->wdone, under a->mu */
	struct cf_auth *a;
	enum op_kind kind;
	cf_auth_cb *cb;
	cf_auth_list_cb *lcb;
	void *ud;
	int64_t tag;
	int err;
	char *arg; /* the name, id or token asked about (owned) */
	char *pw;  /* owned, wiped */
	size_t pwlen;
	enum job_kind job;
	int job_err;
	char hash[CRYPT_OUTPUT_SIZE]; /* the hash made, or the stored one to check against */
	struct cf_account acct;       /* the result (name owned) */
	int have_acct;
	uint64_t tok_gen; /* the gen a token carried */
	char token[CF_AUTH_TOKEN_MAX];
	int have_token;
	struct cf_account *accts; /* OP_LIST: names owned */
	size_t nlist;
	step_fn *next; /* what runs once the key is known */
	int unknown;   /* OP_VERIFY of a name without an account: the check is a stand-in */
	int delayed;   /* sul_delay is scheduled (the per-name slow-down) */
	lws_sorted_usec_list_t sul_delay;
};

struct cf_auth {
	struct lws_context *ctx;
	const struct cf_config *cfg;
	struct cf_store *store;
	struct cf_store *own; /* the file store, opened here when no store was given */
	unsigned char key[CF_AUTH_KEY_MAX];
	size_t keylen; /* 0: not known yet (the first operation that needs it asks the store) */
	/* A yescrypt setting (a salt at libcrypt's default cost, no hash): a login for a name
	 * without an account is checked against it, so it costs what a real login costs. */
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];
	/* rate limits */
	struct limit *limits;
	uint32_t nlimits;
	/* operations */
	struct lws_dll2_owner ops, done;
	lws_sorted_usec_list_t sul_done;
	int stopped;
	/* the hashing thread */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lws_dll2_owner wq, wdone; /* under mu */
	int quit;                        /* under mu */
	uint32_t njobs;                  /* queued or running; loop side */
	int efd;
	struct lws *ewsi;
};

static int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- building blocks ---------------------------------------------------------------------- */

/* crypt_rn() of the password (pwlen bytes, no NUL) with setting (a salt, or a whole hash to
 * check against) into out: 0, -ENOMEM, or -EIO when libcrypt refuses or out is too small. The
 * copy of the password and libcrypt's scratch space are wiped. */
static int
crypt_pw(const char *pw, size_t pwlen, const char *setting, char *out, size_t outlen)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *pwz = malloc(pwlen + 1), *h;
	int r = -ENOMEM;

	if (cd && pwz) {
		memcpy(pwz, pw, pwlen);
		pwz[pwlen] = '\0';
		h = crypt_rn(pwz, setting, cd, sizeof(*cd));
		r = !h || h[0] == '*' || strlen(h) >= outlen ? -EIO : 0;
		if (!r)
			memcpy(out, h, strlen(h) + 1);
		explicit_bzero(pwz, pwlen);
		explicit_bzero(cd, sizeof(*cd));
	}
	free(pwz);
	free(cd);
	return r;
}

int
cf_auth_hash(const char *pw, size_t pwlen, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (memchr(pw, '\0', pwlen))
		return -EINVAL;
	/* NULL random bytes: libcrypt takes them from getentropy(). Cost 0: its default. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
		return -EIO;
	return crypt_pw(pw, pwlen, setting, out, outlen);
}

int
cf_auth_hash_check(const char *hash, const char *pw, size_t pwlen)
{
	char h[CRYPT_OUTPUT_SIZE];
	size_t n = strlen(hash);
	int r;

	if (hash[0] != '$' || memchr(pw, '\0', pwlen))
		return hash[0] != '$' ? -EINVAL : -EACCES;
	r = crypt_pw(pw, pwlen, hash, h, sizeof(h));
	if (r == 0)
		r = strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0 ? 0 : -EACCES;
	else if (r == -EIO)
		r = -EINVAL; /* not a hash libcrypt knows */
	explicit_bzero(h, sizeof(h));
	return r;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of n bytes into out; the length written, or 0 if out is too small. */
static size_t
b64_enc(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	if ((n + 2) / 3 * 4 + 1 > outlen)
		return 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;

		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (k > 1)
			out[o++] = b64url[(v >> 6) & 63];
		if (k > 2)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/* Decodes n characters of unpadded base64url; the length, or -1 when it is not that. */
static ssize_t
b64_dec(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	size_t o = 0;
	uint32_t v = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = b64_val(in[i]);

		if (c < 0)
			return -1;
		v = (v << 6) | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* The bits left over must be zero, so that one token has one spelling. */
	if (bits && (v & ((1u << bits) - 1)))
		return -1;
	return (ssize_t)o;
}

int
cf_auth_token_sign(const unsigned char *key, size_t keylen, const char *id, uint64_t gen,
                   int64_t exp, char *out, size_t outlen)
{
	char payload[128], mac64[48];
	unsigned char mac[EVP_MAX_MD_SIZE], nonce[8];
	unsigned int maclen = 0;
	int n;
	size_t p;

	/* A random nonce makes every token distinct, also two issued in the same second (seed
	 * 001's signIn promises a new access key each time). */
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return -EIO;
	n = snprintf(payload, sizeof(payload),
	             TOKEN_VERSION ":%s:%" PRIu64 ":%" PRId64 ":%02x%02x%02x%02x%02x%02x%02x%02x",
	             id, gen, exp, nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5],
	             nonce[6], nonce[7]);
	if (n < 0 || (size_t)n >= sizeof(payload) || strlen(id) != CF_AUTH_ID_LEN || !keylen)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)payload, (size_t)n, mac,
	          &maclen))
		return -EINVAL;
	p = b64_enc((const unsigned char *)payload, (size_t)n, out, outlen);
	if (!p || p + 2 > outlen)
		return -EINVAL;
	out[p++] = '.';
	if (!b64_enc(mac, maclen, mac64, sizeof(mac64)) || p + strlen(mac64) + 1 > outlen)
		return -EINVAL;
	memcpy(out + p, mac64, strlen(mac64) + 1);
	return 0;
}

/* A decimal without sign, leading zeros or overflow: 0 or -1. */
static int
parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (!n || n > 19 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

int
cf_auth_token_parse(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                    char ret_id[CF_AUTH_ID_LEN + 1], uint64_t *ret_gen)
{
	unsigned char payload[128], mac[64], want[EVP_MAX_MD_SIZE];
	unsigned int wantlen = 0;
	const char *dot = strchr(token, '.'), *p, *c1, *c2, *c3, *c4;
	ssize_t plen, mlen;
	uint64_t gen, exp;

	if (!dot || !keylen || strlen(token) >= CF_AUTH_TOKEN_MAX)
		return -EBADMSG;
	plen = b64_dec(token, (size_t)(dot - token), payload, sizeof(payload) - 1);
	mlen = b64_dec(dot + 1, strlen(dot + 1), mac, sizeof(mac));
	if (plen <= 0 || mlen <= 0)
		return -EBADMSG;
	if (!HMAC(EVP_sha256(), key, (int)keylen, payload, (size_t)plen, want, &wantlen))
		return -EBADMSG;
	if ((size_t)mlen != wantlen || CRYPTO_memcmp(mac, want, wantlen))
		return -EBADMSG;
	/* Signed by us: still parsed strictly. */
	payload[plen] = '\0';
	p = (const char *)payload;
	if (memchr(p, '\0', (size_t)plen) || strncmp(p, TOKEN_VERSION ":", 2))
		return -EBADMSG;
	c1 = p + 1;
	c2 = strchr(c1 + 1, ':');
	c3 = c2 ? strchr(c2 + 1, ':') : NULL;
	c4 = c3 ? strchr(c3 + 1, ':') : NULL;
	if (!c2 || !c3 || !c4 || c2 - c1 - 1 != CF_AUTH_ID_LEN ||
	    !cf_text_uuid_canonical(c1 + 1, CF_AUTH_ID_LEN) ||
	    parse_u64(c2 + 1, (size_t)(c3 - c2 - 1), &gen) < 0 ||
	    parse_u64(c3 + 1, (size_t)(c4 - c3 - 1), &exp) < 0 || strlen(c4 + 1) != 16 ||
	    strspn(c4 + 1, "0123456789abcdef") != 16)
		return -EBADMSG;
	if ((int64_t)exp <= now)
		return -EKEYEXPIRED;
	memcpy(ret_id, c1 + 1, CF_AUTH_ID_LEN);
	ret_id[CF_AUTH_ID_LEN] = '\0';
	*ret_gen = gen;
	return 0;
}

/* ---- operations --------------------------------------------------------------------------- */

static void op_free(struct op *o);

static void
done_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_auth *a = lws_container_of(sul, struct cf_auth, sul_done);

	while (a->done.head) {
		struct op *o = lws_container_of(a->done.head, struct op, dlist);
		struct cf_auth_result res = {.err = o->err,
		                             .acct = o->have_acct ? &o->acct : NULL,
		                             .token = o->have_token ? o->token : NULL};

		lws_dll2_remove(&o->dlist);
		if (o->lcb)
			o->lcb(o->ud, o->tag, o->err, o->accts, o->nlist);
		else if (o->cb)
			o->cb(o->ud, o->tag, &res);
		op_free(o);
	}
}

static void
op_free(struct op *o)
{
	if (o->delayed && !o->a->stopped)
		lws_sul_cancel(&o->sul_delay);
	lws_dll2_remove(&o->dlist);
	lws_dll2_remove(&o->list);
	if (o->pw) {
		explicit_bzero(o->pw, o->pwlen);
		free(o->pw);
	}
	free(o->acct.name);
	for (size_t i = 0; i < o->nlist; i++)
		free(o->accts[i].name);
	free(o->accts);
	free(o->arg);
	explicit_bzero(o->token, sizeof(o->token));
	free(o);
}

static void
finish(struct op *o, int err)
{
	struct cf_auth *a = o->a;

	o->err = err;
	if (err < 0)
		o->have_token = 0;
	if (o->pw) {
		explicit_bzero(o->pw, o->pwlen);
		free(o->pw);
		o->pw = NULL;
	}
	explicit_bzero(o->hash, sizeof(o->hash));
	lws_dll2_add_tail(&o->dlist, &a->done);
	if (!a->stopped && a->done.count == 1)
		lws_sul_schedule(a->ctx, 0, &a->sul_done, done_cb, 1);
}

static struct op *
op_new(struct cf_auth *a, enum op_kind kind, const char *arg, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->a = a;
	o->kind = kind;
	o->cb = cb;
	o->ud = ud;
	o->tag = tag;
	if (arg && !(o->arg = strdup(arg))) {
		free(o);
		return NULL;
	}
	lws_dll2_add_tail(&o->list, &a->ops);
	return o;
}

static int
set_acct(struct op *o, const char *id, const char *name, int64_t created, uint64_t gen)
{
	char *n = strdup(name);

	if (!n || strlen(id) != CF_AUTH_ID_LEN) {
		free(n);
		return -ENOMEM;
	}
	free(o->acct.name);
	memcpy(o->acct.id, id, CF_AUTH_ID_LEN + 1);
	o->acct.name = n;
	o->acct.created = created;
	o->acct.gen = gen;
	o->have_acct = 1;
	return 0;
}

/* -- the hashing thread -- */

static void *
worker(void *arg)
{
	struct cf_auth *a = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct op *o;

		while (!a->quit && !a->wq.head)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->quit)
			break;
		o = lws_container_of(a->wq.head, struct op, wlist);
		lws_dll2_remove(&o->wlist);
		pthread_mutex_unlock(&a->mu);
		/* Only this op's own buffers: the loop does not touch them meanwhile. */
		if (o->job == JOB_HASH)
			o->job_err = cf_auth_hash(o->pw, o->pwlen, o->hash, sizeof(o->hash));
		else
			o->job_err = cf_auth_hash_check(o->hash, o->pw, o->pwlen);
		pthread_mutex_lock(&a->mu);
		lws_dll2_add_tail(&o->wlist, &a->wdone);
		if (write(a->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("auth: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void job_done(struct op *o);

static void
submit(struct op *o, enum job_kind job)
{
	struct cf_auth *a = o->a;

	if (a->stopped || !a->thread_started) {
		finish(o, -ECANCELED);
		return;
	}
	if (a->njobs >= (uint32_t)a->cfg->auth_max_pending) {
		finish(o, -EBUSY);
		return;
	}
	a->njobs++;
	o->job = job;
	pthread_mutex_lock(&a->mu);
	lws_dll2_add_tail(&o->wlist, &a->wq);
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void
drain_jobs(struct cf_auth *a)
{
	struct lws_dll2_owner got = {0};
	uint64_t v;

	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("auth: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&a->mu);
	while (a->wdone.head) {
		struct lws_dll2 *d = a->wdone.head;

		lws_dll2_remove(d);
		lws_dll2_add_tail(d, &got);
	}
	pthread_mutex_unlock(&a->mu);
	while (got.head) {
		struct op *o = lws_container_of(got.head, struct op, wlist);

		lws_dll2_remove(&o->wlist);
		a->njobs--;
		cf_metrics.auth_hashes_total++;
		job_done(o);
	}
}

int
cf_auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
	struct cf_auth *a = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (a)
			drain_jobs(a);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (a) {
			/* lws closes the fd (context destroyed): the thread is joined by then. */
			a->ewsi = NULL;
			a->efd = -1;
			lws_set_opaque_user_data(wsi, NULL);
		}
		return 0;
	default:
		return 0;
	}
}

/* -- the key, when the store has to fetch it -- */

static void
on_key(void *ud, int err, const unsigned char *key, size_t len)
{
	struct op *o = ud;
	struct cf_auth *a = o->a;

	if (err < 0 || len > sizeof(a->key)) {
		finish(o, err < 0 ? err : -EIO);
		return;
	}
	memcpy(a->key, key, len);
	a->keylen = len;
	o->next(o);
}

static void
with_key(struct op *o, step_fn *next)
{
	int r;

	if (o->a->keylen) {
		next(o);
		return;
	}
	o->next = next;
	r = cf_store_key(o->a->store, on_key, o);
	if (r < 0)
		finish(o, r);
}

static void
issue_token(struct op *o)
{
	struct cf_auth *a = o->a;
	int r = cf_auth_token_sign(a->key, a->keylen, o->acct.id, o->acct.gen,
	                           wall_s() + a->cfg->auth_token_ttl, o->token, sizeof(o->token));

	o->have_token = r == 0;
	finish(o, r);
}

/* -- lookups -- */

static void submit(struct op *o, enum job_kind job);

/* No such account. A login still runs a password check, against the stand-in setting, so an
 * unknown name answers after the same work, through the same queue (and its busy), as a known
 * one: timing tells nobody which names exist. job_done() answers -ENOENT. */
static void
not_found(struct op *o)
{
	if (o->kind != OP_VERIFY) {
		finish(o, -ENOENT);
		return;
	}
	o->unknown = 1;
	memcpy(o->hash, o->a->dummy, sizeof(o->a->dummy));
	submit(o, JOB_CHECK);
}

static void
on_get(void *ud, int err, const struct cf_account *acct, const char *hash)
{
	struct op *o = ud;

	if (err == -ENOENT) {
		not_found(o);
		return;
	}
	if (err < 0) {
		finish(o, err);
		return;
	}
	/* Longer than any hash libcrypt makes: nothing a password could match. */
	if (strlen(hash) >= sizeof(o->hash)) {
		log_warn("auth: account '%s': the stored hash is not one", acct->name);
		finish(o, -EAGAIN);
		return;
	}
	if (set_acct(o, acct->id, acct->name, acct->created, acct->gen) < 0) {
		finish(o, -ENOMEM);
		return;
	}
	memcpy(o->hash, hash, strlen(hash) + 1);
	o->next(o);
}

/* The account named (by_id 0) or with the id (1) o->arg into o->acct (and its hash into
 * o->hash); then next(o), or finish with -ENOENT / -EAGAIN. */
static void
lookup(struct op *o, int by_id, step_fn *next)
{
	int r;

	o->next = next;
	r = cf_store_get(o->a->store, by_id, o->arg, on_get, o);
	if (r < 0)
		finish(o, r);
}

static void
step_found(struct op *o)
{
	explicit_bzero(o->hash, sizeof(o->hash));
	finish(o, 0);
}

/* -- create -- */

static void
on_create(void *ud, int err)
{
	struct op *o = ud;

	if (err < 0) {
		finish(o, err);
		return;
	}
	log_info("auth: account '%s' created", o->arg);
	with_key(o, issue_token);
}

static void
create_store(struct op *o)
{
	char id[CF_AUTH_ID_LEN + 1];
	int r;

	cf_text_uuid4(id, (unsigned long long)cf_now_us());
	r = set_acct(o, id, o->arg, wall_s(), 0);
	if (r == 0)
		r = cf_store_create(o->a->store, &o->acct, o->hash, on_create, o);
	if (r < 0)
		finish(o, r);
}

static void name_failed(struct cf_auth *a, const char *name);
static int name_slowed(struct cf_auth *a, const char *name);

static void
job_done(struct op *o)
{
	if (o->a->stopped) {
		finish(o, -ECANCELED);
		return;
	}
	if (o->kind == OP_CREATE) {
		if (o->job_err < 0)
			finish(o, o->job_err);
		else
			create_store(o);
		return;
	}
	/* OP_VERIFY */
	explicit_bzero(o->hash, sizeof(o->hash));
	if (o->unknown || o->job_err == -EACCES || o->job_err == -EINVAL)
		name_failed(o->a, o->arg);
	if (o->unknown)
		finish(o, -ENOENT);
	else if (o->job_err < 0)
		finish(o, o->job_err == -EINVAL ? -EACCES : o->job_err);
	else
		with_key(o, issue_token);
}

static struct op *
pw_op(struct cf_auth *a, enum op_kind kind, const char *name, const char *pw, size_t pwlen,
      cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, kind, name, cb, ud, tag);

	if (!o)
		return NULL;
	o->pw = malloc(pwlen + 1);
	if (!o->pw) {
		op_free(o);
		return NULL;
	}
	memcpy(o->pw, pw, pwlen);
	o->pw[pwlen] = '\0';
	o->pwlen = pwlen;
	return o;
}

int
cf_auth_create(struct cf_auth *a, const char *name, const char *pw, size_t pwlen, cf_auth_cb *cb,
               void *ud, int64_t tag)
{
	struct op *o = pw_op(a, OP_CREATE, name, pw, pwlen, cb, ud, tag);
	int r;

	if (!o)
		return -ENOMEM;
	/* Where the store can tell now, a taken name or a full store costs no hash; it is
	 * checked again when the account is stored. */
	r = cf_store_can_create(a->store, name);
	if (r < 0)
		finish(o, r);
	else
		submit(o, JOB_HASH);
	return 0;
}

static void
verify_found(struct op *o)
{
	submit(o, JOB_CHECK);
}

static void
verify_delayed(lws_sorted_usec_list_t *sul)
{
	struct op *o = lws_container_of(sul, struct op, sul_delay);

	o->delayed = 0;
	lookup(o, 0, verify_found);
}

int
cf_auth_verify(struct cf_auth *a, const char *name, const char *pw, size_t pwlen, cf_auth_cb *cb,
               void *ud, int64_t tag)
{
	struct op *o = pw_op(a, OP_VERIFY, name, pw, pwlen, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	/* Failed logins for this name from everywhere reached auth.failures_per_name: each login
	 * for it waits, the owner's too, but none is refused, so a guesser spread over many
	 * addresses is slowed without locking the owner out. Before the lookup, so known and
	 * unknown names wait alike. */
	if (a->cfg->auth_failure_delay > 0 && name_slowed(a, name)) {
		cf_metrics.auth_delayed_total++;
		o->delayed = 1;
		lws_sul_schedule(a->ctx, 0, &o->sul_delay, verify_delayed,
		                 (lws_usec_t)a->cfg->auth_failure_delay * LWS_US_PER_MS);
		return 0;
	}
	lookup(o, 0, verify_found);
	return 0;
}

int
cf_auth_is_account(const struct cf_auth *a, const char *name)
{
	return a ? cf_store_has(a->store, name) : 0;
}

int
cf_auth_by_name(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BY_NAME, name, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	lookup(o, 0, step_found);
	return 0;
}

int
cf_auth_by_id(struct cf_auth *a, const char *id, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BY_ID, id, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	lookup(o, 1, step_found);
	return 0;
}

/* -- tokens -- */

static void
token_found(struct op *o)
{
	explicit_bzero(o->hash, sizeof(o->hash));
	finish(o, o->acct.gen == o->tok_gen ? 0 : -EKEYREVOKED);
}

static void
token_keyed(struct op *o)
{
	struct cf_auth *a = o->a;
	char id[CF_AUTH_ID_LEN + 1];
	int r = cf_auth_token_parse(a->key, a->keylen, o->arg, wall_s(), id, &o->tok_gen);

	if (r < 0) {
		finish(o, r);
		return;
	}
	free(o->arg);
	o->arg = strdup(id);
	if (!o->arg) {
		finish(o, -ENOMEM);
		return;
	}
	lookup(o, 1, token_found);
}

int
cf_auth_token_check(struct cf_auth *a, const char *token, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_TOKEN, token, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	if (strlen(token) >= CF_AUTH_TOKEN_MAX)
		finish(o, -EBADMSG);
	else
		with_key(o, token_keyed);
	return 0;
}

/* -- bump -- */

static void
on_bump(void *ud, int err, const struct cf_account *acct, const char *hash)
{
	struct op *o = ud;

	(void)hash;
	if (err == 0 && set_acct(o, acct->id, acct->name, acct->created, acct->gen) < 0)
		err = -ENOMEM;
	finish(o, err);
}

int
cf_auth_bump_gen(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BUMP, name, cb, ud, tag);
	int r;

	if (!o)
		return -ENOMEM;
	r = cf_store_bump(a->store, name, on_bump, o);
	if (r < 0)
		finish(o, r);
	return 0;
}

/* -- list -- */

static void
on_list(void *ud, int err, const struct cf_account *accts, size_t n)
{
	struct op *o = ud;

	if (err < 0) {
		finish(o, err);
		return;
	}
	o->accts = calloc(n + 1, sizeof(*o->accts));
	if (!o->accts) {
		finish(o, -ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		o->accts[i] = accts[i];
		o->accts[i].name = strdup(accts[i].name);
		if (!o->accts[i].name) {
			finish(o, -ENOMEM);
			return;
		}
		o->nlist++;
	}
	finish(o, 0);
}

int
cf_auth_list(struct cf_auth *a, cf_auth_list_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_LIST, NULL, NULL, ud, tag);
	int r;

	if (!o)
		return -ENOMEM;
	o->lcb = cb;
	r = cf_store_list(a->store, on_list, o);
	if (r < 0)
		finish(o, r);
	return 0;
}

void
cf_auth_cancel(struct cf_auth *a, void *ud)
{
	if (!a)
		return;
	lws_start_foreach_dll (struct lws_dll2 *, d, a->ops.head) {
		struct op *o = lws_container_of(d, struct op, list);

		if (o->ud == ud) {
			o->cb = NULL;
			o->lcb = NULL;
		}
	}
	lws_end_foreach_dll(d);
}

/* ---- rate limits -------------------------------------------------------------------------- */

/* Per minute: the bucket's clock runs 60 times slower, so its rate is per minute. */
static uint64_t
minute_clock(void)
{
	return cf_now_us() / 60;
}

static void
limits_sweep(struct cf_auth *a, uint64_t now)
{
	struct limit *l, *tmp;

	/* A bucket that has refilled completely is the same as none. */
	HASH_ITER(hh, a->limits, l, tmp)
	{
		if (l->b.tokens + (double)(now - l->b.last_us) * l->rate / 1e6 >= l->rate) {
			HASH_DEL(a->limits, l);
			free(l);
			a->nlimits--;
		}
	}
}

static struct limit *
limit_get(struct cf_auth *a, char kind, const char *what, int burst, uint64_t now)
{
	size_t n = strlen(what) + 2;
	char *key = malloc(n + 1);
	struct limit *l;

	if (!key)
		return NULL;
	snprintf(key, n + 1, "%c:%s", kind, what);
	HASH_FIND_STR(a->limits, key, l);
	if (!l) {
		if (a->nlimits >= LIMITS_MAX)
			limits_sweep(a, now);
		if (a->nlimits >= LIMITS_MAX || !(l = malloc(sizeof(*l) + n + 1))) {
			free(key);
			return NULL;
		}
		memcpy(l->key, key, n + 1);
		l->rate = burst;
		cf_bucket_init(&l->b, burst, now);
		HASH_ADD_STR(a->limits, key, l);
		a->nlimits++;
	}
	free(key);
	return l;
}

int
cf_auth_attempt(struct cf_auth *a, const char *ip, const char *name)
{
	const struct cf_config *cfg = a->cfg;
	uint64_t now = minute_clock();
	struct limit *li = limit_get(a, 'i', ip, cfg->auth_attempts_ip, now);
	struct limit *ln = NULL;
	char *pair = NULL;

	/* The name's bucket is per address: an attacker who exhausts it locks out only
	 * itself, never the owner logging in from elsewhere (the slow-down in cf_auth_verify()
	 * is what bounds guessing from many addresses). */
	if (name && asprintf(&pair, "%s %s", ip, name) < 0)
		return -EAGAIN;
	if (pair)
		ln = limit_get(a, 'p', pair, cfg->auth_attempts_name, now);
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
static void
name_failed(struct cf_auth *a, const char *name)
{
	uint64_t now = minute_clock();
	struct limit *l = limit_get(a, 'n', name, a->cfg->auth_failures_name, now);

	if (l)
		(void)cf_bucket_take(&l->b, a->cfg->auth_failures_name, a->cfg->auth_failures_name,
		                     now);
}

/* Whether name's slow-down bucket is empty (it is not charged here: only failures are). */
static int
name_slowed(struct cf_auth *a, const char *name)
{
	uint64_t now = minute_clock();
	int rate = a->cfg->auth_failures_name;
	struct limit *l;
	size_t n = strlen(name) + 3;
	char *key = malloc(n);
	double tokens;

	if (!key)
		return 0;
	snprintf(key, n, "n:%s", name);
	HASH_FIND_STR(a->limits, key, l);
	free(key);
	if (!l)
		return 0;
	tokens = l->b.tokens + (double)(now > l->b.last_us ? now - l->b.last_us : 0) * rate / 1e6;
	return tokens < 1.0;
}

int
cf_auth_derive(const struct cf_auth *a, const char *label, const char *data, char *out,
               size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg;
	int n;

	if (!a->keylen)
		return -EAGAIN;
	/* "derive:" keeps these inputs apart from token payloads ("1:..."). */
	n = asprintf(&msg, "derive:%s%c%s", label, '\0', data);
	if (n < 0)
		return -ENOMEM;
	if (!HMAC(EVP_sha256(), a->key, (int)a->keylen, (const unsigned char *)msg, (size_t)n, mac,
	          &maclen)) {
		free(msg);
		return -EINVAL;
	}
	free(msg);
	return b64_enc(mac, maclen, out, outlen) ? 0 : -EINVAL;
}

int
cf_auth_password_ok(const struct cf_auth *a, size_t len)
{
	return len >= (size_t)a->cfg->auth_password_min && len <= (size_t)a->cfg->auth_password_max
	               ? 0
	               : -EINVAL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

/* The signing key from auth.secret_file (or the credential), which every node configured with
 * it shares. */
static int
load_secret(struct cf_auth *a, char *err, size_t errlen)
{
	char secret[CF_AUTH_KEY_MAX + 2], why[512];
	int r = cf_config_read_secret(a->cfg->auth_secret_file, secret, sizeof(secret), why,
	                              sizeof(why));

	if (r < 0 || strlen(secret) < SECRET_MIN || strlen(secret) > CF_AUTH_KEY_MAX) {
		snprintf(err, errlen, "auth.secret_file: %s",
		         r < 0 ? why : "the secret must be 32 to 128 bytes");
		explicit_bzero(secret, sizeof(secret));
		return r < 0 ? r : -EINVAL;
	}
	a->keylen = strlen(secret);
	memcpy(a->key, secret, a->keylen);
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

struct cf_auth *
cf_auth_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
            struct cf_store *store, char *err, size_t errlen)
{
	struct cf_auth *a = calloc(1, sizeof(*a));
	lws_sock_file_fd_type u;
	int r;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->ctx = ctx;
	a->cfg = cfg;
	a->efd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (cfg->auth_secret_file[0] && load_secret(a, err, errlen) < 0)
		goto fail;
	if (!store) {
		/* Standalone: the file store, which also holds the key unless the secret signs. */
		a->own = cf_auth_file_open(cfg, a->keylen ? NULL : a->key, &a->keylen, err, errlen);
		if (!a->own)
			goto fail;
		store = a->own;
	}
	a->store = store;
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, a->dummy, sizeof(a->dummy))) {
		snprintf(err, errlen, "auth: libcrypt cannot make a yescrypt setting");
		goto fail;
	}
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		snprintf(err, errlen, "auth: eventfd: %s", strerror(errno));
		goto fail;
	}
	u.filefd = a->efd;
	a->ewsi =
	        lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, CF_AUTH_PROTOCOL, NULL);
	if (!a->ewsi) {
		snprintf(err, errlen, "auth: lws could not adopt the eventfd");
		goto fail; /* lws closed it */
	}
	lws_set_opaque_user_data(a->ewsi, a);
	r = pthread_create(&a->thread, NULL, worker, a);
	if (r) {
		snprintf(err, errlen, "auth: cannot start the hashing thread: %s", strerror(r));
		goto fail;
	}
	a->thread_started = 1;
	return a;
fail:
	if (a->ewsi) {
		lws_set_opaque_user_data(a->ewsi, NULL);
		lws_set_timeout(a->ewsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		a->efd = -1;
	}
	cf_auth_free(a);
	return NULL;
}

void
cf_auth_stop(struct cf_auth *a)
{
	if (!a || a->stopped)
		return;
	if (a->thread_started) {
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
		a->thread_started = 0;
	}
	/* Logins held by the slow-down: their timers go with the context. */
	lws_start_foreach_dll (struct lws_dll2 *, d, a->ops.head) {
		struct op *o = lws_container_of(d, struct op, list);

		if (o->delayed) {
			lws_sul_cancel(&o->sul_delay);
			o->delayed = 0;
		}
	}
	lws_end_foreach_dll(d);
	a->stopped = 1;
	lws_sul_cancel(&a->sul_done);
}

void
cf_auth_free(struct cf_auth *a)
{
	struct limit *l, *ltmp;

	if (!a)
		return;
	cf_auth_stop(a);
	/* Queued, running or done jobs: their owners are gone with the context. */
	while (a->ops.head)
		op_free(lws_container_of(a->ops.head, struct op, list));
	cf_store_free(a->own);
	HASH_ITER(hh, a->limits, l, ltmp)
	{
		HASH_DEL(a->limits, l);
		free(l);
	}
	if (a->efd >= 0 && !a->ewsi)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	explicit_bzero(a->key, sizeof(a->key));
	free(a);
}
