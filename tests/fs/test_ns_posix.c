/* test_ns_posix.c - the namespace against the local filesystem: the same
 * fallocate(2) COLLAPSE_RANGE / INSERT_RANGE / ZERO_RANGE / PUNCH_HOLE
 * calls on a file in a temporary directory (ext4 or tmpfs) and through
 * ns_fallocate on the same bytes, then the results compared: return value
 * and errno, size, contents and the SEEK_DATA/SEEK_HOLE map (ns_seek
 * against lseek).  The kernel's FUSE module refuses COLLAPSE and INSERT,
 * so this is where lsmfs's implementation of them is held to ext4's.
 * Also at this level: O_TMPFILE orphans and their naming, whiteouts, the
 * xattr name-list cap.  A local filesystem without COLLAPSE/INSERT (tmpfs)
 * skips those cases, saying so. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ns.h"
#include "support.h"

#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#define FALLOC_FL_ZERO_RANGE 0x10
#define FALLOC_FL_INSERT_RANGE 0x20
#endif

#define K 1024u
#define FSIZE (200u * K)

struct fx {
	struct tdir *d, *local;
	struct lsm_db *db;
	struct ns *ns;
	struct ns_cred cred;
	unsigned seq;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lsm_options o;
	struct ns_options no;

	f->d = tdir_new();
	f->local = tdir_new();
	f->cred.uid = 0;
	f->cred.gid = 0;
	f->cred.umask = 022;
	lsm_options_init(&o);
	assert_int_equal(lsm_open(tdir_root(f->d), &o, &f->db, NULL), 0);
	ns_options_init(&no);
	no.chunk_size = 16384; /* 4 KiB blocks inside 16 KiB chunks */
	assert_int_equal(ns_open(f->db, &no, &f->ns, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ns_close(f->ns);
	assert_int_equal(lsm_close(f->db, NULL), 0);
	tdir_free(f->d);
	tdir_free(f->local);
	free(f);
	return 0;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 7 + i / 4096) % 251 + 1); /* never 0 */
}

/* A FSIZE-byte patterned file with a hole at [64K, 96K), locally (an open
 * descriptor) and in the namespace (*INO). */
static int make_pair(struct fx *f, uint64_t *ino)
{
	uint8_t *buf = malloc(FSIZE);
	char name[32];
	struct ns_attr a;
	int fd;

	for (uint64_t i = 0; i < FSIZE; i++)
		buf[i] = pattern(i);
	snprintf(name, sizeof(name), "f%u", f->seq++);
	fd = open(tdir_path(f->local, name), O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, FSIZE, 0), (ssize_t)FSIZE);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, 64 * K, 32 * K), 0);
	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, name, S_IFREG | 0644,
				  0, &f->cred, NULL, &a, NULL), 0);
	assert_int_equal(ns_write(f->ns, a.ino, 0, buf, FSIZE, NULL), 0);
	assert_int_equal(ns_fallocate(f->ns, a.ino, FALLOC_FL_PUNCH_HOLE |
				      FALLOC_FL_KEEP_SIZE, 64 * K, 32 * K,
				      NULL), 0);
	*ino = a.ino;
	free(buf);
	return fd;
}

/* SEEK compares the SEEK_DATA/SEEK_HOLE maps too: not after ZERO_RANGE,
 * whose unwritten extents ext4 reports as data where lsmfs, which stores
 * nothing for them, has holes (README, Limitations). */
static void compare_files(struct fx *f, int fd, uint64_t ino,
			  const char *what, bool seek)
{
	struct stat st;
	struct ns_attr a;
	uint8_t *x, *y;
	size_t got;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(ns_getattr(f->ns, ino, &a, NULL), 0);
	if ((uint64_t)st.st_size != a.in.size)
		fail_msg("%s: size %lld locally, %llu in lsmfs", what,
			 (long long)st.st_size,
			 (unsigned long long)a.in.size);
	x = malloc(st.st_size + 1);
	y = malloc(st.st_size + 1);
	assert_int_equal(pread(fd, x, st.st_size, 0), st.st_size);
	assert_int_equal(ns_read(f->ns, ino, 0, st.st_size, y, &got, NULL), 0);
	assert_int_equal(got, (size_t)st.st_size);
	if (memcmp(x, y, got) != 0)
		fail_msg("%s: contents differ", what);
	for (off_t off = 0; seek && off <= st.st_size + 1; off += 4096) {
		for (int w = SEEK_DATA; w <= SEEK_HOLE; w++) {
			off_t l = lseek(fd, off, w);
			int le = l < 0 ? -errno : 0;
			uint64_t r = 0;
			int rc = ns_seek(f->ns, ino, (uint64_t)off, w, &r, NULL);

			if (le != (rc < 0 ? rc : 0) ||
			    (rc == 0 && (uint64_t)l != r))
				fail_msg("%s: lseek(%lld, %s): local %lld (%d), "
					 "lsmfs %llu (%d)", what,
					 (long long)off,
					 w == SEEK_DATA ? "DATA" : "HOLE",
					 (long long)l, le,
					 (unsigned long long)r, rc);
		}
	}
	free(x);
	free(y);
}

