/* SPDX-License-Identifier: MIT */
/* xff.c - X-Forwarded-For from a trusted proxy: the client's address, read right to left. */
#include "base/xff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* s[0..n) as an address, in canonical text into out; -EINVAL when it is none. */
static int
parse_addr(const char *s, size_t n, char *out, size_t outlen)
{
	char buf[CF_XFF_ADDR_MAX];
	struct in6_addr a6;
	struct in_addr a4;

	if (!n || n >= sizeof(buf) || memchr(s, '\0', n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) ? 0 : -EINVAL;
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return -EINVAL;
	/* One client, one address: ::ffff:a.b.c.d is a.b.c.d, as for peers (server.c). */
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, &a6.s6_addr[12], sizeof(a4));
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outlen) ? 0 : -EINVAL;
	}
	return inet_ntop(AF_INET6, &a6, out, (socklen_t)outlen) ? 0 : -EINVAL;
}

int
cf_xff_client(const char *hdr, size_t len, cf_xff_trusted_fn trusted, void *ud, char *out,
              size_t outlen)
{
	size_t end = len;
	int r;

	if (outlen < CF_XFF_ADDR_MAX)
		return -EINVAL;
	while (end && blank(hdr[end - 1]))
		end--;
	if (!end)
		return -ENOENT;
	for (;;) {
		size_t start = end, e = end;

		while (start && hdr[start - 1] != ',')
			start--;
		while (start < e && blank(hdr[start]))
			start++;
		while (e > start && blank(hdr[e - 1]))
			e--;
		r = parse_addr(hdr + start, e - start, out, outlen);
		if (r < 0)
			return r;
		/* The leftmost entry, or one our proxies did not write: the client. */
		if (!trusted(ud, out))
			return 0;
		while (start && hdr[start - 1] != ',')
			start--; /* back over the blanks skipped above */
		if (!start)
			return 0;
		end = start - 1; /* the comma */
	}
}
