/*
 * read.h - the report's input: JSON-lines result files (docs/results.md) read
 * into records with the figures the report shows pulled out, the key that
 * groups like runs, and the records' environments. jansson only; nothing here
 * writes output.
 */
#ifndef IPCLAB_REPORT_READ_H
#define IPCLAB_REPORT_READ_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* One result record. Strings point into j and live as long as it does; a
 * figure the record lacks is NaN (counts: 0). */
struct ipcl_report_rec {
	json_t *j;
	int idx; /* its place in the input, which keeps the sort stable */
	const char *transport, *pattern, *status;
	const char *kind; /* "kernel", "library", "broker", or "" (not recorded) */
	char setup[160];  /* mode plus whatever else makes runs incomparable */
	long long size, count;
	double min, p50, p90, p99, p999, p9999, max, msgs_s, mb_s;
	double cpu_rx, cpu_tx, cpu; /* ns/msg: receiver, sender, their sum */
	/* cpu.server.total_ns_per_msg: the broker server's CPU (ns/msg), NaN when
	 * not measured; srv_note: cpu.server.note (why not), or NULL */
	double cpu_srv;
	const char *srv_note;
	double rate; /* params.rate: the target msgs/s of a rate run */
	/* params.rate_fraction (compare --rate-fraction: the rate was that share
	 * of the transport's own stream capacity), else NaN: the rate is absolute
	 * and rate runs are grouped by it */
	double rate_frac;
	long long sent, expected, lost, dup, reord, corrupt;
	long long lost_after_ack; /* verify.lost_after_ack where the record has it */
	/* What the figures are worth, where the record says (-1: it does not):
	 * "flow_control" (0: the mechanism drops when full), "late_sender" (the
	 * sender fell behind its schedule), "mock" (a stand-in server: top level
	 * or limits.mock) */
	int flow, late, mock;
	/* A record of an RFC 2544 search (it has a "zero_loss" object: ipclab run
	 * --zero-loss, or compare's stream point of a transport without flow
	 * control) answers its stream point whatever trial it is: its pattern
	 * reads as "stream" and zero_loss is zero_loss.rate, the highest offered
	 * msgs/s that lost nothing (NaN when no rate was clean). */
	int zl_search;
	double zero_loss;
	json_t *spectrum; /* latency.spectrum, or NULL */
};

/* Fills r from the result record j (a JSON object; r keeps pointers into it
 * but takes no reference); idx is its place in the input. */
void ipcl_report_rec_fill(struct ipcl_report_rec *r, json_t *j, int idx);

/* Does record j list cap (a name of docs/results.md's "caps") in its caps? */
int ipcl_report_has_cap(json_t *j, const char *cap);

/* The records of one or more files: measured runs in r, fault runs (records
 * with a "fault" object, which make the failure matrix) in fault, and the
 * machine's floor (records with "pattern": "hiccup", the bare paced loop
 * compare runs beside rate runs) in floor: they are not transports' rows. */
struct ipcl_report_set {
	struct ipcl_report_rec *r;
	int nr;
	json_t **fault;
	int nfault;
	long skipped; /* lines that were not a readable record */
	json_t **floor;
	int nfloor;
};

/* The only record schema the report reads (the engine's IPCL_SCHEMA). */
#define IPCL_REPORT_SCHEMA "ipclab.result/1"

/*
 * Appends every record of path to set. A line that is not JSON, or not a
 * record of schema IPCL_REPORT_SCHEMA with a transport, a known pattern and
 * its sections of the right types, is skipped and counted in set->skipped,
 * with "PATH:LINE: skipped: why" on warn (when not NULL; at most 10 lines per
 * file, then a count). Returns 0, or -1 with one line in err (n bytes):
 * "cannot read 'PATH': ..." or "out of memory". Records read before the error
 * stay in set.
 */
int ipcl_report_read(struct ipcl_report_set *set, const char *path, FILE *warn, char *err,
		     size_t n);

/* Releases every record of set (the struct itself is the caller's). */
void ipcl_report_set_free(struct ipcl_report_set *set);

/* Orders records by the grouping key: pattern, size, the rate group of a rate
 * run (fraction-of-capacity runs by fraction, then absolute rates by rate),
 * transport, set-up, then plain runs before zero-loss searches. Records that compare
 * equal are runs of one point of a summary. */
int ipcl_report_rate_cmp(const struct ipcl_report_rec *x,
			 const struct ipcl_report_rec *y);
int ipcl_report_key_cmp(const struct ipcl_report_rec *x, const struct ipcl_report_rec *y);

/* Sorts set->r by the grouping key, runs of one key in input order. */
void ipcl_report_sort(struct ipcl_report_set *set);

/* o.a (or o.a.b when b is not NULL) as a number (NaN), an integer (0) or a
 * string (def) when it is missing or of another type. */
double ipcl_report_num(json_t *o, const char *a, const char *b);
long long ipcl_report_int(json_t *o, const char *a, const char *b);
const char *ipcl_report_str(json_t *o, const char *a, const char *b, const char *def);

/*
 * The distinct environments of set's records: *keys gets each as "kernel \x1f
 * CPU \x1f cores \x1f libraries", *cnt how many records share it. Returns how
 * many, or -1 (out of memory; nothing to free then). Free with
 * ipcl_report_env_free.
 */
int ipcl_report_env_keys(const struct ipcl_report_set *set, char ***keys, int **cnt);
void ipcl_report_env_free(char **keys, int *cnt, int n);

#endif
