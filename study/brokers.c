/*
 * brokers.c - claims 6, 7 and 8, answered with harness runs (ipcl_run) against
 * broker servers when their URLs are known ($IPCLAB_REDIS_URL, $IPCLAB_AMQP_URL,
 * $IPCLAB_PG_URL; `ipclab brokers up` starts throwaway ones). Without a URL the
 * section says which run would answer it.
 *
 *  6 "Redis pub/sub delivers only to who is listening; lists and streams keep
 *    messages": the consumer is killed halfway and a fresh one joins late
 *    (--fault kill-consumer); what it missed is counted.
 *  7 "A broker keeps messages when a consumer dies; a direct call fails": the
 *    same fault on rabbitmq and redis-stream against direct calls: a TCP
 *    connection and HTTP requests (when the http transport is built).
 *  8 "A shared database table works as a queue but becomes the bottleneck":
 *    stream throughput and latency of pg-outbox with 1..8 producers and as many
 *    consumers, against redis-stream and rabbitmq at the same concurrency.
 *
 * Leaves out: killing the broker itself (docs/faults.md).
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/faultcell.h"
#include "study/harnessrun.h"
#include "study/study.h"

#define NS 1000000000LL

/* The kill-consumer run of transport t: fills lost, delivered; the record's
 * fault cell goes into the table. Returns 0, or -1 when not run (row says why). */
static int bk_kill(const struct ipcl_study_opts *o, json_t *rows, const char *t,
		   const char *server, double *lost, double *sent)
{
	struct ipcl_runcfg c;
	char err[512] = "", cell[IPCL_FAULT_CELL_MAX];
	const char *missing = server ? ipcl_study_missing_server(server) : NULL;
	json_t *rec;

	*lost = *sent = NAN;
	if (missing) {
		ipcl_study_row(rows, "%s|not run: $%s unset||", t, missing);
		return -1;
	}
	ipcl_study_runcfg(&c, t);
	c.pattern = IPCL_STREAM;
	c.count = o->quick ? 2000 : 20000;
	c.warmup = 0;
	c.expect_loss = 1;
	c.fault = IPCL_FAULT_KILL_CONSUMER;
	c.fault_at = c.count / 2;
	ipcl_study_progress(o, "%s: kill-consumer", t);
	if (!(rec = ipcl_study_run(&c, err))) {
		ipcl_study_row(rows, "%s|not run: %.150s||", t, err);
		return -1;
	}
	ipcl_fault_cell(rec, cell, sizeof cell);
	*lost = ipcl_study_num(rec, "verify.lost");
	*sent = ipcl_study_num(rec, "verify.sent");
	ipcl_study_row(rows, "%s|%.0f|%.0f|%s", t, *sent, *lost, cell);
	return 0;
}

static const char *const kill_cols[] = {"transport", "sent", "lost", "what happened",
					NULL};

int ipcl_study_pubsub(const struct ipcl_study_opts *o, json_t *sec)
{
	static const char *const ts[] = {"redis-pubsub", "redis-list", "redis-stream"};
	double lost[3], sent[3];
	int ran = 0;
	json_t *rows;

	ipcl_study_experiment(
	    sec, "A harness stream run per Redis transport; the consumer is "
		 "SIGKILLed halfway and a fresh one joins late (--fault "
		 "kill-consumer@N/2). Counted: what the late joiner never got.");
	rows = ipcl_study_table(sec, "Late join after a consumer dies", kill_cols);
	for (int i = 0; i < 3; i++)
		ran += bk_kill(o, rows, ts[i], "redis", &lost[i], &sent[i]) == 0;
	ipcl_study_note(
	    sec, "The harness starts the new consumer at once, so pub/sub's loss is "
		 "what was published in the few milliseconds with no subscriber (and "
		 "what sat unread in the dead one's socket): a longer absence loses "
		 "proportionally more. A plain list (LPUSH/BRPOP) loses the message the "
		 "dead consumer had popped; redis-list-reliable and the stream's "
		 "pending list keep it.");
	ipcl_study_figure(sec, "pubsub_lost", lost[0]);
	ipcl_study_figure(sec, "list_lost", lost[1]);
	ipcl_study_figure(sec, "stream_lost", lost[2]);
	if (ran < 3)
		ipcl_study_verdict(
		    sec, "not measured",
		    "No Redis server is known here. The run that answers it: "
		    "`ipclab brokers up redis && eval \"$(ipclab brokers env)\" && "
		    "ipclab study --only pubsub` (or `ipclab faults -t "
		    "redis-pubsub,redis-list,redis-stream -S kill-consumer`).");
	else if (lost[0] > 0 && lost[2] == 0)
		ipcl_study_verdict(
		    sec, "holds",
		    "The late pub/sub subscriber missed %.0f of %.0f messages; the "
		    "stream's late consumer missed %.0f, the list's %.0f (a plain "
		    "list loses the one message the dead consumer had popped).",
		    lost[0], sent[0], lost[2], lost[1]);
	else
		ipcl_study_verdict(sec, "does not hold here",
				   "pub/sub lost %.0f, list %.0f, stream %.0f messages.",
				   lost[0], lost[1], lost[2]);
	return 0;
}

