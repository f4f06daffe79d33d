/* test_mmap.c - mapped tables: lsm_options.mmap_reads (blocks used in the
 * mapping) and map_tables (the default: blocks copied out of it).
 * Lookups and iterators over mapped tables (raw and compressed blocks,
 * before and after compactions) give exactly what the pread path gives; a
 * damaged data block in a mapped table is an error (-EBADMSG), never a
 * crash or wrong bytes; and a table cut short behind an open store fails
 * its reads with -EIO instead of killing the process with SIGBUS (a
 * SIGBUS outside the engine's copies still reaches the program's own
 * handler).  Lookups check a block's checksum at every read, so damage
 * that appears in a table after its blocks were read once is still found
 * (in every mode). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "mapcopy.h"
#include "support.h"

#define NKEYS 20000

/* How tables are read. */
enum mode { PREAD, COPY, ZERO_COPY };

static struct lsm_db *open_mode(const char *dir, enum mode m, bool zlib)
{
	struct lsm_options o;
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	int rc;

	lsm_options_init(&o);
	o.mmap_reads = m == ZERO_COPY;
	o.map_tables = m == COPY;
	o.memtable_bytes = 256u << 10; /* several tables and levels */
	o.table_bytes = 128u << 10;
	o.cache_bytes = 64u << 10;
	o.compression = zlib ? LSM_COMPRESS_ZLIB : LSM_COMPRESS_NONE;
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return db;
}

static struct lsm_db *open_db(const char *dir, bool map, bool zlib)
{
	return open_mode(dir, map ? ZERO_COPY : PREAD, zlib);
}

static size_t key_of(int i, char *k)
{
	return (size_t)sprintf(k, "k%07d", i);
}

/* Version VER of key I's value (lengths vary, some compress well). */
static size_t value_of(int i, int ver, char *v)
{
	size_t n = 20 + (size_t)((i * 7 + ver * 13) % 150);

	for (size_t j = 0; j < n; j++)
		v[j] = (i % 3) ? (char)('a' + (i + ver + (int)j) % 26) : 'z';
	return n;
}

/* Keys divisible by 5 deleted, by 3 overwritten (version 1). */
static void fill(struct lsm_db *db)
{
	char k[16], v[200];

	for (int i = 0; i < NKEYS; i++) {
		size_t kl = key_of(i, k), vl = value_of(i, 0, v);

		assert_int_equal(lsm_put(db, k, kl, v, vl, NULL), 0);
	}
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (int i = 0; i < NKEYS; i += 3) {
		size_t kl = key_of(i, k), vl = value_of(i, 1, v);

		assert_int_equal(lsm_put(db, k, kl, v, vl, NULL), 0);
	}
	for (int i = 0; i < NKEYS; i += 5) {
		size_t kl = key_of(i, k);

		assert_int_equal(lsm_delete(db, k, kl, NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
}

static bool live(int i)
{
	return i % 5 != 0;
}

static int version(int i)
{
	return i % 3 == 0 ? 1 : 0;
}

/* Looks up every key: each lookup gives the right value (or none, for a
 * deleted key) or, in a store with damage, -EBADMSG naming a checksum,
 * never other bytes.  Returns how many were -EBADMSG. */
static int lookup_all(struct lsm_db *db)
{
	char k[16], v[200];
	int bad = 0;

	for (int i = 0; i < NKEYS; i++) {
		size_t kl = key_of(i, k), vl, got_len = 0;
		char got[200];
		struct lsm_err err = { 0 };
		int rc = lsm_get_buf(db, NULL, k, kl, got, sizeof(got),
				     &got_len, &err);

		if (rc < 0) {
			assert_int_equal(rc, -EBADMSG);
			assert_non_null(strstr(err.msg, "checksum"));
			bad++;
			continue;
		}
		if (!live(i)) {
			assert_int_equal(rc, 0);
			continue;
		}
		vl = value_of(i, version(i), v);
		assert_int_equal(rc, 1);
		assert_int_equal(got_len, vl);
		assert_memory_equal(got, v, vl);
	}
	return bad;
}

/* Every key by lookup, then all of them forward and backward. */
static void check_all(struct lsm_db *db)
{
	struct lsm_iter *it;
	char k[16], v[200];
	int n = 0;

	assert_int_equal(lookup_all(db), 0);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const void *key = lsm_iter_key(it, &kl);
		const void *val = lsm_iter_value(it, &vl);
		int i = atoi((const char *)key + 1);

		assert_true(live(i));
		assert_int_equal(kl, key_of(i, k));
		assert_memory_equal(key, k, kl);
		assert_int_equal(vl, value_of(i, version(i), v));
		assert_memory_equal(val, v, vl);
		n++;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(n, NKEYS - NKEYS / 5);
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it))
		n--;
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(n, 0);
	/* seeks land where the pread path lands */
	for (int i = 1; i < NKEYS; i += 997) {
		size_t kl = key_of(i, k), gl;
		int want = i;

		while (!live(want))
			want++;
		lsm_iter_seek(it, k, kl);
		assert_true(lsm_iter_valid(it));
		kl = key_of(want, k);
		assert_memory_equal(lsm_iter_key(it, &gl), k, kl);
	}
	lsm_iter_free(it);
}

static void test_mapped_reads_match(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), true, false);

	fill(db);
	check_all(db);  /* first use: checksums checked in the mapping */
	check_all(db);  /* then trusted */
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_root(d), false, false);
	check_all(db);  /* the same store through pread */
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_mode(tdir_root(d), COPY, false);
	check_all(db);  /* and copied out of the mapping */
	check_all(db);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_mapped_compressed(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), true, true);

	fill(db);
	check_all(db);  /* zlib blocks go through the block cache */
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_root(d), true, true);
	check_all(db);
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_mode(tdir_root(d), COPY, true);
	check_all(db);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* The largest table of DIR (NNNNNN.sst) into PATH. */
