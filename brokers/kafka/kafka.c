/*
 * kafka.c - Apache Kafka through librdkafka (rdkafka.h, rdkafka_mock.h).
 *
 * One topic per channel, "ipcl-<tag>", with one partition by default (one
 * total order) or `partitions=N`. The producer hands each message to
 * librdkafka (rd_kafka_producev, copied) with acks=0|1|all, optionally the
 * idempotent producer, and linger.ms / batch.num.messages for batching; the
 * delivery reports are served in send() and flush() and a failed one fails the
 * next call. Consumers join one consumer group, "ipcl-<tag>", with auto-commit
 * off: ack() commits the offset of the message recv() returned last, i.e. after
 * the harness processed it (at-least-once), asynchronously unless
 * commit=sync. A consumer starts at the group's committed offset, else at the
 * earliest one, so messages produced before it joined are not lost.
 *
 * The cluster: `-O url=kafka://host:9092[,host2:9092]` or IPCLAB_KAFKA_URL
 * names a real one (the topic is created with the Admin API at setup and
 * deleted at teardown). Without one, setup() starts librdkafka's built-in mock
 * cluster (rd_kafka_mock_cluster_new) inside the creating process: it listens
 * on loopback ports, so role processes reach it as they would a real broker,
 * and it lives as long as the channel (the ipclab process stays for the run).
 * Every fact and record made against it says "mock": true: it keeps
 * everything in memory, replicates nothing and is not a broker's figure.
 *
 * Left out: transactions (exactly-once), TLS/SASL, keys and custom
 * partitioners (partition=producer pins a producer to a partition), reading a
 * consumer's lag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <ipclab/transport.h>

#define KAFKA_ENV          "IPCLAB_KAFKA_URL"
#define KAFKA_ADMIN_MS     10000 /* topic creation and deletion on a real cluster */
#define KAFKA_MSG_OVERHEAD 512   /* record batch + record headers, kept spare */
#define KAFKA_MOCKS        64

static const struct ipcl_option kafka_options[] = {
    {"url", "",
     "cluster: kafka://host:port[,host:port...] (else $" KAFKA_ENV
     "; else librdkafka's mock cluster in the ipclab process)"},
    {"partitions", "1", "partitions of the run's topic (1: one total order)"},
    {"partition", "roundrobin",
     "producer: roundrobin (message i to partition i mod N) or producer (all of "
     "producer k's messages to partition k mod N)"},
    {"acks", "all", "producer: 0, 1 or all (-1)"},
    {"idempotence", "0", "producer: 1 = enable.idempotence (needs acks=all)"},
    {"linger_ms", "0", "producer: linger.ms, how long to wait to fill a batch"},
    {"batch", "10000", "producer: batch.num.messages, messages per batch at most"},
    {"max_bytes", "1000000", "message.max.bytes of the producer (and the topic)"},
    {"queue", "10000",
     "producer: queue.buffering.max.messages, messages librdkafka holds before "
     "send() waits (back-pressure)"},
    {"commit", "async",
     "consumer: ack() commits the message's offset async or sync (waits for the "
     "coordinator)"},
    {"fetch_wait_ms", "10",
     "consumer: fetch.wait.max.ms, how long a broker holds an "
     "empty fetch"},
    {"mock_brokers", "1", "brokers of the mock cluster when there is no url"},
    {NULL, NULL, NULL},
};

struct kafka_cfg {
	const char *url; /* NULL or "" = the mock */
	long long partitions, rr, idem, linger, batch, max_bytes, sync, fetch_wait,
	    mock_brokers, queue;
	const char *acks;
};

/* The mock cluster and the rd_kafka_t that owns it, in the creating process. */
struct kafka_chan {
	rd_kafka_t *owner;
	rd_kafka_mock_cluster_t *mc;
};

struct kafka_ep {
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_message_t *last;  /* consumer: returned last, committed by ack() */
	rd_kafka_message_t *early; /* consumer: fetched while open() waited */
	long long partitions, rr, sync, sent;
	int index;
	atomic_int failed;         /* producer: delivery reports with an error */
	rd_kafka_resp_err_t first; /* the first such error */
	char topic[160];
};

