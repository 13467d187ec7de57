/* SPDX-License-Identifier: MIT */
/* bus.h - the message bus: it orders published messages (assigns the room's seq) and hands the
 * ordered messages back for delivery. Asynchronous by contract: cf_bus_publish() only queues;
 * the completion callback runs later from the event loop, with the seq or an error. The local
 * bus (bus_local.c) orders in-process; a Redis bus orders across nodes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/dialect.h"
#include "core/msg.h"
#include "core/rules.h"

struct lws_context;
struct lws_vhost;
struct cf_frame;
struct cf_room;
struct cf_registry;
struct cf_config;
struct cf_store;
struct cf_typing;

/* Completion of one publish (msg.h): the bus's name for it. */
typedef cf_msg_done_cb cf_bus_done_cb;

/* What the bus needs from its host (the room registry). */
struct cf_bus_host {
	/* Delivers an ordered message to local members and history. Borrows m. */
	void (*deliver)(void *ud, struct cf_msg *m);
	/* Delivers a direct message to the recipient's local sessions; returns how many (0 for a
	 * held message they have already). */
	uint32_t (*deliver_dm)(void *ud, struct cf_msg *m);
	/* How many sessions user uid has on this node (the registry's user index). */
	uint32_t (*user_sessions)(void *ud, const char *uid);
	/* The room's last seq and its epoch (creating the room's state if needed), for a bus that
	 * orders in-process. Returns 0 or a negative errno. */
	int (*room_seq)(void *ud, const char *room, uint64_t *ret_seq, uint64_t *ret_epoch);
	/* Delivers a typing event to the room's local members (cf_room_typing_deliver()). */
	void (*typing)(void *ud, const struct cf_typing *t);
	/* Whether the registry holds the room (members or history): it keeps a created room
	 * alive (room_create) for a bus that keeps those in-process. May be NULL: none is held. */
	int (*room_held)(void *ud, const char *room);
	/* The rules of a room changed (rules.h): c says how, or is NULL when a newer copy came
	 * without one (a catch-up); r is the rules now (NULL: none), borrowed. Told on every node
	 * that follows the room (standalone: the one node), once per change. May be NULL. */
	void (*rules_changed)(void *ud, const char *room, const struct cf_rules *r,
	                      const struct cf_rules_change *c);
	/* How many users are in the room on this node and others it knows of (the registry's
	 * presence), for a bus that keeps rooms in-process. May be NULL: 0. */
	uint32_t (*room_users)(void *ud, const char *room);
	/* User uid's read marker in room moved to seq: its sessions here hear of it
	 * (cf_registry_read_deliver()). May be NULL. */
	void (*read)(void *ud, const char *uid, const char *room, uint64_t seq);
	/* The operator's notice (text: checked UTF-8, at most limits.max_text bytes; ts_ms: when
	 * it was sent) to every session on this node (cf_registry_notice()). May be NULL. */
	void (*notice)(void *ud, const char *text, int64_t ts_ms);
	void *ud;
};

/* Completion of a history read: err 0 with the room's epoch and seq and up to limit messages,
 * oldest first (borrowed), or -ENOENT (no such room) or another negative errno. */
typedef void cf_bus_history_cb(void *ud, int err, uint64_t epoch, uint64_t seq,
                               struct cf_msg **msgs, size_t n);

/* Completion of a room_create or room_check: err 0, or -ENOENT (check: no such room, or it
 * expired), -ENOSPC (create: max rooms reached), -EEXIST (create: the id is taken), -ENOTCONN
 * (Redis is unreachable), another negative errno. room is borrowed. */
typedef void cf_bus_room_cb(void *ud, const char *room, int err);

/* Completion of a rules read or change: err 0 with the room's rules as they are now (NULL:
 * the room has none), borrowed for the call; or err < 0: cf_rules_check()'s refusals, -ENOSPC
 * (rooms.max_ruled rooms have rules), -EDQUOT (the actor created rooms.max_created_per_user
 * rooms), -EAGAIN (Redis unreachable, or other nodes' changes kept winning), -EIO (not
 * written), -ENOMEM. */
typedef void cf_bus_rules_cb(void *ud, int err, const struct cf_rules *r);

