/*
 * suite.c - reads a suite file of `ipclab compare` with libinih (ini_parse):
 * [compare] sets plan values through the same parsers as the command line;
 * [<transport>] sections give that transport's -O options, checked against
 * its option table, names and values (cli/optcheck.c), when the file is read.
 * Only a regular file is read. No includes, no defaults sections, no
 * interpolation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/optcheck.h"
#include "cli/suite.h"
#include "engine/parse.h"

struct suite {
	struct ipcl_plan *pl;
	unsigned set; /* SET_* given on the command line: keep those */
	char err[300];
};

/*
 * libinih calls this for every name = value. Section [compare] holds the plan;
 * any other section names a transport and holds its options (-O). Returns 1,
 * or 0 with s->err set (libinih then reports the line number).
 */
static int suite_line(void *user, const char *section, const char *name,
		      const char *value)
{
	struct suite *s = user;
	struct ipcl_plan *pl = s->pl;
	char *e = s->err;
	size_t n = sizeof s->err;

	if (s->err[0])
		return 0;
	if (strcmp(section, "compare") == 0) {
		if (strcmp(name, "transports") == 0)
			return (s->set & IPCL_SET_ONLY) ||
			       !ipcl_plan_transports(value, pl, e, n);
		if (strcmp(name, "sizes") == 0)
			return (s->set & IPCL_SET_SIZES) ||
			       !ipcl_plan_sizes(value, pl, e, n);
		if (strcmp(name, "patterns") == 0)
			return (s->set & IPCL_SET_PATTERNS) ||
			       !ipcl_plan_patterns(value, pl, e, n);
		if (strcmp(name, "duration") == 0)
			return (s->set & (IPCL_SET_DURATION | IPCL_SET_COUNT)) ||
			       !ipcl_plan_time("duration", value, &pl->duration, e, n);
		if (strcmp(name, "budget") == 0)
			return (s->set & IPCL_SET_BUDGET) ||
			       !ipcl_plan_time("budget", value, &pl->budget, e, n);
		if (strcmp(name, "repeat") == 0)
			return (s->set & IPCL_SET_REPEAT) ||
			       !ipcl_plan_repeat(value, &pl->repeat, e, n);
		if (strcmp(name, "rate_fraction") == 0)
			return (s->set & (IPCL_SET_FRACTION | IPCL_SET_RATES)) ||
			       !ipcl_plan_fraction(value, &pl->fraction, e, n);
		if (strcmp(name, "rates") == 0)
			return (s->set & (IPCL_SET_RATES | IPCL_SET_FRACTION)) ||
			       !ipcl_plan_rates(value, pl, e, n);
		if (strcmp(name, "pin") == 0)
			return (s->set & IPCL_SET_PIN) ||
			       !ipcl_plan_pin(value, &pl->pin, e, n);
		if (strcmp(name, "count") == 0) {
			if (s->set & (IPCL_SET_DURATION | IPCL_SET_COUNT))
				return 1;
			if (ipcl_parse_count(value, &pl->count) || !pl->count) {
				snprintf(e, n, "bad count '%s': want a positive number",
					 value);
				return 0;
			}
			return 1;
		}
		if (strcmp(name, "mode") == 0) {
			if (s->set & IPCL_SET_THREADS)
				return 1;
			if (strcmp(value, "process") && strcmp(value, "thread")) {
				snprintf(e, n, "bad mode '%s': want process or thread",
					 value);
				return 0;
			}
			pl->threads = strcmp(value, "thread") == 0;
			return 1;
		}
		snprintf(
		    e, n,
		    "unknown key '%s' in [compare] (want transports, sizes, patterns, "
		    "duration, count, repeat, budget, rates, rate_fraction, mode, pin)",
		    name);
		return 0;
	}
	{
		const struct ipcl_transport *t = ipcl_transport_find(section);
		const struct ipcl_option *o = t ? t->options : NULL;

		if (!t) {
			snprintf(
			    e, n,
			    "unknown section [%s]: want [compare] or a transport name",
			    section);
			return 0;
		}
		while (o && o->name && strcmp(o->name, name))
			o++;
		if (!o || !o->name) {
			snprintf(e, n, "%s has no option '%s' (see `ipclab list %s`)",
				 section, name, section);
			return 0;
		}
		if (ipcl_option_check(section, o, value, e, n))
			return 0;
		if (pl->nopts >= IPCL_PLAN_MAX_OPTS ||
		    strlen(value) >= sizeof pl->opt[0].kv.val) {
			snprintf(e, n, "too many options, or value of '%s' too long",
				 name);
			return 0;
		}
		snprintf(pl->opt[pl->nopts].transport, sizeof pl->opt[0].transport, "%s",
			 section);
		snprintf(pl->opt[pl->nopts].kv.key, sizeof pl->opt[0].kv.key, "%s", name);
		snprintf(pl->opt[pl->nopts].kv.val, sizeof pl->opt[0].kv.val, "%s",
			 value);
		pl->nopts++;
	}
	return 1;
}

int ipcl_suite_read(const char *path, struct ipcl_plan *pl, unsigned set)
{
	struct suite s = {.pl = pl, .set = set};
	FILE *f = fopen(path, "r");
	struct stat st;
	int rc;

	if (!f) {
		fprintf(stderr, "ipclab compare: cannot read --suite '%s': %s\n", path,
			strerror(errno));
		return 2;
	}
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "ipclab compare: --suite '%s' is not a regular file\n",
			path);
		fclose(f);
		return 2;
	}
	rc = ini_parse_file(f, suite_line, &s);
	if (ferror(f) && rc == 0)
		rc = -1;
	fclose(f);
	if (rc == 0)
		return 0;
	if (rc == -1)
		fprintf(stderr, "ipclab compare: cannot read --suite '%s'\n", path);
	else if (rc == -2)
		fprintf(stderr, "ipclab compare: out of memory reading '%s'\n", path);
	else
		fprintf(stderr, "ipclab compare: %s:%d: %s\n", path, rc,
			s.err[0] ? s.err : "not a name = value line or [section]");
	return 2;
}
