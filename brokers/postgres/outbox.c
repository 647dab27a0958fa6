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

#define OUTBOX_MAX_MSG   (256u << 20) /* our cap; a bytea value may be up to 1 GiB */
#define OUTBOX_BYTEA_MAX 1073741823u  /* the varlena limit: 1 GiB - 1 */
#define OUTBOX_CLAIM_MEM (64u << 20)  /* keep one claim's rows below this */
#define OUTBOX_RESCAN_MS 1000 /* notify mode still rescans this often (see recv) */
#define OUTBOX_IDENT     40   /* bytes of the channel's name stem */
#define BYTEAOID         17

enum outbox_wake { WAKE_NOTIFY, WAKE_POLL };
enum outbox_mode { MODE_DELETE, MODE_MARK };
enum outbox_commit { COMMIT_CLAIM, COMMIT_PROCESSED };

/* Statements that may be in flight when a deadline passes. */
enum outbox_q { Q_NONE, Q_BEGIN, Q_INSERT, Q_CLAIM, Q_END, Q_ROLLBACK };

/* Everything open() needs, carried in chan->addr. */
struct outbox_cfg {
	char name[OUTBOX_IDENT + 1]; /* [a-z0-9_] stem of table, function, channel */
	long long batch, claim, poll_ms, ct;
	int wake, mode, commit;
	char sync[8]; /* on | off | local */
	char url[IPCL_ADDR_MAX];
};

struct outbox_row {
	long long id;
	int row;
};

struct outbox_ep {
	PGconn *conn;
	struct outbox_cfg cfg;
	char shown[160]; /* the redacted URL, for messages */
	int pending;     /* enum outbox_q: the statement in flight */
	/* producer */
	long long batched; /* INSERTs in the open transaction */
	int64_t committed; /* rows whose transaction committed (acked()) */
	/* consumer */
	int txn;  /* commit=processed: 1 BEGIN done, 2 claim done, rows still held */
	int idle; /* the last claim found nothing: wait before the next */
	PGresult *rows;
	struct outbox_row *order; /* rows sorted by id */
	int n, next;
};

static const struct ipcl_option outbox_options[] = {
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
static void outbox_redact(const char *url, char *out, size_t cap)
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
static const char *outbox_oneline(const char *msg, char *buf, size_t cap)
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

static int outbox_sleep_until(int64_t until_ns)
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
static int outbox_poll(int fd, short events, int64_t deadline_ns)
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
static void outbox_name(const char *tag, char *out)
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

static int outbox_pick(const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(v, names[i]) == 0)
			return *out = i, 0;
	return -1;
}

static const char *const wake_names[] = {"notify", "poll", NULL};
static const char *const mode_names[] = {"delete", "mark", NULL};
static const char *const commit_names[] = {"claim", "processed", NULL};
static const char *const sync_names[] = {"on", "off", "local", NULL};

