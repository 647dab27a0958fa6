/*
 * faults.c - `ipclab faults`: the failure matrix. Runs every fault scenario
 * (runner.h, enum ipcl_fault) on every available transport, one bounded stream
 * run each through ipcl_run(), appends the records to a JSON-lines file and
 * prints a Markdown table of transport x scenario: lost / duplicated, what the
 * event did, and the delivery guarantee the counts show. A failed run is a
 * result here, not an error. Left out: killing and restarting a broker server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/faults.h"
#include "engine/frame.h"
#include "engine/parse.h"
#include "engine/registry.h"
#include "engine/rfc2544.h"
#include "engine/record.h"
#include "engine/run.h"
#include "engine/safefile.h"
#include "report/faultcell.h"
#include <ipclab/server.h>

#define NS       1000000000LL
#define CELL_MAX IPCL_FAULT_CELL_MAX
#define MAX_T    64

static const char faults_help[] =
    "usage: ipclab faults [-t LIST] [--scenarios LIST] [-n COUNT] [-o FILE]\n"
    "\n"
    "The failure matrix: each fault scenario on each available transport, one\n"
    "stream run each (64 B, no warm-up, the event after half the messages), shown\n"
    "as a table of transport x scenario. A transport without flow control runs\n"
    "paced instead, at a quarter of its zero-loss rate. See docs/faults.md.\n"
    "\n"
    "  -t, --transports LIST   comma-separated transports (default: all built in;\n"
    "                          broker transports need their $IPCLAB_*_URL)\n"
    "  -S, --scenarios LIST    of kill-consumer, kill-producer, stall, oversize\n"
    "                          (default: all four)\n"
    "  -n, --count N           messages per run (default 20000)\n"
    "      --stall T           how long the stall scenario sleeps (default 200ms)\n"
    "      --timeout T         watchdog per run (default 20s)\n"
    "  -o, --output FILE       JSON lines, appended (default\n"
    "                          results/faults-TIME.jsonl)\n"
    "  -q, --quiet             no progress on stderr\n"
    "\n"
    "Exit status 0 when the matrix was made (lost messages are results), 2 for\n"
    "bad usage.\n";

const char *ipcl_faults_help(void)
{
	return faults_help;
}

struct plan {
	const struct ipcl_transport *t[MAX_T];
	int nt;
	enum ipcl_fault sc[4];
	int nsc;
	uint64_t count;
	int64_t stall_ns, timeout_ns;
	char output[512];
	int quiet;
};

static int faults_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr naming what was wrong; returns exit status 2. */
static int faults_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ipclab faults: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see `ipclab faults --help`)\n");
	return 2;
}

/*
 * Split a comma-separated list in place and call add() on each item; returns
 * the first item add() refused, or NULL when all were taken.
 */
static const char *faults_split(char *list, struct plan *pl,
				int (*add)(struct plan *, const char *))
{
	for (char *save = NULL, *it = strtok_r(list, ",", &save); it;
	     it = strtok_r(NULL, ",", &save))
		if (add(pl, it))
			return it;
	return NULL;
}

/* Adds t to the plan once; -1 when the plan is full. */
static int faults_add_one(struct plan *pl, const struct ipcl_transport *t)
{
	for (int i = 0; i < pl->nt; i++)
		if (pl->t[i] == t)
			return 0;
	if (pl->nt >= MAX_T)
		return -1;
	pl->t[pl->nt++] = t;
	return 0;
}

/* A transport name, or a kind (kernel, library, broker, all) for all of it. */
static int faults_add_transport(struct plan *pl, const char *name)
{
	const struct ipcl_transport *t;

	if (!ipcl_transport_word(name))
		return -1;
	for (int i = 0; (t = ipcl_transport_at(i)) != NULL; i++)
		if (ipcl_transport_selects(name, t) && faults_add_one(pl, t))
			return -1;
	return 0;
}

static int faults_add_scenario(struct plan *pl, const char *name)
{
	int f = ipcl_fault_from_name(name);

	if (f < 0)
		return -1;
	for (int i = 0; i < pl->nsc; i++)
		if (pl->sc[i] == (enum ipcl_fault)f)
			return 0;
	pl->sc[pl->nsc++] = (enum ipcl_fault)f;
	return 0;
}

