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

/* RabbitMQ 3.10's default max_message_size (not readable over AMQP). */
#define RABBITMQ_MAX_MSG ((size_t)128 << 20)
#define RABBITMQ_CHANNEL 1
#define RABBITMQ_SPARE   2 /* fanout producer: passive declares that may fail */
/* wait_subscribers=0: a fanout consumer binds its queue this long after start. */
#define RABBITMQ_LATE_JOIN_MS 50
/* A producer without confirms looks for server frames (channel.close) this often. */
#define RABBITMQ_POLL_EVERY 256

enum { RABBITMQ_CONFIRM_NONE, RABBITMQ_CONFIRM_WINDOW, RABBITMQ_CONFIRM_EACH };

static const char *const rabbitmq_confirm_names[] = {"none", "window", "each"};

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

static const struct ipcl_option rabbitmq_options[] = {
    {"url", "",
     "server URL amqp://user:pass@host:port/vhost (default: IPCLAB_AMQP_URL "
     "or a throwaway local node)"},
    {"connect_timeout", "3", "seconds to connect and log in before failing"},
    {"durable", "0",
     "1: durable queue/exchange and persistent messages (delivery_mode 2)"},
    {"confirm", "none", "publisher confirms: none | window | each"},
    {"confirm_window", "1000", "confirm=window: unconfirmed messages allowed in flight"},
    {"prefetch", "1000", "basic.qos prefetch count per consumer (0: unlimited)"},
    {"ack_batch", "100", "consumer acks with multiple=1 every N messages (and on close)"},
    {"wait_subscribers", "1",
     "rabbitmq-fanout: 1: a producer's open() waits until every "
     "consumer's queue is bound; 0: a late join, consumers bind 50 ms after the "
     "start, so what was published before is lost"},
    {NULL, NULL, NULL},
};

/* Map a librabbitmq status to an errno-style code. */
static int rabbitmq_errno(int status)
{
	switch (status) {
	case AMQP_STATUS_OK:
		return 0;
	case AMQP_STATUS_TIMEOUT:
	case AMQP_STATUS_HEARTBEAT_TIMEOUT:
		return -ETIMEDOUT;
	case AMQP_STATUS_NO_MEMORY:
		return -ENOMEM;
	case AMQP_STATUS_CONNECTION_CLOSED:
	case AMQP_STATUS_SOCKET_CLOSED:
	case AMQP_STATUS_SOCKET_ERROR:
		return -ECONNRESET;
	case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
		return -EHOSTUNREACH;
	default:
		return IPCL_EPROTO;
	}
}

/* A librabbitmq status as a one-line error: "<what>: <library text>". */
static int rabbitmq_status_err(char *err, int status, const char *what)
{
	return ipcl_seterr(err, rabbitmq_errno(status), "%s: %s", what,
			   amqp_error_string2(status));
}

/* Explain a channel.close / connection.close the server sent, answer it. */
static int rabbitmq_closed_by_server(struct rabbitmq_ep *re, amqp_connection_state_t conn,
				     const amqp_method_t *m, const char *what, char *err)
{
	if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
		const amqp_channel_close_t *c = m->decoded;
		amqp_channel_close_ok_t ok = {0};
		int rc = ipcl_seterr(err, IPCL_EBROKER,
				     "%s: the server closed the channel: %u %.*s", what,
				     c->reply_code, (int)c->reply_text.len,
				     (const char *)c->reply_text.bytes);

		amqp_send_method(conn, RABBITMQ_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD,
				 &ok);
		if (re)
			re->dead = 1;
		return rc;
	}
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *c = m->decoded;
		amqp_connection_close_ok_t ok = {0};
		int rc = ipcl_seterr(err, IPCL_EBROKER,
				     "%s: the server closed the connection: %u %.*s",
				     what, c->reply_code, (int)c->reply_text.len,
				     (const char *)c->reply_text.bytes);

		amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		if (re)
			re->dead = 1;
		return rc;
	}
	return 0;
}