/*
 * The mock clusters this process made, by bootstrap string, so that a
 * teardown that knows only the address (contract test of a crash) can still
 * stop one made here. In another process a mock is gone with its creator.
 */
static pthread_mutex_t kafka_mocks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char bootstrap[256];
	struct kafka_chan mock;
} kafka_mocks[KAFKA_MOCKS];

static int kafka_parse_opts(const struct ipcl_opts *o, struct kafka_cfg *k, char *err)
{
	const char *v;
	int rc;

	k->url = ipcl_opt(o, kafka_options, "url");
	if (!k->url || !*k->url)
		k->url = getenv(KAFKA_ENV);
	if (k->url && !*k->url)
		k->url = NULL;
	if (k->url && strncmp(k->url, "kafka://", 8) != 0)
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "kafka url '%.100s': want kafka://host:port[,host:port]", k->url);
	k->acks = ipcl_opt(o, kafka_options, "acks");
	if (strcmp(k->acks, "0") && strcmp(k->acks, "1") && strcmp(k->acks, "all") &&
	    strcmp(k->acks, "-1"))
		return ipcl_seterr(err, IPCL_EINVAL, "option acks=%s: want 0, 1 or all",
				   k->acks);
	v = ipcl_opt(o, kafka_options, "partition");
	if (strcmp(v, "roundrobin") && strcmp(v, "producer"))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option partition=%s: want roundrobin or producer", v);
	k->rr = strcmp(v, "roundrobin") == 0;
	v = ipcl_opt(o, kafka_options, "commit");
	if (strcmp(v, "async") && strcmp(v, "sync"))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option commit=%s: want async or sync", v);
	k->sync = strcmp(v, "sync") == 0;
	rc = ipcl_opt_int(o, kafka_options, "partitions", 1, 10000, &k->partitions, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "idempotence", 0, 1, &k->idem, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "linger_ms", 0, 900000, &k->linger,
				  err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "batch", 1, 1000000, &k->batch, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "max_bytes", 4096, 1000000000,
				  &k->max_bytes, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "queue", 1, 10000000, &k->queue, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "fetch_wait_ms", 0, 300000,
				  &k->fetch_wait, err);
	if (!rc)
		rc = ipcl_opt_int(o, kafka_options, "mock_brokers", 1, 16,
				  &k->mock_brokers, err);
	if (!rc && k->idem && strcmp(k->acks, "all") && strcmp(k->acks, "-1"))
		rc = ipcl_seterr(err, IPCL_EINVAL,
				 "option idempotence=1 needs acks=all (it is %s)",
				 k->acks);
	return rc;
}

/* Set one librdkafka property; IPCL_EINVAL with librdkafka's reason. */
static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *val, char *err)
{
	char why[256];

	if (rd_kafka_conf_set(conf, name, val, why, sizeof why) != RD_KAFKA_CONF_OK)
		return ipcl_seterr(err, IPCL_EINVAL, "kafka: %s=%s: %s", name, val, why);
	return 0;
}

static int kafka_setf(rd_kafka_conf_t *conf, const char *name, long long v, char *err)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%lld", v);
	return kafka_set(conf, name, buf, err);
}

/* A client handle of type on bootstrap; conf is consumed. NULL with err set. */
static rd_kafka_t *kafka_client(rd_kafka_type_t type, rd_kafka_conf_t *conf,
				const char *bootstrap, char *err)
{
	char why[512];
	rd_kafka_t *rk;

	if (bootstrap && kafka_set(conf, "bootstrap.servers", bootstrap, err)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	/* Errors come back through the API; librdkafka must not print. */
	if (kafka_set(conf, "log_level", "0", err)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(type, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		ipcl_seterr(err, IPCL_EINVAL, "kafka: rd_kafka_new: %s", why);
	}
	return rk;
}

/* ---- topics on a real cluster (Admin API) ---------------------------------- */

/* Wait for one admin result event on q; its error or 0. */
static int kafka_admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
			    const char *topic, char *err)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KAFKA_ADMIN_MS + 1000);
	const rd_kafka_topic_result_t **res = NULL;
	size_t n = 0;
	int rc = 0;

	if (!ev)
		return ipcl_seterr(err, -ETIMEDOUT,
				   "kafka: no admin reply for %s in %d ms", topic,
				   KAFKA_ADMIN_MS);
	if (rd_kafka_event_error(ev)) {
		rc = ipcl_seterr(err, IPCL_EBROKER, "kafka: %s: %s", topic,
				 rd_kafka_event_error_string(ev));
		goto out;
	}
	if (type == RD_KAFKA_EVENT_CREATETOPICS_RESULT)
		res = rd_kafka_CreateTopics_result_topics(
		    rd_kafka_event_CreateTopics_result(ev), &n);
	else
		res = rd_kafka_DeleteTopics_result_topics(
		    rd_kafka_event_DeleteTopics_result(ev), &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);

		if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS &&
		    e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			rc = ipcl_seterr(err, IPCL_EBROKER, "kafka: topic %s: %s", topic,
					 rd_kafka_topic_result_error_string(res[i])
					     ? rd_kafka_topic_result_error_string(res[i])
					     : rd_kafka_err2str(e));
	}
