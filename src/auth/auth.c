/* SPDX-License-Identifier: MIT */
/* auth.c - the account operations (see auth.h), over an account store (store.h: the file store
 * standalone, the Redis store beside the cluster bus), the hashing thread (pwhash.c), the
 * signing of tokens (token.c) and the attempt limits (auth_limits.c); and the signing key.
 *
 * Every operation is a `struct op` that walks through a few steps: a lookup in the store, maybe
 * a password job on the hashing thread, maybe a write to the store, maybe a token. A store may
 * answer before its call returns (the file store) or later (Redis); either way the op ends in
 * finish(), which puts it on the done list, and a zero-delay timer runs the callbacks in order,
 * so no callback ever runs inside the call that queued it. */
#define _GNU_SOURCE /* explicit_bzero */
#include "auth/auth.h"
#include "auth/auth_file.h"
#include "auth/auth_limits.h"
#include "auth/jwt.h"
#include "auth/pwhash.h"
#include "auth/token.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/store.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libwebsockets.h>

#define SECRET_MIN 32 /* bytes of a configured secret */

enum op_kind { OP_CREATE, OP_VERIFY, OP_BY_NAME, OP_BY_ID, OP_TOKEN, OP_JWT, OP_BUMP, OP_LIST };

/* The stored hash of an account the application's tokens made (OP_JWT): no password
 * matches it (libcrypt knows no "$jwt$" method), and a login for it runs the stand-in check,
 * as for a name without an account. */
#define JWT_HASH "$jwt$"

struct op;
typedef void step_fn(struct op *o);

struct op {
	struct lws_dll2 list;  /* on a->ops until freed */
	struct lws_dll2 dlist; /* on a->done once finished */
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
	/* The password job; its hash is also the stored one a lookup read. */
	struct cf_pwhash_job job;
	struct cf_account acct; /* the result (name owned) */
	int have_acct;
	uint64_t tok_gen; /* the gen a token carried */
	char token[CF_TOKEN_MAX];
	int have_token;
	struct cf_account *accts; /* OP_LIST: names owned */
	size_t nlist;
	step_fn *next; /* what runs once the key is known */
	int unknown;   /* OP_VERIFY of a name without an account: the check is a stand-in */
	int retried;   /* OP_JWT: the create lost a race and looked again */
	struct cf_jwt_claims claims; /* OP_JWT: what the token said (owned) */
	char why[160];               /* OP_JWT: why the token was refused */
	int delayed;                 /* sul_delay is scheduled (the per-name slow-down) */
	lws_sorted_usec_list_t sul_delay;
};

struct cf_auth {
	struct lws_context *ctx;
	const struct cf_config *cfg;
	struct cf_store *store;
	struct cf_store *own; /* the file store, opened here when no store was given */
	struct cf_jwt *jwt;   /* the application's tokens (auth.jwt_alg), or NULL */
	unsigned char key[CF_TOKEN_KEY_MAX];
	size_t keylen; /* 0: not known yet (the first operation that needs it asks the store) */
	struct cf_pwhash *ph;
	struct cf_auth_limits limits;
	/* operations */
	struct lws_dll2_owner ops, done;
	lws_sorted_usec_list_t sul_done;
	int stopped;
};

static int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- operations --------------------------------------------------------------------------- */

static void op_free(struct op *o);

static void
done_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_auth *a = lws_container_of(sul, struct cf_auth, sul_done);

	while (a->done.head) {
		struct op *o = lws_container_of(a->done.head, struct op, dlist);
		struct cf_auth_result res = {
		        .err = o->err,
		        .acct = o->have_acct ? &o->acct : NULL,
		        .token = o->have_token ? o->token : NULL,
		        .claims = o->kind == OP_JWT && o->claims.sub ? &o->claims : NULL,
		        .detail = o->why[0] ? o->why : NULL};

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
	cf_jwt_claims_free(&o->claims);
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
	explicit_bzero(o->job.hash, sizeof(o->job.hash));
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

static void job_done(struct op *o);

static void
job_cb(struct cf_pwhash_job *j)
{
	job_done(lws_container_of(j, struct op, job));
}

/* Hashes (check 0) or checks (1) the op's password on the thread; job_done() goes on. */
static void
submit(struct op *o, int check)
{
	int r;

	o->job.check = check;
	o->job.pw = o->pw;
	o->job.pwlen = o->pwlen;
	o->job.done = job_cb;
	r = cf_pwhash_submit(o->a->ph, &o->job, (uint32_t)o->a->cfg->auth_max_pending);
	if (r < 0)
		finish(o, r);
}

int
cf_auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
	return cf_pwhash_lws_callback(wsi, reason, user, in, len);
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
	int r = cf_token_sign(a->key, a->keylen, o->acct.id, o->acct.gen,
	                      wall_s() + a->cfg->auth_token_ttl, o->token, sizeof(o->token));

	o->have_token = r == 0;
	finish(o, r);
}

