/*
 * outbox.c - the transactional outbox on PostgreSQL, with libpq.
 *
 * The producer INSERTs each message into a table of its own channel, in its own
 * transaction or `batch` at a time (BEGIN, N INSERTs, COMMIT). Consumers claim up
 * to `claim` rows in one statement,
 *   DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id LIMIT n
 *                              FOR UPDATE SKIP LOCKED) RETURNING id, payload
 * (mode=mark: UPDATE ... SET processed_at = now() over the unprocessed rows), so
 * that rows locked by one consumer are skipped by the others and no row is ever
 * handed to two consumers. An empty claim waits for a NOTIFY sent by a
 * statement-level AFTER INSERT trigger (wake=notify) or sleeps poll_ms
 * (wake=poll), then claims again.
 *
 * By default a claim commits before its rows are handed over (at-most-once if
 * the consumer dies holding them); commit=processed keeps the claim's
 * transaction open until the consumer asks for more (at-least-once).
 * Every wait honours the deadline through libpq's asynchronous calls (PQsend*,
 * poll() on PQsocket, PQconsumeInput); a statement that outlives a deadline
 * stays in flight and is collected by the next call.
 * Files: outbox.c (this: open, close, the const table), schema.c (probe, setup,
 * teardown), produce.c (send, flush), claim.c (recv: claim and wait),
 * conn.c (options, connect, statements by deadline), outbox.h.
 * Left out: pipeline mode, COPY, LISTEN payloads, TLS options beyond the URL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include <ipclab/server.h>
#include <ipclab/transport.h>

#include "outbox.h"

static int outbox_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	const char *n = e->cfg.name;
	char sql[512];
	Oid bytea = BYTEAOID;
	int rc;

	if (ipcl_outbox_cfg_parse(ep->chan->addr, &e->cfg))
		return ipcl_seterr(ep->err, IPCL_EINVAL,
				   "pg-outbox: malformed address '%.80s'",
				   ep->chan->addr);
	ipcl_outbox_redact(e->cfg.url, e->shown, sizeof e->shown);
	rc = ipcl_outbox_connect(&e->cfg, deadline_ns, &e->conn, ep->err);
	if (rc)
		return rc;
	snprintf(sql, sizeof sql, "SET synchronous_commit = %s", e->cfg.sync);
	rc = ipcl_outbox_exec(e->conn, sql, PGRES_COMMAND_OK, deadline_ns, NULL, ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_PRODUCER) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO ipcl_outbox_%s (payload) VALUES ($1)", n);
		return ipcl_outbox_prepare(ep, "ins", sql, 1, &bytea, deadline_ns);
	}
	if (e->cfg.mode == MODE_DELETE)
		snprintf(sql, sizeof sql,
			 "DELETE FROM ipcl_outbox_%s WHERE id IN ("
			 "SELECT id FROM ipcl_outbox_%s ORDER BY id LIMIT %lld "
			 "FOR UPDATE SKIP LOCKED) RETURNING id, payload",
			 n, n, e->cfg.claim);
	else
		snprintf(sql, sizeof sql,
			 "UPDATE ipcl_outbox_%s SET processed_at = now() WHERE id IN ("
			 "SELECT id FROM ipcl_outbox_%s WHERE processed_at IS NULL "
			 "ORDER BY id LIMIT %lld FOR UPDATE SKIP LOCKED) RETURNING id, "
			 "payload",
			 n, n, e->cfg.claim);
	rc = ipcl_outbox_prepare(ep, "claim", sql, 0, NULL, deadline_ns);
	if (rc || e->cfg.wake != WAKE_NOTIFY)
		return rc;
	/* Subscribed before open() returns: no row committed after this is missed. */
	snprintf(sql, sizeof sql, "LISTEN ipcl_%s", n);
	return ipcl_outbox_exec(e->conn, sql, PGRES_COMMAND_OK, deadline_ns, NULL,
				ep->err);
}

/*
 * Producer: a batch not flushed is rolled back by PQfinish. Consumer: a claim
 * still in flight is collected (for at most connect_timeout), the rows not yet
 * handed out go back (ipcl_outbox_putback), and commit=processed commits the rows
 * that were handed out: a consumer that closes has processed them.
 */
static void outbox_close(struct ipcl_ep *ep)
{
	struct outbox_ep *e = ep->state;

	if (!e->conn)
		return;
	if (ep->role == IPCL_CONSUMER && PQstatus(e->conn) == CONNECTION_OK) {
		int64_t limit = ipcl_now_ns() + e->cfg.ct * 1000000000LL;

		while (e->pending != Q_NONE &&
		       ipcl_outbox_consumer_settle(ep, limit) == 0)
			;
		if (e->pending == Q_NONE && e->next < e->n)
			ipcl_outbox_putback(ep);
		else if (e->pending == Q_NONE && e->txn == 2)
			PQclear(PQexec(e->conn, "COMMIT"));
	}
	ipcl_outbox_drop_rows(e);
	PQfinish(e->conn);
	e->conn = NULL;
}

const struct ipcl_transport ipcl_transport_pg_outbox = {
    .name = "pg-outbox",
    .summary = "PostgreSQL outbox table: INSERT, claim with FOR UPDATE SKIP LOCKED, "
	       "LISTEN/NOTIFY or polling (libpq)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_DURABLE | IPCL_CAP_MULTI_PRODUCER |
	    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .chan_state_size = 0,
    .ep_state_size = sizeof(struct outbox_ep),
    .options = ipcl_outbox_options,
    .server = "postgres",
    .probe = ipcl_outbox_probe,
    .setup = ipcl_outbox_setup,
    .teardown = ipcl_outbox_teardown,
    .sweep = ipcl_outbox_sweep,
    .open = outbox_open,
    .send = ipcl_outbox_send,
    .recv = ipcl_outbox_recv,
    .flush = ipcl_outbox_flush,
    .acked = ipcl_outbox_acked,
    .close = outbox_close,
};
