/* SPDX-License-Identifier: MIT */
/* log.h - leveled logging to stderr with syslog "<N>" prefixes that journald understands. */
#pragma once

#include <stdarg.h>

enum {
	CF_LOG_ERR = 3,
	CF_LOG_WARNING = 4,
	CF_LOG_NOTICE = 5,
	CF_LOG_INFO = 6,
	CF_LOG_DEBUG = 7,
};

void cf_log_set_level(int level);
int cf_log_get_level(void);
/* Returns the level for "error", "warn", "info", "debug", or -EINVAL. */
int cf_log_parse_level(const char *s);
const char *cf_log_level_name(int level);

void cf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs with ": <strerror(-r)>" appended and returns r, so callers can
 * "return cf_log_errno(CF_LOG_ERR, r, ...)". */
int cf_log_errno(int level, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Says how many repeated lines were left out (at most 10 lines per message format per 10 s are
 * written). Called once a second. */
void cf_log_flush(void);

/* Route libwebsockets' own log through ours. */
void cf_log_route_lws(void);

#define log_error(...)  cf_log(CF_LOG_ERR, __VA_ARGS__)
#define log_warn(...)   cf_log(CF_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) cf_log(CF_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   cf_log(CF_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (cf_log_get_level() >= CF_LOG_DEBUG)                                            \
			cf_log(CF_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)
