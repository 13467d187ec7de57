/* SPDX-License-Identifier: MIT */
/* auth_file.c - the file store of a standalone node (store.h) and its file format. Accounts
 * live in memory, by name, by id and in creation order, and in state.dir/accounts.json, written
 * whole on every change; the token signing key in state.dir/auth.key. Nothing here waits for
 * anything, so every operation completes before it returns. */
#define _GNU_SOURCE /* explicit_bzero */
#include "auth/auth_file.h"
#include "base/log.h"
#include "base/state.h"
#include "base/text.h"
#include "bus/store.h"
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <jansson.h>
#include <uthash.h>

#define ACCOUNTS_FILE "accounts.json"
#define KEY_FILE      "auth.key"
#define KEY_LEN       CF_STORE_KEY_LEN

struct acct {
	UT_hash_handle hh_name, hh_id;
	struct cf_auth_rec rec;
};

struct file_store {
	struct cf_store st; /* first: cf_store* <-> file_store* */
	const struct cf_config *cfg;
	struct acct *by_name, *by_id;
	struct acct **order;
	size_t n, cap;
	unsigned char key[KEY_LEN];
	size_t keylen; /* 0: not loaded (auth.secret_file signs instead) */
};

/* ---- the file ----------------------------------------------------------------------------- */

char *
cf_auth_file_encode(const struct cf_auth_rec *recs, size_t n)
{
	json_t *arr = json_array(), *doc;
	char *out;

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr,
		                          json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", recs[i].pub.id,
		                                    "name", recs[i].pub.name, "hash", recs[i].hash,
		                                    "created", (json_int_t)recs[i].pub.created,
		                                    "gen", (json_int_t)recs[i].pub.gen)) < 0) {
			json_decref(arr);
			return NULL;
		}
	doc = json_pack("{s:i,s:o}", "version", 1, "accounts", arr);
	if (!doc)
		return NULL;
	out = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	return out;
}

static void
recs_free(struct cf_auth_rec *recs, size_t n)
{
	for (size_t i = 0; recs && i < n; i++) {
		free(recs[i].pub.name);
		free(recs[i].hash);
	}
	free(recs);
}

