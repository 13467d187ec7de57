/* SPDX-License-Identifier: MIT */
/* sess.h - a client session's state as the core, the dialects and the transport share it:
 * identity, dialect, joined rooms, the outbound queue of frame references, the rate limits, and
 * how it closes. The transport (session.h) owns the connection and is the only one to write to
 * it; the core reaches it through the callbacks it is given (room.h struct cf_registry_host). */
#pragma once

#include <stdint.h>
#include <libwebsockets.h>

#include <uthash.h>

#include "base/ratelimit.h"
#include "core/ring.h"

struct cf_env;
struct cf_frame;
struct cf_user;
struct cf_dialect;

/* Sessions per client address (the server counts them); sessions hold a pointer to their
 * address's entry. */
struct cf_ipcount {
	UT_hash_handle hh;
	uint32_t n;
	char ip[48];
};

/* Commands a session may hold back while it waits (cf_sess_hold()): past it the dialect
 * answers that the client sends too fast. */
#define CF_SESS_HOLD_MAX 16

/* What only some sessions need, allocated on first use (cf_sess_ext()) and freed when the
 * session closes, so that an idle guest's session stays small (docs/benchmarks.md, idle
 * memory): accounts, commands held back while one waits, a dialect's own state. */
struct cf_sess_ext {
	char account_id[37];        /* auth.c: the account's id once signed in, else "" */
	struct lws_dll2_owner held; /* commands held back (cf_sess_hold()), oldest first */
	char *auth_arg;             /* owned by the dialect (e.g. a pending hello's name) */
	void *dstate;               /* owned by the dialect: its per-session state */
	/* Held direct messages' frames (frame.h ack) written while lws still holds part of the
	 * write: acknowledged once lws has sent it all (the next WRITEABLE). Owned (session.c). */
	struct cf_ring acks;
	/* A message lws delivers in several chunks (more than rx_buffer_size bytes), reassembled
	 * (session.c). Owned. */
	unsigned char *rx;
	size_t rx_len;
	/* Where the UTF-8 check of a text message split over chunks stands (cf_text_utf8_feed()).
	 */
	uint8_t rx_utf8;
	/* The inflater of what the session receives compressed (permessage-deflate), kept from one
	 * message to the next; owned by the transport (net/deflate.c). */
	void *inflater;
	/* The close frame's reason (a string literal) while the session closes after its queue
	 * (cf_sess_close()); without it (out of memory) the close frame has the code alone. */
	const char *close_reason;
};

struct cf_sess {
	struct lws_dll2 in_server; /* on cf_server.sessions */
	struct lws *wsi;
	struct cf_env *env; /* the server's (server.h); NULL before the session is established */
	const struct cf_dialect *dialect;
	uint64_t id;
	char *user_id;               /* owned; NULL until hello or the first command */
	const char *user_name;       /* in user_id's allocation (== user_id if equal) */
	struct lws_dll2_owner rooms; /* struct cf_member via in_sess, owned by the registry */
	struct cf_ring out;
	/* limits.rate; zeroed (as lws allocates it) is full */
	struct cf_sbucket bucket;
	/* rooms.join_rate, apart from the send bucket */
	struct cf_sbucket join_bucket;
	/* rooms.typing_rate, apart from both */
	struct cf_sbucket typing_bucket;
	uint32_t strikes;    /* refused sends in a row */
	uint32_t seen_ms;    /* CLOCK_MONOTONIC ms (mod 2^32) of the peer's last frame or pong */
	uint32_t ping_ms;    /* ... of our last ping */
	uint16_t close_code; /* 1000..4999; the flags below share its 4 bytes */
	unsigned hello : 1;
	unsigned closing : 1;       /* close after the queue is written */
	unsigned slow : 1;          /* queue overflowed: close 4008 at once */
	unsigned rx_binary : 1;     /* the message being reassembled is binary */
	unsigned close_started : 1; /* lws is sending our close frame */
	unsigned ping_due : 1;      /* the next WRITEABLE sends a ping */
	/* A command is being served (cf_sess_busy()): later ones are held (x->held) and replayed
	 * once it is done, so replies keep the commands' order. */
	unsigned busy : 1;
	unsigned rx_off : 1;       /* it waits (cf_sess_wait()): lws stopped reading the socket */
	unsigned replaying : 1;    /* cf_sess_done() is feeding held commands to the dialect */
	unsigned flush_queued : 1; /* on env->flush: written at the end of this loop turn */
	/* It negotiated permessage-deflate: its messages go through lws's extension, one
	 * lws_write() each (session.c), and it may send compressed ones. */
	unsigned deflate : 1;
	unsigned rx_deflated : 1; /* the message being received is compressed */
	/* The last chunk lws gave us ended inside a frame: the next one is not a new frame. */
	unsigned rx_mid_frame : 1;
	/* Bytes of the oldest queued frame already written: a frame larger than one write
	 * (CF_WRITE_MAX) goes out in slices, and nothing else may be written in between. With
	 * deflate: the oldest frame's length while lws compresses it over several WRITEABLEs. */
	uint32_t out_off;
	/* Bytes of our last write that lws may still hold: lws keeps the unsent rest of a write in
	 * a copy of its own and says only that it does (lws_partial_buffered()), not how much, so
	 * the whole write counts. 0 once lws calls WRITEABLE again, which it does only after
	 * sending that copy. */
	uint32_t unsent;
	struct cf_ipcount *ipc; /* the peer address's entry; NULL on OOM */
	/* Its user (the registry's, user.c) and its place on the user's list of sessions, once it
	 * has one. */
	struct cf_user *user;
	struct cf_sess *user_prev, *user_next;
	struct cf_sess_ext *x; /* owned; NULL until cf_sess_ext() */
};

