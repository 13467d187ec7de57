/* SPDX-License-Identifier: MIT */
/* xff.c - cf_xff_client(): the X-Forwarded-For value a trusted proxy passes on, most of it
 * written by the client. The first input byte chooses which of a few fixed addresses count as
 * trusted proxies; the rest is the header. Also checks what a parse promises: on success a
 * NUL-terminated address that inet_pton() reads back and that is not a trusted proxy unless
 * every entry was. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include "base/xff.h"

static const char *const proxies[] = {"127.0.0.1", "10.0.0.1", "::1", "2001:db8::1"};

static int
trusted(void *ud, const char *ip)
{
	unsigned mask = *(const unsigned *)ud;

	for (unsigned i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		if ((mask & (1u << i)) && !strcmp(ip, proxies[i]))
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[CF_XFF_ADDR_MAX];
	unsigned char bin[16];
	unsigned mask;
	char *hdr;
	int r;

	if (!size || size > 65536)
		return -1;
	mask = data[0];
	/* Not NUL-terminated: the parser is given a length and must not read past it. */
	hdr = malloc(size - 1 ? size - 1 : 1);
	if (!hdr)
		abort();
	memcpy(hdr, data + 1, size - 1);
	memset(out, 'x', sizeof(out));
	r = cf_xff_client(hdr, size - 1, trusted, &mask, out, sizeof(out));
	if (r == 0) {
		if (!memchr(out, '\0', sizeof(out)) ||
		    (inet_pton(AF_INET, out, bin) != 1 && inet_pton(AF_INET6, out, bin) != 1))
			abort();
	} else if (r != -ENOENT && r != -EINVAL) {
		abort();
	}
	free(hdr);
	return 0;
}
