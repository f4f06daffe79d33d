/* test_cache.c - the sharded LRU cache (cache.h): LRU order, capacity and
 * eviction accounting, handles outliving erase/replace, zero capacity,
 * statistics, a multi-threaded stress; and the table cache on real tables.
 * Keys of one shard are found through the public API (see same_shard). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "filename.h"
#include "ikey.h"
#include "lsm_io.h"
#include "memtable.h"
#include "sst.h"
#include "support.h"
#include "table_cache.h"

#define SHARDS 16

/* Values are small integers cast to pointers; the deleter logs them. */
static uintptr_t deleted[4096];
static size_t ndeleted;

static void log_deleter(void *v)
{
	assert_true(ndeleted < sizeof(deleted) / sizeof(deleted[0]));
	deleted[ndeleted++] = (uintptr_t)v;
}

static bool was_deleted(uintptr_t v)
{
	for (size_t i = 0; i < ndeleted; i++)
		if (deleted[i] == v)
			return true;
	return false;
}

static void *val(uintptr_t v)
{
	return (void *)v;
}

static void put(struct cache *c, uint64_t id, uintptr_t v, size_t charge)
{
	struct cache_handle *h = cache_insert(c, id, 0, val(v), charge,
					      log_deleter);

	assert_non_null(h);
	assert_ptr_equal(cache_value(h), val(v));
	cache_release(c, h);
}

static bool present(struct cache *c, uint64_t id)
{
	struct cache_handle *h = cache_lookup(c, id, 0);

	cache_release(c, h);
	return h != NULL;
}

/* Fills KEYS with N ids (offset 0) that share one shard: with one unit per
 * shard, inserting a key evicts the probe exactly when they share it. */
static void same_shard(uint64_t *keys, size_t n)
{
	struct cache *c = cache_new(SHARDS);
	size_t k = 1;

	assert_non_null(c);
	keys[0] = 1000;
	put(c, keys[0], 1, 1);
	for (uint64_t id = keys[0] + 1; k < n; id++) {
		assert_true(id < keys[0] + 100000);
		put(c, id, 2, 1);
		if (!present(c, keys[0])) {
			keys[k++] = id;
			put(c, keys[0], 1, 1);
		} else {
			cache_erase(c, id, 0);
		}
	}
	cache_free(c);
	ndeleted = 0;
}

static void test_lru_order(void **state)
{
	uint64_t k[5];
	struct cache *c = cache_new(3 * SHARDS);

	(void)state;
	same_shard(k, 5);
	assert_non_null(c);
	put(c, k[0], 10, 1);
	put(c, k[1], 11, 1);
	put(c, k[2], 12, 1);
	assert_true(present(c, k[0])); /* order now: 1, 2, 0 */
	put(c, k[3], 13, 1);           /* evicts 1 */
	assert_false(present(c, k[1]));
	assert_int_equal(ndeleted, 1);
	assert_int_equal(deleted[0], 11);
	put(c, k[4], 14, 1);           /* evicts 2 */
	assert_false(present(c, k[2]));
	assert_true(was_deleted(12));
	assert_true(present(c, k[0]));
	assert_true(present(c, k[3]));
	assert_true(present(c, k[4]));
	assert_int_equal(ndeleted, 2);
	cache_free(c);
	assert_int_equal(ndeleted, 5);
	ndeleted = 0;
}

