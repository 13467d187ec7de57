/* SPDX-License-Identifier: MIT */
/* room.c - the room registry (see room.h). Fan-out lives here: a message or presence event is
 * rendered once per dialect and a reference is pushed to each member's queue. */
#include "core/room.h"
#include "base/clock.h"
#include "base/ident.h"
#include "base/metrics.h"
#include "base/text.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/frame.h"
#include "core/registry_int.h"
#include "core/rules.h"
#include "core/sess.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* A room's presence table starts with 4 buckets, not uthash's 32: rooms are mostly small, and
 * 32 buckets are 512 bytes a room (about 45 bytes an idle connection in rooms of 10,
 * docs/benchmarks.md). uthash doubles a table whose chains grow past 10, so a large room
 * still finds a user in a few steps. Only a table's creation reads these (HASH_MAKE_TABLE):
 * the rooms table created here starts small too and grows the same way. */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS      4U
#define HASH_INITIAL_NUM_BUCKETS_LOG2 2U

uint64_t
cf_room_new_epoch(void)
{
	uint64_t e = 0;

	/* Any value works as long as a re-created room is unlikely to repeat it; keep it below
	 * 2^53 so JavaScript clients hold it exactly. */
	if (getrandom(&e, sizeof(e), GRND_NONBLOCK) != sizeof(e))
		e = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
	e &= (1ULL << 53) - 1;
	return e ? e : 1;
}

/* A room's member list as one dialect shows it (cf_room_members_frame()), kept while the room
 * has at least MTEXT_MIN users: each join appends its user's entry, each user that goes drops
 * the text until the next list is asked for. So a join into a room of N copies the list once
 * instead of escaping N names, and a room of a few users keeps nothing. */
#define MTEXT_MIN   64
#define MTEXT_SLOTS 4 /* ways of showing ids (dialects) kept per room */

struct cf_room_mtext {
	cf_room_show_fn *show;
	uint8_t used; /* a slot in use; its text is valid when text is not NULL */
	char *text;   /* the entries, ','-separated, without the brackets */
	size_t len, cap;
};

static const char id_key[] = "{\"id\":", name_key[] = ",\"name\":";

/* The length of p's entry {"id":..,"name":..} as show shows it. */
static size_t
entry_len(cf_room_show_fn *show, const struct cf_presence *p)
{
	char buf[CF_IDENT_MAX];
	const char *id = show ? show(p->id, buf, sizeof(buf)) : p->id, *name = cf_presence_name(p);

	return sizeof(id_key) - 1 + sizeof(name_key) - 1 + 1 + cf_text_json_len(id, strlen(id)) +
	       cf_text_json_len(name, strlen(name));
}

/* Writes p's entry at out; returns its length (entry_len()). */
static size_t
entry_write(cf_room_show_fn *show, const struct cf_presence *p, char *out)
{
	char buf[CF_IDENT_MAX];
	const char *id = show ? show(p->id, buf, sizeof(buf)) : p->id, *name = cf_presence_name(p);
	size_t o = sizeof(id_key) - 1;

	memcpy(out, id_key, o);
	o += cf_text_json_str(id, strlen(id), out + o);
	memcpy(out + o, name_key, sizeof(name_key) - 1);
	o += sizeof(name_key) - 1;
	o += cf_text_json_str(name, strlen(name), out + o);
	out[o++] = '}';
	return o;
}

/* Appends p's entry to a kept list. -ENOMEM (the caller drops the text). */
static int
mtext_add(struct cf_room_mtext *m, const struct cf_presence *p)
{
	size_t n = entry_len(m->show, p) + (m->len ? 1 : 0);

	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		char *t;

		while (cap < m->len + n)
			cap *= 2;
		t = realloc(m->text, cap);
		if (!t)
			return -ENOMEM;
		m->text = t;
		m->cap = cap;
	}
	if (m->len)
		m->text[m->len++] = ',';
	m->len += entry_write(m->show, p, m->text + m->len);
	return 0;
}

static void
mtext_drop(struct cf_room_mtext *m)
{
	free(m->text);
	m->text = NULL;
	m->len = m->cap = 0;
}

/* A user came: the kept lists grow by its entry. */
static void
mtext_user_added(struct cf_room *room, const struct cf_presence *p)
{
	for (int i = 0; room->mtext && i < MTEXT_SLOTS; i++) {
		struct cf_room_mtext *m = &room->mtext[i];

		if (m->text && mtext_add(m, p) < 0)
			mtext_drop(m);
	}
}

/* A user went, or the room is going: the lists are made again when next asked for. */
static void
mtext_clear(struct cf_room *room, int free_all)
{
	for (int i = 0; room->mtext && i < MTEXT_SLOTS; i++)
		mtext_drop(&room->mtext[i]);
	if (free_all) {
		free(room->mtext);
		room->mtext = NULL;
	}
}

