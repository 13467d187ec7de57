/* SPDX-License-Identifier: MIT */
/* text.h - rules for names that users choose (rooms, user names): length in bytes, valid UTF-8,
 * no control characters; UTF-8 repair; UUIDs as the seeds write and read them; hex. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CF_ROOM_NAME_MAX 64

/* 0 if s (NUL-terminated, len bytes) is valid UTF-8 of min..max bytes without C0/C1 control
 * characters, DEL, format characters (Unicode Cf: bidi controls, zero-width characters, the
 * BOM, tags) or U+2028/U+2029, and, with no_edge_space, neither starts nor ends with a space:
 * what one user could use to pass for another. -EINVAL otherwise. */
int cf_text_name_ok(const char *s, size_t len, size_t min, size_t max, int no_edge_space);

/* Whether cp is of Unicode general category Cf (Unicode 15.0). */
int cf_text_is_format(uint32_t cp);
/* Whether s (len bytes) holds a character cf_text_name_ok() refuses as invisible (C0, DEL, C1,
 * Cf, U+2028, U+2029), in its valid UTF-8 parts. For names that are otherwise any text. */
int cf_text_has_invisible(const char *s, size_t len);

/* Writes s (len bytes, any bytes) into out (outlen bytes, NUL-terminated) so that it is one
 * line a terminal shows as it is: backslash, \n, \r and \t as those escapes, other C0
 * controls, DEL and bytes that are not UTF-8 as \xNN, C1 controls, format characters (Cf)
 * and U+2028/U+2029 as \uNNNN or \UNNNNNNNN; everything else (valid UTF-8) unchanged. Stops
 * before an escape or character that would not fit. Returns the length written. */
size_t cf_text_escape(const char *s, size_t len, char *out, size_t outlen);

/* Bytes cf_text_json_str() may write for len bytes of input. */
#define CF_TEXT_JSON_MAX(len) (6 * (len) + 2)
/* Writes s (len bytes) into out as a quoted JSON string, escaped as jansson's json_dumps()
 * escapes one: '"' and '\' with a backslash, \b \f \n \r \t, other C0 controls as \u00XX,
 * everything else as it is; a byte that is not UTF-8 becomes U+FFFD, so the text stays valid
 * JSON. out holds CF_TEXT_JSON_MAX(len) bytes (not NUL-terminated). Returns the length written.
 * For lists too long to build as jansson trees (a room's members). */
size_t cf_text_json_str(const char *s, size_t len, char *out);
/* The length cf_text_json_str() writes for s. */
size_t cf_text_json_len(const char *s, size_t len);

/* Copy of s (len bytes) with each invalid UTF-8 byte replaced by U+FFFD, as Go does when it
 * marshals a string. New NUL-terminated string (embedded NULs are kept); NULL on OOM. */
char *cf_text_utf8_sanitize(const char *s, size_t len);

/* Checks that a byte stream given in pieces is UTF-8 as RFC 3629 defines it (no overlong
 * forms, surrogates or code points above U+10FFFF), as a WebSocket text message must be (RFC
 * 6455 8.1) while it arrives. *state is 0 before the first piece; after the last one it is 0
 * again only if the stream ended on a whole character. Returns 0, or -EILSEQ at the first byte
 * that no valid UTF-8 continues with (*state is then unchanged). */
int cf_text_utf8_feed(uint8_t *state, const void *buf, size_t len);

/* A random (version 4) UUID, lowercase and hyphenated, into out[37] (sd_id128_randomize()).
 * salt makes it unique on this node should libsystemd fail to give random bytes. */
void cf_text_uuid4(char *out, unsigned long long salt);

/* Parses a UUID as satori/go.uuid 1.1 reads one (seed 003): the hyphenated form of 36 hex
 * digits (either case), optionally in {braces} or after "urn:uuid:", with a version nibble of
 * 0 to 5. Writes the canonical lowercase form into out[37]. 0, or -EINVAL. */
int cf_text_uuid_parse(const char *s, size_t len, char *out);
/* Whether s (len bytes) is a UUID in that canonical form already, as confab writes the ids it
 * makes (seed sessions, accounts). */
int cf_text_uuid_canonical(const char *s, size_t len);

/* n bytes as 2n lowercase hex digits into out (2n + 1 bytes, NUL-terminated). */
void cf_text_hex(const unsigned char *in, size_t n, char *out);
/* Exactly 2n lowercase hex digits (all of s) into n bytes: 0, or -EINVAL (anything else, so
 * that one key has one spelling). */
int cf_text_unhex(const char *s, unsigned char *out, size_t n);

/* Whether a JSON object key matches a field name (lowercase ASCII) as Go's encoding/json
 * matches them: ASCII case folded, and also the Kelvin sign for k and the long s for s. */
int cf_text_go_key_is(const char *key, const char *name);
