/*
 * redis.c - four transports over a Redis server, with hiredis's blocking API
 * (0.14: redisConnectWithTimeout, redisAppendCommand, redisBufferRead; RESP2).
 *
 *   redis-list           LPUSH / BRPOP (BLMPOP COUNT n with count > 1): a message
 *                        popped is gone, so delivery is at-most-once.
 *   redis-list-reliable  LPUSH / BLMOVE into this consumer's processing list;
 *                        ack() removes it there (LREM): at-least-once.
 *   redis-stream         XADD / XREADGROUP in a consumer group; ack() is XACK,
 *                        batched into the next read: at-least-once.
 *   redis-pubsub         PUBLISH / SUBSCRIBE: every subscriber gets every
 *                        message published while it is subscribed; lossy.
 *
 * Producers pipeline: send() writes the command at once, and
 * waits for a reply only when `pipeline` commands are unanswered (1: every
 * send waits for its own reply); flush() reads every reply. Consumers block in
 * the server (BRPOP, BLMOVE, XREADGROUP BLOCK) for the time left before the
 * deadline; with IPCL_FOREVER they block with no timeout and the hot path is one
 * write and one read. A finite deadline poll()s the socket first; a blocking
 * command still unanswered at the deadline stays due, and the next recv() takes
 * its reply, so a message that arrives at the deadline is never dropped. Acks
 * travel in the same write as the next fetch.
 *
 * Limits: proto-max-bulk-len a message (512 MiB by default, read with CONFIG
 * GET); a pub/sub subscriber that falls behind is dropped by the server at
 * client-output-buffer-limit pubsub.
 *
 * Large messages: hiredis 0.14's formatter (redisAppendCommand with %b) copies
 * the payload into a fresh buffer, and its output buffer is freed after every
 * write; its reader frees its buffer whenever more than 16 KiB are spare
 * (reader->maxbuf). With glibc defaults, a 64 KiB message then trims and
 * regrows the heap each time: tens of page faults per message. So send()
 * builds the RESP header itself and writes header, payload and "\r\n" with
 * one writev() straight from the caller's buffer, and every connection sets
 * reader->maxbuf = 0 (keep the buffer). See README.md, "Page faults".
 *
 * Left out: TLS (rediss://), RESP3, Cluster and Sentinel, reconnecting after
 * the server went away (the error is reported; the harness decides).
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
#include <time.h>

#include <hiredis/hiredis.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

#define REDIS_GROUP         "ipcl"        /* the stream's consumer group */
#define REDIS_ID_MAX        48            /* a stream entry id: "<ms>-<seq>" */
#define REDIS_ACK_SLACK     16            /* stream ack ids queued beyond one batch */
#define REDIS_MAX_DEFAULT   (512LL << 20) /* proto-max-bulk-len when CONFIG is off */
#define REDIS_PUSH_OVERHEAD 1024 /* bytes of a pub/sub push besides the payload */
#define REDIS_CLAIM_ROUNDS  100000
#define REDIS_LATE_JOIN_MS  50 /* wait_subscribers=0: subscribe this long after start */

enum redis_kind { REDIS_LIST, REDIS_RELIABLE, REDIS_STREAM, REDIS_PUBSUB };

/* Everything open() and teardown() need, parsed from chan->addr. */
struct redis_addr {
	char url[256]; /* with a password redacted (then the url option is used) */
	char key[128]; /* "ipcl:<tag>": list, stream or channel */
	long long ct_ms, pipeline, count, recover, claim_ms, max;
	long long subs; /* pub/sub: subscribers a producer waits for at open */
	long long wait_subs;
};

/* One connection and where its errors are written. */
struct redis_conn {
	redisContext *ctx;
	char shown[256]; /* the URL with any password replaced by *** */
	char *err;
};

struct redis_ep {
	enum redis_kind kind;
	struct redis_addr a;
	struct redis_conn k;
	long long inflight;         /* producer: commands whose reply is unread */
	int64_t replied;            /* producer: LPUSH/XADD the server answered OK */
	int fetch_due;              /* consumer: a fetch whose reply is unread */
	int acks_due;               /* consumer: ack replies due before the fetch's */
	redisReply *batch;          /* list/stream consumer: the last fetch's reply */
	size_t next;                /* its next unread item */
	redisReply *last;           /* reliable: the message returned last, for LREM */
	int ack_deferred;           /* reliable: ack() came while a fetch was due */
	char proc[160];             /* reliable: this consumer's processing list */
	char name[24];              /* stream: this consumer's name in the group */
	int history;                /* stream: still re-reading our own pending entries */
	int late;                   /* pub/sub: not subscribed yet (wait_subscribers=0) */
	char from[REDIS_ID_MAX];    /* stream: where the history read goes on */
	char last_id[REDIS_ID_MAX]; /* stream: the entry returned last */
	int last_acked;
	char (*ids)[REDIS_ID_MAX]; /* stream: acked, XACK not sent yet */
	int nids, maxids;
	const char **argv; /* XACK's argument vector */
	size_t *argvlen;
};

static const struct ipcl_option redis_options[] = {
    {"url", "",
     "server: redis://[[user]:password@]host[:port][/db] or "
     "redis+unix://[[user]:password@]/path/redis.sock[?db=N] (filled by the core)"},
    {"connect_timeout", "3", "seconds allowed to connect and run a setup command"},
    {"pipeline", "1",
     "producer: commands unanswered before send() waits (1: each send waits for its "
     "reply)"},
    {"count", "1",
     "redis-list and redis-stream consumers: messages fetched per round trip "
     "(BLMPOP / XREADGROUP COUNT)"},
    {"recover", "1",
     "reliable list and stream consumers: at open, redeliver what a crashed consumer "
     "with the same index left unacknowledged"},
    {"claim_idle_ms", "0",
     "redis-stream consumer: at open, take over other consumers' entries pending "
     "longer than this (XAUTOCLAIM; 0: off)"},
    {"wait_subscribers", "1",
     "redis-pubsub: 1: the producer waits at open until every consumer is "
     "subscribed; 0: a late join, consumers subscribe 50 ms after the start, so "
     "what was published before is lost"},
    {NULL, NULL, NULL},
};

static enum redis_kind redis_kind_of(const struct ipcl_transport *t)
{
	if (strcmp(t->name, "redis-list-reliable") == 0)
		return REDIS_RELIABLE;
	if (strcmp(t->name, "redis-stream") == 0)
		return REDIS_STREAM;
	if (strcmp(t->name, "redis-pubsub") == 0)
		return REDIS_PUBSUB;
	return REDIS_LIST;
}

/* ---- URLs and connections ---------------------------------------------- */

struct redis_url {
	int is_unix;
	char host[128];
	int port;
	char path[108];
	char user[64];
	char pass[128];
	int db;
};

/* Split "user:pass" (either may be empty) into u; no colon is a user alone. */
static void redis_userinfo(const char *s, size_t n, struct redis_url *u)
{
	const char *colon = memchr(s, ':', n);

	if (!colon) {
		snprintf(u->user, sizeof u->user, "%.*s", (int)n, s);
		return;
	}
	snprintf(u->user, sizeof u->user, "%.*s", (int)(colon - s), s);
	snprintf(u->pass, sizeof u->pass, "%.*s", (int)(n - (size_t)(colon - s) - 1),
		 colon + 1);
}