/*
 * Why transport t cannot run scenario f here, into why (empty when it can). The
 * rule for broker transports is compare's: they run when their URL is set.
 */
static void faults_skip(const struct ipcl_transport *t, enum ipcl_fault f, char *why,
			size_t n)
{
	struct ipcl_opts o = {
	    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "flt"};
	struct ipcl_probe probe = {0};
	char perr[IPCL_ERR_MAX] = "";
	const char *env;

	why[0] = 0;
	if (t->caps & IPCL_CAP_THREADS_ONLY)
		snprintf(why, n, "threads only, and a thread cannot be killed alone");
	else if (t->server && (!(env = ipcl_server_env(t->server)) || !getenv(env)))
		snprintf(why, n, "no %s server ($%s unset)", t->server,
			 env ? env : "URL");
	else if (!t->server && t->probe && t->probe(&o, &probe, perr))
		snprintf(why, n, "unavailable: %.60s", perr);
	else if (f == IPCL_FAULT_OVERSIZE && !t->server && !probe.max_msg)
		snprintf(why, n, "no message size limit");
	else if (f == IPCL_FAULT_OVERSIZE && !t->server && probe.max_msg < IPCL_FRAME_HDR)
		snprintf(why, n, "the mechanism carries %zu bytes", probe.max_msg);
}

/* 1 if t drops when full (lossy, or its probe says no flow control). */
static int faults_lossy(const struct ipcl_transport *t)
{
	struct ipcl_opts o = {
	    .msg_size = 64, .producers = 1, .consumers = 1, .tag = "flt"};
	struct ipcl_probe probe = {0};
	char perr[IPCL_ERR_MAX] = "";

	if (t->caps & IPCL_CAP_LOSSY)
		return 1;
	if (t->server || !t->probe || t->probe(&o, &probe, perr))
		return 0;
	for (int i = 0; i < probe.n; i++)
		if (!strcmp(probe.kv[i].key, "flow_control"))
			return !strcmp(probe.kv[i].val, "0");
	return 0;
}

static void faults_cfg(const struct plan *pl, const struct ipcl_transport *t,
		       enum ipcl_fault f, double rate, struct ipcl_runcfg *c)
{
	ipcl_runcfg_init(c);
	snprintf(c->transport, sizeof c->transport, "%s", t->name);
	c->pattern = IPCL_STREAM;
	c->count = pl->count;
	c->warmup = 0;
	c->timeout_ns = pl->timeout_ns;
	c->open_timeout_ns = 5 * NS;
	c->expect_loss = 1; /* a loss is what the matrix shows, not a failure */
	c->fault = f;
	c->fault_at = pl->count / 2;
	c->stall_ns = f == IPCL_FAULT_STALL ? pl->stall_ns : 0;
	if (rate > 0) {
		c->pattern = IPCL_RATE;
		c->rate = rate;
		c->duration_ns = (int64_t)((double)pl->count / rate * NS);
		if (c->duration_ns < 1)
			c->duration_ns = 1;
	}
}

/*
 * A transport without flow control drops whatever an unpaced stream sends
 * too fast, and that loss would be blamed on the event. Its fault runs are
 * paced instead: at a quarter of the zero-loss rate (a margin: the search
 * ran on a machine that others share) (RFC 2544 search of
 * engine/rfc2544.c, bounded to a few seconds), so a loss is the event's.
 * Returns that rate (msgs/s), or 0 when no loss-free rate was found (then
 * the runs stay unpaced and the record says so); *zero gets the zero-loss rate.
 */
