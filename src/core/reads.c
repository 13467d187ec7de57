/* SPDX-License-Identifier: MIT */
/* reads.c - a standalone node's read markers (see reads.h): a hash of accounts, each a hash of
 * rooms with the marker and when it last moved (the oldest goes when the account is full), and
 * state.dir/read.json, {"version":1,"users":{uid:{room:[seq,moved]}}}, read as hostile input
 * and written by a one-second timer when something changed. */
#include "core/reads.h"
#include "base/log.h"
#include "base/state.h"
#include "base/text.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <uthash.h>

#define FILE_NAME "read.json"

struct mark {
	UT_hash_handle hh;
	uint64_t seq;
	uint64_t moved; /* a counter: higher moved later */
	char room[];
};

struct reader {
	UT_hash_handle hh;
	struct mark *marks;
	uint32_t n;
	char uid[];
};

struct cf_reads {
	struct lws_context *ctx;
	const struct cf_config *cfg;
	struct reader *users;
	uint64_t clock;
	int dirty, scheduled;
	lws_sorted_usec_list_t sul;
};

static struct reader *
reader_get(struct cf_reads *rd, const char *uid, int create)
{
	struct reader *u = NULL;
	size_t n;

	HASH_FIND_STR(rd->users, uid, u);
	if (u || !create)
		return u;
	n = strlen(uid);
	u = calloc(1, sizeof(*u) + n + 1);
	if (!u)
		return NULL;
	memcpy(u->uid, uid, n + 1);
	HASH_ADD_STR(rd->users, uid, u);
	return u;
}

static void
reader_free(struct reader *u)
{
	struct mark *m, *tmp;

	HASH_ITER(hh, u->marks, m, tmp)
	{
		HASH_DEL(u->marks, m);
		free(m);
	}
	free(u);
}

/* The account is full: the marker that moved longest ago goes. */
static void
evict(struct reader *u)
{
	struct mark *m, *tmp, *old = NULL;

	HASH_ITER(hh, u->marks, m, tmp)
	{
		if (!old || m->moved < old->moved)
			old = m;
	}
	if (old) {
		HASH_DEL(u->marks, old);
		free(old);
		u->n--;
	}
}

static int
put(struct cf_reads *rd, struct reader *u, const char *room, uint64_t seq, uint64_t moved)
{
	struct mark *m = NULL;
	size_t n = strlen(room);

	HASH_FIND_STR(u->marks, room, m);
	if (m) {
		m->seq = seq;
		m->moved = moved;
		return 0;
	}
	if (u->n >= (uint32_t)rd->cfg->read_max_markers)
		evict(u);
	m = calloc(1, sizeof(*m) + n + 1);
	if (!m)
		return -ENOMEM;
	memcpy(m->room, room, n + 1);
	m->seq = seq;
	m->moved = moved;
	HASH_ADD_STR(u->marks, room, m);
	u->n++;
	return 0;
}

static char *
encode(const struct cf_reads *rd)
{
	json_t *users = json_object(), *o;
	const struct reader *u, *ut;
	char *txt = NULL;

	HASH_ITER(hh, rd->users, u, ut)
	{
		json_t *rooms = json_object();
		const struct mark *m, *mt;

		HASH_ITER(hh, u->marks, m, mt)
		{
			json_object_set_new(
			        rooms, m->room,
			        json_pack("[I,I]", (json_int_t)m->seq, (json_int_t)m->moved));
		}
		json_object_set_new(users, u->uid, rooms);
	}
	o = json_pack("{s:i,s:o}", "version", 1, "users", users);
	if (o)
		txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return txt;
}

void
cf_reads_flush(struct cf_reads *rd)
{
	char *txt;
	int r;

	if (!rd || !rd->dirty || !cf_state_ready())
		return;
	txt = encode(rd);
	r = txt ? cf_state_write(FILE_NAME, txt, strlen(txt)) : -ENOMEM;
	free(txt);
	if (r < 0) {
		log_error("state: %s not written (read markers): %s", FILE_NAME, strerror(-r));
		return; /* stays dirty: the next change tries again */
	}
	rd->dirty = 0;
}

