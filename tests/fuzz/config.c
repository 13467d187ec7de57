/* SPDX-License-Identifier: MIT */
/* config.c - cf_config_load() on the input as a config file (inih, then the table's value
 * parsers), then what confabd does with a loaded file: the cross-key checks, --check-config's
 * dump, and a SIGHUP reload over the defaults. */
#include "fuzz.h"

#include <stdio.h>
#include <unistd.h>
#include "config/config.h"
#include "base/log.h"
#include "net/mount.h"

static char path[64];
static int fd = -1;
static FILE *devnull;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/confab-fuzz-config-XXXXXX");
	fd = mkstemp(path);
	devnull = fopen("/dev/null", "w");
	if (fd < 0 || !devnull)
		abort();
	cf_log_set_level(0); /* notes would flood the fuzzer's output */
	return 0;
}

static void
unlink_at_exit(void)
{
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_config c = {0}, def = {0};
	char err[512];
	static int registered;

	if (size > 64 * 1024)
		return -1;
	if (!registered && !atexit(unlink_at_exit))
		registered = 1;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (cf_config_init(&c) < 0 || cf_config_init(&def) < 0)
		abort();
	err[0] = '\0';
	if (cf_config_load(&c, path, err, sizeof(err)) == 0 &&
	    cf_config_validate(&c, err, sizeof(err)) == 0 &&
	    cf_mount_validate(&c, err, sizeof(err)) == 0) {
		cf_config_dump(&c, devnull);
		(void)cf_config_reload(&def, &c, NULL, NULL);
	} else if (!err[0]) {
		abort(); /* a refusal says why */
	}
	cf_config_fini(&c);
	cf_config_fini(&def);
	return 0;
}
