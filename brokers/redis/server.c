/*
 * server.c - a throwaway Redis server for one run: redis-server from the
 * installed package, started as a child (fork + exec, its own session) in a
 * private 0700 temp dir, bound to 127.0.0.1 on a free port and to a unix
 * socket in that dir, with no RDB snapshots and (by default) no AOF.
 *
 * Readiness is a real exchange: PING must answer +PONG, and INFO server must
 * name our child's process_id, so a foreign server that won the port race is
 * never mistaken for ours. Ports race (ipcl_free_port() closes the port before
 * redis-server binds it): a child that dies with "Address already in use" is
 * retried on another port. The durability axis comes from the environment:
 * IPCLAB_REDIS_AOF=off (default) | no | everysec | always turns on AOF with
 * that appendfsync policy. ipcl_server_stop() stops it by PID (SIGTERM).
 * Every instance requires a random password (requirepass, from getrandom via
 * ipcl_server_secret) written to a 0600 redis.conf in the dir, never on the
 * command line (which any local user can read); the URL carries it:
 * redis://:SECRET@127.0.0.1:P. Left out: TLS, ACL users, replicas.
 *
 * Account: as root the server runs as the `redis` system account (setresuid in
 * the child, <ipclab/server.h>); what it writes (redis.conf, log, socket, AOF)
 * lives in DIR/redis/, a 0700 subdir owned by that account, and DIR itself
 * stays ours (0711). Without a `redis` account it keeps root (a Debian
 * redis-server package always creates one). Not root: it runs as us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

#define REDIS_PORT_TRIES   5
#define REDIS_DEFAULT_PORT 6379 /* a system instance may own it: never used */

/* Find an executable redis-server on PATH or in the package's directories. */
static int redis_find_binary(char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[1024];
	char *save = NULL;

	snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin",
		 path && *path ? path : "");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (!*d)
			continue;
		if (snprintf(out, cap, "%s/redis-server", d) >= (int)cap)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/*
 * The end of file path (redis-server's reason for dying) into tail, and its
 * last non-empty line into line.
 */
static void redis_log_tail(const char *path, char *tail, size_t cap, char *line,
			   size_t lcap)
{
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* the server's dir */
	char *nl;

	tail[0] = line[0] = 0;
	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);

		lseek(fd, size > (off_t)cap - 1 ? size - (off_t)(cap - 1) : 0, SEEK_SET);
		n = read(fd, tail, cap - 1);
		close(fd);
	}
	if (n <= 0)
		return;
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		n--;
	tail[n] = 0;
	nl = strrchr(tail, '\n');
	snprintf(line, lcap, "%s", nl ? nl + 1 : tail);
}

/*
 * Fork and exec redis-server as u for dir and port; its files go to
 * dir/redis/ (the log is dir/redis/log), stdout and stderr to dir/stdout.log
 * (opened before the switch to u). Returns the pid or -errno.
 */
static pid_t redis_spawn(const char *bin, const char *dir, int port,
			 const struct ipcl_server_user *u)
{
	char srv[160];
	char portstr[16], sock[160], log[160], out[160], conf[160];
	const char *aof = getenv("IPCLAB_REDIS_AOF");
	const char *appendonly = "no", *fsync = "everysec";
	pid_t pid;

	if (aof && *aof && strcmp(aof, "off") != 0) {
		appendonly = "yes";
		fsync = aof;
	}
	snprintf(portstr, sizeof portstr, "%d", port);
	snprintf(srv, sizeof srv, "%s/redis", dir);
	snprintf(sock, sizeof sock, "%s/redis/redis.sock", dir);
	snprintf(log, sizeof log, "%s/redis/log", dir);
	snprintf(out, sizeof out, "%s/stdout.log", dir);
	snprintf(conf, sizeof conf, "%s/redis/redis.conf", dir);
	char *const argv[] = {(char *)bin,
			      conf,
			      "--bind",
			      "127.0.0.1",
			      "--port",
			      portstr,
			      "--unixsocket",
			      sock,
			      "--unixsocketperm",
			      "700",
			      "--save",
			      "",
			      "--appendonly",
			      (char *)appendonly,
			      "--appendfsync",
			      (char *)fsync,
			      "--dir",
			      srv,
			      "--logfile",
			      log,
			      "--daemonize",
			      "no",
			      NULL};

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Child: only async-signal-safe calls until exec. */
		int in = open("/dev/null", O_RDONLY);
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);

		if (in < 0 || fd < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(126);
		if (ipcl_server_user_drop(u) < 0 || chdir(srv) < 0)
			_exit(126);
		setsid(); /* no terminal signals; stopped by PID only */
		execv(bin, argv);
		_exit(127);
	}
	return pid;
}

