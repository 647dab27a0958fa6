/* clean.h - `ipclab clean`: remove what killed runs of this user left behind. */
#ifndef IPCLAB_CLI_CLEAN_H
#define IPCLAB_CLI_CLEAN_H

/* The command (argv[0] is "clean"); exit status 0, or 2 for bad usage. */
int ipcl_cmd_clean(int argc, char **argv);
/* Its --help text. */
const char *ipcl_clean_help(void);

#endif
