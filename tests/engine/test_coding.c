/* test_coding.c - fixed-width integers, varints and length-prefixed
 * strings (coding.h), internal key order (ikey.h), the growable buffer
 * (buf.h) and data-directory file names (filename.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "coding.h"
#include "crc.h"
#include "filename.h"
#include "ikey.h"
#include "support.h"

static const uint64_t boundaries[] = {
	0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000,
	0xfffffff, 0x10000000, UINT32_MAX - 1, UINT32_MAX,
	(uint64_t)UINT32_MAX + 1, (UINT64_C(1) << 35) - 1, UINT64_C(1) << 35,
	(UINT64_C(1) << 56) - 1, UINT64_C(1) << 56, (UINT64_C(1) << 63) - 1,
	UINT64_C(1) << 63, UINT64_MAX - 1, UINT64_MAX,
};
#define NBOUND (sizeof(boundaries) / sizeof(boundaries[0]))

static void test_fixed_le(void **state)
{
	uint8_t b[8];

	(void)state;
	put_u16le(b, 0x1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(get_u16le(b), 0x1234);
	put_u32le(b, 0xdeadbeef);
	assert_memory_equal(b, "\xef\xbe\xad\xde", 4);
	assert_int_equal(get_u32le(b), 0xdeadbeef);
	put_u64le(b, UINT64_C(0x0102030405060708));
	assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_true(get_u64le(b) == UINT64_C(0x0102030405060708));
	put_u64le(b, UINT64_MAX);
	assert_true(get_u64le(b) == UINT64_MAX);
}

static void test_varint_boundaries(void **state)
{
	uint8_t b[VARINT64_MAX_BYTES + 4];

	(void)state;
	for (size_t i = 0; i < NBOUND; i++) {
		uint64_t v = boundaries[i], got = 0;
		uint8_t *end = put_varint64(b, v);
		const uint8_t *q;

		assert_int_equal((size_t)(end - b), varint_len(v));
		assert_true(varint_len(v) <= VARINT64_MAX_BYTES);
		q = get_varint64(b, end, &got);
		assert_ptr_equal(q, end);
		assert_true(got == v);
		/* every strict prefix is truncated */
		for (uint8_t *cut = b; cut < end; cut++)
			assert_null(get_varint64(b, cut, &got));
	}
	assert_int_equal(varint_len(0), 1);
	assert_int_equal(varint_len(127), 1);
	assert_int_equal(varint_len(128), 2);
	assert_int_equal(varint_len(UINT64_MAX), 10);
}

static void test_varint32(void **state)
{
	uint8_t b[VARINT64_MAX_BYTES];
	uint32_t v = 7;
	uint8_t *end;

	(void)state;
	end = put_varint32(b, UINT32_MAX);
	assert_int_equal(end - b, VARINT32_MAX_BYTES);
	assert_ptr_equal(get_varint32(b, end, &v), end);
	assert_true(v == UINT32_MAX);
	/* one past the 32-bit range is rejected, v untouched */
	v = 7;
	end = put_varint64(b, (uint64_t)UINT32_MAX + 1);
	assert_null(get_varint32(b, end, &v));
	assert_int_equal(v, 7);
}

static void test_varint_malformed(void **state)
{
	/* eleven continuation bytes: longer than any 64-bit varint */
	static const uint8_t overlong[11] = {
		0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0
	};
	/* 10th byte 0x02 would set bit 64 */
	static const uint8_t overflow[10] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
	};
	static const uint8_t cont_at_end[3] = { 0x81, 0x82, 0x83 };
	uint64_t v = 42;

	(void)state;
	assert_null(get_varint64(overlong, overlong + 11, &v));
	assert_null(get_varint64(overflow, overflow + 10, &v));
	assert_null(get_varint64(cont_at_end, cont_at_end + 3, &v));
	assert_null(get_varint64(cont_at_end, cont_at_end, &v)); /* empty */
	assert_int_equal(v, 42);
	/* non-minimal but in range encodings decode (0x80 0x00 = 0) */
	assert_non_null(get_varint64(overlong + 9, overlong + 11, &v));
	assert_int_equal(v, 0);
}

static void test_varint_random(void **state)
{
	struct rng r;
	uint8_t b[VARINT64_MAX_BYTES];

	(void)state;
	rng_init(&r, "test_varint_random", 0);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rng_next(&r) >> rng_below(&r, 64), got;
		uint8_t *end = put_varint64(b, v);

		assert_ptr_equal(get_varint64(b, end, &got), end);
		assert_true(got == v);
	}
}

