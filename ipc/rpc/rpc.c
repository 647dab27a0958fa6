/*
 * rpc.c - a remote procedure call, built by hand: a client stub and a server
 * skeleton that exchange length-prefixed frames over a stream socket, each side
 * driven by its own libuv event loop (uv_pipe_t on a Unix socket, or uv_tcp_t
 * on 127.0.0.1, option net=unix|tcp).
 *
 * In ipclab's terms (IPCL_CAP_REQREP, see transport.h): the producer endpoint
 * is the client stub, whose send() starts a call and whose recv() returns the
 * next result, with up to `inflight` calls outstanding; the consumer endpoint
 * is the server skeleton, whose recv() waits for the next request and whose
 * reply() returns its result. The harness is the implementation of the one
 * method, Echo. Blocking with a deadline is uv_run(UV_RUN_ONCE) in a loop with
 * a uv_timer that ends the wait.
 *
 * Limits: a payload of at most 16 MiB each way (RPC_MAX_PAYLOAD), up to 4 MiB
 * queued in libuv before a send waits, `inflight` calls outstanding.
 *
 * Peer check: the client sends the channel's random token (ipclab/peer.h) as
 * the first bytes of its connection; the server accepts (ipcl_peer_accept)
 * until a connection presents it, refusing and counting others, and only then
 * hands that connection to its loop (uv_tcp_open / uv_pipe_open).
 *
 * Left out: an IDL compiler (section 1 is what one would generate), payload
 * marshalling (the payload is the harness's opaque bytes), several clients per
 * server, cancellation, authentication beyond the run's token.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

/* ---- 1. The service: what an IDL would declare ---------------------------
 *
 *	service Echo { rpc Echo(EchoRequest) returns (EchoReply); }
 *
 * Requests and replies are views of bytes, valid until the next call on the
 * same endpoint.
 */
enum rpc_method_id {
	RPC_M_ERROR = 0, /* a reply that reports a failed call; payload: text */
	RPC_M_ECHO = 1,
};

struct rpc_echo_req {
	const void *data;
	size_t len;
};

struct rpc_echo_rep {
	const void *data;
	size_t len;
};

/* The skeleton's method table: the calls this server answers. */
static const struct rpc_method {
	uint32_t id;
	const char *name;
} rpc_methods[] = {
    {RPC_M_ECHO, "Echo"},
};

/* ---- 2. The wire format --------------------------------------------------
 *
 * Every request and reply is one frame: u32 payload length, u32 call id, u32
 * method id (network byte order), then the payload. The client numbers its
 * calls 0, 1, 2 ...; the server answers them in that order with the same id.
 */
#define RPC_HDR         12
#define RPC_MAX_PAYLOAD (16u << 20) /* refused beyond this, both ways */
#define RPC_QUEUE_MAX   (4u << 20)  /* bytes queued in libuv before a send waits */
#define RPC_LINGER_NS   (1000LL * 1000 * 1000) /* close() waits this for queued frames */

static void rpc_put32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t rpc_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

struct rpc_frame {
	uint32_t call, method;
	const unsigned char *payload;
	size_t len;
};

/* ---- 3. A connection: one libuv loop, one stream, a receive buffer -------- */

union rpc_stream {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_pipe_t pipe;
	uv_tcp_t tcp;
};

struct rpc_ep {
	int tcp;     /* net=tcp: uv_tcp_t; else uv_pipe_t */
	int loop_ok; /* loop and timer are initialised (close() must undo them) */
	uv_loop_t loop;
	uv_timer_t timer; /* ends a wait at its deadline */
	union rpc_stream peer;
	uv_connect_t connect;
	int connected; /* peer is connected (client) or accepted (server) */
	int expired;   /* the timer fired during this wait */
	int rstatus; /* why reading ended: IPCL_EOF, IPCL_EPROTO, -errno; 0: it has not */
	int wstatus; /* why writing failed: -errno; 0: it has not */

	/* rx[head, scan) holds whole frames, rx[scan, tail) the start of the next. */
	unsigned char *rx;
	size_t cap, head, scan, tail;
	uint64_t arrived, taken; /* frames scanned; frames handed to the caller */

