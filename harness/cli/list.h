/* list.h - `ipclab list`: the transports built in, their capabilities and limits. */
#ifndef IPCLAB_CLI_LIST_H
#define IPCLAB_CLI_LIST_H

/* The command (argv[0] is "list"); exit status 0, or 2 for bad usage. */
int ipcl_cmd_list(int argc, char **argv);
/* Its --help text. */
const char *ipcl_list_help(void);

#endif
