/*
 * rank.h - the ranking `ipclab compare` prints on the terminal.
 */
#ifndef IPCLAB_CLI_RANK_H
#define IPCLAB_CLI_RANK_H

#include "cli/plan.h"

/*
 * One table per pattern of the plan on stdout: a row per transport, ranked by
 * the first size, a column per size with the median figure and the
 * times-the-best ratio. Transports that ran nothing are listed after, with
 * the reason.
 */
void ipcl_rank_print(const struct ipcl_plan *pl, struct ipcl_point *pts, int npts);

#endif
