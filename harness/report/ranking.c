/*
 * ranking.c - the terminal ranking: per pattern, size and rate group a table
 * of rank, transport, set-up, the ranked figure, the runs' range of it, the
 * ratio to the best clean row and the flags, in ipcl_report_rank's order (an
 * RFC 2544 zero-loss rate is marked "zero-loss" next to its figure); then
 * the rows the ranking leaves out (a mock server, no figure, too few samples
 * for the percentile), each with why, no rank and no ratio; and the machine's
 * noise floor (a hiccup record). stdio only.
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

/* n, the latency samples of row G, into b: "-" when it measured none. */
static const char *ranking_n(char *b, size_t n, const struct ipcl_report_row *G)
{
	if (G->lat.count > 0)
		snprintf(b, n, "%lld", G->lat.count);
	else
		snprintf(b, n, "-");
	return b;
}

/* The rows of block [a, b) that the ranking by f leaves out (mw: the width of
 * the mark column after the figure): first those of
 * a mock server under "not ranked: mock server", then any other under "not
 * ranked:" with why; each with its figure (where it has one), n and flags,
 * no rank and no ratio. */
static void ranking_unranked(FILE *out, const struct ipcl_report_rows *rows, int a, int b,
			     const struct ipcl_report_figdef *f, int mw)
{
	for (int mock = 1; mock >= 0; mock--) {
		int head = 0;

		for (int g = a; g < b; g++) {
			const struct ipcl_report_row *G = &rows->g[g];
			char v[24], fl[300], why[96], nb[24];

			if (!ipcl_report_unranked(G, f, why, sizeof why) ||
			    ((G->flags & IPCL_RF_MOCK) != 0) != mock)
				continue;
			if (!head++)
				fprintf(out, "  not ranked%s\n",
					mock ? ": mock server" : ":");
			ranking_fmt(v, sizeof v, f, ipcl_report_rowfig(G, f)->med);
			ipcl_report_flag_text(G, fl, sizeof fl);
			fprintf(out,
				"  %-5s %-20s %-16s %10s%-*s %-19s %7s %8s  %s%s%s\n",
				"-", G->runs->transport, G->runs->setup, v, mw, "", "",
				"-", ranking_n(nb, sizeof nb, G), mock ? "" : why,
				!mock && fl[0] ? "; " : "", fl);
		}
	}
}

void ipcl_report_print_hiccup(FILE *out, json_t *h)
{
	json_t *l = json_object_get(h, "latency");
	char p50[24], p99[24], p999[24], mx[24];
	long long n = ipcl_report_int(l, "count", NULL);

	fprintf(
	    out,
	    "\nmachine noise (hiccup meter: a bare loop paced at %.0f/s, %lld "
	    "wake-ups): lag p50 %s, p99 %s, p99.9 %s, max %s us; latency at or "
	    "below this is the machine's, not the transport's\n",
	    ipcl_report_num(h, "params", "rate"), n,
	    ipcl_report_fmt_pct(p50, sizeof p50, ipcl_report_num(l, "p50", NULL), n, 50),
	    ipcl_report_fmt_pct(p99, sizeof p99, ipcl_report_num(l, "p99", NULL), n, 99),
	    ipcl_report_fmt_pct(p999, sizeof p999, ipcl_report_num(l, "p99_9", NULL), n,
				99.9),
	    ipcl_report_fmt_us(mx, sizeof mx, ipcl_report_num(l, "max", NULL)));
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
		ranking_title(out, rows, a, b, f);
		/* room for " zero-loss" after the figure when a row has it */
		mw = ranking_marked(rows, a, b, f) ? 10 : 0;
		fprintf(out, "  %-5s %-20s %-16s %10s%-*s %-19s %7s %8s  %s\n", "rank",
			"transport", "mode", f->name, mw, "", "  runs' range", "x best",
			"n", "flags");
		best = !n || rows->g[ord[0]].flags
			   ? NAN
			   : ipcl_report_rowfig(&rows->g[ord[0]], f)->med;
		for (int i = 0; i < n; i++) {
			const struct ipcl_report_row *G = &rows->g[ord[i]];
			const struct ipcl_report_fig *fg = ipcl_report_rowfig(G, f);
			char rk[16], v[24], lo[24], hi[24], range[64], x[16], fl[300],
			    mk[16], nb[24];

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
			fprintf(out, "  %-5s %-20s %-16s %10s%-*s %-19s %7s %8s%s%s\n",
				rk, G->runs->transport, G->runs->setup, v, mw, mk, range,
				x, ranking_n(nb, sizeof nb, G), G->flags ? "  " : "",
				G->flags ? fl : "");
		}
		ranking_unranked(out, rows, a, b, f, mw);
	}
out:
	free(ord);
	free(rank);
}
