/*
 * frame.c - message header, crc32c (SSE4.2 instruction when the CPU has it,
 * else a table) and per-message verification (see frame.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/frame.h"
#include <ipclab/transport.h>

static uint32_t crc_table[8][256];
/* Set once by crc_init() under crc_once: roles may be threads that start
 * checksumming at the same moment. */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

/*
 * The SSE4.2 crc32 instruction takes 3 cycles but can start every cycle, so one
 * dependency chain runs at a third of its speed. Long buffers are cut into
 * strides of three CRC_LANE-byte lanes computed side by side, then joined:
 * CRC is linear, so the register after A|B|C is shift(a, 2L) ^ shift(b, L) ^ c,
 * where shift(r, n) is r fed with n zero bytes, a linear map on 32 bits kept as
 * four byte tables per distance.
 */
#define CRC_LANE 256
static uint32_t crc_shift1[4][256], crc_shift2[4][256];

/* The register r after n zero bytes, one byte at a time (slow: tables only). */
static uint32_t crc_zeros(uint32_t r, size_t n)
{
	while (n--)
		r = crc_table[0][r & 0xff] ^ (r >> 8);
	return r;
}

static void crc_shift_tables(uint32_t t[4][256], size_t n)
{
	uint32_t basis[32];

	for (int i = 0; i < 32; i++)
		basis[i] = crc_zeros((uint32_t)1 << i, n);
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (int i = 0; i < 8; i++)
				if (b & (1 << i))
					v ^= basis[8 * k + i];
			t[k][b] = v;
		}
}

static uint32_t crc_shift(const uint32_t t[4][256], uint32_t r)
{
	return t[0][r & 0xff] ^ t[1][(r >> 8) & 0xff] ^ t[2][(r >> 16) & 0xff] ^
	       t[3][r >> 24];
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_shift_tables(crc_shift1, CRC_LANE);
	crc_shift_tables(crc_shift2, 2 * CRC_LANE);
#if defined(__x86_64__)
	crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
	crc_hw = 0;
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc,
							    const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 3 * CRC_LANE) {
		uint64_t a = c, b = 0, d = 0;

		for (size_t i = 0; i < CRC_LANE; i += 8) {
			uint64_t wa, wb, wd;

			memcpy(&wa, p + i, 8);
			memcpy(&wb, p + CRC_LANE + i, 8);
			memcpy(&wd, p + 2 * CRC_LANE + i, 8);
			a = __builtin_ia32_crc32di(a, wa);
			b = __builtin_ia32_crc32di(b, wb);
			d = __builtin_ia32_crc32di(d, wd);
		}
		c = crc_shift(crc_shift2, (uint32_t)a) ^
		    crc_shift(crc_shift1, (uint32_t)b) ^ (uint32_t)d;
		p += 3 * CRC_LANE;
		len -= 3 * CRC_LANE;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t ipcl_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_soft(~crc, buf, len);
}

uint32_t ipcl_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_sse42(crc, buf, len);
#endif
	return ~crc_soft(crc, buf, len);
}

