/*
 * queue.h - what the four Redis queue transports share (queue.c): the options,
 * the channel address, probe, setup and teardown, the producer's pipelined
 * send, the consumer's blocking fetch with acks riding in the same write, and
 * close. Each transport's own steps and its const table are in its file:
 *
 *   list.c     redis-list (LPUSH / BRPOP, BLMPOP) and redis-list-reliable
 *              (BLMOVE into a processing list, ack = LREM)
 *   stream.c   redis-stream (XADD / XREADGROUP in a consumer group, XACK)
 *   pubsub.c   redis-pubsub (PUBLISH / SUBSCRIBE)
 *
 * The connection itself (URL, AUTH, replies by deadline, the RESP writer) is
 * conn.h's. Local to brokers/redis/.
 */
#ifndef IPCL_REDIS_QUEUE_H
#define IPCL_REDIS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <ipclab/transport.h>

#include "conn.h"

#define REDIS_GROUP  "ipcl" /* the stream's consumer group */
#define REDIS_ID_MAX 48     /* a stream entry id: "<ms>-<seq>" */

enum redis_kind { REDIS_LIST, REDIS_RELIABLE, REDIS_STREAM, REDIS_PUBSUB };

/* Everything open() and teardown() need, parsed from chan->addr. */
struct redis_addr {
	char url[256]; /* with a password redacted (then the url option is used) */
	char key[128]; /* "ipcl:<tag>": list, stream or channel */
	long long ct_ms, pipeline, count, recover, claim_ms, max;
	long long subs; /* pub/sub: subscribers a producer waits for at open */
	long long wait_subs;
};

struct redis_ep {
	enum redis_kind kind;
	struct redis_addr a;
	struct ipcl_redis k;
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

/*
 * Appends one kind's blocking fetch (and any acks before it) to re's
 * connection: secs and ms are how long the server may block (0: for ever).
 */
typedef int (*redis_fetch_fn)(struct redis_ep *re, const char *secs, long long ms);

/* Appends one kind's queued acks (close() sends them); 0 or an error. */
typedef int (*redis_acks_fn)(struct redis_ep *re);

extern const struct ipcl_option ipcl_redisq_options[];

int ipcl_redisq_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
		      enum redis_kind kind);
int ipcl_redisq_setup(struct ipcl_chan *c);
void ipcl_redisq_teardown(struct ipcl_chan *c);
/*
 * `ipclab clean --brokers` (the sweep hook, one for the four): delete the keys
 * of runs whose process is dead.
 */
int ipcl_redisq_sweep(const char *url, int dry, int (*dead)(long pid),
		      void (*seen)(void *arg, const char *name), void *arg, char *err);
int ipcl_redisq_server_cpu(const struct ipcl_opts *o, int64_t *ns, char *err);

/*
 * open()'s common part: parse the address and connect. *end is the deadline
 * for the kind's own setup commands (the connect timeout, at most deadline).
 */
int ipcl_redisq_connect(struct ipcl_ep *ep, enum redis_kind kind, int64_t deadline_ns,
			int64_t *end);

int ipcl_redisq_send(struct ipcl_ep *ep, const void *msg, size_t len,
		     int64_t deadline_ns);
int ipcl_redisq_flush(struct ipcl_ep *ep, int64_t deadline_ns);
int64_t ipcl_redisq_acked(struct ipcl_ep *ep);

/*
 * Consumer: the next fetch reply that is not nil (*out: caller frees). A nil
 * reply means the server's blocking timed out: fetch again until the
 * deadline, then -ETIMEDOUT.
 */
int ipcl_redisq_fetch_next(struct redis_ep *re, redis_fetch_fn fetch, redisReply **out,
			   int64_t deadline_ns);

/* Copy a bulk string into the caller's buffer: 0, IPCL_EPROTO or IPCL_ETRUNC. */
int ipcl_redisq_copy(struct redis_ep *re, const redisReply *v, void *buf, size_t cap,
		     size_t *len);

/* An unexpected reply to what: IPCL_EPROTO; frees r. */
int ipcl_redisq_bad_reply(struct redis_ep *re, redisReply *r, const char *what);

/*
 * close(): a consumer sends the acks still queued (acks appends them; NULL:
 * none) and reads their replies, then everything is freed.
 */
void ipcl_redisq_close(struct ipcl_ep *ep, redis_acks_fn acks);

#endif