static void test_capacity_accounting(void **state)
{
	struct cache *c = cache_new(100);
	struct cache_stats st;

	(void)state;
	assert_non_null(c);
	for (uintptr_t i = 0; i < 1000; i++)
		put(c, i, i + 1, 1);
	cache_get_stats(c, &st);
	assert_int_equal(st.capacity, 100);
	assert_int_equal(st.inserts, 1000);
	/* ceil(100 / 16) = 7 per shard, every shard filled. */
	assert_int_equal(st.entries, 7 * SHARDS);
	assert_int_equal(st.usage, st.entries);
	assert_int_equal(st.evictions, 1000 - st.entries);
	assert_int_equal(ndeleted, st.evictions);
	cache_free(c);
	assert_int_equal(ndeleted, 1000);
	ndeleted = 0;

	/* Weighted charges never exceed a shard's budget once released. */
	c = cache_new(16 * 100);
	assert_non_null(c);
	for (uintptr_t i = 0; i < 500; i++)
		put(c, i, i + 1, 1 + i % 37);
	cache_get_stats(c, &st);
	assert_true(st.usage <= 1600);
	assert_true(st.usage > 1600 - SHARDS * 37);
	assert_int_equal(st.evictions + st.entries, 500);
	cache_free(c);
	ndeleted = 0;
}

static void test_pinned_over_capacity(void **state)
{
	uint64_t k[3];
	struct cache *c = cache_new(SHARDS); /* one unit per shard */
	struct cache_handle *h0, *h1;
	struct cache_stats st;

	(void)state;
	same_shard(k, 3);
	h0 = cache_insert(c, k[0], 0, val(20), 1, log_deleter);
	h1 = cache_insert(c, k[1], 0, val(21), 1, log_deleter);
	assert_non_null(h0);
	assert_non_null(h1);
	cache_get_stats(c, &st);
	assert_int_equal(st.usage, 2); /* both pinned: over budget */
	assert_int_equal(st.entries, 2);
	assert_int_equal(ndeleted, 0);
	cache_release(c, h0);          /* unpinned and over budget: out */
	assert_int_equal(ndeleted, 1);
	assert_int_equal(deleted[0], 20);
	assert_ptr_equal(cache_value(h1), val(21));
	cache_release(c, h1);
	assert_true(present(c, k[1]));
	cache_get_stats(c, &st);
	assert_int_equal(st.usage, 1);
	assert_int_equal(st.evictions, 1);
	cache_free(c);
	ndeleted = 0;
}

static void test_erase(void **state)
{
	struct cache *c = cache_new(1000);
	struct cache_handle *h;
	struct cache_stats st;

	(void)state;
	cache_erase(c, 5, 0); /* absent: no-op */
	put(c, 5, 30, 3);
	put(c, 6, 31, 4);
	cache_erase(c, 5, 0);
	assert_int_equal(ndeleted, 1);
	assert_int_equal(deleted[0], 30);
	assert_false(present(c, 5));
	assert_true(present(c, 6));

	/* An erased entry in use lives until its last handle goes. */
	h = cache_lookup(c, 6, 0);
	assert_non_null(h);
	cache_erase(c, 6, 0);
	assert_false(present(c, 6));
	assert_int_equal(ndeleted, 1);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.usage, 4);
	assert_ptr_equal(cache_value(h), val(31));
	cache_release(c, h);
	assert_int_equal(ndeleted, 2);
	cache_get_stats(c, &st);
	assert_int_equal(st.usage, 0);
	cache_free(c);
	ndeleted = 0;
}

static void test_replace(void **state)
{
	struct cache *c = cache_new(1000);
	struct cache_handle *h1, *h2;
	struct cache_stats st;

	(void)state;
	h1 = cache_insert(c, 7, 9, val(40), 5, log_deleter);
	assert_non_null(h1);
	put(c, 7, 41, 6);              /* offsets are part of the key */
	h2 = cache_lookup(c, 7, 0);
	assert_ptr_equal(cache_value(h2), val(41));
	cache_release(c, h2);
	h2 = cache_insert(c, 7, 9, val(42), 6, log_deleter);
	assert_int_equal(ndeleted, 0); /* old value still held */
	cache_release(c, h2);
	h2 = cache_lookup(c, 7, 9);
	assert_ptr_equal(cache_value(h2), val(42));
	assert_ptr_equal(cache_value(h1), val(40));
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.usage, 5 + 6 + 6);
	cache_release(c, h1);
	assert_int_equal(ndeleted, 1);
	assert_int_equal(deleted[0], 40);
	cache_release(c, h2);
	/* Replacing an unused entry frees it at once. */
	assert_false(was_deleted(41));
	put(c, 7, 43, 6);
	assert_true(was_deleted(41));
	put(c, 7, 44, 6);
	assert_true(was_deleted(43));
	assert_int_equal(ndeleted, 3);
	cache_free(c);
	assert_true(was_deleted(44) && was_deleted(42));
	assert_int_equal(ndeleted, 5);
	ndeleted = 0;
}

