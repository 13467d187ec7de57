/* SPDX-License-Identifier: MIT */
/* dialect_native_render.c - core events as confab.v1 events (docs/protocol.md): msg (confab's
 * JSON object of a message, msg.c), join/leave presence, typing, dm, gap, bye, notice. */
#include "core/frame.h"
#include "dialects/dialect_native_int.h"

json_t *
cf_native_user_json(const char *id, const char *name)
{
	return json_pack("{s:s,s:s}", "id", id, "name", name);
}

struct cf_frame *
cf_native_render_msg(const struct cf_msg *m)
{
	return cf_frame_from_json(cf_msg_json(m));
}

struct cf_frame *
cf_native_render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	return cf_frame_from_json(json_pack("{s:s,s:s,s:o}", "ev", ev, "room", room, "user",
	                                    cf_native_user_json(uid, uname)));
}

/* {"ev":"typing","room","user":{id,name},"typing":true,"ttl":ms}; a stop carries no ttl. */
struct cf_frame *
cf_native_render_typing(const char *room, const char *uid, const char *uname, int typing,
                        int ttl_ms)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:b}", "ev", "typing", "room", room, "user",
	                      cf_native_user_json(uid, uname), "typing", typing);

	if (o && typing && json_object_set_new(o, "ttl", json_integer(ttl_ms)) < 0) {
		json_decref(o);
		o = NULL;
	}
	return cf_frame_from_json(o);
}

struct cf_frame *
cf_native_render_bye(int code, const char *reason)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:i,s:s}", "ev", "bye", "code", code, "reason", reason));
}

struct cf_frame *
cf_native_render_dm(const struct cf_msg *m)
{
	json_t *o = json_pack("{s:s,s:o,s:s,s:I,s:s}", "ev", "dm", "from",
	                      cf_native_user_json(m->from_id, m->from_name), "to", m->room, "ts",
	                      (json_int_t)m->ts_ms, "text", m->text);

	/* Kept in the inbox while the user was offline: say so, and since when. */
	if (o && m->queued &&
	    (json_object_set_new(o, "queued", json_true()) < 0 ||
	     json_object_set_new(o, "queued_ts", json_integer((json_int_t)m->queued_ms)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	/* A kept message may come twice (delivery is at least once): its id tells. */
	if (o && (m->queued || m->held) && m->mid[0] &&
	    json_object_set_new(o, "mid", json_string(m->mid)) < 0) {
		json_decref(o);
		o = NULL;
	}
	return cf_frame_from_json(o);
}

struct cf_frame *
cf_native_render_gap(const char *room, uint64_t epoch, uint64_t seq)
{
	return cf_frame_from_json(json_pack("{s:s,s:s,s:I,s:I}", "ev", "gap", "room", room, "epoch",
	                                    (json_int_t)epoch, "seq", (json_int_t)seq));
}

/* {"ev":"notice","text","ts"}: the operator's word to everyone. */
struct cf_frame *
cf_native_render_notice(const char *text, int64_t ts_ms)
{
	return cf_frame_from_json(
	        json_pack("{s:s,s:s,s:I}", "ev", "notice", "text", text, "ts", (json_int_t)ts_ms));
}
