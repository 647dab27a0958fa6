/*
 * charts.c - gnuplot charts: a script per chart (data in inline datablocks)
 * in a private mkdtemp directory inside the report's (nothing in /tmp), run by fork +
 * execlp("gnuplot") with stdout and stderr to /dev/null, its SVG read back. No shell:
 * every string from a record reaches the script through gp_quote. Small multiples: a
 * chart per family (the record's kind: kernel, library, broker) of at most 8 series; each
 * transport keeps one colour and marker in every chart (its place among the sorted
 * names), a flagged point is drawn hollow and named in the key; the machine's floor (a
 * hiccup record) is a grey reference line, and latency axes are log, labelled in
 * ns/us/ms/s. Leaves out: charts of the one-way latency of pingpong, and of fault runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/safefile.h"
#include "report/charts.h"

/* Where one drawing session works: the charts so far, the private temporary
 * directory of the script and the SVG, and the report's directory. */
struct plot {
	struct ipcl_report_charts *c;
	const char *tmp, *dir;
	const char **names; /* the sorted transport names: a style each */
	int nnames;
	json_t *floor; /* the hiccup record drawn as the machine's floor, or NULL */
};

#define GP_MAX_SERIES 8  /* series per chart; more make another chart */
#define GP_MAX_TIME   96 /* latency-over-time charts at most */

/*
 * The one gnuplot escape: writes s quoted with q. q '\'': a single-quoted
 * script string, ' doubled; gnuplot does no backslash, backquote or @
 * substitution inside one. q '"': a datablock label; gnuplot's data reader
 * knows no escape inside double quotes, so " becomes '. Either way control
 * characters, newline included, become spaces: a newline would end the
 * command or data line, and what follows (after "EOD", a datablock's end)
 * would run as gnuplot commands, system() among them.
 */
static void gp_quote(FILE *f, const char *s, char q)
{
	fputc(q, f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			fputc(' ', f);
		else if (c == '\'' && q == '\'')
			fputs("''", f);
		else if (c == '"' && q == '"')
			fputc('\'', f);
		else
			fputc(c, f);
	}
	fputc(q, f);
}

static int charts_have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		snprintf(buf, sizeof buf, "%.*s/gnuplot", (int)len, len ? p : ".");
		if (access(buf, X_OK) == 0)
			return 1;
		p += len + (e ? 1 : 0);
	}
	return 0;
}

static char *charts_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &cap, 0, f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Writes text as dir/name: dir must be the caller's own, the file goes to a
 * temporary name and is renamed over name (engine/safefile.h). 0 or -1. */
static int charts_write_file(const char *dir, const char *name, const char *text)
{
	int dfd = ipcl_output_dir_open(dir, NULL, 0), rc;

	if (dfd < 0)
		return -1;
	rc = ipcl_output_replace(dfd, name, text, strlen(text), NULL, 0);
	close(dfd);
	return rc ? -1 : 0;
}

int (*ipcl_report_gnuplot_hook)(const char *script);

/* Runs gnuplot on tmp/c.gp and waits for it; returns its exit status, or -1
 * when it could not be run or waited for. */
