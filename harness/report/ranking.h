/*
 * ranking.h - the ranking as terminal text: what `ipclab compare` prints after
 * its runs and `ipclab report --ranking` prints from result files. The same
 * order as the report's "Ranking" section (ipcl_report_rank): clean rows first,
 * then flagged ones with why, each by the pattern's figure; the rows it
 * leaves out (mock servers, no figure, too few samples) after, unranked.
 */
#ifndef IPCLAB_REPORT_RANKING_H
#define IPCLAB_REPORT_RANKING_H

#include <stdio.h>

#include "report/summary.h"

/* A table per pattern, size and rate group of rows on out. */
void ipcl_report_print_ranking(FILE *out, const struct ipcl_report_rows *rows);

/* One line on out: the machine's noise floor from the hiccup record h
 * ("pattern": "hiccup"): the rate its bare loop ran at, its wake-up lag
 * percentiles (us), and what that means for the figures above. */
void ipcl_report_print_hiccup(FILE *out, json_t *h);

#endif
