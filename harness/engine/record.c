/*
 * record.c - turn a finished run's board into one JSON record (jansson), with
 * the environment (uname, /proc/cpuinfo, sysfs) and the JSON-lines append.
 * Figures only come from the board, read through board.h's accessors: nothing
 * here measures, and the fault object is inject.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine/board.h"
#include "engine/frame.h"
#include "engine/record.h"
#include "engine/registry.h"
#include <ipclab/server.h>

static const char *const cap_names[] = {
    "msg_boundary", "durable",      "multi_producer", "multi_consumer",
    "cross_host",   "related_only", "needs_server",   "lossy",
    "fanout",       "threads_only", "has_eof",        "reqrep",
};

json_t *ipcl_caps_json(uint32_t caps)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
		if (caps & (1u << i))
			json_array_append_new(a, json_string(cap_names[i]));
	return a;
}

json_t *ipcl_hist_json(const struct ipcl_hist *h, int with_buckets)
{
	json_t *o = json_object(), *spec, *bk;
	double pct[128];
	uint64_t val[128];
	int n;

	json_object_set_new(o, "unit", json_string("ns"));
	json_object_set_new(o, "count", json_integer((json_int_t)h->count));
	if (!h->count)
		return o;
	json_object_set_new(o, "min", json_integer((json_int_t)h->min));
	json_object_set_new(o, "p50",
			    json_integer((json_int_t)ipcl_hist_percentile(h, 50)));
	json_object_set_new(o, "p90",
			    json_integer((json_int_t)ipcl_hist_percentile(h, 90)));
	json_object_set_new(o, "p99",
			    json_integer((json_int_t)ipcl_hist_percentile(h, 99)));
	json_object_set_new(o, "p99_9",
			    json_integer((json_int_t)ipcl_hist_percentile(h, 99.9)));
	json_object_set_new(o, "p99_99",
			    json_integer((json_int_t)ipcl_hist_percentile(h, 99.99)));
	json_object_set_new(o, "max", json_integer((json_int_t)h->max));
	json_object_set_new(o, "mean", json_real(ipcl_hist_mean(h)));
	json_object_set_new(o, "stddev", json_real(ipcl_hist_stddev(h)));
	if (h->overflow)
		json_object_set_new(o, "overflow", json_integer((json_int_t)h->overflow));
	n = ipcl_hist_spectrum(h, pct, val, 128);
	spec = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(spec,
				      json_pack("[f,I]", pct[i], (json_int_t)val[i]));
	json_object_set_new(o, "spectrum", spec);
	if (with_buckets) {
		bk = json_array();
		for (int i = 0; i < IPCL_HIST_BUCKETS; i++)
			if (h->b[i])
				json_array_append_new(
				    bk, json_pack("[i,I]", i, (json_int_t)h->b[i]));
		json_object_set_new(o, "hist",
				    json_pack("{s:i,s:o}", "sub_bits", IPCL_HIST_SUB_BITS,
					      "buckets", bk));
	}
	return o;
}

int ipcl_hist_from_json(const json_t *lat, struct ipcl_hist *h)
{
	const json_t *hist = json_object_get(lat, "hist"), *bk, *e;
	size_t i;

	ipcl_hist_init(h);
	if (!hist ||
	    json_integer_value(json_object_get(hist, "sub_bits")) != IPCL_HIST_SUB_BITS)
		return -EINVAL;
	bk = json_object_get(hist, "buckets");
	json_array_foreach(bk, i, e)
	{
		json_int_t idx = json_integer_value(json_array_get(e, 0));
		json_int_t cnt = json_integer_value(json_array_get(e, 1));

		if (idx < 0 || idx >= IPCL_HIST_BUCKETS || cnt < 0)
			return -EINVAL;
		h->b[idx] += (uint64_t)cnt;
		h->count += (uint64_t)cnt;
	}
	h->min = (uint64_t)json_integer_value(json_object_get(lat, "min"));
	h->max = (uint64_t)json_integer_value(json_object_get(lat, "max"));
	h->sum = json_real_value(json_object_get(lat, "mean")) * (double)h->count;
	{
		double sd = json_real_value(json_object_get(lat, "stddev"));
		double m = json_real_value(json_object_get(lat, "mean"));

		h->sumsq = (sd * sd + m * m) * (double)h->count;
	}
	return 0;
}

static void env_cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, cap, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			c += 2;
			c[strcspn(c, "\n")] = 0;
			snprintf(out, cap, "%s", c);
			break;
		}
	}
	fclose(f);
}

static void env_read_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	out[0] = 0;
	if (!f)
		return;
	if (fgets(out, (int)cap, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

json_t *ipcl_env_json(void)
{
	struct utsname u;
	char cpu[256], clk[64], gov[64];
	json_t *env = json_object(), *libs = json_object();
	const char *lib, *ver;
	cpu_set_t set;

	uname(&u);
	env_cpu_model(cpu, sizeof cpu);
	env_read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      clk, sizeof clk);
	env_read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", gov,
		      sizeof gov);
	json_object_set_new(env, "kernel", json_sprintf("%s %s", u.sysname, u.release));
	json_object_set_new(env, "kernel_version", json_string(u.version));
	json_object_set_new(env, "machine", json_string(u.machine));
	json_object_set_new(env, "cpu_model", json_string(cpu));
	json_object_set_new(env, "cores_online",
			    json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		json_object_set_new(env, "cpus_allowed", json_integer(CPU_COUNT(&set)));
	if (clk[0])
		json_object_set_new(env, "clocksource", json_string(clk));
	if (gov[0])
		json_object_set_new(env, "cpufreq_governor", json_string(gov));
	json_object_set_new(env, "compiler", json_string("gcc " __VERSION__));
#if defined(__SANITIZE_ADDRESS__)
	json_object_set_new(env, "sanitizer", json_string("address,undefined"));
#elif defined(__SANITIZE_THREAD__)
	json_object_set_new(env, "sanitizer", json_string("thread"));
#endif
	json_object_set_new(libs, "jansson", json_string(JANSSON_VERSION));
	for (int i = 0; (lib = ipcl_libversion_at(i, &ver)) != NULL; i++)
		json_object_set_new(libs, lib, json_string(ver));
	json_object_set_new(env, "libraries", libs);
	return env;
}

/* A fact's value as a JSON integer when it is one, else a string. */
static json_t *fact_value(const char *v)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (*v && !*end && !errno)
		return json_integer(x);
	return json_string(v);
}

