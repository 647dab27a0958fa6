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

#include <ipclab/transport.h>

#include "echo.pb-c.h"

#define GRPC_MAX_PAYLOAD  (16u << 20)             /* bytes of harness message per Msg */
#define GRPC_MAX_WIRE     (GRPC_MAX_PAYLOAD + 64) /* a Msg: payload + tag + length */
#define GRPC_TOKEN_BYTES  16
#define GRPC_TOKEN_KEY    "x-ipclab-token"
#define GRPC_LINGER_NS    (2000LL * 1000 * 1000) /* close() waits this for the server */
#define GRPC_DRAIN_NS     (5000LL * 1000 * 1000) /* and this for gRPC to let go */
#define GRPC_MAX_INFLIGHT 1024

enum gm { GM_ECHO, GM_COLLECT, GM_BYE, GM_N };

static const char *const grpc_method_path[GM_N] = {
    "/ipclab.Echo/Echo", "/ipclab.Echo/Collect", "/ipclab.Echo/Bye"};

static const struct ipcl_option grpc_options[] = {
    {"inflight", "1",
     "unary calls a client keeps outstanding before send() waits (ping-pong "
     "and the contract suite; stream uses one Collect call)"},
    {"coalesce", "0",
     "1: Collect messages are sent with GRPC_WRITE_BUFFER_HINT, so gRPC may "
     "hold one until the next (or the half-close) and write them together"},
    {NULL, NULL, NULL},
};

/* A completion-queue tag: what finished, and for which call. */
enum gtag_kind { GT_NEW, GT_RECV, GT_SEND, GT_DONE, GT_SHUTDOWN };

struct gtag {
	enum gtag_kind kind;
	struct gcall *c;
};

/* One call, on either side. Freed when no batch is pending and nothing holds it. */
struct gcall {
	struct grpc_ep *e;
	enum gm method;
	grpc_call *call;
	int batches; /* operations started and not yet completed */
	int held;    /* references from the endpoint (queue, current call, list) */
	struct gtag t_new, t_recv, t_send, t_done;
	grpc_byte_buffer *in;  /* a received message (request or response) */
	grpc_byte_buffer *out; /* the message being sent */
	grpc_metadata_array md, tmd;
	gpr_timespec deadline;
	int cancelled; /* server: RECV_CLOSE_ON_SERVER result */
	int recv_busy, send_busy;
	int sent; /* client: the request left (send batch done) */
	int done; /* client: status received */
	grpc_status_code status;
	grpc_slice details;  /* client: the status text received */
	grpc_slice sdetails; /* server: the status text sent */
	grpc_metadata smd;   /* client: the token, sent as initial metadata */
	unsigned char *data; /* client: the response's payload */
	size_t len;
	uint64_t count, bytes; /* server: Collect's tally */
	struct gcall *next;    /* client: calls in issue order */
};

/* A request the server has and recv() has not returned yet. */
struct gitem {
	struct gcall *c; /* a unary call to answer, or NULL for a streamed message */
	unsigned char *data;
	size_t len;
	struct gitem *next;
};

struct grpc_ep {
	int init; /* grpc_init() was called (close() must grpc_shutdown()) */
	grpc_completion_queue *cq;
	int live; /* gcalls allocated and not freed */
	int err;  /* the first failure that ends the endpoint: -errno / IPCL_E* */
	char errtext[IPCL_ERR_MAX];
	char token[2 * GRPC_TOKEN_BYTES + 1];
	int port;

	/* server */
	grpc_server *srv;
	void *rm[GM_N];
	struct gitem *head, *tail;
	struct gcall *current; /* the unary call recv() returned last */
	int answered;          /* reply() may be called (recv() returned a request) */
	struct gcall *stream;  /* the open Collect call */
	int eof;
	int closing;
	struct gtag t_shutdown;
	int shutdown_done;

	/* client */
	grpc_channel *ch;
	int streaming;
	int coalesce; /* Collect messages carry GRPC_WRITE_BUFFER_HINT */
	long inflight;
	struct gcall *calls, *last; /* unary calls in issue order */
	int ncalls;
	struct gcall *collect;
	int connected; /* the channel was made (close() says goodbye) */
};

/* Everything open() needs, as written into chan->addr. */
struct grpc_addr {
	int port;
	int inflight;
	int coalesce;
	char token[2 * GRPC_TOKEN_BYTES + 1];
};

struct grpc_chan {
	int valid; /* fd was made by setup() in this process and is still open */
	int fd;    /* the socket that reserves the port */
};

