/* SPDX-License-Identifier: MIT */
/* test_config.c - the configuration table: defaults, parsing, the shipped confab.conf, errors
 * with line numbers, list keys, environment overrides, validation and reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/redis_url.h"
#include "config/config.h"

/* A temporary file holding text; its path is written into path (PATH_MAX-ish buffer). */
static void
write_tmp(char *path, size_t plen, const char *text)
{
	int fd;
	size_t len = strlen(text);

	snprintf(path, plen, "/tmp/confab-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Loads text as a config file over the defaults; returns the result, err gets the message. */
static int
load_text(struct cf_config *c, const char *text, char *path, size_t plen, char *err, size_t errlen)
{
	int r;

	write_tmp(path, plen, text);
	err[0] = '\0';
	r = cf_config_load(c, path, err, errlen);
	unlink(path);
	return r;
}

static const struct cf_config_def *
def_of(const char *section, const char *key)
{
	size_t n;
	const struct cf_config_def *d = cf_config_defs(&n);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].section, section) && !strcmp(d[i].key, key))
			return &d[i];
	return NULL;
}

static void
test_defaults(void **state)
{
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.v[0], "127.0.0.1:8080");
	assert_int_equal(c.unix_mode, 0660);
	assert_string_equal(c.www_dir, CONFAB_WWW_DIR);
	assert_string_equal(c.admin_token, "");
	assert_int_equal(c.origins.n, 0);
	assert_null(c.origins.v);
	assert_int_equal(c.max_connections, 10000);
	assert_int_equal(c.max_connections_per_ip, 256);
	assert_int_equal(c.handshake_timeout, 10);
	assert_int_equal(c.ping_interval, 25);
	assert_int_equal(c.pong_timeout, 10);
	assert_int_equal(c.drain_timeout, 10);
	assert_string_equal(c.node_id, "");
	assert_int_equal(c.log_level, CF_LOG_INFO);
	assert_int_equal(c.max_frame, 65536);
	assert_int_equal(c.max_text, 4096);
	assert_int_equal(c.max_name, 32);
	assert_int_equal(c.max_rooms_per_session, 32);
	assert_int_equal(c.rate, 10);
	assert_int_equal(c.burst, 20);
	assert_int_equal(c.rate_close_after, 50);
	assert_int_equal(c.history, 100);
	assert_int_equal(c.history_ttl, 3600);
	assert_int_equal(c.join_history, 20);
	assert_int_equal(c.max_rooms, 100000);
	assert_int_equal(c.queue_frames, 1024);
	assert_int_equal(c.queue_bytes, 1048576);
	/* The defaults are a valid configuration. */
	{
		char err[256] = "";
		assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	}
	cf_config_fini(&c);
	assert_null(c.www_dir);
	assert_null(c.listen.v);
	assert_int_equal(c.listen.n, 0);
	/* init after fini works again (fini leaves c "finished"). */
	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(c.listen.n, 1);
	cf_config_fini(&c);
}

