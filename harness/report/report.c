/*
 * report.c - `ipclab report`: reads JSON-lines result files (docs/results.md) and
 * writes DIR/report.md and a self-contained DIR/report.html (inline CSS, inline
 * SVG): environment, with --baseline the change against an older result set
 * (ratios new/old per row, flagged only beyond the spread of the repeated runs),
 * a summary table per pattern (records sharing transport, pattern, size and
 * set-up are reduced to the median), a ranking per pattern and size,
 * verification counts, optional DIR/summary.csv and DIR/baseline.csv, and
 * per-run percentile distributions DIR/hgrm/NAME.hgrm. Charts (latency spectrum
 * of pingpong and rate, stream throughput by size, stream CPU per message) are
 * drawn by the gnuplot binary (fork + exec on a script in a private mkdtemp
 * directory); without gnuplot the report says so and has tables only. Leaves
 * out: charts of the one-way latency of pingpong, the failure matrix.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "report/faultcell.h"
#include "report/report.h"

#define EXIT_USAGE 2
#define MAX_CHARTS 64

static const char report_help[] =
    "usage: ipclab report RESULTS.jsonl... [--baseline OLD.jsonl] [-o DIR] [--csv]\n"
    "\n"
    "Reads result records (JSON lines from `ipclab run --json` or `ipclab compare`)\n"
    "and writes DIR/report.md and DIR/report.html: environment, one summary table\n"
    "per pattern (repeated runs of the same transport, pattern, size and set-up\n"
    "are reduced to the median, with the p50 spread; CPU per message of receiver\n"
    "and sender; target and achieved rate of rate runs), a ranking per pattern and\n"
    "size (pingpong by p50, rate by p99, stream by msgs/s), verification counts,\n"
    "and gnuplot charts (latency percentile spectrum of pingpong and rate, stream\n"
    "throughput against message size, stream CPU per message) when gnuplot is\n"
    "installed. Per-run percentile distributions go to DIR/hgrm/. Latencies in us.\n"
    "  -b, --baseline OLD  also compare with the older results OLD: per row the\n"
    "                      ratio new/old of the pattern's figures (pingpong p50 and\n"
    "                      p99, stream msgs/s, rate p99; CPU/msg), flagged only when\n"
    "                      the min..max ranges of the runs do not overlap; the\n"
    "                      flagged rows are also printed\n"
    "      --min-change PCT  flag a change beyond the spread only from PCT on\n"
    "                      (default 10%); smaller ones are a \"small change\"\n"
    "  -o, --output DIR    where the report goes (default report)\n"
    "      --csv           also write DIR/summary.csv (and DIR/baseline.csv)\n";

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
	double p50, p90, p99, p999, max, msgs_s, mb_s;
	double cpu_rx, cpu_tx, cpu; /* ns/msg: receiver, sender, their sum */
	double rate;                /* params.rate: the target msgs/s of a rate run */
	long long sent, lost, dup, reord, corrupt;
	json_t *spectrum;
};

/* One figure of a group over its runs: the median, the spread (min..max) and
 * how many runs had the figure (n; min, max and med are NaN when n is 0). */
struct fig {
	double med, min, max;
	int n;
};

/* Records sharing (pattern, size, transport, set-up): recs[first .. first+n). */
struct group {
	int first, n, mid; /* mid: the run whose p50 is nearest the median */
	struct fig p50, p99, msgs_s, cpu, rate;
	long long lost, dup, reord, corrupt, sent;
	int failed;
};

/*
 * A figure that ranks groups and is compared against a baseline: its name,
 * where it lives in struct group, whether higher is better, and what a higher
 * or lower new value means ("slower"/"faster").
 */
struct figdef {
	const char *name, *unit;
	size_t off;
	int higher_better;
	const char *up, *down;
	int self; /* up and down already name the figure ("more CPU") */
};

static const struct figdef fig_p50 = {.name = "p50",
				      .unit = "us",
				      .off = offsetof(struct group, p50),
				      .up = "slower",
				      .down = "faster"};
static const struct figdef fig_p99 = {.name = "p99",
				      .unit = "us",
				      .off = offsetof(struct group, p99),
				      .up = "slower",
				      .down = "faster"};
static const struct figdef fig_msgs = {.name = "msgs/s",
				       .unit = "msgs/s",
				       .off = offsetof(struct group, msgs_s),
				       .higher_better = 1,
				       .up = "faster",
				       .down = "slower"};
static const struct figdef fig_cpu = {.name = "CPU/msg",
				      .unit = "ns",
				      .off = offsetof(struct group, cpu),
				      .up = "more CPU",
				      .down = "less CPU",
				      .self = 1};

#define MAX_FIGS 3

/* The figures of a pattern, the first one the ranking's: pingpong p50 and p99,
 * rate p99, anything else msgs/s; then CPU per message. Returns how many. */
static int report_figs(const char *pattern, const struct figdef **f)
{
	int n = 0;

	if (!strcmp(pattern, "pingpong")) {
		f[n++] = &fig_p50;
		f[n++] = &fig_p99;
	} else if (!strcmp(pattern, "rate")) {
		f[n++] = &fig_p99;
	} else {
		f[n++] = &fig_msgs;
	}
	f[n++] = &fig_cpu;
	return n;
}