static void grpc_fail(struct grpc_ep *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void grpc_fail(struct grpc_ep *e, int rc, const char *fmt, ...)
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

/* ---- messages: protobuf-c in, gRPC byte buffers out ---------------------- */

/* Decode an ipclab.Msg from a received byte buffer into a malloc'ed copy. */
static int grpc_msg_decode(grpc_byte_buffer *bb, unsigned char **data, size_t *len)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	Ipclab__Msg *m;
	int rc = 0;

	if (!grpc_byte_buffer_reader_init(&r, bb))
		return IPCL_EPROTO;
	s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	m = ipclab__msg__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	if (!m)
		return IPCL_EPROTO;
	*len = m->data.len;
	*data = malloc(m->data.len ? m->data.len : 1);
	if (!*data)
		rc = -ENOMEM;
	else if (m->data.len)
		memcpy(*data, m->data.data, m->data.len);
	ipclab__msg__free_unpacked(m, NULL);
	return rc;
}

/* Encode a protobuf-c message straight into a gRPC slice. */
static grpc_byte_buffer *grpc_pb_encode(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static grpc_byte_buffer *grpc_msg_encode(const void *data, size_t len)
{
	Ipclab__Msg m = IPCLAB__MSG__INIT;

	m.data.data = (uint8_t *)data;
	m.data.len = len;
	return grpc_pb_encode(&m.base);
}

/* ---- calls ---------------------------------------------------------------- */

static struct gcall *gcall_new(struct grpc_ep *e, enum gm method)
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
static void gcall_check(struct gcall *c)
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
static void gcall_put(struct gcall *c)
{
	if (c->held > 0)
		c->held--;
	gcall_check(c);
}

/* Start a batch; one completion (tag t) will follow when it returns 0. */
static int gcall_batch(struct gcall *c, const grpc_op *ops, size_t n, struct gtag *t)
{
	grpc_call_error ce = grpc_call_start_batch(c->call, ops, n, t, NULL);

	if (ce != GRPC_CALL_OK) {
		grpc_fail(c->e, IPCL_EPROTO, "grpc_call_start_batch: error %d", (int)ce);
		return IPCL_EPROTO;
	}
	c->batches++;
	return 0;
}

/* ---- the server ------------------------------------------------------------ */

static int gsrv_request(struct grpc_ep *e, enum gm m)
{
	struct gcall *c = gcall_new(e, m);
	grpc_call_error ce;

	if (!c) {
		grpc_fail(e, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ce = grpc_server_request_registered_call(e->srv, e->rm[m], &c->call, &c->deadline,
						 &c->md, m == GM_COLLECT ? NULL : &c->in,
						 e->cq, e->cq, &c->t_new);
	if (ce != GRPC_CALL_OK) {
		gcall_put(c);
		grpc_fail(e, IPCL_EPROTO, "grpc_server_request_registered_call: %d",
			  (int)ce);
		return IPCL_EPROTO;
	}
	c->batches++;
	return 0;
}

/* End a call: the response (if any), the status, and wait for the close. */
static int gsrv_finish(struct gcall *c, grpc_status_code st, const char *text,
		       grpc_byte_buffer *resp)
{
	grpc_op ops[4];
	size_t n = 0;

	memset(ops, 0, sizeof ops);
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (resp) {
		c->out = resp;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = resp;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = st;
	if (text) {
		c->sdetails = grpc_slice_from_static_string(text);
		ops[n].data.send_status_from_server.status_details = &c->sdetails;
	}
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	return gcall_batch(c, ops, n, &c->t_done);
}

static int gsrv_recv_next(struct gcall *c)
{
	grpc_op op;

	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->in;
	c->recv_busy = 1;
	return gcall_batch(c, &op, 1, &c->t_recv);
}

static int gsrv_token_ok(const struct grpc_ep *e, const grpc_metadata_array *md)
{
	size_t n = strlen(e->token);

	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *m = &md->metadata[i];
		unsigned char diff = 0;

		if (grpc_slice_str_cmp(m->key, GRPC_TOKEN_KEY) != 0)
			continue;
		if (GRPC_SLICE_LENGTH(m->value) != n)
			return 0;
		for (size_t j = 0; j < n; j++)
			diff |= (unsigned char)(GRPC_SLICE_START_PTR(m->value)[j] ^
						(unsigned char)e->token[j]);
		return diff == 0;
	}
	return 0;
}

static void gsrv_enqueue(struct grpc_ep *e, struct gitem *it)
{
	if (e->tail)
		e->tail->next = it;
	else
		e->head = it;
	e->tail = it;
}

/* A message arrived (a unary request, or one on the Collect stream): queue it. */
static int gsrv_take(struct grpc_ep *e, struct gcall *c, int unary)
{
	struct gitem *it = calloc(1, sizeof *it);
	int rc;

	if (!it)
		return -ENOMEM;
	rc = grpc_msg_decode(c->in, &it->data, &it->len);
	grpc_byte_buffer_destroy(c->in);
	c->in = NULL;
	if (rc) {
		free(it);
		return rc;
	}
	if (unary) {
		it->c = c;
		c->held++;
	} else {
		c->count++;
		c->bytes += it->len;
	}
	gsrv_enqueue(e, it);
	return 0;
}

/* The Collect call ends: its summary, and end of stream for recv(). */
static void gsrv_collect_end(struct grpc_ep *e, struct gcall *c)
{
	Ipclab__Summary s = IPCLAB__SUMMARY__INIT;

	s.messages = c->count;
	s.bytes = c->bytes;
	gsrv_finish(c, GRPC_STATUS_OK, NULL, grpc_pb_encode(&s.base));
	e->stream = NULL;
	e->eof = 1;
	gcall_put(c);
}

static void gsrv_event(struct grpc_ep *e, struct gtag *t, int ok)
{
	struct gcall *c = t->c;

	if (t->kind == GT_SHUTDOWN) {
		e->shutdown_done = 1;
		return;
	}
	c->batches--;
	switch (t->kind) {
	case GT_NEW:
		if (!ok || e->closing) { /* the server is shutting down */
			if (ok)
				grpc_call_cancel(c->call, NULL);
			gcall_check(c);
			return;
		}
		gsrv_request(e, c->method); /* be ready for the next one at once */
		if (!gsrv_token_ok(e, &c->md)) {
			gsrv_finish(c, GRPC_STATUS_PERMISSION_DENIED,
				    "not a peer of this run", NULL);
			break;
		}
		if (c->method == GM_BYE) {
			e->eof = 1;
			gsrv_finish(c, GRPC_STATUS_OK, NULL, grpc_msg_encode(NULL, 0));
			break;
		}
		if (c->method == GM_COLLECT) {
			if (e->stream) {
				gsrv_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
					    "one Collect call at a time", NULL);
				break;
			}
			e->stream = c;
			c->held++;
			gsrv_recv_next(c);
			break;
		}
		if (!c->in) { /* a unary call without its message */
			gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message",
				    NULL);
			break;
		}
		if (gsrv_take(e, c, 1))
			gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT,
				    "request is not an ipclab.Msg", NULL);
		break;
	case GT_RECV:
		c->recv_busy = 0;
		if (!ok || !c->in) { /* half-closed (or cancelled): the end */
			if (e->stream == c)
				gsrv_collect_end(e, c);
			break;
		}
		if (gsrv_take(e, c, 0) && e->stream == c) {
			grpc_call_cancel_with_status(
			    c->call, GRPC_STATUS_INVALID_ARGUMENT,
			    "message is not an ipclab.Msg", NULL);
			e->stream = NULL;
			gcall_put(c);
		}
		break;
	default: /* GT_DONE: the call is over */
		break;
	}
	gcall_check(c);
}