static json_t *result_params(const struct ipcl_runcfg *c, const struct ipcl_board *board)
{
	json_t *p = json_object(), *o = json_object();

	json_object_set_new(p, "size", json_integer((json_int_t)c->size));
	if (board && ipcl_board_msg_size(board) != c->size)
		json_object_set_new(p, "size_on_wire",
				    json_integer((json_int_t)ipcl_board_msg_size(board)));
	json_object_set_new(p, "frame",
			    json_string(board && ipcl_board_mini(board)
					    ? "mini (sequence number only)"
					    : "full"));
	if (c->duration_ns)
		json_object_set_new(p, "duration_s",
				    json_real((double)c->duration_ns / 1e9));
	else
		json_object_set_new(p, "count", json_integer((json_int_t)c->count));
	json_object_set_new(p, "warmup", json_integer((json_int_t)c->warmup));
	if (c->pattern == IPCL_RATE)
		json_object_set_new(p, "rate", json_real(c->rate));
	json_object_set_new(p, "producers",
			    json_integer(c->pattern == IPCL_PINGPONG ? 1 : c->producers));
	json_object_set_new(p, "consumers",
			    json_integer(c->pattern == IPCL_PINGPONG ? 1 : c->consumers));
	json_object_set_new(p, "mode", json_string(c->threads ? "thread" : "process"));
	json_object_set_new(p, "placement",
			    json_string(ipcl_placement_name(c->placement)));
	if (c->fault == IPCL_FAULT_STALL)
		json_object_set_new(p, "fault",
				    json_sprintf("consumer stall %.0f ms after %llu msgs",
						 (double)c->stall_ns / 1e6,
						 (unsigned long long)c->fault_at));
	else if (c->fault == IPCL_FAULT_OVERSIZE)
		json_object_set_new(p, "fault",
				    json_sprintf("oversize message after %llu msgs",
						 (unsigned long long)c->fault_at));
	else if (c->fault)
		json_object_set_new(p, "fault",
				    json_sprintf("%s after %llu msgs",
						 ipcl_fault_name(c->fault),
						 (unsigned long long)c->fault_at));
	for (int i = 0; i < c->nkv; i++) {
		char red[256];

		ipcl_url_redact(c->kv[i].val, red, sizeof red);
		json_object_set_new(o, c->kv[i].key, json_string(red));
	}
	json_object_set_new(p, "options", o);
	return p;
}

