/* SPDX-License-Identifier: MIT */
/* deflate.c - permessage-deflate (RFC 7692) on listeners with deflate=on. lws 4.1.6's extension
 * (lws_extension_callback_pm_deflate) answers the offer and compresses what sessions write
 * through it; this file wraps it to correct it, bounds its zlib settings, and inflates what
 * clients send in its place:
 * - lws's inflater is never used. It aborts the process on a crafted frame of a few bytes: a
 *   message whose last input byte leaves more output pending than its 128-byte buffer (our
 *   rx_buffer_size) and 5 more bytes hold fails assert(priv->rx.avail_out) after the trailer
 *   (extension-permessage-deflate.c:351; Debian builds lws with assertions), and the same end
 *   of a message without the trailer loses output. The wrapper lets the compressed payload
 *   through untouched, and session.c inflates it with cf_deflate_inflate(), bounded by the
 *   message limit.
 * - lws reads the RFC's no_context_takeover parameters as a client would: server_no_... makes
 *   it reset its inflater after each message and client_no_... its compressor. On a server it is
 *   the other way round; the wrapper swaps them as lws applies the client's offer.
 * - lws ignores an offer's server_max_window_bits (its answer never carries one, and it
 *   compresses with its own window), which a client asking for a smaller window refuses or
 *   cannot inflate: such offers are declined (cf_deflate_offer_ok()), as RFC 7692 7.1.2.1 says.
 * Whether a session negotiated it: lws_set_extension_option() fails only on a connection where
 * the extension is not active, and the settings are applied with it (cf_deflate_setup()). */
#define _GNU_SOURCE /* strcasestr */
#include "net/deflate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define PMD "permessage-deflate"

/* The index of an option in lws's table of them (the order of lws_ext_pm_deflate_options[],
 * which the handshake passes with LWS_EXT_CB_OPTION_SET). */
enum { SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER };

static int
ext_callback(struct lws_context *ctx, const struct lws_extension *ext, struct lws *wsi,
             enum lws_extension_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_ext_option_arg *oa = in;

	switch (reason) {
	case LWS_EXT_CB_PAYLOAD_RX:
		/* Not ours to handle: lws passes the payload on as it came (session.c inflates). */
		return 0;
	case LWS_EXT_CB_OPTION_SET:
		/* Only the handshake sets options by index: the client's arg-less parameters. */
		if (oa->option_index == CLIENT_NO_CONTEXT_TAKEOVER)
			return 0; /* accepted: our inflater may keep its window all the same */
		/* The server must reset its compressor after each message: lws's option for that
		 * is the other one. */
		if (oa->option_index == SERVER_NO_CONTEXT_TAKEOVER)
			oa->option_index = CLIENT_NO_CONTEXT_TAKEOVER;
		break;
	default:
		break;
	}
	return lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user, in, len);
}

const struct lws_extension cf_deflate_extensions[] = {
        {PMD, ext_callback, PMD},
        {NULL, NULL, NULL},
};

#define STR_(x) #x
#define STR(x)  STR_(x)

int
cf_deflate_setup(struct lws *wsi)
{
	/* lws compresses with server_max_window_bits on a vhost with a port, and with
	 * client_max_window_bits on one without (a unix socket, a socket confab or systemd bound):
	 * both get the window. Neither reaches the answer, which lws wrote already. */
	static const char *const opt[][2] = {
	        {"server_max_window_bits", STR(CF_DEFLATE_WBITS)},
	        {"client_max_window_bits", STR(CF_DEFLATE_WBITS)},
	        {"mem_level", STR(CF_DEFLATE_MEMLEVEL)},
	        {"compression_level", STR(CF_DEFLATE_LEVEL)},
	        {"tx_buf_size", STR(CF_DEFLATE_TX_BITS)},
	};

	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (lws_set_extension_option(wsi, PMD, opt[i][0], opt[i][1]) < 0)
			return 0; /* the extension is not active on wsi */
	return 1;
}

int
cf_deflate_offer_ok(struct lws *wsi)
{
	char h[256];

	/* lws reads no more of the header than this either; a longer one is declined. */
	if (lws_hdr_copy(wsi, h, sizeof(h), WSI_TOKEN_EXTENSIONS) < 0)
		return 0;
	return !strcasestr(h, "server_max_window_bits");
}

/* A session's inflater. */
struct inflater {
	z_stream z;
	/* A block with BFINAL ended the stream (RFC 7692 7.2.3.3 allows it): nothing more may come
	 * in this message, and the next one starts a new stream. */
	unsigned ended : 1;
};

int
cf_deflate_inflate(void **zp, const void *in, size_t len, int first, int last, unsigned char **buf,
                   size_t *have, size_t max)
{
	/* RFC 7692 7.2.2: the sender drops the empty block that ends each message's flush. */
	static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
	const struct {
		const void *p;
		size_t n;
	} part[2] = {{in, len}, {tail, last ? sizeof(tail) : 0}};
	struct inflater *f = *zp;
	unsigned char out[16384];

	if (!f) {
		if (!(f = calloc(1, sizeof(*f))))
			return -ENOMEM;
		/* A raw DEFLATE stream with a 32 KiB window: lws never offers the client a smaller
		 * one (client_max_window_bits), so the client may use all of it. */
		if (inflateInit2(&f->z, -15) != Z_OK) {
			free(f);
			return -ENOMEM;
		}
		*zp = f;
	}
	if (first && f->ended) {
		if (inflateReset(&f->z) != Z_OK)
			return -ENOMEM;
		f->ended = 0;
	}
	if (f->ended && len)
		return -EBADMSG; /* more of a message after its final block */
	for (int i = 0; i < 2 && !f->ended; i++) {
		z_stream *z = &f->z;

		z->next_in = (Bytef *)(uintptr_t)part[i].p;
		z->avail_in = (uInt)part[i].n;
		if (!z->avail_in)
			continue;
		do {
			uInt before = z->avail_in;
			unsigned char *nb;
			size_t n;
			int r;

			z->next_out = out;
			z->avail_out = sizeof(out);
			r = inflate(z, Z_SYNC_FLUSH);
			if (r == Z_MEM_ERROR)
				return -ENOMEM;
			if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
				return -EBADMSG;
			n = sizeof(out) - z->avail_out;
			if (n > max - *have)
				return -EMSGSIZE;
			if (n) {
				if (!(nb = realloc(*buf, *have + n)))
					return -ENOMEM;
				memcpy(nb + *have, out, n);
				*buf = nb;
				*have += n;
			}
			if (r == Z_STREAM_END) {
				f->ended = 1;
				if (z->avail_in && i == 0)
					return -EBADMSG; /* data after the final block */
				break;
			}
			if (!n && z->avail_in == before) {
				if (z->avail_in)
					return -EBADMSG; /* input zlib can make nothing of */
				break;
			}
			/* On while input is left, or while the output filled: more may be pending.
			 */
		} while (z->avail_in || !z->avail_out);
	}
	return 0;
}

void
cf_deflate_free(void *zp)
{
	struct inflater *f = zp;

	if (f) {
		inflateEnd(&f->z);
		free(f);
	}
}
