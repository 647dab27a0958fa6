/*
 * signal.c - signals as a message transport: "signal-rt" (a real-time signal,
 * SIGRTMIN+1 and up) and "signal-std" (SIGUSR1/SIGUSR2). Each message is one
 * signal sent to the consumer's process with rt_sigqueueinfo(2) - the system
 * call under sigqueue(3) - carrying up to 8 bytes in its union sigval, and
 * taken with sigwaitinfo(2) or sigtimedwait(2). No handler is ever installed:
 * the signal stays blocked in every thread, so it waits as pending until a
 * thread of the consumer's process asks for it.
 *
 * Real-time signals queue: every one sent is delivered, in order, until the
 * receiving user's RLIMIT_SIGPENDING is reached; past it the send fails with
 * EAGAIN and send() retries with a backoff (1 us doubling to 1 ms) until the
 * deadline. Standard signals do not queue: while one is pending, another of
 * the same number is merged into it and its value is lost, silently (the
 * sender sees success). signal-std is therefore IPCL_CAP_LOSSY, and shows it.
 *
 * The sender needs the consumer's process id: setup() makes a private
 * directory, the consumer's open() writes its pid into a file there, and each
 * producer's open() waits for that file. Each channel a process creates gets
 * its own signal number, so in thread mode (all endpoints in one process) the
 * thread waiting for that number is the one that receives it. The signal goes
 * to the process rather than to one thread (rt_tgsigqueueinfo) so that a
 * consumer may be opened in one thread and used in another. The message
 * length (0..8) travels in si_errno, which rt_sigqueueinfo lets the sender
 * fill. One consumer per channel. Left out: signal handlers, signalfd(2), and
 * an end-of-stream signal (the harness sends its end marker and has an idle
 * timeout).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h> /* ipcl_private_dir, ipcl_remove_dir */
#include <ipclab/transport.h>

#define SIG_PEER_FILE      "consumer" /* "pid\n" of the consumer process */
#define SIG_DIR_MAX        108
#define SIG_BACKOFF_MIN_NS 1000
#define SIG_BACKOFF_MAX_NS 1000000

enum sig_kind { SIG_RT, SIG_STD };

/*
 * Which channel of this process holds each signal number: its directory, or
 * "" when the number is free. Two live channels never share a number, so a
 * thread that consumes one channel and produces on another (ping-pong) cannot
 * take the wrong signal. Keyed by directory, not by channel state, so that a
 * teardown from the address alone releases the number too.
 */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static char sig_owner[_NSIG][SIG_DIR_MAX];

struct sig_ep {
	int signo;
	char dir[SIG_DIR_MAX];
	sigset_t set;     /* just signo */
	siginfo_t tmpl;   /* producer: what each send() fills in */
	pid_t pid;        /* producer: the consumer process */
	pthread_t waiter; /* consumer: the last thread known to block signo */
	int published;    /* consumer: the peer file is ours to remove */
};

static const struct ipcl_option sig_options[] = {
    {"signo", "0",
     "signal number (0: the lowest free one of SIGRTMIN+1..SIGRTMAX, or SIGUSR1 "
     "then SIGUSR2)"},
    {NULL, NULL, NULL},
};

/* Take signal number s for the channel in dir; 0 or -EBUSY. */
static int sig_claim(int s, const char *dir)
{
	int rc = -EBUSY;

	pthread_mutex_lock(&sig_lock);
	if (!sig_owner[s][0]) {
		snprintf(sig_owner[s], sizeof sig_owner[s], "%s", dir);
		rc = 0;
	}
	pthread_mutex_unlock(&sig_lock);
	return rc;
}

/* Give s back, if the channel in dir holds it. */
static void sig_release(int s, const char *dir)
{
	pthread_mutex_lock(&sig_lock);
	if (s > 0 && s < _NSIG && strcmp(sig_owner[s], dir) == 0)
		sig_owner[s][0] = '\0';
	pthread_mutex_unlock(&sig_lock);
}