struct fcase {
	int mode;
	uint64_t off, len;
};

static void run_cases(struct fx *f, const struct fcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t ino;
		int fd = make_pair(f, &ino);
		int l = fallocate(fd, c[i].mode, (off_t)c[i].off,
				  (off_t)c[i].len) < 0 ? -errno : 0;
		int m = ns_fallocate(f->ns, ino, c[i].mode, c[i].off,
				     c[i].len, NULL);
		char what[96];

		snprintf(what, sizeof(what), "mode %#x off %llu len %llu",
			 c[i].mode, (unsigned long long)c[i].off,
			 (unsigned long long)c[i].len);
		if (l == -EOPNOTSUPP &&
		    (c[i].mode & (FALLOC_FL_COLLAPSE_RANGE |
				  FALLOC_FL_INSERT_RANGE))) {
			printf("SKIP %s: the local filesystem has no "
			       "COLLAPSE/INSERT_RANGE\n", what);
			close(fd);
			continue;
		}
		if (getenv("NS_POSIX_VERBOSE"))
			printf("%s: local %d lsmfs %d\n", what, l, m);
		if (l != m)
			fail_msg("%s: local %d, lsmfs %d", what, l, m);
		compare_files(f, fd, ino, what,
			      !(c[i].mode & FALLOC_FL_ZERO_RANGE));
		close(fd);
	}
}

static void test_collapse(void **state)
{
	static const struct fcase c[] = {
		{ FALLOC_FL_COLLAPSE_RANGE, 0, 4 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 4 * K, 8 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 16 * K, 16 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 12 * K, 20 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 60 * K, 8 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 68 * K, 40 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 8 * K, 180 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 196 * K, 4 * K },  /* to EOF */
		{ FALLOC_FL_COLLAPSE_RANGE, 0, 200 * K },
		{ FALLOC_FL_COLLAPSE_RANGE, 1000, 4 * K },     /* unaligned */
		{ FALLOC_FL_COLLAPSE_RANGE, 4 * K, 3000 },
		{ FALLOC_FL_COLLAPSE_RANGE, 300 * K, 4 * K },
	};

	run_cases(*state, c, sizeof(c) / sizeof(c[0]));
}

static void test_insert(void **state)
{
	static const struct fcase c[] = {
		{ FALLOC_FL_INSERT_RANGE, 0, 4 * K },
		{ FALLOC_FL_INSERT_RANGE, 4 * K, 12 * K },
		{ FALLOC_FL_INSERT_RANGE, 16 * K, 16 * K },
		{ FALLOC_FL_INSERT_RANGE, 72 * K, 20 * K },
		{ FALLOC_FL_INSERT_RANGE, 196 * K, 64 * K },
		{ FALLOC_FL_INSERT_RANGE, 200 * K, 4 * K },  /* at EOF */
		{ FALLOC_FL_INSERT_RANGE, 1000, 4 * K },
		{ FALLOC_FL_INSERT_RANGE, 4 * K, 5000 },
	};

	run_cases(*state, c, sizeof(c) / sizeof(c[0]));
}

static void test_zero_and_punch(void **state)
{
	static const struct fcase c[] = {
		{ FALLOC_FL_ZERO_RANGE, 1000, 70000 },
		{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 190 * K, 64 * K },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * K, 100 * K },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5, 7 },
		{ FALLOC_FL_KEEP_SIZE, 100 * K, 300 * K },
	};

	run_cases(*state, c, sizeof(c) / sizeof(c[0]));
}

