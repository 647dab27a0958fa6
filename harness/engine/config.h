/*
 * config.h - the configuration of one measured run (struct ipcl_runcfg), the
 * names of its patterns, placements and fault scenarios, and the rate
 * pattern's schedule. Plain data and pure functions: no syscalls, no
 * allocation. Checking a configuration against a transport is run.h's job.
 */
#ifndef IPCLAB_CONFIG_H
#define IPCLAB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <ipclab/transport.h>

#define IPCL_MAX_ROLES 16
#define IPCL_MAX_KV    16

enum ipcl_pattern {
	IPCL_PINGPONG = 0, /* round trip, one message in flight */
	IPCL_STREAM = 1,   /* as fast as it goes */
	IPCL_RATE = 2,     /* open loop at a fixed rate */
};

enum ipcl_placement {
	IPCL_PLACE_NONE = 0,  /* unpinned: the scheduler decides */
	IPCL_PLACE_SAME = 1,  /* every role on one CPU */
	IPCL_PLACE_SPLIT = 2, /* roles spread over the allowed CPUs */
	IPCL_PLACE_LIST = 3,  /* --cpus: role i on cpus[i % ncpus] */
};

/*
 * Fault scenarios (--fault): one injected event per run, described by the
 * record's "fault" object (docs/faults.md). The kills need process mode.
 */
enum ipcl_fault {
	IPCL_FAULT_NONE = 0,
	IPCL_FAULT_STALL = 1,         /* the first consumer sleeps stall_ns once */
	IPCL_FAULT_KILL_CONSUMER = 2, /* the first consumer dies holding a message,
					 a fresh one is started in its place */
	IPCL_FAULT_KILL_PRODUCER = 3, /* the first producer dies after fault_at sends */
	IPCL_FAULT_OVERSIZE = 4,      /* one message of max_msg + 1 bytes mid-stream */
};

struct ipcl_runcfg {
	char transport[48];
	enum ipcl_pattern pattern;
	size_t size;         /* bytes per message, harness header included */
	int size_given;      /* size was asked for (--size): a transport that
				carries less is a usage error, not a mini frame */
	uint64_t count;      /* measured messages per producer (0: use duration) */
	int64_t duration_ns; /* measured time (0: use count) */
	uint64_t warmup;     /* messages per producer before measuring */
	double rate;         /* rate pattern: messages per second, all producers */
	int producers, consumers;
	int threads; /* roles as threads of this process */
	enum ipcl_placement placement;
	int ncpus;
	int cpus[IPCL_MAX_ROLES];
	int expect_loss;    /* loss is expected: do not fail the run for it */
	int64_t timeout_ns; /* watchdog: the whole run is stopped after this */
	int64_t open_timeout_ns;
	int64_t idle_ns; /* a consumer of a lossy channel stops after this silence */
	enum ipcl_fault fault;
	uint64_t fault_at; /* messages the victim has handled when the event comes */
	int64_t stall_ns;  /* IPCL_FAULT_STALL: how long the consumer sleeps */
	int progress;      /* progress line on stderr */
	/*
	 * Stream only: the consumers start once every producer has ended, then
	 * drain and verify, so the producers' rate is that of a producer alone
	 * (as a server's own benchmark tool measures it). Needs a transport that
	 * queues without a bound (a broker).
	 */
	int producer_only;
	/*
	 * --verify sample: the consumer checks the header and the sampled regions
	 * of each message (frame.h), not every byte; 0 (full) checks all.
	 */
	int verify_sample;
	int nkv;
	struct ipcl_kv kv[IPCL_MAX_KV];
	/* ---- timing (issue 12): clock, pacing, stamping ---- */
	int clock;            /* enum ipcl_clock_src (clock.h): what stamps messages */
	int pacing;           /* enum ipcl_pacing: how the rate pattern waits */
	uint64_t stamp_every; /* stream: stamp 1 message in N (0: decide from the
				 clock's cost; 1: every message) */
};

/* Rate pattern: how a producer waits for the next intended send time. */
enum ipcl_pacing {
	IPCL_PACING_AUTO = 0,  /* spin if a CPU is free for it (ipcl_pacing_spins) */
	IPCL_PACING_SLEEP = 1, /* clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) */
	IPCL_PACING_SPIN = 2,  /* sleep to 60 us before, then spin on the clock */
};

/* "auto", "sleep", "spin"; and back (-1 when unknown). */
const char *ipcl_pacing_name(int p);
int ipcl_pacing_from_name(const char *s);

/*
 * Does the rate pattern's producer spin (1) or sleep (0)? An explicit
 * --pacing wins. Auto spins only when a CPU is free for the spinning: more
 * CPUs allowed than roles (one stays for the orchestrator, interrupts and the
 * rest of the machine), no placement that puts the producer on a CPU with
 * another role (same; a --cpus list shorter than the roles). Pure.
 */
int ipcl_pacing_spins(const struct ipcl_runcfg *c, int cpus_allowed);

/*
 * The late-sender bound (ns) of a rate run: a run whose producers' send lag
 * p99 exceeds it is marked "late_sender". max(one period, 100 us). Pure.
 */
int64_t ipcl_late_bound(const struct ipcl_runcfg *c);

/* Defaults for everything not given. */
void ipcl_runcfg_init(struct ipcl_runcfg *c);

const char *ipcl_pattern_name(enum ipcl_pattern p);
const char *ipcl_placement_name(enum ipcl_placement p);

/* The pattern named s ("pingpong", "stream", "rate"), or -1. */
int ipcl_pattern_from_name(const char *s);

/* The placement named s ("none", "same", "split"; "list" is --cpus), or -1. */
int ipcl_placement_from_name(const char *s);

/* "stall", "kill-consumer", "kill-producer", "oversize" ("none" for none). */
const char *ipcl_fault_name(enum ipcl_fault f);

/* The scenario named s, or -1 when there is none by that name. */
int ipcl_fault_from_name(const char *s);

/*
 * 1 when every role of the run is pinned to the same single CPU (--pin same,
 * or --cpus naming one CPU for all roles), else 0.
 */
int ipcl_runcfg_one_cpu(const struct ipcl_runcfg *c);

/* Rate pattern: ns between the sends of one producer (at least 1). */
int64_t ipcl_rate_period(const struct ipcl_runcfg *c);

/*
 * Rate pattern: messages one producer sends, warm-up included. The board's
 * bitmaps are sized by this same count.
 */
uint64_t ipcl_rate_total(const struct ipcl_runcfg *c);

#endif
