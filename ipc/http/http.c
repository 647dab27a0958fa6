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
#include <ipclab/transport.h>

#define HTTP_MAX_BODY    (16u << 20) /* bytes; larger bodies get 413, both ways */
#define HTTP_TOKEN_BYTES 16          /* random bytes, sent as 32 hex digits */
#define HTTP_TOKEN_HDR   "X-Ipclab-Token"
#define HTTP_PATH        "/echo"
#define HTTP_MAX_CONNS   64
#define HTTP_LINGER_NS   (1000LL * 1000 * 1000) /* close() waits this for uploads */

static const struct ipcl_option http_options[] = {
    {"conns", "1",
     "requests in flight, one keep-alive connection each: 1 keeps order; more "
     "lets the server see them out of order"},
    {"http2", "0",
     "1: HTTP/2 with prior knowledge (h2c); refused here: libmicrohttpd speaks "
     "HTTP/1.x only"},
    {NULL, NULL, NULL},
};

/* Everything open() needs, as written into chan->addr. */
struct http_addr {
	int fd;   /* the listening socket in the creating process */
	int port; /* its port on 127.0.0.1 */
	int conns;
	char token[2 * HTTP_TOKEN_BYTES + 1];
};

struct http_chan {
	int valid; /* fd was made by setup() in this process and is still open */
	int fd;
};

/* ---- the server: libmicrohttpd ------------------------------------------- */

/* One request, from its first byte until libmicrohttpd is done with it. */
struct http_req {
	struct http_ep *e;
	struct MHD_Connection *conn;
	struct http_req *next; /* in the queue of complete requests */
	unsigned char *body;
	size_t len, cap;
	unsigned status;            /* != 0: refuse with this status */
	int queued;                 /* complete, suspended, waiting for recv() */
	int suspended;              /* its connection is suspended */
	struct MHD_Response *reply; /* set by reply(): queue it when resumed */
	int drop;                   /* resumed without a reply: close the connection */
};

/* One connection: does it belong to this run (a request carried the token)? */
struct http_conn {
	int member;
};

struct http_ep {
	/* server */
	struct MHD_Daemon *d;
	int epfd;                     /* libmicrohttpd's epoll descriptor */
	struct http_req *head, *tail; /* complete requests recv() has not taken */
	struct http_req *call;        /* the request recv() returned last */
	int members_seen, members_open;
	int oom; /* an allocation failed inside a callback */
	char token[2 * HTTP_TOKEN_BYTES + 1];

	/* client */
	CURLM *multi;
	int curl_ok; /* curl_global_init succeeded (close() must undo it) */
	int conns;   /* slots */
	struct http_slot *slot;
	struct curl_slist *hdrs;
	char url[64];
	int cerr; /* first failed transfer: -errno / IPCL_E*; sticky */
	char cerr_text[IPCL_ERR_MAX];
	/* replies that arrived and recv() has not taken: [size_t len][bytes] ... */
	unsigned char *rq;
	size_t rq_cap, rq_head, rq_tail;
};

/* A client transfer: one easy handle, reused (its connection stays alive). */
struct http_slot {
	struct http_ep *e;
	CURL *h;
	int busy; /* added to the multi handle, not done yet */
	unsigned char *body;
	size_t len, cap;
	unsigned char *resp; /* the response body as it arrives */
	size_t rlen, rcap;
	int toobig; /* the response outgrew HTTP_MAX_BODY */
};

static int http_grow(unsigned char **buf, size_t *cap, size_t need)
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

