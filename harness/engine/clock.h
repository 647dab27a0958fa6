/*
 * clock.h - the clock that stamps messages: CLOCK_MONOTONIC (clock_gettime,
 * the vDSO) or, where the CPU's time-stamp counter is invariant (constant_tsc
 * and nonstop_tsc in /proc/cpuinfo), the TSC read with rdtsc and turned into
 * CLOCK_MONOTONIC nanoseconds by a calibration made once per run and shared by
 * every role through the board. Also the measured cost of one clock read, and
 * the stream pattern's 1-in-N stamping derived from it.
 *
 * Left out: per-CPU TSC offsets (an invariant TSC is synchronised across CPUs
 * by the kernel, which checks it at boot), rdtscp's ordering (a stamp is taken
 * between transport calls, which are far longer than the reorder window), and
 * any non-x86 counter (there IPCL_CLOCK_TSC is unavailable).
 */
#ifndef IPCLAB_CLOCK_H
#define IPCLAB_CLOCK_H

#include <stdint.h>

#include <ipclab/transport.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define IPCL_HAVE_TSC 1
#else
#define IPCL_HAVE_TSC 0
#endif

enum ipcl_clock_src {
	IPCL_CLOCK_MONOTONIC = 0,
	IPCL_CLOCK_TSC = 1,
};

/*
 * A calibrated clock: ns = mono0 + ((tsc - tsc0) * mult) >> 32 for the TSC;
 * plain CLOCK_MONOTONIC otherwise. Plain data: it lives in the board.
 */
struct ipcl_clock {
	int src;          /* enum ipcl_clock_src */
	uint64_t tsc0;    /* TSC at the calibration's start */
	int64_t mono0;    /* CLOCK_MONOTONIC (ns) at the same instant */
	uint64_t mult;    /* ns per tick, times 2^32 */
	double ghz;       /* ticks per ns, for the record */
	int64_t calib_ns; /* how long the calibration measured */
	double read_ns;   /* measured cost of one read of this clock */
};

/* "monotonic", "tsc"; and back (-1 when unknown). */
const char *ipcl_clock_name(int src);
int ipcl_clock_from_name(const char *s);

/*
 * 1 when /proc/cpuinfo's flags line of the first CPU has both constant_tsc and
 * nonstop_tsc (and this is x86), else 0. cpuinfo is the text to search (NULL:
 * read /proc/cpuinfo).
 */
int ipcl_tsc_invariant(const char *cpuinfo);

/*
 * Set c up for src: for the TSC, check that it is invariant and calibrate it
 * against CLOCK_MONOTONIC over about 20 ms; then measure the cost of one read.
 * 0, or IPCL_EUNAVAIL with err saying why (the TSC is not invariant here).
 */
int ipcl_clock_setup(struct ipcl_clock *c, int src, char *err);

/* Ticks -> CLOCK_MONOTONIC ns with c's calibration. Pure. */
static inline int64_t ipcl_clock_tsc_ns(const struct ipcl_clock *c, uint64_t tsc)
{
	unsigned __int128 d = (unsigned __int128)(tsc - c->tsc0) * c->mult;

	return c->mono0 + (int64_t)(d >> 32);
}

/* The time now (ns, CLOCK_MONOTONIC's epoch) on clock c. */
static inline int64_t ipcl_clock_now(const struct ipcl_clock *c)
{
#if IPCL_HAVE_TSC
	if (c->src == IPCL_CLOCK_TSC)
		return ipcl_clock_tsc_ns(c, __rdtsc());
#endif
	return ipcl_now_ns();
}

/* Sleep until time t of clock c (clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC). */
void ipcl_clock_sleep_until(const struct ipcl_clock *c, int64_t t);

/*
 * Stream pattern: stamp 1 message in N so that the clock costs each side at
 * most 1 ns per message on average: the smallest power of two N >= read_ns,
 * 1 when a read costs 1 ns or less, at most 64. Pure.
 */
uint64_t ipcl_stamp_every(double read_ns);

#endif
