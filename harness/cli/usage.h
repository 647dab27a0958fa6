/*
 * usage.h - how every ipclab command reports bad input: one line on stderr
 * naming what was wrong, and exit status 2.
 */
#ifndef IPCLAB_CLI_USAGE_H
#define IPCLAB_CLI_USAGE_H

/* Exit status: 0 ok, 1 a run failed or lost data, 2 bad usage. */
#define IPCL_EXIT_USAGE 2

/* Prints "ipclab CMD: <message> (see `ipclab CMD --help`)" on stderr and
 * returns IPCL_EXIT_USAGE. */
int ipcl_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