/* One room of the directory: a room created with rules whose kind is open or announce. */
struct cf_dir_entry {
	const char *room;
	const char *topic;
	uint8_t kind;     /* enum cf_room_kind */
	uint32_t members; /* users present, on every node */
};
/* Completion of a directory page: err 0 with up to limit entries in name order (borrowed) and
 * more set when rooms after the last one may follow; or err < 0. */
typedef void cf_bus_dir_cb(void *ud, int err, const struct cf_dir_entry *e, size_t n, int more);
#define CF_BUS_DIR_MAX 100 /* most entries of one page */

/* Completions of read marker operations: err 0 with the marker now and whether this set moved
 * it (set), or the markers of the
 * rooms asked about, in order, 0 for none (get; borrowed); or err < 0 (-ENOTCONN: Redis is
 * unreachable; -ENOMEM). */
typedef void cf_bus_read_cb(void *ud, int err, uint64_t seq, int moved);
typedef void cf_bus_reads_cb(void *ud, int err, const uint64_t *seqs, size_t n);

/* Completion of cf_bus_online(): err 0 and online[i] (1 or 0) for each of the n user ids
 * asked about, in order, or err < 0 (online NULL). online is borrowed. */
typedef void cf_bus_online_cb(void *ud, int err, const uint8_t *online, size_t n);

/* Most user ids one cf_bus_online() call may ask about. */
#define CF_BUS_ONLINE_MAX 100

struct cf_bus;

