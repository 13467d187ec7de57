/* SPDX-License-Identifier: MIT */
/* dialect_native_rooms.c - confab.v1's chat commands: join (with history since a seq, or a
 * gap), leave, send (nonces, the rate limit, the bus's ack), history, presence, dm (kept in
 * the offline inbox for an account that is away), typing. */
#include "auth/auth.h"
#include "base/clock.h"
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "dialects/dialect_native_int.h"

#include <errno.h>
#include <string.h>

#define NONCE_MAX   64
#define HISTORY_DEF 50

/* The text of send and dm: 1 if present and 1 to limits.max_text bytes, else 0 after the
 * error reply. */
static int
get_text(struct cmd *c, const char **text, size_t *tlen)
{
	int max = c->s->env->cfg->max_text;
	int r = cf_native_get_str(c, "text", text, tlen);

	if (r == 0)
		fail(c, "bad_request", "missing field 'text'");
	else if (r > 0 && (*tlen == 0 || *tlen > (size_t)max))
		fail(c, "text_too_long", "text must be 1 to %d bytes", max);
	return r > 0 && *tlen > 0 && *tlen <= (size_t)max;
}

/* The room named by the command, which must be valid. Returns 1, or -1 after replying. */
static int
get_room_name(struct cmd *c, const char **ret)
{
	size_t len;
	int r = cf_native_get_str(c, "room", ret, &len);

	if (r < 0)
		return -1;
	if (r == 0) {
		fail(c, "bad_request", "missing field 'room'");
		return -1;
	}
	if (cf_text_name_ok(*ret, len, 1, CF_ROOM_NAME_MAX, 0) < 0 || strlen(*ret) != len) {
		fail(c, "room_name_invalid",
		     "room names are 1 to %d bytes of UTF-8 without control characters",
		     CF_ROOM_NAME_MAX);
		return -1;
	}
	return 1;
}

/* The joined room named by the command. Returns 1, or -1 after replying. */
int
cf_native_get_joined(struct cmd *c, struct cf_room **ret)
{
	const char *name;
	struct cf_room *room;

	if (get_room_name(c, &name) < 0)
		return -1;
	room = cf_room_find(c->s->env->reg, name);
	if (!room || !cf_room_member_of(c->s, room)) {
		fail(c, "not_joined", "not in room '%s'", name);
		return -1;
	}
	*ret = room;
	return 1;
}

/* Messages [from, to) of the room's history as an array of msg, edit and delete events, as
 * corrected (deleted messages are left out). */
static json_t *
hist_json(const struct cf_room *room, uint32_t from, uint32_t to)
{
	json_t *a = json_array();

	for (uint32_t i = from; i < to; i++) {
		json_t *o = cf_msg_json(cf_room_hist_at(room, i));

		if (o)
			json_array_append_new(a, o);
	}
	return a;
}

/* The join reply from the room's state: history after since (or the last join_history). */
static void
join_reply(struct cf_sess *s, struct cf_room *room, json_int_t id, json_int_t since,
           json_int_t epoch)
{
	const struct cf_config *cfg = s->env->cfg;
	uint32_t from, to = room->hist_count;
	int gap = 0;

	if (since < 0) {
		from = cf_room_hist_back(room, to, (uint32_t)cfg->join_history, 0);
	} else if ((epoch >= 0 && (uint64_t)epoch != room->epoch) || (uint64_t)since > room->seq) {
		/* Another life of the room's sequence: the client cannot know what it missed. */
		gap = 1;
		from = 0;
	} else {
		from = cf_room_hist_after(room, (uint64_t)since);
		if ((uint64_t)since < room->seq)
			gap = !to || cf_room_hist_at(room, 0)->seq > (uint64_t)since + 1;
	}
	cf_native_reply_members(s, id, "join",
	                        json_pack("{s:s,s:I,s:I,s:o,s:b}", "room", room->name, "epoch",
	                                  (json_int_t)room->epoch, "seq", (json_int_t)room->seq,
	                                  "history", hist_json(room, from, to), "gap", gap),
	                        room);
}

