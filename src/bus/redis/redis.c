/* SPDX-License-Identifier: MIT */
/* redis.c - the Redis connection of cluster mode (see redis.h).
 *
 * Each link is a hiredis async context attached to the lws loop by redis_lws.c.
 *
 * hiredis 0.14 has no timeouts and resolves names with a blocking getaddrinfo(), so this file
 * keeps its own: one watchdog timer checks the connect deadline, the oldest outstanding
 * command and the heartbeat, and names are resolved with getaddrinfo_a(), polled from the
 * same timer. Any failure drops both links and retries after a jittered, growing delay. */
#define _GNU_SOURCE
#include "bus/redis/redis.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/redis/redis_lws_int.h"
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <hiredis/async.h>

enum phase {
	PH_WAIT,     /* backoff before the next attempt */
	PH_RESOLVE,  /* getaddrinfo_a in flight */
	PH_SENTINEL, /* asking a Sentinel for the master */
	PH_CONNECT,  /* links opening, AUTH/SELECT, heartbeat not yet seen */
	PH_UP,
	PH_CLOSED,
};

enum role { ROLE_CMD, ROLE_SUB, ROLE_SENTINEL };

struct link {
	struct cf_redis *r;
	enum role role;
	redisAsyncContext *ac; /* NULL when not connected; ac->data points back here */
	int ready;             /* AUTH/SELECT answered OK */
};

/* One command in flight on the command link, oldest first (Redis answers in order). */
struct pending {
	struct lws_dll2 list;
	cf_redis_reply_cb *cb;
	void *privdata;
	uint64_t sent_us;
};

struct cf_redis {
	unsigned shard; /* its metrics' index */
	struct lws_vhost *vh;
	struct lws_context *ctx;
	const struct cf_config *cfg; /* borrowed */
	struct cf_redis_target t;
	struct cf_redis_events ev;
	enum phase phase;
	struct link cmd, sub, sentinel;
	struct lws_dll2_owner pending; /* struct pending on the command link */
	char hb_channel[256];
	uint64_t hb_sent, hb_seen; /* heartbeat counters */
	uint64_t hb_seen_us, hb_sent_us, phase_us;
	lws_sorted_usec_list_t sul_watch, sul_retry;
	uint32_t attempts; /* failed attempts in a row, for the backoff */
	uint64_t reconnects;
	int was_up, hb_ok;
	int sentinel_idx;
	/* Name resolution in flight. */
	struct gaicb gai;
	struct addrinfo gai_hints;
	int gai_busy;
	char gai_host[256];
	/* The address being connected to (numeric). */
	char addr[INET6_ADDRSTRLEN];
	int port;
	char status[300];
	int logged_down; /* the current outage has been logged at warn */
};

static void link_drop(struct cf_redis *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static const char *
role_name(enum role role)
{
	return role == ROLE_CMD ? "command" : role == ROLE_SUB ? "subscriber" : "sentinel";
}
static void attempt(struct cf_redis *r);

int
cf_redis_target_from_config(const struct cf_config *cfg, struct cf_redis_target *t, char *err,
                            size_t errlen)
{
	return cf_redis_target_from_url(cfg, cfg->redis_url, "redis.url", t, err, errlen);
}

int
cf_redis_target_from_url(const struct cf_config *cfg, const char *url, const char *what,
                         struct cf_redis_target *t, char *err, size_t errlen)
{
	char why[300];
	int r = cf_redis_parse_url(url, t, why, sizeof(why));

	if (r < 0) {
		snprintf(err, errlen, "%s: %s", what, why);
		return r;
	}
	if (t->password[0])
		return 0;
	if (cfg->redis_password[0]) {
		snprintf(t->password, sizeof(t->password), "%s", cfg->redis_password);
		return 0;
	}
	if (cfg->redis_password_file[0]) {
		r = cf_config_read_secret(cfg->redis_password_file, t->password,
		                          sizeof(t->password), why, sizeof(why));
		if (r < 0)
			snprintf(err, errlen, "redis.password_file: %s", why);
		return r;
	}
	{
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		char path[512];

		if (!dir)
			return 0;
		snprintf(path, sizeof(path), "%s/redis-password", dir);
		if (access(path, R_OK) < 0)
			return 0;
		r = cf_config_read_secret(path, t->password, sizeof(t->password), why, sizeof(why));
		if (r < 0)
			snprintf(err, errlen, "credential redis-password: %s", why);
		return r;
	}
}

/* ---- links ----------------------------------------------------------------------------- */

static void
free_ctx(struct link *l)
{
	redisAsyncContext *ac = l->ac;

	l->ready = 0;
	if (!ac)
		return;
	/* Forget it first: the NULL replies redisAsyncFree runs must see a dead link. Inside a
	 * hiredis callback the free happens when the callback returns. */
	l->ac = NULL;
	redisAsyncFree(ac);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees ac after this returns (not inside a callback as far as
		 * redisAsyncFree knows): it must not be freed here. */
		if (l->ac != ac)
			return;
		l->ac = NULL;
		link_drop(l->r, "connecting the %s link to %s:%d: %s", role_name(l->role),
		          l->r->addr, l->r->port, ac->errstr);
		return;
	}
	if (l->r->t.kind != CF_REDIS_UNIX)
		redisEnableKeepAlive((redisContext *)&ac->c);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	struct link *l = ac->data;

	(void)status;
	if (l->ac != ac)
		return; /* we freed it */
	l->ac = NULL;   /* hiredis frees it after this */
	link_drop(l->r, "%s link lost: %s", role_name(l->role), ac->err ? ac->errstr : "closed");
}

