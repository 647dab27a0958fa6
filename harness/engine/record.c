/*
 * record.c - turn a finished run's board into one JSON record (jansson), with
 * the environment (uname, /proc/cpuinfo, sysfs) and the JSON-lines append.
 * Figures only come from the board, read through board.h's accessors: nothing
 * here measures, and the fault object is inject.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "engine/board.h"
#include "engine/clock.h"
#include "engine/frame.h"
#include "engine/record.h"
#include "engine/registry.h"
#include "engine/safefile.h"
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

/* A fact's value as a JSON integer, or boolean ("true"/"false"), when it is
 * one, else a string. */
static json_t *fact_value(const char *v)
{
	char *end;
	long long x;

	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
		return json_boolean(v[0] == 't');
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
	if (c->pattern == IPCL_RATE && board) { /* timing (issue 12) */
		struct ipcl_timing_view tv;

		ipcl_board_timing(board, &tv);
		json_object_set_new(p, "pacing",
				    json_string(tv.pacing_spin ? "spin" : "sleep"));
	}
	json_object_set_new(p, "producers",
			    json_integer(c->pattern == IPCL_PINGPONG ? 1 : c->producers));
	json_object_set_new(p, "consumers",
			    json_integer(c->pattern == IPCL_PINGPONG ? 1 : c->consumers));
	json_object_set_new(p, "mode", json_string(c->threads ? "thread" : "process"));
	json_object_set_new(p, "placement",
			    json_string(ipcl_placement_name(c->placement)));
	if (c->producer_only)
		json_object_set_new(p, "producer_only", json_true());
	/* How each message was checked: every byte, or frame.h's sampled regions. */
	json_object_set_new(p, "verify",
			    json_string(c->verify_sample ? "sample" : "full"));
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
	int64_t minflt[2];    /* timing (issue 12): [sender, receiver] minor faults */
	const char *role_err; /* the first role's error, or NULL */
};

static void record_env_timing(json_t *env, const struct ipcl_board *board);

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
	json_object_set_new(rec, "kind", json_string(ipcl_transport_kind(t)));
	json_object_set_new(rec, "pattern", json_string(ipcl_pattern_name(c->pattern)));
	json_object_set_new(rec, "params", result_params(c, board));
	/* Written and read in place (a loan transport) or copied by send/recv. */
	json_object_set_new(json_object_get(rec, "params"), "loan",
			    json_boolean(t->loan != NULL));
	json_object_set_new(lim, "max_msg", json_integer((json_int_t)probe->max_msg));
	for (int i = 0; i < probe->n; i++)
		json_object_set_new(lim, probe->kv[i].key, fact_value(probe->kv[i].val));
	json_object_set_new(rec, "limits", lim);
	json_object_set_new(rec, "env", ipcl_env_json());
	if (board)
		record_env_timing(json_object_get(rec, "env"), board);
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
	m->minflt[side] += s->minflt;
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

/* ---- timing (issue 12) --------------------------------------------------- */

/* A value of a latency object: an integer, or null for "infinite" (UINT64_MAX). */
static json_t *record_ns(uint64_t v)
{
	return v == UINT64_MAX ? json_null() : json_integer((json_int_t)v);
}

/* A short percentile summary of a histogram: count, p50, p90, p99, p99_9, max. */
static json_t *record_pcts(const struct ipcl_hist *h)
{
	json_t *o = json_pack("{s:s,s:I}", "unit", "ns", "count", (json_int_t)h->count);

	if (!h->count)
		return o;
	json_object_set_new(o, "p50", record_ns(ipcl_hist_percentile(h, 50)));
	json_object_set_new(o, "p90", record_ns(ipcl_hist_percentile(h, 90)));
	json_object_set_new(o, "p99", record_ns(ipcl_hist_percentile(h, 99)));
	json_object_set_new(o, "p99_9", record_ns(ipcl_hist_percentile(h, 99.9)));
	json_object_set_new(o, "max", record_ns(h->max));
	return o;
}

/* Per role: minor page faults; a rate producer's own send lag. */
static void record_role_timing(const struct ipcl_runcfg *c,
			       const struct ipcl_slot_view *s, json_t *r)
{
	json_object_set_new(r, "minflt", json_integer((json_int_t)s->minflt));
	if (c->pattern == IPCL_RATE && s->sender)
		json_object_set_new(r, "sender_lag", record_pcts(s->lag));
}

