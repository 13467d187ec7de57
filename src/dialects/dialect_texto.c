/* SPDX-License-Identifier: MIT */
/* dialect_texto.c - seed 003, texto (docs/dialects.md): WebSocket /v1/texto[?nogreet=1], one
 * JSON envelope {client_id, id, kind, data} per frame, server frames ending in '\n' as Go's
 * json.Encoder writes them. Each connection is a core user "texto:<session UUID>" (ident.h: the
 * texto space, which no other dialect's name can reach into); the session's user name is the bare
 * UUID, as texto clients see it. texto's send is the core's direct message to the texto user named
 * by receiver_id, so it reaches that session on any node (cluster mode: the user's Redis
 * channel), and receive is the DM's rendering. */
#include "base/clock.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/text.h"
#include "bus/bus.h"
#include "config/config.h"
#include "core/dialect.h"
#include "core/env.h"
#include "core/frame.h"
#include "core/sess.h"
#include "dialects/dialects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#define UUID_NIL "00000000-0000-0000-0000-000000000000"

/* The error codes and their descriptions, exactly as the seed sends them. */
#define ESYNTAX "ESYNTAX", "Unable to process the message due to a syntax error."
#define ECID    "ECID", "The submitted client ID doesn't match the current session."
#define EKIND   "EKIND", "Invalid message kind received."
#define EBROKER "EBROKER", "Unable to send the message to the recipient."
#define EINVAL_ "EINVAL", "The data payload doesn't match the given kind"

/* Its WebSocket endpoint, with dialects.texto on. */
static int
ws_path(const struct cf_config *cfg, const char *path)
{
	return cfg->texto && !strcmp(path, "/v1/texto");
}

/* The endpoint without an upgrade: gorilla 1.2.0 checks the method first. */
static int
http(struct cf_http_req *rq, char *out, size_t outlen)
{
	if (!ws_path(rq->env->cfg, rq->path))
		return 0;
	free(rq->headers);
	rq->headers = strdup("X-Content-Type-Options: nosniff\r\nSec-Websocket-Version: 13\r\n");
	if (!rq->headers)
		return -ENOMEM;
	snprintf(out, outlen, "%s", rq->method == 'G' ? "Bad Request\n" : "Method Not Allowed\n");
	return rq->method == 'G' ? 400 : 405;
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* {"client_id","id","kind","data"} in the seed's field order, then '\n'. Takes data (NULL:
 * null). */
static struct cf_frame *
envelope(const char *client_id, const char *id, const char *kind, json_t *data)
{
	json_t *o = json_object();
	struct cf_frame *f = NULL;
	char *txt;

	if (!o) {
		json_decref(data);
		return NULL;
	}
	json_object_set_new(o, "client_id", json_string(client_id));
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "data", data ? data : json_null());
	txt = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (txt) {
		size_t n = strlen(txt);
		char *nl = realloc(txt, n + 2);

		if (nl) {
			txt = nl;
			memcpy(txt + n, "\n", 2);
			f = cf_frame_new(txt, n + 1);
		}
		free(txt);
	}
	return f;
}

/* A direct message to this session's user: receive, to the recipient (client_id is its own
 * id), with a fresh id. */
static struct cf_frame *
render_dm(const struct cf_msg *m)
{
	char id[37], rbuf[CF_IDENT_MAX], fbuf[CF_IDENT_MAX];

	cf_text_uuid4(id, m->ts_ms);
	/* A sender of another space shows as "<space>:<id>" (account:alice): not a UUID, so the
	 * texto page can show it but not answer it. */
	return envelope(cf_ident_show(m->room, CF_ID_TEXTO, rbuf, sizeof(rbuf)), id, "receive",
	                json_pack("{s:s,s:s}", "sender_id",
	                          cf_ident_show(m->from_id, CF_ID_TEXTO, fbuf, sizeof(fbuf)),
	                          "text", m->text));
}

/* id NULL: the request did not parse, the error gets a fresh id. */
static void
send_error(struct cf_sess *s, const char *id, const char *code, const char *description)
{
	char fresh[37];

	if (!id) {
		cf_text_uuid4(fresh, s->id);
		id = fresh;
	}
	cf_sess_push_owned(
	        s, envelope(s->user_name, id, "error",
	                    json_pack("{s:s,s:s}", "code", code, "description", description)));
}

