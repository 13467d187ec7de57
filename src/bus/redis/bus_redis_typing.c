/* SPDX-License-Identifier: MIT */
/* bus_redis_typing.c - typing events across the nodes of a cluster.
 *
 * A typing event is one PUBLISH of {"y":true|false,"r":room,"u":user id} on the room's channel,
 * which every node following the room already subscribes to (bus_redis_order.c): no script, no
 * key, no seq, nothing kept. It goes out on the command link behind the publishes its session
 * sent before, so Redis publishes it after them and every node, this one included, receives it
 * after their messages; the node that receives it delivers it to its own members
 * (cf_room_typing_deliver(), which also drops it unless the user is in the room's presence).
 * What arrives on the channel is hostile: parsed strictly (cf_bus_redis_typing_parse()). */
#include "bus/redis/bus_redis_int.h"

#include "base/ident.h"
#include "base/log.h"
#include "base/text.h"

int
cf_bus_redis_typing_parse(json_t *o, struct cf_typing *t)
{
	json_t *y = json_object_get(o, "y");
	const char *r, *u;
	size_t rl, ul;

	if (!json_is_boolean(y) || json_unpack(o, "{s:s%,s:s%}", "r", &r, &rl, "u", &u, &ul) < 0)
		return -EINVAL;
	/* What a node would have sent: a room name and a user id of the sizes the registry
	 * takes (jansson refused NULs and invalid UTF-8 already). */
	if (cf_text_name_ok(r, rl, 1, CF_ROOM_NAME_MAX, 0) < 0 || ul < 1 || ul >= CF_IDENT_MAX)
		return -EINVAL;
	t->room = r;
	t->uid = u;
	t->typing = json_is_true(y);
	t->read = 0;
	if (json_object_get(o, "s")) {
		const char *s = json_string_value(json_object_get(o, "s"));
		size_t n = s ? strspn(s, "0123456789") : 0;

		/* What readset.lua wrote: 1 to 15 digits (below 2^53), not 0. */
		if (!s || !n || n > 15 || s[n] || (t->read = strtoull(s, NULL, 10)) == 0)
			return -EINVAL;
	}
	return 0;
}

void
cf_bus_redis_on_typing(struct bus_redis *b, json_t *o)
{
	struct cf_typing t;

	if (cf_bus_redis_typing_parse(o, &t) < 0) {
		log_warn("redis: ignoring a malformed typing event on a room channel");
		return;
	}
	if (b->bus.host.typing)
		b->bus.host.typing(b->bus.host.ud, &t);
}

int
cf_bus_redis_typing(struct cf_bus *bus, const struct cf_typing *t)
{
	struct bus_redis *b = (struct bus_redis *)bus;
	char ch[512];
	json_t *ev;

	if (!cf_redis_is_up(b->redis))
		return -ENOTCONN;
	if (key(ch, sizeof(ch), b, "room", t->room) < 0)
		return -ENAMETOOLONG;
	ev = json_pack("{s:b,s:s,s:s}", "y", t->typing, "r", t->room, "u", t->uid);
	/* A read marker rides along (struct cf_typing.read), as a string: seqs pass 2^53. */
	if (ev && t->read) {
		char s[24];

		snprintf(s, sizeof(s), "%llu", (unsigned long long)t->read);
		json_object_set_new(ev, "s", json_string(s));
	}
	return cf_bus_redis_publish_json(b, ch, ev);
}
