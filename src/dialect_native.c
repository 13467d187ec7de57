/* SPDX-License-Identifier: MIT */
/* dialect_native.c - confab.v1 (docs/protocol.md): parses client commands into core calls and
 * renders core events. Every protocol error is answered here, with the command's id; none
 * closes the connection except the rate-limit abuse close (4029). */
#include "confab/auth.h"
#include "confab/bus.h"
#include "confab/clock.h"
#include "confab/config.h"
#include "confab/dialect.h"
#include "confab/frame.h"
#include "confab/ident.h"
#include "confab/log.h"
#include "confab/room.h"
#include "confab/env.h"
#include "confab/sess.h"
#include "confab/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>

#define NONCE_MAX   64
#define HISTORY_DEF 50
#define ID_MAX      ((json_int_t)1 << 53)

/* A command being handled: the session, the parsed object (borrowed) and its id. */
struct cmd {
	struct cf_sess *s;
	json_t *o;
	json_int_t id; /* -1: none */
};

/* Steals obj: encodes it as one frame and queues it. */
static void
push_json(struct cf_sess *s, json_t *obj)
{
	cf_sess_push_owned(s, cf_frame_from_json(obj));
}
/* Steals obj; adds op and the command's id (if it had one: id >= 0). Also for replies that
 * come later than the command (acks, joins that waited). */
static void
reply_to(struct cf_sess *s, json_int_t id, const char *op, json_t *obj)
{
	if (!obj)
		return;
	json_object_set_new(obj, "op", json_string(op));
	if (id >= 0)
		json_object_set_new(obj, "id", json_integer(id));
	push_json(s, obj);
}

static int
reply(struct cmd *c, const char *op, json_t *obj)
{
	reply_to(c->s, c->id, op, obj);
	return 0;
}

static int err_reply(struct cf_sess *s, json_int_t id, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int
err_reply(struct cf_sess *s, json_int_t id, const char *code, const char *fmt, ...)
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

#define fail(c, code, ...) err_reply((c)->s, (c)->id, code, __VA_ARGS__)

static json_t *
user_json(const char *id, const char *name)
{
	return json_pack("{s:s,s:s}", "id", id, "name", name);
}

static struct cf_frame *
render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(cf_msg_json(m));
}

static struct cf_frame *
render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:s,s:o}", "ev", ev, "room", room, "user", user_json(uid, uname)));
}

static struct cf_frame *
render_bye(int code, const char *reason)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:i,s:s}", "ev", "bye", "code", code, "reason", reason));
}

