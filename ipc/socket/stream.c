/*
 * stream.c - stream sockets: "unix" (AF_UNIX SOCK_STREAM, a socket file in a
 * private directory) and "tcp" (AF_INET on 127.0.0.1, a port the kernel picks).
 * One code path serves both; only the address differs.
 *
 * setup() binds and listens in the creating process and hands the listening
 * descriptor to the consumer by inheritance (its number is in the address,
 * with the channel's random token, ipclab/peer.h). The producer connect(2)s
 * and sends the token first; the consumer accept(2)s until a connection
 * presents it, refusing and counting any other (another local user can
 * connect to a loopback port), then closes the listener. Messages then
 * travel as [u32 length][bytes] with writev/read (see fdio.h), and back on
 * the same connection: reply() on the consumer, recv() on the producer, so
 * that a ping-pong uses one connection, as a request/response protocol does.
 * Uses socket, bind, listen, accept4, connect, poll, setsockopt/getsockopt.
 * Limits: none on the message (u32 length prefix); how much is in flight is
 * bounded by SO_SNDBUF/SO_RCVBUF (net.core.wmem_max/rmem_max, tcp_wmem/rmem),
 * which probe() reports. A unix socket path is at most 107 bytes.
 * Left out: several producers or consumers per channel, MSG_ZEROCOPY, and
 * MSG_NOSIGNAL (fdio writes with writev; the harness ignores SIGPIPE, so a
 * vanished peer shows up as -EPIPE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

#define STREAM_READ_BUF  (64 * 1024)
#define STREAM_SOCK_NAME "sock" /* the socket file inside the private directory */
#define STREAM_BACKLOG   8
#define STREAM_RETRY_NS  1000000 /* connect retries every 1 ms after ECONNREFUSED */

extern const struct ipcl_transport ipcl_transport_tcp;

struct stream_chan {
	int valid; /* lfd was made by setup() in this process */
	int lfd;   /* the listening socket; -1 once closed */
};

struct stream_ep {
	int fd;
	struct ipcl_framer rx;
};

