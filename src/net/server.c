/* SPDX-License-Identifier: MIT */
/* server.c - the lws context and one vhost per listener (TCP v4/v6, unix socket), the protocols
 * they serve, the admission gate for WebSocket handshakes, per-address connection counts, the
 * once-a-second tick, graceful drain and live reload. */
#include "net/server.h"
#include "auth/auth.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/xff.h"
#include "bus/bus.h"
#include "bus/redis/redis.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/req.h"
#include "core/room.h"
#include "net/deflate.h"
#include "net/http.h"
#include "net/listen.h"
#include "net/mount.h"
#include "net/sd.h"
#include "net/session.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ev.h>
#include <uthash.h>
#include <systemd/sd-daemon.h>

int
cf_server_ip_count(struct cf_server *srv, const char *ip)
{
	struct cf_ipcount *c;

	HASH_FIND_STR(srv->ips, ip, c);
	return c ? (int)c->n : 0;
}

struct cf_ipcount *
cf_server_ip_ref(struct cf_server *srv, const char *ip)
{
	struct cf_ipcount *c;

	HASH_FIND_STR(srv->ips, ip, c);
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return NULL;
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		HASH_ADD_STR(srv->ips, ip, c);
	}
	c->n++;
	return c;
}

void
cf_server_ip_unref(struct cf_server *srv, struct cf_ipcount *c)
{
	if (c && --c->n == 0) {
		HASH_DEL(srv->ips, c);
		free(c);
	}
}

const struct cf_listener *
cf_server_listener(struct lws *wsi)
{
	struct lws_vhost *vh = lws_get_vhost(wsi);

	return vh ? lws_vhost_user(vh) : NULL;
}

int
cf_server_mounted(struct lws *wsi, int id)
{
	const struct cf_listener *l = cf_server_listener(wsi);

	return l && (l->mounts & CF_MOUNT_BIT(id));
}

const struct cf_dialect *
cf_server_ws_endpoint(struct cf_server *srv, struct lws *wsi, const char *path)
{
	const struct cf_dialect *d;

	for (size_t i = 0; (d = cf_mount_at(i)); i++)
		if (d->ws_path && cf_server_mounted(wsi, d->id) && d->ws_path(srv->env.cfg, path))
			return d;
	return NULL;
}

int
cf_server_admit(struct cf_server *srv, struct lws *wsi, const char *path, const char **ret_code,
                const char **ret_msg)
{
	const struct cf_config *cfg = srv->env.cfg;
	char ip[48], origin[256];
	uint32_t n;
	const struct cf_dialect *d = cf_server_ws_endpoint(srv, wsi, path);
	/* A seed took any Origin, or its admit() checked its own rule already. */
	int seed = d && d->seed;

	if (!d) {
		*ret_code = "not_found";
		*ret_msg = "no WebSocket endpoint at this path";
		return 404;
	}
	if (cfg->origins.n && !seed) {
		size_t i;

		if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
			origin[0] = '\0';
		for (i = 0; i < cfg->origins.n; i++)
			if (!strcmp(origin, cfg->origins.v[i]))
				break;
		if (i == cfg->origins.n) {
			if (cf_req_client_ip(srv->env.cfg, wsi, ip, sizeof(ip)) < 0)
				lws_get_peer_simple(wsi, ip, sizeof(ip));
			cf_log_client(CF_LOG_INFO, "origin_refused", ip, 0, NULL,
			              "handshake refused: origin '%s' not allowed", origin);
			*ret_code = "origin_not_allowed";
			*ret_msg = "this Origin is not allowed";
			return 403;
		}
	}
	if (cf_req_client_ip(srv->env.cfg, wsi, ip, sizeof(ip)) < 0) {
		cf_log_client(
		        CF_LOG_INFO, "bad_forwarded_for", ip, 0, NULL,
		        "handshake refused: X-Forwarded-For from a trusted proxy is not a list "
		        "of addresses");
		*ret_code = "bad_forwarded_for";
		*ret_msg = "X-Forwarded-For from a trusted proxy is not a list of addresses";
		return 400;
	}
	if (srv->draining) {
		*ret_code = "shutting_down";
		*ret_msg = "the server is shutting down";
		return 503;
	}
	if (srv->sessions.count >= (uint32_t)cfg->max_connections) {
		cf_log_client(CF_LOG_WARNING, "connection_limit", ip, 0, NULL,
		              "handshake refused: server.max_connections (%d) reached",
		              cfg->max_connections);
		*ret_code = "too_many_connections";
		*ret_msg = "the server is at its connection limit";
		return 503;
	}
	n = cf_server_ip_count(srv, ip);
	if (n >= (uint32_t)cfg->max_connections_per_ip) {
		cf_log_client(CF_LOG_INFO, "ip_limit", ip, 0, NULL,
		              "handshake refused: %s has %u connections "
		              "(server.max_connections_per_ip)",
		              ip, n);
		*ret_code = "too_many_connections";
		*ret_msg = "too many connections from this address";
		return 429;
	}
	return 0;
}

