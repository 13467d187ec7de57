/* SPDX-License-Identifier: MIT */
/* bus_redis_shard.c - the cluster bus over several independent Redis primaries (redis.url and
 * each redis.shards entry): one cluster bus per shard (bus_redis.c, each with its own links,
 * Sentinel and liveness key), and this bus in front of them, which hands every call to the
 * shard that owns its name (rendezvous hashing over the shards' identities, redis_url.h).
 *
 * A room lives on the shard of its name (keys, channel, created id), a user on the shard of its
 * id (channel, inbox). What is the cluster's rather than a name's lives on shard 0: the accounts
 * and the token signing key (cf_bus_store()); so a kept direct message that must go to accounts
 * only asks shard 0 whether its user is one before the user's shard keeps it (accounts are never
 * deleted, so the answer cannot go stale). Every shard knows every node (each shard's bus keeps
 * the node's liveness key there and buries the dead nodes of its own rooms). A shard that is down
 * fails only the calls for its names, as one Redis that is down fails them all.
 *
 * With redis.url alone this file is not used: cf_bus_redis_new() returns the one bus. */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"
#include "base/metrics.h"
#include "core/msg.h"

struct sharded {
	struct cf_bus bus; /* first: cf_bus* <-> sharded* */
	struct shard_set set;
	struct bus_redis *s[CF_REDIS_SHARDS_MAX];
	struct lws_dll2_owner pend; /* struct pend in flight */
	char status[1024];
};

/* A call of ours in flight: an online question split over the shards (the parts answer into
 * online[]), or a kept direct message waiting for shard 0 to say whether its user is an
 * account. On sb->pend, so that cancel() finds it. */
struct pend {
	struct lws_dll2 list;
	struct sharded *sb;
	void *ud;
	/* online */
	cf_bus_online_cb *online_cb; /* NULL once cancelled */
	size_t n, left;
	int err;
	uint8_t *online;
	/* dm */
	cf_bus_done_cb *done_cb; /* NULL once cancelled */
	struct cf_msg *m;
	int64_t tag;
	/* directory: every shard's page, merged (strings owned) */
	cf_bus_dir_cb *dir_cb; /* NULL once cancelled */
	uint32_t limit;
	int more;
	size_t nd;
	struct cf_dir_entry *dir;
};

/* One shard's share of an online question: which of the caller's users it was asked about. */
struct part {
	struct pend *p;
	size_t n;
	size_t idx[];
};

static struct bus_redis *
shard_of(struct sharded *sb, const char *name)
{
	return sb->s[cf_redis_shard_pick(sb->set.seed, sb->set.n, name)];
}

static struct pend *
pend_new(struct sharded *sb, void *ud)
{
	struct pend *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->sb = sb;
	p->ud = ud;
	lws_dll2_add_tail(&p->list, &sb->pend);
	return p;
}

static void
pend_free(struct pend *p)
{
	lws_dll2_remove(&p->list);
	cf_msg_unref(p->m);
	free(p->online);
	for (size_t i = 0; i < p->nd; i++) {
		free((char *)p->dir[i].room);
		free((char *)p->dir[i].topic);
	}
	free(p->dir);
	free(p);
}

static int
sh_publish(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	return cf_bus_redis_publish(&shard_of((struct sharded *)bus, m->room)->bus, m, cb, ud, tag);
}

static int
sh_watch(struct cf_bus *bus, struct cf_room *room)
{
	return cf_bus_redis_watch(&shard_of((struct sharded *)bus, room->name)->bus, room);
}

static void
sh_unwatch(struct cf_bus *bus, struct cf_room *room)
{
	cf_bus_redis_unwatch(&shard_of((struct sharded *)bus, room->name)->bus, room);
}

static void
sh_presence(struct cf_bus *bus, struct cf_room *room, const char *uid, const char *name, int joined)
{
	cf_bus_redis_presence(&shard_of((struct sharded *)bus, room->name)->bus, room, uid, name,
	                      joined);
}

/* The cluster's, not a name's: shard 0 carries it (every node subscribes there). */
static int
sh_notice(struct cf_bus *bus, const char *text, int64_t ts_ms)
{
	return cf_bus_redis_notice(&((struct sharded *)bus)->s[0]->bus, text, ts_ms);
}

