/*
 * pipe.c - the anonymous pipe: pipe2(2) in the creating process, inherited by a
 * forked child (no exec: the peers must be related), then read(2)/write(2).
 *
 * A pipe is a byte stream, so each message travels as [u32 length][bytes],
 * written with one writev() (see fdio.h); a reader drains whole buffers of
 * frames with one read(). Writes of at most PIPE_BUF bytes are atomic; larger
 * ones may be split, which is harmless with one writer and why this transport
 * allows only one producer. Left out: vmsplice(2) zero-copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/transport.h>

#define PIPE_READ_BUF (64 * 1024)

struct pipe_chan {
	int valid; /* fds below were made by setup() in this process */
	int fd[2]; /* [0] read end, [1] write end; -1 once given away or closed */
};

struct pipe_ep {
	int fd;
	struct ipcl_framer rx;
};

static const struct ipcl_option pipe_options[] = {
    {"capacity", "0",
     "pipe buffer size in bytes set with F_SETPIPE_SZ (0: kernel default)"},
    {NULL, NULL, NULL},
};

static int pipe_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	int fd[2], cap;
	FILE *f;
	long max = -1;

	if (pipe(fd) < 0)
		return ipcl_seterr(err, -errno, "pipe: %s", strerror(errno));
	cap = fcntl(fd[0], F_GETPIPE_SZ);
	close(fd[0]);
	close(fd[1]);
	f = fopen("/proc/sys/fs/pipe-max-size", "r");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = -1;
		fclose(f);
	}
	p->max_msg = 0; /* framed: any size */
	ipcl_fact(p, "pipe_capacity_default", "%d", cap);
	ipcl_fact(p, "pipe_max_size", "%ld", max);
	ipcl_fact(p, "pipe_buf_atomic", "%d", PIPE_BUF);
	return 0;
}

static int pipe_setup(struct ipcl_chan *c)
{
	struct pipe_chan *pc = c->state;
	long long capacity;
	int rc;

	rc = ipcl_opt_int(c->opts, pipe_options, "capacity", 0, 1 << 30, &capacity,
			  c->err);
	if (rc)
		return rc;
	if (pipe(pc->fd) < 0)
		return ipcl_seterr(c->err, -errno, "pipe: %s", strerror(errno));
	pc->valid = 1;
	if (capacity > 0 && fcntl(pc->fd[1], F_SETPIPE_SZ, (int)capacity) < 0) {
		rc = ipcl_seterr(c->err, -errno, "F_SETPIPE_SZ %lld: %s", capacity,
				 strerror(errno));
		goto fail;
	}
	snprintf(c->addr, sizeof c->addr, "rfd=%d wfd=%d", pc->fd[0], pc->fd[1]);
	return 0;
fail:
	close(pc->fd[0]);
	close(pc->fd[1]);
	pc->valid = 0;
	return rc;
}

static void pipe_close_fds(struct pipe_chan *pc)
{
	for (int i = 0; pc->valid && i < 2; i++) {
		if (pc->fd[i] >= 0)
			close(pc->fd[i]);
		pc->fd[i] = -1;
	}
}

/* The creating process keeps no end open, or the reader would never see EOF. */
static void pipe_detach(struct ipcl_chan *c)
{
	pipe_close_fds(c->state);
}

static int pipe_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct pipe_chan *pc = ep->chan->state;
	struct pipe_ep *pe = ep->state;
	int mine = ep->role == IPCL_PRODUCER ? 1 : 0;
	int rc;

	pe->fd = -1;
	if (!pc->valid || pc->fd[mine] < 0)
		return ipcl_seterr(ep->err, -EBADF, "pipe: this end is already taken");
	/* Take our end; in a forked role also close the other, so EOF can happen. */
	pe->fd = pc->fd[mine];
	pc->fd[mine] = -1;
	if (!ep->chan->opts->threads && pc->fd[!mine] >= 0) {
		close(pc->fd[!mine]);
		pc->fd[!mine] = -1;
	}
	if (ep->role == IPCL_CONSUMER) {
		rc = ipcl_framer_init(&pe->rx, PIPE_READ_BUF);
		if (rc)
			return ipcl_seterr(ep->err, rc, "pipe: out of memory");
	}
	return 0;
}

/*
 * One writev(2) of [u32 length][bytes] (ipcl_stream_send, fdio.h); a finite
 * deadline poll(2)s for POLLOUT first, IPCL_FOREVER goes straight to writev.
 */
static int pipe_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct pipe_ep *pe = ep->state;
	int rc = ipcl_stream_send(pe->fd, msg, len, deadline_ns);

	if (rc && rc != -ETIMEDOUT)
		ipcl_seterr(ep->err, rc, "pipe write: %s", ipcl_strerror(rc));
	return rc;
}

/*
 * read(2) into the framer's buffer, one call for many small messages
 * (ipcl_stream_recv, fdio.h); a finite deadline poll(2)s for POLLIN first.
 */
static int pipe_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct pipe_ep *pe = ep->state;
	int rc = ipcl_stream_recv(pe->fd, &pe->rx, buf, cap, len, deadline_ns);

	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "pipe read: %s", ipcl_strerror(rc));
	return rc;
}

static void pipe_close(struct ipcl_ep *ep)
{
	struct pipe_ep *pe = ep->state;

	if (pe->fd >= 0)
		close(pe->fd);
	pe->fd = -1;
	ipcl_framer_free(&pe->rx);
}

/* Nothing has a name; only descriptors this process made are closed. */
static void pipe_teardown(struct ipcl_chan *c)
{
	pipe_close_fds(c->state);
}

const struct ipcl_transport ipcl_transport_pipe = {
    .name = "pipe",
    .summary = "anonymous pipe between a parent and a forked child (pipe2, read/write)",
    .caps = IPCL_CAP_RELATED_ONLY | IPCL_CAP_HAS_EOF,
    .chan_state_size = sizeof(struct pipe_chan),
    .ep_state_size = sizeof(struct pipe_ep),
    .options = pipe_options,
    .probe = pipe_probe,
    .setup = pipe_setup,
    .detach = pipe_detach,
    .teardown = pipe_teardown,
    .open = pipe_open,
    .send = pipe_send,
    .recv = pipe_recv,
    .close = pipe_close,
};
