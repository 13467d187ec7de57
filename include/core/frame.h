/* SPDX-License-Identifier: MIT */
/* frame.h - immutable, refcounted, already-encoded WebSocket payloads. A frame is encoded once
 * per event and dialect and shared by reference by every recipient's queue; it keeps LWS_PRE
 * bytes of headroom so a lone frame goes to lws_write() without a copy. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_frame {
	uint32_t refs;
	uint32_t len;        /* payload bytes */
	uint64_t ordered_ns; /* CLOCK_MONOTONIC when the bus ordered the event; 0: not a message */
	/* A held direct message (bus.h cf_msg.held): its user id, a NUL, its id; owned. The
	 * session that writes the frame tells the bus (cf_bus_dm_written()). NULL: none. */
	char *ack;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* New frame with a copy of payload and one reference (the caller's). NULL on OOM. */
struct cf_frame *cf_frame_new(const void *payload, size_t len);
/* New frame with room for cap payload bytes and len 0 (one reference): the caller writes the
 * payload (cf_frame_payload()) and sets len, at most cap. NULL on OOM. */
struct cf_frame *cf_frame_alloc(size_t cap);
/* New frame with the compact JSON text of o, which it steals (NULL o: NULL, so that a failed
 * json_pack() passes through). NULL on OOM. */
struct json_t;
struct cf_frame *cf_frame_from_json(struct json_t *o);
struct cf_frame *cf_frame_ref(struct cf_frame *f);
/* Drops one reference; frees on the last. Accepts NULL. Returns NULL. */
struct cf_frame *cf_frame_unref(struct cf_frame *f);
unsigned char *cf_frame_payload(struct cf_frame *f);
/* Gives f the ack of the held direct message mid to user uid (once; later calls keep the
 * first). Returns 0 or -ENOMEM. */
int cf_frame_set_ack(struct cf_frame *f, const char *uid, const char *mid);
/* The ack's parts, or NULL when f has none. */
const char *cf_frame_ack_uid(const struct cf_frame *f);
const char *cf_frame_ack_mid(const struct cf_frame *f);
