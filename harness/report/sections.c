/*
 * sections.c - the tables of the report: what each column holds and in which
 * order, from summary rows (summary.h) and fault runs (faultcell.h). No output
 * format of its own: every piece goes through doc.h. Leaves out: the change
 * against a baseline (baseline.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/faultcell.h"
#include "report/sections.h"

void ipcl_report_env(struct ipcl_doc *d, const struct ipcl_report_set *set)
{
	static const char *head[] = {"kernel", "CPU", "cores", "libraries", "records"};
	char **keys;
	int *cnt, ns;

	ipcl_doc_heading(d, 2, "Environment");
	ns = ipcl_report_env_keys(set, &keys, &cnt);
	if (ns < 0)
		return;
	ipcl_doc_table_begin(d, 5, head);
	for (int j = 0; j < ns; j++) {
		const char *c[5];
		char n[16], *p = keys[j];

		for (int k = 0; k < 4; k++) {
			c[k] = p;
			p = strchr(p, '\x1f');
			if (p)
				*p++ = 0;
			else
				p = (char *)"";
		}
		snprintf(n, sizeof n, "%d", cnt[j]);
		c[4] = n;
		ipcl_doc_row(d, NULL, 5, c);
	}
	ipcl_doc_table_end(d);
	ipcl_report_env_free(keys, cnt, ns);
}

enum { SUM_NCOL = 20, SUM_MSGS = 12 };

/* The server CPU cell of run m: ns/msg, "not measured" where the record
 * says why not (the reasons are listed under the table), "-" for a
 * transport without a server. */
static const char *sections_srv(char *b, size_t n, const struct ipcl_report_rec *m)
{
	if (isnan(m->cpu_srv) && m->srv_note)
		snprintf(b, n, "not measured");
	else
		ipcl_report_fmt_f(b, n, 0, m->cpu_srv);
	return b;
}

/* One row of a summary table; with rate, the target rate goes in before the
 * achieved msgs/s. Every percentile comes from the row's one histogram of n
 * samples, and one that n cannot support is "-" (ipcl_report_pct_min). */
static void sections_summary_row(struct ipcl_doc *d, const struct ipcl_report_row *G,
				 int rate)
{
	const struct ipcl_report_rec *r = G->runs, *m = G->mid;
	const struct ipcl_report_lat *l = &G->lat;
	char b[SUM_NCOL + 1][200];
	const char *c[SUM_NCOL + 1];

	snprintf(b[1], 48, "%lld", r->size);
	snprintf(b[3], 48, "%d%s%s", G->n, G->failed ? " (failed)" : "",
		 !l->merged && !isnan(l->p50) && G->n > 1 ? " (one run's percentiles)"
							  : "");
	if (isnan(l->p50))
		snprintf(b[4], 48, "-");
	else
		snprintf(b[4], 48, "%lld", l->count);
	ipcl_report_fmt_us(b[5], 48, l->p50);
	if (G->p50.n)
		snprintf(b[6], 48, "%.2f..%.2f", G->p50.min / 1000, G->p50.max / 1000);
	else
		snprintf(b[6], 48, "-");
	ipcl_report_fmt_pct(b[7], 48, l->p90, l->count, 90);
	ipcl_report_fmt_pct(b[8], 48, l->p99, l->count, 99);
	ipcl_report_fmt_pct(b[9], 48, l->p999, l->count, 99.9);
	ipcl_report_fmt_pct(b[10], 48, l->p9999, l->count, 99.99);
	ipcl_report_fmt_us(b[11], 48, l->max);
	ipcl_report_fmt_f(b[12], 48, 0, G->msgs_s.med);
	if (G->zl_fig) /* the RFC 2544 zero-loss rate, not a survivors' count */
		snprintf(b[12] + strlen(b[12]), sizeof b[12] - strlen(b[12]),
			 " zero-loss");
	ipcl_report_fmt_f(b[13], 48, 2, m->mb_s);
	ipcl_report_fmt_f(b[14], 48, 0, m->cpu_rx);
	snprintf(b[15], 48, "%lld", G->lost);
	snprintf(b[16], 48, "%lld", G->dup);
	ipcl_report_fmt_f(b[17], 48, 0, m->cpu_tx);
	sections_srv(b[18], 48, m);
	ipcl_report_flag_text(G, b[19], sizeof b[19]);
	ipcl_report_fmt_rate(b[20], 48, &G->rate);
	for (int k = 0, i = 0; k < SUM_NCOL; k++) {
		if (rate && k == SUM_MSGS)
			c[i++] = b[20];
		c[i++] = k == 0 ? r->transport : k == 2 ? r->setup : b[k];
	}
	ipcl_doc_row(d, G->flags ? "flag" : NULL, SUM_NCOL + rate, c);
}

