/*
 * report.c - `ipclab report`: the driver. Parses the options, reads the
 * result files (read.c), reduces them to summary rows (summary.c), writes
 * DIR/hgrm/ (hgrm.c), works out "What to use" (answer.c), draws the charts
 * (charts.c), then DIR/report.md and DIR/report.html (answer.c, sections.c,
 * baseline.c through doc.c) and with --csv DIR/summary.csv and
 * DIR/baseline.csv (csv.c). Everything is written into a private staging
 * directory DIR/.report-XXXXXX (mkdtemp) and renamed into DIR only once all of
 * it was written, so a report that fails or is interrupted leaves the previous
 * one as it was (a killed one leaves its staging directory). DIR (and
 * DIR/hgrm) must be the caller's and not writable by group or others
 * (ipcl_report_dir_check, engine/safefile.h): another user's directory could
 * hold planted names. Errors are one line on stderr and exit
 * status 2; a skipped input line is one "FILE:LINE: skipped: why" line each.
 * Leaves out: everything about a record's content (see the files above) and
 * running anything (compare does that).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/safefile.h"
#include "report/answer.h"
#include "report/baseline.h"
#include "report/charts.h"
#include "report/csv.h"
#include "report/doc.h"
#include "report/hgrm.h"
#include "report/html.h"
#include "report/ranking.h"
#include "report/read.h"
#include "report/report.h"
#include "report/sections.h"
#include "report/summary.h"

#define EXIT_USAGE 2

static const char report_help[] =
    "usage: ipclab report RESULTS.jsonl... [--baseline OLD.jsonl] [-o DIR] [--csv]\n"
    "                     [--ranking]\n"
    "\n"
    "Reads result records (JSON lines from `ipclab run --json` or `ipclab compare`)\n"
    "and writes DIR/report.md and DIR/report.html: first \"What to use\" (per need\n"
    "the winner and runner-up from the records; flagged rows never win), charts\n"
    "(small multiples by family, latency over time of runs over 1 s), overview\n"
    "tables, then the details: environment, one summary table\n"
    "per pattern (repeated runs of the same transport, pattern, size and set-up\n"
    "are reduced to one row: percentiles from their histograms merged, msgs/s and\n"
    "CPU per message of receiver and sender the median, with the spread; target and\n"
    "achieved rate of rate runs; flags for loss, duplicates, corruption, a late\n"
    "sender, a mock server), a ranking per pattern, size and rate (pingpong by p50,\n"
    "rate by p99 with ties, stream by msgs/s; flagged rows after clean ones),\n"
    "the machine's noise floor (compare's hiccup record), verification counts,\n"
    "and gnuplot charts (latency percentile spectrum of pingpong and rate, stream\n"
    "throughput against message size, stream CPU per message) when gnuplot is\n"
    "installed. Per-run percentile distributions go to DIR/hgrm/. Latencies in us.\n"
    "  -b, --baseline OLD  also compare with the older results OLD: per row the\n"
    "                      ratio new/old of the pattern's figures (pingpong p50 and\n"
    "                      p99, stream msgs/s, rate p99; CPU/msg), flagged only when\n"
    "                      the min..max ranges of the runs do not overlap; the\n"
    "                      flagged rows are also printed\n"
    "      --min-change PCT  flag a change beyond the spread only from PCT on\n"
    "                      (default 10%); smaller ones are a \"small change\"\n"
    "  -o, --output DIR    where the report goes (default report)\n"
    "      --csv           also write DIR/summary.csv (and DIR/baseline.csv)\n"
    "      --ranking       also print the ranking on stdout\n";

const char *ipcl_report_help(void)
{
	return report_help;
}

/* What the command line asked for. */
struct opts {
	const char *dir, *base;
	int csv, ranking;
	double min_change; /* --baseline: smallest change flagged (0.10 = 10%) */
};

/* The command's state: the input, its rows, the charts and the open files. */
struct rep {
	struct ipcl_report_set now, old;
	struct ipcl_report_rows rnow, rold;
	struct ipcl_report_charts charts;
	struct ipcl_answer anow, aold; /* "What to use" of each set */
	struct ipcl_doc doc;
	FILE *csv, *bcsv; /* summary.csv and baseline.csv, or NULL */
	char stage[4096]; /* DIR/.report-XXXXXX, or "" before it exists */
};

static int report_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int report_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ipclab report: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* --min-change PCT ("10" or "10%") into o; returns 0 or prints and 2. */
static int report_min_change(struct opts *o, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end != arg && *end == '%')
		end++;
	if (errno || end == arg || *end || !(v >= 0 && v < 1000))
		return report_fail("bad --min-change '%s': want a percentage such as 10 "
				   "or 10%%",
				   arg);
	o->min_change = v / 100;
	return 0;
}

/* Parses argv into o; returns 0, -1 (--help printed) or 2 (one line printed).
 * On 0 optind is the first results file. */