static int charts_run(const char *gp)
{
	int status = 0, fd;
	pid_t pid;

	if (ipcl_report_gnuplot_hook)
		return ipcl_report_gnuplot_hook(gp);
	pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs gnuplot on tmp/c.gp (which writes tmp/c.svg); on success stores the
 * SVG in a new chart and DIR/file. Returns 0 or -1. */
static int charts_plot(struct plot *pl, const char *file, const char *title)
{
	struct ipcl_report_charts *cs = pl->c;
	char gp[4200], svg[4200];
	struct ipcl_report_chart *c;
	char *text = NULL, *start;
	int rc = -1;

	snprintf(gp, sizeof gp, "%s/c.gp", pl->tmp);
	snprintf(svg, sizeof svg, "%s/c.svg", pl->tmp);
	if (charts_run(gp) != 0 || cs->nch >= IPCL_REPORT_MAX_CHARTS)
		goto out;
	text = charts_slurp(svg);
	if (!text || !(start = strstr(text, "<svg")))
		goto out;
	if (charts_write_file(pl->dir, file, text))
		goto out;
	c = &cs->ch[cs->nch++];
	snprintf(c->file, sizeof c->file, "%s", file);
	snprintf(c->title, sizeof c->title, "%s", title);
	c->svg = strdup(start);
	rc = c->svg ? 0 : -1;
	if (rc)
		cs->nch--;
out:
	free(text);
	unlink(svg);
	unlink(gp);
	return rc;
}

/* Removes tmp/c.gp and tmp/c.svg where they exist. */
static void charts_unlink_scratch(const char *tmp)
{
	char p[4200];

	snprintf(p, sizeof p, "%s/c.gp", tmp);
	unlink(p);
	snprintf(p, sizeof p, "%s/c.svg", tmp);
	unlink(p);
}

/* ---- styles: one colour and one marker per transport, in every chart ------ */

/* 11 colours and 6 marker shapes (gnuplot SVG point types: square, circle,
 * triangle, inverted triangle, diamond, pentagon; filled = hollow + 1): the
 * n-th transport of the sorted names gets colour n % 11 and shape n % 6, so
 * up to 66 transports get a pair of their own. */
static const char *const gp_colour[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
					"#9467bd", "#8c564b", "#e377c2", "#17becf",
					"#bcbd22", "#555555", "#000080"};
static const int gp_hollow[] = {4, 6, 8, 10, 12, 14};
#define GP_NCOL   (int)(sizeof gp_colour / sizeof gp_colour[0])
#define GP_NSHAPE (int)(sizeof gp_hollow / sizeof gp_hollow[0])

static int charts_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted distinct transport names of rows into pl. */
static int charts_names(struct plot *pl, const struct ipcl_report_rows *rows)
{
	pl->names = calloc((size_t)rows->ng + 1, sizeof *pl->names);
	if (!pl->names)
		return -1;
	for (int g = 0; g < rows->ng; g++) {
		const char *t = rows->g[g].runs->transport;
		int k;

		for (k = 0; k < pl->nnames && strcmp(pl->names[k], t); k++)
			;
		if (k == pl->nnames)
			pl->names[pl->nnames++] = t;
	}
	qsort(pl->names, (size_t)pl->nnames, sizeof *pl->names, charts_cmp_str);
	return 0;
}

/* The style number of transport t (its place among the sorted names). */
static int charts_style(const struct plot *pl, const char *t)
{
	for (int k = 0; k < pl->nnames; k++)
		if (!strcmp(pl->names[k], t))
			return k;
	return 0;
}

/* " lc rgb '#..' pt N dt D" of transport t; hollow for a flagged point. */
static void gp_style(FILE *f, const struct plot *pl, const char *t, int hollow, int dt)
{
	int k = charts_style(pl, t);

	fprintf(f, " lc rgb '%s' pt %d dt %d", gp_colour[k % GP_NCOL],
		gp_hollow[k % GP_NSHAPE] + (hollow ? 0 : 1), dt);
}

/* A series' title in the key: the transport, its set-up unless "process",
 * and for a flagged row what the flag is. */
static void gp_title(char *b, size_t n, const struct ipcl_report_row *G)
{
	const struct ipcl_report_rec *r = G->runs;
	size_t k;

	if (strcmp(r->setup, "process"))
		k = (size_t)snprintf(b, n, "%.40s (%.60s)", r->transport, r->setup);
	else
		k = (size_t)snprintf(b, n, "%.100s", r->transport);
	if (G->flags && k < n) {
		static const char *const fl[] = {"lost",        "duplicated", "corrupt",
						 "late sender", "mock",       "failed"};
		int first = 1;

		k += (size_t)snprintf(b + k, n - k, ": flagged");
		for (int i = 0; i < 6 && k < n; i++)
			if (G->flags & (1u << i)) {
				k += (size_t)snprintf(b + k, n - k, "%s%s",
						      first ? " (" : ", ", fl[i]);
				first = 0;
			}
		if (k < n)
			snprintf(b + k, n - k, ")");
	}
}

/* The family of a row: the record's kind, or "other" when not recorded. */
static const char *charts_family(const struct ipcl_report_row *G)
{
	return *G->runs->kind ? G->runs->kind : "other";
}

/* Family k of the ones charts are split by, in this order. */
static const char *const gp_families[] = {"kernel", "library", "broker", "other"};
#define GP_NFAM 4

static int charts_in_family(const struct ipcl_report_row *G, int fam)
{
	const char *f = charts_family(G);
	int known = 0;

	for (int k = 0; k < GP_NFAM - 1; k++)
		known |= !strcmp(f, gp_families[k]);
	return fam == GP_NFAM - 1 ? !known : !strcmp(f, gp_families[fam]);
}

/* ---- axes ---------------------------------------------------------------- */

/* Log-axis tics of a latency axis in us, labelled in ns, us, ms or s: each
 * decade from 10 ns to 100 s, and 2x and 5x as well when lo..hi (us) spans
 * under two decades. */
static void gp_time_tics(FILE *f, const char *axis, double lo, double hi)
{
	static const char *const unit[] = {"ns", "us", "ms", "s"};
	int fine = hi / lo < 100, n = 0;

	fprintf(f, "set %stics (", axis);
	for (int e = -2; e <= 8; e++) /* 10^e us */
		for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
			double v = m * pow(10, e);
			int u = (e + 3) / 3; /* 10^-3.. ns, 10^0.. us, 10^3.. ms */
			double shown = v / pow(10, 3 * (u - 1));

			if (m > 1 && !fine)
				continue;
			if (u > 3)
				u = 3, shown = v / 1e6;
			fprintf(f, "%s'%g %s' %g", n++ ? ", " : "", shown, unit[u], v);
		}
	fputs(")\n", f);
}