/* Every row's default parses with its own type and bounds and lands in the field. */
static void
test_defs_parse_own_default(void **state)
{
	size_t n = 0;
	const struct cf_config_def *defs = cf_config_defs(&n);
	struct cf_config c;
	char err[256];

	assert_true(n >= 26);
	assert_int_equal(cf_config_init(&c), 0);
	for (size_t i = 0; i < n; i++) {
		const struct cf_config_def *d = &defs[i];
		const void *p = (const char *)&c + d->offset;
		int r;

		err[0] = '\0';
		r = cf_config_set(&c, d->section, d->key, d->def, 1, err, sizeof(err));
		if (r != 0)
			fail_msg("%s.%s: default '%s' does not parse: %d %s", d->section, d->key,
			         d->def, r, err);
		assert_non_null(d->help);
		assert_true(d->offset < sizeof(c));
		switch (d->type) {
		case CF_CFG_INT:
		case CF_CFG_OCTAL: {
			long v = strtol(d->def, NULL, d->type == CF_CFG_OCTAL ? 8 : 10);
			assert_true(d->min <= d->max);
			assert_in_range(v, d->min, d->max);
			assert_int_equal(*(const int *)p, (int)v);
			break;
		}
		case CF_CFG_LOGLEVEL:
			assert_int_equal(*(const int *)p, cf_log_parse_level(d->def));
			break;
		case CF_CFG_STR:
			assert_string_equal(*(char *const *)p, d->def);
			break;
		case CF_CFG_LIST: {
			const struct cf_strlist *l = p;
			if (!*d->def) {
				assert_int_equal(l->n, 0);
			} else {
				assert_int_equal(l->n, 1);
				assert_string_equal(l->v[0], d->def);
			}
			break;
		}
		default:
			fail_msg("%s.%s: unknown type %d", d->section, d->key, (int)d->type);
		}
		/* Keys are unique. */
		for (size_t j = 0; j < i; j++)
			if (!strcmp(defs[j].section, d->section) && !strcmp(defs[j].key, d->key))
				fail_msg("%s.%s listed twice", d->section, d->key);
	}
	cf_config_fini(&c);
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void
conf_path(char *buf, size_t len)
{
	const char *src = getenv("CONFAB_SOURCE_DIR");

	if (!src || !*src)
		fail_msg("CONFAB_SOURCE_DIR is not set");
	snprintf(buf, len, "%s/conf/confab.conf", src);
}

static void
test_shipped_conf_loads(void **state)
{
	char path[4096], err[512] = "";
	struct cf_config c;

	conf_path(path, sizeof(path));
	assert_int_equal(cf_config_init(&c), 0);
	if (cf_config_load(&c, path, err, sizeof(err)) != 0)
		fail_msg("%s does not load: %s", path, err);
	assert_string_equal(err, "");
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.v[0], "127.0.0.1:8080");
	assert_int_equal(c.origins.n, 0);
	assert_string_equal(c.www_dir, CONFAB_WWW_DIR); /* commented out: the build's default */
	assert_int_equal(c.queue_bytes, 1048576);
	cf_config_fini(&c);
}

/* One "key =" or "#key =" line of the shipped file. */
struct conf_key {
	char section[64];
	char key[64];
	char value[256]; /* trimmed */
	int commented;
	int line;
	int doc_reloadable; /* the comment block right above says "Reloadable" */
};

/* Scans the shipped confab.conf by hand (not with inih): every key line, with its section and
 * whether the prose comment block above it marks the key reloadable. Returns how many. */
static size_t
scan_conf(const char *path, struct conf_key *out, size_t max)
{
	char section[64] = "", *text, *line, *next;
	int lineno = 0, block_reloadable = 0;
	size_t n = 0;

	text = read_all(path);
	/* strtok would skip empty lines and break the line count: split by hand. */
	for (line = text; line; line = next) {
		char *nl = strchr(line, '\n'), *p = line, key[64], *v, *e;
		size_t k = 0;
		int commented = 0;

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p) { /* a blank line ends a comment block */
			block_reloadable = 0;
			continue;
		}
		if (*p == '[') {
			char *rb = strchr(p, ']');
			assert_non_null(rb);
			assert_true((size_t)(rb - p - 1) < sizeof(section));
			memcpy(section, p + 1, (size_t)(rb - p - 1));
			section[rb - p - 1] = '\0';
			block_reloadable = 0;
			continue;
		}
		if (*p == '#') {
			commented = 1;
			p++;
		}
		/* "# prose" (hash, then a space) is a comment, not a key. */
		if (isalpha((unsigned char)*p) || *p == '_') {
			while ((isalnum((unsigned char)*p) || *p == '_') && k < sizeof(key) - 1)
				key[k++] = *p++;
			key[k] = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
		}
		if (!k || *p != '=') {
			if (strstr(line, "Reloadable") || strstr(line, "reloadable"))
				block_reloadable = 1;
			continue;
		}
		v = p + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = '\0';
		assert_true(n < max);
		snprintf(out[n].section, sizeof(out[n].section), "%s", section);
		snprintf(out[n].key, sizeof(out[n].key), "%s", key);
		snprintf(out[n].value, sizeof(out[n].value), "%s", v);
		out[n].commented = commented;
		out[n].line = lineno;
		out[n].doc_reloadable = block_reloadable;
		n++;
		block_reloadable = 0; /* the next key has its own comment block */
	}
	free(text);
	return n;
}