static json_t *result_cpu(uint64_t msgs, int64_t user, int64_t sys)
{
	if (!msgs)
		return json_null();
	return json_pack("{s:f,s:f,s:f,s:I}", "user_ns_per_msg",
			 (double)user / (double)msgs, "sys_ns_per_msg",
			 (double)sys / (double)msgs, "total_ns_per_msg",
			 (double)(user + sys) / (double)msgs, "msgs", (json_int_t)msgs);
}

/* What the roles' slots add up to, for the record's figures. */
struct record_sums {
	struct ipcl_hist lat, oneway, lag;
	struct ipcl_verify v;
	uint64_t sent, measured, bytes, lost_rtt, sent_measured, refused;
	int64_t t_first, t_last, send_last;
	int64_t cpu[2][2]; /* [sender, receiver][user, sys] ns */
	uint64_t cpu_msgs[2];
	const char *role_err; /* the first role's error, or NULL */
};

/* schema, version, time, transport, pattern, params, limits, env. */
static void record_head(json_t *rec, const struct ipcl_runcfg *c,
			const struct ipcl_transport *t, const struct ipcl_probe *probe,
			const struct ipcl_board *board)
{
	json_t *lim = json_object();
	char when[32];
	time_t now = time(NULL);

	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_set_new(rec, "schema", json_string(IPCL_SCHEMA));
	json_object_set_new(rec, "ipclab", json_string(IPCL_VERSION));
	json_object_set_new(rec, "time", json_string(when));
	json_object_set_new(rec, "transport", json_string(t->name));
	json_object_set_new(rec, "caps", ipcl_caps_json(t->caps));
	json_object_set_new(rec, "pattern", json_string(ipcl_pattern_name(c->pattern)));
	json_object_set_new(rec, "params", result_params(c, board));
	json_object_set_new(lim, "max_msg", json_integer((json_int_t)probe->max_msg));
	for (int i = 0; i < probe->n; i++)
		json_object_set_new(lim, probe->kv[i].key, fact_value(probe->kv[i].val));
	json_object_set_new(rec, "limits", lim);
	json_object_set_new(rec, "env", ipcl_env_json());
}

/* Add one role's slot to the sums. */
static void record_add(const struct ipcl_runcfg *c, const struct ipcl_slot_view *s,
		       struct record_sums *m)
{
	int side = s->sender ? 0 : 1;