/* Log-axis tics of a msgs/s axis: 1/s, 10/s ... 1G/s. */
static void gp_rate_tics(FILE *f)
{
	fputs("set ytics ('1/s' 1, '10/s' 10, '100/s' 100, '1k/s' 1e3, '10k/s' 1e4, "
	      "'100k/s' 1e5, '1M/s' 1e6, '10M/s' 1e7, '100M/s' 1e8, '1G/s' 1e9)\n",
	      f);
}

/* Starts tmp/c.gp: SVG terminal of w x h, title, axis labels, log scale on
 * the axes in logscale ("xy", "y" or ""), grid, key below the plot. */
static FILE *gp_begin(const struct plot *pl, const char *title, const char *xl,
		      const char *yl, const char *logscale, int w, int h)
{
	char gp[4200], svg[4200];
	FILE *f;

	snprintf(gp, sizeof gp, "%s/c.gp", pl->tmp);
	snprintf(svg, sizeof svg, "%s/c.svg", pl->tmp);
	f = fopen(gp, "w");
	if (!f)
		return NULL;
	fprintf(
	    f, "set terminal svg size %d,%d dynamic enhanced font 'sans,10'\nset output ",
	    w, h);
	gp_quote(f, svg, '\'');
	fputs("\nset title ", f);
	gp_quote(f, title, '\'');
	fputs(" noenhanced\nset xlabel ", f);
	gp_quote(f, xl, '\'');
	fputs("\nset ylabel ", f);
	gp_quote(f, yl, '\'');
	fprintf(f, "\n%s%s%sset grid\nset key below noenhanced\nset pointsize 0.8\n",
		*logscale ? "set logscale " : "", logscale, *logscale ? "\n" : "");
	return f;
}

/* The machine's floor: the latency spectrum of the last hiccup record as a
 * datablock $floor (x 1/(1-p), y us); returns 1 when there is one. */
static int gp_floor_spectrum(FILE *f, const struct plot *pl)
{
	json_t *sp = pl->floor ? json_object_get(json_object_get(pl->floor, "latency"),
						 "spectrum")
			       : NULL,
	       *pt;
	size_t i;
	int n = 0;

	if (!json_is_array(sp))
		return 0;
	fputs("$floor << EOD\n", f);
	json_array_foreach(sp, i, pt)
	{
		double p = json_number_value(json_array_get(pt, 0));
		double ns = json_number_value(json_array_get(pt, 1));

		if (p < 100 && ns > 0) {
			fprintf(f, "%.9g %.9g\n", 1 / (1 - p / 100), ns / 1000);
			n++;
		}
	}
	fputs("EOD\n", f);
	return n > 0;
}

/* The floor's title in a key: "machine floor (hiccup meter at N/s)". */
static void gp_floor_title(FILE *f, const struct plot *pl)
{
	char t[128];
	double rate = ipcl_report_num(json_object_get(pl->floor, "params"), "rate", NULL);

	if (isnan(rate))
		snprintf(t, sizeof t, "machine floor (hiccup meter)");
	else
		snprintf(t, sizeof t, "machine floor (hiccup meter at %.0f/s)", rate);
	gp_quote(f, t, '\'');
}

