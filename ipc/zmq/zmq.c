/*
 * zmq.c - ZeroMQ (libzmq 4.3) transports: zmq-pushpull (PUSH -> PULL),
 * zmq-pubsub (XPUB -> SUB) and zmq-reqrep (REQ <-> REP), over ipc:// (a socket
 * file in a private 0700 directory), tcp:// (127.0.0.1) or inproc:// (threads).
 *
 * Uses zmq_socket/zmq_bind/zmq_connect, zmq_send/zmq_recv on caller buffers and
 * zmq_poll for deadlines. Each endpoint of one side binds an address of its
 * own (i: ".../z<i>" or the i-th tcp port) and each endpoint of the other side
 * connects to all of them, so N producers and M consumers need no proxy. The
 * consumers bind for PUSH/PULL and REQ/REP, the producers for PUB/SUB (see
 * struct zmqt_pattern).
 *
 * Limits: ZMQ_MAXMSGSIZE (-1, none, by default), the high-water mark in
 * messages (option hwm, 1000), at most 64 binding endpoints, an ipc:// path of
 * at most 107 bytes.
 *
 * Back-pressure: zmq-pubsub sets ZMQ_XPUB_NODROP, so a send at the high-water
 * mark blocks (until the deadline, through ZMQ_SNDTIMEO) instead of dropping,
 * as PUSH does by itself; `-O overload=1` keeps zmq's default dropping, to
 * measure it as a finding. REQ sockets set ZMQ_REQ_RELAXED and
 * ZMQ_REQ_CORRELATE, so a request whose reply never comes (its REP died) can
 * be given up at a deadline and sent again.
 *
 * Peer check (tcp:// and ipc://): the binding sockets are PLAIN servers
 * (ZMQ_PLAIN_SERVER) with a ZAP handler of their own (a thread answering
 * inproc://zeromq.zap.01 in the endpoint's context, RFC 27) that admits only
 * the password that is the channel's random token (ipclab/peer.h, carried in
 * chan->addr); the connecting sockets present it (ZMQ_PLAIN_PASSWORD). Any
 * other ZMTP peer fails its handshake and is counted in ep->refused; bytes
 * that are not ZMTP never get that far. Costs one handshake per connection,
 * nothing per message (PLAIN neither encrypts nor signs).
 *
 * Left out: CURVE (encryption: a per-message cost, and another user on this
 * host who can read the traffic is root already), authenticating the binding
 * side to the connecting one (a foreign server on a port the run picked makes
 * the run's own bind fail, so the run ends in an error, not in foreign data),
 * multipart messages, zero-copy zmq_msg_init_data, ROUTER/DEALER, proxies.
 * Static helpers are named zmqt_* because libzmq owns the zmq_ prefix.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

#define ZMQT_LINGER_SENDER_MS   2000 /* what is queued (REP replies too) leaves */
#define ZMQT_LINGER_CONSUMER_MS 0    /* PULL and SUB have nothing to send */
#define ZMQT_RECONNECT_MS       10   /* a connect that came too early: retry */
#define ZMQT_MAX_BINDERS        64   /* bounded by the tcp port list in chan->addr */
#define ZMQT_ZAP_ENDPOINT       "inproc://zeromq.zap.01" /* fixed by RFC 27 */
#define ZMQT_ZAP_DOMAIN         "ipclab"
#define ZMQT_PLAIN_USER         "ipclab"

enum zmqt_kind { ZMQT_IPC, ZMQT_TCP, ZMQT_INPROC };

/*
 * The socket types of one transport and which side binds. A bound socket
 * attaches a new connection only when its own thread next calls into it
 * (zmq_recv, zmq_poll), while a connecting socket makes its pipe inside
 * zmq_connect. So for PUB/SUB the subscribers connect: a SUB's subscription
 * then reaches the XPUB without the SUB's thread doing anything, while the
 * XPUB, which binds, reads it in open().
 */
struct zmqt_pattern {
	int producer;
	int consumer;
	int producer_binds;
	const char *sockets; /* for probe() */
};

static const struct zmqt_pattern zmqt_pushpull = {ZMQ_PUSH, ZMQ_PULL, 0, "PUSH->PULL"};
static const struct zmqt_pattern zmqt_pubsub = {ZMQ_XPUB, ZMQ_SUB, 1, "XPUB->SUB"};
static const struct zmqt_pattern zmqt_reqrep = {ZMQ_REQ, ZMQ_REP, 0, "REQ<->REP"};

extern const struct ipcl_transport ipcl_transport_zmq_pubsub;
extern const struct ipcl_transport ipcl_transport_zmq_reqrep;

static const struct zmqt_pattern *zmqt_pattern_of(const struct ipcl_transport *t)
{
	if (t == &ipcl_transport_zmq_pubsub)
		return &zmqt_pubsub;
	if (t == &ipcl_transport_zmq_reqrep)
		return &zmqt_reqrep;
	return &zmqt_pushpull;
}

/*
 * Channel state. Only inproc needs it: inproc:// endpoints exist inside one
 * zmq context, so in thread mode setup() makes one that every endpoint shares,
 * and teardown() terminates it once no socket of it is left open.
 */
struct zmqt_chan {
	void *ctx;
	atomic_int nsock; /* sockets open on ctx */
};

