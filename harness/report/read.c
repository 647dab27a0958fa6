/*
 * read.c - JSON-lines result files into report records: getline + jansson
 * (json_loads per line), the figures pulled out by name, the grouping key and
 * the records' environments. A line that is not a record of this schema with
 * its key fields well typed is skipped with a "FILE:LINE: skipped: why" line
 * (read_check); a figure missing or mistyped inside a record reads as NaN.
 * Leaves out: writing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "report/read.h"

double ipcl_report_num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

long long ipcl_report_int(json_t *o, const char *a, const char *b)
{
	double d = ipcl_report_num(o, a, b);

	/* A file may hold any number: clamp before the cast (out of range is
	 * undefined behaviour). 2^62 is beyond any count or size. */
	if (isnan(d))
		return 0;
	if (d > 0x1p62)
		return 1LL << 62;
	if (d < -0x1p62)
		return -(1LL << 62);
	return (long long)d;
}

const char *ipcl_report_str(json_t *o, const char *a, const char *b, const char *def)
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
 * run is not part of it but of the key's rate group (ipcl_report_rate_cmp).
 */
static void read_setup(struct ipcl_report_rec *r, json_t *j)
{
	json_t *p = json_object_get(j, "params"), *o = json_object_get(p, "options"), *v;
	const char *pl = ipcl_report_str(p, "placement", NULL, "none"), *k;
	long long np = ipcl_report_int(p, "producers", NULL),
		  nc = ipcl_report_int(p, "consumers", NULL);
	size_t n;

	n = (size_t)snprintf(r->setup, sizeof r->setup, "%s",
			     ipcl_report_str(p, "mode", NULL, "process"));
	if (strcmp(pl, "none") != 0 && n < sizeof r->setup)
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %s", pl);
	if ((np > 1 || nc > 1) && n < sizeof r->setup)
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %lldx%lld",
				      np, nc);
	/* A stand-in server (Kafka's mock cluster) is a set-up of its own. */
	if (json_is_true(json_object_get(json_object_get(j, "limits"), "mock")) &&
	    n < sizeof r->setup)
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", mock");
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "url") == 0 || !json_is_string(v) || n >= sizeof r->setup)
			continue;
		n += (size_t)snprintf(r->setup + n, sizeof r->setup - n, ", %s=%s", k,
				      json_string_value(v));
	}
}

/* A boolean member of o: 1, 0, or -1 when o has no such boolean. */
static int read_bool(json_t *o, const char *a)
{
	json_t *v = json_object_get(o, a);

	return json_is_boolean(v) ? json_is_true(v) : -1;
}

/*
 * Did the record's sender fall behind its schedule? "late_sender" at the top
 * level, or inside "sender_lag" or "schedule_lag" (where the timing figures
 * live); -1 when no record field says.
 */
static int read_late(json_t *j)
{
	int v = read_bool(j, "late_sender");

	if (v < 0)
		v = read_bool(json_object_get(j, "sender_lag"), "late_sender");
	if (v < 0)
		v = read_bool(json_object_get(j, "schedule_lag"), "late_sender");
	return v;
}

