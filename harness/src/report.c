/*
 * report.c - `ipclab report`: reads JSON-lines result files (docs/results.md) and
 * writes DIR/report.md and a self-contained DIR/report.html (inline CSS, inline
 * SVG): environment, a summary table per pattern (records sharing transport,
 * pattern, size and mode are reduced to the median), a ranking per pattern and
 * size, verification counts, optional DIR/summary.csv and per-run percentile
 * distributions DIR/hgrm/NAME.hgrm. Charts are drawn by the gnuplot binary (fork +
 * exec on a script in a private mkdtemp directory); without gnuplot the report
 * says so and has tables only. Leaves out: charts of one-way latency, CPU charts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <ipclab/report.h>

#define EXIT_USAGE 2
#define MAX_CHARTS 64

static const char report_help[] =
    "usage: ipclab report RESULTS.jsonl... [-o DIR] [--csv]\n"
    "\n"
    "Reads result records (JSON lines from `ipclab run --json` or `ipclab compare`)\n"
    "and writes DIR/report.md and DIR/report.html: environment, one summary table\n"
    "per pattern (repeated runs of the same transport, pattern, size and mode are\n"
    "reduced to the median, with the p50 spread), a ranking per pattern and size,\n"
    "verification counts, and gnuplot charts (latency percentile spectrum of\n"
    "pingpong, stream throughput against message size) when gnuplot is installed.\n"
    "Per-run percentile distributions go to DIR/hgrm/. Latencies are in us.\n"
    "  -o, --output DIR  where the report goes (default report)\n"
    "      --csv         also write DIR/summary.csv\n";

const char *ipcl_report_help(void)
{
	return report_help;
}

/* One result record, with the figures the report shows pulled out. */
struct rec {
	json_t *j;
	int idx;
	const char *transport, *pattern, *status;
	char setup[160]; /* mode plus whatever else makes runs incomparable */
	long long size, count;
	double p50, p90, p99, p999, max, msgs_s, mb_s, cpu_rx;
	long long sent, lost, dup, reord, corrupt;
	json_t *spectrum;
};

/* Records sharing (pattern, size, transport, mode): recs[first .. first+n). */
struct group {
	int first, n, mid; /* mid: the run whose p50 is nearest the median */
	double p50, p50_min, p50_max, p99, msgs_s;
	long long lost, dup, reord, corrupt, sent;
	int failed;
};

struct chart {
	char file[96], title[160];
	char *svg; /* gnuplot's output without the XML prolog */
};

struct rep {
	struct rec *r;
	int nr;
	struct group *g;
	int ng;
	struct chart ch[MAX_CHARTS];
	int nch;
	const char *chart_note; /* why there are no charts, or NULL */
	FILE *md, *html;
};

static int report_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int report_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ipclab report: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static double report_num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static long long report_int(json_t *o, const char *a, const char *b)
{
	double d = report_num(o, a, b);

	return isnan(d) ? 0 : (long long)d;
}

static const char *report_str(json_t *o, const char *a, const char *b, const char *def)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : def;
}

/*
 * The run's set-up as one label, so that only like runs are reduced to one
 * median: the mode, and where not the default the placement, the number of
 * producers and consumers and the transport options ("thread, split, 2x2,
 * wait=spin"). "process" alone for a default run.
 */
static const char *report_setup(struct rec *r, json_t *j)
{
	json_t *p = json_object_get(j, "params"), *o = json_object_get(p, "options"), *v;
	const char *pl = report_str(p, "placement", NULL, "none"), *k;
	long long np = report_int(p, "producers", NULL),
		  nc = report_int(p, "consumers", NULL);
	size_t n;

	n = (size_t)snprintf(r->setup, sizeof r->setup, "%s",
			     report_str(p, "mode", NULL, "process"));
	if (strcmp(pl, "none") != 0 && n < sizeof r->setup)
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %s", pl);
	if ((np > 1 || nc > 1) && n < sizeof r->setup)
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %lldx%lld",
				      np, nc);
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "url") == 0 || !json_is_string(v) || n >= sizeof r->setup)
			continue;
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %s=%s", k,
				      json_string_value(v));
	}
	return r->setup;
}