/* ---- the client ------------------------------------------------------------ */

static int gcli_status_errno(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK:
		return 0;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_STATUS_UNAVAILABLE:
		return -ECONNREFUSED;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return IPCL_ETOOBIG;
	case GRPC_STATUS_CANCELLED:
		return -ECONNRESET;
	default:
		return IPCL_EBROKER;
	}
}

static void gcli_event(struct grpc_ep *e, struct gtag *t, int ok)
{
	struct gcall *c = t->c;

	c->batches--;
	if (t->kind == GT_SEND) {
		c->send_busy = 0;
		c->sent = 1;
		if (c->out) {
			grpc_byte_buffer_destroy(c->out);
			c->out = NULL;
		}
		if (!ok && !c->done)
			grpc_fail(e, -EPIPE, "%s: the request could not be sent",
				  grpc_method_path[c->method]);
	} else if (t->kind == GT_DONE) {
		int rc = gcli_status_errno(c->status);

		c->done = 1;
		if (rc == 0 && c->in && c->method != GM_COLLECT)
			rc = grpc_msg_decode(c->in, &c->data, &c->len);
		if (rc && c->method != GM_BYE) {
			char *d = grpc_slice_to_c_string(c->details);

			grpc_fail(e, rc, "%s: status %d (%s)",
				  grpc_method_path[c->method], (int)c->status,
				  d ? d : "");
			gpr_free(d);
		}
	}
	gcall_check(c);
}

