/* SPDX-License-Identifier: MIT */
/* room.h - the room registry: name -> room, each with its members (sessions), presence (users),
 * sequence counter and epoch, and a bounded history ring of ordered messages. A room is created
 * on first join (or first message) and forgotten when it has had no member for history_ttl. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <libwebsockets.h>
#include <uthash.h>

#include "base/ratelimit.h"
#include "core/msg.h"

struct cf_config;
struct cf_sess;
struct cf_msg;
struct cf_frame;

/* A user present in a room: through local sessions, or (cluster mode) on other nodes. It is
 * listed while either count is above 0. While only local sessions have it, id and name are
 * borrowed from one of them (a member of the room, whose user_id and user_name they are; another
 * member's once that one leaves), so that an idle member's id is not held once more per room;
 * once another node has it too they are its own copy (own). */
struct cf_presence {
	UT_hash_handle hh;
	/* The hash key, and the name after its NUL unless the name is the id (named 0): the
	 * layout of a session's user_id and user_name (cf_sess_set_user()). cf_presence_name(). */
	const char *id;
	uint32_t sessions : 31; /* local sessions in the room */
	uint32_t own : 1;       /* id is the entry's own allocation, not borrowed */
	uint32_t remote : 31;   /* other nodes that have the user in the room */
	uint32_t named : 1;
};

/* The user's name as p shows it. */
static inline const char *
cf_presence_name(const struct cf_presence *p)
{
	return p->named ? p->id + strlen(p->id) + 1 : p->id;
}

/* Whether the room's state here is the bus's (cluster mode: a mirror of the room's log). */
enum cf_room_sync {
	CF_ROOM_LIVE,    /* in step: deliveries arrive in order */
	CF_ROOM_SYNCING, /* catching up; joins wait (cf_member.pending) until cf_room_ready() */
	CF_ROOM_STALE,   /* not followed (no member here): may lag; synced again on the next join */
};

struct cf_room {
	UT_hash_handle hh;
	char *name; /* owned; the hash key */
	uint64_t seq;
	uint64_t epoch;
	uint8_t sync; /* enum cf_room_sync; LIVE unless the bus mirrors (cf_registry_host) */
	/* What the bus keeps of the room (a mirroring bus: its catch-up), owned by the bus and
	 * freed with the room through cf_registry_host.state_free. */
	void *bus_state;
	struct lws_dll2_owner members; /* struct cf_member via in_room */
	struct cf_presence *users;     /* uthash by user id */
	uint32_t nusers;
	struct cf_msg **hist; /* ring of hist_cap references */
	uint32_t hist_cap, hist_head, hist_count;
	struct lws_dll2 in_empty; /* on the registry's empty list while it has no members */
	uint64_t empty_since_s;
	struct cf_addr *creator; /* the address whose join created it (NULL: none counted) */
	/* A message was published here (it may still be on its way to the bus): the room is
	 * kept for history_ttl after its last member, not freed at once. */
	uint8_t spoken;
	/* A large room's member lists as dialects show them (room.c); NULL in small rooms. */
	struct cf_room_mtext *mtext;
};

/* One session's membership of one room; owned by the registry. */
struct cf_member {
	struct lws_dll2 in_room;
	struct lws_dll2 in_sess;
	struct cf_room *room;
	struct cf_sess *sess;
	/* A join waiting for the room to sync: no events until cf_room_ready(). */
	uint8_t pending;
	/* The join had to wait: allocated as a struct cf_member_wait (cf_member_wait()). */
	uint8_t waited;
	/* Counted in the room's presence (cf_presence.sessions): a waiting join is counted, and
	 * announced, only once the room's rules let it in (cf_room_ready()). */
	uint8_t counted;
};

/* A membership whose join waited for the room to sync (cluster mode), with the request's
 * parameters the dialect keeps for its reply. Only those joins carry them, so that an idle
 * member is 72 bytes, not 96. */
struct cf_member_wait {
	struct cf_member mb;
	int64_t req_id, req_since, req_epoch;
};

/* mb's request parameters if its join waited (cf_room_join() returned -EINPROGRESS), else
 * NULL. */
