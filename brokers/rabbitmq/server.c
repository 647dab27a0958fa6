/*
 * server.c - a throwaway RabbitMQ node started from the installed package
 * (/usr/lib/rabbitmq/bin/rabbitmq-server, 3.10 here): its own epmd on a free
 * loopback port, the node's AMQP and distribution listeners on free loopback
 * ports, and everything it writes (Mnesia, logs, cookie, pid file) in one short
 * temp dir. Readiness is a real AMQP exchange: the protocol header, answered by
 * a Connection.Start frame whose server properties give the version.
 *
 * Authentication: the node is created with a user of its own, `ipcl`, whose
 * password is a random per-instance secret (ipcl_server_secret), given as
 * default_user/default_pass in the 0600 rabbitmq.conf: the guest user is never
 * created. The URL carries it: amqp://ipcl:SECRET@127.0.0.1:P/.
 *
 * Uses fork(2) + execve(2) with an environment built from scratch (no inherited
 * RABBITMQ_* or ERL_* variable can point the node at a system instance), and a
 * plain socket for the readiness check. Leaves out TLS, clustering and plugins
 * (enabled_plugins holds `[].`, so no management UI).
 *
 * Process shape: RABBITMQ_ALLOW_INPUT makes the script exec erl, which execs
 * beam.smp, instead of running the VM as a background child behind a shell trap.
 * s->pid is then the Erlang VM itself (the node's pid file says the same), so
 * the harness's SIGTERM reaches the VM, which stops gracefully in 1-3 s, and its
 * SIGKILL after a stuck stop leaves no VM behind. The script's -noinput is given
 * back through RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS. A SIGINT (Ctrl-C on the
 * terminal) makes the VM abort at once: a throwaway node is never orphaned.
 *
 * Account: as root, epmd and the node run as the `rabbitmq` system account
 * (setresuid in the child, <ipclab/server.h>); everything the node reads or
 * writes (config, Mnesia, logs, pid file, HOME with the Erlang cookie) lives
 * in DIR/node/, a 0700 subdir owned by that account, while DIR itself stays
 * ours (0711) with the console log and epmd.pid. The cookie is written here,
 * before the node starts: 32 random bytes (getrandom) as 64 hex characters,
 * mode 0400, the node's account's. Without a `rabbitmq` account the node
 * keeps root (the Debian package always creates one). Not root: it runs as us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/server.h>
#include <ipclab/transport.h>

#define RABBITMQ_SCRIPT  "/usr/lib/rabbitmq/bin/rabbitmq-server"
#define RABBITMQ_HOST    "127.0.0.1"
#define RABBITMQ_NENV    24
#define RABBITMQ_ENVLEN  200
#define RABBITMQ_POLL_NS (100 * 1000 * 1000LL)

/* Everything execve() needs, prepared before fork(): the child only calls
 * async-signal-safe functions. */
struct rabbitmq_exec {
	const char *path;
	char *argv[8];
	char *envp[RABBITMQ_NENV + 1];
	char envbuf[RABBITMQ_NENV][RABBITMQ_ENVLEN];
	int nenv;
};

static int rabbitmq_env(struct rabbitmq_exec *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one NAME=value to x's environment; -ENAMETOOLONG if it does not fit. */
static int rabbitmq_env(struct rabbitmq_exec *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->nenv >= RABBITMQ_NENV)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(x->envbuf[x->nenv], RABBITMQ_ENVLEN, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= RABBITMQ_ENVLEN)
		return -ENAMETOOLONG;
	x->envp[x->nenv] = x->envbuf[x->nenv];
	x->envp[++x->nenv] = NULL;
	return 0;
}

/* Write a new small file of the node's (mode, then owned by u when u->drop:
 * NULL for ours). */
