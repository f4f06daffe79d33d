/* block.c - parses blocks (block.h) and iterates over them.  Nothing in a
 * block is trusted: block_new checks the restart array, and every entry is
 * decoded against the end of the entry area, so a malformed block makes
 * the iterator invalid with -EUCLEAN instead of reading out of bounds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "buf.h"
#include "coding.h"

struct block {
	const uint8_t *data;
	size_t len;
	uint32_t restarts_off; /* end of the entries, start of the restarts */
	uint32_t nrestarts;
	bool owned;
};

int block_new(const uint8_t *data, size_t len, bool owned,
	      struct block **out, struct lsm_err *err)
{
	struct block *b;
	uint32_t n, off, prev = 0;

	if (len < 4 || len > UINT32_MAX)
		goto bad;
	n = get_u32le(data + len - 4);
	if (n > (len - 4) / 4)
		goto bad;
	off = (uint32_t)(len - 4 - 4 * (size_t)n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = get_u32le(data + off + 4 * (size_t)i);

		if (r >= off || (i == 0 && r != 0) || (i > 0 && r <= prev))
			goto bad;
		prev = r;
	}
	if (n == 0 && off != 0)
		goto bad;
	b = malloc(sizeof(*b));
	if (!b)
		return lsm_err_set(err, -ENOMEM, "block: out of memory");
	b->data = data;
	b->len = len;
	b->restarts_off = off;
	b->nrestarts = n;
	b->owned = owned;
	*out = b;
	return 0;
bad:
	return lsm_err_set(err, -EUCLEAN, "block of %zu bytes: bad restart array",
			   len);
}

void block_free(struct block *b)
{
	if (!b)
		return;
	if (b->owned)
		free((void *)b->data);
	free(b);
}

size_t block_size(const struct block *b)
{
	return sizeof(*b) + b->len;
}

/* ---- iterator ---- */

struct block_iter {
	struct iiter it;
	const struct block *b;
	key_cmp_fn cmp;
	void (*release)(void *arg);
	void *arg;
	uint32_t cur;      /* offset of the current entry; restarts_off: none */
	uint32_t next;     /* offset just past the current entry */
	uint32_t ridx;     /* restart interval holding cur */
	struct buf key;    /* the current key, rebuilt from prefixes */
	const uint8_t *val;
	size_t vlen;
	int status;        /* sticky: -EUCLEAN or -ENOMEM */
	uint32_t bad_off;  /* where the malformed entry is */
};

static uint32_t restart_at(const struct block *b, uint32_t i)
{
	return get_u32le(b->data + b->restarts_off + 4 * (size_t)i);
}

static void set_invalid(struct block_iter *bi)
{
	bi->cur = bi->next = bi->b->restarts_off;
	bi->ridx = bi->b->nrestarts;
	bi->key.len = 0;
}

static void set_error(struct block_iter *bi, int rc, uint32_t off)
{
	if (!bi->status) {
		bi->status = rc;
		bi->bad_off = off;
	}
	set_invalid(bi);
}

/* Decodes the entry at bi->next into the current position.  False when
 * there is none (end of block) or it is malformed (status set). */
static bool parse_next(struct block_iter *bi)
{
	const struct block *b = bi->b;
	const uint8_t *p = b->data + bi->next;
	const uint8_t *end = b->data + b->restarts_off;
	uint32_t shared, unshared, vlen, off = bi->next;

	if (bi->status || off >= b->restarts_off) {
		set_invalid(bi);
		return false;
	}
	p = get_varint32(p, end, &shared);
	p = p ? get_varint32(p, end, &unshared) : NULL;
	p = p ? get_varint32(p, end, &vlen) : NULL;
	if (!p || shared > bi->key.len ||
	    (uint64_t)unshared + vlen > (uint64_t)(end - p))
		goto bad;
	bi->key.len = shared;
	buf_append(&bi->key, p, unshared);
	if (!buf_ok(&bi->key)) {
		set_error(bi, -ENOMEM, off);
		return false;
	}
	bi->cur = off;
	bi->val = p + unshared;
	bi->vlen = vlen;
	bi->next = (uint32_t)(bi->val + vlen - b->data);
	while (bi->ridx + 1 < b->nrestarts && restart_at(b, bi->ridx + 1) <= off)
		bi->ridx++;
	return true;
bad:
	set_error(bi, -EUCLEAN, off);
	return false;
}

