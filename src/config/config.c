/* SPDX-License-Identifier: MIT */
/* config.c - the configuration table (key, type, default, bounds, reloadable, help) and what
 * it drives directly: defaults, setting a key, INI parsing (inih), validation and the reload
 * diff. What the environment sets (CONFAB_*, the seeds' variables, credentials) is
 * config_alias.c's, what is printed of the table (--check-config, the man page)
 * config_doc.c's; they share config_int.h. Never logs: callers decide. */
#include "config/config.h"
#include "base/log.h"
#include "base/redis_url.h"
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ini.h>

#define O(f) offsetof(struct cf_config, f)
#define R    CF_CFG_RELOADABLE

static const struct cf_config_def defs[] = {
        {"server", "listen", CF_CFG_LIST, 0, O(listen), "127.0.0.1:8080", 0, 0,
         "listeners: ADDR [dialects=NAME,...] [www=DIR] [deflate=on]; ADDR is host:port, "
         "[v6]:port, :port, unix:/path or systemd:NAME (man confab.conf: LISTENERS)"},
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
        {"rooms", "max_ruled", CF_CFG_INT, R, O(rooms_max_ruled), "10000", 1, 10000000,
         "most rooms with rules (created with an owner); more creates answer room_limit"},
        {"rooms", "max_created_per_user", CF_CFG_INT, R, O(rooms_max_created), "20", 1, 100000,
         "rooms with rules one account may create"},
        {"rooms", "max_rule_users", CF_CFG_INT, R, O(rooms_max_rule_users), "1000", 1, 1000000,
         "users one room's rules may list (roles, bans, mutes)"},
        {"rooms", "max_read_markers", CF_CFG_INT, R, O(read_max_markers), "1000", 1, 100000,
         "read markers kept per account (beyond: the one moved longest ago is forgotten)"},
        {"rooms", "read_show_max", CF_CFG_INT, R, O(read_show_max), "50", 0, 100000,
         "members see each other's read markers in rooms of up to this many users (0: never)"},
        {"rooms", "edit_window", CF_CFG_INT, R, O(edit_window), "3600", 0, 31536000,
         "seconds after sending that an author may edit or delete a message (confab.v1 edit, "
         "delete; 0: never); moderators delete at any time"},
        {"rooms", "typing_ttl", CF_CFG_INT, R, O(typing_ttl), "6000", 1000, 60000,
         "ms a typing indicator shows unless renewed or ended (confab.v1 typing)"},
        {"rooms", "typing_rate", CF_CFG_INT, R, O(typing_rate), "2", 1, 1000000,
         "typing events per second per session, all its rooms together"},
        {"rooms", "typing_burst", CF_CFG_INT, R, O(typing_burst), "10", 1, 1000000,
         "typing token bucket size per session"},
        {"rooms", "typing_rate_per_ip", CF_CFG_INT, R, O(typing_rate_per_ip), "50", 1, 1000000,
         "typing events per second per client address, all its sessions together"},
        {"rooms", "typing_burst_per_ip", CF_CFG_INT, R, O(typing_burst_per_ip), "200", 1, 1000000,
         "typing token bucket size per client address"},
        {"session", "queue_frames", CF_CFG_INT, 0, O(queue_frames), "1024", 8, 1048576,
         "most events queued per session"},
        {"session", "queue_bytes", CF_CFG_INT, 0, O(queue_bytes), "1048576", 4096, 1073741824,
         "most bytes queued per session"},
        {"debug", "stall_on_sigusr2", CF_CFG_INT, 0, O(debug_stall), "0", 0, 60,
         "for tests: seconds SIGUSR2 blocks the event loop (0: SIGUSR2 does nothing)"},
        {"redis", "url", CF_CFG_STR, CF_CFG_SECRET_URL, O(redis_url), "", 0, 0,
         "Redis for cluster mode: redis://[user:password@]host:port/db, unix:///path?db=N or "
         "sentinel://host:port[,host:port]/master (empty: standalone)"},
        {"redis", "shards", CF_CFG_LIST, CF_CFG_SECRET_URL, O(redis_shards), "", 0, 0,
         "more Redis primaries, one URL per line (as redis.url): rooms and users are spread "
         "over redis.url and these by a hash of their name (man confab.conf: SHARDS)"},
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
        {"auth", "jwt_alg", CF_CFG_STR, 0, O(auth_jwt_alg), "", 0, 0,
         "algorithm of the application's sign-in tokens (JWT): HS256, HS384, HS512, RS256, "
         "RS384, RS512, ES256, ES384 or ES512 (empty: not accepted)"},
        {"auth", "jwt_key_file", CF_CFG_STR, 0, O(auth_jwt_key_file), "", 0, 0,
         "the JWT key: the shared secret (HS*; empty: credential jwt-key) or the PEM public "
         "key (RS*, ES*)"},
        {"auth", "jwt_audience", CF_CFG_STR, 0, O(auth_jwt_audience), "", 0, 0,
         "the aud a JWT must name (empty: a JWT with an aud is refused)"},
        {"auth", "jwt_issuer", CF_CFG_STR, 0, O(auth_jwt_issuer), "", 0, 0,
         "the iss a JWT must carry (empty: any)"},
        {"auth", "jwt_leeway", CF_CFG_INT, 0, O(auth_jwt_leeway), "30", 0, 600,
         "seconds of clock skew allowed on a JWT's exp and nbf"},
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))
_Static_assert(NDEFS <= CF_CONFIG_MAX_KEYS, "raise CF_CONFIG_MAX_KEYS");