/* The shipped file names every key of the table exactly once, as "key =" or "#key =" under its
 * [section], and every uncommented value is the table's default. */
static void
test_shipped_conf_names_every_key(void **state)
{
	char path[4096];
	size_t n, nk;
	const struct cf_config_def *defs = cf_config_defs(&n);
	struct conf_key keys[128];
	unsigned *seen = calloc(n, sizeof(*seen));

	assert_non_null(seen);
	conf_path(path, sizeof(path));
	nk = scan_conf(path, keys, 128);
	assert_true(nk >= n);
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *ck = &keys[i];
		const struct cf_config_def *d = def_of(ck->section, ck->key);

		if (!d)
			fail_msg("%s:%d: '%s' is not a key of [%s]", path, ck->line, ck->key,
			         ck->section);
		seen[d - defs]++;
		/* www_dir's default depends on the install prefix. */
		if (!ck->commented && strcmp(ck->key, "www_dir") && strcmp(ck->value, d->def))
			fail_msg("%s:%d: %s = '%s' but the default is '%s'", path, ck->line,
			         ck->key, ck->value, d->def);
	}
	for (size_t i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("%s names [%s] %s %u times, expected once", path, defs[i].section,
			         defs[i].key, seen[i]);
	free(seen);
}

/* The README says confab.conf tells which keys are reloadable: its comments must agree with the
 * table's CF_CFG_RELOADABLE flags (what SIGHUP really applies). */
static void
test_shipped_conf_marks_reloadable(void **state)
{
	char path[4096], bad[8192] = "";
	size_t n, nk;
	struct conf_key keys[128];

	(void)cf_config_defs(&n);
	conf_path(path, sizeof(path));
	nk = scan_conf(path, keys, 128);
	for (size_t i = 0; i < nk; i++) {
		const struct conf_key *ck = &keys[i];
		const struct cf_config_def *d = def_of(ck->section, ck->key);
		int reloadable;

		assert_non_null(d);
		reloadable = !!(d->flags & CF_CFG_RELOADABLE);
		if (reloadable != ck->doc_reloadable) {
			size_t l = strlen(bad);
			snprintf(bad + l, sizeof(bad) - l,
			         "\n  %.256s:%d: [%.64s] %.64s is %sreloadable, documented %s",
			         path, ck->line, ck->section, ck->key, reloadable ? "" : "not ",
			         ck->doc_reloadable ? "as reloadable" : "as needing a restart");
		}
	}
	if (bad[0])
		fail_msg("confab.conf and the config table disagree:%s", bad);
}

static void
expect_line_prefix(const char *err, const char *path, int line)
{
	char want[4200];

	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)))
		fail_msg("error '%s' does not start with '%s'", err, want);
}

