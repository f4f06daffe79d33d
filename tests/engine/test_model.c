/* test_model.c - a long random mix of put/delete/get/scan/batch with
 * snapshots, flushes, compactions and reopens interleaved, checked against a
 * plain in-memory model, from many seeds.  Tiny memtables and levels make
 * flushes and compactions happen all the time; after each step that changes
 * the tables, the level invariants are checked. */
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

#define NKEYS 600
#define MAXV 300

struct model {
	char *val[NKEYS]; /* NULL = absent */
	size_t len[NKEYS];
};

static void key_of(int i, char *k)
{
	snprintf(k, 16, "key-%05d", i);
}

static void model_set(struct model *m, int i, const void *v, size_t n)
{
	free(m->val[i]);
	m->val[i] = NULL;
	if (v) {
		m->val[i] = malloc(n + 1);
		memcpy(m->val[i], v, n);
		m->len[i] = n;
	}
}

static void model_copy(struct model *dst, const struct model *src)
{
	for (int i = 0; i < NKEYS; i++) {
		dst->val[i] = NULL;
		model_set(dst, i, src->val[i], src->len[i]);
	}
}

static void model_free(struct model *m)
{
	for (int i = 0; i < NKEYS; i++)
		model_set(m, i, NULL, 0);
}

static void check_get(struct lsm_db *db, const struct lsm_snapshot *s,
		      const struct model *m, int i)
{
	char k[16];
	void *v = NULL;
	size_t n;
	struct lsm_err err = { 0 };
	int rc;

	key_of(i, k);
	rc = lsm_get(db, s, k, strlen(k), &v, &n, &err);
	if (!m->val[i]) {
		if (rc != 0)
			fprintf(stderr, "get %s: expected absent, rc=%d %s\n",
				k, rc, err.msg);
		assert_int_equal(rc, 0);
		return;
	}
	if (rc != 1)
		fprintf(stderr, "get %s: rc=%d %s\n", k, rc, err.msg);
	assert_int_equal(rc, 1);
	assert_int_equal(n, m->len[i]);
	assert_memory_equal(v, m->val[i], n);
	free(v);
}