/* Under a summary table: why the server CPU of rows [a, e) was not measured,
 * one line per distinct reason. */
static void sections_srv_notes(struct ipcl_doc *d, const struct ipcl_report_rows *rows,
			       int a, int e)
{
	for (int g = a; g < e; g++) {
		const struct ipcl_report_rec *m = rows->g[g].mid;
		char t[600];
		int seen = 0;

		if (!isnan(m->cpu_srv) || !m->srv_note)
			continue;
		for (int k = a; k < g && !seen; k++)
			seen = rows->g[k].mid->srv_note &&
			       !strcmp(rows->g[k].mid->srv_note, m->srv_note);
		if (seen)
			continue;
		snprintf(t, sizeof t, "Server CPU of %s: %s.", m->transport, m->srv_note);
		ipcl_doc_para(d, t);
	}
}

void ipcl_report_summary(struct ipcl_doc *d, const struct ipcl_report_rows *rows)
{
	static const char *head[] = {"transport",
				     "size",
				     "mode",
				     "runs",
				     "n",
				     "p50 (us)",
				     "p50 min..max (us)",
				     "p90 (us)",
				     "p99 (us)",
				     "p99.9 (us)",
				     "p99.99 (us)",
				     "max (us)",
				     "msgs/s",
				     "MB/s",
				     "CPU/msg receiver (ns)",
				     "lost",
				     "duplicated",
				     "CPU/msg sender (ns)",
				     "CPU/msg server (ns)",
				     "flags"};

	for (int a = 0, e; a < rows->ng; a = e) {
		int rate = !strcmp(rows->g[a].runs->pattern, "rate");
		/* Pingpong: msgs_per_s is round trips/s, mb_per_s both directions. */
		int pp = !strcmp(rows->g[a].runs->pattern, "pingpong");
		const char *h[SUM_NCOL + 1];
		char t[64];

		e = ipcl_report_block(rows, a, 0);
		snprintf(t, sizeof t, "Summary: %s", rows->g[a].runs->pattern);
		ipcl_doc_heading(d, 2, t);
		if (a == 0)
			ipcl_doc_para(
			    d,
			    "Percentiles come from one histogram per row: the "
			    "runs' histograms merged (\"one run's percentiles\": a "
			    "run had no buckets, so all come from the representative "
			    "run), so p50 <= p90 <= p99 <= p99.9 <= p99.99 <= max. "
			    "n is how many latency samples that histogram holds; a "
			    "percentile it cannot support is \"-\" (p90 needs 10 "
			    "samples, p99 100, p99.9 1000, p99.99 10000). "
			    "msgs/s and CPU are medians over the runs; the server's "
			    "CPU (a broker's own process) is apart from its clients'. "
			    "A row with a "
			    "flag (loss, duplicates, corruption, a late sender, a failed "
			    "run) is never ranked above a clean one; a mock server's "
			    "row is not ranked at all.");
		for (int k = 0, i = 0; k < SUM_NCOL; k++) {
			if (rate && k == SUM_MSGS)
				h[i++] = "target msgs/s";
			h[i++] = rate && k == SUM_MSGS     ? "achieved msgs/s"
				 : pp && k == SUM_MSGS     ? "round trips/s"
				 : pp && k == SUM_MSGS + 1 ? "MB/s (both ways)"
							   : head[k];
		}
		ipcl_doc_table_begin(d, SUM_NCOL + rate, h);
		for (int g = a; g < e; g++)
			sections_summary_row(d, &rows->g[g], rate);
		ipcl_doc_table_end(d);
		sections_srv_notes(d, rows, a, e);
	}
}

/*
 * The rows of block [a, b) that the ranking by f leaves out (ipcl_report_
 * unranked), as a table of their own without rank or ratio: with mock, those
 * of a mock server ("Not ranked: mock server"), else the others ("Not
 * ranked", with why). Nothing when there are none.
 */
