/* SPDX-License-Identifier: MIT */
/* http.c - plain HTTP requests: one per connection, routed to the dialects' own endpoints
 * (asked through struct cf_dialect, in table order), then confab's API (http_api.c), then the
 * listener's static files (http_static.c); and admission of WebSocket upgrades (path, the
 * dialect's checks, Origin, connection limits) before the handshake. Responses are built whole,
 * then written from HTTP_WRITEABLE. Every error body is JSON, except the seeds' answers on their
 * own paths, which are plain text as the seeds' servers gave them. */
#include "net/http.h"
#include "base/clock.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/inbox.h"
#include "core/req.h"
#include "core/room.h"
#include "net/http_int.h"
#include "net/mount.h"
#include "net/server.h"
#include "net/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

size_t
cf_http_pss_size(void)
{
	return sizeof(struct http_pss);
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 301:
		return "Moved Permanently";
	case 204:
		return "No Content";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	}
	return "Unknown";
}

/* Builds a complete HTTP/1.1 response into a new buffer with LWS_PRE headroom. */
static unsigned char *
build(int status, const char *ctype, const char *extra, const char *body, size_t blen,
      size_t *ret_len)
{
	char head[2048];
	/* One request per connection (see cf_http_callback()): every answer says so. */
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                  "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	                  status, status_text(status), ctype, blen, extra ? extra : "");
	unsigned char *buf;

	if (hl < 0 || (size_t)hl >= sizeof(head))
		return NULL;
	buf = malloc(LWS_PRE + (size_t)hl + blen);
	if (!buf)
		return NULL;
	memcpy(buf + LWS_PRE, head, (size_t)hl);
	memcpy(buf + LWS_PRE + hl, body, blen);
	*ret_len = (size_t)hl + blen;
	return buf;
}

int
cf_http_respond(struct lws *wsi, struct http_pss *p, int status, const char *ctype,
                const char *extra, const char *body, size_t blen)
{
	char both[1024];

	if (p->rq.headers) {
		snprintf(both, sizeof(both), "%s%s", p->rq.headers, extra ? extra : "");
		extra = both;
	}
	free(p->resp);
	p->resp = build(status, ctype, extra, body, blen, &p->resp_len);
	if (!p->resp)
		return -1;
	if (p->held) {
		p->held = 0;
		lws_rx_flow_control(wsi, 1);
	}
	lws_callback_on_writable(wsi);
	return 0;
}

/* Steals o. */
int
cf_http_respond_json(struct lws *wsi, struct http_pss *p, int status, const char *extra, json_t *o)
{
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int r;

	json_decref(o);
	if (!txt)
		return -1;
	r = cf_http_respond(wsi, p, status, "application/json", extra, txt, strlen(txt));
	free(txt);
	return r;
}