	m->v.delivered += s->v.delivered;
	m->v.duplicated += s->v.duplicated;
	m->v.reordered += s->v.reordered;
	m->v.corrupt += s->v.corrupt;
	m->v.beyond += s->v.beyond;
	m->lost_rtt += s->lost_rtt;
	m->refused += s->refused;
	m->cpu[side][0] += s->cpu_user_ns;
	m->cpu[side][1] += s->cpu_sys_ns;
	m->cpu_msgs[side] += s->msgs;
	if (c->pattern == IPCL_PINGPONG) {
		m->sent += s->msgs;
		if (s->sender) {
			ipcl_hist_merge(&m->lat, s->lat);
			m->measured = s->measured;
			m->t_first = s->t_first;
			m->t_last = s->t_last;
		} else {
			ipcl_hist_merge(&m->oneway, s->lat);
		}
	} else if (s->sender) {
		m->sent += s->msgs;
		m->sent_measured += s->measured;
		if (s->t_first && s->t_first < m->t_first)
			m->t_first = s->t_first;
		if (s->t_last > m->send_last)
			m->send_last = s->t_last;
		ipcl_hist_merge(&m->lag, s->lag);
	} else {
		ipcl_hist_merge(&m->lat, s->lat);
		m->measured += s->measured;
		m->bytes += s->bytes;
		if (s->t_last > m->t_last)
			m->t_last = s->t_last;
	}
}

/* The "roles" array (one object per slot), summing the slots into m. */
static json_t *record_roles(const struct ipcl_runcfg *c, const struct ipcl_board *board,
			    struct record_sums *m)
{
	json_t *roles = json_array();
	int nroles = board ? ipcl_board_roles(board) : 0;

	for (int i = 0; i < nroles; i++) {
		struct ipcl_slot_view s;
		json_t *r;

		ipcl_board_slot(board, i, &s);
		r = json_pack("{s:s,s:i,s:I}", "kind", s.kind, "index", s.index, "msgs",
			      (json_int_t)s.msgs);
		if (s.cpu >= 0)
			json_object_set_new(r, "cpu", json_integer(s.cpu));
		if (s.refused)
			json_object_set_new(r, "refused_peers",
					    json_integer((json_int_t)s.refused));
		if (s.rc) {
			json_object_set_new(r, "error", json_string(s.err));
			if (!m->role_err)
				m->role_err = s.err;
		}
		json_array_append_new(roles, r);
		record_add(c, &s, m);
	}
	return roles;
}

/*
 * The Jepsen rule: split "lost" by what the producers were told. A producer's
 * acknowledged count is a prefix of its sequence numbers (struct ipcl_slot);
 * a missing message below it was lost after its acknowledgment (a broken
 * guarantee), one above it is indeterminate (the sender was never told it
 * arrived and would send it again). "acked_by" names the acknowledgment:
 * "transport" (confirms, server replies, COMMIT), "reply" (request/response)
 * or "send" (the mechanism has none: a returned send() counts).
 */
static void record_acked(json_t *v, const struct ipcl_runcfg *c,
			 const struct ipcl_board *board)
{
	static const char *const by[] = {"send", "transport", "reply"};
	uint64_t acked = 0, after = 0, unacked_missing = 0, unacked_delivered = 0;
	int kind = IPCL_ACK_SEND;

	for (int set = 0; set < ipcl_board_sets(board); set++) {
		struct ipcl_slot_view p;
		uint64_t a, miss;

		ipcl_board_slot(board, set % c->producers, &p);
		a = p.acked < p.msgs ? p.acked : p.msgs;
		if (set < c->producers) {
			acked += a;
			if (p.ack_kind > kind)
				kind = p.ack_kind;
		}
		after += ipcl_board_missing(board, set, 0, a);
		miss = ipcl_board_missing(board, set, a, p.msgs);
		unacked_missing += miss;
		unacked_delivered += p.msgs - a - miss;
	}
	json_object_set_new(v, "acked_by", json_string(by[kind]));
	json_object_set_new(v, "acked", json_integer((json_int_t)acked));
	json_object_set_new(v, "lost_after_ack", json_integer((json_int_t)after));
	json_object_set_new(v, "unacked_missing",
			    json_integer((json_int_t)unacked_missing));
	json_object_set_new(v, "unacked_delivered",
			    json_integer((json_int_t)unacked_delivered));
}

