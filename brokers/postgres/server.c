/*
 * server.c - a throwaway PostgreSQL server: initdb into a private temp dir, then
 * the postmaster on a free loopback port and a unix socket in that dir. Uses
 * fork/execv, setgroups/setresgid/setresuid (initdb and postgres refuse to run as
 * root, so a root caller runs them as the `postgres` user), poll/waitpid, and
 * posix_spawn with a pipe for the one-line answers of `pg_config --bindir` and
 * `postgres --version` (no shell: argv is passed as it is).
 *
 * Authentication: scram-sha-256 for every connection, local and TCP, with a
 * random per-instance password (ipcl_server_secret) that initdb reads from a
 * 0600 --pwfile removed right after; pg_hba.conf has no trust line. The URL
 * carries the password: postgresql://postgres:SECRET@127.0.0.1:P/postgres.
 * Layout: the dir stays ours (0700, 0711 when root so the postgres user can
 * traverse it); data/ and sock/ inside it belong to the server's user.
 *
 * Readiness is a real protocol exchange without libpq (this file builds without
 * it): a v3 StartupMessage as user postgres must be answered by a SASL
 * authentication request naming SCRAM-SHA-256: the server got past "starting
 * up" (57P03 comes before authentication) and it refuses to trust. No password
 * is sent. ipcl_server_stop() sends SIGINT (fast shutdown) to s->pid, which is
 * the postmaster itself, not a wrapper.
 * Left out: pg_ctl, TLS, any tuning beyond the durability defaults spelled out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/server.h>
#include <ipclab/transport.h>

#define PGSRV_USER     "postgres"
#define PGSRV_MAXGROUP 64
#define PGSRV_TRIES    3 /* postmaster starts, each on a fresh free port */

/* Whom the server processes run as: ourselves, or the postgres user when root. */
struct pgsrv_user {
	int drop; /* 1: switch to uid/gid/groups in the child before exec */
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[PGSRV_MAXGROUP];
};

static void pgsrv_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int pgsrv_is_exec(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, X_OK) == 0;
}

/* The major version in /usr/lib/postgresql/<major>/bin, for picking the newest. */
static double pgsrv_dir_version(const char *path)
{
	const char *v = path + strlen("/usr/lib/postgresql/");

	return strtod(v, NULL);
}

extern char **environ;

/*
 * Runs argv (argv[0] searched on PATH when search is 1, else a path) with no
 * shell, stdin and stderr on /dev/null, and puts the first line of its stdout
 * without the newline into out (cap bytes). Returns 0 when it ran, exited 0
 * and printed a line; -1 otherwise (out is then ""). The rest of its output is
 * read and dropped, so it never blocks on a full pipe.
 */
static int pgsrv_first_line(char *const argv[], int search, char *out, size_t cap)
{
	posix_spawn_file_actions_t fa;
	int p[2] = {-1, -1}, status = 0, rc = -1, fa_ok = 0;
	size_t len = 0;
	pid_t pid = -1;
	char buf[512];
	ssize_t n;

	out[0] = 0;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	if (posix_spawn_file_actions_init(&fa))
		goto out;
	fa_ok = 1;
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) ||
	    posix_spawn_file_actions_adddup2(&fa, p[1], 1))
		goto out;
	if ((search ? posix_spawnp : posix_spawn)(&pid, argv[0], &fa, NULL, argv,
						  environ)) {
		pid = -1;
		goto out;
	}
	close(p[1]);
	p[1] = -1;
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (ssize_t i = 0; i < n && len + 1 < cap && !memchr(out, '\n', len);
		     i++)
			out[len++] = buf[i];
	}
	out[len] = 0;
	out[strcspn(out, "\r\n")] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 && out[0] ? 0 : -1;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (rc)
		out[0] = 0;
	return rc;
}

/*
 * Find the directory holding initdb and postgres: `pg_config --bindir`, else the
 * newest /usr/lib/postgresql/<major>/bin (they are not on PATH on Debian).
 */
