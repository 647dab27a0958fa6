/*
 * charts.c - gnuplot charts: a script per chart (data in inline datablocks)
 * in a private mkdtemp directory inside the report's (nothing in /tmp), run by fork +
 * execlp("gnuplot") with stdout and stderr to /dev/null, its SVG read back. No shell:
 * every string from a record reaches the script through gp_quote. Leaves out: charts of
 * the one-way latency of pingpong, and of fault runs.
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

#include "report/charts.h"

/* Where one drawing session works: the charts so far, the private temporary
 * directory of the script and the SVG, and the report's directory. */
struct plot {
	struct ipcl_report_charts *c;
	const char *tmp, *dir;
};

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

static int charts_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return -1;
	if (fputs(text, f) < 0)
		rc = -1;
	if (fclose(f))
		rc = -1;
	return rc;
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
	char gp[4200], svg[4200], out[4200];
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
	snprintf(out, sizeof out, "%s/%s", pl->dir, file);
	if (charts_write_file(out, text))
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

/* A line's title in the key: the transport, and its set-up unless "process". */
static void gp_line_title(char *b, size_t n, const struct ipcl_report_rec *r)
{
	if (strcmp(r->setup, "process"))
		snprintf(b, n, "%.48s (%.70s)", r->transport, r->setup);
	else
		snprintf(b, n, "%s", r->transport);
}

/* Starts tmp/c.gp: SVG terminal, title, axis labels, log scale on the axes
 * named in logscale ("xy", "y" or "" for none), grid, key on the right. */
static FILE *gp_begin(const struct plot *pl, const char *title, const char *xl,
		      const char *yl, const char *logscale)
{
	char gp[4200], svg[4200];
	FILE *f;

	snprintf(gp, sizeof gp, "%s/c.gp", pl->tmp);
	snprintf(svg, sizeof svg, "%s/c.svg", pl->tmp);
	f = fopen(gp, "w");
	if (!f)
		return NULL;
	fputs("set terminal svg size 900,500 dynamic enhanced font 'sans,11'\n"
	      "set output ",
	      f);
	gp_quote(f, svg, '\'');
	fputs("\nset title ", f);
	gp_quote(f, title, '\'');
	fputs(" noenhanced\nset xlabel ", f);
	gp_quote(f, xl, '\'');
	fputs("\nset ylabel ", f);
	gp_quote(f, yl, '\'');
	fprintf(f, "\n%s%s%sset grid\nset key outside right top noenhanced\n",
		*logscale ? "set logscale " : "", logscale, *logscale ? "\n" : "");
	return f;
}

/* The spectrum of r as a datablock $dN: x 1/(1-p), y latency in us. */
static void gp_spectrum(FILE *f, int n, const struct ipcl_report_rec *r)
{
	size_t i;
	json_t *pt;

	fprintf(f, "$d%d << EOD\n", n);
	json_array_foreach(r->spectrum, i, pt)
	{
		double p = json_number_value(json_array_get(pt, 0));
		double ns = json_number_value(json_array_get(pt, 1));

		if (p < 100 && ns > 0)
			fprintf(f, "%.9g %.9g\n", 1 / (1 - p / 100), ns / 1000);
	}
	fputs("EOD\n", f);
}

/* Latency spectrum of every pingpong and rate size: one line per transport and
 * set-up, from the run whose p50 is nearest the median. */
static void charts_latency(struct plot *pl, const struct ipcl_report_rows *rows)
{
	for (int a = 0, b; a < rows->ng; a = b) {
		const struct ipcl_report_rec *ra = rows->g[a].runs;
		int lines = 0, rate = !strcmp(ra->pattern, "rate");
		char title[160], file[96], lt[128];
		FILE *f;

		b = ipcl_report_block(rows, a, 1);
		if (!rate && strcmp(ra->pattern, "pingpong"))
			continue;
		snprintf(title, sizeof title, "%s by percentile, %lld B",
			 rate ? "rate one-way latency (from the intended send time)"
			      : "pingpong round-trip latency",
			 ra->size);
		snprintf(file, sizeof file, "latency-%s-%lld.svg", ra->pattern, ra->size);
		f = gp_begin(pl, title, "percentile", "latency (us)", "xy");
		if (!f)
			return;
		fputs("set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, "
		      "'99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)\n",
		      f);
		for (int g = a; g < b; g++)
			if (rows->g[g].mid->spectrum)
				gp_spectrum(f, g, rows->g[g].mid);
		fputs("plot", f);
		for (int g = a; g < b; g++) {
			const struct ipcl_report_rec *r = rows->g[g].mid;

			if (!r->spectrum)
				continue;
			gp_line_title(lt, sizeof lt, r);
			fprintf(f, "%s $d%d using 1:2 with lines lw 2 title ",
				lines++ ? "," : "", g);
			gp_quote(f, lt, '\'');
		}
		fputs("\n", f);
		if (fclose(f) == 0 && lines)
			charts_plot(pl, file, title);
	}
}

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

