/* SPDX-License-Identifier: MIT */
/* accounts.c - cf_auth_file_decode(): state.dir/accounts.json, read at start. A damaged or
 * planted file must be refused with a reason, never crash the daemon or leak. */
#include "fuzz.h"

#include <errno.h>
#include "auth/auth_file.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_auth_rec *recs = NULL;
	size_t n = 0;
	char err[256];
	int r;

	err[0] = '\0';
	r = cf_auth_file_decode((const char *)data, size, &recs, &n, err, sizeof(err));
	if (r < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	/* What was decoded must encode again (the file is rewritten on every change). */
	{
		char *again = cf_auth_file_encode(recs, n);

		if (!again)
			abort();
		free(again);
	}
	for (size_t i = 0; i < n; i++) {
		free(recs[i].pub.name);
		free(recs[i].hash);
	}
	free(recs);
	return 0;
}