/*
 * Parse redis://[[user]:pass@]host[:port][/db] and
 * redis+unix://[[user]:pass@]/path[?db=N] (also unix://). No percent-decoding.
 */
static int redis_parse_url(const char *url, struct redis_url *u, const char *shown,
			   char *err)
{
	const char *p, *auth_end, *at, *q;
	char *end;

	memset(u, 0, sizeof *u);
	u->port = 6379;
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
	} else if (strncmp(url, "redis+unix://", 13) == 0) {
		u->is_unix = 1;
		p = url + 13;
	} else if (strncmp(url, "unix://", 7) == 0) {
		u->is_unix = 1;
		p = url + 7;
	} else if (strncmp(url, "rediss://", 9) == 0) {
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "redis %s: TLS is not supported by this build", shown);
	} else {
		return ipcl_seterr(err, IPCL_EINVAL,
				   "redis URL '%s': want redis://host:port or "
				   "redis+unix:///path/redis.sock",
				   shown);
	}
	/* The authority ends at the first '/' (unix: the path's) or '?'. */
	auth_end = p + strcspn(p, "/?");
	at = NULL;
	for (q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		redis_userinfo(p, (size_t)(at - p), u);
		p = at + 1;
	}
	if (u->is_unix) {
		size_t n = strcspn(p, "?");

		if (p != auth_end || *p != '/' || n >= sizeof u->path)
			return ipcl_seterr(err, IPCL_EINVAL,
					   "redis URL '%s': want an absolute socket path "
					   "shorter than %zu bytes",
					   shown, sizeof u->path);
		snprintf(u->path, sizeof u->path, "%.*s", (int)n, p);
		q = strstr(p + n, "db=");
		if (q)
			u->db = atoi(q + 3);
		return 0;
	}
	if (*p == '[') { /* [v6 address] */
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
static int redis_ctx_code(const redisContext *c, int saved_errno)
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

/* Describe a failed hiredis call on k ("redis <url>: <what>: <why>"). */
static int redis_fail(struct redis_conn *k, const char *what)
{
	int e = errno;

	return ipcl_seterr(k->err, redis_ctx_code(k->ctx, e), "redis %s: %s: %s",
			   k->shown, what, k->ctx ? k->ctx->errstr : "out of memory");
}

/* Write out every command appended so far: 0 or a connection error. */
static int redis_write(struct redis_conn *k)
{
	int done = 0;

	do {
		if (redisBufferWrite(k->ctx, &done) != REDIS_OK)
			return redis_fail(k, "write");
	} while (!done);
	return 0;
}

/*
 * Take the next reply, writing pending commands first. Returns 0 with *out set,
 * -ETIMEDOUT at the deadline (the reply stays due: nothing is lost), or a
 * connection error (the connection is then unusable).
 */
static int redis_read(struct redis_conn *k, redisReply **out, int64_t deadline_ns)
{
	void *r = NULL;
	int rc;

	if (redisGetReplyFromReader(k->ctx, &r) != REDIS_OK)
		return redis_fail(k, "read");
	if (r) {
		*out = r;
		return 0;
	}
	rc = redis_write(k);
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
		if (redisBufferRead(k->ctx) != REDIS_OK)
			return redis_fail(k, "read");
		if (redisGetReplyFromReader(k->ctx, &r) != REDIS_OK)
			return redis_fail(k, "read");
		if (r) {
			*out = r;
			return 0;
		}
	}
}

/* Turn an error reply into IPCL_EBROKER naming the command; frees it. */
static int redis_reply_error(struct redis_conn *k, redisReply *r, const char *what)
{
	int rc = ipcl_seterr(k->err, IPCL_EBROKER, "redis %s: %s: %.*s", k->shown, what,
			     (int)r->len, r->str);

	freeReplyObject(r);
	return rc;
}

/*
 * Run one command and wait for its reply by deadline (setup-time commands; a
 * timeout leaves the connection out of step, so callers give it up). *out gets
 * the reply (caller frees) or NULL to drop it. what names the command in errors;
 * arguments are never shown (AUTH's are secret).
 */
static int redis_cmd(struct redis_conn *k, int64_t deadline_ns, redisReply **out,
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
		return redis_fail(k, what);
	rc = redis_read(k, &r, deadline_ns);
	if (rc == -ETIMEDOUT)
		return ipcl_seterr(k->err, rc, "redis %s: %s: no reply in time", k->shown,
				   what);
	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(k, r, what);
	if (out)
		*out = r;
	else
		freeReplyObject(r);
	return 0;
}

static void redis_disconnect(struct redis_conn *k)
{
	if (k->ctx)
		redisFree(k->ctx);
	k->ctx = NULL;
}

/*
 * Connect to url within ct_ms (and deadline), authenticate, select the db and
 * check with PING. The socket is left without timeouts: waits are bounded by
 * poll() on the caller's deadlines. On failure k->ctx may be set; disconnect.
 */
static int redis_connect(struct redis_conn *k, const char *url, long long ct_ms,
			 int64_t deadline_ns, char *err)
{
	int64_t now = ipcl_now_ns(), end = now + ct_ms * 1000000LL, left;
	struct redis_url u;
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
	rc = redis_parse_url(url, &u, k->shown, err);
	if (rc)
		return rc;
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
		return redis_fail(k, "connect");
	if (redisSetTimeout(k->ctx, (struct timeval){0, 0}) != REDIS_OK)
		return redis_fail(k, "setsockopt");
	/* Keep the reader's buffer however much of it is spare (hiredis frees it
	 * past 16 KiB by default: a heap trim and regrow per large reply). */
	k->ctx->reader->maxbuf = 0;
	if (u.pass[0]) {
		rc = u.user[0]
			 ? redis_cmd(k, end, NULL, "AUTH", "AUTH %s %s", u.user, u.pass)
			 : redis_cmd(k, end, NULL, "AUTH", "AUTH %s", u.pass);
		memset(u.pass, 0, sizeof u.pass);
		if (rc)
			return rc;
	}
	if (u.db) {
		rc = redis_cmd(k, end, NULL, "SELECT", "SELECT %d", u.db);
		if (rc)
			return rc;
	}
	return redis_cmd(k, end, NULL, "PING", "PING");
}

/* ---- options, limits and the channel address ----------------------------- */