struct zmqt_ep {
	const struct zmqt_pattern *pat;
	void *ctx;
	int own_ctx; /* ctx was made by this endpoint (not inproc) */
	void *sock;
	/*
	 * REQ/REP lockstep. On a REQ producer: a request was sent and its reply has
	 * not been received yet. On a REP consumer: a request was received and has
	 * not been answered yet.
	 */
	int outstanding;
	int nodrop;       /* XPUB with ZMQ_XPUB_NODROP: a full send blocks */
	int sndtimeo_set; /* ZMQ_SNDTIMEO is not -1 (a deadline send set it) */
	int64_t replies;  /* REQ: replies received (acked()) */
	/* A binding endpoint's ZAP handler (not inproc): its thread and socket. */
	int zap_running;
	pthread_t zap_thread;
	void *zap;
	struct ipcl_token tok;
	atomic_ullong denied; /* handshakes the handler refused */
};

/*
 * chan->addr parsed: "hwm=<hwm> n=<bound addresses> c=<consumers> o=<overload>
 * tok=<hex> <spec>", spec pointing into addr.
 */
struct zmqt_addr {
	int hwm;
	int n;
	int consumers;
	int overload; /* pub/sub: drop at the HWM instead of blocking */
	struct ipcl_token tok;
	enum zmqt_kind kind;
	const char *spec;
};

static const struct ipcl_option zmqt_options[] = {
    {"endpoint", "tcp",
     "ipc (socket file in a private dir) | tcp (127.0.0.1, ports picked at setup) | "
     "inproc (needs --threads)",
     "ipc|tcp|inproc"},
    {"hwm", "1000", "ZMQ_SNDHWM and ZMQ_RCVHWM in messages (0: no limit)"},
    {"overload", "0",
     "zmq-pubsub: 0: ZMQ_XPUB_NODROP, a send at the high-water mark blocks "
     "(back-pressure); 1: zmq's default, the XPUB drops there (measure the loss)"},
    {NULL, NULL, NULL},
};

static int zmqt_kind_opt(const struct ipcl_opts *o, enum zmqt_kind *kind, char *err)
{
	const char *v = ipcl_opt(o, zmqt_options, "endpoint");

	if (v && strcmp(v, "ipc") == 0)
		*kind = ZMQT_IPC;
	else if (v && strcmp(v, "tcp") == 0)
		*kind = ZMQT_TCP;
	else if (v && strcmp(v, "inproc") == 0)
		*kind = ZMQT_INPROC;
	else
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option endpoint=%s: want ipc, tcp or inproc",
				   v ? v : "");
	return 0;
}

static const char *zmqt_kind_name(enum zmqt_kind k)
{
	return k == ZMQT_TCP ? "tcp" : k == ZMQT_INPROC ? "inproc" : "ipc";
}

/* Parse chan->addr; IPCL_EINVAL with err set when it is empty or malformed. */
static int zmqt_parse(const char *addr, struct zmqt_addr *a, char *err)
{
	int used = 0;
	int got = sscanf(addr, "hwm=%d n=%d c=%d o=%d tok=%n", &a->hwm, &a->n,
			 &a->consumers, &a->overload, &used);

	if (got != 4 || used == 0 || a->hwm < 0 || a->n < 1 || a->n > ZMQT_MAX_BINDERS ||
	    a->consumers < 1 || a->overload < 0 || a->overload > 1 ||
	    ipcl_token_parse(addr + used, &a->tok) != 0 ||
	    addr[used + IPCL_TOKEN_HEX] != ' ')
		return ipcl_seterr(err, IPCL_EINVAL, "zmq: malformed address");
	a->spec = addr + used + IPCL_TOKEN_HEX + 1;
	if (strncmp(a->spec, "ipc://", 6) == 0)
		a->kind = ZMQT_IPC;
	else if (strncmp(a->spec, "tcp://", 6) == 0)
		a->kind = ZMQT_TCP;
	else if (strncmp(a->spec, "inproc://", 9) == 0)
		a->kind = ZMQT_INPROC;
	else
		return ipcl_seterr(err, IPCL_EINVAL, "zmq: malformed address \"%s\"",
				   a->spec);
	if (strchr(a->spec, ' '))
		return ipcl_seterr(err, IPCL_EINVAL, "zmq: malformed address \"%s\"",
				   a->spec);
	return 0;
}

/*
 * The address that binder i binds and the other side connects to: spec + i for
 * ipc and inproc, "tcp://127.0.0.1:" + the i-th port of the list for tcp.
 */
static int zmqt_endpoint(const struct zmqt_addr *a, int i, char *out, size_t cap,
			 char *err)
{
	const char *colon, *p;
	int n;

	if (i < 0 || i >= a->n)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "zmq: endpoint %d of %d does not exist", i, a->n);
	if (a->kind != ZMQT_TCP) {
		n = snprintf(out, cap, "%s%d", a->spec, i);
		goto done;
	}
	colon = strrchr(a->spec, ':');
	if (!colon || colon < a->spec + 6)
		return ipcl_seterr(err, IPCL_EINVAL, "zmq: malformed tcp endpoint %s",
				   a->spec);
	p = colon + 1;
	for (int k = 0; k < i && p; k++) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p || *p < '0' || *p > '9')
		return ipcl_seterr(err, IPCL_EINVAL, "zmq: no port %d in %s", i, a->spec);
	n = snprintf(out, cap, "%.*s%.*s", (int)(colon + 1 - a->spec), a->spec,
		     (int)strspn(p, "0123456789"), p);
done:
	if (n < 0 || (size_t)n >= cap)
		return ipcl_seterr(err, -ENAMETOOLONG, "zmq: endpoint name too long");
	return 0;
}

/*
 * Pick n distinct free loopback ports: bind n sockets to port 0 at once, read
 * the ports back, close them. A port can be taken by someone else between this
 * and the binder's zmq_bind(); that open() then fails with EADDRINUSE.
 */
