/* SPDX-License-Identifier: MIT */
/* msg.c - chat messages (see msg.h). */
#include "core/msg.h"
#include "core/frame.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

struct cf_msg *
cf_msg_new(const char *room, const char *from_id, const char *from_name, const char *text,
           const char *nonce)
{
	struct cf_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->refs = 1;
	m->room = strdup(room);
	m->from_id = strdup(from_id);
	m->from_name = strdup(from_name);
	m->text = strdup(text);
	m->nonce = nonce ? strdup(nonce) : NULL;
	if (!m->room || !m->from_id || !m->from_name || !m->text || (nonce && !m->nonce)) {
		m->refs = 1;
		return cf_msg_unref(m);
	}
	return m;
}

struct cf_msg *
cf_msg_ref(struct cf_msg *m)
{
	m->refs++;
	return m;
}

struct cf_msg *
cf_msg_unref(struct cf_msg *m)
{
	if (!m || --m->refs)
		return NULL;
	for (int i = 0; i < CF_DIALECT_SLOTS; i++)
		cf_frame_unref(m->frames[i]);
	free(m->room);
	free(m->from_id);
	free(m->from_name);
	free(m->text);
	free(m->nonce);
	free(m);
	return NULL;
}

struct cf_frame *
cf_msg_frame(struct cf_msg *m, const struct cf_dialect *d)
{
	cf_frame_render_fn *render = m->dm ? d->render_dm : d->render_msg;

	if (m->deleted || (m->kind != CF_MSG_PLAIN && !d->render_fixes))
		return NULL;

	if (!m->frames[d->id] && render) {
		m->frames[d->id] = render(m);
		if (m->frames[d->id])
			m->frames[d->id]->ordered_ns = m->ordered_ns;
		/* Without its ack (OOM) the message stays kept and comes again: never lost. */
		if (m->frames[d->id] && m->held && m->mid[0])
			(void)cf_frame_set_ack(m->frames[d->id], m->room, m->mid);
	}
	return m->frames[d->id];
}

json_t *
cf_msg_json(const struct cf_msg *m)
{
	static const char *const ev[] = {"msg", "edit", "delete"};
	json_t *o;

	if (m->deleted || m->kind > CF_MSG_DELETE)
		return NULL;
	o = json_pack("{s:s,s:s,s:I,s:I,s:{s:s,s:s}}", "ev", ev[m->kind], "room", m->room, "seq",
	              (json_int_t)m->seq, "ts", (json_int_t)m->ts_ms, "from", "id", m->from_id,
	              "name", m->from_name);
	if (!o)
		return NULL;
	if (m->kind != CF_MSG_PLAIN &&
	    json_object_set_new(o, "ref", json_integer((json_int_t)m->ref)) < 0)
		return json_decref(o), NULL;
	if (m->kind != CF_MSG_DELETE && json_object_set_new(o, "text", json_string(m->text)) < 0)
		return json_decref(o), NULL;
	if (m->edited_ms && json_object_set_new(o, "edited", json_integer(m->edited_ms)) < 0)
		return json_decref(o), NULL;
	return o;
}

struct cf_msg *
cf_msg_fixed(const struct cf_msg *orig, const struct cf_msg *fix)
{
	int del = fix->kind == CF_MSG_DELETE;
	struct cf_msg *m;

	if (fix->kind == CF_MSG_PLAIN || fix->kind > CF_MSG_DELETE || orig->seq != fix->ref ||
	    orig->kind != CF_MSG_PLAIN || orig->deleted ||
	    (!del && strcmp(orig->from_id, fix->from_id)))
		return NULL;
	m = cf_msg_new(orig->room, orig->from_id, orig->from_name, del ? "" : fix->text,
	               orig->nonce);
	if (!m)
		return NULL;
	m->seq = orig->seq;
	m->epoch = orig->epoch;
	m->ts_ms = orig->ts_ms;
	m->ordered_ns = orig->ordered_ns;
	m->deleted = (uint8_t)del;
	m->edited_ms = del ? 0 : fix->ts_ms;
	return m;
}
