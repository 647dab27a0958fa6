/*
 * contract.c - the contract suite: the same cases run against every built-in
 * transport (`contract_suite NAME`, one ctest per transport). Endpoints are
 * threads of this process (opts.threads = 1); process mode is covered by the
 * end-to-end CLI tests. A transport that needs a server gets its URL from the
 * environment or a throwaway server started once for the suite.
 *
 * `contract_suite NAME -O name=value ...` runs it with transport options (ctest
 * contract.shm-sysv and the like). A transport whose probe says it cannot work
 * here (IPCL_EUNAVAIL) is skipped with the reason (exit status 77).
 *
 * Cases: round trip of sizes 1 B to the limit, message boundaries, EOF after
 * the producer closes, receive timeout, close after a failed open, teardown
 * leaves nothing behind (also from a fresh channel that knows only the
 * address, as after a crash), a message over the limit is refused, and for a
 * loan transport, messages written and read in place across ring wraps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/endpoint.h"
#include "engine/registry.h"
#include <ipclab/server.h>

#include "testutil.h"

#define SEC 1000000000LL

static const struct ipcl_transport *T;
static struct ipcl_server srv;
static char url[256]; /* "" when T needs no server */
/* -O options from the command line: "name", "value" pairs, NULL-terminated. */
static const char *optkv[2 * 15 + 1];

static int lossy(void)
{
	return (T->caps & IPCL_CAP_LOSSY) != 0;
}

static int reqrep(void)
{
	return (T->caps & IPCL_CAP_REQREP) != 0;
}

/* One channel's options: size-byte messages, 1 producer, 1 consumer, threads. */
static struct ipcl_opts *make_opts(struct ipcl_test_opts *t, size_t size)
{
	return ipcl_test_opts(t, "c", url[0] ? url : NULL, size, 1, optkv);
}

static size_t max_msg(void)
{
	struct ipcl_test_opts o;
	struct ipcl_probe p = {0};
	char err[IPCL_ERR_MAX] = "";

	make_opts(&o, 64);
	if (T->probe && T->probe(&o.o, &p, err) != 0)
		fail_msg("probe failed: %s", err);
	return p.max_msg;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 31 + i * 7 + 1);
}

/* A consumer thread: open, receive want messages (replying when req/rep), close. */
struct consumer {
	struct ipcl_chan *chan;
	size_t cap;
	int want, got, rc, eof_rc;
	int check_eof;
	int64_t deadline;
	unsigned char **msgs;
	size_t *lens;
	char err[IPCL_ERR_MAX];
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct ipcl_ep *ep = NULL;
	unsigned char *buf = malloc(c->cap ? c->cap : 1);

	c->rc = ipcl_ep_open(c->chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC, &ep,
			     c->err);
	if (c->rc)
		goto out;
	while (c->got < c->want) {
		size_t len = 0;
		int rc = T->recv(ep, buf, c->cap, &len, c->deadline);

		if (rc == -ETIMEDOUT && lossy())
			break;
		if (rc) {
			c->rc = rc;
			snprintf(c->err, sizeof c->err, "recv: %s (%.200s)",
				 ipcl_strerror(rc), ep->err);
			goto out;
		}
		c->msgs[c->got] = malloc(len ? len : 1);
		memcpy(c->msgs[c->got], buf, len);
		c->lens[c->got] = len;
		c->got++;
		if (T->ack)
			assert_int_equal(T->ack(ep), 0);
		if (reqrep()) {
			c->rc = T->reply(ep, buf, len, ipcl_now_ns() + 10 * SEC);
			if (c->rc)
				goto out;
		}
	}
	if (c->check_eof) {
		size_t len;

		c->eof_rc = T->recv(ep, buf, c->cap, &len, ipcl_now_ns() + 5 * SEC);
	}
out:
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	free(buf);
	return NULL;
}

/*
 * Send n messages of the given lengths over a fresh channel and check that they
 * arrive whole, in order, each on its own. Lossy transports may drop some: what
 * arrives must still be intact and in order, and something must arrive.
 */
