/* test_iter_bound.c - lsm_iter_set_upper_bound: forward and backward scans,
 * seeks and random walks against a model, over keys spread across the
 * memtable, L0 and deeper tables with tombstones among them; a snapshot
 * behind the bound; and the point of it, that stepping past a range's last
 * live key stops at the bound instead of walking the deleted keys after it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "lsm.h"
#include "support.h"

#define NKEYS 1000

static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 32u << 10;
	o->table_bytes = 32u << 10;
	o->level1_bytes = 128u << 10;
	o->l0_compaction_trigger = 4;
	o->reserve_bytes = 0;
}

static void key_of(unsigned i, char k[8])
{
	snprintf(k, 8, "k%05u", i);
}

static struct lsm_db *open_db(void **state)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(*state), &o, &db, &err), 0);
	return db;
}

static void put(struct lsm_db *db, unsigned i, unsigned round)
{
	char k[8], v[64];

	key_of(i, k);
	snprintf(v, sizeof(v), "%s round %u %040u", k, round, i);
	assert_int_equal(lsm_put(db, k, 6, v, strlen(v), NULL), 0);
}

static void del(struct lsm_db *db, unsigned i)
{
	char k[8];

	key_of(i, k);
	assert_int_equal(lsm_delete(db, k, 6, NULL), 0);
}

static uint64_t steps(struct lsm_db *db)
{
	return atomic_load(&db->stats.iter_steps);
}

static unsigned key_index(struct lsm_iter *it)
{
	size_t kl;
	const char *k = lsm_iter_key(it, &kl);

	assert_int_equal(kl, 6);
	assert_int_equal(k[0], 'k');
	return (unsigned)strtoul(k + 1, NULL, 10);
}

/* With UPPER as its bound, IT finds nothing from either end. */
static void expect_nothing_below(struct lsm_iter *it, const char *upper,
				 size_t ulen)
{
	assert_int_equal(lsm_iter_set_upper_bound(it, upper, ulen), 0);
	lsm_iter_seek_last(it);
	assert_false(lsm_iter_valid(it));
	lsm_iter_seek_first(it);
	assert_false(lsm_iter_valid(it));
}

/* From the first key, IT yields exactly keys 0..N-1. */
static void expect_first_n(struct lsm_iter *it, unsigned n)
{
	unsigned got = 0;

	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		assert_int_equal(key_index(it), got++);
	assert_int_equal(got, n);
	assert_int_equal(lsm_iter_status(it, NULL), 0);
}

/* Keys 0..999 in tables, then 400..899 deleted (some tombstones flushed,
 * some in the memtable). */
static struct lsm_db *deleted_middle(void **state)
{
	struct lsm_db *db = open_db(state);