	/* client stub */
	uint32_t inflight; /* window: calls sent whose reply has not arrived */
	uint64_t sent;     /* calls sent; the next call's id is (uint32_t)sent */
	/* server skeleton */
	int server;
	int have_call; /* recv() returned a request that reply() has not answered */
	uint32_t call; /* its call id */
};

/* A queued write owns a copy of the bytes the socket did not take at once. */
struct rpc_write {
	uv_write_t req;
	unsigned char data[];
};

/*
 * Record why reading ended (the first reason counts). A server sees its client
 * leave as EOF, or as ECONNRESET when the client closed with replies unread;
 * both mean the same to it, and the requests read before still count.
 */
static void rpc_read_ended(struct rpc_ep *e, int status)
{
	if (status == UV_EOF || (e->server && status == UV_ECONNRESET))
		status = IPCL_EOF;
	if (!e->rstatus)
		e->rstatus = status;
}

static void rpc_write_failed(struct rpc_ep *e, int status)
{
	if (!e->wstatus)
		e->wstatus = status;
}

/* A connection that could not be made fails both ways. */
static void rpc_conn_failed(struct rpc_ep *e, int status)
{
	rpc_read_ended(e, status);
	rpc_write_failed(e, status);
}

static void rpc_on_timer(uv_timer_t *t)
{
	((struct rpc_ep *)t->data)->expired = 1;
}

/* Hand libuv free space at the tail of rx, compacting or growing it first. */
static void rpc_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rpc_ep *e = h->data;

	if (e->head == e->tail) {
		e->head = e->scan = e->tail = 0;
	} else if (e->cap - e->tail < suggested && e->head > 0) {
		memmove(e->rx, e->rx + e->head, e->tail - e->head);
		e->scan -= e->head;
		e->tail -= e->head;
		e->head = 0;
	}
	if (e->cap - e->tail < suggested) {
		size_t cap =
		    e->cap * 2 > e->tail + suggested ? e->cap * 2 : e->tail + suggested;
		unsigned char *rx = realloc(e->rx, cap);

		if (!rx) { /* libuv then reports UV_ENOBUFS to rpc_on_read */
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		e->rx = rx;
		e->cap = cap;
	}
	*buf = uv_buf_init((char *)e->rx + e->tail, (unsigned)(e->cap - e->tail));
}

/* Append what was read and count the frames that are now complete. */
static void rpc_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct rpc_ep *e = s->data;

	if (n < 0) {
		rpc_read_ended(e, (int)n);
		uv_read_stop(s);
		return;
	}
	e->tail += (size_t)n;
	while (e->tail - e->scan >= RPC_HDR) {
		uint32_t len = rpc_get32(e->rx + e->scan);

		if (len > RPC_MAX_PAYLOAD) {
			rpc_read_ended(e, IPCL_EPROTO);
			uv_read_stop(s);
			return;
		}
		if (e->tail - e->scan < RPC_HDR + len)
			break;
		e->scan += RPC_HDR + len;
		e->arrived++;
	}
}

static void rpc_on_written(uv_write_t *req, int status)
{
	if (status < 0 && status != UV_ECANCELED)
		rpc_write_failed(req->handle->data, status);
	free(req);
}

static void rpc_on_connect(uv_connect_t *req, int status)
{
	struct rpc_ep *e = req->handle->data;

	if (status < 0) {
		rpc_conn_failed(e, status);
		return;
	}
	e->connected = 1;
	status = uv_read_start(&e->peer.stream, rpc_on_alloc, rpc_on_read);
	if (status < 0)
		rpc_conn_failed(e, status);
}

/*
 * What a wait waits for: each returns 1 when it holds, 0 while it may still
 * come, or the error that means it never will.
 */
static int rpc_is_connected(const struct rpc_ep *e)
{
	return e->connected ? 1 : e->rstatus;
}

static int rpc_has_frame(const struct rpc_ep *e)
{
	return e->arrived > e->taken ? 1 : e->rstatus;
}

