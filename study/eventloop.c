/*
 * eventloop.c - claim 9: "a single-threaded event loop (Redis, Node, Vert.x) is
 * fast because it avoids context switches and locks".
 *
 * Two servers of one protocol (a 64-byte request, a 64-byte reply, TCP on
 * 127.0.0.1 with TCP_NODELAY), each in a process of its own: a libuv loop on one
 * thread, and a thread per connection (blocking read/write). C client threads in
 * this process keep one request in flight each, for C = 1 .. 64. Measured over a
 * window: requests/s, the latency histogram (p50, p99), the server's CPU per
 * request (/proc/PID/stat) and its voluntary and involuntary context switches
 * per request, summed over its threads in /proc/PID/task/ * /status.
 *
 * Syscalls and libraries: libuv (uv_tcp_*, uv_write), socket/accept/read/write,
 * pthreads, fork. Leaves out: pipelined requests, and work done per request.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/transport.h>

#include "study/study.h"

#ifdef IPCL_STUDY_LIBUV
#include <uv.h>

#define REQ        64
#define MAX_CLIENT 64

/* ---- the libuv server --------------------------------------------------- */

struct uvconn {
	uv_tcp_t h;
	char rbuf[65536];
	char frame[REQ];
	size_t have;
};

struct uvwrite {
	uv_write_t w;
	char data[];
};

static void uvs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct uvconn *c = h->data;
	(void)suggested;
	*b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void uvs_closed(uv_handle_t *h)
{
	free(h->data);
}

static void uvs_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

/* Every complete request in this read gets its reply in one uv_write. */
static void uvs_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct uvconn *c = s->data;
	struct uvwrite *w;
	size_t nrep = 0;

	if (n < 0) {
		uv_close((uv_handle_t *)s, uvs_closed);
		return;
	}
	if (!(w = malloc(sizeof *w + ((size_t)n / REQ + 1) * REQ)))
		return;
	for (ssize_t i = 0; i < n; i++) {
		c->frame[c->have++] = b->base[i];
		if (c->have == REQ) {
			memcpy(w->data + nrep * REQ, c->frame, REQ);
			w->data[nrep * REQ] ^= 1; /* the reply differs from the request */
			nrep++;
			c->have = 0;
		}
	}
	if (nrep == 0) {
		free(w);
		return;
	}
	uv_buf_t out = uv_buf_init(w->data, (unsigned)(nrep * REQ));
	if (uv_write(&w->w, s, &out, 1, uvs_written))
		free(w);
}

static void uvs_conn(uv_stream_t *srv, int status)
{
	struct uvconn *c;

	if (status < 0 || !(c = calloc(1, sizeof *c)))
		return;
	uv_tcp_init(srv->loop, &c->h);
	c->h.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->h) == 0) {
		uv_tcp_nodelay(&c->h, 1);
		uv_read_start((uv_stream_t *)&c->h, uvs_alloc, uvs_read);
	} else {
		uv_close((uv_handle_t *)&c->h, uvs_closed);
	}
}

/* Runs until killed; reports its port on fd report. */
static void uvs_main(int report)
{
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t srv;
	struct sockaddr_in sa;
	int len = sizeof sa;
	uint16_t port = 0;

	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_init(loop, &srv) || uv_tcp_bind(&srv, (struct sockaddr *)&sa, 0) ||
	    uv_listen((uv_stream_t *)&srv, 128, uvs_conn) ||
	    uv_tcp_getsockname(&srv, (struct sockaddr *)&sa, &len))
		_exit(1);
	port = ntohs(sa.sin_port);
	if (write(report, &port, sizeof port) != sizeof port)
		_exit(1);
	close(report);
	uv_run(loop, UV_RUN_DEFAULT);
	_exit(0);
}

/* ---- the thread-per-connection server ----------------------------------- */

static int ev_full(int fd, void *buf, size_t len, int wr)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *tps_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char frame[REQ];

	while (ev_full(fd, frame, REQ, 0) == 0) {
		frame[0] ^= 1;
		if (ev_full(fd, frame, REQ, 1))
			break;
	}
	close(fd);
	return NULL;
}

static void tps_main(int report)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	uint16_t port;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		_exit(1);
	port = ntohs(sa.sin_port);
	if (write(report, &port, sizeof port) != sizeof port)
		_exit(1);
	close(report);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t th;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (pthread_create(&th, NULL, tps_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(th);
		else
			close(fd);
	}
}

/* ---- clients ------------------------------------------------------------ */