/* The id of the account s is signed in as, or "" (guests, and sessions without s->x). */
static inline const char *
cf_sess_account(const struct cf_sess *s)
{
	return s->x ? s->x->account_id : "";
}

/* s->x, allocated (zeroed) if it was not: NULL when out of memory. */
struct cf_sess_ext *cf_sess_ext(struct cf_sess *s);
/* Frees s->x when it holds nothing any more (as cf_sess_ext() made it), so that a session that
 * needed it for a while (a long message, a write lws held) is small again once idle. Callers
 * must not keep a pointer to s->x across it. */
void cf_sess_ext_release(struct cf_sess *s);
/* The client address of s (X-Forwarded-For applied), or NULL when it is not known. */
const char *cf_sess_addr(const struct cf_sess *s);

/* Queues a reference to f. When the queue and what lws still holds of the last write would
 * exceed session.queue_bytes (or the queue session.queue_frames), the session is marked slow and
 * closed with 4008. */
void cf_sess_push(struct cf_sess *s, struct cf_frame *f);
/* Queues f and drops the caller's reference to it; NULL (a render that failed) is ignored. */
void cf_sess_push_owned(struct cf_sess *s, struct cf_frame *f);
/* Queues a bye event, stops taking input, and closes with code once the queue is written.
 * reason must be a string literal (it is kept). */
void cf_sess_close(struct cf_sess *s, int code, const char *reason);
/* The same without the bye event (the session broke a rule; the close code says which). */
void cf_sess_close_quiet(struct cf_sess *s, int code, const char *reason);
/* Takes a send token. 0: allowed; -EAGAIN: refused; -ECONNABORTED: refused, and the session is
 * now closing with 4029 (after what is queued, without a bye). */
int cf_sess_rate_take(struct cf_sess *s);
/* Gives the session a user identity (copies). -ENOMEM; -EBUSY while the session is in a room
 * (its identity changes only outside rooms: the rooms' presence borrows it). */
int cf_sess_set_user(struct cf_sess *s, const char *id, const char *name);

/* ---- commands held back while the session waits on asynchronous work ---------------------
 * A dialect that serves a command later (an account operation, a bus request) holds the
 * session's next commands back and stops reading its socket meanwhile, so that replies keep
 * the commands' order and a client cannot make the server hold more than CF_SESS_HOLD_MAX. */

/* A command is being served: the ones arriving until cf_sess_done() must be held. */
void cf_sess_busy(struct cf_sess *s);
/* ... and it waits for asynchronous work: lws also stops reading the socket (rx flow
 * control) until cf_sess_done(). */
void cf_sess_wait(struct cf_sess *s);
/* The command is done: the held ones go to the dialect's on_text() in order, until one of them
 * makes the session busy again or it closes; once idle, lws reads the socket again. A held
 * command the dialect fails (on_text() < 0) closes the session with 1011. */
void cf_sess_done(struct cf_sess *s);
/* Whether a command arriving now must be held: one is being served, or older ones are held
 * and not being replayed. */
static inline int
cf_sess_must_hold(const struct cf_sess *s)
{
	return s->busy || (s->x && s->x->held.count && !s->replaying);
}
/* Holds a copy of the command (buf NULL: a binary message, replayed as NULL). 0; -ENOBUFS when
 * CF_SESS_HOLD_MAX are held already (the dialect answers); -ENOMEM. */
int cf_sess_hold(struct cf_sess *s, const char *buf, size_t len);
/* Drops what is held (the session is closing). */
void cf_sess_hold_clear(struct cf_sess *s);
