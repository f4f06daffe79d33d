/* test_ns.c - unit tests of the namespace library (fs/ns.h) over an
 * engine: files and directories, data at chunk boundaries, sparse holes,
 * truncation, rename rules, hard links, open-unlinked files and orphans,
 * xattrs, symlinks, the path API, and a random model check of reads and
 * writes, over liblsm. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "codec.h"
#include "ns.h"
#include "support.h"

#define CS 4096u

struct fx {
	struct tdir *d;
	struct lsm_db *db;
	struct ns *ns;
	struct ns_cred cred;
};

static void open_all(struct fx *f)
{
	struct lsm_options o;
	struct ns_options no;
	struct lsm_err err = { 0 };
	int rc;

	lsm_options_init(&o);
	rc = lsm_open(tdir_root(f->d), &o, &f->db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	ns_options_init(&no);
	no.chunk_size = CS;
	rc = ns_open(f->db, &no, &f->ns, &err);
	if (rc)
		fprintf(stderr, "ns_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

static void close_all(struct fx *f)
{
	ns_close(f->ns);
	assert_int_equal(lsm_close(f->db, NULL), 0);
	f->ns = NULL;
	f->db = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->d = tdir_new();
	f->cred.uid = 1000;
	f->cred.gid = 1000;
	f->cred.umask = 022;
	open_all(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close_all(f);
	tdir_free(f->d);
	free(f);
	return 0;
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name,
		   uint32_t mode)
{
	struct ns_attr a;

	assert_int_equal(ns_mknod(f->ns, dir, name, mode, 0, &f->cred, NULL,
				  &a, NULL), 0);
	return a.ino;
}

static void test_root_and_create(void **state)
{
	struct fx *f = *state;
	struct ns_attr a, b;
	uint64_t ino;

	assert_int_equal(ns_getattr(f->ns, CODEC_ROOT_INO, &a, NULL), 0);
	assert_true(S_ISDIR(a.in.mode));
	assert_int_equal(a.in.nlink, 2);
	ino = mk(f, 1, "f", S_IFREG | 0666);
	assert_true(ino >= CODEC_FIRST_INO);
	assert_int_equal(ns_lookup(f->ns, 1, "f", &b, NULL), 0);
	assert_true(b.ino == ino);
	assert_int_equal(b.in.mode, S_IFREG | 0644); /* umask */
	assert_int_equal(b.in.uid, 1000);
	assert_int_equal(ns_mknod(f->ns, 1, "f", S_IFREG | 0644, 0, &f->cred,
				  NULL, &a, NULL), -EEXIST);
	assert_int_equal(ns_mknod(f->ns, 1, ".lsmfs", S_IFREG | 0644, 0,
				  &f->cred, NULL, &a, NULL), -EEXIST);
	assert_int_equal(ns_mknod(f->ns, 1, "a/b", S_IFREG, 0, &f->cred,
				  NULL, &a, NULL), -EINVAL);
	assert_int_equal(ns_mknod(f->ns, ino, "x", S_IFREG, 0, &f->cred,
				  NULL, &a, NULL), -ENOTDIR);
	assert_int_equal(ns_lookup(f->ns, 1, "nope", &a, NULL), -ENOENT);
	mk(f, 1, "d", S_IFDIR | 0777);
	assert_int_equal(ns_getattr(f->ns, 1, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 3);
}

static void rd(struct fx *f, uint64_t ino, uint64_t off, size_t len,
	       void *buf, size_t expect)
{
	size_t got = 12345;

	assert_int_equal(ns_read(f->ns, ino, off, len, buf, &got, NULL), 0);
	assert_int_equal(got, expect);
}

static void test_data_boundaries(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "data", S_IFREG | 0644);
	static uint8_t buf[3 * CS], out[3 * CS], zero[3 * CS];
	struct ns_attr a;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	/* Straddle the first boundary. */
	assert_int_equal(ns_write(f->ns, ino, CS - 3, buf, 6, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.size == CS + 3);
	rd(f, ino, 0, sizeof(out), out, CS + 3);
	assert_memory_equal(out, zero, CS - 3);
	assert_memory_equal(out + CS - 3, buf, 6);
	/* Whole chunks plus partial ends. */
	assert_int_equal(ns_write(f->ns, ino, 10, buf, 2 * CS + 5, NULL), 0);
	rd(f, ino, 10, 2 * CS + 5, out, 2 * CS + 5);
	assert_memory_equal(out, buf, 2 * CS + 5);
	rd(f, ino, 0, 10, out, 10);
	assert_memory_equal(out, zero, 10);
	/* Reads at and past EOF. */
	rd(f, ino, 2 * CS + 15, 100, out, 0);
	rd(f, ino, 1ull << 40, 100, out, 0);
	rd(f, ino, 2 * CS + 14, 100, out, 1);
}

