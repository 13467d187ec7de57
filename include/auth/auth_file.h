/* SPDX-License-Identifier: MIT */
/* auth_file.h - the file store of a standalone node (auth_file.c): accounts in memory and in
 * state.dir/accounts.json, a JSON document of every account (with its hash) in creation order,
 * and the token signing key in state.dir/auth.key. Its operations complete before they return. */
#pragma once

#include <stddef.h>

#include "bus/store.h" /* struct cf_account */

struct cf_config;

struct cf_auth_rec {
	struct cf_account pub;
	char *hash; /* owned */
};
/* Encodes n records into a new NUL-terminated string (free()), NULL on OOM. */
char *cf_auth_file_encode(const struct cf_auth_rec *recs, size_t n);
/* Decodes a file; 0 with a new array (free each name and hash, then the array), or -EINVAL
 * with why in err. */
int cf_auth_file_decode(const char *buf, size_t len, struct cf_auth_rec **ret, size_t *ret_n,
                        char *err, size_t errlen);
/* Opens the file store over the state directory (which must be open): loads accounts.json and,
 * with key (CF_TOKEN_KEY_MAX bytes), the token signing key of auth.key into key and keylen,
 * made and written there first when missing. NULL with the reason in err. */
struct cf_store *cf_auth_file_open(const struct cf_config *cfg, unsigned char *key, size_t *keylen,
                                   char *err, size_t errlen);
