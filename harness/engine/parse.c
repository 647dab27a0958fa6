/*
 * parse.c - strict value parsing for the CLI (parse.h). strtod/strtoull with
 * full-string checks; nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/parse.h"

/* A non-negative decimal number and the suffix after it. */
static int parse_number(const char *s, double *v, const char **suffix)
{
	char *end;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || !isfinite(*v) || *v < 0)
		return -EINVAL;
	if (strncasecmp(s, "0x", 2) == 0 || strpbrk(s, "nN") == s)
		return -EINVAL; /* no hex, nan or inf */
	*suffix = end;
	return 0;
}

int ipcl_parse_size(const char *s, size_t *out)
{
	const char *suf;
	double v, mul = 1;

	if (parse_number(s, &v, &suf))
		return -EINVAL;
	switch (*suf) {
	case 'k':
	case 'K':
		mul = 1024.0;
		suf++;
		break;
	case 'm':
	case 'M':
		mul = 1024.0 * 1024;
		suf++;
		break;
	case 'g':
	case 'G':
		mul = 1024.0 * 1024 * 1024;
		suf++;
		break;
	default:
		break;
	}
	if (mul > 1 && (strcmp(suf, "iB") == 0 || strcmp(suf, "B") == 0))
		suf += strlen(suf);
	else if (mul == 1 && strcmp(suf, "B") == 0)
		suf++;
	if (*suf)
		return -EINVAL;
	v *= mul;
	if (v != floor(v) || v > (double)SIZE_MAX / 2)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

int ipcl_parse_count(const char *s, uint64_t *out)
{
	const char *suf;
	double v, mul = 1;

	if (parse_number(s, &v, &suf))
		return -EINVAL;
	if (*suf == 'k' || *suf == 'K')
		mul = 1e3, suf++;
	else if (*suf == 'M')
		mul = 1e6, suf++;
	else if (*suf == 'G')
		mul = 1e9, suf++;
	if (*suf)
		return -EINVAL;
	v *= mul;
	if (v != floor(v) || v > 1e15)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int ipcl_parse_rate(const char *s, double *out)
{
	const char *suf;
	double v;

	if (parse_number(s, &v, &suf))
		return -EINVAL;
	if (*suf == 'k' || *suf == 'K')
		v *= 1e3, suf++;
	else if (*suf == 'M')
		v *= 1e6, suf++;
	if (*suf || v <= 0 || v > 1e9)
		return -EINVAL;
	*out = v;
	return 0;
}

int ipcl_parse_duration(const char *s, int64_t *ns)
{
	static const struct {
		const char *suf;
		double mul;
	} units[] = {{"", 1e9}, {"s", 1e9},  {"ms", 1e6},   {"us", 1e3},
		     {"ns", 1}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
	const char *suf;
	double v;

	if (parse_number(s, &v, &suf))
		return -EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(suf, units[i].suf) == 0) {
			v *= units[i].mul;
			if (v < 1 || v > 1e9 * 86400 * 30)
				return -EINVAL;
			*ns = (int64_t)v;
			return 0;
		}
	}
	return -EINVAL;
}

int ipcl_parse_cpus(const char *s, int *cpus, int cap)
{
	int n = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		long a, b;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		a = strtol(p, &end, 10);
		b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				return -EINVAL;
			b = strtol(end + 1, &end, 10);
		}
		if (a < 0 || b < a || b > 4095)
			return -EINVAL;
		for (long c = a; c <= b; c++) {
			if (n >= cap)
				return -EINVAL;
			cpus[n++] = (int)c;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		p = end;
	}
	return n;
}