static int zmqt_free_ports(int n, char *out, size_t cap, char *err)
{
	int fd[ZMQT_MAX_BINDERS];
	size_t off = 0;
	int rc = 0, i;

	for (i = 0; i < n; i++)
		fd[i] = -1;
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t sl = sizeof sa;
		int w;

		fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&sa, sizeof sa) < 0 ||
		    getsockname(fd[i], (struct sockaddr *)&sa, &sl) < 0) {
			rc = ipcl_seterr(err, -errno, "zmq: picking a tcp port: %s",
					 strerror(errno));
			goto out;
		}
		w = snprintf(out + off, cap - off, "%s%u", i ? "," : "",
			     (unsigned)ntohs(sa.sin_port));
		if (w < 0 || (size_t)w >= cap - off) {
			rc = ipcl_seterr(err, -ENAMETOOLONG, "zmq: too many tcp ports");
			goto out;
		}
		off += (size_t)w;
	}
out:
	for (i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return rc;
}

/* zmq_ctx_term, restarted when a signal interrupts it. */
static void zmqt_ctx_term(void *ctx)
{
	while (zmq_ctx_term(ctx) != 0 && zmq_errno() == EINTR)
		;
}

static int zmqt_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
		      const struct zmqt_pattern *pat)
{
	enum zmqt_kind kind;
	long long hwm, overload;
	int major, minor, patch, dflt_hwm = -1, io_threads;
	int64_t maxmsg = -1;
	size_t sz;
	void *ctx, *sock;
	int rc;

	rc = zmqt_kind_opt(o, &kind, err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, zmqt_options, "hwm", 0, INT_MAX, &hwm, err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, zmqt_options, "overload", 0, 1, &overload, err);
	if (rc)
		return rc;
	if (kind == ZMQT_IPC && !zmq_has("ipc"))
		return ipcl_seterr(err, IPCL_EUNAVAIL, "zmq: this libzmq has no ipc://");
	ctx = zmq_ctx_new();
	if (!ctx)
		return ipcl_seterr(err, -zmq_errno(), "zmq_ctx_new: %s",
				   zmq_strerror(zmq_errno()));
	io_threads = zmq_ctx_get(ctx, ZMQ_IO_THREADS);
	sock = zmq_socket(ctx, pat->consumer);
	if (!sock) {
		rc = ipcl_seterr(err, -zmq_errno(), "zmq_socket: %s",
				 zmq_strerror(zmq_errno()));
		goto out;
	}
	sz = sizeof maxmsg;
	if (zmq_getsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, &sz) != 0)
		maxmsg = -1;
	sz = sizeof dflt_hwm;
	if (zmq_getsockopt(sock, ZMQ_RCVHWM, &dflt_hwm, &sz) != 0)
		dflt_hwm = -1;
	zmq_close(sock);

	zmq_version(&major, &minor, &patch);
	p->max_msg = maxmsg > 0 ? (size_t)maxmsg : 0; /* -1: no limit */
	ipcl_fact(p, "zmq_version", "%d.%d.%d", major, minor, patch);
	ipcl_fact(p, "sockets", "%s", pat->sockets);
	ipcl_fact(p, "endpoint", "%s", zmqt_kind_name(kind));
	ipcl_fact(p, "hwm", "%lld", hwm);
	/* Flow control: whether a full pipe holds the sender back or drops. */
	if (pat == &zmqt_pubsub && overload) {
		ipcl_fact(p, "backpressure",
			  "none (overload=1: the XPUB drops at the HWM)");
		ipcl_fact(p, "flow_control", "0");
	} else {
		ipcl_fact(p, "backpressure", "%s",
			  pat == &zmqt_pubsub   ? "xpub_nodrop"
			  : pat == &zmqt_reqrep ? "one request in flight"
						: "push blocks at the hwm");
		ipcl_fact(p, "flow_control", "1");
	}
	ipcl_fact(p, "zmq_default_hwm", "%d", dflt_hwm);
	ipcl_fact(p, "zmq_maxmsgsize", "%lld", (long long)maxmsg);
	ipcl_fact(p, "linger_producer_ms", "%d", ZMQT_LINGER_SENDER_MS);
	ipcl_fact(p, "io_threads", "%d", io_threads);
	if (kind == ZMQT_IPC)
		ipcl_fact(p, "ipc_path_max", "%zu",
			  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
out:
	zmqt_ctx_term(ctx);
	return rc;
}

static int zmqt_pushpull_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return zmqt_probe(o, p, err, &zmqt_pushpull);
}

static int zmqt_pubsub_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return zmqt_probe(o, p, err, &zmqt_pubsub);
}

static int zmqt_reqrep_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return zmqt_probe(o, p, err, &zmqt_reqrep);
}

/*
 * Fix the bound addresses and write them into chan->addr. ipc makes the
 * private directory the socket files will live in; tcp picks the ports; inproc
 * (threads only) makes the context every endpoint of the channel shares.
 */
