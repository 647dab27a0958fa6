/*
 * run.c - `ipclab run`: one measured run from the command line. Parses the
 * options into an engine run configuration (getopt_long), checks what spans
 * several options, runs it (engine/run.c), appends the JSON record (-o) and
 * prints a human summary or the record (--json). Every bad option or value gets
 * one line on stderr naming it and exit status 2; a failed or lossy run exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/optcheck.h"
#include "cli/run.h"
#include "cli/usage.h"
#include "engine/clock.h"
#include "engine/parse.h"
#include "engine/record.h"
#include "engine/registry.h"
#include "engine/rfc2544.h"
#include "engine/run.h"
#include "engine/safefile.h"

static const char run_help[] =
    "usage: ipclab run -t TRANSPORT [OPTIONS]\n"
    "\n"
    "One measured run: every message carries a sequence number, a send time and a\n"
    "checksum, and the receiver verifies each one.\n"
    "\n"
    "  -t, --transport NAME   a transport from `ipclab list` (required)\n"
    "  -p, --pattern P        pingpong (round trip, default), stream (throughput),\n"
    "                         rate (open loop at --rate; latency from intended time)\n"
    "  -s, --size BYTES       message size, header included (default 64; 4K, 1M)\n"
    "  -n, --count N          measured messages per producer (default 100000; 10k)\n"
    "  -d, --duration T       measure for a time instead (5s, 500ms, 1m)\n"
    "  -r, --rate R           rate pattern: messages per second over all producers\n"
    "  -w, --warmup N         unmeasured messages first (default 1000)\n"
    "  -P, --producers N      stream/rate: producer roles (default 1)\n"
    "  -C, --consumers N      stream/rate: consumer roles (default 1)\n"
    "      --threads          roles as threads of one process (default: processes)\n"
    "      --pin WHERE        none (default), same (all on one CPU), split (spread)\n"
    "      --cpus LIST        pin role i to LIST[i % n], e.g. 0,1\n"
    "  -O, --opt NAME=VALUE   transport option (see `ipclab list TRANSPORT`)\n"
    "  -o, --output FILE      append the JSON record to FILE (JSON lines)\n"
    "      --json             print the JSON record on stdout instead of a summary\n"
    "      --expect-loss      loss is expected: do not fail the run for it\n"
    "      --timeout T        stop the run after T (default 300s)\n"
    "      --fault SCENARIO   inject one event (stream/rate; docs/faults.md):\n"
    "                         stall:T@N      first consumer sleeps T after N msgs\n"
    "                         kill-consumer@N  first consumer SIGKILLed holding\n"
    "                                        message N+1, a fresh one restarted\n"
    "                         kill-producer@N  first producer SIGKILLed after N\n"
    "                         oversize[@N]   one message of max_msg+1 bytes\n"
    "      --zero-loss        -p stream: the RFC 2544 throughput, the highest rate\n"
    "                         with zero loss (bounded binary search over --rate)\n"
    "      --verify HOW       full (default): every byte of every message is\n"
    "                         checksummed; sample: the header, the first and last\n"
    "                         64-byte lines and one line every 4 KiB\n"
    "      --producer-only    stream, brokers: consumers start after the producers\n"
    "                         end, then drain and verify (the producers' rate\n"
    "                         alone, like redis-benchmark or pgbench)\n"
    "      --clock SRC        monotonic (default) or tsc (an invariant TSC,\n"
    "                         calibrated against CLOCK_MONOTONIC)\n"
    "      --pacing HOW       rate: auto (default: spin only with a free CPU),\n"
    "                         sleep (clock_nanosleep to the send time) or spin\n"
    "      --stamp-every N    stream: stamp 1 message in N (default: from the\n"
    "                         clock's cost; 1 = every message)\n"
    "  -q, --quiet            no progress line\n";

/* -O NAME=VALUE into c; returns -1 to go on, or 2 after one line naming what
 * is wrong (no '=', too many options, a name or value too long). */
