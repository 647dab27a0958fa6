/*
 * produce.c - the pg-outbox producer (outbox.c): each message is one INSERT of
 * the prepared statement "ins" (payload bytea, binary), in its own
 * transaction or `batch` at a time (BEGIN, N INSERTs, COMMIT); flush()
 * commits a partial batch. A row counts as acknowledged (acked()) once the
 * server confirmed its COMMIT. Statements go out with PQsendQueryPrepared and
 * are collected by deadline; a failed transaction is rolled back.
 *
 * Left out: COPY, pipeline mode, multi-row INSERTs.
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

/* Producer: collect the statement in flight; roll back a failed transaction. */
static int outbox_settle(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	PGresult *r;
	int rc, q;

	while (e->pending != Q_NONE) {
		rc = ipcl_outbox_collect(e->conn, deadline_ns, &r, ep->err);
		if (rc)
			return ipcl_outbox_lost(ep, rc);
		q = e->pending;
		e->pending = Q_NONE;
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = ipcl_outbox_bad(r,
					     q == Q_INSERT  ? "INSERT"
					     : q == Q_END   ? "COMMIT"
					     : q == Q_BEGIN ? "BEGIN"
							    : "ROLLBACK",
					     ep->err);
			/* The rows of an aborted batch are gone; end the transaction. */
			if (PQtransactionStatus(e->conn) == PQTRANS_INERROR)
				ipcl_outbox_start(ep, "ROLLBACK", Q_ROLLBACK);
			e->batched = 0;
			return ipcl_outbox_lost(ep, rc);
		}
		/* COMMIT of a transaction that had failed answers ROLLBACK: a loss. */
		if (q == Q_END && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			PQclear(r);
			e->batched = 0;
			return ipcl_seterr(ep->err, IPCL_EBROKER,
					   "postgres: the batch was rolled back");
		}
		if (q == Q_INSERT && e->cfg.batch > 1)
			e->batched++;
		else if (q == Q_INSERT)
			e->committed++; /* batch=1: the INSERT commits on its own */
		if (q == Q_END) {
			e->committed += e->batched;
			e->batched = 0;
		}
		PQclear(r);
	}
	return 0;
}

/*
 * Producer: INSERT one row. batch=1: the INSERT commits on its own. batch>1:
 * the first message opens a transaction and every batch-th commits it; until
 * then the rows are invisible to consumers (flush() commits a partial batch).
 * A send() that times out leaves its statement in flight: the row may still
 * arrive, and the next call collects it first.
 */
int ipcl_outbox_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	const char *vals[1] = {msg};
	int lens[1] = {(int)len}, fmts[1] = {1};
	char line[IPCL_ERR_MAX];
	int rc;

	if (len > OUTBOX_MAX_MSG)
		return ipcl_seterr(ep->err, IPCL_ETOOBIG,
				   "message of %zu bytes: pg-outbox carries at most %u",
				   len, OUTBOX_MAX_MSG);
	rc = outbox_settle(ep, deadline_ns);
	if (rc)
		return rc;
	if (e->cfg.batch > 1 && PQtransactionStatus(e->conn) == PQTRANS_IDLE) {
		rc = ipcl_outbox_start(ep, "BEGIN", Q_BEGIN);
		if (rc == 0)
			rc = outbox_settle(ep, deadline_ns);
		if (rc)
			return rc;
	}
	if (!PQsendQueryPrepared(e->conn, "ins", 1, vals, lens, fmts, 0))
		return ipcl_outbox_lost(
		    ep, ipcl_seterr(ep->err, IPCL_EBROKER, "postgres INSERT: %s",
				    ipcl_outbox_oneline(PQerrorMessage(e->conn), line,
							sizeof line)));
	e->pending = Q_INSERT;
	rc = outbox_settle(ep, deadline_ns);
	if (rc || e->cfg.batch == 1 || e->batched < e->cfg.batch)
		return rc;
	rc = ipcl_outbox_start(ep, "COMMIT", Q_END);
	return rc ? rc : outbox_settle(ep, deadline_ns);
}

/* Producer: rows whose COMMIT the server confirmed (the acknowledgment). */
int64_t ipcl_outbox_acked(struct ipcl_ep *ep)
{
	struct outbox_ep *e = ep->state;

	return e->committed;
}

/* Producer: commit a partial batch. */
int ipcl_outbox_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	int rc;

	if (!e->conn || ep->role != IPCL_PRODUCER)
		return 0;
	rc = outbox_settle(ep, deadline_ns);
	if (rc || PQtransactionStatus(e->conn) != PQTRANS_INTRANS)
		return rc;
	rc = ipcl_outbox_start(ep, "COMMIT", Q_END);
	return rc ? rc : outbox_settle(ep, deadline_ns);
}