struct bench {
	uint16_t port;
	_Atomic int measuring, stop, connected, failed;
};

struct client {
	struct bench *b;
	struct ipcl_hist lat;
	uint64_t done; /* requests completed while measuring */
};

static void *ev_client(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(c->b->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	char req[REQ] = {0}, rep[REQ];
	uint64_t seq = 0;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		atomic_store(&c->b->failed, 1);
		atomic_fetch_add(&c->b->connected, 1);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	atomic_fetch_add(&c->b->connected, 1);
	while (!atomic_load(&c->b->stop)) {
		int m = atomic_load(&c->b->measuring);
		int64_t t0 = ipcl_now_ns();

		memcpy(req, &seq, sizeof seq);
		if (ev_full(fd, req, REQ, 1) || ev_full(fd, rep, REQ, 0) ||
		    (rep[0] ^ 1) != req[0] || memcmp(rep + 1, req + 1, REQ - 1)) {
			atomic_store(&c->b->failed, 1);
			break;
		}
		seq++;
		if (m && atomic_load(&c->b->measuring)) {
			ipcl_hist_record(&c->lat, (uint64_t)(ipcl_now_ns() - t0));
			c->done++;
		}
	}
	close(fd);
	return NULL;
}

struct point {
	double rps, p50, p99, vcs, ivcs, cpu_us;
};

static void ev_sleep(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* One point: server kind (0 libuv, 1 threads), nclients, window. */
static int ev_point(int kind, int nclients, int64_t window, struct point *pt)
{
	int rep[2];
	pid_t srv;
	struct bench b = {0};
	struct client *cl = calloc((size_t)nclients, sizeof *cl);
	pthread_t th[MAX_CLIENT];
	int started = 0, rc = 0;
	uint64_t v0, i0, v1, i1, done = 0;
	int64_t c0, c1, t0, t1;
	struct ipcl_hist all;

	if (!cl)
		return -ENOMEM;
	if (pipe2(rep, O_CLOEXEC)) {
		free(cl);
		return -errno;
	}
	if ((srv = fork()) < 0) {
		rc = -errno;
		close(rep[0]);
		close(rep[1]);
		free(cl);
		return rc;
	}
	if (srv == 0) {
		close(rep[0]);
		if (kind == 0)
			uvs_main(rep[1]);
		else
			tps_main(rep[1]);
		_exit(1);
	}
	close(rep[1]);
	if (read(rep[0], &b.port, sizeof b.port) != sizeof b.port) {
		rc = -EPROTO;
		goto out;
	}
	for (; started < nclients; started++) {
		cl[started].b = &b;
		ipcl_hist_init(&cl[started].lat);
		if (pthread_create(&th[started], NULL, ev_client, &cl[started])) {
			rc = -EAGAIN;
			goto stop;
		}
	}
	while (atomic_load(&b.connected) < nclients)
		ev_sleep(1000000);
	ev_sleep(window / 5); /* warm-up */
	ipcl_study_ctxsw(srv, &v0, &i0);
	c0 = ipcl_study_cpu_pid_ns(srv);
	t0 = ipcl_now_ns();
	atomic_store(&b.measuring, 1);
	ev_sleep(window);
	atomic_store(&b.measuring, 0);
	t1 = ipcl_now_ns();
	ipcl_study_ctxsw(srv, &v1, &i1);
	c1 = ipcl_study_cpu_pid_ns(srv);
stop:
	atomic_store(&b.stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (rc == 0 && atomic_load(&b.failed))
		rc = -EPROTO;
	if (rc == 0) {
		ipcl_hist_init(&all);
		for (int i = 0; i < nclients; i++) {
			ipcl_hist_merge(&all, &cl[i].lat);
			done += cl[i].done;
		}
		pt->rps = done / ((t1 - t0) / 1e9);
		pt->p50 = ipcl_study_us(&all, 50);
		pt->p99 = ipcl_study_us(&all, 99);
		pt->vcs = done ? (double)(v1 - v0) / done : NAN;
		pt->ivcs = done ? (double)(i1 - i0) / done : NAN;
		pt->cpu_us = done && c0 >= 0 && c1 >= 0 ? (c1 - c0) / 1e3 / done : NAN;
	}
out:
	kill(srv, SIGKILL); /* the server holds only sockets: nothing to clean up */
	while (waitpid(srv, NULL, 0) < 0 && errno == EINTR)
		;
	close(rep[0]);
	free(cl);
	return rc;
}

int ipcl_study_eventloop(const struct ipcl_study_opts *o, json_t *sec)
{
	static const int cq[] = {1, 8, 64}, cf[] = {1, 2, 4, 8, 16, 32, 64};
	const int *cs = o->quick ? cq : cf;
	int nc = o->quick ? 3 : 7;
	int64_t window = o->quick ? 200000000LL : 500000000LL;
	static const char *const kname[] = {"libuv, one thread", "thread per connection"};
	struct point last[2] = {{0}};
	json_t *rows, *chart, *ser[2];

	ipcl_study_experiment(sec,
			      "Two servers of one protocol (64-byte request and reply "
			      "over TCP loopback): a "
			      "libuv loop on one thread, and a thread per connection. C "
			      "= %s client threads, "
			      "one request in flight each, %.0f ms measured per point. "
			      "Context switches are "
			      "the server process's, summed over its threads.",
			      o->quick ? "1, 8, 64" : "1 .. 64", window / 1e6);
	rows = ipcl_study_table(
	    sec, "Server designs against the number of clients",
	    (const char *const[]){"server", "clients", "requests/s", "p50 us", "p99 us",
				  "voluntary cs/request", "involuntary cs/request",
				  "server CPU us/request", NULL});
	chart = ipcl_study_chart(sec, "eventloop", "Requests/s against clients",
				 "clients", "requests/s", 1, 0);
	ser[0] = ipcl_study_series(chart, kname[0]);
	ser[1] = ipcl_study_series(chart, kname[1]);
	for (int i = 0; i < nc; i++)
		for (int k = 0; k < 2; k++) {
			struct point pt = {0};
			int rc;

			ipcl_study_progress(o, "eventloop: %s, %d clients", kname[k],
					    cs[i]);
			rc = ev_point(k, cs[i], window, &pt);
			if (rc) {
				ipcl_study_row(rows, "%s|%d|failed: %s|||||", kname[k],
					       cs[i], strerror(-rc));
				continue;
			}
			ipcl_study_row(rows, "%s|%d|%.0f|%.1f|%.1f|%.2f|%.2f|%.1f",
				       kname[k], cs[i], pt.rps, pt.p50, pt.p99, pt.vcs,
				       pt.ivcs, pt.cpu_us);
			ipcl_study_point(ser[k], cs[i], pt.rps);
			last[k] = pt;
		}
	ipcl_study_figure(sec, "loop_rps_max_clients", last[0].rps);
	ipcl_study_figure(sec, "threads_rps_max_clients", last[1].rps);
	ipcl_study_figure(sec, "loop_p99_us", last[0].p99);
	ipcl_study_figure(sec, "threads_p99_us", last[1].p99);
	ipcl_study_figure(sec, "loop_vcs_per_req", last[0].vcs);
	ipcl_study_figure(sec, "threads_vcs_per_req", last[1].vcs);
	ipcl_study_note(
	    sec, "/proc/PID/status alone counts the main thread only; a "
		 "thread-per-connection server's switches are in its other threads, so "
		 "every /proc/PID/task/TID/status is summed. The clients run on the same "
		 "two CPUs and compete with the server.");
	if (!(last[0].rps > 0) || !(last[1].rps > 0))
		ipcl_study_verdict(sec, "not measured", "a server run failed here.");
	else if (last[0].vcs < last[1].vcs && last[0].rps >= last[1].rps)
		ipcl_study_verdict(
		    sec, "holds",
		    "At %d clients the loop served %.0f requests/s against %.0f, "
		    "with %.2f voluntary context switches per request against %.2f "
		    "(p99 %.0f vs %.0f us).",
		    cs[nc - 1], last[0].rps, last[1].rps, last[0].vcs, last[1].vcs,
		    last[0].p99, last[1].p99);
	else
		ipcl_study_verdict(sec, "depends",
				   "On the CPUs it may use. At %d clients the loop "
				   "switched %.2f times per "
				   "request against %.2f, yet served %.0f requests/s "
				   "against %.0f for the "
				   "thread-per-connection server, which uses every CPU "
				   "(p99 %.0f vs %.0f us).",
				   cs[nc - 1], last[0].vcs, last[1].vcs, last[0].rps,
				   last[1].rps, last[0].p99, last[1].p99);
	return 0;
}

#else /* no libuv */

int ipcl_study_eventloop(const struct ipcl_study_opts *o, json_t *sec)
{
	(void)o;
	ipcl_study_experiment(sec,
			      "A libuv server against a thread-per-connection server.");
	ipcl_study_verdict(
	    sec, "not measured",
	    "libuv was not found at build time (apt-get install libuv1-dev).");
	return 0;
}

#endif
