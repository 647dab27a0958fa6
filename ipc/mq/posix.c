/*
 * posix.c - the POSIX message queue: mq_open(3) a named queue "/ipcl-<tag>" in
 * the creating process, mq_send(3)/mq_receive(3) in the roles, mq_unlink(3) at
 * teardown. Linux keeps the queues in the mqueue file system (/dev/mqueue when
 * mounted) with limits under /proc/sys/fs/mqueue and RLIMIT_MSGQUEUE.
 *
 * The kernel keeps message boundaries and lets any number of producers and
 * consumers share a queue; each message goes to exactly one receiver. There is
 * no end-of-stream: the harness sends its end marker. With a finite deadline
 * the timed calls mq_timedsend/mq_timedreceive bound the wait; with
 * IPCL_FOREVER the plain calls are used (one system call per message).
 * Left out: priorities (all messages have priority 0), mq_notify(3), and
 * O_NONBLOCK descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ipclab/transport.h>

#include "proclimit.h"

#define POSIX_MQ_PROC "/proc/sys/fs/mqueue/"

struct posix_mq_ep {
	mqd_t mq;          /* (mqd_t)-1 when not open */
	long msgsize;      /* the queue's mq_msgsize */
	unsigned char *rx; /* bounce buffer when the caller's buffer is smaller */
};

static const struct ipcl_option posix_mq_options[] = {
    {"maxmsg", "0", "queue depth in messages (0: min(10, fs/mqueue/msg_max))"},
    {"msgsize", "0", "largest message in bytes (0: the run's message size)"},
    {NULL, NULL, NULL},
};

static int posix_mq_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	static const char *const names[] = {"msg_max", "msgsize_max", "queues_max",
					    "msg_default", "msgsize_default"};
	struct rlimit rl;
	long msgsize_max = proclimit_read(POSIX_MQ_PROC, "msgsize_max");

	if (msgsize_max < 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "cannot read " POSIX_MQ_PROC "msgsize_max: no POSIX "
				   "message queues on this kernel?");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		ipcl_fact(p, names[i], "%ld", proclimit_read(POSIX_MQ_PROC, names[i]));
	if (getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		ipcl_fact(p, "rlimit_msgqueue_soft", "%lld", (long long)rl.rlim_cur);
		ipcl_fact(p, "rlimit_msgqueue_hard", "%lld", (long long)rl.rlim_max);
	}
	p->max_msg = (size_t)msgsize_max;
	return 0;
}

/*
 * Create the queue with O_EXCL (a name left by a crashed run with the same tag
 * is an error, not something to reuse) and close it again: the queue lives on
 * in the kernel until teardown() unlinks it. chan->addr is the queue's name.
 */
static int posix_mq_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	long msg_max = proclimit_read(POSIX_MQ_PROC, "msg_max");
	long msgsize_max = proclimit_read(POSIX_MQ_PROC, "msgsize_max");
	long long maxmsg, msgsize;
	struct mq_attr attr = {0};
	mqd_t mq;
	int rc;

	if (msg_max < 0 || msgsize_max < 0)
		return ipcl_seterr(c->err, IPCL_EUNAVAIL,
				   "cannot read the limits in " POSIX_MQ_PROC);
	if (o->msg_size > (size_t)msgsize_max)
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "message size %zu is over the POSIX mq limit of %ld bytes "
		    "(" POSIX_MQ_PROC "msgsize_max)",
		    o->msg_size, msgsize_max);
	rc = ipcl_opt_int(o, posix_mq_options, "maxmsg", 0, msg_max, &maxmsg, c->err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, posix_mq_options, "msgsize", 0, msgsize_max, &msgsize,
			  c->err);
	if (rc)
		return rc;
	if (maxmsg == 0)
		maxmsg = msg_max < 10 ? msg_max : 10;
	if (msgsize == 0)
		msgsize = o->msg_size > 0 ? (long long)o->msg_size : 1;
	if ((size_t)msgsize < o->msg_size)
		return ipcl_seterr(
		    c->err, IPCL_EINVAL,
		    "option msgsize=%lld is smaller than the message size %zu", msgsize,
		    o->msg_size);
	if (snprintf(c->addr, sizeof c->addr, "/ipcl-%s", o->tag) >= NAME_MAX)
		return ipcl_seterr(c->err, -ENAMETOOLONG,
				   "queue name /ipcl-%s is too long", o->tag);

	attr.mq_maxmsg = maxmsg;
	attr.mq_msgsize = msgsize;
	mq = mq_open(c->addr, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
	if (mq == (mqd_t)-1) {
		rc = -errno;
		if (rc == -EMFILE || rc == -ENOMEM)
			ipcl_seterr(
			    c->err, rc,
			    "mq_open %s (maxmsg %lld, msgsize %lld): %s; the queue "
			    "bytes of this user are capped by RLIMIT_MSGQUEUE (ulimit "
			    "-q)",
			    c->addr, maxmsg, msgsize, strerror(-rc));
		else
			ipcl_seterr(c->err, rc,
				    "mq_open %s (maxmsg %lld, msgsize %lld): %s", c->addr,
				    maxmsg, msgsize, strerror(-rc));
		c->addr[0] = '\0';
		return rc;
	}
	mq_close(mq);
	return 0;
}

