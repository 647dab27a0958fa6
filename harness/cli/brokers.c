/*
 * brokers.c - `ipclab brokers up|status|env|down`: throwaway Redis, RabbitMQ and
 * PostgreSQL servers kept running for a series of runs. `up` starts them in
 * parallel (each launcher in its own forked child, since RabbitMQ alone takes
 * seconds) and writes a state file of lines
 *   IPCLAB_REDIS_URL=<url, the rest of the line> and IPCLAB_BROKER_<kind>=pid aux dir
 * which `eval "$(ipclab brokers env)"` exports (shell-quoted) and `down` uses to
 * stop each server by PID. A server that cannot start is reported, the others run.
 *
 * Trust: the state names PIDs to kill, dirs to remove and URLs to export, so it
 * lives in a 0700 dir of our own ($XDG_RUNTIME_DIR when it is ours, else
 * /tmp/ipclab-brokers-UID, made 0700 and checked: ours, 0700, not a symlink); the
 * file is opened with O_NOFOLLOW and refused unless ours and 0600; it is written
 * 0600 to a temp name and renamed. $IPCLAB_BROKERS_STATE moves it, with the same
 * checks on the file and its dir. `down` signals a PID only when it is the
 * recorded server (its cwd or command line lies in the recorded dir) and removes
 * only dirs that resolve to ipclab's own server dirs.
 * Ownership while starting: the launchers' watchdogs watch a pipe held by this
 * process; Ctrl-C or SIGKILL of `up`, or a state that cannot be written, stops
 * what it started. Servers are detached from their watchdogs only once recorded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/brokers.h"
#include <ipclab/server.h>
#include <ipclab/transport.h>

static const char *const kinds[] = {"redis", "rabbitmq", "postgres"};
#define NKINDS 3

static const char brokers_help[] =
    "usage: ipclab brokers up [KIND...] | status | env | down\n"
    "\n"
    "Throwaway local servers for a series of runs, from the installed packages\n"
    "(redis-server, rabbitmq-server, postgresql): private temp dirs, loopback and\n"
    "free ports, a random password each, never a system instance. KIND: redis,\n"
    "rabbitmq, postgres (default: all three). `env` prints export lines:\n"
    "eval \"$(ipclab brokers env)\".\n"
    "State file (0600, in a 0700 dir of your own): $IPCLAB_BROKERS_STATE or\n"
    "$XDG_RUNTIME_DIR/ipclab-brokers.env or /tmp/ipclab-brokers-UID/state.env.\n";

/* The state file's path (harness/servers/state.c). */
static int state_path(char *out, size_t cap, char *why, size_t wcap)
{
	return ipcl_brokers_state_path(out, cap, why, wcap);
}

/* Read the state file into srv[NKINDS]: 0, -ENOENT or -EPERM (why says why). */
static int state_read(struct ipcl_server *srv, char *why, size_t wcap)
{
	return ipcl_brokers_state_read(kinds, NKINDS, srv, why, wcap);
}

int ipcl_brokers_recorded(char url[][256], char kind[][16], int cap, char *why,
			  size_t wcap)
{
	struct ipcl_server srv[NKINDS];
	int rc = state_read(srv, why, wcap), n = 0;

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -1;
	for (int i = 0; i < NKINDS && n < cap; i++)
		if (srv[i].kind[0] && srv[i].url[0]) {
			snprintf(url[n], 256, "%s", srv[i].url);
			snprintf(kind[n], 16, "%.15s", srv[i].kind);
			n++;
		}
	return n;
}

