/* SPDX-License-Identifier: MIT */
/* dialect_native.c - confab.v1 (docs/protocol.md): parses client commands into core calls and
 * renders core events. Every protocol error is answered here, with the command's id; none
 * closes the connection except the rate-limit abuse close (4029). This file is the codec: a
 * frame into a command, the command table, replies and errors, the fields' rules, guest
 * identities; the commands are served by its other files (dialect_native_int.h). */
#include "base/clock.h"
#include "base/ident.h"
#include "core/dialect.h"
#include "core/frame.h"
#include "dialects/dialect_native_int.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Steals obj: encodes it as one frame and queues it. */
static void
push_json(struct cf_sess *s, json_t *obj)
{
	cf_sess_push_owned(s, cf_frame_from_json(obj));
}
/* Steals obj; adds op and the command's id (if it had one: id >= 0). Also for replies that
 * come later than the command (acks, joins that waited). */
void
cf_native_reply_to(struct cf_sess *s, json_int_t id, const char *op, json_t *obj)
{
	if (!obj)
		return;
	json_object_set_new(obj, "op", json_string(op));
	if (id >= 0)
		json_object_set_new(obj, "id", json_integer(id));
	push_json(s, obj);
}

void
cf_native_reply_members(struct cf_sess *s, json_int_t id, const char *op, json_t *obj,
                        struct cf_room *room)
{
	static const char key[] = "\"members\":";
	char *txt, *head;
	size_t n;

	if (!obj)
		return;
	json_object_set_new(obj, "op", json_string(op));
	if (id >= 0)
		json_object_set_new(obj, "id", json_integer(id));
	txt = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	n = txt ? strlen(txt) : 0;
	/* The object's text without its closing brace, a comma, the key; the list and the brace
	 * follow. The object always has members (op at least). */
	head = n >= 2 && txt[n - 1] == '}' ? malloc(n + sizeof(key)) : NULL;
	if (head) {
		memcpy(head, txt, n - 1);
		head[n - 1] = ',';
		memcpy(head + n, key, sizeof(key) - 1);
		cf_sess_push_owned(
		        s, cf_room_members_frame(room, NULL, head, n + sizeof(key) - 1, "}", 1));
	}
	free(head);
	free(txt);
}

int
cf_native_reply(struct cmd *c, const char *op, json_t *obj)
{
	cf_native_reply_to(c->s, c->id, op, obj);
	return 0;
}

int
cf_native_err_reply(struct cf_sess *s, json_int_t id, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
	if (o && id >= 0)
		json_object_set_new(o, "id", json_integer(id));
	push_json(s, o);
	return 0;
}

int
cf_native_get_str(struct cmd *c, const char *key, const char **ret, size_t *ret_len)
{
	json_t *v = json_object_get(c->o, key);

	if (!v)
		return 0;
	if (!json_is_string(v)) {
		fail(c, "bad_request", "field '%s' must be a string", key);
		return -1;
	}
	*ret = json_string_value(v);
	*ret_len = json_string_length(v);
	return 1;
}

int
cf_native_get_int(struct cmd *c, const char *key, json_int_t min, json_int_t max, json_int_t *ret)
{
	json_t *v = json_object_get(c->o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		fail(c, "bad_request", "field '%s' must be an integer in [%lld, %lld]", key,
		     (long long)min, (long long)max);
		return -1;
	}
	*ret = json_integer_value(v);
	return 1;
}

/* A guest is the user "guest:<name>": never an account, whatever the name (ident.h). The
 * caller checked a chosen name against limits.max_name; a made one (guest-XXXXXX) may be
 * longer than a small limit, as before. */
int
cf_native_set_guest(struct cf_sess *s, const char *name)
{
	char id[CF_IDENT_MAX];

	if (cf_ident_make(CF_ID_GUEST, name, 256, id, sizeof(id)) < 0)
		return -1;
	return cf_sess_set_user(s, id, name);
}

