/*
 * optcheck.h - a transport option's value checked against its table entry
 * (ipclab/transport.h) before anything runs: one of its choices, or a number
 * when its default is one. Used by `run -O` and suite files of `compare`.
 */
#ifndef IPCLAB_CLI_OPTCHECK_H
#define IPCLAB_CLI_OPTCHECK_H

#include <stddef.h>

#include <ipclab/transport.h>

/*
 * Is value acceptable for option o of transport tname? Returns 0, or -1 with
 * one phrase in err (n bytes): "option wait=bogus of shm: want spin, block or
 * hybrid". An option with neither choices nor a numeric default (a URL, a
 * name) takes any text; the transport still has the last word at set-up.
 */
int ipcl_option_check(const char *tname, const struct ipcl_option *o, const char *value,
		      char *err, size_t n);

#endif
