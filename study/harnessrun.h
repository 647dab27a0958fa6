/*
 * harnessrun.h - what the study's harness-backed claims (shm.c, brokers.c)
 * share: one ipcl_run() with the study's defaults, and whether a broker server
 * is known ($IPCLAB_REDIS_URL, $IPCLAB_AMQP_URL, $IPCLAB_PG_URL).
 */
#ifndef IPCLAB_STUDY_HARNESSRUN_H
#define IPCLAB_STUDY_HARNESSRUN_H

#include <jansson.h>

#include "engine/config.h"
#include "engine/run.h"

/* cfg initialised for transport name: quiet, 20 s watchdog, 5 s open timeout. */
void ipcl_study_runcfg(struct ipcl_runcfg *c, const char *transport);

/* Runs c; returns the record (also of a failed run) or NULL with err set (the
 * configuration is not possible here, e.g. a size over the transport's limit).
 * The record is appended to the study's results by the caller. */
json_t *ipcl_study_run(const struct ipcl_runcfg *c, char *err);

/* The URL variable of server kind ("redis", "rabbitmq", "postgres") when it is
 * unset, else NULL (the server is known). */
const char *ipcl_study_missing_server(const char *kind);

/* A number from rec at a dotted path ("latency.p50"), or NAN. */
double ipcl_study_num(const json_t *rec, const char *path);

/* Records made by ipcl_run() during the study (the caller writes them out). */
json_t *ipcl_study_runs(void);

#endif
