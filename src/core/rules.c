/* SPDX-License-Identifier: MIT */
/* rules.c - a room's rules (see rules.h): the decisions (who may join, send, change what) and
 * the changes, pure and the same on every node, and their JSON form, read as hostile input. */
#include "core/rules.h"
#include "base/ident.h"
#include "base/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

/* The operator (admin API): above every role. */
#define ROLE_OPERATOR 4

static const char *const kinds[] = {"open", "private", "announce"};
static const char *const roles[] = {"none", "member", "moderator", "owner"};

const char *
cf_rules_kind_name(enum cf_room_kind k)
{
	return (unsigned)k < 3 ? kinds[k] : "open";
}

const char *
cf_rules_role_name(enum cf_role r)
{
	return (unsigned)r < 4 ? roles[r] : "none";
}

const char *
cf_rules_why(int err)
{
	switch (err) {
	case -EPERM:
		return "you are banned from this room";
	case -EACCES:
		return "this room is private, or only its moderators send there";
	case -EKEYEXPIRED:
		return "you are muted in this room";
	case -EKEYREJECTED:
		return "this room is for signed-in users";
	default:
		return NULL;
	}
}

int
cf_rules_kind_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(name, kinds[i]))
			return i;
	return -1;
}

int
cf_rules_role_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, roles[i]))
			return i;
	return -1;
}

void
cf_rules_init(struct cf_rules *r)
{
	memset(r, 0, sizeof(*r));
}

void
cf_rules_fini(struct cf_rules *r)
{
	struct cf_rule_user *u, *tmp;

	HASH_ITER(hh, r->users, u, tmp)
	{
		HASH_DEL(r->users, u);
		free(u);
	}
	free(r->topic);
	free(r->creator);
	memset(r, 0, sizeof(*r));
}

static struct cf_rule_user *
find(const struct cf_rules *r, const char *uid)
{
	struct cf_rule_user *u = NULL;

	if (r && uid)
		HASH_FIND_STR(r->users, uid, u);
	return u;
}

enum cf_role
cf_rules_role(const struct cf_rules *r, const char *uid)
{
	const struct cf_rule_user *u = find(r, uid);

	return u ? (enum cf_role)u->role : CF_ROLE_NONE;
}

int
cf_rules_may_join(const struct cf_rules *r, const char *uid, int proven, int64_t now)
{
	const struct cf_rule_user *u = find(r, uid);

	if (!r)
		return 0;
	if (u && u->ban_until > now)
		return -EPERM;
	if (r->kind != CF_KIND_OPEN && !proven)
		return -EKEYREJECTED;
	if (r->kind == CF_KIND_PRIVATE && (!u || u->role == CF_ROLE_NONE))
		return -EACCES;
	return 0;
}

int
cf_rules_may_send(const struct cf_rules *r, const char *uid, int proven, int64_t now)
{
	const struct cf_rule_user *u = find(r, uid);

	if (!r)
		return 0;
	if (u && u->ban_until > now)
		return -EPERM;
	if (r->kind != CF_KIND_OPEN && !proven)
		return -EKEYREJECTED;
	if (r->kind == CF_KIND_ANNOUNCE && (!u || u->role < CF_ROLE_MODERATOR))
		return -EACCES;
	if (u && u->mute_until > now)
		return -EKEYEXPIRED;
	return 0;
}

static int
owners(const struct cf_rules *r)
{
	const struct cf_rule_user *u, *tmp;
	int n = 0;

	HASH_ITER(hh, r->users, u, tmp)
	{
		n += u->role == CF_ROLE_OWNER;
	}
	return n;
}

static int
topic_ok(const char *t)
{
	return t && strlen(t) <= CF_RULES_TOPIC_MAX &&
	       (!t[0] || cf_text_name_ok(t, strlen(t), 0, CF_RULES_TOPIC_MAX, 0) == 0);
}

