/*
 * state.c - the state file of `ipclab brokers up` (harness/cli/brokers.c writes
 * it): where it lives and how it is read, for brokers.c and for a run that
 * wants the PID of the server it was given by URL (its CPU, harness/engine/run.c).
 * Trust: the file lives in a 0700 dir of our own, is opened with O_NOFOLLOW
 * and refused unless ours and 0600 (see brokers.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ipclab/server.h>

/* 0 if dir is a directory (not a symlink) of ours that no one else may write. */
static int state_dir_ok(const char *dir, int exact_0700, char *why, size_t cap)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return snprintf(why, cap, "%s: %s", dir, strerror(errno)), -1;
	if (!S_ISDIR(st.st_mode))
		return snprintf(why, cap, "%s is not a directory (a symlink?)", dir), -1;
	if (st.st_uid != geteuid())
		return snprintf(why, cap, "%s belongs to uid %u, not to us", dir,
				(unsigned)st.st_uid),
		       -1;
	if (exact_0700 ? (st.st_mode & 0777) != 0700 : (st.st_mode & 022) != 0)
		return snprintf(why, cap, "%s has mode %03o (want %s)", dir,
				(unsigned)(st.st_mode & 0777),
				exact_0700 ? "0700" : "no group/other write"),
		       -1;
	return 0;
}

/*
 * The state file's path, its dir checked; the /tmp default dir is made when
 * make is set. -ENOENT (nothing to read) when it is not and does not exist.
 */
static int state_path_at(char *out, size_t cap, char *why, size_t wcap, int make)
{
	const char *s = getenv("IPCLAB_BROKERS_STATE"), *rt = getenv("XDG_RUNTIME_DIR");
	char dir[512];
	struct stat st;

	if (s && *s) {
		snprintf(out, cap, "%s", s);
		snprintf(dir, sizeof dir, "%s", s);
		return state_dir_ok(dirname(dir), 0, why, wcap);
	}
	if (rt && *rt && state_dir_ok(rt, 1, why, wcap) == 0) {
		snprintf(out, cap, "%s/ipclab-brokers.env", rt);
		return 0;
	}
	snprintf(dir, sizeof dir, "/tmp/ipclab-brokers-%u", (unsigned)geteuid());
	if (!make && lstat(dir, &st) < 0 && errno == ENOENT)
		return -ENOENT;
	if (make && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return snprintf(why, wcap, "mkdir %s: %s", dir, strerror(errno)), -1;
	if (state_dir_ok(dir, 1, why, wcap))
		return -1;
	snprintf(out, cap, "%s/state.env", dir);
	return 0;
}

int ipcl_brokers_state_path(char *out, size_t cap, char *why, size_t wcap)
{
	return state_path_at(out, cap, why, wcap, 1) ? -1 : 0;
}

/* The state file (see <ipclab/server.h>). */
int ipcl_brokers_state_read(const char *const *kinds, int nkinds, struct ipcl_server *srv,
			    char *why, size_t wcap)
{
	char path[512], line[1024];
	struct stat st;
	FILE *f;
	int fd, rc;

	memset(srv, 0, sizeof *srv * (size_t)nkinds);
	rc = state_path_at(path, sizeof path, why, wcap, 0);
	if (rc == -ENOENT)
		return rc;
	if (rc)
		return -EPERM;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0)
		return snprintf(why, wcap, "%s: %s", path, strerror(errno)), -EPERM;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 0777) != 0600) {
		snprintf(why, wcap,
			 "%s: not a regular 0600 file of ours (uid %u, mode %03o)", path,
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -EPERM;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		for (int i = 0; i < nkinds; i++) {
			char key[64];
			const char *env = ipcl_server_env(kinds[i]);
			size_t n;

			if (!env)
				continue;
			snprintf(key, sizeof key, "%s=", env);
			n = strlen(key);
			if (strncmp(line, key, n) == 0) {
				snprintf(srv[i].url, sizeof srv[i].url, "%s", line + n);
				snprintf(srv[i].kind, sizeof srv[i].kind, "%s", kinds[i]);
			}
			snprintf(key, sizeof key, "IPCLAB_BROKER_%s=", kinds[i]);
			n = strlen(key);
			if (strncmp(line, key, n) == 0) {
				int pid, aux;

				if (sscanf(line + n, "%d %d %107s", &pid, &aux,
					   srv[i].dir) == 3 &&
				    pid > 0 && aux >= 0) {
					srv[i].pid = pid;
					srv[i].aux_pid = aux;
					snprintf(srv[i].kind, sizeof srv[i].kind, "%s",
						 kinds[i]);
				}
			}
		}
	}
	fclose(f);
	return 0;
}
