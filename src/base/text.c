/* SPDX-License-Identifier: MIT */
/* text.c - name validation, UTF-8 repair, UUIDs and hex (see text.h). */
#include "base/text.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-id128.h>

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

/* Unicode general category Cf (format characters: bidi controls, zero-width characters, the
 * BOM, tags...), Unicode 15.0, as UnicodeData.txt lists it (Debian's unicode-data; the unit
 * test compares every code point against that file). Sorted, inclusive. */
static const struct {
	uint32_t lo, hi;
} cf_ranges[] = {
        {0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
        {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x180e, 0x180e},
        {0x200b, 0x200f},   {0x202a, 0x202e},   {0x2060, 0x2064},   {0x2066, 0x206f},
        {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
        {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
        {0xe0020, 0xe007f},
};

int
cf_text_is_format(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(cf_ranges) / sizeof(cf_ranges[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < cf_ranges[mid].lo)
			hi = mid;
		else if (cp > cf_ranges[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* What a name may not hold: C0, DEL, C1, format characters (Cf) and the line and paragraph
 * separators, which render as a line break. */
static int
invisible(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cf_text_is_format(cp);
}

int
cf_text_has_invisible(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_next(p + i, len - i, &cp);

		if (k && invisible(cp))
			return 1;
		i += k ? k : 1;
	}
	return 0;
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

		if (!k || invisible(cp))
			return -EINVAL;
		i += k;
	}
	return 0;
}

/* The bytes a continuation byte may be, by what came before it: any continuation byte, or the
 * second byte after E0 (no overlong form), ED (no surrogate), F0 (no overlong form) and F4
 * (nothing above U+10FFFF). */
static const unsigned char cont_lo[] = {0x80, 0xa0, 0x80, 0x90, 0x80};
static const unsigned char cont_hi[] = {0xbf, 0xbf, 0x9f, 0xbf, 0x8f};

/* state: the continuation bytes still to come (0..3) in its low two bits, above them the index
 * of the range the next one must be in (cont_lo, cont_hi). */
int
cf_text_utf8_feed(uint8_t *state, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	unsigned need = *state & 3, range = *state >> 2;

	for (size_t i = 0; i < len; i++) {
		unsigned c = p[i];

		if (need) {
			if (c < cont_lo[range] || c > cont_hi[range])
				return -EILSEQ;
			need--;
			range = 0;
		} else if (c >= 0x80) {
			if (c < 0xc2 || c > 0xf4)
				return -EILSEQ; /* a continuation, an overlong lead byte, beyond 4
				                 */
			if (c < 0xe0) {
				need = 1;
			} else if (c < 0xf0) {
				need = 2;
				range = c == 0xe0 ? 1 : c == 0xed ? 2 : 0;
			} else {
				need = 3;
				range = c == 0xf0 ? 3 : c == 0xf4 ? 4 : 0;
			}
		}
	}
	*state = (uint8_t)(range << 2 | need);
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
	sd_id128_t id;

	/* libsystemd 252 never fails here (it reads getrandom(GRND_INSECURE), which does not wait
	 * for entropy), but its contract allows an error: unique on this node is what matters. */
	if (sd_id128_randomize(&id) < 0) {
		id.qwords[0] = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
		id.qwords[1] = salt;
		id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40);
		id.bytes[8] = (uint8_t)((id.bytes[8] & 0x3f) | 0x80);
	}
	sd_id128_to_uuid_string(id, out);
}

void
cf_text_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*out++ = hex[in[i] >> 4];
		*out++ = hex[in[i] & 15];
	}
	*out = '\0';
}

static int
hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
cf_text_unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
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

/* cf_text_json_str() into out, or with out NULL the length it would write. */
static size_t
json_str(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 1;

	if (out)
		out[0] = '"';
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n = c < 0x80 ? 1 : utf8_next(p + i, len - i, &cp);
		const char *e = NULL;

		if (n == 1)
			e = c == '"'    ? "\\\""
			    : c == '\\' ? "\\\\"
			    : c == '\b' ? "\\b"
			    : c == '\f' ? "\\f"
			    : c == '\n' ? "\\n"
			    : c == '\r' ? "\\r"
			    : c == '\t' ? "\\t"
			    : c < 0x20  ? "\\u00"
			                : NULL;
		if (!n) { /* not UTF-8: U+FFFD */
			if (out)
				memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			n = 1;
		} else if (!e) {
			if (out)
				memcpy(out + o, p + i, n);
			o += n;
		} else if (e[2]) {
			if (out) {
				memcpy(out + o, e, 4);
				out[o + 4] = hex[c >> 4];
				out[o + 5] = hex[c & 15];
			}
			o += 6;
		} else {
			if (out)
				memcpy(out + o, e, 2);
			o += 2;
		}
		i += n;
	}
	if (out)
		out[o] = '"';
	return o + 1;
}

size_t
cf_text_json_str(const char *s, size_t len, char *out)
{
	return json_str(s, len, out);
}

size_t
cf_text_json_len(const char *s, size_t len)
{
	return json_str(s, len, NULL);
}

size_t
cf_text_escape(const char *s, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (!outlen)
		return 0;
	for (size_t i = 0; i < len;) {
		char esc[12];
		size_t n, e = 0;
		uint32_t cp;

		n = utf8_next(p + i, len - i, &cp);
		if (!n) { /* not UTF-8: the byte, so 0x9b (CSI to a VT220) cannot pass either */
			esc[e++] = '\\';
			esc[e++] = 'x';
			esc[e++] = hex[p[i] >> 4];
			esc[e++] = hex[p[i] & 15];
			n = 1;
		} else if (cp == '\\' || cp == '\n' || cp == '\r' || cp == '\t') {
			esc[e++] = '\\';
			esc[e++] = cp == '\\' ? '\\' : cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
		} else if (cp < 0x80 && invisible(cp)) {
			esc[e++] = '\\';
			esc[e++] = 'x';
			esc[e++] = hex[cp >> 4];
			esc[e++] = hex[cp & 15];
		} else if (invisible(cp)) {
			int digits = cp > 0xffff ? 8 : 4;

			esc[e++] = '\\';
			esc[e++] = cp > 0xffff ? 'U' : 'u';
			for (int d = digits - 1; d >= 0; d--)
				esc[e++] = hex[(cp >> (4 * d)) & 15];
		} else {
			memcpy(esc, p + i, n);
			e = n;
		}
		/* Whole sequences only: a cut never leaves half an escape or half a character. */
		if (o + e >= outlen)
			break;
		memcpy(out + o, esc, e);
		o += e;
		i += n;
	}
	out[o] = '\0';
	return o;
}
