/*
 * test_redis.c - the Redis transports against a real server: $IPCLAB_REDIS_URL
 * when set, else a throwaway redis-server started once for this program. For
 * each transport: a round trip of binary messages, a receive timeout that
 * loses nothing, redelivery of unacknowledged messages (reliable list,
 * stream), no key left after teardown, a clear error for a server that is
 * down. Then the launcher itself: ready, answers on TCP and the unix socket,
 * and stop leaves no process and no dir behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "engine/endpoint.h"
#include "engine/registry.h"

#define SEC 1000000000LL

static struct ipcl_server srv;
static const char *url;
static char url_buf[256];

static const char *const names[] = {"redis-list", "redis-list-reliable", "redis-stream",
				    "redis-pubsub"};

/* Options for one channel: url plus one extra name=value (k1 may be NULL). */
static void topts_init(struct ipcl_test_opts *t, const char *u, const char *k1,
		       const char *v1)
{
	const char *const kv[] = {k1, v1, NULL};

	ipcl_test_opts(t, "t", u, 256, 1, kv);
}

/*
 * A raw RESP exchange on the test's server (redis://host:port without a
 * password only): send cmd, return the first line of the reply in out.
 * Returns 0, or -1 when the URL is not of that form (the check is skipped).
 */
static int raw_cmd(const char *cmd, char *out, size_t cap)
{
	char host[64];
	int port, fd;
	ssize_t n;
	size_t have = 0;

	if (sscanf(url, "redis://%63[0-9.]:%d", host, &port) != 2)
		return -1;
	fd = ipcl_connect_tcp(host, port, ipcl_now_ns() + 5 * SEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	while (have < cap - 1 && !memchr(out, '\n', have)) {
		n = read(fd, out + have, cap - 1 - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	out[have] = 0;
	out[strcspn(out, "\r\n")] = 0;
	close(fd);
	return 0;
}

/* Assert that no key of this channel's tag is left. */
static void assert_no_keys(const char *tag)
{
	char cmd[160], reply[256];
	char pat[80];

	snprintf(pat, sizeof pat, "ipcl:%s*", tag);
	snprintf(cmd, sizeof cmd, "*2\r\n$4\r\nKEYS\r\n$%zu\r\n%s\r\n", strlen(pat), pat);
	if (raw_cmd(cmd, reply, sizeof reply) < 0)
		return;
	assert_string_equal(reply, "*0");
}

/* Message i: binary, with a NUL and high bytes, length varying with i. */
static size_t make_msg(int i, unsigned char *buf)
{
	size_t len = 8 + (size_t)(i * 13) % 120;

	for (size_t j = 0; j < len; j++)
		buf[j] = (unsigned char)(i * 31 + j * 7);
	buf[0] = (unsigned char)i;
	buf[1] = 0;
	buf[2] = 0xff;
	return len;
}

static void recv_expect(struct ipcl_ep *c, int i)
{
	unsigned char want[256], got[256];
	size_t wlen = make_msg(i, want), glen = 0;
	int rc = c->chan->t->recv(c, got, sizeof got, &glen, ipcl_now_ns() + 5 * SEC);

	if (rc)
		fail_msg("recv %d: %s (%s)", i, ipcl_errname(rc), c->err);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	if (c->chan->t->ack)
		assert_int_equal(c->chan->t->ack(c), 0);
}

static void send_msg(struct ipcl_ep *p, int i)
{
	unsigned char m[256];
	size_t len = make_msg(i, m);
	int rc = p->chan->t->send(p, m, len, ipcl_now_ns() + 5 * SEC);

	if (rc)
		fail_msg("send %d: %s (%s)", i, ipcl_errname(rc), p->err);
}

/* Round trip for one transport and one URL and option; no key left after. */
static void round_trip(const struct ipcl_transport *t, const char *u, const char *k,
		       const char *v)
{
	struct ipcl_test_opts to;
	struct ipcl_chan *ch;
	struct ipcl_ep *c, *p;
	char err[IPCL_ERR_MAX];
	size_t len;
	unsigned char buf[256];
	int rc;

	topts_init(&to, u, k, v);
	rc = ipcl_chan_create(t, &to.o, &ch, err);
	if (rc)
		fail_msg("%s setup: %s", t->name, err);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 5 * SEC, &p, err), 0);
	/* Nothing yet: a timeout, and the message sent after it still arrives. */
	rc = t->recv(c, buf, sizeof buf, &len, ipcl_now_ns() + 100 * 1000000LL);
	assert_int_equal(rc, -ETIMEDOUT);
	for (int i = 0; i < 20; i++)
		send_msg(p, i);
	assert_int_equal(t->flush(p, ipcl_now_ns() + 5 * SEC), 0);
	for (int i = 0; i < 20; i++)
		recv_expect(c, i);
	assert_int_equal(ipcl_ep_close(p, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0);
	ipcl_chan_destroy(ch);
	assert_no_keys(to.tag);
}

static const struct ipcl_transport *need(const char *name)
{
	const struct ipcl_transport *t = ipcl_transport_find(name);

	if (!t)
		skip();
	return t;
}

static void test_round_trip(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);

	round_trip(t, url, NULL, NULL);
	if (t == ipcl_transport_find("redis-pubsub"))
		return;
	round_trip(t, url, "pipeline", "8");
	round_trip(t, url, "count", "7");
}

/* The same over the launcher's unix socket (throwaway server only). */
static void test_unix_socket(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);
	char u[300];
	const char *auth = srv.url + strlen("redis://"), *at = strrchr(auth, '@');

	if (!srv.dir[0])
		skip();
	/* The same password as the TCP URL: redis+unix://:SECRET@/dir/redis.sock */
	snprintf(u, sizeof u, "redis+unix://%.*s%s/redis/redis.sock",
		 at ? (int)(at + 1 - auth) : 0, auth, srv.dir);
	round_trip(t, u, NULL, NULL);
}

