/* iter.c - generic internal iterators: an always-empty one carrying an error,
 * the merging iterator over several sorted children, and the lazy
 * concatenation of non-overlapping ranges that reads one level.  Errors are
 * sticky: once a merge or concat iterator meets one it stays invalid. */
#include "iter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the error (or empty) iterator ---- */

struct err_iter {
	struct iiter base;
	struct lsm_err err;
};

static struct err_iter *err_iter_of(struct iiter *it)
{
	return (struct err_iter *)it;
}

static bool ei_valid(struct iiter *it)
{
	(void)it;
	return false;
}

static void ei_seek_first(struct iiter *it)
{
	(void)it;
}

static void ei_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	(void)it;
	(void)key;
	(void)klen;
}

/* next, prev, key and value require a valid iterator: never called. */
static const uint8_t *ei_key(struct iiter *it, size_t *len)
{
	(void)it;
	*len = 0;
	return NULL;
}

static int ei_status(struct iiter *it, struct lsm_err *err)
{
	struct err_iter *ei = err_iter_of(it);

	if (ei->err.code && err)
		*err = ei->err;
	return ei->err.code;
}

static void ei_free(struct iiter *it)
{
	free(err_iter_of(it));
}

static const struct iiter_ops err_iter_ops = {
	.valid = ei_valid,
	.seek_first = ei_seek_first,
	.seek_last = ei_seek_first,
	.seek = ei_seek,
	.next = ei_seek_first,
	.prev = ei_seek_first,
	.key = ei_key,
	.value = ei_key,
	.status = ei_status,
	.free = ei_free,
};

struct iiter *iiter_error(int rc, const char *msg)
{
	struct err_iter *ei = calloc(1, sizeof(*ei));

	if (!ei)
		return NULL;
	ei->base.ops = &err_iter_ops;
	if (rc)
		lsm_err_set(&ei->err, rc, "%s", msg ? msg : "iterator error");
	return &ei->base;
}

/* ---- the merging iterator ----
 * Entries are ordered by (key, child index).  Moving forward, every child
 * but the current one sits on its first entry after the current one in that
 * order; moving backward, on its last entry before it.  Each child's key
 * is cached after it moves, so that picking the next child compares bytes
 * without calling through every child's vtable. */

enum merge_dir { MERGE_FORWARD, MERGE_REVERSE };

struct merge_iter {
	struct iiter base;
	key_cmp_fn cmp;
	size_t n;
	size_t cur;                     /* current child; n when invalid */
	enum merge_dir dir;
	struct lsm_err err;             /* the first child error, sticky */
	struct merge_child {
		struct iiter *it;
		const uint8_t *key;     /* its key when valid, else NULL */
		size_t klen;
	} child[];
};

static struct merge_iter *merge_of(struct iiter *it)
{
	return (struct merge_iter *)it;
}

/* After child I moved: caches its key, or records its error if it has
 * become invalid with one. */
static void merge_note(struct merge_iter *mi, size_t i)
{
	struct merge_child *c = &mi->child[i];
	struct lsm_err e;
	int rc;

	if (iiter_valid(c->it)) {
		c->key = iiter_key(c->it, &c->klen);
		return;
	}
	c->key = NULL;
	e.msg[0] = '\0';
	rc = iiter_status(c->it, &e);
	if (rc && !mi->err.code) {
		mi->err = e;
		mi->err.code = rc;
	}
}

static int merge_cmp(struct merge_iter *mi, size_t a, size_t b)
{
	const struct merge_child *ca = &mi->child[a], *cb = &mi->child[b];

	return mi->cmp(ca->key, ca->klen, cb->key, cb->klen);
}

/* Points cur at the smallest child, the lowest index on a tie. */
static void merge_find_smallest(struct merge_iter *mi)
{
	size_t best = mi->n;

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		if (!mi->child[i].key)
			continue;
		if (best == mi->n || merge_cmp(mi, i, best) < 0)
			best = i;
	}
	mi->cur = mi->err.code ? mi->n : best;
}

/* Points cur at the largest child, the highest index on a tie. */
static void merge_find_largest(struct merge_iter *mi)
{
	size_t best = mi->n;

	for (size_t i = mi->n; i-- > 0 && !mi->err.code;) {
		if (!mi->child[i].key)
			continue;
		if (best == mi->n || merge_cmp(mi, i, best) > 0)
			best = i;
	}
	mi->cur = mi->err.code ? mi->n : best;
}

static bool mg_valid(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	return mi->cur < mi->n;
}

static void mg_seek_first(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		iiter_seek_first(mi->child[i].it);
		merge_note(mi, i);
	}
	mi->dir = MERGE_FORWARD;
	merge_find_smallest(mi);
}

static void mg_seek_last(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		iiter_seek_last(mi->child[i].it);
		merge_note(mi, i);
	}
	mi->dir = MERGE_REVERSE;
	merge_find_largest(mi);
}

static void mg_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	struct merge_iter *mi = merge_of(it);

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		iiter_seek(mi->child[i].it, key, klen);
		merge_note(mi, i);
	}
	mi->dir = MERGE_FORWARD;
	merge_find_smallest(mi);
}

