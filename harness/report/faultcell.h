/*
 * faultcell.h - one cell of the failure matrix, made from a fault run's record.
 * Shared by `ipclab faults` (terminal) and the report's failure matrix.
 */
#ifndef IPCLAB_REPORT_FAULTCELL_H
#define IPCLAB_REPORT_FAULTCELL_H

#include <stddef.h>

#include <jansson.h>

/* The longest cell text, with its terminating NUL. */
#define IPCL_FAULT_CELL_MAX 160

/*
 * Write "lost L / dup D, outcome[, N ms], guarantee" for rec into cell (n
 * bytes), or "error: ..." for a record without a fault object.
 */
void ipcl_fault_cell(const json_t *rec, char *cell, size_t n);

#endif