static const struct fig *report_gfig(const struct group *G, const struct figdef *d)
{
	return (const struct fig *)((const char *)G + d->off);
}

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
	double min_change; /* --baseline: smallest change flagged (0.10 = 10%) */
	json_t **fault;    /* fault runs (records with a "fault" object) */
	int nfault;
	int text_table; /* the table being written holds text: left-aligned */
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
 * wait=spin"). "process" alone for a default run. The target rate of a rate
 * run is not part of it: compare derives it from each transport's measured
 * capacity, so it differs between result sets that are meant to be compared.
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
	json_t *lat = json_object_get(j, "latency"), *cpu = json_object_get(j, "cpu");

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
	r->cpu_rx = report_num(cpu, "receiver", "total_ns_per_msg");
	r->cpu_tx = report_num(cpu, "sender", "total_ns_per_msg");
	r->cpu = r->cpu_rx + r->cpu_tx;
	r->rate = report_num(j, "params", "rate");
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
		/* Fault runs make the failure matrix, not the summaries. */
		if (json_is_object(json_object_get(j, "fault"))) {
			json_t **nf =
			    realloc(rep->fault, sizeof *nf * (size_t)(rep->nfault + 1));

			if (!nf) {
				json_decref(j);
				rc = report_fail("out of memory");
				goto out;
			}
			rep->fault = nf;
			rep->fault[rep->nfault++] = j;
			continue;
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

/* Orders records by the grouping key: pattern, size, transport, set-up. */
static int report_cmp_key(const struct rec *x, const struct rec *y)
{
	int c = strcmp(x->pattern, y->pattern);

	if (!c)
		c = (x->size > y->size) - (x->size < y->size);
	if (!c)
		c = strcmp(x->transport, y->transport);
	if (!c)
		c = strcmp(x->setup, y->setup);
	return c;
}

static int report_cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = report_cmp_key(x, y);

	return c ? c : x->idx - y->idx;
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

/* The figure at offset off of struct rec over the n records r: median and
 * spread of the runs that have it. tmp holds at least n doubles. */
static struct fig report_fig(const struct rec *r, int n, size_t off, double *tmp)
{
	struct fig f = {NAN, NAN, NAN, 0};

	for (int k = 0; k < n; k++) {
		double v = *(const double *)(const void *)((const char *)&r[k] + off);

		tmp[k] = v;
		if (isnan(v))
			continue;
		if (!f.n || v < f.min)
			f.min = v;
		if (!f.n || v > f.max)
			f.max = v;
		f.n++;
	}
	f.med = report_median(tmp, n);
	return f;
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
		while (i < rep->nr && !report_cmp_key(r, &rep->r[i]))
			i++;
		g->n = i - g->first;
		for (int k = 0; k < g->n; k++) {
			g->sent += r[k].sent;
			g->lost += r[k].lost;
			g->dup += r[k].dup;
			g->reord += r[k].reord;
			g->corrupt += r[k].corrupt;
			g->failed += strcmp(r[k].status, "ok") != 0;
		}
		g->p50 = report_fig(r, g->n, offsetof(struct rec, p50), tmp);
		g->p99 = report_fig(r, g->n, offsetof(struct rec, p99), tmp);
		g->msgs_s = report_fig(r, g->n, offsetof(struct rec, msgs_s), tmp);
		g->cpu = report_fig(r, g->n, offsetof(struct rec, cpu), tmp);
		g->rate = report_fig(r, g->n, offsetof(struct rec, rate), tmp);
		g->mid = g->first;
		for (int k = 0; k < g->n; k++)
			if (!isnan(r[k].p50) && fabs(r[k].p50 - g->p50.med) < best) {
				best = fabs(r[k].p50 - g->p50.med);
				g->mid = g->first + k;
			}
	}
	free(tmp);
	return 0;
}

/* The end of the block of groups from a on that share a's pattern, and its
 * size too when by_size (groups are sorted by pattern, then size). */
static int report_block(const struct rep *rep, int a, int by_size)
{
	const struct rec *ra = &rep->r[rep->g[a].first];
	int b = a;

	while (b < rep->ng && !strcmp(rep->r[rep->g[b].first].pattern, ra->pattern) &&
	       (!by_size || rep->r[rep->g[b].first].size == ra->size))
		b++;
	return b;
}

static void report_free(struct rep *rep)
{
	for (int i = 0; i < rep->nr; i++)
		json_decref(rep->r[i].j);
	for (int i = 0; i < rep->nfault; i++)
		json_decref(rep->fault[i]);
	free(rep->fault);
	for (int i = 0; i < rep->nch; i++)
		free(rep->ch[i].svg);
	free(rep->r);
	free(rep->g);
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

/* A figure's value as its tables print it: us with 2 decimals, else whole. */
static const char *fmt_fig(char *b, size_t n, const struct figdef *d, double v)
{
	return !strcmp(d->unit, "us") ? fmt_us(b, n, v) : fmt_f(b, n, 0, v);
}

/* A target rate: the median, and the range when the runs differ. */
static const char *fmt_rate(char *b, size_t n, const struct fig *f)
{
	if (!f->n)
		snprintf(b, n, "-");
	else if (f->min == f->max)
		snprintf(b, n, "%.0f", f->med);
	else
		snprintf(b, n, "%.0f (%.0f..%.0f)", f->med, f->min, f->max);
	return b;
}

/* A CSV field: quoted (with " doubled) when it holds a comma or a quote. */
static void csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++)
		fputs(*s == '"' ? "\"\"" : (char[2]){*s, 0}, f);
	fputc('"', f);
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

