/* test_iter.c - the merging and concatenating iterators over small
 * vector-backed children, against a reference merged array: random walks
 * of next/prev/seek, duplicates across children, error propagation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iter.h"
#include "support.h"

/* ---- a vector-backed test iterator ---- */

struct ent {
	uint8_t k[8];
	size_t kl;
	char v[48]; /* unique per entry: says where it came from */
};

struct vec_iter {
	struct iiter base;
	const struct ent *e;
	size_t n;
	size_t pos;      /* n when invalid */
	size_t fail_at;  /* landing here fails with -EIO; SIZE_MAX: never */
	int rc;
	int *frees;      /* counts iiter_free calls; may be NULL */
};

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return ukey_cmp(a, al, b, bl);
}

static struct vec_iter *vec_of(struct iiter *it)
{
	return (struct vec_iter *)it;
}

static void vec_land(struct vec_iter *vi, size_t pos)
{
	vi->pos = pos;
	if (pos == vi->fail_at) {
		vi->pos = vi->n;
		vi->rc = -EIO;
	}
}

static bool vec_valid(struct iiter *it)
{
	return vec_of(it)->pos < vec_of(it)->n;
}

static void vec_seek_first(struct iiter *it)
{
	vec_land(vec_of(it), 0);
}

static void vec_seek_last(struct iiter *it)
{
	struct vec_iter *vi = vec_of(it);

	vec_land(vi, vi->n ? vi->n - 1 : 0);
}

static void vec_seek(struct iiter *it, const uint8_t *k, size_t kl)
{
	struct vec_iter *vi = vec_of(it);
	size_t i = 0;

	while (i < vi->n && bytes_cmp(vi->e[i].k, vi->e[i].kl, k, kl) < 0)
		i++;
	vec_land(vi, i);
}

static void vec_next(struct iiter *it)
{
	struct vec_iter *vi = vec_of(it);

	assert_true(vi->pos < vi->n);
	vec_land(vi, vi->pos + 1);
}

static void vec_prev(struct iiter *it)
{
	struct vec_iter *vi = vec_of(it);

	assert_true(vi->pos < vi->n);
	vec_land(vi, vi->pos ? vi->pos - 1 : vi->n);
}

static const uint8_t *vec_key(struct iiter *it, size_t *kl)
{
	struct vec_iter *vi = vec_of(it);

	assert_true(vi->pos < vi->n);
	*kl = vi->e[vi->pos].kl;
	return vi->e[vi->pos].k;
}

static const uint8_t *vec_value(struct iiter *it, size_t *vl)
{
	struct vec_iter *vi = vec_of(it);

	assert_true(vi->pos < vi->n);
	*vl = strlen(vi->e[vi->pos].v);
	return (const uint8_t *)vi->e[vi->pos].v;
}

static int vec_status(struct iiter *it, struct lsm_err *err)
{
	struct vec_iter *vi = vec_of(it);

	if (vi->rc)
		return lsm_err_set(err, vi->rc, "vec: injected error");
	return 0;
}

static void vec_free(struct iiter *it)
{
	struct vec_iter *vi = vec_of(it);

	if (vi->frees)
		(*vi->frees)++;
	free(vi);
}

static const struct iiter_ops vec_ops = {
	.valid = vec_valid,
	.seek_first = vec_seek_first,
	.seek_last = vec_seek_last,
	.seek = vec_seek,
	.next = vec_next,
	.prev = vec_prev,
	.key = vec_key,
	.value = vec_value,
	.status = vec_status,
	.free = vec_free,
};

static struct iiter *vec_new(const struct ent *e, size_t n, int *frees)
{
	struct vec_iter *vi = calloc(1, sizeof(*vi));

	assert_non_null(vi);
	vi->base.ops = &vec_ops;
	vi->e = e;
	vi->n = n;
	vi->pos = n;
	vi->fail_at = SIZE_MAX;
	vi->frees = frees;
	return &vi->base;
}

/* ---- reference helpers ---- */

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return bytes_cmp(x->k, x->kl, y->k, y->kl);
}

static void rand_key(struct rng *r, uint8_t *k, size_t *kl)
{
	*kl = 1 + rng_below(r, 2);
	for (size_t i = 0; i < *kl; i++)
		k[i] = (uint8_t)('a' + rng_below(r, 5));
}

