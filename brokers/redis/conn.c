/*
 * conn.c - a Redis connection by URL (conn.h), shared by every transport in
 * brokers/redis/: the URL, connect, AUTH/SELECT/PING, reading replies by
 * deadline, the RESP writer for messages (writev from the caller's buffer),
 * CONFIG GET, the server's version, and deleting a run's keys. hiredis's
 * blocking API (0.14: redisConnectWithTimeout, redisAppendCommand,
 * redisBufferRead) plus poll() and writev().
 *
 * Every connection sets reader->maxbuf = 0: hiredis frees its reader buffer
 * whenever more than 16 KiB are spare, which with 64 KiB replies trims and
 * regrows the heap per message (README.md, "Page faults").
 *
 * Left out: TLS (rediss://), percent-decoding in URLs, RESP3, reconnecting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

#include "conn.h"

struct conn_url {
	int is_unix;
	char host[128];
	int port;
	char path[108];
	char user[64];
	char pass[128];
	int db;
};

/*
 * Parse redis://[[user]:pass@]host[:port][/db] and
 * redis+unix://[[user]:pass@]/path[?db=N] (also unix://).
 */
static int conn_parse_url(const char *url, struct conn_url *u, const char *shown,
			  char *err)
{
	const char *p, *auth_end, *at = NULL, *colon;
	char *end;

	memset(u, 0, sizeof *u);
	u->port = 6379;
	if (strncmp(url, "redis://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "redis+unix://", 13) == 0)
		u->is_unix = 1, p = url + 13;
	else if (strncmp(url, "unix://", 7) == 0)
		u->is_unix = 1, p = url + 7;
	else if (strncmp(url, "rediss://", 9) == 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "redis %s: TLS is not supported by this build", shown);
	else
		return ipcl_seterr(err, IPCL_EINVAL,
				   "redis URL '%s': want redis://host:port or "
				   "redis+unix:///path/redis.sock",
				   shown);
	auth_end = p + strcspn(p, "/?");
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (!colon) {
			snprintf(u->user, sizeof u->user, "%.*s", (int)(at - p), p);
		} else {
			snprintf(u->user, sizeof u->user, "%.*s", (int)(colon - p), p);
			snprintf(u->pass, sizeof u->pass, "%.*s", (int)(at - colon - 1),
				 colon + 1);
		}
		p = at + 1;
	}
	if (u->is_unix) {
		size_t n = strcspn(p, "?");
		const char *q;

		if (p != auth_end || *p != '/' || n >= sizeof u->path)
			return ipcl_seterr(err, IPCL_EINVAL,
					   "redis URL '%s': want an absolute socket path "
					   "shorter than %zu bytes",
					   shown, sizeof u->path);
		snprintf(u->path, sizeof u->path, "%.*s", (int)n, p);
		q = strstr(p + n, "db=");
		u->db = q ? atoi(q + 3) : 0;
		return 0;
	}
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(auth_end - p));

		if (!rb)
			return ipcl_seterr(err, IPCL_EINVAL, "redis URL '%s': bad host",
					   shown);
		snprintf(u->host, sizeof u->host, "%.*s", (int)(rb - p - 1), p + 1);
		p = rb + 1;
	} else {
		size_t n = strcspn(p, ":/?");

		snprintf(u->host, sizeof u->host, "%.*s", (int)n, p);
		p += n;
	}
	if (!u->host[0])
		return ipcl_seterr(err, IPCL_EINVAL, "redis URL '%s': no host", shown);
	if (*p == ':') {
		long port = strtol(p + 1, &end, 10);

		if (end == p + 1 || port <= 0 || port > 65535)
			return ipcl_seterr(err, IPCL_EINVAL, "redis URL '%s': bad port",
					   shown);
		u->port = (int)port;
		p = end;
	}
	if (*p == '/' && p[1] && p[1] != '?')
		u->db = atoi(p + 1);
	return 0;
}

