/*
 * server.c - the throwaway-server table and what every kind shares: the list of
 * kinds (gen/ipclab_servers.def, made by CMake from the brokers/<kind>/server.c
 * that are built), the private dir, the watchdog that stops a server when its
 * owner dies, stopping by PID, and the small socket helpers of the launchers.
 *
 * Uses fork, pipe2, poll, kill, waitpid, /proc/PID/{cwd,status,stat},
 * ipcl_remove_tree_at (openat/unlinkat: never follows a symlink), getrandom. Stopping is
 * by PID only: the kind's stop signal, then SIGKILL after 10 s. Leaves out: anything a
 * broker does beyond its table; this file names no broker symbol.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

#include "servers/servers.h"

#define IPCL_SERVER(name, sym) extern const struct ipcl_server_kind sym;
#include "ipclab_servers.def"
#undef IPCL_SERVER

static const struct ipcl_server_kind *const server_kinds[] = {
#define IPCL_SERVER(name, sym) &sym,
#include "ipclab_servers.def"
#undef IPCL_SERVER
    NULL};

#define NS (1000000000LL)

const struct ipcl_server_kind *ipcl_server_kind_at(size_t i)
{
	return i < sizeof server_kinds / sizeof server_kinds[0] ? server_kinds[i] : NULL;
}

const struct ipcl_server_kind *ipcl_server_kind(const char *name)
{
	for (size_t i = 0; server_kinds[i]; i++)
		if (strcmp(server_kinds[i]->name, name) == 0)
			return server_kinds[i];
	return NULL;
}

const char *ipcl_server_env(const char *kind)
{
	const struct ipcl_server_kind *k = ipcl_server_kind(kind);

	return k ? k->url_env : NULL;
}

int ipcl_server_secret(char *out, size_t cap, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes > sizeof raw || cap < 2 * nbytes + 1)
		return -EINVAL;
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = 0;
	explicit_bzero(raw, sizeof raw);
	return 0;
}

/* ---- processes inside a dir ------------------------------------------------ */

/* 1 if path (resolved by the kernel) is dir or lies under it. */
static int server_path_in(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The real and effective uid of pid (/proc/PID/status "Uid:"); 0 or -1. */
static int server_pid_uids(pid_t pid, uid_t *ruid, uid_t *euid)
{
	char p[64], buf[4096], *u;
	unsigned long r, e;
	ssize_t n;
	int fd;

	snprintf(p, sizeof p, "/proc/%ld/status", (long)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	u = strstr(buf, "\nUid:");
	if (!u || sscanf(u + 5, "%lu %lu", &r, &e) != 2)
		return -1;
	*ruid = (uid_t)r;
	*euid = (uid_t)e;
	return 0;
}

/*
 * 1 if uid may run a server of the dir real: the dir's owner (us), or the
 * owner of one of its immediate subdirectories, which the launcher made for
 * the server's system account (nobody else can make entries in a dir that is
 * not writable by group or others; such a dir trusts no subdirectory).
 */
static int server_uid_ok(const char *real, uid_t uid)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int fd, ok = 0;

	fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	if (st.st_uid == uid) {
		close(fd);
		return 1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH) || !(d = fdopendir(fd))) {
		close(fd);
		return 0;
	}
	while (!ok && (e = readdir(d)) != NULL) {
		struct stat sub;

		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		ok = fstatat(dirfd(d), e->d_name, &sub, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISDIR(sub.st_mode) && sub.st_uid == uid;
	}
	closedir(d);
	return ok;
}

int ipcl_server_owns_pid(const char *dir, pid_t pid)
{
	char real[PATH_MAX], p[64], link[PATH_MAX];
	uid_t ruid, euid;
	ssize_t n;

	if (pid <= 0 || !dir || !*dir || !realpath(dir, real))
		return 0;
	/* Every process a launcher starts works in its dir (chdir before exec;
	 * the servers stay there). A command line naming the dir is not enough:
	 * anyone can run `sleep inf DIR`. */
	snprintf(p, sizeof p, "/proc/%ld/cwd", (long)pid);
	n = readlink(p, link, sizeof link - 1);
	if (n <= 0)
		return 0;
	link[n] = 0;
	if (!server_path_in(link, real))
		return 0;
	/* And it runs as us or as the server's account, with no other uid. */
	if (server_pid_uids(pid, &ruid, &euid) < 0)
		return 0;
	return server_uid_ok(real, ruid) && (euid == ruid || server_uid_ok(real, euid));
}

int ipcl_servers_signal_dir(const char *dir, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int count = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		if (ipcl_server_owns_pid(dir, (pid_t)pid)) {
			count++;
			if (sig)
				kill((pid_t)pid, sig);
		}
	}
	closedir(d);
	return count;
}

