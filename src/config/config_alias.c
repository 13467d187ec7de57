/* SPDX-License-Identifier: MIT */
/* config_alias.c - what the environment sets in the configuration, above the file or below
 * it: CONFAB_<SECTION>_<KEY> overrides, the seeds' own variables (PORT, REDIS_URL, DEBUG, ...)
 * for keys the file and the command line left out, systemd credentials
 * ($CREDENTIALS_DIRECTORY) and the secret files they and the table name. Never logs: notes
 * go to the caller's function. */
#define _GNU_SOURCE /* explicit_bzero */
#include "base/log.h"
#include "config/config.h"
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
cf_config_env_name(char *out, size_t outlen, const struct cf_config_def *d)
{
	snprintf(out, outlen, "CONFAB_%s_%s", d->section, d->key);
	for (char *p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

int
cf_config_apply_env(struct cf_config *c, char *err, size_t errlen)
{
	char name[128], why[256];
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);

	for (size_t i = 0; i < n; i++) {
		const struct cf_config_def *d = &defs[i];
		const char *v;
		int r;

		cf_config_env_name(name, sizeof(name), d);
		v = getenv(name);
		if (!v)
			continue;
		if (d->type == CF_CFG_LIST) {
			char *copy = strdup(v), *save = NULL, *tok;

			if (!copy)
				return -ENOMEM;
			cf_config_list_clear(cf_config_field(c, d));
			r = 0;
			for (tok = strtok_r(copy, ",", &save); tok && r >= 0;
			     tok = strtok_r(NULL, ",", &save))
				r = cf_config_set_def(c, d, cf_config_trim(tok), 0, why,
				                      sizeof(why));
			free(copy);
		} else {
			r = cf_config_set_def(c, d, v, 1, why, sizeof(why));
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", name, why);
			return r;
		}
	}
	return 0;
}

/* Whether the file read by cf_config_load() named section.key, or CONFAB_<SECTION>_<KEY>
 * (applied after the aliases) is set: an alias then does not apply. Returns where it is set. */
static const char *
set_above(const struct cf_config *c, const char *section, const char *key)
{
	const struct cf_config_def *d = cf_config_find_def(section, key);
	static char name[128];
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);

	if (!d)
		return NULL;
	if (c->from_file[d - defs])
		return c->from_file[d - defs] == CF_FROM_CLI ? "the command line"
		                                             : "the configuration file";
	cf_config_env_name(name, sizeof(name), d);
	return getenv(name) ? name : NULL;
}

static void say(cf_config_note_fn *fn, void *ud, int level, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
say(cf_config_note_fn *fn, void *ud, int level, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fn(ud, level, text);
}

static int
redis_aliases(struct cf_config *c, cf_config_note_fn *fn, void *ud, char *err, size_t errlen)
{
	/* The seeds' deployments: each names Redis its own way. The first one set wins. */
	static const struct {
		const char *addr, *secret;
	} aliases[] = {
	        {"REDIS_URL", NULL},
	        {"REDIS_ENDPOINT", "REDIS_SECRET"},
	        {"REDIS_ADDRESS", "REDIS_PASSWORD"},
	};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		const char *a = getenv(aliases[i].addr), *sec, *above;
		int r;

		if (!a || !*a)
			continue;
		if ((above = set_above(c, "redis", "url"))) {
			say(fn, ud, CF_LOG_INFO, "%s ignored: %s sets redis.url", aliases[i].addr,
			    above);
			return 0;
		}
		r = cf_config_set(c, "redis", "url", a, 1, err, errlen);
		if (r < 0)
			return r;
		sec = aliases[i].secret ? getenv(aliases[i].secret) : NULL;
		if (sec && *sec && !set_above(c, "redis", "password") &&
		    !set_above(c, "redis", "password_file")) {
			r = cf_config_set(c, "redis", "password", sec, 1, err, errlen);
			if (r < 0)
				return r;
		}
		say(fn, ud, CF_LOG_INFO, "redis.url from the environment variable %s%s%s",
		    aliases[i].addr, sec && *sec ? ", redis.password from " : "",
		    sec && *sec ? aliases[i].secret : "");
		return 0;
	}
	return 0;
}

