/*
 * conn.c - what every side of the pg-outbox transport (outbox.c) uses to talk
 * to PostgreSQL with libpq: the options and the channel address
 * (outbox_cfg), the URL with its password hidden, connect with a deadline
 * (PQconnectStartParams + PQconnectPoll), and statements bounded by deadlines
 * through libpq's asynchronous calls (PQsend*, poll() on PQsocket,
 * PQconsumeInput): a statement that outlives a deadline stays in flight and
 * is collected by the next call. Errors are one line, negative errno or IPCL_E*.
 *
 * Left out: TLS options beyond the URL, pipeline mode.
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

const struct ipcl_option ipcl_outbox_options[] = {
    {"url", "", "postgresql:// URL or conninfo string of the server"},
    {"connect_timeout", "3", "seconds to wait for a connection"},
    {"batch", "1", "rows per producer transaction (flush() commits a partial batch)"},
    {"claim", "100", "rows a consumer claims per transaction"},
    {"wake", "notify",
     "notify: LISTEN/NOTIFY from an insert trigger; poll: sleep and retry"},
    {"poll_ms", "1", "wake=poll: milliseconds between empty claims"},
    {"sync_commit", "on", "synchronous_commit of every session: on, off or local"},
    {"mode", "delete", "delete: claimed rows are deleted; mark: processed_at is set"},
    {"commit", "claim",
     "claim: commit the claim before rows are handed over (at-most-once); processed: "
     "commit when the consumer asks for more (at-least-once)"},
    {NULL, NULL, NULL},
};

/* ---- small helpers ---------------------------------------------------- */

/* url with any password hidden, URI or conninfo ("password=..."). */
void ipcl_outbox_redact(const char *url, char *out, size_t cap)
{
	char *p;

	ipcl_url_redact(url, out, cap);
	p = strstr(out, "password=");
	if (p) {
		size_t keep = (size_t)(p - out) + strlen("password=");
		size_t skip = strcspn(p + strlen("password="), " &");
		char tail[IPCL_ADDR_MAX];

		snprintf(tail, sizeof tail, "%s", p + strlen("password=") + skip);
		snprintf(out + keep, cap - keep, "***%s", tail);
	}
}

/* libpq's multi-line messages as one line. */
const char *ipcl_outbox_oneline(const char *msg, char *buf, size_t cap)
{
	size_t j = 0;

	for (size_t i = 0; msg && msg[i] && j + 1 < cap; i++) {
		char ch =
		    msg[i] == '\n' || msg[i] == '\t' || msg[i] == '\r' ? ' ' : msg[i];

		if (ch == ' ' && (j == 0 || buf[j - 1] == ' '))
			continue;
		buf[j++] = ch;
	}
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = 0;
	return buf;
}

int ipcl_outbox_sleep_until(int64_t until_ns)
{
	int64_t d = until_ns - ipcl_now_ns();
	struct timespec ts;

	if (d <= 0)
		return 0;
	ts.tv_sec = d / 1000000000;
	ts.tv_nsec = d % 1000000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

/* poll() fd for events until deadline (IPCL_FOREVER: no timer). */
int ipcl_outbox_poll(int fd, short events, int64_t deadline_ns)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int ms = -1, r;

		if (deadline_ns != IPCL_FOREVER) {
			int64_t d = deadline_ns - ipcl_now_ns();

			if (d <= 0)
				return -ETIMEDOUT;
			ms = (int)((d + 999999) / 1000000);
		}
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0)
			continue; /* re-check the clock: poll rounds to ms */
		if (errno != EINTR)
			return -errno;
	}
}

/* The stem of every name: opts->tag folded to [a-z0-9_], hashed when long. */
void ipcl_outbox_name(const char *tag, char *out)
{
	size_t n = strlen(tag), j = 0;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)tag[i]) * 16777619u;
	for (size_t i = 0; i < n && j < OUTBOX_IDENT; i++) {
		char ch = tag[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			ch = '_';
		out[j++] = ch;
	}
	out[j] = 0;
	if (n > OUTBOX_IDENT || j == 0)
		snprintf(out + (j > 31 ? 31 : j), OUTBOX_IDENT + 1 - (j > 31 ? 31 : j),
			 "_%08x", h);
}

/* ---- configuration: options -> cfg -> addr -> cfg ---------------------- */

