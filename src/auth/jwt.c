/* SPDX-License-Identifier: MIT */
/* jwt.c - the application's connection tokens (see jwt.h): the key and its checks at start-up
 * (OpenSSL), the signature (libjwt), and every claim's rules (here).
 *
 * libjwt 1.10's jwt_decode() verifies with whatever algorithm the token's header names, using
 * the key it is given: handed an RS256 public key, it checks an "HS256" token's HMAC with the
 * PEM text as the secret, which anyone who has the public key can forge; and with "none" it
 * verifies nothing. So the header's `alg` is read here first and must be exactly the configured
 * one, and what decode returns is checked again. libjwt checks no claim: exp, nbf, aud, iss and
 * ours are all checked here. */
#define _GNU_SOURCE
#include "auth/jwt.h"
#include "base/ident.h"
#include "base/text.h"
#include "config/config.h"
#include "core/rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <jwt.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>

#define KEY_FILE_MAX 16384 /* a PEM public key is a few hundred bytes; 4096-bit RSA ~800 */
#define SECRET_MAX   512
#define HEADER_MAX   1024 /* decoded header bytes */

struct cf_jwt {
	jwt_alg_t alg;
	char alg_name[8];
	unsigned char *key; /* the secret, or the PEM text */
	size_t keylen;
	char *aud, *iss; /* NULL: not required */
	int leeway;
};

static int
why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* ---- the key ---------------------------------------------------------------------------- */

/* The whole of a small file, NUL-terminated, into *buf (owned). 0 or a negative errno. */
static int
read_small(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	unsigned char *b;
	size_t n;

	if (!f)
		return -errno;
	b = malloc(KEY_FILE_MAX + 1);
	if (!b) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(b, 1, KEY_FILE_MAX + 1, f);
	if (ferror(f) || n > KEY_FILE_MAX) {
		int r = ferror(f) ? -EIO : -EFBIG;

		fclose(f);
		free(b);
		return r;
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* The PEM public key must suit the algorithm: RSA of 2048 bits or more for RS*, EC on the
 * algorithm's curve for ES*. */
static int
check_pubkey(const struct cf_jwt *j, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(j->key, (int)j->keylen);
	EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	int r = -EINVAL;

	if (!pk) {
		snprintf(err, errlen,
		         "auth.jwt_key_file %s: not a PEM public key (BEGIN PUBLIC KEY)", path);
	} else if (j->alg_name[0] == 'R') {
		if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
			snprintf(err, errlen, "auth.jwt_key_file %s: %s needs an RSA key", path,
			         j->alg_name);
		else if (EVP_PKEY_get_bits(pk) < 2048)
			snprintf(err, errlen,
			         "auth.jwt_key_file %s: the RSA key has %d bits (2048 "
			         "at least)",
			         path, EVP_PKEY_get_bits(pk));
		else
			r = 0;
	} else {
		static const struct {
			jwt_alg_t alg;
			const char *curve;
		} curves[] = {{JWT_ALG_ES256, "prime256v1"},
		              {JWT_ALG_ES384, "secp384r1"},
		              {JWT_ALG_ES512, "secp521r1"}};
		char group[64] = "";
		const char *want = "";

		for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
			if (curves[i].alg == j->alg)
				want = curves[i].curve;
		if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
		    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
		                                    sizeof(group), NULL))
			snprintf(err, errlen, "auth.jwt_key_file %s: %s needs an EC key", path,
			         j->alg_name);
		else if (strcmp(group, want))
			snprintf(err, errlen, "auth.jwt_key_file %s: %s needs a key on %s, not %s",
			         path, j->alg_name, want, group);
		else
			r = 0;
	}
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return r;
}

