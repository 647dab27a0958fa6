/*
 * list.c - two transports over a Redis list, with hiredis's blocking API
 * (0.14; the connection is conn.h's, what the Redis queues share is queue.h's).
 *
 *   redis-list           LPUSH / BRPOP (BLMPOP COUNT n with count > 1): a message
 *                        popped is gone, so delivery is at-most-once.
 *   redis-list-reliable  LPUSH / BLMOVE into this consumer's processing list
 *                        "<key>:proc:<index>"; ack() removes it there (LREM),
 *                        sent with the next fetch: at-least-once. At open
 *                        (recover=1) what a crashed consumer of the same index
 *                        left there is moved back to the queue first.
 *
 * Producers write LPUSH with one writev() from the caller's buffer and
 * pipeline up to `pipeline` commands (queue.c); consumers block in the server
 * for the time left before the deadline, and a blocked command still
 * unanswered at the deadline stays due for the next recv().
 *
 * Limits: proto-max-bulk-len a message. Left out: TLS, RESP3, Cluster,
 * reconnecting; a reliable consumer index that never comes back leaves its
 * processing list to the next run's teardown.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <ipclab/transport.h>

#include "queue.h"

/* ---- probe (setup and teardown: queue.c) ---------------------------------- */

static int list_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return ipcl_redisq_probe(o, p, err, REDIS_LIST);
}

static int reliable_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return ipcl_redisq_probe(o, p, err, REDIS_RELIABLE);
}

/* ---- open ----------------------------------------------------------------- */

static int list_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	int64_t end;

	return ipcl_redisq_connect(ep, REDIS_LIST, deadline_ns, &end);
}

/*
 * Reliable list: move what this consumer index left in its processing list
 * (a crashed predecessor's unacknowledged messages) back to the queue's
 * consuming end, oldest nearest, so they are delivered again first.
 */
static int reliable_requeue(struct redis_ep *re, int64_t deadline_ns)
{
	for (;;) {
		redisReply *r;
		int rc = ipcl_redis_cmd(&re->k, deadline_ns, &r, "LMOVE",
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

static int reliable_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	int64_t end;
	int rc = ipcl_redisq_connect(ep, REDIS_RELIABLE, deadline_ns, &end);

	if (rc || ep->role == IPCL_PRODUCER)
		return rc;
	snprintf(re->proc, sizeof re->proc, "%s:proc:%d", re->a.key, ep->index);
	return re->a.recover ? reliable_requeue(re, end) : 0;
}

/* ---- send: LPUSH (queue.c) ------------------------------------------------ */

/* ---- recv ----------------------------------------------------------------- */

/* The fetch: BRPOP key secs, or BLMPOP secs 1 key RIGHT COUNT n. */
static int list_fetch(struct redis_ep *re, const char *secs, long long ms)
{
	(void)ms;
	if (re->a.count > 1
		? redisAppendCommand(re->k.ctx, "BLMPOP %s 1 %s RIGHT COUNT %lld", secs,
				     re->a.key, re->a.count)
		: redisAppendCommand(re->k.ctx, "BRPOP %s %s", re->a.key, secs))
		return ipcl_redis_fail(&re->k, "append");
	return 0;
}

/* The next item of a list batch: BRPOP's [key, value] or BLMPOP's [key, [values]]. */
static const redisReply *list_item(struct redis_ep *re)
{
	const redisReply *items = re->batch->element[1];

	if (items->type == REDIS_REPLY_ARRAY)
		return re->next < items->elements ? items->element[re->next++] : NULL;
	return re->next++ == 0 ? items : NULL;
}

static int list_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	redisReply *r;
	int rc;

	for (;;) {
		if (re->batch) {
			const redisReply *v = list_item(re);

			if (v)
				return ipcl_redisq_copy(re, v, buf, cap, len);
			freeReplyObject(re->batch);
			re->batch = NULL;
		}
		rc = ipcl_redisq_fetch_next(re, list_fetch, &r, deadline_ns);
		if (rc)
			return rc;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			return ipcl_redisq_bad_reply(re, r, "BRPOP/BLMPOP");
		re->batch = r;
		re->next = 0;
	}
}

/* The reliable fetch: BLMOVE key proc RIGHT LEFT secs. */
static int reliable_fetch(struct redis_ep *re, const char *secs, long long ms)
{
	(void)ms;
	if (redisAppendCommand(re->k.ctx, "BLMOVE %s %s RIGHT LEFT %s", re->a.key,
			       re->proc, secs) != REDIS_OK)
		return ipcl_redis_fail(&re->k, "append");
	return 0;
}

/* Append the LREM of the message returned last (its reply is read before the
 * next fetch's). */
static int reliable_append_lrem(struct redis_ep *re)
{
	if (redisAppendCommand(re->k.ctx, "LREM %s 1 %b", re->proc, re->last->str,
			       re->last->len) != REDIS_OK)
		return ipcl_redis_fail(&re->k, "append LREM");
	freeReplyObject(re->last);
	re->last = NULL;
	re->ack_deferred = 0;
	re->acks_due++;
	return 0;
}

static int reliable_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			 int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	redisReply *r;
	int rc;

	rc = ipcl_redisq_fetch_next(re, reliable_fetch, &r, deadline_ns);
	if (rc)
		return rc;
	if (r->type != REDIS_REPLY_STRING)
		return ipcl_redisq_bad_reply(re, r, "BLMOVE");
	/* An ack that came while the fetch was due goes out now, in order. */
	if (re->ack_deferred && re->last) {
		rc = reliable_append_lrem(re);
		if (rc) {
			freeReplyObject(r);
			return rc;
		}
	}
	if (re->last)
		freeReplyObject(re->last);
	re->last = r;
	return ipcl_redisq_copy(re, r, buf, cap, len);
}