/* The kept list of the room for show, made if it was not; NULL when the room is too small to
 * keep one, or out of memory. */
static struct cf_room_mtext *
mtext_get(struct cf_room *room, cf_room_show_fn *show)
{
	struct cf_room_mtext *m = NULL;

	if (room->nusers < MTEXT_MIN)
		return NULL;
	if (!room->mtext && !(room->mtext = calloc(MTEXT_SLOTS, sizeof(*room->mtext))))
		return NULL;
	for (int i = 0; i < MTEXT_SLOTS && !m; i++)
		if (room->mtext[i].used && room->mtext[i].show == show)
			m = &room->mtext[i];
	for (int i = 0; i < MTEXT_SLOTS && !m; i++)
		if (!room->mtext[i].used)
			m = &room->mtext[i];
	if (!m)
		return NULL;
	m->used = 1;
	m->show = show;
	for (const struct cf_presence *p = m->text ? NULL : room->users; p; p = p->hh.next) {
		if (mtext_add(m, p) < 0) {
			mtext_drop(m);
			return NULL;
		}
	}
	return m->text ? m : NULL;
}

struct cf_frame *
cf_room_members_frame(struct cf_room *room, cf_room_show_fn *show, const char *head,
                      size_t head_len, const char *tail, size_t tail_len)
{
	struct cf_room_mtext *m = mtext_get(room, show);
	size_t cap = head_len + 2 + tail_len, o;
	const struct cf_presence *p;
	struct cf_frame *f;
	char *out;

	/* The exact length, so that the frame of a large room is one allocation of its size
	 * (from the heap, where a bound six times as large went to mmap() and munmap() for
	 * every join: a fifth of the CPU of a fill). */
	if (m)
		cap += m->len;
	else
		for (p = room->users; p; p = p->hh.next)
			cap += entry_len(show, p) + 1;
	f = cf_frame_alloc(cap);
	if (!f)
		return NULL;
	out = (char *)cf_frame_payload(f);
	memcpy(out, head, head_len);
	o = head_len;
	out[o++] = '[';
	if (m) {
		memcpy(out + o, m->text, m->len);
		o += m->len;
	} else {
		for (p = room->users; p; p = p->hh.next) {
			if (p != room->users)
				out[o++] = ',';
			o += entry_write(show, p, out + o);
		}
	}
	out[o++] = ']';
	memcpy(out + o, tail, tail_len);
	f->len = (uint32_t)(o + tail_len);
	return f;
}

/* A membership, allocated as a struct cf_member_wait when its join waited. */
static void
member_free(struct cf_member *mb)
{
	struct cf_member_wait *w = cf_member_wait(mb);

	if (w)
		free(w);
	else
		free(mb);
}

struct cf_registry *
cf_registry_new(const struct cf_config *cfg)
{
	struct cf_registry *reg = calloc(1, sizeof(*reg));

	if (reg)
		reg->cfg = cfg;
	return reg;
}

/* A presence entry, and its strings if they are its own. */
static void
user_free(struct cf_presence *p)
{
	if (p->own)
		free((char *)p->id);
	free(p);
}

static void
room_free(struct cf_registry *reg, struct cf_room *room)
{
	struct cf_presence *p, *tmp;

	HASH_DEL(reg->rooms, room);
	reg->nrooms--;
	cf_metrics.rooms = reg->nrooms;
	if (room->creator)
		room->creator->rooms--; /* the entry goes in the next sweep if nothing holds it */
	lws_dll2_remove(&room->in_empty);
	mtext_clear(room, 1);
	HASH_ITER(hh, room->users, p, tmp)
	{
		HASH_DEL(room->users, p);
		user_free(p);
	}
	if (room->bus_state && reg->host.state_free)
		reg->host.state_free(room->bus_state);
	for (uint32_t i = 0; i < room->hist_count; i++)
		cf_msg_unref(cf_room_hist_at(room, i));
	free(room->hist);
	free(room->name);
	free(room);
}

void
cf_registry_free(struct cf_registry *reg)
{
	struct cf_room *room, *tmp;

	if (!reg)
		return;
	HASH_ITER(hh, reg->rooms, room, tmp)
	{
		/* Sessions are closed before the registry goes; drop what is left. */
		lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, room->members.head) {
			struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
			lws_dll2_remove(&mb->in_room);
			lws_dll2_remove(&mb->in_sess);
			member_free(mb);
		}
		lws_end_foreach_dll_safe(d, d1);
		room_free(reg, room);
	}
	{
		struct cf_user *u, *utmp;

		HASH_ITER(hh, reg->users, u, utmp)
		{
			while (u->sessions) {
				struct cf_sess *s = u->sessions;

				u->sessions = s->user_next;
				s->user = NULL;
				s->user_prev = s->user_next = NULL;
			}
			HASH_DEL(reg->users, u);
			free(u->held);
			free(u);
		}
	}
	{
		struct cf_addr *a, *atmp;

		HASH_ITER(hh, reg->addrs, a, atmp)
		{
			HASH_DEL(reg->addrs, a);
			free(a);
		}
	}
	free(reg);
}