/* -- lookups -- */

/* No such account. A login still runs a password check, against the stand-in setting, so an
 * unknown name answers after the same work, through the same queue (and its busy), as a known
 * one: timing tells nobody which names exist. job_done() answers -ENOENT. */
static void jwt_not_found(struct op *o);

static void
not_found(struct op *o)
{
	if (o->kind == OP_JWT && !o->retried) {
		jwt_not_found(o);
		return;
	}
	if (o->kind != OP_VERIFY) {
		finish(o, -ENOENT);
		return;
	}
	o->unknown = 1;
	snprintf(o->job.hash, sizeof(o->job.hash), "%s", cf_pwhash_dummy(o->a->ph));
	submit(o, 1);
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
	if (strlen(hash) >= sizeof(o->job.hash)) {
		log_warn("auth: account '%s': the stored hash is not one", acct->name);
		finish(o, -EAGAIN);
		return;
	}
	if (set_acct(o, acct->id, acct->name, acct->created, acct->gen) < 0) {
		finish(o, -ENOMEM);
		return;
	}
	if (o->kind == OP_VERIFY && !strcmp(hash, JWT_HASH)) {
		not_found(o);
		return;
	}
	memcpy(o->job.hash, hash, strlen(hash) + 1);
	o->next(o);
}

/* The account named (by_id 0) or with the id (1) o->arg into o->acct (and its hash into
 * o->job.hash); then next(o), or finish with -ENOENT / -EAGAIN. */
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
	explicit_bzero(o->job.hash, sizeof(o->job.hash));
	finish(o, 0);
}

/* -- create -- */

static void jwt_created(struct op *o, int err);

static void
on_create(void *ud, int err)
{
	struct op *o = ud;

	if (o->kind == OP_JWT) {
		jwt_created(o, err);
		return;
	}
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
		r = cf_store_create(o->a->store, &o->acct, o->job.hash, on_create, o);
	if (r < 0)
		finish(o, r);
}

static void
job_done(struct op *o)
{
	if (o->a->stopped) {
		finish(o, -ECANCELED);
		return;
	}
	if (o->kind == OP_CREATE) {
		if (o->job.err < 0)
			finish(o, o->job.err);
		else
			create_store(o);
		return;
	}
	/* OP_VERIFY */
	explicit_bzero(o->job.hash, sizeof(o->job.hash));
	if (o->unknown || o->job.err == -EACCES || o->job.err == -EINVAL)
		cf_auth_limits_failed(&o->a->limits, o->arg);
	if (o->unknown)
		finish(o, -ENOENT);
	else if (o->job.err < 0)
		finish(o, o->job.err == -EINVAL ? -EACCES : o->job.err);
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
		submit(o, 0);
	return 0;
}