/* The note a latency chart carries when no floor was measured. */
static void gp_no_floor(FILE *f)
{
	fputs("set label 'no floor measured' at graph 0.01, graph 0.96 left "
	      "font ',9' tc rgb '#666666'\n",
	      f);
}

/* The file and title suffix of chunk `part` of `parts` of family fam. */
static void charts_fam_names(char *fs, size_t fn, char *ts, size_t tn, int fam, int part,
			     int parts)
{
	if (parts > 1) {
		snprintf(fs, fn, "-%s-%d", gp_families[fam], part + 1);
		snprintf(ts, tn, ", %s %d of %d", gp_families[fam], part + 1, parts);
	} else {
		snprintf(fs, fn, "-%s", gp_families[fam]);
		snprintf(ts, tn, ", %s", gp_families[fam]);
	}
}

/* The rows [a, b) of family fam into sel; returns how many. */
static int charts_select(const struct ipcl_report_rows *rows, int a, int b, int fam,
			 int *sel)
{
	int n = 0;

	for (int g = a; g < b; g++)
		if (charts_in_family(&rows->g[g], fam))
			sel[n++] = g;
	return n;
}

/* ---- latency by percentile ------------------------------------------------- */

/* One spectrum chart: rows sel[0 .. n) of one block. */
static void charts_latency_one(struct plot *pl, const struct ipcl_report_rows *rows,
			       const int *sel, int n, const char *fsuf, const char *tsuf)
{
	const struct ipcl_report_rec *ra = rows->g[sel[0]].runs;
	int rate = !strcmp(ra->pattern, "rate"), lines = 0, floor;
	char title[256], file[160], lt[200], rg[96];
	double lo = INFINITY, hi = 0;
	FILE *f;

	ipcl_report_fmt_rategroup(rg, sizeof rg, &rows->g[sel[0]]);
	snprintf(title, sizeof title, "%s by percentile, %lld B%s%s",
		 rate ? "rate one-way latency (from the intended send time)"
		      : "pingpong round-trip latency",
		 ra->size, rg, tsuf);
	if (rate && !isnan(ra->rate_frac))
		snprintf(file, sizeof file, "latency-rate-%lld-f%.0f%s.svg", ra->size,
			 ra->rate_frac * 100, fsuf);
	else if (rate)
		snprintf(file, sizeof file, "latency-rate-%lld-%.0f%s.svg", ra->size,
			 ra->rate, fsuf);
	else
		snprintf(file, sizeof file, "latency-%s-%lld%s.svg", ra->pattern,
			 ra->size, fsuf);
	f = gp_begin(pl, title, "percentile", "latency", "xy", 620, 420);
	if (!f)
		return;
	fputs("set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, "
	      "'99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)\n",
	      f);
	for (int i = 0; i < n; i++) {
		const struct ipcl_report_rec *m = rows->g[sel[i]].mid;
		size_t k;
		json_t *pt;

		if (!m->spectrum)
			continue;
		fprintf(f, "$d%d << EOD\n", i);
		json_array_foreach(m->spectrum, k, pt)
		{
			double p = json_number_value(json_array_get(pt, 0));
			double us = json_number_value(json_array_get(pt, 1)) / 1000;

			if (p < 100 && us > 0) {
				fprintf(f, "%.9g %.9g\n", 1 / (1 - p / 100), us);
				lo = fmin(lo, us);
				hi = fmax(hi, us);
			}
		}
		fputs("EOD\n", f);
	}
	floor = gp_floor_spectrum(f, pl);
	if (!floor)
		gp_no_floor(f);
	if (hi > 0)
		gp_time_tics(f, "y", lo, hi);
	fputs("plot", f);
	for (int i = 0; i < n; i++) {
		const struct ipcl_report_row *G = &rows->g[sel[i]];

		if (!G->mid->spectrum)
			continue;
		gp_title(lt, sizeof lt, G);
		fprintf(f, "%s $d%d using 1:2 with linespoints lw 2 pi 6",
			lines++ ? "," : "", i);
		gp_style(f, pl, G->runs->transport, G->flags != 0,
			 strcmp(G->runs->setup, "process") ? 2 : 1);
		fputs(" title ", f);
		gp_quote(f, lt, '\'');
	}
	if (floor) {
		fputs(", $floor using 1:2 with lines lw 1.5 dt 3 lc rgb '#888888' title ",
		      f);
		gp_floor_title(f, pl);
	}
	fputs("\n", f);
	if (fclose(f) == 0 && lines)
		charts_plot(pl, file, title);
}