static int redis_settings(const struct ipcl_opts *o, struct redis_addr *a, char *err)
{
	const char *ct = ipcl_opt(o, redis_options, "connect_timeout");
	char *end;
	double s;
	int rc;

	errno = 0;
	s = ct ? strtod(ct, &end) : -1;
	if (!ct || errno || end == ct || *end || !(s > 0 && s <= 3600))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option connect_timeout=%s: want seconds in (0, 3600]",
				   ct ? ct : "");
	a->ct_ms = (long long)(s * 1000 + 0.5);
	if (a->ct_ms < 1)
		a->ct_ms = 1;
	rc = ipcl_opt_int(o, redis_options, "pipeline", 1, 100000, &a->pipeline, err);
	if (!rc)
		rc = ipcl_opt_int(o, redis_options, "count", 1, 100000, &a->count, err);
	if (!rc)
		rc = ipcl_opt_int(o, redis_options, "recover", 0, 1, &a->recover, err);
	if (!rc)
		rc = ipcl_opt_int(o, redis_options, "claim_idle_ms", 0, 1LL << 40,
				  &a->claim_ms, err);
	if (!rc)
		rc = ipcl_opt_int(o, redis_options, "wait_subscribers", 0, 1,
				  &a->wait_subs, err);
	return rc;
}