static int
sh_typing(struct cf_bus *bus, const struct cf_typing *t)
{
	return cf_bus_redis_typing(&shard_of((struct sharded *)bus, t->room)->bus, t);
}

static int
sh_history(struct cf_bus *bus, const char *room, uint64_t before, uint32_t limit,
           cf_bus_history_cb *cb, void *ud)
{
	return cf_bus_redis_history(&shard_of((struct sharded *)bus, room)->bus, room, before,
	                            limit, cb, ud);
}

/* Each shard keeps the created ids of its own rooms and admits its share of max (rounded up),
 * so the cluster holds about max, as with one Redis, and a shard that is down takes only its
 * own ids with it. */
static int
sh_room_create(struct cf_bus *bus, const char *room, uint32_t max, cf_bus_room_cb *cb, void *ud)
{
	struct sharded *sb = (struct sharded *)bus;
	uint32_t share = (uint32_t)((max + sb->set.n - 1) / sb->set.n);

	return cf_bus_redis_room_create(&shard_of(sb, room)->bus, room, share, cb, ud);
}

static const struct cf_rules *
sh_rules(struct cf_bus *bus, const char *room)
{
	return cf_bus_redis_rules(&shard_of((struct sharded *)bus, room)->bus, room);
}

static int
sh_rules_get(struct cf_bus *bus, const char *room, cf_bus_rules_cb *cb, void *ud)
{
	return cf_bus_redis_rules_get(&shard_of((struct sharded *)bus, room)->bus, room, cb, ud);
}

/* A room's rules live on the room's shard, bounded per shard (rooms.max_ruled and
 * rooms.max_created_per_user count the rooms of that shard). */
static int
sh_rules_change(struct cf_bus *bus, const char *room, const struct cf_rules_change *c,
                cf_bus_rules_cb *cb, void *ud)
{
	return cf_bus_redis_rules_change(&shard_of((struct sharded *)bus, room)->bus, room, c, cb,
	                                 ud);
}

/* A user's markers live on the user's shard, with its channel. */
static int
sh_read_set(struct cf_bus *bus, const char *uid, const char *room, uint64_t seq, cf_bus_read_cb *cb,
            void *ud)
{
	return cf_bus_redis_read_set(&shard_of((struct sharded *)bus, uid)->bus, uid, room, seq, cb,
	                             ud);
}

static int
sh_read_get(struct cf_bus *bus, const char *uid, const char *const *rooms, size_t n,
            cf_bus_reads_cb *cb, void *ud)
{
	return cf_bus_redis_read_get(&shard_of((struct sharded *)bus, uid)->bus, uid, rooms, n, cb,
	                             ud);
}

static int
sh_room_check(struct cf_bus *bus, const char *room, cf_bus_room_cb *cb, void *ud)
{
	return cf_bus_redis_room_check(&shard_of((struct sharded *)bus, room)->bus, room, cb, ud);
}

static void
sh_user(struct cf_bus *bus, const char *uid, int present)
{
	cf_bus_redis_user(&shard_of((struct sharded *)bus, uid)->bus, uid, present);
}

static void
sh_dm_written(struct cf_bus *bus, const char *uid, const char *mid)
{
	cf_bus_redis_dm_written(&shard_of((struct sharded *)bus, uid)->bus, uid, mid);
}

static void
dm_done(struct pend *p, int err)
{
	if (p->done_cb)
		p->done_cb(p->ud, p->tag, p->m, err);
	pend_free(p);
}

/* Shard 0 answered EXISTS acct:<user>: the user's shard keeps the message if it is an account,
 * else it is a plain one (what the keep script does itself when both keys are on one Redis).
 * A sender that went away meanwhile (cancelled) still has its message sent, as with one Redis. */
