/* SPDX-License-Identifier: MIT */
/* dialect_ttu.c - seed 004, the ttu chat server (docs/dialects.md): a socket registers with the
 * text frame `username:<name>` and then only receives; messages are sent over HTTP
 * (POST /api/send with X-Username) as direct messages between users, kept in the recipient's
 * offline inbox while it has no socket anywhere. This file is the codec and the request
 * parsing; http.c calls it for the listener that mounts the dialect. */
#include "confab/bus.h"
#include "confab/config.h"
#include "confab/dialect.h"
#include "confab/frame.h"
#include "confab/log.h"
#include "confab/server.h"
#include "confab/session.h"
#include "confab/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

int
cf_ttu_ws_path(const char *path)
{
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
	char name[257]; /* limits.max_name is at most 256 */
	int r;

	if (!buf)
		return 0; /* binary frames are ignored */
	r = cf_ttu_parse_username(buf, len, name, sizeof(name));
	if (r < 0 || cf_text_name_ok(name, (size_t)r, 1, (size_t)s->srv->cfg->max_name, 1) < 0) {
		log_debug("ttu: session %llu: frame ignored (not a valid username:<name>)",
		          (unsigned long long)s->id);
		return 0;
	}
	/* A socket belongs to one user: registering again moves it (the seed added it to every
	 * name's list and delivered each name's messages to it). */
	r = cf_sess_set_user(s, name, name);
	if (r < 0)
		return -1;
	log_debug("ttu: session %llu registered as '%s'", (unsigned long long)s->id, name);
	return 0;
}

/* Newtonsoft's camelCase of {Receiver, Sender, Payload}. The sender is the X-Username of the
 * POST /api/send (the seed sent the body's `sender`, usually null [orig]), or the user name of
 * a confab.v1 user's dm. */
static struct cf_frame *
render_dm(const struct cf_msg *m)
{
	return cf_frame_from_json(json_pack("{s:s,s:s,s:s}", "receiver", m->room, "sender",
	                                    m->from_name, "payload", m->text));
}

/* ttu has no rooms, presence, gaps or goodbyes: its sockets join no room. */
static struct cf_frame *
render_msg(const struct cf_msg *m)
{
	(void)m;
	return NULL;
}

static struct cf_frame *
render_presence(const char *ev, const char *room, const char *uid, const char *uname)
{
	(void)ev;
	(void)room;
	(void)uid;
	(void)uname;
	return NULL;
}

static struct cf_frame *
render_bye(int code, const char *reason)
{
	(void)code;
	(void)reason;
	return NULL;
}

const struct cf_dialect cf_dialect_ttu = {
        .id = CF_DIALECT_TTU,
        .name = "ttu",
        .paths = (const char *const[]){"/ws", "/api/*", NULL},
        .on_text = on_text,
        .render_msg = render_msg,
        .render_presence = render_presence,
        .render_bye = render_bye,
        .render_dm = render_dm,
};

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
cf_ttu_parse_body(const char *body, size_t len, char **receiver, char **payload, const char **why)
{
	json_error_t jerr;
	json_t *o = json_loadb(body ? body : "", len, 0, &jerr);
	int bad1, bad2;

	*receiver = *payload = NULL;
	if (!o || !json_is_object(o)) {
		json_decref(o);
		*why = "the body must be a JSON object {\"receiver\": ..., \"payload\": ...}\n";
		return -EINVAL;
	}
	*receiver = as_string(get_ci(o, "receiver"), &bad1);
	*payload = as_string(get_ci(o, "payload"), &bad2);
	json_decref(o);
	if (bad1 || bad2 || !*receiver || !*payload) {
		free(*receiver);
		free(*payload);
		*receiver = *payload = NULL;
		*why = "'receiver' and 'payload' must be strings (or numbers)\n";
		return -EINVAL;
	}
	return 0;
}
