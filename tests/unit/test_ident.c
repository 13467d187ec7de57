/* SPDX-License-Identifier: MIT */
/* test_ident.c - identity spaces: ids, addresses a client writes, how ids are shown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/ident.h"

#define UUID "0b7cb7c2-500c-47cf-afc6-1610b58130a6"

static int
parse(const char *addr, enum cf_ident_space dflt, char *out)
{
	return cf_ident_parse(addr, strlen(addr), dflt, 32, out, CF_IDENT_MAX);
}

static void
test_make_and_space(void **state)
{
	char id[CF_IDENT_MAX];
	const char *local;

	(void)state;
	assert_int_equal(cf_ident_make(CF_ID_ACCOUNT, "alice", 32, id, sizeof(id)), 0);
	assert_string_equal(id, "alice");
	assert_int_equal(cf_ident_make(CF_ID_GUEST, "a:b", 32, id, sizeof(id)), 0);
	assert_string_equal(id, "guest:a:b");
	assert_int_equal(cf_ident_space_of(id, &local), CF_ID_GUEST);
	assert_string_equal(local, "a:b");
	assert_int_equal(cf_ident_make(CF_ID_TTU, "bob", 32, id, sizeof(id)), 0);
	assert_int_equal(cf_ident_space_of(id, NULL), CF_ID_TTU);
	/* Accounts and ttu names hold no ':'; seed ids have their exact forms. */
	assert_int_equal(cf_ident_make(CF_ID_ACCOUNT, "ttu:bob", 32, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_TTU, "a:b", 32, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_TEXTO, "not-a-uuid", 32, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_TEXTO, UUID, 0, id, sizeof(id)), 0);
	assert_string_equal(id, "texto:" UUID);
	assert_int_equal(
	        cf_ident_make(CF_ID_CHATTY, "2ABCdef0123456789abcdefghij", 0, id, sizeof(id)), 0);
	assert_int_equal(
	        cf_ident_make(CF_ID_CHATTY, "2ABCdef0123456789abcdefghi-", 0, id, sizeof(id)),
	        -EINVAL);
	/* Control characters, edge spaces, length: the user-name rules. */
	assert_int_equal(cf_ident_make(CF_ID_GUEST, "a\x1b", 32, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_GUEST, " a", 32, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_GUEST, "abcd", 3, id, sizeof(id)), -EINVAL);
	assert_int_equal(cf_ident_make(CF_ID_GUEST, "abcd", 32, id, 8), -E2BIG);
	/* An id without a known tag is an account's; "account:" is no core id's tag. */
	assert_int_equal(cf_ident_space_of("account:x", &local), CF_ID_ACCOUNT);
	assert_string_equal(local, "account:x");
	assert_int_equal(cf_ident_space_of("guestx", NULL), CF_ID_ACCOUNT);
}

static void
test_parse(void **state)
{
	char id[CF_IDENT_MAX];

	(void)state;
	/* A bare name is the writer's own space. */
	assert_int_equal(parse("alice", CF_ID_ACCOUNT, id), 0);
	assert_string_equal(id, "alice");
	assert_int_equal(parse("alice", CF_ID_TTU, id), 0);
	assert_string_equal(id, "ttu:alice");
	/* A tag names its space, account: an account. */
	assert_int_equal(parse("account:alice", CF_ID_TTU, id), 0);
	assert_string_equal(id, "alice");
	assert_int_equal(parse("guest:bob", CF_ID_TTU, id), 0);
	assert_string_equal(id, "guest:bob");
	assert_int_equal(parse("texto:" UUID, CF_ID_ACCOUNT, id), 0);
	assert_string_equal(id, "texto:" UUID);
	/* Unknown tags are no account name (':'), nor a ttu name. */
	assert_int_equal(parse("foo:bar", CF_ID_ACCOUNT, id), -EINVAL);
	assert_int_equal(parse("foo:bar", CF_ID_TTU, id), -EINVAL);
	assert_int_equal(parse("account:ttu:x", CF_ID_TTU, id), -EINVAL);
	assert_int_equal(parse("texto:" UUID "0", CF_ID_ACCOUNT, id), -EINVAL);
	assert_int_equal(parse("guest:", CF_ID_ACCOUNT, id), -EINVAL);
	assert_int_equal(cf_ident_parse("a\0b", 3, CF_ID_GUEST, 32, id, sizeof(id)), -EINVAL);
}

static void
test_show(void **state)
{
	char buf[CF_IDENT_MAX], id[CF_IDENT_MAX];
	const char *ids[] = {"alice", "guest:bob", "ttu:carl", "texto:" UUID};

	(void)state;
	assert_string_equal(cf_ident_show("alice", CF_ID_ACCOUNT, buf, sizeof(buf)), "alice");
	assert_string_equal(cf_ident_show("alice", CF_ID_TTU, buf, sizeof(buf)), "account:alice");
	assert_string_equal(cf_ident_show("ttu:carl", CF_ID_TTU, buf, sizeof(buf)), "carl");
	assert_string_equal(cf_ident_show("guest:bob", CF_ID_TTU, buf, sizeof(buf)), "guest:bob");
	assert_string_equal(cf_ident_show("texto:" UUID, CF_ID_TEXTO, buf, sizeof(buf)), UUID);
	/* What a client sees, written back, names the same identity. */
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (int own = CF_ID_ACCOUNT; own < CF_ID_SPACES; own++) {
			const char *shown = cf_ident_show(ids[i], own, buf, sizeof(buf));

			if (own == CF_ID_TEXTO || own == CF_ID_DISPOSABLE || own == CF_ID_CHATTY)
				continue; /* their clients write UUIDs or nothing */
			assert_int_equal(parse(shown, own, id), 0);
			assert_string_equal(id, ids[i]);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_make_and_space),
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_show),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