	for (unsigned i = 0; i < NKEYS; i++)
		put(db, i, 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	for (unsigned i = 400; i < 700; i++)
		del(db, i);
	assert_int_equal(lsm_flush(db, NULL), 0);
	for (unsigned i = 700; i < 900; i++)
		del(db, i);
	return db;
}

static void test_stops_at_bound(void **state)
{
	struct lsm_db *db = deleted_middle(state);
	struct lsm_iter *it;
	uint64_t before, bounded, unbounded;
	char k[8];
	unsigned n = 0;

	/* Unbounded: past key 399 the scan walks 500 deleted keys to 900. */
	before = steps(db);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	key_of(399, k);
	lsm_iter_seek(it, k, 6);
	assert_true(lsm_iter_valid(it));
	lsm_iter_next(it);
	assert_true(lsm_iter_valid(it));
	assert_int_equal(key_index(it), 900);
	lsm_iter_free(it);
	unbounded = steps(db) - before;

	/* Bounded at 400: it ends there, having read one entry past 399. */
	before = steps(db);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	key_of(400, k);
	assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
	key_of(399, k);
	lsm_iter_seek(it, k, 6);
	assert_true(lsm_iter_valid(it));
	assert_int_equal(key_index(it), 399);
	lsm_iter_next(it);
	assert_false(lsm_iter_valid(it));
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	lsm_iter_free(it);
	bounded = steps(db) - before;
	assert_true(unbounded >= 500);
	assert_true(bounded <= 2);

	/* A whole bounded scan: exactly the keys below the bound. */
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	key_of(250, k);
	assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
	expect_first_n(it, 250);
	/* Seeks at or past the bound find nothing. */
	lsm_iter_seek(it, k, 6);
	assert_false(lsm_iter_valid(it));
	lsm_iter_seek(it, "z", 1);
	assert_false(lsm_iter_valid(it));
	/* The bound removed: everything live again. */
	assert_int_equal(lsm_iter_set_upper_bound(it, NULL, 0), 0);
	n = 0;
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(n, NKEYS - 500);
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_backward_with_bound(void **state)
{
	struct lsm_db *db = deleted_middle(state);
	struct lsm_iter *it;
	char k[8];

	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	/* A live bound is itself excluded. */
	key_of(950, k);
	assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
	lsm_iter_seek_last(it);
	assert_true(lsm_iter_valid(it));
	assert_int_equal(key_index(it), 949);
	lsm_iter_prev(it);
	assert_int_equal(key_index(it), 948);
	lsm_iter_next(it);
	lsm_iter_next(it);
	assert_false(lsm_iter_valid(it)); /* 950 is past the end */
	/* A bound among deleted keys: the last live key below it. */
	key_of(650, k);
	assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
	lsm_iter_seek_last(it);
	assert_int_equal(key_index(it), 399);
	lsm_iter_next(it);
	assert_false(lsm_iter_valid(it));
	/* Above every key, and below every key. */
	assert_int_equal(lsm_iter_set_upper_bound(it, "z", 1), 0);
	lsm_iter_seek_last(it);
	assert_int_equal(key_index(it), NKEYS - 1);
	expect_nothing_below(it, "a", 1);
	/* The empty key: nothing is below it. */
	expect_nothing_below(it, "", 0);
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_snapshot_with_bound(void **state)
{
	struct lsm_db *db = open_db(state);
	const struct lsm_snapshot *snap;
	struct lsm_iter *it;
	char k[8];

	for (unsigned i = 0; i < NKEYS; i++)
		put(db, i, 0);
	snap = lsm_snapshot_new(db);
	assert_non_null(snap);
	for (unsigned i = 0; i < NKEYS; i += 2)
		del(db, i);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_iter_new(db, snap, &it, NULL), 0);
	key_of(300, k);
	assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
	expect_first_n(it, 300);
	lsm_iter_free(it);
	lsm_snapshot_release(db, snap);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* The keys of MODEL (true: live) in [lo, hi). */
static void expect_range(struct lsm_iter *it, const bool *model, unsigned lo,
			 unsigned hi, bool forward)
{
	if (forward) {
		for (unsigned i = lo; i < hi; i++) {
			if (!model[i])
				continue;
			assert_true(lsm_iter_valid(it));
			assert_int_equal(key_index(it), i);
			lsm_iter_next(it);
		}
	} else {
		for (unsigned i = hi; i-- > lo;) {
			if (!model[i])
				continue;
			assert_true(lsm_iter_valid(it));
			assert_int_equal(key_index(it), i);
			lsm_iter_prev(it);
		}
	}
	assert_false(lsm_iter_valid(it));
	assert_int_equal(lsm_iter_status(it, NULL), 0);
}

static void test_random_against_model(void **state)
{
	struct lsm_db *db = open_db(state);
	static bool model[NKEYS];
	struct rng r;
	struct lsm_iter *it;
	char k[8];

	rng_init(&r, "iter_bound", 0);
	memset(model, 0, sizeof(model));
	for (unsigned op = 0; op < 20000; op++) {
		unsigned i = (unsigned)rng_below(&r, NKEYS);

		/* Runs of deletes, as rm -rf makes. */
		if (rng_below(&r, 3) == 0) {
			unsigned run = (unsigned)rng_below(&r, 40);

			for (unsigned j = i; j < NKEYS && j < i + run; j++) {
				del(db, j);
				model[j] = false;
			}
		} else {
			put(db, i, op);
			model[i] = true;
		}
		if (op % 5000 == 4999)
			assert_int_equal(lsm_flush(db, NULL), 0);
	}
	for (unsigned t = 0; t < 300; t++) {
		unsigned hi = (unsigned)rng_below(&r, NKEYS + 1);
		unsigned lo = hi ? (unsigned)rng_below(&r, hi + 1) : 0;

		assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
		key_of(hi, k);
		assert_int_equal(lsm_iter_set_upper_bound(it, k, 6), 0);
		key_of(lo, k);
		lsm_iter_seek(it, k, 6);
		expect_range(it, model, lo, hi, true);
		lsm_iter_seek_last(it);
		expect_range(it, model, 0, hi, false);
		/* A walk: back from the last, then forward to the end. */
		lsm_iter_seek_last(it);
		if (lsm_iter_valid(it)) {
			unsigned last = key_index(it), j;

			lsm_iter_prev(it);
			if (lsm_iter_valid(it)) {
				j = key_index(it);
				lsm_iter_next(it);
				assert_int_equal(key_index(it), last);
				assert_true(j < last);
			}
			lsm_iter_seek_last(it);
			lsm_iter_next(it);
			assert_false(lsm_iter_valid(it));
		}
		lsm_iter_free(it);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stops_at_bound,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_backward_with_bound,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_with_bound,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_random_against_model,
						tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