/* ---- ack ------------------------------------------------------------------ */

/*
 * Acknowledge the message recv() returned last. Nothing is written here: the
 * LREM goes out with the next fetch (or at close), so it costs no round trip.
 */
static int reliable_ack(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	if (!re->last)
		return 0;
	if (re->fetch_due) {
		re->ack_deferred = 1; /* keeps the reply order: acks, then fetch */
		return 0;
	}
	return reliable_append_lrem(re);
}

/* ---- close ---------------------------------------------------------------- */

/* close(): the LREM of an ack deferred behind a fetch, if any. */
static int reliable_acks(struct redis_ep *re)
{
	return re->ack_deferred && re->last ? reliable_append_lrem(re) : 0;
}

static void list_close(struct ipcl_ep *ep)
{
	ipcl_redisq_close(ep, NULL);
}

static void reliable_close(struct ipcl_ep *ep)
{
	ipcl_redisq_close(ep, reliable_acks);
}

const struct ipcl_transport ipcl_transport_redis_list = {
    .name = "redis-list",
    .summary = "Redis list: LPUSH / BRPOP (hiredis); at-most-once",
    .caps = IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE | IPCL_CAP_MSG_BOUNDARY |
	    IPCL_CAP_NEEDS_SERVER | IPCL_CAP_CROSS_HOST | IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct redis_ep),
    .options = ipcl_redisq_options,
    .server = "redis",
    .probe = list_probe,
    .setup = ipcl_redisq_setup,
    .teardown = ipcl_redisq_teardown,
    .sweep = ipcl_redisq_sweep,
    .open = list_open,
    .send = ipcl_redisq_send,
    .recv = list_recv,
    .flush = ipcl_redisq_flush,
    .acked = ipcl_redisq_acked,
    .close = list_close,
    .server_cpu = ipcl_redisq_server_cpu,
};

const struct ipcl_transport ipcl_transport_redis_list_reliable = {
    .name = "redis-list-reliable",
    .summary = "Redis list, reliable queue: BLMOVE to a processing list, ack = LREM; "
	       "at-least-once",
    .caps = IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE | IPCL_CAP_MSG_BOUNDARY |
	    IPCL_CAP_NEEDS_SERVER | IPCL_CAP_CROSS_HOST | IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct redis_ep),
    .options = ipcl_redisq_options,
    .server = "redis",
    .probe = reliable_probe,
    .setup = ipcl_redisq_setup,
    .teardown = ipcl_redisq_teardown,
    .sweep = ipcl_redisq_sweep,
    .open = reliable_open,
    .send = ipcl_redisq_send,
    .recv = reliable_recv,
    .ack = reliable_ack,
    .flush = ipcl_redisq_flush,
    .acked = ipcl_redisq_acked,
    .close = reliable_close,
    .server_cpu = ipcl_redisq_server_cpu,
};