/* The error code for a failed hiredis call, from the context's error kind. */
static int conn_code(const redisContext *c, int saved_errno)
{
	switch (c ? c->err : REDIS_ERR_OOM) {
	case REDIS_ERR_IO:
		if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
		    saved_errno == EINPROGRESS)
			return -ETIMEDOUT;
		if (strstr(c->errstr, "refused"))
			return -ECONNREFUSED;
		if (strstr(c->errstr, "timed out"))
			return -ETIMEDOUT;
		return saved_errno > 0 ? -saved_errno : -EIO;
	case REDIS_ERR_EOF:
		return -ECONNRESET;
	case REDIS_ERR_PROTOCOL:
		return IPCL_EPROTO;
	case REDIS_ERR_OOM:
		return -ENOMEM;
	default:
		return -EHOSTUNREACH; /* REDIS_ERR_OTHER: name resolution and the like */
	}
}

int ipcl_redis_fail(struct ipcl_redis *k, const char *what)
{
	int e = errno;

	return ipcl_seterr(k->err, conn_code(k->ctx, e), "redis %s: %s: %s", k->shown,
			   what, k->ctx ? k->ctx->errstr : "out of memory");
}

int ipcl_redis_write(struct ipcl_redis *k)
{
	int done = 0;

	do {
		if (redisBufferWrite(k->ctx, &done) != REDIS_OK)
			return ipcl_redis_fail(k, "write");
	} while (!done);
	return 0;
}

int ipcl_redis_write_msg(struct ipcl_redis *k, const char *const *args, int nargs,
			 const void *msg, size_t len)
{
	char head[320];
	struct iovec iov[3];
	size_t n;
	int m, rc;

	rc = ipcl_redis_write(k); /* hiredis's own output buffer: empty it first */
	if (rc)
		return rc;
	m = snprintf(head, sizeof head, "*%d\r\n", nargs + 1);
	n = m > 0 ? (size_t)m : sizeof head;
	for (int i = 0; i < nargs && n < sizeof head; i++) {
		m = snprintf(head + n, sizeof head - n, "$%zu\r\n%s\r\n", strlen(args[i]),
			     args[i]);
		n += m > 0 ? (size_t)m : sizeof head;
	}
	if (n < sizeof head) {
		m = snprintf(head + n, sizeof head - n, "$%zu\r\n", len);
		n += m > 0 ? (size_t)m : sizeof head;
	}
	if (n >= sizeof head)
		return ipcl_seterr(k->err, IPCL_EINVAL, "redis: key too long");
	iov[0] = (struct iovec){head, n};
	iov[1] = (struct iovec){(void *)msg, len};
	iov[2] = (struct iovec){"\r\n", 2};
	rc = ipcl_fd_writev_all(k->ctx->fd, iov, 3, IPCL_FOREVER);
	if (rc)
		return ipcl_seterr(k->err, rc, "redis %s: write: %s", k->shown,
				   strerror(-rc));
	return 0;
}

int ipcl_redis_read(struct ipcl_redis *k, redisReply **out, int64_t deadline_ns)
{
	void *r = NULL;
	int rc;

	if (redisGetReplyFromReader(k->ctx, &r) != REDIS_OK)
		return ipcl_redis_fail(k, "read");
	if (r) {
		*out = r;
		return 0;
	}
	rc = ipcl_redis_write(k);
	if (rc)
		return rc;
	for (;;) {
		if (deadline_ns != IPCL_FOREVER) {
			rc = ipcl_fd_wait(k->ctx->fd, POLLIN, deadline_ns);
			if (rc == -ETIMEDOUT)
				return rc;
			if (rc)
				return ipcl_seterr(k->err, rc, "redis %s: poll: %s",
						   k->shown, strerror(-rc));
		}
		if (redisBufferRead(k->ctx) != REDIS_OK ||
		    redisGetReplyFromReader(k->ctx, &r) != REDIS_OK)
			return ipcl_redis_fail(k, "read");
		if (r) {
			*out = r;
			return 0;
		}
	}
}

