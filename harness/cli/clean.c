/*
 * clean.c - `ipclab clean`: removes what runs that were killed left behind,
 * and nothing else. A name is removed only when all of these hold:
 *   - it has exactly the form ipclab gives it (the run tag is "<pid>-<n><a|b>",
 *     engine/run.c): /dev/shm/ipcl-<tag> (ipc/shm), /dev/mqueue/ipcl-<tag>
 *     (ipc/mq/posix.c), a directory $TMPDIR|/tmp/ipcl-<tag>-XXXXXX
 *     (ipcl_private_dir, mkdtemp), a SysV queue whose key is
 *     0x68000000 | pid << 4 | n (ipc/mq/sysv.c), or a SysV shared-memory
 *     segment whose key is 0x6c000000 | pid << 4 | n (ipc/shm/shm.c);
 *   - the process <pid> no longer exists;
 *   - it belongs to the caller (lstat/fstatat st_uid, or the queue's uid, equal
 *     to geteuid()), so root cleaning never touches another user's files.
 * Removal is unlinkat(2), ipcl_remove_tree_at (no shell, no symlink followed,
 * one filesystem), msgctl(IPC_RMID) and shmctl(IPC_RMID). Throwaway servers'
 * directories (ipcl-redis-..., ipcl-pg-..., ipcl-rmq-...) do not match: their
 * servers are stopped and removed by ipcl_servers_reap_dead (servers/reap.c)
 * when their owner is gone. Tags of the test programs do not match either.
 * With --brokers, each server recorded in the brokers state (cli/brokers.c)
 * is asked, through its transports' sweep hook, to drop what runs of dead
 * processes left on it (Redis keys, Postgres tables; RabbitMQ queues expire
 * by themselves, x-expires). The URLs are never printed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipclab/fdio.h>

#include <ipclab/server.h>

#include "cli/brokers.h"
#include "cli/clean.h"
#include "cli/usage.h"
#include "engine/registry.h"

static const char clean_help[] =
    "usage: ipclab clean [--dry-run] [--brokers]\n"
    "\n"
    "Removes what runs that were killed left behind: POSIX shared memory and\n"
    "message queues named ipcl-*, and ipcl-* temp dirs in $TMPDIR or /tmp, whose\n"
    "creating process (the number after ipcl-) no longer exists, and SysV message\n"
    "queues and shared-memory segments with ipclab's keys of such runs.\n"
    "Only names of exactly the form ipclab gives them, and only those owned by\n"
    "the user running clean, are removed (never another user's, even as root).\n"
    "Throwaway servers whose owning run or `brokers up` is gone are stopped.\n"
    "  --brokers   also remove, on the servers recorded by `ipclab brokers up`,\n"
    "              the keys and tables of runs whose process is gone (RabbitMQ\n"
    "              queues expire by themselves after 15 minutes unused)\n"
    "  --dry-run   say what would be removed, remove nothing\n";

static int clean_dry; /* --dry-run, for clean_seen */

/* Skips 1..max decimal digits at *s (no leading zero); their value, or -1. */
static long clean_digits(const char **s, int max)
{
	const char *p = *s;
	long v = 0;

	if (!isdigit((unsigned char)*p) || (*p == '0' && isdigit((unsigned char)p[1])))
		return -1;
	for (int n = 0; isdigit((unsigned char)*p); n++, p++) {
		if (n == max)
			return -1;
		v = v * 10 + (*p - '0');
	}
	*s = p;
	return v;
}

/*
 * The pid of a run's name: "ipcl-<pid>-<n><a|b>", followed by "-XXXXXX" (six
 * letters or digits, from mkdtemp) when tmpdir, by nothing otherwise. 0 for any
 * other name.
 */
static pid_t clean_owner(const char *name, int tmpdir)
{
	const char *p = name;
	long pid;

	if (strncmp(p, "ipcl-", 5) != 0)
		return 0;
	p += 5;
	pid = clean_digits(&p, 7); /* pid_max is at most 2^22 */
	if (pid <= 0 || *p++ != '-' || clean_digits(&p, 10) < 0)
		return 0;
	if (*p != 'a' && *p != 'b')
		return 0;
	p++;
	if (tmpdir) {
		if (*p++ != '-')
			return 0;
		for (int i = 0; i < 6; i++, p++)
			if (!isalnum((unsigned char)*p))
				return 0;
	}
	return *p ? 0 : (pid_t)pid;
}

/* Does process pid no longer exist? (EPERM: it exists, another user's.) */
static int clean_dead(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * SysV objects of killed runs of this user, from /proc/sysvipc/<table>, whose
 * key is mark | pid << 4 | n: message queues of sysv-mq (0x68000000,
 * ipc/mq/sysv.c) and shared-memory segments of shm backing=sysv (0x6c000000,
 * ipc/shm/shm.c), so the owner's pid can be read back from the key. Columns:
 * msg: key msqid perms cbytes qnum lspid lrpid uid ...; shm: key shmid perms
 * size cpid lpid nattch uid ... (the uid is the eighth in both).
 */
static int clean_sysv_table(int dry, int shm)
{
	FILE *f = fopen(shm ? "/proc/sysvipc/shm" : "/proc/sysvipc/msg", "re");
	long long mark = shm ? 0x6c000000 : 0x68000000;
	const char *what = shm ? "shared memory segment" : "message queue";
	char line[512];
	int removed = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		long long key;
		int id, rc = 0;
		unsigned uid;
		pid_t pid;

		if (sscanf(line, "%lld %d %*o %*u %*u %*d %*d %u", &key, &id, &uid) != 3)
			continue;
		if ((key & 0x7c000000) != mark || uid != geteuid())
			continue;
		pid = (pid_t)((key >> 4) & 0x3fffff);
		if (!clean_dead(pid))
			continue;
		printf("%s SysV %s %d (run %d)\n", dry ? "would remove" : "removing",
		       what, id, (int)pid);
		removed++;
		if (!dry)
			rc =
			    shm ? shmctl(id, IPC_RMID, NULL) : msgctl(id, IPC_RMID, NULL);
		if (rc < 0)
			fprintf(stderr, "ipclab clean: IPC_RMID %s %d: %s\n", what, id,
				strerror(errno));
	}
	fclose(f);
	return removed;
}

