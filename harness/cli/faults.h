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

/* Its --help text. */
const char *ipcl_faults_help(void);

#endif
