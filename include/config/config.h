/* SPDX-License-Identifier: MIT */
/* config.h - confabd's configuration: one table of keys drives parsing, defaults, bounds,
 * environment overrides, --check-config output and SIGHUP reload. */
#pragma once

#include <stddef.h>
#include <stdio.h>

struct cf_strlist {
	char **v; /* owned, each entry owned */
	size_t n;
};

/* Room for the table's keys in cf_config.from_file. */
#define CF_CONFIG_MAX_KEYS 128
#define CF_FROM_FILE       1
#define CF_FROM_CLI        2

struct cf_config {
	/* [server] */
	struct cf_strlist listen;
	int reuse_port;
	int unix_mode;
	char *www_dir;
	char *admin_token;
	struct cf_strlist origins;
	struct cf_strlist trusted_proxies;
	int max_connections;
	int max_connections_per_ip;
	int handshake_timeout;
	int ping_interval;
	int pong_timeout;
	int drain_timeout;
	char *node_id;
	/* [state] */
	char *state_dir;
	/* [inbox] */
	int inbox_max_messages;
	int inbox_max_bytes;
	int inbox_ttl;
	int inbox_max_users;
	int inbox_max_per_ip;
	int inbox_flush_delay;
	/* [tls] */
	char *tls_cert;
	char *tls_key;
	char *tls_client_ca;
	/* [log] */
	int log_level;
	/* [limits] */
	int max_frame;
	int max_text;
	int max_name;
	int max_rooms_per_session;
	int rate;
	int burst;
	int rate_close_after;
	/* [rooms] */
	int history;
	int history_ttl;
	int join_history;
	int presence_events_max;
	int max_rooms;
	int join_rate;
	int join_burst;
	int join_rate_per_ip;
	int join_burst_per_ip;
	int max_rooms_per_ip;
	int create_rate_per_ip;
	int rooms_max_ruled;
	int rooms_max_created;
	int rooms_max_rule_users;
	int read_max_markers;
	int read_show_max;
	int edit_window; /* s */
	int typing_ttl;  /* ms */
	int typing_rate;
	int typing_burst;
	int typing_rate_per_ip;
	int typing_burst_per_ip;
	/* [session] */
	int queue_frames;
	int queue_bytes;
	/* [debug] */
	int debug_stall;
	/* [redis] */
	char *redis_url;
	struct cf_strlist redis_shards; /* more primaries: redis.url is shard 0 */
	char *redis_password;
	char *redis_password_file;
	char *redis_prefix;
	int redis_connect_timeout;
	int redis_command_timeout;
	int redis_reconnect_min;
	int redis_reconnect_max;
	int redis_heartbeat_interval;
	int redis_heartbeat_timeout;
	int redis_node_ttl;
	char *redis_ack;
	int redis_wait_timeout;
	/* [dialects] */
	int disposable_chat;
	char *disposable_origin;
	int chatty;
	int texto;
	/* [auth] */
	int auth_enabled;
	int auth_token_ttl;
	int auth_max_accounts;
	int auth_max_pending;
	int auth_password_min;
	int auth_password_max;
	int auth_attempts_name;
	int auth_attempts_ip;
	int auth_failures_name;
	int auth_failure_delay;
	char *auth_secret_file;
	char *auth_jwt_alg;
	char *auth_jwt_key_file;
	char *auth_jwt_audience;
	char *auth_jwt_issuer;
	int auth_jwt_leeway;
	/* Per key (index in the table): CF_FROM_FILE when cf_config_load() read it from the
	 * file, CF_FROM_CLI when a command-line option will set it; the seeds' environment
	 * aliases apply only to the others. */
	unsigned char from_file[CF_CONFIG_MAX_KEYS];
};

enum cf_config_type {
	CF_CFG_INT,
	CF_CFG_OCTAL,
	CF_CFG_STR,
	CF_CFG_LIST,
	CF_CFG_LOGLEVEL,
};

#define CF_CFG_RELOADABLE (1 << 0)
/* The value is a secret: never printed (--check-config shows "(set)"). */
#define CF_CFG_SECRET (1 << 1)
/* A URL whose userinfo password (and query values) are secret: printed masked
 * (cf_redis_url_mask(), redis_url.h). */
