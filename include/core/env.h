/* SPDX-License-Identifier: MIT */
/* env.h - what the core's users work with: the configuration and the core's services (the
 * registry, the bus, the accounts) and the node's name. The server (server.h) owns it and every
 * session points to it (sess.h), so that a dialect reaches them without knowing the transport. */
#pragma once

struct cf_config;
struct cf_registry;
struct cf_bus;
struct cf_auth;
struct cf_sess;

struct cf_env {
	struct cf_config *cfg;   /* borrowed from main; replaced fields on reload */
	struct cf_registry *reg; /* owned by the server */
	struct cf_bus *bus;      /* owned by the server */
	struct cf_auth *auth;    /* owned by the server; NULL with auth.enabled = 0 */
	char node_id[128];       /* server.node_id, or host name and pid */
	/* Sessions whose queue went from empty to non-empty in this loop turn (sess.c): the
	 * transport writes them at the turn's end (cf_sess_flush()) instead of asking lws for
	 * POLLOUT first. At most one entry per session (cf_sess.flush_queued); owned. */
	struct cf_sess **flush;
	unsigned flush_n, flush_cap;
	/* A queue passed a quarter of its bound since the turn began (sess.c): the transport
	 * writes now instead of reading ahead (cf_server_service()). */
	int flush_deep;
};
