/*
 * test_peer.c - every socket-based transport hears only the run's own peer
 * (ipclab/peer.h): a foreign peer that connects or sends first, without the
 * channel's token (or, for datagrams, from another address), is refused and
 * counted in the consumer's ep->refused, and the consumer receives exactly the
 * producer's message. The foreign peer here is this same process, which
 * knows the address but not the token; tests/security/peer.sh does the same
 * from another user's account. Uses the transports' hooks directly (thread
 * mode), raw sockets and libzmq for the foreign side.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef IPCL_HAVE_ZMQ
#include <zmq.h>
#endif

#include "engine/endpoint.h"
#include "engine/registry.h"

#include "testutil.h"

#define SEC 1000000000LL

static const char junk[] = "junk from a peer that has no token, longer than one";
static const char real[] = "the producer's own message";

/* The foreign side of one case: a raw socket, or a zmq context and socket. */
struct foreign {
	int fd;
	void *ctx, *zsock;
};

/* The number after key= in addr, or -1. */
static int addr_int(const char *addr, const char *key)
{
	const char *p = strstr(addr, key);
	int v = -1;

	if (p)
		sscanf(p + strlen(key), "%d", &v);
	return v;
}

/* A unix socket path: what follows "path=" (to the end) in addr. */
static void addr_path(const char *addr, struct sockaddr_un *un)
{
	const char *p = strstr(addr, "path=");

	assert_non_null(p);
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path, sizeof un->sun_path, "%s", p + 5);
}

/* Connect (or, for a datagram socket, send) to the channel without the token. */
static void foreign_raw(struct foreign *f, const char *addr, int domain, int type)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;

	if (domain == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_port = htons((uint16_t)addr_int(addr, " port="));
		len = sizeof *in;
	} else {
		addr_path(addr, (struct sockaddr_un *)&ss);
		len = sizeof(struct sockaddr_un);
	}
	f->fd = socket(domain, type | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	if (type == SOCK_DGRAM) {
		assert_true(sendto(f->fd, junk, sizeof junk, 0, (struct sockaddr *)&ss,
				   len) == (ssize_t)sizeof junk);
		return;
	}
	assert_int_equal(connect(f->fd, (struct sockaddr *)&ss, len), 0);
	assert_true(send(f->fd, junk, sizeof junk, MSG_NOSIGNAL) == (ssize_t)sizeof junk);
}

#ifdef IPCL_HAVE_ZMQ
/* A zmq peer of type `type` with the wrong PLAIN password, connected to endpoint 0. */
static void foreign_zmq(struct foreign *f, const char *addr, int type)
{
	const char *spec = strstr(addr, "tcp://");
	char ep[256];

	if (spec) {
		snprintf(ep, sizeof ep, "%s", spec);
		ep[strcspn(ep, ",")] = '\0';
	} else {
		spec = strstr(addr, "ipc://");
		assert_non_null(spec);
		snprintf(ep, sizeof ep, "%s0", spec);
	}
	f->ctx = zmq_ctx_new();
	f->zsock = zmq_socket(f->ctx, type);
	assert_non_null(f->zsock);
	assert_int_equal(zmq_setsockopt(f->zsock, ZMQ_PLAIN_USERNAME, "ipclab", 6), 0);
	assert_int_equal(zmq_setsockopt(f->zsock, ZMQ_PLAIN_PASSWORD, "guess", 5), 0);
	assert_int_equal(zmq_connect(f->zsock, ep), 0);
	zmq_send(f->zsock, junk, sizeof junk, ZMQ_DONTWAIT);
}
#else
static void foreign_zmq(struct foreign *f, const char *addr, int type)
{
	(void)f, (void)addr, (void)type;
	fail_msg("built without libzmq");
}
#endif

static void foreign_close(struct foreign *f)
{
	int zero = 0;

	if (f->fd >= 0)
		close(f->fd);
#ifdef IPCL_HAVE_ZMQ
	if (f->zsock) {
		zmq_setsockopt(f->zsock, ZMQ_LINGER, &zero, sizeof zero);
		zmq_close(f->zsock);
	}
	if (f->ctx)
		zmq_ctx_term(f->ctx);
#endif
}

struct peer_case {
	const char *transport;
	const char *kv[3];
	int zmq_type;       /* the foreign zmq socket type, or 0 for a raw socket */
	int domain, type;   /* the raw socket */
	int consumer_first; /* the consumer must open (bind) before anyone connects */
};

