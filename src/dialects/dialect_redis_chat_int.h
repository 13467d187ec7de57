/* SPDX-License-Identifier: MIT */
/* dialect_redis_chat_int.h - what the files of seed 001 (basic-redis-chat-demo-go) share, and
 * nobody else sees (nothing outside src/dialects/ includes it): the request being served, the
 * session's state, the remembered names and channels, and the functions each file offers the
 * others.
 *
 *   dialect_redis_chat.c           the protocol: envelopes parsed and checked as Go's decoder
 *                                  did, one request at a time, who may ask, errors, /links
 *   dialect_redis_chat_render.c    core events as 001's JSON, and the account UUIDs and
 *                                  private channels' parties the renderers need
 *   dialect_redis_chat_accounts.c  signIn, signUp, users, signOut
 *   dialect_redis_chat_channels.c  channelJoin, channelMessage, channelLeave */
#ifndef CONFAB_DIALECT_REDIS_CHAT_INT_H
#define CONFAB_DIALECT_REDIS_CHAT_INT_H

#include "auth/auth.h"
#include "base/text.h"
#include "core/msg.h"
#include "core/room.h"
#include "core/sess.h"

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uthash.h>

#define PUBLIC_ROOM  "public"
#define PRIVATE_PFX  "001p:"
#define PRIVATE_LBL  "redis_chat private channel"
#define JOIN_HISTORY 10
/* The nonce of a 001 message: "r1:<sender's account UUID>:<32 hex>", 72 bytes. Longer than
 * any nonce confab.v1 accepts (64), so only this dialect makes them: the renderer can trust
 * the UUID in it. */
#define NONCE_PFX "r1:"
#define NONCE_LEN (3 + 36 + 1 + 32)

/* Error codes: the seed's, and 5 (unauthorized), which it never needed. */
enum {
	E_GENERIC = 0,
	E_JSON = 1,
	E_SIGNIN = 4,
	E_UNAUTHORIZED = 5,
	E_SIGNOUT = 6,
	E_USER = 100,
	E_JOIN = 101,
	E_USERS = 103,
	E_WRITE = 104,
};

enum type {
	T_SIGNIN,
	T_SIGNUP,
	T_USERS,
	T_JOIN,
	T_MESSAGE,
	T_LEAVE,
	T_SIGNOUT,
	T_NTYPES,
};

/* A private channel's parties, while a session of this node is joined to it (refs). */
struct pair_ent {
	UT_hash_handle hh;
	uint32_t refs;
	char uuid[2][37];
	char *name[2];
	char room[];
};

/* The request being served; later ones are held (sess.h: cf_sess_hold()) until it is done. */
struct req {
	enum type type;
	json_t *o;      /* the request, for error payloads */
	char uid[37];   /* userUUID as given ("" none) */
	char *key;      /* accessKey (NULL none) */
	char recip[37]; /* recipientUUID ("" public) */
	char *rname;    /* the recipient's name, once looked up */
	char *pw;       /* signIn/signUp, wiped */
	size_t pwlen;
	char *name;               /* signIn/signUp */
	int retried;              /* signIn/signUp: the other operation was tried too */
	struct cf_account *accts; /* users: names owned */
	size_t n, done;
	json_t *list; /* users: the answer's array */
	char room[CF_ROOM_NAME_MAX + 1];
	unsigned names_read : 1; /* channelJoin: the account list was read for members' UUIDs */
};

struct rc {
	char suuid[37];
	char room[CF_ROOM_NAME_MAX + 1]; /* the joined channel's room, "" none */
	char recip[37];                  /* ... its recipient, "" public */
	struct pair_ent *pair;           /* held while joined to a private channel */
	struct req *cur;                 /* NULL: idle (else the session is busy) */
};

static inline struct rc *
rc_of(struct cf_sess *s)
{
	return s->x ? s->x->dstate : NULL;
}

/* dialect_redis_chat.c */
void cf_redis_chat_push(struct cf_sess *s, json_t *o);
void cf_redis_chat_error(struct cf_sess *s, unsigned code, json_t *req, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void cf_redis_chat_finish(struct cf_sess *s);
int cf_redis_chat_inner_str(json_t *obj, const char *name, const char **ret);

/* dialect_redis_chat_render.c */
void cf_redis_chat_name_put(const char *uuid, const char *name);
const char *cf_redis_chat_uuid_of(const char *uid);
struct pair_ent *cf_redis_chat_pair_ref(const char *room, const char *ua, const char *na,
                                        const char *ub, const char *nb);
void cf_redis_chat_pair_unref(struct pair_ent *p);
json_t *cf_redis_chat_user_obj(const char *uuid, const char *name, int online);
json_t *cf_redis_chat_msg_obj(const struct cf_msg *m, int history);
json_t *cf_redis_chat_sys_join(const char *room, const char *uid, const char *uname,
                               const char *suuid, const char *recip);
struct cf_frame *cf_redis_chat_render_msg(const struct cf_msg *m);
struct cf_frame *cf_redis_chat_render_presence(const char *ev, const char *room, const char *uid,
                                               const char *uname);
struct cf_frame *cf_redis_chat_render_dm(const struct cf_msg *m);
void cf_redis_chat_cleanup(void);

/* dialect_redis_chat_accounts.c */
const char *cf_redis_chat_auth_why(int err);
int cf_redis_chat_become(struct cf_sess *s, const struct cf_account *a);
void cf_redis_chat_credentials(struct cf_sess *s, json_t *obj);
void cf_redis_chat_users(struct cf_sess *s);
void cf_redis_chat_signout(struct cf_sess *s, json_t *obj);

/* dialect_redis_chat_channels.c */
void cf_redis_chat_leave_channel(struct cf_sess *s);
void cf_redis_chat_join(struct cf_sess *s);
void cf_redis_chat_message(struct cf_sess *s, json_t *obj);
void cf_redis_chat_leave(struct cf_sess *s);
void cf_redis_chat_join_done(struct cf_sess *s, struct cf_member *mb, int err);

#endif