/* Asserts IT is on REF[I] (I == N: invalid). */
static void assert_at(struct iiter *it, const struct ent *ref, size_t n,
		      size_t i)
{
	const uint8_t *k, *v;
	size_t kl, vl;

	if (i >= n) {
		assert_false(iiter_valid(it));
		return;
	}
	assert_true(iiter_valid(it));
	k = iiter_key(it, &kl);
	v = iiter_value(it, &vl);
	assert_int_equal(kl, ref[i].kl);
	assert_memory_equal(k, ref[i].k, kl);
	assert_int_equal(vl, strlen(ref[i].v));
	assert_memory_equal(v, ref[i].v, vl);
}

static size_t lower_bound(const struct ent *ref, size_t n, const uint8_t *k,
			  size_t kl)
{
	size_t i = 0;

	while (i < n && bytes_cmp(ref[i].k, ref[i].kl, k, kl) < 0)
		i++;
	return i;
}

/* A random walk of WALK steps over IT, checked against REF[0..N). */
static void random_walk(struct iiter *it, const struct ent *ref, size_t n,
			struct rng *r, int walk)
{
	size_t pos = n, kl;
	uint8_t k[8];

	for (int s = 0; s < walk; s++) {
		unsigned op = (unsigned)rng_below(r, 10);

		if (op == 0) {
			iiter_seek_first(it);
			pos = 0;
		} else if (op == 1) {
			iiter_seek_last(it);
			pos = n ? n - 1 : n;
		} else if (op <= 3 || pos >= n) {
			rand_key(r, k, &kl);
			iiter_seek(it, k, kl);
			pos = lower_bound(ref, n, k, kl);
		} else if (op <= 6) {
			iiter_next(it);
			pos++;
		} else {
			iiter_prev(it);
			pos = pos ? pos - 1 : n;
		}
		assert_at(it, ref, n, pos);
	}
	assert_int_equal(iiter_status(it, NULL), 0);
}

/* ---- merge ---- */

#define MAXC 6
#define MAXE 40

struct merge_case {
	struct ent e[MAXC][MAXE];
	size_t n[MAXC];
	struct ent ref[MAXC * MAXE];
	size_t nref;
};

/* Child C gets up to MAXE sorted random keys (dups within and across
 * children); some children are empty.  REF is their stable merge. */
static void merge_case_fill(struct merge_case *mc, size_t nc, struct rng *r)
{
	mc->nref = 0;
	for (size_t c = 0; c < nc; c++) {
		mc->n[c] = rng_below(r, 4) ? rng_below(r, MAXE + 1) : 0;
		for (size_t i = 0; i < mc->n[c]; i++)
			rand_key(r, mc->e[c][i].k, &mc->e[c][i].kl);
		qsort(mc->e[c], mc->n[c], sizeof(struct ent), ent_cmp);
		for (size_t i = 0; i < mc->n[c]; i++) {
			snprintf(mc->e[c][i].v, sizeof(mc->e[c][i].v),
				 "c%zu.%zu", c, i);
			mc->ref[mc->nref++] = mc->e[c][i];
		}
	}
	/* Insertion sort is stable: ties keep child order. */
	for (size_t i = 1; i < mc->nref; i++) {
		struct ent t = mc->ref[i];
		size_t j = i;

		for (; j > 0 && ent_cmp(&mc->ref[j - 1], &t) > 0; j--)
			mc->ref[j] = mc->ref[j - 1];
		mc->ref[j] = t;
	}
}

static struct iiter *merge_case_iter(struct merge_case *mc, size_t nc,
				     int *frees)
{
	struct iiter *ch[MAXC];
	struct iiter *it;

	for (size_t c = 0; c < nc; c++)
		ch[c] = vec_new(mc->e[c], mc->n[c], frees);
	it = iiter_merge(ch, nc, bytes_cmp);
	assert_non_null(it);
	return it;
}

static void test_merge_random(void **state)
{
	struct merge_case *mc = malloc(sizeof(*mc));
	struct rng r;
	int frees = 0, want_frees = 0;

	(void)state;
	assert_non_null(mc);
	rng_init(&r, "iter_merge", 0);
	for (int round = 0; round < 300; round++) {
		size_t nc = rng_below(&r, MAXC + 1);
		struct iiter *it;

		merge_case_fill(mc, nc, &r);
		it = merge_case_iter(mc, nc, &frees);
		random_walk(it, mc->ref, mc->nref, &r, 400);
		iiter_free(it);
		want_frees += (int)nc;
		assert_int_equal(frees, want_frees);
	}
	free(mc);
}