struct cf_room *
cf_room_find(struct cf_registry *reg, const char *name)
{
	struct cf_room *room;

	HASH_FIND_STR(reg->rooms, name, room);
	return room;
}

static int
room_new(struct cf_registry *reg, const char *name, struct cf_addr *creator, struct cf_room **ret)
{
	struct cf_room *room;

	if (reg->nrooms >= (uint32_t)reg->cfg->max_rooms)
		return -ENOSPC;
	room = calloc(1, sizeof(*room));
	if (!room || !(room->name = strdup(name))) {
		free(room);
		return -ENOMEM;
	}
	/* A mirror learns its epoch from the bus when it syncs. */
	room->epoch = reg->host.mirror ? 0 : cf_room_new_epoch();
	room->sync = reg->host.mirror ? CF_ROOM_STALE : CF_ROOM_LIVE;
	HASH_ADD_KEYPTR(hh, reg->rooms, room->name, strlen(room->name), room);
	reg->nrooms++;
	cf_metrics.rooms = reg->nrooms;
	/* Empty until someone joins: expires like any other empty room. */
	room->empty_since_s = cf_now_s();
	lws_dll2_add_tail(&room->in_empty, &reg->empty);
	room->creator = creator;
	if (creator)
		creator->rooms++;
	*ret = room;
	return 0;
}

int
cf_room_get(struct cf_registry *reg, const char *name, struct cf_room **ret)
{
	struct cf_room *room = cf_room_find(reg, name);

	if (room) {
		*ret = room;
		return 0;
	}
	return room_new(reg, name, NULL, ret);
}

static uint32_t expire_rooms(struct cf_registry *reg, uint64_t now);

/* An empty room that never had a message published in it holds nothing worth history_ttl: it
 * goes at once, so joining and leaving rooms cannot fill rooms.max_rooms. */
static void
free_if_unused(struct cf_registry *reg, struct cf_room *room)
{
	if (room->members.count)
		return;
	if (!room->spoken && !room->seq && !room->hist_count)
		room_free(reg, room);
	else if (reg->cfg->history_ttl == 0)
		expire_rooms(reg, cf_now_s());
}

void
cf_registry_set_host(struct cf_registry *reg, const struct cf_registry_host *h)
{
	reg->host = *h;
}

static int
bus_watch(struct cf_registry *reg, struct cf_room *room)
{
	return reg->host.watch ? reg->host.watch(reg->host.bus, room) : 0;
}

static void
bus_unwatch(struct cf_registry *reg, struct cf_room *room)
{
	if (reg->host.unwatch)
		reg->host.unwatch(reg->host.bus, room);
}

static void
bus_presence(struct cf_registry *reg, struct cf_room *room, const char *uid, const char *name,
             int joined)
{
	if (reg->host.presence)
		reg->host.presence(reg->host.bus, room, uid, name, joined);
}

/* The rules the bus holds for the room, or NULL. */
static const struct cf_rules *
rules_of(struct cf_registry *reg, const char *room)
{
	return reg->host.rules ? reg->host.rules(reg->host.bus, room) : NULL;
}

/* Whether uid is an account's: proven (base/ident.h: every unproven space carries a tag). */
static int
proven(const char *uid)
{
	return cf_ident_space_of(uid, NULL) == CF_ID_ACCOUNT;
}

static void
push(struct cf_registry *reg, struct cf_sess *s, struct cf_frame *f)
{
	if (reg->host.push)
		reg->host.push(s, f);
}

/* Whether uid may publish the edit or delete m of a message room holds (cf_room_publish()). */
static int
fix_check(struct cf_registry *reg, const struct cf_room *room, const struct cf_msg *m)
{
	const struct cf_msg *orig = room ? cf_room_hist_find(room, m->ref) : NULL;
	int64_t window_ms = (int64_t)reg->cfg->edit_window * 1000;

	if (!orig || orig->kind != CF_MSG_PLAIN || orig->deleted)
		return -ENOENT;
	/* A guest's name passes to its next holder, who must not rewrite what the last one said. */
	if (!proven(m->from_id))
		return -EKEYREJECTED;
	if (m->kind == CF_MSG_DELETE &&
	    cf_rules_role(rules_of(reg, room->name), m->from_id) >= CF_ROLE_MODERATOR)
		return 0;
	if (strcmp(orig->from_id, m->from_id))
		return -EACCES;
	if (!window_ms || cf_wall_ms() - orig->ts_ms > window_ms)
		return -ETIME;
	return 0;
}