/* Positions before the entry at restart I (the key history is reset, so
 * the entry there must have shared = 0). */
static void seek_restart(struct block_iter *bi, uint32_t i)
{
	bi->key.len = 0;
	bi->ridx = i;
	bi->next = restart_at(bi->b, i);
}

static bool bi_valid(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	return bi->cur < bi->b->restarts_off;
}

static void bi_seek_first(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi->status || bi->b->nrestarts == 0) {
		set_invalid(bi);
		return;
	}
	seek_restart(bi, 0);
	parse_next(bi);
}

static void bi_seek_last(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi->status || bi->b->nrestarts == 0) {
		set_invalid(bi);
		return;
	}
	seek_restart(bi, bi->b->nrestarts - 1);
	while (parse_next(bi) && bi->next < bi->b->restarts_off)
		;
}

static void bi_next(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi_valid(it))
		parse_next(bi);
}

static void bi_prev(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;
	uint32_t orig = bi->cur;
	uint32_t i = bi->ridx;

	if (!bi_valid(it))
		return;
	while (restart_at(bi->b, i) >= orig) {
		if (i == 0) {
			set_invalid(bi);
			return;
		}
		i--;
	}
	seek_restart(bi, i);
	while (parse_next(bi) && bi->next < orig)
		;
}

/* Decodes the (whole) key at restart I.  NULL when malformed. */
static const uint8_t *restart_key(struct block_iter *bi, uint32_t i,
				  size_t *klen)
{
	const struct block *b = bi->b;
	const uint8_t *end = b->data + b->restarts_off;
	const uint8_t *p = b->data + restart_at(b, i);
	uint32_t shared, unshared, vlen;

	p = get_varint32(p, end, &shared);
	p = p ? get_varint32(p, end, &unshared) : NULL;
	p = p ? get_varint32(p, end, &vlen) : NULL;
	if (!p || shared != 0 || unshared > (size_t)(end - p)) {
		set_error(bi, -EUCLEAN, restart_at(b, i));
		return NULL;
	}
	*klen = unshared;
	return p;
}

static void bi_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	struct block_iter *bi = (struct block_iter *)it;
	uint32_t lo = 0, hi;

	if (bi->status || bi->b->nrestarts == 0) {
		set_invalid(bi);
		return;
	}
	/* Last restart whose key is < KEY (or restart 0). */
	hi = bi->b->nrestarts - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		size_t mlen;
		const uint8_t *mkey = restart_key(bi, mid, &mlen);

		if (!mkey)
			return;
		if (bi->cmp(mkey, mlen, key, klen) < 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	seek_restart(bi, lo);
	while (parse_next(bi) &&
	       bi->cmp(bi->key.p, bi->key.len, key, klen) < 0)
		;
}

static const uint8_t *bi_key(struct iiter *it, size_t *klen)
{
	struct block_iter *bi = (struct block_iter *)it;

	*klen = bi->key.len;
	return bi->key.p;
}

static const uint8_t *bi_value(struct iiter *it, size_t *vlen)
{
	struct block_iter *bi = (struct block_iter *)it;

	*vlen = bi->vlen;
	return bi->val;
}

static int bi_status(struct iiter *it, struct lsm_err *err)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi->status == -ENOMEM)
		return lsm_err_set(err, -ENOMEM, "block: out of memory");
	if (bi->status)
		return lsm_err_set(err, bi->status,
				   "block: malformed entry at offset %u",
				   (unsigned)bi->bad_off);
	return 0;
}

static void bi_free(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi->release)
		bi->release(bi->arg);
	buf_free(&bi->key);
	free(bi);
}

static const struct iiter_ops block_iter_ops = {
	.valid = bi_valid,
	.seek_first = bi_seek_first,
	.seek_last = bi_seek_last,
	.seek = bi_seek,
	.next = bi_next,
	.prev = bi_prev,
	.key = bi_key,
	.value = bi_value,
	.status = bi_status,
	.free = bi_free,
};

struct iiter *block_iter(const struct block *b, key_cmp_fn cmp,
			 void (*release)(void *arg), void *arg)
{
	struct block_iter *bi = calloc(1, sizeof(*bi));

	if (!bi) {
		if (release)
			release(arg);
		return NULL;
	}
	bi->it.ops = &block_iter_ops;
	bi->b = b;
	bi->cmp = cmp;
	bi->release = release;
	bi->arg = arg;
	set_invalid(bi);
	return &bi->it;
}