const char *const ipcl_outbox_wake_names[] = {"notify", "poll", NULL};
const char *const ipcl_outbox_mode_names[] = {"delete", "mark", NULL};
const char *const ipcl_outbox_commit_names[] = {"claim", "processed", NULL};
const char *const ipcl_outbox_sync_names[] = {"on", "off", "local", NULL};

static int outbox_pick(const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(v, names[i]) == 0)
			return *out = i, 0;
	return -1;
}

int ipcl_outbox_cfg_opts(const struct ipcl_opts *o, struct outbox_cfg *cfg, char *err)
{
	const char *v;
	int rc, k;

	memset(cfg, 0, sizeof *cfg);
	v = ipcl_opt(o, ipcl_outbox_options, "url");
	if (!v || !*v)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option url is not set (-O url=postgresql://..., or "
				   "IPCLAB_PG_URL)");
	if (strlen(v) >= sizeof cfg->url - 160)
		return ipcl_seterr(err, IPCL_EINVAL, "option url is too long");
	/* A bare word would be taken as a database name on the default socket. */
	if (strncmp(v, "postgresql://", 13) != 0 && strncmp(v, "postgres://", 11) != 0 &&
	    !strchr(v, '=')) {
		char shown[160];

		ipcl_outbox_redact(v, shown, sizeof shown);
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "option url=%.60s: want postgresql://... or a conninfo string "
		    "(host=... port=...)",
		    shown);
	}
	snprintf(cfg->url, sizeof cfg->url, "%s", v);
	if ((rc = ipcl_opt_int(o, ipcl_outbox_options, "connect_timeout", 1, 3600,
			       &cfg->ct, err)) ||
	    (rc = ipcl_opt_int(o, ipcl_outbox_options, "batch", 1, 1000000, &cfg->batch,
			       err)) ||
	    (rc = ipcl_opt_int(o, ipcl_outbox_options, "claim", 1, 1000000, &cfg->claim,
			       err)) ||
	    (rc = ipcl_opt_int(o, ipcl_outbox_options, "poll_ms", 0, 60000, &cfg->poll_ms,
			       err)))
		return rc;
	v = ipcl_opt(o, ipcl_outbox_options, "wake");
	if (outbox_pick(v, ipcl_outbox_wake_names, &cfg->wake))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option wake=%s: want notify or poll", v);
	v = ipcl_opt(o, ipcl_outbox_options, "mode");
	if (outbox_pick(v, ipcl_outbox_mode_names, &cfg->mode))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option mode=%s: want delete or mark", v);
	v = ipcl_opt(o, ipcl_outbox_options, "commit");
	if (outbox_pick(v, ipcl_outbox_commit_names, &cfg->commit))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option commit=%s: want claim or processed", v);
	v = ipcl_opt(o, ipcl_outbox_options, "sync_commit");
	if (outbox_pick(v, ipcl_outbox_sync_names, &k))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option sync_commit=%s: want on, off or local", v);
	snprintf(cfg->sync, sizeof cfg->sync, "%s", v);
	/* Large messages: keep one claim's rows in memory below OUTBOX_CLAIM_MEM. */
	if (o->msg_size > 0 && cfg->claim > 1 &&
	    (unsigned long long)cfg->claim * o->msg_size > OUTBOX_CLAIM_MEM) {
		cfg->claim = (long long)(OUTBOX_CLAIM_MEM / o->msg_size);
		if (cfg->claim < 1)
			cfg->claim = 1;
	}
	return 0;
}