/* Sleep *backoff_ns (capped by the deadline), then double it up to 1 ms. */
static int sig_backoff(int64_t deadline_ns, int64_t *backoff_ns)
{
	int64_t d = *backoff_ns;
	struct timespec ts;

	if (deadline_ns != IPCL_FOREVER) {
		int64_t left = deadline_ns - ipcl_now_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		if (left < d)
			d = left;
	}
	ts.tv_sec = d / 1000000000;
	ts.tv_nsec = d % 1000000000;
	clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL); /* EINTR: just try again */
	*backoff_ns =
	    *backoff_ns * 2 < SIG_BACKOFF_MAX_NS ? *backoff_ns * 2 : SIG_BACKOFF_MAX_NS;
	return 0;
}

static void sig_limit_fact(struct ipcl_probe *p, const char *key, rlim_t v)
{
	if (v == RLIM_INFINITY)
		ipcl_fact(p, key, "unlimited");
	else
		ipcl_fact(p, key, "%llu", (unsigned long long)v);
}

static int sig_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
		     enum sig_kind kind)
{
	struct rlimit rl;

	ipcl_fact(p, "sigrtmin", "%d", SIGRTMIN);
	ipcl_fact(p, "sigrtmax", "%d", SIGRTMAX);
	if (getrlimit(RLIMIT_SIGPENDING, &rl) == 0) {
		sig_limit_fact(p, "rlimit_sigpending_soft", rl.rlim_cur);
		sig_limit_fact(p, "rlimit_sigpending_hard", rl.rlim_max);
	}
	ipcl_fact(p, "sigval_bytes", "%zu", sizeof(union sigval));
	if (kind == SIG_RT) {
		ipcl_fact(p, "channels_max", "%d", SIGRTMAX - SIGRTMIN);
		ipcl_fact(p, "queued", "yes, up to RLIMIT_SIGPENDING; then EAGAIN");
		ipcl_fact(p, "backpressure", "send retries on EAGAIN (queue full)");
		ipcl_fact(p, "flow_control", "1");
	} else {
		ipcl_fact(p, "channels_max", "2");
		ipcl_fact(p, "queued", "no: a pending signal absorbs the next ones");
		ipcl_fact(p, "backpressure",
			  "none: a signal sent while one is pending "
			  "is merged into it (lost)");
		ipcl_fact(p, "flow_control", "0");
	}
	p->max_msg = sizeof(union sigval);
	return 0;
}

static int sig_rt_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return sig_probe(o, p, err, SIG_RT);
}

static int sig_std_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return sig_probe(o, p, err, SIG_STD);
}

/* Pick (or check the "signo" option) and claim a signal number for a channel. */
static int sig_pick(struct ipcl_chan *c, enum sig_kind kind, const char *dir, int *signo)
{
	long long want;
	int lo = kind == SIG_RT ? SIGRTMIN + 1 : SIGUSR1;
	int hi = kind == SIG_RT ? SIGRTMAX : SIGUSR2;
	int rc;

	rc = ipcl_opt_int(c->opts, sig_options, "signo", 0, SIGRTMAX, &want, c->err);
	if (rc)
		return rc;
	if (want) {
		if (kind == SIG_RT ? want < SIGRTMIN || want > SIGRTMAX
				   : want != SIGUSR1 && want != SIGUSR2)
			return ipcl_seterr(
			    c->err, IPCL_EINVAL, "option signo=%lld: want %s", want,
			    kind == SIG_RT ? "SIGRTMIN..SIGRTMAX"
					   : "SIGUSR1 or SIGUSR2 (10, 12)");
		if (sig_claim((int)want, dir))
			return ipcl_seterr(
			    c->err, -EBUSY,
			    "signal %lld is used by another channel of this "
			    "process",
			    want);
		*signo = (int)want;
		return 0;
	}
	for (int s = lo; s <= hi; s++) {
		if (kind == SIG_STD && s != SIGUSR1 && s != SIGUSR2)
			continue;
		if (sig_claim(s, dir) == 0) {
			*signo = s;
			return 0;
		}
	}
	return ipcl_seterr(
	    c->err, -EBUSY,
	    "all signals %d..%d are used by other channels of this process", lo, hi);
}

