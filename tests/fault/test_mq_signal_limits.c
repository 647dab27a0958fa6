/*
 * test_mq_signal_limits.c - what the queue and signal transports do at their
 * limits: a message over the kernel's limit is refused (IPCL_ETOOBIG), a full
 * queue makes a send time out instead of hanging, real-time signals past
 * RLIMIT_SIGPENDING make a send time out and lose nothing, and standard signals
 * merge (the lossiness signal-std declares). Every case runs its endpoints in
 * this one thread, so the outcome does not depend on scheduling.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/endpoint.h"
#include "engine/registry.h"
#include <testutil.h>

#define MS 1000000LL

struct fixture {
	const struct ipcl_transport *t;
	struct ipcl_test_opts to;
	struct ipcl_opts *o; /* &to.o */
	struct ipcl_chan *c;
	struct ipcl_ep *prod, *cons;
	char err[IPCL_ERR_MAX];
};

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Look the transport up (skip when it is not built) and set run options. */
static int fx_init(struct fixture *fx, const char *name, size_t size)
{
	memset(fx, 0, sizeof *fx);
	fx->t = ipcl_transport_find(name);
	if (!fx->t)
		return -1;
	fx->o = ipcl_test_opts(&fx->to, "lim", NULL, size, 1, NULL);
	return 0;
}

/* Create the channel and open a consumer, then a producer, in this thread. */
static void fx_open(struct fixture *fx)
{
	int64_t dl = ipcl_now_ns() + 2000 * MS;

	assert_int_equal(ipcl_chan_create(fx->t, fx->o, &fx->c, fx->err), 0);
	assert_int_equal(ipcl_ep_open(fx->c, IPCL_CONSUMER, 0, dl, &fx->cons, fx->err),
			 0);
	assert_int_equal(ipcl_ep_open(fx->c, IPCL_PRODUCER, 0, dl, &fx->prod, fx->err),
			 0);
}

static void fx_done(struct fixture *fx)
{
	ipcl_ep_close(fx->prod, IPCL_FOREVER);
	ipcl_ep_close(fx->cons, IPCL_FOREVER);
	ipcl_chan_destroy(fx->c);
}

static int fx_send(struct fixture *fx, uint64_t v, size_t len, int64_t timeout_ns)
{
	static char buf[8192];

	assert_true(len <= sizeof buf);
	memset(buf, 0, len);
	memcpy(buf, &v, len < sizeof v ? len : sizeof v);
	return fx->t->send(fx->prod, buf, len, ipcl_now_ns() + timeout_ns);
}

static int fx_recv(struct fixture *fx, uint64_t *v, int64_t timeout_ns)
{
	char buf[8192];
	size_t len = 0;
	int rc = fx->t->recv(fx->cons, buf, sizeof buf, &len, ipcl_now_ns() + timeout_ns);

	*v = 0;
	if (rc == 0)
		memcpy(v, buf, len < sizeof *v ? len : sizeof *v);
	return rc;
}

/* A message size over the kernel's limit is refused by setup(). */
static void test_mq_over_limit(void **state)
{
	static const struct {
		const char *name, *limit;
	} cases[] = {
	    {"posix-mq", "/proc/sys/fs/mqueue/msgsize_max"},
	    {"sysv-mq", "/proc/sys/kernel/msgmax"},
	};
	struct fixture fx;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long max = read_long(cases[i].limit);
		struct ipcl_chan *c = NULL;

		if (fx_init(&fx, cases[i].name, 64) || max < 0)
			continue;
		fx.o->msg_size = (size_t)max + 1;
		assert_int_equal(ipcl_chan_create(fx.t, fx.o, &c, fx.err), IPCL_ETOOBIG);
		assert_null(c);
		assert_non_null(strstr(fx.err, cases[i].limit));
		fx.o->msg_size = (size_t)max; /* the limit itself is fine */
		assert_int_equal(ipcl_chan_create(fx.t, fx.o, &c, fx.err), 0);
		ipcl_chan_destroy(c);
	}
}

