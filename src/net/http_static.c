/* SPDX-License-Identifier: MIT */
/* http_static.c - the listener's static directory (www=, or server.www_dir where confab.v1 is
 * mounted): which names may be served, with which types, and handing the file to lws. */
#include "net/http_int.h"
#include "net/server.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Not lws_get_mimetype(): lws 4.1.6 types text without "; charset=utf-8" and fonts as
 * application/font-woff and application/x-font-ttf, lacks .webp and .map, and matches any case
 * and .htm, .otf, .gz and .xml, which would be served where this answers 404. */
static const char *
mime_of(const char *path)
{
	static const struct {
		const char *ext, *mime;
	} t[] = {
	        {".html", "text/html; charset=utf-8"},
	        {".js", "text/javascript; charset=utf-8"},
	        {".css", "text/css; charset=utf-8"},
	        {".svg", "image/svg+xml"},
	        {".png", "image/png"},
	        {".ico", "image/x-icon"},
	        {".json", "application/json"},
	        {".jpg", "image/jpeg"},
	        {".jpeg", "image/jpeg"},
	        {".gif", "image/gif"},
	        {".webp", "image/webp"},
	        {".txt", "text/plain; charset=utf-8"},
	        {".map", "application/json"},
	        {".woff", "font/woff"},
	        {".woff2", "font/woff2"},
	        {".ttf", "font/ttf"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(dot, t[i].ext))
			return t[i].mime;
	return NULL;
}

/* The directory the request's listener serves at / ("" for none). */
const char *
cf_http_www(struct lws *wsi)
{
	const struct cf_listener *l = cf_server_listener(wsi);

	return l ? l->www : "";
}

/* Whether name is a relative path of segments of [A-Za-z0-9._-] separated by single '/', none
 * starting with '.': no path can leave the directory (no "..", no hidden files). */
static int
static_name_ok(const char *name)
{
	const char *seg = name;

	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789._-/") != strlen(name))
		return 0;
	for (;;) {
		const char *end = strchr(seg, '/');

		if (seg[0] == '.' || seg[0] == '/' || seg[0] == '\0')
			return 0;
		if (!end)
			return 1;
		seg = end + 1;
	}
}

/* Serves a file of the listener's static directory (www=, or server.www_dir where confab.v1 is
 * mounted), subdirectories included (seed 001's bundle has static/js/, avatars/). A directory's
 * path ending in '/' is its index.html; without the '/' it is redirected there, so that the
 * page's relative links resolve inside it (/admin -> /admin/). */
int
cf_http_static(struct lws *wsi, struct http_pss *p, const char *path)
{
	static const char static_headers[] = "Cache-Control: no-cache\r\nConnection: close\r\n";
	const char *dir = cf_http_www(wsi), *mime;
	char full[1024], name[512], loc[600];
	struct stat st;
	size_t len = strlen(path + 1);
	int n;

	n = snprintf(name, sizeof(name), "%s%s", path + 1,
	             !len || path[len] == '/' ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(name) || !*dir || !static_name_ok(name))
		return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
	n = snprintf(full, sizeof(full), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(full))
		return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
	mime = mime_of(name);
	if (!mime && !stat(full, &st) && S_ISDIR(st.st_mode)) {
		snprintf(loc, sizeof(loc), "Location: %s/\r\n", path);
		return cf_http_error(wsi, p, 301, loc, "moved", "see %s/", path);
	}
	if (!mime)
		return cf_http_error(wsi, p, 404, NULL, "not_found", "no such resource");
	n = lws_serve_http_file(wsi, full, mime, static_headers, (int)sizeof(static_headers) - 1);
	/* n > 0: lws answered 404 itself (the file is not there); either way the connection
	 * ends here, as after every answer. */
	return n ? -1 : 0;
}
