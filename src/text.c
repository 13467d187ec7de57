/* SPDX-License-Identifier: MIT */
/* text.c - name validation (see text.h). */
#include "confab/text.h"

#include <errno.h>
#include <stdint.h>

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length, or 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
cf_text_name_ok(const char *s, size_t len, size_t min, size_t max, int no_edge_space)
{
	const unsigned char *p = (const unsigned char *)s;

	if (len < min || len > max)
		return -EINVAL;
	if (no_edge_space && len && (p[0] == ' ' || p[len - 1] == ' '))
		return -EINVAL;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_next(p + i, len - i, &cp);

		if (!k || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return -EINVAL;
		i += k;
	}
	return 0;
}
