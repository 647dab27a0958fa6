/*
 * kv.c - redis-kv: Redis as a shared store, not a queue. The producer writes
 * one key per message and the consumer finds it, the way two services share
 * state through a cache. hiredis blocking API, through conn.h.
 *
 *   producer  seq=local: SET k:m:<n> payload [PX ttl] + SET k:seq n, pipelined
 *             (one round trip); seq=incr: INCR k:seq, then SET k:m:<n> (two
 *             round trips, several producers may share the channel).
 *   consumer  GETDEL k:m:<next>: the key is deleted as it is read. How it
 *             learns that the next key exists is the option notify=:
 *               poll      GETDEL again every poll_us until it is there;
 *               keyspace  a second connection PSUBSCRIBEs to the keyspace
 *                         notifications of k:m:* ("set" events), enabled with
 *                         CONFIG SET notify-keyspace-events at setup;
 *               list      the producer also RPUSHes the key's name to k:q in
 *                         the same write; the consumer BLPOPs a name, then
 *                         GETDELs that key (two round trips).
 *
 * k is "ipcl:<tag>" (unique per run and channel); every key of a channel starts
 * with "k:", so teardown (and a crashed run's cleanup) deletes them with one
 * SCAN; message keys also expire after ttl_ms (0: never).
 *
 * Left out: several consumers (each would need to claim keys), TLS, reconnects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <ipclab/transport.h>

#include "conn.h"

#define KV_MAX_DEFAULT (512LL << 20) /* proto-max-bulk-len when CONFIG is off */
#define KV_DRAIN_EVERY 64            /* keyspace: read notifications every N hits */

enum kv_notify { KV_POLL = 0, KV_KEYSPACE = 1, KV_LIST = 2 };
enum kv_seq { KV_LOCAL = 0, KV_INCR = 1 };

static const char *const kv_notify_names[] = {"poll", "keyspace", "list"};
static const char *const kv_seq_names[] = {"local", "incr"};

static const struct ipcl_option kv_options[] = {
    {"url", "",
     "server: redis://[[user]:password@]host[:port][/db] or "
     "redis+unix://[[user]:password@]/path[?db=N] (filled by the core)"},
    {"connect_timeout", "3", "seconds allowed to connect and run a setup command"},
    {"notify", "list",
     "how the consumer learns of a new key: poll (GETDEL until it is there), "
     "keyspace (keyspace notifications) or list (BLPOP on a list of key names)"},
    {"seq", "local",
     "message numbers: local (the producer counts; SET + SET k:seq in one round "
     "trip) or incr (INCR k:seq, then SET; several producers)"},
    {"ttl_ms", "600000", "message keys expire after this many ms (0: never)"},
    {"poll_us", "50", "notify=poll: pause between two GETDELs of a missing key"},
    {NULL, NULL, NULL},
};

/* Everything open() and teardown() need, parsed from chan->addr. */
struct kv_addr {
	char url[256]; /* password redacted (then the url option is used) */
	char key[128]; /* "ipcl:<tag>" */
	long long ct_ms, ttl_ms, poll_us, max, notify, seq;
};

struct kv_ep {
	struct kv_addr a;
	struct ipcl_redis k;   /* commands */
	struct ipcl_redis sub; /* notify=keyspace: the subscribed connection */
	long long next;        /* producer: last number written; consumer: next */
	long long seen;        /* keyspace: highest number announced by a "set" */
	int absent;            /* keyspace: k:m:<next> was missing at the last look */
	int pop_due;           /* list: a BLPOP whose reply is unread */
	unsigned hits;         /* keyspace: messages since the last drain */
};

/* ---- options and the address --------------------------------------------- */

