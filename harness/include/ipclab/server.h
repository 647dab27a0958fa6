/*
 * server.h - throwaway local broker servers (Redis, RabbitMQ, PostgreSQL) started
 * from the installed packages: a private temp dir, loopback or a unix socket, a
 * free port, readiness checked by a real protocol exchange, stopped by PID.
 * Never touches a system instance on a default port.
 */
#ifndef IPCLAB_SERVER_H
#define IPCLAB_SERVER_H

#include <stdint.h>
#include <sys/types.h>

struct ipcl_server {
	char kind[16]; /* "redis", "rabbitmq", "postgres" */
	char url[256]; /* redis://127.0.0.1:P, amqp://guest:guest@127.0.0.1:P/,
			  postgresql://... */
	char dir[108]; /* the temp dir with data, logs and sockets */
	char version[64];
	pid_t pid;     /* the server process */
	pid_t aux_pid; /* a helper process we started (RabbitMQ's epmd), or 0 */
	int port;
};

/* The URL environment variable and scheme of a kind: IPCLAB_REDIS_URL ... */
const char *ipcl_server_env(const char *kind);

/* Start a server of kind; ready (a real connection answered) by deadline or an error. */
int ipcl_server_start(const char *kind, struct ipcl_server *s, int64_t deadline_ns,
		      char *err);

/* Stop it by PID (gracefully, then SIGKILL after a bound), remove its dir. Idempotent. */
void ipcl_server_stop(struct ipcl_server *s);

/* Per kind, implemented in brokers/<kind>/server.c. Same contract as above. */
int ipcl_redis_server_start(struct ipcl_server *s, int64_t deadline_ns, char *err);
int ipcl_rabbitmq_server_start(struct ipcl_server *s, int64_t deadline_ns, char *err);
int ipcl_postgres_server_start(struct ipcl_server *s, int64_t deadline_ns, char *err);

/* PostgreSQL: remove the SysV segment a SIGKILLed postmaster left; before the dir goes.
 */
void ipcl_postgres_server_cleanup(const struct ipcl_server *s);

/* Copy url into out with any password replaced by "***". */
void ipcl_url_redact(const char *url, char *out, size_t cap);

/* Shared helpers for the launchers: a free loopback TCP port, or 0 with errno set. */
int ipcl_free_port(void);

/* Connect to 127.0.0.1:port (or a unix socket path when path is set) by deadline. */
int ipcl_connect_tcp(const char *host, int port, int64_t deadline_ns);
int ipcl_connect_unix(const char *path, int64_t deadline_ns);

#endif
