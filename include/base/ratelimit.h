/* SPDX-License-Identifier: MIT */
/* ratelimit.h - token bucket: `rate` tokens per second up to `burst`. Pure logic, no clock of
 * its own: callers pass the time, so tests are exact. */
#pragma once

#include <stdint.h>

struct cf_bucket {
	double tokens;
	uint64_t last_us;
};

void cf_bucket_init(struct cf_bucket *b, int burst, uint64_t now_us);
/* Takes one token: returns 1 if there was one, 0 if not. */
int cf_bucket_take(struct cf_bucket *b, int rate, int burst, uint64_t now_us);
/* Whether b is full again: rate per second has refilled it to burst since its last take. */
int cf_bucket_full(const struct cf_bucket *b, int rate, int burst, uint64_t now_us);
/* Gives back a token taken for something that did not happen, up to burst. */
void cf_bucket_refund(struct cf_bucket *b, int burst);
/* The same bucket counted over a window: n tokens per period_s seconds, up to n. Whatever the
 * timing, at most 2n are taken in any period_s seconds (n stored, n refilled). */
int cf_bucket_take_window(struct cf_bucket *b, int n, int period_s, uint64_t now_us);
/* Whether b is full again (the bucket holds nothing worth remembering). */
int cf_bucket_full_window(const struct cf_bucket *b, int n, int period_s, uint64_t now_us);
