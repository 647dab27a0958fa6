/*
 * server.c - dispatch to the throwaway-server launchers in brokers/<kind>/ and
 * the small socket helpers they share (server.h). Stopping is by PID only:
 * SIGTERM (SIGINT for PostgreSQL's fast shutdown), then SIGKILL after 10 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

/* A launcher whose directory is not built is NULL (CMake defines IPCL_LAUNCHER_*). */
#ifndef IPCL_LAUNCHER_REDIS
#define ipcl_redis_server_start NULL
#endif
#ifndef IPCL_LAUNCHER_RABBITMQ
#define ipcl_rabbitmq_server_start NULL
#endif
#ifndef IPCL_LAUNCHER_POSTGRES
#define ipcl_postgres_server_start NULL
#endif

static const struct {
	const char *kind, *env;
	int (*start)(struct ipcl_server *, int64_t, char *);
	int stop_sig;
} kinds[] = {
    {"redis", "IPCLAB_REDIS_URL", ipcl_redis_server_start, SIGTERM},
    {"rabbitmq", "IPCLAB_AMQP_URL", ipcl_rabbitmq_server_start, SIGTERM},
    {"postgres", "IPCLAB_PG_URL", ipcl_postgres_server_start, SIGINT},
};

const char *ipcl_server_env(const char *kind)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return kinds[i].env;
	return NULL;
}

int ipcl_server_start(const char *kind, struct ipcl_server *s, int64_t deadline_ns,
		      char *err)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(kinds[i].kind, kind) != 0)
			continue;
		memset(s, 0, sizeof *s);
		snprintf(s->kind, sizeof s->kind, "%s", kind);
		if (!kinds[i].start)
			return ipcl_seterr(err, IPCL_EUNAVAIL,
					   "no launcher for %s servers in this build",
					   kind);
		return kinds[i].start(s, deadline_ns, err);
	}
	return ipcl_seterr(err, IPCL_EINVAL, "unknown server kind '%s'", kind);
}

/* Wait for pid to exit until deadline; 1 if it did (or is not our child). */
static int server_reap(pid_t pid, int64_t deadline_ns)
{
	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD)) {
			/* Not our child (started by `ipclab brokers up`): poll for it. */
			if (r < 0 && kill(pid, 0) == 0)
				goto wait;
			return 1;
		}
	wait:
		if (ipcl_now_ns() >= deadline_ns)
			return 0;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
}

static void server_kill(pid_t pid, int sig)
{
	if (pid <= 0)
		return;
	if (kill(pid, sig) < 0 && errno == ESRCH)
		return;
	if (!server_reap(pid, ipcl_now_ns() + 10 * 1000000000LL)) {
		kill(pid, SIGKILL);
		server_reap(pid, ipcl_now_ns() + 5 * 1000000000LL);
	}
}

void ipcl_server_stop(struct ipcl_server *s)
{
	int sig = SIGTERM;

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].kind, s->kind) == 0)
			sig = kinds[i].stop_sig;
	server_kill(s->pid, sig);
	s->pid = 0;
	server_kill(s->aux_pid, SIGTERM);
	s->aux_pid = 0;
#ifdef IPCL_LAUNCHER_POSTGRES
	if (strcmp(s->kind, "postgres") == 0)
		ipcl_postgres_server_cleanup(s);
#endif
	if (s->dir[0]) {
		char cmd[160];

		/* The data dir is a tree: rm -rf on our own mkdtemp path only. */
		if (strncmp(s->dir, "/tmp/", 5) == 0 || getenv("TMPDIR")) {
			snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", s->dir);
			if (system(cmd) != 0) {
				/* best effort; the dir name is printed by `ipclab clean`
				 */
			}
		}
		s->dir[0] = 0;
	}
}

void ipcl_url_redact(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *at, *colon, *auth;

	snprintf(out, cap, "%s", url);
	if (!scheme)
		return;
	auth = scheme + 3;
	at = strchr(auth, '@');
	if (!at)
		return;
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (!colon)
		return;
	snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

int ipcl_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Connect a socket of family/addr, retrying refusals every 20 ms until deadline. */
static int server_connect(int family, const struct sockaddr *sa, socklen_t len,
			  int64_t deadline_ns)
{
	for (;;) {
		int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

		if (fd < 0)
			return -errno;
		if (connect(fd, sa, len) == 0)
			return fd;
		e = errno;
		close(fd);
		if (e != ECONNREFUSED && e != ENOENT && e != EAGAIN && e != EINTR)
			return -e;
		if (ipcl_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
}

int ipcl_connect_tcp(const char *host, int port, int64_t deadline_ns)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -EINVAL;
	return server_connect(AF_INET, (struct sockaddr *)&a, sizeof a, deadline_ns);
}

int ipcl_connect_unix(const char *path, int64_t deadline_ns)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	return server_connect(AF_UNIX, (struct sockaddr *)&a, sizeof a, deadline_ns);
}
