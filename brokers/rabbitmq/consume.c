/*
 * consume.c - the consumer side of the RabbitMQ transports (rabbitmq.c):
 * basic.qos prefetch, (fanout) an exclusive auto-delete queue bound to the
 * exchange and a marker queue that says so, basic.consume with manual acks,
 * amqp_consume_message by deadline, and acks batched into one basic.ack
 * multiple=1 every ack_batch messages, when idle, and on close. A message
 * larger than the caller's buffer is rejected with requeue. librabbitmq 0.11.
 *
 * Left out: basic.get (polling), consumer priorities, single active consumer.
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

/* The consumer's side of open(): qos, (fanout: own queue + bind), consume. */
int ipcl_rabbitmq_open_consumer(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_connection_state_t conn = re->conn;
	char what[300];
	int rc;

	amqp_basic_qos(conn, RABBITMQ_CHANNEL, 0, (uint16_t)re->cf.prefetch, 0);
	rc =
	    ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), "basic.qos", ep->err);
	if (rc)
		return rc;
	if (re->cf.fanout) {
		amqp_queue_declare_ok_t *q =
		    amqp_queue_declare(conn, RABBITMQ_CHANNEL, amqp_empty_bytes, 0, 0, 1,
				       1, amqp_empty_table);

		rc = ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
					 "declaring a subscriber queue", ep->err);
		if (rc)
			return rc;
		if (!q || q->queue.len >= sizeof re->queue)
			return ipcl_seterr(ep->err, IPCL_EPROTO, "bad queue.declare-ok");
		snprintf(re->queue, sizeof re->queue, "%.*s", (int)q->queue.len,
			 (const char *)q->queue.bytes);
		amqp_queue_bind(conn, RABBITMQ_CHANNEL, amqp_cstring_bytes(re->queue),
				amqp_cstring_bytes(re->cf.name), amqp_empty_bytes,
				amqp_empty_table);
		snprintf(what, sizeof what, "binding a queue to exchange %s",
			 re->cf.name);
		rc = ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), what,
					 ep->err);
		if (rc)
			return rc;
	} else {
		snprintf(re->queue, sizeof re->queue, "%s", re->cf.name);
	}
	amqp_basic_consume(conn, RABBITMQ_CHANNEL, amqp_cstring_bytes(re->queue),
			   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	snprintf(what, sizeof what, "basic.consume on queue %s", re->queue);
	rc = ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), what, ep->err);
	if (rc || !re->cf.fanout)
		return rc;
	/* bound and consuming: raise the marker fanout producers wait for */
	if (ipcl_rabbitmq_marker(re->cf.name, ep->index, what, sizeof what))
		return ipcl_seterr(ep->err, -ENAMETOOLONG, "queue name too long");
	amqp_queue_declare(conn, RABBITMQ_CHANNEL, amqp_cstring_bytes(what), 0, 0, 1, 1,
			   amqp_empty_table);
	return ipcl_rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
				   "declaring the subscriber's marker queue", ep->err);
}

/* Send the acks ack() has batched: one basic.ack with multiple=1. */
int ipcl_rabbitmq_ack_flush(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	int st;

	if (!re->pending || re->dead)
		return 0;
	st = amqp_basic_ack(re->conn, RABBITMQ_CHANNEL, re->ack_tag, 1);
	re->pending = 0;
	if (st != AMQP_STATUS_OK)
		return ipcl_rabbitmq_status_err(ep->err, st, "basic.ack");
	return 0;
}

/* A frame other than basic.deliver reached a consumer. */
static int rabbitmq_consumer_frame(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_frame_t f;
	int st = amqp_simple_wait_frame(re->conn, &f);

	if (st != AMQP_STATUS_OK)
		return ipcl_rabbitmq_status_err(ep->err, st, "reading from the server");
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
		re->dead = 1;
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER,
		    "the server cancelled the consumer: queue %s was deleted", re->queue);
	}
	return ipcl_rabbitmq_closed_by_server(re, re->conn, &f.payload.method, "consume",
					      ep->err);
}

int ipcl_rabbitmq_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		       int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_envelope_t env;
	int rc = 0;

	if (re->dead)
		return ipcl_seterr(ep->err, -ECONNRESET, "the server closed the channel");
	if (re->late) {
		/* Bind RABBITMQ_LATE_JOIN_MS after the start (see rabbitmq.c's
		 * rabbitmq_open). */
		nanosleep(&(struct timespec){0, RABBITMQ_LATE_JOIN_MS * 1000000L}, NULL);
		rc = ipcl_rabbitmq_open_consumer(ep);
		if (rc)
			return rc;
		re->late = 0;
	}
	amqp_maybe_release_buffers(re->conn);
	for (;;) {
		struct timeval tv;
		amqp_rpc_reply_t r = amqp_consume_message(
		    re->conn, &env, ipcl_rabbitmq_tv(deadline_ns, &tv), 0);

		if (r.reply_type == AMQP_RESPONSE_NORMAL)
			break;
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
			rc = rabbitmq_consumer_frame(ep);
			if (rc)
				return rc;
			continue;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT) {
			/* idle: hand the batched acks over while nothing else happens */
			rc = ipcl_rabbitmq_ack_flush(ep);
			return rc ? rc : -ETIMEDOUT;
		}
		return ipcl_rabbitmq_reply(re, re->conn, r, "consuming", ep->err);
	}
	if (env.message.body.len > cap) {
		/* give it back (requeue), so that a later batched ack cannot cover it */
		amqp_basic_reject(re->conn, RABBITMQ_CHANNEL, env.delivery_tag, 1);
		rc = ipcl_seterr(ep->err, IPCL_ETRUNC,
				 "a %zu-byte message, buffer holds %zu (requeued)",
				 env.message.body.len, cap);
	} else {
		memcpy(buf, env.message.body.bytes, env.message.body.len);
		*len = env.message.body.len;
		re->last_tag = env.delivery_tag;
	}
	amqp_destroy_envelope(&env);
	return rc;
}

/* The harness verified the message recv() returned last: ack it (batched). */
int ipcl_rabbitmq_ack(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	if (ep->role != IPCL_CONSUMER || re->last_tag <= re->ack_tag)
		return 0;
	re->ack_tag = re->last_tag;
	if (++re->pending < re->cf.ack_batch)
		return 0;
	return ipcl_rabbitmq_ack_flush(ep);
}
