/* SPDX-License-Identifier: MIT */
/* config.c - the configuration table and everything it drives: defaults, INI parsing (inih),
 * CONFAB_* environment overrides, validation, dumping and reload. Never logs: callers decide. */
#define _GNU_SOURCE /* explicit_bzero */
#include "confab/config.h"
#include "confab/log.h"
#include "confab/redis_url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <ini.h>

#define O(f) offsetof(struct cf_config, f)
#define R    CF_CFG_RELOADABLE

static const struct cf_config_def defs[] = {
        {"server", "listen", CF_CFG_LIST, 0, O(listen), "127.0.0.1:8080", 0, 0,
         "listeners: ADDR [dialects=NAME,...] [www=DIR]; ADDR is host:port, [v6]:port, :port, "
         "unix:/path or systemd:NAME (man confab.conf: LISTENERS)"},
        {"server", "reuse_port", CF_CFG_INT, 0, O(reuse_port), "0", 0, 1,
         "1: share TCP listeners with other confabd processes (SO_REUSEPORT; cluster mode)"},
        {"server", "unix_mode", CF_CFG_OCTAL, 0, O(unix_mode), "0660", 0, 0777,
         "permissions of unix socket listeners"},
        {"server", "www_dir", CF_CFG_STR, 0, O(www_dir), CONFAB_WWW_DIR, 0, 0,
         "web client directory served at / (listeners mounting native, without www=)"},
        {"server", "admin_token", CF_CFG_STR, R | CF_CFG_SECRET, O(admin_token), "", 0, 0,
         "bearer token of the admin API (empty: off)"},
        {"server", "origins", CF_CFG_LIST, R, O(origins), "", 0, 0, "WebSocket Origin allowlist"},
        {"server", "trusted_proxies", CF_CFG_LIST, R, O(trusted_proxies), "", 0, 0,
         "proxies whose X-Forwarded-For names the client"},
        {"server", "max_connections", CF_CFG_INT, R, O(max_connections), "10000", 1, 1000000,
         "most WebSocket sessions"},
        {"server", "max_connections_per_ip", CF_CFG_INT, R, O(max_connections_per_ip), "256", 1,
         1000000, "most WebSocket sessions per client address"},
        {"server", "handshake_timeout", CF_CFG_INT, 0, O(handshake_timeout), "10", 1, 300,
         "seconds to complete the HTTP request"},
        {"server", "ping_interval", CF_CFG_INT, 0, O(ping_interval), "25", 1, 3600,
         "seconds of silence before a ping"},
        {"server", "pong_timeout", CF_CFG_INT, 0, O(pong_timeout), "10", 1, 3600,
         "seconds after a ping before hanging up"},
        {"server", "drain_timeout", CF_CFG_INT, R, O(drain_timeout), "10", 0, 600,
         "seconds SIGTERM waits for queues to flush"},
        {"server", "node_id", CF_CFG_STR, 0, O(node_id), "", 0, 0, "node id (empty: host-pid)"},
        {"state", "dir", CF_CFG_STR, 0, O(state_dir), "/var/lib/confab", 0, 0,
         "standalone mode: where accounts and offline inboxes are kept (cluster mode: Redis)"},
        {"inbox", "max_messages", CF_CFG_INT, R, O(inbox_max_messages), "100", 1, 1000,
         "direct messages kept per offline user (beyond: the oldest is dropped)"},
        {"inbox", "max_bytes", CF_CFG_INT, R, O(inbox_max_bytes), "262144", 1024, 16777216,
         "bytes kept per offline user (beyond: the oldest are dropped)"},
        {"inbox", "ttl", CF_CFG_INT, R, O(inbox_ttl), "604800", 1, 31536000,
         "seconds a kept direct message waits for its user (then dropped, not delivered)"},
        {"inbox", "max_users", CF_CFG_INT, R, O(inbox_max_users), "10000", 1, 10000000,
         "standalone: most users with kept messages (beyond: new ones are refused)"},
        {"inbox", "max_per_ip", CF_CFG_INT, R, O(inbox_max_per_ip), "2000", 1, 10000000,
         "direct messages one client address may leave kept per inbox.ttl, per node"},
        {"inbox", "flush_delay", CF_CFG_INT, R, O(inbox_flush_delay), "200", 0, 60000,
         "standalone: ms newly kept messages may wait before they are written (0: at once)"},
        {"tls", "cert", CF_CFG_STR, R, O(tls_cert), "", 0, 0,
         "PEM certificate chain: TCP listeners serve TLS (empty: plain)"},
        {"tls", "key", CF_CFG_STR, R, O(tls_key), "", 0, 0,
         "PEM private key of tls.cert (empty: credential tls-key)"},
        {"tls", "client_ca", CF_CFG_STR, 0, O(tls_client_ca), "", 0, 0,
         "PEM CA bundle: clients must present a certificate it signed (empty: no)"},
        {"log", "level", CF_CFG_LOGLEVEL, R, O(log_level), "info", 0, 0,
         "error, warn, info or debug"},
        {"limits", "max_frame", CF_CFG_INT, 0, O(max_frame), "65536", 256, 16777216,
         "largest client message in bytes (1009 above)"},
        {"limits", "max_text", CF_CFG_INT, R, O(max_text), "4096", 1, 1048576,
         "largest message text in bytes"},
        {"limits", "max_name", CF_CFG_INT, R, O(max_name), "32", 1, 256,
         "longest user name in bytes"},
        {"limits", "max_rooms_per_session", CF_CFG_INT, R, O(max_rooms_per_session), "32", 1, 10000,
         "rooms per session"},
        {"limits", "rate", CF_CFG_INT, R, O(rate), "10", 1, 1000000,
         "messages per second per session"},
        {"limits", "burst", CF_CFG_INT, R, O(burst), "20", 1, 1000000, "token bucket size"},
        {"limits", "rate_close_after", CF_CFG_INT, R, O(rate_close_after), "50", 1, 1000000,
         "refused sends in a row before close 4029"},
        {"rooms", "history", CF_CFG_INT, 0, O(history), "100", 1, 100000, "messages kept per room"},
        {"rooms", "history_ttl", CF_CFG_INT, 0, O(history_ttl), "3600", 0, 31536000,
         "seconds history outlives the last member"},
        {"rooms", "join_history", CF_CFG_INT, R, O(join_history), "20", 0, 100000,
         "messages in a join reply without since"},
        {"rooms", "presence_events_max", CF_CFG_INT, R, O(presence_events_max), "500", 0, 1000000,
         "members above which join/leave events are not sent"},
        {"rooms", "max_rooms", CF_CFG_INT, R, O(max_rooms), "100000", 1, 10000000,
         "most rooms held at once"},
        {"rooms", "join_rate", CF_CFG_INT, R, O(join_rate), "5", 1, 1000000,
         "room joins per second per session"},
        {"rooms", "join_burst", CF_CFG_INT, R, O(join_burst), "32", 1, 1000000,
         "join token bucket size per session"},
        {"rooms", "join_rate_per_ip", CF_CFG_INT, R, O(join_rate_per_ip), "50", 1, 1000000,
         "room joins per second per client address, all its sessions together"},
        {"rooms", "join_burst_per_ip", CF_CFG_INT, R, O(join_burst_per_ip), "1024", 1, 1000000,
         "join token bucket size per client address"},
        {"rooms", "max_rooms_per_ip", CF_CFG_INT, R, O(max_rooms_per_ip), "1000", 1, 10000000,
         "most rooms held at once that one client address created by joining"},
        {"rooms", "create_rate_per_ip", CF_CFG_INT, R, O(create_rate_per_ip), "30", 1, 100000,
         "seed 002: POST /chat room creations per minute per client address (burst as many)"},
        {"session", "queue_frames", CF_CFG_INT, 0, O(queue_frames), "1024", 8, 1048576,
         "most events queued per session"},
        {"session", "queue_bytes", CF_CFG_INT, 0, O(queue_bytes), "1048576", 4096, 1073741824,
         "most bytes queued per session"},
        {"debug", "stall_on_sigusr2", CF_CFG_INT, 0, O(debug_stall), "0", 0, 60,
         "for tests: seconds SIGUSR2 blocks the event loop (0: SIGUSR2 does nothing)"},
        {"redis", "url", CF_CFG_STR, CF_CFG_SECRET_URL, O(redis_url), "", 0, 0,
         "Redis for cluster mode: redis://[user:password@]host:port/db, unix:///path?db=N or "
         "sentinel://host:port[,host:port]/master (empty: standalone)"},
        {"redis", "password", CF_CFG_STR, CF_CFG_SECRET, O(redis_password), "", 0, 0,
         "Redis password when the URL has none (prefer password_file)"},
        {"redis", "password_file", CF_CFG_STR, 0, O(redis_password_file), "", 0, 0,
         "file holding the Redis password"},
        {"redis", "prefix", CF_CFG_STR, 0, O(redis_prefix), "confab:", 0, 0,
         "prefix of every Redis key and channel"},
        {"redis", "connect_timeout", CF_CFG_INT, 0, O(redis_connect_timeout), "2000", 100, 60000,
         "ms to resolve, connect and authenticate"},
        {"redis", "command_timeout", CF_CFG_INT, 0, O(redis_command_timeout), "5000", 100, 600000,
         "ms a command may wait for its reply before the link is dropped"},
        {"redis", "reconnect_min", CF_CFG_INT, 0, O(redis_reconnect_min), "100", 10, 60000,
         "ms before the first reconnect (doubling, jittered)"},
        {"redis", "reconnect_max", CF_CFG_INT, 0, O(redis_reconnect_max), "5000", 10, 600000,
         "longest ms between reconnects"},
        {"redis", "heartbeat_interval", CF_CFG_INT, 0, O(redis_heartbeat_interval), "1000", 50,
         60000, "ms between heartbeats through the subscriber link"},
        {"redis", "heartbeat_timeout", CF_CFG_INT, 0, O(redis_heartbeat_timeout), "4000", 200,
         600000, "ms without a heartbeat before the link counts as dead"},
        {"redis", "node_ttl", CF_CFG_INT, 0, O(redis_node_ttl), "15", 2, 3600,
         "seconds a crashed node's members stay in presence"},
        {"redis", "ack", CF_CFG_STR, 0, O(redis_ack), "master", 0, 0,
         "master: ack when the master ordered it; replicated: also wait for a replica"},
        {"redis", "wait_timeout", CF_CFG_INT, 0, O(redis_wait_timeout), "1000", 10, 60000,
         "ms to wait for a replica with ack = replicated"},
        {"dialects", "disposable_chat", CF_CFG_INT, R, O(disposable_chat), "1", 0, 1,
         "1: serve seed 000 (disposable-chat) at /ws?name=&room= and /health"},
        {"dialects", "disposable_origin", CF_CFG_STR, R, O(disposable_origin), "", 0, 0,
         "the one Origin /ws accepts, exact match (empty: only clients sending none); "
         "env ACCEPTED_ORIGIN"},
        {"dialects", "chatty", CF_CFG_INT, R, O(chatty), "1", 0, 1,
         "1: serve seed 002 (chatty) at POST /chat?name=, /chat/join?name=&room= and /ping"},
        {"dialects", "texto", CF_CFG_INT, R, O(texto), "1", 0, 1,
         "1: serve seed 003 (texto) at /v1/texto"},
        {"auth", "enabled", CF_CFG_INT, 0, O(auth_enabled), "1", 0, 1,
         "1: accounts (register, login, tokens); 0: guests only"},
        {"auth", "token_ttl", CF_CFG_INT, R, O(auth_token_ttl), "2592000", 60, 315360000,
         "seconds an access token stays valid"},
        {"auth", "max_accounts", CF_CFG_INT, R, O(auth_max_accounts), "100000", 1, 10000000,
         "most accounts; registration is refused above it"},
        {"auth", "max_pending", CF_CFG_INT, R, O(auth_max_pending), "64", 1, 100000,
         "password hashes queued for the hashing thread before answering busy"},
        {"auth", "password_min", CF_CFG_INT, R, O(auth_password_min), "8", 1, 1024,
         "shortest password in bytes"},
        {"auth", "password_max", CF_CFG_INT, R, O(auth_password_max), "1024", 1, 4096,
         "longest password in bytes"},
        {"auth", "attempts_per_name", CF_CFG_INT, R, O(auth_attempts_name), "10", 1, 100000,
         "password attempts per minute per account name from one client address (burst as "
         "many)"},
        {"auth", "failures_per_name", CF_CFG_INT, R, O(auth_failures_name), "30", 1, 100000,
         "failed logins per minute per account name from all addresses before each login for "
         "it waits auth.failure_delay (delays, never locks the owner out)"},
        {"auth", "failure_delay", CF_CFG_INT, R, O(auth_failure_delay), "2000", 0, 60000,
         "ms a login waits before its check once auth.failures_per_name is reached"},
        {"auth", "attempts_per_ip", CF_CFG_INT, R, O(auth_attempts_ip), "60", 1, 100000,
         "password attempts and registrations per minute per client address"},
        {"auth", "secret_file", CF_CFG_STR, 0, O(auth_secret_file), "", 0, 0,
         "file holding the token signing secret (empty: credential auth-secret, else a "
         "generated key in state.dir or Redis)"},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))
