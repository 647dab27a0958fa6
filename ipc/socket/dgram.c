/*
 * dgram.c - message sockets: AF_UNIX SOCK_DGRAM ("unix-dgram"), AF_UNIX
 * SOCK_SEQPACKET ("unix-seqpacket") and UDP on 127.0.0.1 ("udp"). One send(2)
 * is one message and one recvmsg(2) returns it whole, so no framing is needed.
 *
 * setup() creates the consumer's socket in the creating process and hands it to
 * the roles by descriptor number (inheritable across exec): for unix-dgram and
 * udp that is the bound receiving socket itself, for unix-seqpacket it is the
 * listening socket, on which the consumer accept(2)s the producer's connect(2).
 *
 * Only the run's own peer is heard. unix-seqpacket producers make their own
 * socket, connect(2) it and send the channel's random token as the first
 * record (ipclab/peer.h); the consumer refuses and counts connections without
 * it. For unix-dgram and udp setup() also makes the producers' socket, bound
 * (udp: 127.0.0.1, a port the kernel picks; unix: "prod" beside "sock") and
 * connected to the consumer's, and hands it down the same way; the consumer
 * reads each datagram's sender address (recvmsg msg_name) and refuses and
 * counts any datagram not from that address. Nobody else can send from it:
 * the port or file is bound, and forging a source address takes CAP_NET_RAW.
 * The cost is the kernel's copy of the sender's address (16 or ~110 bytes)
 * and one comparison per datagram.
 *
 * A receive with a deadline blocks in recvmsg(2) with SO_RCVTIMEO (set only
 * when the timeout changes, in whole ms), not poll(2) and then recvmsg: one
 * system call per message in the lossy ping-pong's wait for the echo too.
 *
 * What differs: a unix datagram sender blocks when the receiver's queue is full
 * (max_dgram_qlen); UDP drops instead (IPCL_CAP_LOSSY); SOCK_SEQPACKET is
 * connected, so the consumer sees end-of-stream. Left out: SCM_RIGHTS, abstract
 * socket names, recvmmsg/sendmmsg batching, IPv6.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

#define DGRAM_NS 1000000000LL
#define DGRAM_MS 1000000LL

/* What sets the three transports apart; everything else is shared. */
struct dgram_kind {
	const char *name;
	int domain; /* AF_UNIX or AF_INET */
	int type;   /* SOCK_DGRAM or SOCK_SEQPACKET */
};

static const struct dgram_kind dgram_unix = {"unix-dgram", AF_UNIX, SOCK_DGRAM};
static const struct dgram_kind dgram_seqpacket = {"unix-seqpacket", AF_UNIX,
						  SOCK_SEQPACKET};
static const struct dgram_kind dgram_udp = {"udp", AF_INET, SOCK_DGRAM};

/* Everything open() and teardown() need, as written into chan->addr. */
struct dgram_addr {
	int fd;    /* the consumer's socket (bound, or listening) in the creator */
	int pfd;   /* datagrams: the producers' socket in the creator; else -1 */
	int pport; /* udp: the producers' port on 127.0.0.1 */
	struct ipcl_token tok; /* unix-seqpacket: the first record of the producer */
	int port;              /* udp: the consumer's port on 127.0.0.1 */
	long long sndbuf;      /* SO_SNDBUF for producers (0: kernel default) */
	char path[108];        /* unix: the socket file, inside a private directory */
};

/* The producers' socket file of unix-dgram: beside the consumer's "sock". */
#define DGRAM_PROD_NAME "prod"

struct dgram_chan {
	int valid; /* fd (and pfd) were made by setup() in this process, still open */
	int fd, pfd;
};

struct dgram_ep {
	int fd;
	int64_t timeo_ns;             /* the SO_RCVTIMEO now set on fd; 0: none */
	int check;                    /* consumer of unix-dgram/udp: check each sender */
	struct sockaddr_storage peer; /* the only sender heard: the producers' socket */
};

static const struct ipcl_option dgram_unix_options[] = {
    {"sndbuf", "0",
     "producer SO_SNDBUF in bytes (0: kernel default); bounds the largest datagram"},
    {NULL, NULL, NULL},
};