static void sections_unranked(struct ipcl_doc *d, const struct ipcl_report_rows *rows,
			      int a, int b, const struct ipcl_report_figdef *f, int mock)
{
	static const char *head[] = {"transport", "mode",    "metric",
				     "n",         "why not", "flags"};
	int head_done = 0;

	for (int g = a; g < b; g++) {
		const struct ipcl_report_row *G = &rows->g[g];
		char why[96], v[48], num[40], n[24], fl[200];
		const char *c[6] = {G->runs->transport, G->runs->setup, v, n, why, fl};

		if (!ipcl_report_unranked(G, f, why, sizeof why) ||
		    ((G->flags & IPCL_RF_MOCK) != 0) != mock)
			continue;
		if (!head_done++) {
			ipcl_doc_para(d, mock ? "Not ranked: mock server (a stand-in "
						"inside the ipclab process, not a "
						"broker's figures)."
					      : "Not ranked:");
			ipcl_doc_table_begin(d, 6, head);
		}
		snprintf(v, sizeof v, "%s %s",
			 ipcl_report_fmt_fig(num, sizeof num, f,
					     ipcl_report_rowfig(G, f)->med),
			 f->unit);
		snprintf(n, sizeof n, G->lat.count ? "%lld" : "-", G->lat.count);
		ipcl_report_flag_text(G, fl, sizeof fl);
		ipcl_doc_row(d, "flag", 6, c);
	}
	if (head_done)
		ipcl_doc_table_end(d);
}

void ipcl_report_ranking(struct ipcl_doc *d, const struct ipcl_report_rows *rows)
{
	static const char *head[] = {"rank",        "transport", "mode", "metric",
				     "runs' range", "x best",    "n",    "flags"};
	int *ord = calloc((size_t)rows->ng + 1, sizeof *ord),
	    *rank = calloc((size_t)rows->ng + 1, sizeof *rank);

	ipcl_doc_heading(d, 2, "Ranking");
	if (!ord || !rank)
		goto out;
	ipcl_doc_para(d, "Clean rows first, then flagged ones (loss, duplicates, "
			 "corruption, a late sender, a failed run), "
			 "rows that lost messages last, each by the figure; \"x best\" "
			 "is against the best clean row. "
			 "Rate rows whose runs' p99 ranges overlap share a rank (\"=\"). "
			 "n: latency samples behind the percentiles. Not ranked at all, "
			 "and listed apart without a rank: rows measured against a mock "
			 "server (a stand-in, not a broker's figures), rows without the "
			 "figure, and rows whose percentile rests on too few samples "
			 "(p99 needs 100).");
	for (int g = 0; g < rows->ng; g++)
		if (rows->g[g].zl_fig) {
			ipcl_doc_para(d, "A stream figure marked zero-loss is the RFC "
					 "2544 throughput of a mechanism without flow "
					 "control: the highest offered rate that lost "
					 "nothing, found by a bounded binary search over "
					 "the rate (docs/results.md, zero_loss).");
			break;
		}
	for (int a = 0, b; a < rows->ng; a = b) {
		const struct ipcl_report_row *ga = &rows->g[a];
		const struct ipcl_report_rec *ra = ga->runs;
		const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS], *f;
		int n;
		char t[200], rg[80];
		double best;

		ipcl_report_figs(ra->pattern, fd);
		f = fd[0];
		b = ipcl_report_block(rows, a, 1);
		n = ipcl_report_rank(rows, a, b, f, ord, rank);
		snprintf(t, sizeof t, "%s, %lld B%s (by %s)", ra->pattern, ra->size,
			 ipcl_report_fmt_rategroup(rg, sizeof rg, ga),
			 strcmp(f->unit, "us") ? "median msgs/s"
			 : !strcmp(ra->pattern, "rate")
			     ? "p99 latency of the merged runs; overlapping ranges tie"
			     : "p50 latency of the merged runs");
		ipcl_doc_heading(d, 3, t);
		ipcl_doc_table_begin(d, 8, head);
		best = n ? ipcl_report_rowfig(&rows->g[ord[0]], f)->med : NAN;
		for (int i = 0; i < n; i++) {
			const struct ipcl_report_row *G = &rows->g[ord[i]];
			const struct ipcl_report_fig *fg = ipcl_report_rowfig(G, f);
			double v = fg->med;
			char b0[16], b3[48], b4[64], b5[32], b6[24], fl[200], num[40],
			    n1[40], n2[40];
			const char *c[8] = {
			    b0, G->runs->transport, G->runs->setup, b3, b4, b5, b6, fl};

			snprintf(b0, sizeof b0, "%s%d",
				 ipcl_report_tied(rank, n, i) ? "=" : "", rank[i]);
			snprintf(b3, sizeof b3, "%s %s%s%s",
				 ipcl_report_fmt_fig(num, sizeof num, f, v), f->unit,
				 ipcl_report_fig_mark(G, f)[0] ? " " : "",
				 ipcl_report_fig_mark(G, f));
			if (fg->n > 1)
				snprintf(b4, sizeof b4, "%s..%s",
					 ipcl_report_fmt_fig(n1, sizeof n1, f, fg->min),
					 ipcl_report_fmt_fig(n2, sizeof n2, f, fg->max));
			else
				snprintf(b4, sizeof b4, "-");
			if (rows->g[ord[0]].flags)
				best = NAN; /* no clean row: no ratio to a clean best */
			if (isnan(best))
				snprintf(b5, sizeof b5, "-");
			else
				snprintf(b5, sizeof b5, "%.2f",
					 f->higher_better ? best / v : v / best);
			snprintf(b6, sizeof b6, G->lat.count ? "%lld" : "-",
				 G->lat.count);
			ipcl_report_flag_text(G, fl, sizeof fl);
			ipcl_doc_row(d, G->flags ? "flag" : NULL, 8, c);
		}
		ipcl_doc_table_end(d);
		sections_unranked(d, rows, a, b, f, 1);
		sections_unranked(d, rows, a, b, f, 0);
	}
