/* test_table_pin.c - tables kept open by their file metadata
 * (table_cache_get_fm, table_cache_iter_fm): reads of a live version's
 * tables skip the table cache.  At most max_open / 2 tables are pinned and
 * open tables stay bounded by max_open however many tables the store has
 * (and a half in the worst case); every read through a pin gives what was written; an iterator keeps the
 * tables of its version readable across a compaction that replaces them;
 * and when a compaction drops a table, its pin goes with the last version
 * naming it: no pin outlives its file and no deleted table stays open. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_impl.h"
#include "lsm.h"
#include "support.h"

#define NKEYS 30000
/* A multiple of the cache's 16 shards: each holds MAX_OPEN / 16 tables. */
#define MAX_OPEN 32
/* The cache's tables and the pins, in the worst case all in one shard. */
#define OPEN_BOUND (MAX_OPEN + MAX_OPEN / 2)

static struct lsm_db *open_db(const char *dir)
{
	struct lsm_options o;
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	int rc;

	lsm_options_init(&o);
	o.memtable_bytes = 64u << 10; /* many small tables, several levels */
	o.table_bytes = 16u << 10;
	o.level1_bytes = 128u << 10;
	o.cache_bytes = 64u << 10;
	o.max_open_tables = MAX_OPEN;
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return db;
}

static size_t key_of(int i, char *k)
{
	return (size_t)sprintf(k, "k%06d", i);
}

static size_t value_of(int i, int ver, char *v)
{
	return (size_t)sprintf(v, "value %d of key %d, %0*d", ver, i,
			       20 + (i * 7) % 60, i);
}

static void fill(struct lsm_db *db, int ver)
{
	struct lsm_err err = { 0 };
	char k[16], v[128];

	for (int i = 0; i < NKEYS; i++) {
		size_t kl = key_of(i, k), vl = value_of(i, ver, v);

		assert_int_equal(lsm_put(db, k, kl, v, vl, &err), 0);
	}
	assert_int_equal(lsm_flush(db, &err), 0);
}

static void get_all(struct lsm_db *db, int ver)
{
	struct lsm_err err = { 0 };
	char k[16], v[128], got[128];

	for (int i = 0; i < NKEYS; i++) {
		size_t kl = key_of(i, k), vl = value_of(i, ver, v), gl = 0;

		assert_int_equal(lsm_get_buf(db, NULL, k, kl, got, sizeof(got),
					     &gl, &err), 1);
		assert_int_equal(gl, vl);
		assert_memory_equal(got, v, vl);
	}
}

/* Walks IT from the first key: every key, version VER. */
static void scan_all(struct lsm_iter *it, int ver)
{
	char k[16], v[128];
	int i = 0;

	for (lsm_iter_seek_first(it); lsm_iter_valid(it);
	     lsm_iter_next(it), i++) {
		size_t kl, vl, ekl = key_of(i, k), evl = value_of(i, ver, v);
		const void *gk = lsm_iter_key(it, &kl);
		const void *gv = lsm_iter_value(it, &vl);

		assert_true(i < NKEYS);
		assert_int_equal(kl, ekl);
		assert_memory_equal(gk, k, kl);
		assert_int_equal(vl, evl);
		assert_memory_equal(gv, v, vl);
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(i, NKEYS);
}

/* Tables of the current version. */
static size_t live_tables(struct lsm_db *db)
{
	size_t n = 0;

	pthread_mutex_lock(&db->mu);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		n += db->vs.current->nfiles[l];
	pthread_mutex_unlock(&db->mu);
	return n;
}

/* This process's descriptors open on a table (*DELETED: of them, on a
 * table file that is gone). */
static int open_tables(int *deleted)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	*deleted = 0;
	while ((e = readdir(d))) {
		char link[300], target[PATH_MAX];
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (!strstr(target, ".sst"))
			continue;
		n++;
		*deleted += strstr(target, "(deleted)") != NULL;
	}
	closedir(d);
	return n;
}

static void test_pins_bounded(void **state)
{
	struct lsm_db *db = open_db(tdir_path(*state, "db"));
	struct lsm_iter *it = NULL;
	int deleted;

	fill(db, 0);
	assert_true(live_tables(db) > OPEN_BOUND); /* more than can be open */
	get_all(db, 0);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	scan_all(it, 0);
	lsm_iter_free(it);
	get_all(db, 0); /* again, through the pins */
	assert_true(table_cache_pinned(db->tables) > 0);
	assert_true(table_cache_pinned(db->tables) <= MAX_OPEN / 2);
	assert_true(open_tables(&deleted) <= OPEN_BOUND);
	assert_int_equal(deleted, 0);
	lsm_close(db, NULL);
	assert_int_equal(open_tables(&deleted), 0);
}

static void test_pins_follow_compaction(void **state)
{
	struct lsm_db *db = open_db(tdir_path(*state, "db"));
	struct lsm_err err = { 0 };
	struct lsm_iter *it = NULL;
	int deleted;

	fill(db, 0);
	get_all(db, 0); /* pins the first tables read */
	assert_true(table_cache_pinned(db->tables) > 0);
	/* An iterator holds the version of those tables... */
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	/* ...while every key is rewritten and everything compacted: each
	 * table of the iterator's version is dropped from the store. */
	fill(db, 1);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, &err), 0);
	get_all(db, 1);
	scan_all(it, 0); /* the old tables, still readable */
	lsm_iter_free(it);
	/* The old version is gone: its pins with it, its files deleted and
	 * closed.  What is pinned now are tables of the current version. */
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, &err), 0);
	get_all(db, 1);
	assert_true(table_cache_pinned(db->tables) <= live_tables(db));
	assert_true(table_cache_pinned(db->tables) <= MAX_OPEN / 2);
	open_tables(&deleted);
	assert_int_equal(deleted, 0);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	scan_all(it, 1);
	lsm_iter_free(it);
	lsm_close(db, NULL);
	/* Reopened: the same data, read through new pins. */
	db = open_db(tdir_path(*state, "db"));
	get_all(db, 1);
	lsm_close(db, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pins_bounded, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_pins_follow_compaction,
						tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
