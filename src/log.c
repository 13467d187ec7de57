/* SPDX-License-Identifier: MIT */
/* log.c - leveled logging to stderr, one line per call, "<N>" prefixed for journald, and the
 * bridge that routes libwebsockets' log into it. */
#include "confab/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <libwebsockets.h>

static int log_level = CF_LOG_INFO;

void
cf_log_set_level(int level)
{
	log_level = level;
}

int
cf_log_get_level(void)
{
	return log_level;
}

static const struct {
	const char *name;
	int level;
} level_names[] = {
        {"error", CF_LOG_ERR}, {"warn", CF_LOG_WARNING}, {"notice", CF_LOG_NOTICE},
        {"info", CF_LOG_INFO}, {"debug", CF_LOG_DEBUG},
};

int
cf_log_parse_level(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcasecmp(s, level_names[i].name))
			return level_names[i].level;
	return -EINVAL;
}

const char *
cf_log_level_name(int level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "?";
}

static void
vlog(int level, int r, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (level > log_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (r < 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(-r));
	/* One fprintf per line keeps lines whole when stderr is a pipe to journald. */
	fprintf(stderr, "<%d>%s\n", level, line);
}

void
cf_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

int
cf_log_errno(int level, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, r, fmt, ap);
	va_end(ap);
	return r;
}

static void
lws_emit(int lws_level, const char *line)
{
	int level;
	size_t n = strlen(line);

	switch (lws_level) {
	case LLL_ERR:
		level = CF_LOG_ERR;
		break;
	case LLL_WARN:
		level = CF_LOG_WARNING;
		break;
	case LLL_NOTICE:
		level = CF_LOG_INFO;
		break;
	default:
		level = CF_LOG_DEBUG;
		break;
	}
	/* lws lines end in '\n' and carry a timestamp prefix "[date] X: ": keep the text only. */
	if (n && line[n - 1] == '\n')
		n--;
	if (line[0] == '[') {
		const char *p = strstr(line, "] ");
		if (p && p + 2 <= line + n) {
			n -= (size_t)(p + 2 - line);
			line = p + 2;
		}
	}
	cf_log(level, "lws: %.*s", (int)n, line);
}

void
cf_log_route_lws(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN | (log_level >= CF_LOG_DEBUG ? LLL_NOTICE : 0),
	                  lws_emit);
}