static const struct ipcl_option dgram_udp_options[] = {
    {"sndbuf", "0", "producer SO_SNDBUF in bytes (0: kernel default)"},
    {"rcvbuf", "0",
     "consumer SO_RCVBUF in bytes (0: kernel default); datagrams beyond it are dropped"},
    {NULL, NULL, NULL},
};

static const struct ipcl_option *dgram_options_of(const struct dgram_kind *k)
{
	return k == &dgram_udp ? dgram_udp_options : dgram_unix_options;
}

static const struct dgram_kind *dgram_kind_of(const struct ipcl_transport *t);

/* A number from /proc/sys, or -1 when it cannot be read. */
static long dgram_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int dgram_sockopt_get(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0)
		return -1;
	return v;
}

/* Set SO_SNDBUF or SO_RCVBUF when bytes > 0 (the kernel doubles it, capped by
 * wmem_max/rmem_max). */
static int dgram_sockopt_set(int fd, int opt, long long bytes, char *err)
{
	int v = (int)bytes;

	if (bytes <= 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) < 0)
		return ipcl_seterr(err, -errno, "setsockopt %s=%lld: %s",
				   opt == SO_SNDBUF ? "SO_SNDBUF" : "SO_RCVBUF", bytes,
				   strerror(errno));
	return 0;
}

/* The options that apply: sndbuf for all, rcvbuf for udp. */
static int dgram_options(const struct dgram_kind *k, const struct ipcl_opts *o,
			 long long *sndbuf, long long *rcvbuf, char *err)
{
	const struct ipcl_option *tab = dgram_options_of(k);
	int rc;

	*rcvbuf = 0;
	rc = ipcl_opt_int(o, tab, "sndbuf", 0, 1 << 30, sndbuf, err);
	if (rc == 0 && k == &dgram_udp)
		rc = ipcl_opt_int(o, tab, "rcvbuf", 0, 1 << 30, rcvbuf, err);
	return rc;
}

static socklen_t dgram_sockaddr(const struct dgram_kind *k, const struct dgram_addr *a,
				struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (k->domain == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a->path, sizeof un->sun_path);
		return sizeof *un;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)a->port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof *in;
}

/*
 * The producers' socket address of unix-dgram and udp: 127.0.0.1:pport, or
 * the file "prod" in the directory of the consumer's. Its length, or 0 when
 * that path would be too long.
 */
static socklen_t dgram_prod_sockaddr(const struct dgram_kind *k,
				     const struct dgram_addr *a,
				     struct sockaddr_storage *ss)
{
	struct dgram_addr p = *a;
	char *slash;

	p.port = a->pport;
	if (k->domain == AF_UNIX) {
		slash = strrchr(p.path, '/');
		if (!slash ||
		    (size_t)(slash + 1 - p.path) + sizeof DGRAM_PROD_NAME > sizeof p.path)
			return 0;
		memcpy(slash + 1, DGRAM_PROD_NAME, sizeof DGRAM_PROD_NAME);
	}
	return dgram_sockaddr(k, &p, ss);
}

/* Is x the same socket address as y (family, and port and host, or path)? */
static int dgram_same_addr(const struct sockaddr_storage *x, socklen_t xlen,
			   const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return 0;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)x, *b = (const void *)y;

		return xlen >= sizeof *a && a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (x->ss_family == AF_UNIX) {
		const struct sockaddr_un *a = (const void *)x, *b = (const void *)y;
		size_t n = xlen > offsetof(struct sockaddr_un, sun_path)
			       ? xlen - offsetof(struct sockaddr_un, sun_path)
			       : 0;

		/* The kernel's length covers the path and, usually, its NUL. */
		return n > 0 && n <= sizeof a->sun_path &&
		       strnlen(a->sun_path, n) == strlen(b->sun_path) &&
		       memcmp(a->sun_path, b->sun_path, strlen(b->sun_path)) == 0;
	}
	return 0;
}

/*
 * Parse "fd=N pfd=N pport=N tok=HEX port=N sndbuf=N path=P" (P runs to the
 * end of the string); 0, or -EINVAL unless it names a socket of kind k (a
 * port for udp, a path for unix, a producers' socket for datagrams).
 */