int ipcl_study_brokerkill(const struct ipcl_study_opts *o, json_t *sec)
{
	double lt, st, lh, sh, lr, sr, ls, ss;
	int rh, rr, rs;
	json_t *rows;

	ipcl_study_experiment(
	    sec, "A harness stream run per transport with the consumer "
		 "SIGKILLed halfway and a fresh one started (--fault "
		 "kill-consumer@N/2): what the producer saw and what was lost.");
	rows = ipcl_study_table(sec, "A consumer dies mid-stream", kill_cols);
	bk_kill(o, rows, "tcp", NULL, &lt, &st);
	rh = bk_kill(o, rows, "http", NULL, &lh, &sh);
	rr = bk_kill(o, rows, "rabbitmq", "rabbitmq", &lr, &sr);
	rs = bk_kill(o, rows, "redis-stream", "redis", &ls, &ss);
	ipcl_study_figure(sec, "tcp_lost", lt);
	if (!rh)
		ipcl_study_figure(sec, "http_lost", lh);
	ipcl_study_figure(sec, "rabbitmq_lost", lr);
	ipcl_study_figure(sec, "redis_stream_lost", ls);
	if (rr && rs)
		ipcl_study_verdict(sec, "not measured",
				   "Half of it: the direct TCP connection lost %.0f of "
				   "%.0f messages when its "
				   "consumer died. No broker is known here; the run that "
				   "answers the rest: "
				   "`ipclab brokers up redis rabbitmq && eval \"$(ipclab "
				   "brokers env)\" && "
				   "ipclab study --only broker-kill`.",
				   lt, st);
	else if ((rr || lr == 0) && (rs || ls == 0) && lt > 0)
		ipcl_study_verdict(
		    sec, "holds",
		    "The direct TCP connection lost %.0f of %.0f messages (its "
		    "producer got ECONNRESET); %s.",
		    lt, st,
		    !rr && !rs ? "rabbitmq and redis-stream lost none"
		    : !rr      ? "rabbitmq lost none (redis not run)"
			       : "redis-stream lost none (rabbitmq not run)");
	else
		ipcl_study_verdict(
		    sec, "does not hold here",
		    "tcp lost %.0f, rabbitmq %.0f, redis-stream %.0f messages.", lt, lr,
		    ls);
	return 0;
}