struct cf_bus_ops {
	const char *name;
	/* The bus owns the rooms' seq, epoch and history (it orders them elsewhere): the registry
	 * holds mirrors, which watch() syncs (cf_registry_host.mirror). */
	int mirror;
	/* Frees what the bus hung on a room (cf_room.bus_state) when the registry frees the room;
	 * needs no bus (the registry may outlive it). May be NULL: the bus hangs nothing. */
	void (*room_state_free)(void *state);
	int (*publish)(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud,
	               int64_t tag);
	void (*cancel)(struct cf_bus *b, void *ud);
	int (*healthy)(struct cf_bus *b);
	/* Why not healthy ("ok" when healthy). */
	const char *(*status)(struct cf_bus *b);
	/* A sharded bus: how shard i (from 0) is ("up", or why not), NULL past the last. NULL:
	 * the bus has no shards. */
	const char *(*shard_status)(struct cf_bus *b, size_t i);
	/* Whether the first attempt to reach what the bus needs has ended, either way (READY=1
	 * waits for it). NULL: at once. */
	int (*settled)(struct cf_bus *b);
	/* The room got its first local member: 0 when its state here is current, 1 when the
	 * bus must catch up first (it calls cf_room_ready() later), or a negative errno when it
	 * cannot now. NULL: always current. */
	int (*watch)(struct cf_bus *b, struct cf_room *room);
	/* The room lost its last local member. */
	void (*unwatch)(struct cf_bus *b, struct cf_room *room);
	/* Sends a direct message (m->dm) to every session of user m->room, on every node. The
	 * completion's err is 0, -ENOENT when the user has no session anywhere, or another
	 * negative errno. Same contract as publish otherwise. With m->keep, a user without a
	 * session gets the message in its inbox instead (err 0, m->queued set), and the bus
	 * delivers the inbox, oldest first, when the user's first session appears; with
	 * m->keep_acct too, only a user that is an account does. */
	int (*dm)(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag);
	/* A session of user uid has written the held direct message mid (cf_msg.held) to its
	 * connection: it is delivered and need not be kept any longer. May be NULL. */
	void (*dm_written)(struct cf_bus *b, const char *uid, const char *mid);
	/* A user got its first local session (1), or lost its last (0): direct messages to it
	 * must reach this node while it has one. May be NULL. */
	void (*user)(struct cf_bus *b, const char *uid, int present);
	/* A user's first local session joined the room (joined 1), or its last left (0). */
	void (*presence)(struct cf_bus *b, struct cf_room *room, const char *uid, const char *name,
	                 int joined);
	/* A typing event (room.h struct cf_typing, strings borrowed) to the room's members on
	 * every node, this one included (host.typing): not ordered with messages nor stored,
	 * at most once, but after what the same caller published before. 0, or a negative errno
	 * (-ENOTCONN: Redis is unreachable; nothing is delivered). */
	int (*typing)(struct cf_bus *b, const struct cf_typing *t);
	/* Reads a room's history where it is kept, for rooms this node does not follow (the
	 * registry answers for the others). Messages with seq < before (0: the newest). cb runs
	 * later, once, unless cancel(ud) runs first. May be NULL: nothing beyond the registry. */
	int (*history)(struct cf_bus *b, const char *room, uint64_t before, uint32_t limit,
	               cf_bus_history_cb *cb, void *ud);
	/* Rooms that must be created before they can be joined (seed 002's ids), kept where every
	 * node of the bus sees them. Create records room unless max such rooms are alive; check
	 * tells whether room was created and has not expired, and keeps it alive for the expiry
	 * time again. An id expires rooms.history_ttl (at least 10 s) after its creation, its
	 * last check, or the last time a node held the room (members; standalone, history too).
	 * cb runs exactly once, unless cancel(ud) runs first; it may run before the call returns
	 * (the local bus answers at once). */
	int (*room_create)(struct cf_bus *b, const char *room, uint32_t max, cf_bus_room_cb *cb,
	                   void *ud);
	int (*room_check)(struct cf_bus *b, const char *room, cf_bus_room_cb *cb, void *ud);
	/* What room_check would say, answered now without waiting or keeping the room alive: 1
	 * (created, alive) or 0. NULL: the bus cannot tell without asking (Redis). */
	int (*room_known)(struct cf_bus *b, const char *room);
	/* Whether each user has a session on any node; see cf_bus_online(). May be NULL. */
	int (*online)(struct cf_bus *b, const char *const *uids, size_t n, cf_bus_online_cb *cb,
	              void *ud);
	/* Room rules (rules.h), kept where every node sees them and as long as accounts are.
	 * rules: what this node holds now, borrowed; NULL when the room has none, or (a mirroring
	 * bus) when the room is not followed here: then its rules come with watch(), before
	 * cf_room_ready(). rules_get reads them wherever they are kept. rules_change checks c
	 * against the current rules (cf_rules_check()) and the bounds, keeps the result, and tells
	 * every node that follows the room (host.rules_changed) before cb. Both cbs run later,
	 * exactly once, unless cancel(ud) ran first. May be NULL: no rules (-EOPNOTSUPP). */
	const struct cf_rules *(*rules)(struct cf_bus *b, const char *room);
	int (*rules_get)(struct cf_bus *b, const char *room, cf_bus_rules_cb *cb, void *ud);
	int (*rules_change)(struct cf_bus *b, const char *room, const struct cf_rules_change *c,
	                    cf_bus_rules_cb *cb, void *ud);
	/* Read markers, kept for every node as accounts are: read_set raises user uid's marker in
	 * room to seq (never lowers it) and, when it moved, tells the user's sessions on every node
	 * (host.read); read_get reads the markers of n rooms (at most CF_BUS_READS_MAX). Both cbs
	 * run later, exactly once, unless cancel(ud). May be NULL: no markers (-EOPNOTSUPP). */
	int (*read_set)(struct cf_bus *b, const char *uid, const char *room, uint64_t seq,
	                cf_bus_read_cb *cb, void *ud);
	int (*read_get)(struct cf_bus *b, const char *uid, const char *const *rooms, size_t n,
	                cf_bus_reads_cb *cb, void *ud);
	/* The room directory: the rooms created with rules, of kind open or announce, whose names
	 * start with prefix and sort after `after` ("": from the first), in byte order, up to limit
	 * (1..CF_BUS_DIR_MAX) per page. cb runs later, exactly once, unless cancel(ud). May be
	 * NULL: -EOPNOTSUPP. */
	int (*directory)(struct cf_bus *b, const char *prefix, const char *after, uint32_t limit,
	                 cf_bus_dir_cb *cb, void *ud);
	/* The operator's notice to every session on every node, this one included (host.notice):
	 * at most once, not kept. 0, or a negative errno (-ENOTCONN: Redis is unreachable; nobody
	 * hears it). May be NULL: -EOPNOTSUPP. */
	int (*notice)(struct cf_bus *b, const char *text, int64_t ts_ms);
	/* Where the bus keeps accounts for every node (store.h), owned by the bus. May be NULL:
	 * the bus shares none, and each node keeps its own. */
	struct cf_store *(*store)(struct cf_bus *b);
	/* Before the lws context is destroyed: drop connections, stop timers. May be NULL. */
	void (*stop)(struct cf_bus *b);
	void (*free)(struct cf_bus *b);
};

