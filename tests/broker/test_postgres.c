/*
 * test_postgres.c - the PostgreSQL launcher and the pg-outbox transport against
 * a real server: IPCLAB_PG_URL when set, else one throwaway server started once
 * for this program (and stopped by the last test, which checks that it is gone).
 *
 * Covers: round trips under every wake/mode/commit variant, batching (rows are
 * invisible until COMMIT), two consumers draining one table (together exactly
 * every row, none twice), give-back of unhanded rows on close, what a consumer
 * crash does under commit=claim (at-most-once) and commit=processed
 * (at-least-once), teardown from the address alone, and a down or silent server
 * (an error naming the URL, without the password, within connect_timeout).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "engine/endpoint.h"
#include "engine/registry.h"
#include <ipclab/server.h>
#include <ipclab/transport.h>

#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#define HAVE_LIBPQ 1
#else
#define HAVE_LIBPQ 0
#endif

#define SEC 1000000000LL

#if HAVE_LIBPQ

static const struct ipcl_transport *T;
static struct ipcl_server srv;
static int own_server;
static char url[256];
static PGconn *admin; /* our own connection for checks */

/* The options of one channel, with a fresh tag: url, then extra "k=v k=v". */
static void mkopts(struct ipcl_test_opts *c, size_t msg_size, const char *extra)
{
	char buf[256], *save = NULL, *tok;

	ipcl_test_opts(c, "pgtest-", url, msg_size, 2, NULL);
	snprintf(buf, sizeof buf, "%s", extra ? extra : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *v = strchr(tok, '=');

		assert_non_null(v);
		*v++ = 0;
		snprintf(c->kv[c->o.nkv].key, sizeof c->kv[0].key, "%s", tok);
		snprintf(c->kv[c->o.nkv].val, sizeof c->kv[0].val, "%s", v);
		c->o.nkv++;
	}
}