/* lws closed a link's socket (hangup, or the context is going). */
static void
on_fd_closed(redisAsyncContext *ac)
{
	struct link *l = ac->data;

	if (l && l->ac == ac)
		link_drop(l->r, "%s link closed", role_name(l->role));
}

static int
link_open(struct cf_redis *r, struct link *l, const char *addr, int port)
{
	redisAsyncContext *ac;

	l->r = r;
	l->ready = 0;
	if (r->t.kind == CF_REDIS_UNIX && l->role != ROLE_SENTINEL)
		ac = redisAsyncConnectUnix(r->t.path);
	else
		ac = redisAsyncConnect(addr, port); /* addr is numeric: no DNS on the loop */
	if (!ac)
		return -ENOMEM;
	if (ac->err) {
		log_debug("redis: %s link: %s", role_name(l->role), ac->errstr);
		redisAsyncFree(ac);
		return -ECONNREFUSED;
	}
	if (cf_redis_lws_attach(r->vh, ac, on_fd_closed) < 0) {
		redisAsyncFree(ac); /* no hooks yet: hiredis closes the fd */
		return -ENOMEM;
	}
	l->ac = ac;
	ac->data = l;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	return 0;
}

/* ---- state ----------------------------------------------------------------------------- */

static void
set_phase(struct cf_redis *r, enum phase ph)
{
	r->phase = ph;
	r->phase_us = cf_now_us();
	cf_metrics.redis_shard_up[r->shard] = ph == PH_UP;
}

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_redis *r = lws_container_of(sul, struct cf_redis, sul_retry);

	if (r->phase == PH_WAIT)
		attempt(r);
}

static void
schedule_retry(struct cf_redis *r)
{
	uint64_t lo = (uint64_t)r->cfg->redis_reconnect_min,
	         hi = (uint64_t)r->cfg->redis_reconnect_max;
	uint64_t d = lo, j = 0;

	for (uint32_t i = 1; i < r->attempts && d < hi; i++)
		d *= 2;
	if (d > hi)
		d = hi;
	/* Full jitter in the upper half: nodes that lost Redis together do not return together. */
	(void)!getrandom(&j, sizeof(j), GRND_NONBLOCK);
	d = d / 2 + (d / 2 ? j % (d / 2 + 1) : 0);
	set_phase(r, PH_WAIT);
	lws_sul_schedule(r->ctx, 0, &r->sul_retry, retry_cb, (lws_usec_t)d * 1000);
}

