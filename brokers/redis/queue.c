/*
 * queue.c - what the four Redis queue transports share (queue.h): options,
 * the channel address, probe, setup, the producer's pipelined send, the
 * consumer's blocking fetch, close and teardown. hiredis 0.14 through conn.h.
 *
 * Producers pipeline: send() writes the command at once (conn.h's RESP writer:
 * one writev() from the caller's buffer), and waits for a reply only when
 * `pipeline` commands are unanswered (1: every send waits for its own reply);
 * flush() reads every reply. Consumers block in the server (BRPOP, BLMOVE,
 * XREADGROUP BLOCK) for the time left before the deadline; with IPCL_FOREVER
 * they block with no timeout and the hot path is one write and one read. A
 * finite deadline poll()s the socket first; a blocking command still
 * unanswered at the deadline stays due, and the next recv() takes its reply,
 * so a message that arrives at the deadline is never dropped. Acks travel in
 * the same write as the next fetch.
 *
 * Limits: proto-max-bulk-len a message (512 MiB by default, read with CONFIG
 * GET); for pub/sub also client-output-buffer-limit pubsub.
 *
 * Left out: TLS (rediss://), RESP3, Cluster and Sentinel, reconnecting after
 * the server went away (the error is reported; the harness decides).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <ipclab/transport.h>

#include "queue.h"

#define REDIS_MAX_DEFAULT   (512LL << 20) /* proto-max-bulk-len when CONFIG is off */
#define REDIS_PUSH_OVERHEAD 1024 /* bytes of a pub/sub push besides the payload */

