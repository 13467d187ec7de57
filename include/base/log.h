/* SPDX-License-Identifier: MIT */
/* log.h - leveled logging to stderr with syslog "<N>" prefixes that journald understands, and
 * lines about clients with journal fields. */
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

/* A line about one client. Under systemd with stderr connected to the journal
 * (JOURNAL_STREAM), it goes to journald natively with fields to filter on: CONFAB_EVENT=event,
 * CONFAB_CLIENT_IP=ip, CONFAB_SESSION= (if session is not 0), CONFAB_ROOM= (if room is not
 * NULL); elsewhere to stderr with those as key=value after the text. Limited like cf_log. */
void cf_log_client(int level, const char *event, const char *ip, unsigned long long session,
                   const char *room, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Decides where cf_log_client writes: call once at start, before logging. */
void cf_log_init(void);

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
