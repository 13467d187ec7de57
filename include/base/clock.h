/* SPDX-License-Identifier: MIT */
/* clock.h - the two clocks confab reads. Wall time (CLOCK_REALTIME) only for what is shown or
 * stored as a date: message timestamps, inbox ages. Everything that measures an interval, a
 * deadline or a rate reads the monotonic clock (CLOCK_MONOTONIC), which a step of the wall
 * clock (NTP, an administrator's date) does not move. */
#pragma once

#include <stdint.h>

/* Unix time in milliseconds. */
int64_t cf_wall_ms(void);

/* The monotonic clock (time since boot, suspend not counted): nanoseconds, and the same
 * reading truncated to microseconds, milliseconds and whole seconds. */
uint64_t cf_now_ns(void);
uint64_t cf_now_us(void);
uint64_t cf_now_ms(void);
uint64_t cf_now_s(void);
