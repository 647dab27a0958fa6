/*
 * config.c - defaults and names of a run's configuration (config.h), and the
 * rate pattern's schedule. No syscalls, no allocation, no output.
 */
#include <string.h>

#include "engine/config.h"

#define NS 1000000000LL

void ipcl_runcfg_init(struct ipcl_runcfg *c)
{
	memset(c, 0, sizeof *c);
	c->pattern = IPCL_PINGPONG;
	c->size = 64;
	c->count = 100000;
	c->warmup = 1000;
	c->producers = 1;
	c->consumers = 1;
	c->placement = IPCL_PLACE_NONE;
	c->timeout_ns = 300 * NS;
	c->open_timeout_ns = 30 * NS;
	c->idle_ns = 1 * NS;
}

static const char *const pattern_names[] = {"pingpong", "stream", "rate"};
static const char *const placement_names[] = {"none", "same", "split", "list"};
static const char *const fault_names[] = {"none", "stall", "kill-consumer",
					  "kill-producer", "oversize"};

const char *ipcl_pattern_name(enum ipcl_pattern p)
{
	return (unsigned)p < 3 ? pattern_names[p] : "?";
}

const char *ipcl_placement_name(enum ipcl_placement p)
{
	return (unsigned)p < 4 ? placement_names[p] : "?";
}

const char *ipcl_fault_name(enum ipcl_fault f)
{
	return (unsigned)f < 5 ? fault_names[f] : "?";
}

/* The index of s among the first n names, or -1. */
static int config_name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int ipcl_pattern_from_name(const char *s)
{
	return config_name_index(pattern_names, 3, s);
}

int ipcl_placement_from_name(const char *s)
{
	return config_name_index(placement_names, 3, s);
}

int ipcl_fault_from_name(const char *s)
{
	int i = config_name_index(fault_names + 1, 4, s);

	return i < 0 ? -1 : i + 1;
}

int ipcl_runcfg_one_cpu(const struct ipcl_runcfg *c)
{
	int nroles = c->pattern == IPCL_PINGPONG ? 2 : c->producers + c->consumers;

	if (c->placement == IPCL_PLACE_SAME)
		return 1;
	if (c->placement != IPCL_PLACE_LIST || c->ncpus < 1)
		return 0;
	for (int i = 1; i < nroles; i++) /* role i runs on cpus[i % ncpus] */
		if (c->cpus[i % c->ncpus] != c->cpus[0])
			return 0;
	return 1;
}

int64_t ipcl_rate_period(const struct ipcl_runcfg *c)
{
	int64_t period = (int64_t)((double)NS * c->producers / c->rate);

	return period < 1 ? 1 : period;
}

uint64_t ipcl_rate_total(const struct ipcl_runcfg *c)
{
	return c->warmup + (uint64_t)(c->duration_ns / ipcl_rate_period(c));
}

static const char *const pacing_names[] = {"auto", "sleep", "spin"};

const char *ipcl_pacing_name(int p)
{
	return (unsigned)p < 3 ? pacing_names[p] : "?";
}

int ipcl_pacing_from_name(const char *s)
{
	return config_name_index(pacing_names, 3, s);
}

int ipcl_pacing_spins(const struct ipcl_runcfg *c, int cpus_allowed)
{
	int roles = c->producers + c->consumers;

	if (c->pacing != IPCL_PACING_AUTO)
		return c->pacing == IPCL_PACING_SPIN;
	if (cpus_allowed <= roles)
		return 0;
	if (c->placement == IPCL_PLACE_SAME)
		return 0;
	if (c->placement == IPCL_PLACE_LIST) {
		/* Role i runs on cpus[i % ncpus]: the producers (slots 0..P-1)
		 * share a CPU with some role unless every role has its own. */
		for (int i = 0; i < c->producers; i++)
			for (int j = 0; j < roles; j++)
				if (j != i &&
				    c->cpus[i % c->ncpus] == c->cpus[j % c->ncpus])
					return 0;
	}
	return 1;
}

int64_t ipcl_late_bound(const struct ipcl_runcfg *c)
{
	int64_t period = ipcl_rate_period(c);

	return period > 100000 ? period : 100000;
}
