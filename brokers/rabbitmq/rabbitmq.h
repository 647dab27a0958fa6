/*
 * rabbitmq.h - what the files of the RabbitMQ transports share (conn.c,
 * publish.c, consume.c, rabbitmq.c): the channel address, the endpoint, and
 * the connection helpers. Local to brokers/rabbitmq/.
 */
#ifndef IPCL_RABBITMQ_H
#define IPCL_RABBITMQ_H

#include <stdint.h>
#include <sys/time.h>

#include <amqp.h>

#include <ipclab/transport.h>

/* RabbitMQ 3.10's default max_message_size (not readable over AMQP). */
#define RABBITMQ_MAX_MSG ((size_t)128 << 20)
#define RABBITMQ_CHANNEL 1
#define RABBITMQ_SPARE   2 /* fanout producer: passive declares that may fail */
/* wait_subscribers=0: a fanout consumer binds its queue this long after start. */
#define RABBITMQ_LATE_JOIN_MS 50
/* A producer without confirms looks for server frames (channel.close) this often. */
#define RABBITMQ_POLL_EVERY 256

enum { RABBITMQ_CONFIRM_NONE, RABBITMQ_CONFIRM_WINDOW, RABBITMQ_CONFIRM_EACH };

/* Everything an endpoint needs: parsed from the options in setup(), carried in
 * chan->addr to the role processes and to teardown(). */
struct rabbitmq_conf {
	int fanout;
	int durable;
	int confirm;
	long window;
	long prefetch;
	long ack_batch;
	long timeout_ms; /* connect and login timeout; RPCs get ten times this */
	int subscribers; /* fanout: a producer's open() waits for this many */
	char name[256];  /* the queue, or the fanout exchange */
	char url[256];
};

struct rabbitmq_ep {
	struct rabbitmq_conf cf;
	amqp_connection_state_t conn;
	int dead; /* the server closed the channel or connection: no more RPCs */
	amqp_basic_properties_t props;
	amqp_bytes_t exchange, rkey;
	char queue[256]; /* consumer: the queue it consumes */
	int late;        /* fanout consumer, wait_subscribers=0: not bound yet */
	/* producer with confirms: sequence numbers start at 1 after confirm.select */
	uint64_t published;   /* last sequence number used */
	uint64_t confirmed;   /* every sequence number <= this is confirmed */
	unsigned char *acked; /* ring of window+1 flags for out-of-order confirms */
	size_t ring;
	unsigned since_poll;
	/* consumer */
	uint64_t last_tag; /* delivery tag of the message recv() returned last */
	uint64_t ack_tag;  /* highest tag ack() was called for */
	long pending;      /* ack() calls not yet sent to the server */
};

extern const struct ipcl_option ipcl_rabbitmq_options[];
/* The names of confirm=, by RABBITMQ_CONFIRM_*. */
extern const char *const ipcl_rabbitmq_confirm_names[];

/* A librabbitmq status as a one-line error: "<what>: <library text>". */
int ipcl_rabbitmq_status_err(char *err, int status, const char *what);

/* Explain a channel.close / connection.close the server sent, answer it. */
int ipcl_rabbitmq_closed_by_server(struct rabbitmq_ep *re, amqp_connection_state_t conn,
				   const amqp_method_t *m, const char *what, char *err);

/* Check the reply of a synchronous method (declare, consume, ...). */
int ipcl_rabbitmq_reply(struct rabbitmq_ep *re, amqp_connection_state_t conn,
			amqp_rpc_reply_t r, const char *what, char *err);

/* A timeval for librabbitmq from an absolute deadline; NULL (block) for FOREVER. */
struct timeval *ipcl_rabbitmq_tv(int64_t deadline_ns, struct timeval *tv);

/* The options of a run, checked. */
int ipcl_rabbitmq_conf_from_opts(const struct ipcl_opts *o, int fanout,
				 struct rabbitmq_conf *cf, char *err);

/* The address: every setting, then the URL (the rest of the line). */
int ipcl_rabbitmq_conf_format(const struct rabbitmq_conf *cf, char *addr, size_t cap);

int ipcl_rabbitmq_conf_parse(const char *addr, struct rabbitmq_conf *cf, char *err);

/*
 * Connect, log in and open channel 1 within the connect timeout (shortened to
 * the deadline). The error names the URL with its password hidden.
 */
int ipcl_rabbitmq_connect(const struct rabbitmq_conf *cf, int64_t deadline_ns,
			  amqp_connection_state_t *out, char *err);

/* Close politely (bounded by the connect timeout), then free. */
void ipcl_rabbitmq_disconnect(amqp_connection_state_t conn, long timeout_ms, int dead);

/* A long-string property of the server (Connection.Start), or "unknown". */
const char *ipcl_rabbitmq_server_prop(amqp_connection_state_t conn, const char *key,
				      char *out, size_t cap);

/*
 * The marker of fanout consumer i: an empty exclusive queue "<exchange>.c<i>"
 * that it declares once its own queue is bound and consumed, and that goes
 * away with its connection.
 */
int ipcl_rabbitmq_marker(const char *exchange, int i, char *out, size_t cap);

/* The consumer's side of open(): qos, (fanout: own queue + bind), consume. */
int ipcl_rabbitmq_open_consumer(struct ipcl_ep *ep);

/*
 * The producer's side of open(): message properties and where they go,
 * (fanout) wait for the subscribers, (confirms) confirm.select and the ring
 * of out-of-order confirms.
 */
int ipcl_rabbitmq_open_producer(struct ipcl_ep *ep, int64_t deadline_ns);

/* Read frames until at most max confirms are outstanding (or the deadline). */
int ipcl_rabbitmq_confirm_wait(struct ipcl_ep *ep, uint64_t max, int64_t deadline_ns);

/* Without confirms: handle what the server sent so far, without waiting. */
int ipcl_rabbitmq_poll_server(struct ipcl_ep *ep);

int ipcl_rabbitmq_send(struct ipcl_ep *ep, const void *msg, size_t len,
		       int64_t deadline_ns);

/*
 * Producer: messages the broker has confirmed (basic.ack; every tag up to
 * `confirmed` is), or -1 without publisher confirms (confirm=none).
 */
int64_t ipcl_rabbitmq_acked(struct ipcl_ep *ep);

/* Send the acks ack() has batched: one basic.ack with multiple=1. */
int ipcl_rabbitmq_ack_flush(struct ipcl_ep *ep);

int ipcl_rabbitmq_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		       int64_t deadline_ns);

/* The harness verified the message recv() returned last: ack it (batched). */
int ipcl_rabbitmq_ack(struct ipcl_ep *ep);

#endif