int
cf_config_apply_redis_aliases(struct cf_config *c, char *err, size_t errlen)
{
	return redis_aliases(c, NULL, NULL, err, errlen);
}

static int
dialect_aliases(struct cf_config *c, cf_config_note_fn *fn, void *ud, char *err, size_t errlen)
{
	const char *o = getenv("ACCEPTED_ORIGIN");

	if (!o || set_above(c, "dialects", "disposable_origin"))
		return 0;
	return cf_config_set(c, "dialects", "disposable_origin", o, 1, err, errlen);
}

int
cf_config_apply_dialect_aliases(struct cf_config *c, char *err, size_t errlen)
{
	return dialect_aliases(c, NULL, NULL, err, errlen);
}

/* A TCP port as the seeds' variables give it: 1 to 65535, decimal digits only. */
static int
port_ok(const char *s)
{
	long v = 0;

	if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
		return 0;
	v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

static int
listen_aliases(struct cf_config *c, cf_config_note_fn *fn, void *ud, char *err, size_t errlen)
{
	/* The first set wins: 000's SERVER_PORT, then PORT (001 and 003), then 001's
	 * SERVER_ADDRESS (which 001 itself let PORT override). */
	static const char *const names[] = {"SERVER_PORT", "PORT", "SERVER_ADDRESS"};
	char entry[300];
	const char *used = NULL, *v = NULL, *above;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *e = getenv(names[i]);

		if (!e || !*e)
			continue;
		if (!used) {
			used = names[i];
			v = e;
		} else {
			say(fn, ud, CF_LOG_INFO, "%s ignored: %s takes precedence", names[i], used);
		}
	}
	if (!used)
		return 0;
	if ((above = set_above(c, "server", "listen"))) {
		say(fn, ud, CF_LOG_INFO, "%s ignored: %s sets server.listen", used, above);
		return 0;
	}
	if (strcmp(used, "SERVER_ADDRESS")) {
		if (!port_ok(v)) {
			snprintf(err, errlen, "%s: '%s' is not a port number (1 to 65535)", used,
			         v);
			return -EINVAL;
		}
		snprintf(entry, sizeof(entry), ":%s", v);
	} else {
		const char *colon = strrchr(v, ':');

		if (!colon || !port_ok(colon + 1) || strlen(v) >= sizeof(entry) ||
		    strpbrk(v, " \t")) {
			snprintf(err, errlen, "%s: '%s' is not host:port or :port", used, v);
			return -EINVAL;
		}
		snprintf(entry, sizeof(entry), "%s", v);
	}
	/* The file has no listen: the list holds the default (one listener); replace it. */
	if (cf_config_set(c, "server", "listen", entry, 1, err, errlen) < 0)
		return -EINVAL;
	say(fn, ud, CF_LOG_INFO, "server.listen = %s from the environment variable %s%s", entry,
	    used, entry[0] == ':' ? " (every address)" : "");
	return 0;
}

/* Go's strconv.ParseBool: 1, 0 for a boolean, -1 for anything else. */
static int
go_bool(const char *s)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(s, t[i]))
			return 1;
		if (!strcmp(s, f[i]))
			return 0;
	}
	return -1;
}

