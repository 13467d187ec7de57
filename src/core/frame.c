/* SPDX-License-Identifier: MIT */
/* frame.c - refcounted encoded frames (see frame.h). */
#include "core/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libwebsockets.h>

struct cf_frame *
cf_frame_alloc(size_t cap)
{
	struct cf_frame *f;

	if (cap > UINT32_MAX)
		return NULL;
	f = malloc(sizeof(*f) + LWS_PRE + cap);
	if (!f)
		return NULL;
	f->refs = 1;
	f->len = 0;
	f->ordered_ns = 0;
	f->ack = NULL;
	return f;
}

struct cf_frame *
cf_frame_new(const void *payload, size_t len)
{
	struct cf_frame *f = cf_frame_alloc(len);

	if (f) {
		f->len = (uint32_t)len;
		memcpy(f->buf + LWS_PRE, payload, len);
	}
	return f;
}

struct cf_frame *
cf_frame_from_json(json_t *o)
{
	struct cf_frame *f = NULL;
	char *txt;

	if (!o)
		return NULL;
	txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (txt) {
		f = cf_frame_new(txt, strlen(txt));
		free(txt);
	}
	return f;
}

struct cf_frame *
cf_frame_ref(struct cf_frame *f)
{
	f->refs++;
	return f;
}

struct cf_frame *
cf_frame_unref(struct cf_frame *f)
{
	if (f && --f->refs == 0) {
		free(f->ack);
		free(f);
	}
	return NULL;
}

unsigned char *
cf_frame_payload(struct cf_frame *f)
{
	return f->buf + LWS_PRE;
}

int
cf_frame_set_ack(struct cf_frame *f, const char *uid, const char *mid)
{
	size_t u = strlen(uid) + 1, n = strlen(mid) + 1;

	if (f->ack)
		return 0;
	f->ack = malloc(u + n);
	if (!f->ack)
		return -ENOMEM;
	memcpy(f->ack, uid, u);
	memcpy(f->ack + u, mid, n);
	return 0;
}

const char *
cf_frame_ack_uid(const struct cf_frame *f)
{
	return f->ack;
}

const char *
cf_frame_ack_mid(const struct cf_frame *f)
{
	return f->ack ? f->ack + strlen(f->ack) + 1 : NULL;
}
