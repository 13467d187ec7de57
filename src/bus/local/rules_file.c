/* SPDX-License-Identifier: MIT */
/* rules_file.c - a standalone node's room rules (see rules_file_int.h): in memory by room name, and
 * in state.dir/rooms.json, written whole on every change (changes are rare: a create, a role, a
 * ban), so a crash never loses one the client was told of. */
#include "bus/local/rules_file_int.h"
#include "base/log.h"
#include "base/state.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <uthash.h>

#define FILE_NAME "rooms.json"

struct ruled {
	UT_hash_handle hh;
	struct cf_rules r;
	char name[]; /* the hash key */
};

struct cf_rules_file {
	const struct cf_config *cfg;
	struct ruled *rooms;
	uint32_t n;
};

static void
ruled_free(struct ruled *e)
{
	cf_rules_fini(&e->r);
	free(e);
}

static struct ruled *
find(const struct cf_rules_file *f, const char *room)
{
	struct ruled *e = NULL;

	HASH_FIND_STR(f->rooms, room, e);
	return e;
}

/* Every room's rules as the file holds them; with `skip` left out and (name, next) in its place
 * or added (next NULL: the room's rules are gone). */
static char *
encode(const struct cf_rules_file *f, const char *name, const struct cf_rules *next)
{
	json_t *rooms = json_object(), *o;
	const struct ruled *e, *tmp;
	char *txt = NULL;

	if (!rooms)
		return NULL;
	HASH_ITER(hh, f->rooms, e, tmp)
	{
		if (strcmp(e->name, name) &&
		    json_object_set_new(rooms, e->name, cf_rules_json(&e->r)) < 0)
			goto out;
	}
	if (next && json_object_set_new(rooms, name, cf_rules_json(next)) < 0)
		goto out;
	o = json_pack("{s:i,s:O}", "version", 1, "rooms", rooms);
	if (o)
		txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
out:
	json_decref(rooms);
	return txt;
}

static int
save(const struct cf_rules_file *f, const char *name, const struct cf_rules *next)
{
	char *txt;
	int r;

	if (!cf_state_ready())
		return 0;
	txt = encode(f, name, next);
	if (!txt)
		return -ENOMEM;
	r = cf_state_write(FILE_NAME, txt, strlen(txt));
	free(txt);
	if (r < 0)
		log_error("state: %s not written: %s", FILE_NAME, strerror(-r));
	return r < 0 ? -EIO : 0;
}

static int
put(struct cf_rules_file *f, const char *name, struct cf_rules *r)
{
	struct ruled *e = find(f, name);
	size_t n = strlen(name);

	if (e) {
		cf_rules_fini(&e->r);
		e->r = *r;
		return 0;
	}
	e = calloc(1, sizeof(*e) + n + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->name, name, n + 1);
	e->r = *r;
	HASH_ADD_STR(f->rooms, name, e);
	f->n++;
	return 0;
}

/* The file as written by encode(), read as hostile input: a file that does not parse stops the
 * start, naming it (as accounts.json does). */
