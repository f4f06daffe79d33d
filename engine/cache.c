/* cache.c - a sharded LRU cache of reference-counted entries.
 *
 * Keys hash to one of CACHE_SHARDS shards, each with its own mutex, chained
 * hash table and LRU list.  An entry is "cached" while it sits in its
 * shard's table; the LRU list holds exactly the cached entries that no
 * handle references, oldest first, and eviction takes from its head.  An
 * entry leaves memory (its deleter runs, outside the lock) once it is
 * neither cached nor referenced.  Usage counts every entry not yet freed,
 * including erased or replaced ones still in use, so the budget tracks the
 * memory actually held.  Each shard gets ceil(capacity / 16): a small
 * table cache (max_open < 16) still keeps a table per shard.
 *
 * Beside the shards, a doorkeeper for cache_admit: a table of 32-bit key
 * hashes, four slots per block the budget holds (counting CACHE_UNIT_GUESS
 * bytes a block), so a key is remembered across about four cache turnovers
 * of misses.  It is 4-way set-associative: direct-mapped, two keys read in
 * turn that shared a slot would push each other out forever (a scan
 * repeated over them never caching either). */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define CACHE_SHARD_BITS 4
#define CACHE_SHARDS (1u << CACHE_SHARD_BITS)
#define CACHE_MIN_BUCKETS 16
#define CACHE_UNIT_GUESS 4096u  /* a block's charge, to size the doorkeeper */
#define DOOR_MIN_SLOTS 1024u
#define DOOR_WAYS 4u  /* a key may sit in any of its set's 4 slots */
#define DOOR_MAX_SLOTS (1u << 22)

struct cache_handle {
	uint64_t id, off;
	uint64_t hash;
	struct cache *cache;               /* the owner, for cache_unpin */
	void *value;
	size_t charge;
	void (*deleter)(void *value);
	unsigned refs;                     /* handles; shard lock */
	bool cached;                       /* in the table; shard lock */
	struct cache_handle *chain;        /* hash chain, or free list */
	struct cache_handle *prev, *next;  /* LRU list when unreferenced */
};

struct shard {
	pthread_mutex_t mu;
	size_t capacity;
	size_t usage;                      /* charge of entries not freed */
	struct cache_handle **buckets;
	size_t nbuckets;                   /* a power of two */
	size_t count;                      /* cached entries */
	struct cache_handle lru;           /* sentinel: next is the oldest */
	uint64_t hits, misses, inserts, evictions;
};

struct cache {
	size_t capacity;
	struct shard shards[CACHE_SHARDS];
	_Atomic uint32_t *door;            /* cache_admit's key hashes */
	size_t ndoor;                      /* a power of two */
	_Atomic uint64_t rejects;
};

static uint64_t cache_hash(uint64_t id, uint64_t off)
{
	uint64_t h = id * UINT64_C(0x9e3779b97f4a7c15) ^ off;

	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static struct shard *shard_of(struct cache *c, uint64_t hash)
{
	return &c->shards[hash >> (64 - CACHE_SHARD_BITS)];
}

struct cache *cache_new(size_t capacity)
{
	struct cache *c = calloc(1, sizeof(*c));
	unsigned i;

	if (!c)
		return NULL;
	c->capacity = capacity;
	c->ndoor = DOOR_MIN_SLOTS;
	while (c->ndoor < DOOR_MAX_SLOTS &&
	       c->ndoor < capacity / CACHE_UNIT_GUESS * 4)
		c->ndoor *= 2;
	c->door = calloc(c->ndoor, sizeof(*c->door));
	if (!c->door) {
		free(c);
		return NULL;
	}
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];

		s->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*s->buckets));
		if (!s->buckets || pthread_mutex_init(&s->mu, NULL) != 0) {
			free(s->buckets);
			goto fail;
		}
		s->nbuckets = CACHE_MIN_BUCKETS;
		s->capacity = capacity / CACHE_SHARDS +
			      (capacity % CACHE_SHARDS != 0);
		s->lru.prev = s->lru.next = &s->lru;
	}
	return c;
fail:
	while (i-- > 0) {
		pthread_mutex_destroy(&c->shards[i].mu);
		free(c->shards[i].buckets);
	}
	free(c->door);
	free(c);
	return NULL;
}