static int report_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"baseline", required_argument, NULL, 'b'},
					   {"csv", no_argument, NULL, 'c'},
					   {"ranking", no_argument, NULL, 'R'},
					   {"min-change", required_argument, NULL, 'm'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->dir = optarg;
			break;
		case 'b':
			if (o->base)
				return report_fail("--baseline given twice");
			o->base = optarg;
			break;
		case 'c':
			o->csv = 1;
			break;
		case 'R':
			o->ranking = 1;
			break;
		case 'm':
			if (report_min_change(o, optarg))
				return EXIT_USAGE;
			break;
		case 'h':
			fputs(report_help, stdout);
			return -1;
		default:
			return report_fail("bad option '%s' (see `ipclab report --help`)",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return report_fail("no results files given (see `ipclab report --help`)");
	return 0;
}

/* Reads path into set; returns 0 or prints one line and 2. */
static int report_read(struct ipcl_report_set *set, const char *path)
{
	char err[4400];

	if (ipcl_report_read(set, path, stderr, err, sizeof err))
		return report_fail("%s", err);
	return 0;
}

/* Reads the baseline and the files argv[first ..] and makes their rows;
 * returns 0 or prints one line and 2. */
static int report_load(struct rep *rep, const struct opts *o, int argc, char **argv,
		       int first)
{
	int rc;

	if (o->base && (rc = report_read(&rep->old, o->base)))
		return rc;
	if (o->base && !rep->old.nr)
		return report_fail("no usable result records in the baseline '%s'",
				   o->base);
	for (int i = first; i < argc; i++)
		if ((rc = report_read(&rep->now, argv[i])))
			return rc;
	if (!rep->now.nr && !rep->now.nfault && !rep->now.nfloor)
		return report_fail("no usable result records in the given files%s",
				   rep->now.skipped ? " (every line was skipped)" : "");
	if (ipcl_report_group(&rep->now, &rep->rnow) ||
	    (o->base && ipcl_report_group(&rep->old, &rep->rold)))
		return report_fail("out of memory");
	return 0;
}

/* Opens stage/name for writing into *f; returns 0 or -1 (errno set). */
static int report_fopen(FILE **f, const char *stage, const char *name)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s", stage, name);
	*f = fopen(path, "w");
	return *f ? 0 : -1;
}

int ipcl_report_dir_check(const char *dir, char *err, size_t n)
{
	char why[IPCL_OUTPUT_ERRLEN];
	int fd = ipcl_output_dir_open(dir, why, sizeof why);

	if (fd < 0) {
		if (fd == -EPERM || fd == -ELOOP)
			snprintf(err, n, "refusing the report directory '%s': %s", dir,
				 why);
		else
			snprintf(err, n, "cannot create '%s': %s", dir, why);
		return -1;
	}
	close(fd);
	return 0;
}

/* Creates DIR and its staging directory, and opens there report.md,
 * report.html and with --csv summary.csv (and baseline.csv); returns 0 or
 * prints one line and 2. */
static int report_open(struct rep *rep, const struct opts *o)
{
	char err[4400];

	if (ipcl_report_dir_check(o->dir, err, sizeof err))
		return report_fail("%s", err);
	if ((size_t)snprintf(rep->stage, sizeof rep->stage, "%s/.report-XXXXXX",
			     o->dir) >= sizeof rep->stage)
		return report_fail("output directory name too long");
	if (!mkdtemp(rep->stage)) {
		int e = errno;

		rep->stage[0] = '\0';
		return report_fail("cannot write into '%s': %s", o->dir, strerror(e));
	}
	if (report_fopen(&rep->doc.md, rep->stage, "report.md") ||
	    report_fopen(&rep->doc.html, rep->stage, "report.html") ||
	    (o->csv && report_fopen(&rep->csv, rep->stage, "summary.csv")) ||
	    (o->csv && o->base && report_fopen(&rep->bcsv, rep->stage, "baseline.csv")))
		return report_fail("cannot write into '%s': %s", o->dir, strerror(errno));
	return 0;
}

/*
 * Moves every file of from (a staging directory of ours, so regular files and
 * the hgrm directory only) into to, subdirectories file by file, then removes
 * from. With publish 0 the files are removed instead (a failed report).
 * Returns 0 or -1 (errno set) at the first move that failed.
 */
static int report_publish(const char *from, const char *to, int publish)
{
	char src[4400], dst[4400];
	struct stat st;
	DIR *d = opendir(from);
	struct dirent *e;
	int rc = 0, err = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(src, sizeof src, "%s/%s", from, e->d_name);
		snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
		if (lstat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
			int dfd = publish ? ipcl_output_dir_open(dst, NULL, 0) : -1;

			/* DIR/hgrm too must be ours, not a link (safefile.h). */
			if (dfd >= 0)
				close(dfd);
			if (publish && dfd < 0)
				errno = -dfd, rc = -1;
			else if (report_publish(src, dst, publish && !rc))
				rc = -1;
		} else if (publish && !rc) {
			if (rename(src, dst))
				rc = -1;
		} else {
			unlink(src);
		}
		if (rc && !err)
			err = errno;
	}
	closedir(d);
	if (rmdir(from) && !rc)
		err = errno, rc = -1;
	errno = err;
	return rc;
}

