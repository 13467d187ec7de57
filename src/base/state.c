/* SPDX-License-Identifier: MIT */
/* state.c - the standalone state directory (see state.h). Files are small and replaced whole;
 * the directory is opened once so every later operation is relative to it (openat/renameat)
 * and a rename cannot land elsewhere if the path is swapped meanwhile. */
#include "base/state.h"
#include "base/log.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
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

static void
user_name(uid_t uid, char *buf, size_t len)
{
	/* Called at startup only, before any other thread: getpwuid()'s static buffer is ours. */
	const struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
}

/* "WHAT: why (running as U, OWNER): fix": an error an administrator can act on, for a path
 * confabd cannot read or write as the user it runs as. Most often a confabd run once as root
 * left it there; the fix makes the whole directory the service user's again. */
static void
access_error(char *err, size_t errlen, const char *what, const char *dir, const char *path,
             const struct stat *sb, int r)
{
	uid_t me = geteuid();
	char user[64], owner[64];

	user_name(me, user, sizeof(user));
	if (r != -EACCES && r != -EPERM)
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
	else if (sb->st_uid == me)
		snprintf(err, errlen,
		         "%s: %s (running as %s, the %s's owner, mode %04o): chmod u+rw%s %s", what,
		         strerror(-r), user, S_ISDIR(sb->st_mode) ? "directory" : "file",
		         (unsigned)(sb->st_mode & 07777), S_ISDIR(sb->st_mode) ? "x" : "", path);
	else {
		user_name(sb->st_uid, owner, sizeof(owner));
		snprintf(err, errlen, "%s: %s (running as %s, %s owned by %s): chown -R %s: %s",
		         what, strerror(-r), user, S_ISDIR(sb->st_mode) ? "directory" : "file",
		         owner, user, dir);
	}
}

/* Every file in the directory must be readable and writable by confabd: it reads each one it
 * knows at startup and replaces it through a temporary file it opens for writing. One it cannot
 * use would fail later, mid-service (a login, a kept message), or be generated anew (a signing
 * key, invalidating every token): refuse to start instead, naming it. */
static int
check_files(int dirfd, const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "state.dir %s: %s", dir, strerror(-r));
		return r;
	}
	while (!r && (de = readdir(d))) {
		char path[PATH_MAX + NAME_MAX + 2];
		struct stat sb;

		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (faccessat(dirfd, de->d_name, R_OK | W_OK, AT_EACCESS) == 0)
			continue;
		r = -errno;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		access_error(err, errlen, path, dir, path, &sb, r);
	}
	closedir(d);
	return r;
}

int
cf_state_open(const char *dir, char *err, size_t errlen)
{
	struct stat sb;
	char what[PATH_MAX + 64];
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
	if (faccessat(fd, ".", R_OK | W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		snprintf(what, sizeof(what), "state.dir %s: not writable by confabd", dir);
		if (fstat(fd, &sb) == 0)
			access_error(err, errlen, what, dir, dir, &sb, r);
		else
			snprintf(err, errlen, "%s: %s", what, strerror(-r));
		close(fd);
		return r;
	}
	r = check_files(fd, dir, err, errlen);
	if (r < 0) {
		close(fd);
		return r;
	}
	/* What root writes here stays root's: the service user could not read it next time. */
	if (geteuid() == 0 && fstat(fd, &sb) == 0 && sb.st_uid != 0) {
		char owner[64];

		user_name(sb.st_uid, owner, sizeof(owner));
		log_warn("state.dir %s belongs to %s but confabd runs as root: the files it "
		         "writes there will be root's (run it as %s)",
		         dir, owner, owner);
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
