/* SPDX-License-Identifier: MIT */
/* clock.c - the two clocks confab reads (see clock.h). */
#include "base/clock.h"

#include <time.h>

int64_t
cf_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
cf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* tv_sec * 10^9 is a multiple of each divisor, so these are exactly tv_sec * unit +
 * tv_nsec / (ns per unit): one reading, whichever unit a caller compares in. */
uint64_t
cf_now_us(void)
{
	return cf_now_ns() / 1000;
}

uint64_t
cf_now_ms(void)
{
	return cf_now_ns() / 1000000;
}

uint64_t
cf_now_s(void)
{
	return cf_now_ns() / 1000000000;
}
