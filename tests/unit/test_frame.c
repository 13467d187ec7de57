/* SPDX-License-Identifier: MIT */
/* test_frame.c - refcounted frames and the session ring of frame references. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/frame.h"
#include "core/ring.h"

#include <jansson.h>

static struct cf_frame *
frame_str(const char *s)
{
	struct cf_frame *f = cf_frame_new(s, strlen(s));

	assert_non_null(f);
	return f;
}

static void
test_frame_from_json(void **state)
{
	struct cf_frame *f = cf_frame_from_json(json_pack("{s:s,s:i}", "ev", "x", "n", 1));

	(void)state;
	assert_non_null(f);
	assert_int_equal(f->len, strlen("{\"ev\":\"x\",\"n\":1}"));
	assert_memory_equal(cf_frame_payload(f), "{\"ev\":\"x\",\"n\":1}", f->len);
	cf_frame_unref(f);
	/* A failed json_pack() yields NULL; nothing to free. */
	assert_null(cf_frame_from_json(NULL));
}

static void
test_frame_refcount(void **state)
{
	char src[] = "hello";
	struct cf_frame *f = cf_frame_new(src, 5);

	assert_non_null(f);
	assert_int_equal(f->refs, 1);
	assert_int_equal(f->len, 5);
	assert_int_equal(f->ordered_ns, 0);
	/* The payload is a copy. */
	src[0] = 'J';
	assert_memory_equal(cf_frame_payload(f), "hello", 5);
	assert_ptr_not_equal(cf_frame_payload(f), (unsigned char *)src);
	/* The payload sits after the headroom. */
	assert_true(cf_frame_payload(f) > f->buf);

	assert_ptr_equal(cf_frame_ref(f), f);
	assert_int_equal(f->refs, 2);
	assert_ptr_equal(cf_frame_ref(f), f);
	assert_int_equal(f->refs, 3);
	assert_null(cf_frame_unref(f));
	assert_int_equal(f->refs, 2);
	assert_null(cf_frame_unref(f));
	assert_int_equal(f->refs, 1);
	assert_memory_equal(cf_frame_payload(f), "hello", 5);
	assert_null(cf_frame_unref(f)); /* freed: valgrind checks */
	assert_null(cf_frame_unref(NULL));

	/* Empty payload. */
	f = cf_frame_new("", 0);
	assert_non_null(f);
	assert_int_equal(f->len, 0);
	assert_int_equal(f->refs, 1);
	cf_frame_unref(f);
}

static void
expect_order(const struct cf_ring *r, struct cf_frame **want, uint32_t n)
{
	size_t bytes = 0;

	assert_int_equal(r->count, n);
	for (uint32_t i = 0; i < n; i++) {
		if (cf_ring_peek(r, i) != want[i])
			fail_msg("ring slot %u: %p, expected %p", i, (void *)cf_ring_peek(r, i),
			         (void *)want[i]);
		bytes += want[i]->len;
	}
	assert_null(cf_ring_peek(r, n));
	assert_int_equal(r->bytes, bytes);
}

static void
test_ring_fifo_wrap_and_grow(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *f[12];
	char buf[16];

	for (int i = 0; i < 12; i++) {
		snprintf(buf, sizeof(buf), "frame-%d", i);
		f[i] = frame_str(buf);
	}
	/* Idle rings have no storage. */
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	assert_null(cf_ring_peek(&r, 0));

	for (int i = 0; i < 3; i++)
		assert_int_equal(cf_ring_push(&r, f[i], 64, 1 << 20), 0);
	assert_non_null(r.v);
	assert_int_equal(r.cap, 4);
	expect_order(&r, f, 3);
	assert_int_equal(f[0]->refs, 2);

	/* Drop two: head moves to slot 2. */
	cf_ring_drop(&r, 2);
	assert_int_equal(f[0]->refs, 1);
	assert_int_equal(f[1]->refs, 1);
	assert_int_equal(r.head, 2);
	expect_order(&r, f + 2, 1);

	/* Push three more: they wrap around slots 3, 0, 1 without growing. */
	for (int i = 3; i < 6; i++)
		assert_int_equal(cf_ring_push(&r, f[i], 64, 1 << 20), 0);
	assert_int_equal(r.cap, 4);
	assert_int_equal(r.head, 2);
	expect_order(&r, f + 2, 4);

	/* The next push grows the wrapped ring: order is kept. */
	assert_int_equal(cf_ring_push(&r, f[6], 64, 1 << 20), 0);
	assert_int_equal(r.cap, 8);
	expect_order(&r, f + 2, 5);

	/* Wrap again in the grown ring and grow to 16. */
	cf_ring_drop(&r, 3); /* f2..f4 out, f5 f6 left */
	assert_int_equal(f[2]->refs, 1);
	assert_int_equal(f[5]->refs, 2);
	for (int i = 7; i < 12; i++)
		assert_int_equal(cf_ring_push(&r, f[i], 64, 1 << 20), 0);
	assert_int_equal(r.cap, 8);
	expect_order(&r, f + 5, 7);
	/* The same frame may be queued twice (two events sharing a frame). */
	assert_int_equal(cf_ring_push(&r, f[0], 64, 1 << 20), 0);
	assert_int_equal(cf_ring_push(&r, f[0], 64, 1 << 20), 0);
	assert_int_equal(r.cap, 16);
	assert_int_equal(r.count, 9);
	assert_ptr_equal(cf_ring_peek(&r, 0), f[5]);
	assert_ptr_equal(cf_ring_peek(&r, 6), f[11]);
	assert_ptr_equal(cf_ring_peek(&r, 7), f[0]);
	assert_ptr_equal(cf_ring_peek(&r, 8), f[0]);
	assert_int_equal(f[0]->refs, 3);

	/* Dropping more than held drops all, and a drained ring holds no storage. */
	cf_ring_drop(&r, 100);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.bytes, 0);
	assert_int_equal(r.head, 0);
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	for (int i = 0; i < 12; i++)
		assert_int_equal(f[i]->refs, 1);

	/* Drained by exact count too; the next push allocates again. */
	assert_int_equal(cf_ring_push(&r, f[1], 64, 1 << 20), 0);
	assert_int_equal(r.cap, 4);
	cf_ring_drop(&r, 1);
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	assert_int_equal(cf_ring_clear(&r), 0);
	for (int i = 0; i < 12; i++)
		cf_frame_unref(f[i]);
}

