/* bloom.h - the bloom filter of a table over user keys.
 *   filter := bits[m/8] | k (u8)     (k probes by double hashing)
 * Bits per key B gives k = round(B * ln 2), clamped to [1, 30]; the
 * expected false-positive rate is about (1 - e^(-k/B))^k (0.8% at B=10). */
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

uint32_t bloom_hash(const void *key, size_t len);

/* Appends a filter over the N key hashes to OUT (check buf_ok). */
void bloom_build(struct buf *out, const uint32_t *hashes, size_t n,
		 unsigned bits_per_key);

/* false only when the key is certainly absent.  A malformed filter
 * answers true (it can never cause a wrong "absent"). */
bool bloom_may_contain(const uint8_t *filter, size_t len, uint32_t hash);

#endif /* LSM_BLOOM_H */
