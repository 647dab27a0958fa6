/*
 * bare.h - the few helpers every bare reference loop shares: the clock, CPU
 * pinning, and the one JSON line of results. Header-only and libc-only, so each
 * bare_*.c stays a standalone program with no ipclab code in it.
 *
 * Percentiles are nearest-rank (the ceil(p * n)-th smallest sample), the same
 * rule as ipclab's histogram, so that a floor and an ipclab run are read alike.
 */
#ifndef IPCLAB_BARE_H
#define IPCLAB_BARE_H

#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline int64_t bare_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pin the calling process to cpu (cpu < 0: leave it unpinned); exits on failure. */
static inline void bare_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0) {
		fprintf(stderr, "sched_setaffinity CPU %d: %s\n", cpu, strerror(errno));
		exit(1);
	}
}

static inline int bare_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank p-th percentile (0 < p <= 100) of n sorted samples. */
static inline int64_t bare_pct(const int64_t *sorted, long n, double p)
{
	long rank = (long)ceil(p * (double)n / 100.0);

	return sorted[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

/*
 * Sort the n samples and print the one JSON line every bare loop prints:
 * {"bench":..,"size":..,"count":..,"min_ns":..,"p50_ns":..,"p90_ns":..,
 * "p99_ns":..,"mean_ns":..} plus extra (",\"key\":value" text, or "").
 */
static inline void bare_report(const char *bench, long size, int64_t *s, long n,
			       const char *extra)
{
	double sum = 0;

	qsort(s, (size_t)n, sizeof *s, bare_cmp_i64);
	for (long i = 0; i < n; i++)
		sum += (double)s[i];
	printf("{\"bench\":\"%s\",\"size\":%ld,\"count\":%ld,\"min_ns\":%lld,\"p50_ns\":%"
	       "lld,"
	       "\"p90_ns\":%lld,\"p99_ns\":%lld,\"mean_ns\":%.1f%s}\n",
	       bench, size, n, (long long)s[0], (long long)bare_pct(s, n, 50),
	       (long long)bare_pct(s, n, 90), (long long)bare_pct(s, n, 99),
	       n ? sum / (double)n : 0.0, extra);
}

#endif