static int parse_kv(const char *s, struct ipcl_runcfg *c)
{
	const char *eq = strchr(s, '=');
	size_t klen = eq ? (size_t)(eq - s) : 0;

	if (!eq || eq == s)
		return ipcl_usage_error("run", "bad --opt '%.60s%s': want NAME=VALUE", s,
					strlen(s) > 60 ? "..." : "");
	if (klen >= sizeof c->kv[0].key)
		return ipcl_usage_error("run",
					"bad --opt '%.40s...': the name is %zu bytes, at "
					"most %zu",
					s, klen, sizeof c->kv[0].key - 1);
	if (strlen(eq + 1) >= sizeof c->kv[0].val)
		return ipcl_usage_error("run",
					"bad --opt %.*s=...: the value is %zu bytes, at "
					"most %zu",
					(int)klen, s, strlen(eq + 1),
					sizeof c->kv[0].val - 1);
	if (c->nkv >= IPCL_MAX_KV)
		return ipcl_usage_error("run", "too many --opt: at most %d", IPCL_MAX_KV);
	snprintf(c->kv[c->nkv].key, sizeof c->kv[c->nkv].key, "%.*s", (int)klen, s);
	snprintf(c->kv[c->nkv].val, sizeof c->kv[c->nkv].val, "%s", eq + 1);
	c->nkv++;
	return -1;
}

/*
 * --fault: stall:T@N, kill-consumer@N, kill-producer@N or oversize[@N]. N is a
 * message count (the oversize message goes after N; default: half the count).
 */
static int parse_fault(const char *s, struct ipcl_runcfg *c)
{
	char buf[64];
	char *at, *colon;
	int f;

	if (strlen(s) >= sizeof buf)
		return -EINVAL;
	snprintf(buf, sizeof buf, "%s", s);
	at = strchr(buf, '@');
	if (at)
		*at++ = 0;
	colon = strchr(buf, ':');
	if (colon)
		*colon++ = 0;
	f = ipcl_fault_from_name(buf);
	if (f < 0 || (f == IPCL_FAULT_STALL) != (colon != NULL))
		return -EINVAL;
	if (!at && f != IPCL_FAULT_OVERSIZE)
		return -EINVAL;
	if (at && ipcl_parse_count(at, &c->fault_at))
		return -EINVAL;
	if (!at)
		c->fault_at = UINT64_MAX; /* set from the count below */
	if (colon && (ipcl_parse_duration(colon, &c->stall_ns) || c->stall_ns <= 0))
		return -EINVAL;
	c->fault = (enum ipcl_fault)f;
	return 0;
}

/* verify.key of r, 0 when missing. */
static json_int_t run_verify(const json_t *r, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(r, "verify"), key));
}

static double fmt_us(json_int_t ns)
{
	return (double)ns / 1000.0;
}

/* The human summary of one record. */
/* The process's CPU (threads mode) and the server's, under cpu/msg. */
static void print_cpu_more(const json_t *cpu)
{
	const json_t *pr = json_object_get(cpu, "process"),
		     *sv = json_object_get(cpu, "server");

	if (json_is_object(pr))
		printf("  %-12s %.2f us (user %.2f, sys %.2f): the whole process, "
		       "library threads included; sender and receiver above are "
		       "their own threads only\n",
		       "process/msg",
		       json_real_value(json_object_get(pr, "total_ns_per_msg")) / 1000,
		       json_real_value(json_object_get(pr, "user_ns_per_msg")) / 1000,
		       json_real_value(json_object_get(pr, "sys_ns_per_msg")) / 1000);
	if (json_is_object(sv) && json_object_get(sv, "total_ns_per_msg"))
		printf("  %-12s %.2f us (%s)\n", "server/msg",
		       json_real_value(json_object_get(sv, "total_ns_per_msg")) / 1000,
		       json_string_value(json_object_get(sv, "source")));
	else if (json_is_object(sv))
		printf("  %-12s %s\n", "server/msg",
		       json_string_value(json_object_get(sv, "note")));
}

static void print_summary(const json_t *r);

/* Flow control, what travelled, and an overloaded run's loss. */
static void print_delivery(const json_t *r)
{
	const json_t *fc = json_object_get(r, "flow_control");
	const json_t *vf = json_object_get(r, "verified");
	const json_t *zl = json_object_get(r, "zero_loss");

	if (!fc)
		return;
	printf("  %-12s %s (%s); %lld B carried, checked: %s\n", "delivery",
	       json_is_true(fc) ? "flow control" : "no flow control",
	       json_string_value(json_object_get(r, "backpressure")),
	       (long long)json_integer_value(json_object_get(r, "carried_bytes")),
	       json_array_size(vf) > 1 ? "seq, len, csum, time" : "seq only");
	if (json_object_get(r, "overload"))
		printf("  %-12s %s: the throughput counts only what survived an "
		       "overloaded pipe\n",
		       "OVERLOAD", json_string_value(json_object_get(r, "overload")));
	if (zl)
		printf("  %-12s %.0f msgs/s with zero loss (RFC 2544; %lld trials, "
		       "lowest lossy %.0f msgs/s)\n",
		       "zero-loss", json_number_value(json_object_get(zl, "rate")),
		       (long long)json_array_size(json_object_get(zl, "trace")),
		       json_number_value(json_object_get(zl, "lowest_lossy_rate")));
}