static void test_lenbytes(void **state)
{
	struct buf b = BUF_INIT;
	const uint8_t *s, *p;
	size_t len;

	(void)state;
	buf_put_lenbytes(&b, "hello", 5);
	buf_put_lenbytes(&b, "", 0);
	assert_true(buf_ok(&b));
	assert_int_equal(b.len, 7);
	p = get_lenbytes(b.p, b.p + b.len, &s, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "hello", 5);
	p = get_lenbytes(p, b.p + b.len, &s, &len);
	assert_ptr_equal(p, b.p + b.len);
	assert_int_equal(len, 0);
	/* the length claims more bytes than there are */
	assert_null(get_lenbytes(b.p, b.p + 5, &s, &len));
	assert_null(get_lenbytes(b.p, b.p, &s, &len));
	buf_free(&b);
}

static void test_buf(void **state)
{
	struct buf b = BUF_INIT;
	uint8_t big[1000];

	(void)state;
	memset(big, 0xab, sizeof(big));
	for (int i = 0; i < 100; i++)
		buf_append(&b, big, sizeof(big));
	buf_put_u8(&b, 1);
	buf_put_u32le(&b, 0x01020304);
	buf_put_u64le(&b, 5);
	buf_put_varint(&b, 300);
	assert_true(buf_ok(&b));
	assert_int_equal(b.len, 100000 + 1 + 4 + 8 + 2);
	assert_int_equal(get_u32le(b.p + 100001), 0x01020304);
	assert_false(buf_reserve(&b, SIZE_MAX - 10));
	assert_false(buf_ok(&b));
	buf_clear(&b);
	assert_true(buf_ok(&b));
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* ---- internal keys ---- */

static size_t ik(uint8_t *dst, const char *k, uint64_t seq, enum ikey_type t)
{
	return ikey_encode(dst, k, strlen(k), seq, t);
}

static void test_ikey_encode(void **state)
{
	uint8_t a[64];
	size_t n;

	(void)state;
	n = ik(a, "key", 12345, IKEY_VALUE);
	assert_int_equal(n, 3 + IKEY_TAG_BYTES);
	assert_memory_equal(a, "key", 3);
	assert_true(ikey_seq(a, n) == 12345);
	assert_int_equal(ikey_type(a, n), IKEY_VALUE);
	assert_int_equal(ikey_ulen(n), 3);
	assert_true(ikey_valid(a, n));
	n = ik(a, "", IKEY_MAX_SEQ, IKEY_DELETE);
	assert_int_equal(n, IKEY_TAG_BYTES);
	assert_true(ikey_seq(a, n) == IKEY_MAX_SEQ);
	assert_int_equal(ikey_type(a, n), IKEY_DELETE);
	assert_true(ikey_valid(a, n));
	assert_false(ikey_valid(a, 7));
	a[0] = 2; /* a value pointer (the value log) */
	assert_true(ikey_valid(a, n));
	assert_int_equal(ikey_type(a, n), IKEY_VALUE_PTR);
	a[0] = 3; /* type byte 3 is not a valid type */
	assert_false(ikey_valid(a, n));
}

static int cmp(const char *ka, uint64_t sa, enum ikey_type ta,
	       const char *kb, uint64_t sb, enum ikey_type tb)
{
	uint8_t a[64], b[64];
	size_t na = ik(a, ka, sa, ta), nb = ik(b, kb, sb, tb);
	int r = ikey_cmp(a, na, b, nb), back = ikey_cmp(b, nb, a, na);

	/* antisymmetric */
	assert_int_equal(r < 0, back > 0);
	assert_int_equal(r == 0, back == 0);
	return r;
}

static void test_ikey_order(void **state)
{
	(void)state;
	/* user keys ascending, bytewise, shorter first on a common prefix */
	assert_true(cmp("a", 1, IKEY_VALUE, "b", 1, IKEY_VALUE) < 0);
	assert_true(cmp("a", 1, IKEY_VALUE, "ab", 9, IKEY_VALUE) < 0);
	assert_true(cmp("", 1, IKEY_VALUE, "a", 1, IKEY_VALUE) < 0);
	assert_true(cmp("\x7f", 1, IKEY_VALUE, "\x80", 1, IKEY_VALUE) < 0);
	assert_true(cmp("\xff", 1, IKEY_VALUE, "\xff\x01", 1,
			IKEY_VALUE) < 0);
	/* same user key: higher sequence first */
	assert_true(cmp("k", 10, IKEY_VALUE, "k", 9, IKEY_VALUE) < 0);
	assert_true(cmp("k", 256, IKEY_VALUE, "k", 255, IKEY_VALUE) < 0);
	assert_true(cmp("k", IKEY_MAX_SEQ, IKEY_DELETE, "k", 1,
			IKEY_VALUE) < 0);
	/* same sequence: the value type (1) sorts before delete (0) */
	assert_true(cmp("k", 5, IKEY_VALUE, "k", 5, IKEY_DELETE) < 0);
	assert_int_equal(cmp("k", 5, IKEY_VALUE, "k", 5, IKEY_VALUE), 0);
	/* user key dominates the tag */
	assert_true(cmp("a", 1, IKEY_DELETE, "b", 100, IKEY_VALUE) < 0);
	assert_true(ukey_cmp("abc", 3, "abd", 3) < 0);
	assert_true(ukey_cmp("abc", 3, "ab", 2) > 0);
	assert_int_equal(ukey_cmp("", 0, "", 0), 0);
}

/* A seek key (seq, IKEY_TYPE_FOR_SEEK) sorts at or before every entry of
 * the same user key with a sequence <= seq, and after newer ones. */
/* The sign of memcmp, then the shorter first: what ukey_cmp must give. */
static int ref_ukey_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r)
		return r < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ukey_cmp (a word at a time) against memcmp: every length from 0 to 40
 * on both sides, keys equal but for one byte at each position (high bytes
 * too: words compare unsigned), prefixes of each other, and random bytes
 * from a tiny alphabet (long common prefixes), at unaligned addresses. */