/* One integer from a query on our own connection. */
static long long sql_int(const char *fmt, ...)
{
	char q[512];
	va_list ap;
	PGresult *r;
	long long v;

	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	r = PQexec(admin, q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* The table's name, from the address setup() wrote ("name=<stem> ..."). */
static void table_of(const struct ipcl_chan *c, char *out, size_t cap)
{
	const char *p = strstr(c->addr, "name=");

	assert_non_null(p);
	snprintf(out, cap, "ipcl_outbox_%.*s", (int)strcspn(p + 5, " "), p + 5);
}

static int table_exists(const char *table)
{
	return sql_int("SELECT to_regclass('%s') IS NOT NULL::int", table) ? 1 : 0;
}

/* Message i: its number, then bytes derived from it; length varies, 0 included. */
static size_t mkmsg(unsigned char *buf, uint32_t i)
{
	size_t len = i % 7 == 0 ? 0 : 4 + i % 300;

	for (size_t k = 0; k < len; k++)
		buf[k] =
		    k < 4 ? (unsigned char)(i >> (8 * k)) : (unsigned char)(i * 31 + k);
	return len;
}

static void check_msg(const unsigned char *buf, size_t len, uint32_t i)
{
	unsigned char want[512];
	size_t n = mkmsg(want, i);

	assert_int_equal(len, n);
	assert_memory_equal(buf, want, n);
}

static uint32_t msg_num(const unsigned char *buf, size_t len)
{
	assert_true(len >= 4);
	return buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24;
}

static int group_setup(void **state)
{
	char err[IPCL_ERR_MAX] = "";
	const char *env;

	T = ipcl_transport_find("pg-outbox");
	if (!T)
		return 0;
	env = ipcl_test_server_url("postgres", &srv, err);
	if (!env) {
		fprintf(stderr, "cannot start a postgres server: %s\n", err);
		return -1;
	}
	own_server = srv.pid != 0;
	snprintf(url, sizeof url, "%s", env);
	admin = PQconnectdb(url);
	if (PQstatus(admin) != CONNECTION_OK) {
		char shown[256];

		ipcl_url_redact(url, shown, sizeof shown);
		fprintf(stderr, "cannot connect to %s: %s", shown, PQerrorMessage(admin));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char q[512];

	if (admin) {
		/* A failed test skips its teardown: drop whatever this program left. */
		snprintf(
		    q, sizeof q,
		    "DO $$DECLARE r record; BEGIN FOR r IN SELECT relname FROM pg_class "
		    "WHERE relkind = 'r' AND relname LIKE "
		    "'ipcl\\_outbox\\_pgtest\\_%d\\_%%' "
		    "LOOP EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(r.relname) || "
		    "' CASCADE'; EXECUTE 'DROP FUNCTION IF EXISTS ' || "
		    "quote_ident(r.relname || '_notify') || '()'; END LOOP; END$$",
		    (int)getpid());
		PQclear(PQexec(admin, q));
		PQfinish(admin);
	}
	admin = NULL;
	if (own_server && srv.pid)
		ipcl_server_stop(&srv);
	return 0;
}

#define NEED_TRANSPORT()        \
	do {                    \
		if (!T)         \
			skip(); \
	} while (0)

static void test_probe(void **state)
{
	struct ipcl_test_opts c;
	struct ipcl_probe p = {0};
	char err[IPCL_ERR_MAX] = "";
	int have_version = 0, have_fsync = 0;

	NEED_TRANSPORT();
	mkopts(&c, 64, NULL);
	assert_int_equal(T->probe(&c.o, &p, err), 0);
	assert_int_equal(p.max_msg, 256u << 20);
	for (int i = 0; i < p.n; i++) {
		have_version |=
		    strcmp(p.kv[i].key, "server_version") == 0 && p.kv[i].val[0];
		have_fsync |= strcmp(p.kv[i].key, "fsync") == 0 && p.kv[i].val[0];
	}
	assert_true(have_version);
	assert_true(have_fsync);
}

/*
 * Round trip under one set of options: the consumer opens on a channel known
 * only by its address, as an exec'd role would; every message arrives once, in
 * order, intact; an empty table times out; teardown drops the table.
 */
static void roundtrip(const char *extra)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch, *att;
	struct ipcl_ep *p, *q;
	char err[IPCL_ERR_MAX] = "", table[80];
	unsigned char buf[512];
	size_t len;
	const int n = 300;

	mkopts(&c, 512, extra);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	table_of(ch, table, sizeof table);
	assert_true(table_exists(table));
	assert_int_equal(ipcl_chan_attach(T, &c.o, ch->addr, &att, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	assert_int_equal(
	    ipcl_ep_open(att, IPCL_CONSUMER, 0, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		len = mkmsg(buf, i);
		assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	}
	assert_int_equal(T->flush(p, ipcl_now_ns() + 10 * SEC), 0);
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		int rc = T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC);

		if (rc)
			fail_msg("recv %u under '%s': %s (%s)", i, extra,
				 ipcl_errname(rc), q->err);
		check_msg(buf, len, i);
	}
	assert_int_equal(T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + SEC / 5),
			 -ETIMEDOUT);
	/* A message sent now wakes a consumer that is already waiting. */
	len = mkmsg(buf, 1);
	assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	assert_int_equal(T->flush(p, IPCL_FOREVER), 0);
	assert_int_equal(T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
	check_msg(buf, len, 1);
	assert_int_equal(ipcl_ep_close(p, IPCL_FOREVER), 0);
	ipcl_ep_close(q, IPCL_FOREVER);
	ipcl_chan_release(att);
	ipcl_chan_destroy(ch);
	assert_false(table_exists(table));
}

static void test_roundtrip_notify(void **state)
{
	NEED_TRANSPORT();
	roundtrip("wake=notify");
}

static void test_roundtrip_poll(void **state)
{
	NEED_TRANSPORT();
	roundtrip("wake=poll poll_ms=2");
}

static void test_roundtrip_variants(void **state)
{
	static const char *const variants[] = {
	    "mode=mark",
	    "commit=processed",
	    "mode=mark commit=processed wake=poll",
	    "sync_commit=off claim=1",
	    "batch=10",
	};

	NEED_TRANSPORT();
	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
		roundtrip(variants[i]);
}

/* batch=10: rows become visible ten at a time; flush() commits the rest. */
static void test_batch(void **state)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	struct ipcl_ep *p, *q;
	char err[IPCL_ERR_MAX] = "";
	unsigned char buf[512];
	size_t len;

	NEED_TRANSPORT();
	mkopts(&c, 512, "batch=10");
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (uint32_t i = 0; i < 25; i++) {
		len = mkmsg(buf, i);
		assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	}
	for (uint32_t i = 0; i < 20; i++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, i);
	}
	/* The last five sit in the producer's open transaction. */
	assert_int_equal(T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + SEC / 5),
			 -ETIMEDOUT);
	assert_int_equal(T->flush(p, ipcl_now_ns() + 10 * SEC), 0);
	for (uint32_t i = 20; i < 25; i++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, i);
	}
	ipcl_ep_close(p, IPCL_FOREVER);
	ipcl_ep_close(q, IPCL_FOREVER);
	ipcl_chan_destroy(ch);
}

