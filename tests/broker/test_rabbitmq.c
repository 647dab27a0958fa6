/*
 * test_rabbitmq.c - the rabbitmq and rabbitmq-fanout transports against a real
 * server: $IPCLAB_AMQP_URL when set, else one throwaway node started once for
 * this program (and stopped by the last test, which checks that it left no
 * process and no directory behind).
 *
 * Cases: round trips transient and durable with publisher confirms, fanout to
 * two consumers, receive timeout, teardown deletes the queue/exchange (a passive
 * declare fails afterwards) and is idempotent, an unroutable message is an
 * error with confirms, bad options and addresses, a down server fails within
 * connect_timeout naming the URL without its password.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/endpoint.h"
#include "engine/registry.h"
#include <ipclab/server.h>

#include "testutil.h"

#if !__has_include(<amqp.h>)
/* Built without librabbitmq: the transports are absent, nothing to test. */
int main(void)
{
	printf("# rabbitmq: built without librabbitmq, skipped\n");
	return 0;
}
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#define SEC    1000000000LL

static struct ipcl_server srv;
static int started;     /* srv is ours to stop */
static int unavailable; /* no server and no way to start one: skip */
static char url[256];
static int epmd_was_up; /* something listened on 4369 before we began */

static const struct ipcl_transport *find(const char *name)
{
	const struct ipcl_transport *t = ipcl_transport_find(name);

	if (!t || unavailable)
		skip();
	return t;
}

/* Options for one channel: the URL, a fresh tag, and "name", "value" pairs. */
static struct ipcl_opts *make_opts(struct ipcl_test_opts *t, size_t size,
				   const char *const *kv)
{
	return ipcl_test_opts(t, "t", url, size, 1, kv);
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + 3);
}

static int port_listening(int port)
{
	int fd = ipcl_connect_tcp("127.0.0.1", port, 0);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int group_setup(void **state)
{
	const char *env = getenv("IPCLAB_AMQP_URL");
	char err[IPCL_ERR_MAX] = "";
	int rc;

	epmd_was_up = port_listening(4369);
	if (env && env[0]) {
		snprintf(url, sizeof url, "%s", env);
		return 0;
	}
	rc = ipcl_server_start("rabbitmq", &srv, ipcl_now_ns() + 60 * SEC, err);
	if (rc == IPCL_EUNAVAIL && !srv.pid) {
		fprintf(stderr, "# no RabbitMQ: %s\n", err);
		unavailable = 1;
		return 0;
	}
	if (rc) {
		fprintf(stderr, "# starting RabbitMQ failed: %s\n", err);
		return -1;
	}
	started = 1;
	snprintf(url, sizeof url, "%s", srv.url);
	fprintf(stderr, "# throwaway RabbitMQ %s at %s in %s\n", srv.version, srv.url,
		srv.dir);
	return 0;
}

static int group_teardown(void **state)
{
	if (started)
		ipcl_server_stop(&srv);
	started = 0;
	return 0;
}

/*
 * Send the messages of lens[] through a channel of t with the given options:
 * consumers open first, the producer sends, flushes and closes, every consumer
 * must receive every message (fanout) or the single consumer all of them, in
 * order and intact, and acks each.
 */
static void exchange(const char *tname, const char *const *kv, int consumers,
		     const size_t *lens, int n)
{
	const struct ipcl_transport *t = find(tname);
	struct ipcl_test_opts to;
	struct ipcl_opts *o;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *prod = NULL, *cons[4] = {0};
	char err[IPCL_ERR_MAX] = "";
	size_t max = 0, len;
	unsigned char *msg, *buf;

	for (int i = 0; i < n; i++)
		max = lens[i] > max ? lens[i] : max;
	o = make_opts(&to, max, kv);
	o->consumers = consumers;
	msg = malloc(max);
	buf = malloc(max);
	assert_non_null(msg);
	assert_non_null(buf);
	if (ipcl_chan_create(t, o, &chan, err) != 0)
		fail_msg("setup: %s", err);
	for (int c = 0; c < consumers; c++)
		if (ipcl_ep_open(chan, IPCL_CONSUMER, c, ipcl_now_ns() + 20 * SEC,
				 &cons[c], err) != 0)
			fail_msg("open consumer: %s", err);
	if (ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &prod, err) !=
	    0)
		fail_msg("open producer: %s", err);
	for (int i = 0; i < n; i++) {
		fill(msg, lens[i], (unsigned)i);
		if (t->send(prod, msg, lens[i], ipcl_now_ns() + 20 * SEC) != 0)
			fail_msg("send %d: %s", i, prod->err);
	}
	assert_int_equal(ipcl_ep_close(prod, ipcl_now_ns() + 20 * SEC), 0);
	for (int c = 0; c < consumers; c++) {
		for (int i = 0; i < n; i++) {
			int rc =
			    t->recv(cons[c], buf, max, &len, ipcl_now_ns() + 20 * SEC);

			if (rc != 0)
				fail_msg("consumer %d, message %d: %s (%s)", c, i,
					 ipcl_errname(rc), cons[c]->err);
			assert_int_equal(len, lens[i]);
			fill(msg, lens[i], (unsigned)i);
			assert_memory_equal(buf, msg, len);
			assert_int_equal(t->ack(cons[c]), 0);
		}
		/* nothing more: no duplicates */
		assert_int_equal(
		    t->recv(cons[c], buf, max, &len, ipcl_now_ns() + SEC / 5),
		    -ETIMEDOUT);
		assert_int_equal(ipcl_ep_close(cons[c], ipcl_now_ns() + 5 * SEC), 0);
	}
	ipcl_chan_destroy(chan);
	free(msg);
	free(buf);
}