/* CONFIG GET name into out ("unknown" where CONFIG is renamed away). */
static int redis_config(struct redis_conn *k, const char *name, char *out, size_t cap,
			int64_t deadline_ns)
{
	char saved[IPCL_ERR_MAX];
	redisReply *r;
	int rc;

	snprintf(out, cap, "unknown");
	memcpy(saved, k->err, sizeof saved);
	rc = redis_cmd(k, deadline_ns, &r, "CONFIG GET", "CONFIG GET %s", name);
	if (rc == IPCL_EBROKER) {
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

/* The pubsub class's hard limit from client-output-buffer-limit (0: none). */
static long long redis_pubsub_limit(const char *cobl)
{
	const char *p = strstr(cobl, "pubsub ");

	return p ? strtoll(p + 7, NULL, 10) : 0;
}

/* The largest message the server takes for this kind of transport. */
static int redis_limit(struct redis_conn *k, enum redis_kind kind, int64_t deadline_ns,
		       long long *max)
{
	char v[200];
	long long hard;
	int rc = redis_config(k, "proto-max-bulk-len", v, sizeof v, deadline_ns);

	if (rc)
		return rc;
	*max = strcmp(v, "unknown") ? strtoll(v, NULL, 10) : REDIS_MAX_DEFAULT;
	if (kind != REDIS_PUBSUB)
		return 0;
	rc = redis_config(k, "client-output-buffer-limit", v, sizeof v, deadline_ns);
	if (rc)
		return rc;
	hard = redis_pubsub_limit(v);
	if (hard > REDIS_PUSH_OVERHEAD && hard - REDIS_PUSH_OVERHEAD < *max)
		*max = hard - REDIS_PUSH_OVERHEAD;
	return 0;
}

/* "url=... key=... ct=..." back into a; IPCL_EINVAL when something is missing. */
static int redis_parse_addr(const char *addr, struct redis_addr *a, char *err)
{
	char copy[IPCL_ADDR_MAX], *save = NULL;
	int seen = 0;

	memset(a, 0, sizeof *a);
	snprintf(copy, sizeof copy, "%s", addr);
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		long long *num = NULL;

		if (!eq)
			continue;
		*eq++ = 0;
		if (strcmp(t, "url") == 0 && strlen(eq) < sizeof a->url)
			seen |= 1, snprintf(a->url, sizeof a->url, "%s", eq);
		else if (strcmp(t, "key") == 0 && strlen(eq) < sizeof a->key)
			seen |= 2, snprintf(a->key, sizeof a->key, "%s", eq);
		else if (strcmp(t, "ct") == 0)
			num = &a->ct_ms;
		else if (strcmp(t, "pl") == 0)
			num = &a->pipeline;
		else if (strcmp(t, "count") == 0)
			num = &a->count;
		else if (strcmp(t, "recover") == 0)
			num = &a->recover;
		else if (strcmp(t, "claim") == 0)
			num = &a->claim_ms;
		else if (strcmp(t, "max") == 0)
			num = &a->max;
		else if (strcmp(t, "subs") == 0)
			num = &a->subs;
		if (num)
			*num = strtoll(eq, NULL, 10);
	}
	if (seen != 3 || a->ct_ms <= 0 || a->pipeline <= 0 || a->count <= 0 ||
	    a->max <= 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "redis: malformed channel address '%s'", addr);
	return 0;
}

/* The URL to use: addr's, or the url option when addr's has a redacted password. */
static const char *redis_addr_url(const struct ipcl_chan *c, const struct redis_addr *a)
{
	const char *opt = ipcl_opt(c->opts, redis_options, "url");

	if (strstr(a->url, ":***@") && opt && *opt)
		return opt;
	return a->url;
}

/* Delete key and every "key:*" (processing lists); bounded by deadline. */
static int redis_delete_keys(struct redis_conn *k, const char *key, int64_t deadline_ns)
{
	char pattern[300], cursor[32] = "0";
	size_t n = 0;
	int rc;

	for (const char *s = key; *s && n + 4 < sizeof pattern; s++) {
		if (strchr("*?[]\\", *s))
			pattern[n++] = '\\';
		pattern[n++] = *s;
	}
	snprintf(pattern + n, sizeof pattern - n, ":*");
	rc = redis_cmd(k, deadline_ns, NULL, "DEL", "DEL %s", key);
	do {
		redisReply *r;

		if (rc)
			return rc;
		rc = redis_cmd(k, deadline_ns, &r, "SCAN", "SCAN %s MATCH %s COUNT 1000",
			       cursor, pattern);
		if (rc)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return ipcl_seterr(k->err, IPCL_EPROTO,
					   "redis %s: odd SCAN reply", k->shown);
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		for (size_t i = 0; !rc && i < r->element[1]->elements; i++) {
			redisReply *e = r->element[1]->element[i];

			if (e->type == REDIS_REPLY_STRING)
				rc = redis_cmd(k, deadline_ns, NULL, "DEL", "DEL %b",
					       e->str, e->len);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return rc;
}

/* The pid of a run's key "ipcl:<pid>-..." (run tag, engine/run.c), or 0. */
static long redis_key_pid(const char *key, size_t len)
{
	long pid = 0;
	size_t i = 5;

	if (len < 7 || strncmp(key, "ipcl:", 5) || key[5] < '1' || key[5] > '9')
		return 0;
	for (; i < len && i < 13 && key[i] >= '0' && key[i] <= '9'; i++)
		pid = pid * 10 + (key[i] - '0');
	return i < len && key[i] == '-' ? pid : 0;
}

/*
 * `ipclab clean --brokers`: SCAN MATCH ipcl:* and DEL every key (list,
 * processing lists, stream) whose run's process is dead. 30 s in all.
 */
static int redis_sweep(const char *url, int dry, int (*dead)(long pid),
		       void (*seen)(void *arg, const char *name), void *arg, char *err)
{
	int64_t deadline = ipcl_now_ns() + 30 * 1000000000LL;
	struct redis_conn k = {0};
	char cursor[32] = "0", name[300];
	int rc, n = 0;

	rc = redis_connect(&k, url, 3000, deadline, err);
	while (!rc) {
		redisReply *r;

		rc = redis_cmd(&k, deadline, &r, "SCAN",
			       "SCAN %s MATCH ipcl:* COUNT 1000", cursor);
		if (rc)
			break;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			rc = ipcl_seterr(err, IPCL_EPROTO, "redis %s: odd SCAN reply",
					 k.shown);
			break;
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		for (size_t i = 0; !rc && i < r->element[1]->elements; i++) {
			redisReply *e = r->element[1]->element[i];
			long pid = e->type == REDIS_REPLY_STRING
				       ? redis_key_pid(e->str, e->len)
				       : 0;

			if (!pid || !dead(pid))
				continue;
			snprintf(name, sizeof name, "redis key %.*s",
				 (int)(e->len > 200 ? 200 : e->len), e->str);
			seen(arg, name);
			n++;
			if (!dry)
				rc = redis_cmd(&k, deadline, NULL, "DEL", "DEL %b",
					       e->str, e->len);
		}
		freeReplyObject(r);
		if (!strcmp(cursor, "0"))
			break;
	}
	redis_disconnect(&k);
	return rc ? rc : n;
}

/* ---- probe and setup ------------------------------------------------------ */

static int redis_probe_kind(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
			    enum redis_kind kind)
{
	static const char *const delivery[] = {
	    [REDIS_LIST] = "at-most-once",
	    [REDIS_RELIABLE] = "at-least-once",
	    [REDIS_STREAM] = "at-least-once",
	    [REDIS_PUBSUB] = "at-most-once, fan-out, lossy",
	};
	static const char *const config[][2] = {
	    {"appendonly", "appendonly"},
	    {"appendfsync", "appendfsync"},
	    {"maxmemory-policy", "maxmemory_policy"},
	    {"maxmemory", "maxmemory"},
	    {"proto-max-bulk-len", "proto_max_bulk_len"},
	};
	struct redis_conn k = {0};
	struct redis_addr a = {0};
	redisReply *r = NULL;
	char v[200], aof[200] = "", fsync[200] = "";
	int64_t end;
	long long max;
	int rc;

	rc = redis_settings(o, &a, err);
	if (rc)
		return rc;
	rc = redis_connect(&k, ipcl_opt(o, redis_options, "url"), a.ct_ms, IPCL_FOREVER,
			   err);
	if (rc)
		goto out;
	end = ipcl_now_ns() + a.ct_ms * 1000000LL;
	ipcl_fact(p, "server", "%s", k.shown);
	ipcl_fact(p, "connection", "%s",
		  k.ctx->connection_type == REDIS_CONN_UNIX ? "unix" : "tcp");
	rc = redis_cmd(&k, end, &r, "INFO", "INFO server");
	if (rc)
		goto out;
	if (r->type == REDIS_REPLY_STRING) {
		const char *ver = strstr(r->str, "redis_version:");

		if (ver)
			ipcl_fact(p, "redis_version", "%.*s",
				  (int)strcspn(ver + 14, "\r\n"), ver + 14);
	}
	for (size_t i = 0; i < sizeof config / sizeof config[0]; i++) {
		rc = redis_config(&k, config[i][0], v, sizeof v, end);
		if (rc)
			goto out;
		ipcl_fact(p, config[i][1], "%s", v);
		if (i == 0)
			snprintf(aof, sizeof aof, "%s", v);
		if (i == 1)
			snprintf(fsync, sizeof fsync, "%s", v);
	}
	if (kind == REDIS_PUBSUB) {
		rc = redis_config(&k, "client-output-buffer-limit", v, sizeof v, end);
		if (rc)
			goto out;
		ipcl_fact(p, "pubsub_output_buffer_hard_limit", "%lld",
			  redis_pubsub_limit(v));
		ipcl_fact(p, "durable", "no (pub/sub keeps nothing)");
		ipcl_fact(p, "backpressure",
			  "none: PUBLISH never waits; past the output buffer limit "
			  "the server disconnects the subscriber");
		ipcl_fact(p, "flow_control", "0");
	} else if (strcmp(aof, "yes") == 0) {
		ipcl_fact(p, "durable", "AOF, appendfsync %s", fsync);
	} else {
		ipcl_fact(p, "durable",
			  "no (appendonly %s: a server crash loses messages)", aof);
	}
	rc = redis_limit(&k, kind, end, &max);
	if (rc)
		goto out;
	p->max_msg = (size_t)max;
	ipcl_fact(p, "delivery", "%s", delivery[kind]);
	ipcl_fact(p, "pipeline", "%lld", a.pipeline);
	if (kind == REDIS_LIST || kind == REDIS_STREAM)
		ipcl_fact(p, "count", "%lld", a.count);
	ipcl_fact(p, "connect_timeout_ms", "%lld", a.ct_ms);
	ipcl_fact(p, "hiredis", "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
out:
	if (r)
		freeReplyObject(r);
	redis_disconnect(&k);
	return rc;
}

static int redis_list_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return redis_probe_kind(o, p, err, REDIS_LIST);
}

static int redis_reliable_probe(const struct ipcl_opts *o, struct ipcl_probe *p,
				char *err)
{
	return redis_probe_kind(o, p, err, REDIS_RELIABLE);
}

static int redis_stream_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return redis_probe_kind(o, p, err, REDIS_STREAM);
}

static int redis_pubsub_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return redis_probe_kind(o, p, err, REDIS_PUBSUB);
}

/*
 * Check the server and the message size, start from an empty key (and, for a
 * stream, create it with its consumer group), and write the address.
 */
static int redis_setup(struct ipcl_chan *c)
{
	enum redis_kind kind = redis_kind_of(c->t);
	const char *url = ipcl_opt(c->opts, redis_options, "url");
	const char *tag = c->opts->tag && *c->opts->tag ? c->opts->tag : "default";
	struct redis_conn k = {0};
	struct redis_addr a = {0};
	int64_t end;
	int rc, n;

	rc = redis_settings(c->opts, &a, c->err);
	if (rc)
		return rc;
	rc = redis_connect(&k, url, a.ct_ms, IPCL_FOREVER, c->err);
	if (rc)
		goto fail;
	end = ipcl_now_ns() + a.ct_ms * 1000000LL;
	rc = redis_limit(&k, kind, end, &a.max);
	if (rc)
		goto fail;
	if ((long long)c->opts->msg_size > a.max) {
		rc = ipcl_seterr(c->err, IPCL_ETOOBIG,
				 "%zu-byte messages: %s takes at most %lld bytes",
				 c->opts->msg_size, k.shown, a.max);
		goto fail;
	}
	if (kind == REDIS_PUBSUB && a.wait_subs)
		a.subs = c->opts->consumers;
	n = snprintf(a.key, sizeof a.key, "ipcl:%s", tag);
	if (n < 0 || (size_t)n >= sizeof a.key - 24) {
		rc = ipcl_seterr(c->err, -ENAMETOOLONG, "redis: tag '%s' is too long",
				 tag);
		goto fail;
	}
	/* The address names the server with any password redacted. */
	n = snprintf(c->addr, sizeof c->addr,
		     "url=%s key=%s ct=%lld pl=%lld count=%lld recover=%lld claim=%lld "
		     "max=%lld subs=%lld",
		     k.shown, a.key, a.ct_ms, a.pipeline, a.count, a.recover, a.claim_ms,
		     a.max, a.subs);
	if (n < 0 || (size_t)n >= sizeof c->addr) {
		rc = ipcl_seterr(c->err, -ENAMETOOLONG, "redis: address too long");
		goto fail;
	}
	rc = redis_delete_keys(&k, a.key, end);
	if (rc)
		goto fail;
	if (kind == REDIS_STREAM) {
		rc = redis_cmd(&k, end, NULL, "XGROUP CREATE",
			       "XGROUP CREATE %s %s 0 MKSTREAM", a.key, REDIS_GROUP);
		if (rc)
			goto fail;
	}
	redis_disconnect(&k);
	return 0;
fail:
	redis_disconnect(&k);
	c->addr[0] = 0;
	return rc;
}

/* ---- endpoints ------------------------------------------------------------ */

/*
 * Reliable list: move what this consumer index left in its processing list
 * (a crashed predecessor's unacknowledged messages) back to the queue's
 * consuming end, oldest nearest, so they are delivered again first.
 */
static int redis_requeue(struct redis_ep *re, int64_t deadline_ns)
{
	for (;;) {
		redisReply *r;
		int rc = redis_cmd(&re->k, deadline_ns, &r, "LMOVE",
				   "LMOVE %s %s LEFT RIGHT", re->proc, re->a.key);
		int more;

		if (rc)
			return rc;
		more = r->type == REDIS_REPLY_STRING;
		freeReplyObject(r);
		if (!more)
			return 0;
	}
}

/* Stream: take over entries other consumers left pending for claim_ms. */
static int redis_claim(struct redis_ep *re, int64_t deadline_ns)
{
	char cursor[REDIS_ID_MAX] = "0-0";

	for (int i = 0; i < REDIS_CLAIM_ROUNDS; i++) {
		redisReply *r;
		int rc =
		    redis_cmd(&re->k, deadline_ns, &r, "XAUTOCLAIM",
			      "XAUTOCLAIM %s %s %s %lld %s COUNT 100 JUSTID", re->a.key,
			      REDIS_GROUP, re->name, re->a.claim_ms, cursor);

		if (rc)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			return ipcl_seterr(re->k.err, IPCL_EPROTO,
					   "redis %s: odd XAUTOCLAIM reply", re->k.shown);
		}
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		freeReplyObject(r);
		if (strcmp(cursor, "0-0") == 0)
			return 0;
	}
	return 0;
}