int
cf_room_publish(struct cf_registry *reg, struct cf_msg *m, cf_msg_done_cb *cb, void *ud,
                int64_t tag)
{
	struct cf_room *room = cf_room_find(reg, m->room);
	int r = cf_rules_may_send(rules_of(reg, m->room), m->from_id, proven(m->from_id),
	                          (int64_t)time(NULL));

	if (r < 0)
		return r;
	if (m->kind != CF_MSG_PLAIN && (r = fix_check(reg, room, m)) < 0)
		return r;
	/* Before the bus has it: a member leaving now must not free the room under it (the
	 * ordered message would create it again, counted against no address). */
	if (room)
		room->spoken = 1;
	if (!reg->host.publish)
		return -ENOTCONN;
	return reg->host.publish(reg->host.bus, m, cb, ud, tag);
}

struct cf_member *
cf_room_member_of(struct cf_sess *s, struct cf_room *room)
{
	lws_start_foreach_dll (struct lws_dll2 *, d, s->rooms.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_sess);
		if (mb->room == room)
			return mb;
	}
	lws_end_foreach_dll(d);
	return NULL;
}

/* Queues a join/leave event to every member but `except` (a session, may be NULL). Large rooms
 * get none: N members joining would cost N^2 events. */
static void
announce(struct cf_registry *reg, struct cf_room *room, const char *ev, const char *uid,
         const char *uname, struct cf_sess *except)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};

	if (room->members.count > (uint32_t)reg->cfg->presence_events_max)
		return;

	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, room->members.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
		const struct cf_dialect *dl = mb->sess->dialect;

		/* No `continue` in lws's foreach macros: it would skip the step to the next. */
		if (mb->sess != except && !mb->pending) {
			if (!frames[dl->id] && dl->render_presence)
				frames[dl->id] = dl->render_presence(ev, room->name, uid, uname);
			if (frames[dl->id])
				push(reg, mb->sess, frames[dl->id]);
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}

/* A copy of id and name laid out as a session's (id, then name unless it is the same). */
static char *
strings_copy(const char *id, const char *name, int *named)
{
	size_t il = strlen(id), nl = strcmp(id, name) ? strlen(name) + 1 : 0;
	char *c = malloc(il + 1 + nl);

	if (c) {
		memcpy(c, id, il + 1);
		if (nl)
			memcpy(c + il + 1, name, nl);
		*named = nl != 0;
	}
	return c;
}

/* p's own copy of its id and name, which it borrowed (cluster mode: another node has the user
 * too, and no local session may be left to lend them). -ENOMEM: nothing changed. */
static int
user_own(struct cf_presence *p)
{
	int named;
	char *own;

	if (p->own)
		return 0;
	own = strings_copy(p->id, cf_presence_name(p), &named);
	if (!own)
		return -ENOMEM;
	p->hh.key = p->id = own;
	p->own = 1;
	return 0;
}

/* The room's entry for the user, created (and announced) if the user was not present: it
 * borrows the strings of s, which is joining, or copies uid and name (s NULL: another node's
 * user). */
static struct cf_presence *
user_ref(struct cf_registry *reg, struct cf_room *room, const char *uid, const char *name,
         struct cf_sess *s)
{
	struct cf_presence *p;
	int named = 0;

	HASH_FIND_STR(room->users, uid, p);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (s) {
		p->id = s->user_id;
		p->named = s->user_name != s->user_id;
	} else if ((p->id = strings_copy(uid, name, &named))) {
		p->own = 1;
		p->named = named;
	} else {
		free(p);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, room->users, p->id, strlen(p->id), p);
	room->nusers++;
	mtext_user_added(room, p);
	/* Not to the joining session itself (a waiting join is on the member list already). */
	announce(reg, room, "join", p->id, cf_presence_name(p), s);
	return p;
}

/* s leaves the room while other sessions of its user stay: p borrowed s's strings, so it
 * borrows another member's (the same id; found among the room's members, which happens only
 * to a user with several sessions in one room). */
static void
user_lend(struct cf_room *room, struct cf_presence *p, const struct cf_sess *s)
{
	if (p->own || p->id != s->user_id)
		return;
	lws_start_foreach_dll (struct lws_dll2 *, d, room->members.head) {
		struct cf_sess *o = lws_container_of(d, struct cf_member, in_room)->sess;

		if (o != s && !strcmp(o->user_id, p->id)) {
			/* The same user may have named its sessions differently: a kept list
			 * showing the old name goes. */
			if (strcmp(o->user_name, cf_presence_name(p)))
				mtext_clear(room, 0);
			p->hh.key = p->id = o->user_id;
			p->named = o->user_name != o->user_id;
			break;
		}
	}
	lws_end_foreach_dll(d);
}

