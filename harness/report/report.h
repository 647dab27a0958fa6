/* report.h - `ipclab report`: Markdown/HTML report and charts from result files. */
#ifndef IPCLAB_REPORT_H
#define IPCLAB_REPORT_H

int ipcl_cmd_report(int argc, char **argv);
const char *ipcl_report_help(void);

#endif