/* What chan->addr says: "lfd=N tok=HEX path=/dir/sock" or "lfd=N tok=HEX port=P". */
struct stream_addr {
	int lfd;
	int port;
	struct ipcl_token tok;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* The socket options a run asked for; 0 buffer sizes keep the kernel's. */
struct stream_conf {
	long long nodelay, sndbuf, rcvbuf;
};

static const struct ipcl_option unix_options[] = {
    {"sndbuf", "0", "SO_SNDBUF in bytes on both ends (0: kernel default)"},
    {"rcvbuf", "0", "SO_RCVBUF in bytes on both ends (0: kernel default)"},
    {NULL, NULL, NULL},
};

static const struct ipcl_option tcp_options[] = {
    {"nodelay", "1", "TCP_NODELAY on both ends: 1 sends at once, 0 lets Nagle batch"},
    {"sndbuf", "0", "SO_SNDBUF in bytes on both ends (0: kernel default, autotuned)"},
    {"rcvbuf", "0", "SO_RCVBUF in bytes on both ends (0: kernel default, autotuned)"},
    {NULL, NULL, NULL},
};

static int stream_is_tcp(const struct ipcl_chan *c)
{
	return c->t == &ipcl_transport_tcp;
}

static int stream_conf_read(const struct ipcl_opts *o, int tcp, struct stream_conf *cf,
			    char *err)
{
	const struct ipcl_option *table = tcp ? tcp_options : unix_options;
	int rc;

	cf->nodelay = 0;
	if (tcp) {
		rc = ipcl_opt_int(o, table, "nodelay", 0, 1, &cf->nodelay, err);
		if (rc)
			return rc;
	}
	rc = ipcl_opt_int(o, table, "sndbuf", 0, 1 << 30, &cf->sndbuf, err);
	if (rc)
		return rc;
	return ipcl_opt_int(o, table, "rcvbuf", 0, 1 << 30, &cf->rcvbuf, err);
}

static int stream_setopt(int fd, int level, int name, const char *what, int val,
			 char *err)
{
	if (setsockopt(fd, level, name, &val, sizeof val) < 0)
		return ipcl_seterr(err, -errno, "setsockopt %s=%d: %s", what, val,
				   strerror(errno));
	return 0;
}

/* Apply the run's buffer sizes and, on TCP, TCP_NODELAY to one socket. */
static int stream_tune(int fd, int tcp, const struct stream_conf *cf, char *err)
{
	int rc = 0;

	if (cf->sndbuf > 0)
		rc = stream_setopt(fd, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF",
				   (int)cf->sndbuf, err);
	if (!rc && cf->rcvbuf > 0)
		rc = stream_setopt(fd, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF",
				   (int)cf->rcvbuf, err);
	if (!rc && tcp)
		rc = stream_setopt(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY",
				   (int)cf->nodelay, err);
	return rc;
}

static int stream_getopt(int fd, int level, int name)
{
	int val = -1;
	socklen_t len = sizeof val;

	if (getsockopt(fd, level, name, &val, &len) < 0)
		return -1;
	return val;
}

/* A /proc/sys file's first line, newline dropped (tabs become spaces), or "?". */
static void stream_sysctl(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");

	snprintf(out, cap, "?");
	if (!f)
		return;
	if (fgets(out, (int)cap, f)) {
		out[strcspn(out, "\n")] = '\0';
		for (char *s = out; *s; s++)
			if (*s == '\t')
				*s = ' ';
	} else {
		snprintf(out, cap, "?");
	}
	fclose(f);
}

static int stream_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err,
			int tcp)
{
	struct stream_conf cf;
	char v[120];
	int fd, rc;

	rc = stream_conf_read(o, tcp, &cf, err);
	if (rc)
		return rc;
	fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ipcl_seterr(err, -errno, "socket: %s", strerror(errno));
	p->max_msg = 0; /* framed: any size up to 4 GiB */
	ipcl_fact(p, "sndbuf_default", "%d", stream_getopt(fd, SOL_SOCKET, SO_SNDBUF));
	ipcl_fact(p, "rcvbuf_default", "%d", stream_getopt(fd, SOL_SOCKET, SO_RCVBUF));
	/* What the kernel makes of the requested sizes: doubled, capped at *mem_max. */
	rc = stream_tune(fd, tcp, &cf, err);
	if (rc)
		goto out;
	ipcl_fact(p, "sndbuf", "%d", stream_getopt(fd, SOL_SOCKET, SO_SNDBUF));
	ipcl_fact(p, "rcvbuf", "%d", stream_getopt(fd, SOL_SOCKET, SO_RCVBUF));
	stream_sysctl("/proc/sys/net/core/wmem_max", v, sizeof v);
	ipcl_fact(p, "wmem_max", "%s", v);
	stream_sysctl("/proc/sys/net/core/rmem_max", v, sizeof v);
	ipcl_fact(p, "rmem_max", "%s", v);
	if (tcp) {
		stream_sysctl("/proc/sys/net/ipv4/tcp_wmem", v, sizeof v);
		ipcl_fact(p, "tcp_wmem", "%s", v);
		stream_sysctl("/proc/sys/net/ipv4/tcp_rmem", v, sizeof v);
		ipcl_fact(p, "tcp_rmem", "%s", v);
		ipcl_fact(p, "nodelay", "%d",
			  stream_getopt(fd, IPPROTO_TCP, TCP_NODELAY));
	}
out:
	close(fd);
	return rc;
}

static int unix_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return stream_probe(o, p, err, 0);
}

static int tcp_probe(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return stream_probe(o, p, err, 1);
}

/*
 * Parse chan->addr. The path comes last and runs to the end, so a $TMPDIR with
 * spaces survives. Returns 0 or -EINVAL on anything else.
 */
static int stream_parse(const char *addr, int tcp, struct stream_addr *a)
{
	const char *rest;
	int n = 0, m = 0;

	memset(a, 0, sizeof *a);
	if (sscanf(addr, "lfd=%d tok=%n", &a->lfd, &n) != 1 || n == 0 || a->lfd < 0 ||
	    strlen(addr + n) < IPCL_TOKEN_HEX + 1 || addr[n + IPCL_TOKEN_HEX] != ' ' ||
	    ipcl_token_parse(addr + n, &a->tok) != 0)
		return -EINVAL;
	rest = addr + n + IPCL_TOKEN_HEX + 1;
	if (tcp) {
		if (sscanf(rest, "port=%d%n", &a->port, &m) != 1 || rest[m] != '\0' ||
		    a->port < 1 || a->port > 65535)
			return -EINVAL;
		return 0;
	}
	if (strncmp(rest, "path=/", 6) != 0 || strlen(rest + 5) >= sizeof a->path)
		return -EINVAL;
	strcpy(a->path, rest + 5);
	return 0;
}

/* The socket address addr names: 127.0.0.1:port or the socket file. */
static socklen_t stream_sockaddr(const struct stream_addr *a, int tcp,
				 struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_un *un = (struct sockaddr_un *)ss;

	memset(ss, 0, sizeof *ss);
	if (tcp) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)a->port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *in;
	}
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, a->path, strlen(a->path) + 1);
	return sizeof *un;
}

