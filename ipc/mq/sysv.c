/*
 * sysv.c - the System V message queue: msgget(2) in the creating process,
 * msgsnd(2)/msgrcv(2) in the roles, msgctl(IPC_RMID) at teardown. chan->addr
 * carries the msqid (and its creation time, so that teardown never removes a
 * recycled id). The key is not needed to open the queue but tells who made
 * it: SYSV_MQ_KEY(creator pid, n), so that `ipclab clean` can find the queues
 * of a run that was killed (in /proc/sysvipc/msg) and remove them.
 *
 * The kernel keeps message boundaries and lets any number of producers and
 * consumers share a queue; every message here has mtype 1, so consumers take
 * them in order. Limits: kernel.msgmax (largest message), kernel.msgmnb (bytes
 * a queue holds), kernel.msgmni (queues). There is no end-of-stream.
 *
 * SysV IPC has no timed msgsnd/msgrcv. With IPCL_FOREVER the calls block in the
 * kernel (one system call per message); with a finite deadline they are polled
 * with IPC_NOWAIT, sleeping between tries with an exponential backoff from 1 us
 * capped at 1 ms, so a waiting endpoint costs some CPU and wakes up to 1 ms
 * late. Left out: message types as priorities or addresses, MSG_COPY.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "proclimit.h"

#define SYSV_MQ_PROC           "/proc/sys/kernel/"
#define SYSV_MQ_TYPE           1
#define SYSV_MQ_BACKOFF_MIN_NS 1000
#define SYSV_MQ_BACKOFF_MAX_NS 1000000

/*
 * Keys of ipclab's queues: bits 26..30 are 11010, bits 4..25 the creating
 * process's pid (pid_max is at most 2^22), bits 0..3 a channel number.
 */
#define SYSV_MQ_KEY_MARK     0x68000000
#define SYSV_MQ_KEY_MASK     0x7c000000
#define SYSV_MQ_KEY(pid, n)  ((key_t)(SYSV_MQ_KEY_MARK | ((pid)&0x3fffff) << 4 | (n)))
#define SYSV_MQ_KEYS_PER_PID 16

/* What msgsnd/msgrcv move: a type followed by the bytes. */
struct sysv_mq_msg {
	long mtype;
	char mtext[];
};

struct sysv_mq_ep {
	int id;                  /* msqid; -1 when not open */
	long msgmax;             /* kernel.msgmax when the endpoint opened */
	struct sysv_mq_msg *buf; /* staging buffer for mtype + bytes */
	size_t bufcap;           /* bytes of mtext in buf */
};

static const struct ipcl_option sysv_mq_options[] = {
    {"qbytes", "0",
     "bytes the queue may hold, set with IPC_SET (0: kernel.msgmnb; more needs "
     "CAP_SYS_RESOURCE)"},
    {NULL, NULL, NULL},
};

static int sysv_mq_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	long msgmax = proclimit_read(SYSV_MQ_PROC, "msgmax");

	if (msgmax < 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "cannot read " SYSV_MQ_PROC
				   "msgmax: no System V IPC on "
				   "this kernel?");
	ipcl_fact(p, "msgmax", "%ld", msgmax);
	ipcl_fact(p, "msgmnb", "%ld", proclimit_read(SYSV_MQ_PROC, "msgmnb"));
	ipcl_fact(p, "msgmni", "%ld", proclimit_read(SYSV_MQ_PROC, "msgmni"));
	ipcl_fact(p, "deadline_poll_max_ns", "%d", SYSV_MQ_BACKOFF_MAX_NS);
	p->max_msg = (size_t)msgmax;
	return 0;
}

/* Parse "msqid=N ctime=T"; 0 or -EINVAL. */
static int sysv_mq_parse(const char *addr, int *id, long long *ctime)
{
	char end;

	if (sscanf(addr, "msqid=%d ctime=%lld%c", id, ctime, &end) != 2 || *id < 0)
		return -EINVAL;
	return 0;
}

/*
 * Create a queue under the first free key of this process; past 16 live
 * channels, or if a key is taken by someone else, without a key (IPC_PRIVATE:
 * it works the same, but a crash leaves it for `ipcrm -q` to remove).
 * Returns the msqid or a negative error.
 */
static int sysv_mq_create(char *err)
{
	int pid = (int)getpid(), id = -1, e = 0;

	for (int n = 0; id < 0 && n <= SYSV_MQ_KEYS_PER_PID; n++) {
		key_t key = n < SYSV_MQ_KEYS_PER_PID ? SYSV_MQ_KEY(pid, n) : IPC_PRIVATE;

		id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
		e = id < 0 ? errno : 0;
		if (e && e != EEXIST)
			break;
	}
	if (id < 0)
		return ipcl_seterr(err, -e, "msgget: %s%s", strerror(e),
				   e == ENOSPC ? " (kernel.msgmni queues exist already)"
					       : "");
	return id;
}

