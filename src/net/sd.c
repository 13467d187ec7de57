/* SPDX-License-Identifier: MIT */
/* sd.c - sd_notify() for confabd (see sd.h). The watchdog ping is a timer of the event loop
 * rather than a thread or a signal, so it proves the loop itself still turns. */
#include "net/sd.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

static struct {
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	uint64_t half_usec;
	char status[512];
	char reload[160];
} sd;

/* The periodic lines (STATUS=, WATCHDOG=1) go without blocking. libsystemd's sd_notify() blocks
 * in sendmsg() while the notify socket's queue is full (net.unix.max_dgram_qlen: 10 datagrams),
 * which would stop the event loop until the manager reads: no /healthz, no SIGTERM. Such a line
 * is dropped and counted instead; the next one replaces it. The rare lines systemd must see
 * (READY=1, RELOADING=1, STOPPING=1, ERRNO=) keep sd_notify(). */
static int
notify_nowait(const char *msg)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = e ? strlen(e) : 0;
	int fd;

	/* A path or an abstract name (@...); anything else (vsock:, 253+) is libsystemd's. */
	if (!n || n >= sizeof(sa.sun_path) || (e[0] != '/' && e[0] != '@'))
		return n ? sd_notify(0, msg) : 0;
	memcpy(sa.sun_path, e, n);
	if (e[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		int r = -errno;

		close(fd);
		if (r == -EAGAIN)
			cf_metrics.sd_notify_dropped_total++;
		return r;
	}
	close(fd);
	return 0;
}

static void
watchdog_cb(lws_sorted_usec_list_t *sul)
{
	(void)notify_nowait("WATCHDOG=1");
	lws_sul_schedule(sd.ctx, 0, sul, watchdog_cb, (lws_usec_t)sd.half_usec);
}

void
cf_sd_watchdog_start(struct lws_context *ctx)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || !usec)
		return;
	sd.ctx = ctx;
	sd.half_usec = usec / 2;
	log_info("systemd watchdog: pinging every %llu ms",
	         (unsigned long long)sd.half_usec / 1000);
	watchdog_cb(&sd.sul);
}

void
cf_sd_watchdog_stop(void)
{
	if (sd.ctx)
		lws_sul_cancel(&sd.sul);
	sd.ctx = NULL;
}

void
cf_sd_ready(void)
{
	sd_notify(0, "READY=1");
}

void
cf_sd_status(const char *fmt, ...)
{
	char buf[sizeof(sd.status)], msg[sizeof(sd.status) + 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!strcmp(buf, sd.status))
		return;
	memcpy(sd.status, buf, sizeof(buf));
	snprintf(msg, sizeof(msg), "STATUS=%s", buf);
	/* Not sent: forget it, so the next tick tries again. */
	if (notify_nowait(msg) < 0)
		sd.status[0] = 0;
}

void
cf_sd_reloading(void)
{
	char msg[64];

	/* systemd 253+ wants MONOTONIC_USEC with RELOADING=1; 252 ignores it. */
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)cf_now_us());
	sd_notify(0, msg);
}

void
cf_sd_reloaded(const char *why)
{
	time_t now = time(NULL);
	struct tm tm;
	char at[16];

	localtime_r(&now, &tm);
	strftime(at, sizeof(at), "%H:%M:%S", &tm);
	if (why)
		snprintf(sd.reload, sizeof(sd.reload), "reload at %s failed (%s)", at, why);
	else
		snprintf(sd.reload, sizeof(sd.reload), "reloaded at %s", at);
	sd_notify(0, "READY=1");
}

const char *
cf_sd_last_reload(void)
{
	return sd.reload;
}

void
cf_sd_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=Draining");
}

void
cf_sd_failed(int err)
{
	char msg[32];

	snprintf(msg, sizeof(msg), "ERRNO=%d", err < 0 ? -err : err);
	sd_notify(0, msg);
}
