/* SPDX-License-Identifier: MIT */
/* test_store.c - the file store (auth_file.c) through the store interface (store.h): what
 * auth.c relies on. Operations answer before they return; a name is taken once; the account
 * limit holds; gen bumps and new accounts survive a reopen; the signing key is made once and
 * read back; the answers a store gives at once (has, can_create). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_file.h"
#include "auth/token.h"
#include "base/state.h"
#include "bus/store.h"
#include "config/config.h"

static char base[PATH_MAX];
static struct cf_config cfg;

/* What the last callback said; calls counts them (each must run exactly once, at once). */
static struct {
	int calls, err;
	struct cf_account acct;
	char name[64], hash[128];
	size_t n;
	char names[8][64];
	unsigned char key[CF_STORE_KEY_LEN];
	size_t keylen;
} got;

static void
on_acct(void *ud, int err, const struct cf_account *acct, const char *hash)
{
	(void)ud;
	got.calls++;
	got.err = err;
	got.name[0] = got.hash[0] = '\0';
	if (acct) {
		got.acct = *acct;
		snprintf(got.name, sizeof(got.name), "%s", acct->name);
	}
	if (hash)
		snprintf(got.hash, sizeof(got.hash), "%s", hash);
}

static void
on_done(void *ud, int err)
{
	(void)ud;
	got.calls++;
	got.err = err;
}

static void
on_list(void *ud, int err, const struct cf_account *accts, size_t n)
{
	(void)ud;
	got.calls++;
	got.err = err;
	got.n = n;
	for (size_t i = 0; i < n && i < 8; i++)
		snprintf(got.names[i], sizeof(got.names[i]), "%s", accts[i].name);
}

static void
on_key(void *ud, int err, const unsigned char *key, size_t len)
{
	(void)ud;
	got.calls++;
	got.err = err;
	got.keylen = len;
	if (key)
		memcpy(got.key, key, len);
}

static int
setup(void **state)
{
	char err[256];

	(void)state;
	snprintf(base, sizeof(base), "/tmp/confab-store-XXXXXX");
	if (!mkdtemp(base) || cf_config_init(&cfg) < 0)
		return -1;
	cfg.auth_max_accounts = 2;
	return cf_state_open(base, err, sizeof(err));
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	cf_state_close();
	cf_config_fini(&cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static struct cf_store *
open_store(unsigned char *key, size_t *keylen)
{
	char err[256];
	struct cf_store *st = cf_auth_file_open(&cfg, key, keylen, err, sizeof(err));

	if (!st)
		fail_msg("cf_auth_file_open: %s", err);
	return st;
}

static void
create(struct cf_store *st, const char *id, const char *name, int want)
{
	struct cf_account a = {.name = (char *)name, .created = 1700000000};

	snprintf(a.id, sizeof(a.id), "%s", id);
	got.calls = 0;
	assert_int_equal(cf_store_create(st, &a, "$y$j9T$salt$hash", on_done, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.err, want);
}

static void
test_accounts(void **state)
{
	static const char id1[] = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
	static const char id2[] = "9b2f8a3e-0c4d-4e5f-8a6b-7c8d9e0f1a2b";
	struct cf_store *st = open_store(NULL, NULL);

	(void)state;
	assert_int_equal(cf_store_has(st, "alice"), 0);
	assert_int_equal(cf_store_can_create(st, "alice"), 0);
	create(st, id1, "alice", 0);
	assert_int_equal(cf_store_has(st, "alice"), 1);
	assert_int_equal(cf_store_can_create(st, "alice"), -EEXIST);
	create(st, id2, "alice", -EEXIST);

	got.calls = 0;
	assert_int_equal(cf_store_get(st, 0, "alice", on_acct, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.err, 0);
	assert_string_equal(got.acct.id, id1);
	assert_string_equal(got.hash, "$y$j9T$salt$hash");
	assert_int_equal(got.acct.gen, 0);
	got.calls = 0;
	assert_int_equal(cf_store_get(st, 1, id1, on_acct, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_string_equal(got.name, "alice");
	got.calls = 0;
	assert_int_equal(cf_store_get(st, 0, "nobody", on_acct, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.err, -ENOENT);

	got.calls = 0;
	assert_int_equal(cf_store_bump(st, "alice", on_acct, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.err, 0);
	assert_int_equal(got.acct.gen, 1);
	assert_string_equal(got.acct.id, id1);
	got.calls = 0;
	assert_int_equal(cf_store_bump(st, "nobody", on_acct, NULL), 0);
	assert_int_equal(got.err, -ENOENT);

	/* auth.max_accounts is 2. */
	create(st, id2, "bob", 0);
	assert_int_equal(cf_store_can_create(st, "carol"), -ENOSPC);
	create(st, "5d1e4c0a-7b7e-4c55-9f4e-2f1b8e1d3a6c", "carol", -ENOSPC);

	got.calls = 0;
	assert_int_equal(cf_store_list(st, on_list, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.names[0], "alice");
	assert_string_equal(got.names[1], "bob");
	cf_store_free(st);

	/* Written through: a reopened store has both, and alice's bump. */
	st = open_store(NULL, NULL);
	got.calls = 0;
	assert_int_equal(cf_store_get(st, 0, "alice", on_acct, NULL), 0);
	assert_int_equal(got.err, 0);
	assert_int_equal(got.acct.gen, 1);
	assert_int_equal(cf_store_has(st, "bob"), 1);
	cf_store_free(st);
}

static void
test_key(void **state)
{
	unsigned char k1[CF_TOKEN_KEY_MAX], k2[CF_TOKEN_KEY_MAX];
	size_t l1 = 0, l2 = 0;
	char *buf;
	size_t len;
	struct cf_store *st;

	(void)state;
	/* Without a key asked for, none is made (auth.secret_file signs) and none is given. */
	st = open_store(NULL, NULL);
	assert_int_equal(cf_state_read("auth.key", &buf, &len), -ENOENT);
	assert_int_equal(cf_store_key(st, on_key, NULL), -EIO);
	cf_store_free(st);

	st = open_store(k1, &l1);
	assert_int_equal(l1, CF_STORE_KEY_LEN);
	assert_int_equal(cf_state_read("auth.key", &buf, &len), 0);
	assert_int_equal(len, 2 * CF_STORE_KEY_LEN + 1);
	free(buf);
	got.calls = 0;
	assert_int_equal(cf_store_key(st, on_key, NULL), 0);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.keylen, l1);
	assert_memory_equal(got.key, k1, l1);
	cf_store_free(st);

	/* Read back, not made again. */
	st = open_store(k2, &l2);
	assert_int_equal(l2, l1);
	assert_memory_equal(k2, k1, l1);
	cf_store_free(st);
}

static void
test_bad_key_file(void **state)
{
	unsigned char k[CF_TOKEN_KEY_MAX];
	size_t l = 0;
	char err[256];

	(void)state;
	assert_int_equal(cf_state_write_private("auth.key", "ABCD\n", 5), 0);
	assert_null(cf_auth_file_open(&cfg, k, &l, err, sizeof(err)));
	assert_non_null(strstr(err, "auth.key: not a key of 32 hex-encoded bytes"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_key, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_key_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
