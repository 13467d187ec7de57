/* SPDX-License-Identifier: MIT */
/* pwhash.h - yescrypt password hashes (libcrypt), and the one thread that makes and checks them
 * off the event loop. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <crypt.h>
#include <libwebsockets.h>

/* A job: hash pw into hash (check 0), or check pw against hash (check 1). The owner keeps it
 * and its pw until done runs; between submit and done the thread may touch pw and hash, and
 * nothing else may. */
struct cf_pwhash_job {
	struct lws_dll2 list; /* on the queue or the done list, under the thread's mutex */
	int check;
	const char *pw; /* pwlen bytes, no NUL inside */
	size_t pwlen;
	char hash[CRYPT_OUTPUT_SIZE]; /* the hash made, or the one to check against */
	int err;                      /* as cf_pwhash_hash() / cf_pwhash_check() answered */
	void (*done)(struct cf_pwhash_job *j); /* from the loop */
};

struct cf_pwhash;

/* Starts the thread. Its completions wake the loop through an eventfd adopted into vh as a raw
 * file of the lws protocol named protocol, whose callback calls cf_pwhash_lws_callback(). NULL
 * with the reason in err. */
struct cf_pwhash *cf_pwhash_new(struct lws_vhost *vh, const char *protocol, char *err,
                                size_t errlen);
/* Queues j unless max jobs are queued or running: 0, -EBUSY, or -ECANCELED (stopped). */
int cf_pwhash_submit(struct cf_pwhash *p, struct cf_pwhash_job *j, uint32_t max);
/* A yescrypt setting made at start (a salt at libcrypt's default cost, no hash): checked
 * against, any password costs what a real check costs and fails. */
const char *cf_pwhash_dummy(const struct cf_pwhash *p);
/* Before the lws context is destroyed: joins the thread. Jobs still queued never reach done;
 * their owners free them. NULL-safe, and so is free. */
void cf_pwhash_stop(struct cf_pwhash *p);
void cf_pwhash_free(struct cf_pwhash *p);
int cf_pwhash_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len);

/* The building blocks, blocking (the thread and the unit tests use them). */

/* A yescrypt hash of pw (a fresh salt, libcrypt's default cost) into out. 0, -EINVAL, -EIO. */
int cf_pwhash_hash(const char *pw, size_t pwlen, char *out, size_t outlen);
/* 0 when pw matches hash (compared in constant time), -EACCES when not, -EINVAL when hash
 * is not one. */
int cf_pwhash_check(const char *hash, const char *pw, size_t pwlen);