static int kv_pick(const char *v, const char *const *names, int n, long long *out)
{
	for (int i = 0; i < n; i++)
		if (v && strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -1;
}

static int kv_settings(const struct ipcl_opts *o, struct kv_addr *a, char *err)
{
	const char *ct = ipcl_opt(o, kv_options, "connect_timeout");
	const char *nt = ipcl_opt(o, kv_options, "notify");
	const char *sq = ipcl_opt(o, kv_options, "seq");
	int rc;

	rc = ipcl_redis_timeout(ct, &a->ct_ms, err);
	if (rc)
		return rc;
	if (kv_pick(nt, kv_notify_names, 3, &a->notify))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option notify=%s: want poll, keyspace or list", nt);
	if (kv_pick(sq, kv_seq_names, 2, &a->seq))
		return ipcl_seterr(err, IPCL_EINVAL, "option seq=%s: want local or incr",
				   sq);
	rc = ipcl_opt_int(o, kv_options, "ttl_ms", 0, 1LL << 40, &a->ttl_ms, err);
	if (!rc)
		rc = ipcl_opt_int(o, kv_options, "poll_us", 0, 1000000, &a->poll_us, err);
	return rc;
}

static int kv_parse_addr(const char *addr, struct kv_addr *a, char *err)
{
	char end;
	int n = 0;

	memset(a, 0, sizeof *a);
	if (sscanf(addr,
		   "url=%255s key=%127s ct=%lld ttl=%lld poll=%lld max=%lld "
		   "notify=%lld seq=%lld%n%c",
		   a->url, a->key, &a->ct_ms, &a->ttl_ms, &a->poll_us, &a->max,
		   &a->notify, &a->seq, &n, &end) != 8 ||
	    strncmp(a->key, "ipcl:", 5) != 0 || a->ct_ms <= 0 || a->max <= 0 ||
	    a->notify < 0 || a->notify > KV_LIST || a->seq < 0 || a->seq > KV_INCR)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "redis-kv: malformed channel address '%.200s'", addr);
	return 0;
}

/* addr's URL, or the url option when addr's has its password redacted. */
static const char *kv_url(const struct ipcl_chan *c, const struct kv_addr *a)
{
	const char *opt = ipcl_opt(c->opts, kv_options, "url");

	if (strstr(a->url, ":***@") && opt && *opt)
		return opt;
	return a->url;
}

/* ---- server facts ---------------------------------------------------------- */

/* Do notify-keyspace-events flags deliver keyspace events for SET? */
static int kv_events_ok(const char *flags)
{
	return strchr(flags, 'K') && (strchr(flags, '$') || strchr(flags, 'A'));
}

/*
 * Everything the transport needs from the server: GETDEL (6.2), the message
 * limit, and for notify=keyspace the events (turned on when on is set and
 * CONFIG SET is allowed). IPCL_EUNAVAIL with the reason when it cannot work.
 */
static int kv_check_server(struct ipcl_redis *k, struct kv_addr *a, int64_t end, int on,
			   struct ipcl_probe *p)
{
	char ver[64], v[200], events[64];
	int num, refused = 0, rc;

	rc = ipcl_redis_version(k, end, ver, sizeof ver, &num);
	if (rc)
		return rc;
	if (p)
		ipcl_fact(p, "redis_version", "%s", ver);
	if (num && num < 602)
		return ipcl_seterr(
		    k->err, IPCL_EUNAVAIL,
		    "redis-kv: %s runs Redis %s; GETDEL needs 6.2 or later", k->shown,
		    ver);
	rc = ipcl_redis_config(k, "proto-max-bulk-len", v, sizeof v, end, NULL);
	if (rc)
		return rc;
	a->max = strcmp(v, "unknown") ? strtoll(v, NULL, 10) : KV_MAX_DEFAULT;
	if (p) {
		const char *names[][2] = {{"appendonly", "appendonly"},
					  {"appendfsync", "appendfsync"},
					  {"maxmemory-policy", "maxmemory_policy"}};

		for (size_t i = 0; i < 3; i++) {
			rc = ipcl_redis_config(k, names[i][0], v, sizeof v, end, NULL);
			if (rc)
				return rc;
			ipcl_fact(p, names[i][1], "%s", v);
		}
	}
	if (a->notify != KV_KEYSPACE)
		return 0;
	rc = ipcl_redis_config(k, "notify-keyspace-events", events, sizeof events, end,
			       &refused);
	if (rc)
		return rc;
	if (refused)
		return ipcl_seterr(k->err, IPCL_EUNAVAIL,
				   "redis-kv notify=keyspace: %s refuses CONFIG, so "
				   "notify-keyspace-events cannot be read or set",
				   k->shown);
	if (p)
		ipcl_fact(p, "notify_keyspace_events", "%s", events);
	if (kv_events_ok(events) || !on)
		return 0;
	/* Keep the flags the server has and add K (keyspace) and $ (strings). */
	snprintf(v, sizeof v, "%s%s%s", events, strchr(events, 'K') ? "" : "K",
		 strchr(events, '$') || strchr(events, 'A') ? "" : "$");
	rc = ipcl_redis_cmd(k, end, NULL, "CONFIG SET",
			    "CONFIG SET notify-keyspace-events %s", v);
	if (rc == IPCL_EBROKER)
		return ipcl_seterr(k->err, IPCL_EUNAVAIL,
				   "redis-kv notify=keyspace: %s refused CONFIG SET "
				   "notify-keyspace-events (it is '%s'; needs K and $)",
				   k->shown, events);
	return rc;
}

