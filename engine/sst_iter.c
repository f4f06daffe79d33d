/* sst_iter.c - iterating over a table (a cursor over the index, then over
 * one data block at a time) and verifying a whole table for lsmfs-ctl
 * check.  Opening, block reads and point lookups are in sst_reader.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "block.h"
#include "bloom.h"
#include "coding.h"
#include "crc.h"
#include "memtable.h"
#include "sst.h"
#include "sst_priv.h"


/* ---- iteration: index position -> data block cursor ---- */

/* The spare blocks of freed iterators, kept per thread for the next ones
 * (sst_load_block_spare): a seek makes an iterator per table, and taking
 * a buffer each from the allocator was about 5% of a seek's profile
 * (1-3% of seekrandom's rate, README).  At most STASH_MAX buffers of
 * SST_SPARE_MIN bytes (32 KiB a thread; a larger one, grown for a large
 * block, is freed), freed when the thread exits. */
#define STASH_MAX 4

struct stash {
	unsigned n;
	struct block *b[STASH_MAX];
	size_t cap[STASH_MAX];
};

static pthread_key_t stash_key;
static pthread_once_t stash_once = PTHREAD_ONCE_INIT;
static bool stash_key_ok;
static _Thread_local struct stash *stash_tls;

static void stash_destroy(void *arg)
{
	struct stash *st = arg;

	for (unsigned i = 0; i < st->n; i++)
		block_free(st->b[i]);
	free(st);
	stash_tls = NULL;
}

static void stash_key_init(void)
{
	stash_key_ok = pthread_key_create(&stash_key, stash_destroy) == 0;
}

void sst_iter_stash_trim(void)
{
	struct stash *st = stash_tls;

	if (!st)
		return;
	pthread_setspecific(stash_key, NULL);
	stash_destroy(st);
}

static void stash_take(struct block **b, size_t *cap)
{
	struct stash *st = stash_tls;

	if (st && st->n) {
		st->n--;
		*b = st->b[st->n];
		*cap = st->cap[st->n];
	} else {
		*b = NULL;
		*cap = 0;
	}
}

static void stash_give(struct block *b, size_t cap)
{
	struct stash *st = stash_tls;

	if (!b)
		return;
	if (!st) {
		pthread_once(&stash_once, stash_key_init);
		st = stash_key_ok ? calloc(1, sizeof(*st)) : NULL;
		if (st && pthread_setspecific(stash_key, st) != 0) {
			free(st);
			st = NULL;
		}
		stash_tls = st;
	}
	if (!st || st->n == STASH_MAX || cap > SST_SPARE_MIN) {
		block_free(b);
		return;
	}
	st->b[st->n] = b;
	st->cap[st->n] = cap;
	st->n++;
}

struct sst_iter {
	struct iiter it;
	struct sst *t;
	bool fill_cache;
	void (*release)(void *arg);
	void *arg;
	size_t bi;            /* block of data, nblocks when none */
	struct block *blk;    /* block bi, or NULL */
	struct cache_handle *bh; /* its cache handle, NULL when we own it */
	struct block *spare;  /* ours (sst_load_block_spare); may be blk */
	size_t spare_cap;
	struct block_cursor c;   /* over blk; bound when blk is set */
	int status;           /* sticky */
	struct lsm_err err;
};

static void si_drop(struct sst_iter *si)
{
	if (si->blk && si->blk != si->spare)
		sst_unload_block(si->t, si->blk, si->bh);
	si->blk = NULL;
	si->bh = NULL;
	si->bi = si->t->nblocks;
}

static void si_fail(struct sst_iter *si, int rc)
{
	si->status = rc;
	si->err.code = rc;
	si_drop(si);
}

/* Points the cursor at block I (kept when it already is). */
static bool si_open_block(struct sst_iter *si, size_t i)
{
	struct cache_handle *h = NULL;
	struct block *b = NULL;
	int rc;

	if (si->blk && si->bi == i)
		return true;
	si_drop(si);
	/* Compactions (!fill_cache) read through pread and the cache. */
	rc = si->fill_cache ? sst_load_block_spare(si->t, i, &si->spare,
						   &si->spare_cap, &si->err)
			    : 1;
	if (rc == 0)
		b = si->spare;
	else if (rc == 1)
		rc = sst_load_block(si->t, i, si->fill_cache, &b, &h,
				    &si->err);
	if (rc < 0) {
		si_fail(si, rc);
		return false;
	}
	si->blk = b;
	si->bh = h;
	si->bi = i;
	block_cursor_rebind(&si->c, b);
	return true;
}

