/* SPDX-License-Identifier: MIT */
/* redis_url.c - where Redis is, as the configuration says it (see redis_url.h): parsing
 * redis.url into a target, and the URL masked for anything that prints it. Pure functions,
 * apart from the connection (redis.c) so that the configuration's validation (config.c) can
 * use them without depending on the connection. */
#define _GNU_SOURCE /* memrchr */
#include "base/redis_url.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends n bytes of s at *o in out (outlen bytes), always leaving room for the NUL. */
static void
put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
	if (*o + 1 >= outlen)
		return;
	if (n > outlen - 1 - *o)
		n = outlen - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
}

#define HIDDEN "(hidden)"

void
cf_redis_url_mask(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://"), *start = scheme ? scheme + 3 : url, *at = NULL;
	const char *q, *p, *end = url + strlen(url);
	int unix_url = !strncmp(url, "unix:", 5);
	size_t o = 0;

	if (!outlen)
		return;
	/* The last '@': a password may hold '@' and '/' unescaped (then the parser refuses the
	 * URL, and its error must not repeat the password either). */
	for (p = start; *p; p++)
		if (*p == '@' && !(unix_url && memchr(start, '/', (size_t)(p - start))))
			at = p;
	q = strchr(at ? at : start, '?');
	put(out, outlen, &o, url, (size_t)(start - url));
	if (at) {
		const char *colon = memchr(start, ':', (size_t)(at - start));

		if (colon)
			put(out, outlen, &o, start, (size_t)(colon + 1 - start));
		put(out, outlen, &o, HIDDEN, strlen(HIDDEN));
		start = at;
	}
	put(out, outlen, &o, start, (size_t)((q ? q : end) - start));
	/* Query parameters: their names, and the value of db; any other value may be a
	 * password (?password= is how some clients take it). */
	for (p = q; p && p < end;) {
		const char *amp = strchr(p + 1, '&'), *e = amp ? amp : end;
		const char *eq = memchr(p + 1, '=', (size_t)(e - p - 1));

		if (!eq || (eq - p - 1 == 2 && !strncmp(p + 1, "db", 2))) {
			put(out, outlen, &o, p, (size_t)(e - p));
		} else {
			put(out, outlen, &o, p, (size_t)(eq + 1 - p));
			put(out, outlen, &o, HIDDEN, strlen(HIDDEN));
		}
		p = e;
	}
	out[o] = '\0';
}

/* Not lws_urldecode(): that reads '+' as a space (form encoding; in a URL's user info '+' is
 * itself, and passwords hold it), fails on "%zz" and drops a trailing "%4" where this keeps a
 * '%' without two hex digits as it is, and truncates silently where this refuses. */
static int
pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			c = (char)strtol(hex, NULL, 16);
			i += 2;
		}
		if (o + 1 >= outlen)
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* "host", "host:port", "[v6]" or "[v6]:port" of n bytes. */
static int
parse_hostport(const char *s, size_t n, char *host, size_t hlen, int *port)
{
	const char *e = s + n, *hs = s, *he, *colon = NULL;
	char buf[8], *end;
	long p;

	if (n && s[0] == '[') {
		he = memchr(s, ']', n);
		if (!he)
			return -EINVAL;
		hs = s + 1;
		if (he + 1 < e) {
			if (he[1] != ':')
				return -EINVAL;
			colon = he + 1;
		}
	} else {
		colon = memchr(s, ':', n);
		if (colon && memchr(colon + 1, ':', (size_t)(e - colon - 1)))
			return -EINVAL; /* a bare IPv6 address needs brackets */
		he = colon ? colon : e;
	}
	if (he == hs || (size_t)(he - hs) >= hlen)
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (!colon)
		return 0;
	if (e - colon - 1 < 1 || (size_t)(e - colon - 1) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, colon + 1, (size_t)(e - colon - 1));
	buf[e - colon - 1] = '\0';
	p = strtol(buf, &end, 10);
	if (*end || p < 1 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

static int
parse_db(const char *s, int *db)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > 100000)
		return -EINVAL;
	*db = (int)v;
	return 0;
}

