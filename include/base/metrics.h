/* SPDX-License-Identifier: MIT */
/* metrics.h - process-wide counters, gauges and histograms, rendered as Prometheus text.
 * One global instance: the loop is single-threaded, so plain integers suffice. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Most Redis shards the metrics tell apart (CF_REDIS_SHARDS_MAX). */
#define CF_METRICS_SHARDS 16

#define CF_HIST_MAX_BUCKETS 16

struct cf_hist {
	const double *bounds; /* upper bounds, ascending; +Inf is implicit */
	size_t nbounds;
	uint64_t counts[CF_HIST_MAX_BUCKETS + 1]; /* non-cumulative; the last is +Inf */
	double sum;
	uint64_t count;
};

struct cf_metrics {
	int64_t connections; /* WebSocket sessions open now */
	int64_t rooms;       /* rooms held now */
	uint64_t connections_total;
	uint64_t http_requests_total;
	uint64_t messages_in_total; /* messages ordered by the bus */
	uint64_t deliveries_total;  /* events written to sessions */
	uint64_t bytes_in_total;
	uint64_t bytes_out_total;
	uint64_t drops_total; /* events dropped because a session was closed as slow */
	uint64_t slow_consumer_closes_total;
	uint64_t rate_limited_total;
	/* Password jobs the hashing thread ran: hashes, checks, and the stand-in check of a login
	 * for a name without an account (so it costs what a real one costs). */
	uint64_t auth_hashes_total;
	/* Logins held back by the per-name slow-down (auth.failures_per_name). */
	uint64_t auth_delayed_total;
	/* Application tokens (JWT) refused: forged, expired, wrong alg, audience or claims. */
	uint64_t auth_jwt_refused_total;
	/* Room members removed by a rules change: kicks, bans, rules they no longer meet. */
	uint64_t rules_removed_total;
	uint64_t rate_limit_closes_total;
	uint64_t join_limited_total;   /* joins refused by rooms.join_rate or join_rate_per_ip */
	uint64_t room_quota_total;     /* room creations refused by rooms.max_rooms_per_ip */
	uint64_t create_limited_total; /* seed 002 POST /chat refused by create_rate_per_ip */
	uint64_t inbox_limited_total;  /* direct messages not kept: inbox.max_per_ip */
	uint64_t typing_total;         /* typing events accepted from this node's sessions */
	uint64_t typing_limited_total; /* typing events refused by rooms.typing_rate(_per_ip) */
	uint64_t frame_too_big_total;
	uint64_t rejected_connections_total;
	uint64_t sd_notify_dropped_total; /* STATUS=/WATCHDOG=1 not sent: the queue was full */
	/* Cluster mode; redis_mode is 0 when standalone (the link metrics are then omitted). */
	int redis_mode;
	/* Per Redis shard (redis.url is 0, redis.shards the rest); confab_redis_up is 1 while
	 * every shard is up, the reconnects are summed. */
	int redis_shards;
	int redis_shard_up[CF_METRICS_SHARDS];
	uint64_t redis_shard_reconnects[CF_METRICS_SHARDS];
	uint64_t redis_resyncs_total;     /* rooms caught up from their log */
	uint64_t redis_unavailable_total; /* publishes refused or failed while the link was down */
	struct cf_hist queue_depth;       /* session queue depth seen at each enqueue (events) */
	struct cf_hist delivery_latency;  /* seconds from bus ordering to lws_write */

	/* Offline inboxes (inbox.h). The gauges are standalone only (Redis keeps the lists). */
	uint64_t inbox_queued_total;    /* direct messages kept for an offline user */
	uint64_t inbox_delivered_total; /* kept messages delivered to a session */
	uint64_t inbox_dropped_count;   /* dropped: inbox.max_messages */
	uint64_t inbox_dropped_bytes;   /* dropped: inbox.max_bytes */
	uint64_t inbox_dropped_expired; /* dropped: older than inbox.ttl */
	uint64_t inbox_dropped_users;   /* refused: inbox.max_users */
	int64_t inbox_users;            /* users with kept messages now */
	int64_t inbox_messages;         /* messages kept now */
};

extern struct cf_metrics cf_metrics;

void cf_metrics_init(void);
void cf_hist_observe(struct cf_hist *h, double v);

/* Renders all metrics. *ret is malloc'd and owned by the caller. Returns 0 or -ENOMEM. */
int cf_metrics_render(char **ret, size_t *ret_len);