int ipcl_redis_reply_error(struct ipcl_redis *k, redisReply *r, const char *what)
{
	int rc = ipcl_seterr(k->err, IPCL_EBROKER, "redis %s: %s: %.*s", k->shown, what,
			     (int)r->len, r->str);

	freeReplyObject(r);
	return rc;
}

int ipcl_redis_cmd(struct ipcl_redis *k, int64_t deadline_ns, redisReply **out,
		   const char *what, const char *fmt, ...)
{
	redisReply *r = NULL;
	va_list ap;
	int rc;

	if (out)
		*out = NULL;
	va_start(ap, fmt);
	rc = redisvAppendCommand(k->ctx, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK)
		return ipcl_redis_fail(k, what);
	rc = ipcl_redis_read(k, &r, deadline_ns);
	if (rc == -ETIMEDOUT)
		return ipcl_seterr(k->err, rc, "redis %s: %s: no reply in time", k->shown,
				   what);
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_ERROR)
		return ipcl_redis_reply_error(k, r, what);
	if (out)
		*out = r;
	else
		freeReplyObject(r);
	return 0;
}

void ipcl_redis_close(struct ipcl_redis *k)
{
	if (k->ctx)
		redisFree(k->ctx);
	k->ctx = NULL;
}

int ipcl_redis_open(struct ipcl_redis *k, const char *url, long long ct_ms,
		    int64_t deadline_ns, char *err)
{
	int64_t now = ipcl_now_ns(), end = now + ct_ms * 1000000LL, left;
	struct conn_url u;
	struct timeval tv;
	int rc;

	k->err = err;
	k->ctx = NULL;
	if (!url || !*url)
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "no redis server: give -O url=redis://host:port or set "
		    "IPCLAB_REDIS_URL");
	ipcl_url_redact(url, k->shown, sizeof k->shown);
	rc = conn_parse_url(url, &u, k->shown, err);
	if (rc)
		return rc;
	k->db = u.db;
	if (deadline_ns < end)
		end = deadline_ns;
	left = end - now;
	if (left <= 0)
		return ipcl_seterr(err, -ETIMEDOUT, "redis %s: no time left to connect",
				   k->shown);
	tv.tv_sec = (time_t)(left / 1000000000);
	tv.tv_usec = (suseconds_t)(left % 1000000000 / 1000);
	k->ctx = u.is_unix ? redisConnectUnixWithTimeout(u.path, tv)
			   : redisConnectWithTimeout(u.host, u.port, tv);
	if (!k->ctx || k->ctx->err)
		return ipcl_redis_fail(k, "connect");
	if (redisSetTimeout(k->ctx, (struct timeval){0, 0}) != REDIS_OK)
		return ipcl_redis_fail(k, "setsockopt");
	/* Keep the reader's buffer however much of it is spare. */
	k->ctx->reader->maxbuf = 0;
	if (u.pass[0]) {
		rc = u.user[0] ? ipcl_redis_cmd(k, end, NULL, "AUTH", "AUTH %s %s",
						u.user, u.pass)
			       : ipcl_redis_cmd(k, end, NULL, "AUTH", "AUTH %s", u.pass);
		memset(u.pass, 0, sizeof u.pass);
		if (rc)
			return rc;
	}
	if (u.db) {
		rc = ipcl_redis_cmd(k, end, NULL, "SELECT", "SELECT %d", u.db);
		if (rc)
			return rc;
	}
	return ipcl_redis_cmd(k, end, NULL, "PING", "PING");
}

int ipcl_redis_config(struct ipcl_redis *k, const char *name, char *out, size_t cap,
		      int64_t deadline_ns, int *refused)
{
	char saved[IPCL_ERR_MAX];
	redisReply *r;
	int rc;

	snprintf(out, cap, "unknown");
	memcpy(saved, k->err, sizeof saved);
	rc = ipcl_redis_cmd(k, deadline_ns, &r, "CONFIG GET", "CONFIG GET %s", name);
	if (rc == IPCL_EBROKER) {
		if (refused)
			*refused = 1;
		memcpy(k->err, saved, sizeof saved);
		return 0;
	}
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    r->element[1]->type == REDIS_REPLY_STRING)
		snprintf(out, cap, "%.*s", (int)r->element[1]->len, r->element[1]->str);
	freeReplyObject(r);
	return 0;
}

