/*
 * proccpu.c - a process tree's CPU time from /proc/PID/stat (proccpu.h):
 * opendir/readdir over /proc, one read of each stat file, the parent links
 * followed down from the root. Resolution: a clock tick (sysconf(_SC_CLK_TCK),
 * 10 ms here), so a measured interval should hold many ticks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/proccpu.h"

int ipcl_stat_parse(const char *line, pid_t *ppid, uint64_t *ticks)
{
	/* The command name (field 2) may hold spaces and ')': start after the last. */
	const char *p = strrchr(line, ')');
	unsigned long long v[15];
	long pp;
	char state;

	if (!p)
		return -EINVAL;
	/* Fields 3..17: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime. */
	if (sscanf(p + 1,
		   " %c %ld %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
		   "%llu",
		   &state, &pp, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		   &v[8], &v[9], &v[10], &v[11], &v[12]) != 15)
		return -EINVAL;
	*ppid = (pid_t)pp;
	*ticks = v[9] + v[10] + v[11] + v[12];
	return 0;
}

struct proccpu_ent {
	pid_t pid, ppid;
	uint64_t ticks;
};

/* Read /proc/pid/stat into an entry: 0, or -errno (the process is gone). */
static int proccpu_read(pid_t pid, struct proccpu_ent *e)
{
	char path[64], line[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, line, sizeof line - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	line[n] = 0;
	e->pid = pid;
	return ipcl_stat_parse(line, &e->ppid, &e->ticks);
}

int ipcl_proc_tree_cpu(pid_t root, int64_t *ns)
{
	struct proccpu_ent *all = NULL, *tmp;
	size_t n = 0, cap = 0;
	char *in = NULL;
	uint64_t ticks = 0;
	long hz = sysconf(_SC_CLK_TCK);
	struct dirent *d;
	int rc = 0;
	DIR *dir;

	*ns = 0;
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(d->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			tmp = realloc(all, cap * sizeof *all);
			if (!tmp) {
				rc = -ENOMEM;
				goto out;
			}
			all = tmp;
		}
		if (proccpu_read((pid_t)pid, &all[n]) == 0)
			n++;
	}
	/* Mark the tree: a process is in when its parent is, until nothing changes. */
	in = calloc(n ? n : 1, 1);
	if (!in) {
		rc = -ENOMEM;
		goto out;
	}
	rc = -ESRCH;
	for (size_t i = 0; i < n; i++)
		if (all[i].pid == root) {
			in[i] = 1;
			rc = 0;
		}
	for (int changed = 1; changed && rc == 0;) {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && all[j].pid == all[i].ppid) {
					in[i] = 1;
					changed = 1;
					break;
				}
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (in[i])
			ticks += all[i].ticks;
	if (rc == 0)
		*ns = (int64_t)(ticks * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100)));
out:
	closedir(dir);
	free(all);
	free(in);
	return rc;
}