static int rabbitmq_write_file(const char *dir, const char *name, const char *text,
			       mode_t mode, const struct ipcl_server_user *u)
{
	char path[160];
	size_t len = strlen(text), off = 0;
	int fd, rc = 0;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (u && u->drop && fchown(fd, u->uid, u->gid) < 0)
		rc = -errno;
	while (!rc && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

/*
 * fork + execve as u with stdin on /dev/null, stdout and stderr appended to
 * outfd, the working directory in dir, default signal handling and no other
 * inherited descriptors. Returns the child's pid or -errno.
 */
static pid_t rabbitmq_spawn(const struct rabbitmq_exec *x, const char *dir, int outfd,
			    const struct ipcl_server_user *u)
{
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid;

	if (nullfd < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(nullfd);
		return -e;
	}
	if (pid == 0) {
		static const int sigs[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP,
					   SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigset_t none;

		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			sigaction(sigs[i], &dfl, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0 ||
		    ipcl_server_user_drop(u) < 0 || chdir(dir) < 0)
			_exit(127);
		close_range(3, ~0u, 0);
		execve(x->path, x->argv, x->envp);
		_exit(127);
	}
	close(nullfd);
	return pid;
}

/* 1 if pid is gone (reaped here, or not our child and no longer there). */
static int rabbitmq_exited(pid_t pid, int *status)
{
	pid_t r = waitpid(pid, status, WNOHANG);

	if (r == pid)
		return 1;
	if (r < 0 && errno == ECHILD && kill(pid, 0) < 0) {
		*status = -1;
		return 1;
	}
	return 0;
}

static void rabbitmq_describe_exit(int status, char *out, size_t cap)
{
	if (status == -1)
		snprintf(out, cap, "exited");
	else if (WIFEXITED(status))
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, cap, "stopped");
}

/* Read exactly len bytes from a socket until deadline: 0, IPCL_EOF or -errno. */
static int rabbitmq_read_full(int fd, unsigned char *buf, size_t len, int64_t deadline_ns)
{
	size_t off = 0;

	while (off < len) {
		int64_t left = deadline_ns - ipcl_now_ns();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(left / 1000000 + 1));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(fd, buf + off, len - off, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return IPCL_EOF;
		off += (size_t)n;
	}
	return 0;
}

static uint32_t rabbitmq_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Find the long-string property `key` in an AMQP field table (the server
 * properties of Connection.Start) and copy it into out. Returns 0 if found.
 * Values of other types are skipped by their encoded size; an unknown type
 * ends the search.
 */
static int rabbitmq_table_string(const unsigned char *t, size_t len, const char *key,
				 char *out, size_t cap)
{
	size_t off = 0, klen = strlen(key);

	while (off < len) {
		size_t nlen = t[off], vlen;
		const unsigned char *name = t + off + 1;
		unsigned char type;

		if (off + 1 + nlen + 1 > len)
			return -1;
		type = t[off + 1 + nlen];
		off += 2 + nlen;
		switch (type) {
		case 'S':
		case 'F':
		case 'A':
		case 'x':
			if (off + 4 > len)
				return -1;
			vlen = rabbitmq_be32(t + off);
			if (off + 4 + vlen > len)
				return -1;
			if (type == 'S' && nlen == klen && memcmp(name, key, klen) == 0) {
				snprintf(out, cap, "%.*s", (int)vlen,
					 (const char *)t + off + 4);
				return 0;
			}
			off += 4 + vlen;
			break;
		case 't':
		case 'b':
		case 'B':
			off += 1;
			break;
		case 'u':
		case 'U':
		case 's':
			off += 2;
			break;
		case 'i':
		case 'I':
		case 'f':
			off += 4;
			break;
		case 'D':
			off += 5;
			break;
		case 'l':
		case 'L':
		case 'd':
		case 'T':
			off += 8;
			break;
		case 'V':
			break;
		default:
			return -1;
		}
	}
	return -1;
}

/*
 * One readiness attempt: connect to the AMQP port, send the 0-9-1 protocol
 * header and read one frame, which must be Connection.Start on channel 0. On
 * success the server's "version" property goes into version. Returns 0, or
 * -ECONNREFUSED / -ETIMEDOUT / IPCL_EOF / IPCL_EPROTO when not (yet) ready.
 */
static int rabbitmq_amqp_ready(int port, int64_t deadline_ns, char *version, size_t cap)
{
	static const unsigned char hello[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
	unsigned char hdr[7], *payload = NULL;
	uint32_t size;
	int fd, rc;

	fd = ipcl_connect_tcp(RABBITMQ_HOST, port, 0); /* one attempt */
	if (fd < 0)
		return fd == -ETIMEDOUT ? -ECONNREFUSED : fd;
	if (send(fd, hello, sizeof hello, MSG_NOSIGNAL) != (ssize_t)sizeof hello) {
		rc = -errno;
		goto out;
	}
	rc = rabbitmq_read_full(fd, hdr, sizeof hdr, deadline_ns);
	if (rc)
		goto out;
	size = rabbitmq_be32(hdr + 3);
	/* type 1 = method frame, channel 0; Connection.Start is a few hundred bytes */
	if (hdr[0] != 1 || hdr[1] != 0 || hdr[2] != 0 || size < 14 || size > 65536) {
		rc = IPCL_EPROTO;
		goto out;
	}
	payload = malloc(size + 1);
	if (!payload) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rabbitmq_read_full(fd, payload, size + 1, deadline_ns);
	if (rc)
		goto out;
	/* class 10 (connection), method 10 (start), frame-end octet 0xCE */
	if (payload[0] != 0 || payload[1] != 10 || payload[2] != 0 || payload[3] != 10 ||
	    payload[size] != 0xCE) {
		rc = IPCL_EPROTO;
		goto out;
	}
	{
		uint32_t tlen = rabbitmq_be32(payload + 6);

		if (tlen > size - 10 ||
		    rabbitmq_table_string(payload + 10, tlen, "version", version, cap) !=
			0)
			snprintf(version, cap, "unknown");
	}
out:
	free(payload);
	close(fd);
	return rc;
}

/* The last non-empty line of a file, trimmed, into out ("" if none). */
static void rabbitmq_last_line(const char *path, char *out, size_t cap)
{
	char buf[2048];
	ssize_t n = 0;
	off_t size;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* the node's dir */

	out[0] = 0;
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		off_t from =
		    size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;

		n = pread(fd, buf, sizeof buf - 1, from);
	}
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	{
		char *line = strrchr(buf, '\n');

		line = line ? line + 1 : buf;
		while (*line == ' ' || *line == '\t')
			line++;
		snprintf(out, cap, "%s", line);
	}
}

/* The node log's last line, or the console output's when the log is empty. */
static void rabbitmq_log_tail(const struct ipcl_server *s, const char *node, char *out,
			      size_t cap)
{
	char path[200];

	snprintf(path, sizeof path, "%s/node/log/%s.log", s->dir, node);
	rabbitmq_last_line(path, out, cap);
	if (!out[0]) {
		snprintf(path, sizeof path, "%s/console.log", s->dir);
		rabbitmq_last_line(path, out, cap);
	}
	if (!out[0])
		snprintf(out, cap, "(no log output)");
}

/* Three distinct free loopback ports: epmd, AMQP, distribution (all <= 65535). */
static int rabbitmq_ports(int port[3])
{
	for (int i = 0; i < 3; i++) {
		for (int tries = 0;; tries++) {
			int dup = 0;

			port[i] = ipcl_free_port();
			if (port[i] == 0)
				return errno ? -errno : -EADDRNOTAVAIL;
			for (int j = 0; j < i; j++)
				dup |= port[j] == port[i];
			if (!dup)
				break;
			if (tries >= 20)
				return -EADDRINUSE;
		}
	}
	return 0;
}

/* Stop what was started and remove the dir, keeping err (set by the caller). */
static int rabbitmq_fail(struct ipcl_server *s, int rc)
{
	ipcl_server_stop(s);
	s->url[0] = 0;
	s->version[0] = 0;
	s->port = 0;
	return rc;
}

static int rabbitmq_server_start(struct ipcl_server *s, int64_t deadline_ns, char *err)
{
	static const char *const epmd_paths[] = {"/usr/bin/epmd",
						 "/usr/lib/erlang/bin/epmd"};
	struct rabbitmq_exec *ex = NULL, *rx = NULL;
	char node[64], tail[160], how[48], secret[40], conf[256], cookie[72];
	char eport_s[16], pidbuf[24], *logpath = NULL, home[160];
	struct ipcl_server_user u;
	int port[3], outfd = -1, rc, status = 0;
	const char *epmd = NULL;
	int64_t epmd_deadline;

	s->pid = s->aux_pid = 0;
	secret[0] = cookie[0] = 0;
	for (size_t i = 0; i < sizeof epmd_paths / sizeof epmd_paths[0]; i++)
		if (!epmd && access(epmd_paths[i], X_OK) == 0)
			epmd = epmd_paths[i];
	if (access(RABBITMQ_SCRIPT, X_OK) != 0 || !epmd)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "rabbitmq: %s or epmd not installed (apt-get install "
				   "--no-install-recommends rabbitmq-server)",
				   RABBITMQ_SCRIPT);
	ex = calloc(1, sizeof *ex);
	rx = calloc(1, sizeof *rx);
	logpath = malloc(200);
	if (!ex || !rx || !logpath) {
		rc = ipcl_seterr(err, -ENOMEM, "rabbitmq: out of memory");
		goto out;
	}
	rc = ipcl_server_secret(secret, sizeof secret, 16);
	if (!rc)
		rc = ipcl_server_secret(cookie, sizeof cookie, 32);
	if (rc) {
		ipcl_seterr(err, rc, "rabbitmq: getrandom: %s", strerror(-rc));
		goto out;
	}
	rc = rabbitmq_ports(port);
	if (rc) {
		ipcl_seterr(err, rc, "rabbitmq: no free loopback port: %s",
			    strerror(-rc));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}
	snprintf(node, sizeof node, "ipcl%ld@localhost", (long)getpid());

	/* The node's own dir (see the top): no `rabbitmq` account, and the node
	 * keeps our uid. */
	(void)ipcl_server_user("rabbitmq", &u);
	rc = u.drop && chmod(s->dir, 0711) < 0 ? -errno : 0;
	if (!rc)
		rc = ipcl_server_user_dir(s->dir, "node", &u, home, sizeof home);
	if (rc) {
		ipcl_seterr(err, rc, "rabbitmq: making %s/node: %s", s->dir,
			    strerror(-rc));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}
	/* The node's files: no plugins, a loopback-only config, no env overrides,
	 * the Erlang cookie in its HOME. */
	rc = rabbitmq_write_file(home, ".erlang.cookie", cookie, 0400, &u);
	explicit_bzero(cookie, sizeof cookie);
	if (!rc)
		rc = rabbitmq_write_file(home, "enabled_plugins", "[].\n", 0600, &u);
	snprintf(conf, sizeof conf,
		 "# ipclab throwaway node (brokers/rabbitmq/server.c)\n"
		 "log.console = false\n"
		 "log.file.level = info\n"
		 "default_user = ipcl\n"
		 "default_pass = %s\n"
		 "default_user_tags.administrator = true\n",
		 secret);
	if (!rc)
		rc = rabbitmq_write_file(home, "rabbitmq.conf", conf, 0600, &u);
	explicit_bzero(conf, sizeof conf);
	if (!rc)
		rc = rabbitmq_write_file(home, "rabbitmq-env.conf", "", 0600, &u);
	if (!rc) /* empty: no system conf.d */
		rc = ipcl_server_user_dir(home, "conf.d", &u, logpath, 200);
	if (rc) {
		ipcl_seterr(err, rc, "rabbitmq: writing the config in %s: %s", s->dir,
			    strerror(-rc));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}
	snprintf(logpath, 200, "%s/console.log", s->dir);
	outfd =
	    open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (outfd < 0) {
		rc = ipcl_seterr(err, -errno, "rabbitmq: %s: %s", logpath,
				 strerror(errno));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}

	/* Our own epmd, on loopback only: the node registers there, never on 4369. */
	snprintf(eport_s, sizeof eport_s, "%d", port[0]);
	ex->path = epmd;
	ex->argv[0] = "epmd";
	ex->argv[1] = "-port";
	ex->argv[2] = eport_s;
	ex->argv[3] = "-address";
	ex->argv[4] = RABBITMQ_HOST;
	ex->argv[5] = NULL;
	rc = rabbitmq_env(ex, "PATH=/usr/bin:/bin");
	if (rc)
		goto envfail;
	s->aux_pid = rabbitmq_spawn(ex, home, outfd, &u);
	if (s->aux_pid < 0) {
		rc = s->aux_pid;
		s->aux_pid = 0;
		ipcl_seterr(err, rc, "rabbitmq: starting %s: %s", epmd, strerror(-rc));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}
	snprintf(pidbuf, sizeof pidbuf, "%ld\n", (long)s->aux_pid);
	rabbitmq_write_file(s->dir, "epmd.pid", pidbuf, 0600,
			    NULL); /* for a crash clean-up */
	epmd_deadline = ipcl_now_ns() + 5 * 1000000000LL;
	if (epmd_deadline > deadline_ns)
		epmd_deadline = deadline_ns;
	for (;;) {
		int fd = ipcl_connect_tcp(RABBITMQ_HOST, port[0], 0);

		if (fd >= 0) {
			close(fd);
			break;
		}
		if (rabbitmq_exited(s->aux_pid, &status)) {
			s->aux_pid = 0;
			rabbitmq_describe_exit(status, how, sizeof how);
			rabbitmq_last_line(logpath, tail, sizeof tail);
			rc = ipcl_seterr(err, IPCL_EUNAVAIL,
					 "rabbitmq: epmd on port %d %s: %s", port[0], how,
					 tail);
			rc = rabbitmq_fail(s, rc);
			goto out;
		}
		if (ipcl_now_ns() >= epmd_deadline) {
			rc = ipcl_seterr(
			    err, -ETIMEDOUT,
			    "rabbitmq: epmd did not listen on port %d in time", port[0]);
			rc = rabbitmq_fail(s, rc);
			goto out;
		}
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}

	/* The node: the real script, exec'd down to beam.smp (see the top). */
	rx->path = RABBITMQ_SCRIPT;
	rx->argv[0] = "rabbitmq-server";
	rx->argv[1] = NULL;
	rc = rabbitmq_env(rx, "PATH=/usr/local/bin:/usr/bin:/bin");
	rc = rc ? rc : rabbitmq_env(rx, "HOME=%s", home);
	rc = rc ? rc : rabbitmq_env(rx, "LANG=C.UTF-8");
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_NODENAME=%s", node);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_NODE_IP_ADDRESS=%s", RABBITMQ_HOST);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_NODE_PORT=%d", port[1]);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_DIST_PORT=%d", port[2]);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_MNESIA_BASE=%s/mnesia", home);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_LOG_BASE=%s/log", home);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_PID_FILE=%s/pid", home);
	rc = rc ? rc
		: rabbitmq_env(rx, "RABBITMQ_ENABLED_PLUGINS_FILE=%s/enabled_plugins",
			       home);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_CONFIG_FILE=%s/rabbitmq.conf", home);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_CONFIG_FILES=%s/conf.d", home);
	rc = rc ? rc
		: rabbitmq_env(rx, "RABBITMQ_ADVANCED_CONFIG_FILE=%s/advanced.config",
			       home);
	rc = rc ? rc
		: rabbitmq_env(rx, "RABBITMQ_CONF_ENV_FILE=%s/rabbitmq-env.conf", home);
	rc = rc ? rc
		: rabbitmq_env(rx, "RABBITMQ_FEATURE_FLAGS_FILE=%s/feature_flags", home);
	rc = rc ? rc : rabbitmq_env(rx, "RABBITMQ_ALLOW_INPUT=1");
	rc = rc ? rc
		: rabbitmq_env(rx, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-noinput -kernel "
				   "inet_dist_use_interface {127,0,0,1}");
	rc = rc ? rc : rabbitmq_env(rx, "ERL_EPMD_PORT=%d", port[0]);
	rc = rc ? rc : rabbitmq_env(rx, "ERL_EPMD_ADDRESS=%s", RABBITMQ_HOST);
	rc = rc ? rc : rabbitmq_env(rx, "ERL_CRASH_DUMP=%s/erl_crash.dump", home);
	if (rc)
		goto envfail;
	s->pid = rabbitmq_spawn(rx, home, outfd, &u);
	if (s->pid < 0) {
		rc = s->pid;
		s->pid = 0;
		ipcl_seterr(err, rc, "rabbitmq: starting %s: %s", RABBITMQ_SCRIPT,
			    strerror(-rc));
		rc = rabbitmq_fail(s, rc);
		goto out;
	}

	/* Ready when the AMQP port answers the protocol header with Connection.Start. */
	for (;;) {
		int64_t attempt = ipcl_now_ns() + 5 * 1000000000LL;

		rc = rabbitmq_amqp_ready(port[1],
					 attempt < deadline_ns ? attempt : deadline_ns,
					 s->version, sizeof s->version);
		if (rc == 0)
			break;
		if (rabbitmq_exited(s->pid, &status)) {
			s->pid = 0;
			rabbitmq_describe_exit(status, how, sizeof how);
			rabbitmq_log_tail(s, node, tail, sizeof tail);
			rc = ipcl_seterr(err, IPCL_EUNAVAIL,
					 "rabbitmq-server (port %d) %s: %s", port[1], how,
					 tail);
			rc = rabbitmq_fail(s, rc);
			goto out;
		}
		if (ipcl_now_ns() + RABBITMQ_POLL_NS >= deadline_ns) {
			rabbitmq_log_tail(s, node, tail, sizeof tail);
			rc = ipcl_seterr(
			    err, -ETIMEDOUT,
			    "rabbitmq-server (port %d) not ready by the deadline "
			    "(%s); last log line: %s",
			    port[1], ipcl_errname(rc), tail);
			rc = rabbitmq_fail(s, rc);
			goto out;
		}
		nanosleep(&(struct timespec){0, RABBITMQ_POLL_NS}, NULL);
	}
	s->port = port[1];
	snprintf(s->url, sizeof s->url, "amqp://ipcl:%s@%s:%d/", secret, RABBITMQ_HOST,
		 port[1]);
	rc = 0;
	goto out;

envfail:
	ipcl_seterr(err, rc, "rabbitmq: environment too long for %s", s->dir);
	rc = rabbitmq_fail(s, rc);
out:
	explicit_bzero(secret, sizeof secret);
	explicit_bzero(cookie, sizeof cookie);
	if (outfd >= 0)
		close(outfd);
	free(logpath);
	free(ex);
	free(rx);
	return rc;
}

const struct ipcl_server_kind ipcl_server_rabbitmq = {
    .name = "rabbitmq",
    .url_env = "IPCLAB_AMQP_URL",
    .scheme = "amqp://",
    .dir_tag = "rmq",
    .stop_signal = SIGTERM,
    .start = rabbitmq_server_start,
};