static void
write_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_reads *rd = lws_container_of(sul, struct cf_reads, sul);

	rd->scheduled = 0;
	cf_reads_flush(rd);
}

static int
load(struct cf_reads *rd, char *err, size_t errlen)
{
	json_t *o, *users, *rooms, *v;
	const char *uid, *room;
	char *buf;
	size_t len;
	int r = cf_state_read(FILE_NAME, &buf, &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", FILE_NAME, strerror(-r));
		return r;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	users = json_object_get(o, "users");
	if (!json_is_object(users))
		goto bad;
	json_object_foreach (users, uid, rooms) {
		struct reader *u;

		if (!uid[0] || strlen(uid) > 300 || !json_is_object(rooms))
			goto bad;
		if (!(u = reader_get(rd, uid, 1)))
			goto oom;
		json_object_foreach (rooms, room, v) {
			json_int_t seq, moved;

			if (json_unpack(v, "[I,I]", &seq, &moved) < 0 || seq < 0 || moved < 0 ||
			    cf_text_name_ok(room, strlen(room), 1, 64, 0) < 0)
				goto bad;
			if (put(rd, u, room, (uint64_t)seq, (uint64_t)moved) < 0)
				goto oom;
			if ((uint64_t)moved > rd->clock)
				rd->clock = (uint64_t)moved;
		}
	}
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	snprintf(err, errlen, "%s: not a read markers file (remove it to start without markers)",
	         FILE_NAME);
	return -EINVAL;
oom:
	json_decref(o);
	snprintf(err, errlen, "%s: out of memory", FILE_NAME);
	return -ENOMEM;
}

struct cf_reads *
cf_reads_open(struct lws_context *ctx, const struct cf_config *cfg, char *err, size_t errlen)
{
	struct cf_reads *rd = calloc(1, sizeof(*rd));

	if (!rd) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rd->ctx = ctx;
	rd->cfg = cfg;
	if (cf_state_ready() && load(rd, err, errlen) < 0) {
		cf_reads_free(rd);
		return NULL;
	}
	return rd;
}

void
cf_reads_stop(struct cf_reads *rd)
{
	if (rd && rd->ctx && rd->scheduled)
		lws_sul_cancel(&rd->sul);
	if (rd)
		rd->scheduled = 0;
	cf_reads_flush(rd);
}

void
cf_reads_free(struct cf_reads *rd)
{
	struct reader *u, *tmp;

	if (!rd)
		return;
	HASH_ITER(hh, rd->users, u, tmp)
	{
		HASH_DEL(rd->users, u);
		reader_free(u);
	}
	free(rd);
}

int
cf_reads_set(struct cf_reads *rd, const char *uid, const char *room, uint64_t seq,
             uint64_t *ret_seq)
{
	struct reader *u = reader_get(rd, uid, 1);
	uint64_t cur = cf_reads_get(rd, uid, room);

	if (!u)
		return -ENOMEM;
	if (seq <= cur) {
		*ret_seq = cur;
		return 0;
	}
	if (put(rd, u, room, seq, ++rd->clock) < 0)
		return -ENOMEM;
	*ret_seq = seq;
	rd->dirty = 1;
	if (rd->ctx && !rd->scheduled) {
		rd->scheduled = 1;
		lws_sul_schedule(rd->ctx, 0, &rd->sul, write_cb, LWS_US_PER_SEC);
	}
	return 1;
}

uint64_t
cf_reads_get(const struct cf_reads *rd, const char *uid, const char *room)
{
	struct reader *u = NULL;
	struct mark *m = NULL;

	HASH_FIND_STR(rd->users, uid, u);
	if (u)
		HASH_FIND_STR(u->marks, room, m);
	return m ? m->seq : 0;
}
