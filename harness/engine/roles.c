/*
 * roles.c - the hot loops of a run (roles.h): pinger and echoer for ping-pong,
 * producer (with the rate pattern's pacing) and consumer for stream and rate,
 * each stamping or checking every message's frame and marking its sequence
 * number in the board's bitmaps. Uses the transport's send/recv/ack/reply/
 * flush, sched_setaffinity for placement, getrusage for CPU time and minor
 * page faults, clock_nanosleep for pacing, the board's clock (clock.h:
 * CLOCK_MONOTONIC or the calibrated TSC) for every stamp, mmap (through
 * board.c) for an exec'd role.
 * Left out: starting, watching and restarting roles (run.c), and the fault
 * events themselves (inject.c), which the loops call at the exact count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/board.h"
#include "engine/endpoint.h"
#include "engine/frame.h"
#include "engine/histogram.h"
#include "engine/inject.h"
#include "engine/registry.h"
#include "engine/roles.h"

#define NS 1000000000LL

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

static void role_cpu(struct ipcl_board *b, struct rusage *ru)
{
	getrusage(b->cfg.threads ? RUSAGE_THREAD : RUSAGE_SELF, ru);
}

/*
 * Fill a producer's message buffer with the payload pattern; returns the crc
 * stamp() needs: of every payload byte, or of the sampled ones (--verify
 * sample); 0 for a mini frame.
 */
static uint32_t role_fill(struct ipcl_board *b, unsigned char *buf)
{
	uint32_t crc;

	if (b->mini)
		return 0;
	crc = ipcl_frame_fill(buf, b->msg_size);
	return b->cfg.verify_sample ? ipcl_frame_sample_crc(buf, b->msg_size) : crc;
}

