/*
 * http.c - HTTP/1.1 request/response on 127.0.0.1: the consumer is an HTTP
 * server (libmicrohttpd, driven from the endpoint's own thread through its
 * epoll descriptor), the producer an HTTP client (libcurl's multi interface)
 * that POSTs each message to /echo over a keep-alive connection; the response
 * body is the reply (IPCL_CAP_REQREP, see transport.h).
 *
 * setup() binds a listening socket to a free loopback port and draws a random
 * per-run token; the server adopts the socket by inheritance and answers only
 * requests that carry the token in the X-Ipclab-Token header (403 otherwise).
 * The server's recv() suspends the connection of a complete request
 * (MHD_suspend_connection) and returns its body; reply() queues the response
 * and resumes the connection. The client keeps up to `conns` requests in
 * flight, one per connection (libcurl does not pipeline POSTs).
 *
 * Files: http.c (this: options, setup, open, send, recv, reply, close,
 * teardown, the const table), server.c (libmicrohttpd), client.c (libcurl),
 * http.h (what they share).
 *
 * Left out: HTTP/2 (libmicrohttpd 0.9 speaks HTTP/1.x only; option http2=1 is
 * refused with that reason), TLS, several clients per channel, chunked uploads.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

#include "http.h"

static const struct ipcl_option http_options[] = {
    {"conns", "1",
     "requests in flight, one keep-alive connection each: 1 keeps order; more "
     "lets the server see them out of order"},
    {"http2", "0",
     "1: HTTP/2 with prior knowledge (h2c); refused here: libmicrohttpd speaks "
     "HTTP/1.x only"},
    {NULL, NULL, NULL},
};

int ipcl_http_grow(unsigned char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	unsigned char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static int http_addr_parse(const char *s, struct http_addr *a)
{
	int n = -1;

	memset(a, 0, sizeof *a);
	if (sscanf(s, "fd=%d port=%d conns=%d token=%32[0-9a-f]%n", &a->fd, &a->port,
		   &a->conns, a->token, &n) != 4 ||
	    s[n] != '\0' || strlen(a->token) != 2 * HTTP_TOKEN_BYTES)
		return -EINVAL;
	if (a->fd < 0 || a->port < 1 || a->port > 65535 || a->conns < 1 ||
	    a->conns > HTTP_MAX_CONNS)
		return -EINVAL;
	return 0;
}

static int http_options_get(const struct ipcl_opts *o, long long *conns, char *err)
{
	long long h2;
	int rc = ipcl_opt_int(o, http_options, "conns", 1, HTTP_MAX_CONNS, conns, err);

	if (rc == 0)
		rc = ipcl_opt_int(o, http_options, "http2", 0, 1, &h2, err);
	if (rc == 0 && h2)
		rc = ipcl_seterr(
		    err, IPCL_EUNAVAIL,
		    "http2=1: libmicrohttpd %s speaks HTTP/1.x only, so there "
		    "is no h2c server here (libcurl could be the client)",
		    MHD_get_version());
	return rc;
}

static int http_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	long long conns;
	int rc = http_options_get(o, &conns, err);

	if (rc)
		return rc;
	p->max_msg = HTTP_MAX_BODY;
	ipcl_fact(p, "libcurl_version", "%s", v->version);
	ipcl_fact(p, "libmicrohttpd_version", "%s", MHD_get_version());
	ipcl_fact(p, "protocol", "HTTP/1.1 keep-alive, POST " HTTP_PATH);
	ipcl_fact(p, "conns", "%lld", conns);
	ipcl_fact(p, "max_body", "%u", HTTP_MAX_BODY);
	ipcl_fact(p, "http2",
		  "unavailable: libmicrohttpd speaks HTTP/1.x only (libcurl %s "
		  "HTTP/2)",
		  (v->features & CURL_VERSION_HTTP2) ? "has" : "lacks");
	ipcl_fact(p, "peer_check", "per-run random token in " HTTP_TOKEN_HDR);
	return 0;
}

/* Is fd the channel's listening socket? (A role checks before adopting it.) */
int ipcl_http_fd_is(int fd, int port)
{
	struct sockaddr_in in;
	socklen_t l = sizeof in;
	int v = 0;
	socklen_t vl = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) < 0 || !v ||
	    getsockname(fd, (struct sockaddr *)&in, &l) < 0)
		return 0;
	return in.sin_family == AF_INET && ntohs(in.sin_port) == port;
}