int ipcl_redis_version(struct ipcl_redis *k, int64_t deadline_ns, char *ver, size_t cap,
		       int *num)
{
	redisReply *r;
	const char *v;
	int maj = 0, min = 0;
	int rc = ipcl_redis_cmd(k, deadline_ns, &r, "INFO", "INFO server");

	*num = 0;
	snprintf(ver, cap, "unknown");
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_STRING && (v = strstr(r->str, "redis_version:"))) {
		snprintf(ver, cap, "%.*s", (int)strcspn(v + 14, "\r\n"), v + 14);
		if (sscanf(ver, "%d.%d", &maj, &min) == 2)
			*num = maj * 100 + min;
	}
	freeReplyObject(r);
	return 0;
}

int ipcl_redis_scan(struct ipcl_redis *k, int64_t deadline_ns, char *cursor, size_t cap,
		    const char *pattern, redisReply **out)
{
	redisReply *r;
	int rc = ipcl_redis_cmd(k, deadline_ns, &r, "SCAN", "SCAN %s MATCH %s COUNT 1000",
				cursor, pattern);

	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return ipcl_seterr(k->err, IPCL_EPROTO, "redis %s: odd SCAN reply",
				   k->shown);
	}
	snprintf(cursor, cap, "%s", r->element[0]->str);
	*out = r;
	return 0;
}

int ipcl_redis_timeout(const char *v, long long *ms, char *err)
{
	char *end;
	double s;

	errno = 0;
	s = v ? strtod(v, &end) : -1;
	if (!v || errno || end == v || *end || !(s > 0 && s <= 3600))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option connect_timeout=%s: want seconds in (0, 3600]",
				   v ? v : "");
	*ms = (long long)(s * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return 0;
}

int ipcl_redis_delete_prefix(struct ipcl_redis *k, const char *prefix,
			     int64_t deadline_ns)
{
	char pattern[300], cursor[32] = "0";
	size_t n = 0;
	int rc = 0;

	for (const char *s = prefix; *s && n + 4 < sizeof pattern; s++) {
		if (strchr("*?[]\\", *s))
			pattern[n++] = '\\';
		pattern[n++] = *s;
	}
	snprintf(pattern + n, sizeof pattern - n, "*");
	do {
		redisReply *r;

		rc = ipcl_redis_scan(k, deadline_ns, cursor, sizeof cursor, pattern, &r);
		if (rc)
			return rc;
		for (size_t i = 0; !rc && i < r->element[1]->elements; i++) {
			redisReply *e = r->element[1]->element[i];

			if (e->type == REDIS_REPLY_STRING)
				rc = ipcl_redis_cmd(k, deadline_ns, NULL, "UNLINK",
						    "UNLINK %b", e->str, e->len);
		}
		freeReplyObject(r);
	} while (!rc && strcmp(cursor, "0") != 0);
	return rc;
}

int ipcl_redis_cpu_ns(struct ipcl_redis *k, int64_t deadline_ns, int64_t *ns)
{
	redisReply *r = NULL;
	const char *u, *y;
	int rc = ipcl_redis_cmd(k, deadline_ns, &r, "INFO", "INFO cpu");

	if (rc)
		return rc;
	u = r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_cpu_user:") : NULL;
	y = r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_cpu_sys:") : NULL;
	if (u && y)
		*ns = (int64_t)((strtod(u + 14, NULL) + strtod(y + 13, NULL)) * 1e9);
	else
		rc = ipcl_seterr(k->err, IPCL_EPROTO,
				 "redis %s: INFO cpu has no used_cpu_*", k->shown);
	freeReplyObject(r);
	return rc;
}
