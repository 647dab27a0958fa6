/*
 * bare_socket.c - the floor for a stream-socket round trip: a parent sends S
 * bytes over a connected stream socket, a forked child reads them and sends
 * them back over the same socket, and the parent times each round trip with
 * CLOCK_MONOTONIC. -m unix uses socketpair(AF_UNIX, SOCK_STREAM); -m tcp a
 * loopback 127.0.0.1 connection with TCP_NODELAY on both ends, connected before
 * the fork. Standalone on purpose (libc only, no ipclab code, no framing).
 *
 *   bare_socket -m unix|tcp -s SIZE -n COUNT [-w WARMUP] [-c CPU_PARENT,CPU_CHILD]
 *
 * Prints one JSON line: {"bench":"unix-pingpong" or "tcp-pingpong","size":S,
 * "count":N,"min_ns":..,"p50_ns":..,"p90_ns":..,"p99_ns":..,"mean_ns":..}.
 * Without -c nothing is pinned.
 */
#define _GNU_SOURCE
#include "bare.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: bare_socket -m unix|tcp -s SIZE -n COUNT [-w WARMUP] "
			"[-c CPU_PARENT,CPU_CHILD]\n");
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

/* A connected loopback TCP pair with TCP_NODELAY on both ends: 0 or -1. */
static int tcp_pair(int sv[2])
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	socklen_t len = sizeof in;
	int one = 1, l, rc = -1;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sv[0] = sv[1] = -1;
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&in, sizeof in) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&in, &len) < 0)
		goto out;
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&in, sizeof in) < 0)
		goto out;
	do
		sv[1] = accept(l, NULL, NULL);
	while (sv[1] < 0 && errno == EINTR);
	if (sv[1] < 0)
		goto out;
	if (setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		int e = errno;

		if (sv[0] >= 0)
			close(sv[0]);
		if (sv[1] >= 0)
			close(sv[1]);
		errno = e;
	}
	close(l);
	return rc;
}

int main(int argc, char **argv)
{
	long size = -1, count = -1, warmup = 1000;
	int cpu_parent = -1, cpu_child = -1, opt, status, rc = 1;
	const char *mode = NULL;
	int sv[2]; /* [0] the parent's end, [1] the child's */
	int64_t *samples;
	char *buf;
	pid_t child;

	while ((opt = getopt(argc, argv, "m:s:n:w:c:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
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
	if (size < 0 || count < 0 || optind != argc || !mode ||
	    (strcmp(mode, "unix") != 0 && strcmp(mode, "tcp") != 0))
		usage();
	buf = malloc((size_t)size);
	samples = malloc((size_t)count * sizeof *samples);
	if (!buf || !samples) {
		fprintf(stderr, "bare_socket: out of memory\n");
		return 1;
	}
	memset(buf, 'x', (size_t)size);
	signal(SIGPIPE, SIG_IGN); /* a dead child shows up as EPIPE, not a silent exit */
	if (strcmp(mode, "unix") == 0 ? socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0
				      : tcp_pair(sv) < 0) {
		perror("bare_socket: connect");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("bare_socket: fork");
		return 1;
	}
	if (child == 0) {
		/* The echo: until the parent closes its end. */
		close(sv[0]);
		bare_pin(cpu_child);
		for (;;) {
			int r = read_all(sv[1], buf, (size_t)size);

			if (r == 0)
				_exit(0);
			if (r < 0 || write_all(sv[1], buf, (size_t)size) < 0) {
				perror("bare_socket: child");
				_exit(1);
			}
		}
	}
	close(sv[1]);
	bare_pin(cpu_parent);
	for (long i = 0; i < warmup + count; i++) {
		int64_t t0 = bare_now_ns();

		if (write_all(sv[0], buf, (size_t)size) < 0 ||
		    read_all(sv[0], buf, (size_t)size) != 1) {
			perror("bare_socket: parent");
			goto out;
		}
		if (i >= warmup)
			samples[i - warmup] = bare_now_ns() - t0;
	}
	rc = 0;
out:
	close(sv[0]); /* the child sees EOF and exits */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = 1;
	if (rc == 0) {
		char bench[32];

		snprintf(bench, sizeof bench, "%s-pingpong", mode);
		bare_report(bench, size, samples, count, "");
	}
	free(buf);
	free(samples);
	return rc;
}
