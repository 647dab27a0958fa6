/*
 * sections.h - the sections of the report, each written to Markdown and HTML
 * at once through doc.h: environment, summary tables, ranking, verification
 * counts, failure matrix and the charts. They read records and rows only.
 */
#ifndef IPCLAB_REPORT_SECTIONS_H
#define IPCLAB_REPORT_SECTIONS_H

#include "report/charts.h"
#include "report/doc.h"
#include "report/summary.h"

/* "Environment": a row per distinct kernel, CPU, cores and libraries. */
void ipcl_report_env(struct ipcl_doc *d, const struct ipcl_report_set *set);
/* "Overview: PATTERN": a row per transport and set-up, sorted by the ranked
 * figure of the first size, the sizes (and rates) as column groups, a column
 * for loss and flags. */
void ipcl_report_overview(struct ipcl_doc *d, const struct ipcl_report_rows *rows);
/* "Summary: PATTERN": a table per pattern, a row per summary row. */
void ipcl_report_summary(struct ipcl_doc *d, const struct ipcl_report_rows *rows);
/* "Ranking": per pattern and size, by the pattern's ranking figure. */
void ipcl_report_ranking(struct ipcl_doc *d, const struct ipcl_report_rows *rows);
/* "Machine noise": the hiccup records' wake-up lag percentiles, the rate
 * each ran at, and what that floor means; nothing without hiccup records. */
void ipcl_report_noise(struct ipcl_doc *d, const struct ipcl_report_set *set);
/* "Verification (sums over runs)": sent, lost, duplicated ... per row. */
void ipcl_report_verify(struct ipcl_doc *d, const struct ipcl_report_rows *rows);
/* "Failure matrix": transport x scenario; nothing without fault runs. */
void ipcl_report_faults(struct ipcl_doc *d, const struct ipcl_report_set *set);
/* "Charts": why there are none, or each chart. */
void ipcl_report_chart_section(struct ipcl_doc *d, const struct ipcl_report_charts *c);

#endif