static int zmqt_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	struct zmqt_chan *zc = c->state;
	const char *tag = o->tag ? o->tag : "zmq";
	char spec[IPCL_ADDR_MAX], dir[128] = "";
	const struct zmqt_pattern *pat = zmqt_pattern_of(c->t);
	int consumers = o->consumers > 0 ? o->consumers : 1;
	int producers = o->producers > 0 ? o->producers : 1;
	int n = pat->producer_binds ? producers : consumers;
	char hex[IPCL_TOKEN_HEX + 1];
	struct ipcl_token tok;
	enum zmqt_kind kind;
	long long hwm, overload;
	int rc, w;

	rc = ipcl_token_new(&tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&tok, hex);
	rc = zmqt_kind_opt(o, &kind, c->err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, zmqt_options, "hwm", 0, INT_MAX, &hwm, c->err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, zmqt_options, "overload", 0, 1, &overload, c->err);
	if (rc)
		return rc;
	if (n > ZMQT_MAX_BINDERS)
		return ipcl_seterr(c->err, IPCL_EINVAL, "zmq: at most %d %s",
				   ZMQT_MAX_BINDERS,
				   pat->producer_binds ? "producers" : "consumers");
	switch (kind) {
	case ZMQT_IPC:
		rc = ipcl_private_dir(dir, sizeof dir, tag, c->err);
		if (rc)
			return rc;
		w = snprintf(spec, sizeof spec, "ipc://%s/z", dir);
		break;
	case ZMQT_TCP:
		w = snprintf(spec, sizeof spec, "tcp://127.0.0.1:");
		rc = zmqt_free_ports(n, spec + w, sizeof spec - (size_t)w, c->err);
		if (rc)
			return rc;
		break;
	case ZMQT_INPROC:
	default:
		if (!o->threads)
			return ipcl_seterr(
			    c->err, IPCL_EINVAL,
			    "zmq: endpoint=inproc needs --threads (inproc:// "
			    "works only inside one process)");
		zc->ctx = zmq_ctx_new();
		if (!zc->ctx)
			return ipcl_seterr(c->err, -zmq_errno(), "zmq_ctx_new: %s",
					   zmq_strerror(zmq_errno()));
		atomic_init(&zc->nsock, 0);
		w = snprintf(spec, sizeof spec, "inproc://ipcl-%s/z", tag);
		break;
	}
	if (w < 0 || (size_t)w >= sizeof spec)
		goto toolong;
	w = snprintf(c->addr, sizeof c->addr, "hwm=%lld n=%d c=%d o=%lld tok=%s %s", hwm,
		     n, consumers, overload, hex, spec);
	if (w < 0 || (size_t)w >= sizeof c->addr)
		goto toolong;
	return 0;
toolong:
	rc = ipcl_seterr(c->err, -ENAMETOOLONG, "zmq: channel address too long");
	if (dir[0])
		ipcl_remove_dir(dir);
	if (zc->ctx)
		zmqt_ctx_term(zc->ctx);
	zc->ctx = NULL;
	c->addr[0] = '\0';
	return rc;
}

/* Milliseconds left until deadline, rounded up; -1 for IPCL_FOREVER, 0 if passed. */
static long zmqt_timeout_ms(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == IPCL_FOREVER)
		return -1;
	left = deadline_ns - ipcl_now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > LONG_MAX ? LONG_MAX : (long)left;
}

/* Wait until sock can take (ZMQ_POLLOUT) or give (ZMQ_POLLIN): 0, -ETIMEDOUT, -errno. */
static int zmqt_wait(void *sock, short events, int64_t deadline_ns)
{
	for (;;) {
		zmq_pollitem_t it = {.socket = sock, .events = events};
		long ms = zmqt_timeout_ms(deadline_ns);
		int n;

		if (ms == 0)
			return -ETIMEDOUT;
		n = zmq_poll(&it, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && zmq_errno() != EINTR)
			return -zmq_errno();
	}
}

/*
 * Send one message. IPCL_FOREVER: a plain blocking zmq_send (the fast path).
 * Otherwise a non-blocking attempt, then zmq_poll until the deadline.
 */
static int zmqt_send_msg(void *sock, const void *msg, size_t len, int64_t deadline_ns)
{
	int flags = deadline_ns == IPCL_FOREVER ? 0 : ZMQ_DONTWAIT;

	for (;;) {
		int rc;

		if (zmq_send(sock, msg, len, flags) >= 0)
			return 0;
		if (zmq_errno() == EINTR)
			continue;
		if (zmq_errno() != EAGAIN || flags == 0)
			return -zmq_errno();
		rc = zmqt_wait(sock, ZMQ_POLLOUT, deadline_ns);
		if (rc)
			return rc;
	}
}

/*
 * Receive one message into buf. zmq_recv returns the message's real size and
 * copies at most cap bytes: a larger message is consumed and IPCL_ETRUNC.
 */
static int zmqt_recv_msg(void *sock, void *buf, size_t cap, size_t *len,
			 int64_t deadline_ns)
{
	int flags = deadline_ns == IPCL_FOREVER ? 0 : ZMQ_DONTWAIT;

	for (;;) {
		int n = zmq_recv(sock, buf, cap, flags), rc;

		if (n >= 0) {
			*len = (size_t)n < cap ? (size_t)n : cap;
			return (size_t)n > cap ? IPCL_ETRUNC : 0;
		}
		if (zmq_errno() == EINTR)
			continue;
		if (zmq_errno() != EAGAIN || flags == 0)
			return -zmq_errno();
		rc = zmqt_wait(sock, ZMQ_POLLIN, deadline_ns);
		if (rc)
			return rc;
	}
}

static int zmqt_setint(struct ipcl_ep *ep, int opt, int val, const char *name)
{
	struct zmqt_ep *ze = ep->state;

	if (zmq_setsockopt(ze->sock, opt, &val, sizeof val) != 0)
		return ipcl_seterr(ep->err, -zmq_errno(), "zmq_setsockopt %s=%d: %s",
				   name, val, zmq_strerror(zmq_errno()));
	return 0;
}

