/* SPDX-License-Identifier: MIT */
/* server.h - the lws context, its vhosts (one per listener), process-wide state shared by the
 * protocol callbacks, the periodic tick, drain on shutdown and reload. */
#pragma once

#include <stdint.h>
#include <libwebsockets.h>
#include <uthash.h>

#include "core/env.h"
#include "core/sess.h"

struct cf_config;
struct cf_dialect;
struct cf_server;
/* One listener (server.listen entry): its vhost's user data (lws_vhost_user()). */
struct cf_listener {
	struct cf_server *srv;
	char name[32];
	char host[256];
	uint32_t mounts; /* CF_MOUNT_BIT(id) of the dialects it mounts (mount.h) */
	char *www;       /* owned: the directory served at /, "" for none */
};

struct cf_server {
	struct cf_env env; /* what sessions and dialects see of the server */
	struct lws_context *ctx;
	struct lws_dll2_owner sessions; /* every struct cf_sess */
	struct cf_ipcount *ips;         /* sessions per client address */
	uint64_t next_sess_id;
	unsigned char *scratch; /* LWS_PRE + CF_WRITE_MAX: where coalesced writes are built */
	/* Names and addresses of the vhosts: lws keeps pointers to them, so they live as long
	 * as the context. */
	struct cf_listener *listeners;
	struct ev_loop *loop; /* ours; lws runs on it (LWS_SERVER_OPTION_LIBEV, foreign) */
	size_t nlisteners;
	lws_sorted_usec_list_t sul_tick;
	lws_sorted_usec_list_t sul_drain;
	int draining;
	int stop;
	int rx_turn; /* a session received data in this loop turn (cf_server_service()) */
};

/* Largest single write to a session (coalesced frames, or a slice of one large frame). lws
 * keeps the unsent rest of a write in a copy of its own, per session, until the socket takes it:
 * this caps that copy (docs/benchmarks.md, "Write cap"). lws's tx_packet_size is set above it. */
#define CF_WRITE_MAX (64 * 1024)
/* Largest payload of one packed frame in dialects that pack events with '\n'. */
#define CF_PACK_MAX (64 * 1024)

/* Creates the context and a vhost per listener. Returns 0 or a negative errno (logged). */
int cf_server_start(struct cf_server *srv, struct cf_config *cfg);
/* Runs one turn of the loop: waits for I/O, a timer or lws_cancel_service(), handles what is
 * ready, reads on while clients' input keeps arriving (bounded), then writes the queues that
 * filled (cf_sess_flush()). */
void cf_server_service(struct cf_server *srv);
/* Handles what is ready without waiting (the fuzz harnesses, which drive the loop between
 * inputs): lws_service() would run the libev loop until stopped. */
void cf_server_poll(struct cf_server *srv);
/* Begins the graceful drain (SIGTERM). */
void cf_server_drain(struct cf_server *srv);
/* Applies a freshly loaded config (SIGHUP). next is not kept. */
void cf_server_reload(struct cf_server *srv, const struct cf_config *next);
void cf_server_stop(struct cf_server *srv);

/* Session bookkeeping for session.c and http.c. */
int cf_server_ip_count(struct cf_server *srv, const char *ip);
/* Counts one more session from ip; NULL on OOM. */
struct cf_ipcount *cf_server_ip_ref(struct cf_server *srv, const char *ip);
void cf_server_ip_unref(struct cf_server *srv, struct cf_ipcount *c);
/* The dialect whose WebSocket endpoint path is on wsi's listener: the first in table order
 * (mount.c) that the listener mounts and whose ws_path() claims it; NULL for none. */
const struct cf_dialect *cf_server_ws_endpoint(struct cf_server *srv, struct lws *wsi,
                                               const char *path);
/* Decides whether a WebSocket handshake may proceed: 0, or an HTTP status (403, 404, 429, 503)
 * with *ret_code set to an error code string. */
int cf_server_admit(struct cf_server *srv, struct lws *wsi, const char *path, const char **ret_code,
                    const char **ret_msg);

/* The listener a connection came in on (NULL for none: a wsi of no listener's vhost). */
const struct cf_listener *cf_server_listener(struct lws *wsi);
/* Whether dialect id is mounted on wsi's listener. The [dialects] switches are checked by each
 * dialect's ws_path() and http(), not here. */
int cf_server_mounted(struct lws *wsi, int id);
