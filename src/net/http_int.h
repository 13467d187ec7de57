/* SPDX-License-Identifier: MIT */
/* http_int.h - what the files of the plain-HTTP transport share (http.c: requests, answers,
 * routing, the upgrade gate; http_api.c: confab's own API; http_static.c: the static files).
 * Private to them: nothing outside src/http*.c includes it. */
#pragma once

#include <stddef.h>
#include <libwebsockets.h>
#include <jansson.h>

#include "core/dialect.h"

struct cf_server;
struct cf_dialect;

#define BODY_MAX (64 * 1024)

enum route {
	R_NONE,
	R_POST_MESSAGE,
	R_POST_DM,     /* POST /api/v1/users/<id>/messages; p->room holds the user id */
	R_DIALECT,     /* a dialect's request with a body (p->dialect); p->room holds the path */
	R_POST_RULES,  /* POST /api/v1/rooms/<room>/rules: a change of the room's rules */
	R_POST_NOTICE, /* POST /api/v1/notice: the operator's notice to every session */
};

struct http_pss {
	struct cf_server *srv;
	struct lws *wsi;
	/* What the dialects see of the request; rq.headers (owned) go on every answer to it. */
	struct cf_http_req rq;
	const struct cf_dialect *dialect; /* R_DIALECT: the dialect reading the body */
	unsigned char *resp;              /* owned: LWS_PRE + headers + body */
	size_t resp_len;
	enum route route;
	char *room; /* owned: room of a POST */
	char *post; /* owned: request body */
	size_t post_len;
	int auth_ok;          /* -1: admin API off, 0: bad token, 1: good */
	size_t body_seen;     /* bytes of the body received, kept or not */
	unsigned waiting : 1; /* a publish, a history read or a dialect's answer is in flight */
	unsigned too_big : 1;
	unsigned body : 1;     /* a POST, PUT or PATCH whose body is not all in yet */
	unsigned answered : 1; /* the response is written: close once the body is in */
	unsigned held : 1;     /* flow-controlled while the answer is prepared (request_in()) */
};

/* Answers: builds the whole response into p->resp and asks for WRITEABLE. 0 or -1. */
int cf_http_respond(struct lws *wsi, struct http_pss *p, int status, const char *ctype,
                    const char *extra, const char *body, size_t blen);
/* The same with o's compact JSON (stolen; NULL: 500). */
int cf_http_respond_json(struct lws *wsi, struct http_pss *p, int status, const char *extra,
                         json_t *o);
/* A JSON error {"error":{"code","message"}}. */
int cf_http_error(struct lws *wsi, struct http_pss *p, int status, const char *extra,
                  const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* http_api.c: /healthz, /metrics and /api/v1 (README). The GETs answer at once or when the bus
 * does; the POSTs are set up here (auth checked, p->route set) and answered with the body. */
int cf_http_api_healthz(struct lws *wsi, struct http_pss *p);
int cf_http_api_metrics(struct lws *wsi, struct http_pss *p);
int cf_http_api_rooms(struct lws *wsi, struct http_pss *p);
int cf_http_api_history(struct lws *wsi, struct http_pss *p, const char *name);
/* The admin token: 1 given, 0 missing or wrong, -1 the admin API is off (no token set). */
int cf_http_api_auth(struct lws *wsi, struct cf_server *srv);
int cf_http_api_users(struct lws *wsi, struct http_pss *p, const char *rest, int method);
int cf_http_api_post_message(struct lws *wsi, struct http_pss *p);
int cf_http_api_post_dm(struct lws *wsi, struct http_pss *p);
/* GET (the rules as they are kept) and POST (a change, as the operator) of
 * /api/v1/rooms/<p->room>/rules; both take the admin token. */
int cf_http_api_get_rules(struct lws *wsi, struct http_pss *p);
int cf_http_api_post_rules(struct lws *wsi, struct http_pss *p);
int cf_http_api_members(struct lws *wsi, struct http_pss *p);
int cf_http_api_online(struct lws *wsi, struct http_pss *p);
int cf_http_api_post_notice(struct lws *wsi, struct http_pss *p);

/* http_static.c: the directory the request's listener serves at / ("" for none), and a file of
 * it (or 404). */
const char *cf_http_www(struct lws *wsi);
int cf_http_static(struct lws *wsi, struct http_pss *p, const char *path);
