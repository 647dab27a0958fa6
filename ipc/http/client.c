/*
 * client.c - the producer side of the http transport (http.c): an HTTP/1.1
 * client with libcurl's multi interface. Each message is a POST to /echo on
 * one of `conns` reused easy handles (keep-alive connections, one request in
 * flight each: libcurl does not pipeline POSTs), with the run's token in
 * X-Ipclab-Token; the response body is the reply, queued as [size_t len]
 * [bytes] until recv() takes it. The first failed transfer fails every later
 * call.
 *
 * Left out: HTTP/2, TLS, retries.
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

#include "http.h"

static size_t http_on_body(char *p, size_t one, size_t n, void *arg)
{
	struct http_slot *s = arg;

	if (s->rlen + n > HTTP_MAX_BODY) {
		s->toobig = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (ipcl_http_grow(&s->resp, &s->rcap, s->rlen + n))
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
	if (ipcl_http_grow(&e->rq, &e->rq_cap, e->rq_tail + sizeof(size_t) + s->rlen)) {
		http_client_fail(e, -ENOMEM, "out of memory");
		return;
	}
	memcpy(e->rq + e->rq_tail, &s->rlen, sizeof(size_t));
	memcpy(e->rq + e->rq_tail + sizeof(size_t), s->resp, s->rlen);
	e->rq_tail += sizeof(size_t) + s->rlen;
}

/* Let libcurl do what it can without waiting, and collect finished transfers. */
int ipcl_http_perform(struct http_ep *e)
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
int ipcl_http_drive(struct http_ep *e, int (*ready)(const struct http_ep *),
		    int64_t deadline_ns)
{
	for (;;) {
		int64_t left;
		int ms = 1000, rc;

		rc = ipcl_http_perform(e);
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

int ipcl_http_free_slot(const struct http_ep *e)
{
	for (int i = 0; i < e->conns; i++)
		if (!e->slot[i].busy)
			return 1;
	return 0;
}

int ipcl_http_has_reply(const struct http_ep *e)
{
	return e->rq_head < e->rq_tail;
}

/* Every request's body has left (uploaded), or its transfer has ended. */
int ipcl_http_uploaded(const struct http_ep *e)
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

int ipcl_http_open_client(struct ipcl_ep *ep, const struct http_addr *a, int made_here)
{
	struct http_ep *e = ep->state;
	char hdr[64 + 2 * HTTP_TOKEN_BYTES];
	struct curl_slist *l;

	if (!made_here && ipcl_http_fd_is(a->fd, a->port))
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
