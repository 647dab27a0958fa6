/*
 * compare.c - `ipclab compare`: the head-to-head suite. Every available
 * transport (or those a suite file or -t names) x message sizes x patterns:
 * pingpong, stream, and rate at a fixed fraction of the capacity the stream run
 * of the same transport and size measured (for a transport without flow
 * control each stream run is an RFC 2544 zero-loss search, engine/rfc2544.c,
 * and its rate is that capacity). Process mode by default; each point
 * repeated, the median reported and the spread (min..max) kept; every record
 * appended to a JSON-lines file; a short ranking on stdout (rank.c); then the
 * report (report/) written from that file. A time budget (plan.c) shortens the
 * runs (and at the end drops repetitions, then points, each said) so the whole
 * fits. Progress on stderr. This file holds the options (getopt_long; a suite
 * file is read by suite.c) and the driver; it leaves out what the engine does.
 * Broker transports run when a server URL is known (environment or `ipclab
 * brokers up`); otherwise they are listed as skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/compare.h"
#include "cli/rank.h"
#include "cli/suite.h"
#include "cli/faults.h"
#include "engine/hiccup.h"
#include "engine/parse.h"
#include "engine/registry.h"
#include "report/report.h"
#include "engine/record.h"
#include "engine/rfc2544.h"
#include "engine/run.h"
#include "engine/safefile.h"

static const char compare_help[] =
    "usage: ipclab compare [--suite FILE] [--quick] [-t LIST] [-s SIZES] [-p LIST]\n"
    "                      [-d TIME | -n COUNT] [--repeat N] [--budget TIME]\n"
    "                      [--rates LIST | --rate-fraction F] [-o FILE]\n"
    "                      [-r DIR | --no-report]\n"
    "                      [--faults] [--threads] [--pin WHERE]\n"
    "\n"
    "Runs every available transport through each pattern at each size, repeats\n"
    "each run and keeps the spread, appends every record to FILE (JSON lines),\n"
    "prints a ranking and writes the report (report.md, report.html). A point\n"
    "that lost, duplicated or corrupted messages, whose sender fell behind, or\n"
    "that ran against a mock server is flagged and ranked after the clean ones.\n"
    "The stream figure of a transport without flow control (udp, signal-std,\n"
    "redis-pubsub, zmq-pubsub -O overload=1) is its RFC 2544 throughput: each of\n"
    "its stream runs is a bounded search (up to 9 runs) for the highest offered\n"
    "rate that loses nothing, marked zero-loss wherever it is shown.\n"
    "  -t, --transports LIST  names, or the kinds kernel, library, broker, all\n"
    "  -s, --sizes LIST       message sizes (default 64,1K,64K; --quick 64)\n"
    "  -p, --patterns LIST    pingpong,stream,rate (default all three); rate runs\n"
    "                         need stream: its capacity decides which rates run\n"
    "      --rates LIST       the rate pattern's absolute rates, msgs/s (default\n"
    "                         1k,10k,100k): each transport runs every rate its\n"
    "                         stream capacity reaches, so all are compared at the\n"
    "                         same rates; ranked by p99, overlapping ranges tie\n"
    "      --rate-fraction F  instead: each transport at F (0 < F <= 1) of its own\n"
    "                         stream capacity\n"
    "  -d, --duration T       measured time per run (default 300ms; --quick 150ms):\n"
    "                         equal time for every transport, fast or slow\n"
    "  -n, --count N          a message count per run instead of a duration\n"
    "      --repeat N         runs per point, median reported (default 3; --quick 1)\n"
    "      --budget T         finish within T (e.g. 2m): the runs get shorter, and\n"
    "                         when even that is not enough, repetitions and then\n"
    "                         points are left out (and listed as such)\n"
    "      --quick            a fast pass: 64 B, 150 ms runs, one repetition\n"
    "      --suite FILE       an INI suite file (see docs/suite.md); options on the\n"
    "                         command line win over the file\n"
    "      --threads          roles as threads (default processes)\n"
    "      --pin WHERE        none (default), same, split\n"
    "  -o, --output FILE      where the JSON lines go (default\n"
    "                         results/compare-TIME.jsonl; appended to)\n"
    "  -r, --report DIR       where the report goes (default report)\n"
    "      --no-report        results and ranking only\n"
    "      --faults           then the failure matrix of the same transports\n"
    "                         (`ipclab faults`), into the same results and report\n"
    "Broker transports run against $IPCLAB_*_URL servers (`ipclab brokers up`).\n";

static void fmt_secs(char *b, size_t n, double s)
{
	if (s < 0)
		s = 0;
	snprintf(b, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* ---- the command line ---------------------------------------------------- */

