/* table_cache.c - open tables kept in a cache.h cache keyed by (number, 0),
 * each charged 1 so that at most max_open stay open when unused.  Two
 * threads missing on the same table may both open it: both handles are
 * valid and the later insert replaces the earlier entry, which closes when
 * its last user lets go. */
#include "table_cache.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "filename.h"
#include "sst.h"
#include "version.h"

struct table_cache {
	const struct lsm_io *io;
	char *dir;
	struct cache *cache;
	struct cache *block_cache;
	struct stats *st;
	bool map;
	bool zero_copy;
	/* Block cache ids: the file number, or one of its own per open
	 * (table_cache_set_fresh_ids). */
	bool fresh_ids;
	_Atomic uint64_t next_id;
	/* Handles kept by file_metas (table_pin), at most pin_max: a store
	 * of more tables than that reads the rest through the cache, and
	 * open files stay bounded by max_open. */
	_Atomic unsigned pinned;
	unsigned pin_max;
};

struct table_pin {
	struct cache_handle *h;
	_Atomic unsigned *pinned;       /* the table cache's count */
};

struct table_cache *table_cache_new(const struct lsm_io *io, const char *dir,
				    unsigned max_open, struct cache *blocks,
				    struct stats *st)
{
	struct table_cache *tc = calloc(1, sizeof(*tc));

	if (!tc)
		return NULL;
	tc->io = io;
	tc->block_cache = blocks;
	tc->st = st;
	tc->dir = strdup(dir);
	tc->cache = cache_new(max_open);
	tc->pin_max = max_open / 2;
	if (!tc->dir || !tc->cache) {
		table_cache_free(tc);
		return NULL;
	}
	return tc;
}

void table_cache_set_map(struct table_cache *tc, bool map, bool zero_copy)
{
	tc->map = map && tc->io == lsm_io_posix();
	tc->zero_copy = zero_copy;
}

void table_cache_set_fresh_ids(struct table_cache *tc)
{
	tc->fresh_ids = true;
	atomic_store(&tc->next_id, UINT64_C(1) << 62); /* past any number */
}

void table_cache_free(struct table_cache *tc)
{
	if (!tc)
		return;
	cache_free(tc->cache);
	free(tc->dir);
	free(tc);
}

static void close_table(void *value)
{
	sst_close(value);
}

/* A handle on open table NUMBER, opening it on a miss. */
static int find_table(struct table_cache *tc, uint64_t number,
		      struct cache_handle **out, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct cache_handle *h;
	struct sst *t;
	int rc;

	h = cache_lookup(tc->cache, number, 0);
	if (h) {
		*out = h;
		return 0;
	}
	rc = filename_path(path, tc->dir, FILE_TABLE, number & FM_NUMBER_MASK);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: table %llu: path too long",
				   tc->dir,
				   (unsigned long long)(number & FM_NUMBER_MASK));
	rc = sst_open(tc->io, path, tc->fresh_ids ?
		      atomic_fetch_add(&tc->next_id, 1) : number,
		      tc->block_cache, tc->st, &t, err);
	/* Every table asked for here is named by a live version: one that
	 * cannot be found is damage, never "no such key" or a hole. */
	if (rc == -ENOENT || rc == -ENOTDIR)
		return lsm_err_set(err, -EUCLEAN, "%s: table listed in the "
				   "manifest is missing (run lsmfs-ctl check)",
				   path);
	if (rc < 0)
		return rc;
	if (tc->map) /* on failure the table reads through pread */
		(void)sst_map(t, tc->zero_copy, NULL);
	h = cache_insert(tc->cache, number, 0, t, 1, close_table);
	if (!h) /* cache_insert closed T through close_table */
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
	*out = h;
	return 0;
}

void table_pin_release(struct table_pin *p)
{
	if (!p)
		return;
	atomic_fetch_sub_explicit(p->pinned, 1, memory_order_relaxed);
	cache_unpin(p->h);
	free(p);
}

unsigned table_cache_pinned(struct table_cache *tc)
{
	return atomic_load_explicit(&tc->pinned, memory_order_relaxed);
}

/* Gives H to F as its pin when another table may be pinned and F has
 * none yet: true when H is F's now (the caller must not release it). */
static bool keep_pin(struct table_cache *tc, struct file_meta *f,
		     struct cache_handle *h)
{
	struct table_pin *p, *none = NULL;