/* STATUS= for systemctl status: what this process is doing, in one line. */
static void
update_status(struct cf_server *srv)
{
	const char *reload = cf_sd_last_reload();
	char redis[320] = "";

	if (srv->draining)
		return;
	if (srv->env.cfg->redis_url[0])
		snprintf(redis, sizeof(redis), "; %s",
		         cf_bus_healthy(srv->env.bus) ? "Redis up" : cf_bus_status(srv->env.bus));
	cf_sd_status("Serving %u connections in %u rooms%s%s%s", srv->sessions.count,
	             srv->env.reg->nrooms, redis, *reload ? "; " : "", reload);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct cf_server *srv = lws_container_of(sul, struct cf_server, sul_tick);
	uint32_t n;

	n = cf_registry_expire(srv->env.reg, cf_now_s());
	if (n)
		log_debug("forgot %u expired rooms", n);
	cf_sess_keepalive(srv);
	update_status(srv);
	cf_log_flush();
	lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, tick, LWS_US_PER_SEC);
}

static struct lws_protocols protocols[] = {
        {
                .name = "http",
                .callback = cf_http_callback,
        },
        {
                .name = "confab.v1",
                .callback = cf_sess_callback,
                .per_session_data_size = sizeof(struct cf_sess),
                /* Small on purpose: lws allocates it per connection, and it is the largest
                 * part of an idle connection that confab can size (docs/benchmarks.md, idle
                 * memory). session.c reassembles larger messages up to limits.max_frame. Not
                 * below 125: lws answers a ping with what the buffer holds, so a control
                 * frame's whole payload (RFC 6455: at most 125 bytes) must fit. */
                .rx_buffer_size = 128,
                /* Without this a small rx_buffer_size would also cap each send() and undo the
                 * coalesced writes. */
                .tx_packet_size = CF_WRITE_MAX + 64,
        },
        {
                /* Listening sockets confab binds itself (listen.c). */
                .name = CF_LISTEN_PROTOCOL,
                .callback = cf_listen_lws_callback,
        },
        {
                /* The Redis sockets of cluster mode, adopted as raw files (redis.c). */
                .name = CF_REDIS_PROTOCOL,
                .callback = cf_redis_lws_callback,
        },
        {
                /* The hashing thread's completions, an eventfd adopted as a raw file (auth.c). */
                .name = CF_AUTH_PROTOCOL,
                .callback = cf_auth_lws_callback,
        },
        {NULL, NULL, 0, 0, 0, NULL, 0},
};

static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", "1"};
static const struct lws_protocol_vhost_options pvo_native = {NULL, &pvo_default, "confab.v1", ""};

static lws_retry_bo_t retry;

/* Sockets passed by systemd (socket activation), by their FileDescriptorName=. */
struct passed {
	char **names; /* from sd_listen_fds_with_names(), owned */
	int n;
	unsigned char *used;
};

