/* batch.c - the write batch (lsm_batch_*) and its encoding, which is the
 * payload of a write-ahead log record (grammar in batch.h).  Encoding keeps
 * the header's count current after every op, so rep is always a complete,
 * decodable batch; decoding validates everything before the first call. */
#include "batch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coding.h"
#include "wal.h"

#define BATCH_OP_DELETE 0x00
#define BATCH_OP_PUT 0x01

static void batch_reset(struct lsm_batch *b)
{
	static const uint8_t zero[BATCH_HEADER_BYTES];

	buf_clear(&b->rep);
	buf_append(&b->rep, zero, sizeof(zero));
	b->count = 0;
	b->oom = !buf_ok(&b->rep);
}

struct lsm_batch *lsm_batch_new(void)
{
	struct lsm_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->rep = (struct buf)BUF_INIT;
	batch_reset(b);
	if (b->oom) {
		lsm_batch_free(b);
		return NULL;
	}
	return b;
}

void lsm_batch_free(struct lsm_batch *b)
{
	if (!b)
		return;
	buf_free(&b->rep);
	free(b);
}

void lsm_batch_clear(struct lsm_batch *b)
{
	batch_reset(b);
}

/* Writes varint32 N and the N bytes at SRC to P; returns the end. */
static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
	p = put_varint32(p, (uint32_t)n);
	if (n)
		memcpy(p, src, n);
	return p + n;
}

/* Appends one op; on failure REP is left as it was. */
static int batch_add(struct lsm_batch *b, uint8_t op, const void *key,
		     size_t klen, const void *val, size_t vlen)
{
	size_t need = 1 + varint_len(klen) + klen;
	uint8_t *p;

	if (op == BATCH_OP_PUT)
		need += varint_len(vlen) + vlen;
	if (b->count == UINT32_MAX || b->rep.len > WAL_MAX_RECORD ||
	    need > WAL_MAX_RECORD - b->rep.len)
		return -EINVAL; /* would not fit in one log record */
	if (b->oom || !buf_reserve(&b->rep, need)) {
		b->oom = true;
		return -ENOMEM;
	}
	p = b->rep.p + b->rep.len;
	*p++ = op;
	p = put_bytes(p, key, klen);
	if (op == BATCH_OP_PUT)
		p = put_bytes(p, val, vlen);
	b->rep.len = (size_t)(p - b->rep.p);
	b->count++;
	put_u32le(b->rep.p + 8, b->count);
	return 0;
}

int lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	if (klen > LSM_MAX_KEY_BYTES || vlen > LSM_MAX_VALUE_BYTES)
		return -EINVAL;
	return batch_add(b, BATCH_OP_PUT, key, klen, val, vlen);
}

int lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen)
{
	if (klen > LSM_MAX_KEY_BYTES)
		return -EINVAL;
	return batch_add(b, BATCH_OP_DELETE, key, klen, NULL, 0);
}

size_t lsm_batch_count(const struct lsm_batch *b)
{
	return b->count;
}

size_t lsm_batch_bytes(const struct lsm_batch *b)
{
	return b->rep.len;
}

void batch_set_seq(struct lsm_batch *b, uint64_t seq)
{
	put_u64le(b->rep.p, seq);
}

uint64_t batch_seq(const struct lsm_batch *b)
{
	return get_u64le(b->rep.p);
}

struct batch_op {
	enum ikey_type type;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

/* Decodes the op at P; NULL with *WHY set when malformed. */
static const uint8_t *batch_op_decode(const uint8_t *p, const uint8_t *end,
				      struct batch_op *op, const char **why)
{
	uint8_t tag = *p++;

