/* SPDX-License-Identifier: MIT */
/* dialects.h - the dialects this build has, made from the dialect table (dialects.def): their
 * ids (CF_DIALECT_<ID>, the line's index; CF_DIALECT_MAX of them) and their vtables. For the
 * dialects themselves and for what mounts them (mount.c); the core knows only the interface
 * (dialect.h) and CF_DIALECT_SLOTS. */
#pragma once

#include "core/dialect.h"

#include <stddef.h>

enum {
#define CF_DIALECT(ID, sym, name, in_default, sw) CF_DIALECT_##ID,
#include "dialects/dialects.def"
#undef CF_DIALECT
	CF_DIALECT_MAX,
};

_Static_assert(CF_DIALECT_MAX <= CF_DIALECT_SLOTS, "raise CF_DIALECT_SLOTS (dialect.h)");

#define CF_DIALECT(ID, sym, name, in_default, sw) extern const struct cf_dialect cf_dialect_##sym;
#include "dialects/dialects.def"
#undef CF_DIALECT

/* Seed 004 (dialect_ttu.c), for its unit tests (tests/unit/test_ttu.c). */
/* The name a `username:<name>` frame registers (NULs stripped) into
 * out: its length, -EINVAL when the frame is no registration, -E2BIG when out is too small. */
int cf_ttu_parse_username(const char *buf, size_t len, char *out, size_t outlen);
/* The body of POST /api/send or /api/receive: receiver, sender (NULL when absent) and payload
 * as new strings, or -EINVAL with the plain-text reason in *why. */
int cf_ttu_parse_body(const char *body, size_t len, char **receiver, char **sender, char **payload,
                      const char **why);
