/* test_codec.c - unit tests of the namespace codec: numbers, name and
 * path rules, key layouts and their ordering, record round trips,
 * corrupt records, and chunk arithmetic at boundaries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "codec.h"

static void test_numbers(void **state)
{
	uint8_t b[8];

	(void)state;
	codec_put_be64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(codec_get_be64(b) == 0x0102030405060708ull);
	codec_put_le64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 8);
	assert_true(codec_get_le64(b) == 0x0102030405060708ull);
	codec_put_le32(b, 0xdeadbeef);
	assert_true(codec_get_le32(b) == 0xdeadbeef);
}

static void test_names(void **state)
{
	char longname[300];

	(void)state;
	assert_int_equal(codec_check_name("a", 1), 0);
	assert_int_equal(codec_check_name("...", 3), 0);
	assert_int_equal(codec_check_name(".hidden", 7), 0);
	assert_int_equal(codec_check_name("", 0), -EINVAL);
	assert_int_equal(codec_check_name(".", 1), -EINVAL);
	assert_int_equal(codec_check_name("..", 2), -EINVAL);
	assert_int_equal(codec_check_name("a/b", 3), -EINVAL);
	assert_int_equal(codec_check_name("a\0b", 3), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	assert_int_equal(codec_check_name(longname, 255), 0);
	assert_int_equal(codec_check_name(longname, 256), -ENAMETOOLONG);
	assert_true(codec_is_reserved(CODEC_ROOT_INO, ".lsmfs", 6));
	assert_false(codec_is_reserved(17, ".lsmfs", 6));
	assert_false(codec_is_reserved(CODEC_ROOT_INO, ".lsmfsx", 7));
}

static void test_paths(void **state)
{
	const char *p = "/a//bc/d/";
	const char *c;
	size_t len;
	char longp[600];

	(void)state;
	assert_int_equal(codec_check_path("a/b/c"), 0);
	assert_int_equal(codec_check_path("/a/b/c"), 0);
	assert_int_equal(codec_check_path("a/b/"), 0);
	assert_int_equal(codec_check_path("a"), 0);
	assert_int_equal(codec_check_path("a/.lsmfs"), 0);
	assert_int_equal(codec_check_path(""), -EINVAL);
	assert_int_equal(codec_check_path("/"), -EINVAL);
	assert_int_equal(codec_check_path("a//b"), -EINVAL);
	assert_int_equal(codec_check_path("a/./b"), -EINVAL);
	assert_int_equal(codec_check_path("a/../b"), -EINVAL);
	assert_int_equal(codec_check_path(".."), -EINVAL);
	assert_int_equal(codec_check_path("a/b//"), -EINVAL);
	assert_int_equal(codec_check_path(".lsmfs"), -EPERM);
	assert_int_equal(codec_check_path(".lsmfs/stats"), -EPERM);
	memset(longp, 'y', sizeof(longp));
	longp[256] = '\0';
	assert_int_equal(codec_check_path(longp), -ENAMETOOLONG);
	longp[255] = '/';
	assert_int_equal(codec_check_path(longp), 0);

	assert_int_equal(codec_path_next(&p, &c, &len), 1);
	assert_int_equal(len, 1);
	assert_memory_equal(c, "a", 1);
	assert_int_equal(codec_path_next(&p, &c, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(c, "bc", 2);
	assert_int_equal(codec_path_next(&p, &c, &len), 1);
	assert_memory_equal(c, "d", 1);
	assert_int_equal(codec_path_next(&p, &c, &len), 0);
}

static void test_keys(void **state)
{
	uint8_t k1[CODEC_DENTRY_KEY_MAX], k2[CODEC_DENTRY_KEY_MAX];
	uint64_t a, b;
	const char *name;
	size_t l1, l2, nlen;

	(void)state;
	l1 = codec_inode_key(k1, 1);
	assert_int_equal(l1, CODEC_INO_KEY_LEN);
	assert_int_equal(k1[0], 'i');
	assert_int_equal(k1[8], 1);
	/* Big-endian: numeric order is key order. */
	codec_inode_key(k1, 255);
	codec_inode_key(k2, 256);
	assert_true(memcmp(k1, k2, 9) < 0);
	l1 = codec_chunk_key(k1, 7, 0xff);
	l2 = codec_chunk_key(k2, 7, 0x100);
	assert_int_equal(l1, CODEC_CHUNK_KEY_LEN);
	assert_true(memcmp(k1, k2, l1) < 0);
	assert_int_equal(codec_parse_chunk_key(k2, l2, &a, &b), 0);
	assert_true(a == 7 && b == 0x100);
	assert_int_equal(codec_parse_chunk_key(k2, l2 - 1, &a, &b), -EUCLEAN);
	/* A directory's entries share one prefix, sorted by name, and
	 * sort before the next directory's. */
	l1 = codec_dentry_key(k1, 5, "zzz", 3);
	l2 = codec_dentry_key(k2, 6, "a", 1);
	assert_true(memcmp(k1, k2, l2) < 0);
	assert_int_equal(codec_parse_dentry_key(k1, l1, &a, &name, &nlen), 0);
	assert_true(a == 5 && nlen == 3);
	assert_memory_equal(name, "zzz", 3);
	assert_int_equal(codec_parse_dentry_key(k1, 9, &a, &name, &nlen),
			 -EUCLEAN);
	l1 = codec_xattr_key(k1, 9, "user.x", 6);
	assert_int_equal(l1, 15);
	assert_int_equal(k1[0], 'x');
	codec_orphan_key(k1, 42);
	assert_int_equal(codec_parse_ino_key(k1, 9, 'o', &a), 0);
	assert_true(a == 42);
	assert_int_equal(codec_parse_ino_key(k1, 9, 'i', &a), -EUCLEAN);
}

