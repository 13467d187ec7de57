/* SPDX-License-Identifier: MIT */
/* test_sul.c - src/net/sul.c's lws_dll2_add_sorted(), which replaces lws's in confabd: it must
 * give lws's order exactly (each new element before the first one that compares >= to it,
 * searching from the head), with the links and the count consistent. A reference model in an
 * array checks random inserts with many ties, at the head, the tail and between. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#define N 2000

struct item {
	lws_dll2_t list;
	int due;
};

static int
cmp(const lws_dll2_t *a, const lws_dll2_t *b)
{
	const struct item *x = lws_container_of(a, struct item, list);
	const struct item *y = lws_container_of(b, struct item, list);

	return x->due > y->due ? 1 : x->due < y->due ? -1 : 0;
}

/* lws's rule, on an array: before the first element due at the same time or later. */
static void
model_insert(struct item **m, int *n, struct item *it)
{
	int i = 0;

	while (i < *n && m[i]->due < it->due)
		i++;
	memmove(&m[i + 1], &m[i], (size_t)(*n - i) * sizeof(*m));
	m[i] = it;
	(*n)++;
}

static void
check(lws_dll2_owner_t *own, struct item **m, int n)
{
	struct lws_dll2 *p = own->head, *prev = NULL;

	assert_int_equal(own->count, n);
	for (int i = 0; i < n; i++, prev = p, p = p->next) {
		assert_ptr_equal(p, &m[i]->list);
		assert_ptr_equal(p->prev, prev);
		assert_ptr_equal(p->owner, own);
	}
	assert_null(p);
	assert_ptr_equal(own->tail, prev);
}

static void
test_same_order_as_lws(void **state)
{
	static struct item items[N], *model[N];
	lws_dll2_owner_t own = {0};
	int n = 0;

	(void)state;
	srand(14);
	for (int i = 0; i < N; i++) {
		/* Mostly rising times with ties (timeouts armed with equal durations), some far
		 * and some earlier ones. */
		int r = rand() % 10;

		items[i].due = r < 7 ? i / 4 : r < 9 ? rand() % (i + 1) : N * 2;
		lws_dll2_add_sorted(&items[i].list, &own, cmp);
		model_insert(model, &n, &items[i]);
		if (i % 97 == 0)
			check(&own, model, n);
	}
	check(&own, model, n);
}

static void
test_empty_and_one(void **state)
{
	struct item a = {.due = 5}, b = {.due = 5}, c = {.due = 1};
	struct item *model[3] = {&c, &b, &a};
	lws_dll2_owner_t own = {0};

	(void)state;
	lws_dll2_add_sorted(&a.list, &own, cmp);
	lws_dll2_add_sorted(&b.list, &own, cmp); /* a tie goes first, as in lws */
	lws_dll2_add_sorted(&c.list, &own, cmp);
	check(&own, model, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_same_order_as_lws),
	        cmocka_unit_test(test_empty_and_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