static int outbox_cfg_opts(const struct ipcl_opts *o, struct outbox_cfg *cfg, char *err)
{
	const char *v;
	int rc, k;

	memset(cfg, 0, sizeof *cfg);
	v = ipcl_opt(o, outbox_options, "url");
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

		outbox_redact(v, shown, sizeof shown);
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "option url=%.60s: want postgresql://... or a conninfo string "
		    "(host=... port=...)",
		    shown);
	}
	snprintf(cfg->url, sizeof cfg->url, "%s", v);
	if ((rc = ipcl_opt_int(o, outbox_options, "connect_timeout", 1, 3600, &cfg->ct,
			       err)) ||
	    (rc = ipcl_opt_int(o, outbox_options, "batch", 1, 1000000, &cfg->batch,
			       err)) ||
	    (rc = ipcl_opt_int(o, outbox_options, "claim", 1, 1000000, &cfg->claim,
			       err)) ||
	    (rc = ipcl_opt_int(o, outbox_options, "poll_ms", 0, 60000, &cfg->poll_ms,
			       err)))
		return rc;
	v = ipcl_opt(o, outbox_options, "wake");
	if (outbox_pick(v, wake_names, &cfg->wake))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option wake=%s: want notify or poll", v);
	v = ipcl_opt(o, outbox_options, "mode");
	if (outbox_pick(v, mode_names, &cfg->mode))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option mode=%s: want delete or mark", v);
	v = ipcl_opt(o, outbox_options, "commit");
	if (outbox_pick(v, commit_names, &cfg->commit))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option commit=%s: want claim or processed", v);
	v = ipcl_opt(o, outbox_options, "sync_commit");
	if (outbox_pick(v, sync_names, &k))
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
static int outbox_cfg_format(const struct outbox_cfg *cfg, char *addr, size_t cap)
{
	int n =
	    snprintf(addr, cap,
		     "name=%s batch=%lld claim=%lld wake=%s poll_ms=%lld sync=%s mode=%s "
		     "commit=%s ct=%lld url=%s",
		     cfg->name, cfg->batch, cfg->claim, wake_names[cfg->wake],
		     cfg->poll_ms, cfg->sync, mode_names[cfg->mode],
		     commit_names[cfg->commit], cfg->ct, cfg->url);

	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

static int outbox_num(const char *v, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	return errno || end == v || *end || *out < lo || *out > hi ? -1 : 0;
}

/* Parse what outbox_cfg_format wrote; -1 on anything else. */
static int outbox_cfg_parse(const char *addr, struct outbox_cfg *cfg)
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
			bad = outbox_pick(v, wake_names, &cfg->wake), seen |= 8;
		else if (strcmp(tok, "poll_ms") == 0)
			bad = outbox_num(v, 0, 60000, &cfg->poll_ms), seen |= 16;
		else if (strcmp(tok, "sync") == 0) {
			bad = outbox_pick(v, sync_names, &k);
			snprintf(cfg->sync, sizeof cfg->sync, "%s", bad ? "" : v);
			seen |= 32;
		} else if (strcmp(tok, "mode") == 0)
			bad = outbox_pick(v, mode_names, &cfg->mode), seen |= 64;
		else if (strcmp(tok, "commit") == 0)
			bad = outbox_pick(v, commit_names, &cfg->commit), seen |= 128;
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
static int outbox_connect(const struct outbox_cfg *cfg, int64_t deadline_ns, PGconn **out,
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
	outbox_redact(cfg->url, shown, sizeof shown);
	c = PQconnectStartParams(keys, vals, 1);
	if (!c)
		return ipcl_seterr(err, -ENOMEM, "postgres %s: out of memory", shown);
	if (PQstatus(c) == CONNECTION_BAD)
		goto failed;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto failed;
		rc = outbox_poll(PQsocket(c),
				 st == PGRES_POLLING_READING ? POLLIN : POLLOUT, limit);
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
		    outbox_oneline(PQerrorMessage(c), line, sizeof line));
out:
	PQfinish(c);
	return rc;
}

/*
 * Collect the result of the statement in flight: the first error if any, else
 * the last result. With a finite deadline, waits with poll() and returns
 * -ETIMEDOUT leaving the statement in flight; IPCL_FOREVER blocks in libpq.
 */
