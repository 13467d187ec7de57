/* SPDX-License-Identifier: MIT */
/* test_mount.c - the options of a server.listen entry (dialects=, www=, deflate=) and the
 * per-listener checks: unknown names, paths claimed twice; the dialect table's ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config/config.h"
#include "core/dialect.h"
#include "dialects/dialects.h"
#include "net/mount.h"

#define B(id)       CF_MOUNT_BIT(CF_DIALECT_##id)
#define DEFAULT_SET (B(NATIVE) | B(DISPOSABLE) | B(CHATTY) | B(TEXTO))

static char err[512];

static void
test_plain_address(void **state)
{
	struct cf_listen_spec s;

	assert_int_equal(cf_mount_parse("127.0.0.1:8080", &s, err, sizeof(err)), 0);
	assert_string_equal(s.addr, "127.0.0.1:8080");
	assert_false(s.dialects_set);
	assert_false(s.www_set);
	assert_false(s.deflate); /* permessage-deflate is off unless a listener asks */
	/* Today's behaviour: native and the three seeds, server.www_dir at /. */
	assert_int_equal(cf_mount_dialects(&s), DEFAULT_SET);
	assert_string_equal(cf_mount_www(&s, "/usr/share/confab/www"), "/usr/share/confab/www");
	assert_int_equal(cf_mount_check(&s, "/usr/share/confab/www", err, sizeof(err)), 0);
	for (const char *const *a =
	             (const char *const[]){"[::1]:80", ":8080", "*:8080", "unix:/run/confab/a.sock",
	                                   "systemd:ws", NULL};
	     *a; a++) {
		assert_int_equal(cf_mount_parse(*a, &s, err, sizeof(err)), 0);
		assert_string_equal(s.addr, *a);
	}
}

static void
test_options(void **state)
{
	struct cf_listen_spec s;

	assert_int_equal(cf_mount_parse("127.0.0.1:5000   dialects=texto\twww=/srv/texto", &s, err,
	                                sizeof(err)),
	                 0);
	assert_string_equal(s.addr, "127.0.0.1:5000");
	assert_int_equal(cf_mount_dialects(&s), B(TEXTO));
	assert_string_equal(cf_mount_www(&s, "/default"), "/srv/texto");
	assert_int_equal(cf_mount_check(&s, "/default", err, sizeof(err)), 0);
	/* Option order is free; ',' and '+' both separate names (+ survives the commas of
	 * CONFAB_SERVER_LISTEN). */
	assert_int_equal(cf_mount_parse("unix:/run/a.sock www=/srv dialects=native,texto", &s, err,
	                                sizeof(err)),
	                 0);
	assert_int_equal(cf_mount_dialects(&s), B(NATIVE) | B(TEXTO));
	assert_int_equal(cf_mount_parse("systemd:ws dialects=native+chatty", &s, err, sizeof(err)),
	                 0);
	assert_string_equal(s.addr, "systemd:ws");
	assert_int_equal(cf_mount_dialects(&s), B(NATIVE) | B(CHATTY));
	/* native without www= serves server.www_dir; www= (even empty) replaces it. */
	assert_string_equal(cf_mount_www(&s, "/default"), "/default");
	assert_int_equal(cf_mount_parse("systemd:ws dialects=native www=", &s, err, sizeof(err)),
	                 0);
	assert_true(s.www_set);
	assert_string_equal(cf_mount_www(&s, "/default"), "");
	/* Without native and www=: nothing at /. */
	assert_int_equal(cf_mount_parse(":5000 dialects=disposable_chat", &s, err, sizeof(err)), 0);
	assert_string_equal(cf_mount_www(&s, "/default"), "");
	/* Reserved names parse (the check refuses them). */
	assert_int_equal(cf_mount_parse(":5000 dialects=redis_chat", &s, err, sizeof(err)), 0);
	assert_int_equal(cf_mount_dialects(&s), B(REDIS_CHAT));
	assert_int_equal(cf_mount_parse(":5000 dialects=ttu", &s, err, sizeof(err)), 0);
	assert_int_equal(cf_mount_dialects(&s), B(TTU));
}