_Static_assert(NDEFS <= CF_CONFIG_MAX_KEYS, "raise CF_CONFIG_MAX_KEYS");

const struct cf_config_def *
cf_config_defs(size_t *ret_n)
{
	*ret_n = NDEFS;
	return defs;
}

static void *
field(const struct cf_config *c, const struct cf_config_def *d)
{
	return (char *)c + d->offset;
}

static void
list_clear(struct cf_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_add(struct cf_strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(l->v[l->n] = strdup(s)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct cf_config_def *
find_def(const char *section, const char *key)
{
	for (size_t i = 0; i < NDEFS; i++)
		if (!strcasecmp(defs[i].section, section) && !strcasecmp(defs[i].key, key))
			return &defs[i];
	return NULL;
}

static int
set_def(struct cf_config *c, const struct cf_config_def *d, const char *value, int reset_list,
        char *err, size_t errlen)
{
	void *p = field(c, d);
	char *end;
	long v;
	int r;

	switch (d->type) {
	case CF_CFG_INT:
	case CF_CFG_OCTAL:
		errno = 0;
		v = strtol(value, &end, d->type == CF_CFG_OCTAL ? 8 : 10);
		if (errno || end == value || *end) {
			snprintf(err, errlen, "%s.%s: '%s' is not a%s number", d->section, d->key,
			         value, d->type == CF_CFG_OCTAL ? "n octal" : "");
			return -EINVAL;
		}
		if (v < d->min || v > d->max) {
			snprintf(err, errlen, "%s.%s: %ld is out of range [%ld, %ld]", d->section,
			         d->key, v, d->min, d->max);
			return -EINVAL;
		}
		*(int *)p = (int)v;
		return 0;
	case CF_CFG_LOGLEVEL:
		r = cf_log_parse_level(value);
		if (r < 0) {
			snprintf(err, errlen, "%s.%s: '%s' is not one of error, warn, info, debug",
			         d->section, d->key, value);
			return -EINVAL;
		}
		*(int *)p = r;
		return 0;
	case CF_CFG_STR: {
		char *s = strdup(value);

		if (!s)
			return -ENOMEM;
		free(*(char **)p);
		*(char **)p = s;
		return 0;
	}
	case CF_CFG_LIST: {
		struct cf_strlist *l = p;

		if (reset_list)
			list_clear(l);
		if (!*value)
			return 0;
		return list_add(l, value);
	}
	}
	return -EINVAL;
}

int
cf_config_set(struct cf_config *c, const char *section, const char *key, const char *value,
              int reset_list, char *err, size_t errlen)
{
	const struct cf_config_def *d = find_def(section, key);

	if (!d) {
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key, section);
		return -ENOENT;
	}
	return set_def(c, d, value, reset_list, err, errlen);
}

int
cf_config_init(struct cf_config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NDEFS; i++) {
		int r = set_def(c, &defs[i], defs[i].def, 1, err, sizeof(err));
		if (r < 0) {
			cf_config_fini(c);
			return r;
		}
	}
	return 0;
}

void
cf_config_fini(struct cf_config *c)
{
	for (size_t i = 0; i < NDEFS; i++) {
		void *p = field(c, &defs[i]);

		if (defs[i].type == CF_CFG_STR) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (defs[i].type == CF_CFG_LIST) {
			list_clear(p);
		}
	}
}

struct load_ctx {
	struct cf_config *c;
	char *err;
	size_t errlen;
	int r;
	unsigned char seen[NDEFS]; /* list keys already named in this file */
};

/* Debian's inih is built without INI_HANDLER_LINENO: the handler returns 0 on the first error and
 * ini_parse_file() reports that line. */
static int
on_ini_pair(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	const struct cf_config_def *d;
	char buf[256], why[256];
	size_t idx;
	int r;

	if (lc->r < 0)
		return 0;
	d = find_def(section, name);
	if (!d) {
		snprintf(lc->err, lc->errlen, "unknown key '%s' in section [%s]", name, section);
		lc->r = -ENOENT;
		return 0;
	}
	idx = (size_t)(d - defs);
	snprintf(buf, sizeof(buf), "%s", value);
	r = set_def(lc->c, d, trim(buf), !lc->seen[idx], why, sizeof(why));
	lc->seen[idx] = 1;
	lc->c->from_file[idx] = CF_FROM_FILE;
	if (r < 0) {
		snprintf(lc->err, lc->errlen, "%s", why);
		lc->r = r;
		return 0;
	}
	return 1;
}

/* inih reports sections only through their keys: find unknown ones, even empty, here. */
static int
check_sections(FILE *f, const char *path, char *err, size_t errlen)
{
	char line[256];
	int lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *e;
		int known = 0;

		lineno++;
		if (*s != '[')
			continue;
		e = strchr(s, ']');
		if (!e)
			continue; /* inih reports the syntax error */
		*e = '\0';
		s = trim(s + 1);
		for (size_t i = 0; i < NDEFS && !known; i++)
			known = !strcasecmp(defs[i].section, s);
		if (!known) {
			snprintf(err, errlen, "%s:%d: unknown section [%s]", path, lineno, s);
			return -ENOENT;
		}
	}
	rewind(f);
	return 0;
}

