/*
 * grpc.c - gRPC over HTTP/2 (cleartext, 127.0.0.1) with gRPC's C core library
 * (grpc/grpc.h: completion queues and batches of operations; no C++ API, no
 * generated gRPC code) and messages as protobuf `bytes` fields (protobuf-c,
 * echo.proto, compiled at build time).
 *
 * The service is ipclab.Echo (echo.proto). The consumer endpoint is the
 * server, the producer the client (IPCL_CAP_REQREP, see transport.h):
 * - ping-pong (opts->streaming 0): each send() is a unary Echo call, with up
 *   to `inflight` calls outstanding; recv() returns the responses in call
 *   order; the server's reply() sends the response and the call's status.
 * - stream (opts->streaming 1): the first send() opens one client-streaming
 *   Collect call and every send() is one message on it (gRPC allows one send
 *   operation at a time per call, so send() waits for the previous one); the
 *   server's reply() is a local acknowledgement, and the call's one response,
 *   a Summary of what the server counted, comes when the client half-closes.
 * End of stream: a half-closed Collect call, or a Bye call in unary mode.
 *
 * Each endpoint owns one completion queue and drives it from its own thread
 * (grpc_completion_queue_next with the caller's deadline). setup() reserves a
 * free port by binding (not listening) a SO_REUSEPORT socket that it keeps
 * until teardown; the server binds the same port (gRPC sets SO_REUSEPORT).
 * Peers prove they belong to the run with a random token in the request
 * metadata (x-ipclab-token); the server answers PERMISSION_DENIED otherwise.
 *
 * Files: grpc.c (this: the completion queue and calls both sides share,
 * setup, open, send, recv, reply, close, teardown, the const table),
 * server.c, client.c, proto.c (echo.proto's messages), grpc_ep.h.
 *
 * Left out: TLS, several clients or servers per channel, compression,
 * deadlines on the wire (calls carry none; the endpoint's deadlines are local).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipclab/peer.h>
#include <ipclab/transport.h>

#include "echo.pb-c.h"

#include "grpc_ep.h"

static const struct ipcl_option grpc_options[] = {
    {"inflight", "1",
     "unary calls a client keeps outstanding before send() waits (ping-pong "
     "and the contract suite; stream uses one Collect call)"},
    {"coalesce", "0",
     "1: Collect messages are sent with GRPC_WRITE_BUFFER_HINT, so gRPC may "
     "hold one until the next (or the half-close) and write them together"},
    {NULL, NULL, NULL},
};

void ipcl_grpc_fail(struct grpc_ep *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (e->err)
		return;
	e->err = rc;
	va_start(ap, fmt);
	vsnprintf(e->errtext, sizeof e->errtext, fmt, ap);
	va_end(ap);
}

static gpr_timespec grpc_deadline(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == IPCL_FOREVER)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	left = deadline_ns - ipcl_now_ns();
	if (left < 0)
		left = 0;
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_nanos(left, GPR_TIMESPAN));
}

struct gcall *ipcl_grpc_gcal__new(struct grpc_ep *e, enum gm method)
{
	struct gcall *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->e = e;
	c->method = method;
	c->t_new = (struct gtag){GT_NEW, c};
	c->t_recv = (struct gtag){GT_RECV, c};
	c->t_send = (struct gtag){GT_SEND, c};
	c->t_done = (struct gtag){GT_DONE, c};
	grpc_metadata_array_init(&c->md);
	grpc_metadata_array_init(&c->tmd);
	c->details = grpc_empty_slice();
	c->sdetails = grpc_empty_slice();
	c->smd.key = grpc_slice_from_static_string(GRPC_TOKEN_KEY);
	c->smd.value = grpc_empty_slice();
	e->live++;
	return c;
}

/* Free the call if no batch is pending and nothing holds it. */
void ipcl_grpc_gcal__check(struct gcall *c)
{
	if (c->held || c->batches)
		return;
	if (c->call)
		grpc_call_unref(c->call);
	if (c->in)
		grpc_byte_buffer_destroy(c->in);
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	grpc_metadata_array_destroy(&c->md);
	grpc_metadata_array_destroy(&c->tmd);
	grpc_slice_unref(c->details);
	grpc_slice_unref(c->sdetails);
	grpc_slice_unref(c->smd.value);
	free(c->data);
	c->e->live--;
	free(c);
}

