/*
 * histogram.h - an HDR-style log-linear latency histogram in fixed memory.
 *
 * Values (ns) below 256 are counted exactly; above, each power of two is cut into
 * 128 equal buckets, so a bucket is at most 1/128 of its value wide and the
 * midpoint reported for it is within 0.4% of any value in it. 42 octaves cover
 * up to 2^48 ns (3 days); larger values land in the last bucket and are counted
 * in overflow. Histograms of one layout merge by adding counts, so runs,
 * repetitions and roles combine exactly. No allocation: it lives in shared memory.
 */
#ifndef IPCLAB_HISTOGRAM_H
#define IPCLAB_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define IPCL_HIST_SUB_BITS 7
#define IPCL_HIST_SUB      (1 << IPCL_HIST_SUB_BITS)
#define IPCL_HIST_SHIFTS   41
#define IPCL_HIST_BUCKETS  ((IPCL_HIST_SHIFTS + 1) * IPCL_HIST_SUB)

struct ipcl_hist {
	uint64_t count;
	uint64_t overflow;
	uint64_t min, max;
	double sum, sumsq;
	uint64_t b[IPCL_HIST_BUCKETS];
};

void ipcl_hist_init(struct ipcl_hist *h);
void ipcl_hist_record(struct ipcl_hist *h, uint64_t v);
void ipcl_hist_merge(struct ipcl_hist *into, const struct ipcl_hist *from);

/* Bucket of a value, and the lowest and highest value a bucket holds. */
int ipcl_hist_index(uint64_t v);
uint64_t ipcl_hist_low(int idx);
uint64_t ipcl_hist_high(int idx);

/* The value at percentile p (0..100): the midpoint of the bucket that holds the
 * ceil(p% * count)-th smallest value, clamped to [min, max]. 0 when empty. */
uint64_t ipcl_hist_percentile(const struct ipcl_hist *h, double p);
/*
 * The same with `lost` more samples counted as infinitely late (a lost message
 * in the rate pattern): UINT64_MAX when the rank ceil(p% * (count + lost))
 * falls among them, else the value at that rank among the counted samples.
 * With lost 0 it is ipcl_hist_percentile.
 */
uint64_t ipcl_hist_percentile_lost(const struct ipcl_hist *h, uint64_t lost, double p);
double ipcl_hist_mean(const struct ipcl_hist *h);
double ipcl_hist_stddev(const struct ipcl_hist *h);

/*
 * The percentile spectrum for plots, HdrHistogram style: 5 points per halving of
 * the distance to 100%, down to the resolution the count supports, then 100.
 * Writes up to cap (percentile, value) pairs; returns how many.
 */
int ipcl_hist_spectrum(const struct ipcl_hist *h, double *pct, uint64_t *val, int cap);

#endif
