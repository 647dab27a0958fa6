/*
 * run.c - one measured run (run.h): the orchestrator.
 *
 * It checks the configuration against the transport, finds or starts a
 * server for a broker transport (the servers table, through <ipclab/server.h>),
 * probes the transport's limits, creates the channel(s) and the board
 * (board.h), and starts the roles (roles.h): fork+exec'd copies of this binary
 * (`ipclab __role FD SLOT`), forked children for related-only transports, or
 * threads (--threads). It then watches the clock: a watchdog kills roles that
 * overrun, a consumer that a fault scenario killed is replaced in a spare slot.
 * Once every role has ended it turns the board into one JSON record
 * (record.h), plus the fault object (inject.h) for a fault run.
 *
 * Ping-pong: role 0 sends on channel 0 and reads the echo on channel 1, role 1
 * echoes; a transport with reply() (request/response, duplex connections) uses
 * one channel. Stream and rate: roles
 * 0..P-1 produce, P..P+C-1 consume.
 *
 * It sleeps on the board's event word (a futex every role bumps at each state
 * change, and the SIGCHLD and SIGINT handlers too) instead of polling, so it
 * never takes a CPU from a spinning role. Around the measured run it reads a
 * broker server's CPU time: /proc for a server it started (proccpu.h), the
 * transport's server_cpu() hook for one given by URL.
 *
 * Syscalls: fork, execl, waitpid, kill, sigaction, futex, pthread_create/join. Output:
 * the progress line on stderr (--progress, a terminal only), and one line on
 * stderr before _exit when role threads are stuck and cannot be stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/board.h"
#include "engine/clock.h"
#include "engine/endpoint.h"
#include "engine/frame.h"
#include "engine/inject.h"
#include "engine/proccpu.h"
#include "engine/record.h"
#include "engine/registry.h"
#include "engine/roles.h"
#include "engine/run.h"
#include <ipclab/server.h>

#define NS 1000000000LL

/* SIGINT/SIGTERM during a run: stop the roles, clean up, then die of the signal. */
static volatile sig_atomic_t run_interrupted;

/* The board of the run in progress, for the signal handlers' wake-ups. */
static struct ipcl_board *volatile run_board;

static void run_on_signal(int sig)
{
	run_interrupted = sig;
	if (run_board)
		ipcl_board_event(run_board);
}

/* SIGCHLD: a role process (or a server's helper) ended; wake the orchestrator. */
static void run_on_child(int sig)
{
	int e = errno;

	(void)sig;
	if (run_board)
		ipcl_board_event(run_board);
	errno = e;
}

