/*
 * interval.c - latency per interval (interval.h). Pure arithmetic: buckets
 * from engine/histogram.c, 16 of them merged into one coarse bucket.
 */
#include <string.h>

#include "engine/interval.h"

void ipcl_ivl_init(struct ipcl_ivl *v)
{
	memset(v, 0, sizeof *v);
	v->width = IPCL_IVL_NS;
	v->cur_min = UINT64_MAX;
}

/* The value at percentile p of the interval being filled: the midpoint of the
 * coarse bucket holding rank ceil(p% of count), clamped to min..max. */
static uint64_t ivl_percentile(const struct ipcl_ivl *v, double p)
{
	uint64_t rank = (uint64_t)((double)v->cur_count * p / 100.0 + 0.999999), seen = 0;

	if (rank < 1)
		rank = 1;
	for (int c = 0; c < IPCL_IVL_BUCKETS; c++) {
		seen += v->cur[c];
		if (seen >= rank) {
			uint64_t lo = ipcl_hist_low(c << IPCL_IVL_COARSE),
				 hi = ipcl_hist_high(((c + 1) << IPCL_IVL_COARSE) - 1),
				 mid = lo + (hi - lo) / 2;

			return mid < v->cur_min   ? v->cur_min
			       : mid > v->cur_max ? v->cur_max
						  : mid;
		}
	}
	return v->cur_max;
}

/* Ends interval n: its figures into pt[n], the coarse histogram emptied. */
static void ivl_close(struct ipcl_ivl *v)
{
	struct ipcl_ivl_pt *p = &v->pt[v->n++];

	memset(p, 0, sizeof *p);
	if (v->cur_count) {
		p->count = v->cur_count;
		p->p50 = ivl_percentile(v, 50);
		p->p99 = ivl_percentile(v, 99);
		p->max = v->cur_max;
	}
	memset(v->cur, 0, sizeof v->cur);
	v->cur_count = v->cur_max = 0;
	v->cur_min = UINT64_MAX;
}

static uint64_t ivl_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Every interval full: merge neighbours in pairs, double the width. */
static void ivl_halve(struct ipcl_ivl *v)
{
	for (int i = 0; i < IPCL_IVL_MAX / 2; i++) {
		const struct ipcl_ivl_pt *a = &v->pt[2 * i], *b = &v->pt[2 * i + 1];

		v->pt[i] = (struct ipcl_ivl_pt){
		    a->count + b->count, ivl_max(a->p50, b->p50), ivl_max(a->p99, b->p99),
		    ivl_max(a->max, b->max)};
	}
	v->n = IPCL_IVL_MAX / 2;
	v->width *= 2;
}

void ipcl_ivl_record(struct ipcl_ivl *v, int64_t now, uint64_t ns)
{
	int64_t k;
	int c = ipcl_hist_index(ns) >> IPCL_IVL_COARSE;

	if (!v->t0)
		v->t0 = now;
	k = now > v->t0 ? (now - v->t0) / v->width : 0;
	while (k > v->n) {
		ivl_close(v);
		if (v->n == IPCL_IVL_MAX) {
			ivl_halve(v);
			k = (now - v->t0) / v->width;
		}
	}
	v->cur[c]++;
	v->cur_count++;
	if (ns < v->cur_min)
		v->cur_min = ns;
	if (ns > v->cur_max)
		v->cur_max = ns;
}

void ipcl_ivl_flush(struct ipcl_ivl *v)
{
	if (v->cur_count && v->n < IPCL_IVL_MAX)
		ivl_close(v);
}