uint32_t ipcl_frame_fill(void *buf, size_t len)
{
	uint8_t *p = buf;

	if (len <= IPCL_FRAME_HDR)
		return ipcl_crc32c(0, NULL, 0);
	for (size_t i = IPCL_FRAME_HDR; i < len; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	return ipcl_crc32c(0, p + IPCL_FRAME_HDR, len - IPCL_FRAME_HDR);
}

/*
 * The sampled region of a len-byte frame that starts at or after *pos: its
 * start offset, with *pos set to its end; len when none is left. Regions come
 * in order and do not overlap: [0, LINE), [k*STRIDE, k*STRIDE + LINE) for
 * k >= 1 while such a line ends before the last line starts, then the last
 * line [len - LINE, len) (or what is left of it).
 */
static size_t frame_sample_next(size_t len, size_t *pos)
{
	size_t p = *pos, start,
	       last = len > IPCL_SAMPLE_LINE ? len - IPCL_SAMPLE_LINE : 0;

	if (p >= len)
		return len;
	if (p == 0) {
		*pos = len < IPCL_SAMPLE_LINE ? len : IPCL_SAMPLE_LINE;
		return 0;
	}
	start = (p + IPCL_SAMPLE_STRIDE - 1) / IPCL_SAMPLE_STRIDE * IPCL_SAMPLE_STRIDE;
	if (start + IPCL_SAMPLE_LINE <= last) {
		*pos = start + IPCL_SAMPLE_LINE;
		return start;
	}
	*pos = len;
	return last > p ? last : p;
}

uint32_t ipcl_frame_sample_crc(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0;
	size_t pos = 0, start;

	while ((start = frame_sample_next(len, &pos)) < len) {
		if (start < IPCL_FRAME_HDR)
			start = IPCL_FRAME_HDR;
		if (pos > start)
			crc = ipcl_crc32c(crc, p + start, pos - start);
	}
	return crc;
}

void ipcl_frame_copy(void *dst, const void *src, size_t len, int sampled)
{
	size_t pos = 0, start;

	if (!sampled) {
		memcpy(dst, src, len);
		return;
	}
	while ((start = frame_sample_next(len, &pos)) < len)
		memcpy((uint8_t *)dst + start, (const uint8_t *)src + start, pos - start);
}

void ipcl_frame_stamp(void *buf, size_t len, uint16_t producer, uint16_t flags,
		      uint64_t seq, int64_t send_ns, uint32_t payload_crc)
{
	struct ipcl_frame_hdr h = {
	    .len = (uint32_t)len,
	    .producer = producer,
	    .flags = flags,
	    .seq = seq,
	    .send_ns = send_ns,
	    .magic = IPCL_FRAME_MAGIC,
	    .csum = 0,
	};

	h.csum = ipcl_crc32c(0, &h, sizeof h) ^ payload_crc;
	memcpy(buf, &h, sizeof h);
}

int ipcl_frame_check(const void *buf, size_t len, struct ipcl_frame_hdr *h)
{
	uint32_t want;

	if (len < IPCL_FRAME_HDR)
		return IPCL_EPROTO;
	memcpy(h, buf, sizeof *h);
	if (h->magic != IPCL_FRAME_MAGIC || h->len != len)
		return IPCL_EPROTO;
	want = h->csum;
	h->csum = 0;
	if ((ipcl_crc32c(0, h, sizeof *h) ^
	     (h->flags & IPCL_FRAME_SAMPLED
		  ? ipcl_frame_sample_crc(buf, len)
		  : ipcl_crc32c(0, (const uint8_t *)buf + IPCL_FRAME_HDR,
				len - IPCL_FRAME_HDR))) != want)
		return IPCL_EPROTO;
	h->csum = want;
	return 0;
}

void ipcl_mini_stamp(void *buf, size_t len, uint64_t seq)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len && i < 8; i++)
		p[i] = (uint8_t)(seq >> (8 * i));
}

uint64_t ipcl_mini_seq(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t seq = 0;

	for (size_t i = 0; i < len && i < 8; i++)
		seq |= (uint64_t)p[i] << (8 * i);
	return seq;
}

uint64_t ipcl_mini_end(size_t len)
{
	return len >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * len)) - 1;
}

void ipcl_verify_seq(struct ipcl_verify *v, uint64_t *seen, uint64_t nbits,
		     uint64_t *highest, uint64_t seq)
{
	uint64_t bit, old;

	v->delivered++;
	if (seq >= nbits) {
		v->beyond++;
		return;
	}
	bit = (uint64_t)1 << (seq & 63);
	old = atomic_fetch_or_explicit((_Atomic uint64_t *)&seen[seq >> 6], bit,
				       memory_order_relaxed);
	if (old & bit) {
		v->duplicated++;
		return;
	}
	if (seq + 1 < *highest)
		v->reordered++;
	else
		*highest = seq + 1;
}
