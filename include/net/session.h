/* SPDX-License-Identifier: MIT */
/* session.h - one WebSocket connection (the transport): its lws callback, the write path, the
 * queue's bounds, how it closes. The session's state, struct cf_sess, is in sess.h, where the
 * core reads it; lws allocates and frees it as per-session data; we own what it points to. */
#pragma once

#include <stdint.h>
#include <libwebsockets.h>

#include "core/sess.h"

struct cf_server;

/* Once a second: pings sessions silent for server.ping_interval, hangs up on those silent for
 * ping_interval + pong_timeout. */
void cf_sess_keepalive(struct cf_server *srv);

/* Writes the queues that became non-empty during this loop turn (env.h flush), once the turn's
 * events are handled: one write per session for all its frames of the turn, without waiting
 * for POLLOUT. */
void cf_sess_flush(struct cf_server *srv);

/* The lws protocol callback of WebSocket sessions. */
int cf_sess_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