int
cf_http_error(struct lws *wsi, struct http_pss *p, int status, const char *extra, const char *code,
              const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cf_http_respond_json(
	        wsi, p, status, extra,
	        json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* A dialect answers a request it left waiting (for the bus), in plain text. */
static void
dialect_done(struct cf_http_req *rq, int status, const char *body)
{
	struct http_pss *p = lws_container_of(rq, struct http_pss, rq);

	p->waiting = 0;
	if (cf_http_respond(p->wsi, p, status, "text/plain; charset=utf-8", NULL, body,
	                    strlen(body)) < 0)
		lws_set_timeout(p->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* Asks the dialects the listener mounts about a plain request, in table order (their
 * struct cf_dialect http()): 0 or -1 when one took it, 1 when none did. */
static int
dialect_http(struct lws *wsi, struct http_pss *p, const char *path)
{
	const struct cf_dialect *d;
	char body[8192];
	int status;

	for (size_t i = 0; (d = cf_mount_at(i)); i++) {
		if (!d->http || !cf_server_mounted(wsi, d->id))
			continue;
		p->rq.path = path;
		p->rq.ctype = NULL;
		/* rq.done() may answer before http() returns (the local bus answers at once). */
		p->waiting = 1;
		status = d->http(&p->rq, body, sizeof(body));
		if (status == -EINPROGRESS)
			return 0;
		p->waiting = 0;
		if (status < 0)
			return -1;
		if (status == CF_HTTP_BODY) {
			free(p->room);
			p->room = strdup(path);
			if (!p->room)
				return -1;
			p->route = R_DIALECT;
			p->dialect = d;
			return 0; /* the body follows */
		}
		if (status)
			return cf_http_respond(wsi, p, status,
			                       p->rq.ctype ? p->rq.ctype
			                                   : "text/plain; charset=utf-8",
			                       NULL, body, strlen(body));
	}
	return 1;
}

/* The body of a request a dialect asked to read (CF_HTTP_BODY) is in. */
static int
dialect_body(struct lws *wsi, struct http_pss *p)
{
	char body[8192];
	int status;

	if (p->too_big) {
		snprintf(body, sizeof(body), "body over %d bytes\n", BODY_MAX);
		return cf_http_respond(wsi, p, 413, "text/plain; charset=utf-8", NULL, body,
		                       strlen(body));
	}
	p->rq.path = p->room;
	p->rq.ctype = NULL;
	p->waiting = 1;
	status = p->dialect->http_body(&p->rq, p->post, p->post_len, body, sizeof(body));
	if (status == -EINPROGRESS)
		return 0;
	p->waiting = 0;
	if (status < 0)
		return -1;
	return cf_http_respond(wsi, p, status,
	                       p->rq.ctype ? p->rq.ctype : "text/plain; charset=utf-8", NULL, body,
	                       strlen(body));
}

/* Whether the listener serves confab's own API: it mounts a dialect that asks for it. */
static int
api_mounted(struct lws *wsi)
{
	const struct cf_dialect *d;

	for (size_t i = 0; (d = cf_mount_at(i)); i++)
		if (d->api && cf_server_mounted(wsi, d->id))
			return 1;
	return 0;
}

static int
method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return 'G';
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return 'P';
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
		return 'O';
	return '?';
}

static int
on_http(struct lws *wsi, struct http_pss *p, const char *path)
{
	static const char rooms[] = "/api/v1/rooms/";
	int m = method_of(wsi);
	size_t plen = strlen(path);

	/* Only what the listener mounts: the rest falls through to its static directory. */
	int api = api_mounted(wsi), r;

	cf_metrics.http_requests_total++;
	r = dialect_http(wsi, p, path);
	if (r != 1)
		return r;
	if (api && !strncmp(path, rooms, sizeof(rooms) - 1)) {
		const char *name = path + sizeof(rooms) - 1;
		size_t nlen;
		const char *sfx = NULL;

		if (plen > sizeof(rooms) - 1 + 8 && !strcmp(path + plen - 8, "/history"))
			sfx = "/history";
		else if (plen > sizeof(rooms) - 1 + 9 && !strcmp(path + plen - 9, "/messages"))
			sfx = "/messages";
		else if (plen > sizeof(rooms) - 1 + 6 && !strcmp(path + plen - 6, "/rules"))
			sfx = "/rules";
		else if (plen > sizeof(rooms) - 1 + 8 && !strcmp(path + plen - 8, "/members"))
			sfx = "/members";
		if (!sfx)
			return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
		nlen = plen - (sizeof(rooms) - 1) - strlen(sfx);
		free(p->room);
		p->room = strndup(name, nlen);
		if (!p->room)
			return -1;
		if (cf_text_name_ok(p->room, nlen, 1, CF_ROOM_NAME_MAX, 0) < 0)
			return cf_http_error(wsi, p, 400, NULL, "room_name_invalid",
			                     "invalid room name");
		if (!strcmp(sfx, "/history")) {
			if (m != 'G')
				return cf_http_error(wsi, p, 405, "Allow: GET\r\n",
				                     "method_not_allowed", "use GET");
			return cf_http_api_history(wsi, p, p->room);
		}
		if (!strcmp(sfx, "/members")) {
			if (m != 'G')
				return cf_http_error(wsi, p, 405, "Allow: GET\r\n",
				                     "method_not_allowed", "use GET");
			p->auth_ok = cf_http_api_auth(wsi, p->srv);
			return cf_http_api_members(wsi, p);
		}
		if (!strcmp(sfx, "/rules") && m == 'G') {
			p->auth_ok = cf_http_api_auth(wsi, p->srv);
			return cf_http_api_get_rules(wsi, p);
		}
		if (m != 'P' && !strcmp(sfx, "/rules"))
			return cf_http_error(wsi, p, 405, "Allow: GET, POST\r\n",
			                     "method_not_allowed", "use GET or POST");
		if (m != 'P')
			return cf_http_error(wsi, p, 405, "Allow: POST\r\n", "method_not_allowed",
			                     "use POST");
		p->route = !strcmp(sfx, "/rules") ? R_POST_RULES : R_POST_MESSAGE;
		p->auth_ok = cf_http_api_auth(wsi, p->srv);
		return 0; /* the body follows */
	}
	if (api && !strncmp(path, "/api/v1/users/", 14))
		return cf_http_api_users(wsi, p, path + 14, m);
	if (api && !strcmp(path, "/api/v1/notice")) {
		if (m != 'P')
			return cf_http_error(wsi, p, 405, "Allow: POST\r\n", "method_not_allowed",
			                     "use POST");
		p->route = R_POST_NOTICE;
		p->auth_ok = cf_http_api_auth(wsi, p->srv);
		return 0; /* the body follows */
	}
	/* /healthz answers on every listener (probes); the rest of the API where a dialect
	 * asking for it (confab.v1) is. */
	if (m != 'G') {
		if (!strcmp(path, "/healthz") ||
		    (api && (!strcmp(path, "/metrics") || !strcmp(path, "/api/v1/rooms") ||
		             !strcmp(path, "/api/v1/users"))) ||
		    (!strcmp(path, "/") && *cf_http_www(wsi)))
			return cf_http_error(wsi, p, 405, "Allow: GET\r\n", "method_not_allowed",
			                     "use GET");
		return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
	}
	if (!strcmp(path, "/healthz"))
		return cf_http_api_healthz(wsi, p);
	if (api && !strcmp(path, "/metrics"))
		return cf_http_api_metrics(wsi, p);
	if (api && !strcmp(path, "/api/v1/rooms"))
		return cf_http_api_rooms(wsi, p);
	if (api && !strcmp(path, "/api/v1/users")) {
		p->auth_ok = cf_http_api_auth(wsi, p->srv);
		return cf_http_api_online(wsi, p);
	}
	return cf_http_static(wsi, p, path);
}

/* Writes a refusal of an upgrade and ends the connection. Returning 1 would let lws keep it for
 * another request (see cf_http_callback() on why it may not); -1 makes lws send what the socket
 * did not take and close. */
static int
refuse_upgrade(struct lws *wsi, int status, const char *ctype, const char *extra, const char *text)
{
	size_t len;
	unsigned char *buf = build(status, ctype, extra, text, strlen(text), &len);

	cf_metrics.rejected_connections_total++;
	if (buf)
		lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_HEADERS);
	free(buf);
	return -1;
}

/* A refused upgrade in plain text (the seeds' refusals), as Go's net/http sends them; extra
 * (or NULL) adds headers. */
static int
write_plain(struct lws *wsi, int status, const char *extra, const char *text)
{
	char hdrs[256];

	snprintf(hdrs, sizeof(hdrs), "X-Content-Type-Options: nosniff\r\n%s", extra ? extra : "");
	return refuse_upgrade(wsi, status, "text/plain; charset=utf-8", hdrs, text);
}

/* Whether key is the base64 of 16 bytes (RFC 6455 4.2.1): 22 characters of the alphabet, then
 * "==". The bits the last character carries beyond the 128 are not checked, as Go's decoder
 * (the seeds' servers) did not. */
static int
ws_key_ok(const char *key, int n)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	if (n != 24 || strcmp(key + 22, "=="))
		return 0;
	for (int i = 0; i < 22; i++)
		if (!key[i] || !strchr(b64, key[i]))
			return 0;
	return 1;
}

/* The RFC 6455 checks lws 4.1 does not make before it accepts an upgrade (it upgrades version
 * 8, takes any Sec-WebSocket-Key, and routes a POST by its empty GET path): 0 when the request
 * passes, else the status, *ret_extra the headers it needs and *ret_code its error code. */
static int
ws_handshake_check(struct lws *wsi, const char **ret_extra, const char **ret_code)
{
	char v[16], key[64];
	int n;

	*ret_extra = NULL;
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) {
		*ret_extra = "Allow: GET\r\n";
		*ret_code = "method_not_allowed";
		return 405;
	}
	n = lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_VERSION);
	if (n <= 0 || strcmp(v, "13")) {
		*ret_extra = "Sec-WebSocket-Version: 13\r\n";
		*ret_code = n == 0 ? "bad_handshake" : "unsupported_version";
		return n == 0 ? 400 : 426;
	}
	n = lws_hdr_copy(wsi, key, sizeof(key), WSI_TOKEN_KEY);
	if (!ws_key_ok(key, n)) {
		*ret_code = "bad_handshake";
		return 400;
	}
	return 0;
}

