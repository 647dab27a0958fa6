/*
 * shm.c - POSIX shared memory: shm_open(3) + mmap(2) of one segment holding a
 * single-producer / single-consumer ring of variable-size records, with C11
 * atomics for ordering and futex(2) for sleeping (block and hybrid waits).
 *
 * The segment is a 4 KiB control page followed by the ring (a power of two).
 * Positions are free-running u32 byte counts. A record at position P is
 * [u32 len][u32 stamp][payload], padded to a cache line (SHM_ALIGN) so that no
 * line holds two records; the header never straddles the end of the ring, the
 * payload may and is then copied in two pieces (no wrap marker). The producer copies the
 * payload in, writes len, and publishes the record by storing stamp = P + 1 with release
 * semantics. It always keeps 8 free bytes after the record and first writes a zero header
 * there (the end marker), so the header at the consumer's position is either
 * the end marker or a complete record, never stale bytes of an earlier lap.
 * The consumer therefore polls that header, whose cache line also carries the
 * first payload bytes, instead of a shared tail index: a small message costs
 * one cache-line transfer per hop. It copies the payload out and publishes its
 * head (release) for the producer's free-space accounting; the producer keeps
 * a cached copy of head and looks again only when the ring seems full. One
 * copy in, one copy out, no system call unless a peer sleeps. All ring state
 * lives in the segment, so a restarted consumer (or producer) continues where
 * the last one stopped. Waiting is per run: spin, block (futex) or hybrid (spin
 * for spin_ns, then block; no spin when the peer was last seen on our CPU).
 *
 * Limits: the ring is a power of two from 4 KiB to 1 GiB (option ring, 4 MiB by
 * default); the largest message is a little under the ring (SHM_MAX_MSG); the
 * segment counts against /dev/shm (tmpfs, half of RAM by default), against
 * kernel.shmmax/shmall (sysv), or against the file's filesystem (file).
 *
 * Backings (option backing=): the same ring over a POSIX segment (shm_open(3),
 * the default), a System V segment (shmget(2)/shmat(2); removed with IPC_RMID
 * right after it is made while the creator stays attached, and attached by id
 * by the endpoints, so it lives exactly as long as one of them does and `ipcs`
 * shows nothing after a run, crashed or not) or a regular file mapped
 * MAP_SHARED (open(2) + mmap(2) in a private 0700 directory, unlinked at
 * teardown). hugepages=1 asks for a SysV SHM_HUGETLB segment and is refused,
 * with the reason, when /proc/meminfo shows no huge pages reserved.
 *
 * Loan mode (the transport "shm-loan", same ring): zero copy. The producer
 * loans room for a record (shm_loan: the same wait for space as send), the
 * harness writes the message in place, and shm_loan_publish stamps it; the
 * consumer peeks at the record where it lies and releases it (head) when done.
 * A loaned payload must be contiguous, so a record that would run past the
 * ring's end is preceded by a pad record (len SHM_PAD) filling the rest of the
 * ring, which consumers skip; the largest message is therefore about half the
 * ring (SHM_LOAN_MAX_MSG). send()/recv() of shm-loan are a loan plus a copy.
 *
 * Waiting with both roles pinned to one CPU (ipcl_opts.one_cpu): hybrid already
 * sleeps at once there; wait=spin instead yields the CPU (sched_yield) on each
 * empty look, as a pure spin would hold it until the scheduler's tick (ms).
 *
 * Left out: several producers or consumers (that needs a CAS on the position),
 * detecting a dead peer (a consumer whose
 * producer died without close() waits until its deadline), huge pages on the
 * POSIX and file backings (tmpfs huge=, hugetlbfs mounts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/transport.h>

#define SHM_PREFIX   "/ipcl-"
#define SHM_MAGIC    0x4d485349u /* "ISHM" */
#define SHM_VERSION  1u
#define SHM_LINE     64u   /* cache line: one line per index / futex word */
#define SHM_DATA_OFF 4096u /* the ring starts one (4 KiB) page into the segment */
#define SHM_HDR      8u    /* record header: u32 len, u32 stamp */
#define SHM_ALIGN    64u   /* records start on cache lines: no line holds two */
#define SHM_AHEAD    256u  /* the producer keeps header slots this far ahead zeroed */
#define SHM_RING_MIN 4096u
#define SHM_RING_MAX (1u << 30) /* positions are free-running u32: ring <= 2^31 */
/* Ring bytes a record of n payload bytes takes. */
#define SHM_REC(n) ((SHM_HDR + (uint32_t)(n) + SHM_ALIGN - 1) & ~(SHM_ALIGN - 1))
/* Largest payload: the record plus the end marker after it fill the ring. */
#define SHM_MAX_MSG(size) ((((size)-SHM_HDR) & ~(SHM_ALIGN - 1)) - SHM_HDR)
/* The stamp of a published record at position pos; never 0 (pos is aligned). */
#define SHM_STAMP(pos) ((uint32_t)(pos) + 1u)
#define SHM_SPINS      64u        /* spin iterations between two looks at the clock */
#define SHM_FILE_NAME  "ring"     /* backing=file: the file in the run's private dir */
#define SHM_HUGE_BYTES (2u << 20) /* SHM_HUGETLB segments are sized in 2 MiB steps */

/*
 * Keys of ipclab's SysV segments (as sysv-mq's, ipc/mq/sysv.c, with another
 * mark): bits 26..30 are 11011, bits 4..25 the creating process's pid, bits
 * 0..3 a channel number, so that `ipclab clean` can tell the segments of a
 * killed run in /proc/sysvipc/shm. IPC_RMID turns the key into IPC_PRIVATE.
 */
#define SHM_SYSV_KEY_MARK     0x6c000000
#define SHM_SYSV_KEY(pid, n)  ((key_t)(SHM_SYSV_KEY_MARK | ((pid)&0x3fffff) << 4 | (n)))
#define SHM_SYSV_KEYS_PER_PID 16

enum shm_backing {
	SHM_POSIX = 0, /* shm_open: a file in /dev/shm */
	SHM_SYSV = 1,  /* shmget: a kernel segment, removed at once, kept by attaches */
	SHM_FILE = 2,  /* a regular file, mmap MAP_SHARED */
};

static const char *const shm_backing_names[] = {"posix", "sysv", "file"};
/* A pad record's len: the rest of the ring is skipped (loan mode). */
#define SHM_PAD UINT32_MAX
/* Loan mode's largest payload: a pad and the record fit the ring together. */
#define SHM_LOAN_MAX_MSG(size) SHM_MAX_MSG((size) / 2)

/* Cross-process atomics must be lock-free (hence address-free). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "shm needs lock-free 32-bit atomics");

enum shm_wait {
	SHM_SPIN = 0,   /* busy poll: no system call, one CPU burnt per waiting side */
	SHM_BLOCK = 1,  /* futex sleep at once */
	SHM_HYBRID = 2, /* poll for spin_ns, then futex sleep */
};

static const char *const shm_wait_names[] = {"spin", "block", "hybrid"};

/*
 * The control page. What a side writes in the hot path has a cache line of its
 * own; head, written at every receive, has a 128-byte pair of lines to itself
 * so that the adjacent-line prefetcher does not drag it along with the futex
 * words either. A futex word is 0 (nobody sleeps) or 1 (its owner announced
 * that it is about to sleep or sleeps).
 */