static void stamp(struct ipcl_board *b, void *buf, uint16_t producer, uint16_t flags,
		  uint64_t seq, int64_t when, uint32_t pcrc)
{
	if (b->cfg.verify_sample)
		flags |= IPCL_FRAME_SAMPLED;
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
static int unstamp(struct ipcl_board *b, const void *buf, size_t len, uint64_t *seq,
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
	/* A frame checked otherwise than the run asked is corrupt too. */
	if (ipcl_frame_check(buf, len, &h) ||
	    !(h.flags & IPCL_FRAME_SAMPLED) != !b->cfg.verify_sample)
		return IPCL_EPROTO;
	*seq = h.seq;
	*producer = h.producer;
	*sent = h.send_ns;
	*end = (h.flags & IPCL_FRAME_END) != 0;
	return 0;
}

/* Does the message look like an end marker? (Checked in full by unstamp.) */
static int unstamp_end(struct ipcl_board *b, const void *buf, size_t len)
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

/* Does a full frame carry a send time? (A 1-in-N stream leaves most at 0.) */
static int roles_stamped(const struct ipcl_board *b, const void *buf, size_t len)
{
	struct ipcl_frame_hdr h;

	if (b->mini || len < IPCL_FRAME_HDR)
		return 0;
	memcpy(&h, buf, sizeof h);
	return h.send_ns != 0;
}

/* Record a data message in the verification state of consumer `set_base`. */
static void verify(struct ipcl_board *b, struct ipcl_slot *s, int set, uint64_t *highest,
		   uint64_t seq)
{
	ipcl_verify_seq(&s->v, ipcl_board_bitmap(b, set), b->nbits, highest, seq);
}

/*
 * Zero-copy (loan) transports: the message is written into a slot loaned from
 * the channel and read where it lies. Sending copies the frame in buf into the
 * slot: all of it, or only what a sampled check reads (--verify sample), which
 * is then all that a producer writes, as an application filling its message
 * in place would. Other transports copy it with send().
 */
static int role_put(struct ipcl_role_ctx *x, struct ipcl_ep *out, const void *buf,
		    size_t len, int64_t deadline_ns)
{
	const struct ipcl_transport *t = x->t;
	void *slot;
	int rc;

	if (!t->loan)
		return t->send(out, buf, len, deadline_ns);
	rc = t->loan(out, len, &slot, deadline_ns);
	if (rc)
		return rc;
	ipcl_frame_copy(slot, buf, len, x->b->cfg.verify_sample && !x->b->mini);
	return t->publish(out, len);
}

/*
 * Receive the next message: *msg points at it, in the channel itself (a loan
 * transport: held until role_release()) or copied into rx (cap bytes).
 */
static int role_get(struct ipcl_role_ctx *x, struct ipcl_ep *in, unsigned char *rx,
		    size_t cap, size_t *len, const unsigned char **msg,
		    int64_t deadline_ns)
{
	const struct ipcl_transport *t = x->t;
	const void *p;
	int rc;

	if (!t->peek) {
		*msg = rx;
		return t->recv(in, rx, cap, len, deadline_ns);
	}
	rc = t->peek(in, &p, len, deadline_ns);
	*msg = p;
	return rc;
}

/* Give a message role_get() returned back to a loan transport; 0 or an error. */
static int role_release(struct ipcl_role_ctx *x, struct ipcl_ep *in)
{
	return x->t->release ? x->t->release(in) : 0;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = {.tv_sec = t / NS, .tv_nsec = t % NS};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* ---- ping-pong ---------------------------------------------------------- */

static int run_pinger(struct ipcl_role_ctx *x, struct ipcl_ep *out, struct ipcl_ep *in)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	size_t size = b->msg_size, len;
	unsigned char *buf = malloc(size), *rx = malloc(size);
	const unsigned char *msg;
	int lossy = (t->caps & IPCL_CAP_LOSSY) != 0, rc = 0, bad;
	uint32_t pcrc;
	uint64_t seq, highest = 0;
	int64_t until = 0;

	if (!buf || !rx) {
		rc = ipcl_slot_fail(s, -ENOMEM, "out of memory");
		goto out;
	}
	pcrc = role_fill(b, buf);
	for (seq = 0;; seq++) {
		int64_t t0 = ipcl_clock_now(&b->clock), t1;
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
		rc = role_put(x, out, buf, size, IPCL_FOREVER);
		if (rc) {
			ipcl_slot_fail(s, rc, out->err);
			goto out;
		}
		s->msgs++;
	again:
		rc = role_get(x, in, rx, size, &len, &msg,
			      lossy ? t0 + b->cfg.idle_ns : IPCL_FOREVER);
		t1 = ipcl_clock_now(&b->clock);
		if (rc == -ETIMEDOUT && lossy) {
			s->lost_rtt++;
			rc = 0;
			continue;
		}
		if (rc) {
			ipcl_slot_fail(s, rc, in->err);
			goto out;
		}
		bad = unstamp(b, msg, len, &rseq, &producer, &sent, &end);
		rc = role_release(x, in);
		if (rc) {
			ipcl_slot_fail(s, rc, in->err);
			goto out;
		}
		if (bad) {
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
			ipcl_ivl_record(&s->ivl, t1, (uint64_t)(t1 - t0));
			s->measured++;
			s->t_last = t1;
		}
		if ((seq & 1023) == 0)
			atomic_store_explicit(&s->progress, seq, memory_order_relaxed);
	}
	/* Tell the echoer to stop: an end marker, then EOF where there is one. */
	stamp(b, buf, 0, IPCL_FRAME_END, UINT64_MAX, ipcl_now_ns(), pcrc);
	rc = role_put(x, out, buf, size, ipcl_now_ns() + b->cfg.idle_ns);
	if (rc == -ETIMEDOUT || (lossy && rc))
		rc = 0;
	if (rc)
		ipcl_slot_fail(s, rc, out->err);
out:
	free(buf);
	free(rx);
	return rc;
}

static int run_ponger(struct ipcl_role_ctx *x, struct ipcl_ep *in, struct ipcl_ep *out)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	int reqrep = t->reply != NULL, rc = 0; /* echo on the request's channel */
	size_t size = b->msg_size, len;
	unsigned char *rx = malloc(size);
	const unsigned char *msg;
	uint64_t highest = 0;

	if (!rx)
		return ipcl_slot_fail(s, -ENOMEM, "out of memory");
	for (;;) {
		uint64_t seq;
		int producer, end, bad;
		int64_t sent, now;

		rc = role_get(x, in, rx, size, &len, &msg, IPCL_FOREVER);
		now = ipcl_clock_now(&b->clock);
		if (rc == IPCL_EOF) {
			rc = 0;
			break;
		}
		if (rc) {
			ipcl_slot_fail(s, rc, in->err);
			break;
		}
		/*
		 * Echo first and check afterwards, so that the check (a checksum over
		 * the whole message) overlaps the echo's trip instead of adding to the
		 * round trip. Only an end marker is checked before: it is not echoed.
		 */
		if (!unstamp_end(b, msg, len)) {
			if (t->ack)
				t->ack(in);
			rc = reqrep ? t->reply(in, msg, len, IPCL_FOREVER)
				    : role_put(x, out, msg, len, IPCL_FOREVER);
			if (rc) {
				ipcl_slot_fail(s, rc, reqrep ? in->err : out->err);
				break;
			}
		}
		bad = unstamp(b, msg, len, &seq, &producer, &sent, &end);
		rc = role_release(x, in);
		if (rc) {
			ipcl_slot_fail(s, rc, in->err);
			break;
		}
		if (bad) {
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

/*
 * Rate pattern: wait until the intended send time (ns on the board's clock).
 * Sleeping (b->pacing_spin 0) is one clock_nanosleep to the absolute time:
 * the wake-up is late by the machine's timer and scheduling latency (tens of
 * us on a VM), which the send lag shows. Spinning (1, only when a CPU is free
 * for it: ipcl_pacing_spins) sleeps until 60 us before and spins the rest, so
 * the sender's CPU time then includes pacing. *when is set to the actual time
 * of the send; returns intended.
 */
static int64_t producer_pace(const struct ipcl_board *b, int64_t intended, int64_t *when)
{
	if (intended <= *when)
		return intended;
	if (!b->pacing_spin) {
		ipcl_clock_sleep_until(&b->clock, intended);
		*when = ipcl_clock_now(&b->clock);
		return intended;
	}
	if (intended - *when > 100000)
		ipcl_clock_sleep_until(&b->clock, intended - 60000);
	while ((*when = ipcl_clock_now(&b->clock)) < intended)
		;
	return intended;
}

/*
 * The last producer to finish sends the end markers: one per consumer of a
 * work queue, one for all of a fan-out. Markers can be lost on a lossy
 * channel, so it repeats them until every consumer has stopped or the idle
 * time has passed (the consumers then stop on their own). buf is the
 * producer's message buffer, pcrc its payload checksum.
 */
static void producer_end(struct ipcl_role_ctx *x, struct ipcl_ep *out, unsigned char *buf,
			 uint32_t pcrc)
{
	struct ipcl_board *b = x->b;
	const struct ipcl_transport *t = x->t;
	const struct ipcl_runcfg *c = &b->cfg;
	size_t size = b->msg_size;
	int n = (t->caps & IPCL_CAP_FANOUT) ? 1 : c->consumers;
	int64_t stop = ipcl_now_ns() + c->idle_ns + c->idle_ns;

	stamp(b, buf, (uint16_t)x->slot, IPCL_FRAME_END, UINT64_MAX, ipcl_now_ns(), pcrc);
	do {
		for (int i = 0; i < n; i++)
			if (t->send(out, buf, size, ipcl_now_ns() + c->idle_ns))
				break;
		if (t->flush)
			t->flush(out, ipcl_now_ns() + c->idle_ns);
		if (!(t->caps & IPCL_CAP_LOSSY))
			break;
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	} while (atomic_load(&b->consumers_done) < c->consumers && ipcl_now_ns() < stop);
}

/*
 * After a send: note on the board how far the producer is and how many of its
 * messages the other side has acknowledged (see struct ipcl_slot), so that
 * both survive a SIGKILL. replies: the replies a request/response producer
 * has read itself.
 */
static void producer_note(struct ipcl_role_ctx *x, struct ipcl_ep *out, uint64_t replies)
{
	struct ipcl_slot *s = &x->b->slot[x->slot];
	int64_t a;

	atomic_store_explicit(&s->sent, s->msgs, memory_order_relaxed);
	switch (s->ack_kind) {
	case IPCL_ACK_TRANSPORT:
		a = x->t->acked(out);
		if (a >= 0)
			atomic_store_explicit(&s->acked, (uint64_t)a,
					      memory_order_relaxed);
		break;
	case IPCL_ACK_REPLY:
		atomic_store_explicit(&s->acked, replies, memory_order_relaxed);
		break;
	default:
		atomic_store_explicit(&s->acked, s->msgs, memory_order_relaxed);
		break;
	}
}

/*
 * kill-consumer: once the producer has passed the fault point it goes on at
 * one message per ms until the replacement consumer has received something
 * (or could not be started, or 2 x the open timeout has passed), so the
 * scenario measures a takeover while messages still flow instead of a queue
 * that was filled before the kill. Returns 1 when it paced this message.
 */
static int producer_hold(struct ipcl_board *b, uint64_t seq, int64_t *until)
{
	const struct ipcl_runcfg *c = &b->cfg;

	if (c->fault != IPCL_FAULT_KILL_CONSUMER || seq < c->fault_at)
		return 0;
	if (!*until)
		*until = ipcl_now_ns() + 2 * c->open_timeout_ns;
	if (atomic_load(&b->t_recover) || b->restart_err[0] || ipcl_now_ns() >= *until)
		return 0;
	nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	return 1;
}

/*
 * Request/response under a fault: send with a deadline (the idle time). A
 * -ETIMEDOUT means the reply to the previous request never came (its
 * consumer died holding it): send that request again, then this one. Gives
 * up as stuck after 5 timeouts in a row. Returns send()'s result.
 */
static int producer_send_reqrep(struct ipcl_role_ctx *x, struct ipcl_ep *out,
				unsigned char *buf, uint64_t seq, int64_t intended,
				uint32_t pcrc)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	size_t size = b->msg_size;
	int rc = 0;

	for (int tries = 0; tries < 5; tries++) {
		rc = t->send(out, buf, size, ipcl_now_ns() + b->cfg.idle_ns);
		if (rc != -ETIMEDOUT || seq == 0)
			return rc;
		stamp(b, buf, (uint16_t)x->slot, 0, seq - 1, intended, pcrc);
		rc = t->send(out, buf, size, ipcl_now_ns() + b->cfg.idle_ns);
		stamp(b, buf, (uint16_t)x->slot, 0, seq, intended, pcrc);
		if (rc == 0)
			s->resent++;
		else if (rc != -ETIMEDOUT)
			return rc;
	}
	s->stuck = 1;
	snprintf(out->err, sizeof out->err,
		 "stuck: no reply within %.1f s, 5 times in a row, even after resending",
		 (double)b->cfg.idle_ns / 1e9);
	return rc;
}

static int run_producer(struct ipcl_role_ctx *x, struct ipcl_ep *out)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	const struct ipcl_runcfg *c = &b->cfg;
	size_t size = b->msg_size;
	unsigned char *buf = malloc(size), *rx = malloc(size);
	int rate = c->pattern == IPCL_RATE, rc = 0, last;
	int reqrep = (t->caps & IPCL_CAP_REQREP) != 0;
	int64_t period = 0, t0 = ipcl_clock_now(&b->clock), until = 0, when = t0,
		hold_until = 0;
	uint64_t seq, total = c->warmup + c->count, replies = 0;
	/* Stream: the clock is read (and the message stamped) 1 in `every`;
	 * a message not stamped carries send time 0. */
	uint64_t every = b->stamp_every ? b->stamp_every : 1;
	uint32_t pcrc;
	/* A request that may lose its reply to a fault is sent with a deadline. */
	int reqrep_fault = reqrep && c->fault == IPCL_FAULT_KILL_CONSUMER;

	if (!buf || !rx) {
		free(buf);
		free(rx);
		return ipcl_slot_fail(s, -ENOMEM, "out of memory");
	}
	pcrc = role_fill(b, buf);
	s->ack_kind = t->acked && t->acked(out) >= 0 ? IPCL_ACK_TRANSPORT
		      : reqrep                       ? IPCL_ACK_REPLY
						     : IPCL_ACK_SEND;
	if (rate) {
		/* producer_pace sleeps to 60 us before each send: 1 ns timer slack. */
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
		period = ipcl_rate_period(c);
		total = ipcl_rate_total(c);
	} else if (c->duration_ns) {
		total = UINT64_MAX;
	}
	for (seq = 0; seq < total; seq++) {
		int64_t intended;
		int stamped = every == 1 || seq % every == 0 || seq == c->warmup;

		if (stamped)
			when = ipcl_clock_now(&b->clock);
		intended = stamped ? when : 0;
		if (atomic_load_explicit(&b->abort, memory_order_relaxed))
			break;
		if (rate)
			intended = producer_pace(b, t0 + (int64_t)seq * period, &when);
		if (seq == c->warmup) {
			s->t_first = rate ? intended : when;
			if (c->duration_ns && !rate)
				until = when + c->duration_ns;
		}
		if (until && stamped && when >= until)
			break;
		if (c->fault && x->slot == 0 && seq == c->fault_at) {
			if (c->fault == IPCL_FAULT_KILL_PRODUCER) {
				/* Done, as far as the consumers' idle check goes. */
				atomic_fetch_add(&b->producers_done, 1);
				ipcl_fault_die(b, x->slot);
			}
			if (c->fault == IPCL_FAULT_OVERSIZE)
				ipcl_fault_oversize_send(b, t, out);
		}
		stamp(b, buf, (uint16_t)x->slot, 0, seq, intended, pcrc);
		rc = reqrep_fault ? producer_send_reqrep(x, out, buf, seq, intended, pcrc)
				  : role_put(x, out, buf, size, IPCL_FOREVER);
		if (rc) {
			ipcl_slot_fail(s, rc, out->err);
			break;
		}
		if (c->fault == IPCL_FAULT_STALL) {
			int64_t took = ipcl_clock_now(&b->clock) - when;

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
				replies++;
		}
		if (rate && seq >= c->warmup)
			ipcl_hist_record(&s->lag, (uint64_t)(when - intended));
		s->msgs++;
		producer_note(x, out, replies);
		producer_hold(b, seq, &hold_until);
		if ((seq & 1023) == 0)
			atomic_store_explicit(&s->progress, seq, memory_order_relaxed);
	}
	if (!rc && t->flush) {
		rc = t->flush(out, ipcl_now_ns() + c->timeout_ns);
		if (rc)
			ipcl_slot_fail(s, rc, out->err);
	}
	if (reqrep) {
		size_t rl;

		while (t->recv(out, rx, size, &rl, 0) == 0)
			replies++;
	}
	producer_note(x, out, replies);
	s->t_last = ipcl_clock_now(&b->clock);
	s->measured = s->msgs > c->warmup ? s->msgs - c->warmup : 0;

	last = atomic_fetch_add(&b->producers_done, 1) + 1 == c->producers;
	if (last && !(t->caps & IPCL_CAP_HAS_EOF) && !atomic_load(&b->abort))
		producer_end(x, out, buf, pcrc);
	free(buf);
	free(rx);
	return rc;
}

/*
 * A timed receive of a consumer found nothing. Returns 1, with s->stop set,
 * when the consumer stops: the run was aborted, a drain went quiet, or the
 * producers are done and the channel has been silent (quiet_ns) for the idle
 * time; else 0.
 */
static int consumer_quiet(struct ipcl_board *b, struct ipcl_slot *s, int draining,
			  int64_t quiet_ns)
{
	if (atomic_load(&b->abort) || draining) {
		s->stop = draining ? IPCL_STOP_END : IPCL_STOP_ABORT;
		return 1;
	}
	if (atomic_load(&b->producers_done) == b->cfg.producers &&
	    quiet_ns >= b->cfg.idle_ns) {
		s->stop = IPCL_STOP_IDLE;
		return 1;
	}
	return 0;
}

/*
 * Count a verified data message of len bytes, sent at `sent` and received at
 * `now` (ns): after the warm-up its one-way latency, bytes and time; always
 * the message count and the progress every 1024 messages.
 */
static void consumer_count(struct ipcl_board *b, struct ipcl_slot *s, uint64_t seq,
			   size_t len, int64_t sent, int64_t now)
{
	if (seq >= b->cfg.warmup) {
		if (!b->mini && sent) { /* a mini or unstamped frame has no send time */
			ipcl_hist_record(&s->lat, (uint64_t)(now - sent));
			ipcl_ivl_record(&s->ivl, now, (uint64_t)(now - sent));
		}
		s->measured++;
		s->bytes += len;
		if (now)
			s->t_last = now;
	}
	s->msgs++;
	if ((s->msgs & 1023) == 0)
		atomic_store_explicit(&s->progress, s->msgs, memory_order_relaxed);
}

static int run_consumer(struct ipcl_role_ctx *x, struct ipcl_ep *in)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
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
	const unsigned char *msg;
	uint64_t highest[IPCL_MAX_ROLES] = {0};
	int64_t last_rx = ipcl_now_ns();
	int held = 0; /* a loaned message is still to be released */
	/* Stream with 1-in-N stamps: a channel with EOF reads the clock only for
	 * stamped messages; a timed one needs it for every message (silence). */
	int sparse = b->stamp_every > 1 && !timed;

	if (!rx)
		return ipcl_slot_fail(s, -ENOMEM, "out of memory");
	for (;;) {
		uint64_t seq;
		int producer, end, set;
		int64_t sent, now, deadline = IPCL_FOREVER;

		if (held) {
			held = 0;
			rc = role_release(x, in);
			if (rc) {
				ipcl_slot_fail(s, rc, in->err);
				s->stop = IPCL_STOP_ERROR;
				break;
			}
		}

		/*
		 * Channels with EOF block with no timer. Others wake now and then to
		 * notice that the producers are done and the channel has gone quiet.
		 */
		if (timed)
			deadline = ipcl_now_ns() + c->idle_ns / 4;
		rc = role_get(x, in, rx, cap, &len, &msg, deadline);
		now = sparse ? 0 : ipcl_clock_now(&b->clock);
		if (rc == -ETIMEDOUT && timed) {
			rc = 0;
			/*
			 * Silence counts only once every producer is done: a
			 * channel may deliver late (a broker's batches), and a
			 * wait before the end says nothing about what is to come.
			 */
			if (atomic_load(&b->producers_done) < c->producers)
				last_rx = now;
			if (consumer_quiet(b, s, draining, now - last_rx))
				break;
			continue;
		}
		if (rc == IPCL_EOF) {
			rc = 0;
			s->stop = IPCL_STOP_EOF;
			if (sparse && s->measured)
				s->t_last = ipcl_clock_now(&b->clock);
			break;
		}
		if (rc) {
			ipcl_slot_fail(s, rc, in->err);
			s->stop = IPCL_STOP_ERROR;
			break;
		}
		held = 1;
		if (sparse && roles_stamped(b, msg, len))
			now = ipcl_clock_now(&b->clock);
		if (now)
			last_rx = now;
		if (len > size && b->oversize_len) {
			ipcl_fault_oversize_recv(b, msg, len);
			continue;
		}
		if (unstamp(b, msg, len, &seq, &producer, &sent, &end) ||
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
				s->stop = IPCL_STOP_END;
				if (sparse && s->measured)
					s->t_last = ipcl_clock_now(&b->clock);
				break;
			}
			continue;
		}
		if (x->slot == b->replacement && !atomic_load(&b->t_recover))
			atomic_store(&b->t_recover, ipcl_now_ns());
		/*
		 * The victim dies holding this message (received, not processed)
		 * once the producer has sent fault_at messages: the fault point is
		 * the producer's progress, which then goes on (producer_hold).
		 */
		if (victim && !atomic_load(&b->fault_fired) &&
		    atomic_load_explicit(&b->slot[0].sent, memory_order_relaxed) >=
			c->fault_at) {
			b->producer_at_kill = atomic_load(&b->slot[0].sent);
			ipcl_fault_die(b, x->slot);
		}
		set = b->fanout ? idx * c->producers + producer : producer;
		verify(b, s, set, &highest[producer], seq);
		consumer_count(b, s, seq, len, sent, now);
		if (t->ack && (rc = t->ack(in)) != 0) {
			ipcl_slot_fail(s, rc, in->err);
			s->stop = IPCL_STOP_ERROR;
			break;
		}
		if (reqrep) {
			ipcl_frame_stamp(ack, sizeof ack, (uint16_t)producer, 0, seq,
					 sent, ipcl_crc32c(0, NULL, 0));
			rc = t->reply(in, ack, sizeof ack, IPCL_FOREVER);
			if (rc) {
				ipcl_slot_fail(s, rc, in->err);
				s->stop = IPCL_STOP_ERROR;
				break;
			}
		}
		if (stall && s->msgs >= c->fault_at) {
			stall = 0;
			sleep_until(ipcl_fault_fire(b) + c->stall_ns);
		}
	}
	if (held && !rc)
		role_release(x, in);
	s->t_stop = ipcl_now_ns();
	atomic_fetch_add(&b->consumers_done, 1);
	free(rx);
	return rc;
}

