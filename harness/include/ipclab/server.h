/*
 * server.h - throwaway local broker servers (Redis, RabbitMQ, PostgreSQL) started
 * from the installed packages: a private 0700 temp dir, loopback or a unix socket,
 * a free port, a random per-instance secret, readiness checked by a real protocol
 * exchange, stopped by PID. Never touches a system instance on a default port.
 *
 * Each kind is one const table (struct ipcl_server_kind) defined by
 * brokers/<kind>/server.c as `ipcl_server_<kind>`; CMake lists the built ones in
 * gen/ipclab_servers.def and harness/servers/ knows them only through that list.
 */
#ifndef IPCLAB_SERVER_H
#define IPCLAB_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct ipcl_server {
	char kind[16]; /* "redis", "rabbitmq", "postgres" */
	char url[256]; /* with the instance's secret: redis://:S@127.0.0.1:P ... */
	char dir[108]; /* the temp dir with data, logs and sockets */
	char version[64];
	pid_t pid;       /* the server process */
	pid_t aux_pid;   /* a helper process we started (RabbitMQ's epmd), or 0 */
	pid_t watch_pid; /* the watchdog that stops the server when its owner dies */
	int watch_wfd;   /* our end of the watchdog's pipe (> 0), or 0 */
	int port;
};

/*
 * One kind of throwaway server. start() fills s (kind, dir, pid, aux_pid, port,
 * url with the secret, version) and returns once a real connection was answered,
 * or an error with err set and nothing left behind. The dir must be made with
 * ipcl_private_dir(dir_tag) so that clean-up recognises it.
 */
struct ipcl_server_kind {
	const char *name;    /* "redis" */
	const char *url_env; /* "IPCLAB_REDIS_URL" */
	const char *scheme;  /* "redis://" */
	const char *dir_tag; /* ipcl-<dir_tag>-XXXXXX */
	int stop_signal;     /* graceful stop: SIGTERM, SIGINT (PostgreSQL fast stop) */
	int (*start)(struct ipcl_server *s, int64_t deadline_ns, char *err);
	/* Optional: what a killed server leaves outside its dir (SysV segments);
	 * called after the server exited, before the dir is removed. */
	void (*cleanup)(const struct ipcl_server *s);
};

/* The built kinds, in registration order; NULL past the end. */
const struct ipcl_server_kind *ipcl_server_kind_at(size_t i);
/* The kind called name, or NULL (not built, or no such kind). */
const struct ipcl_server_kind *ipcl_server_kind(const char *name);

/* The URL environment variable of a kind (IPCLAB_REDIS_URL ...), or NULL. */
const char *ipcl_server_env(const char *kind);

/*
 * Start a server of kind; ready (a real connection answered) by deadline or an
 * error. A watchdog process stops it and removes its dir as soon as the calling
 * process exits, however it dies (see harness/servers/README.md).
 */
int ipcl_server_start(const char *kind, struct ipcl_server *s, int64_t deadline_ns,
		      char *err);

/*
 * The same, but the watchdog watches owner_rfd instead of this process: the read
 * end of a pipe whose write end the real owner holds (`ipclab brokers up` starts
 * servers in forked launchers and owns them from the parent).
 */
int ipcl_server_start_owned(const char *kind, struct ipcl_server *s, int owner_rfd,
			    int64_t deadline_ns, char *err);

/* End the watchdog so the server outlives its owner (recorded in a state file). */
void ipcl_server_detach(struct ipcl_server *s);

/* Stop it by PID (gracefully, then SIGKILL after a bound), remove its dir. Idempotent. */
void ipcl_server_stop(struct ipcl_server *s);

/*
 * 1 if process pid belongs to the server in dir: its working directory lies
 * inside dir (resolved), and its real and effective uids are the dir's owner
 * (us) or the owner of one of the dir's subdirectories (the server's system
 * account, see ipcl_server_user_dir). A command line naming dir is not enough.
 * 0 otherwise, also when it is gone.
 */
int ipcl_server_owns_pid(const char *dir, pid_t pid);

/*
 * 1 if dir resolves to a throwaway-server dir ipclab makes: $TMPDIR or /tmp,
 * then ipcl-<tag>-XXXXXX for a known kind's tag, owned by us, not a symlink.
 */
int ipcl_server_dir_ok(const char *dir);

/*
 * The state file of `ipclab brokers up` ($IPCLAB_BROKERS_STATE,
 * $XDG_RUNTIME_DIR/ipclab-brokers.env or /tmp/ipclab-brokers-UID/state.env;
 * its dir is checked, and made when it is the /tmp default): its path into
 * out, 0 or -1 with why set. state_read fills srv[i] for kinds[i] (kind, url,
 * pid, aux_pid, dir) where the file records one; 0, -ENOENT when there is no
 * file, -EPERM when it is refused (not ours, not 0600, a symlink; why says why).
 */
int ipcl_brokers_state_path(char *out, size_t cap, char *why, size_t wcap);
int ipcl_brokers_state_read(const char *const *kinds, int nkinds, struct ipcl_server *srv,
			    char *why, size_t wcap);

/*
 * For `ipclab clean`: find throwaway-server dirs of ours (in $TMPDIR and /tmp)
 * whose watchdog is gone without the server having been detached for `brokers
 * up`, or detached ones with no process left; stop every process inside them,
 * run the kind's clean-up and remove them. With dry set, only report. Each dir
 * is named on out (may be NULL). Returns how many dirs were (or would be) removed.
 */
int ipcl_servers_reap_dead(int dry, FILE *out);

/*
 * Copy url into out with every secret replaced by "***": the userinfo password
 * of scheme://user:pw@host (the last '@' ends it, so a password may contain '@'),
 * password=... keywords of a libpq conninfo string (quoted values too), and
 * password=... query parameters. One function for every place a URL is shown.
 */
void ipcl_url_redact(const char *url, char *out, size_t cap);

/* A random secret of 2*nbytes hex characters from getrandom(2) into out. */
int ipcl_server_secret(char *out, size_t cap, size_t nbytes);

/*
 * The system account a throwaway server runs as when ipclab runs as root (the
 * Debian packages create `redis`, `rabbitmq`, `postgres`): no server process
 * of ours keeps root. drop is 0 when we are not root (the server runs as us).
 */
struct ipcl_server_user {
	int drop; /* 1: switch to uid/gid/groups in the child before exec */
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[64];
};

/*
 * Fill u for the account name: drop 0 when not root; 0 with drop 1 when root
 * and the account exists; -ENOENT when root and there is no such account (u
 * then says drop 0: the caller decides whether root may run the server).
 */
int ipcl_server_user(const char *name, struct ipcl_server_user *u);

/* In a forked child before exec: setgroups, setresgid, setresuid to u (when
 * u->drop). Async-signal-safe; 0 or -1 (the child should then _exit). */
int ipcl_server_user_drop(const struct ipcl_server_user *u);

/*
 * mkdir dir/name with mode 0700 (no symlink at the name, O_EXCL-like: it must
 * not exist) and hand it to u when u->drop. path (cap bytes) gets the full
 * name. 0 or -errno.
 */
int ipcl_server_user_dir(const char *dir, const char *name,
			 const struct ipcl_server_user *u, char *path, size_t cap);

/* Shared helpers for the launchers: a free loopback TCP port, or 0 with errno set. */
int ipcl_free_port(void);

/* Connect to 127.0.0.1:port (or a unix socket path when path is set) by deadline. */
int ipcl_connect_tcp(const char *host, int port, int64_t deadline_ns);
int ipcl_connect_unix(const char *path, int64_t deadline_ns);

#endif
