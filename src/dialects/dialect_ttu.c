/* SPDX-License-Identifier: MIT */
/* dialect_ttu.c - seed 004, the ttu chat server (docs/dialects.md): a socket registers with the
 * text frame `username:<name>` and then only receives; messages are sent over HTTP
 * (POST /api/send with X-Username) as direct messages between users, kept in the recipient's
 * offline inbox while it has no socket anywhere. Nothing proves a ttu name, so a ttu user is
 * the core user "ttu:<name>" (ident.h), never an account: registering or sending as `alice`
 * reaches neither the account alice's messages nor its inbox. This file is the codec and the
 * HTTP API (with its CORS), which http.c asks for the listener that mounts the dialect. */
#include "auth/auth.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/req.h"
#include "core/room.h"
#include "core/sess.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

/* Any path but / and /api/..., as the seed's middleware took them: the dialect table puts it
 * last, so the other dialects on the listener are asked first. */
static int
ws_path(const struct cf_config *cfg, const char *path)
{
	(void)cfg;
	return strcmp(path, "/") && strncmp(path, "/api/", 5);
}

/* ---- the socket ------------------------------------------------------------------------- */

/* `username:<name>`: the seed registered the text between the first and the second ':' as
 * the name (NULs stripped), for any frame starting with "username" (so `usernameX:bob` is
 * bob). A frame that is not a registration is ignored, as the seed ignored it; the seed's
 * crash on `username` without ':' [orig] is ignored too. */
int
cf_ttu_parse_username(const char *buf, size_t len, char *out, size_t outlen)
{
	const char *colon, *end;
	size_t n = 0;

	if (len < 8 || memcmp(buf, "username", 8))
		return -EINVAL;
	colon = memchr(buf, ':', len);
	if (!colon)
		return -EINVAL;
	colon++;
	end = memchr(colon, ':', len - (size_t)(colon - buf));
	if (!end)
		end = buf + len;
	for (const char *p = colon; p < end; p++) {
		if (*p == '\0')
			continue;
		if (n + 1 >= outlen)
			return -E2BIG;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n ? (int)n : -EINVAL;
}

static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	char name[257], id[CF_IDENT_MAX]; /* limits.max_name is at most 256 */
	int r;

	if (!buf)
		return 0; /* binary frames are ignored */
	r = cf_ttu_parse_username(buf, len, name, sizeof(name));
	if (r < 0 ||
	    cf_ident_make(CF_ID_TTU, name, (size_t)s->env->cfg->max_name, id, sizeof(id)) < 0) {
		log_debug("ttu: session %llu: frame ignored (not a valid username:<name>)",
		          (unsigned long long)s->id);
		return 0;
	}
	/* A socket belongs to one user: registering again moves it (the seed added it to every
	 * name's list and delivered each name's messages to it). */
	r = cf_sess_set_user(s, id, name);
	if (r < 0)
		return -1;
	log_debug("ttu: session %llu registered as '%s'", (unsigned long long)s->id, name);
	return 0;
}

/* Newtonsoft's camelCase of {Receiver, Sender, Payload}. The receiver is the socket's own
 * name. The sender is the X-Username of the POST /api/send (the seed sent the body's `sender`,
 * usually null [orig]), or another space's user as a ttu receiver names it
 * (`account:alice`, `guest:bob`, `texto:<uuid>`), so that a reply reaches that user. */
static struct cf_frame *
render_dm(const struct cf_msg *m)
{
	char fbuf[CF_IDENT_MAX], rbuf[CF_IDENT_MAX];
	const char *from =
	        m->from_id[0] ? cf_ident_show(m->from_id, CF_ID_TTU, fbuf, sizeof(fbuf)) : NULL;

	return cf_frame_from_json(json_pack(
	        "{s:s,s:o,s:s}", "receiver", cf_ident_show(m->room, CF_ID_TTU, rbuf, sizeof(rbuf)),
	        "sender", from ? json_string(from) : json_null(), "payload", m->text));
}

/* ---- the HTTP side ------------------------------------------------------------------------ */

/* A value of the body as the seed's Newtonsoft model read it into a string: strings as they
 * are, numbers and booleans as their text, null as absent. Objects and arrays fail (the seed
 * answered 500). Returns a new string, NULL with *bad set when unusable. */
static char *
as_string(json_t *v, int *bad)
{
	*bad = 0;
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v))
		return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	*bad = 1;
	return NULL;
}

/* Keys are matched ASCII case-insensitively, as ASP.NET's model binding did for /api/receive;
 * /api/send's broker read `receiver` in lower case only, which this accepts too. */
