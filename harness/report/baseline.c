/*
 * baseline.c - the change against a baseline: rows of two result sets paired
 * by the grouping key, each figure judged against the spread (min..max) of
 * the runs on both sides. Writes through doc.h and csv.h, and the flagged
 * rows to stdout. Leaves out: any statistical test beyond the overlap of
 * ranges (see report_change).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report/baseline.h"
#include "report/csv.h"

/* What became of one figure between the baseline and the new set. */
enum change {
	CH_NONE,      /* a side has no such figure */
	CH_NO_SPREAD, /* a side has one run */
	CH_WITHIN,    /* the ranges overlap */
	CH_SMALL,     /* beyond the spread, but less than --min-change */
	CH_UP,        /* new above old, beyond the spread */
	CH_DOWN,      /* new below old, beyond the spread */
	CH_RATE,      /* CPU of rate runs at different targets: not judged */
};

struct tally {
	int both, flagged, within, small, no_spread, only_old, only_new;
};

/* Beyond the spread means the two sets' min..max ranges do not overlap; a
 * set with one run has no spread, and then nothing is flagged. A change
 * beyond the spread is flagged only from min_change (a fraction) up: two runs
 * of one build on a shared machine drift apart by more than the spread within
 * each (measured: 7 of 30 rows of two identical compares did not overlap). */
static enum change report_change(const struct ipcl_report_fig *o,
				 const struct ipcl_report_fig *n, double min_change)
{
	double r;

	if (!o->n || !n->n)
		return CH_NONE;
	if (o->n < 2 || n->n < 2)
		return CH_NO_SPREAD;
	if (n->min <= o->max && n->max >= o->min)
		return CH_WITHIN;
	r = o->med > 0 ? n->med / o->med : INFINITY;
	if (fabs(r - 1) < min_change)
		return CH_SMALL;
	return n->min > o->max ? CH_UP : CH_DOWN;
}

static const char *baseline_word(const struct ipcl_report_figdef *d, enum change c)
{
	return c == CH_UP          ? d->up
	       : c == CH_DOWN      ? d->down
	       : c == CH_WITHIN    ? "within spread"
	       : c == CH_SMALL     ? "small change"
	       : c == CH_NO_SPREAD ? "no spread (1 run)"
	       : c == CH_RATE      ? "not judged: target rate differs"
				   : "-";
}

/* Appends to b (n bytes, *len used so far), never beyond its end. */
static void baseline_cat(char *b, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void baseline_cat(char *b, size_t n, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*len >= n)
		return;
	va_start(ap, fmt);
	k = vsnprintf(b + *len, n - *len, fmt, ap);
	va_end(ap);
	if (k > 0)
		*len = *len + (size_t)k < n ? *len + (size_t)k : n - 1;
}

/*
 * The verdict of one row: the flagged figures, neighbours with the same word
 * merged: "slower (p50, p99); more CPU", or with with_ratio "slower (p50
 * 3.00x, p99 2.95x); more CPU (1.40x)"; else "no spread (1 run)", "within
 * spread" or "no figures". Returns 1 when a figure is flagged.
 */
static int baseline_verdict(char *b, size_t n, const struct ipcl_report_figdef **fd,
			    int nf, const enum change *ch, const double *ratio,
			    int with_ratio)
{
	const char *last = NULL;
	size_t len = 0;
	int spread = 0, within = 0, small = 0;

	b[0] = 0;
	for (int i = 0; i < nf; i++) {
		const char *w = baseline_word(fd[i], ch[i]), *sep;
		char part[48];

		spread += ch[i] == CH_NO_SPREAD;
		within += ch[i] == CH_WITHIN;
		small += ch[i] == CH_SMALL;
		if (ch[i] != CH_UP && ch[i] != CH_DOWN)
			continue;
		sep = fd[i]->self ? "" : " ";
		snprintf(part, sizeof part, "%s", fd[i]->self ? "" : fd[i]->name);
		if (with_ratio)
			snprintf(part + strlen(part), sizeof part - strlen(part),
				 "%s%.2fx", sep, ratio[i]);
		if (last && !strcmp(last, w) && *part && len && b[len - 1] == ')') {
			len--;
			baseline_cat(b, n, &len, ", %s)", part);
		} else {
			baseline_cat(b, n, &len, "%s%s", len ? "; " : "", w);
			if (*part)
				baseline_cat(b, n, &len, " (%s)", part);
		}
		last = w;
	}
	if (!last)
		snprintf(b, n, "%s",
			 spread   ? "no spread (1 run)"
			 : small  ? "small change"
			 : within ? "within spread"
				  : "no figures");
	return last != NULL;
}

/* The verdict of a row in both sets into verdict (n bytes), counted in t;
 * returns 1 when it is flagged. */
