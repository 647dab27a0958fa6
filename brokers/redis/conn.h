/*
 * conn.h - one Redis connection by URL, for every transport in brokers/redis/
 * (list.c, stream.c, pubsub.c through queue.c, and kv.c): parse redis:// and
 * redis+unix:// URLs with their password, connect, AUTH, SELECT, PING; run
 * commands bounded by CLOCK_MONOTONIC deadlines; write a command whose last
 * argument is a message straight from the caller's buffer (the RESP writer);
 * read server facts (CONFIG GET, the version); delete a run's keys.
 * hiredis blocking API (0.14, RESP2). Left out: TLS (rediss://), RESP3,
 * percent-decoding in URLs, reconnecting.
 */
#ifndef IPCL_REDIS_CONN_H
#define IPCL_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

struct ipcl_redis {
	redisContext *ctx;
	char shown[256]; /* the URL with any password replaced by *** */
	char *err;       /* where errors go (IPCL_ERR_MAX bytes) */
	int db;          /* the database the URL selected */
};

/*
 * Connect to url within ct_ms (and deadline), AUTH with the URL's
 * [user]:password, SELECT its db and PING. The socket is left without
 * timeouts: waits are bounded by poll() on the caller's deadlines. 0 or a
 * negative error with err set; on failure call ipcl_redis_close() all the same.
 */
int ipcl_redis_open(struct ipcl_redis *k, const char *url, long long ct_ms,
		    int64_t deadline_ns, char *err);
void ipcl_redis_close(struct ipcl_redis *k);

/* Write out every command appended so far: 0 or a connection error. */
int ipcl_redis_write(struct ipcl_redis *k);

/*
 * Write one command whose last argument is a message: the RESP header (an
 * array of nargs + 1 bulk strings: args, then the message's length) is built
 * here, then header, message and "\r\n" go out in one writev() from the
 * caller's buffer, with no copy (hiredis's formatter would copy the message and
 * free its buffer after each write). Anything hiredis still holds is written
 * first. 0, IPCL_EINVAL when the arguments do not fit the header, or a
 * connection error.
 */
int ipcl_redis_write_msg(struct ipcl_redis *k, const char *const *args, int nargs,
			 const void *msg, size_t len);

/*
 * Take the next reply (writing pending commands first). 0 with *out set (the
 * caller frees it), -ETIMEDOUT at the deadline (the reply stays due: nothing
 * is lost), or a connection error (the connection is then unusable).
 */
int ipcl_redis_read(struct ipcl_redis *k, redisReply **out, int64_t deadline_ns);

/*
 * Run one command and wait for its reply by deadline (a timeout leaves the
 * connection out of step: callers give it up); an error reply is
 * IPCL_EBROKER. *out (if out) gets the reply. what names the command in
 * errors: arguments are never shown (AUTH's are secret).
 */
int ipcl_redis_cmd(struct ipcl_redis *k, int64_t deadline_ns, redisReply **out,
		   const char *what, const char *fmt, ...);

/* Describe a failed hiredis call on k ("redis <url>: <what>: <why>"). */
int ipcl_redis_fail(struct ipcl_redis *k, const char *what);

/* An error reply r to the command what as IPCL_EBROKER; frees r. */
int ipcl_redis_reply_error(struct ipcl_redis *k, redisReply *r, const char *what);

/*
 * CONFIG GET name into out: "unknown", 0 and *refused = 1 (if refused) where
 * the server refuses CONFIG (renamed away, ACL); else 0 or an error.
 */
int ipcl_redis_config(struct ipcl_redis *k, const char *name, char *out, size_t cap,
		      int64_t deadline_ns, int *refused);

/* INFO server's redis_version into ver ("unknown"); *num = major * 100 + minor. */
int ipcl_redis_version(struct ipcl_redis *k, int64_t deadline_ns, char *ver, size_t cap,
		       int *num);

/*
 * One SCAN round: SCAN <cursor> MATCH pattern COUNT 1000. *out gets the reply
 * (checked: [cursor, [keys]]; caller frees), cursor the next cursor ("0":
 * done). 0, IPCL_EPROTO for an odd reply, or a command's error.
 */
int ipcl_redis_scan(struct ipcl_redis *k, int64_t deadline_ns, char *cursor, size_t cap,
		    const char *pattern, redisReply **out);

/* The connect_timeout option (seconds in (0, 3600]) in ms: 0 or IPCL_EINVAL. */
int ipcl_redis_timeout(const char *v, long long *ms, char *err);

/* Delete every key matching "prefix*" (SCAN + UNLINK), by deadline. */
int ipcl_redis_delete_prefix(struct ipcl_redis *k, const char *prefix,
			     int64_t deadline_ns);

/*
 * The server's CPU time since it started (ns): INFO cpu's used_cpu_user +
 * used_cpu_sys (seconds, microsecond precision). 0, or an error with k->err set.
 */
int ipcl_redis_cpu_ns(struct ipcl_redis *k, int64_t deadline_ns, int64_t *ns);

#endif