/* Start a call of method m with the token in its initial metadata. */
static struct gcall *gcli_start(struct grpc_ep *e, enum gm m, grpc_byte_buffer *first)
{
	struct gcall *c = gcall_new(e, m);
	grpc_op ops[3], rops[3];
	size_t n = 0;

	if (!c) {
		grpc_fail(e, -ENOMEM, "out of memory");
		if (first)
			grpc_byte_buffer_destroy(first);
		return NULL;
	}
	c->held = 1;
	c->call =
	    grpc_channel_create_call(e->ch, NULL, GRPC_PROPAGATE_DEFAULTS, e->cq,
				     grpc_slice_from_static_string(grpc_method_path[m]),
				     NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!c->call) {
		grpc_fail(e, IPCL_EPROTO, "grpc_channel_create_call failed");
		if (first)
			grpc_byte_buffer_destroy(first);
		gcall_put(c);
		return NULL;
	}
	c->smd.value = grpc_slice_from_copied_string(e->token);
	memset(ops, 0, sizeof ops);
	memset(rops, 0, sizeof rops);
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	/* Wait for the server rather than fail while it is not up yet; a goodbye
	 * does not wait: without a server there is no one to tell. */
	if (m != GM_BYE)
		ops[n].flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
	ops[n].data.send_initial_metadata.count = 1;
	ops[n++].data.send_initial_metadata.metadata = &c->smd;
	if (first) {
		c->out = first;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = first;
		ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT; /* unary: that was all */
	}
	rops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	rops[0].data.recv_initial_metadata.recv_initial_metadata = &c->md;
	rops[1].op = GRPC_OP_RECV_MESSAGE;
	rops[1].data.recv_message.recv_message = &c->in;
	rops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	rops[2].data.recv_status_on_client.trailing_metadata = &c->tmd;
	rops[2].data.recv_status_on_client.status = &c->status;
	rops[2].data.recv_status_on_client.status_details = &c->details;
	c->send_busy = 1;
	if (gcall_batch(c, ops, n, &c->t_send) == 0 &&
	    gcall_batch(c, rops, 3, &c->t_done) == 0)
		return c;
	grpc_call_cancel(c->call, NULL);
	return c; /* still held: the caller links it, completions free it */
}

/* ---- driving the completion queue ----------------------------------------- */

/*
 * Take completions until ready(e) holds: 0, the endpoint's error, or
 * -ETIMEDOUT at the deadline.
 */
static int grpc_drive(struct grpc_ep *e, int (*ready)(const struct grpc_ep *),
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
			gsrv_event(e, ev.tag, ev.success);
		else
			gcli_event(e, ev.tag, ev.success);
	}
}

static int gsrv_has_request(const struct grpc_ep *e)
{
	return e->head || e->eof;
}

static int gcli_window_open(const struct grpc_ep *e)
{
	return e->ncalls < e->inflight;
}

static int gcli_head_done(const struct grpc_ep *e)
{
	return e->calls && e->calls->done;
}

static int gcli_all_sent(const struct grpc_ep *e)
{
	if (e->collect && e->collect->send_busy && !e->collect->done)
		return 0;
	for (const struct gcall *c = e->calls; c; c = c->next)
		if (!c->sent && !c->done)
			return 0;
	return 1;
}

static int gcli_all_done(const struct grpc_ep *e)
{
	if (e->collect && !e->collect->done)
		return 0;
	for (const struct gcall *c = e->calls; c; c = c->next)
		if (!c->done)
			return 0;
	return 1;
}

static int gcli_collect_idle(const struct grpc_ep *e)
{
	return !e->collect->send_busy || e->collect->done;
}

static int gsrv_shut(const struct grpc_ep *e)
{
	return e->shutdown_done && e->live == 0;
}

