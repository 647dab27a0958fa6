/*
 * ranking.c - the terminal ranking: per pattern, size and rate group a table
 * of rank, transport, set-up, the ranked figure, the runs' range of it, the
 * ratio to the best clean row and the flags, in ipcl_report_rank's order; an
 * RFC 2544 zero-loss rate is marked "zero-loss" next to its figure.
 * stdio only. Leaves out: rows without the figure (the summary lists them).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/ranking.h"

/* A figure as the terminal shows it: msgs/s as 1.23M / 456k / 789, latency
 * in us with 2 decimals. */
static void ranking_fmt(char *b, size_t n, const struct ipcl_report_figdef *d, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else if (strcmp(d->unit, "us"))
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

/* Does a row of [a, b) carry a mark next to figure f (a zero-loss rate)? */
static int ranking_marked(const struct ipcl_report_rows *rows, int a, int b,
			  const struct ipcl_report_figdef *f)
{
	for (int g = a; g < b; g++)
		if (ipcl_report_fig_mark(&rows->g[g], f)[0])
			return 1;
	return 0;
}

/* The title of the block that starts at row a, with how many runs its rows
 * have. */
static void ranking_title(FILE *out, const struct ipcl_report_rows *rows, int a, int b,
			  const struct ipcl_report_figdef *f)
{
	const struct ipcl_report_rec *r = rows->g[a].runs;
	int lo = 99, hi = 0, rate = !strcmp(r->pattern, "rate");
	char rg[80];

	for (int g = a; g < b; g++) {
		lo = rows->g[g].n < lo ? rows->g[g].n : lo;
		hi = rows->g[g].n > hi ? rows->g[g].n : hi;
	}
	fprintf(out, "\n%s, %lld B%s: %s", r->pattern, r->size,
		ipcl_report_fmt_rategroup(rg, sizeof rg, &rows->g[a]),
		!strcmp(r->pattern, "pingpong") ? "p50 round trip, us"
		: rate                          ? "p99 latency, us"
						: "messages/s");
	if (lo < hi)
		fprintf(out, " (%s %d to %d runs",
			strcmp(f->unit, "us") ? "median of" : "merged over", lo, hi);
	else
		fprintf(out, " (%s %d run%s",
			strcmp(f->unit, "us") ? "median of" : "merged over", hi,
			hi == 1 ? "" : "s");
	fprintf(out, "; xN = N times the best clean point%s)\n",
		rate ? "; overlapping p99 ranges tie (=)" : "");
	if (ranking_marked(rows, a, b, f))
		fprintf(out, "  zero-loss: the RFC 2544 throughput of a mechanism "
			     "without flow control, the highest offered rate that "
			     "lost nothing (a bounded binary search over the rate)\n");
}

void ipcl_report_print_ranking(FILE *out, const struct ipcl_report_rows *rows)
{
	int *ord = calloc((size_t)rows->ng + 1, sizeof *ord),
	    *rank = calloc((size_t)rows->ng + 1, sizeof *rank);

	if (!ord || !rank)
		goto out;
	for (int a = 0, b; a < rows->ng; a = b) {
		const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS], *f;
		int n, mw;
		double best;

		ipcl_report_figs(rows->g[a].runs->pattern, fd);
		f = fd[0];
		b = ipcl_report_block(rows, a, 1);
		n = ipcl_report_rank(rows, a, b, f, ord, rank);
		if (!n)
			continue;
		ranking_title(out, rows, a, b, f);
		/* room for " zero-loss" after the figure when a row has it */
		mw = ranking_marked(rows, a, b, f) ? 10 : 0;
		fprintf(out, "  %-5s %-20s %-16s %10s%-*s %-19s %7s  %s\n", "rank",
			"transport", "mode", f->name, mw, "", "  runs' range", "x best",
			"flags");
		best = rows->g[ord[0]].flags
			   ? NAN
			   : ipcl_report_rowfig(&rows->g[ord[0]], f)->med;
		for (int i = 0; i < n; i++) {
			const struct ipcl_report_row *G = &rows->g[ord[i]];
			const struct ipcl_report_fig *fg = ipcl_report_rowfig(G, f);
			char rk[16], v[24], lo[24], hi[24], range[64], x[16], fl[300],
			    mk[16];

			snprintf(rk, sizeof rk, "%s%d",
				 ipcl_report_tied(rank, n, i) ? "=" : "", rank[i]);
			ranking_fmt(v, sizeof v, f, fg->med);
			if (fg->n > 1) {
				ranking_fmt(lo, sizeof lo, f, fg->min);
				ranking_fmt(hi, sizeof hi, f, fg->max);
				snprintf(range, sizeof range, "  %s..%s", lo, hi);
			} else
				snprintf(range, sizeof range, "  -");
			if (isnan(best))
				snprintf(x, sizeof x, "-");
			else
				snprintf(x, sizeof x, "%.2fx",
					 f->higher_better ? best / fg->med
							  : fg->med / best);
			ipcl_report_flag_text(G, fl, sizeof fl);
			snprintf(mk, sizeof mk, "%s%s",
				 ipcl_report_fig_mark(G, f)[0] ? " " : "",
				 ipcl_report_fig_mark(G, f));
			fprintf(out, "  %-5s %-20s %-16s %10s%-*s %-19s %7s%s%s\n", rk,
				G->runs->transport, G->runs->setup, v, mw, mk, range, x,
				G->flags ? "  " : "", G->flags ? fl : "");
		}
	}
out:
	free(ord);
	free(rank);
}