/* Check the reply of a synchronous method (declare, consume, ...). */
static int rabbitmq_reply(struct rabbitmq_ep *re, amqp_connection_state_t conn,
			  amqp_rpc_reply_t r, const char *what, char *err)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_NONE:
		return ipcl_seterr(err, IPCL_EPROTO, "%s: no reply from the server",
				   what);
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		if (re)
			re->dead = 1;
		return rabbitmq_status_err(err, r.library_error, what);
	case AMQP_RESPONSE_SERVER_EXCEPTION: {
		int rc = rabbitmq_closed_by_server(re, conn, &r.reply, what, err);

		return rc ? rc
			  : ipcl_seterr(err, IPCL_EBROKER, "%s: unexpected method 0x%08x",
					what, (unsigned)r.reply.id);
	}
	}
	return ipcl_seterr(err, IPCL_EPROTO, "%s: unknown reply type", what);
}

/* A timeval for librabbitmq from an absolute deadline; NULL (block) for FOREVER. */
static struct timeval *rabbitmq_tv(int64_t deadline_ns, struct timeval *tv)
{
	int64_t left;

	if (deadline_ns == IPCL_FOREVER)
		return NULL;
	left = deadline_ns - ipcl_now_ns();
	if (left < 0)
		left = 0;
	tv->tv_sec = (time_t)(left / 1000000000);
	tv->tv_usec = (suseconds_t)(left % 1000000000 / 1000);
	return tv;
}

static void rabbitmq_ms_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = ms % 1000 * 1000;
}

/* A queue or exchange name from the run's tag: AMQP allows [A-Za-z0-9._:-]. */
static int rabbitmq_name(const char *tag, const char *suffix, char *out, size_t cap)
{
	int n = snprintf(out, cap, "ipcl.%s%s", tag ? tag : "", suffix);

	if (n < 0 || (size_t)n >= cap || n > 255)
		return -ENAMETOOLONG;
	for (char *p = out; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '.' && *p != '_' && *p != ':' &&
		    *p != '-')
			*p = '_';
	return 0;
}

/* The options of a run, checked. */
static int rabbitmq_conf_from_opts(const struct ipcl_opts *o, int fanout,
				   struct rabbitmq_conf *cf, char *err)
{
	const char *url = ipcl_opt(o, rabbitmq_options, "url");
	const char *confirm = ipcl_opt(o, rabbitmq_options, "confirm");
	long long v;
	int rc;

	memset(cf, 0, sizeof *cf);
	cf->fanout = fanout;
	if (!url || !url[0])
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "no server URL: give -O url=amqp://... or set IPCLAB_AMQP_URL");
	if (strlen(url) >= sizeof cf->url || strpbrk(url, " \t\n"))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option url: too long or contains spaces");
	snprintf(cf->url, sizeof cf->url, "%s", url);
	rc = ipcl_opt_int(o, rabbitmq_options, "connect_timeout", 1, 3600, &v, err);
	if (rc)
		return rc;
	cf->timeout_ms = (long)v * 1000;
	rc = ipcl_opt_int(o, rabbitmq_options, "durable", 0, 1, &v, err);
	if (rc)
		return rc;
	cf->durable = (int)v;
	cf->confirm = -1;
	for (int i = 0; i < 3; i++)
		if (confirm && strcmp(confirm, rabbitmq_confirm_names[i]) == 0)
			cf->confirm = i;
	if (cf->confirm < 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option confirm=%s: want none, window or each",
				   confirm ? confirm : "");
	rc = ipcl_opt_int(o, rabbitmq_options, "confirm_window", 1, 1000000, &v, err);
	if (rc)
		return rc;
	cf->window = cf->confirm == RABBITMQ_CONFIRM_EACH ? 1 : (long)v;
	rc = ipcl_opt_int(o, rabbitmq_options, "prefetch", 0, 65535, &v, err);
	if (rc)
		return rc;
	cf->prefetch = (long)v;
	rc = ipcl_opt_int(o, rabbitmq_options, "ack_batch", 1, 65535, &v, err);
	if (rc)
		return rc;
	cf->ack_batch = (long)v;
	rc = ipcl_opt_int(o, rabbitmq_options, "wait_subscribers", 0, 1, &v, err);
	if (rc)
		return rc;
	cf->subscribers = fanout && v && o ? o->consumers : 0;
	/* With fewer messages unacknowledged than a batch, the consumer would stall. */
	if (cf->prefetch && cf->ack_batch > cf->prefetch)
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "ack_batch=%ld is larger than prefetch=%ld: the consumer "
		    "would wait forever for its batch",
		    cf->ack_batch, cf->prefetch);
	if (rabbitmq_name(o ? o->tag : NULL, fanout ? ".fx" : "", cf->name,
			  sizeof cf->name) < 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "the run tag is too long for an AMQP name");
	return 0;
}

