/*
 * runner.c - one measured run (runner.h).
 *
 * The creating process ("orchestrator") sets up the channel(s) and a board: a
 * memfd shared with every role, holding the run configuration, the channel
 * addresses, a start barrier, one result slot per role (counts, CPU times,
 * histograms) and the bitmaps that record every delivered sequence number.
 * Roles are fork+exec'd copies of this binary (`ipclab __role FD SLOT`), forked
 * children for related-only transports, or threads (--threads). Each role opens
 * its endpoints, waits at the barrier, runs its loop and writes its slot; the
 * orchestrator watches the clock (a watchdog kills roles that overrun), then
 * turns the slots into one JSON record.
 *
 * Ping-pong: role 0 sends on channel 0 and reads the echo on channel 1, role 1
 * echoes; a request/response transport uses one channel. Stream and rate: roles
 * 0..P-1 produce, P..P+C-1 consume.
 *
 * Fault scenarios (--fault, stream and rate only) inject one event: a consumer
 * stall, the SIGKILL of the first consumer (the orchestrator then starts a fresh
 * consumer in a spare slot) or of the first producer, or one message over the
 * transport's limit. A victim kills itself at the exact message count, so the
 * outcome does not depend on when the orchestrator looks; the event's record is
 * the "fault" object (docs/faults.md). Left out: killing a broker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/endpoint.h"
#include "engine/frame.h"
#include "engine/histogram.h"
#include "engine/registry.h"
#include "engine/record.h"
#include "engine/run.h"
#include <ipclab/server.h>

#define BOARD_MAGIC 0x424c4349u
#define NS          1000000000LL

enum slot_state { SLOT_STARTING = 0, SLOT_READY, SLOT_DONE, SLOT_FAILED };
enum role_kind { ROLE_PRODUCER = 0, ROLE_CONSUMER, ROLE_PINGER, ROLE_PONGER };

/* Why a consumer stopped (fault records); STOP_NONE while it runs. */
enum stop_why { STOP_NONE = 0, STOP_EOF, STOP_END, STOP_IDLE, STOP_ERROR, STOP_ABORT };

/* The sequence number of the oversize message: never a data message's. */
#define OVERSIZE_SEQ (UINT64_MAX - 1)

struct slot {
	_Atomic int state;
	int kind, index;
	int cpu; /* CPU it was pinned to, or -1 */
	int rc;
	char err[IPCL_ERR_MAX];
	_Atomic uint64_t progress; /* messages so far, for the progress line */
	uint64_t msgs;             /* sent (producer, pinger) or received */
	uint64_t measured;         /* of which after warm-up */
	uint64_t bytes;
	uint64_t lost_rtt; /* pinger: round trips that timed out (lossy) */
	struct ipcl_verify v;
	int64_t t_first, t_last; /* measured window: first measured send, last receive */
	int64_t cpu_user_ns, cpu_sys_ns;
	int stop;                          /* consumer: enum stop_why */
	int64_t t_stop;                    /* consumer: when it stopped */
	int64_t send_max_ns, send_slow_ns; /* stall: longest send, sum of sends >= 1 ms */
	struct ipcl_hist lat; /* round trip (pinger), one-way (consumer, ponger) */
	struct ipcl_hist lag; /* rate: how late each send was against its schedule */
};

struct board {
	uint32_t magic;
	struct ipcl_runcfg cfg;
	int nchan, nroles, mini, fanout;
	size_t msg_size;
	uint64_t nbits; /* bits per bitmap */
	int nsets;
	size_t bitmap_off;
	char addr[2][IPCL_ADDR_MAX];
	char tag[2][32];
	_Atomic int go, abort;
	_Atomic int producers_done;
	_Atomic int consumers_done;
	int64_t t_go;
	/* The fault scenario: written by the victim, the replacement and the
	 * orchestrator; read for the record once every role has ended. */
	size_t chan_msg_size;      /* opts->msg_size of the channels */
	size_t oversize_len;       /* IPCL_FAULT_OVERSIZE: bytes of the big message */
	_Atomic int fault_fired;   /* the event happened */
	int64_t t_fault;           /* when: the kill, the stall, the oversize send */
	int victim;                /* slot of the killed role, or -1 */
	int replacement;           /* slot of the restarted consumer, or -1 */
	_Atomic int64_t t_recover; /* first message the replacement received */
	int oversize_rc;           /* what send() said to the oversize message */
	_Atomic uint64_t oversize_intact, oversize_bad; /* it arrived whole / damaged */
	char restart_err[IPCL_ERR_MAX];
	struct slot slot[IPCL_MAX_ROLES];
};

/* SIGINT/SIGTERM during a run: stop the roles, clean up, then die of the signal. */
static volatile sig_atomic_t run_interrupted;

static void run_on_signal(int sig)
{
	run_interrupted = sig;
}

/* What a role needs besides the board: the transport and its channels. */
struct role_ctx {
	struct board *b;
	int slot;
	const struct ipcl_transport *t;
	struct ipcl_opts opts[2];
	struct ipcl_chan *chan[2];
};

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

const char *ipcl_pattern_name(enum ipcl_pattern p)
{
	return (unsigned)p < 3 ? pattern_names[p] : "?";
}

const char *ipcl_placement_name(enum ipcl_placement p)
{
	return (unsigned)p < 4 ? placement_names[p] : "?";
}

/* The index of s among the first n names, or -1. */
static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int ipcl_pattern_from_name(const char *s)
{
	return name_index(pattern_names, 3, s);
}

int ipcl_placement_from_name(const char *s)
{
	return name_index(placement_names, 3, s);
}

static const char *const fault_names[] = {"none", "stall", "kill-consumer",
					  "kill-producer", "oversize"};

const char *ipcl_fault_name(enum ipcl_fault f)
{
	return (unsigned)f < 5 ? fault_names[f] : "?";
}

int ipcl_fault_from_name(const char *s)
{
	int i = name_index(fault_names + 1, 4, s);

	return i < 0 ? -1 : i + 1;
}

/*
 * The fault victim ends here: it notes the time and its slot on the board, then
 * dies of SIGKILL, which no handler can soften, as a crash would.
 */
static void fault_die(struct board *b, int slot)
{
	b->victim = slot;
	b->t_fault = ipcl_now_ns();
	atomic_store(&b->fault_fired, 1);
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

static int64_t board_bytes(const struct board *b)
{
	return (int64_t)b->bitmap_off + (int64_t)b->nsets * (int64_t)(b->nbits / 8);
}

static uint64_t *board_bitmap(struct board *b, int set)
{
	return (uint64_t *)((char *)b + b->bitmap_off) + (size_t)set * (b->nbits / 64);
}

/* The role kind and endpoint index of a slot. */
static void role_of(const struct board *b, int slot, int *kind, int *index)
{
	const struct ipcl_runcfg *c = &b->cfg;

	if (slot == b->replacement) {
		*kind = ROLE_CONSUMER;
		*index = b->slot[b->victim].index;
	} else if (c->pattern == IPCL_PINGPONG) {
		*kind = slot == 0 ? ROLE_PINGER : ROLE_PONGER;
		*index = 0;
	} else if (slot < c->producers) {
		*kind = ROLE_PRODUCER;
		*index = slot;
	} else {
		*kind = ROLE_CONSUMER;
		*index = slot - c->producers;
	}
}

static void opts_from_board(struct board *b, int ch, int threads, struct ipcl_opts *o)
{
	memset(o, 0, sizeof *o);
	o->msg_size = b->chan_msg_size;
	o->producers = b->cfg.pattern == IPCL_PINGPONG ? 1 : b->cfg.producers;
	o->consumers = b->cfg.pattern == IPCL_PINGPONG ? 1 : b->cfg.consumers;
	o->threads = threads;
	o->tag = b->tag[ch];
	o->nkv = b->cfg.nkv;
	o->kv = b->cfg.kv;
}

static int64_t cpu_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * NS + (int64_t)tv->tv_usec * 1000;
}