static void largest_table(const char *dir, char *path, size_t cap)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	long long best = -1;

	assert_non_null(dp);
	while ((e = readdir(dp))) {
		char p[512];
		struct stat st;
		size_t n = strlen(e->d_name);

		if (n < 5 || strcmp(e->d_name + n - 4, ".sst"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(p, &st), 0);
		if (st.st_size > best) {
			best = st.st_size;
			snprintf(path, cap, "%s", p);
		}
	}
	closedir(dp);
	assert_true(best > 0);
}

static void test_mapped_damage(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), false, false);
	char path[512];
	struct stat st;
	struct lsm_iter *it;
	int bad = 0;

	fill(db);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* a bit in the middle of a table's data blocks */
	largest_table(tdir_root(d), path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(corrupt_flip(path, st.st_size / 3, 0x10), 0);
	db = open_db(tdir_root(d), true, false);
	for (int pass = 0; pass < 2; pass++) /* the error stays an error */
		bad += lookup_all(db);
	assert_true(bad > 0 && bad % 2 == 0);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		;
	assert_int_equal(lsm_iter_status(it, NULL), -EBADMSG);
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* The copy itself: a page past the end of the file under the mapping is
 * -EIO, and the copy before it and after it works. */
static void test_map_copy_fault(void **state)
{
	struct tdir *d = *state;
	char path[512], buf[8192];
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m;
	int fd;

	snprintf(path, sizeof(path), "%s/f", tdir_root(d));
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(write(fd, buf, (size_t)page * 2), page * 2);
	m = mmap(NULL, (size_t)page * 2, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(map_copy_init(), 0);
	assert_int_equal(map_copy(buf, m, (size_t)page * 2), 0);
	assert_int_equal(ftruncate(fd, page), 0); /* the second page goes */
	assert_int_equal(map_copy(buf, m, 100), 0);
	assert_int_equal(map_copy(buf, m + page, 100), -EIO);
	assert_int_equal(map_copy(buf, m + page - 50, 100), -EIO);
	assert_int_equal(map_copy(buf, m + page, 100), -EIO); /* again */
	assert_int_equal(map_copy(buf, m, (size_t)page), 0);
	assert_int_equal(buf[0], 'x');
	munmap(m, (size_t)page * 2);
	close(fd);
}

/* map_guard: a function reading past the end of the file under the
 * mapping is cut short with -EIO, what it allocated into its argument is
 * there for the caller to free, and the function's own result comes back
 * when nothing faults. */
struct guard_arg {
	const volatile uint8_t *p;
	size_t n;
	void *alloc;
	unsigned sum;
};

static int guard_fn(void *arg)
{
	struct guard_arg *a = arg;

	a->alloc = malloc(64);
	for (size_t i = 0; i < a->n; i++)
		a->sum += a->p[i];
	return 7;
}

static void test_map_guard_fault(void **state)
{
	struct tdir *d = *state;
	char path[512], buf[8192];
	long page = sysconf(_SC_PAGESIZE);
	struct guard_arg a;
	uint8_t *m;
	int fd;

	snprintf(path, sizeof(path), "%s/f", tdir_root(d));
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(write(fd, buf, (size_t)page * 2), page * 2);
	m = mmap(NULL, (size_t)page * 2, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(map_copy_init(), 0);
	a = (struct guard_arg){ .p = m, .n = (size_t)page * 2 };
	assert_int_equal(map_guard(m, (size_t)page * 2, guard_fn, &a), 7);
	assert_int_equal(a.sum, page * 2);
	free(a.alloc);
	assert_int_equal(ftruncate(fd, page), 0); /* the second page goes */
	a = (struct guard_arg){ .p = m, .n = (size_t)page * 2 };
	assert_int_equal(map_guard(m, (size_t)page * 2, guard_fn, &a), -EIO);
	assert_non_null(a.alloc); /* cut short after the allocation */
	assert_int_equal(a.sum, page); /* at the first byte past the cut */
	free(a.alloc);
	/* the guard is disarmed: the next copy and guard work */
	assert_int_equal(map_copy(buf, m, 100), 0);
	a = (struct guard_arg){ .p = m, .n = (size_t)page };
	assert_int_equal(map_guard(m, (size_t)page * 2, guard_fn, &a), 7);
	free(a.alloc);
	munmap(m, (size_t)page * 2);
	close(fd);
}

/* Damage that appears in a table after every block was read and checked
 * (and, by iterators, cached): lookups never return the damaged bytes, and
 * over a mapping (COPY, ZERO_COPY) they check the block at every read, so
 * they find it (-EBADMSG).  With pread a block still in the cache is the
 * copy checked before the damage. */
static void test_damage_after_read(void **state)
{
	struct tdir *d = *state;

	for (enum mode m = PREAD; m <= ZERO_COPY; m++) {
		struct lsm_db *db = open_mode(tdir_root(d), m, false);
		char path[512];
		struct lsm_iter *it;
		struct stat st;
		int bad = 0;

		if (m == PREAD) {
			fill(db);
			assert_int_equal(lsm_compact_range(db, NULL, 0, NULL,
							   0, NULL), 0);
		}
		check_all(db); /* every block read once */
		assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it);
		     lsm_iter_next(it))
			;
		lsm_iter_free(it);
		largest_table(tdir_root(d), path, sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		/* a bit of a value, under the open store's mapping */
		assert_int_equal(corrupt_flip(path, st.st_size / 3 + m * 512,
					      0x01), 0);
		bad = lookup_all(db);
		assert_true(bad > 0 || m == PREAD);
		if (m == COPY) {
			/* iterators copy and check every block they load
			 * (no cached copy to hide the damage) */
			assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
			for (lsm_iter_seek_first(it); lsm_iter_valid(it);
			     lsm_iter_next(it))
				;
			assert_int_equal(lsm_iter_status(it, NULL), -EBADMSG);
			lsm_iter_free(it);
		}
		assert_int_equal(lsm_close(db, NULL), 0);
		/* undo it for the next mode */
		assert_int_equal(corrupt_flip(path, st.st_size / 3 + m * 512,
					      0x01), 0);
	}
}

static sigjmp_buf program_env;

static void program_handler(int sig)
{
	(void)sig;
	siglongjmp(program_env, 1);
}

/* A SIGBUS the engine did not cause goes to the handler the program had
 * installed before the engine's.  Runs first: the engine installs its
 * handler once per process, at the first mapped table. */
static void test_foreign_sigbus(void **state)
{
	struct tdir *d = *state;
	char path[512], buf[64];
	struct sigaction sa, old, cur;
	long page = sysconf(_SC_PAGESIZE);
	volatile uint8_t *m;
	volatile int caught = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/g", tdir_root(d));
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, page), 0);
	m = mmap(NULL, (size_t)page * 2, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = program_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	assert_int_equal(sigaction(SIGBUS, &sa, &old), 0);
	assert_int_equal(map_copy_init(), 0); /* the engine's goes on top */
	assert_int_equal(sigaction(SIGBUS, NULL, &cur), 0);
	assert_true(cur.sa_handler != program_handler);
	/* the engine's own fault is the engine's */
	assert_int_equal(map_copy(buf, (const void *)(m + page), 8), -EIO);
	/* a fault of the program's reaches the program's handler */
	if (sigsetjmp(program_env, 1) == 0)
		(void)m[page];
	else
		caught = 1;
	assert_int_equal(caught, 1);
	munmap((void *)m, (size_t)page * 2);
	close(fd);
}

/* A table cut short behind an open store (mapped, blocks copied out):
 * reads there fail with -EIO, nothing kills the process, and reads
 * elsewhere go on. */
/* A whole scan of DB, FORWARD or backward, ends in -EIO (a page past a
 * table's cut) or -EBADMSG (the page the cut is in), not in a crash. */
static void scan_fails_at_cut(struct lsm_db *db, bool forward)
{
	struct lsm_iter *it;
	int rc;

	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	if (forward)
		lsm_iter_seek_first(it);
	else
		lsm_iter_seek_last(it);
	while (lsm_iter_valid(it)) {
		if (forward)
			lsm_iter_next(it);
		else
			lsm_iter_prev(it);
	}
	rc = lsm_iter_status(it, NULL);
	assert_true(rc == -EIO || rc == -EBADMSG);
	lsm_iter_free(it);
}

static void test_truncated_table(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_mode(tdir_root(d), COPY, false);
	char path[512], k[16];
	struct stat st;
	int eio = 0, ok = 0;

	fill(db);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_mode(tdir_root(d), COPY, false);
	largest_table(tdir_root(d), path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	/* open the tables (a read through each), then cut the largest */
	for (int i = 0; i < NKEYS; i += 50) {
		size_t kl = key_of(i, k), gl;
		char got[200];

		assert_true(lsm_get_buf(db, NULL, k, kl, got, sizeof(got),
					&gl, NULL) >= 0);
	}
	assert_int_equal(truncate(path, st.st_size / 4), 0);
	for (int i = 0; i < NKEYS; i++) {
		size_t kl = key_of(i, k), gl;
		char got[200];
		struct lsm_err err = { 0 };
		int rc = lsm_get_buf(db, NULL, k, kl, got, sizeof(got), &gl,
				     &err);

		if (rc == -EIO) { /* a page past the cut */
			assert_non_null(strstr(err.msg, "mapped file"));
			eio++;
		} else if (rc == -EBADMSG) { /* the page the cut is in */
			assert_non_null(strstr(err.msg, "checksum"));
		} else {
			if (rc < 0)
				fprintf(stderr, "rc %d: %s\n", rc, err.msg);
			assert_true(rc == 0 || rc == 1);
			ok++;
		}
	}
	assert_true(eio > 0);
	assert_true(ok > 0);
	/* an iterator stops at the cut with an error, forward and back */
	scan_fails_at_cut(db, true);
	scan_fails_at_cut(db, false);
	lsm_close(db, NULL);
}

/* Blocks larger than an iterator's buffer (values of up to 40 KiB make
 * blocks of one entry each) between small ones: the buffer grows, and
 * buffers handed from one iterator to the next carry no stale bytes. */
#define BIG_KEYS 400
static size_t big_value(int i, char *v)
{
	size_t n = (i % 7 == 0) ? 9000 + (size_t)(i % 5) * 8000
				: 50 + (size_t)(i % 40);

	for (size_t j = 0; j < n; j++)
		v[j] = (char)('A' + (i * 31 + (int)j) % 53);
	return n;
}

static void test_iter_large_blocks(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_mode(tdir_root(d), COPY, false);
	static char v[48000];
	char k[16];

	for (int i = 0; i < BIG_KEYS; i++) {
		size_t kl = key_of(i, k), vl = big_value(i, v);

		assert_int_equal(lsm_put(db, k, kl, v, vl, NULL), 0);
	}
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (int round = 0; round < 3; round++) {
		for (int start = 0; start < BIG_KEYS; start += 37) {
			struct lsm_iter *it;
			size_t kl = key_of(start, k);
			int i = start;

			assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
			for (lsm_iter_seek(it, k, kl);
			     lsm_iter_valid(it) && i < start + 60;
			     lsm_iter_next(it), i++) {
				size_t gl, vl = big_value(i, v);
				const void *g = lsm_iter_key(it, &gl);
				char want[16];

				kl = key_of(i, want);
				assert_int_equal(gl, kl);
				assert_memory_equal(g, want, kl);
				g = lsm_iter_value(it, &gl);
				assert_int_equal(gl, vl);
				assert_memory_equal(g, v, vl);
			}
			assert_int_equal(lsm_iter_status(it, NULL), 0);
			assert_true(i == start + 60 || i == BIG_KEYS);
			lsm_iter_free(it);
		}
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: before any table is mapped (see the test) */
		cmocka_unit_test_setup_teardown(test_foreign_sigbus,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_mapped_reads_match,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_mapped_compressed,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_mapped_damage,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_map_copy_fault,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_table,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_map_guard_fault,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_damage_after_read,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_iter_large_blocks,
						tdir_setup, tdir_teardown),

	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
