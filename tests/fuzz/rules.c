/* SPDX-License-Identifier: MIT */
/* rules.c - cf_rules_from_json(): a room's rules as state.dir/rooms.json and Redis hold them
 * and as other nodes' rules messages carry them, all hostile input. What is accepted must
 * hold its bounds, encode again to the same rules, and answer every decision and change
 * without a crash. The input's first byte picks the change tried on the accepted rules. */
#include "fuzz.h"

#include <errno.h>
#include <jansson.h>
#include "core/rules.h"

#define MAX_USERS 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const who[] = {"alice", "bob", "guest:carl", NULL};
	struct cf_rules r, back;
	json_t *o, *again;
	uint8_t pick;

	if (size < 1 || size > 16384)
		return -1;
	pick = data[0];
	o = json_loadb((const char *)data + 1, size - 1, 0, NULL);
	if (!o)
		return 0;
	cf_rules_init(&r);
	if (cf_rules_from_json(&r, o, MAX_USERS, 32) < 0) {
		json_decref(o);
		cf_rules_fini(&r);
		return 0;
	}
	json_decref(o);
	if (r.nusers > MAX_USERS || !r.topic || strlen(r.topic) > CF_RULES_TOPIC_MAX)
		abort();
	/* It encodes again, to the same rules. */
	again = cf_rules_json(&r);
	cf_rules_init(&back);
	if (!again || cf_rules_from_json(&back, again, MAX_USERS, 32) < 0 ||
	    back.version != r.version || back.nusers != r.nusers || back.kind != r.kind)
		abort();
	json_decref(again);
	cf_rules_fini(&back);
	for (int i = 0; i < 4; i++) {
		(void)cf_rules_may_join(&r, who[i] ? who[i] : "x", i & 1, 1700000000);
		(void)cf_rules_may_send(&r, who[i] ? who[i] : "x", i & 1, 1700000000);
	}
	{
		struct cf_rules_change c = {.op = (enum cf_rules_op)(pick % 9),
		                            .actor = who[(pick >> 4) & 3],
		                            .target = who[(pick >> 2) & 3],
		                            .role = (uint8_t)(pick & 3),
		                            .kind = (uint8_t)(pick % 3),
		                            .topic = "t",
		                            .until = 1700000100};

		if (cf_rules_check(&r, &c, 1700000000, MAX_USERS) == 0 &&
		    cf_rules_apply(&r, &c, 1700000000) == 0 && r.nusers > MAX_USERS + 1)
			abort();
	}
	cf_rules_fini(&r);
	return 0;
}
