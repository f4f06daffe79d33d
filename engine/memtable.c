/* memtable.c - the memtable: a skiplist of internal keys whose nodes live in
 * an arena that is freed all at once.  The single writer links a node bottom
 * up with release stores; readers walk with acquire loads and take no lock.
 * Nothing is ever unlinked, so a reader never meets a freed node. */
#include "memtable.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"

#define MT_MAX_HEIGHT 12
#define MT_BRANCH 4                  /* 1 in MT_BRANCH nodes grows a level */
/* Entries are packed into blocks of this size (those over a quarter of it
 * get a block of their own): a memtable of file chunks (16 KiB and more)
 * is a few large allocations, not one per entry, and a block is large
 * enough that a daemon with a fixed mmap threshold maps and unmaps it on
 * its own instead of fragmenting the heap (fs/mem.c). */
#define ARENA_BLOCK (1024 * 1024)
#define ARENA_ALIGN sizeof(void *)

/* A node and its entry, contiguous in the arena:
 *   node = key-ptr klen vlen next[height] ikey[klen] value[vlen] [where]
 * where WHERE (present when vlen has VLEN_WHERE set) is the log segment and
 * offset holding the value's bytes (u64le each; memtable_add_at).
 * where ikey is the user key + 8-byte tag (ikey.h).  KEY points just past
 * next[height], so the height need not be stored. */
#define VLEN_WHERE 0x80000000u
#define WHERE_BYTES 16

struct mt_node {
	const uint8_t *key;
	uint32_t klen;                  /* internal key length */
	uint32_t vlen;                  /* | VLEN_WHERE */
	_Atomic(struct mt_node *) next[]; /* next[0] is the full list */
};

struct arena_block {
	struct arena_block *next;
	size_t size;                    /* of the data (keeps it 16-aligned) */
};

/* Free blocks of ARENA_BLOCK bytes kept for the next memtable: a memtable
 * of 64 MiB that was flushed gives its blocks to the one filling, instead
 * of unmapping them while the next maps as many new ones, each page of
 * which the kernel faults in and zeroes (it was a fifth of a streaming
 * write's CPU).  The pool holds at most the largest memtable_bytes an open
 * db asked for (memtable_pool_limit) and is emptied when a db goes idle
 * (memtable_pool_trim): what it costs is resident memory while writing. */
static struct {
	pthread_mutex_t mu;
	struct arena_block *free;
	size_t n, max;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

void memtable_pool_limit(size_t bytes)
{
	pthread_mutex_lock(&pool.mu);
	if (bytes / ARENA_BLOCK > pool.max)
		pool.max = bytes / ARENA_BLOCK;
	pthread_mutex_unlock(&pool.mu);
}

void memtable_pool_trim(void)
{
	struct arena_block *b, *next;

	pthread_mutex_lock(&pool.mu);
	b = pool.free;
	pool.free = NULL;
	pool.n = 0;
	pthread_mutex_unlock(&pool.mu);
	for (; b; b = next) {
		next = b->next;
		free(b);
	}
}

static struct arena_block *pool_get(void)
{
	struct arena_block *b;