static int pgsrv_bindir(char *out, size_t cap, char *err)
{
	char *const argv[] = {"pg_config", "--bindir", NULL};
	glob_t g;
	double best = -1;

	if (pgsrv_first_line(argv, 1, out, cap) == 0 && pgsrv_is_exec(out, "initdb") &&
	    pgsrv_is_exec(out, "postgres"))
		return 0;
	out[0] = 0;
	if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			double v = pgsrv_dir_version(g.gl_pathv[i]);

			if (v > best && pgsrv_is_exec(g.gl_pathv[i], "initdb") &&
			    pgsrv_is_exec(g.gl_pathv[i], "postgres")) {
				best = v;
				snprintf(out, cap, "%s", g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	if (!out[0])
		return ipcl_seterr(
		    err, IPCL_EUNAVAIL,
		    "postgres: no initdb/postgres found via pg_config --bindir "
		    "or /usr/lib/postgresql/*/bin (apt-get install postgresql)");
	return 0;
}

/* Root may not run the server: look up the postgres user and its groups. */
static int pgsrv_user_lookup(struct pgsrv_user *u, char *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = PGSRV_MAXGROUP;

	memset(u, 0, sizeof *u);
	if (geteuid() != 0)
		return 0;
	if (getpwnam_r(PGSRV_USER, &pw, buf, sizeof buf, &res) != 0 || !res)
		return ipcl_seterr(
		    err, IPCL_EUNAVAIL,
		    "postgres: running as root, and initdb refuses root, but "
		    "there is no '%s' user to run it as (apt-get install "
		    "postgresql creates it)",
		    PGSRV_USER);
	u->drop = 1;
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	if (getgrouplist(PGSRV_USER, pw.pw_gid, u->groups, &n) < 0) {
		u->groups[0] = pw.pw_gid; /* more than PGSRV_MAXGROUP: keep the primary */
		n = 1;
	}
	u->ngroups = n;
	return 0;
}

/*
 * fork + execv argv[0] in dir with stdout/stderr on logfd, as u. Only
 * async-signal-safe calls between fork and exec (the caller may have threads).
 * Returns the child's PID (the exec'd program itself) or -errno.
 */
static pid_t pgsrv_spawn(const struct pgsrv_user *u, const char *dir, int logfd,
			 char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	int nul = open("/dev/null", O_RDONLY);

	if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(126);
	/* Nothing else of ours may live on in the server (pipes would never see EOF). */
	close_range(3, ~0U, 0);
	if (u->drop && (setgroups((size_t)u->ngroups, u->groups) < 0 ||
			setresgid(u->gid, u->gid, u->gid) < 0 ||
			setresuid(u->uid, u->uid, u->uid) < 0))
		_exit(126);
	if (chdir(dir) < 0)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

/*
 * Wait for child pid until deadline. Returns 0 with *status set once it has
 * exited, -ETIMEDOUT while it still runs, -errno on failure.
 */
static int pgsrv_wait(pid_t pid, int *status, int64_t deadline_ns)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (ipcl_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		pgsrv_sleep_ms(10);
	}
}

static uint32_t pgsrv_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void pgsrv_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* The text of field `code` in an ErrorResponse body, or "". */
static const char *pgsrv_errfield(const unsigned char *body, size_t len, char code)
{
	size_t i = 0;

	while (i < len && body[i]) {
		const char *v = (const char *)body + i + 1;
		size_t n = strnlen(v, len - i - 1);

		if (body[i] == code && i + 1 + n < len)
			return v;
		i += n + 2;
	}
	return "";
}

/*
 * The v3 start-up exchange on a connected socket: StartupMessage as user and
 * database postgres; expect a SCRAM-SHA-256 SASL request. Returns 0 when
 * the server is ready, 1 when it answered "starting up" (57P03, try again), or a
 * negative error with why set.
 */
static int pgsrv_handshake(int fd, int64_t deadline_ns, char *why, size_t cap)
{
	static const char params[] = "user\0" PGSRV_USER "\0database\0postgres\0";
	unsigned char msg[8 + sizeof params], hdr[5], body[8192];
	struct iovec iov;
	int rc;

	pgsrv_put32(msg, sizeof msg); /* params' own NUL is the list's terminator */
	pgsrv_put32(msg + 4, 3u << 16);
	memcpy(msg + 8, params, sizeof params);
	iov = (struct iovec){msg, sizeof msg};
	rc = ipcl_fd_writev_all(fd, &iov, 1, deadline_ns);
	if (rc)
		return snprintf(why, cap, "sending StartupMessage: %s",
				ipcl_strerror(rc)),
		       rc;
	for (;;) {
		uint32_t len;

		rc = ipcl_fd_read_all(fd, hdr, sizeof hdr, deadline_ns);
		if (rc == 0) {
			len = pgsrv_be32(hdr + 1);
			if (len < 4 || len - 4 > sizeof body)
				rc = IPCL_EPROTO;
			else
				rc = ipcl_fd_read_all(fd, body, len - 4, deadline_ns);
		}
		if (rc) {
			snprintf(why, cap, "reading the start-up reply: %s",
				 ipcl_strerror(rc));
			return rc;
		}
		len -= 4;
		switch (hdr[0]) {
		case 'R':
			/* 10 = AuthenticationSASL, mechanisms as NUL-ended strings */
			if (len >= 4 && pgsrv_be32(body) == 10 &&
			    memmem(body + 4, len - 4, "SCRAM-SHA-256", 13))
				return 0;
			snprintf(why, cap,
				 "server wants authentication method %u, not "
				 "SCRAM-SHA-256 (trust would let anyone in)",
				 len < 4 ? 0u : pgsrv_be32(body));
			return IPCL_EBROKER;
		case 'E':
			if (strcmp(pgsrv_errfield(body, len, 'C'), "57P03") == 0)
				return 1;
			snprintf(why, cap, "server error %s: %s",
				 pgsrv_errfield(body, len, 'C'),
				 pgsrv_errfield(body, len, 'M'));
			return IPCL_EBROKER;
		case 'Z':
			snprintf(why, cap, "ReadyForQuery without authentication");
			return IPCL_EPROTO;
		case 'S': /* ParameterStatus */
		case 'K': /* BackendKeyData */
		case 'N': /* NoticeResponse */
			break;
		default:
			snprintf(why, cap, "unexpected message type 0x%02x", hdr[0]);
			return IPCL_EPROTO;
		}
	}
}

/* One start-up exchange over fd, then Terminate; closes fd. */
static int pgsrv_try(int fd, int64_t deadline_ns, char *why, size_t cap)
{
	static const unsigned char term[5] = {'X', 0, 0, 0, 4};
	int rc = pgsrv_handshake(fd, deadline_ns, why, cap);

	if (rc == 0 && write(fd, term, sizeof term) < 0) {
		/* the server may already have hung up: harmless */
	}
	close(fd);
	return rc;
}

/*
 * Wait until the postmaster s->pid answers the start-up exchange on its unix
 * socket and then on TCP (the URL's address). Returns 0, -ECHILD when the
 * postmaster exited (reaped), -ETIMEDOUT, or another error; why says more.
 */
static int pgsrv_ready(struct ipcl_server *s, int64_t deadline_ns, char *why, size_t cap)
{
	char sock[160];
	int rc, status;

	snprintf(sock, sizeof sock, "%s/sock/.s.PGSQL.%d", s->dir, s->port);
	for (;;) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			snprintf(why, cap,
				 "postgres exited with status %d before it was ready",
				 WIFEXITED(status) ? WEXITSTATUS(status)
						   : 128 + WTERMSIG(status));
			return -ECHILD;
		}
		/* One connect attempt per round: a deadline already passed means one try.
		 */
		rc = ipcl_connect_unix(sock, 0);
		if (rc >= 0) {
			rc = pgsrv_try(rc, deadline_ns, why, cap);
			if (rc == 0) {
				rc = ipcl_connect_tcp("127.0.0.1", s->port, deadline_ns);
				if (rc < 0) {
					snprintf(why, cap, "connect 127.0.0.1:%d: %s",
						 s->port, strerror(-rc));
					return rc;
				}
				return pgsrv_try(rc, deadline_ns, why, cap);
			}
			if (rc < 0)
				return rc;
		} else if (rc != -ETIMEDOUT) {
			snprintf(why, cap, "connect %s: %s", sock, strerror(-rc));
			return rc;
		}
		if (ipcl_now_ns() >= deadline_ns) {
			snprintf(why, cap, "postgres not ready by the deadline");
			return -ETIMEDOUT;
		}
		pgsrv_sleep_ms(10);
	}
}