/* Pin the calling thread, if the placement says so; the CPU used or -1. */
static int role_pin(const struct ipcl_runcfg *c, int slot)
{
	cpu_set_t allowed, one;
	int cpus[CPU_SETSIZE], n = 0, cpu;

	if (c->placement == IPCL_PLACE_NONE)
		return -1;
	if (c->placement == IPCL_PLACE_LIST) {
		cpu = c->cpus[slot % c->ncpus];
	} else {
		if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
			return -1;
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &allowed))
				cpus[n++] = i;
		if (n == 0)
			return -1;
		cpu = c->placement == IPCL_PLACE_SAME ? cpus[0] : cpus[slot % n];
	}
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof one, &one) < 0)
		return -1;
	return cpu;
}

static void role_cpu(struct board *b, struct rusage *ru)
{
	getrusage(b->cfg.threads ? RUSAGE_THREAD : RUSAGE_SELF, ru);
}

static int role_fail(struct slot *s, int rc, const char *err)
{
	s->rc = rc;
	snprintf(s->err, sizeof s->err, "%s", err && *err ? err : ipcl_strerror(rc));
	return rc;
}

/* Wait at the start barrier; nonzero when the run was aborted. */
static int role_barrier(struct board *b, struct slot *s)
{
	atomic_store(&s->state, SLOT_READY);
	while (!atomic_load(&b->go)) {
		if (atomic_load(&b->abort))
			return -ECANCELED;
		nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	return atomic_load(&b->abort) ? -ECANCELED : 0;
}

/* Stamp message seq into buf: a full frame or a mini frame. */
static void stamp(struct board *b, void *buf, uint16_t producer, uint16_t flags,
		  uint64_t seq, int64_t when, uint32_t pcrc)
{
	if (b->mini)
		ipcl_mini_stamp(buf, b->msg_size,
				flags & IPCL_FRAME_END ? ipcl_mini_end(b->msg_size)
						       : seq);
	else
		ipcl_frame_stamp(buf, b->msg_size, producer, flags, seq, when, pcrc);
}

/*
 * Check a received message: 0 with the sequence number, producer, send time
 * and end flag set, or
 * IPCL_EPROTO when it is corrupt (counted by the caller).
 */
static int unstamp(struct board *b, const void *buf, size_t len, uint64_t *seq,
		   int *producer, int64_t *sent, int *end)
{
	struct ipcl_frame_hdr h;

	if (b->mini) {
		if (len != b->msg_size)
			return IPCL_EPROTO;
		*seq = ipcl_mini_seq(buf, len);
		*producer = 0;
		*sent = 0;
		*end = *seq == ipcl_mini_end(len);
		return 0;
	}
	if (ipcl_frame_check(buf, len, &h))
		return IPCL_EPROTO;
	*seq = h.seq;
	*producer = h.producer;
	*sent = h.send_ns;
	*end = (h.flags & IPCL_FRAME_END) != 0;
	return 0;
}

/* Does the message look like an end marker? (Checked in full by unstamp.) */
static int unstamp_end(struct board *b, const void *buf, size_t len)
{
	struct ipcl_frame_hdr h;

	if (b->mini)
		return len == b->msg_size &&
		       ipcl_mini_seq(buf, len) == ipcl_mini_end(len);
	if (len < IPCL_FRAME_HDR)
		return 0;
	memcpy(&h, buf, sizeof h);
	return (h.flags & IPCL_FRAME_END) != 0;
}

/* Record a data message in the verification state of consumer `set_base`. */
static void verify(struct board *b, struct slot *s, int set, uint64_t *highest,
		   uint64_t seq)
{
	ipcl_verify_seq(&s->v, board_bitmap(b, set), b->nbits, highest, seq);
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / NS, .tv_nsec = t % NS};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ---- ping-pong ---------------------------------------------------------- */

static int run_pinger(struct role_ctx *x, struct ipcl_ep *out, struct ipcl_ep *in)
{
	struct board *b = x->b;
	struct slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	size_t size = b->msg_size, len;
	unsigned char *buf = malloc(size), *rx = malloc(size);
	int lossy = (t->caps & IPCL_CAP_LOSSY) != 0, rc = 0;
	uint32_t pcrc;
	uint64_t seq, highest = 0;
	int64_t until = 0;

	if (!buf || !rx) {
		rc = role_fail(s, -ENOMEM, "out of memory");
		goto out;
	}
	pcrc = b->mini ? 0 : ipcl_frame_fill(buf, size);
	for (seq = 0;; seq++) {
		int64_t t0 = ipcl_now_ns(), t1;
		int producer, end;
		int64_t sent;
		uint64_t rseq;

		if (atomic_load_explicit(&b->abort, memory_order_relaxed))
			break;
		if (seq == b->cfg.warmup) {
			s->t_first = t0;
			if (b->cfg.duration_ns)
				until = t0 + b->cfg.duration_ns;
		}
		if (b->cfg.duration_ns ? until && t0 >= until
				       : seq >= b->cfg.warmup + b->cfg.count)
			break;
		stamp(b, buf, 0, 0, seq, t0, pcrc);
		rc = t->send(out, buf, size, IPCL_FOREVER);
		if (rc) {
			role_fail(s, rc, out->err);
			goto out;
		}
		s->msgs++;
	again:
		rc = t->recv(in, rx, size, &len,
			     lossy ? t0 + b->cfg.idle_ns : IPCL_FOREVER);
		t1 = ipcl_now_ns();
		if (rc == -ETIMEDOUT && lossy) {
			s->lost_rtt++;
			rc = 0;
			continue;
		}
		if (rc) {
			role_fail(s, rc, in->err);
			goto out;
		}
		if (unstamp(b, rx, len, &rseq, &producer, &sent, &end)) {
			s->v.corrupt++;
			s->v.delivered++;
			continue;
		}
		verify(b, s, 1, &highest, rseq);
		if (t->ack)
			t->ack(in);
		if (rseq != seq) {
			if (rseq < seq && lossy)
				goto again; /* a late echo of a ping we gave up on */
			continue;
		}
		if (seq >= b->cfg.warmup) {
			ipcl_hist_record(&s->lat, (uint64_t)(t1 - t0));
			s->measured++;
			s->t_last = t1;
		}
		if ((seq & 1023) == 0)
			atomic_store_explicit(&s->progress, seq, memory_order_relaxed);
	}
	/* Tell the echoer to stop: an end marker, then EOF where there is one. */
	stamp(b, buf, 0, IPCL_FRAME_END, UINT64_MAX, ipcl_now_ns(), pcrc);
	rc = t->send(out, buf, size, ipcl_now_ns() + b->cfg.idle_ns);
	if (rc == -ETIMEDOUT || (lossy && rc))
		rc = 0;
	if (rc)
		role_fail(s, rc, out->err);
out:
	free(buf);
	free(rx);
	return rc;
}

static int run_ponger(struct role_ctx *x, struct ipcl_ep *in, struct ipcl_ep *out)
{
	struct board *b = x->b;
	struct slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	int reqrep = (t->caps & IPCL_CAP_REQREP) != 0, rc = 0;
	size_t size = b->msg_size, len;
	unsigned char *rx = malloc(size);
	uint64_t highest = 0;

	if (!rx)
		return role_fail(s, -ENOMEM, "out of memory");
	for (;;) {
		uint64_t seq;
		int producer, end;
		int64_t sent, now;

		rc = t->recv(in, rx, size, &len, IPCL_FOREVER);
		now = ipcl_now_ns();
		if (rc == IPCL_EOF) {
			rc = 0;
			break;
		}
		if (rc) {
			role_fail(s, rc, in->err);
			break;
		}
		/*
		 * Echo first and check afterwards, so that the check (a checksum over
		 * the whole message) overlaps the echo's trip instead of adding to the
		 * round trip. Only an end marker is checked before: it is not echoed.
		 */
		if (!unstamp_end(b, rx, len)) {
			if (t->ack)
				t->ack(in);
			rc = reqrep ? t->reply(in, rx, len, IPCL_FOREVER)
				    : t->send(out, rx, len, IPCL_FOREVER);
			if (rc) {
				role_fail(s, rc, reqrep ? in->err : out->err);
				break;
			}
		}
		if (unstamp(b, rx, len, &seq, &producer, &sent, &end)) {
			s->v.corrupt++;
			s->v.delivered++;
		} else if (end) {
			break;
		} else {
			verify(b, s, 0, &highest, seq);
			s->msgs++;
			if (!b->mini && seq >= b->cfg.warmup) {
				ipcl_hist_record(&s->lat, (uint64_t)(now - sent));
				s->measured++;
			}
		}
	}
	free(rx);
	return rc;
}

/* ---- stream and rate ---------------------------------------------------- */

/* Rate pattern: ns between the sends of one producer. */
static int64_t rate_period(const struct ipcl_runcfg *c)
{
	int64_t period = (int64_t)((double)NS * c->producers / c->rate);

	return period < 1 ? 1 : period;
}

/* Rate pattern: messages one producer sends, warm-up included. The board's
 * bitmaps are sized by this same count. */
static uint64_t rate_total(const struct ipcl_runcfg *c)
{
	return c->warmup + (uint64_t)(c->duration_ns / rate_period(c));
}

/*
 * IPCL_FAULT_OVERSIZE: send one message of b->oversize_len bytes, one more than
 * the transport's probed limit, and note what send() said. It is a full frame
 * numbered OVERSIZE_SEQ (a mini-frame transport gets a pattern), so that a
 * consumer can tell it from the data and check whether it arrived whole.
 */
static void producer_oversize(struct board *b, const struct ipcl_transport *t,
			      struct ipcl_ep *out)
{
	size_t len = b->oversize_len;
	unsigned char *big = malloc(len);

	b->t_fault = ipcl_now_ns();
	if (!big) {
		b->oversize_rc = -ENOMEM;
		return;
	}
	if (b->mini || len < IPCL_FRAME_HDR)
		memset(big, 0xa5, len);
	else
		ipcl_frame_stamp(big, len, 0, 0, OVERSIZE_SEQ, b->t_fault,
				 ipcl_frame_fill(big, len));
	b->oversize_rc = t->send(out, big, len, ipcl_now_ns() + 4 * b->cfg.idle_ns);
	atomic_store(&b->fault_fired, 1);
	free(big);
}

/* A consumer got a message longer than the data's: the oversize one, whole or not. */
static void consumer_oversize(struct board *b, const void *rx, size_t len)
{
	struct ipcl_frame_hdr h;
	int whole = len == b->oversize_len;

	if (whole && !b->mini && len >= IPCL_FRAME_HDR)
		whole = ipcl_frame_check(rx, len, &h) == 0 && h.seq == OVERSIZE_SEQ;
	atomic_fetch_add(whole ? &b->oversize_intact : &b->oversize_bad, 1);
}

static int run_producer(struct role_ctx *x, struct ipcl_ep *out)
{
	struct board *b = x->b;
	struct slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	const struct ipcl_runcfg *c = &b->cfg;
	size_t size = b->msg_size;
	unsigned char *buf = malloc(size), *rx = malloc(size);
	int rate = c->pattern == IPCL_RATE, rc = 0, last;
	int reqrep = (t->caps & IPCL_CAP_REQREP) != 0;
	int64_t period = 0, t0 = ipcl_now_ns(), until = 0;
	uint64_t seq, total = c->warmup + c->count;
	uint32_t pcrc;

	if (!buf || !rx) {
		free(buf);
		free(rx);
		return role_fail(s, -ENOMEM, "out of memory");
	}
	pcrc = b->mini ? 0 : ipcl_frame_fill(buf, size);
	if (rate) {
		/*
		 * Pace by sleeping until 60 us before each send and spinning the rest:
		 * waking from a sleep takes tens of us on a VM, and that lateness would
		 * count as latency. The sender's CPU time therefore includes pacing.
		 */
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
		period = rate_period(c);
		total = rate_total(c);
	} else if (c->duration_ns) {
		total = UINT64_MAX;
	}
	for (seq = 0; seq < total; seq++) {
		int64_t when = ipcl_now_ns(), intended = when;

		if (atomic_load_explicit(&b->abort, memory_order_relaxed))
			break;
		if (rate) {
			intended = t0 + (int64_t)seq * period;
			if (intended > when) {
				if (intended - when > 100000)
					sleep_until(intended - 60000);
				while ((when = ipcl_now_ns()) < intended)
					;
			}
		}
		if (seq == c->warmup) {
			s->t_first = rate ? intended : when;
			if (c->duration_ns && !rate)
				until = when + c->duration_ns;
		}
		if (until && when >= until)
			break;
		if (c->fault && x->slot == 0 && seq == c->fault_at) {
			if (c->fault == IPCL_FAULT_KILL_PRODUCER) {
				/* Done, as far as the consumers' idle check goes. */
				atomic_fetch_add(&b->producers_done, 1);
				fault_die(b, x->slot);
			}
			if (c->fault == IPCL_FAULT_OVERSIZE)
				producer_oversize(b, t, out);
		}
		stamp(b, buf, (uint16_t)x->slot, 0, seq, intended, pcrc);
		rc = t->send(out, buf, size, IPCL_FOREVER);
		if (rc) {
			role_fail(s, rc, out->err);
			break;
		}
		if (c->fault == IPCL_FAULT_STALL) {
			int64_t took = ipcl_now_ns() - when;

			if (took > s->send_max_ns)
				s->send_max_ns = took;
			if (took >= 1000000)
				s->send_slow_ns += took;
		}
		/*
		 * A request/response transport queues the replies of a stream: collect
		 * them now and then (deadline 0: only what has already arrived).
		 */
		if (reqrep && (seq & 63) == 63) {
			size_t rl;

			while (t->recv(out, rx, size, &rl, 0) == 0)
				;
		}
		if (rate && seq >= c->warmup)
			ipcl_hist_record(&s->lag, (uint64_t)(when - intended));
		s->msgs++;
		if ((seq & 1023) == 0)
			atomic_store_explicit(&s->progress, seq, memory_order_relaxed);
	}
	if (!rc && t->flush) {
		rc = t->flush(out, ipcl_now_ns() + c->timeout_ns);
		if (rc)
			role_fail(s, rc, out->err);
	}
	s->t_last = ipcl_now_ns();
	s->measured = s->msgs > c->warmup ? s->msgs - c->warmup : 0;

	/*
	 * The last producer to finish sends the end markers: one per consumer of a
	 * work queue, one for all of a fan-out. Markers can be lost on a lossy
	 * channel, so it repeats them until every consumer has stopped or the idle
	 * time has passed (the consumers then stop on their own).
	 */
	last = atomic_fetch_add(&b->producers_done, 1) + 1 == c->producers;
	if (last && !(t->caps & IPCL_CAP_HAS_EOF) && !atomic_load(&b->abort)) {
		int n = (t->caps & IPCL_CAP_FANOUT) ? 1 : c->consumers;
		int64_t stop = ipcl_now_ns() + c->idle_ns + c->idle_ns;

		stamp(b, buf, (uint16_t)x->slot, IPCL_FRAME_END, UINT64_MAX,
		      ipcl_now_ns(), pcrc);
		do {
			for (int i = 0; i < n; i++)
				if (t->send(out, buf, size, ipcl_now_ns() + c->idle_ns))
					break;
			if (t->flush)
				t->flush(out, ipcl_now_ns() + c->idle_ns);
			if (!(t->caps & IPCL_CAP_LOSSY))
				break;
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		} while (atomic_load(&b->consumers_done) < c->consumers &&
			 ipcl_now_ns() < stop);
	}
	free(buf);
	free(rx);
	return rc;
}

static int run_consumer(struct role_ctx *x, struct ipcl_ep *in)
{
	struct board *b = x->b;
	struct slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	const struct ipcl_runcfg *c = &b->cfg;
	int reqrep = (t->caps & IPCL_CAP_REQREP) != 0, rc = 0, idx = s->index;
	int stall = c->fault == IPCL_FAULT_STALL && c->stall_ns > 0 && idx == 0;
	int victim =
	    c->fault == IPCL_FAULT_KILL_CONSUMER && idx == 0 && x->slot != b->replacement;
	int eof = (t->caps & IPCL_CAP_HAS_EOF) != 0, draining = 0;
	/*
	 * After a kill nobody may close the channel cleanly, so even a channel
	 * with EOF is read with a timer and given up after the idle time.
	 */
	int timed = !eof || c->fault == IPCL_FAULT_KILL_PRODUCER ||
		    c->fault == IPCL_FAULT_KILL_CONSUMER;
	size_t size = b->msg_size, len,
	       cap = b->oversize_len > size ? b->oversize_len : size;
	unsigned char *rx = malloc(cap), ack[IPCL_FRAME_HDR];
	uint64_t highest[IPCL_MAX_ROLES] = {0};
	int64_t last_rx = ipcl_now_ns();

	if (!rx)
		return role_fail(s, -ENOMEM, "out of memory");
	for (;;) {
		uint64_t seq;
		int producer, end, set;
		int64_t sent, now, deadline = IPCL_FOREVER;

		/*
		 * Channels with EOF block with no timer. Others wake now and then to
		 * notice that the producers are done and the channel has gone quiet.
		 */
		if (timed)
			deadline = ipcl_now_ns() + c->idle_ns / 4;
		rc = t->recv(in, rx, cap, &len, deadline);
		now = ipcl_now_ns();
		if (rc == -ETIMEDOUT && timed) {
			rc = 0;
			if (atomic_load(&b->abort) || draining) {
				s->stop = draining ? STOP_END : STOP_ABORT;
				break;
			}
			if (atomic_load(&b->producers_done) == c->producers &&
			    now - last_rx >= c->idle_ns) {
				s->stop = STOP_IDLE;
				break;
			}
			continue;
		}
		if (rc == IPCL_EOF) {
			rc = 0;
			s->stop = STOP_EOF;
			break;
		}
		if (rc) {
			role_fail(s, rc, in->err);
			s->stop = STOP_ERROR;
			break;
		}
		last_rx = now;
		if (len > size && b->oversize_len) {
			consumer_oversize(b, rx, len);
			continue;
		}
		if (unstamp(b, rx, len, &seq, &producer, &sent, &end) ||
		    producer >= c->producers) {
			s->v.corrupt++;
			s->v.delivered++;
			continue;
		}
		if (end) {
			if (t->ack)
				t->ack(in);
			/*
			 * With several producers the end marker (sent by the last one
			 * to finish) can overtake messages another producer still has
			 * queued in its own process (ZeroMQ): drain until quiet.
			 */
			if (c->producers > 1 && !eof && !draining) {
				draining = 1;
				continue;
			}
			if (!draining) {
				s->stop = STOP_END;
				break;
			}
			continue;
		}
		if (x->slot == b->replacement && !atomic_load(&b->t_recover))
			atomic_store(&b->t_recover, now);
		/* The victim dies holding this message: received, not processed. */
		if (victim && s->msgs >= c->fault_at && !atomic_load(&b->fault_fired))
			fault_die(b, x->slot);
		set = b->fanout ? idx * c->producers + producer : producer;
		verify(b, s, set, &highest[producer], seq);
		if (seq >= c->warmup) {
			if (!b->mini) /* a mini frame has no send time */
				ipcl_hist_record(&s->lat, (uint64_t)(now - sent));
			s->measured++;
			s->bytes += len;
			s->t_last = now;
		}
		s->msgs++;
		if ((s->msgs & 1023) == 0)
			atomic_store_explicit(&s->progress, s->msgs,
					      memory_order_relaxed);
		if (t->ack && (rc = t->ack(in)) != 0) {
			role_fail(s, rc, in->err);
			s->stop = STOP_ERROR;
			break;
		}
		if (reqrep) {
			ipcl_frame_stamp(ack, sizeof ack, (uint16_t)producer, 0, seq,
					 sent, ipcl_crc32c(0, NULL, 0));
			rc = t->reply(in, ack, sizeof ack, IPCL_FOREVER);
			if (rc) {
				role_fail(s, rc, in->err);
				s->stop = STOP_ERROR;
				break;
			}
		}
		if (stall && s->msgs >= c->fault_at) {
			stall = 0;
			b->t_fault = ipcl_now_ns();
			atomic_store(&b->fault_fired, 1);
			sleep_until(b->t_fault + c->stall_ns);
		}
	}
	s->t_stop = ipcl_now_ns();
	atomic_fetch_add(&b->consumers_done, 1);
	free(rx);
	return rc;
}

/* ---- a role, whatever runs it ------------------------------------------- */

static void role_run(struct role_ctx *x)
{
	struct board *b = x->b;
	struct slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	int kind, index, rc = 0, reqrep = (t->caps & IPCL_CAP_REQREP) != 0;
	struct ipcl_ep *ep[2] = {NULL, NULL};
	char err[IPCL_ERR_MAX] = "";
	int64_t deadline = ipcl_now_ns() + b->cfg.open_timeout_ns;
	struct rusage r0, r1;

	role_of(b, x->slot, &kind, &index);
	s->kind = kind;
	s->index = index;
	s->cpu = role_pin(&b->cfg, x->slot);
	ipcl_hist_init(&s->lat);
	ipcl_hist_init(&s->lag);

	/* Open in channel order, so blocking opens (FIFOs) pair up. */
	switch (kind) {
	case ROLE_PINGER:
		rc = ipcl_ep_open(x->chan[0], IPCL_PRODUCER, 0, deadline, &ep[0], err);
		if (!rc && !reqrep)
			rc = ipcl_ep_open(x->chan[1], IPCL_CONSUMER, 0, deadline, &ep[1],
					  err);
		break;
	case ROLE_PONGER:
		rc = ipcl_ep_open(x->chan[0], IPCL_CONSUMER, 0, deadline, &ep[0], err);
		if (!rc && !reqrep)
			rc = ipcl_ep_open(x->chan[1], IPCL_PRODUCER, 0, deadline, &ep[1],
					  err);
		break;
	case ROLE_PRODUCER:
		rc =
		    ipcl_ep_open(x->chan[0], IPCL_PRODUCER, index, deadline, &ep[0], err);
		break;
	default:
		rc =
		    ipcl_ep_open(x->chan[0], IPCL_CONSUMER, index, deadline, &ep[0], err);
		break;
	}
	if (rc) {
		role_fail(s, rc, err);
		atomic_store(&b->abort, 1);
		goto out;
	}
	if (role_barrier(b, s))
		goto out;
	role_cpu(b, &r0);
	switch (kind) {
	case ROLE_PINGER:
		rc = run_pinger(x, ep[0], reqrep ? ep[0] : ep[1]);
		break;
	case ROLE_PONGER:
		rc = run_ponger(x, ep[0], reqrep ? ep[0] : ep[1]);
		break;
	case ROLE_PRODUCER:
		rc = run_producer(x, ep[0]);
		break;
	default:
		rc = run_consumer(x, ep[0]);
		break;
	}
	role_cpu(b, &r1);
	s->cpu_user_ns = cpu_ns(&r1.ru_utime) - cpu_ns(&r0.ru_utime);
	s->cpu_sys_ns = cpu_ns(&r1.ru_stime) - cpu_ns(&r0.ru_stime);
out:
	for (int i = 0; i < 2; i++) {
		int crc = ipcl_ep_close(ep[i], ipcl_now_ns() + b->cfg.idle_ns * 4);

		if (crc && !rc && !s->rc)
			rc = role_fail(s, crc, "closing the endpoint failed (flush)");
	}
	atomic_store(&s->state, s->rc ? SLOT_FAILED : SLOT_DONE);
}

static void *role_thread(void *arg)
{
	role_run(arg);
	return NULL;
}

int ipcl_role_exec(int fd, int slot)
{
	struct board *b, head;
	struct role_ctx x = {0};
	char err[IPCL_ERR_MAX];
	int rc = 0;

	if (pread(fd, &head, sizeof head, 0) != (ssize_t)sizeof head ||
	    head.magic != BOARD_MAGIC || slot < 0 || slot >= head.nroles) {
		fprintf(stderr, "ipclab __role: not a board or no such slot\n");
		return 2;
	}
	b = mmap(NULL, (size_t)board_bytes(&head), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (b == MAP_FAILED) {
		fprintf(stderr, "ipclab __role: mmap board: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	signal(SIGPIPE, SIG_IGN);
	/* A role must not outlive the run that started it (kill -9 of ipclab). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() == 1)
		return 1;
	x.b = b;
	x.slot = slot;
	x.t = ipcl_transport_find(b->cfg.transport);
	if (!x.t) {
		role_fail(&b->slot[slot], IPCL_EINVAL, "transport not built in");
		atomic_store(&b->slot[slot].state, SLOT_FAILED);
		return 1;
	}
	for (int i = 0; i < b->nchan; i++) {
		opts_from_board(b, i, 0, &x.opts[i]);
		rc = ipcl_chan_attach(x.t, &x.opts[i], b->addr[i], &x.chan[i], err);
		if (rc) {
			role_fail(&b->slot[slot], rc, err);
			atomic_store(&b->slot[slot].state, SLOT_FAILED);
			goto out;
		}
	}
	role_run(&x);
out:
	for (int i = 0; i < b->nchan; i++)
		ipcl_chan_release(x.chan[i]);
	rc = b->slot[slot].rc ? 1 : 0;
	munmap(b, (size_t)board_bytes(b));
	return rc;
}

/* ---- the orchestrator --------------------------------------------------- */

int ipcl_run_check(const struct ipcl_runcfg *c, char *err)
{
	const struct ipcl_transport *t = ipcl_transport_find(c->transport);
	int np = c->pattern == IPCL_PINGPONG ? 1 : c->producers;
	int nc = c->pattern == IPCL_PINGPONG ? 1 : c->consumers;

	if (!t)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "unknown transport '%s' (see `ipclab list --all`)",
				   c->transport);
	if (c->size == 0)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "message size must be at least 1 byte");
	if (c->size > ((size_t)1 << 30))
		return ipcl_seterr(err, IPCL_EINVAL, "message size %zu is over 1 GiB",
				   c->size);
	if (c->pattern == IPCL_RATE && (c->rate <= 0 || !c->duration_ns))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "the rate pattern needs --rate and --duration");
	if (c->pattern != IPCL_RATE && c->rate > 0)
		return ipcl_seterr(err, IPCL_EINVAL, "--rate is only for --pattern rate");
	if (!c->count && !c->duration_ns)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "give a message count or a duration");
	if (np < 1 || nc < 1 || np + nc > IPCL_MAX_ROLES)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "producers + consumers must be 2..%d, not %d + %d",
				   IPCL_MAX_ROLES, np, nc);
	if (c->pattern == IPCL_PINGPONG && (c->producers != 1 || c->consumers != 1))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "pingpong has one pinger and one echoer: drop "
				   "--producers/--consumers");
	if (np > 1 && !(t->caps & IPCL_CAP_MULTI_PRODUCER))
		return ipcl_seterr(err, IPCL_EINVAL, "%s takes only one producer",
				   t->name);
	if (nc > 1 && !(t->caps & (IPCL_CAP_MULTI_CONSUMER | IPCL_CAP_FANOUT)))
		return ipcl_seterr(err, IPCL_EINVAL, "%s takes only one consumer",
				   t->name);
	if (np > 0xffff)
		return IPCL_EINVAL;
	if ((t->caps & IPCL_CAP_THREADS_ONLY) && !c->threads)
		return ipcl_seterr(err, IPCL_EINVAL, "%s works only with --threads",
				   t->name);
	if (c->fault && c->fault != IPCL_FAULT_STALL && c->pattern == IPCL_PINGPONG)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--fault %s needs --pattern stream or rate",
				   ipcl_fault_name(c->fault));
	if ((c->fault == IPCL_FAULT_KILL_CONSUMER ||
	     c->fault == IPCL_FAULT_KILL_PRODUCER) &&
	    c->threads)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "--fault %s needs process mode (a thread cannot be "
				   "killed alone): drop --threads",
				   ipcl_fault_name(c->fault));
	if (c->fault == IPCL_FAULT_KILL_CONSUMER && np + nc + 1 > IPCL_MAX_ROLES)
		return ipcl_seterr(
		    err, IPCL_EINVAL,
		    "--fault kill-consumer needs a spare role slot: at most "
		    "%d roles",
		    IPCL_MAX_ROLES - 1);
	for (int i = 0; i < c->nkv; i++) {
		const struct ipcl_option *o = t->options;

		while (o && o->name && strcmp(o->name, c->kv[i].key) != 0)
			o++;
		if (!o || !o->name)
			return ipcl_seterr(err, IPCL_EINVAL,
					   "%s has no option '%s' (see `ipclab list %s`)",
					   t->name, c->kv[i].key, t->name);
	}
	return 0;
}

