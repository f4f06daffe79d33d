/* block.c - parses blocks (block.h) and iterates over them.  Nothing in a
 * block is trusted: block_new checks the restart array, and every entry is
 * decoded against the end of the entry area, so a malformed block makes
 * the iterator invalid with -EUCLEAN instead of reading out of bounds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "coding.h"

struct block {
	const uint8_t *data;
	size_t len;
	uint32_t restarts_off; /* end of the entries, start of the restarts */
	uint32_t nrestarts;
	bool owned;
};

/* Checks the restart array of the LEN bytes at DATA: 0, or -EUCLEAN with
 * *RESTARTS_OFF and *N unset. */
static int parse_restarts(const uint8_t *data, size_t len,
			  uint32_t *restarts_off, uint32_t *nrestarts,
			  struct lsm_err *err)
{
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
	*restarts_off = off;
	*nrestarts = n;
	return 0;
bad:
	return lsm_err_set(err, -EUCLEAN, "block of %zu bytes: bad restart array",
			   len);
}

int block_new(const uint8_t *data, size_t len, bool owned,
	      struct block **out, struct lsm_err *err)
{
	struct block *b;
	uint32_t off, n;
	int rc = parse_restarts(data, len, &off, &n, err);

	if (rc < 0)
		return rc;
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
}

struct block *block_alloc(size_t cap, uint8_t **data)
{
	struct block *b;

