/* SPDX-License-Identifier: MIT */
/* dialect_native_int.h - what the files of confab.v1 (docs/protocol.md) share, and nobody
 * else sees (nothing outside src/dialects/ includes it): the command being handled, the replies,
 * the field readers, and the commands each file serves.
 *
 *   dialect_native.c           the codec: a frame into a command, its id and op, the command
 *                              table, replies and errors, the fields' rules, guest identities
 *   dialect_native_render.c    core events as confab.v1 events
 *   dialect_native_accounts.c  hello, register, login, logout (commands that wait for auth.c
 *                              hold the session's later ones back: sess.h)
 *   dialect_native_rooms.c     join, leave, send, edit, delete, history, presence, dm, typing
 *   dialect_native_read.c      read markers: read, unread, the read event
 *   dialect_native_mod.c       rooms with owners and rules: create, room, topic, kind, role,
 *                              kick, ban, unban, mute, unmute */
#ifndef CONFAB_DIALECT_NATIVE_INT_H
#define CONFAB_DIALECT_NATIVE_INT_H

#include "core/msg.h"
#include "core/room.h"
#include "core/sess.h"

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define ID_MAX ((json_int_t)1 << 53)

/* A command being handled: the session, the parsed object (borrowed) and its id. */
struct cmd {
	struct cf_sess *s;
	json_t *o;
	json_int_t id; /* -1: none */
};

/* dialect_native.c */
/* Steals obj; adds op and the command's id (if it had one: id >= 0). Also for replies that
 * come later than the command (acks, joins that waited). */
void cf_native_reply_to(struct cf_sess *s, json_int_t id, const char *op, json_t *obj);
int cf_native_reply(struct cmd *c, const char *op, json_t *obj);
/* cf_native_reply_to() with one more member, "members": the users present in room, written
 * straight into the frame (core/room.h cf_room_members_frame()). */
void cf_native_reply_members(struct cf_sess *s, json_int_t id, const char *op, json_t *obj,
                             struct cf_room *room);
/* An error event with the code and message; returns 0. */
int cf_native_err_reply(struct cf_sess *s, json_int_t id, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
#define fail(c, code, ...) cf_native_err_reply((c)->s, (c)->id, code, __VA_ARGS__)
/* Field access: each returns 1 if present and valid, 0 if absent, -1 after replying with an
 * error naming the field. */
int cf_native_get_str(struct cmd *c, const char *key, const char **ret, size_t *ret_len);
int cf_native_get_int(struct cmd *c, const char *key, json_int_t min, json_int_t max,
                      json_int_t *ret);
int cf_native_set_guest(struct cf_sess *s, const char *name);
int cf_native_ensure_user(struct cf_sess *s);

/* dialect_native_render.c */
json_t *cf_native_user_json(const char *id, const char *name);
struct cf_frame *cf_native_render_msg(const struct cf_msg *m);
struct cf_frame *cf_native_render_presence(const char *ev, const char *room, const char *uid,
                                           const char *uname);
struct cf_frame *cf_native_render_typing(const char *room, const char *uid, const char *uname,
                                         int typing, int ttl_ms);
struct cf_frame *cf_native_render_bye(int code, const char *reason);
struct cf_frame *cf_native_render_dm(const struct cf_msg *m);
struct cf_frame *cf_native_render_gap(const char *room, uint64_t epoch, uint64_t seq);

/* dialect_native_accounts.c */
int cf_native_cmd_hello(struct cmd *c);
int cf_native_cmd_register(struct cmd *c);
int cf_native_cmd_login(struct cmd *c);
int cf_native_cmd_logout(struct cmd *c);
void cf_native_on_close(struct cf_sess *s);
/* Whether s may join room: an application token may name the only rooms its user may. */
int cf_native_room_allowed(const struct cf_sess *s, const char *room);

/* dialect_native_mod.c */
int cf_native_cmd_rules(struct cmd *c);
struct cf_frame *cf_native_render_rules(const char *room, const struct cf_rules *r,
                                        const struct cf_rules_change *c);
void cf_native_kicked(struct cf_sess *s, const char *room, const struct cf_rules_change *c);
/* The errors of the rules' refusals (core/rules.h) and of the bus's rules operations. */
void cf_native_rules_error(struct cf_sess *s, json_int_t id, int err, const char *room);
void cf_native_join_refused(struct cf_sess *s, json_int_t id, int err, const char *room);
/* Frees the rules request the session waited for. */
void cf_native_mod_forget(struct cf_sess *s);

/* dialect_native_read.c */
int cf_native_cmd_read(struct cmd *c);
int cf_native_cmd_unread(struct cmd *c);
int cf_native_cmd_rooms(struct cmd *c);
struct cf_frame *cf_native_render_read(const char *room, uint64_t seq);
struct cf_frame *cf_native_render_notice(const char *text, int64_t ts_ms);
struct cf_frame *cf_native_render_read_of(const char *room, const char *uid, const char *uname,
                                          uint64_t seq);

/* dialect_native_rooms.c */
/* The joined room named by the command's "room": 1, or -1 after the error reply. */
int cf_native_get_joined(struct cmd *c, struct cf_room **ret);
int cf_native_cmd_join(struct cmd *c);
int cf_native_cmd_leave(struct cmd *c);
int cf_native_cmd_send(struct cmd *c);
int cf_native_cmd_fix(struct cmd *c);
int cf_native_cmd_history(struct cmd *c);
int cf_native_cmd_presence(struct cmd *c);
int cf_native_cmd_dm(struct cmd *c);
int cf_native_cmd_typing(struct cmd *c);
void cf_native_join_done(struct cf_sess *s, struct cf_member *mb, int err);

#endif
