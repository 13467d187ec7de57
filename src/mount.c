/* SPDX-License-Identifier: MIT */
/* mount.c - what one listener serves. A server.listen entry is an address and options:
 * "127.0.0.1:5000 dialects=texto www=/srv/texto". dialects= names the dialects mounted on the
 * listener (without it: the default set, confab.v1 and the seeds switched on in [dialects]),
 * www= the directory served at / (without it: server.www_dir where confab.v1 is mounted, else
 * none). Each dialect claims its paths in its vtable (struct cf_dialect.paths); dialects
 * reserved here before their codec exists claim theirs in the table below. Never logs. */
#include "confab/mount.h"
#include "confab/config.h"
#include "confab/dialect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SW(f) offsetof(struct cf_config, f)

static const struct {
	const char *name; /* in dialects= */
	int id;
	const struct cf_dialect *d;        /* NULL: reserved, the codec is not built yet */
	const char *const *reserved_paths; /* what it will claim, while d is NULL */
	int in_default;                    /* mounted on listeners without dialects= */
	long sw;                           /* offset of its [dialects] switch; -1: none */
} table[] = {
        /* The order is the routing order: a path goes to the first mounted dialect that
         * claims it (struct cf_dialect ws_path, http), so a catch-all comes last. */
        {"native", CF_DIALECT_NATIVE, &cf_dialect_native, NULL, 1, -1},
        {"disposable_chat", CF_DIALECT_DISPOSABLE, &cf_dialect_disposable, NULL, 1,
         (long)SW(disposable_chat)},
        {"chatty", CF_DIALECT_CHATTY, &cf_dialect_chatty, NULL, 1, (long)SW(chatty)},
        {"texto", CF_DIALECT_TEXTO, &cf_dialect_texto, NULL, 1, (long)SW(texto)},
        /* Seed 001: its WebSocket at /ws, its link list at /links, its bundle at / (www=). */
        {"redis_chat", CF_DIALECT_REDIS_CHAT, &cf_dialect_redis_chat, NULL, 0, -1},
        /* Seed 004: /ws (and any other path nothing else claims), its REST API under /api/;
         * / answers "Hello from ChatServer" unless www= serves a client there. */
        {"ttu", CF_DIALECT_TTU, &cf_dialect_ttu, NULL, 0, -1},
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

const struct cf_dialect *
cf_mount_at(size_t i)
{
	for (size_t k = 0; k < NTABLE; k++)
		if (table[k].d && !i--)
			return table[k].d;
	return NULL;
}

/* Paths a listener answers whatever it mounts, and the static directory's. */
static const char *const core_paths[] = {"/healthz", NULL};
static const char *const www_paths[] = {"/", NULL};

static int
find(int id)
{
	for (size_t i = 0; i < NTABLE; i++)
		if (table[i].id == id)
			return (int)i;
	return -1;
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
			return table[i].id;
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
			snprintf(err, errlen, "'%s': expected dialects=NAME,... or www=DIR", tok);
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
		} else {
			snprintf(err, errlen, "unknown listener option '%s' (dialects=, www=)",
			         tok);
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
			m |= CF_MOUNT_BIT(table[i].id);
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
		if (!(mounted & CF_MOUNT_BIT(table[i].id)))
			continue;
		snprintf(c[n].what, sizeof(c[n].what), "dialect %s", table[i].name);
		c[n++].paths = table[i].d ? table[i].d->paths : table[i].reserved_paths;
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
	for (size_t i = 0; i < NTABLE; i++)
		if ((mounted & CF_MOUNT_BIT(table[i].id)) && !table[i].d) {
			snprintf(err, errlen, "dialect %s is not built yet", table[i].name);
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
