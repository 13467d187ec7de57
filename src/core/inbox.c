/* SPDX-License-Identifier: MIT */
/* inbox.c - the standalone offline inboxes (see inbox.h). Each user's inbox is an array of
 * message references, oldest first; a changed inbox goes on the dirty list and the flush timer
 * writes it (or removes its file when it is empty). */
#include "core/inbox.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/state.h"
#include "base/text.h"
#include "config/config.h"
#include "core/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/sha.h>
#include <uthash.h>

#define FILE_PREFIX    "inbox-"
#define EXPIRE_EVERY_S 60

struct box {
	UT_hash_handle hh;
	struct cf_msg **v; /* oldest first; one reference each */
	uint32_t n, cap;
	size_t bytes;
	struct lws_dll2 in_dirty; /* on ib->dirty while its file is behind */
	/* Its file holds messages: removing one must rewrite it. Held messages (cf_msg.held) that
	 * never were in the file come and go without a write. */
	unsigned disk : 1;
	char file[sizeof(FILE_PREFIX) + 2 * SHA256_DIGEST_LENGTH + 5];
	char id[];
};

struct cf_inbox {
	const struct cf_config *cfg;
	struct lws_context *ctx;
	struct box *boxes; /* uthash by user id */
	uint32_t nboxes;   /* with at least one message */
	struct lws_dll2_owner dirty;
	lws_sorted_usec_list_t sul_flush, sul_expire;
	int flush_scheduled;
};

static size_t
msg_bytes(const struct cf_msg *m)
{
	return strlen(m->text) + strlen(m->from_id) + strlen(m->from_name);
}

static void
file_of(const char *uid, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *p = out + sizeof(FILE_PREFIX) - 1;

	SHA256((const unsigned char *)uid, strlen(uid), md);
	memcpy(out, FILE_PREFIX, sizeof(FILE_PREFIX) - 1);
	cf_text_hex(md, sizeof(md), p);
	memcpy(p + 2 * sizeof(md), ".json", 6);
}

static struct box *
box_get(struct cf_inbox *ib, const char *uid, int create)
{
	struct box *b;
	size_t n;

	HASH_FIND_STR(ib->boxes, uid, b);
	if (b || !create)
		return b;
	n = strlen(uid);
	b = calloc(1, sizeof(*b) + n + 1);
	if (!b)
		return NULL;
	memcpy(b->id, uid, n + 1);
	file_of(uid, b->file);
	HASH_ADD(hh, ib->boxes, id[0], n, b);
	return b;
}

static void
box_free(struct cf_inbox *ib, struct box *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		cf_msg_unref(b->v[i]);
	cf_metrics.inbox_messages -= b->n;
	if (b->n)
		ib->nboxes--, cf_metrics.inbox_users--;
	lws_dll2_remove(&b->in_dirty);
	HASH_DEL(ib->boxes, b);
	free(b->v);
	free(b);
}

static void flush_cb(lws_sorted_usec_list_t *sul);

static void
mark_dirty(struct cf_inbox *ib, struct box *b)
{
	if (!b->in_dirty.owner)
		lws_dll2_add_tail(&b->in_dirty, &ib->dirty);
	if (!ib->ctx || ib->flush_scheduled)
		return;
	ib->flush_scheduled = 1;
	lws_sul_schedule(ib->ctx, 0, &ib->sul_flush, flush_cb,
	                 (lws_usec_t)ib->cfg->inbox_flush_delay * 1000);
}

/* Drops the first k messages of b. */
static void
drop_head(struct cf_inbox *ib, struct box *b, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++) {
		b->bytes -= msg_bytes(b->v[i]);
		cf_msg_unref(b->v[i]);
	}
	memmove(b->v, b->v + k, (b->n - k) * sizeof(*b->v));
	b->n -= k;
	cf_metrics.inbox_messages -= k;
	if (k && !b->n)
		ib->nboxes--, cf_metrics.inbox_users--;
}

static uint32_t
expire_box(struct cf_inbox *ib, struct box *b, int64_t now_ms)
{
	int64_t ttl_ms = (int64_t)ib->cfg->inbox_ttl * 1000;
	uint32_t k = 0;

	while (k < b->n && now_ms - b->v[k]->queued_ms >= ttl_ms)
		k++;
	if (k) {
		drop_head(ib, b, k);
		cf_metrics.inbox_dropped_expired += k;
		mark_dirty(ib, b);
	}
	return k;
}