/* The directory of a socket file made by setup(): <dir>/ipcl-<tag>-XXXXXX/sock. */
static int stream_dir(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	const char *base;
	size_t n;

	if (path[0] != '/' || !slash || strcmp(slash + 1, STREAM_SOCK_NAME) != 0)
		return -EINVAL;
	n = (size_t)(slash - path);
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(dir, path, n);
	dir[n] = '\0';
	base = strrchr(dir, '/');
	if (!base || strncmp(base + 1, "ipcl-", 5) != 0)
		return -EINVAL;
	return 0;
}

static int stream_setup(struct ipcl_chan *c)
{
	struct stream_chan *sc = c->state;
	const struct ipcl_opts *o = c->opts;
	int tcp = stream_is_tcp(c);
	struct sockaddr_storage ss;
	struct stream_conf cf;
	struct stream_addr a;
	char dir[108] = "", hex[IPCL_TOKEN_HEX + 1];
	socklen_t len;
	int fd = -1, rc;

	sc->lfd = -1;
	rc = stream_conf_read(o, tcp, &cf, c->err);
	if (rc)
		return rc;
	if (o->msg_size > UINT32_MAX)
		return ipcl_seterr(c->err, IPCL_ETOOBIG,
				   "%s: messages are limited to 4 GiB", c->t->name);
	memset(&a, 0, sizeof a);
	rc = ipcl_token_new(&a.tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&a.tok, hex);
	if (!tcp) {
		rc = ipcl_private_dir(dir, sizeof dir, o->tag ? o->tag : "sock", c->err);
		if (rc)
			return rc;
		if (snprintf(a.path, sizeof a.path, "%s/%s", dir, STREAM_SOCK_NAME) >=
		    (int)sizeof a.path) {
			rc = ipcl_seterr(c->err, -ENAMETOOLONG,
					 "socket path too long: %s/%s", dir,
					 STREAM_SOCK_NAME);
			goto fail;
		}
	}
	/* Created close-on-exec; only this one descriptor is then made inheritable. */
	fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = ipcl_seterr(c->err, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Buffer sizes set on the listener carry over to the accepted TCP socket
	 * and size the window it advertises from the first SYN-ACK. */
	rc = stream_tune(fd, tcp, &cf, c->err);
	if (rc)
		goto fail;
	len = stream_sockaddr(&a, tcp, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		rc = ipcl_seterr(c->err, -errno, "bind %s: %s",
				 tcp ? "127.0.0.1:0" : a.path, strerror(errno));
		goto fail;
	}
	if (listen(fd, STREAM_BACKLOG) < 0) {
		rc = ipcl_seterr(c->err, -errno, "listen: %s", strerror(errno));
		goto fail;
	}
	if (tcp) {
		struct sockaddr_in in;

		len = sizeof in;
		if (getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
			rc = ipcl_seterr(c->err, -errno, "getsockname: %s",
					 strerror(errno));
			goto fail;
		}
		a.port = ntohs(in.sin_port);
	}
	rc = ipcl_fd_inheritable(fd);
	if (rc) {
		ipcl_seterr(c->err, rc, "fcntl FD_CLOEXEC: %s", strerror(-rc));
		goto fail;
	}
	if (tcp)
		snprintf(c->addr, sizeof c->addr, "lfd=%d tok=%s port=%d", fd, hex,
			 a.port);
	else
		snprintf(c->addr, sizeof c->addr, "lfd=%d tok=%s path=%s", fd, hex,
			 a.path);
	sc->valid = 1;
	sc->lfd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (dir[0])
		ipcl_remove_dir(dir);
	return rc;
}

static void stream_close_listener(struct stream_chan *sc)
{
	if (sc && sc->valid && sc->lfd >= 0)
		close(sc->lfd);
	if (sc)
		sc->lfd = -1;
}

/* The roles hold what they need; the creating process keeps no listener. */
static void stream_detach(struct ipcl_chan *c)
{
	stream_close_listener(c->state);
}

/*
 * Check that the inherited descriptor a->lfd is the listener addr describes,
 * not some other descriptor that happens to have that number here.
 */
static int stream_check_listener(const struct stream_addr *a, int tcp, char *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int ok;

	if (stream_getopt(a->lfd, SOL_SOCKET, SO_ACCEPTCONN) != 1 ||
	    getsockname(a->lfd, (struct sockaddr *)&ss, &len) < 0)
		return ipcl_seterr(err, -EBADF,
				   "lfd=%d is not an inherited listening socket", a->lfd);
	if (tcp)
		ok = ss.ss_family == AF_INET &&
		     ntohs(((struct sockaddr_in *)&ss)->sin_port) == a->port;
	else
		ok = ss.ss_family == AF_UNIX &&
		     strcmp(((struct sockaddr_un *)&ss)->sun_path, a->path) == 0;
	if (!ok)
		return ipcl_seterr(err, -EBADF, "lfd=%d listens on another address",
				   a->lfd);
	return 0;
}

/*
 * The consumer: wait until the deadline for the producer's connection, the
 * one that presents the channel's token; refuse and count the others. Then
 * close the listener if it was inherited (a role process): with the
 * producer's copy closed too, later connections are refused by the kernel.
 */
static int stream_accept(struct ipcl_ep *ep, const struct stream_addr *a, int tcp,
			 int64_t deadline_ns)
{
	const struct stream_chan *sc = ep->chan->state;
	int rc = stream_check_listener(a, tcp, ep->err);

	if (rc)
		return rc;
	rc = ipcl_peer_accept(a->lfd, &a->tok, deadline_ns, &ep->refused, ep->err);
	if (rc >= 0 && !(sc && sc->valid && sc->lfd == a->lfd))
		close(a->lfd);
	return rc;
}

static void stream_sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * One connection attempt from a fresh non-blocking socket, waiting for a TCP
 * handshake until the deadline. Returns the connected descriptor (still
 * non-blocking), -ECONNREFUSED / -EAGAIN when it is worth retrying, or another
 * negative error.
 */
static int stream_connect_once(const struct stream_addr *a, int tcp,
			       const struct stream_conf *cf, int64_t deadline_ns,
			       char *err)
{
	struct sockaddr_storage ss;
	socklen_t len = stream_sockaddr(a, tcp, &ss);
	int fd, rc;

	fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0)
		return ipcl_seterr(err, -errno, "socket: %s", strerror(errno));
	rc = stream_tune(fd, tcp, cf, err);
	if (rc)
		goto fail;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		rc = -errno;
		goto fail;
	}
	rc = ipcl_fd_wait(fd, POLLOUT, deadline_ns);
	if (rc)
		goto fail;
	rc = -stream_getopt(fd, SOL_SOCKET, SO_ERROR);
	if (rc == 0)
		return fd;
	if (rc > 0) /* getsockopt itself failed */
		rc = -EIO;