static int http_setup(struct ipcl_chan *c)
{
	struct http_chan *hc = c->state;
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof in;
	struct ipcl_token tok;
	char token[2 * HTTP_TOKEN_BYTES + 1];
	long long conns;
	int rc;

	hc->fd = -1;
	rc = http_options_get(c->opts, &conns, c->err);
	if (rc)
		return rc;
	if (c->opts->msg_size > HTTP_MAX_BODY)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "%zu-byte messages exceed the %u-byte body limit",
				   c->opts->msg_size, HTTP_MAX_BODY);
	if (c->opts->producers > 1 || c->opts->consumers > 1)
		return ipcl_seterr(c->err, IPCL_EINVAL,
				   "one client and one server per channel");
	rc = ipcl_token_new(&tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&tok, token);
	hc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (hc->fd < 0)
		return ipcl_seterr(c->err, -errno, "socket: %s", strerror(errno));
	hc->valid = 1;
	if (bind(hc->fd, (struct sockaddr *)&in, l) < 0 || listen(hc->fd, 16) < 0 ||
	    getsockname(hc->fd, (struct sockaddr *)&in, &l) < 0) {
		rc = ipcl_seterr(c->err, -errno, "bind/listen 127.0.0.1: %s",
				 strerror(errno));
		goto fail;
	}
	rc = ipcl_fd_inheritable(hc->fd);
	if (rc) {
		ipcl_seterr(c->err, rc, "fcntl: %s", strerror(-rc));
		goto fail;
	}
	snprintf(c->addr, sizeof c->addr, "fd=%d port=%d conns=%lld token=%s", hc->fd,
		 ntohs(in.sin_port), conns, token);
	return 0;
fail:
	close(hc->fd);
	hc->valid = 0;
	hc->fd = -1;
	return rc;
}

/* The creator keeps no copy of the listener once the roles have theirs. */
static void http_detach(struct ipcl_chan *c)
{
	struct http_chan *hc = c->state;

	if (hc->valid)
		close(hc->fd);
	hc->valid = 0;
	hc->fd = -1;
}

/* Nothing outlives the processes: the listener is the only shared object. */
static void http_teardown(struct ipcl_chan *c)
{
	http_detach(c);
}

static int http_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	const struct http_chan *ch = ep->chan->state;
	struct http_ep *e = ep->state;
	struct http_addr a;
	int made_here;

	e->epfd = -1;
	if (http_addr_parse(ep->chan->addr, &a))
		return ipcl_seterr(ep->err, -EINVAL, "malformed address \"%.200s\"",
				   ep->chan->addr);
	made_here = ch && ch->valid && ch->fd == a.fd;
	memcpy(e->token, a.token, sizeof e->token);
	return ep->role == IPCL_CONSUMER ? ipcl_http_open_server(ep, &a, made_here)
					 : ipcl_http_open_client(ep, &a, made_here);
}

static int http_errmsg(struct ipcl_ep *ep, int rc, const char *what)
{
	struct http_ep *e = ep->state;

	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "%s: %s", what,
			    e->cerr == rc && e->cerr_text[0] ? e->cerr_text
							     : ipcl_strerror(rc));
	return rc;
}

/* Client: POST msg (a copy of it: the call returns before the body has gone). */
static int http_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct http_ep *e = ep->state;
	struct http_slot *s = NULL;
	int rc;

	if (ep->role != IPCL_PRODUCER)
		return ipcl_seterr(ep->err, -EINVAL,
				   "send() is the client's; use reply()");
	if (len > HTTP_MAX_BODY)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "%zu-byte message over the %u-byte body limit", len,
				   HTTP_MAX_BODY);
	rc = ipcl_http_drive(e, ipcl_http_free_slot, deadline_ns);
	if (rc)
		return http_errmsg(ep, rc, "send");
	for (int i = 0; i < e->conns && !s; i++)
		if (!e->slot[i].busy)
			s = &e->slot[i];
	if (ipcl_http_grow(&s->body, &s->cap, len ? len : 1))
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	if (len)
		memcpy(s->body, msg, len);
	s->len = len;
	s->rlen = 0;
	s->toobig = 0;
	if (curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) ||
	    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body) ||
	    curl_multi_add_handle(e->multi, s->h) != CURLM_OK)
		return ipcl_seterr(ep->err, IPCL_EPROTO, "curl refused the request");
	s->busy = 1;
	return http_errmsg(ep, ipcl_http_perform(e), "send");
}