static void test_inode_roundtrip(void **state)
{
	struct codec_inode in = { 0 }, out;
	uint8_t buf[CODEC_INODE_FIXED + CODEC_SYMLINK_MAX];
	const char *t;
	size_t len, tlen;

	(void)state;
	in.mode = S_IFLNK | 0777;
	in.uid = 1000;
	in.gid = 100;
	in.nlink = 3;
	in.size = 11;
	in.alloc = 1ull << 40;
	in.rdev = 0x0801;
	in.parent = 99;
	in.atime_sec = -1;
	in.atime_nsec = 999999999;
	in.mtime_sec = 1700000000;
	in.mtime_nsec = 5;
	in.ctime_sec = INT64_MAX;
	in.ctime_nsec = 0;
	len = codec_inode_encode(buf, &in, "/some/where", 11);
	assert_int_equal(len, CODEC_INODE_FIXED + 11);
	assert_int_equal(codec_inode_decode(buf, len, &out, &t, &tlen), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(tlen, 11);
	assert_memory_equal(t, "/some/where", 11);
	/* Short record, bad version. */
	assert_int_equal(codec_inode_decode(buf, CODEC_INODE_FIXED - 1, &out,
					    NULL, NULL), -EUCLEAN);
	buf[0] = 99;
	assert_int_equal(codec_inode_decode(buf, len, &out, NULL, NULL),
			 -EUCLEAN);
}

static void test_dentry_super(void **state)
{
	struct codec_super sb = { CODEC_FORMAT_VERSION, 65536, 123456 }, sb2;
	uint8_t d[CODEC_DENTRY_LEN], s[CODEC_SUPER_LEN];
	uint64_t ino;
	uint32_t type;

	(void)state;
	codec_dentry_encode(d, 0x123456789aull, S_IFDIR | 0755);
	assert_int_equal(codec_dentry_decode(d, sizeof(d), &ino, &type), 0);
	assert_true(ino == 0x123456789aull);
	assert_int_equal(type, S_IFDIR);
	assert_int_equal(codec_dentry_decode(d, 8, &ino, &type), -EUCLEAN);
	d[8] = 0x11; /* a type byte no st_mode >> 12 gives (found by fuzzing) */
	assert_int_equal(codec_dentry_decode(d, sizeof(d), &ino, &type),
			 -EUCLEAN);
	codec_super_encode(s, &sb);
	assert_int_equal(codec_super_decode(s, sizeof(s), &sb2), 0);
	assert_int_equal(sb2.chunk_size, 65536);
	assert_true(sb2.ino_limit == 123456);
	assert_int_equal(codec_super_decode(s, sizeof(s) - 1, &sb2), -EUCLEAN);
	sb.chunk_size = 65537; /* not a power of two */
	codec_super_encode(s, &sb);
	assert_int_equal(codec_super_decode(s, sizeof(s), &sb2), -EUCLEAN);
	s[0] = 'X';
	assert_int_equal(codec_super_decode(s, sizeof(s), &sb2), -EUCLEAN);
}

static void test_chunking(void **state)
{
	const uint32_t cs = 4096;
	struct codec_span s;

	(void)state;
	s = codec_span_first(0, 10, cs);
	assert_true(s.idx == 0 && s.off == 0 && s.len == 10);
	s = codec_span_first(4095, 10, cs);
	assert_true(s.idx == 0 && s.off == 4095 && s.len == 1);
	s = codec_span_first(4096, 4096, cs);
	assert_true(s.idx == 1 && s.off == 0 && s.len == 4096);
	s = codec_span_first(8191, 1, cs);
	assert_true(s.idx == 1 && s.off == 4095 && s.len == 1);
	s = codec_span_first(16ull << 30, 1 << 20, cs); /* 16 GiB offset */
	assert_true(s.idx == (16ull << 30) / cs && s.off == 0 &&
		    s.len == cs);
	assert_true(codec_span_count(0, 0, cs) == 0);
	assert_true(codec_span_count(0, 1, cs) == 1);
	assert_true(codec_span_count(0, 4096, cs) == 1);
	assert_true(codec_span_count(0, 4097, cs) == 2);
	assert_true(codec_span_count(4095, 2, cs) == 2);
	assert_true(codec_span_count(4095, 4098, cs) == 3);
	assert_true(codec_chunks_for(0, cs) == 0);
	assert_true(codec_chunks_for(1, cs) == 1);
	assert_true(codec_chunks_for(4096, cs) == 1);
	assert_true(codec_chunks_for(4097, cs) == 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_inode_roundtrip),
		cmocka_unit_test(test_dentry_super),
		cmocka_unit_test(test_chunking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
