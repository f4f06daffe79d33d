/* block.h - sorted key/value blocks with prefix-compressed keys and
 * restart points: the data and index blocks of a table.
 *
 *   block   := entry* | restart (u32le) * n | n (u32le)
 *   entry   := varint32 shared | varint32 unshared | varint32 vlen |
 *              key[shared..shared+unshared) | value
 * Every RESTART_INTERVAL-th entry has shared = 0 and its offset listed in
 * the restart array, so a seek binary-searches the restarts. */
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikey.h"
#include "iter.h"

#define BLOCK_RESTART_INTERVAL 16

struct block_builder;

struct block_builder *block_builder_new(unsigned restart_interval);
void block_builder_free(struct block_builder *b); /* accepts NULL */
void block_builder_reset(struct block_builder *b);
/* KEY must sort after the previous key.  0 or -ENOMEM. */
int block_builder_add(struct block_builder *b, const uint8_t *key,
		      size_t klen, const uint8_t *val, size_t vlen);
bool block_builder_empty(const struct block_builder *b);
size_t block_builder_size(const struct block_builder *b); /* if finished now */
/* The last key added (borrowed until the next add/reset). */
const uint8_t *block_builder_last_key(const struct block_builder *b,
				      size_t *klen);
/* Appends the restart array; the bytes are valid until reset/free.
 * NULL on ENOMEM. */
const uint8_t *block_builder_finish(struct block_builder *b, size_t *len);

/* A parsed, immutable block (thread-safe to read). */
struct block;

/* Parses DATA (LEN bytes), validating the restart array (-EUCLEAN).  When
 * OWNED, the block frees DATA with free(). */
int block_new(const uint8_t *data, size_t len, bool owned,
	      struct block **out, struct lsm_err *err);
void block_free(struct block *b);               /* accepts NULL */
size_t block_size(const struct block *b);       /* bytes of memory held */

/* An iterator over B under CMP.  B must outlive it; RELEASE(ARG) (when
 * non-NULL) is called when the iterator is freed, e.g. to drop a cache
 * handle.  A malformed entry makes it invalid with -EUCLEAN.  NULL on
 * ENOMEM (RELEASE is then called at once). */
struct iiter *block_iter(const struct block *b, key_cmp_fn cmp,
			 void (*release)(void *arg), void *arg);

#endif /* LSM_BLOCK_H */