static int rpc_window_open(const struct rpc_ep *e)
{
	if (e->wstatus)
		return e->wstatus;
	if (e->rstatus) /* no reply can come: the server has gone */
		return e->rstatus == IPCL_EOF ? -EPIPE : e->rstatus;
	return e->sent - e->arrived < e->inflight;
}

static int rpc_queue_room(const struct rpc_ep *e)
{
	return e->wstatus
		   ? e->wstatus
		   : uv_stream_get_write_queue_size(&e->peer.stream) < RPC_QUEUE_MAX;
}

static int rpc_queue_empty(const struct rpc_ep *e)
{
	return e->wstatus ? e->wstatus
			  : uv_stream_get_write_queue_size(&e->peer.stream) == 0;
}

/*
 * Run the loop until ready(e) holds: 0, or the error ready() reports, or
 * -ETIMEDOUT at the deadline, measured by a one-shot uv_timer. With
 * IPCL_FOREVER there is no timer: each round is one blocking epoll_wait.
 */
static int rpc_wait(struct rpc_ep *e, int (*ready)(const struct rpc_ep *),
		    int64_t deadline_ns)
{
	int r = ready(e), alive = 1;

	if (r)
		return r < 0 ? r : 0;
	e->expired = 0;
	if (deadline_ns != IPCL_FOREVER) {
		int64_t left = deadline_ns - ipcl_now_ns();

		if (left <= 0) { /* one look, no waiting */
			uv_run(&e->loop, UV_RUN_NOWAIT);
			r = ready(e);
			return r > 0 ? 0 : r < 0 ? r : -ETIMEDOUT;
		}
		uv_update_time(&e->loop);
		uv_timer_start(&e->timer, rpc_on_timer,
			       (uint64_t)((left + 999999) / 1000000), 0);
	}
	while ((r = ready(e)) == 0 && !e->expired && alive)
		alive = uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->timer);
	if (r)
		return r < 0 ? r : 0;
	return e->expired ? -ETIMEDOUT : -ENOTCONN; /* nothing left that could help */
}

/*
 * Put one frame on the wire: uv_try_write() first (no copy, one syscall), and
 * uv_write() a copy of whatever the socket did not take. Waits, up to the
 * deadline, only while more than RPC_QUEUE_MAX bytes are already queued.
 */
static int rpc_write_frame(struct rpc_ep *e, uint32_t call, uint32_t method,
			   const void *payload, size_t len, int64_t deadline_ns)
{
	unsigned char hdr[RPC_HDR];
	uv_buf_t b[2] = {uv_buf_init((char *)hdr, RPC_HDR),
			 uv_buf_init((char *)payload, (unsigned)len)};
	size_t total = RPC_HDR + len, done;
	struct rpc_write *w;
	int rc;

	if (len > RPC_MAX_PAYLOAD)
		return IPCL_ETOOBIG;
	rc = rpc_wait(e, rpc_queue_room, deadline_ns);
	if (rc)
		return rc;
	rpc_put32(hdr, (uint32_t)len);
	rpc_put32(hdr + 4, call);
	rpc_put32(hdr + 8, method);
	rc = uv_try_write(&e->peer.stream, b, 2);
	if (rc == (int)total)
		return 0;
	if (rc < 0 && rc != UV_EAGAIN) {
		rpc_write_failed(e, rc);
		return rc;
	}
	done = rc < 0 ? 0 : (size_t)rc;
	w = malloc(sizeof *w + total - done);
	if (!w)
		return -ENOMEM;
	if (done < RPC_HDR) {
		memcpy(w->data, hdr + done, RPC_HDR - done);
		if (len)
			memcpy(w->data + RPC_HDR - done, payload, len);
	} else {
		memcpy(w->data, (const char *)payload + (done - RPC_HDR), total - done);
	}
	b[0] = uv_buf_init((char *)w->data, (unsigned)(total - done));
	rc = uv_write(&w->req, &e->peer.stream, b, 1, rpc_on_written);
	if (rc) {
		free(w);
		rpc_write_failed(e, rc);
	}
	return rc;
}

