/* SPDX-License-Identifier: MIT */
/* redis_lws.c - the adapter that runs hiredis async contexts on the lws loop.
 *
 * Each context's socket is adopted into lws as a raw file. hiredis asks for write readiness
 * (addWrite -> lws_callback_on_writable) and lws reports readiness (RAW_RX_FILE ->
 * redisAsyncHandleRead, RAW_WRITEABLE_FILE -> redisAsyncHandleWrite). The fd has one owner,
 * lws: hiredis's cleanup hook sets c.fd = -1 so redisFree() leaves it alone, and asks lws to
 * close the wsi. Reads need no registration: a raw file is always polled for input. */
#include "bus/redis/redis.h"
#include "bus/redis/redis_lws_int.h"

#include <errno.h>
#include <stdlib.h>

/* Ties one hiredis context to its lws wsi (ac->ev.data and the wsi's opaque pointer). It
 * lives exactly as long as the context: hiredis's cleanup hook frees it. */
struct adapter {
	redisAsyncContext *ac;
	struct lws *wsi; /* NULL once lws closed it */
	void (*on_closed)(redisAsyncContext *ac);
};

static void
ev_add_write(void *data)
{
	struct adapter *ad = data;

	if (ad->wsi)
		lws_callback_on_writable(ad->wsi);
}

static void
ev_nop(void *data)
{
	(void)data;
}

static void
ev_cleanup(void *data)
{
	struct adapter *ad = data;

	/* hiredis is freeing the context: lws owns the fd and closes it with the wsi. */
	ad->ac->c.fd = -1;
	if (ad->wsi) {
		lws_set_opaque_user_data(ad->wsi, NULL);
		lws_set_timeout(ad->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	}
	free(ad);
}

int
cf_redis_lws_attach(struct lws_vhost *vh, redisAsyncContext *ac,
                    void (*on_closed)(redisAsyncContext *ac))
{
	struct adapter *ad = calloc(1, sizeof(*ad));
	lws_sock_file_fd_type fd;

	fd.filefd = ac->c.fd;
	if (ad)
		ad->wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd,
		                                     CF_REDIS_PROTOCOL, NULL);
	if (!ad || !ad->wsi) {
		free(ad);
		return -ENOMEM;
	}
	ad->ac = ac;
	ad->on_closed = on_closed;
	lws_set_opaque_user_data(ad->wsi, ad);
	ac->ev.data = ad;
	ac->ev.addRead = ev_nop;
	ac->ev.delRead = ev_nop;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_nop;
	ac->ev.cleanup = ev_cleanup;
	return 0;
}

int
cf_redis_lws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
	struct adapter *ad = lws_get_opaque_user_data(wsi);

	(void)user;
	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!ad)
			return -1;
		redisAsyncHandleRead(ad->ac);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (!ad)
			return -1;
		redisAsyncHandleWrite(ad->ac);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (ad) {
			/* lws closed it: the fd is gone. */
			ad->wsi = NULL;
			lws_set_opaque_user_data(wsi, NULL);
			ad->ac->c.fd = -1;
			ad->on_closed(ad->ac);
		}
		return 0;
	default:
		return 0;
	}
}