static void report_fill(struct rec *r, json_t *j, int idx)
{
	json_t *lat = json_object_get(j, "latency");

	r->j = j;
	r->idx = idx;
	r->transport = report_str(j, "transport", NULL, "?");
	r->pattern = report_str(j, "pattern", NULL, "?");
	report_setup(r, j);
	r->status = report_str(j, "status", NULL, "?");
	r->size = report_int(j, "params", "size");
	r->count = report_int(j, "latency", "count");
	r->p50 = report_num(j, "latency", "p50");
	r->p90 = report_num(j, "latency", "p90");
	r->p99 = report_num(j, "latency", "p99");
	r->p999 = report_num(j, "latency", "p99_9");
	r->max = report_num(j, "latency", "max");
	r->msgs_s = report_num(j, "throughput", "msgs_per_s");
	r->mb_s = report_num(j, "throughput", "mb_per_s");
	r->cpu_rx = report_num(json_object_get(j, "cpu"), "receiver", "total_ns_per_msg");
	r->sent = report_int(j, "verify", "sent");
	r->lost = report_int(j, "verify", "lost");
	r->dup = report_int(j, "verify", "duplicated");
	r->reord = report_int(j, "verify", "reordered");
	r->corrupt = report_int(j, "verify", "corrupt");
	r->spectrum = json_object_get(lat, "spectrum");
	if (!json_is_array(r->spectrum))
		r->spectrum = NULL;
}

/* Reads every line of path into rep->r; returns 0 or prints one line and 2. */
static int report_read(struct rep *rep, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;

	if (!f)
		return report_fail("cannot read '%s': %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t err;
		json_t *j;
		struct rec *nr;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		j = json_loads(line, 0, &err);
		if (!j || !json_is_object(j) ||
		    !json_is_string(json_object_get(j, "transport")) ||
		    !json_is_string(json_object_get(j, "pattern"))) {
			rc = report_fail("%s:%ld: not a result record (%s)", path, lineno,
					 j ? "no transport or pattern" : err.text);
			json_decref(j);
			goto out;
		}
		nr = realloc(rep->r, sizeof *nr * (size_t)(rep->nr + 1));
		if (!nr) {
			json_decref(j);
			rc = report_fail("out of memory");
			goto out;
		}
		rep->r = nr;
		report_fill(&rep->r[rep->nr], j, rep->nr);
		rep->nr++;
	}
	if (ferror(f))
		rc = report_fail("cannot read '%s': %s", path, strerror(errno));
out:
	free(line);
	fclose(f);
	return rc;
}

static int report_cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->pattern, y->pattern);

	if (!c)
		c = (x->size > y->size) - (x->size < y->size);
	if (!c)
		c = strcmp(x->transport, y->transport);
	if (!c)
		c = strcmp(x->setup, y->setup);
	return c ? c : x->idx - y->idx;
}

static int report_same(const struct rec *x, const struct rec *y)
{
	return !strcmp(x->pattern, y->pattern) && x->size == y->size &&
	       !strcmp(x->transport, y->transport) && !strcmp(x->setup, y->setup);
}