out:
	rd_kafka_event_destroy(ev);
	return rc;
}

/* Create (create=1) or delete the topic on the cluster at bootstrap. */
static int kafka_admin(const char *bootstrap, const char *topic, long long partitions,
		       long long max_bytes, int create, char *err)
{
	char why[256], mb[32];
	rd_kafka_t *rk =
	    kafka_client(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), bootstrap, err);
	rd_kafka_queue_t *q = NULL;
	rd_kafka_AdminOptions_t *ao = NULL;
	rd_kafka_NewTopic_t *nt = NULL;
	rd_kafka_DeleteTopic_t *dt = NULL;
	int rc = 0;

	if (!rk)
		return IPCL_EINVAL;
	q = rd_kafka_queue_new(rk);
	ao = rd_kafka_AdminOptions_new(rk, create ? RD_KAFKA_ADMIN_OP_CREATETOPICS
						  : RD_KAFKA_ADMIN_OP_DELETETOPICS);
	rd_kafka_AdminOptions_set_request_timeout(ao, KAFKA_ADMIN_MS, why, sizeof why);
	if (create) {
		nt = rd_kafka_NewTopic_new(topic, (int)partitions, -1, why, sizeof why);
		if (!nt) {
			rc = ipcl_seterr(err, IPCL_EINVAL, "kafka: topic %s: %s", topic,
					 why);
			goto out;
		}
		snprintf(mb, sizeof mb, "%lld", max_bytes + KAFKA_MSG_OVERHEAD);
		rd_kafka_NewTopic_set_config(nt, "max.message.bytes", mb);
		rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
		rc = kafka_admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, topic, err);
	} else {
		dt = rd_kafka_DeleteTopic_new(topic);
		rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
		rc = kafka_admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, topic, err);
	}
out:
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	if (dt)
		rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_AdminOptions_destroy(ao);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- probe, setup, teardown ------------------------------------------------- */

static int kafka_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	struct kafka_cfg k;
	int rc = kafka_parse_opts(o, &k, err);

	if (rc)
		return rc;
	p->max_msg = (size_t)k.max_bytes - KAFKA_MSG_OVERHEAD;
	ipcl_fact(p, "mock", "%s", k.url ? "false" : "true");
	if (k.url) {
		ipcl_fact(p, "cluster", "%s", k.url);
	} else {
		ipcl_fact(p, "mock_brokers", "%lld", k.mock_brokers);
		ipcl_fact(p, "mock_note", "%s",
			  "librdkafka's mock cluster inside the ipclab process (no "
			  "disk, no replication): not a broker's figures; set "
			  "IPCLAB_KAFKA_URL for a real cluster");
	}
	ipcl_fact(p, "librdkafka", "%s", rd_kafka_version_str());
	ipcl_fact(p, "partitions", "%lld", k.partitions);
	ipcl_fact(p, "partition", "%s", k.rr ? "roundrobin" : "producer");
	ipcl_fact(p, "acks", "%s", k.acks);
	ipcl_fact(p, "idempotence", "%lld", k.idem);
	ipcl_fact(p, "linger_ms", "%lld", k.linger);
	ipcl_fact(p, "batch_num_messages", "%lld", k.batch);
	ipcl_fact(p, "queue_buffering_max_messages", "%lld", k.queue);
	ipcl_fact(p, "message_max_bytes", "%lld", k.max_bytes);
	ipcl_fact(p, "commit", "%s", k.sync ? "sync" : "async");
	ipcl_fact(p, "fetch_wait_max_ms", "%lld", k.fetch_wait);
	ipcl_fact(p, "delivery", "%s",
		  "at-least-once (commit after processing); ordered per partition");
	return 0;
}

