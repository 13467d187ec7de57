/* SPDX-License-Identifier: MIT */
/* session.c - the WebSocket session: lifecycle callbacks, reassembly with a size cap, the
 * outbound queue and its coalesced, capped writes, slow-consumer and rate-limit closes. */
#include "net/session.h"
#include "auth/auth.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/frame.h"
#include "core/pack.h"
#include "core/req.h"
#include "core/room.h"
#include "net/deflate.h"
#include "net/http.h"
#include "net/server.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct cf_server *
server_of(struct cf_sess *s)
{
	return lws_container_of(s->env, struct cf_server, env);
}

static const char *
peer(const struct cf_sess *s)
{
	return s->ipc ? s->ipc->ip : "?";
}

static void
set_close(struct cf_sess *s, int code, const char *reason)
{
	s->close_code = code;
	lws_close_reason(s->wsi, (enum lws_close_status)code, (unsigned char *)reason,
	                 strlen(reason));
}

static void
ack_frame(struct cf_sess *s, struct cf_frame *f)
{
	cf_bus_dm_written(s->env->bus, cf_frame_ack_uid(f), cf_frame_ack_mid(f));
}

/* Tells the bus about the held direct messages written once lws has handed the whole write to
 * the kernel: what lws still holds dies with the process, so only then is it delivered. */
static void
ack_written(struct cf_sess *s)
{
	struct cf_frame *f;

	if (!s->x)
		return;
	while ((f = cf_ring_peek(&s->x->acks, 0))) {
		ack_frame(s, f);
		cf_ring_drop(&s->x->acks, 1);
	}
	cf_ring_clear(&s->x->acks); /* frees the storage */
	cf_sess_ext_release(s);
}

/* The n oldest queued frames are written (this write, or its last slice). */
static void
account(struct cf_sess *s, uint32_t n, uint64_t now_ns)
{
	for (uint32_t i = 0; i < n; i++) {
		struct cf_frame *f = cf_ring_peek(&s->out, i);

		if (f->ack) {
			struct cf_sess_ext *x = s->unsent ? cf_sess_ext(s) : NULL;

			/* Without room to wait (OOM), no ack: the message comes again, never lost.
			 */
			if (!s->unsent)
				ack_frame(s, f);
			else if (x && cf_ring_push(&x->acks, f, UINT32_MAX, SIZE_MAX) == 0)
				lws_callback_on_writable(s->wsi);
		}

		if (f->ordered_ns) {
			cf_metrics.deliveries_total++;
			cf_hist_observe(&cf_metrics.delivery_latency,
			                (double)(now_ns - f->ordered_ns) / 1e9);
		}
	}
}

/* One lws_write() of bytes the WebSocket stream already frames. lws sends what the socket takes
 * and keeps a copy of the rest (up to CF_WRITE_MAX: the cap is what bounds that copy), which
 * cf_sess_push() counts against session.queue_bytes until lws has sent it. */
static int
write_raw(struct cf_sess *s, unsigned char *buf, size_t len)
{
	if (lws_write(s->wsi, buf, len, LWS_WRITE_RAW) < 0)
		return -1;
	cf_metrics.bytes_out_total += len;
	s->unsent = lws_partial_buffered(s->wsi) ? (uint32_t)len : 0;
	return 0;
}

/* The writes of a session that negotiated permessage-deflate (write_queue()). Its messages must
 * go through lws's extension, which compresses each and marks it (RSV1); LWS_WRITE_RAW would
 * bypass it. So one lws_write(LWS_WRITE_TEXT) per message: queued events packed
 * newline-separated where the dialect allows, up to CF_DEFLATE_ONE_GO bytes, which lws
 * compresses in one go into its buffer and sends at once, done with ours; then the next
 * message while lws holds nothing, up to CF_WRITE_MAX bytes in all. A longer frame lws
 * compresses and sends a part at a time on the next POLLOUTs, reading it from the frame's
 * buffer: the frame stays queued (s->out_off) until the WRITEABLE lws gives once it has sent
 * all of it. What lws holds meanwhile (CF_DEFLATE_HELD) counts as queued. */