const struct ipcl_option ipcl_redisq_options[] = {
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

/* ---- options, limits and the channel address ----------------------------- */

static int redis_settings(const struct ipcl_opts *o, struct redis_addr *a, char *err)
{
	const char *ct = ipcl_opt(o, ipcl_redisq_options, "connect_timeout");
	int rc;

	rc = ipcl_redis_timeout(ct, &a->ct_ms, err);
	if (rc)
		return rc;
	rc = ipcl_opt_int(o, ipcl_redisq_options, "pipeline", 1, 100000, &a->pipeline,
			  err);
	if (!rc)
		rc = ipcl_opt_int(o, ipcl_redisq_options, "count", 1, 100000, &a->count,
				  err);
	if (!rc)
		rc = ipcl_opt_int(o, ipcl_redisq_options, "recover", 0, 1, &a->recover,
				  err);
	if (!rc)
		rc = ipcl_opt_int(o, ipcl_redisq_options, "claim_idle_ms", 0, 1LL << 40,
				  &a->claim_ms, err);
	if (!rc)
		rc = ipcl_opt_int(o, ipcl_redisq_options, "wait_subscribers", 0, 1,
				  &a->wait_subs, err);
	return rc;
}

/* The pubsub class's hard limit from client-output-buffer-limit (0: none). */
static long long redis_pubsub_limit(const char *cobl)
{
	const char *p = strstr(cobl, "pubsub ");

	return p ? strtoll(p + 7, NULL, 10) : 0;
}

/* The largest message the server takes for this kind of transport. */
static int redis_limit(struct ipcl_redis *k, enum redis_kind kind, int64_t deadline_ns,
		       long long *max)
{
	char v[200];
	long long hard;
	int rc =
	    ipcl_redis_config(k, "proto-max-bulk-len", v, sizeof v, deadline_ns, NULL);

	if (rc)
		return rc;
	*max = strcmp(v, "unknown") ? strtoll(v, NULL, 10) : REDIS_MAX_DEFAULT;
	if (kind != REDIS_PUBSUB)
		return 0;
	rc = ipcl_redis_config(k, "client-output-buffer-limit", v, sizeof v, deadline_ns,
			       NULL);
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
	const char *opt = ipcl_opt(c->opts, ipcl_redisq_options, "url");

	if (strstr(a->url, ":***@") && opt && *opt)
		return opt;
	return a->url;
}

/* Delete key and every "key:*" (processing lists); bounded by deadline. */
static int redis_delete_keys(struct ipcl_redis *k, const char *key, int64_t deadline_ns)
{
	char prefix[160];
	int rc = ipcl_redis_cmd(k, deadline_ns, NULL, "DEL", "DEL %s", key);

	snprintf(prefix, sizeof prefix, "%s:", key);
	return rc ? rc : ipcl_redis_delete_prefix(k, prefix, deadline_ns);
}

/* ---- probe and setup ------------------------------------------------------ */

int ipcl_redisq_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
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
	struct ipcl_redis k = {0};
	struct redis_addr a = {0};
	char v[200], aof[200] = "", fsync[200] = "";
	int64_t end;
	long long max;
	int rc, num;

	rc = redis_settings(o, &a, err);
	if (rc)
		return rc;
	rc = ipcl_redis_open(&k, ipcl_opt(o, ipcl_redisq_options, "url"), a.ct_ms,
			     IPCL_FOREVER, err);
	if (rc)
		goto out;
	end = ipcl_now_ns() + a.ct_ms * 1000000LL;
	ipcl_fact(p, "server", "%s", k.shown);
	ipcl_fact(p, "connection", "%s",
		  k.ctx->connection_type == REDIS_CONN_UNIX ? "unix" : "tcp");
	rc = ipcl_redis_version(&k, end, v, sizeof v, &num);
	if (rc)
		goto out;
	if (strcmp(v, "unknown"))
		ipcl_fact(p, "redis_version", "%s", v);
	for (size_t i = 0; i < sizeof config / sizeof config[0]; i++) {
		rc = ipcl_redis_config(&k, config[i][0], v, sizeof v, end, NULL);
		if (rc)
			goto out;
		ipcl_fact(p, config[i][1], "%s", v);
		if (i == 0)
			snprintf(aof, sizeof aof, "%s", v);
		if (i == 1)
			snprintf(fsync, sizeof fsync, "%s", v);
	}
	if (kind == REDIS_PUBSUB) {
		rc = ipcl_redis_config(&k, "client-output-buffer-limit", v, sizeof v, end,
				       NULL);
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
	ipcl_redis_close(&k);
	return rc;
}

/*
 * Check the server and the message size, start from an empty key (and, for a
 * stream, create it with its consumer group), and write the address.
 */
int ipcl_redisq_setup(struct ipcl_chan *c)
{
	enum redis_kind kind = redis_kind_of(c->t);
	const char *url = ipcl_opt(c->opts, ipcl_redisq_options, "url");
	const char *tag = c->opts->tag && *c->opts->tag ? c->opts->tag : "default";
	struct ipcl_redis k = {0};
	struct redis_addr a = {0};
	int64_t end;
	int rc, n;

	rc = redis_settings(c->opts, &a, c->err);
	if (rc)
		return rc;
	rc = ipcl_redis_open(&k, url, a.ct_ms, IPCL_FOREVER, c->err);
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
		rc = ipcl_redis_cmd(&k, end, NULL, "XGROUP CREATE",
				    "XGROUP CREATE %s %s 0 MKSTREAM", a.key, REDIS_GROUP);
		if (rc)
			goto fail;
	}
	ipcl_redis_close(&k);
	return 0;
fail:
	ipcl_redis_close(&k);
	c->addr[0] = 0;
	return rc;
}

/* ---- endpoints ------------------------------------------------------------ */

int ipcl_redisq_connect(struct ipcl_ep *ep, enum redis_kind kind, int64_t deadline_ns,
			int64_t *end)
{
	struct redis_ep *re = ep->state;
	int rc;

	re->kind = kind;
	re->k.err = ep->err;
	rc = redis_parse_addr(ep->chan->addr, &re->a, ep->err);
	if (rc)
		return rc;
	rc = ipcl_redis_open(&re->k, redis_addr_url(ep->chan, &re->a), re->a.ct_ms,
			     deadline_ns, ep->err);
	if (rc)
		return rc;
	*end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;
	if (deadline_ns < *end)
		*end = deadline_ns;
	return 0;
}

