/*
 * rabbitmq.c - RabbitMQ over AMQP 0-9-1 with librabbitmq (rabbitmq-c 0.11).
 *
 * Two transports:
 *   rabbitmq         one queue "ipcl.<tag>" declared by setup() with x-expires
 *                    (unused for 15 min: the server deletes it); producers publish
 *                    to the default exchange with the queue name as routing key,
 *                    consumers share the queue (basic.consume, manual acks).
 *   rabbitmq-fanout  one fanout exchange "ipcl.<tag>.fx"; every consumer declares
 *                    its own exclusive, auto-delete queue bound to it in open(),
 *                    so every consumer receives every message, then a marker
 *                    queue "ipcl.<tag>.fx.c<index>" whose existence a producer's
 *                    open() waits for: nothing is published before all of the
 *                    run's subscribers are there.
 *
 * Every endpoint has its own connection and uses channel 1. Delivery guarantees
 * are options: durable=1 declares a durable queue (or exchange) and publishes
 * persistent messages (delivery_mode 2); confirm=window|each turns on publisher
 * confirms (confirm.select) and publishes with mandatory set, so a nack or an
 * unroutable (returned) message is an error, never a silent loss; consumers
 * always ack by hand, in batches (basic.ack multiple=1 every ack_batch messages,
 * and on close), with basic.qos prefetch bounding what is unacknowledged.
 *
 * Limits: 128 MiB a message (RabbitMQ 3.10's default max_message_size, which
 * cannot be read over AMQP).
 *
 * Files: rabbitmq.c (this: probe, setup, open, close, teardown, the two const
 * tables), conn.c (options, URL, connect, errors), publish.c (send, confirms),
 * consume.c (consume, recv, acks).
 *
 * Left out: TLS (amqps://), heartbeats (negotiated off: an idle producer never
 * reads), transactions (tx.select), quorum queues and streams, reconnecting.
 * A publish that the server throttles (TCP back-pressure, memory alarm) blocks
 * inside librabbitmq's write and may overrun a finite deadline.
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

static int rabbitmq_probe_common(const struct ipcl_opts *o, int fanout,
				 struct ipcl_probe *p, char *err)
{
	struct rabbitmq_conf cf;
	amqp_connection_state_t conn;
	char buf[120], shown[256];
	int rc = ipcl_rabbitmq_conf_from_opts(o, fanout, &cf, err);

	if (rc)
		return rc;
	rc = ipcl_rabbitmq_connect(&cf, IPCL_FOREVER, &conn, err);
	if (rc)
		return rc;
	ipcl_url_redact(cf.url, shown, sizeof shown);
	p->max_msg = RABBITMQ_MAX_MSG;
	ipcl_fact(p, "server_url", "%s", shown);
	ipcl_fact(p, "server_product", "%s",
		  ipcl_rabbitmq_server_prop(conn, "product", buf, sizeof buf));
	ipcl_fact(p, "server_version", "%s",
		  ipcl_rabbitmq_server_prop(conn, "version", buf, sizeof buf));
	ipcl_fact(p, "server_platform", "%s",
		  ipcl_rabbitmq_server_prop(conn, "platform", buf, sizeof buf));
	ipcl_fact(p, "librabbitmq_version", "%s", amqp_version());
	ipcl_fact(p, "frame_max", "%d", amqp_get_frame_max(conn));
	ipcl_fact(p, "max_message_size", "%zu", RABBITMQ_MAX_MSG);
	ipcl_fact(p, "max_message_size_source",
		  "RabbitMQ 3.10 default (not readable over AMQP)");
	ipcl_fact(p, "durable", "%d", cf.durable);
	ipcl_fact(p, "delivery_mode", "%d", cf.durable ? 2 : 1);
	ipcl_fact(p, "queue", "%s",
		  fanout       ? "exclusive auto-delete per consumer"
		  : cf.durable ? "classic durable"
			       : "classic transient");
	ipcl_fact(p, "confirm", "%s", ipcl_rabbitmq_confirm_names[cf.confirm]);
	if (cf.confirm == RABBITMQ_CONFIRM_WINDOW)
		ipcl_fact(p, "confirm_window", "%ld", cf.window);
	ipcl_fact(p, "prefetch", "%ld", cf.prefetch);
	ipcl_fact(p, "ack_batch", "%ld", cf.ack_batch);
	ipcl_fact(p, "heartbeat", "%d", amqp_get_heartbeat(conn));
	ipcl_rabbitmq_disconnect(conn, cf.timeout_ms, 0);
	return 0;
}

static int rabbitmq_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return rabbitmq_probe_common(o, 0, p, err);
}

static int rabbitmq_fanout_probe(const struct ipcl_opts *o, struct ipcl_probe *p,
				 char *err)
{
	return rabbitmq_probe_common(o, 1, p, err);
}

/*
 * The arguments of the run's queue: x-expires, so that the server deletes it
 * once it has had no consumer and no declare for RABBITMQ_EXPIRES_MS. A run
 * killed before its teardown thus leaves no queue for good (AMQP 0-9-1 has no
 * way to list queues, so `ipclab clean --brokers` cannot find them).
 */