/*
 * Make the directory where the consumer publishes its pid, claim a signal
 * number and block it in this thread: role threads and fork+exec'd role
 * processes inherit the mask, so the signal is never acted on by default
 * (which would kill). chan->addr is "sig=N dir=PATH".
 */
static int sig_setup(struct ipcl_chan *c, enum sig_kind kind)
{
	char dir[SIG_DIR_MAX];
	sigset_t set;
	int rc, signo = 0;

	rc = ipcl_private_dir(dir, sizeof dir, c->opts->tag, c->err);
	if (rc)
		return rc;
	rc = sig_pick(c, kind, dir, &signo);
	if (rc)
		goto fail;
	sigemptyset(&set);
	sigaddset(&set, signo);
	rc = -pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc) {
		ipcl_seterr(c->err, rc, "pthread_sigmask: %s", strerror(-rc));
		goto fail;
	}
	snprintf(c->addr, sizeof c->addr, "sig=%d dir=%s", signo, dir);
	return 0;
fail:
	sig_release(signo, dir);
	ipcl_remove_dir(dir);
	return rc;
}

static int sig_rt_setup(struct ipcl_chan *c)
{
	return sig_setup(c, SIG_RT);
}

static int sig_std_setup(struct ipcl_chan *c)
{
	return sig_setup(c, SIG_STD);
}

/* Parse "sig=N dir=PATH"; 0 or -EINVAL. */
static int sig_parse(const char *addr, int *signo, char *dir)
{
	int off = -1;

	if (sscanf(addr, "sig=%d dir=%n", signo, &off) != 1 || off < 0)
		return -EINVAL;
	if (*signo < 1 || *signo > SIGRTMAX || addr[off] != '/' ||
	    strlen(addr + off) >= SIG_DIR_MAX)
		return -EINVAL;
	strcpy(dir, addr + off);
	return 0;
}

/* Take every instance of the signal pending for this thread (a previous
 * channel's leftovers) without waiting. */
static void sig_drain(const sigset_t *set)
{
	const struct timespec zero = {0, 0};
	siginfo_t si;

	while (sigtimedwait(set, &si, &zero) > 0 || errno == EINTR)
		;
}

/* Write our pid to a temporary file and rename it into place (atomic). */
static int sig_publish(struct ipcl_ep *ep, struct sig_ep *se)
{
	char tmp[SIG_DIR_MAX + 32], path[SIG_DIR_MAX + 32], line[64];
	int fd, n, rc = 0;

	snprintf(tmp, sizeof tmp, "%s/" SIG_PEER_FILE ".tmp", se->dir);
	snprintf(path, sizeof path, "%s/" SIG_PEER_FILE, se->dir);
	n = snprintf(line, sizeof line, "%d\n", (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ipcl_seterr(ep->err, -errno, "open %s: %s", tmp, strerror(errno));
	if (write(fd, line, (size_t)n) != n) {
		rc = ipcl_seterr(ep->err, errno ? -errno : -EIO, "write %s: %s", tmp,
				 strerror(errno ? errno : EIO));
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		rc = ipcl_seterr(ep->err, -errno, "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		rc = ipcl_seterr(ep->err, -errno, "rename %s: %s", path, strerror(errno));
		goto fail;
	}
	se->published = 1;
	return 0;
fail:
	unlink(tmp);
	return rc;
}

/* Wait until the consumer's file exists (or the deadline), then read it. */
static int sig_find_consumer(struct ipcl_ep *ep, struct sig_ep *se, int64_t deadline_ns)
{
	char path[SIG_DIR_MAX + 32], line[64];
	int64_t backoff = SIG_BACKOFF_MIN_NS;
	struct stat st;
	ssize_t n;
	int fd, rc;

	snprintf(path, sizeof path, "%s/" SIG_PEER_FILE, se->dir);
	if (stat(se->dir, &st) < 0)
		return ipcl_seterr(ep->err, -errno, "channel directory %s: %s", se->dir,
				   strerror(errno));
	while ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			return ipcl_seterr(ep->err, -errno, "open %s: %s", path,
					   strerror(errno));
		rc = sig_backoff(deadline_ns, &backoff);
		if (rc)
			return ipcl_seterr(ep->err, rc, "no consumer has opened %s",
					   se->dir);
	}
	do
		n = read(fd, line, sizeof line - 1);
	while (n < 0 && errno == EINTR);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc)
		return ipcl_seterr(ep->err, rc, "read %s: %s", path, strerror(-rc));
	line[n] = '\0';
	if (sscanf(line, "%d", &se->pid) != 1 || se->pid <= 0)
		return ipcl_seterr(ep->err, IPCL_EPROTO, "%s: malformed \"%s\"", path,
				   line);
	return 0;
}

/*
 * A signal sent to a process goes to any thread that does not block it, and
 * its default action ends the process. Check that every thread of this
 * process blocks signo (SigBlk in /proc/self/task/N/status), so that such a
 * mistake is an error here and not a dead process later.
 */
static int sig_check_threads(struct ipcl_ep *ep, int signo)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int rc = 0;

	if (!d)
		return 0; /* no /proc: nothing to check with */
	while (!rc && (e = readdir(d)) != NULL) {
		char path[64], line[128];
		unsigned long long blk;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%.20s/status", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread has just exited */
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "SigBlk: %llx", &blk) != 1)
				continue;
			if (!(blk >> (signo - 1) & 1))
				rc = ipcl_seterr(
				    ep->err, IPCL_EUNAVAIL,
				    "thread %s does not block signal %d, which "
				    "would kill the process: block it before "
				    "starting threads",
				    e->d_name, signo);
			break;
		}
		fclose(f);
	}
	closedir(d);
	return rc;
}

