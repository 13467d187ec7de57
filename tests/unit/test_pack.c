/* SPDX-License-Identifier: MIT */
/* test_pack.c - the next write to a session (pack.c): which queued frames, framed how, and the
 * slices of a frame larger than one write, byte for byte; and the next message of a session
 * whose writes lws frames (permessage-deflate). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/pack.h"
#include "core/ring.h"
#include "net/server.h" /* CF_WRITE_MAX, CF_PACK_MAX: the limits the server writes with */

#define SENTINEL 0xa5

static const struct cf_pack_limits real = {CF_WRITE_MAX, CF_PACK_MAX, 0};
static const struct cf_pack_limits real_nl = {CF_WRITE_MAX, CF_PACK_MAX, 1};

/* What a test works on: the queue, the scratch buffer, and a reference to every frame queued,
 * so that payloads can be compared after the queue dropped them. */
struct q {
	struct cf_ring ring;
	unsigned char *scratch;
	struct cf_frame *f[32];
	uint32_t n;
};

static int
setup(void **state)
{
	struct q *q = calloc(1, sizeof(*q));

	if (!q || !(q->scratch = malloc(CF_WRITE_MAX)))
		return -1;
	memset(q->scratch, SENTINEL, CF_WRITE_MAX);
	*state = q;
	return 0;
}

static int
teardown(void **state)
{
	struct q *q = *state;

	cf_ring_clear(&q->ring);
	for (uint32_t i = 0; i < q->n; i++)
		cf_frame_unref(q->f[i]);
	free(q->scratch);
	free(q);
	return 0;
}

/* Queues a frame of len bytes of letters (never '\n'), starting at letter seed. */
static struct cf_frame *
push_len(struct q *q, size_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);
	struct cf_frame *f;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)('a' + (seed + i) % 26);
	f = cf_frame_new(p, len);
	free(p);
	assert_non_null(f);
	assert_true(q->n < sizeof(q->f) / sizeof(q->f[0]));
	assert_int_equal(cf_ring_push(&q->ring, f, UINT32_MAX, SIZE_MAX), 0);
	q->f[q->n++] = f;
	return f;
}

/* p[0..n) are the bytes from.. of the payload push_len(.., seed) made. */
static void
assert_pattern(const unsigned char *p, size_t from, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 'a' + (seed + from + i) % 26)
			fail_msg("payload byte %zu is %#x", from + i, p[i]);
}

static struct cf_frame *
push_str(struct q *q, const char *s)
{
	struct cf_frame *f = cf_frame_new(s, strlen(s));

	assert_non_null(f);
	assert_int_equal(cf_ring_push(&q->ring, f, UINT32_MAX, SIZE_MAX), 0);
	q->f[q->n++] = f;
	return f;
}

static void
next(struct q *q, uint32_t off, const struct cf_pack_limits *lim, struct cf_pack *w)
{
	assert_int_equal(cf_pack_next(&q->ring, off, lim, q->scratch, w), 0);
	assert_true(w->len >= 1 && w->len <= lim->write_max);
}

/* What session.c does after the write. */
static void
done(struct q *q, const struct cf_pack *w)
{
	cf_ring_drop(&q->ring, w->frames);
}

static void
assert_scratch_untouched(const struct q *q)
{
	for (size_t i = 0; i < CF_WRITE_MAX; i++)
		if (q->scratch[i] != SENTINEL)
			fail_msg("scratch byte %zu written", i);
}

/* w is the whole of f, written straight from its buffer with a hl-byte header hdr. */
static void
assert_alone(const struct cf_pack *w, struct cf_frame *f, const char *hdr, size_t hl)
{
	assert_ptr_equal(w->buf, cf_frame_payload(f) - hl);
	assert_int_equal(w->len, hl + f->len);
	assert_memory_equal(w->buf, hdr, hl);
	assert_int_equal(w->frames, 1);
	assert_int_equal(w->off, 0);
}

/* One WebSocket frame read off a write. */
struct ws {
	const unsigned char *p;
	size_t len;
};

/* Reads buf[0..len) as WebSocket frames, independently of cf_pack_header(): each must be a final,
 * unmasked text frame whose length has the shortest encoding (RFC 6455, 5.2), and the last must
 * end at len exactly. Returns their count. */
