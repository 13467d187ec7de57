/* SPDX-License-Identifier: MIT */
/* text.c - the name rules and the log escaper, which every client-chosen name and every logged
 * client string go through, and the UTF-8 check of every text message. Checks what they promise
 * on any bytes: cf_text_escape() writes one NUL-terminated line with no control byte; a name
 * cf_text_name_ok() accepts holds nothing cf_text_has_invisible() finds; cf_text_utf8_feed(),
 * given the bytes in two pieces split anywhere, takes exactly what cf_text_utf8_sanitize()
 * leaves unchanged. */
#include "fuzz.h"

#include "base/text.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t outlen = size * 10 + 1, n;
	char *out;

	if (size > 4096)
		return -1;
	out = malloc(outlen);
	if (!out)
		abort();
	n = cf_text_escape(s, size, out, outlen);
	if (n >= outlen || out[n] != '\0')
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
	if (cf_text_name_ok(s, size, 1, 256, 1) == 0 && cf_text_has_invisible(s, size))
		abort();
	free(out);
	{
		size_t cut = size ? data[0] % (size + 1) : 0;
		uint8_t st = 0;
		int fed = cf_text_utf8_feed(&st, s, cut) == 0 &&
		          cf_text_utf8_feed(&st, s + cut, size - cut) == 0 && st == 0;
		char *r = cf_text_utf8_sanitize(s, size);

		if (!r)
			abort();
		if (fed != (!memcmp(r, s, size) && r[size] == '\0'))
			abort();
		free(r);
	}
	return 0;
}