static inline struct cf_member_wait *
cf_member_wait(struct cf_member *mb)
{
	return mb->waited ? lws_container_of(mb, struct cf_member_wait, mb) : NULL;
}

/* A user with sessions on this node (direct messages find them here). */
struct cf_user {
	UT_hash_handle hh;
	/* The hash key, borrowed: the user_id of one of its sessions, which all hold the same
	 * string (another's once that one goes), so that an idle user's id is held once. */
	const char *id;
	/* Its sessions here, through cf_sess.user_next (never empty: the user goes with its last),
	 * and how many: a list of our own rather than an lws_dll2_owner (12 bytes, not 24) keeps
	 * an idle user in a 96-byte glibc chunk. */
	struct cf_sess *sessions;
	uint32_t nsessions;
	uint8_t held_next;
	/* Hashes of the last held direct messages given to the sessions here (cf_msg.held): the
	 * inbox publishes a held message again when another node drains it, and sessions that
	 * have it already must not get it twice. Allocated on the first; owned. */
	uint64_t *held;
};

/* A client address that creates or joins rooms or leaves direct messages kept: what bounds it
 * across its sessions and requests (rooms.max_rooms_per_ip, join_rate_per_ip,
 * create_rate_per_ip, inbox.max_per_ip). Kept while it holds rooms or one of its buckets is not
 * full again. */
struct cf_addr {
	UT_hash_handle hh;
	uint32_t rooms;           /* rooms its joins created that are still held */
	struct cf_bucket joins;   /* per second */
	struct cf_bucket creates; /* per minute: its clock runs 60 times slower */
	struct cf_bucket keeps;   /* inbox.max_per_ip per inbox.ttl */
	struct cf_bucket typing;  /* per second: rooms.typing_rate_per_ip */
	char ip[48];
};

/* A typing event (docs/protocol.md "typing"): user uid is typing in room (typing 1) or stopped
 * (0). Ephemeral: never stored, not ordered with messages, delivered at most once; clients
 * drop the indicator after rooms.typing_ttl on their own. Strings are borrowed. */
struct cf_typing {
	const char *room;
	const char *uid;
	int typing;
	/* Not 0: instead of typing, uid's read marker in the room moved to this seq, shown to the
	 * room's other users in rooms of up to rooms.read_show_max users (docs/protocol.md
	 * "read"); it travels as typing does: ephemeral, to every node's members. */
	uint64_t read;
};

/* What the registry tells and asks the layers above it, which the core does not name: the bus
 * (bus.h, cf_bus_registry_host() fills these) and the transport (push). Any may be NULL (unit
 * tests): nothing is told, a publish fails with -ENOTCONN. */
struct cf_registry_host {
	void *bus;
	/* Orders m; as cf_bus_publish(). */
	int (*publish)(void *bus, struct cf_msg *m, cf_msg_done_cb *cb, void *ud, int64_t tag);
	/* The room got its first member here, or lost its last; as cf_bus_watch(), unwatch(). */
	int (*watch)(void *bus, struct cf_room *room);
	void (*unwatch)(void *bus, struct cf_room *room);
	/* A user's first session here joined the room (joined 1), or its last left (0). */
	void (*presence)(void *bus, struct cf_room *room, const char *uid, const char *name,
	                 int joined);
	/* A user got its first session here (1), or lost its last (0). */
	void (*user)(void *bus, const char *uid, int present);
	/* The rules the bus holds for the room now (cf_bus_rules()), borrowed; NULL: none. */
	const struct cf_rules *(*rules)(void *bus, const char *room);
	/* Hands a typing event to every node's members of its room; as cf_bus_typing(). */
	int (*typing)(void *bus, const struct cf_typing *t);
	/* Queues a reference to f on session s (the transport's cf_sess_push()). */
	void (*push)(struct cf_sess *s, struct cf_frame *f);
	/* The client address of s, or NULL (the transport's cf_sess_addr()). */
	const char *(*addr)(const struct cf_sess *s);
	/* The bus owns seq, epoch and history (cluster mode): rooms are mirrors, created STALE
	 * and synced by the bus on their first member. */
	int mirror;
	/* Frees a room's bus_state. Needs no bus: it may run after the bus is gone. */
	void (*state_free)(void *state);
};