static void
test_unknown_key(void **state)
{
	char path[64], err[512];
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(load_text(&c,
	                           "# comment\n"
	                           "[server]\n"
	                           "max_connections = 5\n"
	                           "\n"
	                           "[limits]\n"
	                           "bogus = 1\n"
	                           "also_bogus = 2\n",
	                           path, sizeof(path), err, sizeof(err)),
	                 -ENOENT);
	expect_line_prefix(err, path, 6);
	assert_non_null(strstr(err, "bogus"));
	assert_non_null(strstr(err, "limits"));
	/* A known key in the wrong section is unknown too. */
	assert_int_equal(load_text(&c, "[rooms]\nrate = 5\n", path, sizeof(path), err, sizeof(err)),
	                 -ENOENT);
	expect_line_prefix(err, path, 2);
	/* cf_config_set reports it the same way. */
	err[0] = '\0';
	assert_int_equal(cf_config_set(&c, "server", "nope", "1", 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nope"));
	/* A missing file: a negative errno naming the path. */
	err[0] = '\0';
	assert_int_equal(cf_config_load(&c, "/nonexistent/confab.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/confab.conf"));
	cf_config_fini(&c);
}

static void
test_bad_values(void **state)
{
	char path[64], err[512];
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	/* Out of range, below and above. */
	assert_int_equal(load_text(&c, "[limits]\nrate = 5\nmax_text = 0\n", path, sizeof(path),
	                           err, sizeof(err)),
	                 -EINVAL);
	expect_line_prefix(err, path, 3);
	assert_non_null(strstr(err, "max_text"));
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(c.max_text, 4096);
	assert_int_equal(
	        load_text(&c, "[limits]\n\nmax_name = 257\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 3);
	assert_int_equal(c.max_name, 32);
	/* Bounds themselves are accepted. */
	assert_int_equal(load_text(&c, "[limits]\nmax_name = 256\nmax_text = 1\n", path,
	                           sizeof(path), err, sizeof(err)),
	                 0);
	assert_int_equal(c.max_name, 256);
	assert_int_equal(c.max_text, 1);
	/* Not a number; trailing junk; empty. */
	assert_int_equal(
	        load_text(&c, "[limits]\nrate = fast\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 2);
	assert_non_null(strstr(err, "not a number"));
	assert_int_equal(
	        load_text(&c, "[limits]\nburst = 12abc\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 2);
	assert_int_equal(
	        load_text(&c, "[session]\nqueue_frames =\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 2);
	/* Octal: 8 and 9 are not octal digits. */
	assert_int_equal(
	        load_text(&c, "[server]\nunix_mode = 0689\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 2);
	assert_int_equal(c.unix_mode, 0660);
	assert_int_equal(
	        load_text(&c, "[server]\nunix_mode = 0600\n", path, sizeof(path), err, sizeof(err)),
	        0);
	assert_int_equal(c.unix_mode, 0600);
	/* Log level. */
	assert_int_equal(
	        load_text(&c, "[log]\nlevel = loud\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 2);
	assert_non_null(strstr(err, "loud"));
	assert_int_equal(c.log_level, CF_LOG_INFO);
	assert_int_equal(
	        load_text(&c, "[log]\nlevel = debug\n", path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.log_level, CF_LOG_DEBUG);
	/* A line that is not key = value. */
	assert_int_equal(
	        load_text(&c, "[log]\nlevel = warn\njunk\n", path, sizeof(path), err, sizeof(err)),
	        -EINVAL);
	expect_line_prefix(err, path, 3);
	assert_non_null(strstr(err, "syntax"));
	/* The first error is the one reported. */
	assert_int_equal(load_text(&c, "[limits]\nrate = x\nburst = y\n", path, sizeof(path), err,
	                           sizeof(err)),
	                 -EINVAL);
	expect_line_prefix(err, path, 2);
	assert_non_null(strstr(err, "rate"));
	cf_config_fini(&c);
}

static void
test_list_keys(void **state)
{
	char path[64], err[512];
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(load_text(&c,
	                           "[server]\n"
	                           "listen = 0.0.0.0:9000\n"
	                           "origins = https://a.example\n"
	                           "listen = unix:/run/confab.sock\n",
	                           path, sizeof(path), err, sizeof(err)),
	                 0);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.v[0], "0.0.0.0:9000");
	assert_string_equal(c.listen.v[1], "unix:/run/confab.sock");
	assert_int_equal(c.origins.n, 1);
	assert_string_equal(c.origins.v[0], "https://a.example");
	/* A second file naming listen once replaces the first file's list. */
	assert_int_equal(load_text(&c, "[server]\nlisten = [::1]:7000\n", path, sizeof(path), err,
	                           sizeof(err)),
	                 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.v[0], "[::1]:7000");
	assert_int_equal(c.origins.n, 1); /* not named: kept */
	/* An empty value empties the list. */
	assert_int_equal(
	        load_text(&c, "[server]\norigins =\n", path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(c.origins.n, 0);
	/* cf_config_set appends unless told to reset. */
	assert_int_equal(cf_config_set(&c, "server", "listen", "b:2", 0, err, sizeof(err)), 0);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.v[1], "b:2");
	assert_int_equal(cf_config_set(&c, "server", "listen", "c:3", 1, err, sizeof(err)), 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.v[0], "c:3");
	/* Without any listener the configuration is invalid. */
	assert_int_equal(cf_config_set(&c, "server", "listen", "", 1, err, sizeof(err)), 0);
	assert_int_equal(c.listen.n, 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "listen"));
	cf_config_fini(&c);
}

static void
test_env(void **state)
{
	char err[512] = "";
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(setenv("CONFAB_LIMITS_MAX_TEXT", "1000", 1), 0);
	assert_int_equal(setenv("CONFAB_SERVER_LISTEN", "a:1,b:2", 1), 0);
	assert_int_equal(setenv("CONFAB_LOG_LEVEL", "warn", 1), 0);
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.max_text, 1000);
	assert_int_equal(c.listen.n, 2);
	assert_string_equal(c.listen.v[0], "a:1");
	assert_string_equal(c.listen.v[1], "b:2");
	assert_int_equal(c.log_level, CF_LOG_WARNING);
	assert_int_equal(c.max_name, 32); /* untouched */
	/* Applying again replaces the list, it does not append. */
	assert_int_equal(setenv("CONFAB_SERVER_LISTEN", "c:3", 1), 0);
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.listen.n, 1);
	assert_string_equal(c.listen.v[0], "c:3");
	/* A bad value: -EINVAL naming the variable; the field keeps its value. */
	assert_int_equal(setenv("CONFAB_LIMITS_MAX_TEXT", "0", 1), 0);
	err[0] = '\0';
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "CONFAB_LIMITS_MAX_TEXT"));
	assert_int_equal(c.max_text, 1000);
	assert_int_equal(unsetenv("CONFAB_LIMITS_MAX_TEXT"), 0);
	assert_int_equal(unsetenv("CONFAB_SERVER_LISTEN"), 0);
	assert_int_equal(unsetenv("CONFAB_LOG_LEVEL"), 0);
	/* Nothing set: nothing changes. */
	assert_int_equal(cf_config_apply_env(&c, err, sizeof(err)), 0);
	assert_int_equal(c.max_text, 1000);
	assert_int_equal(c.listen.n, 1);
	cf_config_fini(&c);
}

static void
test_validate(void **state)
{
	char err[512] = "";
	struct cf_config c;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	c.history = 10;
	c.join_history = 10;
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	c.join_history = 11;
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "join_history"));
	c.join_history = 0;
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	/* The text must fit in a frame with room for the envelope. */
	c.max_frame = 4096 + 512;
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	c.max_frame = 4096 + 511;
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_text"));
	cf_config_fini(&c);
}

static int
same_value(const struct cf_config *a, const struct cf_config *b, const struct cf_config_def *d)
{
	const void *pa = (const char *)a + d->offset, *pb = (const char *)b + d->offset;

	switch (d->type) {
	case CF_CFG_INT:
	case CF_CFG_OCTAL:
	case CF_CFG_LOGLEVEL:
		return *(const int *)pa == *(const int *)pb;
	case CF_CFG_STR:
		return !strcmp(*(char *const *)pa, *(char *const *)pb);
	case CF_CFG_LIST: {
		const struct cf_strlist *la = pa, *lb = pb;
		if (la->n != lb->n)
			return 0;
		for (size_t i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]))
				return 0;
		return 1;
	}
	}
	return 0;
}

static const char *
masked(const char *url, size_t outlen)
{
	static char out[256];

	assert_true(outlen <= sizeof(out));
	cf_redis_url_mask(url, out, outlen);
	return out;
}

static void
test_mask_url(void **state)
{
	(void)state;
#define M(u) masked(u, 256)
	assert_string_equal(M("redis://u:pw@h:6379/0"), "redis://u:(hidden)@h:6379/0");
	assert_string_equal(M("redis://:pw@h"), "redis://:(hidden)@h");
	assert_string_equal(M("redis://pw@h"), "redis://(hidden)@h");
	assert_string_equal(M("redis://u:p@ss:w/x@h:1/2"), "redis://u:(hidden)@h:1/2");
	assert_string_equal(M("redis://u:p%40ss@[::1]:1"), "redis://u:(hidden)@[::1]:1");
	assert_string_equal(M("sentinel://:pw@a:1,b:2/m/3"), "sentinel://:(hidden)@a:1,b:2/m/3");
	assert_string_equal(M("u:pw@h:1"), "u:(hidden)@h:1");
	assert_string_equal(M("redis://h:1/0?password=pw&db=2&x"),
	                    "redis://h:1/0?password=(hidden)&db=2&x");
	/* Nothing secret: unchanged. */
	assert_string_equal(M("redis://h:6379/0"), "redis://h:6379/0");
	assert_string_equal(M("unix:///run/redis/redis.sock?db=3"),
	                    "unix:///run/redis/redis.sock?db=3");
	/* A unix path may hold '@' (a systemd instance name); a userinfo before it is masked. */
	assert_string_equal(M("unix:///run/redis@main/r.sock"), "unix:///run/redis@main/r.sock");
	assert_string_equal(M("unix://:pw@/run/r.sock"), "unix://:(hidden)@/run/r.sock");
	assert_string_equal(M(""), "");
	/* Truncated, never overrun, always terminated. */
	assert_string_equal(masked("redis://u:pw@h", 12), "redis://u:(");
	assert_string_equal(masked("redis://u:pw@h", 1), "");
#undef M
}

/* redis.shards: every entry a valid URL, never the same shard twice (identity: where the data
 * is, not how it is reached), only with redis.url. */
static void
test_validate_shards(void **state)
{
	char err[512] = "";
	struct cf_config c;

	(void)state;
	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "redis://h2:1/0", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs redis.url"));
	assert_int_equal(cf_config_set(&c, "redis", "url", "redis://h1:1/0", 1, err, sizeof(err)),
	                 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	/* The same Redis with another password, or the same master through other Sentinels. */
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "redis://:pw@h1:1/0", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "same shard (tcp:h1:1/0) as redis.url"));
	assert_null(strstr(err, "pw@"));
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "sentinel://s1:2/m", 1, err, sizeof(err)), 0);
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "sentinel://s2:2/m/0", 0, err, sizeof(err)),
	        0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "an earlier entry"));
	/* Another db is another shard. */
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "redis://h1:1/1", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(
	        cf_config_set(&c, "redis", "shards", "redis://:secret9@h3:x", 0, err, sizeof(err)),
	        0);
	assert_int_equal(cf_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "redis.shards: 'redis://:(hidden)@h3:x'"));
	assert_null(strstr(err, "secret9"));
	cf_config_fini(&c);
}