static int
log_aliases(struct cf_config *c, cf_config_note_fn *fn, void *ud, char *err, size_t errlen)
{
	/* 000 reads DEBUG; its README says LOG_DEBUG. Either true turns debug on. */
	static const char *const names[] = {"DEBUG", "LOG_DEBUG"};
	const char *used = NULL, *above;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *e = getenv(names[i]);
		int b;

		if (!e)
			continue;
		b = go_bool(e);
		if (b < 0)
			say(fn, ud, CF_LOG_WARNING,
			    "%s='%s' is not a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, "
			    "false, False): ignored",
			    names[i], e);
		else if (b && !used)
			used = names[i];
	}
	if (!used)
		return 0;
	if ((above = set_above(c, "log", "level"))) {
		say(fn, ud, CF_LOG_INFO, "%s ignored: %s sets log.level", used, above);
		return 0;
	}
	if (cf_config_set(c, "log", "level", "debug", 1, err, errlen) < 0)
		return -EINVAL;
	say(fn, ud, CF_LOG_INFO, "log.level = debug from the environment variable %s", used);
	return 0;
}

int
cf_config_apply_aliases(struct cf_config *c, cf_config_note_fn *note, void *ud, char *err,
                        size_t errlen)
{
	int r = dialect_aliases(c, note, ud, err, errlen);

	if (r >= 0)
		r = redis_aliases(c, note, ud, err, errlen);
	if (r >= 0)
		r = listen_aliases(c, note, ud, err, errlen);
	if (r >= 0)
		r = log_aliases(c, note, ud, err, errlen);
	return r;
}

int
cf_config_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, out, outlen - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	out[n] = '\0';
	/* One trailing newline is the file's, not the secret's. */
	if (n && out[n - 1] == '\n')
		out[--n] = '\0';
	if (n && out[n - 1] == '\r')
		out[--n] = '\0';
	return 0;
}

/* systemd's LoadCredential=NAME:PATH puts the file at $CREDENTIALS_DIRECTORY/NAME, readable by
 * the service user only: secrets stay out of confab.conf. Writes the path, if the credential
 * exists, to out. */
static int
credential_path(const char *name, char *out, size_t outlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	if (!dir || !*dir)
		return 0;
	snprintf(out, outlen, "%s/%s", dir, name);
	return access(out, F_OK) == 0;
}

int
cf_config_apply_credentials(struct cf_config *c, char *err, size_t errlen)
{
	char path[PATH_MAX], secret[1024], why[PATH_MAX + 64];
	int r;

	if (!c->admin_token[0] && credential_path("admin-token", path, sizeof(path))) {
		r = cf_config_read_secret(path, secret, sizeof(secret), why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "credential admin-token: %s", why);
			return r;
		}
		r = cf_config_set(c, "server", "admin_token", secret, 1, err, errlen);
		explicit_bzero(secret, sizeof(secret));
		if (r < 0)
			return r;
	}
	if (c->tls_cert[0] && !c->tls_key[0] && credential_path("tls-key", path, sizeof(path))) {
		r = cf_config_set(c, "tls", "key", path, 1, err, errlen);
		if (r < 0)
			return r;
	}
	if (!c->auth_secret_file[0] && credential_path("auth-secret", path, sizeof(path))) {
		r = cf_config_set(c, "auth", "secret_file", path, 1, err, errlen);
		if (r < 0)
			return r;
	}
	if (c->auth_jwt_alg[0] && !c->auth_jwt_key_file[0] &&
	    credential_path("jwt-key", path, sizeof(path)))
		return cf_config_set(c, "auth", "jwt_key_file", path, 1, err, errlen);
	return 0;
}

/* The seeds' variables that set d (cf_config_apply_aliases()), for the man page. */
const char *
cf_config_seed_vars(const struct cf_config_def *d)
{
	static const struct {
		const char *section, *key, *vars;
	} t[] = {
	        {"server", "listen", "SERVER_PORT, PORT, SERVER_ADDRESS"},
	        {"log", "level", "DEBUG, LOG_DEBUG"},
	        {"redis", "url", "REDIS_URL, REDIS_ENDPOINT, REDIS_ADDRESS"},
	        {"redis", "password", "REDIS_SECRET, REDIS_PASSWORD"},
	        {"dialects", "disposable_origin", "ACCEPTED_ORIGIN"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].section, d->section) && !strcmp(t[i].key, d->key))
			return t[i].vars;
	return NULL;
}