static void
on_acct_reply(void *privdata, redisReply *rep)
{
	struct pend *p = privdata;
	struct cf_msg *m = p->m;
	int r;

	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		cf_metrics.redis_unavailable_total++;
		dm_done(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	m->keep_acct = 0;
	m->keep = rep->integer > 0;
	r = cf_bus_redis_dm(&shard_of(p->sb, m->room)->bus, m, p->done_cb, p->ud, p->tag);
	if (r < 0) {
		dm_done(p, r);
		return;
	}
	pend_free(p);
}

static int
sh_dm(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	struct sharded *sb = (struct sharded *)bus;
	struct bus_redis *home = sb->s[0], *b = shard_of(sb, m->room);
	char k[512];
	const char *argv[] = {"EXISTS", k};
	struct pend *p;
	int r;

	if (!m->keep || !m->keep_acct || b == home)
		return cf_bus_redis_dm(&b->bus, m, cb, ud, tag);
	if (!cf_redis_is_up(home->redis) || !cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (key(k, sizeof(k), home, "acct", m->room) < 0)
		return -ENAMETOOLONG;
	p = pend_new(sb, ud);
	if (!p)
		return -ENOMEM;
	p->m = cf_msg_ref(m);
	p->done_cb = cb;
	p->tag = tag;
	r = cf_redis_cmd(home->redis, on_acct_reply, p, 2, argv, NULL);
	if (r < 0) {
		p->done_cb = NULL;
		pend_free(p);
		cf_metrics.redis_unavailable_total++;
	}
	return r;
}

static void
online_finish(struct pend *p)
{
	if (p->online_cb)
		p->online_cb(p->ud, p->err, p->err ? NULL : p->online, p->err ? 0 : p->n);
	pend_free(p);
}

static void
on_part(void *ud, int err, const uint8_t *online, size_t n)
{
	struct part *pt = ud;
	struct pend *p = pt->p;

	if (err < 0 || n != pt->n)
		p->err = err < 0 ? err : -EIO;
	else
		for (size_t i = 0; i < n; i++)
			p->online[pt->idx[i]] = online[i];
	free(pt);
	if (!--p->left)
		online_finish(p);
}

/* Each shard is asked about its own users; the answer comes when every shard has answered (an
 * error from any is the answer: which users are online is not known). */
static int
sh_online(struct cf_bus *bus, const char *const *uids, size_t n, cf_bus_online_cb *cb, void *ud)
{
	struct sharded *sb = (struct sharded *)bus;
	size_t owner[CF_BUS_ONLINE_MAX];
	const char *sub[CF_BUS_ONLINE_MAX];
	struct pend *p;

	if (n > CF_BUS_ONLINE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		owner[i] = cf_redis_shard_pick(sb->set.seed, sb->set.n, uids[i]);
		if (!cf_redis_is_up(sb->s[owner[i]]->redis))
			return -ENOTCONN;
	}
	p = pend_new(sb, ud);
	if (!p || !(p->online = calloc(n ? n : 1, 1))) {
		if (p)
			pend_free(p);
		return -ENOMEM;
	}
	p->online_cb = cb;
	p->n = n;
	p->left = 1; /* held until every part is sent */
	for (size_t s = 0; s < sb->set.n; s++) {
		struct part *pt;
		size_t k = 0;
		int r;

		for (size_t i = 0; i < n; i++)
			if (owner[i] == s)
				k++;
		if (!k)
			continue;
		pt = calloc(1, sizeof(*pt) + k * sizeof(size_t));
		if (!pt) {
			p->err = -ENOMEM;
			break;
		}
		pt->p = p;
		for (size_t i = 0; i < n; i++)
			if (owner[i] == s) {
				sub[pt->n] = uids[i];
				pt->idx[pt->n++] = i;
			}
		p->left++;
		r = cf_bus_redis_online(&sb->s[s]->bus, sub, k, on_part, pt);
		if (r < 0) {
			free(pt);
			p->left--;
			p->err = r;
			break;
		}
	}
	if (!--p->left) {
		/* Nothing in flight: an error is the call's, an answer comes later as promised. */
		if (p->err) {
			int r = p->err;

			p->online_cb = NULL;
			pend_free(p);
			return r;
		}
		online_finish(p);
	}
	return 0;
}

static void
sh_cancel(struct cf_bus *bus, void *ud)
{
	struct sharded *sb = (struct sharded *)bus;

	for (size_t i = 0; i < sb->set.n; i++)
		sb->s[i]->bus.ops->cancel(&sb->s[i]->bus, ud);
	lws_start_foreach_dll (struct lws_dll2 *, d, sb->pend.head) {
		struct pend *p = lws_container_of(d, struct pend, list);
		if (p->ud == ud) {
			p->online_cb = NULL;
			p->done_cb = NULL;
			p->dir_cb = NULL;
		}
	}
	lws_end_foreach_dll(d);
}

static int
sh_healthy(struct cf_bus *bus)
{
	struct sharded *sb = (struct sharded *)bus;

	for (size_t i = 0; i < sb->set.n; i++)
		if (!cf_redis_is_up(sb->s[i]->redis))
			return 0;
	return 1;
}

/* "ok", or each shard that is down with why, in shard order. */
static const char *
sh_status(struct cf_bus *bus)
{
	struct sharded *sb = (struct sharded *)bus;
	size_t o = 0;

	sb->status[0] = 0;
	for (size_t i = 0; i < sb->set.n; i++) {
		const char *st = sb->s[i]->bus.ops->status(&sb->s[i]->bus);
		int w;

		if (!strcmp(st, "ok") || o >= sizeof(sb->status))
			continue;
		w = snprintf(sb->status + o, sizeof(sb->status) - o, "%s%s", o ? "; " : "", st);
		o += w > 0 ? (size_t)w : 0;
	}
	return sb->status[0] ? sb->status : "ok";
}

static const char *
sh_shard_status(struct cf_bus *bus, size_t i)
{
	struct sharded *sb = (struct sharded *)bus;

	return i < sb->set.n ? cf_redis_status(sb->s[i]->redis) : NULL;
}

static int
sh_settled(struct cf_bus *bus)
{
	struct sharded *sb = (struct sharded *)bus;

	for (size_t i = 0; i < sb->set.n; i++)
		if (!cf_redis_settled(sb->s[i]->redis))
			return 0;
	return 1;
}

static struct cf_store *
sh_store(struct cf_bus *bus)
{
	return ((struct sharded *)bus)->s[0]->store;
}

static void
sh_stop(struct cf_bus *bus)
{
	struct sharded *sb = (struct sharded *)bus;

	for (size_t i = 0; i < sb->set.n; i++)
		sb->s[i]->bus.ops->stop(&sb->s[i]->bus);
}

static void
sh_free(struct cf_bus *bus)
{
	struct sharded *sb = (struct sharded *)bus;

	/* The shards' pending replies run (NULL) and their requests end, which ends ours. */
	for (size_t i = 0; i < sb->set.n; i++)
		if (sb->s[i])
			sb->s[i]->bus.ops->free(&sb->s[i]->bus);
	while (sb->pend.head) {
		struct pend *p = lws_container_of(sb->pend.head, struct pend, list);

		if (p->m)
			dm_done(p, -ECANCELED);
		else
			pend_free(p);
	}
	free(sb);
}

static int
dir_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cf_dir_entry *)a)->room,
	              ((const struct cf_dir_entry *)b)->room);
}