const struct cf_config_def *
cf_config_defs(size_t *ret_n)
{
	*ret_n = NDEFS;
	return defs;
}

void
cf_config_list_clear(struct cf_strlist *l)
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
char *
cf_config_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

const struct cf_config_def *
cf_config_find_def(const char *section, const char *key)
{
	for (size_t i = 0; i < NDEFS; i++)
		if (!strcasecmp(defs[i].section, section) && !strcasecmp(defs[i].key, key))
			return &defs[i];
	return NULL;
}

int
cf_config_set_def(struct cf_config *c, const struct cf_config_def *d, const char *value,
                  int reset_list, char *err, size_t errlen)
{
	void *p = cf_config_field(c, d);
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
			cf_config_list_clear(l);
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
	const struct cf_config_def *d = cf_config_find_def(section, key);

	if (!d) {
		snprintf(err, errlen, "unknown key '%s' in section [%s]", key, section);
		return -ENOENT;
	}
	return cf_config_set_def(c, d, value, reset_list, err, errlen);
}

int
cf_config_init(struct cf_config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NDEFS; i++) {
		int r = cf_config_set_def(c, &defs[i], defs[i].def, 1, err, sizeof(err));
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
		void *p = cf_config_field(c, &defs[i]);

		if (defs[i].type == CF_CFG_STR) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (defs[i].type == CF_CFG_LIST) {
			cf_config_list_clear(p);
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
	d = cf_config_find_def(section, name);
	if (!d) {
		snprintf(lc->err, lc->errlen, "unknown key '%s' in section [%s]", name, section);
		lc->r = -ENOENT;
		return 0;
	}
	idx = (size_t)(d - defs);
	snprintf(buf, sizeof(buf), "%s", value);
	r = cf_config_set_def(lc->c, d, cf_config_trim(buf), !lc->seen[idx], why, sizeof(why));
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
		char *s = cf_config_trim(line), *e;
		int known = 0;

		lineno++;
		if (*s != '[')
			continue;
		e = strchr(s, ']');
		if (!e)
			continue; /* inih reports the syntax error */
		*e = '\0';
		s = cf_config_trim(s + 1);
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

void
cf_config_mark_cli(struct cf_config *c, const char *section, const char *key)
{
	const struct cf_config_def *d = cf_config_find_def(section, key);

	if (d)
		c->from_file[d - defs] = CF_FROM_CLI;
}

/* redis.shards: each entry a URL redis.url would take, redis.url set (it is the first shard and
 * the home of what is not a room's or a user's), no two shards with the same identity (the
 * hash would give both the same names, and the same Redis twice means one shard's keys twice). */
static int
validate_shards(const struct cf_config *c, char *err, size_t errlen)
{
	char ids[CF_REDIS_SHARDS_MAX][400], masked[300], why[300];
	struct cf_redis_target t;

	if (!c->redis_shards.n)
		return 0;
	if (!c->redis_url[0]) {
		snprintf(err, errlen, "redis.shards needs redis.url: it is the first shard");
		return -EINVAL;
	}
	if (c->redis_shards.n + 1 > CF_REDIS_SHARDS_MAX) {
		snprintf(err, errlen, "redis.shards: %zu entries; at most %d shards with redis.url",
		         c->redis_shards.n, CF_REDIS_SHARDS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i <= c->redis_shards.n; i++) {
		const char *url = i ? c->redis_shards.v[i - 1] : c->redis_url;

		cf_redis_url_mask(url, masked, sizeof(masked));
		if (cf_redis_parse_url(url, &t, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "redis.shards: '%s': %s", masked, why);
			return -EINVAL;
		}
		if (cf_redis_target_id(&t, ids[i], sizeof(ids[i])) < 0) {
			snprintf(err, errlen, "redis.shards: '%s': address too long", masked);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(ids[i], ids[j])) {
				snprintf(err, errlen,
				         "redis.shards: '%s' is the same shard (%s) as %s", masked,
				         ids[i], j ? "an earlier entry" : "redis.url");
				return -EINVAL;
			}
	}
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
	if (c->auth_jwt_alg[0] && !c->auth_enabled) {
		snprintf(err, errlen,
		         "auth.jwt_alg is set but auth.enabled = 0: application "
		         "tokens sign users in to accounts");
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
	return validate_shards(c, err, errlen);
}

static int
def_equal(const struct cf_config *a, const struct cf_config *b, const struct cf_config_def *d)
{
	const void *pa = cf_config_field(a, d), *pb = cf_config_field(b, d);

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
		void *pc = cf_config_field(cur, d);
		const void *pn = cf_config_field(next, d);

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

			cf_config_list_clear(pc);
			for (size_t j = 0; j < ln->n; j++)
				(void)list_add(pc, ln->v[j]);
		} else {
			*(int *)pc = *(const int *)pn;
		}
	}
	return restart;
}