/*
 * The slow-joiner fix: an XPUB producer reads the subscription messages
 * (ZMQ_XPUB_VERBOSE passes every one, duplicates too) until each of the n
 * consumers has subscribed, so nothing it sends afterwards is dropped for lack
 * of a subscriber.
 */
static int zmqt_await_subscribers(struct ipcl_ep *ep, int n, int64_t deadline_ns)
{
	struct zmqt_ep *ze = ep->state;
	unsigned char b[16];
	int got = 0;

	while (got < n) {
		size_t len;
		int rc = zmqt_recv_msg(ze->sock, b, sizeof b, &len, deadline_ns);

		if (rc == -ETIMEDOUT)
			return ipcl_seterr(
			    ep->err, rc,
			    "zmq: %d of %d subscribers connected by the deadline", got,
			    n);
		if (rc && rc != IPCL_ETRUNC)
			return ipcl_seterr(ep->err, rc, "zmq: reading subscriptions: %s",
					   zmq_strerror(-rc));
		if (len >= 1 && b[0] == 1)
			got++;
	}
	return 0;
}

/* Close the socket and, if it is ours, the context. Idempotent. */
static void zmqt_release(struct ipcl_ep *ep)
{
	struct zmqt_chan *zc = ep->chan->state;
	struct zmqt_ep *ze = ep->state;

	if (ze->sock) {
		zmq_close(ze->sock);
		ze->sock = NULL;
		if (!ze->own_ctx && zc)
			atomic_fetch_sub(&zc->nsock, 1);
	}
	if (ze->zap && !ze->zap_running)
		zmq_close(ze->zap);
	/* Terminating the context ends the ZAP handler's wait with ETERM. */
	if (ze->ctx && ze->own_ctx)
		zmqt_ctx_term(ze->ctx);
	if (ze->zap_running)
		pthread_join(ze->zap_thread, NULL);
	ze->zap = NULL;
	ze->zap_running = 0;
	ze->ctx = NULL;
	ze->own_ctx = 0;
}

/*
 * The ZAP handler (RFC 27) of a binding endpoint, in a thread of its own: for
 * each handshake, a request of 8 frames (version, request id, domain, address,
 * routing id, mechanism, then PLAIN's user name and password) answered with
 * "200" when the password is the channel's token, "400" (and a count in
 * ze->denied) otherwise. Ends when the context is terminated.
 */
static void *zmqt_zap_main(void *arg)
{
	struct zmqt_ep *ze = arg;

	for (;;) {
		unsigned char f[8][64], skip[64];
		int len[8] = {0}, n = 0, more = 1, ok;
		size_t ml = sizeof more;

		while (more) {
			int r = zmq_recv(ze->zap, n < 8 ? f[n] : skip, 64, 0);

			if (r < 0) {
				if (zmq_errno() == EINTR)
					continue;
				goto out; /* ETERM: the endpoint is closing */
			}
			if (n < 8)
				len[n] = r;
			n++;
			if (zmq_getsockopt(ze->zap, ZMQ_RCVMORE, &more, &ml) != 0)
				goto out;
		}
		ok = n == 8 && len[5] == 5 && memcmp(f[5], "PLAIN", 5) == 0 &&
		     len[7] == IPCL_TOKEN_LEN && ipcl_token_equal(f[7], ze->tok.b);
		if (!ok)
			atomic_fetch_add(&ze->denied, 1);
		if (n < 2 || len[1] > 64)
			len[1] = 0; /* a malformed request: answer with no id */
		if ((zmq_send(ze->zap, "1.0", 3, ZMQ_SNDMORE) < 0 ||
		     zmq_send(ze->zap, f[1], (size_t)len[1], ZMQ_SNDMORE) < 0 ||
		     zmq_send(ze->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE) < 0 ||
		     zmq_send(ze->zap, ok ? "OK" : "not the run's peer", ok ? 2 : 18,
			      ZMQ_SNDMORE) < 0 ||
		     zmq_send(ze->zap, "", 0, ZMQ_SNDMORE) < 0 ||
		     zmq_send(ze->zap, "", 0, 0) < 0) &&
		    zmq_errno() == ETERM)
			goto out;
	}
out:
	zmq_close(ze->zap);
	return NULL;
}

/*
 * tcp:// and ipc://. A binding endpoint binds its ZAP handler's socket in its
 * own context and starts the handler's thread, then makes its socket a PLAIN
 * server in the ZAP domain. A connecting endpoint presents the token as its
 * PLAIN password. 0, or a negative error with ep->err set.
 */
static int zmqt_secure(struct ipcl_ep *ep, const struct zmqt_addr *a, int binds)
{
	struct zmqt_ep *ze = ep->state;
	int one = 1;

	if (!binds) {
		if (zmq_setsockopt(ze->sock, ZMQ_PLAIN_USERNAME, ZMQT_PLAIN_USER,
				   strlen(ZMQT_PLAIN_USER)) != 0 ||
		    zmq_setsockopt(ze->sock, ZMQ_PLAIN_PASSWORD, a->tok.b,
				   sizeof a->tok.b) != 0)
			return ipcl_seterr(ep->err, -zmq_errno(),
					   "zmq_setsockopt PLAIN credentials: %s",
					   zmq_strerror(zmq_errno()));
		return 0;
	}
	ze->tok = a->tok;
	atomic_init(&ze->denied, 0);
	ze->zap = zmq_socket(ze->ctx, ZMQ_REP);
	if (!ze->zap || zmq_bind(ze->zap, ZMQT_ZAP_ENDPOINT) != 0)
		return ipcl_seterr(ep->err, -zmq_errno(), "zmq: ZAP handler: %s",
				   zmq_strerror(zmq_errno()));
	/* The socket moves to the thread; creating it is the memory barrier. */
	if (pthread_create(&ze->zap_thread, NULL, zmqt_zap_main, ze) != 0)
		return ipcl_seterr(ep->err, -EAGAIN, "zmq: cannot start the ZAP handler");
	ze->zap_running = 1;
	if (zmq_setsockopt(ze->sock, ZMQ_ZAP_DOMAIN, ZMQT_ZAP_DOMAIN,
			   strlen(ZMQT_ZAP_DOMAIN)) != 0 ||
	    zmq_setsockopt(ze->sock, ZMQ_PLAIN_SERVER, &one, sizeof one) != 0)
		return ipcl_seterr(ep->err, -zmq_errno(),
				   "zmq_setsockopt PLAIN_SERVER: %s",
				   zmq_strerror(zmq_errno()));
	return 0;
}