int ipcl_servers_stop_dir(const char *dir, int sig)
{
	int64_t end = ipcl_now_ns() + 10 * NS;
	int n = ipcl_servers_signal_dir(dir, sig), first = n;

	while (n > 0 && ipcl_now_ns() < end) {
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		n = ipcl_servers_signal_dir(dir, 0);
	}
	if (n > 0) {
		ipcl_servers_signal_dir(dir, SIGKILL);
		end = ipcl_now_ns() + 5 * NS;
		while (ipcl_servers_signal_dir(dir, 0) > 0 && ipcl_now_ns() < end)
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	return first;
}

/* ---- the dir ------------------------------------------------------------- */

int ipcl_server_dir_ok(const char *dir)
{
	char real[PATH_MAX], base[PATH_MAX];
	const char *tmp = getenv("TMPDIR"), *name;
	struct stat st;
	int ok = 0;

	if (!dir || !*dir || lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || !realpath(dir, real))
		return 0;
	name = strrchr(real, '/');
	if (!name || name == real)
		return 0;
	snprintf(base, sizeof base, "%.*s", (int)(name - real), real);
	name++;
	/* The parent must be /tmp or $TMPDIR, resolved the same way. */
	{
		char t1[PATH_MAX], t2[PATH_MAX];

		if ((realpath("/tmp", t1) && strcmp(t1, base) == 0) ||
		    (tmp && *tmp && realpath(tmp, t2) && strcmp(t2, base) == 0))
			ok = 1;
	}
	if (!ok)
		return 0;
	for (size_t i = 0; server_kinds[i]; i++) {
		const char *tag = server_kinds[i]->dir_tag;
		size_t tl = strlen(tag);

		if (strncmp(name, "ipcl-", 5) == 0 && strncmp(name + 5, tag, tl) == 0 &&
		    name[5 + tl] == '-' && strlen(name + 6 + tl) == 6)
			return 1;
	}
	return 0;
}

void ipcl_servers_remove_dir(const char *dir)
{
	char real[PATH_MAX], *slash;
	int pfd;

	if (!ipcl_server_dir_ok(dir) || !realpath(dir, real))
		return;
	slash = strrchr(real, '/');
	if (!slash || slash == real)
		return;
	*slash = 0;
	pfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return;
	/* By descriptor, never through a link, only if still ours: parts of the
	 * tree belong to a server's account, which may have changed them. */
	(void)ipcl_remove_tree_at(pfd, slash + 1, geteuid());
	close(pfd);
}

/* The start time (clock ticks after boot) of pid, or 0 when it is gone. */
unsigned long long ipcl_servers_starttime(pid_t pid)
{
	char p[64], buf[1024], *rp;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	rp = strrchr(buf, ')'); /* the command may hold spaces and ')' */
	if (!rp)
		return 0;
	/* field 3 (state) follows ") "; starttime is field 22 */
	if (sscanf(rp + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
		   "%*d %*d %*d %*d %*d %llu",
		   &t) != 1)
		return 0;
	return t;
}

int ipcl_servers_write_owner(const char *dir, const char *text)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t len = strlen(text);
	int fd, rc = 0;

	snprintf(tmp, sizeof tmp, "%s/.owner.tmp", dir);
	snprintf(path, sizeof path, "%s/owner", dir);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		rc = -EIO;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---- the watchdog ------------------------------------------------------------ */

/*
 * The watchdog: a forked child in its own session (terminal signals do not reach
 * it) holding only the read end of a pipe whose write end only the owner holds.
 * read() returns 0 once the owner is gone, however it died (SIGKILL included):
 * then every process inside the dir gets the kind's stop signal (SIGKILL after
 * 10 s), the kind's clean-up runs and the dir is removed.
 * Why not PR_SET_PDEATHSIG: it fires when the forking *thread* exits, it is
 * cleared when the server's credentials change (PostgreSQL as root drops to the
 * postgres user), it reaches only the direct child (not RabbitMQ's epmd nor
 * PostgreSQL's backends), and it cannot express "this server outlives us" for
 * `brokers up`. The watchdog is forked before any role thread exists.
 */
static void server_watchdog(const struct ipcl_server_kind *k, const struct ipcl_server *s,
			    int rfd)
{
	char c;
	ssize_t n;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (dup2(rfd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	{
		int nul = open("/dev/null", O_RDWR);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 3)
				close(nul);
		}
	}
	if (chdir("/") < 0)
		_exit(1);
	do
		n = read(3, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		_exit(0); /* a byte: released without stopping anything */
	ipcl_servers_stop_dir(s->dir, k->stop_signal);
	if (k->cleanup)
		k->cleanup(s);
	ipcl_servers_remove_dir(s->dir);
	_exit(0);
}

/* Fork the watchdog for s, watching rfd; records its pid in the dir's owner file. */
static int server_watch(const struct ipcl_server_kind *k, struct ipcl_server *s, int rfd,
			char *err)
{
	char owner[96];
	pid_t pid = fork();

	if (pid < 0)
		return ipcl_seterr(err, -errno, "fork (server watchdog): %s",
				   strerror(errno));
	if (pid == 0)
		server_watchdog(k, s, rfd);
	s->watch_pid = pid;
	snprintf(owner, sizeof owner, "watchdog %ld %llu\n", (long)pid,
		 ipcl_servers_starttime(pid));
	return ipcl_servers_write_owner(s->dir, owner) == 0
		   ? 0
		   : ipcl_seterr(err, -EIO, "writing %s/owner", s->dir);
}

static int server_start(const char *kind, struct ipcl_server *s, int owner_rfd,
			int64_t deadline_ns, char *err)
{
	const struct ipcl_server_kind *k = ipcl_server_kind(kind);
	char dir[sizeof s->dir];
	int p[2] = {-1, -1}, rc;

	memset(s, 0, sizeof *s);
	snprintf(s->kind, sizeof s->kind, "%s", kind);
	if (!k)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "no launcher for '%s' servers in this build", kind);
	rc = ipcl_private_dir(s->dir, sizeof s->dir, k->dir_tag, err);
	if (rc) {
		s->dir[0] = 0;
		return rc;
	}
	if (owner_rfd < 0) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			rc = ipcl_seterr(err, -errno, "pipe: %s", strerror(errno));
			goto fail;
		}
		owner_rfd = p[0];
	}
	snprintf(dir, sizeof dir, "%s", s->dir);
	rc = server_watch(k, s, owner_rfd, err);
	if (p[0] >= 0)
		close(p[0]);
	s->watch_wfd = p[1];
	if (rc)
		goto fail;
	snprintf(dir, sizeof dir, "%s", s->dir);
	rc = k->start(s, deadline_ns, err);
	if (rc)
		goto fail;
	snprintf(s->kind, sizeof s->kind, "%s", kind);
	return 0;