static void exchange(size_t cap, int n, const size_t *lens, int gap_us)
{
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	struct consumer c = {0};
	pthread_t th;
	char err[IPCL_ERR_MAX] = "";
	unsigned char *buf = malloc(cap), *reply = malloc(cap);
	int rc, next = 0;

	make_opts(&o, cap);
	rc = ipcl_chan_create(T, &o.o, &chan, err);
	if (rc)
		fail_msg("setup (size %zu): %s", cap, err);
	c.chan = chan;
	c.cap = cap;
	c.want = n;
	c.deadline = ipcl_now_ns() + (lossy() ? 3 : 30) * SEC;
	c.msgs = calloc((size_t)n, sizeof *c.msgs);
	c.lens = calloc((size_t)n, sizeof *c.lens);
	assert_int_equal(pthread_create(&th, NULL, consumer_main, &c), 0);
	rc = ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &ep, err);
	if (rc) {
		pthread_join(th, NULL);
		fail_msg("producer open: %s", err);
	}
	for (int i = 0; i < n; i++) {
		fill(buf, lens[i], (unsigned)i);
		rc = T->send(ep, buf, lens[i], ipcl_now_ns() + 20 * SEC);
		if (rc)
			fail_msg("send %d (%zu B): %s (%s)", i, lens[i],
				 ipcl_strerror(rc), ep->err);
		if (reqrep()) {
			size_t rlen;

			rc = T->recv(ep, reply, cap, &rlen, ipcl_now_ns() + 20 * SEC);
			if (rc)
				fail_msg("reply %d: %s", i, ipcl_strerror(rc));
			assert_int_equal(rlen, lens[i]);
			assert_memory_equal(reply, buf, lens[i]);
		}
		if (gap_us)
			usleep((useconds_t)gap_us);
	}
	rc = ipcl_ep_close(ep, ipcl_now_ns() + 10 * SEC);
	assert_int_equal(rc, 0);
	pthread_join(th, NULL);
	if (c.rc)
		fail_msg("consumer: %s", c.err);
	if (!lossy())
		assert_int_equal(c.got, n);
	assert_true(c.got > 0);
	for (int i = 0; i < c.got; i++) {
		/* Find which message this is (lossy channels may skip some): by content.
		 */
		for (; next < n; next++) {
			fill(buf, lens[next], (unsigned)next);
			if (c.lens[i] == lens[next] &&
			    memcmp(c.msgs[i], buf, lens[next]) == 0)
				break;
			if (!lossy())
				fail_msg("message %d (%zu B) is not message %d as sent",
					 i, c.lens[i], next);
		}
		if (next >= n)
			fail_msg(
			    "message %d (%zu B) matches no message sent after the one "
			    "before it",
			    i, c.lens[i]);
		next++;
		free(c.msgs[i]);
	}
	free(c.msgs);
	free(c.lens);
	free(buf);
	free(reply);
	ipcl_chan_destroy(chan);
}

static void test_round_trip_sizes(void **state)
{
	size_t sizes[] = {1, 2, 31, 32, 64, 1000, 4096, 65536, 1 << 20};
	size_t lim = max_msg();

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t s = sizes[i], l[2];

		if (lim && s > lim)
			continue;
		l[0] = s;
		l[1] = s;
		exchange(s, 2, l, lossy() ? 2000 : 0);
	}
	if (lim && lim <= (1 << 20)) {
		size_t l[1] = {lim};

		exchange(lim, 1, l, 0);
	}
}

static void test_boundaries(void **state)
{
	size_t lim = max_msg(), cap = 256, lens[40];

	if (lim && lim < cap)
		cap = lim;
	for (int i = 0; i < 40; i++)
		lens[i] = 1 + (size_t)(i * 37) % cap;
	exchange(cap, 40, lens, lossy() ? 2000 : 0);
}

static void test_eof(void **state)
{
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	struct consumer c = {0};
	pthread_t th;
	char err[IPCL_ERR_MAX];
	unsigned char msg[64];

	if (!(T->caps & IPCL_CAP_HAS_EOF))
		skip(); /* the harness ends such channels with an end marker */
	make_opts(&o, sizeof msg);
	assert_int_equal(ipcl_chan_create(T, &o.o, &chan, err), 0);
	c.chan = chan;
	c.cap = sizeof msg;
	c.want = 1;
	c.check_eof = 1;
	c.deadline = ipcl_now_ns() + 20 * SEC;
	c.msgs = calloc(1, sizeof *c.msgs);
	c.lens = calloc(1, sizeof *c.lens);
	assert_int_equal(pthread_create(&th, NULL, consumer_main, &c), 0);
	assert_int_equal(
	    ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &ep, err), 0);
	fill(msg, sizeof msg, 1);
	assert_int_equal(T->send(ep, msg, sizeof msg, IPCL_FOREVER), 0);
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	pthread_join(th, NULL);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.got, 1);
	assert_int_equal(c.eof_rc, IPCL_EOF);
	free(c.msgs[0]);
	free(c.msgs);
	free(c.lens);
	ipcl_chan_destroy(chan);
}

struct opener {
	struct ipcl_chan *chan;
	struct ipcl_ep *ep;
	int rc;
	char err[IPCL_ERR_MAX];
};

