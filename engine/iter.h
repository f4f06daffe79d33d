/* iter.h - the internal iterator interface (a vtable) over sorted
 * (key, value) pairs, and the merging iterator that unites several.
 *
 * Internal iterators yield internal keys (ikey.h) in ikey_cmp order, every
 * version and tombstone included; db_iter.c turns them into the user view.
 * Keys/values are borrowed until the iterator moves or is freed.  An
 * iterator that meets an error becomes invalid and reports it by status. */
#ifndef LSM_ITER_H
#define LSM_ITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikey.h"
#include "lsm.h"

struct iiter;

struct iiter_ops {
	bool (*valid)(struct iiter *it);
	void (*seek_first)(struct iiter *it);
	void (*seek_last)(struct iiter *it);
	/* First entry with key >= KEY (in the iterator's order). */
	void (*seek)(struct iiter *it, const uint8_t *key, size_t klen);
	void (*next)(struct iiter *it);   /* requires valid */
	void (*prev)(struct iiter *it);   /* requires valid */
	const uint8_t *(*key)(struct iiter *it, size_t *klen);
	const uint8_t *(*value)(struct iiter *it, size_t *vlen);
	int (*status)(struct iiter *it, struct lsm_err *err);
	void (*free)(struct iiter *it);
};

/* Embed as the first member of each implementation. */
struct iiter {
	const struct iiter_ops *ops;
};

static inline bool iiter_valid(struct iiter *it) { return it->ops->valid(it); }
static inline void iiter_seek_first(struct iiter *it) { it->ops->seek_first(it); }
static inline void iiter_seek_last(struct iiter *it) { it->ops->seek_last(it); }
static inline void iiter_seek(struct iiter *it, const uint8_t *k, size_t n)
{
	it->ops->seek(it, k, n);
}
static inline void iiter_next(struct iiter *it) { it->ops->next(it); }
static inline void iiter_prev(struct iiter *it) { it->ops->prev(it); }
static inline const uint8_t *iiter_key(struct iiter *it, size_t *n)
{
	return it->ops->key(it, n);
}
static inline const uint8_t *iiter_value(struct iiter *it, size_t *n)
{
	return it->ops->value(it, n);
}
static inline int iiter_status(struct iiter *it, struct lsm_err *err)
{
	return it->ops->status(it, err);
}
static inline void iiter_free(struct iiter *it)
{
	if (it)
		it->ops->free(it);
}

/* An always-invalid iterator carrying status RC (0 for plain empty) and
 * message MSG; NULL on ENOMEM. */
struct iiter *iiter_error(int rc, const char *msg);

/* Merges N children (taking ownership of the array's iterators, not of the
 * array) under CMP.  Where two children hold equal keys, the one with the
 * lower index comes first.  Supports prev (direction switches re-seek the
 * other children).  NULL on ENOMEM (children are freed then too).  With
 * N == 1 the child itself is returned.  Status is the first child's
 * non-zero status; a child that turns invalid with an error makes the merge
 * invalid for good. */
struct iiter *iiter_merge(struct iiter **children, size_t n, key_cmp_fn cmp);

/* Concatenates N_ITEMS sorted, non-overlapping ranges (a level L1+) lazily:
 * OPEN(ctx, i) opens the iterator of item i (NULL and *ERR set on failure);
 * KEY_LAST(ctx, i) gives the largest key of item i.  Owns nothing of CTX
 * until FREE_CTX(ctx), called once when the iterator is freed.  NULL on
 * ENOMEM, and CTX then stays the caller's.  An open failure or a child
 * error makes the iterator invalid for good, reporting it by status. */
struct iiter *iiter_concat(size_t n_items, void *ctx,
			   struct iiter *(*open)(void *ctx, size_t i,
						 struct lsm_err *err),
			   const uint8_t *(*key_last)(void *ctx, size_t i,
						      size_t *klen),
			   void (*free_ctx)(void *ctx), key_cmp_fn cmp);

#endif /* LSM_ITER_H */