static json_t *
get_ci(json_t *o, const char *key)
{
	const char *k;
	json_t *v;

	json_object_foreach (o, k, v)
		if (!strcasecmp(k, key))
			return v;
	return NULL;
}

int
cf_ttu_parse_body(const char *body, size_t len, char **receiver, char **sender, char **payload,
                  const char **why)
{
	json_error_t jerr;
	json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
	int bad1, bad2, bad3;

	*receiver = *sender = *payload = NULL;
	if (!o || !json_is_object(o)) {
		json_decref(o);
		*why = "the body must be a JSON object {\"receiver\": ..., \"payload\": ...}\n";
		return -EINVAL;
	}
	*receiver = as_string(get_ci(o, "receiver"), &bad1);
	*payload = as_string(get_ci(o, "payload"), &bad2);
	*sender = as_string(get_ci(o, "sender"), &bad3);
	json_decref(o);
	if (bad1 || bad2 || bad3 || !*receiver || !*payload) {
		free(*receiver);
		free(*payload);
		free(*sender);
		*receiver = *sender = *payload = NULL;
		*why = "'receiver' and 'payload' must be strings (or numbers)\n";
		return -EINVAL;
	}
	return 0;
}

/* A request waiting for the bus: a send or receive (a direct message) or a status (the
 * user's presence). The HTTP side cancels it (http_cancel()) when its connection goes away
 * first; the bus's completion frees it. */
struct ttu_req {
	struct lws_dll2 list;
	void (*done)(struct cf_http_req *rq, int status, const char *body); /* NULL: cancelled */
	struct cf_http_req *rq;
	int kind;                /* 'S' send, 'R' receive, 'T' status */
	struct cf_registry *reg; /* for inbox.max_per_ip: rq is gone once cancelled */
	char ip[48];             /* the client's address ("": unknown) */
	char name[];
};

static struct lws_dll2_owner reqs;

static void
http_cancel(struct cf_http_req *rq)
{
	lws_start_foreach_dll (struct lws_dll2 *, d, reqs.head) {
		struct ttu_req *q = lws_container_of(d, struct ttu_req, list);
		if (q->rq == rq)
			q->done = NULL;
	}
	lws_end_foreach_dll(d);
}

static struct ttu_req *
req_new(int kind, const char *name, struct cf_http_req *rq)
{
	size_t n = strlen(name);
	struct ttu_req *q = calloc(1, sizeof(*q) + n + 1);

	if (!q)
		return NULL;
	q->kind = kind;
	q->done = rq->done;
	q->rq = rq;
	memcpy(q->name, name, n + 1);
	lws_dll2_add_tail(&q->list, &reqs);
	return q;
}

static void
req_finish(struct ttu_req *q, int status, const char *body)
{
	lws_dll2_remove(&q->list);
	if (q->done)
		q->done(q->rq, status, body);
	free(q);
}

static void
dm_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct ttu_req *q = ud;
	const char *word = q->kind == 'S' ? "Send" : "Receive";

	(void)tag;
	cf_registry_keep_settle(q->reg, q->ip[0] ? q->ip : NULL, m, err);
	if (err == -ENOENT && m->keep_quota == CF_KEEP_REFUSED)
		req_finish(
		        q, 429,
		        "Too Many Requests: the receiver is offline and this address has left as "
		        "many kept messages as inbox.max_per_ip allows\n");
	else if (err == -ENOENT) /* /api/receive for a user with no socket anywhere */
		req_finish(q, 400, word);
	else if (err < 0)
		req_finish(q, 503, "Service Unavailable: the message could not be sent\n");
	else
		req_finish(q, 200, word);
}

static void
status_done(void *ud, int err, const uint8_t *online, size_t n)
{
	struct ttu_req *q = ud;
	char body[300];

	if (err < 0 || n != 1) {
		req_finish(q, 503, "Service Unavailable: presence could not be read\n");
		return;
	}
	snprintf(body, sizeof(body), "%s is %s", q->name, online[0] ? "online" : "offline");
	req_finish(q, 200, body);
}

/* X-Username, as lws keeps unknown headers (names lower-cased). */
static int
x_username(struct lws *wsi, char *out, size_t outlen)
{
	int n = lws_hdr_custom_copy(wsi, out, (int)outlen, "x-username:", 11);

	if (n < 0)
		n = lws_hdr_custom_copy(wsi, out, (int)outlen, "X-Username:", 11);
	return n;
}

