/*
 * clean.c - `ipclab clean`: removes what runs that were killed left behind:
 * POSIX shm and mq names, temp dirs and SysV queues of runs whose process is
 * gone. Uses readdir(3), kill(2) to test a pid, msgctl(2).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include "cli/clean.h"
#include "cli/usage.h"

static const char clean_help[] =
    "usage: ipclab clean [--dry-run]\n"
    "\n"
    "Removes what runs that were killed left behind: POSIX shared memory and\n"
    "message queues named ipcl-*, and ipcl-* temp dirs in $TMPDIR or /tmp, whose\n"
    "creating process (the number after ipcl-) no longer exists.\n";

/*
 * The pid in a run's name: "ipcl-1234-0a..." (every run tag starts with the pid of
 * the process that made it), or 0 for other names, such as a throwaway server's
 * dir ("ipcl-redis-...", stopped by `ipclab brokers down`), which clean leaves alone.
 */
static pid_t clean_owner(const char *name)
{
	char *end;
	long pid = strtol(name + 5, &end, 10);

	return end != name + 5 && pid > 0 && *end == '-' ? (pid_t)pid : 0;
}

/*
 * SysV message queues of killed runs: sysv-mq makes keys 0x68000000 | pid << 4 | n
 * (ipc/mq/sysv.c), so the owner's pid can be read back from the key.
 */
static int clean_sysv(int dry)
{
	FILE *f = fopen("/proc/sysvipc/msg", "r");
	char line[512];
	int removed = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		long long key;
		int id;
		unsigned uid;
		pid_t pid;

		if (sscanf(line, "%lld %d %*o %*u %*u %*d %*d %u", &key, &id, &uid) != 3)
			continue;
		if ((key & 0x7c000000) != 0x68000000 || uid != geteuid())
			continue;
		pid = (pid_t)((key >> 4) & 0x3fffff);
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		printf("%s SysV message queue %d (run %d)\n",
		       dry ? "would remove" : "removing", id, (int)pid);
		removed++;
		if (!dry && msgctl(id, IPC_RMID, NULL) < 0)
			fprintf(stderr, "ipclab clean: msgctl %d: %s\n", id,
				strerror(errno));
	}
	fclose(f);
	return removed;
}

int ipcl_cmd_clean(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	const char *dirs[] = {"/dev/shm", "/dev/mqueue", tmp && *tmp ? tmp : "/tmp"};
	int dry = argc > 1 && strcmp(argv[1], "--dry-run") == 0, removed = 0;

	if (argc > 1 && !dry) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			fputs(clean_help, stdout);
			return 0;
		}
		return ipcl_usage_error("clean", "unknown option '%s'", argv[1]);
	}
	for (int d = 0; d < 3; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;

		if (!dir)
			continue;
		while ((e = readdir(dir)) != NULL) {
			char path[4096];
			pid_t owner;

			if (strncmp(e->d_name, "ipcl-", 5) != 0)
				continue;
			owner = clean_owner(e->d_name);
			if (!owner || kill(owner, 0) == 0 || errno == EPERM)
				continue; /* not a run's (a server's dir), or still
					     running */
			snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
			printf("%s %s\n", dry ? "would remove" : "removing", path);
			removed++;
			if (dry)
				continue;
			if (e->d_type == DT_DIR) {
				char cmd[4200];

				snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
				if (system(cmd) != 0)
					fprintf(stderr,
						"ipclab clean: could not remove %s\n",
						path);
			} else if (unlink(path) < 0) {
				fprintf(stderr, "ipclab clean: %s: %s\n", path,
					strerror(errno));
			}
		}
		closedir(dir);
	}
	removed += clean_sysv(dry);
	if (!removed)
		printf("nothing to clean\n");
	return 0;
}

const char *ipcl_clean_help(void)
{
	return clean_help;
}
