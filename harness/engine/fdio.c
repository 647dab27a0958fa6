/*
 * fdio.c - deadline-aware reads and writes and length-prefixed framing over a
 * byte stream (see fdio.h). Uses poll(2), readv/writev(2), fcntl(2), mkdtemp(3);
 * removes a private directory with openat/unlinkat(2), never through a shell.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/transport.h>

int ipcl_fd_wait(int fd, short events, int64_t deadline_ns)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int ms = -1, rc;

		if (deadline_ns != IPCL_FOREVER) {
			int64_t left = deadline_ns - ipcl_now_ns();

			if (left <= 0)
				ms = 0;
			else
				ms = (int)((left + 999999) / 1000000);
		}
		rc = poll(&p, 1, ms);
		if (rc > 0)
			return 0; /* readable, writable, or an error/hang-up the I/O will
				     report */
		if (rc == 0) {
			if (deadline_ns != IPCL_FOREVER && ipcl_now_ns() >= deadline_ns)
				return -ETIMEDOUT;
			continue;
		}
		if (errno != EINTR)
			return -errno;
	}
}

int ipcl_fd_writev_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline_ns)
{
	while (iovcnt > 0) {
		ssize_t n;

		if (deadline_ns != IPCL_FOREVER) {
			int rc = ipcl_fd_wait(fd, POLLOUT, deadline_ns);

			if (rc)
				return rc;
		}
		/* write() for one buffer: writev also copies and checks the iovec array.
		 */
		n = iovcnt == 1 ? write(fd, iov->iov_base, iov->iov_len)
				: writev(fd, iov, iovcnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno ==
			    EAGAIN) { /* a non-blocking descriptor: wait for room */
				int rc = ipcl_fd_wait(fd, POLLOUT, deadline_ns);

				if (rc)
					return rc;
				continue;
			}
			return -errno;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* One read() of up to len bytes after an optional wait: bytes, 0 at EOF, or -err. */
static ssize_t fdio_read_some(int fd, void *buf, size_t len, int64_t deadline_ns)
{
	for (;;) {
		ssize_t n;

		if (deadline_ns != IPCL_FOREVER) {
			int rc = ipcl_fd_wait(fd, POLLIN, deadline_ns);

			if (rc)
				return rc;
		}
		n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			int rc = ipcl_fd_wait(fd, POLLIN, deadline_ns);

			if (rc)
				return rc;
			continue;
		}
		return -errno;
	}
}

int ipcl_fd_read_all(int fd, void *buf, size_t len, int64_t deadline_ns)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = fdio_read_some(fd, (char *)buf + got, len - got, deadline_ns);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return got == 0 ? IPCL_EOF : IPCL_EPROTO;
		got += (size_t)n;
	}
	return 0;
}

int ipcl_framer_init(struct ipcl_framer *f, size_t cap)
{
	memset(f, 0, sizeof *f);
	f->buf = malloc(cap);
	if (!f->buf)
		return -ENOMEM;
	f->cap = cap;
	return 0;
}

void ipcl_framer_free(struct ipcl_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof *f);
}

/* Up to this size a message is copied behind its length and sent as one buffer. */
#define STREAM_COPY_MAX 1024

int ipcl_stream_send(int fd, const void *msg, size_t len, int64_t deadline_ns)
{
	uint32_t hdr = (uint32_t)len;
	unsigned char small[sizeof hdr + STREAM_COPY_MAX];
	struct iovec iov[2] = {
	    {.iov_base = &hdr, .iov_len = sizeof hdr},
	    {.iov_base = (void *)msg, .iov_len = len},
	};

	if (len > UINT32_MAX)
		return IPCL_ETOOBIG;
	/*
	 * A small message costs less as one buffer than as two iovec segments; a
	 * large one is not worth copying.
	 */
	if (len <= STREAM_COPY_MAX) {
		memcpy(small, &hdr, sizeof hdr);
		memcpy(small + sizeof hdr, msg, len);
		iov[0].iov_base = small;
		iov[0].iov_len = sizeof hdr + len;
		return ipcl_fd_writev_all(fd, iov, 1, deadline_ns);
	}
	return ipcl_fd_writev_all(fd, iov, 2, deadline_ns);
}

