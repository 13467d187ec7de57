/* SPDX-License-Identifier: MIT */
/* test_ratelimit.c - the token bucket, with explicit times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "confab/ratelimit.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_burst_then_refuse),
	        cmocka_unit_test(test_refill_at_rate),
	        cmocka_unit_test(test_cap_at_burst),
	        cmocka_unit_test(test_lowered_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
