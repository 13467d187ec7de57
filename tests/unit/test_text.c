/* SPDX-License-Identifier: MIT */
/* test_text.c - name validation (length, UTF-8, control characters, format characters, edge
 * spaces), the log escaper, UTF-8 repair, UUIDs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/text.h"

/* Checks a NUL-terminated string (its strlen is the length). */
static int
ok(const char *s, size_t min, size_t max, int no_edge_space)
{
	return cf_text_name_ok(s, strlen(s), min, max, no_edge_space);
}

static int
ok_uuid(const char *s, char *out)
{
	return cf_text_uuid_parse(s, strlen(s), out);
}

static void
test_lengths(void **state)
{
	char buf[CF_ROOM_NAME_MAX + 2];

	memset(buf, 'a', sizeof(buf));
	/* Empty: only when min is 0. */
	assert_int_equal(cf_text_name_ok("", 0, 1, CF_ROOM_NAME_MAX, 1), -EINVAL);
	assert_int_equal(cf_text_name_ok("", 0, 0, CF_ROOM_NAME_MAX, 1), 0);
	assert_int_equal(cf_text_name_ok("", 0, 0, CF_ROOM_NAME_MAX, 0), 0);
	assert_int_equal(cf_text_name_ok(buf, 1, 1, CF_ROOM_NAME_MAX, 1), 0);
	assert_int_equal(cf_text_name_ok(buf, CF_ROOM_NAME_MAX - 1, 1, CF_ROOM_NAME_MAX, 1), 0);
	assert_int_equal(cf_text_name_ok(buf, CF_ROOM_NAME_MAX, 1, CF_ROOM_NAME_MAX, 1), 0);
	assert_int_equal(cf_text_name_ok(buf, CF_ROOM_NAME_MAX + 1, 1, CF_ROOM_NAME_MAX, 1),
	                 -EINVAL);
	/* A minimum above 1. */
	assert_int_equal(cf_text_name_ok(buf, 2, 3, 10, 0), -EINVAL);
	assert_int_equal(cf_text_name_ok(buf, 3, 3, 10, 0), 0);
	/* Lengths are bytes, not characters: "é" is 2 bytes, "€" 3, U+1F600 4. */
	assert_int_equal(ok("\xc3\xa9", 1, 1, 1), -EINVAL);
	assert_int_equal(ok("\xc3\xa9", 1, 2, 1), 0);
	assert_int_equal(ok("\xe2\x82\xac\xe2\x82\xac", 1, 5, 1), -EINVAL);
	assert_int_equal(ok("\xe2\x82\xac\xe2\x82\xac", 1, 6, 1), 0);
	assert_int_equal(ok("\xf0\x9f\x98\x80", 1, 3, 1), -EINVAL);
	assert_int_equal(ok("\xf0\x9f\x98\x80", 1, 4, 1), 0);
	/* Only len bytes are looked at. */
	assert_int_equal(cf_text_name_ok("ab\x01", 2, 1, 10, 1), 0);
}

static void
test_valid_utf8(void **state)
{
	assert_int_equal(ok("alice", 1, 32, 1), 0);
	assert_int_equal(ok("Zo\xc3\xab", 1, 32, 1), 0);               /* Zoë */
	assert_int_equal(ok("\xe6\x97\xa5\xe6\x9c\xac", 1, 32, 1), 0); /* 日本 */
	assert_int_equal(ok("\xf0\x9f\x98\x80 smile", 1, 32, 1), 0);   /* U+1F600 */
	assert_int_equal(ok("\xc2\xa0", 1, 32, 1), 0);                 /* U+00A0: not C1 */
	assert_int_equal(ok("\xc2\x80", 1, 32, 1), -EINVAL);           /* U+0080 is C1 */
	assert_int_equal(ok("\xdf\xbf", 1, 32, 1), 0);                 /* U+07FF */
	assert_int_equal(ok("\xe0\xa0\x80", 1, 32, 1), 0);             /* U+0800 */
	assert_int_equal(ok("\xed\x9f\xbf", 1, 32, 1), 0);             /* U+D7FF */
	assert_int_equal(ok("\xee\x80\x80", 1, 32, 1), 0);             /* U+E000 */
	assert_int_equal(ok("\xef\xbf\xbd", 1, 32, 1), 0);             /* U+FFFD */
	assert_int_equal(ok("\xf0\x90\x80\x80", 1, 32, 1), 0);         /* U+10000 */
	assert_int_equal(ok("\xf4\x8f\xbf\xbf", 1, 32, 1), 0);         /* U+10FFFF */
	assert_int_equal(ok("a-b_c.d (e) ~!", 1, 32, 1), 0);
}

