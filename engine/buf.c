/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "coding.h"

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

bool buf_reserve(struct buf *b, size_t extra)
{
	size_t want, cap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (extra <= b->cap - b->len)
		return true;
	if (extra > SIZE_MAX / 2 - b->len)
		goto oom;
	want = b->len + extra;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		goto oom;
	b->p = p;
	b->cap = cap;
	return true;
oom:
	b->oom = true;
	return false;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0 || !buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

void buf_put_u32le(struct buf *b, uint32_t v)
{
	uint8_t t[4];

	put_u32le(t, v);
	buf_append(b, t, 4);
}

void buf_put_u64le(struct buf *b, uint64_t v)
{
	uint8_t t[8];

	put_u64le(t, v);
	buf_append(b, t, 8);
}

void buf_put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[VARINT64_MAX_BYTES];

	buf_append(b, t, (size_t)(put_varint64(t, v) - t));
}

void buf_put_lenbytes(struct buf *b, const void *p, size_t n)
{
	buf_put_varint(b, n);
	buf_append(b, p, n);
}

void *mem_dup(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}