/* Forgets (and announces) the user once neither a local session nor another node has it. */
static void
user_check(struct cf_registry *reg, struct cf_room *room, struct cf_presence *p)
{
	if (p->sessions || p->remote)
		return;
	HASH_DEL(room->users, p);
	room->nusers--;
	mtext_clear(room, 0);
	announce(reg, room, "leave", p->id, cf_presence_name(p), NULL);
	user_free(p);
}

/* The room lost its last member (or a join into it failed): it waits on the empty list, or
 * goes at once (free_if_unused()). */
static void
room_emptied(struct cf_registry *reg, struct cf_room *room)
{
	if (reg->host.mirror && room->sync != CF_ROOM_STALE) {
		/* Not followed any more: the bus forgets what it knew of other nodes. */
		bus_unwatch(reg, room);
		room->sync = CF_ROOM_STALE;
	}
	room->empty_since_s = cf_now_s();
	lws_dll2_add_tail(&room->in_empty, &reg->empty);
	free_if_unused(reg, room);
}

/* mb's session counts in the room's presence: the user is listed (and announced, and told the
 * bus) with its first session. 0 or -ENOMEM (nothing changed). */
static int
member_count(struct cf_registry *reg, struct cf_member *mb)
{
	struct cf_room *room = mb->room;
	struct cf_sess *s = mb->sess;
	struct cf_presence *p = user_ref(reg, room, s->user_id, s->user_name, s);

	if (!p)
		return -ENOMEM;
	mb->counted = 1;
	if (++p->sessions == 1)
		bus_presence(reg, room, p->id, cf_presence_name(p), 1);
	return 0;
}

int
cf_room_join(struct cf_registry *reg, struct cf_sess *s, const char *name, struct cf_room **ret,
             struct cf_member **ret_mb)
{
	const struct cf_config *cfg = reg->cfg;
	const char *ip = reg->host.addr ? reg->host.addr(s) : NULL;
	struct cf_addr *addr = NULL;
	struct cf_room *room;
	struct cf_member *mb;
	uint64_t now = cf_now_us();
	int r;

	room = cf_room_find(reg, name);
	if (room && cf_room_member_of(s, room))
		return -EALREADY;
	if (s->rooms.count >= (uint32_t)cfg->max_rooms_per_session)
		return -E2BIG;
	/* The rules, where this node holds them now; a mirror that does not follow the room
	 * learns them with its catch-up, and cf_room_ready() checks then. */
	if (!reg->host.mirror || (room && room->sync == CF_ROOM_LIVE)) {
		r = cf_rules_may_join(rules_of(reg, name), s->user_id, proven(s->user_id),
		                      (int64_t)time(NULL));
		if (r < 0)
			return r;
	}
	/* Sessions without an address (none in practice) are bounded by their own bucket. */
	if (ip && !(addr = cf_registry_addr(reg, ip)))
		return -ENOMEM;
	if (!room && addr && addr->rooms >= (uint32_t)cfg->max_rooms_per_ip) {
		cf_metrics.room_quota_total++;
		return -EDQUOT;
	}
	if (!room && reg->nrooms >= (uint32_t)cfg->max_rooms)
		return -ENOSPC;
	/* Joins have their own buckets: every join costs presence events at each member, and the
	 * send bucket would let a client trade messages for joins. */
	if (!cf_sbucket_take(&s->join_bucket, cfg->join_rate, cfg->join_burst, now / 1000) ||
	    (addr &&
	     !cf_bucket_take(&addr->joins, cfg->join_rate_per_ip, cfg->join_burst_per_ip, now))) {
		cf_metrics.join_limited_total++;
		return -EBUSY;
	}
	if (!room) {
		r = room_new(reg, name, addr, &room);
		if (r < 0)
			return r;
	}
	if (!room->members.count && room->sync == CF_ROOM_STALE) {
		/* The first member here: the bus starts following the room. */
		r = bus_watch(reg, room);
		if (r < 0) {
			free_if_unused(reg, room);
			return r;
		}
		room->sync = r > 0 ? CF_ROOM_SYNCING : CF_ROOM_LIVE;
	}
	if (room->sync != CF_ROOM_LIVE) {
		struct cf_member_wait *w = calloc(1, sizeof(*w));

		mb = w ? &w->mb : NULL;
		if (mb)
			mb->waited = 1;
	} else {
		mb = calloc(1, sizeof(*mb));
	}
	if (!mb)
		return -ENOMEM;
	mb->room = room;
	mb->sess = s;
	/* Counted before it is a member: its own join is announced to the others only. */
	if (room->sync == CF_ROOM_LIVE && member_count(reg, mb) < 0) {
		member_free(mb);
		if (!room->members.count)
			room_emptied(reg, room); /* the room may be gone */
		return -ENOMEM;
	}
	lws_dll2_add_tail(&mb->in_room, &room->members);
	lws_dll2_add_tail(&mb->in_sess, &s->rooms);
	lws_dll2_remove(&room->in_empty);
	*ret = room;
	if (ret_mb)
		*ret_mb = mb;
	if (room->sync != CF_ROOM_LIVE) {
		/* Counted (and announced) once the room's rules let it in (cf_room_ready()). */
		mb->pending = 1;
		return -EINPROGRESS;
	}
	return 0;
}