/* One table row; cls, if not NULL, is the HTML row's class (Markdown has none). */
static void tab_row_class(struct rep *rep, int head, const char *cls, int n,
			  const char **cells)
{
	fputs("|", rep->md);
	if (cls)
		fprintf(rep->html, "<tr class=\"%s\">", cls);
	else
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
			fputs(i < 2 || rep->text_table ? "---|" : "--:|", rep->md);
		fputs("\n", rep->md);
	}
}

static void tab_row(struct rep *rep, int head, int n, const char **cells)
{
	tab_row_class(rep, head, NULL, n, cells);
}

static void tab_begin(struct rep *rep, int n, const char **head)
{
	fputs(rep->text_table ? "<table class=\"text\">\n" : "<table>\n", rep->html);
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
		snprintf(b, n, "%.48s (%.70s)", r->transport, r->setup);
	else
		snprintf(b, n, "%s", r->transport);
}

/* Starts tmp/c.gp: SVG terminal, title, axis labels, log scale on the axes
 * named in logscale ("xy", "y" or "" for none), grid, key on the right. */
static FILE *gp_begin(const char *tmp, const char *title, const char *xl, const char *yl,
		      const char *logscale)
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
		" noenhanced\nset xlabel '%s'\nset ylabel '%s'\n%s%s%s"
		"set grid\nset key outside right top noenhanced\n",
		xl, yl, *logscale ? "set logscale " : "", logscale,
		*logscale ? "\n" : "");
	return f;
}

/* Latency spectrum of every pingpong and rate size: one line per transport and
 * set-up, from the run whose p50 is nearest the median. */
static void report_chart_latency(struct rep *rep, const char *tmp, const char *dir)
{
	for (int a = 0, b; a < rep->ng; a = b) {
		const struct rec *ra = &rep->r[rep->g[a].first];
		int lines = 0, rate = !strcmp(ra->pattern, "rate");
		char title[160], file[96], lt[128];
		FILE *f;

		b = report_block(rep, a, 1);
		if (!rate && strcmp(ra->pattern, "pingpong"))
			continue;
		snprintf(title, sizeof title, "%s by percentile, %lld B",
			 rate ? "rate one-way latency (from the intended send time)"
			      : "pingpong round-trip latency",
			 ra->size);
		snprintf(file, sizeof file, "latency-%s-%lld.svg", ra->pattern, ra->size);
		f = gp_begin(tmp, title, "percentile", "latency (us)", "xy");
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
	}
}

/* Is group g the first stream group of its transport and set-up? */
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

/* Stream throughput against message size: one line per transport and set-up. */
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
	f = gp_begin(tmp, title, "message size (bytes)", "messages/s", "xy");
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
			    !strcmp(q->setup, r->setup) && rep->g[h].msgs_s.med > 0)
				fprintf(f, "%lld %.9g\n", q->size, rep->g[h].msgs_s.med);
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

/* One bar value of the CPU chart: '?' (gnuplot's missing value) when the
 * record has none, or when it is not positive on a log axis. */
static void gp_bar(FILE *f, double v, int logy)
{
	if (isnan(v) || (logy && v <= 0))
		fputs(" ?", f);
	else
		fprintf(f, " %.9g", v);
}

/*
 * Stream CPU per message, one chart per size: per transport and set-up a pair
 * of bars, sender and receiver ns/msg of the representative run (as in the
 * summary table). The y axis is log when the bars span more than 30x.
 */
static void report_chart_cpu(struct rep *rep, const char *tmp, const char *dir)
{
	for (int a = 0, b; a < rep->ng; a = b) {
		const struct rec *ra = &rep->r[rep->g[a].first];
		double lo = INFINITY, hi = 0;
		char title[160], file[96], lt[128];
		int bars = 0, logy;
		FILE *f;

		b = report_block(rep, a, 1);
		if (strcmp(ra->pattern, "stream"))
			continue;
		for (int g = a; g < b; g++) {
			const struct rec *m = &rep->r[rep->g[g].mid];
			double v[2] = {m->cpu_tx, m->cpu_rx};

			for (int k = 0; k < 2; k++)
				if (v[k] > 0) {
					lo = fmin(lo, v[k]);
					hi = fmax(hi, v[k]);
					bars++;
				}
		}
		if (!bars)
			continue;
		logy = hi / lo > 30;
		snprintf(title, sizeof title,
			 "stream CPU per message by transport, %lld B (representative "
			 "run)",
			 ra->size);
		snprintf(file, sizeof file, "cpu-stream-%lld.svg", ra->size);
		f = gp_begin(tmp, title, "", "CPU time per message (ns)",
			     logy ? "y" : "");
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
			const struct rec *m = &rep->r[rep->g[g].mid];

			gp_line_title(lt, sizeof lt, m);
			for (char *p = lt; *p; p++)
				if (*p == '"')
					*p = '\'';
			fprintf(f, "\"%s\"", lt);
			gp_bar(f, m->cpu_tx, logy);
			gp_bar(f, m->cpu_rx, logy);
			fputs("\n", f);
		}
		fputs("EOD\nplot $d using 2:xtic(1) title 'sender', $d using 3 title "
		      "'receiver'\n",
		      f);
		if (fclose(f) == 0)
			report_plot(rep, tmp, dir, file, title);
	}
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
	report_chart_cpu(rep, tmp, dir);
	if (rmdir(tmp))
		fprintf(stderr, "ipclab report: cannot remove %s: %s\n", tmp,
			strerror(errno));
	if (!rep->nch)
		rep->chart_note = "no charts: no latency spectrum, stream throughput or "
				  "CPU figure to draw";
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

