/* report.h - `ipclab report`: Markdown/HTML report and charts from result files. */
#ifndef IPCLAB_REPORT_H
#define IPCLAB_REPORT_H

#include <stddef.h>

int ipcl_cmd_report(int argc, char **argv);
const char *ipcl_report_help(void);

/*
 * Can dir hold a report? Creates it (0755) when missing; it must then be a
 * directory (not a link) of the caller's that others cannot write, since
 * another user's directory may hold names planted to redirect the report.
 * Returns 0, or -1 with one line in err (n bytes). `compare -r` calls it
 * before its first run.
 */
int ipcl_report_dir_check(const char *dir, char *err, size_t n);

#endif