/* The url goes last: a conninfo string may contain spaces. */
int ipcl_outbox_cfg_format(const struct outbox_cfg *cfg, char *addr, size_t cap)
{
	int n =
	    snprintf(addr, cap,
		     "name=%s batch=%lld claim=%lld wake=%s poll_ms=%lld sync=%s mode=%s "
		     "commit=%s ct=%lld url=%s",
		     cfg->name, cfg->batch, cfg->claim, ipcl_outbox_wake_names[cfg->wake],
		     cfg->poll_ms, cfg->sync, ipcl_outbox_mode_names[cfg->mode],
		     ipcl_outbox_commit_names[cfg->commit], cfg->ct, cfg->url);

	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

static int outbox_num(const char *v, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno || end == v || *end || *out < lo || *out > hi ? -1 : 0;
}

/* Parse what ipcl_outbox_cfg_format wrote; -1 on anything else. */
int ipcl_outbox_cfg_parse(const char *addr, struct outbox_cfg *cfg)
{
	char buf[IPCL_ADDR_MAX], *save = NULL, *tok, *url;
	int seen = 0, k;

	memset(cfg, 0, sizeof *cfg);
	snprintf(buf, sizeof buf, "%s", addr);
	url = strstr(buf, " url=");
	if (!url || !url[5])
		return -1;
	*url = 0;
	snprintf(cfg->url, sizeof cfg->url, "%s", url + 5);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *v = strchr(tok, '=');
		int bad = 0;

		if (!v)
			return -1;
		*v++ = 0;
		if (strcmp(tok, "name") == 0 && *v && strlen(v) <= OUTBOX_IDENT &&
		    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(v))
			snprintf(cfg->name, sizeof cfg->name, "%s", v), seen |= 1;
		else if (strcmp(tok, "batch") == 0)
			bad = outbox_num(v, 1, 1000000, &cfg->batch), seen |= 2;
		else if (strcmp(tok, "claim") == 0)
			bad = outbox_num(v, 1, 1000000, &cfg->claim), seen |= 4;
		else if (strcmp(tok, "wake") == 0)
			bad = outbox_pick(v, ipcl_outbox_wake_names, &cfg->wake),
			seen |= 8;
		else if (strcmp(tok, "poll_ms") == 0)
			bad = outbox_num(v, 0, 60000, &cfg->poll_ms), seen |= 16;
		else if (strcmp(tok, "sync") == 0) {
			bad = outbox_pick(v, ipcl_outbox_sync_names, &k);
			snprintf(cfg->sync, sizeof cfg->sync, "%s", bad ? "" : v);
			seen |= 32;
		} else if (strcmp(tok, "mode") == 0)
			bad = outbox_pick(v, ipcl_outbox_mode_names, &cfg->mode),
			seen |= 64;
		else if (strcmp(tok, "commit") == 0)
			bad = outbox_pick(v, ipcl_outbox_commit_names, &cfg->commit),
			seen |= 128;
		else if (strcmp(tok, "ct") == 0)
			bad = outbox_num(v, 1, 3600, &cfg->ct), seen |= 256;
		else
			bad = 1;
		if (bad)
			return -1;
	}
	return seen == 511 ? 0 : -1;
}

/* ---- libpq plumbing --------------------------------------------------- */

/* Server NOTICEs ("does not exist, skipping") are not ours to print. */
static void outbox_notice(void *arg, const char *msg)
{
}

/*
 * Connect to cfg->url within connect_timeout seconds (and by deadline), with
 * PQconnectStartParams/PQconnectPoll and poll() on the socket. Returns 0 and
 * *out, or a negative error with err naming the redacted URL.
 */
int ipcl_outbox_connect(const struct outbox_cfg *cfg, int64_t deadline_ns, PGconn **out,
			char *err)
{
	char ct[24], shown[160], line[IPCL_ERR_MAX];
	const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *vals[] = {cfg->url, ct, "ipclab", NULL};
	int64_t limit = ipcl_now_ns() + cfg->ct * 1000000000LL;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *c;
	int rc = 0;

	*out = NULL;
	if (deadline_ns < limit)
		limit = deadline_ns;
	snprintf(ct, sizeof ct, "%lld", cfg->ct);
	ipcl_outbox_redact(cfg->url, shown, sizeof shown);
	c = PQconnectStartParams(keys, vals, 1);
	if (!c)
		return ipcl_seterr(err, -ENOMEM, "postgres %s: out of memory", shown);
	if (PQstatus(c) == CONNECTION_BAD)
		goto failed;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto failed;
		rc = ipcl_outbox_poll(
		    PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, limit);
		if (rc == -ETIMEDOUT) {
			ipcl_seterr(err, rc, "postgres %s: no connection within %lld s",
				    shown, cfg->ct);
			goto out;
		}
		if (rc) {
			ipcl_seterr(err, rc, "postgres %s: poll: %s", shown,
				    strerror(-rc));
			goto out;
		}
		st = PQconnectPoll(c);
	}
	PQsetNoticeProcessor(c, outbox_notice, NULL);
	*out = c;
	return 0;
failed:
	rc = IPCL_EBROKER;
	ipcl_seterr(err, rc, "postgres %s: %s", shown,
		    ipcl_outbox_oneline(PQerrorMessage(c), line, sizeof line));
out:
	PQfinish(c);
	return rc;
}

/*
 * Collect the result of the statement in flight: the first error if any, else
 * the last result. With a finite deadline, waits with poll() and returns
 * -ETIMEDOUT leaving the statement in flight; IPCL_FOREVER blocks in libpq.
 */
