/*
 * conn.c - the RabbitMQ connection every endpoint of rabbitmq.c's transports
 * opens: the options and the channel address (rabbitmq_conf), amqp:// URLs,
 * connect with a deadline (a TCP socket from librabbitmq 0.11, login PLAIN,
 * channel 1, heartbeats off), close, and librabbitmq's errors turned into
 * negative errno / IPCL_E* codes with one clear line.
 *
 * Left out: TLS (amqps://), heartbeats, reconnecting.
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

const char *const ipcl_rabbitmq_confirm_names[] = {"none", "window", "each"};

const struct ipcl_option ipcl_rabbitmq_options[] = {
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
int ipcl_rabbitmq_status_err(char *err, int status, const char *what)
{
	return ipcl_seterr(err, rabbitmq_errno(status), "%s: %s", what,
			   amqp_error_string2(status));
}

/* Explain a channel.close / connection.close the server sent, answer it. */
int ipcl_rabbitmq_closed_by_server(struct rabbitmq_ep *re, amqp_connection_state_t conn,
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
int ipcl_rabbitmq_reply(struct rabbitmq_ep *re, amqp_connection_state_t conn,
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
		return ipcl_rabbitmq_status_err(err, r.library_error, what);
	case AMQP_RESPONSE_SERVER_EXCEPTION: {
		int rc = ipcl_rabbitmq_closed_by_server(re, conn, &r.reply, what, err);

		return rc ? rc
			  : ipcl_seterr(err, IPCL_EBROKER, "%s: unexpected method 0x%08x",
					what, (unsigned)r.reply.id);
	}
	}
	return ipcl_seterr(err, IPCL_EPROTO, "%s: unknown reply type", what);
}

/* A timeval for librabbitmq from an absolute deadline; NULL (block) for FOREVER. */
struct timeval *ipcl_rabbitmq_tv(int64_t deadline_ns, struct timeval *tv)
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
int ipcl_rabbitmq_conf_from_opts(const struct ipcl_opts *o, int fanout,
				 struct rabbitmq_conf *cf, char *err)
{
	const char *url = ipcl_opt(o, ipcl_rabbitmq_options, "url");
	const char *confirm = ipcl_opt(o, ipcl_rabbitmq_options, "confirm");
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
	rc = ipcl_opt_int(o, ipcl_rabbitmq_options, "connect_timeout", 1, 3600, &v, err);
	if (rc)
		return rc;
	cf->timeout_ms = (long)v * 1000;
	rc = ipcl_opt_int(o, ipcl_rabbitmq_options, "durable", 0, 1, &v, err);
	if (rc)
		return rc;
	cf->durable = (int)v;
	cf->confirm = -1;
	for (int i = 0; i < 3; i++)
		if (confirm && strcmp(confirm, ipcl_rabbitmq_confirm_names[i]) == 0)
			cf->confirm = i;
	if (cf->confirm < 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option confirm=%s: want none, window or each",
				   confirm ? confirm : "");
	rc =
	    ipcl_opt_int(o, ipcl_rabbitmq_options, "confirm_window", 1, 1000000, &v, err);
	if (rc)
		return rc;
	cf->window = cf->confirm == RABBITMQ_CONFIRM_EACH ? 1 : (long)v;
	rc = ipcl_opt_int(o, ipcl_rabbitmq_options, "prefetch", 0, 65535, &v, err);
	if (rc)
		return rc;
	cf->prefetch = (long)v;
	rc = ipcl_opt_int(o, ipcl_rabbitmq_options, "ack_batch", 1, 65535, &v, err);
	if (rc)
		return rc;
	cf->ack_batch = (long)v;
	rc = ipcl_opt_int(o, ipcl_rabbitmq_options, "wait_subscribers", 0, 1, &v, err);
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
int ipcl_rabbitmq_conf_format(const struct rabbitmq_conf *cf, char *addr, size_t cap)
{
	int n = snprintf(
	    addr, cap,
	    "name=%s fanout=%d durable=%d confirm=%d window=%ld prefetch=%ld "
	    "ack_batch=%ld timeout_ms=%ld subscribers=%d url=%s",
	    cf->name, cf->fanout, cf->durable, cf->confirm, cf->window, cf->prefetch,
	    cf->ack_batch, cf->timeout_ms, cf->subscribers, cf->url);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int ipcl_rabbitmq_conf_parse(const char *addr, struct rabbitmq_conf *cf, char *err)
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
int ipcl_rabbitmq_connect(const struct rabbitmq_conf *cf, int64_t deadline_ns,
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
	rc = ipcl_rabbitmq_reply(NULL, conn,
				 amqp_login(conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
					    AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
				 what, err);
	if (rc)
		goto fail;
	amqp_channel_open(conn, RABBITMQ_CHANNEL);
	snprintf(what, sizeof what, "channel.open on %s", shown);
	rc = ipcl_rabbitmq_reply(NULL, conn, amqp_get_rpc_reply(conn), what, err);
	if (rc)
		goto fail;
	*out = conn;
	return 0;
fail:
	amqp_destroy_connection(conn);
	return rc;
}

/* Close politely (bounded by the connect timeout), then free. */
void ipcl_rabbitmq_disconnect(amqp_connection_state_t conn, long timeout_ms, int dead)
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
const char *ipcl_rabbitmq_server_prop(amqp_connection_state_t conn, const char *key,
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

/*
 * The marker of fanout consumer i: an empty exclusive queue "<exchange>.c<i>"
 * that it declares once its own queue is bound and consumed, and that goes
 * away with its connection.
 */
int ipcl_rabbitmq_marker(const char *exchange, int i, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s.c%d", exchange, i);

	return n < 0 || (size_t)n >= cap || n > 255 ? -ENAMETOOLONG : 0;
}