static int dgram_addr_parse(const struct dgram_kind *k, const char *s,
			    struct dgram_addr *a)
{
	const char *p = strstr(s, " path=");
	int t = -1, n = -1;

	memset(a, 0, sizeof *a);
	if (!p ||
	    sscanf(s, "fd=%d pfd=%d pport=%d tok=%n", &a->fd, &a->pfd, &a->pport, &t) !=
		3 ||
	    t < 0 || ipcl_token_parse(s + t, &a->tok) != 0 ||
	    sscanf(s + t + IPCL_TOKEN_HEX, " port=%d sndbuf=%lld%n", &a->port, &a->sndbuf,
		   &n) != 2 ||
	    s + t + IPCL_TOKEN_HEX + n != p || a->fd < 0 || a->port < 0 ||
	    a->port > 65535 || a->pport < 0 || a->pport > 65535 ||
	    strlen(p + 6) >= sizeof a->path)
		return -EINVAL;
	strcpy(a->path, p + 6);
	if (k->domain == AF_UNIX ? a->path[0] != '/' : a->port == 0 || a->pport == 0)
		return -EINVAL;
	if ((k->type == SOCK_DGRAM) != (a->pfd >= 0))
		return -EINVAL;
	return 0;
}

/*
 * Is fd the channel's consumer socket (same type, same name)? A role process
 * checks before it adopts or closes a descriptor it knows only by number.
 */
static int dgram_fd_is(const struct dgram_kind *k, int fd, const struct dgram_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	if (dgram_sockopt_get(fd, SO_TYPE) != k->type ||
	    getsockname(fd, (struct sockaddr *)&ss, &l) < 0 || ss.ss_family != k->domain)
		return 0;
	if (k->domain == AF_UNIX)
		return strcmp(((struct sockaddr_un *)&ss)->sun_path, a->path) == 0;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port) == a->port;
}

