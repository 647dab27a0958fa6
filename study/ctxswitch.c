/*
 * ctxswitch.c - claim 2: "a thread context switch is cheaper than a process
 * switch, because the address space (page tables, TLB) stays".
 *
 * lmbench lat_ctx style (McVoy & Staelin, "lmbench: Portable tools for
 * performance analysis", USENIX 1996): a ring of K tasks, all pinned to one CPU,
 * passes a token through pipes; each task, on getting the token, reads its own
 * working set of W KiB and passes the token on. The time per hop minus the same
 * work done without a switch (one task writing and reading its own pipe and
 * reading its working set: lat_ctx's "overhead") is the switch, with the cache
 * and TLB refill it causes. Run with K processes (fork) and K threads. PCID
 * (tagged TLB entries survive a CR3 switch) and the Meltdown mitigation (PTI
 * switches page tables on every syscall anyway) are read from /proc and /sys.
 * Cross-checked by `perf bench sched pipe` and `perf bench sched messaging`.
 *
 * Syscalls: pipe2, read, write, fork, sched_setaffinity; pthreads.
 * Leaves out: futex-based hand-offs, and rings spread over several CPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "study/study.h"

#define RING_MAX 16
#define STOP     (-1)

struct member {
	int in, out;
	size_t ws; /* bytes of working set */
};

static _Atomic uint64_t ctx_sink; /* keeps the working-set reads from being dropped */

/* Reads every 8-byte word of the working set, as lat_ctx's sumit() does. */
static void ctx_touch(const uint64_t *buf, size_t bytes)
{
	uint64_t s = 0;

	for (size_t i = 0; i < bytes / 8; i++)
		s += buf[i];
	atomic_fetch_add_explicit(&ctx_sink, s, memory_order_relaxed);
}

static int ctx_io(int fd, int *tok, int wr)
{
	for (;;) {
		ssize_t n = wr ? write(fd, tok, sizeof *tok) : read(fd, tok, sizeof *tok);
		if (n == (ssize_t)sizeof *tok)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : -EPIPE;
	}
}

static uint64_t *ctx_ws(size_t bytes)
{
	uint64_t *b = malloc(bytes ? bytes : 8);

	if (b)
		memset(b, 1, bytes ? bytes : 8); /* resident before the ring starts */
	return b;
}

/* A ring member other than the first: pass the token on until STOP. */
static int ctx_member(const struct member *m)
{
	uint64_t *buf = ctx_ws(m->ws);
	int tok = 0, rc = buf ? 0 : -ENOMEM;

	while (rc == 0 && (rc = ctx_io(m->in, &tok, 0)) == 0) {
		if (tok != STOP)
			ctx_touch(buf, m->ws);
		if ((rc = ctx_io(m->out, &tok, 1)) || tok == STOP)
			break;
	}
	free(buf);
	return rc;
}

static void *ctx_thread(void *arg)
{
	return (void *)(intptr_t)ctx_member(arg);
}