#define DRAIN_N 2000

struct drainer {
	pthread_t th;
	struct ipcl_ep *ep;
	const volatile int *done; /* the producer has flushed everything */
	unsigned short *seen;     /* shared: per message, times received */
	pthread_mutex_t *mu;
	int got, err;
	char msg[IPCL_ERR_MAX];
};

/* Receive until the producer is done and the table stays empty for 1 s. */
static void *drain(void *arg)
{
	struct drainer *d = arg;
	unsigned char buf[512];
	size_t len;

	for (;;) {
		int done = *d->done;
		int rc = T->recv(d->ep, buf, sizeof buf, &len, ipcl_now_ns() + SEC);

		if (rc == -ETIMEDOUT && done)
			break;
		if (rc == -ETIMEDOUT)
			continue;
		if (rc || len < 4) {
			d->err = rc ? rc : -EPROTO;
			snprintf(d->msg, sizeof d->msg, "%s", d->ep->err);
			break;
		}
		uint32_t i = msg_num(buf, len);

		pthread_mutex_lock(d->mu);
		if (i < DRAIN_N)
			d->seen[i]++;
		pthread_mutex_unlock(d->mu);
		d->got++;
	}
	return NULL;
}

static void two_consumers(const char *extra)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	struct ipcl_ep *p;
	struct drainer d[2];
	static unsigned short seen[DRAIN_N];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	volatile int done = 0;
	char err[IPCL_ERR_MAX] = "", table[80];
	unsigned char buf[512];
	size_t len;

	memset(seen, 0, sizeof seen);
	mkopts(&c, 512, extra);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	table_of(ch, table, sizeof table);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	for (int k = 0; k < 2; k++) {
		d[k] = (struct drainer){.done = &done, .seen = seen, .mu = &mu};
		assert_int_equal(ipcl_ep_open(ch, IPCL_CONSUMER, k,
					      ipcl_now_ns() + 10 * SEC, &d[k].ep, err),
				 0);
		assert_int_equal(pthread_create(&d[k].th, NULL, drain, &d[k]), 0);
	}
	for (uint32_t i = 0; i < DRAIN_N; i++) {
		len = mkmsg(buf, i);
		if (len < 4) { /* every message must carry its number here */
			for (int k = 0; k < 4; k++)
				buf[k] = (unsigned char)(i >> (8 * k));
			len = 4;
		}
		assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	}
	assert_int_equal(T->flush(p, IPCL_FOREVER), 0);
	done = 1;
	for (int k = 0; k < 2; k++) {
		pthread_join(d[k].th, NULL);
		if (d[k].err)
			fail_msg("consumer %d under '%s': %s", k, extra, d[k].msg);
		ipcl_ep_close(d[k].ep, IPCL_FOREVER);
	}
	assert_int_equal(d[0].got + d[1].got, DRAIN_N);
	for (int i = 0; i < DRAIN_N; i++)
		if (seen[i] != 1)
			fail_msg("'%s': message %d received %d times", extra, i, seen[i]);
	/* Nothing is left to claim. */
	assert_int_equal(
	    sql_int("SELECT count(*) FROM %s WHERE processed_at IS NULL", table), 0);
	ipcl_ep_close(p, IPCL_FOREVER);
	ipcl_chan_destroy(ch);
	assert_false(table_exists(table));
}