struct shm_hdr {
	/* Written by setup() before the magic (release), read-only afterwards. */
	_Atomic uint32_t magic;
	uint32_t version;
	uint32_t ring_size; /* bytes, a power of two */
	uint32_t wait;      /* enum shm_wait, chosen per run */
	uint32_t align;     /* SHM_ALIGN of the code that made the segment */
	uint64_t spin_ns;   /* hybrid: how long to poll before sleeping */
	/* Set by the producer's close(), cleared by a producer's open(). */
	alignas(SHM_LINE) _Atomic uint32_t closed;
	/* Futex word the consumer sleeps on while the ring is empty. */
	alignas(SHM_LINE) _Atomic uint32_t data_sleep;
	/* Futex word the producer sleeps on while the ring is full. */
	alignas(SHM_LINE) _Atomic uint32_t room_sleep;
	/* Hybrid: the CPU each side last waited on (-1: none yet), [role]. */
	alignas(SHM_LINE) _Atomic int32_t cpu[2];
	/* Written by the consumer only: the position of the next record to read. */
	alignas(2 * SHM_LINE) _Atomic uint32_t head;
};

_Static_assert(sizeof(struct shm_hdr) <= SHM_DATA_OFF, "control page overflow");

/* A record header in the ring (8-byte aligned). */
struct shm_rec {
	uint32_t len;
	_Atomic uint32_t stamp; /* SHM_STAMP(position) once published, else not */
};

/* The creating process's own state: its attachment of a SysV segment. */
struct shm_chan {
	void *map;
};

struct shm_ep {
	struct shm_hdr *hdr; /* the mapped segment; NULL when not open */
	size_t map_len;
	enum shm_backing backing; /* sysv: unmapped with shmdt, not munmap */
	unsigned char *data;      /* the ring: (unsigned char *)hdr + SHM_DATA_OFF */
	uint32_t size;            /* ring bytes */
	uint32_t mask;            /* size - 1 */
	uint32_t max_msg;         /* SHM_MAX_MSG(size) */
	uint32_t pos;             /* producer: where the next record goes; consumer: the
				     next record to read (our private copy of head) */
	uint32_t head;            /* producer: the last value of hdr->head it saw */
	uint32_t zeroed;          /* producer: the header slots in [pos, zeroed) hold 0 */
	_Atomic uint32_t *sleep_word; /* futex word this endpoint sleeps on */
	_Atomic uint32_t *peer_word;  /* futex word the other side sleeps on */
	_Atomic int32_t *my_cpu;      /* hybrid: where we last waited */
	_Atomic int32_t *peer_cpu;    /* hybrid: where the peer last waited */
	enum ipcl_role role;
	enum shm_wait wait;
	int64_t spin_ns;
	int yield;     /* wait=spin with both roles on one CPU: sched_yield() */
	int loan;      /* shm-loan: records never wrap (pad records) */
	uint32_t held; /* loan consumer: ring bytes of the record peek() returned */
};

struct shm_cfg {
	uint64_t ring;
	enum shm_wait wait;
	long long spin_ns;
	enum shm_backing backing;
	long long huge;
	const char *dir; /* backing=file: where ipcl_private_dir puts its dir */
};

static const struct ipcl_option shm_options[] = {
    {"ring", "4M", "ring size in bytes, a power of two from 4k to 1G (suffix k, M, G)"},
    {"wait", "hybrid", "how a side waits for its peer: spin, block (futex) or hybrid",
     "spin|block|hybrid"},
    {"spin_ns", "50000", "hybrid: ns to poll before sleeping on the futex"},
    {"backing", "posix",
     "the memory: posix (shm_open), sysv (shmget, IPC_RMID at once, kept by attaches) or "
     "file "
     "(a regular file mmap'ed MAP_SHARED)"},
    {"hugepages", "0",
     "1: a SysV SHM_HUGETLB segment (needs backing=sysv and reserved "
     "huge pages, vm.nr_hugepages)"},
    {NULL, NULL, NULL},
};

/* Parse "4096", "64k", "4M", "1G" (binary multiples) into *out; 0 or -1. */
static int shm_parse_size(const char *s, uint64_t *out)
{
	unsigned long long x;
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	}
	if (shift)
		end++;
	if (*end || x > (SHM_RING_MAX * 2ull) >> shift)
		return -1;
	x <<= shift;
	*out = x;
	return 0;
}

/* Read the three options; IPCL_EINVAL with err set on a bad value. */
static int shm_parse_opts(const struct ipcl_opts *o, struct shm_cfg *cfg, char *err)
{
	const char *ring = ipcl_opt(o, shm_options, "ring");
	const char *wait = ipcl_opt(o, shm_options, "wait");
	int rc;

	if (shm_parse_size(ring, &cfg->ring) || cfg->ring < SHM_RING_MIN ||
	    cfg->ring > SHM_RING_MAX || (cfg->ring & (cfg->ring - 1)))
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option ring=%s: want a power of two from 4k to 1G",
				   ring);
	for (cfg->wait = SHM_SPIN; cfg->wait <= SHM_HYBRID; cfg->wait++)
		if (strcmp(wait, shm_wait_names[cfg->wait]) == 0)
			break;
	if (cfg->wait > SHM_HYBRID)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option wait=%s: want spin, block or hybrid", wait);
	rc = ipcl_opt_int(o, shm_options, "spin_ns", 0, 1000000000, &cfg->spin_ns, err);
	if (rc)
		return rc;
	wait = ipcl_opt(o, shm_options, "backing");
	for (cfg->backing = SHM_POSIX; cfg->backing <= SHM_FILE; cfg->backing++)
		if (strcmp(wait, shm_backing_names[cfg->backing]) == 0)
			break;
	if (cfg->backing > SHM_FILE)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option backing=%s: want posix, sysv or file", wait);
	rc = ipcl_opt_int(o, shm_options, "hugepages", 0, 1, &cfg->huge, err);
	if (rc)
		return rc;
	if (cfg->huge && cfg->backing != SHM_SYSV)
		return ipcl_seterr(err, IPCL_EINVAL,
				   "option hugepages=1: only with backing=sysv "
				   "(SHM_HUGETLB); %s has no huge pages here",
				   shm_backing_names[cfg->backing]);
	/* Where ipcl_private_dir() makes its directories. */
	cfg->dir = getenv("TMPDIR");
	if (!cfg->dir || !*cfg->dir)
		cfg->dir = "/tmp";
	return 0;
}

/*
 * Huge pages reserved on this machine (HugePages_Total in /proc/meminfo), or
 * -1 when it cannot be read; *page gets Hugepagesize in bytes.
 */
static long shm_hugepages(unsigned long *page)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long total = -1;
	unsigned long kb;

	*page = SHM_HUGE_BYTES;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "HugePages_Total: %ld", &total) == 1)
			continue;
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1)
			*page = kb << 10;
	}
	fclose(f);
	return total;
}

/* hugepages=1: IPCL_EUNAVAIL with the reason when none are reserved. */
static int shm_huge_check(const struct shm_cfg *cfg, unsigned long *page, char *err)
{
	long n = shm_hugepages(page);

	if (!cfg->huge)
		return 0;
	if (n < 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "hugepages=1: cannot read HugePages_Total in "
				   "/proc/meminfo");
	if (n == 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "hugepages=1: no huge pages reserved here "
				   "(HugePages_Total: 0 in /proc/meminfo; "
				   "sysctl vm.nr_hugepages=N reserves them)");
	return 0;
}

