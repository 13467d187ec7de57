/* SPDX-License-Identifier: MIT */
/* ratelimit.c - token bucket (see ratelimit.h). */
#include "base/ratelimit.h"

void
cf_bucket_init(struct cf_bucket *b, int burst, uint64_t now_us)
{
	b->tokens = burst;
	b->last_us = now_us;
}

int
cf_bucket_take(struct cf_bucket *b, int rate, int burst, uint64_t now_us)
{
	if (now_us > b->last_us) {
		b->tokens += (double)(now_us - b->last_us) * rate / 1e6;
		b->last_us = now_us;
	}
	/* A reload may lower the burst below what the bucket holds. */
	if (b->tokens > burst)
		b->tokens = burst;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

int
cf_bucket_full(const struct cf_bucket *b, int rate, int burst, uint64_t now_us)
{
	return b->tokens + (double)(now_us - b->last_us) * rate / 1e6 >= burst;
}

int
cf_sbucket_take(struct cf_sbucket *b, int rate, int burst, uint64_t now_ms)
{
	/* Odd, so that a take never leaves last_ms at 0, which means "never taken". */
	uint32_t now = (uint32_t)now_ms | 1u;

	if (!b->last_ms)
		b->tokens = (float)burst;
	else
		b->tokens += (float)((double)(uint32_t)(now - b->last_ms) * rate / 1e3);
	b->last_ms = now;
	if (b->tokens > (float)burst)
		b->tokens = (float)burst;
	if (b->tokens < 1.0f)
		return 0;
	b->tokens -= 1.0f;
	return 1;
}

void
cf_sbucket_refund(struct cf_sbucket *b, int burst)
{
	b->tokens = b->tokens + 1.0f > (float)burst ? (float)burst : b->tokens + 1.0f;
}

void
cf_bucket_refund(struct cf_bucket *b, int burst)
{
	b->tokens = b->tokens + 1.0 > burst ? burst : b->tokens + 1.0;
}

static double
refilled(const struct cf_bucket *b, int n, int period_s, uint64_t now_us)
{
	double t = b->tokens;

	if (now_us > b->last_us)
		t += (double)(now_us - b->last_us) / 1e6 * n / period_s;
	return t > n ? n : t;
}

int
cf_bucket_take_window(struct cf_bucket *b, int n, int period_s, uint64_t now_us)
{
	b->tokens = refilled(b, n, period_s, now_us);
	if (now_us > b->last_us)
		b->last_us = now_us;
	if (b->tokens < 1.0)
		return 0;
	b->tokens -= 1.0;
	return 1;
}

int
cf_bucket_full_window(const struct cf_bucket *b, int n, int period_s, uint64_t now_us)
{
	return refilled(b, n, period_s, now_us) >= n;
}
