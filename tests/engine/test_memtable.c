/* test_memtable.c - the skiplist memtable against a sorted reference array:
 * point lookups at snapshots, iteration both ways and seeks; reference
 * counting; and one writer racing lock-free readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtable.h"
#include "support.h"

#define MAX_UKEY 12

struct ref_ent {
	uint8_t ikey[MAX_UKEY + IKEY_TAG_BYTES];
	size_t iklen;
	uint8_t *val;
	size_t vlen;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref_ent *x = a, *y = b;

	return ikey_cmp(x->ikey, x->iklen, y->ikey, y->iklen);
}

/* Asserts that IT is on reference entry R. */
static void assert_at(struct iiter *it, const struct ref_ent *r)
{
	const uint8_t *k, *v;
	size_t kl, vl;

	assert_true(iiter_valid(it));
	k = iiter_key(it, &kl);
	v = iiter_value(it, &vl);
	assert_int_equal(kl, r->iklen);
	assert_memory_equal(k, r->ikey, kl);
	assert_int_equal(vl, r->vlen);
	if (vl)
		assert_memory_equal(v, r->val, vl);
}

static void test_empty(void **state)
{
	struct memtable *m = memtable_new(1u << 20);
	struct iiter *it;
	const uint8_t *v;
	size_t vl;
	uint8_t ik[16];

	(void)state;
	assert_non_null(m);
	assert_int_equal(memtable_count(m), 0);
	assert_true(memtable_bytes(m) > 0);
	assert_int_equal(memtable_get(m, "a", 1, 100, &v, &vl),
			 LOOKUP_MISSING);
	it = memtable_iter(m);
	assert_non_null(it);
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	iiter_seek_last(it);
	assert_false(iiter_valid(it));
	iiter_seek(it, ik, ikey_encode(ik, "a", 1, 5, IKEY_VALUE));
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
	memtable_unref(m);
}

struct model {
	struct ref_ent *e;
	size_t n;
	uint8_t pool[64][MAX_UKEY];
	size_t pool_len[64];
	size_t npool;
};

/* Fills M with N random entries (unique shuffled seqs 1..N, keys from a
 * small pool, 1 in 5 a tombstone) inserted into MT, then sorts it. */
static void model_fill(struct model *md, struct memtable *mt, size_t n,
		       struct rng *r)
{
	uint64_t *seqs = malloc(n * sizeof(*seqs));

	assert_non_null(seqs);
	md->npool = 64;
	for (size_t i = 0; i < md->npool; i++) {
		md->pool_len[i] = rng_below(r, MAX_UKEY + 1); /* may be 0 */
		for (size_t j = 0; j < md->pool_len[i]; j++)
			md->pool[i][j] = (uint8_t)('a' + rng_below(r, 3));
	}
	for (size_t i = 0; i < n; i++)
		seqs[i] = i + 1;
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(r, i), t = seqs[i - 1];

		seqs[i - 1] = seqs[j];
		seqs[j] = t;
	}
	md->e = calloc(n, sizeof(*md->e));
	md->n = n;
	assert_non_null(md->e);
	for (size_t i = 0; i < n; i++) {
		struct ref_ent *e = &md->e[i];
		size_t p = rng_below(r, md->npool);
		enum ikey_type t = rng_below(r, 5) ? IKEY_VALUE : IKEY_DELETE;

		e->vlen = t == IKEY_VALUE ? rng_below(r, 40) : 0;
		e->val = malloc(e->vlen + 1);
		assert_non_null(e->val);
		rng_bytes(r, e->val, e->vlen);
		e->iklen = ikey_encode(e->ikey, md->pool[p], md->pool_len[p],
				       seqs[i], t);
		assert_int_equal(memtable_add(mt, seqs[i], t, md->pool[p],
					      md->pool_len[p], e->val,
					      e->vlen),
				 0);
	}
	free(seqs);
	qsort(md->e, n, sizeof(*md->e), ref_cmp);
}