static const size_t sizes[] = {1, 32, 33, 1000, 4096, 65536, 200000, 1 << 20, 64, 7};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void test_round_trip_transient(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const window[] = {"confirm", "window", "confirm_window", "3",
					     NULL};

	exchange("rabbitmq", none, 1, sizes, NSIZES);
	exchange("rabbitmq", window, 1, sizes, NSIZES);
}

static void test_round_trip_durable(void **state)
{
	static const char *const each[] = {"durable", "1", "confirm", "each", NULL};
	static const char *const window[] = {"durable",   "1", "confirm", "window",
					     "ack_batch", "3", NULL};

	exchange("rabbitmq", each, 1, sizes, NSIZES);
	exchange("rabbitmq", window, 1, sizes, NSIZES);
}

static void test_many_small(void **state)
{
	static const char *const window[] = {
	    "confirm", "window", "confirm_window", "50", "prefetch", "100", NULL};
	size_t lens[3000];

	for (int i = 0; i < 3000; i++)
		lens[i] = 64;
	exchange("rabbitmq", window, 1, lens, 3000);
}

static void test_fanout(void **state)
{
	static const char *const window[] = {"confirm", "window", NULL};
	static const char *const none[] = {NULL};

	exchange("rabbitmq-fanout", window, 2, sizes, NSIZES);
	exchange("rabbitmq-fanout", none, 2, sizes, NSIZES);
}

static void test_recv_timeout(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	struct ipcl_test_opts to;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *ep = NULL;
	char err[IPCL_ERR_MAX] = "";
	unsigned char buf[64];
	size_t len;
	int64_t t0, el;

	assert_int_equal(ipcl_chan_create(t, make_opts(&to, 64, NULL), &chan, err), 0);
	if (ipcl_ep_open(chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC, &ep, err) != 0)
		fail_msg("open: %s", err);
	t0 = ipcl_now_ns();
	assert_int_equal(t->recv(ep, buf, sizeof buf, &len, t0 + SEC / 5), -ETIMEDOUT);
	el = ipcl_now_ns() - t0;
	assert_true(el >= SEC / 5 - SEC / 100);
	assert_true(el < 5 * SEC);
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
}