/* Is fd the channel's producers' socket (a datagram socket bound to its name)? */
static int dgram_pfd_is(const struct dgram_kind *k, int fd, const struct dgram_addr *a)
{
	struct sockaddr_storage ss, want;
	socklen_t l = sizeof ss;

	if (fd < 0 || dgram_sockopt_get(fd, SO_TYPE) != SOCK_DGRAM ||
	    !dgram_prod_sockaddr(k, a, &want) ||
	    getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return 0;
	return dgram_same_addr(&ss, l, &want);
}

/*
 * Measure the largest message that send() accepts on this kind of socket with
 * SO_SNDBUF sndbuf (0: default), by bisection on a connected pair, draining the
 * receiver after each success. *sndbuf_out gets the effective SO_SNDBUF.
 */
static int dgram_max_msg(const struct dgram_kind *k, long long sndbuf, size_t *max,
			 int *sndbuf_out, char *err)
{
	int fd[2] = {-1, -1}, rc;
	size_t lo = 0, hi;
	char *buf = NULL;

	if (k->domain == AF_UNIX) {
		if (socketpair(AF_UNIX, k->type | SOCK_CLOEXEC, 0, fd) < 0)
			return ipcl_seterr(err, -errno, "socketpair: %s",
					   strerror(errno));
	} else {
		struct dgram_addr a = {0};
		struct sockaddr_storage ss;
		socklen_t l = dgram_sockaddr(k, &a, &ss);

		fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		fd[1] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd[0] < 0 || fd[1] < 0 ||
		    bind(fd[1], (struct sockaddr *)&ss, l) < 0 ||
		    getsockname(fd[1], (struct sockaddr *)&ss, &l) < 0 ||
		    connect(fd[0], (struct sockaddr *)&ss, l) < 0) {
			rc = ipcl_seterr(err, -errno, "udp loopback pair: %s",
					 strerror(errno));
			goto out;
		}
	}
	rc = dgram_sockopt_set(fd[0], SO_SNDBUF, sndbuf, err);
	if (rc)
		goto out;
	*sndbuf_out = dgram_sockopt_get(fd[0], SO_SNDBUF);
	hi = (size_t)(*sndbuf_out > 0 ? *sndbuf_out : 0) + 65536;
	buf = calloc(1, hi);
	if (!buf) {
		rc = ipcl_seterr(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (send(fd[0], buf, mid, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			lo = mid;
			while (recv(fd[1], buf, hi, MSG_DONTWAIT) < 0 && errno == EINTR)
				;
		} else {
			hi = mid - 1;
		}
	}
	*max = lo;
	rc = 0;
out:
	free(buf);
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return rc;
}

static int dgram_probe(const struct dgram_kind *k, const struct ipcl_opts *o,
		       struct ipcl_probe *p, char *err)
{
	long long sndbuf, rcvbuf;
	int eff_sndbuf = -1, rc;
	size_t max;

	rc = dgram_options(k, o, &sndbuf, &rcvbuf, err);
	if (rc)
		return rc;
	rc = dgram_max_msg(k, sndbuf, &max, &eff_sndbuf, err);
	if (rc)
		return rc;
	p->max_msg = max;
	ipcl_fact(p, "max_msg_measured", "%zu", max);
	ipcl_fact(p, "so_sndbuf", "%d", eff_sndbuf);
	ipcl_fact(p, "wmem_default", "%ld",
		  dgram_sysctl("/proc/sys/net/core/wmem_default"));
	ipcl_fact(p, "wmem_max", "%ld", dgram_sysctl("/proc/sys/net/core/wmem_max"));
	if (k == &dgram_unix)
		ipcl_fact(p, "unix_max_dgram_qlen", "%ld",
			  dgram_sysctl("/proc/sys/net/unix/max_dgram_qlen"));
	if (k == &dgram_udp) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return ipcl_seterr(err, -errno, "socket: %s", strerror(errno));
		rc = dgram_sockopt_set(fd, SO_RCVBUF, rcvbuf, err);
		ipcl_fact(p, "so_rcvbuf", "%d", dgram_sockopt_get(fd, SO_RCVBUF));
		close(fd);
		if (rc)
			return rc;
		ipcl_fact(p, "rmem_default", "%ld",
			  dgram_sysctl("/proc/sys/net/core/rmem_default"));
		ipcl_fact(p, "rmem_max", "%ld",
			  dgram_sysctl("/proc/sys/net/core/rmem_max"));
	}
	return 0;
}

static int dgram_probe_unix(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return dgram_probe(&dgram_unix, o, p, err);
}

static int dgram_probe_seqpacket(const struct ipcl_opts *o, struct ipcl_probe *p,
				 char *err)
{
	return dgram_probe(&dgram_seqpacket, o, p, err);
}

static int dgram_probe_udp(const struct ipcl_opts *o, struct ipcl_probe *p, char *err)
{
	return dgram_probe(&dgram_udp, o, p, err);
}

/*
 * unix-dgram, udp: the producers' socket, bound to its own name (udp: a port
 * the kernel picks, written to a->pport) and connected to the consumer's,
 * with the run's SO_SNDBUF, inheritable. The descriptor, or -errno with err set.
 */
static int dgram_setup_producers(const struct dgram_kind *k, struct dgram_addr *a,
				 char *err)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int fd, rc;

	fd = socket(k->domain, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ipcl_seterr(err, -errno, "socket: %s", strerror(errno));
	rc = dgram_sockopt_set(fd, SO_SNDBUF, a->sndbuf, err);
	if (rc)
		goto fail;
	a->pport = 0;
	l = dgram_prod_sockaddr(k, a, &ss);
	if (!l) {
		rc = ipcl_seterr(err, -ENAMETOOLONG, "producer socket path too long");
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, l) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &l) < 0) {
		rc = ipcl_seterr(err, -errno, "bind (producers): %s", strerror(errno));
		goto fail;
	}
	if (k->domain == AF_INET)
		a->pport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	l = dgram_sockaddr(k, a, &ss);
	if (connect(fd, (struct sockaddr *)&ss, l) < 0) {
		rc = ipcl_seterr(err, -errno, "connect (producers): %s", strerror(errno));
		goto fail;
	}
	rc = ipcl_fd_inheritable(fd);
	if (rc) {
		ipcl_seterr(err, rc, "fcntl FD_CLOEXEC: %s", strerror(-rc));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

/* Remove the socket files of addr a and their directory (only paths we make). */
static void dgram_unlink(struct dgram_addr *a)
{
	char *slash = strrchr(a->path, '/');

	if (!slash || strcmp(slash + 1, "sock") != 0)
		return;
	unlink(a->path);
	memcpy(slash + 1, DGRAM_PROD_NAME, sizeof DGRAM_PROD_NAME);
	unlink(a->path);
	*slash = '\0';
	slash = strrchr(a->path, '/');
	if (slash && strncmp(slash + 1, "ipcl-", 5) == 0) /* only a dir we made */
		rmdir(a->path);
}

/*
 * Create the consumer's socket: bound (unix-dgram, udp) or listening
 * (unix-seqpacket), inheritable, and, for unix-dgram and udp, the producers'
 * socket; name them in addr with the channel's token. Refuses a msg_size
 * larger than the largest message the producer's socket will accept.
 */
static int dgram_setup(struct ipcl_chan *c)
{
	const struct dgram_kind *k = dgram_kind_of(c->t);
	struct dgram_chan *dc = c->state;
	struct dgram_addr a = {0};
	struct sockaddr_storage ss;
	char hex[IPCL_TOKEN_HEX + 1];
	long long rcvbuf;
	int eff_sndbuf, rc;
	size_t max;
	socklen_t l;

	dc->fd = -1;
	dc->pfd = -1;
	a.pfd = -1;
	rc = dgram_options(k, c->opts, &a.sndbuf, &rcvbuf, c->err);
	if (rc)
		return rc;
	rc = ipcl_token_new(&a.tok, c->err);
	if (rc)
		return rc;
	ipcl_token_hex(&a.tok, hex);
	rc = dgram_max_msg(k, a.sndbuf, &max, &eff_sndbuf, c->err);
	if (rc)
		return rc;
	if (c->opts->msg_size > max)
		return ipcl_seterr(
		    c->err, IPCL_ETOOBIG,
		    "%s: %zu-byte messages exceed the largest datagram (%zu bytes "
		    "with SO_SNDBUF %d)%s",
		    k->name, c->opts->msg_size, max, eff_sndbuf,
		    k == &dgram_udp ? "" : "; raise -O sndbuf=");
	if (k->domain == AF_UNIX) {
		char dir[108];

		rc = ipcl_private_dir(dir, sizeof dir, c->opts->tag, c->err);
		if (rc)
			return rc;
		snprintf(a.path, sizeof a.path, "%.100s/sock", dir); /* dir: <= 80 */
	}
	dc->fd = socket(k->domain, k->type | SOCK_CLOEXEC, 0);
	if (dc->fd < 0) {
		rc = ipcl_seterr(c->err, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	dc->valid = 1;
	rc = dgram_sockopt_set(dc->fd, SO_RCVBUF, rcvbuf, c->err);
	if (rc)
		goto fail;
	l = dgram_sockaddr(k, &a, &ss);
	if (bind(dc->fd, (struct sockaddr *)&ss, l) < 0 ||
	    getsockname(dc->fd, (struct sockaddr *)&ss, &l) < 0) {
		rc = ipcl_seterr(c->err, -errno, "bind: %s", strerror(errno));
		goto fail;
	}
	if (k->domain == AF_INET)
		a.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (k->type == SOCK_SEQPACKET && listen(dc->fd, c->opts->producers + 1) < 0) {
		rc = ipcl_seterr(c->err, -errno, "listen: %s", strerror(errno));
		goto fail;
	}
	rc = ipcl_fd_inheritable(dc->fd);
	if (rc) {
		ipcl_seterr(c->err, rc, "fcntl FD_CLOEXEC: %s", strerror(-rc));
		goto fail;
	}
	if (k->type == SOCK_DGRAM) {
		rc = dgram_setup_producers(k, &a, c->err);
		if (rc < 0)
			goto fail;
		dc->pfd = rc;
		rc = 0;
	}
	a.fd = dc->fd;
	a.pfd = dc->pfd;
	snprintf(c->addr, sizeof c->addr,
		 "fd=%d pfd=%d pport=%d tok=%s port=%d sndbuf=%lld path=%s", a.fd, a.pfd,
		 a.pport, hex, a.port, a.sndbuf, a.path);
	return 0;
fail:
	if (dc->valid)
		close(dc->fd);
	dc->valid = 0;
	dc->fd = -1;
	if (a.path[0])
		dgram_unlink(&a);
	return rc;
}

/* The creator keeps no copy: the consumer's close then makes producers fail. */
static void dgram_detach(struct ipcl_chan *c)
{
	struct dgram_chan *dc = c->state;

	if (dc->valid) {
		close(dc->fd);
		if (dc->pfd >= 0)
			close(dc->pfd);
	}
	dc->valid = 0;
	dc->fd = -1;
	dc->pfd = -1;
}

/*
 * Adopt descriptor fd that setup() made: a role process owns the inherited
 * one (made close-on-exec now); the creating process (thread mode) works on a
 * dup() so that teardown() still closes its own. The descriptor or -errno.
 */
static int dgram_adopt(int fd, int made_here)
{
	int rc;

	if (made_here) {
		rc = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		return rc < 0 ? -errno : rc;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * The consumer takes the socket setup() made (dgram_adopt). unix-seqpacket
 * then accepts the producer that presents the channel's token; unix-dgram and
 * udp note the producers' address, the only sender recv() will hear, and a
 * role process drops its inherited copy of the producers' socket. A producer
 * in a role process drops its inherited copy of the consumer's socket (so
 * that a dead consumer shows as ECONNREFUSED rather than a queue that never
 * drains); on unix-dgram and udp it then adopts the producers' socket, on
 * unix-seqpacket it connects its own and sends the token.
 */
static int dgram_open(struct ipcl_ep *ep, int64_t deadline_ns)
{
	const struct dgram_kind *k = dgram_kind_of(ep->chan->t);
	const struct dgram_chan *dc = ep->chan->state;
	struct dgram_ep *de = ep->state;
	struct sockaddr_storage ss;
	struct dgram_addr a;
	int made_here, fd, rc;
	socklen_t l;

	de->fd = -1;
	if (dgram_addr_parse(k, ep->chan->addr, &a))
		return ipcl_seterr(ep->err, -EINVAL, "malformed address");
	made_here = dc && dc->valid && dc->fd == a.fd;
	if (ep->role == IPCL_CONSUMER) {
		if (!dgram_fd_is(k, a.fd, &a))
			return ipcl_seterr(ep->err, -EBADF,
					   "descriptor %d is not the channel's socket",
					   a.fd);
		fd = dgram_adopt(a.fd, made_here);
		if (fd < 0)
			return ipcl_seterr(ep->err, fd, "dup: %s", strerror(-fd));
		if (k->type != SOCK_SEQPACKET) {
			de->fd = fd;
			de->check = 1;
			dgram_prod_sockaddr(k, &a, &de->peer);
			if (!made_here && dgram_pfd_is(k, a.pfd, &a))
				close(a.pfd);
			return 0;
		}
		rc = ipcl_peer_accept(fd, &a.tok, deadline_ns, &ep->refused, ep->err);
		close(fd); /* the listener (or its dup): one producer only */
		if (rc < 0)
			return rc;
		de->fd = rc;
		return 0;
	}
	if (!made_here && dgram_fd_is(k, a.fd, &a))
		close(a.fd);
	if (k->type == SOCK_DGRAM) {
		if (!dgram_pfd_is(k, a.pfd, &a))
			return ipcl_seterr(ep->err, -EBADF,
					   "descriptor %d is not the producers' socket",
					   a.pfd);
		de->fd = dgram_adopt(a.pfd, made_here);
		if (de->fd < 0)
			return ipcl_seterr(ep->err, de->fd, "dup: %s", strerror(-de->fd));
		return 0;
	}
	de->fd = socket(k->domain, k->type | SOCK_CLOEXEC, 0);
	if (de->fd < 0)
		return ipcl_seterr(ep->err, -errno, "socket: %s", strerror(errno));
	rc = dgram_sockopt_set(de->fd, SO_SNDBUF, a.sndbuf, ep->err);
	if (rc)
		return rc;
	l = dgram_sockaddr(k, &a, &ss);
	while (connect(de->fd, (struct sockaddr *)&ss, l) < 0)
		if (errno != EINTR)
			return ipcl_seterr(ep->err, -errno, "connect %s: %s", a.path,
					   strerror(errno));
	rc = ipcl_token_send(de->fd, &a.tok, deadline_ns);
	if (rc)
		return ipcl_seterr(ep->err, rc, "sending the channel token: %s",
				   strerror(-rc));
	return 0;
}

/*
 * One send(2). With IPCL_FOREVER it blocks in the kernel (a unix socket while
 * the receiver's queue is full; UDP never waits for the receiver); with a
 * deadline it tries MSG_DONTWAIT first and poll()s only when there is no room.
 */
static int dgram_send(struct ipcl_ep *ep, const void *msg, size_t len,
		      int64_t deadline_ns)
{
	const struct dgram_kind *k = dgram_kind_of(ep->chan->t);
	struct dgram_ep *de = ep->state;
	int flags = MSG_NOSIGNAL | (deadline_ns == IPCL_FOREVER ? 0 : MSG_DONTWAIT);
	int rc;

	if (len == 0 && k->type == SOCK_SEQPACKET)
		return ipcl_seterr(
		    ep->err, -EINVAL,
		    "a zero-length record reads as end-of-stream: refused");
	for (;;) {
		if (send(de->fd, msg, len, flags) >= 0)
			return 0; /* a datagram goes whole or not at all */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || !(flags & MSG_DONTWAIT))
			break;
		rc = ipcl_fd_wait(de->fd, POLLOUT, deadline_ns);
		if (rc)
			return rc;
	}
	rc = -errno;
	if (rc == -EMSGSIZE)
		return ipcl_seterr(ep->err, -EMSGSIZE, "%zu-byte message: %s", len,
				   strerror(EMSGSIZE)); /* the kernel's answer, as is */
	if (rc == -ECONNREFUSED || rc == -EPIPE || rc == -ECONNRESET)
		return ipcl_seterr(ep->err, rc, "consumer is gone: %s", strerror(-rc));
	return ipcl_seterr(ep->err, rc, "send: %s", strerror(-rc));
}

/*
 * Make SO_RCVTIMEO fit a receive that must end at deadline_ns (IPCL_FOREVER:
 * none). It is set only when it changes: the time left is rounded down to
 * whole ms (us below 2 ms), so the repeated waits of a loop with one
 * deadline a call ahead (the ping-pong's echo, a consumer's idle check) cost
 * no extra system call. Returns 0, 1 when the deadline has passed (receive
 * without waiting), or -errno. The kernel counts the timeout in jiffies,
 * rounded up, so a wait may end up to a tick (4 ms at HZ=250) past it.
 */
static int dgram_timeo(struct dgram_ep *de, int64_t deadline_ns)
{
	int64_t want = 0;
	struct timeval tv;

	if (deadline_ns != IPCL_FOREVER) {
		int64_t left = deadline_ns - ipcl_now_ns();

		if (left <= 0)
			return 1;
		if (left >= 2 * DGRAM_MS)
			want = left - left % DGRAM_MS;
		else
			want = left < 1000 ? 1000 : left - left % 1000;
	}
	if (want == de->timeo_ns)
		return 0;
	tv.tv_sec = (time_t)(want / DGRAM_NS);
	tv.tv_usec = (suseconds_t)(want % DGRAM_NS / 1000);
	if (setsockopt(de->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		return -errno;
	de->timeo_ns = want;
	return 0;
}

/*
 * One recvmsg(2), blocking (with SO_RCVTIMEO for a deadline, dgram_timeo). On
 * unix-dgram and udp a datagram from any address but the producers' socket is
 * dropped and counted in ep->refused, never returned. A datagram longer than
 * cap is cut by the kernel and reported as IPCL_ETRUNC (its rest is
 * discarded; the next message is unaffected).
 */
static int dgram_recv(struct ipcl_ep *ep, void *buf, size_t cap, size_t *len,
		      int64_t deadline_ns)
{
	const struct dgram_kind *k = dgram_kind_of(ep->chan->t);
	struct dgram_ep *de = ep->state;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct sockaddr_storage from;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;
	int rc;

	for (;;) {
		rc = dgram_timeo(de, deadline_ns);
		if (rc < 0)
			return ipcl_seterr(ep->err, rc, "setsockopt SO_RCVTIMEO: %s",
					   strerror(-rc));
		mh.msg_name = de->check ? &from : NULL;
		mh.msg_namelen = de->check ? sizeof from : 0;
		mh.msg_flags = 0;
		n = recvmsg(de->fd, &mh, rc ? MSG_DONTWAIT : 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return ipcl_seterr(ep->err, -errno, "recvmsg: %s",
						   strerror(errno));
			if (rc) /* the deadline had passed: nothing is waiting */
				return -ETIMEDOUT;
			continue; /* SO_RCVTIMEO ran out: the deadline decides */
		}
		if (de->check && !dgram_same_addr(&from, mh.msg_namelen, &de->peer)) {
			ep->refused++;
			continue;
		}
		break;
	}
	if (mh.msg_flags & MSG_TRUNC)
		return ipcl_seterr(
		    ep->err, IPCL_ETRUNC,
		    "message longer than the %zu-byte buffer; the rest was lost", cap);
	if (n == 0 && k->type == SOCK_SEQPACKET)
		return IPCL_EOF;
	*len = (size_t)n;
	return 0;
}

static void dgram_close(struct ipcl_ep *ep)
{
	struct dgram_ep *de = ep->state;

	if (de->fd >= 0)
		close(de->fd);
	de->fd = -1;
}

/* Close what setup() made here, then remove the socket file and its directory. */
static void dgram_teardown(struct ipcl_chan *c)
{
	struct dgram_addr a;

	dgram_detach(c);
	if (dgram_addr_parse(dgram_kind_of(c->t), c->addr, &a) || !a.path[0])
		return;
	dgram_unlink(&a);
}

#define DGRAM_HOOKS                                                             \
	.chan_state_size = sizeof(struct dgram_chan),                           \
	.ep_state_size = sizeof(struct dgram_ep), .setup = dgram_setup,         \
	.detach = dgram_detach, .teardown = dgram_teardown, .open = dgram_open, \
	.send = dgram_send, .recv = dgram_recv, .close = dgram_close

const struct ipcl_transport ipcl_transport_unix_dgram = {
    .name = "unix-dgram",
    .summary = "AF_UNIX datagram socket bound to a file (sendto blocks when the "
	       "receiver's queue is full)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_MULTI_CONSUMER,
    .options = dgram_unix_options,
    .probe = dgram_probe_unix,
    DGRAM_HOOKS,
};

const struct ipcl_transport ipcl_transport_unix_seqpacket = {
    .name = "unix-seqpacket",
    .summary = "AF_UNIX SOCK_SEQPACKET: connected, reliable, ordered records with EOF",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_HAS_EOF,
    .options = dgram_unix_options,
    .probe = dgram_probe_seqpacket,
    DGRAM_HOOKS,
};

const struct ipcl_transport ipcl_transport_udp = {
    .name = "udp",
    .summary = "UDP datagrams over 127.0.0.1 (drops when the receive buffer is full)",
    .caps = IPCL_CAP_MSG_BOUNDARY | IPCL_CAP_LOSSY | IPCL_CAP_CROSS_HOST |
	    IPCL_CAP_MULTI_PRODUCER | IPCL_CAP_MULTI_CONSUMER,
    .options = dgram_udp_options,
    .probe = dgram_probe_udp,
    DGRAM_HOOKS,
};

static const struct dgram_kind *dgram_kind_of(const struct ipcl_transport *t)
{
	if (t == &ipcl_transport_udp)
		return &dgram_udp;
	if (t == &ipcl_transport_unix_seqpacket)
		return &dgram_seqpacket;
	return &dgram_unix;
}
