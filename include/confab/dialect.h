/* SPDX-License-Identifier: MIT */
/* dialect.h - a dialect is a codec between one wire protocol and the core: it parses complete
 * client messages into core commands and renders core events into frames, once per event. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum {
	CF_DIALECT_NATIVE,
	CF_DIALECT_DISPOSABLE, /* seed 000, disposable-chat */
	CF_DIALECT_CHATTY,     /* seed 002, chatty */
	CF_DIALECT_TEXTO,      /* seed 003, texto */
	CF_DIALECT_REDIS_CHAT, /* seed 001, redis_chat */
	CF_DIALECT_TTU,        /* seed 004, the ttu chat server */
	CF_DIALECT_MAX,
};

struct cf_sess;
struct cf_msg;
struct cf_frame;
struct cf_member;
struct cf_config;
struct lws;

typedef struct cf_frame *cf_frame_render_fn(const struct cf_msg *m);

struct cf_dialect {
	int id;
	const char *name;
	/* The listener-level paths the dialect answers, NULL-terminated: exact paths, or
	 * prefixes ending in '*'. A listener refuses to mount two dialects claiming the same
	 * path (mount.c); the claims do not route, each dialect's path functions do. */
	const char *const *paths;
	/* Several queued events may be joined with '\n' into one WebSocket frame. */
	unsigned pack_newline : 1;
	/* Binary messages go to on_text as text, made valid UTF-8 first (invalid sequences as
	 * U+FFFD, cut at a NUL), as the seeds' Go decoders read them; else on_text gets buf NULL.
	 */
	unsigned binary_as_text : 1;
	/* Largest client message in bytes, 1009 above; 0: limits.max_frame. */
	size_t max_frame;
	/* The largest client message is limits.max_text instead (a frame is the text). */
	unsigned max_is_text : 1;
	/* The session is established (s->user_id is still NULL). May be NULL. Returns 0; a
	 * dialect that refuses the session closes it with cf_sess_close(). */
	int (*on_open)(struct cf_sess *s, struct lws *wsi);
	/* A complete text message from the client. Returns 0, or -1 to close the session (the
	 * close code is set on the session). */
	int (*on_text)(struct cf_sess *s, const char *buf, size_t len);
	/* Renderers return a new frame with one reference, or NULL on OOM or when the event
	 * has no form in this protocol. A renderer the protocol lacks altogether is NULL: the
	 * event is not sent to its sessions. */
	cf_frame_render_fn *render_msg;
	struct cf_frame *(*render_presence)(const char *ev, const char *room, const char *user_id,
	                                    const char *user_name);
	struct cf_frame *(*render_bye)(int code, const char *reason);
	/* A direct message (m->dm). */
	cf_frame_render_fn *render_dm;
	/* {"ev":"gap"}: messages after seq may be missing; epoch is the room's from now on. */
	struct cf_frame *(*render_gap)(const char *room, uint64_t epoch, uint64_t seq);
	/* A join that waited for the room to sync (cf_room_join() gave -EINPROGRESS) is done:
	 * reply from the room's state, or with an error when err < 0 (the member is removed
	 * after this returns). */
	void (*join_done)(struct cf_sess *s, struct cf_member *mb, int err);
	/* The session is closing: free what the dialect hung on it. May be NULL. */
	void (*on_close)(struct cf_sess *s);
};

extern const struct cf_dialect cf_dialect_native;
extern const struct cf_dialect cf_dialect_disposable;
extern const struct cf_dialect cf_dialect_chatty;
extern const struct cf_dialect cf_dialect_texto;
extern const struct cf_dialect cf_dialect_ttu;
extern const struct cf_dialect cf_dialect_redis_chat;

/* Seed 000 (dialect_disposable.c). Whether path is its WebSocket endpoint (/ws) or its health
 * check (/health), with dialects.disposable_chat on. */
int cf_disposable_path(const struct cf_config *cfg, const char *path);
int cf_disposable_health_path(const struct cf_config *cfg, const char *path);
/* Checks a request for /ws before the upgrade, in the seed's order: the query (400), then,
 * for an upgrade, dialects.disposable_origin against Origin (403). A request that is no
 * upgrade gets 400 too. 0: admitted; else the status with the exact plain-text body. */
