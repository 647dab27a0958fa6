/*
 * study.c - `ipclab study [--quick] [-o FILE] [-r DIR] [--only CLAIM,...]`.
 *
 * Runs the experiments of study/ (one per claim of the notes), then writes
 * DIR/study.md and DIR/study.html (each claim: the claim, the experiment, its
 * tables and charts, a verdict and the command that reproduces it), the study
 * records to FILE (JSON lines, "pattern": "study", docs/results.md) and the
 * harness runs some claims made to DIR/runs.jsonl (`ipclab report` reads it).
 * Charts are gnuplot SVG (gnuplot run by fork + exec on a script in a private
 * mkdtemp directory, removed afterwards); without gnuplot the pages say so.
 * Progress goes to stderr. Leaves out: comparing two studies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "cli/study.h"
#include "cli/usage.h"
#include "engine/record.h"
#include "engine/safefile.h"
#include "study/harnessrun.h"
#include "study/study.h"

static const char study_help[] =
    "usage: ipclab study [--quick] [-o FILE] [-r DIR] [--only CLAIM,...]\n"
    "\n"
    "Answers each claim of the OS notes with a measurement on this machine and\n"
    "writes DIR/study.md and DIR/study.html: per claim the experiment, figures,\n"
    "charts, a verdict (holds / does not hold here / depends) and the command\n"
    "that reproduces it. Broker claims run when $IPCLAB_REDIS_URL, $IPCLAB_AMQP_URL\n"
    "and $IPCLAB_PG_URL are set (`ipclab brokers up`), else say which run answers\n"
    "them. `perf bench sched` is run beside the context-switch experiment.\n"
    "\n"
    "  -q, --quick          fewer points and shorter runs (under 30 s)\n"
    "  -r, --report-dir DIR where study.md, study.html, the charts and\n"
    "                       runs.jsonl go (default results/study-TIME)\n"
    "  -o, --output FILE    the study's records, JSON lines (default DIR/study.jsonl)\n"
    "      --only LIST      claims by number or name: 1 spawn, 2 ctxswitch, 3 shm,\n"
    "                       4 pipes, 5 race, 6 pubsub, 7 broker-kill, 8 outbox,\n"
    "                       9 eventloop\n"
    "      --no-progress    nothing on stderr but errors\n"
    "\n"
    "Exit status 0 when the study was written, 1 when an experiment could not\n"
    "run at all, 2 for bad usage.\n";

const char *ipcl_study_help(void)
{
	return study_help;
}

struct claim {
	const char *id, *title, *claim;
	ipcl_study_fn fn;
};

static const struct claim claims[] = {
    {"spawn", "Processes cost more to create than threads",
     "Creating a process costs more CPU than creating a thread; hence pre-forking.",
     ipcl_study_spawn},
    {"ctxswitch", "A thread switch is cheaper than a process switch",
     "A thread context switch is cheaper than a process switch, because the address "
     "space (page tables, TLB) stays.",
     ipcl_study_ctxswitch},
    {"shm", "Shared memory is the fastest IPC",
     "Shared memory is the fastest IPC, since it skips the kernel copy, but needs "
     "synchronisation; message passing is simpler but slower.",
     ipcl_study_shm},
    {"pipes", "Anonymous pipes connect only related processes",
     "Anonymous pipes connect only related processes; named pipes connect any.",
     ipcl_study_pipes},
    {"race", "Unsynchronised writes to shared memory go wrong",
     "Threads share memory, so unsynchronised writes go wrong.", ipcl_study_race},
    {"pubsub", "Redis pub/sub delivers only to who is listening",
     "Redis pub/sub delivers only to who is listening; lists and streams keep messages.",
     ipcl_study_pubsub},
    {"broker-kill", "A broker keeps messages when a consumer dies",
     "A broker keeps messages when a consumer dies; a direct call fails.",
     ipcl_study_brokerkill},
    {"outbox", "A database table as a queue becomes the bottleneck",
     "A shared database table works as a queue but becomes the bottleneck.",
     ipcl_study_outbox},
    {"eventloop", "A single-threaded event loop is fast",
     "A single-threaded event loop (Redis, Node, Vert.x) is fast because it avoids "
     "context switches and locks.",
     ipcl_study_eventloop},
};
#define NCLAIMS (int)(sizeof claims / sizeof claims[0])

/* Marks the claims in list (comma-separated names or numbers); the bad word or NULL. */
static const char *study_select(char *list, int *sel)
{
	char *save = NULL;

	for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int found = 0;
		for (int i = 0; i < NCLAIMS; i++) {
			char num[8];
			snprintf(num, sizeof num, "%d", i + 1);
			if (strcmp(w, claims[i].id) == 0 || strcmp(w, num) == 0)
				sel[i] = found = 1;
		}
		if (!found)
			return w;
	}
	return NULL;
}