/* The passed socket named name (not yet taken), or a negative errno with the reason. */
static int
passed_take(struct passed *ps, const char *name, char *err, size_t errlen)
{
	for (int i = 0; i < ps->n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (ps->used[i] || strcmp(ps->names[i], name))
			continue;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			snprintf(err, errlen,
			         "the socket named '%.200s' is not a listening stream socket",
			         name);
			return -ENOTSOCK;
		}
		ps->used[i] = 1;
		return fd;
	}
	snprintf(err, errlen,
	         "systemd passed no (further) socket named '%.200s' (%d passed; the unit's "
	         "FileDescriptorName= names them)",
	         name, ps->n);
	return -ENOENT;
}

static void
passed_done(struct passed *ps)
{
	for (int i = 0; i < ps->n; i++) {
		if (!ps->used[i]) {
			/* An fd nobody serves would keep clients waiting forever: close it. */
			log_warn("closing the socket '%s' passed by systemd: no listener names it "
			         "(server.listen = systemd:%s)",
			         ps->names[i], ps->names[i]);
			close(SD_LISTEN_FDS_START + i);
		}
		free(ps->names[i]);
	}
	free(ps->names);
	free(ps->used);
	memset(ps, 0, sizeof(*ps));
}

/* "host:port", "[v6]:port", ":port" or "unix:/path" into vhost info. buf holds the host. */
static int
parse_listen(const char *spec, struct lws_context_creation_info *info, char *buf, size_t blen)
{
	const char *colon;
	char *end;
	long port;

	if (!strncmp(spec, "unix:", 5)) {
		if (!spec[5] || strlen(spec + 5) >= blen)
			return -EINVAL;
		snprintf(buf, blen, "%s", spec + 5);
		info->iface = buf;
		info->port = 0; /* lws 4.1 binds iface as a path only with port 0 */
		info->options |= LWS_SERVER_OPTION_UNIX_SOCK;
		return 0;
	}
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= blen)
			return -EINVAL;
		memcpy(buf, spec + 1, (size_t)(rb - spec - 1));
		buf[rb - spec - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= blen)
			return -EINVAL;
		memcpy(buf, spec, (size_t)(colon - spec));
		buf[colon - spec] = '\0';
		if (strchr(buf, ':'))
			return -EINVAL; /* a bare IPv6 address needs brackets */
		if (buf[0])
			info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	}
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port < 1 || port > 65535)
		return -EINVAL;
	info->port = (int)port;
	info->iface = buf[0] && strcmp(buf, "*") ? buf : NULL;
	return 0;
}

static int
is_unix_socket(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
}

/* Descriptors besides the connections: listeners, the Redis links, lws's own, files of the state
 * directory and inboxes, name resolution, the journal. */
#define FD_RESERVE   64
#define FD_TABLE_MAX (1 << 20) /* Linux's default nr_open */

/* lws sizes its table of descriptors from the soft limit when the context is created, and lws
 * 4.1 retries accept() on EMFILE for as long as the listener stays readable: a process at its
 * limit spins a core. So the soft limit is raised to the hard one first (a shell's 1,024 would
 * hold a server of 10,000), and a limit below server.max_connections is said at startup. */
static void
fd_limits(const struct cf_config *cfg)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FD_TABLE_MAX ? FD_TABLE_MAX
	                                                                  : rl.rlim_max;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)want,
			         strerror(errno));
		else
			log_debug("descriptor limit raised to %llu", (unsigned long long)want);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)cfg->max_connections + FD_RESERVE)
		log_warn("the descriptor limit is %llu (LimitNOFILE=, ulimit -n): fewer than "
		         "server.max_connections (%d) + %d; at the limit new connections fail and "
		         "lws retries them at full CPU",
		         (unsigned long long)rl.rlim_cur, cfg->max_connections, FD_RESERVE);
}

/* lws re-arms the loop's timer for its sorted timer list only in its own callbacks (libev.c's
 * idle and timer ones, net/evlib.c); a timer scheduled outside of them, here or from main.c's
 * loop body, could wait for the next event. A wake through lws's pipe is such an event. */
static void
wake_timers(struct cf_server *srv)
{
	lws_cancel_service(srv->ctx);
}

