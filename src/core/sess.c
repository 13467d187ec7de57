/* SPDX-License-Identifier: MIT */
/* sess.c - a session's state (see sess.h): queueing frames within the session's bounds, the
 * decision to close (slow consumer, rate limit, a dialect's), the send rate limit, the user
 * identity, the commands held back while one waits. What reaches the connection is an entry on
 * the loop turn's flush list (env.h) or a request to lws to call the transport back
 * (lws_callback_on_writable()); the transport (session.c) writes and closes. */
#include "core/sess.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/room.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *
peer(const struct cf_sess *s)
{
	return s->ipc ? s->ipc->ip : "?";
}

const char *
cf_sess_addr(const struct cf_sess *s)
{
	return s->ipc ? s->ipc->ip : NULL;
}

void
cf_sess_push_owned(struct cf_sess *s, struct cf_frame *f)
{
	if (f) {
		cf_sess_push(s, f);
		cf_frame_unref(f);
	}
}

/* The queue is no longer empty: the transport writes it at the end of this loop turn, so that
 * all the turn's frames for s go in one write and no POLLOUT round trip (two epoll_ctl() and a
 * wakeup) comes before it. Without memory for the list, lws calls back once the socket has room. */
static void
want_write(struct cf_sess *s)
{
	struct cf_env *e = s->env;

	if (s->flush_queued)
		return;
	if (e->flush_n == e->flush_cap) {
		unsigned cap = e->flush_cap ? e->flush_cap * 2 : 64;
		struct cf_sess **p = realloc(e->flush, cap * sizeof(*p));

		if (!p) {
			lws_callback_on_writable(s->wsi);
			return;
		}
		e->flush = p;
		e->flush_cap = cap;
	}
	e->flush[e->flush_n++] = s;
	s->flush_queued = 1;
}

void
cf_sess_push(struct cf_sess *s, struct cf_frame *f)
{
	const struct cf_config *cfg = s->env->cfg;
	size_t max = (size_t)cfg->queue_bytes;
	int r;

	if (s->slow)
		return;
	/* What lws still holds of our last write is this session's memory as much as its queue. */
	max = s->unsent < max ? max - s->unsent : 0;
	r = cf_ring_push(&s->out, f, (uint32_t)cfg->queue_frames, max);
	if (r < 0) {
		/* The memory of a reader that does not keep up is bounded by its queue: drop what
		 * is queued and close; the client resumes with since. A frame halfway written is
		 * finished first, or the close frame would land inside it. */
		cf_metrics.drops_total += cf_ring_trim(&s->out, s->out_off ? 1 : 0);
		cf_metrics.slow_consumer_closes_total++;
		s->slow = 1;
		cf_log_client(CF_LOG_INFO, "slow_consumer", peer(s), (unsigned long long)s->id,
		              NULL, "session %llu (%s): slow consumer, closing with 4008",
		              (unsigned long long)s->id, peer(s));
		if (s->wsi) {
			/* If the peer reads nothing, WRITEABLE never comes: bound the wait. */
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
			lws_callback_on_writable(s->wsi);
		}
		return;
	}
	cf_hist_observe(&cf_metrics.queue_depth, s->out.count);
	if (s->out.count > (uint32_t)cfg->queue_frames / 4 || s->out.bytes > max / 4)
		s->env->flush_deep = 1;
	/* A session without a connection (unit tests) only queues. */
	if (s->out.count == 1 && s->wsi)
		want_write(s);
}

/* Stops taking input (what still arrives is read and dropped, so the peer's pending bytes do not
 * turn the close into a reset), writes what is queued, then closes with code from WRITEABLE,
 * where lws sends the close frame and waits for the peer's. */
static void
begin_close(struct cf_sess *s, int code, const char *reason, int bye)
{
	struct cf_frame *f;

	if (s->closing || s->slow)
		return;
	if (bye && s->dialect->render_bye && (f = s->dialect->render_bye(code, reason))) {
		cf_sess_push(s, f);
		cf_frame_unref(f);
	}
	s->closing = 1;
	s->close_code = code;
	if (cf_sess_ext(s))
		s->x->close_reason = reason;
	if (s->x) { /* a message being reassembled is dropped */
		free(s->x->rx);
		s->x->rx = NULL;
		s->x->rx_len = 0;
	}
	if (s->wsi)
		lws_callback_on_writable(s->wsi);
}

void
cf_sess_close(struct cf_sess *s, int code, const char *reason)
{
	begin_close(s, code, reason, 1);
}

void
cf_sess_close_quiet(struct cf_sess *s, int code, const char *reason)
{
	begin_close(s, code, reason, 0);
}

