/*
 * board.h - the shared board of one run: a memfd mapped MAP_SHARED by the
 * orchestrator and every role (process or thread). It holds the run's
 * configuration, the channel addresses, a start barrier, one result slot per
 * role (counts, CPU times, histograms), the fault scenario's notes, and after
 * the header one bitmap per (producer[, consumer]) set recording every
 * delivered sequence number. Uses memfd_create, ftruncate, mmap.
 *
 * Fields written by more than one role at once are _Atomic; the rest of a slot
 * belongs to its role until the role has ended. Left out: anything that runs a
 * role (roles.h) or writes a record (record.h).
 */
#ifndef IPCLAB_BOARD_H
#define IPCLAB_BOARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/clock.h"
#include "engine/config.h"
#include "engine/frame.h"
#include "engine/histogram.h"
#include "engine/interval.h"
#include <ipclab/transport.h>

#define IPCL_BOARD_MAGIC 0x424c4349u

enum ipcl_slot_state {
	IPCL_SLOT_STARTING = 0,
	IPCL_SLOT_READY, /* endpoints open, waiting at the barrier */
	IPCL_SLOT_DONE,
	IPCL_SLOT_FAILED,
};

enum ipcl_role_kind {
	IPCL_ROLE_PRODUCER = 0,
	IPCL_ROLE_CONSUMER,
	IPCL_ROLE_PINGER,
	IPCL_ROLE_PONGER,
};

/* Why a consumer stopped (fault records); IPCL_STOP_NONE while it runs. */
enum ipcl_stop {
	IPCL_STOP_NONE = 0,
	IPCL_STOP_EOF,
	IPCL_STOP_END,
	IPCL_STOP_IDLE,
	IPCL_STOP_ERROR,
	IPCL_STOP_ABORT,
};

/* Where a producer's acknowledged count comes from. */
enum ipcl_ack_kind {
	IPCL_ACK_SEND = 0,      /* none: a returned send() is all there is */
	IPCL_ACK_TRANSPORT = 1, /* the transport's acked(): confirms, replies, COMMIT */
	IPCL_ACK_REPLY = 2,     /* request/response: the replies the producer read */
};

struct ipcl_slot {
	_Atomic int state; /* enum ipcl_slot_state */
	int kind, index;   /* enum ipcl_role_kind, endpoint index */
	int cpu;           /* CPU it was pinned to, or -1 */
	int rc;
	char err[IPCL_ERR_MAX];
	_Atomic uint64_t progress; /* messages so far, for the progress line */
	_Atomic uint64_t sent;     /* producer: messages sent, stored after each send */
	/*
	 * Producer: messages the receiving side has acknowledged (a prefix of the
	 * sequence numbers), stored after each send, so the count survives a
	 * SIGKILL of the producer; ack_kind says where it comes from.
	 */
	_Atomic uint64_t acked;
	int ack_kind;      /* enum ipcl_ack_kind */
	uint64_t resent;   /* producer, request/response: requests sent again */
	int stuck;         /* producer: a reply never came, even after resending */
	uint64_t msgs;     /* sent (producer, pinger) or received */
	uint64_t measured; /* of which after warm-up */
	uint64_t bytes;
	uint64_t lost_rtt; /* pinger: round trips that timed out (lossy) */
	uint64_t refused;  /* peers its endpoints refused as foreign (ep->refused) */
	struct ipcl_verify v;
	int64_t t_first, t_last; /* measured window: first measured send, last receive */
	int64_t cpu_user_ns, cpu_sys_ns;
	int stop;                          /* consumer: enum ipcl_stop */
	int64_t t_stop;                    /* consumer: when it stopped */
	int64_t send_max_ns, send_slow_ns; /* stall: longest send, sum of sends >= 1 ms */
	struct ipcl_hist lat; /* round trip (pinger), one-way (consumer, ponger) */
	struct ipcl_hist lag; /* rate: how late each send was against its schedule */
	/* ---- timing (issue 12) ---- */
	int64_t minflt;      /* minor page faults over the measured loop (getrusage) */
	struct ipcl_ivl ivl; /* lat's samples per interval (pinger, consumer) */
};

struct ipcl_board {
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
	uint64_t producer_at_kill; /* kill-consumer: producer 0's sends at the kill */
	int oversize_rc;           /* what send() said to the oversize message */
	_Atomic uint64_t oversize_intact, oversize_bad; /* it arrived whole / damaged */
	char restart_err[IPCL_ERR_MAX];
	/* ---- timing (issue 12): set by the orchestrator before the roles start,
	 * except the event word (every role) and the server CPU (at the end). */
	struct ipcl_clock clock; /* the stamping clock, calibrated once */
	uint64_t stamp_every;    /* stamp 1 message in N (stream; else 1) */
	int pacing_spin;         /* rate: 1 spin, 0 sleep */
	_Atomic uint32_t event;  /* futex word: bumped (and woken) at every role state
				    change and child exit; the orchestrator waits on it */
	int server_cpu;          /* enum ipcl_server_cpu */
	int64_t server_cpu_ns;   /* the server's CPU time over the run */
	char server_cpu_note[IPCL_ERR_MAX];
	/* Threads mode: the whole process's CPU (RUSAGE_SELF) from go to the end,
	 * library threads included; process_cpu set when both ends were read. */
	int process_cpu;
	int64_t process_user_ns, process_sys_ns;
	struct ipcl_slot slot[IPCL_MAX_ROLES];
};