static void test_zero_capacity(void **state)
{
	struct cache *c = cache_new(0);
	struct cache_handle *h, *h2;
	struct cache_stats st;

	(void)state;
	assert_non_null(c);
	h = cache_insert(c, 1, 2, val(50), 1, log_deleter);
	assert_non_null(h);
	assert_ptr_equal(cache_value(h), val(50));
	assert_null(cache_lookup(c, 1, 2));
	h2 = cache_insert(c, 1, 2, val(51), 1, log_deleter);
	assert_non_null(h2);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.usage, 2);
	assert_int_equal(ndeleted, 0);
	cache_release(c, h2);
	assert_int_equal(ndeleted, 1);
	cache_release(c, h);
	assert_int_equal(ndeleted, 2);
	cache_get_stats(c, &st);
	assert_int_equal(st.usage, 0);
	assert_int_equal(st.capacity, 0);
	cache_release(c, NULL);
	cache_free(c);
	cache_free(NULL);
	ndeleted = 0;
}

static void test_stats(void **state)
{
	struct cache *c = cache_new(64);
	struct cache_stats st;

	(void)state;
	for (uintptr_t i = 0; i < 10; i++)
		put(c, i, i + 1, 2);
	for (int round = 0; round < 3; round++)
		for (uint64_t i = 0; i < 10; i++)
			assert_true(present(c, i));
	for (uint64_t i = 100; i < 105; i++)
		assert_false(present(c, i));
	cache_get_stats(c, &st);
	assert_int_equal(st.hits, 30);
	assert_int_equal(st.misses, 5);
	assert_int_equal(st.inserts, 10);
	assert_int_equal(st.entries + st.evictions, 10);
	assert_int_equal(st.usage, 2 * st.entries);
	cache_free(c);
	ndeleted = 0;
}

/* ---- stress: threads look up, insert and erase over a small key space,
 * checking every value they see belongs to its key ---- */

struct sval {
	uint64_t id, off;
	uint64_t check;
};

static atomic_ulong stress_allocs, stress_frees, stress_bad;

static void stress_deleter(void *v)
{
	struct sval *s = v;

	if (s->check != (s->id ^ s->off ^ 0xabcdef))
		atomic_fetch_add(&stress_bad, 1);
	atomic_fetch_add(&stress_frees, 1);
	free(s);
}

struct stress_arg {
	struct cache *c;
	uint64_t seed;
};

static void stress_step(struct cache *c, struct rng *r)
{
	uint64_t id = rng_below(r, 512), off = rng_below(r, 4) * 4096;
	struct cache_handle *h;
	struct sval *s;

	if (rng_below(r, 50) == 0) {
		cache_erase(c, id, off);
		return;
	}
	h = cache_lookup(c, id, off);
	if (!h) {
		s = malloc(sizeof(*s));
		if (!s)
			abort();
		*s = (struct sval){ id, off, id ^ off ^ 0xabcdef };
		atomic_fetch_add(&stress_allocs, 1);
		h = cache_insert(c, id, off, s, 1 + id % 8, stress_deleter);
		if (!h)
			abort();
	}
	s = cache_value(h);
	if (s->id != id || s->off != off)
		atomic_fetch_add(&stress_bad, 1);
	cache_release(c, h);
}

static void *stress_thread(void *p)
{
	struct stress_arg *a = p;
	struct rng r;

	rng_init(&r, "cache stress", a->seed);
	for (int i = 0; i < 200000; i++)
		stress_step(a->c, &r);
	return NULL;
}

