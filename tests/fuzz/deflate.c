/* SPDX-License-Identifier: MIT */
/* deflate.c - confab's inflater of what permessage-deflate clients send (cf_deflate_inflate(),
 * src/net/deflate.c), fed any bytes as messages in chunks: each input byte in front of a chunk
 * gives its length (byte >> 2), whether it ends its message (bit 0) and whether the session
 * starts over with a new inflater after it (bit 1, as one that closed would). Checks that a
 * message never holds more than the limit, and that an error leaves nothing behind (ASan's leak
 * check at exit). */
#include "fuzz.h"

#include <errno.h>

#include "net/deflate.h"

#define LIMIT 4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *z = NULL;
	unsigned char *buf = NULL;
	size_t have = 0, i = 0;
	int first = 1;

	while (i < size) {
		unsigned c = data[i++];
		size_t n = c >> 2;
		int last = c & 1, r;

		if (n > size - i)
			n = size - i;
		r = cf_deflate_inflate(&z, data + i, n, first, last, &buf, &have, LIMIT);
		i += n;
		if (have > LIMIT)
			abort();
		if (r < 0 && r != -EMSGSIZE && r != -EBADMSG)
			abort(); /* -ENOMEM: not from a fuzzer's inputs */
		first = r < 0 || last;
		if (first) {
			free(buf);
			buf = NULL;
			have = 0;
		}
		if (r < 0 || (c & 2)) {
			cf_deflate_free(z);
			z = NULL;
		}
	}
	free(buf);
	cf_deflate_free(z);
	return 0;
}