static struct cf_frame *
render_dm(const struct cf_msg *m)
{
	json_t *o = json_pack("{s:s,s:o,s:s,s:I,s:s}", "ev", "dm", "from",
	                      user_json(m->from_id, m->from_name), "to", m->room, "ts",
	                      (json_int_t)m->ts_ms, "text", m->text);

	/* Kept in the inbox while the user was offline: say so, and since when. */
	if (o && m->queued &&
	    (json_object_set_new(o, "queued", json_true()) < 0 ||
	     json_object_set_new(o, "queued_ts", json_integer((json_int_t)m->queued_ms)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	/* A kept message may come twice (delivery is at least once): its id tells. */
	if (o && (m->queued || m->held) && m->mid[0] &&
	    json_object_set_new(o, "mid", json_string(m->mid)) < 0) {
		json_decref(o);
		o = NULL;
	}
	return cf_frame_from_json(o);
}

static struct cf_frame *
render_gap(const char *room, uint64_t epoch, uint64_t seq)
{
	return cf_frame_from_json(json_pack("{s:s,s:s,s:I,s:I}", "ev", "gap", "room", room, "epoch",
	                                    (json_int_t)epoch, "seq", (json_int_t)seq));
}

/* Field access: each returns 1 if present and valid, 0 if absent, -1 after replying with an
 * error naming the field. */
static int
get_str(struct cmd *c, const char *key, const char **ret, size_t *ret_len)
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

/* The text of send and dm: 1 if present and 1 to limits.max_text bytes, else 0 after the
 * error reply. */
static int
get_text(struct cmd *c, const char **text, size_t *tlen)
{
	int max = c->s->env->cfg->max_text;
	int r = get_str(c, "text", text, tlen);

	if (r == 0)
		fail(c, "bad_request", "missing field 'text'");
	else if (r > 0 && (*tlen == 0 || *tlen > (size_t)max))
		fail(c, "text_too_long", "text must be 1 to %d bytes", max);
	return r > 0 && *tlen > 0 && *tlen <= (size_t)max;
}

static int
get_int(struct cmd *c, const char *key, json_int_t min, json_int_t max, json_int_t *ret)
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

/* The room named by the command, which must be valid. Returns 1, or -1 after replying. */
static int
get_room_name(struct cmd *c, const char **ret)
{
	size_t len;
	int r = get_str(c, "room", ret, &len);

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
static int
get_joined_room(struct cmd *c, struct cf_room **ret)
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

static json_t *
members_json(const struct cf_room *room)
{
	json_t *a = json_array();
	const struct cf_presence *p;

	for (p = room->users; p; p = p->hh.next)
		json_array_append_new(a, user_json(p->id, p->name));
	return a;
}

/* Messages [from, to) of the room's history as an array of msg events. */
static json_t *
hist_json(const struct cf_room *room, uint32_t from, uint32_t to)
{
	json_t *a = json_array();

	for (uint32_t i = from; i < to; i++)
		json_array_append_new(a, cf_msg_json(cf_room_hist_at(room, i)));
	return a;
}

/* A guest is the user "guest:<name>": never an account, whatever the name (ident.h). The
 * caller checked a chosen name against limits.max_name; a made one (guest-XXXXXX) may be
 * longer than a small limit, as before. */
static int
set_guest(struct cf_sess *s, const char *name)
{
	char id[CF_IDENT_MAX];

	if (cf_ident_make(CF_ID_GUEST, name, 256, id, sizeof(id)) < 0)
		return -1;
	return cf_sess_set_user(s, id, name);
}

static int
ensure_user(struct cf_sess *s)
{
	unsigned char rnd[3] = {0};
	char name[32];

	if (s->user_id)
		return 0;
	/* Without entropy yet (early boot) zeros still make a valid name. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		memset(rnd, 0, sizeof(rnd));
	snprintf(name, sizeof(name), "guest-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	return set_guest(s, name);
}

static void
hello_reply(struct cf_sess *s, json_int_t id)
{
	const struct cf_config *cfg = s->env->cfg;
	char sid[32];
	json_t *o;

	snprintf(sid, sizeof(sid), "%llu", (unsigned long long)s->id);
	o = json_pack("{s:s,s:o,s:s,s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i}}", "session", sid, "user",
	              user_json(s->user_id, s->user_name), "node", s->env->node_id, "limits",
	              "max_frame", cfg->max_frame, "max_text", cfg->max_text, "max_rooms",
	              cfg->max_rooms_per_session, "rate", cfg->rate, "burst", cfg->burst, "history",
	              cfg->history, "max_name", cfg->max_name);
	if (o && cf_sess_account(s)[0])
		json_object_set_new(o, "account", json_string(cf_sess_account(s)));
	reply_to(s, id, "hello", o);
}

/* ---- accounts: commands that wait for auth.c keep the session's order (sess.h's hold) ---- */

static void
on_close(struct cf_sess *s)
{
	if (!s->x)
		return;
	free(s->x->auth_arg);
	s->x->auth_arg = NULL;
}

/* Answers an account operation's failure with its protocol error. */
static void
auth_error(struct cf_sess *s, json_int_t id, int err, int token)
{
	switch (err) {
	case -EEXIST:
		err_reply(s, id, "name_taken", "that name is taken");
		break;
	case -ENOENT:
	case -EACCES:
		if (token)
			err_reply(s, id, "token_invalid", "the token is not valid");
		else
			err_reply(s, id, "auth_failed", "wrong name or password");
		break;
	case -EBADMSG:
		err_reply(s, id, "token_invalid", "the token is not valid");
		break;
	case -EKEYREVOKED:
		err_reply(s, id, "token_invalid", "the token was revoked (logout)");
		break;
	case -EKEYEXPIRED:
		err_reply(s, id, "token_expired", "the token has expired: log in again");
		break;
	case -ENOSPC:
		err_reply(s, id, "account_limit", "the server holds its maximum of %d accounts",
		          s->env->cfg->auth_max_accounts);
		break;
	case -EBUSY:
		err_reply(s, id, "busy", "too many password checks are queued: retry later");
		break;
	default:
		err_reply(s, id, "unavailable", "accounts cannot be reached now: %s",
		          strerror(-err));
		break;
	}
}

/* The session's client address, for the attempt limits. */
static const char *
sess_ip(const struct cf_sess *s)
{
	return s->ipc ? s->ipc->ip : "?";
}

static int
need_auth(struct cmd *c)
{
	if (c->s->env->auth)
		return 1;
	fail(c, "accounts_disabled", "this server has no accounts (auth.enabled = 0)");
	return 0;
}

/* Name and password of register and login: 1, or 0 after the error reply. */
static int
get_credentials(struct cmd *c, const char **name, const char **pw, size_t *pwlen)
{
	const struct cf_config *cfg = c->s->env->cfg;
	size_t len;
	int r;

	r = get_str(c, "name", name, &len);
	if (r <= 0) {
		if (r == 0)
			fail(c, "bad_request", "missing field 'name'");
		return 0;
	}
	if (cf_text_name_ok(*name, len, 1, (size_t)cfg->max_name, 1) < 0 || strlen(*name) != len) {
		fail(c, "user_name_invalid",
		     "user names are 1 to %d bytes of UTF-8 without control characters or "
		     "leading/trailing spaces",
		     cfg->max_name);
		return 0;
	}
	r = get_str(c, "password", pw, pwlen);
	if (r <= 0) {
		if (r == 0)
			fail(c, "bad_request", "missing field 'password'");
		return 0;
	}
	if (cf_auth_password_ok(c->s->env->auth, *pwlen) < 0 || strlen(*pw) != *pwlen) {
		fail(c, "password_invalid", "passwords are %d to %d bytes without NUL",
		     cfg->auth_password_min, cfg->auth_password_max);
		return 0;
	}
	return 1;
}

static void
credentials_done(struct cf_sess *s, int64_t tag, const struct cf_auth_result *r, const char *op)
{
	if (r->err < 0)
		auth_error(s, tag, r->err, 0);
	else
		reply_to(s, tag, op,
		         json_pack("{s:o,s:s,s:s}", "user", user_json(r->acct->name, r->acct->name),
		                   "uuid", r->acct->id, "token", r->token));
	cf_sess_done(s);
}

static void
register_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	credentials_done(ud, tag, r, "register");
}

static void
login_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	credentials_done(ud, tag, r, "login");
}

static int
cmd_register(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *name, *pw;
	size_t pwlen;

	if (!need_auth(c) || !get_credentials(c, &name, &pw, &pwlen))
		return 0;
	/* The names guests get without hello: an account must not look like one. */
	if (!strncmp(name, "guest-", 6))
		return fail(c, "user_name_invalid", "names starting with 'guest-' are for guests");
	/* ':' is what tags the other identity spaces' ids (ident.h). */
	if (strchr(name, ':'))
		return fail(c, "user_name_invalid", "account names may not contain ':'");
	if (cf_auth_attempt(s->env->auth, sess_ip(s), NULL) < 0)
		return fail(c, "rate_limited",
		            "too many attempts from this address: wait a minute");
	if (cf_auth_create(s->env->auth, name, pw, pwlen, register_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}

static int
cmd_login(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *name, *pw;
	size_t pwlen;

	if (!need_auth(c) || !get_credentials(c, &name, &pw, &pwlen))
		return 0;
	if (cf_auth_attempt(s->env->auth, sess_ip(s), name) < 0)
		return fail(c, "rate_limited",
		            "too many attempts for this name or from this "
		            "address: wait a minute");
	if (cf_auth_verify(s->env->auth, name, pw, pwlen, login_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}

static void
hello_token_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err < 0) {
		auth_error(s, tag, r->err, 1);
	} else if (cf_ident_local_ok(CF_ID_ACCOUNT, r->acct->name, strlen(r->acct->name),
	                             CF_IDENT_MAX) < 0) {
		/* An account registered before names lost ':' would share a tagged space's id. */
		err_reply(s, tag, "user_name_invalid",
		          "account names may not contain ':' any more: register a new account");
	} else if (!cf_sess_ext(s) || cf_sess_set_user(s, r->acct->name, r->acct->name) < 0) {
		cf_sess_close(s, 1011, "internal error");
	} else {
		memcpy(s->x->account_id, r->acct->id, sizeof(s->x->account_id));
		s->hello = 1;
		hello_reply(s, tag);
	}
	cf_sess_done(s);
}

/* hello {name} without a token: the name must not be an account's. */
static void
hello_name_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err == 0) {
		err_reply(s, tag, "auth_required",
		          "'%s' is a registered account: say hello with its token", r->acct->name);
	} else if (r->err != -ENOENT) {
		auth_error(s, tag, r->err, 0);
	} else if (set_guest(s, s->x->auth_arg) < 0) {
		cf_sess_close(s, 1011, "internal error");
	} else {
		s->hello = 1;
		hello_reply(s, tag);
	}
	free(s->x->auth_arg);
	s->x->auth_arg = NULL;
	cf_sess_done(s);
}

static int
cmd_hello(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *name, *token;
	size_t len, tlen;
	int r, rt;

	if (s->hello || s->rooms.count)
		return fail(c, "bad_state", "hello must be the first command, and only once");
	r = get_str(c, "name", &name, &len);
	if (r < 0)
		return 0;
	rt = get_str(c, "token", &token, &tlen);
	if (rt < 0)
		return 0;
	if (rt > 0) {
		if (!need_auth(c))
			return 0;
		if (cf_auth_token_check(s->env->auth, token, hello_token_done, s, c->id) < 0)
			return -1;
		cf_sess_wait(s);
		return 0;
	}
	if (r > 0) {
		if (cf_text_name_ok(name, len, 1, (size_t)cfg->max_name, 1) < 0 ||
		    strlen(name) != len)
			return fail(c, "user_name_invalid",
			            "user names are 1 to %d bytes of UTF-8 without control "
			            "characters or leading/trailing spaces",
			            cfg->max_name);
		/* Guests cannot take an account's name. Standalone knows at once (and a guest
		 * then costs no account state); in cluster mode the answer comes from Redis, so
		 * the reply may come later (hello_name_done). */
		r = cf_auth_is_account(s->env->auth, name);
		if (r > 0)
			return fail(c, "auth_required",
			            "'%s' is a registered account: say hello with its token", name);
		if (r == -EOPNOTSUPP) {
			struct cf_sess_ext *x = cf_sess_ext(s);

			if (!x)
				return -1;
			free(x->auth_arg);
			x->auth_arg = strdup(name);
			if (!x->auth_arg ||
			    cf_auth_by_name(s->env->auth, name, hello_name_done, s, c->id) < 0)
				return -1;
			cf_sess_wait(s);
			return 0;
		}
		if (set_guest(s, name) < 0)
			return -1;
	} else if (ensure_user(s) < 0) {
		return -1;
	}
	s->hello = 1;
	hello_reply(s, c->id);
	return 0;
}

static void
logout_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err < 0)
		auth_error(s, tag, r->err, 0);
	else
		reply_to(s, tag, "logout", json_pack("{s:b}", "revoked", 1));
	cf_sess_done(s);
}

static int
cmd_logout(struct cmd *c)
{
	struct cf_sess *s = c->s;
	json_t *all = json_object_get(c->o, "all");

	if (!need_auth(c))
		return 0;
	if (all && !json_is_boolean(all))
		return fail(c, "bad_request", "field 'all' must be a boolean");
	if (!cf_sess_account(s)[0] || !s->user_id)
		return fail(c, "bad_state", "logout needs a session that said hello with a token");
	/* A token is a bearer credential the server does not list: one alone cannot be
	 * revoked, the client forgets it. all bumps the account's gen: every token is void. */
	if (!all || !json_is_true(all))
		return reply(c, "logout", json_pack("{s:b}", "revoked", 0));
	if (cf_auth_bump_gen(s->env->auth, s->user_id, logout_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}

/* The join reply from the room's state: history after since (or the last join_history). */
static void
join_reply(struct cf_sess *s, const struct cf_room *room, json_int_t id, json_int_t since,
           json_int_t epoch)
{
	const struct cf_config *cfg = s->env->cfg;
	uint32_t from, to = room->hist_count;
	int gap = 0;

	if (since < 0) {
		from = to > (uint32_t)cfg->join_history ? to - (uint32_t)cfg->join_history : 0;
	} else if ((epoch >= 0 && (uint64_t)epoch != room->epoch) || (uint64_t)since > room->seq) {
		/* Another life of the room's sequence: the client cannot know what it missed. */
		gap = 1;
		from = 0;
	} else {
		from = cf_room_hist_after(room, (uint64_t)since);
		if ((uint64_t)since < room->seq)
			gap = !to || cf_room_hist_at(room, 0)->seq > (uint64_t)since + 1;
	}
	reply_to(s, id, "join",
	         json_pack("{s:s,s:I,s:I,s:o,s:o,s:b}", "room", room->name, "epoch",
	                   (json_int_t)room->epoch, "seq", (json_int_t)room->seq, "members",
	                   members_json(room), "history", hist_json(room, from, to), "gap", gap));
}

static void
join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	if (err < 0) {
		err_reply(s, mb->req_id, "unavailable", "room '%s' could not be loaded: %s",
		          mb->room->name, strerror(-err));
		return;
	}
	join_reply(s, mb->room, mb->req_id, mb->req_since, mb->req_epoch);
}

static int
cmd_join(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *name;
	json_int_t since = -1, epoch = -1;
	struct cf_room *room;
	struct cf_member *mb;
	int r;

	if (get_room_name(c, &name) < 0 || get_int(c, "since", 0, ID_MAX, &since) < 0 ||
	    get_int(c, "epoch", 0, ID_MAX, &epoch) < 0)
		return 0;
	r = cf_room_join(s->env->reg, s, name, &room, &mb);
	switch (r) {
	case 0:
		join_reply(s, room, c->id, since, epoch);
		return 0;
	case -EINPROGRESS:
		/* The room is syncing from the cluster: join_done() replies. */
		mb->req_id = c->id;
		mb->req_since = since;
		mb->req_epoch = epoch;
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
	default:
		return -1;
	}
}

static int
cmd_leave(struct cmd *c)
{
	struct cf_room *room;
	json_t *o;

	if (get_joined_room(c, &room) < 0)
		return 0;
	o = json_pack("{s:s}", "room", room->name);
	cf_room_leave(c->s->env->reg, c->s, room); /* may free the room */
	return reply(c, "leave", o);
}

static void
send_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct cf_sess *s = ud;

	if (err < 0) {
		err_reply(s, tag, "unavailable", "the message could not be ordered: %s",
		          strerror(-err));
		return;
	}
	{
		json_t *o = json_pack("{s:s,s:I}", "room", m->room, "seq", (json_int_t)m->seq);

		if (o && m->dup)
			json_object_set_new(o, "dup", json_true());
		reply_to(s, tag, "send", o);
	}
}

static int
cmd_send(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *text, *nonce = NULL;
	size_t tlen, nlen;
	struct cf_room *room;
	struct cf_msg *m, *dup;
	int r;

	if (get_joined_room(c, &room) < 0)
		return 0;
	if (!get_text(c, &text, &tlen))
		return 0;
	r = get_str(c, "nonce", &nonce, &nlen);
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
		return reply(c, "send",
		             json_pack("{s:s,s:I,s:b}", "room", room->name, "seq",
		                       (json_int_t)dup->seq, "dup", 1));
	m = cf_msg_new(room->name, s->user_id, s->user_name, text, nonce);
	if (!m)
		return -1;
	r = cf_room_publish(s->env->reg, m, send_done, s, c->id);
	cf_msg_unref(m);
	if (r < 0)
		return fail(c, "unavailable", "the bus refused the message");
	return 0;
}

static int
cmd_history(struct cmd *c)
{
	const struct cf_config *cfg = c->s->env->cfg;
	struct cf_room *room;
	json_int_t before = -1, limit = HISTORY_DEF;
	uint32_t to, from;

	if (get_joined_room(c, &room) < 0 || get_int(c, "before", 0, ID_MAX, &before) < 0 ||
	    get_int(c, "limit", 1, cfg->history, &limit) < 0)
		return 0;
	to = before < 0 ? room->hist_count
	                : (before == 0 ? 0 : cf_room_hist_after(room, (uint64_t)before - 1));
	from = to > (uint32_t)limit ? to - (uint32_t)limit : 0;
	return reply(
	        c, "history",
	        json_pack("{s:s,s:o}", "room", room->name, "messages", hist_json(room, from, to)));
}

static int
cmd_presence(struct cmd *c)
{
	struct cf_room *room;

	if (get_joined_room(c, &room) < 0)
		return 0;
	return reply(c, "presence",
	             json_pack("{s:s,s:o}", "room", room->name, "members", members_json(room)));
}

static void
dm_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct cf_sess *s = ud;

	cf_registry_keep_settle(s->env->reg, cf_sess_addr(s), m, err);
	if (err == -ENOENT && m->keep_quota == CF_KEEP_REFUSED) {
		err_reply(s, tag, "inbox_full",
		          "user '%s' is offline and this address has left as many kept messages "
		          "as inbox.max_per_ip allows",
		          m->room);
		return;
	}
	if (err == -ENOENT) {
		err_reply(s, tag, "offline",
		          "user '%s' has no session now (direct messages to guests are not kept)",
		          m->room);
		return;
	}
	if (err == -ENOSPC || err == -EMSGSIZE) {
		err_reply(s, tag, "inbox_full",
		          "user '%s' is offline and its inbox cannot take this message", m->room);
		return;
	}
	if (err < 0) {
		err_reply(s, tag, "unavailable", "the message could not be sent: %s",
		          strerror(-err));
		return;
	}
	if (m->queued)
		reply_to(s, tag, "dm", json_pack("{s:s,s:b}", "to", m->room, "queued", 1));
	else
		reply_to(s, tag, "dm", json_pack("{s:s}", "to", m->room));
}

