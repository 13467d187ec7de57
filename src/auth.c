/* SPDX-License-Identifier: MIT */
/* auth.c - accounts and access tokens (see auth.h).
 *
 * Every operation is a `struct op` that walks through a few steps: a lookup (memory or Redis),
 * maybe a password job on the hashing thread, maybe a store (file or Redis script), maybe a
 * token. It ends in finish(), which puts it on the done list; a zero-delay timer runs the
 * callbacks in order, so no callback ever runs inside the call that queued it.
 *
 * The hashing thread is the one exception to "one loop, no threads" (docs/architecture.md):
 * yescrypt at libcrypt's default cost takes about 60 ms here, so one login on the loop would
 * stall every chat for that long, and a handful per second would stall it for good. The thread
 * only runs crypt_rn() on an op's own buffers; the queue and the completion list are under one
 * mutex; completions wake the loop through an eventfd adopted into lws as a raw file. */
#define _GNU_SOURCE /* explicit_bzero */
#include "confab/auth.h"
#include "confab/config.h"
#include "confab/log.h"
#include "confab/metrics.h"
#include "confab/ratelimit.h"
#include "confab/redis.h"
#include "confab/server.h"
#include "confab/state.h"
#include "confab/text.h"

#include <crypt.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uthash.h>

#define ACCOUNTS_FILE "accounts.json"
#define KEY_FILE      "auth.key"
#define KEY_LEN       32
#define SECRET_MIN    32    /* bytes of a configured secret */
#define LIMITS_MAX    65536 /* rate-limit entries (names and addresses) held at once */
#define TOKEN_VERSION "1"

/* ---- standalone accounts ------------------------------------------------------------------ */

struct acct {
	UT_hash_handle hh_name, hh_id;
	struct cf_auth_rec rec;
};

/* A rate-limit bucket: attempts from one client address ("i:<ip>"), attempts at one account
 * name from one address ("p:<ip> <name>"; addresses hold no space), or failed logins for one
 * name from anywhere ("n:<name>", the slow-down). */
struct limit {
	UT_hash_handle hh;
	struct cf_bucket b;
	int rate; /* per minute, also the burst */
	char key[];
};

enum op_kind { OP_CREATE, OP_VERIFY, OP_BY_NAME, OP_BY_ID, OP_TOKEN, OP_BUMP, OP_LIST };
enum job_kind { JOB_HASH, JOB_CHECK };

struct op;
typedef void step_fn(struct op *o);

struct op {
	struct lws_dll2 list;  /* on a->ops until freed */
	struct lws_dll2 dlist; /* on a->done once finished */
	struct lws_dll2 wlist; /* on a->wq or a->wdone, under a->mu */
	struct cf_auth *a;
	enum op_kind kind;
	cf_auth_cb *cb;
	cf_auth_list_cb *lcb;
	void *ud;
	int64_t tag;
	int err;
	char *arg; /* the name, id or token asked about (owned) */
	char *pw;  /* owned, wiped */
	size_t pwlen;
	enum job_kind job;
	int job_err;
	char hash[CRYPT_OUTPUT_SIZE]; /* the hash made, or the stored one to check against */
	struct cf_account acct;       /* the result (name owned) */
	int have_acct;
	uint64_t tok_gen; /* the gen a token carried */
	char token[CF_AUTH_TOKEN_MAX];
	int have_token;
	struct cf_account *accts; /* OP_LIST: names owned */
	size_t nlist;
	step_fn *next; /* what runs once the key is known */
	int unknown;   /* OP_VERIFY of a name without an account: the check is a stand-in */
	int delayed;   /* sul_delay is scheduled (the per-name slow-down) */
	lws_sorted_usec_list_t sul_delay;
};

struct cf_auth {
	struct lws_context *ctx;
	const struct cf_config *cfg;
	struct cf_redis *redis; /* NULL: standalone */
	unsigned char key[CF_AUTH_KEY_MAX];
	size_t keylen; /* 0: not known yet (cluster mode fetches it) */
	/* A yescrypt setting (a salt at libcrypt's default cost, no hash): a login for a name
	 * without an account is checked against it, so it costs what a real login costs. */
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];
	/* standalone */
	struct acct *by_name, *by_id;
	struct acct **order;
	size_t n, cap;
	/* rate limits */
	struct limit *limits;
	uint32_t nlimits;
	/* operations */
	struct lws_dll2_owner ops, done;
	lws_sorted_usec_list_t sul_done;
	int stopped;
	/* the hashing thread */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lws_dll2_owner wq, wdone; /* under mu */
	int quit;                        /* under mu */
	uint32_t njobs;                  /* queued or running; loop side */
	int efd;
	struct lws *ewsi;
};

static int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- building blocks ---------------------------------------------------------------------- */

/* crypt_rn() of the password (pwlen bytes, no NUL) with setting (a salt, or a whole hash to
 * check against) into out: 0, -ENOMEM, or -EIO when libcrypt refuses or out is too small. The
 * copy of the password and libcrypt's scratch space are wiped. */
static int
crypt_pw(const char *pw, size_t pwlen, const char *setting, char *out, size_t outlen)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *pwz = malloc(pwlen + 1), *h;
	int r = -ENOMEM;

	if (cd && pwz) {
		memcpy(pwz, pw, pwlen);
		pwz[pwlen] = '\0';
		h = crypt_rn(pwz, setting, cd, sizeof(*cd));
		r = !h || h[0] == '*' || strlen(h) >= outlen ? -EIO : 0;
		if (!r)
			memcpy(out, h, strlen(h) + 1);
		explicit_bzero(pwz, pwlen);
		explicit_bzero(cd, sizeof(*cd));
	}
	free(pwz);
	free(cd);
	return r;
}

int
cf_auth_hash(const char *pw, size_t pwlen, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (memchr(pw, '\0', pwlen))
		return -EINVAL;
	/* NULL random bytes: libcrypt takes them from getentropy(). Cost 0: its default. */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
		return -EIO;
	return crypt_pw(pw, pwlen, setting, out, outlen);
}

