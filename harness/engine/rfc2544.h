/*
 * rfc2544.h - the zero-loss throughput of a mechanism that can only drop (UDP,
 * standard signals, Redis pub/sub past its output buffer limit): the highest
 * offered rate at which a run loses nothing, found by a bounded binary search
 * over the rate pattern (RFC 2544, section 26.1 "Throughput"). Runs ipcl_run
 * once per trial; prints nothing.
 */
#ifndef IPCLAB_RFC2544_H
#define IPCLAB_RFC2544_H

#include <stdint.h>

#include <jansson.h>

#include "engine/config.h"

/* The bounds of one search; zero fields take the defaults shown. */
struct ipcl_zero_loss_opts {
	int max_trials;    /* rate trials after the first stream run (default 8) */
	int64_t trial_ns;  /* measured time of one trial (default 300 ms) */
	int64_t budget_ns; /* no new trial starts after this much time (default 30 s) */
	double resolution; /* stop when (hi - lo) / hi is below this (default 0.05) */
};

/*
 * Search the zero-loss rate of cfg's transport (cfg's pattern is ignored: the
 * first trial is an unpaced stream, which gives the upper bound, the others
 * are rate trials of trial_ns; producers, consumers, size and options are
 * cfg's). Returns the record of the best clean trial (or, when none was
 * clean, of the last one) with a "zero_loss" object added: "rate" (msgs/s,
 * null when no rate was clean), "lowest_lossy_rate", "trials", the
 * "trace" of every trial ({rate, sent, lost, clean}) and "method". *failed is
 * set when a trial failed for another reason than loss. NULL only for a usage
 * error, with err set.
 */
json_t *ipcl_run_zero_loss(const struct ipcl_runcfg *cfg,
			   const struct ipcl_zero_loss_opts *opts, int *failed,
			   char *err);

#endif
