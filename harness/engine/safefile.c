/*
 * safefile.c - output directories and files that another user's planted link
 * or directory cannot redirect (see safefile.h). Uses mkdirat, openat
 * (O_NOFOLLOW, O_EXCL, O_DIRECTORY), fstat, renameat, unlinkat and getrandom(2).
 * Leaves out: the directories above the last component (the caller names
 * them; a parent another user may rename is not detected), and fsync (an
 * output lost in a crash is rewritten by running again).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/safefile.h"

static int safefile_err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Formats one sentence into err (when given); returns rc. */
static int safefile_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Why st is not the caller's to write (dir: to write into): 0 when it is,
 * or -EPERM with the reason. */
static int safefile_owned(const struct stat *st, int dir, char *err, size_t errlen)
{
	if (st->st_uid != geteuid())
		return safefile_err(err, errlen, -EPERM,
				    "it belongs to uid %u, not to this user (uid %u)",
				    (unsigned)st->st_uid, (unsigned)geteuid());
	if (dir && (st->st_mode & (S_IWGRP | S_IWOTH)))
		return safefile_err(err, errlen, -EPERM,
				    "it is writable by others (mode %04o)",
				    (unsigned)(st->st_mode & 07777));
	return 0;
}

/* The reason for a failed open: the symbolic link, or strerror. */
static int safefile_open_err(int rc, char *err, size_t errlen)
{
	if (rc == -ELOOP)
		return safefile_err(err, errlen, rc,
				    "it is a symbolic link (not followed)");
	return safefile_err(err, errlen, rc, "%s", strerror(-rc));
}

int ipcl_output_dir_openat(int dirfd, const char *name, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (!name || !*name)
		return safefile_err(err, errlen, -EINVAL, "an empty name");
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return safefile_open_err(-errno, err, errlen);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		/* With O_DIRECTORY a link fails as ENOTDIR: name it as a link. */
		if (rc == -ENOTDIR &&
		    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			rc = -ELOOP;
		return safefile_open_err(rc, err, errlen);
	}
	if (fstat(fd, &st) < 0)
		rc = safefile_open_err(-errno, err, errlen);
	else
		rc = safefile_owned(&st, 1, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int ipcl_output_dir_open(const char *path, char *err, size_t errlen)
{
	return ipcl_output_dir_openat(AT_FDCWD, path, err, errlen);
}

int ipcl_output_open_append(const char *path, int *created, char *err, size_t errlen)
{
	const int fl = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
	struct stat st;
	int fd, rc;

	if (created)
		*created = 0;
	fd = open(path, fl | O_CREAT | O_EXCL, 0644);
	if (fd >= 0) {
		if (created)
			*created = 1;
		return fd;
	}
	if (errno != EEXIST)
		return safefile_open_err(-errno, err, errlen);
	/* O_NONBLOCK: a FIFO at the name must not hang the open; it is refused
	 * below as not a regular file. */
	fd = open(path, fl | O_NONBLOCK);
	if (fd < 0 && errno == ENXIO) /* a FIFO without a reader, a socket */
		return safefile_err(err, errlen, -EINVAL, "it is not a regular file");
	if (fd < 0)
		return safefile_open_err(-errno, err, errlen);
	if (fstat(fd, &st) < 0)
		rc = safefile_open_err(-errno, err, errlen);
	else if (S_ISCHR(st.st_mode))
		rc = 0; /* /dev/null, /dev/full: only root makes device nodes */
	else if (!S_ISREG(st.st_mode))
		rc = safefile_err(err, errlen, -EINVAL, "it is not a regular file");
	else if ((rc = safefile_owned(&st, 0, err, errlen)) == 0 && st.st_nlink != 1)
		rc = safefile_err(err, errlen, -EPERM, "it has %lu names (hard links)",
				  (unsigned long)st.st_nlink);
	if (!rc && fcntl(fd, F_SETFL, O_APPEND) < 0) /* back to blocking writes */
		rc = safefile_open_err(-errno, err, errlen);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int ipcl_output_create(struct ipcl_outfile *o, int dirfd, const char *name, char *err,
		       size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	int fd = -1;

	memset(o, 0, sizeof *o);
	o->dirfd = dirfd;
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..") || strlen(name) >= sizeof o->name)
		return safefile_err(err, errlen, -EINVAL, "not a file name");
	snprintf(o->name, sizeof o->name, "%s", name);
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		unsigned char r[6];
		char sfx[sizeof r * 2 + 1];

		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
			return safefile_err(err, errlen, -EIO, "getrandom failed");
		for (size_t i = 0; i < sizeof r; i++) {
			sfx[2 * i] = hex[r[i] >> 4];
			sfx[2 * i + 1] = hex[r[i] & 15];
		}
		sfx[sizeof sfx - 1] = 0;
		snprintf(o->tmp, sizeof o->tmp, ".%.40s-%s", name, sfx);
		fd = openat(dirfd, o->tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			return safefile_open_err(-errno, err, errlen);
	}
	if (fd < 0)
		return safefile_err(err, errlen, -EEXIST,
				    "no free temporary name for '%s'", name);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		int rc = -errno;

		close(fd);
		unlinkat(dirfd, o->tmp, 0);
		return safefile_open_err(rc, err, errlen);
	}
	return 0;
}

int ipcl_output_commit(struct ipcl_outfile *o, int ok, char *err, size_t errlen)
{
	int rc = 0;

	if (!o->f)
		return 0;
	if (ferror(o->f))
		rc = safefile_err(err, errlen, -EIO, "%s", strerror(EIO));
	if (fclose(o->f) && !rc)
		rc = safefile_open_err(-errno, err, errlen);
	o->f = NULL;
	if (ok && !rc && renameat(o->dirfd, o->tmp, o->dirfd, o->name) < 0)
		rc = safefile_err(err, errlen, -errno, "rename: %s", strerror(errno));
	if (!ok || rc)
		unlinkat(o->dirfd, o->tmp, 0);
	return rc;
}

int ipcl_output_replace(int dirfd, const char *name, const void *buf, size_t len,
			char *err, size_t errlen)
{
	struct ipcl_outfile o;
	int rc = ipcl_output_create(&o, dirfd, name, err, errlen);

	if (rc)
		return rc;
	if (len && fwrite(buf, 1, len, o.f) != len)
		rc = safefile_err(err, errlen, -EIO, "%s", strerror(EIO));
	{
		int crc = ipcl_output_commit(&o, !rc, err, errlen);

		return crc ? crc : rc;
	}
}