int ipcl_study_outbox(const struct ipcl_study_opts *o, json_t *sec)
{
	static const char *const ts[] = {"pg-outbox", "redis-stream", "rabbitmq"};
	static const char *const sv[] = {"postgres", "redis", "rabbitmq"};
	static const int nq[] = {1, 4}, nf[] = {1, 2, 4, 8};
	const int *ns = o->quick ? nq : nf;
	int nn = o->quick ? 2 : 4;
	double thr[3][4];
	json_t *rows, *chart;
	const char *missing[3];

	ipcl_study_experiment(
	    sec,
	    "Harness stream runs with N producers and N consumers (N = %s), "
	    "%s each, 64 B: throughput and one-way latency.",
	    o->quick ? "1, 4" : "1, 2, 4, 8", o->quick ? "300 ms" : "1 s");
	rows = ipcl_study_table(sec, "Queue throughput against concurrency",
				(const char *const[]){"transport",
						      "producers = consumers", "msgs/s",
						      "one-way p99 us", "status", NULL});
	chart = ipcl_study_chart(sec, "outbox", "Queue throughput against concurrency",
				 "producers = consumers", "messages/s", 1, 0);
	for (int t = 0; t < 3; t++) {
		json_t *ser = ipcl_study_series(chart, ts[t]);

		missing[t] = ipcl_study_missing_server(sv[t]);
		for (int i = 0; i < nn; i++) {
			struct ipcl_runcfg c;
			char err[512] = "";
			json_t *rec;

			thr[t][i] = NAN;
			if (missing[t]) {
				if (i == 0)
					ipcl_study_row(rows, "%s||not run: $%s unset||",
						       ts[t], missing[t]);
				continue;
			}
			ipcl_study_runcfg(&c, ts[t]);
			c.pattern = IPCL_STREAM;
			c.count = 0;
			c.duration_ns = o->quick ? 3 * NS / 10 : NS;
			c.warmup = 100;
			c.producers = c.consumers = ns[i];
			ipcl_study_progress(o, "outbox: %s, %d x %d", ts[t], ns[i],
					    ns[i]);
			if (!(rec = ipcl_study_run(&c, err))) {
				ipcl_study_row(rows, "%s|%d|not run: %.120s||", ts[t],
					       ns[i], err);
				continue;
			}
			const char *st =
			    json_string_value(json_object_get(rec, "status"));
			thr[t][i] = ipcl_study_num(rec, "throughput.msgs_per_s");
			ipcl_study_row(rows, "%s|%d|%.0f|%.0f|%s", ts[t], ns[i],
				       thr[t][i],
				       ipcl_study_num(rec, "latency.p99") / 1e3,
				       st && strcmp(st, "ok") == 0 ? "ok" : "FAILED");
			ipcl_study_point(ser, ns[i], thr[t][i]);
		}
	}
	ipcl_study_figure(sec, "pg_msgs_per_s_1", thr[0][0]);
	ipcl_study_figure(sec, "pg_msgs_per_s_max", thr[0][nn - 1]);
	ipcl_study_figure(sec, "redis_stream_msgs_per_s_max", thr[1][nn - 1]);
	ipcl_study_figure(sec, "rabbitmq_msgs_per_s_max", thr[2][nn - 1]);
	ipcl_study_note(
	    sec, "pg-outbox runs with its defaults: synchronous_commit on (every "
		 "INSERT waits for a WAL flush), one row per transaction, LISTEN/NOTIFY "
		 "wake-up. The servers share the machine's two CPUs with the roles.");
	if (missing[0])
		ipcl_study_verdict(
		    sec, "not measured",
		    "No PostgreSQL server is known here ($%s unset). The run that "
		    "answers it: `ipclab brokers up && eval \"$(ipclab brokers env)\" "
		    "&& ipclab study --only outbox`.",
		    missing[0]);
	else {
		double scale = thr[0][nn - 1] / thr[0][0];
		double best = fmax(thr[1][nn - 1], thr[2][nn - 1]);

		ipcl_study_figure(sec, "pg_scaling", scale);
		if (!isnan(best) && thr[0][nn - 1] < best)
			ipcl_study_verdict(sec, "holds",
					   "pg-outbox went from %.0f to %.0f msgs/s as "
					   "producers and consumers "
					   "grew from %d to %d (x%.2f); at %d the best "
					   "broker did %.0f msgs/s.",
					   thr[0][0], thr[0][nn - 1], ns[0], ns[nn - 1],
					   scale, ns[nn - 1], best);
		else
			ipcl_study_verdict(
			    sec, isnan(best) ? "depends" : "does not hold here",
			    "pg-outbox went from %.0f to %.0f msgs/s from %d to %d "
			    "producers and "
			    "consumers (x%.2f); %s.",
			    thr[0][0], thr[0][nn - 1], ns[0], ns[nn - 1], scale,
			    isnan(best)
				? "no broker ran to compare with (depends on what it is "
				  "compared with)"
				: "it kept up with the brokers");
	}
	return 0;
}
