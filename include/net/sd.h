/* SPDX-License-Identifier: MIT */
/* sd.h - what confabd tells systemd through sd_notify(): readiness, a current STATUS=, the
 * watchdog (pinged from the event loop itself), reloads, the stop, a failed start's errno.
 * Without $NOTIFY_SOCKET every call does nothing. One per process. */
#pragma once

#include <libwebsockets.h>

/* Pings WATCHDOG=1 at half of $WATCHDOG_USEC from a timer on ctx's loop, so a loop that stops
 * turning stops the pings and systemd restarts the service. No-op without a watchdog. */
void cf_sd_watchdog_start(struct lws_context *ctx);
void cf_sd_watchdog_stop(void);
void cf_sd_ready(void);
/* Sends STATUS= when the text changed. */
void cf_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cf_sd_reloading(void);
/* READY=1 again after a reload; why is NULL when it succeeded. */
void cf_sd_reloaded(const char *why);
/* The last reload's result for STATUS=: "" before any. */
const char *cf_sd_last_reload(void);
void cf_sd_stopping(void);
/* A start that failed: ERRNO= (err is a negative errno). */
void cf_sd_failed(int err);