static void model_free(struct model *md)
{
	for (size_t i = 0; i < md->n; i++)
		free(md->e[i].val);
	free(md->e);
}

/* The expected memtable_get answer, by brute force. */
static int model_get(const struct model *md, const uint8_t *uk, size_t ul,
		     uint64_t snap, const struct ref_ent **hit)
{
	const struct ref_ent *best = NULL;
	uint64_t best_seq = 0;

	for (size_t i = 0; i < md->n; i++) {
		const struct ref_ent *e = &md->e[i];
		uint64_t s = ikey_seq(e->ikey, e->iklen);

		if (ukey_cmp(e->ikey, ikey_ulen(e->iklen), uk, ul) ||
		    s > snap || (best && s < best_seq))
			continue;
		best = e;
		best_seq = s;
	}
	*hit = best;
	if (!best)
		return LOOKUP_MISSING;
	return ikey_type(best->ikey, best->iklen) == IKEY_VALUE ?
		       LOOKUP_FOUND :
		       LOOKUP_DELETED;
}

static void check_get(struct memtable *mt, const struct model *md,
		      const uint8_t *uk, size_t ul, uint64_t snap)
{
	const struct ref_ent *hit;
	const uint8_t *v = NULL;
	size_t vl = 0;
	int want = model_get(md, uk, ul, snap, &hit);

	assert_int_equal(memtable_get(mt, uk, ul, snap, &v, &vl), want);
	if (want != LOOKUP_FOUND)
		return;
	assert_int_equal(vl, hit->vlen);
	if (vl)
		assert_memory_equal(v, hit->val, vl);
}

static void test_get_snapshots(void **state)
{
	struct memtable *mt = memtable_new(1u << 20);
	struct model md;
	struct rng r;
	uint8_t absent[MAX_UKEY + 1];

	(void)state;
	rng_init(&r, "memtable_get", 0);
	model_fill(&md, mt, 3000, &r);
	assert_int_equal(memtable_count(mt), 3000);
	for (int q = 0; q < 3000; q++) {
		size_t p = rng_below(&r, md.npool);

		check_get(mt, &md, md.pool[p], md.pool_len[p],
			  rng_below(&r, md.n + 2));
	}
	for (size_t p = 0; p < md.npool; p++) {
		check_get(mt, &md, md.pool[p], md.pool_len[p], 0);
		check_get(mt, &md, md.pool[p], md.pool_len[p], UINT64_MAX);
		check_get(mt, &md, md.pool[p], md.pool_len[p], md.n);
	}
	for (int q = 0; q < 500; q++) {
		size_t ul = rng_below(&r, sizeof(absent) + 1);

		for (size_t j = 0; j < ul; j++)
			absent[j] = (uint8_t)('a' + rng_below(&r, 4));
		check_get(mt, &md, absent, ul, rng_below(&r, md.n + 2));
	}
	model_free(&md);
	memtable_unref(mt);
}

/* Seeks to the ikey (UK, SEQ, T) and checks the landing entry. */
static void check_seek(struct iiter *it, const struct model *md,
		       const uint8_t *uk, size_t ul, uint64_t seq,
		       enum ikey_type t)
{
	struct ref_ent probe;
	size_t lo = 0, hi = md->n;