static int sysv_mq_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	long msgmax = proclimit_read(SYSV_MQ_PROC, "msgmax");
	struct msqid_ds ds;
	long long qbytes;
	int id, rc;

	if (msgmax < 0)
		return ipcl_seterr(c->err, IPCL_EUNAVAIL,
				   "cannot read " SYSV_MQ_PROC "msgmax");
	if (o->msg_size > (size_t)msgmax)
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "message size %zu is over the System V limit of %ld bytes "
		    "(" SYSV_MQ_PROC "msgmax)",
		    o->msg_size, msgmax);
	rc = ipcl_opt_int(o, sysv_mq_options, "qbytes", 0, 1LL << 31, &qbytes, c->err);
	if (rc)
		return rc;

	id = sysv_mq_create(c->err);
	if (id < 0)
		return id;
	if (msgctl(id, IPC_STAT, &ds) < 0) {
		rc = ipcl_seterr(c->err, -errno, "msgctl IPC_STAT: %s", strerror(errno));
		goto fail;
	}
	if (qbytes > 0) {
		ds.msg_qbytes = (msglen_t)qbytes;
		if (msgctl(id, IPC_SET, &ds) < 0) {
			rc = ipcl_seterr(c->err, -errno,
					 "msgctl IPC_SET msg_qbytes=%lld: %s (more than "
					 "kernel.msgmnb needs CAP_SYS_RESOURCE)",
					 qbytes, strerror(errno));
			goto fail;
		}
		/* IPC_SET changed msg_ctime: read it again for the address. */
		if (msgctl(id, IPC_STAT, &ds) < 0) {
			rc = ipcl_seterr(c->err, -errno, "msgctl IPC_STAT: %s",
					 strerror(errno));
			goto fail;
		}
	}
	if (o->msg_size > ds.msg_qbytes) {
		rc = ipcl_seterr(c->err, IPCL_ETOOBIG,
				 "message size %zu is over the %lu bytes the queue holds "
				 "(msg_qbytes; option qbytes)",
				 o->msg_size, (unsigned long)ds.msg_qbytes);
		goto fail;
	}
	snprintf(c->addr, sizeof c->addr, "msqid=%d ctime=%lld", id,
		 (long long)ds.msg_ctime);
	return 0;
fail:
	msgctl(id, IPC_RMID, NULL);
	return rc;
}

/* Make room for n bytes of mtext in the staging buffer. */
static int sysv_mq_reserve(struct sysv_mq_ep *se, size_t n)
{
	struct sysv_mq_msg *m;

	if (n <= se->bufcap && se->buf)
		return 0;
	m = realloc(se->buf, sizeof *m + n);
	if (!m)
		return -ENOMEM;
	se->buf = m;
	se->bufcap = n;
	return 0;
}

static int sysv_mq_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct sysv_mq_ep *se = ep->state;
	struct msqid_ds ds;
	long long ctime;
	size_t size = ep->chan->opts ? ep->chan->opts->msg_size : 0;

	se->id = -1;
	if (sysv_mq_parse(ep->chan->addr, &se->id, &ctime)) {
		se->id = -1;
		return ipcl_seterr(ep->err, -EINVAL, "bad channel address \"%s\"",
				   ep->chan->addr);
	}
	if (msgctl(se->id, IPC_STAT, &ds) < 0)
		return ipcl_seterr(ep->err, -errno, "msgctl msqid %d: %s", se->id,
				   strerror(errno));
	se->msgmax = proclimit_read(SYSV_MQ_PROC, "msgmax");
	if (se->msgmax < 0)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL,
				   "cannot read " SYSV_MQ_PROC "msgmax");
	if (sysv_mq_reserve(se, size > 0 ? size : 64))
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	return 0;
}

/*
 * One step of the finite-deadline poll: sleep for *backoff_ns (or until the
 * deadline, if sooner) and double *backoff_ns up to 1 ms. Returns 0 to try
 * again or -ETIMEDOUT once the deadline has passed.
 */
static int sysv_mq_backoff(int64_t deadline_ns, int64_t *backoff_ns)
{
	int64_t left = deadline_ns - ipcl_now_ns();
	int64_t d = *backoff_ns < left ? *backoff_ns : left;
	struct timespec ts;

	if (left <= 0)
		return -ETIMEDOUT;
	ts.tv_sec = d / 1000000000;
	ts.tv_nsec = d % 1000000000;
	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL); /* EINTR: just try again */
	*backoff_ns = *backoff_ns * 2 < SYSV_MQ_BACKOFF_MAX_NS ? *backoff_ns * 2
							       : SYSV_MQ_BACKOFF_MAX_NS;
	return 0;
}

