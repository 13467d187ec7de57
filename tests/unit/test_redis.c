/* SPDX-License-Identifier: MIT */
/* test_redis.c - Redis URL parsing and where the password comes from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/redis/redis.h"
#include "config/config.h"

static struct cf_redis_target t;
static char err[512];

static int
parse(const char *url)
{
	err[0] = '\0';
	return cf_redis_parse_url(url, &t, err, sizeof(err));
}

static void
test_tcp(void **state)
{
	assert_int_equal(parse("redis://10.0.0.5:6380/2"), 0);
	assert_int_equal(t.kind, CF_REDIS_TCP);
	assert_string_equal(t.host, "10.0.0.5");
	assert_int_equal(t.port, 6380);
	assert_int_equal(t.db, 2);
	assert_string_equal(t.password, "");

	assert_int_equal(parse("redis://redis.internal"), 0);
	assert_string_equal(t.host, "redis.internal");
	assert_int_equal(t.port, 6379);
	assert_int_equal(t.db, 0);

	assert_int_equal(parse("redis://[::1]:7000/"), 0);
	assert_string_equal(t.host, "::1");
	assert_int_equal(t.port, 7000);

	/* What REDIS_URL holds in texto's deployments: a bare host:port. */
	assert_int_equal(parse("localhost:6379"), 0);
	assert_int_equal(t.kind, CF_REDIS_TCP);
	assert_string_equal(t.host, "localhost");
}

static void
test_credentials(void **state)
{
	assert_int_equal(parse("redis://:s3cret@127.0.0.1:6379"), 0);
	assert_string_equal(t.user, "");
	assert_string_equal(t.password, "s3cret");

	assert_int_equal(parse("redis://chat:p%40ss%3Aw@127.0.0.1/1"), 0);
	assert_string_equal(t.user, "chat");
	assert_string_equal(t.password, "p@ss:w");
	assert_int_equal(t.db, 1);

	/* In user info '+' is itself and a '%' without two hex digits stays as it is (where
	 * lws_urldecode() would give a space, fail on "%zz" and drop the "%4"). */
	assert_int_equal(parse("redis://u:a+b%zz%4@h"), 0);
	assert_string_equal(t.password, "a+b%zz%4");
}

static void
test_unix(void **state)
{
	assert_int_equal(parse("unix:///run/redis/redis.sock?db=3"), 0);
	assert_int_equal(t.kind, CF_REDIS_UNIX);
	assert_string_equal(t.path, "/run/redis/redis.sock");
	assert_int_equal(t.db, 3);
	assert_int_equal(parse("unix:/tmp/r.sock"), 0);
	assert_string_equal(t.path, "/tmp/r.sock");
	assert_int_equal(parse("unix://relative.sock"), -EINVAL);
	assert_int_equal(parse("unix:///tmp/r.sock?database=1"), -EINVAL);
}

static void
test_sentinel(void **state)
{
	assert_int_equal(parse("sentinel://10.0.0.1:26379,10.0.0.2,[::1]:26380/mymaster/4"), 0);
	assert_int_equal(t.kind, CF_REDIS_SENTINEL);
	assert_int_equal(t.nsentinels, 3);
	assert_string_equal(t.sentinels[0].host, "10.0.0.1");
	assert_int_equal(t.sentinels[0].port, 26379);
	assert_string_equal(t.sentinels[1].host, "10.0.0.2");
	assert_int_equal(t.sentinels[1].port, 26379);
	assert_string_equal(t.sentinels[2].host, "::1");
	assert_int_equal(t.sentinels[2].port, 26380);
	assert_string_equal(t.master, "mymaster");
	assert_int_equal(t.db, 4);
	assert_int_equal(parse("sentinel://10.0.0.1:26379"), -EINVAL); /* no master name */
	assert_non_null(strstr(err, "master"));
}

static void
test_bad(void **state)
{
	const char *bad[] = {"http://x:1",       "redis://",      "redis://h:0",
	                     "redis://h:99999",  "redis://h:12x", "redis://h/x",
	                     "redis://::1:6379", "redis://[::1",  "redis://h:6379/-1"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void
test_password_sources(void **state)
{
	struct cf_config c;
	char path[] = "/tmp/confab-test-pw-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from-file\n", 10), 10);
	close(fd);
	assert_int_equal(cf_config_init(&c), 0);
	free(c.redis_url);
	c.redis_url = strdup("redis://127.0.0.1:6379");
	free(c.redis_password_file);
	c.redis_password_file = strdup(path);
	assert_int_equal(cf_redis_target_from_config(&c, &t, err, sizeof(err)), 0);
	assert_string_equal(t.password, "from-file"); /* the newline is the file's */
	free(c.redis_password);
	c.redis_password = strdup("from-key");
	assert_int_equal(cf_redis_target_from_config(&c, &t, err, sizeof(err)), 0);
	assert_string_equal(t.password, "from-key");
	free(c.redis_url);
	c.redis_url = strdup("redis://:from-url@127.0.0.1:6379");
	assert_int_equal(cf_redis_target_from_config(&c, &t, err, sizeof(err)), 0);
	assert_string_equal(t.password, "from-url");
	unlink(path);
	free(c.redis_url);
	c.redis_url = strdup("redis://127.0.0.1:6379");
	free(c.redis_password);
	c.redis_password = strdup("");
	assert_int_equal(cf_redis_target_from_config(&c, &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "password_file"));
	cf_config_fini(&c);
}

static void
test_env_aliases(void **state)
{
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	setenv("REDIS_ENDPOINT", "10.1.1.1:6390", 1);
	setenv("REDIS_SECRET", "seed-secret", 1);
	assert_int_equal(cf_config_apply_redis_aliases(&c, err, sizeof(err)), 0);
	assert_string_equal(c.redis_url, "10.1.1.1:6390");
	assert_string_equal(c.redis_password, "seed-secret");
	/* REDIS_URL comes first. */
	setenv("REDIS_URL", "redis.svc:6379", 1);
	assert_int_equal(cf_config_apply_redis_aliases(&c, err, sizeof(err)), 0);
	assert_string_equal(c.redis_url, "redis.svc:6379");
	unsetenv("REDIS_URL");
	unsetenv("REDIS_ENDPOINT");
	unsetenv("REDIS_SECRET");
	cf_config_fini(&c);
}

/* A URL the parser refuses is repeated in the error with its password masked, also when the
 * password is what breaks it. */
static void
test_errors_mask_the_password(void **state)
{
	const char *bad[] = {
	        "redis://:hunter2pw@h:6379/x",
	        "redis://u:hunter2pw@h:99999",
	        "redis://u:hunter2pw/with/slash@h",
	        "redis//u:hunter2pw@h:1/0",
	        "http://u:hunter2pw@h:1",
	        "sentinel://:hunter2pw@h1:1",
	        "sentinel://u:hunter2pw@,/m",
	        "unix://:hunter2pw@/run/r.sock?db=x",
	        "unix://:hunter2pw@relative.sock",
	        "redis://h:1/0?password=hunter2pw",
	        "hunter2pw@h:1:2",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
		if (strstr(err, "hunter2pw"))
			fail_msg("the error repeats the password: %s", err);
		assert_non_null(strstr(err, "(hidden)"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcp),         cmocka_unit_test(test_credentials),
	        cmocka_unit_test(test_unix),        cmocka_unit_test(test_sentinel),
	        cmocka_unit_test(test_bad),         cmocka_unit_test(test_password_sources),
	        cmocka_unit_test(test_env_aliases), cmocka_unit_test(test_errors_mask_the_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
