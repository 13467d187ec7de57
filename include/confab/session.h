/* SPDX-License-Identifier: MIT */
/* session.h - one WebSocket connection (the transport): its lws callback, the write path, the
 * queue's bounds, how it closes. The session's state, struct cf_sess, is in sess.h, where the
 * core reads it; lws allocates and frees it as per-session data; we own what it points to. */
#pragma once

#include <stdint.h>
#include <libwebsockets.h>

#include "confab/sess.h"

/* s->x, allocated (zeroed) if it was not: NULL when out of memory. */
struct cf_sess_ext *cf_sess_ext(struct cf_sess *s);
/* The client address of s (X-Forwarded-For applied), or NULL when it is not known. */
const char *cf_sess_addr(const struct cf_sess *s);

/* Queues a reference to f. When the queue and what lws still holds of the last write would
 * exceed session.queue_bytes (or the queue session.queue_frames), the session is marked slow and
 * closed with 4008. */
void cf_sess_push(struct cf_sess *s, struct cf_frame *f);
/* Queues f and drops the caller's reference to it; NULL (a render that failed) is ignored. */
void cf_sess_push_owned(struct cf_sess *s, struct cf_frame *f);
/* Queues a bye event, stops taking input, and closes with code once the queue is written.
 * reason must be a string literal (it is kept). */
void cf_sess_close(struct cf_sess *s, int code, const char *reason);
/* Takes a send token. 0: allowed; -EAGAIN: refused; -ECONNABORTED: refused, and the session is
 * now closing with 4029 (after what is queued, without a bye). */
int cf_sess_rate_take(struct cf_sess *s);
/* Gives the session a user identity (copies). -ENOMEM. */
int cf_sess_set_user(struct cf_sess *s, const char *id, const char *name);

/* Once a second: pings sessions silent for server.ping_interval, hangs up on those silent for
 * ping_interval + pong_timeout. */
void cf_sess_keepalive(struct cf_server *srv);

/* The lws protocol callback of WebSocket sessions. */
int cf_sess_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
