/*
 * histogram.c - log-linear histogram (see histogram.h). Pure arithmetic.
 */
#include <math.h>
#include <string.h>

#include "engine/histogram.h"

void ipcl_hist_init(struct ipcl_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

int ipcl_hist_index(uint64_t v)
{
	int shift;

	if (v < 2 * IPCL_HIST_SUB)
		return (int)v;
	shift = 63 - __builtin_clzll(v) - IPCL_HIST_SUB_BITS;
	if (shift > IPCL_HIST_SHIFTS)
		return IPCL_HIST_BUCKETS - 1;
	return shift * IPCL_HIST_SUB + (int)(v >> shift);
}

uint64_t ipcl_hist_low(int idx)
{
	int shift;

	if (idx < 2 * IPCL_HIST_SUB)
		return (uint64_t)idx;
	shift = idx / IPCL_HIST_SUB - 1;
	return (uint64_t)(idx - shift * IPCL_HIST_SUB) << shift;
}

uint64_t ipcl_hist_high(int idx)
{
	int shift = idx < 2 * IPCL_HIST_SUB ? 0 : idx / IPCL_HIST_SUB - 1;

	return ipcl_hist_low(idx) + ((uint64_t)1 << shift) - 1;
}

void ipcl_hist_record(struct ipcl_hist *h, uint64_t v)
{
	int i = ipcl_hist_index(v);

	if (i == IPCL_HIST_BUCKETS - 1 && v > ipcl_hist_high(i))
		h->overflow++;
	h->b[i]++;
	h->count++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->sum += (double)v;
	h->sumsq += (double)v * (double)v;
}

void ipcl_hist_merge(struct ipcl_hist *into, const struct ipcl_hist *from)
{
	if (!from->count)
		return;
	for (int i = 0; i < IPCL_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->overflow += from->overflow;
	into->sum += from->sum;
	into->sumsq += from->sumsq;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t ipcl_hist_percentile(const struct ipcl_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < IPCL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t lo = ipcl_hist_low(i), hi = ipcl_hist_high(i);
			uint64_t mid = lo + (hi - lo) / 2;

			if (mid < h->min)
				mid = h->min;
			if (mid > h->max)
				mid = h->max;
			return mid;
		}
	}
	return h->max;
}

uint64_t ipcl_hist_percentile_lost(const struct ipcl_hist *h, uint64_t lost, double p)
{
	double total = (double)(h->count + lost);
	uint64_t rank;

	if (!lost)
		return ipcl_hist_percentile(h, p);
	if (p >= 100 || !h->count)
		return UINT64_MAX;
	rank = (uint64_t)ceil(p / 100.0 * total);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		return UINT64_MAX;
	/* The same rank among the delivered samples alone. */
	return ipcl_hist_percentile(h, 100.0 * ((double)rank - 0.5) / (double)h->count);
}

double ipcl_hist_mean(const struct ipcl_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

double ipcl_hist_stddev(const struct ipcl_hist *h)
{
	double m, var;

	if (h->count < 2)
		return 0.0;
	m = ipcl_hist_mean(h);
	var = h->sumsq / (double)h->count - m * m;
	return var > 0 ? sqrt(var) : 0.0;
}

int ipcl_hist_spectrum(const struct ipcl_hist *h, double *pct, uint64_t *val, int cap)
{
	int n = 0;

	if (!h->count || cap < 2)
		return 0;
	for (int j = 0; n < cap - 1; j++) {
		double rest = pow(0.5, j / 5.0); /* distance to 100% */

		if (rest * (double)h->count < 1.0)
			break;
		pct[n] = 100.0 * (1.0 - rest);
		val[n] = ipcl_hist_percentile(h, pct[n]);
		n++;
	}
	pct[n] = 100.0;
	val[n] = h->max;
	return n + 1;
}