#define RABBITMQ_EXPIRES_MS (15 * 60 * 1000)

static amqp_table_t rabbitmq_queue_args(void)
{
	static amqp_table_entry_t expires;
	static amqp_table_t args;

	expires.key = amqp_cstring_bytes("x-expires");
	expires.value.kind = AMQP_FIELD_KIND_I32;
	expires.value.value.i32 = RABBITMQ_EXPIRES_MS;
	args.num_entries = 1;
	args.entries = &expires;
	return args;
}

/* Declare the queue (or the fanout exchange) the run uses; write the address. */
static int rabbitmq_setup_common(struct ipcl_chan *c, int fanout)
{
	struct rabbitmq_conf cf;
	amqp_connection_state_t conn = NULL;
	amqp_bytes_t name;
	char what[300];
	int rc = ipcl_rabbitmq_conf_from_opts(c->opts, fanout, &cf, c->err);

	if (rc)
		return rc;
	if (c->opts->msg_size > RABBITMQ_MAX_MSG)
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "%zu-byte messages exceed RabbitMQ's max_message_size (%zu)",
		    c->opts->msg_size, RABBITMQ_MAX_MSG);
	if (ipcl_rabbitmq_conf_format(&cf, c->addr, sizeof c->addr) < 0)
		return ipcl_seterr(
		    c->err, -ENAMETOOLONG,
		    "rabbitmq: the URL is too long for the channel address");
	rc = ipcl_rabbitmq_connect(&cf, IPCL_FOREVER, &conn, c->err);
	if (rc)
		goto fail;
	name = amqp_cstring_bytes(cf.name);
	if (fanout)
		amqp_exchange_declare(conn, RABBITMQ_CHANNEL, name,
				      amqp_cstring_bytes("fanout"), 0, cf.durable, 0, 0,
				      amqp_empty_table);
	else
		amqp_queue_declare(conn, RABBITMQ_CHANNEL, name, 0, cf.durable, 0, 0,
				   rabbitmq_queue_args());
	snprintf(what, sizeof what, "declaring %s %s", fanout ? "exchange" : "queue",
		 cf.name);
	rc = ipcl_rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, c->err);
	if (rc)
		goto fail;
	ipcl_rabbitmq_disconnect(conn, cf.timeout_ms, 0);
	return 0;
fail:
	ipcl_rabbitmq_disconnect(conn, cf.timeout_ms, 1);
	c->addr[0] = 0;
	return rc;
}

static int rabbitmq_setup(struct ipcl_chan *c)
{
	return rabbitmq_setup_common(c, 0);
}

static int rabbitmq_fanout_setup(struct ipcl_chan *c)
{
	return rabbitmq_setup_common(c, 1);
}

static int rabbitmq_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	int rc = ipcl_rabbitmq_conf_parse(ep->chan->addr, &re->cf, ep->err);

	if (rc)
		return rc;
	rc = ipcl_rabbitmq_connect(&re->cf, deadline_ns, &re->conn, ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_CONSUMER) {
		/*
		 * wait_subscribers=0 on a fanout: a late join. The consumer binds
		 * its queue in its first recv(), after the producers started, so
		 * what they published before reached no queue of its.
		 */
		re->late = re->cf.fanout && re->cf.subscribers == 0;
		return re->late ? 0 : ipcl_rabbitmq_open_consumer(ep);
	}

	return ipcl_rabbitmq_open_producer(ep, deadline_ns);
}