static void test_merge_full_scans(void **state)
{
	struct merge_case *mc = malloc(sizeof(*mc));
	struct rng r;
	struct iiter *it;
	size_t i;

	(void)state;
	assert_non_null(mc);
	rng_init(&r, "iter_merge_scan", 0);
	merge_case_fill(mc, MAXC, &r);
	it = merge_case_iter(mc, MAXC, NULL);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, mc->ref, mc->nref, i++);
	assert_int_equal(i, mc->nref);
	for (iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		assert_at(it, mc->ref, mc->nref, --i);
	assert_int_equal(i, 0);
	/* Zig-zag: next then prev from every position. */
	for (i = 0; i + 1 < mc->nref; i++) {
		iiter_seek_first(it);
		for (size_t j = 0; j < i; j++)
			iiter_next(it);
		iiter_next(it);
		assert_at(it, mc->ref, mc->nref, i + 1);
		iiter_prev(it);
		assert_at(it, mc->ref, mc->nref, i);
		iiter_next(it);
		assert_at(it, mc->ref, mc->nref, i + 1);
	}
	iiter_free(it);
	free(mc);
}

static void test_merge_empty_and_single(void **state)
{
	static const struct ent e[2] = { { "a", 1, "x" }, { "b", 1, "y" } };
	struct iiter *ch[3];
	struct iiter *it;
	size_t i;

	(void)state;
	it = iiter_merge(NULL, 0, bytes_cmp);
	assert_non_null(it);
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	iiter_seek_last(it);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);

	ch[0] = vec_new(e, 2, NULL);
	it = iiter_merge(ch, 1, bytes_cmp);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, e, 2, i++);
	assert_int_equal(i, 2);
	iiter_free(it);

	ch[0] = iiter_error(0, NULL);
	ch[1] = vec_new(e, 2, NULL);
	ch[2] = iiter_error(0, "plain empty");
	it = iiter_merge(ch, 3, bytes_cmp);
	for (i = 2, iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
		assert_at(it, e, 2, --i);
	assert_int_equal(i, 0);
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
}

static void test_merge_error_child(void **state)
{
	static const struct ent e[3] = { { "a", 1, "1" }, { "b", 1, "2" },
					 { "c", 1, "3" } };
	struct lsm_err err = { 0 };
	struct iiter *ch[3];
	struct iiter *it;

	(void)state;
	ch[0] = vec_new(e, 3, NULL);
	ch[1] = iiter_error(-EBADMSG, "t.sst: bad block checksum");
	ch[2] = vec_new(e, 3, NULL);
	it = iiter_merge(ch, 3, bytes_cmp);
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, &err), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
	assert_string_equal(err.msg, "t.sst: bad block checksum");
	iiter_seek(it, (const uint8_t *)"b", 1);
	assert_false(iiter_valid(it));
	iiter_free(it);
}

/* A child failing mid-way stops the merge there, for good. */
static void test_merge_child_fails_midway(void **state)
{
	struct merge_case *mc = malloc(sizeof(*mc));
	struct lsm_err err = { 0 };
	struct iiter *ch[3];
	struct iiter *it;
	size_t i;

	(void)state;
	assert_non_null(mc);
	for (size_t c = 0; c < 3; c++) {
		mc->n[c] = 10;
		for (i = 0; i < 10; i++) {
			mc->e[c][i].k[0] = (uint8_t)('a' + i);
			mc->e[c][i].kl = 1;
			snprintf(mc->e[c][i].v, sizeof(mc->e[c][i].v), "%zu", c);
		}
		ch[c] = vec_new(mc->e[c], 10, NULL);
	}
	vec_of(ch[1])->fail_at = 5;
	it = iiter_merge(ch, 3, bytes_cmp);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		size_t kl;
		const uint8_t *k = iiter_key(it, &kl);

		assert_int_equal(k[0], 'a' + i / 3);
		i++;
	}
	/* a..e of every child (15) but e of child 2: child 1 fails moving
	 * from its "e" onto "f", which ends the merge there. */
	assert_int_equal(i, 14);
	assert_int_equal(iiter_status(it, &err), -EIO);
	assert_string_equal(err.msg, "vec: injected error");
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	iiter_free(it);

	/* The same failure met while turning around (prev after next). */
	for (size_t c = 0; c < 3; c++)
		ch[c] = vec_new(mc->e[c], 10, NULL);
	it = iiter_merge(ch, 3, bytes_cmp);
	iiter_seek(it, (const uint8_t *)"d", 1);
	assert_true(iiter_valid(it));
	vec_of(ch[2])->fail_at = 3; /* reached by the reverse re-seek */
	iiter_prev(it);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), -EIO);
	iiter_free(it);
	free(mc);
}