/* Bring the ZAP handler's count of refused handshakes into ep->refused. */
static void zmqt_count_refused(struct ipcl_ep *ep)
{
	struct zmqt_ep *ze = ep->state;

	if (ze->zap_running)
		ep->refused = atomic_load_explicit(&ze->denied, memory_order_relaxed);
}

/*
 * Open one endpoint. The binding side binds its own address, the other side
 * connects to all of them; zmq connects in the background and queues what is
 * sent meanwhile (ZMQ_IMMEDIATE stays 0), so a PUSH or REQ producer returns at
 * once. A SUB subscribes to everything before it connects; an XPUB producer
 * returns only once every consumer has subscribed.
 */
static int zmqt_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	const struct zmqt_pattern *pat = zmqt_pattern_of(ep->chan->t);
	struct zmqt_chan *zc = ep->chan->state;
	struct zmqt_ep *ze = ep->state;
	int producer = ep->role == IPCL_PRODUCER;
	int binds = producer == pat->producer_binds;
	int type = producer ? pat->producer : pat->consumer;
	int linger = type == ZMQ_PULL || type == ZMQ_SUB ? ZMQT_LINGER_CONSUMER_MS
							 : ZMQT_LINGER_SENDER_MS;
	char name[IPCL_ADDR_MAX];
	struct zmqt_addr a;
	int rc;

	ze->pat = pat;
	rc = zmqt_parse(ep->chan->addr, &a, ep->err);
	if (rc)
		return rc;
	if (a.kind == ZMQT_INPROC) {
		if (!zc || !zc->ctx)
			return ipcl_seterr(
			    ep->err, IPCL_EINVAL,
			    "zmq: inproc endpoints exist only in the threads "
			    "of the process that made the channel");
		ze->ctx = zc->ctx;
	} else {
		ze->ctx = zmq_ctx_new();
		if (!ze->ctx)
			return ipcl_seterr(ep->err, -zmq_errno(), "zmq_ctx_new: %s",
					   zmq_strerror(zmq_errno()));
		ze->own_ctx = 1;
	}
	ze->sock = zmq_socket(ze->ctx, type);
	if (!ze->sock) {
		rc = ipcl_seterr(ep->err, -zmq_errno(), "zmq_socket: %s",
				 zmq_strerror(zmq_errno()));
		goto fail;
	}
	if (!ze->own_ctx)
		atomic_fetch_add(&zc->nsock, 1);

	if ((rc = zmqt_setint(ep, ZMQ_LINGER, linger, "LINGER")) ||
	    (rc = zmqt_setint(ep, producer ? ZMQ_SNDHWM : ZMQ_RCVHWM, a.hwm,
			      producer ? "SNDHWM" : "RCVHWM")) ||
	    (rc = zmqt_setint(ep, ZMQ_RECONNECT_IVL, ZMQT_RECONNECT_MS, "RECONNECT_IVL")))
		goto fail;
	if (type == ZMQ_XPUB &&
	    (rc = zmqt_setint(ep, ZMQ_XPUB_VERBOSE, 1, "XPUB_VERBOSE")))
		goto fail;
	if (type == ZMQ_XPUB && !a.overload) {
		if ((rc = zmqt_setint(ep, ZMQ_XPUB_NODROP, 1, "XPUB_NODROP")))
			goto fail;
		ze->nodrop = 1;
	}
	if (type == ZMQ_REQ &&
	    ((rc = zmqt_setint(ep, ZMQ_REQ_RELAXED, 1, "REQ_RELAXED")) ||
	     (rc = zmqt_setint(ep, ZMQ_REQ_CORRELATE, 1, "REQ_CORRELATE"))))
		goto fail;
	if (type == ZMQ_SUB && zmq_setsockopt(ze->sock, ZMQ_SUBSCRIBE, "", 0) != 0) {
		rc = ipcl_seterr(ep->err, -zmq_errno(), "zmq_setsockopt SUBSCRIBE: %s",
				 zmq_strerror(zmq_errno()));
		goto fail;
	}

	if (a.kind != ZMQT_INPROC && (rc = zmqt_secure(ep, &a, binds)) != 0)
		goto fail;
	if (binds) {
		rc = zmqt_endpoint(&a, ep->index, name, sizeof name, ep->err);
		if (rc)
			goto fail;
		if (zmq_bind(ze->sock, name) != 0) {
			rc = ipcl_seterr(ep->err, -zmq_errno(), "zmq_bind %s: %s", name,
					 zmq_strerror(zmq_errno()));
			goto fail;
		}
	} else {
		for (int i = 0; i < a.n; i++) {
			rc = zmqt_endpoint(&a, i, name, sizeof name, ep->err);
			if (rc)
				goto fail;
			if (zmq_connect(ze->sock, name) != 0) {
				rc = ipcl_seterr(ep->err, -zmq_errno(),
						 "zmq_connect %s: %s", name,
						 zmq_strerror(zmq_errno()));
				goto fail;
			}
		}
	}
	if (type == ZMQ_XPUB) {
		rc = zmqt_await_subscribers(ep, a.consumers, deadline_ns);
		if (rc)
			goto fail;
	}
	return 0;
