/*
 * hiccup.c - the hiccup meter (hiccup.h): sched_setaffinity for the
 * placement, the board's clock and pacing rules (clock.h, config.h),
 * getrusage for its own CPU. It sends nothing: each wake-up's lateness
 * against its intended time is all it records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/clock.h"
#include "engine/hiccup.h"
#include "engine/histogram.h"
#include "engine/record.h"

/* Pin this thread where a rate run's producer (slot 0) would run; CPU or -1. */
static int hiccup_pin(const struct ipcl_runcfg *c, cpu_set_t *old)
{
	cpu_set_t allowed, one;
	int cpu = -1;

	sched_getaffinity(0, sizeof *old, old);
	if (c->placement == IPCL_PLACE_NONE)
		return -1;
	if (c->placement == IPCL_PLACE_LIST) {
		cpu = c->cpus[0];
	} else {
		allowed = *old;
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &allowed)) {
				cpu = i;
				break;
			}
	}
	if (cpu < 0)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
}

json_t *ipcl_hiccup(const struct ipcl_runcfg *c, char *err)
{
	struct ipcl_clock clk;
	struct ipcl_hist *h = NULL;
	cpu_set_t old, set;
	int ncpu, spin, cpu;
	unsigned long slack;
	int64_t period, t0, end;
	uint64_t n = 0;
	json_t *rec = NULL, *lat;

	if (c->rate <= 0 || c->duration_ns <= 0) {
		ipcl_seterr(err, IPCL_EINVAL, "hiccup: give a rate and a duration");
		return NULL;
	}
	if (ipcl_clock_setup(&clk, c->clock, err))
		return NULL;
	h = malloc(sizeof *h);
	if (!h) {
		ipcl_seterr(err, -ENOMEM, "out of memory");
		return NULL;
	}
	ipcl_hist_init(h);
	ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
	spin = ipcl_pacing_spins(c, ncpu);
	period = ipcl_rate_period(c);
	slack = (unsigned long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	cpu = hiccup_pin(c, &old);
	t0 = ipcl_clock_now(&clk);
	end = t0 + c->duration_ns;
	for (int64_t next = t0 + period; next < end; next += period, n++) {
		int64_t now = ipcl_clock_now(&clk);

		if (next > now) {
			if (!spin) {
				ipcl_clock_sleep_until(&clk, next);
				now = ipcl_clock_now(&clk);
			} else {
				if (next - now > 100000)
					ipcl_clock_sleep_until(&clk, next - 60000);
				while ((now = ipcl_clock_now(&clk)) < next)
					;
			}
		}
		ipcl_hist_record(h, (uint64_t)(now - next));
	}
	sched_setaffinity(0, sizeof old, &old);
	prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0);

	rec = json_object();
	json_object_set_new(rec, "schema", json_string(IPCL_SCHEMA));
	json_object_set_new(rec, "ipclab", json_string(IPCL_VERSION));
	json_object_set_new(rec, "transport", json_string("none"));
	json_object_set_new(rec, "pattern", json_string("hiccup"));
	json_object_set_new(rec, "params",
			    json_pack("{s:f,s:f,s:s,s:s,s:I}", "rate",
				      c->rate / (c->producers ? c->producers : 1),
				      "duration_s", (double)c->duration_ns / 1e9,
				      "pacing", spin ? "spin" : "sleep", "placement",
				      ipcl_placement_name(c->placement), "wakeups",
				      (json_int_t)n));
	if (cpu >= 0)
		json_object_set_new(json_object_get(rec, "params"), "cpu",
				    json_integer(cpu));
	json_object_set_new(rec, "env", ipcl_env_json());
	json_object_set_new(json_object_get(rec, "env"), "clock",
			    json_pack("{s:s,s:f}", "source", ipcl_clock_name(clk.src),
				      "read_ns", clk.read_ns));
	json_object_set_new(rec, "status", json_string("ok"));
	lat = ipcl_hist_json(h, 1);
	json_object_set_new(lat, "kind", json_string("wake-up lag"));
	json_object_set_new(lat, "from", json_string("intended wake-up time"));
	json_object_set_new(rec, "latency", lat);
	free(h);
	return rec;
}