/* The report itself, in reading order: the answer first, then the charts,
 * the overview tables, the ranking, and the details; nfiles is how many files
 * were read. */
static void report_write(struct rep *rep, const struct opts *o, int nfiles)
{
	struct ipcl_doc *d = &rep->doc;
	char line[320];

	ipcl_html_begin(d->html);
	ipcl_doc_heading(d, 1, "ipclab report");
	snprintf(line, sizeof line,
		 "%d records (%d of them fault runs, %d machine-floor runs) from %d "
		 "file(s)%s. Latencies in microseconds; repeated runs are reduced to one "
		 "row (percentiles from their merged histograms, other figures the "
		 "median).",
		 rep->now.nr + rep->now.nfault + rep->now.nfloor, rep->now.nfault,
		 rep->now.nfloor, nfiles, o->base ? ", compared with a baseline" : "");
	ipcl_doc_para(d, line);
	ipcl_answer_section(d, &rep->anow);
	if (o->base)
		ipcl_answer_compare(d, &rep->anow, &rep->aold);
	ipcl_report_chart_section(d, &rep->charts);
	if (rep->now.nr) {
		ipcl_report_overview(d, &rep->rnow);
		ipcl_report_ranking(d, &rep->rnow);
		ipcl_report_noise(d, &rep->now);
		if (o->base) {
			struct ipcl_report_side now = {&rep->now, &rep->rnow},
						old = {&rep->old, &rep->rold};

			ipcl_report_baseline(d, &now, &old, o->base, o->min_change,
					     rep->bcsv);
		}
		ipcl_report_summary(d, &rep->rnow);
		if (rep->csv)
			ipcl_csv_summary(rep->csv, &rep->rnow);
		ipcl_report_verify(d, &rep->rnow);
	}
	ipcl_report_faults(d, &rep->now);
	if (rep->now.nr)
		ipcl_report_env(d, &rep->now);
	ipcl_html_end(d->html);
}

/* Closes f (if open); returns rc, or 2 with one line when rc was 0 and the
 * close failed. */
static int report_close(FILE *f, int rc, const char *dir, const char *name)
{
	if (f && fclose(f) && !rc)
		rc = report_fail("cannot write '%s/%s': %s", dir, name, strerror(errno));
	return rc;
}

int ipcl_cmd_report(int argc, char **argv)
{
	struct opts o = {.dir = "report", .min_change = 0.10};
	struct rep rep = {0};
	int rc = report_opts(argc, argv, &o), first = optind;

	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = report_load(&rep, &o, argc, argv, first)) ||
	    (rc = report_open(&rep, &o)))
		goto out;
	if (ipcl_report_hgrm(&rep.rnow, rep.stage)) {
		rc = report_fail("cannot write '%s/hgrm': %s", o.dir, strerror(errno));
		goto out;
	}
	if (ipcl_answer_make(&rep.anow, &rep.now, &rep.rnow) ||
	    (o.base && ipcl_answer_make(&rep.aold, &rep.old, &rep.rold))) {
		rc = report_fail("out of memory");
		goto out;
	}
	ipcl_report_charts(&rep.charts, &rep.rnow,
			   rep.now.nfloor ? rep.now.floor[rep.now.nfloor - 1] : NULL,
			   rep.stage);
	report_write(&rep, &o, argc - first);
	if (o.ranking) {
		ipcl_report_print_ranking(stdout, &rep.rnow);
		for (int i = 0; i < rep.now.nfloor; i++)
			ipcl_report_print_hiccup(stdout, rep.now.floor[i]);
	}
out:
	rc = report_close(rep.doc.md, rc, o.dir, "report.md");
	rc = report_close(rep.doc.html, rc, o.dir, "report.html");
	rc = report_close(rep.csv, rc, o.dir, "summary.csv");
	rc = report_close(rep.bcsv, rc, o.dir, "baseline.csv");
	if (rep.stage[0] && report_publish(rep.stage, o.dir, !rc) && !rc)
		rc = report_fail("cannot move the report into '%s': %s", o.dir,
				 strerror(errno));
	ipcl_report_charts_free(&rep.charts);
	ipcl_report_rows_free(&rep.rnow);
	ipcl_report_rows_free(&rep.rold);
	ipcl_report_set_free(&rep.now);
	ipcl_report_set_free(&rep.old);
	if (!rc)
		printf("report: %s/report.html, %s/report.md\n", o.dir, o.dir);
	return rc;
}