/* Scans [lo, hi) forward or backward and compares with the model. */
static void check_scan(struct lsm_db *db, const struct lsm_snapshot *s,
		       const struct model *m, int lo, int hi, bool backward)
{
	struct lsm_iter *it;
	char k[16];
	int i;

	assert_int_equal(lsm_iter_new(db, s, &it, NULL), 0);
	if (backward) {
		key_of(hi, k);
		lsm_iter_seek(it, k, strlen(k));
		if (lsm_iter_valid(it))
			lsm_iter_prev(it);
		else
			lsm_iter_seek_last(it);
		i = hi - 1;
	} else {
		key_of(lo, k);
		lsm_iter_seek(it, k, strlen(k));
		i = lo;
	}
	for (;;) {
		size_t kl, vl;
		const char *ik, *iv;

		while (i >= lo && i < hi && !m->val[i])
			i += backward ? -1 : 1;
		if (i < lo || i >= hi)
			break;
		assert_true(lsm_iter_valid(it));
		ik = lsm_iter_key(it, &kl);
		iv = lsm_iter_value(it, &vl);
		key_of(i, k);
		assert_int_equal(kl, strlen(k));
		assert_memory_equal(ik, k, kl);
		assert_int_equal(vl, m->len[i]);
		assert_memory_equal(iv, m->val[i], vl);
		if (backward)
			lsm_iter_prev(it);
		else
			lsm_iter_next(it);
		i += backward ? -1 : 1;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	lsm_iter_free(it);
}

static void small_options(struct lsm_options *o, struct rng *r)
{
	lsm_options_init(o);
	o->memtable_bytes = 16u << 10;
	o->table_bytes = 8u << 10;
	o->level1_bytes = 32u << 10;
	o->level_multiplier = 4;
	o->block_bytes = 512;
	o->l0_compaction_trigger = 2;
	o->l0_slowdown_trigger = 4;
	o->l0_stop_trigger = 8;
	o->cache_bytes = rng_below(r, 2) ? 64u << 10 : 0;
	o->compression = rng_below(r, 2) ? LSM_COMPRESS_ZLIB
					  : LSM_COMPRESS_NONE;
	o->bloom_bits_per_key = (unsigned)rng_below(r, 3) * 5;
	o->io = test_io_nosync();
}

static struct lsm_db *reopen(const char *dir, struct lsm_options *o,
			     struct lsm_db *db)
{
	struct lsm_err err = { 0 };
	int rc;

	if (db)
		assert_int_equal(lsm_close(db, NULL), 0);
	rc = lsm_open(dir, o, &db, &err);
	if (rc)
		fprintf(stderr, "open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return db;
}

static void run_model(const char *dir, uint64_t seed, int steps)
{
	struct model m = { 0 }, snapm = { 0 };
	const struct lsm_snapshot *snap = NULL;
	struct lsm_options o;
	struct lsm_db *db;
	struct rng r;
	char k[16], v[MAXV];

	rng_init(&r, "model", seed);
	small_options(&o, &r);
	db = reopen(dir, &o, NULL);
	for (int step = 0; step < steps; step++) {
		unsigned op = (unsigned)rng_below(&r, 1000);
		int i = (int)rng_below(&r, NKEYS);
		size_t n = rng_below(&r, MAXV);

		key_of(i, k);
		if (op < 450) {
			rng_bytes(&r, v, n);
			assert_int_equal(lsm_put(db, k, strlen(k), v, n, NULL), 0);
			model_set(&m, i, v, n);
		} else if (op < 600) {
			assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
			model_set(&m, i, NULL, 0);
		} else if (op < 800) {
			check_get(db, NULL, &m, i);
			if (snap)
				check_get(db, snap, &snapm, i);
		} else if (op < 850) {
			struct lsm_batch *b = lsm_batch_new();
			int cnt = (int)rng_below(&r, 20) + 1;

			for (int j = 0; j < cnt; j++) {
				int x = (int)rng_below(&r, NKEYS);

				key_of(x, k);
				n = rng_below(&r, MAXV);
				rng_bytes(&r, v, n);
				if (rng_below(&r, 4) == 0) {
					lsm_batch_delete(b, k, strlen(k));
					model_set(&m, x, NULL, 0);
				} else {
					lsm_batch_put(b, k, strlen(k), v, n);
					model_set(&m, x, v, n);
				}
			}
			assert_int_equal(lsm_write(db, b, 0, NULL), 0);
			lsm_batch_free(b);
		} else if (op < 900) {
			int lo = (int)rng_below(&r, NKEYS);
			int hi = lo + (int)rng_below(&r, NKEYS - lo + 1);

			check_scan(db, NULL, &m, lo, hi, rng_below(&r, 2));
			if (snap)
				check_scan(db, snap, &snapm, lo, hi,
					   rng_below(&r, 2));
		} else if (op < 930) {
			if (snap) {
				lsm_snapshot_release(db, snap);
				model_free(&snapm);
			}
			snap = lsm_snapshot_new(db);
			model_copy(&snapm, &m);
		} else if (op < 960) {
			assert_int_equal(lsm_flush(db, NULL), 0);
			check_levels(db);
		} else if (op < 975) {
			int lo = (int)rng_below(&r, NKEYS), hi;
			char kh[16];

			hi = lo + (int)rng_below(&r, NKEYS - lo);
			key_of(lo, k);
			key_of(hi, kh);
			assert_int_equal(lsm_compact_range(db, k, strlen(k), kh,
							   strlen(kh), NULL), 0);
			check_levels(db);
		} else if (op < 985) {
			if (snap) {
				lsm_snapshot_release(db, snap);
				model_free(&snapm);
				snap = NULL;
			}
			db = reopen(dir, &o, db);
			check_levels(db);
		} else {
			check_scan(db, NULL, &m, 0, NKEYS, false);
		}
	}
	if (snap)
		lsm_snapshot_release(db, snap);
	check_scan(db, NULL, &m, 0, NKEYS, false);
	check_scan(db, NULL, &m, 0, NKEYS, true);
	for (int i = 0; i < NKEYS; i++)
		check_get(db, NULL, &m, i);
	db = reopen(dir, &o, db);
	for (int i = 0; i < NKEYS; i++)
		check_get(db, NULL, &m, i);
	check_levels(db);
	assert_int_equal(lsm_close(db, NULL), 0);
	model_free(&m);
	model_free(&snapm);
}

static void test_model_seeds(void **state)
{
	struct tdir *d = *state;
	const char *env = getenv("LSM_MODEL_SEEDS");
	int seeds = env ? atoi(env) : 12;
	char name[32];

	for (int s = 1; s <= seeds; s++) {
		snprintf(name, sizeof(name), "seed%d", s);
		run_model(tdir_path(d, name), getenv("LSM_SEED") ? 0 :
			  (uint64_t)s * 7919, 6000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_model_seeds, tdir_setup,
						tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
