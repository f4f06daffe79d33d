/* sst.h - immutable sorted tables (SSTables): build one from sorted internal
 * keys, then open it for point lookups and iteration.  Format in
 * engine/doc/table.md:
 *
 *   table   := data-block* | filter-block | props-block | index-block | footer
 *   a block on disk := contents | type (u8: 0 raw, 1 zlib) | crc32 (u32le)
 *                     (crc32 over contents and the type byte)
 *   data block: block.h format, keys are internal keys
 *   index block: block.h format, key = last internal key of data block i,
 *                value = handle of block i (varint64 offset | varint64 size)
 *   filter block: bloom.h filter over user keys (empty when disabled)
 *   props block: block.h format of named properties (text key -> value)
 *   footer (64 bytes) := filter handle | props handle | index handle
 *                        (each u64le offset | u64le size)
 *                        | version (u32le) | magic (u64le) | crc32 (u32le)
 *                        crc32 over the preceding 60 footer bytes
 * Handle sizes exclude the 5-byte block trailer.
 */
#ifndef LSM_SST_H
#define LSM_SST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "iter.h"
#include "lsm.h"
#include "lsm_io.h"
#include "stats.h"

#define SST_MAGIC UINT64_C(0x4c534d4653535431) /* "LSMFSST1" */
#define SST_VERSION 1
#define SST_FOOTER_BYTES 64
#define SST_BLOCK_TRAILER 5
/* A data block is cut once it reaches min(block_bytes, SST_BLOCK_CUT_MAX);
 * readers refuse blocks larger than SST_BLOCK_MAX_BYTES (raw or inflated):
 * one entry past the cut, at the largest key and value lsm.h allows. */
#define SST_BLOCK_CUT_MAX (16u << 20)
#define SST_BLOCK_MAX_BYTES                                                \
	(SST_BLOCK_CUT_MAX + LSM_MAX_VALUE_BYTES + 2 * LSM_MAX_KEY_BYTES + 64)

struct sst_options {
	size_t block_bytes;
	unsigned restart_interval;
	unsigned bloom_bits_per_key;
	enum lsm_compression compression;
	int zlib_level;
	bool bloom_flat; /* the filter encoding of older tables (for tests
			    that read them); false: cache-line blocked */
};

struct sst_builder;

/* Creates PATH.  On success *OUT owns a builder, ended by exactly one of
 * sst_builder_finish / sst_builder_abandon.  A table holds at least one
 * entry: finishing an empty builder fails with -EINVAL. */
int sst_builder_new(const struct lsm_io *io, const char *path,
		    const struct sst_options *o, struct sst_builder **out,
		    struct lsm_err *err);
/* IKEY must sort after every key added before.  Errors are sticky. */
int sst_builder_add(struct sst_builder *b, const uint8_t *ikey, size_t iklen,
		    const uint8_t *val, size_t vlen, struct lsm_err *err);
uint64_t sst_builder_entries(const struct sst_builder *b);
uint64_t sst_builder_deletions(const struct sst_builder *b);
/* Bytes the file would take if finished now (approximate). */
uint64_t sst_builder_size(const struct sst_builder *b);
/* First and last keys added (borrowed until finish/abandon). */
const uint8_t *sst_builder_smallest(const struct sst_builder *b, size_t *len);
const uint8_t *sst_builder_largest(const struct sst_builder *b, size_t *len);
/* Writes the remaining blocks and footer, fsyncs and closes the file and
 * frees B (also on error, when the file is unlinked).  *FILE_SIZE gets the
 * final size. */
int sst_builder_finish(struct sst_builder *b, uint64_t *file_size,
		       struct lsm_err *err);
void sst_builder_abandon(struct sst_builder *b); /* unlinks; accepts NULL */

struct sst;

struct sst_props {
	uint64_t entries, deletions;
	uint64_t raw_key_bytes, raw_value_bytes;
	uint64_t data_blocks, data_bytes; /* data bytes as stored */
	uint64_t file_size;
	uint64_t smallest_seq, largest_seq;
};

/* Opens table PATH, reading and checking footer, index, filter and props
 * (-EBADMSG on a checksum mismatch, -EUCLEAN on a malformed table, both
 * naming PATH).  Data blocks go through CACHE (may be NULL) keyed by
 * (ID, offset).  ST (may be NULL) receives bloom and block counters.
 * Thread-safe once open. */
int sst_open(const struct lsm_io *io, const char *path, uint64_t id,
	     struct cache *cache, struct stats *st, struct sst **out,
	     struct lsm_err *err);