static void
member_remove(struct cf_registry *reg, struct cf_member *mb)
{
	struct cf_room *room = mb->room;
	struct cf_sess *s = mb->sess;
	struct cf_presence *p = NULL;
	int counted = mb->counted;

	lws_dll2_remove(&mb->in_room);
	lws_dll2_remove(&mb->in_sess);
	member_free(mb);
	if (counted)
		HASH_FIND_STR(room->users, s->user_id, p);
	if (p && --p->sessions == 0) {
		bus_presence(reg, room, p->id, cf_presence_name(p), 0);
		user_check(reg, room, p);
	} else if (p) {
		user_lend(room, p, s);
	}
	if (!room->members.count)
		room_emptied(reg, room);
}

int
cf_room_leave(struct cf_registry *reg, struct cf_sess *s, struct cf_room *room)
{
	struct cf_member *mb = cf_room_member_of(s, room);

	if (!mb)
		return -ENOENT;
	member_remove(reg, mb);
	return 0;
}

void
cf_room_leave_all(struct cf_registry *reg, struct cf_sess *s)
{
	while (s->rooms.head)
		member_remove(reg, lws_container_of(s->rooms.head, struct cf_member, in_sess));
}

struct cf_msg *
cf_room_hist_at(const struct cf_room *room, uint32_t i)
{
	if (i >= room->hist_count)
		return NULL;
	return room->hist[(room->hist_head + i) % room->hist_cap];
}

uint32_t
cf_room_hist_after(const struct cf_room *room, uint64_t since)
{
	uint32_t lo = 0, hi = room->hist_count;

	/* History is in seq order: binary search. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cf_room_hist_at(room, mid)->seq <= since)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct cf_msg *
cf_room_hist_find(const struct cf_room *room, uint64_t seq)
{
	struct cf_msg *m = seq ? cf_room_hist_at(room, cf_room_hist_after(room, seq - 1)) : NULL;

	return m && m->seq == seq ? m : NULL;
}

uint32_t
cf_room_hist_back(const struct cf_room *room, uint32_t to, uint32_t n, int plain)
{
	while (to > 0 && n > 0) {
		const struct cf_msg *m = cf_room_hist_at(room, --to);

		if (!m->deleted && (!plain || m->kind == CF_MSG_PLAIN))
			n--;
	}
	return to;
}

struct cf_msg *
cf_room_find_nonce(const struct cf_room *room, const char *user_id, const char *nonce)
{
	for (uint32_t i = room->hist_count; i-- > 0;) {
		struct cf_msg *m = cf_room_hist_at(room, i);
		if (m->nonce && !strcmp(m->nonce, nonce) && !strcmp(m->from_id, user_id))
			return m;
	}
	return NULL;
}

static void
hist_append(struct cf_registry *reg, struct cf_room *room, struct cf_msg *m)
{
	uint32_t cap = (uint32_t)reg->cfg->history;

	if (!room->hist) {
		/* Allocated on the first message: rooms that never talk cost nothing. */
		room->hist = calloc(cap, sizeof(*room->hist));
		if (!room->hist)
			return;
		room->hist_cap = cap;
	}
	if (room->hist_count == room->hist_cap) {
		cf_msg_unref(room->hist[room->hist_head]);
		room->hist[room->hist_head] = cf_msg_ref(m);
		room->hist_head = (room->hist_head + 1) % room->hist_cap;
		return;
	}
	room->hist[(room->hist_head + room->hist_count) % room->hist_cap] = cf_msg_ref(m);
	room->hist_count++;
}

/* Folds the edit or delete fix into the message it corrects, if the history holds it: its
 * slot gets a corrected copy (frames already rendered from the original may still be queued).
 * Every node folds the same log the same way (cf_msg_fixed()), whatever brought it. */
