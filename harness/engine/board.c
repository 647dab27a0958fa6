/*
 * board.c - the shared board of one run (board.h): its layout, creation and
 * mapping (memfd_create, ftruncate, mmap, pread), the start barrier as a role
 * sees it, and the read-only accessors the record uses. Nothing here runs a
 * role or decides what a run measures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/board.h"

/* Bytes of the whole board: the header (page-aligned), then the bitmaps. */
static int64_t board_bytes(const struct ipcl_board *b)
{
	return (int64_t)b->bitmap_off + (int64_t)b->nsets * (int64_t)(b->nbits / 8);
}

static const uint64_t *board_bitmap_ro(const struct ipcl_board *b, int set)
{
	return (const uint64_t *)((const char *)b + b->bitmap_off) +
	       (size_t)set * (b->nbits / 64);
}

uint64_t *ipcl_board_bitmap(struct ipcl_board *b, int set)
{
	return (uint64_t *)((char *)b + b->bitmap_off) + (size_t)set * (b->nbits / 64);
}

/*
 * The bitmap layout: one bit per sequence number a producer can send (the
 * rate pattern's schedule, 2^31 for a timed stream, else warm-up + count), one
 * bitmap per producer, or per producer and consumer on a fan-out channel, and
 * two for ping-pong (one per direction).
 */
static void board_layout(struct ipcl_board *h)
{
	const struct ipcl_runcfg *c = &h->cfg;

	if (c->pattern == IPCL_RATE)
		h->nbits = ipcl_rate_total(c) + 64;
	else if (c->duration_ns)
		h->nbits = (uint64_t)1 << 31;
	else
		h->nbits = c->warmup + c->count + 64;
	h->nbits = (h->nbits + 63) / 64 * 64;
	if (c->pattern == IPCL_PINGPONG)
		h->nsets = 2;
	else
		h->nsets = c->producers * (h->fanout ? c->consumers : 1);
	h->bitmap_off = (sizeof *h + 4095) / 4096 * 4096;
}

int ipcl_board_create(struct ipcl_board *head, int *fd, struct ipcl_board **b, char *err)
{
	void *m;

	*b = NULL;
	head->magic = IPCL_BOARD_MAGIC;
	board_layout(head);
	*fd = memfd_create("ipclab-board", 0);
	if (*fd < 0 || ftruncate(*fd, board_bytes(head)) < 0)
		return ipcl_seterr(err, -errno, "board memfd: %s", strerror(errno));
	m = mmap(NULL, (size_t)board_bytes(head), PROT_READ | PROT_WRITE, MAP_SHARED, *fd,
		 0);
	if (m == MAP_FAILED)
		return ipcl_seterr(err, -errno, "board mmap: %s", strerror(errno));
	memcpy(m, head, sizeof *head);
	*b = m;
	return 0;
}