static size_t
parse(const unsigned char *buf, size_t len, struct ws *m, size_t max)
{
	size_t i = 0, n = 0;

	while (i < len) {
		uint64_t pl;

		assert_true(n < max);
		assert_true(len - i >= 2);
		assert_int_equal(buf[i], 0x81);
		assert_true(buf[i + 1] < 0x80); /* no mask from a server */
		pl = buf[i + 1];
		i += 2;
		if (pl == 126) {
			assert_true(len - i >= 2);
			pl = (uint64_t)buf[i] << 8 | buf[i + 1];
			assert_true(pl >= 126);
			i += 2;
		} else if (pl == 127) {
			assert_true(len - i >= 8);
			assert_true(buf[i] < 0x80);
			pl = 0;
			for (int b = 0; b < 8; b++)
				pl = pl << 8 | buf[i + b];
			assert_true(pl > 0xffff);
			i += 8;
		}
		assert_true(len - i >= pl);
		m[n].p = buf + i;
		m[n].len = pl;
		n++;
		i += pl;
	}
	return n;
}

static void
test_header_sizes(void **state)
{
	static const struct {
		size_t len;
		size_t hl;
		unsigned char hdr[CF_PACK_HDR_MAX];
	} t[] = {
	        {0, 2, {0x81, 0x00}},
	        {1, 2, {0x81, 0x01}},
	        {125, 2, {0x81, 0x7d}},
	        {126, 4, {0x81, 0x7e, 0x00, 0x7e}},
	        {65535, 4, {0x81, 0x7e, 0xff, 0xff}},
	        {65536, 10, {0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
	        {200000, 10, {0x81, 0x7f, 0, 0, 0, 0, 0, 0x03, 0x0d, 0x40}},
	        {(size_t)0x0102030405060708ULL, 10, {0x81, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char p[CF_PACK_HDR_MAX + 1];

		memset(p, SENTINEL, sizeof(p));
		assert_int_equal(cf_pack_header(p, t[i].len), t[i].hl);
		assert_memory_equal(p, t[i].hdr, t[i].hl);
		assert_int_equal(p[t[i].hl], SENTINEL); /* nothing past the header */
	}
}

/* A frame at each header size boundary, alone in the queue: straight from its buffer, with the
 * header put in its headroom; the two that do not fit in one write with their header go in two. */
static void
test_header_sizes_on_the_wire(void **state)
{
	struct q *q = *state;
	struct cf_pack w;
	struct cf_frame *f;

	f = push_len(q, 125, 0);
	next(q, 0, &real, &w);
	assert_alone(&w, f, "\x81\x7d", 2);
	assert_pattern(w.buf + 2, 0, 125, 0);
	done(q, &w);

	f = push_len(q, 126, 1);
	next(q, 0, &real, &w);
	assert_alone(&w, f, "\x81\x7e\x00\x7e", 4);
	assert_pattern(w.buf + 4, 0, 126, 1);
	done(q, &w);

	/* 65535 + 4 and 65536 + 10 bytes: one write of CF_WRITE_MAX, then the rest. */
	f = push_len(q, 65535, 2);
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(f) - 4);
	assert_int_equal(w.len, CF_WRITE_MAX);
	assert_memory_equal(w.buf, "\x81\x7e\xff\xff", 4);
	assert_int_equal(w.frames, 0);
	assert_int_equal(w.off, CF_WRITE_MAX);
	done(q, &w);
	next(q, CF_WRITE_MAX, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(f) - 4 + CF_WRITE_MAX);
	assert_int_equal(w.len, 65535 + 4 - CF_WRITE_MAX);
	assert_pattern(w.buf, CF_WRITE_MAX - 4, w.len, 2);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	done(q, &w);

	f = push_len(q, 65536, 3);
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(f) - 10);
	assert_int_equal(w.len, CF_WRITE_MAX);
	assert_memory_equal(w.buf, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(w.frames, 0);
	assert_int_equal(w.off, CF_WRITE_MAX);
	done(q, &w);
	next(q, CF_WRITE_MAX, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(f) + 65536 - 10);
	assert_int_equal(w.len, 10);
	assert_pattern(w.buf, 65536 - 10, 10, 3);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	done(q, &w);

	assert_int_equal(q->ring.count, 0);
	assert_scratch_untouched(q);
}

static void
test_one_frame_alone(void **state)
{
	struct q *q = *state;
	struct cf_frame *f = push_str(q, "hello");
	struct cf_pack w;

	/* Packing or not, a lone frame is written from its own buffer: no copy. */
	next(q, 0, &real_nl, &w);
	assert_alone(&w, f, "\x81\x05", 2);
	assert_memory_equal(w.buf, "\x81\x05hello", 7);
	/* Planning the same write again gives the same bytes (the headroom is shared). */
	next(q, 0, &real, &w);
	assert_memory_equal(w.buf, "\x81\x05hello", 7);
	done(q, &w);
	assert_int_equal(q->ring.count, 0);
	assert_scratch_untouched(q);

	/* An empty payload is still a frame. */
	f = push_str(q, "");
	next(q, 0, &real, &w);
	assert_alone(&w, f, "\x81\x00", 2);
}

static void
test_several_frames(void **state)
{
	struct q *q = *state;
	struct cf_pack w;

	push_str(q, "a");
	push_str(q, "bc");
	push_str(q, "def");

	/* Without pack_newline: one WebSocket frame per event, all in one write. */
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.len, 12);
	assert_memory_equal(w.buf,
	                    "\x81\x01"
	                    "a"
	                    "\x81\x02"
	                    "bc"
	                    "\x81\x03"
	                    "def",
	                    12);
	assert_int_equal(w.frames, 3);
	assert_int_equal(w.off, 0);
	assert_int_equal(q->scratch[12], SENTINEL);

	/* With it: one WebSocket frame, the events newline-separated. */
	memset(q->scratch, SENTINEL, CF_WRITE_MAX);
	next(q, 0, &real_nl, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.len, 10);
	assert_memory_equal(w.buf,
	                    "\x81\x08"
	                    "a\nbc\ndef",
	                    10);
	assert_int_equal(w.frames, 3);
	assert_int_equal(w.off, 0);
	assert_int_equal(q->scratch[10], SENTINEL);

	/* Planning wrote nothing into the queue. */
	assert_int_equal(q->ring.count, 3);
}

/* A WebSocket frame of packed events is at most pack_max payload bytes, separators included.
 * (CF_PACK_MAX equals CF_WRITE_MAX today, so in the server the write's own bound is met first:
 * a smaller pack_max shows the rule.) */
static void
test_pack_max(void **state)
{
	struct q *q = *state;
	const struct cf_pack_limits lim = {CF_WRITE_MAX, 100, 1};
	struct cf_frame *a, *b, *c;
	struct cf_pack w;

	/* Exactly at: 49 + '\n' + 50 is one frame; the third starts the next. */
	a = push_len(q, 49, 0);
	b = push_len(q, 50, 1);
	c = push_len(q, 3, 2);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 3);
	assert_int_equal(w.len, 2 + 100 + 2 + 3);
	assert_memory_equal(w.buf, "\x81\x64", 2);
	assert_memory_equal(w.buf + 2, cf_frame_payload(a), 49);
	assert_int_equal(w.buf[2 + 49], '\n');
	assert_memory_equal(w.buf + 2 + 50, cf_frame_payload(b), 50);
	assert_memory_equal(w.buf + 102, "\x81\x03", 2);
	assert_memory_equal(w.buf + 104, cf_frame_payload(c), 3);
	done(q, &w);

	/* One over: 49 + '\n' + 51 is two frames, still one write. */
	a = push_len(q, 49, 3);
	b = push_len(q, 51, 4);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 2);
	assert_int_equal(w.len, 2 + 49 + 2 + 51);
	assert_memory_equal(w.buf, "\x81\x31", 2);
	assert_memory_equal(w.buf + 2, cf_frame_payload(a), 49);
	assert_memory_equal(w.buf + 51, "\x81\x33", 2);
	assert_memory_equal(w.buf + 53, cf_frame_payload(b), 51);
	done(q, &w);

	/* An event over pack_max goes alone, from its own buffer, even with others queued. */
	a = push_len(q, 101, 5);
	b = push_len(q, 1, 6);
	next(q, 0, &lim, &w);
	assert_alone(&w, a, "\x81\x65", 2);
	done(q, &w);
	next(q, 0, &lim, &w);
	assert_alone(&w, b, "\x81\x01", 2);
	done(q, &w);
	assert_int_equal(q->ring.count, 0);
}

