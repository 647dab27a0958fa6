/*
 * rank.h - the ranking `ipclab compare` prints on the terminal.
 */
#ifndef IPCLAB_CLI_RANK_H
#define IPCLAB_CLI_RANK_H

#include <jansson.h>

#include "cli/plan.h"

/*
 * On stdout, a table per pattern, size and rate of the points' records
 * (report/ranking.h): clean points first, then flagged ones with why, each
 * by the pattern's figure with the runs' range and the ratio to the best
 * clean point; rate points whose p99 ranges overlap share a rank. Points that
 * were skipped or had a failed run are listed after, with the reason; before
 * them, when hiccup is not NULL, one line of the machine's noise floor from
 * that hiccup record (compare's bare paced loop).
 */
void ipcl_rank_print(const struct ipcl_plan *pl, struct ipcl_point *pts, int npts,
		     json_t *hiccup);

#endif
