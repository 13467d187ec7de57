/* SPDX-License-Identifier: MIT */
/* http.c - the HTTP side of a listener, as a client reaches it: the request line, the path
 * handling, the query arguments (cf_req_query_arg), X-Forwarded-For from a trusted proxy
 * (cf_req_client_ip), the Origin checks, the REST API's bodies, the seeds' plain HTTP
 * (000's /health, 001's /links, 002's /chat, 004's /api/...), the upgrade gate and, after an
 * upgrade, lws's WebSocket framing and the dialect. A real confabd server (cf_server_start)
 * runs in the harness's process on 127.0.0.1; each input is one connection: the harness
 * writes the input, half-closes, and runs the loop until the server has closed or a bound
 * passed.
 *
 * Input byte 0 picks the listener (modulo 3): the default dialects (native, 000, 002, 003;
 * www), 001 (redis_chat) or 004 (ttu). The peer, 127.0.0.1, is a trusted proxy, and
 * server.origins and server.admin_token are set, so those paths are taken. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/state.h"
#include "config/config.h"
#include "core/req.h"
#include "net/mount.h"
#include "net/server.h"

#define NLISTEN 3

static struct cf_config cfg;
static struct cf_server srv;
static int ports[NLISTEN];
static char dir[64];
static int verbose; /* FUZZ_VERBOSE=1: the server's answers on stderr */

static void
set(const char *section, const char *key, const char *value, int reset_list)
{
	char err[256];

	if (cf_config_set(&cfg, section, key, value, reset_list, err, sizeof(err)) < 0) {
		fprintf(stderr, "http fuzz: %s.%s: %s\n", section, key, err);
		abort();
	}
}

static void
cleanup(void)
{
	char cmd[128];

	cf_server_stop(&srv);
	cf_state_close();
	cf_config_fini(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "http fuzz: could not remove %s\n", dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const mounts[NLISTEN] = {
	        "dialects=native,disposable_chat,chatty,texto",
	        "dialects=redis_chat",
	        "dialects=ttu",
	};
	char entry[256], err[256];
	const char *src = getenv("CONFAB_SOURCE_DIR");

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	snprintf(dir, sizeof(dir), "%s/confab-fuzz-http-XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir) || cf_config_init(&cfg) < 0)
		abort();
	for (int i = 0; i < NLISTEN; i++) {
		ports[i] = fuzz_free_port();
		snprintf(entry, sizeof(entry), "127.0.0.1:%d %s", ports[i], mounts[i]);
		set("server", "listen", entry, i == 0);
	}
	set("server", "trusted_proxies", "127.0.0.1", 1);
	set("server", "origins", "http://example.com", 1);
	set("server", "admin_token", "fuzz-admin-token", 1);
	set("state", "dir", dir, 1);
	set("log", "level", "error", 1);
	set("dialects", "disposable_chat", "1", 1);
	set("dialects", "chatty", "1", 1);
	set("dialects", "texto", "1", 1);
	set("auth", "enabled", "0", 1); /* a password hash costs tens of ms: fuzzed in token.c */
	if (src) {
		snprintf(entry, sizeof(entry), "%s/www", src);
		set("server", "www_dir", entry, 1);
	}
	if (cf_config_validate(&cfg, err, sizeof(err)) < 0 ||
	    cf_mount_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "http fuzz: %s\n", err);
		abort();
	}
	cf_log_init();
	cf_log_set_level(0);
	cf_log_route_lws();
	cf_metrics_init();
	if (cf_state_open(dir, err, sizeof(err)) < 0 || cf_server_start(&srv, &cfg) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	size_t off = 1;
	uint64_t until;
	char buf[65536];
	int fd, closed = 0, rounds = 0;

	if (size < 1 || size > 32 * 1024)
		return -1;
	a.sin_port = htons((uint16_t)ports[data[0] % NLISTEN]);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		abort();
	/* The server answers within the bound, and closes once the client has half-closed and
	 * read everything: a connection still open after it is a hang. The half-close waits
	 * for the loop to go idle a few times, so answers that come later (the bus) are sent. */
	until = cf_now_ms() + 2000;
	while (!closed && cf_now_ms() < until) {
		ssize_t n;

		if (off < size) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
				off = size; /* reset by the server: nothing more to send */
		} else if (rounds++ == 8) {
			shutdown(fd, SHUT_WR);
		}
		cf_server_poll(&srv);
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
			if (verbose)
				fwrite(buf, 1, (size_t)n, stderr);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			closed = 1;
	}
	close(fd);
	if (!closed) {
		fprintf(stderr, "http fuzz: the server did not close the connection within 2 s\n");
		abort();
	}
	/* Let the server finish closing its side. */
	for (int i = 0; i < 4; i++)
		cf_server_poll(&srv);
	return 0;
}