/* Drop one reference (queue, current call, list) and free the call if unused. */
void ipcl_grpc_gcal__put(struct gcall *c)
{
	if (c->held > 0)
		c->held--;
	ipcl_grpc_gcal__check(c);
}

/* Start a batch; one completion (tag t) will follow when it returns 0. */
int ipcl_grpc_gcal__batch(struct gcall *c, const grpc_op *ops, size_t n, struct gtag *t)
{
	grpc_call_error ce = grpc_call_start_batch(c->call, ops, n, t, NULL);

	if (ce != GRPC_CALL_OK) {
		ipcl_grpc_fail(c->e, IPCL_EPROTO, "grpc_call_start_batch: error %d",
			       (int)ce);
		return IPCL_EPROTO;
	}
	c->batches++;
	return 0;
}

/*
 * Take completions until ready(e) holds: 0, the endpoint's error, or
 * -ETIMEDOUT at the deadline.
 */
int ipcl_grpc_drive(struct grpc_ep *e, int (*ready)(const struct grpc_ep *),
		    int64_t deadline_ns)
{
	for (;;) {
		grpc_event ev;

		if (ready(e))
			return 0;
		if (e->err && !e->closing)
			return e->err;
		if (deadline_ns != IPCL_FOREVER && ipcl_now_ns() >= deadline_ns) {
			/* one look without waiting */
			ev = grpc_completion_queue_next(
			    e->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
			if (ev.type != GRPC_OP_COMPLETE)
				return ready(e) ? 0 : -ETIMEDOUT;
		} else {
			ev = grpc_completion_queue_next(e->cq, grpc_deadline(deadline_ns),
							NULL);
			if (ev.type == GRPC_QUEUE_TIMEOUT)
				continue;
			if (ev.type != GRPC_OP_COMPLETE)
				return IPCL_EPROTO;
		}
		if (e->srv)
			ipcl_grpc_gsrv_event(e, ev.tag, ev.success);
		else
			ipcl_grpc_gcli_event(e, ev.tag, ev.success);
	}
}

static int grpc_addr_parse(const char *s, struct grpc_addr *a)
{
	int n = -1;

	memset(a, 0, sizeof *a);
	if (sscanf(s, "port=%d inflight=%d coalesce=%d token=%32[0-9a-f]%n", &a->port,
		   &a->inflight, &a->coalesce, a->token, &n) != 4 ||
	    s[n] != '\0' || strlen(a->token) != 2 * GRPC_TOKEN_BYTES)
		return -EINVAL;
	if (a->port < 1 || a->port > 65535 || a->inflight < 1 || a->coalesce < 0 ||
	    a->coalesce > 1 || a->inflight > GRPC_MAX_INFLIGHT)
		return -EINVAL;
	return 0;
}

static int grpc_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	long long inflight, coalesce;
	int rc = ipcl_opt_int(o, grpc_options, "inflight", 1, GRPC_MAX_INFLIGHT,
			      &inflight, err);

	if (rc == 0)
		rc = ipcl_opt_int(o, grpc_options, "coalesce", 0, 1, &coalesce, err);
	if (rc)
		return rc;
	p->max_msg = GRPC_MAX_PAYLOAD;
	ipcl_fact(p, "grpc_core_version", "%s (gRPC core ABI; Debian libgrpc 1.51)",
		  grpc_version_string());
	ipcl_fact(p, "protobuf_c_version", "%s", protobuf_c_version());
	ipcl_fact(p, "protocol", "gRPC over HTTP/2 cleartext, 127.0.0.1");
	ipcl_fact(p, "calls", "%s",
		  o->streaming ? "one client-streaming Collect call"
			       : "unary Echo calls");
	ipcl_fact(p, "inflight", "%lld", inflight);
	ipcl_fact(p, "coalesce", "%lld", coalesce);
	ipcl_fact(p, "max_payload", "%u", GRPC_MAX_PAYLOAD);
	ipcl_fact(p, "peer_check", "per-run random token in metadata " GRPC_TOKEN_KEY);
	return 0;
}