static void test_two_consumers(void **state)
{
	static const char *const variants[] = {
	    "claim=10 batch=20",
	    "claim=10 batch=20 mode=mark",
	    "claim=10 batch=20 commit=processed",
	    "claim=7 wake=poll poll_ms=1 batch=5",
	    "claim=1",
	};

	NEED_TRANSPORT();
	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
		two_consumers(variants[i]);
}

/*
 * A consumer that stops after 3 of 10 claimed rows and closes gives the other
 * 7 back: the next consumer receives exactly those, in order.
 */
static void giveback(const char *extra)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	struct ipcl_ep *p, *q;
	char err[IPCL_ERR_MAX] = "";
	unsigned char buf[512];
	size_t len;

	mkopts(&c, 512, extra);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	for (uint32_t i = 0; i < 10; i++) {
		len = mkmsg(buf, i);
		assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	}
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, i);
	}
	ipcl_ep_close(q, IPCL_FOREVER);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 1, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (uint32_t i = 3; i < 10; i++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, i);
	}
	assert_int_equal(T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + SEC / 5),
			 -ETIMEDOUT);
	ipcl_ep_close(q, IPCL_FOREVER);
	ipcl_ep_close(p, IPCL_FOREVER);
	ipcl_chan_destroy(ch);
}

static void test_giveback_on_close(void **state)
{
	NEED_TRANSPORT();
	giveback("claim=100");
	giveback("claim=100 mode=mark");
	giveback("claim=100 commit=processed");
}

/* Kill the server session of the consumer of table (its last query names it). */
static void kill_consumer_session(const char *table)
{
	assert_int_equal(sql_int("SELECT count(pg_terminate_backend(pid)) FROM "
				 "pg_stat_activity WHERE pid <> pg_backend_pid() AND "
				 "query LIKE '%%%s %%'",
				 table),
			 1);
}

/*
 * A consumer dies (its session is killed) holding 10 claimed rows of which it
 * handed out 3. commit=claim: the 7 others are gone (at-most-once).
 * commit=processed: all 10 come back, the 3 handed out again (at-least-once).
 */
static void crash(const char *extra, uint32_t first_again, int again)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	struct ipcl_ep *p, *q;
	char err[IPCL_ERR_MAX] = "", table[80];
	unsigned char buf[512];
	size_t len;

	mkopts(&c, 512, extra);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	table_of(ch, table, sizeof table);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	for (uint32_t i = 0; i < 10; i++) {
		len = mkmsg(buf, i);
		assert_int_equal(T->send(p, buf, len, IPCL_FOREVER), 0);
	}
	ipcl_ep_close(p, IPCL_FOREVER);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, i);
	}
	kill_consumer_session(table);
	ipcl_ep_close(q, IPCL_FOREVER); /* copes with the dead connection */
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 1, ipcl_now_ns() + 10 * SEC, &q, err), 0);
	for (int k = 0; k < again; k++) {
		assert_int_equal(
		    T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + 10 * SEC), 0);
		check_msg(buf, len, first_again + (uint32_t)k);
	}
	assert_int_equal(T->recv(q, buf, sizeof buf, &len, ipcl_now_ns() + SEC / 5),
			 -ETIMEDOUT);
	ipcl_ep_close(q, IPCL_FOREVER);
	ipcl_chan_destroy(ch);
}

static void test_consumer_crash(void **state)
{
	NEED_TRANSPORT();
	crash("claim=100", 0, 0);                   /* at-most-once: 7 lost */
	crash("claim=100 commit=processed", 0, 10); /* at-least-once: 3 twice */
}

/* teardown() from the address alone (a fresh process), twice, then the owner's. */
static void test_teardown_from_addr(void **state)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch, *att;
	char err[IPCL_ERR_MAX] = "", table[80];

	NEED_TRANSPORT();
	mkopts(&c, 64, "mode=mark");
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	table_of(ch, table, sizeof table);
	assert_true(table_exists(table));
	assert_int_equal(ipcl_chan_attach(T, NULL, ch->addr, &att, err), 0);
	T->teardown(att);
	assert_false(table_exists(table));
	T->teardown(att);
	ipcl_chan_release(att);
	assert_int_equal(
	    sql_int("SELECT count(*) FROM pg_proc WHERE proname LIKE '%s%%'", table), 0);
	ipcl_chan_destroy(ch);
}