static int report_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the non-NaN values (mean of the middle two for an even count). */
static double report_median(double *v, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	if (!k)
		return NAN;
	qsort(v, (size_t)k, sizeof *v, report_cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static int report_group(struct rep *rep)
{
	double *tmp = calloc((size_t)rep->nr + 1, sizeof *tmp);

	rep->g = calloc((size_t)rep->nr + 1, sizeof *rep->g);
	if (!tmp || !rep->g) {
		free(tmp);
		return -1;
	}
	qsort(rep->r, (size_t)rep->nr, sizeof *rep->r, report_cmp_rec);
	for (int i = 0; i < rep->nr;) {
		struct group *g = &rep->g[rep->ng++];
		struct rec *r = &rep->r[i];
		double best = INFINITY;

		g->first = i;
		while (i < rep->nr && report_same(r, &rep->r[i]))
			i++;
		g->n = i - g->first;
		g->p50_min = INFINITY;
		g->p50_max = -INFINITY;
		for (int k = 0; k < g->n; k++) {
			tmp[k] = r[k].p50;
			if (!isnan(r[k].p50) && r[k].p50 < g->p50_min)
				g->p50_min = r[k].p50;
			if (!isnan(r[k].p50) && r[k].p50 > g->p50_max)
				g->p50_max = r[k].p50;
			g->sent += r[k].sent;
			g->lost += r[k].lost;
			g->dup += r[k].dup;
			g->reord += r[k].reord;
			g->corrupt += r[k].corrupt;
			g->failed += strcmp(r[k].status, "ok") != 0;
		}
		g->p50 = report_median(tmp, g->n);
		for (int k = 0; k < g->n; k++)
			tmp[k] = r[k].p99;
		g->p99 = report_median(tmp, g->n);
		for (int k = 0; k < g->n; k++)
			tmp[k] = r[k].msgs_s;
		g->msgs_s = report_median(tmp, g->n);
		g->mid = g->first;
		for (int k = 0; k < g->n; k++)
			if (!isnan(r[k].p50) && fabs(r[k].p50 - g->p50) < best) {
				best = fabs(r[k].p50 - g->p50);
				g->mid = g->first + k;
			}
	}
	free(tmp);
	return 0;
}

/* ---- number formatting: latencies in us with 2 decimals ------------------ */

static const char *fmt_us(char *b, size_t n, double ns)
{
	if (isnan(ns))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.2f", ns / 1000.0);
	return b;
}

static const char *fmt_f(char *b, size_t n, int decimals, double v)
{
	if (isnan(v))
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.*f", decimals, v);
	return b;
}

/* ---- tables written to Markdown and HTML at once -------------------------- */

static void html_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '"')
			fputs("&quot;", f);
		else
			fputc(*s, f);
	}
}

static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++)
		fputs(*s == '|' ? "\\|" : (char[2]){*s, 0}, f);
}

static void tab_row(struct rep *rep, int head, int n, const char **cells)
{
	fputs("|", rep->md);
	fputs("<tr>", rep->html);
	for (int i = 0; i < n; i++) {
		fputc(' ', rep->md);
		md_cell(rep->md, cells[i]);
		fputs(" |", rep->md);
		fputs(head ? "<th>" : "<td>", rep->html);
		html_esc(rep->html, cells[i]);
		fputs(head ? "</th>" : "</td>", rep->html);
	}
	fputs("\n", rep->md);
	fputs("</tr>\n", rep->html);
	if (head) {
		fputs("|", rep->md);
		for (int i = 0; i < n; i++)
			fputs(i < 2 ? "---|" : "--:|", rep->md);
		fputs("\n", rep->md);
	}
}

static void tab_begin(struct rep *rep, int n, const char **head)
{
	fputs("<table>\n", rep->html);
	tab_row(rep, 1, n, head);
}

static void tab_end(struct rep *rep)
{
	fputs("\n", rep->md);
	fputs("</table>\n", rep->html);
}

static void heading(struct rep *rep, int level, const char *text)
{
	fprintf(rep->md, "%.*s %s\n\n", level, "####", text);
	fprintf(rep->html, "<h%d>", level);
	html_esc(rep->html, text);
	fprintf(rep->html, "</h%d>\n", level);
}

static void para(struct rep *rep, const char *text)
{
	fprintf(rep->md, "%s\n\n", text);
	fputs("<p>", rep->html);
	html_esc(rep->html, text);
	fputs("</p>\n", rep->html);
}

/* ---- gnuplot -------------------------------------------------------------- */

static int report_have_gnuplot(void)
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

static char *report_slurp(const char *path)
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

static int report_write_file(const char *path, const char *text)
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

/* Runs gnuplot on tmp/c.gp (which writes tmp/c.svg); on success stores the
 * SVG in a new chart and DIR/file. Returns 0 or -1. */
static int report_plot(struct rep *rep, const char *tmp, const char *dir,
		       const char *file, const char *title)
{
	char gp[512], svg[512], out[4096];
	struct chart *c;
	int status = 0, rc = -1, fd;
	char *text = NULL, *start;
	pid_t pid;

	snprintf(gp, sizeof gp, "%s/c.gp", tmp);
	snprintf(svg, sizeof svg, "%s/c.svg", tmp);
	pid = fork();
	if (pid < 0)
		goto out;
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
			goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || rep->nch >= MAX_CHARTS)
		goto out;
	text = report_slurp(svg);
	if (!text || !(start = strstr(text, "<svg")))
		goto out;
	snprintf(out, sizeof out, "%s/%s", dir, file);
	if (report_write_file(out, text))
		goto out;
	c = &rep->ch[rep->nch++];
	snprintf(c->file, sizeof c->file, "%s", file);
	snprintf(c->title, sizeof c->title, "%s", title);
	c->svg = strdup(start);
	rc = c->svg ? 0 : -1;
	if (rc)
		rep->nch--;