out:
	free(ord);
	free(rank);
}

void ipcl_report_noise(struct ipcl_doc *d, const struct ipcl_report_set *set)
{
	static const char *head[] = {"paced at (wake-ups/s)",
				     "placement",
				     "n",
				     "p50 (us)",
				     "p90 (us)",
				     "p99 (us)",
				     "p99.9 (us)",
				     "p99.99 (us)",
				     "max (us)"};

	if (!set->nfloor)
		return;
	ipcl_doc_heading(d, 2, "Machine noise");
	ipcl_doc_para(d,
		      "The hiccup meter (ipclab compare, once per comparison with rate "
		      "runs): a bare loop with no transport that sleeps until each "
		      "intended wake-up, paced like the rate runs, and records how late "
		      "it woke. That lag is this machine's own floor, its scheduler and "
		      "timer noise while the comparison ran: a rate run's latency at or "
		      "below these percentiles cannot be told apart from the machine, "
		      "and only the part above them is the transport's. A percentile "
		      "from too few wake-ups is \"-\".");
	ipcl_doc_table_begin(d, 9, head);
	for (int i = 0; i < set->nfloor; i++) {
		json_t *h = set->floor[i], *l = json_object_get(h, "latency");
		long long n = ipcl_report_int(l, "count", NULL);
		static const char *const key[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
		static const double pct[] = {50, 90, 99, 99.9, 99.99};
		char b[9][48];
		const char *c[9];

		ipcl_report_fmt_f(b[0], 48, 0, ipcl_report_num(h, "params", "rate"));
		snprintf(b[1], 48, "%s", ipcl_report_str(h, "params", "placement", "-"));
		snprintf(b[2], 48, "%lld", n);
		for (int k = 0; k < 5; k++)
			ipcl_report_fmt_pct(b[3 + k], 48,
					    ipcl_report_num(l, key[k], NULL), n, pct[k]);
		ipcl_report_fmt_us(b[8], 48, ipcl_report_num(l, "max", NULL));
		for (int k = 0; k < 9; k++)
			c[k] = b[k];
		ipcl_doc_row(d, NULL, 9, c);
	}
	ipcl_doc_table_end(d);
}

void ipcl_report_verify(struct ipcl_doc *d, const struct ipcl_report_rows *rows)
{
	static const char *head[] = {"pattern",    "transport", "size",   "mode",
				     "runs",       "failed",    "sent",   "lost",
				     "duplicated", "reordered", "corrupt"};

	ipcl_doc_heading(d, 2, "Verification (sums over runs)");
	ipcl_doc_table_begin(d, 11, head);
	for (int g = 0; g < rows->ng; g++) {
		const struct ipcl_report_row *G = &rows->g[g];
		const struct ipcl_report_rec *r = G->runs;
		char b[8][32];
		const char *c[11] = {r->pattern, r->transport, b[0], r->setup, b[1], b[2],
				     b[3],       b[4],         b[5], b[6],     b[7]};

		snprintf(b[0], 32, "%lld", r->size);
		snprintf(b[1], 32, "%d", G->n);
		snprintf(b[2], 32, "%d", G->failed);
		snprintf(b[3], 32, "%lld", G->sent);
		snprintf(b[4], 32, "%lld", G->lost);
		snprintf(b[5], 32, "%lld", G->dup);
		snprintf(b[6], 32, "%lld", G->reord);
		snprintf(b[7], 32, "%lld", G->corrupt);
		ipcl_doc_row(d, NULL, 11, c);
	}
	ipcl_doc_table_end(d);
}

/* Which group of the chart section the chart file belongs to. */
static int sections_chart_group(const char *file)
{
	static const char *const pre[] = {"latency-", "throughput-", "cpu-",
					  "over-time-"};

	for (int k = 0; k < 4; k++)
		if (!strncmp(file, pre[k], strlen(pre[k])))
			return k;
	return 4;
}

void ipcl_report_chart_section(struct ipcl_doc *d, const struct ipcl_report_charts *c)
{
	static const char *const head[] = {
	    "Latency by percentile", "Stream throughput by message size",
	    "CPU per message", "Latency over time (runs longer than 1 s)", "Other"};

	ipcl_doc_heading(d, 2, "Charts");
	ipcl_doc_para(d,
		      "Small multiples: one chart per family (kernel, library, broker) "
		      "and at most 8 series each. A transport has the same colour and "
		      "marker in every chart; a dashed line is a set-up other than "
		      "\"process\"; hollow markers are flagged points (the key names "
		      "the flag). The grey dotted line is the machine's floor, the "
		      "hiccup meter's bare paced loop, where the records have one.");
	if (c->note)
		ipcl_doc_para(d, c->note);
	for (int k = 0, i = 0; k < 5; k++) {
		int any = 0;

		for (i = 0; i < c->nch; i++) {
			if (sections_chart_group(c->ch[i].file) != k)
				continue;
			if (!any++) {
				ipcl_doc_heading(d, 3, head[k]);
				ipcl_doc_figures_begin(d);
			}
			ipcl_doc_figure(d, c->ch[i].title, c->ch[i].file, c->ch[i].svg);
		}
		if (any)
			ipcl_doc_figures_end(d);
	}
}

/* ---- overview: a row per transport, sizes as column groups ---------------- */

/* A series of the overview: a transport and set-up of one pattern. */
struct ov_series {
	const struct ipcl_report_rec *r;
	int order; /* its place in the ranking of the first group (big: absent) */
	int flagged;
};

static int ov_cmp(const void *a, const void *b)
{
	const struct ov_series *x = a, *y = b;
	int c = (x->order > y->order) - (x->order < y->order);

	if (!c)
		c = strcmp(x->r->transport, y->r->transport);
	return c ? c : strcmp(x->r->setup, y->r->setup);
}

/* The overview of the pattern rows [a, e): columns per group (size, rate). */
static void sections_overview_one(struct ipcl_doc *d, const struct ipcl_report_rows *rows,
				  int a, int e)
{
	const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
	const char *pattern = rows->g[a].runs->pattern;
	int nf = ipcl_report_figs(pattern, fd) - 1; /* CPU stays in the details */
	int ng = 0, ns = 0, ncol, *gs = calloc((size_t)(e - a) + 1, sizeof *gs),
	    *ord = calloc((size_t)(e - a) + 1, sizeof *ord),
	    *rank = calloc((size_t)(e - a) + 1, sizeof *rank);
	struct ov_series *se = calloc((size_t)(e - a) + 1, sizeof *se);
	char(*hb)[160] = NULL, (*cb)[200] = NULL, t[128];
	const char **cells = NULL;

	if (!gs || !ord || !rank || !se)
		goto out;
	for (int g = a; g < e; g = ipcl_report_block(rows, g, 1))
		gs[ng++] = g;
	for (int g = a; g < e; g++) {
		int k;

		for (k = 0;
		     k < ns && (strcmp(se[k].r->transport, rows->g[g].runs->transport) ||
				strcmp(se[k].r->setup, rows->g[g].runs->setup));
		     k++)
			;
		if (k == ns)
			se[ns++] = (struct ov_series){rows->g[g].runs, 1 << 20, 0};
		se[k].flagged |= rows->g[g].flags != 0;
	}
	{
		int n = ipcl_report_rank(rows, gs[0], ipcl_report_block(rows, gs[0], 1),
					 fd[0], ord, rank);

		for (int i = 0; i < n; i++)
			for (int k = 0; k < ns; k++)
				if (!strcmp(se[k].r->transport,
					    rows->g[ord[i]].runs->transport) &&
				    !strcmp(se[k].r->setup, rows->g[ord[i]].runs->setup))
					se[k].order = i;
	}
	qsort(se, (size_t)ns, sizeof *se, ov_cmp);
	ncol = 2 + ng * nf + 1;
	hb = calloc((size_t)ncol, sizeof *hb);
	cb = calloc((size_t)ncol, sizeof *cb);
	cells = calloc((size_t)ncol, sizeof *cells);
	if (!hb || !cb || !cells)
		goto out;
	cells[0] = "transport";
	cells[1] = "mode";
	for (int i = 0; i < ng; i++)
		for (int k = 0; k < nf; k++) {
			char rg[96];
			const struct ipcl_report_row *G = &rows->g[gs[i]];

			ipcl_report_fmt_rategroup(rg, sizeof rg, G);
			snprintf(hb[2 + i * nf + k], 160, "%lld B%s %s%s%s%s",
				 G->runs->size, rg, fd[k]->name,
				 strcmp(fd[k]->unit, "msgs/s") ? " (" : "",
				 strcmp(fd[k]->unit, "msgs/s") ? fd[k]->unit : "",
				 strcmp(fd[k]->unit, "msgs/s") ? ")" : "");
			cells[2 + i * nf + k] = hb[2 + i * nf + k];
		}
	cells[ncol - 1] = "loss and flags";
	snprintf(t, sizeof t, "Overview: %s", pattern);
	ipcl_doc_heading(d, 2, t);
	snprintf(t, sizeof t,
		 "A row per transport, sorted by %s at the first size (clean rows "
		 "first); click a column head to sort by it.",
		 fd[0]->name);
	ipcl_doc_para(d, t);
	ipcl_doc_table_begin(d, ncol, cells);
	for (int k = 0; k < ns; k++) {
		size_t fl = 0;

		cells[0] = se[k].r->transport;
		cells[1] = se[k].r->setup;
		cb[ncol - 1][0] = 0;
		for (int i = 0; i < ng; i++) {
			const struct ipcl_report_row *G = NULL;
			int end = ipcl_report_block(rows, gs[i], 1);

			for (int g = gs[i]; g < end && !G; g++)
				if (!strcmp(rows->g[g].runs->transport,
					    se[k].r->transport) &&
				    !strcmp(rows->g[g].runs->setup, se[k].r->setup))
					G = &rows->g[g];
			for (int m = 0; m < nf; m++) {
				char *c = cb[2 + i * nf + m];

				if (G && fd[m]->pct > 0 &&
				    G->lat.count < ipcl_report_pct_min(fd[m]->pct))
					snprintf(c, 200, "-"); /* too few samples */
				else if (G)
					ipcl_report_fmt_fig(
					    c, 200, fd[m],
					    ipcl_report_rowfig(G, fd[m])->med);
				else
					snprintf(c, 200, "-");
				cells[2 + i * nf + m] = c;
			}
			if (G && G->flags && fl < 190) {
				char why[200], rg[96];

				ipcl_report_flag_text(G, why, sizeof why);
				fl += (size_t)snprintf(
				    cb[ncol - 1] + fl, 200 - fl, "%s%lld B%s: %s",
				    fl ? "; " : "", G->runs->size,
				    ipcl_report_fmt_rategroup(rg, sizeof rg, G), why);
			}
		}
		cells[ncol - 1] = cb[ncol - 1];
		ipcl_doc_row(d, se[k].flagged ? "flag" : NULL, ncol, cells);
	}
	ipcl_doc_table_end(d);
out:
	free(gs);
	free(ord);
	free(rank);
	free(se);
	free(hb);
	free(cb);
	free(cells);
}

void ipcl_report_overview(struct ipcl_doc *d, const struct ipcl_report_rows *rows)
{
	for (int a = 0, e; a < rows->ng; a = e) {
		e = ipcl_report_block(rows, a, 0);
		sections_overview_one(d, rows, a, e);
	}
}

/* ---- the failure matrix ---------------------------------------------------- */

enum { FM_MAX_SC = 16, FM_MAX_TR = 256 };

/* The scenario and the transport of fault run j. */
static const char *fm_scenario(json_t *j)
{
	return ipcl_report_str(json_object_get(j, "fault"), "scenario", NULL, "?");
}

static const char *fm_transport(json_t *j)
{
	return ipcl_report_str(j, "transport", NULL, "?");
}

/* The columns (scenarios: kill-consumer, kill-producer, stall, oversize, then
 * any other in input order) and rows (transports) of the matrix. */
static void fm_axes(const struct ipcl_report_set *set, const char **sc, int *nsc,
		    const char **tr, int *ntr)
{
	static const char *const known[] = {"kill-consumer", "kill-producer", "stall",
					    "oversize"};

	*nsc = *ntr = 0;
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < set->nfault; i++)
			if (!strcmp(fm_scenario(set->fault[i]), known[k])) {
				sc[(*nsc)++] = known[k];
				break;
			}
	for (int i = 0; i < set->nfault; i++) {
		const char *s = fm_scenario(set->fault[i]),
			   *t = fm_transport(set->fault[i]);
		int k;

		for (k = 0; k < *nsc && strcmp(sc[k], s); k++)
			;
		if (k == *nsc && *nsc < FM_MAX_SC)
			sc[(*nsc)++] = s;
		for (k = 0; k < *ntr && strcmp(tr[k], t); k++)
			;
		if (k == *ntr && *ntr < FM_MAX_TR)
			tr[(*ntr)++] = t;
	}
}

