/*
 * parse.h - strict parsing of command-line values: sizes (64, 4K, 1KiB, 2M),
 * counts (100000, 100k, 1M), durations (5s, 500ms, 2m, 1.5) and CPU lists. Each
 * returns 0 or -EINVAL: no trailing junk, no negatives, no overflow.
 */
#ifndef IPCLAB_PARSE_H
#define IPCLAB_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes: a number with an optional K/M/G (binary: 1K = 1024), optionally "iB"/"B". */
int ipcl_parse_size(const char *s, size_t *out);

/* A count: a number with an optional k/M/G (decimal: 1k = 1000). */
int ipcl_parse_count(const char *s, uint64_t *out);

/* A positive rate in messages per second, with an optional k/M (decimal). */
int ipcl_parse_rate(const char *s, double *out);

/* A duration: number + ns|us|ms|s|m|h (plain number = seconds); > 0. */
int ipcl_parse_duration(const char *s, int64_t *ns);

/* "0,1" or "0-3": CPUs, at most cap of them; returns how many or -EINVAL. */
int ipcl_parse_cpus(const char *s, int *cpus, int cap);

#endif