/* Rendezvous hashing: stable, spread, and adding a shard moves only what the new one wins. */
static void
test_shard_pick(void **state)
{
	uint64_t seeds[3] = {cf_redis_shard_seed("tcp:a:1/0"), cf_redis_shard_seed("tcp:b:1/0"),
	                     cf_redis_shard_seed("tcp:c:1/0")};
	uint64_t rev[2] = {seeds[1], seeds[0]};
	size_t count[3] = {0}, moved = 0;
	char name[32];

	(void)state;
	for (int i = 0; i < 3000; i++) {
		size_t two, three;

		snprintf(name, sizeof(name), "room-%d", i);
		assert_int_equal(cf_redis_shard_pick(seeds, 1, name), 0);
		two = cf_redis_shard_pick(seeds, 2, name);
		three = cf_redis_shard_pick(seeds, 3, name);
		/* The order of the shards does not matter. */
		assert_int_equal(1 - cf_redis_shard_pick(rev, 2, name), two);
		if (three != two) {
			assert_int_equal(three, 2);
			moved++;
		}
		count[three]++;
	}
	/* About a third each, and a third moved to the new shard. */
	for (int i = 0; i < 3; i++)
		assert_true(count[i] > 800 && count[i] < 1200);
	assert_true(moved > 800 && moved < 1200);
}