int cf_disposable_admit(const struct cf_config *cfg, struct lws *wsi, int upgrade,
                        const char **ret_body);

/* Seed 002 (dialect_chatty.c), with dialects.chatty on. Whether path is its WebSocket
 * endpoint (/chat/join). */
int cf_chatty_path(const struct cf_config *cfg, const char *path);
/* The answer to a POST /chat that waited for the bus (Redis, in cluster mode): status and
 * plain-text body (borrowed). */
typedef void cf_chatty_done_cb(void *ud, int status, const char *body);
/* /ping, /chat (POST creates a room) and /chat/join without an upgrade: 0 when path is none of
 * them, else the status with the plain-text body in out (NUL-terminated). method: 'G', 'P',
 * '?'. When the bus records the room later (cluster mode), a POST /chat gives -EINPROGRESS:
 * done(ud, ...) answers later, once, unless cf_chatty_cancel(ud) runs first. */
struct cf_env;
int cf_chatty_http(struct cf_env *env, struct lws *wsi, const char *path, int method, char *out,
                   size_t outlen, cf_chatty_done_cb *done, void *ud);
/* The request ud is going away: its pending answer is dropped. */
void cf_chatty_cancel(void *ud);
/* Checks an upgrade to /chat/join: same origin (403), a room created by POST /chat (404; where
 * the bus cannot tell at once, as in cluster mode, only a well-formed id: the bus is asked once
 * the session is open). 0: admitted; else the status with the exact plain-text body. */
int cf_chatty_admit(struct cf_env *env, struct lws *wsi, const char **ret_body);
/* Forgets the POSTs still waiting for the bus (at exit, after the bus is freed). */
void cf_chatty_free(void);
/* Seed 003 (dialect_texto.c). Whether path is its WebSocket endpoint (/v1/texto), with
 * dialects.texto on. */
int cf_texto_path(const struct cf_config *cfg, const char *path);
/* Seed 001 (dialect_redis_chat.c), on listeners mounting redis_chat (it has no switch).
 * Whether path is its WebSocket endpoint (/ws), its link list (/links). */
int cf_redis_chat_path(const char *path);
int cf_redis_chat_links_path(const char *path);
/* Whether room is one of its private channels (kept out of room listings). */
int cf_redis_chat_private_room(const char *room);
/* Forgets the account names and private channels it remembers (at exit). */
void cf_redis_chat_free(void);

/* Seed 004 (dialect_ttu.c). Whether a WebSocket upgrade to path goes to the dialect on a
 * listener that mounts it: any path but / and /api/..., as the seed's middleware took them
 * (other dialects mounted on the listener are asked first). */
int cf_ttu_ws_path(const char *path);
/* The name a `username:<name>` frame registers (NULs stripped) into
 * out: its length, -EINVAL when the frame is no registration, -E2BIG when out is too small. */
int cf_ttu_parse_username(const char *buf, size_t len, char *out, size_t outlen);
/* The body of POST /api/send or /api/receive: receiver, sender (NULL when absent) and payload
 * as new strings, or -EINVAL with the plain-text reason in *why. */
int cf_ttu_parse_body(const char *body, size_t len, char **receiver, char **sender, char **payload,
                      const char **why);
/* Seed 004's plain HTTP on a listener that mounts it: 0 when path is not its own, a status
 * with the plain-text body in out, CF_TTU_BODY when the request's body must be read first
 * (then cf_ttu_http_body()), or -EINPROGRESS when done(ud, status, body) answers later
 * (cf_ttu_cancel(ud) when the request goes away first). method: 'G', 'P', 'O', '?'. */
#define CF_TTU_BODY 1
typedef void cf_ttu_done_cb(void *ud, int status, const char *body);
int cf_ttu_http(struct cf_env *env, struct lws *wsi, const char *path, int method, char *out,
                size_t outlen, cf_ttu_done_cb *done, void *ud);
int cf_ttu_http_body(struct cf_env *env, struct lws *wsi, const char *path, const char *body,
                     size_t len, char *out, size_t outlen, cf_ttu_done_cb *done, void *ud);
void cf_ttu_cancel(void *ud);
