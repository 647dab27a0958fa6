/*
 * hgrm.h - per-run percentile distributions as HdrHistogram-style text
 * (DIR/hgrm/NAME.hgrm), for people who plot elsewhere. stdio + mkdir.
 */
#ifndef IPCLAB_REPORT_HGRM_H
#define IPCLAB_REPORT_HGRM_H

#include "report/summary.h"

/*
 * Writes DIR/hgrm/<transport>-<pattern>-<size>-<n>[-<set-up>].hgrm for every
 * run with a latency spectrum, n counting the runs of its row from 1; a '/'
 * in the name becomes '_'. Returns 0, or -1 with errno set.
 */
int ipcl_report_hgrm(const struct ipcl_report_rows *rows, const char *dir);

#endif
