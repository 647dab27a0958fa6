/*
 * bare_pipe.c - the floor for a pipe round trip: a parent writes S bytes into
 * one anonymous pipe, a forked child reads them and writes them back through a
 * second pipe, and the parent times each round trip with CLOCK_MONOTONIC.
 * Standalone on purpose (libc only, no ipclab code, no framing, no checks), so
 * that ipclab's own pipe ping-pong can be held against it.
 *
 *   bare_pipe -s SIZE -n COUNT [-w WARMUP] [-c CPU_PARENT,CPU_CHILD]
 *
 * Prints one JSON line: {"bench":"pipe-pingpong","size":S,"count":N,"min_ns":..,
 * "p50_ns":..,"p90_ns":..,"p99_ns":..,"mean_ns":..}. Without -c nothing is pinned.
 */
#define _GNU_SOURCE
#include "bare.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: bare_pipe -s SIZE -n COUNT [-w WARMUP] [-c CPU_PARENT,CPU_CHILD]\n");
	exit(2);
}

static long parse_num(const char *s, long lo)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo)
		usage();
	return v;
}

/* Write all len bytes: 0, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 1, 0 at a clean end before the first byte, -1 on error. */
static int read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EPIPE;
			return got == 0 ? 0 : -1;
		}
		got += (size_t)n;
	}
	return 1;
}

int main(int argc, char **argv)
{
	long size = -1, count = -1, warmup = 1000;
	int cpu_parent = -1, cpu_child = -1, opt, status, rc = 1;
	int down[2], up[2]; /* parent -> child, child -> parent */
	int64_t *samples;
	char *buf;
	pid_t child;

	while ((opt = getopt(argc, argv, "s:n:w:c:")) != -1) {
		switch (opt) {
		case 's':
			size = parse_num(optarg, 1);
			break;
		case 'n':
			count = parse_num(optarg, 1);
			break;
		case 'w':
			warmup = parse_num(optarg, 0);
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_parent, &cpu_child) != 2 ||
			    cpu_parent < 0 || cpu_child < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (size < 0 || count < 0 || optind != argc)
		usage();
	buf = malloc((size_t)size);
	samples = malloc((size_t)count * sizeof *samples);
	if (!buf || !samples) {
		fprintf(stderr, "bare_pipe: out of memory\n");
		return 1;
	}
	memset(buf, 'x', (size_t)size);
	signal(SIGPIPE, SIG_IGN); /* a dead child shows up as EPIPE, not a silent exit */
	if (pipe(down) < 0 || pipe(up) < 0) {
		perror("bare_pipe: pipe");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("bare_pipe: fork");
		return 1;
	}
	if (child == 0) {
		/* The echo: until the parent closes its end. */
		close(down[1]);
		close(up[0]);
		bare_pin(cpu_child);
		for (;;) {
			int r = read_all(down[0], buf, (size_t)size);

			if (r == 0)
				_exit(0);
			if (r < 0 || write_all(up[1], buf, (size_t)size) < 0) {
				perror("bare_pipe: child");
				_exit(1);
			}
		}
	}
	close(down[0]);
	close(up[1]);
	bare_pin(cpu_parent);
	for (long i = 0; i < warmup + count; i++) {
		int64_t t0 = bare_now_ns();

		if (write_all(down[1], buf, (size_t)size) < 0 ||
		    read_all(up[0], buf, (size_t)size) != 1) {
			perror("bare_pipe: parent");
			goto out;
		}
		if (i >= warmup)
			samples[i - warmup] = bare_now_ns() - t0;
	}
	rc = 0;
out:
	close(down[1]); /* the child sees EOF and exits */
	close(up[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = 1;
	if (rc == 0) {
		bare_report("pipe-pingpong", size, samples, count, "");
	}
	free(buf);
	free(samples);
	return rc;
}
