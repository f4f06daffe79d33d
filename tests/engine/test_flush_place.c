/* test_flush_place.c - a flush's tables cut at key-prefix changes
 * (table_prefix_bytes) and placed below L0 when nothing above overlaps
 * them (engine/flush_place.c): where they go, that reads still see the newest
 * version (also through a snapshot and after reopen), that tombstones and
 * overlapping keys stay in L0, that compactions cut at the prefix, and a
 * writer racing background compactions against a model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db_impl.h"
#include "lsm.h"
#include "support.h"

#define VALUE_BYTES 500

static void options(struct lsm_options *o, unsigned prefix)
{
	lsm_options_init(o);
	o->memtable_bytes = 4u << 20; /* flushes only when asked */
	o->table_bytes = 64u << 10;
	o->level1_bytes = 256u << 10;
	o->background_compaction = false;
	o->table_prefix_bytes = prefix;
	o->io = test_io_nosync();
}

static void value_of(char kind, int i, int gen, char *v)
{
	memset(v, 'a' + (i + gen) % 26, VALUE_BYTES);
	snprintf(v, VALUE_BYTES, "%c%d/%d", kind, i, gen);
}

static void put_c(struct lsm_db *db, int i, int gen)
{
	char k[32], v[VALUE_BYTES];

	snprintf(k, sizeof(k), "c%08d", i);
	value_of('c', i, gen, v);
	assert_int_equal(lsm_put(db, k, strlen(k), v, VALUE_BYTES, NULL), 0);
}

/* The "inode record" every round of writes also updates. */
static void put_i(struct lsm_db *db, int gen)
{
	char v[32];

	snprintf(v, sizeof(v), "meta %d", gen);
	assert_int_equal(lsm_put(db, "i1", 2, v, strlen(v), NULL), 0);
}

static void expect_c(struct lsm_db *db, const struct lsm_snapshot *s,
		     int i, int gen)
{
	char k[32], want[VALUE_BYTES];
	void *v = NULL;
	size_t vlen = 0;

	snprintf(k, sizeof(k), "c%08d", i);
	assert_int_equal(lsm_get(db, s, k, strlen(k), &v, &vlen, NULL),
			 gen < 0 ? 0 : 1);
	if (gen >= 0) {
		value_of('c', i, gen, want);
		assert_int_equal(vlen, VALUE_BYTES);
		assert_memory_equal(v, want, VALUE_BYTES);
	}
	free(v);
}

static void expect_i(struct lsm_db *db, int gen)
{
	char want[32];
	void *v = NULL;
	size_t vlen = 0;

	snprintf(want, sizeof(want), "meta %d", gen);
	assert_int_equal(lsm_get(db, NULL, "i1", 2, &v, &vlen, NULL), 1);
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(v, want, vlen);
	free(v);
}

static void counts(struct lsm_db *db, unsigned c[7])
{
	assert_int_equal(lsm_level_tables(db, c, 7), 0);
}

/* Rounds of new "c" keys beside the old ones, and one "i" key each round:
 * the "c" tables go to L2 (nothing overlaps them), the "i" table stays
 * above; no compaction has run, the reads see every round. */
static void test_new_keys_go_down(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	unsigned c[7];

	options(&o, 1);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int r = 0; r < 6; r++) {
		for (int i = r * 200; i < r * 200 + 200; i++)
			put_c(db, i, 0);
		put_i(db, r);
		assert_int_equal(lsm_flush(db, NULL), 0);
		counts(db, c);
		/* round 0's "i" table went down with its "c" table */
		assert_int_equal(c[2], (unsigned)r + 2);
		assert_true(c[0] + c[1] >= (r > 0 ? 1u : 0u));
		check_levels(db);
	}
	for (int i = 0; i < 1200; i++)
		expect_c(db, NULL, i, 0);
	expect_c(db, NULL, 1200, -1);
	expect_i(db, 5);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_levels(db);
	for (int i = 0; i < 1200; i += 7)
		expect_c(db, NULL, i, 0);
	expect_i(db, 5);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Keys already below: the newer table goes only as deep as the levels
 * above them, never under an older version (a snapshot keeps the old). */
