/* SPDX-License-Identifier: MIT */
/* redis_url.c - cf_redis_parse_url(): redis.url comes from the config file, the environment
 * (REDIS_URL and the other seed aliases) or --redis. Also checks what a parse promises: a
 * NUL-terminated error on failure, NUL-terminated fields within their arrays on success. */
#include "fuzz.h"

#include <errno.h>
#include "base/redis_url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_redis_target t;
	char err[256], *url;
	int r;

	if (size > 4096)
		return -1;
	url = fuzz_str(data, size);
	err[0] = '\0';
	r = cf_redis_parse_url(url, &t, err, sizeof(err));
	if (r < 0) {
		if (r != -EINVAL || !memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
	} else {
		if (!memchr(t.host, '\0', sizeof(t.host)) ||
		    !memchr(t.path, '\0', sizeof(t.path)) ||
		    !memchr(t.user, '\0', sizeof(t.user)) ||
		    !memchr(t.password, '\0', sizeof(t.password)) ||
		    !memchr(t.master, '\0', sizeof(t.master)) || t.nsentinels < 0 ||
		    t.nsentinels > CF_REDIS_SENTINELS_MAX)
			abort();
	}
	free(url);
	return 0;
}
