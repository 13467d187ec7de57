/* SPDX-License-Identifier: MIT */
/* redis_lws_int.h - the hiredis <-> lws adapter of redis.c (private to the Redis connection). */
#pragma once

#include <libwebsockets.h>
#include <hiredis/async.h>

/* Attaches ac to vh's loop: its socket is adopted as a raw file of CF_REDIS_PROTOCOL, lws owns
 * the fd from then on, and on_closed(ac) is called if lws closes it under hiredis (hangup, the
 * context going away). Call before redisAsyncSetConnectCallback(). -ENOMEM: nothing attached,
 * the caller frees ac (hiredis then closes the fd). */
int cf_redis_lws_attach(struct lws_vhost *vh, redisAsyncContext *ac,
                        void (*on_closed)(redisAsyncContext *ac));