static int kv_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	struct ipcl_redis k = {0};
	struct kv_addr a = {0};
	int rc = kv_settings(o, &a, err);

	if (rc)
		return rc;
	rc = ipcl_redis_open(&k, ipcl_opt(o, kv_options, "url"), a.ct_ms, IPCL_FOREVER,
			     err);
	if (rc)
		goto out;
	ipcl_fact(p, "server", "%s", k.shown);
	ipcl_fact(p, "connection", "%s",
		  k.ctx->connection_type == REDIS_CONN_UNIX ? "unix" : "tcp");
	rc = kv_check_server(&k, &a, ipcl_now_ns() + a.ct_ms * 1000000LL, 0, p);
	if (rc)
		goto out;
	p->max_msg = (size_t)a.max;
	ipcl_fact(p, "notify", "%s", kv_notify_names[a.notify]);
	ipcl_fact(p, "seq", "%s", kv_seq_names[a.seq]);
	ipcl_fact(p, "ttl_ms", "%lld", a.ttl_ms);
	if (a.notify == KV_POLL)
		ipcl_fact(p, "poll_us", "%lld", a.poll_us);
	ipcl_fact(p, "producer_round_trips", "%d", a.seq == KV_INCR ? 2 : 1);
	ipcl_fact(p, "consumer_round_trips", "%s",
		  a.notify == KV_LIST ? "2 (BLPOP, GETDEL)"
		  : a.notify == KV_POLL
		      ? "1 per GETDEL, repeated while the key is missing"
		      : "1 (GETDEL) + a notification when it was missing");
	ipcl_fact(p, "delivery", "%s",
		  "at-most-once (GETDEL deletes as it reads); keys expire after ttl_ms");
	ipcl_fact(p, "hiredis", "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
out:
	ipcl_redis_close(&k);
	return rc;
}

/*
 * The server's CPU time (server_cpu hook, used for a server given by URL that
 * ipclab did not start): INFO cpu over a connection of its own.
 */
static int kv_server_cpu(const struct ipcl_opts *o, int64_t *ns, char *err)
{
	struct ipcl_redis k = {0};
	struct kv_addr a = {0};
	int rc = kv_settings(o, &a, err);

	if (rc)
		return rc;
	rc = ipcl_redis_open(&k, ipcl_opt(o, kv_options, "url"), a.ct_ms, IPCL_FOREVER,
			     err);
	if (!rc)
		rc = ipcl_redis_cpu_ns(&k, ipcl_now_ns() + a.ct_ms * 1000000LL, ns);
	ipcl_redis_close(&k);
	return rc;
}

/* ---- setup and teardown ------------------------------------------------------- */

