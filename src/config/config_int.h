/* SPDX-License-Identifier: MIT */
/* config_int.h - what the files of the configuration share (config.c: the table, setting and
 * loading; config_alias.c: the environment, the seeds' variables, credentials; config_doc.c:
 * the dump and the man page). Private to them: nothing outside src/config*.c includes it. */
#pragma once

#include <stddef.h>

#include "config/config.h"

/* Where d's value lives in c. */
static inline void *
cf_config_field(const struct cf_config *c, const struct cf_config_def *d)
{
	return (char *)c + d->offset;
}

/* The table's entry for section.key (case-insensitive), or NULL. */
const struct cf_config_def *cf_config_find_def(const char *section, const char *key);
/* Sets d from value as the file would (a list gets value appended, after emptying it when
 * reset_list is set; an empty value adds nothing). 0, -ENOMEM, or -EINVAL with why in err. */
int cf_config_set_def(struct cf_config *c, const struct cf_config_def *d, const char *value,
                      int reset_list, char *err, size_t errlen);
void cf_config_list_clear(struct cf_strlist *l);
/* s without leading and trailing white space (trailing cut in place). */
char *cf_config_trim(char *s);
/* The variable that overrides d: CONFAB_<SECTION>_<KEY>. */
void cf_config_env_name(char *out, size_t outlen, const struct cf_config_def *d);
/* The seeds' variables that set d below the file (cf_config_apply_aliases()), for the man
 * page; NULL for none. */
const char *cf_config_seed_vars(const struct cf_config_def *d);
