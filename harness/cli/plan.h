/*
 * plan.h - what `ipclab compare` runs: the plan (defaults, then the suite file,
 * then the command line), its points (transport x pattern x size, with their
 * runs), the parsers of each plan value, and the time budget. No I/O beyond
 * the probes a transport makes to say why it cannot run here.
 */
#ifndef IPCLAB_CLI_PLAN_H
#define IPCLAB_CLI_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/registry.h"
#include "engine/run.h"

#define IPCL_PLAN_MAX_SIZES 16
#define IPCL_PLAN_MAX_RATES 8
#define IPCL_PLAN_MAX_OPTS  64
#define IPCL_BUDGET_MIN_RUN 50000000LL /* shortest run a budget may ask for: 50 ms */
#define IPCL_BUDGET_MAX_RUN 10000000000LL
/* Rate trials of one RFC 2544 zero-loss search (engine/rfc2544.h) after its
 * unpaced stream trial: a search costs up to 1 + this many runs. */
#define IPCL_PLAN_ZL_TRIALS 8

/* One bit per pattern: 1 << enum ipcl_pattern. */
enum {
	IPCL_PAT_PINGPONG = 1 << IPCL_PINGPONG,
	IPCL_PAT_STREAM = 1 << IPCL_STREAM,
	IPCL_PAT_RATE = 1 << IPCL_RATE
};

/* What to run: defaults, then the suite file, then the command line. */
struct ipcl_plan {
	char only[1024]; /* comma-separated names or kinds; "" = all */
	size_t sizes[IPCL_PLAN_MAX_SIZES];
	int nsizes;
	unsigned patterns;
	int64_t duration, budget;
	uint64_t count;
	int repeat, threads, quick, no_report, faults;
	int fixed; /* the run length was given (-d, -n, or the suite) */
	/* The rate pattern runs at each absolute rate rates[0 .. nrates) (msgs/s)
	 * that the transport's stream capacity measured in the same comparison
	 * reaches, or, when fraction is above 0 (--rate-fraction), at that
	 * fraction of it. */
	double rates[IPCL_PLAN_MAX_RATES];
	int nrates;
	double fraction;
	enum ipcl_placement pin;
	char output[512], report[512];
	int nopts;
	struct {
		char transport[48];
		struct ipcl_kv kv;
	} opt[IPCL_PLAN_MAX_OPTS];
};

/* Which plan fields were given on the command line (they win over the file). */
enum {
	IPCL_SET_ONLY = 1 << 0,
	IPCL_SET_SIZES = 1 << 1,
	IPCL_SET_PATTERNS = 1 << 2,
	IPCL_SET_DURATION = 1 << 3,
	IPCL_SET_COUNT = 1 << 4,
	IPCL_SET_REPEAT = 1 << 5,
	IPCL_SET_BUDGET = 1 << 6,
	IPCL_SET_FRACTION = 1 << 7,
	IPCL_SET_THREADS = 1 << 8,
	IPCL_SET_PIN = 1 << 9,
	IPCL_SET_OUTPUT = 1 << 10,
	IPCL_SET_REPORT = 1 << 11,
	IPCL_SET_QUICK = 1 << 12,
	IPCL_SET_RATES = 1 << 13,
};

/* One point of the suite: a transport, pattern and size, and its runs. */
struct ipcl_point {
	const struct ipcl_transport *t;
	enum ipcl_pattern pattern;
	size_t size;
	int planned, runs, ok; /* runs planned, made, and made without failure */
	/* A stream point of a transport without flow control (it drops when
	 * full): each of its runs is an RFC 2544 zero-loss search, whose rate is
	 * the point's figure; cost is the engine runs one of its runs may take
	 * (1, or 1 + IPCL_PLAN_ZL_TRIALS for a search) */
	int zero_loss, cost;
	double p50[99], p99[99], rate[99], cpu[99];
	double target;   /* rate pattern: messages per second asked for (set by the
			    plan for an absolute rate, before the run for a fraction) */
	char note[200];  /* why it was skipped or failed */
	json_t *rec[99]; /* the records of its runs (the caller's references) */
	int nrec;
};

/* Time accounting for the budget and the estimate on the progress line. */
struct ipcl_budget {
	int64_t start, budget, fixed; /* fixed: -d/-n given, the budget only cuts */
	int64_t duration;             /* measured time of the next run */
	double overhead;              /* seconds a run costs beyond its duration */
	int overruns;                 /* runs measured (for the overhead mean) */
};

/* Each ipcl_plan_<value> parses one value into the plan (or out); returns 0, or
 * -1 with err (n bytes) holding one line naming what was wrong. */
int ipcl_plan_transports(const char *s, struct ipcl_plan *pl, char *err, size_t n);
int ipcl_plan_sizes(const char *s, struct ipcl_plan *pl, char *err, size_t n);
int ipcl_plan_patterns(const char *s, struct ipcl_plan *pl, char *err, size_t n);
int ipcl_plan_fraction(const char *s, double *out, char *err, size_t n);
/* A list of absolute rates in msgs/s ("1k,10k,100k"), ascending, into pl. */
int ipcl_plan_rates(const char *s, struct ipcl_plan *pl, char *err, size_t n);
int ipcl_plan_repeat(const char *s, int *out, char *err, size_t n);
int ipcl_plan_pin(const char *s, enum ipcl_placement *out, char *err, size_t n);
/* what names the value in err ("--duration", "budget"). */
int ipcl_plan_time(const char *what, const char *s, int64_t *out, char *err, size_t n);

/* Does the plan's transport list (names and kinds) select t? */
int ipcl_plan_selects(const struct ipcl_plan *pl, const struct ipcl_transport *t);

/* How many points a transport can have at most (ipcl_plan_points' room). */
int ipcl_plan_max_points(const struct ipcl_plan *pl);

/* Adds the points of transport t to pts (room for ipcl_plan_max_points);
 * returns how many: per size pingpong, stream, then rate (one point per
 * absolute rate, or one at the fraction). A point that cannot run here has
 * planned = 0 and its note says why. The stream points of a transport without
 * flow control (its probe's "flow_control" fact with the plan's options for
 * it, else IPCL_CAP_LOSSY: the engine's rule) are zero-loss searches. */
int ipcl_plan_points(const struct ipcl_plan *pl, const struct ipcl_transport *t,
		     struct ipcl_point *pts);

/* The stream point of the same transport and size as rate point r, or NULL. */
const struct ipcl_point *ipcl_plan_stream_of(const struct ipcl_point *pts, int n,
					     const struct ipcl_point *r);

/* The figure a point is ranked by, the median over its good runs: p50 in ns
 * (pingpong), msgs/s (stream: a search's zero-loss rate), p99 in ns (rate);
 * NAN when none. */
double ipcl_point_figure(const struct ipcl_point *pt);

/* Seconds since k->start. */
double ipcl_budget_elapsed(const struct ipcl_budget *k);
/* Seconds the runs left will take at the current duration and overhead. */
double ipcl_budget_left(const struct ipcl_budget *k, int runs);
/* With a budget: the run length in seconds that would spread what is left over runs. */
double ipcl_budget_per_run(const struct ipcl_budget *k, int runs);
/* Before a run: sets k->duration; 0 to run, 1 when the budget is spent. */
int ipcl_budget_plan(struct ipcl_budget *k, int runs_left);
/* After a run: learn its overhead (wall time beyond the measured time, ns). */
void ipcl_budget_ran(struct ipcl_budget *k, int64_t wall_ns, int64_t measured_ns);

#endif
