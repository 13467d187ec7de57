/* SPDX-License-Identifier: MIT */
/* test_ratelimit.c - the token bucket, with explicit times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/ratelimit.h"

#define T0 1000000000ULL /* an arbitrary start, in microseconds */

static int
take_n(struct cf_bucket *b, int n, int rate, int burst, uint64_t now)
{
	int got = 0;

	for (int i = 0; i < n; i++)
		got += cf_bucket_take(b, rate, burst, now);
	return got;
}

static void
test_burst_then_refuse(void **state)
{
	struct cf_bucket b;

	cf_bucket_init(&b, 20, T0);
	assert_true(b.tokens == 20.0);
	assert_int_equal(b.last_us, T0);
	/* The whole burst at once, then nothing. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(cf_bucket_take(&b, 10, 20, T0), 1);
	assert_int_equal(cf_bucket_take(&b, 10, 20, T0), 0);
	assert_int_equal(cf_bucket_take(&b, 10, 20, T0), 0);
	/* Refusals do not go into debt. */
	assert_true(b.tokens >= 0.0 && b.tokens < 1.0);
}

static void
test_refill_at_rate(void **state)
{
	struct cf_bucket b;

	cf_bucket_init(&b, 5, T0);
	assert_int_equal(take_n(&b, 5, 10, 5, T0), 5);
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0), 0);
	/* rate 10/s: 99 ms is not yet a token, 100 ms is exactly one. */
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 99999), 0);
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 100000), 1);
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 100000), 0);
	/* 250 ms more: two tokens and a half. */
	assert_int_equal(take_n(&b, 5, 10, 5, T0 + 350000), 2);
	/* The half carries over: 50 ms more completes it. */
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 400000), 1);
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 400000), 0);
	/* A time in the past refills nothing and does not move the clock back. */
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0), 0);
	assert_int_equal(b.last_us, T0 + 400000);
	/* rate 1000/s: one token per millisecond. */
	assert_int_equal(cf_bucket_take(&b, 1000, 5, T0 + 401000), 1);
	assert_int_equal(cf_bucket_take(&b, 1000, 5, T0 + 401000), 0);
}

static void
test_cap_at_burst(void **state)
{
	struct cf_bucket b;

	cf_bucket_init(&b, 3, T0);
	assert_int_equal(take_n(&b, 3, 10, 3, T0), 3);
	/* An hour idle refills only up to the burst. */
	assert_int_equal(take_n(&b, 10, 10, 3, T0 + 3600ULL * 1000000), 3);
	assert_int_equal(cf_bucket_take(&b, 10, 3, T0 + 3600ULL * 1000000), 0);
	/* Idle while full does not bank tokens either. */
	cf_bucket_init(&b, 3, T0);
	assert_int_equal(take_n(&b, 10, 10, 3, T0 + 10ULL * 1000000), 3);
}

static void
test_lowered_burst(void **state)
{
	struct cf_bucket b;

	/* A full bucket of 20 after a reload to burst 5 gives only 5. */
	cf_bucket_init(&b, 20, T0);
	assert_int_equal(take_n(&b, 20, 10, 5, T0), 5);
	assert_int_equal(cf_bucket_take(&b, 10, 5, T0 + 1), 0);
	/* And refills up to the new burst only. */
	assert_int_equal(take_n(&b, 20, 10, 5, T0 + 60ULL * 1000000), 5);
	/* Raising it again lets the bucket fill to the new size over time. */
	assert_int_equal(take_n(&b, 20, 10, 8, T0 + 120ULL * 1000000), 8);
}

/* The window bucket: n per period, never more than 2n within any period; a refund gives back
 * one token, never beyond n. */
