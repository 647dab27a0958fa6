/*
 * results.h - the result record of a run as JSON (jansson), the environment it
 * ran in, and the JSON-lines file it is appended to. docs/results.md is the
 * schema.
 */
#ifndef IPCLAB_RESULTS_H
#define IPCLAB_RESULTS_H

#include <stdint.h>

#include <jansson.h>

#include "engine/frame.h"
#include "engine/histogram.h"
#include "engine/run.h"

#define IPCL_SCHEMA "ipclab.result/1"

/* A role's slot on the runner's board, as the result code reads it. */
struct ipcl_slot_view {
	const char *kind; /* producer, consumer, pinger, echoer */
	int sender, index, cpu, rc;
	const char *err;
	uint64_t msgs, measured, bytes, lost_rtt;
	struct ipcl_verify v;
	int64_t t_first, t_last, cpu_user_ns, cpu_sys_ns;
	const struct ipcl_hist *lat, *lag;
};

int ipcl_board_roles(const void *board);
int ipcl_board_mini(const void *board);
int ipcl_board_sets(const void *board);
int ipcl_board_fanout(const void *board);
size_t ipcl_board_msg_size(const void *board);
void ipcl_board_slot(const void *board, int i, struct ipcl_slot_view *v);
uint64_t ipcl_board_unique(const void *board, int set);

/* Build the record; board is NULL when the run failed before it had one. */
json_t *ipcl_result_record(const struct ipcl_runcfg *cfg, const struct ipcl_transport *t,
			   const struct ipcl_probe *probe, const void *board,
			   const char *error);

/* 1 when the record failed or lost/duplicated/corrupted data (unless expected). */
int ipcl_result_failed(const json_t *rec, int expect_loss);

/* Latency figures of a histogram: min, p50 ... max, mean, stddev, count, spectrum. */
json_t *ipcl_hist_json(const struct ipcl_hist *h, int with_buckets);

/* Rebuild a histogram from the "hist" member written by ipcl_hist_json. */
int ipcl_hist_from_json(const json_t *lat, struct ipcl_hist *h);

/* The machine: kernel, CPU, cores, clock source, compiler, libraries. */
json_t *ipcl_env_json(void);

/* The transport's capability names as a JSON array. */
json_t *ipcl_caps_json(uint32_t caps);

/* Append rec as one line to path ("-" = stdout). 0 or -errno. */
int ipcl_result_append(const char *path, const json_t *rec);

#endif
