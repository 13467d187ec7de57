/* SPDX-License-Identifier: MIT */
/* pack.c - the next write to a session, planned and framed (see pack.h). */
#include "core/pack.h"
#include "core/frame.h"
#include "core/ring.h"

#include <errno.h>
#include <string.h>

size_t
cf_pack_header(unsigned char *p, size_t len)
{
	p[0] = 0x81; /* FIN + text */
	if (len < 126) {
		p[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		p[1] = 126;
		p[2] = (unsigned char)(len >> 8);
		p[3] = (unsigned char)len;
		return 4;
	}
	p[1] = 127;
	for (int i = 0; i < 8; i++)
		p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return CF_PACK_HDR_MAX;
}

/* The next part of the oldest frame: the whole frame if it fits in one write, else the next
 * write_max bytes, the rest on later writes. */
static int
slice(const struct cf_ring *q, uint32_t off, size_t write_max, struct cf_pack *w)
{
	struct cf_frame *f = cf_ring_peek(q, 0);
	unsigned char hdr[CF_PACK_HDR_MAX], *pl = cf_frame_payload(f);
	size_t hl = cf_pack_header(hdr, f->len), wire = hl + f->len, len;

	if (off >= wire)
		return -EINVAL;
	len = wire - off;
	/* The header goes in the frame's LWS_PRE headroom, as lws itself puts it there: every
	 * session writing this frame writes the same bytes, and the write needs no copy. */
	memcpy(pl - hl, hdr, hl);
	if (len > write_max)
		len = write_max;
	w->buf = pl - hl + off;
	w->len = len;
	w->off = off + (uint32_t)len;
	w->frames = 0;
	if (w->off == wire) {
		w->off = 0;
		w->frames = 1;
	}
	return 0;
}

int
cf_pack_next(const struct cf_ring *q, uint32_t off, const struct cf_pack_limits *lim,
             unsigned char *scratch, struct cf_pack *w)
{
	unsigned char *p = scratch;
	uint32_t n = 0, count = q->count;

	if (!count)
		return -ENOENT;
	if (count == 1 || off)
		return slice(q, off, lim->write_max, w);
	while (n < count) {
		/* One WebSocket frame: a group of events (or one, if the dialect cannot pack). */
		size_t plen = 0, room = lim->write_max - (size_t)(p - scratch), max;
		uint32_t k = 0;

		if (room <= CF_PACK_HDR_MAX)
			break;
		max = room - CF_PACK_HDR_MAX < lim->pack_max ? room - CF_PACK_HDR_MAX
		                                             : lim->pack_max;
		while (n + k < count) {
			const struct cf_frame *g = cf_ring_peek(q, n + k);
			size_t add = g->len + (k ? 1 : 0);

			if ((k && !lim->newline) || plen + add > max)
				break;
			plen += add;
			k++;
		}
		if (!k)
			break;
		p += cf_pack_header(p, plen);
		for (uint32_t i = 0; i < k; i++) {
			struct cf_frame *g = cf_ring_peek(q, n + i);

			if (i)
				*p++ = '\n';
			memcpy(p, cf_frame_payload(g), g->len);
			p += g->len;
		}
		n += k;
	}
	/* The oldest frame does not fit in one write, or in one packed frame, with others: it
	 * goes alone, in slices if it has to. */
	if (!n)
		return slice(q, 0, lim->write_max, w);
	w->buf = scratch;
	w->len = (size_t)(p - scratch);
	w->frames = n;
	w->off = 0;
	return 0;
}

int
cf_pack_message(const struct cf_ring *q, const struct cf_pack_limits *lim, unsigned char *scratch,
                struct cf_pack *w)
{
	struct cf_frame *f = cf_ring_peek(q, 0);
	size_t len;
	uint32_t n = 1;

	if (!f)
		return -ENOENT;
	len = f->len;
	while (lim->newline && n < q->count) {
		const struct cf_frame *g = cf_ring_peek(q, n);

		if (len + 1 + g->len > lim->pack_max)
			break;
		len += 1 + g->len;
		n++;
	}
	w->frames = n;
	w->len = len;
	w->off = 0;
	if (n == 1) {
		w->buf = cf_frame_payload(f);
		return 0;
	}
	w->buf = scratch;
	for (uint32_t i = 0; i < n; i++) {
		f = cf_ring_peek(q, i);
		if (i)
			*scratch++ = '\n';
		memcpy(scratch, cf_frame_payload(f), f->len);
		scratch += f->len;
	}
	return 0;
}
