/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat_channels.c - seed 001's channels: the public one is the core room
 * "public", a private one between two accounts a room named from both UUIDs under the accounts'
 * key; channelJoin (a session is in one channel at a time), channelMessage, channelLeave. */
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "core/rules.h"
#include "dialects/dialect_redis_chat_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- channels ----------------------------------------------------------------------------- */

void
cf_redis_chat_leave_channel(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct cf_room *room;

	if (rc->room[0] && (room = cf_room_find(s->env->reg, rc->room)))
		cf_room_leave(s->env->reg, s, room);
	rc->room[0] = '\0';
	rc->recip[0] = '\0';
	cf_redis_chat_pair_unref(rc->pair);
	rc->pair = NULL;
}

/* The room of a channel: "public", or the private channel of accounts a and b. */
static int
channel_room(struct cf_sess *s, const char *a, const char *b, char *out, size_t outlen)
{
	char pair[80], mac[48];
	int r;

	if (!*b) {
		snprintf(out, outlen, "%s", PUBLIC_ROOM);
		return 0;
	}
	snprintf(pair, sizeof(pair), "%s:%s", strcmp(a, b) < 0 ? a : b, strcmp(a, b) < 0 ? b : a);
	r = cf_auth_derive(s->env->auth, PRIVATE_LBL, pair, mac, sizeof(mac));
	if (r < 0)
		return r;
	snprintf(out, outlen, "%s%s", PRIVATE_PFX, mac);
	return 0;
}

/* ---- channelJoin -------------------------------------------------------------------------- */

static void
join_reply(struct cf_sess *s, const struct cf_room *room, int recip_online)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	json_t *cj = json_object(), *users = json_array(), *msgs;
	uint32_t from = cf_room_hist_back(room, room->hist_count, JOIN_HISTORY, 1);
	int recip_listed = !*q->recip;

	if (*q->recip)
		json_object_set_new(cj, "recipientUUID", json_string(q->recip));
	if (room->hist_count) {
		msgs = json_array();
		for (uint32_t i = from; i < room->hist_count; i++) {
			const struct cf_msg *m = cf_room_hist_at(room, i);

			/* Its protocol shows no edit or delete: the history as corrected. */
			if (m->kind == CF_MSG_PLAIN && !m->deleted)
				json_array_append_new(msgs, cf_redis_chat_msg_obj(m, 1));
		}
		json_object_set_new(cj, "messages", msgs);
	}
	for (const struct cf_presence *p = cf_room_presence_first(room); p;
	     p = cf_room_presence_next(p)) {
		const char *uuid = cf_redis_chat_uuid_of(p->id);

		recip_listed |= !strcmp(uuid, q->recip);
		json_array_append_new(users, cf_redis_chat_user_obj(uuid, cf_presence_name(p), 1));
	}
	if (!recip_listed)
		json_array_append_new(users,
		                      cf_redis_chat_user_obj(q->recip, q->rname, recip_online));
	json_object_set_new(cj, "users", users);
	cf_redis_chat_push(s, json_pack("{s:s,s:o}", "type", "channelJoin", "channelJoin", cj));
	/* Members already there heard of a user's first session from the registry; the joiner
	 * always hears of its own join, after the reply, as in the seed. */
	cf_redis_chat_push(s, cf_redis_chat_sys_join(room->name, s->user_id, s->user_name,
	                                             rc->suuid, q->recip));
}

static void
join_online(void *ud, int err, const uint8_t *online, size_t n)
{
	struct cf_sess *s = ud;
	struct cf_room *room = cf_room_find(s->env->reg, rc_of(s)->room);

	if (room)
		join_reply(s, room, !err && n == 1 && online[0]);
	cf_redis_chat_finish(s);
}

/* Whether a member of room is an account whose UUID this node does not know yet: one that
 * signed in on another node only (cluster mode). */
static int
unknown_members(const struct cf_room *room)
{
	for (const struct cf_presence *p = cf_room_presence_first(room); p;
	     p = cf_room_presence_next(p))
		if (cf_ident_space_of(p->id, NULL) == CF_ID_ACCOUNT &&
		    cf_redis_chat_uuid_of(p->id) == p->id)
			return 1;
	return 0;
}

static void join_complete(struct cf_sess *s, struct cf_room *room);