	if (atomic_fetch_add_explicit(&tc->pinned, 1, memory_order_relaxed) >=
	    tc->pin_max)
		goto undo;
	p = malloc(sizeof(*p));
	if (!p)
		goto undo; /* read through the cache: nothing lost */
	p->h = h;
	p->pinned = &tc->pinned;
	if (atomic_compare_exchange_strong_explicit(&f->pin, &none, p,
						    memory_order_acq_rel,
						    memory_order_acquire))
		return true;
	free(p); /* another reader pinned it first */
undo:
	atomic_fetch_sub_explicit(&tc->pinned, 1, memory_order_relaxed);
	return false;
}

/* The open table NUMBER: *T, and in *H a handle to release after use, or
 * NULL when the pin of F (the table's file_meta, or NULL) holds the
 * table.  A table opened or found in the cache here becomes F's pin when
 * it may. */
static int open_table(struct table_cache *tc, uint64_t number,
		      const struct file_meta *cf, struct sst **t,
		      struct cache_handle **h, struct lsm_err *err)
{
	/* Only the atomic pin is written through this pointer. */
	struct file_meta *f = (struct file_meta *)cf;
	struct table_pin *p = f ? atomic_load_explicit(&f->pin,
						       memory_order_acquire)
				: NULL;
	int rc;

	*h = NULL;
	if (p) {
		*t = cache_value(p->h);
		return 0;
	}
	rc = find_table(tc, number, h, err);
	if (rc < 0)
		return rc;
	*t = cache_value(*h);
	if (f && keep_pin(tc, f, *h))
		*h = NULL;
	return 0;
}

static int get(struct table_cache *tc, uint64_t number,
	       const struct file_meta *f, const uint8_t *ikey, size_t iklen,
	       uint32_t hash, struct sst_value *dst, struct lsm_err *err)
{
	struct cache_handle *h;
	struct sst *t;
	int rc = open_table(tc, number, f, &t, &h, err);

	if (rc < 0)
		return rc;
	rc = sst_get_to(t, ikey, iklen, hash, dst, err);
	cache_release(tc->cache, h);
	return rc;
}

static struct iiter *iter(struct table_cache *tc, uint64_t number,
			  const struct file_meta *f, bool fill_cache,
			  struct lsm_err *err)
{
	struct cache_handle *h;
	struct iiter *it;
	struct sst *t;

	if (open_table(tc, number, f, &t, &h, err) < 0)
		return NULL;
	/* On failure sst_iter has released the handle already. */
	it = sst_iter(t, fill_cache, h ? cache_unpin : NULL, h);
	if (!it)
		lsm_err_set(err, -ENOMEM, "table %llu: out of memory",
			    (unsigned long long)number);
	return it;
}

int table_cache_get(struct table_cache *tc, uint64_t number,
		    const uint8_t *ikey, size_t iklen, struct buf *val,
		    struct lsm_err *err)
{
	struct sst_value dst = { .buf = val };

	return get(tc, number, NULL, ikey, iklen, sst_key_hash(ikey, iklen),
		   &dst, err);
}

int table_cache_get_fm(struct table_cache *tc, const struct file_meta *f,
		       const uint8_t *ikey, size_t iklen, uint32_t hash,
		       struct sst_value *dst, struct lsm_err *err)
{
	return get(tc, fm_key(f), f, ikey, iklen, hash, dst, err);
}

struct iiter *table_cache_iter(struct table_cache *tc, uint64_t number,
			       bool fill_cache, struct lsm_err *err)
{
	return iter(tc, number, NULL, fill_cache, err);
}

struct iiter *table_cache_iter_fm(struct table_cache *tc,
				  const struct file_meta *f, bool fill_cache,
				  struct lsm_err *err)
{
	return iter(tc, fm_key(f), f, fill_cache, err);
}

int table_cache_pin(struct table_cache *tc, uint64_t number,
		    struct file_id *id, struct lsm_err *err)
{
	struct cache_handle *h;
	int rc = find_table(tc, number, &h, err);

	if (rc == 0) {
		if (id)
			sst_file_id(cache_value(h), id);
		cache_release(tc->cache, h);
	}
	return rc;
}

void table_cache_evict(struct table_cache *tc, uint64_t number)
{
	cache_erase(tc->cache, number, 0);
}
