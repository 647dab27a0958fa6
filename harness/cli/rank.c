/*
 * rank.c - the terminal ranking of `ipclab compare`: per pattern, transports
 * sorted by their median figure at the first size, each cell with its ratio to
 * the best. stdio only; the full report is report/ (written from the records).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/rank.h"

static int better(enum ipcl_pattern p, double a, double b)
{
	if (isnan(b))
		return !isnan(a);
	if (isnan(a))
		return 0;
	return p == IPCL_STREAM ? a > b : a < b;
}

static void fmt_figure(char *b, size_t n, enum ipcl_pattern p, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else if (p == IPCL_STREAM)
		snprintf(b, n,
			 v >= 1e6   ? "%.2fM"
			 : v >= 1e4 ? "%.0fk"
				    : "%.0f",
			 v >= 1e6   ? v / 1e6
			 : v >= 1e4 ? v / 1e3
				    : v);
	else
		snprintf(b, n, "%.2f", v / 1000);
}

/* The table of one pattern: a row per transport, a column per size. */
struct rank_table {
	enum ipcl_pattern pattern;
	int nrow;
	const struct ipcl_transport *row[256];
	double fig[256][IPCL_PLAN_MAX_SIZES], best[IPCL_PLAN_MAX_SIZES];
	const char *why[256]; /* the note of a point that gave no figure */
};

/* Fills tb from the points of its pattern, with the best figure per size. */
static void rank_collect(const struct ipcl_plan *pl, const struct ipcl_point *pts,
			 int npts, struct rank_table *tb)
{
	for (int i = 0; i < npts; i++) {
		const struct ipcl_point *pt = &pts[i];
		int r, s;

		if (pt->pattern != tb->pattern)
			continue;
		for (r = 0; r < tb->nrow && tb->row[r] != pt->t; r++)
			;
		if (r == tb->nrow) {
			if (tb->nrow == 256)
				continue;
			tb->row[tb->nrow] = pt->t;
			tb->why[tb->nrow] = NULL;
			for (s = 0; s < pl->nsizes; s++)
				tb->fig[tb->nrow][s] = NAN;
			tb->nrow++;
		}
		for (s = 0; s < pl->nsizes && pl->sizes[s] != pt->size; s++)
			;
		tb->fig[r][s] = ipcl_point_figure(pt);
		if (isnan(tb->fig[r][s]) && pt->note[0] && !tb->why[r])
			tb->why[r] = pt->note;
	}
	for (int s = 0; s < pl->nsizes; s++) {
		tb->best[s] = NAN;
		for (int r = 0; r < tb->nrow; r++)
			if (better(tb->pattern, tb->fig[r][s], tb->best[s]))
				tb->best[s] = tb->fig[r][s];
	}
}

/* Insertion sort of the rows by the first size that has figures. */
static void rank_sort(const struct ipcl_plan *pl, struct rank_table *tb)
{
	for (int a = 1; a < tb->nrow; a++)
		for (int b = a; b > 0; b--) {
			const struct ipcl_transport *tt = tb->row[b];
			const char *tw = tb->why[b];
			double tf[IPCL_PLAN_MAX_SIZES];
			int s = 0;

			while (s < pl->nsizes - 1 && isnan(tb->fig[b][s]) &&
			       isnan(tb->fig[b - 1][s]))
				s++;
			if (!better(tb->pattern, tb->fig[b][s], tb->fig[b - 1][s]))
				break;
			memcpy(tf, tb->fig[b], sizeof tf);
			tb->row[b] = tb->row[b - 1];
			tb->why[b] = tb->why[b - 1];
			memcpy(tb->fig[b], tb->fig[b - 1], sizeof tf);
			tb->row[b - 1] = tt;
			tb->why[b - 1] = tw;
			memcpy(tb->fig[b - 1], tf, sizeof tf);
		}
}

/* The title line of a pattern's table, with how many runs each median took. */
static void rank_title(const struct ipcl_plan *pl, const struct ipcl_point *pts, int npts,
		       enum ipcl_pattern pattern)
{
	int lo = 99, hi = 0;

	printf("\n");
	if (pattern == IPCL_RATE)
		printf("rate: median p99 latency at %.0f%% of each transport's "
		       "stream capacity, us",
		       pl->fraction * 100);
	else
		fputs(pattern == IPCL_PINGPONG ? "pingpong: median p50 round trip, us"
					       : "stream: median messages/s",
		      stdout);
	for (int i = 0; i < npts; i++)
		if (pts[i].pattern == pattern && pts[i].ok) {
			lo = pts[i].ok < lo ? pts[i].ok : lo;
			hi = pts[i].ok > hi ? pts[i].ok : hi;
		}
	if (lo < hi)
		printf(" (median of %d to %d runs", lo, hi);
	else
		printf(" (median of %d run%s", hi, hi == 1 ? "" : "s");
	printf("; xN = N times the best at that size)\n");
}

/* Does row r have a figure at any size? */
static int rank_any(const struct ipcl_plan *pl, const struct rank_table *tb, int r)
{
	int any = 0;

	for (int s = 0; s < pl->nsizes; s++)
		any |= !isnan(tb->fig[r][s]);
	return any;
}

/* The header, a line per ranked transport, then those without figures. */
static void rank_rows(const struct ipcl_plan *pl, const struct rank_table *tb)
{
	printf("  %-20s", "transport");
	for (int s = 0; s < pl->nsizes; s++) {
		char h[32];

		snprintf(h, sizeof h, "%zu B", pl->sizes[s]);
		printf(" %16s", h);
	}
	printf("\n");
	for (int r = 0; r < tb->nrow; r++) {
		if (!rank_any(pl, tb, r))
			continue;
		printf("  %-20s", tb->row[r]->name);
		for (int s = 0; s < pl->nsizes; s++) {
			char v[24], cell[40];
			double f = tb->fig[r][s];
			double ratio = tb->pattern == IPCL_STREAM ? tb->best[s] / f
								  : f / tb->best[s];

			fmt_figure(v, sizeof v, tb->pattern, f);
			if (isnan(f))
				snprintf(cell, sizeof cell, "-");
			else
				snprintf(cell, sizeof cell, "%s %5.2fx", v, ratio);
			printf(" %16s", cell);
		}
		printf("\n");
	}
	for (int r = 0; r < tb->nrow; r++)
		if (!rank_any(pl, tb, r))
			printf("  %-20s %s\n", tb->row[r]->name,
			       tb->why[r] ? tb->why[r] : "no runs");
}

void ipcl_rank_print(const struct ipcl_plan *pl, struct ipcl_point *pts, int npts)
{
	static const enum ipcl_pattern pats[] = {IPCL_PINGPONG, IPCL_STREAM, IPCL_RATE};
	struct rank_table table, *tb = &table; /* about 40 KiB, as before */

	for (int p = 0; p < 3; p++) {
		if (!(pl->patterns & (1u << p)))
			continue;
		tb->pattern = pats[p];
		tb->nrow = 0;
		rank_collect(pl, pts, npts, tb);
		rank_sort(pl, tb);
		rank_title(pl, pts, npts, pats[p]);
		rank_rows(pl, tb);
	}
}
