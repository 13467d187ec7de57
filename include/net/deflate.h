/* SPDX-License-Identifier: MIT */
/* deflate.h - permessage-deflate (RFC 7692) on the listeners that offer it (deflate=on): lws's
 * extension negotiates it and compresses what a session sends, with bounded zlib settings;
 * what clients send compressed, confab inflates itself (deflate.c says why). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>

/* The extensions list of a listener with deflate=on (lws_context_creation_info.extensions). */
extern const struct lws_extension cf_deflate_extensions[];

/* The zlib settings of the compressor lws keeps per session: a 2^CF_DEFLATE_WBITS-byte window
 * and memLevel CF_DEFLATE_MEMLEVEL cost 2^(WBITS+2) + 2^(MEMLEVEL+9) bytes (zlib's
 * deflateInit2() formula: 24 KiB) beside its 6 KiB state, where zlib's default (15, 8) costs
 * 256 KiB; docs/benchmarks.md has the ratios and the memory measured. */
#define CF_DEFLATE_WBITS    12
#define CF_DEFLATE_MEMLEVEL 4
#define CF_DEFLATE_LEVEL    1
/* lws's per-session buffer for compressed output: 2^CF_DEFLATE_TX_BITS bytes. */
#define CF_DEFLATE_TX_BITS 12
/* The longest message lws compresses in one go, into that buffer: zlib at worst codes a byte in
 * 9 bits (a fixed-Huffman literal above 143; it picks a stored block when that is smaller, and
 * a match of 3 or more bytes is never longer than 9 bits a byte with a 2^12 window), plus 2
 * bytes for each block of at most 2^(MEMLEVEL+6) - 1 symbols and 6 for the flush. A longer
 * message lws compresses over several WRITEABLEs, reading it from the caller's buffer. */
#define CF_DEFLATE_ONE_GO 3584
_Static_assert(CF_DEFLATE_ONE_GO * 9 / 8 +
                               2 * (CF_DEFLATE_ONE_GO / ((1 << (CF_DEFLATE_MEMLEVEL + 6)) - 1) +
                                    1) +
                               6 <=
                       1 << CF_DEFLATE_TX_BITS,
               "a message of CF_DEFLATE_ONE_GO bytes compresses into lws's buffer");
/* What lws may still hold of a session's last write: one compressed message, or one part of a
 * longer one, and its frame header. */
#define CF_DEFLATE_HELD ((1u << CF_DEFLATE_TX_BITS) + 14)

/* Applies the settings above to a session that has just been established. Returns 1 when it
 * negotiated permessage-deflate, 0 when it did not. */
int cf_deflate_setup(struct lws *wsi);

/* Whether the Sec-WebSocket-Extensions offer of the upgrade wsi can be accepted as lws would
 * answer it (LWS_CALLBACK_CONFIRM_EXTENSION_OKAY). */
int cf_deflate_offer_ok(struct lws *wsi);

/* Inflates len bytes of a compressed message's payload as they arrive (first, last: its first
 * and final chunk) with the session's inflater *z (created on first use and kept for the next
 * messages: RFC 7692's context takeover), appending the output to *buf (*have bytes, realloc'd
 * as it grows). Never holds more than max bytes: -EMSGSIZE as soon as the message inflates to
 * more. -EBADMSG: not DEFLATE data; -ENOMEM. */
int cf_deflate_inflate(void **z, const void *in, size_t len, int first, int last,
                       unsigned char **buf, size_t *have, size_t max);
/* Frees an inflater (NULL: nothing). */
void cf_deflate_free(void *z);