static int baseline_judge(char *verdict, size_t n, const struct ipcl_report_figdef **fd,
			  int nf, const enum change *ch, const double *ratio,
			  const struct ipcl_report_row *o,
			  const struct ipcl_report_row *nw, struct tally *t)
{
	int flagged = baseline_verdict(verdict, n, fd, nf, ch, ratio, 0);
	size_t len;

	t->both++;
	t->flagged += flagged;
	t->within += !flagged && !strcmp(verdict, "within spread");
	t->small += !flagged && !strcmp(verdict, "small change");
	t->no_spread += !flagged && !strcmp(verdict, "no spread (1 run)");
	len = strlen(verdict);
	if (o->rate.n && nw->rate.n && o->rate.med != nw->rate.med)
		baseline_cat(verdict, n, &len, "; target rate %.0f -> %.0f msgs/s",
			     o->rate.med, nw->rate.med);
	return flagged;
}

/* The line of a flagged row on stdout. Goes to a terminal: the record's
 * strings are printed as they are. */
static void baseline_print(const struct ipcl_report_rec *r, const char *line)
{
	int setup = strcmp(r->setup, "process") != 0;

	printf("  %s %lld B %s%s%s%s: %s\n", r->pattern, r->size, r->transport,
	       setup ? " (" : "", setup ? r->setup : "", setup ? ")" : "", line);
}

/* One row of the baseline table (o or n NULL: the row is only in the other
 * set); flagged rows also go to stdout, one line each. */
static void baseline_row(struct ipcl_doc *d, const struct ipcl_report_row *o,
			 const struct ipcl_report_row *n, double min_change, FILE *csv,
			 struct tally *t)
{
	const struct ipcl_report_rec *r = o ? o->runs : n->runs;
	enum { CW = 96, NC = 4 + 3 * IPCL_REPORT_MAX_FIGS + 1 };
	const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
	int nf = ipcl_report_figs(r->pattern, fd), nc = 0, flagged = 0;
	enum change ch[IPCL_REPORT_MAX_FIGS];
	double ratio[IPCL_REPORT_MAX_FIGS];
	char b[NC][CW], verdict[256], line[256];
	const char *c[NC];

	for (int i = 0; i < NC; i++)
		c[i] = b[i];
	c[nc++] = r->transport;
	snprintf(b[nc++], CW, "%lld", r->size);
	c[nc++] = r->setup;
	snprintf(b[nc++], CW, "%d/%d", o ? o->n : 0, n ? n->n : 0);
	for (int i = 0; i < nf; i++) {
		const struct ipcl_report_fig *fo =
						 o ? ipcl_report_rowfig(o, fd[i]) : NULL,
					     *fn =
						 n ? ipcl_report_rowfig(n, fd[i]) : NULL;

		ch[i] = o && n ? report_change(fo, fn, min_change) : CH_NONE;
		/* A paced run's CPU per message follows its rate (the sender
		 * spins between sends): at another target it is no change. */
		if (ch[i] != CH_NONE && fd[i] == &ipcl_report_fig_cpu && o->rate.n &&
		    o->rate.med != n->rate.med)
			ch[i] = CH_RATE;
		ratio[i] = o && n ? ipcl_report_ratio(fo, fn) : NAN;
		ipcl_report_fmt_fig(b[nc++], CW, fd[i], fo ? fo->med : NAN);
		ipcl_report_fmt_fig(b[nc++], CW, fd[i], fn ? fn->med : NAN);
		ipcl_report_fmt_f(b[nc++], CW, 2, ratio[i]);
	}
	if (!o || !n) {
		snprintf(verdict, sizeof verdict, "%s",
			 o ? "missing in new" : "new (not in baseline)");
		t->only_old += !n;
		t->only_new += !o;
	} else {
		flagged =
		    baseline_judge(verdict, sizeof verdict, fd, nf, ch, ratio, o, n, t);
	}
	c[nc++] = verdict;
	ipcl_doc_row(d, flagged ? "flag" : NULL, nc, c);
	if (flagged) {
		baseline_verdict(line, sizeof line, fd, nf, ch, ratio, 1);
		baseline_print(r, line);
	}
	if (csv)
		for (int i = 0; i < nf; i++)
			ipcl_csv_baseline_line(csv, r, o, n, fd[i],
					       o && n ? baseline_word(fd[i], ch[i])
					       : o    ? "missing in new"
						      : "new (not in baseline)");
}

/* Does some key of a (na keys) appear nowhere in b? */
static int baseline_env_missing(char **a, int na, char **b, int nb)
{
	for (int i = 0; i < na; i++) {
		int j;

		for (j = 0; j < nb && strcmp(a[i], b[j]); j++)
			;
		if (j == nb)
			return 1;
	}
	return 0;
}

/* A note when the two sets do not come from the same environments. */
static void baseline_env(struct ipcl_doc *d, const struct ipcl_report_set *now,
			 const struct ipcl_report_set *old)
{
	char **ko = NULL, **kn = NULL, text[1024], *f[4];
	int *co = NULL, *cn = NULL, no, nn;

	no = ipcl_report_env_keys(old, &ko, &co);
	nn = ipcl_report_env_keys(now, &kn, &cn);
	if (no < 0 || nn < 0)
		goto out;
	if (!baseline_env_missing(ko, no, kn, nn) &&
	    !baseline_env_missing(kn, nn, ko, no))
		goto out;
	f[0] = ko[0];
	for (int k = 1; k < 4; k++) {
		f[k] = strchr(f[k - 1], '\x1f');
		if (f[k])
			*f[k]++ = 0;
		else
			f[k] = (char *)"?";
	}
	snprintf(text, sizeof text,
		 "Note: the baseline comes from another environment than these records "
		 "(kernel, CPU, cores or library versions differ; the baseline's first "
		 "is %s, %s, %s cores, %s), so the ratios mix the change with the "
		 "machine or build.",
		 f[0], f[1], f[2], f[3]);
	ipcl_doc_para(d, text);
out:
	if (no >= 0)
		ipcl_report_env_free(ko, co, no);
	if (nn >= 0)
		ipcl_report_env_free(kn, cn, nn);
}

