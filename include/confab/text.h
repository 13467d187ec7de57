/* SPDX-License-Identifier: MIT */
/* text.h - rules for names that users choose (rooms, user names): length in bytes, valid UTF-8,
 * no control characters. Pure functions. */
#pragma once

#include <stddef.h>

#define CF_ROOM_NAME_MAX 64

/* 0 if s (NUL-terminated, len bytes) is valid UTF-8 of min..max bytes without C0/C1 control
 * characters or DEL, and, with no_edge_space, neither starts nor ends with a space.
 * -EINVAL otherwise. */
int cf_text_name_ok(const char *s, size_t len, size_t min, size_t max, int no_edge_space);