int ipcl_run_check(const struct ipcl_runcfg *c, char *err)
{
	const struct ipcl_transport *t = ipcl_transport_find(c->transport);
	int np = c->pattern == IPCL_PINGPONG ? 1 : c->producers;
	int nc = c->pattern == IPCL_PINGPONG ? 1 : c->consumers;

	if (!t)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "unknown transport '%s' (see `ipclab list --all`)",
				   c->transport);
	if (c->size == 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "message size must be at least 1 byte");
	if (c->size > ((size_t)1 << 30))
		return ipcl_seterr(err, IPCL_EINVAL, "message size %zu is over 1 GiB",
				   c->size);
	if (c->pattern == IPCL_RATE && (c->rate <= 0 || !c->duration_ns))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "the rate pattern needs --rate and --duration");
	if (c->pattern != IPCL_RATE && c->rate > 0)
		return ipcl_seterr(err, IPCL_EINVAL, "--rate is only for --pattern rate");
	if (!c->count && !c->duration_ns)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "give a message count or a duration");
	if (np < 1 || nc < 1 || np + nc > IPCL_MAX_ROLES)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "producers + consumers must be 2..%d, not %d + %d",
				   IPCL_MAX_ROLES, np, nc);
	if (c->pattern == IPCL_PINGPONG && (c->producers != 1 || c->consumers != 1))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "pingpong has one pinger and one echoer: drop "
				   "--producers/--consumers");
	if (np > 1 && !(t->caps & IPCL_CAP_MULTI_PRODUCER))
		return ipcl_seterr(err, IPCL_EINVAL, "%s takes only one producer",
				   t->name);
	if (nc > 1 && !(t->caps & (IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_FANOUT)))
		return ipcl_seterr(err, IPCL_EINVAL, "%s takes only one consumer",
				   t->name);
	if (np > 0xffff)
		return IPCL_EINVAL;
	if (c->clock == IPCL_CLOCK_TSC && !ipcl_tsc_invariant(NULL))
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "--clock tsc: this CPU's TSC is not invariant (no "
				   "constant_tsc and nonstop_tsc in /proc/cpuinfo)");
	if (c->stamp_every > 1 && c->pattern != IPCL_STREAM)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--stamp-every is for --pattern stream only: pingpong "
				   "and rate stamp every message");
	if ((t->caps & IPCL_CAP_THREADS_ONLY) && !c->threads)
		return ipcl_seterr(err, IPCL_EINVAL, "%s works only with --threads",
				   t->name);
	if (c->fault && c->fault != IPCL_FAULT_STALL && c->pattern == IPCL_PINGPONG)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--fault %s needs --pattern stream or rate",
				   ipcl_fault_name(c->fault));
	if ((c->fault == IPCL_FAULT_KILL_CONSUMER ||
	     c->fault == IPCL_FAULT_KILL_PRODUCER) &&
	    c->threads)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--fault %s needs process mode (a thread cannot be "
				   "killed alone): drop --threads",
				   ipcl_fault_name(c->fault));
	if (c->fault == IPCL_FAULT_KILL_CONSUMER && np + nc + 1 > IPCL_MAX_ROLES)
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "--fault kill-consumer needs a spare role slot: at most "
		    "%d roles",
		    IPCL_MAX_ROLES - 1);
	if (c->producer_only && c->pattern != IPCL_STREAM)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--producer-only needs --pattern stream");
	if (c->producer_only && !(t->caps & IPCL_CAP_NEEDS_SERVER))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--producer-only needs a broker transport: %s cannot "
				   "queue a whole run before its consumer starts",
				   t->name);
	if (c->producer_only && c->fault)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--producer-only and --fault do not go together");
	for (int i = 0; i < c->nkv; i++) {
		const struct ipcl_option *o = t->options;

		while (o && o->name && strcmp(o->name, c->kv[i].key) != 0)
			o++;
		if (!o || !o->name)
			return ipcl_seterr(err, IPCL_EINVAL,
					   "%s has no option '%s' (see `ipclab list %s`)",
					   t->name, c->kv[i].key, t->name);
	}
	return 0;
}

/* Put url=... into the options of a broker transport; may start a server. */
static int run_server_url(struct ipcl_runcfg *c, const struct ipcl_transport *t,
			  struct ipcl_server *srv, char *err)
{
	const char *env, *url;
	int rc;

	if (!t->server)
		return 0;
	for (int i = 0; i < c->nkv; i++)
		if (strcmp(c->kv[i].key, "url") == 0)
			return 0;
	env = ipcl_server_env(t->server);
	url = env ? getenv(env) : NULL;
	if (!url || !*url) {
		rc = ipcl_server_start(t->server, srv, ipcl_now_ns() + 90 * NS, err);
		if (rc)
			return rc;
		url = srv->url;
	}
	if (c->nkv >= IPCL_MAX_KV)
		return ipcl_seterr(err, IPCL_EINVAL, "too many -O options");
	snprintf(c->kv[c->nkv].key, sizeof c->kv[c->nkv].key, "url");
	snprintf(c->kv[c->nkv].val, sizeof c->kv[c->nkv].val, "%s", url);
	c->nkv++;
	return 0;
}