static int kv_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	const char *tag = o->tag && *o->tag ? o->tag : "default";
	struct ipcl_redis k = {0};
	struct kv_addr a = {0};
	char prefix[160];
	int64_t end;
	int rc, n;

	rc = kv_settings(o, &a, c->err);
	if (rc)
		return rc;
	if (o->consumers > 1)
		return ipcl_seterr(c->err, IPCL_EINVAL,
				   "redis-kv: one consumer per channel (asked for %d)",
				   o->consumers);
	if (o->producers > 1 && a.seq != KV_INCR)
		return ipcl_seterr(c->err, IPCL_EINVAL,
				   "redis-kv: %d producers need -O seq=incr",
				   o->producers);
	if (strchr(tag, ' ') || strlen(tag) > 100)
		return ipcl_seterr(c->err, IPCL_EINVAL, "redis-kv: unusable tag '%.64s'",
				   tag);
	rc = ipcl_redis_open(&k, ipcl_opt(o, kv_options, "url"), a.ct_ms, IPCL_FOREVER,
			     c->err);
	if (rc)
		goto out;
	end = ipcl_now_ns() + a.ct_ms * 1000000LL;
	rc = kv_check_server(&k, &a, end, 1, NULL);
	if (rc)
		goto out;
	if ((long long)o->msg_size > a.max) {
		rc = ipcl_seterr(c->err, IPCL_ETOOBIG,
				 "%zu-byte messages: %s takes at most %lld bytes",
				 o->msg_size, k.shown, a.max);
		goto out;
	}
	snprintf(a.key, sizeof a.key, "ipcl:%s", tag);
	n = snprintf(c->addr, sizeof c->addr,
		     "url=%s key=%s ct=%lld ttl=%lld poll=%lld max=%lld notify=%lld "
		     "seq=%lld",
		     k.shown, a.key, a.ct_ms, a.ttl_ms, a.poll_us, a.max, a.notify,
		     a.seq);
	if (n < 0 || (size_t)n >= sizeof c->addr) {
		rc = ipcl_seterr(c->err, -ENAMETOOLONG, "redis-kv: address too long");
		goto out;
	}
	snprintf(prefix, sizeof prefix, "%s:", a.key);
	rc = ipcl_redis_delete_prefix(&k, prefix, end);
out:
	if (rc)
		c->addr[0] = 0;
	ipcl_redis_close(&k);
	return rc;
}

/* Delete every key of the channel ("ipcl:<tag>:*"), knowing only the address. */
static void kv_teardown(struct ipcl_chan *c)
{
	struct ipcl_redis k = {0};
	struct kv_addr a;
	char err[IPCL_ERR_MAX], prefix[160];

	if (kv_parse_addr(c->addr, &a, err) == 0 &&
	    ipcl_redis_open(&k, kv_url(c, &a), a.ct_ms, IPCL_FOREVER, err) == 0) {
		snprintf(prefix, sizeof prefix, "%s:", a.key);
		if (ipcl_redis_delete_prefix(&k, prefix,
					     ipcl_now_ns() + a.ct_ms * 1000000LL))
			snprintf(c->err, sizeof c->err, "%s", err);
	}
	ipcl_redis_close(&k);
}

/* ---- endpoints ------------------------------------------------------------------- */

/* An integer reply (or a numeric string, or nil = 0) into *out; frees r. */
static int kv_int_reply(struct kv_ep *e, redisReply *r, long long *out, const char *what)
{
	int ok = 1;

	if (r->type == REDIS_REPLY_INTEGER)
		*out = r->integer;
	else if (r->type == REDIS_REPLY_STRING)
		*out = strtoll(r->str, NULL, 10);
	else if (r->type == REDIS_REPLY_NIL)
		*out = 0;
	else
		ok = 0;
	freeReplyObject(r);
	return ok ? 0
		  : ipcl_seterr(e->k.err, IPCL_EPROTO, "redis %s: odd %s reply",
				e->k.shown, what);
}

/* The number at the end of "...:m:<n>", or -1. */
static long long kv_key_seq(const char *s, size_t len)
{
	const char *p = s + len;

	while (p > s && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p == s + len || p - s < 3 || p[-1] != ':' || p[-2] != 'm')
		return -1;
	return strtoll(p, NULL, 10);
}