/*
 * Rate pattern with loss: every measured message that no consumer got counts
 * as an infinitely late one. Percentiles whose rank falls among them become
 * null, and so do max, mean and stddev; "lost" says how many. The spectrum
 * stops at its last finite point; "hist" keeps the delivered samples.
 */
static void record_lost_latency(json_t *l, const struct ipcl_hist *h, uint64_t lost)
{
	static const struct {
		const char *key;
		double p;
	} pct[] = {
	    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99}};
	json_t *spec = json_object_get(l, "spectrum"), *cut = json_array(), *e;
	size_t i;

	for (i = 0; i < sizeof pct / sizeof pct[0]; i++)
		json_object_set_new(
		    l, pct[i].key,
		    record_ns(ipcl_hist_percentile_lost(h, lost, pct[i].p)));
	json_object_set_new(l, "max", json_null());
	json_object_set_new(l, "mean", json_null());
	json_object_set_new(l, "stddev", json_null());
	json_object_set_new(l, "lost", json_integer((json_int_t)lost));
	json_object_set_new(l, "lost_as", json_string("infinite latency (null)"));
	/* The spectrum over delivered + lost: a point stays while its rank is finite. */
	json_array_foreach(spec, i, e)
	{
		double p = json_real_value(json_array_get(e, 0));
		uint64_t v = ipcl_hist_percentile_lost(h, lost, p);

		if (v == UINT64_MAX || p >= 100)
			break;
		json_array_append_new(cut, json_pack("[f,I]", p, (json_int_t)v));
	}
	json_object_set_new(l, "spectrum", cut);
}

/* Measured messages (seq >= warm-up) that no consumer got: rate pattern. */
static uint64_t record_lost_measured(const struct ipcl_runcfg *c,
				     const struct ipcl_board *board,
				     uint64_t sent_measured)
{
	uint64_t unique = 0, expected = sent_measured;

	for (int i = 0; i < ipcl_board_sets(board); i++)
		unique += ipcl_board_unique_from(board, i, c->warmup);
	if (ipcl_board_fanout(board))
		expected *= (uint64_t)c->consumers;
	return expected > unique ? expected - unique : 0;
}

/* "sender_lag" (merged over producers) and "late_sender" of a rate run. */
static void record_sender_lag(json_t *rec, const struct ipcl_runcfg *c,
			      const struct record_sums *m)
{
	json_t *lag = ipcl_hist_json(&m->lag, 0);
	int64_t bound = ipcl_late_bound(c);
	int late = 0;

	late = m->lag.count && (int64_t)ipcl_hist_percentile(&m->lag, 99) > bound;
	json_object_set_new(lag, "bound_ns", json_integer(bound));
	json_object_set_new(rec, "sender_lag", lag);
	json_object_set_new(rec, "late_sender", json_boolean(late));
}

/* "cpu.server", and minor faults per message on each side. */
static void record_cpu_timing(json_t *cpu, const struct ipcl_board *board,
			      const struct record_sums *m)
{
	struct ipcl_timing_view tv;
	uint64_t msgs = m->cpu_msgs[0];
	const char *side[2] = {"sender", "receiver"};

	ipcl_board_timing(board, &tv);
	for (int i = 0; i < 2; i++) {
		json_t *o = json_object_get(cpu, side[i]);

		if (json_is_object(o) && m->cpu_msgs[i])
			json_object_set_new(
			    o, "minflt_per_msg",
			    json_real((double)m->minflt[i] / (double)m->cpu_msgs[i]));
	}
	if (tv.process_cpu && msgs) {
		double u = (double)tv.process_user_ns, s = (double)tv.process_sys_ns;

		json_object_set_new(
		    cpu, "process",
		    json_pack("{s:f,s:f,s:f,s:I,s:s}", "user_ns_per_msg",
			      u / (double)msgs, "sys_ns_per_msg", s / (double)msgs,
			      "total_ns_per_msg", (u + s) / (double)msgs, "msgs",
			      (json_int_t)msgs, "source",
			      "RUSAGE_SELF from go to the end: every thread of the "
			      "process, library threads (ZeroMQ I/O, gRPC, librdkafka) "
			      "and the orchestrator included"));
		json_object_set_new(
		    cpu, "per_role_note",
		    json_string("sender and receiver are their own threads "
				"(RUSAGE_THREAD): threads a library starts "
				"are left out; see process"));
	}
	if (tv.server_cpu == IPCL_SERVER_CPU_NONE)
		return;
	if (tv.server_cpu == IPCL_SERVER_CPU_UNMEASURED || !msgs) {
		json_object_set_new(cpu, "server",
				    json_pack("{s:s}", "note",
					      tv.server_cpu_note[0]
						  ? tv.server_cpu_note
						  : "server CPU not measured"));
		return;
	}
	json_object_set_new(cpu, "server",
			    json_pack("{s:f,s:I,s:I,s:s}", "total_ns_per_msg",
				      (double)tv.server_cpu_ns / (double)msgs, "msgs",
				      (json_int_t)msgs, "cpu_ns",
				      (json_int_t)tv.server_cpu_ns, "source",
				      tv.server_cpu == IPCL_SERVER_CPU_PROC
					  ? "/proc/PID/stat of the server's process tree"
					  : "the server's own report (Redis INFO cpu)"));
}

