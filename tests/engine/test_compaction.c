/* test_compaction.c - leveled compaction: space after overwrites, range
 * deletes that leave nothing behind, level invariants and bounded L0 under
 * a steady write load, manual compaction of a sub-range, statistics. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "db_impl.h"
#include "lsm.h"
#include "support.h"

static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 64u << 10;
	o->table_bytes = 32u << 10;
	o->level1_bytes = 128u << 10;
	o->level_multiplier = 4;
	o->l0_compaction_trigger = 2;
	o->io = test_io_nosync();
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t sum = 0;
	char path[4096];
	struct stat st;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, "RESERVE"))
			continue; /* space held for a full disk, not data */
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

static size_t value_of(int i, int round, char *v)
{
	size_t n = 100;

	for (size_t p = 0; p < n; p++)
		v[p] = (char)('a' + (i * 31 + round * 7 + (int)p * 13) % 26);
	return n;
}

static void test_overwrite_space(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char k[32], v[128];
	const int n = 20000;
	uint64_t live = 0, disk;

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < n; i++) {
			snprintf(k, sizeof(k), "%016d", (i * 7919) % n);
			assert_int_equal(lsm_put(db, k, 16, v,
						 value_of(i, round, v), NULL), 0);
		}
	for (int i = 0; i < n; i++)
		live += 16 + 100;
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	check_levels(db);
	assert_int_equal(lsm_close(db, NULL), 0);
	disk = dir_bytes(tdir_root(d));
	fprintf(stderr, "overwrite x10: live %llu bytes, on disk %llu (%.3fx)\n",
		(unsigned long long)live, (unsigned long long)disk,
		(double)disk / (double)live);
	assert_true(disk <= live + live / 10);
	/* and the data is the last round's */
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < n; i += 97) {
		void *got;
		size_t len;
		int src = -1;

		for (int j = 0; j < n; j++)
			if ((j * 7919) % n == i) {
				src = j;
				break;
			}
		snprintf(k, sizeof(k), "%016d", i);
		assert_int_equal(lsm_get(db, NULL, k, 16, &got, &len, NULL), 1);
		value_of(src, 9, v);
		assert_int_equal(len, 100);
		assert_memory_equal(got, v, 100);
		free(got);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Counts internal entries (every version and tombstone) in [lo, hi). */
static size_t internal_entries(struct lsm_db *db, const char *lo,
			       const char *hi)
{
	struct super *sv = db_super_get(db, NULL);
	struct iiter *it = db_internal_iter(db, sv, NULL);
	size_t count = 0;

	assert_non_null(it);
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		size_t kl;
		const uint8_t *k = iiter_key(it, &kl);

		if (ukey_cmp(k, ikey_ulen(kl), lo, strlen(lo)) >= 0 &&
		    ukey_cmp(k, ikey_ulen(kl), hi, strlen(hi)) < 0)
			count++;
	}
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
	db_super_put(db, sv);
	return count;
}

static void test_range_delete_leaves_nothing(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char k[32], v[128];
	unsigned counts[LSM_MAX_LEVELS];

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 6000; i++) {
			snprintf(k, sizeof(k), "r%06d", i);
			assert_int_equal(lsm_put(db, k, strlen(k), v,
						 value_of(i, round, v), NULL), 0);
		}
	assert_int_equal(lsm_flush(db, NULL), 0);
	/* delete the middle third, then everything */
	for (int i = 2000; i < 4000; i++) {
		snprintf(k, sizeof(k), "r%06d", i);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_compact_range(db, "r002000", 7, "r003999", 7,
					   NULL), 0);
	check_levels(db);
	assert_int_equal(internal_entries(db, "r002000", "r004000"), 0);
	assert_true(internal_entries(db, "r000000", "r002000") >= 2000);
	for (int i = 0; i < 6000; i++) {
		snprintf(k, sizeof(k), "r%06d", i);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(internal_entries(db, "", "\xff"), 0);
	assert_int_equal(lsm_level_tables(db, counts, LSM_MAX_LEVELS), 0);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		assert_int_equal(counts[l], 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_steady_load(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char k[32], v[128], *stats = NULL;
	unsigned counts[LSM_MAX_LEVELS], deepest = 0;
	struct rng r;
	const int n = 60000;

	rng_init(&r, "steady", 0);
	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < n; i++) {
		int x = (int)rng_below(&r, n);

		snprintf(k, sizeof(k), "%016d", x);
		assert_int_equal(lsm_put(db, k, 16, v, value_of(x, 0, v),
					 NULL), 0);
		if (i % 10000 == 0) {
			check_levels(db);
			lsm_level_tables(db, counts, LSM_MAX_LEVELS);
			assert_true(counts[0] <= o.l0_stop_trigger);
		}
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	check_levels(db);
	lsm_level_tables(db, counts, LSM_MAX_LEVELS);
	for (unsigned l = 0; l < LSM_MAX_LEVELS; l++)
		if (counts[l])
			deepest = l;
	assert_true(deepest >= 2); /* data went down several levels */
	assert_int_equal(lsm_stats(db, &stats, NULL), 0);
	assert_null(strstr(stats, "\nlsm_compactions_total 0\n"));
	assert_non_null(strstr(stats, "lsm_write_amplification_ratio"));
	free(stats);
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overwrite_space, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_range_delete_leaves_nothing, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_steady_load, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
