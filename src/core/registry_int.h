/* SPDX-License-Identifier: MIT */
/* registry_int.h - what the registry's files (room.c, addr.c, user.c, typing.c) share and
 * nothing else sees. */
#pragma once

#include <stdint.h>

struct cf_registry;

/* The entry of a client address, created (with full buckets) if there was none. NULL on OOM. */
struct cf_addr *cf_registry_addr(struct cf_registry *reg, const char *ip);
/* An address that holds no room and whose buckets have refilled is the same as none: forgotten,
 * so the table holds only addresses active within the last join_burst_per_ip /
 * join_rate_per_ip seconds (typing_burst_per_ip / typing_rate_per_ip for typing events, a
 * minute for POST /chat, inbox.ttl for kept messages), or holding rooms (at most
 * rooms.max_rooms of those). */
void cf_registry_addr_sweep(struct cf_registry *reg, uint64_t now);