static void
test_window_bounds_any_period(void **state)
{
	struct cf_bucket b;
	const uint64_t day = 86400ULL * 1000000ULL;
	int got = 0;

	(void)state;
	cf_bucket_init(&b, 3, T0);
	for (int i = 0; i < 5; i++)
		got += cf_bucket_take_window(&b, 3, 86400, T0);
	assert_int_equal(got, 3);
	assert_false(cf_bucket_full_window(&b, 3, 86400, T0));
	/* A third of the period gives one token back, not before. */
	assert_int_equal(cf_bucket_take_window(&b, 3, 86400, T0 + day / 3 - 1000000), 0);
	assert_int_equal(cf_bucket_take_window(&b, 3, 86400, T0 + day / 3 + 1000), 1);
	/* Taking as fast as it refills for a whole period from a full bucket: at most 2n. */
	cf_bucket_init(&b, 3, T0);
	got = 0;
	for (uint64_t t = T0; t <= T0 + day; t += day / 100)
		got += cf_bucket_take_window(&b, 3, 86400, t);
	assert_true(got <= 6 && got >= 5);
	/* Refunds: up to n, never beyond. */
	cf_bucket_init(&b, 3, T0);
	assert_int_equal(cf_bucket_take_window(&b, 3, 86400, T0), 1);
	cf_bucket_refund(&b, 3);
	cf_bucket_refund(&b, 3);
	assert_true(b.tokens == 3.0);
	assert_true(cf_bucket_full_window(&b, 3, 86400, T0));
	/* A clock that goes back takes nothing away. */
	assert_int_equal(cf_bucket_take_window(&b, 3, 86400, T0 - 5000000), 1);
	assert_true(b.tokens == 2.0 && b.last_us == T0);
}

/* Full again once rate per second has refilled it to burst: the moment the registry may forget
 * an address's bucket. */
static void
test_full_again(void **state)
{
	struct cf_bucket b;

	(void)state;
	cf_bucket_init(&b, 20, T0);
	assert_true(cf_bucket_full(&b, 10, 20, T0));
	assert_int_equal(cf_bucket_take(&b, 10, 20, T0), 1);
	assert_false(cf_bucket_full(&b, 10, 20, T0));
	assert_false(cf_bucket_full(&b, 10, 20, T0 + 99999)); /* 0.99 of a token back */
	assert_true(cf_bucket_full(&b, 10, 20, T0 + 100000));
}

/* A session's 8-byte bucket: zeroed is full; ms precision; across the 2^32 ms wrap of its
 * clock it keeps refilling. */
static void
test_sbucket(void **state)
{
	struct cf_sbucket b = {0};
	uint64_t t = 1000;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(cf_sbucket_take(&b, 2, 3, t));
	assert_false(cf_sbucket_take(&b, 2, 3, t));
	assert_false(cf_sbucket_take(&b, 2, 3, t + 400)); /* 0.8 of a token */
	assert_true(cf_sbucket_take(&b, 2, 3, t + 600));  /* 1.2 */
	assert_false(cf_sbucket_take(&b, 2, 3, t + 600));
	cf_sbucket_refund(&b, 3);
	assert_true(cf_sbucket_take(&b, 2, 3, t + 600));
	/* Idle for long: full again, never more than the burst. */
	for (int i = 0; i < 3; i++)
		assert_true(cf_sbucket_take(&b, 2, 3, t + 3600000));
	assert_false(cf_sbucket_take(&b, 2, 3, t + 3600000));
	/* The wrap: the last take just before 2^32 ms, the next 1 s after. */
	t = (1ULL << 32) - 200;
	b = (struct cf_sbucket){0};
	for (int i = 0; i < 3; i++)
		assert_true(cf_sbucket_take(&b, 2, 3, t));
	assert_false(cf_sbucket_take(&b, 2, 3, t));
	assert_true(cf_sbucket_take(&b, 2, 3, t + 1000));
	assert_true(cf_sbucket_take(&b, 2, 3, t + 1000));
	assert_false(cf_sbucket_take(&b, 2, 3, t + 1000));
	assert_int_equal(sizeof(struct cf_sbucket), 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sbucket),
	        cmocka_unit_test(test_window_bounds_any_period),
	        cmocka_unit_test(test_burst_then_refuse),
	        cmocka_unit_test(test_refill_at_rate),
	        cmocka_unit_test(test_cap_at_burst),
	        cmocka_unit_test(test_lowered_burst),
	        cmocka_unit_test(test_full_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