static int
write_messages(struct cf_sess *s)
{
	const struct cf_pack_limits lim = {
	        .pack_max = CF_DEFLATE_ONE_GO,
	        .newline = s->dialect->pack_newline,
	};
	unsigned char *scratch = server_of(s)->scratch + LWS_PRE;
	uint64_t now = cf_now_ns();
	size_t budget = CF_WRITE_MAX;

	while (s->out.count && !lws_partial_buffered(s->wsi)) {
		struct cf_pack w;

		if (cf_pack_message(&s->out, &lim, scratch, &w) < 0 ||
		    lws_write(s->wsi, w.buf, w.len, LWS_WRITE_TEXT) < 0)
			return -1;
		/* Uncompressed: lws does not say how much it sent. */
		cf_metrics.bytes_out_total += w.len;
		if (w.len > CF_DEFLATE_ONE_GO) {
			s->out_off = (uint32_t)w.len;
			s->unsent = CF_DEFLATE_HELD;
			return 0;
		}
		s->unsent = lws_partial_buffered(s->wsi) ? CF_DEFLATE_HELD : 0;
		account(s, w.frames, now);
		cf_ring_drop(&s->out, w.frames);
		if (w.len >= budget)
			break;
		budget -= w.len;
	}
	return 0;
}

/* Writes as much of the queue as fits in one lws_write() of at most CF_WRITE_MAX bytes, as
 * cf_pack_next() plans it: (part of) the oldest frame alone, straight from its shared buffer, or
 * several complete WebSocket frames built in the server's scratch buffer (the DESIGN.md
 * measurement: one send per callback is the cost). Dialects that allow it get several events
 * packed into one frame, newline-separated, up to CF_PACK_MAX. */
static int
write_queue(struct cf_sess *s)
{
	const struct cf_pack_limits lim = {
	        .write_max = CF_WRITE_MAX,
	        .pack_max = CF_PACK_MAX,
	        .newline = s->dialect->pack_newline,
	};
	uint64_t now = cf_now_ns();
	struct cf_pack w;

	if (s->deflate)
		return write_messages(s);
	if (cf_pack_next(&s->out, s->out_off, &lim, server_of(s)->scratch + LWS_PRE, &w) < 0)
		return -1;
	if (write_raw(s, w.buf, w.len) < 0)
		return -1;
	s->out_off = w.off;
	if (w.frames) {
		account(s, w.frames, now);
		cf_ring_drop(&s->out, w.frames);
	}
	return 0;
}

/* Writes s's queue now, outside WRITEABLE, but only while lws holds nothing of an earlier write:
 * lws would append to that copy, which grows past what the slow-consumer bound counts (the last
 * write, s->unsent). What lws cannot send at once it keeps and sends on POLLOUT, as from
 * WRITEABLE; the rest of the queue, a ping, a close and the acks of what lws holds wait for
 * WRITEABLE as before. */
static void
flush_one(struct cf_sess *s)
{
	s->flush_queued = 0;
	/* Listed sessions have a wsi and an env (on_closed() takes a closing one off the list);
	 * a WRITEABLE in the same turn may have written the queue, or lws may be closing it. */
	if (s->close_started || !s->out.count)
		return;
	if (lws_partial_buffered(s->wsi) || (s->deflate && s->out_off)) {
		lws_callback_on_writable(s->wsi);
		return;
	}
	if (write_queue(s) < 0) {
		/* What a -1 from WRITEABLE does: lws closes the connection. */
		s->close_started = 1;
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return;
	}
	if (s->out.count || s->closing || s->slow || s->ping_due || s->unsent)
		lws_callback_on_writable(s->wsi);
}

void
cf_sess_flush(struct cf_server *srv)
{
	struct cf_env *e = &srv->env;

	/* A write may queue more (an ack's bus work): entries added meanwhile are written too. */
	for (unsigned i = 0; i < e->flush_n; i++)
		if (e->flush[i])
			flush_one(e->flush[i]);
	e->flush_n = 0;
}

/* Milliseconds modulo 2^32: differences stay right for intervals below 49 days. */
static uint32_t
mono_ms(void)
{
	return (uint32_t)cf_now_ms();
}

/* Our own keepalive instead of lws's retry policy: lws 4.1 keeps one validity timer per
 * connection in a sorted linked list, so every new connection and every pong walks the whole
 * list (40 % of the server's CPU while 10,000 clients connect). One walk a second over the
 * sessions is cheaper. */
