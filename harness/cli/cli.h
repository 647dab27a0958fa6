/* cli.h - the ipclab command line: parse, dispatch to list/run/compare/report. */
#ifndef IPCLAB_CLI_H
#define IPCLAB_CLI_H

/* Exit status: 0 ok, 1 a run failed or lost data, 2 bad usage. */
int ipcl_cli_main(int argc, char **argv);

#endif