/* ---- the ipclab transport ------------------------------------------------- */

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
	unsigned char raw[GRPC_TOKEN_BYTES];
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
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return ipcl_seterr(c->err, -errno, "getrandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
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

static int grpc_open_server(struct ipcl_ep *ep)
{
	struct grpc_ep *e = ep->state;
	grpc_arg arg = {.type = GRPC_ARG_INTEGER,
			.key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			.value.integer = GRPC_MAX_WIRE};
	grpc_channel_args args = {1, &arg};
	grpc_server_credentials *creds;
	char where[32];
	int port;

	e->srv = grpc_server_create(&args, NULL);
	if (!e->srv)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL, "grpc_server_create failed");
	grpc_server_register_completion_queue(e->srv, e->cq, NULL);
	for (int m = 0; m < GM_N; m++) {
		e->rm[m] = grpc_server_register_method(
		    e->srv, grpc_method_path[m], NULL,
		    m == GM_COLLECT ? GRPC_SRM_PAYLOAD_NONE
				    : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
		    0);
		if (!e->rm[m])
			return ipcl_seterr(ep->err, IPCL_EPROTO, "registering %s failed",
					   grpc_method_path[m]);
	}
	snprintf(where, sizeof where, "127.0.0.1:%d", e->port);
	creds = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(e->srv, where, creds);
	grpc_server_credentials_release(creds);
	if (port != e->port) {
		grpc_server_destroy(e->srv);
		e->srv = NULL;
		return ipcl_seterr(ep->err, -EADDRINUSE,
				   "gRPC server could not bind %s (taken?)", where);
	}
	grpc_server_start(e->srv);
	for (int m = 0; m < GM_N; m++)
		if (gsrv_request(e, (enum gm)m))
			return ipcl_seterr(ep->err, e->err, "%s", e->errtext);
	return 0;
}

/*
 * Make the channel and start connecting. It does not wait for READY: gRPC
 * core makes progress only while some thread of the process polls a
 * completion queue, and in process mode the server's thread waits at the
 * harness's start barrier until this open() returns. Calls are made
 * wait-for-ready instead, so the first one waits for the server.
 */
static int grpc_open_client(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;
	grpc_arg arg[4] = {
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	     .value.integer = GRPC_MAX_WIRE},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
	     .value.integer = 10},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
	     .value.integer = 10},
	    {.type = GRPC_ARG_INTEGER,
	     .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
	     .value.integer = 100},
	};
	grpc_channel_args args = {4, arg};
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	char target[48];

	snprintf(target, sizeof target, "ipv4:127.0.0.1:%d", e->port);
	e->ch = grpc_channel_create(target, creds, &args);
	grpc_channel_credentials_release(creds);
	if (!e->ch)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL, "grpc_channel_create failed");
	grpc_channel_check_connectivity_state(e->ch, 1);
	e->connected = 1;
	return 0;
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
	return ep->role == IPCL_CONSUMER ? grpc_open_server(ep)
					 : grpc_open_client(ep, deadline_ns);
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
			e->collect = gcli_start(e, GM_COLLECT, NULL);
			if (!e->collect)
				return grpc_errmsg(ep, e->err, "send");
		}
		c = e->collect;
		rc = grpc_drive(e, gcli_collect_idle, deadline_ns);
		if (rc == 0 && c->done)
			rc = e->err ? e->err : -ECONNRESET; /* the server ended it */
		if (rc)
			return grpc_errmsg(ep, rc, "send");
		memset(&op, 0, sizeof op);
		c->out = grpc_msg_encode(msg, len);
		op.op = GRPC_OP_SEND_MESSAGE;
		if (e->coalesce)
			op.flags = GRPC_WRITE_BUFFER_HINT;
		op.data.send_message.send_message = c->out;
		c->send_busy = 1;
		return grpc_errmsg(ep, gcall_batch(c, &op, 1, &c->t_send), "send");
	}
	rc = grpc_drive(e, gcli_window_open, deadline_ns);
	if (rc)
		return grpc_errmsg(ep, rc, "send");
	c = gcli_start(e, GM_ECHO, grpc_msg_encode(msg, len));
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
			rc = grpc_drive(e, gcli_all_done, deadline_ns);
			return rc ? grpc_errmsg(ep, rc, "response") : -ETIMEDOUT;
		}
		rc = grpc_drive(e, gcli_head_done, deadline_ns);
		if (rc)
			return grpc_errmsg(ep, rc, "response");
		c = e->calls;
		e->calls = c->next;
		if (!e->calls)
			e->last = NULL;
		e->ncalls--;
		rc = gcli_status_errno(c->status);
		if (rc) {
			char *d = grpc_slice_to_c_string(c->details);

			ipcl_seterr(ep->err, rc, "response: %s: status %d (%s)",
				    grpc_method_path[c->method], (int)c->status,
				    d ? d : "");
			gpr_free(d);
			gcall_put(c);
			return rc;
		}
		n = c->len;
		if (n > cap) {
			gcall_put(c);
			return ipcl_seterr(ep->err, IPCL_ETRUNC,
					   "%zu-byte message, %zu-byte buffer", n, cap);
		}
		if (n)
			memcpy(buf, c->data, n);
		*len = n;
		gcall_put(c);
		return 0;
	}

	struct gitem *it;

	if (e->answered && e->current)
		return ipcl_seterr(ep->err, -EINVAL,
				   "recv: the last request has no reply yet");
	rc = grpc_drive(e, gsrv_has_request, deadline_ns);
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
		gsrv_recv_next(e->stream);
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
	rc = gsrv_finish(c, GRPC_STATUS_OK, NULL, grpc_msg_encode(msg, len));
	gcall_put(c);
	return grpc_errmsg(ep, rc, "reply");
}

