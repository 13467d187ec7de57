/* SPDX-License-Identifier: MIT */
/* env.c - the environment confabd reads: CONFAB_<SECTION>_<KEY> for every key of the table and
 * the seeds' aliases (REDIS_URL, SERVER_PORT, ...). The input is lines; a line's first byte
 * picks the variable (modulo how many there are), the rest of the line is its value. Then what
 * main.c does: aliases, CONFAB_* variables, the cross-key checks and the dump. */
#include "fuzz.h"

#include <ctype.h>
#include <stdio.h>
#include "base/log.h"
#include "config/config.h"
#include "net/mount.h"

static const char *const aliases[] = {
        "ACCEPTED_ORIGIN", "REDIS_URL",      "REDIS_ENDPOINT", "REDIS_SECRET",
        "REDIS_ADDRESS",   "REDIS_PASSWORD", "SERVER_PORT",    "PORT",
        "SERVER_ADDRESS",  "DEBUG",          "LOG_DEBUG",
};
static char **names;
static size_t nnames;
static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t n, na = sizeof(aliases) / sizeof(aliases[0]);
	const struct cf_config_def *d = cf_config_defs(&n);

	(void)argc;
	(void)argv;
	names = calloc(n + na, sizeof(*names));
	devnull = fopen("/dev/null", "w");
	if (!names || !devnull)
		abort();
	for (size_t i = 0; i < n; i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "CONFAB_%s_%s", d[i].section, d[i].key);
		for (char *p = buf; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		names[nnames++] = strdup(buf);
	}
	for (size_t i = 0; i < na; i++)
		names[nnames++] = strdup(aliases[i]);
	cf_log_set_level(0);
	return 0;
}

static void
note(void *ud, int level, const char *text)
{
	(void)ud;
	(void)level;
	if (!text)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_config c = {0};
	const uint8_t *p = data, *end = data + size;
	char err[512];

	if (size > 16 * 1024)
		return -1;
	for (size_t i = 0; i < nnames; i++)
		unsetenv(names[i]);
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *v;

		if (len) {
			/* getenv() gives no bytes past a NUL: the value stops there. */
			v = fuzz_str(p + 1, len - 1);
			setenv(names[p[0] % nnames], v, 1);
			free(v);
		}
		p += len + 1;
	}
	if (cf_config_init(&c) < 0)
		abort();
	err[0] = '\0';
	if (cf_config_apply_aliases(&c, note, NULL, err, sizeof(err)) == 0 &&
	    cf_config_apply_env(&c, err, sizeof(err)) == 0 &&
	    cf_config_validate(&c, err, sizeof(err)) == 0 &&
	    cf_mount_validate(&c, err, sizeof(err)) == 0)
		cf_config_dump(&c, devnull);
	else if (!err[0])
		abort();
	cf_config_fini(&c);
	return 0;
}