/*
 * Pub/sub producer: wait until the channel has as many subscribers as the run
 * has consumers (PUBSUB NUMSUB, every 2 ms), so that nothing is published into
 * the void at the start. Bounded by the open deadline.
 */
static int redis_wait_subscribers(struct redis_ep *re, int64_t deadline_ns)
{
	for (;;) {
		int64_t end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;
		long long n = -1;
		redisReply *r;
		int rc;

		rc = redis_cmd(&re->k, deadline_ns < end ? deadline_ns : end, &r,
			       "PUBSUB", "PUBSUB NUMSUB %s", re->a.key);
		if (rc)
			return rc;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[1]->type == REDIS_REPLY_INTEGER)
			n = r->element[1]->integer;
		freeReplyObject(r);
		if (n >= re->a.subs)
			return 0;
		if (ipcl_now_ns() >= deadline_ns)
			return ipcl_seterr(
			    re->k.err, -ETIMEDOUT,
			    "redis %s: %lld of %lld subscribers by the deadline",
			    re->k.shown, n, re->a.subs);
		nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
	}
}

/* Pub/sub consumer: SUBSCRIBE; its confirmation proves we are subscribed. */
static int redis_subscribe(struct redis_ep *re, int64_t deadline_ns)
{
	redisReply *r;
	int rc =
	    redis_cmd(&re->k, deadline_ns, &r, "SUBSCRIBE", "SUBSCRIBE %s", re->a.key);

	if (rc)
		return rc;
	rc = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		     r->element[0]->type == REDIS_REPLY_STRING &&
		     strcmp(r->element[0]->str, "subscribe") == 0
		 ? 0
		 : ipcl_seterr(re->k.err, IPCL_EPROTO,
			       "redis %s: SUBSCRIBE not confirmed", re->k.shown);
	freeReplyObject(r);
	return rc;
}

static int redis_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	struct ipcl_chan *c = ep->chan;
	int64_t end;
	int rc;

	re->kind = redis_kind_of(c->t);
	re->k.err = ep->err;
	rc = redis_parse_addr(c->addr, &re->a, ep->err);
	if (rc)
		return rc;
	rc = redis_connect(&re->k, redis_addr_url(c, &re->a), re->a.ct_ms, deadline_ns,
			   ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_PRODUCER)
		return re->kind == REDIS_PUBSUB && re->a.subs > 0
			   ? redis_wait_subscribers(re, deadline_ns)
			   : 0;
	end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;
	if (deadline_ns < end)
		end = deadline_ns;
	switch (re->kind) {
	case REDIS_LIST:
		return 0;
	case REDIS_RELIABLE:
		snprintf(re->proc, sizeof re->proc, "%s:proc:%d", re->a.key, ep->index);
		return re->a.recover ? redis_requeue(re, end) : 0;
	case REDIS_STREAM:
		snprintf(re->name, sizeof re->name, "c%d", ep->index);
		re->maxids = (int)re->a.count + REDIS_ACK_SLACK;
		re->ids = calloc((size_t)re->maxids, sizeof *re->ids);
		re->argv = calloc((size_t)re->maxids + 3, sizeof *re->argv);
		re->argvlen = calloc((size_t)re->maxids + 3, sizeof *re->argvlen);
		if (!re->ids || !re->argv || !re->argvlen)
			return ipcl_seterr(ep->err, -ENOMEM, "redis: out of memory");
		/*
		 * Read this consumer's pending list (from id 0) before new entries:
		 * with recover=1 what a crashed consumer of the same name left, and
		 * after a claim the entries XAUTOCLAIM just moved into it, which
		 * `XREADGROUP ... >` would never return.
		 */
		re->history = re->a.recover || re->a.claim_ms > 0;
		snprintf(re->from, sizeof re->from, "0");
		return re->a.claim_ms > 0 ? redis_claim(re, end) : 0;
	case REDIS_PUBSUB:
		/* wait_subscribers=0: a late joiner subscribes in its first recv(). */
		re->late = re->a.subs == 0;
		return re->late ? 0 : redis_subscribe(re, end);
	}
	return 0;
}

/* Producer: read one reply of a pipelined command. */
static int redis_take(struct redis_ep *re, int64_t deadline_ns)
{
	redisReply *r;
	int rc = redis_read(&re->k, &r, deadline_ns);

	if (rc)
		return rc;
	re->inflight--;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(&re->k, r,
					 re->kind == REDIS_STREAM   ? "XADD"
					 : re->kind == REDIS_PUBSUB ? "PUBLISH"
								    : "LPUSH");
	freeReplyObject(r);
	re->replied++;
	return 0;
}

