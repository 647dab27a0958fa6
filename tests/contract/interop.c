/*
 * interop.c - a client that is not ipclab's gets ipclab's echo.
 *
 * Opens the consumer (server) side of an ipclab request/response channel
 * (grpc, http) in this process, echoes every request in a thread the way the
 * harness's ponger does (recv, then reply with the same bytes), and runs a
 * Python client against it: grpc_client.py (python3-grpcio) or
 * http_client.py (the standard library's http.client). Passes when the
 * client's checks hold (echoes, refusal without the run's token, ...) and the
 * server saw exactly `want` requests (a refused one must never reach recv()),
 * then end of stream. Skips (status 77) when the transport is not built or
 * the Python cannot import what the client needs.
 *
 * Usage: interop TRANSPORT WANT PYTHON CLIENT.py [ARG ...]
 * The client is run as: PYTHON CLIENT.py [ARG ...] 127.0.0.1:PORT TOKEN
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/endpoint.h"
#include "engine/registry.h"

#include "testutil.h"

#define SEC  1000000000LL
#define SKIP 77

extern char **environ;

struct server {
	const struct ipcl_transport *t;
	struct ipcl_ep *ep;
	int msgs, rc;
	char err[2 * IPCL_ERR_MAX];
};

/* Echo until end of stream or 60 s. */
static void *serve(void *arg)
{
	struct server *s = arg;
	size_t cap = 1 << 20, len;
	unsigned char *buf = malloc(cap);
	int64_t until = ipcl_now_ns() + 60 * SEC;

	for (;;) {
		int rc = s->t->recv(s->ep, buf, cap, &len, until);

		if (rc == IPCL_EOF)
			break;
		if (rc == 0)
			rc = s->t->reply(s->ep, buf, len, ipcl_now_ns() + 10 * SEC);
		if (rc) {
			s->rc = rc;
			snprintf(s->err, sizeof s->err, "%s (%s)", ipcl_strerror(rc),
				 s->ep->err);
			break;
		}
		s->msgs++;
	}
	free(buf);
	return NULL;
}

/* Run argv, wait for it, and return its exit status (-1 if it did not exit). */
static int run(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The value of " key=" (or "key=" at the start) in a channel address. */
static int addr_field(const char *addr, const char *key, char *out, size_t cap)
{
	size_t k = strlen(key);
	const char *p = addr;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == addr || p[-1] == ' ') && p[k] == '=') {
			size_t n = strcspn(p + k + 1, " ");

			if (n == 0 || n >= cap)
				return -1;
			memcpy(out, p + k + 1, n);
			out[n] = '\0';
			return 0;
		}
		p += k;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const struct ipcl_transport *t;
	struct ipcl_opts o = {
	    .msg_size = 1 << 20, .producers = 1, .consumers = 1, .threads = 1};
	struct ipcl_chan *chan = NULL;
	struct server s = {0};
	pthread_t th;
	char err[IPCL_ERR_MAX] = "", tag[32], port[16], target[32], token[80];
	char **client;
	int want, st, rc = 1;

	if (argc < 5) {
		fprintf(stderr,
			"usage: interop TRANSPORT WANT PYTHON CLIENT.py [ARG ...]\n");
		return 2;
	}
	t = ipcl_transport_find(argv[1]);
	want = atoi(argv[2]);
	if (!t) {
		fprintf(stderr, "interop: this build has no %s transport\n", argv[1]);
		return SKIP;
	}
	{
		char *probe[] = {argv[3], argv[4], "--probe", NULL};

		if (run(probe) != 0) {
			fprintf(stderr,
				"interop: %s cannot run %s here (missing modules?)\n",
				argv[3], argv[4]);
			return SKIP;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(tag, sizeof tag, "%d-interop", (int)getpid());
	o.tag = tag;
	if (ipcl_chan_create(t, &o, &chan, err)) {
		fprintf(stderr, "interop: setup: %s\n", err);
		return 1;
	}
	if (addr_field(chan->addr, "port", port, sizeof port) ||
	    addr_field(chan->addr, "token", token, sizeof token)) {
		fprintf(stderr, "interop: no port or token in \"%s\"\n", chan->addr);
		goto out;
	}
	snprintf(target, sizeof target, "127.0.0.1:%s", port);
	s.t = t;
	if (ipcl_ep_open(chan, IPCL_CONSUMER, 0, ipcl_now_ns() + 20 * SEC, &s.ep, err)) {
		fprintf(stderr, "interop: server open: %s\n", err);
		goto out;
	}
	if (pthread_create(&th, NULL, serve, &s) != 0)
		goto out;
	client = calloc((size_t)argc, sizeof *client);
	if (!client)
		abort();
	for (int i = 3; i < argc; i++)
		client[i - 3] = argv[i];
	client[argc - 3] = target;
	client[argc - 2] = token;
	st = run(client);
	free(client);
	pthread_join(th, NULL);
	if (st != 0)
		fprintf(stderr, "interop: the Python client exited with %d\n", st);
	else if (s.rc)
		fprintf(stderr, "interop: server: %s\n", s.err);
	else if (s.msgs != want)
		fprintf(stderr,
			"interop: the server handled %d requests, want %d (refused "
			"ones must not reach recv())\n",
			s.msgs, want);
	else
		rc = 0;
out:
	ipcl_ep_close(s.ep, ipcl_now_ns() + 5 * SEC);
	ipcl_chan_destroy(chan);
	if (rc == 0)
		printf("interop: %s: a client that is not ipclab's got ipclab's echo\n",
		       t->name);
	return rc;
}