/* After a move: turns a block error or a malformed key into status. */
static bool si_check(struct sst_iter *si)
{
	struct lsm_err e; /* set before use: zeroing it costs every step */
	const uint8_t *k;
	size_t klen;
	int rc;

	if (block_cursor_valid(&si->c)) {
		k = block_cursor_key(&si->c, &klen);
		if (ikey_valid(k, klen))
			return true;
		rc = lsm_err_set(&e, -EUCLEAN, "malformed key");
	} else {
		rc = block_cursor_status(&si->c, &e);
		if (!rc)
			return false;
	}
	sst_block_err(si->t, si->t->index[si->bi].h.off, rc, &e, &si->err);
	si_fail(si, rc);
	return true;
}

static void si_skip_forward(struct sst_iter *si)
{
	while (si->blk && !si_check(si)) {
		if (si->bi + 1 >= si->t->nblocks) {
			si_drop(si);
			return;
		}
		if (si_open_block(si, si->bi + 1))
			block_cursor_seek_first(&si->c);
	}
}

static void si_skip_backward(struct sst_iter *si)
{
	while (si->blk && !si_check(si)) {
		if (si->bi == 0) {
			si_drop(si);
			return;
		}
		if (si_open_block(si, si->bi - 1))
			block_cursor_seek_last(&si->c);
	}
}

static bool si_valid(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	return !si->status && si->blk && block_cursor_valid(&si->c);
}

static void si_seek_first(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si->status && si_open_block(si, 0)) {
		block_cursor_seek_first(&si->c);
		si_skip_forward(si);
	}
}

static void si_seek_last(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si->status && si_open_block(si, si->t->nblocks - 1)) {
		block_cursor_seek_last(&si->c);
		si_skip_backward(si);
	}
}

static void si_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	struct sst_iter *si = (struct sst_iter *)it;
	size_t i;

	if (si->status)
		return;
	i = sst_index_lower_bound(si->t, key, klen);
	if (i == si->t->nblocks) {
		si_drop(si);
		return;
	}
	if (si_open_block(si, i)) {
		block_cursor_seek(&si->c, key, klen);
		si_skip_forward(si);
	}
}

static void si_next(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si_valid(it))
		return;
	block_cursor_next(&si->c);
	si_skip_forward(si);
}

static void si_prev(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si_valid(it))
		return;
	block_cursor_prev(&si->c);
	si_skip_backward(si);
}

static const uint8_t *si_key(struct iiter *it, size_t *klen)
{
	return block_cursor_key(&((struct sst_iter *)it)->c, klen);
}

static const uint8_t *si_value(struct iiter *it, size_t *vlen)
{
	return block_cursor_value(&((struct sst_iter *)it)->c, vlen);
}

static int si_status(struct iiter *it, struct lsm_err *err)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (si->status && err)
		*err = si->err;
	return si->status;
}

static void si_free(struct iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	si_drop(si);
	stash_give(si->spare, si->spare_cap);
	block_cursor_done(&si->c);
	if (si->release)
		si->release(si->arg);
	free(si);
}

static const struct iiter_ops sst_iter_ops = {
	.valid = si_valid,
	.seek_first = si_seek_first,
	.seek_last = si_seek_last,
	.seek = si_seek,
	.next = si_next,
	.prev = si_prev,
	.key = si_key,
	.value = si_value,
	.status = si_status,
	.free = si_free,
};

struct iiter *sst_iter(struct sst *t, bool fill_cache,
		       void (*release)(void *arg), void *arg)
{
	struct sst_iter *si = malloc(sizeof(*si));

	if (!si) {
		if (release)
			release(arg);
		return NULL;
	}
	/* Field by field: zeroing the whole error message costs more than
	 * the rest of a short scan. */
	si->it.ops = &sst_iter_ops;
	si->t = t;
	si->fill_cache = fill_cache;
	si->release = release;
	si->arg = arg;
	si->bi = t->nblocks;
	si->blk = NULL;
	si->bh = NULL;
	si->spare = NULL;
	si->spare_cap = 0;
	if (fill_cache)
		stash_take(&si->spare, &si->spare_cap);
	block_cursor_init(&si->c, NULL, sst_safe_ikey_cmp);
	si->status = 0;
	si->err.code = 0;
	si->err.msg[0] = '\0';
	return &si->it;
}

