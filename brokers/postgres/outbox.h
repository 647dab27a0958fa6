/*
 * outbox.h - what the files of the pg-outbox transport share (outbox.c,
 * conn.c, schema.c, produce.c, claim.c): the channel address, the endpoint,
 * and the libpq helpers. Local to brokers/postgres/.
 */
#ifndef IPCL_OUTBOX_H
#define IPCL_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

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

extern const struct ipcl_option ipcl_outbox_options[];

/* The names of wake=, mode=, commit= and sync_commit=, by enum; NULL ends each. */
extern const char *const ipcl_outbox_wake_names[];
extern const char *const ipcl_outbox_mode_names[];
extern const char *const ipcl_outbox_commit_names[];
extern const char *const ipcl_outbox_sync_names[];

/* url with any password hidden, URI or conninfo ("password=..."). */
void ipcl_outbox_redact(const char *url, char *out, size_t cap);

/* libpq's multi-line messages as one line. */
const char *ipcl_outbox_oneline(const char *msg, char *buf, size_t cap);

int ipcl_outbox_sleep_until(int64_t until_ns);

/* poll() fd for events until deadline (IPCL_FOREVER: no timer). */
int ipcl_outbox_poll(int fd, short events, int64_t deadline_ns);

/* The stem of every name: opts->tag folded to [a-z0-9_], hashed when long. */
void ipcl_outbox_name(const char *tag, char *out);

int ipcl_outbox_cfg_opts(const struct ipcl_opts *o, struct outbox_cfg *cfg, char *err);

/* The url goes last: a conninfo string may contain spaces. */
int ipcl_outbox_cfg_format(const struct outbox_cfg *cfg, char *addr, size_t cap);

/* Parse what ipcl_outbox_cfg_format wrote; -1 on anything else. */
int ipcl_outbox_cfg_parse(const char *addr, struct outbox_cfg *cfg);

/*
 * Connect to cfg->url within connect_timeout seconds (and by deadline), with
 * PQconnectStartParams/PQconnectPoll and poll() on the socket. Returns 0 and
 * *out, or a negative error with err naming the redacted URL.
 */
int ipcl_outbox_connect(const struct outbox_cfg *cfg, int64_t deadline_ns, PGconn **out,
			char *err);

/*
 * Collect the result of the statement in flight: the first error if any, else
 * the last result. With a finite deadline, waits with poll() and returns
 * -ETIMEDOUT leaving the statement in flight; IPCL_FOREVER blocks in libpq.
 */
int ipcl_outbox_collect(PGconn *c, int64_t deadline_ns, PGresult **res, char *err);

/* A result of the wrong status as an error line with the SQLSTATE. */
int ipcl_outbox_bad(PGresult *r, const char *what, char *err);

/* Run one statement to completion by deadline; 0 when it returned `expect`. */
int ipcl_outbox_exec(PGconn *c, const char *sql, ExecStatusType expect,
		     int64_t deadline_ns, PGresult **out, char *err);

int ipcl_outbox_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err);

/*
 * The table, and with wake=notify a statement-level AFTER INSERT trigger that
 * sends one NOTIFY per INSERT statement (NOTIFYs with the same channel and
 * payload fold into one per transaction, so a batch costs one). mode=mark adds a
 * partial index over the unprocessed rows so claims do not scan processed ones.
 */
int ipcl_outbox_setup(struct ipcl_chan *ch);

int ipcl_outbox_prepare(struct ipcl_ep *ep, const char *name, const char *sql,
			int nparams, const Oid *types, int64_t deadline_ns);

/* The connection is gone or out of step: name the server. */
int ipcl_outbox_lost(struct ipcl_ep *ep, int rc);

/* Send a plain statement (BEGIN, COMMIT, ROLLBACK) without waiting. */
int ipcl_outbox_start(struct ipcl_ep *ep, const char *sql, int q);

/*
 * Producer: INSERT one row. batch=1: the INSERT commits on its own. batch>1:
 * the first message opens a transaction and every batch-th commits it; until
 * then the rows are invisible to consumers (flush() commits a partial batch).
 * A send() that times out leaves its statement in flight: the row may still
 * arrive, and the next call collects it first.
 */
int ipcl_outbox_send(struct ipcl_ep *ep, const void *msg, size_t len,
		     int64_t deadline_ns);

/* Producer: rows whose COMMIT the server confirmed (the acknowledgment). */
int64_t ipcl_outbox_acked(struct ipcl_ep *ep);

/* Producer: commit a partial batch. */
int ipcl_outbox_flush(struct ipcl_ep *ep, int64_t deadline_ns);

void ipcl_outbox_drop_rows(struct outbox_ep *e);

/* Consumer: collect the statement in flight and act on its result. */
int ipcl_outbox_consumer_settle(struct ipcl_ep *ep, int64_t deadline_ns);

/*
 * Consumer: hand out the next claimed row; claim more when none is left.
 * commit=claim: the claim committed before any row is handed out.
 * commit=processed: the claim's transaction commits when every row of it has
 * been handed out and the consumer asks for the next one.
 */
int ipcl_outbox_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns);

/*
 * Consumer: give back the claimed rows that were never handed out, in the
 * claim's own transaction (commit=processed) or a new one: delete mode puts
 * them back under their old ids, mark mode clears processed_at. Then commit, so
 * that a consumer that stops early (at its end marker) loses nothing.
 */
int ipcl_outbox_putback(struct ipcl_ep *ep);

/* Drop the table (its trigger and index go with it) and the trigger function. */
void ipcl_outbox_teardown(struct ipcl_chan *ch);

/*
 * `ipclab clean --brokers` (the sweep hook): drop the outbox tables and
 * functions of runs whose process is dead.
 */
int ipcl_outbox_sweep(const char *url, int dry, int (*dead)(long pid),
		      void (*seen)(void *arg, const char *name), void *arg, char *err);

#endif
