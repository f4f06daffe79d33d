/* test_db.c - the public API end to end: open/close/reopen, puts, deletes,
 * batches, snapshots, iterators in both directions, flush, the lock file and
 * the errors for bad directories and options. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "support.h"

static struct lsm_db *open_db(const char *dir, struct lsm_options *o)
{
	struct lsm_options def;
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	int rc;

	if (!o) {
		lsm_options_init(&def);
		o = &def;
	}
	rc = lsm_open(dir, o, &db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return db;
}

static void put_s(struct lsm_db *db, const char *k, const char *v)
{
	assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), NULL), 0);
}

static void expect(struct lsm_db *db, const struct lsm_snapshot *s,
		   const char *k, const char *v)
{
	void *got = NULL;
	size_t n = 0;
	int rc = lsm_get(db, s, k, strlen(k), &got, &n, NULL);

	if (!v) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(n, strlen(v));
	assert_memory_equal(got, v, n);
	free(got);
}

static void test_put_get_delete(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);

	expect(db, NULL, "a", NULL);
	put_s(db, "a", "1");
	put_s(db, "b", "2");
	put_s(db, "a", "3");
	expect(db, NULL, "a", "3");
	expect(db, NULL, "b", "2");
	assert_int_equal(lsm_delete(db, "b", 1, NULL), 0);
	expect(db, NULL, "b", NULL);
	/* empty key and empty value are legal */
	assert_int_equal(lsm_put(db, "", 0, "e", 1, NULL), 0);
	expect(db, NULL, "", "e");
	put_s(db, "empty", "");
	expect(db, NULL, "empty", "");
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_reopen_and_flush(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	char k[32], v[64];

	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		snprintf(v, sizeof(v), "value%d", i);
		put_s(db, k, v);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	for (int i = 0; i < 1000; i += 2) {
		snprintf(k, sizeof(k), "key%06d", i);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
	/* reopen: half from a table, deletes from the replayed log */
	db = open_db(tdir_root(d), NULL);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		snprintf(v, sizeof(v), "value%d", i);
		expect(db, NULL, k, i % 2 ? v : NULL);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_root(d), NULL);
	expect(db, NULL, "key000001", "value1");
	expect(db, NULL, "key000002", NULL);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_batch_atomic(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	struct lsm_batch *b = lsm_batch_new();

	put_s(db, "x", "old");
	assert_non_null(b);
	assert_int_equal(lsm_batch_put(b, "x", 1, "new", 3), 0);
	assert_int_equal(lsm_batch_put(b, "y", 1, "1", 1), 0);
	assert_int_equal(lsm_batch_delete(b, "y", 1), 0);
	assert_int_equal(lsm_batch_put(b, "z", 1, "2", 1), 0);
	assert_int_equal(lsm_batch_count(b), 4);
	assert_int_equal(lsm_write(db, b, LSM_WRITE_SYNC, NULL), 0);
	expect(db, NULL, "x", "new");
	expect(db, NULL, "y", NULL);
	expect(db, NULL, "z", "2");
	lsm_batch_clear(b);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(lsm_write(db, b, 0, NULL), 0);
	lsm_batch_free(b);
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_root(d), NULL);
	expect(db, NULL, "x", "new");
	expect(db, NULL, "y", NULL);
	expect(db, NULL, "z", "2");
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_snapshots(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	const struct lsm_snapshot *s1, *s2;

	put_s(db, "k", "v1");
	s1 = lsm_snapshot_new(db);
	put_s(db, "k", "v2");
	assert_int_equal(lsm_delete(db, "k", 1, NULL), 0);
	s2 = lsm_snapshot_new(db);
	put_s(db, "k", "v3");
	expect(db, s1, "k", "v1");
	expect(db, s2, "k", NULL);
	expect(db, NULL, "k", "v3");
	/* snapshots survive a flush and a full compaction */
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	expect(db, s1, "k", "v1");
	expect(db, s2, "k", NULL);
	expect(db, NULL, "k", "v3");
	lsm_snapshot_release(db, s1);
	lsm_snapshot_release(db, s2);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Collects the keys an iterator shows, forward or backward, as "k=v,". */
static char *scan(struct lsm_iter *it, bool backward)
{
	static char out[8192];
	size_t pos = 0;

	out[0] = '\0';
	if (backward)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	while (lsm_iter_valid(it)) {
		size_t kl, vl;
		const char *k = lsm_iter_key(it, &kl);
		const char *v = lsm_iter_value(it, &vl);

		pos += (size_t)snprintf(out + pos, sizeof(out) - pos,
					"%.*s=%.*s,", (int)kl, k, (int)vl, v);
		if (backward)
			lsm_iter_prev(it);
		else
			lsm_iter_next(it);
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	return out;
}

static void test_iterators(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	struct lsm_iter *it;
	size_t kl;

	put_s(db, "b", "1");
	put_s(db, "d", "2");
	assert_int_equal(lsm_flush(db, NULL), 0);
	put_s(db, "a", "0");
	put_s(db, "c", "x");
	assert_int_equal(lsm_delete(db, "d", 1, NULL), 0);
	put_s(db, "e", "4");
	put_s(db, "c", "3");
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	/* writes after creation are invisible to the iterator */
	put_s(db, "bb", "new");
	assert_int_equal(lsm_delete(db, "a", 1, NULL), 0);
	assert_string_equal(scan(it, false), "a=0,b=1,c=3,e=4,");
	assert_string_equal(scan(it, true), "e=4,c=3,b=1,a=0,");
	lsm_iter_seek(it, "bz", 2);
	assert_true(lsm_iter_valid(it));
	assert_memory_equal(lsm_iter_key(it, &kl), "c", 1);
	lsm_iter_prev(it);
	assert_memory_equal(lsm_iter_key(it, &kl), "b", 1);
	lsm_iter_next(it);
	assert_memory_equal(lsm_iter_key(it, &kl), "c", 1);
	lsm_iter_next(it);
	assert_memory_equal(lsm_iter_key(it, &kl), "e", 1);
	lsm_iter_next(it);
	assert_false(lsm_iter_valid(it));
	lsm_iter_seek(it, "f", 1);
	assert_false(lsm_iter_valid(it));
	lsm_iter_free(it);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	assert_string_equal(scan(it, false), "b=1,bb=new,c=3,e=4,");
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_iterator_outlives_compaction(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_iter *it;
	char k[32];
	int n = 0;

	lsm_options_init(&o);
	o.memtable_bytes = 64 << 10;
	db = open_db(tdir_root(d), &o);
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		put_s(db, k, "some value of moderate length ......");
	}
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	for (int i = 0; i < 5000; i += 2) {
		snprintf(k, sizeof(k), "k%05d", i);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(n, 5000);
	lsm_iter_free(it);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	for (n = 0, lsm_iter_seek_first(it); lsm_iter_valid(it);
	     lsm_iter_next(it))
		n++;
	assert_int_equal(n, 2500);
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_large_values(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	size_t n = 3u << 20, got_n;
	char *big = malloc(n), buf[16];
	void *got;
	struct rng r;

	rng_init(&r, "large_values", 0);
	rng_bytes(&r, big, n);
	assert_int_equal(lsm_put(db, "big", 3, big, n, NULL), 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_get(db, NULL, "big", 3, &got, &got_n, NULL), 1);
	assert_int_equal(got_n, n);
	assert_memory_equal(got, big, n);
	free(got);
	assert_int_equal(lsm_get_buf(db, NULL, "big", 3, buf, sizeof(buf),
				     &got_n, NULL), 1);
	assert_int_equal(got_n, n);
	assert_memory_equal(buf, big, sizeof(buf));
	assert_int_equal(lsm_close(db, NULL), 0);
	free(big);
}

static void test_limits(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	struct lsm_err err = { 0 };
	char *k = calloc(1, LSM_MAX_KEY_BYTES + 1);

	assert_int_equal(lsm_put(db, k, LSM_MAX_KEY_BYTES + 1, "v", 1, &err),
			 -EINVAL);
	assert_true(strlen(err.msg) > 0);
	assert_int_equal(lsm_put(db, k, LSM_MAX_KEY_BYTES, "v", 1, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	free(k);
}

static void test_lock_and_dirs(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_path(d, "store"), NULL), *db2 = NULL;
	struct lsm_options o;
	struct lsm_err err = { 0 };
	char pid[32];
	FILE *f;

	/* a second open of the same directory: -EBUSY naming our pid */
	assert_int_equal(lsm_open(tdir_path(d, "store"), NULL, &db2, &err),
			 -EBUSY);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_non_null(strstr(err.msg, pid));
	/* read-only opens go on, and refuse writes */
	lsm_options_init(&o);
	o.read_only = true;
	assert_int_equal(lsm_open(tdir_path(d, "store"), &o, &db2, NULL), 0);
	assert_int_equal(lsm_put(db2, "a", 1, "b", 1, NULL), -EROFS);
	assert_int_equal(lsm_close(db2, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);

	/* a foreign, non-empty directory is refused */
	mkdir(tdir_path(d, "foreign"), 0755);
	f = fopen(tdir_path(d, "foreign/notes.txt"), "w");
	fputs("hello\n", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	assert_int_equal(lsm_open(tdir_path(d, "foreign"), NULL, &db2, &err),
			 -ENOTEMPTY);
	assert_non_null(strstr(err.msg, "not an lsmfs"));
	/* a missing store without create_if_missing */
	lsm_options_init(&o);
	o.create_if_missing = false;
	assert_int_equal(lsm_open(tdir_path(d, "missing"), &o, &db2, &err),
			 -ENOENT);
	/* a missing parent */
	assert_true(lsm_open(tdir_path(d, "no/such/dir"), NULL, &db2, &err) <
		    0);
	/* bad options */
	lsm_options_init(&o);
	o.memtable_bytes = 1;
	assert_int_equal(lsm_open(tdir_path(d, "x"), &o, &db2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "memtable"));
}

static void test_stats_text(void **state)
{
	struct tdir *d = *state;
	struct lsm_db *db = open_db(tdir_root(d), NULL);
	char *text = NULL;
	unsigned counts[7];

	put_s(db, "a", "b");
	expect(db, NULL, "a", "b");
	expect(db, NULL, "zz", NULL);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_stats(db, &text, NULL), 0);
	assert_non_null(strstr(text, "\nlsm_puts_total 1\n"));
	assert_non_null(strstr(text, "\nlsm_gets_total 2\n"));
	assert_non_null(strstr(text, "\nlsm_get_hits_total 1\n"));
	/* the flush's table overlaps nothing: placed in L2 (flush_place.c) */
	assert_non_null(strstr(text, "lsm_level_tables{level=\"2\"} 1\n"));
	assert_non_null(strstr(text, "lsm_block_cache_hits"));
	assert_non_null(strstr(text, "lsm_bloom_checks"));
	free(text);
	assert_int_equal(lsm_level_tables(db, counts, 7), 0);
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[2], 1);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_sync_policies(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;

	for (int p = LSM_SYNC_ALWAYS; p <= LSM_SYNC_INTERVAL; p++) {
		char dir[64];

		snprintf(dir, sizeof(dir), "p%d", p);
		lsm_options_init(&o);
		o.sync = (enum lsm_sync_policy)p;
		o.sync_interval_ms = 5;
		db = open_db(tdir_path(d, dir), &o);
		put_s(db, "k", "v");
		assert_int_equal(lsm_sync(db, NULL), 0);
		usleep(20000);
		assert_int_equal(lsm_close(db, NULL), 0);
		db = open_db(tdir_path(d, dir), &o);
		expect(db, NULL, "k", "v");
		assert_int_equal(lsm_close(db, NULL), 0);
	}
}

static void test_compression(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char k[32], v[200];

	lsm_options_init(&o);
	o.compression = LSM_COMPRESS_ZLIB;
	db = open_db(tdir_root(d), &o);
	memset(v, 'z', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "c%05d", i);
		put_s(db, k, v);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_root(d), &o);
	for (int i = 0; i < 3000; i += 7) {
		snprintf(k, sizeof(k), "c%05d", i);
		expect(db, NULL, k, v);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_delete, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_flush, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_batch_atomic, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_snapshots, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_iterators, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_iterator_outlives_compaction, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_large_values, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_limits, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_dirs, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_stats_text, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_sync_policies, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_compression, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