static void *open_consumer(void *arg)
{
	struct opener *op = arg;

	op->rc = ipcl_ep_open(op->chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC,
			      &op->ep, op->err);
	return NULL;
}

static void test_timeout(void **state)
{
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	struct opener op = {0};
	pthread_t th;
	char err[IPCL_ERR_MAX];
	unsigned char buf[64];
	size_t len;
	int64_t t0, el;
	int rc;

	make_opts(&o, sizeof buf);
	assert_int_equal(ipcl_chan_create(T, &o.o, &chan, err), 0);
	op.chan = chan;
	assert_int_equal(pthread_create(&th, NULL, open_consumer, &op), 0);
	rc = ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &ep, err);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(op.rc, 0);
	t0 = ipcl_now_ns();
	rc = T->recv(op.ep, buf, sizeof buf, &len, t0 + SEC / 5);
	el = ipcl_now_ns() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(el >= SEC / 5 - SEC / 100); /* not early ... */
	assert_true(el < 5 * SEC);              /* ... and not stuck */
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	ipcl_ep_close(op.ep, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
}

static void test_close_after_failed_open(void **state)
{
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	char err[IPCL_ERR_MAX] = "";
	const char *bad[] = {"", "garbage that is no address"};

	make_opts(&o, 64);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		for (int role = 0; role < 2; role++) {
			assert_int_equal(ipcl_chan_attach(T, &o.o, bad[i], &chan, err),
					 0);
			err[0] = 0;
			/* ipcl_ep_open calls close() after the failed open(). */
			assert_int_not_equal(ipcl_ep_open(chan, (enum ipcl_role)role, 0,
							  ipcl_now_ns() + SEC, &ep, err),
					     0);
			assert_null(ep);
			assert_true(err[0] != 0);
			ipcl_chan_release(chan);
		}
	}
}

static void test_cleanup(void **state)
{
	static char before[65536], after[65536];
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL, *again = NULL;
	char err[IPCL_ERR_MAX];
	size_t l[3] = {40, 50, 60}, lim = max_msg();

	for (int i = 0; i < 3; i++)
		if (lim && l[i] > lim)
			l[i] = lim - (size_t)i % lim;
	ipcl_test_leftovers(before, sizeof before);
	exchange(lim && lim < 64 ? lim : 64, 3, l, lossy() ? 2000 : 0);
	ipcl_test_leftovers(after, sizeof after);
	assert_string_equal(before, after);

	/* A crash: the creator is gone; a fresh process knows only the address. */
	make_opts(&o, 64);
	assert_int_equal(ipcl_chan_create(T, &o.o, &chan, err), 0);
	assert_int_equal(ipcl_chan_attach(T, &o.o, chan->addr, &again, err), 0);
	if (T->detach)
		T->detach(chan); /* drop the creator's descriptors, as a dead one would */
	ipcl_chan_release(chan);
	ipcl_chan_destroy(again);
	ipcl_test_leftovers(after, sizeof after);
	assert_string_equal(before, after);
}

static void test_too_big(void **state)
{
	size_t lim = max_msg();
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	struct opener op = {0};
	pthread_t th;
	char err[IPCL_ERR_MAX];
	unsigned char *buf;
	int rc;

	if (!lim || lim >= (64u << 20))
		skip(); /* no limit to cross (or too big to allocate in a test) */
	make_opts(&o, lim + 1);
	rc = ipcl_chan_create(T, &o.o, &chan, err);
	if (rc) {
		/* Refused at setup: fine, as long as it says why. */
		assert_true(rc == IPCL_ETOOBIG || rc == IPCL_EINVAL || rc == -EMSGSIZE);
		return;
	}
	op.chan = chan;
	assert_int_equal(pthread_create(&th, NULL, open_consumer, &op), 0);
	rc = ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &ep, err);
	pthread_join(th, NULL);
	assert_int_equal(rc, 0);
	buf = calloc(1, lim + 1);
	rc = T->send(ep, buf, lim + 1, ipcl_now_ns() + 5 * SEC);
	/* The transport's own check, or the kernel's: mq_send EMSGSIZE, msgsnd EINVAL. */
	assert_true(rc == IPCL_ETOOBIG || rc == -EMSGSIZE || rc == -EINVAL);
	free(buf);
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	ipcl_ep_close(op.ep, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
}

/*
 * Loan transports (loan/publish/peek/release): in one thread, on a 4 KiB ring,
 * 200 messages of 1..1500 bytes are written in place and read in place, so
 * that the ring wraps many times (a loaned payload must still be contiguous);
 * a message published shorter than its loan; peek sees exactly what was
 * written; release without a peek fails; a loan over the limit is refused.
 */