static int
load(struct cf_rules_file *f, char *err, size_t errlen)
{
	json_t *o, *rooms, *v;
	json_error_t je;
	const char *name;
	char *buf;
	size_t len;
	int r = cf_state_read(FILE_NAME, &buf, &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", FILE_NAME, strerror(-r));
		return r;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	rooms = json_object_get(o, "rooms");
	if (!json_is_object(rooms)) {
		snprintf(err, errlen, "%s: not a rooms file (%s)", FILE_NAME,
		         o ? "no rooms object" : je.text);
		json_decref(o);
		return -EINVAL;
	}
	json_object_foreach (rooms, name, v) {
		struct cf_rules rl;

		cf_rules_init(&rl);
		r = cf_rules_from_json(&rl, v, (uint32_t)f->cfg->rooms_max_rule_users,
		                       (size_t)f->cfg->max_name);
		if (r == 0 && (!name[0] || strlen(name) > 64))
			r = -EINVAL;
		if (r == 0)
			r = put(f, name, &rl);
		if (r < 0) {
			cf_rules_fini(&rl);
			snprintf(err, errlen, "%s: room '%.64s': %s", FILE_NAME, name,
			         r == -EINVAL ? "its rules do not parse (or exceed "
			                        "rooms.max_rule_users)"
			                      : strerror(-r));
			json_decref(o);
			return r;
		}
	}
	json_decref(o);
	return 0;
}

struct cf_rules_file *
cf_rules_file_open(const struct cf_config *cfg, char *err, size_t errlen)
{
	struct cf_rules_file *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->cfg = cfg;
	if (cf_state_ready() && load(f, err, errlen) < 0) {
		cf_rules_file_free(f);
		return NULL;
	}
	return f;
}

void
cf_rules_file_free(struct cf_rules_file *f)
{
	struct ruled *e, *tmp;

	if (!f)
		return;
	HASH_ITER(hh, f->rooms, e, tmp)
	{
		HASH_DEL(f->rooms, e);
		ruled_free(e);
	}
	free(f);
}

const struct cf_rules *
cf_rules_file_get(const struct cf_rules_file *f, const char *room)
{
	const struct ruled *e = find(f, room);

	return e ? &e->r : NULL;
}

/* How many rooms with rules uid created. */
static uint32_t
created_by(const struct cf_rules_file *f, const char *uid)
{
	const struct ruled *e, *tmp;
	uint32_t n = 0;

	HASH_ITER(hh, f->rooms, e, tmp)
	{
		n += e->r.creator && !strcmp(e->r.creator, uid);
	}
	return n;
}

int
cf_rules_file_change(struct cf_rules_file *f, const char *room, const struct cf_rules_change *c,
                     int64_t now)
{
	const struct cf_config *cfg = f->cfg;
	const struct cf_rules *cur = cf_rules_file_get(f, room);
	struct cf_rules next;
	int r = cf_rules_check(cur, c, now, (uint32_t)cfg->rooms_max_rule_users);

	if (r < 0)
		return r; /* -EALREADY included: the caller says done, nothing is written */
	if (c->op == CF_RULES_CREATE) {
		if (f->n >= (uint32_t)cfg->rooms_max_ruled)
			return -ENOSPC;
		if (c->actor && created_by(f, c->actor) >= (uint32_t)cfg->rooms_max_created)
			return -EDQUOT;
	}
	if (c->op == CF_RULES_KICK)
		return 0; /* nothing to keep */
	if (c->op == CF_RULES_CLOSE) {
		/* The rules go: the name, its place in the directory, its creator's count. */
		struct ruled *e = find(f, room);

		if (!e)
			return 0;
		r = save(f, room, NULL);
		if (r < 0)
			return r;
		HASH_DEL(f->rooms, e);
		ruled_free(e);
		f->n--;
		return 0;
	}
	cf_rules_init(&next);
	r = cur ? cf_rules_copy(&next, cur) : 0;
	if (r == 0)
		r = cf_rules_apply(&next, c, now);
	if (r == 0)
		r = save(f, room, &next);
	if (r == 0)
		r = put(f, room, &next);
	if (r < 0)
		cf_rules_fini(&next);
	return r;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp((*(const struct ruled *const *)a)->name,
	              (*(const struct ruled *const *)b)->name);
}

int
cf_rules_file_list(const struct cf_rules_file *f, const char *prefix, const char *after,
                   uint32_t limit, const char **names, const struct cf_rules **rules, int *more)
{
	const struct ruled **v = calloc(f->n ? f->n : 1, sizeof(*v));
	struct ruled *e, *tmp;
	size_t plen = strlen(prefix), n = 0, out = 0;

	if (!v)
		return -ENOMEM;
	/* Every room with rules, at most rooms.max_ruled: sorted per page, which is fine for a
	 * standalone node's thousands. */
	HASH_ITER(hh, f->rooms, e, tmp)
	{
		if (e->r.kind != CF_KIND_PRIVATE && !strncmp(e->name, prefix, plen) &&
		    strcmp(e->name, after) > 0)
			v[n++] = e;
	}
	qsort(v, n, sizeof(*v), by_name);
	for (; out < n && out < limit; out++) {
		names[out] = v[out]->name;
		rules[out] = &v[out]->r;
	}
	*more = n > limit;
	free(v);
	return (int)out;
}
