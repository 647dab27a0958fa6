/*
 * publish.c - the producer side of the RabbitMQ transports (rabbitmq.c):
 * basic.publish to the default exchange (rabbitmq) or the fanout exchange
 * (rabbitmq-fanout), with publisher confirms when confirm=window|each
 * (confirm.select, mandatory: a basic.nack or basic.return is an error, never
 * a silent loss). Confirms may come out of order: a ring of window + 1 flags
 * keeps them until every earlier one came. librabbitmq 0.11.
 *
 * A fanout producer's open() first waits until every consumer's marker queue
 * exists (passive queue.declare on a spare channel), so nothing is published
 * before the run's subscribers are bound.
 *
 * Left out: transactions (tx.select); a publish the server throttles (TCP
 * back-pressure, memory alarm) blocks inside librabbitmq's write and may
 * overrun a finite deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <ipclab/server.h> /* ipcl_url_redact */
#include <ipclab/transport.h>

#include "rabbitmq.h"

/*
 * Fanout producer: wait until every consumer of the run has subscribed (its
 * marker queue exists), so that no message is published before a subscriber
 * is there to get it. A passive queue.declare on a spare channel answers 404
 * while a marker is missing (the server then closes that channel) and 405
 * RESOURCE_LOCKED (exclusive to its consumer) or declare-ok once it exists.
 */
static int rabbitmq_wait_subscribers(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_connection_state_t conn = re->conn;
	int64_t cap = ipcl_now_ns() + re->cf.timeout_ms * 10 * 1000000LL;
	char q[300];
	int rc;

	if (deadline_ns > cap)
		deadline_ns = cap;
	for (int i = 0; i < re->cf.subscribers; i++) {
		if (ipcl_rabbitmq_marker(re->cf.name, i, q, sizeof q))
			return ipcl_seterr(ep->err, -ENAMETOOLONG, "queue name too long");
		for (;;) {
			amqp_rpc_reply_t r;
			int code = 0;

			amqp_channel_open(conn, RABBITMQ_SPARE);
			rc = ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
						 "opening a channel", ep->err);
			if (rc)
				return rc;
			amqp_queue_declare(conn, RABBITMQ_SPARE, amqp_cstring_bytes(q), 1,
					   0, 0, 0, amqp_empty_table);
			r = amqp_get_rpc_reply(conn);
			if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
			    r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
				amqp_channel_close_ok_t ok = {0};

				code =
				    ((amqp_channel_close_t *)r.reply.decoded)->reply_code;
				amqp_send_method(conn, RABBITMQ_SPARE,
						 AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
			} else {
				rc = ipcl_rabbitmq_reply(
				    re, conn, r, "waiting for subscribers", ep->err);
				if (rc)
					return rc;
				amqp_channel_close(conn, RABBITMQ_SPARE,
						   AMQP_REPLY_SUCCESS);
			}
			if (code != AMQP_NOT_FOUND)
				break; /* there: declare-ok, or locked by its consumer */
			if (ipcl_now_ns() >= deadline_ns)
				return ipcl_seterr(
				    ep->err, -ETIMEDOUT,
				    "consumer %d of %d never subscribed to %s", i,
				    re->cf.subscribers, re->cf.name);
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
	}
	return 0;
}

/*
 * The producer's side of open(): message properties and where they go,
 * (fanout) wait for the subscribers, (confirms) confirm.select and the ring
 * of out-of-order confirms.
 */
int ipcl_rabbitmq_open_producer(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	int rc;

	re->props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	re->props.delivery_mode =
	    re->cf.durable ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
	re->exchange = re->cf.fanout ? amqp_cstring_bytes(re->cf.name) : amqp_empty_bytes;
	re->rkey = re->cf.fanout ? amqp_empty_bytes : amqp_cstring_bytes(re->cf.name);
	if (re->cf.fanout && re->cf.subscribers) {
		rc = rabbitmq_wait_subscribers(ep, deadline_ns);
		if (rc)
			return rc;
	}
	if (re->cf.confirm == RABBITMQ_CONFIRM_NONE)
		return 0;
	re->ring = (size_t)re->cf.window + 1;
	re->acked = calloc(re->ring, 1);
	if (!re->acked)
		return ipcl_seterr(ep->err, -ENOMEM, "rabbitmq: out of memory");
	amqp_confirm_select(re->conn, RABBITMQ_CHANNEL);
	return ipcl_rabbitmq_reply(re, re->conn, amqp_get_rpc_reply(re->conn),
				   "confirm.select", ep->err);
}

/* A publisher confirm (basic.ack) for tag, or for every tag up to it. */
static int rabbitmq_confirmed(struct ipcl_ep *ep, uint64_t tag, int multiple)
{
	struct rabbitmq_ep *re = ep->state;

	if (tag > re->published)
		return ipcl_seterr(
		    ep->err, IPCL_EPROTO, "confirm for message %llu, only %llu published",
		    (unsigned long long)tag, (unsigned long long)re->published);
	if (tag <= re->confirmed)
		return 0;
	if (multiple)
		for (uint64_t s = re->confirmed + 1; s <= tag; s++)
			re->acked[s % re->ring] = 1;
	else
		re->acked[tag % re->ring] = 1;
	while (re->confirmed < re->published &&
	       re->acked[(re->confirmed + 1) % re->ring]) {
		re->acked[(re->confirmed + 1) % re->ring] = 0;
		re->confirmed++;
	}
	return 0;
}

