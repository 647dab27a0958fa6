/*
 * compare.c - `ipclab compare`: the head-to-head suite. Every available
 * transport (or those a suite file or -t names) x message sizes x patterns:
 * pingpong, stream, and rate at a fixed fraction of the capacity the stream run
 * of the same transport and size measured. Process mode by default; each point
 * repeated, the median reported and the spread (min..max) kept; every record
 * appended to a JSON-lines file; a short ranking on stdout; then the report
 * (report.c) written from that file. A time budget shortens the runs (and at
 * the end drops repetitions, then points, each said) so the whole fits.
 * Progress on stderr. Suite files are INI, parsed by libinih (docs/suite.md).
 * Broker transports run when a server URL is known (environment or `ipclab
 * brokers up`); otherwise they are listed as skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/compare.h"
#include "cli/faults.h"
#include "engine/parse.h"
#include "engine/registry.h"
#include "report/report.h"
#include "engine/frame.h"
#include "engine/record.h"
#include "engine/run.h"
#include <ipclab/server.h>

static const char compare_help[] =
    "usage: ipclab compare [--suite FILE] [--quick] [-t LIST] [-s SIZES] [-p LIST]\n"
    "                      [-d TIME | -n COUNT] [--repeat N] [--budget TIME]\n"
    "                      [--rate-fraction F] [-o FILE] [-r DIR | --no-report]\n"
    "                      [--faults] [--threads] [--pin WHERE]\n"
    "\n"
    "Runs every available transport through each pattern at each size, repeats\n"
    "each run and keeps the median (and the spread), appends every record to FILE\n"
    "(JSON lines), prints a ranking and writes the report (report.md, report.html).\n"
    "  -t, --transports LIST  names, or the kinds kernel, library, broker, all\n"
    "  -s, --sizes LIST       message sizes (default 64,1K,64K; --quick 64)\n"
    "  -p, --patterns LIST    pingpong,stream,rate (default all three); rate runs\n"
    "                         at a fraction of the stream capacity just measured\n"
    "      --rate-fraction F  that fraction, 0 < F <= 1 (default 0.25)\n"
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

#define MAX_SIZES 16
#define MAX_OPTS  64
#define MIN_RUN   50000000LL /* shortest run a budget may ask for: 50 ms */
#define MAX_RUN   10000000000LL

/* One bit per pattern: 1 << enum ipcl_pattern. */
enum {
	PAT_PINGPONG = 1 << IPCL_PINGPONG,
	PAT_STREAM = 1 << IPCL_STREAM,
	PAT_RATE = 1 << IPCL_RATE
};

/* What to run: defaults, then the suite file, then the command line. */
struct plan {
	char only[1024]; /* comma-separated names or kinds; "" = all */
	size_t sizes[MAX_SIZES];
	int nsizes;
	unsigned patterns;
	int64_t duration, budget;
	uint64_t count;
	int repeat, threads, quick, no_report, faults;
	int fixed; /* the run length was given (-d, -n, or the suite) */
	double fraction;
	enum ipcl_placement pin;
	char output[512], report[512];
	int nopts;
	struct {
		char transport[48];
		struct ipcl_kv kv;
	} opt[MAX_OPTS];
};

/* Which plan fields were given on the command line (they win over the file). */
enum {
	SET_ONLY = 1 << 0,
	SET_SIZES = 1 << 1,
	SET_PATTERNS = 1 << 2,
	SET_DURATION = 1 << 3,
	SET_COUNT = 1 << 4,
	SET_REPEAT = 1 << 5,
	SET_BUDGET = 1 << 6,
	SET_FRACTION = 1 << 7,
	SET_THREADS = 1 << 8,
	SET_PIN = 1 << 9,
	SET_OUTPUT = 1 << 10,
	SET_REPORT = 1 << 11,
	SET_QUICK = 1 << 12,
};