/* The address: every setting, then the URL (the rest of the line). */
static int rabbitmq_conf_format(const struct rabbitmq_conf *cf, char *addr, size_t cap)
{
	int n = snprintf(
	    addr, cap,
	    "name=%s fanout=%d durable=%d confirm=%d window=%ld prefetch=%ld "
	    "ack_batch=%ld timeout_ms=%ld subscribers=%d url=%s",
	    cf->name, cf->fanout, cf->durable, cf->confirm, cf->window, cf->prefetch,
	    cf->ack_batch, cf->timeout_ms, cf->subscribers, cf->url);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int rabbitmq_conf_parse(const char *addr, struct rabbitmq_conf *cf, char *err)
{
	const char *url = strstr(addr, " url=");
	int n = 0;

	memset(cf, 0, sizeof *cf);
	cf->confirm = -1;
	if (!url ||
	    sscanf(addr,
		   "name=%255s fanout=%d durable=%d confirm=%d window=%ld prefetch=%ld "
		   "ack_batch=%ld timeout_ms=%ld subscribers=%d%n",
		   cf->name, &cf->fanout, &cf->durable, &cf->confirm, &cf->window,
		   &cf->prefetch, &cf->ack_batch, &cf->timeout_ms, &cf->subscribers,
		   &n) != 9 ||
	    addr + n != url || strlen(url + 5) == 0 ||
	    strlen(url + 5) >= sizeof cf->url || cf->confirm < 0 || cf->confirm > 2 ||
	    cf->window < 1 || cf->timeout_ms < 1 || cf->ack_batch < 1 ||
	    cf->subscribers < 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "rabbitmq: malformed channel address");
	snprintf(cf->url, sizeof cf->url, "%s", url + 5);
	return 0;
}

/*
 * Connect, log in and open channel 1 within the connect timeout (shortened to
 * the deadline). The error names the URL with its password hidden.
 */
static int rabbitmq_connect(const struct rabbitmq_conf *cf, int64_t deadline_ns,
			    amqp_connection_state_t *out, char *err)
{
	char url[256], shown[256], what[300];
	struct amqp_connection_info ci;
	amqp_connection_state_t conn = NULL;
	amqp_socket_t *sock;
	struct timeval tv, rpc;
	int64_t budget = cf->timeout_ms * 1000000LL, now = ipcl_now_ns();
	int st, rc;

	*out = NULL;
	ipcl_url_redact(cf->url, shown, sizeof shown);
	snprintf(url, sizeof url, "%s", cf->url);
	if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK)
		return ipcl_seterr(err, IPCL_EINVAL, "not an AMQP URL: %s", shown);
	/* amqp://host:port/ names the vhost "" by the URI spec; everyone means "/" */
	if (!ci.vhost || !ci.vhost[0])
		ci.vhost = "/";
	if (ci.ssl)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "%s: amqps:// (TLS) is not supported", shown);
	if (deadline_ns != IPCL_FOREVER && deadline_ns - now < budget)
		budget = deadline_ns - now > 1000000 ? deadline_ns - now : 1000000;
	tv.tv_sec = (time_t)(budget / 1000000000);
	tv.tv_usec = (suseconds_t)(budget % 1000000000 / 1000);
	conn = amqp_new_connection();
	if (!conn)
		return ipcl_seterr(err, -ENOMEM, "rabbitmq: out of memory");
	sock = amqp_tcp_socket_new(conn); /* owned by conn */
	if (!sock) {
		rc = ipcl_seterr(err, -ENOMEM, "rabbitmq: out of memory");
		goto fail;
	}
	st = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
	if (st != AMQP_STATUS_OK) {
		/* librabbitmq keeps the connect() error to itself (SO_ERROR) */
		rc = rabbitmq_errno(st);
		if (rc == -ECONNRESET)
			rc = -ECONNREFUSED;
		if (st == AMQP_STATUS_TIMEOUT)
			ipcl_seterr(err, rc,
				    "cannot connect to %s: no answer within %ld ms",
				    shown, (long)(budget / 1000000));
		else
			ipcl_seterr(err, rc, "cannot connect to %s: %s%s", shown,
				    amqp_error_string2(st),
				    st == AMQP_STATUS_SOCKET_ERROR
					? " (refused or unreachable)"
					: "");
		goto fail;
	}
	/* The rest of the budget for the login; RPCs later get a bound too. */
	budget -= ipcl_now_ns() - now;
	if (budget < 1000000)
		budget = 1000000;
	tv.tv_sec = (time_t)(budget / 1000000000);
	tv.tv_usec = (suseconds_t)(budget % 1000000000 / 1000);
	rabbitmq_ms_tv(cf->timeout_ms * 10, &rpc);
	if (amqp_set_handshake_timeout(conn, &tv) != AMQP_STATUS_OK ||
	    amqp_set_rpc_timeout(conn, &rpc) != AMQP_STATUS_OK) {
		rc = ipcl_seterr(err, IPCL_EPROTO, "rabbitmq: cannot set timeouts");
		goto fail;
	}
	snprintf(what, sizeof what, "login to %s", shown);
	rc = rabbitmq_reply(NULL, conn,
			    amqp_login(conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
				       AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
			    what, err);
	if (rc)
		goto fail;
	amqp_channel_open(conn, RABBITMQ_CHANNEL);
	snprintf(what, sizeof what, "channel.open on %s", shown);
	rc = rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, err);
	if (rc)
		goto fail;
	*out = conn;
	return 0;
