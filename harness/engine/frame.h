/*
 * frame.h - the header the harness puts in every message, and verification.
 *
 * A full frame starts with a 32-byte header: length, producer, flags, sequence
 * number, send time (CLOCK_MONOTONIC, comparable across processes on one host;
 * the *intended* send time in the rate pattern) and a checksum. The checksum is
 * crc32c(header with csum 0) ^ crc32c(payload): a producer that sends the same
 * payload bytes again computes the payload part once, a consumer checks all.
 *
 * Transports whose largest message is smaller than the header (signals carry 8
 * bytes) get a mini frame: only the low bytes of the sequence number. Such a run
 * verifies by sequence number alone (no checksum, no one-way latency).
 */
#ifndef IPCLAB_FRAME_H
#define IPCLAB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define IPCL_FRAME_MAGIC 0x4c435049u /* "IPCL" */
#define IPCL_FRAME_HDR   32

enum {
	IPCL_FRAME_END = 1u << 0, /* end marker: no more messages from this producer */
	IPCL_FRAME_SAMPLED = 1u << 1, /* the checksum covers the sampled regions only */
};

/*
 * Sampled verification (--verify sample), so that checking a large message is
 * not what a run measures: the checksum covers the payload bytes of the
 * message's first IPCL_SAMPLE_LINE bytes (the header's line), of one line at
 * every multiple of IPCL_SAMPLE_STRIDE after it, and of the last line; a
 * message of up to two lines is covered whole. It cannot detect a change to a
 * byte outside those regions (at 64 KiB, 17 lines of 1024: 1.7% of the bytes
 * are read); the header (length, sequence number, send time) is always checked.
 */
#define IPCL_SAMPLE_LINE   64
#define IPCL_SAMPLE_STRIDE 4096

struct ipcl_frame_hdr {
	uint32_t len; /* whole message, header included */
	uint16_t producer;
	uint16_t flags;
	uint64_t seq;
	int64_t send_ns;
	uint32_t magic;
	uint32_t csum;
};

_Static_assert(sizeof(struct ipcl_frame_hdr) == IPCL_FRAME_HDR, "frame header size");

/* CRC-32C (Castagnoli): the SSE4.2 instruction in three lanes where the CPU has
 * it, else tables; ipcl_crc32c_portable always uses the tables (for tests). */
uint32_t ipcl_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t ipcl_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* Fill buf[IPCL_FRAME_HDR..len) with the fixed payload pattern; returns its crc. */
uint32_t ipcl_frame_fill(void *buf, size_t len);

/*
 * Write the header of a full frame into buf (len >= IPCL_FRAME_HDR). payload_crc
 * is what ipcl_frame_fill() returned for the bytes after the header.
 */
void ipcl_frame_stamp(void *buf, size_t len, uint16_t producer, uint16_t flags,
		      uint64_t seq, int64_t send_ns, uint32_t payload_crc);

/* The crc of the sampled payload bytes of a len-byte frame (see above). */
uint32_t ipcl_frame_sample_crc(const void *buf, size_t len);

/*
 * Copy a len-byte frame from src to dst: all of it, or with sampled set only
 * the bytes a sampled check reads (the header and the sampled regions).
 */
void ipcl_frame_copy(void *dst, const void *src, size_t len, int sampled);

/*
 * Check a received full frame: 0 and *h filled, or IPCL_EPROTO when corrupt.
 * A frame stamped with IPCL_FRAME_SAMPLED is checked on its sampled regions.
 */
int ipcl_frame_check(const void *buf, size_t len, struct ipcl_frame_hdr *h);

/* Mini frames: the sequence number's low `len` bytes (1..8). */
void ipcl_mini_stamp(void *buf, size_t len, uint64_t seq);
uint64_t ipcl_mini_seq(const void *buf, size_t len);
/* The sequence number that marks the end in a mini frame of len bytes. */
uint64_t ipcl_mini_end(size_t len);

/*
 * Verification of delivered messages against what was sent, per (consumer,
 * producer) pair. seen is a bitmap with one bit per sequence number, shared by
 * every consumer of a work queue (so a message delivered to two consumers is a
 * duplicate) or private to one consumer of a fan-out channel.
 */
struct ipcl_verify {
	uint64_t delivered;  /* messages handed to this consumer, duplicates included */
	uint64_t duplicated; /* already seen (by this or another consumer) */
	uint64_t reordered;  /* arrived after a higher sequence number of its producer */
	uint64_t corrupt;    /* failed the length, magic or checksum test */
	uint64_t beyond;     /* sequence number outside what a producer can have sent */
};

/* Record seq from one producer; highest is that producer's highest seq + 1 so far. */
void ipcl_verify_seq(struct ipcl_verify *v, uint64_t *seen, uint64_t nbits,
		     uint64_t *highest, uint64_t seq);

#endif