void
cf_native_join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	/* Only joins that waited complete here, and those carry their request (room.h). */
	const struct cf_member_wait *w = cf_member_wait(mb);

	if (err == -EPERM || err == -EACCES || err == -EKEYREJECTED) {
		cf_native_join_refused(s, w->req_id, err, mb->room->name);
		return;
	}
	if (err < 0) {
		cf_native_err_reply(s, w->req_id, "unavailable",
		                    "room '%s' could not be loaded: %s", mb->room->name,
		                    strerror(-err));
		return;
	}
	join_reply(s, mb->room, w->req_id, w->req_since, w->req_epoch);
}

int
cf_native_cmd_join(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *name;
	json_int_t since = -1, epoch = -1;
	struct cf_room *room;
	struct cf_member *mb;
	int r;

	if (get_room_name(c, &name) < 0 || cf_native_get_int(c, "since", 0, ID_MAX, &since) < 0 ||
	    cf_native_get_int(c, "epoch", 0, ID_MAX, &epoch) < 0)
		return 0;
	if (!cf_native_room_allowed(s, name))
		return fail(c, "forbidden", "your sign-in token does not let you join room '%s'",
		            name);
	r = cf_room_join(s->env->reg, s, name, &room, &mb);
	switch (r) {
	case 0:
		join_reply(s, room, c->id, since, epoch);
		return 0;
	case -EINPROGRESS:
		/* The room is syncing from the cluster: cf_native_join_done() replies. */
		cf_member_wait(mb)->req_id = c->id;
		cf_member_wait(mb)->req_since = since;
		cf_member_wait(mb)->req_epoch = epoch;
		return 0;
	case -EALREADY:
		return fail(c, "already_joined", "already in room '%s'", name);
	case -E2BIG:
		return fail(c, "too_many_rooms", "a session may be in %d rooms",
		            cfg->max_rooms_per_session);
	case -ENOSPC:
		return fail(c, "room_limit", "the server holds its maximum of %d rooms",
		            cfg->max_rooms);
	case -EDQUOT:
		return fail(c, "room_limit", "your address created its maximum of %d rooms",
		            cfg->max_rooms_per_ip);
	case -EBUSY:
		return fail(c, "rate_limited", "more than %d joins per second", cfg->join_rate);
	case -ENOTCONN:
	case -EAGAIN:
		return fail(c, "unavailable",
		            "room '%s' cannot be loaded now: the cluster bus is "
		            "down",
		            name);
	case -EPERM:
	case -EACCES:
	case -EKEYREJECTED:
		cf_native_join_refused(s, c->id, r, name);
		return 0;
	default:
		return -1;
	}
}

int
cf_native_cmd_leave(struct cmd *c)
{
	struct cf_room *room;
	json_t *o;

	if (cf_native_get_joined(c, &room) < 0)
		return 0;
	o = json_pack("{s:s}", "room", room->name);
	cf_room_leave(c->s->env->reg, c->s, room); /* may free the room */
	return cf_native_reply(c, "leave", o);
}

static void
send_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	static const char *const op[] = {"send", "edit", "delete"};
	struct cf_sess *s = ud;

	if (err < 0) {
		cf_native_err_reply(s, tag, "unavailable", "the message could not be ordered: %s",
		                    strerror(-err));
		return;
	}
	{
		json_t *o = json_pack("{s:s,s:I}", "room", m->room, "seq", (json_int_t)m->seq);

		if (o && m->dup)
			json_object_set_new(o, "dup", json_true());
		cf_native_reply_to(s, tag, op[m->kind], o);
	}
}

int
cf_native_cmd_send(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *text, *nonce = NULL;
	size_t tlen, nlen;
	struct cf_room *room;
	struct cf_msg *m, *dup;
	int r;

	if (cf_native_get_joined(c, &room) < 0)
		return 0;
	if (!get_text(c, &text, &tlen))
		return 0;
	r = cf_native_get_str(c, "nonce", &nonce, &nlen);
	if (r < 0)
		return 0;
	if (r > 0 && (nlen == 0 || nlen > NONCE_MAX))
		return fail(c, "bad_request", "field 'nonce' must be 1 to %d bytes", NONCE_MAX);
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return 0; /* the session is closing: no reply */
	if (r < 0)
		return fail(c, "rate_limited", "more than %d messages per second", cfg->rate);
	if (nonce && (dup = cf_room_find_nonce(room, s->user_id, nonce)))
		return cf_native_reply(c, "send",
		                       json_pack("{s:s,s:I,s:b}", "room", room->name, "seq",
		                                 (json_int_t)dup->seq, "dup", 1));
	m = cf_msg_new(room->name, s->user_id, s->user_name, text, nonce);
	if (!m)
		return -1;
	r = cf_room_publish(s->env->reg, m, send_done, s, c->id);
	cf_msg_unref(m);
	if (r == -EPERM)
		return fail(c, "banned", "you are banned from '%s'", room->name);
	if (r == -EACCES)
		return fail(c, "forbidden", "only the moderators of '%s' send there", room->name);
	if (r == -EKEYEXPIRED || r == -EKEYREJECTED) {
		cf_native_rules_error(s, c->id, r, room->name);
		return 0;
	}
	if (r < 0)
		return fail(c, "unavailable", "the bus refused the message");
	return 0;
}