/* A segment name this transport made: "/ipcl-<tag>", no other slash. */
static int shm_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > strlen(SHM_PREFIX) && n < NAME_MAX &&
	       strncmp(name, SHM_PREFIX, strlen(SHM_PREFIX)) == 0 &&
	       !strchr(name + 1, '/');
}

/* backing=sysv addresses: "sysv:shmid=N ctime=T"; 0 or -EINVAL. */
static int shm_sysv_parse(const char *addr, int *id, long long *ctime)
{
	char end;

	if (sscanf(addr, "sysv:shmid=%d ctime=%lld%c", id, ctime, &end) != 2 || *id < 0)
		return -EINVAL;
	return 0;
}

/*
 * backing=file addresses: "file:<dir>/ipcl-<tag>-XXXXXX/ring"; the path part
 * (after "file:") or NULL. dir_out gets the private directory.
 */
static const char *shm_file_path(const char *addr, char *dir_out, size_t cap)
{
	const char *path, *slash;
	size_t n;

	if (strncmp(addr, "file:/", 6) != 0)
		return NULL;
	path = addr + 5;
	n = strlen(path);
	if (n >= PATH_MAX || n < sizeof "/ipcl-x/" SHM_FILE_NAME - 1 ||
	    strcmp(path + n - strlen("/" SHM_FILE_NAME), "/" SHM_FILE_NAME) != 0 ||
	    strstr(path, "/../") || strstr(path, "/./"))
		return NULL;
	slash = path + n - strlen("/" SHM_FILE_NAME);
	if ((size_t)(slash - path) >= cap)
		return NULL;
	snprintf(dir_out, cap, "%.*s", (int)(slash - path), path);
	slash = strrchr(dir_out, '/');
	if (!slash || strncmp(slash + 1, "ipcl-", 5) != 0 || !slash[6])
		return NULL;
	return path;
}

static long shm_futex(_Atomic uint32_t *word, int op, uint32_t val,
		      const struct timespec *rel)
{
	/* Not the _PRIVATE ops: the waiter and the waker are different processes. */
	return syscall(SYS_futex, (void *)word, op, val, rel, NULL, 0);
}

/*
 * Sleep while *word is 1, at most until deadline. Returns 0 when woken (maybe
 * spuriously), -EAGAIN when the word was no longer 1, -EINTR, -ETIMEDOUT.
 * FUTEX_WAIT takes a relative CLOCK_MONOTONIC timeout, computed here from the
 * absolute deadline; IPCL_FOREVER passes no timeout at all.
 */
static int shm_futex_wait(_Atomic uint32_t *word, int64_t deadline_ns)
{
	struct timespec ts, *rel = NULL;

	if (deadline_ns != IPCL_FOREVER) {
		int64_t left = deadline_ns - ipcl_now_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		rel = &ts;
	}
	if (shm_futex(word, FUTEX_WAIT, 1, rel) == 0)
		return 0;
	return -errno;
}

/*
 * Publish a value the peer polls (a record's stamp, head, the closed flag) and
 * wake the peer if it sleeps.
 *
 * Spin mode: nobody ever sleeps, so a release store is all it takes; it pairs
 * with the peer's acquire load, so the consumer sees the record bytes and len
 * before the stamp, and the producer knows the consumer has finished reading
 * the space that head gives back before it overwrites it.
 *
 * Block and hybrid: the store and the load of the peer's futex word are both
 * seq_cst, and so are the peer's store of 1 to that word and its next look at
 * our value in shm_wait(). In the single total order of seq_cst operations one
 * of the two stores comes first, so at least one side sees the other's store
 * (the store-buffering outcome C11 forbids): either the peer sees our value and
 * does not sleep, or we see its 1 here and wake it. The exchange to 0 before
 * FUTEX_WAKE makes a FUTEX_WAIT(word, 1) that the peer has not entered yet fail
 * with EAGAIN, so an early wake is not lost, and a stream of sends pays one
 * FUTEX_WAKE per sleep, not one per message. While the peer is awake this costs
 * a locked store and a load, no system call. (seq_cst operations rather than
 * fences because ThreadSanitizer understands them.)
 */
/*
 * Hybrid: record the CPU we run on, for the peer's shm_wait(). sched_getcpu()
 * reads it from rseq or the vDSO (a few ns, no system call); the store happens
 * only when it changed, so the line stays shared in the steady state.
 */
static inline int shm_note_cpu(struct shm_ep *se)
{
	int cpu = sched_getcpu();

	if (cpu >= 0 && atomic_load_explicit(se->my_cpu, memory_order_relaxed) != cpu)
		atomic_store_explicit(se->my_cpu, cpu, memory_order_relaxed);
	return cpu;
}

static inline void shm_publish(struct shm_ep *se, _Atomic uint32_t *var, uint32_t v)
{
	if (se->wait == SHM_SPIN) {
		atomic_store_explicit(var, v, memory_order_release);
		return;
	}
	atomic_store_explicit(var, v, memory_order_seq_cst);
	if (atomic_load_explicit(se->peer_word, memory_order_seq_cst) &&
	    atomic_exchange_explicit(se->peer_word, 0, memory_order_relaxed))
		shm_futex(se->peer_word, FUTEX_WAKE, 1, NULL); /* cannot fail here */
	if (se->wait == SHM_HYBRID)
		shm_note_cpu(se);
}

static inline void shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline struct shm_rec *shm_rec_at(const struct shm_ep *se, uint32_t pos)
{
	return (struct shm_rec *)(void *)(se->data + (pos & se->mask));
}

/*
 * One look at what the peer publishes: for the producer, whether head leaves
 * need free bytes (se->head updated); for the consumer, whether the record at
 * its position is published. Returns 0 if so, IPCL_EOF for a consumer that
 * finds no record after the producer closed, -EAGAIN otherwise. The loads are
 * seq_cst for shm_wait()'s sake (see shm_publish()); on x86-64 and ARMv8 that
 * costs what the acquire load the data needs costs.
 */
static int shm_check(struct shm_ep *se, uint32_t need)
{
	_Atomic uint32_t *stamp;
	uint32_t h;

	if (se->role == IPCL_PRODUCER) {
		h = atomic_load_explicit(&se->hdr->head, memory_order_seq_cst);
		if (se->size - (se->pos - h) < need)
			return -EAGAIN;
		se->head = h;
		return 0;
	}
	stamp = &shm_rec_at(se, se->pos)->stamp;
	if (atomic_load_explicit(stamp, memory_order_seq_cst) == SHM_STAMP(se->pos))
		return 0;
	if (!atomic_load_explicit(&se->hdr->closed, memory_order_seq_cst))
		return -EAGAIN;
	/* The producer published its last record before closed: look once more. */
	if (atomic_load_explicit(stamp, memory_order_seq_cst) == SHM_STAMP(se->pos))
		return 0;
	return IPCL_EOF;
}

/*
 * Wait until the producer has need free bytes, or the consumer has a record,
 * with the run's strategy. Returns 0, IPCL_EOF (consumer only), -ETIMEDOUT at
 * the deadline, or -errno from the futex.
 */
