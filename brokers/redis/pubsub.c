/*
 * pubsub.c - redis-pubsub: Redis PUBLISH / SUBSCRIBE, with hiredis's blocking
 * API (0.14; the connection is conn.h's, what the Redis queues share is
 * queue.h's).
 *
 *   producer  PUBLISH <key> <msg>, pipelined, one writev() per message. With
 *             wait_subscribers=1 open() first waits (PUBSUB NUMSUB every 2 ms)
 *             until every consumer of the run is subscribed.
 *   consumer  SUBSCRIBE <key> at open (its confirmation proves it), then reads
 *             the pushes. With wait_subscribers=0 it subscribes 50 ms after the
 *             start instead: a real late join, what came before is lost.
 *
 * Every subscriber gets every message published while it is subscribed; the
 * server keeps nothing (at-most-once, lossy) and PUBLISH never waits: a
 * subscriber that falls behind by client-output-buffer-limit pubsub is
 * disconnected (recv() then says so). The largest message is that limit less
 * the push's overhead, or proto-max-bulk-len.
 *
 * Left out: pattern subscriptions (PSUBSCRIBE), sharded pub/sub (7.0 SPUBLISH),
 * RESP3 push frames, TLS, reconnecting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <ipclab/transport.h>

#include "queue.h"

#define PUBSUB_LATE_JOIN_MS 50 /* wait_subscribers=0: subscribe this long after start */

/* ---- probe (setup and teardown: queue.c) ---------------------------------- */

static int pubsub_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return ipcl_redisq_probe(o, p, err, REDIS_PUBSUB);
}

/* ---- open ----------------------------------------------------------------- */

/*
 * Producer: wait until the channel has as many subscribers as the run has
 * consumers (PUBSUB NUMSUB, every 2 ms), so that nothing is published into
 * the void at the start. Bounded by the open deadline.
 */
static int pubsub_wait_subscribers(struct redis_ep *re, int64_t deadline_ns)
{
	for (;;) {
		int64_t end = ipcl_now_ns() + re->a.ct_ms * 1000000LL;
		long long n = -1;
		redisReply *r;
		int rc;

		rc = ipcl_redis_cmd(&re->k, deadline_ns < end ? deadline_ns : end, &r,
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

/* Consumer: SUBSCRIBE; its confirmation proves we are subscribed. */
static int pubsub_subscribe(struct redis_ep *re, int64_t deadline_ns)
{
	redisReply *r;
	int rc = ipcl_redis_cmd(&re->k, deadline_ns, &r, "SUBSCRIBE", "SUBSCRIBE %s",
				re->a.key);

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

static int pubsub_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	int64_t end;
	int rc = ipcl_redisq_connect(ep, REDIS_PUBSUB, deadline_ns, &end);

	if (rc)
		return rc;
	if (ep->role == IPCL_PRODUCER)
		return re->a.subs > 0 ? pubsub_wait_subscribers(re, deadline_ns) : 0;
	/* wait_subscribers=0: a late joiner subscribes in its first recv(). */
	re->late = re->a.subs == 0;
	return re->late ? 0 : pubsub_subscribe(re, end);
}

/* ---- send: PUBLISH (queue.c) ---------------------------------------------- */

/* ---- recv ----------------------------------------------------------------- */

static int pubsub_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		       int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;

	if (re->late) {
		/*
		 * The producers started at the barrier: join PUBSUB_LATE_JOIN_MS
		 * later, so what they published meanwhile never reaches this
		 * subscriber (a real late join, not a race with the first PUBLISH).
		 */
		int rc;

		nanosleep(&(struct timespec){0, PUBSUB_LATE_JOIN_MS * 1000000L}, NULL);
		rc = pubsub_subscribe(re, ipcl_now_ns() + re->a.ct_ms * 1000000LL);
		if (rc)
			return rc;
		re->late = 0;
	}
	for (;;) {
		redisReply *r;
		int rc = ipcl_redis_read(&re->k, &r, deadline_ns);

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
			rc = ipcl_redisq_copy(re, r->element[2], buf, cap, len);
			freeReplyObject(r);
			return rc;
		}
		freeReplyObject(r); /* (un)subscribe confirmations and the like */
	}
}

/* ---- close ---------------------------------------------------------------- */

static void pubsub_close(struct ipcl_ep *ep)
{
	ipcl_redisq_close(ep, NULL);
}

/*
 * No ack() and no acked(): PUBLISH's reply only counts the subscribers the
 * message was queued to, which says nothing about its delivery.
 */
const struct ipcl_transport ipcl_transport_redis_pubsub = {
    .name = "redis-pubsub",
    .summary = "Redis pub/sub: PUBLISH / SUBSCRIBE; fan-out, lost when not subscribed",
    .caps = IPCL_CAP_FANOUT | IPCL_CAP_LOSSY | IPCL_CAP_MSG_BOUNDARY |
	    IPCL_CAP_NEEDS_SERVER | IPCL_CAP_CROSS_HOST | IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct redis_ep),
    .options = ipcl_redisq_options,
    .server = "redis",
    .probe = pubsub_probe,
    .setup = ipcl_redisq_setup,
    .teardown = ipcl_redisq_teardown,
    .sweep = ipcl_redisq_sweep,
    .open = pubsub_open,
    .send = ipcl_redisq_send,
    .recv = pubsub_recv,
    .flush = ipcl_redisq_flush,
    .close = pubsub_close,
    .server_cpu = ipcl_redisq_server_cpu,
};