struct cf_registry {
	struct cf_room *rooms; /* uthash by name */
	uint32_t nrooms;
	struct lws_dll2_owner empty; /* rooms without members, oldest first */
	const struct cf_config *cfg; /* borrowed */
	struct cf_registry_host host;
	struct cf_user *users; /* uthash by id */
	struct cf_addr *addrs; /* uthash by ip */
	uint32_t naddrs;
};

struct cf_registry *cf_registry_new(const struct cf_config *cfg);
/* Connects the registry to the bus and the transport (copies h). */
void cf_registry_set_host(struct cf_registry *reg, const struct cf_registry_host *h);
/* A random epoch for a new life of a room's sequence: 1 .. 2^53-1 (JavaScript holds it). */
uint64_t cf_room_new_epoch(void);
void cf_registry_free(struct cf_registry *reg);

struct cf_room *cf_room_find(struct cf_registry *reg, const char *name);
/* Finds or creates. -ENOSPC at rooms.max_rooms, -ENOMEM. */
int cf_room_get(struct cf_registry *reg, const char *name, struct cf_room **ret);

struct cf_member *cf_room_member_of(struct cf_sess *s, struct cf_room *room);
/* Adds s to the room (creating it). Announces the user to the others if this is the user's
 * first session in the room. Takes a join token of the session and of its address.
 * -EALREADY, -E2BIG (rooms per session), -EBUSY (rooms.join_rate or join_rate_per_ip: no
 * token), -EDQUOT (the room does not exist and s's address holds rooms.max_rooms_per_ip rooms
 * it created), -ENOSPC, -ENOMEM; the room's rules (cf_rules_may_join(): -EPERM banned,
 * -EACCES private, -EKEYREJECTED not an account in a room that is not open), checked now, or
 * for a join that waits, when the room has synced (join_done() gets them);
 * -ENOTCONN when the room must sync and the bus cannot now (nothing changed);
 * -EINPROGRESS: s is a pending member until the room syncs, when the registry calls
 * s->dialect->join_done(); cf_member_wait(*ret_mb) holds what the dialect keeps for it until
 * then. *ret_mb is the membership. */
int cf_room_join(struct cf_registry *reg, struct cf_sess *s, const char *name, struct cf_room **ret,
                 struct cf_member **ret_mb);
/* The bus finished (err 0) or gave up (err < 0) syncing the room: pending joins complete. */
void cf_room_ready(struct cf_registry *reg, struct cf_room *room, int err);
/* Cluster mode: user uid (name) is in the room on one more other node (joined 1) or one fewer
 * (0). The user is listed, and its join and leave announced once, while a local session or any
 * other node has it. The bus keeps which nodes those are. 0, or -ENOMEM (nothing changed). */
int cf_room_presence_remote(struct cf_registry *reg, struct cf_room *room, const char *uid,
                            const char *name, int joined);

/* The rooms held here, in no order; NULL after the last. A room freed meanwhile must not be
 * passed to cf_room_next(). */
struct cf_room *cf_room_first(struct cf_registry *reg);
struct cf_room *cf_room_next(struct cf_room *room);
/* The users present in the room (local or, cluster mode, on other nodes), in no order. */
const struct cf_presence *cf_room_presence_first(const struct cf_room *room);
const struct cf_presence *cf_room_presence_next(const struct cf_presence *p);
/* The user uid's presence in the room, or NULL. */
const struct cf_presence *cf_room_presence_find(const struct cf_room *room, const char *uid);

/* How a dialect shows a user id (base/ident.h cf_ident_show()): the id written into buf
 * (buflen bytes, CF_IDENT_MAX), or id itself. */
typedef const char *cf_room_show_fn(const char *id, char *buf, size_t buflen);
/* A new frame (one reference) of head, then the room's present users as a JSON array of
 * {"id":<show(id), or id when show is NULL>,"name":<name>} objects, then tail: the member list
 * of a join reply or a welcome, written straight into the frame (as jansson trees, N joins into
 * one room cost N^2/2 allocations: 3/4 of the server's CPU while 1,000 filled one room). A
 * large room keeps the list's text for each show between joins, so that a join copies it
 * instead of writing it again. NULL on OOM. */