/* Stop a mock cluster and its owner handle. */
static void kafka_mock_stop(struct kafka_chan *m)
{
	if (m->mc)
		rd_kafka_mock_cluster_destroy(m->mc);
	if (m->owner)
		rd_kafka_destroy(m->owner);
	m->mc = NULL;
	m->owner = NULL;
}

/* Start a mock cluster of n brokers with the topic; bootstrap servers in bs. */
static int kafka_mock_start(struct kafka_chan *m, const struct kafka_cfg *k,
			    const char *topic, char *bs, size_t cap, char *err)
{
	rd_kafka_resp_err_t e;
	int slot = -1;

	/* A producer handle that never produces owns the cluster's threads. */
	m->owner = kafka_client(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), NULL, err);
	if (!m->owner)
		return IPCL_EINVAL;
	m->mc = rd_kafka_mock_cluster_new(m->owner, (int)k->mock_brokers);
	if (!m->mc) {
		kafka_mock_stop(m);
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "kafka: rd_kafka_mock_cluster_new failed");
	}
	e = rd_kafka_mock_topic_create(m->mc, topic, (int)k->partitions, 1);
	if (e) {
		kafka_mock_stop(m);
		return ipcl_seterr(err, IPCL_EBROKER, "kafka mock: topic %s: %s", topic,
				   rd_kafka_err2str(e));
	}
	snprintf(bs, cap, "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
	pthread_mutex_lock(&kafka_mocks_lock);
	for (int i = 0; i < KAFKA_MOCKS && slot < 0; i++)
		if (!kafka_mocks[i].bootstrap[0])
			slot = i;
	if (slot >= 0) {
		snprintf(kafka_mocks[slot].bootstrap, sizeof kafka_mocks[slot].bootstrap,
			 "%s", bs);
		kafka_mocks[slot].mock = *m;
	}
	pthread_mutex_unlock(&kafka_mocks_lock);
	if (slot < 0) {
		kafka_mock_stop(m);
		return ipcl_seterr(err, -EMFILE, "kafka: more than %d mock clusters",
				   KAFKA_MOCKS);
	}
	return 0;
}

static int kafka_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	struct kafka_chan *m = c->state;
	struct kafka_cfg k;
	char bs[256], topic[160];
	int rc = kafka_parse_opts(o, &k, c->err);

	if (rc)
		return rc;
	if ((long long)o->msg_size > k.max_bytes - KAFKA_MSG_OVERHEAD)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "kafka: %zu-byte messages, message.max.bytes %lld "
				   "takes %lld; raise -O max_bytes=",
				   o->msg_size, k.max_bytes,
				   k.max_bytes - KAFKA_MSG_OVERHEAD);
	if (o->consumers > k.partitions)
		return ipcl_seterr(
		    c->err, IPCL_EINVAL,
		    "kafka: %d consumers in one group need at least as many "
		    "partitions (-O partitions=%d)",
		    o->consumers, o->consumers);
	if (!o->tag || !*o->tag || strlen(o->tag) > 100 || strchr(o->tag, ' '))
		return ipcl_seterr(c->err, IPCL_EINVAL, "kafka: unusable tag '%.64s'",
				   o->tag ? o->tag : "");
	snprintf(topic, sizeof topic, "ipcl-%s", o->tag);
	if (k.url) {
		snprintf(bs, sizeof bs, "%s", k.url + 8);
		rc = kafka_admin(bs, topic, k.partitions, k.max_bytes, 1, c->err);
	} else {
		rc = kafka_mock_start(m, &k, topic, bs, sizeof bs, c->err);
	}
	if (rc)
		return rc;
	if (snprintf(c->addr, sizeof c->addr,
		     "bootstrap=%s topic=%s partitions=%lld mock=%d", bs, topic,
		     k.partitions, !k.url) >= (int)sizeof c->addr) {
		c->addr[0] = 0;
		if (k.url)
			kafka_admin(bs, topic, 0, 0, 0, c->err);
		else
			kafka_mock_stop(m);
		return ipcl_seterr(c->err, -ENAMETOOLONG, "kafka: address too long");
	}
	return 0;
}

