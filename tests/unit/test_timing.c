/*
 * test_timing.c - the pure parts of issue 12's timing work: the pacing rule
 * (spin only with a CPU free), the late-sender bound, lost messages as
 * infinite latency in percentiles, the /proc/PID/stat parser, the TSC's
 * invariance test on cpuinfo text, the TSC -> ns conversion, and the stream's
 * 1-in-N stamping rule.
 */
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/clock.h"
#include "engine/config.h"
#include "engine/histogram.h"
#include "engine/proccpu.h"

#include "testutil.h"

static void test_pacing_rule(void **state)
{
	struct ipcl_runcfg c;

	(void)state;
	ipcl_runcfg_init(&c);
	c.pattern = IPCL_RATE;
	/* 1 producer + 1 consumer: spinning needs a third CPU. */
	assert_int_equal(ipcl_pacing_spins(&c, 2), 0);
	assert_int_equal(ipcl_pacing_spins(&c, 3), 1);
	c.placement = IPCL_PLACE_SAME;
	assert_int_equal(ipcl_pacing_spins(&c, 8), 0);
	c.placement = IPCL_PLACE_LIST;
	c.ncpus = 2;
	c.cpus[0] = 0;
	c.cpus[1] = 0; /* producer and consumer share CPU 0 */
	assert_int_equal(ipcl_pacing_spins(&c, 8), 0);
	c.cpus[1] = 1;
	assert_int_equal(ipcl_pacing_spins(&c, 8), 1);
	/* An explicit choice wins either way. */
	c.pacing = IPCL_PACING_SLEEP;
	assert_int_equal(ipcl_pacing_spins(&c, 8), 0);
	c.pacing = IPCL_PACING_SPIN;
	assert_int_equal(ipcl_pacing_spins(&c, 1), 1);
	assert_string_equal(ipcl_pacing_name(IPCL_PACING_SLEEP), "sleep");
	assert_int_equal(ipcl_pacing_from_name("spin"), IPCL_PACING_SPIN);
	assert_int_equal(ipcl_pacing_from_name("busy"), -1);
}

static void test_late_bound(void **state)
{
	struct ipcl_runcfg c;

	(void)state;
	ipcl_runcfg_init(&c);
	c.producers = 1;
	c.rate = 100000; /* 10 us period: the 100 us floor */
	assert_int_equal(ipcl_late_bound(&c), 100000);
	c.rate = 1000; /* 1 ms period */
	assert_int_equal(ipcl_late_bound(&c), 1000000);
	c.producers = 2; /* per producer: 2 ms */
	assert_int_equal(ipcl_late_bound(&c), 2000000);
}

static void test_lost_is_infinite(void **state)
{
	struct ipcl_hist *h = malloc(sizeof *h);

	(void)state;
	ipcl_hist_init(h);
	for (uint64_t v = 1; v <= 100; v++)
		ipcl_hist_record(h, v * 10); /* 10 .. 1000 ns */
	/* No loss: the plain percentile. */
	assert_int_equal(ipcl_hist_percentile_lost(h, 0, 99),
			 ipcl_hist_percentile(h, 99));
	/* 2 lost of 102: p99's rank 101 falls among the lost, p50's does not. */
	assert_true(ipcl_hist_percentile_lost(h, 2, 99) == UINT64_MAX);
	assert_int_equal(ipcl_hist_percentile_lost(h, 2, 50), 510);
	assert_true(ipcl_hist_percentile_lost(h, 2, 100) == UINT64_MAX);
	/* Dropping never improves a tail: with loss, p90 is no lower. */
	assert_true(ipcl_hist_percentile_lost(h, 5, 90) >= ipcl_hist_percentile(h, 90));
	free(h);
}

static void test_stat_parse(void **state)
{
	/* A command name with spaces and a ')' must not shift the fields. */
	const char *line = "4242 (beam.smp) x) S 4200 4242 4242 0 -1 4194560 1200 30 0 0 "
			   "150 25 7 3 20 0 30 0 12345 0 0";
	pid_t ppid = 0;
	uint64_t ticks = 0;

	(void)state;
	assert_int_equal(ipcl_stat_parse(line, &ppid, &ticks), 0);
	assert_int_equal(ppid, 4200);
	assert_int_equal(ticks, 150 + 25 + 7 + 3);
	assert_int_equal(ipcl_stat_parse("garbage", &ppid, &ticks), -EINVAL);
	assert_int_equal(ipcl_stat_parse("1 (x) S 0", &ppid, &ticks), -EINVAL);
}

