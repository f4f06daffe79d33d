/* test_block.c - blocks: round trips over restart intervals and key shapes,
 * exhaustive seek/next/prev, and malformed blocks (bad restart arrays,
 * random byte flips, truncations) that must fail cleanly, never crash. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "block.h"
#include "buf.h"
#include "coding.h"
#include "support.h"

struct kv {
	uint8_t *k, *v;
	size_t klen, vlen;
};

struct kvset {
	struct kv *e;
	size_t n;
};

static int bytewise(const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen)
{
	return ukey_cmp(a, alen, b, blen);
}

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return ukey_cmp(x->k, x->klen, y->k, y->klen);
}

static void kvset_free(struct kvset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].k);
		free(s->e[i].v);
	}
	free(s->e);
}

/* Sorts and removes duplicate keys. */
static void kvset_sort(struct kvset *s)
{
	size_t j = 0;

	qsort(s->e, s->n, sizeof(*s->e), kv_cmp);
	for (size_t i = 0; i < s->n; i++) {
		if (j && !kv_cmp(&s->e[j - 1], &s->e[i])) {
			free(s->e[i].k);
			free(s->e[i].v);
			continue;
		}
		s->e[j++] = s->e[i];
	}
	s->n = j;
}

enum shape { SHAPE_SEQ, SHAPE_PREFIX, SHAPE_BINARY, SHAPE_LONG, SHAPE_COUNT };

static void make_key(struct rng *r, enum shape sh, size_t i, struct kv *e)
{
	char tmp[64];

	switch (sh) {
	case SHAPE_SEQ:
		e->klen = (size_t)snprintf(tmp, sizeof(tmp), "key%08zu", i);
		e->k = (uint8_t *)strdup(tmp);
		break;
	case SHAPE_PREFIX: /* long shared prefixes of varying length */
		e->klen = (size_t)snprintf(tmp, sizeof(tmp), "%.*s%llu",
			(int)rng_below(r, 30), "common/prefix/of/many/keys/xyz",
			(unsigned long long)rng_below(r, 100000));
		e->k = (uint8_t *)strdup(tmp);
		break;
	case SHAPE_BINARY: /* 0..12 random bytes, zeros and empty included */
		e->klen = (size_t)rng_below(r, 13);
		e->k = malloc(e->klen + 1);
		for (size_t j = 0; j < e->klen; j++)
			e->k[j] = (uint8_t)(rng_below(r, 4) ? rng_below(r, 3)
							    : rng_next(r));
		break;
	default: /* long keys differing late */
		e->klen = 500 + (size_t)rng_below(r, 1000);
		e->k = malloc(e->klen);
		memset(e->k, 'L', e->klen);
		snprintf(tmp, sizeof(tmp), "%011zu", i % 100000000000u);
		memcpy(e->k + e->klen - 12, tmp, 12);
		break;
	}
}

static struct kvset make_set(struct rng *r, enum shape sh, size_t n)
{
	struct kvset s = { calloc(n, sizeof(struct kv)), n };

	assert_non_null(s.e);
	for (size_t i = 0; i < n; i++) {
		struct kv *e = &s.e[i];

		make_key(r, sh, i, e);
		e->vlen = rng_below(r, 4) ? (size_t)rng_below(r, 40) : 0;
		if (rng_below(r, 50) == 0)
			e->vlen = 5000;
		e->v = malloc(e->vlen + 1);
		rng_bytes(r, e->v, e->vlen);
	}
	kvset_sort(&s);
	return s;
}

/* Builds S into a malloc'ed buffer of exactly *LEN bytes. */
static uint8_t *build(const struct kvset *s, unsigned interval, size_t *len)
{
	struct block_builder *bb = block_builder_new(interval);
	const uint8_t *p;
	uint8_t *copy;
	size_t klen;

	assert_non_null(bb);
	assert_true(block_builder_empty(bb));
	for (size_t i = 0; i < s->n; i++) {
		assert_int_equal(block_builder_add(bb, s->e[i].k, s->e[i].klen,
						   s->e[i].v, s->e[i].vlen), 0);
		p = block_builder_last_key(bb, &klen);
		assert_int_equal(klen, s->e[i].klen);
		assert_memory_equal(p, s->e[i].k, klen);
	}
	assert_int_equal(block_builder_empty(bb), s->n == 0);
	klen = block_builder_size(bb);
	p = block_builder_finish(bb, len);
	assert_non_null(p);
	assert_int_equal(*len, klen);
	copy = malloc(*len);
	memcpy(copy, p, *len);
	block_builder_free(bb);
	return copy;
}

static void assert_at(struct iiter *it, const struct kv *e)
{
	size_t klen, vlen;
	const uint8_t *k, *v;

	assert_true(iiter_valid(it));
	k = iiter_key(it, &klen);
	v = iiter_value(it, &vlen);
	assert_int_equal(klen, e->klen);
	assert_int_equal(vlen, e->vlen);
	if (klen)
		assert_memory_equal(k, e->k, klen);
	if (vlen)
		assert_memory_equal(v, e->v, vlen);
}