struct cf_bus {
	const struct cf_bus_ops *ops;
	struct cf_bus_host host;
};

/* Queues m (the bus takes a reference) for ordering. cb(ud, ...) runs later, exactly once,
 * unless cf_bus_cancel(b, ud) runs first. Returns 0 or a negative errno (nothing queued). */
int cf_bus_publish(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag);
/* Forgets every pending completion for ud (its owner is going away); the messages are still
 * ordered and delivered. */
void cf_bus_cancel(struct cf_bus *b, void *ud);
int cf_bus_healthy(struct cf_bus *b);
const char *cf_bus_status(struct cf_bus *b);
int cf_bus_settled(struct cf_bus *b);
/* How shard i of a sharded bus is ("up" or why not); NULL past the last, or without shards. */
const char *cf_bus_shard_status(struct cf_bus *b, size_t i);
int cf_bus_watch(struct cf_bus *b, struct cf_room *room);
void cf_bus_unwatch(struct cf_bus *b, struct cf_room *room);
/* -EOPNOTSUPP when the bus keeps no history of its own. */
int cf_bus_history(struct cf_bus *b, const char *room, uint64_t before, uint32_t limit,
                   cf_bus_history_cb *cb, void *ud);
int cf_bus_dm(struct cf_bus *b, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag);
void cf_bus_user(struct cf_bus *b, const char *uid, int present);
void cf_bus_dm_written(struct cf_bus *b, const char *uid, const char *mid);
/* Fills h's bus part (room.h struct cf_registry_host: publish, watch, unwatch, presence, user,
 * typing, mirror, state_free) so that the registry tells b, without naming the bus. */
struct cf_registry_host;
void cf_bus_registry_host(struct cf_bus *b, struct cf_registry_host *h);
/* The other way round: a bus host whose every callback goes to the registry reg (delivery,
 * typing, users here, in-process room order, held rooms), as a node, its tests and fuzzers need. */
void cf_bus_host_registry(struct cf_bus_host *h, struct cf_registry *reg);
/* Asks whether each of uids[0..n) (1 <= n <= CF_BUS_ONLINE_MAX) has a session on any node.
 * cb(ud, ...) runs exactly once, unless cf_bus_cancel(b, ud) runs first; it may run before
 * this returns (the local bus answers at once). Returns 0 or a negative errno (cb will not
 * run): -EINVAL (n), -ENOTCONN (Redis unreachable), -EOPNOTSUPP, -ENOMEM. */
int cf_bus_online(struct cf_bus *b, const char *const *uids, size_t n, cf_bus_online_cb *cb,
                  void *ud);
void cf_bus_presence(struct cf_bus *b, struct cf_room *room, const char *uid, const char *name,
                     int joined);
/* See typing in struct cf_bus_ops. -EOPNOTSUPP when the bus carries no typing events. */
int cf_bus_typing(struct cf_bus *b, const struct cf_typing *t);
/* Seed 002's created rooms (see room_create and room_check in struct cf_bus_ops). Return 0
 * (cb runs exactly once, unless cf_bus_cancel(b, ud) runs first; it may run before the call
 * returns) or a negative errno (cb will not run): -ENOTCONN (Redis unreachable),
 * -EOPNOTSUPP (the bus keeps no created rooms), -ENOMEM. */
int cf_bus_room_create(struct cf_bus *b, const char *room, uint32_t max, cf_bus_room_cb *cb,
                       void *ud);
int cf_bus_room_check(struct cf_bus *b, const char *room, cf_bus_room_cb *cb, void *ud);
/* Whether room was created and is alive, when the bus can tell at once: 1 or 0; -EAGAIN when
 * only cf_bus_room_check() can tell. For a gate that cannot wait (an upgrade). */