static int kafka_parse_addr(const char *addr, char *bs, char *topic,
			    long long *partitions, int *mock)
{
	char end;

	if (sscanf(addr, "bootstrap=%255s topic=%159s partitions=%lld mock=%d%c", bs,
		   topic, partitions, mock, &end) != 4 ||
	    strncmp(topic, "ipcl-", 5) != 0 || *partitions < 1)
		return -EINVAL;
	return 0;
}

/*
 * A mock made in this process is stopped (found by its bootstrap string; in
 * another process it died with its creator); a real cluster's topic is
 * deleted (the consumer group expires on its own: offsets.retention.minutes).
 */
static void kafka_teardown(struct ipcl_chan *c)
{
	char bs[256], topic[160];
	long long parts;
	int mock;

	if (kafka_parse_addr(c->addr, bs, topic, &parts, &mock))
		return;
	if (!mock) {
		kafka_admin(bs, topic, 0, 0, 0, c->err);
		return;
	}
	pthread_mutex_lock(&kafka_mocks_lock);
	for (int i = 0; i < KAFKA_MOCKS; i++)
		if (strcmp(kafka_mocks[i].bootstrap, bs) == 0) {
			kafka_mock_stop(&kafka_mocks[i].mock);
			kafka_mocks[i].bootstrap[0] = 0;
		}
	pthread_mutex_unlock(&kafka_mocks_lock);
}

/* ---- endpoints -------------------------------------------------------------------- */

/* Delivery reports: count failures (served by rd_kafka_poll in send/flush). */
static void kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kafka_ep *e = opaque;

	if (m->err && atomic_fetch_add(&e->failed, 1) == 0)
		e->first = m->err;
}

/*
 * Consumer: wait (by deadline) until the group has assigned this consumer a
 * partition, so that a run does not start timing while the group still forms
 * (seconds). The poll that serves the rebalance may return a message: it is
 * kept for the first recv(), and the wait ends there.
 */
