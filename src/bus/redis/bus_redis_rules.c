/* SPDX-License-Identifier: MIT */
/* bus_redis_rules.c - room rules (core/rules.h) in a cluster: kept in Redis (hash rules:<room>
 * {v, j}, the set `ruled` of rooms with rules, and per creator the set created:<uid>), read by
 * each node with its catch-up of a room it starts to follow, and spread on the room's channel
 * as a rules message that carries the whole new rules and the change, which every node that
 * follows the room applies (cf_bus_host.rules_changed: kicks, bans, events).
 *
 * A change is read, checked and applied here (the decisions are rules.c's, the same on every
 * node) and written by rules.lua only if the rules are still the version read: a node that
 * loses a race reads again, up to CHANGE_TRIES times. What comes from Redis, the rules and the
 * messages alike, is parsed as hostile input. A room's keys live on the room's shard. */
#include "bus/redis/bus_redis_int.h"

#include "base/ident.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"

#include <time.h>

#define CHANGE_TRIES 5

/* A rules request: the change (NULL op: a read) with its own copies of the strings. */
struct rules_op {
	int change;
	int tries;
	struct cf_rules_change c;
	struct cf_rules next; /* what the write keeps */
	char actor[CF_IDENT_MAX], target[CF_IDENT_MAX];
	char topic[CF_RULES_TOPIC_MAX + 1];
};

static const char *const op_names[] = {"create", "topic", "kind", "role",   "kick",
                                       "ban",    "unban", "mute", "unmute", "close"};

static void send_read(struct req *q);

/* A change after which the room keeps no new rules: a kick (nothing changes), a close (the
 * rules go). */
static int
keeps_none(enum cf_rules_op op)
{
	return op == CF_RULES_KICK || op == CF_RULES_CLOSE;
}

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* Rules JSON from Redis into r: 0, or -EIO (not rules; logged). */
static int
parse_rules(struct bus_redis *b, const char *room, const char *txt, size_t len, struct cf_rules *r)
{
	json_t *o = json_loadb(txt, len, JSON_REJECT_DUPLICATES, NULL);
	int e = o ? cf_rules_from_json(r, o, (uint32_t)b->cfg->rooms_max_rule_users,
	                               (size_t)b->cfg->max_name)
	          : -EINVAL;

	json_decref(o);
	if (e == -EINVAL)
		log_warn("redis: room '%s': the stored rules are not rules: ignored", room);
	return e < 0 ? (e == -ENOMEM ? e : -EIO) : 0;
}

static void
finish(struct req *q, int err, const struct cf_rules *r)
{
	if (q->cb.rules)
		q->cb.rules(q->ud, err, r);
	cf_bus_redis_req_free(q);
}

/* The request's state goes with it (cf_bus_redis_req_free()). */
static void
op_free(void *p)
{
	struct rules_op *op = p;

	cf_rules_fini(&op->next);
	free(op);
}

/* ---- what a node holds ---------------------------------------------------------------- */

const struct cf_rules *
cf_bus_redis_rules(struct cf_bus *bus, const char *name)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	struct cf_room *room = cf_room_find(b->reg, name);
	struct room_state *st = room ? state_of(room) : NULL;

	return st && st->rules_known && room->sync != CF_ROOM_STALE ? st->rules : NULL;
}

/* Keeps r (stolen; NULL: the room has none) as the room's rules unless what is held is newer.
 * 1 when it was kept. */
static int
keep(struct room_state *st, struct cf_rules *r)
{
	if (st->rules && r && r->version < st->rules->version) {
		cf_rules_fini(r);
		free(r);
		return 0;
	}
	if (st->rules) {
		cf_rules_fini(st->rules);
		free(st->rules);
	}
	st->rules = r;
	st->rules_known = 1;
	return 1;
}

