/*
 * fdio.h - deadline-aware I/O on file descriptors, shared by the transports that
 * move bytes through a descriptor (pipe, FIFO, stream and datagram sockets).
 *
 * Descriptors stay in blocking mode: with deadline IPCL_FOREVER a call goes
 * straight to read()/write() with no poll() in front, which keeps the hot path
 * at one system call per message, as a bare loop has. With a finite deadline
 * the call poll()s first, so the wait for the first byte is bounded; a write
 * larger than the free buffer space may then block past the deadline.
 *
 * Byte streams carry messages as a 4-byte length (host order: both ends are on
 * one host) followed by the message, sent with one writev() and read back
 * through a buffer so that many small messages cost one read().
 */
#ifndef IPCLAB_FDIO_H
#define IPCLAB_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Wait for events (POLLIN/POLLOUT) on fd until deadline: 0, -ETIMEDOUT or -errno. */
int ipcl_fd_wait(int fd, short events, int64_t deadline_ns);

/*
 * Write every byte of iov[0..iovcnt) (the array is modified), retrying EINTR and
 * short writes. Returns 0, -ETIMEDOUT, -EPIPE when the reader is gone, -errno.
 */
int ipcl_fd_writev_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline_ns);

/* Read exactly len bytes: 0, IPCL_EOF at a clean end before the first byte,
 * IPCL_EPROTO at an end in the middle, -ETIMEDOUT or -errno. */
int ipcl_fd_read_all(int fd, void *buf, size_t len, int64_t deadline_ns);

/* A receive buffer for a length-prefixed byte stream. */
struct ipcl_framer {
	unsigned char *buf;
	size_t cap;  /* bytes allocated */
	size_t head; /* first unread byte */
	size_t tail; /* one past the last byte read from the fd */
};

int ipcl_framer_init(struct ipcl_framer *f, size_t cap);
void ipcl_framer_free(struct ipcl_framer *f);

/* Send one message as [u32 length][bytes] with a single writev(). */
int ipcl_stream_send(int fd, const void *msg, size_t len, int64_t deadline_ns);

/*
 * Receive one message sent by ipcl_stream_send(). Returns 0 with *len set,
 * IPCL_EOF at a clean end of stream, IPCL_EPROTO when the stream ends inside a
 * message, IPCL_ETRUNC when the message is larger than cap (the stream is then
 * out of step and must be closed), -ETIMEDOUT or -errno.
 */
int ipcl_stream_recv(int fd, struct ipcl_framer *f, void *buf, size_t cap, size_t *len,
		     int64_t deadline_ns);

/* Clear FD_CLOEXEC so that fd survives exec() into a role process. */
int ipcl_fd_inheritable(int fd);

/*
 * A private directory for named objects (FIFOs, socket files): mkdtemp under
 * $TMPDIR or /tmp, mode 0700, named ipcl-<tag>-XXXXXX. path needs 108 bytes.
 */
int ipcl_private_dir(char *path, size_t cap, const char *tag, char *err);

/*
 * Remove a directory made by ipcl_private_dir and everything in it, as
 * ipcl_remove_tree_at does with owner geteuid(). Best effort, silent.
 */
void ipcl_remove_dir(const char *path);

/*
 * Remove the directory name (one path component) of the open directory dirfd
 * and everything under it, without a shell and without following a symbolic
 * link anywhere: the directory is opened with O_NOFOLLOW, entries are examined
 * with AT_SYMLINK_NOFOLLOW and unlinked with unlinkat(2), and nothing on
 * another filesystem is entered. With owner other than (uid_t)-1, the directory
 * must belong to that user (-EPERM otherwise). Returns 0 or a negative errno
 * (the first met; -ENOTDIR or -ELOOP when name is not a directory).
 */
int ipcl_remove_tree_at(int dirfd, const char *name, uid_t owner);

#endif
