/* vlog.h - the value log: large values stay in the log segment that first
 * received them, and tables hold a pointer to them (engine/doc/value-log.md).
 *
 * A pointer is the value of an entry of type IKEY_VALUE_PTR (tables only,
 * never the log or the memtable):
 *   segment (varint64) | offset (varint64) | length (varint32) | crc32 (u32le)
 * where OFFSET is where the value's bytes start in NNNNNN.wal and CRC is
 * zlib's CRC-32 of the value alone.
 *
 * The reader keeps a bounded set of open segment descriptors; a segment is
 * found in the data directory or, once archived, in DIR/archive/. */
#ifndef LSM_VLOG_H
#define LSM_VLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lsm.h"
#include "lsm_io.h"

#define VPTR_MAX_BYTES (10 + 10 + 5 + 4)

struct vptr {
	uint64_t segment;
	uint64_t offset;
	uint32_t length;
	uint32_t crc;
};

/* Encodes P at OUT (VPTR_MAX_BYTES of room); returns the length. */
size_t vptr_encode(uint8_t *out, const struct vptr *p);
/* 0, or -EUCLEAN for a malformed pointer (trailing bytes included). */
int vptr_decode(const uint8_t *p, size_t len, struct vptr *out);

/* The log segments a table's pointers name, and the bytes of the values
 * it names in each (file_meta's vlog; manifest field 69): ascending by
 * segment, no repeats.  Malloc'ed; owned by whoever holds the struct. */
struct vlog_ref {
	uint64_t segment;
	uint64_t bytes;
};

struct vlog_refs {
	struct vlog_ref *v;
	size_t n, cap;
};

/* Counts P in R: 0 or -ENOMEM (R unchanged). */
int vlog_refs_add(struct vlog_refs *r, uint64_t segment, uint64_t bytes);
/* R's entry for SEGMENT, or NULL. */
const struct vlog_ref *vlog_refs_find(const struct vlog_refs *r,
				      uint64_t segment);
/* Whether R names SEGMENT. */
bool vlog_refs_has(const struct vlog_refs *r, uint64_t segment);
/* A deep copy of FROM into *TO (emptied first): 0 or -ENOMEM. */
int vlog_refs_copy(struct vlog_refs *to, const struct vlog_refs *from);
void vlog_refs_free(struct vlog_refs *r); /* empties R */
static inline uint64_t vlog_refs_bytes(const struct vlog_refs *r)
{
	uint64_t b = 0;

	for (size_t i = 0; i < r->n; i++)
		b += r->v[i].bytes;
	return b;
}

struct vlog;

/* A reader of the segments in DIR (IO and DIR must outlive it).  NULL on
 * ENOMEM. */
struct vlog *vlog_new(const struct lsm_io *io, const char *dir);
void vlog_free(struct vlog *vl); /* accepts NULL */

/* Reads the value P names into BUF of CAP >= P->length bytes and checks
 * its CRC.  -EUCLEAN (with a message naming the segment and offset) for a
 * value that is missing, cut short or damaged; other -errno from the file
 * system. */
int vlog_read_into(struct vlog *vl, const struct vptr *p, void *buf,
		   struct lsm_err *err);
/* The same into OUT (its contents replaced; grown as needed): 0, -ENOMEM
 * or vlog_read_into's errors. */
int vlog_read_buf(struct vlog *vl, const struct vptr *p, struct buf *out,
		  struct lsm_err *err);

/* Reads every value table T points to and checks it (check and repair).
 * Calls BAD(CTX, WHAT, KEY, KLEN, P, MSG) (KEY: the entry's user key,
 * borrowed) for each pointer that is malformed (P NULL), that names a
 * segment LISTED (the table's manifest list; NULL: not checked) does not
 * hold, or whose value does not read back whole and intact; a nonzero
 * return from BAD stops the walk.  Returns the number of bad pointers
 * seen, or -ENOMEM / the table's own read error in ERR. */
struct sst;
enum vlog_bad { VLOG_BAD_POINTER, VLOG_BAD_UNLISTED, VLOG_BAD_VALUE };
typedef int (*vlog_bad_fn)(void *ctx, enum vlog_bad what, const void *key,
			   size_t klen, const struct vptr *p, const char *msg);
long vlog_check_table(struct vlog *vl, struct sst *t,
		      const struct vlog_refs *listed, vlog_bad_fn bad,
		      void *ctx, struct lsm_err *err);

/* Opens segment NUMBER now and keeps it open until vlog_forget (a
 * follower holds every segment its versions point into: the writer may
 * delete one at any time).  0, -ENOENT when it is gone, or -errno. */
int vlog_hold(struct vlog *vl, uint64_t number);
/* Closes segment NUMBER (it is being deleted or no longer held); a read
 * under way keeps its descriptor until it is done. */
void vlog_forget(struct vlog *vl, uint64_t number);

#endif /* LSM_VLOG_H */
