/* SPDX-License-Identifier: MIT */
/* tls.h - direct TLS on confab's own listeners (tls.cert, tls.key, tls.client_ca). */
#pragma once

#include <stddef.h>

/* Loads cert (a PEM chain) and key into a scratch context and checks that they match, and that
 * ca (may be NULL or "") loads. For --check-config, start-up and every reload, so that a bad
 * pair is refused before it reaches a listener. Returns 0 or a negative errno, reason in err. */
int cf_tls_check(const char *cert, const char *key, const char *ca, char *err, size_t errlen);

/* lws hands each TLS vhost's SSL_CTX (an SSL_CTX *) here as it creates it
 * (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS). lws owns it; tls.c keeps the pointer
 * until cf_tls_forget(). Returns 0 or a negative errno. */
int cf_tls_adopt_ctx(void *ssl_ctx);

/* Client certificate verdict for LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
 * the callback's return value, 0 to accept. */
int cf_tls_verify_client(int preverify_ok);

/* How many listener contexts serve TLS. */
size_t cf_tls_listeners(void);

/* Loads cert and key again into every listener's SSL_CTX: new handshakes present them, open
 * connections keep what they negotiated. Call after cf_tls_check() accepted the pair. */
int cf_tls_reload(const char *cert, const char *key, char *err, size_t errlen);

/* Drops the context pointers (lws frees the contexts with the vhosts). */
void cf_tls_forget(void);