	probe.iklen = ikey_encode(probe.ikey, uk, ul, seq, t);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ref_cmp(&md->e[mid], &probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	iiter_seek(it, probe.ikey, probe.iklen);
	if (lo == md->n)
		assert_false(iiter_valid(it));
	else
		assert_at(it, &md->e[lo]);
}

static void test_iterate(void **state)
{
	struct memtable *mt = memtable_new(1u << 20);
	struct iiter *it;
	struct model md;
	struct rng r;
	size_t i;

	(void)state;
	rng_init(&r, "memtable_iter", 0);
	model_fill(&md, mt, 2000, &r);
	it = memtable_iter(mt);
	assert_non_null(it);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, &md.e[i++]);
	assert_int_equal(i, md.n);
	for (i = md.n, iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		assert_at(it, &md.e[--i]);
	assert_int_equal(i, 0);
	for (i = 0; i < md.n; i++) {
		iiter_seek(it, md.e[i].ikey, md.e[i].iklen);
		assert_at(it, &md.e[i]);
		iiter_prev(it);
		if (i == 0)
			assert_false(iiter_valid(it));
		else
			assert_at(it, &md.e[i - 1]);
		iiter_seek(it, md.e[i].ikey, md.e[i].iklen);
		iiter_next(it);
		if (i + 1 == md.n)
			assert_false(iiter_valid(it));
		else
			assert_at(it, &md.e[i + 1]);
	}
	for (int q = 0; q < 2000; q++) {
		size_t p = rng_below(&r, md.npool);

		check_seek(it, &md, md.pool[p], md.pool_len[p],
			   rng_below(&r, md.n + 2),
			   (enum ikey_type)rng_below(&r, 2));
	}
	/* A key shorter than a tag seeks to the first version of it. */
	iiter_seek(it, (const uint8_t *)"", 0);
	assert_at(it, &md.e[0]);
	iiter_seek(it, (const uint8_t *)"zz", 2);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
	model_free(&md);
	memtable_unref(mt);
}

/* Keys inserted in runs, each run in order but the runs in random order
 * and some of them backwards: a key that sorts right after the one
 * inserted before it links next to it without a search (a file's chunks
 * in one batch), and every level must still be in order.  Seeks descend
 * through every level, and stepping back (find_lt) too, so a link out of
 * order at any level shows. */
#define RUN_KEYS 6000
static void test_runs_in_order(void **state)
{
	struct memtable *mt = memtable_new(4u << 20);
	uint32_t *order = malloc(RUN_KEYS * sizeof(*order));
	uint32_t *start = malloc(RUN_KEYS * sizeof(*start));
	size_t nruns = 0, n = 0;
	struct iiter *it;
	struct rng r;
	char k[16], v[16];

	(void)state;
	assert_non_null(mt);
	assert_non_null(order);
	assert_non_null(start);
	rng_init(&r, "memtable_runs", 0);
	/* cut 0..RUN_KEYS-1 into runs of 1 to 64 keys */
	for (uint32_t i = 0; i < RUN_KEYS; i += 1 + (uint32_t)rng_below(&r, 64))
		start[nruns++] = i;
	/* shuffle the runs, then insert each, one in four backwards */
	for (size_t i = nruns - 1; i > 0; i--) {
		size_t j = rng_below(&r, i + 1);
		uint32_t t = start[i];

		start[i] = start[j];
		start[j] = t;
	}
	for (size_t i = 0; i < nruns; i++) {
		uint32_t a = start[i], b = a + 1;
		bool back = rng_below(&r, 4) == 0;

		while (b < RUN_KEYS) { /* the run ends where the next begins */
			bool is_start = false;

			for (size_t j = 0; j < nruns && !is_start; j++)
				is_start = start[j] == b;
			if (is_start)
				break;
			b++;
		}
		for (uint32_t x = a; x < b; x++)
			order[n++] = back ? a + (b - 1 - x) : x;
	}
	assert_int_equal(n, RUN_KEYS);
	for (size_t i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%07u", order[i]);
		snprintf(v, sizeof(v), "v%u", order[i]);
		assert_int_equal(memtable_add(mt, i + 1, IKEY_VALUE, k, 8, v,
					      strlen(v)), 0);
	}
	it = memtable_iter(mt);
	assert_non_null(it);
	iiter_seek_first(it);
	for (uint32_t x = 0; x < RUN_KEYS; x++, iiter_next(it)) {
		const uint8_t *got;
		size_t gl;

		assert_true(iiter_valid(it));
		snprintf(k, sizeof(k), "k%07u", x);
		got = iiter_key(it, &gl);
		assert_int_equal(gl, 8 + IKEY_TAG_BYTES);
		assert_memory_equal(got, k, 8);
	}
	assert_false(iiter_valid(it));
	for (uint32_t x = 0; x < RUN_KEYS; x++) {
		uint8_t ik[8 + IKEY_TAG_BYTES];
		const uint8_t *got;
		size_t gl;

		snprintf(k, sizeof(k), "k%07u", x);
		snprintf(v, sizeof(v), "v%u", x);
		assert_int_equal(memtable_get(mt, k, 8, UINT64_MAX, &got, &gl),
				 LOOKUP_FOUND);
		assert_int_equal(gl, strlen(v));
		assert_memory_equal(got, v, gl);
		ikey_encode(ik, k, 8, IKEY_MAX_SEQ, IKEY_VALUE);
		iiter_seek(it, ik, sizeof(ik));
		assert_true(iiter_valid(it));
		assert_memory_equal(iiter_key(it, &gl), k, 8);
		iiter_prev(it);
		if (x == 0) {
			assert_false(iiter_valid(it));
		} else {
			snprintf(k, sizeof(k), "k%07u", x - 1);
			assert_true(iiter_valid(it));
			assert_memory_equal(iiter_key(it, &gl), k, 8);
		}
	}
	iiter_free(it);
	memtable_unref(mt);
	free(order);
	free(start);
}

static void test_big_entries(void **state)
{
	struct memtable *mt = memtable_new(1u << 20);
	size_t big = 300 * 1024, before, vl;
	uint8_t *val = malloc(big);
	const uint8_t *v;
	char key[16];

	(void)state;
	assert_non_null(val);
	for (size_t i = 0; i < big; i++)
		val[i] = (uint8_t)(i * 31);
	before = memtable_bytes(mt);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(memtable_add(mt, (uint64_t)i + 1, IKEY_VALUE,
					      key, strlen(key), val,
					      i % 2 ? big : 10),
				 0);
	}
	assert_true(memtable_bytes(mt) >= before + 4 * big);
	assert_true(memtable_bytes(mt) < before + 4 * big + 256 * 1024);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(memtable_get(mt, key, strlen(key), 100, &v,
					      &vl),
				 LOOKUP_FOUND);
		assert_int_equal(vl, i % 2 ? big : 10);
		assert_memory_equal(v, val, vl);
	}
	assert_int_equal(memtable_add(mt, IKEY_MAX_SEQ + 1, IKEY_VALUE, "x",
				      1, "y", 1),
			 -EINVAL);
	free(val);
	memtable_unref(mt);
}