static int
load_key(struct cf_jwt *j, const struct cf_config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->auth_jwt_key_file;
	int r;

	if (j->alg_name[0] == 'H') {
		/* The secret is a line of text, like auth.secret_file; at least the hash's size
		 * (RFC 7518 3.2). */
		size_t min = (size_t)atoi(j->alg_name + 2) / 8;
		char secret[SECRET_MAX + 2], why[512];

		if (!path[0]) {
			snprintf(err, errlen,
			         "auth.jwt_alg = %s needs auth.jwt_key_file (or the "
			         "credential jwt-key)",
			         j->alg_name);
			return -EINVAL;
		}
		r = cf_config_read_secret(path, secret, sizeof(secret), why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "auth.jwt_key_file %s: %s", path, why);
			explicit_bzero(secret, sizeof(secret));
			return r;
		}
		if (strlen(secret) < min || strlen(secret) > SECRET_MAX) {
			snprintf(err, errlen,
			         "auth.jwt_key_file %s: a %s secret is %zu to %d bytes", path,
			         j->alg_name, min, SECRET_MAX);
			explicit_bzero(secret, sizeof(secret));
			return -EINVAL;
		}
		j->keylen = strlen(secret);
		j->key = malloc(j->keylen + 1);
		if (j->key)
			memcpy(j->key, secret, j->keylen + 1);
		explicit_bzero(secret, sizeof(secret));
		if (!j->key) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	if (!path[0]) {
		snprintf(err, errlen,
		         "auth.jwt_alg = %s needs auth.jwt_key_file: the application's "
		         "PEM public key",
		         j->alg_name);
		return -EINVAL;
	}
	r = read_small(path, &j->key, &j->keylen);
	if (r < 0) {
		snprintf(err, errlen, "auth.jwt_key_file %s: %s", path,
		         r == -EFBIG ? "larger than a public key" : strerror(-r));
		return r;
	}
	return check_pubkey(j, path, err, errlen);
}