/*
 * The failure matrix: a row per transport, a column per fault scenario that
 * was run, the cell of the last run of each pair. Nothing without fault runs.
 */
void ipcl_report_faults(struct ipcl_doc *d, const struct ipcl_report_set *set)
{
	const char *sc[FM_MAX_SC], *tr[FM_MAX_TR], *head[FM_MAX_SC + 1];
	int nsc, ntr;

	if (!set->nfault)
		return;
	fm_axes(set, sc, &nsc, tr, &ntr);
	ipcl_doc_heading(d, 2, "Failure matrix");
	ipcl_doc_para(
	    d, "One stream run per transport and fault scenario (ipclab faults; "
	       "docs/faults.md): kill-consumer kills the consumer mid-stream and "
	       "starts a new one (recovery time: kill to its first message); "
	       "kill-producer kills the producer (how and when the consumer "
	       "stopped); stall makes the consumer sleep (did the producer block, "
	       "drop or fail?); oversize sends one message over the limit (refused "
	       "or damaged?). Each cell: messages lost / duplicated, what happened, "
	       "and the delivery guarantee observed in that run: lost 0 and dup 0 is "
	       "effectively-once, dup > 0 at-least-once, lost > 0 at-most-once. One "
	       "run each: some outcomes are races and can differ between runs. "
	       "\"-\": not run (e.g. oversize where there is no size limit).");
	head[0] = "transport";
	for (int k = 0; k < nsc; k++)
		head[k + 1] = sc[k];
	d->text_table = 1;
	ipcl_doc_table_begin(d, nsc + 1, head);
	for (int t = 0; t < ntr; t++) {
		char cell[FM_MAX_SC][200];
		const char *c[FM_MAX_SC + 1];

		c[0] = tr[t];
		for (int k = 0; k < nsc; k++) {
			snprintf(cell[k], sizeof cell[k], "-");
			for (int i = 0; i < set->nfault; i++)
				if (!strcmp(fm_transport(set->fault[i]), tr[t]) &&
				    !strcmp(fm_scenario(set->fault[i]), sc[k]))
					ipcl_fault_cell(set->fault[i], cell[k],
							sizeof cell[k]);
			c[k + 1] = cell[k];
		}
		ipcl_doc_row(d, NULL, nsc + 1, c);
	}
	ipcl_doc_table_end(d);
	d->text_table = 0;
}
