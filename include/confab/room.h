/* SPDX-License-Identifier: MIT */
/* room.h - the room registry: name -> room, each with its members (sessions), presence (users),
 * sequence counter and epoch, and a bounded history ring of ordered messages. A room is created
 * on first join (or first message) and forgotten when it has had no member for history_ttl. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>
#include <uthash.h>

struct cf_config;
struct cf_sess;
struct cf_msg;
struct cf_frame;

/* One allocation: id, then name (name == id when they are equal). */
struct cf_presence {
	UT_hash_handle hh;
	const char *name; /* into id[], or id itself */
	uint32_t sessions;
	char id[];
};

struct cf_room {
	UT_hash_handle hh;
	char *name; /* owned; the hash key */
	uint64_t seq;
	uint64_t epoch;
	struct lws_dll2_owner members; /* struct cf_member via in_room */
	struct cf_presence *users;     /* uthash by user id */
	uint32_t nusers;
	struct cf_msg **hist; /* ring of hist_cap references */
	uint32_t hist_cap, hist_head, hist_count;
	struct lws_dll2 in_empty; /* on the registry's empty list while it has no members */
	uint64_t empty_since_s;
};

/* One session's membership of one room; owned by the registry. */
struct cf_member {
	struct lws_dll2 in_room;
	struct lws_dll2 in_sess;
	struct cf_room *room;
	struct cf_sess *sess;
};

struct cf_registry {
	struct cf_room *rooms; /* uthash by name */
	uint32_t nrooms;
	struct lws_dll2_owner empty; /* rooms without members, oldest first */
	const struct cf_config *cfg; /* borrowed */
};

struct cf_registry *cf_registry_new(const struct cf_config *cfg);
void cf_registry_free(struct cf_registry *reg);

struct cf_room *cf_room_find(struct cf_registry *reg, const char *name);
/* Finds or creates. -ENOSPC at rooms.max_rooms, -ENOMEM. */
int cf_room_get(struct cf_registry *reg, const char *name, struct cf_room **ret);

struct cf_member *cf_room_member_of(struct cf_sess *s, struct cf_room *room);
/* Adds s to the room (creating it). Announces the user to the others if this is the user's
 * first session in the room. -EALREADY, -E2BIG (rooms per session), -ENOSPC, -ENOMEM. */
int cf_room_join(struct cf_registry *reg, struct cf_sess *s, const char *name,
                 struct cf_room **ret);
/* -ENOENT if s is not in the room. */
int cf_room_leave(struct cf_registry *reg, struct cf_sess *s, struct cf_room *room);
void cf_room_leave_all(struct cf_registry *reg, struct cf_sess *s);

/* Records an ordered message in the room's history and queues it to every member. */
void cf_room_deliver(struct cf_registry *reg, struct cf_msg *m);

/* History, i = 0 is the oldest held. Borrowed. */
struct cf_msg *cf_room_hist_at(const struct cf_room *room, uint32_t i);
/* Index of the first held message with seq > since (hist_count if none). */
uint32_t cf_room_hist_after(const struct cf_room *room, uint64_t since);
/* The held message from user_id with this nonce, or NULL. */
struct cf_msg *cf_room_find_nonce(const struct cf_room *room, const char *user_id,
                                  const char *nonce);

/* Forgets rooms that have been empty for history_ttl seconds at now_s. Returns how many. */
uint32_t cf_registry_expire(struct cf_registry *reg, uint64_t now_s);