int
cf_auth_file_decode(const char *buf, size_t len, struct cf_auth_rec **ret, size_t *ret_n, char *err,
                    size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, 0, &jerr), *arr, *v;
	struct cf_auth_rec *recs = NULL;
	size_t i, n = 0;

	if (!doc) {
		snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
		return -EINVAL;
	}
	arr = json_object_get(doc, "accounts");
	if (json_integer_value(json_object_get(doc, "version")) != 1 || !json_is_array(arr)) {
		snprintf(err, errlen, "not an accounts file of version 1");
		json_decref(doc);
		return -EINVAL;
	}
	recs = calloc(json_array_size(arr) + 1, sizeof(*recs));
	if (!recs) {
		json_decref(doc);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_array_foreach (arr, i, v) {
		const char *id = NULL, *name = NULL, *hash = NULL;
		json_int_t created = -1, gen = -1;

		if (json_unpack(v, "{s:s,s:s,s:s,s:I,s:I}", "id", &id, "name", &name, "hash", &hash,
		                "created", &created, "gen", &gen) < 0 ||
		    !cf_text_uuid_canonical(id, strlen(id)) || !name[0] || hash[0] != '$' ||
		    created < 0 || gen < 0) {
			snprintf(err, errlen, "account #%zu is malformed", i + 1);
			recs_free(recs, n);
			json_decref(doc);
			return -EINVAL;
		}
		memcpy(recs[n].pub.id, id, CF_STORE_ID_LEN + 1);
		recs[n].pub.name = strdup(name);
		recs[n].hash = strdup(hash);
		recs[n].pub.created = created;
		recs[n].pub.gen = (uint64_t)gen;
		n++;
		if (!recs[n - 1].pub.name || !recs[n - 1].hash) {
			recs_free(recs, n);
			json_decref(doc);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	json_decref(doc);
	*ret = recs;
	*ret_n = n;
	return 0;
}

/* ---- the accounts in memory --------------------------------------------------------------- */

static struct acct *
find_name(const struct file_store *fs, const char *name)
{
	struct acct *e;

	HASH_FIND(hh_name, fs->by_name, name, strlen(name), e);
	return e;
}

static struct acct *
find_id(const struct file_store *fs, const char *id)
{
	struct acct *e;

	HASH_FIND(hh_id, fs->by_id, id, strlen(id), e);
	return e;
}

/* Takes rec's strings. -EEXIST (name or id), -ENOMEM. */
static int
mem_add(struct file_store *fs, struct cf_auth_rec *rec)
{
	struct acct *e;

	if (find_name(fs, rec->pub.name) || find_id(fs, rec->pub.id))
		return -EEXIST;
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 64;
		struct acct **o = realloc(fs->order, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		fs->order = o;
		fs->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rec = *rec;
	HASH_ADD_KEYPTR(hh_name, fs->by_name, e->rec.pub.name, strlen(e->rec.pub.name), e);
	HASH_ADD_KEYPTR(hh_id, fs->by_id, e->rec.pub.id, CF_STORE_ID_LEN, e);
	fs->order[fs->n++] = e;
	return 0;
}

static void
acct_free(struct acct *e)
{
	free(e->rec.pub.name);
	if (e->rec.hash)
		explicit_bzero(e->rec.hash, strlen(e->rec.hash));
	free(e->rec.hash);
	free(e);
}

/* Undoes the last mem_add() (a file that could not be written). */
static void
mem_pop(struct file_store *fs)
{
	struct acct *e = fs->order[--fs->n];

	HASH_DELETE(hh_name, fs->by_name, e);
	HASH_DELETE(hh_id, fs->by_id, e);
	acct_free(e);
}

/* Writes every account to the state dir. Blocks for the fsyncs: accounts are created and
 * generations bumped rarely (each creation costs a password hash and an attempt token), so a
 * few ms of fsync per write is accepted rather than batching, which would let a crash lose an
 * account whose token the client already holds. */
static int
mem_persist(struct file_store *fs)
{
	struct cf_auth_rec *recs = calloc(fs->n + 1, sizeof(*recs));
	char *buf;
	int r;

	if (!recs)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n; i++)
		recs[i] = fs->order[i]->rec;
	buf = cf_auth_file_encode(recs, fs->n);
	free(recs);
	if (!buf)
		return -ENOMEM;
	r = cf_state_write_private(ACCOUNTS_FILE, buf, strlen(buf));
	free(buf);
	return r;
}

static int
mem_load(struct file_store *fs, char *err, size_t errlen)
{
	struct cf_auth_rec *recs;
	char *buf, why[256];
	size_t len, n, i;
	int r = cf_state_read(ACCOUNTS_FILE, &buf, &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "%s/%s: %s", fs->cfg->state_dir, ACCOUNTS_FILE, strerror(-r));
		return r;
	}
	r = cf_auth_file_decode(buf, len, &recs, &n, why, sizeof(why));
	free(buf);
	if (r < 0) {
		snprintf(err, errlen,
		         "%s/%s: %s (fix or move it away; accounts are never dropped "
		         "silently)",
		         fs->cfg->state_dir, ACCOUNTS_FILE, why);
		return r;
	}
	for (i = 0; i < n; i++) {
		r = mem_add(fs, &recs[i]);
		if (r < 0)
			break;
		recs[i].pub.name = recs[i].hash = NULL; /* taken */
	}
	if (r < 0)
		snprintf(err, errlen, "%s/%s: account #%zu: %s", fs->cfg->state_dir, ACCOUNTS_FILE,
		         i + 1, r == -EEXIST ? "duplicate name or id" : strerror(-r));
	recs_free(recs, n);
	return r;
}

/* The signing key from state.dir/auth.key, made (random) and written there when missing. */
static int
key_load(struct file_store *fs, char *err, size_t errlen)
{
	char hex[2 * KEY_LEN + 2], *buf;
	size_t len;
	int r = cf_state_read(KEY_FILE, &buf, &len);

	if (r == 0) {
		if (len && buf[len - 1] == '\n')
			buf[len - 1] = '\0';
		r = cf_text_unhex(buf, fs->key, KEY_LEN);
		explicit_bzero(buf, len);
		free(buf);
		if (r < 0) {
			snprintf(err, errlen, "%s/%s: not a key of %d hex-encoded bytes",
			         fs->cfg->state_dir, KEY_FILE, KEY_LEN);
			return r;
		}
		fs->keylen = KEY_LEN;
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(err, errlen, "%s/%s: %s", fs->cfg->state_dir, KEY_FILE, strerror(-r));
		return r;
	}
	/* Blocks only before the kernel's pool is initialised (early boot). */
	if (getrandom(fs->key, KEY_LEN, 0) != KEY_LEN) {
		snprintf(err, errlen, "getrandom failed");
		return -EIO;
	}
	cf_text_hex(fs->key, KEY_LEN, hex);
	hex[2 * KEY_LEN] = '\n';
	r = cf_state_write_private(KEY_FILE, hex, 2 * KEY_LEN + 1);
	explicit_bzero(hex, sizeof(hex));
	if (r < 0) {
		snprintf(err, errlen, "%s/%s: cannot write it: %s", fs->cfg->state_dir, KEY_FILE,
		         strerror(-r));
		return r;
	}
	fs->keylen = KEY_LEN;
	log_info("auth: generated the token signing key %s/%s", fs->cfg->state_dir, KEY_FILE);
	return 0;
}

/* ---- the store's operations --------------------------------------------------------------- */

static int
file_has(const struct cf_store *st, const char *name)
{
	return find_name((const struct file_store *)st, name) != NULL;
}

static int
file_can_create(const struct cf_store *st, const char *name)
{
	const struct file_store *fs = (const struct file_store *)st;

	if (find_name(fs, name))
		return -EEXIST;
	return fs->n >= (size_t)fs->cfg->auth_max_accounts ? -ENOSPC : 0;
}

static int
file_get(struct cf_store *st, int by_id, const char *what, cf_store_acct_cb *cb, void *ud)
{
	struct file_store *fs = (struct file_store *)st;
	const struct acct *e = by_id ? find_id(fs, what) : find_name(fs, what);

	if (e)
		cb(ud, 0, &e->rec.pub, e->rec.hash);
	else
		cb(ud, -ENOENT, NULL, NULL);
	return 0;
}

static int
file_create(struct cf_store *st, const struct cf_account *acct, const char *hash,
            cf_store_done_cb *cb, void *ud)
{
	struct file_store *fs = (struct file_store *)st;
	struct cf_auth_rec rec = {.pub = *acct};
	int r;

	/* Checked again: auth checked before the password was hashed, and another account may
	 * have been created meanwhile. */
	r = file_can_create(st, acct->name);
	if (r < 0) {
		cb(ud, r);
		return 0;
	}
	rec.pub.name = strdup(acct->name);
	rec.hash = strdup(hash);
	r = rec.pub.name && rec.hash ? mem_add(fs, &rec) : -ENOMEM;
	if (r < 0) {
		free(rec.pub.name);
		free(rec.hash);
		cb(ud, r);
		return 0;
	}
	r = mem_persist(fs);
	if (r < 0)
		mem_pop(fs);
	cb(ud, r < 0 ? -EIO : 0);
	return 0;
}

static int
file_bump(struct cf_store *st, const char *name, cf_store_acct_cb *cb, void *ud)
{
	struct file_store *fs = (struct file_store *)st;
	struct acct *e = find_name(fs, name);

	if (!e) {
		cb(ud, -ENOENT, NULL, NULL);
		return 0;
	}
	e->rec.pub.gen++;
	if (mem_persist(fs) < 0) {
		e->rec.pub.gen--;
		cb(ud, -EIO, NULL, NULL);
		return 0;
	}
	cb(ud, 0, &e->rec.pub, NULL);
	return 0;
}

static int
file_list(struct cf_store *st, cf_store_list_cb *cb, void *ud)
{
	struct file_store *fs = (struct file_store *)st;
	struct cf_account *v = calloc(fs->n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n; i++)
		v[i] = fs->order[i]->rec.pub; /* names borrowed */
	cb(ud, 0, v, fs->n);
	free(v);
	return 0;
}

static int
file_key(struct cf_store *st, cf_store_key_cb *cb, void *ud)
{
	struct file_store *fs = (struct file_store *)st;

	if (!fs->keylen)
		return -EIO; /* opened without it: auth.secret_file signs */
	cb(ud, 0, fs->key, fs->keylen);
	return 0;
}

static void
file_free(struct cf_store *st)
{
	struct file_store *fs = (struct file_store *)st;
	struct acct *e, *tmp;

	HASH_ITER(hh_name, fs->by_name, e, tmp)
	{
		HASH_DELETE(hh_name, fs->by_name, e);
		HASH_DELETE(hh_id, fs->by_id, e);
		acct_free(e);
	}
	free(fs->order);
	explicit_bzero(fs->key, sizeof(fs->key));
	free(fs);
}

static const struct cf_store_ops file_ops = {
        .get = file_get,
        .create = file_create,
        .bump = file_bump,
        .list = file_list,
        .key = file_key,
        .has = file_has,
        .can_create = file_can_create,
        .free = file_free,
};

struct cf_store *
cf_auth_file_open(const struct cf_config *cfg, unsigned char *key, size_t *keylen, char *err,
                  size_t errlen)
{
	struct file_store *fs;

	if (!cf_state_ready()) {
		snprintf(err, errlen, "auth: the state directory is not open");
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fs->st.ops = &file_ops;
	fs->cfg = cfg;
	if ((key && key_load(fs, err, errlen) < 0) || mem_load(fs, err, errlen) < 0) {
		file_free(&fs->st);
		return NULL;
	}
	if (key) {
		memcpy(key, fs->key, fs->keylen);
		*keylen = fs->keylen;
	}
	log_info("auth: %zu accounts loaded from %s/%s", fs->n, cfg->state_dir, ACCOUNTS_FILE);
	return &fs->st;
}