void ipcl_report_rec_fill(struct ipcl_report_rec *r, json_t *j, int idx)
{
	json_t *lat = json_object_get(j, "latency"), *cpu = json_object_get(j, "cpu");
	int mock = read_bool(j, "mock"),
	    lmock = read_bool(json_object_get(j, "limits"), "mock");
	json_t *zl = json_object_get(j, "zero_loss");

	r->j = j;
	r->idx = idx;
	r->transport = ipcl_report_str(j, "transport", NULL, "?");
	r->pattern = ipcl_report_str(j, "pattern", NULL, "?");
	r->zl_search = json_is_object(zl);
	if (r->zl_search)
		r->pattern = "stream"; /* its best trial may be a rate run */
	r->kind = ipcl_report_str(j, "kind", NULL, "");
	read_setup(r, j);
	r->status = ipcl_report_str(j, "status", NULL, "?");
	r->size = ipcl_report_int(j, "params", "size");
	r->count = ipcl_report_int(j, "latency", "count");
	r->min = ipcl_report_num(j, "latency", "min");
	r->p50 = ipcl_report_num(j, "latency", "p50");
	r->p90 = ipcl_report_num(j, "latency", "p90");
	r->p99 = ipcl_report_num(j, "latency", "p99");
	r->p999 = ipcl_report_num(j, "latency", "p99_9");
	r->p9999 = ipcl_report_num(j, "latency", "p99_99");
	r->max = ipcl_report_num(j, "latency", "max");
	r->msgs_s = ipcl_report_num(j, "throughput", "msgs_per_s");
	r->mb_s = ipcl_report_num(j, "throughput", "mb_per_s");
	r->cpu_rx = ipcl_report_num(cpu, "receiver", "total_ns_per_msg");
	r->cpu_tx = ipcl_report_num(cpu, "sender", "total_ns_per_msg");
	r->cpu = r->cpu_rx + r->cpu_tx;
	r->cpu_srv =
	    ipcl_report_num(json_object_get(cpu, "server"), "total_ns_per_msg", NULL);
	r->srv_note = ipcl_report_str(json_object_get(cpu, "server"), "note", NULL, NULL);
	r->rate = ipcl_report_num(j, "params", "rate");
	r->rate_frac = ipcl_report_num(j, "params", "rate_fraction");
	r->sent = ipcl_report_int(j, "verify", "sent");
	r->expected = ipcl_report_int(j, "verify", "expected");
	r->lost_after_ack = ipcl_report_int(j, "verify", "lost_after_ack");
	r->lost = ipcl_report_int(j, "verify", "lost");
	r->dup = ipcl_report_int(j, "verify", "duplicated");
	r->reord = ipcl_report_int(j, "verify", "reordered");
	r->corrupt = ipcl_report_int(j, "verify", "corrupt");
	r->flow = read_bool(j, "flow_control");
	r->late = read_late(j);
	r->mock = mock > 0 || lmock > 0 ? 1 : mock < 0 && lmock < 0 ? -1 : 0;
	r->zero_loss = ipcl_report_num(zl, "rate", NULL); /* NaN for null */
	r->spectrum = json_object_get(lat, "spectrum");
	if (!json_is_array(r->spectrum))
		r->spectrum = NULL;
}

int ipcl_report_has_cap(json_t *j, const char *cap)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(j, "caps"), i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), cap))
			return 1;
	}
	return 0;
}

/* Appends j to the array *a of *n records; 0 or -1 (out of memory). */
static int read_push(json_t ***a, int *n, json_t *j)
{
	json_t **na = realloc(*a, sizeof *na * (size_t)(*n + 1));

	if (!na)
		return -1;
	*a = na;
	(*a)[(*n)++] = j;
	return 0;
}

/* Takes j into set: a hiccup record into set->floor, a fault run into
 * set->fault, any other into set->r. Returns 0, or -1 (out of memory; j is
 * released). */
static int read_add(struct ipcl_report_set *set, json_t *j)
{
	/* A hiccup record (compare's bare paced loop, issue 12) is the machine's
	 * floor, not a transport's row: kept apart, for the charts' floor line. */
	if (!strcmp(ipcl_report_str(j, "pattern", NULL, ""), "hiccup")) {
		if (read_push(&set->floor, &set->nfloor, j))
			goto fail;
	} else if (json_is_object(json_object_get(j, "fault"))) {
		json_t **nf = realloc(set->fault, sizeof *nf * (size_t)(set->nfault + 1));

		if (!nf)
			goto fail;
		set->fault = nf;
		set->fault[set->nfault++] = j;
	} else {
		struct ipcl_report_rec *nr =
		    realloc(set->r, sizeof *nr * (size_t)(set->nr + 1));

		if (!nr)
			goto fail;
		set->r = nr;
		ipcl_report_rec_fill(&set->r[set->nr], j, set->nr);
		set->nr++;
	}
	return 0;
fail:
	json_decref(j);
	return -1;
}

