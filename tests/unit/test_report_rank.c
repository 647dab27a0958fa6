/*
 * test_report_rank.c - what a ranking leaves out (report/summary.c): the
 * samples a percentile needs (ipcl_report_pct_min), percentiles printed "-"
 * below that (ipcl_report_fmt_pct), and rows that ipcl_report_rank leaves out
 * with ipcl_report_unranked's reason: a mock server, too few samples for the
 * ranked percentile, no figure. Rows are made from small JSON records through
 * the report's own reader and summary.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/read.h"
#include "report/summary.h"
#include "testutil.h"

static void test_pct_min(void **state)
{
	static const struct {
		double pct;
		long long want;
	} t[] = {{50, 1}, {90, 10}, {99, 100}, {99.9, 1000}, {99.99, 10000}, {0, 1}};
	char b[32];

	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		assert_int_equal(ipcl_report_pct_min(t[i].pct), t[i].want);
	assert_string_equal(ipcl_report_fmt_pct(b, sizeof b, 12345, 99, 99), "-");
	assert_string_equal(ipcl_report_fmt_pct(b, sizeof b, 12345, 100, 99), "12.35");
	assert_string_equal(ipcl_report_fmt_pct(b, sizeof b, 12345, 9999, 99.99), "-");
	assert_string_equal(ipcl_report_fmt_pct(b, sizeof b, 12345, 2, 50), "12.35");
}

/* A pingpong record of transport t with count latency samples (p50 = p99 =
 * ns), mock or not. */
static json_t *rec(const char *t, long long count, double ns, int mock)
{
	char s[512];
	json_error_t e;

	snprintf(
	    s, sizeof s,
	    "{\"schema\":\"ipclab.result/1\",\"transport\":\"%s\",\"pattern\":"
	    "\"pingpong\",\"status\":\"ok\",\"params\":{\"size\":64},"
	    "\"limits\":{\"mock\":%s},\"latency\":{\"count\":%lld,\"min\":%g,"
	    "\"p50\":%g,\"p90\":%g,\"p99\":%g,\"max\":%g},\"verify\":{\"sent\":%lld}}",
	    t, mock ? "true" : "false", count, ns, ns, ns, ns, ns, count);
	return json_loads(s, 0, &e);
}

static void test_unranked(void **state)
{
	const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
	struct ipcl_report_rec r[4];
	struct ipcl_report_rows rows = {.ng = 4};
	struct ipcl_report_row g[4];
	int ord[4], rank[4], n;
	char why[96];

	(void)state;
	ipcl_report_rec_fill(&r[0], rec("pipe", 1000, 3000, 0), 0);
	ipcl_report_rec_fill(&r[1], rec("kafka", 1000, 1000, 1), 1); /* fastest, mock */
	ipcl_report_rec_fill(&r[2], rec("fifo", 1000, 4000, 0), 2);
	ipcl_report_rec_fill(&r[3], rec("pg", 0, 0, 0), 3);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ipcl_report_summarize(&r[i], 1, &g[i]), 0);
	rows.g = g;
	ipcl_report_figs("pingpong", fd); /* fd[0]: p50, fd[1]: p99 */
	n = ipcl_report_rank(&rows, 0, 4, fd[0], ord, rank);
	assert_int_equal(n, 2);
	assert_int_equal(ord[0], 0);
	assert_int_equal(ord[1], 2);
	assert_null(ipcl_report_unranked(&g[0], fd[0], why, sizeof why));
	assert_non_null(ipcl_report_unranked(&g[1], fd[0], why, sizeof why));
	assert_string_equal(why, "mock server");
	assert_non_null(ipcl_report_unranked(&g[3], fd[0], why, sizeof why));
	assert_string_equal(why, "no p50 figure");

	/* 99 samples cannot rank by p99: 100 can */
	json_decref(r[2].j);
	ipcl_report_rec_fill(&r[2], rec("fifo", 99, 4000, 0), 2);
	assert_int_equal(ipcl_report_summarize(&r[2], 1, &g[2]), 0);
	assert_non_null(ipcl_report_unranked(&g[2], fd[1], why, sizeof why));
	assert_string_equal(why, "too few samples for p99 (n 99; needs 100)");
	assert_null(ipcl_report_unranked(&g[0], fd[1], why, sizeof why));
	n = ipcl_report_rank(&rows, 0, 4, fd[1], ord, rank);
	assert_int_equal(n, 1);
	assert_int_equal(ord[0], 0);
	for (int i = 0; i < 4; i++)
		json_decref(r[i].j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pct_min),
	    cmocka_unit_test(test_unranked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
