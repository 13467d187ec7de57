/* SPDX-License-Identifier: MIT */
/* dialect_native_read.c - confab.v1's read markers (docs/protocol.md "read"): `read` raises the
 * account's marker in a room it is in, `unread` answers how many messages each of its rooms
 * holds after the marker, and the read event tells the account's sessions that a marker moved.
 * The markers are the bus's (read_set, read_get); each command waits for it, holding the
 * session's later commands back so that replies keep their order. */
#include "base/clock.h"
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/rules.h"
#include "dialects/dialect_native_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* What a waiting read or unread keeps (in x->auth_arg, freed with the session): its id and
 * the rooms asked about, NUL-separated. */
struct read_req {
	json_int_t id;
	size_t n;
	char names[];
};

struct cf_frame *
cf_native_render_read(const char *room, uint64_t seq)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:s,s:I}", "ev", "read", "room", room, "seq", (json_int_t)seq));
}

/* Another member's marker: {"ev":"read","room","user":{id,name},"seq"}. */
struct cf_frame *
cf_native_render_read_of(const char *room, const char *uid, const char *uname, uint64_t seq)
{
	return cf_frame_from_json(json_pack("{s:s,s:s,s:o,s:I}", "ev", "read", "room", room, "user",
	                                    cf_native_user_json(uid, uname), "seq",
	                                    (json_int_t)seq));
}

static struct read_req *
req_of(struct cf_sess *s)
{
	return s->x ? (struct read_req *)s->x->auth_arg : NULL;
}

static struct read_req *
req_new(struct cmd *c, const char *const *names, size_t n)
{
	struct cf_sess_ext *x = cf_sess_ext(c->s);
	size_t len = 0;
	struct read_req *q;
	char *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	q = x ? calloc(1, sizeof(*q) + len + 1) : NULL;
	if (!q)
		return NULL;
	q->id = c->id;
	q->n = n;
	p = q->names;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		memcpy(p, names[i], l + 1);
		p += l + 1;
	}
	free(x->auth_arg);
	x->auth_arg = (char *)q;
	return q;
}

static void
done(struct cf_sess *s)
{
	free(s->x->auth_arg);
	s->x->auth_arg = NULL;
	cf_sess_done(s);
}

static void
set_done(void *ud, int err, uint64_t seq, int moved)
{
	struct cf_sess *s = ud;
	struct read_req *q = req_of(s);

	if (!q)
		return;
	if (err < 0) {
		cf_native_err_reply(s, q->id, "unavailable", "read markers cannot be reached now");
	} else {
		cf_native_reply_to(
		        s, q->id, "read",
		        json_pack("{s:s,s:I}", "room", q->names, "seq", (json_int_t)seq));
		/* The room's other members see it too in small rooms (cf_room_typing_deliver()):
		 * a marker this read moved, once, and only with a token of the session's typing
		 * bucket, which bounds what one client makes every member hear (the marker is
		 * kept and synced to the user's sessions all the same). */
		if (moved && s->env->cfg->read_show_max > 0 &&
		    cf_sbucket_take(&s->typing_bucket, s->env->cfg->typing_rate,
		                    s->env->cfg->typing_burst, cf_now_ms())) {
			struct cf_typing t = {.room = q->names, .uid = s->user_id, .read = seq};

			(void)cf_bus_typing(s->env->bus, &t);
		}
	}
	done(s);
}

static void
get_done(void *ud, int err, const uint64_t *seqs, size_t n)
{
	struct cf_sess *s = ud;
	struct read_req *q = req_of(s);
	const char *name;
	json_t *a;

	if (!q)
		return;
	if (err < 0 || n != q->n) {
		cf_native_err_reply(s, q->id, "unavailable", "read markers cannot be reached now");
		done(s);
		return;
	}
	a = json_array();
	name = q->names;
	for (size_t i = 0; i < n; i++, name += strlen(name) + 1) {
		/* The room as this node holds it now (it may have been left meanwhile). */
		struct cf_room *room = cf_room_find(s->env->reg, name);
		uint64_t last = room ? room->seq : 0;

		json_array_append_new(
		        a, json_pack("{s:s,s:I,s:I,s:I}", "room", name, "seq", (json_int_t)last,
		                     "read", (json_int_t)seqs[i], "unread",
		                     (json_int_t)(last > seqs[i] ? last - seqs[i] : 0)));
	}
	cf_native_reply_to(s, q->id, "unread", json_pack("{s:o}", "rooms", a));
	done(s);
}