int
cf_auth_hash_check(const char *hash, const char *pw, size_t pwlen)
{
	char h[CRYPT_OUTPUT_SIZE];
	size_t n = strlen(hash);
	int r;

	if (hash[0] != '$' || memchr(pw, '\0', pwlen))
		return hash[0] != '$' ? -EINVAL : -EACCES;
	r = crypt_pw(pw, pwlen, hash, h, sizeof(h));
	if (r == 0)
		r = strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0 ? 0 : -EACCES;
	else if (r == -EIO)
		r = -EINVAL; /* not a hash libcrypt knows */
	explicit_bzero(h, sizeof(h));
	return r;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of n bytes into out; the length written, or 0 if out is too small. */
static size_t
b64_enc(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	if ((n + 2) / 3 * 4 + 1 > outlen)
		return 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;

		if (k > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (k > 2)
			v |= in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (k > 1)
			out[o++] = b64url[(v >> 6) & 63];
		if (k > 2)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/* Decodes n characters of unpadded base64url; the length, or -1 when it is not that. */
static ssize_t
b64_dec(const char *in, size_t n, unsigned char *out, size_t outlen)
{
	size_t o = 0;
	uint32_t v = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = b64_val(in[i]);

		if (c < 0)
			return -1;
		v = (v << 6) | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	/* The bits left over must be zero, so that one token has one spelling. */
	if (bits && (v & ((1u << bits) - 1)))
		return -1;
	return (ssize_t)o;
}

int
cf_auth_token_sign(const unsigned char *key, size_t keylen, const char *id, uint64_t gen,
                   int64_t exp, char *out, size_t outlen)
{
	char payload[128], mac64[48];
	unsigned char mac[EVP_MAX_MD_SIZE], nonce[8];
	unsigned int maclen = 0;
	int n;
	size_t p;

	/* A random nonce makes every token distinct, also two issued in the same second (seed
	 * 001's signIn promises a new access key each time). */
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return -EIO;
	n = snprintf(payload, sizeof(payload),
	             TOKEN_VERSION ":%s:%" PRIu64 ":%" PRId64 ":%02x%02x%02x%02x%02x%02x%02x%02x",
	             id, gen, exp, nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5],
	             nonce[6], nonce[7]);
	if (n < 0 || (size_t)n >= sizeof(payload) || strlen(id) != CF_AUTH_ID_LEN || !keylen)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)payload, (size_t)n, mac,
	          &maclen))
		return -EINVAL;
	p = b64_enc((const unsigned char *)payload, (size_t)n, out, outlen);
	if (!p || p + 2 > outlen)
		return -EINVAL;
	out[p++] = '.';
	if (!b64_enc(mac, maclen, mac64, sizeof(mac64)) || p + strlen(mac64) + 1 > outlen)
		return -EINVAL;
	memcpy(out + p, mac64, strlen(mac64) + 1);
	return 0;
}

/* A decimal without sign, leading zeros or overflow: 0 or -1. */
static int
parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (!n || n > 19 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

int
cf_auth_token_parse(const unsigned char *key, size_t keylen, const char *token, int64_t now,
                    char ret_id[CF_AUTH_ID_LEN + 1], uint64_t *ret_gen)
{
	unsigned char payload[128], mac[64], want[EVP_MAX_MD_SIZE];
	unsigned int wantlen = 0;
	const char *dot = strchr(token, '.'), *p, *c1, *c2, *c3, *c4;
	ssize_t plen, mlen;
	uint64_t gen, exp;

	if (!dot || !keylen || strlen(token) >= CF_AUTH_TOKEN_MAX)
		return -EBADMSG;
	plen = b64_dec(token, (size_t)(dot - token), payload, sizeof(payload) - 1);
	mlen = b64_dec(dot + 1, strlen(dot + 1), mac, sizeof(mac));
	if (plen <= 0 || mlen <= 0)
		return -EBADMSG;
	if (!HMAC(EVP_sha256(), key, (int)keylen, payload, (size_t)plen, want, &wantlen))
		return -EBADMSG;
	if ((size_t)mlen != wantlen || CRYPTO_memcmp(mac, want, wantlen))
		return -EBADMSG;
	/* Signed by us: still parsed strictly. */
	payload[plen] = '\0';
	p = (const char *)payload;
	if (memchr(p, '\0', (size_t)plen) || strncmp(p, TOKEN_VERSION ":", 2))
		return -EBADMSG;
	c1 = p + 1;
	c2 = strchr(c1 + 1, ':');
	c3 = c2 ? strchr(c2 + 1, ':') : NULL;
	c4 = c3 ? strchr(c3 + 1, ':') : NULL;
	if (!c2 || !c3 || !c4 || c2 - c1 - 1 != CF_AUTH_ID_LEN ||
	    !cf_text_uuid_canonical(c1 + 1, CF_AUTH_ID_LEN) ||
	    parse_u64(c2 + 1, (size_t)(c3 - c2 - 1), &gen) < 0 ||
	    parse_u64(c3 + 1, (size_t)(c4 - c3 - 1), &exp) < 0 || strlen(c4 + 1) != 16 ||
	    strspn(c4 + 1, "0123456789abcdef") != 16)
		return -EBADMSG;
	if ((int64_t)exp <= now)
		return -EKEYEXPIRED;
	memcpy(ret_id, c1 + 1, CF_AUTH_ID_LEN);
	ret_id[CF_AUTH_ID_LEN] = '\0';
	*ret_gen = gen;
	return 0;
}

char *
cf_auth_file_encode(const struct cf_auth_rec *recs, size_t n)
{
	json_t *arr = json_array(), *doc;
	char *out;

	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr,
		                          json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", recs[i].pub.id,
		                                    "name", recs[i].pub.name, "hash", recs[i].hash,
		                                    "created", (json_int_t)recs[i].pub.created,
		                                    "gen", (json_int_t)recs[i].pub.gen)) < 0) {
			json_decref(arr);
			return NULL;
		}
	doc = json_pack("{s:i,s:o}", "version", 1, "accounts", arr);
	if (!doc)
		return NULL;
	out = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	return out;
}

static void
recs_free(struct cf_auth_rec *recs, size_t n)
{
	for (size_t i = 0; recs && i < n; i++) {
		free(recs[i].pub.name);
		free(recs[i].hash);
	}
	free(recs);
}