/*
 * Send a RESP command on fd and read one reply into buf (NUL-terminated): a
 * status/error line, or a bulk string's body. Returns 0, -ETIMEDOUT, -EPROTO.
 */
static int redis_exchange(int fd, const char *cmd, char *buf, size_t cap,
			  int64_t deadline_ns)
{
	size_t have = 0, need = 0;
	ssize_t n;

	for (size_t off = 0, len = strlen(cmd); off < len; off += (size_t)n) {
		n = write(fd, cmd + off, len - off);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0)
			return -errno;
	}
	for (;;) {
		char *eol;
		int rc;

		if (have >= cap - 1)
			return -EPROTO;
		rc = ipcl_fd_wait(fd, POLLIN, deadline_ns);
		if (rc)
			return rc;
		n = read(fd, buf + have, cap - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		have += (size_t)n;
		buf[have] = 0;
		eol = strstr(buf, "\r\n");
		if (!eol)
			continue;
		if (buf[0] != '$') {
			*eol = 0;
			return 0;
		}
		if (!need) {
			long blen = strtol(buf + 1, NULL, 10);

			if (blen < 0)
				return -EPROTO;
			need = (size_t)(eol + 2 - buf) + (size_t)blen + 2;
		}
		if (have >= need) {
			size_t hdr = (size_t)(eol + 2 - buf);

			memmove(buf, buf + hdr, need - hdr - 2);
			buf[need - hdr - 2] = 0;
			return 0;
		}
	}
}