/*
 * The distinct environments of rep's records: *keys gets each as "kernel \x1f
 * CPU \x1f cores \x1f libraries", *cnt how many records share it. Returns how
 * many, or -1 (out of memory; nothing to free then).
 */
static int report_env_keys(const struct rep *rep, char ***keys, int **cnt)
{
	char **seen = calloc((size_t)rep->nr + 1, sizeof *seen);
	int *n = calloc((size_t)rep->nr + 1, sizeof *n);
	int ns = 0;

	if (!seen || !n)
		goto fail;
	for (int i = 0; i < rep->nr; i++) {
		json_t *env = json_object_get(rep->r[i].j, "env"), *libs, *v;
		char *s = NULL, *l = NULL;
		const char *k;
		size_t ll = 0;
		FILE *m = open_memstream(&l, &ll);
		int j;

		if (!m)
			goto fail;
		libs = json_object_get(env, "libraries");
		json_object_foreach(libs, k, v)
		{
			fprintf(m, "%s%s %s", ftell(m) ? ", " : "", k,
				json_is_string(v) ? json_string_value(v) : "?");
		}
		if (fclose(m)) {
			free(l);
			goto fail;
		}
		if (asprintf(&s, "%s\x1f%s\x1f%lld\x1f%s",
			     report_str(env, "kernel", NULL, "?"),
			     report_str(env, "cpu_model", NULL, "?"),
			     report_int(env, "cores_online", NULL), l ? l : "") < 0)
			s = NULL;
		free(l);
		if (!s)
			goto fail;
		for (j = 0; j < ns && strcmp(seen[j], s); j++)
			;
		if (j < ns)
			free(s);
		else
			seen[ns++] = s;
		n[j]++;
	}
	*keys = seen;
	*cnt = n;
	return ns;
fail:
	for (int j = 0; j < ns; j++)
		free(seen[j]);
	free(seen);
	free(n);
	return -1;
}

static void report_env_free(char **keys, int *cnt, int n)
{
	for (int j = 0; j < n; j++)
		free(keys[j]);
	free(keys);
	free(cnt);
}

static void report_env(struct rep *rep)
{
	static const char *head[] = {"kernel", "CPU", "cores", "libraries", "records"};
	char **keys;
	int *cnt, ns;

	heading(rep, 2, "Environment");
	ns = report_env_keys(rep, &keys, &cnt);
	if (ns < 0)
		return;
	tab_begin(rep, 5, head);
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
		tab_row(rep, 0, 5, c);
	}
	tab_end(rep);
	report_env_free(keys, cnt, ns);
}

/* ---- change against a baseline -------------------------------------------- */

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

/* Beyond the spread means the two sets' min..max ranges do not overlap; a
 * set with one run has no spread, and then nothing is flagged. A change
 * beyond the spread is flagged only from min_change (a fraction) up: two runs
 * of one build on a shared machine drift apart by more than the spread within
 * each (measured: 7 of 30 rows of two identical compares did not overlap). */
static enum change report_change(const struct fig *o, const struct fig *n,
				 double min_change)
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

static double report_ratio(const struct fig *o, const struct fig *n)
{
	return o->med > 0 && !isnan(n->med) ? n->med / o->med : NAN;
}