/* edit {room, seq, text} and delete {room, seq}: a correction, ordered in the room's log like
 * a message (core/room.h cf_room_publish() checks who may correct what). */
int
cf_native_cmd_fix(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	int edit = !strcmp(json_string_value(json_object_get(c->o, "op")), "edit");
	const char *text = "";
	size_t tlen;
	json_int_t ref;
	struct cf_room *room;
	struct cf_msg *m;
	int r;

	if (cf_native_get_joined(c, &room) < 0)
		return 0;
	r = cf_native_get_int(c, "seq", 1, ID_MAX, &ref);
	if (r < 0)
		return 0;
	if (r == 0)
		return fail(c, "bad_request", "field 'seq' is required");
	if (edit && !get_text(c, &text, &tlen))
		return 0;
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return 0; /* the session is closing: no reply */
	if (r < 0)
		return fail(c, "rate_limited", "more than %d messages per second", cfg->rate);
	m = cf_msg_new(room->name, s->user_id, s->user_name, text, NULL);
	if (!m)
		return -1;
	m->kind = edit ? CF_MSG_EDIT : CF_MSG_DELETE;
	m->ref = (uint64_t)ref;
	r = cf_room_publish(s->env->reg, m, send_done, s, c->id);
	cf_msg_unref(m);
	switch (r) {
	case 0:
		return 0;
	case -ENOENT:
		return fail(c, "not_found", "'%s' holds no message %lld to correct", room->name,
		            (long long)ref);
	case -EACCES:
		return fail(c, "forbidden",
		            edit ? "only its author edits a message"
		                 : "only its author or a moderator deletes a message");
	case -ETIME:
		return fail(c, "edit_window", "messages are corrected up to %d s after sending",
		            cfg->edit_window);
	case -EPERM:
		return fail(c, "banned", "you are banned from '%s'", room->name);
	case -EKEYEXPIRED:
	case -EKEYREJECTED:
		cf_native_rules_error(s, c->id, r, room->name);
		return 0;
	default:
		return fail(c, "unavailable", "the bus refused the message");
	}
}

int
cf_native_cmd_history(struct cmd *c)
{
	const struct cf_config *cfg = c->s->env->cfg;
	struct cf_room *room;
	json_int_t before = -1, limit = HISTORY_DEF;
	uint32_t to, from;

	if (cf_native_get_joined(c, &room) < 0 ||
	    cf_native_get_int(c, "before", 0, ID_MAX, &before) < 0 ||
	    cf_native_get_int(c, "limit", 1, cfg->history, &limit) < 0)
		return 0;
	to = before < 0 ? room->hist_count
	                : (before == 0 ? 0 : cf_room_hist_after(room, (uint64_t)before - 1));
	from = cf_room_hist_back(room, to, (uint32_t)limit, 0);
	return cf_native_reply(
	        c, "history",
	        json_pack("{s:s,s:o}", "room", room->name, "messages", hist_json(room, from, to)));
}

int
cf_native_cmd_presence(struct cmd *c)
{
	struct cf_room *room;

	if (cf_native_get_joined(c, &room) < 0)
		return 0;
	cf_native_reply_members(c->s, c->id, "presence", json_pack("{s:s}", "room", room->name),
	                        room);
	return 0;
}