static int
append(struct cf_inbox *ib, struct box *b, struct cf_msg *c)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? 2 * b->cap : 4;
		struct cf_msg **v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	if (!b->n)
		ib->nboxes++, cf_metrics.inbox_users++;
	b->v[b->n++] = c;
	b->bytes += msg_bytes(c);
	cf_metrics.inbox_messages++;
	return 0;
}

static struct cf_msg *
copy_of(const struct cf_msg *m, int64_t queued_ms)
{
	struct cf_msg *c = cf_msg_new(m->room, m->from_id, m->from_name, m->text, NULL);

	if (!c)
		return NULL;
	c->dm = 1;
	c->queued = 1;
	c->ts_ms = m->ts_ms;
	c->queued_ms = queued_ms;
	c->held = m->held;
	memcpy(c->mid, m->mid, sizeof(c->mid));
	return c;
}

int
cf_inbox_put(struct cf_inbox *ib, const struct cf_msg *m, int64_t now_ms)
{
	const struct cf_config *cfg = ib->cfg;
	struct box *b = box_get(ib, m->room, 0);
	struct cf_msg *c;
	uint32_t k, dropped;

	/* A held message that cannot be kept is delivered all the same: nothing is dropped. */
	if (msg_bytes(m) > (size_t)cfg->inbox_max_bytes) {
		cf_metrics.inbox_dropped_bytes += !m->held;
		return -EMSGSIZE;
	}
	if (b)
		expire_box(ib, b, now_ms);
	if ((!b || !b->n) && ib->nboxes >= (uint32_t)cfg->inbox_max_users) {
		cf_metrics.inbox_dropped_users += !m->held;
		return -ENOSPC;
	}
	if (!b && !(b = box_get(ib, m->room, 1)))
		return -ENOMEM;
	c = copy_of(m, now_ms);
	if (!c || append(ib, b, c) < 0) {
		cf_msg_unref(c);
		if (!b->n && !b->in_dirty.owner)
			box_free(ib, b);
		return -ENOMEM;
	}
	if (!m->held)
		cf_metrics.inbox_queued_total++;
	/* The bounds may have shrunk on reload: drop as many as needed. */
	k = b->n > (uint32_t)cfg->inbox_max_messages ? b->n - (uint32_t)cfg->inbox_max_messages : 0;
	drop_head(ib, b, k);
	cf_metrics.inbox_dropped_count += k;
	dropped = k;
	for (k = 0; b->bytes > (size_t)cfg->inbox_max_bytes; k++)
		drop_head(ib, b, 1);
	cf_metrics.inbox_dropped_bytes += k;
	/* A held message is written only if it is still there when the file is written anyway:
	 * most are gone within a loop turn, and a crash before the write finds it delivered. */
	if (m->held && !dropped && !k)
		return 0;
	mark_dirty(ib, b);
	if (!cfg->inbox_flush_delay)
		cf_inbox_flush(ib);
	return 0;
}

uint32_t
cf_inbox_count(const struct cf_inbox *ib, const char *uid)
{
	struct box *b;

	HASH_FIND_STR(ib->boxes, uid, b);
	return b ? b->n : 0;
}

int
cf_inbox_waiting(const struct cf_inbox *ib, const char *uid)
{
	struct box *b;

	HASH_FIND_STR(ib->boxes, uid, b);
	return b && b->n && !b->v[b->n - 1]->held;
}

size_t
cf_inbox_drain(struct cf_inbox *ib, const char *uid, int64_t now_ms, struct cf_msg ***ret)
{
	struct box *b = box_get(ib, uid, 0);
	struct cf_msg **v;

	*ret = NULL;
	if (!b)
		return 0;
	expire_box(ib, b, now_ms);
	if (!b->n || !(v = malloc(b->n * sizeof(*v))))
		return 0; /* OOM: they wait for the user's next session */
	for (uint32_t i = 0; i < b->n; i++) {
		b->v[i]->held = 1;
		v[i] = cf_msg_ref(b->v[i]);
	}
	*ret = v;
	return b->n;
}