int
cf_bus_redis_rules_fetched(struct bus_redis *b, struct cf_room *room, const redisReply *rep)
{
	struct room_state *st = state_of(room);
	struct cf_rules *r = NULL;
	uint64_t had;
	int known, e;

	if (!st)
		return -ENOMEM;
	if (rep->type == REDIS_REPLY_STRING) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		e = parse_rules(b, room->name, rep->str, rep->len, r);
		if (e < 0) {
			free(r);
			return e;
		}
	} else if (rep->type != REDIS_REPLY_NIL) {
		return -EIO;
	}
	known = st->rules_known;
	had = st->rules ? st->rules->version : 0;
	/* A catch-up of a room followed all along (Redis came back): its rules may have
	 * changed meanwhile; the members hear of it as of any change. */
	if (keep(st, r) && known && (st->rules ? st->rules->version : 0) != had &&
	    b->bus.host.rules_changed)
		b->bus.host.rules_changed(b->bus.host.ud, room->name, st->rules, NULL);
	return 0;
}

/* ---- the rules messages ----------------------------------------------------------------- */

/* {"q":1,"r":room,"j":rules|null,"c":{"op","a","t","role","kind","topic","until"}} */
static json_t *
message(const char *room, const struct cf_rules *next, const struct cf_rules_change *c)
{
	json_t *cj = json_pack("{s:s,s:i,s:i,s:I}", "op", op_names[c->op], "role", c->role, "kind",
	                       c->kind, "until", (json_int_t)c->until);

	/* Absent, not null: a reader's "s?s" takes a missing key, not a null. */
	if (cj && c->actor)
		json_object_set_new(cj, "a", json_string(c->actor));
	if (cj && c->target)
		json_object_set_new(cj, "t", json_string(c->target));
	if (cj && c->topic)
		json_object_set_new(cj, "topic", json_string(c->topic));
	return json_pack("{s:i,s:s,s:o,s:o}", "q", 1, "r", room, "j",
	                 next ? cf_rules_json(next) : json_null(), "c", cj);
}

void
cf_bus_redis_on_rules(struct bus_redis *b, json_t *o)
{
	const char *room_name, *op, *a = NULL, *t = NULL, *topic = NULL;
	json_t *j = json_object_get(o, "j"), *cj;
	struct cf_rules_change c = {0};
	struct cf_room *room;
	struct room_state *st;
	struct cf_rules *r = NULL;
	json_int_t until = 0;
	int role = 0, kind = 0, i;

	if (json_unpack(o, "{s:s,s:o}", "r", &room_name, "c", &cj) < 0 ||
	    json_unpack(cj, "{s:s,s?s,s?s,s:i,s:i,s?s,s:I}", "op", &op, "a", &a, "t", &t, "role",
	                &role, "kind", &kind, "topic", &topic, "until", &until) < 0 ||
	    (a && !cf_ident_ok(a, (size_t)b->cfg->max_name)) ||
	    (t && !cf_ident_ok(t, (size_t)b->cfg->max_name)) || role < 0 || role > CF_ROLE_OWNER ||
	    kind < 0 || kind > CF_KIND_ANNOUNCE || (topic && strlen(topic) > CF_RULES_TOPIC_MAX) ||
	    (!json_is_null(j) && !json_is_object(j))) {
		log_warn("redis: ignoring a malformed rules message on a room channel");
		return;
	}
	for (i = 0; i < (int)(sizeof(op_names) / sizeof(op_names[0])); i++)
		if (!strcmp(op, op_names[i]))
			break;
	if (i == (int)(sizeof(op_names) / sizeof(op_names[0]))) {
		log_warn("redis: ignoring a rules message with op '%.16s'", op);
		return;
	}
	room = cf_room_find(b->reg, room_name);
	st = room ? state_of(room) : NULL;
	if (!st || room->sync == CF_ROOM_STALE)
		return; /* not followed here: the next catch-up reads them */
	if (json_is_object(j)) {
		r = calloc(1, sizeof(*r));
		if (!r || cf_rules_from_json(r, j, (uint32_t)b->cfg->rooms_max_rule_users,
		                             (size_t)b->cfg->max_name) < 0) {
			log_warn("redis: room '%s': a rules message without valid rules: ignored",
			         room_name);
			free(r);
			return;
		}
		if (!keep(st, r))
			return; /* older than what is held: it was told already */
	} else if (i == CF_RULES_CLOSE) {
		keep(st, NULL);
	}
	c = (struct cf_rules_change){.op = (enum cf_rules_op)i,
	                             .actor = a,
	                             .target = t,
	                             .role = (uint8_t)role,
	                             .kind = (uint8_t)kind,
	                             .topic = topic,
	                             .until = until};
	/* While the room syncs its members wait: the catch-up has the rules, and the joins
	 * are checked against them when it completes. */
	if (room->sync == CF_ROOM_LIVE && b->bus.host.rules_changed)
		b->bus.host.rules_changed(b->bus.host.ud, room_name, st->rules, &c);
}