/* With nobody receiving, a send into a full queue times out at its deadline. */
static void test_mq_full_times_out(void **state)
{
	const char *names[] = {"posix-mq", "sysv-mq"};
	struct fixture fx;

	for (size_t i = 0; i < 2; i++) {
		int rc = 0, sent = 0;
		uint64_t v;

		if (fx_init(&fx, names[i], 1024))
			continue;
		fx_open(&fx);
		while (sent < 100000 &&
		       (rc = fx_send(&fx, (uint64_t)sent, 1024, 10 * MS)) == 0)
			sent++;
		assert_int_equal(rc, -ETIMEDOUT);
		assert_true(sent > 0);
		for (int k = 0; k < sent; k++) {
			assert_int_equal(fx_recv(&fx, &v, 10 * MS), 0);
			assert_int_equal(v, (uint64_t)k);
		}
		assert_int_equal(fx_recv(&fx, &v, 1 * MS), -ETIMEDOUT);
		fx_done(&fx);
	}
}

/* teardown() from a fresh channel that knows only the address removes the queue. */
static void test_mq_teardown_from_addr(void **state)
{
	const char *names[] = {"posix-mq", "sysv-mq"};
	struct fixture fx;

	for (size_t i = 0; i < 2; i++) {
		struct ipcl_chan *c, *a;
		char addr[IPCL_ADDR_MAX];
		int id;
		long long ctime;

		if (fx_init(&fx, names[i], 64))
			continue;
		assert_int_equal(ipcl_chan_create(fx.t, fx.o, &c, fx.err), 0);
		snprintf(addr, sizeof addr, "%s", c->addr);
		ipcl_chan_release(c); /* "crash": no teardown */
		assert_int_equal(ipcl_chan_attach(fx.t, fx.o, addr, &a, fx.err), 0);
		ipcl_chan_destroy(a);
		assert_int_equal(ipcl_chan_attach(fx.t, fx.o, addr, &a, fx.err), 0);
		ipcl_chan_destroy(a); /* idempotent */
		if (i == 0) {
			assert_int_equal(mq_open(addr, O_RDONLY), -1);
			assert_int_equal(errno, ENOENT);
		} else {
			assert_int_equal(sscanf(addr, "msqid=%d ctime=%lld", &id, &ctime),
					 2);
			assert_int_equal(msgctl(id, IPC_STAT, &(struct msqid_ds){0}), -1);
		}
	}
}

/*
 * Real-time signals queue until the receiver's RLIMIT_SIGPENDING: lower it a
 * little above what this user has queued now, send without receiving until a
 * send times out, then receive every one that was accepted, in order.
 */
static void test_signal_rt_sigpending(void **state)
{
	struct fixture fx;
	struct rlimit old, low;
	long queued = -1;
	int rc = 0, sent = 0;
	uint64_t v;
	char line[256];
	FILE *f;

	if (fx_init(&fx, "signal-rt", 8))
		skip();
	f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "SigQ: %ld/", &queued) == 1)
			break;
	fclose(f);
	assert_true(queued >= 0);
	assert_int_equal(getrlimit(RLIMIT_SIGPENDING, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)queued + 8;
	assert_int_equal(setrlimit(RLIMIT_SIGPENDING, &low), 0);

	fx_open(&fx);
	while (sent < 10000 && (rc = fx_send(&fx, (uint64_t)sent + 1, 8, 5 * MS)) == 0)
		sent++;
	assert_int_equal(setrlimit(RLIMIT_SIGPENDING, &old), 0);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(sent < 10000); /* the limit was hit, not the loop's end */
	for (int k = 0; k < sent; k++) {
		assert_int_equal(fx_recv(&fx, &v, 100 * MS), 0);
		assert_int_equal(v, (uint64_t)k + 1);
	}
	assert_int_equal(fx_recv(&fx, &v, 1 * MS), -ETIMEDOUT);
	/* A signal carries 8 bytes. */
	assert_int_equal(fx_send(&fx, 1, 9, 5 * MS), IPCL_ETOOBIG);
	fx_done(&fx);
}

