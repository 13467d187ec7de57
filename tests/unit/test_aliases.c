/* SPDX-License-Identifier: MIT */
/* test_aliases.c - the seeds' environment variables (SERVER_PORT, PORT, SERVER_ADDRESS, DEBUG,
 * LOG_DEBUG, REDIS_*, ACCEPTED_ORIGIN): how each is parsed, and that it applies only where
 * neither the file nor CONFAB_* sets the key. */
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

#include "base/log.h"
#include "config/config.h"

static char err[512];
static char notes[2048];

static const char *const vars[] = {
        "SERVER_PORT",      "PORT",           "SERVER_ADDRESS",  "DEBUG",
        "LOG_DEBUG",        "REDIS_URL",      "REDIS_ENDPOINT",  "REDIS_SECRET",
        "REDIS_ADDRESS",    "REDIS_PASSWORD", "ACCEPTED_ORIGIN", "CONFAB_SERVER_LISTEN",
        "CONFAB_LOG_LEVEL",
};

static int
clear_env(void **state)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	notes[0] = '\0';
	return 0;
}

static void
note(void *ud, int level, const char *text)
{
	size_t n = strlen(notes);

	snprintf(notes + n, sizeof(notes) - n, "%s%s\n", level <= CF_LOG_WARNING ? "W: " : "",
	         text);
}

/* Defaults, then the file text (NULL: no file), then the aliases: what main.c does. */
static int
load(struct cf_config *c, const char *file)
{
	char path[64];
	int r;

	assert_int_equal(cf_config_init(c), 0);
	if (file) {
		int fd;

		snprintf(path, sizeof(path), "/tmp/confab-test-aliases-XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, file, strlen(file)), (ssize_t)strlen(file));
		close(fd);
		r = cf_config_load(c, path, err, sizeof(err));
		unlink(path);
		assert_int_equal(r, 0);
	}
	return cf_config_apply_aliases(c, note, NULL, err, sizeof(err));
}

static void
assert_listen(const struct cf_config *c, const char *want)
{
	assert_int_equal(c->listen.n, 1);
	assert_string_equal(c->listen.v[0], want);
}

static void
test_no_aliases(void **state)
{
	struct cf_config c;

	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, "127.0.0.1:8080");
	assert_int_equal(c.log_level, CF_LOG_INFO);
	assert_string_equal(notes, "");
	cf_config_fini(&c);
}

static void
test_port_precedence(void **state)
{
	struct cf_config c;

	setenv("SERVER_ADDRESS", "127.0.0.2:5555", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, "127.0.0.2:5555");
	assert_non_null(strstr(notes, "from the environment variable SERVER_ADDRESS"));
	cf_config_fini(&c);

	/* PORT beats SERVER_ADDRESS (as in seed 001) and means every address. */
	setenv("PORT", "5000", 1);
	notes[0] = '\0';
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, ":5000");
	assert_non_null(strstr(notes, "SERVER_ADDRESS ignored: PORT takes precedence"));
	assert_non_null(strstr(notes, "server.listen = :5000 from the environment variable PORT "
	                              "(every address)"));
	cf_config_fini(&c);

	/* SERVER_PORT beats both. */
	setenv("SERVER_PORT", "6000", 1);
	notes[0] = '\0';
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, ":6000");
	assert_non_null(strstr(notes, "PORT ignored: SERVER_PORT takes precedence"));
	cf_config_fini(&c);

	/* An empty variable counts as unset. */
	setenv("SERVER_PORT", "", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, ":5000");
	cf_config_fini(&c);
}

static void
test_port_below_file_and_env(void **state)
{
	struct cf_config c;

	setenv("PORT", "5000", 1);
	/* A file without listen: the alias applies; other keys of the file stay. */
	assert_int_equal(load(&c, "[limits]\nrate = 5\n"), 0);
	assert_listen(&c, ":5000");
	assert_int_equal(c.rate, 5);
	cf_config_fini(&c);
	/* The file's listen wins, whatever it holds. */
	notes[0] = '\0';
	assert_int_equal(load(&c, "[server]\nlisten = 127.0.0.1:9000 dialects=texto\n"), 0);
	assert_listen(&c, "127.0.0.1:9000 dialects=texto");
	assert_non_null(strstr(notes, "PORT ignored: the configuration file sets server.listen"));
	cf_config_fini(&c);
	/* CONFAB_SERVER_LISTEN wins too (applied after the aliases). */
	setenv("CONFAB_SERVER_LISTEN", "127.0.0.1:7000", 1);
	notes[0] = '\0';
	assert_int_equal(load(&c, NULL), 0);
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), 0);
	assert_listen(&c, "127.0.0.1:7000");
	assert_non_null(strstr(notes, "PORT ignored: CONFAB_SERVER_LISTEN sets server.listen"));
	cf_config_fini(&c);
	unsetenv("CONFAB_SERVER_LISTEN");
	/* --listen: main.c marks the key. */
	notes[0] = '\0';
	assert_int_equal(cf_config_init(&c), 0);
	cf_config_mark_cli(&c, "server", "listen");
	assert_int_equal(cf_config_apply_aliases(&c, note, NULL, err, sizeof(err)), 0);
	assert_listen(&c, "127.0.0.1:8080");
	assert_non_null(strstr(notes, "PORT ignored: the command line sets server.listen"));
	cf_config_fini(&c);
}

