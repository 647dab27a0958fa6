/*
 * suite.h - the INI suite file of `ipclab compare` (docs/suite.md): [compare]
 * holds plan values, any other section a transport's options.
 */
#ifndef IPCLAB_CLI_SUITE_H
#define IPCLAB_CLI_SUITE_H

#include "cli/plan.h"

/*
 * Reads the suite file at path into pl, leaving alone what the command line
 * gave (set: IPCL_SET_* bits). Returns 0, or prints one line naming the file
 * and line (FILE:LINE: ...) on stderr and returns 2.
 */
int ipcl_suite_read(const char *path, struct ipcl_plan *pl, unsigned set);

#endif
