/*
 * csv.h - DIR/summary.csv (one line per summary row) and the lines of
 * DIR/baseline.csv (one per row and figure), RFC 4180. Every string goes
 * through ipcl_csv_field, the one CSV escape. stdio only.
 */
#ifndef IPCLAB_REPORT_CSV_H
#define IPCLAB_REPORT_CSV_H

#include <stdio.h>

#include "report/summary.h"

/* Writes s as one CSV field: as it is, or in double quotes (with " doubled)
 * when it holds a comma, a quote, CR or LF. */
void ipcl_csv_field(FILE *f, const char *s);

/* summary.csv: the head line, then a line per row of rows (figures as the
 * summary table prints them, us with 2 decimals, "-" when missing or from
 * too few samples), then n, the server CPU and whether the row is ranked. */
void ipcl_csv_summary(FILE *f, const struct ipcl_report_rows *rows);

/* baseline.csv's head line. */
void ipcl_csv_baseline_head(FILE *f);
/* One line of baseline.csv: figure d of the row of r in the baseline (o) and
 * the new set (n); o or n NULL when that set has no such row. */
void ipcl_csv_baseline_line(FILE *f, const struct ipcl_report_rec *r,
			    const struct ipcl_report_row *o,
			    const struct ipcl_report_row *n,
			    const struct ipcl_report_figdef *d, const char *verdict);

#endif