int
cf_rules_check(const struct cf_rules *r, const struct cf_rules_change *c, int64_t now,
               uint32_t max_users)
{
	int actor = c->actor ? (int)cf_rules_role(r, c->actor) : ROLE_OPERATOR;
	const struct cf_rule_user *t = find(r, c->target);
	int trole = t ? t->role : CF_ROLE_NONE;

	if (c->op == CF_RULES_CREATE) {
		if (r)
			return -EEXIST;
		if (c->kind > CF_KIND_ANNOUNCE || !topic_ok(c->topic ? c->topic : ""))
			return -EINVAL;
		/* The operator may make a room without an owner (target NULL). */
		return c->actor || !c->target || c->target[0] ? 0 : -EINVAL;
	}
	if (c->op == CF_RULES_CLOSE && !c->actor)
		return 0; /* the operator empties any room */
	if (!r)
		return -ENOENT;
	switch (c->op) {
	case CF_RULES_TOPIC:
		if (!topic_ok(c->topic))
			return -EINVAL;
		return actor >= CF_ROLE_MODERATOR ? 0 : -EPERM;
	case CF_RULES_KIND:
		if (c->kind > CF_KIND_ANNOUNCE)
			return -EINVAL;
		return actor >= CF_ROLE_OWNER ? 0 : -EPERM;
	case CF_RULES_CLOSE:
		return actor >= CF_ROLE_OWNER ? 0 : -EPERM;
	case CF_RULES_ROLE:
		if (!c->target || c->role > CF_ROLE_OWNER)
			return -EINVAL;
		/* Moderators admit and dismiss members of a private room; every other role change
		 * is an owner's. */
		if (actor < CF_ROLE_OWNER &&
		    !(actor == CF_ROLE_MODERATOR && r->kind == CF_KIND_PRIVATE &&
		      trole <= CF_ROLE_MEMBER && c->role <= CF_ROLE_MEMBER))
			return -EPERM;
		if (trole == CF_ROLE_OWNER && c->role != CF_ROLE_OWNER && actor != ROLE_OPERATOR &&
		    owners(r) <= 1)
			return -EBUSY;
		if (trole == c->role)
			return -EALREADY; /* nothing to write, nobody to tell */
		break;
	case CF_RULES_KICK:
	case CF_RULES_BAN:
	case CF_RULES_UNBAN:
	case CF_RULES_MUTE:
	case CF_RULES_UNMUTE:
		if (!c->target)
			return -EINVAL;
		if ((c->op == CF_RULES_BAN || c->op == CF_RULES_MUTE) && c->until <= now)
			return -EINVAL;
		/* Only on users below oneself: a moderator cannot silence another, an owner
		 * cannot ban an owner. */
		if (actor < CF_ROLE_MODERATOR || trole >= actor)
			return -EPERM;
		break;
	default:
		return -EINVAL;
	}
	if (!t && c->op != CF_RULES_KICK && c->op != CF_RULES_UNBAN && c->op != CF_RULES_UNMUTE &&
	    !(c->op == CF_RULES_ROLE && c->role == CF_ROLE_NONE) && r->nusers >= max_users)
		return -E2BIG;
	return 0;
}

static struct cf_rule_user *
get(struct cf_rules *r, const char *uid)
{
	struct cf_rule_user *u = find(r, uid);
	size_t n;

	if (u)
		return u;
	n = strlen(uid);
	u = calloc(1, sizeof(*u) + n + 1);
	if (!u)
		return NULL;
	memcpy(u->id, uid, n + 1);
	HASH_ADD_STR(r->users, id, u);
	r->nusers++;
	return u;
}

/* Entries that say nothing any more. */
static void
sweep(struct cf_rules *r, int64_t now)
{
	struct cf_rule_user *u, *tmp;

	HASH_ITER(hh, r->users, u, tmp)
	{
		if (u->role == CF_ROLE_NONE && u->ban_until <= now && u->mute_until <= now) {
			HASH_DEL(r->users, u);
			free(u);
			r->nusers--;
		}
	}
}

int
cf_rules_apply(struct cf_rules *r, const struct cf_rules_change *c, int64_t now)
{
	struct cf_rule_user *u = NULL;
	char *topic;

	switch (c->op) {
	case CF_RULES_CREATE: {
		char *creator = strdup(c->actor ? c->actor : "");

		topic = strdup(c->topic ? c->topic : "");
		if (!topic || !creator) {
			free(topic);
			free(creator);
			return -ENOMEM;
		}
		cf_rules_fini(r);
		r->topic = topic;
		r->creator = creator;
		r->kind = c->kind;
		if (c->actor || c->target) {
			u = get(r, c->actor ? c->actor : c->target);
			if (!u) {
				cf_rules_fini(r);
				return -ENOMEM;
			}
			u->role = CF_ROLE_OWNER;
		}
		break;
	}
	case CF_RULES_TOPIC:
		topic = strdup(c->topic);
		if (!topic)
			return -ENOMEM;
		free(r->topic);
		r->topic = topic;
		break;
	case CF_RULES_KIND:
		r->kind = c->kind;
		break;
	case CF_RULES_KICK:
	case CF_RULES_CLOSE:
		return 0;
	default:
		u = get(r, c->target);
		if (!u)
			return -ENOMEM;
		if (c->op == CF_RULES_ROLE)
			u->role = c->role;
		else if (c->op == CF_RULES_BAN)
			u->ban_until = c->until;
		else if (c->op == CF_RULES_UNBAN)
			u->ban_until = 0;
		else if (c->op == CF_RULES_MUTE)
			u->mute_until = c->until;
		else if (c->op == CF_RULES_UNMUTE)
			u->mute_until = 0;
		break;
	}
	sweep(r, now);
	r->version++;
	return 0;
}