/* Secrets are never printed back: --check-config shows "(set)" or the URL masked. */
static void
test_dump_masks_secrets(void **state)
{
	char path[64] = "/tmp/confab-test-dump-XXXXXX", err[512] = "", *text;
	struct cf_config c;
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);
	FILE *f;
	int fd, nsecret = 0;

	(void)state;
	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(
	        cf_config_set(&c, "redis", "url", "redis://u:urlpw111@h:1/0", 1, err, sizeof(err)),
	        0);
	assert_int_equal(cf_config_set(&c, "redis", "password", "keypw222", 1, err, sizeof(err)),
	                 0);
	assert_int_equal(
	        cf_config_set(&c, "server", "admin_token", "token333", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "redis", "shards", "redis://:shardpw444@h:2/0", 0, err,
	                               sizeof(err)),
	                 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	cf_config_dump(&c, f);
	assert_int_equal(fclose(f), 0);
	text = read_all(path);
	unlink(path);
	assert_null(strstr(text, "urlpw111"));
	assert_null(strstr(text, "keypw222"));
	assert_null(strstr(text, "token333"));
	assert_null(strstr(text, "shardpw444"));
	assert_non_null(strstr(text, "\nurl = redis://u:(hidden)@h:1/0\n"));
	assert_non_null(strstr(text, "\nshards = redis://:(hidden)@h:2/0\n"));
	assert_non_null(strstr(text, "\npassword = (set)\n"));
	assert_non_null(strstr(text, "\nadmin_token = (set)\n"));
	free(text);
	cf_config_fini(&c);
	/* The table marks them. */
	for (size_t i = 0; i < n; i++)
		if (defs[i].flags & (CF_CFG_SECRET | CF_CFG_SECRET_URL))
			nsecret++;
	assert_int_equal(nsecret, 4);
}