/* With the server's limits, a packed frame's payload may reach CF_WRITE_MAX - 10 (room for the
 * longest header), not one byte more. */
static void
test_pack_max_real(void **state)
{
	struct q *q = *state;
	struct cf_frame *a, *b;
	struct cf_pack w;
	size_t plen = CF_WRITE_MAX - CF_PACK_HDR_MAX;

	a = push_len(q, 1000, 0);
	b = push_len(q, plen - 1000 - 1, 1);
	next(q, 0, &real_nl, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.frames, 2);
	assert_int_equal(w.len, 4 + plen);
	assert_memory_equal(w.buf, "\x81\x7e", 2);
	assert_int_equal(w.buf[2] << 8 | w.buf[3], plen);
	assert_memory_equal(w.buf + 4, cf_frame_payload(a), 1000);
	assert_int_equal(w.buf[4 + 1000], '\n');
	assert_memory_equal(w.buf + 4 + 1001, cf_frame_payload(b), b->len);
	done(q, &w);

	/* One over: the second event no longer fits in the frame nor, after it, in the write. */
	a = push_len(q, 1000, 2);
	b = push_len(q, plen - 1000, 3);
	next(q, 0, &real_nl, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.len, 4 + 1000);
	assert_memory_equal(w.buf, "\x81\x7e\x03\xe8", 4);
	assert_memory_equal(w.buf + 4, cf_frame_payload(a), 1000);
	done(q, &w);
	next(q, 0, &real_nl, &w);
	assert_alone(&w, b, "\x81\x7e\xfc\x0e", 4); /* 64526 */
	done(q, &w);
	assert_int_equal(q->ring.count, 0);
}