/* `postgres --version` -> "15.20 (Debian ...)"; "?" when it cannot be run. */
static void pgsrv_version(const char *bindir, char *out, size_t cap)
{
	char exe[600], line[256];
	char *const argv[] = {exe, "--version", NULL};
	const char *v;

	snprintf(out, cap, "?");
	snprintf(exe, sizeof exe, "%s/postgres", bindir);
	if (pgsrv_first_line(argv, 0, line, sizeof line))
		return;
	v = strstr(line, ") ");
	snprintf(out, cap, "%.*s", (int)cap - 1, v ? v + 2 : line);
}

/* The last lines of the log, joined with " | ", into err after prefix. */
static void pgsrv_log_tail(const char *log, const char *prefix, char *err)
{
	char buf[1024], *lines[4];
	int fd = open(log, O_RDONLY | O_CLOEXEC), nl = 0;
	off_t end;
	ssize_t n = 0;

	snprintf(err, IPCL_ERR_MAX, "%s", prefix);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > 0)
		n = pread(fd, buf, sizeof buf - 1,
			  end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	/* Walk back over the last few non-empty lines. */
	for (char *p = buf + n; p > buf && nl < 4;) {
		char *q;

		while (p > buf && (p[-1] == '\n' || p[-1] == '\r'))
			*--p = 0;
		q = p;
		while (q > buf && q[-1] != '\n')
			q--;
		if (*q)
			lines[nl++] = q;
		p = q;
	}
	size_t len = strlen(err);

	for (int i = nl - 1; i >= 0 && len + 4 < IPCL_ERR_MAX; i--) {
		snprintf(err + len, IPCL_ERR_MAX - len, "%s%s",
			 i == nl - 1 ? "; log: " : " | ", lines[i]);
		len = strlen(err);
	}
}

