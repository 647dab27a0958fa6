/*
 * csv.c - the report's CSV exports, written with stdio. Leaves out: a
 * spreadsheet-formula guard (a field that starts with = + - @ is written as
 * it is, since the files are data for plotting tools).
 */
#include <math.h>
#include <string.h>

#include "report/csv.h"

void ipcl_csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* The leading fields of a row: pattern, transport, size, mode. */
static void csv_key(FILE *f, const struct ipcl_report_rec *r)
{
	ipcl_csv_field(f, r->pattern);
	fputc(',', f);
	ipcl_csv_field(f, r->transport);
	fprintf(f, ",%lld,", r->size);
	ipcl_csv_field(f, r->setup);
}

void ipcl_csv_summary(FILE *f, const struct ipcl_report_rows *rows)
{
	fputs("pattern,transport,size,mode,runs,p50_us,p50_min_us,p50_max_us,p99_"
	      "us,p99_9_us,max_us,msgs_per_s,mb_per_s,cpu_receiver_ns_per_msg,"
	      "lost,duplicated,cpu_sender_ns_per_msg,target_rate_msgs_per_s,"
	      "p90_us,p99_99_us,min_us,p99_min_us,p99_max_us,percentiles_from,"
	      "flags,latency_count,cpu_server_ns_per_msg,cpu_server_note,ranked,"
	      "msgs_per_s_is\n",
	      f);
	for (int g = 0; g < rows->ng; g++) {
		const struct ipcl_report_row *G = &rows->g[g];
		const struct ipcl_report_rec *m = G->mid;
		const struct ipcl_report_lat *l = &G->lat;
		const struct ipcl_report_figdef *fd[IPCL_REPORT_MAX_FIGS];
		char b[16][48], from[48], fl[300], why[96];

		csv_key(f, G->runs);
		fprintf(f, ",%d,%s,", G->n, ipcl_report_fmt_us(b[0], 48, l->p50));
		if (G->p50.n)
			fprintf(f, "%.2f,%.2f,", G->p50.min / 1000, G->p50.max / 1000);
		else
			fputs("-,-,", f);
		fprintf(f, "%s,%s,%s,%s,%s,%s,%lld,%lld,%s,",
			ipcl_report_fmt_pct(b[1], 48, l->p99, l->count, 99),
			ipcl_report_fmt_pct(b[2], 48, l->p999, l->count, 99.9),
			ipcl_report_fmt_us(b[3], 48, l->max),
			ipcl_report_fmt_f(b[4], 48, 0, G->msgs_s.med),
			ipcl_report_fmt_f(b[5], 48, 2, m->mb_s),
			ipcl_report_fmt_f(b[6], 48, 0, m->cpu_rx), G->lost, G->dup,
			ipcl_report_fmt_f(b[7], 48, 0, m->cpu_tx));
		fprintf(f, "%s,",
			G->rate.n ? ipcl_report_fmt_f(b[8], 48, 0, G->rate.med) : "-");
		if (l->merged)
			snprintf(from, sizeof from, "merged %d", l->merged);
		else
			snprintf(from, sizeof from, isnan(l->p50) ? "-" : "one run");
		fprintf(f, "%s,%s,%s,%s,%s,%s,",
			ipcl_report_fmt_pct(b[9], 48, l->p90, l->count, 90),
			ipcl_report_fmt_pct(b[10], 48, l->p9999, l->count, 99.99),
			ipcl_report_fmt_us(b[11], 48, l->min),
			ipcl_report_fmt_us(b[12], 48, G->p99.n ? G->p99.min : NAN),
			ipcl_report_fmt_us(b[13], 48, G->p99.n ? G->p99.max : NAN), from);
		ipcl_csv_field(f, ipcl_report_flag_text(G, fl, sizeof fl));
		fprintf(f, ",%lld,%s,", l->count,
			ipcl_report_fmt_f(b[14], 48, 0, m->cpu_srv));
		ipcl_csv_field(f, m->srv_note ? m->srv_note : "");
		ipcl_report_figs(G->runs->pattern, fd);
		if (ipcl_report_unranked(G, fd[0], why, sizeof why)) {
			fputs(",", f);
			snprintf(fl, sizeof fl, "no: %s", why);
			ipcl_csv_field(f, fl);
		} else
			fputs(",yes", f);
		/* what msgs_per_s is: "zero-loss" (RFC 2544) or "" (as measured) */
		fprintf(f, ",%s\n", G->zl_fig ? "zero-loss" : "");
	}
}

void ipcl_csv_baseline_head(FILE *f)
{
	fputs("pattern,transport,size,mode,runs_old,runs_new,figure,unit,old,new,"
	      "new_over_old,old_min,old_max,new_min,new_max,verdict\n",
	      f);
}

void ipcl_csv_baseline_line(FILE *f, const struct ipcl_report_rec *r,
			    const struct ipcl_report_row *o,
			    const struct ipcl_report_row *n,
			    const struct ipcl_report_figdef *d, const char *verdict)
{
	static const struct ipcl_report_fig none = {NAN, NAN, NAN, 0};
	const struct ipcl_report_fig *fo = o ? ipcl_report_rowfig(o, d) : &none,
				     *fn = n ? ipcl_report_rowfig(n, d) : &none;
	char b[7][48];

	csv_key(f, r);
	fprintf(f, ",%d,%d,", o ? o->n : 0, n ? n->n : 0);
	ipcl_csv_field(f, d->name);
	fputc(',', f);
	ipcl_csv_field(f, d->unit);
	fprintf(f, ",%s,%s,%s,%s,%s,%s,%s,", ipcl_report_fmt_fig(b[0], 48, d, fo->med),
		ipcl_report_fmt_fig(b[1], 48, d, fn->med),
		ipcl_report_fmt_f(b[2], 48, 2, ipcl_report_ratio(fo, fn)),
		ipcl_report_fmt_fig(b[3], 48, d, fo->min),
		ipcl_report_fmt_fig(b[4], 48, d, fo->max),
		ipcl_report_fmt_fig(b[5], 48, d, fn->min),
		ipcl_report_fmt_fig(b[6], 48, d, fn->max));
	ipcl_csv_field(f, verdict);
	fputc('\n', f);
}