/* The request's path, whichever method lws parsed ("" for none). */
static void
request_path(struct lws *wsi, char *path, size_t len)
{
	static const enum lws_token_indexes uri[] = {
	        WSI_TOKEN_GET_URI,   WSI_TOKEN_POST_URI,   WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
	        WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_HEAD_URI,
	};

	path[0] = '\0';
	for (size_t i = 0; i < sizeof(uri) / sizeof(uri[0]); i++)
		if (lws_hdr_total_length(wsi, uri[i])) {
			if (lws_hdr_copy(wsi, path, (int)len, uri[i]) < 0)
				path[0] = '\0';
			return;
		}
}

/* The WebSocket upgrade gate: answered here, before the handshake, with a JSON error (or the
 * seeds' plain text on their paths). */
static int
confirm_upgrade(struct lws *wsi, struct cf_server *srv, const char *upgrade)
{
	char path[256], body[256];
	const char *code, *msg, *extra, *text;
	const struct cf_dialect *d;
	int status;

	/* lws answered another Upgrade (403) already and only asks for h2c. */
	if (strcasecmp(upgrade, "websocket") && strcasecmp(upgrade, "h2c"))
		return -1;
	request_path(wsi, path, sizeof(path));
	d = cf_server_ws_endpoint(srv, wsi, path);
	if (d && (status = ws_handshake_check(wsi, &extra, &code))) {
		if (!d->seed) {
			snprintf(body, sizeof(body),
			         "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
			         status == 405   ? "a WebSocket handshake is a GET"
			         : status == 426 ? "Sec-WebSocket-Version must be 13"
			                         : "missing or malformed Sec-WebSocket-Key or "
			                           "Sec-WebSocket-Version");
			return refuse_upgrade(wsi, status, "application/json", extra, body);
		}
		/* The seeds answered in plain text, their status's text (gorilla's words). */
		snprintf(body, sizeof(body), "%s\n", status_text(status));
		return write_plain(wsi, status, extra, body);
	}
	/* The dialect's own refusals (its admit()), in plain text, before the common checks. */
	if (d && d->admit && (status = d->admit(&srv->env, wsi, &text)))
		return write_plain(wsi, status, NULL, text);
	status = cf_server_admit(srv, wsi, path, &code, &msg);
	if (!status)
		return 0;
	snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
	return refuse_upgrade(wsi, status, "application/json", NULL, body);
}

