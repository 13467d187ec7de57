/* SPDX-License-Identifier: MIT */
/* tls.c - direct TLS on confab's own listeners.
 *
 * lws builds each vhost's SSL_CTX from the file paths in its creation info; this file checks the
 * files first (so a bad pair is a clear start-up or reload error, not a vhost that will not come
 * up), tightens each SSL_CTX as lws creates it (TLS 1.2 at least) and, on SIGHUP, loads the
 * renewed certificate into the live contexts. lws 4.1's own lws_tls_cert_updated() only
 * matches the paths the vhost started with and reports no failure, so the reload is done here
 * with two OpenSSL calls per context. */
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* The vhosts' contexts, owned by lws. */
static SSL_CTX **ctxs;
static size_t nctxs;

/* The newest OpenSSL error of this thread, in words, after what. */
static int
ssl_fail(const char *what, const char *path, char *err, size_t errlen)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s %s: %s", what, path,
	         e ? (ERR_reason_error_string(e) ? ERR_reason_error_string(e) : buf)
	           : "not usable");
	ERR_clear_error();
	return -EINVAL;
}

static int
load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return ssl_fail("tls.cert", cert, err, errlen);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return ssl_fail("tls.key", key, err, errlen);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ssl_fail("tls.key does not match the certificate of tls.cert", cert, err,
		                errlen);
	return 0;
}

int
cf_tls_check(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int r;

	if (!ctx) {
		snprintf(err, errlen, "tls: cannot create an OpenSSL context");
		return -ENOMEM;
	}
	r = load_pair(ctx, cert, key, err, errlen);
	if (r == 0 && ca && *ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);

		if (!names)
			r = ssl_fail("tls.client_ca", ca, err, errlen);
		sk_X509_NAME_pop_free(names, X509_NAME_free);
	}
	SSL_CTX_free(ctx);
	return r;
}

int
cf_tls_adopt_ctx(void *ssl_ctx)
{
	SSL_CTX **n = realloc(ctxs, (nctxs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	ctxs = n;
	ctxs[nctxs++] = ssl_ctx;
	/* lws 4.1 only turns off SSLv2/3; TLS 1.0 and 1.1 are deprecated (RFC 8996). */
	if (SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1)
		return -EINVAL;
	return 0;
}

int
cf_tls_verify_client(int preverify_ok)
{
	/* lws turns this callback's 0 into "accept" whatever OpenSSL found, so OpenSSL's verdict
	 * has to be passed on: without this any client certificate would do. */
	return preverify_ok ? 0 : 1;
}

size_t
cf_tls_listeners(void)
{
	return nctxs;
}

int
cf_tls_reload(const char *cert, const char *key, char *err, size_t errlen)
{
	for (size_t i = 0; i < nctxs; i++) {
		int r = load_pair(ctxs[i], cert, key, err, errlen);

		if (r < 0)
			return r;
	}
	return 0;
}

void
cf_tls_forget(void)
{
	free(ctxs);
	ctxs = NULL;
	nctxs = 0;
}