	if (cap > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	*b = (struct block){ .data = (const uint8_t *)(b + 1) };
	*data = (uint8_t *)(b + 1);
	return b;
}

int block_parse(struct block *b, size_t len, struct lsm_err *err)
{
	int rc = parse_restarts(b->data, len, &b->restarts_off,
				&b->nrestarts, err);

	if (rc == 0)
		b->len = len;
	return rc;
}

uint8_t *block_buffer(struct block *b)
{
	return (uint8_t *)(b + 1);
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

/* ---- cursor ---- */

static uint32_t restart_at(const struct block *b, uint32_t i)
{
	return get_u32le(b->data + b->restarts_off + 4 * (size_t)i);
}

void block_cursor_init(struct block_cursor *c, const struct block *b,
		       key_cmp_fn cmp)
{
	*c = (struct block_cursor){ .cmp = cmp, .kcap = sizeof(c->kinl) };
	c->key = c->kinl;
	if (b)
		block_cursor_rebind(c, b);
}

static void set_invalid(struct block_cursor *c)
{
	c->cur = c->next = c->end;
	c->klen = 0;
}

void block_cursor_rebind(struct block_cursor *c, const struct block *b)
{
	c->b = b;
	c->end = b->restarts_off;
	c->status = 0;
	c->bad_off = 0;
	c->val = NULL;
	c->vlen = 0;
	set_invalid(c);
}

void block_cursor_done(struct block_cursor *c)
{
	if (c->key != c->kinl)
		free(c->key);
	c->key = c->kinl;
	c->kcap = sizeof(c->kinl);
}

static void set_error(struct block_cursor *c, int rc, uint32_t off)
{
	if (!c->status) {
		c->status = rc;
		c->bad_off = off;
	}
	set_invalid(c);
}

/* Makes room for a key of N bytes, keeping the first KEEP. */
static bool key_room(struct block_cursor *c, size_t n, size_t keep)
{
	size_t cap = c->kcap;
	uint8_t *k;

	if (n <= cap)
		return true;
	while (cap < n)
		cap *= 2;
	k = malloc(cap);
	if (!k)
		return false;
	memcpy(k, c->key, keep);
	block_cursor_done(c);
	c->key = k;
	c->kcap = cap;
	return true;
}

/* Decodes the three varints that start an entry at P; NULL if malformed.
 * Small keys and values have one-byte varints: that case goes first. */
static const uint8_t *entry_header(const uint8_t *p, const uint8_t *end,
				   uint32_t *shared, uint32_t *unshared,
				   uint32_t *vlen)
{
	if (end - p >= 3 && ((p[0] | p[1] | p[2]) & 0x80) == 0) {
		*shared = p[0];
		*unshared = p[1];
		*vlen = p[2];
		return p + 3;
	}
	p = get_varint32(p, end, shared);
	p = p ? get_varint32(p, end, unshared) : NULL;
	return p ? get_varint32(p, end, vlen) : NULL;
}

/* Decodes the entry at c->next into the current position.  False when
 * there is none (end of block) or it is malformed (status set). */
static bool parse_next(struct block_cursor *c)
{
	const struct block *b = c->b;
	const uint8_t *p = b->data + c->next;
	const uint8_t *end = b->data + c->end;
	uint32_t shared, unshared, vlen, off = c->next;

	if (c->status || off >= c->end) {
		set_invalid(c);
		return false;
	}
	p = entry_header(p, end, &shared, &unshared, &vlen);
	if (!p || shared > c->klen ||
	    (uint64_t)unshared + vlen > (uint64_t)(end - p)) {
		set_error(c, -EUCLEAN, off);
		return false;
	}
	if (!key_room(c, (size_t)shared + unshared, shared)) {
		set_error(c, -ENOMEM, off);
		return false;
	}
	memcpy(c->key + shared, p, unshared);
	c->klen = (size_t)shared + unshared;
	c->cur = off;
	c->val = p + unshared;
	c->vlen = vlen;
	c->next = (uint32_t)(c->val + vlen - b->data);
	return true;
}

/* Walks every entry: each restart must start an entry, with shared = 0,
 * and the entries must end exactly where the restart array begins.
 * Iteration and seeks trust this; a checksummed block breaks it only when
 * it was written wrong. */
int block_check(const struct block *b, struct lsm_err *err)
{
	const uint8_t *p = b->data, *end = b->data + b->restarts_off;
	uint32_t i = 0;

	while (p < end) {
		uint32_t off = (uint32_t)(p - b->data), shared, unshared, vlen;
		bool restart = i < b->nrestarts && restart_at(b, i) == off;

		if (i < b->nrestarts && restart_at(b, i) < off)
			break; /* restart i points inside an entry */
		i += restart;
		p = entry_header(p, end, &shared, &unshared, &vlen);
		if (!p || (restart && shared != 0) ||
		    (uint64_t)unshared + vlen > (uint64_t)(end - p))
			return lsm_err_set(err, -EUCLEAN, "block: malformed "
					   "entry at offset %u", off);
		p += unshared + vlen;
	}
	if (i != b->nrestarts)
		return lsm_err_set(err, -EUCLEAN, "block: restart %u (offset "
				   "%u) is not at an entry", i,
				   restart_at(b, i));
	return 0;
}

/* Positions before the entry at restart I (the key history is reset, so
 * the entry there must have shared = 0). */
static void seek_restart(struct block_cursor *c, uint32_t i)
{
	c->klen = 0;
	c->next = restart_at(c->b, i);
}

void block_cursor_seek_first(struct block_cursor *c)
{
	if (c->status || c->b->nrestarts == 0) {
		set_invalid(c);
		return;
	}
	seek_restart(c, 0);
	parse_next(c);
}

void block_cursor_seek_last(struct block_cursor *c)
{
	if (c->status || c->b->nrestarts == 0) {
		set_invalid(c);
		return;
	}
	seek_restart(c, c->b->nrestarts - 1);
	while (parse_next(c) && c->next < c->end)
		;
}

void block_cursor_next(struct block_cursor *c)
{
	if (block_cursor_valid(c))
		parse_next(c);
}

void block_cursor_prev(struct block_cursor *c)
{
	uint32_t orig = c->cur, lo = 0, hi;

	if (!block_cursor_valid(c))
		return;
	if (orig == 0) { /* restart 0 is at offset 0: the first entry */
		set_invalid(c);
		return;
	}
	/* The last restart before the current entry. */
	hi = c->b->nrestarts - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;

		if (restart_at(c->b, mid) < orig)
			lo = mid;
		else
			hi = mid - 1;
	}
	seek_restart(c, lo);
	while (parse_next(c) && c->next < orig)
		;
}

/* Decodes the (whole) key at restart I.  NULL when malformed. */
static const uint8_t *restart_key(struct block_cursor *c, uint32_t i,
				  size_t *klen)
{
	const struct block *b = c->b;
	const uint8_t *end = b->data + c->end;
	const uint8_t *p = b->data + restart_at(b, i);
	uint32_t shared, unshared, vlen;

	p = get_varint32(p, end, &shared);
	p = p ? get_varint32(p, end, &unshared) : NULL;
	p = p ? get_varint32(p, end, &vlen) : NULL;
	if (!p || shared != 0 || unshared > (size_t)(end - p)) {
		set_error(c, -EUCLEAN, restart_at(b, i));
		return NULL;
	}
	*klen = unshared;
	return p;
}

void block_cursor_seek(struct block_cursor *c, const uint8_t *key,
		       size_t klen)
{
	uint32_t lo = 0, hi;

	if (c->status || c->b->nrestarts == 0) {
		set_invalid(c);
		return;
	}
	/* Last restart whose key is < KEY (or restart 0). */
	hi = c->b->nrestarts - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		size_t mlen;
		const uint8_t *mkey = restart_key(c, mid, &mlen);

		if (!mkey)
			return;
		if (c->cmp(mkey, mlen, key, klen) < 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	seek_restart(c, lo);
	while (parse_next(c) && c->cmp(c->key, c->klen, key, klen) < 0)
		;
}

int block_cursor_status(const struct block_cursor *c, struct lsm_err *err)
{
	if (c->status == -ENOMEM)
		return lsm_err_set(err, -ENOMEM, "block: out of memory");
	if (c->status)
		return lsm_err_set(err, c->status,
				   "block: malformed entry at offset %u",
				   (unsigned)c->bad_off);
	return 0;
}

/* ---- iterator: a cursor behind the iiter interface ---- */

struct block_iter {
	struct iiter it;
	void (*release)(void *arg);
	void *arg;
	struct block_cursor c;
};

static struct block_cursor *cursor_of(struct iiter *it)
{
	return &((struct block_iter *)it)->c;
}

static bool bi_valid(struct iiter *it)
{
	return block_cursor_valid(cursor_of(it));
}

static void bi_seek_first(struct iiter *it)
{
	block_cursor_seek_first(cursor_of(it));
}

static void bi_seek_last(struct iiter *it)
{
	block_cursor_seek_last(cursor_of(it));
}

static void bi_next(struct iiter *it)
{
	block_cursor_next(cursor_of(it));
}

static void bi_prev(struct iiter *it)
{
	block_cursor_prev(cursor_of(it));
}

static void bi_seek(struct iiter *it, const uint8_t *key, size_t klen)
{
	block_cursor_seek(cursor_of(it), key, klen);
}

static const uint8_t *bi_key(struct iiter *it, size_t *klen)
{
	return block_cursor_key(cursor_of(it), klen);
}

static const uint8_t *bi_value(struct iiter *it, size_t *vlen)
{
	return block_cursor_value(cursor_of(it), vlen);
}

static int bi_status(struct iiter *it, struct lsm_err *err)
{
	return block_cursor_status(cursor_of(it), err);
}

static void bi_free(struct iiter *it)
{
	struct block_iter *bi = (struct block_iter *)it;

	if (bi->release)
		bi->release(bi->arg);
	block_cursor_done(&bi->c);
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
	struct block_iter *bi = malloc(sizeof(*bi));

	if (!bi) {
		if (release)
			release(arg);
		return NULL;
	}
	bi->it.ops = &block_iter_ops;
	bi->release = release;
	bi->arg = arg;
	block_cursor_init(&bi->c, b, cmp);
	return &bi->it;
}
