/* test_space.c - space coming back after deletions without a compaction
 * request: deletion-triggered compaction (tombstone_percent), the idle
 * pass (idle_compaction_ms), and the per-table counts in the manifest that
 * drive them, across reopen and trivial moves. */
#include <dirent.h>
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

#include "db_impl.h"
#include "lsm.h"
#include "support.h"

#define NKEYS 2000
#define VALUE_BYTES 1000

static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 64u << 10;
	o->table_bytes = 32u << 10;
	o->level1_bytes = 128u << 10;
	o->level_multiplier = 4;
	o->l0_compaction_trigger = 4; /* the tombstones fit in fewer */
	o->io = test_io_nosync();
}

/* Bytes of the store's files (the reserve for a full disk left out). */
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
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

static void key_of(int i, char *k)
{
	snprintf(k, 32, "%016d", i);
}

static void fill(struct lsm_db *db)
{
	char k[32], v[VALUE_BYTES];

	for (int i = 0; i < NKEYS; i++) {
		key_of(i, k);
		memset(v, 'a' + i % 26, sizeof(v));
		assert_int_equal(lsm_put(db, k, 16, v, sizeof(v), NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
}

/* Deletes every key but one in KEEP, then flushes the tombstones unless
 * told to leave them in the memtable. */
static void delete_most(struct lsm_db *db, int keep, bool flush)
{
	char k[32];

	for (int i = 0; i < NKEYS; i++) {
		if (i % keep == 0)
			continue;
		key_of(i, k);
		assert_int_equal(lsm_delete(db, k, 16, NULL), 0);
	}
	if (flush)
		assert_int_equal(lsm_flush(db, NULL), 0);
}

/* The value of counter NAME in lsm_stats. */
static uint64_t stat_value(struct lsm_db *db, const char *name)
{
	char *text = NULL, *p, pat[128];
	uint64_t v = 0;

	snprintf(pat, sizeof(pat), "\n%s ", name);
	assert_int_equal(lsm_stats(db, &text, NULL), 0);
	p = strstr(text, pat);
	assert_non_null(p);
	v = strtoull(p + strlen(pat), NULL, 10);
	free(text);
	return v;
}

/* Waits up to SECONDS for the store's files to be at most LIMIT bytes;
 * the size reached. */
static uint64_t wait_shrink(const char *dir, uint64_t limit, int seconds)
{
	uint64_t now = dir_bytes(dir);

	for (int i = 0; i < seconds * 20 && now > limit; i++) {
		usleep(50 * 1000);
		now = dir_bytes(dir);
	}
	return now;
}

static void check_contents(struct lsm_db *db, int keep)
{
	char k[32];

	for (int i = 0; i < NKEYS; i += 7) {
		void *got = NULL;
		size_t len;

		key_of(i, k);
		assert_int_equal(lsm_get(db, NULL, k, 16, &got, &len, NULL),
				 i % keep == 0 ? 1 : 0);
		if (i % keep == 0) {
			assert_int_equal(len, VALUE_BYTES);
			assert_int_equal(((char *)got)[0], 'a' + i % 26);
		}
		free(got);
	}
}

/* Runs the delete-most scenario with O: the bytes before the deletes and
 * after waiting up to SECONDS for the store to reach a third of them. */
static void shrink_run(struct tdir *d, struct lsm_options *o, int keep,
		       int seconds, uint64_t *before, uint64_t *after,
		       const char *counter, uint64_t *count)
{
	struct lsm_db *db;

	assert_int_equal(lsm_open(tdir_root(d), o, &db, NULL), 0);
	fill(db);
	*before = wait_shrink(tdir_root(d), 0, 1); /* let compactions settle */
	delete_most(db, keep, o->idle_compaction_ms == 0);
	*after = wait_shrink(tdir_root(d), *before / 3, seconds);
	if (counter && *after > *before / 3) { /* say where the space is */
		char *text = NULL;

		if (lsm_stats(db, &text, NULL) == 0)
			fprintf(stderr, "not shrunk; stats:\n%s", text);
		free(text);
	}
	check_levels(db);
	check_contents(db, keep);
	*count = counter ? stat_value(db, counter) : 0;
	assert_int_equal(lsm_close(db, NULL), 0);
	fprintf(stderr, "keep 1/%d: %llu bytes before the deletes, %llu after"
		" (%s %llu)\n", keep, (unsigned long long)*before,
		(unsigned long long)*after, counter ? counter : "-",
		(unsigned long long)*count);
}

/* Both off: the deletes alone leave the data on disk (what was seen). */
static void test_without_is_kept(void **state)
{
	struct lsm_options o;
	uint64_t before, after, n;

	small_options(&o);
	o.tombstone_percent = 0;
	o.idle_compaction_ms = 0;
	shrink_run(*state, &o, 10, 2, &before, &after, NULL, &n);
	assert_true(after > before / 2);
}

/* Tombstone density alone brings most of the space back. */
static void test_tombstones_shrink(void **state)
{
	struct lsm_options o;
	uint64_t before, after, n;

	small_options(&o);
	o.idle_compaction_ms = 0;
	shrink_run(*state, &o, 10, 30, &before, &after,
		   "lsm_tombstone_compactions_total", &n);
	assert_true(after <= before / 3);
	assert_true(n > 0);
}

/* Density off, deletions left in the memtable: the idle pass flushes
 * them and pushes them down. */
static void test_idle_pass_shrinks(void **state)
{
	struct lsm_options o;
	uint64_t before, after, n;

	small_options(&o);
	o.tombstone_percent = 0;
	o.idle_compaction_ms = 200;
	shrink_run(*state, &o, 10, 30, &before, &after,
		   "lsm_idle_compactions_total", &n);
	assert_true(after <= before / 3);
	assert_true(n > 0);
}

/* The counts of every table, summed. */
static void sum_counts(struct lsm_db *db, uint64_t *entries,
		       uint64_t *deletions, size_t *unknown)
{
	struct super *sv = db_super_get(db, NULL);

	*entries = *deletions = 0;
	*unknown = 0;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < sv->v->nfiles[l]; i++) {
			const struct file_meta *f = sv->v->files[l][i];

			if (!f->has_counts)
				(*unknown)++;
			*entries += f->entries;
			*deletions += f->deletions;
		}
	db_super_put(db, sv);
}

/* Flushed counts are exact, and survive a reopen (manifest snapshot). */
static void test_counts_persist(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	uint64_t e, del, e2, del2;
	size_t unknown;
	char k[32];

	small_options(&o);
	o.background_compaction = false;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < 300; i++) {
		key_of(i, k);
		assert_int_equal(lsm_put(db, k, 16, "v", 1, NULL), 0);
	}
	for (int i = 0; i < 100; i++) {
		key_of(1000 + i, k);
		assert_int_equal(lsm_delete(db, k, 16, NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	sum_counts(db, &e, &del, &unknown);
	assert_int_equal(e, 400);
	assert_int_equal(del, 100);
	assert_int_equal(unknown, 0);
	assert_int_equal(stat_value(db, "lsm_tombstones"), 100);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	sum_counts(db, &e2, &del2, &unknown);
	assert_int_equal(e2, e);
	assert_int_equal(del2, del);
	assert_int_equal(unknown, 0);
	/* a manual compaction to the bottom drops every tombstone */
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	sum_counts(db, &e2, &del2, &unknown);
	assert_int_equal(e2, 300);
	assert_int_equal(del2, 0);
	assert_int_equal(unknown, 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_without_is_kept, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_tombstones_shrink, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_idle_pass_shrinks, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_counts_persist, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