/* Copy the value of "key:" from an INFO reply into out; 0 or -ENOENT. */
static int redis_info_field(const char *info, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	for (const char *p = info; p && *p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			size_t n = strcspn(p + klen + 1, "\r\n");

			snprintf(out, cap, "%.*s", (int)n, p + klen + 1);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Wait until the server on port answers PING and is our pid, or it dies.
 * Returns 0 (version filled), -EADDRINUSE when it could not bind, -ETIMEDOUT,
 * or another error with err set.
 */
static int redis_wait_ready(struct ipcl_server *s, const char *secret,
			    int64_t deadline_ns, char *err)
{
	char info[8192], auth[128];
	char why[200], pidstr[32];
	int status;

	snprintf(auth, sizeof auth, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n", strlen(secret),
		 secret);
	for (;;) {
		int64_t now = ipcl_now_ns(), step = now + 100 * 1000000LL;
		int64_t talk =
		    now + 500 * 1000000LL; /* a foreign listener may never answer */
		pid_t r = waitpid(s->pid, &status, WNOHANG);
		int fd, rc;

		if (r == s->pid) {
			char logp[160];

			s->pid = 0;
			snprintf(logp, sizeof logp, "%s/redis/log", s->dir);
			redis_log_tail(logp, info, sizeof info, why, sizeof why);
			if (!why[0]) {
				snprintf(logp, sizeof logp, "%s/stdout.log", s->dir);
				redis_log_tail(logp, info, sizeof info, why, sizeof why);
			}
			if (strstr(info, "Address already in use"))
				return -EADDRINUSE;
			return ipcl_seterr(err, IPCL_EUNAVAIL,
					   "redis-server exited (status %d): %s",
					   WIFEXITED(status) ? WEXITSTATUS(status) : -1,
					   why[0] ? why : "no log");
		}
		if (now >= deadline_ns)
			return ipcl_seterr(err, -ETIMEDOUT,
					   "redis-server on port %d not ready in time "
					   "(log: %s/redis/log)",
					   s->port, s->dir);
		fd = ipcl_connect_tcp("127.0.0.1", s->port,
				      step < deadline_ns ? step : deadline_ns);
		if (fd < 0)
			continue; /* not listening yet: check the child again */
		if (talk > deadline_ns)
			talk = deadline_ns;
		rc = redis_exchange(fd, auth, info, sizeof info, talk);
		if (rc == 0 && strcmp(info, "+OK") != 0)
			rc = -EAGAIN; /* -LOADING, or a foreign server on the port */
		if (rc == 0)
			rc = redis_exchange(fd, "*1\r\n$4\r\nPING\r\n", info, sizeof info,
					    talk);
		if (rc == 0 && strcmp(info, "+PONG") != 0)
			rc = -EAGAIN; /* -LOADING and the like: ask again */
		if (rc == 0)
			rc = redis_exchange(fd, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n",
					    info, sizeof info, talk);
		close(fd);
		if (rc) {
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
			continue;
		}
		if (redis_info_field(info, "process_id", pidstr, sizeof pidstr) < 0 ||
		    atol(pidstr) != (long)s->pid) {
			/* Someone else owns the port; ours will fail to bind. */
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
			continue;
		}
		if (redis_info_field(info, "redis_version", s->version,
				     sizeof s->version) < 0)
			snprintf(s->version, sizeof s->version, "unknown");
		return 0;
	}
}

/* The config file: the password, where no other user can read it (0600, the
 * server's account's). */
static int redis_write_conf(const char *dir, const char *secret,
			    const struct ipcl_server_user *u, char *err)
{
	char path[160], text[128];
	int fd, n, rc = 0;

	snprintf(path, sizeof path, "%s/redis/redis.conf", dir);
	n = snprintf(text, sizeof text, "requirepass %s\n", secret);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ipcl_seterr(err, -errno, "%s: %s", path, strerror(errno));
	if (write(fd, text, (size_t)n) != n)
		rc = ipcl_seterr(err, -EIO, "writing %s", path);
	else if (u->drop && fchown(fd, u->uid, u->gid) < 0)
		rc = ipcl_seterr(err, -errno, "chown %s: %s", path, strerror(errno));
	if (close(fd) < 0 && !rc)
		rc = ipcl_seterr(err, -errno, "closing %s", path);
	explicit_bzero(text, sizeof text);
	return rc;
}

/* Start redis-server in s->dir (made by the caller); see the top of this file. */
static int redis_server_start(struct ipcl_server *s, int64_t deadline_ns, char *err)
{
	char bin[512], log[160], secret[40];
	struct ipcl_server_user u;
	int rc;

	if (redis_find_binary(bin, sizeof bin) < 0)
		return ipcl_seterr(
		    err, IPCL_EUNAVAIL,
		    "redis-server not found: apt-get install redis-server");
	rc = ipcl_server_secret(secret, sizeof secret, 16);
	if (rc)
		return ipcl_seterr(err, rc, "getrandom: %s", strerror(-rc));
	/* No `redis` account (rc -ENOENT): the server keeps our uid (see the top). */
	(void)ipcl_server_user("redis", &u);
	if (u.drop && chmod(s->dir, 0711) < 0) {
		rc = ipcl_seterr(err, -errno, "chmod %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	rc = ipcl_server_user_dir(s->dir, "redis", &u, log, sizeof log);
	if (rc) {
		ipcl_seterr(err, rc, "%s: %s", log, strerror(-rc));
		goto fail;
	}
	rc = redis_write_conf(s->dir, secret, &u, err);
	if (rc)
		goto fail;
	for (int attempt = 0; attempt < REDIS_PORT_TRIES; attempt++) {
		pid_t pid;

		s->port = ipcl_free_port();
		if (s->port <= 0) {
			rc = ipcl_seterr(err, -errno, "no free loopback port: %s",
					 strerror(errno));
			goto fail;
		}
		if (s->port == REDIS_DEFAULT_PORT)
			continue;
		/* A fresh log per attempt: the reason to retry is read from it. */
		snprintf(log, sizeof log, "%s/redis/log", s->dir);
		unlink(log);
		pid = redis_spawn(bin, s->dir, s->port, &u);
		if (pid < 0) {
			rc = ipcl_seterr(err, pid, "fork: %s", strerror(-pid));
			goto fail;
		}
		s->pid = pid;
		rc = redis_wait_ready(s, secret, deadline_ns, err);
		if (rc == 0) {
			snprintf(s->url, sizeof s->url, "redis://:%s@127.0.0.1:%d",
				 secret, s->port);
			explicit_bzero(secret, sizeof secret);
			return 0;
		}
		if (rc != -EADDRINUSE)
			goto fail;
	}
	rc = ipcl_seterr(err, -EADDRINUSE, "redis-server: no free port after %d tries",
			 REDIS_PORT_TRIES);
fail:
	explicit_bzero(secret, sizeof secret);
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = 0;
	s->url[0] = 0;
	s->port = 0;
	return rc; /* the caller removes the dir */
}

const struct ipcl_server_kind ipcl_server_redis = {
    .name = "redis",
    .url_env = "IPCLAB_REDIS_URL",
    .scheme = "redis://",
    .dir_tag = "redis",
    .stop_signal = SIGTERM,
    .start = redis_server_start,
};
