/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat_render.c - seed 001's events: core messages, joins and direct messages as
 * the JSON its React bundle reads (the pub/sub form, history entries, sys channelJoin), and
 * what the renderers need beyond a message, remembered process-wide: account UUIDs and names,
 * and the parties of the private channels this node's sessions are in. */
#include "base/text.h"
#include "core/frame.h"
#include "dialects/dialect_redis_chat_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>
#include <systemd/sd-id128.h>

#define NAMES_MAX 65536 /* account UUID <-> name pairs remembered for rendering */

/* ---- process-wide: account UUID <-> name, and private channels' parties ------------------ */

/* What renderers need beyond a message (sender's name and id): an account's UUID. Filled when
 * a session signs in, looks an account up, or lists the users; bounded, oldest out first. */
struct name_ent {
	UT_hash_handle hh_uuid, hh_name;
	struct lws_dll2 order;
	char uuid[37];
	char name[];
};

static struct name_ent *by_uuid, *by_name;
static struct lws_dll2_owner names_order;
static struct pair_ent *pairs;

static void
name_del(struct name_ent *e)
{
	HASH_DELETE(hh_uuid, by_uuid, e);
	HASH_DELETE(hh_name, by_name, e);
	lws_dll2_remove(&e->order);
	free(e);
}

void
cf_redis_chat_name_put(const char *uuid, const char *name)
{
	struct name_ent *e;
	size_t nl = strlen(name);

	HASH_FIND(hh_uuid, by_uuid, uuid, strlen(uuid), e);
	if (e)
		return; /* an account's name never changes */
	if (strlen(uuid) != 36)
		return;
	if (names_order.count >= NAMES_MAX)
		name_del(lws_container_of(names_order.head, struct name_ent, order));
	e = calloc(1, sizeof(*e) + nl + 1);
	if (!e)
		return; /* renderers fall back to the user id */
	memcpy(e->uuid, uuid, 37);
	memcpy(e->name, name, nl + 1);
	HASH_ADD(hh_uuid, by_uuid, uuid[0], 36, e);
	HASH_ADD_KEYPTR(hh_name, by_name, e->name, nl, e);
	lws_dll2_add_tail(&e->order, &names_order);
}

/* The account UUID of the core user uid, or uid itself (guests of other dialects). */
const char *
cf_redis_chat_uuid_of(const char *uid)
{
	struct name_ent *e;

	HASH_FIND(hh_name, by_name, uid, strlen(uid), e);
	return e ? e->uuid : uid;
}

struct pair_ent *
cf_redis_chat_pair_ref(const char *room, const char *ua, const char *na, const char *ub,
                       const char *nb)
{
	struct pair_ent *p;
	size_t rl = strlen(room);

	HASH_FIND_STR(pairs, room, p);
	if (p) {
		p->refs++;
		return p;
	}
	p = calloc(1, sizeof(*p) + rl + 1);
	if (!p)
		return NULL;
	memcpy(p->room, room, rl + 1);
	memcpy(p->uuid[0], ua, 37);
	memcpy(p->uuid[1], ub, 37);
	p->name[0] = strdup(na);
	p->name[1] = strdup(nb);
	if (!p->name[0] || !p->name[1]) {
		free(p->name[0]);
		free(p->name[1]);
		free(p);
		return NULL;
	}
	p->refs = 1;
	HASH_ADD_KEYPTR(hh, pairs, p->room, rl, p);
	return p;
}

void
cf_redis_chat_pair_unref(struct pair_ent *p)
{
	if (!p || --p->refs)
		return;
	HASH_DEL(pairs, p);
	free(p->name[0]);
	free(p->name[1]);
	free(p);
}

/* The party of a private channel other than the user uid (uid itself in a channel with
 * oneself): 0 or 1, or -1 when the room is not a private channel known here. */
static int
pair_other(const char *room, const char *uid, struct pair_ent **ret)
{
	struct pair_ent *p;

	if (strncmp(room, PRIVATE_PFX, sizeof(PRIVATE_PFX) - 1))
		return -1;
	HASH_FIND_STR(pairs, room, p);
	if (!p)
		return -1;
	*ret = p;
	return !strcmp(p->name[0], uid) ? 1 : 0;
}

/* Forgets the account names and private channels it remembers (at exit). */
void
cf_redis_chat_cleanup(void)
{
	struct pair_ent *p, *ptmp;

	while (names_order.head)
		name_del(lws_container_of(names_order.head, struct name_ent, order));
	HASH_ITER(hh, pairs, p, ptmp)
	{
		HASH_DEL(pairs, p);
		free(p->name[0]);
		free(p->name[1]);
		free(p);
	}
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* A UUID (version 4 layout) derived from the message's place in its room, so that every node
 * renders the same one for the same message. */
static void
msg_uuid(const struct cf_msg *m, char out[37])
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char buf[CF_ROOM_NAME_MAX + 64];
	int n = snprintf(buf, sizeof(buf), "%s%c%" PRIu64 "%c%" PRIu64, m->room, '\0', m->epoch,
	                 '\0', m->seq);
	sd_id128_t id;

	SHA256((const unsigned char *)buf, n > 0 ? (size_t)n : 0, h);
	memcpy(id.bytes, h, sizeof(id.bytes));
	id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40);
	id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
	sd_id128_to_uuid_string(id, out);
}

