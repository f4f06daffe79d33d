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
/* A block whose CAP bytes of data live in the same allocation, right
 * after it, for a reader to fill at *DATA and then check with
 * block_parse().  It is no valid block until block_parse() succeeds, but
 * block_free() takes it at any time.  NULL on ENOMEM. */
struct block *block_alloc(size_t cap, uint8_t **data);
/* Makes B (from block_alloc) the block of its first LEN <= CAP data bytes,
 * validating the restart array like block_new (-EUCLEAN). */
int block_parse(struct block *b, size_t len, struct lsm_err *err);
/* The CAP data bytes of B (from block_alloc), to be filled again and
 * parsed again with block_parse: a reader reuses one allocation for
 * block after block. */
uint8_t *block_buffer(struct block *b);
/* Checks that B's restart points are where its entries start (which
 * iteration and seeks rely on and block_new does not check): 0 or
 * -EUCLEAN with a message.  Linear in the block; for verification. */
int block_check(const struct block *b, struct lsm_err *err);
void block_free(struct block *b);               /* accepts NULL */
size_t block_size(const struct block *b);       /* bytes of memory held */

/* A position in a block that the caller places (on the stack, or inside
 * another iterator), so that a lookup allocates nothing for keys of up to
 * BLOCK_CURSOR_INLINE bytes.  The fields are private to block.c; a cursor
 * must not be copied or moved while in use (key may point into kinl).
 * Same semantics as block_iter below: a malformed entry makes it invalid
 * with a sticky -EUCLEAN status. */
#define BLOCK_CURSOR_INLINE 64

struct block_cursor {
	const struct block *b;
	key_cmp_fn cmp;
	uint32_t end;      /* the block's restarts_off: end of the entries */
	uint32_t cur;      /* offset of the current entry; end: none */
	uint32_t next;     /* offset just past the current entry */
	uint32_t bad_off;  /* where the malformed entry is */
	int status;        /* sticky: -EUCLEAN or -ENOMEM */
	uint8_t *key;      /* the current key, rebuilt from prefixes */
	size_t klen, kcap;
	const uint8_t *val;
	size_t vlen;
	uint8_t kinl[BLOCK_CURSOR_INLINE];
};

/* Starts C unpositioned over B (which must outlive its use), or unbound
 * (never valid) when B is NULL. */
void block_cursor_init(struct block_cursor *c, const struct block *b,
		       key_cmp_fn cmp);
/* Moves C, unpositioned and with a clear status, to block B (keeps the
 * key storage). */
void block_cursor_rebind(struct block_cursor *c, const struct block *b);
void block_cursor_done(struct block_cursor *c); /* frees key storage */
void block_cursor_seek_first(struct block_cursor *c);
void block_cursor_seek_last(struct block_cursor *c);
void block_cursor_seek(struct block_cursor *c, const uint8_t *key,
		       size_t klen);
void block_cursor_next(struct block_cursor *c);  /* requires valid */
void block_cursor_prev(struct block_cursor *c);  /* requires valid */
int block_cursor_status(const struct block_cursor *c, struct lsm_err *err);

static inline bool block_cursor_valid(const struct block_cursor *c)
{
	return c->cur < c->end;
}

/* Borrowed until the cursor moves. */
static inline const uint8_t *block_cursor_key(const struct block_cursor *c,
					      size_t *klen)
{
	*klen = c->klen;
	return c->key;
}

static inline const uint8_t *block_cursor_value(const struct block_cursor *c,
						size_t *vlen)
{
	*vlen = c->vlen;
	return c->val;
}

/* An iterator over B under CMP.  B must outlive it; RELEASE(ARG) (when
 * non-NULL) is called when the iterator is freed, e.g. to drop a cache
 * handle.  A malformed entry makes it invalid with -EUCLEAN.  NULL on
 * ENOMEM (RELEASE is then called at once). */
struct iiter *block_iter(const struct block *b, key_cmp_fn cmp,
			 void (*release)(void *arg), void *arg);

#endif /* LSM_BLOCK_H */