static int kafka_join(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct kafka_ep *e = ep->state;
	int c = ep->chan->opts->consumers > 0 ? ep->chan->opts->consumers : 1;
	int share = (int)((e->partitions + c - 1) / c);

	for (;;) {
		rd_kafka_topic_partition_list_t *a = NULL;
		rd_kafka_message_t *m;
		int n = 0;

		if (rd_kafka_assignment(e->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
			n = a->cnt;
			rd_kafka_topic_partition_list_destroy(a);
		}
		/*
		 * Every consumer of the run must be in the group before any returns:
		 * a member that stops polling would stall the next rebalance. So
		 * wait until our share is no larger than partitions / consumers.
		 */
		if (n > 0 && n <= share)
			return 0;
		if (ipcl_now_ns() >= deadline_ns)
			return ipcl_seterr(ep->err, -ETIMEDOUT,
					   "kafka: no partition of %s assigned to this "
					   "consumer by the deadline",
					   e->topic);
		if (e->early)
			return 0; /* messages flow already: the group is formed */
		m = rd_kafka_consumer_poll(e->rk, 50);
		if (!m)
			continue;
		if (m->err) {
			rd_kafka_resp_err_t err = m->err;

			rd_kafka_message_destroy(m);
			if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				continue;
			return ipcl_seterr(ep->err, IPCL_EBROKER, "kafka: joining: %s",
					   rd_kafka_err2str(err));
		}
		e->early = m;
	}
}

static int kafka_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct kafka_ep *e = ep->state;
	const struct ipcl_opts *o = ep->chan->opts;
	rd_kafka_conf_t *conf;
	struct kafka_cfg k;
	char bs[256], group[170];
	int mock, rc;

	if (kafka_parse_addr(ep->chan->addr, bs, e->topic, &e->partitions, &mock))
		return ipcl_seterr(ep->err, -EINVAL, "kafka: bad address '%.100s'",
				   ep->chan->addr);
	rc = kafka_parse_opts(o, &k, ep->err);
	if (rc)
		return rc;
	e->rr = k.rr;
	e->sync = k.sync;
	e->index = ep->index;
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_opaque(conf, e);
	if (ep->role == IPCL_PRODUCER) {
		rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr);
		rc = kafka_set(conf, "acks", k.acks, ep->err);
		if (!rc)
			rc = kafka_set(conf, "enable.idempotence",
				       k.idem ? "true" : "false", ep->err);
		if (!rc)
			rc = kafka_setf(conf, "linger.ms", k.linger, ep->err);
		if (!rc)
			rc = kafka_setf(conf, "batch.num.messages", k.batch, ep->err);
		if (!rc)
			rc = kafka_setf(conf, "message.max.bytes", k.max_bytes, ep->err);
		if (!rc)
			rc = kafka_setf(conf, "queue.buffering.max.messages", k.queue,
					ep->err);
		if (rc) {
			rd_kafka_conf_destroy(conf);
			return rc;
		}
		e->rk = kafka_client(RD_KAFKA_PRODUCER, conf, bs, ep->err);
		return e->rk ? 0 : IPCL_EINVAL;
	}
	snprintf(group, sizeof group, "%s", e->topic);
	rc = kafka_set(conf, "group.id", group, ep->err);
	if (!rc)
		rc = kafka_set(conf, "enable.auto.commit", "false", ep->err);
	if (!rc)
		rc = kafka_set(conf, "auto.offset.reset", "earliest", ep->err);
	if (!rc)
		rc = kafka_setf(conf, "fetch.wait.max.ms", k.fetch_wait, ep->err);
	if (!rc)
		rc = kafka_setf(conf, "fetch.message.max.bytes", k.max_bytes, ep->err);
	/*
	 * A consumer behind by more than queued.min.messages pauses its fetches
	 * for fetch.error.backoff.ms (500 ms by default): long enough, on top of
	 * the mock's pace, for the harness to take the pause for the end of the
	 * stream. Back off 10 ms instead.
	 */
	if (!rc)
		rc = kafka_set(conf, "fetch.error.backoff.ms", "10", ep->err);
	/*
	 * A killed consumer keeps its partitions until its session times out
	 * (45 s by default): 6 s, the brokers' usual group.min.session.timeout.ms,
	 * lets a restarted one take over within the harness's open deadline.
	 */
	if (!rc)
		rc = kafka_set(conf, "session.timeout.ms", "6000", ep->err);
	if (!rc)
		rc = kafka_set(conf, "heartbeat.interval.ms", "1000", ep->err);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	e->rk = kafka_client(RD_KAFKA_CONSUMER, conf, bs, ep->err);
	if (!e->rk)
		return IPCL_EINVAL;
	rd_kafka_poll_set_consumer(e->rk);
	e->topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(e->topics, e->topic, RD_KAFKA_PARTITION_UA);
	{
		rd_kafka_resp_err_t err = rd_kafka_subscribe(e->rk, e->topics);

		if (err)
			return ipcl_seterr(ep->err, IPCL_EBROKER,
					   "kafka: subscribe %s: %s", e->topic,
					   rd_kafka_err2str(err));
	}
	return kafka_join(ep, deadline_ns);
}

/* The first failed delivery report as an error, or 0. */
static int kafka_failed(struct ipcl_ep *ep)
{
	struct kafka_ep *e = ep->state;
	int n = atomic_load(&e->failed);

	if (!n)
		return 0;
	return ipcl_seterr(ep->err, IPCL_EBROKER,
			   "kafka: %d message(s) not delivered: %s", n,
			   rd_kafka_err2str(e->first));
}

/* ms left before deadline for a librdkafka timeout: -1 = forever, at least 0. */
static int kafka_ms(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == IPCL_FOREVER)
		return -1;
	left = (deadline_ns - ipcl_now_ns() + 999999) / 1000000;
	return left < 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

