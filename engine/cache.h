/* cache.h - a sharded LRU cache with a budget in "charge" units (bytes for
 * the block cache, one per table for the table cache).  Entries are keyed by
 * (id, off), reference counted through handles: an entry in use is never
 * freed, even when evicted or replaced; its deleter runs when the last
 * handle is released.  Thread-safe. */
#ifndef LSM_CACHE_H
#define LSM_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache;
struct cache_handle;

struct cache_stats {
	uint64_t hits, misses, inserts, evictions;
	uint64_t rejects;  /* misses cache_admit turned away */
	uint64_t usage;    /* charge of entries held (cached or in use) */
	uint64_t capacity;
	uint64_t entries;
};

/* CAPACITY 0 caches nothing (inserted values live while handles do). */
struct cache *cache_new(size_t capacity);
/* All handles must have been released.  Accepts NULL. */
void cache_free(struct cache *c);

/* A handle holding a reference, or NULL on a miss. */
struct cache_handle *cache_lookup(struct cache *c, uint64_t id, uint64_t off);

/* Inserts VALUE (replacing any entry with the same key) and returns a
 * handle on it.  DELETER(VALUE) runs when the entry is gone and unused.
 * NULL on ENOMEM, after DELETER(VALUE) ran. */
struct cache_handle *cache_insert(struct cache *c, uint64_t id, uint64_t off,
				  void *value, size_t charge,
				  void (*deleter)(void *value));

/* Admission, for callers that read a miss themselves before inserting:
 * true when the key (ID, OFF) already missed recently, so that it is worth
 * caching; otherwise it remembers the key and answers false (the caller
 * uses what it read and frees it).  A data set much larger than the cache,
 * read at random, then no longer churns the cache (every miss evicting
 * something to cache a block that will not be read again before it is
 * evicted in turn), while a block read again within about four cache
 * turnovers of misses gets in on its second read.  Lock-free: a
 * set-associative table of key hashes ("doorkeeper", as TinyLFU's). */
bool cache_admit(struct cache *c, uint64_t id, uint64_t off);

void *cache_value(const struct cache_handle *h);
void cache_release(struct cache *c, struct cache_handle *h); /* accepts NULL */
/* cache_release() of handle H (a struct cache_handle *) on the cache it
 * came from: a release callback that needs no other argument. */
void cache_unpin(void *h);
/* Drops the entry (it is freed when its last handle goes). */
void cache_erase(struct cache *c, uint64_t id, uint64_t off);
void cache_get_stats(struct cache *c, struct cache_stats *s);

#endif /* LSM_CACHE_H */
