/* SPDX-License-Identifier: MIT */
/* redis_reply.c - the cluster bus's handling of what comes from Redis: messages on room and
 * user channels (another node's publishes, presence and typing events, inbox drains) and the
 * operator's notice channel, the room log's entries, the meta and presence hashes and the inbox
 * lists its scripts read, and the replies those scripts give when the keys hold something no node
 * wrote (a bad node, or anyone who can reach Redis). The wire format itself is hiredis's to parse;
 * what the bus does with well-formed replies of any shape is what is fuzzed.
 *
 * A real confabd server (cf_server_start, cluster mode) runs in the harness's process against
 * a real redis-server the harness starts on a unix socket in a temporary directory. Each input
 * is a list of operations: a byte (the operation), a 16-bit little-endian length and that many
 * bytes of payload. Operations write to Redis directly (PUBLISH on the bus's channels, XADD
 * to the room log, HSET meta, presence and rules fields, RPUSH to an inbox, SET a key to the
 * wrong type) or make the server act (two sessions without sockets join and leave the room,
 * publish, say they are typing, read history, send kept direct messages, change the room's
 * rules). After each one the loop runs until Redis has answered. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/ring.h"
#include "core/room.h"
#include "core/rules.h"
#include "dialects/dialects.h"
#include "net/server.h"
#include "net/session.h"

#define ROOM "lobby"

static struct cf_config cfg;
static struct cf_server srv;
static char dir[64], sock[128];
static pid_t redis_pid = -1;
static redisContext *rc;

static void
set(const char *section, const char *key, const char *value)
{
	char err[256];

	if (cf_config_set(&cfg, section, key, value, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "redis_reply fuzz: %s.%s: %s\n", section, key, err);
		abort();
	}
}

static void
cleanup(void)
{
	char cmd[128];

	cf_server_stop(&srv);
	cf_config_fini(&cfg);
	if (rc)
		redisFree(rc);
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "redis_reply fuzz: could not remove %s\n", dir);
}

static void
start_redis(void)
{
	uint64_t until;

	redis_pid = fork();
	if (redis_pid < 0)
		abort();
	if (redis_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* A finding aborts the harness without atexit(): Redis goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);

		dup2(null, 1);
		dup2(null, 2);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	until = cf_now_ms() + 10000;
	while (cf_now_ms() < until) {
		rc = redisConnectUnix(sock);
		if (rc && !rc->err)
			return;
		if (rc)
			redisFree(rc);
		rc = NULL;
		poll(NULL, 0, 20);
	}
	fprintf(stderr, "redis_reply fuzz: redis-server did not start on %s\n", sock);
	abort();
}

/* A command on the harness's own connection; its reply is dropped (errors included: the
 * point is what the bus makes of the keys afterwards). */
static void
cmd(int argc, const char **argv, const size_t *lens)
{
	redisReply *r = redisCommandArgv(rc, argc, argv, lens);

	if (!r) {
		fprintf(stderr, "redis_reply fuzz: lost redis-server: %s\n", rc->errstr);
		abort();
	}
	freeReplyObject(r);
}

/* Runs the loop until Redis has answered what the server sent: it has nothing left to do for
 * a few turns in a row, or 50 ms passed. */
static void
settle(void)
{
	uint64_t until = cf_now_ms() + 50;
	redisReply *r;

	/* What the harness wrote is in before the server acts on it. */
	r = redisCommand(rc, "PING");
	if (!r)
		abort();
	freeReplyObject(r);
	for (int idle = 0; idle < 3 && cf_now_ms() < until;) {
		struct pollfd none;

		cf_server_poll(&srv);
		idle = poll(&none, 0, 1) == 0 ? idle + 1 : 0;
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char entry[300], err[256];
	uint64_t until;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/confab-fuzz-redis-XXXXXX");
	if (!mkdtemp(dir) || cf_config_init(&cfg) < 0)
		abort();
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	atexit(cleanup);
	start_redis();
	snprintf(entry, sizeof(entry), "127.0.0.1:%d dialects=native", fuzz_free_port());
	set("server", "listen", entry);
	snprintf(entry, sizeof(entry), "unix://%s", sock);
	set("redis", "url", entry);
	set("server", "node_id", "fuzz-node");
	set("log", "level", "error");
	set("auth", "enabled", "0");
	set("rooms", "history", "8");
	set("rooms", "join_history", "4");
	if (cf_config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "redis_reply fuzz: %s\n", err);
		abort();
	}
	cf_log_init();
	cf_log_set_level(0);
	cf_log_route_lws();
	cf_metrics_init();
	if (cf_server_start(&srv, &cfg) < 0)
		abort();
	until = cf_now_ms() + 10000;
	while (!cf_bus_healthy(srv.env.bus) && cf_now_ms() < until)
		cf_server_poll(&srv);
	if (!cf_bus_healthy(srv.env.bus)) {
		fprintf(stderr, "redis_reply fuzz: the bus did not come up: %s\n",
		        cf_bus_status(srv.env.bus));
		abort();
	}
	return 0;
}

