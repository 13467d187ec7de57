/* SPDX-License-Identifier: MIT */
/* store.c - the account store interface's dispatch (see store.h). */
#include "bus/store.h"

#include <errno.h>

int
cf_store_get(struct cf_store *st, int by_id, const char *what, cf_store_acct_cb *cb, void *ud)
{
	return st->ops->get(st, by_id, what, cb, ud);
}

int
cf_store_create(struct cf_store *st, const struct cf_account *acct, const char *hash,
                cf_store_done_cb *cb, void *ud)
{
	return st->ops->create(st, acct, hash, cb, ud);
}

int
cf_store_bump(struct cf_store *st, const char *name, cf_store_acct_cb *cb, void *ud)
{
	return st->ops->bump(st, name, cb, ud);
}

int
cf_store_list(struct cf_store *st, cf_store_list_cb *cb, void *ud)
{
	return st->ops->list(st, cb, ud);
}

int
cf_store_key(struct cf_store *st, cf_store_key_cb *cb, void *ud)
{
	return st->ops->key(st, cb, ud);
}

int
cf_store_has(const struct cf_store *st, const char *name)
{
	return st->ops->has ? st->ops->has(st, name) : -EOPNOTSUPP;
}

int
cf_store_can_create(const struct cf_store *st, const char *name)
{
	return st->ops->can_create ? st->ops->can_create(st, name) : 0;
}

void
cf_store_free(struct cf_store *st)
{
	if (st)
		st->ops->free(st);
}