static void test_overlap_stays_above(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *s;
	unsigned c[7];

	options(&o, 1);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < 200; i++)
		put_c(db, i, 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	counts(db, c);
	assert_int_equal(c[2], 1);
	s = lsm_snapshot_new(db);
	assert_non_null(s);
	for (int i = 100; i < 300; i++)
		put_c(db, i, 1);
	assert_int_equal(lsm_flush(db, NULL), 0);
	counts(db, c);
	assert_int_equal(c[1], 1); /* above the L2 table it overlaps */
	for (int i = 150; i < 160; i++)
		put_c(db, i, 2);
	assert_int_equal(lsm_flush(db, NULL), 0);
	counts(db, c);
	assert_int_equal(c[0], 1);
	check_levels(db);
	for (int i = 0; i < 300; i++) {
		expect_c(db, NULL, i, i >= 150 && i < 160 ? 2 : i >= 100 ? 1 : 0);
		expect_c(db, s, i, i < 200 ? 0 : -1);
	}
	lsm_snapshot_release(db, s);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (int i = 0; i < 300; i++)
		expect_c(db, NULL, i, i >= 150 && i < 160 ? 2 : i >= 100 ? 1 : 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void put_kv(struct lsm_db *db, const char *k, const char *v)
{
	assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), NULL), 0);
}

/* Whether an L0 table's range begins or ends with a KIND key. */
static bool l0_holds(struct lsm_db *db, char kind)
{
	const struct version *v;
	bool found = false;

	pthread_mutex_lock(&db->mu);
	v = db->vs.current;
	for (size_t i = 0; i < v->nfiles[0]; i++)
		found |= v->files[0][i]->smallest[0] == kind ||
			 v->files[0][i]->largest[0] == kind;
	pthread_mutex_unlock(&db->mu);
	return found;
}

/* A small flush whose keys of two kinds share an L0 table ("a1" and "z1",
 * kept in L0 by an L1 table between them) spans every kind in between by
 * its range, but holds none of them: a later flush's "c" keys go below L0
 * all the same (the table's spans say where its keys are).  Before, the
 * "c" keys stayed in L0 and shared a table with the "i" key, which then
 * held back the next flush too: after a remount's recovery flush, no
 * streamed file's data went below L0 again. */