/* Constant-time comparison of the token a request carries with ours. */
static int http_token_ok(const char *got, const char *want)
{
	size_t n = strlen(want);
	unsigned char diff = 0;

	if (!got || strlen(got) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(got[i] ^ want[i]);
	return diff == 0;
}

static enum MHD_Result http_respond(struct MHD_Connection *conn, unsigned status,
				    const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ok;

	if (!r)
		return MHD_NO;
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

/*
 * The access handler. libmicrohttpd calls it once with the headers (*rc NULL),
 * once per piece of body, and once more with *size 0 when the body is whole;
 * then, after a resume, again with *size 0. A whole request is queued for
 * recv() and its connection suspended until reply() has the answer.
 */
static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn,
				       const char *url, const char *method,
				       const char *version, const char *data,
				       size_t *size, void **rc)
{
	struct http_ep *e = cls;
	struct http_req *q = *rc;

	if (!q) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		struct http_conn *hc = ci ? ci->socket_context : NULL;
		const char *cl =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");

		q = calloc(1, sizeof *q);
		if (!q) {
			e->oom = 1;
			return MHD_NO;
		}
		q->e = e;
		q->conn = conn;
		*rc = q;
		if (!http_token_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       HTTP_TOKEN_HDR),
				   e->token))
			q->status = MHD_HTTP_FORBIDDEN;
		else if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			q->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		else if (strcmp(url, HTTP_PATH) != 0)
			q->status = MHD_HTTP_NOT_FOUND;
		else if (cl && strtoull(cl, NULL, 10) > HTTP_MAX_BODY)
			q->status = MHD_HTTP_CONTENT_TOO_LARGE;
		if (!q->status && hc && !hc->member) {
			hc->member = 1;
			e->members_seen++;
			e->members_open++;
		}
		return MHD_YES;
	}
	if (*size) { /* a piece of the body */
		if (!q->status && q->len + *size > HTTP_MAX_BODY)
			q->status = MHD_HTTP_CONTENT_TOO_LARGE;
		if (!q->status) {
			if (http_grow(&q->body, &q->cap, q->len + *size)) {
				e->oom = 1;
				return MHD_NO;
			}
			memcpy(q->body + q->len, data, *size);
			q->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (q->status)
		return http_respond(conn, q->status,
				    q->status == MHD_HTTP_FORBIDDEN
					? "not a peer of this run\n"
					: "refused\n");
	if (q->drop)
		return MHD_NO;
	if (q->reply) {
		enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, q->reply);

		MHD_destroy_response(q->reply);
		q->reply = NULL;
		return ok;
	}
	if (!q->queued) { /* whole: hand it to recv() */
		q->queued = 1;
		if (e->tail)
			e->tail->next = q;
		else
			e->head = q;
		e->tail = q;
		MHD_suspend_connection(conn);
		q->suspended = 1;
	}
	return MHD_YES;
}

/* Unlink q from the queue of complete requests, wherever it is. */
static void http_unqueue(struct http_ep *e, struct http_req *q)
{
	struct http_req **pp = &e->head, *prev = NULL;

	while (*pp && *pp != q) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = q->next;
	if (e->tail == q)
		e->tail = prev;
	q->next = NULL;
}

/* libmicrohttpd is done with a request (answered, or its connection died). */
static void http_on_completed(void *cls, struct MHD_Connection *conn, void **rc,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_ep *e = cls;
	struct http_req *q = *rc;

	if (!q)
		return;
	http_unqueue(e, q);
	if (e->call == q)
		e->call = NULL;
	if (q->reply)
		MHD_destroy_response(q->reply);
	free(q->body);
	free(q);
	*rc = NULL;
}

static void http_on_connection(void *cls, struct MHD_Connection *conn, void **sc,
			       enum MHD_ConnectionNotificationCode toe)
{
	struct http_ep *e = cls;
	struct http_conn *hc = *sc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*sc = calloc(1, sizeof(struct http_conn));
		if (!*sc)
			e->oom = 1;
		return;
	}
	if (hc && hc->member)
		e->members_open--;
	free(hc);
	*sc = NULL;
}

/*
 * Run the server until ready(e) holds: 0 when it does, IPCL_EOF when it cannot
 * any more because every client of this run has gone, -ETIMEDOUT at the
 * deadline. One round is a poll() on libmicrohttpd's epoll descriptor, bounded
 * by the deadline and by libmicrohttpd's own timeout, then MHD_run().
 */
static int http_serve(struct http_ep *e, int (*ready)(const struct http_ep *),
		      int64_t deadline_ns)
{
	for (;;) {
		MHD_UNSIGNED_LONG_LONG mt;
		struct pollfd p = {.fd = e->epfd, .events = POLLIN};
		int64_t left;
		int ms = -1, n;

		if (e->oom)
			return -ENOMEM;
		if (ready(e))
			return 0;
		if (e->members_seen && !e->members_open)
			return IPCL_EOF;
		if (deadline_ns != IPCL_FOREVER) {
			left = deadline_ns - ipcl_now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			ms = (int)((left + 999999) / 1000000);
		}
		if (MHD_get_timeout(e->d, &mt) == MHD_YES &&
		    (ms < 0 || mt < (unsigned)ms))
			ms = (int)mt;
		n = poll(&p, 1, ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (MHD_run(e->d) != MHD_YES)
			return IPCL_EPROTO;
	}
}

static int http_has_request(const struct http_ep *e)
{
	return e->head != NULL;
}

/* Resume every suspended connection without an answer, so they can close. */
static void http_drop_all(struct http_ep *e)
{
	struct http_req *q;

	if (e->call && e->call->suspended) {
		e->call->drop = 1;
		e->call->suspended = 0;
		MHD_resume_connection(e->call->conn);
	}
	e->call = NULL;
	while ((q = e->head) != NULL) {
		e->head = q->next;
		q->next = NULL;
		q->drop = 1;
		q->suspended = 0;
		MHD_resume_connection(q->conn);
	}
	e->tail = NULL;
}

/* ---- the client: libcurl multi ------------------------------------------ */

static size_t http_on_body(char *p, size_t one, size_t n, void *arg)
{
	struct http_slot *s = arg;

	if (s->rlen + n > HTTP_MAX_BODY) {
		s->toobig = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (http_grow(&s->resp, &s->rcap, s->rlen + n))
		return 0;
	memcpy(s->resp + s->rlen, p, n);
	s->rlen += n;
	return n;
}

/* What a failed transfer means to the caller, as -errno / IPCL_E*. */
static int http_curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
		return -EPIPE;
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return IPCL_EPROTO;
	}
}