/* A frame joins a write when its payload fits in what is left less the longest header. */
static void
test_write_max(void **state)
{
	struct q *q = *state;
	struct cf_frame *a, *b;
	struct cf_pack w;
	size_t left = CF_WRITE_MAX - (4 + 30000);

	/* Exactly at: b's payload is what a leaves less 10; the write ends 6 bytes short. */
	a = push_len(q, 30000, 0);
	b = push_len(q, left - CF_PACK_HDR_MAX, 1);
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.frames, 2);
	assert_int_equal(w.len, CF_WRITE_MAX - 6);
	assert_memory_equal(w.buf, "\x81\x7e\x75\x30", 4);
	assert_memory_equal(w.buf + 4, cf_frame_payload(a), 30000);
	assert_memory_equal(w.buf + 30004, "\x81\x7e\x8a\xc2", 4); /* 35522 */
	assert_memory_equal(w.buf + 30008, cf_frame_payload(b), b->len);
	assert_int_equal(q->scratch[CF_WRITE_MAX - 6], SENTINEL);
	done(q, &w);

	/* One over: b waits for the next write, where it is alone. */
	memset(q->scratch, SENTINEL, CF_WRITE_MAX);
	a = push_len(q, 30000, 2);
	b = push_len(q, left - CF_PACK_HDR_MAX + 1, 3);
	next(q, 0, &real, &w);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.len, 30004);
	assert_memory_equal(w.buf + 4, cf_frame_payload(a), 30000);
	done(q, &w);
	next(q, 0, &real, &w);
	assert_alone(&w, b, "\x81\x7e\x8a\xc3", 4);
	done(q, &w);

	/* A lone frame of exactly CF_WRITE_MAX bytes on the wire is one write; one byte more, two.
	 */
	a = push_len(q, CF_WRITE_MAX - 4, 4);
	next(q, 0, &real, &w);
	assert_alone(&w, a, "\x81\x7e\xff\xfc", 4);
	assert_int_equal(w.len, CF_WRITE_MAX);
	done(q, &w);
	a = push_len(q, CF_WRITE_MAX - 3, 5);
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(a) - 4);
	assert_int_equal(w.len, CF_WRITE_MAX);
	assert_int_equal(w.frames, 0);
	assert_int_equal(w.off, CF_WRITE_MAX);
	next(q, w.off, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(a) + CF_WRITE_MAX - 4);
	assert_int_equal(w.len, 1);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	done(q, &w);
	assert_int_equal(q->ring.count, 0);
}

/* Another WebSocket frame starts only where more than the longest header is left: with 11 bytes
 * left a 1-byte event joins, with 10 not even an empty one. */