/* Put url=... into the options of a broker transport; may start a server. */
static int run_server_url(struct ipcl_runcfg *c, const struct ipcl_transport *t,
			  struct ipcl_server *srv, char *err)
{
	const char *env, *url;
	int rc;

	if (!t->server)
		return 0;
	for (int i = 0; i < c->nkv; i++)
		if (strcmp(c->kv[i].key, "url") == 0)
			return 0;
	env = ipcl_server_env(t->server);
	url = env ? getenv(env) : NULL;
	if (!url || !*url) {
		rc = ipcl_server_start(t->server, srv, ipcl_now_ns() + 90 * NS, err);
		if (rc)
			return rc;
		url = srv->url;
	}
	if (c->nkv >= IPCL_MAX_KV)
		return ipcl_seterr(err, IPCL_EINVAL, "too many -O options");
	snprintf(c->kv[c->nkv].key, sizeof c->kv[c->nkv].key, "url");
	snprintf(c->kv[c->nkv].val, sizeof c->kv[c->nkv].val, "%s", url);
	c->nkv++;
	return 0;
}

static pid_t run_spawn(struct board *b, int fd, int slot, const struct ipcl_transport *t,
		       struct role_ctx *x)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (t->caps & IPCL_CAP_RELATED_ONLY) {
		x->slot = slot;
		role_run(x);
		_exit(b->slot[slot].rc ? 1 : 0);
	}
	{
		char fds[16], slots[16];

		snprintf(fds, sizeof fds, "%d", fd);
		snprintf(slots, sizeof slots, "%d", slot);
		execl("/proc/self/exe", "ipclab", "__role", fds, slots, (char *)NULL);
		fprintf(stderr, "ipclab: exec /proc/self/exe: %s\n", strerror(errno));
		_exit(127);
	}
}

