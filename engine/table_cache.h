/* table_cache.h - a bounded cache of open tables (struct sst) keyed by file
 * number, on top of cache.h.  Thread-safe. */
#ifndef LSM_TABLE_CACHE_H
#define LSM_TABLE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cache.h"
#include "iter.h"
#include "lsm.h"
#include "lsm_io.h"
#include "stats.h"

struct table_cache;

/* Tables live in DIR as NNNNNN.sst (filename.h).  BLOCK_CACHE and ST may
 * be NULL; both must outlive the table cache. */
struct table_cache *table_cache_new(const struct lsm_io *io, const char *dir,
				    unsigned max_open, struct cache *block_cache,
				    struct stats *st);
void table_cache_free(struct table_cache *tc); /* accepts NULL */
/* MAP: tables opened from now on map their data blocks (sst_map; POSIX
 * I/O only, ignored otherwise), ZERO_COPY as sst_map's. */
void table_cache_set_map(struct table_cache *tc, bool map, bool zero_copy);

/* Each table opened from now on caches its blocks under an id of its
 * own, not its file number: a follower's store can be replaced by one
 * that reuses numbers for other contents, and no block of the old file
 * may ever be served for the new one (db_follow.c).  Blocks of a table
 * closed and opened again are not found again (a follower keeps its
 * tables open while any version names them). */
void table_cache_set_fresh_ids(struct table_cache *tc);

/* sst_get on table NUMBER, opening it if needed. */
int table_cache_get(struct table_cache *tc, uint64_t number,
		    const uint8_t *ikey, size_t iklen, struct buf *val,
		    struct lsm_err *err);

/* An iterator over table NUMBER that keeps the table open until freed.
 * NULL with *ERR set on failure. */
struct iiter *table_cache_iter(struct table_cache *tc, uint64_t number,
			       bool fill_cache, struct lsm_err *err);

/* table_cache_get, delivering the value to DST and taking the key's
 * HASH (sst_get_to), and
 * table_cache_iter, on the table of F, a file of a version the caller
 * holds a reference on until the call returns (the iterator: until it is
 * freed).  The first max_open / 2 tables read this
 * way keep their open handle in F until F is freed (F->pin), so that later
 * reads of them take no lock of the table cache (a lookup and a release
 * each); the others are read through the cache every time. */
struct file_meta;
struct sst_value;
int table_cache_get_fm(struct table_cache *tc, const struct file_meta *f,
		       const uint8_t *ikey, size_t iklen, uint32_t hash,
		       struct sst_value *dst, struct lsm_err *err);
struct iiter *table_cache_iter_fm(struct table_cache *tc,
				  const struct file_meta *f, bool fill_cache,
				  struct lsm_err *err);
/* Lets go of the handle a file_meta kept (file_meta_unref); the table
 * stays in the cache.  Accepts NULL. */
struct table_pin;
void table_pin_release(struct table_pin *p);
/* Tables kept open by file_meta pins. */
unsigned table_cache_pinned(struct table_cache *tc);

/* Forgets table NUMBER (its file is being deleted). */
void table_cache_evict(struct table_cache *tc, uint64_t number);
/* Opens table NUMBER into the cache (a follower keeps every table of its
 * versions open: the writer may unlink them at any time), and tells
 * which file that is (*ID, when not NULL; all zero if unknown).  0 or an
 * error; a table that is gone is -EUCLEAN (see find_table).
 *
 * NUMBER here and everywhere in this header is a cache key (fm_key in
 * version.h): the file number, with a follower's incarnation in the top
 * byte.  Blocks are cached under it too, unless fresh ids are on. */
struct file_id;
int table_cache_pin(struct table_cache *tc, uint64_t number,
		    struct file_id *id, struct lsm_err *err);

#endif /* LSM_TABLE_CACHE_H */
