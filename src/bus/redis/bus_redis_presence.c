/* SPDX-License-Identifier: MIT */
/* bus_redis_presence.c - who is where across the nodes of a cluster.
 *
 * Room presence: the registry tells the bus when a user's first local session joins a room and
 * when its last leaves; presence.lua sets or deletes the field "<node>\x1f<user id>" of the
 * room's presence hash, adds the room to the node's room set and publishes a join or leave
 * event on the room's channel. Other nodes apply those events to their mirror, and every
 * catch-up re-reads the whole hash, so lists converge. Each node keeps its liveness key alive,
 * and alive.lua buries the nodes whose key expired: their users leave every room they were in.
 *
 * User presence: a node subscribes to user:<id> while the user has a session there, so
 * PUBSUB NUMSUB says whether a user is online anywhere. */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"

/* {"p":"join"|"leave","r":room,"u":user id,"n":name,"o":node} from another node. */
void
cf_bus_redis_on_presence(struct bus_redis *b, json_t *o)
{
	const char *p, *r, *u, *n, *node;
	struct cf_room *room;
	struct room_state *st;

	if (json_unpack(o, "{s:s,s:s,s:s,s:s,s:s}", "p", &p, "r", &r, "u", &u, "n", &n, "o",
	                &node) < 0 ||
	    !strcmp(node, b->node))
		return;
	room = cf_room_find(b->reg, r);
	if (!room || room->sync == CF_ROOM_STALE || !(st = state_of(room)))
		return;
	if (room->sync == CF_ROOM_SYNCING) {
		/* The full read decides; one in flight may predate this event: read again. */
		if (st->fetching)
			st->refetch = 1;
		return;
	}
	cf_bus_redis_remote(b->reg, room, node, u, n, !strcmp(p, "join"));
}

/* The registry lists a user while a local session or any other node has it: it counts the
 * nodes (cf_room_presence_remote()), the bus knows which they are. */
static void
remote_remove(struct cf_registry *reg, struct cf_room *room, struct room_state *st,
              struct remote *rm)
{
	HASH_DEL(st->remote, rm);
	(void)cf_room_presence_remote(reg, room, strchr(rm->key, '\x1f') + 1, rm->name, 0);
	free(rm);
}

void
cf_bus_redis_remote(struct cf_registry *reg, struct cf_room *room, const char *node,
                    const char *uid, const char *name, int joined)
{
	size_t kl = strlen(node) + 1 + strlen(uid), nl = strlen(name);
	struct room_state *st = joined ? cf_bus_redis_state_get(room) : state_of(room);
	struct remote *rm;
	char *key;

	if (!st || !(key = malloc(kl + 1)))
		return;
	snprintf(key, kl + 1, "%s\x1f%s", node, uid);
	HASH_FIND(hh, st->remote, key, kl, rm);
	free(key);
	if (!joined) {
		if (rm)
			remote_remove(reg, room, st, rm);
		return;
	}
	if (rm) {
		rm->stale = 0;
		return;
	}
	rm = calloc(1, sizeof(*rm) + kl + 1 + nl + 1);
	if (!rm)
		return;
	snprintf(rm->key, kl + 1, "%s\x1f%s", node, uid);
	memcpy(rm->key + kl + 1, name, nl + 1);
	rm->name = rm->key + kl + 1;
	if (cf_room_presence_remote(reg, room, uid, name, 1) < 0) {
		free(rm);
		return;
	}
	HASH_ADD(hh, st->remote, key[0], kl, rm);
}

void
cf_bus_redis_remote_mark(struct cf_room *room)
{
	struct room_state *st = state_of(room);
	struct remote *rm, *tmp;

	if (!st)
		return;
	HASH_ITER(hh, st->remote, rm, tmp)
	{
		rm->stale = 1;
	}
}

void
cf_bus_redis_remote_sweep(struct cf_registry *reg, struct cf_room *room)
{
	struct room_state *st = state_of(room);
	struct remote *rm, *tmp;

	if (!st)
		return;
	HASH_ITER(hh, st->remote, rm, tmp)
	{
		if (rm->stale)
			remote_remove(reg, room, st, rm);
	}
}

/* The room's whole presence hash (field "<node>\x1f<user id>", value the name): the other
 * nodes' entries replace what the mirror had. */
void
cf_bus_redis_apply_presence(struct bus_redis *b, struct cf_room *room, const redisReply *h)
{
	size_t nl = strlen(b->node);

	cf_bus_redis_remote_mark(room);
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const redisReply *k = h->element[i], *v = h->element[i + 1];
		char node[128];
		const char *sep;

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		sep = memchr(k->str, '\x1f', k->len);
		if (!sep || (size_t)(sep - k->str) >= sizeof(node))
			continue;
		if ((size_t)(sep - k->str) == nl && !memcmp(k->str, b->node, nl))
			continue; /* our own: the registry knows them first-hand */
		memcpy(node, k->str, (size_t)(sep - k->str));
		node[sep - k->str] = '\0';
		cf_bus_redis_remote(b->reg, room, node, sep + 1, v->str, 1);
	}
	cf_bus_redis_remote_sweep(b->reg, room);
}