static void
verify_found(struct op *o)
{
	submit(o, 1);
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
	if (a->cfg->auth_failure_delay > 0 && cf_auth_limits_slowed(&a->limits, name)) {
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

static int
find(struct cf_auth *a, enum op_kind kind, const char *key, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, kind, key, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	lookup(o, kind == OP_BY_ID, step_found);
	return 0;
}

int
cf_auth_by_name(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag)
{
	return find(a, OP_BY_NAME, name, cb, ud, tag);
}

int
cf_auth_by_id(struct cf_auth *a, const char *id, cf_auth_cb *cb, void *ud, int64_t tag)
{
	return find(a, OP_BY_ID, id, cb, ud, tag);
}

/* -- tokens -- */

static void
token_found(struct op *o)
{
	explicit_bzero(o->job.hash, sizeof(o->job.hash));
	finish(o, o->acct.gen == o->tok_gen ? 0 : -EKEYREVOKED);
}

static void
token_keyed(struct op *o)
{
	struct cf_auth *a = o->a;
	char id[CF_AUTH_ID_LEN + 1];
	int r = cf_token_parse(a->key, a->keylen, o->arg, wall_s(), id, &o->tok_gen);

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
	if (strlen(token) >= CF_TOKEN_MAX)
		finish(o, -EBADMSG);
	else
		with_key(o, token_keyed);
	return 0;
}

/* -- the application's tokens -- */

/* The token's user is an account: one the application's tokens made (its hash is JWT_HASH),
 * never one with a password, which is somebody's own. */
static void
jwt_found(struct op *o)
{
	int mine = !strcmp(o->job.hash, JWT_HASH);

	explicit_bzero(o->job.hash, sizeof(o->job.hash));
	if (!mine)
		log_notice("auth: an application token names '%s', an account with a password: "
		           "refused",
		           o->arg);
	finish(o, mine ? 0 : -EEXIST);
}

/* The first sign-in of the token's user makes its account (so the inbox keeps its messages
 * while it is away), bounded by auth.max_accounts like registrations. */
static void
jwt_not_found(struct op *o)
{
	char id[CF_AUTH_ID_LEN + 1];
	int r;

	cf_text_uuid4(id, (unsigned long long)cf_now_us());
	r = set_acct(o, id, o->arg, wall_s(), 0);
	if (r == 0)
		r = cf_store_create(o->a->store, &o->acct, JWT_HASH, on_create, o);
	if (r < 0)
		finish(o, r);
}

static void
jwt_created(struct op *o, int err)
{
	if (err == -EEXIST && !o->retried) {
		/* Another node (or session) made it first: it is found now. */
		o->retried = 1;
		lookup(o, 0, jwt_found);
		return;
	}
	if (err == 0)
		log_info("auth: account '%s' created for the application's user", o->arg);
	finish(o, err);
}

int
cf_auth_jwt_check(struct cf_auth *a, const char *ip, const char *token, cf_auth_cb *cb, void *ud,
                  int64_t tag)
{
	struct op *o = op_new(a, OP_JWT, NULL, cb, ud, tag);
	int r;

	if (!o)
		return -ENOMEM;
	if (!a->jwt) {
		finish(o, -EOPNOTSUPP);
		return 0;
	}
	/* A signature check costs up to ~100 us (ES256): an address whose tokens were refused
	 * auth.attempts_per_ip times in a minute gets no more checks for a while. Tokens that
	 * verify are not counted, so a reconnecting crowd behind one address signs in. */
	if (cf_auth_limits_spent(&a->limits, ip)) {
		finish(o, -EDQUOT);
		return 0;
	}
	r = cf_jwt_verify(a->jwt, token, wall_s(), (size_t)a->cfg->max_name, &o->claims, o->why,
	                  sizeof(o->why));
	if (r < 0) {
		cf_metrics.auth_jwt_refused_total++;
		(void)cf_auth_limits_attempt(&a->limits, ip, NULL);
		log_debug("auth: application token refused: %s", o->why);
		finish(o, r);
		return 0;
	}
	o->why[0] = '\0';
	o->arg = strdup(o->claims.sub);
	if (!o->arg) {
		finish(o, -ENOMEM);
		return 0;
	}
	lookup(o, 0, jwt_found);
	return 0;
}

int
cf_auth_jwt_enabled(const struct cf_auth *a)
{
	return a && a->jwt;
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

/* ---- limits and the key ----------------------------------------------------------------- */

int
cf_auth_attempt(struct cf_auth *a, const char *ip, const char *name)
{
	return cf_auth_limits_attempt(&a->limits, ip, name);
}

int
cf_auth_derive(const struct cf_auth *a, const char *label, const char *data, char *out,
               size_t outlen)
{
	if (!a->keylen)
		return -EAGAIN;
	return cf_token_derive(a->key, a->keylen, label, data, out, outlen);
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
	char secret[CF_TOKEN_KEY_MAX + 2], why[512];
	int r = cf_config_read_secret(a->cfg->auth_secret_file, secret, sizeof(secret), why,
	                              sizeof(why));

	if (r < 0 || strlen(secret) < SECRET_MIN || strlen(secret) > CF_TOKEN_KEY_MAX) {
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

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->ctx = ctx;
	a->cfg = cfg;
	a->limits.cfg = cfg;
	if (cfg->auth_secret_file[0] && load_secret(a, err, errlen) < 0)
		goto fail;
	{
		int off;

		a->jwt = cf_jwt_new(cfg, &off, err, errlen);
		if (!a->jwt && !off)
			goto fail;
	}
	if (!store) {
		/* Standalone: the file store, which also holds the key unless the secret signs. */
		a->own = cf_auth_file_open(cfg, a->keylen ? NULL : a->key, &a->keylen, err, errlen);
		if (!a->own)
			goto fail;
		store = a->own;
	}
	a->store = store;
	a->ph = cf_pwhash_new(vh, CF_AUTH_PROTOCOL, err, errlen);
	if (!a->ph)
		goto fail;
	return a;
fail:
	cf_auth_free(a);
	return NULL;
}

void
cf_auth_stop(struct cf_auth *a)
{
	if (!a || a->stopped)
		return;
	cf_pwhash_stop(a->ph);
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
	if (!a)
		return;
	cf_auth_stop(a);
	/* Queued, running or done jobs: their owners are gone with the context. */
	while (a->ops.head)
		op_free(lws_container_of(a->ops.head, struct op, list));
	cf_store_free(a->own);
	cf_auth_limits_clear(&a->limits);
	cf_pwhash_free(a->ph);
	cf_jwt_free(a->jwt);
	explicit_bzero(a->key, sizeof(a->key));
	free(a);
}
