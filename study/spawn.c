/*
 * spawn.c - claim 1: "creating a process costs more CPU than creating a thread;
 * hence pre-forking".
 *
 * Measures, each N times, the wall time of create + wait: fork + _exit, fork +
 * execve(/bin/true), vfork + execve, posix_spawn, clone() without and with
 * CLONE_VM, pthread_create + pthread_join. Then fork + _exit against the parent's
 * resident memory (an anonymous mapping touched page by page, with 4 KiB pages
 * and with transparent huge pages), since fork copies the page tables; and the
 * consequence for a server: one request at a time handed to a pre-forked worker
 * (socketpair), a new process per request, a new thread per request, and a pool
 * thread (mutex + condition variable), in requests/s and CPU per request.
 *
 * Syscalls: fork, vfork, clone, execve, posix_spawn, waitpid, mmap, madvise,
 * socketpair, getrusage. Leaves out: exec of a large binary (the loader's cost
 * grows with shared libraries), and more than one request in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "study/study.h"

extern char **environ;

#define MIB (1024 * 1024)

static const char *spawn_true(void)
{
	return access("/bin/true", X_OK) == 0 ? "/bin/true" : "/usr/bin/true";
}

static int spawn_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static int spawn_child_fn(void *arg)
{
	(void)arg;
	return 0; /* clone()'s child exits with this status */
}

static void *spawn_thread_fn(void *arg)
{
	return arg;
}

enum method { M_FORK, M_FORK_EXEC, M_VFORK_EXEC, M_SPAWN, M_CLONE, M_CLONE_VM, M_THREAD };
static const char *const method_name[] = {
    "fork + _exit + wait",      "fork + exec(true) + wait", "vfork + exec(true) + wait",
    "posix_spawn(true) + wait", "clone(SIGCHLD) + wait",    "clone(CLONE_VM) + wait",
    "pthread_create + join"};

/* One create + wait by method m; 0 or a negative errno. */
static int spawn_once(enum method m, char *stack, size_t stack_size)
{
	char *const argv[] = {(char *)"true", NULL};
	const char *prog = spawn_true();
	pthread_t th;
	pid_t pid;

	switch (m) {
	case M_FORK:
		if ((pid = fork()) == 0)
			_exit(0);
		break;
	case M_FORK_EXEC:
		if ((pid = fork()) == 0) {
			execve(prog, argv, environ);
			_exit(127);
		}
		break;
	case M_VFORK_EXEC:
		/* the child may only exec or _exit: it runs on the parent's stack */
		if ((pid = vfork()) == 0) {
			execve(prog, argv, environ);
			_exit(127);
		}
		break;
	case M_SPAWN: {
		int rc = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
		if (rc)
			return -rc;
		break;
	}
	case M_CLONE:
	case M_CLONE_VM:
		pid = clone(spawn_child_fn, stack + stack_size,
			    SIGCHLD | (m == M_CLONE_VM ? CLONE_VM : 0), NULL);
		break;
	case M_THREAD:
		if (pthread_create(&th, NULL, spawn_thread_fn, NULL))
			return -EAGAIN;
		return pthread_join(th, NULL) ? -EINVAL : 0;
	}
	if (pid < 0)
		return -errno;
	return spawn_wait(pid);
}

/* ---- part B: fork against resident memory ------------------------------ */

/* Fastest ns of reps fork + _exit + wait (or posix_spawn when spawn) with mib MiB
 * of touched anonymous memory, huge pages on or off (the minimum: other tenants
 * of a shared VM only add time). Returns NAN on failure. */
static double spawn_fork_mem(size_t mib, int huge, int spawn, int reps)
{
	size_t len = mib * MIB;
	char *p =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ipcl_hist h;
	double med = NAN;

	if (p == MAP_FAILED)
		return NAN;
	madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += 4096)
		p[off] = 1; /* resident, page by page */
	ipcl_hist_init(&h);
	for (int r = 0; r < reps; r++) {
		int64_t t0 = ipcl_now_ns();
		if (spawn_once(spawn ? M_SPAWN : M_FORK, NULL, 0))
			goto out;
		ipcl_hist_record(&h, (uint64_t)(ipcl_now_ns() - t0));
	}
	med = (double)h.min;
out:
	munmap(p, len);
	return med;
}

/* ---- part C: who handles a request -------------------------------------- */