static void
test_ring_frame_limit(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *f = frame_str("x");

	for (int i = 0; i < 5; i++)
		assert_int_equal(cf_ring_push(&r, f, 5, 1 << 20), 0);
	/* Growth stops at the frame limit. */
	assert_int_equal(r.cap, 5);
	assert_int_equal(f->refs, 6);
	assert_int_equal(cf_ring_push(&r, f, 5, 1 << 20), -ENOBUFS);
	assert_int_equal(r.count, 5);
	assert_int_equal(r.bytes, 5);
	assert_int_equal(f->refs, 6); /* no reference taken */
	assert_int_equal(r.cap, 5);
	/* After a drop there is room for one again. */
	cf_ring_drop(&r, 1);
	assert_int_equal(f->refs, 5);
	assert_int_equal(cf_ring_push(&r, f, 5, 1 << 20), 0);
	assert_int_equal(cf_ring_push(&r, f, 5, 1 << 20), -ENOBUFS);
	assert_int_equal(r.count, 5);
	assert_int_equal(cf_ring_clear(&r), 5);
	assert_int_equal(f->refs, 1);
	assert_null(r.v);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.bytes, 0);
	cf_frame_unref(f);
}

static void
test_ring_byte_limit(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *ten = frame_str("0123456789"), *one = frame_str("z"),
	                *big = frame_str("0123456789012345678901234567890");

	/* A frame larger than the whole limit never fits, even in an empty ring. */
	assert_int_equal(cf_ring_push(&r, big, 100, 30), -ENOBUFS);
	assert_int_equal(r.count, 0);
	assert_int_equal(big->refs, 1);

	assert_int_equal(cf_ring_push(&r, ten, 100, 25), 0);
	assert_int_equal(cf_ring_push(&r, ten, 100, 25), 0);
	assert_int_equal(r.bytes, 20);
	assert_int_equal(cf_ring_push(&r, ten, 100, 25), -ENOBUFS);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.bytes, 20);
	assert_int_equal(ten->refs, 3);
	/* Up to the limit exactly is fine. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(cf_ring_push(&r, one, 100, 25), 0);
	assert_int_equal(r.bytes, 25);
	assert_int_equal(cf_ring_push(&r, one, 100, 25), -ENOBUFS);
	assert_int_equal(r.count, 7);
	assert_int_equal(one->refs, 6);
	/* Dropping the oldest frees its bytes. */
	cf_ring_drop(&r, 1);
	assert_int_equal(r.bytes, 15);
	assert_int_equal(ten->refs, 2);
	assert_int_equal(cf_ring_push(&r, ten, 100, 25), 0);
	assert_int_equal(r.bytes, 25);
	assert_ptr_equal(cf_ring_peek(&r, 0), ten);
	assert_ptr_equal(cf_ring_peek(&r, 1), one);
	assert_ptr_equal(cf_ring_peek(&r, 6), ten);

	assert_int_equal(cf_ring_clear(&r), 7);
	assert_int_equal(r.bytes, 0);
	assert_int_equal(ten->refs, 1);
	assert_int_equal(one->refs, 1);
	cf_frame_unref(ten);
	cf_frame_unref(one);
	cf_frame_unref(big);
}

