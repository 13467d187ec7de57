/* SPDX-License-Identifier: MIT */
/* log.c - leveled logging to stderr, one line per call, "<N>" prefixed for journald; lines about
 * one client with structured journal fields; and the bridge that routes libwebsockets' log into
 * it.
 *
 * Every line is escaped here, once, after formatting (cf_text_escape()): whatever a caller
 * passes for %s (an Origin, a name, a path, a Redis error, a line of lws's) cannot put a
 * terminal escape sequence, a bidi control or a forged second line into the journal, and no
 * call site has to remember to escape. */
#include "base/log.h"
#include "base/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <libwebsockets.h>
#include <systemd/sd-journal.h>

static int log_level = CF_LOG_INFO;
/* stderr is a journald stream: lines about clients go natively, with fields. */
static int to_journal;

void
cf_log_init(void)
{
	/* systemd documents JOURNAL_STREAM for exactly this: upgrade to the native protocol
	 * when stderr is still the stream it set up (not redirected by someone in between). */
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
	             fstat(STDERR_FILENO, &st) == 0 && st.st_dev == (dev_t)dev &&
	             st.st_ino == (ino_t)ino;
}

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

/* Repeats: each message format (the call site's fmt string) may log LOG_BURST lines per
 * LOG_WINDOW_S seconds; beyond that lines are counted, and cf_log_flush() says how many were
 * left out. A client that triggers a warning in a loop cannot flood the journal. Debug lines
 * are not limited: they are asked for. */
#define LOG_BURST    10
#define LOG_WINDOW_S 10
#define LOG_SLOTS    64

static struct repeat {
	const char *fmt; /* NULL: free slot; a string literal, compared by address */
	int level;
	time_t window;
	unsigned lines, dropped;
} repeats[LOG_SLOTS];

static void
report_dropped(struct repeat *rp)
{
	fprintf(stderr, "<%d>%u more messages like \"%s\" were left out in %d s\n", rp->level,
	        rp->dropped, rp->fmt, LOG_WINDOW_S);
	rp->dropped = 0;
}

/* Whether a line of fmt may be written now. */
static int
admit(int level, const char *fmt)
{
	struct repeat *rp = &repeats[((uintptr_t)fmt >> 3) % LOG_SLOTS];
	time_t now = time(NULL);

	if (rp->fmt != fmt || now - rp->window >= LOG_WINDOW_S) {
		if (rp->fmt && rp->dropped)
			report_dropped(rp);
		rp->fmt = fmt;
		rp->level = level;
		rp->window = now;
		rp->lines = 0;
		rp->dropped = 0;
	}
	if (rp->lines < LOG_BURST) {
		rp->lines++;
		return 1;
	}
	rp->dropped++;
	return 0;
}

void
cf_log_flush(void)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < LOG_SLOTS; i++)
		if (repeats[i].dropped && now - repeats[i].window >= LOG_WINDOW_S) {
			report_dropped(&repeats[i]);
			repeats[i].fmt = NULL;
		}
}

/* A formatted line escaped: at most 4 bytes out per byte in (\xNN), and one more for the NUL. */
#define LOG_LINE_IN  1024
#define LOG_LINE_OUT (4 * LOG_LINE_IN + 1)

static const char *
escaped(const char *s, char *out)
{
	cf_text_escape(s, strlen(s), out, LOG_LINE_OUT);
	return out;
}

static void __attribute__((format(printf, 3, 0)))
vlog(int level, int r, const char *fmt, va_list ap)
{
	char line[LOG_LINE_IN], out[LOG_LINE_OUT];
	int n;

	if (level > log_level)
		return;
	if (level < CF_LOG_DEBUG && !admit(level, fmt))
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (r < 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(-r));
	/* One fprintf per line keeps lines whole when stderr is a pipe to journald. */
	fprintf(stderr, "<%d>%s\n", level, escaped(line, out));
}

void
cf_log_client(int level, const char *event, const char *ip, unsigned long long session,
              const char *room, const char *fmt, ...)
{
	char line[LOG_LINE_IN], msg[LOG_LINE_OUT], eip[200], eroom[1100];
	char f_msg[LOG_LINE_OUT + 8], f_prio[16], f_event[64], f_ip[220], f_sess[40], f_room[1120];
	struct iovec iov[7];
	int n, k = 0;
	va_list ap;

	if (level > log_level || (level < CF_LOG_DEBUG && !admit(level, fmt)))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	escaped(line, msg);
	cf_text_escape(ip, strlen(ip), eip, sizeof(eip));
	if (room)
		cf_text_escape(room, strlen(room), eroom, sizeof(eroom));
	if (!to_journal) {
		f_sess[0] = '\0';
		if (session)
			snprintf(f_sess, sizeof(f_sess), " session=%llu", session);
		fprintf(stderr, "<%d>%s (event=%s ip=%s%s%s%s)\n", level, msg, event, eip, f_sess,
		        room ? " room=" : "", room ? eroom : "");
		return;
	}
#define FIELD(buf, ...)                                                                            \
	do {                                                                                       \
		int m_ = snprintf(buf, sizeof(buf), __VA_ARGS__);                                  \
		iov[k].iov_base = buf;                                                             \
		iov[k++].iov_len = m_ < (int)sizeof(buf) ? (size_t)m_ : sizeof(buf) - 1;           \
	} while (0)
	FIELD(f_msg, "MESSAGE=%s", msg);
	FIELD(f_prio, "PRIORITY=%d", level);
	FIELD(f_event, "CONFAB_EVENT=%s", event);
	FIELD(f_ip, "CONFAB_CLIENT_IP=%s", eip);
	if (session)
		FIELD(f_sess, "CONFAB_SESSION=%llu", session);
	if (room)
		FIELD(f_room, "CONFAB_ROOM=%s", eroom);
#undef FIELD
	iov[k].iov_base = (void *)"SYSLOG_IDENTIFIER=confabd";
	iov[k++].iov_len = strlen("SYSLOG_IDENTIFIER=confabd");
	if (sd_journal_sendv(iov, k) < 0)
		fprintf(stderr, "<%d>%s\n", level, msg); /* journald away: keep the line */
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