static void
join_names_listed(void *ud, int64_t tag, int err, const struct cf_account *accts, size_t n)
{
	struct cf_sess *s = ud;
	struct cf_room *room = cf_room_find(s->env->reg, rc_of(s)->room);

	(void)tag;
	/* Without the list the reply still goes out, with the names the node knows. */
	for (size_t i = 0; !err && i < n; i++)
		cf_redis_chat_name_put(accts[i].id, accts[i].name);
	if (room) {
		join_complete(s, room);
		return;
	}
	cf_redis_chat_error(s, E_JOIN, rc_of(s)->cur->o,
	                    "the channel could not be loaded, try again later");
	cf_redis_chat_finish(s);
}

/* The session is a member of the channel's room: answer, after reading the UUIDs of members
 * that signed in elsewhere (users lists each member's account UUID, never its name), and after
 * asking whether the recipient of a private channel is online when it is not in the room. */
static void
join_complete(struct cf_sess *s, struct cf_room *room)
{
	struct req *q = rc_of(s)->cur;
	const char *ids[1] = {q->rname};

	/* Once per request: the list names every account, so one read is enough. */
	if (!q->names_read && s->env->auth && unknown_members(room)) {
		q->names_read = 1;
		if (cf_auth_list(s->env->auth, join_names_listed, s, 0) == 0) {
			cf_sess_wait(s);
			return;
		}
	}

	if (*q->recip && q->rname) {
		if (!cf_room_presence_find(room, q->rname) &&
		    cf_bus_online(s->env->bus, ids, 1, join_online, s) == 0)
			return;
	}
	join_reply(s, room, 0);
	cf_redis_chat_finish(s);
}

void
cf_redis_chat_join_done(struct cf_sess *s, struct cf_member *mb, int err)
{
	struct rc *rc = rc_of(s);

	if (!rc->cur || rc->cur->type != T_JOIN)
		return;
	if (err < 0) {
		cf_redis_chat_error(s, E_JOIN, rc->cur->o,
		                    "the channel could not be loaded, try again later");
		/* The registry removes the member after this returns. */
		rc->room[0] = '\0';
		rc->recip[0] = '\0';
		cf_redis_chat_pair_unref(rc->pair);
		rc->pair = NULL;
		cf_redis_chat_finish(s);
		return;
	}
	join_complete(s, mb->room);
}

static void
join_room(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	struct cf_room *room;
	struct cf_member *mb;
	int r;

	if (*q->recip) {
		r = channel_room(s, s->x->account_id, q->recip, q->room, sizeof(q->room));
		if (r < 0) {
			cf_redis_chat_error(s, E_JOIN, q->o,
			                    "the channel cannot be joined now (%s)", strerror(-r));
			cf_redis_chat_finish(s);
			return;
		}
	} else {
		snprintf(q->room, sizeof(q->room), "%s", PUBLIC_ROOM);
	}
	if (!strcmp(rc->room, q->room) && (room = cf_room_find(s->env->reg, q->room)) &&
	    cf_room_member_of(s, room) && !cf_room_member_of(s, room)->pending) {
		/* Already there (the seed's client re-sends the join): the same answer again. */
		memcpy(rc->recip, q->recip, sizeof(rc->recip));
		join_complete(s, room);
		return;
	}
	cf_redis_chat_leave_channel(s);
	if (*q->recip) {
		rc->pair = cf_redis_chat_pair_ref(q->room, s->x->account_id, s->user_name, q->recip,
		                                  q->rname);
		if (!rc->pair) {
			cf_redis_chat_error(s, E_JOIN, q->o, "out of memory");
			cf_redis_chat_finish(s);
			return;
		}
	}
	memcpy(rc->room, q->room, sizeof(rc->room));
	memcpy(rc->recip, q->recip, sizeof(rc->recip));
	r = cf_room_join(s->env->reg, s, q->room, &room, &mb);
	if (r == 0) {
		join_complete(s, room);
		return;
	}
	if (r == -EINPROGRESS) {
		cf_sess_wait(s); /* cf_redis_chat_join_done() */
		return;
	}
	rc->room[0] = '\0';
	rc->recip[0] = '\0';
	cf_redis_chat_pair_unref(rc->pair);
	rc->pair = NULL;
	cf_redis_chat_error(s, E_JOIN, q->o, "%s",
	                    r == -ENOSPC   ? "the server holds its maximum number of rooms"
	                    : r == -EDQUOT ? "your address created its maximum number of rooms"
	                    : r == -EBUSY  ? "too many channel joins, slow down"
	                    : cf_rules_why(r)
	                            ? cf_rules_why(r)
	                            : "the channel cannot be joined now, try again later");
	cf_redis_chat_finish(s);
}

