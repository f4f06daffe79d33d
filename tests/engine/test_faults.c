/* test_faults.c - fault injection through the I/O seam at every write and
 * sync site of a workload that flushes and compacts: each failure surfaces
 * as an error (never a crash), and after a reopen every acknowledged write
 * is there and no key holds bytes that were never written.  Also power
 * cuts that lose unsynced bytes, and failed reads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "faulty_io.h"
#include "lsm.h"
#include "support.h"

#define NKEYS 400

static void key_of(int i, char *k)
{
	snprintf(k, 16, "fk%05d", i);
}

static size_t value_of(int i, char *v)
{
	size_t n = 50 + (size_t)(i * 37 % 300);

	for (size_t p = 0; p < n; p++)
		v[p] = (char)('A' + (i + (int)p) % 50);
	return n;
}

static void options(struct lsm_options *o, const struct lsm_io *io,
		    enum lsm_sync_policy sync)
{
	lsm_options_init(o);
	o->io = io;
	o->sync = sync;
	o->memtable_bytes = 16u << 10;
	o->table_bytes = 8u << 10;
	o->level1_bytes = 32u << 10;
	o->level_multiplier = 4;
	o->l0_compaction_trigger = 2;
	o->cache_bytes = 0;
}

/* Writes keys [0, NKEYS) (flushing and compacting on the way), recording
 * which were acknowledged.  Returns the number of failed calls. */
static int workload(const char *dir, const struct lsm_io *io, bool *acked)
{
	struct lsm_options o;
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	char k[16], v[400];
	int failures = 0;

	options(&o, io, LSM_SYNC_ALWAYS);
	if (lsm_open(dir, &o, &db, &err)) {
		assert_true(err.code < 0 && strlen(err.msg) > 0);
		return 1;
	}
	for (int i = 0; i < NKEYS; i++) {
		size_t n = value_of(i, v);
		int rc;

		key_of(i, k);
		memset(&err, 0, sizeof(err));
		rc = lsm_put(db, k, strlen(k), v, n, &err);
		if (rc == 0) {
			acked[i] = true;
		} else {
			if (err.code != rc)
				fprintf(stderr, "put rc=%d err=%d %s\n", rc, err.code, err.msg);
			assert_true(rc < 0 && err.code == rc);
			assert_true(strlen(err.msg) > 0);
			failures++;
		}
		if (i == NKEYS / 2 && lsm_flush(db, NULL))
			failures++;
	}
	if (lsm_compact_range(db, NULL, 0, NULL, 0, NULL))
		failures++;
	if (lsm_close(db, NULL))
		failures++;
	return failures;
}