int
cf_redis_parse_url(const char *url, struct cf_redis_target *t, char *err, size_t errlen)
{
	const char *p, *at, *slash, *end;
	char url_shown[512]; /* the URL as errors repeat it: its password masked */

	cf_redis_url_mask(url, url_shown, sizeof(url_shown));
	memset(t, 0, sizeof(*t));
	t->port = 6379;
	if (!strncmp(url, "unix://", 7) || !strncmp(url, "unix:", 5)) {
		const char *path = url + (url[5] == '/' && url[6] == '/' ? 7 : 5);
		const char *q = strchr(path, '?');
		size_t n = q ? (size_t)(q - path) : strlen(path);

		t->kind = CF_REDIS_UNIX;
		if (!n || path[0] != '/' || n >= sizeof(t->path)) {
			snprintf(err, errlen, "'%s': a unix socket URL needs an absolute path",
			         url_shown);
			return -EINVAL;
		}
		memcpy(t->path, path, n);
		if (q && (strncmp(q, "?db=", 4) || parse_db(q + 4, &t->db) < 0)) {
			snprintf(err, errlen, "'%s': expected ?db=N after the path", url_shown);
			return -EINVAL;
		}
		return 0;
	}
	if (!strncmp(url, "redis://", 8)) {
		t->kind = CF_REDIS_TCP;
		p = url + 8;
	} else if (!strncmp(url, "sentinel://", 11)) {
		t->kind = CF_REDIS_SENTINEL;
		t->port = 0;
		p = url + 11;
	} else if (strstr(url, "://")) {
		snprintf(err, errlen, "'%s': scheme must be redis://, unix:// or sentinel://",
		         url_shown);
		return -EINVAL;
	} else {
		t->kind = CF_REDIS_TCP; /* bare host:port */
		p = url;
	}
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	at = memrchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *pw = colon ? colon + 1 : p;

		if (colon && pct_decode(p, (size_t)(colon - p), t->user, sizeof(t->user)) < 0)
			goto bad;
		if (pct_decode(pw, (size_t)(at - pw), t->password, sizeof(t->password)) < 0)
			goto bad;
		p = at + 1;
	}
	if (t->kind == CF_REDIS_SENTINEL) {
		const char *s = p;

		while (s < end) {
			const char *comma = memchr(s, ',', (size_t)(end - s));
			const char *e = comma ? comma : end;

			if (t->nsentinels == CF_REDIS_SENTINELS_MAX) {
				snprintf(err, errlen, "'%s': at most %d sentinels", url_shown,
				         CF_REDIS_SENTINELS_MAX);
				return -EINVAL;
			}
			t->sentinels[t->nsentinels].port = 26379;
			if (parse_hostport(s, (size_t)(e - s), t->sentinels[t->nsentinels].host,
			                   sizeof(t->sentinels[0].host),
			                   &t->sentinels[t->nsentinels].port) < 0)
				goto bad;
			t->nsentinels++;
			s = e + 1;
		}
		if (!t->nsentinels || !slash || !slash[1]) {
			snprintf(err, errlen,
			         "'%s': expected sentinel://host:port[,host:port]/master",
			         url_shown);
			return -EINVAL;
		}
		{
			const char *m = slash + 1, *s2 = strchr(m, '/');
			size_t n = s2 ? (size_t)(s2 - m) : strlen(m);

			if (!n || n >= sizeof(t->master))
				goto bad;
			memcpy(t->master, m, n);
			if (s2 && parse_db(s2 + 1, &t->db) < 0)
				goto bad;
		}
		return 0;
	}
	if (parse_hostport(p, (size_t)(end - p), t->host, sizeof(t->host), &t->port) < 0)
		goto bad;
	if (slash && slash[1] && parse_db(slash + 1, &t->db) < 0)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen,
	         "'%s' is not a Redis URL (redis://[user:password@]host:port/db, unix:///path?db=N "
	         "or sentinel://host:port[,host:port]/master)",
	         url_shown);
	return -EINVAL;
}

int
cf_redis_target_id(const struct cf_redis_target *t, char *out, size_t outlen)
{
	int n;

	switch (t->kind) {
	case CF_REDIS_UNIX:
		n = snprintf(out, outlen, "unix:%s/%d", t->path, t->db);
		break;
	case CF_REDIS_SENTINEL:
		n = snprintf(out, outlen, "sentinel:%s/%d", t->master, t->db);
		break;
	default:
		n = snprintf(out, outlen, "tcp:%s:%d/%d", t->host, t->port, t->db);
		break;
	}
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* FNV-1a, 64 bits, continued from h. */
static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* splitmix64's finaliser: FNV's low bits mix poorly, the weights must not. */
static uint64_t
mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t
cf_redis_shard_seed(const char *id)
{
	return fnv1a(0xcbf29ce484222325ULL, id);
}

size_t
cf_redis_shard_pick(const uint64_t *seeds, size_t n, const char *name)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, name), best = 0;
	size_t pick = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t w = mix(seeds[i] ^ h);

		if (i == 0 || w > best) {
			best = w;
			pick = i;
		}
	}
	return pick;
}
