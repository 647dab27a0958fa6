/*
 * fifo.c - the named pipe: mkfifo(3) in a private directory, opened by path with
 * open(2) in two unrelated processes, then read(2)/write(2) as on a pipe.
 *
 * A FIFO is a pipe with a name, so it is a byte stream: messages travel as
 * [u32 length][bytes] (see fdio.h), one producer and one consumer. Opening a
 * FIFO blocks until the other side opens it too; both opens here are bounded by
 * the deadline instead (O_NONBLOCK for the reader, ENXIO retries for the
 * writer). Left out: several writers sharing the FIFO (atomic only up to
 * PIPE_BUF), and vmsplice(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/transport.h>

#define FIFO_READ_BUF (64 * 1024)
#define FIFO_NAME     "fifo"  /* the FIFO's name inside the private directory */
#define FIFO_RETRY_NS 1000000 /* the writer looks for a reader every 1 ms */

struct fifo_ep {
	int fd;
	int need_writer; /* consumer: no writer seen yet, so read() would say EOF */
	struct ipcl_framer rx;
};

static const struct ipcl_option fifo_options[] = {
    {"capacity", "0",
     "pipe buffer size in bytes set with F_SETPIPE_SZ (0: kernel default)"},
    {NULL, NULL, NULL},
};

static int fifo_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	long long capacity;
	int fd[2], def, used = 0, rc;
	long max = -1;
	FILE *f;

	rc = ipcl_opt_int(o, fifo_options, "capacity", 0, 1 << 30, &capacity, err);
	if (rc)
		return rc;
	/* A FIFO's buffer is a pipe's buffer: an anonymous pipe shows its size. */
	if (pipe2(fd, O_CLOEXEC) < 0)
		return ipcl_seterr(err, -errno, "pipe: %s", strerror(errno));
	def = fcntl(fd[0], F_GETPIPE_SZ);
	if (capacity > 0 && fcntl(fd[1], F_SETPIPE_SZ, (int)capacity) >= 0)
		used = fcntl(fd[0], F_GETPIPE_SZ);
	close(fd[0]);
	close(fd[1]);
	f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	p->max_msg = 0; /* framed: any size up to 4 GiB */
	ipcl_fact(p, "pipe_capacity_default", "%d", def);
	ipcl_fact(p, "pipe_max_size", "%ld", max);
	ipcl_fact(p, "pipe_buf_atomic", "%d", PIPE_BUF);
	if (capacity > 0)
		ipcl_fact(p, "pipe_capacity", "%d", used);
	return 0;
}

/*
 * Split addr into the FIFO's directory and check that it names what setup()
 * made: an absolute <dir>/ipcl-<tag>-XXXXXX/fifo. Returns 0 or -EINVAL, so that
 * neither open() nor a crash-recovery teardown() touches anything else.
 */
static int fifo_dir(const char *addr, char *dir, size_t cap)
{
	const char *slash = strrchr(addr, '/');
	const char *base;
	size_t n;

	if (addr[0] != '/' || !slash || strcmp(slash + 1, FIFO_NAME) != 0)
		return -EINVAL;
	n = (size_t)(slash - addr);
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(dir, addr, n);
	dir[n] = '\0';
	base = strrchr(dir, '/');
	if (!base || strncmp(base + 1, "ipcl-", 5) != 0)
		return -EINVAL;
	return 0;
}

static int fifo_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	char dir[108];
	long long capacity;
	int rc;

	rc = ipcl_opt_int(o, fifo_options, "capacity", 0, 1 << 30, &capacity, c->err);
	if (rc)
		return rc;
	if (o->msg_size > UINT32_MAX)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "fifo: messages are limited to 4 GiB");
	rc = ipcl_private_dir(dir, sizeof dir, o->tag ? o->tag : "fifo", c->err);
	if (rc)
		return rc;
	snprintf(c->addr, sizeof c->addr, "%s/%s", dir, FIFO_NAME);
	if (mkfifo(c->addr, 0600) < 0) {
		rc = ipcl_seterr(c->err, -errno, "mkfifo %s: %s", c->addr,
				 strerror(errno));
		goto fail;
	}
	return 0;
fail:
	ipcl_remove_dir(dir);
	c->addr[0] = '\0';
	return rc;
}

static void fifo_sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The writer's open. With no deadline a plain blocking open(O_WRONLY) waits for
 * a reader. With one, O_NONBLOCK makes open fail with ENXIO while there is no
 * reader, so we retry every FIFO_RETRY_NS until the deadline.
 * Returns the descriptor or a negative error.
 */
static int fifo_open_writer(const char *path, int64_t deadline_ns)
{
	int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW;

	if (deadline_ns != IPCL_FOREVER)
		flags |= O_NONBLOCK;
	for (;;) {
		int64_t left;
		int fd = open(path, flags);

		if (fd >= 0)
			return fd;
		if (errno == EINTR)
			continue;
		if (errno != ENXIO)
			return -errno;
		left = deadline_ns - ipcl_now_ns();
		if (left <= 0)
			return -ETIMEDOUT;
		fifo_sleep_ns(left < FIFO_RETRY_NS ? left : FIFO_RETRY_NS);
	}
}