/* lws ends its startup (the protocol init that gives each vhost its default protocol) in a
 * timer of its own. Under its poll() loop that timer ran before the first connection was
 * read; on our loop a client could be upgraded first, to protocol 0, and never reach a
 * session. So the loop turns until lws is operational, before any listener exists. */
static int
wait_operational(struct cf_server *srv)
{
	lws_state_manager_t *mgr = lws_system_get_state_manager(srv->ctx);

	/* One wake: its event starts lws's idle watcher, which serves the timers that are due. */
	wake_timers(srv);
	for (int i = 0; i < 100 && mgr->state < LWS_SYSTATE_OPERATIONAL; i++)
		ev_run(srv->loop, EVRUN_ONCE);
	if (mgr->state < LWS_SYSTATE_OPERATIONAL)
		return cf_log_errno(CF_LOG_ERR, -EIO, "lws did not finish starting up (state %d)",
		                    mgr->state);
	return 0;
}

int
cf_server_start(struct cf_server *srv, struct cf_config *cfg)
{
	struct lws_context_creation_info info;
	struct cf_bus_host host;
	struct lws_vhost *vh0 = NULL;
	struct passed ps = {0};
	void *foreign[1];
	char hostname[64], err[512];
	int r0;

	srv->env.cfg = cfg;
	if (cfg->node_id[0]) {
		snprintf(srv->env.node_id, sizeof(srv->env.node_id), "%s", cfg->node_id);
	} else {
		if (gethostname(hostname, sizeof(hostname)) < 0)
			snprintf(hostname, sizeof(hostname), "confab");
		hostname[sizeof(hostname) - 1] = '\0';
		snprintf(srv->env.node_id, sizeof(srv->env.node_id), "%s-%d", hostname,
		         (int)getpid());
	}
	srv->scratch = malloc(LWS_PRE + CF_WRITE_MAX);
	srv->listeners = calloc(cfg->listen.n, sizeof(*srv->listeners));
	srv->nlisteners = srv->listeners ? cfg->listen.n : 0;
	srv->env.reg = cf_registry_new(cfg);
	if (!srv->scratch || !srv->env.reg || !srv->listeners)
		return cf_log_errno(CF_LOG_ERR, -ENOMEM, "startup");

	protocols[0].per_session_data_size = cf_http_pss_size();
	memset(&info, 0, sizeof(info));
	/* Not LWS_SERVER_OPTION_VALIDATE_UTF8: session.c checks text messages itself, because
	 * lws 4.1.6 checks them before confab inflates a compressed one (net/deflate.c). */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (cfg->tls_cert[0])
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.user = srv;
	/* Context-wide in lws 4.1: how long a connection may take over its request. */
	info.timeout_secs = (unsigned)cfg->handshake_timeout;
	info.gid = (gid_t)-1;
	info.uid = (uid_t)-1;
	/* epoll through libev: lws's own loop is poll() over every descriptor, which made each
	 * connect and each turn cost O(connections) (docs/benchmarks.md, "lws on an epoll
	 * loop"). The loop is ours (foreign to lws): one turn is cf_server_service(), and main.c
	 * keeps its order of startup and shutdown. net/evlib.c corrects lws's libev glue. */
	srv->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!srv->loop)
		return cf_log_errno(CF_LOG_ERR, -ENOMEM, "could not create the event loop");
	foreign[0] = srv->loop;
	info.options |= LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	fd_limits(cfg);
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx)
		return cf_log_errno(CF_LOG_ERR, -EIO,
		                    "could not create the lws context (the libev loop needs the "
		                    "package libwebsockets-evlib-ev)");
	r0 = wait_operational(srv);
	if (r0 < 0)
		return r0;
	/* All zero: no lws validity timers; session.c pings (cf_sess_keepalive). */
	memset(&retry, 0, sizeof(retry));
	r0 = sd_listen_fds_with_names(1, &ps.names);
	if (r0 < 0)
		log_warn("LISTEN_FDS: %s", strerror(-r0));
	ps.n = r0 > 0 ? r0 : 0;
	ps.used = calloc((size_t)ps.n + 1, 1);
	if (!ps.used)
		return cf_log_errno(CF_LOG_ERR, -ENOMEM, "startup");
	for (size_t i = 0; i < cfg->listen.n; i++) {
		struct cf_listener *l = &srv->listeners[i];
		struct cf_listen_spec spec;
		struct lws_vhost *vh;
		int shared, port, r, activated, fd = -1;

		/* cf_mount_validate() checked the entry already. */
		if (cf_mount_parse(cfg->listen.v[i], &spec, err, sizeof(err)) < 0) {
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, -EINVAL, "server.listen '%s': %s",
			                    cfg->listen.v[i], err);
		}
		l->srv = srv;
		l->mounts = cf_mount_dialects(&spec);
		l->www = strdup(cf_mount_www(&spec, cfg->www_dir));
		if (!l->www) {
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, -ENOMEM, "startup");
		}
		for (size_t k = 0; cf_mount_at(k); k++) {
			int id = cf_mount_at(k)->id;

			if ((l->mounts & CF_MOUNT_BIT(id)) && spec.dialects_set &&
			    !cf_mount_enabled(cfg, id))
				log_warn("server.listen '%s' mounts %s, which [dialects] %s = 0 "
				         "switches off: not served while it is off",
				         cfg->listen.v[i], cf_mount_name(id), cf_mount_name(id));
		}
		memset(&info, 0, sizeof(info));
		info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
		activated = !strncmp(spec.addr, "systemd:", 8);
		if (activated) {
			/* The socket exists already; the vhost only serves what it accepts. */
			fd = passed_take(&ps, spec.addr + 8, err, sizeof(err));
			if (fd < 0) {
				passed_done(&ps);
				return cf_log_errno(CF_LOG_ERR, fd, "server.listen %s: %s",
				                    cfg->listen.v[i], err);
			}
			info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
		} else if (parse_listen(spec.addr, &info, l->host, sizeof(l->host)) < 0) {
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, -EINVAL, "server.listen: bad address '%s'",
			                    spec.addr);
		}
		if (cfg->tls_cert[0] && !(info.options & LWS_SERVER_OPTION_UNIX_SOCK) &&
		    (!activated || !is_unix_socket(fd))) {
			/* lws 4.1 reads this from each vhost's info too, not only the context's. */
			info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
			info.ssl_cert_filepath = cfg->tls_cert;
			info.ssl_private_key_filepath = cfg->tls_key;
			if (cfg->tls_client_ca[0]) {
				info.ssl_ca_filepath = cfg->tls_client_ca;
				info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
			}
		}
		snprintf(l->name, sizeof(l->name), "listen%zu", i);
		info.vhost_name = l->name;
		info.protocols = protocols;
		info.pvo = &pvo_native;
		/* Without a list lws offers no extension: the client's offer goes unanswered. */
		if (spec.deflate)
			info.extensions = cf_deflate_extensions;
		/* A connection holding a header buffer without completing its request. */
		info.timeout_secs_ah_idle = (unsigned)cfg->handshake_timeout;
		info.keepalive_timeout = cfg->handshake_timeout;
		info.retry_and_idle_policy = &retry;
		info.user = l; /* cf_server_listener() */
		shared = !activated && cfg->reuse_port &&
		         !(info.options & LWS_SERVER_OPTION_UNIX_SOCK);
		port = info.port;
		if (shared)
			info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* listen.c binds it */
		vh = lws_create_vhost(srv->ctx, &info);
		if (!vh) {
			if (activated)
				close(fd);
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, -EADDRNOTAVAIL, "could not listen on %s",
			                    cfg->listen.v[i]);
		}
		if (activated && (r = cf_listen_adopt(vh, fd, err, sizeof(err))) < 0) {
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, r, "serving %s: %s", cfg->listen.v[i], err);
		}
		if (shared && (r = cf_listen_shared(vh, info.iface, port, err, sizeof(err))) < 0) {
			passed_done(&ps);
			return cf_log_errno(CF_LOG_ERR, r, "could not listen on %s: %s",
			                    cfg->listen.v[i], err);
		}
		if (!vh0)
			vh0 = vh;
		if ((info.options & LWS_SERVER_OPTION_UNIX_SOCK) &&
		    chmod(info.iface, (mode_t)cfg->unix_mode) < 0)
			log_warn("chmod %s: %s", info.iface, strerror(errno));
		log_info("listening on %s%s%s%s", cfg->listen.v[i],
		         info.ssl_cert_filepath ? " (TLS)" : "",
		         spec.deflate ? " (permessage-deflate)" : "",
		         shared      ? " (shared with other processes)"
		         : activated ? " (socket passed by systemd)"
		                     : "");
	}
	passed_done(&ps);
	cf_bus_host_registry(&host, srv->env.reg);
	if (cfg->redis_url[0]) {
		srv->env.bus = cf_bus_redis_new(srv->ctx, vh0, cfg, srv->env.reg, srv->env.node_id,
		                                &host, err, sizeof(err));
		if (!srv->env.bus)
			return cf_log_errno(CF_LOG_ERR, -EINVAL, "%s", err);
	} else {
		srv->env.bus = cf_bus_local_new(srv->ctx, &host);
		if (!srv->env.bus)
			return cf_log_errno(CF_LOG_ERR, -ENOMEM, "startup");
		cf_bus_local_rooms(srv->env.bus, cfg);
		r0 = cf_bus_local_inbox(srv->env.bus, cfg, err, sizeof(err));
		if (r0 == 0)
			r0 = cf_bus_local_rules(srv->env.bus, cfg, err, sizeof(err));
		if (r0 == 0)
			r0 = cf_bus_local_reads(srv->env.bus, cfg, err, sizeof(err));
		if (r0 < 0)
			return cf_log_errno(CF_LOG_ERR, r0, "%s", err);
	}
	{
		struct cf_registry_host rh = {.push = cf_sess_push, .addr = cf_sess_addr};

		cf_bus_registry_host(srv->env.bus, &rh);
		cf_registry_set_host(srv->env.reg, &rh);
	}
	if (cfg->auth_enabled) {
		srv->env.auth = cf_auth_new(srv->ctx, vh0, cfg, cf_bus_store(srv->env.bus), err,
		                            sizeof(err));
		if (!srv->env.auth)
			return cf_log_errno(CF_LOG_ERR, -EINVAL, "%s", err);
	}
	cf_sd_watchdog_start(srv->ctx);
	lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, tick, LWS_US_PER_SEC);
	wake_timers(srv);
	return 0;
}