int ipcl_outbox_collect(PGconn *c, int64_t deadline_ns, PGresult **res, char *err)
{
	char line[IPCL_ERR_MAX];
	PGresult *r, *keep = NULL;
	int rc;

	*res = NULL;
	for (;;) {
		while (deadline_ns != IPCL_FOREVER && PQisBusy(c)) {
			rc = ipcl_outbox_poll(PQsocket(c), POLLIN, deadline_ns);
			if (rc == 0 && !PQconsumeInput(c))
				rc = IPCL_EBROKER;
			if (rc) {
				if (keep)
					PQclear(keep);
				if (rc == -ETIMEDOUT)
					return rc;
				return ipcl_seterr(err, rc, "postgres: %s",
						   ipcl_outbox_oneline(PQerrorMessage(c),
								       line,
								       sizeof line));
			}
		}
		r = PQgetResult(c);
		if (!r)
			break;
		if (!keep || (PQresultStatus(keep) != PGRES_FATAL_ERROR &&
			      PQresultStatus(r) == PGRES_FATAL_ERROR)) {
			if (keep)
				PQclear(keep);
			keep = r;
		} else {
			PQclear(r);
		}
	}
	if (!keep)
		return ipcl_seterr(
		    err, IPCL_EBROKER, "postgres: %s",
		    ipcl_outbox_oneline(PQerrorMessage(c), line, sizeof line));
	*res = keep;
	return 0;
}

/* A result of the wrong status as an error line with the SQLSTATE. */
int ipcl_outbox_bad(PGresult *r, const char *what, char *err)
{
	char line[IPCL_ERR_MAX];
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	ipcl_seterr(err, IPCL_EBROKER, "postgres %s: %s%s%s", what, state ? state : "",
		    state ? " " : "",
		    ipcl_outbox_oneline(PQresultErrorMessage(r), line, sizeof line));
	PQclear(r);
	return IPCL_EBROKER;
}

/* Run one statement to completion by deadline; 0 when it returned `expect`. */
int ipcl_outbox_exec(PGconn *c, const char *sql, ExecStatusType expect,
		     int64_t deadline_ns, PGresult **out, char *err)
{
	char line[IPCL_ERR_MAX];
	PGresult *r;
	int rc;

	if (out)
		*out = NULL;
	if (!PQsendQuery(c, sql))
		return ipcl_seterr(
		    err, IPCL_EBROKER, "postgres: %s",
		    ipcl_outbox_oneline(PQerrorMessage(c), line, sizeof line));
	rc = ipcl_outbox_collect(c, deadline_ns, &r, err);
	if (rc)
		return rc;
	if (PQresultStatus(r) != expect)
		return ipcl_outbox_bad(r, sql, err);
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

int ipcl_outbox_prepare(struct ipcl_ep *ep, const char *name, const char *sql,
			int nparams, const Oid *types, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];
	PGresult *r;
	int rc;

	if (!PQsendPrepare(e->conn, name, sql, nparams, types))
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER, "postgres: %s",
		    ipcl_outbox_oneline(PQerrorMessage(e->conn), line, sizeof line));
	rc = ipcl_outbox_collect(e->conn, deadline_ns, &r, ep->err);
	if (rc)
		return rc;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return ipcl_outbox_bad(r, "PREPARE", ep->err);
	PQclear(r);
	return 0;
}

/* The connection is gone or out of step: name the server. */
int ipcl_outbox_lost(struct ipcl_ep *ep, int rc)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];

	if (rc == -ETIMEDOUT)
		return rc;
	if (PQstatus(e->conn) == CONNECTION_BAD)
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER, "postgres %s: connection lost: %s", e->shown,
		    ipcl_outbox_oneline(PQerrorMessage(e->conn), line, sizeof line));
	return rc;
}

/* Send a plain statement (BEGIN, COMMIT, ROLLBACK) without waiting. */
int ipcl_outbox_start(struct ipcl_ep *ep, const char *sql, int q)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];

	if (!PQsendQuery(e->conn, sql))
		return ipcl_outbox_lost(
		    ep, ipcl_seterr(ep->err, IPCL_EBROKER, "postgres %s: %s", sql,
				    ipcl_outbox_oneline(PQerrorMessage(e->conn), line,
							sizeof line)));
	e->pending = q;
	return 0;
}
