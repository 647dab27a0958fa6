/*
 * rfc2544.c - the zero-loss throughput (rfc2544.h): RFC 2544 section 26.1
 * defines a device's throughput as "the fastest rate at which the count of
 * test frames transmitted by the DUT is equal to the number of test frames
 * sent to it"; its appendix suggests a binary search over the offered rate.
 * Here the device is the IPC mechanism, a trial is one ipcl_run of the rate
 * pattern, and the search is bounded in trials and in time. An unpaced
 * stream run first gives the highest rate the producers can offer at all: if
 * it loses nothing, it is the answer. Uses ipcl_run only; prints nothing.
 */
#include <stdio.h>
#include <string.h>

#include "engine/rfc2544.h"
#include "engine/run.h"

#define NS 1000000000LL

/* One trial's loss and status; -1 when the run failed for another reason. */
static long long zl_lost(const json_t *rec)
{
	const json_t *v = json_object_get(rec, "verify");
	const char *st = json_string_value(json_object_get(rec, "status"));

	if (!v || !st || strcmp(st, "ok") != 0)
		return -1;
	return (long long)json_integer_value(json_object_get(v, "lost")) +
	       (long long)json_integer_value(json_object_get(v, "corrupt"));
}

/* Append a trial to the trace. */
static void zl_trace(json_t *trace, const char *pattern, double rate, const json_t *rec,
		     long long lost)
{
	const json_t *v = json_object_get(rec, "verify");

	json_array_append_new(
	    trace, json_pack("{s:s,s:f,s:I,s:I,s:b}", "pattern", pattern, "rate", rate,
			     "sent", json_integer_value(json_object_get(v, "sent")),
			     "lost", (json_int_t)lost, "clean", lost == 0));
}

json_t *ipcl_run_zero_loss(const struct ipcl_runcfg *cfg,
			   const struct ipcl_zero_loss_opts *opts, int *failed, char *err)
{
	struct ipcl_zero_loss_opts o = opts ? *opts : (struct ipcl_zero_loss_opts){0};
	struct ipcl_runcfg c = *cfg;
	json_t *best = NULL, *last = NULL, *rec, *trace = json_array(), *zl;
	double lo = 0, hi, rate, best_rate = 0, lossy = 0;
	int64_t start = ipcl_now_ns();
	long long lost;
	int f, trials = 0, broken = 0;

	*failed = 0;
	if (o.max_trials <= 0)
		o.max_trials = 8;
	if (o.trial_ns <= 0)
		o.trial_ns = 300000000LL;
	if (o.budget_ns <= 0)
		o.budget_ns = 30 * NS;
	if (o.resolution <= 0)
		o.resolution = 0.05;

	/* The upper bound: what the producers offer unpaced, for trial_ns. */
	c.pattern = IPCL_STREAM;
	c.rate = 0;
	c.count = 0;
	c.duration_ns = o.trial_ns;
	c.expect_loss = 1;
	c.fault = IPCL_FAULT_NONE;
	c.progress = 0;
	rec = ipcl_run(&c, &f, err);
	if (!rec) {
		json_decref(trace);
		return NULL;
	}
	lost = zl_lost(rec);
	hi = json_real_value(
	    json_object_get(json_object_get(rec, "throughput"), "producer_msgs_per_s"));
	if (lost >= 0)
		zl_trace(trace, "stream", hi, rec, lost);
	if (lost < 0 || hi <= 0) {
		*failed = 1;
		last = rec;
		goto done;
	}
	if (lost == 0) {
		best = rec;
		best_rate = json_real_value(
		    json_object_get(json_object_get(rec, "throughput"), "msgs_per_s"));
		goto done;
	}
	last = rec;
	lossy = hi;

	/* Binary search over the rate pattern between 0 and the lossy bound. */
	c.pattern = IPCL_RATE;
	while (trials < o.max_trials && ipcl_now_ns() - start < o.budget_ns &&
	       (hi - lo) / hi > o.resolution) {
		rate = (lo + hi) / 2;
		c.rate = rate;
		rec = ipcl_run(&c, &f, err);
		trials++;
		if (!rec)
			break;
		lost = zl_lost(rec);
		if (lost < 0) {
			broken = 1;
			json_decref(last);
			last = rec;
			break;
		}
		zl_trace(trace, "rate", rate, rec, lost);
		if (lost == 0) {
			lo = rate;
			best_rate = rate;
			json_decref(best);
			best = rec;
		} else {
			hi = rate;
			lossy = rate;
			json_decref(last);
			last = rec;
		}
	}
	*failed = broken;
done:
	rec = best ? best : last;
	if (best && last && last != best)
		json_decref(last);
	zl = json_object();
	json_object_set_new(zl, "rate", best ? json_real(best_rate) : json_null());
	json_object_set_new(zl, "lowest_lossy_rate",
			    lossy > 0 ? json_real(lossy) : json_null());
	json_object_set_new(zl, "trials",
			    json_integer((json_int_t)json_array_size(trace)));
	json_object_set_new(zl, "trial_s", json_real((double)o.trial_ns / 1e9));
	json_object_set_new(
	    zl, "method",
	    json_string("RFC 2544 26.1 throughput: binary search over "
			"the offered rate for the highest with zero loss"));
	json_object_set_new(zl, "trace", trace);
	json_object_set_new(rec, "zero_loss", zl);
	return rec;
}