/*
 * Block the signal in this thread first (setup() did so in the creating
 * thread, but this one may have started earlier). A consumer then checks the
 * other threads, clears stale instances and publishes its pid; a producer
 * waits for that.
 */
static int sig_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct sig_ep *se = ep->state;
	int rc;

	if (sig_parse(ep->chan->addr, &se->signo, se->dir))
		return ipcl_seterr(ep->err, -EINVAL, "bad channel address \"%s\"",
				   ep->chan->addr);
	sigemptyset(&se->set);
	sigaddset(&se->set, se->signo);
	rc = -pthread_sigmask(SIG_BLOCK, &se->set, NULL);
	if (rc)
		return ipcl_seterr(ep->err, rc, "pthread_sigmask: %s", strerror(-rc));
	if (ep->role == IPCL_CONSUMER) {
		if (ep->index != 0)
			return ipcl_seterr(ep->err, -EINVAL,
					   "a signal channel has one consumer");
		se->waiter = pthread_self();
		rc = sig_check_threads(ep, se->signo);
		if (rc)
			return rc;
		sig_drain(&se->set);
		return sig_publish(ep, se);
	}
	rc = sig_find_consumer(ep, se, deadline_ns);
	if (rc)
		return rc;
	se->tmpl.si_signo = se->signo;
	se->tmpl.si_code = SI_QUEUE; /* what sigqueue(3) sends; must be < 0 */
	se->tmpl.si_pid = getpid();
	se->tmpl.si_uid = getuid();
	return 0;
}

/*
 * One signal per message, sent to the consumer's process. EAGAIN means the
 * receiver's RLIMIT_SIGPENDING is full of queued signals: wait with backoff
 * until it drains or the deadline passes. A standard signal that is already
 * pending is merged here without an error: the message is lost.
 */
static int sig_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct sig_ep *se = ep->state;
	int64_t backoff = SIG_BACKOFF_MIN_NS;
	siginfo_t si = se->tmpl;
	int rc;

	if (len > sizeof si.si_value)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "message of %zu bytes; a signal carries %zu", len,
				   sizeof si.si_value);
	si.si_errno = (int)len;
	memcpy(&si.si_value, msg, len);
	for (;;) {
		if (syscall(SYS_rt_sigqueueinfo, se->pid, se->signo, &si) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == ESRCH)
			return ipcl_seterr(ep->err, -ESRCH,
					   "rt_sigqueueinfo: consumer process %d is gone",
					   se->pid);
		if (errno != EAGAIN)
			return ipcl_seterr(ep->err, -errno, "rt_sigqueueinfo %d: %s",
					   se->pid, strerror(errno));
		rc = sig_backoff(deadline_ns, &backoff);
		if (rc)
			return rc;
	}
}

