/* SPDX-License-Identifier: MIT */
/* config_doc.c - what is printed of the configuration table: the values in effect as an INI
 * file (--check-config, secrets masked) and the key reference of confab.conf(5) in roff
 * (--print-config=man, which the build turns into the man page). */
#include "base/log.h"
#include "base/redis_url.h"
#include "config/config.h"
#include "config/config_int.h"

#include <stdio.h>
#include <string.h>

static void
dump_value(const struct cf_config *c, const struct cf_config_def *d, FILE *f)
{
	const void *p = cf_config_field(c, d);

	switch (d->type) {
	case CF_CFG_INT:
		fprintf(f, "%s = %d\n", d->key, *(const int *)p);
		break;
	case CF_CFG_OCTAL:
		fprintf(f, "%s = 0%o\n", d->key, (unsigned)*(const int *)p);
		break;
	case CF_CFG_LOGLEVEL:
		fprintf(f, "%s = %s\n", d->key, cf_log_level_name(*(const int *)p));
		break;
	case CF_CFG_STR: {
		const char *s = *(char *const *)p;
		char masked[1024];

		/* Never print secrets back. */
		if ((d->flags & CF_CFG_SECRET) && s && *s) {
			s = "(set)";
		} else if ((d->flags & CF_CFG_SECRET_URL) && s && *s) {
			cf_redis_url_mask(s, masked, sizeof(masked));
			s = masked;
		}
		fprintf(f, "%s = %s\n", d->key, s ? s : "");
		break;
	}
	case CF_CFG_LIST: {
		const struct cf_strlist *l = p;

		if (!l->n)
			fprintf(f, "#%s =\n", d->key);
		for (size_t i = 0; i < l->n; i++) {
			char masked[1024];

			if (d->flags & CF_CFG_SECRET_URL)
				cf_redis_url_mask(l->v[i], masked, sizeof(masked));
			fprintf(f, "%s = %s\n", d->key,
			        d->flags & CF_CFG_SECRET_URL ? masked : l->v[i]);
		}
		break;
	}
	}
}

void
cf_config_dump(const struct cf_config *c, FILE *f)
{
	const char *section = NULL;
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);

	for (size_t i = 0; i < n; i++) {
		const struct cf_config_def *d = &defs[i];

		if (!section || strcmp(section, d->section)) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", d->section);
			section = d->section;
		}
		fprintf(f, "# %s%s\n", d->help,
		        d->flags & CF_CFG_RELOADABLE ? " (reloadable)" : "");
		dump_value(c, d, f);
	}
}

/* Writes s for roff: backslashes and hyphens escaped, a leading dot or quote made literal. With
 * sentence set, a full stop is added. */
static void
roff_text(FILE *f, const char *s, int sentence)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			fputs("\\e", f);
		else if (*p == '-')
			fputs("\\-", f);
		else
			fputc(*p, f);
	}
	if (sentence && *s && s[strlen(s) - 1] != '.')
		fputc('.', f);
}

static const char *
type_name(enum cf_config_type t)
{
	switch (t) {
	case CF_CFG_INT:
		return "integer";
	case CF_CFG_OCTAL:
		return "octal integer";
	case CF_CFG_STR:
		return "string";
	case CF_CFG_LIST:
		return "list, repeatable";
	case CF_CFG_LOGLEVEL:
		return "log level";
	}
	return "?";
}

void
cf_config_man(FILE *f)
{
	const char *section = NULL, *seed;
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);

	for (size_t i = 0; i < n; i++) {
		const struct cf_config_def *d = &defs[i];
		char env[128];

		if (!section || strcmp(section, d->section)) {
			fprintf(f, ".SS [%s]\n", d->section);
			section = d->section;
		}
		fprintf(f, ".TP\n.BR %s \" (%s", d->key, type_name(d->type));
		if (d->type == CF_CFG_INT)
			fprintf(f, ", %ld to %ld", d->min, d->max);
		else if (d->type == CF_CFG_OCTAL)
			fprintf(f, ", %#lo to %#lo", (unsigned long)d->min, (unsigned long)d->max);
		fputs(")\"\n", f);
		roff_text(f, d->help, 1);
		fputs("\n.br\nDefault: ", f);
		if (*d->def) {
			fputs("\\fB", f);
			roff_text(f, d->def, 0);
			fputs("\\fR", f);
		} else {
			fputs("empty", f);
		}
		fputs(". ", f);
		fputs(d->flags & CF_CFG_RELOADABLE ? "Reloadable (SIGHUP)." : "Needs a restart.",
		      f);
		if (d->flags & CF_CFG_SECRET)
			fputs(" A secret: \\-\\-check\\-config prints (set), never the value.", f);
		if (d->flags & CF_CFG_SECRET_URL)
			fputs(" Its password is a secret: \\-\\-check\\-config and error messages "
			      "show "
			      "(hidden) in its place.",
			      f);
		cf_config_env_name(env, sizeof(env), d);
		fputs("\n.br\nEnvironment: \\fB", f);
		roff_text(f, env, 0);
		fputs("\\fR", f);
		if ((seed = cf_config_seed_vars(d))) {
			fputs("; below the file, the seeds' ", f);
			roff_text(f, seed, 0);
		}
		fputs(".\n", f);
	}
}
