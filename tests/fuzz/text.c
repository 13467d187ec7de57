/* SPDX-License-Identifier: MIT */
/* text.c - the name rules and the log escaper, which every client-chosen name and every logged
 * client string go through. Checks what they promise on any bytes: cf_text_escape() writes one
 * NUL-terminated line with no control byte; a name cf_text_name_ok() accepts holds nothing
 * cf_text_has_invisible() finds. */
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
	return 0;
}
