/*
 * study.h - the experiments behind `ipclab study`: each claim of the OS notes is
 * one function that measures it on this machine and fills a section object
 * (JSON, jansson): the claim, the experiment, tables, charts, named figures and
 * a verdict. harness/cli/study.c runs them and writes study.md, study.html and
 * the JSON-lines records (docs/results.md, "pattern": "study").
 *
 * Timing uses ipcl_now_ns() (CLOCK_MONOTONIC) and the harness's histogram
 * (engine/histogram.h); CPU comes from getrusage or /proc/PID/stat.
 */
#ifndef IPCLAB_STUDY_H
#define IPCLAB_STUDY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "engine/histogram.h"

struct ipcl_study_opts {
	int quick;    /* --quick: fewer points, shorter runs */
	int progress; /* progress lines on stderr */
};

/* One experiment: fills sec, returns 0 or a negative errno when it could not run
 * at all (a partial result is still a result: say what is missing in a note). */
typedef int (*ipcl_study_fn)(const struct ipcl_study_opts *o, json_t *sec);

int ipcl_study_spawn(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_ctxswitch(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_shm(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_pipes(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_race(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_pubsub(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_brokerkill(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_outbox(const struct ipcl_study_opts *o, json_t *sec);
int ipcl_study_eventloop(const struct ipcl_study_opts *o, json_t *sec);

/* ---- filling a section (study.c) ---------------------------------------- */

/* The experiment in a sentence or two (Markdown-free plain text). */
void ipcl_study_experiment(json_t *sec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A table: returns its rows array, to which ipcl_study_row appends. cols is
 * NULL-terminated. */
json_t *ipcl_study_table(json_t *sec, const char *caption, const char *const *cols);

/* A row: fmt is printf-formatted, then cut into cells at each '|'. */
void ipcl_study_row(json_t *rows, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A chart (gnuplot SVG in the HTML, a link in the Markdown): returns its series
 * array. logx/logy ask for log scales. */
json_t *ipcl_study_chart(json_t *sec, const char *id, const char *title,
			 const char *xlabel, const char *ylabel, int logx, int logy);

/* A curve of a chart: returns its points array for ipcl_study_point. */
json_t *ipcl_study_series(json_t *chart, const char *name);
void ipcl_study_point(json_t *points, double x, double y);

/* A named figure of the record (a finite number; NaN/inf are stored as null). */
void ipcl_study_figure(json_t *sec, const char *key, double v);

/* A note under the figures. */
void ipcl_study_note(json_t *sec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The verdict: "holds", "does not hold here", "depends", or "not measured"
 * (the experiment could not run here), and one or two sentences why. */
void ipcl_study_verdict(json_t *sec, const char *verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Progress line on stderr when o->progress. */
void ipcl_study_progress(const struct ipcl_study_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- helpers shared by the experiments (study.c) ------------------------ */

/* CPU time (user + system, ns) of this process and of its waited-for children. */
int64_t ipcl_study_cpu_self_ns(void);
int64_t ipcl_study_cpu_children_ns(void);

/* CPU time (user + system, ns) of process pid from /proc/PID/stat (all of its
 * threads), or -1. */
int64_t ipcl_study_cpu_pid_ns(pid_t pid);

/* Voluntary and involuntary context switches of every live thread of pid, summed
 * over /proc/PID/task/ * /status (/proc/PID/status alone counts the main thread). */
int ipcl_study_ctxsw(pid_t pid, uint64_t *voluntary, uint64_t *involuntary);

/* Pin the calling thread to one CPU (the last one this process may use); returns
 * the CPU or a negative errno. */
int ipcl_study_pin_last_cpu(void);

/*
 * Run argv (argv[0] looked up in PATH) with stdout and stderr captured into out
 * (NUL-terminated, truncated to cap), pinned to cpu when cpu >= 0, killed after
 * timeout_ns. Returns the exit status (0..255), 128+signal, or a negative errno
 * (-ENOENT when the program is not installed, -ETIMEDOUT).
 */
int ipcl_study_exec(char *const argv[], int cpu, char *out, size_t cap,
		    int64_t timeout_ns);

/* Is the program name on PATH (executable)? */
int ipcl_study_have(const char *name);

/* Percentile p of a histogram in microseconds. */
double ipcl_study_us(const struct ipcl_hist *h, double p);

#endif
