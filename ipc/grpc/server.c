/*
 * server.c - the consumer side of the grpc transport (grpc.c): a gRPC server
 * (grpc_server_create, grpc_server_add_insecure_http2_port on the port setup()
 * reserved, one registered method per RPC of ipclab.Echo) on the endpoint's
 * completion queue. Each request is asked for with
 * grpc_server_request_registered_call; a call without the run's token in its
 * metadata (x-ipclab-token) is answered PERMISSION_DENIED. Unary Echo calls
 * wait in a queue until recv() takes them and reply() sends the response and
 * the status; the messages of a Collect call are queued one by one and its
 * Summary is sent when the client half-closes. A Bye call ends the stream.
 *
 * Left out: TLS, several clients per server, server-side deadlines.
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

#include "grpc_ep.h"

static int gsrv_request(struct grpc_ep *e, enum gm m)
{
	struct gcall *c = ipcl_grpc_gcal__new(e, m);
	grpc_call_error ce;

	if (!c) {
		ipcl_grpc_fail(e, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ce = grpc_server_request_registered_call(e->srv, e->rm[m], &c->call, &c->deadline,
						 &c->md, m == GM_COLLECT ? NULL : &c->in,
						 e->cq, e->cq, &c->t_new);
	if (ce != GRPC_CALL_OK) {
		ipcl_grpc_gcal__put(c);
		ipcl_grpc_fail(e, IPCL_EPROTO, "grpc_server_request_registered_call: %d",
			       (int)ce);
		return IPCL_EPROTO;
	}
	c->batches++;
	return 0;
}

/* End a call: the response (if any), the status, and wait for the close. */
int ipcl_grpc_gsrv_finish(struct gcall *c, grpc_status_code st, const char *text,
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
	return ipcl_grpc_gcal__batch(c, ops, n, &c->t_done);
}

int ipcl_grpc_gsrv_recv_next(struct gcall *c)
{
	grpc_op op;

	memset(&op, 0, sizeof op);
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->in;
	c->recv_busy = 1;
	return ipcl_grpc_gcal__batch(c, &op, 1, &c->t_recv);
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
	rc = ipcl_grpc_msg_decode(c->in, &it->data, &it->len);
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
	ipcl_grpc_gsrv_finish(c, GRPC_STATUS_OK, NULL, ipcl_grpc_pb_encode(&s.base));
	e->stream = NULL;
	e->eof = 1;
	ipcl_grpc_gcal__put(c);
}

void ipcl_grpc_gsrv_event(struct grpc_ep *e, struct gtag *t, int ok)
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
			ipcl_grpc_gcal__check(c);
			return;
		}
		gsrv_request(e, c->method); /* be ready for the next one at once */
		if (!gsrv_token_ok(e, &c->md)) {
			ipcl_grpc_gsrv_finish(c, GRPC_STATUS_PERMISSION_DENIED,
					      "not a peer of this run", NULL);
			break;
		}
		if (c->method == GM_BYE) {
			e->eof = 1;
			ipcl_grpc_gsrv_finish(c, GRPC_STATUS_OK, NULL,
					      ipcl_grpc_msg_encode(NULL, 0));
			break;
		}
		if (c->method == GM_COLLECT) {
			if (e->stream) {
				ipcl_grpc_gsrv_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
						      "one Collect call at a time", NULL);
				break;
			}
			e->stream = c;
			c->held++;
			ipcl_grpc_gsrv_recv_next(c);
			break;
		}
		if (!c->in) { /* a unary call without its message */
			ipcl_grpc_gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT,
					      "no request message", NULL);
			break;
		}
		if (gsrv_take(e, c, 1))
			ipcl_grpc_gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT,
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
			ipcl_grpc_gcal__put(c);
		}
		break;
	default: /* GT_DONE: the call is over */
		break;
	}
	ipcl_grpc_gcal__check(c);
}

int ipcl_grpc_gsrv_has_request(const struct grpc_ep *e)
{
	return e->head || e->eof;
}

int ipcl_grpc_gsrv_shut(const struct grpc_ep *e)
{
	return e->shutdown_done && e->live == 0;
}

/* Cancel a call the server holds unanswered, and let go of it. */
static void gsrv_drop(struct gcall *c)
{
	if (c->call)
		grpc_call_cancel(c->call, NULL);
	ipcl_grpc_gcal__put(c);
}

/*
 * Server: cancel the calls recv() did not take or reply() did not answer,
 * then shut down gracefully, so that answers already given still reach the
 * client (up to GRPC_LINGER_NS); whatever is left after that is cancelled.
 */
void ipcl_grpc_gsrv_close(struct grpc_ep *e)
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
	if (ipcl_grpc_drive(e, ipcl_grpc_gsrv_shut, ipcl_now_ns() + GRPC_LINGER_NS))
		grpc_server_cancel_all_calls(e->srv);
}

int ipcl_grpc_open_server(struct ipcl_ep *ep)
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
		    e->srv, ipcl_grpc_method_path[m], NULL,
		    m == GM_COLLECT ? GRPC_SRM_PAYLOAD_NONE
				    : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
		    0);
		if (!e->rm[m])
			return ipcl_seterr(ep->err, IPCL_EPROTO, "registering %s failed",
					   ipcl_grpc_method_path[m]);
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
