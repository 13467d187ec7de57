/* SPDX-License-Identifier: MIT */
/* state.h - the directory where a standalone confabd keeps what must outlive the process
 * (accounts, offline inboxes): `[state] dir`, /var/lib/confab by default, which systemd's
 * StateDirectory= creates. In cluster mode that state lives in Redis and the directory is not
 * used. One per process. */
#pragma once

#include <stddef.h>

/* Creates dir (0750, parents included) if missing and checks that confabd can write there and
 * read and write every file in it. 0 or a negative errno; err says which path and why and, for
 * a permission, the user confabd runs as, the owner and the command that fixes it. */
int cf_state_open(const char *dir, char *err, size_t errlen);
void cf_state_close(void);
/* 1 once cf_state_open() succeeded. */
int cf_state_ready(void);

/* Reads the whole file `name` (a plain file name, no '/') into a NUL-terminated buffer the
 * caller frees. -ENOENT when there is none. */
int cf_state_read(const char *name, char **buf, size_t *len);
/* Replaces `name` with buf: written to a temporary file, fsync'ed, renamed over the old one,
 * and the directory fsync'ed, so a crash leaves the old content or the new, never a mix.
 * Blocks for the fsyncs: callers batch their writes (a dirty flag and a timer). */
int cf_state_write(const char *name, const void *buf, size_t len);
/* The same, for secrets (keys, password hashes): the file is readable by confabd only (0600). */
int cf_state_write_private(const char *name, const void *buf, size_t len);
/* Removes `name` (none there is not an error) and fsyncs the directory. 0 or a negative errno. */
int cf_state_remove(const char *name);
/* Calls cb(name, ud) for every file whose name starts with prefix, in no particular order,
 * until cb returns non-zero (returned). 0, or a negative errno when the directory cannot be
 * read. */
int cf_state_list(const char *prefix, int (*cb)(const char *name, void *ud), void *ud);
