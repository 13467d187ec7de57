/* SPDX-License-Identifier: MIT */
/* evlib.c - two corrections to lws 4.1.6's libev glue (lib/event-libs/libev/libev.c), which
 * confabd's loop runs. Both functions take precedence over libev's in lws's plugin: the link
 * exports them (CMakeLists.txt), and they call libev's own through dlsym(RTLD_NEXT).
 *
 * - lws re-arms its one timer (for its sorted timer list) with ev_timer_set() and
 *   ev_timer_start() from its idle callback, also while the timer is still active. libev
 *   ignores the start of an active watcher, so a timer that came due before the armed one would
 *   wait for it: ev_timer_start() here restarts an active timer with the time it was given.
 * - lws does its per-turn work (due timers, input it buffered, TLS data OpenSSL holds) in an
 *   idle watcher, which libev runs only on turns without other events: under load it would
 *   starve. A check watcher (after every poll) feeds it on each turn it is started, as lws's
 *   own poll() loop does that work on every turn. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ev.h>
#include <stddef.h>

void ev_timer_start(struct ev_loop *loop, ev_timer *w);
void ev_idle_start(struct ev_loop *loop, ev_idle *w);

static ev_idle *lws_idle;
static ev_check kick;

static void *
next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

void
ev_timer_start(struct ev_loop *loop, ev_timer *w)
{
	static void (*start)(struct ev_loop *, ev_timer *);
	static void (*stop)(struct ev_loop *, ev_timer *);

	if (!start) {
		start = (void (*)(struct ev_loop *, ev_timer *))next("ev_timer_start");
		stop = (void (*)(struct ev_loop *, ev_timer *))next("ev_timer_stop");
	}
	if (ev_is_active(w)) {
		/* ev_timer_set() wrote the new relative time into the active watcher; stopping
		 * would turn that into an absolute one. */
		ev_tstamp at = w->at;

		stop(loop, w);
		w->at = at;
	}
	start(loop, w);
}

static void
kick_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)w;
	(void)revents;
	if (lws_idle && ev_is_active(lws_idle) && !ev_is_pending(lws_idle))
		ev_feed_event(loop, lws_idle, EV_IDLE);
}

void
ev_idle_start(struct ev_loop *loop, ev_idle *w)
{
	static void (*start)(struct ev_loop *, ev_idle *);

	if (!start)
		start = (void (*)(struct ev_loop *, ev_idle *))next("ev_idle_start");
	/* lws's is the only idle watcher in confabd. */
	if (!lws_idle) {
		lws_idle = w;
		ev_check_init(&kick, kick_cb);
		ev_check_start(loop, &kick);
		/* Not a reason for the loop to go on by itself. */
		ev_unref(loop);
	}
	start(loop, w);
}