/* Fields that must be objects when present, and are then read by name. */
static const char *const read_objects[] = {"params",  "env",        "verify", "latency",
					   "one_way", "throughput", "cpu",    "fault"};

/*
 * Is j a record this report can read? Returns NULL, or what is wrong with it
 * as a short phrase. Wanted: an object of schema IPCL_REPORT_SCHEMA with a
 * non-empty transport and a known pattern (pingpong, stream, rate, or hiccup:
 * compare's noise floor, whose cpu may be null), status a string where present, the
 * sections above objects where present, and latency.spectrum an array of
 * [percentile, ns] number pairs where present. Figures inside the sections
 * are checked where they are read (a mistyped one reads as missing).
 */
static const char *read_check(json_t *j, char *why, size_t n)
{
	json_t *schema = json_object_get(j, "schema"), *sp, *pt;
	const char *pat;
	size_t i;

	if (!json_is_object(j))
		return "not a JSON object";
	if (!json_is_string(schema))
		return "no \"schema\": not an ipclab result record";
	if (strcmp(json_string_value(schema), IPCL_REPORT_SCHEMA)) {
		snprintf(why, n, "a record of another schema '%.60s' (want '%s')",
			 json_string_value(schema), IPCL_REPORT_SCHEMA);
		return why;
	}
	if (!json_is_string(json_object_get(j, "transport")) ||
	    !*json_string_value(json_object_get(j, "transport")))
		return "no \"transport\" string";
	pat = json_string_value(json_object_get(j, "pattern"));
	if (!pat)
		return "no \"pattern\" string";
	if (strcmp(pat, "pingpong") && strcmp(pat, "stream") && strcmp(pat, "rate") &&
	    strcmp(pat, "hiccup")) {
		snprintf(why, n, "unknown pattern '%.40s'", pat);
		return why;
	}
	if (json_object_get(j, "status") && !json_is_string(json_object_get(j, "status")))
		return "\"status\" is not a string";
	for (i = 0; i < sizeof read_objects / sizeof *read_objects; i++) {
		json_t *v = json_object_get(j, read_objects[i]);

		/* a hiccup record (no transport ran) has "cpu": null, "limits": null */
		if (v && !json_is_object(v) &&
		    !(json_is_null(v) && !strcmp(pat, "hiccup"))) {
			snprintf(why, n, "\"%s\" is not an object", read_objects[i]);
			return why;
		}
	}
	sp = json_object_get(json_object_get(j, "latency"), "spectrum");
	if (sp && !json_is_array(sp))
		return "\"latency.spectrum\" is not an array";
	json_array_foreach(sp, i, pt)
	{
		if (json_array_size(pt) != 2 || !json_is_number(json_array_get(pt, 0)) ||
		    !json_is_number(json_array_get(pt, 1)))
			return "\"latency.spectrum\" holds something other than "
			       "[percentile, ns] pairs";
	}
	return NULL;
}

/* One line about a skipped record to warn (if not NULL), at most
 * READ_MAX_WARN per file, then a count. */
#define READ_MAX_WARN 10

int ipcl_report_read(struct ipcl_report_set *set, const char *path, FILE *warn, char *err,
		     size_t n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, why[160];
	size_t cap = 0;
	ssize_t len;
	long lineno = 0, skipped = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, n, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		const char *bad;
		json_t *j;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		j = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
		bad = j ? read_check(j, why, sizeof why) : jerr.text;
		if (bad) {
			if (warn && skipped < READ_MAX_WARN)
				fprintf(warn, "%s:%ld: skipped: %s\n", path, lineno, bad);
			skipped++;
			set->skipped++;
			json_decref(j);
			continue;
		}
		if (read_add(set, j)) {
			snprintf(err, n, "out of memory");
			rc = -1;
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, n, "cannot read '%s': %s", path, strerror(errno));
		rc = -1;
	}
	if (warn && skipped > READ_MAX_WARN)
		fprintf(warn, "%s: %ld more records skipped\n", path,
			skipped - READ_MAX_WARN);
out:
	free(line);
	fclose(f);
	return rc;
}