static void check_scans(struct iiter *it, const struct kvset *s)
{
	size_t i = 0;

	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, &s->e[i++]);
	assert_int_equal(i, s->n);
	for (iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		assert_at(it, &s->e[--i]);
	assert_int_equal(i, 0);
	assert_int_equal(iiter_status(it, NULL), 0);
}

/* Seeks every key, every key + "\0" (the next key) and past the end; at
 * each hit also steps prev and next. */
static void check_seeks(struct iiter *it, const struct kvset *s)
{
	uint8_t tmp[2048];

	for (size_t i = 0; i < s->n; i++) {
		const struct kv *e = &s->e[i];

		iiter_seek(it, e->k, e->klen);
		assert_at(it, e);
		iiter_prev(it);
		if (i == 0)
			assert_false(iiter_valid(it));
		else
			assert_at(it, &s->e[i - 1]);
		iiter_seek(it, e->k, e->klen);
		iiter_next(it);
		if (i + 1 == s->n)
			assert_false(iiter_valid(it));
		else
			assert_at(it, &s->e[i + 1]);
		memcpy(tmp, e->k, e->klen);
		tmp[e->klen] = 0;
		iiter_seek(it, tmp, e->klen + 1);
		if (i + 1 == s->n)
			assert_false(iiter_valid(it));
		else
			assert_at(it, &s->e[i + 1]);
	}
	memset(tmp, 0xff, 2000);
	iiter_seek(it, tmp, 2000);
	assert_false(iiter_valid(it));
	iiter_seek(it, NULL, 0);
	if (s->n)
		assert_at(it, &s->e[0]);
	assert_int_equal(iiter_status(it, NULL), 0);
}

static void round_trip(const struct kvset *s, unsigned interval)
{
	struct block *b;
	struct iiter *it;
	size_t len;
	uint8_t *data = build(s, interval, &len);

	assert_int_equal(block_new(data, len, true, &b, NULL), 0);
	assert_true(block_size(b) >= len);
	it = block_iter(b, bytewise, NULL, NULL);
	assert_non_null(it);
	check_scans(it, s);
	check_seeks(it, s);
	iiter_free(it);
	block_free(b);
}

static void test_round_trips(void **state)
{
	static const unsigned intervals[] = { 1, 2, 3, 16, 100000 };
	static const size_t sizes[] = { 0, 1, 2, 17, 300 };
	struct rng r;

	(void)state;
	rng_init(&r, "block round trips", 0);
	for (int sh = 0; sh < SHAPE_COUNT; sh++) {
		for (size_t si = 0; si < 5; si++) {
			struct kvset s = make_set(&r, (enum shape)sh,
						  sizes[si]);

			for (size_t ii = 0; ii < 5; ii++)
				round_trip(&s, intervals[ii]);
			kvset_free(&s);
		}
	}
}

static void test_empty_block(void **state)
{
	struct block_builder *bb = block_builder_new(16);
	const uint8_t *p;
	struct block *b;
	struct iiter *it;
	size_t len;

	(void)state;
	p = block_builder_finish(bb, &len);
	assert_int_equal(len, 4);
	assert_int_equal(block_new(p, len, false, &b, NULL), 0);
	it = block_iter(b, bytewise, NULL, NULL);
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	iiter_seek_last(it);
	assert_false(iiter_valid(it));
	iiter_seek(it, (const uint8_t *)"a", 1);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
	block_free(b);
	block_builder_free(bb);
}

static int released;

static void count_release(void *arg)
{
	(void)arg;
	released++;
}

static void test_reset_and_release(void **state)
{
	struct block_builder *bb = block_builder_new(2);
	const uint8_t *p;
	struct block *b;
	struct iiter *it;
	size_t len, klen;

	(void)state;
	assert_int_equal(block_builder_add(bb, (const uint8_t *)"zz", 2,
					   (const uint8_t *)"1", 1), 0);
	block_builder_reset(bb);
	assert_true(block_builder_empty(bb));
	assert_int_equal(block_builder_add(bb, (const uint8_t *)"a", 1,
					   (const uint8_t *)"1", 1), 0);
	assert_int_equal(block_builder_add(bb, (const uint8_t *)"ab", 2,
					   (const uint8_t *)"2", 1), 0);
	p = block_builder_last_key(bb, &klen);
	assert_int_equal(klen, 2);
	assert_memory_equal(p, "ab", 2);
	p = block_builder_finish(bb, &len);
	assert_int_equal(block_new(p, len, false, &b, NULL), 0);
	released = 0;
	it = block_iter(b, bytewise, count_release, NULL);
	iiter_seek_first(it);
	p = iiter_key(it, &klen);
	assert_int_equal(klen, 1);
	assert_memory_equal(p, "a", 1);
	iiter_free(it);
	assert_int_equal(released, 1);
	block_free(b);
	block_builder_free(bb);
}

static void expect_bad(const uint8_t *p, size_t len)
{
	struct lsm_err e = { 0 };
	struct block *b = NULL;

	assert_int_equal(block_new(p, len, false, &b, &e), -EUCLEAN);
	assert_int_equal(e.code, -EUCLEAN);
	assert_null(b);
}