static void
link_drop(struct cf_redis *r, const char *fmt, ...)
{
	enum phase was = r->phase;
	va_list ap;

	if (was == PH_WAIT || was == PH_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(r->status, sizeof(r->status), fmt, ap);
	va_end(ap);
	/* Leave PH_UP first: callbacks run by the frees below must not send more. */
	set_phase(r, PH_WAIT);
	free_ctx(&r->sentinel);
	free_ctx(&r->cmd);
	free_ctx(&r->sub);
	r->attempts++;
	if (was == PH_UP) {
		log_warn("redis: %s; reconnecting", r->status);
		r->logged_down = 1;
	} else if (!r->logged_down) {
		log_warn("redis: %s; retrying", r->status);
		r->logged_down = 1;
	} else {
		log_debug("redis: %s", r->status);
	}
	if (was == PH_UP && r->ev.down)
		r->ev.down(r->ev.ud, r->status);
	schedule_retry(r);
}

static void
become_up(struct cf_redis *r)
{
	set_phase(r, PH_UP);
	if (r->was_up)
		r->reconnects++;
	r->was_up = 1;
	cf_metrics.redis_shard_reconnects[r->shard] = r->reconnects;
	r->attempts = 0;
	r->logged_down = 0;
	snprintf(r->status, sizeof(r->status), "up");
	log_info("redis: connected to %s%s%s:%d db %d", r->t.kind == CF_REDIS_UNIX ? r->t.path : "",
	         r->t.kind == CF_REDIS_UNIX ? " " : "", r->t.kind == CF_REDIS_UNIX ? "" : r->addr,
	         r->t.kind == CF_REDIS_UNIX ? 0 : r->port, r->t.db);
	if (r->ev.up)
		r->ev.up(r->ev.ud);
}

static int
send_raw(struct link *l, redisCallbackFn *fn, void *pd, int argc, const char **argv,
         const size_t *argvlen)
{
	if (!l->ac || redisAsyncCommandArgv(l->ac, fn, pd, argc, argv, argvlen) != REDIS_OK)
		return -ENOTCONN;
	return 0;
}

static void
send_heartbeat(struct cf_redis *r)
{
	char n[24];
	const char *argv[] = {"PUBLISH", r->hb_channel, n};

	snprintf(n, sizeof(n), "%llu", (unsigned long long)++r->hb_sent);
	r->hb_sent_us = cf_now_us();
	(void)cf_redis_cmd(r, NULL, NULL, 3, argv, NULL);
}

static int
reply_error(const redisReply *rep, char *buf, size_t len)
{
	if (!rep) {
		snprintf(buf, len, "no reply");
		return 1;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		snprintf(buf, len, "%s", rep->str);
		return 1;
	}
	return 0;
}

/* Up once both links are past AUTH/SELECT and a heartbeat made the round trip. */
static void
maybe_up(struct cf_redis *r)
{
	if (r->phase == PH_CONNECT && r->cmd.ready && r->sub.ready && r->hb_ok)
		become_up(r);
}

static char setup_last; /* privdata marking the last setup command of a link */

/* The replies to the AUTH/SELECT that open each link. */
static void
on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct link *l = ac->data;
	char why[256];

	if (!reply || l->ac != ac)
		return; /* the link is going away */
	if (reply_error(reply, why, sizeof(why))) {
		/* Never log the password; Redis's message names the problem. */
		link_drop(l->r, "%s link setup refused: %s", role_name(l->role), why);
		return;
	}
	if (privdata == &setup_last) {
		l->ready = 1;
		maybe_up(l->r);
	}
}

/* Everything the subscriber link receives after SUBSCRIBE: confirmations and messages. */
static void
on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct link *l = ac->data;
	struct cf_redis *r = l->r;
	redisReply *rep = reply;
	const redisReply *kind, *ch;

	(void)privdata;
	if (!rep || l->ac != ac || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
		return;
	kind = rep->element[0];
	ch = rep->element[1];
	if (kind->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING)
		return;
	if (ch->len == strlen(r->hb_channel) && !memcmp(ch->str, r->hb_channel, ch->len)) {
		if (!strcmp(kind->str, "message")) {
			r->hb_seen = strtoull(rep->element[2]->str, NULL, 10);
			r->hb_seen_us = cf_now_us();
			r->hb_ok = 1;
			maybe_up(r);
		} else if (!strcmp(kind->str, "subscribe") && r->phase == PH_CONNECT) {
			send_heartbeat(r); /* proves the whole path before we call it up */
		}
		return;
	}
	if (r->phase != PH_UP || !r->ev.message)
		return;
	if (!strcmp(kind->str, "message") && rep->element[2]->type == REDIS_REPLY_STRING)
		r->ev.message(r->ev.ud, ch->str, ch->len, rep->element[2]->str,
		              rep->element[2]->len);
	else if (!strcmp(kind->str, "subscribe"))
		r->ev.message(r->ev.ud, ch->str, ch->len, NULL, 0);
}