/* Stream throughput against message size: one line per transport and set-up. */
static void charts_stream(struct plot *pl, const struct ipcl_report_rows *rows)
{
	const char *title = "stream throughput by message size (median)";
	int lines = 0;
	char lt[128];
	FILE *f;

	for (int g = 0; g < rows->ng; g++)
		lines += charts_series_first(rows, g);
	if (!lines)
		return;
	f = gp_begin(pl, title, "message size (bytes)", "messages/s", "xy");
	if (!f)
		return;
	for (int g = 0; g < rows->ng; g++) {
		if (!charts_series_first(rows, g))
			continue;
		fprintf(f, "$d%d << EOD\n", g);
		for (int h = g; h < rows->ng; h++)
			if (charts_same_series(rows->g[g].runs, rows->g[h].runs) &&
			    rows->g[h].msgs_s.med > 0)
				fprintf(f, "%lld %.9g\n", rows->g[h].runs->size,
					rows->g[h].msgs_s.med);
		fputs("EOD\n", f);
	}
	fputs("plot", f);
	lines = 0;
	for (int g = 0; g < rows->ng; g++) {
		if (!charts_series_first(rows, g))
			continue;
		gp_line_title(lt, sizeof lt, rows->g[g].runs);
		fprintf(f, "%s $d%d using 1:2 with linespoints lw 2 title ",
			lines++ ? "," : "", g);
		gp_quote(f, lt, '\'');
	}
	fputs("\n", f);
	if (fclose(f) == 0)
		charts_plot(pl, "throughput-stream.svg", title);
}

/* One bar value of the CPU chart: '?' (gnuplot's missing value) when the
 * record has none, or when it is not positive on a log axis. */
static void gp_bar(FILE *f, double v, int logy)
{
	if (isnan(v) || (logy && v <= 0))
		fputs(" ?", f);
	else
		fprintf(f, " %.9g", v);
}

/* The CPU chart of the stream rows [a, b): its script, then gnuplot. */
static void charts_cpu_one(struct plot *pl, const struct ipcl_report_rows *rows, int a,
			   int b, int logy)
{
	char title[160], file[96], lt[128];
	FILE *f;

	snprintf(title, sizeof title,
		 "stream CPU per message by transport, %lld B (representative run)",
		 rows->g[a].runs->size);
	snprintf(file, sizeof file, "cpu-stream-%lld.svg", rows->g[a].runs->size);
	f = gp_begin(pl, title, "", "CPU time per message (ns)", logy ? "y" : "");
	if (!f)
		return;
	fprintf(f,
		"set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
		"set xtics rotate by 45 right noenhanced nomirror\n"
		"set grid noxtics ytics\nset datafile missing '?'\n"
		"set yrange [%s:*]\n$d << EOD\n",
		logy ? "*" : "0");
	for (int g = a; g < b; g++) {
		const struct ipcl_report_rec *m = rows->g[g].mid;

		gp_line_title(lt, sizeof lt, m);
		gp_quote(f, lt, '"');
		gp_bar(f, m->cpu_tx, logy);
		gp_bar(f, m->cpu_rx, logy);
		fputs("\n", f);
	}
	fputs("EOD\nplot $d using 2:xtic(1) title 'sender', $d using 3 title "
	      "'receiver'\n",
	      f);
	if (fclose(f) == 0)
		charts_plot(pl, file, title);
}

/*
 * Stream CPU per message, one chart per size: per transport and set-up a pair
 * of bars, sender and receiver ns/msg of the representative run (as in the
 * summary table). The y axis is log when the bars span more than 30x.
 */
static void charts_cpu(struct plot *pl, const struct ipcl_report_rows *rows)
{
	for (int a = 0, b; a < rows->ng; a = b) {
		double lo = INFINITY, hi = 0;
		int bars = 0;

		b = ipcl_report_block(rows, a, 1);
		if (strcmp(rows->g[a].runs->pattern, "stream"))
			continue;
		for (int g = a; g < b; g++) {
			const struct ipcl_report_rec *m = rows->g[g].mid;
			double v[2] = {m->cpu_tx, m->cpu_rx};

			for (int k = 0; k < 2; k++)
				if (v[k] > 0) {
					lo = fmin(lo, v[k]);
					hi = fmax(hi, v[k]);
					bars++;
				}
		}
		if (bars)
			charts_cpu_one(pl, rows, a, b, hi / lo > 30);
	}
}

void ipcl_report_charts(struct ipcl_report_charts *c, const struct ipcl_report_rows *rows,
			const char *dir)
{
	char tmp[4096];
	struct plot pl = {.c = c, .tmp = tmp, .dir = dir};

	if (!ipcl_report_gnuplot_hook && !charts_have_gnuplot()) {
		c->note = "charts skipped: gnuplot not installed";
		return;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/.gnuplot-XXXXXX", dir) >= sizeof tmp ||
	    !mkdtemp(tmp)) {
		c->note = "charts skipped: cannot create a temporary directory";
		return;
	}
	charts_latency(&pl, rows);
	charts_stream(&pl, rows);
	charts_cpu(&pl, rows);
	/* A script that was not run (a chart with no line to draw) is still
	 * there: remove what may be left before the directory. */
	charts_unlink_scratch(tmp);
	if (rmdir(tmp))
		fprintf(stderr, "ipclab report: cannot remove %s: %s\n", tmp,
			strerror(errno));
	if (!c->nch)
		c->note = "no charts: no latency spectrum, stream throughput or "
			  "CPU figure to draw";
}

void ipcl_report_charts_free(struct ipcl_report_charts *c)
{
	for (int i = 0; i < c->nch; i++)
		free(c->ch[i].svg);
	c->nch = 0;
}
