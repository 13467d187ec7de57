/* SPDX-License-Identifier: MIT */
/* ring.h - a session's bounded FIFO of frame references. Storage is allocated on first use,
 * grows by doubling up to the frame limit and is freed when the ring drains, so an idle session
 * costs nothing. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_frame;

struct cf_ring {
	struct cf_frame **v; /* owned; each slot holds one reference */
	uint32_t cap, head, count;
	uint32_t bytes; /* payload bytes queued (session.queue_bytes is at most 1 GiB) */
};

/* Takes a new reference to f. Returns 0, -ENOBUFS when max_frames or max_bytes (or 4 GiB)
 * would be exceeded (nothing queued), or -ENOMEM. */
int cf_ring_push(struct cf_ring *r, struct cf_frame *f, uint32_t max_frames, size_t max_bytes);
/* The i-th oldest frame (borrowed), or NULL. */
struct cf_frame *cf_ring_peek(const struct cf_ring *r, uint32_t i);
/* Removes the n oldest and drops their references; frees the storage when none is left. */
void cf_ring_drop(struct cf_ring *r, uint32_t n);
/* Drops all but the keep oldest, newest first; frees the storage when none is left. Returns the
 * number of frames dropped. */
uint32_t cf_ring_trim(struct cf_ring *r, uint32_t keep);
/* Drops everything and frees the storage. Returns the number of frames dropped. */
uint32_t cf_ring_clear(struct cf_ring *r);