fail:
	close(fd);
	return rc;
}

/* The producer: connect, retrying while nobody listens yet, until the deadline. */
static int stream_connect(const struct stream_addr *a, int tcp,
			  const struct stream_conf *cf, int64_t deadline_ns, char *err)
{
	for (;;) {
		int64_t left;
		int fd = stream_connect_once(a, tcp, cf, deadline_ns, err);

		if (fd >= 0)
			return fd;
		if (fd == -ETIMEDOUT)
			return ipcl_seterr(err, fd,
					   "connect: no answer before the deadline");
		/* ECONNREFUSED: no listener (yet); EAGAIN: a unix backlog is full. */
		if (fd != -ECONNREFUSED && fd != -EAGAIN) {
			if (!err[0])
				ipcl_seterr(err, fd, "connect: %s", strerror(-fd));
			return fd;
		}
		left = deadline_ns - ipcl_now_ns();
		if (left <= 0)
			return ipcl_seterr(err, -ETIMEDOUT,
					   "connect: %s until the deadline",
					   strerror(-fd));
		stream_sleep_ns(left < STREAM_RETRY_NS ? left : STREAM_RETRY_NS);
	}
}

static int stream_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	const struct stream_chan *sc = ep->chan->state;
	struct stream_ep *se = ep->state;
	int tcp = stream_is_tcp(ep->chan);
	struct stream_conf cf;
	struct stream_addr a;
	int fl, rc;

	se->fd = -1;
	if (stream_parse(ep->chan->addr, tcp, &a) != 0)
		return ipcl_seterr(ep->err, -EINVAL, "%s: bad address '%s'",
				   ep->chan->t->name, ep->chan->addr);
	rc = stream_conf_read(ep->chan->opts, tcp, &cf, ep->err);
	if (rc)
		return rc;
	/* Both ends read: the consumer requests, the producer replies. */
	rc = ipcl_framer_init(&se->rx, STREAM_READ_BUF);
	if (rc)
		return ipcl_seterr(ep->err, rc, "%s: out of memory", ep->chan->t->name);
	if (ep->role == IPCL_CONSUMER) {
		rc = stream_accept(ep, &a, tcp, deadline_ns);
		if (rc < 0)
			return rc;
		se->fd = rc;
		return stream_tune(se->fd, tcp, &cf, ep->err);
	}
	/* A role process drops its inherited copy of the listener, so that once
	 * the consumer has closed its own, nobody else can connect. */
	if (!(sc && sc->valid && sc->lfd == a.lfd) &&
	    stream_check_listener(&a, tcp, ep->err) == 0)
		close(a.lfd);
	ep->err[0] = '\0';
	rc = stream_connect(&a, tcp, &cf, deadline_ns, ep->err);
	if (rc < 0)
		return rc;
	se->fd = rc;
	rc = ipcl_token_send(se->fd, &a.tok, deadline_ns);
	if (rc)
		return ipcl_seterr(ep->err, rc, "%s: sending the channel token: %s",
				   ep->chan->t->name, strerror(-rc));
	/* Back to blocking I/O: the hot path is one writev() with no poll(). */
	fl = fcntl(se->fd, F_GETFL);
	if (fl < 0 || fcntl(se->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return ipcl_seterr(ep->err, -errno, "fcntl: %s", strerror(errno));
	return 0;
}

/*
 * One writev(2) of [u32 length][bytes] (ipcl_stream_send, fdio.h); a finite
 * deadline poll(2)s for POLLOUT first, IPCL_FOREVER goes straight to writev.
 */
static int stream_send(struct ipcl_ep *ep, const void *msg, size_t len,
		       int64_t deadline_ns)
{
	struct stream_ep *se = ep->state;
	int rc = ipcl_stream_send(se->fd, msg, len, deadline_ns);

	if (rc && rc != -ETIMEDOUT)
		ipcl_seterr(ep->err, rc, "%s send: %s", ep->chan->t->name,
			    ipcl_strerror(rc));
	return rc;
}

/*
 * read(2) into the framer's buffer, one call for many small messages
 * (ipcl_stream_recv, fdio.h); a finite deadline poll(2)s for POLLIN first.
 */
static int stream_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		       int64_t deadline_ns)
{
	struct stream_ep *se = ep->state;
	int rc = ipcl_stream_recv(se->fd, &se->rx, buf, cap, len, deadline_ns);

	if (rc && rc != -ETIMEDOUT && rc != IPCL_EOF)
		ipcl_seterr(ep->err, rc, "%s recv: %s", ep->chan->t->name,
			    ipcl_strerror(rc));
	return rc;
}