/* Which file an open table is (the follower compares it with what the
 * path names now: a replaced store may reuse numbers); all zero if it
 * cannot be told. */
struct file_id;
void sst_file_id(const struct sst *t, struct file_id *id);
void sst_close(struct sst *t); /* accepts NULL */

/* Maps T's data blocks read-only (POSIX I/O only, else -EOPNOTSUPP).
 * From then on a block is read by copying it out of the mapping instead
 * of pread (no system call; checked as every read is, and cached as
 * before); a page that cannot be read fails the read with -EIO
 * (mapcopy.h).  With ZERO_COPY (lsm_options.mmap_reads) raw data blocks
 * are used in the mapping instead, without the block cache, and each
 * one's checksum is checked the first time it is used (not again while T
 * is open); a read error of the device under such a block kills the
 * process with SIGBUS.  On failure T keeps reading through pread. */
int sst_map(struct sst *t, bool zero_copy, struct lsm_err *err);

/* Looks up the newest version of IKEY's user key with sequence <= IKEY's
 * (IKEY is a seek key: user key + tag(seq, IKEY_TYPE_FOR_SEEK)).  Returns
 * LOOKUP_* (enum lookup, memtable.h) and on LOOKUP_FOUND puts the value in
 * VAL (cleared first) -- for an IKEY_VALUE_PTR entry the pointer's bytes,
 * as an iterator gives them -- or a negative error (-EUCLEAN for a
 * pointer longer than any). */
int sst_get(struct sst *t, const uint8_t *ikey, size_t iklen, struct buf *val,
	    struct lsm_err *err);

/* Where a point lookup delivers the value it finds: into BUF (replacing
 * its contents) when BUF is set, else its first CAP bytes to OUT, so that
 * a caller with its own buffer gets one copy.  LEN gets the full length. */
struct sst_value {
	struct buf *buf;
	void *out;
	size_t cap;
	size_t len;
	/* A lookup that finds a pointer (IKEY_VALUE_PTR) returns
	 * LOOKUP_FOUND with the pointer here, the value itself untouched:
	 * the caller follows it (vlog.h). */
	bool is_ptr;
	uint8_t ptr[32];
	size_t ptr_len;
	/* Set by a lookup that read one of the table's data blocks (its
	 * filter let the key through) and found no visible version there:
	 * a block read in vain, which read-triggered compaction counts
	 * (db_read.c).  Cleared by every lookup. */
	bool block_missed;
};

/* Delivers the N bytes at V to D: 0, or -ENOMEM (BUF could not grow). */
static inline int sst_value_put(struct sst_value *d, const void *v, size_t n)
{
	d->len = n;
	if (!d->buf) {
		if (n && d->cap)
			memcpy(d->out, v, n < d->cap ? n : d->cap);
		return 0;
	}
	buf_clear(d->buf);
	buf_append(d->buf, v, n);
	return buf_ok(d->buf) ? 0 : -ENOMEM;
}

/* sst_get delivering the value to DST.  HASH is bloom_hash of IKEY's
 * user key: a lookup that asks several tables hashes its key once. */
int sst_get_to(struct sst *t, const uint8_t *ikey, size_t iklen,
	       uint32_t hash, struct sst_value *dst, struct lsm_err *err);

/* bloom_hash of the user key of lookup key IKEY (0 when IKEY is too short
 * to have one: the lookup then fails with -EINVAL). */
uint32_t sst_key_hash(const uint8_t *ikey, size_t iklen);

/* An iterator over every entry.  T must outlive it; RELEASE(ARG) runs when
 * it is freed.  FILL_CACHE false reads blocks without caching them (for
 * compaction).  NULL on ENOMEM. */
struct iiter *sst_iter(struct sst *t, bool fill_cache,
		       void (*release)(void *arg), void *arg);
/* Iterators that read a table's mapping keep their block buffers for the
 * calling thread's next iterators (at most 32 KiB a thread, freed when
 * the thread exits).  This frees the calling thread's now (a closing
 * store's). */
void sst_iter_stash_trim(void);

const struct sst_props *sst_get_props(const struct sst *t);
/* Smallest and largest internal keys (borrowed for T's life). */
const uint8_t *sst_smallest(const struct sst *t, size_t *len);
const uint8_t *sst_largest(const struct sst *t, size_t *len);

/* Reads every block of T and checks its checksum and structure (keys in
 * order, index agrees with the data).  0 or the first error, naming the
 * file and offset.  For lsmfs-ctl check. */
int sst_verify(struct sst *t, struct lsm_err *err);

#endif /* LSM_SST_H */
