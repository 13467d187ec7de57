/* SPDX-License-Identifier: MIT */
/* token.h - what is signed with the accounts' key: access tokens and derived names. Pure and
 * blocking; the key is the caller's (auth.c keeps it).
 *
 * A token is base64url(payload) "." base64url(HMAC-SHA256(key, payload)), unpadded, payload
 * "1:<account id>:<gen>:<expiry, unix seconds>:<random nonce, 16 hex digits>". Tokens issued by
 * an older build must keep verifying, so these bytes never change. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bus/store.h" /* CF_STORE_ID_LEN */

#define CF_TOKEN_KEY_MAX 128 /* longest HMAC key in bytes */
#define CF_TOKEN_MAX     224 /* longest token text, NUL included */

/* Signs a token for account id at gen, valid until exp (unix seconds), into out
 * (CF_TOKEN_MAX). 0, -EIO (no random bytes) or -EINVAL. */
int cf_token_sign(const unsigned char *key, size_t keylen, const char *id, uint64_t gen,
                  int64_t exp, char *out, size_t outlen);
/* Verifies a token's MAC (constant time) and expiry against now: 0 with the account id and
 * gen, -EBADMSG (malformed, wrong key, tampered, or spelled other than sign spells it) or
 * -EKEYEXPIRED. */
int cf_token_parse(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                   char ret_id[CF_STORE_ID_LEN + 1], uint64_t *ret_gen);
/* base64url of HMAC-SHA256(key, "derive:" label NUL data), 43 characters, into out (45 bytes at
 * least): 0, -EINVAL, -ENOMEM. */
int cf_token_derive(const unsigned char *key, size_t keylen, const char *label, const char *data,
                    char *out, size_t outlen);