static double faults_pace(const struct plan *pl, const struct ipcl_transport *t,
			  double *zero)
{
	struct ipcl_zero_loss_opts zo = {
	    .max_trials = 6, .trial_ns = NS / 5, .budget_ns = 6 * NS};
	struct ipcl_runcfg c;
	char err[IPCL_ERR_MAX] = "";
	int failed = 0;
	json_t *rec, *r;

	*zero = 0;
	faults_cfg(pl, t, IPCL_FAULT_NONE, 0, &c);
	c.fault = IPCL_FAULT_NONE;
	c.fault_at = 0;
	rec = ipcl_run_zero_loss(&c, &zo, &failed, err);
	if (!rec)
		return 0;
	r = json_object_get(json_object_get(rec, "zero_loss"), "rate");
	if (json_is_number(r))
		*zero = json_number_value(r);
	json_decref(rec);
	return *zero > 0 ? *zero / 4 : 0;
}

/* Say in the record how a lossy transport's fault run was paced. */
static void faults_note_pace(json_t *rec, double rate, double zero)
{
	json_t *f = json_object_get(rec, "fault");

	if (!f)
		return;
	if (rate > 0)
		json_object_set_new(
		    f, "paced",
		    json_pack("{s:f,s:f,s:s}", "rate", rate, "zero_loss_rate", zero,
			      "why",
			      "no flow control: run at a quarter of its zero-loss "
			      "rate so that a loss is the event's, not overload"));
	else
		json_object_set_new(
		    f, "paced",
		    json_pack("{s:n,s:s}", "rate", "why",
			      "no flow control and no loss-free rate found: the "
			      "loss includes overload drops, not only the event's"));
}

/* One cell of the matrix from a run's record. */
static void faults_print(const struct plan *pl, char (*cells)[4][CELL_MAX])
{
	printf("| transport |");
	for (int s = 0; s < pl->nsc; s++)
		printf(" %s |", ipcl_fault_name(pl->sc[s]));
	printf("\n|---|");
	for (int s = 0; s < pl->nsc; s++)
		printf("---|");
	printf("\n");
	for (int i = 0; i < pl->nt; i++) {
		printf("| %s |", pl->t[i]->name);
		for (int s = 0; s < pl->nsc; s++)
			printf(" %s |", cells[i][s]);
		printf("\n");
	}
}

/* Run the plan; the records go to pl->output. Returns the exit status. */
static int faults_run(const struct plan *pl)
{
	char(*cells)[4][CELL_MAX] = calloc((size_t)pl->nt, sizeof *cells);
	int total = pl->nt * pl->nsc, k = 0;

	if (!cells) {
		fprintf(stderr, "ipclab faults: out of memory\n");
		return 1;
	}
	for (int i = 0; i < pl->nt; i++) {
		int lossy = faults_lossy(pl->t[i]), paced = 0;
		double rate = 0, zero = 0;

		for (int s = 0; s < pl->nsc; s++) {
			const struct ipcl_transport *t = pl->t[i];
			struct ipcl_runcfg c;
			char why[100], err[IPCL_ERR_MAX] = "";
			int failed;
			int64_t t0 = ipcl_now_ns();
			json_t *rec = NULL;

			k++;
			faults_skip(t, pl->sc[s], why, sizeof why);
			if (!why[0] && lossy && !paced) {
				rate = faults_pace(pl, t, &zero);
				paced = 1;
			}
			if (!why[0]) {
				faults_cfg(pl, t, pl->sc[s], rate, &c);
				rec = ipcl_run(&c, &failed, err);
				if (!rec)
					snprintf(why, sizeof why, "%.90s", err);
			}
			if (rec) {
				if (lossy)
					faults_note_pace(rec, rate, zero);
				ipcl_fault_cell(rec, cells[i][s], CELL_MAX);
				int wrc = ipcl_result_append(pl->output, rec);

				if (wrc)
					fprintf(stderr, "ipclab faults: writing %s: %s\n",
						pl->output, strerror(-wrc));
				json_decref(rec);
			} else {
				snprintf(cells[i][s], CELL_MAX, "n/a: %s", why);
			}
			if (!pl->quiet)
				fprintf(stderr,
					"ipclab faults: [%d/%d] %s %s: %s (%.1f s)\n", k,
					total, t->name, ipcl_fault_name(pl->sc[s]),
					cells[i][s], (double)(ipcl_now_ns() - t0) / NS);
		}
	}
	faults_print(pl, cells);
	if (!pl->quiet)
		fprintf(stderr, "ipclab faults: records in %s\n", pl->output);
	free(cells);
	return 0;
}