/* An empty or malformed address: open fails with a message, close copes. */
static void test_bad_addr(void **state)
{
	static const char *const addrs[] = {"", "garbage",
					    "name=x url=", "name=X batch=1"};
	struct ipcl_test_opts c;

	NEED_TRANSPORT();
	mkopts(&c, 64, NULL);
	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		struct ipcl_chan *att;
		struct ipcl_ep *q = NULL;
		char err[IPCL_ERR_MAX] = "";

		assert_int_equal(ipcl_chan_attach(T, &c.o, addrs[i], &att, err), 0);
		assert_int_not_equal(
		    ipcl_ep_open(att, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &q, err),
		    0);
		assert_null(q);
		assert_true(err[0]);
		T->teardown(att); /* must not crash either */
		ipcl_chan_release(att);
	}
}

/* Over the limit: setup refuses the size, send() refuses the message. */
static void test_too_big(void **state)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	struct ipcl_ep *p;
	char err[IPCL_ERR_MAX] = "";
	size_t big = (256u << 20) + 1;
	void *m;

	NEED_TRANSPORT();
	mkopts(&c, big, NULL);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), IPCL_ETOOBIG);
	mkopts(&c, 64, NULL);
	assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 10 * SEC, &p, err), 0);
	m = malloc(big); /* never touched: the length alone is refused */
	assert_non_null(m);
	assert_int_equal(T->send(p, m, big, IPCL_FOREVER), IPCL_ETOOBIG);
	free(m);
	ipcl_ep_close(p, IPCL_FOREVER);
	ipcl_chan_destroy(ch);
}

/* A bad option value is IPCL_EINVAL before any connection. */
static void test_bad_options(void **state)
{
	static const char *const bad[] = {"wake=sometimes",    "mode=keep",    "batch=0",
					  "sync_commit=maybe", "commit=never", "claim=x"};
	struct ipcl_test_opts c;
	struct ipcl_chan *ch;
	char err[IPCL_ERR_MAX];

	NEED_TRANSPORT();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mkopts(&c, 64, bad[i]);
		err[0] = 0;
		assert_int_equal(ipcl_chan_create(T, &c.o, &ch, err), IPCL_EINVAL);
		if (!strstr(err, bad[i]))
			fail_msg("error for %s does not name it: %s", bad[i], err);
	}
}

/* Down or silent server: errors name the URL, never the password, in bounded time. */
static void down_server(const char *target, int port)
{
	struct ipcl_test_opts c;
	struct ipcl_chan *ch, *att;
	struct ipcl_probe pr = {0};
	struct ipcl_ep *q = NULL;
	char err[IPCL_ERR_MAX] = "", addr[IPCL_ADDR_MAX], where[64];
	int64_t t0;

	snprintf(where, sizeof where, "127.0.0.1:%d", port);
	mkopts(&c, 64, NULL);
	snprintf(c.kv[0].val, sizeof c.kv[0].val, "%s", target);
	snprintf(c.kv[c.o.nkv].key, sizeof c.kv[0].key, "connect_timeout");
	snprintf(c.kv[c.o.nkv].val, sizeof c.kv[0].val, "1");
	c.o.nkv++;

	t0 = ipcl_now_ns();
	assert_int_not_equal(ipcl_chan_create(T, &c.o, &ch, err), 0);
	assert_true(ipcl_now_ns() - t0 < 10 * SEC);
	if (!strstr(err, where) || strstr(err, "s3cret"))
		fail_msg("setup error does not name %s or shows the password: %s", where,
			 err);

	t0 = ipcl_now_ns();
	assert_int_not_equal(T->probe(&c.o, &pr, err), 0);
	assert_true(ipcl_now_ns() - t0 < 10 * SEC);
	if (!strstr(err, where) || strstr(err, "s3cret"))
		fail_msg("probe error does not name %s or shows the password: %s", where,
			 err);

	/* open() on an address pointing there (as an exec'd role would). */
	snprintf(addr, sizeof addr,
		 "name=x batch=1 claim=1 wake=notify poll_ms=1 sync=on mode=delete "
		 "commit=claim ct=1 url=%s",
		 target);
	assert_int_equal(ipcl_chan_attach(T, &c.o, addr, &att, err), 0);
	t0 = ipcl_now_ns();
	assert_int_not_equal(
	    ipcl_ep_open(att, IPCL_CONSUMER, 0, ipcl_now_ns() + 30 * SEC, &q, err), 0);
	assert_true(ipcl_now_ns() - t0 < 10 * SEC);
	if (!strstr(err, where) || strstr(err, "s3cret"))
		fail_msg("open error does not name %s or shows the password: %s", where,
			 err);
	T->teardown(att); /* bounded too */
	assert_true(ipcl_now_ns() - t0 < 20 * SEC);
	ipcl_chan_release(att);
}