struct cf_jwt *
cf_jwt_new(const struct cf_config *cfg, int *ret_off, char *err, size_t errlen)
{
	static const char *const algs[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
	                                   "RS512", "ES256", "ES384", "ES512"};
	struct cf_jwt *j;
	size_t i;

	*ret_off = !cfg->auth_jwt_alg[0];
	if (*ret_off)
		return NULL;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(cfg->auth_jwt_alg, algs[i]))
			break;
	if (i == sizeof(algs) / sizeof(algs[0])) {
		snprintf(err, errlen,
		         "auth.jwt_alg: '%s' is not one of HS256, HS384, HS512, RS256, "
		         "RS384, RS512, ES256, ES384, ES512",
		         cfg->auth_jwt_alg);
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(j->alg_name, sizeof(j->alg_name), "%s", algs[i]);
	j->alg = jwt_str_alg(j->alg_name);
	j->leeway = cfg->auth_jwt_leeway;
	if (cfg->auth_jwt_audience[0])
		j->aud = strdup(cfg->auth_jwt_audience);
	if (cfg->auth_jwt_issuer[0])
		j->iss = strdup(cfg->auth_jwt_issuer);
	if ((cfg->auth_jwt_audience[0] && !j->aud) || (cfg->auth_jwt_issuer[0] && !j->iss)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (j->alg == JWT_ALG_INVAL || j->alg == JWT_ALG_NONE) {
		snprintf(err, errlen, "auth.jwt_alg: libjwt does not know %s", j->alg_name);
		goto fail;
	}
	if (load_key(j, cfg, err, errlen) < 0)
		goto fail;
	return j;
fail:
	cf_jwt_free(j);
	return NULL;
}

void
cf_jwt_free(struct cf_jwt *j)
{
	if (!j)
		return;
	if (j->key)
		explicit_bzero(j->key, j->keylen);
	free(j->key);
	free(j->aud);
	free(j->iss);
	free(j);
}

/* ---- a token ---------------------------------------------------------------------------- */

int
cf_jwt_looks_like(const char *token)
{
	static const char b64url[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *p = token;
	int dots = 0;

	for (size_t part = 0; *p; p++) {
		if (*p == '.') {
			if (!part)
				return 0;
			dots++;
			part = 0;
		} else if (!strchr(b64url, *p)) {
			return 0;
		} else {
			part++;
		}
	}
	/* The signature part may not be empty either: a token with an empty one is "none". */
	return dots == 2 && p > token && p[-1] != '.';
}

/* The header's alg, which must be the configured one; a `crit` header is an extension this
 * verifier cannot honour (RFC 7515 4.1.11), so such a token is refused. */
static int
check_header(const struct cf_jwt *j, const char *token, char *why, size_t whylen)
{
	const char *dot = strchr(token, '.');
	char enc[HEADER_MAX * 4 / 3 + 8], dec[HEADER_MAX + 1];
	size_t elen = (size_t)(dot - token);
	json_t *h, *alg;
	int n, r = -EBADMSG;

	if (elen >= sizeof(enc))
		return why_set(why, whylen, "the header is too long"), -EBADMSG;
	memcpy(enc, token, elen);
	enc[elen] = '\0';
	n = lws_b64_decode_string_len(enc, (int)elen, dec, (int)sizeof(dec));
	if (n <= 0)
		return why_set(why, whylen, "the header is not base64url"), -EBADMSG;
	h = json_loadb(dec, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	alg = json_object_get(h, "alg");
	if (!json_is_object(h) || !json_is_string(alg))
		why_set(why, whylen, "the header is not a JSON object with an alg");
	else if (strcmp(json_string_value(alg), j->alg_name))
		why_set(why, whylen, "the token is signed with %.16s, not %s",
		        json_string_value(alg), j->alg_name);
	else if (json_object_get(h, "crit"))
		why_set(why, whylen, "the header has crit extensions");
	else
		r = 0;
	json_decref(h);
	return r;
}

/* A NumericDate claim (RFC 7519 2): a JSON number; 1 with *ret, 0 absent, -1 not a number. */
static int
get_date(json_t *claims, const char *key, double *ret)
{
	json_t *v = json_object_get(claims, key);

	if (!v)
		return 0;
	if (!json_is_number(v))
		return -1;
	*ret = json_number_value(v);
	return 1;
}

/* A string claim without NUL; NULL when absent or not one (*bad set then). */
static const char *
get_string(json_t *claims, const char *key, size_t *len, int *bad)
{
	json_t *v = json_object_get(claims, key);

	if (!v)
		return NULL;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = 1;
		return NULL;
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

static int
check_aud(const struct cf_jwt *j, json_t *claims, char *why, size_t whylen)
{
	json_t *aud = json_object_get(claims, "aud"), *v;
	size_t i;

	if (!aud) {
		if (j->aud)
			return why_set(why, whylen, "the token has no aud (auth.jwt_audience)"),
			       -EBADMSG;
		return 0;
	}
	if (!j->aud)
		return why_set(why, whylen,
		               "the token has an aud and auth.jwt_audience is not set"),
		       -EBADMSG;
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), j->aud)
		               ? (why_set(why, whylen, "the token is for another audience"),
		                  -EBADMSG)
		               : 0;
	if (!json_is_array(aud))
		return why_set(why, whylen, "aud is not a string or an array"), -EBADMSG;
	json_array_foreach (aud, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), j->aud))
			return 0;
	}
	return why_set(why, whylen, "the token is for another audience"), -EBADMSG;
}

