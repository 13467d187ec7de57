/* SPDX-License-Identifier: MIT */
/* req.h - what an HTTP request or WebSocket handshake says, read one way for the transport and
 * the dialects alike. */
#pragma once

#include <stddef.h>
#include <libwebsockets.h>

struct cf_config;

/* The client's address: the peer's, or, when the peer is one of server.trusted_proxies, the
 * address that proxy (and any trusted ones before it) put in X-Forwarded-For (cf_xff_client()).
 * Returns 0, or -EINVAL when a trusted proxy sent an X-Forwarded-For that is not a list of
 * addresses (ip then holds the proxy's address; the request is refused), -ENOMEM. */
int cf_req_client_ip(const struct cf_config *cfg, struct lws *wsi, char *ip, size_t len);

/* The first value of the query argument name, as lws decoded it (%XX, '+' as a space), into out
 * (NUL-terminated; outlen at most CF_REQ_ARG_MAX + 1). Returns its length (an embedded NUL
 * cuts it), -ENOENT when the query has no such argument, -E2BIG when a value (this one, or an
 * argument before it that lws cannot copy) is longer than outlen - 1. */
#define CF_REQ_ARG_MAX 1024
int cf_req_query_arg(struct lws *wsi, const char *name, char *out, size_t outlen);