/* One shard's page is in. Each shard gives its first limit rooms after the cursor, so the
 * first limit of all of them, in name order, are the cluster's page; more follow if any shard
 * said so or some were left over. */
static void
on_dir_part(void *ud, int err, const struct cf_dir_entry *e, size_t n, int more)
{
	struct pend *p = ud;

	if (err < 0 && !p->err)
		p->err = err;
	for (size_t i = 0; !err && i < n && i < p->limit; i++) {
		struct cf_dir_entry *d = &p->dir[p->nd];

		d->room = strdup(e[i].room);
		d->topic = strdup(e[i].topic);
		d->kind = e[i].kind;
		d->members = e[i].members;
		p->nd++;
		if (!d->room || !d->topic)
			p->err = -ENOMEM;
	}
	p->more |= more;
	if (--p->left)
		return;
	qsort(p->dir, p->nd, sizeof(*p->dir), dir_cmp);
	if (p->dir_cb)
		p->dir_cb(p->ud, p->err, p->err ? NULL : p->dir,
		          p->err ? 0 : (p->nd < p->limit ? p->nd : p->limit),
		          p->more || p->nd > p->limit);
	pend_free(p);
}

/* A room's rules live on its shard: a page of the directory is asked of every shard and
 * merged. Any shard's error is the answer (a page without a shard's rooms would skip them for
 * good: the next page starts after its last name). */
