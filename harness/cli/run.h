/* run.h - `ipclab run`: one measured run from the command line. */
#ifndef IPCLAB_CLI_RUN_H
#define IPCLAB_CLI_RUN_H

/* The command (argv[0] is "run"); exit status 0, 1 when the run failed or
 * lost data, 2 for bad usage. */
int ipcl_cmd_run(int argc, char **argv);
/* Its --help text. */
const char *ipcl_run_help(void);

#endif
