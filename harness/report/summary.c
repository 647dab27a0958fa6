/*
 * summary.c - report records into summary rows: the runs of one point reduced
 * to the median of each figure with its min..max spread (qsort), and the
 * figure definitions and number formats the tables share. libm only. Leaves
 * out: merging the runs' histograms (a row's p99.9 and max come from its
 * representative run, not from all runs).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/summary.h"

static const struct ipcl_report_figdef fig_p50 = {
    .name = "p50",
    .unit = "us",
    .off = offsetof(struct ipcl_report_row, p50),
    .up = "slower",
    .down = "faster"};
static const struct ipcl_report_figdef fig_p99 = {
    .name = "p99",
    .unit = "us",
    .off = offsetof(struct ipcl_report_row, p99),
    .up = "slower",
    .down = "faster"};
static const struct ipcl_report_figdef fig_msgs = {
    .name = "msgs/s",
    .unit = "msgs/s",
    .off = offsetof(struct ipcl_report_row, msgs_s),
    .higher_better = 1,
    .up = "faster",
    .down = "slower"};
const struct ipcl_report_figdef ipcl_report_fig_cpu = {
    .name = "CPU/msg",
    .unit = "ns",
    .off = offsetof(struct ipcl_report_row, cpu),
    .up = "more CPU",
    .down = "less CPU",
    .self = 1};

int ipcl_report_figs(const char *pattern, const struct ipcl_report_figdef **f)
{
	int n = 0;

	if (!strcmp(pattern, "pingpong")) {
		f[n++] = &fig_p50;
		f[n++] = &fig_p99;
	} else if (!strcmp(pattern, "rate")) {
		f[n++] = &fig_p99;
	} else {
		f[n++] = &fig_msgs;
	}
	f[n++] = &ipcl_report_fig_cpu;
	return n;
}

const struct ipcl_report_fig *ipcl_report_rowfig(const struct ipcl_report_row *row,
						 const struct ipcl_report_figdef *d)
{
	return (const struct ipcl_report_fig *)((const char *)row + d->off);
}

double ipcl_report_ratio(const struct ipcl_report_fig *o, const struct ipcl_report_fig *n)
{
	return o->med > 0 && !isnan(n->med) ? n->med / o->med : NAN;
}

static int summary_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the non-NaN values (mean of the middle two for an even count). */
static double summary_median(double *v, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	if (!k)
		return NAN;
	qsort(v, (size_t)k, sizeof *v, summary_cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* The figure at offset off of struct ipcl_report_rec over the n records r:
 * median and spread of the runs that have it. tmp holds at least n doubles. */
static struct ipcl_report_fig summary_fig(const struct ipcl_report_rec *r, int n,
					  size_t off, double *tmp)
{
	struct ipcl_report_fig f = {NAN, NAN, NAN, 0};

	for (int k = 0; k < n; k++) {
		double v = *(const double *)(const void *)((const char *)&r[k] + off);

		tmp[k] = v;
		if (isnan(v))
			continue;
		if (!f.n || v < f.min)
			f.min = v;
		if (!f.n || v > f.max)
			f.max = v;
		f.n++;
	}
	f.med = summary_median(tmp, n);
	return f;
}

int ipcl_report_summarize(const struct ipcl_report_rec *r, int n,
			  struct ipcl_report_row *row)
{
	double *tmp = calloc((size_t)n + 1, sizeof *tmp), best = INFINITY;

	if (!tmp)
		return -ENOMEM;
	memset(row, 0, sizeof *row);
	row->runs = r;
	row->n = n;
	for (int k = 0; k < n; k++) {
		row->sent += r[k].sent;
		row->lost += r[k].lost;
		row->dup += r[k].dup;
		row->reord += r[k].reord;
		row->corrupt += r[k].corrupt;
		row->failed += strcmp(r[k].status, "ok") != 0;
	}
	row->p50 = summary_fig(r, n, offsetof(struct ipcl_report_rec, p50), tmp);
	row->p99 = summary_fig(r, n, offsetof(struct ipcl_report_rec, p99), tmp);
	row->msgs_s = summary_fig(r, n, offsetof(struct ipcl_report_rec, msgs_s), tmp);
	row->cpu = summary_fig(r, n, offsetof(struct ipcl_report_rec, cpu), tmp);
	row->rate = summary_fig(r, n, offsetof(struct ipcl_report_rec, rate), tmp);
	row->mid = r;
	for (int k = 0; k < n; k++)
		if (!isnan(r[k].p50) && fabs(r[k].p50 - row->p50.med) < best) {
			best = fabs(r[k].p50 - row->p50.med);
			row->mid = &r[k];
		}
	free(tmp);
	return 0;
}

int ipcl_report_group(struct ipcl_report_set *set, struct ipcl_report_rows *rows)
{
	rows->ng = 0;
	rows->g = calloc((size_t)set->nr + 1, sizeof *rows->g);
	if (!rows->g)
		return -ENOMEM;
	ipcl_report_sort(set);
	for (int i = 0; i < set->nr;) {
		const struct ipcl_report_rec *r = &set->r[i];
		int first = i, rc;

		while (i < set->nr && !ipcl_report_key_cmp(r, &set->r[i]))
			i++;
		rc = ipcl_report_summarize(r, i - first, &rows->g[rows->ng]);
		if (rc)
			return rc;
		rows->ng++;
	}
	return 0;
}

void ipcl_report_rows_free(struct ipcl_report_rows *rows)
{
	free(rows->g);
	rows->g = NULL;
	rows->ng = 0;
}

int ipcl_report_block(const struct ipcl_report_rows *rows, int a, int by_size)
{
	const struct ipcl_report_rec *ra = rows->g[a].runs;
	int b = a;

	while (b < rows->ng && !strcmp(rows->g[b].runs->pattern, ra->pattern) &&
	       (!by_size || rows->g[b].runs->size == ra->size))
		b++;
	return b;
}

const char *ipcl_report_fmt_us(char *b, size_t n, double ns)
{
	if (isnan(ns))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", ns / 1000.0);
	return b;
}

const char *ipcl_report_fmt_f(char *b, size_t n, int decimals, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.*f", decimals, v);
	return b;
}

const char *ipcl_report_fmt_fig(char *b, size_t n, const struct ipcl_report_figdef *d,
				double v)
{
	return !strcmp(d->unit, "us") ? ipcl_report_fmt_us(b, n, v)
				      : ipcl_report_fmt_f(b, n, 0, v);
}

const char *ipcl_report_fmt_rate(char *b, size_t n, const struct ipcl_report_fig *f)
{
	if (!f->n)
		snprintf(b, n, "-");
	else if (f->min == f->max)
		snprintf(b, n, "%.0f", f->med);
	else
		snprintf(b, n, "%.0f (%.0f..%.0f)", f->med, f->min, f->max);
	return b;
}
