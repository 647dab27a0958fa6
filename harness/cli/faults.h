/*
 * faults.h - `ipclab faults`: the failure matrix, every fault scenario on every
 * available transport (docs/faults.md).
 */
#ifndef IPCLAB_FAULTS_H
#define IPCLAB_FAULTS_H

#include <stddef.h>

#include <jansson.h>

/* The command; exit status 0 when the matrix was made, 2 for bad usage. */
int ipcl_cmd_faults(int argc, char **argv);

/*
 * One cell of the matrix for a fault run's record: "lost L / dup D, outcome[,
 * N ms], guarantee", or "error: ..." for a record without a fault object.
 * Shared by `ipclab faults` and the report's failure matrix.
 */
void ipcl_fault_cell(const json_t *rec, char *cell, size_t n);

/* Its --help text. */
const char *ipcl_faults_help(void);

#endif