/* A message not acknowledged before the consumer closes comes back. */
static void test_redelivery(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);
	struct ipcl_test_opts to;
	struct ipcl_chan *ch;
	struct ipcl_ep *c, *p;
	char err[IPCL_ERR_MAX];
	unsigned char buf[256];
	size_t len;

	topts_init(&to, url, NULL, NULL);
	assert_int_equal(ipcl_chan_create(t, &to.o, &ch, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 5 * SEC, &p, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	send_msg(p, 1);
	send_msg(p, 2);
	/* Take message 1 and "crash" without acknowledging it. */
	assert_int_equal(t->recv(c, buf, sizeof buf, &len, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0);
	/* The next consumer with that index gets 1 again, then 2. */
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	recv_expect(c, 1);
	recv_expect(c, 2);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0);
	/* Both were acknowledged (the acks went out at close): nothing comes back. */
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	assert_int_equal(
	    t->recv(c, buf, sizeof buf, &len, ipcl_now_ns() + 50 * 1000000LL),
	    -ETIMEDOUT);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(p, ipcl_now_ns() + 5 * SEC), 0);
	ipcl_chan_destroy(ch);
	assert_no_keys(to.tag);
}

/* Stream: another consumer takes over what a dead one left pending (XAUTOCLAIM). */
static void test_claim(void **state)
{
	const struct ipcl_transport *t = need("redis-stream");
	struct ipcl_test_opts to;
	struct ipcl_chan *ch;
	struct ipcl_ep *c, *p;
	char err[IPCL_ERR_MAX];
	unsigned char buf[256];
	size_t len;

	(void)state;
	topts_init(&to, url, "claim_idle_ms", "1");
	assert_int_equal(ipcl_chan_create(t, &to.o, &ch, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_PRODUCER, 0, ipcl_now_ns() + 5 * SEC, &p, err), 0);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	send_msg(p, 7);
	assert_int_equal(t->recv(c, buf, sizeof buf, &len, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0); /* no ack */
	usleep(20 * 1000);
	assert_int_equal(
	    ipcl_ep_open(ch, IPCL_CONSUMER, 1, ipcl_now_ns() + 5 * SEC, &c, err), 0);
	recv_expect(c, 7);
	assert_int_equal(ipcl_ep_close(c, ipcl_now_ns() + 5 * SEC), 0);
	assert_int_equal(ipcl_ep_close(p, ipcl_now_ns() + 5 * SEC), 0);
	ipcl_chan_destroy(ch);
	assert_no_keys(to.tag);
}

/* A message over the server's limit is refused by setup, not truncated. */
static void test_too_big(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);
	struct ipcl_test_opts to;
	struct ipcl_chan *ch;
	char err[IPCL_ERR_MAX];

	topts_init(&to, url, NULL, NULL);
	to.o.msg_size = (size_t)4 << 30;
	assert_int_equal(ipcl_chan_create(t, &to.o, &ch, err), IPCL_ETOOBIG);
	assert_null(ch);
	assert_no_keys(to.tag);
}