/* A buffer too small: IPCL_ETRUNC, and the message is requeued, not lost. */
static void test_truncated_requeued(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const each[] = {"confirm", "each", NULL};
	struct ipcl_test_opts to;
	struct ipcl_chan *chan = NULL;
	struct ipcl_ep *prod = NULL, *cons = NULL;
	char err[IPCL_ERR_MAX] = "";
	unsigned char msg[1000], buf[1000];
	size_t len = 0;

	assert_int_equal(
	    ipcl_chan_create(t, make_opts(&to, sizeof msg, each), &chan, err), 0);
	if (ipcl_ep_open(chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC, &cons, err) !=
		0 ||
	    ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &prod, err) !=
		0)
		fail_msg("open: %s", err);
	fill(msg, sizeof msg, 9);
	assert_int_equal(t->send(prod, msg, sizeof msg, ipcl_now_ns() + 20 * SEC), 0);
	assert_int_equal(t->recv(cons, buf, 100, &len, ipcl_now_ns() + 20 * SEC),
			 IPCL_ETRUNC);
	assert_int_equal(t->ack(cons),
			 0); /* nothing to ack: must not break the channel */
	assert_int_equal(t->recv(cons, buf, sizeof buf, &len, ipcl_now_ns() + 20 * SEC),
			 0);
	assert_int_equal(len, sizeof msg);
	assert_memory_equal(buf, msg, sizeof msg);
	assert_int_equal(t->ack(cons), 0);
	assert_int_equal(ipcl_ep_close(cons, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(prod, ipcl_now_ns() + 5 * SEC), 0);
	ipcl_chan_destroy(chan);
}

/* A passive declare of a queue (or exchange): the server's reply code, 0 if it exists. */
static int passive_declare(const char *name, int exchange)
{
	char u[256];
	struct amqp_connection_info ci;
	amqp_connection_state_t conn = amqp_new_connection();
	amqp_socket_t *sock = amqp_tcp_socket_new(conn);
	amqp_rpc_reply_t r;
	int code = 0;

	snprintf(u, sizeof u, "%s", url);
	assert_int_equal(amqp_parse_url(u, &ci), AMQP_STATUS_OK);
	if (!ci.vhost[0])
		ci.vhost = "/";
	assert_int_equal(amqp_socket_open(sock, ci.host, ci.port), AMQP_STATUS_OK);
	r = amqp_login(conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
		       AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
	assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
	amqp_channel_open(conn, 1);
	assert_int_equal(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
	if (exchange)
		amqp_exchange_declare(conn, 1, amqp_cstring_bytes(name),
				      amqp_cstring_bytes("fanout"), 1, 0, 0, 0,
				      amqp_empty_table);
	else
		amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 1, 0, 0, 0,
				   amqp_empty_table);
	r = amqp_get_rpc_reply(conn);
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		code = ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
	} else {
		assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
		amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	}
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	return code;
}

static void check_teardown(const char *tname, int exchange, const char *suffix)
{
	const struct ipcl_transport *t = find(tname);
	struct ipcl_test_opts to;
	struct ipcl_chan *chan = NULL, *again = NULL;
	char err[IPCL_ERR_MAX] = "", name[128], addr[IPCL_ADDR_MAX];
	struct ipcl_opts *o = make_opts(&to, 64, NULL);

	snprintf(name, sizeof name, "ipcl.%s%s", o->tag, suffix);
	assert_int_equal(ipcl_chan_create(t, o, &chan, err), 0);
	assert_int_equal(passive_declare(name, exchange), 0);
	snprintf(addr, sizeof addr, "%s", chan->addr);
	ipcl_chan_destroy(chan);
	assert_int_equal(passive_declare(name, exchange), 404);
	/* again, from a fresh channel that knows only the address (crash recovery) */
	assert_int_equal(ipcl_chan_attach(t, o, addr, &again, err), 0);
	ipcl_chan_destroy(again);
	assert_int_equal(passive_declare(name, exchange), 404);
}

static void test_teardown_removes(void **state)
{
	check_teardown("rabbitmq", 0, "");
	check_teardown("rabbitmq-fanout", 1, ".fx");
}

