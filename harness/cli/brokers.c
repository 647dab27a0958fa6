/*
 * brokers.c - `ipclab brokers up|status|down`: throwaway Redis, RabbitMQ and
 * PostgreSQL servers kept running for a series of runs. `up` starts them in
 * parallel (each launcher in its own forked child, since RabbitMQ alone takes
 * seconds) and writes a state file of shell assignments:
 *   IPCLAB_REDIS_URL=... and IPCLAB_BROKER_<KIND>=pid aux_pid dir
 * which `eval "$(ipclab brokers env)"` exports and `down` uses to stop each
 * server by PID. A server that cannot start is reported, the others still run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
    "free ports, never a system instance. KIND: redis, rabbitmq, postgres (default:\n"
    "all three). `env` prints export lines: eval \"$(ipclab brokers env)\".\n"
    "State file: $IPCLAB_BROKERS_STATE or $XDG_RUNTIME_DIR/ipclab-brokers.env or\n"
    "/tmp/ipclab-brokers-UID.env.\n";

static void state_path(char *out, size_t cap)
{
	const char *s = getenv("IPCLAB_BROKERS_STATE"), *rt = getenv("XDG_RUNTIME_DIR");

	if (s && *s)
		snprintf(out, cap, "%s", s);
	else if (rt && *rt)
		snprintf(out, cap, "%s/ipclab-brokers.env", rt);
	else
		snprintf(out, cap, "/tmp/ipclab-brokers-%u.env", (unsigned)getuid());
}

/* Read the state file into servers[] (kind set where a server is recorded). */
static int state_read(struct ipcl_server *srv)
{
	char path[512], line[1024];
	FILE *f;

	memset(srv, 0, sizeof *srv * NKINDS);
	state_path(path, sizeof path);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		for (int i = 0; i < NKINDS; i++) {
			char key[64];
			const char *env = ipcl_server_env(kinds[i]);
			size_t n;

			snprintf(key, sizeof key, "%s=", env);
			n = strlen(key);
			if (strncmp(line, key, n) == 0) {
				line[strcspn(line, "\n")] = 0;
				snprintf(srv[i].url, sizeof srv[i].url, "%s", line + n);
				snprintf(srv[i].kind, sizeof srv[i].kind, "%s", kinds[i]);
			}
			snprintf(key, sizeof key, "IPCLAB_BROKER_%s=", kinds[i]);
			n = strlen(key);
			if (strncmp(line, key, n) == 0) {
				int pid, aux;

				if (sscanf(line + n, "'%d %d %107[^']'", &pid, &aux,
					   srv[i].dir) == 3) {
					srv[i].pid = pid;
					srv[i].aux_pid = aux;
				}
			}
		}
	}
	fclose(f);
	return 0;
}

static int state_write(const struct ipcl_server *srv)
{
	char path[512];
	FILE *f;

	state_path(path, sizeof path);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (int i = 0; i < NKINDS; i++) {
		if (!srv[i].pid)
			continue;
		fprintf(f, "%s=%s\n", ipcl_server_env(kinds[i]), srv[i].url);
		fprintf(f, "IPCLAB_BROKER_%s='%d %d %s'\n", kinds[i], (int)srv[i].pid,
			(int)srv[i].aux_pid, srv[i].dir);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

static int brokers_up(int argc, char **argv)
{
	struct ipcl_server old[NKINDS], *shared;
	char(*errs)[IPCL_ERR_MAX];
	pid_t kids[NKINDS] = {0};
	int want[NKINDS] = {0}, failed = 0;
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
	state_read(old);
	shared =
	    mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("ipclab brokers: mmap");
		return 1;
	}
	errs = (void *)(shared + NKINDS);
	for (int i = 0; i < NKINDS; i++) {
		if (!want[i])
			continue;
		if (old[i].pid && kill(old[i].pid, 0) == 0) {
			fprintf(stderr, "%s: already running (%s)\n", kinds[i],
				old[i].url);
			shared[i] = old[i];
			want[i] = 0;
			continue;
		}
		fprintf(stderr, "%s: starting...\n", kinds[i]);
		kids[i] = fork();
		if (kids[i] == 0) {
			int rc =
			    ipcl_server_start(kinds[i], &shared[i],
					      ipcl_now_ns() + 90 * 1000000000LL, errs[i]);

			_exit(rc ? 1 : 0);
		}
	}
	for (int i = 0; i < NKINDS; i++) {
		int st = 0;

		if (!kids[i])
			continue;
		waitpid(kids[i], &st, 0);
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
	for (int i = 0; i < NKINDS; i++)
		if (!shared[i].pid && old[i].pid && kill(old[i].pid, 0) == 0)
			shared[i] = old[i];
	if (state_write(shared)) {
		perror("ipclab brokers: writing the state file");
		failed++;
	}
	munmap(shared, bytes);
	return failed ? 1 : 0;
}

static int brokers_status(int env_only)
{
	struct ipcl_server srv[NKINDS];
	int any = 0;

	if (state_read(srv) < 0) {
		if (!env_only)
			printf("no brokers started with `ipclab brokers up`\n");
		return env_only ? 0 : 1;
	}
	for (int i = 0; i < NKINDS; i++) {
		int alive = srv[i].pid && kill(srv[i].pid, 0) == 0;
		char red[256];

		if (!srv[i].pid)
			continue;
		any = 1;
		if (env_only) {
			if (alive)
				printf("export %s='%s'\n", ipcl_server_env(kinds[i]),
				       srv[i].url);
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
	char path[512];

	if (state_read(srv) < 0) {
		printf("no brokers to stop\n");
		return 0;
	}
	for (int i = 0; i < NKINDS; i++) {
		if (!srv[i].pid)
			continue;
		fprintf(stderr, "%s: stopping pid %d\n", kinds[i], (int)srv[i].pid);
		ipcl_server_stop(&srv[i]);
	}
	state_path(path, sizeof path);
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