/* ---- reads and changes ----------------------------------------------------------------- */

static void
on_written(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct bus_redis *b = q->b;
	struct rules_op *op = q->own;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep) {
		finish(q, -ENOTCONN, NULL);
	} else if (rep->type != REDIS_REPLY_STATUS && rep->type != REDIS_REPLY_STRING) {
		log_warn("redis: keeping the rules of room '%s': %s", q->room,
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		finish(q, -EIO, NULL);
	} else if (!strcmp(rep->str, "ok")) {
		finish(q, 0, keeps_none(op->c.op) ? NULL : &op->next);
	} else if (!strcmp(rep->str, "conflict") && ++op->tries < CHANGE_TRIES) {
		cf_rules_fini(&op->next);
		cf_rules_init(&op->next);
		send_read(q);
	} else {
		finish(q,
		       !strcmp(rep->str, "exists")  ? -EEXIST
		       : !strcmp(rep->str, "full")  ? -ENOSPC
		       : !strcmp(rep->str, "quota") ? -EDQUOT
		                                    : -EAGAIN,
		       NULL);
	}
}

/* The change against cur (NULL: none), written if cur is still what Redis holds. */
static void
write_change(struct req *q, const struct cf_rules *cur)
{
	struct bus_redis *b = q->b;
	struct rules_op *op = q->own;
	char rk[512], rs[512], ck[512], mk[512], pk[512], lk[512], ch[512], ver[24], nver[24],
	        mx[16], mc[16];
	char *txt = NULL, *msg = NULL;
	json_t *m;
	int e = cf_rules_check(cur, &op->c, now_s(), (uint32_t)b->cfg->rooms_max_rule_users);

	if (e == -EALREADY) {
		finish(q, 0, cur); /* the role is the user's already: done, nothing written */
		return;
	}
	if (e < 0) {
		finish(q, e, NULL);
		return;
	}
	cf_rules_init(&op->next);
	if (cur)
		e = cf_rules_copy(&op->next, cur);
	if (e == 0 && !keeps_none(op->c.op))
		e = cf_rules_apply(&op->next, &op->c, now_s());
	m = e == 0 ? message(q->room, keeps_none(op->c.op) ? NULL : &op->next, &op->c) : NULL;
	msg = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (msg && !keeps_none(op->c.op)) {
		json_t *nj = cf_rules_json(&op->next);

		txt = nj ? json_dumps(nj, JSON_COMPACT) : NULL;
		json_decref(nj);
	}
	if (!msg || (!keeps_none(op->c.op) && !txt)) {
		free(msg);
		free(txt);
		finish(q, -ENOMEM, NULL);
		return;
	}
	key(rk, sizeof(rk), b, "rules", q->room);
	snprintf(rs, sizeof(rs), "%sruled", b->cfg->redis_prefix);
	if (op->c.op == CF_RULES_CREATE)
		key(ck, sizeof(ck), b, "created", op->actor[0] ? op->actor : "-operator-");
	else if (op->c.op == CF_RULES_CLOSE && cur)
		key(ck, sizeof(ck), b, "created",
		    cur->creator && cur->creator[0] ? cur->creator : "-operator-");
	else
		snprintf(ck, sizeof(ck), "%s", rs);
	key(mk, sizeof(mk), b, "meta", q->room);
	key(pk, sizeof(pk), b, "presence", q->room);
	key(lk, sizeof(lk), b, "log", q->room);
	key(ch, sizeof(ch), b, "room", q->room);
	snprintf(ver, sizeof(ver), "%llu", cur ? (unsigned long long)cur->version : 0ULL);
	snprintf(nver, sizeof(nver), "%llu", (unsigned long long)op->next.version);
	snprintf(mx, sizeof(mx), "%d", b->cfg->rooms_max_ruled);
	snprintf(mc, sizeof(mc), "%d", b->cfg->rooms_max_created);
	{
		const char *argv[] = {
		        "EVALSHA",
		        b->rules.sha,
		        "6",
		        rk,
		        rs,
		        ck,
		        mk,
		        pk,
		        lk,
		        ver,
		        nver,
		        txt ? txt : "",
		        ch,
		        msg,
		        q->room,
		        op->c.op == CF_RULES_CREATE ? "create" : op->c.op == CF_RULES_CLOSE ? "close" : "change",
		        mx,
		        mc};

		e = cf_redis_cmd(b->redis, on_written, q, 18, argv, NULL);
	}
	free(msg);
	free(txt);
	if (e < 0)
		finish(q, e, NULL);
}