void
cf_sess_keepalive(struct cf_server *srv)
{
	uint32_t now = mono_ms(), ping = (uint32_t)srv->env.cfg->ping_interval * 1000;
	uint32_t pong = (uint32_t)srv->env.cfg->pong_timeout * 1000;

	lws_start_foreach_dll (struct lws_dll2 *, d, srv->sessions.head) {
		struct cf_sess *s = lws_container_of(d, struct cf_sess, in_server);
		uint32_t idle = now - s->seen_ms;
		/* A ping is outstanding while nothing arrived after it. */
		int outstanding = (int32_t)(s->ping_ms - s->seen_ms) > 0;

		/* No `continue` here: lws's foreach macros would never reach the next element. */
		if (s->close_started) {
			/* lws is closing it */
		} else if (outstanding && now - s->ping_ms >= pong) {
			cf_log_client(CF_LOG_INFO, "dead_peer", peer(s), (unsigned long long)s->id,
			              NULL,
			              "session %llu (%s): no sign of life for %u ms, hanging up",
			              (unsigned long long)s->id, peer(s), idle);
			s->close_started = 1;
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		} else if (!outstanding && idle >= ping) {
			s->ping_ms = now;
			s->ping_due = 1;
			lws_callback_on_writable(s->wsi);
		}
	}
	lws_end_foreach_dll(d);
}