static void test_tmpfile_orphan(void **state)
{
	struct fx *f = *state;
	struct ns_attr a, b;
	unsigned n = 0;

	assert_int_equal(ns_tmpfile(f->ns, CODEC_ROOT_INO, 0644, &f->cred, &a,
				    NULL), 0);
	assert_int_equal(a.in.nlink, 0);
	assert_int_equal(a.in.mode, S_IFREG | 0644);
	assert_int_equal(ns_write(f->ns, a.ino, 0, "abc", 3, NULL), 0);
	/* held: survives a reclaim pass, and can be named */
	assert_int_equal(ns_reclaim_orphans(f->ns, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ns_link(f->ns, a.ino, CODEC_ROOT_INO, "named", &b,
				 NULL), 0);
	assert_int_equal(b.in.nlink, 1);
	assert_int_equal(ns_close_ref(f->ns, a.ino, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "named", &b, NULL),
			 0);
	assert_int_equal(b.in.size, 3);
	/* never named: gone with its last reference */
	assert_int_equal(ns_tmpfile(f->ns, CODEC_ROOT_INO, 0600, &f->cred, &a,
				    NULL), 0);
	assert_int_equal(ns_write(f->ns, a.ino, 0, "x", 1, NULL), 0);
	assert_int_equal(ns_close_ref(f->ns, a.ino, NULL), 0);
	assert_int_equal(ns_getattr(f->ns, a.ino, &b, NULL), -ENOENT);
	assert_int_equal(ns_link(f->ns, a.ino, CODEC_ROOT_INO, "late", &b,
				 NULL), -ENOENT);
	/* never named, never released (a crash): reclaimed at "mount" */
	assert_int_equal(ns_tmpfile(f->ns, CODEC_ROOT_INO, 0600, &f->cred, &a,
				    NULL), 0);
	ns_clear_refs(f->ns);
	assert_int_equal(ns_reclaim_orphans(f->ns, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ns_getattr(f->ns, a.ino, &b, NULL), -ENOENT);
}

static void test_whiteout(void **state)
{
	struct fx *f = *state;
	struct ns_attr a, w;

	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "src", S_IFREG | 0644,
				  0, &f->cred, NULL, &a, NULL), 0);
	assert_int_equal(ns_rename2(f->ns, CODEC_ROOT_INO, "src",
				    CODEC_ROOT_INO, "dst",
				    NS_RENAME_WHITEOUT, &f->cred, NULL), 0);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "src", &w, NULL), 0);
	assert_int_equal(w.in.mode, S_IFCHR);
	assert_int_equal(w.in.rdev, 0);
	assert_int_equal(w.in.nlink, 1);
	assert_int_equal(ns_lookup(f->ns, CODEC_ROOT_INO, "dst", &w, NULL), 0);
	assert_int_equal(w.ino, a.ino);
	assert_int_equal(ns_rename2(f->ns, CODEC_ROOT_INO, "dst",
				    CODEC_ROOT_INO, "src",
				    NS_RENAME_WHITEOUT | NS_RENAME_EXCHANGE,
				    &f->cred, NULL), -EINVAL);
}

static void test_xattr_list_cap(void **state)
{
	struct fx *f = *state;
	struct ns_attr a;
	char name[256];
	size_t len, total = 0;
	int rc = 0, i;

	assert_int_equal(ns_mknod(f->ns, CODEC_ROOT_INO, "x", S_IFREG | 0644,
				  0, &f->cred, NULL, &a, NULL), 0);
	for (i = 0; rc == 0; i++) {
		snprintf(name, sizeof(name), "user.%0245d", i);
		rc = ns_setxattr(f->ns, a.ino, name, "", 0, 0, NULL);
		if (rc == 0)
			total += strlen(name) + 1;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(total <= NS_XATTR_LIST_MAX);
	assert_true(total + strlen(name) + 1 > NS_XATTR_LIST_MAX);
	assert_int_equal(ns_listxattr(f->ns, a.ino, NULL, 0, &len, NULL), 0);
	assert_int_equal(len, total);
	/* replacing an existing name adds nothing to the list */
	snprintf(name, sizeof(name), "user.%0245d", 0);
	assert_int_equal(ns_setxattr(f->ns, a.ino, name, "v", 1, 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_collapse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_and_punch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tmpfile_orphan, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_whiteout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr_list_cap, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
