/* SPDX-License-Identifier: MIT */
/* pwhash.c - yescrypt hashes through libcrypt, and the hashing thread (see pwhash.h).
 *
 * The thread is the one exception to "one loop, no threads" (docs/architecture.md): yescrypt
 * at libcrypt's default cost takes about 60 ms here, so one login on the loop would stall
 * every chat for that long, and a handful per second would stall it for good. The thread only
 * runs crypt_rn() on a job's own buffers; the queue and the completion list are under one
 * mutex; completions wake the loop through an eventfd adopted into lws as a raw file. */
#define _GNU_SOURCE /* explicit_bzero */
#include "auth/pwhash.h"
#include "base/log.h"
#include "base/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <openssl/crypto.h>

struct cf_pwhash {
	/* A yescrypt setting: a login for a name without an account is checked against it. */
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];
	pthread_t thread;
	int started;
	int stopped;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lws_dll2_owner wq, wdone; /* under mu */
	int quit;                        /* under mu */
	uint32_t njobs;                  /* queued or running; loop side */
	int efd;
	struct lws *ewsi;
};

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
cf_pwhash_hash(const char *pw, size_t pwlen, char *out, size_t outlen)
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
cf_pwhash_check(const char *hash, const char *pw, size_t pwlen)
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

static void *
worker(void *arg)
{
	struct cf_pwhash *p = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct cf_pwhash_job *j;

		while (!p->quit && !p->wq.head)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->quit)
			break;
		j = lws_container_of(p->wq.head, struct cf_pwhash_job, list);
		lws_dll2_remove(&j->list);
		pthread_mutex_unlock(&p->mu);
		/* Only this job's own buffers: the loop does not touch them meanwhile. */
		if (j->check)
			j->err = cf_pwhash_check(j->hash, j->pw, j->pwlen);
		else
			j->err = cf_pwhash_hash(j->pw, j->pwlen, j->hash, sizeof(j->hash));
		pthread_mutex_lock(&p->mu);
		lws_dll2_add_tail(&j->list, &p->wdone);
		if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("auth: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
cf_pwhash_submit(struct cf_pwhash *p, struct cf_pwhash_job *j, uint32_t max)
{
	if (p->stopped || !p->started)
		return -ECANCELED;
	if (p->njobs >= max)
		return -EBUSY;
	p->njobs++;
	pthread_mutex_lock(&p->mu);
	lws_dll2_add_tail(&j->list, &p->wq);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

const char *
cf_pwhash_dummy(const struct cf_pwhash *p)
{
	return p->dummy;
}

static void
drain(struct cf_pwhash *p)
{
	struct lws_dll2_owner got = {0};
	uint64_t v;

	if (read(p->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("auth: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&p->mu);
	while (p->wdone.head) {
		struct lws_dll2 *d = p->wdone.head;

		lws_dll2_remove(d);
		lws_dll2_add_tail(d, &got);
	}
	pthread_mutex_unlock(&p->mu);
	while (got.head) {
		struct cf_pwhash_job *j = lws_container_of(got.head, struct cf_pwhash_job, list);

		lws_dll2_remove(&j->list);
		p->njobs--;
		cf_metrics.auth_hashes_total++;
		j->done(j);
	}
}

int
cf_pwhash_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
	struct cf_pwhash *p = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (p)
			drain(p);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (p) {
			/* lws closes the fd (context destroyed): the thread is joined by then. */
			p->ewsi = NULL;
			p->efd = -1;
			lws_set_opaque_user_data(wsi, NULL);
		}
		return 0;
	default:
		return 0;
	}
}

struct cf_pwhash *
cf_pwhash_new(struct lws_vhost *vh, const char *protocol, char *err, size_t errlen)
{
	struct cf_pwhash *p = calloc(1, sizeof(*p));
	lws_sock_file_fd_type u;
	int r;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->efd = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, p->dummy, sizeof(p->dummy))) {
		snprintf(err, errlen, "auth: libcrypt cannot make a yescrypt setting");
		goto fail;
	}
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		snprintf(err, errlen, "auth: eventfd: %s", strerror(errno));
		goto fail;
	}
	u.filefd = p->efd;
	p->ewsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, protocol, NULL);
	if (!p->ewsi) {
		snprintf(err, errlen, "auth: lws could not adopt the eventfd");
		goto fail; /* lws closed it */
	}
	lws_set_opaque_user_data(p->ewsi, p);
	r = pthread_create(&p->thread, NULL, worker, p);
	if (r) {
		snprintf(err, errlen, "auth: cannot start the hashing thread: %s", strerror(r));
		goto fail;
	}
	p->started = 1;
	return p;
fail:
	if (p->ewsi) {
		lws_set_opaque_user_data(p->ewsi, NULL);
		lws_set_timeout(p->ewsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
		p->efd = -1;
	}
	cf_pwhash_free(p);
	return NULL;
}

void
cf_pwhash_stop(struct cf_pwhash *p)
{
	if (!p || p->stopped)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->quit = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		p->started = 0;
	}
	p->stopped = 1;
}

void
cf_pwhash_free(struct cf_pwhash *p)
{
	if (!p)
		return;
	cf_pwhash_stop(p);
	if (p->efd >= 0 && !p->ewsi)
		close(p->efd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