static pid_t run_spawn(struct ipcl_board *b, int fd, int slot,
		       const struct ipcl_transport *t, struct ipcl_role_ctx *x)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (t->caps & IPCL_CAP_RELATED_ONLY) {
		x->slot = slot;
		ipcl_role_run(x);
		_exit(b->slot[slot].rc ? 1 : 0);
	}
	{
		char fds[16], slots[16];

		snprintf(fds, sizeof fds, "%d", fd);
		snprintf(slots, sizeof slots, "%d", slot);
		execl("/proc/self/exe", "ipclab", "__role", fds, slots, (char *)NULL);
		fprintf(stderr, "ipclab: exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
}

static uint64_t run_progress(struct ipcl_board *b)
{
	uint64_t p = 0;

	for (int i = 0; i < b->nroles; i++) {
		int kind = b->slot[i].kind;

		if (kind == IPCL_ROLE_PINGER || kind == IPCL_ROLE_PRODUCER)
			p += atomic_load_explicit(&b->slot[i].progress,
						  memory_order_relaxed);
	}
	return p;
}

static void run_show_progress(struct ipcl_board *b, int64_t start, int final)
{
	const struct ipcl_runcfg *c = &b->cfg;
	double el = (double)(ipcl_now_ns() - start) / NS;
	uint64_t done = run_progress(b);

	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	if (c->duration_ns)
		fprintf(stderr, "\r\033[K[%s %s %zuB] %.1fs of %.1fs, %llu msgs",
			c->transport, ipcl_pattern_name(c->pattern), b->msg_size, el,
			(double)c->duration_ns / NS, (unsigned long long)done);
	else {
		uint64_t total = (c->count + c->warmup) * (uint64_t)c->producers;
		double f = total ? (double)done / (double)total : 0;

		fprintf(stderr,
			"\r\033[K[%s %s %zuB] %3.0f%% %llu/%llu msgs, %.1fs elapsed",
			c->transport, ipcl_pattern_name(c->pattern), b->msg_size, f * 100,
			(unsigned long long)done, (unsigned long long)total, el);
		if (f > 0.02)
			fprintf(stderr, ", ~%.0fs left", el / f - el);
	}
	fflush(stderr);
}

/*
 * IPCL_FAULT_KILL_CONSUMER: the victim is dead; start a fresh consumer in the
 * next free slot, which opens the channel again and takes the victim's place.
 * Returns 0 when it was started, or -1 with b->restart_err saying why not.
 */
static int run_restart(struct ipcl_board *b, int fd, const struct ipcl_transport *t,
		       struct ipcl_role_ctx *x, pid_t *pids)
{
	int r = b->nroles;

	if (t->caps & IPCL_CAP_RELATED_ONLY) {
		snprintf(b->restart_err, sizeof b->restart_err,
			 "%s is related-only: the channel's descriptors lived only in "
			 "the roles, so no new process can open it again",
			 t->name);
		return -1;
	}
	if (r >= IPCL_MAX_ROLES) {
		snprintf(b->restart_err, sizeof b->restart_err, "no free role slot");
		return -1;
	}
	x[r] = x[b->victim];
	x[r].slot = r;
	b->replacement = r;
	b->nroles = r + 1; /* before the fork: the new role checks its slot */
	pids[r] = run_spawn(b, fd, r, t, &x[r]);
	if (pids[r] < 0) {
		b->nroles = r;
		b->replacement = -1;
		snprintf(b->restart_err, sizeof b->restart_err, "fork: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Collect the role processes that have ended (waitpid, WNOHANG): each one
 * found lowers *left and its pid in pids turns negative. The fault victim's
 * death is expected (a killed consumer is replaced, raising *spawned and
 * *left); any other role killed by a signal aborts the run, unless the run
 * already failed (why).
 */
static void run_reap(struct ipcl_board *b, int fd, const struct ipcl_transport *t,
		     struct ipcl_role_ctx *x, pid_t *pids, int *spawned, int *left,
		     const char *why)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < *spawned; i++) {
			if (pids[i] != p)
				continue;
			pids[i] = -pids[i];
			(*left)--;
			if (WIFSIGNALED(status) && i == b->victim &&
			    atomic_load(&b->fault_fired)) {
				if (b->cfg.fault == IPCL_FAULT_KILL_CONSUMER && !why &&
				    run_restart(b, fd, t, x, pids) == 0) {
					(*spawned)++;
					(*left)++;
				}
				break;
			}
			if (WIFSIGNALED(status) && !why) {
				struct ipcl_slot *s = &b->slot[i];

				if (!s->rc)
					ipcl_slot_fail(s, -EINTR, "role process killed");
				snprintf(s->err, sizeof s->err,
					 "role process killed by signal %d (%s)",
					 WTERMSIG(status), strsignal(WTERMSIG(status)));
				atomic_store(&b->abort, 1);
			}
		}
	}
}

/* ---- timing (issue 12): the server's CPU over the run ------------------- */

/* Where the server's CPU comes from, and its reading at the start. */
struct run_srvcpu {
	pid_t pid; /* a server we or `ipclab brokers up` started, or 0 */
	const struct ipcl_transport *t; /* its server_cpu() hook, for a URL */
	const struct ipcl_opts *opts;
	int64_t start;
	int ok;           /* the start was read */
	int threads;      /* threads mode: read the whole process's CPU too */
	int64_t self0[2]; /* its user and sys ns at go */
};

/*
 * Threads mode: the whole process's CPU (RUSAGE_SELF, every thread: the roles,
 * the orchestrator, and the threads a library starts, such as ZeroMQ's I/O
 * threads, which the roles' RUSAGE_THREAD figures leave out) from go (end 0)
 * to the end of the run (end 1), onto the board.
 */
static void run_process_cpu(struct ipcl_board *b, struct run_srvcpu *sc, int end)
{
	struct rusage ru;
	int64_t u, s;

	if (!sc || !sc->threads || getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	u = (int64_t)ru.ru_utime.tv_sec * 1000000000 + ru.ru_utime.tv_usec * 1000;
	s = (int64_t)ru.ru_stime.tv_sec * 1000000000 + ru.ru_stime.tv_usec * 1000;
	if (!end) {
		sc->self0[0] = u;
		sc->self0[1] = s;
		return;
	}
	b->process_user_ns = u - sc->self0[0];
	b->process_sys_ns = s - sc->self0[1];
	b->process_cpu = 1;
}

/*
 * The PID of the server the run was given by URL when `ipclab brokers up`
 * started it: the brokers state file (harness/servers/state.c) records its
 * URL and PID; the PID counts only while it is still that server (its dir is
 * ipclab's and the process lies inside it). 0 when unknown.
 */
static pid_t run_broker_pid(const struct ipcl_runcfg *c, const struct ipcl_transport *t)
{
	const char *kinds[1] = {t->server}, *url = NULL;
	struct ipcl_server srv;
	char why[IPCL_ERR_MAX];

	for (int i = 0; i < c->nkv; i++)
		if (strcmp(c->kv[i].key, "url") == 0)
			url = c->kv[i].val;
	if (!url || ipcl_brokers_state_read(kinds, 1, &srv, why, sizeof why) ||
	    srv.pid <= 0 || strcmp(srv.url, url) != 0)
		return 0;
	return ipcl_server_dir_ok(srv.dir) && ipcl_server_owns_pid(srv.dir, srv.pid)
		   ? srv.pid
		   : 0;
}

/* The server's CPU time now (ns): 0, or an error with err set. */
static int run_server_cpu_read(const struct run_srvcpu *sc, int64_t *ns, char *err)
{
	int rc;

	if (sc->pid > 0) {
		rc = ipcl_proc_tree_cpu(sc->pid, ns);
		if (rc)
			snprintf(err, IPCL_ERR_MAX, "/proc/%ld/stat: %s", (long)sc->pid,
				 strerror(-rc));
		return rc;
	}
	return sc->t->server_cpu(sc->opts, ns, err);
}

/* At the start (end 0) and the end (end 1) of the run: read and record. */
static void run_server_cpu(struct ipcl_board *b, struct run_srvcpu *sc, int end)
{
	char err[IPCL_ERR_MAX] = "";
	int64_t ns;

	if (!sc || !sc->t || !sc->t->server || (end && !sc->ok))
		return;
	if (sc->pid <= 0 && !sc->t->server_cpu) {
		b->server_cpu = IPCL_SERVER_CPU_UNMEASURED;
		snprintf(b->server_cpu_note, sizeof b->server_cpu_note,
			 "server CPU not measured: the server was given by URL and %s "
			 "cannot ask it",
			 sc->t->name);
		return;
	}
	if (run_server_cpu_read(sc, &ns, err)) {
		b->server_cpu = IPCL_SERVER_CPU_UNMEASURED;
		snprintf(b->server_cpu_note, sizeof b->server_cpu_note,
			 "server CPU not measured: %s", err);
		sc->ok = 0;
		return;
	}
	if (!end) {
		sc->start = ns;
		sc->ok = 1;
		return;
	}
	b->server_cpu = sc->pid > 0 ? IPCL_SERVER_CPU_PROC : IPCL_SERVER_CPU_QUERY;
	b->server_cpu_ns = ns - sc->start;
}

/*
 * Wait for every role; kill the lot at the watchdog. A role that a fault
 * scenario killed is expected to die (a killed consumer is replaced through
 * run_restart). Returns an error text or NULL.
 */
static const char *run_wait(struct ipcl_board *b, int fd, const struct ipcl_transport *t,
			    struct ipcl_role_ctx *x, pid_t *pids, pthread_t *tids,
			    int spawned, struct run_srvcpu *sc)
{
	const struct ipcl_runcfg *c = &b->cfg;
	int64_t start = ipcl_now_ns(),
		watchdog = start + c->open_timeout_ns + c->timeout_ns;
	int64_t shown = 0;
	const char *why = NULL;
	int all_ready = 0, left = spawned;
	int tty = c->progress && isatty(2);

	while (left > 0) {
		uint32_t seen = atomic_load(&b->event);
		int64_t now = ipcl_now_ns(), wake;

		if (run_interrupted && !atomic_load(&b->abort)) {
			why = "interrupted by a signal";
			atomic_store(&b->abort, 1);
			all_ready = 1;
			watchdog = now + 2 * NS; /* give the roles a moment, then kill */
		}

		if (!all_ready) {
			int ready = 0, failed = 0;

			for (int i = 0; i < b->nroles; i++) {
				int st = atomic_load(&b->slot[i].state);

				ready += st == IPCL_SLOT_READY;
				failed += st == IPCL_SLOT_FAILED || st == IPCL_SLOT_DONE;
			}
			if (failed || atomic_load(&b->abort)) {
				atomic_store(&b->abort, 1);
				all_ready = 1;
			} else if (ready == b->nroles) {
				run_server_cpu(b, sc, 0);
				run_process_cpu(b, sc, 0);
				b->t_go = ipcl_now_ns();
				atomic_store(&b->go, 1);
				all_ready = 1;
				watchdog = b->t_go + c->timeout_ns;
			} else if (now - start > c->open_timeout_ns) {
				why =
				    "the roles did not all open their endpoints in time";
				atomic_store(&b->abort, 1);
				all_ready = 1;
				watchdog = now + 2 * NS;
			}
		}
		if (now > watchdog) {
			if (!why)
				why = "watchdog: the run overran its time limit "
				      "(--timeout) and was "
				      "killed; a message may have been lost on a channel "
				      "that "
				      "cannot report it";
			atomic_store(&b->abort, 1);
			if (tids)
				break; /* threads cannot be killed: leave, report */
			for (int i = 0; i < spawned; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			watchdog = INT64_MAX;
		}
		if (tty && now - start > 2 * NS && now - shown > 250000000) {
			run_show_progress(b, start, 0);
			shown = now;
		}
		if (tids) {
			left = 0;
			for (int i = 0; i < b->nroles; i++) {
				int st = atomic_load(&b->slot[i].state);

				left += st != IPCL_SLOT_DONE && st != IPCL_SLOT_FAILED;
			}
		} else {
			run_reap(b, fd, t, x, pids, &spawned, &left, why);
		}
		if (left <= 0)
			break;
		/* Sleep until something happens: a role's state, a child's exit, a
		 * signal; or the next deadline (open timeout, watchdog, progress). */
		wake = watchdog;
		if (!all_ready && start + c->open_timeout_ns < wake)
			wake = start + c->open_timeout_ns + 1;
		if (tty && now + 250000000 < wake)
			wake = now + 250000000;
		if (!tids && now + NS < wake)
			wake = now + NS; /* a reaped child whose signal came early */
		ipcl_board_event_wait(b, seen, wake);
	}
	if (!why)
		run_server_cpu(b, sc, 1);
	if (tty && shown)
		run_show_progress(b, start, 1);
	if (tids) {
		for (int i = 0; i < b->nroles; i++)
			if (!why)
				pthread_join(tids[i], NULL);
		if (!why)
			run_process_cpu(b, sc, 1); /* every role thread has ended */
	}
	return why;
}

/* ---- ipcl_run: set up, start the roles, wait, record ---------------------- */

/* One run's orchestrator state, from the check to the record. */
struct run_state {
	struct ipcl_runcfg cfg; /* the caller's, with url= added for a broker */
	const struct ipcl_transport *t;
	struct ipcl_probe probe;
	struct ipcl_server srv;
	struct ipcl_board head; /* the board's header, until the board exists */
	struct ipcl_board *b;   /* the board, or NULL */
	int fd;                 /* the board's memfd, or -1 */
	struct ipcl_role_ctx x[IPCL_MAX_ROLES];
	pid_t pids[IPCL_MAX_ROLES];
	pthread_t tids[IPCL_MAX_ROLES];
	struct ipcl_opts opts[2];
	struct ipcl_chan *chan[2];
	struct sigaction old_int, old_term, old_chld;
	struct run_srvcpu srvcpu; /* timing (issue 12) */
	const char *why; /* why the run failed, for the record; NULL if it did not */
	char perr[IPCL_ERR_MAX], serr[IPCL_ERR_MAX];
};

/* What a setup step tells ipcl_run to do next. */
enum run_next {
	RUN_GO = 0, /* carry on */
	RUN_REPORT, /* the run failed (r->why): write a record saying so */
	RUN_USAGE,  /* a usage error (err): no record */
};

/* The configuration, the signal handlers, and the board's header fields. */
static void run_init(struct run_state *r, const struct ipcl_runcfg *cfg)
{
	static unsigned run_no;
	struct sigaction sa = {.sa_handler = run_on_signal};
	struct ipcl_board *h = &r->head;
	const struct ipcl_transport *t;

	r->cfg = *cfg;
	r->t = t = ipcl_transport_find(cfg->transport);
	/*
	 * A broker delivers in batches and after its own timers (Kafka's mock
	 * cluster hands a new consumer its first batch about 1 s late): give the
	 * consumers of a server transport 3 s of silence before they call a
	 * channel done, instead of the 1 s default.
	 */
	if ((t->caps & IPCL_CAP_NEEDS_SERVER) && r->cfg.idle_ns < 3 * NS)
		r->cfg.idle_ns = 3 * NS;
	r->fd = -1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	run_interrupted = 0;
	sigaction(SIGINT, &sa, &r->old_int);
	sigaction(SIGTERM, &sa, &r->old_term);
	{
		struct sigaction sc = {.sa_handler = run_on_child,
				       .sa_flags = SA_RESTART | SA_NOCLDSTOP};

		sigemptyset(&sc.sa_mask);
		sigaction(SIGCHLD, &sc, &r->old_chld);
	}

	h->cfg = r->cfg;
	h->nchan = cfg->pattern == IPCL_PINGPONG && !t->reply ? 2 : 1;
	h->nroles = cfg->pattern == IPCL_PINGPONG ? 2 : cfg->producers + cfg->consumers;
	h->fanout = (t->caps & IPCL_CAP_FANOUT) != 0;
	h->msg_size = cfg->size;
	h->victim = -1;
	h->replacement = -1;
	for (int i = 0; i < 2; i++)
		snprintf(h->tag[i], sizeof h->tag[i], "%d-%u%c", (int)getpid(), run_no,
			 'a' + i);
	run_no++;
}

/*
 * Probe the transport's limits and decide what travels: a full frame of
 * cfg.size bytes, or a mini frame where the header does not fit; the channel's
 * message size (the oversize scenario makes it the limit itself).
 */
static enum run_next run_probe(struct run_state *r, char *err)
{
	const struct ipcl_runcfg *c = &r->cfg;
	const struct ipcl_transport *t = r->t;
	struct ipcl_probe *p = &r->probe;
	int rc;

	ipcl_board_opts(&r->head, 0, c->threads, &r->opts[0]);
	if (t->probe) {
		rc = t->probe(&r->opts[0], p, r->perr);
		if (rc == IPCL_EINVAL) {
			snprintf(err, IPCL_ERR_MAX, "%s",
				 r->perr[0] ? r->perr : ipcl_strerror(rc));
			return RUN_USAGE;
		}
		if (rc) {
			r->why = r->perr[0] ? r->perr : ipcl_strerror(rc);
			return RUN_REPORT;
		}
	}
	if (p->max_msg && c->size > p->max_msg && p->max_msg >= IPCL_FRAME_HDR) {
		ipcl_seterr(
		    err, IPCL_ETOOBIG,
		    "message size %zu is over the %s limit of %zu bytes on this machine",
		    c->size, t->name, p->max_msg);
		return RUN_USAGE;
	}
	if (p->max_msg && p->max_msg < IPCL_FRAME_HDR && c->pattern != IPCL_PINGPONG &&
	    c->producers > 1) {
		ipcl_seterr(
		    err, IPCL_EINVAL,
		    "%s carries only a sequence number (%zu bytes), which cannot tell "
		    "producers apart: use one producer",
		    t->name, p->max_msg);
		return RUN_USAGE;
	}
	if (p->max_msg && p->max_msg < IPCL_FRAME_HDR && c->size_given &&
	    c->size > p->max_msg) {
		ipcl_seterr(err, IPCL_ETOOBIG,
			    "message size %zu is over what %s carries: %zu bytes (a "
			    "sequence number only; drop --size or give at most %zu)",
			    c->size, t->name, p->max_msg, p->max_msg);
		return RUN_USAGE;
	}
	if (p->max_msg && p->max_msg < IPCL_FRAME_HDR) {
		r->head.mini = 1; /* the sequence number is all that fits */
		r->head.msg_size = p->max_msg < 8 ? p->max_msg : 8;
		/* The record's size is what travels, not what was not asked for. */
		r->cfg.size = r->head.msg_size;
		r->head.cfg.size = r->head.msg_size;
	} else if (c->size < IPCL_FRAME_HDR) {
		ipcl_seterr(
		    err, IPCL_EINVAL,
		    "message size %zu is below the %d-byte ipclab header; use %d or "
		    "more",
		    c->size, IPCL_FRAME_HDR, IPCL_FRAME_HDR);
		return RUN_USAGE;
	}
	r->head.chan_msg_size = r->head.msg_size;
	if (c->fault == IPCL_FAULT_OVERSIZE) {
		if (!p->max_msg) {
			ipcl_seterr(err, IPCL_EINVAL,
				    "--fault oversize: %s has no message size limit to "
				    "cross",
				    t->name);
			return RUN_USAGE;
		}
		if (p->max_msg < IPCL_FRAME_HDR) {
			/* A sigval: no call takes more, so there is nothing to test. */
			ipcl_seterr(
			    err, IPCL_EINVAL,
			    "--fault oversize: not applicable to %s: the mechanism "
			    "carries %zu bytes",
			    t->name, p->max_msg);
			return RUN_USAGE;
		}
		/* The channel is made for its largest message; one byte more follows. */
		r->head.chan_msg_size = p->max_msg;
		r->head.oversize_len = p->max_msg + 1;
	}
	return RUN_GO;
}

/*
 * Timing (issue 12): calibrate the stamping clock and measure its cost; the
 * stream pattern's 1-in-N stamping (every message in pingpong, rate, fault
 * runs and with mini frames); the rate pattern's pacing.
 */
static enum run_next run_timing(struct run_state *r, char *err)
{
	struct ipcl_board *h = &r->head;
	const struct ipcl_runcfg *c = &r->cfg;
	cpu_set_t set;
	int ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;

	if (ipcl_clock_setup(&h->clock, c->clock, err))
		return RUN_USAGE;
	h->stamp_every = 1;
	if (c->pattern == IPCL_STREAM && !c->fault && !h->mini)
		h->stamp_every =
		    c->stamp_every ? c->stamp_every : ipcl_stamp_every(h->clock.read_ns);
	h->pacing_spin = c->pattern == IPCL_RATE && ipcl_pacing_spins(c, ncpu);
	return RUN_GO;
}

/* The server (broker transports), the probe, the board and the channels. */
static enum run_next run_setup(struct run_state *r, char *err)
{
	enum run_next next;
	int rc;

	rc = run_server_url(&r->cfg, r->t, &r->srv, r->serr);
	r->head.cfg = r->cfg;
	if (rc) {
		r->why = r->serr;
		return RUN_REPORT;
	}
	next = run_probe(r, err);
	if (next != RUN_GO)
		return next;
	if (run_timing(r, err) != RUN_GO)
		return RUN_USAGE;
	if (ipcl_board_create(&r->head, &r->fd, &r->b, r->serr)) {
		r->why = r->serr;
		return RUN_REPORT;
	}
	run_board = r->b;
	for (int i = 0; i < r->b->nchan; i++) {
		ipcl_board_opts(r->b, i, r->cfg.threads, &r->opts[i]);
		rc = ipcl_chan_create(r->t, &r->opts[i], &r->chan[i], r->serr);
		if (rc) {
			r->why = r->serr;
			if (rc == IPCL_EINVAL || rc == IPCL_ETOOBIG) {
				snprintf(err, IPCL_ERR_MAX, "%s", r->serr);
				return RUN_USAGE;
			}
			return RUN_REPORT;
		}
		snprintf(r->b->addr[i], sizeof r->b->addr[i], "%s", r->chan[i]->addr);
	}
	return RUN_GO;
}

/*
 * Start every role, wait for them all (run_wait). With threads stuck after a
 * failure nothing can be stopped safely: say why on stderr, clean up what can
 * be, and leave the process.
 */
static void run_roles(struct run_state *r)
{
	struct ipcl_board *b = r->b;
	int threads = r->cfg.threads, spawned = 0;
	const char *w;

	for (int i = 0; i < b->nroles; i++) {
		r->x[i] = (struct ipcl_role_ctx){.b = b, .slot = i, .t = r->t};
		for (int k = 0; k < b->nchan; k++)
			r->x[i].chan[k] = r->chan[k];
		if (threads) {
			if (pthread_create(&r->tids[i], NULL, ipcl_role_thread,
					   &r->x[i])) {
				atomic_store(&b->abort, 1);
				r->why = "pthread_create failed";
				break;
			}
		} else {
			r->pids[i] = run_spawn(b, r->fd, i, r->t, &r->x[i]);
			if (r->pids[i] < 0) {
				atomic_store(&b->abort, 1);
				r->why = "fork failed";
				break;
			}
		}
		spawned++;
	}
	if (!threads)
		for (int i = 0; i < b->nchan; i++)
			ipcl_chan_detach(r->chan[i]);
	r->srvcpu.pid = r->srv.pid;
	if (r->t->server && r->srvcpu.pid <= 0)
		r->srvcpu.pid = run_broker_pid(&r->cfg, r->t);
	r->srvcpu.t = r->t;
	r->srvcpu.opts = &r->opts[0];
	r->srvcpu.threads = threads;
	w = run_wait(b, r->fd, r->t, r->x, threads ? NULL : r->pids,
		     threads ? r->tids : NULL, spawned, &r->srvcpu);
	if (w && !r->why)
		r->why = w;
	if (r->why && threads) {
		/* Threads stuck in a transport cannot be stopped safely: leave now. */
		fprintf(stderr, "ipclab: %s\n", r->why);
		for (int i = 0; i < b->nchan; i++)
			ipcl_chan_destroy(r->chan[i]);
		if (r->srv.pid)
			ipcl_server_stop(&r->srv);
		_exit(1);
	}
}

/* Destroy the channels, the board and the server; restore the signal handlers. */
static void run_cleanup(struct run_state *r)
{
	for (int i = 0; i < 2; i++)
		ipcl_chan_destroy(r->chan[i]);
	run_board = NULL;
	ipcl_board_unmap(r->b);
	if (r->fd >= 0)
		close(r->fd);
	if (r->srv.pid)
		ipcl_server_stop(&r->srv);
	sigaction(SIGINT, &r->old_int, NULL);
	sigaction(SIGTERM, &r->old_term, NULL);
	sigaction(SIGCHLD, &r->old_chld, NULL);
}

json_t *ipcl_run(const struct ipcl_runcfg *cfg, int *failed, char *err)
{
	struct run_state r = {0};
	json_t *rec = NULL;
	enum run_next next;

	*failed = 1;
	if (ipcl_run_check(cfg, err))
		return NULL;
	run_init(&r, cfg);
	next = run_setup(&r, err);
	if (next == RUN_USAGE)
		goto out;
	if (next == RUN_GO)
		run_roles(&r);
	rec = ipcl_result_record(&r.cfg, r.t, &r.probe, r.b, r.why);
	if (r.b && r.cfg.fault)
		ipcl_fault_record(r.b, rec);
	if (r.b)
		*failed = ipcl_result_failed(rec, r.cfg.expect_loss);
out:
	run_cleanup(&r);
	if (run_interrupted) {
		/* Everything is cleaned up: now die of the signal, as the user asked. */
		json_decref(rec);
		raise(run_interrupted);
		_exit(128 + run_interrupted);
	}
	return rec;
}