/* Wait for the next whole frame and take it out of the buffer. */
static int rpc_read_frame(struct rpc_ep *e, struct rpc_frame *f, int64_t deadline_ns)
{
	const unsigned char *p;
	int rc = rpc_wait(e, rpc_has_frame, deadline_ns);

	if (rc)
		return rc;
	p = e->rx + e->head;
	f->len = rpc_get32(p);
	f->call = rpc_get32(p + 4);
	f->method = rpc_get32(p + 8);
	f->payload = p + RPC_HDR;
	e->head += RPC_HDR + f->len;
	e->taken++;
	return 0;
}

/* ---- 4. The client stub ------------------------------------------------- */

/* Start a call: send the request frame, first waiting while the window is full. */
static int rpc_stub_call(struct rpc_ep *e, uint32_t method, const void *arg, size_t len,
			 int64_t deadline_ns)
{
	int rc = rpc_wait(e, rpc_window_open, deadline_ns);

	if (rc == 0)
		rc = rpc_write_frame(e, (uint32_t)e->sent, method, arg, len, deadline_ns);
	if (rc == 0)
		e->sent++;
	return rc;
}

/* Finish the oldest call: its reply, which must carry its call id. */
static int rpc_stub_result(struct rpc_ep *e, uint32_t method, struct rpc_frame *f,
			   int64_t deadline_ns)
{
	uint32_t want = (uint32_t)e->taken;
	int rc = rpc_read_frame(e, f, deadline_ns);

	if (rc)
		return rc;
	if (f->call != want)
		return IPCL_EPROTO;
	if (f->method == RPC_M_ERROR)
		return IPCL_EBROKER;
	return f->method == method ? 0 : IPCL_EPROTO;
}

/* The typed stub: what a caller of Echo uses. */
static int rpc_echo_call(struct rpc_ep *e, const struct rpc_echo_req *req,
			 int64_t deadline_ns)
{
	return rpc_stub_call(e, RPC_M_ECHO, req->data, req->len, deadline_ns);
}

static int rpc_echo_result(struct rpc_ep *e, struct rpc_echo_rep *rep,
			   int64_t deadline_ns)
{
	struct rpc_frame f;
	int rc = rpc_stub_result(e, RPC_M_ECHO, &f, deadline_ns);

	if (rc == 0) {
		rep->data = f.payload;
		rep->len = f.len;
	}
	return rc;
}

/* ---- 5. The server skeleton --------------------------------------------- */

static const struct rpc_method *rpc_method_find(uint32_t id)
{
	for (size_t i = 0; i < sizeof rpc_methods / sizeof rpc_methods[0]; i++)
		if (rpc_methods[i].id == id)
			return &rpc_methods[i];
	return NULL;
}

static int rpc_client_gone(const struct rpc_ep *e)
{
	return e->rstatus == IPCL_EOF || e->wstatus == -EPIPE ||
	       e->wstatus == -ECONNRESET;
}

/*
 * Answer the current call. A client that has gone cannot be answered, and that
 * is no failure of the server: the reply is dropped, as any RPC server does.
 */
static int rpc_skel_reply(struct rpc_ep *e, uint32_t method, const void *res, size_t len,
			  int64_t deadline_ns)
{
	int rc = 0;

	if (!e->have_call)
		return -EINVAL;
	e->have_call = 0;
	if (!rpc_client_gone(e))
		rc = rpc_write_frame(e, e->call, method, res, len, deadline_ns);
	return rpc_client_gone(e) ? 0 : rc;
}

/* Wait for the next call of a known method; unknown ones get an error reply. */
static int rpc_skel_next(struct rpc_ep *e, struct rpc_frame *f, int64_t deadline_ns)
{
	for (;;) {
		int rc = rpc_read_frame(e, f, deadline_ns);

		if (rc)
			return rc;
		e->have_call = 1;
		e->call = f->call;
		if (rpc_method_find(f->method))
			return 0;
		rc = rpc_skel_reply(e, RPC_M_ERROR, "no such method", 14, deadline_ns);
		if (rc)
			return rc;
	}
}

