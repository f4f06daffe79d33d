/* sst_priv.h - what the table reader (sst_reader.c: opening, reading
 * blocks, point lookups) shares with the table iterator and verifier
 * (sst_iter.c).  Internal to those two files. */
#ifndef LSM_SST_PRIV_H
#define LSM_SST_PRIV_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "cache.h"
#include "iter.h"
#include "sst.h"

#define BLOCK_RAW 0
#define BLOCK_ZLIB 1
#define ZLIB_MAX_RATIO 1032 /* deflate's best case */

#define STAT(t, f, n)                                                      \
	do {                                                               \
		if ((t)->st)                                               \
			stat_add(&(t)->st->f, (n));                        \
	} while (0)

struct handle {
	uint64_t off, size; /* size excludes the trailer */
};

struct index_entry {
	struct handle h;
	size_t koff, klen;  /* last key of the block, in sst.keys */
};

struct sst {
	const struct lsm_io *io;
	char *path;
	int fd;
	uint64_t id;
	struct cache *cache;
	struct stats *st;
	struct sst_props props;
	struct handle meta[3];      /* filter, props, index */
	uint64_t data_end;          /* data blocks lie in [0, data_end) */
	struct index_entry *index;  /* one per data block */
	size_t nblocks;
	uint8_t *keys;              /* index keys, back to back */
	/* For sst_index_lower_bound: per index key, 8 bytes of its user key
	 * from ipfx_skip on (the bytes every index key of the table shares
	 * before that), big-endian and zero-padded; NULL when not built. */
	uint64_t *ipfx;
	size_t ipfx_skip;
	uint8_t *filter;
	size_t filter_len;
	uint8_t *smallest;
	size_t smallest_len;
	/* sst_map: the data blocks mapped read-only, [0, data_end).  Blocks
	 * are read by a guarded copy from it (map_copy) instead of pread;
	 * with MAP_STATE (zero copy, lsm_options.mmap_reads) they are used in
	 * place, and MAP_STATE says per data block whether its checksum was
	 * checked in the mapping (MAP_UNCHECKED, MAP_CHECKED; MAP_READ:
	 * compressed, read as usual). */
	const uint8_t *map;
	_Atomic uint8_t *map_state;
	/* A compressed data block was read: iterators take T's blocks
	 * through the cache (sst_load_block), not sst_load_block_spare. */
	atomic_bool zlib_seen;
};

enum { MAP_UNCHECKED = 0, MAP_CHECKED = 1, MAP_READ = 2 };

/* ikey_cmp for keys of unknown origin: keys shorter than a tag (only in a
 * damaged block) compare bytewise instead of being read out of bounds. */
static inline int sst_safe_ikey_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
			 size_t blen)
{
	if (alen < IKEY_TAG_BYTES || blen < IKEY_TAG_BYTES)
		return ukey_cmp(a, alen, b, blen);
	return ikey_cmp(a, alen, b, blen);
}

static inline int sst_bytewise_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen)
{
	return ukey_cmp(a, alen, b, blen);
}

/* ERR gets RC with E's message about T's block at OFF (what every
 * failure to parse or walk a data block reports); returns RC. */
static inline int sst_block_err(const struct sst *t, uint64_t off, int rc,
				const struct lsm_err *e, struct lsm_err *err)
{
	return lsm_err_set(err, rc, "%s: block at offset %llu: %s", t->path,
			   (unsigned long long)off, e->msg);
}

/* Whether IT is at a well-formed internal key (then in *K, *KLEN). */
static inline bool sst_at_ikey(struct iiter *it, const uint8_t **k, size_t *klen)
{
	if (!iiter_valid(it))
		return false;
	*k = iiter_key(it, klen);
	return ikey_valid(*k, *klen);
}

static inline const uint8_t *sst_index_key(const struct sst *t, size_t i, size_t *len)
{
	*len = t->index[i].klen;
	return t->keys + t->index[i].koff;
}

/* Gets data block I: from the cache, or read (and cached when FILL).  On
 * success *BP is the block and *HP its cache handle (NULL when uncached);
 * give both back with sst_unload_block. */
int sst_load_block(struct sst *t, size_t i, bool fill, struct block **bp,
		   struct cache_handle **hp, struct lsm_err *err);
void sst_unload_block(struct sst *t, struct block *b, struct cache_handle *h);
/* Gets data block I of mapped table T into the caller's *SPARE (a
 * block_alloc'ed block of *CAP bytes, or NULL; replaced by a larger one
 * when block I does not fit), bypassing the cache: a guarded copy out of
 * the mapping, its checksum checked, parsed.  0 with *SPARE block I; 1
 * when block I is not read this way (T is not mapped, or compressed
 * blocks were seen in it: use sst_load_block); or an error, with *SPARE
 * still the caller's to free and no block in it. */
int sst_load_block_spare(struct sst *t, size_t i, struct block **spare,
			 size_t *cap, struct lsm_err *err);
/* sst_load_block_spare's smallest buffer (a default block and its
 * trailer fit); only buffers of this size are kept for later iterators. */
#define SST_SPARE_MIN (8u << 10)
/* First block whose last key is >= KEY (nblocks when none). */
size_t sst_index_lower_bound(const struct sst *t, const uint8_t *key,
			     size_t klen);
/* Reads the block at H, checks its checksum and inflates it. */
int sst_read_block(struct sst *t, const struct handle *h, uint8_t **out,
		   size_t *len, struct lsm_err *err);
/* Reads and parses the block at H (not through the cache); copied out of
 * T's mapping when T is mapped and MAP is set. */
int sst_read_parsed(struct sst *t, const struct handle *h, bool map,
		    struct block **out, struct lsm_err *err);

#endif /* LSM_SST_PRIV_H */