static void test_duplicate_ikey(void **state)
{
	struct memtable *mt = memtable_new(1u << 20);
	struct iiter *it;
	const uint8_t *v;
	size_t vl, n = 0;

	(void)state;
	assert_int_equal(memtable_add(mt, 7, IKEY_VALUE, "k", 1, "old", 3), 0);
	assert_int_equal(memtable_add(mt, 7, IKEY_VALUE, "k", 1, "new", 3), 0);
	assert_int_equal(memtable_get(mt, "k", 1, 7, &v, &vl), LOOKUP_FOUND);
	assert_int_equal(vl, 3);
	it = memtable_iter(mt);
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		n++;
	assert_int_equal(n, 2);
	for (iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		n--;
	assert_int_equal(n, 0);
	iiter_free(it);
	memtable_unref(mt);
}

static void test_ref_keeps_alive(void **state)
{
	struct memtable *mt = memtable_new(1u << 20);
	struct iiter *it;
	const uint8_t *k, *v;
	size_t kl, vl;

	(void)state;
	assert_int_equal(memtable_add(mt, 1, IKEY_VALUE, "a", 1, "1", 1), 0);
	assert_int_equal(memtable_add(mt, 2, IKEY_DELETE, "b", 1, NULL, 0), 0);
	it = memtable_iter(mt);
	assert_non_null(it);
	memtable_ref(mt);
	memtable_unref(mt);
	memtable_unref(mt); /* the iterator holds the last reference */
	iiter_seek_first(it);
	assert_true(iiter_valid(it));
	k = iiter_key(it, &kl);
	v = iiter_value(it, &vl);
	assert_int_equal(kl, 1 + IKEY_TAG_BYTES);
	assert_memory_equal(k, "a", 1);
	assert_memory_equal(v, "1", 1);
	iiter_next(it);
	assert_true(iiter_valid(it));
	k = iiter_key(it, &kl);
	assert_int_equal(ikey_type(k, kl), IKEY_DELETE);
	iiter_next(it);
	assert_false(iiter_valid(it));
	iiter_free(it); /* frees the memtable (ASan checks) */
	memtable_unref(NULL);
}

/* ---- one writer, several lock-free readers ---- */

#define CW_ENTRIES 200000
#define CW_KEYS 20000
#define CW_READERS 2

struct race {
	struct memtable *mt;
	atomic_uint_fast64_t published; /* every seq <= this is inserted */
	atomic_bool done;
	atomic_int errors;
	atomic_ulong scans;
	atomic_int ids;
	uint64_t seed;
};

static size_t cw_key(uint64_t seq, char *buf)
{
	return (size_t)sprintf(buf, "k%05u",
			       (unsigned)((seq * 7919) % CW_KEYS));
}

static enum ikey_type cw_type(uint64_t seq)
{
	return seq % 5 ? IKEY_VALUE : IKEY_DELETE;
}

static size_t cw_val(uint64_t seq, char *buf)
{
	char k[16];

	cw_key(seq, k);
	return (size_t)sprintf(buf, "%s@%llu", k, (unsigned long long)seq);
}

static void *cw_writer(void *arg)
{
	struct race *rc = arg;
	char k[16], v[48];

	for (uint64_t s = 1; s <= CW_ENTRIES; s++) {
		size_t kl = cw_key(s, k), vl = cw_val(s, v);

		if (memtable_add(rc->mt, s, cw_type(s), k, kl, v,
				 cw_type(s) == IKEY_VALUE ? vl : 0)) {
			atomic_fetch_add(&rc->errors, 1);
			break;
		}
		atomic_store_explicit(&rc->published, s, memory_order_release);
	}
	atomic_store(&rc->done, true);
	return NULL;
}

/* Checks one entry seen by a reader: it is exactly what the writer wrote
 * for the entry's seq. */
static bool cw_entry_ok(const uint8_t *k, size_t kl, const uint8_t *v,
			size_t vl)
{
	char ek[16], ev[48];
	uint64_t s;

	if (!ikey_valid(k, kl))
		return false;
	s = ikey_seq(k, kl);
	if (s == 0 || s > CW_ENTRIES || ikey_type(k, kl) != cw_type(s))
		return false;
	if (ikey_ulen(kl) != cw_key(s, ek) || memcmp(k, ek, ikey_ulen(kl)))
		return false;
	if (cw_type(s) == IKEY_DELETE)
		return vl == 0;
	return vl == cw_val(s, ev) && !memcmp(v, ev, vl);
}

static bool cw_get_ok(struct memtable *mt, uint64_t s)
{
	char k[16], ev[48];
	size_t kl = cw_key(s, k), evl = cw_val(s, ev), vl;
	const uint8_t *v;
	char got[48];
	int rc = memtable_get(mt, k, kl, s, &v, &vl);

	if (cw_type(s) == IKEY_DELETE)
		return rc == LOOKUP_DELETED;
	if (rc != LOOKUP_FOUND || vl != evl || memcmp(v, ev, vl))
		return false;
	/* A later snapshot sees this or a newer version of the same key. */
	rc = memtable_get(mt, k, kl, UINT64_MAX, &v, &vl);
	if (rc == LOOKUP_DELETED)
		return true;
	if (rc != LOOKUP_FOUND || vl <= kl || vl >= sizeof(got))
		return false;
	memcpy(got, v, vl);
	got[vl] = '\0';
	return !memcmp(got, k, kl) && got[kl] == '@' &&
	       strtoull(got + kl + 1, NULL, 10) >= s;
}

/* Walks the whole memtable (forward or back): strictly ordered, every
 * entry right, and at least every entry published before the walk. */
static bool cw_scan_ok(struct iiter *it, bool forward, uint64_t floor)
{
	uint8_t prev[32];
	size_t pl = 0, kl, vl;
	uint64_t n = 0;

	forward ? iiter_seek_first(it) : iiter_seek_last(it);
	for (; iiter_valid(it); forward ? iiter_next(it) : iiter_prev(it)) {
		const uint8_t *k = iiter_key(it, &kl), *v = iiter_value(it, &vl);
		int c;

		if (kl > sizeof(prev) || !cw_entry_ok(k, kl, v, vl))
			return false;
		c = n ? ikey_cmp(prev, pl, k, kl) : 0;
		if (n && (forward ? c >= 0 : c <= 0))
			return false;
		memcpy(prev, k, kl);
		pl = kl;
		n++;
	}
	return n >= floor;
}

static void *cw_reader(void *arg)
{
	struct race *rc = arg;
	struct rng r;
	struct iiter *it = memtable_iter(rc->mt);
	unsigned long round = 0;

	rng_init(&r, "memtable_race reader",
		 rc->seed + (uint64_t)atomic_fetch_add(&rc->ids, 1));
	while (it && !atomic_load(&rc->done)) {
		uint64_t pub = atomic_load_explicit(&rc->published,
						    memory_order_acquire);

		if (pub && !cw_get_ok(rc->mt, 1 + rng_below(&r, pub)))
			atomic_fetch_add(&rc->errors, 1);
		if (++round % 4096 == 0) {
			if (!cw_scan_ok(it, round % 8192 == 0, pub))
				atomic_fetch_add(&rc->errors, 1);
			atomic_fetch_add(&rc->scans, 1);
		}
	}
	if (!it)
		atomic_fetch_add(&rc->errors, 1);
	iiter_free(it);
	return NULL;
}

/* Arena blocks of a freed memtable serve the next one (the pool): every
 * entry of each generation reads back as written, whatever blocks it got;
 * with the pool over its bound or trimmed, memory is freed (ASan sees any
 * block used after free or lost). */
static void test_block_pool(void **state)
{
	enum { N = 600, VLEN = 4000 };
	static uint8_t v[VLEN], out[VLEN];

	(void)state;
	memtable_pool_limit(2u << 20); /* two blocks; the rest is freed */
	for (int gen = 0; gen < 4; gen++) {
		struct memtable *m = memtable_new(1u << 20);
		char k[32];

		assert_non_null(m);
		for (int i = 0; i < N; i++) {
			snprintf(k, sizeof(k), "k%06d", i);
			memset(v, gen * 31 + i, VLEN);
			assert_int_equal(memtable_add(m, (uint64_t)i + 1,
						      IKEY_VALUE, k, strlen(k),
						      v, VLEN), 0);
		}
		for (int i = 0; i < N; i++) {
			const uint8_t *got;
			size_t glen;

			snprintf(k, sizeof(k), "k%06d", i);
			memset(out, gen * 31 + i, VLEN);
			assert_int_equal(memtable_get(m, k, strlen(k),
						      UINT64_MAX, &got,
						      &glen), LOOKUP_FOUND);
			assert_int_equal(glen, VLEN);
			assert_memory_equal(got, out, VLEN);
		}
		memtable_unref(m);
		if (gen == 2)
			memtable_pool_trim();
	}
	memtable_pool_trim();
}

static void test_concurrent_readers(void **state)
{
	struct race rc = { .mt = memtable_new(1u << 20) };
	pthread_t w, rd[CW_READERS];
	struct iiter *it;
	struct rng r;

	(void)state;
	rng_init(&r, "memtable_race", 0);
	rc.seed = rng_next(&r);
	atomic_init(&rc.published, 0);
	atomic_init(&rc.done, false);
	atomic_init(&rc.errors, 0);
	atomic_init(&rc.scans, 0);
	atomic_init(&rc.ids, 1);
	for (int i = 0; i < CW_READERS; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, cw_reader, &rc),
				 0);
	assert_int_equal(pthread_create(&w, NULL, cw_writer, &rc), 0);
	pthread_join(w, NULL);
	for (int i = 0; i < CW_READERS; i++)
		pthread_join(rd[i], NULL);
	assert_int_equal(atomic_load(&rc.errors), 0);
	assert_int_equal(memtable_count(rc.mt), CW_ENTRIES);
	it = memtable_iter(rc.mt);
	assert_true(cw_scan_ok(it, true, CW_ENTRIES));
	assert_true(cw_scan_ok(it, false, CW_ENTRIES));
	for (uint64_t s = 1; s <= CW_ENTRIES; s += 97)
		assert_true(cw_get_ok(rc.mt, s));
	iiter_free(it);
	memtable_unref(rc.mt);
}

