/* SPDX-License-Identifier: MIT */
/* sul.c - lws 4.1.6's sorted timer list, searched from its far end. lws keeps every pending
 * timer (each connection's handshake and close timeouts among them) in one list sorted by due
 * time, and lws_dll2_add_sorted() finds a new timer's place by walking it from the head. Timers
 * are mostly armed with the same few durations, so a new one nearly always belongs at or near
 * the tail: from the head, every connect and close of a storm walked past all the others
 * (docs/benchmarks.md, "lws's timer list"). This definition takes precedence over lws's for
 * lws's own call (through its PLT: the link exports it, CMakeLists.txt) and gives the same
 * order: the new element goes after every element due earlier and before the first one due at
 * the same time or later. Linked into confabd only. */
#include <libwebsockets.h>

void
lws_dll2_add_sorted(lws_dll2_t *d, lws_dll2_owner_t *own,
                    int (*compare)(const lws_dll2_t *d, const lws_dll2_t *i))
{
	struct lws_dll2 *p = lws_dll2_get_tail(own);

	/* Back to the last element due strictly earlier than d. */
	while (p && compare(p, d) >= 0)
		p = p->prev;
	if (!p)
		lws_dll2_add_head(d, own);
	else if (p->next)
		lws_dll2_add_before(d, p->next);
	else
		lws_dll2_add_tail(d, own);
}