out:
	free(text);
	unlink(svg);
	unlink(gp);
	return rc;
}

/* A gnuplot single-quoted string: ' is doubled. */
static void gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		fputs(*s == '\'' ? "''" : (char[2]){*s, 0}, f);
	fputc('\'', f);
}

static void gp_line_title(char *b, size_t n, const struct rec *r)
{
	if (strcmp(r->setup, "process"))
		snprintf(b, n, "%s (%s)", r->transport, r->setup);
	else
		snprintf(b, n, "%s", r->transport);
}

static FILE *gp_begin(const char *tmp, const char *title, const char *xl, const char *yl)
{
	char gp[512];
	FILE *f;

	snprintf(gp, sizeof gp, "%s/c.gp", tmp);
	f = fopen(gp, "w");
	if (!f)
		return NULL;
	fprintf(f,
		"set terminal svg size 900,500 dynamic enhanced font 'sans,11'\n"
		"set output '%s/c.svg'\nset title ",
		tmp);
	gp_str(f, title);
	fprintf(f,
		" noenhanced\nset xlabel '%s'\nset ylabel '%s'\nset logscale xy\n"
		"set grid\nset key outside right top noenhanced\n",
		xl, yl);
	return f;
}

/* Latency spectrum of every pingpong size: one line per transport and mode,
 * from the run whose p50 is nearest the median. */
static void report_chart_latency(struct rep *rep, const char *tmp, const char *dir)
{
	for (int a = 0; a < rep->ng;) {
		const struct rec *ra = &rep->r[rep->g[a].first];
		int b = a, lines = 0;
		char title[160], file[96], lt[128];
		FILE *f;

		while (b < rep->ng &&
		       !strcmp(rep->r[rep->g[b].first].pattern, ra->pattern) &&
		       rep->r[rep->g[b].first].size == ra->size)
			b++;
		if (strcmp(ra->pattern, "pingpong")) {
			a = b;
			continue;
		}
		snprintf(title, sizeof title,
			 "pingpong round-trip latency by percentile, %lld B", ra->size);
		snprintf(file, sizeof file, "latency-pingpong-%lld.svg", ra->size);
		f = gp_begin(tmp, title, "percentile", "latency (us)");
		if (!f)
			return;
		fputs("set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, "
		      "'99.99%%' 10000, '99.999%%' 100000, '99.9999%%' 1000000)\n",
		      f);
		for (int g = a; g < b; g++) {
			const struct rec *r = &rep->r[rep->g[g].mid];
			size_t i;
			json_t *pt;

			if (!r->spectrum)
				continue;
			fprintf(f, "$d%d << EOD\n", g);
			json_array_foreach(r->spectrum, i, pt)
			{
				double p = json_number_value(json_array_get(pt, 0));
				double ns = json_number_value(json_array_get(pt, 1));

				if (p < 100 && ns > 0)
					fprintf(f, "%.9g %.9g\n", 1 / (1 - p / 100),
						ns / 1000);
			}
			fputs("EOD\n", f);
		}
		fputs("plot", f);
		for (int g = a; g < b; g++) {
			const struct rec *r = &rep->r[rep->g[g].mid];

			if (!r->spectrum)
				continue;
			gp_line_title(lt, sizeof lt, r);
			fprintf(f, "%s $d%d using 1:2 with lines lw 2 title ",
				lines++ ? "," : "", g);
			gp_str(f, lt);
		}
		fputs("\n", f);
		if (fclose(f) == 0 && lines)
			report_plot(rep, tmp, dir, file, title);
		a = b;
	}
}

/* Is group g the first stream group of its transport and mode? */
static int report_series_first(const struct rep *rep, int g)
{
	const struct rec *r = &rep->r[rep->g[g].first];

	if (strcmp(r->pattern, "stream"))
		return 0;
	for (int h = 0; h < g; h++) {
		const struct rec *q = &rep->r[rep->g[h].first];

		if (!strcmp(q->pattern, "stream") &&
		    !strcmp(q->transport, r->transport) && !strcmp(q->setup, r->setup))
			return 0;
	}
	return 1;
}

