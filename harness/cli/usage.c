/*
 * usage.c - the one-line complaint about bad command-line input (stdio only).
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli/usage.h"

int ipcl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ipclab %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see `ipclab %s --help`)\n", cmd);
	return IPCL_EXIT_USAGE;
}
