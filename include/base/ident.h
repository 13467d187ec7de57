/* SPDX-License-Identifier: MIT */
/* ident.h - the identity spaces (docs/protocol.md "Identities"). Every core user id belongs to
 * exactly one space, and the spaces never overlap: an account's id is its name, which holds no
 * ':'; every identity that nothing proves carries its space's tag, "<tag>:<local>". So a name
 * taken through an unauthenticated dialect can never be, or be delivered to, an account, and
 * direct messages, inboxes (files, Redis inbox:<id>) and user channels (Redis user:<id>)
 * separate by construction. */
#pragma once

#include <stddef.h>

enum cf_ident_space {
	CF_ID_ACCOUNT,    /* proven: password, a confab token (native, seed 001) */
	CF_ID_GUEST,      /* "guest:<name>": a confab.v1 session without a token */
	CF_ID_DISPOSABLE, /* "disposable:<uuid>": a seed 000 connection */
	CF_ID_CHATTY,     /* "chatty:<ksuid>": a seed 002 connection */
	CF_ID_TEXTO,      /* "texto:<uuid>": a seed 003 connection */
	CF_ID_TTU,        /* "ttu:<name>": a seed 004 user name, claimed by anyone */
	CF_ID_SPACES,
};

/* Room for any core id or address: the longest tag, max_name (at most 256) and the NUL. */
#define CF_IDENT_MAX 280

/* Whether local (len bytes, NUL-terminated) is a valid local part of space: accounts and ttu
 * names follow the user-name rules without ':', guests the user-name rules, seed 000 and 003
 * ids are canonical UUIDs, seed 002 ids KSUIDs. 0 or -EINVAL. */
int cf_ident_local_ok(enum cf_ident_space space, const char *local, size_t len, size_t max_name);
/* Whether id is a core id as some space writes it (its tag's rules on its local part, shorter
 * than CF_IDENT_MAX): 1 or 0. For ids read from outside (a file, Redis). */
int cf_ident_ok(const char *id, size_t max_name);
/* The core id of local in space into out. 0, -EINVAL (local_ok), -E2BIG. */
int cf_ident_make(enum cf_ident_space space, const char *local, size_t max_name, char *out,
                  size_t outlen);
/* The space of a core id, with *local (may be NULL) pointing at its local part. An id without
 * a known tag is an account's (its local part is the whole id). */
enum cf_ident_space cf_ident_space_of(const char *id, const char **local);
/* An address a client wrote (len bytes): "<tag>:<local>" names that space ("account:<name>"
 * an account), anything else is a local part of dflt, the writer's own space. The core id into
 * out. 0, -EINVAL (no valid id), -E2BIG. */
int cf_ident_parse(const char *addr, size_t len, enum cf_ident_space dflt, size_t max_name,
                   char *out, size_t outlen);
/* How a client of space own sees the core id id, so that writing it back as an address
 * (cf_ident_parse with dflt own) names the same identity: its local part when id is in own,
 * "account:<name>" for an account seen from any other space, else id itself. Returns id, the
 * local part inside it, or buf. */
const char *cf_ident_show(const char *id, enum cf_ident_space own, char *buf, size_t buflen);