static int shm_wait(struct ipcl_ep *ep, uint32_t need, int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	int64_t until = deadline_ns;
	unsigned spins = 0;
	int poll = se->wait != SHM_BLOCK;
	int rc = shm_check(se, need);

	if (rc != -EAGAIN)
		return rc;
	if (se->wait == SHM_HYBRID) {
		int64_t now = ipcl_now_ns(), spin = se->spin_ns;
		int cpu = shm_note_cpu(se);

		/*
		 * A peer last seen on this very CPU can only make progress once we give
		 * the CPU up: spinning would just delay it, so sleep at once.
		 */
		if (cpu >= 0 &&
		    atomic_load_explicit(se->peer_cpu, memory_order_relaxed) == cpu)
			spin = 0;
		if (spin < deadline_ns - now)
			until = now + spin;
		poll = spin > 0;
	}
	if (poll) {
		/* Poll; read the clock (vDSO, no system call) every SHM_SPINS turns. */
		while ((rc = shm_check(se, need)) == -EAGAIN) {
			if (se->yield)
				sched_yield(); /* the peer needs this very CPU */
			else
				shm_cpu_relax();
			if (until != IPCL_FOREVER && ++spins % SHM_SPINS == 0 &&
			    ipcl_now_ns() >= until)
				break;
		}
		if (rc != -EAGAIN)
			return rc;
		if (se->wait == SHM_SPIN)
			return -ETIMEDOUT;
	}
	for (;;) {
		/* Announce the sleep, then look again (see shm_publish()). */
		atomic_store_explicit(se->sleep_word, 1, memory_order_seq_cst);
		rc = shm_check(se, need);
		if (rc != -EAGAIN)
			break;
		rc = shm_futex_wait(se->sleep_word, deadline_ns);
		if (rc == 0 || rc == -EAGAIN || rc == -EINTR)
			continue;
		if (rc == -ETIMEDOUT) {
			rc = shm_check(se, need);
			if (rc == -EAGAIN)
				rc = -ETIMEDOUT;
		} else {
			ipcl_seterr(ep->err, rc, "shm: FUTEX_WAIT: %s", strerror(-rc));
		}
		break;
	}
	atomic_store_explicit(se->sleep_word, 0, memory_order_relaxed);
	return rc;
}

/* A /proc/sys/kernel value, or -1. */
static long long shm_sysctl(const char *name)
{
	char path[64];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The ring size the options ask for (0 when they are bad). */
static uint32_t shm_probe_ring(const struct ipcl_opts *o)
{
	struct shm_cfg cfg;
	char err[IPCL_ERR_MAX];

	return shm_parse_opts(o, &cfg, err) ? 0 : (uint32_t)cfg.ring;
}

static int shm_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	struct shm_cfg cfg;
	struct statvfs vfs;
	long line = sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
	unsigned long hpage;
	long huge;
	int rc = shm_parse_opts(o, &cfg, err);

	if (rc)
		return rc;
	rc = shm_huge_check(&cfg, &hpage, err);
	if (rc)
		return rc;
	if (cfg.backing == SHM_POSIX && statvfs("/dev/shm", &vfs) < 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL,
				   "statvfs /dev/shm: %s (shm_open needs a tmpfs there)",
				   strerror(errno));
	if (cfg.backing == SHM_FILE && statvfs(cfg.dir, &vfs) < 0)
		return ipcl_seterr(err, IPCL_EUNAVAIL, "statvfs %s: %s", cfg.dir,
				   strerror(errno));
	p->max_msg = SHM_MAX_MSG((uint32_t)cfg.ring);
	ipcl_fact(p, "backing", "%s", shm_backing_names[cfg.backing]);
	ipcl_fact(p, "ring_bytes", "%llu", (unsigned long long)cfg.ring);
	ipcl_fact(p, "ring_default_bytes", "%u", 4u << 20);
	ipcl_fact(p, "ring_max_bytes", "%u", SHM_RING_MAX);
	ipcl_fact(p, "record_header_bytes", "%u", SHM_HDR);
	ipcl_fact(p, "record_align_bytes", "%u", SHM_ALIGN);
	ipcl_fact(p, "page_size", "%ld", sysconf(_SC_PAGESIZE));
	if (line > 0)
		ipcl_fact(p, "cache_line_bytes", "%ld", line);
	else
		ipcl_fact(p, "cache_line_bytes", "unknown");
	ipcl_fact(p, "hot_word_separation_bytes", "%u", SHM_LINE);
	if (cfg.backing == SHM_POSIX) {
		ipcl_fact(p, "dev_shm_size_bytes", "%llu",
			  (unsigned long long)vfs.f_blocks * vfs.f_frsize);
		ipcl_fact(p, "dev_shm_free_bytes", "%llu",
			  (unsigned long long)vfs.f_bavail * vfs.f_frsize);
	} else if (cfg.backing == SHM_FILE) {
		ipcl_fact(p, "file_dir", "%s", cfg.dir);
		ipcl_fact(p, "file_dir_free_bytes", "%llu",
			  (unsigned long long)vfs.f_bavail * vfs.f_frsize);
	} else {
		ipcl_fact(p, "shmmax_bytes", "%lld", shm_sysctl("shmmax"));
		ipcl_fact(p, "shmall_pages", "%lld", shm_sysctl("shmall"));
		ipcl_fact(p, "shmmni", "%lld", shm_sysctl("shmmni"));
	}
	huge = shm_hugepages(&hpage);
	ipcl_fact(p, "hugepages", "%lld", cfg.huge);
	ipcl_fact(p, "hugepages_reserved", "%ld", huge);
	ipcl_fact(p, "hugepage_bytes", "%lu", hpage);
	ipcl_fact(p, "wait", "%s", shm_wait_names[cfg.wait]);
	ipcl_fact(p, "wait_default", "%s", "hybrid");
	if (cfg.wait == SHM_SPIN && o->one_cpu) {
		ipcl_fact(p, "spin_yields", "%d", 1);
		ipcl_fact(p, "warning", "%s",
			  "shm wait=spin with both roles on one CPU: a waiting side "
			  "yields the CPU (sched_yield) at each look instead of "
			  "spinning to the scheduler tick; wait=hybrid (the default) "
			  "sleeps on a futex instead");
	}
	ipcl_fact(p, "spin_ns", "%lld", cfg.spin_ns);
	return 0;
}

/* Reserve len bytes of fd's backing store, so that a full tmpfs/disk fails now. */
static int shm_reserve(int fd, size_t len, const char *name, char *err)
{
	int rc;

	if (ftruncate(fd, (off_t)len) < 0)
		return ipcl_seterr(err, -errno, "ftruncate %s to %zu: %s", name, len,
				   strerror(errno));
	do
		rc = posix_fallocate(fd, 0, (off_t)len);
	while (rc == EINTR);
	if (rc)
		return ipcl_seterr(err, -rc, "reserving %zu bytes for %s: %s", len, name,
				   strerror(rc));
	return 0;
}

/* backing=posix: "/ipcl-<tag>" in /dev/shm, mapped into *map. */
static int shm_make_posix(struct ipcl_chan *c, size_t len, void **map)
{
	char name[NAME_MAX];
	int fd, rc;

	if (snprintf(name, sizeof name, SHM_PREFIX "%s", c->opts->tag) >=
	    (int)sizeof name)
		return ipcl_seterr(c->err, IPCL_EINVAL, "shm: tag too long");
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		return ipcl_seterr(c->err, -e, "shm_open %s: %s%s", name, strerror(e),
				   e == EEXIST ? " (left by a crashed run? ipclab clean)"
					       : "");
	}
	rc = shm_reserve(fd, len, name, c->err);
	if (!rc) {
		*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			rc = ipcl_seterr(c->err, -errno, "mmap %s: %s", name,
					 strerror(errno));
	}
	close(fd);
	if (rc) {
		shm_unlink(name);
		return rc;
	}
	snprintf(c->addr, sizeof c->addr, "%s", name);
	return 0;
}