/* Steps C past every entry equal to KEY. */
static void skip_equal(struct merge_iter *mi, struct iiter *c,
		       const uint8_t *key, size_t klen)
{
	const uint8_t *k;
	size_t kl;

	while (iiter_valid(c)) {
		k = iiter_key(c, &kl);
		if (mi->cmp(k, kl, key, klen))
			break;
		iiter_next(c);
	}
}

/* Puts every child but cur after the current entry, for next(). */
static void merge_turn_forward(struct merge_iter *mi)
{
	size_t klen = mi->child[mi->cur].klen;
	const uint8_t *key = mi->child[mi->cur].key;

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		struct iiter *c = mi->child[i].it;

		if (i == mi->cur)
			continue;
		iiter_seek(c, key, klen);
		if (i < mi->cur)
			skip_equal(mi, c, key, klen);
		merge_note(mi, i);
	}
	mi->dir = MERGE_FORWARD;
}

/* Puts every child but cur before the current entry, for prev(). */
static void merge_turn_reverse(struct merge_iter *mi)
{
	size_t klen = mi->child[mi->cur].klen;
	const uint8_t *key = mi->child[mi->cur].key;

	for (size_t i = 0; i < mi->n && !mi->err.code; i++) {
		struct iiter *c = mi->child[i].it;

		if (i == mi->cur)
			continue;
		iiter_seek(c, key, klen);
		if (i < mi->cur)
			skip_equal(mi, c, key, klen);
		if (iiter_valid(c))
			iiter_prev(c);
		else if (iiter_status(c, NULL) == 0)
			iiter_seek_last(c);
		merge_note(mi, i);
	}
	mi->dir = MERGE_REVERSE;
}

static void mg_next(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);
	size_t cur = mi->cur;

	if (mi->dir != MERGE_FORWARD)
		merge_turn_forward(mi);
	iiter_next(mi->child[cur].it);
	merge_note(mi, cur);
	merge_find_smallest(mi);
}

static void mg_prev(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);
	size_t cur = mi->cur;

	if (mi->dir != MERGE_REVERSE)
		merge_turn_reverse(mi);
	iiter_prev(mi->child[cur].it);
	merge_note(mi, cur);
	merge_find_largest(mi);
}

static const uint8_t *mg_key(struct iiter *it, size_t *klen)
{
	struct merge_iter *mi = merge_of(it);

	*klen = mi->child[mi->cur].klen;
	return mi->child[mi->cur].key;
}

static const uint8_t *mg_value(struct iiter *it, size_t *vlen)
{
	struct merge_iter *mi = merge_of(it);

	return iiter_value(mi->child[mi->cur].it, vlen);
}

static int mg_status(struct iiter *it, struct lsm_err *err)
{
	struct merge_iter *mi = merge_of(it);
	int rc;

	for (size_t i = 0; i < mi->n; i++) {
		rc = iiter_status(mi->child[i].it, err);
		if (rc)
			return rc;
	}
	if (mi->err.code && err)
		*err = mi->err;
	return mi->err.code;
}

static void mg_free(struct iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	for (size_t i = 0; i < mi->n; i++)
		iiter_free(mi->child[i].it);
	free(mi);
}

static const struct iiter_ops merge_ops = {
	.valid = mg_valid,
	.seek_first = mg_seek_first,
	.seek_last = mg_seek_last,
	.seek = mg_seek,
	.next = mg_next,
	.prev = mg_prev,
	.key = mg_key,
	.value = mg_value,
	.status = mg_status,
	.free = mg_free,
};

struct iiter *iiter_merge(struct iiter **children, size_t n, key_cmp_fn cmp)
{
	struct merge_iter *mi;

	if (n == 1)
		return children[0];
	if (n > (SIZE_MAX - sizeof(*mi)) / sizeof(mi->child[0]))
		goto fail;
	mi = malloc(sizeof(*mi) + n * sizeof(mi->child[0]));
	if (!mi)
		goto fail;
	mi->base.ops = &merge_ops;
	mi->cmp = cmp;
	mi->n = n;
	mi->cur = n;
	mi->dir = MERGE_FORWARD;
	mi->err.code = 0;
	mi->err.msg[0] = '\0';
	for (size_t i = 0; i < n; i++)
		mi->child[i] = (struct merge_child){ .it = children[i] };
	return &mi->base;
fail:
	for (size_t i = 0; i < n; i++)
		iiter_free(children[i]);
	return NULL;
}

/* ---- the concatenating (level) iterator ---- */

struct concat_iter {
	struct iiter base;
	size_t n;
	size_t idx;                     /* item open in child */
	struct iiter *child;            /* NULL when no item is open */
	void *ctx;
	struct iiter *(*open)(void *ctx, size_t i, struct lsm_err *err);
	const uint8_t *(*key_last)(void *ctx, size_t i, size_t *klen);
	void (*free_ctx)(void *ctx);
	key_cmp_fn cmp;
	struct lsm_err err;             /* sticky; code 0 when none */
};

static struct concat_iter *concat_of(struct iiter *it)
{
	return (struct concat_iter *)it;
}