fail:
	zmqt_release(ep);
	return rc;
}

/*
 * XPUB with ZMQ_XPUB_NODROP: at the high-water mark zmq_send fails with EAGAIN
 * instead of dropping, and a blocking zmq_send waits inside libzmq until a
 * subscriber's pipe has room (ZMQ_POLLOUT does not tell, an XPUB always
 * reports it). So: block, with ZMQ_SNDTIMEO set to the time left when there is
 * a deadline. 0, -ETIMEDOUT, or -errno.
 */
static int zmqt_send_nodrop(struct ipcl_ep *ep, const void *msg, size_t len,
			    int64_t deadline_ns)
{
	struct zmqt_ep *ze = ep->state;
	int rc;

	for (;;) {
		long ms = zmqt_timeout_ms(deadline_ns);

		if (ms == 0)
			return -ETIMEDOUT;
		if (ms > 0 || ze->sndtimeo_set) {
			rc = zmqt_setint(ep, ZMQ_SNDTIMEO,
					 ms > INT_MAX ? INT_MAX : (int)ms, "SNDTIMEO");
			if (rc)
				return rc;
			ze->sndtimeo_set = ms >= 0;
		}
		if (zmq_send(ze->sock, msg, len, 0) >= 0)
			return 0;
		if (zmq_errno() == EINTR)
			continue;
		if (zmq_errno() != EAGAIN)
			return -zmq_errno();
	}
}

/* REQ producer: replies received so far (the acknowledgment of a request). */
static int64_t zmqt_acked(struct ipcl_ep *ep)
{
	struct zmqt_ep *ze = ep->state;

	return ze->pat && ze->pat->producer == ZMQ_REQ ? ze->replies : -1;
}

static int zmqt_wrong_role(struct ipcl_ep *ep, const char *what)
{
	return ipcl_seterr(ep->err, -EOPNOTSUPP, "zmq: %s on a %s of this pattern", what,
			   ep->role == IPCL_PRODUCER ? "producer" : "consumer");
}

/*
 * Producer: send one message (PUSH blocks at the high-water mark; XPUB drops
 * there and still returns 0; REQ sends a request). A REQ allows one request in
 * flight: if the reply to the previous one has not been taken by recv(), it is
 * received here and discarded, so a stream of send()s works too.
 */
static int zmqt_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct zmqt_ep *ze = ep->state;
	int rc;

	if (ep->role != IPCL_PRODUCER)
		return zmqt_wrong_role(ep, "send()");
	if (ze->pat->producer == ZMQ_REQ && ze->outstanding) {
		unsigned char scratch[1];
		size_t n;

		rc = zmqt_recv_msg(ze->sock, scratch, sizeof scratch, &n, deadline_ns);
		if (rc == -ETIMEDOUT) {
			/*
			 * The reply never came by the deadline: give that request up
			 * (REQ_RELAXED lets the next send go, REQ_CORRELATE drops a
			 * late reply to it); this message was not sent.
			 */
			ze->outstanding = 0;
			return rc;
		}
		if (rc && rc != IPCL_ETRUNC)
			goto err;
		ze->outstanding = 0;
		ze->replies++;
	}
	rc = ze->nodrop ? zmqt_send_nodrop(ep, msg, len, deadline_ns)
			: zmqt_send_msg(ze->sock, msg, len, deadline_ns);
	if (rc)
		goto err;
	if (ze->pat->producer == ZMQ_REQ)
		ze->outstanding = 1;
	zmqt_count_refused(ep);
	return 0;
err:
	if (rc != -ETIMEDOUT)
		ipcl_seterr(ep->err, rc, "zmq send: %s", zmq_strerror(-rc));
	return rc;
}

/*
 * Consumer: receive the next message (a REP first answers a request that
 * reply() was not called for with an empty reply, as REP must alternate).
 * REQ producer: receive the reply to the request in flight.
 */
static int zmqt_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct zmqt_ep *ze = ep->state;
	int rc;

	if (ep->role == IPCL_PRODUCER) {
		if (ze->pat->producer != ZMQ_REQ)
			return zmqt_wrong_role(ep, "recv()");
		if (!ze->outstanding)
			return ipcl_seterr(
			    ep->err, -EINVAL,
			    "zmq: recv() on a REQ with no request in flight");
	} else if (ze->pat->consumer == ZMQ_REP && ze->outstanding) {
		rc = zmqt_send_msg(ze->sock, "", 0, deadline_ns);
		if (rc)
			goto err;
		ze->outstanding = 0;
	}
	rc = zmqt_recv_msg(ze->sock, buf, cap, len, deadline_ns);
	/* A consumed message, even a truncated one, moves REQ/REP to its next step. */
	if (ze->pat == &zmqt_reqrep && (rc == 0 || rc == IPCL_ETRUNC)) {
		ze->outstanding = ep->role == IPCL_CONSUMER;
		ze->replies += ep->role == IPCL_PRODUCER;
	}
	zmqt_count_refused(ep);
	if (rc == 0)
		return 0;