/* Splits the rows [a, b) by family and into charts of at most GP_MAX_SERIES
 * series, calling one for each. */
static void charts_split(struct plot *pl, const struct ipcl_report_rows *rows, int a,
			 int b,
			 void (*one)(struct plot *, const struct ipcl_report_rows *,
				     const int *, int, const char *, const char *))
{
	int *sel = calloc((size_t)(b - a) + 1, sizeof *sel);

	if (!sel)
		return;
	for (int fam = 0; fam < GP_NFAM; fam++) {
		int n = charts_select(rows, a, b, fam, sel),
		    parts = (n + GP_MAX_SERIES - 1) / GP_MAX_SERIES;

		for (int p = 0; p < parts; p++) {
			int from = p * n / parts, to = (p + 1) * n / parts;
			char fs[48], ts[64];

			charts_fam_names(fs, sizeof fs, ts, sizeof ts, fam, p, parts);
			one(pl, rows, sel + from, to - from, fs, ts);
		}
	}
	free(sel);
}

/* Latency spectrum of every pingpong and rate block, small multiples. */
static void charts_latency(struct plot *pl, const struct ipcl_report_rows *rows)
{
	for (int a = 0, b; a < rows->ng; a = b) {
		const char *p = rows->g[a].runs->pattern;

		b = ipcl_report_block(rows, a, 1);
		if (!strcmp(p, "rate") || !strcmp(p, "pingpong"))
			charts_split(pl, rows, a, b, charts_latency_one);
	}
}

/* ---- stream throughput by size ------------------------------------------- */

/* Do rows p and q belong to one stream series (transport and set-up)? */
static int charts_same_series(const struct ipcl_report_rec *p,
			      const struct ipcl_report_rec *q)
{
	return !strcmp(q->pattern, "stream") && !strcmp(q->transport, p->transport) &&
	       !strcmp(q->setup, p->setup);
}

/* Is row g the first stream row of its transport and set-up? */
static int charts_series_first(const struct ipcl_report_rows *rows, int g)
{
	const struct ipcl_report_rec *r = rows->g[g].runs;

	if (strcmp(r->pattern, "stream"))
		return 0;
	for (int h = 0; h < g; h++)
		if (charts_same_series(r, rows->g[h].runs))
			return 0;
	return 1;
}

/* The datablock of the clean (flagged 0) or flagged (1) points of the series
 * of row g as $dN or $fN; returns how many points. */
static int gp_stream_points(FILE *f, const struct ipcl_report_rows *rows, int g,
			    int flagged, int n)
{
	int k = 0;

	fprintf(f, "$%c%d << EOD\n", flagged ? 'f' : 'd', n);
	for (int h = g; h < rows->ng; h++)
		if (charts_same_series(rows->g[g].runs, rows->g[h].runs) &&
		    rows->g[h].msgs_s.med > 0 && (rows->g[h].flags != 0) == flagged) {
			fprintf(f, "%lld %.9g\n", rows->g[h].runs->size,
				rows->g[h].msgs_s.med);
			k++;
		}
	fputs("EOD\n", f);
	return k;
}

