/* SPDX-License-Identifier: MIT */
/* user.c - the registry's users (struct cf_user, room.h): who has sessions on this node, told to
 * the bus as the first arrives and the last leaves, and the delivery of direct messages to
 * their sessions, each held message once. */
#include "core/dialect.h"
#include "core/frame.h"
#include "core/msg.h"
#include "core/room.h"
#include "core/sess.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
cf_registry_user_add(struct cf_registry *reg, struct cf_sess *s)
{
	struct cf_user *u;

	cf_registry_user_remove(reg, s);
	HASH_FIND_STR(reg->users, s->user_id, u);
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		u->id = s->user_id;
		HASH_ADD_KEYPTR(hh, reg->users, u->id, strlen(u->id), u);
		if (reg->host.user)
			reg->host.user(reg->host.bus, u->id, 1);
	}
	s->user = u;
	s->user_prev = NULL;
	s->user_next = u->sessions;
	if (u->sessions)
		u->sessions->user_prev = s;
	u->sessions = s;
	u->nsessions++;
	return 0;
}

void
cf_registry_user_remove(struct cf_registry *reg, struct cf_sess *s)
{
	struct cf_user *u;

	if (!(u = s->user))
		return;
	if (s->user_prev)
		s->user_prev->user_next = s->user_next;
	else
		u->sessions = s->user_next;
	if (s->user_next)
		s->user_next->user_prev = s->user_prev;
	s->user = NULL;
	s->user_prev = s->user_next = NULL;
	if (--u->nsessions) {
		/* The key was s's string: another session's equal one takes its place (same bytes,
		 * same hash). */
		if (u->id == s->user_id) {
			u->id = u->sessions->user_id;
			u->hh.key = u->sessions->user_id;
		}
		return;
	}
	if (reg->host.user)
		reg->host.user(reg->host.bus, u->id, 0);
	HASH_DEL(reg->users, u);
	free(u->held);
	free(u);
}

uint32_t
cf_registry_user_sessions(struct cf_registry *reg, const char *uid)
{
	struct cf_user *u;

	HASH_FIND_STR(reg->users, uid, u);
	return u ? u->nsessions : 0;
}

struct cf_user *
cf_registry_user_first(struct cf_registry *reg)
{
	return reg->users;
}

struct cf_user *
cf_registry_user_next(struct cf_user *u)
{
	return u->hh.next;
}

#define HELD_SEEN 16

/* Whether u's sessions here were given the held message mid already; remembers it if not. */
static int
held_seen(struct cf_user *u, const char *mid)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (const char *p = mid; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	if (!u->held && !(u->held = calloc(HELD_SEEN, sizeof(*u->held))))
		return 0; /* OOM: a second copy is the lesser harm */
	for (int i = 0; i < HELD_SEEN; i++)
		if (u->held[i] == h)
			return 1;
	u->held[u->held_next] = h;
	u->held_next = (uint8_t)((u->held_next + 1) % HELD_SEEN);
	return 0;
}

uint32_t
cf_registry_deliver_dm(struct cf_registry *reg, struct cf_msg *m)
{
	struct cf_user *u;
	uint32_t n = 0;

	HASH_FIND_STR(reg->users, m->room, u);
	if (!u)
		return 0;
	/* Nothing new: they have it, queued or written. */
	if (m->held && m->mid[0] && held_seen(u, m->mid))
		return 0;
	for (struct cf_sess *s = u->sessions, *next; s; s = next) {
		struct cf_frame *f = cf_msg_frame(m, s->dialect);

		next = s->user_next;
		if (f) {
			if (reg->host.push)
				reg->host.push(s, f);
			n++;
		}
	}
	return n;
}

void
cf_registry_read_deliver(struct cf_registry *reg, const char *uid, const char *room, uint64_t seq)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};
	uint8_t tried[CF_DIALECT_SLOTS] = {0};
	struct cf_user *u;

	HASH_FIND_STR(reg->users, uid, u);
	if (!u)
		return;
	for (struct cf_sess *s = u->sessions; s; s = s->user_next) {
		const struct cf_dialect *dl = s->dialect;

		if (!dl->render_read)
			continue;
		if (!tried[dl->id]) {
			tried[dl->id] = 1;
			frames[dl->id] = dl->render_read(room, seq);
		}
		if (frames[dl->id] && reg->host.push)
			reg->host.push(s, frames[dl->id]);
	}
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}

void
cf_registry_notice(struct cf_registry *reg, const char *text, int64_t ts_ms)
{
	struct cf_frame *frames[CF_DIALECT_SLOTS] = {0};
	uint8_t tried[CF_DIALECT_SLOTS] = {0};
	struct cf_user *u, *tmp;

	HASH_ITER(hh, reg->users, u, tmp)
	{
		for (struct cf_sess *s = u->sessions; s; s = s->user_next) {
			const struct cf_dialect *dl = s->dialect;

			if (!dl->render_notice)
				continue;
			if (!tried[dl->id]) {
				tried[dl->id] = 1;
				frames[dl->id] = dl->render_notice(text, ts_ms);
			}
			if (frames[dl->id] && reg->host.push)
				reg->host.push(s, frames[dl->id]);
		}
	}
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(frames[i]);
}
