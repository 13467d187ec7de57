/* SPDX-License-Identifier: MIT */
/* listen.c - listening sockets that confab opens itself and lws accepts from.
 *
 * lws 4.1.6 sets SO_REUSEPORT on its own listeners only when it runs several service threads,
 * and has no call to adopt a listening socket. So for server.reuse_port confab binds the socket
 * (SO_REUSEADDR + SO_REUSEPORT: the kernel spreads connections over every process on the
 * port), adopts it into lws as a raw file, accepts in its RX callback and hands each connection
 * to lws_adopt_socket_vhost(), which then serves it exactly like one of its own. Sockets that
 * systemd passes (socket activation) take the same path. */
#define _GNU_SOURCE
#include "net/listen.h"
#include "base/log.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections taken per readiness report: others' sockets get their turn in between. */
#define ACCEPT_BATCH 64

/* The listener wsis adopted here (owned by lws; an entry is NULLed when lws closes it). */
static struct lws **adopted;
static size_t nadopted;

static int
open_socket(const char *host, int port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, v6only = 1, family;

	memset(&ss, 0, sizeof(ss));
	if (!host || !*host || !strcmp(host, "*")) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		/* Any address: one dual-stack socket, as lws does. */
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
		v6only = 0;
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
		                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		struct addrinfo *ai = NULL;
		char ps[8];
		int r;

		/* Start-up only: the loop is not running yet. */
		snprintf(ps, sizeof(ps), "%d", port);
		r = getaddrinfo(host, ps, &hints, &ai);
		if (r) {
			snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
			return -EADDRNOTAVAIL;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sl = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	family = ss.ss_family;
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s", strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int
cf_listen_shared(struct lws_vhost *vh, const char *host, int port, char *err, size_t errlen)
{
	int fd = open_socket(host, port, err, errlen);

	if (fd < 0)
		return fd;
	return cf_listen_adopt(vh, fd, err, errlen);
}

int
cf_listen_adopt(struct lws_vhost *vh, int fd, char *err, size_t errlen)
{
	lws_sock_file_fd_type sock;
	struct lws *wsi;
	int fl = fcntl(fd, F_GETFL);

	/* systemd passes blocking sockets unless the unit says NonBlocking=. */
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return -errno;
	}
	sock.filefd = fd;
	/* From here lws owns the fd and closes it with the context. */
	wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, sock, CF_LISTEN_PROTOCOL,
	                                 NULL);
	if (!wsi) {
		close(fd);
		snprintf(err, errlen, "lws could not adopt the socket");
		return -ENOMEM;
	}
	lws_set_opaque_user_data(wsi, vh);
	{
		struct lws **n = realloc(adopted, (nadopted + 1) * sizeof(*n));

		if (!n) {
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		adopted = n;
		adopted[nadopted++] = wsi;
	}
	return 0;
}

void
cf_listen_close_all(void)
{
	for (size_t i = 0; i < nadopted; i++)
		if (adopted[i])
			lws_set_timeout(adopted[i], PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void
cf_listen_forget(void)
{
	free(adopted);
	adopted = NULL;
	nadopted = 0;
}

int
cf_listen_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct lws_vhost *vh = lws_get_opaque_user_data(wsi);
	int fd, n;

	(void)user;
	(void)in;
	(void)len;
	if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
		for (size_t i = 0; i < nadopted; i++)
			if (adopted[i] == wsi)
				adopted[i] = NULL;
		return 0;
	}
	if (reason != LWS_CALLBACK_RAW_RX_FILE || !vh)
		return 0;
	fd = lws_get_socket_fd(wsi);
	for (n = 0; n < ACCEPT_BATCH; n++) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The process is out of descriptors: refused until some close. */
				cf_metrics.rejected_connections_total++;
				log_warn("accept: %s", strerror(errno));
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			break;
		}
		/* On failure lws closes c itself. */
		if (!lws_adopt_socket_vhost(vh, c))
			log_warn("lws could not adopt an accepted connection");
	}
	return 0;
}