static void test_loan(void **state)
{
	static const char *const kv[] = {"ring", "4k", NULL};
	struct ipcl_test_opts o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *pe = NULL, *ce = NULL;
	struct ipcl_probe p = {0};
	char err[IPCL_ERR_MAX] = "";
	unsigned char want[1500];
	const void *msg;
	void *slot;
	size_t len;

	if (!T->loan)
		skip(); /* copies with send/recv only */
	assert_non_null(T->publish);
	assert_non_null(T->peek);
	assert_non_null(T->release);
	ipcl_test_opts(&o, "c", url[0] ? url : NULL, sizeof want, 1, kv);
	assert_int_equal(T->probe(&o.o, &p, err), 0);
	assert_true(p.max_msg >= sizeof want && p.max_msg < 4096);
	assert_int_equal(ipcl_chan_create(T, &o.o, &chan, err), 0);
	assert_int_equal(
	    ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &pe, err), 0);
	assert_int_equal(
	    ipcl_ep_open(chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC, &ce, err), 0);
	assert_int_not_equal(T->release(ce), 0);
	for (int i = 0; i < 200; i++) {
		size_t n = 1 + (size_t)(i * 409) % sizeof want, pub = n - (i % 3 == 0);

		if (!pub)
			pub = 1;
		fill(want, n, (unsigned)i);
		assert_int_equal(T->loan(pe, n, &slot, ipcl_now_ns() + 5 * SEC), 0);
		memcpy(slot, want, pub);
		assert_int_equal(T->publish(pe, pub), 0);
		assert_int_equal(T->peek(ce, &msg, &len, ipcl_now_ns() + 5 * SEC), 0);
		assert_int_equal(len, pub);
		assert_memory_equal(msg, want, pub);
		assert_int_equal(T->release(ce), 0);
	}
	/* Empty again: a peek times out. */
	assert_int_equal(T->peek(ce, &msg, &len, ipcl_now_ns() + 20000000), -ETIMEDOUT);
	assert_int_equal(T->loan(pe, p.max_msg + 1, &slot, ipcl_now_ns() + SEC),
			 IPCL_ETOOBIG);
	ipcl_ep_close(pe, ipcl_now_ns() + 5 * SEC);
	ipcl_ep_close(ce, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_sizes),
	    cmocka_unit_test(test_boundaries),
	    cmocka_unit_test(test_eof),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_close_after_failed_open),
	    cmocka_unit_test(test_cleanup),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_loan),
	};
	static char keys[15][40];
	char err[IPCL_ERR_MAX] = "", name[256];
	int rc, n = 0;

	if (argc < 2 || !(T = ipcl_transport_find(argv[1]))) {
		fprintf(stderr, "usage: contract_suite TRANSPORT [-O name=value]...\n");
		return 2;
	}
	snprintf(name, sizeof name, "contract.%s", T->name);
	for (int i = 2; i < argc; i += 2) {
		const char *eq = i + 1 < argc ? strchr(argv[i + 1], '=') : NULL;

		if (strcmp(argv[i], "-O") != 0 || !eq || eq == argv[i + 1] ||
		    (size_t)(eq - argv[i + 1]) >= sizeof keys[0] || n >= 15) {
			fprintf(stderr, "contract_suite: want -O name=value, not '%s'\n",
				argv[i]);
			return 2;
		}
		snprintf(keys[n], sizeof keys[n], "%.*s", (int)(eq - argv[i + 1]),
			 argv[i + 1]);
		optkv[2 * n] = keys[n];
		optkv[2 * n + 1] = eq + 1;
		n++;
		snprintf(name + strlen(name), sizeof name - strlen(name), " %s",
			 argv[i + 1]);
	}
	signal(SIGPIPE, SIG_IGN);
	if (T->server) {
		const char *u = ipcl_test_server_url(T->server, &srv, err);

		if (!u) {
			fprintf(stderr, "contract %s: no server: %s\n", T->name, err);
			return 1;
		}
		snprintf(url, sizeof url, "%s", u);
	}
	/* A transport that cannot work here is skipped, with the reason. */
	if (T->probe) {
		struct ipcl_test_opts o;
		struct ipcl_probe p = {0};

		if (T->probe(make_opts(&o, 64), &p, err) == IPCL_EUNAVAIL) {
			printf("%s: skipped, unavailable here: %s\n", name, err);
			if (srv.pid)
				ipcl_server_stop(&srv);
			return 77;
		}
	}
	rc = _cmocka_run_group_tests(name, tests, sizeof tests / sizeof tests[0], NULL,
				     NULL);
	if (srv.pid)
		ipcl_server_stop(&srv);
	return rc;
}