/* A server that is not there: an error naming the URL, within the timeout. */
static void test_server_down(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);
	const char *bad[2];
	char tcp[64], sock[128];
	struct ipcl_test_opts to;
	struct ipcl_chan *ch;
	char err[IPCL_ERR_MAX];

	snprintf(tcp, sizeof tcp, "redis://127.0.0.1:%d", ipcl_free_port());
	snprintf(sock, sizeof sock, "redis+unix:///tmp/ipcl-no-such-%d/redis.sock",
		 (int)getpid());
	bad[0] = tcp;
	bad[1] = sock;
	for (int i = 0; i < 2; i++) {
		int64_t t0 = ipcl_now_ns();
		int rc;

		topts_init(&to, bad[i], "connect_timeout", "1");
		rc = ipcl_chan_create(t, &to.o, &ch, err);
		assert_true(rc < 0);
		assert_null(ch);
		if (!strstr(err, bad[i]))
			fail_msg("error does not name %s: %s", bad[i], err);
		assert_true(ipcl_now_ns() - t0 <
			    10 * SEC); /* a hang guard, not a timing */
	}
	/* A password never shows. */
	topts_init(&to, "redis://user:s3cret@127.0.0.1:1", "connect_timeout", "1");
	assert_true(ipcl_chan_create(t, &to.o, &ch, err) < 0);
	assert_null(strstr(err, "s3cret"));
	assert_non_null(strstr(err, "***"));
}

/* probe() reports the server's facts; a malformed address fails open cleanly. */
static void test_probe_and_bad_addr(void **state)
{
	const struct ipcl_transport *t = need((const char *)*state);
	struct ipcl_test_opts to;
	struct ipcl_probe pr = {0};
	struct ipcl_chan *ch;
	struct ipcl_ep *ep;
	char err[IPCL_ERR_MAX];
	int found = 0;

	topts_init(&to, url, NULL, NULL);
	if (t->probe(&to.o, &pr, err))
		fail_msg("probe: %s", err);
	for (int i = 0; i < pr.n; i++)
		found += strcmp(pr.kv[i].key, "redis_version") == 0 ||
			 strcmp(pr.kv[i].key, "appendonly") == 0;
	assert_int_equal(found, 2);
	assert_true(pr.max_msg > 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    ipcl_chan_attach(t, &to.o, i ? "url=x key=" : "", &ch, err), 0);
		assert_true(ipcl_ep_open(ch, IPCL_CONSUMER, 0, ipcl_now_ns() + SEC, &ep,
					 err) < 0);
		assert_null(ep);
		ipcl_chan_destroy(ch); /* teardown on a bad address: harmless */
	}
}

