/*
 * peer.c - the run's own peer, told by a per-channel token (ipclab/peer.h).
 * Uses getrandom, accept4, poll, recv, send, fcntl. Left out: anything per
 * message; see peer.h for what the token does not protect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ipclab/fdio.h>
#include <ipclab/peer.h>
#include <ipclab/transport.h>

int ipcl_token_new(struct ipcl_token *t, char *err)
{
	size_t got = 0;

	while (got < sizeof t->b) {
		ssize_t n = getrandom(t->b + got, sizeof t->b - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ipcl_seterr(err, -errno, "getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	return 0;
}

void ipcl_token_hex(const struct ipcl_token *t, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof t->b; i++) {
		hex[2 * i] = digits[t->b[i] >> 4];
		hex[2 * i + 1] = digits[t->b[i] & 15];
	}
	hex[IPCL_TOKEN_HEX] = '\0';
}

static int peer_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int ipcl_token_parse(const char *s, struct ipcl_token *t)
{
	for (size_t i = 0; i < sizeof t->b; i++) {
		int hi = peer_nibble(s[2 * i]),
		    lo = hi < 0 ? -1 : peer_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		t->b[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int ipcl_token_equal(const void *a, const void *b)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < IPCL_TOKEN_LEN; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int ipcl_token_send(int fd, const struct ipcl_token *t, int64_t deadline_ns)
{
	for (;;) {
		/* 16 bytes on a fresh connection: all or nothing in practice; a short
		 * write would leave the peer to refuse us, which is what it should do. */
		ssize_t n = send(fd, t->b, sizeof t->b, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == (ssize_t)sizeof t->b)
			return 0;
		if (n >= 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		n = ipcl_fd_wait(fd, POLLOUT, deadline_ns);
		if (n)
			return (int)n;
	}
}

/* A connection being checked: how much of the token it has sent so far. */
struct peer_pending {
	int fd;
	size_t got;
	unsigned char buf[IPCL_TOKEN_LEN];
};

static void peer_drop(struct peer_pending *p, int *n, int i, uint64_t *refused)
{
	close(p[i].fd);
	(*refused)++;
	memmove(&p[i], &p[i + 1], (size_t)(*n - i - 1) * sizeof *p);
	(*n)--;
}

/*
 * Read what pending connection i has sent: 1 when its whole token is the
 * right one, 0 when it may still come, -1 when it is refused (a wrong token,
 * the end of the connection, an error).
 */
static int peer_check(struct peer_pending *q, const struct ipcl_token *t)
{
	for (;;) {
		ssize_t n =
		    recv(q->fd, q->buf + q->got, sizeof q->buf - q->got, MSG_DONTWAIT);

		if (n > 0) {
			q->got += (size_t)n;
			if (q->got < sizeof q->buf)
				continue;
			return ipcl_token_equal(q->buf, t->b) ? 1 : -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return -1;
	}
}

int ipcl_peer_accept(int lfd, const struct ipcl_token *t, int64_t deadline_ns,
		     uint64_t *refused, char *err)
{
	struct peer_pending p[IPCL_PEER_PENDING];
	struct pollfd pf[IPCL_PEER_PENDING + 1];
	int n = 0, rc, fd = -1;

	for (;;) {
		int ms = -1, ready;

		if (deadline_ns != IPCL_FOREVER) {
			int64_t left = deadline_ns - ipcl_now_ns();

			if (left <= 0) {
				rc = ipcl_seterr(
				    err, -ETIMEDOUT,
				    "no producer connected before the deadline");
				goto out;
			}
			ms = (int)((left + 999999) / 1000000);
		}
		pf[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < n; i++)
			pf[i + 1] = (struct pollfd){.fd = p[i].fd, .events = POLLIN};
		ready = poll(pf, (nfds_t)n + 1, ms);
		if (ready < 0 && errno != EINTR) {
			rc = ipcl_seterr(err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
		if (ready <= 0)
			continue;
		/* The connections already taken first, newest last, so indices hold. */
		for (int i = n - 1; i >= 0; i--) {
			int v;

			if (!pf[i + 1].revents)
				continue;
			v = peer_check(&p[i], t);
			if (v > 0 && fd < 0) {
				fd = p[i].fd;
				memmove(&p[i], &p[i + 1],
					(size_t)(n - i - 1) * sizeof *p);
				n--;
			} else if (v < 0) {
				peer_drop(p, &n, i, refused);
			}
		}
		if (fd >= 0)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		rc = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (rc < 0) {
			/* A connection reset before we took it is gone: wait for the
			 * next. EAGAIN: another process took it. */
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			rc = ipcl_seterr(err, -errno, "accept: %s", strerror(errno));
			goto out;
		}
		if (n == IPCL_PEER_PENDING)
			peer_drop(p, &n, 0, refused);
		p[n++] = (struct peer_pending){.fd = rc};
		/* The right peer sends its token at once: it is usually here already. */
		rc = peer_check(&p[n - 1], t);
		if (rc > 0) {
			fd = p[--n].fd;
			break;
		}
		if (rc < 0)
			peer_drop(p, &n, n - 1, refused);
	}
	rc = fcntl(fd, F_GETFL);
	if (rc < 0 || fcntl(fd, F_SETFL, rc & ~O_NONBLOCK) < 0) {
		rc = ipcl_seterr(err, -errno, "fcntl: %s", strerror(errno));
		close(fd);
		goto out;
	}
	rc = fd;
out:
	/* Whoever is still waiting to be checked is not the run's own. */
	while (n > 0)
		peer_drop(p, &n, n - 1, refused);
	return rc;
}
