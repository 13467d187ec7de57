/* SPDX-License-Identifier: MIT */
/* ratelimit.h - token bucket: `rate` tokens per second up to `burst`. Pure logic, no clock of
 * its own: callers pass the time, so tests are exact. */
#pragma once

#include <stdint.h>

struct cf_bucket {
	double tokens;
	uint64_t last_us;
};

/* A session's bucket, in 8 bytes rather than 16 (every connection holds three: sends, joins,
 * typing; docs/benchmarks.md counts the bytes of an idle connection): the tokens as a float and
 * the time of the last take in ms, mod 2^32 (49.7 days: a bucket idle that long may seem less
 * refilled than it is, never more). Zeroed is full. */
struct cf_sbucket {
	float tokens;
	uint32_t last_ms; /* 0: never taken (zeroed); else the ms of the last take, made odd */
};

/* As cf_bucket_take(), with now_ms a millisecond clock (mod 2^32). */
int cf_sbucket_take(struct cf_sbucket *b, int rate, int burst, uint64_t now_ms);
void cf_sbucket_refund(struct cf_sbucket *b, int burst);

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
