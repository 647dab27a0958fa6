/*
 * study.h - `ipclab study`: each claim of the OS notes answered by a measurement
 * on this machine (the experiments are in study/), written as study.md and
 * study.html with charts, and as JSON-lines records (docs/results.md).
 */
#ifndef IPCLAB_CLI_STUDY_H
#define IPCLAB_CLI_STUDY_H

/* The command; exit status 0 when the study was written, 1 when an experiment
 * failed to run, 2 for bad usage. */
int ipcl_cmd_study(int argc, char **argv);

/* Its --help text. */
const char *ipcl_study_help(void);

#endif
