/* SPDX-License-Identifier: MIT */
/* dialect_native_accounts.c - confab.v1's identity commands: hello (as a guest, or with an
 * account's token), register, login, logout. Those that wait for auth.c hold the session's
 * later commands back and stop reading it (sess.h), so replies keep the commands' order. */
#include "auth/auth.h"
#include "auth/jwt.h"
#include "base/ident.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/env.h"
#include "dialects/dialect_native_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void
hello_reply(struct cf_sess *s, json_int_t id)
{
	const struct cf_config *cfg = s->env->cfg;
	char sid[32];
	json_t *o;

	snprintf(sid, sizeof(sid), "%llu", (unsigned long long)s->id);
	o = json_pack("{s:s,s:o,s:s,s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}}", "session", sid,
	              "user", cf_native_user_json(s->user_id, s->user_name), "node",
	              s->env->node_id, "limits", "max_frame", cfg->max_frame, "max_text",
	              cfg->max_text, "max_rooms", cfg->max_rooms_per_session, "rate", cfg->rate,
	              "burst", cfg->burst, "history", cfg->history, "max_name", cfg->max_name,
	              "typing_ttl", cfg->typing_ttl, "edit_window", cfg->edit_window);
	if (o && cf_sess_account(s)[0])
		json_object_set_new(o, "account", json_string(cf_sess_account(s)));
	cf_native_reply_to(s, id, "hello", o);
}

/* The session closes: what a hello waiting for auth.c kept (the name it asked about), and
 * what an application token said. */
void
cf_native_on_close(struct cf_sess *s)
{
	if (!s->x)
		return;
	free(s->x->auth_arg);
	s->x->auth_arg = NULL;
	cf_jwt_claims_free(s->x->dstate);
	free(s->x->dstate);
	s->x->dstate = NULL;
}

int
cf_native_room_allowed(const struct cf_sess *s, const char *room)
{
	const struct cf_jwt_claims *c = s->x ? s->x->dstate : NULL;

	return !c || cf_jwt_room_allowed(c, room);
}

/* Answers an account operation's failure with its protocol error. */
static void
auth_error(struct cf_sess *s, json_int_t id, int err, int token)
{
	switch (err) {
	case -EEXIST:
		cf_native_err_reply(s, id, "name_taken", "that name is taken");
		break;
	case -ENOENT:
	case -EACCES:
		if (token)
			cf_native_err_reply(s, id, "token_invalid", "the token is not valid");
		else
			cf_native_err_reply(s, id, "auth_failed", "wrong name or password");
		break;
	case -EBADMSG:
		cf_native_err_reply(s, id, "token_invalid", "the token is not valid");
		break;
	case -EKEYREVOKED:
		cf_native_err_reply(s, id, "token_invalid", "the token was revoked (logout)");
		break;
	case -EKEYEXPIRED:
		cf_native_err_reply(s, id, "token_expired", "the token has expired: log in again");
		break;
	case -EKEYREJECTED:
		cf_native_err_reply(s, id, "token_invalid", "the token is not valid yet (nbf)");
		break;
	case -ENOSPC:
		cf_native_err_reply(s, id, "account_limit",
		                    "the server holds its maximum of %d accounts",
		                    s->env->cfg->auth_max_accounts);
		break;
	case -EBUSY:
		cf_native_err_reply(s, id, "busy",
		                    "too many password checks are queued: retry later");
		break;
	default:
		cf_native_err_reply(s, id, "unavailable", "accounts cannot be reached now: %s",
		                    strerror(-err));
		break;
	}
}

/* The session's client address, for the attempt limits. */
static const char *
sess_ip(const struct cf_sess *s)
{
	return s->ipc ? s->ipc->ip : "?";
}

static int
need_auth(struct cmd *c)
{
	if (c->s->env->auth)
		return 1;
	fail(c, "accounts_disabled", "this server has no accounts (auth.enabled = 0)");
	return 0;
}

/* Name and password of register and login: 1, or 0 after the error reply. */
static int
get_credentials(struct cmd *c, const char **name, const char **pw, size_t *pwlen)
{
	const struct cf_config *cfg = c->s->env->cfg;
	size_t len;
	int r;

	r = cf_native_get_str(c, "name", name, &len);
	if (r <= 0) {
		if (r == 0)
			fail(c, "bad_request", "missing field 'name'");
		return 0;
	}
	if (cf_text_name_ok(*name, len, 1, (size_t)cfg->max_name, 1) < 0 || strlen(*name) != len) {
		fail(c, "user_name_invalid",
		     "user names are 1 to %d bytes of UTF-8 without control characters or "
		     "leading/trailing spaces",
		     cfg->max_name);
		return 0;
	}
	r = cf_native_get_str(c, "password", pw, pwlen);
	if (r <= 0) {
		if (r == 0)
			fail(c, "bad_request", "missing field 'password'");
		return 0;
	}
	if (cf_auth_password_ok(c->s->env->auth, *pwlen) < 0 || strlen(*pw) != *pwlen) {
		fail(c, "password_invalid", "passwords are %d to %d bytes without NUL",
		     cfg->auth_password_min, cfg->auth_password_max);
		return 0;
	}
	return 1;
}