/* ns per hop of a ring of k tasks (processes or threads) for duration_ns. */
static double ctx_ring(int k, int threads, size_t ws, int64_t duration_ns)
{
	int fds[RING_MAX][2], tok = 0, rc = 0, made = 0;
	struct member mem[RING_MAX];
	pthread_t th[RING_MAX];
	pid_t pid[RING_MAX];
	uint64_t *buf = ctx_ws(ws), rounds = 0;
	int64_t t0, t1;
	double hop = NAN;

	for (int i = 0; i < k; i++)
		fds[i][0] = fds[i][1] = -1;
	for (int i = 0; i < k; i++)
		if (!buf || pipe2(fds[i], O_CLOEXEC))
			goto out;
	/* member i reads pipe i-1 and writes pipe i; member 0 is this thread */
	for (int i = 1; i < k; i++, made++) {
		mem[i] = (struct member){.in = fds[i - 1][0], .out = fds[i][1], .ws = ws};
		if (threads) {
			if (pthread_create(&th[i], NULL, ctx_thread, &mem[i]))
				goto stop;
		} else {
			if ((pid[i] = fork()) < 0)
				goto stop;
			if (pid[i] == 0)
				_exit(ctx_member(&mem[i]) ? 1 : 0);
		}
	}
	/* a short warm-up lap, then the measured laps */
	for (int lap = 0; lap < 100 && rc == 0; lap++)
		if ((rc = ctx_io(fds[0][1], &tok, 1)) == 0)
			rc = ctx_io(fds[k - 1][0], &tok, 0);
	t0 = ipcl_now_ns();
	t1 = t0;
	while (rc == 0 && t1 - t0 < duration_ns) {
		ctx_touch(buf, ws);
		if ((rc = ctx_io(fds[0][1], &tok, 1)) == 0)
			rc = ctx_io(fds[k - 1][0], &tok, 0);
		rounds++;
		t1 = ipcl_now_ns();
	}
	if (rc == 0 && rounds)
		hop = (double)(t1 - t0) / (double)(rounds * (uint64_t)k);
stop:
	tok = STOP;
	if (made && ctx_io(fds[0][1], &tok, 1) == 0)
		ctx_io(fds[k - 1][0], &tok, 0);
	for (int i = 1; i <= made; i++) {
		if (threads)
			pthread_join(th[i], NULL);
		else
			while (waitpid(pid[i], NULL, 0) < 0 && errno == EINTR)
				;
	}
	if (made != k - 1)
		hop = NAN;
out:
	for (int i = 0; i < k; i++) {
		if (fds[i][0] >= 0)
			close(fds[i][0]);
		if (fds[i][1] >= 0)
			close(fds[i][1]);
	}
	free(buf);
	return hop;
}

/* lat_ctx's overhead: one task, its own pipe, the same working-set read. */
static double ctx_overhead(size_t ws, int64_t duration_ns)
{
	int fd[2], tok = 0;
	uint64_t *buf = ctx_ws(ws), n = 0;
	int64_t t0, t1;
	double r = NAN;

	if (!buf || pipe2(fd, O_CLOEXEC)) {
		free(buf);
		return NAN;
	}
	t0 = t1 = ipcl_now_ns();
	while (t1 - t0 < duration_ns) {
		ctx_touch(buf, ws);
		if (ctx_io(fd[1], &tok, 1) || ctx_io(fd[0], &tok, 0))
			goto out;
		n++;
		t1 = ipcl_now_ns();
	}
	r = (double)(t1 - t0) / (double)n;
out:
	close(fd[0]);
	close(fd[1]);
	free(buf);
	return r;
}

/* Does /proc/cpuinfo's first flags line name flag? 1, 0, or -1 unreadable. */
static int ctx_cpu_flag(const char *flag)
{
	char line[8192];
	FILE *f = fopen("/proc/cpuinfo", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "flags", 5) == 0) {
			char *save = NULL;
			found = 0;
			for (char *w = strtok_r(strchr(line, ':'), " :\n", &save); w;
			     w = strtok_r(NULL, " \n", &save))
				if (strcmp(w, flag) == 0)
					found = 1;
			break;
		}
	fclose(f);
	return found;
}

/* The figure after "key" in perf's output (e.g. "usecs/op" preceded by it, or
 * "Total time:" followed by it). */