/* ---- a role, whatever runs it ------------------------------------------- */

/*
 * --producer-only: a consumer waits here, idle (1 ms sleeps), until every
 * producer has ended or the run is aborted; its CPU time is counted after.
 */
static void role_await_producers(struct ipcl_board *b)
{
	while (atomic_load(&b->producers_done) < b->cfg.producers &&
	       !atomic_load(&b->abort))
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
}

void ipcl_role_run(struct ipcl_role_ctx *x)
{
	struct ipcl_board *b = x->b;
	struct ipcl_slot *s = &b->slot[x->slot];
	const struct ipcl_transport *t = x->t;
	int kind, index, rc = 0, reqrep = t->reply != NULL; /* ping-pong: one channel */
	struct ipcl_ep *ep[2] = {NULL, NULL};
	char err[IPCL_ERR_MAX] = "";
	int64_t deadline = ipcl_now_ns() + b->cfg.open_timeout_ns;
	struct rusage r0, r1;

	ipcl_board_role_of(b, x->slot, &kind, &index);
	s->kind = kind;
	s->index = index;
	s->cpu = role_pin(&b->cfg, x->slot);
	ipcl_hist_init(&s->lat);
	ipcl_hist_init(&s->lag);
	ipcl_ivl_init(&s->ivl);

	/* Open in channel order, so blocking opens (FIFOs) pair up. */
	switch (kind) {
	case IPCL_ROLE_PINGER:
		rc = ipcl_ep_open(x->chan[0], IPCL_PRODUCER, 0, deadline, &ep[0], err);
		if (!rc && !reqrep)
			rc = ipcl_ep_open(x->chan[1], IPCL_CONSUMER, 0, deadline, &ep[1],
					  err);
		break;
	case IPCL_ROLE_PONGER:
		rc = ipcl_ep_open(x->chan[0], IPCL_CONSUMER, 0, deadline, &ep[0], err);
		if (!rc && !reqrep)
			rc = ipcl_ep_open(x->chan[1], IPCL_PRODUCER, 0, deadline, &ep[1],
					  err);
		break;
	case IPCL_ROLE_PRODUCER:
		rc =
		    ipcl_ep_open(x->chan[0], IPCL_PRODUCER, index, deadline, &ep[0], err);
		break;
	default:
		rc =
		    ipcl_ep_open(x->chan[0], IPCL_CONSUMER, index, deadline, &ep[0], err);
		break;
	}
	if (rc) {
		ipcl_slot_fail(s, rc, err);
		atomic_store(&b->abort, 1);
		goto out;
	}
	if (ipcl_board_barrier(b, s))
		goto out;
	if (kind == IPCL_ROLE_CONSUMER && b->cfg.producer_only)
		role_await_producers(b);
	role_cpu(b, &r0);
	switch (kind) {
	case IPCL_ROLE_PINGER:
		rc = run_pinger(x, ep[0], reqrep ? ep[0] : ep[1]);
		break;
	case IPCL_ROLE_PONGER:
		rc = run_ponger(x, ep[0], reqrep ? ep[0] : ep[1]);
		break;
	case IPCL_ROLE_PRODUCER:
		rc = run_producer(x, ep[0]);
		break;
	default:
		rc = run_consumer(x, ep[0]);
		break;
	}
	role_cpu(b, &r1);
	ipcl_ivl_flush(&s->ivl);
	s->cpu_user_ns = cpu_ns(&r1.ru_utime) - cpu_ns(&r0.ru_utime);
	s->cpu_sys_ns = cpu_ns(&r1.ru_stime) - cpu_ns(&r0.ru_stime);
	s->minflt = r1.ru_minflt - r0.ru_minflt;
out:
	for (int i = 0; i < 2; i++) {
		int crc;

		if (ep[i])
			s->refused += ep[i]->refused;
		crc = ipcl_ep_close(ep[i], ipcl_now_ns() + b->cfg.idle_ns * 4);

		if (crc && !rc && !s->rc)
			rc =
			    ipcl_slot_fail(s, crc, "closing the endpoint failed (flush)");
	}
	atomic_store(&s->state, s->rc ? IPCL_SLOT_FAILED : IPCL_SLOT_DONE);
	ipcl_board_event(b);
}

