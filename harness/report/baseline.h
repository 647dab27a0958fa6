/*
 * baseline.h - `ipclab report --baseline OLD`: the change of each summary row
 * against an older result set, flagged only beyond the spread of the
 * repeated runs.
 */
#ifndef IPCLAB_REPORT_BASELINE_H
#define IPCLAB_REPORT_BASELINE_H

#include <stdio.h>

#include "report/doc.h"
#include "report/summary.h"

/* One result set with its summary rows. */
struct ipcl_report_side {
	const struct ipcl_report_set *set;
	const struct ipcl_report_rows *rows;
};

/*
 * "Change against baseline": per pattern a table of the rows of both sets,
 * matched by the grouping key, with old and new medians, new/old and a
 * verdict; the flagged rows also on stdout, one line each, and with csv (not
 * NULL) baseline.csv's lines. path names the baseline in the text; min_change
 * (a fraction: 0.10 is 10%) is the smallest change beyond the spread flagged.
 */
void ipcl_report_baseline(struct ipcl_doc *d, const struct ipcl_report_side *now,
			  const struct ipcl_report_side *old, const char *path,
			  double min_change, FILE *csv);

#endif