/* Go's time.Time in JSON (RFC 3339, fraction without trailing zeros), UTC. */
static void
created_at(int64_t ms, char out[40])
{
	time_t t = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		char f[8];
		int len = 3;

		snprintf(f, sizeof(f), "%03d", frac);
		while (f[len - 1] == '0')
			len--;
		snprintf(out + n, 40 - n, ".%.*sZ", len, f);
	} else {
		snprintf(out + n, 40 - n, "Z");
	}
}

json_t *
cf_redis_chat_user_obj(const char *uuid, const char *name, int online)
{
	return json_pack("{s:s,s:s,s:b}", "UUID", uuid, "Username", name, "OnLine", online);
}

/* The sender's account UUID into out: from the nonce of a 001 message, else what this node
 * knows of the user, else the user id. Returns out, or the user id when it is too long. */
static const char *
sender_uuid(const struct cf_msg *m, char out[37])
{
	const char *u;

	if (m->nonce && strlen(m->nonce) == NONCE_LEN &&
	    !strncmp(m->nonce, NONCE_PFX, sizeof(NONCE_PFX) - 1)) {
		memcpy(out, m->nonce + sizeof(NONCE_PFX) - 1, 36);
		out[36] = '\0';
		return out;
	}
	u = cf_redis_chat_uuid_of(m->from_id);
	return u;
}

/* The message object, in the field order of the pub/sub form or of a history entry. */
json_t *
cf_redis_chat_msg_obj(const struct cf_msg *m, int history)
{
	char id[37], buf[37], at[40];
	const char *su = sender_uuid(m, buf), *ru = "";
	struct pair_ent *p = NULL;
	json_t *o = json_object(), *recipient = NULL;
	int other = pair_other(m->room, m->from_id, &p);

	if (!o)
		return NULL;
	if (other >= 0) {
		ru = p->uuid[other];
		recipient = cf_redis_chat_user_obj(ru, p->name[other], 0);
	}
	msg_uuid(m, id);
	created_at(m->ts_ms, at);
	json_object_set_new(o, "UUID", json_string(id));
	if (history)
		json_object_set_new(o, "SenderUUID", json_string(su));
	json_object_set_new(o, "Sender", cf_redis_chat_user_obj(su, m->from_name, 0));
	if (!history)
		json_object_set_new(o, "SenderUUID", json_string(su));
	if (history)
		json_object_set_new(o, "RecipientUUID", json_string(ru));
	if (recipient)
		json_object_set_new(o, "Recipient", recipient);
	if (!history)
		json_object_set_new(o, "RecipientUUID", json_string(ru));
	json_object_set_new(o, "Message", json_string(m->text));
	json_object_set_new(o, "CreatedAt", json_string(at));
	return o;
}

struct cf_frame *
cf_redis_chat_render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(json_pack("{s:s,s:o}", "type", "channelMessage", "channelMessage",
	                                    cf_redis_chat_msg_obj(m, 0)));
}

/* sys channelJoin: a user's first session joined the channel. suuid: the joiner's session
 * (only on the joiner's own copy), recip: the recipient it named, NULL: from the room. */
json_t *
cf_redis_chat_sys_join(const char *room, const char *uid, const char *uname, const char *suuid,
                       const char *recip)
{
	struct pair_ent *p = NULL;
	const char *uuid = cf_redis_chat_uuid_of(uid);
	json_t *cj = json_object(), *o;
	int other;

	if (!recip && (other = pair_other(room, uid, &p)) >= 0)
		recip = p->uuid[other];
	if (cj && recip && *recip)
		json_object_set_new(cj, "recipientUUID", json_string(recip));
	o = json_pack("{s:s,s:s,s:o,s:{s:s,s:o}}", "type", "sys", "userUUID", uuid, "user",
	              cf_redis_chat_user_obj(uuid, uname, 1), "sys", "type", "channelJoin",
	              "channelJoin", cj);
	if (o && suuid)
		json_object_set_new(o, "SUUID", json_string(suuid));
	return o;
}

struct cf_frame *
cf_redis_chat_render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	/* 001 has no leave event. */
	if (strcmp(ev, "join"))
		return NULL;
	return cf_frame_from_json(cf_redis_chat_sys_join(room, uid, uname, NULL, NULL));
}

/* No direct messages, gaps or bye in 001. */
/* A direct message to this user (a confab.v1 dm, a seed 004 send, one kept in the inbox while
 * the user was away). The seed has no such event: it is shown as a private-channel message
 * from the sender, which the bundle files under RecipientUUID as it does the seed's own private
 * messages. Without this a DM to a user signed in only through 001 would be taken from the
 * inbox and shown nowhere. */
struct cf_frame *
cf_redis_chat_render_dm(const struct cf_msg *m)
{
	char id[37], at[40];
	const char *su = cf_redis_chat_uuid_of(m->from_id), *ru = cf_redis_chat_uuid_of(m->room);

	if (m->mid[0])
		snprintf(id, sizeof(id), "%s", m->mid);
	else
		cf_text_uuid4(id, (unsigned long long)m->ts_ms);
	created_at(m->ts_ms, at);
	return cf_frame_from_json(json_pack(
	        "{s:s,s:{s:s,s:o,s:s,s:o,s:s,s:s,s:s}}", "type", "channelMessage", "channelMessage",
	        "UUID", id, "Sender", cf_redis_chat_user_obj(su, m->from_name, 0), "SenderUUID", su,
	        "Recipient", cf_redis_chat_user_obj(ru, m->room, 0), "RecipientUUID", ru, "Message",
	        m->text, "CreatedAt", at));
}
