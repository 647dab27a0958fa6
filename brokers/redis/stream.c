/*
 * stream.c - redis-stream: a Redis stream read by a consumer group, with
 * hiredis's blocking API (0.14; the connection is conn.h's, what the Redis
 * queues share is queue.h's).
 *
 *   setup     DEL the key, XGROUP CREATE <key> ipcl 0 MKSTREAM (queue.c)
 *   producer  XADD <key> * d <msg>, pipelined, one writev() per message
 *   consumer  XREADGROUP GROUP ipcl c<index> COUNT n BLOCK ms STREAMS <key> >
 *             ack() queues the entry id; the XACK of every queued id goes out
 *             in the same write as the next XREADGROUP: at-least-once.
 *
 * At open a consumer first re-reads its own pending list (from id 0): with
 * recover=1 what a crashed consumer of the same name left unacknowledged, and
 * with claim_idle_ms > 0 the entries XAUTOCLAIM took over from other consumers
 * idle that long. An entry pending but deleted from the stream comes back as
 * [id, nil]: it is acknowledged and skipped.
 *
 * Limits: proto-max-bulk-len a message; the stream is not trimmed (MAXLEN) while
 * a run lasts: teardown deletes it. Left out: TLS, RESP3, Cluster, reconnecting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include <ipclab/transport.h>

#include "queue.h"

#define STREAM_ACK_SLACK    16 /* ack ids queued beyond one batch */
#define STREAM_CLAIM_ROUNDS 100000

/* ---- probe (setup and teardown: queue.c) ---------------------------------- */

static int stream_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return ipcl_redisq_probe(o, p, err, REDIS_STREAM);
}

/* ---- open ----------------------------------------------------------------- */

/* Take over entries other consumers left pending for claim_ms. */
static int stream_claim(struct redis_ep *re, int64_t deadline_ns)
{
	char cursor[REDIS_ID_MAX] = "0-0";

	for (int i = 0; i < STREAM_CLAIM_ROUNDS; i++) {
		redisReply *r;
		int rc = ipcl_redis_cmd(&re->k, deadline_ns, &r, "XAUTOCLAIM",
					"XAUTOCLAIM %s %s %s %lld %s COUNT 100 JUSTID",
					re->a.key, REDIS_GROUP, re->name, re->a.claim_ms,
					cursor);

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

static int stream_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct redis_ep *re = ep->state;
	int64_t end;
	int rc = ipcl_redisq_connect(ep, REDIS_STREAM, deadline_ns, &end);

	if (rc || ep->role == IPCL_PRODUCER)
		return rc;
	snprintf(re->name, sizeof re->name, "c%d", ep->index);
	re->maxids = (int)re->a.count + STREAM_ACK_SLACK;
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
	return re->a.claim_ms > 0 ? stream_claim(re, end) : 0;
}

/* ---- send: XADD (queue.c) ------------------------------------------------- */

/* ---- recv ----------------------------------------------------------------- */

/* Append an XACK of the queued ids. */
static int stream_append_xack(struct redis_ep *re)
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
		return ipcl_redis_fail(&re->k, "append XACK");
	re->nids = 0;
	re->acks_due++;
	return 0;
}

/* The fetch: the XACK of the queued ids, then XREADGROUP (no BLOCK while the
 * consumer re-reads its own pending entries). */
static int stream_fetch(struct redis_ep *re, const char *secs, long long ms)
{
	int rc = stream_append_xack(re);

	(void)secs;
	if (rc)
		return rc;
	if (re->history)
		rc = redisAppendCommand(
		    re->k.ctx, "XREADGROUP GROUP %s %s COUNT %lld STREAMS %s %s",
		    REDIS_GROUP, re->name, re->a.count, re->a.key, re->from);
	else
		rc = redisAppendCommand(
		    re->k.ctx,
		    "XREADGROUP GROUP %s %s COUNT %lld BLOCK %lld STREAMS %s >",
		    REDIS_GROUP, re->name, re->a.count, ms, re->a.key);
	return rc != REDIS_OK ? ipcl_redis_fail(&re->k, "append") : 0;
}

/* A stream batch: [[key, [[id, [field, value, ...] or nil], ...]]]. */
static int stream_batch_ok(const redisReply *r)
{
	return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	       r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
	       r->element[0]->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Queue an id for the next XACK. */
static int stream_queue_id(struct redis_ep *re, const char *id)
{
	if (re->nids >= re->maxids) {
		if (re->fetch_due)
			return ipcl_seterr(re->k.err, IPCL_EINVAL,
					   "redis: more than %d acks queued", re->maxids);
		int rc = stream_append_xack(re);

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
static int stream_entry(struct redis_ep *re, const redisReply *e,
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
		return stream_queue_id(re, id->str);
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

static int stream_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
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

				rc = stream_entry(re, entries->element[re->next++], &v);
				if (rc)
					return rc;
				if (v)
					return ipcl_redisq_copy(re, v, buf, cap, len);
				continue;
			}
			if (re->history && entries->elements == 0)
				re->history =
				    0; /* our pending entries are done: new ones */
			freeReplyObject(re->batch);
			re->batch = NULL;
		}
		rc = ipcl_redisq_fetch_next(re, stream_fetch, &r, deadline_ns);
		if (rc)
			return rc;
		if (!stream_batch_ok(r))
			return ipcl_redisq_bad_reply(re, r, "XREADGROUP");
		re->batch = r;
		re->next = 0;
	}
}

/* ---- ack ------------------------------------------------------------------ */

/* Queue the id of the entry recv() returned last; the XACK rides on the next
 * fetch (or close), so it costs no round trip. */
static int stream_ack(struct ipcl_ep *ep)
{
	struct redis_ep *re = ep->state;

	if (!re->last_id[0] || re->last_acked)
		return 0;
	re->last_acked = 1;
	return stream_queue_id(re, re->last_id);
}

/* ---- close ---------------------------------------------------------------- */

static void stream_close(struct ipcl_ep *ep)
{
	ipcl_redisq_close(ep, stream_append_xack);
}

const struct ipcl_transport ipcl_transport_redis_stream = {
    .name = "redis-stream",
    .summary = "Redis stream: XADD / XREADGROUP in a consumer group, XACK; at-least-once",
    .caps = IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_DURABLE | IPCL_CAP_MSG_BOUNDARY |
	    IPCL_CAP_NEEDS_SERVER | IPCL_CAP_CROSS_HOST | IPCL_CAP_MULTI_PRODUCER,
    .ep_state_size = sizeof(struct redis_ep),
    .options = ipcl_redisq_options,
    .server = "redis",
    .probe = stream_probe,
    .setup = ipcl_redisq_setup,
    .teardown = ipcl_redisq_teardown,
    .sweep = ipcl_redisq_sweep,
    .open = stream_open,
    .send = ipcl_redisq_send,
    .recv = stream_recv,
    .ack = stream_ack,
    .flush = ipcl_redisq_flush,
    .acked = ipcl_redisq_acked,
    .close = stream_close,
    .server_cpu = ipcl_redisq_server_cpu,
};