/* Note the first failed transfer; it fails every later call of the client. */
static void http_client_fail(struct http_ep *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void http_client_fail(struct http_ep *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (e->cerr)
		return;
	e->cerr = rc;
	va_start(ap, fmt);
	vsnprintf(e->cerr_text, sizeof e->cerr_text, fmt, ap);
	va_end(ap);
}

/* A transfer ended: queue its response body as a reply, or note the failure. */
static void http_done(struct http_ep *e, struct http_slot *s, CURLcode res)
{
	long status = 0;

	curl_multi_remove_handle(e->multi, s->h);
	s->busy = 0;
	if (res != CURLE_OK) {
		if (s->toobig)
			http_client_fail(e, IPCL_ETOOBIG, "response over %u bytes",
					 HTTP_MAX_BODY);
		else
			http_client_fail(e, http_curl_errno(res), "POST: %s (curl %d)",
					 curl_easy_strerror(res), (int)res);
		return;
	}
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		http_client_fail(e,
				 status == 403   ? -EACCES
				 : status == 413 ? IPCL_ETOOBIG
						 : IPCL_EBROKER,
				 "POST: the server answered HTTP %ld", status);
		return;
	}
	if (http_grow(&e->rq, &e->rq_cap, e->rq_tail + sizeof(size_t) + s->rlen)) {
		http_client_fail(e, -ENOMEM, "out of memory");
		return;
	}
	memcpy(e->rq + e->rq_tail, &s->rlen, sizeof(size_t));
	memcpy(e->rq + e->rq_tail + sizeof(size_t), s->resp, s->rlen);
	e->rq_tail += sizeof(size_t) + s->rlen;
}

/* Let libcurl do what it can without waiting, and collect finished transfers. */
static int http_perform(struct http_ep *e)
{
	CURLMsg *m;
	int running, left;
	CURLMcode mc = curl_multi_perform(e->multi, &running);

	if (mc != CURLM_OK) {
		http_client_fail(e, IPCL_EPROTO, "curl_multi_perform: %s",
				 curl_multi_strerror(mc));
		return e->cerr;
	}
	while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
		struct http_slot *s = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		if (s)
			http_done(e, s, m->data.result);
	}
	return 0;
}

/*
 * Drive the client until ready(e) holds: 0, the first transfer error, or
 * -ETIMEDOUT at the deadline. Each round waits in curl_multi_poll() (at most
 * until the deadline, in ms) and then performs.
 */
static int http_drive(struct http_ep *e, int (*ready)(const struct http_ep *),
		      int64_t deadline_ns)
{
	for (;;) {
		int64_t left;
		int ms = 1000, rc;

		rc = http_perform(e);
		if (rc)
			return rc;
		if (ready(e))
			return 0;
		if (e->cerr)
			return e->cerr;
		if (deadline_ns != IPCL_FOREVER) {
			left = deadline_ns - ipcl_now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
			if (left < 1000LL * 1000000)
				ms = (int)((left + 999999) / 1000000);
		}
		if (curl_multi_poll(e->multi, NULL, 0, ms, NULL) != CURLM_OK)
			return IPCL_EPROTO;
	}
}

static int http_free_slot(const struct http_ep *e)
{
	for (int i = 0; i < e->conns; i++)
		if (!e->slot[i].busy)
			return 1;
	return 0;
}

static int http_has_reply(const struct http_ep *e)
{
	return e->rq_head < e->rq_tail;
}

/* Every request's body has left (uploaded), or its transfer has ended. */
static int http_uploaded(const struct http_ep *e)
{
	for (int i = 0; i < e->conns; i++) {
		curl_off_t up = 0;

		if (!e->slot[i].busy)
			continue;
		if (curl_easy_getinfo(e->slot[i].h, CURLINFO_SIZE_UPLOAD_T, &up) !=
			CURLE_OK ||
		    (size_t)up < e->slot[i].len)
			return 0;
	}
	return 1;
}

/* ---- the ipclab transport ----------------------------------------------- */

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
static int http_fd_is(int fd, int port)
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
	unsigned char raw[HTTP_TOKEN_BYTES];
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
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return ipcl_seterr(c->err, -errno, "getrandom: %s", strerror(errno));
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
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