static void
credentials_done(struct cf_sess *s, int64_t tag, const struct cf_auth_result *r, const char *op)
{
	if (r->err < 0)
		auth_error(s, tag, r->err, 0);
	else
		cf_native_reply_to(s, tag, op,
		                   json_pack("{s:o,s:s,s:s}", "user",
		                             cf_native_user_json(r->acct->name, r->acct->name),
		                             "uuid", r->acct->id, "token", r->token));
	cf_sess_done(s);
}

static void
register_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	credentials_done(ud, tag, r, "register");
}

static void
login_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	credentials_done(ud, tag, r, "login");
}

int
cf_native_cmd_register(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *name, *pw;
	size_t pwlen;

	if (!need_auth(c) || !get_credentials(c, &name, &pw, &pwlen))
		return 0;
	/* The names guests get without hello: an account must not look like one. */
	if (!strncmp(name, "guest-", 6))
		return fail(c, "user_name_invalid", "names starting with 'guest-' are for guests");
	/* ':' is what tags the other identity spaces' ids (ident.h). */
	if (strchr(name, ':'))
		return fail(c, "user_name_invalid", "account names may not contain ':'");
	if (cf_auth_attempt(s->env->auth, sess_ip(s), NULL) < 0)
		return fail(c, "rate_limited",
		            "too many attempts from this address: wait a minute");
	if (cf_auth_create(s->env->auth, name, pw, pwlen, register_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}

int
cf_native_cmd_login(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const char *name, *pw;
	size_t pwlen;

	if (!need_auth(c) || !get_credentials(c, &name, &pw, &pwlen))
		return 0;
	if (cf_auth_attempt(s->env->auth, sess_ip(s), name) < 0)
		return fail(c, "rate_limited",
		            "too many attempts for this name or from this "
		            "address: wait a minute");
	if (cf_auth_verify(s->env->auth, name, pw, pwlen, login_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}

static void
hello_token_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err < 0) {
		auth_error(s, tag, r->err, 1);
	} else if (cf_ident_local_ok(CF_ID_ACCOUNT, r->acct->name, strlen(r->acct->name),
	                             CF_IDENT_MAX) < 0) {
		/* An account registered before names lost ':' would share a tagged space's id. */
		cf_native_err_reply(
		        s, tag, "user_name_invalid",
		        "account names may not contain ':' any more: register a new account");
	} else if (!cf_sess_ext(s) || cf_sess_set_user(s, r->acct->name, r->acct->name) < 0) {
		cf_sess_close(s, 1011, "internal error");
	} else {
		memcpy(s->x->account_id, r->acct->id, sizeof(s->x->account_id));
		s->hello = 1;
		hello_reply(s, tag);
	}
	cf_sess_done(s);
}

/* hello {token} with the application's token (jwt.h): the session is the token's user, an
 * account, and may join only the rooms the token names, if it names any. */
static void
hello_jwt_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;
	struct cf_jwt_claims *keep = NULL;

	if (r->err == -EBADMSG) {
		cf_native_err_reply(s, tag, "token_invalid", "the token is not valid: %s",
		                    r->detail ? r->detail : "?");
	} else if (r->err == -EDQUOT) {
		cf_native_err_reply(s, tag, "rate_limited",
		                    "too many refused tokens from this address: wait a minute");
	} else if (r->err == -EEXIST) {
		cf_native_err_reply(s, tag, "name_taken",
		                    "the token's user is an account with a password here: it signs "
		                    "in with its password");
	} else if (r->err < 0) {
		auth_error(s, tag, r->err, 1);
	} else if (!cf_sess_ext(s) || !(keep = calloc(1, sizeof(*keep))) ||
	           cf_jwt_claims_dup(keep, r->claims) < 0 ||
	           cf_sess_set_user(s, r->claims->sub, r->claims->name) < 0) {
		cf_jwt_claims_free(keep);
		free(keep);
		cf_sess_close(s, 1011, "internal error");
	} else {
		memcpy(s->x->account_id, r->acct->id, sizeof(s->x->account_id));
		s->x->dstate = keep;
		s->hello = 1;
		hello_reply(s, tag);
		/* The application decides the user's role in the rooms its token names: set as the
		 * operator would, where the room has rules (a role it has already writes nothing).
		 */
		for (size_t i = 0; i < r->claims->nroles; i++) {
			struct cf_rules_change c = {.op = CF_RULES_ROLE,
			                            .target = r->claims->sub,
			                            .role = r->claims->role_of[i]};

			(void)cf_bus_rules_change(s->env->bus, r->claims->role_rooms[i], &c, NULL,
			                          NULL);
		}
	}
	cf_sess_done(s);
}

/* hello {name} without a token: the name must not be an account's. */
static void
hello_name_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err == 0) {
		cf_native_err_reply(s, tag, "auth_required",
		                    "'%s' is a registered account: say hello with its token",
		                    r->acct->name);
	} else if (r->err != -ENOENT) {
		auth_error(s, tag, r->err, 0);
	} else if (cf_native_set_guest(s, s->x->auth_arg) < 0) {
		cf_sess_close(s, 1011, "internal error");
	} else {
		s->hello = 1;
		hello_reply(s, tag);
	}
	free(s->x->auth_arg);
	s->x->auth_arg = NULL;
	cf_sess_done(s);
}