/* --check-config's dump is a config file that loads back to the same values. */
static void
test_dump_roundtrip(void **state)
{
	char path[64] = "/tmp/confab-test-dump-XXXXXX", err[512] = "", *text;
	struct cf_config c, back;
	size_t n;
	const struct cf_config_def *defs = cf_config_defs(&n);
	FILE *f;
	int fd;

	assert_int_equal(cf_config_init(&c), 0);
	assert_int_equal(cf_config_set(&c, "server", "listen", "0.0.0.0:1", 1, err, sizeof(err)),
	                 0);
	assert_int_equal(
	        cf_config_set(&c, "server", "listen", "unix:/run/c.sock", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "server", "origins", "https://o", 0, err, sizeof(err)),
	                 0);
	assert_int_equal(cf_config_set(&c, "server", "unix_mode", "0600", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "server", "node_id", "node-7", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "log", "level", "debug", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "limits", "max_text", "2000", 0, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "rooms", "history", "50", 0, err, sizeof(err)), 0);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	cf_config_dump(&c, f);
	assert_int_equal(fclose(f), 0);
	text = read_all(path);
	assert_non_null(strstr(text, "[server]\n"));
	assert_non_null(strstr(text, "\nunix_mode = 0600\n"));
	assert_non_null(strstr(text, "\nlevel = debug\n"));
	assert_non_null(strstr(text, "\nlisten = 0.0.0.0:1\nlisten = unix:/run/c.sock\n"));
	free(text);

	assert_int_equal(cf_config_init(&back), 0);
	if (cf_config_load(&back, path, err, sizeof(err)) != 0)
		fail_msg("the dump does not load: %s", err);
	for (size_t i = 0; i < n; i++)
		if (!same_value(&c, &back, &defs[i]))
			fail_msg("%s.%s changed in the dump round trip", defs[i].section,
			         defs[i].key);
	cf_config_fini(&back);
	unlink(path);

	/* Empty lists stay empty; the admin token is never printed. */
	assert_int_equal(cf_config_set(&c, "server", "origins", "", 1, err, sizeof(err)), 0);
	assert_int_equal(cf_config_set(&c, "server", "admin_token", "s3cret", 1, err, sizeof(err)),
	                 0);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);

		assert_non_null(m);
		cf_config_dump(&c, m);
		assert_int_equal(fclose(m), 0);
		assert_null(strstr(buf, "s3cret"));
		assert_non_null(strstr(buf, "\nadmin_token = (set)\n"));
		assert_non_null(strstr(buf, "\n#origins =\n"));
		free(buf);
	}
	cf_config_fini(&c);
}

struct notes {
	unsigned n;
	const char *keys[32];
};

static void
note(const struct cf_config_def *d, void *ud)
{
	struct notes *ns = ud;

	assert_false(d->flags & CF_CFG_RELOADABLE);
	assert_true(ns->n < 32);
	ns->keys[ns->n++] = d->key;
}

