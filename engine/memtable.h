/* memtable.h - the in-memory sorted table of recent writes: a skiplist of
 * internal keys in an arena.  One writer at a time (the caller serializes
 * memtable_add); any number of readers run concurrently with it without
 * locks.  Reference counted: the db, iterators and flushes each hold a ref.
 */
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikey.h"
#include "iter.h"

/* Results of a point lookup (memtable_get, sst_get, ...). */
enum lookup {
	LOOKUP_MISSING = 0, /* no version of the key at or below the seq */
	LOOKUP_FOUND = 1,   /* a value */
	LOOKUP_DELETED = 2, /* a tombstone */
};

struct memtable;

/* A memtable expected to grow to about BYTES of entries
 * (memtable_data_bytes), which sizes its key filter (0: none; a larger
 * memtable is still right, its filter only less selective).  refs = 1;
 * NULL on ENOMEM. */
struct memtable *memtable_new(size_t bytes);
void memtable_ref(struct memtable *m);
void memtable_unref(struct memtable *m);     /* frees at 0; accepts NULL */

/* Inserts (KEY, SEQ, T) -> VAL.  0, -ENOMEM, or -EINVAL (a key or value of
 * 4 GiB or more, or SEQ > IKEY_MAX_SEQ).  Writers serialized. */
int memtable_add(struct memtable *m, uint64_t seq, enum ikey_type t,
		 const void *key, size_t klen, const void *val, size_t vlen);

/* memtable_add, noting that the value's bytes also lie at OFFSET in log
 * segment SEGMENT (0: nowhere known), for a flush to point there
 * (vlog.h).  Values of 2 GiB or more are -EINVAL. */
int memtable_add_at(struct memtable *m, uint64_t seq, enum ikey_type t,
		    const void *key, size_t klen, const void *val, size_t vlen,
		    uint64_t segment, uint64_t offset);

/* The newest version of KEY with sequence <= SEQ.  On LOOKUP_FOUND *VAL
 * borrows the value (valid while the caller holds a reference).  A key
 * the filter rules out costs no search. */
int memtable_get(struct memtable *m, const void *key, size_t klen,
		 uint64_t seq, const uint8_t **val, size_t *vlen);
/* memtable_get with HASH = bloom_hash(KEY, KLEN), for a lookup that asks
 * several memtables and tables and hashes its key once. */
int memtable_get_hashed(struct memtable *m, const void *key, size_t klen,
			uint32_t hash, uint64_t seq, const uint8_t **val,
			size_t *vlen);

/* false only when no version of KEY was ever added (the key filter); a
 * key whose memtable_add happened before the call is always true. */
bool memtable_may_contain(const struct memtable *m, const void *key,
			  size_t klen);

size_t memtable_bytes(const struct memtable *m);   /* memory in use */
uint64_t memtable_count(const struct memtable *m); /* entries */
uint64_t memtable_deletions(const struct memtable *m); /* of them deletes */
/* Bytes taken by entries (nodes, keys, values): what the memtable size
 * limit is measured against, independent of the arena's block size. */
size_t memtable_data_bytes(const struct memtable *m);

/* An iterator over every entry in internal-key order; holds a reference
 * on M until freed.  NULL on ENOMEM. */
struct iiter *memtable_iter(struct memtable *m);
/* Where the log holds the value of IT's (a memtable_iter's, valid)
 * entry: false when it was added without a place. */
bool memtable_iter_where(struct iiter *it, uint64_t *segment,
			 uint64_t *offset);

/* The process-wide pool of free arena blocks (memtable.c): LIMIT raises
 * its bound to BYTES (a db's memtable_bytes); TRIM frees what it holds. */
void memtable_pool_limit(size_t bytes);
void memtable_pool_trim(void);

#endif /* LSM_MEMTABLE_H */