/* The heading and the table head of pattern's block. */
static void baseline_table_begin(struct ipcl_doc *d, const char *pattern)
{
	const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
	int nf = ipcl_report_figs(pattern, fd), nh = 0;
	char hb[3 * IPCL_REPORT_MAX_FIGS][48];
	const char *head[4 + 3 * IPCL_REPORT_MAX_FIGS + 1] = {"transport", "size", "mode",
							      "runs old/new"};

	ipcl_doc_heading(d, 3, pattern);
	for (int k = 0; k < nf; k++) {
		snprintf(hb[nh++], 48, "%s old (%s)", fd[k]->name, fd[k]->unit);
		snprintf(hb[nh++], 48, "%s new", fd[k]->name);
		snprintf(hb[nh++], 48, "%s new/old", fd[k]->name);
	}
	for (int k = 0; k < nh; k++)
		head[4 + k] = hb[k];
	head[4 + nh] = "verdict";
	ipcl_doc_table_begin(d, 5 + nh, head);
}

/* The paragraph that says how to read the tables. */
static void baseline_intro(struct ipcl_doc *d, const char *path, int nold, int nnew,
			   double min_change)
{
	char text[1024];

	snprintf(text, sizeof text,
		 "Baseline: %s (%d records); new: the %d records of this report. Each "
		 "row pairs the rows of the two summaries with the same pattern, size, "
		 "transport and set-up, by their medians. A change is flagged only "
		 "beyond the measured spread, i.e. when the min..max ranges of that "
		 "figure over the repeated runs of the two sets do not overlap; "
		 "otherwise the row is \"within spread\", and \"no spread (1 run)\" "
		 "when either set has a single run, since one run cannot tell noise "
		 "from change. Even so, with 3 runs a side an unchanged figure falls "
		 "outside by chance about 1 time in 10 (5 runs: 1 in 126), and two "
		 "runs of one build drift apart by more than the spread within each, "
		 "so a change beyond the spread but under %.0f%% (--min-change) is "
		 "only called a \"small change\": confirm a flag by running again. "
		 "new/old above 1 means: p50 or p99 latency, "
		 "slower; msgs/s, faster; CPU/msg (sender + receiver, ns), more CPU.",
		 path, nold, nnew, min_change * 100);
	ipcl_doc_para(d, text);
}

void ipcl_report_baseline(struct ipcl_doc *d, const struct ipcl_report_side *now,
			  const struct ipcl_report_side *old, const char *path,
			  double min_change, FILE *csv)
{
	const struct ipcl_report_rows *orow = old->rows, *nrow = now->rows;
	struct tally t = {0};
	const char *pat = NULL;
	char text[1024];

	ipcl_doc_heading(d, 2, "Change against baseline");
	baseline_intro(d, path, old->set->nr, now->set->nr, min_change);
	baseline_env(d, now->set, old->set);
	if (csv)
		ipcl_csv_baseline_head(csv);
	printf("change against baseline %s:\n", path);
	for (int i = 0, j = 0; i < orow->ng || j < nrow->ng;) {
		const struct ipcl_report_row *o = i < orow->ng ? &orow->g[i] : NULL,
					     *n = j < nrow->ng ? &nrow->g[j] : NULL;
		int c = !o ? 1 : !n ? -1 : ipcl_report_key_cmp(o->runs, n->runs);
		const struct ipcl_report_rec *r;

		if (c < 0)
			n = NULL;
		if (c > 0)
			o = NULL;
		i += o != NULL;
		j += n != NULL;
		r = o ? o->runs : n->runs;
		if (!pat || strcmp(pat, r->pattern)) {
			if (pat)
				ipcl_doc_table_end(d);
			pat = r->pattern;
			baseline_table_begin(d, pat);
		}
		baseline_row(d, o, n, min_change, csv, &t);
	}
	if (pat)
		ipcl_doc_table_end(d);
	snprintf(text, sizeof text,
		 "%d rows in both sets: %d changed beyond the spread, %d beyond it by "
		 "less than %.0f%%, %d within the spread, %d with a single run; %d "
		 "only in the baseline (missing in new), %d new.",
		 t.both, t.flagged, t.small, min_change * 100, t.within, t.no_spread,
		 t.only_old, t.only_new);
	ipcl_doc_para(d, text);
	if (!t.flagged)
		printf("  no change beyond the spread\n");
	printf("  (%d rows in both, %d only in the baseline, %d new)\n", t.both,
	       t.only_old, t.only_new);
}
