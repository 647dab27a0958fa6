/*
 * rank.h - the ranking `ipclab compare` prints on the terminal.
 */
#ifndef IPCLAB_CLI_RANK_H
#define IPCLAB_CLI_RANK_H

#include "cli/plan.h"

/*
 * On stdout, a table per pattern, size and rate of the points' records
 * (report/ranking.h): clean points first, then flagged ones with why, each
 * by the pattern's figure with the runs' range and the ratio to the best
 * clean point; rate points whose p99 ranges overlap share a rank. Points that
 * were skipped or had a failed run are listed after, with the reason.
 */
void ipcl_rank_print(const struct ipcl_plan *pl, struct ipcl_point *pts, int npts);

#endif
