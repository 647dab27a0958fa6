/*
 * summary.h - the runs of one point (same pattern, size, transport and set-up)
 * reduced to one summary row, the figures a row is ranked and compared by, and
 * how those figures print. Pure computation on read.h's records; no output.
 */
#ifndef IPCLAB_REPORT_SUMMARY_H
#define IPCLAB_REPORT_SUMMARY_H

#include <stddef.h>

#include "report/read.h"

/* One figure of a row over its runs: the median, the spread (min..max) and
 * how many runs had the figure (n; min, max and med are NaN when n is 0). */
struct ipcl_report_fig {
	double med, min, max;
	int n;
};

/*
 * The latency percentiles of a row (ns), all from one histogram, so that
 * min <= p50 <= p90 <= p99 <= p99.9 <= p99.99 <= max always holds: the runs'
 * histograms merged (latency.hist buckets added, the HDR way: merged = how
 * many runs), or, when a run that measured latency has no usable buckets,
 * every percentile from the representative run (merged = 0). NaN when no run
 * measured latency.
 */
struct ipcl_report_lat {
	double min, p50, p90, p99, p999, p9999, max;
	int merged;
	long long count; /* latency samples behind the percentiles (n) */
};

/*
 * How many samples percentile pct (90, 99, 99.9, 99.99) needs before a table
 * prints it: 100 / (100 - pct), so that at least one sample lies above it
 * (p90: 10, p99: 100, p99.9: 1000, p99.99: 10000); 1 for p50 and below.
 * From fewer samples the figure is just the largest one: tables print "-".
 */
long long ipcl_report_pct_min(double pct);

/* What makes a row's figures unfit to rank beside clean ones (a bit each). */
enum {
	IPCL_RF_LOST = 1 << 0,    /* a run lost messages */
	IPCL_RF_DUP = 1 << 1,     /* a run duplicated messages */
	IPCL_RF_CORRUPT = 1 << 2, /* a run received corrupt messages */
	IPCL_RF_LATE = 1 << 3,    /* a run's sender fell behind its schedule */
	IPCL_RF_MOCK = 1 << 4,    /* the runs were made against a stand-in server */
	IPCL_RF_FAILED = 1 << 5,  /* a run's status is not "ok" */
};

/* One summary row: the runs runs[0 .. n) of one point. */
struct ipcl_report_row {
	const struct ipcl_report_rec *runs;
	int n;
	const struct ipcl_report_rec *mid; /* the run whose p50 is nearest the median */
	struct ipcl_report_lat lat;
	/* p50 and p99: .med is lat's (merged) figure, .min/.max the runs' own
	 * spread; the others: the median of the runs' figures and their spread */
	struct ipcl_report_fig p50, p99, msgs_s, cpu, rate;
	struct ipcl_report_fig cpu_srv; /* the server's CPU, ns/msg (brokers) */
	long long lost, dup, reord, corrupt, sent, expected; /* sums over the runs */
	long long lost_after_ack;                            /* sum, where recorded */
	int failed;     /* runs whose status is not "ok" */
	int late;       /* runs whose sender fell behind its schedule */
	int no_flow;    /* runs of a mechanism without flow control (it drops) */
	unsigned flags; /* IPCL_RF_*: 0 is a clean row */

	/* RFC 2544 searches (read.h zl_search): runs that are, those that found
	 * no rate without loss, and zl_fig: msgs_s is the zero-loss rate, the
	 * median over the searches that found one, not a survivors' msgs/s */
	int zl_runs, zl_none, zl_fig;
};

/* The rows of a record set, in the order of the grouping key. */
struct ipcl_report_rows {
	struct ipcl_report_row *g;
	int ng;
};

/*
 * The seam between records and a summary: the n (>= 1) runs of one point into
 * *row. The latency percentiles come from one histogram (struct
 * ipcl_report_lat); msgs/s, CPU and the target rate are the medians of the
 * runs' figures with their min..max; MB/s and the CPU of each side are read
 * from row->mid; counts are summed and the flags set. Returns 0 or -ENOMEM.
 */
int ipcl_report_summarize(const struct ipcl_report_rec *runs, int n,
			  struct ipcl_report_row *row);

/* Sorts set by the grouping key and makes a row of each point. Returns 0 or
 * -ENOMEM. The rows point into set->r: set must outlive them. */
int ipcl_report_group(struct ipcl_report_set *set, struct ipcl_report_rows *rows);
void ipcl_report_rows_free(struct ipcl_report_rows *rows);

/* The end of the block of rows from a on that share a's pattern, and its size
 * and rate group too when by_size (rows are sorted by pattern, size, rate
 * group: read.h). */
int ipcl_report_block(const struct ipcl_report_rows *rows, int a, int by_size);