static void
hist_fold(struct cf_room *room, const struct cf_msg *fix)
{
	uint32_t i = fix->ref ? cf_room_hist_after(room, fix->ref - 1) : room->hist_count;
	struct cf_msg *orig = cf_room_hist_at(room, i);
	struct cf_msg *m = orig ? cf_msg_fixed(orig, fix) : NULL;

	if (!m)
		return;
	room->hist[(room->hist_head + i) % room->hist_cap] = m;
	cf_msg_unref(orig);
}

void
cf_room_deliver(struct cf_registry *reg, struct cf_msg *m)
{
	struct cf_room *room;

	if (cf_room_get(reg, m->room, &room) < 0)
		return;
	if (m->epoch != room->epoch) {
		/* The ordering side restarted its counter: history before it is another life. */
		for (uint32_t i = 0; i < room->hist_count; i++)
			cf_msg_unref(cf_room_hist_at(room, i));
		room->hist_count = room->hist_head = 0;
		room->epoch = m->epoch;
	}
	room->seq = m->seq;
	hist_append(reg, room, m);
	if (m->kind != CF_MSG_PLAIN)
		hist_fold(room, m);
	cf_metrics.messages_in_total++;
	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, room->members.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
		struct cf_frame *f = mb->pending ? NULL : cf_msg_frame(m, mb->sess->dialect);

		if (f)
			push(reg, mb->sess, f);
	}
	lws_end_foreach_dll_safe(d, d1);
}

void
cf_room_ready(struct cf_registry *reg, struct cf_room *room, int err)
{
	int merr;

	if (!err)
		room->sync = CF_ROOM_LIVE;
	/* Completions may add or remove members: take one pending member at a time. */
	for (;;) {
		struct cf_member *mb = NULL;

		lws_start_foreach_dll (struct lws_dll2 *, d, room->members.head) {
			struct cf_member *x = lws_container_of(d, struct cf_member, in_room);
			if (x->pending) {
				mb = x;
				break;
			}
		}
		lws_end_foreach_dll(d);
		if (!mb)
			break;
		mb->pending = 0;
		/* The rules came with the catch-up: a join they refuse is announced to nobody. */
		merr = err;
		if (!merr)
			merr = cf_rules_may_join(rules_of(reg, room->name), mb->sess->user_id,
			                         proven(mb->sess->user_id), (int64_t)time(NULL));
		if (!merr)
			merr = member_count(reg, mb);
		mb->sess->dialect->join_done(mb->sess, mb, merr);
		if (merr < 0) {
			int last = room->members.count == 1;

			member_remove(reg, mb);
			if (last)
				return; /* the room may be gone */
		}
	}
}

/* The first counted member of room that c removes: c kicks or bans its user, or the rules r
 * no longer let its user in. NULL: none. */
static struct cf_member *
removed_by(struct cf_room *room, const struct cf_rules *r, const struct cf_rules_change *c,
           int64_t now)
{
	lws_start_foreach_dll (struct lws_dll2 *, d, room->members.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
		const char *uid = mb->sess->user_id;

		if (mb->counted && ((c && c->op == CF_RULES_CLOSE) ||
		                    (c && (c->op == CF_RULES_KICK || c->op == CF_RULES_BAN) &&
		                     c->target && !strcmp(c->target, uid)) ||
		                    cf_rules_may_join(r, uid, proven(uid), now) < 0))
			return mb;
	}
	lws_end_foreach_dll(d);
	return NULL;
}

/* The room's counted members see the rules event of their dialect. */
static void
rules_tell(struct cf_registry *reg, struct cf_room *room, const struct cf_rules *r,
           const struct cf_rules_change *c)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};

	lws_start_foreach_dll (struct lws_dll2 *, d, room->members.head) {
		struct cf_member *m = lws_container_of(d, struct cf_member, in_room);
		const struct cf_dialect *dl = m->sess->dialect;

		if (m->counted && dl->render_rules) {
			if (!frames[dl->id])
				frames[dl->id] = dl->render_rules(room->name, r, c);
			if (frames[dl->id])
				push(reg, m->sess, frames[dl->id]);
		}
	}
	lws_end_foreach_dll(d);
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}

/* A closed room: every member is told and removed, and what this node keeps of it (history,
 * mirror) goes with it, so that its name is new again. Members still waiting for a catch-up
 * stay: theirs is a join into a room without rules. */
static void
close_room(struct cf_registry *reg, const char *name, const struct cf_rules_change *c)
{
	struct cf_room *room = cf_room_find(reg, name);
	struct cf_member *mb;

	if (!room)
		return;
	rules_tell(reg, room, NULL, c);
	while ((room = cf_room_find(reg, name)) && (mb = removed_by(room, NULL, c, 0))) {
		struct cf_sess *s = mb->sess;

		cf_metrics.rules_removed_total++;
		if (s->dialect->kicked)
			s->dialect->kicked(s, name, c);
		else
			cf_sess_close(s, 1008, "the room was closed");
		member_remove(reg, mb);
	}
	room = cf_room_find(reg, name);
	if (room && !room->members.count)
		room_free(reg, room);
}