int
cf_native_cmd_hello(struct cmd *c)
{
	struct cf_sess *s = c->s;
	const struct cf_config *cfg = s->env->cfg;
	const char *name, *token;
	size_t len, tlen;
	int r, rt;

	if (s->hello || s->rooms.count)
		return fail(c, "bad_state", "hello must be the first command, and only once");
	r = cf_native_get_str(c, "name", &name, &len);
	if (r < 0)
		return 0;
	rt = cf_native_get_str(c, "token", &token, &tlen);
	if (rt < 0)
		return 0;
	if (rt > 0) {
		if (!need_auth(c))
			return 0;
		/* confab's own tokens have two parts, a JWT three. */
		if (cf_jwt_looks_like(token)) {
			if (!cf_auth_jwt_enabled(s->env->auth))
				return fail(
				        c, "token_invalid",
				        "this server takes no application tokens (auth.jwt_alg)");
			if (cf_auth_jwt_check(s->env->auth, sess_ip(s), token, hello_jwt_done, s,
			                      c->id) < 0)
				return -1;
		} else if (cf_auth_token_check(s->env->auth, token, hello_token_done, s, c->id) <
		           0) {
			return -1;
		}
		cf_sess_wait(s);
		return 0;
	}
	if (r > 0) {
		if (cf_text_name_ok(name, len, 1, (size_t)cfg->max_name, 1) < 0 ||
		    strlen(name) != len)
			return fail(c, "user_name_invalid",
			            "user names are 1 to %d bytes of UTF-8 without control "
			            "characters or leading/trailing spaces",
			            cfg->max_name);
		/* Guests cannot take an account's name. Standalone knows at once (and a guest
		 * then costs no account state); in cluster mode the answer comes from Redis, so
		 * the reply may come later (hello_name_done). */
		r = cf_auth_is_account(s->env->auth, name);
		if (r > 0)
			return fail(c, "auth_required",
			            "'%s' is a registered account: say hello with its token", name);
		if (r == -EOPNOTSUPP) {
			struct cf_sess_ext *x = cf_sess_ext(s);

			if (!x)
				return -1;
			free(x->auth_arg);
			x->auth_arg = strdup(name);
			if (!x->auth_arg ||
			    cf_auth_by_name(s->env->auth, name, hello_name_done, s, c->id) < 0)
				return -1;
			cf_sess_wait(s);
			return 0;
		}
		if (cf_native_set_guest(s, name) < 0)
			return -1;
	} else if (cf_native_ensure_user(s) < 0) {
		return -1;
	}
	s->hello = 1;
	hello_reply(s, c->id);
	return 0;
}

static void
logout_done(void *ud, int64_t tag, const struct cf_auth_result *r)
{
	struct cf_sess *s = ud;

	if (r->err < 0)
		auth_error(s, tag, r->err, 0);
	else
		cf_native_reply_to(s, tag, "logout", json_pack("{s:b}", "revoked", 1));
	cf_sess_done(s);
}

int
cf_native_cmd_logout(struct cmd *c)
{
	struct cf_sess *s = c->s;
	json_t *all = json_object_get(c->o, "all");

	if (!need_auth(c))
		return 0;
	if (all && !json_is_boolean(all))
		return fail(c, "bad_request", "field 'all' must be a boolean");
	if (!cf_sess_account(s)[0] || !s->user_id)
		return fail(c, "bad_state", "logout needs a session that said hello with a token");
	if (s->x->dstate && all && json_is_true(all))
		return fail(c, "bad_state",
		            "this session signed in with the application's token: sign out there "
		            "(its tokens end at their exp)");
	/* A token is a bearer credential the server does not list: one alone cannot be
	 * revoked, the client forgets it. all bumps the account's gen: every token is void. */
	if (!all || !json_is_true(all))
		return cf_native_reply(c, "logout", json_pack("{s:b}", "revoked", 0));
	if (cf_auth_bump_gen(s->env->auth, s->user_id, logout_done, s, c->id) < 0)
		return -1;
	cf_sess_wait(s);
	return 0;
}