/*
 * Producer: commands the server has answered OK (the reply to LPUSH or XADD
 * means the entry is in the list or stream); -1 for pub/sub, whose PUBLISH
 * reply only counts the subscribers it was queued to.
 */
static int64_t redis_acked(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	return re->kind == REDIS_PUBSUB ? -1 : re->replied;
}

/*
 * Write the producer's command for one message (LPUSH key msg, XADD key * d
 * msg, PUBLISH key msg) as RESP: a header built here with the bulk-string
 * lengths, then the payload from the caller's buffer, then its "\r\n", in
 * one writev() (ipcl_fd_writev_all retries short writes and EINTR). Anything
 * hiredis still holds is written first. 0, or a connection error.
 */
static int redis_write_command(struct redis_ep *re, const char *key, const void *msg,
			       size_t len)
{
	char head[320];
	struct iovec iov[3];
	size_t klen = strlen(key);
	int n, rc;

	rc = redis_write(&re->k); /* hiredis's own output buffer: empty it first */
	if (rc)
		return rc;
	switch (re->kind) {
	case REDIS_STREAM:
		n = snprintf(head, sizeof head,
			     "*5\r\n$4\r\nXADD\r\n$%zu\r\n%s\r\n$1\r\n*\r\n$1\r\nd\r\n"
			     "$%zu\r\n",
			     klen, key, len);
		break;
	case REDIS_PUBSUB:
		n = snprintf(head, sizeof head,
			     "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n", klen, key,
			     len);
		break;
	default:
		n = snprintf(head, sizeof head,
			     "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n", klen, key,
			     len);
		break;
	}
	if (n < 0 || (size_t)n >= sizeof head)
		return ipcl_seterr(re->k.err, IPCL_EINVAL, "redis: key too long");
	iov[0] = (struct iovec){head, (size_t)n};
	iov[1] = (struct iovec){(void *)msg, len};
	iov[2] = (struct iovec){"\r\n", 2};
	rc = ipcl_fd_writev_all(re->k.ctx->fd, iov, 3, IPCL_FOREVER);
	if (rc)
		return ipcl_seterr(re->k.err, rc, "redis %s: write: %s", re->k.shown,
				   strerror(-rc));
	return 0;
}

/*
 * Hand one message to the server. Waits first (by deadline) while `pipeline`
 * commands are unanswered, so -ETIMEDOUT means this message was not sent. An
 * error reply may belong to an earlier message of the pipeline.
 */
static int redis_send(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	const char *key = re->a.key;
	int rc;

	if ((long long)len > re->a.max)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "%zu-byte message: %s takes at most %lld bytes", len,
				   re->k.shown, re->a.max);
	while (re->inflight >= re->a.pipeline) {
		rc = redis_take(re, deadline_ns);
		if (rc)
			return rc;
	}
	rc = redis_write_command(re, key, msg, len);
	if (rc)
		return rc;
	re->inflight++;
	if (re->a.pipeline == 1) {
		/* Unpipelined: wait for the reply, but the message is already sent. */
		rc = redis_take(re, deadline_ns);
		if (rc == -ETIMEDOUT)
			return 0;
		return rc;
	}
	return 0;
}

/* Producer: read the reply of every command sent. */
static int redis_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	int rc;

	if (!re->k.ctx)
		return 0;
	while (re->inflight > 0) {
		rc = redis_take(re, deadline_ns);
		if (rc)
			return rc;
	}
	return 0;
}

/* Consumer: append an XACK of the queued stream ids. */
static int redis_append_xack(struct redis_ep *re)
{
	int argc = 0;

	if (!re->nids)
		return 0;
	re->argv[argc] = "XACK";
	re->argvlen[argc++] = 4;
	re->argv[argc] = re->a.key;
	re->argvlen[argc++] = strlen(re->a.key);
	re->argv[argc] = REDIS_GROUP;
	re->argvlen[argc++] = strlen(REDIS_GROUP);
	for (int i = 0; i < re->nids; i++) {
		re->argv[argc] = re->ids[i];
		re->argvlen[argc++] = strlen(re->ids[i]);
	}
	if (redisAppendCommandArgv(re->k.ctx, argc, re->argv, re->argvlen) != REDIS_OK)
		return redis_fail(&re->k, "append XACK");
	re->nids = 0;
	re->acks_due++;
	return 0;
}

/* Consumer: append the reliable list's LREM of the message returned last. */
static int redis_append_lrem(struct redis_ep *re)
{
	if (redisAppendCommand(re->k.ctx, "LREM %s 1 %b", re->proc, re->last->str,
			       re->last->len) != REDIS_OK)
		return redis_fail(&re->k, "append LREM");
	freeReplyObject(re->last);
	re->last = NULL;
	re->ack_deferred = 0;
	re->acks_due++;
	return 0;
}

/* How long a blocking command may wait in the server: 0 = for ever, else >= 1 ms. */
static long long redis_block_ms(int64_t deadline_ns)
{
	long long ms;

	if (deadline_ns == IPCL_FOREVER)
		return 0;
	ms = (long long)((deadline_ns - ipcl_now_ns() + 999999) / 1000000);
	return ms < 1 ? 1 : ms;
}

/* Consumer: queue the acks, then the blocking fetch, and send them in one write. */
static int redis_fetch(struct redis_ep *re, int64_t deadline_ns)
{
	redisContext *ctx = re->k.ctx;
	long long ms = redis_block_ms(deadline_ns);
	char secs[32]; /* BRPOP and friends take seconds, with decimals since 6.0 */
	int rc = 0;

	snprintf(secs, sizeof secs, "%lld.%03lld", ms / 1000, ms % 1000);
	switch (re->kind) {
	case REDIS_LIST:
		rc = re->a.count > 1
			 ? redisAppendCommand(ctx, "BLMPOP %s 1 %s RIGHT COUNT %lld",
					      secs, re->a.key, re->a.count)
			 : redisAppendCommand(ctx, "BRPOP %s %s", re->a.key, secs);
		break;
	case REDIS_RELIABLE:
		rc = redisAppendCommand(ctx, "BLMOVE %s %s RIGHT LEFT %s", re->a.key,
					re->proc, secs);
		break;
	case REDIS_STREAM:
		rc = redis_append_xack(re);
		if (rc)
			return rc;
		if (re->history)
			rc = redisAppendCommand(
			    ctx, "XREADGROUP GROUP %s %s COUNT %lld STREAMS %s %s",
			    REDIS_GROUP, re->name, re->a.count, re->a.key, re->from);
		else
			rc = redisAppendCommand(
			    ctx,
			    "XREADGROUP GROUP %s %s COUNT %lld BLOCK %lld STREAMS %s >",
			    REDIS_GROUP, re->name, re->a.count, ms, re->a.key);
		break;
	case REDIS_PUBSUB:
		break;
	}
	if (rc != REDIS_OK)
		return redis_fail(&re->k, "append");
	re->fetch_due = 1;
	return 0;
}

