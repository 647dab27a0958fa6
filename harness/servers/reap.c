/*
 * reap.c - ipcl_servers_reap_dead(): what `ipclab clean` calls to stop throwaway
 * servers whose owner is gone. Each server dir (ipcl-<tag>-XXXXXX in $TMPDIR or
 * /tmp, owned by us) holds an `owner` file: "watchdog PID STARTTIME" while a
 * watchdog guards it, or "detached" once `brokers up` has recorded it in its
 * state. A dir is reaped when its watchdog is gone (PID dead or reused: the
 * start time differs), when it is detached but nothing runs in it any more, or
 * when it has no owner file and is older than a minute (a start that was
 * killed before the watchdog existed).
 * Uses opendir/lstat, /proc (through server.c), kill. Leaves out: broker-side
 * objects (keys, queues, tables) of killed runs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/server.h>

#include "servers/servers.h"

#define REAP_GRACE_S 60 /* a dir without owner file younger than this is starting */

/* The kind whose dir tag names this dir (ipcl-<tag>-XXXXXX), or NULL. */
static const struct ipcl_server_kind *reap_kind(const char *name)
{
	const struct ipcl_server_kind *k;

	for (size_t i = 0; (k = ipcl_server_kind_at(i)) != NULL; i++) {
		size_t tl = strlen(k->dir_tag);

		if (strncmp(name, "ipcl-", 5) == 0 &&
		    strncmp(name + 5, k->dir_tag, tl) == 0 && name[5 + tl] == '-')
			return k;
	}
	return NULL;
}

/* 1 when the server in dir still has an owner, 0 when it is to be reaped. */
static int reap_owned(const char *dir, const struct stat *st)
{
	char path[PATH_MAX + 8], buf[128] = "";
	long pid = 0;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/owner", dir);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return time(NULL) - st->st_mtime < REAP_GRACE_S;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (strncmp(buf, "detached", 8) == 0)
		return ipcl_servers_signal_dir(dir, 0) > 0; /* counts, signals nothing */
	if (sscanf(buf, "watchdog %ld %llu", &pid, &start) == 2 && pid > 0 &&
	    ipcl_servers_starttime((pid_t)pid) == start)
		return 1;
	return 0;
}

static int reap_in(const char *base, int dry, FILE *out)
{
	DIR *d = opendir(base);
	struct dirent *e;
	int count = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		const struct ipcl_server_kind *k = reap_kind(e->d_name);
		struct ipcl_server s;
		char dir[PATH_MAX];
		struct stat st;

		if (!k || strlen(base) + strlen(e->d_name) + 2 > sizeof s.dir)
			continue;
		snprintf(dir, sizeof dir, "%s/%s", base, e->d_name);
		if (lstat(dir, &st) < 0 || !ipcl_server_dir_ok(dir) ||
		    reap_owned(dir, &st))
			continue;
		count++;
		if (out)
			fprintf(out, "%s %s (server of a dead owner)\n",
				dry ? "would stop and remove" : "stopping and removing",
				dir);
		if (dry)
			continue;
		memset(&s, 0, sizeof s);
		snprintf(s.kind, sizeof s.kind, "%s", k->name);
		memcpy(s.dir, dir, strlen(dir) + 1);
		ipcl_servers_stop_dir(dir, k->stop_signal);
		if (k->cleanup)
			k->cleanup(&s);
		ipcl_servers_remove_dir(dir);
	}
	closedir(d);
	return count;
}

int ipcl_servers_reap_dead(int dry, FILE *out)
{
	const char *tmp = getenv("TMPDIR");
	char a[PATH_MAX], b[PATH_MAX];
	int n = reap_in("/tmp", dry, out);

	if (tmp && *tmp && realpath(tmp, a) && realpath("/tmp", b) && strcmp(a, b) != 0)
		n += reap_in(tmp, dry, out);
	return n;
}