static void test_stress(void **state)
{
	struct cache *c = cache_new(1024);
	struct stress_arg args[4];
	pthread_t th[4];
	struct cache_stats st;

	(void)state;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct stress_arg){ c, 0x5eed + (uint64_t)i };
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread,
						&args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cache_get_stats(c, &st);
	assert_true(st.usage <= 1024 + SHARDS);
	assert_int_equal(st.hits + st.misses, st.hits + st.inserts);
	assert_int_equal(st.inserts, atomic_load(&stress_allocs));
	cache_free(c);
	assert_int_equal(atomic_load(&stress_frees),
			 atomic_load(&stress_allocs));
	assert_int_equal(atomic_load(&stress_bad), 0);
}

/* ---- the table cache over real tables ---- */

static void build_table(struct tdir *d, uint64_t number, int nkeys)
{
	struct sst_options o = { .block_bytes = 4096, .restart_interval = 16,
				 .bloom_bits_per_key = 10 };
	char path[LSM_PATH_MAX], k[32];
	uint8_t ik[48];
	struct sst_builder *b;
	uint64_t size;

	assert_int_equal(filename_path(path, tdir_root(d), FILE_TABLE,
				       number), 0);
	assert_int_equal(sst_builder_new(lsm_io_posix(), path, &o, &b, NULL),
			 0);
	for (int i = 0; i < nkeys; i++) {
		int n = snprintf(k, sizeof(k), "key%05d", i);
		size_t iklen = ikey_encode(ik, k, (size_t)n, 1, IKEY_VALUE);

		assert_int_equal(sst_builder_add(b, ik, iklen,
						 (const uint8_t *)k,
						 (size_t)n, NULL), 0);
	}
	assert_int_equal(sst_builder_finish(b, &size, NULL), 0);
}

static int lookup(struct table_cache *tc, uint64_t number, const char *k,
		  struct buf *v)
{
	uint8_t ik[64];
	size_t iklen = ikey_encode(ik, k, strlen(k), 100, IKEY_TYPE_FOR_SEEK);

	struct lsm_err err = { 0 };
	int rc = table_cache_get(tc, number, ik, iklen, v, &err);

	if (rc < 0)
		print_message("table %llu: %d %s\n", (unsigned long long)number,
			      rc, err.msg);
	return rc;
}

static void test_table_cache(void **state)
{
	struct tdir *d = *state;
	struct cache *blocks = cache_new(1 << 20);
	struct table_cache *tc;
	struct buf v = BUF_INIT;
	struct lsm_err err = { 0 };
	struct iiter *it;
	char path[LSM_PATH_MAX];
	int n = 0;

	for (uint64_t t = 2; t < 6; t++)
		build_table(d, t, 300);
	tc = table_cache_new(lsm_io_posix(), tdir_root(d), 2, blocks, NULL);
	assert_non_null(tc);
	for (int round = 0; round < 3; round++) {
		for (uint64_t t = 2; t < 6; t++) {
			assert_int_equal(lookup(tc, t, "key00042", &v),
					 LOOKUP_FOUND);
			assert_memory_equal(v.p, "key00042", 8);
			assert_int_equal(lookup(tc, t, "nokey", &v),
					 LOOKUP_MISSING);
		}
	}
	/* An iterator keeps its table open past eviction and unlink. */
	it = table_cache_iter(tc, 3, true, &err);
	assert_non_null(it);
	table_cache_evict(tc, 3);
	assert_int_equal(filename_path(path, tdir_root(d), FILE_TABLE, 3), 0);
	assert_int_equal(unlink(path), 0);
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		n++;
	assert_int_equal(iiter_status(it, NULL), 0);
	assert_int_equal(n, 300);
	iiter_free(it);
	assert_int_equal(lookup(tc, 3, "key00001", &v), -EUCLEAN);
	assert_null(table_cache_iter(tc, 3, false, &err));
	assert_int_equal(err.code, -EUCLEAN); /* listed but missing: damage */
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(lookup(tc, 4, "key00299", &v), LOOKUP_FOUND);
	table_cache_free(tc);
	cache_free(blocks);
	buf_free(&v);
}

