/*
 * plan.c - the plan of `ipclab compare`: parsing each value of it (shared by the
 * command line and the suite file), the points it makes (transport x pattern x
 * size, minus what cannot run here: a missing server, a size over the limit),
 * which stream points are RFC 2544 zero-loss searches (a transport without
 * flow control), the median figure of a point, and the time budget that
 * shortens runs.
 * Uses the registry and the transports' probes; runs nothing, prints nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plan.h"
#include "engine/frame.h"
#include "engine/parse.h"
#include <ipclab/server.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorted in place); NAN for none. */
static double median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Does the plan's transport list (names and kinds) select t? */
int ipcl_plan_selects(const struct ipcl_plan *pl, const struct ipcl_transport *t)
{
	char buf[sizeof pl->only], *save = NULL;

	if (!pl->only[0])
		return 1;
	snprintf(buf, sizeof buf, "%s", pl->only);
	for (char *w = strtok_r(buf, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save))
		if (ipcl_transport_selects(w, t))
			return 1;
	return 0;
}

/* ---- parsing values (shared by the command line and the suite file) ------ */

/* Each ipcl_plan_* returns 0, or fills err with one line naming what was wrong. */

int ipcl_plan_transports(const char *s, struct ipcl_plan *pl, char *err, size_t n)
{
	char buf[1024], *save = NULL;

	if (strlen(s) >= sizeof buf) {
		snprintf(err, n, "transport list too long");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	if (!s[strspn(s, ", \t")]) {
		snprintf(err, n,
			 "empty transport list: name transports or a kind "
			 "(kernel, library, broker, all)");
		return -1;
	}
	for (char *w = strtok_r(buf, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save))
		if (!ipcl_transport_word(w)) {
			snprintf(
			    err, n,
			    "unknown transport '%s' (see `ipclab list --all`; kinds: "
			    "kernel, library, broker, all)",
			    w);
			return -1;
		}
	snprintf(pl->only, sizeof pl->only, "%s", s);
	return 0;
}

int ipcl_plan_sizes(const char *s, struct ipcl_plan *pl, char *err, size_t n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", s);
	pl->nsizes = 0;
	for (char *w = strtok_r(buf, ", \t", &save); w;
	     w = strtok_r(NULL, ", \t", &save)) {
		if (pl->nsizes >= IPCL_PLAN_MAX_SIZES) {
			snprintf(err, n, "more than %d sizes", IPCL_PLAN_MAX_SIZES);
			return -1;
		}
		if (ipcl_parse_size(w, &pl->sizes[pl->nsizes]) ||
		    pl->sizes[pl->nsizes] < 32) {
			snprintf(err, n, "bad size '%s': want 32 or more (64, 1K, 64K)",
				 w);
			return -1;
		}
		pl->nsizes++;
	}
	if (!pl->nsizes) {
		snprintf(err, n, "no sizes in '%s'", s);
		return -1;
	}
	return 0;
}

int ipcl_plan_patterns(const char *s, struct ipcl_plan *pl, char *err, size_t n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", s);
	pl->patterns = 0;
	for (char *w = strtok_r(buf, ", \t", &save); w;
	     w = strtok_r(NULL, ", \t", &save)) {
		int p = ipcl_pattern_from_name(w);

		if (p >= 0)
			pl->patterns |= 1u << p; /* PAT_* is 1 << enum ipcl_pattern */
		else {
			snprintf(err, n,
				 "bad pattern '%s': want pingpong, stream or rate", w);
			return -1;
		}
	}
	if (!pl->patterns) {
		snprintf(err, n, "no patterns in '%s'", s);
		return -1;
	}
	return 0;
}

int ipcl_plan_fraction(const char *s, double *out, char *err, size_t n)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v <= 1)) {
		snprintf(err, n, "bad rate fraction '%s': want a number in (0, 1]", s);
		return -1;
	}
	*out = v;
	return 0;
}

int ipcl_plan_rates(const char *s, struct ipcl_plan *pl, char *err, size_t n)
{
	char buf[256], *save = NULL;
	int k = 0;

	snprintf(buf, sizeof buf, "%s", s);
	for (char *w = strtok_r(buf, ", \t", &save); w;
	     w = strtok_r(NULL, ", \t", &save)) {
		uint64_t r;

		if (k >= IPCL_PLAN_MAX_RATES) {
			snprintf(err, n, "more than %d rates", IPCL_PLAN_MAX_RATES);
			return -1;
		}
		if (ipcl_parse_count(w, &r) || !r || r > 100000000 ||
		    (k && (double)r <= pl->rates[k - 1])) {
			snprintf(err, n,
				 "bad rate '%s': want rising msgs/s from 1 to 100M (1k, "
				 "10k, 100k)",
				 w);
			return -1;
		}
		pl->rates[k++] = (double)r;
	}
	if (!k) {
		snprintf(err, n, "no rates in '%s'", s);
		return -1;
	}
	pl->nrates = k;
	return 0;
}