fail:
	amqp_destroy_connection(conn);
	return rc;
}

/* Close politely (bounded by the connect timeout), then free. */
static void rabbitmq_disconnect(amqp_connection_state_t conn, long timeout_ms, int dead)
{
	struct timeval tv;

	if (!conn)
		return;
	if (!dead) {
		rabbitmq_ms_tv(timeout_ms, &tv);
		amqp_set_rpc_timeout(conn, &tv);
		amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(conn);
}

/* A long-string property of the server (Connection.Start), or "unknown". */
static const char *rabbitmq_server_prop(amqp_connection_state_t conn, const char *key,
					char *out, size_t cap)
{
	const amqp_table_t *t = amqp_get_server_properties(conn);

	snprintf(out, cap, "unknown");
	for (int i = 0; t && i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];

		if (e->key.len == strlen(key) &&
		    memcmp(e->key.bytes, key, e->key.len) == 0 &&
		    (e->value.kind == AMQP_FIELD_KIND_UTF8 ||
		     e->value.kind == AMQP_FIELD_KIND_BYTES))
			snprintf(out, cap, "%.*s", (int)e->value.value.bytes.len,
				 (const char *)e->value.value.bytes.bytes);
	}
	return out;
}

static int rabbitmq_probe_common(const struct ipcl_opts *o, int fanout,
				 struct ipcl_probe *p, char *err)
{
	struct rabbitmq_conf cf;
	amqp_connection_state_t conn;
	char buf[120], shown[256];
	int rc = rabbitmq_conf_from_opts(o, fanout, &cf, err);

	if (rc)
		return rc;
	rc = rabbitmq_connect(&cf, IPCL_FOREVER, &conn, err);
	if (rc)
		return rc;
	ipcl_url_redact(cf.url, shown, sizeof shown);
	p->max_msg = RABBITMQ_MAX_MSG;
	ipcl_fact(p, "server_url", "%s", shown);
	ipcl_fact(p, "server_product", "%s",
		  rabbitmq_server_prop(conn, "product", buf, sizeof buf));
	ipcl_fact(p, "server_version", "%s",
		  rabbitmq_server_prop(conn, "version", buf, sizeof buf));
	ipcl_fact(p, "server_platform", "%s",
		  rabbitmq_server_prop(conn, "platform", buf, sizeof buf));
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
	ipcl_fact(p, "confirm", "%s", rabbitmq_confirm_names[cf.confirm]);
	if (cf.confirm == RABBITMQ_CONFIRM_WINDOW)
		ipcl_fact(p, "confirm_window", "%ld", cf.window);
	ipcl_fact(p, "prefetch", "%ld", cf.prefetch);
	ipcl_fact(p, "ack_batch", "%ld", cf.ack_batch);
	ipcl_fact(p, "heartbeat", "%d", amqp_get_heartbeat(conn));
	rabbitmq_disconnect(conn, cf.timeout_ms, 0);
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
	int rc = rabbitmq_conf_from_opts(c->opts, fanout, &cf, c->err);

