/*
 * race.c - claim 5: "threads share memory, so unsynchronised writes go wrong".
 *
 * Two workers each add 1 to a shared counter N times: as a separate load and
 * store (the read-modify-write a plain `counter++` compiles to, written with
 * relaxed C11 atomics so the program itself has no undefined behaviour), under a
 * mutex, with one atomic fetch-add, and into per-worker counters summed at the
 * end (each on its own cache line, and adjacent, which shows false sharing).
 * Lost updates = 2N - final count. Workers are threads, or processes sharing an
 * anonymous MAP_SHARED mapping (a PTHREAD_PROCESS_SHARED mutex), on two CPUs and
 * both on one CPU.
 *
 * Syscalls: mmap, fork, waitpid, sched_setaffinity; pthreads, C11 atomics.
 * Leaves out: more than two workers, and weaker memory orders than relaxed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "study/study.h"

enum variant { V_UNSYNC, V_MUTEX, V_ATOMIC, V_PERWORKER, V_ADJACENT, V_COUNT };
static const char *const variant_name[] = {
    "unsynchronised (load; add; store)", "mutex", "atomic fetch-add",
    "per-worker counters, own cache lines", "per-worker counters, one cache line"};

struct shared {
	_Alignas(64) _Atomic uint64_t counter;
	_Alignas(64) uint64_t locked; /* guarded by mu */
	pthread_mutex_t mu;
	_Alignas(64) _Atomic int ready;
	_Atomic int go;
	struct {
		_Alignas(64) _Atomic uint64_t v;
	} own[2];
	_Alignas(64) _Atomic uint64_t adjacent[2]; /* one cache line: false sharing */
	_Alignas(64) int64_t t_start[2], t_end[2]; /* each worker's own loop */
};

struct worker {
	struct shared *s;
	enum variant v;
	uint64_t n;
	int idx, cpu;
};

static void race_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

static void race_work(const struct worker *w)
{
	struct shared *s = w->s;

	race_pin(w->cpu);
	atomic_fetch_add(&s->ready, 1);
	while (!atomic_load(&s->go))
		; /* both start together */
	s->t_start[w->idx] = ipcl_now_ns();
	switch (w->v) {
	case V_UNSYNC:
		for (uint64_t i = 0; i < w->n; i++) {
			uint64_t c =
			    atomic_load_explicit(&s->counter, memory_order_relaxed);
			atomic_store_explicit(&s->counter, c + 1, memory_order_relaxed);
		}
		break;
	case V_MUTEX:
		for (uint64_t i = 0; i < w->n; i++) {
			pthread_mutex_lock(&s->mu);
			s->locked++;
			pthread_mutex_unlock(&s->mu);
		}
		break;
	case V_ATOMIC:
		for (uint64_t i = 0; i < w->n; i++)
			atomic_fetch_add(&s->counter, 1);
		break;
	case V_PERWORKER:
	case V_ADJACENT: {
		_Atomic uint64_t *c =
		    w->v == V_PERWORKER ? &s->own[w->idx].v : &s->adjacent[w->idx];
		for (uint64_t i = 0; i < w->n; i++) {
			uint64_t x = atomic_load_explicit(c, memory_order_relaxed);
			atomic_store_explicit(c, x + 1, memory_order_relaxed);
		}
		break;
	}
	default:
		break;
	}
	s->t_end[w->idx] = ipcl_now_ns();
}

static void *race_thread(void *arg)
{
	race_work(arg);
	return NULL;
}

/* One trial; returns the final count (or UINT64_MAX), the wall time, and how
 * much of the shorter loop ran while the other ran too (0..1): a vCPU the
 * hypervisor takes away for a while makes the two loops run one after the other. */