int
cf_auth_file_decode(const char *buf, size_t len, struct cf_auth_rec **ret, size_t *ret_n, char *err,
                    size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, 0, &jerr), *arr, *v;
	struct cf_auth_rec *recs = NULL;
	size_t i, n = 0;

	if (!doc) {
		snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
		return -EINVAL;
	}
	arr = json_object_get(doc, "accounts");
	if (json_integer_value(json_object_get(doc, "version")) != 1 || !json_is_array(arr)) {
		snprintf(err, errlen, "not an accounts file of version 1");
		json_decref(doc);
		return -EINVAL;
	}
	recs = calloc(json_array_size(arr) + 1, sizeof(*recs));
	if (!recs) {
		json_decref(doc);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	json_array_foreach (arr, i, v) {
		const char *id = NULL, *name = NULL, *hash = NULL;
		json_int_t created = -1, gen = -1;

		if (json_unpack(v, "{s:s,s:s,s:s,s:I,s:I}", "id", &id, "name", &name, "hash", &hash,
		                "created", &created, "gen", &gen) < 0 ||
		    !cf_text_uuid_canonical(id, strlen(id)) || !name[0] || hash[0] != '$' ||
		    created < 0 || gen < 0) {
			snprintf(err, errlen, "account #%zu is malformed", i + 1);
			recs_free(recs, n);
			json_decref(doc);
			return -EINVAL;
		}
		memcpy(recs[n].pub.id, id, CF_AUTH_ID_LEN + 1);
		recs[n].pub.name = strdup(name);
		recs[n].hash = strdup(hash);
		recs[n].pub.created = created;
		recs[n].pub.gen = (uint64_t)gen;
		n++;
		if (!recs[n - 1].pub.name || !recs[n - 1].hash) {
			recs_free(recs, n);
			json_decref(doc);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	json_decref(doc);
	*ret = recs;
	*ret_n = n;
	return 0;
}

/* ---- the standalone registry -------------------------------------------------------------- */

static struct acct *
find_name(struct cf_auth *a, const char *name)
{
	struct acct *e;

	HASH_FIND(hh_name, a->by_name, name, strlen(name), e);
	return e;
}

static struct acct *
find_id(struct cf_auth *a, const char *id)
{
	struct acct *e;

	HASH_FIND(hh_id, a->by_id, id, strlen(id), e);
	return e;
}

/* Takes rec's strings. -EEXIST (name or id), -ENOMEM. */
static int
mem_add(struct cf_auth *a, struct cf_auth_rec *rec)
{
	struct acct *e;

	if (find_name(a, rec->pub.name) || find_id(a, rec->pub.id))
		return -EEXIST;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct acct **o = realloc(a->order, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		a->order = o;
		a->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->rec = *rec;
	HASH_ADD_KEYPTR(hh_name, a->by_name, e->rec.pub.name, strlen(e->rec.pub.name), e);
	HASH_ADD_KEYPTR(hh_id, a->by_id, e->rec.pub.id, CF_AUTH_ID_LEN, e);
	a->order[a->n++] = e;
	return 0;
}

/* Undoes the last mem_add() (a store that could not be written). */
static void
mem_pop(struct cf_auth *a)
{
	struct acct *e = a->order[--a->n];

	HASH_DELETE(hh_name, a->by_name, e);
	HASH_DELETE(hh_id, a->by_id, e);
	free(e->rec.pub.name);
	free(e->rec.hash);
	free(e);
}

/* Writes every account to the state dir. Blocks for the fsyncs: accounts are created and
 * generations bumped rarely (each creation costs a password hash and an attempt token), so a
 * few ms of fsync per write is accepted rather than batching, which would let a crash lose an
 * account whose token the client already holds. */
static int
mem_persist(struct cf_auth *a)
{
	struct cf_auth_rec *recs = calloc(a->n + 1, sizeof(*recs));
	char *buf;
	int r;

	if (!recs)
		return -ENOMEM;
	for (size_t i = 0; i < a->n; i++)
		recs[i] = a->order[i]->rec;
	buf = cf_auth_file_encode(recs, a->n);
	free(recs);
	if (!buf)
		return -ENOMEM;
	r = cf_state_write_private(ACCOUNTS_FILE, buf, strlen(buf));
	free(buf);
	return r;
}

static int
mem_load(struct cf_auth *a, char *err, size_t errlen)
{
	struct cf_auth_rec *recs;
	char *buf, why[256];
	size_t len, n, i;
	int r = cf_state_read(ACCOUNTS_FILE, &buf, &len);

	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "%s/%s: %s", a->cfg->state_dir, ACCOUNTS_FILE, strerror(-r));
		return r;
	}
	r = cf_auth_file_decode(buf, len, &recs, &n, why, sizeof(why));
	free(buf);
	if (r < 0) {
		snprintf(err, errlen,
		         "%s/%s: %s (fix or move it away; accounts are never dropped "
		         "silently)",
		         a->cfg->state_dir, ACCOUNTS_FILE, why);
		return r;
	}
	for (i = 0; i < n; i++) {
		r = mem_add(a, &recs[i]);
		if (r < 0)
			break;
		recs[i].pub.name = recs[i].hash = NULL; /* taken */
	}
	if (r < 0)
		snprintf(err, errlen, "%s/%s: account #%zu: %s", a->cfg->state_dir, ACCOUNTS_FILE,
		         i + 1, r == -EEXIST ? "duplicate name or id" : strerror(-r));
	recs_free(recs, n);
	return r;
}

/* ---- the key ------------------------------------------------------------------------------ */

static int
hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static int
random_bytes(unsigned char *buf, size_t n)
{
	/* Blocks only before the kernel's pool is initialised (early boot). */
	return getrandom(buf, n, 0) == (ssize_t)n ? 0 : -EIO;
}

static int
load_key(struct cf_auth *a, char *err, size_t errlen)
{
	char secret[CF_AUTH_KEY_MAX + 2], why[512], hex[2 * KEY_LEN + 2], *buf;
	size_t len;
	int r;

	if (a->cfg->auth_secret_file[0]) {
		r = cf_config_read_secret(a->cfg->auth_secret_file, secret, sizeof(secret), why,
		                          sizeof(why));
		if (r < 0 || strlen(secret) < SECRET_MIN || strlen(secret) > CF_AUTH_KEY_MAX) {
			snprintf(err, errlen, "auth.secret_file: %s",
			         r < 0 ? why : "the secret must be 32 to 128 bytes");
			explicit_bzero(secret, sizeof(secret));
			return r < 0 ? r : -EINVAL;
		}
		a->keylen = strlen(secret);
		memcpy(a->key, secret, a->keylen);
		explicit_bzero(secret, sizeof(secret));
		return 0;
	}
	if (a->redis)
		return 0; /* fetched from Redis when first needed */
	r = cf_state_read(KEY_FILE, &buf, &len);
	if (r == 0) {
		if (len && buf[len - 1] == '\n')
			buf[len - 1] = '\0';
		r = hex_decode(buf, a->key, KEY_LEN) < 0 ? -EINVAL : 0;
		explicit_bzero(buf, len);
		free(buf);
		if (r < 0) {
			snprintf(err, errlen, "%s/%s: not a key of %d hex-encoded bytes",
			         a->cfg->state_dir, KEY_FILE, KEY_LEN);
			return r;
		}
		a->keylen = KEY_LEN;
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(err, errlen, "%s/%s: %s", a->cfg->state_dir, KEY_FILE, strerror(-r));
		return r;
	}
	if (random_bytes(a->key, KEY_LEN) < 0) {
		snprintf(err, errlen, "getrandom failed");
		return -EIO;
	}
	hex_encode(a->key, KEY_LEN, hex);
	hex[2 * KEY_LEN] = '\n';
	r = cf_state_write_private(KEY_FILE, hex, 2 * KEY_LEN + 1);
	explicit_bzero(hex, sizeof(hex));
	if (r < 0) {
		snprintf(err, errlen, "%s/%s: cannot write it: %s", a->cfg->state_dir, KEY_FILE,
		         strerror(-r));
		return r;
	}
	a->keylen = KEY_LEN;
	log_info("auth: generated the token signing key %s/%s", a->cfg->state_dir, KEY_FILE);
	return 0;
}

/* ---- operations --------------------------------------------------------------------------- */

static void op_free(struct op *o);

static void
done_cb(lws_sorted_usec_list_t *sul)
{
	struct cf_auth *a = lws_container_of(sul, struct cf_auth, sul_done);

	while (a->done.head) {
		struct op *o = lws_container_of(a->done.head, struct op, dlist);
		struct cf_auth_result res = {.err = o->err,
		                             .acct = o->have_acct ? &o->acct : NULL,
		                             .token = o->have_token ? o->token : NULL};

		lws_dll2_remove(&o->dlist);
		if (o->lcb)
			o->lcb(o->ud, o->tag, o->err, o->accts, o->nlist);
		else if (o->cb)
			o->cb(o->ud, o->tag, &res);
		op_free(o);
	}
}

static void
op_free(struct op *o)
{
	if (o->delayed && !o->a->stopped)
		lws_sul_cancel(&o->sul_delay);
	lws_dll2_remove(&o->dlist);
	lws_dll2_remove(&o->list);
	if (o->pw) {
		explicit_bzero(o->pw, o->pwlen);
		free(o->pw);
	}
	free(o->acct.name);
	for (size_t i = 0; i < o->nlist; i++)
		free(o->accts[i].name);
	free(o->accts);
	free(o->arg);
	explicit_bzero(o->token, sizeof(o->token));
	free(o);
}

static void
finish(struct op *o, int err)
{
	struct cf_auth *a = o->a;

	o->err = err;
	if (err < 0)
		o->have_token = 0;
	if (o->pw) {
		explicit_bzero(o->pw, o->pwlen);
		free(o->pw);
		o->pw = NULL;
	}
	explicit_bzero(o->hash, sizeof(o->hash));
	lws_dll2_add_tail(&o->dlist, &a->done);
	if (!a->stopped && a->done.count == 1)
		lws_sul_schedule(a->ctx, 0, &a->sul_done, done_cb, 1);
}

static struct op *
op_new(struct cf_auth *a, enum op_kind kind, const char *arg, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->a = a;
	o->kind = kind;
	o->cb = cb;
	o->ud = ud;
	o->tag = tag;
	if (arg && !(o->arg = strdup(arg))) {
		free(o);
		return NULL;
	}
	lws_dll2_add_tail(&o->list, &a->ops);
	return o;
}

static int
set_acct(struct op *o, const char *id, const char *name, int64_t created, uint64_t gen)
{
	char *n = strdup(name);

	if (!n || strlen(id) != CF_AUTH_ID_LEN) {
		free(n);
		return -ENOMEM;
	}
	free(o->acct.name);
	memcpy(o->acct.id, id, CF_AUTH_ID_LEN + 1);
	o->acct.name = n;
	o->acct.created = created;
	o->acct.gen = gen;
	o->have_acct = 1;
	return 0;
}

/* -- the hashing thread -- */

static void *
worker(void *arg)
{
	struct cf_auth *a = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct op *o;

		while (!a->quit && !a->wq.head)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->quit)
			break;
		o = lws_container_of(a->wq.head, struct op, wlist);
		lws_dll2_remove(&o->wlist);
		pthread_mutex_unlock(&a->mu);
		/* Only this op's own buffers: the loop does not touch them meanwhile. */
		if (o->job == JOB_HASH)
			o->job_err = cf_auth_hash(o->pw, o->pwlen, o->hash, sizeof(o->hash));
		else
			o->job_err = cf_auth_hash_check(o->hash, o->pw, o->pwlen);
		pthread_mutex_lock(&a->mu);
		lws_dll2_add_tail(&o->wlist, &a->wdone);
		if (write(a->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("auth: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void job_done(struct op *o);

static void
submit(struct op *o, enum job_kind job)
{
	struct cf_auth *a = o->a;

	if (a->stopped || !a->thread_started) {
		finish(o, -ECANCELED);
		return;
	}
	if (a->njobs >= (uint32_t)a->cfg->auth_max_pending) {
		finish(o, -EBUSY);
		return;
	}
	a->njobs++;
	o->job = job;
	pthread_mutex_lock(&a->mu);
	lws_dll2_add_tail(&o->wlist, &a->wq);
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void
drain_jobs(struct cf_auth *a)
{
	struct lws_dll2_owner got = {0};
	uint64_t v;

	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("auth: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&a->mu);
	while (a->wdone.head) {
		struct lws_dll2 *d = a->wdone.head;

		lws_dll2_remove(d);
		lws_dll2_add_tail(d, &got);
	}
	pthread_mutex_unlock(&a->mu);
	while (got.head) {
		struct op *o = lws_container_of(got.head, struct op, wlist);

		lws_dll2_remove(&o->wlist);
		a->njobs--;
		cf_metrics.auth_hashes_total++;
		job_done(o);
	}
}

int
cf_auth_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
	struct cf_auth *a = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (a)
			drain_jobs(a);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (a) {
			/* lws closes the fd (context destroyed): the thread is joined by then. */
			a->ewsi = NULL;
			a->efd = -1;
			lws_set_opaque_user_data(wsi, NULL);
		}
		return 0;
	default:
		return 0;
	}
}

/* -- Redis -- */

/* KEYS: acct:<name>, acctid:<id>, accts. ARGV: name, id, hash, created, max accounts.
 * HSETNX semantics for the whole account: two nodes racing for a name cannot both win. */
static const char create_lua[] =
        "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
        "if redis.call('LLEN', KEYS[3]) >= tonumber(ARGV[5]) then return -1 end\n"
        "redis.call('HSET', KEYS[1], 'id', ARGV[2], 'hash', ARGV[3], 'gen', '0', 'created', "
        "ARGV[4])\n"
        "redis.call('SET', KEYS[2], ARGV[1])\n"
        "redis.call('RPUSH', KEYS[3], ARGV[1])\n"
        "return 1\n";
/* ARGV: prefix, 'name' or 'id', the name or id. {name, id, hash, gen, created} or nil. */
static const char get_lua[] =
        "local name = ARGV[3]\n"
        "if ARGV[2] == 'id' then\n"
        "  name = redis.call('GET', ARGV[1] .. 'acctid:' .. ARGV[3])\n"
        "  if not name then return nil end\n"
        "end\n"
        "local v = redis.call('HMGET', ARGV[1] .. 'acct:' .. name, 'id', 'hash', 'gen', "
        "'created')\n"
        "if not v[1] then return nil end\n"
        "return {name, v[1], v[2], v[3], v[4]}\n";
/* KEYS: acct:<name>. {id, gen, created} or nil. */
static const char bump_lua[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return nil end\n"
                               "local g = redis.call('HINCRBY', KEYS[1], 'gen', 1)\n"
                               "local v = redis.call('HMGET', KEYS[1], 'id', 'created')\n"
                               "return {v[1], tostring(g), v[2]}\n";
/* KEYS: accts. ARGV: prefix, most. {name, id, gen, created, ...} in creation order. */
static const char list_lua[] =
        "local out = {}\n"
        "for _, n in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do\n"
        "  local v = redis.call('HMGET', ARGV[1] .. 'acct:' .. n, 'id', 'gen', 'created')\n"
        "  if v[1] then\n"
        "    out[#out + 1] = n; out[#out + 1] = v[1]; out[#out + 1] = v[2]; out[#out + 1] = v[3]\n"
        "  end\n"
        "end\n"
        "return out\n";
/* KEYS: authkey. ARGV: a fresh random key. The key every node uses. */
static const char key_lua[] = "redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
                              "return redis.call('GET', KEYS[1])\n";

static int
rkey(char *buf, size_t len, const struct cf_auth *a, const char *kind, const char *rest)
{
	int n = snprintf(buf, len, "%s%s%s", a->cfg->redis_prefix, kind, rest);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* Sends EVAL; on failure the op finishes with -EAGAIN. */
static void
eval(struct op *o, cf_redis_reply_cb *cb, const char *script, int nkeys, int nargs,
     const char **args)
{
	const char *argv[16];
	char nk[8];
	int r;

	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = nk;
	for (int i = 0; i < nargs; i++)
		argv[3 + i] = args[i];
	r = cf_redis_cmd(o->a->redis, cb, o, 3 + nargs, argv, NULL);
	if (r < 0)
		finish(o, -EAGAIN);
}

/* A usable reply, or NULL after logging an error reply. */
static const redisReply *
reply_ok(const redisReply *rep)
{
	if (rep && rep->type == REDIS_REPLY_ERROR) {
		log_warn("auth: Redis: %.*s", (int)rep->len, rep->str);
		return NULL;
	}
	return rep;
}

static int
rep_str(const redisReply *r, size_t i, const char **ret)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
	    r->element[i]->type != REDIS_REPLY_STRING)
		return -1;
	*ret = r->element[i]->str;
	return 0;
}

static uint64_t
rep_u64(const redisReply *r, size_t i)
{
	const char *s;

	return rep_str(r, i, &s) < 0 ? 0 : strtoull(s, NULL, 10);
}

/* -- the key, when cluster mode has to fetch it -- */

static void
on_key(void *privdata, redisReply *rep)
{
	struct op *o = privdata;
	struct cf_auth *a = o->a;
	const redisReply *r = reply_ok(rep);

	if (!r) {
		finish(o, -EAGAIN);
		return;
	}
	if (r->type != REDIS_REPLY_STRING || hex_decode(r->str, a->key, KEY_LEN) < 0) {
		log_error("auth: %sauthkey in Redis is not a key of %d hex-encoded bytes",
		          a->cfg->redis_prefix, KEY_LEN);
		finish(o, -EAGAIN);
		return;
	}
	a->keylen = KEY_LEN;
	o->next(o);
}

static void
with_key(struct op *o, step_fn *next)
{
	struct cf_auth *a = o->a;
	unsigned char rnd[KEY_LEN];
	char hex[2 * KEY_LEN + 1], k[256];
	const char *args[2] = {k, hex};

	if (a->keylen) {
		next(o);
		return;
	}
	if (!a->redis || random_bytes(rnd, sizeof(rnd)) < 0 ||
	    rkey(k, sizeof(k), a, "authkey", "") < 0) {
		finish(o, -EIO);
		return;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	o->next = next;
	eval(o, on_key, key_lua, 1, 2, args);
	explicit_bzero(rnd, sizeof(rnd));
	explicit_bzero(hex, sizeof(hex));
}

static void
issue_token(struct op *o)
{
	struct cf_auth *a = o->a;
	int r = cf_auth_token_sign(a->key, a->keylen, o->acct.id, o->acct.gen,
	                           wall_s() + a->cfg->auth_token_ttl, o->token, sizeof(o->token));

	o->have_token = r == 0;
	finish(o, r);
}

/* -- lookups -- */

/* The account named (by_id 0) or with the id (1) o->arg into o->acct (and its hash into
 * o->hash); then next(o), or finish with -ENOENT / -EAGAIN. */
static void on_get(void *privdata, redisReply *rep);
static void submit(struct op *o, enum job_kind job);

/* No such account. A login still runs a password check, against the stand-in setting, so an
 * unknown name answers after the same work, through the same queue (and its busy), as a known
 * one: timing tells nobody which names exist. job_done() answers -ENOENT. */
static void
not_found(struct op *o)
{
	if (o->kind != OP_VERIFY) {
		finish(o, -ENOENT);
		return;
	}
	o->unknown = 1;
	memcpy(o->hash, o->a->dummy, sizeof(o->a->dummy));
	submit(o, JOB_CHECK);
}

static void
lookup(struct op *o, int by_id, step_fn *next)
{
	struct cf_auth *a = o->a;

	o->next = next;
	if (!a->redis) {
		struct acct *e = by_id ? find_id(a, o->arg) : find_name(a, o->arg);

		if (!e) {
			not_found(o);
			return;
		}
		if (set_acct(o, e->rec.pub.id, e->rec.pub.name, e->rec.pub.created,
		             e->rec.pub.gen) < 0 ||
		    strlen(e->rec.hash) >= sizeof(o->hash)) {
			finish(o, -ENOMEM);
			return;
		}
		memcpy(o->hash, e->rec.hash, strlen(e->rec.hash) + 1);
		next(o);
		return;
	}
	{
		const char *args[3] = {a->cfg->redis_prefix, by_id ? "id" : "name", o->arg};

		eval(o, on_get, get_lua, 0, 3, args);
	}
}

static void
on_get(void *privdata, redisReply *rep)
{
	struct op *o = privdata;
	const redisReply *r = reply_ok(rep);
	const char *name, *id, *hash;

	if (!r) {
		finish(o, -EAGAIN);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		not_found(o);
		return;
	}
	if (rep_str(r, 0, &name) < 0 || rep_str(r, 1, &id) < 0 || rep_str(r, 2, &hash) < 0 ||
	    strlen(hash) >= sizeof(o->hash) ||
	    set_acct(o, id, name, (int64_t)rep_u64(r, 4), rep_u64(r, 3)) < 0) {
		log_warn("auth: a malformed account in Redis");
		finish(o, -EAGAIN);
		return;
	}
	memcpy(o->hash, hash, strlen(hash) + 1);
	o->next(o);
}

static void
step_found(struct op *o)
{
	explicit_bzero(o->hash, sizeof(o->hash));
	finish(o, 0);
}

/* -- create -- */

static void
on_create(void *privdata, redisReply *rep)
{
	struct op *o = privdata;
	const redisReply *r = reply_ok(rep);

	if (!r || r->type != REDIS_REPLY_INTEGER) {
		finish(o, -EAGAIN);
		return;
	}
	if (r->integer == 0) {
		finish(o, -EEXIST);
		return;
	}
	if (r->integer < 0) {
		finish(o, -ENOSPC);
		return;
	}
	with_key(o, issue_token);
}

static void
create_store(struct op *o)
{
	struct cf_auth *a = o->a;
	char id[CF_AUTH_ID_LEN + 1], created[24], max[24];
	int64_t now = wall_s();
	int r;

	cf_text_uuid4(id, (unsigned long long)cf_now_us());
	r = set_acct(o, id, o->arg, now, 0);
	if (r < 0) {
		finish(o, r);
		return;
	}
	if (!a->redis) {
		struct cf_auth_rec rec = {.pub = o->acct};

		if (find_name(a, o->arg)) { /* created while this one was hashing */
			finish(o, -EEXIST);
			return;
		}
		if (a->n >= (size_t)a->cfg->auth_max_accounts) {
			finish(o, -ENOSPC);
			return;
		}
		rec.pub.name = strdup(o->arg);
		rec.hash = strdup(o->hash);
		if (!rec.pub.name || !rec.hash || (r = mem_add(a, &rec)) < 0) {
			free(rec.pub.name);
			free(rec.hash);
			finish(o, r < 0 ? r : -ENOMEM);
			return;
		}
		r = mem_persist(a);
		if (r < 0) {
			mem_pop(a);
			finish(o, -EIO);
			return;
		}
		log_info("auth: account '%s' created", o->arg);
		issue_token(o);
		return;
	}
	{
		char k1[512], k2[256], k3[256];
		const char *args[8] = {k1, k2, k3, o->arg, id, o->hash, created, max};

		if (rkey(k1, sizeof(k1), a, "acct:", o->arg) < 0 ||
		    rkey(k2, sizeof(k2), a, "acctid:", id) < 0 ||
		    rkey(k3, sizeof(k3), a, "accts", "") < 0) {
			finish(o, -EINVAL);
			return;
		}
		snprintf(created, sizeof(created), "%" PRId64, now);
		snprintf(max, sizeof(max), "%d", a->cfg->auth_max_accounts);
		eval(o, on_create, create_lua, 3, 8, args);
	}
}

static void name_failed(struct cf_auth *a, const char *name);
static int name_slowed(struct cf_auth *a, const char *name);

static void
job_done(struct op *o)
{
	if (o->a->stopped) {
		finish(o, -ECANCELED);
		return;
	}
	if (o->kind == OP_CREATE) {
		if (o->job_err < 0)
			finish(o, o->job_err);
		else
			create_store(o);
		return;
	}
	/* OP_VERIFY */
	explicit_bzero(o->hash, sizeof(o->hash));
	if (o->unknown || o->job_err == -EACCES || o->job_err == -EINVAL)
		name_failed(o->a, o->arg);
	if (o->unknown)
		finish(o, -ENOENT);
	else if (o->job_err < 0)
		finish(o, o->job_err == -EINVAL ? -EACCES : o->job_err);
	else
		with_key(o, issue_token);
}

static struct op *
pw_op(struct cf_auth *a, enum op_kind kind, const char *name, const char *pw, size_t pwlen,
      cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, kind, name, cb, ud, tag);

	if (!o)
		return NULL;
	o->pw = malloc(pwlen + 1);
	if (!o->pw) {
		op_free(o);
		return NULL;
	}
	memcpy(o->pw, pw, pwlen);
	o->pw[pwlen] = '\0';
	o->pwlen = pwlen;
	return o;
}

int
cf_auth_create(struct cf_auth *a, const char *name, const char *pw, size_t pwlen, cf_auth_cb *cb,
               void *ud, int64_t tag)
{
	struct op *o = pw_op(a, OP_CREATE, name, pw, pwlen, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	if (!a->redis && find_name(a, name))
		finish(o, -EEXIST);
	else if (!a->redis && a->n >= (size_t)a->cfg->auth_max_accounts)
		finish(o, -ENOSPC);
	else
		submit(o, JOB_HASH);
	return 0;
}

static void
verify_found(struct op *o)
{
	submit(o, JOB_CHECK);
}

static void
verify_delayed(lws_sorted_usec_list_t *sul)
{
	struct op *o = lws_container_of(sul, struct op, sul_delay);

	o->delayed = 0;
	lookup(o, 0, verify_found);
}

int
cf_auth_verify(struct cf_auth *a, const char *name, const char *pw, size_t pwlen, cf_auth_cb *cb,
               void *ud, int64_t tag)
{
	struct op *o = pw_op(a, OP_VERIFY, name, pw, pwlen, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	/* Failed logins for this name from everywhere reached auth.failures_per_name: each login
	 * for it waits, the owner's too, but none is refused, so a guesser spread over many
	 * addresses is slowed without locking the owner out. Before the lookup, so known and
	 * unknown names wait alike. */
	if (a->cfg->auth_failure_delay > 0 && name_slowed(a, name)) {
		cf_metrics.auth_delayed_total++;
		o->delayed = 1;
		lws_sul_schedule(a->ctx, 0, &o->sul_delay, verify_delayed,
		                 (lws_usec_t)a->cfg->auth_failure_delay * LWS_US_PER_MS);
		return 0;
	}
	lookup(o, 0, verify_found);
	return 0;
}

int
cf_auth_is_account(const struct cf_auth *a, const char *name)
{
	const struct acct *e;

	if (!a)
		return 0;
	if (a->redis)
		return -EOPNOTSUPP;
	HASH_FIND(hh_name, a->by_name, name, strlen(name), e);
	return e != NULL;
}

int
cf_auth_by_name(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BY_NAME, name, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	lookup(o, 0, step_found);
	return 0;
}

int
cf_auth_by_id(struct cf_auth *a, const char *id, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BY_ID, id, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	lookup(o, 1, step_found);
	return 0;
}

/* -- tokens -- */

static void
token_found(struct op *o)
{
	explicit_bzero(o->hash, sizeof(o->hash));
	finish(o, o->acct.gen == o->tok_gen ? 0 : -EKEYREVOKED);
}

static void
token_keyed(struct op *o)
{
	struct cf_auth *a = o->a;
	char id[CF_AUTH_ID_LEN + 1];
	int r = cf_auth_token_parse(a->key, a->keylen, o->arg, wall_s(), id, &o->tok_gen);

	if (r < 0) {
		finish(o, r);
		return;
	}
	free(o->arg);
	o->arg = strdup(id);
	if (!o->arg) {
		finish(o, -ENOMEM);
		return;
	}
	lookup(o, 1, token_found);
}

int
cf_auth_token_check(struct cf_auth *a, const char *token, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_TOKEN, token, cb, ud, tag);

	if (!o)
		return -ENOMEM;
	if (strlen(token) >= CF_AUTH_TOKEN_MAX)
		finish(o, -EBADMSG);
	else
		with_key(o, token_keyed);
	return 0;
}

/* -- bump -- */

static void
on_bump(void *privdata, redisReply *rep)
{
	struct op *o = privdata;
	const redisReply *r = reply_ok(rep);
	const char *id;

	if (!r) {
		finish(o, -EAGAIN);
		return;
	}
	if (r->type == REDIS_REPLY_NIL) {
		finish(o, -ENOENT);
		return;
	}
	if (rep_str(r, 0, &id) < 0 ||
	    set_acct(o, id, o->arg, (int64_t)rep_u64(r, 2), rep_u64(r, 1)) < 0) {
		finish(o, -EAGAIN);
		return;
	}
	finish(o, 0);
}

int
cf_auth_bump_gen(struct cf_auth *a, const char *name, cf_auth_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_BUMP, name, cb, ud, tag);
	struct acct *e;
	char k[512];
	const char *args[1] = {k};

	if (!o)
		return -ENOMEM;
	if (a->redis) {
		if (rkey(k, sizeof(k), a, "acct:", name) < 0)
			finish(o, -ENOENT);
		else
			eval(o, on_bump, bump_lua, 1, 1, args);
		return 0;
	}
	e = find_name(a, name);
	if (!e) {
		finish(o, -ENOENT);
		return 0;
	}
	e->rec.pub.gen++;
	if (mem_persist(a) < 0) {
		e->rec.pub.gen--;
		finish(o, -EIO);
		return 0;
	}
	if (set_acct(o, e->rec.pub.id, e->rec.pub.name, e->rec.pub.created, e->rec.pub.gen) < 0)
		finish(o, -ENOMEM);
	else
		finish(o, 0);
	return 0;
}

/* -- list -- */

static void
on_list(void *privdata, redisReply *rep)
{
	struct op *o = privdata;
	const redisReply *r = reply_ok(rep);
	size_t n;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 4) {
		finish(o, -EAGAIN);
		return;
	}
	n = r->elements / 4;
	o->accts = calloc(n + 1, sizeof(*o->accts));
	if (!o->accts) {
		finish(o, -ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name, *id;

		if (rep_str(r, 4 * i, &name) < 0 || rep_str(r, 4 * i + 1, &id) < 0 ||
		    strlen(id) != CF_AUTH_ID_LEN || !(o->accts[o->nlist].name = strdup(name))) {
			finish(o, -EAGAIN);
			return;
		}
		memcpy(o->accts[o->nlist].id, id, CF_AUTH_ID_LEN + 1);
		o->accts[o->nlist].gen = rep_u64(r, 4 * i + 2);
		o->accts[o->nlist].created = (int64_t)rep_u64(r, 4 * i + 3);
		o->nlist++;
	}
	finish(o, 0);
}

int
cf_auth_list(struct cf_auth *a, cf_auth_list_cb *cb, void *ud, int64_t tag)
{
	struct op *o = op_new(a, OP_LIST, NULL, NULL, ud, tag);

	if (!o)
		return -ENOMEM;
	o->lcb = cb;
	if (a->redis) {
		char k[256], max[24];
		const char *args[3] = {k, a->cfg->redis_prefix, max};

		rkey(k, sizeof(k), a, "accts", "");
		snprintf(max, sizeof(max), "%d", a->cfg->auth_max_accounts);
		eval(o, on_list, list_lua, 1, 3, args);
		return 0;
	}
	o->accts = calloc(a->n + 1, sizeof(*o->accts));
	if (!o->accts) {
		finish(o, -ENOMEM);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		o->accts[i] = a->order[i]->rec.pub;
		o->accts[i].name = strdup(a->order[i]->rec.pub.name);
		if (!o->accts[i].name) {
			finish(o, -ENOMEM);
			return 0;
		}
		o->nlist++;
	}
	finish(o, 0);
	return 0;
}

void
cf_auth_cancel(struct cf_auth *a, void *ud)
{
	if (!a)
		return;
	lws_start_foreach_dll (struct lws_dll2 *, d, a->ops.head) {
		struct op *o = lws_container_of(d, struct op, list);

		if (o->ud == ud) {
			o->cb = NULL;
			o->lcb = NULL;
		}
	}
	lws_end_foreach_dll(d);
}

/* ---- rate limits -------------------------------------------------------------------------- */

/* Per minute: the bucket's clock runs 60 times slower, so its rate is per minute. */
static uint64_t
minute_clock(void)
{
	return cf_now_us() / 60;
}

static void
limits_sweep(struct cf_auth *a, uint64_t now)
{
	struct limit *l, *tmp;

	/* A bucket that has refilled completely is the same as none. */
	HASH_ITER(hh, a->limits, l, tmp)
	{
		if (l->b.tokens + (double)(now - l->b.last_us) * l->rate / 1e6 >= l->rate) {
			HASH_DEL(a->limits, l);
			free(l);
			a->nlimits--;
		}
	}
}

static struct limit *
limit_get(struct cf_auth *a, char kind, const char *what, int burst, uint64_t now)
{
	size_t n = strlen(what) + 2;
	char *key = malloc(n + 1);
	struct limit *l;

	if (!key)
		return NULL;
	snprintf(key, n + 1, "%c:%s", kind, what);
	HASH_FIND_STR(a->limits, key, l);
	if (!l) {
		if (a->nlimits >= LIMITS_MAX)
			limits_sweep(a, now);
		if (a->nlimits >= LIMITS_MAX || !(l = malloc(sizeof(*l) + n + 1))) {
			free(key);
			return NULL;
		}
		memcpy(l->key, key, n + 1);
		l->rate = burst;
		cf_bucket_init(&l->b, burst, now);
		HASH_ADD_STR(a->limits, key, l);
		a->nlimits++;
	}
	free(key);
	return l;
}

int
cf_auth_attempt(struct cf_auth *a, const char *ip, const char *name)
{
	const struct cf_config *cfg = a->cfg;
	uint64_t now = minute_clock();
	struct limit *li = limit_get(a, 'i', ip, cfg->auth_attempts_ip, now);
	struct limit *ln = NULL;
	char *pair = NULL;

	/* The name's bucket is per address: an attacker who exhausts it locks out only
	 * itself, never the owner logging in from elsewhere (the slow-down in cf_auth_verify()
	 * is what bounds guessing from many addresses). */
	if (name && asprintf(&pair, "%s %s", ip, name) < 0)
		return -EAGAIN;
	if (pair)
		ln = limit_get(a, 'p', pair, cfg->auth_attempts_name, now);
	free(pair);
	if (!li || (name && !ln))
		return -EAGAIN;
	/* Both are charged: an attacker spreading over names still pays per address. */
	if (!cf_bucket_take(&li->b, cfg->auth_attempts_ip, cfg->auth_attempts_ip, now))
		return -EAGAIN;
	if (ln && !cf_bucket_take(&ln->b, cfg->auth_attempts_name, cfg->auth_attempts_name, now))
		return -EAGAIN;
	return 0;
}

/* A failed login for name (wrong password, or no such account): one token of its slow-down
 * bucket. */
static void
name_failed(struct cf_auth *a, const char *name)
{
	uint64_t now = minute_clock();
	struct limit *l = limit_get(a, 'n', name, a->cfg->auth_failures_name, now);

	if (l)
		(void)cf_bucket_take(&l->b, a->cfg->auth_failures_name, a->cfg->auth_failures_name,
		                     now);
}

/* Whether name's slow-down bucket is empty (it is not charged here: only failures are). */
static int
name_slowed(struct cf_auth *a, const char *name)
{
	uint64_t now = minute_clock();
	int rate = a->cfg->auth_failures_name;
	struct limit *l;
	size_t n = strlen(name) + 3;
	char *key = malloc(n);
	double tokens;

	if (!key)
		return 0;
	snprintf(key, n, "n:%s", name);
	HASH_FIND_STR(a->limits, key, l);
	free(key);
	if (!l)
		return 0;
	tokens = l->b.tokens + (double)(now > l->b.last_us ? now - l->b.last_us : 0) * rate / 1e6;
	return tokens < 1.0;
}

int
cf_auth_derive(const struct cf_auth *a, const char *label, const char *data, char *out,
               size_t outlen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg;
	int n;

	if (!a->keylen)
		return -EAGAIN;
	/* "derive:" keeps these inputs apart from token payloads ("1:..."). */
	n = asprintf(&msg, "derive:%s%c%s", label, '\0', data);
	if (n < 0)
		return -ENOMEM;
	if (!HMAC(EVP_sha256(), a->key, (int)a->keylen, (const unsigned char *)msg, (size_t)n, mac,
	          &maclen)) {
		free(msg);
		return -EINVAL;
	}
	free(msg);
	return b64_enc(mac, maclen, out, outlen) ? 0 : -EINVAL;
}

int
cf_auth_password_ok(const struct cf_auth *a, size_t len)
{
	return len >= (size_t)a->cfg->auth_password_min && len <= (size_t)a->cfg->auth_password_max
	               ? 0
	               : -EINVAL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct cf_auth *
cf_auth_new(struct lws_context *ctx, struct lws_vhost *vh, const struct cf_config *cfg,
            struct cf_redis *redis, char *err, size_t errlen)
{
	struct cf_auth *a = calloc(1, sizeof(*a));
	lws_sock_file_fd_type u;
	int r;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->ctx = ctx;
	a->cfg = cfg;
	a->redis = redis;
	a->efd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (!redis && !cf_state_ready()) {
		snprintf(err, errlen, "auth: the state directory is not open");
		goto fail;
	}
	if (load_key(a, err, errlen) < 0)
		goto fail;
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, a->dummy, sizeof(a->dummy))) {
		snprintf(err, errlen, "auth: libcrypt cannot make a yescrypt setting");
		goto fail;
	}
	if (!redis && mem_load(a, err, errlen) < 0)
		goto fail;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->efd < 0) {
		snprintf(err, errlen, "auth: eventfd: %s", strerror(errno));
		goto fail;
	}
	u.filefd = a->efd;
	a->ewsi =
	        lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, CF_AUTH_PROTOCOL, NULL);
	if (!a->ewsi) {
		snprintf(err, errlen, "auth: lws could not adopt the eventfd");
		goto fail; /* lws closed it */
	}
	lws_set_opaque_user_data(a->ewsi, a);
	r = pthread_create(&a->thread, NULL, worker, a);
	if (r) {
		snprintf(err, errlen, "auth: cannot start the hashing thread: %s", strerror(r));
		goto fail;
	}
	a->thread_started = 1;
	if (!redis)
		log_info("auth: %zu accounts loaded from %s/%s", a->n, cfg->state_dir,
		         ACCOUNTS_FILE);
	return a;
fail:
	if (a->ewsi) {
		lws_set_opaque_user_data(a->ewsi, NULL);
		lws_set_timeout(a->ewsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		a->efd = -1;
	}
	cf_auth_free(a);
	return NULL;
}

void
cf_auth_stop(struct cf_auth *a)
{
	if (!a || a->stopped)
		return;
	if (a->thread_started) {
		pthread_mutex_lock(&a->mu);
		a->quit = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
		a->thread_started = 0;
	}
	/* Logins held by the slow-down: their timers go with the context. */
	lws_start_foreach_dll (struct lws_dll2 *, d, a->ops.head) {
		struct op *o = lws_container_of(d, struct op, list);

		if (o->delayed) {
			lws_sul_cancel(&o->sul_delay);
			o->delayed = 0;
		}
	}
	lws_end_foreach_dll(d);
	a->stopped = 1;
	lws_sul_cancel(&a->sul_done);
}

void
cf_auth_free(struct cf_auth *a)
{
	struct acct *e, *tmp;
	struct limit *l, *ltmp;

	if (!a)
		return;
	cf_auth_stop(a);
	/* Queued, running or done jobs: their owners are gone with the context. */
	while (a->ops.head)
		op_free(lws_container_of(a->ops.head, struct op, list));
	HASH_ITER(hh_name, a->by_name, e, tmp)
	{
		HASH_DELETE(hh_name, a->by_name, e);
		HASH_DELETE(hh_id, a->by_id, e);
		free(e->rec.pub.name);
		if (e->rec.hash)
			explicit_bzero(e->rec.hash, strlen(e->rec.hash));
		free(e->rec.hash);
		free(e);
	}
	HASH_ITER(hh, a->limits, l, ltmp)
	{
		HASH_DEL(a->limits, l);
		free(l);
	}
	free(a->order);
	if (a->efd >= 0 && !a->ewsi)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	explicit_bzero(a->key, sizeof(a->key));
	free(a);
}
