/* ikey.h - internal keys: a user key followed by an 8-byte little-endian tag
 * (sequence << 8 | type).  Internal keys sort by user key ascending (bytewise,
 * shorter first on a common prefix), then by tag descending, so the newest
 * version of a key comes first.  Every sorted structure below the public API
 * (memtable, blocks, tables, levels) holds internal keys. */
#ifndef LSM_IKEY_H
#define LSM_IKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coding.h"

enum ikey_type {
	IKEY_DELETE = 0,
	IKEY_VALUE = 1,
	/* A value kept in a log segment; the entry's value is a pointer to
	 * it (vlog.h).  Tables only, in stores with the value_log feature. */
	IKEY_VALUE_PTR = 2,
};
#define IKEY_TYPE_FOR_SEEK IKEY_VALUE_PTR /* the highest type */
#define IKEY_TAG_BYTES 8
#define IKEY_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t ikey_pack_tag(uint64_t seq, enum ikey_type t)
{
	return (seq << 8) | (uint64_t)t;
}

/* Writes UKEY + tag at DST (room for ulen + 8 bytes); returns the length. */
static inline size_t ikey_encode(uint8_t *dst, const void *ukey, size_t ulen,
				 uint64_t seq, enum ikey_type t)
{
	if (ulen)
		memcpy(dst, ukey, ulen);
	put_u64le(dst + ulen, ikey_pack_tag(seq, t));
	return ulen + IKEY_TAG_BYTES;
}

/* Accessors; IK must be at least 8 bytes long (checked by decoders). */
static inline size_t ikey_ulen(size_t iklen) { return iklen - IKEY_TAG_BYTES; }
static inline uint64_t ikey_tag(const uint8_t *ik, size_t iklen)
{
	return get_u64le(ik + iklen - IKEY_TAG_BYTES);
}
static inline uint64_t ikey_seq(const uint8_t *ik, size_t iklen)
{
	return ikey_tag(ik, iklen) >> 8;
}
static inline enum ikey_type ikey_type(const uint8_t *ik, size_t iklen)
{
	return (enum ikey_type)(ikey_tag(ik, iklen) & 0xff);
}
static inline bool ikey_valid(const uint8_t *ik, size_t iklen)
{
	return iklen >= IKEY_TAG_BYTES && (ikey_tag(ik, iklen) & 0xff) <= IKEY_VALUE_PTR;
}

/* Bytewise user-key order. */
static inline int ukey_cmp(const void *a, size_t alen, const void *b,
			   size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static inline int ikey_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
			   size_t blen)
{
	int r = ukey_cmp(a, alen - 8, b, blen - 8);
	uint64_t ta, tb;

	if (r)
		return r;
	ta = ikey_tag(a, alen);
	tb = ikey_tag(b, blen);
	return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/* A comparator over encoded keys, for blocks and iterators. */
typedef int (*key_cmp_fn)(const uint8_t *a, size_t alen, const uint8_t *b,
			  size_t blen);

#endif /* LSM_IKEY_H */