/* mkdir -p with mode 0755; the last directory must be the caller's own and
 * writable by nobody else (engine/safefile.h). 0, or -errno with err set. */
static int study_mkdirs(const char *dir, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	int fd;

	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
		snprintf(err, errlen, "%s", strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(buf, 0755) && errno != EEXIST) {
				snprintf(err, errlen, "'%.400s': %s", buf,
					 strerror(errno));
				return -errno;
			}
			*p = '/';
		}
	if ((fd = ipcl_output_dir_open(dir, err, errlen)) < 0)
		return fd;
	close(fd);
	return 0;
}

/* A new file for writing; refuses to follow a symlink. */
static FILE *study_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "w")))
		close(fd);
	return f;
}

/* The one HTML escaping function: every text that reaches the page goes here. */
static void study_html_esc(FILE *f, const char *s)
{
	for (; s && *s; s++)
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
}

static const char *study_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* ---- charts (gnuplot) ---------------------------------------------------- */

/* gnuplot single-quoted string: ' is doubled. */
static void study_gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* Draws chart into DIR/study-ID.svg; returns the SVG text (malloc'd, from "<svg")
 * or NULL with why set. */
static char *study_chart(const json_t *ch, const char *outdir, char *why, size_t cap)
{
	char tmp[PATH_MAX], gp[PATH_MAX + 16], svg[PATH_MAX + 300], dat[PATH_MAX + 32],
	    out[4096];
	const char *tdir = getenv("TMPDIR");
	json_t *series = json_object_get(ch, "series"), *s;
	size_t i, nplot = 0;
	char *text = NULL;
	FILE *f = NULL;
	int rc;

	snprintf(tmp, sizeof tmp, "%s/ipcl-chart-XXXXXX", tdir && *tdir ? tdir : "/tmp");
	if (!mkdtemp(tmp)) {
		snprintf(why, cap, "mkdtemp: %s", strerror(errno));
		return NULL;
	}
	snprintf(gp, sizeof gp, "%s/c.gp", tmp);
	snprintf(svg, sizeof svg, "%s/study-%s.svg", outdir, study_str(ch, "id"));
	json_array_foreach(series, i, s)
	{
		json_t *pts = json_object_get(s, "points"), *p;
		size_t j;

		snprintf(dat, sizeof dat, "%s/%zu.dat", tmp, i);
		if (!(f = study_create(dat)))
			goto fail;
		json_array_foreach(pts, j, p)
		    fprintf(f, "%.9g %.9g\n", json_number_value(json_array_get(p, 0)),
			    json_number_value(json_array_get(p, 1)));
		fclose(f);
		nplot += json_array_size(pts) > 0;
	}
	if (!nplot) {
		snprintf(why, cap, "no points to plot");
		goto done;
	}
	if (!(f = study_create(gp)))
		goto fail;
	fputs("set terminal svg size 720,420 dynamic font 'sans,11'\nset output ", f);
	study_gp_str(f, svg);
	fputs("\nset title ", f);
	study_gp_str(f, study_str(ch, "title"));
	fputs("\nset xlabel ", f);
	study_gp_str(f, study_str(ch, "xlabel"));
	fputs("\nset ylabel ", f);
	study_gp_str(f, study_str(ch, "ylabel"));
	fputs("\nset grid\nset key top left\n", f);
	if (json_is_true(json_object_get(ch, "logx")))
		fputs("set logscale x 2\n", f);
	if (json_is_true(json_object_get(ch, "logy")))
		fputs("set logscale y\n", f);
	fputs("plot ", f);
	nplot = 0;
	json_array_foreach(series, i, s)
	{
		if (!json_array_size(json_object_get(s, "points")))
			continue;
		snprintf(dat, sizeof dat, "%s/%zu.dat", tmp, i);
		fputs(nplot++ ? ", " : "", f);
		study_gp_str(f, dat);
		fputs(" using 1:2 with linespoints lw 2 title ", f);
		study_gp_str(f, study_str(s, "name"));
	}
	fputs("\n", f);
	fclose(f);
	char *argv[] = {"gnuplot", gp, NULL};
	rc = ipcl_study_exec(argv, -1, out, sizeof out, 30000000000LL);
	if (rc) {
		snprintf(why, cap, "gnuplot failed (%d): %.200s", rc, out);
		goto done;
	}
	{
		FILE *in = fopen(svg, "re");
		long len;
		char *start;

		if (!in || fseek(in, 0, SEEK_END) || (len = ftell(in)) < 0 ||
		    fseek(in, 0, SEEK_SET) || !(text = calloc(1, (size_t)len + 1)) ||
		    fread(text, 1, (size_t)len, in) != (size_t)len) {
			snprintf(why, cap, "reading %.200s: %s", svg, strerror(errno));
			free(text);
			text = NULL;
		} else if ((start = strstr(text, "<svg"))) {
			memmove(text, start, strlen(start) + 1);
		}
		if (in)
			fclose(in);
	}
	goto done;
fail:
	snprintf(why, cap, "writing chart data: %s", strerror(errno));
done:
	for (i = 0; i < json_array_size(series); i++) {
		snprintf(dat, sizeof dat, "%s/%zu.dat", tmp, i);
		unlink(dat);
	}
	unlink(gp);
	rmdir(tmp);
	return text;
}

/* ---- the pages -------------------------------------------------------------- */

static void study_md_table(FILE *md, const json_t *t)
{
	json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"),
	       *r, *c;
	size_t i, j;

	fprintf(md, "%s\n\n|", study_str(t, "caption"));
	json_array_foreach(cols, i, c) fprintf(md, " %s |", json_string_value(c));
	fputs("\n|", md);
	for (i = 0; i < json_array_size(cols); i++)
		fputs(i ? " ---: |" : " --- |", md);
	fputs("\n", md);
	json_array_foreach(rows, i, r)
	{
		fputs("|", md);
		json_array_foreach(r, j, c) fprintf(md, " %s |", json_string_value(c));
		fputs("\n", md);
	}
	fputs("\n", md);
}

static void study_html_table(FILE *h, const json_t *t)
{
	json_t *cols = json_object_get(t, "columns"), *rows = json_object_get(t, "rows"),
	       *r, *c;
	size_t i, j;

	fputs("<table><caption>", h);
	study_html_esc(h, study_str(t, "caption"));
	fputs("</caption>\n<tr>", h);
	json_array_foreach(cols, i, c)
	{
		fputs("<th>", h);
		study_html_esc(h, json_string_value(c));
		fputs("</th>", h);
	}
	fputs("</tr>\n", h);
	json_array_foreach(rows, i, r)
	{
		fputs("<tr>", h);
		json_array_foreach(r, j, c)
		{
			fputs(j ? "<td class=n>" : "<td>", h);
			study_html_esc(h, json_string_value(c));
			fputs("</td>", h);
		}
		fputs("</tr>\n", h);
	}
	fputs("</table>\n", h);
}

static void study_html_text(FILE *h, const char *tag, const char *label, const char *text)
{
	fprintf(h, "<%s>", tag);
	if (label) {
		fputs("<b>", h);
		study_html_esc(h, label);
		fputs("</b> ", h);
	}
	study_html_esc(h, text);
	fprintf(h, "</%s>\n", tag);
}

static int study_write(const char *dir, json_t *secs, const json_t *env, int quick,
		       double elapsed, const char *when)
{
	char path[PATH_MAX + 16], why[300];
	FILE *md, *h;
	json_t *sec, *x;
	size_t i, j;
	int have_gp = ipcl_study_have("gnuplot");

	snprintf(path, sizeof path, "%s/study.md", dir);
	if (!(md = study_create(path)))
		return -errno;
	snprintf(path, sizeof path, "%s/study.html", dir);
	if (!(h = study_create(path))) {
		fclose(md);
		return -errno;
	}
	char machine[512];
	snprintf(machine, sizeof machine, "%s, %lld CPUs, %s, %s",
		 study_str(env, "cpu_model"),
		 (long long)json_integer_value(json_object_get(env, "cores_online")),
		 study_str(env, "kernel"), study_str(env, "compiler"));
	char runline[256];
	snprintf(runline, sizeof runline, "ipclab study%s, at %s, %.0f s",
		 quick ? " --quick" : "", when, elapsed);

	fprintf(md,
		"# What the notes claim, measured here\n\nMachine: %s.  \nRun: %s.\n\n",
		machine, runline);
	fputs(
	    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ipclab "
	    "study</title>\n"
	    "<style>body{font-family:sans-serif;max-width:980px;margin:auto;padding:1em}"
	    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;"
	    "padding:2px 6px}td.n{text-align:right}caption{text-align:left;font-style:"
	    "italic}.v{font-size:1.1em}code{background:#eee}</style></head><body>\n",
	    h);
	study_html_text(h, "h1", NULL, "What the notes claim, measured here");
	study_html_text(h, "p", "Machine:", machine);
	study_html_text(h, "p", "Run:", runline);

	fputs("| # | claim | verdict |\n| ---: | --- | --- |\n", md);
	fputs("<table><tr><th>#</th><th>claim</th><th>verdict</th></tr>\n", h);
	json_array_foreach(secs, i, sec)
	{
		fprintf(md, "| %lld | %s | %s |\n",
			(long long)json_integer_value(json_object_get(sec, "number")),
			study_str(sec, "claim"), study_str(sec, "verdict"));
		fprintf(h, "<tr><td>%lld</td><td>",
			(long long)json_integer_value(json_object_get(sec, "number")));
		study_html_esc(h, study_str(sec, "claim"));
		fputs("</td><td>", h);
		study_html_esc(h, study_str(sec, "verdict"));
		fputs("</td></tr>\n", h);
	}
	fputs("\n", md);
	fputs("</table>\n", h);

	json_array_foreach(secs, i, sec)
	{
		char head[256];

		snprintf(head, sizeof head, "%lld. %s",
			 (long long)json_integer_value(json_object_get(sec, "number")),
			 study_str(sec, "title"));
		fprintf(md, "## %s\n\n**Claim.** %s\n\n**Experiment.** %s\n\n", head,
			study_str(sec, "claim"), study_str(sec, "experiment"));
		study_html_text(h, "h2", NULL, head);
		study_html_text(h, "p", "Claim.", study_str(sec, "claim"));
		study_html_text(h, "p", "Experiment.", study_str(sec, "experiment"));
		if (json_object_get(sec, "error")) {
			fprintf(md, "**Error.** %s\n\n", study_str(sec, "error"));
			study_html_text(h, "p", "Error.", study_str(sec, "error"));
		}
		json_array_foreach(json_object_get(sec, "tables"), j, x)
		{
			study_md_table(md, x);
			study_html_table(h, x);
		}
		json_array_foreach(json_object_get(sec, "charts"), j, x)
		{
			char *svg = NULL;

			why[0] = 0;
			if (!have_gp)
				snprintf(why, sizeof why, "gnuplot is not installed");
			else
				svg = study_chart(x, dir, why, sizeof why);
			if (svg) {
				fprintf(md, "![%s](study-%s.svg)\n\n",
					study_str(x, "title"), study_str(x, "id"));
				fputs("<figure>", h);
				fputs(svg,
				      h); /* gnuplot's own SVG; its text it escaped */
				fputs("</figure>\n", h);
				free(svg);
			} else {
				fprintf(md, "(chart \"%s\" not drawn: %s)\n\n",
					study_str(x, "title"), why);
				char msg[600];
				snprintf(msg, sizeof msg, "chart \"%s\" not drawn: %s",
					 study_str(x, "title"), why);
				study_html_text(h, "p", NULL, msg);
			}
		}
		if (json_array_size(json_object_get(sec, "notes")))
			fputs("<ul>\n", h);
		json_array_foreach(json_object_get(sec, "notes"), j, x)
		{
			fprintf(md, "- %s\n", json_string_value(x));
			study_html_text(h, "li", NULL, json_string_value(x));
		}
		if (json_array_size(json_object_get(sec, "notes"))) {
			fputs("\n", md);
			fputs("</ul>\n", h);
		}
		fprintf(md, "**Verdict: %s.** %s\n\n**Reproduce:** `%s`\n\n",
			study_str(sec, "verdict"), study_str(sec, "why"),
			study_str(sec, "command"));
		char verdict[64];
		snprintf(verdict, sizeof verdict, "Verdict: %s.",
			 study_str(sec, "verdict"));
		fputs("<p class=v>", h);
		study_html_text(h, "span", verdict, study_str(sec, "why"));
		fputs("</p>\n<p><b>Reproduce:</b> <code>", h);
		study_html_esc(h, study_str(sec, "command"));
		fputs("</code></p>\n", h);
	}
	fputs("</body></html>\n", h);
	int bad = ferror(md) || ferror(h);
	bad |= fclose(md) != 0;
	bad |= fclose(h) != 0;
	return bad ? -EIO : 0;
}

int ipcl_cmd_study(int argc, char **argv)
{
	static const struct option lo[] = {{"quick", no_argument, NULL, 'q'},
					   {"output", required_argument, NULL, 'o'},
					   {"report-dir", required_argument, NULL, 'r'},
					   {"only", required_argument, NULL, 'O'},
					   {"no-progress", no_argument, NULL, 'P'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	struct ipcl_study_opts o = {.quick = 0, .progress = 1};
	const char *output = NULL, *dir = NULL;
	char dirbuf[PATH_MAX], runs[PATH_MAX + 16], outbuf[PATH_MAX + 16], when[32],
	    err[IPCL_OUTPUT_ERRLEN];
	const char *bad;
	int sel[NCLAIMS] = {0}, any = 0, c, failed = 0, rc;
	json_t *secs = json_array(), *env = ipcl_env_json(), *x;
	int64_t t0 = ipcl_now_ns();
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qo:r:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case 'r':
			dir = optarg;
			break;
		case 'O':
			if ((bad = study_select(optarg, sel))) {
				rc = ipcl_usage_error(
				    "study",
				    "unknown claim '%s' (1..9 or a name: spawn, "
				    "ctxswitch, shm, pipes, race, pubsub, "
				    "broker-kill, outbox, eventloop)",
				    bad);
				goto out;
			}
			any = 1;
			break;
		case 'P':
			o.progress = 0;
			break;
		case 'h':
			fputs(study_help, stdout);
			rc = 0;
			goto out;
		case ':':
			rc = ipcl_usage_error("study", "option '%s' needs a value",
					      argv[optind - 1]);
			goto out;
		default:
			rc = ipcl_usage_error("study", "unknown option '%s'",
					      argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = ipcl_usage_error("study", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!any)
		for (int k = 0; k < NCLAIMS; k++)
			sel[k] = 1;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!dir) {
		char stamp[32];
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		snprintf(dirbuf, sizeof dirbuf, "results/study-%s", stamp);
		dir = dirbuf;
	}
	if ((rc = study_mkdirs(dir, err, sizeof err))) {
		rc = ipcl_usage_error("study", "cannot create --report-dir '%s': %s", dir,
				      err);
		goto out;
	}
	if (!output) {
		snprintf(outbuf, sizeof outbuf, "%s/study.jsonl", dir);
		output = outbuf;
	}

	int nsel = 0, k = 0;
	for (int n = 0; n < NCLAIMS; n++)
		nsel += sel[n];
	for (int n = 0; n < NCLAIMS; n++) {
		json_t *sec;
		int64_t s0 = ipcl_now_ns();
		char cmd[128];

		if (!sel[n])
			continue;
		k++;
		ipcl_study_progress(&o, "[%d/%d] claim %d (%s): %s", k, nsel, n + 1,
				    claims[n].id, claims[n].claim);
		snprintf(cmd, sizeof cmd, "ipclab study%s --only %s",
			 o.quick ? " --quick" : "", claims[n].id);
		sec =
		    json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:b}", "schema",
			      "ipclab.study/1", "pattern", "study", "time", when, "claim",
			      claims[n].claim, "number", n + 1, "id", claims[n].id,
			      "title", claims[n].title, "command", cmd, "quick", o.quick);
		rc = claims[n].fn(&o, sec);
		if (rc) {
			json_object_set_new(sec, "error", json_string(strerror(-rc)));
			ipcl_study_verdict(sec, "not measured",
					   "The experiment could not run: %s.",
					   strerror(-rc));
			failed = 1;
		}
		if (!json_object_get(sec, "verdict"))
			ipcl_study_verdict(sec, "not measured",
					   "The experiment gave no verdict.");
		json_object_set_new(sec, "elapsed_s",
				    json_real((ipcl_now_ns() - s0) / 1e9));
		json_object_set(sec, "env", env);
		ipcl_study_progress(&o, "[%d/%d] %s: %s (%.1f s)", k, nsel, claims[n].id,
				    study_str(sec, "verdict"),
				    (ipcl_now_ns() - s0) / 1e9);
		json_array_append_new(secs, sec);
	}
	double elapsed = (ipcl_now_ns() - t0) / 1e9;
	unlink(output); /* the study's records of this run, not an append */
	json_array_foreach(secs, i, x) if ((rc = ipcl_result_append(output, x)))
	{
		fprintf(stderr, "ipclab study: writing %s: %s\n", output, strerror(-rc));
		rc = 1;
		goto out;
	}
	if (json_array_size(ipcl_study_runs())) {
		snprintf(runs, sizeof runs, "%s/runs.jsonl", dir);
		unlink(runs);
		json_array_foreach(ipcl_study_runs(), i, x) ipcl_result_append(runs, x);
	}
	if ((rc = study_write(dir, secs, env, o.quick, elapsed, when))) {
		fprintf(stderr, "ipclab study: writing %s/study.md: %s\n", dir,
			strerror(-rc));
		rc = 1;
		goto out;
	}
	ipcl_study_progress(&o, "wrote %s/study.md, %s/study.html and %s (%.1f s)", dir,
			    dir, output, elapsed);
	rc = failed;
out:
	json_decref(secs);
	json_decref(env);
	json_array_clear(ipcl_study_runs());
	return rc;
}
