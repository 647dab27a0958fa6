/*
 * bare_signal.c - the floor of a real-time signal round trip, with no ipclab
 * code: a parent and a forked child play ping-pong with sigqueue(3) (S <= 8
 * bytes in the union sigval) and sigwaitinfo(2), the signals blocked, no
 * handler.
 *
 *   bare_signal -s SIZE -n COUNT [-w WARMUP] [-c CPU_A,CPU_B]
 *
 * Prints one JSON line with the round-trip percentiles in ns. Ping is
 * SIGRTMIN+1, pong SIGRTMIN+2. Left out: standard signals (they do not queue),
 * everything the harness adds.
 */
#define _GNU_SOURCE
#include "bare.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Queue signo with value v to pid, retrying EINTR and a full queue (EAGAIN). */
static int send_sig(pid_t pid, int signo, union sigval v)
{
	while (sigqueue(pid, signo, v) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
	return 0;
}

/* Wait for signo (blocked) and return its value. */
static int wait_sig(const sigset_t *set, union sigval *v)
{
	siginfo_t si;

	while (sigwaitinfo(set, &si) < 0) {
		if (errno != EINTR)
			return -1;
	}
	*v = si.si_value;
	return 0;
}

int main(int argc, char **argv)
{
	long count = 0, warmup = 1000;
	int cpu[2] = {-1, -1}, opt, status, rc = 1;
	size_t size = 8;
	int64_t *lat = NULL;
	sigset_t ping, pong, both;
	pid_t child = -1, parent = getpid();

	while ((opt = getopt(argc, argv, "s:n:w:c:")) != -1) {
		switch (opt) {
		case 's':
			size = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			count = strtol(optarg, NULL, 0);
			break;
		case 'w':
			warmup = strtol(optarg, NULL, 0);
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cpu[0], &cpu[1]) != 2) {
				fprintf(stderr, "bare_signal: -c wants CPU_A,CPU_B\n");
				return 2;
			}
			break;
		default:
			goto usage;
		}
	}
	if (count <= 0 || warmup < 0)
		goto usage;
	if (size > sizeof(union sigval)) {
		fprintf(stderr, "bare_signal: a signal carries at most %zu bytes\n",
			sizeof(union sigval));
		return 2;
	}
	lat = malloc((size_t)count * sizeof *lat);
	if (!lat) {
		fprintf(stderr, "bare_signal: out of memory\n");
		return 1;
	}
	/* Block both before fork: the child inherits the mask, none is ever lost. */
	sigemptyset(&ping);
	sigaddset(&ping, SIGRTMIN + 1);
	sigemptyset(&pong);
	sigaddset(&pong, SIGRTMIN + 2);
	sigemptyset(&both);
	sigaddset(&both, SIGRTMIN + 1);
	sigaddset(&both, SIGRTMIN + 2);
	if (sigprocmask(SIG_BLOCK, &both, NULL) < 0) {
		fprintf(stderr, "bare_signal: sigprocmask: %s\n", strerror(errno));
		goto out;
	}

	child = fork();
	if (child < 0) {
		fprintf(stderr, "bare_signal: fork: %s\n", strerror(errno));
		goto out;
	}
	if (child == 0) {
		union sigval v;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		bare_pin(cpu[1]);
		for (long i = 0; i < warmup + count; i++) {
			if (wait_sig(&ping, &v) < 0 ||
			    send_sig(parent, SIGRTMIN + 2, v) < 0)
				_exit(1);
		}
		_exit(0);
	}
	bare_pin(cpu[0]);
	for (long i = 0; i < warmup + count; i++) {
		union sigval v = {0}, back;
		uint64_t seq = (uint64_t)i;
		int64_t t0 = bare_now_ns();

		memcpy(&v, &seq, size);
		if (send_sig(child, SIGRTMIN + 1, v) < 0 || wait_sig(&pong, &back) < 0) {
			fprintf(stderr, "bare_signal: round trip %ld: %s\n", i,
				strerror(errno));
			goto out;
		}
		if (i >= warmup)
			lat[i - warmup] = bare_now_ns() - t0;
		if (memcmp(&back, &v, size) != 0) {
			fprintf(stderr, "bare_signal: round trip %ld: wrong value back\n",
				i);
			goto out;
		}
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bare_signal: the child failed\n");
		child = -1;
		goto out;
	}
	child = -1;
	bare_report("signal-rt-pingpong", (long)size, lat, count, "");
	rc = 0;
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	free(lat);
	return rc;
usage:
	fprintf(stderr,
		"usage: bare_signal -s SIZE -n COUNT [-w WARMUP] [-c CPU_A,CPU_B]\n");
	return 2;
}
