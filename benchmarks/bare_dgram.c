/*
 * bare_dgram.c - the floor of a message-socket round trip, with no ipclab code:
 * a parent and a forked child bounce one message over
 *   -m dgram      socketpair(AF_UNIX, SOCK_DGRAM)      "unix-dgram-pingpong"
 *   -m seqpacket  socketpair(AF_UNIX, SOCK_SEQPACKET)  "unix-seqpacket-pingpong"
 *   -m udp        two UDP sockets on 127.0.0.1, connected to each other "udp-pingpong"
 * with one send(2) and one recv(2) per hop, blocking, and print one JSON line:
 *   {"bench":..,"size":S,"count":N,"min_ns":..,"p50_ns":..,"p90_ns":..,"p99_ns":..,"mean_ns":..}
 *
 * usage: bare_dgram -m dgram|seqpacket|udp -s SIZE -n COUNT [-w WARMUP] [-c CPU_A,CPU_B]
 * Round trips are timed one by one with CLOCK_MONOTONIC in the parent. A lost UDP
 * datagram ends the run with an error after 2 s (SO_RCVTIMEO), not a hang.
 */
#define _GNU_SOURCE
#include "bare.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Two connected UDP sockets on 127.0.0.1 with kernel-chosen ports. */
static int udp_pair(int fd[2])
{
	struct sockaddr_in a[2];
	socklen_t l = sizeof a[0];

	for (int i = 0; i < 2; i++) {
		memset(&a[i], 0, sizeof a[i]);
		a[i].sin_family = AF_INET;
		a[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&a[i], sizeof a[i]) < 0 ||
		    getsockname(fd[i], (struct sockaddr *)&a[i], &l) < 0)
			return -1;
	}
	if (connect(fd[0], (struct sockaddr *)&a[1], sizeof a[1]) < 0 ||
	    connect(fd[1], (struct sockaddr *)&a[0], sizeof a[0]) < 0)
		return -1;
	return 0;
}

/* One hop: send size bytes, then receive size bytes back (or the reverse). */
static int xfer(int fd, char *buf, size_t size, int send_first)
{
	for (int step = 0; step < 2; step++) {
		ssize_t n;

		do {
			n = (step == 0) == (send_first != 0)
				? send(fd, buf, size, MSG_NOSIGNAL)
				: recv(fd, buf, size, 0);
		} while (n < 0 && errno == EINTR);
		if (n != (ssize_t)size) {
			fprintf(stderr, "bare_dgram: %s: %s\n",
				(step == 0) == (send_first != 0) ? "send" : "recv",
				n < 0 ? strerror(errno) : "short message");
			return -1;
		}
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bare_dgram -m dgram|seqpacket|udp -s SIZE -n COUNT "
			"[-w WARMUP] [-c CPU_A,CPU_B]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode = NULL, *bench;
	long size = -1, count = -1, warmup = 1000;
	int cpu_a = -1, cpu_b = -1, fd[2], opt, status;
	struct timeval tmo = {.tv_sec = 2};
	int64_t *lat;
	char *buf;
	pid_t pid;

	while ((opt = getopt(argc, argv, "m:s:n:w:c:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 's':
			size = atol(optarg);
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 'w':
			warmup = atol(optarg);
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu_a, &cpu_b) != 2)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!mode || size < 1 || count < 1 || warmup < 0)
		usage();
	if (strcmp(mode, "dgram") == 0) {
		bench = "unix-dgram-pingpong";
		opt = socketpair(AF_UNIX, SOCK_DGRAM, 0, fd);
	} else if (strcmp(mode, "seqpacket") == 0) {
		bench = "unix-seqpacket-pingpong";
		opt = socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fd);
	} else if (strcmp(mode, "udp") == 0) {
		bench = "udp-pingpong";
		opt = udp_pair(fd);
	} else {
		usage();
	}
	if (opt < 0) {
		perror("bare_dgram: socket");
		return 1;
	}
	for (int i = 0; i < 2; i++)
		if (setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo) < 0) {
			perror("bare_dgram: SO_RCVTIMEO");
			return 1;
		}
	buf = calloc(1, (size_t)size);
	lat = calloc((size_t)count, sizeof *lat);
	if (!buf || !lat) {
		fprintf(stderr, "bare_dgram: out of memory\n");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("bare_dgram: fork");
		return 1;
	}
	if (pid == 0) { /* the echo side */
		close(fd[0]);
		bare_pin(cpu_b);
		for (long i = 0; i < warmup + count; i++)
			if (xfer(fd[1], buf, (size_t)size, 0))
				_exit(1);
		_exit(0);
	}
	close(fd[1]);
	bare_pin(cpu_a);
	for (long i = 0; i < warmup + count; i++) {
		int64_t t0 = bare_now_ns();

		if (xfer(fd[0], buf, (size_t)size, 1)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 1;
		}
		if (i >= warmup)
			lat[i - warmup] = bare_now_ns() - t0;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bare_dgram: the echo process failed\n");
		return 1;
	}
	bare_report(bench, size, lat, count, "");
	free(buf);
	free(lat);
	close(fd[0]);
	return 0;
}