static void
on_numsub_reply(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	uint8_t on[CF_BUS_ONLINE_MAX];

	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 * q->n) {
		cf_bus_redis_req_finish(q, rep ? -EIO : -ENOTCONN);
		return;
	}
	/* {channel, subscribers, ...}: each node follows user:<id> while the user has a session
	 * there, so more than 0 subscribers means a session somewhere. */
	for (size_t i = 0; i < q->n; i++)
		on[i] = reply_u64(rep->element[2 * i + 1]) > 0;
	if (q->cb.online)
		q->cb.online(q->ud, 0, on, q->n);
	cf_bus_redis_req_free(q);
}

int
cf_bus_redis_online(struct cf_bus *bus, const char *const *uids, size_t n, cf_bus_online_cb *cb,
                    void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	const char **argv = calloc(n + 2, sizeof(*argv));
	char *chs = malloc(n * 512);
	struct req *q = NULL;
	int r = 0;

	if (!argv || !chs) {
		r = -ENOMEM;
		goto out;
	}
	if (!cf_redis_is_up(b->redis)) {
		r = -ENOTCONN;
		goto out;
	}
	argv[0] = "PUBSUB";
	argv[1] = "NUMSUB";
	for (size_t i = 0; i < n && !r; i++) {
		r = key(chs + i * 512, 512, b, "user", uids[i]);
		argv[i + 2] = chs + i * 512;
	}
	if (r < 0)
		goto out;
	q = cf_bus_redis_req_new(b, REQ_ONLINE, ud, NULL);
	if (!q) {
		r = -ENOMEM;
		goto out;
	}
	q->cb.online = cb;
	q->n = n;
	r = cf_redis_cmd(b->redis, on_numsub_reply, q, (int)n + 2, argv, NULL);
	if (r < 0)
		cf_bus_redis_req_free(q);
out:
	free(chs);
	free(argv);
	return r;
}

void
cf_bus_redis_presence(struct cf_bus *bus, struct cf_room *room, const char *uid, const char *name,
                      int joined)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char pk[512], rk[512], ch[512], field[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->presence.sha,    "2", pk,   rk,  field,
	                      name,      joined ? "1" : "0", ch,  NULL, ttl, room->name};
	json_t *ev;
	char *txt;

	/* Down: on_up announces every local user again. */
	if (!cf_redis_is_up(b->redis))
		return;
	ev = json_pack("{s:s,s:s,s:s,s:s,s:s}", "p", joined ? "join" : "leave", "r", room->name,
	               "u", uid, "n", name, "o", b->node);
	txt = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!txt)
		return;
	argv[9] = txt;
	key(pk, sizeof(pk), b, "presence", room->name);
	key(rk, sizeof(rk), b, "noderooms", b->node);
	key(ch, sizeof(ch), b, "room", room->name);
	snprintf(field, sizeof(field), "%s\x1f%s", b->node, uid);
	snprintf(ttl, sizeof(ttl), "%d", key_ttl(b));
	(void)cf_redis_cmd(b->redis, cf_bus_redis_script_reply, &b->presence, 12, argv, NULL);
	free(txt);
}

static void
on_alive_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
		log_info("redis: removed %lld node(s) that stopped without leaving from presence",
		         (long long)rep->integer);
	else
		cf_bus_redis_script_reply(&b->alive, rep);
}

/* Keeps this node alive and buries the nodes whose liveness key expired. */
void
cf_bus_redis_alive(struct bus_redis *b)
{
	char nk[512], sk[512], ttl[16], sttl[16];
	const char *argv[] = {"EVALSHA", b->alive.sha,         "2", nk, sk, b->node,
	                      ttl,       b->cfg->redis_prefix, sttl};

	key(nk, sizeof(nk), b, "node", b->node);
	snprintf(sk, sizeof(sk), "%snodes", b->cfg->redis_prefix);
	snprintf(ttl, sizeof(ttl), "%d", b->cfg->redis_node_ttl);
	snprintf(sttl, sizeof(sttl), "%d",
	         b->cfg->history_ttl > 10 * b->cfg->redis_node_ttl ? b->cfg->history_ttl
	                                                           : 10 * b->cfg->redis_node_ttl);
	(void)cf_redis_cmd(b->redis, on_alive_reply, b, 9, argv, NULL);
}