/* Threads read, iterate and evict tables, so opens race with evictions,
 * with live iterators and with each other. */
struct tc_arg {
	struct table_cache *tc;
	uint64_t seed;
	int bad;
};

static void *tc_thread(void *p)
{
	struct tc_arg *a = p;
	struct buf v = BUF_INIT;
	struct rng r;
	char k[16];

	rng_init(&r, "table cache threads", a->seed);
	for (int i = 0; i < 3000; i++) {
		uint64_t t = 2 + rng_below(&r, 6);
		uint8_t ik[64];
		size_t iklen;
		struct iiter *it;

		snprintf(k, sizeof(k), "key%05d", (int)rng_below(&r, 100));
		iklen = ikey_encode(ik, k, 8, 100, IKEY_TYPE_FOR_SEEK);
		if (table_cache_get(a->tc, t, ik, iklen, &v, NULL) !=
		    LOOKUP_FOUND || v.len != 8 || memcmp(v.p, k, 8) != 0)
			a->bad++;
		if (i % 7 == 0)
			table_cache_evict(a->tc, t); /* reopen races */
		if (i % 16)
			continue;
		it = table_cache_iter(a->tc, t, i % 32 == 0, NULL);
		if (!it) {
			a->bad++;
			continue;
		}
		iiter_seek(it, ik, iklen);
		if (!iiter_valid(it))
			a->bad++;
		iiter_free(it);
	}
	buf_free(&v);
	return NULL;
}

static void test_table_cache_threads(void **state)
{
	struct tdir *d = *state;
	struct cache *blocks = cache_new(64 << 10);
	struct table_cache *tc;
	struct tc_arg args[4];
	pthread_t th[4];

	for (uint64_t t = 2; t < 8; t++)
		build_table(d, t, 100);
	tc = table_cache_new(lsm_io_posix(), tdir_root(d), 1, blocks, NULL);
	assert_non_null(tc);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct tc_arg){ tc, 0x7ab1e + (uint64_t)i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, tc_thread,
						&args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
	}
	table_cache_free(tc);
	cache_free(blocks);
}

/* Admission (cache_admit): a key is admitted on its second miss while the
 * doorkeeper still remembers the first, once; keys missed once each, many
 * more than the doorkeeper holds, are mostly forgotten (a uniform random
 * read of a data set far larger than the cache caches almost nothing);
 * the rejects are counted. */
static void test_admit(void **state)
{
	struct cache *c = cache_new(8u << 20); /* 8192 doorkeeper slots */
	struct cache_stats st;
	unsigned admitted = 0;

	(void)state;
	assert_false(cache_admit(c, 7, 4096));
	assert_false(cache_admit(c, 8, 4096)); /* another key */
	assert_true(cache_admit(c, 7, 4096));
	assert_false(cache_admit(c, 7, 4096)); /* the slot was cleared */
	assert_true(cache_admit(c, 8, 4096));
	/* a stream of 100,000 distinct keys, then the same again: by then
	 * each first miss was overwritten by later keys, nearly always */
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t k = 0; k < 100000; k++)
			admitted += cache_admit(c, 1000 + k / 64,
						(k % 64) * 4096);
	assert_true(admitted < 100000 / 20);
	/* keys read again within the window all get in */
	admitted = 0;
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t k = 0; k < 200; k++)
			admitted += cache_admit(c, 5000, k * 4096);
	assert_true(admitted >= 180); /* a few share a slot */
	cache_get_stats(c, &st);
	assert_true(st.rejects >= 3 + 200000 - 100000 / 20 + 200);
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_capacity_accounting),
		cmocka_unit_test(test_pinned_over_capacity),
		cmocka_unit_test(test_erase),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_zero_capacity),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_admit),
		cmocka_unit_test_setup_teardown(test_table_cache, tdir_setup,
						tdir_teardown),
		cmocka_unit_test_setup_teardown(test_table_cache_threads,
						tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