static void
recipient_found(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err < 0) {
		if (r->err == -ENOENT)
			cf_redis_chat_error(s, E_USER, q->o, "no user %s", q->recip);
		else
			cf_redis_chat_error(s, E_USER, q->o, "%s", cf_redis_chat_auth_why(r->err));
		cf_redis_chat_finish(s);
		return;
	}
	cf_redis_chat_name_put(r->acct->id, r->acct->name);
	q->rname = strdup(r->acct->name);
	if (!q->rname) {
		cf_redis_chat_error(s, E_JOIN, q->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	join_room(s);
}

void
cf_redis_chat_join(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;

	if (!*q->recip) {
		join_room(s);
		return;
	}
	if (cf_auth_by_id(s->env->auth, q->recip, recipient_found, s, 0) < 0) {
		cf_redis_chat_error(s, E_JOIN, q->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* ---- channelMessage, channelLeave, signOut ------------------------------------------------ */

static void
message_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	(void)tag;
	(void)m;
	if (err < 0)
		cf_redis_chat_error(ud, E_WRITE, NULL,
		                    "the message could not be sent, try again later");
}

void
cf_redis_chat_message(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const char *text = NULL, *key;
	char room[CF_ROOM_NAME_MAX + 1], nonce[NONCE_LEN + 1], rnd[37];
	size_t tl = 0;
	struct cf_msg *m;
	json_t *v;
	int r;

	json_object_foreach (obj, key, v) {
		if (cf_text_go_key_is(key, "message") && json_is_string(v)) {
			text = json_string_value(v);
			tl = json_string_length(v);
		}
	}
	if (!text || !tl || tl > (size_t)s->env->cfg->max_text || strlen(text) != tl) {
		cf_redis_chat_error(s, E_WRITE, q->o,
		                    "channelMessage.message must be 1 to %d bytes",
		                    s->env->cfg->max_text);
		return;
	}
	r = channel_room(s, s->x->account_id, q->recip, room, sizeof(room));
	if (r < 0) {
		cf_redis_chat_error(s, E_WRITE, q->o, "the channel cannot be written now (%s)",
		                    strerror(-r));
		return;
	}
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return;
	if (r < 0) {
		cf_redis_chat_error(s, E_WRITE, q->o, "too many messages, slow down");
		return;
	}
	/* The sender's account UUID travels with the message (to every node, into history):
	 * 32 hex digits of a fresh UUID keep each nonce unique. */
	cf_text_uuid4(rnd, s->id);
	snprintf(nonce, sizeof(nonce), "%s%s:%.8s%.4s%.4s%.4s%.12s", NONCE_PFX, s->x->account_id,
	         rnd, rnd + 9, rnd + 14, rnd + 19, rnd + 24);
	m = cf_msg_new(room, s->user_id, s->user_name, text, nonce);
	if (!m) {
		cf_redis_chat_error(s, E_WRITE, q->o, "out of memory");
		return;
	}
	r = cf_room_publish(s->env->reg, m, message_done, s, 0);
	cf_msg_unref(m);
	if (r < 0)
		cf_redis_chat_error(s, E_WRITE, q->o, "%s",
		                    cf_rules_why(r)
		                            ? cf_rules_why(r)
		                            : "the message could not be sent, try again later");
}

void
cf_redis_chat_leave(struct cf_sess *s)
{
	struct rc *rc = rc_of(s);
	struct req *q = rc->cur;
	json_t *cl;

	if (!rc->room[0] || strcmp(rc->recip, q->recip)) {
		cf_redis_chat_error(s, E_GENERIC, q->o, "channel not found");
		return;
	}
	cf_redis_chat_leave_channel(s);
	cl = json_object();
	if (*q->recip)
		json_object_set_new(cl, "recipientUUID", json_string(q->recip));
	cf_redis_chat_push(s, json_pack("{s:s,s:o}", "type", "channelLeave", "channelLeave", cl));
}