int ipcl_plan_repeat(const char *s, int *out, char *err, size_t n)
{
	uint64_t r;

	if (ipcl_parse_count(s, &r) || r < 1 || r > 99) {
		snprintf(err, n, "bad repeat '%s': want 1..99", s);
		return -1;
	}
	*out = (int)r;
	return 0;
}

int ipcl_plan_pin(const char *s, enum ipcl_placement *out, char *err, size_t n)
{
	int p = ipcl_placement_from_name(s);

	if (p < 0) {
		snprintf(err, n, "bad pin '%s': want none, same or split", s);
		return -1;
	}
	*out = (enum ipcl_placement)p;
	return 0;
}

int ipcl_plan_time(const char *what, const char *s, int64_t *out, char *err, size_t n)
{
	if (ipcl_parse_duration(s, out)) {
		snprintf(err, n, "bad %s '%s': want a time such as 300ms, 5s or 2m", what,
			 s);
		return -1;
	}
	return 0;
}

/* ---- the points ----------------------------------------------------------- */

/* Why transport t is not run here, into why; "" when it can run. The probe
 * sees the plan's options for t (they can change its facts: zmq-pubsub's
 * overload=1 turns its flow control off). */
static void plan_skip(const struct ipcl_plan *pl, const struct ipcl_transport *t,
		      struct ipcl_probe *probe, char *why, size_t n)
{
	struct ipcl_kv kv[IPCL_MAX_KV];
	struct ipcl_opts o = {
	    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "cmp", .kv = kv};
	char perr[IPCL_ERR_MAX] = "";
	const char *env;

	for (int i = 0; i < pl->nopts && o.nkv < IPCL_MAX_KV; i++)
		if (strcmp(pl->opt[i].transport, t->name) == 0)
			kv[o.nkv++] = pl->opt[i].kv;
	why[0] = 0;
	if ((t->caps & IPCL_CAP_THREADS_ONLY) && !pl->threads)
		snprintf(why, n, "needs --threads");
	else if (t->server && (!(env = ipcl_server_env(t->server)) || !getenv(env)))
		snprintf(why, n, "no %s server (run `ipclab brokers up`)", t->server);
	else if (!t->server && t->probe && t->probe(&o, probe, perr))
		snprintf(why, n, "unavailable: %.140s", perr);
}

/* Does t hold the sender back when full? The probe's "flow_control" fact,
 * else not IPCL_CAP_LOSSY (engine/record.c decides the record's the same
 * way); a transport whose probe needs a server is judged by its caps. */
static int plan_flow(const struct ipcl_transport *t, const struct ipcl_probe *probe)
{
	for (int i = 0; i < probe->n; i++)
		if (strcmp(probe->kv[i].key, "flow_control") == 0)
			return strcmp(probe->kv[i].val, "0") != 0;
	return !(t->caps & IPCL_CAP_LOSSY);
}

/* Rate points per size: one per absolute rate, or one at the fraction. */
static int plan_nrates(const struct ipcl_plan *pl)
{
	return pl->fraction > 0 || pl->nrates < 1 ? 1 : pl->nrates;
}

int ipcl_plan_max_points(const struct ipcl_plan *pl)
{
	return pl->nsizes * (2 + plan_nrates(pl));
}

/* Adds the points of transport t to pts; returns how many. */
int ipcl_plan_points(const struct ipcl_plan *pl, const struct ipcl_transport *t,
		     struct ipcl_point *pts)
{
	static const enum ipcl_pattern order[] = {IPCL_PINGPONG, IPCL_STREAM, IPCL_RATE};
	static const unsigned bit[] = {IPCL_PAT_PINGPONG, IPCL_PAT_STREAM, IPCL_PAT_RATE};
	struct ipcl_probe probe = {0};
	char skip[200];
	int n = 0, flow;

