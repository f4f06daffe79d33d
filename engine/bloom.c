/* bloom.c - bloom filters over 32-bit key hashes (bloom.h), in two
 * encodings (engine/doc/table.md): blocked, all k probes of a key in one
 * 64-byte block, written now; flat, probes by double hashing over the whole
 * filter (h, h + d, h + 2d, ... with d = mix(h) | 1), of older tables and
 * still read.  The hash is a murmur-style multiply/rotate mix of our own;
 * it need not resist attackers, only spread keys evenly. */
#include "bloom.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"

#define BLOOM_MAX_K 30
#define BLOOM_MIN_BITS 64

static inline uint32_t rotl32(uint32_t x, unsigned r)
{
	return (x << r) | (x >> (32 - r));
}

static inline uint32_t mix_word(uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = rotl32(k, 15);
	return k * 0x1b873593u;
}

/* Every input bit affects every output bit. */
static inline uint32_t avalanche(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

uint32_t bloom_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = 0x2545f491u ^ (uint32_t)len;
	uint32_t t = 0;

	for (; len >= 4; p += 4, len -= 4) {
		h ^= mix_word(get_u32le(p));
		h = rotl32(h, 13) * 5 + 0xe6546b64u;
	}
	for (size_t i = 0; i < len; i++)
		t |= (uint32_t)p[i] << (8 * i);
	if (len)
		h ^= mix_word(t);
	return avalanche(h);
}

/* The probe step.  It must look independent of h: LevelDB's rotl(h, 15)
 * measured 1.1-1.7% false positives at 10 bits/key (theory 0.82%) and
 * 12-14% at 5 bits/key (theory 9.2%) for 10^5..10^6 keys; a remixed,
 * odd step measures the theory at every size tried. */
static inline uint32_t probe_step(uint32_t h)
{
	return avalanche(h) | 1;
}

static inline size_t probe_bit(uint32_t x, size_t bits)
{
	return x % bits;
}

static unsigned bloom_k(unsigned bits_per_key)
{
	/* round(bits_per_key * 0.69), in integers (no libm). */
	unsigned long k = ((unsigned long)bits_per_key * 69 + 50) / 100;

	if (k == 0)
		k = 1;
	if (k > BLOOM_MAX_K)
		k = BLOOM_MAX_K;
	return (unsigned)k;
}

/* The cache-line blocked layout: block ((h * nblocks) >> 32) of 64 bytes
 * takes all k probes of a key, bit (x >> 23) for x = mix(h) | 1, then x
 * times 0x9e3779b9 for each next probe (the top 9 bits of a
 * multiplicative sequence).  A lookup then reads one cache line (two when
 * the filter is not aligned) instead of up to k scattered ones. */
static inline const uint8_t *blocked_block(const uint8_t *arr,
					   size_t nblocks, uint32_t h)
{
	return arr + (size_t)(((uint64_t)h * nblocks) >> 32) *
			     BLOOM_BLOCK_BYTES;
}

#define PROBE_MUL 0x9e3779b9u

/* Whether N keys of BITS_PER_KEY bits can be counted in a size_t (else
 * OUT is marked out of memory). */
static bool bits_fit(struct buf *out, size_t n, unsigned bits_per_key)
{
	if (bits_per_key && n > SIZE_MAX / 16 / bits_per_key) {
		out->oom = true;
		return false;
	}
	return true;
}

/* Appends BYTES zero bytes and the kbyte's place to OUT: the filter's
 * bits, or NULL (OUT marked) when out of memory. */
static uint8_t *zeroed_filter(struct buf *out, size_t bytes)
{
	uint8_t *arr;

	if (!buf_reserve(out, bytes + 1))
		return NULL;
	arr = out->p + out->len;
	memset(arr, 0, bytes + 1);
	out->len += bytes + 1;
	return arr;
}

void bloom_build(struct buf *out, const uint32_t *hashes, size_t n,
		 unsigned bits_per_key)
{
	size_t nblocks, bytes;
	unsigned k = bloom_k(bits_per_key);
	uint8_t *arr;

	if (!bits_fit(out, n, bits_per_key))
		return;
	nblocks = (n * bits_per_key + BLOOM_BLOCK_BYTES * 8 - 1) /
		  (BLOOM_BLOCK_BYTES * 8);
	if (nblocks == 0)
		nblocks = 1;
	bytes = nblocks * BLOOM_BLOCK_BYTES;
	if (!(arr = zeroed_filter(out, bytes)))
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t *b = (uint8_t *)blocked_block(arr, nblocks, hashes[i]);
		uint32_t x = probe_step(hashes[i]);

		for (unsigned j = 0; j < k; j++, x *= PROBE_MUL)
			b[x >> 26] |= (uint8_t)(1u << ((x >> 23) & 7));
	}
	arr[bytes] = (uint8_t)(BLOOM_BLOCKED | k);
}

