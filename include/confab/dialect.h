/* SPDX-License-Identifier: MIT */
/* dialect.h - a dialect is a codec between one wire protocol and the core: it parses complete
 * client messages into core commands and renders core events into frames, once per event. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum {
	CF_DIALECT_NATIVE,
	CF_DIALECT_MAX,
};

struct cf_sess;
struct cf_msg;
struct cf_frame;
struct cf_member;

struct cf_dialect {
	int id;
	const char *name;
	/* Several queued events may be joined with '\n' into one WebSocket frame. */
	unsigned pack_newline : 1;
	/* A complete text message from the client. Returns 0, or -1 to close the session (the
	 * close code is set on the session). */
	int (*on_text)(struct cf_sess *s, const char *buf, size_t len);
	/* Renderers return a new frame with one reference, or NULL on OOM. */
	struct cf_frame *(*render_msg)(const struct cf_msg *m);
	struct cf_frame *(*render_presence)(const char *ev, const char *room, const char *user_id,
	                                    const char *user_name);
	struct cf_frame *(*render_bye)(int code, const char *reason);
	/* A direct message (m->dm). */
	struct cf_frame *(*render_dm)(const struct cf_msg *m);
	/* {"ev":"gap"}: messages after seq may be missing; epoch is the room's from now on. */
	struct cf_frame *(*render_gap)(const char *room, uint64_t epoch, uint64_t seq);
	/* A join that waited for the room to sync (cf_room_join() gave -EINPROGRESS) is done:
	 * reply from the room's state, or with an error when err < 0 (the member is removed
	 * after this returns). */
	void (*join_done)(struct cf_sess *s, struct cf_member *mb, int err);
};

extern const struct cf_dialect cf_dialect_native;

/* A message as a confab.v1 "msg" event object (new reference); the REST API uses it too. */
struct json_t;
struct json_t *cf_native_msg_json(const struct cf_msg *m);
