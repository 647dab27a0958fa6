/*
 * hgrm.c - the HdrHistogram percentile text of each run ("Value Percentile
 * TotalCount 1/(1-Percentile)", then mean, max and count), from the record's
 * latency spectrum; values in us. stdio, mkdir(2). Leaves out: the full
 * histogram (the spectrum's points only).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "report/hgrm.h"

/* The text of one run's distribution into f; returns fclose's result. */
static int hgrm_write(FILE *f, const struct ipcl_report_rec *r)
{
	size_t i;
	json_t *pt;

	fprintf(f, "%12s %14s %10s %14s\n\n", "Value(us)", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	json_array_foreach(r->spectrum, i, pt)
	{
		double p = json_number_value(json_array_get(pt, 0)) / 100;
		double ns = json_number_value(json_array_get(pt, 1));
		long long n = llround(p * (double)r->count);

		if (p < 1)
			fprintf(f, "%12.3f %14.12f %10lld %14.2f\n", ns / 1000, p, n,
				1 / (1 - p));
		else
			fprintf(f, "%12.3f %14.12f %10lld %14s\n", ns / 1000, p, n,
				"inf");
	}
	fprintf(f, "#[Mean = %12.3f, Max = %12.3f]\n#[Total count = %12lld]\n",
		ipcl_report_num(r->j, "latency", "mean") / 1000, r->max / 1000, r->count);
	return fclose(f);
}

int ipcl_report_hgrm(const struct ipcl_report_rows *rows, const char *dir)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/hgrm", dir);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	for (int g = 0; g < rows->ng; g++)
		for (int k = 0; k < rows->g[g].n; k++) {
			const struct ipcl_report_rec *r = &rows->g[g].runs[k];
			int setup = strcmp(r->setup, "process") != 0;
			FILE *f;

			if (!r->spectrum)
				continue;
			snprintf(path, sizeof path, "%s/hgrm/%s-%s-%lld-%d%s%s.hgrm", dir,
				 r->transport, r->pattern, r->size, k + 1,
				 setup ? "-" : "", setup ? r->setup : "");
			for (char *p = path + strlen(dir) + 6; *p; p++)
				if (*p == '/')
					*p = '_';
			f = fopen(path, "w");
			if (!f || hgrm_write(f, r))
				return -1;
		}
	return 0;
}