json_t *
cf_rules_json(const struct cf_rules *r)
{
	json_t *users = json_object(), *o;
	const struct cf_rule_user *u, *tmp;

	if (!users)
		return NULL;
	HASH_ITER(hh, r->users, u, tmp)
	{
		json_t *e = json_object();

		if (!e || json_object_set_new(users, u->id, e) < 0) {
			json_decref(users);
			return NULL;
		}
		if (u->role)
			json_object_set_new(e, "role", json_string(roles[u->role]));
		if (u->ban_until)
			json_object_set_new(e, "ban", json_integer((json_int_t)u->ban_until));
		if (u->mute_until)
			json_object_set_new(e, "mute", json_integer((json_int_t)u->mute_until));
	}
	o = json_pack("{s:I,s:s,s:s,s:s,s:o}", "v", (json_int_t)r->version, "kind",
	              cf_rules_kind_name(r->kind), "topic", r->topic ? r->topic : "", "creator",
	              r->creator ? r->creator : "", "users", users);
	return o;
}

int
cf_rules_from_json(struct cf_rules *r, const json_t *o, uint32_t max_users, size_t max_name)
{
	json_t *users = json_object_get(o, "users"), *e;
	const char *kind, *topic, *id, *creator = "";
	json_int_t ver;
	struct cf_rules n;
	int k;

	if (json_unpack((json_t *)o, "{s:I,s:s,s:s,s?s}", "v", &ver, "kind", &kind, "topic", &topic,
	                "creator", &creator) < 0 ||
	    (creator[0] && !cf_ident_ok(creator, max_name)) || ver < 0 ||
	    (k = cf_rules_kind_parse(kind)) < 0 || !topic_ok(topic) || !json_is_object(users) ||
	    json_object_size(users) > max_users)
		return -EINVAL;
	cf_rules_init(&n);
	n.version = (uint64_t)ver;
	n.kind = (uint8_t)k;
	n.topic = strdup(topic);
	n.creator = strdup(creator);
	if (!n.topic || !n.creator) {
		cf_rules_fini(&n);
		return -ENOMEM;
	}
	json_object_foreach ((json_t *)users, id, e) {
		struct cf_rule_user *u;
		const char *role = "none";
		json_int_t ban = 0, mute = 0;
		int rl;

		if (!cf_ident_ok(id, max_name) || !json_is_object(e) ||
		    json_unpack(e, "{s?s,s?I,s?I}", "role", &role, "ban", &ban, "mute", &mute) <
		            0 ||
		    (rl = cf_rules_role_parse(role)) < 0 || ban < 0 || mute < 0)
			goto invalid;
		u = get(&n, id);
		if (!u) {
			cf_rules_fini(&n);
			return -ENOMEM;
		}
		u->role = (uint8_t)rl;
		u->ban_until = ban;
		u->mute_until = mute;
	}
	cf_rules_fini(r);
	*r = n;
	return 0;
invalid:
	cf_rules_fini(&n);
	return -EINVAL;
}

int
cf_rules_copy(struct cf_rules *dst, const struct cf_rules *src)
{
	const struct cf_rule_user *u, *tmp;
	struct cf_rules n;

	cf_rules_init(&n);
	n.version = src->version;
	n.kind = src->kind;
	n.topic = strdup(src->topic ? src->topic : "");
	n.creator = strdup(src->creator ? src->creator : "");
	if (!n.topic || !n.creator) {
		cf_rules_fini(&n);
		return -ENOMEM;
	}
	HASH_ITER(hh, src->users, u, tmp)
	{
		struct cf_rule_user *c = get(&n, u->id);

		if (!c) {
			cf_rules_fini(&n);
			return -ENOMEM;
		}
		c->role = u->role;
		c->ban_until = u->ban_until;
		c->mute_until = u->mute_until;
	}
	cf_rules_fini(dst);
	*dst = n;
	return 0;
}