/*
 * Consumer: where to start. The lowest message key still there, else the
 * number after the last one written. Read the counter first: a key written in
 * between is then found by the SCAN.
 */
static int kv_position(struct kv_ep *e, int64_t deadline_ns)
{
	char cursor[32] = "0", pattern[200];
	long long seq = 0, low = -1;
	redisReply *r;
	int rc = ipcl_redis_cmd(&e->k, deadline_ns, &r, "GET", "GET %s:seq", e->a.key);

	if (rc || (rc = kv_int_reply(e, r, &seq, "GET")))
		return rc;
	snprintf(pattern, sizeof pattern, "%s:m:*", e->a.key);
	do {
		rc = ipcl_redis_scan(&e->k, deadline_ns, cursor, sizeof cursor, pattern,
				     &r);
		if (rc)
			return rc;
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *x = r->element[1]->element[i];
			long long n = x->type == REDIS_REPLY_STRING
					  ? kv_key_seq(x->str, x->len)
					  : -1;

			if (n > 0 && (low < 0 || n < low))
				low = n;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	e->next = low > 0 ? low : seq + 1;
	return 0;
}

/* Consumer, notify=keyspace: subscribe to the "set" events of our message keys. */
static int kv_subscribe(struct ipcl_ep *ep, const char *url, int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;
	char pattern[300];
	size_t n = 0;
	redisReply *r;
	int rc = ipcl_redis_open(&e->sub, url, e->a.ct_ms, deadline_ns, ep->err);

	if (rc)
		return rc;
	n = (size_t)snprintf(pattern, sizeof pattern, "__keyspace@%d__:", e->sub.db);
	for (const char *s = e->a.key; *s && n + 8 < sizeof pattern; s++) {
		if (strchr("*?[]\\", *s))
			pattern[n++] = '\\';
		pattern[n++] = *s;
	}
	snprintf(pattern + n, sizeof pattern - n, ":m:*");
	rc = ipcl_redis_cmd(&e->sub, deadline_ns, &r, "PSUBSCRIBE", "PSUBSCRIBE %s",
			    pattern);
	if (rc)
		return rc;
	freeReplyObject(r); /* the confirmation */
	return 0;
}

static int kv_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;
	const char *url;
	redisReply *r;
	int rc;

	e->k.err = e->sub.err = ep->err;
	rc = kv_parse_addr(ep->chan->addr, &e->a, ep->err);
	if (rc)
		return rc;
	url = kv_url(ep->chan, &e->a);
	rc = ipcl_redis_open(&e->k, url, e->a.ct_ms, deadline_ns, ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_PRODUCER) {
		if (e->a.seq == KV_INCR)
			return 0;
		/* seq=local: continue after the last number a producer wrote. */
		rc =
		    ipcl_redis_cmd(&e->k, deadline_ns, &r, "GET", "GET %s:seq", e->a.key);
		return rc ? rc : kv_int_reply(e, r, &e->next, "GET");
	}
	if (e->a.notify == KV_KEYSPACE) {
		rc = kv_subscribe(ep, url, deadline_ns);
		if (rc)
			return rc;
	}
	return e->a.notify == KV_LIST ? 0 : kv_position(e, deadline_ns);
}