static void test_sparse_and_truncate(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "sparse", S_IFREG | 0644);
	static uint8_t out[2 * CS], zero[2 * CS];
	struct ns_setattr s = { .valid = NS_SET_SIZE };
	struct ns_attr a;
	uint64_t far = 16ull << 30; /* 16 GiB */

	assert_int_equal(ns_write(f->ns, ino, far, "end", 3, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_true(a.in.size == far + 3);
	assert_true(a.in.alloc == 3); /* one short chunk */
	rd(f, ino, 12345678, sizeof(out), out, sizeof(out));
	assert_memory_equal(out, zero, sizeof(out));
	rd(f, ino, far - 2, 10, out, 5);
	assert_memory_equal(out, "\0\0end", 5);
	/* Down into the middle of a chunk, then up: the tail reads zeros. */
	assert_int_equal(ns_write(f->ns, ino, 0, "abcdefgh", 8, NULL), 0);
	s.size = 4;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_true(a.in.size == 4 && a.in.alloc == 4);
	s.size = 100;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	rd(f, ino, 0, 100, out, 100);
	assert_memory_equal(out, "abcd", 4);
	assert_memory_equal(out + 4, zero, 96);
	/* Write past EOF after a shrink: the gap is zeros. */
	s.size = 2;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_int_equal(ns_write(f->ns, ino, 6, "Z", 1, NULL), 0);
	rd(f, ino, 0, 10, out, 7);
	assert_memory_equal(out, "ab\0\0\0\0Z", 7);
	s.size = 0;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_true(a.in.alloc == 0);
}

/* Truncation to 0 deletes a small file's chunks by key and a large one's
 * by a scan; either way nothing old reads back after growing again, and
 * a truncation inside the last chunk deletes nothing. */
static void test_truncate_paths(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[100 * CS], out[100 * CS];
	struct ns_setattr s = { .valid = NS_SET_SIZE };
	const size_t sizes[] = { 3 * CS + 5, 100 * CS }; /* < and > 64 */
	struct ns_attr a;

	memset(buf, 0xab, sizeof(buf));
	for (size_t i = 0; i < 2; i++) {
		char name[16];
		uint64_t ino;

		snprintf(name, sizeof(name), "t%zu", i);
		ino = mk(f, 1, name, S_IFREG | 0644);
		assert_int_equal(ns_write(f->ns, ino, 0, buf, sizes[i], NULL),
				 0);
		s.size = sizes[i] - 1; /* same last chunk */
		assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
		assert_true(a.in.alloc == sizes[i] - 1);
		s.size = 0;
		assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
		assert_true(a.in.size == 0 && a.in.alloc == 0);
		s.size = sizes[i];
		assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
		assert_true(a.in.alloc == 0);
		memset(out, 1, sizeof(out));
		rd(f, ino, 0, sizes[i], out, sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(out[j], 0);
	}
}

static void test_dirs(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk(f, 1, "dir", S_IFDIR | 0755);
	uint64_t sub = mk(f, d, "sub", S_IFDIR | 0755);
	struct ns_attr a;

	mk(f, sub, "file", S_IFREG | 0644);
	assert_int_equal(ns_getattr(f->ns, d, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 3);
	assert_int_equal(ns_rmdir(f->ns, d, "sub", NULL), -ENOTEMPTY);
	assert_int_equal(ns_unlink(f->ns, d, "sub", NULL), -EISDIR);
	assert_int_equal(ns_rmdir(f->ns, sub, "file", NULL), -ENOTDIR);
	assert_int_equal(ns_unlink(f->ns, sub, "file", NULL), 0);
	assert_int_equal(ns_rmdir(f->ns, d, "sub", NULL), 0);
	assert_int_equal(ns_getattr(f->ns, sub, &a, NULL), -ENOENT);
	assert_int_equal(ns_getattr(f->ns, d, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 2);
	assert_int_equal(ns_rmdir(f->ns, d, "sub", NULL), -ENOENT);
}

struct names {
	char buf[64][32];
	int n;
};

static int collect(void *ctx, const struct ns_dirent *d)
{
	struct names *n = ctx;

	snprintf(n->buf[n->n++], 32, "%.*s", (int)d->nlen, d->name);
	return 0;
}

static void test_readdir(void **state)
{
	struct fx *f = *state;
	uint64_t d = mk(f, 1, "ls", S_IFDIR | 0755);
	uint64_t other = mk(f, 1, "lt", S_IFDIR | 0755);
	struct names n = { .n = 0 };

	mk(f, d, "b", S_IFREG | 0644);
	mk(f, d, "a", S_IFREG | 0644);
	mk(f, d, "c", S_IFDIR | 0755);
	mk(f, other, "zz", S_IFREG | 0644);
	assert_int_equal(ns_readdir(f->ns, d, NULL, collect, &n, NULL), 0);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.buf[0], "a");
	assert_string_equal(n.buf[1], "b");
	assert_string_equal(n.buf[2], "c");
	n.n = 0;
	assert_int_equal(ns_readdir(f->ns, d, "a", collect, &n, NULL), 0);
	assert_int_equal(n.n, 2);
	assert_string_equal(n.buf[0], "b");
}

static void test_rename(void **state)
{
	struct fx *f = *state;
	uint64_t a = mk(f, 1, "ra", S_IFREG | 0644);
	uint64_t b = mk(f, 1, "rb", S_IFREG | 0644);
	uint64_t d1 = mk(f, 1, "rd1", S_IFDIR | 0755);
	uint64_t d2 = mk(f, 1, "rd2", S_IFDIR | 0755);
	uint64_t in1 = mk(f, d1, "inner", S_IFDIR | 0755);
	struct ns_attr at;

	assert_int_equal(ns_write(f->ns, b, 0, "old", 3, NULL), 0);
	/* Over an existing file: the victim goes. */
	assert_int_equal(ns_rename(f->ns, 1, "ra", 1, "rb", 0, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "rb", &at, NULL), 0);
	assert_true(at.ino == a);
	assert_int_equal(ns_lookup(f->ns, 1, "ra", &at, NULL), -ENOENT);
	assert_int_equal(ns_getattr(f->ns, b, &at, NULL), -ENOENT);
	/* Type mismatches, non-empty target, own subtree. */
	assert_int_equal(ns_rename(f->ns, 1, "rb", 1, "rd1", 0, NULL), -EISDIR);
	assert_int_equal(ns_rename(f->ns, 1, "rd1", 1, "rb", 0, NULL), -ENOTDIR);
	assert_int_equal(ns_rename(f->ns, 1, "rd2", 1, "rd1", 0, NULL),
			 -ENOTEMPTY);
	assert_int_equal(ns_rename(f->ns, 1, "rd1", in1, "x", 0, NULL), -EINVAL);
	assert_int_equal(ns_rename(f->ns, 1, "rb", 1, "rd2", NS_RENAME_NOREPLACE,
				   NULL), -EEXIST);
	assert_int_equal(ns_rename(f->ns, 1, "nope", 1, "x", 0, NULL), -ENOENT);
	/* A directory moves with its subtree; link counts follow. */
	assert_int_equal(ns_rename(f->ns, 1, "rd1", d2, "moved", 0, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, d2, "moved", &at, NULL), 0);
	assert_true(at.ino == d1 && at.in.parent == d2);
	assert_int_equal(ns_lookup(f->ns, d1, "inner", &at, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, d2, &at, NULL), 0);
	assert_int_equal(at.in.nlink, 3);
	assert_int_equal(ns_getattr(f->ns, 1, &at, NULL), 0);
	/* Over an empty directory. */
	mk(f, 1, "empty", S_IFDIR | 0755);
	assert_int_equal(ns_rename(f->ns, d2, "moved", 1, "empty", 0, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "empty", &at, NULL), 0);
	assert_true(at.ino == d1);
	/* Exchange. */
	assert_int_equal(ns_rename(f->ns, 1, "rb", 1, "empty",
				   NS_RENAME_EXCHANGE, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "rb", &at, NULL), 0);
	assert_true(at.ino == d1);
	assert_int_equal(ns_lookup(f->ns, 1, "empty", &at, NULL), 0);
	assert_true(at.ino == a);
	/* Same inode: nothing happens. */
	assert_int_equal(ns_link(f->ns, a, 1, "alias", NULL, NULL), 0);
	assert_int_equal(ns_rename(f->ns, 1, "alias", 1, "empty", 0, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, 1, "alias", &at, NULL), 0);
}

static void test_links_and_orphans(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "h1", S_IFREG | 0644);
	uint64_t d = mk(f, 1, "hd", S_IFDIR | 0755);
	struct ns_attr a;
	char buf[8];
	unsigned n;
	size_t got;

	assert_int_equal(ns_write(f->ns, ino, 0, "hello", 5, NULL), 0);
	assert_int_equal(ns_link(f->ns, ino, d, "h2", &a, NULL), 0);
	assert_int_equal(a.in.nlink, 2);
	assert_int_equal(ns_link(f->ns, d, 1, "dl", &a, NULL), -EPERM);
	assert_int_equal(ns_unlink(f->ns, 1, "h1", NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 1);
	/* Open, unlink the last name: still readable and writable. */
	ns_open_ref(f->ns, ino);
	assert_int_equal(ns_unlink(f->ns, d, "h2", NULL), 0);
	assert_int_equal(ns_write(f->ns, ino, 5, "!", 1, NULL), 0);
	rd(f, ino, 0, 8, buf, 6);
	assert_memory_equal(buf, "hello!", 6);
	assert_int_equal(ns_reclaim_orphans(f->ns, &n, NULL), 0);
	assert_int_equal(n, 0); /* still open */
	assert_int_equal(ns_close_ref(f->ns, ino, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), -ENOENT);
	assert_int_equal(ns_read(f->ns, ino, 0, 8, buf, &got, NULL), -ENOENT);
}

/* Keys of kind K of INO left in the store. */
static unsigned keys_of(struct fx *f, char k, uint64_t ino)
{
	uint8_t p[16];
	size_t plen = codec_prefix(p, k, ino), klen;
	struct lsm_iter *it;
	unsigned n = 0;

	assert_int_equal(lsm_iter_new(f->db, NULL, &it, NULL), 0);
	for (lsm_iter_seek(it, p, plen); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		const void *key = lsm_iter_key(it, &klen);

		if (klen < plen || memcmp(key, p, plen) != 0)
			break;
		n++;
	}
	lsm_iter_free(it);
	return n;
}

/* A reclaim deletes every chunk whichever way it goes: by key for a file
 * of at most 64 chunks (holes included), by a scan past that, nothing
 * for an empty file; xattrs and the inode record with them, at unlink or
 * at the last close, and from tables as from the memtable. */
static void test_reclaim_paths(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[100 * CS];
	/* offset, length: empty, a byte, 3 chunks and 5 bytes, one chunk at
	 * index 50 after a hole, exactly 64 chunks, 100 chunks */
	const uint64_t w[][2] = { { 0, 0 }, { 0, 1 }, { 0, 3 * CS + 5 },
				  { 50 * CS, CS }, { 0, 64 * CS },
				  { 0, 100 * CS } };
	const size_t nw = sizeof(w) / sizeof(w[0]);
	uint64_t inos[2 * 6];
	struct ns_attr a;

	memset(buf, 0x5a, sizeof(buf));
	for (size_t i = 0; i < 2 * nw; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%zu", i);
		inos[i] = mk(f, 1, name, S_IFREG | 0644);
		if (w[i % nw][1])
			assert_int_equal(ns_write(f->ns, inos[i], w[i % nw][0],
						  buf, w[i % nw][1], NULL), 0);
		assert_int_equal(ns_setxattr(f->ns, inos[i], "user.k", "v", 1,
					     0, NULL), 0);
		assert_int_equal(keys_of(f, CODEC_K_CHUNK, inos[i]),
				 (unsigned)((w[i % nw][1] + CS - 1) / CS));
	}
	/* after a reopen, as after a restart */
	close_all(f);
	open_all(f);
	for (size_t i = 0; i < 2 * nw; i++) {
		char name[16];
		bool held = i % 2 == 1; /* reclaimed at its last close */

		snprintf(name, sizeof(name), "r%zu", i);
		if (held)
			ns_open_ref(f->ns, inos[i]);
		assert_int_equal(ns_unlink(f->ns, 1, name, NULL), 0);
		if (held) {
			assert_int_equal(ns_getattr(f->ns, inos[i], &a, NULL),
					 0);
			assert_int_equal(ns_close_ref(f->ns, inos[i], NULL),
					 0);
		}
		assert_int_equal(ns_getattr(f->ns, inos[i], &a, NULL),
				 -ENOENT);
		assert_int_equal(keys_of(f, CODEC_K_CHUNK, inos[i]), 0);
		assert_int_equal(keys_of(f, CODEC_K_XATTR, inos[i]), 0);
		assert_int_equal(keys_of(f, CODEC_K_ORPHAN, inos[i]), 0);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The reference table holds as many inodes as the kernel knows (it grows
 * from 1024 buckets): every reference is counted, listed and dropped
 * right across the growths, and an orphan referenced among 150,000
 * others lives exactly as long as its reference. */
static void test_many_refs(void **state)
{
	struct fx *f = *state;
	const uint64_t n = 150000, base = 1ull << 40; /* no records there */
	uint64_t ino = mk(f, 1, "kept", S_IFREG | 0644);
	struct ns_attr a;
	uint64_t *list;
	size_t got;

	assert_int_equal(ns_write(f->ns, ino, 0, "data", 4, NULL), 0);
	ns_open_handle(f->ns, ino, NULL);
	for (uint64_t i = 0; i < n; i++) {
		ns_open_ref(f->ns, base + i * 7);
		if (i % 3 == 0)
			ns_open_ref(f->ns, base + i * 7);
	}
	assert_int_equal(ns_unlink(f->ns, 1, "kept", NULL), 0);
	assert_true(ns_has_handle(f->ns, ino));
	assert_false(ns_has_handle(f->ns, base));

	list = ns_referenced(f->ns, &got);
	assert_non_null(list);
	assert_int_equal(got, n + 1);
	qsort(list, got, sizeof(*list), cmp_u64);
	assert_int_equal(list[0], ino);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(list[i + 1], base + i * 7);
	free(list);

	/* One drop each: those referenced twice stay. */
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(ns_close_ref(f->ns, base + i * 7, NULL), 0);
	list = ns_referenced(f->ns, &got);
	assert_non_null(list);
	assert_int_equal(got, 1 + (n + 2) / 3);
	qsort(list, got, sizeof(*list), cmp_u64);
	for (uint64_t i = 0; i < n; i += 3)
		assert_int_equal(list[1 + i / 3], base + i * 7);
	free(list);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	for (uint64_t i = 0; i < n; i += 3)
		assert_int_equal(ns_unref(f->ns, base + i * 7, 1, NULL), 0);
	list = ns_referenced(f->ns, &got);
	assert_int_equal(got, 1);
	assert_int_equal(list[0], ino);
	free(list);

	/* The orphan goes with its last reference. */
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(ns_close_handle(f->ns, ino, NULL), 0);
	assert_false(ns_has_handle(f->ns, ino));
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), -ENOENT);
	assert_null(ns_referenced(f->ns, &got));
	assert_int_equal(got, 0);

	/* Cleared, the table works again from nothing. */
	ns_open_handle(f->ns, base, NULL);
	ns_clear_refs(f->ns);
	assert_false(ns_has_handle(f->ns, base));
	assert_null(ns_referenced(f->ns, &got));
	ns_open_handle(f->ns, base, NULL);
	assert_true(ns_has_handle(f->ns, base));
	assert_int_equal(ns_close_handle(f->ns, base, NULL), 0);
	assert_false(ns_has_handle(f->ns, base));
	assert_null(ns_referenced(f->ns, &got));
}

static void test_xattr_symlink(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "x", S_IFREG | 0644);
	struct ns_attr a;
	char buf[64];
	size_t len;

	assert_int_equal(ns_setxattr(f->ns, ino, "user.a", "1", 1, 0, NULL), 0);
	assert_int_equal(ns_setxattr(f->ns, ino, "user.b", "22", 2, 0, NULL), 0);
	assert_int_equal(ns_setxattr(f->ns, ino, "user.a", "x", 1,
				     NS_XATTR_CREATE, NULL), -EEXIST);
	assert_int_equal(ns_setxattr(f->ns, ino, "user.c", "x", 1,
				     NS_XATTR_REPLACE, NULL), -ENODATA);
	assert_int_equal(ns_getxattr(f->ns, ino, "user.b", buf, sizeof(buf),
				     &len, NULL), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "22", 2);
	assert_int_equal(ns_getxattr(f->ns, ino, "user.b", NULL, 0, &len,
				     NULL), 0);
	assert_int_equal(len, 2);
	assert_int_equal(ns_getxattr(f->ns, ino, "user.b", buf, 1, &len,
				     NULL), -ERANGE);
	assert_int_equal(ns_listxattr(f->ns, ino, buf, sizeof(buf), &len,
				      NULL), 0);
	assert_int_equal(len, 14);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	assert_int_equal(ns_removexattr(f->ns, ino, "user.a", NULL), 0);
	assert_int_equal(ns_removexattr(f->ns, ino, "user.a", NULL), -ENODATA);
	assert_int_equal(ns_getxattr(f->ns, ino, "user.a", buf, sizeof(buf),
				     &len, NULL), -ENODATA);
	assert_int_equal(ns_mknod(f->ns, 1, "ln", 0, 0, &f->cred, "../target",
				  &a, NULL), 0);
	assert_true(S_ISLNK(a.in.mode) && a.in.size == 9);
	assert_int_equal(ns_readlink(f->ns, a.ino, buf, sizeof(buf), &len,
				     NULL), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "../target", 9);
	assert_int_equal(ns_readlink(f->ns, ino, buf, sizeof(buf), &len,
				     NULL), -EINVAL);
}

/* Reads of three chunks or more walk the chunk range with one iterator:
 * every alignment over full chunks, a short chunk, holes and the next
 * file's chunks reads as a byte model says. */
static void test_read_ranges(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "r", S_IFREG | 0644);
	uint64_t next = mk(f, 1, "r2", S_IFREG | 0644);
	static uint8_t model[8 * CS], out[8 * CS], data[8 * CS];
	size_t got;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	/* chunks 0, 1 full; 2 short (written up to CS / 2, then a hole up
	 * to chunk 4); 4, 5 full; 6 a hole; size ends inside chunk 7 */
	assert_int_equal(ns_write(f->ns, ino, 0, data, 2 * CS + CS / 2, NULL),
			 0);
	assert_int_equal(ns_write(f->ns, ino, 4 * CS, data + 4 * CS, 2 * CS,
				  NULL), 0);
	assert_int_equal(ns_write(f->ns, ino, 7 * CS + 10, "tail", 4, NULL), 0);
	assert_int_equal(ns_write(f->ns, next, 0, "other", 5, NULL), 0);
	memcpy(model, data, 2 * CS + CS / 2);
	memcpy(model + 4 * CS, data + 4 * CS, 2 * CS);
	memcpy(model + 7 * CS + 10, "tail", 4);
	for (uint64_t off = 0; off < 7 * CS; off += CS / 4 + 3) {
		for (size_t len = 2 * CS; len < 5 * CS; len += CS - 5) {
			size_t want = off + len > 7 * CS + 14 ?
				      (size_t)(7 * CS + 14 - off) : len;

			memset(out, 0xee, sizeof(out));
			assert_int_equal(ns_read(f->ns, ino, off, len, out,
						 &got, NULL), 0);
			assert_int_equal(got, want);
			assert_memory_equal(out, model + off, want);
		}
	}
}

/* Privilege killing in the batch of the change (FUSE_HANDLE_KILLPRIV_V2
 * leaves it to lsmfs): set-user-ID, set-group-ID when group-executable
 * (or with NS_SET_KILL_SGID), security.capability. */
static void test_kill_privs(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "s", S_IFREG | 0644);
	struct ns_setattr s = { .valid = NS_SET_MODE, .mode = 06755 };
	struct ns_attr a;
	char buf[8];
	size_t len;

	assert_int_equal(ns_setattr(f->ns, ino, &s, NULL, NULL), 0);
	assert_int_equal(ns_setxattr(f->ns, ino, "security.capability", "c",
				     1, 0, NULL), 0);
	/* no kill asked: nothing goes */
	assert_int_equal(ns_write_kill(f->ns, ino, 0, "a", 1, 0, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 06755);
	/* capability only */
	assert_int_equal(ns_write_kill(f->ns, ino, 1, "b", 1,
				       NS_SET_KILL_CAPS, NULL), 1);
	assert_int_equal(ns_getxattr(f->ns, ino, "security.capability", buf,
				     sizeof(buf), &len, NULL), -ENODATA);
	assert_int_equal(ns_write_kill(f->ns, ino, 2, "c", 1,
				       NS_SET_KILL_CAPS, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 06755);
	assert_int_equal(a.in.size, 3);
	/* set-user-ID and group-executable set-group-ID */
	assert_int_equal(ns_write_kill(f->ns, ino, 3, "d", 1,
				       NS_SET_KILL_SUIDGID, NULL), 1);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 0755);
	assert_int_equal(a.in.size, 4);
	/* set-group-ID without group execute stays unless KILL_SGID */
	s.mode = 02745;
	assert_int_equal(ns_setattr(f->ns, ino, &s, NULL, NULL), 0);
	assert_int_equal(ns_write_kill(f->ns, ino, 0, "e", 1,
				       NS_SET_KILL_SUIDGID, NULL), 0);
	s.valid = NS_SET_SIZE | NS_SET_KILL_SUIDGID | NS_SET_KILL_SGID;
	s.size = 1;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 0745);
	assert_int_equal(a.in.size, 1);
	/* chown clears them, changed owner or not; not with a mode given */
	s.valid = NS_SET_MODE;
	s.mode = 06755;
	assert_int_equal(ns_setattr(f->ns, ino, &s, NULL, NULL), 0);
	assert_int_equal(ns_setxattr(f->ns, ino, "security.capability", "c",
				     1, 0, NULL), 0);
	s.valid = NS_SET_UID | NS_SET_KILL_CAPS;
	s.uid = 1000;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 0755);
	assert_int_equal(ns_getxattr(f->ns, ino, "security.capability", buf,
				     sizeof(buf), &len, NULL), -ENODATA);
	s.valid = NS_SET_UID | NS_SET_MODE;
	s.mode = 06711;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 06711);
	/* directories keep theirs */
	ino = mk(f, 1, "sd", S_IFDIR | 02775);
	s.valid = NS_SET_GID | NS_SET_KILL_CAPS;
	s.gid = 5;
	assert_int_equal(ns_setattr(f->ns, ino, &s, &a, NULL), 0);
	assert_int_equal(a.in.mode & 07777, 02755);
}

