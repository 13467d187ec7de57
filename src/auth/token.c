/* SPDX-License-Identifier: MIT */
/* token.c - access tokens and derived names under the accounts' key (see token.h): their
 * base64url, HMAC-SHA256 signing and strict parsing.
 *
 * Encoding is lws's (lws_b64_encode_string_url(), whose '=' padding is cut). Decoding stays
 * here: lws_b64_decode_stateful() accepts '+' and '/' for '-' and '_', skips characters outside
 * the alphabet, ignores the leftover bits of the last character and lengths of 4k+1, so one
 * token would have many spellings that all verify. Ours takes only what the encoder writes. */
#define _GNU_SOURCE /* asprintf */
#include "auth/token.h"
#include "base/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define TOKEN_VERSION "1"

#define B64_IN_MAX 128 /* the longest input: a payload (cf_token_sign() bounds it) */

/* Unpadded base64url of n bytes (at most B64_IN_MAX) into out; the length written, or 0 if out
 * is too small. lws writes the padding and wants room for one byte more than it writes, so it
 * writes into tmp: out needs room only for what is kept. */
static size_t
b64_enc(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	char tmp[(B64_IN_MAX + 2) / 3 * 4 + 2];
	int len;

	if (n > B64_IN_MAX || (n + 2) / 3 * 4 + 1 > outlen)
		return 0;
	len = lws_b64_encode_string_url((const char *)in, (int)n, tmp, (int)sizeof(tmp));
	if (len < 0)
		return 0;
	while (len && tmp[len - 1] == '=')
		len--;
	memcpy(out, tmp, (size_t)len);
	out[len] = '\0';
	return (size_t)len;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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
cf_token_sign(const unsigned char *key, size_t keylen, const char *id, uint64_t gen, int64_t exp,
              char *out, size_t outlen)
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
	if (n < 0 || (size_t)n >= sizeof(payload) || strlen(id) != CF_STORE_ID_LEN || !keylen)
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
cf_token_parse(const unsigned char *key, size_t keylen, const char *token, int64_t now,
               char ret_id[CF_STORE_ID_LEN + 1], uint64_t *ret_gen)
{
	unsigned char payload[128], mac[64], want[EVP_MAX_MD_SIZE];
	unsigned int wantlen = 0;
	const char *dot = strchr(token, '.'), *p, *c1, *c2, *c3, *c4;
	ssize_t plen, mlen;
	uint64_t gen, exp;

	if (!dot || !keylen || strlen(token) >= CF_TOKEN_MAX)
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
	if (!c2 || !c3 || !c4 || c2 - c1 - 1 != CF_STORE_ID_LEN ||
	    !cf_text_uuid_canonical(c1 + 1, CF_STORE_ID_LEN) ||
	    parse_u64(c2 + 1, (size_t)(c3 - c2 - 1), &gen) < 0 ||
	    parse_u64(c3 + 1, (size_t)(c4 - c3 - 1), &exp) < 0 || strlen(c4 + 1) != 16 ||
	    strspn(c4 + 1, "0123456789abcdef") != 16)
		return -EBADMSG;
	if ((int64_t)exp <= now)
		return -EKEYEXPIRED;
	memcpy(ret_id, c1 + 1, CF_STORE_ID_LEN);
	ret_id[CF_STORE_ID_LEN] = '\0';
	*ret_gen = gen;
	return 0;
}

int
cf_token_derive(const unsigned char *key, size_t keylen, const char *label, const char *data,
                char *out, size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg;
	int n;

	/* "derive:" keeps these inputs apart from token payloads ("1:..."). */
	n = asprintf(&msg, "derive:%s%c%s", label, '\0', data);
	if (n < 0)
		return -ENOMEM;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, (size_t)n, mac,
	          &maclen)) {
		free(msg);
		return -EINVAL;
	}
	free(msg);
	return b64_enc(mac, maclen, out, outlen) ? 0 : -EINVAL;
}