static int sig_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		    int64_t deadline_ns)
{
	struct sig_ep *se = ep->state;
	siginfo_t si;
	int r;

	/* A thread other than the one that opened: it must block signo too. */
	if (!pthread_equal(pthread_self(), se->waiter)) {
		r = pthread_sigmask(SIG_BLOCK, &se->set, NULL);
		if (r)
			return ipcl_seterr(ep->err, -r, "pthread_sigmask: %s",
					   strerror(r));
		se->waiter = pthread_self();
	}
	for (;;) {
		if (deadline_ns == IPCL_FOREVER) {
			r = sigwaitinfo(&se->set, &si);
		} else {
			int64_t left = deadline_ns - ipcl_now_ns();
			struct timespec ts;

			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			r = sigtimedwait(&se->set, &si, &ts);
		}
		if (r > 0)
			break;
		if (errno == EAGAIN)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return ipcl_seterr(ep->err, -errno, "sigwaitinfo: %s",
					   strerror(errno));
	}
	if (si.si_code != SI_QUEUE || si.si_errno < 0 ||
	    (size_t)si.si_errno > sizeof si.si_value)
		return ipcl_seterr(ep->err, IPCL_EPROTO,
				   "signal %d from pid %d (si_code %d) is not a message",
				   r, (int)si.si_pid, si.si_code);
	if ((size_t)si.si_errno > cap)
		return ipcl_seterr(ep->err, IPCL_ETRUNC,
				   "message of %d bytes, buffer of %zu", si.si_errno,
				   cap);
	memcpy(buf, &si.si_value, (size_t)si.si_errno);
	*len = (size_t)si.si_errno;
	return 0;
}

/*
 * A consumer withdraws its file and takes what is still pending, so that a
 * later channel using the same number in this process starts clean. The
 * signal stays blocked: one still in flight must not kill the process.
 */
static void sig_close(struct ipcl_ep *ep)
{
	struct sig_ep *se = ep->state;
	char path[SIG_DIR_MAX + 32];

	if (se->published) {
		snprintf(path, sizeof path, "%s/" SIG_PEER_FILE, se->dir);
		unlink(path);
		se->published = 0;
		sig_drain(&se->set);
	}
}

/*
 * Remove the directory and give the number back (a no-op in a process that did
 * not create the channel). The signal stays blocked in this thread: one still
 * in flight would otherwise kill the process.
 */
static void sig_teardown(struct ipcl_chan *c)
{
	char dir[SIG_DIR_MAX];
	int signo;

	if (sig_parse(c->addr, &signo, dir))
		return;
	ipcl_remove_dir(dir);
	sig_release(signo, dir);
}

const struct ipcl_transport ipcl_transport_signal_rt = {
    .name = "signal-rt",
    .summary = "real-time signal with an 8-byte sigval (sigqueue, sigwaitinfo)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct sig_ep),
    .options = sig_options,
    .probe = sig_rt_probe,
    .setup = sig_rt_setup,
    .teardown = sig_teardown,
    .open = sig_open,
    .send = sig_send,
    .recv = sig_recv,
    .close = sig_close,
};

const struct ipcl_transport ipcl_transport_signal_std = {
    .name = "signal-std",
    .summary = "SIGUSR1/SIGUSR2 with a sigval; pending signals merge, so it loses "
	       "messages",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_LOSSY,
    .ep_state_size = sizeof(struct sig_ep),
    .options = sig_options,
    .probe = sig_std_probe,
    .setup = sig_std_setup,
    .teardown = sig_teardown,
    .open = sig_open,
    .send = sig_send,
    .recv = sig_recv,
    .close = sig_close,
};