/*
 * A figure that ranks rows and is compared against a baseline: its name, where
 * it lives in struct ipcl_report_row, whether higher is better, and what a
 * higher or lower new value means ("slower"/"faster").
 */
struct ipcl_report_figdef {
	const char *name, *unit;
	size_t off;
	int higher_better;
	const char *up, *down;
	int self;   /* up and down already name the figure ("more CPU") */
	double pct; /* a latency percentile: which (50, 99), else 0 */
	int tie;    /* in a ranking, rows whose runs' ranges overlap are tied */
};

extern const struct ipcl_report_figdef ipcl_report_fig_cpu;

#define IPCL_REPORT_MAX_FIGS 3

/* The figures of a pattern, the first one the ranking's: pingpong p50 and p99,
 * rate p99, anything else msgs/s; then CPU per message. Returns how many. */
int ipcl_report_figs(const char *pattern, const struct ipcl_report_figdef **f);

/*
 * The order of rows [a, b) by figure d in a ranking: the rows with d above 0
 * that ipcl_report_unranked does not leave out (mock servers, percentiles
 * from too few samples),
 * clean rows (flags 0) first, then rows flagged for something else than their
 * delivery (a late sender), then rows that lost, duplicated or
 * corrupted messages or had a failed run (so a row that lost messages is
 * never above one that lost none), each class best first (equal figures keep
 * their order), into ord; rank[i] is the rank ord[i] gets: 1 + how many rows
 * come before it, except that with d->tie a row whose runs' range (min..max)
 * overlaps the range of the rows tied at the rank before it, in the same
 * class, shares their rank. Returns how many rows.
 */
int ipcl_report_rank(const struct ipcl_report_rows *rows, int a, int b,
		     const struct ipcl_report_figdef *d, int *ord, int *rank);

/*
 * Why row is left out of a ranking by d, as one line into b (n bytes): "mock
 * server" (a stand-in server's figures are not a broker's), "too few
 * samples for p99 (n 40; needs 100)", "no p99 figure" (e.g. every message of
 * a rate run lost); NULL when it is ranked. ipcl_report_rank leaves out
 * exactly the rows this names.
 */
const char *ipcl_report_unranked(const struct ipcl_report_row *row,
				 const struct ipcl_report_figdef *d, char *b, size_t n);

/* Is ord[i] tied with another row of the ranking (rank[] from above)? */
int ipcl_report_tied(const int *rank, int n, int i);

/*
 * Why row is flagged, as one line into b (n bytes): "lost 1900 of 21000
 * (9.0%)", "duplicated 3", "corrupt 1", "sender late in 2 of 3 runs", "mock
 * server", "1 of 3 runs failed", joined by "; ", and for a lossy mechanism
 * "no flow control" beside a loss, for an RFC 2544 search "no rate without
 * loss in 1 of 3 searches"; "" for a clean row. Returns b.
 */
const char *ipcl_report_flag_text(const struct ipcl_report_row *row, char *b, size_t n);

/* The mark that goes next to figure d of row wherever it is shown:
 * "zero-loss" when it is the RFC 2544 zero-loss rate, else "". */
const char *ipcl_report_fig_mark(const struct ipcl_report_row *row,
				 const struct ipcl_report_figdef *d);

/* The figure d of row. */
const struct ipcl_report_fig *ipcl_report_rowfig(const struct ipcl_report_row *row,
						 const struct ipcl_report_figdef *d);

/* new/old of two figures' medians, NaN when old is not above 0 or new is NaN. */
double ipcl_report_ratio(const struct ipcl_report_fig *o,
			 const struct ipcl_report_fig *n);

/* Figures as the tables print them, into b (n bytes), "-" for NaN; each
 * returns b. us: ns as us with 2 decimals; f: with the given decimals; fig:
 * us for a latency figure, else whole; rate: a target rate, the median and
 * the range when the runs differ. */
const char *ipcl_report_fmt_us(char *b, size_t n, double ns);
/* Percentile pct of a histogram of count samples as us, "-" when count is
 * below ipcl_report_pct_min(pct). */
const char *ipcl_report_fmt_pct(char *b, size_t n, double ns, long long count,
				double pct);
const char *ipcl_report_fmt_f(char *b, size_t n, int decimals, double v);
const char *ipcl_report_fmt_fig(char *b, size_t n, const struct ipcl_report_figdef *d,
				double v);
const char *ipcl_report_fmt_rate(char *b, size_t n, const struct ipcl_report_fig *f);

/* The rate group of row's block as a heading's tail: "" for any pattern but
 * rate, " at 10000 msgs/s", or " at 25% of each transport's stream capacity".
 * Returns b. */
const char *ipcl_report_fmt_rategroup(char *b, size_t n,
				      const struct ipcl_report_row *row);

#endif
