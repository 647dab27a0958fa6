/*
 * test_histogram.c - the log-linear histogram against exact percentiles of known
 * data: every reported percentile within 1% of the exact one, exact min/max/count,
 * merging equals recording everything into one, bucket bounds are contiguous.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/histogram.h"

#include "testutil.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact p-th percentile: the ceil(p% * n)-th smallest value. */
static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void check_data(uint64_t *v, size_t n)
{
	static struct ipcl_hist h;
	const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};

	ipcl_hist_init(&h);
	for (size_t i = 0; i < n; i++)
		ipcl_hist_record(&h, v[i]);
	qsort(v, n, sizeof *v, cmp_u64);
	assert_int_equal(h.count, n);
	assert_int_equal(h.min, v[0]);
	assert_int_equal(h.max, v[n - 1]);
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		double want = (double)exact(v, n, ps[i]);
		double got = (double)ipcl_hist_percentile(&h, ps[i]);

		if (fabs(got - want) > want * 0.01 + 0.5)
			fail_msg("p%g: got %.0f, exact %.0f", ps[i], got, want);
	}
}

static void test_uniform(void **state)
{
	size_t n = 100000;
	uint64_t *v = malloc(n * sizeof *v);

	srand(1);
	for (size_t i = 0; i < n; i++)
		v[i] = 1000 + (uint64_t)rand() % 1000000;
	check_data(v, n);
	free(v);
}

static void test_long_tail(void **state)
{
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof *v);

	srand(2);
	for (size_t i = 0; i < n; i++) {
		double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);

		v[i] =
		    (uint64_t)(5000.0 / pow(u, 0.8)); /* Pareto-like tail to ~seconds */
	}
	check_data(v, n);
	free(v);
}

static void test_small_exact(void **state)
{
	uint64_t v[] = {0, 1, 2, 3, 100, 200, 255};
	struct ipcl_hist h;

	ipcl_hist_init(&h);
	for (size_t i = 0; i < 7; i++)
		ipcl_hist_record(&h, v[i]);
	assert_int_equal(ipcl_hist_percentile(&h, 50), 3);
	assert_int_equal(ipcl_hist_percentile(&h, 100), 255);
	assert_int_equal(ipcl_hist_percentile(&h, 0), 0);
}

static void test_buckets_contiguous(void **state)
{
	for (int i = 1; i < IPCL_HIST_BUCKETS - 1; i++) {
		assert_int_equal(ipcl_hist_low(i), ipcl_hist_high(i - 1) + 1);
		assert_int_equal(ipcl_hist_index(ipcl_hist_low(i)), i);
		assert_int_equal(ipcl_hist_index(ipcl_hist_high(i)), i);
		/* Width at most 1/128 of the lowest value in it. */
		assert_true((ipcl_hist_high(i) - ipcl_hist_low(i) + 1) * 128 <=
			    (ipcl_hist_low(i) < 256 ? 128 : ipcl_hist_low(i)));
	}
}

static void test_merge(void **state)
{
	static struct ipcl_hist a, b, all;

	ipcl_hist_init(&a);
	ipcl_hist_init(&b);
	ipcl_hist_init(&all);
	for (uint64_t i = 0; i < 50000; i++) {
		uint64_t x = i * 37 % 90000 + 300;

		ipcl_hist_record(i % 3 ? &a : &b, x);
		ipcl_hist_record(&all, x);
	}
	ipcl_hist_merge(&a, &b);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.min, all.min);
	assert_int_equal(a.max, all.max);
	assert_memory_equal(a.b, all.b, sizeof a.b);
	assert_int_equal(ipcl_hist_percentile(&a, 99), ipcl_hist_percentile(&all, 99));
}

static void test_spectrum(void **state)
{
	static struct ipcl_hist h;
	double pct[128];
	uint64_t val[128];
	int n;

	ipcl_hist_init(&h);
	for (uint64_t i = 1; i <= 10000; i++)
		ipcl_hist_record(&h, i * 10);
	n = ipcl_hist_spectrum(&h, pct, val, 128);
	assert_true(n > 40);
	assert_true(pct[0] == 0.0);
	assert_true(pct[n - 1] == 100.0);
	assert_int_equal(val[n - 1], 100000);
	for (int i = 1; i < n; i++) {
		assert_true(pct[i] > pct[i - 1]);
		assert_true(val[i] >= val[i - 1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uniform),     cmocka_unit_test(test_long_tail),
	    cmocka_unit_test(test_small_exact), cmocka_unit_test(test_buckets_contiguous),
	    cmocka_unit_test(test_merge),       cmocka_unit_test(test_spectrum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
