/* test_read_compaction.c - read-triggered compaction (read_sample_bytes,
 * engine/compaction.c): scans over keys that several tables hold compact
 * the shallowest table down until each key is in one table, every key
 * still reads its newest value (also through a snapshot taken before);
 * so do lookups that read a table's block in vain on their way to a
 * deeper table, while lookups that its filter turns away, or that find
 * their key in the first table they ask, charge nothing; nothing happens
 * with the option off, in a read-only open, or over keys that only one
 * table holds. */
#include <errno.h>
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

#define NKEYS 2000

static void options(struct lsm_options *o, size_t sample_bytes)
{
	lsm_options_init(o);
	o->memtable_bytes = 4u << 20; /* flushes only when asked */
	o->table_bytes = 64u << 10;
	o->l0_compaction_trigger = 8; /* no size-triggered L0 compaction */
	o->read_sample_bytes = sample_bytes;
	o->io = test_io_nosync();
}

static void put_round(struct lsm_db *db, int round, int step)
{
	char k[32], v[64];

	for (int i = 0; i < NKEYS; i += step) {
		snprintf(k, sizeof(k), "k%06d", i);
		snprintf(v, sizeof(v), "v%d/%d", i, round);
		assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), NULL),
				 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
}

/* The round each key was last written in, for put_round's pattern. */
static int newest_round(int i, int rounds, const int *steps)
{
	int last = -1;

	for (int r = 0; r < rounds; r++)
		if (i % steps[r] == 0)
			last = r;
	return last;
}

