/* SPDX-License-Identifier: MIT */
/* xff.h - the client's address from an X-Forwarded-For header a trusted proxy sent. Pure: no
 * lws, no config, so that unit tests and fuzz targets call it on any bytes. */
#pragma once

#include <stddef.h>

/* The longest address text cf_xff_client() writes, NUL included (INET6_ADDRSTRLEN). */
#define CF_XFF_ADDR_MAX 46

/* Whether ip (an address in the canonical text inet_ntop() gives) is a trusted proxy. */
typedef int (*cf_xff_trusted_fn)(void *ud, const char *ip);

/* hdr[0..len) is the value of X-Forwarded-For (several headers joined with ','), sent by a
 * trusted proxy; it need not be NUL-terminated and may hold any bytes. Walks it from the right:
 * each proxy appended the address it got the request from, so the first address that is not
 * trusted (trusted(ud, ip) == 0) is the client, and anything left of it, written by the client,
 * is not read. When every address is trusted, the leftmost is the client. Entries are IPv4 or
 * IPv6 addresses, spaces and tabs around them allowed; an IPv4-mapped IPv6 address counts as its
 * IPv4 address. Writes the client's address, in inet_ntop()'s canonical text, to out (outlen >=
 * CF_XFF_ADDR_MAX). Returns 0, -ENOENT when the header holds no entry at all (empty or only
 * blanks), or -EINVAL when an entry it has to read is not an address (empty, a port, a name,
 * "unknown", too long): the header cannot be trusted, and the caller refuses the request. */
int cf_xff_client(const char *hdr, size_t len, cf_xff_trusted_fn trusted, void *ud, char *out,
                  size_t outlen);