static int
sh_directory(struct cf_bus *bus, const char *prefix, const char *after, uint32_t limit,
             cf_bus_dir_cb *cb, void *ud)
{
	struct sharded *sb = (struct sharded *)bus;
	struct pend *p;
	int r;

	if (limit == 0 || limit > CF_BUS_DIR_MAX)
		return -EINVAL;
	for (size_t i = 0; i < sb->set.n; i++)
		if (!cf_redis_is_up(sb->s[i]->redis)) {
			cf_metrics.redis_unavailable_total++;
			return -ENOTCONN;
		}
	p = pend_new(sb, ud);
	if (!p || !(p->dir = calloc(sb->set.n * limit, sizeof(*p->dir)))) {
		if (p)
			pend_free(p);
		return -ENOMEM;
	}
	p->dir_cb = cb;
	p->limit = limit;
	/* One more than asked for, so that a shard's failure to start is not the last answer. */
	p->left = sb->set.n + 1;
	for (size_t i = 0; i < sb->set.n; i++) {
		r = cf_bus_redis_directory(&sb->s[i]->bus, prefix, after, limit, on_dir_part, p);
		if (r < 0) {
			p->err = r;
			p->left--;
		}
	}
	if (p->left == 1 && p->err) {
		/* Nothing is in flight: the caller hears the error from this return alone. */
		p->dir_cb = NULL;
		pend_free(p);
		return r;
	}
	on_dir_part(p, 0, NULL, 0, 0);
	return 0;
}

static const struct cf_bus_ops sharded_ops = {
        .name = "redis",
        .mirror = 1,
        .room_state_free = cf_bus_redis_state_free,
        .publish = sh_publish,
        .cancel = sh_cancel,
        .healthy = sh_healthy,
        .status = sh_status,
        .shard_status = sh_shard_status,
        .settled = sh_settled,
        .watch = sh_watch,
        .unwatch = sh_unwatch,
        .presence = sh_presence,
        .typing = sh_typing,
        .notice = sh_notice,
        .dm = sh_dm,
        .history = sh_history,
        .room_create = sh_room_create,
        .room_check = sh_room_check,
        .rules = sh_rules,
        .rules_get = sh_rules_get,
        .rules_change = sh_rules_change,
        .read_set = sh_read_set,
        .read_get = sh_read_get,
        .directory = sh_directory,
        .user = sh_user,
        .dm_written = sh_dm_written,
        .online = sh_online,
        .store = sh_store,
        .stop = sh_stop,
        .free = sh_free,
};

struct cf_bus *
cf_bus_redis_sharded_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
                         struct cf_registry *reg, const char *node_id,
                         const struct cf_bus_host *host, char *err, size_t errlen)
{
	struct cf_redis_target t[CF_REDIS_SHARDS_MAX];
	size_t n = cfg->redis_shards.n + 1;
	struct sharded *sb;

	if (n > CF_REDIS_SHARDS_MAX) {
		snprintf(err, errlen, "redis.shards: at most %d shards", CF_REDIS_SHARDS_MAX);
		return NULL;
	}
	sb = calloc(1, sizeof(*sb));
	if (!sb) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sb->bus.ops = &sharded_ops;
	sb->bus.host = *host;
	sb->set.n = n;
	for (size_t i = 0; i < n; i++) {
		const char *url = i ? cfg->redis_shards.v[i - 1] : cfg->redis_url;
		char id[400];

		if (cf_redis_target_from_url(cfg, url, i ? "redis.shards" : "redis.url", &t[i], err,
		                             errlen) < 0 ||
		    cf_redis_target_id(&t[i], id, sizeof(id)) < 0) {
			if (!err[0])
				snprintf(err, errlen, "redis.shards: address too long");
			free(sb);
			return NULL;
		}
		sb->set.seed[i] = cf_redis_shard_seed(id);
		log_info("redis: shard %zu is %s", i, id);
	}
	cf_metrics.redis_shards = (int)n;
	for (size_t i = 0; i < n; i++) {
		sb->s[i] = cf_bus_redis_one(ctx, vh, cfg, reg, node_id, host, &t[i], &sb->set,
		                            (unsigned)i);
		if (!sb->s[i]) {
			sh_free(&sb->bus);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	return &sb->bus;
}