static int outbox_collect(PGconn *c, int64_t deadline_ns, PGresult **res, char *err)
{
	char line[IPCL_ERR_MAX];
	PGresult *r, *keep = NULL;
	int rc;

	*res = NULL;
	for (;;) {
		while (deadline_ns != IPCL_FOREVER && PQisBusy(c)) {
			rc = outbox_poll(PQsocket(c), POLLIN, deadline_ns);
			if (rc == 0 && !PQconsumeInput(c))
				rc = IPCL_EBROKER;
			if (rc) {
				if (keep)
					PQclear(keep);
				if (rc == -ETIMEDOUT)
					return rc;
				return ipcl_seterr(
				    err, rc, "postgres: %s",
				    outbox_oneline(PQerrorMessage(c), line, sizeof line));
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
		return ipcl_seterr(err, IPCL_EBROKER, "postgres: %s",
				   outbox_oneline(PQerrorMessage(c), line, sizeof line));
	*res = keep;
	return 0;
}

/* A result of the wrong status as an error line with the SQLSTATE. */
static int outbox_bad(PGresult *r, const char *what, char *err)
{
	char line[IPCL_ERR_MAX];
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	ipcl_seterr(err, IPCL_EBROKER, "postgres %s: %s%s%s", what, state ? state : "",
		    state ? " " : "",
		    outbox_oneline(PQresultErrorMessage(r), line, sizeof line));
	PQclear(r);
	return IPCL_EBROKER;
}

/* Run one statement to completion by deadline; 0 when it returned `expect`. */
static int outbox_exec(PGconn *c, const char *sql, ExecStatusType expect,
		       int64_t deadline_ns, PGresult **out, char *err)
{
	char line[IPCL_ERR_MAX];
	PGresult *r;
	int rc;

	if (out)
		*out = NULL;
	if (!PQsendQuery(c, sql))
		return ipcl_seterr(err, IPCL_EBROKER, "postgres: %s",
				   outbox_oneline(PQerrorMessage(c), line, sizeof line));
	rc = outbox_collect(c, deadline_ns, &r, err);
	if (rc)
		return rc;
	if (PQresultStatus(r) != expect)
		return outbox_bad(r, sql, err);
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* ---- probe, setup, teardown ------------------------------------------ */

static int outbox_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	static const char *const keys[] = {
	    "server_version",  "synchronous_commit", "fsync",          "wal_level",
	    "max_connections", "full_page_writes",   "wal_sync_method"};
	struct outbox_cfg cfg;
	PGconn *c = NULL;
	PGresult *r = NULL;
	int rc;

	rc = outbox_cfg_opts(o, &cfg, err);
	if (rc)
		return rc;
	rc = outbox_connect(&cfg, IPCL_FOREVER, &c, err);
	if (rc)
		return rc;
	rc = outbox_exec(
	    c,
	    "SELECT current_setting('server_version'), "
	    "current_setting('synchronous_commit'), current_setting('fsync'), "
	    "current_setting('wal_level'), current_setting('max_connections'), "
	    "current_setting('full_page_writes'), current_setting('wal_sync_method')",
	    PGRES_TUPLES_OK, IPCL_FOREVER, &r, err);
	if (rc)
		goto out;
	for (int i = 0; i < 7; i++)
		ipcl_fact(p, i == 1 ? "server_synchronous_commit" : keys[i], "%s",
			  PQgetvalue(r, 0, i));
	ipcl_fact(p, "libpq_version", "%d", PQlibVersion());
	ipcl_fact(p, "sync_commit", "%s", cfg.sync);
	if (strcmp(cfg.sync, "off") == 0)
		ipcl_fact(p, "durable",
			  "no: synchronous_commit=off loses the last commits "
			  "(up to 3 x wal_writer_delay) in a server crash");
	else
		ipcl_fact(p, "durable",
			  "yes: a committed row survives a server crash "
			  "(synchronous_commit=%s, "
			  "fsync=%s)",
			  cfg.sync, PQgetvalue(r, 0, 2));
	ipcl_fact(p, "mode", "%s", mode_names[cfg.mode]);
	ipcl_fact(p, "wake", "%s", wake_names[cfg.wake]);
	ipcl_fact(p, "commit", "%s", commit_names[cfg.commit]);
	ipcl_fact(p, "delivery",
		  cfg.commit == COMMIT_CLAIM
		      ? "at-most-once: a consumer that dies holding "
			"claimed rows loses them"
		      : "at-least-once: a consumer that dies holding "
			"claimed rows leaves them to the others");
	ipcl_fact(p, "batch", "%lld", cfg.batch);
	ipcl_fact(p, "claim", "%lld", cfg.claim);
	ipcl_fact(p, "bytea_max", "%u", OUTBOX_BYTEA_MAX);
	ipcl_fact(p, "max_msg_note",
		  "capped at 256 MiB of the 1 GiB bytea limit: a row is copied several "
		  "times in both processes");
	p->max_msg = OUTBOX_MAX_MSG;
out:
	if (r)
		PQclear(r);
	PQfinish(c);
	return rc;
}

/*
 * The table, and with wake=notify a statement-level AFTER INSERT trigger that
 * sends one NOTIFY per INSERT statement (NOTIFYs with the same channel and
 * payload fold into one per transaction, so a batch costs one). mode=mark adds a
 * partial index over the unprocessed rows so claims do not scan processed ones.
 */
static int outbox_setup(struct ipcl_chan *ch)
{
	struct outbox_cfg cfg;
	char sql[2048];
	const char *n;
	PGconn *c = NULL;
	int rc, len;

	rc = outbox_cfg_opts(ch->opts, &cfg, ch->err);
	if (rc)
		return rc;
	if (ch->opts->msg_size > OUTBOX_MAX_MSG)
		return ipcl_seterr(ch->err, IPCL_ETOOBIG,
				   "messages of %zu bytes: pg-outbox carries at most %u",
				   ch->opts->msg_size, OUTBOX_MAX_MSG);
	outbox_name(ch->opts->tag ? ch->opts->tag : "", cfg.name);
	n = cfg.name;
	if (outbox_cfg_format(&cfg, ch->addr, sizeof ch->addr))
		return ipcl_seterr(ch->err, IPCL_EINVAL, "option url is too long");
	rc = outbox_connect(&cfg, IPCL_FOREVER, &c, ch->err);
	if (rc)
		goto out;
	len = snprintf(
	    sql, sizeof sql,
	    "CREATE TABLE ipcl_outbox_%s (id bigserial PRIMARY KEY, payload bytea "
	    "NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), processed_at "
	    "timestamptz);",
	    n);
	if (cfg.mode == MODE_MARK)
		len += snprintf(
		    sql + len, sizeof sql - (size_t)len,
		    "CREATE INDEX ipcl_outbox_%s_todo ON ipcl_outbox_%s (id) WHERE "
		    "processed_at IS NULL;",
		    n, n);
	if (cfg.wake == WAKE_NOTIFY)
		snprintf(
		    sql + len, sizeof sql - (size_t)len,
		    "CREATE FUNCTION ipcl_outbox_%s_notify() RETURNS trigger LANGUAGE "
		    "plpgsql AS $f$BEGIN PERFORM pg_notify('ipcl_%s', ''); RETURN NULL; "
		    "END$f$;"
		    "CREATE TRIGGER ipcl_outbox_%s_notify AFTER INSERT ON ipcl_outbox_%s "
		    "FOR EACH STATEMENT EXECUTE FUNCTION ipcl_outbox_%s_notify();",
		    n, n, n, n, n);
	/* One simple-query string is one transaction: all of it or none. */
	rc = outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, ch->err);
out:
	PQfinish(c);
	return rc;
}

/* ---- endpoints -------------------------------------------------------- */

static int outbox_prepare(struct ipcl_ep *ep, const char *name, const char *sql,
			  int nparams, const Oid *types, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];
	PGresult *r;
	int rc;

	if (!PQsendPrepare(e->conn, name, sql, nparams, types))
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER, "postgres: %s",
		    outbox_oneline(PQerrorMessage(e->conn), line, sizeof line));
	rc = outbox_collect(e->conn, deadline_ns, &r, ep->err);
	if (rc)
		return rc;
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return outbox_bad(r, "PREPARE", ep->err);
	PQclear(r);
	return 0;
}