/*
 * backing=sysv: a segment under the first free key of this process (past 16
 * live channels, IPC_PRIVATE), attached at *map. len is rounded up to the huge
 * page size with SHM_HUGETLB.
 */
static int shm_make_sysv(struct ipcl_chan *c, const struct shm_cfg *cfg, size_t len,
			 void **map)
{
	int pid = (int)getpid(), id = -1, e = 0, flags = IPC_CREAT | IPC_EXCL | 0600;
	unsigned long hpage = SHM_HUGE_BYTES;
	struct shmid_ds ds;

	if (cfg->huge) {
		shm_hugepages(&hpage);
		flags |= SHM_HUGETLB;
		len = (len + hpage - 1) / hpage * hpage;
	}
	for (int n = 0; id < 0 && n <= SHM_SYSV_KEYS_PER_PID; n++) {
		key_t key =
		    n < SHM_SYSV_KEYS_PER_PID ? SHM_SYSV_KEY(pid, n) : IPC_PRIVATE;

		id = shmget(key, len, flags);
		e = id < 0 ? errno : 0;
		if (e && e != EEXIST)
			break;
	}
	if (id < 0)
		return ipcl_seterr(
		    c->err, e == ENOMEM && cfg->huge ? IPCL_EUNAVAIL : -e,
		    "shmget %zu bytes%s: %s%s", len, cfg->huge ? " SHM_HUGETLB" : "",
		    strerror(e),
		    e == EINVAL                ? " (over kernel.shmmax?)"
		    : e == ENOSPC              ? " (kernel.shmmni/shmall reached)"
		    : e == ENOMEM && cfg->huge ? " (too few free huge pages)"
		    : e == EPERM
			? " (SHM_HUGETLB needs vm.hugetlb_shm_group or CAP_IPC_LOCK)"
			: "");
	*map = shmat(id, NULL, 0);
	if (*map == (void *)-1) {
		e = errno;
		shmctl(id, IPC_RMID, NULL);
		return ipcl_seterr(c->err, -e, "shmat %d: %s", id, strerror(e));
	}
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		e = errno;
		shmdt(*map);
		shmctl(id, IPC_RMID, NULL);
		return ipcl_seterr(c->err, -e, "shmctl IPC_STAT %d: %s", id, strerror(e));
	}
	snprintf(c->addr, sizeof c->addr, "sysv:shmid=%d ctime=%lld", id,
		 (long long)ds.shm_ctime);
	return 0;
}

/*
 * backing=file: a private directory (ipcl_private_dir: mkdtemp, 0700, named
 * ipcl-<tag>-XXXXXX under $TMPDIR or /tmp, so that `ipclab clean` knows it),
 * then "ring" in it (O_EXCL|O_NOFOLLOW, 0600), reserved and mapped.
 */
static int shm_make_file(struct ipcl_chan *c, size_t len, void **map)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int fd, rc;

	rc = ipcl_private_dir(dir, sizeof dir, c->opts->tag, c->err);
	if (rc)
		return rc;
	if (snprintf(path, sizeof path, "%s/" SHM_FILE_NAME, dir) >= (int)sizeof path ||
	    snprintf(c->addr, sizeof c->addr, "file:%s", path) >= (int)sizeof c->addr) {
		rc = ipcl_seterr(c->err, IPCL_EINVAL, "shm: path too long");
		goto fail;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = ipcl_seterr(c->err, -errno, "open %s: %s", path, strerror(errno));
		goto fail;
	}
	rc = shm_reserve(fd, len, path, c->err);
	if (!rc) {
		*map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			rc = ipcl_seterr(c->err, -errno, "mmap %s: %s", path,
					 strerror(errno));
	}
	close(fd);
	if (!rc)
		return 0;
fail:
	c->addr[0] = 0;
	ipcl_remove_dir(dir);
	return rc;
}

/*
 * Create the backing (see shm_make_*), write the control page. The ring must
 * hold the largest message the run will send.
 */
static int shm_setup(struct ipcl_chan *c)
{
	const struct ipcl_opts *o = c->opts;
	struct shm_cfg cfg;
	struct shm_chan *cs = c->state;
	struct shm_hdr *hdr;
	unsigned long hpage;
	void *map = NULL;
	long long ctime = 0;
	size_t len;
	int rc, id = -1;

	rc = shm_parse_opts(o, &cfg, c->err);
	if (rc)
		return rc;
	rc = shm_huge_check(&cfg, &hpage, c->err);
	if (rc)
		return rc;
	if (o->producers > 1 || o->consumers > 1)
		return ipcl_seterr(
		    c->err, IPCL_EINVAL,
		    "shm: one producer and one consumer per ring (asked for "
		    "%d and %d)",
		    o->producers, o->consumers);
	if (o->msg_size > SHM_MAX_MSG((uint32_t)cfg.ring))
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "shm: a %zu-byte message does not fit a %llu-byte ring "
		    "(largest %u); raise -O ring=",
		    o->msg_size, (unsigned long long)cfg.ring,
		    SHM_MAX_MSG((uint32_t)cfg.ring));
	if (!o->tag || !o->tag[0] || strchr(o->tag, '/') || strlen(o->tag) > 200)
		return ipcl_seterr(c->err, IPCL_EINVAL, "shm: unusable tag '%.64s'",
				   o->tag ? o->tag : "");
	len = SHM_DATA_OFF + cfg.ring;
	if (cfg.backing == SHM_SYSV)
		rc = shm_make_sysv(c, &cfg, len, &map);
	else if (cfg.backing == SHM_FILE)
		rc = shm_make_file(c, len, &map);
	else
		rc = shm_make_posix(c, len, &map);
	if (rc)
		return rc;
	/*
	 * The segment is zero-filled: head, flags and futex words start at 0, and
	 * the header at position 0 reads as an end marker.
	 */
	hdr = map;
	hdr->version = SHM_VERSION;
	hdr->align = SHM_ALIGN;
	hdr->ring_size = (uint32_t)cfg.ring;
	hdr->wait = cfg.wait;
	hdr->spin_ns = (uint64_t)cfg.spin_ns;
	atomic_store_explicit(&hdr->cpu[IPCL_PRODUCER], -1, memory_order_relaxed);
	atomic_store_explicit(&hdr->cpu[IPCL_CONSUMER], -1, memory_order_relaxed);
	atomic_store_explicit(&hdr->magic, SHM_MAGIC, memory_order_release);
	if (cfg.backing != SHM_SYSV) {
		munmap(map, len);
		return 0;
	}
	/*
	 * SysV: remove the segment now and stay attached. It has no key from here
	 * on and lives exactly as long as someone has it attached: this process
	 * (until teardown) and the endpoints, which attach by id. Whatever gets
	 * killed, nothing is left in `ipcs` once the last of them is gone.
	 */
	shm_sysv_parse(c->addr, &id, &ctime);
	if (shmctl(id, IPC_RMID, NULL) < 0) {
		rc = ipcl_seterr(c->err, -errno, "shmctl %d IPC_RMID: %s", id,
				 strerror(errno));
		shmdt(map);
		return rc;
	}
	cs->map = map;
	return 0;
}