/* Reserve a free loopback port: bound, not listening, SO_REUSEPORT. */
static int grpc_setup(struct ipcl_chan *c)
{
	struct grpc_chan *gc = c->state;
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof in;
	struct ipcl_token tok;
	char token[2 * GRPC_TOKEN_BYTES + 1];
	long long inflight, coalesce;
	int one = 1, rc;

	gc->fd = -1;
	rc = ipcl_opt_int(c->opts, grpc_options, "inflight", 1, GRPC_MAX_INFLIGHT,
			  &inflight, c->err);
	if (rc == 0)
		rc = ipcl_opt_int(c->opts, grpc_options, "coalesce", 0, 1, &coalesce,
				  c->err);
	if (rc)
		return rc;
	if (c->opts->msg_size > GRPC_MAX_PAYLOAD)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "%zu-byte messages exceed the %u-byte limit",
				   c->opts->msg_size, GRPC_MAX_PAYLOAD);
	if (c->opts->producers > 1 || c->opts->consumers > 1)
		return ipcl_seterr(c->err, IPCL_EINVAL,
				   "one client and one server per channel");
	rc = ipcl_token_new(&tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&tok, token);
	gc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (gc->fd < 0)
		return ipcl_seterr(c->err, -errno, "socket: %s", strerror(errno));
	gc->valid = 1;
	if (setsockopt(gc->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(gc->fd, (struct sockaddr *)&in, l) < 0 ||
	    getsockname(gc->fd, (struct sockaddr *)&in, &l) < 0) {
		rc = ipcl_seterr(c->err, -errno, "reserving a port on 127.0.0.1: %s",
				 strerror(errno));
		close(gc->fd);
		gc->valid = 0;
		gc->fd = -1;
		return rc;
	}
	snprintf(c->addr, sizeof c->addr, "port=%d inflight=%lld coalesce=%lld token=%s",
		 ntohs(in.sin_port), inflight, coalesce, token);
	return 0;
}

/* The reservation lives until teardown; a crashed creator's died with it. */
static void grpc_teardown(struct ipcl_chan *c)
{
	struct grpc_chan *gc = c->state;

	if (gc->valid)
		close(gc->fd);
	gc->valid = 0;
	gc->fd = -1;
}

static int grpc_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;
	struct grpc_addr a;

	if (grpc_addr_parse(ep->chan->addr, &a))
		return ipcl_seterr(ep->err, -EINVAL, "malformed address \"%.200s\"",
				   ep->chan->addr);
	e->port = a.port;
	e->inflight = a.inflight;
	e->coalesce = a.coalesce;
	e->streaming = ep->chan->opts->streaming;
	memcpy(e->token, a.token, sizeof e->token);
	grpc_init();
	e->init = 1;
	e->cq = grpc_completion_queue_create_for_next(NULL);
	if (!e->cq)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL, "no completion queue");
	return ep->role == IPCL_CONSUMER ? ipcl_grpc_open_server(ep)
					 : ipcl_grpc_open_client(ep, deadline_ns);
}

static int grpc_errmsg(struct ipcl_ep *ep, int rc, const char *what)
{
	struct grpc_ep *e = ep->state;

	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "%s: %s", what,
			    e->err == rc && e->errtext[0] ? e->errtext
							  : ipcl_strerror(rc));
	return rc;
}