static uint64_t race_trial(struct shared *s, enum variant v, int procs, const int cpu[2],
			   uint64_t n, int64_t *wall, double *overlap)
{
	struct worker w[2];
	pthread_t th[2];
	pid_t pid[2];
	int started = 0;
	int64_t t0;
	uint64_t total = UINT64_MAX;
	pthread_mutexattr_t ma;

	memset(s, 0, sizeof *s);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	for (int i = 0; i < 2; i++, started++) {
		w[i] = (struct worker){.s = s, .v = v, .n = n, .idx = i, .cpu = cpu[i]};
		if (procs) {
			if ((pid[i] = fork()) < 0)
				break;
			if (pid[i] == 0) {
				race_work(&w[i]);
				_exit(0);
			}
		} else if (pthread_create(&th[i], NULL, race_thread, &w[i])) {
			break;
		}
	}
	while (atomic_load(&s->ready) < started)
		sched_yield();
	t0 = ipcl_now_ns();
	atomic_store(&s->go, 1);
	for (int i = 0; i < started; i++) {
		if (procs)
			while (waitpid(pid[i], NULL, 0) < 0 && errno == EINTR)
				;
		else
			pthread_join(th[i], NULL);
	}
	*wall = ipcl_now_ns() - t0;
	*overlap = 0;
	if (started == 2) {
		int64_t a = s->t_start[0] > s->t_start[1] ? s->t_start[0] : s->t_start[1];
		int64_t b = s->t_end[0] < s->t_end[1] ? s->t_end[0] : s->t_end[1];
		int64_t l0 = s->t_end[0] - s->t_start[0],
			l1 = s->t_end[1] - s->t_start[1];
		int64_t shorter = l0 < l1 ? l0 : l1;
		*overlap = b > a && shorter > 0 ? (double)(b - a) / (double)shorter : 0;
	}
	if (started == 2)
		total = v == V_MUTEX       ? s->locked
			: v == V_PERWORKER ? s->own[0].v + s->own[1].v
			: v == V_ADJACENT  ? s->adjacent[0] + s->adjacent[1]
					   : atomic_load(&s->counter);
	pthread_mutex_destroy(&s->mu);
	return total;
}