static int outbox_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	const char *n = e->cfg.name;
	char sql[512];
	Oid bytea = BYTEAOID;
	int rc;

	if (outbox_cfg_parse(ep->chan->addr, &e->cfg))
		return ipcl_seterr(ep->err, IPCL_EINVAL,
				   "pg-outbox: malformed address '%.80s'",
				   ep->chan->addr);
	outbox_redact(e->cfg.url, e->shown, sizeof e->shown);
	rc = outbox_connect(&e->cfg, deadline_ns, &e->conn, ep->err);
	if (rc)
		return rc;
	snprintf(sql, sizeof sql, "SET synchronous_commit = %s", e->cfg.sync);
	rc = outbox_exec(e->conn, sql, PGRES_COMMAND_OK, deadline_ns, NULL, ep->err);
	if (rc)
		return rc;
	if (ep->role == IPCL_PRODUCER) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO ipcl_outbox_%s (payload) VALUES ($1)", n);
		return outbox_prepare(ep, "ins", sql, 1, &bytea, deadline_ns);
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
	rc = outbox_prepare(ep, "claim", sql, 0, NULL, deadline_ns);
	if (rc || e->cfg.wake != WAKE_NOTIFY)
		return rc;
	/* Subscribed before open() returns: no row committed after this is missed. */
	snprintf(sql, sizeof sql, "LISTEN ipcl_%s", n);
	return outbox_exec(e->conn, sql, PGRES_COMMAND_OK, deadline_ns, NULL, ep->err);
}