static void
test_write_max_tail(void **state)
{
	struct q *q = *state;
	struct cf_frame *a;
	struct cf_pack w;

	a = push_len(q, CF_WRITE_MAX - 11 - 4, 0);
	push_str(q, "z");
	next(q, 0, &real, &w);
	assert_int_equal(w.frames, 2);
	assert_int_equal(w.len, CF_WRITE_MAX - 11 + 3);
	assert_memory_equal(w.buf + 4, cf_frame_payload(a), a->len);
	assert_memory_equal(w.buf + CF_WRITE_MAX - 11, "\x81\x01z", 3);
	done(q, &w);

	a = push_len(q, CF_WRITE_MAX - 10 - 4, 1);
	push_str(q, "");
	next(q, 0, &real, &w);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.len, CF_WRITE_MAX - 10);
	done(q, &w);
	assert_int_equal(q->ring.count, 1);
}

/* The smaller of pack_max and the write's room (less the longest header) bounds a packed frame,
 * whichever it is, to the byte. */
static void
test_both_bounds(void **state)
{
	struct q *q = *state;
	struct cf_pack_limits lim = {200, 189, 1};
	struct cf_pack w;

	/* pack_max is the smaller, by one: 94 + '\n' + 94 fits, 94 + '\n' + 95 does not. */
	push_len(q, 94, 0);
	push_len(q, 94, 1);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 2);
	assert_memory_equal(w.buf, "\x81\x7e\x00\xbd", 4);
	done(q, &w);
	push_len(q, 94, 2);
	push_len(q, 95, 3);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.len, 2 + 94);
	done(q, &w);
	cf_ring_clear(&q->ring);

	/* The room is the smaller, by one: 95 + '\n' + 94 fits, 95 + '\n' + 95 does not. */
	lim.pack_max = 191;
	push_len(q, 95, 4);
	push_len(q, 94, 5);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 2);
	assert_int_equal(w.len, 4 + 190);
	done(q, &w);
	push_len(q, 95, 6);
	push_len(q, 95, 7);
	next(q, 0, &lim, &w);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.len, 2 + 95);
}

/* A frame larger than one write goes out in slices straight from its buffer, out_off moving on
 * by CF_WRITE_MAX, and nothing else is written until it is complete. */
static void
test_slices(void **state)
{
	struct q *q = *state;
	struct cf_frame *big = push_len(q, 200000, 0), *s1;
	unsigned char *start = cf_frame_payload(big) - 10;
	struct cf_pack w;
	uint32_t off = 0;

	s1 = push_str(q, "x");
	push_str(q, "yz");
	for (int i = 0; i < 3; i++) {
		next(q, off, &real_nl, &w);
		assert_ptr_equal(w.buf, start + off);
		assert_int_equal(w.len, CF_WRITE_MAX);
		assert_int_equal(w.frames, 0);
		assert_int_equal(w.off, off + CF_WRITE_MAX);
		if (!i) {
			assert_memory_equal(w.buf, "\x81\x7f\x00\x00\x00\x00\x00\x03\x0d\x40", 10);
			assert_pattern(w.buf + 10, 0, w.len - 10, 0);
		} else {
			assert_pattern(w.buf, off - 10, w.len, 0);
		}
		off = w.off;
		done(q, &w);
	}
	next(q, off, &real_nl, &w);
	assert_ptr_equal(w.buf, start + 3 * CF_WRITE_MAX);
	assert_int_equal(w.len, 200010 - 3 * CF_WRITE_MAX);
	assert_pattern(w.buf, 3 * CF_WRITE_MAX - 10, w.len, 0);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	done(q, &w);
	assert_ptr_equal(cf_ring_peek(&q->ring, 0), s1);
	assert_scratch_untouched(q);

	/* Then the small ones, packed. */
	next(q, 0, &real_nl, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.len, 6);
	assert_memory_equal(w.buf, "\x81\x04x\nyz", 6);
	assert_int_equal(w.frames, 2);
	done(q, &w);
	assert_int_equal(q->ring.count, 0);
}

/* The oldest frame too large to share a write goes alone even with small ones queued behind it;
 * the boundary is its payload at CF_WRITE_MAX - 10. */
