/* SPDX-License-Identifier: MIT */
/* bus_redis_notice.c - the operator's notice to every session of the cluster (bus.h notice).
 *
 * One PUBLISH of {"x":text,"t":ms} on the channel <prefix>notice, which every node subscribes
 * to while its link is up (on shard 0 with redis.shards: the notice is the cluster's, not a
 * name's); each node, the sender included, hands it to its sessions. Nothing is kept: a node
 * whose link is down meanwhile misses it. What arrives is hostile: parsed strictly, the text
 * bounded as the admin API bounds it (limits.max_text). */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"

int
cf_bus_redis_notice_channel(const struct bus_redis *b, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%snotice", b->cfg->redis_prefix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void
cf_bus_redis_on_notice(struct bus_redis *b, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	const char *x;
	size_t xl;
	json_int_t t;

	if (!o || json_unpack(o, "{s:s%,s:I}", "x", &x, &xl, "t", &t) < 0 || !xl ||
	    xl > (size_t)b->cfg->max_text || strlen(x) != xl || t <= 0) {
		log_warn("redis: ignoring a malformed notice");
		json_decref(o);
		return;
	}
	if (b->bus.host.notice)
		b->bus.host.notice(b->bus.host.ud, x, (int64_t)t);
	json_decref(o);
}

int
cf_bus_redis_notice(struct cf_bus *bus, const char *text, int64_t ts_ms)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];

	if (!cf_redis_is_up(b->redis))
		return -ENOTCONN;
	if (cf_bus_redis_notice_channel(b, ch, sizeof(ch)) < 0)
		return -ENAMETOOLONG;
	return cf_bus_redis_publish_json(b, ch,
	                                 json_pack("{s:s,s:I}", "x", text, "t", (json_int_t)ts_ms));
}