static void test_ukey_cmp_words(void **state)
{
	uint8_t abuf[48], bbuf[48];
	uint64_t rnd = 12345;

	(void)state;
	for (size_t off = 0; off < 3; off++) {
		uint8_t *a = abuf + off, *b = bbuf + 1;

		for (size_t alen = 0; alen <= 40; alen++)
			for (size_t blen = 0; blen <= 40; blen++) {
				memset(a, 0x41, 40);
				memset(b, 0x41, 40);
				assert_int_equal(ukey_cmp(a, alen, b, blen),
						 ref_ukey_cmp(a, alen, b, blen));
				for (size_t i = 0; i < alen && i < blen; i++) {
					b[i] = 0xc1; /* a byte past 0x7f */
					assert_int_equal(
						ukey_cmp(a, alen, b, blen),
						ref_ukey_cmp(a, alen, b, blen));
					assert_int_equal(
						ukey_cmp(b, blen, a, alen),
						ref_ukey_cmp(b, blen, a, alen));
					b[i] = 0x41;
				}
			}
	}
	for (int round = 0; round < 200000; round++) {
		size_t alen, blen;

		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		alen = (rnd >> 33) % 41;
		blen = (rnd >> 45) % 41;
		for (size_t i = 0; i < 41; i++) {
			rnd = rnd * 6364136223846793005ull + 1;
			abuf[i] = (uint8_t)(0x7e + ((rnd >> 60) & 3));
			bbuf[i] = (uint8_t)(0x7e + ((rnd >> 58) & 3));
			if ((rnd >> 40) % 8)
				bbuf[i] = abuf[i];
		}
		assert_int_equal(ukey_cmp(abuf, alen, bbuf, blen),
				 ref_ukey_cmp(abuf, alen, bbuf, blen));
	}
}

static void test_ikey_seek_key(void **state)
{
	(void)state;
	assert_true(cmp("k", 7, IKEY_TYPE_FOR_SEEK, "k", 7, IKEY_DELETE) <= 0);
	assert_true(cmp("k", 7, IKEY_TYPE_FOR_SEEK, "k", 7, IKEY_VALUE) <= 0);
	assert_true(cmp("k", 7, IKEY_TYPE_FOR_SEEK, "k", 6, IKEY_VALUE) < 0);
	assert_true(cmp("k", 7, IKEY_TYPE_FOR_SEEK, "k", 8, IKEY_DELETE) > 0);
}

/* ---- file names ---- */

