/*
 * server.c - the consumer side of the http transport (http.c): an HTTP/1.1
 * server with libmicrohttpd (0.9), started on the listening socket setup()
 * made (MHD_OPTION_LISTEN_SOCKET) and driven from the endpoint's own thread
 * through libmicrohttpd's epoll descriptor (MHD_USE_EPOLL, MHD_run). A request
 * without the run's token in X-Ipclab-Token gets 403; a complete one is
 * queued and its connection suspended (MHD_suspend_connection) until reply()
 * queues the response and resumes it. Bodies over HTTP_MAX_BODY get 413.
 *
 * Left out: HTTP/2, TLS, chunked uploads.
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
			if (ipcl_http_grow(&q->body, &q->cap, q->len + *size)) {
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
int ipcl_http_serve(struct http_ep *e, int (*ready)(const struct http_ep *),
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

int ipcl_http_has_request(const struct http_ep *e)
{
	return e->head != NULL;
}

/* Resume every suspended connection without an answer, so they can close. */
void ipcl_http_drop_all(struct http_ep *e)
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

int ipcl_http_open_server(struct ipcl_ep *ep, const struct http_addr *a, int made_here)
{
	struct http_ep *e = ep->state;
	const union MHD_DaemonInfo *di;
	int fd;

	if (!ipcl_http_fd_is(a->fd, a->port))
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