struct cf_frame *cf_room_members_frame(struct cf_room *room, cf_room_show_fn *show,
                                       const char *head, size_t head_len, const char *tail,
                                       size_t tail_len);

/* The room's history after seq is void (a failover lost it): drops it, moves to epoch, and
 * tells the members with a gap event (epoch, seq) that what follows continues after seq. */
void cf_room_rewind(struct cf_registry *reg, struct cf_room *room, uint64_t epoch, uint64_t seq);

/* Messages may be missing before the next delivery (the log no longer reaches, or the room's
 * sequence restarted with a new epoch: then history is dropped and seq restarts at 0). Tells
 * every member with a gap event. */
void cf_room_gap(struct cf_registry *reg, struct cf_room *room, uint64_t epoch);
/* -ENOENT if s is not in the room. A room left empty that never had a message published in it
 * is freed at once (nothing to keep for history_ttl); callers must not use it afterwards. */
int cf_room_leave(struct cf_registry *reg, struct cf_sess *s, struct cf_room *room);
void cf_room_leave_all(struct cf_registry *reg, struct cf_sess *s);

/* The rules of room changed (the bus tells every node that follows it): the local members
 * hear it through their dialects' render_rules; members the change removes (c a kick or a
 * ban of their user, or rules they no longer meet: a private room they have no role in) leave
 * the room, told through their dialect's kicked() first. r NULL: the room has no rules. A
 * close (c) removes every member and frees the room, its history with it: room must not be the
 * room's own name. */
struct cf_rules;
struct cf_rules_change;
void cf_room_rules_changed(struct cf_registry *reg, const char *room, const struct cf_rules *r,
                           const struct cf_rules_change *c);

/* Marks m's room, if held here, as spoken in (kept for history_ttl once empty) and hands m to
 * the bus: cf_bus_publish()'s contract. Every room message from a client goes through here, and
 * is checked against the room's rules first (cf_rules_may_send(): -EPERM banned, -EACCES an
 * announce room and the sender no moderator, -EKEYEXPIRED muted, -EKEYREJECTED not an account
 * in a room that is not open; nothing is published then). An edit or delete (m->kind) is also
 * checked against the message it names, which the room's history must hold: -ENOENT (not held,
 * not a message, or deleted), -EKEYREJECTED (a guest: guests correct nothing), -EACCES (an
 * edit of another's message, or a delete of it by a user below moderator), -ETIME (the
 * author's own, older than rooms.edit_window). Once ordered, every node folds it into the
 * message in its history (the message's slot holds the corrected copy). */
int cf_room_publish(struct cf_registry *reg, struct cf_msg *m, cf_msg_done_cb *cb, void *ud,
                    int64_t tag);

/* Records an ordered message in the room's history and queues it to every member. */
void cf_room_deliver(struct cf_registry *reg, struct cf_msg *m);

/* History, i = 0 is the oldest held. Borrowed. */
struct cf_msg *cf_room_hist_at(const struct cf_room *room, uint32_t i);
/* Index of the first held message with seq > since (hist_count if none). */
uint32_t cf_room_hist_after(const struct cf_room *room, uint64_t since);
/* The held message (or edit or delete) with this seq, or NULL. Borrowed. */
struct cf_msg *cf_room_hist_find(const struct cf_room *room, uint64_t seq);
/* The index from which history [from, to) holds n entries that are shown (not deleted; with
 * plain, messages only, no edits or deletes), or 0 when it holds fewer: where a page of n
 * ending before to starts. */
uint32_t cf_room_hist_back(const struct cf_room *room, uint32_t to, uint32_t n, int plain);
/* The held message from user_id with this nonce, or NULL. */
struct cf_msg *cf_room_find_nonce(const struct cf_room *room, const char *user_id,
                                  const char *nonce);