/* A fault run: what happened, how long it took, the guarantee (or why not). */
static void print_fault(const json_t *r)
{
	const json_t *f = json_object_get(r, "fault");
	const json_t *g, *ms;
	int acked;
	char when[64] = "";

	if (!f)
		return;
	g = json_object_get(f, "guarantee");
	ms = json_object_get(f, "recovery_ms");
	if (json_is_number(ms))
		snprintf(when, sizeof when, ", %.0f ms to recover",
			 json_number_value(ms));
	ms = json_object_get(f, "consumer_stop_ms");
	if (json_is_number(ms))
		snprintf(when, sizeof when, " %.0f ms after the kill",
			 json_number_value(ms));
	if (!json_is_string(g)) {
		printf("  %-12s %s@%lld: %s\n", "fault",
		       json_string_value(json_object_get(f, "scenario")),
		       (long long)json_integer_value(json_object_get(f, "at")),
		       json_string_value(json_object_get(f, "outcome")));
		return;
	}
	acked = json_object_get(f, "lost_after_ack") != NULL &&
		strcmp(json_string_value(json_object_get(f, "acked_by")), "none") != 0;
	printf("  %-12s %s@%lld: %s%s; guarantee %s (judged on %s: %lld lost%s)\n",
	       "fault", json_string_value(json_object_get(f, "scenario")),
	       (long long)json_integer_value(json_object_get(f, "at")),
	       json_string_value(json_object_get(f, "outcome")), when,
	       json_string_value(g),
	       acked ? "acknowledged writes" : "every send: nothing is acknowledged",
	       (long long)json_integer_value(
		   json_object_get(f, acked ? "lost_after_ack" : "lost")),
	       acked ? " after ack" : "");
}