	if (rc)
		return rc;
	if (c->opts->msg_size > RABBITMQ_MAX_MSG)
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "%zu-byte messages exceed RabbitMQ's max_message_size (%zu)",
		    c->opts->msg_size, RABBITMQ_MAX_MSG);
	if (rabbitmq_conf_format(&cf, c->addr, sizeof c->addr) < 0)
		return ipcl_seterr(
		    c->err, -ENAMETOOLONG,
		    "rabbitmq: the URL is too long for the channel address");
	rc = rabbitmq_connect(&cf, IPCL_FOREVER, &conn, c->err);
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
	rc = rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, c->err);
	if (rc)
		goto fail;
	rabbitmq_disconnect(conn, cf.timeout_ms, 0);
	return 0;
fail:
	rabbitmq_disconnect(conn, cf.timeout_ms, 1);
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

/*
 * The marker of fanout consumer i: an empty exclusive queue "<exchange>.c<i>"
 * that it declares once its own queue is bound and consumed, and that goes
 * away with its connection.
 */
static int rabbitmq_marker(const char *exchange, int i, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s.c%d", exchange, i);

	return n < 0 || (size_t)n >= cap || n > 255 ? -ENAMETOOLONG : 0;
}

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
		if (rabbitmq_marker(re->cf.name, i, q, sizeof q))
			return ipcl_seterr(ep->err, -ENAMETOOLONG, "queue name too long");
		for (;;) {
			amqp_rpc_reply_t r;
			int code = 0;

			amqp_channel_open(conn, RABBITMQ_SPARE);
			rc = rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
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
				rc = rabbitmq_reply(re, conn, r,
						    "waiting for subscribers", ep->err);
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

/* The consumer's side of open(): qos, (fanout: own queue + bind), consume. */
static int rabbitmq_open_consumer(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_connection_state_t conn = re->conn;
	char what[300];
	int rc;

	amqp_basic_qos(conn, RABBITMQ_CHANNEL, 0, (uint16_t)re->cf.prefetch, 0);
	rc = rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), "basic.qos", ep->err);
	if (rc)
		return rc;
	if (re->cf.fanout) {
		amqp_queue_declare_ok_t *q =
		    amqp_queue_declare(conn, RABBITMQ_CHANNEL, amqp_empty_bytes, 0, 0, 1,
				       1, amqp_empty_table);

		rc = rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
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
		rc = rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), what, ep->err);
		if (rc)
			return rc;
	} else {
		snprintf(re->queue, sizeof re->queue, "%s", re->cf.name);
	}
	amqp_basic_consume(conn, RABBITMQ_CHANNEL, amqp_cstring_bytes(re->queue),
			   amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	snprintf(what, sizeof what, "basic.consume on queue %s", re->queue);
	rc = rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn), what, ep->err);
	if (rc || !re->cf.fanout)
		return rc;
	/* bound and consuming: raise the marker fanout producers wait for */
	if (rabbitmq_marker(re->cf.name, ep->index, what, sizeof what))
		return ipcl_seterr(ep->err, -ENAMETOOLONG, "queue name too long");
	amqp_queue_declare(conn, RABBITMQ_CHANNEL, amqp_cstring_bytes(what), 0, 0, 1, 1,
			   amqp_empty_table);
	return rabbitmq_reply(re, conn, amqp_get_rpc_reply(conn),
			      "declaring the subscriber's marker queue", ep->err);
}

static int rabbitmq_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	int rc = rabbitmq_conf_parse(ep->chan->addr, &re->cf, ep->err);

	if (rc)
		return rc;
	rc = rabbitmq_connect(&re->cf, deadline_ns, &re->conn, ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_CONSUMER) {
		/*
		 * wait_subscribers=0 on a fanout: a late join. The consumer binds
		 * its queue in its first recv(), after the producers started, so
		 * what they published before reached no queue of its.
		 */
		re->late = re->cf.fanout && re->cf.subscribers == 0;
		return re->late ? 0 : rabbitmq_open_consumer(ep);
	}

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
	return rabbitmq_reply(re, re->conn, amqp_get_rpc_reply(re->conn),
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
		return rabbitmq_closed_by_server(re, re->conn, &f->payload.method,
						 "publish", ep->err);
	}
}