static void
test_deflate(void **state)
{
	struct cf_listen_spec s;

	assert_int_equal(cf_mount_parse("127.0.0.1:5000 deflate=on", &s, err, sizeof(err)), 0);
	assert_true(s.deflate);
	/* It changes nothing else the listener serves. */
	assert_int_equal(cf_mount_dialects(&s), DEFAULT_SET);
	assert_string_equal(cf_mount_www(&s, "/default"), "/default");
	assert_int_equal(cf_mount_parse("unix:/run/a.sock dialects=texto deflate=off www=/srv", &s,
	                                err, sizeof(err)),
	                 0);
	assert_false(s.deflate);
	assert_int_equal(cf_mount_dialects(&s), B(TEXTO));
	assert_string_equal(cf_mount_www(&s, "/default"), "/srv");
	assert_int_equal(
	        cf_mount_parse("systemd:ws deflate=on dialects=chatty", &s, err, sizeof(err)), 0);
	assert_true(s.deflate);
	assert_int_equal(cf_mount_dialects(&s), B(CHATTY));
}

static void
test_syntax_errors(void **state)
{
	static const struct {
		const char *entry, *why;
	} bad[] = {
	        {"127.0.0.1:5000 dialects=bogus", "unknown dialect 'bogus'"},
	        {"127.0.0.1:5000 dialects=native,Texto", "unknown dialect 'Texto'"},
	        {"127.0.0.1:5000 dialects=", "names no dialect"},
	        {"127.0.0.1:5000 dialects=,", "names no dialect"},
	        {"127.0.0.1:5000 dialects=texto dialects=native", "dialects= given twice"},
	        {"127.0.0.1:5000 www=/a www=/b", "www= given twice"},
	        {"127.0.0.1:5000 root=/srv", "unknown listener option 'root'"},
	        {"127.0.0.1:5000 deflate=yes", "deflate= is on or off, not 'yes'"},
	        {"127.0.0.1:5000 deflate=On", "deflate= is on or off, not 'On'"},
	        {"127.0.0.1:5000 deflate=", "deflate= is on or off, not ''"},
	        {"127.0.0.1:5000 deflate=on deflate=off", "deflate= given twice"},
	        {"127.0.0.1:5000 deflate", "or deflate=on|off"},
	        {"127.0.0.1:5000 compress=on", "(dialects=, www=, deflate=)"},
	        {"127.0.0.1:5000 texto", "expected dialects=NAME"},
	        {"dialects=texto", "has no address"},
	        {"", "has no address"},
	        {"   ", "has no address"},
	        {"texto", "'texto' is not an address"},
	        {"127.0.0.1", "is not an address"},
	        {"127.0.0.1:http", "is not an address"},
	        {"unix:", "is not an address"},
	        {"systemd:", "is not an address"},
	};
	struct cf_listen_spec s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(cf_mount_parse(bad[i].entry, &s, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].why))
			fail_msg("'%s': got '%s', want '%s'", bad[i].entry, err, bad[i].why);
	}
	/* The unknown-name message lists the known ones. */
	cf_mount_parse(":1 dialects=x", &s, err, sizeof(err));
	assert_non_null(strstr(err, "native, disposable_chat, chatty, texto, redis_chat, ttu"));
}

static int
check(const char *entry, const char *www_dir)
{
	struct cf_listen_spec s;

	err[0] = '\0';
	assert_int_equal(cf_mount_parse(entry, &s, err, sizeof(err)), 0);
	return cf_mount_check(&s, www_dir, err, sizeof(err));
}

