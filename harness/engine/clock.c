/*
 * clock.c - the stamping clock (clock.h): the TSC's invariance check
 * (/proc/cpuinfo), its calibration against CLOCK_MONOTONIC (clock_gettime,
 * rdtsc), the cost of a clock read, absolute sleeps (clock_nanosleep). The
 * method: read CLOCK_MONOTONIC on both sides of rdtsc, keep the tightest of a
 * few tries at the start and at the end of a 20 ms window, and take the slope.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/clock.h"

#define NS 1000000000LL

static const char *const clock_names[] = {"monotonic", "tsc"};

const char *ipcl_clock_name(int src)
{
	return (unsigned)src < 2 ? clock_names[src] : "?";
}

int ipcl_clock_from_name(const char *s)
{
	for (int i = 0; i < 2; i++)
		if (strcmp(s, clock_names[i]) == 0)
			return i;
	return -1;
}

/* 1 when the flags line has the word w. */
static int clock_has_flag(const char *line, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strstr(line, w); p; p = strstr(p + 1, w))
		if ((p == line || p[-1] == ' ' || p[-1] == '\t') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == 0))
			return 1;
	return 0;
}

int ipcl_tsc_invariant(const char *cpuinfo)
{
	char line[8192];
	int ok = 0;

	if (!IPCL_HAVE_TSC)
		return 0;
	if (cpuinfo) {
		const char *p = strstr(cpuinfo, "\nflags");

		if (!p && strncmp(cpuinfo, "flags", 5) == 0)
			p = cpuinfo - 1;
		if (!p)
			return 0;
		snprintf(line, sizeof line, "%.*s", (int)strcspn(p + 1, "\n"), p + 1);
		return clock_has_flag(line, "constant_tsc") &&
		       clock_has_flag(line, "nonstop_tsc");
	}
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "flags", 5) == 0) {
			ok = clock_has_flag(line, "constant_tsc") &&
			     clock_has_flag(line, "nonstop_tsc");
			break;
		}
	fclose(f);
	return ok;
}

#if IPCL_HAVE_TSC
/* One (CLOCK_MONOTONIC, TSC) pair: the tightest bracket of 16 tries. */
static void clock_pair(int64_t *mono, uint64_t *tsc)
{
	int64_t best = INT64_MAX;

	for (int i = 0; i < 16; i++) {
		int64_t a = ipcl_now_ns();
		uint64_t t = __rdtsc();
		int64_t b = ipcl_now_ns();

		if (b - a < best) {
			best = b - a;
			*mono = a + (b - a) / 2;
			*tsc = t;
		}
	}
}
#endif

/* ns per read of c, over 20000 reads (the best of 3 rounds). */
static double clock_cost(const struct ipcl_clock *c)
{
	double best = 1e9;
	volatile int64_t sink = 0;

	for (int round = 0; round < 3; round++) {
		int64_t t0 = ipcl_now_ns(), t1;

		for (int i = 0; i < 20000; i++)
			sink += ipcl_clock_now(c);
		t1 = ipcl_now_ns();
		if ((double)(t1 - t0) / 20000 < best)
			best = (double)(t1 - t0) / 20000;
	}
	(void)sink;
	return best;
}

int ipcl_clock_setup(struct ipcl_clock *c, int src, char *err)
{
	memset(c, 0, sizeof *c);
	c->src = IPCL_CLOCK_MONOTONIC;
	if (src == IPCL_CLOCK_TSC) {
#if IPCL_HAVE_TSC
		int64_t m1 = 0;
		uint64_t t1 = 0;

		if (!ipcl_tsc_invariant(NULL))
			return ipcl_seterr(err, IPCL_EUNAVAIL,
					   "--clock tsc: this CPU's TSC is not invariant "
					   "(no constant_tsc and nonstop_tsc in "
					   "/proc/cpuinfo)");
		clock_pair(&c->mono0, &c->tsc0);
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
		clock_pair(&m1, &t1);
		if (t1 <= c->tsc0 || m1 <= c->mono0)
			return ipcl_seterr(err, IPCL_EUNAVAIL,
					   "--clock tsc: the TSC did not advance");
		c->calib_ns = m1 - c->mono0;
		c->mult = (uint64_t)(((unsigned __int128)(uint64_t)c->calib_ns << 32) /
				     (t1 - c->tsc0));
		c->ghz = (double)(t1 - c->tsc0) / (double)c->calib_ns;
		c->src = IPCL_CLOCK_TSC;
#else
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "--clock tsc: no time-stamp counter on this CPU");
#endif
	}
	c->read_ns = clock_cost(c);
	return 0;
}

void ipcl_clock_sleep_until(const struct ipcl_clock *c, int64_t t)
{
	struct timespec ts;

	/* TSC time: the same instant on CLOCK_MONOTONIC, from the distance to now. */
	if (c->src != IPCL_CLOCK_MONOTONIC)
		t = ipcl_now_ns() + (t - ipcl_clock_now(c));
	ts.tv_sec = t / NS;
	ts.tv_nsec = t % NS;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

uint64_t ipcl_stamp_every(double read_ns)
{
	uint64_t n = 1;

	while ((double)n < read_ns && n < 64)
		n *= 2;
	return n;
}
