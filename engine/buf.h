/* buf.h - a growable byte buffer with a sticky out-of-memory flag, so that
 * a sequence of appends is checked once at the end (buf_ok). */
#ifndef LSM_BUF_H
#define LSM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool oom; /* set when an append could not allocate; appends then no-op */
};

#define BUF_INIT { NULL, 0, 0, false }

void buf_free(struct buf *b);            /* releases memory, resets */
static inline void buf_clear(struct buf *b) { b->len = 0; b->oom = false; }
static inline bool buf_ok(const struct buf *b) { return !b->oom; }
bool buf_reserve(struct buf *b, size_t extra);  /* false (and oom) on ENOMEM */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u32le(struct buf *b, uint32_t v);
void buf_put_u64le(struct buf *b, uint64_t v);
void buf_put_varint(struct buf *b, uint64_t v);
void buf_put_lenbytes(struct buf *b, const void *p, size_t n); /* varint+bytes */
/* Copies (P, N) into a fresh malloc'ed buffer (N may be 0); NULL on ENOMEM. */
void *mem_dup(const void *p, size_t n);

#endif /* LSM_BUF_H */