	pthread_mutex_lock(&pool.mu);
	b = pool.free;
	if (b) {
		pool.free = b->next;
		pool.n--;
	}
	pthread_mutex_unlock(&pool.mu);
	return b;
}

/* Keeps B if it is a whole block and there is room; false: free it. */
static bool pool_put(struct arena_block *b)
{
	bool kept = false;

	if (b->size != ARENA_BLOCK)
		return false;
	pthread_mutex_lock(&pool.mu);
	if (pool.n < pool.max) {
		b->next = pool.free;
		pool.free = b;
		pool.n++;
		kept = true;
	}
	pthread_mutex_unlock(&pool.mu);
	return kept;
}

/* Written only by the writer; bytes is read by anyone. */
struct arena {
	uint8_t *ptr;                   /* free space in the current block */
	size_t left;
	struct arena_block *blocks;     /* every block, newest first */
	atomic_size_t bytes;            /* malloc'ed so far, headers included */
	atomic_size_t used;             /* handed out to entries */
};

struct memtable {
	struct mt_node *head;           /* MT_MAX_HEIGHT links, no entry */
	atomic_int max_height;          /* levels in use, >= 1 */
	atomic_int refs;
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t deletions; /* entries of type IKEY_DELETE */
	uint64_t rnd;                   /* height generator state; writer only */
	struct mt_node *tail[MT_MAX_HEIGHT]; /* last node per level; writer */
	/* The node inserted last (NULL before the first) and, per level, the
	 * node a key just after it links behind: a batch of keys in order
	 * (a file's chunks) inserts each next to the one before (writer).
	 * IN_RUN: the last node went right after the one before it; only
	 * then is the next key tried there, so that random inserts do not
	 * pay for a look at the last node's successor (a cache miss). */
	struct mt_node *last;
	struct mt_node *after_last[MT_MAX_HEIGHT];
	bool in_run;
	struct arena arena;
	struct bloom_live filter;       /* user keys of every entry */
};

/* The key filter: a lookup of a key the memtable does not hold (most
 * lookups: the memtable holds the newest few MiB of the store) costs one
 * cache line instead of a descent through the skiplist, a dependent cache
 * miss a level.  One filter byte per MT_FILTER_RATIO bytes of the size
 * the memtable is expected to reach: about 10 bits a key for the smallest
 * entries (a 16-byte key, a few bytes of value), more for larger ones.  A
 * memtable that outgrows it (a read-only open replays the whole log into
 * one) only sees more false positives. */
#define MT_FILTER_RATIO 64
#define MT_FILTER_MAX (16u << 20)

/* The target of a search: a user key and a tag, compared as an ikey. */
struct mt_target {
	const uint8_t *ukey;
	size_t ulen;
	uint64_t tag;
};

static uint8_t *arena_new_block(struct arena *a, size_t size)
{
	struct arena_block *b = size == ARENA_BLOCK ? pool_get() : NULL;

	if (!b)
		b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->size = size;
	b->next = a->blocks;
	a->blocks = b;
	atomic_fetch_add_explicit(&a->bytes, sizeof(*b) + size,
				  memory_order_relaxed);
	return (uint8_t *)(b + 1);
}

/* N bytes aligned to ARENA_ALIGN, or NULL on ENOMEM.  Entries over a
 * quarter block get their own block so that little space is wasted. */
static void *arena_alloc(struct arena *a, size_t n)
{
	uint8_t *p;

	if (n > SIZE_MAX - ARENA_ALIGN - sizeof(struct arena_block))
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	atomic_fetch_add_explicit(&a->used, n, memory_order_relaxed);
	if (n > ARENA_BLOCK / 4)
		return arena_new_block(a, n);
	if (n > a->left) {
		p = arena_new_block(a, ARENA_BLOCK);
		if (!p)
			return NULL;
		a->ptr = p;
		a->left = ARENA_BLOCK;
	}
	p = a->ptr;
	a->ptr += n;
	a->left -= n;
	return p;
}

static void arena_free(struct arena *a)
{
	struct arena_block *b = a->blocks, *next;

	for (; b; b = next) {
		next = b->next;
		if (!pool_put(b))
			free(b);
	}
	a->blocks = NULL;
}

static struct mt_node *node_next(struct mt_node *n, int level)
{
	return atomic_load_explicit(&n->next[level], memory_order_acquire);
}

/* Allocates a node of HEIGHT levels with room for the entry (unlinked). */
static struct mt_node *node_new(struct memtable *m, int height, size_t klen,
				size_t vlen)
{
	size_t links = (size_t)height * sizeof(struct mt_node *);
	struct mt_node *n;

	n = arena_alloc(&m->arena, sizeof(*n) + links + klen + vlen);
	if (!n)
		return NULL;
	n->key = (const uint8_t *)n + sizeof(*n) + links;
	n->klen = (uint32_t)klen;
	n->vlen = (uint32_t)vlen;
	for (int i = 0; i < height; i++)
		atomic_init(&n->next[i], NULL);
	return n;
}

static int node_cmp(const struct mt_node *n, const struct mt_target *t)
{
	int r = ukey_cmp(n->key, ikey_ulen(n->klen), t->ukey, t->ulen);
	uint64_t tag;

	if (r)
		return r;
	tag = ikey_tag(n->key, n->klen);
	return tag > t->tag ? -1 : tag < t->tag ? 1 : 0;
}

/* The first node >= T, or NULL.  When PREV is non-NULL, fills
 * prev[0..max_height) with the last node < T at each level.  A node found
 * >= T at one level is often the next one a level down: it is not
 * compared again. */
static struct mt_node *find_ge(struct memtable *m, const struct mt_target *t,
			       struct mt_node **prev)
{
	struct mt_node *x = m->head, *nx, *ge = NULL;
	int level = atomic_load_explicit(&m->max_height,
					 memory_order_acquire) - 1;

