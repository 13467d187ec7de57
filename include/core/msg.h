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

/* What a room message is (cf_msg.kind): a message, or a correction of an earlier one in the
 * same room's log (docs/protocol.md "edit", "delete"), ordered like a message and naming it by
 * seq (cf_msg.ref). */
enum cf_msg_kind {
	CF_MSG_PLAIN,
	CF_MSG_EDIT,   /* text replaces the text of message ref */
	CF_MSG_DELETE, /* message ref is deleted; text is "" */
};

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
	/* enum cf_msg_kind; with ref, the seq of the message an edit or delete corrects. */
	uint8_t kind;
	uint64_t ref;
	/* A message as a room's history holds it once corrected (room.c folds each edit and
	 * delete into the message it names): the time of its latest edit, 0 for none; or deleted,
	 * text "": kept in the history only to hold its seq's place, shown to nobody. */
	int64_t edited_ms;
	uint8_t deleted;
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
 * "text"} (with "edited":<ms> once edited), an edit {"ev":"edit",...,"ref","text"} or a delete
 * {"ev":"delete",...,"ref"}: confab.v1's events and the REST API's history entries (new
 * reference). NULL for a deleted message, which is shown to nobody. */
struct json_t;
struct json_t *cf_msg_json(const struct cf_msg *m);

/* orig as corrected by the edit or delete fix (a new message, one reference), or NULL when
 * fix does not apply to it: fix names another seq, orig is no message or deleted already, or
 * an edit is not by orig's author (only a delete may be a moderator's), or on OOM. How every
 * node reads a room's log: room.c folds each fix into its history, the cluster bus a page of
 * history it reads. */
struct cf_msg *cf_msg_fixed(const struct cf_msg *orig, const struct cf_msg *fix);

/* Completion of one publish: err is 0 and m->seq is set, or err < 0 (-EAGAIN: the bus cannot
 * order now, the client may retry). tag is the caller's, passed through. m is borrowed. */
typedef void cf_msg_done_cb(void *ud, int64_t tag, struct cf_msg *m, int err);