int
cf_config_load(struct cf_config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx lc = {.c = c, .err = err, .errlen = errlen};
	char why[300];
	FILE *f;
	int line;

	f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if ((line = check_sections(f, path, err, errlen)) < 0) {
		fclose(f);
		return line;
	}
	why[0] = '\0';
	lc.err = why;
	lc.errlen = sizeof(why);
	line = ini_parse_file(f, on_ini_pair, &lc);
	fclose(f);
	if (lc.r < 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line, why);
		return lc.r;
	}
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected 'key = value' or '[section]')",
		         path, line);
		return -EINVAL;
	}
	return 0;
}

static void
env_name(char *out, size_t outlen, const struct cf_config_def *d)
{
	snprintf(out, outlen, "CONFAB_%s_%s", d->section, d->key);
	for (char *p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

int
cf_config_apply_env(struct cf_config *c, char *err, size_t errlen)
{
	char name[128], why[256];

	for (size_t i = 0; i < NDEFS; i++) {
		const struct cf_config_def *d = &defs[i];
		const char *v;
		int r;

		env_name(name, sizeof(name), d);
		v = getenv(name);
		if (!v)
			continue;
		if (d->type == CF_CFG_LIST) {
			char *copy = strdup(v), *save = NULL, *tok;

			if (!copy)
				return -ENOMEM;
			list_clear(field(c, d));
			r = 0;
			for (tok = strtok_r(copy, ",", &save); tok && r >= 0;
			     tok = strtok_r(NULL, ",", &save))
				r = set_def(c, d, trim(tok), 0, why, sizeof(why));
			free(copy);
		} else {
			r = set_def(c, d, v, 1, why, sizeof(why));
		}
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", name, why);
			return r;
		}
	}
	return 0;
}

static void env_name(char *out, size_t outlen, const struct cf_config_def *d);

/* Whether the file read by cf_config_load() named section.key, or CONFAB_<SECTION>_<KEY>
 * (applied after the aliases) is set: an alias then does not apply. Returns where it is set. */
static const char *
set_above(const struct cf_config *c, const char *section, const char *key)
{
	const struct cf_config_def *d = find_def(section, key);
	static char name[128];

	if (!d)
		return NULL;
	if (c->from_file[d - defs])
		return c->from_file[d - defs] == CF_FROM_CLI ? "the command line"
		                                             : "the configuration file";
	env_name(name, sizeof(name), d);
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

void
cf_config_mark_cli(struct cf_config *c, const char *section, const char *key)
{
	const struct cf_config_def *d = find_def(section, key);

	if (d)
		c->from_file[d - defs] = CF_FROM_CLI;
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
	if (!c->auth_secret_file[0] && credential_path("auth-secret", path, sizeof(path)))
		return cf_config_set(c, "auth", "secret_file", path, 1, err, errlen);
	return 0;
}

int
cf_config_validate(const struct cf_config *c, char *err, size_t errlen)
{
	if (!c->listen.n) {
		snprintf(err, errlen, "server.listen: no listener configured");
		return -EINVAL;
	}
	if (c->auth_password_min > c->auth_password_max) {
		snprintf(err, errlen, "auth.password_min (%d) exceeds auth.password_max (%d)",
		         c->auth_password_min, c->auth_password_max);
		return -EINVAL;
	}
	if (c->join_history > c->history) {
		snprintf(err, errlen, "rooms.join_history (%d) exceeds rooms.history (%d)",
		         c->join_history, c->history);
		return -EINVAL;
	}
	if (c->max_text + 512 > c->max_frame) {
		snprintf(err, errlen,
		         "limits.max_text (%d) needs limits.max_frame of at least %d (text + 512)",
		         c->max_text, c->max_text + 512);
		return -EINVAL;
	}
	/* A frame larger than the whole queue could never be queued: every member of the room
	 * would be closed as slow. JSON escaping makes a text up to 6 times longer. */
	if ((long)c->queue_bytes < 6L * c->max_text + 1024) {
		snprintf(err, errlen,
		         "session.queue_bytes (%d) must be at least 6 * limits.max_text + 1024 "
		         "(%ld)",
		         c->queue_bytes, 6L * c->max_text + 1024);
		return -EINVAL;
	}
	if (c->reuse_port && !c->redis_url[0]) {
		snprintf(err, errlen,
		         "server.reuse_port needs redis.url: standalone processes sharing "
		         "a port would each hold rooms of their own");
		return -EINVAL;
	}
	if (strcmp(c->redis_ack, "master") && strcmp(c->redis_ack, "replicated")) {
		snprintf(err, errlen, "redis.ack: '%s' is not one of master, replicated",
		         c->redis_ack);
		return -EINVAL;
	}
	if (c->redis_reconnect_min > c->redis_reconnect_max) {
		snprintf(err, errlen, "redis.reconnect_min (%d) exceeds redis.reconnect_max (%d)",
		         c->redis_reconnect_min, c->redis_reconnect_max);
		return -EINVAL;
	}
	if (c->redis_heartbeat_timeout <= c->redis_heartbeat_interval) {
		snprintf(err, errlen,
		         "redis.heartbeat_timeout (%d) must exceed redis.heartbeat_interval (%d)",
		         c->redis_heartbeat_timeout, c->redis_heartbeat_interval);
		return -EINVAL;
	}
	if (!c->tls_cert[0] && (c->tls_key[0] || c->tls_client_ca[0])) {
		snprintf(err, errlen, "tls.%s is set but tls.cert is empty",
		         c->tls_key[0] ? "key" : "client_ca");
		return -EINVAL;
	}
	if (c->tls_cert[0] && !c->tls_key[0]) {
		snprintf(err, errlen,
		         "tls.cert is set but tls.key is empty and there is no credential tls-key");
		return -EINVAL;
	}
	if (c->redis_url[0]) {
		struct cf_redis_target t;
		char why[300];

		if (cf_redis_parse_url(c->redis_url, &t, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "redis.url: %s", why);
			return -EINVAL;
		}
	}
	return 0;
}

static void
dump_value(const struct cf_config *c, const struct cf_config_def *d, FILE *f)
{
	const void *p = field(c, d);

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
		for (size_t i = 0; i < l->n; i++)
			fprintf(f, "%s = %s\n", d->key, l->v[i]);
		break;
	}
	}
}