/* Client: the next response body. Server: the body of the next request. */
static int http_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct http_ep *e = ep->state;
	const unsigned char *data;
	size_t n;
	int rc;

	if (ep->role == IPCL_PRODUCER) {
		rc = ipcl_http_drive(e, ipcl_http_has_reply, deadline_ns);
		if (rc)
			return http_errmsg(ep, rc, "response");
		memcpy(&n, e->rq + e->rq_head, sizeof n);
		data = e->rq + e->rq_head + sizeof n;
		e->rq_head += sizeof n + n;
		if (e->rq_head == e->rq_tail)
			e->rq_head = e->rq_tail = 0;
	} else {
		struct http_req *q;

		if (e->call) /* recv() again without reply(): the old call stays open */
			return ipcl_seterr(ep->err, -EINVAL,
					   "recv: the last request has no reply yet");
		rc = ipcl_http_serve(e, ipcl_http_has_request, deadline_ns);
		if (rc)
			return http_errmsg(ep, rc, "request");
		q = e->head;
		e->head = q->next;
		if (!e->head)
			e->tail = NULL;
		q->next = NULL;
		e->call = q;
		data = q->body;
		n = q->len;
	}
	if (n > cap)
		return ipcl_seterr(ep->err, IPCL_ETRUNC,
				   "%zu-byte message, %zu-byte buffer", n, cap);
	if (n)
		memcpy(buf, data, n);
	*len = n;
	return 0;
}

/* Server: answer the request recv() returned last with msg as the body. */
static int http_reply(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	struct http_ep *e = ep->state;
	struct http_req *q = e->call;

	if (ep->role != IPCL_CONSUMER)
		return ipcl_seterr(ep->err, -EINVAL, "reply() is the server's");
	if (!q)
		return ipcl_seterr(ep->err, -EINVAL, "no request to answer");
	q->reply =
	    MHD_create_response_from_buffer(len, (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!q->reply)
		return ipcl_seterr(ep->err, -ENOMEM, "MHD_create_response failed");
	e->call = NULL;
	q->suspended = 0;
	MHD_resume_connection(q->conn);
	/* Hand the response to the socket now rather than at the next recv(). */
	if (MHD_run(e->d) != MHD_YES)
		return ipcl_seterr(ep->err, IPCL_EPROTO, "MHD_run failed");
	return 0;
}

/* Client: wait until every request body has left (the end marker's included). */
static int http_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct http_ep *e = ep->state;

	if (!e->multi)
		return 0;
	return http_errmsg(ep, ipcl_http_drive(e, ipcl_http_uploaded, deadline_ns),
			   "flush");
}

static void http_close(struct ipcl_ep *ep)
{
	struct http_ep *e = ep->state;

	if (e->d) {
		/* Suspended connections must be resumed before the daemon stops. */
		ipcl_http_drop_all(e);
		MHD_run(e->d);
		MHD_stop_daemon(e->d);
		e->d = NULL;
	}
	if (e->multi && !e->cerr)
		ipcl_http_drive(e, ipcl_http_uploaded, ipcl_now_ns() + HTTP_LINGER_NS);
	for (int i = 0; e->slot && i < e->conns; i++) {
		struct http_slot *s = &e->slot[i];

		if (s->busy)
			curl_multi_remove_handle(e->multi, s->h);
		if (s->h)
			curl_easy_cleanup(s->h);
		free(s->body);
		free(s->resp);
	}
	free(e->slot);
	e->slot = NULL;
	if (e->multi)
		curl_multi_cleanup(e->multi);
	e->multi = NULL;
	curl_slist_free_all(e->hdrs);
	e->hdrs = NULL;
	if (e->curl_ok)
		curl_global_cleanup();
	e->curl_ok = 0;
	free(e->rq);
	e->rq = NULL;
}

const struct ipcl_transport ipcl_transport_http = {
    .name = "http",
    .summary = "HTTP/1.1 keep-alive POST per message, libcurl client and "
	       "libmicrohttpd server on 127.0.0.1 (request/response)",
    .caps =
	IPCL_CAP_REQREP | IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF | IPCL_CAP_CROSS_HOST,
    .chan_state_size = sizeof(struct http_chan),
    .ep_state_size = sizeof(struct http_ep),
    .options = http_options,
    .probe = http_probe,
    .setup = http_setup,
    .detach = http_detach,
    .teardown = http_teardown,
    .open = http_open,
    .send = http_send,
    .recv = http_recv,
    .reply = http_reply,
    .flush = http_flush,
    .close = http_close,
};
