/*
 * claim.c - the pg-outbox consumer (outbox.c): claim up to `claim` rows in one
 * statement (the prepared "claim": DELETE ... WHERE id IN (SELECT id ...
 * ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING id, payload, or
 * mode=mark's UPDATE ... SET processed_at = now()), hand them out in id order,
 * and when a claim finds nothing wait for the trigger's NOTIFY (wake=notify,
 * with a rescan every second) or sleep poll_ms (wake=poll). commit=claim
 * commits the claim before its rows are handed out; commit=processed keeps
 * the transaction open until the consumer asks for more. At close, rows not
 * handed out go back (putback).
 *
 * Left out: LISTEN payloads, advisory locks, several channels per consumer.
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

static int outbox_cmp(const void *a, const void *b)
{
	const struct outbox_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void ipcl_outbox_drop_rows(struct outbox_ep *e)
{
	if (e->rows)
		PQclear(e->rows);
	e->rows = NULL;
	free(e->order);
	e->order = NULL;
	e->n = e->next = 0;
}

/* Keep the claimed rows, sorted by id (RETURNING promises no order). */
static int outbox_keep_rows(struct ipcl_ep *ep, PGresult *r)
{
	struct outbox_ep *e = ep->state;
	int n = PQntuples(r);

	if (PQnfields(r) != 2 || PQfformat(r, 0) != 1 || PQfformat(r, 1) != 1) {
		PQclear(r);
		return ipcl_seterr(ep->err, IPCL_EPROTO,
				   "postgres: claim returned odd columns");
	}
	e->rows = r;
	e->n = e->next = 0;
	if (n == 0)
		return 0;
	e->order = malloc((size_t)n * sizeof *e->order);
	if (!e->order)
		return ipcl_seterr(ep->err, -ENOMEM, "pg-outbox: out of memory");
	for (int i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)PQgetvalue(r, i, 0);
		unsigned long long id = 0;

		for (int k = 0; k < 8 && PQgetlength(r, i, 0) == 8; k++)
			id = id << 8 | p[k];
		e->order[i] = (struct outbox_row){(long long)id, i};
	}
	qsort(e->order, (size_t)n, sizeof *e->order, outbox_cmp);
	e->n = n;
	return 0;
}

/* Consumer: collect the statement in flight and act on its result. */
int ipcl_outbox_consumer_settle(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	PGresult *r;
	int rc, q = e->pending;

	rc = ipcl_outbox_collect(e->conn, deadline_ns, &r, ep->err);
	if (rc)
		return ipcl_outbox_lost(ep, rc);
	e->pending = Q_NONE;
	if (PQresultStatus(r) != (q == Q_CLAIM ? PGRES_TUPLES_OK : PGRES_COMMAND_OK)) {
		rc = ipcl_outbox_bad(r,
				     q == Q_CLAIM   ? "claim"
				     : q == Q_BEGIN ? "BEGIN"
						    : "COMMIT",
				     ep->err);
		/* An open claim transaction failed: rolled back, its rows are free. */
		if (PQtransactionStatus(e->conn) == PQTRANS_INERROR)
			ipcl_outbox_start(ep, "ROLLBACK", Q_END);
		e->txn = 0;
		return ipcl_outbox_lost(ep, rc);
	}
	switch (q) {
	case Q_BEGIN:
		e->txn = 1;
		PQclear(r);
		return 0;
	case Q_CLAIM:
		if (e->cfg.commit == COMMIT_PROCESSED)
			e->txn = 2;
		e->idle = PQntuples(r) == 0;
		return outbox_keep_rows(ep, r);
	default: /* Q_END */
		e->txn = 0;
		PQclear(r);
		return 0;
	}
}

/*
 * Consumer: wait for a reason to claim again. wake=notify: a NOTIFY (one may
 * already sit in libpq's queue), or every OUTBOX_RESCAN_MS regardless, which
 * picks up rows a dead consumer's rolled-back claim released without a NOTIFY.
 * wake=poll: poll_ms of sleep. Returns 0, -ETIMEDOUT or an error.
 */