/* Client: one unary Echo call, or one message on the Collect call. */
static int grpc_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;
	struct gcall *c;
	int rc;

	if (ep->role != IPCL_PRODUCER)
		return ipcl_seterr(ep->err, -EINVAL,
				   "send() is the client's; use reply()");
	if (len > GRPC_MAX_PAYLOAD)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "%zu-byte message over the %u-byte limit", len,
				   GRPC_MAX_PAYLOAD);
	if (e->streaming) {
		grpc_op op;

		if (!e->collect) {
			e->collect = ipcl_grpc_gcli_start(e, GM_COLLECT, NULL);
			if (!e->collect)
				return grpc_errmsg(ep, e->err, "send");
		}
		c = e->collect;
		rc = ipcl_grpc_drive(e, ipcl_grpc_gcli_collect_idle, deadline_ns);
		if (rc == 0 && c->done)
			rc = e->err ? e->err : -ECONNRESET; /* the server ended it */
		if (rc)
			return grpc_errmsg(ep, rc, "send");
		memset(&op, 0, sizeof op);
		c->out = ipcl_grpc_msg_encode(msg, len);
		op.op = GRPC_OP_SEND_MESSAGE;
		if (e->coalesce)
			op.flags = GRPC_WRITE_BUFFER_HINT;
		op.data.send_message.send_message = c->out;
		c->send_busy = 1;
		return grpc_errmsg(ep, ipcl_grpc_gcal__batch(c, &op, 1, &c->t_send),
				   "send");
	}
	rc = ipcl_grpc_drive(e, ipcl_grpc_gcli_window_open, deadline_ns);
	if (rc)
		return grpc_errmsg(ep, rc, "send");
	c = ipcl_grpc_gcli_start(e, GM_ECHO, ipcl_grpc_msg_encode(msg, len));
	if (!c)
		return grpc_errmsg(ep, e->err, "send");
	if (e->last)
		e->last->next = c;
	else
		e->calls = c;
	e->last = c;
	e->ncalls++;
	return grpc_errmsg(ep, e->err, "send");
}

/* Client: the oldest call's response. Server: the next request or message. */
static int grpc_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;
	unsigned char *data;
	size_t n;
	int rc;

	if (ep->role == IPCL_PRODUCER) {
		struct gcall *c;

		if (e->streaming) {
			/* A client-streaming call has one response, at its end. */
			if (deadline_ns == IPCL_FOREVER)
				return ipcl_seterr(ep->err, -EWOULDBLOCK,
						   "response: a Collect call answers "
						   "once, when the client has closed");
			rc = ipcl_grpc_drive(e, ipcl_grpc_gcli_all_done, deadline_ns);
			return rc ? grpc_errmsg(ep, rc, "response") : -ETIMEDOUT;
		}
		rc = ipcl_grpc_drive(e, ipcl_grpc_gcli_head_done, deadline_ns);
		if (rc)
			return grpc_errmsg(ep, rc, "response");
		c = e->calls;
		e->calls = c->next;
		if (!e->calls)
			e->last = NULL;
		e->ncalls--;
		rc = ipcl_grpc_gcli_status_errno(c->status);
		if (rc) {
			char *d = grpc_slice_to_c_string(c->details);

			ipcl_seterr(ep->err, rc, "response: %s: status %d (%s)",
				    ipcl_grpc_method_path[c->method], (int)c->status,
				    d ? d : "");
			gpr_free(d);
			ipcl_grpc_gcal__put(c);
			return rc;
		}
		n = c->len;
		if (n > cap) {
			ipcl_grpc_gcal__put(c);
			return ipcl_seterr(ep->err, IPCL_ETRUNC,
					   "%zu-byte message, %zu-byte buffer", n, cap);
		}
		if (n)
			memcpy(buf, c->data, n);
		*len = n;
		ipcl_grpc_gcal__put(c);
		return 0;
	}

	struct gitem *it;

	if (e->answered && e->current)
		return ipcl_seterr(ep->err, -EINVAL,
				   "recv: the last request has no reply yet");
	rc = ipcl_grpc_drive(e, ipcl_grpc_gsrv_has_request, deadline_ns);
	if (rc)
		return grpc_errmsg(ep, rc, "request");
	if (!e->head)
		return IPCL_EOF;
	it = e->head;
	e->head = it->next;
	if (!e->head)
		e->tail = NULL;
	e->current = it->c; /* NULL for a streamed message */
	e->answered = 1;
	data = it->data;
	n = it->len;
	free(it);
	/* Flow control: ask the Collect stream for its next message only now. */
	if (!e->current && e->stream && !e->stream->recv_busy)
		ipcl_grpc_gsrv_recv_next(e->stream);
	if (n > cap) {
		free(data);
		return ipcl_seterr(ep->err, IPCL_ETRUNC,
				   "%zu-byte message, %zu-byte buffer", n, cap);
	}
	if (n)
		memcpy(buf, data, n);
	free(data);
	*len = n;
	return 0;
}