/* Stream throughput against message size: one line per transport and mode. */
static void report_chart_stream(struct rep *rep, const char *tmp, const char *dir)
{
	const char *title = "stream throughput by message size (median)";
	int lines = 0;
	char lt[128];
	FILE *f;

	for (int g = 0; g < rep->ng; g++)
		lines += report_series_first(rep, g);
	if (!lines)
		return;
	f = gp_begin(tmp, title, "message size (bytes)", "messages/s");
	if (!f)
		return;
	for (int g = 0; g < rep->ng; g++) {
		const struct rec *r = &rep->r[rep->g[g].first];

		if (!report_series_first(rep, g))
			continue;
		fprintf(f, "$d%d << EOD\n", g);
		for (int h = g; h < rep->ng; h++) {
			const struct rec *q = &rep->r[rep->g[h].first];

			if (!strcmp(q->pattern, "stream") &&
			    !strcmp(q->transport, r->transport) &&
			    !strcmp(q->setup, r->setup) && rep->g[h].msgs_s > 0)
				fprintf(f, "%lld %.9g\n", q->size, rep->g[h].msgs_s);
		}
		fputs("EOD\n", f);
	}
	fputs("plot", f);
	lines = 0;
	for (int g = 0; g < rep->ng; g++) {
		if (!report_series_first(rep, g))
			continue;
		gp_line_title(lt, sizeof lt, &rep->r[rep->g[g].first]);
		fprintf(f, "%s $d%d using 1:2 with linespoints lw 2 title ",
			lines++ ? "," : "", g);
		gp_str(f, lt);
	}
	fputs("\n", f);
	if (fclose(f) == 0)
		report_plot(rep, tmp, dir, "throughput-stream.svg", title);
}

/* Draws every chart in a private temporary directory, removed afterwards. */
static void report_charts(struct rep *rep, const char *dir)
{
	char tmp[] = "/tmp/ipclab-report-XXXXXX";

	if (!report_have_gnuplot()) {
		rep->chart_note = "charts skipped: gnuplot not installed";
		return;
	}
	if (!mkdtemp(tmp)) {
		rep->chart_note = "charts skipped: cannot create a temporary directory";
		return;
	}
	report_chart_latency(rep, tmp, dir);
	report_chart_stream(rep, tmp, dir);
	if (rmdir(tmp))
		fprintf(stderr, "ipclab report: cannot remove %s: %s\n", tmp,
			strerror(errno));
	if (!rep->nch)
		rep->chart_note =
		    "no charts: no latency spectrum or stream throughput to draw";
}

/* DIR/hgrm/<transport>-<pattern>-<size>-<n>.hgrm, n counting runs from 1. */
static int report_hgrm(struct rep *rep, const char *dir)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/hgrm", dir);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	for (int g = 0; g < rep->ng; g++)
		for (int k = 0; k < rep->g[g].n; k++) {
			const struct rec *r = &rep->r[rep->g[g].first + k];
			size_t i;
			json_t *pt;
			FILE *f;

			if (!r->spectrum)
				continue;
			snprintf(path, sizeof path, "%s/hgrm/%s-%s-%lld-%d%s%s.hgrm", dir,
				 r->transport, r->pattern, r->size, k + 1,
				 strcmp(r->setup, "process") ? "-" : "",
				 strcmp(r->setup, "process") ? r->setup : "");
			for (char *p = path + strlen(dir) + 6; *p; p++)
				if (*p == '/')
					*p = '_';
			f = fopen(path, "w");
			if (!f)
				return -1;
			fprintf(f, "%12s %14s %10s %14s\n\n", "Value(us)", "Percentile",
				"TotalCount", "1/(1-Percentile)");
			json_array_foreach(r->spectrum, i, pt)
			{
				double p = json_number_value(json_array_get(pt, 0)) / 100;
				double ns = json_number_value(json_array_get(pt, 1));
				long long n = llround(p * (double)r->count);

				if (p < 1)
					fprintf(f, "%12.3f %14.12f %10lld %14.2f\n",
						ns / 1000, p, n, 1 / (1 - p));
				else
					fprintf(f, "%12.3f %14.12f %10lld %14s\n",
						ns / 1000, p, n, "inf");
			}
			fprintf(
			    f,
			    "#[Mean = %12.3f, Max = %12.3f]\n#[Total count = %12lld]\n",
			    report_num(r->j, "latency", "mean") / 1000, r->max / 1000,
			    r->count);
			if (fclose(f))
				return -1;
		}
	return 0;
}

