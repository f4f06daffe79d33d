/* test_vlog.c - the value log (engine/vlog.c, engine/doc/value-log.md):
 * pointers encode and decode; with value_log_min_bytes set a flush writes
 * pointers for large values and the store reads them back through gets,
 * buffers of every size, forward and backward scans, snapshots, open
 * iterators and reopens (with the option off too); the feature bit keeps
 * older builds out; a segment stays while a table points into it and goes
 * when none does; the collection copies values back into tables when the
 * kept segments hold mostly dead bytes; a damaged or missing segment is
 * -EUCLEAN for its values only; lsm_check reads every pointer. */
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
#include "filename.h"
#include "lsm.h"
#include "lsm_files.h"
#include "lsm_tool.h"
#include "support.h"
#include "vlog.h"

#define NKEYS 300
#define BIG 4096

static void options(struct lsm_options *o, uint32_t min)
{
	lsm_options_init(o);
	o->memtable_bytes = 4u << 20; /* flushes only when asked */
	o->table_bytes = 256u << 10;
	o->value_log_min_bytes = min;
	o->read_sample_bytes = 0;
	o->io = test_io_nosync();
}

/* Value of key I in round R: BIG bytes for even I, small for odd I. */
static size_t value_of(int i, int r, uint8_t *out)
{
	size_t n = i % 2 == 0 ? BIG : 20;

	for (size_t j = 0; j < n; j++)
		out[j] = (uint8_t)(i * 31 + r * 7 + j * 13);
	snprintf((char *)out, 16, "%d/%d", i, r);
	return n;
}

static void key_of(int i, char *k)
{
	snprintf(k, 16, "k%06d", i);
}

static void put_round(struct lsm_db *db, int r)
{
	uint8_t v[BIG];
	char k[16];

	for (int i = 0; i < NKEYS; i++) {
		size_t n = value_of(i, r, v);

		key_of(i, k);
		assert_int_equal(lsm_put(db, k, strlen(k), v, n, NULL), 0);
	}
}

static void check_get(struct lsm_db *db, const struct lsm_snapshot *s, int r)
{
	uint8_t want[BIG], small[8], full[BIG];
	char k[16];

	for (int i = 0; i < NKEYS; i++) {
		size_t n = value_of(i, r, want), vl = 0;
		void *v = NULL;

		key_of(i, k);
		assert_int_equal(lsm_get(db, s, k, strlen(k), &v, &vl, NULL), 1);
		assert_int_equal(vl, n);
		assert_memory_equal(v, want, n);
		free(v);
		/* a caller's buffer, too small and large enough */
		assert_int_equal(lsm_get_buf(db, s, k, strlen(k), small,
					     sizeof(small), &vl, NULL), 1);
		assert_int_equal(vl, n);
		assert_memory_equal(small, want, sizeof(small));
		assert_int_equal(lsm_get_buf(db, s, k, strlen(k), full,
					     sizeof(full), &vl, NULL), 1);
		assert_int_equal(vl, n);
		assert_memory_equal(full, want, n);
	}
}

