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