static void report_env(struct rep *rep)
{
	static const char *head[] = {"kernel", "CPU", "cores", "libraries", "records"};
	char **seen = calloc((size_t)rep->nr + 1, sizeof *seen);
	int *cnt = calloc((size_t)rep->nr + 1, sizeof *cnt);
	int ns = 0;

	heading(rep, 2, "Environment");
	if (!seen || !cnt)
		goto out;
	for (int i = 0; i < rep->nr; i++) {
		json_t *env = json_object_get(rep->r[i].j, "env"), *libs, *v;
		char *s = NULL, *l = NULL;
		const char *k;
		size_t ll = 0;
		FILE *m = open_memstream(&l, &ll);
		int j;

		if (!m)
			goto out;
		libs = json_object_get(env, "libraries");
		json_object_foreach(libs, k, v)
		{
			fprintf(m, "%s%s %s", ftell(m) ? ", " : "", k,
				json_is_string(v) ? json_string_value(v) : "?");
		}
		fclose(m);
		if (asprintf(&s, "%s\x1f%s\x1f%lld\x1f%s",
			     report_str(env, "kernel", NULL, "?"),
			     report_str(env, "cpu_model", NULL, "?"),
			     report_int(env, "cores_online", NULL), l ? l : "") < 0)
			s = NULL;
		free(l);
		if (!s)
			goto out;
		for (j = 0; j < ns && strcmp(seen[j], s); j++)
			;
		if (j < ns) {
			free(s);
		} else {
			seen[ns++] = s;
		}
		cnt[j]++;
	}
	tab_begin(rep, 5, head);
	for (int j = 0; j < ns; j++) {
		const char *c[5];
		char n[16], *p = seen[j];

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
		tab_row(rep, 0, 5, c);
	}
	tab_end(rep);
out:
	for (int j = 0; j < ns; j++)
		free(seen[j]);
	free(seen);
	free(cnt);
}

static void report_summary(struct rep *rep, FILE *csv)
{
	static const char *head[] = {"transport", "size",       "mode",
				     "runs",      "p50 (us)",   "p50 min..max (us)",
				     "p99 (us)",  "p99.9 (us)", "max (us)",
				     "msgs/s",    "MB/s",       "CPU/msg receiver (ns)",
				     "lost",      "duplicated"};
	const char *pat = NULL;

	if (csv)
		fputs("pattern,transport,size,mode,runs,p50_us,p50_min_us,p50_max_us,p99_"
		      "us,"
		      "p99_9_us,max_us,msgs_per_s,mb_per_s,cpu_receiver_ns_per_msg,lost,"
		      "duplicated\n",
		      csv);
	for (int g = 0; g < rep->ng; g++) {
		const struct group *G = &rep->g[g];
		const struct rec *r = &rep->r[G->first], *m = &rep->r[G->mid];
		char b[14][48], t[64];
		const char *c[14];

		if (!pat || strcmp(pat, r->pattern)) {
			if (pat)
				tab_end(rep);
			pat = r->pattern;
			snprintf(t, sizeof t, "Summary: %s", pat);
			heading(rep, 2, t);
			tab_begin(rep, 14, head);
		}
		snprintf(b[0], 48, "%s", r->transport);
		snprintf(b[1], 48, "%lld", r->size);
		snprintf(b[2], 48, "%s", r->setup);
		snprintf(b[3], 48, "%d%s", G->n, G->failed ? " (failed)" : "");
		fmt_us(b[4], 48, G->p50);
		if (isfinite(G->p50_min))
			snprintf(b[5], 48, "%.2f..%.2f", G->p50_min / 1000,
				 G->p50_max / 1000);
		else
			snprintf(b[5], 48, "-");
		fmt_us(b[6], 48, G->p99);
		fmt_us(b[7], 48, m->p999);
		fmt_us(b[8], 48, m->max);
		fmt_f(b[9], 48, 0, G->msgs_s);
		fmt_f(b[10], 48, 2, m->mb_s);
		fmt_f(b[11], 48, 0, m->cpu_rx);
		snprintf(b[12], 48, "%lld", G->lost);
		snprintf(b[13], 48, "%lld", G->dup);
		for (int k = 0; k < 14; k++)
			c[k] = b[k];
		tab_row(rep, 0, 14, c);
		if (csv) {
			fprintf(csv, "%s,%s,%s,%s,%d,%s,", r->pattern, b[0], b[1], b[2],
				G->n, b[4]);
			if (isfinite(G->p50_min))
				fprintf(csv, "%.2f,%.2f,", G->p50_min / 1000,
					G->p50_max / 1000);
			else
				fputs("-,-,", csv);
			fprintf(csv, "%s,%s,%s,%s,%s,%s,%s,%s\n", b[6], b[7], b[8], b[9],
				b[10], b[11], b[12], b[13]);
		}
	}
	if (pat)
		tab_end(rep);
}