static int
get_rooms(json_t *claims, struct cf_jwt_claims *out, char *why, size_t whylen)
{
	json_t *rooms = json_object_get(claims, "rooms"), *v;
	size_t i;

	if (!rooms)
		return 0;
	if (!json_is_array(rooms) || json_array_size(rooms) > CF_JWT_ROOMS_MAX)
		return why_set(why, whylen, "rooms is not an array of at most %d names",
		               CF_JWT_ROOMS_MAX),
		       -EBADMSG;
	out->rooms = calloc(json_array_size(rooms) + 1, sizeof(*out->rooms));
	if (!out->rooms)
		return -ENOMEM;
	json_array_foreach (rooms, i, v) {
		size_t len = json_is_string(v) ? json_string_length(v) : 0;

		if (!len || len > CF_JWT_ROOM_LEN || strlen(json_string_value(v)) != len ||
		    cf_text_name_ok(json_string_value(v), len, 1, CF_JWT_ROOM_LEN, 0) < 0)
			return why_set(why, whylen, "rooms[%zu] is not a room name", i), -EBADMSG;
		out->rooms[i] = strdup(json_string_value(v));
		if (!out->rooms[i])
			return -ENOMEM;
		out->nrooms++;
	}
	return 0;
}

static int
get_roles(json_t *claims, struct cf_jwt_claims *out, char *why, size_t whylen)
{
	json_t *roles = json_object_get(claims, "roles"), *v;
	const char *room;

	if (!roles)
		return 0;
	if (!json_is_object(roles) || json_object_size(roles) > CF_JWT_ROOMS_MAX)
		return why_set(why, whylen, "roles is not an object of at most %d rooms",
		               CF_JWT_ROOMS_MAX),
		       -EBADMSG;
	out->role_rooms = calloc(json_object_size(roles) + 1, sizeof(*out->role_rooms));
	out->role_of = calloc(json_object_size(roles) + 1, 1);
	if (!out->role_rooms || !out->role_of)
		return -ENOMEM;
	json_object_foreach (roles, room, v) {
		int role = json_is_string(v) ? cf_rules_role_parse(json_string_value(v)) : -1;

		if (role < 0 || cf_text_name_ok(room, strlen(room), 1, CF_ROOM_NAME_MAX, 0) < 0)
			return why_set(why, whylen,
			               "roles: each room's role is owner, moderator, "
			               "member or none"),
			       -EBADMSG;
		out->role_rooms[out->nroles] = strdup(room);
		if (!out->role_rooms[out->nroles])
			return -ENOMEM;
		out->role_of[out->nroles++] = (uint8_t)role;
	}
	return 0;
}

/* Every claim's rules, once the signature holds. */
static int
check_claims(const struct cf_jwt *j, json_t *claims, int64_t now, size_t max_name,
             struct cf_jwt_claims *out, char *why, size_t whylen)
{
	const char *sub, *name, *iss;
	size_t sublen = 0, namelen = 0, isslen = 0;
	double exp = 0, nbf = 0, iat = 0;
	int bad = 0, r;

	if (!json_is_object(claims))
		return why_set(why, whylen, "the payload is not a JSON object"), -EBADMSG;
	r = get_date(claims, "exp", &exp);
	if (r <= 0)
		return why_set(why, whylen, "exp is %s", r ? "not a number" : "missing"), -EBADMSG;
	if (get_date(claims, "nbf", &nbf) < 0 || get_date(claims, "iat", &iat) < 0)
		return why_set(why, whylen, "nbf or iat is not a number"), -EBADMSG;
	if (exp + j->leeway <= (double)now)
		return why_set(why, whylen, "the token has expired"), -EKEYEXPIRED;
	if (json_object_get(claims, "nbf") && nbf - j->leeway > (double)now)
		return why_set(why, whylen, "the token is not valid yet (nbf)"), -EKEYREJECTED;
	r = check_aud(j, claims, why, whylen);
	if (r < 0)
		return r;
	iss = get_string(claims, "iss", &isslen, &bad);
	if (bad || (j->iss && (!iss || strcmp(iss, j->iss))))
		return why_set(why, whylen, "the token is from another issuer (iss)"), -EBADMSG;
	sub = get_string(claims, "sub", &sublen, &bad);
	if (!sub || cf_ident_local_ok(CF_ID_ACCOUNT, sub, sublen, max_name) < 0 ||
	    !strncmp(sub, "guest-", 6))
		return why_set(why, whylen,
		               "sub is not an account name (1 to %zu bytes, no ':', not guest-)",
		               max_name),
		       -EBADMSG;
	name = get_string(claims, "name", &namelen, &bad);
	if (bad || (name && cf_text_name_ok(name, namelen, 1, max_name, 1) < 0))
		return why_set(why, whylen, "name is not a user name"), -EBADMSG;
	out->sub = strdup(sub);
	out->name = strdup(name ? name : sub);
	out->exp = exp > (double)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)exp;
	if (!out->sub || !out->name)
		return -ENOMEM;
	r = get_rooms(claims, out, why, whylen);
	return r < 0 ? r : get_roles(claims, out, why, whylen);
}

