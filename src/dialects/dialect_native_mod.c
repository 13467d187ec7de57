/* SPDX-License-Identifier: MIT */
/* dialect_native_mod.c - confab.v1's rooms with owners and rules (docs/protocol.md): create,
 * room (what the rules say), topic, kind, role, kick, ban, unban, mute, unmute, close; the rules
 * event and the kicked event. The decisions are core/rules.c's, made by the bus where the rules are
 * kept (bus.h rules_change); each command waits for it, holding the session's later commands
 * back so that replies keep their order. */
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/rules.h"
#include "dialects/dialect_native_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A rules command waiting for the bus: which, for its reply. */
struct mod_req {
	json_int_t id;
	enum cf_rules_op op;
	int info; /* the `room` command: a read */
	char room[CF_ROOM_NAME_MAX + 1];
	char target[CF_IDENT_MAX];
};

static const char *const op_names[] = {
        [CF_RULES_CREATE] = "create", [CF_RULES_TOPIC] = "topic", [CF_RULES_KIND] = "kind",
        [CF_RULES_ROLE] = "role",     [CF_RULES_KICK] = "kick",   [CF_RULES_BAN] = "ban",
        [CF_RULES_UNBAN] = "unban",   [CF_RULES_MUTE] = "mute",   [CF_RULES_UNMUTE] = "unmute",
        [CF_RULES_CLOSE] = "close",
};

/* ---- what the rules look like on the wire ---- */

/* The staff: owners and moderators, whom every member may see. */
static json_t *
staff_json(const struct cf_rules *r)
{
	json_t *a = json_array();
	const struct cf_rule_user *u, *tmp;

	HASH_ITER(hh, r->users, u, tmp)
	{
		if (u->role >= CF_ROLE_MODERATOR)
			json_array_append_new(a, json_pack("{s:s,s:s}", "id", u->id, "role",
			                                   cf_rules_role_name(u->role)));
	}
	return a;
}

/* The room reply: kind, topic, creator, the asker's role, the staff; and for moderators and
 * owners every entry (roles, bans, mutes). */
static json_t *
info_json(const char *room, const struct cf_rules *r, const char *uid)
{
	enum cf_role me = cf_rules_role(r, uid);
	json_t *o;

	if (!r)
		return json_pack("{s:s,s:s,s:s,s:b,s:s,s:[]}", "room", room, "kind", "open",
		                 "topic", "", "ruled", 0, "role", "none", "staff");
	o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:o,s:I}", "room", room, "kind",
	              cf_rules_kind_name(r->kind), "topic", r->topic ? r->topic : "", "ruled", 1,
	              "creator", r->creator ? r->creator : "", "role", cf_rules_role_name(me),
	              "staff", staff_json(r), "v", (json_int_t)r->version);
	if (o && me >= CF_ROLE_MODERATOR) {
		json_t *all = cf_rules_json(r);

		json_object_set(o, "users", json_object_get(all, "users"));
		json_decref(all);
	}
	return o;
}

struct cf_frame *
cf_native_render_rules(const char *room, const struct cf_rules *r, const struct cf_rules_change *c)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "ev", "rules", "room", room, "kind",
	                      r ? cf_rules_kind_name(r->kind) : "open", "topic",
	                      r && r->topic ? r->topic : "");

	if (!o)
		return NULL;
	if (c) {
		json_object_set_new(o, "op", json_string(op_names[c->op]));
		json_object_set_new(o, "by", c->actor ? json_string(c->actor) : json_null());
		if (c->target)
			json_object_set_new(o, "user", json_string(c->target));
		if (c->op == CF_RULES_ROLE)
			json_object_set_new(o, "role", json_string(cf_rules_role_name(c->role)));
		if ((c->op == CF_RULES_BAN || c->op == CF_RULES_MUTE) &&
		    c->until != CF_RULES_FOREVER)
			json_object_set_new(o, "until", json_integer((json_int_t)c->until));
	}
	return cf_frame_from_json(o);
}

void
cf_native_kicked(struct cf_sess *s, const char *room, const struct cf_rules_change *c)
{
	json_t *o = json_pack("{s:s,s:s}", "ev", "kicked", "room", room);

	if (!o)
		return;
	if (c && c->op == CF_RULES_CLOSE) {
		json_object_set_new(o, "by", c->actor ? json_string(c->actor) : json_null());
		json_object_set_new(o, "reason", json_string("closed"));
	} else if (c) {
		json_object_set_new(o, "by", c->actor ? json_string(c->actor) : json_null());
		json_object_set_new(o, "ban", json_boolean(c->op == CF_RULES_BAN));
		if (c->op == CF_RULES_BAN && c->until != CF_RULES_FOREVER)
			json_object_set_new(o, "until", json_integer((json_int_t)c->until));
	} else {
		/* The room's rules no longer let the user in (made private, a role taken). */
		json_object_set_new(o, "reason", json_string("rules"));
	}
	cf_sess_push_owned(s, cf_frame_from_json(o));
}

/* ---- the commands ---- */