	plan_skip(pl, t, &probe, skip, sizeof skip);
	flow = plan_flow(t, &probe);
	for (int s = 0; s < pl->nsizes; s++)
		for (int p = 0; p < 3; p++)
			for (int q = 0; q < (order[p] == IPCL_RATE ? plan_nrates(pl) : 1);
			     q++) {
				struct ipcl_point *pt = &pts[n];

				if (!(pl->patterns & bit[p]))
					continue;
				memset(pt, 0, sizeof *pt);
				pt->t = t;
				pt->pattern = order[p];
				pt->size = pl->sizes[s];
				pt->planned = pl->repeat;
				pt->zero_loss = order[p] == IPCL_STREAM && !flow;
				pt->cost = pt->zero_loss ? 1 + IPCL_PLAN_ZL_TRIALS : 1;
				if (order[p] == IPCL_RATE && !(pl->fraction > 0))
					pt->target = pl->rates[q];
				n++;
				if (skip[0])
					snprintf(pt->note, sizeof pt->note, "%s", skip);
				else if (probe.max_msg &&
					 probe.max_msg < IPCL_FRAME_HDR && s > 0)
					snprintf(pt->note, sizeof pt->note,
						 "carries %zu bytes whatever the size: "
						 "run at %zu B "
						 "only",
						 probe.max_msg, pl->sizes[0]);
				else if (probe.max_msg >= IPCL_FRAME_HDR &&
					 pl->sizes[s] > probe.max_msg)
					snprintf(pt->note, sizeof pt->note,
						 "over the %zu-byte limit",
						 probe.max_msg);
				if (pt->note[0])
					pt->planned = 0;
			}
	return n;
}

/* The stream point of the same transport and size as rate point r. */
const struct ipcl_point *ipcl_plan_stream_of(const struct ipcl_point *pts, int n,
					     const struct ipcl_point *r)
{
	for (int i = 0; i < n; i++)
		if (pts[i].t == r->t && pts[i].size == r->size &&
		    pts[i].pattern == IPCL_STREAM)
			return &pts[i];
	return NULL;
}

/* The figure a pattern is ranked by: p50 (pingpong), msgs/s (stream), p99 (rate). */
double ipcl_point_figure(const struct ipcl_point *pt)
{
	double v[99];
	const double *src = pt->pattern == IPCL_PINGPONG ? pt->p50
			    : pt->pattern == IPCL_STREAM ? pt->rate
							 : pt->p99;
	int n = 0;

	for (int i = 0; i < pt->ok; i++)
		if (!isnan(src[i]))
			v[n++] = src[i];
	return median(v, n);
}

/* ---- the budget ----------------------------------------------------------- */

double ipcl_budget_elapsed(const struct ipcl_budget *k)
{
	return (double)(ipcl_now_ns() - k->start) / 1e9;
}

/* Seconds the runs left will take at the current duration and overhead. */
double ipcl_budget_left(const struct ipcl_budget *k, int runs)
{
	return runs * ((double)k->duration / 1e9 + k->overhead);
}

/* With a budget: the run length that would spread what is left over runs. */
double ipcl_budget_per_run(const struct ipcl_budget *k, int runs)
{
	double left = (double)k->budget / 1e9 - ipcl_budget_elapsed(k);

	return left / (runs > 0 ? runs : 1) - k->overhead;
}

/*
 * Before a run: with a budget, spread what is left of it over the runs left
 * (never below IPCL_BUDGET_MIN_RUN). Returns 0 to run, 1 when even the shortest run would
 * overshoot the budget.
 */
int ipcl_budget_plan(struct ipcl_budget *k, int runs_left)
{
	double left;

	if (!k->budget)
		return 0;
	left = (double)k->budget / 1e9 - ipcl_budget_elapsed(k);
	if (!k->fixed) {
		int64_t d = (int64_t)(ipcl_budget_per_run(k, runs_left) * 1e9);

		k->duration = d < IPCL_BUDGET_MIN_RUN   ? IPCL_BUDGET_MIN_RUN
			      : d > IPCL_BUDGET_MAX_RUN ? IPCL_BUDGET_MAX_RUN
							: d;
	}
	return left < (double)k->duration / 1e9 + k->overhead;
}

void ipcl_budget_ran(struct ipcl_budget *k, int64_t wall_ns, int64_t measured_ns)
{
	double o = (double)(wall_ns - measured_ns) / 1e9;

	if (o < 0)
		o = 0;
	k->overhead = (k->overhead * k->overruns + o) / (k->overruns + 1);
	k->overruns++;
}