static void check_scan(struct lsm_db *db, const struct lsm_snapshot *s, int r)
{
	uint8_t want[BIG];
	struct lsm_iter *it;
	int i = 0;

	assert_int_equal(lsm_iter_new(db, s, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t vl, n = value_of(i, r, want);
		const void *v = lsm_iter_value(it, &vl);

		assert_int_equal(vl, n);
		assert_memory_equal(v, want, n);
		i++;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(i, NKEYS);
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
		size_t vl, n;
		const void *v = lsm_iter_value(it, &vl);

		i--;
		n = value_of(i, r, want);
		assert_int_equal(vl, n);
		assert_memory_equal(v, want, n);
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(i, 0);
	lsm_iter_free(it);
}

/* Problems lsm_check_dir finds in the (closed) store at DIR. */
static unsigned check_problems(const char *dir)
{
	unsigned problems = 0;

	assert_int_equal(lsm_check_dir(dir, NULL, NULL, NULL, NULL,
				       &problems, NULL), 0);
	return problems;
}

/* Opens DIR with the value log (O gets the options) and writes and
 * flushes round 0: its large values are pointers. */
static struct lsm_db *open_round0(const char *dir, struct lsm_options *o)
{
	struct lsm_db *db;

	options(o, 1024);
	assert_int_equal(lsm_open(dir, o, &db, NULL), 0);
	put_round(db, 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	return db;
}

static bool segment_exists(const char *dir, uint64_t n)
{
	char path[LSM_PATH_MAX];
	struct stat st;

	filename_path(path, dir, FILE_WAL, n);
	return stat(path, &st) == 0;
}

/* The oldest segment tables of live versions point into (0: none), and
 * how many they point into (*N). */
static uint64_t min_pointed_n(struct lsm_db *db, size_t *n)
{
	struct vlog_refs r = { 0 };
	uint64_t min;

	pthread_mutex_lock(&db->mu);
	assert_int_equal(vset_vlog_live(&db->vs, &r), 0);
	pthread_mutex_unlock(&db->mu);
	min = r.n ? r.v[0].segment : 0;
	if (n)
		*n = r.n;
	vlog_refs_free(&r);
	return min;
}

static uint64_t min_pointed(struct lsm_db *db)
{
	return min_pointed_n(db, NULL);
}

static void sweep(struct lsm_db *db)
{
	pthread_mutex_lock(&db->mu);
	db_delete_obsolete(db);
	pthread_mutex_unlock(&db->mu);
}

static void test_pointer_codec(void **state)
{
	struct vptr p = { 123456789012ull, 1ull << 40, 4096, 0xdeadbeef }, q;
	uint8_t b[VPTR_MAX_BYTES + 1];
	size_t n;

	(void)state;
	n = vptr_encode(b, &p);
	assert_true(n <= VPTR_MAX_BYTES);
	assert_int_equal(vptr_decode(b, n, &q), 0);
	assert_true(q.segment == p.segment && q.offset == p.offset &&
		    q.length == p.length && q.crc == p.crc);
	/* cut short, trailing bytes, segment 0: malformed */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(vptr_decode(b, i, &q), -EUCLEAN);
	b[n] = 0;
	assert_int_equal(vptr_decode(b, n + 1, &q), -EUCLEAN);
	p.segment = 0;
	n = vptr_encode(b, &p);
	assert_int_equal(vptr_decode(b, n, &q), -EUCLEAN);
}

/* Flushed large values become pointers and read back every way. */
static void test_reads(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;

	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_true(db->vs.features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG);
	put_round(db, 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(stat_get(&db->stats.vlog_pointers), NKEYS / 2);
	assert_int_equal(stat_get(&db->stats.vlog_pointed_bytes),
			 (uint64_t)NKEYS / 2 * BIG);
	assert_true(min_pointed(db) > 0);
	check_get(db, NULL, 0);
	check_scan(db, NULL, 0);
	assert_true(stat_get(&db->stats.vlog_reads) > 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(check_problems(tdir_root(d)), 0);

	/* the pointers outlive a reopen, with the option off as well */
	options(&o, 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_get(db, NULL, 0);
	check_scan(db, NULL, 0);
	assert_true(db->vs.features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Keys and value lengths of a keys-only scan of round R, forward and
 * backward (from a memtable or from tables alike). */
static void check_keys_only(struct lsm_db *db, int r)
{
	uint8_t want[BIG];
	struct lsm_iter *it;
	char k[16];
	int i = 0;

	assert_int_equal(lsm_iter_new_ex(db, NULL, LSM_ITER_KEYS_ONLY, &it,
					 NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const void *key = lsm_iter_key(it, &kl);

		key_of(i, k);
		assert_int_equal(kl, strlen(k));
		assert_memory_equal(key, k, kl);
		assert_int_equal(lsm_iter_value_len(it), value_of(i, r, want));
		assert_null(lsm_iter_value(it, &vl));
		assert_int_equal(vl, 0);
		i++;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(i, NKEYS);
	for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
		i--;
		assert_int_equal(lsm_iter_value_len(it), value_of(i, r, want));
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(i, 0);
	lsm_iter_free(it);
}

/* A keys-only scan reads no pointed value: it gives their lengths, costs
 * no read of the log, and goes through even when a segment is lost. */
static void test_keys_only(void **state)
{
	struct tdir *d = *state;
	char path[LSM_PATH_MAX];
	struct lsm_options o;
	struct lsm_err err = { 0 };
	struct lsm_iter *it;
	struct lsm_db *db;
	uint64_t reads;

	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_iter_new_ex(db, NULL, 0x80, &it, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown iterator flags"));
	put_round(db, 0);
	check_keys_only(db, 0); /* the memtable */
	assert_int_equal(lsm_flush(db, NULL), 0);
	reads = stat_get(&db->stats.vlog_reads);
	check_keys_only(db, 0); /* pointers */
	assert_int_equal(stat_get(&db->stats.vlog_reads), reads);
	/* the same scan reading values does read the log */
	check_scan(db, NULL, 0);
	assert_true(stat_get(&db->stats.vlog_reads) >= reads + NKEYS);
	/* a lost segment fails reads of values, not a keys-only scan */
	filename_path(path, tdir_root(d), FILE_WAL, min_pointed(db));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_keys_only(db, 0);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	lsm_iter_seek_first(it);
	assert_false(lsm_iter_valid(it)); /* key 0's value is pointed */
	assert_int_equal(lsm_iter_status(it, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "is missing"));
	lsm_iter_free(it);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* An older build knows only wal_v2: it must refuse the store. */
static void test_feature_refused(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;

	db = open_round0(tdir_root(d), &o);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* what lsm_files reports is what an older build would check */
	{
		struct lsm_files *f = NULL;

		assert_int_equal(lsm_files_list(tdir_root(d), &f, NULL), 0);
		assert_true(f->incompat & LSM_FEATURE_INCOMPAT_VALUE_LOG);
		assert_true((f->incompat & ~(uint64_t)
			     LSM_FEATURE_INCOMPAT_WAL_V2) != 0);
		lsm_files_free(f);
	}
}

/* Segments stay while a table, an iterator or a snapshot needs them, and
 * go when nothing does. */
static void test_retention(void **state)
{
	struct tdir *d = *state;
	const struct lsm_snapshot *snap;
	struct lsm_options o;
	struct lsm_iter *it;
	struct lsm_db *db;
	uint64_t first;

	db = open_round0(tdir_root(d), &o);
	first = min_pointed(db);
	assert_true(first > 0);
	/* more flushes move the log number on: the segment stays */
	put_round(db, 1);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_true(db->vs.log_number > first);
	assert_true(segment_exists(tdir_root(d), first));

	/* a snapshot of round 1 and an iterator over it, then round 2
	 * replaces everything and the whole range is compacted */
	snap = lsm_snapshot_new(db);
	assert_non_null(snap);
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	put_round(db, 2);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	check_get(db, NULL, 2);
	check_get(db, snap, 1);
	check_scan(db, snap, 1);
	/* the iterator's version still reads round 1 */
	{
		uint8_t want[BIG];
		int i = 0;

		for (lsm_iter_seek_first(it); lsm_iter_valid(it);
		     lsm_iter_next(it), i++) {
			size_t vl, n = value_of(i, 1, want);
			const void *v = lsm_iter_value(it, &vl);

			assert_int_equal(vl, n);
			assert_memory_equal(v, want, n);
		}
		assert_int_equal(lsm_iter_status(it, NULL), 0);
		assert_int_equal(i, NKEYS);
	}
	lsm_iter_free(it);
	lsm_snapshot_release(db, snap);
	/* nothing needs round 0's segment now: a compaction lets it go */
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	pthread_mutex_lock(&db->mu);
	db_delete_obsolete(db);
	pthread_mutex_unlock(&db->mu);
	assert_true(min_pointed(db) > first);
	assert_false(segment_exists(tdir_root(d), first));
	check_get(db, NULL, 2);
	assert_int_equal(lsm_close(db, NULL), 0);
	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	check_get(db, NULL, 2);
	check_scan(db, NULL, 2);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(check_problems(tdir_root(d)), 0);
}

/* Segments kept for few live values are collected: the values are copied
 * back into tables and the segments go. */
static void test_collection(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	uint8_t big[BIG];
	uint64_t first;
	char k[16];

	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	/* 3 MiB of large values in one segment... */
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 768; i++) {
		key_of(i, k);
		big[0] = (uint8_t)i;
		assert_int_equal(lsm_put(db, k, strlen(k), big, BIG, NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	first = min_pointed(db);
	assert_true(first > 0);
	/* ...of which all but 8 are deleted: the segments hold dead bytes */
	for (int i = 8; i < 768; i++) {
		key_of(i, k);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	for (int tries = 0; tries < 100 && segment_exists(tdir_root(d), first);
	     tries++) {
		pthread_mutex_lock(&db->mu);
		db_delete_obsolete(db);
		db_bg_kick(db);
		pthread_mutex_unlock(&db->mu);
		usleep(20000);
	}
	assert_true(stat_get(&db->stats.vlog_inlined_bytes) >= 8 * BIG);
	assert_false(segment_exists(tdir_root(d), first));
	for (int i = 0; i < 768; i++) {
		void *v = NULL;
		size_t vl;

		key_of(i, k);
		big[0] = (uint8_t)i;
		assert_int_equal(lsm_get(db, NULL, k, strlen(k), &v, &vl,
					 NULL), i < 8 ? 1 : 0);
		if (i < 8) {
			assert_int_equal(vl, BIG);
			assert_memory_equal(v, big, BIG);
		}
		free(v);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Retention is exact: a newer segment whose values are all replaced goes
 * while an older one is still named, and the older goes once it is not
 * (no collection involved: nothing named is left in either). */
static void test_exact_retention(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	uint8_t big[BIG];
	uint64_t a;
	size_t n;
	char k[16];

	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 64; i++) { /* segment A: keys 0-63 */
		key_of(i, k);
		assert_int_equal(lsm_put(db, k, strlen(k), big, BIG, NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	a = min_pointed(db);
	memset(big, 'b', sizeof(big));
	for (int i = 100; i < 164; i++) { /* segment B: keys 100-163 */
		key_of(i, k);
		assert_int_equal(lsm_put(db, k, strlen(k), big, BIG, NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_true(min_pointed_n(db, &n) == a && n == 2);
	for (int i = 100; i < 164; i++) { /* B's keys deleted */
		key_of(i, k);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	sweep(db);
	assert_true(min_pointed_n(db, &n) == a && n == 1);
	assert_true(segment_exists(tdir_root(d), a));
	assert_int_equal(stat_get(&db->stats.vlog_inlined_bytes), 0);
	/* A's keys deleted too: A goes */
	for (int i = 0; i < 64; i++) {
		key_of(i, k);
		assert_int_equal(lsm_delete(db, k, strlen(k), NULL), 0);
	}
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	sweep(db);
	assert_int_equal(min_pointed(db), 0);
	assert_false(segment_exists(tdir_root(d), a));
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(check_problems(tdir_root(d)), 0);
}

/* A flipped bit in a kept segment fails its value only; a missing
 * segment fails the values in it; neither crashes. */
static void test_damage(void **state)
{
	struct tdir *d = *state;
	char path[LSM_PATH_MAX], k[16];
	struct lsm_options o;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	uint64_t first;
	void *v = NULL;
	size_t vl;
	int bad = 0;

	db = open_round0(tdir_root(d), &o);
	first = min_pointed(db);
	assert_true(first > 0);
	/* flip a byte inside key 100's value */
	filename_path(path, tdir_root(d), FILE_WAL, first);
	{
		size_t len;
		uint8_t *all = file_read_all(path, &len);
		const uint8_t *at;

		assert_non_null(all);
		at = memmem(all, len, "100/0", 6);
		assert_non_null(at);
		assert_int_equal(corrupt_flip(path, (at - all) + 100, 0x10),
				 0);
		free(all);
	}
	for (int i = 0; i < NKEYS; i += 2) {
		int rc;

		key_of(i, k);
		rc = lsm_get(db, NULL, k, strlen(k), &v, &vl, &err);
		if (rc == 1) {
			free(v);
			continue;
		}
		assert_int_equal(rc, -EUCLEAN);
		assert_non_null(strstr(err.msg, "checksum mismatch"));
		bad++;
	}
	assert_int_equal(bad, 1);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* the value, and the record around it when check replays the kept
	 * segment */
	assert_int_equal(check_problems(tdir_root(d)), 2);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	/* gone altogether: every pointed value fails, small ones still read */
	assert_int_equal(unlink(path), 0);
	for (int i = 0; i < NKEYS; i++) {
		int rc;

		key_of(i, k);
		rc = lsm_get(db, NULL, k, strlen(k), &v, &vl, &err);
		if (i % 2) {
			assert_int_equal(rc, 1);
			free(v);
		} else {
			assert_int_equal(rc, -EUCLEAN);
		}
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Values below the threshold, deletes and a store without the option
 * write no pointer. */
static void test_threshold(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;

	options(&o, BIG + 1);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_round(db, 0);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(stat_get(&db->stats.vlog_pointers), 0);
	assert_int_equal(min_pointed(db), 0);
	check_get(db, NULL, 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* A follower reads the writer's pointers, and keeps reading an old
 * state's values after the writer replaced them, compacted and deleted
 * the segment (it holds the segment open). */
static void test_follower(void **state)
{
	struct tdir *d = *state;
	const struct lsm_snapshot *snap;
	struct lsm_options o, fo;
	struct lsm_db *w, *f;
	uint64_t first;

	options(&o, 1024);
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	put_round(w, 0);
	assert_int_equal(lsm_flush(w, NULL), 0);
	first = min_pointed(w);
	options(&fo, 0);
	fo.follow = true;
	fo.read_only = true;
	fo.follow_interval_ms = 0;
	{
		struct lsm_err e = { 0 };
		int rc = lsm_open(tdir_root(d), &fo, &f, &e);

		if (rc)
			fprintf(stderr, "follower: %s\n", e.msg);
		assert_int_equal(rc, 0);
	}
	check_get(f, NULL, 0);
	check_scan(f, NULL, 0);
	snap = lsm_snapshot_new(f); /* holds the follower's state */
	assert_non_null(snap);
	put_round(w, 1);
	assert_int_equal(lsm_flush(w, NULL), 0);
	assert_int_equal(lsm_compact_range(w, NULL, 0, NULL, 0, NULL), 0);
	pthread_mutex_lock(&w->mu);
	db_delete_obsolete(w);
	pthread_mutex_unlock(&w->mu);
	assert_false(segment_exists(tdir_root(d), first));
	check_get(f, snap, 0);
	assert_true(lsm_catch_up(f, NULL) >= 0);
	check_get(f, NULL, 1);
	check_scan(f, NULL, 1);
	check_get(f, snap, 0);
	lsm_snapshot_release(f, snap);
	assert_true(lsm_catch_up(f, NULL) >= 0);
	check_get(f, NULL, 1);
	assert_int_equal(lsm_close(f, NULL), 0);
	assert_int_equal(lsm_close(w, NULL), 0);
}

/* A checkpoint links the segments its tables point into. */
static void test_checkpoint(void **state)
{
	struct tdir *d = *state;
	char dest[LSM_PATH_MAX];
	struct lsm_options o;
	struct lsm_db *db;

	db = open_round0(tdir_root(d), &o);
	snprintf(dest, sizeof(dest), "%s/cp", tdir_root(d));
	assert_int_equal(lsm_checkpoint(tdir_root(d), dest, NULL, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(check_problems(dest), 0);
	assert_int_equal(lsm_open(dest, &o, &db, NULL), 0);
	check_get(db, NULL, 0);
	check_scan(db, NULL, 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer_codec),
		cmocka_unit_test_setup_teardown(test_reads, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_keys_only, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_feature_refused,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_retention, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_collection, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_exact_retention,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_damage, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_threshold, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_follower, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint, tdir_setup,
						tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