static void test_paths(void **state)
{
	struct fx *f = *state;
	struct names n = { .n = 0 };
	struct ns_attr a;
	void *data;
	size_t len;

	assert_int_equal(ns_put_path(f->ns, "p/q/r", "value", 5, &f->cred,
				     NULL), 0);
	assert_int_equal(ns_get_path(f->ns, "p/q/r", &data, &len, NULL), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "value", 5);
	free(data);
	assert_int_equal(ns_put_path(f->ns, "/p/q/r", "v2", 2, &f->cred,
				     NULL), 0);
	assert_int_equal(ns_get_path(f->ns, "p/q/r", &data, &len, NULL), 0);
	assert_int_equal(len, 2);
	free(data);
	assert_int_equal(ns_put_path(f->ns, "p/q/r/s", "x", 1, &f->cred,
				     NULL), -ENOTDIR);
	assert_int_equal(ns_put_path(f->ns, "p/q", "x", 1, &f->cred, NULL),
			 -EISDIR);
	assert_int_equal(ns_put_path(f->ns, ".lsmfs/x", "x", 1, &f->cred,
				     NULL), -EPERM);
	assert_int_equal(ns_put_path(f->ns, "p/../x", "x", 1, &f->cred,
				     NULL), -EINVAL);
	assert_int_equal(ns_get_path(f->ns, "p/q", &data, &len, NULL), -EISDIR);
	assert_int_equal(ns_get_path(f->ns, "p/zz", &data, &len, NULL),
			 -ENOENT);
	assert_int_equal(ns_list_path(f->ns, "p", collect, &n, NULL), 0);
	assert_int_equal(n.n, 1);
	assert_string_equal(n.buf[0], "q");
	assert_int_equal(ns_resolve(f->ns, "p/q", &a, NULL), 0);
	assert_true(S_ISDIR(a.in.mode));
	assert_int_equal(ns_delete_path(f->ns, "p/q", NULL), -ENOTEMPTY);
	assert_int_equal(ns_delete_path(f->ns, "p/q/r", NULL), 0);
	assert_int_equal(ns_delete_path(f->ns, "p/q", NULL), 0);
	assert_int_equal(ns_resolve(f->ns, "p/q", &a, NULL), -ENOENT);
}

