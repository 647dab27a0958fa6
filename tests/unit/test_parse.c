/*
 * test_parse.c - option value parsing, table-driven: what must be accepted with
 * which value, and what must be refused.
 */
#include <string.h>

#include "engine/parse.h"

#include "testutil.h"

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		size_t want;
	} ok[] = {{"64", 64},        {"1", 1},         {"4K", 4096},
		  {"4k", 4096},      {"1KiB", 1024},   {"2M", 2 << 20},
		  {"1MiB", 1 << 20}, {"1G", 1u << 30}, {"100B", 100}};
	static const char *const bad[] = {"",   "0x10", "-1",  "1.5", "4KB2", "abc",
					  "1T", " 64",  "64 ", "nan", "inf"};
	size_t v;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(ipcl_parse_size(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ipcl_parse_size(bad[i], &v) == 0)
			fail_msg("size '%s' accepted as %zu", bad[i], v);
}

static void test_counts(void **state)
{
	uint64_t v;

	assert_int_equal(ipcl_parse_count("100000", &v), 0);
	assert_int_equal(v, 100000);
	assert_int_equal(ipcl_parse_count("10k", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(ipcl_parse_count("2M", &v), 0);
	assert_int_equal(v, 2000000);
	assert_int_not_equal(ipcl_parse_count("ten", &v), 0);
	assert_int_not_equal(ipcl_parse_count("1.5", &v), 0);
	assert_int_not_equal(ipcl_parse_count("-5", &v), 0);
	assert_int_not_equal(ipcl_parse_count("5x", &v), 0);
}

static void test_durations(void **state)
{
	static const struct {
		const char *in;
		int64_t ns;
	} ok[] = {{"5s", 5000000000LL},  {"500ms", 500000000LL}, {"2m", 120000000000LL},
		  {"1.5", 1500000000LL}, {"250us", 250000LL},    {"1h", 3600000000000LL}};
	static const char *const bad[] = {"", "5 s", "5sec", "-1s", "0", "0s", "s", "1d"};
	int64_t ns;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(ipcl_parse_duration(ok[i].in, &ns), 0);
		assert_int_equal(ns, ok[i].ns);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ipcl_parse_duration(bad[i], &ns) == 0)
			fail_msg("duration '%s' accepted", bad[i]);
}

static void test_rate_and_cpus(void **state)
{
	double r;
	int cpus[8];

	assert_int_equal(ipcl_parse_rate("10k", &r), 0);
	assert_true(r == 10000.0);
	assert_int_not_equal(ipcl_parse_rate("0", &r), 0);
	assert_int_equal(ipcl_parse_cpus("0,1", cpus, 8), 2);
	assert_int_equal(cpus[1], 1);
	assert_int_equal(ipcl_parse_cpus("0-3", cpus, 8), 4);
	assert_int_equal(cpus[3], 3);
	assert_true(ipcl_parse_cpus("1,", cpus, 8) < 0 || cpus[0] == 1);
	assert_true(ipcl_parse_cpus("a", cpus, 8) < 0);
	assert_true(ipcl_parse_cpus("3-1", cpus, 8) < 0);
	assert_true(ipcl_parse_cpus("0-20", cpus, 8) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_rate_and_cpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