/* The error a refusal of the rules is (join, send and the rules commands share them). */
void
cf_native_rules_error(struct cf_sess *s, json_int_t id, int err, const char *room)
{
	const struct cf_config *cfg = s->env->cfg;

	switch (err) {
	case -EPERM:
		cf_native_err_reply(s, id, "forbidden", "your role in '%s' does not allow that",
		                    room);
		break;
	case -EACCES:
		cf_native_err_reply(s, id, "forbidden",
		                    "'%s' is private, or only its moderators may "
		                    "send there",
		                    room);
		break;
	case -EKEYREJECTED:
		cf_native_err_reply(s, id, "auth_required",
		                    "'%s' is for accounts: guests use open rooms only", room);
		break;
	case -EKEYEXPIRED:
		cf_native_err_reply(s, id, "muted", "you are muted in '%s'", room);
		break;
	case -EEXIST:
		cf_native_err_reply(s, id, "room_exists",
		                    "'%s' exists already: only a new room can be created", room);
		break;
	case -ENOENT:
		cf_native_err_reply(s, id, "no_rules",
		                    "'%s' has no owner: it was not created with create", room);
		break;
	case -EBUSY:
		cf_native_err_reply(s, id, "last_owner", "'%s' would have no owner left", room);
		break;
	case -E2BIG:
		cf_native_err_reply(s, id, "rule_limit",
		                    "'%s' lists rooms.max_rule_users (%d) users", room,
		                    cfg->rooms_max_rule_users);
		break;
	case -ENOSPC:
		cf_native_err_reply(s, id, "room_limit", "the server holds %d rooms with rules",
		                    cfg->rooms_max_ruled);
		break;
	case -EDQUOT:
		cf_native_err_reply(s, id, "room_limit", "you created your maximum of %d rooms",
		                    cfg->rooms_max_created);
		break;
	case -EINVAL:
		cf_native_err_reply(s, id, "bad_request", "a field is out of range");
		break;
	default:
		cf_native_err_reply(s, id, "unavailable",
		                    "the room's rules cannot be reached now: %s", strerror(-err));
		break;
	}
}

/* A join refused by the room's rules: banned gets its own code. */
void
cf_native_join_refused(struct cf_sess *s, json_int_t id, int err, const char *room)
{
	if (err == -EPERM)
		cf_native_err_reply(s, id, "banned", "you are banned from '%s'", room);
	else if (err == -EACCES)
		cf_native_err_reply(s, id, "forbidden",
		                    "'%s' is private: an owner or moderator "
		                    "must give you the member role",
		                    room);
	else
		cf_native_rules_error(s, id, err, room);
}

/* ud is the session (session.c cancels the bus's requests by it when it closes); the request
 * is the one it waits for. */
static void
mod_done(void *ud, int err, const struct cf_rules *r)
{
	struct cf_sess *s = ud;
	struct mod_req *q = s->x ? (struct mod_req *)s->x->auth_arg : NULL;

	if (!q)
		return;
	if (err < 0) {
		cf_native_rules_error(s, q->id, err, q->room);
	} else if (q->info) {
		/* A private room is its members' business. */
		if (r && r->kind == CF_KIND_PRIVATE && cf_rules_role(r, s->user_id) == CF_ROLE_NONE)
			cf_native_err_reply(s, q->id, "forbidden", "'%s' is private", q->room);
		else
			cf_native_reply_to(s, q->id, "room", info_json(q->room, r, s->user_id));
	} else {
		json_t *o = json_pack("{s:s}", "room", q->room);

		if (o && q->target[0])
			json_object_set_new(o, "user", json_string(q->target));
		if (o && r)
			json_object_set_new(o, "v", json_integer((json_int_t)r->version));
		cf_native_reply_to(s, q->id, op_names[q->op], o);
	}
	cf_native_mod_forget(s);
	cf_sess_done(s);
}

/* The one rules request a session may have in flight (it waits: sess.h). */
static struct mod_req *
mod_req(struct cmd *c, const char *room)
{
	struct cf_sess_ext *x = cf_sess_ext(c->s);
	struct mod_req *q;

	if (!x)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->id = c->id;
	snprintf(q->room, sizeof(q->room), "%s", room);
	free(x->auth_arg);
	x->auth_arg = (char *)q; /* freed with the session (cf_native_on_close) */
	return q;
}

void
cf_native_mod_forget(struct cf_sess *s)
{
	if (s->x) {
		free(s->x->auth_arg);
		s->x->auth_arg = NULL;
	}
}

static int
get_room(struct cmd *c, const char **room)
{
	size_t len;
	int r = cf_native_get_str(c, "room", room, &len);

	if (r == 0)
		fail(c, "bad_request", "missing field 'room'");
	else if (r > 0 && (cf_text_name_ok(*room, len, 1, CF_ROOM_NAME_MAX, 0) < 0 ||
	                   strlen(*room) != len)) {
		fail(c, "room_name_invalid",
		     "room names are 1 to %d bytes of UTF-8 without control characters",
		     CF_ROOM_NAME_MAX);
		r = -1;
	}
	return r > 0;
}

