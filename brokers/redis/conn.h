/*
 * conn.h - a Redis connection by URL for the transports in brokers/redis/ that
 * use it (kv.c): parse redis:// and redis+unix:// URLs with their password,
 * connect, AUTH, SELECT, and run commands bounded by CLOCK_MONOTONIC deadlines.
 * hiredis blocking API (0.14). redis.c still has its own static copy of the
 * same steps; it can move onto this header.
 */
#ifndef IPCL_REDIS_CONN_H
#define IPCL_REDIS_CONN_H

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
 * [user]:password, SELECT its db and PING. 0 or a negative error with k->err
 * set; on failure call ipcl_redis_close() all the same.
 */
int ipcl_redis_open(struct ipcl_redis *k, const char *url, long long ct_ms,
		    int64_t deadline_ns, char *err);
void ipcl_redis_close(struct ipcl_redis *k);

/* Write every appended command out: 0 or a connection error. */
int ipcl_redis_flush(struct ipcl_redis *k);

/*
 * Take the next reply (writing pending commands first). 0 with *out set (the
 * caller frees it), -ETIMEDOUT at the deadline (the reply stays due), or a
 * connection error.
 */
int ipcl_redis_read(struct ipcl_redis *k, redisReply **out, int64_t deadline_ns);

/*
 * Run one command and wait for its reply; an error reply is IPCL_EBROKER.
 * *out (if out) gets the reply. what names the command in errors: arguments
 * are never shown.
 */
int ipcl_redis_cmd(struct ipcl_redis *k, int64_t deadline_ns, redisReply **out,
		   const char *what, const char *fmt, ...);

/* Describe a failed hiredis call on k and return its error code. */
int ipcl_redis_fail(struct ipcl_redis *k, const char *what);

/* Delete every key matching "prefix*" (SCAN + UNLINK), by deadline. */
int ipcl_redis_delete_prefix(struct ipcl_redis *k, const char *prefix,
			     int64_t deadline_ns);

#endif
