/*
 * schema.c - the pg-outbox transport's schema (outbox.c): probe reads the
 * server's facts, setup() creates the channel's table ipcl_outbox_<name>
 * (id bigserial, payload bytea, processed_at), its index and, for
 * wake=notify, the statement-level AFTER INSERT trigger and its function that
 * NOTIFY ipcl_<name>; teardown() drops them. libpq, one short-lived
 * connection each; the sweep hook drops what runs of dead processes left.
 *
 * Left out: partitioning, a retention job (mode=mark rows stay until teardown).
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

int ipcl_outbox_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	static const char *const keys[] = {
	    "server_version",  "synchronous_commit", "fsync",          "wal_level",
	    "max_connections", "full_page_writes",   "wal_sync_method"};
	struct outbox_cfg cfg;
	PGconn *c = NULL;
	PGresult *r = NULL;
	int rc;

	rc = ipcl_outbox_cfg_opts(o, &cfg, err);
	if (rc)
		return rc;
	rc = ipcl_outbox_connect(&cfg, IPCL_FOREVER, &c, err);
	if (rc)
		return rc;
	rc = ipcl_outbox_exec(
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
	ipcl_fact(p, "mode", "%s", ipcl_outbox_mode_names[cfg.mode]);
	ipcl_fact(p, "wake", "%s", ipcl_outbox_wake_names[cfg.wake]);
	ipcl_fact(p, "commit", "%s", ipcl_outbox_commit_names[cfg.commit]);
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
int ipcl_outbox_setup(struct ipcl_chan *ch)
{
	struct outbox_cfg cfg;
	char sql[2048];
	const char *n;
	PGconn *c = NULL;
	int rc, len;

	rc = ipcl_outbox_cfg_opts(ch->opts, &cfg, ch->err);
	if (rc)
		return rc;
	if (ch->opts->msg_size > OUTBOX_MAX_MSG)
		return ipcl_seterr(ch->err, IPCL_ETOOBIG,
				   "messages of %zu bytes: pg-outbox carries at most %u",
				   ch->opts->msg_size, OUTBOX_MAX_MSG);
	ipcl_outbox_name(ch->opts->tag ? ch->opts->tag : "", cfg.name);
	n = cfg.name;
	if (ipcl_outbox_cfg_format(&cfg, ch->addr, sizeof ch->addr))
		return ipcl_seterr(ch->err, IPCL_EINVAL, "option url is too long");
	rc = ipcl_outbox_connect(&cfg, IPCL_FOREVER, &c, ch->err);
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
	rc = ipcl_outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, ch->err);
out:
	PQfinish(c);
	return rc;
}

/* Drop the table (its trigger and index go with it) and the trigger function. */
void ipcl_outbox_teardown(struct ipcl_chan *ch)
{
	struct outbox_cfg cfg;
	char sql[512], err[IPCL_ERR_MAX];
	PGconn *c = NULL;

	if (ipcl_outbox_cfg_parse(ch->addr, &cfg))
		return;
	if (ipcl_outbox_connect(&cfg, IPCL_FOREVER, &c, err))
		return;
	snprintf(sql, sizeof sql,
		 "DROP TABLE IF EXISTS ipcl_outbox_%s; DROP FUNCTION IF EXISTS "
		 "ipcl_outbox_%s_notify()",
		 cfg.name, cfg.name);
	if (ipcl_outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, err))
		ipcl_seterr(ch->err, IPCL_EBROKER, "%s", err);
	PQfinish(c);
}

/*
 * `ipclab clean --brokers`: drops every ipcl_outbox_<pid>_... table (its
 * index and trigger go with it) and its ipcl_outbox_..._notify() function
 * whose run's process is dead. Names are read from pg_class, checked to be
 * [a-z0-9_] only, so they can be written into the SQL as they are.
 */
int ipcl_outbox_sweep(const char *url, int dry, int (*dead)(long pid),
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
	rc = ipcl_outbox_connect(&cfg, IPCL_FOREVER, &c, err);
	if (!rc)
		rc = ipcl_outbox_exec(c,
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
		rc = ipcl_outbox_exec(c, sql, PGRES_COMMAND_OK, IPCL_FOREVER, NULL, err);
	}
	PQclear(res);
	PQfinish(c);
	return rc ? rc : n;
}