/* The typed skeleton: how the implementation of Echo is called and answers. */
static int rpc_echo_next(struct rpc_ep *e, struct rpc_echo_req *req, int64_t deadline_ns)
{
	struct rpc_frame f;
	int rc = rpc_skel_next(e, &f, deadline_ns);

	if (rc == 0) {
		req->data = f.payload;
		req->len = f.len;
	}
	return rc;
}

static int rpc_echo_return(struct rpc_ep *e, const struct rpc_echo_rep *rep,
			   int64_t deadline_ns)
{
	return rpc_skel_reply(e, RPC_M_ECHO, rep->data, rep->len, deadline_ns);
}

/* ---- 6. The ipclab transport -------------------------------------------- */

static const struct ipcl_option rpc_options[] = {
    {"net", "unix", "unix: a Unix socket in a private directory; tcp: 127.0.0.1",
     "unix|tcp"},
    {"inflight", "1", "calls a client keeps outstanding before send() waits"},
    {NULL, NULL, NULL},
};

/* Everything open() needs, as written into chan->addr. */
struct rpc_addr {
	int tcp;
	int fd;   /* the listening socket in the creating process */
	int port; /* tcp */
	long inflight;
	struct ipcl_token tok; /* the client's first bytes */
	char path[108];        /* unix */
};

struct rpc_chan {
	int valid; /* fd was made by setup() in this process and is still open */
	int fd;
};

static int rpc_addr_parse(const char *s, struct rpc_addr *a)
{
	const char *p = strstr(s, " path=");
	char net[8];
	int n = -1;

	memset(a, 0, sizeof *a);
	if (!p ||
	    sscanf(s, "net=%7s fd=%d port=%d inflight=%ld tok=%n", net, &a->fd, &a->port,
		   &a->inflight, &n) != 4 ||
	    n < 0 || ipcl_token_parse(s + n, &a->tok) != 0 ||
	    s + n + IPCL_TOKEN_HEX != p || strlen(p + 6) >= sizeof a->path)
		return -EINVAL;
	strcpy(a->path, p + 6);
	a->tcp = strcmp(net, "tcp") == 0;
	if ((!a->tcp && strcmp(net, "unix") != 0) || a->fd < 0 || a->inflight < 1 ||
	    (a->tcp ? a->port < 1 || a->port > 65535 : a->path[0] != '/'))
		return -EINVAL;
	return 0;
}

static int rpc_options_get(const struct ipcl_opts *o, int *tcp, long long *inflight,
			   char *err)
{
	const char *net = ipcl_opt(o, rpc_options, "net");

	if (strcmp(net, "unix") != 0 && strcmp(net, "tcp") != 0)
		return ipcl_seterr(err, IPCL_EINVAL, "option net=%s: want unix or tcp",
				   net);
	*tcp = net[0] == 't';
	return ipcl_opt_int(o, rpc_options, "inflight", 1, 65536, inflight, err);
}

static int rpc_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	long long inflight;
	int tcp, rc = rpc_options_get(o, &tcp, &inflight, err);

	if (rc)
		return rc;
	p->max_msg = RPC_MAX_PAYLOAD;
	ipcl_fact(p, "libuv_version", "%s", uv_version_string());
	ipcl_fact(p, "net", "%s", tcp ? "tcp 127.0.0.1" : "unix");
	ipcl_fact(p, "inflight", "%lld", inflight);
	ipcl_fact(p, "frame_header_bytes", "%d", RPC_HDR);
	ipcl_fact(p, "max_payload", "%u", RPC_MAX_PAYLOAD);
	ipcl_fact(p, "methods", "%s", rpc_methods[0].name);
	return 0;
}

/* Is fd the channel's listening socket? (A role checks before adopting it.) */
static int rpc_fd_is(int fd, const struct rpc_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int v = 0;
	socklen_t vl = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0 || !v ||
	    getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return 0;
	if (a->tcp)
		return ss.ss_family == AF_INET &&
		       ntohs(((struct sockaddr_in *)&ss)->sin_port) == a->port;
	return ss.ss_family == AF_UNIX &&
	       strcmp(((struct sockaddr_un *)&ss)->sun_path, a->path) == 0;
}

