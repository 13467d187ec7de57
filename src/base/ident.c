/* SPDX-License-Identifier: MIT */
/* ident.c - identity spaces and the ids and addresses that name them (see ident.h). */
#include "base/ident.h"
#include "base/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Tags with their ':'. The account's is "" in core ids; "account:" is only an address. */
static const char *const tags[CF_ID_SPACES] = {
        [CF_ID_ACCOUNT] = "account:", [CF_ID_GUEST] = "guest:", [CF_ID_DISPOSABLE] = "disposable:",
        [CF_ID_CHATTY] = "chatty:",   [CF_ID_TEXTO] = "texto:", [CF_ID_TTU] = "ttu:",
};

#define KSUID_LEN 27

int
cf_ident_local_ok(enum cf_ident_space space, const char *local, size_t len, size_t max_name)
{
	if (strlen(local) != len)
		return -EINVAL;
	switch (space) {
	case CF_ID_ACCOUNT:
	case CF_ID_TTU:
		/* No ':' keeps accounts apart from tagged ids; a ttu name never had one (the
		 * seed's registration ends a name at the second ':'). */
		if (memchr(local, ':', len))
			return -EINVAL;
		__attribute__((fallthrough));
	case CF_ID_GUEST:
		return cf_text_name_ok(local, len, 1, max_name, 1);
	case CF_ID_DISPOSABLE:
	case CF_ID_TEXTO:
		return cf_text_uuid_canonical(local, len) ? 0 : -EINVAL;
	case CF_ID_CHATTY:
		if (len != KSUID_LEN)
			return -EINVAL;
		for (size_t i = 0; i < len; i++) {
			char c = local[i];

			if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			      (c >= 'a' && c <= 'z')))
				return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

int
cf_ident_make(enum cf_ident_space space, const char *local, size_t max_name, char *out,
              size_t outlen)
{
	int n;

	if (cf_ident_local_ok(space, local, strlen(local), max_name) < 0)
		return -EINVAL;
	n = snprintf(out, outlen, "%s%s", space == CF_ID_ACCOUNT ? "" : tags[space], local);
	return n < 0 || (size_t)n >= outlen ? -E2BIG : 0;
}

/* The space whose tag starts s (len bytes), with the tag's length, or -1. */
static int
tagged(const char *s, size_t len, size_t *taglen)
{
	for (int i = 0; i < CF_ID_SPACES; i++) {
		size_t tl = strlen(tags[i]);

		if (len >= tl && !memcmp(s, tags[i], tl)) {
			*taglen = tl;
			return i;
		}
	}
	return -1;
}

enum cf_ident_space
cf_ident_space_of(const char *id, const char **local)
{
	size_t tl = 0;
	int sp = tagged(id, strlen(id), &tl);

	/* "account:" is no core id's tag: such an id (an operator's free 'from') is a name. */
	if (sp < 0 || sp == CF_ID_ACCOUNT) {
		sp = CF_ID_ACCOUNT;
		tl = 0;
	}
	if (local)
		*local = id + tl;
	return (enum cf_ident_space)sp;
}

int
cf_ident_parse(const char *addr, size_t len, enum cf_ident_space dflt, size_t max_name, char *out,
               size_t outlen)
{
	size_t tl = 0;
	int sp;

	if (strlen(addr) != len)
		return -EINVAL;
	sp = tagged(addr, len, &tl);
	if (sp < 0) {
		sp = dflt;
		tl = 0;
	}
	return cf_ident_make((enum cf_ident_space)sp, addr + tl, max_name, out, outlen);
}

const char *
cf_ident_show(const char *id, enum cf_ident_space own, char *buf, size_t buflen)
{
	const char *local;
	enum cf_ident_space sp = cf_ident_space_of(id, &local);
	int n;

	if (sp == own)
		return local;
	if (sp != CF_ID_ACCOUNT)
		return id;
	n = snprintf(buf, buflen, "%s%s", tags[CF_ID_ACCOUNT], id);
	return n < 0 || (size_t)n >= buflen ? id : buf;
}

int
cf_ident_ok(const char *id, size_t max_name)
{
	const char *local;
	enum cf_ident_space sp = cf_ident_space_of(id, &local);

	return strlen(id) < CF_IDENT_MAX &&
	       cf_ident_local_ok(sp, local, strlen(local), max_name) == 0;
}