int
cf_jwt_verify(const struct cf_jwt *j, const char *token, int64_t now, size_t max_name,
              struct cf_jwt_claims *out, char *why, size_t whylen)
{
	jwt_t *jwt = NULL;
	char *grants;
	json_t *claims;
	int r;

	memset(out, 0, sizeof(*out));
	why_set(why, whylen, "ok");
	if (strlen(token) > CF_JWT_TOKEN_MAX || !cf_jwt_looks_like(token))
		return why_set(why, whylen, "not a signed JWT"), -EBADMSG;
	r = check_header(j, token, why, whylen);
	if (r < 0)
		return r;
	if (jwt_decode(&jwt, token, j->key, (int)j->keylen) != 0 || !jwt) {
		jwt_free(jwt);
		return why_set(why, whylen, "the signature does not verify"), -EBADMSG;
	}
	if (jwt_get_alg(jwt) != j->alg) {
		jwt_free(jwt);
		return why_set(why, whylen, "the token is not signed with %s", j->alg_name),
		       -EBADMSG;
	}
	grants = jwt_get_grants_json(jwt, NULL);
	jwt_free(jwt);
	if (!grants)
		return why_set(why, whylen, "the payload is not a JSON object"), -EBADMSG;
	claims = json_loads(grants, JSON_REJECT_DUPLICATES, NULL);
	free(grants);
	r = check_claims(j, claims, now, max_name, out, why, whylen);
	json_decref(claims);
	if (r < 0)
		cf_jwt_claims_free(out);
	return r;
}

void
cf_jwt_claims_free(struct cf_jwt_claims *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->rooms && i < c->nrooms; i++)
		free(c->rooms[i]);
	free(c->rooms);
	for (size_t i = 0; c->role_rooms && i < c->nroles; i++)
		free(c->role_rooms[i]);
	free(c->role_rooms);
	free(c->role_of);
	free(c->sub);
	free(c->name);
	memset(c, 0, sizeof(*c));
}

int
cf_jwt_claims_dup(struct cf_jwt_claims *dst, const struct cf_jwt_claims *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->sub = strdup(src->sub);
	dst->name = strdup(src->name);
	dst->exp = src->exp;
	if (!dst->sub || !dst->name)
		goto fail;
	if (src->rooms) {
		dst->rooms = calloc(src->nrooms + 1, sizeof(*dst->rooms));
		if (!dst->rooms)
			goto fail;
		for (; dst->nrooms < src->nrooms; dst->nrooms++) {
			dst->rooms[dst->nrooms] = strdup(src->rooms[dst->nrooms]);
			if (!dst->rooms[dst->nrooms])
				goto fail;
		}
	}
	return 0;
fail:
	cf_jwt_claims_free(dst);
	return -ENOMEM;
}

int
cf_jwt_room_allowed(const struct cf_jwt_claims *c, const char *room)
{
	if (!c->rooms)
		return 1;
	for (size_t i = 0; i < c->nrooms; i++) {
		size_t n = strlen(c->rooms[i]);

		if (n && c->rooms[i][n - 1] == '*' ? !strncmp(room, c->rooms[i], n - 1)
		                                   : !strcmp(room, c->rooms[i]))
			return 1;
	}
	return 0;
}