/* ---- parsing, as Go's encoding/json decodes texto's ChatMessage ----------------------------- */

/* The value of field name in o: the last matching key wins, as in Go. Borrowed; NULL when
 * absent or null. */
static json_t *
field(json_t *o, const char *name)
{
	const char *key;
	json_t *v, *found = NULL;

	json_object_foreach (o, key, v) {
		if (cf_text_go_key_is(key, name))
			found = v;
	}
	return json_is_null(found) ? NULL : found;
}

/* A UUID field into out[37]: absent or null is the nil UUID. -EINVAL on a wrong type or a
 * string satori would not parse. */
static int
uuid_field(json_t *o, const char *name, char *out)
{
	json_t *v = field(o, name);

	if (!v) {
		memcpy(out, UUID_NIL, sizeof(UUID_NIL));
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	return cf_text_uuid_parse(json_string_value(v), json_string_length(v), out);
}

/* A string field: absent or null is "". -EINVAL on a wrong type. Borrowed. */
static int
str_field(json_t *o, const char *name, const char **ret, size_t *ret_len)
{
	json_t *v = field(o, name);

	*ret = "";
	*ret_len = 0;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*ret = json_string_value(v);
	*ret_len = json_string_length(v);
	return 0;
}

/* The data member must be an object for kinds with a payload: the seed decoded it into the
 * kind's struct, and a null or missing data failed (json.RawMessage stayed empty). A null data
 * key anywhere in the envelope left it empty too. Borrowed; NULL: a syntax error. */
static json_t *
payload(json_t *o)
{
	const char *key;
	json_t *v, *found = NULL;
	int null = 0;

	json_object_foreach (o, key, v) {
		if (cf_text_go_key_is(key, "data")) {
			found = v;
			null |= json_is_null(v);
		}
	}
	return json_is_object(found) && !null ? found : NULL;
}

/* ---- the connection ------------------------------------------------------------------------ */

/* Whether the first nogreet query argument is non-empty (Go's URL.Query().Get). */
static int
nogreet(struct lws *wsi)
{
	static const char name[] = "nogreet";
	char frag[1024];

	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, frag, (int)sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS,
		                              i);

		if (n < 0)
			return 0;
		if ((size_t)n < sizeof(name) - 1 || strncmp(frag, name, sizeof(name) - 1))
			continue;
		if (frag[sizeof(name) - 1] == '\0')
			return 0; /* "nogreet" without a value */
		if (frag[sizeof(name) - 1] == '=')
			return frag[sizeof(name)] != '\0';
	}
}

static int
on_open(struct cf_sess *s, struct lws *wsi)
{
	char id[37], msg_id[37], uid[CF_IDENT_MAX];

	cf_text_uuid4(id, s->id);
	if (cf_ident_make(CF_ID_TEXTO, id, 0, uid, sizeof(uid)) < 0 ||
	    cf_sess_set_user(s, uid, id) < 0) {
		cf_sess_close(s, 1011, "out of memory");
		return 0;
	}
	if (nogreet(wsi))
		return 0;
	cf_text_uuid4(msg_id, s->id);
	cf_sess_push_owned(s,
	                   envelope(id, msg_id, "connection", json_pack("{s:s}", "client_id", id)));
	return 0;
}

static void
send_done(void *ud, int64_t tag, struct cf_msg *m, int err)
{
	struct cf_sess *s = ud;

	(void)tag;
	/* Fire and forget, as the seed: a recipient with no session anywhere still gets an ack. */
	if (err < 0 && err != -ENOENT) {
		send_error(s, m->nonce, EBROKER);
		return;
	}
	cf_sess_push_owned(s, envelope(s->user_name, m->nonce, "ack", NULL));
}