/* Producer: wait for every outstanding confirm. Consumer: send batched acks. */
static int rabbitmq_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;

	if (!re->conn || re->dead)
		return 0;
	if (ep->role == IPCL_CONSUMER)
		return ipcl_rabbitmq_ack_flush(ep);
	if (re->cf.confirm == RABBITMQ_CONFIRM_NONE)
		return ipcl_rabbitmq_poll_server(ep);
	return ipcl_rabbitmq_confirm_wait(ep, 0, deadline_ns);
}

/* Copes with a half-open endpoint. Unacked deliveries go back to the queue. */
static void rabbitmq_close(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	if (re->conn && ep->role == IPCL_CONSUMER)
		ipcl_rabbitmq_ack_flush(ep);
	ipcl_rabbitmq_disconnect(re->conn, re->cf.timeout_ms ? re->cf.timeout_ms : 1000,
				 re->dead);
	re->conn = NULL;
	free(re->acked);
	re->acked = NULL;
}

/*
 * Delete the queue (or exchange) named in addr. RabbitMQ answers delete-ok for
 * one that does not exist, so this is idempotent. Messages still in the queue
 * go with it.
 */
static void rabbitmq_teardown(struct ipcl_chan *c)
{
	struct rabbitmq_conf cf;
	amqp_connection_state_t conn;
	amqp_bytes_t name;
	char what[300];

	if (!c->addr[0] || ipcl_rabbitmq_conf_parse(c->addr, &cf, c->err) != 0)
		return;
	if (ipcl_rabbitmq_connect(&cf, IPCL_FOREVER, &conn, c->err) != 0)
		return;
	name = amqp_cstring_bytes(cf.name);
	if (cf.fanout)
		amqp_exchange_delete(conn, RABBITMQ_CHANNEL, name, 0);
	else
		amqp_queue_delete(conn, RABBITMQ_CHANNEL, name, 0, 0);
	snprintf(what, sizeof what, "deleting %s %s", cf.fanout ? "exchange" : "queue",
		 cf.name);
	ipcl_rabbitmq_disconnect(
	    conn, cf.timeout_ms,
	    ipcl_rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, c->err));
}

const struct ipcl_transport ipcl_transport_rabbitmq = {
    .name = "rabbitmq",
    .summary = "RabbitMQ work queue over AMQP 0-9-1 (librabbitmq): confirms, manual acks",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_DURABLE | IPCL_CAP_MULTI_PRODUCER |
	    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .ep_state_size = sizeof(struct rabbitmq_ep),
    .options = ipcl_rabbitmq_options,
    .server = "rabbitmq",
    .probe = rabbitmq_probe,
    .setup = rabbitmq_setup,
    .teardown = rabbitmq_teardown,
    .open = rabbitmq_open,
    .send = ipcl_rabbitmq_send,
    .recv = ipcl_rabbitmq_recv,
    .ack = ipcl_rabbitmq_ack,
    .flush = rabbitmq_flush,
    .acked = ipcl_rabbitmq_acked,
    .close = rabbitmq_close,
};

const struct ipcl_transport ipcl_transport_rabbitmq_fanout = {
    .name = "rabbitmq-fanout",
    .summary = "RabbitMQ fanout exchange, one exclusive queue per consumer (AMQP 0-9-1)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_FANOUT |
	    IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .ep_state_size = sizeof(struct rabbitmq_ep),
    .options = ipcl_rabbitmq_options,
    .server = "rabbitmq",
    .probe = rabbitmq_fanout_probe,
    .setup = rabbitmq_fanout_setup,
    .teardown = rabbitmq_teardown,
    .open = rabbitmq_open,
    .send = ipcl_rabbitmq_send,
    .recv = ipcl_rabbitmq_recv,
    .ack = ipcl_rabbitmq_ack,
    .flush = rabbitmq_flush,
    .acked = ipcl_rabbitmq_acked,
    .close = rabbitmq_close,
};
