/* SPDX-License-Identifier: MIT */
/* inbox.h - offline inboxes: direct messages kept for a user who has no session anywhere,
 * delivered (oldest first) when the user's first session appears and kept until a session has
 * written them: delivery is at least once, never lost to a connection that closes first. A direct
 * message is kept only when its sender asks for it (cf_msg.keep, see cf_bus_dm()): the admin API
 * for any user, the native dm and seed 004's /api/send for their recipients (the native dm:
 * accounts only, never guests, see cf_auth_is_account() and cf_msg.keep_acct).
 *
 * This is the standalone store, used by the local bus: per user, in memory, bounded by
 * [inbox] max_messages, max_bytes, ttl and max_users, and persisted in the state directory,
 * one file per user ("inbox-<sha256 of the user id>.json", replaced whole by cf_state_write).
 * Changes are written in batches (inbox.flush_delay), cf_inbox_free() writes at once. A direct
 * message delivered live to an account is held here too, in memory, until it is written. In cluster
 * mode the inboxes are Redis lists (bus_redis.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct lws_context;
struct cf_config;
struct cf_msg;
struct cf_inbox;

/* ctx runs the flush and expiry timers (NULL: cf_inbox_flush() only, for tests). cfg is
 * borrowed and read on every call, so reloaded bounds apply at once. Files are read and
 * written only when the state directory is open (cf_state_ready()). */
struct cf_inbox *cf_inbox_new(struct lws_context *ctx, const struct cf_config *cfg);
/* Before the lws context is destroyed: cancels the timers and writes what is not written yet.
 * Idempotent. */
void cf_inbox_stop(struct cf_inbox *ib);
/* cf_inbox_stop(), then frees. */
void cf_inbox_free(struct cf_inbox *ib);
/* Reads every inbox file of the state directory (expired messages are dropped). 0, or a
 * negative errno with err naming the file that could not be read or parsed. */
int cf_inbox_load(struct cf_inbox *ib, int64_t now_ms, char *err, size_t errlen);

/* Keeps a copy of the direct message m (m->room is the recipient, m->mid its id) for later.
 * Beyond max_messages or max_bytes the user's oldest messages are dropped (counted).
 * 0; -ENOSPC when max_users have inboxes already and this user has none; -EMSGSIZE when m
 * alone exceeds max_bytes; -ENOMEM. */
int cf_inbox_put(struct cf_inbox *ib, const struct cf_msg *m, int64_t now_ms);
/* Messages kept for uid (expired ones included until the next put, take or sweep). */
uint32_t cf_inbox_count(const struct cf_inbox *ib, const char *uid);
/* Whether uid's newest message waits (kept while the user had no session) rather than being
 * held (cf_msg.held: delivered, kept until written). A new message must queue behind waiting
 * ones so that the drain delivers in order. */
int cf_inbox_waiting(const struct cf_inbox *ib, const char *uid);
/* uid's messages, oldest first, without the expired ones, for delivery: *ret is a malloc'd
 * array of the returned count of new references (queued set, queued_ms when kept); the caller
 * unrefs each and frees the array. They stay kept, each now held, until cf_inbox_done(). */
size_t cf_inbox_drain(struct cf_inbox *ib, const char *uid, int64_t now_ms, struct cf_msg ***ret);
/* A session has written uid's held message mid: removes it (written with the next batch when
 * it was in the file). 0, or -ENOENT when uid holds no such message. */
int cf_inbox_done(struct cf_inbox *ib, const char *uid, const char *mid);
/* Drops every message older than inbox.ttl; returns how many. */
uint32_t cf_inbox_expire(struct cf_inbox *ib, int64_t now_ms);
/* Writes the inboxes changed since the last write. 0 or the first negative errno. */
int cf_inbox_flush(struct cf_inbox *ib);