	if (tag != BATCH_OP_PUT && tag != BATCH_OP_DELETE) {
		*why = "unknown op type";
		return NULL;
	}
	op->type = tag == BATCH_OP_PUT ? IKEY_VALUE : IKEY_DELETE;
	p = get_lenbytes(p, end, &op->key, &op->klen);
	if (!p || op->klen > LSM_MAX_KEY_BYTES) {
		*why = p ? "key too long" : "truncated or bad key length";
		return NULL;
	}
	op->val = NULL;
	op->vlen = 0;
	if (op->type == IKEY_DELETE)
		return p;
	p = get_lenbytes(p, end, &op->val, &op->vlen);
	if (!p || op->vlen > LSM_MAX_VALUE_BYTES) {
		*why = p ? "value too long" : "truncated or bad value length";
		return NULL;
	}
	return p;
}

/* Checks the whole encoding: every op well formed, COUNT of them, no
 * trailing bytes, sequence numbers in range. */
static int batch_validate(const uint8_t *p, size_t len, struct lsm_err *err)
{
	const uint8_t *q = p + BATCH_HEADER_BYTES, *end = p + len;
	uint64_t seq = get_u64le(p);
	uint32_t count = get_u32le(p + 8), i;
	struct batch_op op;
	const char *why;

	if (count && seq > IKEY_MAX_SEQ - (count - 1))
		return lsm_err_set(err, -EUCLEAN, "batch: sequence %" PRIu64
				   " + %" PRIu32 " ops out of range", seq,
				   count);
	for (i = 0; i < count && q < end; i++) {
		const uint8_t *at = q;

		q = batch_op_decode(q, end, &op, &why);
		if (!q)
			return lsm_err_set(err, -EUCLEAN, "batch: op %" PRIu32
					   " at byte %td: %s", i, at - p, why);
	}
	if (i < count)
		return lsm_err_set(err, -EUCLEAN, "batch: header says %"
				   PRIu32 " ops, found %" PRIu32, count, i);
	if (q != end)
		return lsm_err_set(err, -EUCLEAN, "batch: %td trailing bytes "
				   "after %" PRIu32 " ops", end - q, count);
	return 0;
}

/* Calls FN for each op of the well-formed batch [P, END). */
static int batch_run(const uint8_t *p, const uint8_t *end, batch_op_fn fn,
		     void *ctx, struct lsm_err *err)
{
	uint64_t seq = get_u64le(p);
	uint32_t count = get_u32le(p + 8);
	struct batch_op op;
	const char *why;
	int rc;

	p += BATCH_HEADER_BYTES;
	for (uint32_t i = 0; i < count; i++) {
		p = batch_op_decode(p, end, &op, &why);
		rc = fn(ctx, seq + i, op.type, op.key, op.klen, op.val,
			op.vlen);
		if (rc < 0)
			return lsm_err_set(err, rc, "batch: op %" PRIu32
					   " (sequence %" PRIu64 ") failed: %s",
					   i, seq + i, strerror(-rc));
	}
	return 0;
}

int batch_decode(const uint8_t *p, size_t len, batch_op_fn fn, void *ctx,
		 struct lsm_err *err)
{
	const uint8_t *end = p + len;
	int rc;

	if (len < BATCH_HEADER_BYTES)
		return lsm_err_set(err, -EUCLEAN, "batch: %zu bytes, shorter "
				   "than its %d-byte header", len,
				   BATCH_HEADER_BYTES);
	rc = batch_validate(p, len, err);
	if (rc < 0)
		return rc;
	return batch_run(p, end, fn, ctx, err);
}

int batch_iterate(const struct lsm_batch *b, batch_op_fn fn, void *ctx,
		  struct lsm_err *err)
{
	return batch_run(b->rep.p, b->rep.p + b->rep.len, fn, ctx, err);
}

bool batch_follows(const uint8_t *prev, size_t prevlen, const uint8_t *rec,
		   size_t len)
{
	if (!prev || prevlen < BATCH_HEADER_BYTES)
		return true;
	if (len < BATCH_HEADER_BYTES)
		return false; /* not a batch at all */
	return get_u64le(rec) >= get_u64le(prev) + get_u32le(prev + 8);
}