/* With confirms, a message nobody can receive (queue gone) is an error. */
static void test_unroutable_is_error(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const each[] = {"confirm", "each", NULL};
	struct ipcl_test_opts to;
	struct ipcl_chan *chan = NULL, *other = NULL;
	struct ipcl_ep *ep = NULL;
	char err[IPCL_ERR_MAX] = "";
	unsigned char msg[64] = {1};
	int rc;

	assert_int_equal(ipcl_chan_create(t, make_opts(&to, 64, each), &chan, err), 0);
	if (ipcl_ep_open(chan, IPCL_PRODUCER, 0, ipcl_now_ns() + 20 * SEC, &ep, err) != 0)
		fail_msg("open: %s", err);
	assert_int_equal(t->send(ep, msg, sizeof msg, ipcl_now_ns() + 20 * SEC), 0);
	/* delete the queue under the producer */
	assert_int_equal(ipcl_chan_attach(t, chan->opts, chan->addr, &other, err), 0);
	ipcl_chan_destroy(other);
	rc = t->send(ep, msg, sizeof msg, ipcl_now_ns() + 20 * SEC);
	assert_int_equal(rc, IPCL_EBROKER);
	assert_non_null(strstr(ep->err, "unroutable"));
	ipcl_ep_close(ep, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
}

static void test_bad_options(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const bad[][5] = {
	    {"confirm", "sometimes", NULL},
	    {"durable", "2", NULL},
	    {"prefetch", "10", "ack_batch", "20", NULL},
	    {"connect_timeout", "0", NULL},
	    {"url", "http://example.com/", NULL},
	};
	struct ipcl_test_opts to;
	struct ipcl_chan *chan = NULL;
	char err[IPCL_ERR_MAX];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ipcl_opts *o = make_opts(&to, 64, bad[i]);

		if (strcmp(bad[i][0], "url") == 0) { /* replace, not add */
			snprintf(to.kv[0].val, sizeof to.kv[0].val, "%s", bad[i][1]);
			o->nkv = 1;
		}
		err[0] = 0;
		assert_int_equal(ipcl_chan_create(t, o, &chan, err), IPCL_EINVAL);
		assert_null(chan);
		assert_true(err[0] != 0);
	}
	/* a message over the limit is refused at setup */
	assert_int_equal(ipcl_chan_create(t,
					  make_opts(&to, ((size_t)128 << 20) + 1, NULL),
					  &chan, err),
			 IPCL_ETOOBIG);
}

static void test_open_bad_address(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const addrs[] = {"", "garbage", "name=x fanout=0 url="};
	struct ipcl_test_opts to;

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		struct ipcl_chan *chan = NULL;
		struct ipcl_ep *ep = NULL;
		char err[IPCL_ERR_MAX] = "";

		assert_int_equal(
		    ipcl_chan_attach(t, make_opts(&to, 64, NULL), addrs[i], &chan, err),
		    0);
		assert_int_equal(ipcl_ep_open(chan, IPCL_CONSUMER, 0,
					      ipcl_now_ns() + 5 * SEC, &ep, err),
				 IPCL_EINVAL);
		assert_null(ep);
		ipcl_chan_destroy(chan); /* teardown of a bad address is a no-op */
	}
}

/* Nothing listens on the port: errors within connect_timeout, URL shown redacted. */
static void test_down_server(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const fast[] = {"connect_timeout", "2", NULL};
	struct ipcl_test_opts to;
	struct ipcl_opts *o = make_opts(&to, 64, fast);
	struct ipcl_probe p = {0};
	struct ipcl_chan *chan = NULL;
	char err[IPCL_ERR_MAX] = "", hostport[64];
	int port = ipcl_free_port();
	int64_t t0;
	int rc;

	assert_true(port > 0);
	snprintf(to.kv[0].val, sizeof to.kv[0].val, "amqp://ipcl:s3cret@127.0.0.1:%d/",
		 port);
	snprintf(hostport, sizeof hostport, "127.0.0.1:%d", port);
	t0 = ipcl_now_ns();
	rc = t->probe(o, &p, err);
	assert_true(rc < 0);
	assert_true(ipcl_now_ns() - t0 < 3 * SEC);
	assert_non_null(strstr(err, hostport));
	assert_null(strstr(err, "s3cret"));
	t0 = ipcl_now_ns();
	rc = ipcl_chan_create(t, o, &chan, err);
	assert_true(rc < 0);
	assert_true(ipcl_now_ns() - t0 < 3 * SEC);
	assert_non_null(strstr(err, hostport));
	assert_null(strstr(err, "s3cret"));
}