static void test_down_server(void **state)
{
	char target[128];
	int port;

	NEED_TRANSPORT();
	port = ipcl_free_port();
	assert_true(port > 0);
	snprintf(target, sizeof target, "postgresql://ipcl:s3cret@127.0.0.1:%d/x", port);
	down_server(target, port);
}

/* A server that accepts the connection and never answers: connect_timeout. */
static void test_silent_server(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	char target[128];
	int fd;

	NEED_TRANSPORT();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 16), 0); /* never accept()ed: no reply ever comes */
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(target, sizeof target, "postgresql://ipcl:s3cret@127.0.0.1:%d/x",
		 ntohs(a.sin_port));
	down_server(target, ntohs(a.sin_port));
	close(fd);
}

/*
 * A server killed with SIGKILL: its System V segment (named in postmaster.pid)
 * is removed by the clean-up, and stop still removes the dir.
 */
static void test_killed_server_cleanup(void **state)
{
	struct ipcl_server s2;
	char err[IPCL_ERR_MAX] = "", path[160], line[128], dir[sizeof s2.dir];
	long key;
	int shmid = -1, n = 0, rc;
	struct shmid_ds ds;
	struct stat st;
	FILE *f;

	rc = ipcl_server_start("postgres", &s2, ipcl_now_ns() + 60 * SEC, err);
	if (rc == IPCL_EUNAVAIL && !own_server)
		skip(); /* a remote IPCLAB_PG_URL and no local packages */
	assert_int_equal(rc, 0);
	snprintf(dir, sizeof dir, "%s", s2.dir);
	snprintf(path, sizeof path, "%s/data/postmaster.pid", s2.dir);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (++n == 7)
			assert_int_equal(sscanf(line, "%ld %d", &key, &shmid), 2);
	fclose(f);
	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
	assert_int_equal(kill(s2.pid, SIGKILL), 0);
	assert_int_equal(waitpid(s2.pid, NULL, 0), s2.pid);
	ipcl_server_kind("postgres")->cleanup(&s2);
	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), -1);
	ipcl_server_stop(&s2);
	assert_int_equal(stat(dir, &st), -1);
}

/* Last: the throwaway server runs as postgres when we are root, and stops. */
static void test_server_stop(void **state)
{
	char proc[64], line[256], dir[sizeof srv.dir];
	pid_t pid = srv.pid;
	struct stat st;
	FILE *f;

	if (!own_server)
		skip();
	PQfinish(admin);
	admin = NULL;
	snprintf(proc, sizeof proc, "/proc/%d/status", (int)pid);
	f = fopen(proc, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Uid:", 4) == 0 && geteuid() == 0)
			assert_int_not_equal(atoi(line + 4), 0);
	fclose(f);
	snprintf(dir, sizeof dir, "%s", srv.dir);
	assert_int_equal(stat(dir, &st), 0);
	ipcl_server_stop(&srv);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_roundtrip_notify),
	    cmocka_unit_test(test_roundtrip_poll),
	    cmocka_unit_test(test_roundtrip_variants),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_two_consumers),
	    cmocka_unit_test(test_giveback_on_close),
	    cmocka_unit_test(test_consumer_crash),
	    cmocka_unit_test(test_teardown_from_addr),
	    cmocka_unit_test(test_bad_addr),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_down_server),
	    cmocka_unit_test(test_silent_server),
	    cmocka_unit_test(test_killed_server_cleanup),
	    cmocka_unit_test(test_server_stop),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

#else /* !HAVE_LIBPQ: pg-outbox is not built; nothing to test here. */

static void test_no_libpq(void **state)
{
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_libpq)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