static void
on_read(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct bus_redis *b = q->b;
	struct rules_op *op = q->own;
	struct cf_rules cur;
	int have = 0, e = 0;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep) {
		finish(q, -ENOTCONN, NULL);
		return;
	}
	cf_rules_init(&cur);
	if (rep->type == REDIS_REPLY_STRING) {
		e = parse_rules(b, q->room, rep->str, rep->len, &cur);
		have = e == 0;
	} else if (rep->type != REDIS_REPLY_NIL) {
		log_warn("redis: reading the rules of room '%s': %s", q->room,
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		e = -EIO;
	}
	if (e < 0)
		finish(q, e, NULL);
	else if (!op->change)
		finish(q, 0, have ? &cur : NULL);
	else
		write_change(q, have ? &cur : NULL);
	cf_rules_fini(&cur);
}

static void
send_read(struct req *q)
{
	char rk[512];
	const char *argv[] = {"HGET", rk, "j"};
	int e;

	key(rk, sizeof(rk), q->b, "rules", q->room);
	e = cf_redis_cmd(q->b->redis, on_read, q, 3, argv, NULL);
	if (e < 0)
		finish(q, e, NULL);
}

static int
start(struct bus_redis *b, const char *room, const struct cf_rules_change *c, cf_bus_rules_cb *cb,
      void *ud)
{
	struct rules_op *op;
	struct req *q;
	char probe[512];

	if (key(probe, sizeof(probe), b, "rules", room) < 0)
		return -ENAMETOOLONG;
	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	op = calloc(1, sizeof(*op));
	q = op ? cf_bus_redis_req_new(b, REQ_RULES, ud, room) : NULL;
	if (!q) {
		free(op);
		return -ENOMEM;
	}
	q->own = op;
	q->own_free = op_free;
	q->cb.rules = cb;
	if (c) {
		op->change = 1;
		op->c = *c;
		snprintf(op->actor, sizeof(op->actor), "%s", c->actor ? c->actor : "");
		snprintf(op->target, sizeof(op->target), "%s", c->target ? c->target : "");
		snprintf(op->topic, sizeof(op->topic), "%s", c->topic ? c->topic : "");
		op->c.actor = c->actor ? op->actor : NULL;
		op->c.target = c->target ? op->target : NULL;
		op->c.topic = c->topic ? op->topic : NULL;
	}
	send_read(q);
	return 0;
}

int
cf_bus_redis_rules_get(struct cf_bus *bus, const char *room, cf_bus_rules_cb *cb, void *ud)
{
	return start((struct bus_redis *)bus, room, NULL, cb, ud);
}

int
cf_bus_redis_rules_change(struct cf_bus *bus, const char *room, const struct cf_rules_change *c,
                          cf_bus_rules_cb *cb, void *ud)
{
	return start((struct bus_redis *)bus, room, c, cb, ud);
}

/* ---- the directory ------------------------------------------------------------------------ */

#define DIR_ROUNDS 5 /* script calls per page: private rooms are skipped, not counted */

struct dir_op {
	char prefix[CF_ROOM_NAME_MAX + 1], after[CF_ROOM_NAME_MAX + 1];
	uint32_t limit;
	int rounds;
	size_t n;
	struct cf_dir_entry e[CF_BUS_DIR_MAX];
	char *own[2 * CF_BUS_DIR_MAX]; /* the entries' strings */
};

static void
dir_free(void *p)
{
	struct dir_op *d = p;

	for (size_t i = 0; i < 2 * d->n; i++)
		free(d->own[i]);
	free(d);
}

static void dir_send(struct req *q);