int ipcl_board_map(int fd, int slot, struct ipcl_board **b, char *err)
{
	struct ipcl_board head;
	void *m;

	*b = NULL;
	if (pread(fd, &head, sizeof head, 0) != (ssize_t)sizeof head ||
	    head.magic != IPCL_BOARD_MAGIC || slot < 0 || slot >= head.nroles)
		return ipcl_seterr(err, IPCL_EINVAL, "not a board or no such slot");
	m = mmap(NULL, (size_t)board_bytes(&head), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (m == MAP_FAILED)
		return ipcl_seterr(err, -errno, "mmap board: %s", strerror(errno));
	*b = m;
	return 0;
}

void ipcl_board_unmap(struct ipcl_board *b)
{
	if (b)
		munmap(b, (size_t)board_bytes(b));
}

void ipcl_board_role_of(const struct ipcl_board *b, int slot, int *kind, int *index)
{
	const struct ipcl_runcfg *c = &b->cfg;

	if (slot == b->replacement) {
		*kind = IPCL_ROLE_CONSUMER;
		*index = b->slot[b->victim].index;
	} else if (c->pattern == IPCL_PINGPONG) {
		*kind = slot == 0 ? IPCL_ROLE_PINGER : IPCL_ROLE_PONGER;
		*index = 0;
	} else if (slot < c->producers) {
		*kind = IPCL_ROLE_PRODUCER;
		*index = slot;
	} else {
		*kind = IPCL_ROLE_CONSUMER;
		*index = slot - c->producers;
	}
}

void ipcl_board_opts(const struct ipcl_board *b, int ch, int threads, struct ipcl_opts *o)
{
	memset(o, 0, sizeof *o);
	o->msg_size = b->chan_msg_size;
	o->producers = b->cfg.pattern == IPCL_PINGPONG ? 1 : b->cfg.producers;
	o->consumers = b->cfg.pattern == IPCL_PINGPONG ? 1 : b->cfg.consumers;
	o->threads = threads;
	o->streaming = b->cfg.pattern != IPCL_PINGPONG;
	o->tag = b->tag[ch];
	o->one_cpu = ipcl_runcfg_one_cpu(&b->cfg);
	o->nkv = b->cfg.nkv;
	o->kv = b->cfg.kv;
}

int ipcl_slot_fail(struct ipcl_slot *s, int rc, const char *err)
{
	s->rc = rc;
	snprintf(s->err, sizeof s->err, "%s", err && *err ? err : ipcl_strerror(rc));
	return rc;
}

int ipcl_board_barrier(struct ipcl_board *b, struct ipcl_slot *s)
{
	atomic_store(&s->state, IPCL_SLOT_READY);
	ipcl_board_event(b);
	while (!atomic_load(&b->go)) {
		if (atomic_load(&b->abort))
			return -ECANCELED;
		nanosleep(&(struct timespec){0, 100000}, NULL);
	}
	return atomic_load(&b->abort) ? -ECANCELED : 0;
}

/* ---- the board as the record sees it ------------------------------------ */

int ipcl_board_roles(const struct ipcl_board *b)
{
	return b->nroles;
}

int ipcl_board_mini(const struct ipcl_board *b)
{
	return b->mini;
}

size_t ipcl_board_msg_size(const struct ipcl_board *b)
{
	return b->msg_size;
}

int ipcl_board_sets(const struct ipcl_board *b)
{
	return b->nsets;
}

int ipcl_board_fanout(const struct ipcl_board *b)
{
	return b->fanout;
}

void ipcl_board_slot(const struct ipcl_board *b, int i, struct ipcl_slot_view *v)
{
	const struct ipcl_slot *s = &b->slot[i];
	static const char *const kinds[] = {"producer", "consumer", "pinger", "echoer"};

	memset(v, 0, sizeof *v);
	v->kind = kinds[s->kind];
	v->sender = s->kind == IPCL_ROLE_PRODUCER || s->kind == IPCL_ROLE_PINGER;
	v->index = s->index;
	v->cpu = s->cpu;
	v->rc = s->rc;
	v->err = s->err;
	v->msgs = s->msgs;
	v->measured = s->measured;
	v->bytes = s->bytes;
	v->lost_rtt = s->lost_rtt;
	v->acked = atomic_load(&s->acked);
	v->ack_kind = s->ack_kind;
	v->resent = s->resent;
	v->stuck = s->stuck;
	v->refused = s->refused;
	v->v = s->v;
	v->t_first = s->t_first;
	v->t_last = s->t_last;
	v->cpu_user_ns = s->cpu_user_ns;
	v->cpu_sys_ns = s->cpu_sys_ns;
	v->lat = &s->lat;
	v->lag = &s->lag;
	v->minflt = s->minflt;
	v->ivl = &s->ivl;
}

/* ---- timing (issue 12) --------------------------------------------------- */

void ipcl_board_timing(const struct ipcl_board *b, struct ipcl_timing_view *v)
{
	v->clock = &b->clock;
	v->stamp_every = b->stamp_every;
	v->pacing_spin = b->pacing_spin;
	v->server_cpu = b->server_cpu;
	v->server_cpu_ns = b->server_cpu_ns;
	v->server_cpu_note = b->server_cpu_note;
	v->process_cpu = b->process_cpu;
	v->process_user_ns = b->process_user_ns;
	v->process_sys_ns = b->process_sys_ns;
}

uint64_t ipcl_board_unique_from(const struct ipcl_board *b, int set, uint64_t from)
{
	const uint64_t *m = board_bitmap_ro(b, set);
	uint64_t all = ipcl_board_unique(b, set), below = 0;

	for (uint64_t i = 0; i < from && i < b->nbits; i++)
		below += (m[i / 64] >> (i % 64)) & 1;
	return all - below;
}

void ipcl_board_event(struct ipcl_board *b)
{
	atomic_fetch_add(&b->event, 1);
	/* Not FUTEX_PRIVATE_FLAG: the word is shared by separate processes. */
	syscall(SYS_futex, &b->event, FUTEX_WAKE, 1, NULL, NULL, 0);
}

void ipcl_board_event_wait(struct ipcl_board *b, uint32_t seen, int64_t deadline_ns)
{
	int64_t left = deadline_ns - ipcl_now_ns();
	struct timespec ts;

	if (left <= 0 || atomic_load(&b->event) != seen)
		return;
	ts.tv_sec = left / 1000000000;
	ts.tv_nsec = left % 1000000000;
	/* EAGAIN (changed), ETIMEDOUT, EINTR: the caller looks again either way. */
	syscall(SYS_futex, &b->event, FUTEX_WAIT, seen, &ts, NULL, 0);
}

uint64_t ipcl_board_unique(const struct ipcl_board *b, int set)
{
	const uint64_t *m = board_bitmap_ro(b, set);
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

uint64_t ipcl_board_missing(const struct ipcl_board *b, int set, uint64_t from,
			    uint64_t to)
{
	const uint64_t *m = board_bitmap_ro(b, set);
	uint64_t n = 0;

	if (to > b->nbits)
		to = b->nbits;
	for (uint64_t i = from; i < to; i++)
		n += !(m[i / 64] >> (i % 64) & 1);
	return n;
}