static int kafka_send(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	struct kafka_ep *e = ep->state;
	int32_t part = (int32_t)((e->rr ? e->sent : e->index) % e->partitions);
	int rc = kafka_failed(ep);

	if (rc)
		return rc;
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    e->rk, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_PARTITION(part),
		    RD_KAFKA_V_VALUE((void *)msg, len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

		if (!err)
			break;
		if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
			return ipcl_seterr(ep->err, IPCL_ETOOBIG,
					   "kafka: a %zu-byte message is over "
					   "message.max.bytes",
					   len);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return ipcl_seterr(ep->err, IPCL_EBROKER, "kafka: produce: %s",
					   rd_kafka_err2str(err));
		/* The local queue is full: serve delivery reports, then retry. */
		if (ipcl_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		rd_kafka_poll(e->rk, 1);
	}
	e->sent++;
	rd_kafka_poll(e->rk, 0);
	return 0;
}

/* Producer: wait until every message is delivered (or failed) by deadline. */
static int kafka_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct kafka_ep *e = ep->state;
	int ms = kafka_ms(deadline_ns);
	rd_kafka_resp_err_t err;

	if (!e->rk)
		return 0;
	err = rd_kafka_flush(e->rk, ms < 0 ? 24 * 3600 * 1000 : ms);
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return ipcl_seterr(
		    ep->err, -ETIMEDOUT,
		    "kafka: %d message(s) still undelivered at the deadline",
		    rd_kafka_outq_len(e->rk));
	return kafka_failed(ep);
}

static int kafka_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		      int64_t deadline_ns)
{
	struct kafka_ep *e = ep->state;

	for (;;) {
		int ms = kafka_ms(deadline_ns);
		rd_kafka_message_t *m = e->early;

		e->early = NULL;
		if (!m)
			m = rd_kafka_consumer_poll(e->rk, ms < 0 ? 1000 : ms);

		if (!m) {
			if (ipcl_now_ns() >= deadline_ns)
				return -ETIMEDOUT;
			continue;
		}
		if (m->err) {
			rd_kafka_resp_err_t err = m->err;

			rd_kafka_message_destroy(m);
			if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				continue;
			return ipcl_seterr(ep->err, IPCL_EBROKER, "kafka: consume: %s",
					   rd_kafka_err2str(err));
		}
		if (m->len > cap) {
			*len = m->len;
			rd_kafka_message_destroy(m);
			return ipcl_seterr(ep->err, IPCL_ETRUNC,
					   "kafka: %zu-byte message, buffer of %zu bytes",
					   *len, cap);
		}
		memcpy(buf, m->payload, m->len);
		*len = m->len;
		if (e->last)
			rd_kafka_message_destroy(e->last);
		e->last = m;
		return 0;
	}
}

/* Commit the offset after the message recv() returned last. */
static int kafka_ack(struct ipcl_ep *ep)
{
	struct kafka_ep *e = ep->state;
	rd_kafka_resp_err_t err;

	if (!e->last)
		return 0;
	err = rd_kafka_commit_message(e->rk, e->last, !e->sync);
	rd_kafka_message_destroy(e->last);
	e->last = NULL;
	if (err)
		return ipcl_seterr(ep->err, IPCL_EBROKER, "kafka: commit: %s",
				   rd_kafka_err2str(err));
	return 0;
}

static void kafka_close(struct ipcl_ep *ep)
{
	struct kafka_ep *e = ep->state;

	if (e->last)
		rd_kafka_message_destroy(e->last);
	if (e->early)
		rd_kafka_message_destroy(e->early);
	if (e->rk && ep->role == IPCL_CONSUMER)
		rd_kafka_consumer_close(e->rk); /* commits nothing: acks did */
	if (e->rk)
		rd_kafka_destroy(e->rk);
	if (e->topics)
		rd_kafka_topic_partition_list_destroy(e->topics);
	memset(e, 0, sizeof *e);
}

const struct ipcl_transport ipcl_transport_kafka = {
    .name = "kafka",
    .summary = "Apache Kafka (librdkafka): topic, consumer group, commit after "
	       "processing; librdkafka's mock cluster unless IPCLAB_KAFKA_URL",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_DURABLE | IPCL_CAP_MULTI_PRODUCER |
	    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .chan_state_size = sizeof(struct kafka_chan),
    .ep_state_size = sizeof(struct kafka_ep),
    .options = kafka_options,
    .probe = kafka_probe,
    .setup = kafka_setup,
    .teardown = kafka_teardown,
    .open = kafka_open,
    .send = kafka_send,
    .recv = kafka_recv,
    .ack = kafka_ack,
    .flush = kafka_flush,
    .close = kafka_close,
};