	for (;;) {
		nx = node_next(x, level);
		if (nx && nx != ge && node_cmp(nx, t) < 0) {
			x = nx;
			continue;
		}
		ge = nx;
		if (prev)
			prev[level] = x;
		if (level == 0)
			return nx;
		level--;
	}
}

/* The last node < T, or NULL. */
static struct mt_node *find_lt(struct memtable *m, const struct mt_target *t)
{
	struct mt_node *x = m->head, *nx;
	int level = atomic_load_explicit(&m->max_height,
					 memory_order_acquire) - 1;

	for (;;) {
		nx = node_next(x, level);
		if (nx && node_cmp(nx, t) < 0) {
			x = nx;
			continue;
		}
		if (level == 0)
			return x == m->head ? NULL : x;
		level--;
	}
}

static struct mt_node *find_last(struct memtable *m)
{
	struct mt_node *x = m->head, *nx;
	int level = atomic_load_explicit(&m->max_height,
					 memory_order_acquire) - 1;

	for (;;) {
		nx = node_next(x, level);
		if (nx) {
			x = nx;
			continue;
		}
		if (level == 0)
			return x == m->head ? NULL : x;
		level--;
	}
}

struct memtable *memtable_new(size_t bytes)
{
	struct memtable *m = calloc(1, sizeof(*m));
	size_t fbytes = bytes / MT_FILTER_RATIO;

	if (!m)
		return NULL;
	if (bloom_live_init(&m->filter, fbytes < MT_FILTER_MAX ?
					fbytes : MT_FILTER_MAX) < 0) {
		free(m);
		return NULL;
	}
	atomic_init(&m->arena.bytes, 0);
	atomic_init(&m->arena.used, 0);
	atomic_init(&m->max_height, 1);
	atomic_init(&m->refs, 1);
	atomic_init(&m->count, 0);
	atomic_init(&m->deletions, 0);
	m->rnd = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)m;
	m->head = node_new(m, MT_MAX_HEIGHT, 0, 0);
	if (!m->head) {
		bloom_live_free(&m->filter);
		free(m);
		return NULL;
	}
	for (int i = 0; i < MT_MAX_HEIGHT; i++)
		m->tail[i] = m->head;
	return m;
}

void memtable_ref(struct memtable *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void memtable_unref(struct memtable *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	arena_free(&m->arena);
	bloom_live_free(&m->filter);
	free(m);
}

/* 1 + the number of successes of 1-in-MT_BRANCH trials (xorshift64). */
static int random_height(struct memtable *m)
{
	int h = 1;

	for (;;) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 7;
		m->rnd ^= m->rnd << 17;
		if (h >= MT_MAX_HEIGHT || (m->rnd >> 32) % MT_BRANCH)
			return h;
		h++;
	}
}

/* Links N (of HEIGHT levels) after PREV[i] at every level, bottom up, so a
 * reader that finds N at level i also finds it at every level below. */
static void link_node(struct memtable *m, struct mt_node *n, int height,
		      struct mt_node **prev)
{
	int max = atomic_load_explicit(&m->max_height, memory_order_relaxed);

	if (height > max) {
		for (int i = max; i < height; i++)
			prev[i] = m->head;
		atomic_store_explicit(&m->max_height, height,
				      memory_order_release);
	}
	for (int i = 0; i < height; i++) {
		struct mt_node *nx = atomic_load_explicit(
			&prev[i]->next[i], memory_order_relaxed);

		atomic_store_explicit(&n->next[i], nx, memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], n,
				      memory_order_release);
	}
}

/* Fills PREV as find_ge would when T sorts after every entry, which is
 * what sequential inserts do: one comparison instead of a search. */
static bool prev_at_tail(struct memtable *m, const struct mt_target *t,
			 struct mt_node **prev)
{
	int max = atomic_load_explicit(&m->max_height, memory_order_relaxed);

	if (m->tail[0] == m->head || node_cmp(m->tail[0], t) >= 0)
		return false;
	for (int i = 0; i < max; i++)
		prev[i] = m->tail[i];
	return true;
}

/* Fills PREV as find_ge would when T sorts right after the node inserted
 * last: two comparisons instead of a search.  The node before T at a
 * level is the last node there, or the one that preceded it at a level
 * it does not reach; no node was linked after it since, so the next node
 * at every level is at or after its successor, which sorts after T. */
static bool prev_after_last(struct memtable *m, const struct mt_target *t,
			    struct mt_node **prev)
{
	int max = atomic_load_explicit(&m->max_height, memory_order_relaxed);
	struct mt_node *nx;