static void verify(const char *dir, const bool *acked)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char k[16], v[400];
	int rc;

	options(&o, NULL, LSM_SYNC_MANUAL);
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "reopen: %s\n", err.msg);
	assert_int_equal(rc, 0);
	for (int i = 0; i < NKEYS; i++) {
		void *got = NULL;
		size_t n, want = value_of(i, v);

		key_of(i, k);
		rc = lsm_get(db, NULL, k, strlen(k), &got, &n, NULL);
		if (acked[i])
			assert_int_equal(rc, 1);
		else
			assert_true(rc == 1 || rc == 0);
		if (rc == 1) {
			assert_int_equal(n, want);
			assert_memory_equal(got, v, n);
			free(got);
		}
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_fail_every_write_site(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	bool acked[NKEYS] = { false };
	unsigned long total, step;
	int runs = 0;

	/* count the write/sync calls of a clean run */
	workload(tdir_path(d, "clean"), &fio->io, acked);
	total = faulty_io_count(fio, FIO_ANY_WRITE);
	faulty_io_free(fio);
	verify(tdir_path(d, "clean"), acked);
	assert_true(total > 100);
	step = total > 240 ? total / 120 : 1;
	for (unsigned long n = 1; n <= total; n += n < 60 ? 1 : step) {
		char name[32];
		int e = (n % 2) ? -EIO : -ENOSPC;

		snprintf(name, sizeof(name), "f%lu", n);
		memset(acked, 0, sizeof(acked));
		fio = faulty_io_new(lsm_io_posix());
		faulty_io_fail_nth(fio, FIO_ANY_WRITE, n, e, n % 3 == 0);
		workload(tdir_path(d, name), &fio->io, acked);
		faulty_io_free(fio);
		verify(tdir_path(d, name), acked);
		tdir_rmrf(tdir_path(d, name));
		runs++;
	}
	fprintf(stderr, "faults: %d runs over %lu write/sync sites\n", runs,
		total);
}

static void test_short_writes(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	bool acked[NKEYS] = { false };

	faulty_io_short_writes(fio, true);
	assert_int_equal(workload(tdir_root(d), &fio->io, acked), 0);
	faulty_io_free(fio);
	for (int i = 0; i < NKEYS; i++)
		assert_true(acked[i]);
	verify(tdir_root(d), acked);
}

/* A power cut loses unsynced bytes: with the manual policy every write
 * before the last lsm_sync survives, and what survives of the rest is a
 * prefix of the write order. */
static void test_power_cut(void **state)
{
	struct tdir *d = *state;
	struct rng r;

	rng_init(&r, "power_cut", 0);
	for (int round = 0; round < 8; round++) {
		struct faulty_io *fio = faulty_io_new(lsm_io_posix());
		struct lsm_options o;
		struct lsm_db *db;
		char name[32], k[16], v[400];
		int synced = 0, written = 0, cut = 50 + (int)rng_below(&r, 300);
		bool seen_gap = false;

		snprintf(name, sizeof(name), "pc%d", round);
		options(&o, &fio->io, LSM_SYNC_MANUAL);
		assert_int_equal(lsm_open(tdir_path(d, name), &o, &db, NULL), 0);
		for (int i = 0; i < cut; i++) {
			size_t n = value_of(i, v);

			key_of(i, k);
			assert_int_equal(lsm_put(db, k, strlen(k), v, n, NULL), 0);
			written = i + 1;
			if (rng_below(&r, 20) == 0) {
				assert_int_equal(lsm_sync(db, NULL), 0);
				synced = written;
			}
		}
		assert_int_equal(faulty_io_power_cut(fio), 0);
		lsm_close(db, NULL); /* may fail: the power is off */
		faulty_io_free(fio);
		options(&o, NULL, LSM_SYNC_MANUAL);
		assert_int_equal(lsm_open(tdir_path(d, name), &o, &db, NULL), 0);
		for (int i = 0; i < written; i++) {
			void *got = NULL;
			size_t n;
			int rc;

			key_of(i, k);
			rc = lsm_get(db, NULL, k, strlen(k), &got, &n, NULL);
			if (i < synced)
				assert_int_equal(rc, 1);
			if (rc == 1) {
				assert_false(seen_gap); /* a prefix */
				assert_int_equal(n, value_of(i, v));
				assert_memory_equal(got, v, n);
				free(got);
			} else {
				assert_int_equal(rc, 0);
				seen_gap = true;
			}
		}
		assert_int_equal(lsm_close(db, NULL), 0);
	}
}

static void test_read_errors(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char k[16], v[400];
	void *got = NULL;
	size_t n;
	int errors = 0;

	options(&o, &fio->io, LSM_SYNC_MANUAL);
	o.max_open_tables = 2; /* reopen tables often: more read sites */
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < NKEYS; i++) {
		key_of(i, k);
		assert_int_equal(lsm_put(db, k, strlen(k), v, value_of(i, v),
					 NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	faulty_io_fail_nth(fio, FIO_READ, 1, -EIO, true);
	for (int i = 0; i < NKEYS; i++) {
		int rc;

		key_of(i, k);
		rc = lsm_get(db, NULL, k, strlen(k), &got, &n, &err);
		if (rc == 1) { /* still in a memtable: must be right */
			assert_int_equal(n, value_of(i, v));
			assert_memory_equal(got, v, n);
			free(got);
		} else {
			assert_int_equal(rc, -EIO);
			errors++;
		}
	}
	assert_true(errors > 0);
	faulty_io_reset(fio);
	for (int i = 0; i < NKEYS; i++) {
		key_of(i, k);
		assert_int_equal(lsm_get(db, NULL, k, strlen(k), &got, &n,
					 NULL), 1);
		assert_int_equal(n, value_of(i, v));
		assert_memory_equal(got, v, n);
		free(got);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
	faulty_io_free(fio);
}

/* A flush that keeps failing: writers needing room get its error instead
 * of waiting forever, and carry on by themselves once the fault is gone. */
static void test_flush_failure_surfaces(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	bool acked[NKEYS] = { false };
	char k[16], v[400];
	int i, rc = 0, refused = 0;

	options(&o, &fio->io, LSM_SYNC_MANUAL);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	/* The next open is the next log segment, the one after it the
	 * table of the flush: from then on every open fails. */
	faulty_io_fail_nth(fio, FIO_OPEN, 2, -EIO, true);
	for (i = 0; i < NKEYS && rc == 0; i++) {
		key_of(i, k);
		rc = lsm_put(db, k, strlen(k), v, value_of(i, v), &err);
		acked[i] = rc == 0;
	}
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(err.msg, "cannot be flushed"));
	refused = i - 1;
	faulty_io_reset(fio);
	/* the flush is retried with back-off: writes come back */
	for (int tries = 0; tries < 200; tries++) {
		key_of(refused, k);
		rc = lsm_put(db, k, strlen(k), v, value_of(refused, v), NULL);
		if (rc == 0)
			break;
		usleep(50000);
	}
	assert_int_equal(rc, 0);
	acked[refused] = true;
	assert_int_equal(lsm_close(db, NULL), 0);
	faulty_io_free(fio);
	verify(tdir_root(d), acked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fail_every_write_site, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_short_writes, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_power_cut, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_flush_failure_surfaces, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