static void print_summary(const json_t *r)
{
	const json_t *p = json_object_get(r, "params"),
		     *l = json_object_get(r, "latency");
	const json_t *v = json_object_get(r, "verify"),
		     *tp = json_object_get(r, "throughput");
	const json_t *cpu = json_object_get(r, "cpu"),
		     *ow = json_object_get(r, "one_way");
	const json_t *lag = json_object_get(r, "sender_lag");
	const char *status = json_string_value(json_object_get(r, "status"));
	int ponly = json_is_true(json_object_get(p, "producer_only"));
	int pp = json_object_get(tp, "round_trips_per_s") != NULL;

	printf("%s %s, %lld B, %s mode, placement %s\n",
	       json_string_value(json_object_get(r, "transport")),
	       json_string_value(json_object_get(r, "pattern")),
	       (long long)json_integer_value(json_object_get(p, "size")),
	       json_string_value(json_object_get(p, "mode")),
	       json_string_value(json_object_get(p, "placement")));
	if (strcmp(status, "ok") != 0)
		printf("  ERROR        %s\n",
		       json_string_value(json_object_get(r, "error")));
	if (l && json_integer_value(json_object_get(l, "count"))) {
		printf("  %-12s min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max "
		       "%.2f us"
		       " (%lld samples)\n",
		       strcmp(json_string_value(json_object_get(l, "kind")),
			      "round_trip") == 0
			   ? "round trip"
		       : ponly ? "queue wait"
			       : "one-way",
		       fmt_us(json_integer_value(json_object_get(l, "min"))),
		       fmt_us(json_integer_value(json_object_get(l, "p50"))),
		       fmt_us(json_integer_value(json_object_get(l, "p90"))),
		       fmt_us(json_integer_value(json_object_get(l, "p99"))),
		       fmt_us(json_integer_value(json_object_get(l, "p99_9"))),
		       fmt_us(json_integer_value(json_object_get(l, "max"))),
		       (long long)json_integer_value(json_object_get(l, "count")));
	}
	if (ow && json_integer_value(json_object_get(ow, "count")))
		printf("  %-12s p50 %.2f  p99 %.2f us\n", "one-way",
		       fmt_us(json_integer_value(json_object_get(ow, "p50"))),
		       fmt_us(json_integer_value(json_object_get(ow, "p99"))));
	if (lag && json_integer_value(json_object_get(lag, "count")))
		printf("  %-12s p50 %.2f  p99 %.2f  max %.2f us behind schedule\n",
		       "sender lag",
		       fmt_us(json_integer_value(json_object_get(lag, "p50"))),
		       fmt_us(json_integer_value(json_object_get(lag, "p99"))),
		       fmt_us(json_integer_value(json_object_get(lag, "max"))));
	if (ponly && l && json_integer_value(json_object_get(l, "count")))
		printf("  %-12s from send to receive, the consumers started after the "
		       "producers ended: time spent queued, not a delivery latency\n",
		       "");
	if (tp && pp)
		printf("  %-12s %.0f round trips/s  %.1f MB/s (both directions) over "
		       "%.2f s\n",
		       "throughput",
		       json_real_value(json_object_get(tp, "round_trips_per_s")),
		       json_real_value(json_object_get(tp, "mb_per_s")),
		       json_real_value(json_object_get(tp, "elapsed_s")));
	else if (tp && ponly && json_object_get(tp, "drain_msgs_per_s"))
		printf("  %-12s %.0f msgs/s  %.1f MB/s sent by the producers alone "
		       "(producer-only; %.0f msgs/s to the end of the drain)\n",
		       "throughput", json_real_value(json_object_get(tp, "msgs_per_s")),
		       json_real_value(json_object_get(tp, "mb_per_s")),
		       json_real_value(json_object_get(tp, "drain_msgs_per_s")));
	else if (tp)
		printf("  %-12s %.0f msgs/s  %.1f MB/s over %.2f s\n", "throughput",
		       json_real_value(json_object_get(tp, "msgs_per_s")),
		       json_real_value(json_object_get(tp, "mb_per_s")),
		       json_real_value(json_object_get(tp, "elapsed_s")));
	if (cpu) {
		const json_t *s = json_object_get(cpu, "sender"),
			     *rc = json_object_get(cpu, "receiver");

		if (json_is_object(s) && json_is_object(rc))
			printf(
			    "  %-12s sender %.2f us (user %.2f, sys %.2f), receiver %.2f "
			    "us "
			    "(user %.2f, sys %.2f)\n",
			    "cpu/msg",
			    json_real_value(json_object_get(s, "total_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(s, "user_ns_per_msg")) / 1000,
			    json_real_value(json_object_get(s, "sys_ns_per_msg")) / 1000,
			    json_real_value(json_object_get(rc, "total_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(rc, "user_ns_per_msg")) /
				1000,
			    json_real_value(json_object_get(rc, "sys_ns_per_msg")) /
				1000);
		print_cpu_more(cpu);
	}
	if (v) {
		json_int_t lost = json_integer_value(json_object_get(v, "lost"));
		json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
		json_int_t cor = json_integer_value(json_object_get(v, "corrupt"));

		printf("  %-12s sent %lld  delivered %lld  lost %lld  duplicated %lld  "
		       "reordered "
		       "%lld  corrupt %lld  %s\n",
		       "verify",
		       (long long)json_integer_value(json_object_get(v, "sent")),
		       (long long)json_integer_value(json_object_get(v, "delivered")),
		       (long long)lost, (long long)dup,
		       (long long)json_integer_value(json_object_get(v, "reordered")),
		       (long long)cor, lost || dup || cor ? "DATA ERRORS" : "ok");
		if (json_object_get(v, "lost_after_ack") && lost)
			printf("  %-12s %lld acknowledged (by %s): lost after ack %lld, "
			       "unacked missing %lld, unacked delivered %lld\n",
			       "acked",
			       (long long)json_integer_value(json_object_get(v, "acked")),
			       json_string_value(json_object_get(v, "acked_by")),
			       (long long)json_integer_value(
				   json_object_get(v, "lost_after_ack")),
			       (long long)json_integer_value(
				   json_object_get(v, "unacked_missing")),
			       (long long)json_integer_value(
				   json_object_get(v, "unacked_delivered")));
	}
	print_delivery(r);
	print_fault(r);
}

/* Was r stopped by the watchdog (--timeout)? Its undelivered messages were
 * then in flight or never sent: a timeout, not loss. */
static int run_timed_out(const json_t *r)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	return e && strncmp(e, "watchdog:", 9) == 0;
}

/* Warn loudly on stderr about lost, duplicated or corrupt messages; not about
 * the undelivered messages of a run the watchdog stopped. */
static void warn_data(const json_t *r, int expected)
{
	const json_t *v = json_object_get(r, "verify");
	json_int_t lost =
	    run_timed_out(r) ? 0 : json_integer_value(json_object_get(v, "lost"));
	json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
	json_int_t cor = json_integer_value(json_object_get(v, "corrupt"));

	if (!v || (!lost && !dup && !cor))
		return;
	fprintf(
	    stderr,
	    "ipclab: WARNING: %s %s: %lld lost, %lld duplicated, %lld corrupt of %lld "
	    "messages%s\n",
	    json_string_value(json_object_get(r, "transport")),
	    json_string_value(json_object_get(r, "pattern")), (long long)lost,
	    (long long)dup, (long long)cor,
	    (long long)json_integer_value(json_object_get(v, "expected")),
	    expected ? " (loss expected: --expect-loss)" : "");
}

enum {
	O_THREADS = 256,
	O_PIN,
	O_CPUS,
	O_JSON,
	O_EXPECT,
	O_TIMEOUT,
	O_FAULT,
	O_ZERO,
	O_PRODONLY,
	O_VERIFY,
	O_CLOCK,
	O_PACING,
	O_STAMP
};

static const struct option run_lo[] = {
    {"transport", required_argument, NULL, 't'},
    {"pattern", required_argument, NULL, 'p'},
    {"size", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'n'},
    {"duration", required_argument, NULL, 'd'},
    {"rate", required_argument, NULL, 'r'},
    {"warmup", required_argument, NULL, 'w'},
    {"producers", required_argument, NULL, 'P'},
    {"consumers", required_argument, NULL, 'C'},
    {"opt", required_argument, NULL, 'O'},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"threads", no_argument, NULL, O_THREADS},
    {"pin", required_argument, NULL, O_PIN},
    {"cpus", required_argument, NULL, O_CPUS},
    {"json", no_argument, NULL, O_JSON},
    {"expect-loss", no_argument, NULL, O_EXPECT},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"fault", required_argument, NULL, O_FAULT},
    {"zero-loss", no_argument, NULL, O_ZERO},
    {"producer-only", no_argument, NULL, O_PRODONLY},
    {"verify", required_argument, NULL, O_VERIFY},
    {"clock", required_argument, NULL, O_CLOCK},
    {"pacing", required_argument, NULL, O_PACING},
    {"stamp-every", required_argument, NULL, O_STAMP},
    {NULL, 0, NULL, 0},
};
/* --cpus LIST: every CPU listed must be one this process may run on. */
static int run_cpus(const char *arg, struct ipcl_runcfg *cfg)
{
	cpu_set_t set;
	int k = ipcl_parse_cpus(arg, cfg->cpus, IPCL_MAX_ROLES);

	if (k <= 0)
		return ipcl_usage_error("run", "bad --cpus '%s': want a list like 0,1",
					arg);
	sched_getaffinity(0, sizeof set, &set);
	for (int i = 0; i < k; i++)
		if (cfg->cpus[i] >= CPU_SETSIZE || !CPU_ISSET(cfg->cpus[i], &set))
			return ipcl_usage_error(
			    "run", "bad --cpus '%s': CPU %d is not available here", arg,
			    cfg->cpus[i]);
	cfg->ncpus = k;
	cfg->placement = IPCL_PLACE_LIST;
	return -1;
}

/* What the command line asked for beyond the run's configuration. */
struct run_args {
	const char *output; /* -o FILE */
	int json;           /* --json */
	int count_given;    /* -n was given */
	int zero_loss;      /* --zero-loss */
	int warmup_given;   /* -w was given */
	int created;        /* -o FILE did not exist: run_check_output made it */
};

/* The default warm-up is 1000 messages but at most this many bytes: 1000
 * messages of 1 GiB would take minutes and run into the watchdog. */
#define RUN_WARMUP_BYTES (64ULL << 20)

/*
 * Refuses a count whose verification bitmaps (engine/board.c: one bit per
 * sequence number, warm-up included, per producer, or per producer and
 * consumer on a fan-out channel, two sets for pingpong) would not fit in
 * half of this machine's memory, naming what it would need. -1 to go on, or 2.
 */
static int run_check_memory(const struct ipcl_runcfg *c)
{
	double bits = (double)c->warmup + (double)c->count + 64, sets, need, have;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (c->duration_ns)
		return -1; /* timed runs size their bitmaps from the rate or 2^31 */
	sets = c->pattern == IPCL_PINGPONG ? 2 : (double)c->producers * c->consumers;
	need = bits / 8 * sets;
	have = pages > 0 && psz > 0 ? (double)pages * (double)psz : 0;
	if (have > 0 && need > have / 2)
		return ipcl_usage_error(
		    "run",
		    "--count %llu needs %.3g GiB for its verification "
		    "bitmaps (1 bit per message and set); this machine "
		    "has %.3g GiB",
		    (unsigned long long)c->count, need / (1 << 30), have / (1 << 30));
	return -1;
}

/*
 * Refuses a --fault point the run never reaches. kill-producer and oversize
 * fire at sequence number N of the first producer, which sends warm-up +
 * count (0 .. total-1); kill-consumer once the first producer has sent N (it
 * can have sent at most total); stall after N messages of the first
 * consumer, which gets at most every producer's. Timed runs are not checked
 * (their length in messages is not known).
 */
static int run_check_fault(const struct ipcl_runcfg *c)
{
	uint64_t per = c->warmup + c->count, total = per, reach;
	int stall = c->fault == IPCL_FAULT_STALL;

	if (!c->fault || c->duration_ns)
		return -1;
	if (stall)
		total = per * (uint64_t)c->producers;
	/* The last N that still fires. */
	reach = c->fault == IPCL_FAULT_KILL_CONSUMER || stall ? total : total - 1;
	if (c->fault_at > reach)
		return ipcl_usage_error(
		    "run",
		    "--fault %s@%llu is beyond the run: the %s %s only %llu messages "
		    "(warm-up %llu + count %llu%s)",
		    ipcl_fault_name(c->fault), (unsigned long long)c->fault_at,
		    stall ? "first consumer" : "first producer",
		    stall ? "receives" : "sends", (unsigned long long)total,
		    (unsigned long long)c->warmup, (unsigned long long)c->count,
		    stall ? ", times the producers" : "");
	return -1;
}

/*
 * One option c (its value in optarg) into cfg or ra. Returns -1 to go on, or
 * the exit status: 0 after --help, 2 (with one line on stderr) for bad input.
 */
static int run_option(int c, char **argv, struct ipcl_runcfg *cfg, struct run_args *ra)
{
	uint64_t n;
	int rc;

	switch (c) {
	case 't':
		snprintf(cfg->transport, sizeof cfg->transport, "%s", optarg);
		break;
	case 'p':
		if ((rc = ipcl_pattern_from_name(optarg)) >= 0)
			cfg->pattern = (enum ipcl_pattern)rc;
		else
			return ipcl_usage_error(
			    "run",
			    "unknown pattern '%s': want pingpong, stream or "
			    "rate",
			    optarg);
		break;
	case 's':
		if (ipcl_parse_size(optarg, &cfg->size))
			return ipcl_usage_error("run",
						"bad --size '%s': want bytes like 64, "
						"4K, 1M",
						optarg);
		cfg->size_given = 1;
		break;
	case 'n':
		if (ipcl_parse_count(optarg, &cfg->count) || cfg->count == 0)
			return ipcl_usage_error("run",
						"bad --count '%s': want a positive "
						"number like 100000 or 100k",
						optarg);
		ra->count_given = 1;
		break;
	case 'd':
		if (ipcl_parse_duration(optarg, &cfg->duration_ns))
			return ipcl_usage_error("run",
						"bad --duration '%s': want a time like "
						"5s, 500ms, 1m",
						optarg);
		break;
	case 'r':
		if (ipcl_parse_rate(optarg, &cfg->rate))
			return ipcl_usage_error("run",
						"bad --rate '%s': want messages per "
						"second like 10000 or 10k",
						optarg);
		break;
	case 'w':
		if (ipcl_parse_count(optarg, &cfg->warmup))
			return ipcl_usage_error("run", "bad --warmup '%s': want a number",
						optarg);
		ra->warmup_given = 1;
		break;
	case 'P':
	case 'C':
		if (ipcl_parse_count(optarg, &n) || n < 1 || n > IPCL_MAX_ROLES - 1)
			return ipcl_usage_error("run", "bad --%s '%s': want 1..%d",
						c == 'P' ? "producers" : "consumers",
						optarg, IPCL_MAX_ROLES - 1);
		*(c == 'P' ? &cfg->producers : &cfg->consumers) = (int)n;
		break;
	case 'O':
		return parse_kv(optarg, cfg);
	case 'o':
		ra->output = optarg;
		break;
	case 'q':
		cfg->progress = 0;
		break;
	case 'h':
		fputs(run_help, stdout);
		return 0;
	case O_THREADS:
		cfg->threads = 1;
		break;
	case O_PIN:
		if ((rc = ipcl_placement_from_name(optarg)) >= 0)
			cfg->placement = (enum ipcl_placement)rc;
		else
			return ipcl_usage_error(
			    "run", "bad --pin '%s': want none, same or split", optarg);
		break;
	case O_CPUS:
		return run_cpus(optarg, cfg);
	case O_JSON:
		ra->json = 1;
		break;
	case O_EXPECT:
		cfg->expect_loss = 1;
		break;
	case O_PRODONLY:
		cfg->producer_only = 1;
		break;
	case O_VERIFY:
		if (strcmp(optarg, "full") != 0 && strcmp(optarg, "sample") != 0)
			return ipcl_usage_error(
			    "run", "bad --verify '%s': want full or sample", optarg);
		cfg->verify_sample = strcmp(optarg, "sample") == 0;
		break;
	case O_TIMEOUT:
		if (ipcl_parse_duration(optarg, &cfg->timeout_ns))
			return ipcl_usage_error("run", "bad --timeout '%s'", optarg);
		break;
	case O_ZERO:
		ra->zero_loss = 1;
		break;
	case O_FAULT:
		if (parse_fault(optarg, cfg))
			return ipcl_usage_error(
			    "run",
			    "bad --fault '%s': want stall:DURATION@N, "
			    "kill-consumer@N, kill-producer@N or "
			    "oversize[@N]",
			    optarg);
		break;
	case O_CLOCK:
		if ((rc = ipcl_clock_from_name(optarg)) < 0)
			return ipcl_usage_error(
			    "run", "bad --clock '%s': want monotonic or tsc", optarg);
		cfg->clock = rc;
		break;
	case O_PACING:
		if ((rc = ipcl_pacing_from_name(optarg)) < 0)
			return ipcl_usage_error(
			    "run", "bad --pacing '%s': want auto, sleep or spin", optarg);
		cfg->pacing = rc;
		break;
	case O_STAMP:
		if (ipcl_parse_count(optarg, &n) || n < 1 || n > 1000000)
			return ipcl_usage_error(
			    "run", "bad --stamp-every '%s': want 1..1000000", optarg);
		cfg->stamp_every = n;
		break;
	case ':':
		return ipcl_usage_error("run", "option '%s' needs a value",
					argv[optind - 1]);
	default:
		return ipcl_usage_error("run", "unknown option '%s'", argv[optind - 1]);
	}
	return -1;
}

/* The checks across options, and the defaults that depend on several;
 * -1 to go on, or 2 after one line on stderr. */
static int run_settle(int argc, char **argv, struct ipcl_runcfg *cfg,
		      const struct run_args *ra)
{
	if (optind < argc)
		return ipcl_usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (!cfg->transport[0])
		return ipcl_usage_error("run",
					"no transport: give -t NAME (see `ipclab list`)");
	if (cfg->duration_ns && ra->count_given)
		return ipcl_usage_error("run", "give --count or --duration, not both");
	if (cfg->duration_ns)
		cfg->count = 0;
	if (!ra->warmup_given && cfg->size &&
	    cfg->warmup * (uint64_t)cfg->size > RUN_WARMUP_BYTES)
		cfg->warmup =
		    RUN_WARMUP_BYTES / cfg->size ? RUN_WARMUP_BYTES / cfg->size : 1;
	if (cfg->fault_at == UINT64_MAX)
		cfg->fault_at = cfg->duration_ns ? 1000 : (cfg->warmup + cfg->count) / 2;
	if (cfg->pattern == IPCL_RATE && !cfg->duration_ns)
		return ipcl_usage_error("run",
					"the rate pattern needs --duration (and --rate)");
	if (cfg->pattern == IPCL_RATE && cfg->rate <= 0)
		return ipcl_usage_error("run", "the rate pattern needs --rate");
	if (ra->zero_loss && (cfg->pattern != IPCL_STREAM || cfg->fault))
		return ipcl_usage_error("run",
					"--zero-loss searches the stream pattern's "
					"zero-loss rate: give -p stream and no --fault");
	if (cfg->duration_ns && cfg->timeout_ns < cfg->duration_ns + 30000000000LL)
		cfg->timeout_ns = cfg->duration_ns + 30000000000LL;
	return -1;
}

/* Every -O value against the transport's option table (names were checked by
 * ipcl_run_check). -1 to go on, or 2 after one line. */
static int run_check_values(const struct ipcl_runcfg *c)
{
	const struct ipcl_transport *t = ipcl_transport_find(c->transport);
	char err[200];

	for (int i = 0; t && i < c->nkv; i++)
		for (const struct ipcl_option *o = t->options; o && o->name; o++)
			if (!strcmp(o->name, c->kv[i].key) &&
			    ipcl_option_check(t->name, o, c->kv[i].val, err, sizeof err))
				return ipcl_usage_error("run", "%s", err);
	return -1;
}

/* Can -o be appended to? Checked after everything else, so that bad input
 * never leaves a new empty file; the file is created here (ra->created says
 * so, and a run that yields no record removes it again). -1 to go on, or 2
 * after one line. */
static int run_check_output(struct run_args *ra)
{
	char err[IPCL_OUTPUT_ERRLEN];
	int fd;

	if (!ra->output || strcmp(ra->output, "-") == 0)
		return -1;
	/* Never through a link another user may have planted, only into a
	 * regular file of ours (engine/safefile.h). */
	fd = ipcl_output_open_append(ra->output, &ra->created, err, sizeof err);
	if (fd < 0)
		return ipcl_usage_error("run", "cannot write --output '%s': %s",
					ra->output, err);
	close(fd);
	return -1;
}

int ipcl_cmd_run(int argc, char **argv)
{
	struct ipcl_runcfg cfg;
	struct run_args ra = {0};
	int c, failed, rc;
	char err[IPCL_ERR_MAX] = "";
	json_t *rec;

	ipcl_runcfg_init(&cfg);
	cfg.progress = 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:p:s:n:d:r:w:P:C:O:o:qh", run_lo, NULL)) !=
	       -1)
		if ((rc = run_option(c, argv, &cfg, &ra)) >= 0)
			return rc;
	if ((rc = run_settle(argc, argv, &cfg, &ra)) >= 0)
		return rc;
	rc = ipcl_run_check(&cfg, err);
	if (rc == IPCL_EINVAL || rc == IPCL_ETOOBIG)
		return ipcl_usage_error("run", "%s", err);
	if ((rc = run_check_values(&cfg)) >= 0 || (rc = run_check_memory(&cfg)) >= 0 ||
	    (rc = run_check_fault(&cfg)) >= 0 || (rc = run_check_output(&ra)) >= 0)
		return rc;
	rec = ra.zero_loss ? ipcl_run_zero_loss(&cfg, NULL, &failed, err)
			   : ipcl_run(&cfg, &failed, err);
	if (!rec) {
		/* A value the transport refused at set-up: no record, and no new
		 * empty output file either. */
		if (ra.created)
			unlink(ra.output);
		return ipcl_usage_error("run", "%s", err);
	}
	/* A result that could not be written is a failed run: exit 1. */
	if (ra.output && (rc = ipcl_result_append(ra.output, rec))) {
		fprintf(stderr, "ipclab run: writing %s: %s\n", ra.output, strerror(-rc));
		failed = 1;
	}
	if (ra.json)
		ipcl_result_append("-", rec);
	else
		print_summary(rec);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "ipclab run: writing standard output: %s\n",
			strerror(errno ? errno : EIO));
		failed = 1;
	}
	/* The zero-loss record is clean by construction; the trace keeps the loss. */
	if (!ra.zero_loss)
		warn_data(rec, cfg.expect_loss);
	if (!ra.zero_loss && !ra.json && cfg.pattern == IPCL_STREAM &&
	    json_is_false(json_object_get(rec, "flow_control")))
		printf("  %-12s %s has no flow control: an unpaced stream measures an "
		       "overloaded pipe; `--zero-loss` finds the RFC 2544 throughput\n",
		       "note", cfg.transport);
	if (json_is_string(json_object_get(json_object_get(rec, "limits"), "warning")))
		fprintf(stderr, "ipclab: warning: %s\n",
			json_string_value(
			    json_object_get(json_object_get(rec, "limits"), "warning")));
	if (failed && run_timed_out(rec))
		fprintf(stderr,
			"ipclab run: timeout: stopped by the watchdog after %.0f s "
			"(--timeout) with %lld of %lld messages delivered; the rest are "
			"not counted as lost\n",
			(double)cfg.timeout_ns / 1e9,
			(long long)run_verify(rec, "unique"),
			(long long)run_verify(rec, "expected"));
	else if (failed &&
		 strcmp(json_string_value(json_object_get(rec, "status")), "ok") != 0)
		fprintf(stderr, "ipclab run: %s\n",
			json_string_value(json_object_get(rec, "error")));
	json_decref(rec);
	return failed ? 1 : 0;
}

const char *ipcl_run_help(void)
{
	return run_help;
}