void
cf_config_dump(const struct cf_config *c, FILE *f)
{
	const char *section = NULL;

	for (size_t i = 0; i < NDEFS; i++) {
		const struct cf_config_def *d = &defs[i];

		if (!section || strcmp(section, d->section)) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", d->section);
			section = d->section;
		}
		fprintf(f, "# %s%s\n", d->help, d->flags & R ? " (reloadable)" : "");
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

/* The seeds' variables that set d (cf_config_apply_aliases()), for the man page. */
static const char *
seed_vars(const struct cf_config_def *d)
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

void
cf_config_man(FILE *f)
{
	const char *section = NULL, *seed;

	for (size_t i = 0; i < NDEFS; i++) {
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
		fputs(d->flags & R ? "Reloadable (SIGHUP)." : "Needs a restart.", f);
		if (d->flags & CF_CFG_SECRET)
			fputs(" A secret: \\-\\-check\\-config prints (set), never the value.", f);
		if (d->flags & CF_CFG_SECRET_URL)
			fputs(" Its password is a secret: \\-\\-check\\-config and error messages "
			      "show "
			      "(hidden) in its place.",
			      f);
		snprintf(env, sizeof(env), "CONFAB_%s_%s", d->section, d->key);
		for (char *p = env; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		fputs("\n.br\nEnvironment: \\fB", f);
		roff_text(f, env, 0);
		fputs("\\fR", f);
		if ((seed = seed_vars(d))) {
			fputs("; below the file, the seeds' ", f);
			roff_text(f, seed, 0);
		}
		fputs(".\n", f);
	}
}

static int
def_equal(const struct cf_config *a, const struct cf_config *b, const struct cf_config_def *d)
{
	const void *pa = field(a, d), *pb = field(b, d);

	switch (d->type) {
	case CF_CFG_INT:
	case CF_CFG_OCTAL:
	case CF_CFG_LOGLEVEL:
		return *(const int *)pa == *(const int *)pb;
	case CF_CFG_STR:
		return !strcmp(*(char *const *)pa, *(char *const *)pb);
	case CF_CFG_LIST: {
		const struct cf_strlist *la = pa, *lb = pb;

		if (la->n != lb->n)
			return 0;
		for (size_t i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]))
				return 0;
		return 1;
	}
	}
	return 0;
}

int
cf_config_reload(struct cf_config *cur, const struct cf_config *next,
                 void (*note)(const struct cf_config_def *d, void *ud), void *ud)
{
	int restart = 0;

	for (size_t i = 0; i < NDEFS; i++) {
		const struct cf_config_def *d = &defs[i];
		void *pc = field(cur, d);
		const void *pn = field(next, d);

		if (def_equal(cur, next, d))
			continue;
		if (!(d->flags & R)) {
			restart++;
			if (note)
				note(d, ud);
			continue;
		}
		if (d->type == CF_CFG_STR) {
			char *s = strdup(*(char *const *)pn);
			if (!s)
				continue;
			free(*(char **)pc);
			*(char **)pc = s;
		} else if (d->type == CF_CFG_LIST) {
			const struct cf_strlist *ln = pn;

			list_clear(pc);
			for (size_t j = 0; j < ln->n; j++)
				(void)list_add(pc, ln->v[j]);
		} else {
			*(int *)pc = *(const int *)pn;
		}
	}
	return restart;
}