/* Handle a frame that reached a producer: confirms, nacks, returns, closes. */
static int rabbitmq_producer_frame(struct ipcl_ep *ep, const amqp_frame_t *f)
{
	struct rabbitmq_ep *re = ep->state;

	if (f->frame_type != AMQP_FRAME_METHOD)
		return 0;
	switch (f->payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		const amqp_basic_ack_t *a = f->payload.method.decoded;

		return rabbitmq_confirmed(ep, a->delivery_tag, a->multiple);
	}
	case AMQP_BASIC_NACK_METHOD: {
		const amqp_basic_nack_t *n = f->payload.method.decoded;

		return ipcl_seterr(ep->err, IPCL_EBROKER,
				   "the server nacked message %llu%s: it was not stored",
				   (unsigned long long)n->delivery_tag,
				   n->multiple ? " (and earlier ones)" : "");
	}
	case AMQP_BASIC_RETURN_METHOD: {
		const amqp_basic_return_t *r = f->payload.method.decoded;
		char text[128];
		amqp_message_t m;
		amqp_rpc_reply_t rr;

		snprintf(text, sizeof text, "%u %.*s", r->reply_code,
			 (int)r->reply_text.len, (const char *)r->reply_text.bytes);
		rr = amqp_read_message(re->conn, f->channel, &m,
				       0); /* its header + body */
		if (rr.reply_type == AMQP_RESPONSE_NORMAL)
			amqp_destroy_message(&m);
		return ipcl_seterr(ep->err, IPCL_EBROKER,
				   "the server returned a message as unroutable (%s): "
				   "nothing is bound to %s",
				   text, re->cf.name);
	}
	default:
		return ipcl_rabbitmq_closed_by_server(re, re->conn, &f->payload.method,
						      "publish", ep->err);
	}
}

/* Read frames until at most max confirms are outstanding (or the deadline). */
int ipcl_rabbitmq_confirm_wait(struct ipcl_ep *ep, uint64_t max, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;

	while (re->published - re->confirmed > max) {
		struct timeval tv;
		amqp_frame_t f;
		int st = amqp_simple_wait_frame_noblock(
		    re->conn, &f, ipcl_rabbitmq_tv(deadline_ns, &tv));
		int rc;

		if (st == AMQP_STATUS_TIMEOUT)
			return ipcl_seterr(
			    ep->err, -ETIMEDOUT,
			    "%llu publisher confirms still outstanding at the "
			    "deadline",
			    (unsigned long long)(re->published - re->confirmed));
		if (st != AMQP_STATUS_OK)
			return ipcl_rabbitmq_status_err(ep->err, st,
							"waiting for publisher confirms");
		rc = rabbitmq_producer_frame(ep, &f);
		if (rc)
			return rc;
	}
	return 0;
}

/* Without confirms: handle what the server sent so far, without waiting. */
int ipcl_rabbitmq_poll_server(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	for (;;) {
		struct timeval zero = {0, 0};
		amqp_frame_t f;
		int st = amqp_simple_wait_frame_noblock(re->conn, &f, &zero);
		int rc;

		if (st == AMQP_STATUS_TIMEOUT)
			return 0;
		if (st != AMQP_STATUS_OK)
			return ipcl_rabbitmq_status_err(ep->err, st,
							"reading from the server");
		rc = rabbitmq_producer_frame(ep, &f);
		if (rc)
			return rc;
	}
}

int ipcl_rabbitmq_send(struct ipcl_ep *ep, const void *msg, size_t len,
		       int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_bytes_t body = {.len = len, .bytes = (void *)msg};
	int confirm = re->cf.confirm != RABBITMQ_CONFIRM_NONE, st, rc;

	if (len > RABBITMQ_MAX_MSG)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "%zu bytes exceed RabbitMQ's max_message_size (%zu)",
				   len, RABBITMQ_MAX_MSG);
	if (re->dead)
		return ipcl_seterr(ep->err, -ECONNRESET, "the server closed the channel");
	/* window: room for this one first, so at most `window` are unconfirmed */
	if (confirm && re->published - re->confirmed >= (uint64_t)re->cf.window) {
		rc = ipcl_rabbitmq_confirm_wait(ep, (uint64_t)re->cf.window - 1,
						deadline_ns);
		if (rc)
			return rc;
	}
	/* mandatory with confirms: an unroutable message comes back as basic.return */
	st = amqp_basic_publish(re->conn, RABBITMQ_CHANNEL, re->exchange, re->rkey,
				confirm, 0, &re->props, body);
	if (st != AMQP_STATUS_OK)
		return ipcl_rabbitmq_status_err(ep->err, st, "basic.publish");
	if (confirm) {
		re->published++;
		re->acked[re->published % re->ring] = 0;
		if (re->cf.confirm == RABBITMQ_CONFIRM_EACH)
			return ipcl_rabbitmq_confirm_wait(ep, 0, deadline_ns);
		return 0;
	}
	if (++re->since_poll >= RABBITMQ_POLL_EVERY) {
		re->since_poll = 0;
		return ipcl_rabbitmq_poll_server(ep);
	}
	return 0;
}

/*
 * Producer: messages the broker has confirmed (basic.ack; every tag up to
 * `confirmed` is), or -1 without publisher confirms (confirm=none).
 */
int64_t ipcl_rabbitmq_acked(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	return re->cf.confirm == RABBITMQ_CONFIRM_NONE ? -1 : (int64_t)re->confirmed;
}