/* Open a POSIX segment or a file, check it is ours, map it: 0 or an error. */
static int shm_map_fd(struct ipcl_ep *ep, const char *addr, void **map, size_t *len)
{
	char dir[PATH_MAX];
	const char *path = NULL;
	struct stat st;
	int fd, rc = 0;

	if (strncmp(addr, "file:", 5) == 0) {
		path = shm_file_path(addr, dir, sizeof dir);
		if (!path)
			return ipcl_seterr(ep->err, -EINVAL,
					   "shm: bad address '%.64s' (want "
					   "file:<dir>/ipcl-<tag>-XXXXXX/" SHM_FILE_NAME
					   ")",
					   addr);
		/* The private dir: ours, 0700, not a symlink. */
		if (lstat(dir, &st) < 0)
			return ipcl_seterr(ep->err, -errno, "lstat %s: %s", dir,
					   strerror(errno));
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    (st.st_mode & 0777) != 0700)
			return ipcl_seterr(ep->err, -EPERM,
					   "shm: %s is not a 0700 directory of ours",
					   dir);
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	} else {
		if (!shm_name_ok(addr))
			return ipcl_seterr(ep->err, -EINVAL,
					   "shm: bad address '%.64s' (want %s<tag>, "
					   "sysv:shmid=N ctime=T or file:PATH)",
					   addr, SHM_PREFIX);
		fd = shm_open(addr, O_RDWR | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return ipcl_seterr(ep->err, -errno, "open %s: %s", addr, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = ipcl_seterr(ep->err, -errno, "fstat %s: %s", addr, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		rc = ipcl_seterr(ep->err, -EPERM, "shm: %s is not a file of ours", addr);
		goto out;
	}
	if (st.st_size < SHM_DATA_OFF + SHM_RING_MIN ||
	    st.st_size > SHM_DATA_OFF + SHM_RING_MAX) {
		rc = ipcl_seterr(ep->err, IPCL_EPROTO,
				 "shm: %s has a bad size (%lld bytes)", addr,
				 (long long)st.st_size);
		goto out;
	}
	/* MAP_POPULATE: fault the ring in now, not in the first messages. */
	*map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, 0);
	if (*map == MAP_FAILED) {
		rc = ipcl_seterr(ep->err, -errno, "mmap %s: %s", addr, strerror(errno));
		goto out;
	}
	*len = (size_t)st.st_size;
out:
	close(fd);
	return rc;
}

/*
 * Attach a SysV segment by id (Linux lets a process attach a segment already
 * marked for removal while someone still has it attached, so a restarted role
 * finds it too), after checking it is the one the address names.
 */
static int shm_map_sysv(struct ipcl_ep *ep, const char *addr, void **map, size_t *len)
{
	struct shmid_ds ds;
	long long ctime;
	int id;

	if (shm_sysv_parse(addr, &id, &ctime))
		return ipcl_seterr(ep->err, -EINVAL, "shm: bad address '%.64s'", addr);
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return ipcl_seterr(ep->err, -errno, "shmctl %d IPC_STAT: %s", id,
				   strerror(errno));
	if ((long long)ds.shm_ctime != ctime || ds.shm_perm.uid != geteuid())
		return ipcl_seterr(ep->err, -ENOENT,
				   "shm: segment %d is not the one this run made", id);
	if (ds.shm_segsz < SHM_DATA_OFF + SHM_RING_MIN ||
	    ds.shm_segsz > SHM_DATA_OFF + (size_t)SHM_RING_MAX + SHM_HUGE_BYTES * 512ul)
		return ipcl_seterr(ep->err, IPCL_EPROTO,
				   "shm: segment %d has a bad size (%zu bytes)", id,
				   (size_t)ds.shm_segsz);
	*map = shmat(id, NULL, 0);
	if (*map == (void *)-1)
		return ipcl_seterr(ep->err, -errno, "shmat %d: %s", id, strerror(errno));
	*len = ds.shm_segsz;
	return 0;
}

static void shm_unmap(enum shm_backing b, void *map, size_t len)
{
	if (b == SHM_SYSV)
		shmdt(map);
	else
		munmap(map, len);
}

/*
 * Map the segment named by addr and check its control page. Ring positions come
 * from the segment, so a reopened endpoint continues the stream. SysV: the
 * segment was removed at setup; the creator's attachment keeps it for the run.
 */
static int shm_open_ep(struct ipcl_ep *ep, int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	const char *name = ep->chan->addr;
	enum shm_backing b = strncmp(name, "sysv:", 5) == 0   ? SHM_SYSV
			     : strncmp(name, "file:", 5) == 0 ? SHM_FILE
							      : SHM_POSIX;
	struct shm_hdr *hdr;
	void *map = NULL;
	size_t len = 0;
	int rc;

	se->hdr = NULL;
	rc = b == SHM_SYSV ? shm_map_sysv(ep, name, &map, &len)
			   : shm_map_fd(ep, name, &map, &len);
	if (rc)
		return rc;
	hdr = map;
	if (atomic_load_explicit(&hdr->magic, memory_order_acquire) != SHM_MAGIC ||
	    hdr->version != SHM_VERSION || hdr->wait > SHM_HYBRID ||
	    hdr->ring_size < SHM_RING_MIN || (hdr->ring_size & (hdr->ring_size - 1)) ||
	    SHM_DATA_OFF + (size_t)hdr->ring_size > len ||
	    (b != SHM_SYSV && SHM_DATA_OFF + (size_t)hdr->ring_size != len)) {
		shm_unmap(b, map, len);
		return ipcl_seterr(ep->err, IPCL_EPROTO, "shm: %s is not an ipclab ring",
				   name);
	}
	if (hdr->align != SHM_ALIGN) {
		rc = ipcl_seterr(
		    ep->err, IPCL_EPROTO,
		    "shm: %s was made with %u-byte records, this build uses %u", name,
		    hdr->align, SHM_ALIGN);
		shm_unmap(b, map, len);
		return rc;
	}
	se->backing = b;
	se->hdr = hdr;
	se->map_len = len;
	se->data = (unsigned char *)hdr + SHM_DATA_OFF;
	se->size = hdr->ring_size;
	se->mask = hdr->ring_size - 1;
	se->max_msg = SHM_MAX_MSG(hdr->ring_size);
	se->role = ep->role;
	se->wait = (enum shm_wait)hdr->wait;
	se->spin_ns = (int64_t)hdr->spin_ns;
	se->yield = se->wait == SHM_SPIN && ep->chan->opts && ep->chan->opts->one_cpu;
	se->loan = ep->chan->t->loan != NULL;
	if (se->loan)
		se->max_msg = SHM_LOAN_MAX_MSG(hdr->ring_size);
	se->my_cpu = &hdr->cpu[ep->role];
	se->peer_cpu = &hdr->cpu[!ep->role];
	se->pos = se->head = atomic_load_explicit(&hdr->head, memory_order_acquire);
	if (ep->role == IPCL_CONSUMER) {
		se->sleep_word = &hdr->data_sleep;
		se->peer_word = &hdr->room_sleep;
		return 0;
	}
	se->sleep_word = &hdr->room_sleep;
	se->peer_word = &hdr->data_sleep;
	/*
	 * The producer's position is not stored anywhere: it follows the published
	 * records from head to the end marker. A producer killed mid-record never
	 * stamped it, so its successor starts again at that record.
	 */
	for (;;) {
		struct shm_rec *r = shm_rec_at(se, se->pos);
		uint32_t n;

		if (atomic_load_explicit(&r->stamp, memory_order_acquire) !=
		    SHM_STAMP(se->pos))
			break;
		n = r->len;
		if (n == SHM_PAD) { /* loan mode: the rest of the ring is skipped */
			se->pos += se->size - (se->pos & se->mask);
			continue;
		}
		if (n > se->max_msg ||
		    se->pos + SHM_REC(n) - se->head > se->size - SHM_HDR)
			break;
		se->pos += SHM_REC(n);
	}
	se->zeroed = se->pos; /* nothing is known to be zero beyond the end */
	atomic_store_explicit(&hdr->closed, 0, memory_order_relaxed);
	return 0;
}

/* Copy n bytes into the ring at offset off, in two pieces across the end. */
static inline void shm_copy_in(struct shm_ep *se, uint32_t off, const void *src, size_t n)
{
	size_t first = se->size - off;

	if (n <= first) {
		memcpy(se->data + off, src, n);
	} else {
		memcpy(se->data + off, src, first);
		memcpy(se->data, (const unsigned char *)src + first, n - first);
	}
}

static inline void shm_copy_out(struct shm_ep *se, uint32_t off, void *dst, size_t n)
{
	size_t first = se->size - off;

	if (n <= first) {
		memcpy(dst, se->data + off, n);
	} else {
		memcpy(dst, se->data + off, first);
		memcpy((unsigned char *)dst + first, se->data, n - first);
	}
}

/*
 * Copy one record in and publish it. Waits (per the wait option) while the ring
 * lacks room; a message larger than the ring is refused, never truncated.
 */
static int shm_send(struct ipcl_ep *ep, const void *msg, size_t len, int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	struct shm_rec *r, *end;
	uint32_t rec;
	int rc;

	if (len > se->max_msg)
		return ipcl_seterr(
		    ep->err, IPCL_ETOOBIG,
		    "shm: a %zu-byte message does not fit the %u-byte ring "
		    "(largest %u); raise -O ring=",
		    len, se->size, se->max_msg);
	rec = SHM_REC(len);
	/* Room for the record and the end marker after it. */
	if (se->size - (se->pos - se->head) < rec + SHM_HDR) {
		rc = shm_wait(ep, rec + SHM_HDR, deadline_ns);
		if (rc)
			return rc;
	}
	/* The end marker; it is there already if the slot was zeroed ahead. */
	if (rec >= se->zeroed - se->pos) {
		end = shm_rec_at(se, se->pos + rec);
		end->len = 0;
		atomic_store_explicit(&end->stamp, 0, memory_order_relaxed);
		se->zeroed = se->pos + rec + SHM_ALIGN;
	}
	shm_copy_in(se, (se->pos + SHM_HDR) & se->mask, msg, len);
	r = shm_rec_at(se, se->pos);
	r->len = (uint32_t)len;
	shm_publish(se, &r->stamp, SHM_STAMP(se->pos));
	se->pos += rec;
	/*
	 * Zero the next header slots now, after the stamp, so that the end marker
	 * of the next small record is already in place and its cache line already
	 * ours: a marker store to a line we do not own would hold back the stamp
	 * store behind it (stores become visible in program order). Only free
	 * space is touched: slot bytes beyond head + size still hold unread data.
	 */
	while (se->zeroed - se->pos < SHM_AHEAD &&
	       se->zeroed - se->head + SHM_HDR <= se->size) {
		end = shm_rec_at(se, se->zeroed);
		end->len = 0;
		atomic_store_explicit(&end->stamp, 0, memory_order_relaxed);
		se->zeroed += SHM_ALIGN;
	}
	return 0;
}

/*
 * Copy the next record out and give its space back. A record larger than cap
 * stays in the ring (*len tells its size) and IPCL_ETRUNC is returned.
 */
static int shm_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		    int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	struct shm_rec *r = shm_rec_at(se, se->pos);
	uint32_t n;
	int rc;

	if (atomic_load_explicit(&r->stamp, memory_order_acquire) != SHM_STAMP(se->pos)) {
		rc = shm_wait(ep, 0, deadline_ns);
		if (rc)
			return rc;
	}
	n = r->len;
	if (n > se->max_msg)
		return ipcl_seterr(ep->err, IPCL_EPROTO,
				   "shm: corrupt record at ring offset %u (len %u)",
				   se->pos & se->mask, n);
	if (n > cap) {
		*len = n;
		return ipcl_seterr(
		    ep->err, IPCL_ETRUNC,
		    "shm: a %u-byte message, the buffer holds %zu (left in "
		    "the ring)",
		    n, cap);
	}
	shm_copy_out(se, (se->pos + SHM_HDR) & se->mask, buf, n);
	se->pos += SHM_REC(n);
	shm_publish(se, &se->hdr->head, se->pos);
	*len = n;
	return 0;
}