/* Read markers are an account's: a guest's name is anybody's. 1, or 0 after the error. */
static int
need_account(struct cmd *c)
{
	if (cf_ident_space_of(c->s->user_id, NULL) == CF_ID_ACCOUNT)
		return 1;
	fail(c, "auth_required", "read markers are kept for accounts: say hello with a token");
	return 0;
}

int
cf_native_cmd_read(struct cmd *c)
{
	struct cf_sess *s = c->s;
	struct cf_room *room;
	json_int_t seq;
	int r;

	if (cf_native_ensure_user(s) < 0)
		return -1;
	if (!need_account(c) || cf_native_get_joined(c, &room) < 0)
		return 0;
	r = cf_native_get_int(c, "seq", 0, ID_MAX, &seq);
	if (r < 0)
		return 0;
	if (r == 0)
		return fail(c, "bad_request", "missing field 'seq'");
	if ((uint64_t)seq > room->seq)
		return fail(c, "bad_request", "seq %lld is beyond the room's last message (%llu)",
		            (long long)seq, (unsigned long long)room->seq);
	if (!req_new(c, (const char *const[]){room->name}, 1))
		return -1;
	r = cf_bus_read_set(s->env->bus, s->user_id, room->name, (uint64_t)seq, set_done, s);
	if (r < 0) {
		free(s->x->auth_arg);
		s->x->auth_arg = NULL;
		return fail(c, "unavailable", "read markers cannot be reached now");
	}
	cf_sess_wait(s);
	return 0;
}

int
cf_native_cmd_unread(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *names[CF_BUS_READS_MAX];
	size_t n = 0;
	int r;

	if (cf_native_ensure_user(s) < 0)
		return -1;
	if (!need_account(c))
		return 0;
	lws_start_foreach_dll (struct lws_dll2 *, d, s->rooms.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_sess);

		if (n < CF_BUS_READS_MAX && !mb->pending)
			names[n++] = mb->room->name;
	}
	lws_end_foreach_dll(d);
	if (!req_new(c, names, n))
		return -1;
	r = cf_bus_read_get(s->env->bus, s->user_id, names, n, get_done, s);
	if (r < 0) {
		free(s->x->auth_arg);
		s->x->auth_arg = NULL;
		return fail(c, "unavailable", "read markers cannot be reached now");
	}
	cf_sess_wait(s);
	return 0;
}

/* ---- rooms: the directory, and the session's rooms with their unread counts ---------------- */

/* What a waiting rooms command keeps (x->auth_arg): its id, the directory page, then the
 * session's rooms as asked (for the unread counts). */
struct dir_req {
	json_int_t id;
	json_t *dir; /* owned */
	json_t *next;
	size_t n;
	char names[];
};

static void
dir_reply(struct cf_sess *s, struct dir_req *q, const uint64_t *seqs)
{
	json_t *mine = json_array();
	const char *name = q->names;

	for (size_t i = 0; i < q->n; i++, name += strlen(name) + 1) {
		struct cf_room *room = cf_room_find(s->env->reg, name);
		uint64_t last = room ? room->seq : 0;
		json_t *o = json_pack("{s:s,s:I,s:I}", "room", name, "seq", (json_int_t)last,
		                      "members", (json_int_t)(room ? room->nusers : 0));

		if (o && seqs) {
			json_object_set_new(o, "read", json_integer((json_int_t)seqs[i]));
			json_object_set_new(
			        o, "unread",
			        json_integer((json_int_t)(last > seqs[i] ? last - seqs[i] : 0)));
		}
		json_array_append_new(mine, o);
	}
	cf_native_reply_to(
	        s, q->id, "rooms",
	        json_pack("{s:O,s:O,s:o}", "directory", q->dir, "next", q->next, "mine", mine));
}

static void
dir_done_reads(void *ud, int err, const uint64_t *seqs, size_t n)
{
	struct cf_sess *s = ud;
	struct dir_req *q = s->x ? (struct dir_req *)s->x->auth_arg : NULL;

	if (!q)
		return;
	if (err < 0 || n != q->n)
		cf_native_err_reply(s, q->id, "unavailable", "read markers cannot be reached now");
	else
		dir_reply(s, q, seqs);
	json_decref(q->dir);
	json_decref(q->next);
	done(s);
}

