/* SPDX-License-Identifier: MIT */
/* req.c - what an HTTP request or WebSocket handshake says, read the same way by the transport
 * and the dialects: the client's address behind trusted proxies, and the query's arguments. */
#include "core/req.h"
#include "base/xff.h"
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ip as an address of either family (16 bytes, IPv4 in the first 4), 0 when it is none. */
static int
addr_of(const char *ip, unsigned char a[16], int *family)
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, ip, a) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		*family = AF_INET6;
	else
		return 0;
	return 1;
}

/* Whether ip is one of server.trusted_proxies: the same address, however either is written. */
static int
trusted(void *ud, const char *ip)
{
	const struct cf_config *cfg = ud;
	unsigned char a[16], b[16];
	int fa, fb, parsed = addr_of(ip, a, &fa);

	for (size_t i = 0; i < cfg->trusted_proxies.n; i++) {
		const char *t = cfg->trusted_proxies.v[i];

		if (!strcmp(ip, t) ||
		    (parsed && addr_of(t, b, &fb) && fa == fb && !memcmp(a, b, sizeof(a))))
			return 1;
	}
	return 0;
}

int
cf_req_client_ip(const struct cf_config *cfg, struct lws *wsi, char *ip, size_t len)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char client[CF_XFF_ADDR_MAX], *xff;
	int n, r;

	lws_get_peer_simple(wsi, ip, len);
	/* A dual-stack socket (systemd's ListenStream=PORT, "*:PORT") sees IPv4 peers as
	 * ::ffff:a.b.c.d: one client, one address, whichever socket it came through. */
	if (!strncasecmp(ip, "::ffff:", 7) && inet_pton(AF_INET, ip + 7, addr) == 1)
		memmove(ip, ip + 7, strlen(ip + 7) + 1);
	if (!cfg->trusted_proxies.n || !trusted((void *)cfg, ip))
		return 0;
	/* As long as lws's header limits let it be: its length is lws's to bound. */
	n = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
	if (n <= 0)
		return 0; /* the proxy itself is the client */
	xff = malloc((size_t)n + 1);
	if (!xff)
		return -ENOMEM;
	if (lws_hdr_copy(wsi, xff, n + 1, WSI_TOKEN_X_FORWARDED_FOR) != n) {
		free(xff);
		return -EINVAL;
	}
	r = cf_xff_client(xff, (size_t)n, trusted, (void *)cfg, client, sizeof(client));
	free(xff);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(ip, len, "%s", client);
	return 0;
}

/* Not lws_get_urlarg_by_name(): it stops at the first argument too long to copy and answers
 * "absent", where the seeds' gates must tell a missing argument from an oversized one. */
int
cf_req_query_arg(struct lws *wsi, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	char frag[CF_REQ_ARG_MAX + 64];

	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS,
		                              i);
		size_t vl;

		if (n < 0)
			return lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0
			               ? -E2BIG
			               : -ENOENT;
		if ((size_t)n < nl + 1 || strncmp(frag, name, nl) || frag[nl] != '=')
			continue;
		vl = (size_t)n - nl - 1;
		if (vl >= outlen)
			return -E2BIG;
		memcpy(out, frag + nl + 1, vl);
		out[vl] = '\0';
		return (int)strlen(out);
	}
}