/* Something accepts TCP but never speaks AMQP: the login times out, no hang. */
static void test_silent_server(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const fast[] = {"connect_timeout", "1", NULL};
	struct ipcl_test_opts to;
	struct ipcl_opts *o = make_opts(&to, 64, fast);
	struct ipcl_probe p = {0};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	char err[IPCL_ERR_MAX] = "", hostport[64];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
	int64_t t0;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8),
			 0); /* never accept()ed: the kernel completes it */
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(to.kv[0].val, sizeof to.kv[0].val, "amqp://guest:guest@127.0.0.1:%d/",
		 ntohs(a.sin_port));
	snprintf(hostport, sizeof hostport, "127.0.0.1:%d", ntohs(a.sin_port));
	t0 = ipcl_now_ns();
	rc = t->probe(o, &p, err);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(ipcl_now_ns() - t0 < 3 * SEC);
	assert_non_null(strstr(err, hostport));
	close(fd);
}

static void test_probe(void **state)
{
	const struct ipcl_transport *t = find("rabbitmq");
	static const char *const kv[] = {"durable", "1", "confirm", "window", NULL};
	struct ipcl_test_opts to;
	struct ipcl_probe p = {0};
	char err[IPCL_ERR_MAX] = "";
	int seen = 0;

	if (t->probe(make_opts(&to, 64, kv), &p, err) != 0)
		fail_msg("probe: %s", err);
	assert_int_equal(p.max_msg, (size_t)128 << 20);
	for (int i = 0; i < p.n; i++) {
		if (strcmp(p.kv[i].key, "server_product") == 0)
			seen |= (strcmp(p.kv[i].val, "RabbitMQ") == 0) << 0;
		if (strcmp(p.kv[i].key, "durable") == 0)
			seen |= (strcmp(p.kv[i].val, "1") == 0) << 1;
		if (strcmp(p.kv[i].key, "confirm") == 0)
			seen |= (strcmp(p.kv[i].val, "window") == 0) << 2;
		if (strcmp(p.kv[i].key, "server_version") == 0)
			seen |= (strcmp(p.kv[i].val, "unknown") != 0) << 3;
	}
	assert_int_equal(seen, 15);
}

/* Last: stopping the throwaway node leaves no process, port or directory. */
static void test_server_stop(void **state)
{
	pid_t pid = srv.pid, aux = srv.aux_pid;
	int port = srv.port;
	char dir[sizeof srv.dir];
	struct stat st;

	if (!started)
		skip();
	snprintf(dir, sizeof dir, "%s", srv.dir);
	assert_true(pid > 0 && aux > 0);
	assert_int_equal(kill(pid, 0), 0);
	assert_int_equal(kill(aux, 0), 0);
	ipcl_server_stop(&srv);
	started = 0;
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(kill(aux, 0), -1);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(port_listening(port));
	if (!epmd_was_up)
		assert_false(port_listening(4369)); /* no global epmd was started */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_round_trip_transient),
	    cmocka_unit_test(test_round_trip_durable),
	    cmocka_unit_test(test_many_small),
	    cmocka_unit_test(test_fanout),
	    cmocka_unit_test(test_recv_timeout),
	    cmocka_unit_test(test_truncated_requeued),
	    cmocka_unit_test(test_teardown_removes),
	    cmocka_unit_test(test_unroutable_is_error),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_open_bad_address),
	    cmocka_unit_test(test_down_server),
	    cmocka_unit_test(test_silent_server),
	    cmocka_unit_test(test_server_stop),
	};

	return cmocka_run_group_tests_name("rabbitmq", tests, group_setup,
					   group_teardown);
}
#endif