/* Per (pattern, size): pingpong by median p50 (lower is better), every other
 * pattern by median msgs/s (higher is better); ratio to the best. */
static void report_ranking(struct rep *rep)
{
	static const char *head[] = {"rank", "transport", "mode", "metric", "x fastest"};
	int *ord = calloc((size_t)rep->ng + 1, sizeof *ord);

	heading(rep, 2, "Ranking");
	if (!ord)
		return;
	for (int a = 0; a < rep->ng;) {
		const struct rec *ra = &rep->r[rep->g[a].first];
		int b = a, n = 0, lat = !strcmp(ra->pattern, "pingpong");
		char t[128];

		while (b < rep->ng &&
		       !strcmp(rep->r[rep->g[b].first].pattern, ra->pattern) &&
		       rep->r[rep->g[b].first].size == ra->size)
			b++;
		for (int g = a; g < b; g++) {
			double v = lat ? rep->g[g].p50 : rep->g[g].msgs_s;
			int k;

			if (isnan(v) || v <= 0)
				continue;
			for (k = n; k > 0; k--) {
				double w = lat ? rep->g[ord[k - 1]].p50
					       : rep->g[ord[k - 1]].msgs_s;

				if (lat ? w <= v : w >= v)
					break;
				ord[k] = ord[k - 1];
			}
			ord[k] = g;
			n++;
		}
		snprintf(t, sizeof t, "%s, %lld B (by %s)", ra->pattern, ra->size,
			 lat ? "median p50 latency" : "median msgs/s");
		heading(rep, 3, t);
		tab_begin(rep, 5, head);
		for (int i = 0; i < n; i++) {
			const struct group *G = &rep->g[ord[i]], *B = &rep->g[ord[0]];
			const struct rec *r = &rep->r[G->first];
			char b0[16], b3[48], b4[32];
			const char *c[5] = {b0, r->transport, r->setup, b3, b4};

			snprintf(b0, sizeof b0, "%d", i + 1);
			if (lat) {
				snprintf(b3, sizeof b3, "%.2f us", G->p50 / 1000);
				snprintf(b4, sizeof b4, "%.2f", G->p50 / B->p50);
			} else {
				snprintf(b3, sizeof b3, "%.0f msgs/s", G->msgs_s);
				snprintf(b4, sizeof b4, "%.2f", B->msgs_s / G->msgs_s);
			}
			tab_row(rep, 0, 5, c);
		}
		tab_end(rep);
		a = b;
	}
	free(ord);
}

static void report_verify(struct rep *rep)
{
	static const char *head[] = {"pattern",    "transport", "size",   "mode",
				     "runs",       "failed",    "sent",   "lost",
				     "duplicated", "reordered", "corrupt"};

	heading(rep, 2, "Verification (sums over runs)");
	tab_begin(rep, 11, head);
	for (int g = 0; g < rep->ng; g++) {
		const struct group *G = &rep->g[g];
		const struct rec *r = &rep->r[G->first];
		char b[7][32];
		const char *c[11] = {r->pattern, r->transport, b[0], r->setup, b[1], b[2],
				     b[3],       b[4],         b[5], b[6],     NULL};
		char bc[32];

		snprintf(b[0], 32, "%lld", r->size);
		snprintf(b[1], 32, "%d", G->n);
		snprintf(b[2], 32, "%d", G->failed);
		snprintf(b[3], 32, "%lld", G->sent);
		snprintf(b[4], 32, "%lld", G->lost);
		snprintf(b[5], 32, "%lld", G->dup);
		snprintf(b[6], 32, "%lld", G->reord);
		snprintf(bc, sizeof bc, "%lld", G->corrupt);
		c[10] = bc;
		tab_row(rep, 0, 11, c);
	}
	tab_end(rep);
}