/*
 * A postmaster that was killed (SIGKILL) leaves its small System V segment
 * behind (`ipcs -m`); a clean shutdown removes it together with
 * data/postmaster.pid. So when that file is still there, remove the segment it
 * names (line 7: key and shmid), once no process is attached any more (the
 * backends exit within moments of the postmaster) and only if our postmaster
 * (line 1) created it. The file is the postgres account's to write, so it is
 * not trusted: the segment must also belong to the server's account
 * (shm_perm.uid: postgres as root, else us) and carry the key the file names.
 * Call after the postmaster has exited, before the dir is removed. Waits at
 * most 2 s.
 */
static void pgsrv_cleanup(const struct ipcl_server *s)
{
	char path[160], line[256], why[IPCL_ERR_MAX];
	long pid = 0, key = 0;
	int shmid = -1, n = 0, fd;
	struct pgsrv_user u;
	struct shmid_ds ds;
	uid_t owner;
	FILE *f;

	if (!s->dir[0] || pgsrv_user_lookup(&u, why))
		return;
	owner = u.drop ? u.uid : geteuid();
	snprintf(path, sizeof path, "%s/data/postmaster.pid", s->dir);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* clean shutdown, or never started */
	if (!(f = fdopen(fd, "r"))) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		n++;
		if (n == 1)
			pid = strtol(line, NULL, 10);
		if (n == 7 && sscanf(line, "%ld %d", &key, &shmid) != 2)
			shmid = -1;
	}
	fclose(f);
	if (shmid < 0 || pid <= 0)
		return;
	for (int i = 0; i < 200; i++) {
		if (shmctl(shmid, IPC_STAT, &ds) < 0 || ds.shm_cpid != (pid_t)pid ||
		    ds.shm_perm.uid != owner || (long)ds.shm_perm.__key != key)
			return; /* gone already, or not ours */
		if (ds.shm_nattch == 0) {
			shmctl(shmid, IPC_RMID, NULL);
			return;
		}
		pgsrv_sleep_ms(10);
	}
}

