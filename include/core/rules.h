/* SPDX-License-Identifier: MIT */
/* rules.h - a room's rules: its kind (open, private, announce), topic, and who holds which role
 * (owner, moderator, member) or is banned or muted, until when. Pure: what a user may do in a
 * room, and what a change does to the rules, decided the same way on every node; the bus keeps
 * and spreads them (bus.h rules_get, rules_put), the registry holds each followed room's
 * (cf_room.rules) and checks joins and sends against them.
 *
 * A room without rules is open, has no owner and is what every room was before rules: anyone
 * joins, anyone sends. Rules exist once a user creates the room with `create` (it becomes the
 * owner) or the operator sets them. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

struct json_t;

enum cf_room_kind { CF_KIND_OPEN, CF_KIND_PRIVATE, CF_KIND_ANNOUNCE };
enum cf_role { CF_ROLE_NONE, CF_ROLE_MEMBER, CF_ROLE_MODERATOR, CF_ROLE_OWNER };

#define CF_RULES_TOPIC_MAX 512 /* bytes */
#define CF_RULES_FOREVER   INT64_MAX

struct cf_rule_user {
	UT_hash_handle hh;
	uint8_t role;       /* enum cf_role */
	int64_t ban_until;  /* unix seconds; 0: not banned; CF_RULES_FOREVER */
	int64_t mute_until; /* the same for mutes */
	char id[];          /* the hash key */
};

struct cf_rules {
	uint64_t version; /* +1 per change: the newer of two copies wins */
	uint8_t kind;     /* enum cf_room_kind */
	char *topic;      /* owned, "" when none */
	char *creator;    /* owned: the user who created the room, "" for the operator */
	struct cf_rule_user *users;
	uint32_t nusers;
};

/* What a user asks to change. */
enum cf_rules_op {
	CF_RULES_CREATE, /* kind, topic: the actor becomes the owner */
	CF_RULES_TOPIC,  /* topic */
	CF_RULES_KIND,   /* kind */
	CF_RULES_ROLE,   /* target gets role (NONE: no role) */
	CF_RULES_KICK,   /* target's sessions leave the room; the rules do not change */
	CF_RULES_BAN,    /* target is banned until (and kicked) */
	CF_RULES_UNBAN,
	CF_RULES_MUTE, /* target may not send until */
	CF_RULES_UNMUTE,
	CF_RULES_CLOSE, /* the rules go, every member is removed, the history dropped */
};

struct cf_rules_change {
	enum cf_rules_op op;
	const char *actor; /* a user id; NULL: the operator (admin API), who may do anything */
	const char *target;
	uint8_t role, kind;
	const char *topic;
	int64_t until; /* BAN, MUTE: unix seconds, CF_RULES_FOREVER */
};

void cf_rules_init(struct cf_rules *r);
void cf_rules_fini(struct cf_rules *r);
/* r's role of uid (NONE when it has none). */
enum cf_role cf_rules_role(const struct cf_rules *r, const char *uid);

/* Whether user uid may join, given whether it is proven (an account; guests and the seeds'
 * users are not) and now (unix seconds): 0, -EPERM (banned), -EACCES (private, and uid has no
 * role), -EKEYREJECTED (not proven: such users use open rooms only). r NULL: open, no rules. */
int cf_rules_may_join(const struct cf_rules *r, const char *uid, int proven, int64_t now);
/* Whether uid may send: 0, -EPERM (banned), -EACCES (announce, and uid is no moderator or
 * owner), -EKEYEXPIRED (muted), -EKEYREJECTED (not proven, in a room that is not open). */
int cf_rules_may_send(const struct cf_rules *r, const char *uid, int proven, int64_t now);

/* Whether c may be applied to r (NULL: the room has none yet) at now: 0, -EEXIST (CREATE of a
 * room that has rules), -ENOENT (any other change of a room without rules), -EPERM (the actor's
 * role does not allow it; also a change of someone whose role is not below the actor's, unless
 * the actor is an owner), -EBUSY (it would leave the room without an owner), -E2BIG (more than
 * max_users entries), -EINVAL (a field out of range). CLOSE is an owner's, or the operator's,
 * who may close a room without rules too (it empties the room). Moderators kick, ban, mute and
 * (private rooms) give the member role; owners also change topic, kind and every role. -EALREADY: a
 * role the target has already (allowed, but nothing changes: callers answer it as done). */
int cf_rules_check(const struct cf_rules *r, const struct cf_rules_change *c, int64_t now,
                   uint32_t max_users);
/* Applies a change cf_rules_check() allowed (not CLOSE: the caller drops the rules); version + 1.
 * Entries whose role is none and whose ban and mute have passed are dropped. 0 or -ENOMEM (r
 * unchanged). */
int cf_rules_apply(struct cf_rules *r, const struct cf_rules_change *c, int64_t now);

/* The rules as JSON, the form they are kept and shown in: {"v","kind","topic","creator",
 * "users":{id:{"role"?,"ban"?,"mute"?}}} (new reference, NULL on OOM). */
struct json_t *cf_rules_json(const struct cf_rules *r);
/* Reads that form, as hostile input (a file, Redis): every field's type and range, at most
 * max_users users with valid ids. 0 or -EINVAL (r untouched) or -ENOMEM. */
int cf_rules_from_json(struct cf_rules *r, const struct json_t *o, uint32_t max_users,
                       size_t max_name);
/* Deep copy into dst (initialized or finished). 0 or -ENOMEM. */
int cf_rules_copy(struct cf_rules *dst, const struct cf_rules *src);

/* Why a join or send was refused, in words a seed's client can show ("you are banned from this
 * room"), for the refusals of cf_rules_may_join() and cf_rules_may_send(); NULL for any other
 * error. */
const char *cf_rules_why(int err);

const char *cf_rules_kind_name(enum cf_room_kind k);
const char *cf_rules_role_name(enum cf_role r);
/* -1 when name is none of them. */
int cf_rules_kind_parse(const char *name);
int cf_rules_role_parse(const char *name);