enum {
	O_QUICK = 256,
	O_REPEAT,
	O_THREADS,
	O_PIN,
	O_BUDGET,
	O_FRACTION,
	O_SUITE,
	O_NOREPORT,
	O_FAULTS,
	O_RATES
};

static const struct option compare_lo[] = {
    {"transports", required_argument, NULL, 't'},
    {"sizes", required_argument, NULL, 's'},
    {"patterns", required_argument, NULL, 'p'},
    {"duration", required_argument, NULL, 'd'},
    {"count", required_argument, NULL, 'n'},
    {"output", required_argument, NULL, 'o'},
    {"report", required_argument, NULL, 'r'},
    {"no-report", no_argument, NULL, O_NOREPORT},
    {"faults", no_argument, NULL, O_FAULTS},
    {"quick", no_argument, NULL, O_QUICK},
    {"repeat", required_argument, NULL, O_REPEAT},
    {"budget", required_argument, NULL, O_BUDGET},
    {"rate-fraction", required_argument, NULL, O_FRACTION},
    {"rates", required_argument, NULL, O_RATES},
    {"suite", required_argument, NULL, O_SUITE},
    {"threads", no_argument, NULL, O_THREADS},
    {"pin", required_argument, NULL, O_PIN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * One command-line option c (with optarg) into pl; what it set into *set, a
 * --suite file into *suite. Returns 0 after --help, 1 to go on; err is set when
 * the option was wrong.
 */
static int compare_opt(int c, char **argv, struct ipcl_plan *pl, unsigned *set,
		       const char **suite, char *err, size_t errn)
{
	switch (c) {
	case 't':
		*set |= IPCL_SET_ONLY;
		ipcl_plan_transports(optarg, pl, err, errn);
		break;
	case 's':
		*set |= IPCL_SET_SIZES;
		ipcl_plan_sizes(optarg, pl, err, errn);
		break;
	case 'p':
		*set |= IPCL_SET_PATTERNS;
		ipcl_plan_patterns(optarg, pl, err, errn);
		break;
	case 'n':
		*set |= IPCL_SET_COUNT;
		if (ipcl_parse_count(optarg, &pl->count) || !pl->count)
			snprintf(err, errn, "bad --count '%s': want a positive number",
				 optarg);
		break;
	case 'd':
		*set |= IPCL_SET_DURATION;
		ipcl_plan_time("--duration", optarg, &pl->duration, err, errn);
		break;
	case O_BUDGET:
		*set |= IPCL_SET_BUDGET;
		ipcl_plan_time("--budget", optarg, &pl->budget, err, errn);
		break;
	case O_FRACTION:
		*set |= IPCL_SET_FRACTION;
		ipcl_plan_fraction(optarg, &pl->fraction, err, errn);
		break;
	case O_RATES:
		*set |= IPCL_SET_RATES;
		ipcl_plan_rates(optarg, pl, err, errn);
		break;
	case O_REPEAT:
		*set |= IPCL_SET_REPEAT;
		ipcl_plan_repeat(optarg, &pl->repeat, err, errn);
		break;
	case O_PIN:
		*set |= IPCL_SET_PIN;
		ipcl_plan_pin(optarg, &pl->pin, err, errn);
		break;
	case 'o':
		*set |= IPCL_SET_OUTPUT;
		snprintf(pl->output, sizeof pl->output, "%s", optarg);
		break;
	case 'r':
		*set |= IPCL_SET_REPORT;
		snprintf(pl->report, sizeof pl->report, "%s", optarg);
		break;
	case O_NOREPORT:
		pl->no_report = 1;
		break;
	case O_FAULTS:
		pl->faults = 1;
		break;
	case O_QUICK:
		*set |= IPCL_SET_QUICK;
		pl->quick = 1;
		break;
	case O_THREADS:
		*set |= IPCL_SET_THREADS;
		pl->threads = 1;
		break;
	case O_SUITE:
		*suite = optarg;
		break;
	case 'h':
		fputs(compare_help, stdout);
		return 0;
	case ':':
		snprintf(err, errn, "option '%s' needs a value", argv[optind - 1]);
		break;
	default:
		snprintf(err, errn, "unknown option '%s' (see `ipclab compare --help`)",
			 argv[optind - 1]);
		break;
	}
	return 1;
}

/*
 * Parses argv into pl (and the suite file it names, under the command line).
 * Returns -1 to go on, or the exit status (0 for --help, 2 for bad input).
 */
static int compare_args(int argc, char **argv, struct ipcl_plan *pl)
{
	const char *suite = NULL;
	unsigned set = 0;
	char err[300] = "";
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:p:n:d:o:r:h", compare_lo, NULL)) !=
	       -1) {
		if (!compare_opt(c, argv, pl, &set, &suite, err, sizeof err))
			return 0;
		if (err[0]) {
			fprintf(stderr, "ipclab compare: %s\n", err);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ipclab compare: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if ((set & IPCL_SET_COUNT) && (set & IPCL_SET_DURATION)) {
		fprintf(stderr, "ipclab compare: give --count or --duration, not both\n");
		return 2;
	}
	if ((set & IPCL_SET_RATES) && (set & IPCL_SET_FRACTION)) {
		fprintf(stderr,
			"ipclab compare: give --rates or --rate-fraction, not both\n");
		return 2;
	}
	if (suite && ipcl_suite_read(suite, pl, set))
		return 2;
	if (set & IPCL_SET_RATES)
		pl->fraction = 0; /* the command line's rates win over the file */
	else if (set & IPCL_SET_FRACTION)
		pl->nrates = 0;
	if (pl->fraction > 0 && pl->nrates) {
		fprintf(stderr, "ipclab compare: the suite gives both rates and "
				"rate_fraction: keep one\n");
		return 2;
	}
	if (!(pl->fraction > 0) && !pl->nrates) {
		static const double def[] = {1000, 10000, 100000};

		memcpy(pl->rates, def, sizeof def);
		pl->nrates = 3;
	}
	if (pl->count && pl->duration) {
		fprintf(stderr,
			"ipclab compare: the suite gives both count and duration: keep "
			"one\n");
		return 2;
	}
	if (!pl->nsizes) {
		pl->sizes[pl->nsizes++] = 64;
		if (!pl->quick) {
			pl->sizes[pl->nsizes++] = 1024;
			pl->sizes[pl->nsizes++] = 65536;
		}
	}
	pl->fixed = pl->count || pl->duration;
	if (!pl->count && !pl->duration)
		pl->duration = pl->quick ? 150000000 : 300000000;
	if (!pl->repeat)
		pl->repeat = pl->quick ? 1 : 3;
	if ((pl->patterns & IPCL_PAT_RATE) && !(pl->patterns & IPCL_PAT_STREAM)) {
		fprintf(stderr,
			"ipclab compare: pattern rate needs stream too: the stream "
			"capacity measured first decides which rates a transport "
			"runs\n");
		return 2;
	}
	return -1;
}

/* Options of the suite file for transport t go into cfg. */
static void compare_kv(const struct ipcl_plan *pl, const struct ipcl_transport *t,
		       struct ipcl_runcfg *cfg)
{
	for (int i = 0; i < pl->nopts && cfg->nkv < IPCL_MAX_KV; i++)
		if (strcmp(pl->opt[i].transport, t->name) == 0)
			cfg->kv[cfg->nkv++] = pl->opt[i].kv;
}

/* A JSON number, or NAN for null or missing (e.g. no latency was measured). */
static double num(const json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : NAN;
}

/*
 * One run of point pt: appends the record to the results file and keeps the
 * figures. Returns 1 when the run failed (note set), 0 otherwise, -1 when the
 * configuration was refused (note set; no record).
 */
static int compare_run(const struct ipcl_plan *pl, struct ipcl_point *pt,
		       struct ipcl_budget *k)
{
	struct ipcl_runcfg cfg;
	char err[IPCL_ERR_MAX] = "";
	int failed = 0, nrun;
	int64_t t0 = ipcl_now_ns(), measured;
	json_t *rec;

	ipcl_runcfg_init(&cfg);
	snprintf(cfg.transport, sizeof cfg.transport, "%s", pt->t->name);
	cfg.pattern = pt->pattern;
	cfg.size = pt->size;
	cfg.count = pl->count;
	cfg.duration_ns = pl->count ? 0 : k->duration;
	cfg.warmup = pl->count ? pl->count / 10 : (pl->quick ? 100 : 300);
	if (pt->pattern == IPCL_RATE) {
		/* Open loop needs a time: a count becomes count / rate seconds.
		 * Warm up for about 5% of the run, at the rate. */
		cfg.rate = pt->target;
		if (pl->count)
			cfg.duration_ns = (int64_t)((double)pl->count / pt->target * 1e9);
		cfg.count = 0;
		cfg.warmup = (uint64_t)(pt->target * (double)cfg.duration_ns / 1e9 / 20);
		if (cfg.warmup < 10)
			cfg.warmup = 10;
		if (cfg.warmup > 300)
			cfg.warmup = 300;
	}
	cfg.threads = pl->threads;
	cfg.placement = pl->pin;
	cfg.timeout_ns = 120 * 1000000000LL;
	cfg.expect_loss = (pt->t->caps & IPCL_CAP_LOSSY) != 0;
	compare_kv(pl, pt->t, &cfg);
	measured = cfg.duration_ns;
	if (pt->zero_loss) {
		/* RFC 2544: trials of the run length, bounded in number and by
		 * what is left of the budget (the plan counted pt->cost runs) */
		struct ipcl_zero_loss_opts zo = {.max_trials = IPCL_PLAN_ZL_TRIALS,
						 .trial_ns = cfg.duration_ns};

		if (k->budget)
			zo.budget_ns = k->budget - (ipcl_now_ns() - k->start);
		if (zo.budget_ns < 0)
			zo.budget_ns = 1; /* the stream trial, then stop */
		rec = ipcl_run_zero_loss(&cfg, &zo, &failed, err);
	} else
		rec = ipcl_run(&cfg, &failed, err);
	if (!rec) {
		snprintf(pt->note, sizeof pt->note, "%.190s", err);
		return -1;
	}
	if (pt->zero_loss) {
		json_t *zl = json_object_get(rec, "zero_loss");

		measured = (int64_t)(num(json_object_get(zl, "trial_s")) * 1e9) *
			   (int64_t)json_integer_value(json_object_get(zl, "trials"));
	} else if (pl->count && pt->pattern != IPCL_RATE) {
		json_t *d = json_object_get(rec, "duration_s");

		measured = (int64_t)(json_number_value(d) * 1e9);
	}
	/* a search made several runs: the overhead is learnt per run */
	nrun = pt->zero_loss ? (int)json_integer_value(json_object_get(
				   json_object_get(rec, "zero_loss"), "trials"))
			     : 1;
	if (nrun < 1)
		nrun = 1;
	t0 = ipcl_now_ns() - t0; /* the wall time of the run or search */
	for (int j = 0; j < nrun; j++)
		ipcl_budget_ran(k, t0 / nrun, measured / nrun);
	if (pt->pattern == IPCL_RATE && pl->fraction > 0)
		/* what the target was: a share of this transport's own capacity
		 * (docs/results.md); the report groups such runs by it */
		json_object_set_new(json_object_get(rec, "params"), "rate_fraction",
				    json_real(pl->fraction));
	ipcl_result_append(pl->output, rec);
	if (pt->nrec < (int)(sizeof pt->rec / sizeof pt->rec[0]))
		pt->rec[pt->nrec++] = json_incref(rec);
	pt->runs++;
	if (failed) {
		const char *e = json_string_value(json_object_get(rec, "error"));

		snprintf(pt->note, sizeof pt->note, "%.190s",
			 e ? e : "data lost or corrupt");
	} else {
		json_t *l = json_object_get(rec, "latency");
		json_t *tp = json_object_get(rec, "throughput");
		json_t *cpu = json_object_get(rec, "cpu");
		int i = pt->ok++;

		pt->p50[i] = num(json_object_get(l, "p50"));
		pt->p99[i] = num(json_object_get(l, "p99"));
		pt->rate[i] = num(json_object_get(tp, "msgs_per_s"));
		if (pt->zero_loss) {
			/* the stream figure, and the capacity the rate points
			 * check, is the zero-loss rate (NaN: none was clean) */
			json_t *zl = json_object_get(rec, "zero_loss");

			pt->rate[i] = num(json_object_get(zl, "rate"));
			if (isnan(pt->rate[i]) && !pt->note[0])
				snprintf(pt->note, sizeof pt->note,
					 "no rate without loss found (RFC 2544 "
					 "search, %lld trials; lowest lossy %.0f "
					 "msgs/s)",
					 (long long)json_integer_value(
					     json_object_get(zl, "trials")),
					 num(json_object_get(zl, "lowest_lossy_rate")));
		}
		pt->cpu[i] = num(json_object_get(json_object_get(cpu, "sender"),
						 "total_ns_per_msg")) +
			     num(json_object_get(json_object_get(cpu, "receiver"),
						 "total_ns_per_msg"));
		if (isnan(pt->p50[i]) && !pt->note[0])
			snprintf(pt->note, sizeof pt->note,
				 "no one-way latency: its %zu-byte messages carry no "
				 "timestamp",
				 pt->size < 8 ? pt->size : (size_t)8);
	}
	json_decref(rec);
	return failed;
}

/* The progress of one comparison: its points and what became of their runs. */
struct compare_state {
	struct ipcl_plan *pl;
	struct ipcl_point *pts;
	struct ipcl_budget k;
	int npts, runs_left, failures, written, cut, dropped, tty;
};

/* Can the report be written into -r DIR? Tried as the report does it (mkdir,
 * then a staging directory inside), before anything runs. 0, or 2 after one
 * line. */
static int compare_report_dir(const struct ipcl_plan *pl)
{
	char probe[sizeof pl->report + 32], err[sizeof pl->report + 200];

	if (pl->no_report)
		return 0;
	if (ipcl_report_dir_check(pl->report, err, sizeof err)) {
		fprintf(stderr, "ipclab compare: -r: %s\n", err);
		return 2;
	}
	snprintf(probe, sizeof probe, "%s/.report-XXXXXX", pl->report);
	if (!mkdtemp(probe)) {
		fprintf(stderr,
			"ipclab compare: cannot write the report into -r '%s': %s\n",
			pl->report, strerror(errno));
		return 2;
	}
	rmdir(probe);
	return 0;
}

/* Names the results file when -o did not, and checks that it and the report
 * directory can be written before anything runs. Returns 0, or 2 with one
 * line on stderr. */
static int compare_output(struct ipcl_plan *pl)
{
	char err[IPCL_OUTPUT_ERRLEN];
	int fd;

	if (!pl->output[0]) {
		char stamp[32];
		time_t now = time(NULL);

		/* ./results must be the caller's own (engine/safefile.h). */
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
		if ((fd = ipcl_output_dir_open("results", err, sizeof err)) < 0) {
			fprintf(stderr,
				"ipclab compare: cannot write into 'results': %s\n", err);
			return 2;
		}
		close(fd);
		snprintf(pl->output, sizeof pl->output, "results/compare-%s.jsonl",
			 stamp);
	}
	fd = ipcl_output_open_append(pl->output, NULL, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "ipclab compare: cannot write --output '%s': %s\n",
			pl->output, err);
		return 2;
	}
	close(fd);
	return compare_report_dir(pl);
}

/* The points of every selected transport into st->pts; 0, or -1 out of memory. */
static int compare_plan(struct compare_state *st)
{
	const struct ipcl_plan *pl = st->pl;
	const struct ipcl_transport *t;
	char left[16], zl[160] = "";
	int n = 0, searches = 0;

	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (ipcl_plan_selects(pl, t))
			n += ipcl_plan_max_points(pl);
	st->pts = calloc((size_t)n + 1, sizeof *st->pts);
	if (!st->pts)
		return -1;
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (ipcl_plan_selects(pl, t))
			st->npts += ipcl_plan_points(pl, t, st->pts + st->npts);
	for (int i = 0; i < st->npts; i++) {
		st->runs_left += st->pts[i].planned * st->pts[i].cost;
		if (st->pts[i].planned && st->pts[i].zero_loss)
			searches += st->pts[i].planned;
	}
	st->k.budget = pl->budget;
	st->k.fixed = pl->fixed;
	st->k.duration = pl->duration;
	if (pl->budget && !st->k.fixed)
		ipcl_budget_plan(&st->k, st->runs_left);
	fmt_secs(left, sizeof left, ipcl_budget_left(&st->k, st->runs_left));
	if (searches)
		snprintf(zl, sizeof zl,
			 " (%d RFC 2544 zero-loss search%s of up to %d runs each: "
			 "stream without flow control)",
			 searches, searches == 1 ? "" : "es", 1 + IPCL_PLAN_ZL_TRIALS);
	fprintf(stderr, "ipclab compare: %d points, up to %d runs%s, about %s%s -> %s\n",
		st->npts, st->runs_left, zl, left, pl->budget ? " (budget)" : "",
		pl->output);
	return 0;
}

/*
 * Before point i: a rate point needs the stream capacity just measured: at an
 * absolute rate it runs only when that capacity reaches the rate, at a
 * fraction it takes its target from it (returns 0 and notes why when it does
 * not run), and a budget too small
 * for every repetition at the shortest run length leaves one run per point from
 * here on. Returns 1 to run the point.
 */
static int compare_ready(struct compare_state *st, int i)
{
	struct ipcl_point *pt = &st->pts[i];

	if (pt->pattern == IPCL_RATE) {
		const struct ipcl_point *sp = ipcl_plan_stream_of(st->pts, st->npts, pt);
		double cap = sp ? ipcl_point_figure(sp) : NAN;

		if (!(cap > 0) && st->pl->fraction > 0)
			snprintf(pt->note, sizeof pt->note,
				 "no stream capacity measured to take %.0f%% of",
				 st->pl->fraction * 100);
		else if (!(cap > 0))
			snprintf(pt->note, sizeof pt->note,
				 "not run at %.0f msgs/s: no stream capacity measured "
				 "to show it sustains that",
				 pt->target);
		else if (!(st->pl->fraction > 0) && cap < pt->target)
			snprintf(pt->note, sizeof pt->note,
				 "not run at %.0f msgs/s: its stream capacity here was "
				 "%.0f msgs/s",
				 pt->target, cap);
		if (pt->note[0]) {
			st->runs_left -= pt->planned * pt->cost;
			return 0;
		}
		if (st->pl->fraction > 0)
			pt->target = st->pl->fraction * cap;
	}
	if (st->k.budget &&
	    ipcl_budget_per_run(&st->k, st->runs_left) * 1e9 < IPCL_BUDGET_MIN_RUN)
		for (int j = i; j < st->npts; j++)
			if (st->pts[j].planned > 1) {
				st->dropped += st->pts[j].planned - 1;
				st->runs_left -=
				    (st->pts[j].planned - 1) * st->pts[j].cost;
				st->pts[j].planned = 1;
			}
	return 1;
}

/* The runs of point i, each on the progress line, within the budget. */
static void compare_point(struct compare_state *st, int i)
{
	struct ipcl_point *pt = &st->pts[i];
	char el[16], left[16], rt[80] = "";
	int rc;

	if (pt->pattern == IPCL_RATE)
		snprintf(rt, sizeof rt, " at %.0f/s", pt->target);
	else if (pt->zero_loss)
		snprintf(rt, sizeof rt, " zero-loss search (RFC 2544, up to %d runs)",
			 pt->cost);
	for (int r = 0; r < pt->planned; r++, st->runs_left -= pt->cost) {
		if (ipcl_budget_plan(&st->k, st->runs_left)) {
			/* Over budget even so: leave the point out. */
			if (!r) {
				st->cut++;
				snprintf(pt->note, sizeof pt->note,
					 "left out: the %.0f s budget was spent",
					 (double)st->pl->budget / 1e9);
			} else
				st->dropped += pt->planned - r;
			st->runs_left -= (pt->planned - r) * pt->cost;
			break;
		}
		fmt_secs(el, sizeof el, ipcl_budget_elapsed(&st->k));
		fmt_secs(left, sizeof left, ipcl_budget_left(&st->k, st->runs_left));
		if (st->tty || r == 0)
			fprintf(stderr, "%s[%d/%d %s, ~%s left] %s %s %zuB%s run %d/%d%s",
				st->tty ? "\r\033[K" : "", i + 1, st->npts, el, left,
				pt->t->name, ipcl_pattern_name(pt->pattern), pt->size, rt,
				r + 1, pt->planned, st->tty ? "" : "\n");
		fflush(stderr);
		rc = compare_run(st->pl, pt, &st->k);
		if (rc < 0) {
			st->runs_left -= (pt->planned - r) * pt->cost;
			break;
		}
		st->written++;
		st->failures += rc;
	}
}

static int compare_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The machine's own hiccups (issue 12), once per comparison with rate runs:
 * a bare paced loop on the same placement, at the median rate of the rate
 * points that ran, for one run's duration (100 ms at least). Appends its
 * record ("pattern": "hiccup", docs/results.md) and returns it (a new
 * reference, the caller's), or NULL when there were no rate runs or it failed.
 */
static json_t *compare_hiccup(const struct compare_state *st)
{
	const struct ipcl_plan *pl = st->pl;
	struct ipcl_runcfg cfg;
	double *rates = calloc((size_t)st->npts + 1, sizeof *rates);
	char err[IPCL_ERR_MAX] = "";
	json_t *rec;
	int n = 0;

	if (!rates)
		return NULL;
	for (int i = 0; i < st->npts; i++)
		if (st->pts[i].pattern == IPCL_RATE && st->pts[i].runs &&
		    st->pts[i].target > 0)
			rates[n++] = st->pts[i].target;
	if (!n) {
		free(rates);
		return NULL;
	}
	qsort(rates, (size_t)n, sizeof *rates, compare_cmp_double);
	ipcl_runcfg_init(&cfg);
	cfg.pattern = IPCL_RATE;
	cfg.rate = rates[n / 2];
	free(rates);
	cfg.duration_ns = st->k.duration > 100000000LL ? st->k.duration : 100000000LL;
	cfg.placement = pl->pin;
	rec = ipcl_hiccup(&cfg, err);
	if (!rec) {
		fprintf(stderr, "ipclab compare: hiccup meter: %s\n", err);
		return NULL;
	}
	ipcl_result_append(pl->output, rec);
	return rec;
}

/* After the runs: the ranking, what the budget left out, then the failure
 * matrix (--faults) and the report. Returns the exit status. */
static int compare_finish(struct compare_state *st)
{
	const struct ipcl_plan *pl = st->pl;
	char el[16];
	int rc = st->failures ? 1 : 0;
	json_t *hiccup;

	if (st->tty)
		fprintf(stderr, "\r\033[K");
	hiccup = compare_hiccup(st);
	st->written += hiccup != NULL;
	ipcl_rank_print(pl, st->pts, st->npts, hiccup);
	json_decref(hiccup);
	fmt_secs(el, sizeof el, ipcl_budget_elapsed(&st->k));
	printf("\nresults: %s (%d records in %s)\n", pl->output, st->written, el);
	if (st->dropped)
		printf("budget: %d repetitions left out to stay within %.0f s\n",
		       st->dropped, (double)pl->budget / 1e9);
	if (st->cut)
		printf("budget: %d points left out to stay within %.0f s\n", st->cut,
		       (double)pl->budget / 1e9);
	if (pl->faults) {
		/* The failure matrix of the same selection, appended to the
		 * same file: the report puts fault runs in their own section. */
		char *fargv[] = {"faults",         "-o", (char *)pl->output, "-t",
				 (char *)pl->only, NULL};

		printf("\nfailure matrix (ipclab faults):\n");
		fflush(stdout);
		if (ipcl_cmd_faults(pl->only[0] ? 5 : 3, fargv))
			rc = 1;
	}
	if (!pl->no_report && st->written) {
		char *rargv[] = {"report", (char *)pl->output,
				 "-o",     (char *)pl->report,
				 "--csv",  NULL};

		fflush(stdout);
		if (ipcl_cmd_report(5, rargv))
			rc = 1;
	}
	return rc;
}

int ipcl_cmd_compare(int argc, char **argv)
{
	struct compare_state st = {.k = {.start = ipcl_now_ns(), .overhead = 0.15},
				   .tty = isatty(2)};
	int rc;

	st.pl = calloc(1, sizeof *st.pl);
	if (!st.pl)
		return 1;
	st.pl->patterns = IPCL_PAT_PINGPONG | IPCL_PAT_STREAM | IPCL_PAT_RATE;
	snprintf(st.pl->report, sizeof st.pl->report, "report");
	if ((rc = compare_args(argc, argv, st.pl)) >= 0)
		goto out;
	if ((rc = compare_output(st.pl)) != 0)
		goto out;
	rc = 1;
	if (compare_plan(&st))
		goto out;
	for (int i = 0; i < st.npts; i++)
		if (st.pts[i].planned && compare_ready(&st, i))
			compare_point(&st, i);
	rc = compare_finish(&st);
out:
	for (int i = 0; i < st.npts; i++)
		for (int r = 0; r < st.pts[i].nrec; r++)
			json_decref(st.pts[i].rec[r]);
	free(st.pts);
	free(st.pl);
	return rc;
}

const char *ipcl_compare_help(void)
{
	return compare_help;
}
