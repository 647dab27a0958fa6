/*
 * bare_shm.c - the floors a shared-memory transport is measured against,
 * without any ipclab code: what two processes sharing a page can do at best.
 *
 *   -m atomic   two processes (fork) share a MAP_SHARED|MAP_ANONYMOUS mapping
 *               and play ping-pong on one C11 atomic counter, both spinning:
 *               the floor of a spinning transport (one cache-line transfer
 *               each way).
 *   -m futex    the same, but each side sleeps in FUTEX_WAIT until the other
 *               FUTEX_WAKEs it: the floor of a blocking transport.
 *   -m memcpy   single-thread memcpy() bandwidth for SIZE-byte copies.
 *
 * With -s SIZE > 0 the ping-pong modes also carry SIZE bytes each way (copied
 * into and out of the shared mapping), as a transport would. Times come from
 * CLOCK_MONOTONIC around each round trip. Output: one JSON line on stdout.
 *
 * Usage: bare_shm -m atomic|futex|memcpy [-s SIZE] [-n COUNT] [-w WARMUP]
 *                 [-c CPU_A,CPU_B]   (memcpy: -c CPU)
 */
#define _GNU_SOURCE
#include "bare.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMCPY_REPS 7

struct shared {
	alignas(64) _Atomic uint32_t turn; /* odd: A has spoken; even: B has answered */
	alignas(64) unsigned char data[];  /* two SIZE-byte payload areas: A->B, B->A */
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static void die(const char *what)
{
	fprintf(stderr, "bare_shm: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	/* Shared (not _PRIVATE) futex: the two sides are different processes. */
	if (syscall(SYS_futex, (void *)w, FUTEX_WAIT, val, NULL, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EINTR)
		die("FUTEX_WAIT");
}

static void futex_wake(_Atomic uint32_t *w)
{
	if (syscall(SYS_futex, (void *)w, FUTEX_WAKE, 1, NULL, NULL, 0) < 0)
		die("FUTEX_WAKE");
}

/* Wait until turn == want: spinning (atomic) or sleeping (futex). */
static void await_turn(struct shared *sh, uint32_t want, int use_futex)
{
	uint32_t v;

	while ((v = atomic_load_explicit(&sh->turn, memory_order_acquire)) != want) {
		if (use_futex)
			futex_wait(&sh->turn, v);
		else
			cpu_relax();
	}
}

static void give_turn(struct shared *sh, uint32_t val, int use_futex)
{
	atomic_store_explicit(&sh->turn, val, memory_order_release);
	if (use_futex)
		futex_wake(&sh->turn);
}

static int pingpong(int use_futex, size_t size, long count, long warmup, int cpu_a,
		    int cpu_b)
{
	size_t maplen = sizeof(struct shared) + 2 * size;
	struct shared *sh;
	unsigned char *a_buf, *b_buf;
	int64_t *rtt;
	long total = warmup + count;
	char extra[32];
	pid_t pid;
	int st;

	sh =
	    mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap");
	rtt = malloc(count * sizeof *rtt);
	a_buf = malloc(size + 1);
	b_buf = malloc(size + 1);
	if (!rtt || !a_buf || !b_buf)
		die("malloc");
	memset(a_buf, 'a', size + 1);
	memset(b_buf, 'b', size + 1);
	memset(sh->data, 0, 2 * size);

	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		/* B: answer every odd turn with the next even one. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bare_pin(cpu_b);
		for (long i = 0; i < total; i++) {
			await_turn(sh, (uint32_t)(2 * i + 1), use_futex);
			if (size) {
				memcpy(b_buf, sh->data, size);
				memcpy(sh->data + size, b_buf, size);
			}
			give_turn(sh, (uint32_t)(2 * i + 2), use_futex);
		}
		_exit(0);
	}
	bare_pin(cpu_a);
	for (long i = 0; i < total; i++) {
		int64_t t0 = bare_now_ns();

		if (size)
			memcpy(sh->data, a_buf, size);
		give_turn(sh, (uint32_t)(2 * i + 1), use_futex);
		await_turn(sh, (uint32_t)(2 * i + 2), use_futex);
		if (size)
			memcpy(a_buf, sh->data + size, size);
		if (i >= warmup)
			rtt[i - warmup] = bare_now_ns() - t0;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bare_shm: the child failed\n");
		return 1;
	}
	snprintf(extra, sizeof extra, ",\"cpus\":\"%d,%d\"", cpu_a, cpu_b);
	bare_report(use_futex ? "futex-pingpong" : "shm-atomic-pingpong", (long)size, rtt,
		    count, extra);
	munmap(sh, maplen);
	free(rtt);
	free(a_buf);
	free(b_buf);
	return 0;
}

/*
 * memcpy bandwidth. Each of source and destination spans max(2 x L2, 16 x SIZE)
 * bytes (a whole number of SIZE blocks), and successive copies walk through it,
 * so no copy finds its data in L2 from the copy before: with a 1 MiB L2 and
 * 64 KiB copies the 2 x 2 MiB working set lives in L3, the same place a few-MiB
 * shm ring lives. MEMCPY_REPS repetitions of COUNT copies; the median counts.
 */
static int memcpy_bw(size_t size, long count, long warmup, int cpu_a)
{
	long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
	size_t span, blocks;
	unsigned char *src, *dst;
	double bw[MEMCPY_REPS];
	volatile unsigned char sink = 0;
	long k = 0;

	if (size == 0) {
		fprintf(stderr, "bare_shm: -m memcpy needs -s SIZE > 0\n");
		return 2;
	}
	if (l2 <= 0)
		l2 = 1 << 20; /* unknown: assume 1 MiB */
	span = 2 * (size_t)l2 > 16 * size ? 2 * (size_t)l2 : 16 * size;
	blocks = (span + size - 1) / size;
	span = blocks * size;
	if (count <= 0)
		count = (long)((256u << 20) / size) + 1; /* ~256 MiB per repetition */
	src = aligned_alloc(4096, span);
	dst = aligned_alloc(4096, span);
	if (!src || !dst)
		die("aligned_alloc");
	memset(src, 1, span);
	memset(dst, 2, span);
	bare_pin(cpu_a);
	for (long i = 0; i < warmup; i++, k++)
		memcpy(dst + (k % blocks) * size, src + (k % blocks) * size, size);
	for (int r = 0; r < MEMCPY_REPS; r++) {
		int64_t t0 = bare_now_ns(), dt;

		for (long i = 0; i < count; i++, k++)
			memcpy(dst + (k % blocks) * size, src + (k % blocks) * size,
			       size);
		dt = bare_now_ns() - t0;
		sink ^= dst[(k * 7) % span];
		bw[r] = (double)size * count * 1e9 / (double)(dt > 0 ? dt : 1);
	}
	for (int i = 1; i < MEMCPY_REPS; i++) /* insertion sort for the median */
		for (int j = i; j > 0 && bw[j] < bw[j - 1]; j--) {
			double t = bw[j];
			bw[j] = bw[j - 1];
			bw[j - 1] = t;
		}
	printf("{\"bench\":\"memcpy\",\"size\":%zu,\"bytes_per_s\":%.0f,\"count\":%ld,"
	       "\"reps\":%d,\"span_bytes\":%zu}\n",
	       size, bw[MEMCPY_REPS / 2], count, MEMCPY_REPS, span);
	free(src);
	free(dst);
	(void)sink;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bare_shm -m atomic|futex|memcpy [-s SIZE] [-n COUNT] "
			"[-w WARMUP] [-c CPU_A,CPU_B]\n");
	exit(2);
}

static long num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	const char *mode = NULL;
	long size = -1, count = -1, warmup = -1;
	int cpu_a = -1, cpu_b = -1, c;

	while ((c = getopt(argc, argv, "m:s:n:w:c:")) != -1) {
		switch (c) {
		case 'm':
			mode = optarg;
			break;
		case 's':
			size = num(optarg);
			break;
		case 'n':
			count = num(optarg);
			break;
		case 'w':
			warmup = num(optarg);
			break;
		case 'c':
			/* "A,B"; memcpy runs on A alone, so "A" will do there. */
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) < 1 || cpu_a < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!mode || optind != argc)
		usage();
	if (strcmp(mode, "memcpy") == 0)
		return memcpy_bw(size < 0 ? 65536 : (size_t)size, count,
				 warmup < 0 ? 1000 : warmup, cpu_a);
	if (strcmp(mode, "atomic") != 0 && strcmp(mode, "futex") != 0)
		usage();
	if (count == 0 || (cpu_a >= 0 && cpu_b < 0))
		usage(); /* a ping-pong needs two CPUs: -c A,B (A,A is allowed) */
	if (strcmp(mode, "atomic") == 0 && cpu_a >= 0 && cpu_a == cpu_b) {
		fprintf(stderr,
			"bare_shm: two spinners on one CPU measure the scheduler's "
			"time slice, not shared memory; use -m futex there\n");
		return 2;
	}
	if (count < 0)
		count = strcmp(mode, "atomic") == 0 ? 200000 : 20000;
	if (warmup < 0)
		warmup = count / 10;
	return pingpong(strcmp(mode, "futex") == 0, size < 0 ? 0 : (size_t)size, count,
			warmup, cpu_a, cpu_b);
}
