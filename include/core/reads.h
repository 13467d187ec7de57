/* SPDX-License-Identifier: MIT */
/* reads.h - read markers on a standalone node: how far each account has read each room (the
 * seq of the last message it read), monotonic, at most rooms.max_read_markers per account
 * (beyond, the marker updated longest ago is forgotten: that room counts as all unread), kept
 * in memory and in state.dir/read.json, written at most once a second (a crash loses the last
 * second of markers, never a message). The cluster bus keeps them in Redis instead. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_config;
struct lws_context;
struct cf_reads;

/* Loads read.json when the state directory is open; ctx (may be NULL: tests, no writes)
 * runs the write timer. NULL with err naming the file. */
struct cf_reads *cf_reads_open(struct lws_context *ctx, const struct cf_config *cfg, char *err,
                               size_t errlen);
/* Writes what is dirty (at exit). */
void cf_reads_flush(struct cf_reads *rd);
void cf_reads_stop(struct cf_reads *rd);
void cf_reads_free(struct cf_reads *rd);
/* Raises uid's marker in room to seq (never lowers it). 1 when it moved, 0 when it was there
 * already; *ret_seq the marker now. -ENOMEM. */
int cf_reads_set(struct cf_reads *rd, const char *uid, const char *room, uint64_t seq,
                 uint64_t *ret_seq);
/* uid's marker in room, 0 when none. */
uint64_t cf_reads_get(const struct cf_reads *rd, const char *uid, const char *room);