static uint64_t run_progress(struct board *b)
{
	uint64_t p = 0;

	for (int i = 0; i < b->nroles; i++) {
		int kind = b->slot[i].kind;

		if (kind == ROLE_PINGER || kind == ROLE_PRODUCER)
			p += atomic_load_explicit(&b->slot[i].progress,
						  memory_order_relaxed);
	}
	return p;
}

static void run_show_progress(struct board *b, int64_t start, int final)
{
	const struct ipcl_runcfg *c = &b->cfg;
	double el = (double)(ipcl_now_ns() - start) / NS;
	uint64_t done = run_progress(b);

	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	if (c->duration_ns)
		fprintf(stderr, "\r\033[K[%s %s %zuB] %.1fs of %.1fs, %llu msgs",
			c->transport, ipcl_pattern_name(c->pattern), b->msg_size, el,
			(double)c->duration_ns / NS, (unsigned long long)done);
	else {
		uint64_t total = (c->count + c->warmup) * (uint64_t)c->producers;
		double f = total ? (double)done / (double)total : 0;

		fprintf(stderr,
			"\r\033[K[%s %s %zuB] %3.0f%% %llu/%llu msgs, %.1fs elapsed",
			c->transport, ipcl_pattern_name(c->pattern), b->msg_size, f * 100,
			(unsigned long long)done, (unsigned long long)total, el);
		if (f > 0.02)
			fprintf(stderr, ", ~%.0fs left", el / f - el);
	}
	fflush(stderr);
}

