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

/* One summary row: the runs runs[0 .. n) of one point. */
struct ipcl_report_row {
	const struct ipcl_report_rec *runs;
	int n;
	const struct ipcl_report_rec *mid; /* the run whose p50 is nearest the median */
	struct ipcl_report_fig p50, p99, msgs_s, cpu, rate;
	long long lost, dup, reord, corrupt, sent; /* sums over the runs */
	int failed;                                /* runs whose status is not "ok" */
};

/* The rows of a record set, in the order of the grouping key. */
struct ipcl_report_rows {
	struct ipcl_report_row *g;
	int ng;
};

/*
 * The seam between records and a summary: the n (>= 1) runs of one point into
 * *row. Today each figure is the median of the runs' figures with their
 * min..max, and the percentiles not in the row (p99.9, max, MB/s, CPU of
 * each side) are read from row->mid. Returns 0 or -ENOMEM.
 */
int ipcl_report_summarize(const struct ipcl_report_rec *runs, int n,
			  struct ipcl_report_row *row);

/* Sorts set by the grouping key and makes a row of each point. Returns 0 or
 * -ENOMEM. The rows point into set->r: set must outlive them. */
int ipcl_report_group(struct ipcl_report_set *set, struct ipcl_report_rows *rows);
void ipcl_report_rows_free(struct ipcl_report_rows *rows);

/* The end of the block of rows from a on that share a's pattern, and its size
 * too when by_size (rows are sorted by pattern, then size). */
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
	int self; /* up and down already name the figure ("more CPU") */
};

extern const struct ipcl_report_figdef ipcl_report_fig_cpu;

#define IPCL_REPORT_MAX_FIGS 3

/* The figures of a pattern, the first one the ranking's: pingpong p50 and p99,
 * rate p99, anything else msgs/s; then CPU per message. Returns how many. */
int ipcl_report_figs(const char *pattern, const struct ipcl_report_figdef **f);

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
const char *ipcl_report_fmt_f(char *b, size_t n, int decimals, double v);
const char *ipcl_report_fmt_fig(char *b, size_t n, const struct ipcl_report_figdef *d,
				double v);
const char *ipcl_report_fmt_rate(char *b, size_t n, const struct ipcl_report_fig *f);

#endif