/* Consumer: read the acks' replies, then the fetch's (*out: caller frees). */
static int redis_fetch_reply(struct redis_ep *re, redisReply **out, int64_t deadline_ns)
{
	redisReply *r;
	int rc;

	while (re->acks_due > 0) {
		rc = redis_read(&re->k, &r, deadline_ns);
		if (rc)
			return rc;
		re->acks_due--;
		if (r->type == REDIS_REPLY_ERROR)
			return redis_reply_error(&re->k, r, "ack");
		freeReplyObject(r);
	}
	rc = redis_read(&re->k, &r, deadline_ns);
	if (rc)
		return rc;
	re->fetch_due = 0;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(&re->k, r, "fetch");
	*out = r;
	return 0;
}

/*
 * Consumer: the next fetch reply that is not nil (*out: caller frees). A nil
 * reply means the server's blocking timed out: fetch again until the deadline,
 * then -ETIMEDOUT.
 */
static int redis_fetch_next(struct redis_ep *re, redisReply **out, int64_t deadline_ns)
{
	for (;;) {
		redisReply *r = NULL;
		int rc;

		if (!re->fetch_due) {
			rc = redis_fetch(re, deadline_ns);
			if (rc)
				return rc;
		}
		rc = redis_fetch_reply(re, &r, deadline_ns);
		if (rc)
			return rc;
		if (r->type != REDIS_REPLY_NIL) {
			*out = r;
			return 0;
		}
		freeReplyObject(r);
		if (ipcl_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
	}
}

/* Copy a bulk string into the caller's buffer. */
static int redis_copy(struct redis_ep *re, const redisReply *v, void *buf, size_t cap,
		      size_t *len)
{
	if (v->type != REDIS_REPLY_STRING)
		return ipcl_seterr(re->k.err, IPCL_EPROTO,
				   "redis %s: expected a message, got reply type %d",
				   re->k.shown, v->type);
	if (v->len > cap)
		return ipcl_seterr(re->k.err, IPCL_ETRUNC,
				   "redis: %zu-byte message, buffer of %zu bytes", v->len,
				   cap);
	memcpy(buf, v->str, v->len);
	*len = v->len;
	return 0;
}

static int redis_bad_reply(struct redis_ep *re, redisReply *r, const char *what)
{
	freeReplyObject(r);
	return ipcl_seterr(re->k.err, IPCL_EPROTO, "redis %s: odd %s reply", re->k.shown,
			   what);
}

/* The next item of a list batch: BRPOP's [key, value] or BLMPOP's [key, [values]]. */
static const redisReply *redis_list_item(struct redis_ep *re)
{
	const redisReply *items = re->batch->element[1];

	if (items->type == REDIS_REPLY_ARRAY)
		return re->next < items->elements ? items->element[re->next++] : NULL;
	return re->next++ == 0 ? items : NULL;
}

static int redis_list_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			   int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	redisReply *r;
	int rc;

	for (;;) {
		if (re->batch) {
			const redisReply *v = redis_list_item(re);

			if (v)
				return redis_copy(re, v, buf, cap, len);
			freeReplyObject(re->batch);
			re->batch = NULL;
		}
		rc = redis_fetch_next(re, &r, deadline_ns);
		if (rc)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			return redis_bad_reply(re, r, "BRPOP/BLMPOP");
		re->batch = r;
		re->next = 0;
	}
}

static int redis_reliable_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			       int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	redisReply *r;
	int rc;

	rc = redis_fetch_next(re, &r, deadline_ns);
	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_STRING)
		return redis_bad_reply(re, r, "BLMOVE");
	/* An ack that came while the fetch was due goes out now, in order. */
	if (re->ack_deferred && re->last) {
		rc = redis_append_lrem(re);
		if (rc) {
			freeReplyObject(r);
			return rc;
		}
	}
	if (re->last)
		freeReplyObject(re->last);
	re->last = r;
	return redis_copy(re, r, buf, cap, len);
}

/* A stream batch: [[key, [[id, [field, value, ...] or nil], ...]]]. */
static int redis_stream_batch_ok(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	       r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
	       r->element[0]->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Queue a stream id for the next XACK. */
static int redis_queue_id(struct redis_ep *re, const char *id)
{
	if (re->nids >= re->maxids) {
		if (re->fetch_due)
			return ipcl_seterr(re->k.err, IPCL_EINVAL,
					   "redis: more than %d acks queued", re->maxids);
		int rc = redis_append_xack(re);

		if (rc)
			return rc;
	}
	snprintf(re->ids[re->nids++], REDIS_ID_MAX, "%s", id);
	return 0;
}

/*
 * One entry of a stream batch: [id, [field, value, ...]], or [id, nil] for an
 * entry still pending but deleted from the stream, which is queued for XACK
 * and skipped. Sets *value to the message, or to NULL for a skipped entry;
 * returns 0 or an error.
 */
static int redis_stream_entry(struct redis_ep *re, const redisReply *e,
			      const redisReply **value)
{
	const redisReply *id, *f;

	*value = NULL;
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= REDIS_ID_MAX)
		return ipcl_seterr(re->k.err, IPCL_EPROTO, "redis %s: odd stream entry",
				   re->k.shown);
	id = e->element[0];
	f = e->element[1];
	if (re->history)
		snprintf(re->from, sizeof re->from, "%s", id->str);
	if (f->type == REDIS_REPLY_NIL)
		return redis_queue_id(re, id->str);
	if (f->type != REDIS_REPLY_ARRAY || f->elements < 2 ||
	    f->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(f->element[0]->str, "d") != 0)
		return ipcl_seterr(re->k.err, IPCL_EPROTO,
				   "redis %s: stream entry %s has no field d",
				   re->k.shown, id->str);
	snprintf(re->last_id, sizeof re->last_id, "%s", id->str);
	re->last_acked = 0;
	*value = f->element[1];
	return 0;
}

static int redis_stream_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			     int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	redisReply *r;
	int rc;

	for (;;) {
		if (re->batch) {
			const redisReply *entries = re->batch->element[0]->element[1];

			if (re->next < entries->elements) {
				const redisReply *v;

				rc = redis_stream_entry(re, entries->element[re->next++],
							&v);
				if (rc)
					return rc;
				if (v)
					return redis_copy(re, v, buf, cap, len);
				continue;
			}
			if (re->history && entries->elements == 0)
				re->history =
				    0; /* our pending entries are done: new ones */
			freeReplyObject(re->batch);
			re->batch = NULL;
		}
		rc = redis_fetch_next(re, &r, deadline_ns);
		if (rc)
			return rc;
		if (!redis_stream_batch_ok(r))
			return redis_bad_reply(re, r, "XREADGROUP");
		re->batch = r;
		re->next = 0;
	}
}