int ipcl_cmd_faults(int argc, char **argv)
{
	enum { O_STALL = 256, O_TIMEOUT };
	static const struct option lo[] = {
	    {"transports", required_argument, NULL, 't'},
	    {"scenarios", required_argument, NULL, 'S'},
	    {"count", required_argument, NULL, 'n'},
	    {"output", required_argument, NULL, 'o'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"stall", required_argument, NULL, O_STALL},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {NULL, 0, NULL, 0},
	};
	struct plan *pl = calloc(1, sizeof *pl);
	const char *bad;
	char err[IPCL_OUTPUT_ERRLEN];
	int c, rc = 2, fd;

	if (!pl) {
		fprintf(stderr, "ipclab faults: out of memory\n");
		return 1;
	}
	pl->count = 20000;
	pl->stall_ns = NS / 5;
	pl->timeout_ns = 20 * NS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:S:n:o:qh", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if ((bad = faults_split(optarg, pl, faults_add_transport))) {
				rc = faults_usage("unknown transport '%s' (names, or "
						  "kernel, library, broker, all)",
						  bad);
				goto out;
			}
			break;
		case 'S':
			if ((bad = faults_split(optarg, pl, faults_add_scenario))) {
				rc = faults_usage("unknown scenario '%s': want "
						  "kill-consumer, kill-producer, stall "
						  "or oversize",
						  bad);
				goto out;
			}
			break;
		case 'n':
			if (ipcl_parse_count(optarg, &pl->count) || pl->count < 2) {
				rc = faults_usage("bad --count '%s': want 2 or more",
						  optarg);
				goto out;
			}
			break;
		case 'o':
			snprintf(pl->output, sizeof pl->output, "%s", optarg);
			break;
		case 'q':
			pl->quiet = 1;
			break;
		case 'h':
			fputs(faults_help, stdout);
			rc = 0;
			goto out;
		case O_STALL:
		case O_TIMEOUT:
			if (ipcl_parse_duration(optarg, c == O_STALL ? &pl->stall_ns
								     : &pl->timeout_ns) ||
			    (c == O_STALL ? pl->stall_ns : pl->timeout_ns) <= 0) {
				rc = faults_usage("bad time '%s': want e.g. 200ms, 20s",
						  optarg);
				goto out;
			}
			break;
		case ':':
			rc = faults_usage("option '%s' needs a value", argv[optind - 1]);
			goto out;
		default:
			rc = faults_usage("unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = faults_usage("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!pl->nt) /* all of them */
		while (pl->nt < MAX_T && ipcl_transport_at(pl->nt))
			pl->t[pl->nt] = ipcl_transport_at(pl->nt), pl->nt++;
	if (!pl->nsc) {
		static const enum ipcl_fault all[] = {
		    IPCL_FAULT_KILL_CONSUMER, IPCL_FAULT_KILL_PRODUCER, IPCL_FAULT_STALL,
		    IPCL_FAULT_OVERSIZE};

		memcpy(pl->sc, all, sizeof all);
		pl->nsc = 4;
	}
	if (!pl->output[0]) {
		char stamp[32];
		time_t now = time(NULL);

		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
		/* ./results must be the caller's own (engine/safefile.h). */
		if ((fd = ipcl_output_dir_open("results", err, sizeof err)) < 0) {
			rc = faults_usage("cannot write into 'results': %s", err);
			goto out;
		}
		close(fd);
		snprintf(pl->output, sizeof pl->output, "results/faults-%s.jsonl", stamp);
	}
	if (strcmp(pl->output, "-") != 0) {
		fd = ipcl_output_open_append(pl->output, NULL, err, sizeof err);
		if (fd < 0) {
			rc = faults_usage("cannot write --output '%s': %s", pl->output,
					  err);
			goto out;
		}
		close(fd);
	}
	rc = faults_run(pl);
out:
	free(pl);
	return rc;
}