int cf_bus_room_known(struct cf_bus *b, const char *room);
/* The account store the bus shares between nodes (borrowed: it lives as long as the bus), or
 * NULL when accounts stay on each node (the local bus). */
struct cf_store *cf_bus_store(struct cf_bus *b);
/* Room rules: see rules, rules_get and rules_change in struct cf_bus_ops. rules is NULL-safe
 * (b NULL or without rules: NULL); the others return 0 or a negative errno (cb will not run),
 * -EOPNOTSUPP when the bus keeps no rules. */
const struct cf_rules *cf_bus_rules(struct cf_bus *b, const char *room);
int cf_bus_rules_get(struct cf_bus *b, const char *room, cf_bus_rules_cb *cb, void *ud);
int cf_bus_rules_change(struct cf_bus *b, const char *room, const struct cf_rules_change *c,
                        cf_bus_rules_cb *cb, void *ud);
/* See directory in struct cf_bus_ops: 0 or a negative errno (cb will not run): -EINVAL
 * (limit), -EOPNOTSUPP, -ENOTCONN, -ENOMEM. */
int cf_bus_directory(struct cf_bus *b, const char *prefix, const char *after, uint32_t limit,
                     cf_bus_dir_cb *cb, void *ud);
#define CF_BUS_READS_MAX 256
/* Read markers: see read_set and read_get in struct cf_bus_ops. 0 or a negative errno (cb
 * will not run): -EOPNOTSUPP, -EINVAL (n), -ENOTCONN, -ENOMEM. */
int cf_bus_read_set(struct cf_bus *b, const char *uid, const char *room, uint64_t seq,
                    cf_bus_read_cb *cb, void *ud);
int cf_bus_read_get(struct cf_bus *b, const char *uid, const char *const *rooms, size_t n,
                    cf_bus_reads_cb *cb, void *ud);
/* See notice in struct cf_bus_ops. */
int cf_bus_notice(struct cf_bus *b, const char *text, int64_t ts_ms);
void cf_bus_stop(struct cf_bus *b);
void cf_bus_free(struct cf_bus *b);

/* The standalone bus. ctx may be NULL (tests): then call cf_bus_local_run() to complete. */
struct cf_bus *cf_bus_local_new(struct lws_context *ctx, const struct cf_bus_host *host);
void cf_bus_local_run(struct cf_bus *b);
/* Gives the standalone bus its offline inboxes (inbox.h), loaded from the state directory
 * when it is open. 0, or a negative errno with err naming the file that could not be read.
 * Without inboxes, kept direct messages to users without a session fail with -ENOENT. */
int cf_bus_local_inbox(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen);
/* Gives the standalone bus its room rules (rules.h), loaded from state.dir/rooms.json when the
 * state directory is open (else kept in memory only). 0, or a negative errno with err naming
 * the file that could not be read. Without them the bus keeps no rules (-EOPNOTSUPP). */
int cf_bus_local_rules(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen);
/* Gives the standalone bus its read markers (core/reads.h), loaded from state.dir/read.json. 0,
 * or a negative errno with err naming the file. Without them read_set/read_get answer
 * -EOPNOTSUPP. */
int cf_bus_local_reads(struct cf_bus *b, const struct cf_config *cfg, char *err, size_t errlen);
/* Gives the standalone bus seed 002's created rooms (room_create, room_check), kept in memory
 * for the times cfg's rooms.history_ttl sets. Without them both answer -EOPNOTSUPP. */
void cf_bus_local_rooms(struct cf_bus *b, const struct cf_config *cfg);

/* The cluster bus over Redis (bus_redis.c): reg's rooms become mirrors of the room logs once
 * cf_bus_registry_host() has filled reg's host. Returns NULL with the reason in err. */
struct cf_bus *cf_bus_redis_new(struct lws_context *ctx, struct lws_vhost *vh,
                                const struct cf_config *cfg, struct cf_registry *reg,
                                const char *node_id, const struct cf_bus_host *host, char *err,
                                size_t errlen);
