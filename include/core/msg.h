/* SPDX-License-Identifier: MIT */
/* msg.h - a chat message as the core holds it: refcounted, ordered by the bus (bus.h), kept in
 * room histories and inboxes, rendered once per dialect into frames that sessions share. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/dialect.h"

struct cf_frame;

#define CF_MSG_ID_LEN   37
#define CF_KEEP_CHARGED 1
#define CF_KEEP_REFUSED 2

/* An ordered chat message. Immutable once ordered; refcounted because the room history and
 * the bus may hold it while frames rendered from it are queued. */
struct cf_msg {
	uint32_t refs;
	uint64_t seq;
	uint64_t epoch;
	int64_t ts_ms;       /* wall clock when ordered */
	uint64_t ordered_ns; /* CLOCK_MONOTONIC when ordered */
	char *room;
	char *from_id;
	char *from_name;
	char *text;
	char *nonce; /* NULL if none */
	/* Set on a publish's message when the bus found its nonce already ordered: seq is the
	 * earlier message's and nothing new was delivered. */
	uint8_t dup;
	/* A direct message: room holds the recipient's user id; seq and epoch are 0. */
	uint8_t dm;
	/* A direct message to keep in the recipient's inbox (inbox.h) when the user has no
	 * session anywhere, instead of failing with -ENOENT. Set by the sender. */
	uint8_t keep;
	/* With keep: keep it only if the recipient is an account (auth.h), asked by the bus
	 * atomically with the keep; for any other recipient the message is a plain one (-ENOENT
	 * when the user has no session). For the cluster bus, where only Redis knows the
	 * accounts. The local bus keeps no accounts: standalone the sender asks auth.c before
	 * setting keep, and a message with keep_acct is never kept (the safe answer). */
	uint8_t keep_acct;
	/* The sender's side of inbox.max_per_ip (cf_registry_keep_take()): CF_KEEP_CHARGED when
	 * keep was charged to the sender's address (given back unless the message is kept),
	 * CF_KEEP_REFUSED when the address had none left and keep was cleared. 0: neither. */
	uint8_t keep_quota;
	/* Set by the bus. On a completion: the message was kept in the inbox, not delivered.
	 * On a delivered message: it comes from the inbox (queued_ms says when it was kept). */
	uint8_t queued;
	int64_t queued_ms;
	/* Set by the bus on a delivered direct message that stays kept until a session has written
	 * it (cf_bus_dm_written(), with mid): its frames carry the ack (frame.h). */
	uint8_t held;
	/* A kept direct message's id (a UUID the bus gives it), "" otherwise. */
	char mid[CF_MSG_ID_LEN];
	/* Frames rendered lazily, once per dialect; owned (one reference each). */
	struct cf_frame *frames[CF_DIALECT_SLOTS];
};

struct cf_msg *cf_msg_new(const char *room, const char *from_id, const char *from_name,
                          const char *text, const char *nonce);
struct cf_msg *cf_msg_ref(struct cf_msg *m);
struct cf_msg *cf_msg_unref(struct cf_msg *m);
/* The message rendered for dialect d, cached on the message. Borrowed; NULL on OOM. */
struct cf_frame *cf_msg_frame(struct cf_msg *m, const struct cf_dialect *d);
/* The message as confab's JSON object, {"ev":"msg","room","seq","ts","from":{"id","name"},
 * "text"}: confab.v1's msg event and the REST API's history entry (new reference). */
struct json_t;
struct json_t *cf_msg_json(const struct cf_msg *m);

/* Completion of one publish: err is 0 and m->seq is set, or err < 0 (-EAGAIN: the bus cannot
 * order now, the client may retry). tag is the caller's, passed through. m is borrowed. */
typedef void cf_msg_done_cb(void *ud, int64_t tag, struct cf_msg *m, int err);
