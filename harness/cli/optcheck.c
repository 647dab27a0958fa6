/*
 * optcheck.c - checks a transport option's value from its table entry: the
 * '|'-separated choices when the entry has them, else a number (a size such
 * as 4M, or a plain decimal such as 0.5) when its default is one. libc and
 * engine/parse only. Leaves out: ranges (the transport checks those at set-up).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/optcheck.h"
#include "engine/parse.h"

/* Is s a number: a size with an optional K/M/G, or a non-negative decimal? */
static int optcheck_number(const char *s)
{
	size_t sz;
	char *end;
	double d;

	if (!*s)
		return 0;
	if (ipcl_parse_size(s, &sz) == 0)
		return 1;
	d = strtod(s, &end);
	return end != s && !*end && d >= 0;
}

/* Is value one of the '|'-separated words of choices? */
static int optcheck_choice(const char *choices, const char *value)
{
	size_t len = strlen(value);

	for (const char *p = choices; *p;) {
		size_t w = strcspn(p, "|");

		if (w == len && !strncmp(p, value, len))
			return 1;
		p += w + (p[w] == '|');
	}
	return 0;
}

int ipcl_option_check(const char *tname, const struct ipcl_option *o, const char *value,
		      char *err, size_t n)
{
	if (o->choices) {
		if (optcheck_choice(o->choices, value))
			return 0;
		snprintf(err, n, "option %s=%.60s of %s: want one of %s", o->name, value,
			 tname, o->choices);
		return -1;
	}
	if (o->def && optcheck_number(o->def) && !optcheck_number(value)) {
		snprintf(err, n, "option %s=%.60s of %s: want a number (default %s)",
			 o->name, value, tname, o->def);
		return -1;
	}
	return 0;
}