/* The stream chart of the series sel[0 .. n) (each a series' first row). */
static void charts_stream_one(struct plot *pl, const struct ipcl_report_rows *rows,
			      const int *sel, int n, const char *fsuf, const char *tsuf)
{
	char title[160], file[96], lt[200];
	int items = 0, *nc = calloc((size_t)n + 1, sizeof *nc),
	    *nf = calloc((size_t)n + 1, sizeof *nf);
	FILE *f;

	snprintf(title, sizeof title, "stream throughput by message size (median)%s",
		 tsuf);
	snprintf(file, sizeof file, "throughput-stream%s.svg", fsuf);
	f = nc && nf ? gp_begin(pl, title, "message size", "messages/s", "xy", 620, 420)
		     : NULL;
	if (!f)
		goto out;
	fputs("set xtics ('8 B' 8, '16 B' 16, '64 B' 64, '256 B' 256, '1 KiB' 1024, '4 "
	      "KiB' "
	      "4096, '16 KiB' 16384, '64 KiB' 65536, '256 KiB' 262144, '1 MiB' "
	      "1048576)\n",
	      f);
	gp_rate_tics(f);
	for (int i = 0; i < n; i++) {
		nc[i] = gp_stream_points(f, rows, sel[i], 0, i);
		nf[i] = gp_stream_points(f, rows, sel[i], 1, i);
	}
	fputs("plot", f);
	for (int i = 0; i < n; i++) {
		struct ipcl_report_row G = rows->g[sel[i]];
		const char *t = G.runs->transport;
		int dt = strcmp(G.runs->setup, "process") ? 2 : 1;

		if (nc[i]) {
			G.flags = 0;
			gp_title(lt, sizeof lt, &G);
			fprintf(f, "%s $d%d using 1:2 with linespoints lw 2",
				items++ ? "," : "", i);
			gp_style(f, pl, t, 0, dt);
			fputs(" title ", f);
			gp_quote(f, lt, '\'');
		}
		if (nf[i]) {
			/* the flags of the series' flagged rows, for the key */
			G.flags = 0;
			for (int h = sel[i]; h < rows->ng; h++)
				if (charts_same_series(G.runs, rows->g[h].runs))
					G.flags |= rows->g[h].flags;
			gp_title(lt, sizeof lt, &G);
			fprintf(f, "%s $f%d using 1:2 with points ps 1.4",
				items++ ? "," : "", i);
			gp_style(f, pl, t, 1, dt);
			fputs(" title ", f);
			gp_quote(f, lt, '\'');
		}
	}
	fputs("\n", f);
	if (fclose(f) == 0 && items)
		charts_plot(pl, file, title);
out:
	free(nc);
	free(nf);
}

/* Stream throughput against message size, small multiples by family. */
static void charts_stream(struct plot *pl, const struct ipcl_report_rows *rows)
{
	int *sel = calloc((size_t)rows->ng + 1, sizeof *sel);

	if (!sel)
		return;
	for (int fam = 0; fam < GP_NFAM; fam++) {
		int n = 0, parts;

		for (int g = 0; g < rows->ng; g++)
			if (charts_series_first(rows, g) &&
			    charts_in_family(&rows->g[g], fam))
				sel[n++] = g;
		parts = (n + GP_MAX_SERIES - 1) / GP_MAX_SERIES;
		for (int p = 0; p < parts; p++) {
			int from = p * n / parts, to = (p + 1) * n / parts;
			char fs[48], ts[64];

			charts_fam_names(fs, sizeof fs, ts, sizeof ts, fam, p, parts);
			charts_stream_one(pl, rows, sel + from, to - from, fs, ts);
		}
	}
	free(sel);
}

/* ---- CPU per message ------------------------------------------------------- */

/* One bar value of the CPU chart: '?' (gnuplot's missing value) when the
 * record has none, or when it is not positive on a log axis. */
static void gp_bar(FILE *f, double v, int logy)
{
	if (isnan(v) || (logy && v <= 0))
		fputs(" ?", f);
	else
		fprintf(f, " %.9g", v);
}

/* The CPU chart of the stream rows sel[0 .. n) of one size: per transport and
 * set-up a pair of bars, sender and receiver ns/msg of the representative
 * run (as in the summary table), and a third, the broker server's
 * (cpu.server), when a row of the chart measured it; flagged rows named so under their
 * bars. The y axis is log when the bars span more than 30x. */