/* A session got its user identity, or is going (or changing identity): keeps the users index
 * and tells the bus about a user's first and last session. add: 0 or -ENOMEM. The user borrows
 * s->user_id while s is one of its sessions: a session's identity changes only between
 * remove and add (cf_sess_set_user() does so). */
int cf_registry_user_add(struct cf_registry *reg, struct cf_sess *s);
void cf_registry_user_remove(struct cf_registry *reg, struct cf_sess *s);
/* User uid's read marker in room moved to seq: every session of uid here hears of it, in the
 * room or not (its unread count changed), through its dialect's render_read. */
void cf_registry_read_deliver(struct cf_registry *reg, const char *uid, const char *room,
                              uint64_t seq);
/* How many sessions user uid has on this node. */
uint32_t cf_registry_user_sessions(struct cf_registry *reg, const char *uid);
/* The users with a session here, in no order; NULL after the last. */
struct cf_user *cf_registry_user_first(struct cf_registry *reg);
struct cf_user *cf_registry_user_next(struct cf_user *u);
/* Queues a direct message to every local session of user m->room; returns how many. A held
 * message (cf_msg.held) the user's sessions here were given already is not given again (0). */
uint32_t cf_registry_deliver_dm(struct cf_registry *reg, struct cf_msg *m);
/* The operator's notice to every session of every user on this node, in its dialect's form
 * (struct cf_dialect render_notice; not shown in the others). */
void cf_registry_notice(struct cf_registry *reg, const char *text, int64_t ts_ms);

/* Takes one of ip's room-creation tokens (rooms.create_rate_per_ip per minute, seed 002's
 * POST /chat): 0, -EBUSY (none left), -ENOMEM. */
int cf_registry_create_take(struct cf_registry *reg, const char *ip);
/* Takes one of the address's kept direct messages (inbox.max_per_ip per inbox.ttl, so that
 * at most twice that many of its messages are kept at any time on this node): 0, -EDQUOT when
 * it has none left, -ENOMEM. ip NULL (an unknown address): 0. */
int cf_registry_keep_take(struct cf_registry *reg, const char *ip);
/* Gives it back: the message was not kept after all (delivered, refused). */
void cf_registry_keep_refund(struct cf_registry *reg, const char *ip);
/* For a sender about to send m: with m->keep, takes one of ip's kept messages (m->keep_quota
 * CF_KEEP_CHARGED) or, with none left, clears keep (CF_KEEP_REFUSED: the message is delivered
 * live or not at all). */
void cf_registry_keep_charge(struct cf_registry *reg, const char *ip, struct cf_msg *m);
/* In the send's completion: gives back the charge unless m was kept (err 0, m->queued). */
void cf_registry_keep_settle(struct cf_registry *reg, const char *ip, const struct cf_msg *m,
                             int err);

/* s says its user is typing in room (typing 1) or stopped (0): takes a typing token of s
 * (rooms.typing_rate) and of its address (typing_rate_per_ip) and hands the event to the bus,
 * which brings it back to the room's members on every node (cf_room_typing_deliver()). In a
 * room whose presence lists more than rooms.presence_events_max users nothing is sent (0):
 * as join and leave events, N members typing would cost N^2 frames. 0; -ENOENT (s is not a
 * member), -EBUSY (no token: nothing sent), -ENOTCONN (the bus cannot now), -ENOMEM; and for
 * typing 1, the refusals of cf_rules_may_send(): a user who may not send there is not shown
 * typing either. */
int cf_room_typing(struct cf_registry *reg, struct cf_sess *s, struct cf_room *room, int typing);
/* A typing event from the bus (this node's or another's): rendered once per dialect that
 * shows typing and queued to the room's members here, but the user's own sessions and members
 * whose join still waits. Nothing when the user is not present in the room (it left since, or
 * a forged event) or the room lists more than presence_events_max users. */
void cf_room_typing_deliver(struct cf_registry *reg, const struct cf_typing *t);

/* Forgets rooms that have been empty for history_ttl seconds at now_s, and addresses that hold
 * no room and whose join bucket is full again. Returns how many rooms. */
uint32_t cf_registry_expire(struct cf_registry *reg, uint64_t now_s);