static void
test_conflicts(void **state)
{
	/* Every built dialect alone, or together, with or without a static directory. */
	assert_int_equal(check(":1 dialects=native,disposable_chat,chatty,texto", "/w"), 0);
	assert_int_equal(check(":1 dialects=texto www=/srv/texto", "/w"), 0);
	assert_int_equal(check(":1 dialects=chatty www=/srv", ""), 0);
	/* 000 and 001 both want /ws; the conflict is reported before "not built". */
	assert_int_equal(check(":1 dialects=disposable_chat,redis_chat", "/w"), -EINVAL);
	assert_non_null(strstr(err, "disposable_chat"));
	assert_non_null(strstr(err, "redis_chat"));
	assert_non_null(strstr(err, "both claim /ws"));
	/* 004's /api/ covers confab's /api/v1/ (prefix claims). */
	assert_int_equal(check(":1 dialects=native,ttu www=", "/w"), -EINVAL);
	assert_non_null(strstr(err, "dialect native and dialect ttu both claim /api/v1/*"));
	/* 004 serves a client bundle at / when www= names one ("Hello from ChatServer" else). */
	assert_int_equal(check(":1 dialects=ttu www=/srv", "/w"), 0);
	assert_int_equal(check(":1 dialects=ttu", "/w"), 0);
	assert_int_equal(check(":1 dialects=redis_chat,ttu", "/w"), -EINVAL);
	assert_non_null(strstr(err, "both claim /ws"));
}

static void
test_not_built(void **state)
{
	/* Seed 001 is built: its listener, with its bundle at /, is served. */
	assert_int_equal(check(":1 dialects=redis_chat www=/usr/share/confab/redis-chat", "/w"), 0);
}

static void
test_names(void **state)
{
	for (int id = 0; id < CF_DIALECT_MAX; id++) {
		const char *n = cf_mount_name(id);

		assert_non_null(n);
		assert_int_equal(cf_mount_id(n), id);
	}
	assert_int_equal(cf_mount_id("confab.v1"), -ENOENT);
	assert_null(cf_mount_name(CF_DIALECT_MAX));
}

/* A vtable's .id is its line's index in dialects.def: the transport asks the table in that
 * order and indexes mounts and rendered frames by it. */
static void
test_ids(void **state)
{
	size_t n = 0;

	for (const struct cf_dialect *d; (d = cf_mount_at(n)); n++)
		assert_int_equal(d->id, (int)n);
	assert_int_equal(n, CF_DIALECT_MAX);
	assert_ptr_equal(cf_mount_at(CF_DIALECT_NATIVE), &cf_dialect_native);
	assert_ptr_equal(cf_mount_at(CF_DIALECT_TTU), &cf_dialect_ttu);
}

static void
test_switches(void **state)
{
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	for (int id = 0; id < CF_DIALECT_MAX; id++)
		assert_true(cf_mount_enabled(&c, id));
	c.chatty = 0;
	assert_false(cf_mount_enabled(&c, CF_DIALECT_CHATTY));
	assert_true(cf_mount_enabled(&c, CF_DIALECT_NATIVE));
	cf_config_fini(&c);
}

/* The listeners' validation names the listener. */
static void
test_validate_names_listener(void **state)
{
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(
	        cf_config_set(&c, "server", "listen", "127.0.0.1:8080", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "server", "listen",
	                               "127.0.0.1:5000 dialects=disposable_chat,redis_chat", 0, err,
	                               sizeof(err)),
	                 0);
	/* The configuration alone is valid; what it mounts is not. */
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(cf_mount_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(
	        err, "server.listen '127.0.0.1:5000 dialects=disposable_chat,redis_chat': "));
	cf_config_fini(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_address),
	        cmocka_unit_test(test_options),
	        cmocka_unit_test(test_deflate),
	        cmocka_unit_test(test_syntax_errors),
	        cmocka_unit_test(test_conflicts),
	        cmocka_unit_test(test_not_built),
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_ids),
	        cmocka_unit_test(test_switches),
	        cmocka_unit_test(test_validate_names_listener),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
