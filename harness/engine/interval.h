/*
 * interval.h - latency over time, HdrHistogram interval-log style: a role
 * cuts its measured samples into fixed intervals (100 ms) and keeps per
 * interval the count, p50, p99 and max, from a small coarse histogram of the
 * interval being filled. Fixed memory (it lives in the board's role slot):
 * when IPCL_IVL_MAX intervals are full, neighbours merge in pairs and the
 * interval doubles. Pure arithmetic on engine/histogram's bucket layout.
 * Leaves out: any clock (the caller passes the time) and the record's JSON.
 */
#ifndef IPCLAB_INTERVAL_H
#define IPCLAB_INTERVAL_H

#include <stdint.h>

#include "engine/histogram.h"

#define IPCL_IVL_MAX     240       /* intervals kept (even) */
#define IPCL_IVL_NS      100000000 /* the first interval width: 100 ms */
#define IPCL_IVL_COARSE  4         /* 2^4 histogram buckets make one coarse bucket */
#define IPCL_IVL_BUCKETS (IPCL_HIST_BUCKETS >> IPCL_IVL_COARSE)

/* One closed interval: samples, and p50, p99, max in ns (0 when count is 0).
 * p50 and p99 are the midpoints of 1/8-octave buckets (within 1/16 of the
 * value) clamped to the interval's min..max; of two merged intervals, the
 * larger of each (an upper bound). */
struct ipcl_ivl_pt {
	uint64_t count, p50, p99, max;
};

struct ipcl_ivl {
	int64_t t0;    /* time of the first sample (ns, CLOCK_MONOTONIC); 0: none */
	int64_t width; /* ns per interval */
	int n;         /* closed intervals in pt; the one being filled is n */
	uint64_t cur_count, cur_min, cur_max;
	uint32_t cur[IPCL_IVL_BUCKETS];
	struct ipcl_ivl_pt pt[IPCL_IVL_MAX];
};

void ipcl_ivl_init(struct ipcl_ivl *v);
/* A sample of ns nanoseconds taken at time now (ns). */
void ipcl_ivl_record(struct ipcl_ivl *v, int64_t now, uint64_t ns);
/* Closes the interval being filled, if it holds samples (at the role's end). */
void ipcl_ivl_flush(struct ipcl_ivl *v);

#endif