static void report_chart_section(struct rep *rep)
{
	heading(rep, 2, "Charts");
	if (rep->chart_note)
		para(rep, rep->chart_note);
	for (int i = 0; i < rep->nch; i++) {
		fprintf(rep->md, "![%s](%s)\n\n", rep->ch[i].title, rep->ch[i].file);
		fputs("<figure>", rep->html);
		fputs(rep->ch[i].svg, rep->html);
		fputs("<figcaption>", rep->html);
		html_esc(rep->html, rep->ch[i].title);
		fputs("</figcaption></figure>\n", rep->html);
	}
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>ipclab report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\n"
    "table{border-collapse:collapse;margin:0 0 1.5em 0;font-size:90%}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    "th{background:#eee}td:first-child,td:nth-child(2){text-align:left}\n"
    "tr:nth-child(even){background:#f8f8f8}figure{margin:1em 0}\n"
    "figcaption{font-size:90%;color:#555}\n"
    "</style></head><body>\n";

int ipcl_cmd_report(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"csv", no_argument, NULL, 'c'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	const char *dir = "report";
	struct rep rep = {0};
	int csv = 0, c, rc = 0;
	char path[4096], line[256];
	FILE *cf = NULL;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case 'c':
			csv = 1;
			break;
		case 'h':
			fputs(report_help, stdout);
			return 0;
		default:
			return report_fail("bad option '%s' (see `ipclab report --help`)",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return report_fail("no results files given (see `ipclab report --help`)");
	for (int i = optind; i < argc; i++)
		if ((rc = report_read(&rep, argv[i])))
			goto out;
	if (!rep.nr) {
		rc = report_fail("no result records in the given files");
		goto out;
	}
	if (report_group(&rep)) {
		rc = report_fail("out of memory");
		goto out;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		rc = report_fail("cannot create '%s': %s", dir, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof path, "%s/report.md", dir);
	rep.md = fopen(path, "w");
	snprintf(path, sizeof path, "%s/report.html", dir);
	rep.html = rep.md ? fopen(path, "w") : NULL;
	snprintf(path, sizeof path, "%s/summary.csv", dir);
	cf = csv && rep.html ? fopen(path, "w") : NULL;
	if (!rep.md || !rep.html || (csv && !cf)) {
		rc = report_fail("cannot write into '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (report_hgrm(&rep, dir)) {
		rc = report_fail("cannot write '%s/hgrm': %s", dir, strerror(errno));
		goto out;
	}
	report_charts(&rep, dir);

	fputs(html_head, rep.html);
	heading(&rep, 1, "ipclab report");
	snprintf(
	    line, sizeof line,
	    "%d records from %d file(s). Latencies in microseconds; repeated runs are "
	    "reduced to the median.",
	    rep.nr, argc - optind);
	para(&rep, line);
	report_env(&rep);
	report_summary(&rep, cf);
	report_ranking(&rep);
	report_verify(&rep);
	report_chart_section(&rep);
	fputs("</body></html>\n", rep.html);
out:
	if (rep.md && fclose(rep.md) && !rc)
		rc = report_fail("cannot write '%s/report.md': %s", dir, strerror(errno));
	if (rep.html && fclose(rep.html) && !rc)
		rc = report_fail("cannot write '%s/report.html': %s", dir,
				 strerror(errno));
	if (cf && fclose(cf) && !rc)
		rc = report_fail("cannot write '%s/summary.csv': %s", dir,
				 strerror(errno));
	for (int i = 0; i < rep.nr; i++)
		json_decref(rep.r[i].j);
	for (int i = 0; i < rep.nch; i++)
		free(rep.ch[i].svg);
	free(rep.r);
	free(rep.g);
	if (!rc)
		printf("report: %s/report.html, %s/report.md\n", dir, dir);
	return rc;
}