/* ---- verification ---- */

struct verify_state {
	struct buf prev;      /* the last key seen */
	uint64_t entries;
};

/* Checks every entry of block I, in order after vs->prev. */
static int verify_entries(struct sst *t, size_t i, struct iiter *it,
			  struct verify_state *vs, struct lsm_err *err)
{
	unsigned long long off = (unsigned long long)t->index[i].h.off;
	const uint8_t *k;
	size_t klen;
	struct lsm_err e;
	int rc;

	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		k = iiter_key(it, &klen);
		if (!ikey_valid(k, klen))
			return lsm_err_set(err, -EUCLEAN, "%s: block at offset "
					   "%llu: malformed key", t->path, off);
		if (vs->prev.len && ikey_cmp(vs->prev.p, vs->prev.len, k,
					     klen) >= 0)
			return lsm_err_set(err, -EUCLEAN, "%s: block at offset "
					   "%llu: keys out of order", t->path,
					   off);
		if (t->filter_len &&
		    !bloom_may_contain(t->filter, t->filter_len,
				       bloom_hash(k, ikey_ulen(klen))))
			return lsm_err_set(err, -EUCLEAN, "%s: filter misses "
					   "a key of block at offset %llu",
					   t->path, off);
		buf_clear(&vs->prev);
		buf_append(&vs->prev, k, klen);
		if (!buf_ok(&vs->prev))
			return lsm_err_set(err, -ENOMEM, "%s: out of memory",
					   t->path);
		vs->entries++;
	}
	rc = iiter_status(it, &e);
	if (rc < 0)
		return sst_block_err(t, off, rc, &e, err);
	return 0;
}

static int verify_block(struct sst *t, size_t i, struct verify_state *vs,
			struct lsm_err *err)
{
	uint64_t before = vs->entries;
	struct block *b;
	struct iiter *it;
	const uint8_t *ik;
	size_t iklen;
	struct lsm_err e;
	int rc = sst_read_parsed(t, &t->index[i].h, false, &b, err);

	if (rc < 0)
		return rc;
	if (block_check(b, &e) < 0) {
		block_free(b);
		return lsm_err_set(err, -EUCLEAN, "%s: block at offset %llu: "
				   "%s", t->path,
				   (unsigned long long)t->index[i].h.off,
				   e.msg);
	}
	it = block_iter(b, sst_safe_ikey_cmp, NULL, NULL);
	rc = it ? verify_entries(t, i, it, vs, err)
		: lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	iiter_free(it);
	block_free(b);
	if (rc < 0)
		return rc;
	ik = sst_index_key(t, i, &iklen);
	if (vs->entries == before ||
	    ukey_cmp(ik, iklen, vs->prev.p, vs->prev.len))
		return lsm_err_set(err, -EUCLEAN, "%s: index entry %zu does "
				   "not match block at offset %llu", t->path,
				   i, (unsigned long long)t->index[i].h.off);
	return 0;
}

static int verify_meta(struct sst *t, struct lsm_err *err)
{
	uint8_t *data;
	size_t len;
	int rc;

	for (int i = 0; i < 3; i++) {
		rc = sst_read_block(t, &t->meta[i], &data, &len, err);
		if (rc < 0)
			return rc;
		free(data);
	}
	return 0;
}

int sst_verify(struct sst *t, struct lsm_err *err)
{
	struct verify_state vs = { BUF_INIT, 0 };
	int rc = verify_meta(t, err);

	for (size_t i = 0; !rc && i < t->nblocks; i++)
		rc = verify_block(t, i, &vs, err);
	buf_free(&vs.prev);
	if (rc < 0)
		return rc;
	if (vs.entries != t->props.entries ||
	    t->nblocks != t->props.data_blocks)
		return lsm_err_set(err, -EUCLEAN, "%s: props say %llu entries "
				   "in %llu blocks, found %llu in %zu",
				   t->path,
				   (unsigned long long)t->props.entries,
				   (unsigned long long)t->props.data_blocks,
				   (unsigned long long)vs.entries, t->nblocks);
	return 0;
}
