/* SPDX-License-Identifier: MIT */
/* jwt.h - connection tokens minted by the operator's own application (RFC 7519 JSON Web
 * Tokens), verified with Debian's libjwt against one configured algorithm and key: HS256/384/512
 * with a shared secret, RS256/384/512 or ES256/384/512 with a PEM public key. Pure and
 * blocking (a signature check is tens of microseconds); auth.c turns a verified token into an
 * account.
 *
 * What a token must carry: `sub`, the user's id in the account space (the account-name rules);
 * `exp`. What it may: `name` (the display name; default `sub`), `nbf`, `iat`, `aud` (required
 * to hold auth.jwt_audience when that is set; a token with `aud` is refused when it is not, as
 * RFC 7519 4.1.3 says), `iss` (must equal auth.jwt_issuer when that is set), `rooms` (the only
 * rooms the user may join: exact names, or a prefix ending in `*`), `roles` (an object, room
 * name -> "owner", "moderator", "member" or "none": the user's role there, at most
 * CF_JWT_ROOMS_MAX rooms). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_config;
struct cf_jwt;

#define CF_JWT_TOKEN_MAX 8192 /* longest token accepted, in bytes */
#define CF_JWT_ROOMS_MAX 64   /* most entries of the `rooms` claim */
#define CF_JWT_ROOM_LEN  65   /* longest entry: a room name (64 bytes) and a `*` */

/* What a verified token says. Owned by whoever filled it: cf_jwt_claims_free(). */
struct cf_jwt_claims {
	char *sub;
	char *name;    /* never NULL: sub when the token has none */
	int64_t exp;   /* unix seconds */
	char **rooms;  /* NULL: any room; else nrooms entries */
	size_t nrooms; /* 0 with rooms set: no room at all */
	/* The `roles` claim: the user's role in each of these rooms (core/rules.h enum cf_role),
	 * which the application decides: applied at each sign-in to rooms that have rules. */
	char **role_rooms;
	uint8_t *role_of;
	size_t nroles;
};

/* The verifier for cfg's auth.jwt_* keys: the key file is read (or the credential jwt-key for
 * an HS algorithm without auth.jwt_key_file) and checked against the algorithm now, so a wrong
 * or weak key is a start-up error (RSA keys under 2048 bits, an EC key not on the algorithm's
 * curve, a secret under the hash's size). NULL with the reason in err; *ret_off set when
 * auth.jwt_alg is empty (no verifier, no error). */
struct cf_jwt *cf_jwt_new(const struct cf_config *cfg, int *ret_off, char *err, size_t errlen);
void cf_jwt_free(struct cf_jwt *j);

/* Whether token has a JWT's shape (three dot-separated parts), so a caller can tell it from
 * confab's own tokens (two parts) without verifying it. */
int cf_jwt_looks_like(const char *token);

/* Verifies token at now (unix seconds): signature, algorithm (exactly the configured one;
 * `none` never), exp and nbf with auth.jwt_leeway seconds of slack, aud, iss, and the claims'
 * types and rules (max_name bounds sub and name). 0 with *out filled, or -EBADMSG (malformed,
 * forged, another algorithm, wrong audience or issuer, a claim missing or breaking its rules),
 * -EKEYEXPIRED (exp passed), -EKEYREJECTED (nbf not reached), -ENOMEM. why (may be NULL) says
 * which, for the log and the client: never the token's contents beyond the claim's name. */
int cf_jwt_verify(const struct cf_jwt *j, const char *token, int64_t now, size_t max_name,
                  struct cf_jwt_claims *out, char *why, size_t whylen);
void cf_jwt_claims_free(struct cf_jwt_claims *c);
/* A copy of src into dst (zeroed or freed): 0 or -ENOMEM (dst then holds nothing). */
int cf_jwt_claims_dup(struct cf_jwt_claims *dst, const struct cf_jwt_claims *src);

/* Whether claims let their user join room: 1 or 0. */
int cf_jwt_room_allowed(const struct cf_jwt_claims *c, const char *room);
