/*
 * summary.c - report records into summary rows: the runs of one point reduced
 * to one row whose latency percentiles come from the runs' histograms merged
 * (engine/histogram, read back by ipcl_hist_from_json), whose other figures
 * are medians with their min..max spread (qsort), and whose flags say what
 * keeps it from being ranked beside clean rows; the order of a ranking; the
 * figure definitions and number formats the tables share. libm, jansson.
 * Leaves out: the merged percentile spectrum (charts draw the representative
 * run's), and any output.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/histogram.h"
#include "engine/record.h"
#include "report/summary.h"

static const struct ipcl_report_figdef fig_p50 = {
    .name = "p50",
    .unit = "us",
    .off = offsetof(struct ipcl_report_row, p50),
    .up = "slower",
    .down = "faster",
    .pct = 50};
static const struct ipcl_report_figdef fig_p99 = {
    .name = "p99",
    .unit = "us",
    .off = offsetof(struct ipcl_report_row, p99),
    .up = "slower",
    .down = "faster",
    .pct = 99};
/* The rate pattern's p99: ranked with ties where the runs' ranges overlap. */
static const struct ipcl_report_figdef fig_rate_p99 = {
    .name = "p99",
    .unit = "us",
    .off = offsetof(struct ipcl_report_row, p99),
    .up = "slower",
    .down = "faster",
    .tie = 1,
    .pct = 99};
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
		f[n++] = &fig_rate_p99;
	} else {
		f[n++] = &fig_msgs;
	}
	f[n++] = &ipcl_report_fig_cpu;
	return n;
}

