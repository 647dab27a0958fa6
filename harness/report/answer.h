/*
 * answer.h - "What to use": for each need a reader brings (lowest latency,
 * throughput by size, CPU, tail under load, surviving a consumer crash,
 * durability across a broker restart, fan-out, across hosts, related
 * processes only) the winner and the runner-up with their figures and the
 * reason, derived from the summary rows and fault records; a need the
 * records cannot answer names the run that would. Flagged rows never win.
 * Pure computation on summary.h plus output through doc.h.
 */
#ifndef IPCLAB_REPORT_ANSWER_H
#define IPCLAB_REPORT_ANSWER_H

#include "report/doc.h"
#include "report/summary.h"

#define IPCL_ANSWER_MAX 32

/* One transport chosen for a need: who ("pipe", "shm (thread)") and its
 * figures as text; who[0] == 0: nobody. */
struct ipcl_answer_pick {
	char who[128], fig[200];
};

struct ipcl_answer_need {
	char need[96]; /* the need, also the key that pairs it with a baseline's */
	struct ipcl_answer_pick win, run;
	char why[600]; /* the reason, or the run that would answer it */
};

struct ipcl_answer {
	struct ipcl_answer_need n[IPCL_ANSWER_MAX];
	int nn;
};

/* Works out every need from set (its fault records and capabilities) and its
 * rows into a (zeroed by the caller). Returns 0 or -ENOMEM. */
int ipcl_answer_make(struct ipcl_answer *a, const struct ipcl_report_set *set,
		     const struct ipcl_report_rows *rows);

/* "What to use": a table need | winner | figures | runner-up | figures | why. */
void ipcl_answer_section(struct ipcl_doc *d, const struct ipcl_answer *a);

/* "What to use: baseline and new": each need's winner and runner-up of both
 * sets side by side, and what changed. */
void ipcl_answer_compare(struct ipcl_doc *d, const struct ipcl_answer *now,
			 const struct ipcl_answer *old);

#endif