/* Client: wait until every request (or streamed message) has been sent. */
static int grpc_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct grpc_ep *e = ep->state;

	if (!e->ch)
		return 0;
	return grpc_errmsg(ep, grpc_drive(e, gcli_all_sent, deadline_ns), "flush");
}

/*
 * Client: say goodbye, wait (bounded), let go. The Collect call is
 * half-closed; in unary mode a Bye call follows once every call has its
 * answer (the server could see a Bye overtake a call still in flight).
 */
static void gcli_close(struct grpc_ep *e)
{
	int64_t until = ipcl_now_ns() + GRPC_LINGER_NS;
	int failed = e->err != 0;

	e->closing = 1;
	if (!e->connected) {
		/* nothing was said, so there is no one to say goodbye to */
	} else if (e->collect && !failed) {
		grpc_op op;

		if (grpc_drive(e, gcli_collect_idle, until) == 0 && !e->collect->done) {
			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
			e->collect->send_busy = 1;
			gcall_batch(e->collect, &op, 1, &e->collect->t_send);
		}
	} else if (!e->streaming && !failed && grpc_drive(e, gcli_all_done, until) == 0) {
		struct gcall *c = gcli_start(e, GM_BYE, grpc_msg_encode(NULL, 0));

		if (c) {
			if (e->last)
				e->last->next = c;
			else
				e->calls = c;
			e->last = c;
			e->ncalls++;
		}
	}
	grpc_drive(e, gcli_all_done, until);
	/* What is still open is cancelled; its completions free it. */
	if (e->collect) {
		if (!e->collect->done)
			grpc_call_cancel(e->collect->call, NULL);
		gcall_put(e->collect);
		e->collect = NULL;
	}
	while (e->calls) {
		struct gcall *c = e->calls;

		e->calls = c->next;
		if (!c->done)
			grpc_call_cancel(c->call, NULL);
		gcall_put(c);
	}
	e->last = NULL;
	e->ncalls = 0;
}

/* Cancel a call the server holds unanswered, and let go of it. */
static void gsrv_drop(struct gcall *c)
{
	if (c->call)
		grpc_call_cancel(c->call, NULL);
	gcall_put(c);
}

/*
 * Server: cancel the calls recv() did not take or reply() did not answer,
 * then shut down gracefully, so that answers already given still reach the
 * client (up to GRPC_LINGER_NS); whatever is left after that is cancelled.
 */
static void gsrv_close(struct grpc_ep *e)
{
	while (e->head) {
		struct gitem *it = e->head;

		e->head = it->next;
		if (it->c)
			gsrv_drop(it->c);
		free(it->data);
		free(it);
	}
	e->tail = NULL;
	if (e->current)
		gsrv_drop(e->current);
	e->current = NULL;
	if (e->stream)
		gsrv_drop(e->stream);
	e->stream = NULL;
	e->closing = 1;
	e->t_shutdown = (struct gtag){GT_SHUTDOWN, NULL};
	grpc_server_shutdown_and_notify(e->srv, e->cq, &e->t_shutdown);
	if (grpc_drive(e, gsrv_shut, ipcl_now_ns() + GRPC_LINGER_NS))
		grpc_server_cancel_all_calls(e->srv);
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
		gsrv_close(e);
		grpc_drive(e, gsrv_shut, ipcl_now_ns() + GRPC_DRAIN_NS);
		grpc_server_destroy(e->srv);
		e->srv = NULL;
	} else if (e->ch) {
		gcli_close(e);
		grpc_drive(e, grpc_no_calls, ipcl_now_ns() + GRPC_DRAIN_NS);
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