fail:
	/* The kind may have removed its dir already; stop and remove what is left. */
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	ipcl_server_stop(s);
	return rc;
}

int ipcl_server_start(const char *kind, struct ipcl_server *s, int64_t deadline_ns,
		      char *err)
{
	return server_start(kind, s, -1, deadline_ns, err);
}

int ipcl_server_start_owned(const char *kind, struct ipcl_server *s, int owner_rfd,
			    int64_t deadline_ns, char *err)
{
	return server_start(kind, s, owner_rfd < 0 ? -1 : owner_rfd, deadline_ns, err);
}

void ipcl_server_detach(struct ipcl_server *s)
{
	if (s->dir[0])
		ipcl_servers_write_owner(s->dir, "detached\n");
	if (s->watch_pid > 0) {
		kill(s->watch_pid, SIGKILL);
		waitpid(s->watch_pid, NULL, WNOHANG);
	}
	s->watch_pid = 0;
	if (s->watch_wfd > 0)
		close(s->watch_wfd);
	s->watch_wfd = 0;
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
	if (!server_reap(pid, ipcl_now_ns() + 10 * NS)) {
		kill(pid, SIGKILL);
		server_reap(pid, ipcl_now_ns() + 5 * NS);
	}
}

void ipcl_server_stop(struct ipcl_server *s)
{
	const struct ipcl_server_kind *k = ipcl_server_kind(s->kind);

	server_kill(s->pid, k ? k->stop_signal : SIGTERM);
	s->pid = 0;
	server_kill(s->aux_pid, SIGTERM);
	s->aux_pid = 0;
	if (s->dir[0] && ipcl_server_dir_ok(s->dir)) {
		/* Backends and helpers the server left: whatever runs in its dir. */
		ipcl_servers_stop_dir(s->dir, k ? k->stop_signal : SIGTERM);
		if (k && k->cleanup)
			k->cleanup(s);
		ipcl_servers_remove_dir(s->dir);
	}
	s->dir[0] = 0;
	/* The watchdog finds nothing left: release it and reap it. */
	if (s->watch_wfd > 0) {
		ssize_t w = write(s->watch_wfd, "x", 1);

		(void)w;
		close(s->watch_wfd);
	}
	s->watch_wfd = 0;
	if (s->watch_pid > 0)
		server_reap(s->watch_pid, ipcl_now_ns() + 5 * NS);
	s->watch_pid = 0;
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