/* Five standard signals sent before the receiver looks: only the first stays. */
static void test_signal_std_merges(void **state)
{
	struct fixture fx;
	uint64_t v;

	if (fx_init(&fx, "signal-std", 8))
		skip();
	fx_open(&fx);
	for (uint64_t k = 1; k <= 5; k++)
		assert_int_equal(fx_send(&fx, k, 8, 100 * MS), 0); /* "sent" */
	assert_int_equal(fx_recv(&fx, &v, 100 * MS), 0);
	assert_int_equal(v, 1);
	assert_int_equal(fx_recv(&fx, &v, 5 * MS), -ETIMEDOUT); /* 2..5 are gone */
	fx_done(&fx);
}

/* The lengths 0..8 survive the trip (the length travels beside the sigval). */
static void test_signal_lengths(void **state)
{
	const char *names[] = {"signal-rt", "signal-std"};
	struct fixture fx;

	for (size_t i = 0; i < 2; i++) {
		if (fx_init(&fx, names[i], 8))
			continue;
		fx_open(&fx);
		for (size_t len = 0; len <= 8; len++) {
			char in[8] = "abcdefgh", out[16];
			size_t got = 99;

			assert_int_equal(fx.t->send(fx.prod, in, len, IPCL_FOREVER), 0);
			assert_int_equal(fx.t->recv(fx.cons, out, sizeof out, &got,
						    ipcl_now_ns() + 100 * MS),
					 0);
			assert_int_equal(got, len);
			assert_memory_equal(in, out, len);
		}
		fx_done(&fx);
	}
}

/* A thread that unblocks every signal, says so, and waits until told to end. */
static int unblocked_pipe[2], ready_pipe[2];

static void *unblocked_main(void *arg)
{
	sigset_t none;
	char c;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	while (write(ready_pipe[1], "r", 1) < 0 && errno == EINTR)
		;
	while (read(unblocked_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * A thread of the consumer's process that does not block the channel's signal
 * would be killed by the first message: the consumer's open() refuses. (No
 * signal is ever sent here.)
 */
static void test_signal_unblocked_thread(void **state)
{
	struct fixture fx;
	struct ipcl_ep *ep = NULL;
	pthread_t th;
	char c;

	if (fx_init(&fx, "signal-rt", 8))
		skip();
	assert_int_equal(pipe(unblocked_pipe), 0);
	assert_int_equal(pipe(ready_pipe), 0);
	assert_int_equal(pthread_create(&th, NULL, unblocked_main, NULL), 0);
	assert_int_equal(read(ready_pipe[0], &c, 1), 1); /* its mask is empty now */
	assert_int_equal(ipcl_chan_create(fx.t, fx.o, &fx.c, fx.err), 0);
	assert_int_equal(
	    ipcl_ep_open(fx.c, IPCL_CONSUMER, 0, ipcl_now_ns() + 1000 * MS, &ep, fx.err),
	    IPCL_EUNAVAIL);
	assert_null(ep);
	assert_non_null(strstr(fx.err, "does not block signal"));
	assert_int_equal(write(unblocked_pipe[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(unblocked_pipe[0]);
	close(unblocked_pipe[1]);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	ipcl_chan_destroy(fx.c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mq_over_limit),
	    cmocka_unit_test(test_mq_full_times_out),
	    cmocka_unit_test(test_mq_teardown_from_addr),
	    cmocka_unit_test(test_signal_rt_sigpending),
	    cmocka_unit_test(test_signal_std_merges),
	    cmocka_unit_test(test_signal_lengths),
	    cmocka_unit_test(test_signal_unblocked_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