/* Producer: write message n (and its number, and its name to the list). */
static int kv_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;
	redisContext *ctx = e->k.ctx;
	char key[200];
	long long n;
	int rc, replies = 1;

	if ((long long)len > e->a.max)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "redis-kv: a %zu-byte message, %s takes at most %lld",
				   len, e->k.shown, e->a.max);
	if (e->a.seq == KV_INCR) {
		redisReply *r;

		rc = ipcl_redis_cmd(&e->k, deadline_ns, &r, "INCR", "INCR %s:seq",
				    e->a.key);
		if (rc || (rc = kv_int_reply(e, r, &n, "INCR")))
			return rc;
	} else {
		n = e->next + 1;
	}
	snprintf(key, sizeof key, "%s:m:%lld", e->a.key, n);
	rc = e->a.ttl_ms ? redisAppendCommand(ctx, "SET %s %b PX %lld", key, msg, len,
					      e->a.ttl_ms)
			 : redisAppendCommand(ctx, "SET %s %b", key, msg, len);
	if (rc == REDIS_OK && e->a.seq == KV_LOCAL) {
		rc = redisAppendCommand(ctx, "SET %s:seq %lld", e->a.key, n);
		replies++;
	}
	if (rc == REDIS_OK && e->a.notify == KV_LIST) {
		rc = redisAppendCommand(ctx, "RPUSH %s:q %s", e->a.key, key);
		replies++;
	}
	if (rc != REDIS_OK)
		return ipcl_redis_fail(&e->k, "append");
	e->next = n;
	/* Every reply is read: the message counts as handed over once all came. */
	for (int i = 0; i < replies; i++) {
		redisReply *r;

		rc = ipcl_redis_read(&e->k, &r, deadline_ns);
		if (rc)
			return rc;
		if (r->type == REDIS_REPLY_ERROR) {
			rc = ipcl_seterr(ep->err, IPCL_EBROKER, "redis %s: SET: %.*s",
					 e->k.shown, (int)r->len, r->str);
			freeReplyObject(r);
			return rc;
		}
		freeReplyObject(r);
	}
	return 0;
}

/*
 * notify=keyspace: take the notifications that are there (wait until deadline
 * for one when block is set) and note the highest message number set.
 * 0, -ETIMEDOUT, or a connection error.
 */
static int kv_events(struct kv_ep *e, int block, int64_t deadline_ns)
{
	for (;;) {
		void *v = NULL;
		redisReply *r;
		int rc;

		if (redisGetReplyFromReader(e->sub.ctx, &v) != REDIS_OK)
			return ipcl_redis_fail(&e->sub, "read");
		if (!v && block && e->seen < e->next) {
			rc = ipcl_redis_read(&e->sub, &r, deadline_ns);
			if (rc)
				return rc;
			v = r;
		} else if (!v) {
			struct pollfd pfd = {.fd = e->sub.ctx->fd, .events = POLLIN};

			do
				rc = poll(&pfd, 1, 0);
			while (rc < 0 && errno == EINTR);
			if (rc <= 0)
				return 0;
			if (redisBufferRead(e->sub.ctx) != REDIS_OK)
				return ipcl_redis_fail(&e->sub, "read");
			continue;
		}
		r = v;
		/* ["pmessage", pattern, "__keyspace@0__:<key>:m:<n>", event] */
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
		    r->element[2]->type == REDIS_REPLY_STRING &&
		    r->element[3]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[3]->str, "set") == 0) {
			long long n = kv_key_seq(r->element[2]->str, r->element[2]->len);

			if (n > e->seen)
				e->seen = n;
		}
		freeReplyObject(r);
	}
}

/* GETDEL key: 1 with the payload copied, 0 when the key is not there. */
static int kv_take(struct ipcl_ep *ep, const char *key, void *buf, size_t cap,
		   size_t *len, int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;
	redisReply *r;
	int rc = ipcl_redis_cmd(&e->k, deadline_ns, &r, "GETDEL", "GETDEL %s", key);

	if (rc)
		return rc;
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return 0;
	}
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return ipcl_seterr(ep->err, IPCL_EPROTO, "redis %s: odd GETDEL reply",
				   e->k.shown);
	}
	if (r->len > cap) {
		*len = r->len;
		freeReplyObject(r);
		return ipcl_seterr(
		    ep->err, IPCL_ETRUNC,
		    "redis-kv: %zu-byte message, buffer of %zu bytes (lost: "
		    "GETDEL deleted it)",
		    *len, cap);
	}
	memcpy(buf, r->str, r->len);
	*len = r->len;
	freeReplyObject(r);
	return 1;
}