static int
cmd_dm(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *to, *text;
	char toid[CF_IDENT_MAX];
	size_t tolen, tlen;
	struct cf_msg *m;
	int r;

	r = get_str(c, "to", &to, &tolen);
	if (r < 0)
		return 0;
	if (r == 0)
		return fail(c, "bad_request", "missing field 'to'");
	/* A user id: an account's name, or "<space>:<id>" (guest:, ttu:, texto:, ...). */
	if (cf_ident_parse(to, tolen, CF_ID_ACCOUNT, (size_t)cfg->max_name, toid, sizeof(toid)) < 0)
		return fail(c, "user_name_invalid", "'to' is not a valid user id");
	if (!get_text(c, &text, &tlen))
		return 0;
	if (ensure_user(s) < 0)
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

static int
cmd_ping(struct cmd *c)
{
	return reply(c, "pong", json_pack("{s:I}", "ts", (json_int_t)cf_wall_ms()));
}

static const struct {
	const char *op;
	int (*fn)(struct cmd *c);
	int anon; /* needs no user identity: does not make the session a guest */
} commands[] = {
        {"hello", cmd_hello, 1}, {"join", cmd_join, 0},       {"leave", cmd_leave, 0},
        {"send", cmd_send, 0},   {"history", cmd_history, 0}, {"presence", cmd_presence, 0},
        {"ping", cmd_ping, 0},   {"dm", cmd_dm, 0},           {"register", cmd_register, 1},
        {"login", cmd_login, 1}, {"logout", cmd_logout, 1},
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
			return err_reply(s, -1, "busy",
			                 "more than %d commands wait for an account operation",
			                 CF_SESS_HOLD_MAX);
		return r < 0 ? -1 : 0;
	}
	if (!buf)
		return err_reply(s, -1, "bad_request", "binary frames are not supported");
	c.o = json_loadb(buf, len, 0, &jerr);
	if (!c.o)
		return err_reply(s, -1, "bad_json", "invalid JSON: %s", jerr.text);
	if (!json_is_object(c.o)) {
		err_reply(s, -1, "bad_json", "a command is a JSON object");
		goto out;
	}
	v = json_object_get(c.o, "id");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= ID_MAX) {
			err_reply(s, -1, "bad_request",
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
		if (!commands[i].anon && ensure_user(s) < 0) {
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
        .render_msg = render_msg,
        .render_presence = render_presence,
        .render_bye = render_bye,
        .render_gap = render_gap,
        .render_dm = render_dm,
        .join_done = join_done,
        .on_close = on_close,
        .ws_path = ws_path,
        .api = 1,
};
