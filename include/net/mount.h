/* SPDX-License-Identifier: MIT */
/* mount.h - what one listener serves: the options of a server.listen entry ("ADDR
 * [dialects=NAME,...] [www=DIR] [deflate=on|off]"), the dialect table (dialects.def) by name
 * and id, and the check that nothing on one listener claims a path twice. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct cf_config;
struct cf_dialect;

#define CF_MOUNT_BIT(id) (1u << (unsigned)(id))

struct cf_listen_spec {
	char addr[256];            /* host:port, [v6]:port, :port, unix:/path or systemd:NAME */
	uint32_t dialects;         /* CF_MOUNT_BIT(id) of each mounted dialect */
	unsigned dialects_set : 1; /* dialects= was given (else: the default set) */
	unsigned www_set : 1;      /* www= was given (www may be empty: no static files) */
	unsigned deflate_set : 1;  /* deflate= was given */
	/* deflate=on: its sessions may negotiate permessage-deflate (net/deflate.c); off without
	 * it */
	unsigned deflate : 1;
	char www[1024];
};

/* Splits a server.listen entry into its address and options. Syntax only: an unknown option
 * or dialect name, a repeated option or a missing value is an error (-EINVAL, why in err). */
int cf_mount_parse(const char *entry, struct cf_listen_spec *out, char *err, size_t errlen);

/* What spec mounts and serves at / (server.www_dir is www_dir): the dialects (the default set
 * without dialects=), and the static directory ("" for none). */
uint32_t cf_mount_dialects(const struct cf_listen_spec *spec);
const char *cf_mount_www(const struct cf_listen_spec *spec, const char *www_dir);

/* Whether spec can be served: no path is claimed twice
 * (by two dialects, a dialect and the static directory at /, or a dialect and /healthz).
 * -EINVAL with the reason in err. */
int cf_mount_check(const struct cf_listen_spec *spec, const char *www_dir, char *err,
                   size_t errlen);

/* The built dialects in table order, which is the order the transport asks them in: i from 0,
 * NULL past the last. */
const struct cf_dialect *cf_mount_at(size_t i);
/* The name of dialect id in dialects= ("native", "texto", ...); NULL for none. */
const char *cf_mount_name(int id);
/* Dialect id of a name in dialects=, or -ENOENT. */
int cf_mount_id(const char *name);
/* Whether the [dialects] switch of dialect id is on (native has none: always). */
int cf_mount_enabled(const struct cf_config *cfg, int id);

/* Whether every server.listen entry of c can be served (cf_mount_parse(), cf_mount_check()):
 * the part of the configuration's validation that knows the dialects, after
 * cf_config_validate(). 0, or -EINVAL with the entry and the reason in err. */
int cf_mount_validate(const struct cf_config *c, char *err, size_t errlen);