static int fifo_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct fifo_ep *fe = ep->state;
	const char *path = ep->chan->addr;
	char dir[108];
	long long capacity;
	struct stat st;
	int fl, rc;

	fe->fd = -1;
	if (fifo_dir(path, dir, sizeof dir) != 0)
		return ipcl_seterr(ep->err, -EINVAL, "fifo: bad address '%s'", path);
	rc = ipcl_opt_int(ep->chan->opts, fifo_options, "capacity", 0, 1 << 30, &capacity,
			  ep->err);
	if (rc)
		return rc;
	if (lstat(path, &st) < 0)
		return ipcl_seterr(ep->err, -errno, "fifo %s: %s", path, strerror(errno));
	if (!S_ISFIFO(st.st_mode))
		return ipcl_seterr(ep->err, -EINVAL, "fifo %s: not a FIFO", path);

	if (ep->role == IPCL_CONSUMER) {
		/* O_NONBLOCK: a reader's open returns at once, writer or not. */
		fe->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		if (fe->fd < 0)
			return ipcl_seterr(ep->err, -errno, "open %s: %s", path,
					   strerror(errno));
		fe->need_writer = 1;
		rc = ipcl_framer_init(&fe->rx, FIFO_READ_BUF);
		if (rc)
			return ipcl_seterr(ep->err, rc, "fifo: out of memory");
	} else {
		rc = fifo_open_writer(path, deadline_ns);
		if (rc == -ETIMEDOUT)
			return ipcl_seterr(
			    ep->err, rc,
			    "fifo %s: no reader opened it before the deadline", path);
		if (rc < 0)
			return ipcl_seterr(ep->err, rc, "open %s: %s", path,
					   strerror(-rc));
		fe->fd = rc;
	}
	/* Back to blocking I/O: the hot path is one read() or writev(), no poll(). */
	fl = fcntl(fe->fd, F_GETFL);
	if (fl < 0 || fcntl(fe->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return ipcl_seterr(ep->err, -errno, "fcntl %s: %s", path,
				   strerror(errno));
	/* Both ends ask for the same size, whichever opened first. */
	if (capacity > 0 && fcntl(fe->fd, F_SETPIPE_SZ, (int)capacity) < 0)
		return ipcl_seterr(ep->err, -errno, "F_SETPIPE_SZ %lld: %s", capacity,
				   strerror(errno));
	return 0;
}

/*
 * One writev(2) of [u32 length][bytes] (ipcl_stream_send, fdio.h); a finite
 * deadline poll(2)s for POLLOUT first, IPCL_FOREVER goes straight to writev.
 */
static int fifo_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct fifo_ep *fe = ep->state;
	int rc = ipcl_stream_send(fe->fd, msg, len, deadline_ns);

	if (rc && rc != -ETIMEDOUT)
		ipcl_seterr(ep->err, rc, "fifo write: %s", ipcl_strerror(rc));
	return rc;
}

/*
 * read(2) into the framer's buffer, one call for many small messages
 * (ipcl_stream_recv, fdio.h); a finite deadline poll(2)s for POLLIN first.
 */
static int fifo_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct fifo_ep *fe = ep->state;
	int rc;

	/*
	 * Until a writer has opened the FIFO, read() returns 0 as if at the end.
	 * poll() does not: it reports POLLHUP only once a writer has come and
	 * gone, so the first receive waits in poll() for data or that hang-up.
	 */
	if (fe->need_writer) {
		rc = ipcl_fd_wait(fe->fd, POLLIN, deadline_ns);
		if (rc)
			return rc;
		fe->need_writer = 0;
	}
	rc = ipcl_stream_recv(fe->fd, &fe->rx, buf, cap, len, deadline_ns);
	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "fifo read: %s", ipcl_strerror(rc));
	return rc;
}

static void fifo_close(struct ipcl_ep *ep)
{
	struct fifo_ep *fe = ep->state;

	if (fe->fd >= 0)
		close(fe->fd);
	fe->fd = -1;
	ipcl_framer_free(&fe->rx);
}

/* Unlink the FIFO and its directory, knowing only addr. */
static void fifo_teardown(struct ipcl_chan *c)
{
	char dir[108];

	if (fifo_dir(c->addr, dir, sizeof dir) != 0)
		return;
	unlink(c->addr);
	rmdir(dir);
}

const struct ipcl_transport ipcl_transport_fifo = {
    .name = "fifo",
    .summary = "named pipe (mkfifo, open by path, read/write)",
    .caps = IPCL_CAP_HAS_EOF,
    .chan_state_size = 0,
    .ep_state_size = sizeof(struct fifo_ep),
    .options = fifo_options,
    .probe = fifo_probe,
    .setup = fifo_setup,
    .teardown = fifo_teardown,
    .open = fifo_open,
    .send = fifo_send,
    .recv = fifo_recv,
    .close = fifo_close,
};
