/*
 * client.c - the producer side of the grpc transport (grpc.c): a gRPC channel
 * (grpc_channel_create with insecure credentials) to 127.0.0.1:<port> and
 * calls on the endpoint's completion queue. Unary mode: each send() starts an
 * Echo call (send initial metadata with the token, the message, close from the
 * client, receive the response and the status) with up to `inflight` calls
 * outstanding, answered in call order. Stream mode: one Collect call, one send
 * operation at a time; close() half-closes it and takes the Summary, or sends
 * a Bye call after the last unary answer.
 *
 * Left out: TLS, retries, deadlines on the wire, compression.
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

int ipcl_grpc_gcli_status_errno(grpc_status_code st)
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

void ipcl_grpc_gcli_event(struct grpc_ep *e, struct gtag *t, int ok)
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
			ipcl_grpc_fail(e, -EPIPE, "%s: the request could not be sent",
				       ipcl_grpc_method_path[c->method]);
	} else if (t->kind == GT_DONE) {
		int rc = ipcl_grpc_gcli_status_errno(c->status);

		c->done = 1;
		if (rc == 0 && c->in && c->method != GM_COLLECT)
			rc = ipcl_grpc_msg_decode(c->in, &c->data, &c->len);
		if (rc && c->method != GM_BYE) {
			char *d = grpc_slice_to_c_string(c->details);

			ipcl_grpc_fail(e, rc, "%s: status %d (%s)",
				       ipcl_grpc_method_path[c->method], (int)c->status,
				       d ? d : "");
			gpr_free(d);
		}
	}
	ipcl_grpc_gcal__check(c);
}

/* Start a call of method m with the token in its initial metadata. */
struct gcall *ipcl_grpc_gcli_start(struct grpc_ep *e, enum gm m, grpc_byte_buffer *first)
{
	struct gcall *c = ipcl_grpc_gcal__new(e, m);
	grpc_op ops[3], rops[3];
	size_t n = 0;

	if (!c) {
		ipcl_grpc_fail(e, -ENOMEM, "out of memory");
		if (first)
			grpc_byte_buffer_destroy(first);
		return NULL;
	}
	c->held = 1;
	c->call = grpc_channel_create_call(
	    e->ch, NULL, GRPC_PROPAGATE_DEFAULTS, e->cq,
	    grpc_slice_from_static_string(ipcl_grpc_method_path[m]), NULL,
	    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!c->call) {
		ipcl_grpc_fail(e, IPCL_EPROTO, "grpc_channel_create_call failed");
		if (first)
			grpc_byte_buffer_destroy(first);
		ipcl_grpc_gcal__put(c);
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
	if (ipcl_grpc_gcal__batch(c, ops, n, &c->t_send) == 0 &&
	    ipcl_grpc_gcal__batch(c, rops, 3, &c->t_done) == 0)
		return c;
	grpc_call_cancel(c->call, NULL);
	return c; /* still held: the caller links it, completions free it */
}

int ipcl_grpc_gcli_window_open(const struct grpc_ep *e)
{
	return e->ncalls < e->inflight;
}

int ipcl_grpc_gcli_head_done(const struct grpc_ep *e)
{
	return e->calls && e->calls->done;
}

int ipcl_grpc_gcli_all_sent(const struct grpc_ep *e)
{
	if (e->collect && e->collect->send_busy && !e->collect->done)
		return 0;
	for (const struct gcall *c = e->calls; c; c = c->next)
		if (!c->sent && !c->done)
			return 0;
	return 1;
}

int ipcl_grpc_gcli_all_done(const struct grpc_ep *e)
{
	if (e->collect && !e->collect->done)
		return 0;
	for (const struct gcall *c = e->calls; c; c = c->next)
		if (!c->done)
			return 0;
	return 1;
}

int ipcl_grpc_gcli_collect_idle(const struct grpc_ep *e)
{
	return !e->collect->send_busy || e->collect->done;
}

/*
 * Client: say goodbye, wait (bounded), let go. The Collect call is
 * half-closed; in unary mode a Bye call follows once every call has its
 * answer (the server could see a Bye overtake a call still in flight).
 */
void ipcl_grpc_gcli_close(struct grpc_ep *e)
{
	int64_t until = ipcl_now_ns() + GRPC_LINGER_NS;
	int failed = e->err != 0;

	e->closing = 1;
	if (!e->connected) {
		/* nothing was said, so there is no one to say goodbye to */
	} else if (e->collect && !failed) {
		grpc_op op;

		if (ipcl_grpc_drive(e, ipcl_grpc_gcli_collect_idle, until) == 0 &&
		    !e->collect->done) {
			memset(&op, 0, sizeof op);
			op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
			e->collect->send_busy = 1;
			ipcl_grpc_gcal__batch(e->collect, &op, 1, &e->collect->t_send);
		}
	} else if (!e->streaming && !failed &&
		   ipcl_grpc_drive(e, ipcl_grpc_gcli_all_done, until) == 0) {
		struct gcall *c =
		    ipcl_grpc_gcli_start(e, GM_BYE, ipcl_grpc_msg_encode(NULL, 0));

		if (c) {
			if (e->last)
				e->last->next = c;
			else
				e->calls = c;
			e->last = c;
			e->ncalls++;
		}
	}
	ipcl_grpc_drive(e, ipcl_grpc_gcli_all_done, until);
	/* What is still open is cancelled; its completions free it. */
	if (e->collect) {
		if (!e->collect->done)
			grpc_call_cancel(e->collect->call, NULL);
		ipcl_grpc_gcal__put(e->collect);
		e->collect = NULL;
	}
	while (e->calls) {
		struct gcall *c = e->calls;

		e->calls = c->next;
		if (!c->done)
			grpc_call_cancel(c->call, NULL);
		ipcl_grpc_gcal__put(c);
	}
	e->last = NULL;
	e->ncalls = 0;
}

/*
 * Make the channel and start connecting. It does not wait for READY: gRPC
 * core makes progress only while some thread of the process polls a
 * completion queue, and in process mode the server's thread waits at the
 * harness's start barrier until this open() returns. Calls are made
 * wait-for-ready instead, so the first one waits for the server.
 */
int ipcl_grpc_open_client(struct ipcl_ep *ep, int64_t deadline_ns)
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