int
cf_native_ensure_user(struct cf_sess *s)
{
	unsigned char rnd[3] = {0};
	char name[32];

	if (s->user_id)
		return 0;
	/* Without entropy yet (early boot) zeros still make a valid name. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		memset(rnd, 0, sizeof(rnd));
	snprintf(name, sizeof(name), "guest-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	return cf_native_set_guest(s, name);
}

static int
cmd_ping(struct cmd *c)
{
	return cf_native_reply(c, "pong", json_pack("{s:I}", "ts", (json_int_t)cf_wall_ms()));
}

static const struct {
	const char *op;
	int (*fn)(struct cmd *c);
	int anon; /* needs no user identity: does not make the session a guest */
} commands[] = {
        {"hello", cf_native_cmd_hello, 1},
        {"join", cf_native_cmd_join, 0},
        {"leave", cf_native_cmd_leave, 0},
        {"send", cf_native_cmd_send, 0},
        {"edit", cf_native_cmd_fix, 0},
        {"delete", cf_native_cmd_fix, 0},
        {"history", cf_native_cmd_history, 0},
        {"presence", cf_native_cmd_presence, 0},
        {"ping", cmd_ping, 0},
        {"dm", cf_native_cmd_dm, 0},
        {"typing", cf_native_cmd_typing, 0},
        {"register", cf_native_cmd_register, 1},
        {"login", cf_native_cmd_login, 1},
        {"logout", cf_native_cmd_logout, 1},
        {"create", cf_native_cmd_rules, 0},
        {"room", cf_native_cmd_rules, 0},
        {"topic", cf_native_cmd_rules, 0},
        {"kind", cf_native_cmd_rules, 0},
        {"role", cf_native_cmd_rules, 0},
        {"kick", cf_native_cmd_rules, 0},
        {"ban", cf_native_cmd_rules, 0},
        {"unban", cf_native_cmd_rules, 0},
        {"mute", cf_native_cmd_rules, 0},
        {"unmute", cf_native_cmd_rules, 0},
        {"close", cf_native_cmd_rules, 0},
        {"read", cf_native_cmd_read, 0},
        {"unread", cf_native_cmd_unread, 0},
        {"rooms", cf_native_cmd_rooms, 0},
};

static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	struct cmd c = {.s = s, .id = -1};
	json_error_t jerr;
	json_t *v;
	const char *op;
	int r = 0;

	if (cf_sess_must_hold(s)) {
		r = cf_sess_hold(s, buf, len);
		if (r == -ENOBUFS)
			return cf_native_err_reply(
			        s, -1, "busy",
			        "more than %d commands wait for an account operation",
			        CF_SESS_HOLD_MAX);
		return r < 0 ? -1 : 0;
	}
	if (!buf)
		return cf_native_err_reply(s, -1, "bad_request", "binary frames are not supported");
	c.o = json_loadb(buf, len, 0, &jerr);
	if (!c.o)
		return cf_native_err_reply(s, -1, "bad_json", "invalid JSON: %s", jerr.text);
	if (!json_is_object(c.o)) {
		cf_native_err_reply(s, -1, "bad_json", "a command is a JSON object");
		goto out;
	}
	v = json_object_get(c.o, "id");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= ID_MAX) {
			cf_native_err_reply(s, -1, "bad_request",
			                    "field 'id' must be an integer in [0, 2^53)");
			goto out;
		}
		c.id = json_integer_value(v);
	}
	v = json_object_get(c.o, "op");
	if (!v || !json_is_string(v)) {
		fail(&c, "bad_request", v ? "field 'op' must be a string" : "missing field 'op'");
		goto out;
	}
	op = json_string_value(v);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(op, commands[i].op))
			continue;
		if (!commands[i].anon && cf_native_ensure_user(s) < 0) {
			r = -1;
			goto out;
		}
		r = commands[i].fn(&c);
		goto out;
	}
	fail(&c, "unknown_op", "unknown op '%.64s'", op);
out:
	json_decref(c.o);
	return r < 0 ? -1 : 0;
}

static int
ws_path(const struct cf_config *cfg, const char *path)
{
	(void)cfg;
	return !strcmp(path, "/v1/ws");
}

const struct cf_dialect cf_dialect_native = {
        .id = CF_DIALECT_NATIVE,
        .name = "confab.v1",
        .paths = (const char *const[]){"/v1/ws", "/metrics", "/api/v1/*", NULL},
        .pack_newline = 1,
        .on_text = on_text,
        .render_msg = cf_native_render_msg,
        .render_fixes = 1,
        .render_presence = cf_native_render_presence,
        .render_typing = cf_native_render_typing,
        .render_bye = cf_native_render_bye,
        .render_gap = cf_native_render_gap,
        .render_dm = cf_native_render_dm,
        .render_rules = cf_native_render_rules,
        .kicked = cf_native_kicked,
        .render_read = cf_native_render_read,
        .render_notice = cf_native_render_notice,
        .render_read_of = cf_native_render_read_of,
        .join_done = cf_native_join_done,
        .on_close = cf_native_on_close,
        .ws_path = ws_path,
        .api = 1,
};