int
cf_inbox_done(struct cf_inbox *ib, const char *uid, const char *mid)
{
	struct box *b = box_get(ib, uid, 0);
	uint32_t i = 0;

	while (b && i < b->n && !(b->v[i]->held && !strcmp(b->v[i]->mid, mid)))
		i++;
	if (!b || i == b->n)
		return -ENOENT;
	b->bytes -= msg_bytes(b->v[i]);
	cf_msg_unref(b->v[i]);
	memmove(b->v + i, b->v + i + 1, (b->n - i - 1) * sizeof(*b->v));
	b->n--;
	cf_metrics.inbox_messages--;
	if (!b->n)
		ib->nboxes--, cf_metrics.inbox_users--;
	if (b->disk) {
		mark_dirty(ib, b);
		if (!ib->cfg->inbox_flush_delay)
			cf_inbox_flush(ib);
	} else if (!b->n && !b->in_dirty.owner) {
		box_free(ib, b);
	}
	return 0;
}

uint32_t
cf_inbox_expire(struct cf_inbox *ib, int64_t now_ms)
{
	struct box *b, *tmp;
	uint32_t n = 0;

	HASH_ITER(hh, ib->boxes, b, tmp)
	{
		n += expire_box(ib, b, now_ms);
	}
	return n;
}

/* ---- files ------------------------------------------------------------------------------ */

static json_t *
box_json(const struct box *b)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < b->n; i++) {
		const struct cf_msg *m = b->v[i];

		if (json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "i", m->mid,
		                                       "u", m->from_id, "n", m->from_name, "x",
		                                       m->text, "t", (json_int_t)m->ts_ms, "q",
		                                       (json_int_t)m->queued_ms)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a ? json_pack("{s:i,s:s,s:o}", "version", 1, "user", b->id, "messages", a) : NULL;
}

static int
write_box(struct box *b)
{
	json_t *o;
	char *txt;
	int r;

	if (!b->n)
		return cf_state_remove(b->file);
	o = box_json(b);
	txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!txt)
		return -ENOMEM;
	r = cf_state_write(b->file, txt, strlen(txt));
	free(txt);
	return r;
}

int
cf_inbox_flush(struct cf_inbox *ib)
{
	int first = 0;

	if (ib->ctx && ib->flush_scheduled)
		lws_sul_cancel(&ib->sul_flush);
	ib->flush_scheduled = 0;
	if (!cf_state_ready()) {
		/* Nothing to write to (unit tests): forget empty inboxes all the same. */
		while (ib->dirty.head) {
			struct box *b = lws_container_of(ib->dirty.head, struct box, in_dirty);

			lws_dll2_remove(&b->in_dirty);
			if (!b->n)
				box_free(ib, b);
		}
		return 0;
	}
	lws_start_foreach_dll_safe (struct lws_dll2 *, d, d1, ib->dirty.head) {
		struct box *b = lws_container_of(d, struct box, in_dirty);
		int r = write_box(b);

		if (r < 0) {
			/* Logged by state.c; stays dirty for the next write. */
			if (!first)
				first = r;
		} else {
			lws_dll2_remove(&b->in_dirty);
			b->disk = b->n > 0;
			if (!b->n)
				box_free(ib, b);
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	return first;
}

static void
flush_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_inbox *ib = lws_container_of(sul, struct cf_inbox, sul_flush);

	ib->flush_scheduled = 0;
	(void)cf_inbox_flush(ib);
}

static void
expire_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_inbox *ib = lws_container_of(sul, struct cf_inbox, sul_expire);
	uint32_t n = cf_inbox_expire(ib, cf_wall_ms());

	if (n)
		log_info("inbox: dropped %u direct messages older than inbox.ttl", n);
	lws_sul_schedule(ib->ctx, 0, &ib->sul_expire, expire_cb,
	                 (lws_usec_t)EXPIRE_EVERY_S * LWS_US_PER_SEC);
}

struct load {
	struct cf_inbox *ib;
	int64_t now_ms;
	char *err;
	size_t errlen;
};

