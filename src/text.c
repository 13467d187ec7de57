/* SPDX-License-Identifier: MIT */
/* text.c - name validation, UTF-8 repair and UUIDs (see text.h). */
#include "confab/text.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/types.h>

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

char *
cf_text_utf8_sanitize(const char *s, size_t len)
{
	char *out = malloc(3 * len + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_next(p + i, len - i, &cp);

		if (!n) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(o, p + i, n);
		o += n;
		i += n;
	}
	*o = '\0';
	return out;
}

void
cf_text_uuid4(char *out, unsigned long long salt)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];

	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* No entropy yet (early boot): unique on this node is what matters. */
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20), x[2] = {t, salt};

		memcpy(b, x, sizeof(b));
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*out++ = '-';
		*out++ = hex[b[i] >> 4];
		*out++ = hex[b[i] & 15];
	}
	*out = '\0';
}

int
cf_text_uuid_parse(const char *s, size_t len, char *out)
{
	if (len == 36 + 9 && !memcmp(s, "urn:uuid:", 9)) {
		s += 9;
		len -= 9;
	} else if (len == 38 && s[0] == '{' && s[37] == '}') {
		s++;
		len -= 2;
	}
	if (len != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -EINVAL;
		} else if (c >= 'A' && c <= 'F') {
			c = (char)(c - 'A' + 'a');
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return -EINVAL;
		}
		out[i] = c;
	}
	out[36] = '\0';
	/* The version nibble: satori 1.1 knows versions 1 to 5 (and the nil UUID's 0). */
	return out[14] <= '5' && out[14] >= '0' ? 0 : -EINVAL;
}

int
cf_text_uuid_canonical(const char *s, size_t len)
{
	char canon[37];

	return len == 36 && cf_text_uuid_parse(s, len, canon) == 0 && !memcmp(canon, s, 36);
}

int
cf_text_go_key_is(const char *key, const char *name)
{
	for (; *name; name++) {
		char c = *key;

		if (c == *name || (c >= 'A' && c <= 'Z' && c - 'A' + 'a' == *name))
			key++;
		else if (*name == 'k' && !strncmp(key, "\xe2\x84\xaa", 3))
			key += 3;
		else if (*name == 's' && !strncmp(key, "\xc5\xbf", 2))
			key += 2;
		else
			return 0;
	}
	return *key == '\0';
}
