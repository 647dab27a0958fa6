/*
 * charts.h - the report's charts, drawn by gnuplot (SVG terminal): latency
 * percentile spectrum of pingpong and rate per size, stream throughput by
 * message size, stream CPU per message per size, each split by family;
 * latency over time per run. Each chart is written to DIR/NAME.svg and kept
 * in memory for the HTML page.
 */
#ifndef IPCLAB_REPORT_CHARTS_H
#define IPCLAB_REPORT_CHARTS_H

#include "report/summary.h"

#define IPCL_REPORT_MAX_CHARTS 192

struct ipcl_report_chart {
	char file[96], title[160];
	char *svg; /* gnuplot's output without the XML prolog */
};

struct ipcl_report_charts {
	struct ipcl_report_chart ch[IPCL_REPORT_MAX_CHARTS];
	int nch;
	const char *note; /* why there are no charts (or what was left out), or NULL */
	char note_buf[160];
	int ntime_from; /* ch[ntime_from ..] are latency-over-time charts */
};

/*
 * Draws every chart of rows into dir and c (zeroed by the caller): latency by
 * percentile (pingpong, rate), stream throughput by size and CPU per message,
 * small multiples by family, then latency over time of each row whose
 * representative run measured for more than 1 s. floor, if not NULL, is the
 * hiccup record drawn as the machine's floor. Never fails: a chart gnuplot
 * cannot draw is left out, and with no gnuplot on PATH c->note says so. Prints
 * one line to stderr only when its temporary directory cannot be removed.
 */
void ipcl_report_charts(struct ipcl_report_charts *c, const struct ipcl_report_rows *rows,
			json_t *floor, const char *dir);
void ipcl_report_charts_free(struct ipcl_report_charts *c);

/* For tests (tests/fuzz): when not NULL, called with the path of each script
 * instead of running gnuplot on it (gnuplot need not be installed); returns
 * what gnuplot's exit status would be. The SVG is read from the script's
 * directory, "c.svg", if the hook wrote one. */
extern int (*ipcl_report_gnuplot_hook)(const char *script);

#endif