/* How the server's CPU was (or was not) measured. */
enum ipcl_server_cpu {
	IPCL_SERVER_CPU_NONE = 0,  /* no server: not a broker transport */
	IPCL_SERVER_CPU_PROC = 1,  /* throwaway or `brokers up` server: /proc/PID/stat */
	IPCL_SERVER_CPU_QUERY = 2, /* a server by URL that reports its own (Redis INFO) */
	IPCL_SERVER_CPU_UNMEASURED = 3, /* a server by URL: note says why */
};

/* Bump the event word and wake the orchestrator (futex; async-signal-safe). */
void ipcl_board_event(struct ipcl_board *b);

/*
 * Wait until the event word differs from seen or until deadline (ns,
 * CLOCK_MONOTONIC): futex FUTEX_WAIT on the shared mapping. Returns at once
 * when it already differs; also returns on a signal.
 */
void ipcl_board_event_wait(struct ipcl_board *b, uint32_t seen, int64_t deadline_ns);

/*
 * Create the board of a run from head, whose fields up to the bitmaps the
 * caller has set (cfg, nchan, nroles, fanout, mini, msg_size, chan_msg_size,
 * oversize_len, tag, victim and replacement -1): size the bitmaps, create the
 * memfd, map it and copy head in. Returns 0 with *fd and *b set, or -errno with
 * a one-line reason in err (*fd is then -1 or open; the caller closes it).
 */
int ipcl_board_create(struct ipcl_board *head, int *fd, struct ipcl_board **b, char *err);

/*
 * Map the board of memfd fd for role slot (an exec'd role). Returns 0 with *b
 * set; IPCL_EINVAL when fd holds no board or the board has no such slot; -errno
 * when mmap failed. err gets a one-line reason.
 */
int ipcl_board_map(int fd, int slot, struct ipcl_board **b, char *err);

/* Unmap a board from ipcl_board_create or ipcl_board_map. */
void ipcl_board_unmap(struct ipcl_board *b);

/* The bitmap of delivered sequence numbers of set `set`. */
uint64_t *ipcl_board_bitmap(struct ipcl_board *b, int set);

/* The role kind (enum ipcl_role_kind) and endpoint index of a slot. */
void ipcl_board_role_of(const struct ipcl_board *b, int slot, int *kind, int *index);

/* The transport options of channel ch, as every role opens it. */
void ipcl_board_opts(const struct ipcl_board *b, int ch, int threads,
		     struct ipcl_opts *o);

/* Mark slot s failed with rc and err (rc's text when err is empty); returns rc. */
int ipcl_slot_fail(struct ipcl_slot *s, int rc, const char *err);

/*
 * A role waits at the start barrier: marks s ready and polls until the
 * orchestrator says go. 0, or -ECANCELED when the run was aborted.
 */
int ipcl_board_barrier(struct ipcl_board *b, struct ipcl_slot *s);

/* ---- the board as the record sees it ------------------------------------ */

/* A role's slot, as the record reads it. */
struct ipcl_slot_view {
	const char *kind; /* producer, consumer, pinger, echoer */
	int sender, index, cpu, rc;
	const char *err;
	uint64_t msgs, measured, bytes, lost_rtt, refused;
	uint64_t acked, resent; /* producer: see struct ipcl_slot */
	int ack_kind, stuck;
	struct ipcl_verify v;
	int64_t t_first, t_last, cpu_user_ns, cpu_sys_ns;
	const struct ipcl_hist *lat, *lag;
	int64_t minflt; /* timing (issue 12) */
	const struct ipcl_ivl *ivl;
};

/* The timing facts of a run (issue 12), as the record reads them. */
struct ipcl_timing_view {
	const struct ipcl_clock *clock;
	uint64_t stamp_every;
	int pacing_spin;
	int server_cpu; /* enum ipcl_server_cpu */
	int64_t server_cpu_ns;
	const char *server_cpu_note;
	int process_cpu; /* threads mode: the whole process's CPU was read */
	int64_t process_user_ns, process_sys_ns;
};

void ipcl_board_timing(const struct ipcl_board *b, struct ipcl_timing_view *v);

/* Unique sequence numbers >= from delivered in bitmap set `set` (the measured
 * ones, with from = the warm-up). */
uint64_t ipcl_board_unique_from(const struct ipcl_board *b, int set, uint64_t from);

int ipcl_board_roles(const struct ipcl_board *b);
int ipcl_board_mini(const struct ipcl_board *b);
int ipcl_board_sets(const struct ipcl_board *b);
int ipcl_board_fanout(const struct ipcl_board *b);
size_t ipcl_board_msg_size(const struct ipcl_board *b);
void ipcl_board_slot(const struct ipcl_board *b, int i, struct ipcl_slot_view *v);

/* Unique sequence numbers delivered in bitmap set `set`. */
uint64_t ipcl_board_unique(const struct ipcl_board *b, int set);

/* Sequence numbers in [from, to) that bitmap set `set` lacks (never delivered). */
uint64_t ipcl_board_missing(const struct ipcl_board *b, int set, uint64_t from,
			    uint64_t to);

#endif
