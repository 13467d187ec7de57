/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat_accounts.c - seed 001's account requests over auth.c: signIn and signUp
 * (each falls back on the other, as the seed's did), users (every account, with who is online
 * across nodes), signOut (every access key revoked), and the session becoming an account's
 * user or nobody. */
#define _GNU_SOURCE /* explicit_bzero */
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "dialects/dialect_redis_chat_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The session becomes the account's user (leaving the channel of the one it was). */
int
cf_redis_chat_become(struct cf_sess *s, const struct cf_account *a)
{
	cf_redis_chat_name_put(a->id, a->name);
	if (s->user_id && !strcmp(s->x->account_id, a->id))
		return 0;
	cf_redis_chat_leave_channel(s);
	if (cf_sess_set_user(s, a->name, a->name) < 0)
		return -ENOMEM;
	memcpy(s->x->account_id, a->id, sizeof(s->x->account_id));
	return 0;
}

/* Back to a session that is nobody. */
static void
become_nobody(struct cf_sess *s)
{
	cf_redis_chat_leave_channel(s);
	cf_registry_user_remove(s->env->reg, s);
	free(s->user_id);
	s->user_id = NULL;
	s->user_name = NULL;
	s->x->account_id[0] = '\0';
}

/* ---- signIn, signUp ----------------------------------------------------------------------- */

static void auth_step(void *ud, int64_t tag, const struct cf_auth_result *r);

static void
signed_in(struct cf_sess *s, const struct cf_auth_result *r)
{
	struct req *q = rc_of(s)->cur;

	if (cf_redis_chat_become(s, r->acct) < 0) {
		cf_sess_close(s, 1011, "out of memory");
		return;
	}
	cf_redis_chat_push(s, json_pack("{s:s,s:{s:s,s:s}}", "type", "authorized", "authorized",
	                                "userUUID", r->acct->id, "accessKey",
	                                r->token ? r->token : ""));
	/* The client learns who it is from this; to the signing-in connection only, as other
	 * clients would take it for their own identity. */
	if (q->type == T_SIGNIN)
		cf_redis_chat_push(s, json_pack("{s:s,s:{s:s,s:{s:s,s:s}}}", "type", "sys", "sys",
		                                "type", "signIn", "signIn", "uuid", r->acct->id,
		                                "username", r->acct->name));
}

const char *
cf_redis_chat_auth_why(int err)
{
	switch (err) {
	case -EACCES:
		return "wrong password";
	case -ENOSPC:
		return "the server holds its maximum number of accounts";
	case -EBUSY:
		return "too many password checks are waiting: try again";
	case -EAGAIN:
		return "accounts are unavailable now: try again later";
	case -EIO:
		return "the account could not be saved: try again later";
	default:
		return "the request could not be served";
	}
}

/* signIn: verify, and create the account when there is none. signUp: create, and when the
 * name is taken sign in with the password given (never without checking it). */
static void
auth_step(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;
	int r2;

	(void)tag;
	if (!r->err) {
		signed_in(s, r);
	} else if (!q->retried && ((q->type == T_SIGNIN && r->err == -ENOENT) ||
	                           (q->type == T_SIGNUP && r->err == -EEXIST) ||
	                           (q->type == T_SIGNIN && r->err == -EEXIST))) {
		/* -EEXIST after signIn's create: another node created it meanwhile. */
		q->retried = 1;
		if (r->err == -ENOENT && !strncmp(q->name, "guest-", 6)) {
			cf_redis_chat_error(s, E_SIGNIN, q->o,
			                    "names starting with 'guest-' are for guests");
		} else {
			r2 = r->err == -ENOENT ? cf_auth_create(s->env->auth, q->name, q->pw,
			                                        q->pwlen, auth_step, s, 0)
			                       : cf_auth_verify(s->env->auth, q->name, q->pw,
			                                        q->pwlen, auth_step, s, 0);
			if (r2 == 0)
				return;
			cf_redis_chat_error(s, E_SIGNIN, q->o, "out of memory");
		}
	} else {
		cf_redis_chat_error(s, E_SIGNIN, q->o, "%s", cf_redis_chat_auth_why(r->err));
	}
	cf_redis_chat_finish(s);
}