static void
test_oldest_large(void **state)
{
	struct q *q = *state;
	struct cf_frame *big, *s1;
	struct cf_pack w;

	/* At the boundary it is copied into scratch with those that still fit (none: 6 bytes left,
	 * less than a header and a byte). */
	big = push_len(q, CF_WRITE_MAX - CF_PACK_HDR_MAX, 0);
	s1 = push_str(q, "x");
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.len, CF_WRITE_MAX - 6);
	assert_memory_equal(w.buf, "\x81\x7e\xff\xf6", 4);
	assert_memory_equal(w.buf + 4, cf_frame_payload(big), big->len);
	assert_int_equal(w.frames, 1);
	done(q, &w);
	next(q, 0, &real, &w);
	assert_alone(&w, s1, "\x81\x01", 2);
	done(q, &w);

	/* One over: from its own buffer, whole (it fits with its 4-byte header). */
	memset(q->scratch, SENTINEL, CF_WRITE_MAX);
	big = push_len(q, CF_WRITE_MAX - CF_PACK_HDR_MAX + 1, 1);
	s1 = push_str(q, "x");
	push_str(q, "y");
	next(q, 0, &real_nl, &w);
	assert_alone(&w, big, "\x81\x7e\xff\xf7", 4);
	assert_scratch_untouched(q);
	done(q, &w);
	next(q, 0, &real_nl, &w);
	assert_memory_equal(w.buf, "\x81\x03x\ny", 5);
	assert_int_equal(w.frames, 2);
	done(q, &w);

	/* Larger than a write, with others behind: sliced from the first write on. */
	big = push_len(q, 100000, 2);
	push_str(q, "x");
	next(q, 0, &real, &w);
	assert_ptr_equal(w.buf, cf_frame_payload(big) - 10);
	assert_int_equal(w.len, CF_WRITE_MAX);
	assert_int_equal(w.frames, 0);
	assert_int_equal(w.off, CF_WRITE_MAX);
	next(q, w.off, &real, &w);
	assert_int_equal(w.len, 100010 - CF_WRITE_MAX);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	done(q, &w);
	assert_int_equal(q->ring.count, 1);
}

static void
test_errors(void **state)
{
	struct q *q = *state;
	struct cf_pack w;

	assert_int_equal(cf_pack_next(&q->ring, 0, &real, q->scratch, &w), -ENOENT);
	push_str(q, "abc");
	/* Five bytes on the wire: an offset at or past them is no frame's. */
	assert_int_equal(cf_pack_next(&q->ring, 5, &real, q->scratch, &w), -EINVAL);
	assert_int_equal(cf_pack_next(&q->ring, 4, &real, q->scratch, &w), 0);
	assert_int_equal(w.len, 1);
	assert_int_equal(w.buf[0], 'c');
	assert_int_equal(w.frames, 1);
}

/* A queue of every size above, written the way session.c writes it until empty: every write
 * within the cap, and the bytes on the wire are the events, in order, nothing lost or doubled. */
static void
drain(struct q *q, const struct cf_pack_limits *lim, struct ws *m, size_t *nm)
{
	static const size_t sizes[] = {3,     0,     70000, 1,     2,    65526,  65527, 125,
	                               126,   65535, 65536, 50,    9,    200000, 7,     65532,
	                               65533, 4,     30000, 35000, 1000, 1};
	size_t total = 0, len = 0, writes = 0;
	unsigned char *wire;
	uint32_t off = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		push_len(q, sizes[i], (unsigned)i);
		total += CF_PACK_HDR_MAX + sizes[i];
	}
	wire = malloc(total);
	assert_non_null(wire);
	while (q->ring.count) {
		struct cf_frame *f = cf_ring_peek(&q->ring, 0);
		struct cf_pack w;

		assert_true(++writes <= 100);
		next(q, off, lim, &w);
		/* From scratch, or from inside the oldest frame's buffer and its header. */
		if (w.buf != q->scratch) {
			assert_true(w.buf >= cf_frame_payload(f) - CF_PACK_HDR_MAX);
			assert_true(w.buf + w.len <= cf_frame_payload(f) + f->len);
			assert_true(w.frames <= 1);
		} else {
			assert_int_equal(off, 0);
			assert_int_equal(w.off, 0);
		}
		assert_true(w.frames || w.off > off);
		assert_true(len + w.len <= total);
		memcpy(wire + len, w.buf, w.len);
		len += w.len;
		off = w.off;
		done(q, &w);
	}
	assert_int_equal(off, 0);
	*nm = parse(wire, len, m, 64);
	/* parse() holds pointers into wire: compare before freeing it. */
	if (!lim->newline) {
		assert_int_equal(*nm, q->n);
		for (size_t i = 0; i < *nm; i++) {
			assert_int_equal(m[i].len, q->f[i]->len);
			assert_memory_equal(m[i].p, cf_frame_payload(q->f[i]), m[i].len);
		}
	} else {
		size_t ev = 0;

		for (size_t i = 0; i < *nm; i++) {
			const unsigned char *p = m[i].p, *end = p + m[i].len;

			/* A packed frame keeps to pack_max; a lone event may be larger. */
			if (memchr(p, '\n', m[i].len))
				assert_true(m[i].len <= lim->pack_max);
			for (;;) {
				const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t el = nl ? (size_t)(nl - p) : (size_t)(end - p);

				assert_true(ev < q->n);
				assert_int_equal(el, q->f[ev]->len);
				assert_memory_equal(p, cf_frame_payload(q->f[ev]), el);
				ev++;
				if (!nl)
					break;
				p = nl + 1;
			}
		}
		assert_int_equal(ev, q->n);
		assert_true(*nm < q->n); /* something was packed */
	}
	free(wire);
}