static int
do_send(struct cf_sess *s, const char *id, const char *client_id, const char *to, const char *text,
        size_t tlen)
{
	const struct cf_config *cfg = s->env->cfg;
	char toid[CF_IDENT_MAX];
	struct cf_msg *m;
	int r;

	if (strcmp(client_id, s->user_name)) {
		send_error(s, id, ECID);
		return 0;
	}
	/* The core carries texts as C strings up to limits.max_text bytes; the seed had no bound.
	 */
	if (strlen(text) != tlen || tlen > (size_t)cfg->max_text) {
		send_error(s, id, EINVAL_);
		return 0;
	}
	r = cf_sess_rate_take(s);
	if (r == -ECONNABORTED)
		return 0;
	if (r < 0) {
		send_error(s, id, EBROKER);
		return 0;
	}
	/* The request id rides on the message as its nonce (direct messages have none) until the
	 * bus completes the send: send_done() answers with it. */
	/* receiver_id is a UUID (check_payload): a texto session, nobody else (ident.h). */
	if (cf_ident_make(CF_ID_TEXTO, to, 0, toid, sizeof(toid)) < 0) {
		send_error(s, id, ESYNTAX);
		return 0;
	}
	m = cf_msg_new(toid, s->user_id, s->user_name, text, id);
	if (!m)
		return -1;
	m->dm = 1;
	m->ts_ms = cf_wall_ms();
	r = cf_bus_dm(s->env->bus, m, send_done, s, 0);
	if (r < 0)
		send_error(s, id, EBROKER);
	cf_msg_unref(m);
	return 0;
}

/* Checks the payload of the kinds that have one, as the seed's decoder did. 0, or -EINVAL (a
 * syntax error). */
static int
check_payload(const char *kind, json_t *data, char *to, const char **text, size_t *tlen)
{
	char uuid[37];
	const char *str;
	size_t len;

	if (!data)
		return -EINVAL;
	if (!strcmp(kind, "send"))
		return uuid_field(data, "receiver_id", to) < 0 ||
		                       str_field(data, "text", text, tlen)
		               ? -EINVAL
		               : 0;
	if (!strcmp(kind, "receive"))
		return uuid_field(data, "sender_id", uuid) < 0 ||
		                       str_field(data, "text", &str, &len)
		               ? -EINVAL
		               : 0;
	if (!strcmp(kind, "connection"))
		return uuid_field(data, "client_id", uuid) < 0 ? -EINVAL : 0;
	/* error */
	return str_field(data, "code", &str, &len) < 0 ||
	                       str_field(data, "description", &str, &len) < 0
	               ? -EINVAL
	               : 0;
}

static int
on_text(struct cf_sess *s, const char *buf, size_t len)
{
	char id[37], client_id[37], to[37];
	const char *kind = "", *text = "";
	size_t klen, tlen = 0;
	json_t *o, *data = NULL;
	int r = 0;

	if (!s->user_id)
		return 0; /* on_open failed: the session is closing */
	/* Only the first JSON value counts, trailing bytes are ignored (json.Decoder). */
	o = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL);
	if (!json_is_object(o) || uuid_field(o, "client_id", client_id) < 0 ||
	    uuid_field(o, "id", id) < 0 || str_field(o, "kind", &kind, &klen) < 0 ||
	    strlen(kind) != klen)
		goto syntax;
	if (!strcmp(kind, "send") || !strcmp(kind, "receive") || !strcmp(kind, "connection") ||
	    !strcmp(kind, "error")) {
		data = payload(o);
		if (check_payload(kind, data, to, &text, &tlen) < 0)
			goto syntax;
	} else if (strcmp(kind, "registration") && strcmp(kind, "ack")) {
		goto syntax; /* the decoder rejected unknown kinds */
	}
	if (!strcmp(kind, "registration"))
		cf_sess_push_owned(s, envelope(s->user_name, id, "connection",
		                               json_pack("{s:s}", "client_id", s->user_name)));
	else if (!strcmp(kind, "send"))
		r = do_send(s, id, client_id, to, text, tlen);
	else if (!strcmp(kind, "connection") || !strcmp(kind, "receive"))
		send_error(s, id, EKIND);
	/* ack and error from the client: no reply */
	json_decref(o);
	return r;
syntax:
	json_decref(o);
	send_error(s, NULL, ESYNTAX);
	return 0;
}

const struct cf_dialect cf_dialect_texto = {
        .id = CF_DIALECT_TEXTO,
        .name = "texto",
        .paths = (const char *const[]){"/v1/texto", NULL},
        .binary_as_text = 1,
        .on_open = on_open,
        .on_text = on_text,
        /* Only direct messages: texto sessions join no room, so there is nothing else to
         * render (no messages, presence, gaps or goodbye). */
        .render_dm = render_dm,
        .ws_path = ws_path,
        .seed = 1,
        .http = http,
};