static int posix_mq_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct posix_mq_ep *pe = ep->state;
	const char *name = ep->chan->addr;
	struct mq_attr attr;

	pe->mq = (mqd_t)-1;
	if (name[0] != '/' || strchr(name + 1, '/') || !name[1])
		return ipcl_seterr(ep->err, -EINVAL, "bad channel address \"%s\"", name);
	pe->mq =
	    mq_open(name, (ep->role == IPCL_PRODUCER ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (pe->mq == (mqd_t)-1)
		return ipcl_seterr(ep->err, -errno, "mq_open %s: %s", name,
				   strerror(errno));
	if (mq_getattr(pe->mq, &attr) < 0)
		return ipcl_seterr(ep->err, -errno, "mq_getattr %s: %s", name,
				   strerror(errno));
	pe->msgsize = attr.mq_msgsize;
	if (ep->role == IPCL_CONSUMER) {
		pe->rx = malloc((size_t)pe->msgsize);
		if (!pe->rx)
			return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * The mq_timed* calls take an absolute CLOCK_REALTIME time; ours is an absolute
 * CLOCK_MONOTONIC one. Convert through the time left, so that a wall clock
 * step during the wait is the only error. A deadline already past gives "now",
 * which still succeeds when the call need not wait.
 */
static struct timespec posix_mq_abstime(int64_t deadline_ns)
{
	int64_t left = deadline_ns - ipcl_now_ns();
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (left < 0)
		left = 0;
	left += ts.tv_nsec;
	ts.tv_sec += left / 1000000000;
	ts.tv_nsec = left % 1000000000;
	return ts;
}

static int posix_mq_send(struct ipcl_ep *ep, const void *msg, size_t len,
			 int64_t deadline_ns)
{
	struct posix_mq_ep *pe = ep->state;
	int r;

	/* No length check of ours: over the queue's msgsize, mq_send() itself
	 * answers EMSGSIZE (the oversize fault tests the kernel, not ipclab). */
	do {
		if (deadline_ns == IPCL_FOREVER) {
			r = mq_send(pe->mq, msg, len, 0);
		} else {
			struct timespec ts = posix_mq_abstime(deadline_ns);
			r = mq_timedsend(pe->mq, msg, len, 0, &ts);
		}
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return ipcl_seterr(ep->err, -errno, "mq_send %s: %s", ep->chan->addr,
			   strerror(errno));
}

/*
 * mq_receive needs a buffer of at least mq_msgsize bytes even for a short
 * message. When the caller's is smaller, receive into the bounce buffer and
 * copy, or report IPCL_ETRUNC (the message is then consumed and lost).
 */
static int posix_mq_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			 int64_t deadline_ns)
{
	struct posix_mq_ep *pe = ep->state;
	int direct = cap >= (size_t)pe->msgsize;
	char *dst = direct ? buf : (char *)pe->rx;
	ssize_t n;

	do {
		if (deadline_ns == IPCL_FOREVER) {
			n = mq_receive(pe->mq, dst, (size_t)pe->msgsize, NULL);
		} else {
			struct timespec ts = posix_mq_abstime(deadline_ns);
			n = mq_timedreceive(pe->mq, dst, (size_t)pe->msgsize, NULL, &ts);
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return ipcl_seterr(ep->err, -errno, "mq_receive %s: %s", ep->chan->addr,
				   strerror(errno));
	}
	if (!direct) {
		if ((size_t)n > cap)
			return ipcl_seterr(ep->err, IPCL_ETRUNC,
					   "message of %zd bytes, buffer of %zu", n, cap);
		memcpy(buf, dst, (size_t)n);
	}
	*len = (size_t)n;
	return 0;
}

static void posix_mq_close(struct ipcl_ep *ep)
{
	struct posix_mq_ep *pe = ep->state;

	if (pe->mq != (mqd_t)-1)
		mq_close(pe->mq);
	pe->mq = (mqd_t)-1;
	free(pe->rx);
	pe->rx = NULL;
}

/* Unlink the queue named by addr; a queue that is already gone is fine. */
static void posix_mq_teardown(struct ipcl_chan *c)
{
	if (c->addr[0] == '/')
		mq_unlink(c->addr);
}

const struct ipcl_transport ipcl_transport_posix_mq = {
    .name = "posix-mq",
    .summary = "POSIX message queue (mq_open, mq_send/mq_receive, mq_timed*)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_MULTI_CONSUMER,
    .ep_state_size = sizeof(struct posix_mq_ep),
    .options = posix_mq_options,
    .probe = posix_mq_probe,
    .setup = posix_mq_setup,
    .teardown = posix_mq_teardown,
    .open = posix_mq_open,
    .send = posix_mq_send,
    .recv = posix_mq_recv,
    .close = posix_mq_close,
};