/* The launcher: ready, its own pid, both sockets; stop leaves nothing. */
static void test_launcher(void **state)
{
	struct ipcl_server s;
	char err[IPCL_ERR_MAX], sock[160];
	struct stat st;
	pid_t pid;
	int fd;

	(void)state;
	if (access("/usr/bin/redis-server", X_OK) != 0 &&
	    !ipcl_test_have_program("redis-server"))
		skip();
	if (ipcl_server_start("redis", &s, ipcl_now_ns() + 30 * SEC, err))
		fail_msg("start: %s", err);
	assert_true(s.pid > 0);
	assert_true(s.port > 0 && s.port != 6379);
	assert_non_null(strstr(s.url, "redis://:")); /* a password, always */
	assert_non_null(strstr(s.url, "@127.0.0.1:"));
	assert_true(s.version[0] >= '1' && s.version[0] <= '9');
	assert_int_equal(stat(s.dir, &st), 0);
	assert_int_equal(st.st_uid, geteuid()); /* the dir stays ours */
	{
		struct ipcl_server_user u;
		struct stat sub, ps;
		char p[200];

		/* As root: the redis account runs the server and owns DIR/redis. */
		if (ipcl_server_user("redis", &u) == 0 && u.drop) {
			assert_int_equal(st.st_mode & 0777, 0711);
			snprintf(p, sizeof p, "%s/redis", s.dir);
			assert_int_equal(lstat(p, &sub), 0);
			assert_int_equal(sub.st_uid, u.uid);
			assert_int_equal(sub.st_mode & 0777, 0700);
			snprintf(p, sizeof p, "/proc/%ld", (long)s.pid);
			assert_int_equal(stat(p, &ps), 0);
			assert_int_equal(ps.st_uid, u.uid);
		} else {
			assert_int_equal(st.st_mode & 0777, 0700);
		}
	}
	fd = ipcl_connect_tcp("127.0.0.1", s.port, ipcl_now_ns() + 5 * SEC);
	assert_true(fd >= 0);
	close(fd);
	snprintf(sock, sizeof sock, "%s/redis/redis.sock", s.dir);
	fd = ipcl_connect_unix(sock, ipcl_now_ns() + 5 * SEC);
	assert_true(fd >= 0);
	close(fd);
	pid = s.pid;
	snprintf(sock, sizeof sock, "%s", s.dir);
	ipcl_server_stop(&s);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(stat(sock, &st), -1);
	ipcl_server_stop(&s); /* idempotent */
}

static int group_setup(void **state)
{
	char err[IPCL_ERR_MAX];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	url = ipcl_test_server_url("redis", &srv, err);
	if (!url) {
		fprintf(stderr, "test_redis: no server: %s\n", err);
		return -1;
	}
	snprintf(url_buf, sizeof url_buf, "%s", url);
	url = url_buf;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ipcl_server_stop(&srv);
	return 0;
}

#define PER_TRANSPORT(fn)                                    \
	cmocka_unit_test_prestate(fn, (void *)names[0]),     \
	    cmocka_unit_test_prestate(fn, (void *)names[1]), \
	    cmocka_unit_test_prestate(fn, (void *)names[2]), \
	    cmocka_unit_test_prestate(fn, (void *)names[3])

int main(void)
{
	const struct CMUnitTest tests[] = {
	    PER_TRANSPORT(test_round_trip),
	    PER_TRANSPORT(test_unix_socket),
	    cmocka_unit_test_prestate(test_redelivery, (void *)names[1]),
	    cmocka_unit_test_prestate(test_redelivery, (void *)names[2]),
	    cmocka_unit_test(test_claim),
	    PER_TRANSPORT(test_too_big),
	    PER_TRANSPORT(test_server_down),
	    PER_TRANSPORT(test_probe_and_bad_addr),
	    cmocka_unit_test(test_launcher),
	};

	return cmocka_run_group_tests_name("redis", tests, group_setup, group_teardown);
}