const char *ipcl_report_fig_mark(const struct ipcl_report_row *row,
				 const struct ipcl_report_figdef *d)
{
	return row->zl_fig && d->off == offsetof(struct ipcl_report_row, msgs_s)
		   ? "zero-loss"
		   : "";
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

/* Does run r carry a latency histogram's figures? */
static int summary_has_lat(const struct ipcl_report_rec *r)
{
	return r->count > 0 && !isnan(r->p50);
}

/* Every percentile of row->lat from the one run m. */
static void summary_lat_of(struct ipcl_report_lat *l, const struct ipcl_report_rec *m)
{
	l->min = m->min;
	l->p50 = m->p50;
	l->p90 = m->p90;
	l->p99 = m->p99;
	l->p999 = m->p999;
	l->p9999 = m->p9999;
	l->max = m->max;
	l->merged = 0;
	l->count = m->count;
}

/*
 * row->lat from the runs' latency.hist buckets merged; from row->mid alone
 * when a run that measured latency has none (records of another layout or
 * edited by hand). Returns 0 or -ENOMEM.
 */
static int summary_lat(struct ipcl_report_row *row)
{
	struct ipcl_hist *all = malloc(sizeof *all), *one = malloc(sizeof *one);
	struct ipcl_report_lat *l = &row->lat;
	int merged = 0, rc = 0;

	*l = (struct ipcl_report_lat){NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0};
	if (!all || !one) {
		rc = -ENOMEM;
		goto out;
	}
	ipcl_hist_init(all);
	for (int k = 0; k < row->n; k++) {
		const struct ipcl_report_rec *r = &row->runs[k];

		if (!summary_has_lat(r))
			continue;
		if (ipcl_hist_from_json(json_object_get(r->j, "latency"), one) ||
		    !one->count) {
			merged = -1;
			break;
		}
		ipcl_hist_merge(all, one);
		merged++;
	}
	if (merged > 0) {
		l->min = (double)all->min;
		l->p50 = (double)ipcl_hist_percentile(all, 50);
		l->p90 = (double)ipcl_hist_percentile(all, 90);
		l->p99 = (double)ipcl_hist_percentile(all, 99);
		l->p999 = (double)ipcl_hist_percentile(all, 99.9);
		l->p9999 = (double)ipcl_hist_percentile(all, 99.99);
		l->max = (double)all->max;
		l->merged = merged;
		l->count = (long long)all->count;
	} else if (merged < 0 && summary_has_lat(row->mid))
		summary_lat_of(l, row->mid);
out:
	free(all);
	free(one);
	return rc;
}

/* The sums and flags of row over its runs. */
static void summary_counts(struct ipcl_report_row *row)
{
	const struct ipcl_report_rec *r = row->runs;

	for (int k = 0; k < row->n; k++) {
		row->sent += r[k].sent;
		row->expected += r[k].expected;
		row->lost += r[k].lost;
		row->lost_after_ack += r[k].lost_after_ack;
		row->dup += r[k].dup;
		row->reord += r[k].reord;
		row->corrupt += r[k].corrupt;
		row->failed += strcmp(r[k].status, "ok") != 0;
		row->late += r[k].late > 0;
		row->no_flow += r[k].flow == 0;
		row->zl_runs += r[k].zl_search;
		row->zl_none += r[k].zl_search && isnan(r[k].zero_loss);
		if (r[k].mock > 0)
			row->flags |= IPCL_RF_MOCK;
	}
	row->flags |= (row->lost ? IPCL_RF_LOST : 0u) | (row->dup ? IPCL_RF_DUP : 0u) |
		      (row->corrupt ? IPCL_RF_CORRUPT : 0u) |
		      (row->late ? IPCL_RF_LATE : 0u) |
		      (row->failed ? IPCL_RF_FAILED : 0u);
}

int ipcl_report_summarize(const struct ipcl_report_rec *r, int n,
			  struct ipcl_report_row *row)
{
	double *tmp = calloc((size_t)n + 1, sizeof *tmp), best = INFINITY;
	int rc;

	if (!tmp)
		return -ENOMEM;
	memset(row, 0, sizeof *row);
	row->runs = r;
	row->n = n;
	summary_counts(row);
	row->p50 = summary_fig(r, n, offsetof(struct ipcl_report_rec, p50), tmp);
	row->p99 = summary_fig(r, n, offsetof(struct ipcl_report_rec, p99), tmp);
	row->msgs_s = summary_fig(r, n, offsetof(struct ipcl_report_rec, msgs_s), tmp);
	if (row->zl_runs > row->zl_none) {
		/* RFC 2544 searches: the stream figure is the zero-loss rate (a
		 * row's runs are all searches or none: read.h's key) */
		row->msgs_s =
		    summary_fig(r, n, offsetof(struct ipcl_report_rec, zero_loss), tmp);
		row->zl_fig = 1;
	}
	row->cpu = summary_fig(r, n, offsetof(struct ipcl_report_rec, cpu), tmp);
	row->rate = summary_fig(r, n, offsetof(struct ipcl_report_rec, rate), tmp);
	row->cpu_srv = summary_fig(r, n, offsetof(struct ipcl_report_rec, cpu_srv), tmp);
	row->mid = r;
	for (int k = 0; k < n; k++)
		if (!isnan(r[k].p50) && fabs(r[k].p50 - row->p50.med) < best) {
			best = fabs(r[k].p50 - row->p50.med);
			row->mid = &r[k];
		}
	free(tmp);
	rc = summary_lat(row);
	/* the row's p50 and p99 are its histogram's; the spread stays the runs' */
	row->p50.med = row->lat.p50;
	row->p99.med = row->lat.p99;
	return rc;
}

long long ipcl_report_pct_min(double pct)
{
	return pct > 50 && pct < 100 ? (long long)ceil(100 / (100 - pct) - 1e-9) : 1;
}

const char *ipcl_report_unranked(const struct ipcl_report_row *row,
				 const struct ipcl_report_figdef *d, char *b, size_t n)
{
	double v = ipcl_report_rowfig(row, d)->med;

	if (row->flags & IPCL_RF_MOCK)
		snprintf(b, n, "mock server");
	else if (isnan(v) || v <= 0)
		snprintf(b, n, "no %s figure", d->name);
	else if (d->pct > 0 && row->lat.count < ipcl_report_pct_min(d->pct))
		snprintf(b, n, "too few samples for %s (n %lld; needs %lld)", d->name,
			 row->lat.count, ipcl_report_pct_min(d->pct));
	else
		return NULL;
	return b;
}

/* The figure of row g for a ranking by d, or NaN when it is not ranked. */
static double summary_rank_value(const struct ipcl_report_rows *rows, int g,
				 const struct ipcl_report_figdef *d)
{
	char why[96];

	if (ipcl_report_unranked(&rows->g[g], d, why, sizeof why))
		return NAN;
	return ipcl_report_rowfig(&rows->g[g], d)->med;
}

/* The class of row in a ranking: 0 clean, 1 flagged but every message was
 * delivered once and intact, 2 lost, duplicated, corrupt or failed. */
static int summary_class(const struct ipcl_report_row *row)
{
	const unsigned broken =
	    IPCL_RF_LOST | IPCL_RF_DUP | IPCL_RF_CORRUPT | IPCL_RF_FAILED;

	return !row->flags ? 0 : row->flags & broken ? 2 : 1;
}

int ipcl_report_rank(const struct ipcl_report_rows *rows, int a, int b,
		     const struct ipcl_report_figdef *d, int *ord, int *rank)
{
	int n = 0;
	double lo = NAN, hi = NAN; /* the range of the tie group being built */

	for (int g = a; g < b; g++) {
		double v = summary_rank_value(rows, g, d);
		int cls = summary_class(&rows->g[g]), k;

		if (isnan(v))
			continue;
		/* insertion: after every row of a better class or figure */
		for (k = n; k > 0; k--) {
			const struct ipcl_report_row *o = &rows->g[ord[k - 1]];
			double w = ipcl_report_rowfig(o, d)->med;
			int ocls = summary_class(o);

			if (ocls < cls ||
			    (ocls == cls && (d->higher_better ? w >= v : w <= v)))
				break;
			ord[k] = ord[k - 1];
		}
		ord[k] = g;
		n++;
	}
	for (int i = 0; i < n; i++) {
		const struct ipcl_report_row *G = &rows->g[ord[i]];
		const struct ipcl_report_fig *f = ipcl_report_rowfig(G, d);
		double fl = f->n ? f->min : f->med, fh = f->n ? f->max : f->med;

		/* a row's range takes in its own figure (a merged p99 can lie
		 * outside the runs' p99s by a bucket's width) */
		fl = fmin(fl, f->med);
		fh = fmax(fh, f->med);
		if (i && d->tie &&
		    summary_class(G) == summary_class(&rows->g[ord[i - 1]]) && fl <= hi &&
		    fh >= lo) {
			rank[i] = rank[i - 1];
			lo = fmin(lo, fl);
			hi = fmax(hi, fh);
		} else {
			rank[i] = i + 1;
			lo = fl;
			hi = fh;
		}
	}
	return n;
}

int ipcl_report_tied(const int *rank, int n, int i)
{
	return (i > 0 && rank[i - 1] == rank[i]) || (i + 1 < n && rank[i + 1] == rank[i]);
}

const char *ipcl_report_flag_text(const struct ipcl_report_row *row, char *b, size_t n)
{
	size_t k = 0;

#define FLAG_ADD(...)                                                             \
	do {                                                                      \
		if (k < n)                                                        \
			k += (size_t)snprintf(b + k, n - k, "%s", k ? "; " : ""); \
		if (k < n)                                                        \
			k += (size_t)snprintf(b + k, n - k, __VA_ARGS__);         \
	} while (0)
	b[0] = 0;
	if (row->lost) {
		long long of = row->expected ? row->expected : row->sent;

		if (of > 0)
			FLAG_ADD("lost %lld of %lld (%.1f%%)", row->lost, of,
				 100.0 * (double)row->lost / (double)of);
		else
			FLAG_ADD("lost %lld", row->lost);
		if (row->lost_after_ack)
			FLAG_ADD("%lld lost after acknowledgement", row->lost_after_ack);
		if (row->no_flow)
			FLAG_ADD("no flow control: it drops when full");
	}
	if (row->zl_none)
		FLAG_ADD("no rate without loss in %d of %d search%s (RFC 2544)",
			 row->zl_none, row->zl_runs, row->zl_runs == 1 ? "" : "es");
	if (row->dup)
		FLAG_ADD("duplicated %lld", row->dup);
	if (row->corrupt)
		FLAG_ADD("corrupt %lld", row->corrupt);
	if (row->late)
		FLAG_ADD("sender late in %d of %d run%s", row->late, row->n,
			 row->n == 1 ? "" : "s");
	if (row->flags & IPCL_RF_MOCK)
		FLAG_ADD("mock server");
	if (row->failed)
		FLAG_ADD("%d of %d run%s failed", row->failed, row->n,
			 row->n == 1 ? "" : "s");
#undef FLAG_ADD
	return b;
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
	       (!by_size || (rows->g[b].runs->size == ra->size &&
			     !ipcl_report_rate_cmp(rows->g[b].runs, ra))))
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

const char *ipcl_report_fmt_pct(char *b, size_t n, double ns, long long count, double pct)
{
	return ipcl_report_fmt_us(b, n, count < ipcl_report_pct_min(pct) ? NAN : ns);
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

const char *ipcl_report_fmt_rategroup(char *b, size_t n,
				      const struct ipcl_report_row *row)
{
	const struct ipcl_report_rec *r = row->runs;

	if (strcmp(r->pattern, "rate"))
		snprintf(b, n, "%s", "");
	else if (!isnan(r->rate_frac))
		snprintf(b, n, " at %.0f%% of each transport's stream capacity",
			 r->rate_frac * 100);
	else if (!isnan(r->rate))
		snprintf(b, n, " at %.0f msgs/s", r->rate);
	else
		snprintf(b, n, "%s", "");
	return b;
}