/* Server: answer the unary call recv() returned last; a streamed one needs none. */
static int grpc_reply(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;
	struct gcall *c = e->current;
	int rc;

	if (ep->role != IPCL_CONSUMER)
		return ipcl_seterr(ep->err, -EINVAL, "reply() is the server's");
	if (!e->answered)
		return ipcl_seterr(ep->err, -EINVAL, "no request to answer");
	e->answered = 0;
	e->current = NULL;
	if (!c) /* a message of the Collect call: its summary answers them all */
		return 0;
	rc = ipcl_grpc_gsrv_finish(c, GRPC_STATUS_OK, NULL,
				   ipcl_grpc_msg_encode(msg, len));
	ipcl_grpc_gcal__put(c);
	return grpc_errmsg(ep, rc, "reply");
}

/* Client: wait until every request (or streamed message) has been sent. */
static int grpc_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;

	if (!e->ch)
		return 0;
	return grpc_errmsg(ep, ipcl_grpc_drive(e, ipcl_grpc_gcli_all_sent, deadline_ns),
			   "flush");
}

static int grpc_no_calls(const struct grpc_ep *e)
{
	return e->live == 0;
}

static void grpc_close(struct ipcl_ep *ep)
{
	struct grpc_ep *e = ep->state;
	int64_t until;

	if (e->srv) {
		ipcl_grpc_gsrv_close(e);
		ipcl_grpc_drive(e, ipcl_grpc_gsrv_shut, ipcl_now_ns() + GRPC_DRAIN_NS);
		grpc_server_destroy(e->srv);
		e->srv = NULL;
	} else if (e->ch) {
		ipcl_grpc_gcli_close(e);
		ipcl_grpc_drive(e, grpc_no_calls, ipcl_now_ns() + GRPC_DRAIN_NS);
		grpc_channel_destroy(e->ch);
		e->ch = NULL;
	}
	if (e->cq) {
		grpc_completion_queue_shutdown(e->cq);
		until = ipcl_now_ns() + GRPC_DRAIN_NS;
		for (;;) {
			grpc_event ev =
			    grpc_completion_queue_next(e->cq, grpc_deadline(until), NULL);

			if (ev.type == GRPC_QUEUE_SHUTDOWN ||
			    ev.type == GRPC_QUEUE_TIMEOUT)
				break;
		}
		grpc_completion_queue_destroy(e->cq);
		e->cq = NULL;
	}
	if (e->init)
		grpc_shutdown();
	e->init = 0;
}

const struct ipcl_transport ipcl_transport_grpc = {
    .name = "grpc",
    .summary = "gRPC over HTTP/2 (C core + protobuf-c) on 127.0.0.1: unary calls "
	       "for ping-pong, one client-streaming call for stream",
    .caps =
	IPCL_CAP_REQREP | IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF | IPCL_CAP_CROSS_HOST,
    .chan_state_size = sizeof(struct grpc_chan),
    .ep_state_size = sizeof(struct grpc_ep),
    .options = grpc_options,
    .probe = grpc_probe,
    .setup = grpc_setup,
    .teardown = grpc_teardown,
    .open = grpc_open,
    .send = grpc_send,
    .recv = grpc_recv,
    .reply = grpc_reply,
    .flush = grpc_flush,
    .close = grpc_close,
};
