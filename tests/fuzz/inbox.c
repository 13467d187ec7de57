/* SPDX-License-Identifier: MIT */
/* inbox.c - cf_inbox_load(): the offline inboxes in the state directory, read at start. The
 * input is the file's content; the harness names the file after the "user" the content gives
 * (when it is JSON with one), as the inbox does, so the messages themselves are parsed too.
 * Then what a loaded inbox does with them: take, expire and write back. The state directory
 * is in /dev/shm when there is one: the writes fsync. */
#include "fuzz.h"

#include <stdio.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/sha.h>
#include "base/log.h"
#include "base/metrics.h"
#include "base/state.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/inbox.h"

static char dir[64];
static struct cf_config cfg;

static void
cleanup(void)
{
	char cmd[128];

	cf_state_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "inbox fuzz: could not remove %s\n", dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/confab-fuzz-inbox-XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir) || cf_config_init(&cfg) < 0)
		abort();
	free(cfg.state_dir);
	cfg.state_dir = strdup(dir);
	if (cf_state_open(dir, err, sizeof(err)) < 0)
		abort();
	atexit(cleanup);
	cf_log_set_level(0);
	cf_metrics_init();
	return 0;
}

static void
name_of(const char *uid, char *out, size_t outlen)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)uid, strlen(uid), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, outlen, "inbox-%s.json", hex);
}

static int
remove_one(const char *name, void *ud)
{
	(void)ud;
	return cf_state_remove(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[128], err[512], uid[256] = "fuzz";
	json_t *o = json_loadb((const char *)data, size, 0, NULL);
	const char *u = json_string_value(json_object_get(o, "user"));
	struct cf_inbox *ib;
	struct cf_msg **msgs = NULL;
	size_t n;

	if (size > 64 * 1024) {
		json_decref(o);
		return -1;
	}
	if (u)
		snprintf(uid, sizeof(uid), "%s", u);
	json_decref(o);
	name_of(uid, name, sizeof(name));
	if (cf_state_write(name, data, size) < 0)
		abort();
	ib = cf_inbox_new(NULL, &cfg);
	if (!ib)
		abort();
	err[0] = '\0';
	if (cf_inbox_load(ib, 1700000000000, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
	} else {
		(void)cf_inbox_expire(ib, 1700000000000 + 86400000);
		n = cf_inbox_drain(ib, uid, 1700000000000, &msgs);
		for (size_t i = 0; i < n; i++) {
			if (cf_inbox_done(ib, uid, msgs[i]->mid) < 0)
				abort(); /* a drained message is held: its write must find it */
			cf_msg_unref(msgs[i]);
		}
		free(msgs);
	}
	cf_inbox_free(ib);
	(void)cf_state_list("inbox-", remove_one, NULL);
	return 0;
}