static void charts_cpu_one(struct plot *pl, const struct ipcl_report_rows *rows,
			   const int *sel, int n, const char *fsuf, const char *tsuf)
{
	char title[200], file[128], lt[200];
	double lo = INFINITY, hi = 0;
	int logy, bars = 0, srv = 0;
	FILE *f;

	for (int i = 0; i < n; i++) {
		const struct ipcl_report_rec *m = rows->g[sel[i]].mid;
		double v[3] = {m->cpu_tx, m->cpu_rx, m->cpu_srv};

		srv |= m->cpu_srv > 0;
		for (int k = 0; k < 3; k++)
			if (v[k] > 0) {
				lo = fmin(lo, v[k]);
				hi = fmax(hi, v[k]);
				bars++;
			}
	}
	if (!bars)
		return;
	logy = hi / lo > 30;
	snprintf(title, sizeof title,
		 "stream CPU per message by transport, %lld B (representative run)%s",
		 rows->g[sel[0]].runs->size, tsuf);
	snprintf(file, sizeof file, "cpu-stream-%lld%s.svg", rows->g[sel[0]].runs->size,
		 fsuf);
	f = gp_begin(pl, title, "", "CPU time per message (ns)", logy ? "y" : "", 620,
		     420);
	if (!f)
		return;
	fprintf(f,
		"set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
		"set xtics rotate by 30 right noenhanced nomirror\n"
		"set grid noxtics ytics\nset datafile missing '?'\n"
		"set yrange [%s:*]\n$d << EOD\n",
		logy ? "*" : "0");
	for (int i = 0; i < n; i++) {
		const struct ipcl_report_row *G = &rows->g[sel[i]];

		gp_title(lt, sizeof lt, G);
		gp_quote(f, lt, '"');
		gp_bar(f, G->mid->cpu_tx, logy);
		gp_bar(f, G->mid->cpu_rx, logy);
		if (srv)
			gp_bar(f, G->mid->cpu_srv, logy);
		fputs("\n", f);
	}
	fputs("EOD\nplot $d using 2:xtic(1) title 'sender' lc rgb '#4c72b0', $d using 3 "
	      "title 'receiver' lc rgb '#dd8452'",
	      f);
	fputs(srv ? ", $d using 4 title 'server' lc rgb '#55a868'\n" : "\n", f);
	if (fclose(f) == 0)
		charts_plot(pl, file, title);
}

/* Stream CPU per message, one chart per size and family. */
static void charts_cpu(struct plot *pl, const struct ipcl_report_rows *rows)
{
	for (int a = 0, b; a < rows->ng; a = b) {
		b = ipcl_report_block(rows, a, 1);
		if (!strcmp(rows->g[a].runs->pattern, "stream"))
			charts_split(pl, rows, a, b, charts_cpu_one);
	}
}

/* ---- latency over time ------------------------------------------------------ */

/* The length of run r's measured window in seconds: throughput.elapsed_s, or
 * the end of its last interval; NaN when neither. */
static double charts_run_seconds(const struct ipcl_report_rec *r)
{
	double el = ipcl_report_num(r->j, "throughput", "elapsed_s");
	json_t *iv = json_object_get(r->j, "intervals"),
	       *pts = json_object_get(iv, "points");

	if (!isnan(el))
		return el;
	if (json_array_size(pts))
		return json_number_value(json_array_get(
			   json_array_get(pts, json_array_size(pts) - 1), 0)) +
		       ipcl_report_num(iv, "width_s", NULL);
	return NAN;
}

/* Latency over time of the representative run of row G: p50, p99 and max
 * per interval (the record's "intervals"), the machine floor's p99 as a line. */