/* Read frames until at most max confirms are outstanding (or the deadline). */
static int rabbitmq_confirm_wait(struct ipcl_ep *ep, uint64_t max, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;

	while (re->published - re->confirmed > max) {
		struct timeval tv;
		amqp_frame_t f;
		int st = amqp_simple_wait_frame_noblock(re->conn, &f,
							rabbitmq_tv(deadline_ns, &tv));
		int rc;

		if (st == AMQP_STATUS_TIMEOUT)
			return ipcl_seterr(
			    ep->err, -ETIMEDOUT,
			    "%llu publisher confirms still outstanding at the "
			    "deadline",
			    (unsigned long long)(re->published - re->confirmed));
		if (st != AMQP_STATUS_OK)
			return rabbitmq_status_err(ep->err, st,
						   "waiting for publisher confirms");
		rc = rabbitmq_producer_frame(ep, &f);
		if (rc)
			return rc;
	}
	return 0;
}

/* Without confirms: handle what the server sent so far, without waiting. */
static int rabbitmq_poll_server(struct ipcl_ep *ep)
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
			return rabbitmq_status_err(ep->err, st,
						   "reading from the server");
		rc = rabbitmq_producer_frame(ep, &f);
		if (rc)
			return rc;
	}
}

static int rabbitmq_send(struct ipcl_ep *ep, const void *msg, size_t len,
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
		rc = rabbitmq_confirm_wait(ep, (uint64_t)re->cf.window - 1, deadline_ns);
		if (rc)
			return rc;
	}
	/* mandatory with confirms: an unroutable message comes back as basic.return */
	st = amqp_basic_publish(re->conn, RABBITMQ_CHANNEL, re->exchange, re->rkey,
				confirm, 0, &re->props, body);
	if (st != AMQP_STATUS_OK)
		return rabbitmq_status_err(ep->err, st, "basic.publish");
	if (confirm) {
		re->published++;
		re->acked[re->published % re->ring] = 0;
		if (re->cf.confirm == RABBITMQ_CONFIRM_EACH)
			return rabbitmq_confirm_wait(ep, 0, deadline_ns);
		return 0;
	}
	if (++re->since_poll >= RABBITMQ_POLL_EVERY) {
		re->since_poll = 0;
		return rabbitmq_poll_server(ep);
	}
	return 0;
}

/*
 * Producer: messages the broker has confirmed (basic.ack; every tag up to
 * `confirmed` is), or -1 without publisher confirms (confirm=none).
 */
static int64_t rabbitmq_acked(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	return re->cf.confirm == RABBITMQ_CONFIRM_NONE ? -1 : (int64_t)re->confirmed;
}

/* Send the acks ack() has batched: one basic.ack with multiple=1. */
static int rabbitmq_ack_flush(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	int st;

	if (!re->pending || re->dead)
		return 0;
	st = amqp_basic_ack(re->conn, RABBITMQ_CHANNEL, re->ack_tag, 1);
	re->pending = 0;
	if (st != AMQP_STATUS_OK)
		return rabbitmq_status_err(ep->err, st, "basic.ack");
	return 0;
}

/* A frame other than basic.deliver reached a consumer. */
static int rabbitmq_consumer_frame(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_frame_t f;
	int st = amqp_simple_wait_frame(re->conn, &f);

	if (st != AMQP_STATUS_OK)
		return rabbitmq_status_err(ep->err, st, "reading from the server");
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
		re->dead = 1;
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER,
		    "the server cancelled the consumer: queue %s was deleted", re->queue);
	}
	return rabbitmq_closed_by_server(re, re->conn, &f.payload.method, "consume",
					 ep->err);
}

