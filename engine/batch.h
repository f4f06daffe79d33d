/* batch.h - the write batch: an atomic group of puts and deletes, and its
 * encoding, which is also the payload of a write-ahead log record.
 *
 *   batch  := seq (u64le) | count (u32le) | op*count
 *   op     := 0x01 | varint32 klen | key | varint32 vlen | value   (put)
 *           | 0x00 | varint32 klen | key                          (delete)
 * Operation i gets sequence number seq + i. */
#ifndef LSM_BATCH_H
#define LSM_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ikey.h"
#include "lsm.h"

#define BATCH_HEADER_BYTES 12

struct lsm_batch {
	struct buf rep; /* header + ops, always at least BATCH_HEADER_BYTES */
	uint32_t count;
	bool oom;       /* an append failed: lsm_write refuses the batch */
};

void batch_set_seq(struct lsm_batch *b, uint64_t seq);
uint64_t batch_seq(const struct lsm_batch *b);

/* Called for each op of an encoded batch; a negative return stops. */
typedef int (*batch_op_fn)(void *ctx, uint64_t seq, enum ikey_type t,
			   const uint8_t *key, size_t klen,
			   const uint8_t *val, size_t vlen);

/* Decodes the batch in (P, LEN), calling FN per op.  -EUCLEAN (with a
 * message) when the encoding is malformed or the count disagrees;
 * validates the whole batch before the first call. */
int batch_decode(const uint8_t *p, size_t len, batch_op_fn fn, void *ctx,
		 struct lsm_err *err);

/* batch_decode for B, which lsm_batch_* built and so is well formed by
 * construction: no validation pass.  Errors as for batch_decode; FN
 * checks the sequence numbers (memtable_add does). */
int batch_iterate(const struct lsm_batch *b, batch_op_fn fn, void *ctx,
		  struct lsm_err *err);

/* A wal_successor_fn for log segments: REC (a batch) could follow PREV
 * only if its sequence numbers start past PREV's; with no PREV, any can. */
bool batch_follows(const uint8_t *prev, size_t prevlen, const uint8_t *rec,
		   size_t len);

#endif /* LSM_BATCH_H */
