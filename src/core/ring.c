/* SPDX-License-Identifier: MIT */
/* ring.c - bounded, lazily allocated FIFO of frame references (see ring.h). */
#include "core/ring.h"
#include "core/frame.h"

#include <errno.h>
#include <stdlib.h>

static int
grow(struct cf_ring *r, uint32_t max_frames)
{
	uint32_t ncap = r->cap ? r->cap * 2 : 4;
	struct cf_frame **nv;

	if (ncap > max_frames)
		ncap = max_frames;
	nv = malloc(ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	/* Unwrap into the new storage, oldest first. */
	for (uint32_t i = 0; i < r->count; i++)
		nv[i] = r->v[(r->head + i) % r->cap];
	free(r->v);
	r->v = nv;
	r->cap = ncap;
	r->head = 0;
	return 0;
}

int
cf_ring_push(struct cf_ring *r, struct cf_frame *f, uint32_t max_frames, size_t max_bytes)
{
	int e;

	if (r->count >= max_frames || r->bytes + f->len > max_bytes ||
	    r->bytes + f->len > UINT32_MAX)
		return -ENOBUFS;
	if (r->count == r->cap && (e = grow(r, max_frames)) < 0)
		return e;
	r->v[(r->head + r->count) % r->cap] = cf_frame_ref(f);
	r->count++;
	r->bytes += f->len;
	return 0;
}

struct cf_frame *
cf_ring_peek(const struct cf_ring *r, uint32_t i)
{
	if (i >= r->count)
		return NULL;
	return r->v[(r->head + i) % r->cap];
}

void
cf_ring_drop(struct cf_ring *r, uint32_t n)
{
	if (n > r->count)
		n = r->count;
	for (uint32_t i = 0; i < n; i++) {
		struct cf_frame *f = r->v[r->head];

		r->bytes -= f->len;
		cf_frame_unref(f);
		r->head = (r->head + 1) % r->cap;
	}
	r->count -= n;
	/* A drained ring gives its storage back at once: most sessions are idle between a few
	 * events, and storage kept by each would stay in the heap for good (32 bytes and its
	 * chunk header per idle session, docs/benchmarks.md). Freed now, the next session's push
	 * reuses the chunk; a busy session pays a malloc() and free() from glibc's per-thread
	 * cache per drained write, nothing next to its send(). */
	if (!r->count)
		cf_ring_clear(r);
}

uint32_t
cf_ring_trim(struct cf_ring *r, uint32_t keep)
{
	uint32_t n = 0;

	while (r->count > keep) {
		struct cf_frame *f = r->v[(r->head + r->count - 1) % r->cap];

		r->bytes -= f->len;
		cf_frame_unref(f);
		r->count--;
		n++;
	}
	if (!r->count) {
		free(r->v);
		r->v = NULL;
		r->cap = 0;
		r->head = 0;
	}
	return n;
}

uint32_t
cf_ring_clear(struct cf_ring *r)
{
	return cf_ring_trim(r, 0);
}