/* The seed's CORS: the request's Origin echoed, as ASP.NET's "allow any origin" policy
 * answered, but without the seed's Access-Control-Allow-Credentials: true. Nothing in ttu uses
 * cookies or HTTP authentication, and with credentials allowed any page could make a visitor's
 * browser send (and read the answers of) requests carrying what that browser holds for this
 * host. The seed's router answered its routes before the CORS middleware ran, so their
 * responses lacked the headers and browsers refused them [orig]; here every response to a
 * request the dialect was asked about carries them, whoever answers it. A preflight also echoes
 * the requested method and headers. */
static int
cors(struct cf_http_req *rq, int preflight)
{
	char origin[512], rm[128], buf[1400];
	int n;

	if (lws_hdr_copy(rq->wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0 ||
	    strpbrk(origin, "\r\n"))
		return 0;
	n = snprintf(buf, sizeof(buf), "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
	             origin);
	if (preflight &&
	    lws_hdr_custom_copy(rq->wsi, rm, sizeof(rm), "access-control-request-method:", 30) >
	            0 &&
	    !strpbrk(rm, "\r\n"))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		              "Access-Control-Allow-Methods: %s\r\n", rm);
	/* lws 4.1 keeps no Access-Control-Request-Headers it can return (the custom-header
	 * lookup misses it), so the preflight allows what the seed's client sends. */
	if (preflight)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		              "Access-Control-Allow-Headers: Content-Type, X-Username\r\n");
	free(rq->headers);
	rq->headers = strdup(buf);
	return rq->headers ? 0 : -ENOMEM;
}

static int api(struct cf_http_req *rq, char *out, size_t outlen);

/* Its API and CORS (a preflight on any path), and "Hello from ChatServer" at / unless the
 * listener's www= serves a client bundle there. */
static int
http(struct cf_http_req *rq, char *out, size_t outlen)
{
	if (rq->method != 'O' && !strcmp(rq->path, "/") && *rq->www)
		return 0;
	if (cors(rq, rq->method == 'O') < 0)
		return -ENOMEM;
	if (rq->method == 'O') {
		out[0] = '\0';
		return 204;
	}
	return api(rq, out, outlen);
}

static int
api(struct cf_http_req *rq, char *out, size_t outlen)
{
	static const char status_prefix[] = "/api/status/";
	struct cf_env *srv = rq->env;
	const char *path = rq->path;
	int method = rq->method;
	struct ttu_req *q;
	const char *name;
	char dec[257], id[CF_IDENT_MAX];
	int r;

	out[0] = '\0';
	if (!strcmp(path, "/api/send") || !strcmp(path, "/api/receive")) {
		if (method != 'P') {
			snprintf(out, outlen, "Method Not Allowed\n");
			return 405;
		}
		return CF_HTTP_BODY;
	}
	if (!strcmp(path, "/api/login") || !strcmp(path, "/api/logout")) {
		if (method != 'P') {
			snprintf(out, outlen, "Method Not Allowed\n");
			return 405;
		}
		/* The seed's stubs: no accounts behind them. */
		snprintf(out, outlen, "%s", path[5] == 'l' && path[8] == 'i' ? "Login" : "Logout");
		return 200;
	}
	if (!strncmp(path, status_prefix, sizeof(status_prefix) - 1)) {
		if (method != 'G') {
			snprintf(out, outlen, "Method Not Allowed\n");
			return 405;
		}
		name = path + sizeof(status_prefix) - 1;
		/* lws has decoded %XX in the path already. */
		r = snprintf(dec, sizeof(dec), "%s", name);
		/* Only ttu users: a ttu client asks about its own space (ident.h). */
		if (r <= 0 || (size_t)r >= sizeof(dec) || strchr(dec, '/') ||
		    cf_ident_make(CF_ID_TTU, dec, (size_t)srv->cfg->max_name, id, sizeof(id)) < 0) {
			snprintf(out, outlen, "%s is offline", dec);
			return r <= 0 || (size_t)r >= sizeof(dec) ? 404 : 200;
		}
		q = req_new('T', dec, rq);
		if (!q)
			return 500;
		{
			const char *uids[1] = {id};

			r = cf_bus_online(srv->bus, uids, 1, status_done, q);
		}
		if (r < 0) {
			lws_dll2_remove(&q->list);
			free(q);
			snprintf(out, outlen, "Service Unavailable: presence could not be read\n");
			return 503;
		}
		return -EINPROGRESS;
	}
	if (!strcmp(path, "/")) {
		if (method != 'G') {
			snprintf(out, outlen, "Method Not Allowed\n");
			return 405;
		}
		snprintf(out, outlen, "Hello from ChatServer");
		return 200;
	}
	if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api")) {
		snprintf(out, outlen, "Not Found\n");
		return 404;
	}
	return 0;
}