/*
 * IPCL_FAULT_KILL_CONSUMER: the victim is dead; start a fresh consumer in the
 * next free slot, which opens the channel again and takes the victim's place.
 * Returns 0 when it was started, or -1 with b->restart_err saying why not.
 */
static int run_restart(struct board *b, int fd, const struct ipcl_transport *t,
		       struct role_ctx *x, pid_t *pids)
{
	int r = b->nroles;

	if (t->caps & IPCL_CAP_RELATED_ONLY) {
		snprintf(b->restart_err, sizeof b->restart_err,
			 "%s is related-only: the channel's descriptors lived only in "
			 "the roles, so no new process can open it again",
			 t->name);
		return -1;
	}
	if (r >= IPCL_MAX_ROLES) {
		snprintf(b->restart_err, sizeof b->restart_err, "no free role slot");
		return -1;
	}
	x[r] = x[b->victim];
	x[r].slot = r;
	b->replacement = r;
	b->nroles = r + 1; /* before the fork: the new role checks its slot */
	pids[r] = run_spawn(b, fd, r, t, &x[r]);
	if (pids[r] < 0) {
		b->nroles = r;
		b->replacement = -1;
		snprintf(b->restart_err, sizeof b->restart_err, "fork: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Wait for every role; kill the lot at the watchdog. A role that a fault
 * scenario killed is expected to die (a killed consumer is replaced through
 * run_restart). Returns an error text or NULL.
 */
static const char *run_wait(struct board *b, int fd, const struct ipcl_transport *t,
			    struct role_ctx *x, pid_t *pids, pthread_t *tids, int spawned)
{
	const struct ipcl_runcfg *c = &b->cfg;
	int64_t start = ipcl_now_ns(),
		watchdog = start + c->open_timeout_ns + c->timeout_ns;
	int64_t shown = 0;
	const char *why = NULL;
	int all_ready = 0, left = spawned;
	int tty = c->progress && isatty(2);

	while (left > 0) {
		int64_t now = ipcl_now_ns();

		if (run_interrupted && !atomic_load(&b->abort)) {
			why = "interrupted by a signal";
			atomic_store(&b->abort, 1);
			all_ready = 1;
			watchdog = now + 2 * NS; /* give the roles a moment, then kill */
		}

		if (!all_ready) {
			int ready = 0, failed = 0;

			for (int i = 0; i < b->nroles; i++) {
				int st = atomic_load(&b->slot[i].state);

				ready += st == SLOT_READY;
				failed += st == SLOT_FAILED || st == SLOT_DONE;
			}
			if (failed || atomic_load(&b->abort)) {
				atomic_store(&b->abort, 1);
				all_ready = 1;
			} else if (ready == b->nroles) {
				b->t_go = ipcl_now_ns();
				atomic_store(&b->go, 1);
				all_ready = 1;
				watchdog = b->t_go + c->timeout_ns;
			} else if (now - start > c->open_timeout_ns) {
				why =
				    "the roles did not all open their endpoints in time";
				atomic_store(&b->abort, 1);
				all_ready = 1;
				watchdog = now + 2 * NS;
			}
		}
		if (now > watchdog) {
			if (!why)
				why = "watchdog: the run overran its time limit "
				      "(--timeout) and was "
				      "killed; a message may have been lost on a channel "
				      "that "
				      "cannot report it";
			atomic_store(&b->abort, 1);
			if (tids)
				break; /* threads cannot be killed: leave, report */
			for (int i = 0; i < spawned; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			watchdog = INT64_MAX;
		}
		if (tty && now - start > 2 * NS && now - shown > 250000000) {
			run_show_progress(b, start, 0);
			shown = now;
		}
		if (tids) {
			left = 0;
			for (int i = 0; i < b->nroles; i++) {
				int st = atomic_load(&b->slot[i].state);

				left += st != SLOT_DONE && st != SLOT_FAILED;
			}
		} else {
			int status;
			pid_t p;

			while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
				for (int i = 0; i < spawned; i++) {
					if (pids[i] != p)
						continue;
					pids[i] = -pids[i];
					left--;
					if (WIFSIGNALED(status) && i == b->victim &&
					    atomic_load(&b->fault_fired)) {
						if (b->cfg.fault ==
							IPCL_FAULT_KILL_CONSUMER &&
						    !why &&
						    run_restart(b, fd, t, x, pids) == 0) {
							spawned++;
							left++;
						}
						break;
					}
					if (WIFSIGNALED(status) && !why) {
						struct slot *s = &b->slot[i];

						if (!s->rc)
							role_fail(s, -EINTR,
								  "role process killed");
						snprintf(s->err, sizeof s->err,
							 "role process killed by signal "
							 "%d (%s)",
							 WTERMSIG(status),
							 strsignal(WTERMSIG(status)));
						atomic_store(&b->abort, 1);
					}
				}
			}
		}
		if (left > 0)
			nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
	}
	if (tty && shown)
		run_show_progress(b, start, 1);
	if (tids) {
		for (int i = 0; i < b->nroles; i++)
			if (!why)
				pthread_join(tids[i], NULL);
	}
	return why;
}

/* ---- the fault object of the record --------------------------------------- */

/* The delivery guarantee the counts show (docs/faults.md). */
static const char *fault_guarantee(json_int_t lost, json_int_t dup)
{
	if (!lost)
		return dup ? "at-least-once" : "effectively-once";
	return dup ? "none" : "at-most-once";
}

static json_t *fault_ms(int64_t ns)
{
	return json_real((double)ns / 1e6);
}

static const char *fault_stop_name(int stop)
{
	static const char *const n[] = {"did not stop", "eof",   "end marker",
					"idle",         "error", "aborted"};

	return (unsigned)stop < 6 ? n[stop] : "?";
}

/* "EPIPE: text" of the first producer that failed into out; 0 if none did. */
static int fault_producer_error(const struct board *b, char *out, size_t cap)
{
	for (int i = 0; i < b->cfg.producers; i++)
		if (b->slot[i].rc) {
			snprintf(out, cap, "%s: %s", ipcl_errname(b->slot[i].rc),
				 b->slot[i].err);
			return b->slot[i].rc;
		}
	return 0;
}

static void fault_kill_consumer(const struct board *b, json_t *f, const char *perr,
				char *outcome, size_t cap)
{
	int r = b->replacement;
	int64_t rec = atomic_load(&b->t_recover);

	json_object_set_new(f, "restarted", json_boolean(r >= 0));
	if (b->restart_err[0])
		json_object_set_new(f, "restart_error", json_string(b->restart_err));
	if (b->victim >= 0)
		json_object_set_new(f, "victim_msgs",
				    json_integer((json_int_t)b->slot[b->victim].msgs));
	if (r >= 0)
		json_object_set_new(f, "replacement_msgs",
				    json_integer((json_int_t)b->slot[r].msgs));
	json_object_set_new(f, "recovery_ms",
			    r >= 0 && rec ? fault_ms(rec - b->t_fault) : json_null());
	if (perr[0] && (r < 0 || !rec))
		snprintf(outcome, cap, "producer failed: %.*s", (int)strcspn(perr, ":"),
			 perr);
	else if (r < 0)
		snprintf(outcome, cap, "not restarted: %s", b->restart_err);
	else if (!rec)
		snprintf(outcome, cap, "restarted, the new consumer received nothing%s",
			 b->slot[r].rc ? " (it failed)" : "");
	else
		snprintf(outcome, cap, "restarted");
}

static void fault_kill_producer(const struct board *b, json_t *f, char *outcome,
				size_t cap)
{
	const struct ipcl_runcfg *c = &b->cfg;
	const struct slot *s = &b->slot[c->producers]; /* the first consumer */

	json_object_set_new(f, "producer_sent",
			    json_integer((json_int_t)b->slot[0].msgs));
	json_object_set_new(f, "consumer_stop", json_string(fault_stop_name(s->stop)));
	if (s->stop == STOP_ERROR)
		json_object_set_new(f, "consumer_error", json_string(s->err));
	json_object_set_new(f, "consumer_stop_ms",
			    s->stop && s->t_stop >= b->t_fault
				? fault_ms(s->t_stop - b->t_fault)
				: json_null());
	if (s->stop == STOP_ERROR)
		snprintf(outcome, cap, "consumer error: %s", ipcl_errname(s->rc));
	else if (s->stop == STOP_IDLE)
		snprintf(outcome, cap, "consumer stopped on silence");
	else
		snprintf(outcome, cap, "consumer saw %s", fault_stop_name(s->stop));
}

static void fault_stall(const struct board *b, json_t *f, const char *perr,
			json_int_t lost, char *outcome, size_t cap)
{
	const struct slot *p = &b->slot[0];
	const char *producer = perr[0]                                 ? "failed"
			       : lost                                  ? "dropped"
			       : p->send_max_ns >= b->cfg.stall_ns / 2 ? "blocked"
								       : "buffered";

	json_object_set_new(f, "stall_ms", fault_ms(b->cfg.stall_ns));
	json_object_set_new(f, "producer", json_string(producer));
	json_object_set_new(f, "send_max_ms", fault_ms(p->send_max_ns));
	json_object_set_new(f, "send_blocked_ms", fault_ms(p->send_slow_ns));
	if (!strcmp(producer, "blocked"))
		snprintf(outcome, cap, "producer blocked %.0f ms",
			 (double)p->send_max_ns / 1e6);
	else
		snprintf(outcome, cap, "producer %s", producer);
}

static void fault_oversize(const struct board *b, json_t *f, json_int_t corrupt,
			   char *outcome, size_t cap)
{
	int rc = b->oversize_rc;
	uint64_t whole = atomic_load(&b->oversize_intact),
		 bad = atomic_load(&b->oversize_bad);
	int refused = rc == IPCL_ETOOBIG || rc == -EMSGSIZE;
	int good = refused && !whole && !bad && !corrupt;

	json_object_set_new(f, "oversize_bytes",
			    json_integer((json_int_t)b->oversize_len));
	json_object_set_new(f, "send_result",
			    json_string(rc ? ipcl_errname(rc) : "accepted"));
	json_object_set_new(f, "received_whole", json_integer((json_int_t)whole));
	json_object_set_new(f, "received_damaged", json_integer((json_int_t)bad));
	json_object_set_new(f, "verdict", json_string(good ? "good" : "bad"));
	if (refused)
		snprintf(outcome, cap, "refused (%s)%s", ipcl_errname(rc),
			 good ? "" : ", but messages arrived corrupt");
	else if (rc)
		snprintf(outcome, cap, "send failed: %s", ipcl_errname(rc));
	else if (bad)
		snprintf(outcome, cap, "accepted, arrived truncated or corrupted");
	else if (whole)
		snprintf(outcome, cap, "accepted and delivered whole, over the limit");
	else
		snprintf(outcome, cap, "accepted, never arrived");
}

/*
 * Add the "fault" object to a fault run's record (docs/faults.md): what the
 * event did, the counts of "verify" again, and the delivery guarantee they
 * show; and mark the killed and the replacement role in "roles".
 */
static void run_fault_record(struct board *b, json_t *rec)
{
	const struct ipcl_runcfg *c = &b->cfg;
	json_t *f = json_object(), *v = json_object_get(rec, "verify");
	json_t *roles = json_object_get(rec, "roles");
	json_int_t lost = json_integer_value(json_object_get(v, "lost"));
	json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
	json_int_t corrupt = json_integer_value(json_object_get(v, "corrupt"));
	char perr[IPCL_ERR_MAX + 32] = "", outcome[IPCL_ERR_MAX + 64] = "";

	json_object_set_new(f, "scenario", json_string(ipcl_fault_name(c->fault)));
	json_object_set_new(f, "at", json_integer((json_int_t)c->fault_at));
	json_object_set_new(f, "fired", json_boolean(atomic_load(&b->fault_fired)));
	if (fault_producer_error(b, perr, sizeof perr))
		json_object_set_new(f, "producer_error", json_string(perr));
	switch (c->fault) {
	case IPCL_FAULT_KILL_CONSUMER:
		fault_kill_consumer(b, f, perr, outcome, sizeof outcome);
		break;
	case IPCL_FAULT_KILL_PRODUCER:
		fault_kill_producer(b, f, outcome, sizeof outcome);
		break;
	case IPCL_FAULT_STALL:
		fault_stall(b, f, perr, lost, outcome, sizeof outcome);
		break;
	default:
		fault_oversize(b, f, corrupt, outcome, sizeof outcome);
		break;
	}
	if (!atomic_load(&b->fault_fired))
		snprintf(outcome, sizeof outcome, "not fired: the run ended first");
	json_object_set_new(f, "outcome", json_string(outcome));
	json_object_set_new(f, "lost", json_integer(lost));
	json_object_set_new(f, "duplicated", json_integer(dup));
	json_object_set_new(
	    f, "reordered",
	    json_integer(json_integer_value(json_object_get(v, "reordered"))));
	json_object_set_new(f, "corrupt", json_integer(corrupt));
	json_object_set_new(f, "guarantee", json_string(fault_guarantee(lost, dup)));
	if (b->victim >= 0)
		json_object_set_new(json_array_get(roles, (size_t)b->victim), "fault",
				    json_string("killed"));
	if (b->replacement >= 0)
		json_object_set_new(json_array_get(roles, (size_t)b->replacement),
				    "fault", json_string("replacement"));
	json_object_set_new(rec, "fault", f);
}

json_t *ipcl_run(const struct ipcl_runcfg *cfg0, int *failed, char *err)
{
	static unsigned run_no;
	struct ipcl_runcfg cfg = *cfg0;
	const struct ipcl_transport *t;
	struct ipcl_probe probe = {0};
	struct ipcl_server srv = {0};
	struct board head = {0}, *b = MAP_FAILED;
	struct role_ctx x[IPCL_MAX_ROLES];
	pid_t pids[IPCL_MAX_ROLES] = {0};
	pthread_t tids[IPCL_MAX_ROLES];
	struct ipcl_opts opts[2];
	struct ipcl_chan *chan[2] = {NULL, NULL};
	struct sigaction old_int, old_term;
	const char *why = NULL;
	char perr[IPCL_ERR_MAX] = "", serr[IPCL_ERR_MAX] = "";
	json_t *rec = NULL;
	int fd = -1, rc, spawned = 0;

	*failed = 1;
	rc = ipcl_run_check(&cfg, err);
	if (rc)
		return NULL;
	t = ipcl_transport_find(cfg.transport);
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = {.sa_handler = run_on_signal};

		sigemptyset(&sa.sa_mask);
		run_interrupted = 0;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
	}

	head.magic = BOARD_MAGIC;
	head.cfg = cfg;
	head.nchan = cfg.pattern == IPCL_PINGPONG && !(t->caps & IPCL_CAP_REQREP) ? 2 : 1;
	head.nroles = cfg.pattern == IPCL_PINGPONG ? 2 : cfg.producers + cfg.consumers;
	head.fanout = (t->caps & IPCL_CAP_FANOUT) != 0;
	head.msg_size = cfg.size;
	head.victim = -1;
	head.replacement = -1;
	for (int i = 0; i < 2; i++)
		snprintf(head.tag[i], sizeof head.tag[i], "%d-%u%c", (int)getpid(),
			 run_no, 'a' + i);
	run_no++;

	rc = run_server_url(&cfg, t, &srv, serr);
	head.cfg = cfg;
	if (rc) {
		why = serr;
		goto report;
	}
	opts_from_board(&head, 0, cfg.threads, &opts[0]);
	if (t->probe) {
		rc = t->probe(&opts[0], &probe, perr);
		if (rc == IPCL_EINVAL) {
			snprintf(err, IPCL_ERR_MAX, "%s",
				 perr[0] ? perr : ipcl_strerror(rc));
			goto out;
		}
		if (rc) {
			why = perr[0] ? perr : ipcl_strerror(rc);
			goto report;
		}
	}
	if (probe.max_msg && cfg.size > probe.max_msg &&
	    probe.max_msg >= IPCL_FRAME_HDR) {
		ipcl_seterr(
		    err, IPCL_ETOOBIG,
		    "message size %zu is over the %s limit of %zu bytes on this machine",
		    cfg.size, t->name, probe.max_msg);
		goto out;
	}
	if (probe.max_msg && probe.max_msg < IPCL_FRAME_HDR &&
	    cfg.pattern != IPCL_PINGPONG && cfg.producers > 1) {
		ipcl_seterr(
		    err, IPCL_EINVAL,
		    "%s carries only a sequence number (%zu bytes), which cannot tell "
		    "producers apart: use one producer",
		    t->name, probe.max_msg);
		goto out;
	}
	if (probe.max_msg && probe.max_msg < IPCL_FRAME_HDR) {
		head.mini = 1; /* the sequence number is all that fits */
		head.msg_size = probe.max_msg < 8 ? probe.max_msg : 8;
	} else if (cfg.size < IPCL_FRAME_HDR) {
		ipcl_seterr(
		    err, IPCL_EINVAL,
		    "message size %zu is below the %d-byte ipclab header; use %d or "
		    "more",
		    cfg.size, IPCL_FRAME_HDR, IPCL_FRAME_HDR);
		goto out;
	}
	head.chan_msg_size = head.msg_size;
	if (cfg.fault == IPCL_FAULT_OVERSIZE) {
		if (!probe.max_msg) {
			ipcl_seterr(err, IPCL_EINVAL,
				    "--fault oversize: %s has no message size limit to "
				    "cross",
				    t->name);
			goto out;
		}
		/* The channel is made for its largest message; one byte more follows. */
		head.chan_msg_size = probe.max_msg;
		head.oversize_len = probe.max_msg + 1;
	}
	if (cfg.pattern == IPCL_RATE)
		head.nbits = rate_total(&cfg) + 64;
	else if (cfg.duration_ns)
		head.nbits = (uint64_t)1 << 31;
	else
		head.nbits = cfg.warmup + cfg.count + 64;
	head.nbits = (head.nbits + 63) / 64 * 64;
	if (cfg.pattern == IPCL_PINGPONG)
		head.nsets = 2;
	else
		head.nsets = cfg.producers * (head.fanout ? cfg.consumers : 1);
	head.bitmap_off = (sizeof head + 4095) / 4096 * 4096;

	fd = memfd_create("ipclab-board", 0);
	if (fd < 0 || ftruncate(fd, board_bytes(&head)) < 0) {
		ipcl_seterr(serr, -errno, "board memfd: %s", strerror(errno));
		why = serr;
		goto report;
	}
	b = mmap(NULL, (size_t)board_bytes(&head), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (b == MAP_FAILED) {
		ipcl_seterr(serr, -errno, "board mmap: %s", strerror(errno));
		why = serr;
		goto report;
	}
	memcpy(b, &head, sizeof head);

	for (int i = 0; i < b->nchan; i++) {
		opts_from_board(b, i, cfg.threads, &opts[i]);
		rc = ipcl_chan_create(t, &opts[i], &chan[i], serr);
		if (rc) {
			why = serr;
			if (rc == IPCL_EINVAL || rc == IPCL_ETOOBIG) {
				snprintf(err, IPCL_ERR_MAX, "%s", serr);
				goto out;
			}
			goto report;
		}
		snprintf(b->addr[i], sizeof b->addr[i], "%s", chan[i]->addr);
	}

	for (int i = 0; i < b->nroles; i++) {
		x[i] = (struct role_ctx){.b = b, .slot = i, .t = t};
		for (int k = 0; k < b->nchan; k++)
			x[i].chan[k] = chan[k];
		if (cfg.threads) {
			if (pthread_create(&tids[i], NULL, role_thread, &x[i])) {
				atomic_store(&b->abort, 1);
				why = "pthread_create failed";
				break;
			}
		} else {
			pids[i] = run_spawn(b, fd, i, t, &x[i]);
			if (pids[i] < 0) {
				atomic_store(&b->abort, 1);
				why = "fork failed";
				break;
			}
		}
		spawned++;
	}
	if (!cfg.threads)
		for (int i = 0; i < b->nchan; i++)
			ipcl_chan_detach(chan[i]);
	{
		const char *w = run_wait(b, fd, t, x, cfg.threads ? NULL : pids,
					 cfg.threads ? tids : NULL, spawned);

		if (w && !why)
			why = w;
	}
	if (why && cfg.threads) {
		/* Threads stuck in a transport cannot be stopped safely: leave now. */
		fprintf(stderr, "ipclab: %s\n", why);
		for (int i = 0; i < b->nchan; i++)
			ipcl_chan_destroy(chan[i]);
		if (srv.pid)
			ipcl_server_stop(&srv);
		_exit(1);
	}
report:
	rec = ipcl_result_record(&cfg, t, &probe, b == MAP_FAILED ? NULL : b, why);
	if (b != MAP_FAILED && cfg.fault)
		run_fault_record(b, rec);
	if (b != MAP_FAILED)
		*failed = ipcl_result_failed(rec, cfg.expect_loss);
out:
	for (int i = 0; i < 2; i++)
		ipcl_chan_destroy(chan[i]);
	if (b != MAP_FAILED)
		munmap(b, (size_t)board_bytes(b));
	if (fd >= 0)
		close(fd);
	if (srv.pid)
		ipcl_server_stop(&srv);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (run_interrupted) {
		/* Everything is cleaned up: now die of the signal, as the user asked. */
		json_decref(rec);
		raise(run_interrupted);
		_exit(128 + run_interrupted);
	}
	return rec;
}

/* ---- the board as the result code sees it -------------------------------- */

int ipcl_board_roles(const void *board)
{
	return ((const struct board *)board)->nroles;
}

int ipcl_board_mini(const void *board)
{
	return ((const struct board *)board)->mini;
}

size_t ipcl_board_msg_size(const void *board)
{
	return ((const struct board *)board)->msg_size;
}

void ipcl_board_slot(const void *board, int i, struct ipcl_slot_view *v)
{
	const struct board *b = board;
	const struct slot *s = &b->slot[i];
	static const char *const kinds[] = {"producer", "consumer", "pinger", "echoer"};

	memset(v, 0, sizeof *v);
	v->kind = kinds[s->kind];
	v->sender = s->kind == ROLE_PRODUCER || s->kind == ROLE_PINGER;
	v->index = s->index;
	v->cpu = s->cpu;
	v->rc = s->rc;
	v->err = s->err;
	v->msgs = s->msgs;
	v->measured = s->measured;
	v->bytes = s->bytes;
	v->lost_rtt = s->lost_rtt;
	v->v = s->v;
	v->t_first = s->t_first;
	v->t_last = s->t_last;
	v->cpu_user_ns = s->cpu_user_ns;
	v->cpu_sys_ns = s->cpu_sys_ns;
	v->lat = &s->lat;
	v->lag = &s->lag;
}

/* Unique sequence numbers delivered in bitmap set `set`. */
uint64_t ipcl_board_unique(const void *board, int set)
{
	struct board *b = (struct board *)board;
	const uint64_t *m = board_bitmap(b, set);
	uint64_t n = 0, words = 0;

	/* Only as far as the most any sender sent: the rest was never written. */
	for (int i = 0; i < b->nroles; i++)
		if (b->slot[i].msgs > words)
			words = b->slot[i].msgs;
	words = words / 64 + 2;
	if (words > b->nbits / 64)
		words = b->nbits / 64;
	for (uint64_t w = 0; w < words; w++)
		if (m[w])
			n += (uint64_t)__builtin_popcountll(m[w]);
	return n;
}

int ipcl_board_sets(const void *board)
{
	return ((const struct board *)board)->nsets;
}

int ipcl_board_fanout(const void *board)
{
	return ((const struct board *)board)->fanout;
}
