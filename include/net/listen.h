/* SPDX-License-Identifier: MIT */
/* listen.h - listening sockets confab binds itself (SO_REUSEPORT sharing between processes)
 * and lws accepts from. */
#pragma once

#include <stddef.h>
#include <libwebsockets.h>

/* Binds host:port (NULL, "" or "*": every address, dual stack) with SO_REUSEPORT and serves
 * its connections on vh. Start-up only (host names resolve blocking). Returns 0 or a negative
 * errno with the reason in err. */
int cf_listen_shared(struct lws_vhost *vh, const char *host, int port, char *err, size_t errlen);

/* Serves the connections of an already listening socket fd (e.g. passed by systemd) on vh.
 * Takes fd (closed on failure). Returns 0 or a negative errno with the reason in err. */
int cf_listen_adopt(struct lws_vhost *vh, int fd, char *err, size_t errlen);

/* Stops accepting on every socket adopted above by closing this process's descriptor of it
 * (at drain start). A socket systemd (or a harness) holds stays open with its queue of
 * pending connections for the next process; a SO_REUSEPORT socket leaves the group, so the
 * kernel sends new connections to the other processes. Closes at once: call it between
 * lws_service() calls, not from a callback. */
void cf_listen_close_all(void);

/* Forgets the adopted listeners (after the lws context is destroyed). */
void cf_listen_forget(void);

/* The raw-file protocol of those sockets; server.c lists it on every vhost. */
int cf_listen_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len);
#define CF_LISTEN_PROTOCOL "confab-listen"