/*
 * A plain listening socket, made here and inherited by the server's process,
 * which adopts it into its own loop (uv_pipe_open / uv_tcp_open).
 */
static int rpc_setup(struct ipcl_chan *c)
{
	struct rpc_chan *rch = c->state;
	struct rpc_addr a = {0};
	struct sockaddr_storage ss = {0};
	socklen_t l;
	long long inflight;
	char dir[108] = "", hex[IPCL_TOKEN_HEX + 1];
	int rc;

	rch->fd = -1;
	rc = rpc_options_get(c->opts, &a.tcp, &inflight, c->err);
	if (rc)
		return rc;
	rc = ipcl_token_new(&a.tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&a.tok, hex);
	if (c->opts->msg_size > RPC_MAX_PAYLOAD)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "%zu-byte messages exceed the %u-byte frame limit",
				   c->opts->msg_size, RPC_MAX_PAYLOAD);
	if (a.tcp) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		l = sizeof *in;
	} else {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		rc = ipcl_private_dir(dir, sizeof dir, c->opts->tag, c->err);
		if (rc)
			return rc;
		snprintf(a.path, sizeof a.path, "%.96s/rpc.sock", dir); /* dir: <= 80 */
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a.path, sizeof un->sun_path);
		l = sizeof *un;
	}
	rch->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rch->fd < 0) {
		rc = ipcl_seterr(c->err, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	rch->valid = 1;
	if (bind(rch->fd, (struct sockaddr *)&ss, l) < 0 || listen(rch->fd, 8) < 0 ||
	    getsockname(rch->fd, (struct sockaddr *)&ss, &l) < 0) {
		rc = ipcl_seterr(c->err, -errno, "bind/listen %s: %s",
				 a.tcp ? "127.0.0.1" : a.path, strerror(errno));
		goto fail;
	}
	rc = ipcl_fd_inheritable(rch->fd);
	if (rc) {
		ipcl_seterr(c->err, rc, "fcntl: %s", strerror(-rc));
		goto fail;
	}
	if (a.tcp)
		a.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(c->addr, sizeof c->addr,
		 "net=%s fd=%d port=%d inflight=%lld tok=%s path=%s",
		 a.tcp ? "tcp" : "unix", rch->fd, a.port, inflight, hex, a.path);
	return 0;
fail:
	if (rch->valid)
		close(rch->fd);
	rch->valid = 0;
	rch->fd = -1;
	if (dir[0])
		ipcl_remove_dir(dir);
	return rc;
}

/* The creator keeps no copy of the listener once the roles have theirs. */
static void rpc_detach(struct ipcl_chan *c)
{
	struct rpc_chan *rch = c->state;

	if (rch->valid)
		close(rch->fd);
	rch->valid = 0;
	rch->fd = -1;
}

/*
 * Server: accept on the listening socket (a dup of it in the creating process,
 * so that teardown() still closes the original) until the client with the
 * channel's token connects, close the listener, and hand the connection to
 * the loop. Client: drop an inherited copy of the listener, connect, wait
 * until done, and send the token before anything else.
 */
static int rpc_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	const struct rpc_chan *ch = ep->chan->state;
	struct rpc_ep *e = ep->state;
	struct rpc_addr a;
	int made_here, rc;

	if (rpc_addr_parse(ep->chan->addr, &a))
		return ipcl_seterr(ep->err, -EINVAL, "malformed address");
	made_here = ch && ch->valid && ch->fd == a.fd;
	e->tcp = a.tcp;
	e->server = ep->role == IPCL_CONSUMER;
	e->inflight = (uint32_t)a.inflight;
	e->cap = 64 * 1024;
	e->rx = malloc(e->cap);
	if (!e->rx)
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	rc = uv_loop_init(&e->loop);
	if (rc)
		return ipcl_seterr(ep->err, rc, "uv_loop_init: %s", uv_strerror(rc));
	e->loop_ok = 1;
	uv_timer_init(&e->loop, &e->timer);
	e->timer.data = e;
	if (ep->role == IPCL_CONSUMER) {
		int fd;

		if (!rpc_fd_is(a.fd, &a))
			return ipcl_seterr(ep->err, -EBADF,
					   "descriptor %d is not the channel's listener",
					   a.fd);
		fd = made_here ? fcntl(a.fd, F_DUPFD_CLOEXEC, 0) : a.fd;
		if (fd < 0 || (!made_here && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0))
			return ipcl_seterr(ep->err, -errno, "fcntl: %s", strerror(errno));
		rc = ipcl_peer_accept(fd, &a.tok, deadline_ns, &ep->refused, ep->err);
		close(fd); /* the listener (or its dup): one client only */
		if (rc < 0)
			return rc;
		fd = rc;
		rc = a.tcp ? uv_tcp_init(&e->loop, &e->peer.tcp)
			   : uv_pipe_init(&e->loop, &e->peer.pipe, 0);
		if (rc) {
			close(fd);
			return ipcl_seterr(ep->err, rc, "uv init: %s", uv_strerror(rc));
		}
		e->peer.handle.data = e;
		rc = a.tcp ? uv_tcp_open(&e->peer.tcp, fd)
			   : uv_pipe_open(&e->peer.pipe, fd);
		if (rc) {
			close(fd);
			return ipcl_seterr(ep->err, rc, "adopting the connection: %s",
					   uv_strerror(rc));
		}
		if (a.tcp)
			rc = uv_tcp_nodelay(&e->peer.tcp, 1);
		if (rc == 0)
			rc = uv_read_start(&e->peer.stream, rpc_on_alloc, rpc_on_read);
		if (rc)
			return ipcl_seterr(ep->err, rc, "starting to read: %s",
					   uv_strerror(rc));
		e->connected = 1;
		return 0;
	} else {
		if (!made_here && rpc_fd_is(a.fd, &a))
			close(a.fd);
		rc = a.tcp ? uv_tcp_init(&e->loop, &e->peer.tcp)
			   : uv_pipe_init(&e->loop, &e->peer.pipe, 0);
		if (rc)
			return ipcl_seterr(ep->err, rc, "uv init: %s", uv_strerror(rc));
		e->peer.handle.data = e;
		if (a.tcp) {
			struct sockaddr_in in = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)a.port),
						 .sin_addr.s_addr =
						     htonl(INADDR_LOOPBACK)};

			rc = uv_tcp_nodelay(&e->peer.tcp, 1);
			if (rc == 0)
				rc = uv_tcp_connect(&e->connect, &e->peer.tcp,
						    (const struct sockaddr *)&in,
						    rpc_on_connect);
			if (rc)
				return ipcl_seterr(ep->err, rc, "connect: %s",
						   uv_strerror(rc));
		} else {
			uv_pipe_connect(&e->connect, &e->peer.pipe, a.path,
					rpc_on_connect);
		}
	}
	rc = rpc_wait(e, rpc_is_connected, deadline_ns);
	if (rc)
		return ipcl_seterr(ep->err, rc, "connecting to %s: %s",
				   a.tcp ? "127.0.0.1" : a.path,
				   rc == -ETIMEDOUT ? "timed out" : ipcl_strerror(rc));
	/* Nothing is queued yet: the token goes straight to the socket. */
	{
		uv_buf_t b = uv_buf_init((char *)a.tok.b, sizeof a.tok.b);

		rc = uv_try_write(&e->peer.stream, &b, 1);
		if (rc != (int)sizeof a.tok.b)
			return ipcl_seterr(ep->err, rc < 0 ? rc : -EIO,
					   "sending the channel token: %s",
					   rc < 0 ? uv_strerror(rc) : "short write");
	}
	return 0;
}