/* Make at least want bytes available at f->buf + f->head. */
static int framer_fill(int fd, struct ipcl_framer *f, size_t want, int64_t deadline_ns)
{
	while (f->tail - f->head < want) {
		ssize_t n;

		if (f->head > 0 && f->cap - f->head < want) {
			memmove(f->buf, f->buf + f->head, f->tail - f->head);
			f->tail -= f->head;
			f->head = 0;
		}
		n = fdio_read_some(fd, f->buf + f->tail, f->cap - f->tail, deadline_ns);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return f->tail == f->head ? IPCL_EOF : IPCL_EPROTO;
		f->tail += (size_t)n;
	}
	return 0;
}

int ipcl_stream_recv(int fd, struct ipcl_framer *f, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	uint32_t n;
	size_t have;
	int rc;

	if (f->head == f->tail)
		f->head = f->tail = 0;
	rc = framer_fill(fd, f, sizeof n, deadline_ns);
	if (rc)
		return rc;
	memcpy(&n, f->buf + f->head, sizeof n);
	if (n > cap)
		return IPCL_ETRUNC;
	f->head += sizeof n;
	have = f->tail - f->head;
	if (have >= n) {
		memcpy(buf, f->buf + f->head, n);
		f->head += n;
	} else {
		/* The rest of a large message goes straight into the caller's buffer. */
		memcpy(buf, f->buf + f->head, have);
		f->head = f->tail = 0;
		rc = ipcl_fd_read_all(fd, (char *)buf + have, n - have, deadline_ns);
		if (rc)
			return rc == IPCL_EOF ? IPCL_EPROTO : rc;
	}
	*len = n;
	return 0;
}

int ipcl_fd_inheritable(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int ipcl_private_dir(char *path, size_t cap, const char *tag, char *err)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	n = snprintf(path, cap, "%s/ipcl-%s-XXXXXX", tmp, tag);
	if (n < 0 || (size_t)n >= cap || n > 80)
		return ipcl_seterr(
		    err, -ENAMETOOLONG,
		    "temp dir name too long for a socket path: %s/ipcl-%s-XXXXXX", tmp,
		    tag);
	if (!mkdtemp(path))
		return ipcl_seterr(err, -errno, "mkdtemp %s: %s", path, strerror(errno));
	return 0;
}

/*
 * Empties the open directory fd, depth first, without following a symbolic
 * link (every entry is looked at with AT_SYMLINK_NOFOLLOW and opened with
 * O_NOFOLLOW) and without leaving the filesystem dev. Returns 0 or the first
 * negative errno met (it goes on with the other entries).
 */
static int fdio_empty(int fd, dev_t dev, int depth)
{
	int dfd = dup(fd), rc = 0;
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		int sub, r = 0;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
		else if (!S_ISDIR(st.st_mode))
			r = unlinkat(fd, e->d_name, 0) < 0 ? -errno : 0;
		else if (st.st_dev != dev)
			r = -EXDEV; /* a mount inside: not ours to empty */
		else if (depth >= 32)
			r = -ELOOP;
		else if ((sub = openat(fd, e->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
			 0)
			r = -errno;
		else {
			r = fdio_empty(sub, dev, depth + 1);
			close(sub);
			if (!r && unlinkat(fd, e->d_name, AT_REMOVEDIR) < 0)
				r = -errno;
		}
		if (r && r != -ENOENT && !rc)
			rc = r;
	}
	closedir(d);
	return rc;
}

int ipcl_remove_tree_at(int dirfd, const char *name, uid_t owner)
{
	struct stat st;
	int fd, rc;

	if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return -EINVAL;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (owner != (uid_t)-1 && st.st_uid != owner)
		rc = -EPERM;
	else
		rc = fdio_empty(fd, st.st_dev, 0);
	close(fd);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

void ipcl_remove_dir(const char *path)
{
	char parent[PATH_MAX];
	const char *slash, *base;
	int pfd;

	if (!path || !*path || strlen(path) >= sizeof parent)
		return;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!slash)
		snprintf(parent, sizeof parent, ".");
	else if (slash == path)
		snprintf(parent, sizeof parent, "/");
	else
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return;
	(void)ipcl_remove_tree_at(pfd, base, geteuid());
	close(pfd);
}