static void
test_drain(void **state)
{
	struct ws m[64];
	size_t nm;

	drain(*state, &real, m, &nm);
}

static void
test_drain_newline(void **state)
{
	struct ws m[64];
	size_t nm;

	drain(*state, &real_nl, m, &nm);
}

static void
test_drain_small_pack(void **state)
{
	const struct cf_pack_limits lim = {CF_WRITE_MAX, 40000, 1};
	struct ws m[64];
	size_t nm;

	drain(*state, &lim, m, &nm);
}

/* permessage-deflate: one message per write, lws frames it. */
static void
test_message(void **state)
{
	const struct cf_pack_limits one = {0, 8, 0}, nl = {0, 8, 1};
	struct q *q = *state;
	struct cf_pack w;

	assert_int_equal(cf_pack_message(&q->ring, &nl, q->scratch, &w), -ENOENT);
	push_str(q, "a");
	push_str(q, "bc");
	push_str(q, "def");
	push_str(q, "ghijklmnop"); /* longer than pack_max: always alone */
	push_str(q, "q");

	/* Without pack_newline: the oldest frame alone, from its own buffer, unframed. */
	assert_int_equal(cf_pack_message(&q->ring, &one, q->scratch, &w), 0);
	assert_ptr_equal(w.buf, cf_frame_payload(q->f[0]));
	assert_int_equal(w.len, 1);
	assert_int_equal(w.frames, 1);
	assert_int_equal(w.off, 0);
	assert_scratch_untouched(q);

	/* With it: as many as fit in pack_max, separators included ("a\nbc\ndef" is 8). */
	assert_int_equal(cf_pack_message(&q->ring, &nl, q->scratch, &w), 0);
	assert_ptr_equal(w.buf, q->scratch);
	assert_int_equal(w.len, 8);
	assert_memory_equal(w.buf, "a\nbc\ndef", 8);
	assert_int_equal(w.frames, 3);
	assert_int_equal(q->scratch[8], SENTINEL);
	assert_int_equal(q->ring.count, 5); /* planning drops nothing */
	cf_ring_drop(&q->ring, w.frames);

	/* A frame above pack_max goes alone, from its buffer, whatever follows. */
	memset(q->scratch, SENTINEL, CF_WRITE_MAX);
	assert_int_equal(cf_pack_message(&q->ring, &nl, q->scratch, &w), 0);
	assert_ptr_equal(w.buf, cf_frame_payload(q->f[3]));
	assert_int_equal(w.len, 10);
	assert_int_equal(w.frames, 1);
	cf_ring_drop(&q->ring, w.frames);

	/* The last one alone. */
	assert_int_equal(cf_pack_message(&q->ring, &nl, q->scratch, &w), 0);
	assert_ptr_equal(w.buf, cf_frame_payload(q->f[4]));
	assert_int_equal(w.len, 1);
	assert_int_equal(w.frames, 1);
	assert_scratch_untouched(q);
	cf_ring_drop(&q->ring, w.frames);
	assert_int_equal(cf_pack_message(&q->ring, &nl, q->scratch, &w), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_header_sizes),
	        cmocka_unit_test_setup_teardown(test_header_sizes_on_the_wire, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_one_frame_alone, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_several_frames, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pack_max, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pack_max_real, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_max, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_max_tail, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_both_bounds, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_oldest_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_drain_newline, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_drain_small_pack, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_message, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
