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
	/* [session] */
	int queue_frames;
	int queue_bytes;
	/* [debug] */
	int debug_stall;
	/* [redis] */
	char *redis_url;
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
};

enum cf_config_type {
	CF_CFG_INT,
	CF_CFG_OCTAL,
	CF_CFG_STR,
	CF_CFG_LIST,
	CF_CFG_LOGLEVEL,
};

#define CF_CFG_RELOADABLE (1 << 0)

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

/* Applies the Redis variables of the seeds' deployments: REDIS_URL (a URL or host:port),
 * REDIS_ENDPOINT + REDIS_SECRET, REDIS_ADDRESS + REDIS_PASSWORD (host:port + password). */
int cf_config_apply_redis_aliases(struct cf_config *c, char *err, size_t errlen);

/* Applies the environment variables of the seeds' deployments that configure dialects:
 * ACCEPTED_ORIGIN (seed 000) sets dialects.disposable_origin. Called before the file is read,
 * so the file's key and CONFAB_DIALECTS_DISPOSABLE_ORIGIN take precedence. */
int cf_config_apply_dialect_aliases(struct cf_config *c, char *err, size_t errlen);

/* Fills what is empty from systemd credentials ($CREDENTIALS_DIRECTORY): server.admin_token
 * from admin-token, tls.key from tls-key (as a path) when tls.cert is set. */
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