static int
on_writeable(struct cf_sess *s)
{
	/* lws calls WRITEABLE only once it has sent all it held of our last write. */
	s->unsent = 0;
	ack_written(s);
	if (s->deflate && s->out_off) {
		/* lws has compressed and sent all of the long frame it read from our buffer. */
		account(s, 1, cf_now_ns());
		cf_ring_drop(&s->out, 1);
		s->out_off = 0;
	}
	/* After we asked lws to close, it sends the close frame and waits for the peer's; a
	 * further WRITEABLE must not return -1 again, which would cut that wait short. */
	if (s->close_started)
		return 0;
	/* A ping may not land inside a frame written in slices: it waits for the frame's end. */
	if (s->ping_due && !s->out_off) {
		/* lws 4.1 does not report empty pongs: give the ping a payload to echo. */
		unsigned char ping[LWS_PRE + 4] = {[LWS_PRE] = 'c', 'f', 'k', 'a'};

		s->ping_due = 0;
		if (lws_write(s->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
			return -1;
		if (s->out.count || s->closing || s->slow)
			lws_callback_on_writable(s->wsi);
		return 0;
	}
	/* What is queued goes first: a slow session's queue holds only a frame halfway written. */
	if (s->out.count) {
		if (write_queue(s) < 0)
			return -1;
		/* The close frame is a write of its own: it goes on the next WRITEABLE. */
		if (s->out.count || s->closing || s->slow || s->ping_due)
			lws_callback_on_writable(s->wsi);
		return 0;
	}
	if (s->slow) {
		s->close_started = 1;
		set_close(s, 4008, "slow consumer");
		return -1;
	}
	if (s->closing) {
		s->close_started = 1;
		set_close(s, s->close_code, s->x && s->x->close_reason ? s->x->close_reason : "");
		return -1;
	}
	return 0;
}

/* Hands a complete message to the dialect. A dialect that reads binary messages as text (the
 * seeds' Go decoders did) gets them as UTF-8, as Go decoded them: invalid sequences become
 * U+FFFD, and a NUL ends the text. Others get buf NULL for a binary message. */
static int
to_dialect(struct cf_sess *s, const char *buf, size_t len)
{
	char *clean;
	int r;

	if (!s->rx_binary)
		return s->dialect->on_text(s, buf, len);
	if (!s->dialect->binary_as_text)
		return s->dialect->on_text(s, NULL, 0);
	clean = cf_text_utf8_sanitize(buf, len);
	if (!clean)
		return -1;
	r = s->dialect->on_text(s, clean, strlen(clean));
	free(clean);
	return r;
}

/* Ends the session at once for a protocol error in what it sent, as lws ends it for its own:
 * the close frame with code, nothing of the message handed on. Returns -1 (for lws). */
static int
fail(struct cf_sess *s, int code, const char *reason, const char *what)
{
	cf_log_client(CF_LOG_INFO, "bad_message", peer(s), (unsigned long long)s->id, NULL,
	              "session %llu (%s): %s, closing with %d", (unsigned long long)s->id, peer(s),
	              what, code);
	lws_close_reason(s->wsi, (enum lws_close_status)code, (unsigned char *)reason,
	                 strlen(reason));
	return -1;
}

/* Whether the next len bytes of a text message keep it UTF-8 (RFC 6455 8.1) from where *st
 * stands, and once final, whether it ended on a whole character. Done here rather than by lws
 * (LWS_SERVER_OPTION_VALIDATE_UTF8), which 4.1.6 can only do for the whole context and before
 * an extension's output: a compressed message is checked once inflated. A message that is not
 * ends the session as lws ended it: close 1007 at once. */
static int
utf8_ok(struct cf_sess *s, uint8_t *st, const void *in, size_t len, int final)
{
	if (cf_text_utf8_feed(st, in, len) == 0 && !(final && *st))
		return 1;
	fail(s, LWS_CLOSE_STATUS_INVALID_PAYLOAD, *st ? "partial utf8" : "bad utf8",
	     "text message not UTF-8");
	return 0;
}

static void
too_big(struct cf_sess *s, size_t max)
{
	cf_metrics.frame_too_big_total++;
	cf_log_client(CF_LOG_INFO, "message_too_big", peer(s), (unsigned long long)s->id, NULL,
	              "session %llu (%s): message over %zu bytes, closing with 1009",
	              (unsigned long long)s->id, peer(s), max);
	cf_sess_close_quiet(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
}

/* Hands the message reassembled in s->x to the dialect and releases what held it. */
static int
deliver(struct cf_sess *s)
{
	struct cf_sess_ext *x = s->x;
	int r = to_dialect(s, x ? (const char *)x->rx : NULL, x ? x->rx_len : 0);

	/* The dialect may have used s->x meanwhile, but never frees it. */
	if ((x = s->x)) {
		free(x->rx);
		x->rx = NULL;
		x->rx_len = 0;
		cf_sess_ext_release(s);
	}
	return r;
}

/* A chunk of a compressed message (permessage-deflate), inflated into s->x as it arrives: its
 * inflated size is bounded by max exactly as a plain message's is (1009 as soon as it passes
 * it, without inflating or holding more), and it is checked as the text it inflates to. */
static int
receive_deflated(struct cf_sess *s, const void *in, size_t len, int first, int final, size_t max)
{
	struct cf_sess_ext *x = cf_sess_ext(s);
	size_t from;
	uint8_t st;
	int r;

	if (!x)
		return -1;
	if (first)
		x->rx_len = 0;
	from = x->rx_len;
	r = cf_deflate_inflate(&x->inflater, in, len, first, final, &x->rx, &x->rx_len, max);
	if (r == -EMSGSIZE) {
		free(x->rx); /* what it inflated to so far: the session only closes now */
		x->rx = NULL;
		x->rx_len = 0;
		too_big(s, max);
		return 0;
	}
	if (r == -EBADMSG)
		return fail(s, LWS_CLOSE_STATUS_PROTOCOL_ERR, "bad compressed data",
		            "compressed message does not inflate");
	if (r < 0)
		return -1;
	st = first ? 0 : x->rx_utf8;
	if (!s->rx_binary && !utf8_ok(s, &st, x->rx + from, x->rx_len - from, final))
		return -1;
	x->rx_utf8 = st;
	return final ? deliver(s) : 0;
}

/* Reassembles a message lws delivers in several chunks (more than rx_buffer_size bytes, or
 * fragmented by the client) in s->x, which is released again once the message is handed on. */
static int
on_receive(struct cf_sess *s, const void *in, size_t len)
{
	const struct cf_config *cfg = s->env->cfg;
	int first = lws_is_first_fragment(s->wsi), final = lws_is_final_fragment(s->wsi);
	struct cf_sess_ext *x = s->x;
	size_t have = x && !first ? x->rx_len : 0;
	size_t max = s->dialect->max_frame ? s->dialect->max_frame : (size_t)cfg->max_frame;
	/* lws gives a frame in chunks and says which frame's bits they are of, not where a
	 * frame starts: one starts where the last chunk left nothing of its own. */
	int new_frame = !s->rx_mid_frame;
	uint8_t st;

	if (s->dialect->max_is_text)
		max = (size_t)cfg->max_text;
	server_of(s)->rx_turn = 1;
	cf_metrics.bytes_in_total += len;
	s->seen_ms = mono_ms();
	if (s->slow || s->closing)
		return 0; /* nothing more is processed from a session on its way out */
	s->rx_mid_frame = !!lws_remaining_packet_payload(s->wsi);
	if (first) {
		s->rx_binary = !!lws_frame_is_binary(s->wsi);
		/* RSV1: compressed. lws lets it through only where permessage-deflate was
		 * negotiated, and hands us the payload as it came (deflate.c). */
		s->rx_deflated = !!(lws_get_reserved_bits(s->wsi) & 0x40);
		if (x)
			x->rx_len = 0;
	} else if (new_frame && (lws_get_reserved_bits(s->wsi) & 0x40)) {
		/* RFC 7692 6.1: only a message's first frame says it is compressed. */
		return fail(s, LWS_CLOSE_STATUS_PROTOCOL_ERR, "bad rsv",
		            "RSV1 on a continuation frame");
	}
	if (s->rx_deflated)
		return receive_deflated(s, in, len, first, final, max);
	/* Where the check of a text message split over chunks stood (a chunk may end inside a
	 * character). */
	st = first || !x ? 0 : x->rx_utf8;
	if (!s->rx_binary && !utf8_ok(s, &st, in, len, final))
		return -1;
	/* Refused before it is all read when the frame says it is too long already. */
	if (have + len + (final ? 0 : lws_remaining_packet_payload(s->wsi)) > max) {
		too_big(s, max);
		return 0;
	}
	if (first && final)
		return to_dialect(s, in, len);
	if (len) {
		unsigned char *nrx;

		if (!(x = cf_sess_ext(s)) || !(nrx = realloc(x->rx, x->rx_len + len)))
			return -1;
		x->rx = nrx;
		memcpy(x->rx + x->rx_len, in, len);
		x->rx_len += len;
	}
	if (!final) {
		if (s->x)
			s->x->rx_utf8 = st;
		return 0;
	}
	return deliver(s);
}

static int
on_established(struct cf_server *srv, struct cf_sess *s, struct lws *wsi)
{
	const struct cf_dialect *d;
	char ip[48], path[256];

	/* The endpoint's dialect among those the listener mounts: cf_server_admit() let only
	 * their paths through. */
	if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	d = cf_server_ws_endpoint(srv, wsi, path);
	if (!d)
		return -1;
	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	s->env = &srv->env;
	s->dialect = d;
	s->id = ++srv->next_sess_id;
	cf_req_client_ip(srv->env.cfg, wsi, ip, sizeof(ip));
	s->ipc = cf_server_ip_ref(srv, ip);
	s->seen_ms = s->ping_ms = mono_ms();
	s->deflate = cf_deflate_setup(wsi);
	lws_dll2_add_tail(&s->in_server, &srv->sessions);
	cf_metrics.connections = srv->sessions.count;
	cf_metrics.connections_total++;
	log_debug("session %llu (%s): open (%s%s)", (unsigned long long)s->id, peer(s),
	          s->dialect->name, s->deflate ? ", permessage-deflate" : "");
	return s->dialect->on_open ? s->dialect->on_open(s, wsi) : 0;
}

static void
on_closed(struct cf_server *srv, struct cf_sess *s)
{
	if (!s->env) /* never established */
		return;
	if (s->flush_queued) /* closed in the turn its queue filled: rare, so a scan */
		for (unsigned i = 0; i < srv->env.flush_n; i++)
			if (srv->env.flush[i] == s)
				srv->env.flush[i] = NULL;
	s->flush_queued = 0;
	cf_bus_cancel(srv->env.bus, s);
	cf_auth_cancel(srv->env.auth, s);
	if (s->dialect->on_close)
		s->dialect->on_close(s);
	cf_sess_hold_clear(s);
	/* Held messages lws never sent stay kept: the bus delivers them again. */
	if (s->x) {
		cf_ring_clear(&s->x->acks);
		free(s->x->rx);
		cf_deflate_free(s->x->inflater);
	}
	free(s->x); /* the dialect's on_close emptied what it owned in it */
	s->x = NULL;
	cf_room_leave_all(srv->env.reg, s);
	cf_registry_user_remove(srv->env.reg, s);
	cf_ring_clear(&s->out);
	free(s->user_id); /* user_name lives in the same allocation */
	lws_dll2_remove(&s->in_server);
	/* Logged while the address entry (peer()) still exists: the unref may free it. */
	log_debug("session %llu (%s): closed", (unsigned long long)s->id, peer(s));
	cf_server_ip_unref(srv, s->ipc);
	s->ipc = NULL;
	cf_metrics.connections = srv->sessions.count;
	s->env = NULL;
}

int
cf_sess_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
	struct cf_server *srv = lws_context_user(lws_get_context(wsi));
	struct cf_sess *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* lws asks the protocol the connection is bound to, which is this one (the vhost's
		 * "default"), not the HTTP protocol: the gate lives in http.c either way. */
		return cf_http_callback(wsi, reason, NULL, in, len);
	case LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
		/* Only a deflate=on listener has extensions to offer. */
		return !cf_deflate_offer_ok(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(srv, s, wsi);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(s, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		s->seen_ms = mono_ms();
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* A close frame's reason is UTF-8 too (RFC 6455 5.5.1): one that is not ends the
		 * connection without the echo, as lws's own check did. */
		if (len > 2) {
			uint8_t st = 0;

			if (cf_text_utf8_feed(&st, (const char *)in + 2, len - 2) < 0 || st)
				return -1;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(s);
	case LWS_CALLBACK_CLOSED:
		on_closed(srv, s);
		if (srv->draining && !srv->sessions.count)
			lws_cancel_service(srv->ctx);
		break;
	default:
		break;
	}
	return 0;
}