/* "verify": sent, expected, delivered, unique, lost, duplicated, reordered, corrupt. */
static void record_verify(json_t *rec, const struct ipcl_runcfg *c,
			  const struct ipcl_board *board, const struct record_sums *m)
{
	uint64_t unique = 0, expected = m->sent;

	for (int i = 0; i < ipcl_board_sets(board); i++)
		unique += ipcl_board_unique(board, i);
	if (c->pattern != IPCL_PINGPONG && ipcl_board_fanout(board))
		expected = m->sent * (uint64_t)c->consumers;
	json_object_set_new(
	    rec, "verify",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "sent", (json_int_t)m->sent,
		      "expected", (json_int_t)expected, "delivered",
		      (json_int_t)m->v.delivered, "unique", (json_int_t)unique, "lost",
		      (json_int_t)(expected > unique ? expected - unique : 0),
		      "duplicated", (json_int_t)m->v.duplicated, "reordered",
		      (json_int_t)m->v.reordered, "corrupt",
		      (json_int_t)(m->v.corrupt + m->v.beyond)));
	/* Foreign connections or datagrams refused (ipclab/peer.h): never data. */
	json_object_set_new(json_object_get(rec, "verify"), "refused_peers",
			    json_integer((json_int_t)m->refused));
	if (m->lost_rtt)
		json_object_set_new(json_object_get(rec, "verify"),
				    "timed_out_round_trips",
				    json_integer((json_int_t)m->lost_rtt));
	if (c->pattern != IPCL_PINGPONG)
		record_acked(json_object_get(rec, "verify"), c, board);
}

/* "latency", "one_way", "schedule_lag", "throughput" and "cpu". */
static void record_figures(json_t *rec, const struct ipcl_runcfg *c,
			   const struct ipcl_board *board, const struct record_sums *m)
{
	if (m->lat.count) {
		json_t *l = ipcl_hist_json(&m->lat, 1);

		json_object_set_new(
		    l, "kind",
		    json_string(c->pattern == IPCL_PINGPONG ? "round_trip" : "one_way"));
		if (c->pattern == IPCL_RATE)
			json_object_set_new(l, "from", json_string("intended send time"));
		json_object_set_new(rec, "latency", l);
	}
	if (m->oneway.count)
		json_object_set_new(rec, "one_way", ipcl_hist_json(&m->oneway, 0));
	if (c->pattern == IPCL_RATE && m->lag.count)
		json_object_set_new(rec, "schedule_lag", ipcl_hist_json(&m->lag, 0));
	if (m->measured && m->t_last > m->t_first && m->t_first != INT64_MAX) {
		double el = (double)(m->t_last - m->t_first) / 1e9;
		size_t size = ipcl_board_msg_size(board);

		json_object_set_new(
		    rec, "throughput",
		    json_pack("{s:I,s:f,s:f,s:f}", "msgs", (json_int_t)m->measured,
			      "elapsed_s", el, "msgs_per_s", (double)m->measured / el,
			      "mb_per_s", (double)m->measured * (double)size / el / 1e6));
		/* What the producers managed on their own, flushes included. */
		if (c->pattern == IPCL_STREAM && m->sent_measured &&
		    m->send_last > m->t_first)
			json_object_set_new(
			    json_object_get(rec, "throughput"), "producer_msgs_per_s",
			    json_real((double)m->sent_measured /
				      ((double)(m->send_last - m->t_first) / 1e9)));
	}
	json_object_set_new(
	    rec, "cpu",
	    json_pack("{s:o,s:o,s:s}", "sender",
		      result_cpu(m->cpu_msgs[0], m->cpu[0][0], m->cpu[0][1]), "receiver",
		      result_cpu(m->cpu_msgs[1], m->cpu[1][0], m->cpu[1][1]), "clock",
		      c->threads ? "per-thread rusage" : "per-process rusage"));
}

/* A probe fact's value, or NULL. */
static const char *record_fact(const struct ipcl_probe *probe, const char *key)
{
	for (int i = 0; i < probe->n; i++)
		if (strcmp(probe->kv[i].key, key) == 0)
			return probe->kv[i].val;
	return NULL;
}