/* The connection is gone or out of step: name the server. */
static int outbox_lost(struct ipcl_ep *ep, int rc)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];

	if (rc == -ETIMEDOUT)
		return rc;
	if (PQstatus(e->conn) == CONNECTION_BAD)
		return ipcl_seterr(
		    ep->err, IPCL_EBROKER, "postgres %s: connection lost: %s", e->shown,
		    outbox_oneline(PQerrorMessage(e->conn), line, sizeof line));
	return rc;
}

/* Send a plain statement (BEGIN, COMMIT, ROLLBACK) without waiting. */
static int outbox_start(struct ipcl_ep *ep, const char *sql, int q)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];

	if (!PQsendQuery(e->conn, sql))
		return outbox_lost(ep, ipcl_seterr(ep->err, IPCL_EBROKER,
						   "postgres %s: %s", sql,
						   outbox_oneline(PQerrorMessage(e->conn),
								  line, sizeof line)));
	e->pending = q;
	return 0;
}

/* Producer: collect the statement in flight; roll back a failed transaction. */
static int outbox_settle(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	PGresult *r;
	int rc, q;

	while (e->pending != Q_NONE) {
		rc = outbox_collect(e->conn, deadline_ns, &r, ep->err);
		if (rc)
			return outbox_lost(ep, rc);
		q = e->pending;
		e->pending = Q_NONE;
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = outbox_bad(r,
					q == Q_INSERT  ? "INSERT"
					: q == Q_END   ? "COMMIT"
					: q == Q_BEGIN ? "BEGIN"
						       : "ROLLBACK",
					ep->err);
			/* The rows of an aborted batch are gone; end the transaction. */
			if (PQtransactionStatus(e->conn) == PQTRANS_INERROR)
				outbox_start(ep, "ROLLBACK", Q_ROLLBACK);
			e->batched = 0;
			return outbox_lost(ep, rc);
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
static int outbox_send(struct ipcl_ep *ep, const void *msg, size_t len,
		       int64_t deadline_ns)
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
		rc = outbox_start(ep, "BEGIN", Q_BEGIN);
		if (rc == 0)
			rc = outbox_settle(ep, deadline_ns);
		if (rc)
			return rc;
	}
	if (!PQsendQueryPrepared(e->conn, "ins", 1, vals, lens, fmts, 0))
		return outbox_lost(ep, ipcl_seterr(ep->err, IPCL_EBROKER,
						   "postgres INSERT: %s",
						   outbox_oneline(PQerrorMessage(e->conn),
								  line, sizeof line)));
	e->pending = Q_INSERT;
	rc = outbox_settle(ep, deadline_ns);
	if (rc || e->cfg.batch == 1 || e->batched < e->cfg.batch)
		return rc;
	rc = outbox_start(ep, "COMMIT", Q_END);
	return rc ? rc : outbox_settle(ep, deadline_ns);
}

/* Producer: rows whose COMMIT the server confirmed (the acknowledgment). */
static int64_t outbox_acked(struct ipcl_ep *ep)
{
	struct outbox_ep *e = ep->state;

	return e->committed;
}

/* Producer: commit a partial batch. */
static int outbox_flush(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	int rc;

	if (!e->conn || ep->role != IPCL_PRODUCER)
		return 0;
	rc = outbox_settle(ep, deadline_ns);
	if (rc || PQtransactionStatus(e->conn) != PQTRANS_INTRANS)
		return rc;
	rc = outbox_start(ep, "COMMIT", Q_END);
	return rc ? rc : outbox_settle(ep, deadline_ns);
}