/*
 * The consumer's answer on the same connection (the ping-pong's echo): one
 * writev(2), as send(). The producer reads it with recv().
 */
static int stream_reply(struct ipcl_ep *ep, const void *msg, size_t len,
			int64_t deadline_ns)
{
	return stream_send(ep, msg, len, deadline_ns);
}

static void stream_close(struct ipcl_ep *ep)
{
	struct stream_ep *se = ep->state;

	if (se->fd >= 0)
		close(se->fd);
	se->fd = -1;
	ipcl_framer_free(&se->rx);
}

/*
 * Close the listener if this process made it (never a descriptor named only by
 * number in addr), then remove the socket file and its directory by path.
 */
static void stream_teardown(struct ipcl_chan *c)
{
	struct stream_addr a;
	char dir[108];

	stream_close_listener(c->state);
	if (stream_is_tcp(c) || stream_parse(c->addr, 0, &a) != 0 ||
	    stream_dir(a.path, dir, sizeof dir) != 0)
		return;
	unlink(a.path);
	rmdir(dir);
}

const struct ipcl_transport ipcl_transport_unix = {
    .name = "unix",
    .summary = "Unix-domain stream socket (socket file, accept/connect, read/writev)",
    .caps = IPCL_CAP_HAS_EOF,
    .chan_state_size = sizeof(struct stream_chan),
    .ep_state_size = sizeof(struct stream_ep),
    .options = unix_options,
    .probe = unix_probe,
    .setup = stream_setup,
    .detach = stream_detach,
    .teardown = stream_teardown,
    .open = stream_open,
    .send = stream_send,
    .recv = stream_recv,
    .reply = stream_reply,
    .close = stream_close,
};

const struct ipcl_transport ipcl_transport_tcp = {
    .name = "tcp",
    .summary = "TCP over loopback 127.0.0.1 (TCP_NODELAY, accept/connect, read/writev)",
    .caps = IPCL_CAP_HAS_EOF | IPCL_CAP_CROSS_HOST,
    .chan_state_size = sizeof(struct stream_chan),
    .ep_state_size = sizeof(struct stream_ep),
    .options = tcp_options,
    .probe = tcp_probe,
    .setup = stream_setup,
    .detach = stream_detach,
    .teardown = stream_teardown,
    .open = stream_open,
    .send = stream_send,
    .recv = stream_recv,
    .reply = stream_reply,
    .close = stream_close,
};