#define CF_CFG_SECRET_URL (1 << 2)

struct cf_config_def {
	const char *section;
	const char *key;
	enum cf_config_type type;
	unsigned flags;
	size_t offset;
	const char *def; /* default, as it would be written in the file */
	long min, max;   /* bounds for integers */
	const char *help;
};

const struct cf_config_def *cf_config_defs(size_t *ret_n);

/* Fills c with the defaults. c must be zeroed or finished. Returns 0 or -ENOMEM. */
int cf_config_init(struct cf_config *c);
void cf_config_fini(struct cf_config *c);

/* Sets one key from its textual value. A list key appends unless reset_list is set.
 * On error returns -EINVAL (or -ENOENT for an unknown key) and writes why into err. */
int cf_config_set(struct cf_config *c, const char *section, const char *key, const char *value,
                  int reset_list, char *err, size_t errlen);

/* Parses an INI file over the values already in c. List keys named in the file replace their
 * defaults. On error returns a negative errno and err says "path:line: ...". */
int cf_config_load(struct cf_config *c, const char *path, char *err, size_t errlen);

/* Applies CONFAB_<SECTION>_<KEY> environment variables. */
int cf_config_apply_env(struct cf_config *c, char *err, size_t errlen);

/* What an alias did or why it did not apply (level: CF_LOG_INFO or CF_LOG_WARNING). */
typedef void cf_config_note_fn(void *ud, int level, const char *text);

/* Applies the environment variables of the seeds' deployments (docs/dialects.md,
 * "Environment aliases"), after the file and before cf_config_apply_env(): an alias sets a
 * key only when neither the file nor CONFAB_<SECTION>_<KEY> sets it.
 *   ACCEPTED_ORIGIN                       dialects.disposable_origin
 *   REDIS_URL | REDIS_ENDPOINT + REDIS_SECRET | REDIS_ADDRESS + REDIS_PASSWORD (first set)
 *                                         redis.url (+ redis.password)
 *   SERVER_PORT | PORT (":PORT") | SERVER_ADDRESS (first set)
 *                                         server.listen: replaces the default listener
 *   DEBUG, LOG_DEBUG (Go booleans; either true)
 *                                         log.level = debug
 * note (may be NULL) hears which applied, which were ignored and why. An invalid port is an
 * error; an invalid boolean a warning. */
int cf_config_apply_aliases(struct cf_config *c, cf_config_note_fn *note, void *ud, char *err,
                            size_t errlen);

/* A command-line option will set section.key: aliases leave it alone and say so. */
void cf_config_mark_cli(struct cf_config *c, const char *section, const char *key);

/* The Redis and ACCEPTED_ORIGIN parts of cf_config_apply_aliases() alone, without notes. */
int cf_config_apply_redis_aliases(struct cf_config *c, char *err, size_t errlen);
int cf_config_apply_dialect_aliases(struct cf_config *c, char *err, size_t errlen);

/* Fills what is empty from systemd credentials ($CREDENTIALS_DIRECTORY): server.admin_token
 * from admin-token, tls.key from tls-key (as a path) when tls.cert is set, auth.secret_file
 * from auth-secret (as a path), auth.jwt_key_file from jwt-key (as a path) when auth.jwt_alg
 * is set. */
int cf_config_apply_credentials(struct cf_config *c, char *err, size_t errlen);

/* Reads a one-line secret (one trailing newline dropped) from path into out. */
int cf_config_read_secret(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/* Cross-key checks (e.g. at least one listener). */
int cf_config_validate(const struct cf_config *c, char *err, size_t errlen);

/* Writes every key with its effective value, INI style. */
void cf_config_dump(const struct cf_config *c, FILE *f);

/* Writes the key reference of confab.conf(5) in roff: per section, every key with its type,
 * bounds, default, whether it is reloadable, its environment variable and its help. */
void cf_config_man(FILE *f);

/* Copies reloadable keys from next into cur. For every other key that differs, calls
 * note(key) (may be NULL). Returns the number of keys that need a restart. */
int cf_config_reload(struct cf_config *cur, const struct cf_config *next,
                     void (*note)(const struct cf_config_def *d, void *ud), void *ud);