static void test_bad_restarts(void **state)
{
	uint8_t blk[64];
	struct block_builder *bb = block_builder_new(1);
	const uint8_t *p;
	size_t len;

	(void)state;
	expect_bad((const uint8_t *)"abc", 3);
	put_u32le(blk, 0);
	expect_bad(blk, 0);
	put_u32le(blk, 1);          /* one restart but no room for it */
	expect_bad(blk, 4);
	put_u32le(blk + 4, 0);      /* n = 0 but there are entry bytes */
	expect_bad(blk, 8);
	block_builder_add(bb, (const uint8_t *)"a", 1, (const uint8_t *)"x", 1);
	block_builder_add(bb, (const uint8_t *)"b", 1, (const uint8_t *)"y", 1);
	p = block_builder_finish(bb, &len);
	memcpy(blk, p, len);        /* 2 entries of 5 bytes, restarts 0, 5 */
	put_u32le(blk + len - 4, 1000);
	expect_bad(blk, len);       /* count too large */
	memcpy(blk, p, len);
	put_u32le(blk + len - 12, 1);
	expect_bad(blk, len);       /* first restart not 0 */
	memcpy(blk, p, len);
	put_u32le(blk + len - 8, 0);
	expect_bad(blk, len);       /* restarts not increasing */
	memcpy(blk, p, len);
	put_u32le(blk + len - 8, 10);
	expect_bad(blk, len);       /* restart past the entries */
	block_builder_free(bb);
}

/* block_check: restarts inside an entry pass block_new but not the check
 * (a fuzzed table verified, then failed to iterate backward). */
static void test_check_restarts(void **state)
{
	uint8_t blk[64];
	struct block_builder *bb = block_builder_new(1);
	struct block *b;
	const uint8_t *p;
	size_t len;

	(void)state;
	block_builder_add(bb, (const uint8_t *)"a", 1, (const uint8_t *)"x", 1);
	block_builder_add(bb, (const uint8_t *)"b", 1, (const uint8_t *)"y", 1);
	p = block_builder_finish(bb, &len);
	memcpy(blk, p, len);        /* 2 entries of 5 bytes, restarts 0, 5 */
	assert_int_equal(block_new(blk, len, false, &b, NULL), 0);
	assert_int_equal(block_check(b, NULL), 0);
	block_free(b);
	for (uint32_t r = 1; r < 10; r++) {
		if (r == 5)
			continue;
		put_u32le(blk + len - 8, r);
		assert_int_equal(block_new(blk, len, false, &b, NULL), 0);
		assert_int_equal(block_check(b, NULL), -EUCLEAN);
		block_free(b);
	}
	block_builder_free(bb);
}

/* Whatever DATA holds, iterating must stay in bounds and terminate. */
static void torture(const uint8_t *src, size_t len, struct rng *r,
		    const struct kvset *s)
{
	uint8_t *data = malloc(len ? len : 1); /* exact size for ASan */
	struct block *b;
	struct iiter *it;
	size_t steps = 0, klen;

	memcpy(data, src, len);
	if (block_new(data, len, true, &b, NULL) < 0) {
		free(data);
		return;
	}
	it = block_iter(b, bytewise, NULL, NULL);
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		iiter_key(it, &klen);
		assert_true(++steps <= len);
	}
	if (iiter_status(it, NULL) < 0)
		assert_int_equal(iiter_status(it, NULL), -EUCLEAN);
	for (iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		assert_true(++steps <= 2 * len);
	for (int i = 0; i < 4 && s->n; i++) {
		const struct kv *e = &s->e[rng_below(r, s->n)];

		iiter_seek(it, e->k, e->klen);
		if (iiter_valid(it))
			iiter_prev(it);
	}
	if (iiter_status(it, NULL) < 0)
		assert_false(iiter_valid(it));
	iiter_free(it);
	block_free(b);
}

static void test_random_damage(void **state)
{
	struct rng r;

	(void)state;
	rng_init(&r, "block damage", 0);
	for (int sh = 0; sh < SHAPE_COUNT; sh++) {
		struct kvset s = make_set(&r, (enum shape)sh, 60);
		size_t len;
		uint8_t *good = build(&s, 1 + (unsigned)rng_below(&r, 8), &len);
		uint8_t *bad = malloc(len);

		for (int it = 0; it < 1500; it++) {
			int flips = 1 + (int)rng_below(&r, 3);

			memcpy(bad, good, len);
			for (int f = 0; f < flips; f++)
				bad[rng_below(&r, len)] ^=
					(uint8_t)(1 + rng_below(&r, 255));
			torture(bad, len, &r, &s);
			torture(good, (size_t)rng_below(&r, len), &r, &s);
		}
		/* Every truncation, and one flip at every offset. */
		for (size_t i = 0; i < len; i++) {
			torture(good, i, &r, &s);
			memcpy(bad, good, len);
			bad[i] ^= 0x80;
			torture(bad, len, &r, &s);
		}
		free(bad);
		free(good);
		kvset_free(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_empty_block),
		cmocka_unit_test(test_reset_and_release),
		cmocka_unit_test(test_bad_restarts),
		cmocka_unit_test(test_check_restarts),
		cmocka_unit_test(test_random_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