/* notify=list: BLPOP a key name, then take that key. */
static int kv_recv_list(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;

	for (;;) {
		char key[200];
		redisReply *r;
		int rc;

		if (!e->pop_due) {
			long long ms = 0;

			if (deadline_ns != IPCL_FOREVER) {
				ms = (deadline_ns - ipcl_now_ns() + 999999) / 1000000;
				if (ms < 1)
					ms = 1;
			}
			/* BLPOP takes seconds, with decimals since Redis 6.0. */
			if (redisAppendCommand(e->k.ctx, "BLPOP %s:q %lld.%03lld",
					       e->a.key, ms / 1000,
					       ms % 1000) != REDIS_OK)
				return ipcl_redis_fail(&e->k, "append BLPOP");
			e->pop_due = 1;
		}
		/* At the deadline the BLPOP stays due: its reply is read next time. */
		rc = ipcl_redis_read(&e->k, &r, deadline_ns);
		if (rc)
			return rc;
		e->pop_due = 0;
		if (r->type == REDIS_REPLY_NIL) {
			freeReplyObject(r);
			if (ipcl_now_ns() >= deadline_ns)
				return -ETIMEDOUT;
			continue;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[1]->type != REDIS_REPLY_STRING ||
		    r->element[1]->len >= sizeof key) {
			freeReplyObject(r);
			return ipcl_seterr(ep->err, IPCL_EPROTO,
					   "redis %s: odd BLPOP reply", e->k.shown);
		}
		snprintf(key, sizeof key, "%s", r->element[1]->str);
		freeReplyObject(r);
		rc = kv_take(ep, key, buf, cap, len, deadline_ns);
		if (rc)
			return rc < 0 ? rc : 0;
		/* The name outlived its key (expired after ttl_ms): lost, go on. */
	}
}

static int kv_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		   int64_t deadline_ns)
{
	struct kv_ep *e = ep->state;
	char key[200];

	if (e->a.notify == KV_LIST)
		return kv_recv_list(ep, buf, cap, len, deadline_ns);
	for (;;) {
		int rc;

		if (e->a.notify == KV_KEYSPACE && e->absent) {
			/* Missing at the last look: wait for a "set" of it or later. */
			rc = kv_events(e, 1, deadline_ns);
			if (rc)
				return rc;
			e->absent = 0;
		}
		snprintf(key, sizeof key, "%s:m:%lld", e->a.key, e->next);
		rc = kv_take(ep, key, buf, cap, len, deadline_ns);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			e->next++;
			/* Keep the subscriber's buffer in the server short. */
			if (e->a.notify == KV_KEYSPACE && ++e->hits % KV_DRAIN_EVERY == 0)
				return kv_events(e, 0, deadline_ns);
			return 0;
		}
		if (ipcl_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		if (e->a.notify == KV_KEYSPACE) {
			e->absent = 1;
		} else if (e->a.poll_us) {
			int64_t left = deadline_ns - ipcl_now_ns(),
				ns = e->a.poll_us * 1000;

			if (left < ns)
				ns = left > 0 ? left : 0;
			nanosleep(&(struct timespec){ns / 1000000000, ns % 1000000000},
				  NULL);
		}
	}
}

static void kv_close(struct ipcl_ep *ep)
{
	struct kv_ep *e = ep->state;

	ipcl_redis_close(&e->k);
	ipcl_redis_close(&e->sub);
}

const struct ipcl_transport ipcl_transport_redis_kv = {
    .name = "redis-kv",
    .summary = "Redis as a shared store: SET a key per message, GETDEL it; "
	       "notify = poll, keyspace notifications or a list of key names",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_NEEDS_SERVER | IPCL_CAP_CROSS_HOST |
	    IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct kv_ep),
    .options = kv_options,
    .server = "redis",
    .probe = kv_probe,
    .setup = kv_setup,
    .teardown = kv_teardown,
    .open = kv_open,
    .send = kv_send,
    .recv = kv_recv,
    .close = kv_close,
    .server_cpu = kv_server_cpu,
};