/* seconds (optional) into an end: now + seconds, or forever. 1, or 0 after replying. */
static int
get_until(struct cmd *c, int64_t *until)
{
	json_int_t secs = 0;
	int r = cf_native_get_int(c, "seconds", 1, 10LL * 365 * 86400, &secs);

	if (r < 0)
		return 0;
	*until = r > 0 ? (int64_t)time(NULL) + secs : CF_RULES_FOREVER;
	return 1;
}

static int
submit(struct cmd *c, const char *room, struct cf_rules_change *ch, const char *target)
{
	struct cf_sess *s = c->s;
	struct mod_req *q = mod_req(c, room);
	int r;

	if (!q)
		return -1;
	q->op = ch->op;
	if (target)
		snprintf(q->target, sizeof(q->target), "%s", target);
	ch->actor = s->user_id;
	ch->target = target ? q->target : NULL;
	r = cf_bus_rules_change(s->env->bus, room, ch, mod_done, s);
	if (r < 0) {
		cf_native_mod_forget(s);
		cf_native_rules_error(s, c->id, r, room);
		return 0;
	}
	cf_sess_wait(s);
	return 0;
}

int
cf_native_cmd_rules(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *op, *room, *str, *target = NULL;
	char tid[CF_IDENT_MAX];
	struct cf_rules_change ch = {0};
	size_t len;
	int r, i;

	op = json_string_value(json_object_get(c->o, "op"));
	if (cf_native_ensure_user(s) < 0)
		return -1;
	if (!get_room(c, &room))
		return 0;
	if (!strcmp(op, "room")) {
		struct mod_req *q = mod_req(c, room);

		if (!q)
			return -1;
		q->info = 1;
		r = cf_bus_rules_get(s->env->bus, room, mod_done, s);
		if (r < 0) {
			cf_native_mod_forget(s);
			cf_native_rules_error(s, c->id, r, room);
			return 0;
		}
		cf_sess_wait(s);
		return 0;
	}
	/* Only accounts own and run rooms: a guest's name is anybody's. */
	if (cf_ident_space_of(s->user_id, NULL) != CF_ID_ACCOUNT)
		return fail(c, "auth_required",
		            "rooms are run by accounts: say hello with a token");
	for (i = 0; i < (int)(sizeof(op_names) / sizeof(op_names[0])); i++)
		if (!strcmp(op, op_names[i]))
			break;
	ch.op = (enum cf_rules_op)i;
	switch (ch.op) {
	case CF_RULES_CREATE:
	case CF_RULES_KIND:
		ch.kind = CF_KIND_OPEN;
		r = cf_native_get_str(c, "kind", &str, &len);
		if (r < 0)
			return 0;
		if (r == 0 && ch.op == CF_RULES_KIND)
			return fail(c, "bad_request", "missing field 'kind'");
		if (r > 0 && cf_rules_kind_parse(str) < 0)
			return fail(c, "bad_request", "kind is one of open, private, announce");
		if (r > 0)
			ch.kind = (uint8_t)cf_rules_kind_parse(str);
		if (ch.op == CF_RULES_KIND)
			break;
		__attribute__((fallthrough)); /* create takes a topic too */
	case CF_RULES_TOPIC:
		r = cf_native_get_str(c, "topic", &ch.topic, &len);
		if (r < 0)
			return 0;
		if (r == 0 && ch.op == CF_RULES_TOPIC)
			return fail(c, "bad_request", "missing field 'topic'");
		if (r > 0 &&
		    (len > CF_RULES_TOPIC_MAX || strlen(ch.topic) != len ||
		     (len && cf_text_name_ok(ch.topic, len, 0, CF_RULES_TOPIC_MAX, 0) < 0)))
			return fail(c, "bad_request",
			            "topic is up to %d bytes of UTF-8 without control characters",
			            CF_RULES_TOPIC_MAX);
		break;
	case CF_RULES_CLOSE:
		break;
	default:
		r = cf_native_get_str(c, "user", &str, &len);
		if (r < 0)
			return 0;
		if (r == 0)
			return fail(c, "bad_request", "missing field 'user'");
		if (cf_ident_parse(str, len, CF_ID_ACCOUNT, (size_t)s->env->cfg->max_name, tid,
		                   sizeof(tid)) < 0)
			return fail(c, "user_name_invalid", "'user' is no valid user id");
		target = tid;
		if (ch.op == CF_RULES_ROLE) {
			r = cf_native_get_str(c, "role", &str, &len);
			if (r < 0)
				return 0;
			if (r == 0 || cf_rules_role_parse(str) < 0)
				return fail(c, "bad_request",
				            "role is one of owner, moderator, member, none");
			ch.role = (uint8_t)cf_rules_role_parse(str);
		} else if ((ch.op == CF_RULES_BAN || ch.op == CF_RULES_MUTE) &&
		           !get_until(c, &ch.until)) {
			return 0;
		}
		break;
	}
	return submit(c, room, &ch, target);
}