static void
drain_deadline(lws_sorted_usec_list_t *sul)
{
	struct cf_server *srv = lws_container_of(sul, struct cf_server, sul_drain);

	log_warn("drain deadline reached with %u sessions still open", srv->sessions.count);
	srv->stop = 1;
}

void
cf_server_drain(struct cf_server *srv)
{
	if (srv->draining)
		return;
	srv->draining = 1;
	/* New connections are for the next process (socket activation, SO_REUSEPORT peers). */
	cf_listen_close_all();
	log_info("draining %u sessions (deadline %d s)", srv->sessions.count,
	         srv->env.cfg->drain_timeout);
	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, srv->sessions.head) {
		struct cf_sess *s = lws_container_of(d, struct cf_sess, in_server);
		cf_sess_close(s, 1001, "server shutting down");
	}
	lws_end_foreach_dll_safe(d, d1);
	lws_sul_schedule(srv->ctx, 0, &srv->sul_drain, drain_deadline,
	                 (lws_usec_t)srv->env.cfg->drain_timeout * LWS_US_PER_SEC);
	wake_timers(srv);
}

static void
note_restart(const struct cf_config_def *d, void *ud)
{
	log_warn("reload: %s.%s changed; it takes effect after a restart", d->section, d->key);
}

void
cf_server_reload(struct cf_server *srv, const struct cf_config *next)
{
	int n = cf_config_reload(srv->env.cfg, next, note_restart, NULL);
	char err[512];

	cf_log_set_level(srv->env.cfg->log_level);
	cf_log_route_lws();
	/* main.c checked the pair before this; renewals keep their paths, so always read again. */
	if (cf_tls_listeners() && srv->env.cfg->tls_cert[0]) {
		if (cf_tls_reload(srv->env.cfg->tls_cert, srv->env.cfg->tls_key, err, sizeof(err)) <
		    0)
			log_error("reload: %s", err);
		else
			log_info("tls: certificate %s loaded", srv->env.cfg->tls_cert);
	} else if (cf_tls_listeners() || srv->env.cfg->tls_cert[0]) {
		log_warn("reload: turning TLS %s takes a restart",
		         srv->env.cfg->tls_cert[0] ? "on" : "off");
	}
	log_info("configuration reloaded%s", n ? "; some keys need a restart" : "");
}

