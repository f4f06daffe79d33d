/* bloom.h - the bloom filter of a table over user keys.
 *   filter := bits[m/8] | kbyte (u8)
 * Two encodings, told apart by kbyte (engine/doc/table.md):
 *   blocked (tables written from December 2026 on): m/8 a multiple of 64,
 *     kbyte = BLOOM_BLOCKED | k; each key's k probes fall in one 64-byte
 *     block (one cache line);
 *   flat (older tables, still read): kbyte = k, probes anywhere in m bits
 *     by double hashing.
 * Bits per key B gives k = round(B * ln 2), clamped to [1, 30]; the
 * expected false-positive rate is about (1 - e^(-k/B))^k flat (0.8% at
 * B=10), a little more blocked (about 0.9% at B=10).  A reader that knows
 * only the flat encoding takes kbyte > 30 as "maybe" for every key, so an
 * older binary reads newer tables correctly, without their filters. */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

uint32_t bloom_hash(const void *key, size_t len);

#define BLOOM_BLOCK_BYTES 64
#define BLOOM_BLOCKED 0x80u /* in kbyte: the blocked encoding */

/* Appends a blocked filter over the N key hashes to OUT (check buf_ok). */
void bloom_build(struct buf *out, const uint32_t *hashes, size_t n,
		 unsigned bits_per_key);
/* The same in the flat encoding of older tables, which bloom_may_contain
 * still reads (for tests of that). */
void bloom_build_flat(struct buf *out, const uint32_t *hashes, size_t n,
		      unsigned bits_per_key);

/* false only when the key is certainly absent.  A malformed filter
 * answers true (it can never cause a wrong "absent"). */
bool bloom_may_contain(const uint8_t *filter, size_t len, uint32_t hash);

/* A blocked filter kept in memory while keys are added: the memtable's,
 * over the user keys of its entries.  Not a format: nothing writes it out.
 * One thread adds at a time while any number test (relaxed atomic words):
 * a key whose bloom_live_add happened before a test, in the C11 sense, is
 * always found.  A filter of no blocks (bytes 0) answers "maybe". */
struct bloom_live {
	_Atomic uint64_t *words;        /* nblocks * 8, 64-byte aligned */
	size_t nblocks;
};

/* A zeroed filter of BYTES rounded down to whole 64-byte blocks.
 * 0 or -ENOMEM. */
int bloom_live_init(struct bloom_live *f, size_t bytes);
void bloom_live_free(struct bloom_live *f);
size_t bloom_live_bytes(const struct bloom_live *f);
void bloom_live_add(struct bloom_live *f, uint32_t hash);
bool bloom_live_may_contain(const struct bloom_live *f, uint32_t hash);

#endif /* LSM_BLOOM_H */