static void run_case(const struct peer_case *pc)
{
	const struct ipcl_transport *t = ipcl_transport_find(pc->transport);
	struct ipcl_test_opts o;
	struct ipcl_chan *c = NULL;
	struct ipcl_ep *prod = NULL, *cons = NULL;
	struct foreign f = {.fd = -1};
	char err[IPCL_ERR_MAX] = "", buf[256], left[2048];
	int64_t until;
	size_t len = 0;
	int rc;

	if (!t) {
		printf("# %s: not built, skipped\n", pc->transport);
		return;
	}
	ipcl_test_opts(&o, "peer", NULL, 256, 1, pc->kv[0] ? pc->kv : NULL);
	rc = ipcl_chan_create(t, &o.o, &c, err);
	if (rc)
		fail_msg("%s setup: %s", pc->transport, err);
	if (pc->consumer_first) {
		rc = ipcl_ep_open(c, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &cons,
				  err);
		if (rc)
			fail_msg("%s consumer open: %s", pc->transport, err);
	}
	if (pc->zmq_type)
		foreign_zmq(&f, c->addr, pc->zmq_type);
	else
		foreign_raw(&f, c->addr, pc->domain, pc->type);
	rc = ipcl_ep_open(c, IPCL_PRODUCER, 0, ipcl_now_ns() + 5 * SEC, &prod, err);
	if (rc)
		fail_msg("%s producer open: %s", pc->transport, err);
	if (!cons) {
		rc = ipcl_ep_open(c, IPCL_CONSUMER, 0, ipcl_now_ns() + 5 * SEC, &cons,
				  err);
		if (rc)
			fail_msg("%s consumer open: %s", pc->transport, err);
	}
	assert_int_equal(t->send(prod, real, sizeof real, ipcl_now_ns() + 5 * SEC), 0);
	rc = t->recv(cons, buf, sizeof buf, &len, ipcl_now_ns() + 5 * SEC);
	if (rc)
		fail_msg("%s recv: %s", pc->transport, cons->err);
	assert_int_equal(len, sizeof real);
	assert_memory_equal(buf, real, sizeof real);
	/* A zmq handshake may be refused after the real message came: wait a bit. */
	until = ipcl_now_ns() + 3 * SEC;
	while (cons->refused == 0 && ipcl_now_ns() < until) {
		rc = t->recv(cons, buf, sizeof buf, &len, ipcl_now_ns() + SEC / 10);
		if (rc != -ETIMEDOUT)
			fail_msg("%s: a second message arrived (rc %d)", pc->transport,
				 rc);
	}
	printf("# %s: %llu foreign peer(s) refused\n", pc->transport,
	       (unsigned long long)cons->refused);
	assert_true(cons->refused >= 1);
	foreign_close(&f);
	ipcl_ep_close(prod, ipcl_now_ns() + SEC);
	ipcl_ep_close(cons, ipcl_now_ns() + SEC);
	ipcl_chan_destroy(c);
	assert_string_equal(ipcl_test_leftovers(left, sizeof left), "");
}

static const struct peer_case cases[] = {
    {"tcp", {NULL}, 0, AF_INET, SOCK_STREAM, 0},
    {"unix", {NULL}, 0, AF_UNIX, SOCK_STREAM, 0},
    {"unix-seqpacket", {NULL}, 0, AF_UNIX, SOCK_SEQPACKET, 0},
    {"udp", {NULL}, 0, AF_INET, SOCK_DGRAM, 1},
    {"unix-dgram", {NULL}, 0, AF_UNIX, SOCK_DGRAM, 1},
    {"rpc", {"net", "tcp", NULL}, 0, AF_INET, SOCK_STREAM, 0},
    {"rpc", {"net", "unix", NULL}, 0, AF_UNIX, SOCK_STREAM, 0},
#ifdef IPCL_HAVE_ZMQ
    {"zmq-pushpull", {"endpoint", "tcp", NULL}, ZMQ_PUSH, 0, 0, 1},
    {"zmq-pushpull", {"endpoint", "ipc", NULL}, ZMQ_PUSH, 0, 0, 1},
    {"zmq-reqrep", {"endpoint", "tcp", NULL}, ZMQ_REQ, 0, 0, 1},
#endif
};

static void test_foreign_peers_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_foreign_peers_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