static int outbox_wait(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	int64_t now = ipcl_now_ns(), until;
	PGnotify *nt;
	int got = 0, rc;

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	if (e->cfg.wake == WAKE_POLL) {
		until = now + e->cfg.poll_ms * 1000000LL;
		return ipcl_outbox_sleep_until(until < deadline_ns ? until : deadline_ns);
	}
	until = now + OUTBOX_RESCAN_MS * 1000000LL;
	if (until > deadline_ns)
		until = deadline_ns;
	for (;;) {
		while ((nt = PQnotifies(e->conn)) != NULL) {
			PQfreemem(nt);
			got = 1;
		}
		if (got)
			return 0;
		rc = ipcl_outbox_poll(PQsocket(e->conn), POLLIN, until);
		if (rc == -ETIMEDOUT)
			return until == deadline_ns ? -ETIMEDOUT : 0;
		if (rc)
			return ipcl_seterr(ep->err, rc, "poll: %s", strerror(-rc));
		if (!PQconsumeInput(e->conn))
			return ipcl_outbox_lost(ep, IPCL_EBROKER);
	}
}

/*
 * Consumer: hand out the next claimed row; claim more when none is left.
 * commit=claim: the claim committed before any row is handed out.
 * commit=processed: the claim's transaction commits when every row of it has
 * been handed out and the consumer asks for the next one.
 */
int ipcl_outbox_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];
	int rc;

	for (;;) {
		if (e->pending != Q_NONE) {
			rc = ipcl_outbox_consumer_settle(ep, deadline_ns);
			if (rc)
				return rc;
			continue;
		}
		if (e->next < e->n) {
			int row = e->order[e->next].row;
			size_t n = (size_t)PQgetlength(e->rows, row, 1);

			if (n > cap)
				return ipcl_seterr(ep->err, IPCL_ETRUNC,
						   "row of %zu bytes, buffer of %zu", n,
						   cap);
			memcpy(buf, PQgetvalue(e->rows, row, 1), n);
			*len = n;
			e->next++;
			return 0;
		}
		ipcl_outbox_drop_rows(e);
		if (e->txn == 2) {
			rc = ipcl_outbox_start(ep, "COMMIT", Q_END);
		} else if (e->txn == 0 && e->idle) {
			/* After a timeout the next call claims first: a try must claim.
			 */
			rc = outbox_wait(ep, deadline_ns);
			e->idle = 0;
		} else if (e->txn == 0 && e->cfg.commit == COMMIT_PROCESSED) {
			rc = ipcl_outbox_start(ep, "BEGIN", Q_BEGIN);
		} else if (!PQsendQueryPrepared(e->conn, "claim", 0, NULL, NULL, NULL,
						1)) {
			rc = ipcl_outbox_lost(
			    ep, ipcl_seterr(ep->err, IPCL_EBROKER, "postgres claim: %s",
					    ipcl_outbox_oneline(PQerrorMessage(e->conn),
								line, sizeof line)));
		} else {
			e->pending = Q_CLAIM;
			rc = 0;
		}
		if (rc)
			return rc;
	}
}

/*
 * Consumer: give back the claimed rows that were never handed out, in the
 * claim's own transaction (commit=processed) or a new one: delete mode puts
 * them back under their old ids, mark mode clears processed_at. Then commit, so
 * that a consumer that stops early (at its end marker) loses nothing.
 */
int ipcl_outbox_putback(struct ipcl_ep *ep)
{
	struct outbox_ep *e = ep->state;
	char sql[256];
	PGresult *r;
	int rc = 0;

	if (e->cfg.mode == MODE_DELETE)
		snprintf(sql, sizeof sql,
			 "INSERT INTO ipcl_outbox_%s (id, payload) VALUES ($1, $2)",
			 e->cfg.name);
	else
		snprintf(sql, sizeof sql,
			 "UPDATE ipcl_outbox_%s SET processed_at = NULL WHERE id = $1",
			 e->cfg.name);
	if (e->txn == 0) {
		r = PQexec(e->conn, "BEGIN");
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = ipcl_outbox_bad(r, "BEGIN", ep->err);
		else
			PQclear(r);
	}
	for (; rc == 0 && e->next < e->n; e->next++) {
		int row = e->order[e->next].row;
		const char *vals[2] = {PQgetvalue(e->rows, row, 0),
				       PQgetvalue(e->rows, row, 1)};
		int lens[2] = {PQgetlength(e->rows, row, 0),
			       PQgetlength(e->rows, row, 1)};
		int fmts[2] = {1, 1};

		r = PQexecParams(e->conn, sql, e->cfg.mode == MODE_DELETE ? 2 : 1, NULL,
				 vals, lens, fmts, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = ipcl_outbox_bad(r, "putting rows back", ep->err);
		else
			PQclear(r);
	}
	r = PQexec(e->conn, rc ? "ROLLBACK" : "COMMIT");
	PQclear(r);
	e->txn = 0;
	return rc;
}
