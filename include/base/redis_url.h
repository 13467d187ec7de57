/* SPDX-License-Identifier: MIT */
/* redis_url.h - where Redis is: redis.url parsed into a target, and a URL masked for printing.
 * Pure functions: the configuration validates with them, the connection (redis.h) connects
 * with the target. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CF_REDIS_SENTINELS_MAX 8

enum cf_redis_kind { CF_REDIS_TCP, CF_REDIS_UNIX, CF_REDIS_SENTINEL };

/* Where Redis is, parsed from a URL. */
struct cf_redis_target {
	enum cf_redis_kind kind;
	char host[256]; /* TCP: name or address; Sentinel: filled in by discovery */
	int port;
	char path[108]; /* unix socket */
	int db;
	char user[128];     /* ACL user; empty: AUTH with the password only */
	char password[512]; /* empty: no AUTH */
	char master[128];   /* Sentinel: the master's name */
	struct {
		char host[256];
		int port;
	} sentinels[CF_REDIS_SENTINELS_MAX];
	int nsentinels;
};

/* Parses redis://[user:password@]host[:port][/db], unix:///path[?db=N], a bare host:port, or
 * sentinel://[user:password@]host:port[,host:port...]/master[/db] into t (zeroed first).
 * Returns 0 or -EINVAL with the reason in err. */
int cf_redis_parse_url(const char *url, struct cf_redis_target *t, char *err, size_t errlen);

/* Writes url into out (outlen bytes, NUL-terminated, truncated if need be) with its secrets
 * replaced by "(hidden)": the userinfo's password (everything after the first ':' up to the
 * last '@'; all of a userinfo without ':') and the value of every query parameter but db.
 * Works on malformed URLs too, for error messages that repeat what was given. unix: URLs
 * carry no userinfo: an '@' after the path's first '/' is the path's. */
void cf_redis_url_mask(const char *url, char *out, size_t outlen);

/* Most Redis shards (redis.url and the redis.shards entries together). */
#define CF_REDIS_SHARDS_MAX 16

/* A shard's identity, what the hash of names to shards is computed over: where its data is,
 * never how it is reached (no password, no user, no Sentinel addresses). "tcp:host:port/db",
 * "unix:path/db" or "sentinel:master/db": a Sentinel-managed shard keeps its identity (and
 * its rooms) across failovers. Returns 0 or -ENAMETOOLONG. */
int cf_redis_target_id(const struct cf_redis_target *t, char *out, size_t outlen);

/* The seed of the shard whose identity is id, for cf_redis_shard_pick(). */
uint64_t cf_redis_shard_seed(const char *id);

/* Rendezvous (highest random weight) hashing: the index in seeds[0..n) of the shard that owns
 * name (a room name or a user id). Adding a shard moves only the names it wins (about 1/n of
 * them), removing one moves only its own; the order of the shards does not matter. n >= 1. */
size_t cf_redis_shard_pick(const uint64_t *seeds, size_t n, const char *name);