static void
open_links(struct cf_redis *r)
{
	char db[16];
	const char *auth[3] = {"AUTH"}, *sel[2] = {"SELECT", db};
	const char *subv[2] = {"SUBSCRIBE", r->hb_channel};
	int na = 0, rc;

	set_phase(r, PH_CONNECT);
	if (r->t.password[0]) {
		if (r->t.user[0])
			auth[++na] = r->t.user;
		auth[++na] = r->t.password;
		na++;
	}
	snprintf(db, sizeof(db), "%d", r->t.db);
	r->cmd.role = ROLE_CMD;
	r->sub.role = ROLE_SUB;
	rc = link_open(r, &r->cmd, r->addr, r->port);
	if (!rc)
		rc = link_open(r, &r->sub, r->addr, r->port);
	if (rc < 0) {
		link_drop(r, "cannot connect to %s:%d: %s",
		          r->t.kind == CF_REDIS_UNIX ? r->t.path : r->addr, r->port, strerror(-rc));
		return;
	}
	/* Pipelined behind the connect: the first replies say whether we may talk at all. */
	r->hb_ok = 0;
	if (na) {
		(void)send_raw(&r->cmd, on_setup_reply, NULL, na, auth, NULL);
		(void)send_raw(&r->sub, on_setup_reply, NULL, na, auth, NULL);
	}
	(void)send_raw(&r->cmd, on_setup_reply, &setup_last, 2, sel, NULL);
	(void)send_raw(&r->sub, on_setup_reply, &setup_last, 2, sel, NULL);
	(void)send_raw(&r->sub, on_sub_reply, NULL, 2, subv, NULL);
}

/* ---- resolution and Sentinel ------------------------------------------------------------ */

static int
is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void resolved(struct cf_redis *r, const char *addr);

static void
resolve(struct cf_redis *r, const char *host, int port)
{
	struct gaicb *list[1] = {&r->gai};
	int rc;

	r->port = port;
	if (is_numeric(host)) {
		resolved(r, host);
		return;
	}
	set_phase(r, PH_RESOLVE);
	snprintf(r->gai_host, sizeof(r->gai_host), "%s", host);
	memset(&r->gai, 0, sizeof(r->gai));
	memset(&r->gai_hints, 0, sizeof(r->gai_hints));
	r->gai_hints.ai_family = AF_UNSPEC;
	r->gai_hints.ai_socktype = SOCK_STREAM;
	r->gai.ar_name = r->gai_host;
	r->gai.ar_request = &r->gai_hints;
	rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (rc) {
		link_drop(r, "resolving %s: %s", host, gai_strerror(rc));
		return;
	}
	r->gai_busy = 1;
}

/* Called from the watchdog while a resolution is in flight. */
static void
poll_resolve(struct cf_redis *r)
{
	int rc = gai_error(&r->gai);
	char addr[INET6_ADDRSTRLEN];
	struct addrinfo *ai;

	if (rc == EAI_INPROGRESS)
		return;
	r->gai_busy = 0;
	if (rc) {
		if (r->gai.ar_result)
			freeaddrinfo(r->gai.ar_result);
		r->gai.ar_result = NULL;
		link_drop(r, "resolving %s: %s", r->gai_host, gai_strerror(rc));
		return;
	}
	ai = r->gai.ar_result;
	if (ai->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr,
		          sizeof(addr));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr,
		          sizeof(addr));
	freeaddrinfo(r->gai.ar_result);
	r->gai.ar_result = NULL;
	resolved(r, addr);
}

static void
on_sentinel_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct link *l = ac->data;
	struct cf_redis *r = l->r;
	redisReply *rep = reply;
	char host[256];
	int port;

	(void)privdata;
	if (!rep || l->ac != ac || r->phase != PH_SENTINEL)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_STRING) {
		/* This sentinel does not know the master: ask the next one next time. */
		r->sentinel_idx = (r->sentinel_idx + 1) % r->t.nsentinels;
		link_drop(r, "sentinel %s:%d does not know master '%s'", r->addr, r->port,
		          r->t.master);
		return;
	}
	snprintf(host, sizeof(host), "%s", rep->element[0]->str);
	port = atoi(rep->element[1]->str);
	log_debug("redis: sentinel %s:%d says master '%s' is %s:%d", r->addr, r->port, r->t.master,
	          host, port);
	snprintf(r->t.host, sizeof(r->t.host), "%s", host);
	r->t.port = port;
	/* ac belongs to a callback: hiredis frees it once we return. */
	r->sentinel.ac = NULL;
	redisAsyncDisconnect(ac);
	resolve(r, r->t.host, r->t.port);
}