/* ---- concat ---- */

#define NITEMS 6

struct level {
	struct ent e[NITEMS][MAXE];
	size_t n[NITEMS];
	struct ent all[NITEMS * MAXE];
	size_t nall;
	unsigned fail_open;     /* bit i: opening item i fails */
	size_t fail_child_item; /* this item's child fails at fail_child_at */
	size_t fail_child_at;
	int opens;
	int frees;              /* children freed */
	int ctx_frees;
};

static struct iiter *level_open(void *ctx, size_t i, struct lsm_err *err)
{
	struct level *lv = ctx;
	struct iiter *it;

	assert_true(i < NITEMS);
	lv->opens++;
	if (lv->fail_open & (1u << i)) {
		lsm_err_set(err, -EBADMSG, "item %zu: bad checksum", i);
		return NULL;
	}
	it = vec_new(lv->e[i], lv->n[i], &lv->frees);
	if (i == lv->fail_child_item)
		vec_of(it)->fail_at = lv->fail_child_at;
	return it;
}

static const uint8_t *level_key_last(void *ctx, size_t i, size_t *kl)
{
	struct level *lv = ctx;

	assert_true(i < NITEMS && lv->n[i] > 0);
	*kl = lv->e[i][lv->n[i] - 1].kl;
	return lv->e[i][lv->n[i] - 1].k;
}

static void level_free_ctx(void *ctx)
{
	((struct level *)ctx)->ctx_frees++;
}

/* Item i holds 1..MAXE sorted distinct two-byte keys starting with 'a'+i. */
static void level_fill(struct level *lv, struct rng *r)
{
	memset(lv, 0, sizeof(*lv));
	lv->fail_child_item = SIZE_MAX;
	for (size_t i = 0; i < NITEMS; i++) {
		for (unsigned b = 0; b < 26 && lv->n[i] < MAXE; b++) {
			struct ent *e = &lv->e[i][lv->n[i]];

			if (lv->n[i] && rng_below(r, 3) == 0)
				continue;
			e->k[0] = (uint8_t)('a' + 2 * i);
			e->k[1] = (uint8_t)('a' + b);
			e->kl = 2;
			snprintf(e->v, sizeof(e->v), "i%zu.%zu", i, lv->n[i]);
			lv->all[lv->nall++] = *e;
			lv->n[i]++;
		}
	}
}

static struct iiter *level_iter(struct level *lv)
{
	struct iiter *it = iiter_concat(NITEMS, lv, level_open,
					level_key_last, level_free_ctx,
					bytes_cmp);

	assert_non_null(it);
	return it;
}

static void test_concat_random(void **state)
{
	struct level *lv = malloc(sizeof(*lv));
	struct rng r;
	struct iiter *it;
	size_t i;

	(void)state;
	assert_non_null(lv);
	rng_init(&r, "iter_concat", 0);
	for (int round = 0; round < 50; round++) {
		level_fill(lv, &r);
		it = level_iter(lv);
		assert_int_equal(lv->opens, 0); /* lazy */
		iiter_seek(it, (const uint8_t *)"e", 1);
		assert_int_equal(lv->opens, 1);
		assert_at(it, lv->all, lv->nall,
			  lower_bound(lv->all, lv->nall,
				      (const uint8_t *)"e", 1));
		for (i = 0, iiter_seek_first(it); iiter_valid(it);
		     iiter_next(it))
			assert_at(it, lv->all, lv->nall, i++);
		assert_int_equal(i, lv->nall);
		for (iiter_seek_last(it); iiter_valid(it); iiter_prev(it))
			assert_at(it, lv->all, lv->nall, --i);
		assert_int_equal(i, 0);
		random_walk(it, lv->all, lv->nall, &r, 300);
		iiter_free(it);
		assert_int_equal(lv->ctx_frees, 1);
		assert_int_equal(lv->frees, lv->opens);
	}
	free(lv);
}

