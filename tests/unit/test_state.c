/* SPDX-License-Identifier: MIT */
/* test_state.c - the standalone state directory: creation with parents, whole-file replace,
 * missing files, names that would leave the directory, an unwritable directory. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "base/state.h"

static char base[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/confab-state-XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	cf_state_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_creates_and_replaces(void **state)
{
	char dir[PATH_MAX + 32], err[256], *buf;
	struct stat sb;
	size_t len;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/a/b/state", base);
	assert_int_equal(cf_state_open(dir, err, sizeof(err)), 0);
	assert_true(cf_state_ready());
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0750);

	assert_int_equal(cf_state_read("accounts.json", &buf, &len), -ENOENT);
	assert_null(buf);
	assert_int_equal(cf_state_write("accounts.json", "{\"a\":1}", 7), 0);
	assert_int_equal(cf_state_read("accounts.json", &buf, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "{\"a\":1}");
	free(buf);
	/* A shorter replacement leaves nothing of the old content, and no temporary file. */
	assert_int_equal(cf_state_write("accounts.json", "[]", 2), 0);
	assert_int_equal(cf_state_read("accounts.json", &buf, &len), 0);
	assert_int_equal(len, 2);
	assert_string_equal(buf, "[]");
	free(buf);
	snprintf(dir, sizeof(dir), "%s/a/b/state/.accounts.json.tmp", base);
	assert_int_equal(access(dir, F_OK), -1);
	/* Empty files are files. */
	assert_int_equal(cf_state_write("empty", "", 0), 0);
	assert_int_equal(cf_state_read("empty", &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
}

static void
test_names_stay_inside(void **state)
{
	char err[256], *buf;
	size_t len;

	(void)state;
	assert_int_equal(cf_state_open(base, err, sizeof(err)), 0);
	assert_int_equal(cf_state_write("../escape", "x", 1), -EINVAL);
	assert_int_equal(cf_state_write("a/b", "x", 1), -EINVAL);
	assert_int_equal(cf_state_write(".hidden", "x", 1), -EINVAL);
	assert_int_equal(cf_state_write("", "x", 1), -EINVAL);
	assert_int_equal(cf_state_read("../etc", &buf, &len), -EINVAL);
}

static void
test_refuses_bad_dirs(void **state)
{
	char dir[PATH_MAX + 32], err[256];

	(void)state;
	assert_int_equal(cf_state_open("relative/dir", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "absolute"));
	assert_false(cf_state_ready());
	/* A file where the directory should be. */
	snprintf(dir, sizeof(dir), "%s/file", base);
	fclose(fopen(dir, "w"));
	assert_true(cf_state_open(dir, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, dir));
	/* Not closed: nothing works. */
	assert_int_equal(cf_state_write("x", "x", 1), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_creates_and_replaces, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_names_stay_inside, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refuses_bad_dirs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
