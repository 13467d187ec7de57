/* SPDX-License-Identifier: MIT */
/* bus_redis_dm.c - direct messages across the nodes of a cluster, and the offline inboxes in
 * Redis.
 *
 * A node follows the channel user:<id> while the user has a session there. A direct message is
 * one PUBLISH on it (its reply says whether any node follows the user), or, kept if offline
 * (cf_msg.keep), dmkeep.lua: published and held in the user's inbox list until a node says a
 * session wrote it (dmdone.lua), or waiting there while no node follows the user. A user's
 * first session on a node drains the inbox (drain.lua) once the subscription is confirmed.
 * Delivery of kept messages is at least once; docs/architecture.md "Offline inboxes" says why
 * nothing is lost or reordered. */
#include "bus/redis/bus_redis_int.h"

#include "base/log.h"
#include "base/metrics.h"
#include "core/msg.h"

/* drain.lua's grace: far above the time from a publish to the write on a node that is alive. */
#define DRAIN_GRACE_MS "2000"

/* A direct message on a user's channel: {"to","u","n","x","t"}, and for a kept one "i" (its
 * id), "h" when the inbox holds it until written, and, when it comes from the inbox, "q" (when
 * it was kept). */
void
cf_bus_redis_on_dm(struct bus_redis *b, const char *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *to, *u, *n, *x, *t, *i = NULL, *q = NULL;
	struct cf_msg *m = NULL;

	/* The user's channel also carries its read markers (bus_redis_reads.c). */
	if (o && cf_bus_redis_on_read(b, o)) {
		json_decref(o);
		return;
	}
	if (o && json_unpack(o, "{s:s,s:s,s:s,s:s,s:s,s?s,s?s}", "to", &to, "u", &u, "n", &n, "x",
	                     &x, "t", &t, "i", &i, "q", &q) == 0)
		m = cf_msg_new(to, u, n, x, NULL);
	if (m) {
		m->dm = 1;
		/* Kept until a session writes it: dmkeep.lua and drain.lua say so with "h". */
		m->held = i && json_is_integer(json_object_get(o, "h"));
		m->ts_ms = strtoll(t, NULL, 10);
		if (i)
			snprintf(m->mid, sizeof(m->mid), "%s", i);
		if (q) {
			m->queued = 1;
			m->queued_ms = strtoll(q, NULL, 10);
		}
		if (b->bus.host.deliver_dm(b->bus.host.ud, m) && q)
			cf_metrics.inbox_delivered_total++;
		cf_msg_unref(m);
	} else {
		log_warn("redis: ignoring a malformed direct message");
	}
	json_decref(o);
}

static void
on_drain_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	if (check_link_error(b, rep))
		return;
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
		/* Lost link: on_up subscribes again and the confirmation drains again. */
		cf_bus_redis_script_reply(&b->drain, rep);
		return;
	}
	cf_metrics.inbox_dropped_expired += reply_u64(rep->element[1]);
}

/* The subscription to user uid's channel is confirmed: from now on a kept direct message is
 * either PUBLISHed to this node or appended to the inbox before the drain script runs (Redis
 * runs one script or command at a time), so draining now loses nothing and sends nothing
 * twice. The drained messages come back as messages on the channel, like live ones. */
void
cf_bus_redis_drain(struct bus_redis *b, const char *uid, size_t len)
{
	char name[256], ik[512], ch[512], ttl[16];
	const char *argv[] = {"EVALSHA", b->drain.sha, "1", ik, ch, ttl, DRAIN_GRACE_MS};

	if (len >= sizeof(name))
		return;
	memcpy(name, uid, len);
	name[len] = '\0';
	if (!cf_registry_user_sessions(b->reg, name) || key(ik, sizeof(ik), b, "inbox", name) < 0 ||
	    key(ch, sizeof(ch), b, "user", name) < 0)
		return; /* gone again: its next session drains */
	snprintf(ttl, sizeof(ttl), "%d", b->cfg->inbox_ttl);
	(void)cf_redis_cmd(b->redis, on_drain_reply, b, 7, argv, NULL);
}

void
cf_bus_redis_user(struct cf_bus *bus, const char *uid, int present)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];

	/* Down: on_up subscribes every user with a session again. */
	if (key(ch, sizeof(ch), b, "user", uid) < 0 || !cf_redis_is_up(b->redis))
		return;
	if (present)
		(void)cf_redis_subscribe(b->redis, ch);
	else
		(void)cf_redis_unsubscribe(b->redis, ch);
}