/* Scans every key once, checking it holds round EXPECT(i). */
static void scan(struct lsm_db *db, const struct lsm_snapshot *snap,
		 int rounds, const int *steps)
{
	struct lsm_iter *it;
	int n = 0;

	assert_int_equal(lsm_iter_new(db, snap, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const char *k = lsm_iter_key(it, &kl);
		const char *v = lsm_iter_value(it, &vl);
		char want[64];
		int i = atoi(k + 1);

		snprintf(want, sizeof(want), "v%d/%d", i,
			 newest_round(i, rounds, steps));
		assert_int_equal(vl, strlen(want));
		assert_memory_equal(v, want, vl);
		n++;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(n, NKEYS);
	lsm_iter_free(it);
}

static unsigned total_tables(struct lsm_db *db, unsigned c[7])
{
	unsigned t = 0;

	assert_int_equal(lsm_level_tables(db, c, 7), 0);
	for (int l = 0; l < 7; l++)
		t += c[l];
	return t;
}

/* Waits for the compaction thread to be done with what reads marked. */
static void settle(struct lsm_db *db)
{
	for (int i = 0; i < 200; i++) {
		bool busy;

		pthread_mutex_lock(&db->mu);
		busy = db->read_compact_number || db->compaction_running;
		pthread_mutex_unlock(&db->mu);
		if (!busy)
			return;
		usleep(10000);
	}
}

/* Reads with READ(DB, ARG) until a read-triggered compaction ran (at most
 * FIRST passes), then until L0 and L1 are empty (at most MORE), letting
 * the compaction thread finish between passes; checks they ended empty
 * and the levels sound. */
static void read_until_pushed_down(struct lsm_db *db,
				   void (*read)(struct lsm_db *, void *),
				   void *arg, int first, int more)
{
	unsigned c[7];

	for (int i = 0; i < first &&
	     atomic_load(&db->stats.read_compactions) == 0; i++)
		read(db, arg);
	assert_true(atomic_load(&db->stats.read_compactions) > 0);
	for (int i = 0; i < more; i++) {
		settle(db);
		total_tables(db, c);
		if (c[0] == 0 && c[1] == 0)
			break;
		read(db, arg);
	}
	settle(db);
	total_tables(db, c);
	assert_int_equal(c[0], 0);
	assert_int_equal(c[1], 0);
	check_levels(db);
}

/* A scan of every key written in rounds with the steps ARG (3 rounds). */
static void scan_three(struct lsm_db *db, void *arg)
{
	scan(db, NULL, 3, arg);
}

/* Three overlapping flushes (placed L2, L1, L0: each covers the whole
 * range), then scans: the shallow tables are compacted down. */
static void test_scans_compact_overlap(void **state)
{
	struct tdir *d = *state;
	static const int steps[] = { 1, 2, 3 };
	const struct lsm_snapshot *snap;
	struct lsm_options o;
	struct lsm_db *db;
	unsigned c[7];

	options(&o, 64);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int r = 0; r < 3; r++)
		put_round(db, r, steps[r]);
	total_tables(db, c);
	assert_true(c[0] >= 1 && c[1] >= 1 && c[2] >= 1);
	snap = lsm_snapshot_new(db);
	assert_non_null(snap);
	/* scans until every key is in one table */
	read_until_pushed_down(db, scan_three, (void *)steps, 500, 500);
	scan(db, NULL, 3, steps);
	scan(db, snap, 3, steps); /* the snapshot saw all three rounds */
	lsm_snapshot_release(db, snap);
	assert_int_equal(lsm_close(db, NULL), 0);

	/* and after a reopen */
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	scan(db, NULL, 3, steps);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Looks up key I and checks it holds round ROUND (-1: absent). */
static void get_key(struct lsm_db *db, int i, int round)
{
	char k[32], want[64], buf[64];
	size_t vl;
	int rc;

	snprintf(k, sizeof(k), "k%06d", i);
	rc = lsm_get_buf(db, NULL, k, strlen(k), buf, sizeof(buf), &vl, NULL);
	if (round < 0) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, 1);
	snprintf(want, sizeof(want), "v%d/%d", i, round);
	assert_int_equal(vl, strlen(want));
	assert_memory_equal(buf, want, vl);
}

/* Looks up every odd key, which only the first round (0) wrote. */
static void get_odd(struct lsm_db *db, void *arg)
{
	(void)arg;
	for (int i = 1; i < NKEYS; i += 2)
		get_key(db, i, 0);
}

/* The charges of every table above the deepest level that holds one. */
static unsigned upper_charges(struct lsm_db *db)
{
	struct version *v;
	unsigned sum = 0;
	int deepest = 0;

	pthread_mutex_lock(&db->mu);
	v = db->vs.current;
	for (int l = 0; l < (int)db->opts.max_levels; l++)
		if (v->nfiles[l])
			deepest = l;
	for (int l = 0; l < deepest; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			sum += atomic_load(&v->files[l][i]->read_charges);
	pthread_mutex_unlock(&db->mu);
	return sum;
}

/* Two overlapping flushes, every key then the even ones, without filters:
 * a lookup of an odd key reads a block of the upper table in vain before
 * the lower one has it.  Those lookups push the upper tables down; even
 * keys, found in the first table asked, charge nothing. */
static void test_lookups_compact_blocks_missed(void **state)
{
	struct tdir *d = *state;
	static const int steps[] = { 1, 2 };
	struct lsm_options o;
	struct lsm_db *db;
	unsigned c[7];

	options(&o, 64);
	o.bloom_bits_per_key = 0;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_round(db, 0, 1);
	put_round(db, 1, 2);
	total_tables(db, c);
	assert_true(c[0] + c[1] >= 1);

	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < NKEYS; i += 2)
			get_key(db, i, 1);
	assert_int_equal(upper_charges(db), 0);
	assert_int_equal(atomic_load(&db->stats.read_compactions), 0);

	read_until_pushed_down(db, get_odd, NULL, 50, 200);
	for (int i = 0; i < NKEYS; i++)
		get_key(db, i, newest_round(i, 2, steps));
	get_key(db, NKEYS + 1, -1);
	scan(db, NULL, 2, steps);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* With filters (the default), a lookup the upper table's filter turns
 * away reads no block there: only its false positives charge it. */
static void test_filtered_lookups_charge_little(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	unsigned lookups = 0;

	options(&o, 64);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_round(db, 0, 1);
	put_round(db, 1, 2);
	for (int pass = 0; pass < 3; pass++)
		for (int i = 1; i < NKEYS; i += 2, lookups++)
			get_key(db, i, 0);
	/* 10 bits a key: about 1% false positives; 5% is far above */
	assert_true(upper_charges(db) <= lookups / 20);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Off (0), read-only, and a store where one table holds each key: no
 * compaction however much is scanned. */
static void test_no_compaction_when_not_due(void **state)
{
	struct tdir *d = *state;
	static const int steps[] = { 1, 2 };
	struct lsm_options o;
	struct lsm_db *db;
	unsigned c[7], before;

	options(&o, 0);
	assert_int_equal(lsm_open(tdir_path(d, "off"), &o, &db, NULL), 0);
	put_round(db, 0, 1);
	put_round(db, 1, 2);
	before = total_tables(db, c);
	for (int i = 0; i < 200; i++)
		scan(db, NULL, 2, steps);
	for (int pass = 0; pass < 20; pass++)
		for (int i = 1; i < NKEYS; i += 2)
			get_key(db, i, 0);
	settle(db);
	assert_int_equal(total_tables(db, c), before);
	assert_int_equal(atomic_load(&db->stats.read_compactions), 0);
	assert_int_equal(upper_charges(db), 0);
	assert_int_equal(lsm_close(db, NULL), 0);

	options(&o, 64);
	o.read_only = true;
	o.bloom_bits_per_key = 0;
	assert_int_equal(lsm_open(tdir_path(d, "off"), &o, &db, NULL), 0);
	for (int i = 0; i < 200; i++)
		scan(db, NULL, 2, steps);
	for (int pass = 0; pass < 20; pass++)
		for (int i = 1; i < NKEYS; i += 2)
			get_key(db, i, 0);
	assert_int_equal(upper_charges(db), 0);
	assert_int_equal(atomic_load(&db->stats.read_compactions), 0);
	assert_int_equal(total_tables(db, c), before);
	assert_int_equal(lsm_close(db, NULL), 0);

	/* one flush of keys in order: one level, one table per key */
	options(&o, 64);
	assert_int_equal(lsm_open(tdir_path(d, "one"), &o, &db, NULL), 0);
	put_round(db, 0, 1);
	before = total_tables(db, c);
	for (int i = 0; i < 200; i++)
		scan(db, NULL, 1, steps);
	settle(db);
	assert_int_equal(atomic_load(&db->stats.read_compactions), 0);
	assert_int_equal(total_tables(db, c), before);
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scans_compact_overlap, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_lookups_compact_blocks_missed, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_filtered_lookups_charge_little, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_no_compaction_when_not_due, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