static double ctx_perf_figure(const char *out, const char *key, int before)
{
	const char *p = strstr(out, key);
	double v;

	if (!p)
		return NAN;
	if (!before)
		return sscanf(p + strlen(key), " %lf", &v) == 1 ? v : NAN;
	while (p > out && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	while (p > out && p[-1] != ' ' && p[-1] != '\n' && p[-1] != '\t')
		p--;
	return sscanf(p, "%lf", &v) == 1 ? v : NAN;
}

/* Runs perf bench; returns its figure or NAN, with why set when it failed. */
static double ctx_perf(char *const argv[], int cpu, const char *key, int before,
		       char *why, size_t cap)
{
	char out[8192];
	int rc = ipcl_study_exec(argv, cpu, out, sizeof out, 60000000000LL);
	double v;

	if (rc == -ENOENT) {
		snprintf(why, cap, "perf is not installed");
		return NAN;
	}
	v = rc == 0 ? ctx_perf_figure(out, key, before) : NAN;
	if (isnan(v))
		snprintf(why, cap, "perf bench failed here (exit %d): %.200s", rc,
			 out[0] ? out : "no output");
	return v;
}

int ipcl_study_ctxswitch(const struct ipcl_study_opts *o, json_t *sec)
{
	static const size_t ws_quick[] = {0, 16, 256, 1024},
			    ws_full[] = {0, 4, 16, 64, 256, 1024, 4096};
	static const int rings_quick[] = {2}, rings_full[] = {2, 8};
	const size_t *wss = o->quick ? ws_quick : ws_full;
	const int *rings = o->quick ? rings_quick : rings_full;
	int nws = o->quick ? 4 : 7, nrings = o->quick ? 1 : 2;
	int64_t dur = o->quick ? 80000000LL : 250000000LL;
	cpu_set_t saved;
	double base_p = NAN, base_t = NAN, big_p = NAN, big_t = NAN, last_p = NAN,
	       last_t = NAN, logsum = 0;
	int nlog = 0;
	int pcid = ctx_cpu_flag("pcid"), invpcid = ctx_cpu_flag("invpcid"), cpu;
	char melt[128] = "unknown";
	json_t *rows, *chart;
	FILE *f;

	if ((f = fopen("/sys/devices/system/cpu/vulnerabilities/meltdown", "re"))) {
		if (!fgets(melt, sizeof melt, f))
			snprintf(melt, sizeof melt, "unknown");
		melt[strcspn(melt, "\n")] = 0;
		fclose(f);
	}
	ipcl_study_experiment(
	    sec,
	    "A token ring (lmbench lat_ctx): K tasks on one CPU pass an int through "
	    "pipes; "
	    "each reads its own working set of W KiB per hop. Switch = time per hop "
	    "minus "
	    "the same pipe write+read and working-set read done by one task alone. K = "
	    "%s, W = 0 .. %zu KiB, the best of 3 runs of %.0f ms per point; processes "
	    "(fork) and threads.",
	    o->quick ? "2" : "2 and 8", wss[nws - 1], dur / 3e6);
	if (sched_getaffinity(0, sizeof saved, &saved))
		return -errno;
	if ((cpu = ipcl_study_pin_last_cpu()) < 0)
		return cpu;

	rows = ipcl_study_table(
	    sec,
	    "Token ring on one CPU: us per hop (a switch, a pipe write and "
	    "read, a working-set read), best of 3",
	    (const char *const[]){"ring", "working set KiB", "no-switch overhead us",
				  "processes us/hop", "threads us/hop",
				  "process - thread us", NULL});
	chart = ipcl_study_chart(
	    sec, "ctx_ws", "Context switch against working set (one CPU)",
	    "working set per task (KiB, 0 plotted at 0.5)", "time per hop (us)", 1, 1);
	for (int r = 0; r < nrings; r++) {
		char name[64];
		json_t *sp, *st;

		snprintf(name, sizeof name, "processes, ring of %d", rings[r]);
		sp = ipcl_study_series(chart, name);
		snprintf(name, sizeof name, "threads, ring of %d", rings[r]);
		st = ipcl_study_series(chart, name);
		for (int w = 0; w < nws; w++) {
			size_t ws = wss[w] * 1024;
			double ov, hp, ht;

			ipcl_study_progress(o, "ctxswitch: ring %d, %zu KiB", rings[r],
					    wss[w]);
			/* the best of three alternated repetitions: other tenants of
			 * the CPU only ever add time (lmbench also keeps the minimum) */
			ov = hp = ht = INFINITY;
			for (int rep = 0; rep < 3; rep++) {
				ov = fmin(ov, ctx_overhead(ws, dur / 6));
				hp = fmin(hp, ctx_ring(rings[r], 0, ws, dur / 3));
				ht = fmin(ht, ctx_ring(rings[r], 1, ws, dur / 3));
			}
			ipcl_study_row(rows, "%d|%zu|%.2f|%.2f|%.2f|%+.2f", rings[r],
				       wss[w], ov / 1e3, hp / 1e3, ht / 1e3,
				       (hp - ht) / 1e3);
			ipcl_study_point(sp, wss[w] ? (double)wss[w] : 0.5, hp / 1e3);
			ipcl_study_point(st, wss[w] ? (double)wss[w] : 0.5, ht / 1e3);
			if (r == nrings - 1 && w == 0)
				last_p = hp, last_t = ht;
			if (wss[w] <= 64 && hp > 0 && ht > 0)
				logsum += log(hp / ht), nlog++;
			if (r == 0 && w == 0) {
				base_p = hp, base_t = ht;
				ipcl_study_figure(sec, "proc_hop_us", hp / 1e3);
				ipcl_study_figure(sec, "thread_hop_us", ht / 1e3);
				ipcl_study_figure(sec, "proc_switch_us", (hp - ov) / 1e3);
				ipcl_study_figure(sec, "thread_switch_us",
						  (ht - ov) / 1e3);
			}
			if (r == 0 && w == nws - 1) {
				big_p = hp, big_t = ht;
				ipcl_study_figure(sec, "proc_hop_bigws_us", big_p / 1e3);
				ipcl_study_figure(sec, "thread_hop_bigws_us",
						  big_t / 1e3);
			}
		}
	}
	sched_setaffinity(0, sizeof saved, &saved);

	/* independent tools, the same CPU */
	char why_p[300] = "", why_t[300] = "", why_mp[300] = "", why_mt[300] = "";
	const char *loops = o->quick ? "20000" : "100000",
		   *mloops = o->quick ? "20" : "100";
	char *pp[] = {"perf", "bench", "sched", "pipe", "-l", (char *)loops, NULL};
	char *pt[] = {"perf", "bench", "sched", "pipe", "-T", "-l", (char *)loops, NULL};
	char *mp[] = {"perf", "bench", "sched", "messaging",    "-p",
		      "-g",   "1",     "-l",    (char *)mloops, NULL};
	char *mt[] = {"perf", "bench", "sched", "messaging",    "-p", "-t",
		      "-g",   "1",     "-l",    (char *)mloops, NULL};
	ipcl_study_progress(o, "ctxswitch: perf bench sched pipe / messaging");
	double perf_p = ctx_perf(pp, cpu, "usecs/op", 1, why_p, sizeof why_p);
	double perf_t = ctx_perf(pt, cpu, "usecs/op", 1, why_t, sizeof why_t);
	double msg_p = ctx_perf(mp, cpu, "Total time:", 0, why_mp, sizeof why_mp);
	double msg_t = ctx_perf(mt, cpu, "Total time:", 0, why_mt, sizeof why_mt);
	rows =
	    ipcl_study_table(sec, "Cross-check with perf bench, pinned to the same CPU",
			     (const char *const[]){"figure", "processes", "threads",
						   "processes / threads", NULL});
	ipcl_study_row(rows, "ipclab ring of 2, W = 0: us per hop|%.2f|%.2f|%.2f",
		       base_p / 1e3, base_t / 1e3, base_p / base_t);
	if (isnan(perf_p) || isnan(perf_t))
		ipcl_study_row(rows, "perf bench sched pipe|%s|%s|",
			       why_p[0] ? why_p : "ok", why_t[0] ? why_t : "ok");
	else
		ipcl_study_row(
		    rows,
		    "perf bench sched pipe -l %s: usecs/op / 2 (one op is a round "
		    "trip, two switches)|%.2f|%.2f|%.2f",
		    loops, perf_p / 2, perf_t / 2, perf_p / perf_t);
	if (isnan(msg_p) || isnan(msg_t))
		ipcl_study_row(rows, "perf bench sched messaging|%s|%s|",
			       why_mp[0] ? why_mp : "ok", why_mt[0] ? why_mt : "ok");
	else
		ipcl_study_row(
		    rows,
		    "perf bench sched messaging -p -g 1 -l %s (40 tasks, pipes): "
		    "total ms|%.1f|%.1f|%.2f",
		    mloops, msg_p * 1e3, msg_t * 1e3, msg_p / msg_t);
	ipcl_study_figure(sec, "perf_pipe_proc_us_per_switch", perf_p / 2);
	ipcl_study_figure(sec, "perf_pipe_thread_us_per_switch", perf_t / 2);
	ipcl_study_figure(sec, "perf_messaging_proc_ms", msg_p * 1e3);
	ipcl_study_figure(sec, "perf_messaging_thread_ms", msg_t * 1e3);
	ipcl_study_note(
	    sec,
	    "lat_ctx reports hop minus overhead as \"the\" switch. On this shared VM "
	    "that "
	    "difference of two large, separately measured times goes negative once the "
	    "working set is 256 KiB or more, so it is given only at W = 0 (figures "
	    "proc_switch_us, thread_switch_us); the claim is about processes against "
	    "threads, which the same-work hop times compare directly.");
	ipcl_study_note(
	    sec, "perf bench sched pipe's op is one round trip through two pipes (two "
		 "switches, two writes and two reads): its usecs/op / 2 is comparable to "
		 "this ring's raw hop at W = 0, not to the switch after the overhead is "
		 "taken off.");
	ipcl_study_note(
	    sec,
	    "CPU: pcid %s, invpcid %s; Meltdown: %s. With PCID the kernel tags TLB "
	    "entries with an address-space id, so a process switch need not flush "
	    "the TLB; without it (or with PTI's extra CR3 writes) the process switch "
	    "pays more. perf bench sched messaging's total includes creating its 40 "
	    "tasks, where processes pay fork.",
	    pcid == 1   ? "yes"
	    : pcid == 0 ? "no"
			: "unknown",
	    invpcid == 1   ? "yes"
	    : invpcid == 0 ? "no"
			   : "unknown",
	    melt);
	ipcl_study_figure(sec, "pcid", pcid);

	double d0 = (base_p - base_t) / 1e3;
	ipcl_study_figure(sec, "proc_minus_thread_us", d0);
	char perfsay[200] = "perf bench sched pipe did not run";
	if (!isnan(perf_p) && !isnan(perf_t))
		snprintf(perfsay, sizeof perfsay,
			 "perf bench sched pipe, pinned the same way: %.2f vs %.2f us "
			 "per switch",
			 perf_p / 2, perf_t / 2);
	char bigsay[400] = "";
	if (big_p > 0 && big_t > 0)
		snprintf(bigsay, sizeof bigsay, "; at %zu KiB a hop cost %.2f vs %.2f us",
			 wss[nws - 1], big_p / 1e3, big_t / 1e3);
	if (nrings > 1 && last_p > 0 && last_t > 0) {
		size_t n = strlen(bigsay);
		snprintf(bigsay + n, sizeof bigsay - n,
			 "; a ring of %d with no working set: %.2f vs %.2f us (%+.0f%%)",
			 rings[nrings - 1], last_p / 1e3, last_t / 1e3,
			 100 * (last_p / last_t - 1));
	}
	/* the verdict rests on every point with a small working set (<= 64 KiB, where
	 * the address space, not the cache, would make the difference): the
	 * geometric mean of process hop / thread hop */
	double gm = nlog ? exp(logsum / nlog) : NAN;
	ipcl_study_figure(sec, "proc_over_thread_small_ws", gm);
	if (isnan(d0) || isnan(gm))
		ipcl_study_verdict(sec, "not measured", "the token ring failed here.");
	else
		ipcl_study_verdict(
		    sec,
		    gm > 1.1   ? "holds"
		    : gm < 0.9 ? "does not hold here"
			       : "depends",
		    "%s: over the %d points with a working set of 64 KiB or less a "
		    "process hop "
		    "cost %.3fx a thread hop (geometric mean; holds above 1.1, does not "
		    "below 0.9). "
		    "In a ring of 2 with none: "
		    "%.2f vs %.2f us%s (%s). PCID: %s.",
		    gm > 1.1 ? "Processes cost more"
		    : gm < 0.9
			? "Threads cost more here"
			: "Within 10%, so on the working set and the cache more than "
			  "on the address space",
		    nlog, gm, base_p / 1e3, base_t / 1e3, bigsay, perfsay,
		    pcid == 1 ? "yes" : "no");
	return 0;
}