void *ipcl_role_thread(void *arg)
{
	ipcl_role_run(arg);
	return NULL;
}

int ipcl_role_exec(int fd, int slot)
{
	struct ipcl_board *b;
	struct ipcl_role_ctx x = {0};
	char err[IPCL_ERR_MAX];
	int rc = ipcl_board_map(fd, slot, &b, err);

	if (rc) {
		/* The one line an exec'd role prints: it has no board to write to. */
		fprintf(stderr, "ipclab __role: %s\n", err);
		return rc == IPCL_EINVAL ? 2 : 1;
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
		ipcl_slot_fail(&b->slot[slot], IPCL_EINVAL, "transport not built in");
		atomic_store(&b->slot[slot].state, IPCL_SLOT_FAILED);
		ipcl_board_event(b);
		return 1;
	}
	for (int i = 0; i < b->nchan; i++) {
		ipcl_board_opts(b, i, 0, &x.opts[i]);
		rc = ipcl_chan_attach(x.t, &x.opts[i], b->addr[i], &x.chan[i], err);
		if (rc) {
			ipcl_slot_fail(&b->slot[slot], rc, err);
			atomic_store(&b->slot[slot].state, IPCL_SLOT_FAILED);
			ipcl_board_event(b);
			goto out;
		}
	}
	ipcl_role_run(&x);
out:
	for (int i = 0; i < b->nchan; i++)
		ipcl_chan_release(x.chan[i]);
	rc = b->slot[slot].rc ? 1 : 0;
	ipcl_board_unmap(b);
	return rc;
}