static void
test_bad_ports(void **state)
{
	static const char *const bad[] = {"0", "65536", "80a", "-1", " 80", "0x50", "123456"};
	struct cf_config c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("PORT", bad[i], 1);
		assert_int_equal(load(&c, NULL), -EINVAL);
		assert_non_null(strstr(err, "PORT: '"));
		cf_config_fini(&c);
	}
	assert_int_equal(setenv("PORT", "65535", 1), 0);
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, ":65535");
	cf_config_fini(&c);
	unsetenv("PORT");
	setenv("SERVER_ADDRESS", "localhost", 1);
	assert_int_equal(load(&c, NULL), -EINVAL);
	assert_non_null(strstr(err, "SERVER_ADDRESS: 'localhost' is not host:port or :port"));
	cf_config_fini(&c);
	setenv("SERVER_ADDRESS", ":40080", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_listen(&c, ":40080");
	cf_config_fini(&c);
	/* Not applied, not checked: the file decides. */
	setenv("SERVER_ADDRESS", "garbage", 1);
	assert_int_equal(load(&c, "[server]\nlisten = 127.0.0.1:1\n"), 0);
	cf_config_fini(&c);
}

static void
test_debug(void **state)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	static const char *const bad[] = {"yes", "on", "TrUe", "", " 1"};
	struct cf_config c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		setenv(i % 2 ? "DEBUG" : "LOG_DEBUG", t[i], 1);
		assert_int_equal(load(&c, NULL), 0);
		assert_int_equal(c.log_level, CF_LOG_DEBUG);
		cf_config_fini(&c);
		clear_env(NULL);
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		setenv("DEBUG", f[i], 1);
		assert_int_equal(load(&c, "[log]\n"), 0);
		assert_int_equal(c.log_level, CF_LOG_INFO);
		assert_string_equal(notes, "");
		cf_config_fini(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		notes[0] = '\0';
		setenv("DEBUG", bad[i], 1);
		assert_int_equal(load(&c, NULL), 0);
		assert_int_equal(c.log_level, CF_LOG_INFO);
		assert_non_null(strstr(notes, "W: DEBUG='"));
		assert_non_null(strstr(notes, "is not a boolean"));
		cf_config_fini(&c);
	}
	/* Either true is enough: DEBUG=false does not cancel LOG_DEBUG=true. */
	setenv("DEBUG", "false", 1);
	setenv("LOG_DEBUG", "true", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_int_equal(c.log_level, CF_LOG_DEBUG);
	cf_config_fini(&c);
	/* The file's level wins; so does CONFAB_LOG_LEVEL. */
	notes[0] = '\0';
	assert_int_equal(load(&c, "[log]\nlevel = warn\n"), 0);
	assert_int_equal(c.log_level, CF_LOG_WARNING);
	assert_non_null(strstr(notes, "LOG_DEBUG ignored: the configuration file sets log.level"));
	cf_config_fini(&c);
	setenv("CONFAB_LOG_LEVEL", "error", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.log_level, CF_LOG_ERR);
	cf_config_fini(&c);
}

static void
test_redis_below_file(void **state)
{
	struct cf_config c;

	setenv("REDIS_ADDRESS", "10.0.0.1:6379", 1);
	setenv("REDIS_PASSWORD", "pw", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_string_equal(c.redis_url, "10.0.0.1:6379");
	assert_string_equal(c.redis_password, "pw");
	cf_config_fini(&c);
	/* REDIS_URL (003) comes before REDIS_ENDPOINT (000) before REDIS_ADDRESS (001). */
	setenv("REDIS_ENDPOINT", "10.0.0.2:6379", 1);
	setenv("REDIS_SECRET", "secret", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_string_equal(c.redis_url, "10.0.0.2:6379");
	assert_string_equal(c.redis_password, "secret");
	cf_config_fini(&c);
	setenv("REDIS_URL", "10.0.0.3:6379", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_string_equal(c.redis_url, "10.0.0.3:6379");
	assert_string_equal(c.redis_password, "");
	cf_config_fini(&c);
	/* A file naming redis.url keeps it, and the pair's secret does not apply either. */
	unsetenv("REDIS_URL");
	notes[0] = '\0';
	assert_int_equal(load(&c, "[redis]\nurl = redis://127.0.0.1:6380/0\n"), 0);
	assert_string_equal(c.redis_url, "redis://127.0.0.1:6380/0");
	assert_string_equal(c.redis_password, "");
	assert_non_null(
	        strstr(notes, "REDIS_ENDPOINT ignored: the configuration file sets redis.url"));
	cf_config_fini(&c);
}

static void
test_accepted_origin(void **state)
{
	struct cf_config c;

	setenv("ACCEPTED_ORIGIN", "http://test.local", 1);
	assert_int_equal(load(&c, NULL), 0);
	assert_string_equal(c.disposable_origin, "http://test.local");
	cf_config_fini(&c);
	assert_int_equal(load(&c, "[dialects]\ndisposable_origin = https://a.example\n"), 0);
	assert_string_equal(c.disposable_origin, "https://a.example");
	cf_config_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_no_aliases, clear_env),
	        cmocka_unit_test_setup(test_port_precedence, clear_env),
	        cmocka_unit_test_setup(test_port_below_file_and_env, clear_env),
	        cmocka_unit_test_setup(test_bad_ports, clear_env),
	        cmocka_unit_test_setup(test_debug, clear_env),
	        cmocka_unit_test_setup(test_redis_below_file, clear_env),
	        cmocka_unit_test_setup(test_accepted_origin, clear_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