static void
dir_page(void *ud, int err, const struct cf_dir_entry *e, size_t n, int more)
{
	struct cf_sess *s = ud;
	struct dir_req *q = s->x ? (struct dir_req *)s->x->auth_arg : NULL;
	const char *names[CF_BUS_READS_MAX], *p;
	int r;

	if (!q)
		return;
	if (err < 0 && err != -EOPNOTSUPP) {
		cf_native_err_reply(s, q->id, "unavailable",
		                    "the room directory cannot be read now");
		done(s);
		return;
	}
	q->dir = err < 0 ? json_null() : json_array();
	for (size_t i = 0; err == 0 && i < n; i++)
		json_array_append_new(q->dir,
		                      json_pack("{s:s,s:s,s:s,s:I}", "room", e[i].room, "topic",
		                                e[i].topic, "kind", cf_rules_kind_name(e[i].kind),
		                                "members", (json_int_t)e[i].members));
	q->next = more && n ? json_string(e[n - 1].room) : json_null();
	/* The unread counts are an account's. */
	if (cf_ident_space_of(s->user_id, NULL) != CF_ID_ACCOUNT || !q->n) {
		dir_reply(s, q, NULL);
		json_decref(q->dir);
		json_decref(q->next);
		done(s);
		return;
	}
	p = q->names;
	for (size_t i = 0; i < q->n; i++, p += strlen(p) + 1)
		names[i] = p;
	r = cf_bus_read_get(s->env->bus, s->user_id, names, q->n, dir_done_reads, s);
	if (r < 0) {
		cf_native_err_reply(s, q->id, "unavailable", "read markers cannot be reached now");
		json_decref(q->dir);
		json_decref(q->next);
		done(s);
	}
}

int
cf_native_cmd_rooms(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *prefix = "", *after = "";
	size_t plen = 0, alen = 0, len = 0, n = 0;
	json_int_t limit = 50;
	struct cf_sess_ext *x;
	struct dir_req *q;
	char *p;
	int r;

	if (cf_native_ensure_user(s) < 0)
		return -1;
	if (cf_native_get_str(c, "prefix", &prefix, &plen) < 0 ||
	    cf_native_get_str(c, "after", &after, &alen) < 0 ||
	    cf_native_get_int(c, "limit", 1, CF_BUS_DIR_MAX, &limit) < 0)
		return 0;
	if (plen > CF_ROOM_NAME_MAX || alen > CF_ROOM_NAME_MAX || strlen(prefix) != plen ||
	    strlen(after) != alen)
		return fail(c, "bad_request", "prefix and after are at most %d bytes",
		            CF_ROOM_NAME_MAX);
	lws_start_foreach_dll (struct lws_dll2 *, d, s->rooms.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_sess);

		if (n < CF_BUS_READS_MAX && !mb->pending) {
			len += strlen(mb->room->name) + 1;
			n++;
		}
	}
	lws_end_foreach_dll(d);
	x = cf_sess_ext(s);
	q = x ? calloc(1, sizeof(*q) + len + 1) : NULL;
	if (!q)
		return -1;
	q->id = c->id;
	p = q->names;
	lws_start_foreach_dll (struct lws_dll2 *, d, s->rooms.head) {
		struct cf_member *mb = lws_container_of(d, struct cf_member, in_sess);

		if (q->n < n && !mb->pending) {
			size_t l = strlen(mb->room->name);

			memcpy(p, mb->room->name, l + 1);
			p += l + 1;
			q->n++;
		}
	}
	lws_end_foreach_dll(d);
	free(x->auth_arg);
	x->auth_arg = (char *)q;
	r = cf_bus_directory(s->env->bus, prefix, after, (uint32_t)limit, dir_page, s);
	if (r == -EOPNOTSUPP) {
		/* A bus without a directory (sharded Redis): "directory" is null, the session's
		 * rooms are answered all the same. */
		const char *names[CF_BUS_READS_MAX];

		q->dir = json_null();
		q->next = json_null();
		p = q->names;
		for (size_t i = 0; i < q->n; i++, p += strlen(p) + 1)
			names[i] = p;
		if (cf_ident_space_of(s->user_id, NULL) == CF_ID_ACCOUNT && q->n)
			r = cf_bus_read_get(s->env->bus, s->user_id, names, q->n, dir_done_reads,
			                    s);
		else
			dir_reply(s, q, NULL);
		if (r == 0) {
			cf_sess_wait(s);
			return 0;
		}
		json_decref(q->dir);
		json_decref(q->next);
		free(x->auth_arg);
		x->auth_arg = NULL;
		if (r == -EOPNOTSUPP)
			return 0; /* answered */
		return fail(c, "unavailable", "read markers cannot be reached now");
	}
	if (r < 0) {
		free(x->auth_arg);
		x->auth_arg = NULL;
		return fail(c, "unavailable", "the room directory cannot be read now");
	}
	cf_sess_wait(s);
	return 0;
}