static int
load_file(const char *name, void *ud)
{
	struct load *ld = ud;
	struct cf_inbox *ib = ld->ib;
	const char *user, *why = NULL;
	char want[sizeof(((struct box *)0)->file)];
	json_error_t jerr;
	json_t *o = NULL, *a, *e;
	struct box *b;
	size_t len, i;
	char *buf;
	int r, version;

	r = cf_state_read(name, &buf, &len);
	if (r < 0) {
		snprintf(ld->err, ld->errlen, "inbox: cannot read %s/%s: %s", ib->cfg->state_dir,
		         name, strerror(-r));
		return r;
	}
	o = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!o) {
		snprintf(ld->err, ld->errlen, "inbox: %s/%s is corrupt: line %d: %s",
		         ib->cfg->state_dir, name, jerr.line, jerr.text);
		return -EINVAL;
	}
	if (json_unpack(o, "{s:i,s:s,s:o}", "version", &version, "user", &user, "messages", &a) <
	            0 ||
	    version != 1 || !json_is_array(a)) {
		why = "not an inbox (version 1: user, messages)";
		goto bad;
	}
	file_of(user, want);
	if (strcmp(want, name)) {
		why = "its name is not the one of its user";
		goto bad;
	}
	b = box_get(ib, user, 1);
	if (!b) {
		json_decref(o);
		return -ENOMEM;
	}
	json_array_foreach (a, i, e) {
		const char *mid, *u, *n, *x;
		json_int_t t, q;
		struct cf_msg *m;

		if (json_unpack(e, "{s:s,s:s,s:s,s:s,s:I,s:I}", "i", &mid, "u", &u, "n", &n, "x",
		                &x, "t", &t, "q", &q) < 0 ||
		    strlen(mid) >= sizeof(m->mid)) {
			why = "a message without i, u, n, x, t and q";
			goto bad;
		}
		m = cf_msg_new(user, u, n, x, NULL);
		if (!m || append(ib, b, m) < 0) {
			cf_msg_unref(m);
			json_decref(o);
			return -ENOMEM;
		}
		m->dm = 1;
		m->queued = 1;
		m->ts_ms = t;
		m->queued_ms = q;
		snprintf(m->mid, sizeof(m->mid), "%s", mid);
	}
	json_decref(o);
	b->disk = 1;
	expire_box(ib, b, ld->now_ms);
	if (!b->n && !b->in_dirty.owner)
		mark_dirty(ib, b); /* an empty file: remove it */
	return 0;
bad:
	snprintf(ld->err, ld->errlen, "inbox: %s/%s is corrupt: %s (move it away to start)",
	         ib->cfg->state_dir, name, why);
	json_decref(o);
	return -EINVAL;
}

int
cf_inbox_load(struct cf_inbox *ib, int64_t now_ms, char *err, size_t errlen)
{
	struct load ld = {ib, now_ms, err, errlen};
	int r;

	if (!cf_state_ready())
		return 0;
	r = cf_state_list(FILE_PREFIX, load_file, &ld);
	if (r < 0) {
		if (!strstr(err, "inbox:"))
			snprintf(err, errlen, "inbox: cannot list %s: %s", ib->cfg->state_dir,
			         strerror(-r));
		return r;
	}
	if (ib->nboxes)
		log_info("inbox: %u users have kept direct messages (%lld messages)", ib->nboxes,
		         (long long)cf_metrics.inbox_messages);
	if (ib->dirty.count)
		(void)cf_inbox_flush(ib);
	return 0;
}

struct cf_inbox *
cf_inbox_new(struct lws_context *ctx, const struct cf_config *cfg)
{
	struct cf_inbox *ib = calloc(1, sizeof(*ib));

	if (!ib)
		return NULL;
	ib->cfg = cfg;
	ib->ctx = ctx;
	if (ctx)
		lws_sul_schedule(ctx, 0, &ib->sul_expire, expire_cb,
		                 (lws_usec_t)EXPIRE_EVERY_S * LWS_US_PER_SEC);
	return ib;
}

void
cf_inbox_stop(struct cf_inbox *ib)
{
	if (!ib)
		return;
	if (ib->ctx) {
		lws_sul_cancel(&ib->sul_expire);
		lws_sul_cancel(&ib->sul_flush);
		ib->ctx = NULL;
	}
	ib->flush_scheduled = 0;
	if (ib->dirty.count && cf_inbox_flush(ib) < 0)
		log_error("inbox: some kept direct messages could not be written to %s",
		          ib->cfg->state_dir);
}

void
cf_inbox_free(struct cf_inbox *ib)
{
	struct box *b, *tmp;

	if (!ib)
		return;
	cf_inbox_stop(ib);
	HASH_ITER(hh, ib->boxes, b, tmp)
	{
		box_free(ib, b);
	}
	free(ib);
}
