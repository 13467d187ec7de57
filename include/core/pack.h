/* SPDX-License-Identifier: MIT */
/* pack.h - the next write to a session: which of its queued frames go into it, grouped into which
 * WebSocket frames, and its bytes. Pure: no lws, no session, no clock, so that unit tests check
 * the framing byte for byte; session.c writes what it says and does the accounting. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_ring;

/* The longest WebSocket frame header cf_pack_header() writes (a 64-bit length). */
#define CF_PACK_HDR_MAX 10

struct cf_pack_limits {
	size_t write_max;     /* bytes of one write (CF_WRITE_MAX) */
	size_t pack_max;      /* payload bytes of one frame of packed events (CF_PACK_MAX) */
	unsigned newline : 1; /* the dialect takes several events in one frame, '\n'-separated */
};

struct cf_pack {
	unsigned char *buf; /* what to write: in scratch, or in the oldest frame */
	size_t len;         /* 1 .. write_max */
	uint32_t frames;    /* the oldest queued frames this write completes */
	uint32_t off; /* the oldest frame's bytes written after this write: the next out_off */
};

/* Writes the header of an unmasked, final text frame of len payload bytes into p (at most
 * CF_PACK_HDR_MAX bytes). Returns its length. */
size_t cf_pack_header(unsigned char *p, size_t len);

/* Plans the next write of the queue q, of which off bytes of the oldest frame (header included)
 * are written already. Either:
 * - the next part of the oldest frame, straight from its shared buffer: when it is alone, when it
 *   is halfway written (off > 0), or when it does not fit in one write (or a packed frame) with
 *   others; at most write_max bytes. Its header goes in the frame's headroom (frame.h), the same
 *   bytes whichever session writes it. w->frames is 1 once this part ends the frame, else 0;
 * - or as many of the oldest frames as fit, whole, in write_max bytes, as WebSocket frames built
 *   in scratch (write_max bytes): one per event, or with lim->newline, as many events per frame,
 *   '\n'-separated, as fit in lim->pack_max payload bytes. w->off is 0.
 * Writes nothing but scratch and the oldest frame's headroom. Returns 0, -ENOENT when q is
 * empty, or -EINVAL when off is not inside the oldest frame. */
int cf_pack_next(const struct cf_ring *q, uint32_t off, const struct cf_pack_limits *lim,
                 unsigned char *scratch, struct cf_pack *w);

/* Plans the next message of a queue whose writes go through lws's extensions
 * (permessage-deflate: lws frames and compresses each message itself). Either the oldest frame
 * alone, its payload straight from its shared buffer (w->buf, in front of which lws writes the
 * header it builds, as into any LWS_PRE headroom); or, with lim->newline, as many of the oldest
 * frames as fit in lim->pack_max payload bytes, '\n'-separated, copied into scratch (pack_max
 * bytes). w->len is the payload's length, w->frames the frames it holds, w->off 0; write_max is
 * not used. Returns 0, or -ENOENT when q is empty. */
int cf_pack_message(const struct cf_ring *q, const struct cf_pack_limits *lim,
                    unsigned char *scratch, struct cf_pack *w);