/* One point of the suite: a transport, pattern and size, and its runs. */
struct point {
	const struct ipcl_transport *t;
	enum ipcl_pattern pattern;
	size_t size;
	int planned, runs, ok; /* runs planned, made, and made without failure */
	double p50[99], p99[99], rate[99], cpu[99];
	double target;  /* rate pattern: messages per second asked for */
	char note[200]; /* why it was skipped or failed */
};

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
static int selected(const struct plan *pl, const struct ipcl_transport *t)
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

/* Each parse_* returns 0, or fills err with one line naming what was wrong. */

static int parse_transports(const char *s, struct plan *pl, char *err, size_t n)
{
	char buf[1024], *save = NULL;

	if (strlen(s) >= sizeof buf) {
		snprintf(err, n, "transport list too long");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
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

static int parse_sizes(const char *s, struct plan *pl, char *err, size_t n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof buf, "%s", s);
	pl->nsizes = 0;
	for (char *w = strtok_r(buf, ", \t", &save); w;
	     w = strtok_r(NULL, ", \t", &save)) {
		if (pl->nsizes >= MAX_SIZES) {
			snprintf(err, n, "more than %d sizes", MAX_SIZES);
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

static int parse_patterns(const char *s, struct plan *pl, char *err, size_t n)
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

static int parse_fraction(const char *s, double *out, char *err, size_t n)
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

static int parse_repeat(const char *s, int *out, char *err, size_t n)
{
	uint64_t r;

	if (ipcl_parse_count(s, &r) || r < 1 || r > 99) {
		snprintf(err, n, "bad repeat '%s': want 1..99", s);
		return -1;
	}
	*out = (int)r;
	return 0;
}

static int parse_pin(const char *s, enum ipcl_placement *out, char *err, size_t n)
{
	int p = ipcl_placement_from_name(s);

	if (p < 0) {
		snprintf(err, n, "bad pin '%s': want none, same or split", s);
		return -1;
	}
	*out = (enum ipcl_placement)p;
	return 0;
}

static int parse_time(const char *what, const char *s, int64_t *out, char *err, size_t n)
{
	if (ipcl_parse_duration(s, out)) {
		snprintf(err, n, "bad %s '%s': want a time such as 300ms, 5s or 2m", what,
			 s);
		return -1;
	}
	return 0;
}

/* ---- the suite file ------------------------------------------------------ */

struct suite {
	struct plan *pl;
	unsigned set; /* SET_* given on the command line: keep those */
	char err[300];
};

/*
 * libinih calls this for every name = value. Section [compare] holds the plan;
 * any other section names a transport and holds its options (-O). Returns 1,
 * or 0 with s->err set (libinih then reports the line number).
 */
static int suite_line(void *user, const char *section, const char *name,
		      const char *value)
{
	struct suite *s = user;
	struct plan *pl = s->pl;
	char *e = s->err;
	size_t n = sizeof s->err;

	if (s->err[0])
		return 0;
	if (strcmp(section, "compare") == 0) {
		if (strcmp(name, "transports") == 0)
			return (s->set & SET_ONLY) || !parse_transports(value, pl, e, n);
		if (strcmp(name, "sizes") == 0)
			return (s->set & SET_SIZES) || !parse_sizes(value, pl, e, n);
		if (strcmp(name, "patterns") == 0)
			return (s->set & SET_PATTERNS) ||
			       !parse_patterns(value, pl, e, n);
		if (strcmp(name, "duration") == 0)
			return (s->set & (SET_DURATION | SET_COUNT)) ||
			       !parse_time("duration", value, &pl->duration, e, n);
		if (strcmp(name, "budget") == 0)
			return (s->set & SET_BUDGET) ||
			       !parse_time("budget", value, &pl->budget, e, n);
		if (strcmp(name, "repeat") == 0)
			return (s->set & SET_REPEAT) ||
			       !parse_repeat(value, &pl->repeat, e, n);
		if (strcmp(name, "rate_fraction") == 0)
			return (s->set & SET_FRACTION) ||
			       !parse_fraction(value, &pl->fraction, e, n);
		if (strcmp(name, "pin") == 0)
			return (s->set & SET_PIN) || !parse_pin(value, &pl->pin, e, n);
		if (strcmp(name, "count") == 0) {
			if (s->set & (SET_DURATION | SET_COUNT))
				return 1;
			if (ipcl_parse_count(value, &pl->count) || !pl->count) {
				snprintf(e, n, "bad count '%s': want a positive number",
					 value);
				return 0;
			}
			return 1;
		}
		if (strcmp(name, "mode") == 0) {
			if (s->set & SET_THREADS)
				return 1;
			if (strcmp(value, "process") && strcmp(value, "thread")) {
				snprintf(e, n, "bad mode '%s': want process or thread",
					 value);
				return 0;
			}
			pl->threads = strcmp(value, "thread") == 0;
			return 1;
		}
		snprintf(
		    e, n,
		    "unknown key '%s' in [compare] (want transports, sizes, patterns, "
		    "duration, count, repeat, budget, rate_fraction, mode, pin)",
		    name);
		return 0;
	}
	{
		const struct ipcl_transport *t = ipcl_transport_find(section);
		const struct ipcl_option *o = t ? t->options : NULL;

		if (!t) {
			snprintf(
			    e, n,
			    "unknown section [%s]: want [compare] or a transport name",
			    section);
			return 0;
		}
		while (o && o->name && strcmp(o->name, name))
			o++;
		if (!o || !o->name) {
			snprintf(e, n, "%s has no option '%s' (see `ipclab list %s`)",
				 section, name, section);
			return 0;
		}
		if (pl->nopts >= MAX_OPTS || strlen(value) >= sizeof pl->opt[0].kv.val) {
			snprintf(e, n, "too many options, or value of '%s' too long",
				 name);
			return 0;
		}
		snprintf(pl->opt[pl->nopts].transport, sizeof pl->opt[0].transport, "%s",
			 section);
		snprintf(pl->opt[pl->nopts].kv.key, sizeof pl->opt[0].kv.key, "%s", name);
		snprintf(pl->opt[pl->nopts].kv.val, sizeof pl->opt[0].kv.val, "%s",
			 value);
		pl->nopts++;
	}
	return 1;
}

/* Reads the suite file into pl; returns 0, or prints one line and returns 2. */
static int suite_read(const char *path, struct plan *pl, unsigned set)
{
	struct suite s = {.pl = pl, .set = set};
	int rc = ini_parse(path, suite_line, &s);

	if (rc == 0)
		return 0;
	if (rc == -1)
		fprintf(stderr, "ipclab compare: cannot read --suite '%s': %s\n", path,
			strerror(errno));
	else if (rc == -2)
		fprintf(stderr, "ipclab compare: out of memory reading '%s'\n", path);
	else
		fprintf(stderr, "ipclab compare: %s:%d: %s\n", path, rc,
			s.err[0] ? s.err : "not a name = value line or [section]");
	return 2;
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
	O_FAULTS
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
    {"suite", required_argument, NULL, O_SUITE},
    {"threads", no_argument, NULL, O_THREADS},
    {"pin", required_argument, NULL, O_PIN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * Parses argv into pl (and the suite file it names, under the command line).
 * Returns -1 to go on, or the exit status (0 for --help, 2 for bad input).
 */
static int compare_args(int argc, char **argv, struct plan *pl)
{
	const char *suite = NULL;
	unsigned set = 0;
	char err[300] = "";
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:s:p:n:d:o:r:h", compare_lo, NULL)) !=
	       -1) {
		switch (c) {
		case 't':
			set |= SET_ONLY;
			parse_transports(optarg, pl, err, sizeof err);
			break;
		case 's':
			set |= SET_SIZES;
			parse_sizes(optarg, pl, err, sizeof err);
			break;
		case 'p':
			set |= SET_PATTERNS;
			parse_patterns(optarg, pl, err, sizeof err);
			break;
		case 'n':
			set |= SET_COUNT;
			if (ipcl_parse_count(optarg, &pl->count) || !pl->count)
				snprintf(err, sizeof err,
					 "bad --count '%s': want a positive number",
					 optarg);
			break;
		case 'd':
			set |= SET_DURATION;
			parse_time("--duration", optarg, &pl->duration, err, sizeof err);
			break;
		case O_BUDGET:
			set |= SET_BUDGET;
			parse_time("--budget", optarg, &pl->budget, err, sizeof err);
			break;
		case O_FRACTION:
			set |= SET_FRACTION;
			parse_fraction(optarg, &pl->fraction, err, sizeof err);
			break;
		case O_REPEAT:
			set |= SET_REPEAT;
			parse_repeat(optarg, &pl->repeat, err, sizeof err);
			break;
		case O_PIN:
			set |= SET_PIN;
			parse_pin(optarg, &pl->pin, err, sizeof err);
			break;
		case 'o':
			set |= SET_OUTPUT;
			snprintf(pl->output, sizeof pl->output, "%s", optarg);
			break;
		case 'r':
			set |= SET_REPORT;
			snprintf(pl->report, sizeof pl->report, "%s", optarg);
			break;
		case O_NOREPORT:
			pl->no_report = 1;
			break;
		case O_FAULTS:
			pl->faults = 1;
			break;
		case O_QUICK:
			set |= SET_QUICK;
			pl->quick = 1;
			break;
		case O_THREADS:
			set |= SET_THREADS;
			pl->threads = 1;
			break;
		case O_SUITE:
			suite = optarg;
			break;
		case 'h':
			fputs(compare_help, stdout);
			return 0;
		case ':':
			snprintf(err, sizeof err, "option '%s' needs a value",
				 argv[optind - 1]);
			break;
		default:
			snprintf(err, sizeof err,
				 "unknown option '%s' (see `ipclab compare --help`)",
				 argv[optind - 1]);
			break;
		}
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
	if ((set & SET_COUNT) && (set & SET_DURATION)) {
		fprintf(stderr, "ipclab compare: give --count or --duration, not both\n");
		return 2;
	}
	if (suite && suite_read(suite, pl, set))
		return 2;
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
	if ((pl->patterns & PAT_RATE) && !(pl->patterns & PAT_STREAM)) {
		fprintf(stderr,
			"ipclab compare: pattern rate needs stream too: its rate is "
			"a fraction of the stream capacity measured first\n");
		return 2;
	}
	return -1;
}

/* ---- running ------------------------------------------------------------- */

/* Why transport t is not run here, into why; "" when it can run. */
static void compare_skip(const struct plan *pl, const struct ipcl_transport *t,
			 struct ipcl_probe *probe, char *why, size_t n)
{
	struct ipcl_opts o = {
	    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "cmp"};
	char perr[IPCL_ERR_MAX] = "";
	const char *env;

	why[0] = 0;
	if ((t->caps & IPCL_CAP_THREADS_ONLY) && !pl->threads)
		snprintf(why, n, "needs --threads");
	else if (t->server && (!(env = ipcl_server_env(t->server)) || !getenv(env)))
		snprintf(why, n, "no %s server (run `ipclab brokers up`)", t->server);
	else if (!t->server && t->probe && t->probe(&o, probe, perr))
		snprintf(why, n, "unavailable: %.140s", perr);
}

/* Adds the points of transport t to pts; returns how many. */
static int compare_points(const struct plan *pl, const struct ipcl_transport *t,
			  struct point *pts)
{
	static const enum ipcl_pattern order[] = {IPCL_PINGPONG, IPCL_STREAM, IPCL_RATE};
	static const unsigned bit[] = {PAT_PINGPONG, PAT_STREAM, PAT_RATE};
	struct ipcl_probe probe = {0};
	char skip[200];
	int n = 0;

	compare_skip(pl, t, &probe, skip, sizeof skip);
	for (int s = 0; s < pl->nsizes; s++)
		for (int p = 0; p < 3; p++) {
			struct point *pt = &pts[n];

			if (!(pl->patterns & bit[p]))
				continue;
			memset(pt, 0, sizeof *pt);
			pt->t = t;
			pt->pattern = order[p];
			pt->size = pl->sizes[s];
			pt->planned = pl->repeat;
			n++;
			if (skip[0])
				snprintf(pt->note, sizeof pt->note, "%s", skip);
			else if (probe.max_msg && probe.max_msg < IPCL_FRAME_HDR && s > 0)
				snprintf(
				    pt->note, sizeof pt->note,
				    "carries %zu bytes whatever the size: run at %zu B "
				    "only",
				    probe.max_msg, pl->sizes[0]);
			else if (probe.max_msg >= IPCL_FRAME_HDR &&
				 pl->sizes[s] > probe.max_msg)
				snprintf(pt->note, sizeof pt->note,
					 "over the %zu-byte limit", probe.max_msg);
			if (pt->note[0])
				pt->planned = 0;
		}
	return n;
}

/* The stream point of the same transport and size as rate point r. */
static const struct point *compare_stream_of(const struct point *pts, int n,
					     const struct point *r)
{
	for (int i = 0; i < n; i++)
		if (pts[i].t == r->t && pts[i].size == r->size &&
		    pts[i].pattern == IPCL_STREAM)
			return &pts[i];
	return NULL;
}

/* Time accounting for the budget and the estimate on the progress line. */
struct clock {
	int64_t start, budget, fixed; /* fixed: -d/-n given, the budget only cuts */
	int64_t duration;             /* measured time of the next run */
	double overhead;              /* seconds a run costs beyond its duration */
	int overruns;                 /* runs measured (for the overhead mean) */
};

static double clock_elapsed(const struct clock *k)
{
	return (double)(ipcl_now_ns() - k->start) / 1e9;
}

/* Seconds the runs left will take at the current duration and overhead. */
static double clock_left(const struct clock *k, int runs)
{
	return runs * ((double)k->duration / 1e9 + k->overhead);
}

/* With a budget: the run length that would spread what is left over runs. */
static double clock_per_run(const struct clock *k, int runs)
{
	double left = (double)k->budget / 1e9 - clock_elapsed(k);

	return left / (runs > 0 ? runs : 1) - k->overhead;
}

/*
 * Before a run: with a budget, spread what is left of it over the runs left
 * (never below MIN_RUN). Returns 0 to run, 1 when even the shortest run would
 * overshoot the budget.
 */
static int clock_plan(struct clock *k, int runs_left)
{
	double left;

	if (!k->budget)
		return 0;
	left = (double)k->budget / 1e9 - clock_elapsed(k);
	if (!k->fixed) {
		int64_t d = (int64_t)(clock_per_run(k, runs_left) * 1e9);

		k->duration = d < MIN_RUN ? MIN_RUN : d > MAX_RUN ? MAX_RUN : d;
	}
	return left < (double)k->duration / 1e9 + k->overhead;
}

static void clock_ran(struct clock *k, int64_t wall_ns, int64_t measured_ns)
{
	double o = (double)(wall_ns - measured_ns) / 1e9;

	if (o < 0)
		o = 0;
	k->overhead = (k->overhead * k->overruns + o) / (k->overruns + 1);
	k->overruns++;
}

static void fmt_secs(char *b, size_t n, double s)
{
	if (s < 0)
		s = 0;
	snprintf(b, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

/* Options of the suite file for transport t go into cfg. */
static void compare_kv(const struct plan *pl, const struct ipcl_transport *t,
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
static int compare_run(const struct plan *pl, struct point *pt, struct clock *k)
{
	struct ipcl_runcfg cfg;
	char err[IPCL_ERR_MAX] = "";
	int failed = 0;
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
	rec = ipcl_run(&cfg, &failed, err);
	if (!rec) {
		snprintf(pt->note, sizeof pt->note, "%.190s", err);
		return -1;
	}
	if (pl->count && pt->pattern != IPCL_RATE) {
		json_t *d = json_object_get(rec, "duration_s");

		measured = (int64_t)(json_number_value(d) * 1e9);
	}
	clock_ran(k, ipcl_now_ns() - t0, measured);
	ipcl_result_append(pl->output, rec);
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

/* ---- the ranking on the terminal ----------------------------------------- */

/* The figure a pattern is ranked by: p50 (pingpong), msgs/s (stream), p99 (rate). */
static double figure(const struct point *pt)
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

static int better(enum ipcl_pattern p, double a, double b)
{
	if (isnan(b))
		return !isnan(a);
	if (isnan(a))
		return 0;
	return p == IPCL_STREAM ? a > b : a < b;
}

static void fmt_figure(char *b, size_t n, enum ipcl_pattern p, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else if (p == IPCL_STREAM)
		snprintf(b, n,
			 v >= 1e6   ? "%.2fM"
			 : v >= 1e4 ? "%.0fk"
				    : "%.0f",
			 v >= 1e6   ? v / 1e6
			 : v >= 1e4 ? v / 1e3
				    : v);
	else
		snprintf(b, n, "%.2f", v / 1000);
}

/*
 * One table per pattern: a row per transport, ranked by the first size, a
 * column per size with the median figure and the times-the-best ratio.
 * Transports that ran nothing are listed after, with the reason.
 */
static void compare_ranking(const struct plan *pl, struct point *pts, int npts)
{
	static const enum ipcl_pattern pats[] = {IPCL_PINGPONG, IPCL_STREAM, IPCL_RATE};
	static const char *const title[] = {"pingpong: median p50 round trip, us",
					    "stream: median messages/s", NULL};

	for (int p = 0; p < 3; p++) {
		const struct ipcl_transport *row[256];
		double fig[256][MAX_SIZES], best[MAX_SIZES];
		const char *why[256];
		int nrow = 0;

		if (!(pl->patterns & (1u << p)))
			continue;
		for (int i = 0; i < npts; i++) {
			const struct point *pt = &pts[i];
			int r, s;

			if (pt->pattern != pats[p])
				continue;
			for (r = 0; r < nrow && row[r] != pt->t; r++)
				;
			if (r == nrow) {
				if (nrow == 256)
					continue;
				row[nrow] = pt->t;
				why[nrow] = NULL;
				for (s = 0; s < pl->nsizes; s++)
					fig[nrow][s] = NAN;
				nrow++;
			}
			for (s = 0; s < pl->nsizes && pl->sizes[s] != pt->size; s++)
				;
			fig[r][s] = figure(pt);
			if (isnan(fig[r][s]) && pt->note[0] && !why[r])
				why[r] = pt->note;
		}
		for (int s = 0; s < pl->nsizes; s++) {
			best[s] = NAN;
			for (int r = 0; r < nrow; r++)
				if (better(pats[p], fig[r][s], best[s]))
					best[s] = fig[r][s];
		}
		/* Insertion sort by the first size that has figures. */
		for (int a = 1; a < nrow; a++)
			for (int b = a; b > 0; b--) {
				int s = 0;

				while (s < pl->nsizes - 1 && isnan(fig[b][s]) &&
				       isnan(fig[b - 1][s]))
					s++;
				if (!better(pats[p], fig[b][s], fig[b - 1][s]))
					break;
				{
					const struct ipcl_transport *tt = row[b];
					const char *tw = why[b];
					double tf[MAX_SIZES];

					memcpy(tf, fig[b], sizeof tf);
					row[b] = row[b - 1];
					why[b] = why[b - 1];
					memcpy(fig[b], fig[b - 1], sizeof tf);
					row[b - 1] = tt;
					why[b - 1] = tw;
					memcpy(fig[b - 1], tf, sizeof tf);
				}
			}
		printf("\n");
		if (pats[p] == IPCL_RATE)
			printf("rate: median p99 latency at %.0f%% of each transport's "
			       "stream capacity, us",
			       pl->fraction * 100);
		else
			fputs(title[p], stdout);
		{
			int lo = 99, hi = 0;

			for (int i = 0; i < npts; i++)
				if (pts[i].pattern == pats[p] && pts[i].ok) {
					lo = pts[i].ok < lo ? pts[i].ok : lo;
					hi = pts[i].ok > hi ? pts[i].ok : hi;
				}
			if (lo < hi)
				printf(" (median of %d to %d runs", lo, hi);
			else
				printf(" (median of %d run%s", hi, hi == 1 ? "" : "s");
			printf("; xN = N times the best at that size)\n");
		}
		printf("  %-20s", "transport");
		for (int s = 0; s < pl->nsizes; s++) {
			char h[32];

			snprintf(h, sizeof h, "%zu B", pl->sizes[s]);
			printf(" %16s", h);
		}
		printf("\n");
		for (int r = 0; r < nrow; r++) {
			int any = 0;

			for (int s = 0; s < pl->nsizes; s++)
				any |= !isnan(fig[r][s]);
			if (!any)
				continue;
			printf("  %-20s", row[r]->name);
			for (int s = 0; s < pl->nsizes; s++) {
				char v[24], cell[40];
				double ratio = pats[p] == IPCL_STREAM
						   ? best[s] / fig[r][s]
						   : fig[r][s] / best[s];

				fmt_figure(v, sizeof v, pats[p], fig[r][s]);
				if (isnan(fig[r][s]))
					snprintf(cell, sizeof cell, "-");
				else
					snprintf(cell, sizeof cell, "%s %5.2fx", v,
						 ratio);
				printf(" %16s", cell);
			}
			printf("\n");
		}
		for (int r = 0; r < nrow; r++) {
			int any = 0;

			for (int s = 0; s < pl->nsizes; s++)
				any |= !isnan(fig[r][s]);
			if (!any)
				printf("  %-20s %s\n", row[r]->name,
				       why[r] ? why[r] : "no runs");
		}
	}
}

int ipcl_cmd_compare(int argc, char **argv)
{
	struct plan *pl = calloc(1, sizeof *pl);
	struct point *pts = NULL;
	struct clock k = {.start = ipcl_now_ns(), .overhead = 0.15};
	const struct ipcl_transport *t;
	int npts = 0, runs_left = 0, failures = 0, written = 0, cut = 0;
	int dropped = 0, rc, tty = isatty(2);
	char el[16], left[16];

	if (!pl)
		return 1;
	pl->patterns = PAT_PINGPONG | PAT_STREAM | PAT_RATE;
	pl->fraction = 0.25;
	snprintf(pl->report, sizeof pl->report, "report");
	if ((rc = compare_args(argc, argv, pl)) >= 0)
		goto out;
	rc = 1;
	if (!pl->output[0]) {
		char stamp[32];
		time_t now = time(NULL);

		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
		mkdir("results", 0755);
		snprintf(pl->output, sizeof pl->output, "results/compare-%s.jsonl",
			 stamp);
	}
	{
		int fd =
		    open(pl->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr,
				"ipclab compare: cannot write --output '%s': %s\n",
				pl->output, strerror(errno));
			rc = 2;
			goto out;
		}
		close(fd);
	}
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (selected(pl, t))
			npts += pl->nsizes * 3;
	pts = calloc((size_t)npts + 1, sizeof *pts);
	if (!pts)
		goto out;
	npts = 0;
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (selected(pl, t))
			npts += compare_points(pl, t, pts + npts);
	for (int i = 0; i < npts; i++)
		runs_left += pts[i].planned;
	k.budget = pl->budget;
	k.fixed = pl->fixed;
	k.duration = pl->duration;
	if (pl->budget && !k.fixed)
		clock_plan(&k, runs_left);
	fprintf(stderr, "ipclab compare: %d points, %d runs, about %s%s -> %s\n", npts,
		runs_left, (fmt_secs(left, sizeof left, clock_left(&k, runs_left)), left),
		pl->budget ? " (budget)" : "", pl->output);

	for (int i = 0; i < npts; i++) {
		struct point *pt = &pts[i];

		if (!pt->planned)
			continue;
		if (pt->pattern == IPCL_RATE) {
			const struct point *st = compare_stream_of(pts, npts, pt);
			double cap = st ? figure(st) : NAN;

			if (!(cap > 0)) {
				snprintf(pt->note, sizeof pt->note,
					 "no stream capacity measured to take %.0f%% of",
					 pl->fraction * 100);
				runs_left -= pt->planned;
				continue;
			}
			pt->target = pl->fraction * cap;
		}
		/* A budget too small for every repetition at the shortest run
		 * length: one run per point from here on. */
		if (k.budget && clock_per_run(&k, runs_left) * 1e9 < MIN_RUN)
			for (int j = i; j < npts; j++)
				if (pts[j].planned > 1) {
					dropped += pts[j].planned - 1;
					runs_left -= pts[j].planned - 1;
					pts[j].planned = 1;
				}
		for (int r = 0; r < pt->planned; r++, runs_left--) {
			if (clock_plan(&k, runs_left)) {
				/* Over budget even so: leave the point out. */
				if (!r) {
					cut++;
					snprintf(pt->note, sizeof pt->note,
						 "left out: the %.0f s budget was spent",
						 (double)pl->budget / 1e9);
				} else
					dropped += pt->planned - r;
				runs_left -= pt->planned - r;
				break;
			}
			fmt_secs(el, sizeof el, clock_elapsed(&k));
			fmt_secs(left, sizeof left, clock_left(&k, runs_left));
			if (tty || r == 0)
				fprintf(stderr,
					"%s[%d/%d %s, ~%s left] %s %s %zuB run %d/%d%s",
					tty ? "\r\033[K" : "", i + 1, npts, el, left,
					pt->t->name, ipcl_pattern_name(pt->pattern),
					pt->size, r + 1, pt->planned, tty ? "" : "\n");
			fflush(stderr);
			rc = compare_run(pl, pt, &k);
			if (rc < 0) {
				runs_left -= pt->planned - r;
				break;
			}
			written++;
			failures += rc;
		}
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	compare_ranking(pl, pts, npts);
	fmt_secs(el, sizeof el, clock_elapsed(&k));
	printf("\nresults: %s (%d records in %s)\n", pl->output, written, el);
	if (dropped)
		printf("budget: %d repetitions left out to stay within %.0f s\n", dropped,
		       (double)pl->budget / 1e9);
	if (cut)
		printf("budget: %d points left out to stay within %.0f s\n", cut,
		       (double)pl->budget / 1e9);
	rc = failures ? 1 : 0;
	if (pl->faults) {
		/* The failure matrix of the same selection, appended to the
		 * same file: the report puts fault runs in their own section. */
		char *fargv[] = {"faults", "-o", pl->output, "-t", pl->only, NULL};

		printf("\nfailure matrix (ipclab faults):\n");
		fflush(stdout);
		if (ipcl_cmd_faults(pl->only[0] ? 5 : 3, fargv))
			rc = 1;
	}
	if (!pl->no_report && written) {
		char *rargv[] = {"report", pl->output, "-o", pl->report, "--csv", NULL};

		fflush(stdout);
		if (ipcl_cmd_report(5, rargv))
			rc = 1;
	}
out:
	free(pts);
	free(pl);
	return rc;
}

const char *ipcl_compare_help(void)
{
	return compare_help;
}
