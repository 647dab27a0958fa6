/*
 * peer.h - is the peer on a connection the run's own? A per-channel secret
 * token: setup() draws it with getrandom(2) and writes it into chan->addr,
 * which reaches only the run's own roles (through the board, a memfd that no
 * other user can open). A connecting endpoint sends it as the first bytes of
 * its connection; the accepting endpoint reads it and compares it in constant
 * time before it takes any data. Any other connection (a wrong token, an end
 * or a reset before the whole token, one still silent when the right peer has
 * arrived) is closed and counted: the caller adds the count to ep->refused,
 * which the harness writes into the result record.
 *
 * Costs one small write on connect and one read on accept, nothing per
 * message. Used by tcp, unix and unix-seqpacket (ipc/socket) and the libuv rpc
 * transport. Left out: encryption and integrity of the data after the token
 * (a local user who can read the traffic is root already), and datagram
 * sockets, which check the sender's address instead (see ipc/socket/dgram.c).
 */
#ifndef IPCLAB_PEER_H
#define IPCLAB_PEER_H

#include <stddef.h>
#include <stdint.h>

#define IPCL_TOKEN_LEN    16                   /* bytes: 128 random bits */
#define IPCL_TOKEN_HEX    (2 * IPCL_TOKEN_LEN) /* its length as hex digits */
#define IPCL_PEER_PENDING 8 /* connections checked at once by ipcl_peer_accept */

struct ipcl_token {
	unsigned char b[IPCL_TOKEN_LEN];
};

/* Draw a fresh token from getrandom(2). 0, or -errno with err set. */
int ipcl_token_new(struct ipcl_token *t, char *err);

/* The token as IPCL_TOKEN_HEX lower-case hex digits and a NUL. */
void ipcl_token_hex(const struct ipcl_token *t, char *hex);

/*
 * Parse exactly IPCL_TOKEN_HEX hex digits at s (what follows is not looked
 * at). 0, or -EINVAL.
 */
int ipcl_token_parse(const char *s, struct ipcl_token *t);

/* 1 when the IPCL_TOKEN_LEN bytes at a and b are equal; time independent of where
 * they differ. */
int ipcl_token_equal(const void *a, const void *b);

/*
 * Send the token on a freshly connected socket fd (stream or seqpacket: one
 * send of IPCL_TOKEN_LEN bytes), waiting for room until deadline_ns.
 * 0, -ETIMEDOUT or -errno.
 */
int ipcl_token_send(int fd, const struct ipcl_token *t, int64_t deadline_ns);

/*
 * Accept connections on the listening socket lfd until one presents the
 * token, checking up to IPCL_PEER_PENDING of them at once (a foreign peer that
 * connects and stays silent does not hold up the right one; past that many the
 * oldest is dropped). Every other connection is closed and counted in
 * *refused. Returns the accepted descriptor (blocking, close-on-exec, the
 * token consumed: the next byte is the peer's first data), -ETIMEDOUT at the
 * deadline, or -errno; err is set on failure.
 */
int ipcl_peer_accept(int lfd, const struct ipcl_token *t, int64_t deadline_ns,
		     uint64_t *refused, char *err);

#endif
