/* SPDX-License-Identifier: MIT */
/* auth_limits.h - how many password attempts a client may make: token buckets per client
 * address, per account name from one address, and per name from anywhere for failed logins
 * (the slow-down), their rates read from the configuration at each call (reloadable). */
#pragma once

#include <stdint.h>

struct cf_config;
struct cf_auth_limit;

struct cf_auth_limits {
	const struct cf_config *cfg; /* borrowed */
	struct cf_auth_limit *table;
	uint32_t n;
};

/* Takes one attempt for ip and (if not NULL) name: 0, or -EAGAIN when either is above
 * auth.attempts_per_ip / attempts_per_name (or the table is full). */
int cf_auth_limits_attempt(struct cf_auth_limits *t, const char *ip, const char *name);
/* A failed login for name (wrong password, or no such account): charges its slow-down. */
void cf_auth_limits_failed(struct cf_auth_limits *t, const char *name);
/* Whether name's slow-down is empty (logins for it wait auth.failure_delay): 1 or 0. */
int cf_auth_limits_slowed(struct cf_auth_limits *t, const char *name);
/* Whether ip's attempts bucket is empty (not charged here): an application token from it is
 * then refused before its signature costs anything. 1 or 0. */
int cf_auth_limits_spent(struct cf_auth_limits *t, const char *ip);
void cf_auth_limits_clear(struct cf_auth_limits *t);