static void
on_dmkeep_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;
	int64_t dc;

	if (check_link_error(p->b, rep) || !rep || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 4) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("redis: the keep script failed: %s", rep->str);
		cf_bus_redis_req_finish(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	if (rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[0]->integer < 0) {
		cf_bus_redis_req_finish(p,
		                        -ENOENT); /* not an account, and nobody follows the user */
		return;
	}
	dc = rep->element[1]->type == REDIS_REPLY_INTEGER ? rep->element[1]->integer : 0;
	if (dc < 0) {
		cf_metrics.inbox_dropped_bytes++;
		cf_bus_redis_req_finish(p, -EMSGSIZE);
		return;
	}
	cf_metrics.inbox_dropped_count += (uint64_t)dc;
	cf_metrics.inbox_dropped_bytes += reply_u64(rep->element[2]);
	cf_metrics.inbox_dropped_expired += reply_u64(rep->element[3]);
	if (reply_u64(rep->element[0]) == 0) {
		p->m->queued = 1;
		cf_metrics.inbox_queued_total++;
	}
	cf_bus_redis_req_finish(p, 0);
}

static void
on_dmdone_reply(void *privdata, redisReply *rep)
{
	struct bus_redis *b = privdata;

	/* Lost, the message stays held: the user's next drain delivers it again. */
	if (!check_link_error(b, rep))
		cf_bus_redis_script_reply(&b->dmdone, rep);
}

void
cf_bus_redis_dm_written(struct cf_bus *bus, const char *uid, const char *mid)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ik[512];
	const char *argv[] = {"EVALSHA", b->dmdone.sha, "1", ik, mid};

	if (cf_redis_is_up(b->redis) && key(ik, sizeof(ik), b, "inbox", uid) == 0)
		(void)cf_redis_cmd(b->redis, on_dmdone_reply, b, 5, argv, NULL);
}

static void
on_dm_reply(void *privdata, redisReply *rep)
{
	struct req *p = privdata;

	if (!rep || rep->type != REDIS_REPLY_INTEGER) {
		cf_bus_redis_req_finish(p, rep ? -EIO : -ENOTCONN);
		return;
	}
	/* PUBLISH says how many nodes follow the user's channel. */
	cf_bus_redis_req_finish(p, rep->integer > 0 ? 0 : -ENOENT);
}

int
cf_bus_redis_dm(struct cf_bus *bus, struct cf_msg *m, cf_bus_done_cb *cb, void *ud, int64_t tag)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512], ts[24];
	const char *argv[] = {"PUBLISH", ch, NULL};
	struct req *p;
	json_t *o;
	char *txt;
	int r;

	if (!cf_redis_is_up(b->redis)) {
		cf_metrics.redis_unavailable_total++;
		return -ENOTCONN;
	}
	if (key(ch, sizeof(ch), b, "user", m->room) < 0)
		return -ENAMETOOLONG;
	snprintf(ts, sizeof(ts), "%lld", (long long)m->ts_ms);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "to", m->room, "u", m->from_id, "n", m->from_name,
	              "x", m->text, "t", ts);
	if (o && m->keep && json_object_set_new(o, "i", json_string(m->mid)) < 0) {
		json_decref(o);
		o = NULL;
	}
	txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	p = txt ? cf_bus_redis_req_new(b, REQ_PUBLISH, ud, NULL) : NULL;
	if (!p) {
		free(txt);
		return -ENOMEM;
	}
	p->m = cf_msg_ref(m);
	p->cb.done = cb;
	p->tag = tag;
	argv[2] = txt;
	if (m->keep) {
		char ik[512], ak[512], maxn[16], maxb[16], ttl[16];
		const char *kv[] = {"EVALSHA", b->dmkeep.sha, "1",  ik,  ch,
		                    txt,       maxn,          maxb, ttl, NULL};
		int nk = 9;

		/* keep_acct: the script keeps it only if acct:<user> (the account store's key,
		 * bus_redis_store.c) exists. */
		if (m->keep_acct) {
			memmove(kv + 5, kv + 4, 5 * sizeof(*kv));
			kv[2] = "2";
			kv[4] = ak;
			nk = 10;
		}
		if (key(ik, sizeof(ik), b, "inbox", m->room) < 0 ||
		    key(ak, sizeof(ak), b, "acct", m->room) < 0) {
			free(txt);
			cf_bus_redis_req_finish(p, -ENAMETOOLONG);
			return 0;
		}
		snprintf(maxn, sizeof(maxn), "%d", b->cfg->inbox_max_messages);
		snprintf(maxb, sizeof(maxb), "%d", b->cfg->inbox_max_bytes);
		snprintf(ttl, sizeof(ttl), "%d", b->cfg->inbox_ttl);
		r = cf_redis_cmd(b->redis, on_dmkeep_reply, p, nk, kv, NULL);
	} else {
		r = cf_redis_cmd(b->redis, on_dm_reply, p, 3, argv, NULL);
	}
	free(txt);
	if (r < 0)
		cf_bus_redis_req_finish(p, r);
	return 0;
}