static int
noted(const struct notes *ns, const char *key)
{
	for (unsigned i = 0; i < ns->n; i++)
		if (!strcmp(ns->keys[i], key))
			return 1;
	return 0;
}

static void
test_reload(void **state)
{
	struct cf_config cur, next;
	struct notes ns = {0};
	char err[256];

	assert_int_equal(cf_config_init(&cur), 0);
	assert_int_equal(cf_config_init(&next), 0);
	/* Identical: nothing to note. */
	assert_int_equal(cf_config_reload(&cur, &next, note, &ns), 0);
	assert_int_equal(ns.n, 0);

	/* Reloadable changes. */
	next.max_text = 100;
	next.burst = 3;
	next.log_level = CF_LOG_DEBUG;
	assert_int_equal(
	        cf_config_set(&next, "server", "admin_token", "s3cret", 1, err, sizeof(err)), 0);
	assert_int_equal(
	        cf_config_set(&next, "server", "origins", "https://x", 1, err, sizeof(err)), 0);
	assert_int_equal(
	        cf_config_set(&next, "server", "origins", "https://y", 0, err, sizeof(err)), 0);
	/* Restart-only changes. */
	next.history = 50;
	next.queue_frames = 16;
	assert_int_equal(cf_config_set(&next, "server", "listen", "0.0.0.0:1", 1, err, sizeof(err)),
	                 0);
	assert_int_equal(cf_config_set(&next, "server", "node_id", "n1", 1, err, sizeof(err)), 0);

	assert_int_equal(cf_config_reload(&cur, &next, note, &ns), 4);
	assert_int_equal(ns.n, 4);
	assert_true(noted(&ns, "history"));
	assert_true(noted(&ns, "queue_frames"));
	assert_true(noted(&ns, "listen"));
	assert_true(noted(&ns, "node_id"));
	assert_false(noted(&ns, "max_text"));
	/* Reloadable keys copied (deep copies: next is finished below). */
	assert_int_equal(cur.max_text, 100);
	assert_int_equal(cur.burst, 3);
	assert_int_equal(cur.log_level, CF_LOG_DEBUG);
	assert_string_equal(cur.admin_token, "s3cret");
	assert_ptr_not_equal(cur.admin_token, next.admin_token);
	assert_int_equal(cur.origins.n, 2);
	assert_string_equal(cur.origins.v[0], "https://x");
	assert_string_equal(cur.origins.v[1], "https://y");
	assert_ptr_not_equal(cur.origins.v, next.origins.v);
	/* The others kept. */
	assert_int_equal(cur.history, 100);
	assert_int_equal(cur.queue_frames, 1024);
	assert_int_equal(cur.listen.n, 1);
	assert_string_equal(cur.listen.v[0], "127.0.0.1:8080");
	assert_string_equal(cur.node_id, "");
	cf_config_fini(&next);
	assert_string_equal(cur.admin_token, "s3cret");
	assert_string_equal(cur.origins.v[1], "https://y");

	/* Removing origins again on reload empties the list; note may be NULL. */
	assert_int_equal(cf_config_init(&next), 0);
	next.history = 7;
	assert_int_equal(cf_config_reload(&cur, &next, NULL, NULL), 1);
	assert_int_equal(cur.origins.n, 0);
	assert_string_equal(cur.admin_token, "");
	assert_int_equal(cur.history, 100);
	cf_config_fini(&next);
	cf_config_fini(&cur);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),
	        cmocka_unit_test(test_defs_parse_own_default),
	        cmocka_unit_test(test_shipped_conf_loads),
	        cmocka_unit_test(test_shipped_conf_names_every_key),
	        cmocka_unit_test(test_shipped_conf_marks_reloadable),
	        cmocka_unit_test(test_unknown_key),
	        cmocka_unit_test(test_bad_values),
	        cmocka_unit_test(test_list_keys),
	        cmocka_unit_test(test_env),
	        cmocka_unit_test(test_validate),
	        cmocka_unit_test(test_dump_roundtrip),
	        cmocka_unit_test(test_mask_url),
	        cmocka_unit_test(test_validate_shards),
	        cmocka_unit_test(test_shard_pick),
	        cmocka_unit_test(test_dump_masks_secrets),
	        cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