/* Report a failed msgsnd/msgrcv; EIDRM/EINVAL mean the queue is gone. */
static int sysv_mq_fail(struct ipcl_ep *ep, const char *call, int e)
{
	struct sysv_mq_ep *se = ep->state;

	return ipcl_seterr(ep->err, -e, "%s msqid %d: %s%s", call, se->id, strerror(e),
			   e == EIDRM || e == EINVAL ? " (the queue was removed?)" : "");
}

static int sysv_mq_send(struct ipcl_ep *ep, const void *msg, size_t len,
			int64_t deadline_ns)
{
	struct sysv_mq_ep *se = ep->state;
	int64_t backoff = SYSV_MQ_BACKOFF_MIN_NS;
	int flags = deadline_ns == IPCL_FOREVER ? 0 : IPC_NOWAIT;
	int rc;

	/* No length check of ours: over kernel.msgmax, msgsnd() itself answers
	 * EINVAL (the oversize fault tests the kernel, not ipclab). */
	if (sysv_mq_reserve(se, len))
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	se->buf->mtype = SYSV_MQ_TYPE;
	memcpy(se->buf->mtext, msg, len);
	for (;;) {
		if (msgsnd(se->id, se->buf, len, flags) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINVAL && len > (size_t)se->msgmax)
			return ipcl_seterr(
			    ep->err, -EINVAL,
			    "msgsnd msqid %d: %zu bytes is over kernel.msgmax "
			    "(%ld): EINVAL",
			    se->id, len, se->msgmax);
		if (errno != EAGAIN)
			return sysv_mq_fail(ep, "msgsnd", errno);
		rc = sysv_mq_backoff(deadline_ns, &backoff);
		if (rc)
			return rc;
	}
}

/*
 * Without MSG_NOERROR a message larger than cap stays in the queue and msgrcv
 * fails with E2BIG: that is IPCL_ETRUNC, and the next recv() meets it again.
 */
static int sysv_mq_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			int64_t deadline_ns)
{
	struct sysv_mq_ep *se = ep->state;
	int64_t backoff = SYSV_MQ_BACKOFF_MIN_NS;
	int flags = deadline_ns == IPCL_FOREVER ? 0 : IPC_NOWAIT;
	ssize_t n;
	int rc;

	if (sysv_mq_reserve(se, cap))
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	for (;;) {
		n = msgrcv(se->id, se->buf, cap, SYSV_MQ_TYPE, flags);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == E2BIG)
			return ipcl_seterr(
			    ep->err, IPCL_ETRUNC,
			    "next message is larger than the %zu-byte buffer", cap);
		if (errno != ENOMSG)
			return sysv_mq_fail(ep, "msgrcv", errno);
		rc = sysv_mq_backoff(deadline_ns, &backoff);
		if (rc)
			return rc;
	}
	memcpy(buf, se->buf->mtext, (size_t)n);
	*len = (size_t)n;
	return 0;
}

/* The queue stays: it belongs to the channel, removed by teardown(). */
static void sysv_mq_close(struct ipcl_ep *ep)
{
	struct sysv_mq_ep *se = ep->state;

	free(se->buf);
	se->buf = NULL;
	se->bufcap = 0;
	se->id = -1;
}

/*
 * Remove the queue named by addr, but only if it is still the one setup()
 * made: same owner and creation time. A msqid that is gone (or was reused by
 * someone else after a crash) is left alone.
 */
static void sysv_mq_teardown(struct ipcl_chan *c)
{
	struct msqid_ds ds;
	long long ctime;
	int id;

	if (sysv_mq_parse(c->addr, &id, &ctime))
		return;
	if (msgctl(id, IPC_STAT, &ds) < 0)
		return;
	if (ds.msg_perm.cuid != geteuid() || (long long)ds.msg_ctime != ctime)
		return;
	msgctl(id, IPC_RMID, NULL);
}

const struct ipcl_transport ipcl_transport_sysv_mq = {
    .name = "sysv-mq",
    .summary = "System V message queue (msgget, msgsnd/msgrcv; deadlines by polling)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_MULTI_CONSUMER,
    .ep_state_size = sizeof(struct sysv_mq_ep),
    .options = sysv_mq_options,
    .probe = sysv_mq_probe,
    .setup = sysv_mq_setup,
    .teardown = sysv_mq_teardown,
    .open = sysv_mq_open,
    .send = sysv_mq_send,
    .recv = sysv_mq_recv,
    .close = sysv_mq_close,
};