static int outbox_cmp(const void *a, const void *b)
{
	const struct outbox_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void outbox_drop_rows(struct outbox_ep *e)
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
static int outbox_consumer_settle(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	PGresult *r;
	int rc, q = e->pending;

	rc = outbox_collect(e->conn, deadline_ns, &r, ep->err);
	if (rc)
		return outbox_lost(ep, rc);
	e->pending = Q_NONE;
	if (PQresultStatus(r) != (q == Q_CLAIM ? PGRES_TUPLES_OK : PGRES_COMMAND_OK)) {
		rc = outbox_bad(r,
				q == Q_CLAIM   ? "claim"
				: q == Q_BEGIN ? "BEGIN"
					       : "COMMIT",
				ep->err);
		/* An open claim transaction failed: rolled back, its rows are free. */
		if (PQtransactionStatus(e->conn) == PQTRANS_INERROR)
			outbox_start(ep, "ROLLBACK", Q_END);
		e->txn = 0;
		return outbox_lost(ep, rc);
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
		return outbox_sleep_until(until < deadline_ns ? until : deadline_ns);
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
		rc = outbox_poll(PQsocket(e->conn), POLLIN, until);
		if (rc == -ETIMEDOUT)
			return until == deadline_ns ? -ETIMEDOUT : 0;
		if (rc)
			return ipcl_seterr(ep->err, rc, "poll: %s", strerror(-rc));
		if (!PQconsumeInput(e->conn))
			return outbox_lost(ep, IPCL_EBROKER);
	}
}

/*
 * Consumer: hand out the next claimed row; claim more when none is left.
 * commit=claim: the claim committed before any row is handed out.
 * commit=processed: the claim's transaction commits when every row of it has
 * been handed out and the consumer asks for the next one.
 */
static int outbox_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		       int64_t deadline_ns)
{
	struct outbox_ep *e = ep->state;
	char line[IPCL_ERR_MAX];
	int rc;

	for (;;) {
		if (e->pending != Q_NONE) {
			rc = outbox_consumer_settle(ep, deadline_ns);
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
		outbox_drop_rows(e);
		if (e->txn == 2) {
			rc = outbox_start(ep, "COMMIT", Q_END);
		} else if (e->txn == 0 && e->idle) {
			/* After a timeout the next call claims first: a try must claim.
			 */
			rc = outbox_wait(ep, deadline_ns);
			e->idle = 0;
		} else if (e->txn == 0 && e->cfg.commit == COMMIT_PROCESSED) {
			rc = outbox_start(ep, "BEGIN", Q_BEGIN);
		} else if (!PQsendQueryPrepared(e->conn, "claim", 0, NULL, NULL, NULL,
						1)) {
			rc = outbox_lost(
			    ep, ipcl_seterr(ep->err, IPCL_EBROKER, "postgres claim: %s",
					    outbox_oneline(PQerrorMessage(e->conn), line,
							   sizeof line)));
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
static int outbox_putback(struct ipcl_ep *ep)
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
			rc = outbox_bad(r, "BEGIN", ep->err);
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
			rc = outbox_bad(r, "putting rows back", ep->err);
		else
			PQclear(r);
	}
	r = PQexec(e->conn, rc ? "ROLLBACK" : "COMMIT");
	PQclear(r);
	e->txn = 0;
	return rc;
}

/*
 * Producer: a batch not flushed is rolled back by PQfinish. Consumer: a claim
 * still in flight is collected (for at most connect_timeout), the rows not yet
 * handed out go back (outbox_putback), and commit=processed commits the rows
 * that were handed out: a consumer that closes has processed them.
 */
static void outbox_close(struct ipcl_ep *ep)
{
	struct outbox_ep *e = ep->state;

	if (!e->conn)
		return;
	if (ep->role == IPCL_CONSUMER && PQstatus(e->conn) == CONNECTION_OK) {
		int64_t limit = ipcl_now_ns() + e->cfg.ct * 1000000000LL;

		while (e->pending != Q_NONE && outbox_consumer_settle(ep, limit) == 0)
			;
		if (e->pending == Q_NONE && e->next < e->n)
			outbox_putback(ep);
		else if (e->pending == Q_NONE && e->txn == 2)
			PQclear(PQexec(e->conn, "COMMIT"));
	}
	outbox_drop_rows(e);
	PQfinish(e->conn);
	e->conn = NULL;
}

/* Drop the table (its trigger and index go with it) and the trigger function. */
static void outbox_teardown(struct ipcl_chan *ch)
{
	struct outbox_cfg cfg;
	char sql[512], err[IPCL_ERR_MAX];
	PGconn *c = NULL;

	if (outbox_cfg_parse(ch->addr, &cfg))
		return;
	if (outbox_connect(&cfg, IPCL_FOREVER, &c, err))
		return;
	snprintf(sql, sizeof sql,
		 "DROP TABLE IF EXISTS ipcl_outbox_%s; DROP FUNCTION IF EXISTS "
		 "ipcl_outbox_%s_notify()",
		 cfg.name, cfg.name);
	if (outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, err))
		ipcl_seterr(ch->err, IPCL_EBROKER, "%s", err);
	PQfinish(c);
}

/*
 * `ipclab clean --brokers`: drops every ipcl_outbox_<pid>_... table (its
 * index and trigger go with it) and its ipcl_outbox_..._notify() function
 * whose run's process is dead. Names are read from pg_class, checked to be
 * [a-z0-9_] only, so they can be written into the SQL as they are.
 */
static int outbox_sweep(const char *url, int dry, int (*dead)(long pid),
			void (*seen)(void *arg, const char *name), void *arg, char *err)
{
	struct outbox_cfg cfg = {.ct = 5};
	PGresult *res = NULL;
	PGconn *c = NULL;
	char sql[512], what[200];
	int rc, n = 0;

	if (strlen(url) >= sizeof cfg.url)
		return ipcl_seterr(err, IPCL_EINVAL, "postgres URL too long");
	snprintf(cfg.url, sizeof cfg.url, "%s", url);
	rc = outbox_connect(&cfg, IPCL_FOREVER, &c, err);
	if (!rc)
		rc = outbox_exec(c,
				 "SELECT c.relname FROM pg_catalog.pg_class c WHERE "
				 "c.relkind = 'r' AND c.relnamespace = "
				 "current_schema()::regnamespace AND c.relname LIKE "
				 "'ipcl\\_outbox\\_%'",
				 PGRES_TUPLES_OK, IPCL_FOREVER, &res, err);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		const char *t = PQgetvalue(res, i, 0), *p = t + strlen("ipcl_outbox_");
		long pid = 0;

		if (strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(t) ||
		    strlen(t) > 63 || *p < '1' || *p > '9')
			continue;
		for (; *p >= '0' && *p <= '9' && pid < 100000000; p++)
			pid = pid * 10 + (*p - '0');
		if (*p != '_' || !dead(pid))
			continue;
		snprintf(what, sizeof what, "postgres table %s", t);
		seen(arg, what);
		n++;
		if (dry)
			continue;
		snprintf(sql, sizeof sql,
			 "DROP TABLE IF EXISTS %s; DROP FUNCTION IF EXISTS %s_notify()",
			 t, t);
		rc = outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, err);
	}
	PQclear(res);
	PQfinish(c);
	return rc ? rc : n;
}

const struct ipcl_transport ipcl_transport_pg_outbox = {
    .name = "pg-outbox",
    .summary = "PostgreSQL outbox table: INSERT, claim with FOR UPDATE SKIP LOCKED, "
	       "LISTEN/NOTIFY or polling (libpq)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_DURABLE | IPCL_CAP_MULTI_PRODUCER |
	    IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_CROSS_HOST | IPCL_CAP_NEEDS_SERVER,
    .chan_state_size = 0,
    .ep_state_size = sizeof(struct outbox_ep),
    .options = outbox_options,
    .server = "postgres",
    .probe = outbox_probe,
    .setup = outbox_setup,
    .teardown = outbox_teardown,
    .sweep = outbox_sweep,
    .open = outbox_open,
    .send = outbox_send,
    .recv = outbox_recv,
    .flush = outbox_flush,
    .acked = outbox_acked,
    .close = outbox_close,
};