	if (!m->in_run || node_cmp(m->last, t) >= 0)
		return false;
	nx = atomic_load_explicit(&m->last->next[0], memory_order_relaxed);
	if (nx && node_cmp(nx, t) < 0)
		return false;
	for (int i = 0; i < max; i++)
		prev[i] = m->after_last[i];
	return true;
}

static inline uint32_t node_vlen(const struct mt_node *n)
{
	return n->vlen & ~VLEN_WHERE;
}

int memtable_add(struct memtable *m, uint64_t seq, enum ikey_type t,
		 const void *key, size_t klen, const void *val, size_t vlen)
{
	return memtable_add_at(m, seq, t, key, klen, val, vlen, 0, 0);
}

int memtable_add_at(struct memtable *m, uint64_t seq, enum ikey_type t,
		    const void *key, size_t klen, const void *val, size_t vlen,
		    uint64_t segment, uint64_t offset)
{
	struct mt_node *prev[MT_MAX_HEIGHT], *n;
	struct mt_target tgt;
	size_t extra = segment ? WHERE_BYTES : 0;
	int height;

	if (klen > UINT32_MAX - IKEY_TAG_BYTES || vlen >= VLEN_WHERE ||
	    seq > IKEY_MAX_SEQ || (t != IKEY_DELETE && t != IKEY_VALUE))
		return -EINVAL;
	height = random_height(m);
	n = node_new(m, height, klen + IKEY_TAG_BYTES, vlen + extra);
	if (!n)
		return -ENOMEM;
	ikey_encode((uint8_t *)n->key, key, klen, seq, t);
	if (vlen)
		memcpy((uint8_t *)n->key + n->klen, val, vlen);
	n->vlen = (uint32_t)vlen;
	if (segment) {
		uint8_t *w = (uint8_t *)n->key + n->klen + vlen;

		put_u64le(w, segment);
		put_u64le(w + 8, offset);
		n->vlen |= VLEN_WHERE;
	}
	tgt.ukey = n->key;
	tgt.ulen = klen;
	tgt.tag = ikey_pack_tag(seq, t);
	/* Before the node is linked: a reader that can find it can find
	 * its key in the filter too. */
	bloom_live_add(&m->filter, bloom_hash(key, klen));
	/* An equal key (which unique seqs rule out) goes before the old one. */
	if (!prev_at_tail(m, &tgt, prev) && !prev_after_last(m, &tgt, prev))
		find_ge(m, &tgt, prev);
	link_node(m, n, height, prev);
	for (int i = 0; i < height; i++) {
		if (prev[i] == m->tail[i])
			m->tail[i] = n;
	}
	/* link_node filled prev[] up to the height in use, at least HEIGHT */
	for (int i = 0, max = atomic_load_explicit(&m->max_height,
						   memory_order_relaxed);
	     i < max; i++)
		m->after_last[i] = i < height ? n : prev[i];
	m->in_run = m->last && prev[0] == m->last;
	m->last = n;
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
	if (t == IKEY_DELETE)
		atomic_fetch_add_explicit(&m->deletions, 1,
					  memory_order_relaxed);
	return 0;
}

int memtable_get(struct memtable *m, const void *key, size_t klen,
		 uint64_t seq, const uint8_t **val, size_t *vlen)
{
	return memtable_get_hashed(m, key, klen, bloom_hash(key, klen), seq,
				   val, vlen);
}

int memtable_get_hashed(struct memtable *m, const void *key, size_t klen,
			uint32_t hash, uint64_t seq, const uint8_t **val,
			size_t *vlen)
{
	struct mt_target tgt = { key, klen, 0 };
	struct mt_node *n;

	if (!bloom_live_may_contain(&m->filter, hash))
		return LOOKUP_MISSING;
	if (seq > IKEY_MAX_SEQ)
		seq = IKEY_MAX_SEQ;
	tgt.tag = ikey_pack_tag(seq, IKEY_TYPE_FOR_SEEK);
	n = find_ge(m, &tgt, NULL);
	if (!n || ukey_cmp(n->key, ikey_ulen(n->klen), key, klen))
		return LOOKUP_MISSING;
	if (ikey_type(n->key, n->klen) != IKEY_VALUE)
		return LOOKUP_DELETED;
	*val = n->key + n->klen;
	*vlen = node_vlen(n);
	return LOOKUP_FOUND;
}