static int redis_pubsub_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			     int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;

	if (re->late) {
		/*
		 * The producers started at the barrier: join REDIS_LATE_JOIN_MS
		 * later, so what they published meanwhile never reaches this
		 * subscriber (a real late join, not a race with the first PUBLISH).
		 */
		int rc;

		nanosleep(&(struct timespec){0, REDIS_LATE_JOIN_MS * 1000000L}, NULL);
		rc = redis_subscribe(re, ipcl_now_ns() + re->a.ct_ms * 1000000LL);

		if (rc)
			return rc;
		re->late = 0;
	}
	for (;;) {
		redisReply *r;
		int rc = redis_read(&re->k, &r, deadline_ns);

		if (rc == -ECONNRESET)
			return ipcl_seterr(ep->err, rc,
					   "redis %s: the server dropped this subscriber "
					   "(client-output-buffer-limit pubsub?)",
					   re->k.shown);
		if (rc)
			return rc;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "message") == 0) {
			rc = redis_copy(re, r->element[2], buf, cap, len);
			freeReplyObject(r);
			return rc;
		}
		freeReplyObject(r); /* (un)subscribe confirmations and the like */
	}
}

static int redis_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		      int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;

	switch (re->kind) {
	case REDIS_RELIABLE:
		return redis_reliable_recv(ep, buf, cap, len, deadline_ns);
	case REDIS_STREAM:
		return redis_stream_recv(ep, buf, cap, len, deadline_ns);
	case REDIS_PUBSUB:
		return redis_pubsub_recv(ep, buf, cap, len, deadline_ns);
	default:
		return redis_list_recv(ep, buf, cap, len, deadline_ns);
	}
}

/*
 * Acknowledge the message recv() returned last. Nothing is written here: the
 * ack goes out with the next fetch (or at close), so it costs no round trip.
 */
static int redis_ack(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	switch (re->kind) {
	case REDIS_RELIABLE:
		if (!re->last)
			return 0;
		if (re->fetch_due) {
			re->ack_deferred =
			    1; /* keeps the reply order: acks, then fetch */
			return 0;
		}
		return redis_append_lrem(re);
	case REDIS_STREAM:
		if (!re->last_id[0] || re->last_acked)
			return 0;
		re->last_acked = 1;
		return redis_queue_id(re, re->last_id);
	default:
		return 0;
	}
}

/*
 * Send the acks still queued and read their replies (bounded by the connect
 * timeout). Not possible while a fetch is due: its reply comes first and may
 * take as long as it blocks; those messages stay unacknowledged (redelivered).
 */
static void redis_flush_acks(struct redis_ep *re)
{
	int64_t end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;

	if (!re->k.ctx || re->k.ctx->err || re->fetch_due)
		return;
	if (re->kind == REDIS_RELIABLE && re->ack_deferred && re->last &&
	    redis_append_lrem(re))
		return;
	if (re->kind == REDIS_STREAM && redis_append_xack(re))
		return;
	while (re->acks_due > 0) {
		redisReply *r;

		if (redis_read(&re->k, &r, end))
			return;
		re->acks_due--;
		freeReplyObject(r);
	}
}

static void redis_close(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	if (ep->role == IPCL_CONSUMER)
		redis_flush_acks(re);
	if (re->batch)
		freeReplyObject(re->batch);
	if (re->last)
		freeReplyObject(re->last);
	free(re->ids);
	free(re->argv);
	free(re->argvlen);
	redis_disconnect(&re->k);
	memset(re, 0, sizeof *re);
}

/* ---- teardown ------------------------------------------------------------ */

/* Delete the key, processing lists and stream, knowing only the address. */
static void redis_teardown(struct ipcl_chan *c)
{
	struct redis_conn k = {0};
	struct redis_addr a;
	char err[IPCL_ERR_MAX];

	if (redis_parse_addr(c->addr, &a, err) == 0 &&
	    redis_connect(&k, redis_addr_url(c, &a), a.ct_ms, IPCL_FOREVER, err) == 0)
		redis_delete_keys(&k, a.key, ipcl_now_ns() + a.ct_ms * 1000000LL);
	redis_disconnect(&k);
}

/*
 * The server's CPU time (server_cpu hook): INFO cpu, used_cpu_user +
 * used_cpu_sys (seconds with microseconds), over a connection of its own.
 */
static int redis_server_cpu(const struct ipcl_opts *o, int64_t *ns, char *err)
{
	struct redis_conn k = {0};
	struct redis_addr a = {0};
	redisReply *r = NULL;
	const char *u, *y;
	int rc;

	rc = redis_settings(o, &a, err);
	if (rc)
		return rc;
	rc = redis_connect(&k, ipcl_opt(o, redis_options, "url"), a.ct_ms, IPCL_FOREVER,
			   err);
	if (!rc)
		rc = redis_cmd(&k, ipcl_now_ns() + a.ct_ms * 1000000LL, &r, "INFO",
			       "INFO cpu");
	if (rc)
		goto out;
	u = r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_cpu_user:") : NULL;
	y = r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_cpu_sys:") : NULL;
	if (!u || !y) {
		rc = ipcl_seterr(err, IPCL_EPROTO, "redis %s: INFO cpu has no used_cpu_*",
				 k.shown);
		goto out;
	}
	*ns = (int64_t)((strtod(u + 14, NULL) + strtod(y + 13, NULL)) * 1e9);
out:
	if (r)
		freeReplyObject(r);
	redis_disconnect(&k);
	return rc;
}

#define REDIS_TRANSPORT(sym, tname, tsummary, tcaps, tprobe)                  \
	const struct ipcl_transport sym = {                                   \
	    .name = tname,                                                    \
	    .summary = tsummary,                                              \
	    .caps = (tcaps) | IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_NEEDS_SERVER | \
		    IPCL_CAP_CROSS_HOST | IPCL_CAP_MULTI_PRODUCER,            \
	    .ep_state_size = sizeof(struct redis_ep),                         \
	    .options = redis_options,                                         \
	    .server = "redis",                                                \
	    .probe = tprobe,                                                  \
	    .setup = redis_setup,                                             \
	    .teardown = redis_teardown,                                       \
	    .sweep = redis_sweep,                                             \
	    .open = redis_open,                                               \
	    .send = redis_send,                                               \
	    .recv = redis_recv,                                               \
	    .ack = redis_ack,                                                 \
	    .flush = redis_flush,                                             \
	    .acked = redis_acked,                                             \
	    .close = redis_close,                                             \
	    .server_cpu = redis_server_cpu,                                   \
	}

REDIS_TRANSPORT(ipcl_transport_redis_list, "redis-list",
		"Redis list: LPUSH / BRPOP (hiredis); at-most-once",
		IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE, redis_list_probe);
REDIS_TRANSPORT(ipcl_transport_redis_list_reliable, "redis-list-reliable",
		"Redis list, reliable queue: BLMOVE to a processing list, ack = LREM; "
		"at-least-once",
		IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE, redis_reliable_probe);
REDIS_TRANSPORT(
    ipcl_transport_redis_stream, "redis-stream",
    "Redis stream: XADD / XREADGROUP in a consumer group, XACK; at-least-once",
    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE, redis_stream_probe);
REDIS_TRANSPORT(ipcl_transport_redis_pubsub, "redis-pubsub",
		"Redis pub/sub: PUBLISH / SUBSCRIBE; fan-out, lost when not subscribed",
		IPCL_CAP_FANOUT | IPCL_CAP_LOSSY, redis_pubsub_probe);
