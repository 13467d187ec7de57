/* SPDX-License-Identifier: MIT */
/* dialect.h - a dialect is a codec between one wire protocol and the core: it parses complete
 * client messages into core commands and renders core events into frames, once per event. It
 * also says what the transport asks of it: which WebSocket paths are its own, whether a
 * handshake to them is admitted, and the answers to its plain HTTP endpoints. The transport
 * asks the dialects a listener mounts in the order of the dialect table (mount.c) and names
 * none of them. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* How many dialects a build may have: a message keeps one rendered frame per dialect
 * (msg.h), indexed by the dialect's id. The dialects themselves are listed in the dialects
 * layer (dialects.def, dialects.h); the core never names one. */
#define CF_DIALECT_SLOTS 8

struct cf_sess;
struct cf_msg;
struct cf_frame;
struct cf_member;
struct cf_rules;
struct cf_rules_change;
struct cf_config;
struct cf_env;
struct lws;

/* A plain HTTP request as a dialect sees it. http.c owns it; it lives until the request's
 * connection closes, so a dialect may keep it (as the key of an answer it gives later). */
struct cf_http_req {
	struct cf_env *env;
	struct lws *wsi;
	const char *path; /* %XX decoded, without the query; valid during a call only */
	int method;       /* 'G' GET, 'P' POST, 'O' OPTIONS, '?' any other */
	const char *www;  /* the listener's static directory, "" for none */
	/* Header lines ("Name: value\r\n"), malloc()ed, that every answer to this request
	 * carries, whoever gives it; a dialect may set them even when the path is not its own.
	 * http.c frees them. */
	char *headers;
	/* The Content-Type of the dialect's answer (static), NULL for text/plain; charset=utf-8. */
	const char *ctype;
	/* Set by http.c: answers a request the dialect's http() or http_body() left waiting
	 * (-EINPROGRESS), once, with a status and a plain-text body (copied), unless the
	 * dialect's http_cancel() ran first. */
	void (*done)(struct cf_http_req *rq, int status, const char *body);
};

/* http() asks for the request's body first, then calls http_body(). */
#define CF_HTTP_BODY 1

typedef struct cf_frame *cf_frame_render_fn(const struct cf_msg *m);

struct cf_dialect {
	int id; /* CF_DIALECT_<ID>, its index in the dialect table */
	const char *name;
	/* The listener-level paths the dialect answers, NULL-terminated: exact paths, or
	 * prefixes ending in '*'. A listener refuses to mount two dialects claiming the same
	 * path (mount.c); the claims do not route: ws_path() and http() below do. */
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
	/* render_msg renders edits and deletes too (cf_msg.kind); else they are not sent to the
	 * dialect's sessions (a seed's protocol cannot show them: its history shows the edited
	 * text, and no deleted message). */
	unsigned render_fixes : 1;
	struct cf_frame *(*render_presence)(const char *ev, const char *room, const char *user_id,
	                                    const char *user_name);
	struct cf_frame *(*render_bye)(int code, const char *reason);
	/* A direct message (m->dm). */
	cf_frame_render_fn *render_dm;
	/* User uid (uname) is typing in room (typing 1, shown for ttl_ms unless renewed) or
	 * stopped (0): room.h struct cf_typing. */
	struct cf_frame *(*render_typing)(const char *room, const char *uid, const char *uname,
	                                  int typing, int ttl_ms);
	/* Another member's read marker (room.h struct cf_typing.read): user uid (uname) has read
	 * room up to seq. NULL: not shown. */
	struct cf_frame *(*render_read_of)(const char *room, const char *uid, const char *uname,
	                                   uint64_t seq);
	/* {"ev":"gap"}: messages after seq may be missing; epoch is the room's from now on. */
	struct cf_frame *(*render_gap)(const char *room, uint64_t epoch, uint64_t seq);
	/* The rules of a room changed (rules.h; r NULL: the room has none any more): the event
	 * its members see. NULL: not shown in this protocol. */
	struct cf_frame *(*render_rules)(const char *room, const struct cf_rules *r,
	                                 const struct cf_rules_change *c);
	/* The operator's notice to every session (docs/protocol.md "notice"). NULL: not shown in
	 * this protocol. */
	struct cf_frame *(*render_notice)(const char *text, int64_t ts_ms);
	/* The session's user is being removed from room: c is the kick, ban or close, or NULL when
	 * the room's rules no longer let it in (a private room it has no role in). Called before
	 * the membership goes; the dialect tells its client. NULL: the registry closes the session
	 * (1008), as a protocol that cannot say it has no other way to. */
	void (*kicked)(struct cf_sess *s, const char *room, const struct cf_rules_change *c);
	/* The user's read marker in room moved to seq (another session of the same user, or this
	 * one, read on). NULL: not shown in this protocol. */
	struct cf_frame *(*render_read)(const char *room, uint64_t seq);
	/* A join that waited for the room to sync (cf_room_join() gave -EINPROGRESS) is done:
	 * reply from the room's state, or with an error when err < 0 (the member is removed
	 * after this returns). */
	void (*join_done)(struct cf_sess *s, struct cf_member *mb, int err);
	/* The session is closing: free what the dialect hung on it. May be NULL. */
	void (*on_close)(struct cf_sess *s);

	/* ---- What the transport asks, on a listener that mounts the dialect. ---- */
	/* Whether a WebSocket upgrade to path is the dialect's (its [dialects] switch is
	 * checked here). The dialects are asked in table order and the first one to say yes
	 * gets the session, so a catch-all comes last. NULL: no WebSocket endpoint. */
	int (*ws_path)(const struct cf_config *cfg, const char *path);
	/* An upgrade to one of its paths passed the RFC 6455 checks: the dialect's own checks
	 * (query, Origin), before the common gate (limits, draining). 0 to go on, else the status
	 * and its exact plain-text body (static). NULL: nothing of its own to check. */
	int (*admit)(struct cf_env *env, struct lws *wsi, const char **ret_body);
	/* One of the seeds: a handshake failing the RFC 6455 checks is refused in plain text, as
	 * the seed's Go server did, and server.origins does not apply (the seed took any Origin,
	 * or admit() applies its own rule). Else refusals are JSON and server.origins applies. */
	unsigned seed : 1;
	/* The listener serves confab's own API (/metrics, /api/v1/...) where it mounts this. */
	unsigned api : 1;
	/* Plain HTTP, asked in table order before the listener's API, /healthz and static
	 * files: 0 when the request is not the dialect's, else a status with the plain-text body
	 * (text/plain; charset=utf-8) in out (NUL-terminated), CF_HTTP_BODY when the body must be
	 * read first (then http_body() answers), or -EINPROGRESS when rq->done() answers later
	 * (it may run before http() returns); another negative errno fails the request (the
	 * connection closes). NULL: no plain HTTP. */
	int (*http)(struct cf_http_req *rq, char *out, size_t outlen);
	/* The body of a request http() gave CF_HTTP_BODY: a status with its body in out, or
	 * -EINPROGRESS as above. */
	int (*http_body)(struct cf_http_req *rq, const char *body, size_t len, char *out,
	                 size_t outlen);
	/* The request rq is going away: an answer still pending for it is dropped. */
	void (*http_cancel)(struct cf_http_req *rq);
	/* Whether a room is the dialect's private business, kept out of the API's room list
	 * (asked of every dialect, mounted or not: rooms are the node's). May be NULL. */
	int (*room_hidden)(const char *room);
	/* At exit, after the bus is freed: forgets what the dialect keeps process-wide. */
	void (*cleanup)(void);
};