static void
done_cb(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	(void)ud;
	(void)tag;
	(void)m;
	(void)err;
}

static void
history_cb(void *ud, int err, uint64_t epoch, uint64_t seq, struct cf_msg **msgs, size_t n)
{
	(void)ud;
	(void)epoch;
	(void)seq;
	for (size_t i = 0; !err && i < n; i++)
		if (!msgs[i] || !msgs[i]->text)
			abort();
}

static void
online_cb(void *ud, int err, const uint8_t *online, size_t n)
{
	(void)ud;
	(void)online;
	(void)n;
	(void)err;
}

static struct cf_member *
member_of(struct cf_sess *s)
{
	return s->rooms.head ? lws_container_of(s->rooms.head, struct cf_member, in_sess) : NULL;
}

static void
close_sess(struct cf_sess *s)
{
	cf_bus_cancel(srv.env.bus, s);
	cf_room_leave_all(srv.env.reg, s);
	cf_registry_user_remove(srv.env.reg, s);
	cf_ring_clear(&s->out);
	free(s->user_id);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fields[] = {"epoch", "seq", "prev", "base"};
	static const char *const kinds[] = {"meta", "log", "presence", "inbox", "room", "user"};
	const uint8_t *p = data, *end = data + size;
	struct cf_sess *s[2];
	char k[256];
	int ops = 0;

	if (size > 16 * 1024)
		return -1;
	{
		const char *argv[] = {"FLUSHALL"};

		cmd(1, argv, NULL);
	}
	for (int i = 0; i < 2; i++) {
		s[i] = calloc(1, sizeof(*s[i]));
		if (!s[i])
			abort();
		s[i]->env = &srv.env;
		s[i]->dialect = &cf_dialect_native;
		s[i]->id = ++srv.next_sess_id;
		if (cf_sess_set_user(s[i], i ? "bob" : "alice", i ? "bob" : "alice") < 0)
			abort();
	}
	settle();
	while (end - p >= 3 && ops++ < 32) {
		uint8_t op = p[0];
		size_t len = (size_t)p[1] | (size_t)p[2] << 8;
		const char *pl = (const char *)p + 3;
		struct cf_sess *who = s[op >> 7];

		if (len > (size_t)(end - p) - 3)
			len = (size_t)(end - p) - 3;
		p += 3 + len;
		switch (op % 14) {
		case 0: /* another node's publish, or a presence event, on the room's channel */
		case 1: /* a direct message on alice's channel, or (op & 64) an operator's notice */
			snprintf(k, sizeof(k), "%s%s:%s", cfg.redis_prefix,
			         op % 14 ? "user" : "room", op % 14 ? "alice" : ROOM);
			if (op % 14 == 1 && (op & 64))
				snprintf(k, sizeof(k), "%snotice", cfg.redis_prefix);
			{
				const char *argv[] = {"PUBLISH", k, pl};
				const size_t lens[] = {7, strlen(k), len};

				cmd(3, argv, lens);
			}
			break;
		case 2: /* an entry in the room's log */
			snprintf(k, sizeof(k), "%slog:%s", cfg.redis_prefix, ROOM);
			{
				const char *argv[] = {"XADD", k, "*", "m", pl};
				const size_t lens[] = {4, strlen(k), 1, 1, len};

				cmd(5, argv, lens);
			}
			break;
		case 3: /* a field of the room's meta hash */
			snprintf(k, sizeof(k), "%smeta:%s", cfg.redis_prefix, ROOM);
			{
				const char *f = fields[len ? (uint8_t)pl[0] % 4 : 0];
				const char *argv[] = {"HSET", k, f, len ? pl + 1 : ""};
				const size_t lens[] = {4, strlen(k), strlen(f), len ? len - 1 : 0};

				cmd(4, argv, lens);
			}
			break;
		case 4: /* a presence entry: "node\x1fuser" = name, split at the first NUL */
			snprintf(k, sizeof(k), "%spresence:%s", cfg.redis_prefix, ROOM);
			{
				const char *nul = memchr(pl, '\0', len);
				size_t fl = nul ? (size_t)(nul - pl) : len;
				const char *argv[] = {"HSET", k, pl, nul ? nul + 1 : ""};
				const size_t lens[] = {4, strlen(k), fl, nul ? len - fl - 1 : 0};

				cmd(4, argv, lens);
			}
			break;
		case 5: /* a kept message in alice's inbox */
			snprintf(k, sizeof(k), "%sinbox:alice", cfg.redis_prefix);
			{
				const char *argv[] = {"RPUSH", k, pl};
				const size_t lens[] = {5, strlen(k), len};

				cmd(3, argv, lens);
			}
			break;
		case 6: /* a key of the wrong type */
			snprintf(k, sizeof(k), "%s%s:%s", cfg.redis_prefix,
			         kinds[len ? (uint8_t)pl[0] % 6 : 0],
			         len && (uint8_t)pl[0] % 6 >= 3 ? "alice" : ROOM);
			{
				const char *argv[] = {"SET", k, len ? pl + 1 : ""};
				const size_t lens[] = {3, strlen(k), len ? len - 1 : 0};

				cmd(3, argv, lens);
			}
			break;
		case 7: /* a session joins the room, or leaves it */
			if (member_of(who)) {
				cf_room_leave(srv.env.reg, who, member_of(who)->room);
			} else {
				struct cf_room *room;
				struct cf_member *mb;

				(void)cf_room_join(srv.env.reg, who, ROOM, &room, &mb);
			}
			break;
		case 8: /* a session publishes (op & 32: an edit or delete of the seq pl[0]), or
		         * (op & 64) says it is typing */
			if (member_of(who) && (op & 64)) {
				(void)cf_room_typing(srv.env.reg, who, member_of(who)->room,
				                     len & 1);
			} else if (member_of(who)) {
				char *text = fuzz_str((const uint8_t *)pl, len);
				struct cf_msg *m = cf_msg_new(ROOM, who->user_id, who->user_name,
				                              text, len & 1 ? "nonce" : NULL);

				free(text);
				if (!m)
					abort();
				if (op & 32) {
					m->kind = len & 2 ? CF_MSG_DELETE : CF_MSG_EDIT;
					m->ref = len ? (uint8_t)pl[0] : 0;
				}
				(void)cf_bus_publish(srv.env.bus, m, done_cb, who, 0);
				cf_msg_unref(m);
			}
			break;
		case 9: /* a history read, from a seq the input gives */
			(void)cf_bus_history(srv.env.bus, ROOM, len ? (uint64_t)(uint8_t)pl[0] : 0,
			                     5, history_cb, who);
			break;
		case 10: /* a kept direct message to carol (no session anywhere) or alice */
		{
			char *text = fuzz_str((const uint8_t *)pl, len);
			struct cf_msg *m = cf_msg_new(op & 64 ? "alice" : "carol", who->user_id,
			                              who->user_name, text, NULL);

			free(text);
			if (!m)
				abort();
			m->dm = 1;
			m->keep = 1;
			(void)cf_bus_dm(srv.env.bus, m, done_cb, who, 0);
			cf_msg_unref(m);
		} break;
		case 12: /* the room's rules, as another node (or anyone) wrote them */
			snprintf(k, sizeof(k), "%srules:%s", cfg.redis_prefix, ROOM);
			{
				const char *argv[] = {"HSET", k, "j", pl};
				const size_t lens[] = {4, strlen(k), 1, len};

				cmd(4, argv, lens);
			}
			break;
		case 13: /* a session changes the room's rules (read, checked, written, spread) */
		{
			struct cf_rules_change c = {
			        .op = (enum cf_rules_op)(len ? (uint8_t)pl[0] % 9 : 0),
			        .actor = who->user_id,
			        .target = op & 64 ? "bob" : "alice",
			        .role = (uint8_t)(len > 1 ? (uint8_t)pl[1] % 4 : 1),
			        .kind = (uint8_t)(len > 1 ? (uint8_t)pl[1] % 3 : 0),
			        .topic = "fuzzed",
			        .until = 4000000000LL};

			(void)cf_bus_rules_change(srv.env.bus, ROOM, &c, NULL, NULL);
		} break;
		case 11: /* who is online; then a user's sessions come and go (drains the inbox) */
		{
			const char *const uids[] = {"alice", "bob", "carol"};

			(void)cf_bus_online(srv.env.bus, uids, 3, online_cb, who);
			cf_registry_user_remove(srv.env.reg, who);
			settle();
			if (cf_registry_user_add(srv.env.reg, who) < 0)
				abort();
		} break;
		}
		settle();
		for (int i = 0; i < 2; i++)
			cf_ring_clear(&s[i]->out);
	}
	for (int i = 0; i < 2; i++)
		close_sess(s[i]);
	settle();
	return 0;
}
