/* SPDX-License-Identifier: MIT */
/* dialect.c - one dialect's frame parser, reached as lws reaches it: through the dialect's
 * vtable (on_open, then on_text for every complete client message, on_close). Built once per
 * dialect (FUZZ_DIALECT_native, _000 ... _004). The sessions are real sessions on a real
 * registry and local bus, without a socket (wsi NULL: what is sent to them stays queued, as in
 * the unit tests); accounts are off (auth.enabled = 0).
 *
 * Input: messages separated by the byte 0xF5, which valid UTF-8 never holds. A message's first
 * byte picks its kind (bit 0: binary) and its session (bit 1: the attacker or a second client
 * in the same room); the rest is its payload. Text messages that are not valid UTF-8 are
 * skipped (lws closes those with 1007 before a dialect sees them), as are messages over the
 * dialect's limit (session.c closes with 1009). */
#include "fuzz.h"

#include <errno.h>
#include "auth/auth.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/ring.h"
#include "core/room.h"
#include "dialects/dialects.h"
#include "net/mount.h"
#include "net/server.h"
#include "net/session.h"

#if defined(FUZZ_DIALECT_native)
#define DIALECT cf_dialect_native
#elif defined(FUZZ_DIALECT_000)
#define DIALECT cf_dialect_disposable
#elif defined(FUZZ_DIALECT_001)
#define DIALECT cf_dialect_redis_chat
#elif defined(FUZZ_DIALECT_002)
#define DIALECT cf_dialect_chatty
#elif defined(FUZZ_DIALECT_003)
#define DIALECT cf_dialect_texto
#elif defined(FUZZ_DIALECT_004)
#define DIALECT cf_dialect_ttu
#else
#error "FUZZ_DIALECT_<name> not defined"
#endif

#define SEP   0xF5
#define NSESS 2

static struct cf_config cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (cf_config_init(&cfg) < 0)
		abort();
	/* Small bounds, so that the fuzzer reaches them. */
	cfg.history = 8;
	cfg.join_history = 4;
	cfg.max_rooms = 16;
	cfg.max_rooms_per_session = 4;
	cfg.queue_frames = 64;
	cfg.auth_enabled = 0;
	cf_log_set_level(0);
	cf_metrics_init();
	return 0;
}

/* Strict UTF-8, as lws's validator (no overlongs, surrogates or code points past U+10FFFF). */
static int
utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* What session.c's to_dialect() does with a complete message. */
static int
to_dialect(struct cf_sess *s, int binary, const char *buf, size_t len)
{
	char *clean;
	int r;

	if (!binary)
		return s->dialect->on_text(s, buf, len);
	if (!s->dialect->binary_as_text)
		return s->dialect->on_text(s, NULL, 0);
	clean = cf_text_utf8_sanitize(buf, len);
	if (!clean)
		abort();
	r = s->dialect->on_text(s, clean, strlen(clean));
	free(clean);
	return r;
}

/* The state the dialect's on_open leaves, for those whose on_open reads the request's query
 * (which a session without a socket has not): a user name and the room of the URL. */
static void
open_sess(struct cf_server *srv, struct cf_sess *s, int i)
{
	char id[40];

	(void)srv;
#if defined(FUZZ_DIALECT_000) || defined(FUZZ_DIALECT_002)
	struct cf_room *room;
	struct cf_member *mb;

	cf_text_uuid4(id, s->id);
	if (cf_sess_set_user(s, id, i ? "bob" : "alice") < 0 ||
	    cf_room_join(srv->env.reg, s, "lobby", &room, &mb) < 0)
		abort();
#elif defined(FUZZ_DIALECT_003)
	(void)i;
	cf_text_uuid4(id, s->id);
	if (cf_sess_set_user(s, id, id) < 0)
		abort();
#else
	(void)i;
	(void)id;
	if (s->dialect->on_open && s->dialect->on_open(s, NULL) < 0)
		abort();
#endif
}

/* What session.c's on_closed() does. */
static void
close_sess(struct cf_server *srv, struct cf_sess *s)
{
	cf_bus_cancel(srv->env.bus, s);
	cf_auth_cancel(srv->env.auth, s);
	if (s->dialect->on_close)
		s->dialect->on_close(s);
	cf_sess_hold_clear(s);
	if (s->x)
		free(s->x->rx);
	free(s->x);
	s->x = NULL;
	cf_room_leave_all(srv->env.reg, s);
	cf_registry_user_remove(srv->env.reg, s);
	cf_ring_clear(&s->out);
	free(s->user_id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_bus_host host;
	size_t max = DIALECT.max_frame ? DIALECT.max_frame : (size_t)cfg.max_frame;
	const uint8_t *p = data, *end = data + size;
	struct cf_server srv = {.env.cfg = &cfg};
	struct cf_sess *s[NSESS];
	int dead[NSESS] = {0};

	if (DIALECT.max_is_text)
		max = (size_t)cfg.max_text;
	if (size > 256 * 1024)
		return -1;
	srv.env.reg = cf_registry_new(&cfg);
	cf_bus_host_registry(&host, srv.env.reg);
	srv.env.bus = cf_bus_local_new(NULL, &host);
	if (!srv.env.reg || !srv.env.bus)
		abort();
	{
		/* As server.c does. */
		struct cf_registry_host rh = {.push = cf_sess_push, .addr = cf_sess_addr};

		cf_bus_registry_host(srv.env.bus, &rh);
		cf_registry_set_host(srv.env.reg, &rh);
	}
	for (int i = 0; i < NSESS; i++) {
		s[i] = calloc(1, sizeof(*s[i]));
		if (!s[i])
			abort();
		s[i]->env = &srv.env;
		s[i]->dialect = &DIALECT;
		s[i]->id = ++srv.next_sess_id;
		open_sess(&srv, s[i], i);
		cf_bus_local_run(srv.env.bus);
	}
	while (p < end) {
		const uint8_t *e = memchr(p, SEP, (size_t)(end - p));
		size_t len = (size_t)((e ? e : end) - p);

		if (len) {
			int binary = p[0] & 1, k = (p[0] >> 1) & 1;
			const char *buf = (const char *)p + 1;

			if (!dead[k] && !s[k]->closing && !s[k]->slow && len - 1 <= max &&
			    (binary || utf8_ok(p + 1, len - 1))) {
				if (to_dialect(s[k], binary, buf, len - 1) < 0)
					dead[k] = 1; /* lws closes the connection */
				cf_bus_local_run(srv.env.bus);
			}
			/* The client reads what it was sent. */
			for (int i = 0; i < NSESS; i++)
				cf_ring_clear(&s[i]->out);
		}
		p += len + 1;
	}
	for (int i = 0; i < NSESS; i++) {
		close_sess(&srv, s[i]);
		cf_bus_local_run(srv.env.bus);
		free(s[i]);
	}
	cf_bus_free(srv.env.bus);
	cf_registry_free(srv.env.reg);
	for (size_t i = 0; cf_mount_at(i); i++)
		if (cf_mount_at(i)->cleanup)
			cf_mount_at(i)->cleanup();
	return 0;
}