/*
 * One request per connection. lws 4.1.6 cannot serve a request that was pipelined behind another
 * and carries a body (lib/roles/http/server/server.c, lws_http_action(), the loop at its end
 * that feeds "the stream wsi's own buflist" to lws_read_h1()): when the next request's bytes
 * already sit in the connection's buflist, that loop hands the buflist's head, which still holds
 * the request's own headers, to the body parser; once Content-Length bytes are counted,
 * lws_read_h1() (lib/roles/h1/ops-h1.c) in LRS_BODY with rx_content_remain 0 consumes nothing and
 * calls HTTP_BODY_COMPLETION again, and the loop ends only when the buflist is empty: it never
 * returns, so the loop serves nothing and never sees SIGTERM. With a longer Content-Length the
 * loop frees the buflist segment the outer lws_read_h1() is still parsing. Even behind a
 * request that lws handles, pipelined bytes make lws_service_do_ripe_rxflow() enter
 * lws_read_h1() on every turn of the loop (poll() with no timeout), repeating
 * HTTP_BODY_COMPLETION for a request already complete until its answer is written.
 *
 * So confab never lets lws parse a second request on a connection: every answer says
 * "Connection: close" and the connection ends once it is written (what was pipelined behind is
 * dropped unread). Upgrades are one request too: a refusal closes (refuse_upgrade()), an
 * accepted one is a WebSocket. A request that waits for the bus holds its connection
 * flow-controlled meanwhile, so that lws stops offering it the pipelined bytes; the answer lifts
 * that first (cf_http_respond()), as lws 4.1 gives a flow-controlled HTTP connection no WRITEABLE
 * either (rops_handle_POLLIN_h1()).
 */
/* A trusted proxy sent an X-Forwarded-For that names no client: the request is refused, not
 * counted as the proxy's (cf_req_client_ip()). */
