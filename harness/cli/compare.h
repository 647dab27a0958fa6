/* compare.h - `ipclab compare`: the default head-to-head suite and ranking. */
#ifndef IPCLAB_COMPARE_H
#define IPCLAB_COMPARE_H

int ipcl_cmd_compare(int argc, char **argv);
const char *ipcl_compare_help(void);

#endif
