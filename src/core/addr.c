/* SPDX-License-Identifier: MIT */
/* addr.c - the registry's client addresses (struct cf_addr, room.h): what bounds one address
 * across its sessions and requests, the rooms its joins created (rooms.max_rooms_per_ip) and its
 * buckets for joins, POST /chat, kept direct messages and typing events. An entry lives while it
 * holds a room or one of its buckets is not full again, so the table holds only recently active
 * addresses and room holders. */
#include "core/registry_int.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "config/config.h"
#include "core/msg.h"
#include "core/room.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct cf_addr *
cf_registry_addr(struct cf_registry *reg, const char *ip)
{
	struct cf_addr *a;

	HASH_FIND_STR(reg->addrs, ip, a);
	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->ip, sizeof(a->ip), "%s", ip);
	cf_bucket_init(&a->joins, reg->cfg->join_burst_per_ip, cf_now_us());
	cf_bucket_init(&a->creates, reg->cfg->create_rate_per_ip, cf_now_us() / 60);
	cf_bucket_init(&a->keeps, reg->cfg->inbox_max_per_ip, cf_now_us());
	cf_bucket_init(&a->typing, reg->cfg->typing_burst_per_ip, cf_now_us());
	HASH_ADD_STR(reg->addrs, ip, a);
	reg->naddrs++;
	return a;
}

void
cf_registry_addr_sweep(struct cf_registry *reg, uint64_t now)
{
	const struct cf_config *cfg = reg->cfg;
	struct cf_addr *a, *tmp;

	HASH_ITER(hh, reg->addrs, a, tmp)
	{
		if (!a->rooms &&
		    cf_bucket_full(&a->joins, cfg->join_rate_per_ip, cfg->join_burst_per_ip, now) &&
		    cf_bucket_full(&a->creates, cfg->create_rate_per_ip, cfg->create_rate_per_ip,
		                   now / 60) &&
		    cf_bucket_full_window(&a->keeps, cfg->inbox_max_per_ip, cfg->inbox_ttl, now) &&
		    cf_bucket_full(&a->typing, cfg->typing_rate_per_ip, cfg->typing_burst_per_ip,
		                   now)) {
			HASH_DEL(reg->addrs, a);
			free(a);
			reg->naddrs--;
		}
	}
}

int
cf_registry_create_take(struct cf_registry *reg, const char *ip)
{
	int rate = reg->cfg->create_rate_per_ip;
	struct cf_addr *a = cf_registry_addr(reg, ip);

	if (!a)
		return -ENOMEM;
	if (!cf_bucket_take(&a->creates, rate, rate, cf_now_us() / 60)) {
		cf_metrics.create_limited_total++;
		return -EBUSY;
	}
	return 0;
}

int
cf_registry_keep_take(struct cf_registry *reg, const char *ip)
{
	const struct cf_config *cfg = reg->cfg;
	struct cf_addr *a;

	if (!ip)
		return 0;
	if (!(a = cf_registry_addr(reg, ip)))
		return -ENOMEM;
	if (!cf_bucket_take_window(&a->keeps, cfg->inbox_max_per_ip, cfg->inbox_ttl, cf_now_us())) {
		cf_metrics.inbox_limited_total++;
		return -EDQUOT;
	}
	return 0;
}

void
cf_registry_keep_refund(struct cf_registry *reg, const char *ip)
{
	struct cf_addr *a;

	if (!ip)
		return;
	HASH_FIND_STR(reg->addrs, ip, a);
	if (a)
		cf_bucket_refund(&a->keeps, reg->cfg->inbox_max_per_ip);
}

void
cf_registry_keep_charge(struct cf_registry *reg, const char *ip, struct cf_msg *m)
{
	int r;

	if (!m->keep)
		return;
	r = cf_registry_keep_take(reg, ip);
	if (r == -EDQUOT) {
		m->keep = m->keep_acct = 0;
		m->keep_quota = CF_KEEP_REFUSED;
	} else if (r == 0 && ip) {
		m->keep_quota = CF_KEEP_CHARGED;
	}
}

void
cf_registry_keep_settle(struct cf_registry *reg, const char *ip, const struct cf_msg *m, int err)
{
	if (m->keep_quota == CF_KEEP_CHARGED && !(err == 0 && m->queued))
		cf_registry_keep_refund(reg, ip);
}
