/* SPDX-License-Identifier: MIT */
/* http.h - plain HTTP on the WebSocket listeners: health, metrics, the REST API, the web client,
 * and the gate in front of every WebSocket upgrade. */
#pragma once

#include <stddef.h>
#include <libwebsockets.h>

/* Size of the per-connection data of the HTTP protocol. */
size_t cf_http_pss_size(void);

int cf_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* The first value of the query argument name, as lws decoded it (%XX, '+' as a space), into out
 * (NUL-terminated; outlen at most CF_HTTP_ARG_MAX + 1). Returns its length (an embedded NUL
 * cuts it), -ENOENT when the query has no such argument, -E2BIG when a value (this one, or an
 * argument before it that lws cannot copy) is longer than outlen - 1. */
#define CF_HTTP_ARG_MAX 1024
int cf_http_query_arg(struct lws *wsi, const char *name, char *out, size_t outlen);
