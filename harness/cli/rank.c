/*
 * rank.c - the terminal ranking of `ipclab compare`: the records of this
 * comparison's points made into summary rows (report/summary.c: percentiles
 * from merged histograms, flags for loss, duplicates, corruption, a late
 * sender, a mock server) and printed by report/ranking.c, the same order as
 * the report's ranking (mock-server points listed apart, unranked); the
 * machine's noise floor (the hiccup record); then the points that ran
 * nothing, with the reason and the size their records carried.
 * stdio only. Leaves out: records of earlier comparisons in the same file
 * (the report reads the whole file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/rank.h"
#include "report/ranking.h"
#include "report/read.h"
#include "report/summary.h"

/* The size point i really carried: params.size of its first record (a
 * transport that carries less than planned, signal-rt's 8-byte sigval, says
 * so there), else that of a point of the same transport and planned size
 * that has a record, else the planned size. */
static long long rank_size(const struct ipcl_point *pts, int npts, int i)
{
	for (int k = -1; k < npts; k++) {
		const struct ipcl_point *p = &pts[k < 0 ? i : k];
		long long s;

		if (p->t != pts[i].t || p->size != pts[i].size || !p->nrec)
			continue;
		s = ipcl_report_int(p->rec[0], "params", "size");
		if (s > 0)
			return s;
	}
	return (long long)pts[i].size;
}

/* The points that gave no record, or whose runs failed, and why: a line per
 * transport and reason (the same reason at every size is said once). */
static void rank_notes(const struct ipcl_point *pts, int npts)
{
	int head = 0;

	for (int i = 0; i < npts; i++) {
		const struct ipcl_point *pt = &pts[i];
		int seen = 0;

		if (!pt->note[0])
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = pts[j].t == pt->t && !strcmp(pts[j].note, pt->note);
		if (seen)
			continue;
		if (!head++)
			printf("\nnot ranked, or not every run:\n");
		printf("  %-20s %s %lld B: %s\n", pt->t->name,
		       ipcl_pattern_name(pt->pattern), rank_size(pts, npts, i), pt->note);
	}
}

void ipcl_rank_print(const struct ipcl_plan *pl, struct ipcl_point *pts, int npts,
		     json_t *hiccup)
{
	struct ipcl_report_set set = {0};
	struct ipcl_report_rows rows = {0};
	int n = 0;

	(void)pl;
	for (int i = 0; i < npts; i++)
		n += pts[i].nrec;
	set.r = calloc((size_t)n + 1, sizeof *set.r);
	if (!set.r) {
		printf("\nranking: out of memory\n");
		return;
	}
	for (int i = 0; i < npts; i++)
		for (int k = 0; k < pts[i].nrec; k++) {
			ipcl_report_rec_fill(&set.r[set.nr], pts[i].rec[k], set.nr);
			set.nr++;
		}
	if (ipcl_report_group(&set, &rows))
		printf("\nranking: out of memory\n");
	else
		ipcl_report_print_ranking(stdout, &rows);
	if (hiccup)
		ipcl_report_print_hiccup(stdout, hiccup);
	rank_notes(pts, npts);
	ipcl_report_rows_free(&rows);
	free(set.r); /* the records are the points' */
}