void bloom_build_flat(struct buf *out, const uint32_t *hashes, size_t n,
		      unsigned bits_per_key)
{
	size_t bits, bytes;
	unsigned k = bloom_k(bits_per_key);
	uint8_t *arr;

	if (!bits_fit(out, n, bits_per_key))
		return;
	bits = n * bits_per_key;
	if (bits < BLOOM_MIN_BITS)
		bits = BLOOM_MIN_BITS;
	bytes = (bits + 7) / 8;
	bits = bytes * 8;
	if (!(arr = zeroed_filter(out, bytes)))
		return;
	for (size_t i = 0; i < n; i++) {
		uint32_t h = hashes[i], delta = probe_step(h);

		for (unsigned j = 0; j < k; j++, h += delta) {
			size_t pos = probe_bit(h, bits);

			arr[pos / 8] |= (uint8_t)(1u << (pos % 8));
		}
	}
	arr[bytes] = (uint8_t)k;
}

bool bloom_may_contain(const uint8_t *filter, size_t len, uint32_t hash)
{
	uint32_t h = hash, delta = probe_step(hash);
	size_t bits;
	unsigned k;

	if (len < 2)
		return true; /* no filter, or not one we can read */
	k = filter[len - 1];
	if (k & BLOOM_BLOCKED) {
		size_t nblocks = (len - 1) / BLOOM_BLOCK_BYTES;
		const uint8_t *b;
		uint32_t x = delta;

		k &= ~BLOOM_BLOCKED;
		if (k == 0 || k > BLOOM_MAX_K ||
		    (len - 1) % BLOOM_BLOCK_BYTES != 0)
			return true; /* malformed: never a wrong "absent" */
		b = blocked_block(filter, nblocks, hash);
		for (unsigned j = 0; j < k; j++, x *= PROBE_MUL)
			if (!(b[x >> 26] & (1u << ((x >> 23) & 7))))
				return false;
		return true;
	}
	if (k == 0 || k > BLOOM_MAX_K)
		return true; /* an encoding from the future */
	bits = (len - 1) * 8;
	for (unsigned j = 0; j < k; j++, h += delta) {
		size_t pos = probe_bit(h, bits);

		if (!(filter[pos / 8] & (1u << (pos % 8))))
			return false;
	}
	return true;
}

/* ---- the live filter (bloom_live) ----
 * The blocked layout's probes (bit x >> 23 of a 512-bit block, for x
 * stepping by PROBE_MUL from mix(h) | 1), in eight 64-bit words a block so
 * that the adder can set a bit with a plain atomic store: there is one
 * adder at a time.  Six probes: about 1% false positives at 10 bits a
 * key, the memtable's budget for its smallest entries. */
#define BLOOM_LIVE_K 6

int bloom_live_init(struct bloom_live *f, size_t bytes)
{
	size_t n = bytes / BLOOM_BLOCK_BYTES;
	void *p;

	f->words = NULL;
	f->nblocks = 0;
	if (n == 0)
		return 0;
	if (posix_memalign(&p, BLOOM_BLOCK_BYTES, n * BLOOM_BLOCK_BYTES))
		return -ENOMEM;
	f->words = p;
	for (size_t i = 0; i < n * 8; i++)
		atomic_init(&f->words[i], 0);
	f->nblocks = n;
	return 0;
}

void bloom_live_free(struct bloom_live *f)
{
	free(f->words);
	f->words = NULL;
	f->nblocks = 0;
}

size_t bloom_live_bytes(const struct bloom_live *f)
{
	return f->nblocks * BLOOM_BLOCK_BYTES;
}

static inline _Atomic uint64_t *live_block(const struct bloom_live *f,
					   uint32_t h)
{
	return f->words + (size_t)(((uint64_t)h * f->nblocks) >> 32) * 8;
}

void bloom_live_add(struct bloom_live *f, uint32_t hash)
{
	_Atomic uint64_t *b;
	uint32_t x = probe_step(hash);

	if (f->nblocks == 0)
		return;
	b = live_block(f, hash);
	for (unsigned j = 0; j < BLOOM_LIVE_K; j++, x *= PROBE_MUL) {
		_Atomic uint64_t *w = &b[x >> 29];
		uint64_t v = atomic_load_explicit(w, memory_order_relaxed);

		/* Stored even when set: a branch on it mispredicts. */
		atomic_store_explicit(w, v | 1ull << ((x >> 23) & 63),
				      memory_order_relaxed);
	}
}

bool bloom_live_may_contain(const struct bloom_live *f, uint32_t hash)
{
	const _Atomic uint64_t *b;
	uint32_t x = probe_step(hash);

	if (f->nblocks == 0)
		return true;
	b = live_block(f, hash);
	for (unsigned j = 0; j < BLOOM_LIVE_K; j++, x *= PROBE_MUL) {
		uint64_t v = atomic_load_explicit(&b[x >> 29],
						  memory_order_relaxed);

		if (!(v & (1ull << ((x >> 23) & 63))))
			return false;
	}
	return true;
}
