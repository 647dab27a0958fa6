/*
 * record.h - the result record of a run as JSON (jansson), built from the
 * board once every role has ended; the environment it ran in; and the
 * JSON-lines file it is appended to. docs/results.md is the schema. Nothing
 * here measures or runs anything.
 */
#ifndef IPCLAB_RECORD_H
#define IPCLAB_RECORD_H

#include <stdint.h>

#include <jansson.h>

#include "engine/config.h"
#include "engine/histogram.h"
#include <ipclab/transport.h>

#define IPCL_SCHEMA "ipclab.result/1"

struct ipcl_board; /* board.h: only record.c reads it */

/* Build the record; board is NULL when the run failed before it had one. */
json_t *ipcl_result_record(const struct ipcl_runcfg *cfg, const struct ipcl_transport *t,
			   const struct ipcl_probe *probe, const struct ipcl_board *board,
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