/* ---- loan mode (shm-loan) ------------------------------------------------ */

/* Write a zero header (an end marker) at pos unless [pos, zeroed) has one. */
static inline void shm_mark_end(struct shm_ep *se, uint32_t pos)
{
	struct shm_rec *end;

	if (pos - se->pos < se->zeroed - se->pos)
		return;
	end = shm_rec_at(se, pos);
	end->len = 0;
	atomic_store_explicit(&end->stamp, 0, memory_order_relaxed);
	se->zeroed = pos + SHM_ALIGN;
}

/*
 * Loan room for a len-byte message: *slot is where its payload goes, in the
 * ring, contiguous. When the payload would run past the end of the ring, a pad
 * record is published first to fill the rest of it, and the record starts at
 * the ring's beginning. Waits like send() while the ring lacks room for both.
 */
static int shm_loan(struct ipcl_ep *ep, size_t len, void **slot, int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	uint32_t off = se->pos & se->mask, pad = 0, rec;
	int rc;

	if (len > se->max_msg)
		return ipcl_seterr(
		    ep->err, IPCL_ETOOBIG,
		    "shm-loan: a %zu-byte message does not fit the %u-byte "
		    "ring in one piece (largest %u); raise -O ring=",
		    len, se->size, se->max_msg);
	rec = SHM_REC(len);
	if (off + SHM_HDR + len > se->size)
		pad = se->size - off;
	if (se->size - (se->pos - se->head) < pad + rec + SHM_HDR) {
		rc = shm_wait(ep, pad + rec + SHM_HDR, deadline_ns);
		if (rc)
			return rc;
	}
	if (pad) {
		struct shm_rec *r = shm_rec_at(se, se->pos);

		shm_mark_end(se, se->pos + pad);
		r->len = SHM_PAD;
		shm_publish(se, &r->stamp, SHM_STAMP(se->pos));
		se->pos += pad;
		if (se->zeroed - se->pos > se->size) /* zeroed fell behind pos */
			se->zeroed = se->pos;
	}
	*slot = se->data + ((se->pos + SHM_HDR) & se->mask);
	return 0;
}

/* Publish the len bytes written into the loaned slot (len <= the loan). */
static int shm_loan_publish(struct ipcl_ep *ep, size_t len)
{
	struct shm_ep *se = ep->state;
	struct shm_rec *r = shm_rec_at(se, se->pos), *end;
	uint32_t rec = SHM_REC(len);

	shm_mark_end(se, se->pos + rec);
	r->len = (uint32_t)len;
	shm_publish(se, &r->stamp, SHM_STAMP(se->pos));
	se->pos += rec;
	/* Zero the next header slots ahead, as shm_send() does (free space only). */
	while (se->zeroed - se->pos < SHM_AHEAD &&
	       se->zeroed - se->head + SHM_HDR <= se->size) {
		end = shm_rec_at(se, se->zeroed);
		end->len = 0;
		atomic_store_explicit(&end->stamp, 0, memory_order_relaxed);
		se->zeroed += SHM_ALIGN;
	}
	return 0;
}