static void
test_ring_drop_and_clear_refs(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *a = frame_str("a"), *b = frame_str("bb"), *c = frame_str("ccc");

	assert_int_equal(cf_ring_push(&r, a, 16, 1024), 0);
	assert_int_equal(cf_ring_push(&r, b, 16, 1024), 0);
	assert_int_equal(cf_ring_push(&r, c, 16, 1024), 0);
	assert_int_equal(a->refs, 2);
	assert_int_equal(b->refs, 2);
	assert_int_equal(c->refs, 2);
	assert_int_equal(r.bytes, 6);
	cf_ring_drop(&r, 0);
	assert_int_equal(r.count, 3);
	cf_ring_drop(&r, 1);
	assert_int_equal(a->refs, 1);
	assert_int_equal(b->refs, 2);
	assert_int_equal(r.bytes, 5);
	assert_ptr_equal(cf_ring_peek(&r, 0), b);
	assert_int_equal(cf_ring_clear(&r), 2);
	assert_int_equal(b->refs, 1);
	assert_int_equal(c->refs, 1);
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	assert_int_equal(r.head, 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.bytes, 0);
	/* Clearing an empty (or never used) ring is harmless; the ring is reusable. */
	assert_int_equal(cf_ring_clear(&r), 0);
	assert_int_equal(cf_ring_push(&r, a, 16, 1024), 0);
	assert_ptr_equal(cf_ring_peek(&r, 0), a);
	assert_int_equal(cf_ring_clear(&r), 1);
	cf_frame_unref(a);
	cf_frame_unref(b);
	cf_frame_unref(c);
}

/* A slow session drops its queue but keeps the frame it is halfway through writing: trim keeps
 * the oldest, also when the ring wraps, and frees the storage only when nothing is left. */
static void
test_ring_trim_keeps_oldest(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *f[6];
	char buf[16];

	for (int i = 0; i < 6; i++) {
		snprintf(buf, sizeof(buf), "f%d", i);
		f[i] = frame_str(buf);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(cf_ring_push(&r, f[i], 64, 1 << 20), 0);
	cf_ring_drop(&r, 2); /* head at slot 2 */
	assert_int_equal(cf_ring_push(&r, f[4], 64, 1 << 20), 0);
	assert_int_equal(cf_ring_push(&r, f[5], 64, 1 << 20), 0); /* f2 f3 f4 f5, wrapped */
	assert_int_equal(r.cap, 4);
	assert_int_equal(cf_ring_trim(&r, 5), 0);
	assert_int_equal(cf_ring_trim(&r, 1), 3);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.bytes, 2);
	assert_ptr_equal(cf_ring_peek(&r, 0), f[2]);
	assert_int_equal(f[2]->refs, 2);
	for (int i = 3; i < 6; i++)
		assert_int_equal(f[i]->refs, 1);
	assert_non_null(r.v);
	/* It still works as a FIFO afterwards. */
	assert_int_equal(cf_ring_push(&r, f[0], 64, 1 << 20), 0);
	assert_ptr_equal(cf_ring_peek(&r, 1), f[0]);
	assert_int_equal(cf_ring_trim(&r, 0), 2);
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	assert_int_equal(r.bytes, 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(f[i]->refs, 1);
		cf_frame_unref(f[i]);
	}
}

/* A ring that grew past 16 slots for a burst gives its storage back once drained. */
static void
test_ring_burst_frees_storage(void **state)
{
	struct cf_ring r = {0};
	struct cf_frame *f = frame_str("burst");

	for (int i = 0; i < 17; i++)
		assert_int_equal(cf_ring_push(&r, f, 1024, 1 << 20), 0);
	assert_int_equal(r.cap, 32);
	assert_int_equal(f->refs, 18);
	/* Partly drained: kept. */
	cf_ring_drop(&r, 10);
	assert_non_null(r.v);
	assert_int_equal(r.cap, 32);
	assert_int_equal(r.count, 7);
	/* Fully drained: freed. */
	cf_ring_drop(&r, 7);
	assert_null(r.v);
	assert_int_equal(r.cap, 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.head, 0);
	assert_int_equal(r.bytes, 0);
	assert_int_equal(f->refs, 1);
	/* And works again from scratch. */
	assert_int_equal(cf_ring_push(&r, f, 1024, 1 << 20), 0);
	assert_int_equal(r.cap, 4);
	assert_ptr_equal(cf_ring_peek(&r, 0), f);
	cf_ring_drop(&r, 1);
	assert_null(r.v); /* small rings too: an idle session holds no storage */
	assert_int_equal(cf_ring_clear(&r), 0);
	assert_null(r.v);
	cf_frame_unref(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frame_refcount),
	        cmocka_unit_test(test_frame_from_json),
	        cmocka_unit_test(test_ring_fifo_wrap_and_grow),
	        cmocka_unit_test(test_ring_frame_limit),
	        cmocka_unit_test(test_ring_byte_limit),
	        cmocka_unit_test(test_ring_drop_and_clear_refs),
	        cmocka_unit_test(test_ring_trim_keeps_oldest),
	        cmocka_unit_test(test_ring_burst_frees_storage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