static void
resolved(struct cf_redis *r, const char *addr)
{
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	if (r->t.kind == CF_REDIS_SENTINEL && r->phase != PH_SENTINEL && !r->t.host[0]) {
		const char *argv[] = {"SENTINEL", "get-master-addr-by-name", r->t.master};
		int rc;

		set_phase(r, PH_SENTINEL);
		r->sentinel.role = ROLE_SENTINEL;
		rc = link_open(r, &r->sentinel, r->addr, r->port);
		if (rc == 0)
			rc = send_raw(&r->sentinel, on_sentinel_reply, NULL, 3, argv, NULL);
		if (rc < 0) {
			r->sentinel_idx = (r->sentinel_idx + 1) % r->t.nsentinels;
			link_drop(r, "cannot reach sentinel %s:%d: %s", r->addr, r->port,
			          strerror(-rc));
		}
		return;
	}
	open_links(r);
}

static void
attempt(struct cf_redis *r)
{
	switch (r->t.kind) {
	case CF_REDIS_UNIX:
		open_links(r);
		break;
	case CF_REDIS_TCP:
		resolve(r, r->t.host, r->t.port);
		break;
	case CF_REDIS_SENTINEL:
		/* Ask again on every attempt: a lost link may mean a failover. */
		r->t.host[0] = '\0';
		set_phase(r, PH_RESOLVE);
		resolve(r, r->t.sentinels[r->sentinel_idx].host,
		        r->t.sentinels[r->sentinel_idx].port);
		break;
	}
}

/* ---- watchdog --------------------------------------------------------------------------- */

#define WATCH_US (100 * 1000)

static void
watch_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_redis *r = lws_container_of(sul, struct cf_redis, sul_watch);
	const struct cf_config *cfg = r->cfg;
	uint64_t now;

	if (r->phase == PH_CLOSED)
		return;
	if (r->gai_busy)
		poll_resolve(r);
	/* After the resolution: it may have started a phase just now. */
	now = cf_now_us();
	switch (r->phase) {
	case PH_RESOLVE:
	case PH_SENTINEL:
	case PH_CONNECT:
		if (now - r->phase_us > (uint64_t)cfg->redis_connect_timeout * 1000) {
			if (r->phase == PH_SENTINEL)
				r->sentinel_idx = (r->sentinel_idx + 1) % r->t.nsentinels;
			link_drop(r, "%s %s:%d timed out after %d ms",
			          r->phase == PH_RESOLVE ? "resolving" : "connecting to",
			          r->phase == PH_RESOLVE ? r->gai_host : r->addr, r->port,
			          cfg->redis_connect_timeout);
		}
		break;
	case PH_UP:
		if (r->pending.head) {
			struct pending *p = lws_container_of(r->pending.head, struct pending, list);
			if (now - p->sent_us > (uint64_t)cfg->redis_command_timeout * 1000) {
				link_drop(r, "a command got no reply in %d ms",
				          cfg->redis_command_timeout);
				break;
			}
		}
		if (now - r->hb_seen_us > (uint64_t)cfg->redis_heartbeat_timeout * 1000) {
			link_drop(r, "no heartbeat on the subscriber link for %d ms",
			          cfg->redis_heartbeat_timeout);
			break;
		}
		if (now - r->hb_sent_us >= (uint64_t)cfg->redis_heartbeat_interval * 1000)
			send_heartbeat(r);
		break;
	default:
		break;
	}
	lws_sul_schedule(r->ctx, 0, &r->sul_watch, watch_cb, WATCH_US);
}

/* ---- public ---------------------------------------------------------------------------- */

