/*
 * proclimit.h - read one kernel limit from a /proc/sys file, shared by the two
 * message queues (posix.c: /proc/sys/fs/mqueue/, sysv.c: /proc/sys/kernel/).
 * Both size their queues from these numbers and report them in probe().
 *
 * Uses fopen/fscanf on procfs; nothing is cached, so a limit changed with
 * sysctl between runs is seen by the next call. Local to ipc/mq/: static
 * inline, no symbol leaves the file that includes it.
 */
#ifndef IPCL_MQ_PROCLIMIT_H
#define IPCL_MQ_PROCLIMIT_H

#include <stdio.h>

/* The number in <dir><name> (dir ends in '/'), or -1 when it cannot be read. */
static inline long proclimit_read(const char *dir, const char *name)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "%s%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

#endif