bool memtable_may_contain(const struct memtable *m, const void *key,
			  size_t klen)
{
	return bloom_live_may_contain(&m->filter, bloom_hash(key, klen));
}

size_t memtable_bytes(const struct memtable *m)
{
	return atomic_load_explicit(&m->arena.bytes, memory_order_relaxed) +
	       sizeof(*m) + bloom_live_bytes(&m->filter);
}

size_t memtable_data_bytes(const struct memtable *m)
{
	return atomic_load_explicit(&m->arena.used, memory_order_relaxed);
}

uint64_t memtable_deletions(const struct memtable *m)
{
	return atomic_load_explicit(&m->deletions, memory_order_relaxed);
}

uint64_t memtable_count(const struct memtable *m)
{
	return atomic_load_explicit(&m->count, memory_order_relaxed);
}

/* ---- iterator ---- */

struct mt_iter {
	struct iiter base;
	struct memtable *m;
	struct mt_node *node;           /* NULL when not valid */
};

static struct mt_iter *mt_iter_of(struct iiter *it)
{
	return (struct mt_iter *)it;
}

static bool mi_valid(struct iiter *it)
{
	return mt_iter_of(it)->node != NULL;
}

static void mi_seek_first(struct iiter *it)
{
	struct mt_iter *mi = mt_iter_of(it);

	mi->node = node_next(mi->m->head, 0);
}

static void mi_seek_last(struct iiter *it)
{
	struct mt_iter *mi = mt_iter_of(it);

	mi->node = find_last(mi->m);
}

/* A key shorter than a tag seeks to the first version of that user key. */
static void mi_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	struct mt_iter *mi = mt_iter_of(it);
	struct mt_target tgt = { key, klen, UINT64_MAX };

	if (klen >= IKEY_TAG_BYTES) {
		tgt.ulen = ikey_ulen(klen);
		tgt.tag = ikey_tag(key, klen);
	}
	mi->node = find_ge(mi->m, &tgt, NULL);
}

static void mi_next(struct iiter *it)
{
	struct mt_iter *mi = mt_iter_of(it);

	mi->node = node_next(mi->node, 0);
}

/* The node before the current one: the last node < its key, then a walk
 * over equal keys, which only a duplicate internal key could produce. */
static void mi_prev(struct iiter *it)
{
	struct mt_iter *mi = mt_iter_of(it);
	struct mt_node *n = mi->node, *x, *nx;
	struct mt_target tgt = { n->key, ikey_ulen(n->klen),
				 ikey_tag(n->key, n->klen) };

	x = find_lt(mi->m, &tgt);
	if (!x)
		x = mi->m->head;
	while ((nx = node_next(x, 0)) && nx != n)
		x = nx;
	mi->node = x == mi->m->head ? NULL : x;
}

static const uint8_t *mi_key(struct iiter *it, size_t *klen)
{
	struct mt_node *n = mt_iter_of(it)->node;

	*klen = n->klen;
	return n->key;
}

static const uint8_t *mi_value(struct iiter *it, size_t *vlen)
{
	struct mt_node *n = mt_iter_of(it)->node;

	*vlen = node_vlen(n);
	return n->key + n->klen;
}

bool memtable_iter_where(struct iiter *it, uint64_t *segment,
			 uint64_t *offset)
{
	struct mt_node *n = mt_iter_of(it)->node;
	const uint8_t *w;

	if (!(n->vlen & VLEN_WHERE))
		return false;
	w = n->key + n->klen + node_vlen(n);
	*segment = get_u64le(w);
	*offset = get_u64le(w + 8);
	return true;
}

static int mi_status(struct iiter *it, struct lsm_err *err)
{
	(void)it;
	(void)err;
	return 0;
}

static void mi_free(struct iiter *it)
{
	struct mt_iter *mi = mt_iter_of(it);

	memtable_unref(mi->m);
	free(mi);
}

static const struct iiter_ops mt_iter_ops = {
	.valid = mi_valid,
	.seek_first = mi_seek_first,
	.seek_last = mi_seek_last,
	.seek = mi_seek,
	.next = mi_next,
	.prev = mi_prev,
	.key = mi_key,
	.value = mi_value,
	.status = mi_status,
	.free = mi_free,
};

struct iiter *memtable_iter(struct memtable *m)
{
	struct mt_iter *mi = calloc(1, sizeof(*mi));

	if (!mi)
		return NULL;
	mi->base.ops = &mt_iter_ops;
	mi->m = m;
	memtable_ref(m);
	return &mi->base;
}
