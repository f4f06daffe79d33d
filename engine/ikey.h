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

/* Eight bytes at P as a big-endian word: words compare as the bytes do. */
static inline uint64_t ukey_word(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Bytewise user-key order (the sign of memcmp, shorter first on a common
 * prefix).  Inline, a word at a time: every sorted structure compares
 * keys in its inner loop, and a call to memcmp for a few words cost
 * more than the comparison. */
static inline int ukey_cmp(const void *a_, size_t alen, const void *b_,
			   size_t blen)
{
	const uint8_t *a = a_, *b = b_;
	size_t n = alen < blen ? alen : blen;

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		uint64_t x = ukey_word(a), y = ukey_word(b);

		if (x != y)
			return x < y ? -1 : 1;
	}
	for (; n; n--, a++, b++)
		if (*a != *b)
			return *a < *b ? -1 : 1;
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