static void test_reopen(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "persist", S_IFREG | 0644), ino2;
	struct ns_attr a;
	char buf[8];

	assert_int_equal(ns_write(f->ns, ino, 0, "kept", 4, NULL), 0);
	close_all(f);
	open_all(f);
	assert_int_equal(ns_lookup(f->ns, 1, "persist", &a, NULL), 0);
	assert_true(a.ino == ino);
	rd(f, ino, 0, 8, buf, 4);
	assert_memory_equal(buf, "kept", 4);
	ino2 = mk(f, 1, "later", S_IFREG | 0644);
	assert_true(ino2 > ino); /* numbers are never reused */
}

/* ns_store_is_lsmfs tells an lsmfs store from its files, unopened: one
 * formatted since its last flush (the superblock in the log only), one
 * flushed (in a table), and not a plain engine store, an empty or a
 * missing directory. */
static void test_store_is_lsmfs(void **state)
{
	struct fx *f = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char plain[512];

	close_all(f); /* formatted, not flushed: the log holds it all */
	assert_true(ns_store_is_lsmfs(tdir_root(f->d)));
	open_all(f);
	assert_int_equal(lsm_flush(f->db, NULL), 0);
	close_all(f);
	assert_true(ns_store_is_lsmfs(tdir_root(f->d)));
	open_all(f);

	snprintf(plain, sizeof(plain), "%s/plain", tdir_root(f->d));
	assert_false(ns_store_is_lsmfs(plain)); /* missing */
	lsm_options_init(&o);
	assert_int_equal(lsm_open(plain, &o, &db, NULL), 0);
	assert_int_equal(lsm_put(db, "\0sa", 3, "x", 1, NULL), 0);
	assert_int_equal(lsm_put(db, "key", 3, "x", 1, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_false(ns_store_is_lsmfs(plain)); /* in the log */
	assert_int_equal(lsm_open(plain, &o, &db, NULL), 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_false(ns_store_is_lsmfs(plain)); /* in a table */
}

/* Random writes/truncates/reads checked against a flat buffer. */
static void test_random_model(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mk(f, 1, "model", S_IFREG | 0644);
	const size_t max = 6 * CS + 123;
	uint8_t *model = calloc(1, max), *buf = malloc(max), *out = malloc(max);
	size_t size = 0, got;
	struct rng r;

	rng_init(&r, "test_ns random model", 0);
	for (int i = 0; i < 2000; i++) {
		uint64_t op = rng_below(&r, 10);
		size_t off = (size_t)rng_below(&r, max);
		size_t len = (size_t)rng_below(&r, max - off + 1);

		if (rng_below(&r, 2))
			len = len % (CS / 2);
		if (op < 5) {
			rng_bytes(&r, buf, len);
			assert_int_equal(ns_write(f->ns, ino, off, buf, len,
						  NULL), 0);
			memcpy(model + off, buf, len);
			if (len && off + len > size)
				size = off + len;
		} else if (op < 7) {
			struct ns_setattr s = { .valid = NS_SET_SIZE,
						.size = off };

			assert_int_equal(ns_setattr(f->ns, ino, &s, NULL, NULL),
					 0);
			if (off < size)
				memset(model + off, 0, size - off);
			size = off;
		} else {
			assert_int_equal(ns_read(f->ns, ino, off, len, out,
						 &got, NULL), 0);
			assert_int_equal(got, off >= size ? 0 :
					 (off + len > size ? size - off : len));
			assert_memory_equal(out, model + off, got);
		}
	}
	assert_int_equal(ns_read(f->ns, ino, 0, max, out, &got, NULL), 0);
	assert_int_equal(got, size);
	assert_memory_equal(out, model, size);
	free(model);
	free(buf);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_root_and_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_is_lsmfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_and_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_and_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_privs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