static void
test_invalid_utf8(void **state)
{
	/* Overlong encodings. */
	assert_int_equal(ok("\xc0\xaf", 1, 32, 0), -EINVAL); /* '/' in 2 bytes */
	assert_int_equal(ok("\xc1\xbf", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\xe0\x80\xaf", 1, 32, 0), -EINVAL);             /* '/' in 3 bytes */
	assert_int_equal(ok("\xe0\x9f\xbf", 1, 32, 0), -EINVAL);             /* U+07FF in 3 bytes */
	assert_int_equal(ok("\xf0\x80\x80\xaf", 1, 32, 0), -EINVAL);         /* '/' in 4 bytes */
	assert_int_equal(ok("\xf0\x8f\xbf\xbf", 1, 32, 0), -EINVAL);         /* U+FFFF in 4 bytes */
	assert_int_equal(cf_text_name_ok("\xc0\x80", 2, 1, 32, 0), -EINVAL); /* NUL, overlong */
	/* Surrogates. */
	assert_int_equal(ok("\xed\xa0\x80", 1, 32, 0), -EINVAL);             /* U+D800 */
	assert_int_equal(ok("\xed\xbf\xbf", 1, 32, 0), -EINVAL);             /* U+DFFF */
	assert_int_equal(ok("\xed\xa0\xbd\xed\xb8\x80", 1, 32, 0), -EINVAL); /* CESU pair */
	/* Above U+10FFFF. */
	assert_int_equal(ok("\xf4\x90\x80\x80", 1, 32, 0), -EINVAL); /* U+110000 */
	assert_int_equal(ok("\xf7\xbf\xbf\xbf", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\xf8\x88\x80\x80\x80", 1, 32, 0), -EINVAL); /* 5-byte form */
	assert_int_equal(ok("\xfc\x84\x80\x80\x80\x80", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\xfe", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\xff", 1, 32, 0), -EINVAL);
	/* Truncated: at the end, and followed by something that is not a continuation. */
	assert_int_equal(ok("ab\xc3", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("ab\xe2\x82", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("ab\xf0\x9f\x98", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\xc3"
	                    "a",
	                    1, 32, 0),
	                 -EINVAL);
	assert_int_equal(ok("\xe2\x82"
	                    "a",
	                    1, 32, 0),
	                 -EINVAL);
	/* Truncated by len although the bytes after it would complete it. */
	assert_int_equal(cf_text_name_ok("a\xc3\xa9", 2, 1, 32, 0), -EINVAL);
	assert_int_equal(cf_text_name_ok("\xf0\x9f\x98\x80", 3, 1, 32, 0), -EINVAL);
	/* Lone continuation bytes. */
	assert_int_equal(ok("\x80", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("a\xbf"
	                    "b",
	                    1, 32, 0),
	                 -EINVAL);
	/* Latin-1, not UTF-8. */
	assert_int_equal(ok("caf\xe9", 1, 32, 0), -EINVAL);
}

static void
test_control_characters(void **state)
{
	char buf[4];

	/* Every C0 control, NUL included (counted by len). */
	for (int c = 0; c < 0x20; c++) {
		buf[0] = 'a';
		buf[1] = (char)c;
		buf[2] = 'b';
		buf[3] = '\0';
		if (cf_text_name_ok(buf, 3, 1, 32, 0) != -EINVAL)
			fail_msg("C0 control 0x%02x accepted", c);
	}
	assert_int_equal(ok("a\x7f"
	                    "b",
	                    1, 32, 0),
	                 -EINVAL); /* DEL */
	assert_int_equal(ok("\x7f", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("a\xc2\x85"
	                    "b",
	                    1, 32, 0),
	                 -EINVAL);                           /* U+0085 NEL */
	assert_int_equal(ok("\xc2\x9f", 1, 32, 0), -EINVAL); /* U+009F */
	assert_int_equal(ok("\xc2\x9b", 1, 32, 0), -EINVAL); /* U+009B CSI */
	assert_int_equal(ok("a\tb", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("a\nb", 1, 32, 0), -EINVAL);
	assert_int_equal(ok("\x1b[31m", 1, 32, 0), -EINVAL);
	/* The neighbours are fine. */
	assert_int_equal(ok("~", 1, 32, 0), 0);        /* 0x7e */
	assert_int_equal(ok(" ", 1, 32, 0), 0);        /* 0x20 */
	assert_int_equal(ok("\xc2\xa1", 1, 32, 0), 0); /* U+00A1 */
}

static void
test_edge_spaces(void **state)
{
	/* Rejected with no_edge_space ... */
	assert_int_equal(ok(" alice", 1, 32, 1), -EINVAL);
	assert_int_equal(ok("alice ", 1, 32, 1), -EINVAL);
	assert_int_equal(ok(" ", 1, 32, 1), -EINVAL);
	assert_int_equal(ok("  ", 1, 32, 1), -EINVAL);
	/* ... accepted without. */
	assert_int_equal(ok(" alice", 1, 32, 0), 0);
	assert_int_equal(ok("alice ", 1, 32, 0), 0);
	assert_int_equal(ok(" ", 1, 32, 0), 0);
	/* Inner spaces are always fine. */
	assert_int_equal(ok("alice b", 1, 32, 1), 0);
	assert_int_equal(ok("a  b", 1, 32, 1), 0);
	/* Only the trailing byte of len counts as the edge. */
	assert_int_equal(cf_text_name_ok("ab ", 2, 1, 32, 1), 0);
}

/* The Cf table against the Unicode Character Database that Debian's unicode-data installs:
 * every code point listed there is Cf in the table exactly when its category is Cf. Code
 * points not listed (unassigned, or inside First/Last ranges, none of which is Cf) must not be
 * in the table either. */
static void
test_format_table(void **state)
{
	const char *path = "/usr/share/unicode/UnicodeData.txt";
	FILE *f = fopen(path, "r");
	char line[512];
	static unsigned char listed_cf[0x110000];
	unsigned n_cf = 0;

	(void)state;
	if (!f)
		fail_msg("%s is missing: install unicode-data (scripts/install-deps.sh)", path);
	while (fgets(line, sizeof(line), f)) {
		unsigned long cp = strtoul(line, NULL, 16);
		const char *cat = strchr(line, ';');

		cat = cat ? strchr(cat + 1, ';') : NULL;
		assert_non_null(cat);
		if (!strncmp(cat + 1, "Cf;", 3)) {
			listed_cf[cp] = 1;
			n_cf++;
		}
	}
	fclose(f);
	assert_true(n_cf >= 170); /* Unicode 15.0 has 170 */
	for (uint32_t cp = 0; cp < 0x110000; cp++)
		if (cf_text_is_format(cp) != listed_cf[cp])
			fail_msg("U+%04X: table says %d, UnicodeData.txt %d", (unsigned)cp,
			         cf_text_is_format(cp), listed_cf[cp]);
}

static void
test_format_characters(void **state)
{
	(void)state;
	/* Look-alike names: bidi overrides and isolates, zero-width characters, the BOM. */
	assert_int_equal(ok("\xe2\x80\xae"
	                    "ecila",
	                    1, 32, 1),
	                 -EINVAL);                                    /* U+202E RLO */
	assert_int_equal(ok("al\xe2\x80\x8bice", 1, 32, 1), -EINVAL); /* U+200B ZWSP */
	assert_int_equal(ok("alice\xe2\x80\x8d", 1, 32, 1), -EINVAL); /* U+200D ZWJ */
	assert_int_equal(ok("\xe2\x80\x8f", 1, 32, 1), -EINVAL);      /* U+200F RLM */
	assert_int_equal(ok("a\xe2\x81\xa6"
	                    "b",
	                    1, 32, 1),
	                 -EINVAL); /* U+2066 LRI */
	assert_int_equal(ok("\xef\xbb\xbf"
	                    "bob",
	                    1, 32, 1),
	                 -EINVAL); /* U+FEFF */
	assert_int_equal(ok("bo\xc2\xad"
	                    "b",
	                    1, 32, 1),
	                 -EINVAL);                                    /* U+00AD soft hyphen */
	assert_int_equal(ok("\xd8\x9c", 1, 32, 1), -EINVAL);          /* U+061C ALM */
	assert_int_equal(ok("x\xf3\xa0\x80\x81", 1, 32, 1), -EINVAL); /* U+E0001 tag */
	assert_int_equal(ok("x\xf3\xa0\x81\xbf", 1, 32, 1), -EINVAL); /* U+E007F cancel tag */
	assert_int_equal(ok("a\xe2\x80\xa8"
	                    "b",
	                    1, 32, 1),
	                 -EINVAL); /* U+2028 line sep. */
	assert_int_equal(ok("a\xe2\x80\xa9"
	                    "b",
	                    1, 32, 1),
	                 -EINVAL); /* U+2029 para. sep. */
	/* The neighbours are fine. */
	assert_int_equal(ok("a\xe2\x80\x8a"
	                    "b",
	                    1, 32, 1),
	                 0); /* U+200A hair space */
	assert_int_equal(ok("a\xe2\x80\x90"
	                    "b",
	                    1, 32, 1),
	                 0);                                /* U+2010 hyphen */
	assert_int_equal(ok("a\xe2\x80\xaf", 1, 32, 1), 0); /* U+202F */
	assert_int_equal(ok("\xef\xbb\xbe", 1, 32, 1), 0);  /* U+FEFE */
	assert_int_equal(ok("\xc2\xac", 1, 32, 1), 0);      /* U+00AC */
	/* has_invisible: the same set, in any text (invalid UTF-8 is skipped, not refused). */
	assert_true(cf_text_has_invisible("ab\xe2\x80\xae", 5));
	assert_true(cf_text_has_invisible("\xff\xe2\x80\x8b", 4));
	assert_true(cf_text_has_invisible("a\x1b", 2));
	assert_true(cf_text_has_invisible("a\0b", 3));
	assert_false(cf_text_has_invisible("alice b", 7));
	assert_false(cf_text_has_invisible("caf\xe9", 4));
	assert_false(cf_text_has_invisible("\xe6\x97\xa5", 3));
	assert_false(cf_text_has_invisible("ab\xe2\x80\xae", 2)); /* only len bytes */
	assert_true(cf_text_is_format(0x202e));
	assert_false(cf_text_is_format(0x202f));
	assert_false(cf_text_is_format(0x110000));
}

static const char *
esc(const char *s, size_t len, size_t outlen)
{
	static char out[256];

	assert_true(outlen <= sizeof(out));
	memset(out, 'Z', sizeof(out));
	cf_text_escape(s, len, out, outlen);
	return out;
}
#define ESC(s) esc(s, sizeof(s) - 1, 256)

static void
test_escape(void **state)
{
	char all[256], out[1100];
	size_t n;

	(void)state;
	assert_string_equal(ESC("plain text, 'quotes' and \"double\""),
	                    "plain text, 'quotes' and \"double\"");
	assert_string_equal(ESC("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
	assert_string_equal(ESC("a\nforged line\r\tb"), "a\\nforged line\\r\\tb");
	assert_string_equal(ESC("back\\slash"), "back\\\\slash");
	assert_string_equal(ESC("nul\0x"), "nul\\x00x");
	assert_string_equal(ESC("del\x7f"), "del\\x7f");
	assert_string_equal(ESC("\xc2\x9b"
	                        "31m"),
	                    "\\u009b31m"); /* C1 CSI, as UTF-8 */
	assert_string_equal(ESC("\x9b"
	                        "31m"),
	                    "\\x9b31m"); /* raw 0x9b: not UTF-8 */
	assert_string_equal(ESC("caf\xe9"), "caf\\xe9");
	assert_string_equal(ESC("\xc0\xaf"), "\\xc0\\xaf"); /* overlong */
	assert_string_equal(ESC("\xe2\x80\xae"
	                        "txt.exe"),
	                    "\\u202etxt.exe");
	assert_string_equal(ESC("\xe2\x80\xa8"), "\\u2028");
	assert_string_equal(ESC("\xf3\xa0\x80\x81"), "\\U000e0001");
	/* Printable UTF-8 is kept. */
	assert_string_equal(ESC("Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x98\x80"),
	                    "Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x98\x80");
	/* A cut never splits an escape or a character, and the result is NUL-terminated. */
	assert_string_equal(esc("ab\x1b", 3, 5), "ab");
	assert_string_equal(esc("ab\x1b", 3, 7), "ab\\x1b");
	assert_string_equal(esc("a\xc3\xa9", 3, 3), "a");
	assert_string_equal(esc("abc", 3, 1), "");
	assert_int_equal(cf_text_escape("abc", 3, out, 0), 0);
	/* Every byte value: the output has no control byte, no byte >= 0x80 that is not part of
	 * valid UTF-8, and fits in 4 bytes per input byte. */
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	n = cf_text_escape(all, sizeof(all), out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_true(n <= 4 * sizeof(all));
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			fail_msg("byte 0x%02x at %zu left unescaped", (unsigned char)out[i], i);
}
#undef ESC

static void
test_uuid_parse(void **state)
{
	char out[37];
	const char *canon = "6ba7b810-9dad-41d1-80b4-00c04fd430c8";

	(void)state;
	assert_int_equal(cf_text_uuid_parse(canon, 36, out), 0);
	assert_string_equal(out, canon);
	/* Upper case, braces and the URN prefix are accepted; the result is lowercase. */
	assert_int_equal(ok_uuid("6BA7B810-9DAD-41D1-80B4-00C04FD430C8", out), 0);
	assert_string_equal(out, canon);
	assert_int_equal(ok_uuid("{6ba7b810-9dad-41d1-80b4-00c04fd430c8}", out), 0);
	assert_string_equal(out, canon);
	assert_int_equal(ok_uuid("urn:uuid:6ba7b810-9dad-41d1-80b4-00c04fd430c8", out), 0);
	assert_string_equal(out, canon);
	assert_int_equal(ok_uuid("00000000-0000-0000-0000-000000000000", out), 0);
	/* Versions 0 to 5 only. */
	assert_int_equal(ok_uuid("6ba7b810-9dad-51d1-80b4-00c04fd430c8", out), 0);
	assert_int_equal(ok_uuid("6ba7b810-9dad-61d1-80b4-00c04fd430c8", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-71d1-80b4-00c04fd430c8", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-f1d1-80b4-00c04fd430c8", out), -EINVAL);
	/* Not the canonical form. */
	assert_int_equal(ok_uuid("6ba7b8109dad41d180b400c04fd430c8", out), -EINVAL);
	assert_int_equal(ok_uuid("{6ba7b810-9dad-41d1-80b4-00c04fd430c8", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-41d1-80b4-00c04fd430c8}", out), -EINVAL);
	assert_int_equal(ok_uuid("urn:uuid:{6ba7b810-9dad-41d1-80b4-00c04fd430c8}", out), -EINVAL);
	assert_int_equal(ok_uuid("urn:uuid:6ba7b810-9dad-41d1-80b4-00c04", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-41d1-80b4-00c04fd430c", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-41d1-80b4-00c04fd430c8a", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810x9dad-41d1-80b4-00c04fd430c8", out), -EINVAL);
	assert_int_equal(ok_uuid("6ba7b810-9dad-41d1-80b4-00c04fd430g8", out), -EINVAL);
	assert_int_equal(ok_uuid("", out), -EINVAL);
	/* Canonical: only the lowercase hyphenated form, exactly 36 bytes. */
#define CANON(x) cf_text_uuid_canonical(x, strlen(x))
	assert_true(CANON("6ba7b810-9dad-41d1-80b4-00c04fd430c8"));
	assert_false(CANON("6BA7B810-9DAD-41D1-80B4-00C04FD430C8"));
	assert_false(CANON("{6ba7b810-9dad-41d1-80b4-00c04fd430c8}"));
	assert_false(CANON("6ba7b810-9dad-41d1-80b4-00c04fd430c"));
	assert_false(CANON("6ba7b810-9dad-61d1-80b4-00c04fd430c8")); /* version 6 */
	assert_false(CANON("alice"));
#undef CANON
}

static void
test_uuid4(void **state)
{
	char a[37], b[37], out[37];

	(void)state;
	cf_text_uuid4(a, 1);
	cf_text_uuid4(b, 2);
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
	assert_int_equal(cf_text_uuid_parse(a, 36, out), 0);
	assert_string_equal(out, a);
}

static void
test_utf8_sanitize(void **state)
{
	char *s;

	(void)state;
	s = cf_text_utf8_sanitize("a\xff"
	                          "b\xc3\xa9",
	                          5);
	assert_string_equal(s, "a\xef\xbf\xbd"
	                       "b\xc3\xa9");
	free(s);
	/* Overlong and surrogate encodings are invalid too, one U+FFFD per byte. */
	s = cf_text_utf8_sanitize("\xc0\xaf", 2);
	assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
}

/* One piece: 0 and state 0 (valid), 0 and state != 0 (ends inside a character), -EILSEQ. */
static int
feed_all(const char *s, size_t len)
{
	uint8_t st = 0;

	if (cf_text_utf8_feed(&st, s, len) < 0)
		return -EILSEQ;
	return st ? 1 : 0;
}

static void
test_utf8_feed(void **state)
{
	static const char *const valid[] = {"",
	                                    "plain ascii",
	                                    "caf\xc3\xa9",
	                                    "\xe2\x82\xac",
	                                    "\xef\xbf\xbd",
	                                    "\xf0\x9f\x98\x80",
	                                    "\xed\x9f\xbf",
	                                    "\xee\x80\x80",
	                                    "\xf4\x8f\xbf\xbf",
	                                    "\xf0\x90\x80\x80",
	                                    "\xe0\xa0\x80",
	                                    "\xc2\x80"};
	static const char *const invalid[] = {"\xc0\xaf",
	                                      "\xc1\xbf",
	                                      "\xe0\x80\xaf",
	                                      "\xe0\x9f\xbf",
	                                      "\xf0\x80\x80\xaf",
	                                      "\xf0\x8f\xbf\xbf",
	                                      "\xed\xa0\x80",
	                                      "\xed\xbf\xbf",
	                                      "\xf4\x90\x80\x80",
	                                      "\xf5\x80\x80\x80",
	                                      "\xf8\x88\x80\x80\x80",
	                                      "\xfe",
	                                      "\xff",
	                                      "\x80",
	                                      "a\xbf"
	                                      "b",
	                                      "caf\xe9 ",
	                                      "\xc3"
	                                      "a",
	                                      "\xe2\x82"
	                                      "a",
	                                      "\xf0\x9f\x98"
	                                      "a"};
	uint8_t st;

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (feed_all(valid[i], strlen(valid[i])) != 0)
			fail_msg("valid[%zu] refused", i);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (feed_all(invalid[i], strlen(invalid[i])) != -EILSEQ)
			fail_msg("invalid[%zu] taken", i);
	/* Truncated at the end: no error yet, but not a whole character either. */
	assert_int_equal(feed_all("ab\xc3", 3), 1);
	assert_int_equal(feed_all("ab\xf0\x9f\x98", 5), 1);
	/* A NUL is a character. */
	assert_int_equal(feed_all("a\0b", 3), 0);
	/* Split anywhere, every byte apart: the same verdict. */
	st = 0;
	for (const char *p = "\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9"; *p; p++)
		assert_int_equal(cf_text_utf8_feed(&st, p, 1), 0);
	assert_int_equal(st, 0);
	st = 0;
	assert_int_equal(cf_text_utf8_feed(&st, "\xed", 1), 0);
	assert_int_equal(cf_text_utf8_feed(&st, "\xa0", 1), -EILSEQ); /* a surrogate, split */
	st = 0;
	assert_int_equal(cf_text_utf8_feed(&st, "\xf4", 1), 0);
	assert_int_equal(cf_text_utf8_feed(&st, "\x8f", 1), 0);
	assert_int_equal(cf_text_utf8_feed(&st, "\xbf\xbf", 2), 0);
	assert_int_equal(st, 0);
	/* The verdict of the repair (cf_text_utf8_sanitize() changes nothing only in valid UTF-8),
	 * on every 2-byte string and split 3-byte prefixes. */
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++) {
			char in[2] = {(char)a, (char)b};
			char *r = cf_text_utf8_sanitize(in, 2);
			int same = r && !memcmp(r, in, 2) && r[2] == '\0';

			assert_non_null(r);
			st = 0;
			if ((cf_text_utf8_feed(&st, in, 1) == 0 &&
			     cf_text_utf8_feed(&st, in + 1, 1) == 0 && st == 0) != same)
				fail_msg("%02x %02x: feed and sanitize disagree", a, b);
			free(r);
		}
}

static void
test_hex(void **state)
{
	static const unsigned char b[] = {0x00, 0x7f, 0xa5, 0xff};
	unsigned char out[4];
	char hex[9];

	(void)state;
	cf_text_hex(b, sizeof(b), hex);
	assert_string_equal(hex, "007fa5ff");
	assert_int_equal(cf_text_unhex(hex, out, sizeof(out)), 0);
	assert_memory_equal(out, b, sizeof(b));
	/* One spelling: uppercase, other lengths and non-digits are refused. */
	assert_int_equal(cf_text_unhex("007FA5FF", out, sizeof(out)), -EINVAL);
	assert_int_equal(cf_text_unhex("007fa5f", out, sizeof(out)), -EINVAL);
	assert_int_equal(cf_text_unhex("007fa5ff00", out, sizeof(out)), -EINVAL);
	assert_int_equal(cf_text_unhex("007fa5fg", out, sizeof(out)), -EINVAL);
	assert_int_equal(cf_text_unhex(" 07fa5ff", out, sizeof(out)), -EINVAL);
}

/* cf_text_json_str() against jansson's own dump of the same string: the same bytes. */
static void
json_like_jansson(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *want = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	char out[CF_TEXT_JSON_MAX(64)];
	size_t n;

	assert_true(len <= 64);
	assert_non_null(want);
	n = cf_text_json_str(s, len, out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_int_equal(cf_text_json_len(s, len), n);
	free(want);
	json_decref(j);
}

static void
test_json_str(void **state)
{
	static const char *const utf8[] = {"",
	                                   "alice",
	                                   "h\xc3\xa9llo",
	                                   "\xe6\x97\xa5\xe6\x9c\xac",
	                                   "\xf0\x9f\x98\x80",
	                                   "\xe2\x80\xa8",
	                                   "a/b",
	                                   "\x7f"};
	char worst[64], out[CF_TEXT_JSON_MAX(64)];

	(void)state;
	/* Every ASCII byte but NUL, between two letters. */
	for (int c = 1; c < 0x80; c++) {
		char s[3] = {'a', (char)c, 'z'};

		json_like_jansson(s, 3);
	}
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
		json_like_jansson(utf8[i], strlen(utf8[i]));
	/* Bytes that are not UTF-8 each become U+FFFD: the text stays valid JSON. */
	assert_int_equal(cf_text_json_str("a\xff"
	                                  "b",
	                                  3, out),
	                 7);
	assert_memory_equal(out,
	                    "\"a\xef\xbf\xbd"
	                    "b\"",
	                    7);
	assert_int_equal(cf_text_json_str("\xe6\x97", 2, out), 8);
	assert_memory_equal(out, "\"\xef\xbf\xbd\xef\xbf\xbd\"", 8);
	assert_int_equal(cf_text_json_len("\xe6\x97", 2), 8);
	/* The bound holds for the worst input. */
	memset(worst, 1, sizeof(worst));
	assert_int_equal(cf_text_json_str(worst, sizeof(worst), out), CF_TEXT_JSON_MAX(64));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lengths),       cmocka_unit_test(test_valid_utf8),
	        cmocka_unit_test(test_invalid_utf8),  cmocka_unit_test(test_control_characters),
	        cmocka_unit_test(test_format_table),  cmocka_unit_test(test_format_characters),
	        cmocka_unit_test(test_escape),        cmocka_unit_test(test_edge_spaces),
	        cmocka_unit_test(test_uuid_parse),    cmocka_unit_test(test_uuid4),
	        cmocka_unit_test(test_utf8_sanitize), cmocka_unit_test(test_hex),
	        cmocka_unit_test(test_json_str),      cmocka_unit_test(test_utf8_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