/* The request's work: FNV-1a over a 4 KiB buffer seeded by the request. */
static uint64_t spawn_work(uint64_t req)
{
	static unsigned char buf[4096];
	uint64_t h = 1469598103934665603ULL ^ req;

	for (size_t i = 0; i < sizeof buf; i++)
		h = (h ^ (buf[i] + (unsigned char)i)) * 1099511628211ULL;
	return h;
}

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t req, rep;
	int state; /* 0 idle, 1 request posted, 2 reply ready, 3 quit */
};

static void *pool_worker(void *arg)
{
	struct pool *pl = arg;

	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (pl->state != 1 && pl->state != 3)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (pl->state == 3)
			break;
		pl->rep = spawn_work(pl->req);
		pl->state = 2;
		pthread_cond_broadcast(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static void *per_request_thread(void *arg)
{
	uint64_t *r = arg;
	*r = spawn_work(*r);
	return NULL;
}

static int full_io(int fd, void *buf, size_t len, int wr)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum model { R_PREFORK, R_PROCESS, R_THREAD, R_POOL };
static const char *const model_name[] = {
    "pre-forked worker (socketpair)", "new process per request (fork, pipe)",
    "new thread per request", "thread pool (mutex + condvar)"};

/* Serves n requests one at a time under model m; fills latency and CPU ns. */
static int spawn_serve(enum model m, int n, struct ipcl_hist *lat, int64_t *cpu_ns,
		       int64_t *wall_ns)
{
	int sv[2] = {-1, -1}, rc = 0;
	struct pool pl = {.mu = PTHREAD_MUTEX_INITIALIZER,
			  .cv = PTHREAD_COND_INITIALIZER};
	pthread_t th;
	pid_t worker = -1;
	int64_t c0 = ipcl_study_cpu_self_ns() + ipcl_study_cpu_children_ns();
	int64_t t0 = ipcl_now_ns();

	if (m == R_PREFORK || m == R_PROCESS) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return -errno;
	}
	if (m == R_PREFORK) {
		if ((worker = fork()) < 0) {
			rc = -errno;
			goto out;
		}
		if (worker == 0) {
			uint64_t q;
			close(sv[0]);
			while (full_io(sv[1], &q, sizeof q, 0) == 0) {
				q = spawn_work(q);
				if (full_io(sv[1], &q, sizeof q, 1))
					break;
			}
			_exit(0);
		}
	}
	if (m == R_POOL && pthread_create(&th, NULL, pool_worker, &pl)) {
		rc = -EAGAIN;
		goto out;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		uint64_t q = (uint64_t)i, r = 0;
		int64_t s = ipcl_now_ns();
		pid_t pid;

		switch (m) {
		case R_PREFORK:
			if ((rc = full_io(sv[0], &q, sizeof q, 1)) == 0)
				rc = full_io(sv[0], &r, sizeof r, 0);
			break;
		case R_PROCESS:
			if ((pid = fork()) < 0) {
				rc = -errno;
				break;
			}
			if (pid == 0) {
				r = spawn_work(q);
				_exit(full_io(sv[1], &r, sizeof r, 1) ? 1 : 0);
			}
			if ((rc = full_io(sv[0], &r, sizeof r, 0)) == 0)
				rc = spawn_wait(pid);
			break;
		case R_THREAD:
			r = q;
			if (pthread_create(&th, NULL, per_request_thread, &r))
				rc = -EAGAIN;
			else
				pthread_join(th, NULL);
			break;
		case R_POOL:
			pthread_mutex_lock(&pl.mu);
			pl.req = q;
			pl.state = 1;
			pthread_cond_broadcast(&pl.cv);
			while (pl.state != 2)
				pthread_cond_wait(&pl.cv, &pl.mu);
			r = pl.rep;
			pl.state = 0;
			pthread_mutex_unlock(&pl.mu);
			break;
		}
		if (rc == 0 && r != spawn_work(q))
			rc = -EPROTO; /* every reply is checked */
		ipcl_hist_record(lat, (uint64_t)(ipcl_now_ns() - s));
	}
out:
	if (m == R_POOL && rc != -EAGAIN) {
		pthread_mutex_lock(&pl.mu);
		pl.state = 3;
		pthread_cond_broadcast(&pl.cv);
		pthread_mutex_unlock(&pl.mu);
		pthread_join(th, NULL);
	}
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (worker > 0)
		spawn_wait(worker); /* its CPU then counts in RUSAGE_CHILDREN */
	*wall_ns = ipcl_now_ns() - t0;
	*cpu_ns = ipcl_study_cpu_self_ns() + ipcl_study_cpu_children_ns() - c0;
	return rc;
}

int ipcl_study_spawn(const struct ipcl_study_opts *o, json_t *sec)
{
	static const size_t mem_quick[] = {1, 4, 16, 64},
			    mem_full[] = {1, 4, 16, 64, 256, 1024};
	const size_t *mem = o->quick ? mem_quick : mem_full;
	int nmem = o->quick ? 4 : 6, n = o->quick ? 200 : 1000, reps = o->quick ? 4 : 6;
	int nreq = o->quick ? 2000 : 10000;
	size_t stack_size = 64 * 1024;
	char *stack = malloc(stack_size);
	double us[7], cpu_us[7], slope, rps[4], rcpu[4];
	json_t *rows, *chart, *s4k, *sthp, *ssp;
	char thp[64] = "unknown";
	FILE *f;

	if (!stack)
		return -ENOMEM;
	ipcl_study_experiment(
	    sec,
	    "Each way of starting a task is timed %d times (create, then wait for it to "
	    "end): wall time per create+wait from the harness histogram, CPU from "
	    "getrusage of this process and its children. Then fork against the parent's "
	    "resident memory (1 MiB .. %zu MiB touched), and %d requests served one at a "
	    "time by four server designs (the work: a 4 KiB hash).",
	    n, mem[nmem - 1], nreq);

	rows = ipcl_study_table(
	    sec,
	    "Creating and reaping one task (wall time per create+wait, "
	    "CPU of parent and child)",
	    (const char *const[]){"method", "p50 us", "p99 us", "CPU us", NULL});
	for (int m = 0; m < 7; m++) {
		struct ipcl_hist h;
		int64_t c0 = ipcl_study_cpu_self_ns() + ipcl_study_cpu_children_ns();
		int rc = 0;

		ipcl_study_progress(o, "spawn: %s", method_name[m]);
		ipcl_hist_init(&h);
		for (int i = 0; i < n && rc == 0; i++) {
			int64_t t0 = ipcl_now_ns();
			rc = spawn_once((enum method)m, stack, stack_size);
			ipcl_hist_record(&h, (uint64_t)(ipcl_now_ns() - t0));
		}
		us[m] = rc ? NAN : ipcl_study_us(&h, 50);
		cpu_us[m] = rc ? NAN
			       : (double)(ipcl_study_cpu_self_ns() +
					  ipcl_study_cpu_children_ns() - c0) /
				     n / 1000.0;
		if (rc)
			ipcl_study_row(rows, "%s|failed: %s|||", method_name[m],
				       strerror(-rc));
		else
			ipcl_study_row(rows, "%s|%.1f|%.1f|%.1f", method_name[m], us[m],
				       ipcl_study_us(&h, 99), cpu_us[m]);
	}
	free(stack);
	ipcl_study_figure(sec, "fork_us", us[M_FORK]);
	ipcl_study_figure(sec, "fork_exec_us", us[M_FORK_EXEC]);
	ipcl_study_figure(sec, "vfork_exec_us", us[M_VFORK_EXEC]);
	ipcl_study_figure(sec, "posix_spawn_us", us[M_SPAWN]);
	ipcl_study_figure(sec, "clone_us", us[M_CLONE]);
	ipcl_study_figure(sec, "clone_vm_us", us[M_CLONE_VM]);
	ipcl_study_figure(sec, "pthread_us", us[M_THREAD]);
	ipcl_study_figure(sec, "fork_cpu_us", cpu_us[M_FORK]);
	ipcl_study_figure(sec, "pthread_cpu_us", cpu_us[M_THREAD]);

	if ((f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re"))) {
		if (!fgets(thp, sizeof thp, f))
			snprintf(thp, sizeof thp, "unknown");
		thp[strcspn(thp, "\n")] = 0;
		fclose(f);
	}
	chart = ipcl_study_chart(
	    sec, "fork_memory", "fork + exit + wait against resident memory",
	    "resident memory of the parent (MiB)", "time per fork (us)", 1, 1);
	s4k = ipcl_study_series(chart, "fork, 4 KiB pages");
	sthp = ipcl_study_series(chart, "fork, transparent huge pages");
	ssp = ipcl_study_series(chart, "posix_spawn(true), 4 KiB pages");
	rows = ipcl_study_table(
	    sec,
	    "fork against the parent's resident memory (fastest of a few "
	    "forks, us)",
	    (const char *const[]){"resident MiB", "fork (4 KiB pages)", "fork (THP)",
				  "posix_spawn", NULL});
	double first = NAN, last = NAN;
	for (int i = 0; i < nmem; i++) {
		double a, b, c;

		ipcl_study_progress(o, "spawn: fork with %zu MiB resident", mem[i]);
		a = spawn_fork_mem(mem[i], 0, 0, reps) / 1000.0;
		b = spawn_fork_mem(mem[i], 1, 0, reps) / 1000.0;
		c = spawn_fork_mem(mem[i], 0, 1, reps) / 1000.0;
		ipcl_study_point(s4k, (double)mem[i], a);
		ipcl_study_point(sthp, (double)mem[i], b);
		ipcl_study_point(ssp, (double)mem[i], c);
		ipcl_study_row(rows, "%zu|%.0f|%.0f|%.0f", mem[i], a, b, c);
		if (i == 0)
			first = a;
		last = a;
		if (i == nmem - 1) {
			ipcl_study_figure(sec, "fork_maxmem_us", a);
			ipcl_study_figure(sec, "fork_maxmem_thp_us", b);
			ipcl_study_figure(sec, "spawn_maxmem_us", c);
		}
	}
	slope = (last - first) / (double)(mem[nmem - 1] - mem[0]) * 100.0;
	ipcl_study_figure(sec, "fork_us_per_100mib", slope);
	ipcl_study_note(
	    sec,
	    "Transparent huge pages here: %s. fork copies one page-table entry per "
	    "4 KiB page (and takes a reference on each page); with 2 MiB pages it "
	    "copies one entry per 2 MiB, so the THP curve stays low. posix_spawn "
	    "(glibc: clone(CLONE_VM|CLONE_VFORK)) copies no page tables at all.",
	    thp);

	rows = ipcl_study_table(sec, "One request at a time, four server designs",
				(const char *const[]){"design", "requests/s", "p50 us",
						      "p99 us", "CPU us/request", NULL});
	for (int m = 0; m < 4; m++) {
		struct ipcl_hist h;
		int64_t cpu = 0, wall = 0;
		int rc;

		ipcl_study_progress(o, "spawn: %s", model_name[m]);
		ipcl_hist_init(&h);
		rc = spawn_serve((enum model)m, nreq, &h, &cpu, &wall);
		rps[m] = rc ? NAN : nreq / (wall / 1e9);
		rcpu[m] = rc ? NAN : cpu / 1000.0 / nreq;
		if (rc)
			ipcl_study_row(rows, "%s|failed: %s||||", model_name[m],
				       strerror(-rc));
		else
			ipcl_study_row(rows, "%s|%.0f|%.1f|%.1f|%.1f", model_name[m],
				       rps[m], ipcl_study_us(&h, 50),
				       ipcl_study_us(&h, 99), rcpu[m]);
	}
	ipcl_study_figure(sec, "prefork_rps", rps[R_PREFORK]);
	ipcl_study_figure(sec, "process_per_request_rps", rps[R_PROCESS]);
	ipcl_study_figure(sec, "thread_per_request_rps", rps[R_THREAD]);
	ipcl_study_figure(sec, "pool_rps", rps[R_POOL]);
	ipcl_study_figure(sec, "process_per_request_cpu_us", rcpu[R_PROCESS]);
	ipcl_study_figure(sec, "thread_per_request_cpu_us", rcpu[R_THREAD]);
	ipcl_study_note(
	    sec, "The pre-forked worker's and the pool's numbers include one "
		 "hand-off each way (a socketpair or a condition variable): they "
		 "pay a wake-up, not a creation. The forked child in \"process per "
		 "request\" is small (this process); a real server's fork copies "
		 "its whole page table, see the chart.");

	double ratio = us[M_FORK] / us[M_THREAD];
	ipcl_study_figure(sec, "fork_over_thread", ratio);
	if (!isfinite(ratio))
		ipcl_study_verdict(sec, "not measured",
				   "fork or pthread_create failed here.");
	else if (ratio > 1.5 && rps[R_PREFORK] > rps[R_PROCESS])
		ipcl_study_verdict(
		    sec, "holds",
		    "fork+exit+wait takes %.1fx a pthread_create+join (%.0f vs %.0f us; "
		    "CPU "
		    "%.0f vs %.0f us), and fork grows by %.0f us per 100 MiB resident (4 "
		    "KiB "
		    "pages). A pre-forked worker served %.1fx the requests/s of a "
		    "process per "
		    "request; a thread per request sits in between, a pool is best.",
		    ratio, us[M_FORK], us[M_THREAD], cpu_us[M_FORK], cpu_us[M_THREAD],
		    slope, rps[R_PREFORK] / rps[R_PROCESS]);
	else
		ipcl_study_verdict(
		    sec, "does not hold here",
		    "fork+exit+wait took %.1fx a pthread_create+join (%.0f vs %.0f "
		    "us).",
		    ratio, us[M_FORK], us[M_THREAD]);
	return 0;
}