struct cf_redis *
cf_redis_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
             const struct cf_redis_target *t, const char *node_id, unsigned shard,
             const struct cf_redis_events *ev)
{
	struct cf_redis *r = shard < CF_METRICS_SHARDS ? calloc(1, sizeof(*r)) : NULL;

	if (!r)
		return NULL;
	r->shard = shard;
	r->vh = vh;
	r->ctx = ctx;
	r->cfg = cfg;
	r->t = *t;
	r->ev = *ev;
	snprintf(r->hb_channel, sizeof(r->hb_channel), "%shb:%s", cfg->redis_prefix, node_id);
	snprintf(r->status, sizeof(r->status), "connecting");
	/* Never the password. */
	if (t->kind == CF_REDIS_UNIX)
		log_info("redis: cluster mode through %s db %d%s", t->path, t->db,
		         t->password[0] ? " with AUTH" : "");
	else if (t->kind == CF_REDIS_TCP)
		log_info("redis: cluster mode through %s:%d db %d%s", t->host, t->port, t->db,
		         t->password[0] ? " with AUTH" : "");
	else
		log_info("redis: cluster mode through master '%s' of %d sentinel(s), db %d%s",
		         t->master, t->nsentinels, t->db, t->password[0] ? " with AUTH" : "");
	attempt(r);
	lws_sul_schedule(r->ctx, 0, &r->sul_watch, watch_cb, WATCH_US);
	return r;
}

void
cf_redis_close(struct cf_redis *r)
{
	if (!r || r->phase == PH_CLOSED)
		return;
	r->phase = PH_CLOSED;
	cf_metrics.redis_shard_up[r->shard] = 0;
	lws_sul_cancel(&r->sul_watch);
	lws_sul_cancel(&r->sul_retry);
	free_ctx(&r->sentinel);
	free_ctx(&r->cmd);
	free_ctx(&r->sub);
	if (r->gai_busy) {
		const struct gaicb *list[1] = {&r->gai};

		/* Shutdown only: wait for the resolver thread rather than free under it. */
		if (gai_cancel(&r->gai) != EAI_CANCELED)
			while (gai_error(&r->gai) == EAI_INPROGRESS)
				gai_suspend(list, 1, NULL);
		if (r->gai.ar_result)
			freeaddrinfo(r->gai.ar_result);
		r->gai_busy = 0;
	}
}

void
cf_redis_free(struct cf_redis *r)
{
	if (!r)
		return;
	cf_redis_close(r);
	free(r);
}

void
cf_redis_reset(struct cf_redis *r, const char *why)
{
	link_drop(r, "%s", why);
}

int
cf_redis_is_up(const struct cf_redis *r)
{
	return r->phase == PH_UP;
}

const char *
cf_redis_status(const struct cf_redis *r)
{
	if (r->phase == PH_UP)
		return "up";
	if (r->status[0] && strcmp(r->status, "connecting"))
		return r->status;
	return "connecting";
}

int
cf_redis_settled(const struct cf_redis *r)
{
	return r->was_up || r->attempts > 0;
}

uint64_t
cf_redis_reconnects(const struct cf_redis *r)
{
	return r->reconnects;
}

static void
on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending *p = privdata;

	(void)ac;
	/* In order: the head is this command's. After a drop the list is already empty. */
	if (p->list.owner)
		lws_dll2_remove(&p->list);
	if (p->cb)
		p->cb(p->privdata, reply);
	free(p);
}

int
cf_redis_cmd(struct cf_redis *r, cf_redis_reply_cb *cb, void *privdata, int argc, const char **argv,
             const size_t *argvlen)
{
	struct pending *p;

	if (r->phase != PH_UP && !(r->phase == PH_CONNECT && !cb))
		return -ENOTCONN;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cb = cb;
	p->privdata = privdata;
	p->sent_us = cf_now_us();
	if (send_raw(&r->cmd, on_cmd_reply, p, argc, argv, argvlen) < 0) {
		free(p);
		return -ENOTCONN;
	}
	lws_dll2_add_tail(&p->list, &r->pending);
	return 0;
}

int
cf_redis_subscribe(struct cf_redis *r, const char *channel)
{
	const char *argv[] = {"SUBSCRIBE", channel};

	if (r->phase != PH_UP)
		return -ENOTCONN;
	return send_raw(&r->sub, on_sub_reply, NULL, 2, argv, NULL);
}

int
cf_redis_unsubscribe(struct cf_redis *r, const char *channel)
{
	const char *argv[] = {"UNSUBSCRIBE", channel};

	if (r->phase != PH_UP)
		return -ENOTCONN;
	return send_raw(&r->sub, NULL, NULL, 2, argv, NULL);
}
