/* SPDX-License-Identifier: MIT */
/* redis.h - the connection to Redis in cluster mode: two hiredis async links (commands and
 * subscriptions) whose sockets are adopted into the lws loop, with connect and command
 * timeouts, a heartbeat that proves the subscriber link alive, reconnects with jittered
 * backoff, name resolution off the loop and Sentinel discovery. The cluster bus is its only user
 * (bus_redis.c, and bus_redis_store.c for the accounts). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <libwebsockets.h>

#include "base/redis_url.h"

struct cf_config;

/* Fills t from the configuration: redis.url, then the password from the URL, redis.password,
 * redis.password_file or the systemd credential "redis-password", in that order. */
int cf_redis_target_from_config(const struct cf_config *cfg, struct cf_redis_target *t, char *err,
                                size_t errlen);

/* The same for one shard's url (redis.url or a redis.shards entry); what names it in errors. */
int cf_redis_target_from_url(const struct cf_config *cfg, const char *url, const char *what,
                             struct cf_redis_target *t, char *err, size_t errlen);

struct cf_redis;

/* What the user of the connection hears. All run from the loop. */
struct cf_redis_events {
	/* Both links are connected, authenticated and proven (heartbeat seen). Subscriptions
	 * made before were lost with the previous links: subscribe again now. */
	void (*up)(void *ud);
	/* The links were lost (why says how); pending commands got NULL replies first. */
	void (*down)(void *ud, const char *why);
	/* A pub/sub message, or a subscribe confirmation (payload NULL). */
	void (*message)(void *ud, const char *channel, size_t clen, const char *payload,
	                size_t plen);
	void *ud;
};

/* Starts connecting (asynchronously) to t. The vhost is where the sockets are adopted; shard
 * (< CF_METRICS_SHARDS) is the index its metrics are kept under. */
struct cf_redis *cf_redis_new(struct lws_context *ctx, struct lws_vhost *vh,
                              const struct cf_config *cfg, const struct cf_redis_target *t,
                              const char *node_id, unsigned shard,
                              const struct cf_redis_events *ev);
/* Drops the links and stops reconnecting; call before the lws context is destroyed. */
void cf_redis_close(struct cf_redis *r);
void cf_redis_free(struct cf_redis *r);

/* Drops the links and reconnects (as after a failure), e.g. when Redis says it is a replica. */
void cf_redis_reset(struct cf_redis *r, const char *why);

int cf_redis_is_up(const struct cf_redis *r);
/* "up", or why not, for /healthz and logs. Borrowed, valid until the next loop turn. */
const char *cf_redis_status(const struct cf_redis *r);
uint64_t cf_redis_reconnects(const struct cf_redis *r);
/* Whether the first connection attempt has ended (up, or failed once). */
int cf_redis_settled(const struct cf_redis *r);

/* The reply of one command: reply is NULL when the link went away before it came (or the
 * command timed out). privdata is the caller's. reply is borrowed for the call. */
typedef void cf_redis_reply_cb(void *privdata, redisReply *reply);

/* Sends a command on the command link. cb runs exactly once, later. Returns 0, or -ENOTCONN
 * when the link is not up (cb will not run), -ENOMEM. */
int cf_redis_cmd(struct cf_redis *r, cf_redis_reply_cb *cb, void *privdata, int argc,
                 const char **argv, const size_t *argvlen);

/* Subscriber link. Confirmations and messages arrive through events.message. Return 0 or
 * -ENOTCONN. */
int cf_redis_subscribe(struct cf_redis *r, const char *channel);
int cf_redis_unsubscribe(struct cf_redis *r, const char *channel);

/* The raw-file protocol that carries the Redis sockets; server.c lists it on every vhost. */
int cf_redis_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len);
#define CF_REDIS_PROTOCOL "confab-redis"