static void check_name(enum file_kind k, uint64_t num, const char *want)
{
	char path[LSM_PATH_MAX];
	uint64_t got = 999;

	assert_int_equal(filename_path(path, "/d", k, num), 0);
	assert_string_equal(path + 3, want);
	assert_memory_equal(path, "/d/", 3);
	assert_int_equal(filename_parse(want, &got), k);
	if (k != FILE_CURRENT && k != FILE_LOCK)
		assert_true(got == num);
}

/* crc32_of (libdeflate's when built with it) must equal zlib's crc32 for
 * every length and alignment, and chain like it: the formats depend on
 * it. */
static void test_crc_matches_zlib(void **state)
{
	static uint8_t data[70000];
	struct rng r;

	(void)state;
	rng_init(&r, "crc", 0);
	rng_bytes(&r, data, sizeof(data));
	for (size_t n = 0; n < sizeof(data); n += n < 300 ? 1 : 997) {
		size_t off = rng_below(&r, 16), cut;
		uint32_t z;

		if (off + n > sizeof(data))
			off = 0;
		z = (uint32_t)crc32(0, data + off, (uInt)n);
		assert_int_equal(crc32_of(data + off, n), z);
		cut = n ? rng_below(&r, n) : 0;
		assert_int_equal(crc32_extend(crc32_of(data + off, cut),
					      data + off + cut, n - cut), z);
	}
	assert_int_equal(crc32_of("123456789", 9), 0xcbf43926u);
	/* extending by nothing, also from a NULL pointer, keeps the CRC */
	assert_int_equal(crc32_extend(0x12345678u, NULL, 0), 0x12345678u);
	assert_int_equal(crc32_extend(0x12345678u, data, 0), 0x12345678u);
}

static void test_filename_round_trip(void **state)
{
	(void)state;
	check_name(FILE_WAL, 1, "000001.wal");
	check_name(FILE_WAL, 0, "000000.wal");
	check_name(FILE_TABLE, 123456, "123456.sst");
	check_name(FILE_TABLE, 1234567, "1234567.sst");
	check_name(FILE_TEMP, 42, "000042.tmp");
	check_name(FILE_MANIFEST, 7, "MANIFEST-000007");
	check_name(FILE_MANIFEST, UINT64_MAX, "MANIFEST-18446744073709551615");
	check_name(FILE_CURRENT, 0, "CURRENT");
	check_name(FILE_LOCK, 0, "LOCK");
}

static void test_filename_strict(void **state)
{
	static const char *const foreign[] = {
		"12a.sst", "MANIFEST-", "MANIFEST-12", "MANIFEST-00001x",
		"+00012.wal", "-00012.wal", " 00012.wal", "000012.wal~",
		"000012.WAL", "12.wal", "0000012.wal", ".wal", "wal",
		"000012.wal.tmp", "000012", "CURRENT.tmp", "current", "LOCK ",
		"18446744073709551616.sst", "99999999999999999999999.sst",
		"0x0001.sst", "00 001.sst", "000001.ssT", "MANIFEST-+00001",
		"", ".", "..", "MANIFEST--00001",
	};
	uint64_t n = 77;

	(void)state;
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		if (filename_parse(foreign[i], &n) != FILE_OTHER)
			fail_msg("\"%s\" parsed as a data file", foreign[i]);
	}
	assert_int_equal(filename_parse("000005.sst", NULL), FILE_TABLE);
}

static void test_filename_too_long(void **state)
{
	static char dir[LSM_PATH_MAX];
	char path[LSM_PATH_MAX];

	(void)state;
	memset(dir, 'a', sizeof(dir) - 8);
	assert_int_equal(filename_path(path, dir, FILE_WAL, 1),
			 -ENAMETOOLONG);
	assert_int_equal(filename_path(path, "/d", FILE_OTHER, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_le),
		cmocka_unit_test(test_varint_boundaries),
		cmocka_unit_test(test_varint32),
		cmocka_unit_test(test_varint_malformed),
		cmocka_unit_test(test_varint_random),
		cmocka_unit_test(test_lenbytes),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_ikey_encode),
		cmocka_unit_test(test_ikey_order),
		cmocka_unit_test(test_ukey_cmp_words),
		cmocka_unit_test(test_ikey_seek_key),
		cmocka_unit_test(test_crc_matches_zlib),
		cmocka_unit_test(test_filename_round_trip),
		cmocka_unit_test(test_filename_strict),
		cmocka_unit_test(test_filename_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