static int rabbitmq_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			 int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;
	amqp_envelope_t env;
	int rc = 0;

	if (re->dead)
		return ipcl_seterr(ep->err, -ECONNRESET, "the server closed the channel");
	if (re->late) {
		/* Bind RABBITMQ_LATE_JOIN_MS after the start (see rabbitmq_open). */
		nanosleep(&(struct timespec){0, RABBITMQ_LATE_JOIN_MS * 1000000L}, NULL);
		rc = rabbitmq_open_consumer(ep);
		if (rc)
			return rc;
		re->late = 0;
	}
	amqp_maybe_release_buffers(re->conn);
	for (;;) {
		struct timeval tv;
		amqp_rpc_reply_t r = amqp_consume_message(
		    re->conn, &env, rabbitmq_tv(deadline_ns, &tv), 0);

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
			rc = rabbitmq_ack_flush(ep);
			return rc ? rc : -ETIMEDOUT;
		}
		return rabbitmq_reply(re, re->conn, r, "consuming", ep->err);
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
static int rabbitmq_ack(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	if (ep->role != IPCL_CONSUMER || re->last_tag <= re->ack_tag)
		return 0;
	re->ack_tag = re->last_tag;
	if (++re->pending < re->cf.ack_batch)
		return 0;
	return rabbitmq_ack_flush(ep);
}

/* Producer: wait for every outstanding confirm. Consumer: send batched acks. */
static int rabbitmq_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct rabbitmq_ep *re = ep->state;

	if (!re->conn || re->dead)
		return 0;
	if (ep->role == IPCL_CONSUMER)
		return rabbitmq_ack_flush(ep);
	if (re->cf.confirm == RABBITMQ_CONFIRM_NONE)
		return rabbitmq_poll_server(ep);
	return rabbitmq_confirm_wait(ep, 0, deadline_ns);
}

/* Copes with a half-open endpoint. Unacked deliveries go back to the queue. */
static void rabbitmq_close(struct ipcl_ep *ep)
{
	struct rabbitmq_ep *re = ep->state;

	if (re->conn && ep->role == IPCL_CONSUMER)
		rabbitmq_ack_flush(ep);
	rabbitmq_disconnect(re->conn, re->cf.timeout_ms ? re->cf.timeout_ms : 1000,
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

	if (!c->addr[0] || rabbitmq_conf_parse(c->addr, &cf, c->err) != 0)
		return;
	if (rabbitmq_connect(&cf, IPCL_FOREVER, &conn, c->err) != 0)
		return;
	name = amqp_cstring_bytes(cf.name);
	if (cf.fanout)
		amqp_exchange_delete(conn, RABBITMQ_CHANNEL, name, 0);
	else
		amqp_queue_delete(conn, RABBITMQ_CHANNEL, name, 0, 0);
	snprintf(what, sizeof what, "deleting %s %s", cf.fanout ? "exchange" : "queue",
		 cf.name);
	rabbitmq_disconnect(
	    conn, cf.timeout_ms,
	    rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, c->err));
}

const struct ipcl_transport ipcl_transport_rabbitmq = {
    .name = "rabbitmq",
    .summary = "RabbitMQ work queue over AMQP 0-9-1 (librabbitmq): confirms, manual acks",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_DURABLE | IPCL_CAP_MULTI_PRODUCER |
	    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .ep_state_size = sizeof(struct rabbitmq_ep),
    .options = rabbitmq_options,
    .server = "rabbitmq",
    .probe = rabbitmq_probe,
    .setup = rabbitmq_setup,
    .teardown = rabbitmq_teardown,
    .open = rabbitmq_open,
    .send = rabbitmq_send,
    .recv = rabbitmq_recv,
    .ack = rabbitmq_ack,
    .flush = rabbitmq_flush,
    .acked = rabbitmq_acked,
    .close = rabbitmq_close,
};

const struct ipcl_transport ipcl_transport_rabbitmq_fanout = {
    .name = "rabbitmq-fanout",
    .summary = "RabbitMQ fanout exchange, one exclusive queue per consumer (AMQP 0-9-1)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_FANOUT |
	    IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .ep_state_size = sizeof(struct rabbitmq_ep),
    .options = rabbitmq_options,
    .server = "rabbitmq",
    .probe = rabbitmq_fanout_probe,
    .setup = rabbitmq_fanout_setup,
    .teardown = rabbitmq_teardown,
    .open = rabbitmq_open,
    .send = rabbitmq_send,
    .recv = rabbitmq_recv,
    .ack = rabbitmq_ack,
    .flush = rabbitmq_flush,
    .acked = rabbitmq_acked,
    .close = rabbitmq_close,
};
