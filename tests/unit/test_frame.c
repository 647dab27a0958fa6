/*
 * test_frame.c - framing and verification: a dropped, duplicated, reordered
 * and corrupted message must each be counted; crc32c matches the standard
 * check value; mini frames round-trip.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/frame.h"

#include "testutil.h"

static void test_crc32c_check_value(void **state)
{
	/* The CRC-32C check value of "123456789" (RFC 3720). */
	assert_int_equal(ipcl_crc32c(0, "123456789", 9), 0xe3069283u);
	/* Split computation equals one pass. */
	assert_int_equal(ipcl_crc32c(ipcl_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_crc32c_fast_equals_portable(void **state)
{
	static unsigned char buf[20000];

	srand(3);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)rand();
	/* Every length around the three-lane stride, odd offsets, and long ones. */
	for (size_t len = 0; len < 3000; len++)
		assert_int_equal(ipcl_crc32c(7, buf + len % 5, len),
				 ipcl_crc32c_portable(7, buf + len % 5, len));
	for (size_t len = 3000; len < sizeof buf; len += 997)
		assert_int_equal(ipcl_crc32c(0, buf, len),
				 ipcl_crc32c_portable(0, buf, len));
	assert_int_equal(ipcl_crc32c_portable(0, "123456789", 9), 0xe3069283u);
}

static void test_stamp_check(void **state)
{
	unsigned char buf[256];
	struct ipcl_frame_hdr h;
	uint32_t pcrc = ipcl_frame_fill(buf, sizeof buf);

	ipcl_frame_stamp(buf, sizeof buf, 3, 0, 42, 123456789, pcrc);
	assert_int_equal(ipcl_frame_check(buf, sizeof buf, &h), 0);
	assert_int_equal(h.seq, 42);
	assert_int_equal(h.producer, 3);
	assert_int_equal(h.send_ns, 123456789);
	/* Wrong length, a flipped payload bit, a flipped header bit: all corrupt. */
	assert_int_equal(ipcl_frame_check(buf, sizeof buf - 1, &h), IPCL_EPROTO);
	buf[200] ^= 0x10;
	assert_int_equal(ipcl_frame_check(buf, sizeof buf, &h), IPCL_EPROTO);
	buf[200] ^= 0x10;
	buf[9] ^= 1; /* inside seq */
	assert_int_equal(ipcl_frame_check(buf, sizeof buf, &h), IPCL_EPROTO);
	buf[9] ^= 1;
	assert_int_equal(ipcl_frame_check(buf, sizeof buf, &h), 0);
	assert_int_equal(ipcl_frame_check(buf, 8, &h), IPCL_EPROTO);
}

/* Is byte i of a len-byte frame in a sampled region (the documented layout)? */
static int sampled_byte(size_t len, size_t i)
{
	size_t last = len > IPCL_SAMPLE_LINE ? len - IPCL_SAMPLE_LINE : 0;

	if (i < IPCL_SAMPLE_LINE || i >= last)
		return 1;
	return i % IPCL_SAMPLE_STRIDE < IPCL_SAMPLE_LINE &&
	       i / IPCL_SAMPLE_STRIDE * IPCL_SAMPLE_STRIDE + IPCL_SAMPLE_LINE <= last;
}

/*
 * --verify sample: a flipped bit in every sampled region (header line, each
 * stride line, last line) is caught, at many sizes; a flipped bit between the
 * regions is not (what sampling documents it cannot detect); a sampled frame
 * copied with ipcl_frame_copy(..., 1) into garbage still checks.
 */
static void test_sampled_check(void **state)
{
	static const size_t sizes[] = {32,   64,   100,  127,   128,        129,   4096,
				       4160, 4224, 8191, 65536, 65536 + 17, 200000};
	struct ipcl_frame_hdr h;

	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t len = sizes[k], missed = 0, caught = 0;
		unsigned char *buf = malloc(len), *dst = malloc(len);
		uint32_t pcrc;

		assert_non_null(buf);
		assert_non_null(dst);
		ipcl_frame_fill(buf, len);
		pcrc = ipcl_frame_sample_crc(buf, len);
		ipcl_frame_stamp(buf, len, 1, IPCL_FRAME_SAMPLED, 9, 77, pcrc);
		assert_int_equal(ipcl_frame_check(buf, len, &h), 0);
		for (size_t i = IPCL_FRAME_HDR; i < len; i++) {
			int bad;

			buf[i] ^= 0x40;
			bad = ipcl_frame_check(buf, len, &h) == IPCL_EPROTO;
			buf[i] ^= 0x40;
			assert_int_equal(bad, sampled_byte(len, i));
			bad ? caught++ : missed++;
		}
		if (len <= 2 * IPCL_SAMPLE_LINE)
			assert_int_equal(missed, 0);
		if (len >= 4096)
			assert_true(missed > caught);
		memset(dst, 0xa5, len);
		ipcl_frame_copy(dst, buf, len, 1);
		assert_int_equal(ipcl_frame_check(dst, len, &h), 0);
		assert_int_equal(h.seq, 9);
		free(buf);
		free(dst);
	}
}

static void test_verify_counts(void **state)
{
	uint64_t seen[4] = {0}, highest = 0;
	struct ipcl_verify v = {0};
	/* 0..9 sent; 3 dropped, 5 duplicated, 8 before 7 (reordered). */
	uint64_t got[] = {0, 1, 2, 4, 5, 5, 6, 8, 7, 9};

	for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
		ipcl_verify_seq(&v, seen, 256, &highest, got[i]);
	assert_int_equal(v.delivered, 10);
	assert_int_equal(v.duplicated, 1);
	assert_int_equal(v.reordered, 1);
	assert_int_equal(v.beyond, 0);
	/* Unique = popcount: 9 of 10 sent arrived, so one was lost. */
	assert_int_equal(__builtin_popcountll(seen[0]), 9);
	assert_false(seen[0] & (1u << 3));
	ipcl_verify_seq(&v, seen, 256, &highest, 1000);
	assert_int_equal(v.beyond, 1);
}

static void test_verify_shared_bitmap(void **state)
{
	/* Two consumers of one work queue share the bitmap: a message both got is a dup.
	 */
	uint64_t seen[1] = {0}, h1 = 0, h2 = 0;
	struct ipcl_verify a = {0}, b = {0};

	ipcl_verify_seq(&a, seen, 64, &h1, 7);
	ipcl_verify_seq(&b, seen, 64, &h2, 7);
	assert_int_equal(a.duplicated, 0);
	assert_int_equal(b.duplicated, 1);
}

static void test_mini(void **state)
{
	unsigned char b[8];

	ipcl_mini_stamp(b, 4, 0x12345678);
	assert_int_equal(ipcl_mini_seq(b, 4), 0x12345678);
	ipcl_mini_stamp(b, 8, 0x1122334455667788ull);
	assert_int_equal(ipcl_mini_seq(b, 8), 0x1122334455667788ull);
	assert_int_equal(ipcl_mini_end(2), 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_check_value),
	    cmocka_unit_test(test_crc32c_fast_equals_portable),
	    cmocka_unit_test(test_stamp_check),
	    cmocka_unit_test(test_sampled_check),
	    cmocka_unit_test(test_verify_counts),
	    cmocka_unit_test(test_verify_shared_bitmap),
	    cmocka_unit_test(test_mini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