/* env.clock and env.stamp_every: the clock that stamped, its cost, 1 in N. */
static void record_env_timing(json_t *env, const struct ipcl_board *board)
{
	struct ipcl_timing_view tv;
	json_t *clk;

	ipcl_board_timing(board, &tv);
	clk = json_pack("{s:s,s:f}", "source", ipcl_clock_name(tv.clock->src), "read_ns",
			tv.clock->read_ns);
	if (tv.clock->src == IPCL_CLOCK_TSC) {
		json_object_set_new(clk, "tsc_ghz", json_real(tv.clock->ghz));
		json_object_set_new(clk, "calibrated_against",
				    json_string("CLOCK_MONOTONIC"));
		json_object_set_new(clk, "calibration_ms",
				    json_real((double)tv.clock->calib_ns / 1e6));
	}
	json_object_set_new(env, "clock", clk);
	json_object_set_new(env, "stamp_every", json_integer((json_int_t)tv.stamp_every));
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
		record_role_timing(c, &s, r);
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

/* A probe fact's value, or NULL. */
static const char *record_fact(const struct ipcl_probe *probe, const char *key)
{
	for (int i = 0; i < probe->n; i++)
		if (strcmp(probe->kv[i].key, key) == 0)
			return probe->kv[i].val;
	return NULL;
}

/* Does a full channel hold the sender back (1) or drop (0)? The probe's
 * "flow_control" fact where it gives one, else the lossy capability. */
static int record_flow(const struct ipcl_transport *t, const struct ipcl_probe *probe)
{
	const char *fc = record_fact(probe, "flow_control");

	return fc ? strcmp(fc, "0") != 0 : !(t->caps & IPCL_CAP_LOSSY);
}

/*
 * The Jepsen rule: split "lost" by what the producers were told. A producer's
 * acknowledged count is a prefix of its sequence numbers (struct ipcl_slot);
 * a missing message below it was lost after its acknowledgment (a broken
 * guarantee), one above it is indeterminate (the sender was never told it
 * arrived and would send it again). "acked_by" names the acknowledgment
 * (docs/faults.md): "transport" (confirms, server replies, COMMIT), "reply"
 * (request/response), "send" (a returned send() of a mechanism with flow
 * control and no user-space queue: the kernel's queue, or the shared ring,
 * holds the message) or "none": nothing acknowledges a message, because the
 * mechanism drops when full (udp, signal-std, a pub/sub at its high-water
 * mark), or the send only queued it in a library inside the producer
 * (acknowledgements off: RabbitMQ confirm=none, zmq PUSH, Redis PUBLISH) or
 * a client talks to a server without waiting for its answer. With "none" every
 * missing message is unacked_missing.
 */
static void record_acked(json_t *v, const struct ipcl_runcfg *c,
			 const struct ipcl_transport *t, const struct ipcl_probe *probe,
			 const struct ipcl_board *board)
{
	static const char *const by[] = {"send", "transport", "reply"};
	uint64_t acked = 0, after = 0, unacked_missing = 0, unacked_delivered = 0;
	int kind = IPCL_ACK_SEND, none;

	for (int set = 0; set < c->producers && set < ipcl_board_sets(board); set++) {
		struct ipcl_slot_view p;

		ipcl_board_slot(board, set, &p);
		if (p.ack_kind > kind)
			kind = p.ack_kind;
	}
	none = kind == IPCL_ACK_SEND &&
	       (!record_flow(t, probe) || t->acked || (t->caps & IPCL_CAP_NEEDS_SERVER));
	for (int set = 0; set < ipcl_board_sets(board); set++) {
		struct ipcl_slot_view p;
		uint64_t a, miss;

		ipcl_board_slot(board, set % c->producers, &p);
		a = none ? 0 : p.acked < p.msgs ? p.acked : p.msgs;
		if (set < c->producers)
			acked += a;
		after += ipcl_board_missing(board, set, 0, a);
		miss = ipcl_board_missing(board, set, a, p.msgs);
		unacked_missing += miss;
		unacked_delivered += p.msgs - a - miss;
	}
	json_object_set_new(v, "acked_by", json_string(none ? "none" : by[kind]));
	json_object_set_new(v, "acked", json_integer((json_int_t)acked));
	json_object_set_new(v, "lost_after_ack", json_integer((json_int_t)after));
	json_object_set_new(v, "unacked_missing",
			    json_integer((json_int_t)unacked_missing));
	json_object_set_new(v, "unacked_delivered",
			    json_integer((json_int_t)unacked_delivered));
}

/* "verify": sent, expected, delivered, unique, lost, duplicated, reordered, corrupt. */
static void record_verify(json_t *rec, const struct ipcl_runcfg *c,
			  const struct ipcl_transport *t, const struct ipcl_probe *probe,
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
		record_acked(json_object_get(rec, "verify"), c, t, probe, board);
}

/*
 * "throughput" (docs/results.md). Pingpong: msgs_per_s is round trips/s (also
 * as round_trips_per_s) and mb_per_s counts both directions of each round
 * trip (2 x size). Stream: producer_msgs_per_s is what the producers managed
 * on their own, flushes included. Producer-only: the consumers start after the
 * producers end, so msgs_per_s and mb_per_s are the producers' rate and the
 * rate up to the end of the drain is kept as drain_msgs_per_s.
 */
static void record_throughput(json_t *rec, const struct ipcl_runcfg *c,
			      const struct ipcl_board *board, const struct record_sums *m)
{
	double el = (double)(m->t_last - m->t_first) / 1e9;
	double size = (double)ipcl_board_msg_size(board), rate = (double)m->measured / el;
	double prate = 0;
	int pp = c->pattern == IPCL_PINGPONG;
	json_t *tp;

	if (c->pattern == IPCL_STREAM && m->sent_measured && m->send_last > m->t_first)
		prate = (double)m->sent_measured /
			((double)(m->send_last - m->t_first) / 1e9);
	tp = json_pack("{s:I,s:f}", "msgs", (json_int_t)m->measured, "elapsed_s", el);
	if (c->producer_only && prate > 0) {
		json_object_set_new(tp, "msgs_per_s", json_real(prate));
		json_object_set_new(tp, "mb_per_s", json_real(prate * size / 1e6));
		json_object_set_new(tp, "rate_of",
				    json_string("producers (producer-only: the consumers "
						"drained the queue afterwards)"));
		json_object_set_new(tp, "drain_msgs_per_s", json_real(rate));
	} else {
		json_object_set_new(tp, "msgs_per_s", json_real(rate));
		json_object_set_new(tp, "mb_per_s",
				    json_real(rate * size * (pp ? 2 : 1) / 1e6));
	}
	if (pp) {
		json_object_set_new(tp, "round_trips_per_s", json_real(rate));
		json_object_set_new(tp, "bytes_per_round_trip",
				    json_integer((json_int_t)(2 * size)));
	}
	if (prate > 0)
		json_object_set_new(tp, "producer_msgs_per_s", json_real(prate));
	json_object_set_new(rec, "throughput", tp);
}

/* "latency", "one_way", "sender_lag", "late_sender", "throughput" and "cpu". */
static void record_figures(json_t *rec, const struct ipcl_runcfg *c,
			   const struct ipcl_board *board, const struct record_sums *m)
{
	if (m->lat.count) {
		json_t *l = ipcl_hist_json(&m->lat, 1);

		json_object_set_new(
		    l, "kind",
		    json_string(c->pattern == IPCL_PINGPONG ? "round_trip" : "one_way"));
		if (c->pattern == IPCL_RATE) {
			uint64_t lost = record_lost_measured(c, board, m->sent_measured);

			json_object_set_new(l, "from", json_string("intended send time"));
			if (lost)
				record_lost_latency(l, &m->lat, lost);
		}
		if (c->producer_only)
			json_object_set_new(
			    l, "from",
			    json_string(
				"send time; consumers started after the producers "
				"ended (producer-only): the wait in the queue"));
		json_object_set_new(rec, "latency", l);
	}
	if (m->oneway.count)
		json_object_set_new(rec, "one_way", ipcl_hist_json(&m->oneway, 0));
	if (c->pattern == IPCL_RATE)
		record_sender_lag(rec, c, m);
	if (m->measured && m->t_last > m->t_first && m->t_first != INT64_MAX)
		record_throughput(rec, c, board, m);
	json_object_set_new(
	    rec, "cpu",
	    json_pack("{s:o,s:o,s:s}", "sender",
		      result_cpu(m->cpu_msgs[0], m->cpu[0][0], m->cpu[0][1]), "receiver",
		      result_cpu(m->cpu_msgs[1], m->cpu[1][0], m->cpu[1][1]), "clock",
		      c->threads ? "per-thread rusage" : "per-process rusage"));
	record_cpu_timing(json_object_get(rec, "cpu"), board, m);
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
	const char *bp = record_fact(probe, "backpressure");
	int flow = record_flow(t, probe);
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

/* ---- latency over time (engine/interval.h) ------------------------------
 * "intervals": the measured latency per interval of the roles that measure
 * "latency" (the pinger; stream and rate: every consumer), aligned on the
 * earliest first sample: [t_s, count, p50, p99, max] per interval, t_s the
 * interval's start in seconds. With more than one consumer, counts add up
 * and p50, p99 and max are the largest of the consumers' (an upper bound). */
static void record_intervals(json_t *rec, const struct ipcl_runcfg *c,
			     const struct ipcl_board *board)
{
	struct ipcl_ivl_pt pt[IPCL_IVL_MAX];
	int64_t t0 = 0, w = 0;
	int n = 0, roles = 0;
	json_t *a;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ipcl_board_roles(board); i++) {
			struct ipcl_slot_view s;
			const struct ipcl_ivl *v;

			ipcl_board_slot(board, i, &s);
			v = s.ivl;
			if (!v->t0 || !v->n ||
			    (c->pattern == IPCL_PINGPONG) != (s.sender != 0))
				continue;
			if (pass == 0) { /* the common start and the widest interval */
				t0 = !t0 || v->t0 < t0 ? v->t0 : t0;
				w = v->width > w ? v->width : w;
				continue;
			}
			roles++;
			for (int k = 0; k < v->n; k++) {
				const struct ipcl_ivl_pt *p = &v->pt[k];
				int64_t j = (v->t0 - t0 + (int64_t)k * v->width) / w;

				if (j >= IPCL_IVL_MAX)
					break;
				while (n <= j)
					pt[n++] = (struct ipcl_ivl_pt){0};
				pt[j].count += p->count;
				pt[j].p50 = p->p50 > pt[j].p50 ? p->p50 : pt[j].p50;
				pt[j].p99 = p->p99 > pt[j].p99 ? p->p99 : pt[j].p99;
				pt[j].max = p->max > pt[j].max ? p->max : pt[j].max;
			}
		}
	if (!n)
		return;
	a = json_array();
	for (int k = 0; k < n; k++)
		json_array_append_new(
		    a, json_pack("[f,I,I,I,I]", (double)(k * w) / 1e9,
				 (json_int_t)pt[k].count, (json_int_t)pt[k].p50,
				 (json_int_t)pt[k].p99, (json_int_t)pt[k].max));
	json_object_set_new(rec, "intervals",
			    json_pack("{s:f,s:i,s:[s,s,s,s,s],s:o}", "width_s",
				      (double)w / 1e9, "roles", roles, "columns", "t_s",
				      "count", "p50", "p99", "max", "points", a));
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
	record_verify(rec, c, t, probe, board, &m);
	record_figures(rec, c, board, &m);
	record_delivery(rec, c, t, probe, board);
	record_intervals(rec, c, board);
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
	FILE *f = stdout;
	int rc = 0;

	if (strcmp(path, "-") != 0) {
		/* Never through a symbolic link, and only into a regular file of
		 * ours with one name: a name in a shared directory may have been
		 * planted by another user (engine/safefile.h, docs/security.md). */
		int fd = ipcl_output_open_append(path, NULL, NULL, 0);

		if (fd < 0)
			return fd;
		f = fdopen(fd, "a");
		if (!f) {
			rc = -errno;
			close(fd);
			return rc;
		}
	}
	errno = 0; /* a failed write sets it (ENOSPC ...); else say EIO */
	if (json_dumpf(rec, f, JSON_COMPACT) < 0 || fputc('\n', f) == EOF)
		rc = errno ? -errno : -EIO;
	if (f != stdout) {
		if (fclose(f) != 0 && !rc)
			rc = -errno;
	} else {
		fflush(f);
	}
	return rc;
}
