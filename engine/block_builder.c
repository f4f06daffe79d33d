/* block_builder.c - builds the sorted, prefix-compressed blocks of block.h.
 * Each key is stored as the length it shares with the previous key plus
 * the rest; every restart_interval-th key is stored whole and its offset
 * recorded, so readers can binary-search.  Does not check key order (the
 * table builder does). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "buf.h"
#include "coding.h"

struct block_builder {
	struct buf data;     /* entries, then the restart array once finished */
	struct buf last;     /* the last key added */
	uint32_t *restarts;  /* offsets of the restart entries */
	size_t nrestarts, restarts_cap;
	unsigned interval;   /* entries per restart */
	unsigned counter;    /* entries since the last restart */
	bool finished;
};

struct block_builder *block_builder_new(unsigned restart_interval)
{
	struct block_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->interval = restart_interval ? restart_interval : 1;
	return b;
}

void block_builder_free(struct block_builder *b)
{
	if (!b)
		return;
	buf_free(&b->data);
	buf_free(&b->last);
	free(b->restarts);
	free(b);
}

void block_builder_reset(struct block_builder *b)
{
	buf_clear(&b->data);
	buf_clear(&b->last);
	b->nrestarts = 0;
	b->counter = 0;
	b->finished = false;
}

static int add_restart(struct block_builder *b, uint32_t off)
{
	if (b->nrestarts == b->restarts_cap) {
		size_t cap = b->restarts_cap ? 2 * b->restarts_cap : 16;
		uint32_t *r = realloc(b->restarts, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		b->restarts = r;
		b->restarts_cap = cap;
	}
	b->restarts[b->nrestarts++] = off;
	b->counter = 0;
	return 0;
}

static size_t shared_prefix(const struct buf *last, const uint8_t *key,
			    size_t klen)
{
	size_t n = last->len < klen ? last->len : klen;
	size_t i = 0;

	while (i < n && last->p[i] == key[i])
		i++;
	return i;
}

/* Appends N bytes to B, which buf_reserve made room for: the per-entry
 * appends skip buf_append's checks. */
static void put_reserved(struct buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

int block_builder_add(struct block_builder *b, const uint8_t *key,
		      size_t klen, const uint8_t *val, size_t vlen)
{
	uint8_t hdr[3 * VARINT32_MAX_BYTES], *p = hdr;
	bool restart = b->counter == 0 || b->counter >= b->interval;
	size_t shared = restart ? 0 : shared_prefix(&b->last, key, klen);
	uint64_t total = (uint64_t)b->data.len + klen + vlen + sizeof(hdr) +
			 4 * ((uint64_t)b->nrestarts + 2);

	if (klen > UINT32_MAX || vlen > UINT32_MAX || total > UINT32_MAX)
		return -EINVAL;
	p = put_varint32(p, (uint32_t)shared);
	p = put_varint32(p, (uint32_t)(klen - shared));
	p = put_varint32(p, (uint32_t)vlen);
	if (!buf_reserve(&b->data, (size_t)(p - hdr) + klen - shared + vlen) ||
	    !buf_reserve(&b->last, klen - shared))
		goto oom;
	if (restart && add_restart(b, (uint32_t)b->data.len) < 0)
		goto oom;
	put_reserved(&b->data, hdr, (size_t)(p - hdr));
	put_reserved(&b->data, key + shared, klen - shared);
	put_reserved(&b->data, val, vlen);
	b->last.len = shared;
	put_reserved(&b->last, key + shared, klen - shared);
	b->counter++;
	return 0;
oom:
	b->data.oom = false;
	b->last.oom = false;
	return -ENOMEM;
}

bool block_builder_empty(const struct block_builder *b)
{
	return b->nrestarts == 0;
}

size_t block_builder_size(const struct block_builder *b)
{
	if (b->finished)
		return b->data.len;
	return b->data.len + 4 * b->nrestarts + 4;
}

const uint8_t *block_builder_last_key(const struct block_builder *b,
				      size_t *klen)
{
	*klen = b->last.len;
	return b->last.p;
}

const uint8_t *block_builder_finish(struct block_builder *b, size_t *len)
{
	if (!b->finished) {
		if (!buf_reserve(&b->data, 4 * b->nrestarts + 4)) {
			b->data.oom = false;
			return NULL;
		}
		for (size_t i = 0; i < b->nrestarts; i++)
			buf_put_u32le(&b->data, b->restarts[i]);
		buf_put_u32le(&b->data, (uint32_t)b->nrestarts);
		b->finished = true;
	}
	*len = b->data.len;
	return b->data.p;
}
