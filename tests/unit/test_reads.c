/* SPDX-License-Identifier: MIT */
/* test_reads.c - a standalone node's read markers (reads.c): never lowered, the one moved
 * longest ago forgotten beyond the bound, written and read back, a damaged file refused. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/state.h"
#include "config/config.h"
#include "core/reads.h"

static char base[PATH_MAX];
static struct cf_config cfg;

static int
setup(void **state)
{
	char err[256];

	(void)state;
	snprintf(base, sizeof(base), "/tmp/confab-reads-XXXXXX");
	if (!mkdtemp(base) || cf_config_init(&cfg) < 0)
		return -1;
	cfg.read_max_markers = 2;
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

static void
test_monotonic_bounded_and_kept(void **state)
{
	char err[256];
	struct cf_reads *rd = cf_reads_open(NULL, &cfg, err, sizeof(err));
	uint64_t now;

	assert_non_null(rd);
	assert_int_equal(cf_reads_set(rd, "alice", "a", 5, &now), 1);
	assert_int_equal(now, 5);
	assert_int_equal(cf_reads_set(rd, "alice", "a", 3, &now), 0);
	assert_int_equal(now, 5);
	assert_int_equal(cf_reads_get(rd, "alice", "a"), 5);
	assert_int_equal(cf_reads_get(rd, "bob", "a"), 0);
	assert_int_equal(cf_reads_set(rd, "alice", "b", 1, &now), 1);
	/* a moves again: b is now the one moved longest ago, and goes for c. */
	assert_int_equal(cf_reads_set(rd, "alice", "a", 6, &now), 1);
	assert_int_equal(cf_reads_set(rd, "alice", "c", 2, &now), 1);
	assert_int_equal(cf_reads_get(rd, "alice", "b"), 0);
	assert_int_equal(cf_reads_get(rd, "alice", "a"), 6);
	cf_reads_flush(rd);
	cf_reads_free(rd);
	/* Read back. */
	rd = cf_reads_open(NULL, &cfg, err, sizeof(err));
	assert_non_null(rd);
	assert_int_equal(cf_reads_get(rd, "alice", "a"), 6);
	assert_int_equal(cf_reads_get(rd, "alice", "c"), 2);
	/* The order of moves survives too: a is older than c, so a goes next. */
	assert_int_equal(cf_reads_set(rd, "alice", "d", 1, &now), 1);
	assert_int_equal(cf_reads_get(rd, "alice", "a"), 0);
	assert_int_equal(cf_reads_get(rd, "alice", "c"), 2);
	cf_reads_free(rd);
}

static void
test_damaged_file_refused(void **state)
{
	static const char *bad[] = {"[]", "{\"users\":{\"a\":{\"r\":[1]}}}",
	                            "{\"users\":{\"a\":{\"r\":[-1,1]}}}",
	                            "{\"users\":{\"a\":{\"\\u0001\":[1,1]}}}", "not json"};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cf_state_write("read.json", bad[i], strlen(bad[i])), 0);
		err[0] = '\0';
		assert_null(cf_reads_open(NULL, &cfg, err, sizeof(err)));
		assert_non_null(strstr(err, "read.json"));
	}
	assert_int_equal(cf_state_remove("read.json"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_monotonic_bounded_and_kept),
	        cmocka_unit_test(test_damaged_file_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