static void
dm_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct cf_sess *s = ud;

	cf_registry_keep_settle(s->env->reg, cf_sess_addr(s), m, err);
	if (err == -ENOENT && m->keep_quota == CF_KEEP_REFUSED) {
		cf_native_err_reply(
		        s, tag, "inbox_full",
		        "user '%s' is offline and this address has left as many kept messages "
		        "as inbox.max_per_ip allows",
		        m->room);
		return;
	}
	if (err == -ENOENT) {
		cf_native_err_reply(
		        s, tag, "offline",
		        "user '%s' has no session now (direct messages to guests are not kept)",
		        m->room);
		return;
	}
	if (err == -ENOSPC || err == -EMSGSIZE) {
		cf_native_err_reply(s, tag, "inbox_full",
		                    "user '%s' is offline and its inbox cannot take this message",
		                    m->room);
		return;
	}
	if (err < 0) {
		cf_native_err_reply(s, tag, "unavailable", "the message could not be sent: %s",
		                    strerror(-err));
		return;
	}
	if (m->queued)
		cf_native_reply_to(s, tag, "dm",
		                   json_pack("{s:s,s:b}", "to", m->room, "queued", 1));
	else
		cf_native_reply_to(s, tag, "dm", json_pack("{s:s}", "to", m->room));
}

int
cf_native_cmd_dm(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *to, *text;
	char toid[CF_IDENT_MAX];
	size_t tolen, tlen;
	struct cf_msg *m;
	int r;

	r = cf_native_get_str(c, "to", &to, &tolen);
	if (r < 0)
		return 0;
	if (r == 0)
		return fail(c, "bad_request", "missing field 'to'");
	/* A user id: an account's name, or "<space>:<id>" (guest:, ttu:, texto:, ...). */
	if (cf_ident_parse(to, tolen, CF_ID_ACCOUNT, (size_t)cfg->max_name, toid, sizeof(toid)) < 0)
		return fail(c, "user_name_invalid", "'to' is not a valid user id");
	if (!get_text(c, &text, &tlen))
		return 0;
	if (cf_native_ensure_user(s) < 0)
		return -1;
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return 0;
	if (r < 0)
		return fail(c, "rate_limited", "more than %d messages per second", cfg->rate);
	m = cf_msg_new(toid, s->user_id, s->user_name, text, NULL);
	if (!m)
		return -1;
	m->dm = 1;
	/* Kept while the user is offline when it is an account; never for the other spaces (a
	 * guest's or a seed's name can be taken by anyone, who would get the messages).
	 * Standalone the file store knows now; in cluster mode the bus asks Redis in the same
	 * script as the keep (keep_acct). */
	r = cf_ident_space_of(toid, NULL) == CF_ID_ACCOUNT ? cf_auth_is_account(s->env->auth, toid)
	                                                   : 0;
	m->keep = r != 0;
	m->keep_acct = r < 0;
	cf_registry_keep_charge(s->env->reg, cf_sess_addr(s), m);
	m->ts_ms = cf_wall_ms();
	r = cf_bus_dm(s->env->bus, m, dm_done, s, c->id);
	cf_msg_unref(m);
	if (r < 0)
		return fail(c, "unavailable", "the bus refused the message");
	return 0;
}

/* {"op":"typing","room":..,"typing":true|false}: shown to the room's other users on every
 * node until rooms.typing_ttl passes (core/typing.c). Answered at once: the event is not
 * acknowledged by anyone, only accepted. */
int
cf_native_cmd_typing(struct cmd *c)
{
	const struct cf_config *cfg = c->s->env->cfg;
	struct cf_room *room;
	json_t *v;
	int r;

	if (cf_native_get_joined(c, &room) < 0)
		return 0;
	v = json_object_get(c->o, "typing");
	if (v && !json_is_boolean(v))
		return fail(c, "bad_request", "field 'typing' must be a boolean");
	r = cf_room_typing(c->s->env->reg, c->s, room, !v || json_is_true(v));
	switch (r) {
	case 0:
		return cf_native_reply(c, "typing", json_pack("{s:s}", "room", room->name));
	case -EBUSY:
		return fail(c, "rate_limited", "more than %d typing events per second",
		            cfg->typing_rate);
	case -ENOTCONN:
	case -EAGAIN:
	case -EOPNOTSUPP:
		return fail(c, "unavailable", "the cluster bus is down");
	case -EPERM:
	case -EACCES:
	case -EKEYEXPIRED:
	case -EKEYREJECTED:
		cf_native_rules_error(c->s, c->id, r, room->name);
		return 0;
	default:
		return -1;
	}
}