static void test_concat_open_failure(void **state)
{
	struct level *lv = malloc(sizeof(*lv));
	struct lsm_err err = { 0 };
	struct rng r;
	struct iiter *it;
	size_t i, before3 = 0;

	(void)state;
	assert_non_null(lv);
	rng_init(&r, "iter_concat_fail", 0);
	level_fill(lv, &r);
	lv->fail_open = 1u << 3;
	for (i = 0; i < 3; i++)
		before3 += lv->n[i];

	it = level_iter(lv);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, lv->all, lv->nall, i++);
	assert_int_equal(i, before3);
	assert_int_equal(iiter_status(it, &err), -EBADMSG);
	assert_string_equal(err.msg, "item 3: bad checksum");
	iiter_seek_first(it); /* sticky */
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), -EBADMSG);
	iiter_free(it);

	it = level_iter(lv);
	for (i = lv->nall, iiter_seek_last(it); iiter_valid(it);
	     iiter_prev(it))
		assert_at(it, lv->all, lv->nall, --i);
	assert_int_equal(i, before3 + lv->n[3]);
	assert_int_equal(iiter_status(it, NULL), -EBADMSG);
	iiter_free(it);

	it = level_iter(lv);
	iiter_seek(it, lv->e[3][0].k, lv->e[3][0].kl);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), -EBADMSG);
	iiter_free(it);

	/* An item whose iterator fails part-way. */
	lv->fail_open = 0;
	lv->fail_child_item = 1;
	lv->fail_child_at = lv->n[1] / 2;
	it = level_iter(lv);
	for (i = 0, iiter_seek_first(it); iiter_valid(it); iiter_next(it))
		assert_at(it, lv->all, lv->nall, i++);
	assert_int_equal(i, lv->n[0] + lv->n[1] / 2);
	assert_int_equal(iiter_status(it, &err), -EIO);
	iiter_free(it);
	assert_int_equal(lv->ctx_frees, 4);
	assert_int_equal(lv->frees, lv->opens - 3); /* 3 opens failed */
	free(lv);
}

static void test_concat_empty_level(void **state)
{
	struct level lv = { .fail_child_item = SIZE_MAX };
	struct iiter *it;

	(void)state;
	it = iiter_concat(0, &lv, level_open, level_key_last, level_free_ctx,
			  bytes_cmp);
	assert_non_null(it);
	iiter_seek_first(it);
	assert_false(iiter_valid(it));
	iiter_seek_last(it);
	assert_false(iiter_valid(it));
	iiter_seek(it, (const uint8_t *)"a", 1);
	assert_false(iiter_valid(it));
	assert_int_equal(iiter_status(it, NULL), 0);
	iiter_free(it);
	assert_int_equal(lv.opens, 0);
	assert_int_equal(lv.ctx_frees, 1);
}

/* A level under a merge: the usual way db_iter uses them. */
static void test_merge_of_levels(void **state)
{
	struct level *lv = malloc(sizeof(*lv));
	static const struct ent extra[3] = { { "a", 1, "m0" },
					     { "cz", 2, "m1" },
					     { "zz", 2, "m2" } };
	struct ent *ref;
	struct iiter *ch[2];
	struct iiter *it;
	struct rng r;
	size_t n = 0, i, j = 0;

	(void)state;
	assert_non_null(lv);
	rng_init(&r, "iter_merge_levels", 0);
	level_fill(lv, &r);
	ref = malloc((lv->nall + 3) * sizeof(*ref));
	assert_non_null(ref);
	for (i = 0; i < lv->nall || j < 3;) {
		if (j < 3 &&
		    (i == lv->nall || ent_cmp(&extra[j], &lv->all[i]) <= 0))
			ref[n++] = extra[j++];
		else
			ref[n++] = lv->all[i++];
	}
	ch[0] = vec_new(extra, 3, NULL);
	ch[1] = level_iter(lv);
	it = iiter_merge(ch, 2, bytes_cmp);
	random_walk(it, ref, n, &r, 2000);
	iiter_free(it);
	assert_int_equal(lv->ctx_frees, 1);
	free(ref);
	free(lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_random),
		cmocka_unit_test(test_merge_full_scans),
		cmocka_unit_test(test_merge_empty_and_single),
		cmocka_unit_test(test_merge_error_child),
		cmocka_unit_test(test_merge_child_fails_midway),
		cmocka_unit_test(test_concat_random),
		cmocka_unit_test(test_concat_open_failure),
		cmocka_unit_test(test_concat_empty_level),
		cmocka_unit_test(test_merge_of_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