static int http_open_server(struct ipcl_ep *ep, const struct http_addr *a, int made_here)
{
	struct http_ep *e = ep->state;
	const union MHD_DaemonInfo *di;
	int fd;

	if (!http_fd_is(a->fd, a->port))
		return ipcl_seterr(ep->err, -EBADF,
				   "descriptor %d is not the channel's listener", a->fd);
	/* libmicrohttpd closes the socket it was given: give it a copy in thread
	 * mode, so that teardown() still closes the original. */
	fd = made_here ? fcntl(a->fd, F_DUPFD_CLOEXEC, 0) : a->fd;
	if (fd < 0 || (!made_here && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0))
		return ipcl_seterr(ep->err, -errno, "fcntl: %s", strerror(errno));
	e->d = MHD_start_daemon(
	    MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL, NULL,
	    http_on_request, e, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
	    http_on_completed, e, MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, e,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(HTTP_MAX_CONNS + 8), MHD_OPTION_END);
	if (!e->d) {
		close(fd);
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL,
				   "MHD_start_daemon failed on port %d", a->port);
	}
	di = MHD_get_daemon_info(e->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL,
				   "libmicrohttpd has no epoll descriptor");
	e->epfd = di->epoll_fd;
	return 0;
}

static int http_open_client(struct ipcl_ep *ep, const struct http_addr *a, int made_here)
{
	struct http_ep *e = ep->state;
	char hdr[64 + 2 * HTTP_TOKEN_BYTES];
	struct curl_slist *l;

	if (!made_here && http_fd_is(a->fd, a->port))
		close(a->fd); /* an inherited copy of the listener is not the client's */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ipcl_seterr(ep->err, IPCL_EUNAVAIL, "curl_global_init failed");
	e->curl_ok = 1;
	e->multi = curl_multi_init();
	e->slot = calloc((size_t)a->conns, sizeof *e->slot);
	if (!e->multi || !e->slot)
		return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
	e->conns = a->conns;
	snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d" HTTP_PATH, a->port);
	snprintf(hdr, sizeof hdr, HTTP_TOKEN_HDR ": %s", a->token);
	/* "Expect:" turns off curl's 100-continue wait for bodies over 1 KiB. */
	const char *hv[] = {hdr, "Content-Type: application/octet-stream", "Expect:"};
	for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
		l = curl_slist_append(e->hdrs, hv[i]);
		if (!l)
			return ipcl_seterr(ep->err, -ENOMEM, "out of memory");
		e->hdrs = l;
	}
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)a->conns);
	curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)a->conns);
	curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
	for (int i = 0; i < a->conns; i++) {
		struct http_slot *s = &e->slot[i];

		s->e = e;
		s->h = curl_easy_init();
		if (!s->h)
			return ipcl_seterr(ep->err, -ENOMEM, "curl_easy_init failed");
		if (curl_easy_setopt(s->h, CURLOPT_URL, e->url) ||
		    curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION,
				     (long)CURL_HTTP_VERSION_1_1) ||
		    curl_easy_setopt(s->h, CURLOPT_POST, 1L) ||
		    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, e->hdrs) ||
		    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, http_on_body) ||
		    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s) ||
		    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s) ||
		    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L) ||
		    curl_easy_setopt(s->h, CURLOPT_TCP_NODELAY, 1L) ||
		    curl_easy_setopt(s->h, CURLOPT_PROXY, "") ||
		    curl_easy_setopt(s->h, CURLOPT_NOPROXY, "*"))
			return ipcl_seterr(ep->err, IPCL_EUNAVAIL,
					   "curl_easy_setopt refused an option");
	}
	return 0;
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
	return ep->role == IPCL_CONSUMER ? http_open_server(ep, &a, made_here)
					 : http_open_client(ep, &a, made_here);
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
	rc = http_drive(e, http_free_slot, deadline_ns);
	if (rc)
		return http_errmsg(ep, rc, "send");
	for (int i = 0; i < e->conns && !s; i++)
		if (!e->slot[i].busy)
			s = &e->slot[i];
	if (http_grow(&s->body, &s->cap, len ? len : 1))
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
	return http_errmsg(ep, http_perform(e), "send");
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
		rc = http_drive(e, http_has_reply, deadline_ns);
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
		rc = http_serve(e, http_has_request, deadline_ns);
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
	return http_errmsg(ep, http_drive(e, http_uploaded, deadline_ns), "flush");
}

static void http_close(struct ipcl_ep *ep)
{
	struct http_ep *e = ep->state;

	if (e->d) {
		/* Suspended connections must be resumed before the daemon stops. */
		http_drop_all(e);
		MHD_run(e->d);
		MHD_stop_daemon(e->d);
		e->d = NULL;
	}
	if (e->multi && !e->cerr)
		http_drive(e, http_uploaded, ipcl_now_ns() + HTTP_LINGER_NS);
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