static int clean_sysv(int dry)
{
	return clean_sysv_table(dry, 0) + clean_sysv_table(dry, 1);
}

/*
 * One entry of directory dir (open as dfd): removed when its name has the form
 * of a run's, the run is gone, it is of the expected type (a directory in the
 * temp dir, a file in /dev/shm and /dev/mqueue) and it is the caller's.
 * Returns 1 when it was (or would be) removed.
 */
static int clean_entry(int dfd, const char *dir, const char *name, int tmpdir, int dry)
{
	struct stat st;
	pid_t owner = clean_owner(name, tmpdir);
	int rc;

	if (!owner || !clean_dead(owner))
		return 0; /* not a run's name, or the run is still going */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid())
		return 0;
	if (tmpdir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return 0;
	printf("%s %s/%s\n", dry ? "would remove" : "removing", dir, name);
	if (dry)
		return 1;
	/* In a sticky directory nobody else can rename or replace an entry of
	 * ours between the check and the removal; the tree removal checks the
	 * owner again on the opened directory anyway. */
	rc = tmpdir ? ipcl_remove_tree_at(dfd, name, geteuid())
		    : (unlinkat(dfd, name, 0) < 0 ? -errno : 0);
	if (rc)
		fprintf(stderr, "ipclab clean: %s/%s: %s\n", dir, name, strerror(-rc));
	return 1;
}

/* Every matching entry of directory dir; how many were (or would be) removed. */
static int clean_dir(const char *dir, int tmpdir, int dry)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), removed = 0;
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "ipcl-", 5) == 0)
			removed += clean_entry(dfd, dir, e->d_name, tmpdir, dry);
	closedir(d);
	return removed;
}

static int clean_pid_dead(long pid)
{
	return pid > 0 && pid <= 0x3fffff && clean_dead((pid_t)pid);
}

static void clean_seen(void *arg, const char *name)
{
	const char *kind = arg;

	printf("%s on the %s server: %s\n", clean_dry ? "would remove" : "removing", kind,
	       name);
}

/*
 * --brokers: every recorded server, swept once per sweep function of the
 * transports of its kind. Returns how many objects, or -1 after one line on
 * stderr for each server that could not be swept.
 */
static int clean_brokers(int dry, int *failed)
{
	char url[8][256], kind[8][16], why[600], err[IPCL_ERR_MAX];
	int n = ipcl_brokers_recorded(url, kind, 8, why, sizeof why), removed = 0;

	if (n < 0) {
		fprintf(stderr, "ipclab clean: brokers state: %s\n", why);
		*failed = 1;
		return 0;
	}
	if (n == 0)
		printf("no throwaway servers recorded (ipclab brokers up)\n");
	clean_dry = dry;
	for (int i = 0; i < n; i++) {
		const struct ipcl_transport *t, *done[16];
		int nd = 0;

		for (int j = 0; (t = ipcl_transport_at(j)) != NULL; j++) {
			int k, rc;

			if (!t->sweep || !t->server || strcmp(t->server, kind[i]))
				continue;
			for (k = 0; k < nd && done[k]->sweep != t->sweep; k++)
				;
			if (k < nd || nd == 16)
				continue;
			done[nd++] = t;
			err[0] = 0;
			rc = t->sweep(url[i], dry, clean_pid_dead, clean_seen, kind[i],
				      err);
			if (rc < 0) {
				fprintf(stderr, "ipclab clean: %s server: %s\n", kind[i],
					err[0] ? err : strerror(-rc));
				*failed = 1;
			} else {
				removed += rc;
			}
		}
	}
	return removed;
}

int ipcl_cmd_clean(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	int dry = 0, brokers = 0, removed = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			dry = 1;
		} else if (strcmp(argv[i], "--brokers") == 0) {
			brokers = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(clean_help, stdout);
			return 0;
		} else {
			return ipcl_usage_error("clean", "unknown option '%s'", argv[i]);
		}
	}
	/* Servers first: a reaped server's dir is then gone from /tmp. */
	removed += ipcl_servers_reap_dead(dry, stdout);
	removed += clean_dir("/dev/shm", 0, dry);
	removed += clean_dir("/dev/mqueue", 0, dry);
	removed += clean_dir(tmp && *tmp ? tmp : "/tmp", 1, dry);
	removed += clean_sysv(dry);
	if (brokers)
		removed += clean_brokers(dry, &failed);
	if (!removed)
		printf("nothing to clean\n");
	return failed ? 1 : 0;
}

const char *ipcl_clean_help(void)
{
	return clean_help;
}
