/*
 * hgrm.c - the HdrHistogram percentile text of each run ("Value Percentile
 * TotalCount 1/(1-Percentile)", then mean, max and count), from the record's
 * latency spectrum; values in us. stdio; DIR/hgrm and its files through
 * engine/safefile.h (the caller's own directory, temporary name + rename). Leaves out:
 * the full histogram (the spectrum's points only).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/safefile.h"
#include "report/hgrm.h"

/* The text of one run's distribution into f. */
static void hgrm_write(FILE *f, const struct ipcl_report_rec *r)
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
}

int ipcl_report_hgrm(const struct ipcl_report_rows *rows, const char *dir)
{
	char path[4096];
	int dfd, rc = 0;

	snprintf(path, sizeof path, "%s/hgrm", dir);
	if ((dfd = ipcl_output_dir_open(path, NULL, 0)) < 0) {
		errno = -dfd;
		return -1;
	}
	for (int g = 0; g < rows->ng && !rc; g++)
		for (int k = 0; k < rows->g[g].n && !rc; k++) {
			const struct ipcl_report_rec *r = &rows->g[g].runs[k];
			int setup = strcmp(r->setup, "process") != 0;
			struct ipcl_outfile of;

			if (!r->spectrum)
				continue;
			snprintf(path, sizeof path, "%s-%s-%lld-%d%s%s.hgrm",
				 r->transport, r->pattern, r->size, k + 1,
				 setup ? "-" : "", setup ? r->setup : "");
			for (char *p = path; *p; p++)
				if (*p == '/')
					*p = '_';
			if ((rc = ipcl_output_create(&of, dfd, path, NULL, 0)) == 0) {
				hgrm_write(of.f, r);
				rc = ipcl_output_commit(&of, 1, NULL, 0);
			}
		}
	close(dfd);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