/* Producer: read one reply of a pipelined command. */
static int redis_take(struct redis_ep *re, int64_t deadline_ns)
{
	redisReply *r;
	int rc = ipcl_redis_read(&re->k, &r, deadline_ns);

	if (rc)
		return rc;
	re->inflight--;
	if (r->type == REDIS_REPLY_ERROR)
		return ipcl_redis_reply_error(&re->k, r,
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
int64_t ipcl_redisq_acked(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	return re->kind == REDIS_PUBSUB ? -1 : re->replied;
}

/*
 * Write the producer's command for one message (LPUSH key msg, XADD key * d
 * msg, PUBLISH key msg) with conn.h's RESP writer: one writev() of the header,
 * the caller's buffer and "\r\n". 0, or a connection error.
 */
static int redis_write_command(struct redis_ep *re, const void *msg, size_t len)
{
	const char *xadd[] = {"XADD", re->a.key, "*", "d"};
	const char *publish[] = {"PUBLISH", re->a.key};
	const char *lpush[] = {"LPUSH", re->a.key};

	switch (re->kind) {
	case REDIS_STREAM:
		return ipcl_redis_write_msg(&re->k, xadd, 4, msg, len);
	case REDIS_PUBSUB:
		return ipcl_redis_write_msg(&re->k, publish, 2, msg, len);
	default:
		return ipcl_redis_write_msg(&re->k, lpush, 2, msg, len);
	}
}

/*
 * Hand one message to the server. Waits first (by deadline) while `pipeline`
 * commands are unanswered, so -ETIMEDOUT means this message was not sent. An
 * error reply may belong to an earlier message of the pipeline.
 */
int ipcl_redisq_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
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
	rc = redis_write_command(re, msg, len);
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
int ipcl_redisq_flush(struct ipcl_ep *ep, int64_t deadline_ns)
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

/* How long a blocking command may wait in the server: 0 = for ever, else >= 1 ms. */
static long long redis_block_ms(int64_t deadline_ns)
{
	long long ms;

	if (deadline_ns == IPCL_FOREVER)
		return 0;
	ms = (long long)((deadline_ns - ipcl_now_ns() + 999999) / 1000000);
	return ms < 1 ? 1 : ms;
}

/* Consumer: append the kind's acks and blocking fetch; one write sends them. */
static int redis_fetch(struct redis_ep *re, redis_fetch_fn fetch, int64_t deadline_ns)
{
	long long ms = redis_block_ms(deadline_ns);
	char secs[32]; /* BRPOP and friends take seconds, with decimals since 6.0 */
	int rc;

	snprintf(secs, sizeof secs, "%lld.%03lld", ms / 1000, ms % 1000);
	rc = fetch(re, secs, ms);
	if (rc)
		return rc;
	re->fetch_due = 1;
	return 0;
}

/* Consumer: read the acks' replies, then the fetch's (*out: caller frees). */
static int redis_fetch_reply(struct redis_ep *re, redisReply **out, int64_t deadline_ns)
{
	redisReply *r;
	int rc;

	while (re->acks_due > 0) {
		rc = ipcl_redis_read(&re->k, &r, deadline_ns);
		if (rc)
			return rc;
		re->acks_due--;
		if (r->type == REDIS_REPLY_ERROR)
			return ipcl_redis_reply_error(&re->k, r, "ack");
		freeReplyObject(r);
	}
	rc = ipcl_redis_read(&re->k, &r, deadline_ns);
	if (rc)
		return rc;
	re->fetch_due = 0;
	if (r->type == REDIS_REPLY_ERROR)
		return ipcl_redis_reply_error(&re->k, r, "fetch");
	*out = r;
	return 0;
}

int ipcl_redisq_fetch_next(struct redis_ep *re, redis_fetch_fn fetch, redisReply **out,
			   int64_t deadline_ns)
{
	for (;;) {
		redisReply *r = NULL;
		int rc;

		if (!re->fetch_due) {
			rc = redis_fetch(re, fetch, deadline_ns);
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
int ipcl_redisq_copy(struct redis_ep *re, const redisReply *v, void *buf, size_t cap,
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

int ipcl_redisq_bad_reply(struct redis_ep *re, redisReply *r, const char *what)
{
	freeReplyObject(r);
	return ipcl_seterr(re->k.err, IPCL_EPROTO, "redis %s: odd %s reply", re->k.shown,
			   what);
}

/*
 * Send the acks still queued and read their replies (bounded by the connect
 * timeout). Not possible while a fetch is due: its reply comes first and may
 * take as long as it blocks; those messages stay unacknowledged (redelivered).
 */
static void redis_flush_acks(struct redis_ep *re, redis_acks_fn acks)
{
	int64_t end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;

	if (!re->k.ctx || re->k.ctx->err || re->fetch_due)
		return;
	if (acks && acks(re))
		return;
	while (re->acks_due > 0) {
		redisReply *r;

		if (ipcl_redis_read(&re->k, &r, end))
			return;
		re->acks_due--;
		freeReplyObject(r);
	}
}

void ipcl_redisq_close(struct ipcl_ep *ep, redis_acks_fn acks)
{
	struct redis_ep *re = ep->state;

	if (ep->role == IPCL_CONSUMER)
		redis_flush_acks(re, acks);
	if (re->batch)
		freeReplyObject(re->batch);
	if (re->last)
		freeReplyObject(re->last);
	free(re->ids);
	free(re->argv);
	free(re->argvlen);
	ipcl_redis_close(&re->k);
	memset(re, 0, sizeof *re);
}

/* ---- teardown ------------------------------------------------------------ */

/* Delete the key, processing lists and stream, knowing only the address. */
void ipcl_redisq_teardown(struct ipcl_chan *c)
{
	struct ipcl_redis k = {0};
	struct redis_addr a;
	char err[IPCL_ERR_MAX];

	if (redis_parse_addr(c->addr, &a, err) == 0 &&
	    ipcl_redis_open(&k, redis_addr_url(c, &a), a.ct_ms, IPCL_FOREVER, err) == 0)
		redis_delete_keys(&k, a.key, ipcl_now_ns() + a.ct_ms * 1000000LL);
	ipcl_redis_close(&k);
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
int ipcl_redisq_sweep(const char *url, int dry, int (*dead)(long pid),
		      void (*seen)(void *arg, const char *name), void *arg, char *err)
{
	int64_t deadline = ipcl_now_ns() + 30 * 1000000000LL;
	struct ipcl_redis k = {0};
	char cursor[32] = "0", name[300];
	int rc, n = 0;

	rc = ipcl_redis_open(&k, url, 3000, deadline, err);
	while (!rc) {
		redisReply *r;

		rc = ipcl_redis_scan(&k, deadline, cursor, sizeof cursor, "ipcl:*", &r);
		if (rc)
			break;
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
				rc = ipcl_redis_cmd(&k, deadline, NULL, "DEL", "DEL %b",
						    e->str, e->len);
		}
		freeReplyObject(r);
		if (!strcmp(cursor, "0"))
			break;
	}
	ipcl_redis_close(&k);
	return rc ? rc : n;
}

/*
 * The server's CPU time (server_cpu hook): INFO cpu, used_cpu_user +
 * used_cpu_sys (seconds with microseconds), over a connection of its own.
 */
int ipcl_redisq_server_cpu(const struct ipcl_opts *o, int64_t *ns, char *err)
{
	struct ipcl_redis k = {0};
	struct redis_addr a = {0};
	redisReply *r = NULL;
	const char *u, *y;
	int rc;

	rc = redis_settings(o, &a, err);
	if (rc)
		return rc;
	rc = ipcl_redis_open(&k, ipcl_opt(o, ipcl_redisq_options, "url"), a.ct_ms,
			     IPCL_FOREVER, err);
	if (!rc)
		rc = ipcl_redis_cmd(&k, ipcl_now_ns() + a.ct_ms * 1000000LL, &r, "INFO",
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
	ipcl_redis_close(&k);
	return rc;
}
