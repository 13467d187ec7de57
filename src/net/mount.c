/* SPDX-License-Identifier: MIT */
/* mount.c - what one listener serves. A server.listen entry is an address and options:
 * "127.0.0.1:5000 dialects=texto www=/srv/texto deflate=on". dialects= names the dialects
 * mounted on the listener (without it: the default set, confab.v1 and the seeds switched on in
 * [dialects]), www= the directory served at / (without it: server.www_dir where confab.v1 is
 * mounted, else none), deflate= whether its WebSocket sessions may negotiate permessage-deflate
 * (off without it). The dialects are the lines of the dialect table (dialects.def); each claims its
 * paths in its vtable (struct cf_dialect.paths). Never logs. */
#include "net/mount.h"
#include "config/config.h"
#include "core/dialect.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The dialect table (dialects.def), indexed by id: table[CF_DIALECT_<ID>]. */
#define CF_SWITCH(f) ((long)offsetof(struct cf_config, f))
#define CF_NO_SWITCH (-1L)
static const struct {
	const char *name; /* in dialects= */
	const struct cf_dialect *d;
	int in_default; /* mounted on listeners without dialects= */
	long sw;        /* offset of its [dialects] switch; -1: none */
} table[] = {
#define CF_DIALECT(ID, sym, name, in_default, sw)                                                  \
	[CF_DIALECT_##ID] = {name, &cf_dialect_##sym, in_default, sw},
#include "dialects/dialects.def"
#undef CF_DIALECT
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

_Static_assert(NTABLE == CF_DIALECT_MAX, "one table entry per dialect id");
_Static_assert(CF_DIALECT_MAX <= 32, "a listener's mounts are a uint32_t of CF_MOUNT_BIT(id)");

const struct cf_dialect *
cf_mount_at(size_t i)
{
	return i < NTABLE ? table[i].d : NULL;
}

/* Paths a listener answers whatever it mounts, and the static directory's. */
static const char *const core_paths[] = {"/healthz", NULL};
static const char *const www_paths[] = {"/", NULL};

static int
find(int id)
{
	return id >= 0 && (size_t)id < NTABLE ? id : -1;
}

const char *
cf_mount_name(int id)
{
	int i = find(id);

	return i < 0 ? NULL : table[i].name;
}

int
cf_mount_id(const char *name)
{
	for (size_t i = 0; i < NTABLE; i++)
		if (!strcmp(table[i].name, name))
			return (int)i;
	return -ENOENT;
}

int
cf_mount_enabled(const struct cf_config *cfg, int id)
{
	int i = find(id);

	if (i < 0)
		return 0;
	return table[i].sw < 0 || *(const int *)((const char *)cfg + table[i].sw);
}

static void
known_names(char *out, size_t outlen)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NTABLE && off < outlen; i++) {
		int n = snprintf(out + off, outlen - off, "%s%s", i ? ", " : "", table[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static int
parse_dialects(char *value, struct cf_listen_spec *o, char *err, size_t errlen)
{
	char *save = NULL, *tok, names[128];

	for (tok = strtok_r(value, ",+", &save); tok; tok = strtok_r(NULL, ",+", &save)) {
		int id = cf_mount_id(tok);

		if (id < 0) {
			known_names(names, sizeof(names));
			snprintf(err, errlen, "unknown dialect '%s' (known: %s)", tok, names);
			return -EINVAL;
		}
		o->dialects |= CF_MOUNT_BIT(id);
	}
	if (!o->dialects) {
		snprintf(err, errlen, "dialects= names no dialect");
		return -EINVAL;
	}
	return 0;
}

/* The address's form only; server.c binds it. */
static int
addr_ok(const char *a)
{
	const char *colon = strrchr(a, ':'), *p;

	if (!strncmp(a, "unix:", 5) || !strncmp(a, "systemd:", 8))
		return strchr(a, ':')[1] != '\0';
	if (!colon || !colon[1])
		return 0;
	for (p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

int
cf_mount_parse(const char *entry, struct cf_listen_spec *o, char *err, size_t errlen)
{
	char buf[2048], *save = NULL, *tok;

	memset(o, 0, sizeof(*o));
	if (strlen(entry) >= sizeof(buf)) {
		snprintf(err, errlen, "listener entry too long");
		return -EINVAL;
	}
	memcpy(buf, entry, strlen(entry) + 1);
	tok = strtok_r(buf, " \t", &save);
	if (!tok || strchr(tok, '=')) {
		snprintf(err, errlen, "listener entry '%s' has no address", entry);
		return -EINVAL;
	}
	if (strlen(tok) >= sizeof(o->addr)) {
		snprintf(err, errlen, "address too long");
		return -EINVAL;
	}
	memcpy(o->addr, tok, strlen(tok) + 1);
	if (!addr_ok(o->addr)) {
		snprintf(err, errlen,
		         "'%s' is not an address (host:port, [v6]:port, :port, unix:/path or "
		         "systemd:NAME; in CONFAB_SERVER_LISTEN, where commas separate listeners, "
		         "write dialects=a+b)",
		         o->addr);
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			snprintf(err, errlen,
			         "'%s': expected dialects=NAME,..., www=DIR or deflate=on|off",
			         tok);
			return -EINVAL;
		}
		*eq = '\0';
		if (!strcmp(tok, "dialects")) {
			if (o->dialects_set) {
				snprintf(err, errlen, "dialects= given twice");
				return -EINVAL;
			}
			o->dialects_set = 1;
			if (parse_dialects(eq + 1, o, err, errlen) < 0)
				return -EINVAL;
		} else if (!strcmp(tok, "www")) {
			if (o->www_set) {
				snprintf(err, errlen, "www= given twice");
				return -EINVAL;
			}
			if (strlen(eq + 1) >= sizeof(o->www)) {
				snprintf(err, errlen, "www= too long");
				return -EINVAL;
			}
			o->www_set = 1;
			memcpy(o->www, eq + 1, strlen(eq + 1) + 1);
		} else if (!strcmp(tok, "deflate")) {
			if (o->deflate_set) {
				snprintf(err, errlen, "deflate= given twice");
				return -EINVAL;
			}
			if (strcmp(eq + 1, "on") && strcmp(eq + 1, "off")) {
				snprintf(err, errlen, "deflate= is on or off, not '%s'", eq + 1);
				return -EINVAL;
			}
			o->deflate_set = 1;
			o->deflate = !strcmp(eq + 1, "on");
		} else {
			snprintf(err, errlen,
			         "unknown listener option '%s' (dialects=, www=, deflate=)", tok);
			return -EINVAL;
		}
	}
	return 0;
}

uint32_t
cf_mount_dialects(const struct cf_listen_spec *spec)
{
	uint32_t m = 0;

	if (spec->dialects_set)
		return spec->dialects;
	for (size_t i = 0; i < NTABLE; i++)
		if (table[i].in_default)
			m |= CF_MOUNT_BIT(i);
	return m;
}

const char *
cf_mount_www(const struct cf_listen_spec *spec, const char *www_dir)
{
	if (spec->www_set)
		return spec->www;
	if (cf_mount_dialects(spec) & CF_MOUNT_BIT(CF_DIALECT_NATIVE))
		return www_dir ? www_dir : "";
	return "";
}

/* Whether two claims overlap: exact paths, or prefixes ending in '*'. */
static int
overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n;
	int pa = la && a[la - 1] == '*', pb = lb && b[lb - 1] == '*';

	la -= (size_t)pa;
	lb -= (size_t)pb;
	if (!pa && !pb)
		return la == lb && !memcmp(a, b, la);
	if (pa && pb)
		n = la < lb ? la : lb;
	else if (pa)
		n = la <= lb ? la : (size_t)-1;
	else
		n = lb <= la ? lb : (size_t)-1;
	return n != (size_t)-1 && !memcmp(a, b, n);
}

struct claimant {
	char what[64];
	const char *const *paths;
};

int
cf_mount_check(const struct cf_listen_spec *spec, const char *www_dir, char *err, size_t errlen)
{
	struct claimant c[NTABLE + 2];
	uint32_t mounted = cf_mount_dialects(spec);
	size_t n = 0;

	for (size_t i = 0; i < NTABLE; i++) {
		if (!(mounted & CF_MOUNT_BIT(i)))
			continue;
		snprintf(c[n].what, sizeof(c[n].what), "dialect %s", table[i].name);
		c[n++].paths = table[i].d->paths;
	}
	snprintf(c[n].what, sizeof(c[n].what), "confab's health check");
	c[n++].paths = core_paths;
	if (*cf_mount_www(spec, www_dir)) {
		snprintf(c[n].what, sizeof(c[n].what), "the static directory (%s)",
		         spec->www_set ? "www=" : "server.www_dir");
		c[n++].paths = www_paths;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			for (const char *const *a = c[i].paths; a && *a; a++)
				for (const char *const *b = c[j].paths; b && *b; b++)
					if (overlap(*a, *b)) {
						snprintf(err, errlen, "%s and %s both claim %s%s%s",
						         c[i].what, c[j].what, *a,
						         strcmp(*a, *b) ? " / " : "",
						         strcmp(*a, *b) ? *b : "");
						return -EINVAL;
					}
	return 0;
}

int
cf_mount_validate(const struct cf_config *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->listen.n; i++) {
		struct cf_listen_spec spec;
		char why[300];

		if (cf_mount_parse(c->listen.v[i], &spec, why, sizeof(why)) < 0 ||
		    cf_mount_check(&spec, c->www_dir, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "server.listen '%s': %s", c->listen.v[i], why);
			return -EINVAL;
		}
	}
	return 0;
}