static const char *report_change_word(const struct figdef *d, enum change c)
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
static void report_cat(char *b, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report_cat(char *b, size_t n, size_t *len, const char *fmt, ...)
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
static int report_verdict(char *b, size_t n, const struct figdef **fd, int nf,
			  const enum change *ch, const double *ratio, int with_ratio)
{
	const char *last = NULL;
	size_t len = 0;
	int spread = 0, within = 0, small = 0;

	b[0] = 0;
	for (int i = 0; i < nf; i++) {
		const char *w = report_change_word(fd[i], ch[i]), *sep;
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
			report_cat(b, n, &len, ", %s)", part);
		} else {
			report_cat(b, n, &len, "%s%s", len ? "; " : "", w);
			if (*part)
				report_cat(b, n, &len, " (%s)", part);
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

struct tally {
	int both, flagged, within, small, no_spread, only_old, only_new;
};

/* One figure of a baseline row as a CSV line; o or n NULL when that side has
 * no such group. */
static void report_baseline_csv(FILE *csv, const struct rec *r, const struct group *o,
				const struct group *n, const struct figdef *d,
				const char *verdict)
{
	static const struct fig none = {NAN, NAN, NAN, 0};
	const struct fig *fo = o ? report_gfig(o, d) : &none,
			 *fn = n ? report_gfig(n, d) : &none;
	char b[7][48];

	fprintf(csv, "%s,%s,%lld,", r->pattern, r->transport, r->size);
	csv_str(csv, r->setup);
	fprintf(csv, ",%d,%d,%s,%s,", o ? o->n : 0, n ? n->n : 0, d->name, d->unit);
	fprintf(csv, "%s,%s,%s,%s,%s,%s,%s,", fmt_fig(b[0], 48, d, fo->med),
		fmt_fig(b[1], 48, d, fn->med), fmt_f(b[2], 48, 2, report_ratio(fo, fn)),
		fmt_fig(b[3], 48, d, fo->min), fmt_fig(b[4], 48, d, fo->max),
		fmt_fig(b[5], 48, d, fn->min), fmt_fig(b[6], 48, d, fn->max));
	csv_str(csv, verdict);
	fputc('\n', csv);
}

/* One row of the baseline table (o or n NULL: the group is only in the other
 * set); flagged rows also go to stdout, one line each. */
static void report_baseline_row(struct rep *rep, const struct rep *old,
				const struct group *o, const struct group *n, FILE *csv,
				struct tally *t)
{
	const struct rec *r = o ? &old->r[o->first] : &rep->r[n->first];
	enum { CW = 96 };
	const struct figdef *fd[MAX_FIGS];
	int nf = report_figs(r->pattern, fd), nc = 0, flagged = 0;
	enum change ch[MAX_FIGS];
	double ratio[MAX_FIGS];
	char b[4 + 3 * MAX_FIGS + 1][CW], verdict[256], line[256];
	const char *c[4 + 3 * MAX_FIGS + 1];

	for (int i = 0; i < 4 + 3 * MAX_FIGS + 1; i++)
		c[i] = b[i];
	c[nc++] = r->transport;
	snprintf(b[nc++], CW, "%lld", r->size);
	c[nc++] = r->setup;
	snprintf(b[nc++], CW, "%d/%d", o ? o->n : 0, n ? n->n : 0);
	for (int i = 0; i < nf; i++) {
		const struct fig *fo = o ? report_gfig(o, fd[i]) : NULL,
				 *fn = n ? report_gfig(n, fd[i]) : NULL;

		ch[i] = o && n ? report_change(fo, fn, rep->min_change) : CH_NONE;
		/* A paced run's CPU per message follows its rate (the sender
		 * spins between sends): at another target it is no change. */
		if (ch[i] != CH_NONE && fd[i] == &fig_cpu && o->rate.n &&
		    o->rate.med != n->rate.med)
			ch[i] = CH_RATE;
		ratio[i] = o && n ? report_ratio(fo, fn) : NAN;
		fmt_fig(b[nc++], CW, fd[i], fo ? fo->med : NAN);
		fmt_fig(b[nc++], CW, fd[i], fn ? fn->med : NAN);
		fmt_f(b[nc++], CW, 2, ratio[i]);
	}
	if (!o || !n) {
		snprintf(verdict, sizeof verdict, "%s",
			 o ? "missing in new" : "new (not in baseline)");
		t->only_old += !n;
		t->only_new += !o;
	} else {
		size_t len;

		flagged = report_verdict(verdict, sizeof verdict, fd, nf, ch, ratio, 0);
		t->both++;
		t->flagged += flagged;
		t->within += !flagged && !strcmp(verdict, "within spread");
		t->small += !flagged && !strcmp(verdict, "small change");
		t->no_spread += !flagged && !strcmp(verdict, "no spread (1 run)");
		len = strlen(verdict);
		if (o->rate.n && n->rate.n && o->rate.med != n->rate.med)
			report_cat(verdict, sizeof verdict, &len,
				   "; target rate %.0f -> %.0f msgs/s", o->rate.med,
				   n->rate.med);
	}
	c[nc++] = verdict;
	tab_row_class(rep, 0, flagged ? "flag" : NULL, nc, c);
	if (flagged) {
		report_verdict(line, sizeof line, fd, nf, ch, ratio, 1);
		printf("  %s %lld B %s%s%s%s: %s\n", r->pattern, r->size, r->transport,
		       strcmp(r->setup, "process") ? " (" : "",
		       strcmp(r->setup, "process") ? r->setup : "",
		       strcmp(r->setup, "process") ? ")" : "", line);
	}
	if (csv)
		for (int i = 0; i < nf; i++)
			report_baseline_csv(csv, r, o, n, fd[i],
					    o && n ? report_change_word(fd[i], ch[i])
					    : o    ? "missing in new"
						   : "new (not in baseline)");
}

/* A note when the two sets do not come from the same environments. */
static void report_baseline_env(struct rep *rep, const struct rep *old)
{
	char **ko = NULL, **kn = NULL, text[1024], *f[4];
	int *co = NULL, *cn = NULL, no, nn, differ = 0;

	no = report_env_keys(old, &ko, &co);
	nn = report_env_keys(rep, &kn, &cn);
	if (no < 0 || nn < 0)
		goto out;
	for (int i = 0; i < no && !differ; i++) {
		int j;

		for (j = 0; j < nn && strcmp(ko[i], kn[j]); j++)
			;
		differ = j == nn;
	}
	for (int j = 0; j < nn && !differ; j++) {
		int i;

		for (i = 0; i < no && strcmp(ko[i], kn[j]); i++)
			;
		differ = i == no;
	}
	if (!differ)
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
	para(rep, text);
out:
	if (no >= 0)
		report_env_free(ko, co, no);
	if (nn >= 0)
		report_env_free(kn, cn, nn);
}

/*
 * "Change against baseline": per pattern a table of the groups of both sets,
 * matched by the grouping key, with old and new medians, new/old and a verdict;
 * the flagged rows also on stdout, and with csv one line per row and figure.
 */
static void report_baseline(struct rep *rep, const struct rep *old, const char *path,
			    FILE *csv)
{
	struct tally t = {0};
	const char *pat = NULL;
	char text[1024];

	heading(rep, 2, "Change against baseline");
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
		 path, old->nr, rep->nr, rep->min_change * 100);
	para(rep, text);
	report_baseline_env(rep, old);
	if (csv)
		fputs("pattern,transport,size,mode,runs_old,runs_new,figure,unit,old,new,"
		      "new_over_old,old_min,old_max,new_min,new_max,verdict\n",
		      csv);
	printf("change against baseline %s:\n", path);
	for (int i = 0, j = 0; i < old->ng || j < rep->ng;) {
		const struct group *o = i < old->ng ? &old->g[i] : NULL,
				   *n = j < rep->ng ? &rep->g[j] : NULL;
		int c = !o   ? 1
			: !n ? -1
			     : report_cmp_key(&old->r[o->first], &rep->r[n->first]);
		const struct rec *r;

		if (c < 0)
			n = NULL;
		if (c > 0)
			o = NULL;
		i += o != NULL;
		j += n != NULL;
		r = o ? &old->r[o->first] : &rep->r[n->first];
		if (!pat || strcmp(pat, r->pattern)) {
			const struct figdef *fd[MAX_FIGS];
			int nf = report_figs(r->pattern, fd), nh = 0;
			char hb[3 * MAX_FIGS][48];
			const char *head[4 + 3 * MAX_FIGS + 1] = {"transport", "size",
								  "mode", "runs old/new"};

			if (pat)
				tab_end(rep);
			pat = r->pattern;
			heading(rep, 3, pat);
			for (int k = 0; k < nf; k++) {
				snprintf(hb[nh++], 48, "%s old (%s)", fd[k]->name,
					 fd[k]->unit);
				snprintf(hb[nh++], 48, "%s new", fd[k]->name);
				snprintf(hb[nh++], 48, "%s new/old", fd[k]->name);
			}
			for (int k = 0; k < nh; k++)
				head[4 + k] = hb[k];
			head[4 + nh] = "verdict";
			tab_begin(rep, 5 + nh, head);
		}
		report_baseline_row(rep, old, o, n, csv, &t);
	}
	if (pat)
		tab_end(rep);
	snprintf(text, sizeof text,
		 "%d rows in both sets: %d changed beyond the spread, %d beyond it by "
		 "less than %.0f%%, %d within the spread, %d with a single run; %d "
		 "only in the baseline (missing in new), %d new.",
		 t.both, t.flagged, t.small, rep->min_change * 100, t.within, t.no_spread,
		 t.only_old, t.only_new);
	para(rep, text);
	if (!t.flagged)
		printf("  no change beyond the spread\n");
	printf("  (%d rows in both, %d only in the baseline, %d new)\n", t.both,
	       t.only_old, t.only_new);
}

/* ---- summary, ranking, verification -------------------------------------- */

static void report_summary(struct rep *rep, FILE *csv)
{
	static const char *head[] = {"transport", "size",       "mode",
				     "runs",      "p50 (us)",   "p50 min..max (us)",
				     "p99 (us)",  "p99.9 (us)", "max (us)",
				     "msgs/s",    "MB/s",       "CPU/msg receiver (ns)",
				     "lost",      "duplicated", "CPU/msg sender (ns)"};
	enum { NCOL = 15, MSGS = 9 };

	if (csv)
		fputs("pattern,transport,size,mode,runs,p50_us,p50_min_us,p50_max_us,p99_"
		      "us,p99_9_us,max_us,msgs_per_s,mb_per_s,cpu_receiver_ns_per_msg,"
		      "lost,duplicated,cpu_sender_ns_per_msg,target_rate_msgs_per_s\n",
		      csv);
	for (int a = 0, e; a < rep->ng; a = e) {
		int rate = !strcmp(rep->r[rep->g[a].first].pattern, "rate");
		const char *h[NCOL + 1];
		char t[64];

		e = report_block(rep, a, 0);
		snprintf(t, sizeof t, "Summary: %s", rep->r[rep->g[a].first].pattern);
		heading(rep, 2, t);
		/* rate: the target rate goes in before the achieved msgs/s */
		for (int k = 0, i = 0; k < NCOL; k++) {
			if (rate && k == MSGS)
				h[i++] = "target msgs/s";
			h[i++] = rate && k == MSGS ? "achieved msgs/s" : head[k];
		}
		tab_begin(rep, NCOL + rate, h);
		for (int g = a; g < e; g++) {
			const struct group *G = &rep->g[g];
			const struct rec *r = &rep->r[G->first], *m = &rep->r[G->mid];
			char b[NCOL + 1][48];
			const char *c[NCOL + 1];

			snprintf(b[1], 48, "%lld", r->size);
			snprintf(b[3], 48, "%d%s", G->n, G->failed ? " (failed)" : "");
			fmt_us(b[4], 48, G->p50.med);
			if (G->p50.n)
				snprintf(b[5], 48, "%.2f..%.2f", G->p50.min / 1000,
					 G->p50.max / 1000);
			else
				snprintf(b[5], 48, "-");
			fmt_us(b[6], 48, G->p99.med);
			fmt_us(b[7], 48, m->p999);
			fmt_us(b[8], 48, m->max);
			fmt_f(b[9], 48, 0, G->msgs_s.med);
			fmt_f(b[10], 48, 2, m->mb_s);
			fmt_f(b[11], 48, 0, m->cpu_rx);
			snprintf(b[12], 48, "%lld", G->lost);
			snprintf(b[13], 48, "%lld", G->dup);
			fmt_f(b[14], 48, 0, m->cpu_tx);
			fmt_rate(b[15], 48, &G->rate);
			for (int k = 0, i = 0; k < NCOL; k++) {
				if (rate && k == MSGS)
					c[i++] = b[15];
				c[i++] = k == 0 ? r->transport : k == 2 ? r->setup : b[k];
			}
			tab_row(rep, 0, NCOL + rate, c);
			if (!csv)
				continue;
			fprintf(csv, "%s,%s,%s,", r->pattern, r->transport, b[1]);
			csv_str(csv, r->setup);
			fprintf(csv, ",%d,%s,", G->n, b[4]);
			if (G->p50.n)
				fprintf(csv, "%.2f,%.2f,", G->p50.min / 1000,
					G->p50.max / 1000);
			else
				fputs("-,-,", csv);
			fprintf(csv, "%s,%s,%s,%s,%s,%s,%s,%s,%s,", b[6], b[7], b[8],
				b[9], b[10], b[11], b[12], b[13], b[14]);
			fprintf(csv, "%s\n",
				G->rate.n ? fmt_f(b[15], 48, 0, G->rate.med) : "-");
		}
		tab_end(rep);
	}
}

/* Per (pattern, size), by the pattern's ranking figure (report_figs): pingpong
 * by median p50, rate by median p99 (lower is better), every other pattern by
 * median msgs/s (higher is better); the ratio to the best. */
static void report_ranking(struct rep *rep)
{
	static const char *head[] = {"rank", "transport", "mode", "metric", "x fastest"};
	int *ord = calloc((size_t)rep->ng + 1, sizeof *ord);

	heading(rep, 2, "Ranking");
	if (!ord)
		return;
	for (int a = 0, b; a < rep->ng; a = b) {
		const struct rec *ra = &rep->r[rep->g[a].first];
		const struct figdef *fd[MAX_FIGS], *d;
		int n = 0;
		char t[128];

		report_figs(ra->pattern, fd);
		d = fd[0];
		b = report_block(rep, a, 1);
		for (int g = a; g < b; g++) {
			double v = report_gfig(&rep->g[g], d)->med;
			int k;

			if (isnan(v) || v <= 0)
				continue;
			for (k = n; k > 0; k--) {
				double w = report_gfig(&rep->g[ord[k - 1]], d)->med;

				if (d->higher_better ? w >= v : w <= v)
					break;
				ord[k] = ord[k - 1];
			}
			ord[k] = g;
			n++;
		}
		snprintf(t, sizeof t, "%s, %lld B (by median %s%s)", ra->pattern,
			 ra->size, d->name, strcmp(d->unit, "us") ? "" : " latency");
		heading(rep, 3, t);
		tab_begin(rep, 5, head);
		for (int i = 0; i < n; i++) {
			const struct group *G = &rep->g[ord[i]];
			const struct rec *r = &rep->r[G->first];
			double v = report_gfig(G, d)->med,
			       best = report_gfig(&rep->g[ord[0]], d)->med;
			char b0[16], b3[48], b4[32], num[40];
			const char *c[5] = {b0, r->transport, r->setup, b3, b4};

			snprintf(b0, sizeof b0, "%d", i + 1);
			snprintf(b3, sizeof b3, "%s %s", fmt_fig(num, sizeof num, d, v),
				 d->unit);
			snprintf(b4, sizeof b4, "%.2f",
				 d->higher_better ? best / v : v / best);
			tab_row(rep, 0, 5, c);
		}
		tab_end(rep);
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

/* The scenario of fault run j. */
static const char *report_scenario(json_t *j)
{
	return report_str(json_object_get(j, "fault"), "scenario", NULL, "?");
}

/*
 * The failure matrix: a row per transport, a column per fault scenario that
 * was run (kill-consumer, kill-producer, stall, oversize, then any other), the
 * cell of the last run of each pair. Nothing without fault runs.
 */
static void report_faults(struct rep *rep)
{
	static const char *const known[] = {"kill-consumer", "kill-producer", "stall",
					    "oversize"};
	const char *sc[16], *tr[256], *head[17];
	int nsc = 0, ntr = 0;

	if (!rep->nfault)
		return;
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < rep->nfault; i++)
			if (!strcmp(report_scenario(rep->fault[i]), known[k])) {
				sc[nsc++] = known[k];
				break;
			}
	for (int i = 0; i < rep->nfault; i++) {
		const char *s = report_scenario(rep->fault[i]);
		const char *t = report_str(rep->fault[i], "transport", NULL, "?");
		int k;

		for (k = 0; k < nsc && strcmp(sc[k], s); k++)
			;
		if (k == nsc && nsc < 16)
			sc[nsc++] = s;
		for (k = 0; k < ntr && strcmp(tr[k], t); k++)
			;
		if (k == ntr && ntr < 256)
			tr[ntr++] = t;
	}
	heading(rep, 2, "Failure matrix");
	para(rep, "One stream run per transport and fault scenario (ipclab faults; "
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
	rep->text_table = 1;
	tab_begin(rep, nsc + 1, head);
	for (int t = 0; t < ntr; t++) {
		char cell[16][200];
		const char *c[17];

		c[0] = tr[t];
		for (int k = 0; k < nsc; k++) {
			snprintf(cell[k], sizeof cell[k], "-");
			for (int i = 0; i < rep->nfault; i++)
				if (!strcmp(
					report_str(rep->fault[i], "transport", NULL, "?"),
					tr[t]) &&
				    !strcmp(report_scenario(rep->fault[i]), sc[k]))
					ipcl_fault_cell(rep->fault[i], cell[k],
							sizeof cell[k]);
			c[k + 1] = cell[k];
		}
		tab_row(rep, 0, nsc + 1, c);
	}
	tab_end(rep);
	rep->text_table = 0;
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>ipclab report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\n"
    "table{border-collapse:collapse;margin:0 0 1.5em 0;font-size:90%}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    "th{background:#eee}td:first-child,td:nth-child(2){text-align:left}\n"
    "table.text td,table.text th{text-align:left}\n"
    "tr:nth-child(even){background:#f8f8f8}tr.flag td{background:#fdecc8}\n"
    "td:last-child{white-space:nowrap}tr.flag td:last-child{font-weight:bold}\n"
    "figure{margin:1em 0}\n"
    "figcaption{font-size:90%;color:#555}\n"
    "</style></head><body>\n";

int ipcl_cmd_report(int argc, char **argv)
{
	static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
					   {"baseline", required_argument, NULL, 'b'},
					   {"csv", no_argument, NULL, 'c'},
					   {"min-change", required_argument, NULL, 'm'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	const char *dir = "report", *base = NULL;
	struct rep rep = {.min_change = 0.10}, old = {0};
	int csv = 0, c, rc = 0;
	char path[4096], line[256];
	FILE *cf = NULL, *bf = NULL;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:b:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case 'b':
			if (base)
				return report_fail("--baseline given twice");
			base = optarg;
			break;
		case 'c':
			csv = 1;
			break;
		case 'm': {
			char *end;
			double v;

			errno = 0;
			v = strtod(optarg, &end);
			if (end != optarg && *end == '%')
				end++;
			if (errno || end == optarg || *end || !(v >= 0 && v < 1000))
				return report_fail(
				    "bad --min-change '%s': want a percentage "
				    "such as 10 or 10%%",
				    optarg);
			rep.min_change = v / 100;
			break;
		}
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
	if (base && (rc = report_read(&old, base)))
		goto out;
	if (base && !old.nr) {
		rc = report_fail("no result records in the baseline '%s'", base);
		goto out;
	}
	for (int i = optind; i < argc; i++)
		if ((rc = report_read(&rep, argv[i])))
			goto out;
	if (!rep.nr && !rep.nfault) {
		rc = report_fail("no result records in the given files");
		goto out;
	}
	if (report_group(&rep) || (base && report_group(&old))) {
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
	snprintf(path, sizeof path, "%s/baseline.csv", dir);
	bf = csv && base && cf ? fopen(path, "w") : NULL;
	if (!rep.md || !rep.html || (csv && !cf) || (csv && base && !bf)) {
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
	snprintf(line, sizeof line,
		 "%d records (%d of them fault runs) from %d file(s). Latencies in "
		 "microseconds; repeated runs are reduced to the median.",
		 rep.nr + rep.nfault, rep.nfault, argc - optind);
	para(&rep, line);
	if (rep.nr) {
		report_env(&rep);
		if (base)
			report_baseline(&rep, &old, base, bf);
		report_summary(&rep, cf);
		report_ranking(&rep);
		report_verify(&rep);
	}
	report_faults(&rep);
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
	if (bf && fclose(bf) && !rc)
		rc = report_fail("cannot write '%s/baseline.csv': %s", dir,
				 strerror(errno));
	report_free(&rep);
	report_free(&old);
	if (!rc)
		printf("report: %s/report.html, %s/report.md\n", dir, dir);
	return rc;
}