/* The body of POST /api/send or /api/receive: a direct message. */
static int
http_body(struct cf_http_req *rq, const char *body, size_t len, char *out, size_t outlen)
{
	struct cf_env *srv = rq->env;
	const char *path = rq->path;
	const size_t max_name = (size_t)srv->cfg->max_name;
	char user[257], from[CF_IDENT_MAX], to[CF_IDENT_MAX], *receiver, *sender, *payload;
	const char *why;
	struct ttu_req *q;
	struct cf_msg *m;
	int send = !strcmp(path, "/api/send"), n, r, bad;
	enum cf_ident_space sp;

	out[0] = '\0';
	n = x_username(rq->wsi, user, sizeof(user));
	/* The sender is a ttu user, whatever it claims: X-Username (and /api/receive's sender)
	 * name "ttu:<name>", never an account (ident.h). */
	if (send && (n <= 0 || cf_ident_make(CF_ID_TTU, user, max_name, from, sizeof(from)) < 0)) {
		/* The seed threw (500) on a missing header; the sender is who the message is from.
		 */
		snprintf(out, outlen,
		         "X-Username must name the sender (1 to %d bytes of text, no ':')\n",
		         srv->cfg->max_name);
		return 400;
	}
	if (cf_ttu_parse_body(body, len, &receiver, &sender, &payload, &why) < 0) {
		snprintf(out, outlen, "%s", why);
		return 400;
	}
	/* /api/receive was the broker's hook into the server holding the receiver: its sender is
	 * the body's (absent: null), held to the rules of X-Username. /api/send's sender is the
	 * X-Username (the seed passed the body's on, usually null [orig]). */
	if (!send)
		from[0] = '\0';
	bad = !send && sender && cf_ident_make(CF_ID_TTU, sender, max_name, from, sizeof(from)) < 0;
	/* A receiver is a ttu user's name, or another space's user as "<space>:<id>"
	 * (account:alice, guest:bob, texto:<uuid>), as render_dm shows senders. */
	if (bad ||
	    cf_ident_parse(receiver, strlen(receiver), CF_ID_TTU, max_name, to, sizeof(to)) < 0 ||
	    strlen(payload) > (size_t)srv->cfg->max_text) {
		snprintf(out, outlen,
		         "'receiver' and 'sender' must be user names of 1 to %d bytes (or "
		         "'<space>:<id>' for a receiver), 'payload' at most %d bytes\n",
		         srv->cfg->max_name, srv->cfg->max_text);
		free(receiver);
		free(sender);
		free(payload);
		return 400;
	}
	m = cf_msg_new(to, from, from[0] ? from + strlen("ttu:") : "", payload, NULL);
	free(receiver);
	free(sender);
	free(payload);
	if (!m)
		return 500;
	m->dm = 1;
	/* /api/send keeps a message for a ttu user without a socket (the seed's promise) and
	 * for an account (as a confab.v1 dm does); never for guests or seed sessions. */
	sp = cf_ident_space_of(to, NULL);
	if (send && sp == CF_ID_TTU) {
		m->keep = 1;
	} else if (send && sp == CF_ID_ACCOUNT) {
		r = cf_auth_is_account(srv->auth, to);
		m->keep = r != 0;
		m->keep_acct = r < 0;
	}
	q = req_new(send ? 'S' : 'R', "", rq);
	if (!q) {
		cf_msg_unref(m);
		return 500;
	}
	q->reg = srv->reg;
	if (cf_req_client_ip(srv->cfg, rq->wsi, q->ip, sizeof(q->ip)) < 0)
		q->ip[0] = '\0';
	cf_registry_keep_charge(srv->reg, q->ip[0] ? q->ip : NULL, m);
	r = cf_bus_dm(srv->bus, m, dm_done, q, 0);
	cf_msg_unref(m);
	if (r < 0) {
		lws_dll2_remove(&q->list);
		free(q);
		snprintf(out, outlen, "Service Unavailable: the message could not be sent\n");
		return 503;
	}
	return -EINPROGRESS;
}

const struct cf_dialect cf_dialect_ttu = {
        .id = CF_DIALECT_TTU,
        .name = "ttu",
        .paths = (const char *const[]){"/ws", "/api/*", NULL},
        .on_text = on_text,
        /* Only direct messages: ttu sockets join no room and get no goodbye. */
        .render_dm = render_dm,
        .ws_path = ws_path,
        .seed = 1,
        .http = http,
        .http_body = http_body,
        .http_cancel = http_cancel,
};