static void test_small_spanning_table_holds_nothing_back(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	unsigned c[7];

	options(&o, 1);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_kv(db, "m0", "old");
	assert_int_equal(lsm_flush(db, NULL), 0); /* L2 */
	put_kv(db, "m0", "new");
	assert_int_equal(lsm_flush(db, NULL), 0); /* L1, above it */
	put_kv(db, "a1", "a");
	put_kv(db, "z1", "z");
	assert_int_equal(lsm_flush(db, NULL), 0);
	counts(db, c);
	assert_int_equal(c[0], 1); /* [a1 .. z1] overlaps m0 in L1 */
	for (int r = 0; r < 3; r++) {
		for (int i = r * 200; i < r * 200 + 200; i++)
			put_c(db, i, 0);
		put_i(db, r);
		assert_int_equal(lsm_flush(db, NULL), 0);
		/* the "c" table went below L0, beside the older ones */
		assert_false(l0_holds(db, 'c'));
		check_levels(db);
	}
	for (int i = 0; i < 600; i++)
		expect_c(db, NULL, i, 0);
	expect_i(db, 2);
	/* reopened, the tables have no spans: reads are the same */
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_levels(db);
	for (int i = 0; i < 600; i += 3)
		expect_c(db, NULL, i, 0);
	expect_i(db, 2);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (int i = 0; i < 600; i++)
		expect_c(db, NULL, i, 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* A table with deletions stays in L0, and without the option every flush
 * does (the engine's behaviour unchanged). */
static void test_tombstones_stay_default_places(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	char k[32];
	unsigned c[7];

	options(&o, 1);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "c%08d", 5000 + i);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	counts(db, c);
	assert_int_equal(c[0], 1);
	assert_int_equal(c[1] + c[2], 0);
	assert_int_equal(lsm_close(db, NULL), 0);

	assert_int_equal(tdir_rmrf(tdir_path(d, "plain")) == 0 ||
			 errno == ENOENT, 1);
	/* Without a prefix a flush is one table (no cuts), placed as a
	 * whole above everything it overlaps: the inode record sorts after
	 * every chunk key, so each round's table overlaps the ones before:
	 * the first goes to L2, the second stops above it in L1, the third
	 * stays in L0. */
	options(&o, 0);
	assert_int_equal(lsm_open(tdir_path(d, "plain"), &o, &db, NULL), 0);
	for (int r = 0; r < 3; r++) {
		for (int i = r * 200; i < r * 200 + 200; i++)
			put_c(db, i, 0);
		put_i(db, r);
		assert_int_equal(lsm_flush(db, NULL), 0);
		counts(db, c);
		assert_int_equal(c[0] + c[1] + c[2], (unsigned)r + 1);
		assert_int_equal(c[2 - r], 1);
	}
	for (int i = 0; i < 600; i++)
		expect_c(db, NULL, i, 0);
	expect_i(db, 2);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void assert_one_prefix(const struct file_meta *f)
{
	assert_true(f->smallest_len > 8 && f->largest_len > 8);
	assert_int_equal(f->smallest[0], f->largest[0]);
}

/* Compactions end their outputs where the first byte changes: every
 * table of every level holds one kind of key. */
static void test_compaction_cuts(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct version *v;

	options(&o, 1);
	o.memtable_bytes = 64u << 10;
	o.background_compaction = true;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int gen = 0; gen < 4; gen++)
		for (int i = 0; i < 400; i++) {
			int k = (i * 7919) % 400;

			put_c(db, k, gen);
			if (i % 10 == 0)
				put_i(db, gen * 1000 + i);
		}
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	pthread_mutex_lock(&db->mu);
	v = db->vs.current;
	for (int l = 0; l < (int)db->opts.max_levels; l++)
		for (size_t j = 0; j < v->nfiles[l]; j++)
			assert_one_prefix(v->files[l][j]);
	pthread_mutex_unlock(&db->mu);
	check_levels(db);
	for (int i = 0; i < 400; i++)
		expect_c(db, NULL, i, 3);
	expect_i(db, 3390);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Sums the "(N below L0)" of the engine's flush messages. */
static void count_moved(void *ctx, enum lsm_log_level level, const char *msg)
{
	const char *p = strstr(msg, " below L0)");
	int *moved = ctx;

	(void)level;
	if (!p)
		return;
	while (p > msg && p[-1] >= '0' && p[-1] <= '9')
		p--;
	*moved += atoi(p);
}

/* Sequential appends, overwrites of old keys and an "i" key, with small
 * memtables and background compactions racing the placements: every
 * read matches a model, L1+ never overlap, also after reopen. */
static void test_race_with_compactions(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct rng r;
	enum { N = 9000 };
	static int gen[N];
	int next = 0, igen = 0, moved = 0;

	rng_init(&r, "flush_place_race", 0);
	options(&o, 1);
	o.log_fn = count_moved;
	o.log_ctx = &moved;
	o.memtable_bytes = 32u << 10;
	o.table_bytes = 16u << 10;
	o.level1_bytes = 64u << 10;
	o.background_compaction = true;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < N; i++)
		gen[i] = -1;
	for (int step = 0; step < 12000; step++) {
		/* phases of appends only, and of mixed writes */
		uint64_t x = (step / 2000) % 2 ? rng_below(&r, 10) :
			     rng_below(&r, 20) < 19 ? 0 : 9;

		if (x < 6 && next < N) {
			gen[next] = 0;
			put_c(db, next++, 0);
		} else if (x < 9 && next > 0) {
			int k = (int)rng_below(&r, (uint64_t)next);

			put_c(db, k, ++gen[k]);
		} else {
			put_i(db, ++igen);
		}
		if (step % 1500 == 0)
			check_levels(db);
	}
	check_levels(db);
	for (int i = 0; i < N; i++)
		expect_c(db, NULL, i, gen[i]);
	assert_int_equal(lsm_close(db, NULL), 0);
	fprintf(stderr, "%d tables flushed below L0\n", moved);
	assert_true(moved > 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_levels(db);
	for (int i = 0; i < N; i++)
		expect_c(db, NULL, i, gen[i]);
	if (igen)
		expect_i(db, igen);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_option_checked(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };

	options(&o, 65);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "prefix"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_keys_go_down, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_overlap_stays_above, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_tombstones_stay_default_places, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_small_spanning_table_holds_nothing_back, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_compaction_cuts, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_race_with_compactions, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_option_checked, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
