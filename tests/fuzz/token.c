/* SPDX-License-Identifier: MIT */
/* token.c - cf_token_parse(): tokens come from clients (hello, Authorization headers).
 * Input byte 0 picks the mode: even, the rest is the token as sent; odd, the rest is a
 * payload the harness signs with the key, so the parser behind the MAC check (which a client
 * cannot pass without the key, but a leaked or old-format token could) is reached too. */
#include "fuzz.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "confab/token.h"

static const unsigned char key[32] = "confab fuzz key: 32 bytes long!";

static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = tab[v >> 10 & 63];
		out[o++] = tab[v >> 4 & 63];
		out[o++] = tab[(v & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[CF_STORE_ID_LEN + 1], *tok;
	uint64_t gen;
	int r;

	if (size < 1 || size > 1024)
		return -1;
	if (data[0] & 1) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mlen = 0;
		size_t o;

		tok = malloc(2 * size + 64);
		if (!tok || !HMAC(EVP_sha256(), key, sizeof(key), data + 1, size - 1, mac, &mlen))
			abort();
		o = b64url(data + 1, size - 1, tok);
		tok[o++] = '.';
		b64url(mac, mlen, tok + o);
	} else {
		tok = fuzz_str(data + 1, size - 1);
	}
	r = cf_token_parse(key, sizeof(key), tok, 1700000000, id, &gen);
	if (r == 0 && (strlen(id) != CF_STORE_ID_LEN))
		abort();
	if (r < 0 && r != -EBADMSG && r != -EKEYEXPIRED)
		abort();
	free(tok);
	return 0;
}