static void test_proc_tree_self(void **state)
{
	int64_t ns = -1;
	volatile uint64_t x = 0;

	(void)state;
	for (uint64_t i = 0; i < 200000000; i++) /* about 0.1 s of CPU */
		x += i;
	assert_int_equal(ipcl_proc_tree_cpu(getpid(), &ns), 0);
	assert_true(ns > 0);
	assert_int_equal(ipcl_proc_tree_cpu(0x7ffffff0, &ns), -ESRCH);
}

static void test_tsc_invariant_text(void **state)
{
	(void)state;
	if (!IPCL_HAVE_TSC)
		skip();
	assert_int_equal(ipcl_tsc_invariant("processor\t: 0\nflags\t\t: fpu tsc "
					    "constant_tsc nonstop_tsc rdtscp\n"),
			 1);
	assert_int_equal(ipcl_tsc_invariant("processor\t: 0\nflags\t\t: fpu tsc "
					    "constant_tsc rdtscp\n"),
			 0);
	/* A word that merely contains the flag's name does not count. */
	assert_int_equal(ipcl_tsc_invariant("flags\t\t: xconstant_tsc nonstop_tscx\n"),
			 0);
	assert_int_equal(ipcl_tsc_invariant("no flags line\n"), 0);
}

static void test_tsc_conversion(void **state)
{
	struct ipcl_clock c = {0};

	(void)state;
	c.src = IPCL_CLOCK_TSC;
	c.tsc0 = 1000;
	c.mono0 = 5000000000LL;
	c.mult = (uint64_t)1 << 31; /* 0.5 ns per tick: a 2 GHz counter */
	assert_int_equal(ipcl_clock_tsc_ns(&c, 1000), 5000000000LL);
	assert_int_equal(ipcl_clock_tsc_ns(&c, 3000), 5000001000LL);
	/* No overflow over a day of ticks. */
	assert_int_equal(ipcl_clock_tsc_ns(&c, 1000 + 2ULL * 86400 * 1000000000ULL),
			 5000000000LL + 86400LL * 1000000000LL);
}

static void test_stamp_every(void **state)
{
	(void)state;
	assert_int_equal(ipcl_stamp_every(0.5), 1);
	assert_int_equal(ipcl_stamp_every(1.0), 1);
	assert_int_equal(ipcl_stamp_every(7), 8);
	assert_int_equal(ipcl_stamp_every(25), 32);
	assert_int_equal(ipcl_stamp_every(5000), 64);
}

static void test_clock_setup(void **state)
{
	struct ipcl_clock c;
	char err[IPCL_ERR_MAX] = "";
	int64_t a, b;

	(void)state;
	assert_int_equal(ipcl_clock_setup(&c, IPCL_CLOCK_MONOTONIC, err), 0);
	assert_true(c.read_ns > 0);
	if (!ipcl_tsc_invariant(NULL))
		skip();
	assert_int_equal(ipcl_clock_setup(&c, IPCL_CLOCK_TSC, err), 0);
	assert_int_equal(c.src, IPCL_CLOCK_TSC);
	/* Calibrated: within 50 us of CLOCK_MONOTONIC right after. */
	a = ipcl_now_ns();
	b = ipcl_clock_now(&c);
	assert_true(b - a < 50000 && a - b < 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pacing_rule),
	    cmocka_unit_test(test_late_bound),
	    cmocka_unit_test(test_lost_is_infinite),
	    cmocka_unit_test(test_stat_parse),
	    cmocka_unit_test(test_proc_tree_self),
	    cmocka_unit_test(test_tsc_invariant_text),
	    cmocka_unit_test(test_tsc_conversion),
	    cmocka_unit_test(test_stamp_every),
	    cmocka_unit_test(test_clock_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
