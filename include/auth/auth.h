/* SPDX-License-Identifier: MIT */
/* auth.h - accounts and access tokens. An account has an id (a lowercase UUID v4), a name (the
 * core's user-name rules; unique, case-sensitive; it is the user's id in rooms), a yescrypt
 * hash of its password (never the password), its creation time and a token generation `gen`:
 * bumping it revokes every token issued before ("sign out everywhere").
 *
 * They are kept in an account store (store.h): standalone, the file store (auth_file.c: memory
 * and state.dir/accounts.json); in cluster mode, the cluster bus's Redis store. Every operation is
 * asynchronous: its callback runs later from the event loop, exactly once, unless cf_auth_cancel()
 * ran first for its ud. Password hashing runs on one worker thread (pwhash.h: yescrypt costs tens
 * of ms), its queue bounded by auth.max_pending. Tokens are token.h's, attempt limits
 * auth_limits.h's. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>

#include "bus/store.h" /* struct cf_account */

struct cf_config;
struct cf_jwt_claims;

#define CF_AUTH_ID_LEN CF_STORE_ID_LEN /* a UUID's text */

/* What an operation produced. err: 0, or -EEXIST (name taken), -ENOENT (no such account),
 * -EACCES (wrong password), -ENOSPC (auth.max_accounts reached), -EBUSY (auth.max_pending
 * hashes queued), -EAGAIN (Redis is unreachable now), -EBADMSG (token invalid), -EKEYREVOKED
 * (token of an older gen), -EKEYEXPIRED (token expired), -EIO (state file not written),
 * -ECANCELED (shutting down), -ENOMEM. acct (and token, when the operation issues one) are
 * borrowed for the call. */
struct cf_auth_result {
	int err;
	const struct cf_account *acct;
	const char *token;
	const struct cf_jwt_claims *claims; /* cf_auth_jwt_check(): what the token said */
	const char *detail; /* cf_auth_jwt_check() refused the token: why, for the client */
};
typedef void cf_auth_cb(void *ud, int64_t tag, const struct cf_auth_result *r);
/* A listing: every account, in creation order (borrowed for the call), or err < 0. */
typedef void cf_auth_list_cb(void *ud, int64_t tag, int err, const struct cf_account *accts,
                             size_t n);

struct cf_auth;

/* Accounts live in store (borrowed; it must outlive cf_auth_stop()): the one the bus shares
 * between nodes (cf_bus_store()). NULL: standalone, the file store (auth_file.h) over
 * the state directory, which must be open (cf_state_open); a corrupt file is an error naming
 * it. The hashing thread's completions reach the loop through an eventfd adopted into vh. NULL
 * with the reason in err. */
struct cf_auth *cf_auth_new(struct lws_context *ctx, struct lws_vhost *vh,
                            const struct cf_config *cfg, struct cf_store *store, char *err,
                            size_t errlen);
/* Before the lws context is destroyed: joins the hashing thread, stops timers. Operations
 * still in flight are dropped (their owners are closing with the context). NULL-safe. */
void cf_auth_stop(struct cf_auth *a);
void cf_auth_free(struct cf_auth *a);

/* The operations. Each returns 0 (cb runs later, exactly once, unless cancelled) or -ENOMEM
 * (nothing queued, cb never runs). Passwords are copied and wiped after use. */

/* Creates an account; the result carries it and a token. */
int cf_auth_create(struct cf_auth *a, const char *name, const char *pw, size_t pwlen,
                   cf_auth_cb *cb, void *ud, int64_t tag);
/* Checks name and password; the result carries the account and a token. -ENOENT and -EACCES
 * are different results: callers that must not tell them apart answer both the same. */
int cf_auth_verify(struct cf_auth *a, const char *name, const char *pw, size_t pwlen,
                   cf_auth_cb *cb, void *ud, int64_t tag);
int cf_auth_by_name(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag);
int cf_auth_by_id(struct cf_auth *a, const char *id, cf_auth_cb *cb, void *ud, int64_t tag);
/* Checks a token (MAC, expiry) and that its gen is still the account's; the result carries
 * the account. */
int cf_auth_token_check(struct cf_auth *a, const char *token, cf_auth_cb *cb, void *ud,
                        int64_t tag);
/* Checks an application token (jwt.h) and finds its user's account, making it at the user's
 * first sign-in (an account without a password: no login reaches it). The result carries the
 * account and the claims. Errors: those of cf_jwt_verify(), -EEXIST (the token names an
 * account with a password, which is somebody's own), -EDQUOT (the client address ip had
 * auth.attempts_per_ip tokens refused in the last minute: not checked), -ENOSPC, -EAGAIN,
 * -EOPNOTSUPP (no auth.jwt_alg). */
int cf_auth_jwt_check(struct cf_auth *a, const char *ip, const char *token, cf_auth_cb *cb,
                      void *ud, int64_t tag);
/* Whether application tokens are accepted (auth.jwt_alg is set). */
int cf_auth_jwt_enabled(const struct cf_auth *a);
/* Bumps the account's gen: every token issued before is revoked. Result: the account. */
int cf_auth_bump_gen(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag);
/* Every account, in creation order (at most auth.max_accounts). */
int cf_auth_list(struct cf_auth *a, cf_auth_list_cb *cb, void *ud, int64_t tag);
/* Forgets every pending callback for ud (its owner is going away). */
void cf_auth_cancel(struct cf_auth *a, void *ud);

/* Whether name is an account, answered now (no callback): 1 or 0 where the store can tell at
 * once (the file store: the accounts are in memory); -EOPNOTSUPP in cluster mode, where only
 * Redis knows: a caller that must act on
 * the answer asks Redis in the same script as the action (a direct message: cf_msg.keep_acct).
 * NULL a (accounts disabled): 0. */
int cf_auth_is_account(const struct cf_auth *a, const char *name);

/* Takes one password attempt for the client address ip and (if not NULL) the account name:
 * 0, or -EAGAIN when either is above auth.attempts_per_ip / attempts_per_name. */
int cf_auth_attempt(struct cf_auth *a, const char *ip, const char *name);
/* A name derived from data under the signing key, for things other clients must not guess
 * (seed 001's private channels): base64url of HMAC-SHA256(key, "derive:" label NUL data), 43
 * characters, into out (45 bytes at least). 0, -EAGAIN (cluster mode: the key has not been
 * fetched yet; any account operation fetches it), -EINVAL, -ENOMEM. */
int cf_auth_derive(const struct cf_auth *a, const char *label, const char *data, char *out,
                   size_t outlen);
/* Whether a password of len bytes is within auth.password_min..password_max: 0 or -EINVAL. */
int cf_auth_password_ok(const struct cf_auth *a, size_t len);

/* The raw-file protocol that carries the hashing thread's eventfd; server.c lists it on every
 * vhost. */
struct lws;
int cf_auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len);
#define CF_AUTH_PROTOCOL "confab-auth"