static void concat_drop(struct concat_iter *ci)
{
	iiter_free(ci->child);
	ci->child = NULL;
	ci->idx = ci->n;
}

/* Makes item I the open one; false (child NULL) on failure. */
static bool concat_open(struct concat_iter *ci, size_t i)
{
	if (ci->child && ci->idx == i)
		return true;
	concat_drop(ci);
	ci->child = ci->open(ci->ctx, i, &ci->err);
	if (!ci->child) {
		if (!ci->err.code)
			lsm_err_set(&ci->err, -EIO, "level item %zu: open failed",
				    i);
		return false;
	}
	ci->err.code = 0;
	ci->idx = i;
	return true;
}

/* If the open child is invalid with an error, keeps it and closes it. */
static bool concat_child_failed(struct concat_iter *ci)
{
	struct lsm_err e = { 0 };
	int rc;

	if (iiter_valid(ci->child))
		return false;
	rc = iiter_status(ci->child, &e);
	if (!rc)
		return false;
	ci->err = e;
	ci->err.code = rc;
	concat_drop(ci);
	return true;
}

static void concat_skip_forward(struct concat_iter *ci)
{
	while (ci->child && !iiter_valid(ci->child)) {
		if (concat_child_failed(ci) || ci->idx + 1 >= ci->n)
			return;
		if (!concat_open(ci, ci->idx + 1))
			return;
		iiter_seek_first(ci->child);
	}
}

static void concat_skip_backward(struct concat_iter *ci)
{
	while (ci->child && !iiter_valid(ci->child)) {
		if (concat_child_failed(ci) || ci->idx == 0)
			return;
		if (!concat_open(ci, ci->idx - 1))
			return;
		iiter_seek_last(ci->child);
	}
}

static bool ci_valid(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	return ci->child && iiter_valid(ci->child);
}

static void ci_seek_first(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	if (ci->err.code || ci->n == 0 || !concat_open(ci, 0))
		return;
	iiter_seek_first(ci->child);
	concat_skip_forward(ci);
}

static void ci_seek_last(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	if (ci->err.code || ci->n == 0 || !concat_open(ci, ci->n - 1))
		return;
	iiter_seek_last(ci->child);
	concat_skip_backward(ci);
}

/* The first item whose last key is >= KEY, or n. */
static size_t concat_find(struct concat_iter *ci, const uint8_t *key,
			  size_t klen)
{
	size_t lo = 0, hi = ci->n, mid, len;
	const uint8_t *last;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		last = ci->key_last(ci->ctx, mid, &len);
		if (ci->cmp(last, len, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ci_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	struct concat_iter *ci = concat_of(it);
	size_t i;

	if (ci->err.code)
		return;
	i = concat_find(ci, key, klen);
	if (i == ci->n) {
		concat_drop(ci);
		return;
	}
	if (!concat_open(ci, i))
		return;
	iiter_seek(ci->child, key, klen);
	concat_skip_forward(ci);
}

static void ci_next(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	iiter_next(ci->child);
	concat_skip_forward(ci);
}

static void ci_prev(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	iiter_prev(ci->child);
	concat_skip_backward(ci);
}

static const uint8_t *ci_key(struct iiter *it, size_t *klen)
{
	return iiter_key(concat_of(it)->child, klen);
}

static const uint8_t *ci_value(struct iiter *it, size_t *vlen)
{
	return iiter_value(concat_of(it)->child, vlen);
}

static int ci_status(struct iiter *it, struct lsm_err *err)
{
	struct concat_iter *ci = concat_of(it);

	if (ci->err.code) {
		if (err)
			*err = ci->err;
		return ci->err.code;
	}
	return ci->child ? iiter_status(ci->child, err) : 0;
}

static void ci_free(struct iiter *it)
{
	struct concat_iter *ci = concat_of(it);

	iiter_free(ci->child);
	if (ci->free_ctx)
		ci->free_ctx(ci->ctx);
	free(ci);
}

static const struct iiter_ops concat_ops = {
	.valid = ci_valid,
	.seek_first = ci_seek_first,
	.seek_last = ci_seek_last,
	.seek = ci_seek,
	.next = ci_next,
	.prev = ci_prev,
	.key = ci_key,
	.value = ci_value,
	.status = ci_status,
	.free = ci_free,
};

struct iiter *iiter_concat(size_t n_items, void *ctx,
			   struct iiter *(*open)(void *ctx, size_t i,
						 struct lsm_err *err),
			   const uint8_t *(*key_last)(void *ctx, size_t i,
						      size_t *klen),
			   void (*free_ctx)(void *ctx), key_cmp_fn cmp)
{
	struct concat_iter *ci = malloc(sizeof(*ci));

	if (!ci)
		return NULL;
	ci->base.ops = &concat_ops;
	ci->n = n_items;
	ci->idx = n_items;
	ci->child = NULL;
	ci->ctx = ctx;
	ci->open = open;
	ci->key_last = key_last;
	ci->free_ctx = free_ctx;
	ci->cmp = cmp;
	ci->err.code = 0;
	ci->err.msg[0] = '\0';
	return &ci->base;
}