/* mkdir dir/name 0700 for the server's user; 0 or -errno with why set. */
static int pgsrv_subdir(const struct ipcl_server *s, const struct pgsrv_user *u,
			const char *name, char *path, size_t cap, char *why, size_t wcap)
{
	snprintf(path, cap, "%s/%s", s->dir, name);
	if (mkdir(path, 0700) < 0 || (u->drop && chown(path, u->uid, u->gid) < 0)) {
		snprintf(why, wcap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The password file initdb reads (0600, the server user's), then removed. */
static int pgsrv_pwfile(const struct ipcl_server *s, const struct pgsrv_user *u,
			const char *secret, char *path, size_t cap, char *why,
			size_t wcap)
{
	size_t len = strlen(secret);
	int fd, rc = 0;

	snprintf(path, cap, "%s/sock/pwfile", s->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	else if (write(fd, secret, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		rc = -EIO;
	else if (u->drop && fchown(fd, u->uid, u->gid) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = -errno;
	if (rc)
		snprintf(why, wcap, "%s: %s", path, strerror(-rc));
	return rc;
}

/* Start initdb + postgres in s->dir (made by the caller); see the top. */
static int pgsrv_start(struct ipcl_server *s, int64_t deadline_ns, char *err)
{
	char bindir[256], exe[2][320], data[160], log[160], opt_dir[160], port_s[16];
	char why[IPCL_ERR_MAX - 64] = "", msg[IPCL_ERR_MAX], pwfile[200] = "", pwopt[220],
				secret[40] = "";
	struct pgsrv_user u;
	int logfd = -1, rc, status;
	pid_t pid;

	log[0] = 0;
	rc = pgsrv_bindir(bindir, sizeof bindir, err);
	if (rc)
		return rc;
	rc = pgsrv_user_lookup(&u, err);
	if (rc)
		return rc;
	snprintf(exe[0], sizeof exe[0], "%s/initdb", bindir);
	snprintf(exe[1], sizeof exe[1], "%s/postgres", bindir);
	pgsrv_version(bindir, s->version, sizeof s->version);

	rc = ipcl_server_secret(secret, sizeof secret, 16);
	if (rc) {
		snprintf(why, sizeof why, "getrandom: %s", strerror(-rc));
		goto fail;
	}
	/* The dir stays ours; the postgres user may traverse it to its subdirs. */
	if (u.drop && chmod(s->dir, 0711) < 0) {
		rc = -errno;
		snprintf(why, sizeof why, "chmod %s: %s", s->dir, strerror(errno));
		goto fail;
	}
	rc = pgsrv_subdir(s, &u, "data", data, sizeof data, why, sizeof why);
	if (!rc)
		rc =
		    pgsrv_subdir(s, &u, "sock", opt_dir, sizeof opt_dir, why, sizeof why);
	if (!rc)
		rc = pgsrv_pwfile(s, &u, secret, pwfile, sizeof pwfile, why, sizeof why);
	if (rc)
		goto fail;
	snprintf(pwopt, sizeof pwopt, "--pwfile=%s", pwfile);
	snprintf(log, sizeof log, "%s/log", s->dir);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		rc = -errno;
		snprintf(why, sizeof why, "open %s: %s", log, strerror(errno));
		goto fail;
	}

	char *initdb_argv[] = {exe[0],      "-D",
			       data,        "--auth=scram-sha-256",
			       pwopt,       "-U",
			       PGSRV_USER,  "-E",
			       "UTF8",      "--locale=C.UTF-8",
			       "--no-sync", "--no-instructions",
			       NULL};
	pid = pgsrv_spawn(&u, s->dir, logfd, initdb_argv);
	if (pid < 0) {
		rc = (int)pid;
		snprintf(why, sizeof why, "fork: %s", strerror(-rc));
		goto fail;
	}
	rc = pgsrv_wait(pid, &status, deadline_ns);
	unlink(pwfile);
	if (rc) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		snprintf(why, sizeof why, "initdb did not finish by the deadline");
		goto fail;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = IPCL_EUNAVAIL;
		snprintf(why, sizeof why, "initdb failed (status %d)",
			 WIFEXITED(status) ? WEXITSTATUS(status)
					   : 128 + WTERMSIG(status));
		goto fail;
	}

	for (int attempt = 0; attempt < PGSRV_TRIES; attempt++) {
		s->port = ipcl_free_port();
		if (!s->port) {
			rc = errno ? -errno : -EADDRNOTAVAIL;
			snprintf(why, sizeof why, "no free loopback port: %s",
				 strerror(-rc));
			goto fail;
		}
		snprintf(port_s, sizeof port_s, "%d", s->port);
		/*
		 * Durability stays at the defaults, spelled out so the log shows them.
		 * dynamic_shared_memory lives in the data dir: a killed server leaves
		 * nothing in /dev/shm.
		 */
		char *pg_argv[] = {exe[1],
				   "-D",
				   data,
				   "-k",
				   opt_dir,
				   "-p",
				   port_s,
				   "-c",
				   "listen_addresses=127.0.0.1",
				   "-c",
				   "fsync=on",
				   "-c",
				   "synchronous_commit=on",
				   "-c",
				   "full_page_writes=on",
				   "-c",
				   "dynamic_shared_memory_type=mmap",
				   "-c",
				   "unix_socket_permissions=0700",
				   NULL};
		pid = pgsrv_spawn(&u, s->dir, logfd, pg_argv);
		if (pid < 0) {
			rc = (int)pid;
			snprintf(why, sizeof why, "fork: %s", strerror(-rc));
			goto fail;
		}
		s->pid = pid;
		rc = pgsrv_ready(s, deadline_ns, why, sizeof why);
		if (rc != -ECHILD)
			break; /* ready, or a failure a new port cannot fix */
		/* Exited early: most likely the port was taken meanwhile; retry. */
	}
	if (rc)
		goto fail;
	close(logfd);
	snprintf(s->url, sizeof s->url, "postgresql://%s:%s@127.0.0.1:%d/postgres",
		 PGSRV_USER, secret, s->port);
	explicit_bzero(secret, sizeof secret);
	return 0;
fail:
	explicit_bzero(secret, sizeof secret);
	if (pwfile[0])
		unlink(pwfile);
	if (logfd >= 0)
		close(logfd);
	snprintf(msg, sizeof msg, "postgres server in %.60s: %.170s", s->dir, why);
	pgsrv_log_tail(log, msg, err);
	if (s->pid) {
		pid = s->pid;
		s->pid = 0;
		kill(pid, SIGINT); /* fast shutdown; SIGKILL if it hangs */
		if (pgsrv_wait(pid, &status, ipcl_now_ns() + 10 * 1000000000LL)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	pgsrv_cleanup(s);
	return rc ? rc : IPCL_EUNAVAIL; /* the caller removes the dir */
}

const struct ipcl_server_kind ipcl_server_postgres = {
    .name = "postgres",
    .url_env = "IPCLAB_PG_URL",
    .scheme = "postgresql://",
    .dir_tag = "pg",
    .stop_signal = SIGINT, /* fast shutdown */
    .start = pgsrv_start,
    .cleanup = pgsrv_cleanup,
};