static void charts_time_one(struct plot *pl, const struct ipcl_report_row *G, int g)
{
	const struct ipcl_report_rec *r = G->mid;
	json_t *iv = json_object_get(r->j, "intervals"),
	       *pts = json_object_get(iv, "points"), *pt;
	double w = ipcl_report_num(iv, "width_s", NULL), lo = INFINITY, hi = 0,
	       fl = pl->floor ? ipcl_report_num(json_object_get(pl->floor, "latency"),
						"p99", NULL)
			      : NAN;
	char title[256], file[96], who[200], rg[96];
	size_t i;
	FILE *f;

	gp_title(who, sizeof who, G);
	snprintf(title, sizeof title, "latency over time: %s, %s %lld B%s (per %.0f ms)",
		 who, r->pattern, r->size, ipcl_report_fmt_rategroup(rg, sizeof rg, G),
		 w * 1000);
	snprintf(file, sizeof file, "over-time-%d.svg", g);
	f = gp_begin(pl, title, "time since the first measured message (s)", "latency",
		     "y", 620, 320);
	if (!f)
		return;
	fputs("$t << EOD\n", f);
	json_array_foreach(pts, i, pt)
	{
		double t = json_number_value(json_array_get(pt, 0));
		double c = json_number_value(json_array_get(pt, 1));

		if (c <= 0) {
			fprintf(f, "%.6g ? ? ?\n", t + w / 2);
			continue;
		}
		for (int k = 2; k <= 4; k++) {
			double us =
			    json_number_value(json_array_get(pt, (size_t)k)) / 1000;

			if (us > 0) {
				lo = fmin(lo, us);
				hi = fmax(hi, us);
			}
		}
		fprintf(f, "%.6g %.9g %.9g %.9g\n", t + w / 2,
			json_number_value(json_array_get(pt, 2)) / 1000,
			json_number_value(json_array_get(pt, 3)) / 1000,
			json_number_value(json_array_get(pt, 4)) / 1000);
	}
	fputs("EOD\nset datafile missing '?'\n", f);
	if (!isnan(fl) && fl > 0) {
		lo = fmin(lo, fl / 1000);
		hi = fmax(hi, fl / 1000);
	} else {
		gp_no_floor(f);
	}
	if (hi > 0)
		gp_time_tics(f, "y", lo, hi);
	fputs("plot $t using 1:2 with linespoints lw 1.5 pt 7 ps 0.5 lc rgb '#1f77b4' "
	      "title 'p50', $t using 1:3 with linespoints lw 2 pt 9 ps 0.5 lc rgb "
	      "'#ff7f0e' title 'p99', $t using 1:4 with lines lw 1 dt 2 lc rgb '#d62728' "
	      "title 'max'",
	      f);
	if (!isnan(fl) && fl > 0) {
		fprintf(f, ", %.9g with lines lw 1.5 dt 3 lc rgb '#888888' title ",
			fl / 1000);
		gp_floor_title(f, pl);
	}
	fputs("\n", f);
	if (fclose(f) == 0)
		charts_plot(pl, file, title);
}

/* A latency-over-time chart for each row whose representative run measured
 * for longer than 1 s and has intervals; at most GP_MAX_TIME of them. */
static void charts_time(struct plot *pl, const struct ipcl_report_rows *rows)
{
	int n = 0, left = 0;

	for (int g = 0; g < rows->ng; g++) {
		const struct ipcl_report_rec *r = rows->g[g].mid;
		json_t *pts =
		    json_object_get(json_object_get(r->j, "intervals"), "points");

		if (!json_array_size(pts) || !(charts_run_seconds(r) > 1.0))
			continue;
		if (n++ < GP_MAX_TIME)
			charts_time_one(pl, &rows->g[g], g);
		else
			left++;
	}
	if (left)
		snprintf(pl->c->note_buf, sizeof pl->c->note_buf,
			 "%d latency-over-time charts left out (at most %d are drawn)",
			 left, GP_MAX_TIME);
}

void ipcl_report_charts(struct ipcl_report_charts *c, const struct ipcl_report_rows *rows,
			json_t *floor, const char *dir)
{
	char tmp[4096];
	struct plot pl = {.c = c, .tmp = tmp, .dir = dir, .floor = floor};

	if (!ipcl_report_gnuplot_hook && !charts_have_gnuplot()) {
		c->note = "charts skipped: gnuplot not installed";
		return;
	}
	if (charts_names(&pl, rows)) {
		c->note = "charts skipped: out of memory";
		goto out;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/.gnuplot-XXXXXX", dir) >= sizeof tmp ||
	    !mkdtemp(tmp)) {
		c->note = "charts skipped: cannot create a temporary directory";
		goto out;
	}
	charts_latency(&pl, rows);
	charts_stream(&pl, rows);
	charts_cpu(&pl, rows);
	c->ntime_from = c->nch;
	charts_time(&pl, rows);
	/* A script that was not run (a chart with no line to draw) is still
	 * there: remove what may be left before the directory. */
	charts_unlink_scratch(tmp);
	if (rmdir(tmp))
		fprintf(stderr, "ipclab report: cannot remove %s: %s\n", tmp,
			strerror(errno));
	if (!c->nch)
		c->note = "no charts: no latency spectrum, stream throughput or "
			  "CPU figure to draw";
	else if (c->note_buf[0])
		c->note = c->note_buf;
out:
	free(pl.names);
}

void ipcl_report_charts_free(struct ipcl_report_charts *c)
{
	for (int i = 0; i < c->nch; i++)
		free(c->ch[i].svg);
	c->nch = 0;
}