/* Written 0600 to a temp name in the same dir, then renamed over the state. */
static int state_write(const struct ipcl_server *srv, char *why, size_t wcap)
{
	char path[512], tmp[560];
	FILE *f;
	int fd, rc = 0;

	if (state_path(path, sizeof path, why, wcap))
		return -EPERM;
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return snprintf(why, wcap, "%s: %s", tmp, strerror(errno)), -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	for (int i = 0; i < NKINDS; i++) {
		if (!srv[i].pid)
			continue;
		fprintf(f, "%s=%s\n", ipcl_server_env(kinds[i]), srv[i].url);
		fprintf(f, "IPCLAB_BROKER_%s=%d %d %s\n", kinds[i], (int)srv[i].pid,
			(int)srv[i].aux_pid, srv[i].dir);
	}
	if (fflush(f) != 0 || fsync(fd) < 0)
		rc = -errno;
	if (fclose(f) != 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		snprintf(why, wcap, "%s: %s", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

/* 1 if the recorded server still runs: pid alive and inside its own dir. */
static int state_alive(const struct ipcl_server *s)
{
	return s->pid > 0 && ipcl_server_dir_ok(s->dir) &&
	       ipcl_server_owns_pid(s->dir, s->pid);
}

/*
 * POSIX shell single quotes: 'it'\''s'. The one quoting function for what
 * `brokers env` prints: no byte of v can end the word. 0, or -1 if cap is short.
 */
static int shell_quote(const char *v, char *out, size_t cap)
{
	size_t n = 0;

	if (cap < 3)
		return -1;
	out[n++] = '\'';
	for (; *v; v++) {
		if (*v == '\'') {
			if (n + 5 >= cap)
				return -1;
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			if (n + 2 >= cap)
				return -1;
			out[n++] = *v;
		}
	}
	out[n++] = '\'';
	out[n] = 0;
	return 0;
}

static int brokers_up(int argc, char **argv)
{
	struct ipcl_server old[NKINDS], *shared;
	char(*errs)[IPCL_ERR_MAX];
	char why[600] = "";
	pid_t kids[NKINDS] = {0};
	int want[NKINDS] = {0}, failed = 0, own[2], rc;
	size_t bytes = sizeof(struct ipcl_server) * NKINDS + IPCL_ERR_MAX * NKINDS;

	for (int a = 0; a < argc; a++) {
		int found = 0;

		for (int i = 0; i < NKINDS; i++)
			if (strcmp(argv[a], kinds[i]) == 0)
				want[i] = found = 1;
		if (!found) {
			fprintf(
			    stderr,
			    "ipclab brokers: unknown server kind '%s' (redis, rabbitmq, "
			    "postgres)\n",
			    argv[a]);
			return 2;
		}
	}
	if (argc == 0)
		for (int i = 0; i < NKINDS; i++)
			want[i] = 1;
	rc = state_read(old, why, sizeof why);
	if (rc == -EPERM) {
		fprintf(stderr, "ipclab brokers: refusing the state file: %s\n", why);
		return 1;
	}
	/* Recorded before anything starts: a state that cannot be written stops here. */
	for (int i = 0; i < NKINDS; i++)
		if (!state_alive(&old[i]))
			memset(&old[i], 0, sizeof old[i]);
	if (state_write(old, why, sizeof why)) {
		fprintf(stderr, "ipclab brokers: cannot write the state file: %s\n", why);
		return 1;
	}
	shared =
	    mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("ipclab brokers: mmap");
		return 1;
	}
	/* The launchers' watchdogs watch own[0]; we hold own[1] until recorded. */
	if (pipe2(own, O_CLOEXEC) < 0) {
		perror("ipclab brokers: pipe");
		munmap(shared, bytes);
		return 1;
	}
	errs = (void *)(shared + NKINDS);
	for (int i = 0; i < NKINDS; i++) {
		if (!want[i])
			continue;
		if (old[i].pid) {
			char red[256];

			ipcl_url_redact(old[i].url, red, sizeof red);
			fprintf(stderr, "%s: already running (%s)\n", kinds[i], red);
			shared[i] = old[i];
			want[i] = 0;
			continue;
		}
		fprintf(stderr, "%s: starting...\n", kinds[i]);
		kids[i] = fork();
		if (kids[i] == 0) {
			close(own[1]);
			rc = ipcl_server_start_owned(kinds[i], &shared[i], own[0],
						     ipcl_now_ns() + 90 * 1000000000LL,
						     errs[i]);
			_exit(rc ? 1 : 0);
		}
	}
	close(own[0]);
	for (int i = 0; i < NKINDS; i++) {
		int st = 0;

		if (kids[i] <= 0)
			continue;
		while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !shared[i].pid) {
			fprintf(stderr, "%s: FAILED: %s\n", kinds[i],
				errs[i][0] ? errs[i] : "launcher died");
			memset(&shared[i], 0, sizeof shared[i]);
			failed++;
		} else {
			char red[256];

			ipcl_url_redact(shared[i].url, red, sizeof red);
			fprintf(stderr, "%s: up at %s (pid %d, %s)\n", kinds[i], red,
				(int)shared[i].pid, shared[i].version);
		}
	}
	if (state_write(shared, why, sizeof why)) {
		fprintf(stderr,
			"ipclab brokers: writing the state file: %s; stopping "
			"what was started\n",
			why);
		close(own[1]); /* the watchdogs stop their servers */
		for (int i = 0; i < NKINDS; i++)
			if (kids[i] > 0 && shared[i].pid)
				ipcl_server_stop(&shared[i]);
		munmap(shared, bytes);
		return 1;
	}
	for (int i = 0; i < NKINDS; i++)
		if (kids[i] > 0 && shared[i].pid)
			ipcl_server_detach(&shared[i]);
	close(own[1]);
	munmap(shared, bytes);
	return failed ? 1 : 0;
}

static int brokers_status(int env_only)
{
	struct ipcl_server srv[NKINDS];
	char why[600] = "";
	int any = 0, rc = state_read(srv, why, sizeof why);

	if (rc == -EPERM) {
		fprintf(stderr, "ipclab brokers: refusing the state file: %s\n", why);
		return 1;
	}
	if (rc < 0) {
		if (!env_only)
			printf("no brokers started with `ipclab brokers up`\n");
		return env_only ? 0 : 1;
	}
	for (int i = 0; i < NKINDS; i++) {
		int alive = state_alive(&srv[i]);
		char red[256], q[1100];

		if (!srv[i].pid)
			continue;
		any = 1;
		if (env_only) {
			if (alive && shell_quote(srv[i].url, q, sizeof q) == 0)
				printf("export %s=%s\n", ipcl_server_env(kinds[i]), q);
			continue;
		}
		ipcl_url_redact(srv[i].url, red, sizeof red);
		printf("%-9s %-8s pid %-7d %s  %s\n", kinds[i],
		       alive ? "running" : "GONE", (int)srv[i].pid, red, srv[i].dir);
	}
	if (!any && !env_only)
		printf("no brokers running\n");
	return 0;
}

static int brokers_down(void)
{
	struct ipcl_server srv[NKINDS];
	char path[512], why[600] = "";
	int rc = state_read(srv, why, sizeof why);

	if (rc == -EPERM) {
		fprintf(stderr, "ipclab brokers: refusing the state file: %s\n", why);
		return 1;
	}
	if (rc < 0) {
		printf("no brokers to stop\n");
		return 0;
	}
	for (int i = 0; i < NKINDS; i++) {
		if (!srv[i].pid)
			continue;
		if (!ipcl_server_dir_ok(srv[i].dir)) {
			fprintf(
			    stderr,
			    "%s: recorded dir %s is not an ipclab server dir of ours: "
			    "left alone\n",
			    kinds[i], srv[i].dir);
			continue;
		}
		if (!ipcl_server_owns_pid(srv[i].dir, srv[i].pid)) {
			fprintf(stderr,
				"%s: pid %d is not the server in %s: not signalled\n",
				kinds[i], (int)srv[i].pid, srv[i].dir);
			srv[i].pid = 0;
		}
		if (srv[i].aux_pid && !ipcl_server_owns_pid(srv[i].dir, srv[i].aux_pid))
			srv[i].aux_pid = 0;
		fprintf(stderr, "%s: stopping %s\n", kinds[i], srv[i].dir);
		ipcl_server_stop(&srv[i]);
	}
	if (state_path(path, sizeof path, why, sizeof why) == 0)
		unlink(path);
	return 0;
}

int ipcl_cmd_brokers(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(brokers_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "up") == 0)
		return brokers_up(argc - 2, argv + 2);
	if (argc > 2) {
		fprintf(stderr, "ipclab brokers: unexpected argument '%s'\n", argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "status") == 0)
		return brokers_status(0);
	if (strcmp(argv[1], "env") == 0)
		return brokers_status(1);
	if (strcmp(argv[1], "down") == 0)
		return brokers_down();
	fprintf(stderr, "ipclab brokers: unknown action '%s' (up, status, env, down)\n",
		argv[1]);
	return 2;
}

const char *ipcl_brokers_help(void)
{
	return brokers_help;
}