int
cf_sess_rate_take(struct cf_sess *s)
{
	const struct cf_config *cfg = s->env->cfg;

	if (cf_sbucket_take(&s->bucket, cfg->rate, cfg->burst, cf_now_ms())) {
		s->strikes = 0;
		return 0;
	}
	cf_metrics.rate_limited_total++;
	if (++s->strikes >= (uint32_t)cfg->rate_close_after) {
		cf_metrics.rate_limit_closes_total++;
		cf_log_client(CF_LOG_INFO, "rate_limit_close", peer(s), (unsigned long long)s->id,
		              NULL, "session %llu (%s): rate limit abuse, closing with 4029",
		              (unsigned long long)s->id, peer(s));
		begin_close(s, 4029, "rate limited", 0);
		return -ECONNABORTED;
	}
	return -EAGAIN;
}

int
cf_sess_set_user(struct cf_sess *s, const char *id, const char *name)
{
	/* One allocation: the id, then the name unless it is the same. */
	size_t il = strlen(id), nl = strcmp(id, name) ? strlen(name) + 1 : 0;
	char *buf;

	/* The rooms' presence entries borrow the strings of their members (room.h). */
	if (s->rooms.count)
		return -EBUSY;
	buf = malloc(il + 1 + nl);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, id, il + 1);
	if (nl)
		memcpy(buf + il + 1, name, nl);
	/* Out of the users index before the old id goes: its user may have borrowed it. */
	if (s->env)
		cf_registry_user_remove(s->env->reg, s);
	free(s->user_id);
	s->user_id = buf;
	s->user_name = nl ? buf + il + 1 : buf;
	/* Unit tests have sessions without a server. */
	return s->env ? cf_registry_user_add(s->env->reg, s) : 0;
}

struct cf_sess_ext *
cf_sess_ext(struct cf_sess *s)
{
	if (!s->x)
		s->x = calloc(1, sizeof(*s->x));
	return s->x;
}

void
cf_sess_ext_release(struct cf_sess *s)
{
	const struct cf_sess_ext *x = s->x;

	if (x && !x->account_id[0] && !x->held.count && !x->auth_arg && !x->dstate &&
	    !x->acks.count && !x->acks.v && !x->rx && !x->close_reason && !x->inflater) {
		free(s->x);
		s->x = NULL;
	}
}

/* A command held back, with its own copy of the bytes (NUL-terminated for the parsers). */
struct held {
	struct lws_dll2 list;
	size_t len;
	int binary;
	char buf[];
};

void
cf_sess_busy(struct cf_sess *s)
{
	s->busy = 1;
}

void
cf_sess_wait(struct cf_sess *s)
{
	s->busy = 1;
	if (!s->rx_off && s->wsi) {
		s->rx_off = 1;
		lws_rx_flow_control(s->wsi, 0);
	}
}

void
cf_sess_done(struct cf_sess *s)
{
	s->busy = 0;
	/* Done from within a replayed command (one served at once): the loop below goes on. */
	if (s->replaying)
		return;
	s->replaying = 1;
	while (!s->busy && s->x && s->x->held.head && !s->closing && !s->slow) {
		struct held *h = lws_container_of(s->x->held.head, struct held, list);
		int r;

		lws_dll2_remove(&h->list);
		r = s->dialect->on_text(s, h->binary ? NULL : h->buf, h->len);
		free(h);
		if (r < 0)
			cf_sess_close(s, 1011, "internal error");
	}
	s->replaying = 0;
	if (!s->busy && s->rx_off && s->wsi) {
		s->rx_off = 0;
		lws_rx_flow_control(s->wsi, 1);
	}
}

int
cf_sess_hold(struct cf_sess *s, const char *buf, size_t len)
{
	struct cf_sess_ext *x = cf_sess_ext(s);
	struct held *h;

	if (!x)
		return -ENOMEM;
	if (x->held.count >= CF_SESS_HOLD_MAX)
		return -ENOBUFS;
	if (!buf)
		len = 0;
	h = malloc(sizeof(*h) + len + 1);
	if (!h)
		return -ENOMEM;
	memset(&h->list, 0, sizeof(h->list));
	h->binary = !buf;
	h->len = len;
	if (len)
		memcpy(h->buf, buf, len);
	h->buf[len] = '\0';
	lws_dll2_add_tail(&h->list, &x->held);
	return 0;
}

void
cf_sess_hold_clear(struct cf_sess *s)
{
	while (s->x && s->x->held.head) {
		struct held *h = lws_container_of(s->x->held.head, struct held, list);

		lws_dll2_remove(&h->list);
		free(h);
	}
}
