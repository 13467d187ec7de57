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