void
cf_redis_chat_credentials(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const struct cf_config *cfg = s->env->cfg;
	const char *name = NULL, *pw = NULL, *key;
	size_t nl = 0, pl = 0;
	json_t *v;
	int r;

	if (!s->env->auth) {
		cf_redis_chat_error(s, E_SIGNIN, q->o, "accounts are disabled on this server");
		goto done;
	}
	json_object_foreach (obj, key, v) {
		if (cf_text_go_key_is(key, "username") && json_is_string(v)) {
			name = json_string_value(v);
			nl = json_string_length(v);
		} else if (cf_text_go_key_is(key, "password") && json_is_string(v)) {
			pw = json_string_value(v);
			pl = json_string_length(v);
		}
	}
	if (!name || !pw) {
		const char *t = q->type == T_SIGNIN ? "signIn" : "signUp";

		cf_redis_chat_error(s, E_SIGNIN, q->o, "%s.username and %s.password are required",
		                    t, t);
		goto done;
	}
	/* 001's users are accounts: an account's name has no ':' (ident.h). */
	if (cf_ident_local_ok(CF_ID_ACCOUNT, name, nl, (size_t)cfg->max_name) < 0) {
		cf_redis_chat_error(
		        s, E_SIGNIN, q->o,
		        "user names are 1 to %d bytes of UTF-8 without control characters, "
		        "':' or leading/trailing spaces",
		        cfg->max_name);
		goto done;
	}
	if (cf_auth_password_ok(s->env->auth, pl) < 0 || strlen(pw) != pl) {
		cf_redis_chat_error(s, E_SIGNIN, q->o, "passwords are %d to %d bytes without NUL",
		                    cfg->auth_password_min, cfg->auth_password_max);
		goto done;
	}
	if (cf_auth_attempt(s->env->auth, s->ipc ? s->ipc->ip : "?", name) < 0) {
		cf_redis_chat_error(s, E_SIGNIN, q->o, "too many attempts: wait a minute");
		goto done;
	}
	q->name = strdup(name);
	q->pw = malloc(pl + 1);
	if (!q->name || !q->pw)
		goto oom;
	memcpy(q->pw, pw, pl + 1);
	q->pwlen = pl;
	if (q->type == T_SIGNUP && !strncmp(name, "guest-", 6)) {
		cf_redis_chat_error(s, E_SIGNIN, q->o,
		                    "names starting with 'guest-' are for guests");
		goto done;
	}
	r = q->type == T_SIGNIN ? cf_auth_verify(s->env->auth, name, pw, pl, auth_step, s, 0)
	                        : cf_auth_create(s->env->auth, name, pw, pl, auth_step, s, 0);
	if (r < 0)
		goto oom;
	cf_sess_wait(s);
	return;
oom:
	cf_redis_chat_error(s, E_SIGNIN, q->o, "out of memory");
done:
	cf_redis_chat_finish(s);
}

/* ---- users -------------------------------------------------------------------------------- */

static void users_online(void *ud, int err, const uint8_t *online, size_t n);

static void
users_next(struct cf_sess *s)
{
	struct req *q = rc_of(s)->cur;
	const char *ids[CF_BUS_ONLINE_MAX];
	size_t n = 0;
	int r;

	if (q->done == q->n) {
		cf_redis_chat_push(s, json_pack("{s:s,s:{s:I,s:I,s:O}}", "type", "users", "users",
		                                "total", (json_int_t)q->n, "received",
		                                (json_int_t)q->n, "users", q->list));
		cf_redis_chat_finish(s);
		return;
	}
	while (n < CF_BUS_ONLINE_MAX && q->done + n < q->n) {
		ids[n] = q->accts[q->done + n].name;
		n++;
	}
	r = cf_bus_online(s->env->bus, ids, n, users_online, s);
	if (r < 0) {
		cf_redis_chat_error(s, E_USERS, q->o,
		                    "users: who is online cannot be read now (%s)", strerror(-r));
		cf_redis_chat_finish(s);
	}
	/* else users_online() runs, maybe already has */
}

static void
users_online(void *ud, int err, const uint8_t *online, size_t n)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	if (err < 0) {
		cf_redis_chat_error(s, E_USERS, q->o,
		                    "users: who is online cannot be read now (%s)", strerror(-err));
		cf_redis_chat_finish(s);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cf_account *a = &q->accts[q->done + i];

		json_array_append_new(q->list, cf_redis_chat_user_obj(a->id, a->name, online[i]));
	}
	q->done += n;
	users_next(s);
}

static void
users_listed(void *ud, int64_t tag, int err, const struct cf_account *accts, size_t n)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (err < 0) {
		cf_redis_chat_error(s, E_USERS, q->o, "users: %s", cf_redis_chat_auth_why(err));
		cf_redis_chat_finish(s);
		return;
	}
	q->accts = calloc(n ? n : 1, sizeof(*q->accts));
	q->list = json_array();
	if (!q->accts || !q->list)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		q->accts[i] = accts[i];
		q->accts[i].name = strdup(accts[i].name);
		if (!q->accts[i].name)
			goto oom;
		q->n++;
		cf_redis_chat_name_put(accts[i].id, accts[i].name);
	}
	users_next(s);
	return;
oom:
	cf_redis_chat_error(s, E_USERS, q->o, "out of memory");
	cf_redis_chat_finish(s);
}

void
cf_redis_chat_users(struct cf_sess *s)
{
	if (cf_auth_list(s->env->auth, users_listed, s, 0) < 0) {
		cf_redis_chat_error(s, E_USERS, rc_of(s)->cur->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	cf_sess_wait(s);
}

/* ---- signOut ------------------------------------------------------------------------------ */

static void
signed_out(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct req *q = rc_of(s)->cur;

	(void)tag;
	if (r->err < 0) {
		cf_redis_chat_error(s, E_SIGNOUT, q->o, "%s", cf_redis_chat_auth_why(r->err));
	} else {
		become_nobody(s);
		cf_redis_chat_push(s, json_pack("{s:s,s:{s:s}}", "type", "signOut", "signOut",
		                                "uuid", q->rname ? q->rname : ""));
	}
	cf_redis_chat_finish(s);
}

/* Revokes every access key of the account (its gen) and makes the session nobody. */
void
cf_redis_chat_signout(struct cf_sess *s, json_t *obj)
{
	struct req *q = rc_of(s)->cur;
	const char *uuid;

	/* signOut.uuid is echoed, as the seed did; rname holds it. */
	if (cf_redis_chat_inner_str(obj, "uuid", &uuid) == 0 && !(q->rname = strdup(uuid))) {
		cf_redis_chat_error(s, E_SIGNOUT, q->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	if (cf_auth_bump_gen(s->env->auth, s->user_id, signed_out, s, 0) < 0) {
		cf_redis_chat_error(s, E_SIGNOUT, q->o, "out of memory");
		cf_redis_chat_finish(s);
		return;
	}
	cf_sess_wait(s);
}