static int
bad_forwarded_for(struct lws *wsi, struct http_pss *p)
{
	char ip[64];

	if (!p->srv->env.cfg->trusted_proxies.n ||
	    cf_req_client_ip(p->srv->env.cfg, wsi, ip, sizeof(ip)) >= 0)
		return 0;
	cf_log_client(CF_LOG_INFO, "bad_forwarded_for", ip, 0, NULL,
	              "request refused: X-Forwarded-For from a trusted proxy is not a list of "
	              "addresses");
	return 1;
}

static void
request_in(struct lws *wsi, struct http_pss *p)
{
	/* Only an answer in flight: lws serves files in LRS_ISSUING_FILE, which also stops. */
	if (!p->waiting || p->resp || p->held)
		return;
	p->held = 1;
	lws_rx_flow_control(wsi, 0);
}

int
cf_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
	struct cf_server *srv = lws_context_user(lws_get_context(wsi));
	struct http_pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(wsi, srv, in ? in : "");
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		return cf_tls_adopt_ctx(user) < 0 ? -1 : 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		return cf_tls_verify_client((int)len);
	case LWS_CALLBACK_HTTP:
		free(p->resp);
		free(p->room);
		free(p->post);
		free(p->rq.headers);
		memset(p, 0, sizeof(*p));
		p->srv = srv;
		p->wsi = wsi;
		p->rq.env = &srv->env;
		p->rq.wsi = wsi;
		p->rq.www = cf_http_www(wsi);
		p->rq.method = method_of(wsi);
		p->rq.done = dialect_done;
		p->body = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) ||
		          lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) ||
		          lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI);
		if (bad_forwarded_for(wsi, p)) {
			if (cf_http_error(wsi, p, 400, NULL, "bad_forwarded_for",
			                  "X-Forwarded-For from a trusted proxy is not a list of "
			                  "addresses") < 0)
				return -1;
		} else if (on_http(wsi, p, in) < 0) {
			return -1;
		}
		if (!p->body)
			request_in(wsi, p);
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		p->body_seen += len;
		if (!len || p->route == R_NONE) {
			/* Nobody reads it: a body larger than any we take ends the connection. */
			return p->body_seen > BODY_MAX && p->route == R_NONE ? -1 : 0;
		}
		if (p->post_len + len > BODY_MAX) {
			p->too_big = 1;
			return 0;
		}
		{
			char *n = realloc(p->post, p->post_len + len + 1);
			if (!n)
				return -1;
			p->post = n;
			memcpy(p->post + p->post_len, in, len);
			p->post_len += len;
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/* lws 4.1 calls this again, with nothing new, for as long as pipelined bytes
		 * wait (see the comment above): only the first one is the request's. */
		if (!p->body)
			return 0;
		p->body = 0;
		request_in(wsi, p);
		if (p->answered)
			return -1; /* answered before its body was in: now the connection ends */
		if (p->route == R_POST_DM)
			return cf_http_api_post_dm(wsi, p) < 0 ? -1 : 0;
		if (p->route == R_POST_RULES)
			return cf_http_api_post_rules(wsi, p) < 0 ? -1 : 0;
		if (p->route == R_POST_NOTICE)
			return cf_http_api_post_notice(wsi, p) < 0 ? -1 : 0;
		if (p->route == R_DIALECT)
			return dialect_body(wsi, p) < 0 ? -1 : 0;
		if (p->route != R_POST_MESSAGE)
			return 0;
		return cf_http_api_post_message(wsi, p) < 0 ? -1 : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!p->resp)
			return 0; /* still waiting for the bus */
		if (lws_write(wsi, p->resp + LWS_PRE, p->resp_len, LWS_WRITE_HTTP_HEADERS) < 0)
			return -1;
		free(p->resp);
		p->resp = NULL;
		p->answered = 1;
		/* Connection: close. lws sends what the socket did not take before it closes;
		 * a body still coming is read (and dropped) first, so that the client sees the
		 * answer rather than a reset. */
		return p->body ? 0 : -1;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return -1;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (!p || !p->srv)
			return 0;
		if (p->waiting) {
			const struct cf_dialect *d;

			cf_bus_cancel(srv->env.bus, p);
			for (size_t i = 0; (d = cf_mount_at(i)); i++)
				if (d->http_cancel)
					d->http_cancel(&p->rq);
		}
		free(p->resp);
		free(p->room);
		free(p->post);
		free(p->rq.headers);
		memset(p, 0, sizeof(*p));
		return 0;
	default:
		break;
	}
	return 0;
}