void ipcl_report_set_free(struct ipcl_report_set *set)
{
	for (int i = 0; i < set->nr; i++)
		json_decref(set->r[i].j);
	for (int i = 0; i < set->nfault; i++)
		json_decref(set->fault[i]);
	for (int i = 0; i < set->nfloor; i++)
		json_decref(set->floor[i]);
	free(set->r);
	free(set->fault);
	free(set->floor);
}

/* a < b for doubles with NaN first; -1, 0 or 1. */
static int read_cmp_num(double a, double b)
{
	if (isnan(a) || isnan(b))
		return !isnan(a) - !isnan(b);
	return (a > b) - (a < b);
}

int ipcl_report_rate_cmp(const struct ipcl_report_rec *x, const struct ipcl_report_rec *y)
{
	int c;

	if (strcmp(x->pattern, "rate") || strcmp(y->pattern, "rate"))
		return 0;
	/* fraction-of-capacity runs first, one group per fraction (their
	 * absolute rates differ by transport); then each absolute rate */
	c = isnan(x->rate_frac) - isnan(y->rate_frac);
	if (!c)
		c = read_cmp_num(x->rate_frac, y->rate_frac);
	if (!c && isnan(x->rate_frac))
		c = read_cmp_num(x->rate, y->rate);
	return c;
}

int ipcl_report_key_cmp(const struct ipcl_report_rec *x, const struct ipcl_report_rec *y)
{
	int c = strcmp(x->pattern, y->pattern);

	if (!c)
		c = (x->size > y->size) - (x->size < y->size);
	if (!c)
		c = ipcl_report_rate_cmp(x, y);
	if (!c)
		c = strcmp(x->transport, y->transport);
	if (!c)
		c = strcmp(x->setup, y->setup);
	if (!c)
		c = x->zl_search - y->zl_search;
	return c;
}

static int read_cmp_rec(const void *a, const void *b)
{
	const struct ipcl_report_rec *x = a, *y = b;
	int c = ipcl_report_key_cmp(x, y);

	return c ? c : x->idx - y->idx;
}

void ipcl_report_sort(struct ipcl_report_set *set)
{
	if (set->nr > 1)
		qsort(set->r, (size_t)set->nr, sizeof *set->r, read_cmp_rec);
}

/* The environment of j as "kernel \x1f CPU \x1f cores \x1f libraries" in a
 * new string, or NULL (out of memory). */
static char *read_env_key(json_t *j)
{
	json_t *env = json_object_get(j, "env"), *libs, *v;
	char *s = NULL, *l = NULL;
	const char *k;
	size_t ll = 0;
	FILE *m = open_memstream(&l, &ll);

	if (!m)
		return NULL;
	libs = json_object_get(env, "libraries");
	json_object_foreach(libs, k, v)
	{
		fprintf(m, "%s%s %s", ftell(m) ? ", " : "", k,
			json_is_string(v) ? json_string_value(v) : "?");
	}
	if (fclose(m)) {
		free(l);
		return NULL;
	}
	if (asprintf(&s, "%s\x1f%s\x1f%lld\x1f%s",
		     ipcl_report_str(env, "kernel", NULL, "?"),
		     ipcl_report_str(env, "cpu_model", NULL, "?"),
		     ipcl_report_int(env, "cores_online", NULL), l ? l : "") < 0)
		s = NULL;
	free(l);
	return s;
}

int ipcl_report_env_keys(const struct ipcl_report_set *set, char ***keys, int **cnt)
{
	char **seen = calloc((size_t)set->nr + 1, sizeof *seen);
	int *n = calloc((size_t)set->nr + 1, sizeof *n);
	int ns = 0;

	if (!seen || !n)
		goto fail;
	for (int i = 0; i < set->nr; i++) {
		char *s = read_env_key(set->r[i].j);
		int j;

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
	ipcl_report_env_free(seen, n, ns);
	return -1;
}

void ipcl_report_env_free(char **keys, int *cnt, int n)
{
	for (int j = 0; j < n; j++)
		free(keys[j]);
	free(keys);
	free(cnt);
}