void
cf_server_poll(struct cf_server *srv)
{
	ev_run(srv->loop, EVRUN_NOWAIT);
	cf_sess_flush(srv);
}

/* lws reads at most rx_buffer_size + LWS_PRE bytes of a socket per turn, about one message, so a
 * server that fell behind a publisher would write each message to every member apart (a send
 * per delivery) and stay behind. While clients' input keeps arriving, the loop reads on before
 * it writes, and each session gets what queued meanwhile in one write. Bounded in turns, in time
 * (the latency it adds is at most READ_AHEAD_NS, and none when input does not queue up) and by
 * the queues: once one passes a quarter of its bound (env.h flush_deep) it writes, so that
 * reading ahead cannot make a reader that keeps up look slow (docs/benchmarks.md). */
#define READ_AHEAD_TURNS 64
#define READ_AHEAD_NS    (2 * 1000 * 1000)

void
cf_server_service(struct cf_server *srv)
{
	/* One turn: wait for events or the next timer, handle them. lws_cancel_service() (the
	 * signal handler) wakes it through lws's pipe, which the loop watches. */
	srv->env.flush_deep = 0;
	ev_run(srv->loop, EVRUN_ONCE);
	if (srv->rx_turn && srv->env.flush_n) {
		uint64_t t0 = cf_now_ns();

		for (int i = 0; i < READ_AHEAD_TURNS && srv->rx_turn && !srv->env.flush_deep &&
		                cf_now_ns() - t0 < READ_AHEAD_NS;
		     i++) {
			srv->rx_turn = 0;
			ev_run(srv->loop, EVRUN_NOWAIT);
		}
	}
	srv->rx_turn = 0;
	cf_sess_flush(srv);
}