/* The key filter: every key added (value or tombstone, at any seq) is
 * "maybe" and found; a memtable within its expected size rules out
 * nearly every absent key (at 1% expected, 3% allowed); one grown far past it
 * (a read-only open's replay) and one with no filter still answer every
 * lookup right. */
static void test_key_filter(void **state)
{
	enum { N = 8000, ABSENT = 20000 };
	static const size_t sizes[] = { 1u << 20, 4096, 0 };
	char k[32], v[8] = "value";

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct memtable *m = memtable_new(sizes[s]);
		size_t fp = 0;

		assert_non_null(m);
		for (int i = 0; i < N; i++) {
			snprintf(k, sizeof(k), "key%07d", 2 * i);
			assert_int_equal(memtable_add(m, (uint64_t)i + 1,
						      i % 5 ? IKEY_VALUE :
						      IKEY_DELETE, k,
						      strlen(k), v,
						      i % 5 ? sizeof(v) : 0),
					 0);
		}
		/* Under the budget: 8000 entries of about 80 bytes. */
		assert_true(s > 0 || memtable_data_bytes(m) < sizes[0]);
		for (int i = 0; i < N; i++) {
			const uint8_t *got;
			size_t gl;

			snprintf(k, sizeof(k), "key%07d", 2 * i);
			assert_true(memtable_may_contain(m, k, strlen(k)));
			assert_int_equal(memtable_get(m, k, strlen(k),
						      UINT64_MAX, &got, &gl),
					 i % 5 ? LOOKUP_FOUND :
					 LOOKUP_DELETED);
			/* Before its seq the key is missing, filter or not. */
			assert_int_equal(memtable_get(m, k, strlen(k),
						      (uint64_t)i, &got, &gl),
					 LOOKUP_MISSING);
		}
		for (int i = 0; i < ABSENT; i++) {
			const uint8_t *got;
			size_t gl;

			snprintf(k, sizeof(k), "key%07d", 2 * i + 1);
			fp += memtable_may_contain(m, k, strlen(k));
			assert_int_equal(memtable_get(m, k, strlen(k),
						      UINT64_MAX, &got, &gl),
					 LOOKUP_MISSING);
		}
		print_message("memtable_new(%zu): %zu of %d absent keys "
			      "pass the filter\n", sizes[s], fp, ABSENT);
		if (s == 0)
			assert_true(fp < ABSENT * 3 / 100);
		if (s == 2)
			assert_int_equal(fp, ABSENT);
		memtable_unref(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_filter),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_get_snapshots),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_runs_in_order),
		cmocka_unit_test(test_big_entries),
		cmocka_unit_test(test_duplicate_ikey),
		cmocka_unit_test(test_ref_keeps_alive),
		cmocka_unit_test(test_concurrent_readers),
		cmocka_unit_test(test_block_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
