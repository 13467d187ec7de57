/* SPDX-License-Identifier: MIT */
/* metrics.c - the process's counters and histograms and their Prometheus text exposition. */
#include "base/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cf_metrics cf_metrics;

static const double depth_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
static const double latency_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                        0.005,   0.01,   0.025,   0.05,   0.1,   1};

void
cf_metrics_init(void)
{
	memset(&cf_metrics, 0, sizeof(cf_metrics));
	cf_metrics.queue_depth.bounds = depth_bounds;
	cf_metrics.queue_depth.nbounds = sizeof(depth_bounds) / sizeof(depth_bounds[0]);
	cf_metrics.delivery_latency.bounds = latency_bounds;
	cf_metrics.delivery_latency.nbounds = sizeof(latency_bounds) / sizeof(latency_bounds[0]);
}

void
cf_hist_observe(struct cf_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

static void
counter(FILE *f, const char *name, const char *help, const char *type, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
	        (unsigned long long)v);
}

static void
hist(FILE *f, const char *name, const char *help, const struct cf_hist *h)
{
	uint64_t cum = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		        (unsigned long long)cum);
	}
	cum += h->counts[h->nbounds];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
	        (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

int
cf_metrics_render(char **ret, size_t *ret_len)
{
	const struct cf_metrics *m = &cf_metrics;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fprintf(f,
	        "# HELP confab_build_info Build information.\n# TYPE confab_build_info gauge\n"
	        "confab_build_info{version=\"%s\"} 1\n",
	        CONFAB_VERSION);
	counter(f, "confab_connections", "WebSocket sessions open now.", "gauge",
	        (uint64_t)m->connections);
	counter(f, "confab_rooms", "Rooms held now.", "gauge", (uint64_t)m->rooms);
	counter(f, "confab_connections_total", "WebSocket sessions accepted.", "counter",
	        m->connections_total);
	counter(f, "confab_rejected_connections_total",
	        "WebSocket handshakes refused (limits, origin).", "counter",
	        m->rejected_connections_total);
	counter(f, "confab_sd_notify_dropped_total",
	        "STATUS= and WATCHDOG=1 lines not sent because the service manager's notify socket "
	        "was full.",
	        "counter", m->sd_notify_dropped_total);
	counter(f, "confab_http_requests_total", "Plain HTTP requests served.", "counter",
	        m->http_requests_total);
	counter(f, "confab_messages_in_total", "Messages ordered by the bus.", "counter",
	        m->messages_in_total);
	counter(f, "confab_deliveries_total", "Events written to sessions.", "counter",
	        m->deliveries_total);
	counter(f, "confab_bytes_in_total", "WebSocket payload bytes received.", "counter",
	        m->bytes_in_total);
	counter(f, "confab_bytes_out_total",
	        "Bytes written to WebSocket sessions (before permessage-deflate).", "counter",
	        m->bytes_out_total);
	counter(f, "confab_drops_total", "Queued events dropped when a slow session was closed.",
	        "counter", m->drops_total);
	counter(f, "confab_slow_consumer_closes_total", "Sessions closed with 4008.", "counter",
	        m->slow_consumer_closes_total);
	counter(f, "confab_rate_limited_total", "Sends refused by the rate limit.", "counter",
	        m->rate_limited_total);
	counter(f, "confab_auth_hashes_total",
	        "Password hashes and checks run, a login for an unknown name included.", "counter",
	        m->auth_hashes_total);
	counter(f, "confab_auth_delayed_total",
	        "Logins held back by auth.failure_delay (auth.failures_per_name reached).",
	        "counter", m->auth_delayed_total);
	counter(f, "confab_auth_jwt_refused_total",
	        "Application tokens (JWT) refused at hello: forged, expired, another algorithm, "
	        "audience or issuer, or claims breaking their rules.",
	        "counter", m->auth_jwt_refused_total);
	counter(f, "confab_rules_removed_total",
	        "Room members removed by a change of the room's rules: kicks, bans, and rules they "
	        "no longer meet.",
	        "counter", m->rules_removed_total);
	counter(f, "confab_rate_limit_closes_total", "Sessions closed with 4029.", "counter",
	        m->rate_limit_closes_total);
	counter(f, "confab_join_limited_total",
	        "Room joins refused by rooms.join_rate or rooms.join_rate_per_ip.", "counter",
	        m->join_limited_total);
	counter(f, "confab_room_quota_total",
	        "Rooms not created: their address held rooms.max_rooms_per_ip rooms.", "counter",
	        m->room_quota_total);
	counter(f, "confab_room_create_limited_total",
	        "POST /chat refused by rooms.create_rate_per_ip.", "counter",
	        m->create_limited_total);
	counter(f, "confab_inbox_limited_total",
	        "Direct messages not kept because their sender's address reached inbox.max_per_ip.",
	        "counter", m->inbox_limited_total);
	counter(f, "confab_typing_total", "Typing events accepted from this node's sessions.",
	        "counter", m->typing_total);
	counter(f, "confab_typing_limited_total",
	        "Typing events refused by rooms.typing_rate or rooms.typing_rate_per_ip.",
	        "counter", m->typing_limited_total);
	counter(f, "confab_frame_too_big_total", "Sessions closed with 1009.", "counter",
	        m->frame_too_big_total);
	if (m->redis_mode) {
		int n = m->redis_shards < 1                   ? 1
		        : m->redis_shards > CF_METRICS_SHARDS ? CF_METRICS_SHARDS
		                                              : m->redis_shards;
		uint64_t up = 1, reconnects = 0;

		for (int i = 0; i < n; i++) {
			up &= m->redis_shard_up[i] != 0;
			reconnects += m->redis_shard_reconnects[i];
		}
		counter(f, "confab_redis_up", "1 while the Redis links are up (of every shard).",
		        "gauge", up);
		counter(f, "confab_redis_reconnects_total", "Times the Redis links came back.",
		        "counter", reconnects);
		if (n > 1) {
			fputs("# HELP confab_redis_shard_up 1 while the shard's Redis links are "
			      "up.\n"
			      "# TYPE confab_redis_shard_up gauge\n",
			      f);
			for (int i = 0; i < n; i++)
				fprintf(f, "confab_redis_shard_up{shard=\"%d\"} %d\n", i,
				        m->redis_shard_up[i] != 0);
			fputs("# HELP confab_redis_shard_reconnects_total Times the shard's Redis "
			      "links "
			      "came back.\n# TYPE confab_redis_shard_reconnects_total counter\n",
			      f);
			for (int i = 0; i < n; i++)
				fprintf(f,
				        "confab_redis_shard_reconnects_total{shard=\"%d\"} %llu\n",
				        i, (unsigned long long)m->redis_shard_reconnects[i]);
		}
		counter(f, "confab_redis_resyncs_total", "Room catch-ups read from the room logs.",
		        "counter", m->redis_resyncs_total);
		counter(f, "confab_redis_unavailable_total",
		        "Sends answered unavailable because Redis was unreachable.", "counter",
		        m->redis_unavailable_total);
	}
	counter(f, "confab_inbox_queued_total",
	        "Direct messages kept in an inbox because their user had no session.", "counter",
	        m->inbox_queued_total);
	counter(f, "confab_inbox_delivered_total", "Kept direct messages delivered to a session.",
	        "counter", m->inbox_delivered_total);
	fprintf(f,
	        "# HELP confab_inbox_dropped_total Kept direct messages dropped (or refused), by "
	        "reason.\n# TYPE confab_inbox_dropped_total counter\n"
	        "confab_inbox_dropped_total{reason=\"max_messages\"} %llu\n"
	        "confab_inbox_dropped_total{reason=\"max_bytes\"} %llu\n"
	        "confab_inbox_dropped_total{reason=\"expired\"} %llu\n"
	        "confab_inbox_dropped_total{reason=\"max_users\"} %llu\n",
	        (unsigned long long)m->inbox_dropped_count,
	        (unsigned long long)m->inbox_dropped_bytes,
	        (unsigned long long)m->inbox_dropped_expired,
	        (unsigned long long)m->inbox_dropped_users);
	if (!m->redis_mode) {
		counter(f, "confab_inbox_users", "Users with kept direct messages now.", "gauge",
		        (uint64_t)m->inbox_users);
		counter(f, "confab_inbox_messages", "Kept direct messages now.", "gauge",
		        (uint64_t)m->inbox_messages);
	}
	hist(f, "confab_queue_depth", "Session queue depth (events) at enqueue.", &m->queue_depth);
	hist(f, "confab_delivery_latency_seconds", "From bus ordering to lws_write.",
	     &m->delivery_latency);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