static void
dir_finish(struct req *q, int err, int more)
{
	struct dir_op *d = q->own;

	if (q->cb.dir)
		q->cb.dir(q->ud, err, err ? NULL : d->e, err ? 0 : d->n, more);
	cf_bus_redis_req_free(q);
}

static void
on_dir(void *privdata, redisReply *rep)
{
	struct req *q = privdata;
	struct bus_redis *b = q->b;
	struct dir_op *d = q->own;
	const redisReply *rows;
	int more;

	if (check_link_error(b, rep))
		rep = NULL;
	if (!rep) {
		dir_finish(q, -ENOTCONN, 0);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_ARRAY ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER) {
		log_warn("redis: reading the room directory: %s",
		         rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		dir_finish(q, -EIO, 0);
		return;
	}
	rows = rep->element[0];
	more = rep->element[1]->integer == 1;
	for (size_t i = 0; i < rows->elements; i++) {
		const redisReply *row = rows->element[i];
		struct cf_rules r;

		if (row->type != REDIS_REPLY_ARRAY || row->elements != 3 ||
		    row->element[0]->type != REDIS_REPLY_STRING ||
		    row->element[0]->len > CF_ROOM_NAME_MAX ||
		    row->element[2]->type != REDIS_REPLY_INTEGER)
			continue;
		snprintf(d->after, sizeof(d->after), "%s", row->element[0]->str);
		if (d->n == d->limit) {
			more = 1; /* read, but for the next page */
			break;
		}
		cf_rules_init(&r);
		/* A room whose rules are gone or damaged is not listed (its joins fail closed). */
		if (row->element[1]->type != REDIS_REPLY_STRING ||
		    parse_rules(b, row->element[0]->str, row->element[1]->str, row->element[1]->len,
		                &r) < 0)
			continue;
		if (r.kind != CF_KIND_PRIVATE) {
			char *name = strdup(row->element[0]->str), *topic = strdup(r.topic);

			if (!name || !topic) {
				free(name);
				free(topic);
				cf_rules_fini(&r);
				dir_finish(q, -ENOMEM, 0);
				return;
			}
			d->own[2 * d->n] = name;
			d->own[2 * d->n + 1] = topic;
			d->e[d->n++] = (struct cf_dir_entry){
			        .room = name,
			        .topic = topic,
			        .kind = r.kind,
			        .members = row->element[2]->integer > 0
			                           ? (uint32_t)row->element[2]->integer
			                           : 0};
		}
		cf_rules_fini(&r);
	}
	/* A page cut short only by the private rooms skipped reads on, a few times at most. */
	if (d->n < d->limit && more && ++d->rounds < DIR_ROUNDS) {
		dir_send(q);
		return;
	}
	dir_finish(q, 0, more);
}

static void
dir_send(struct req *q)
{
	struct bus_redis *b = q->b;
	struct dir_op *d = q->own;
	char rs[512], n[16];
	const char *argv[] = {"EVALSHA", b->directory.sha, "1", rs,
	                      d->prefix, d->after,         n,   b->cfg->redis_prefix};
	int r;

	snprintf(rs, sizeof(rs), "%sruled", b->cfg->redis_prefix);
	snprintf(n, sizeof(n), "%u", d->limit * 2);
	r = cf_redis_cmd(b->redis, on_dir, q, 8, argv, NULL);
	if (r < 0)
		dir_finish(q, r, 0);
}

int
cf_bus_redis_directory(struct cf_bus *bus, const char *prefix, const char *after, uint32_t limit,
                       cf_bus_dir_cb *cb, void *ud)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	struct dir_op *d;
	struct req *q;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (strlen(prefix) > CF_ROOM_NAME_MAX || strlen(after) > CF_ROOM_NAME_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	q = d ? cf_bus_redis_req_new(b, REQ_DIR, ud, NULL) : NULL;
	if (!q) {
		free(d);
		return -ENOMEM;
	}
	snprintf(d->prefix, sizeof(d->prefix), "%s", prefix);
	snprintf(d->after, sizeof(d->after), "%s", after);
	d->limit = limit;
	q->own = d;
	q->own_free = dir_free;
	q->cb.dir = cb;
	dir_send(q);
	return 0;
}