/*
 * What the figures are worth (docs/results.md): "flow_control" (does a full
 * pipe hold the sender back, or drop?), "backpressure" (how), "carried_bytes"
 * and "verified" (what travelled per message and what the receiver checked),
 * and for a run without flow control that lost messages, "overload" ("X%
 * dropped"): its msgs/s counts only the survivors of an overloaded pipe.
 */
static void record_delivery(json_t *rec, const struct ipcl_runcfg *c,
			    const struct ipcl_transport *t,
			    const struct ipcl_probe *probe,
			    const struct ipcl_board *board)
{
	const char *fc = record_fact(probe, "flow_control");
	const char *bp = record_fact(probe, "backpressure");
	int flow = fc ? strcmp(fc, "0") != 0 : !(t->caps & IPCL_CAP_LOSSY);
	const json_t *v = json_object_get(rec, "verify");
	json_int_t lost = json_integer_value(json_object_get(v, "lost"));
	json_int_t expected = json_integer_value(json_object_get(v, "expected"));
	json_t *ver = json_array();

	json_object_set_new(rec, "flow_control", json_boolean(flow));
	json_object_set_new(rec, "backpressure",
			    json_string(bp     ? bp
					: flow ? "send blocks while the channel is full"
					       : "none: the mechanism drops when full"));
	json_object_set_new(rec, "carried_bytes",
			    json_integer((json_int_t)ipcl_board_msg_size(board)));
	json_array_append_new(ver, json_string("seq"));
	if (!ipcl_board_mini(board)) {
		json_array_append_new(ver, json_string("len"));
		json_array_append_new(ver, json_string("csum"));
		json_array_append_new(ver, json_string("time"));
	}
	json_object_set_new(rec, "verified", ver);
	if (!flow && lost > 0 && expected > 0 && c->pattern != IPCL_PINGPONG &&
	    !c->fault) {
		double pct = 100.0 * (double)lost / (double)expected;

		json_object_set_new(rec, "overload", json_sprintf("%.1f%% dropped", pct));
		json_object_set_new(rec, "overload_dropped_pct", json_real(pct));
	}
}

json_t *ipcl_result_record(const struct ipcl_runcfg *c, const struct ipcl_transport *t,
			   const struct ipcl_probe *probe, const struct ipcl_board *board,
			   const char *error)
{
	json_t *rec = json_object();
	struct record_sums m = {.t_first = INT64_MAX};

	record_head(rec, c, t, probe, board);
	ipcl_hist_init(&m.lat);
	ipcl_hist_init(&m.oneway);
	ipcl_hist_init(&m.lag);
	json_object_set_new(rec, "roles", record_roles(c, board, &m));
	if (!error && m.role_err)
		error = m.role_err;
	json_object_set_new(rec, "status", json_string(error ? "error" : "ok"));
	if (error)
		json_object_set_new(rec, "error", json_string(error));
	if (!board)
		return rec;
	record_verify(rec, c, board, &m);
	record_figures(rec, c, board, &m);
	record_delivery(rec, c, t, probe, board);
	return rec;
}

int ipcl_result_failed(const json_t *rec, int expect_loss)
{
	const json_t *v = json_object_get(rec, "verify");

	if (strcmp(json_string_value(json_object_get(rec, "status")), "ok") != 0)
		return 1;
	if (!v)
		return 1;
	if (json_integer_value(json_object_get(v, "corrupt")))
		return 1;
	if (expect_loss)
		return 0;
	return json_integer_value(json_object_get(v, "lost")) ||
	       json_integer_value(json_object_get(v, "duplicated"));
}

int ipcl_result_append(const char *path, const json_t *rec)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "a");
	int rc = 0;

	if (!f)
		return -errno;
	if (json_dumpf(rec, f, JSON_COMPACT) < 0 || fputc('\n', f) == EOF)
		rc = -EIO;
	if (f != stdout) {
		if (fclose(f) != 0 && !rc)
			rc = -errno;
	} else {
		fflush(f);
	}
	return rc;
}