err:
	if (rc == IPCL_ETRUNC)
		ipcl_seterr(ep->err, rc, "zmq: message larger than the %zu-byte buffer",
			    cap);
	else if (rc != -ETIMEDOUT)
		ipcl_seterr(ep->err, rc, "zmq recv: %s", zmq_strerror(-rc));
	return rc;
}

/* REP consumer: answer the request recv() returned last. */
static int zmqt_reply(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	struct zmqt_ep *ze = ep->state;
	int rc;

	if (ep->role != IPCL_CONSUMER)
		return zmqt_wrong_role(ep, "reply()");
	if (!ze->outstanding)
		return ipcl_seterr(ep->err, -EINVAL,
				   "zmq: reply() with no request to answer");
	rc = zmqt_send_msg(ze->sock, msg, len, deadline_ns);
	if (rc) {
		if (rc != -ETIMEDOUT)
			ipcl_seterr(ep->err, rc, "zmq reply: %s", zmq_strerror(-rc));
		return rc;
	}
	ze->outstanding = 0;
	return 0;
}

/*
 * There is no flush(): zmq_send hands a message to the I/O thread at once, and
 * a producer's close keeps sending what is queued for up to ZMQ_LINGER (2 s).
 */
static void zmqt_close(struct ipcl_ep *ep)
{
	struct zmqt_ep *ze = ep->state;

	/*
	 * A REP closing with a request unanswered (the harness does not answer its
	 * end marker) sends an empty reply first, so the REQ that waits for it can
	 * go on; the REP's linger lets the reply leave.
	 */
	if (ze->sock && ep->role == IPCL_CONSUMER && ze->pat == &zmqt_reqrep &&
	    ze->outstanding) {
		while (zmq_send(ze->sock, "", 0, ZMQ_DONTWAIT) < 0 &&
		       zmq_errno() == EINTR)
			;
		ze->outstanding = 0;
	}
	zmqt_release(ep);
}

/*
 * ipc: remove the socket files and their directory, named by addr alone, and
 * only if the directory is one of ours (ipcl-*). inproc: terminate the shared
 * context, unless an endpoint is still open (then only shut it down: waiting
 * would hang, the memory goes with the process).
 */
static void zmqt_teardown(struct ipcl_chan *c)
{
	struct zmqt_chan *zc = c->state;
	struct zmqt_addr a;

	if (zc && zc->ctx) {
		if (atomic_load(&zc->nsock) == 0)
			zmqt_ctx_term(zc->ctx);
		else
			zmq_ctx_shutdown(zc->ctx);
		zc->ctx = NULL;
	}
	if (zmqt_parse(c->addr, &a, NULL) == 0 && a.kind == ZMQT_IPC) {
		char dir[IPCL_ADDR_MAX];
		char *slash, *base;

		snprintf(dir, sizeof dir, "%s", a.spec + 6);
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return;
		*slash = '\0';
		base = strrchr(dir, '/');
		base = base ? base + 1 : dir;
		if (strncmp(base, "ipcl-", 5) == 0)
			ipcl_remove_dir(dir);
	}
}

/* What the three tables share: one set of functions, told apart by zmqt_pattern_of(). */
#define ZMQT_TRANSPORT(sym, tname, tsummary, tcaps, tprobe, treply)             \
	const struct ipcl_transport sym = {                                     \
	    .name = tname,                                                      \
	    .summary = tsummary,                                                \
	    .caps = (tcaps) | IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | \
		    IPCL_CAP_CROSS_HOST,                                        \
	    .chan_state_size = sizeof(struct zmqt_chan),                        \
	    .ep_state_size = sizeof(struct zmqt_ep),                            \
	    .options = zmqt_options,                                            \
	    .probe = tprobe,                                                    \
	    .setup = zmqt_setup,                                                \
	    .teardown = zmqt_teardown,                                          \
	    .open = zmqt_open,                                                  \
	    .send = zmqt_send,                                                  \
	    .recv = zmqt_recv,                                                  \
	    .reply = treply,                                                    \
	    .acked = zmqt_acked,                                                \
	    .close = zmqt_close,                                                \
	}

ZMQT_TRANSPORT(ipcl_transport_zmq_pushpull, "zmq-pushpull",
	       "ZeroMQ PUSH/PULL over ipc://, tcp:// or inproc:// (libzmq)",
	       IPCL_CAP_MULTI_CONSUMER, zmqt_pushpull_probe, NULL);
ZMQT_TRANSPORT(ipcl_transport_zmq_pubsub, "zmq-pubsub",
	       "ZeroMQ PUB/SUB (XPUB waits for subscribers, XPUB_NODROP blocks at the "
	       "HWM; overload=1 drops there) (libzmq)",
	       IPCL_CAP_FANOUT | IPCL_CAP_LOSSY, zmqt_pubsub_probe, NULL);
ZMQT_TRANSPORT(ipcl_transport_zmq_reqrep, "zmq-reqrep",
	       "ZeroMQ REQ/REP request-reply, one request in flight (libzmq)",
	       IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_REQREP, zmqt_reqrep_probe, zmqt_reply);

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer (-DIPCL_TSAN=ON): libzmq from Debian (and libpgm and libnorm,
 * which it links, and where TSan places some of its frames) is not instrumented, so
 * the hand-off between our thread and libzmq's I/O thread (lock-free queues,
 * memcpy in the I/O thread) looks like a race to it. Ignore what happens
 * inside libzmq; races in ipclab's own code are still reported.
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:libzmq.so\nrace:libzmq.so\n"
	       "called_from_lib:libpgm\nrace:libpgm\n"
	       "called_from_lib:libnorm\nrace:libnorm\n";
}
#endif