static int rpc_errmsg(struct ipcl_ep *ep, int rc, const char *what)
{
	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "%s: %s", what,
			    rc == IPCL_EPROTO    ? "reply out of order or bad frame"
			    : rc == IPCL_EBROKER ? "the server answered with an error"
						 : ipcl_strerror(rc));
	return rc;
}

/* Client: start an Echo call with msg as its argument. */
static int rpc_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct rpc_echo_req req = {.data = msg, .len = len};

	if (ep->role != IPCL_PRODUCER)
		return ipcl_seterr(ep->err, -EINVAL,
				   "send() is the client's; use reply()");
	return rpc_errmsg(ep, rpc_echo_call(ep->state, &req, deadline_ns), "call");
}

/* Client: the result of the oldest call. Server: the argument of the next call. */
static int rpc_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		    int64_t deadline_ns)
{
	struct rpc_echo_req req;
	struct rpc_echo_rep rep;
	const void *data;
	size_t n;
	int rc;

	if (ep->role == IPCL_PRODUCER) {
		rc = rpc_echo_result(ep->state, &rep, deadline_ns);
		data = rep.data;
		n = rep.len;
	} else {
		rc = rpc_echo_next(ep->state, &req, deadline_ns);
		data = req.data;
		n = req.len;
	}
	if (rc)
		return rpc_errmsg(ep, rc,
				  ep->role == IPCL_PRODUCER ? "result" : "request");
	if (n > cap)
		return ipcl_seterr(ep->err, IPCL_ETRUNC,
				   "%zu-byte message, %zu-byte buffer", n, cap);
	memcpy(buf, data, n);
	*len = n;
	return 0;
}