int ipcl_study_race(const struct ipcl_study_opts *o, json_t *sec)
{
	/* the unsynchronised loops run 10x longer, so that the two overlap even when a
	 * vCPU is taken away for milliseconds; the locked ones are slower anyway */
	uint64_t n = o->quick ? 1000000 : 4000000;
	struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int cpus[2] = {-1, -1}, ncpu = 0;
	cpu_set_t set;
	json_t *rows;
	double lost_thr = NAN, lost_one = NAN, ns_unsync = NAN, ns_atomic = NAN,
	       ns_mutex = NAN, ns_own = NAN, ns_adj = NAN;
	double lost_proc = NAN;
	int safe_lost = 0;

	if (s == MAP_FAILED)
		return -errno;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		for (int i = 0; i < CPU_SETSIZE && ncpu < 2; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpu++] = i;
	ipcl_study_experiment(sec,
			      "Two workers each add 1 to a shared counter %llu times "
			      "(10x that without a lock); "
			      "lost updates = expected - counted; overlap = how much of "
			      "the shorter loop ran "
			      "while the other ran too. Workers are threads, or "
			      "processes over an anonymous MAP_SHARED "
			      "mapping; on two CPUs and both on one CPU. ns per "
			      "increment = wall time / all "
			      "increments.",
			      (unsigned long long)n);
	rows = ipcl_study_table(sec, "Lost updates and cost per increment",
				(const char *const[]){"workers", "CPUs", "method",
						      "expected", "counted", "lost",
						      "ns/increment", "overlap", NULL});
	for (int procs = 0; procs < 2; procs++)
		for (int one = 0; one < 2; one++) {
			int cpu[2] = {cpus[0], one ? cpus[0] : cpus[1]};

			if (cpu[1] < 0) {
				ipcl_study_note(
				    sec, "Only one CPU is allowed here: the two-CPU "
					 "rows are missing.");
				continue;
			}
			for (int v = 0; v < V_COUNT; v++) {
				int64_t wall;
				uint64_t got, nv = v == V_MUTEX ? n : 10 * n;
				double lost, ns, overlap;

				ipcl_study_progress(o, "race: %s, %s, %s",
						    procs ? "processes" : "threads",
						    one ? "one CPU" : "two CPUs",
						    variant_name[v]);
				got = race_trial(s, (enum variant)v, procs, cpu, nv,
						 &wall, &overlap);
				if (got == UINT64_MAX) {
					ipcl_study_row(rows,
						       "%s|%d|%s|failed to start|||||",
						       procs ? "processes" : "threads",
						       one ? 1 : 2, variant_name[v]);
					continue;
				}
				lost = (double)(2 * nv) - (double)got;
				ns = (double)wall / (double)(2 * nv);
				ipcl_study_row(
				    rows, "%s|%d|%s|%llu|%llu|%.0f (%.1f%%)|%.2f|%.0f%%",
				    procs ? "processes" : "threads", one ? 1 : 2,
				    variant_name[v], (unsigned long long)(2 * nv),
				    (unsigned long long)got, lost,
				    100 * lost / (2.0 * nv), ns, 100 * overlap);
				if (v != V_UNSYNC && lost != 0)
					safe_lost = 1;
				if (procs == 0 && v == V_UNSYNC)
					*(one ? &lost_one : &lost_thr) = lost;
				if (procs == 0 && !one) {
					double *slot[] = {&ns_unsync, &ns_mutex,
							  &ns_atomic, &ns_own, &ns_adj};
					*slot[v] = ns;
				}
				if (procs == 1 && !one && v == V_UNSYNC)
					lost_proc = lost;
			}
		}
	munmap(s, sizeof *s);
	ipcl_study_figure(sec, "lost_threads_2cpu", lost_thr);
	ipcl_study_figure(sec, "lost_threads_1cpu", lost_one);
	ipcl_study_figure(sec, "lost_processes_2cpu", lost_proc);
	ipcl_study_figure(sec, "ns_unsync", ns_unsync);
	ipcl_study_figure(sec, "ns_mutex", ns_mutex);
	ipcl_study_figure(sec, "ns_atomic", ns_atomic);
	ipcl_study_figure(sec, "ns_per_worker", ns_own);
	ipcl_study_figure(sec, "ns_false_sharing", ns_adj);
	ipcl_study_note(
	    sec,
	    "On one CPU an update is lost only when the scheduler preempts a worker "
	    "between its load and its store; that is rare, but the worker's stale "
	    "store then wipes out all that the other added during its time slice, so "
	    "one event can lose millions. On two CPUs the loads and stores "
	    "interleave all the time. Processes sharing a mapping behave exactly like "
	    "threads: the memory is shared, not the address space.");
	if (isnan(lost_thr))
		ipcl_study_verdict(sec, "not measured",
				   "two CPUs are needed for this run.");
	else if ((lost_thr > 0 || lost_proc > 0) && !safe_lost)
		ipcl_study_verdict(
		    sec, "holds",
		    "Unsynchronised: %.0f of %llu updates lost by threads on two "
		    "CPUs (%.0f by processes; %.0f by threads on one CPU). Mutex, atomic "
		    "and per-worker counters lost none; per "
		    "increment they cost %.1f, %.1f and %.1f ns against %.1f ns "
		    "unsynchronised (%.1f ns with false sharing).",
		    lost_thr, (unsigned long long)(20 * n), lost_proc, lost_one, ns_mutex,
		    ns_atomic, ns_own, ns_unsync, ns_adj);
	else
		ipcl_study_verdict(
		    sec, "does not hold here",
		    "%.0f updates lost unsynchronised on two CPUs by threads, %.0f "
		    "by processes%s (see the overlap column: the two loops must run "
		    "at the same time).",
		    lost_thr, lost_proc,
		    safe_lost ? "; a synchronised method lost updates too" : "");
	return 0;
}
