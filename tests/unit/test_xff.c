/* SPDX-License-Identifier: MIT */
/* test_xff.c - the client's address from X-Forwarded-For, right to left, any length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xff.h"

/* The trusted proxies of these tests: a NULL-terminated list of canonical addresses. */
static int
trusted(void *ud, const char *ip)
{
	for (const char **t = ud; *t; t++)
		if (!strcmp(*t, ip))
			return 1;
	return 0;
}

static const char *proxies[] = {"10.0.0.1", "10.0.0.2", "2001:db8::1", NULL};

/* cf_xff_client() on the string s (without its NUL: the function may not read past len). */
static int
client(const char *s, char *out)
{
	size_t n = strlen(s);
	char *copy = malloc(n ? n : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, s, n);
	r = cf_xff_client(copy, n, trusted, proxies, out, CF_XFF_ADDR_MAX);
	free(copy);
	return r;
}

static void
test_rightmost_untrusted(void **state)
{
	char out[CF_XFF_ADDR_MAX];

	(void)state;
	assert_int_equal(client("203.0.113.7", out), 0);
	assert_string_equal(out, "203.0.113.7");
	/* The client wrote the left part: not read past the first untrusted address. */
	assert_int_equal(client("1.1.1.1, 203.0.113.7", out), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(client("garbage, 203.0.113.7", out), 0);
	assert_string_equal(out, "203.0.113.7");
	/* Trusted proxies on the right are skipped. */
	assert_int_equal(client("198.51.100.9, 203.0.113.7, 10.0.0.2", out), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(client("203.0.113.7,10.0.0.2,10.0.0.1", out), 0);
	assert_string_equal(out, "203.0.113.7");
	/* Every address trusted: the leftmost is the client. */
	assert_int_equal(client("10.0.0.1, 10.0.0.2", out), 0);
	assert_string_equal(out, "10.0.0.1");
}

static void
test_blanks_and_forms(void **state)
{
	char out[CF_XFF_ADDR_MAX];

	(void)state;
	assert_int_equal(client(" \t203.0.113.7 \t", out), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(client("1.2.3.4 ,\t203.0.113.7\t, 10.0.0.1 ", out), 0);
	assert_string_equal(out, "203.0.113.7");
	/* Canonical text: the per-address limit sees one address however it is written. */
	assert_int_equal(client("2001:DB8:0:0:0:0:0:7", out), 0);
	assert_string_equal(out, "2001:db8::7");
	assert_int_equal(client("::ffff:203.0.113.7", out), 0);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(client("2001:db8::7, 2001:0db8::1", out), 0);
	assert_string_equal(out, "2001:db8::7");
}

static void
test_unparsable(void **state)
{
	static const char *bad[] = {
	        "unknown",           "203.0.113.7:4711", "[2001:db8::7]",     "example.org",
	        "203.0.113.7,",      ", 203.0.113.7 ,",  "1.2.3.4,,10.0.0.1", "1.2.3",
	        "1.2.3.4.5",         "256.1.1.1",        "203.0.113.7 x",     "203.0.113.7;for",
	        "10.0.0.1, unknown", "2001:db8::7::1",   "0x7f.0.0.1",
	};
	char out[CF_XFF_ADDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = client(bad[i], out);

		if (r != -EINVAL)
			fail_msg("'%s' gave %d", bad[i], r);
	}
	/* An embedded NUL is not the end of the entry. */
	{
		static const char nul[] = "203.0.113.7\0x";

		assert_int_equal(
		        cf_xff_client(nul, sizeof(nul) - 1, trusted, proxies, out, sizeof(out)),
		        -EINVAL);
	}
	/* No entry at all. */
	assert_int_equal(client("", out), -ENOENT);
	assert_int_equal(client(" \t ", out), -ENOENT);
	/* A buffer too small for any address is refused, not overrun. */
	assert_int_equal(cf_xff_client("1.2.3.4", 7, trusted, proxies, out, 8), -EINVAL);
}

/* Far over the 512 bytes the old copy took: the client is found at any length. */
static void
test_long_header(void **state)
{
	size_t cap = 64 * 1024, n = 0;
	char *h = malloc(cap), out[CF_XFF_ADDR_MAX];

	(void)state;
	assert_non_null(h);
	/* What a client wrote (any bytes), then its address, then our proxies. */
	while (n < cap - 4096)
		n += (size_t)snprintf(h + n, cap - n, "198.51.100.%zu, ", n % 250);
	n += (size_t)snprintf(h + n, cap - n, "203.0.113.7");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(h + n, cap - n, ", 10.0.0.%d", 1 + i % 2);
	assert_int_equal(cf_xff_client(h, n, trusted, proxies, out, sizeof(out)), 0);
	assert_string_equal(out, "203.0.113.7");
	/* A long run of trusted addresses ending in garbage on the left is still refused. */
	n = (size_t)snprintf(h, cap, "nonsense");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(h + n, cap - n, ",10.0.0.1");
	assert_int_equal(cf_xff_client(h, n, trusted, proxies, out, sizeof(out)), -EINVAL);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rightmost_untrusted),
	        cmocka_unit_test(test_blanks_and_forms),
	        cmocka_unit_test(test_unparsable),
	        cmocka_unit_test(test_long_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
