/*
 * bare_mq.c - the floor of a message-queue round trip, with no ipclab code: a
 * parent and a forked child play ping-pong over two queues (POSIX mq_send/
 * mq_receive or System V msgsnd/msgrcv, blocking), S bytes each way.
 *
 *   bare_mq -m posix|sysv -s SIZE -n COUNT [-w WARMUP] [-c CPU_A,CPU_B]
 *
 * Prints one JSON line with the round-trip percentiles in ns. The POSIX queues
 * are unlinked as soon as both processes hold them open and the System V
 * queues are removed on every exit path (and on SIGINT/SIGTERM), so nothing
 * is left behind. Left out: everything the harness adds (framing, checks).
 */
#define _GNU_SOURCE
#include "bare.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sysv_msg {
	long mtype;
	char mtext[];
};

static int use_sysv;
static mqd_t pmq[2] = {(mqd_t)-1, (mqd_t)-1};
static volatile sig_atomic_t sysv_id[2] = {-1, -1};
static volatile sig_atomic_t owner = 1; /* this process removes the queues */
static size_t size;
static struct sysv_msg *msg;

static void cleanup(void)
{
	if (!owner)
		return;
	for (int i = 0; i < 2; i++) {
		if (sysv_id[i] >= 0)
			msgctl(sysv_id[i], IPC_RMID, NULL);
		sysv_id[i] = -1;
	}
}

static void on_signal(int sig)
{
	cleanup();
	_exit(128 + sig);
}

/* Send on queue q (0: ping, 1: pong); 0 or -1 with errno set. */
static int q_send(int q)
{
	int r;

	do
		r = use_sysv ? msgsnd(sysv_id[q], msg, size, 0)
			     : mq_send(pmq[q], msg->mtext, size, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static int q_recv(int q)
{
	ssize_t n;

	do
		n = use_sysv ? msgrcv(sysv_id[q], msg, size, 1, 0)
			     : mq_receive(pmq[q], msg->mtext, size > 0 ? size : 1, NULL);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (size_t)n != size) {
		errno = EPROTO;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

/* Create both queues and open them in this process (the child inherits them). */
static int make_queues(void)
{
	char name[64];
	struct mq_attr attr = {0};

	for (int i = 0; i < 2; i++) {
		if (use_sysv) {
			sysv_id[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
			if (sysv_id[i] < 0) {
				fprintf(stderr, "bare_mq: msgget: %s\n", strerror(errno));
				return -1;
			}
			continue;
		}
		snprintf(name, sizeof name, "/bare-mq-%d-%d", (int)getpid(), i);
		attr.mq_maxmsg = 1; /* one in flight is all a ping-pong needs */
		attr.mq_msgsize = (long)(size > 0 ? size : 1);
		pmq[i] = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
		if (pmq[i] == (mqd_t)-1) {
			fprintf(stderr, "bare_mq: mq_open %s: %s%s\n", name,
				strerror(errno),
				errno == EINVAL
				    ? " (size over /proc/sys/fs/mqueue/msgsize_max?)"
				    : "");
			return -1;
		}
		mq_unlink(name); /* the open descriptors keep it alive */
	}
	return 0;
}

int main(int argc, char **argv)
{
	long count = 0, warmup = 1000;
	int cpu[2] = {-1, -1}, opt, status, rc = 1;
	const char *mode = "posix";
	int64_t *lat = NULL;
	pid_t child = -1;
	char bench[32];

	while ((opt = getopt(argc, argv, "m:s:n:w:c:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
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
				fprintf(stderr, "bare_mq: -c wants CPU_A,CPU_B\n");
				return 2;
			}
			break;
		default:
			goto usage;
		}
	}
	if (strcmp(mode, "posix") && strcmp(mode, "sysv"))
		goto usage;
	use_sysv = strcmp(mode, "sysv") == 0;
	if (count <= 0 || warmup < 0)
		goto usage;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	lat = malloc((size_t)count * sizeof *lat);
	msg = calloc(1, sizeof *msg + (size > 0 ? size : 1));
	if (!lat || !msg) {
		fprintf(stderr, "bare_mq: out of memory\n");
		goto out;
	}
	msg->mtype = 1;
	if (make_queues() < 0)
		goto out;

	child = fork();
	if (child < 0) {
		fprintf(stderr, "bare_mq: fork: %s\n", strerror(errno));
		goto out;
	}
	if (child == 0) {
		/* The pong side: echo every message back; die with the parent. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		owner = 0; /* the parent removes the queues */
		bare_pin(cpu[1]);
		for (long i = 0; i < warmup + count; i++) {
			if (q_recv(0) < 0 || q_send(1) < 0)
				_exit(1);
		}
		_exit(0);
	}
	bare_pin(cpu[0]);
	for (long i = 0; i < warmup + count; i++) {
		int64_t t0 = bare_now_ns();

		if (q_send(0) < 0 || q_recv(1) < 0) {
			fprintf(stderr, "bare_mq: round trip %ld: %s%s\n", i,
				strerror(errno),
				use_sysv && errno == EINVAL
				    ? " (size over /proc/sys/kernel/msgmax?)"
				    : "");
			goto out;
		}
		if (i >= warmup)
			lat[i - warmup] = bare_now_ns() - t0;
	}
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bare_mq: the child failed\n");
		child = -1;
		goto out;
	}
	child = -1;
	snprintf(bench, sizeof bench, "%s-mq-pingpong", mode);
	bare_report(bench, (long)size, lat, count, "");
	rc = 0;
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	cleanup();
	for (int i = 0; i < 2; i++)
		if (pmq[i] != (mqd_t)-1)
			mq_close(pmq[i]);
	free(lat);
	free(msg);
	return rc;
usage:
	fprintf(stderr, "usage: bare_mq -m posix|sysv -s SIZE -n COUNT [-w WARMUP] [-c "
			"CPU_A,CPU_B]\n");
	return 2;
}