/* Server: return msg as the result of the call recv() returned last. */
static int rpc_reply(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct rpc_echo_rep rep = {.data = msg, .len = len};
	int rc;

	if (ep->role != IPCL_CONSUMER)
		return ipcl_seterr(ep->err, -EINVAL, "reply() is the server's");
	rc = rpc_echo_return(ep->state, &rep, deadline_ns);
	if (rc == -EINVAL)
		return ipcl_seterr(ep->err, rc, "no call to answer");
	return rpc_errmsg(ep, rc, "reply");
}

/* Wait until every queued frame has been written to the socket. */
static int rpc_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rpc_ep *e = ep->state;

	if (!e->loop_ok || !e->connected)
		return 0;
	return rpc_errmsg(ep, rpc_wait(e, rpc_queue_empty, deadline_ns), "flush");
}

static void rpc_close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Let queued frames go (for a bounded time), then close every handle and the loop. */
static void rpc_close(struct ipcl_ep *ep)
{
	struct rpc_ep *e = ep->state;

	if (e->loop_ok) {
		if (e->connected && !e->wstatus)
			rpc_wait(e, rpc_queue_empty, ipcl_now_ns() + RPC_LINGER_NS);
		uv_walk(&e->loop, rpc_close_handle, NULL);
		uv_run(&e->loop, UV_RUN_DEFAULT);
		uv_loop_close(&e->loop);
		e->loop_ok = 0;
	}
	free(e->rx);
	e->rx = NULL;
}

static void rpc_teardown(struct ipcl_chan *c)
{
	struct rpc_addr a;
	char *slash;

	rpc_detach(c);
	if (rpc_addr_parse(c->addr, &a) || a.tcp)
		return;
	unlink(a.path);
	slash = strrchr(a.path, '/');
	*slash = '\0';
	slash = strrchr(a.path, '/');
	if (slash && strncmp(slash + 1, "ipcl-", 5) == 0) /* only a dir we made */
		rmdir(a.path);
}

const struct ipcl_transport ipcl_transport_rpc = {
    .name = "rpc",
    .summary = "hand-built RPC stub and skeleton over libuv (Unix socket or TCP), "
	       "length-prefixed frames",
    .caps = IPCL_CAP_REQREP | IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF,
    .chan_state_size = sizeof(struct rpc_chan),
    .ep_state_size = sizeof(struct rpc_ep),
    .options = rpc_options,
    .probe = rpc_probe,
    .setup = rpc_setup,
    .detach = rpc_detach,
    .teardown = rpc_teardown,
    .open = rpc_open,
    .send = rpc_send,
    .recv = rpc_recv,
    .reply = rpc_reply,
    .flush = rpc_flush,
    .close = rpc_close,
};
