/* SPDX-License-Identifier: MIT */
/* state.c - the standalone state directory (see state.h). Files are small and replaced whole;
 * the directory is opened once so every later operation is relative to it (openat/renameat)
 * and a rename cannot land elsewhere if the path is swapped meanwhile. */
#include "confab/state.h"
#include "confab/log.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
	int dirfd;
	char path[PATH_MAX];
} st = {.dirfd = -1};

static int
mkdir_parents(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
cf_state_open(const char *dir, char *err, size_t errlen)
{
	int r, fd;

	cf_state_close();
	if (dir[0] != '/') {
		snprintf(err, errlen, "state.dir '%s': must be an absolute path", dir);
		return -EINVAL;
	}
	r = mkdir_parents(dir);
	if (r < 0) {
		snprintf(err, errlen, "state.dir %s: cannot create it: %s", dir, strerror(-r));
		return r;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "state.dir %s: %s", dir, strerror(-r));
		return r;
	}
	if (faccessat(fd, ".", W_OK, AT_EACCESS) < 0) {
		r = -errno;
		snprintf(err, errlen, "state.dir %s: not writable by confabd: %s", dir,
		         strerror(-r));
		close(fd);
		return r;
	}
	st.dirfd = fd;
	snprintf(st.path, sizeof(st.path), "%s", dir);
	return 0;
}

void
cf_state_close(void)
{
	if (st.dirfd >= 0)
		close(st.dirfd);
	st.dirfd = -1;
}

int
cf_state_ready(void)
{
	return st.dirfd >= 0;
}

static int
valid_name(const char *name)
{
	return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < NAME_MAX - 8;
}

int
cf_state_read(const char *name, char **buf, size_t *len)
{
	struct stat sb;
	char *b;
	size_t got = 0;
	int fd, r;

	*buf = NULL;
	*len = 0;
	if (st.dirfd < 0 || !valid_name(name))
		return -EINVAL;
	fd = openat(st.dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	b = malloc((size_t)sb.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, b + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			free(b);
			close(fd);
			log_error("state: reading %s/%s: %s", st.path, name, strerror(-r));
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

static int
write_mode(const char *name, const void *buf, size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	const char *p = buf;
	int fd, r = 0;

	if (st.dirfd < 0 || !valid_name(name))
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(st.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	/* A temporary file left by a crash keeps its old mode through O_TRUNC. */
	if (fchmod(fd, mode) < 0)
		r = -errno;
	while (r == 0 && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(st.dirfd, tmp, st.dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(st.dirfd, tmp, 0);
		goto fail;
	}
	if (fsync(st.dirfd) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	log_error("state: writing %s/%s: %s", st.path, name, strerror(-r));
	return r;
}

int
cf_state_write(const char *name, const void *buf, size_t len)
{
	return write_mode(name, buf, len, 0640);
}

int
cf_state_write_private(const char *name, const void *buf, size_t len)
{
	return write_mode(name, buf, len, 0600);
}

int
cf_state_remove(const char *name)
{
	int r;

	if (st.dirfd < 0 || !valid_name(name))
		return -EINVAL;
	if (unlinkat(st.dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		log_error("state: removing %s/%s: %s", st.path, name, strerror(-r));
		return r;
	}
	if (fsync(st.dirfd) < 0) {
		r = -errno;
		log_error("state: %s: %s", st.path, strerror(-r));
		return r;
	}
	return 0;
}

int
cf_state_list(const char *prefix, int (*cb)(const char *name, void *ud), void *ud)
{
	size_t pl = strlen(prefix);
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (st.dirfd < 0)
		return -EINVAL;
	fd = openat(st.dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while (!r && (de = readdir(d)))
		if (!strncmp(de->d_name, prefix, pl) && valid_name(de->d_name))
			r = cb(de->d_name, ud);
	closedir(d);
	return r;
}