/*
 * The next record, in place: *msg and *len, valid until shm_release(). Pad
 * records are skipped. Errors as shm_recv().
 */
static int shm_peek(struct ipcl_ep *ep, const void **msg, size_t *len,
		    int64_t deadline_ns)
{
	struct shm_ep *se = ep->state;
	struct shm_rec *r;
	uint32_t n;
	int rc;

	for (;;) {
		r = shm_rec_at(se, se->pos);
		if (atomic_load_explicit(&r->stamp, memory_order_acquire) !=
		    SHM_STAMP(se->pos)) {
			rc = shm_wait(ep, 0, deadline_ns);
			if (rc)
				return rc;
		}
		n = r->len;
		if (n != SHM_PAD)
			break;
		se->pos += se->size - (se->pos & se->mask);
		shm_publish(se, &se->hdr->head, se->pos);
	}
	if (n > se->max_msg)
		return ipcl_seterr(ep->err, IPCL_EPROTO,
				   "shm-loan: corrupt record at ring offset %u (len %u)",
				   se->pos & se->mask, n);
	se->held = SHM_REC(n);
	*msg = se->data + ((se->pos + SHM_HDR) & se->mask);
	*len = n;
	return 0;
}

/* Give the record shm_peek() returned back to the producer. */
static int shm_release(struct ipcl_ep *ep)
{
	struct shm_ep *se = ep->state;

	if (!se->held)
		return ipcl_seterr(ep->err, -EINVAL, "shm-loan: release without a peek");
	se->pos += se->held;
	se->held = 0;
	shm_publish(se, &se->hdr->head, se->pos);
	return 0;
}

/* shm-loan's probe: shm's, with the largest message of a loan ring. */
static int shm_loan_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	int rc = shm_probe(o, p, err);

	if (rc)
		return rc;
	p->max_msg = SHM_LOAN_MAX_MSG(shm_probe_ring(o));
	ipcl_fact(p, "loan", "%d", 1);
	return 0;
}

/* shm-loan's setup: shm's, after checking the message fits a loan ring. */
static int shm_loan_setup(struct ipcl_chan *c)
{
	struct shm_cfg cfg;
	int rc = shm_parse_opts(c->opts, &cfg, c->err);

	if (rc)
		return rc;
	if (c->opts->msg_size > SHM_LOAN_MAX_MSG((uint32_t)cfg.ring))
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "shm-loan: a %zu-byte message does not fit a %llu-byte "
		    "ring in one piece (largest %u); raise -O ring=",
		    c->opts->msg_size, (unsigned long long)cfg.ring,
		    SHM_LOAN_MAX_MSG((uint32_t)cfg.ring));
	return shm_setup(c);
}

/* send() of shm-loan: a loan, a copy into it, a publish. */
static int shm_loan_send(struct ipcl_ep *ep, const void *msg, size_t len,
			 int64_t deadline_ns)
{
	void *slot;
	int rc = shm_loan(ep, len, &slot, deadline_ns);

	if (rc)
		return rc;
	memcpy(slot, msg, len);
	return shm_loan_publish(ep, len);
}

/* recv() of shm-loan: a peek, a copy out of it, a release. */
static int shm_loan_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
			 int64_t deadline_ns)
{
	const void *msg;
	int rc = shm_peek(ep, &msg, len, deadline_ns);

	if (rc)
		return rc;
	if (*len > cap) {
		rc = ipcl_seterr(ep->err, IPCL_ETRUNC,
				 "shm-loan: a %zu-byte message, the buffer holds %zu "
				 "(left in the ring)",
				 *len, cap);
		((struct shm_ep *)ep->state)->held = 0;
		return rc;
	}
	memcpy(buf, msg, *len);
	return shm_release(ep);
}

/* Unmap; a producer first marks the stream closed and wakes a sleeping consumer. */
static void shm_close(struct ipcl_ep *ep)
{
	struct shm_ep *se = ep->state;

	if (!se->hdr)
		return;
	if (se->role == IPCL_PRODUCER)
		shm_publish(se, &se->hdr->closed, 1);
	shm_unmap(se->backing, se->hdr, se->map_len);
	se->hdr = NULL;
}

/*
 * Remove the backing by address only, so that `ipclab clean` and a fresh process
 * after a crash can. SysV: the creator detaches (the segment was removed at
 * setup and goes with the last endpoint); by address, IPC_RMID only if the id
 * still names the segment we made (same creation time: ids are recycled).
 * File: unlink the file and its private dir.
 */
static void shm_teardown(struct ipcl_chan *c)
{
	struct shm_chan *cs = c->state;
	char dir[PATH_MAX];
	const char *path;
	long long ctime;
	int id;

	if (cs && cs->map) {
		shmdt(cs->map);
		cs->map = NULL;
	}
	if (shm_sysv_parse(c->addr, &id, &ctime) == 0) {
		struct shmid_ds ds;

		if (shmctl(id, IPC_STAT, &ds) == 0 && (long long)ds.shm_ctime == ctime &&
		    ds.shm_perm.uid == geteuid() && shmctl(id, IPC_RMID, NULL) < 0)
			ipcl_seterr(c->err, -errno, "shmctl %d IPC_RMID: %s", id,
				    strerror(errno));
		return;
	}
	path = shm_file_path(c->addr, dir, sizeof dir);
	if (path) {
		if (unlink(path) < 0 && errno != ENOENT)
			ipcl_seterr(c->err, -errno, "unlink %s: %s", path,
				    strerror(errno));
		if (rmdir(dir) < 0 && errno != ENOENT)
			ipcl_seterr(c->err, -errno, "rmdir %s: %s", dir, strerror(errno));
		return;
	}
	if (shm_name_ok(c->addr) && shm_unlink(c->addr) < 0 && errno != ENOENT)
		ipcl_seterr(c->err, -errno, "shm_unlink %s: %s", c->addr,
			    strerror(errno));
}

const struct ipcl_transport ipcl_transport_shm = {
    .name = "shm",
    .summary = "shared memory SPSC ring (shm_open, SysV shmget or a mapped file; C11 "
	       "atomics, futex)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF,
    .chan_state_size = sizeof(struct shm_chan),
    .ep_state_size = sizeof(struct shm_ep),
    .options = shm_options,
    .probe = shm_probe,
    .setup = shm_setup,
    .teardown = shm_teardown,
    .open = shm_open_ep,
    .send = shm_send,
    .recv = shm_recv,
    .close = shm_close,
};

const struct ipcl_transport ipcl_transport_shm_loan = {
    .name = "shm-loan",
    .summary = "the shm ring, zero-copy: messages written and read in place (loan, "
	       "publish, peek, release)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF,
    .chan_state_size = 0,
    .ep_state_size = sizeof(struct shm_ep),
    .options = shm_options,
    .probe = shm_loan_probe,
    .setup = shm_loan_setup,
    .teardown = shm_teardown,
    .open = shm_open_ep,
    .send = shm_loan_send,
    .recv = shm_loan_recv,
    .loan = shm_loan,
    .publish = shm_loan_publish,
    .peek = shm_peek,
    .release = shm_release,
    .close = shm_close,
};