void
cf_server_stop(struct cf_server *srv)
{
	struct cf_ipcount *c, *tmp;

	if (srv->ctx) {
		lws_sul_cancel(&srv->sul_tick);
		lws_sul_cancel(&srv->sul_drain);
		cf_sd_watchdog_stop();
		cf_bus_stop(srv->env.bus);
		cf_auth_stop(srv->env.auth);
		/* Closes every connection: sessions leave their rooms and cancel their acks. */
		lws_context_destroy(srv->ctx);
		srv->ctx = NULL;
		cf_tls_forget();
		cf_listen_forget();
	}
	if (srv->loop) {
		ev_loop_destroy(srv->loop);
		srv->loop = NULL;
	}
	cf_bus_free(srv->env.bus);
	srv->env.bus = NULL;
	cf_auth_free(srv->env.auth);
	srv->env.auth = NULL;
	cf_registry_free(srv->env.reg);
	srv->env.reg = NULL;
	for (size_t i = 0; cf_mount_at(i); i++)
		if (cf_mount_at(i)->cleanup)
			cf_mount_at(i)->cleanup();
	HASH_ITER(hh, srv->ips, c, tmp)
	{
		HASH_DEL(srv->ips, c);
		free(c);
	}
	free(srv->scratch);
	srv->scratch = NULL;
	free(srv->env.flush);
	srv->env.flush = NULL;
	srv->env.flush_n = srv->env.flush_cap = 0;
	for (size_t i = 0; srv->listeners && i < srv->nlisteners; i++)
		free(srv->listeners[i].www);
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}