void
cf_room_rules_changed(struct cf_registry *reg, const char *name, const struct cf_rules *r,
                      const struct cf_rules_change *c)
{
	struct cf_room *room = cf_room_find(reg, name);
	int64_t now = (int64_t)time(NULL);
	struct cf_member *mb;

	/* name is the caller's: it outlives the room, which the close frees. */
	if (c && c->op == CF_RULES_CLOSE) {
		close_room(reg, name, c);
		return;
	}
	if (!room || !room->members.count)
		return;
	/* Every member hears of the change, those it removes too: they learn why. */
	rules_tell(reg, room, r, c);
	/* One at a time: a removal changes the list, and the last one may free the room. */
	while ((mb = removed_by(room, r, c, now))) {
		struct cf_sess *s = mb->sess;
		int last = room->members.count == 1;
		int targeted = c && (c->op == CF_RULES_KICK || c->op == CF_RULES_BAN) &&
		               c->target && !strcmp(c->target, s->user_id);

		cf_metrics.rules_removed_total++;
		if (s->dialect->kicked)
			s->dialect->kicked(s, name, targeted ? c : NULL);
		else
			cf_sess_close(s, 1008, "removed from the room");
		member_remove(reg, mb);
		if (last)
			return;
	}
}

int
cf_room_presence_remote(struct cf_registry *reg, struct cf_room *room, const char *uid,
                        const char *name, int joined)
{
	struct cf_presence *p;

	if (joined) {
		p = user_ref(reg, room, uid, name, NULL);
		/* Borrowed strings are lent by local members only: once the last of them leaves
		 * the entry stays for the other node, so it needs its own. */
		if (!p || user_own(p) < 0)
			return -ENOMEM;
		p->remote++;
		return 0;
	}
	HASH_FIND_STR(room->users, uid, p);
	if (p && p->remote) {
		p->remote--;
		user_check(reg, room, p);
	}
	return 0;
}

struct cf_room *
cf_room_first(struct cf_registry *reg)
{
	return reg->rooms;
}

struct cf_room *
cf_room_next(struct cf_room *room)
{
	return room->hh.next;
}

const struct cf_presence *
cf_room_presence_first(const struct cf_room *room)
{
	return room->users;
}

const struct cf_presence *
cf_room_presence_next(const struct cf_presence *p)
{
	return p->hh.next;
}

const struct cf_presence *
cf_room_presence_find(const struct cf_room *room, const char *uid)
{
	struct cf_presence *p;

	HASH_FIND_STR(room->users, uid, p);
	return p;
}

static void
tell_gap(struct cf_registry *reg, struct cf_room *room)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};

	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, room->members.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_room);
		const struct cf_dialect *dl = mb->sess->dialect;

		if (!mb->pending && dl->render_gap) {
			if (!frames[dl->id])
				frames[dl->id] = dl->render_gap(room->name, room->epoch, room->seq);
			if (frames[dl->id])
				push(reg, mb->sess, frames[dl->id]);
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}

void
cf_room_gap(struct cf_registry *reg, struct cf_room *room, uint64_t epoch)
{
	(void)reg;
	if (epoch != room->epoch) {
		for (uint32_t i = 0; i < room->hist_count; i++)
			cf_msg_unref(cf_room_hist_at(room, i));
		room->hist_count = room->hist_head = 0;
		room->epoch = epoch;
		room->seq = 0;
	}
	tell_gap(reg, room);
}

void
cf_room_rewind(struct cf_registry *reg, struct cf_room *room, uint64_t epoch, uint64_t seq)
{
	(void)reg;
	/* History is in seq order: drop from the newest end. */
	while (room->hist_count && cf_room_hist_at(room, room->hist_count - 1)->seq > seq) {
		cf_msg_unref(cf_room_hist_at(room, room->hist_count - 1));
		room->hist_count--;
	}
	room->epoch = epoch;
	if (room->seq > seq)
		room->seq = seq;
	tell_gap(reg, room);
}

static uint32_t
expire_rooms(struct cf_registry *reg, uint64_t now)
{
	uint32_t n = 0;

	while (reg->empty.head) {
		struct cf_room *room = lws_container_of(reg->empty.head, struct cf_room, in_empty);

		if (room->empty_since_s + (uint64_t)reg->cfg->history_ttl > now)
			break;
		room_free(reg, room);
		n++;
	}
	return n;
}

uint32_t
cf_registry_expire(struct cf_registry *reg, uint64_t now)
{
	uint32_t n = expire_rooms(reg, now);

	cf_registry_addr_sweep(reg, cf_now_us());
	return n;
}