static void lru_remove(struct cache_handle *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_append(struct shard *s, struct cache_handle *e)
{
	e->next = &s->lru;
	e->prev = s->lru.prev;
	e->prev->next = e;
	s->lru.prev = e;
}

/* The slot holding the entry with this key, or the empty slot at the end
 * of its chain. */
static struct cache_handle **table_find(struct shard *s, uint64_t hash,
					uint64_t id, uint64_t off)
{
	struct cache_handle **pp = &s->buckets[hash & (s->nbuckets - 1)];

	while (*pp && ((*pp)->id != id || (*pp)->off != off))
		pp = &(*pp)->chain;
	return pp;
}

/* Doubles the table when it is fuller than one entry per bucket.  Failure
 * to grow only makes chains longer. */
static void table_grow(struct shard *s)
{
	size_t n = s->nbuckets * 2, i;
	struct cache_handle **b;

	if (s->count <= s->nbuckets || n > SIZE_MAX / sizeof(*b))
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		struct cache_handle *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Takes E out of the table.  When unreferenced it moves to *DEAD, to be
 * freed by the caller once the lock is dropped. */
static void detach(struct shard *s, struct cache_handle **slot,
		   struct cache_handle **dead)
{
	struct cache_handle *e = *slot;

	*slot = e->chain;
	e->chain = NULL;
	e->cached = false;
	s->count--;
	if (e->refs == 0) {
		lru_remove(e);
		s->usage -= e->charge;
		e->chain = *dead;
		*dead = e;
	}
}

/* Evicts unreferenced entries, oldest first, while over capacity. */
static void shard_evict(struct shard *s, struct cache_handle **dead)
{
	while (s->usage > s->capacity && s->lru.next != &s->lru) {
		struct cache_handle *e = s->lru.next;

		detach(s, table_find(s, e->hash, e->id, e->off), dead);
		s->evictions++;
	}
}

static void free_entries(struct cache_handle *e)
{
	struct cache_handle *next;

	for (; e; e = next) {
		next = e->chain;
		if (e->deleter)
			e->deleter(e->value);
		free(e);
	}
}

void cache_free(struct cache *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];
		struct cache_handle *dead = NULL;
		size_t b;

		for (b = 0; b < s->nbuckets; b++)
			while (s->buckets[b])
				detach(s, &s->buckets[b], &dead);
		free_entries(dead);
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	free(c->door);
	free(c);
}

bool cache_admit(struct cache *c, uint64_t id, uint64_t off)
{
	static _Thread_local unsigned turn; /* which way a miss replaces */
	uint64_t hash = cache_hash(id, off);
	/* the set from the low bits, the tag from the high ones; a tag of 0
	 * marks an empty way, so it is never stored */
	_Atomic uint32_t *set = &c->door[(hash & (c->ndoor / DOOR_WAYS - 1)) *
					 DOOR_WAYS];
	uint32_t tag = (uint32_t)(hash >> 32) | 1u;
	unsigned way = DOOR_WAYS;

	for (unsigned i = 0; i < DOOR_WAYS; i++) {
		uint32_t t = atomic_load_explicit(&set[i],
						  memory_order_relaxed);

		if (t == tag) {
			atomic_store_explicit(&set[i], 0,
					      memory_order_relaxed);
			return true;
		}
		if (t == 0 && way == DOOR_WAYS)
			way = i;
	}
	if (way == DOOR_WAYS) /* full: one of them, in turn */
		way = turn++ % DOOR_WAYS;
	atomic_store_explicit(&set[way], tag, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->rejects, 1, memory_order_relaxed);
	return false;
}

struct cache_handle *cache_lookup(struct cache *c, uint64_t id, uint64_t off)
{
	uint64_t hash = cache_hash(id, off);
	struct shard *s = shard_of(c, hash);
	struct cache_handle *e;

	pthread_mutex_lock(&s->mu);
	e = *table_find(s, hash, id, off);
	if (e) {
		if (e->refs++ == 0)
			lru_remove(e);
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

static struct cache_handle *entry_new(struct cache *c, uint64_t id,
				      uint64_t off, void *value,
				      size_t charge,
				      void (*deleter)(void *value))
{
	struct cache_handle *e = malloc(sizeof(*e));

	if (!e)
		return NULL;
	*e = (struct cache_handle){
		.id = id,
		.off = off,
		.hash = cache_hash(id, off),
		.cache = c,
		.value = value,
		.charge = charge,
		.deleter = deleter,
		.refs = 1,
	};
	return e;
}

struct cache_handle *cache_insert(struct cache *c, uint64_t id, uint64_t off,
				  void *value, size_t charge,
				  void (*deleter)(void *value))
{
	struct cache_handle *e = entry_new(c, id, off, value, charge, deleter);
	struct cache_handle *dead = NULL, **slot;
	struct shard *s;

	if (!e) {
		if (deleter)
			deleter(value);
		return NULL;
	}
	s = shard_of(c, e->hash);
	pthread_mutex_lock(&s->mu);
	s->inserts++;
	s->usage += charge;
	slot = table_find(s, e->hash, id, off);
	if (*slot)
		detach(s, slot, &dead);
	if (s->capacity > 0) {
		e->cached = true;
		e->chain = s->buckets[e->hash & (s->nbuckets - 1)];
		s->buckets[e->hash & (s->nbuckets - 1)] = e;
		s->count++;
		table_grow(s);
	}
	shard_evict(s, &dead);
	pthread_mutex_unlock(&s->mu);
	free_entries(dead);
	return e;
}

void *cache_value(const struct cache_handle *h)
{
	return h->value;
}

void cache_release(struct cache *c, struct cache_handle *h)
{
	struct shard *s;
	struct cache_handle *dead = NULL;

	if (!h)
		return;
	s = shard_of(c, h->hash);
	pthread_mutex_lock(&s->mu);
	if (--h->refs == 0) {
		if (h->cached) {
			lru_append(s, h);
			shard_evict(s, &dead);
		} else {
			s->usage -= h->charge;
			dead = h;
		}
	}
	pthread_mutex_unlock(&s->mu);
	free_entries(dead);
}

void cache_unpin(void *h)
{
	if (h)
		cache_release(((struct cache_handle *)h)->cache, h);
}

void cache_erase(struct cache *c, uint64_t id, uint64_t off)
{
	uint64_t hash = cache_hash(id, off);
	struct shard *s = shard_of(c, hash);
	struct cache_handle *dead = NULL, **slot;

	pthread_mutex_lock(&s->mu);
	slot = table_find(s, hash, id, off);
	if (*slot)
		detach(s, slot, &dead);
	pthread_mutex_unlock(&s->mu);
	free_entries(dead);
}

void cache_get_stats(struct cache *c, struct cache_stats *st)
{
	unsigned i;

	*st = (struct cache_stats){
		.capacity = c->capacity,
		.rejects = atomic_load_explicit(&c->rejects,
						memory_order_relaxed),
	};
	for (i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->shards[i];

		pthread_mutex_lock(&s->mu);
		st->hits += s->hits;
		st->misses += s->misses;
		st->inserts += s->inserts;
		st->evictions += s->evictions;
		st->usage += s->usage;
		st->entries += s->count;
		pthread_mutex_unlock(&s->mu);
	}
}
