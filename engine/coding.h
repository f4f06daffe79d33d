/* coding.h - little-endian fixed-width integers and LEB128 varints.
 * On-disk integers go through these helpers, never through a struct memcpy.
 * Decoders take an end pointer and return NULL on truncated/overlong input. */
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_u16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_u64le(uint8_t *p, uint64_t v)
{
	put_u32le(p, (uint32_t)v);
	put_u32le(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get_u16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t get_u64le(const uint8_t *p)
{
	return (uint64_t)get_u32le(p) | ((uint64_t)get_u32le(p + 4) << 32);
}

#define VARINT64_MAX_BYTES 10
#define VARINT32_MAX_BYTES 5

/* Writes V at P (room for VARINT64_MAX_BYTES); returns the end. */
static inline uint8_t *put_varint64(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_varint32(uint8_t *p, uint32_t v)
{
	return put_varint64(p, v);
}

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline const uint8_t *get_varint64(const uint8_t *p,
					  const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift <= 63 && p < end; shift += 7) {
		uint64_t b = *p++;

		if (shift == 63 && b > 1)
			return NULL;
		r |= (b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return p;
		}
	}
	return NULL;
}

static inline const uint8_t *get_varint32(const uint8_t *p,
					  const uint8_t *end, uint32_t *v)
{
	uint64_t r;

	p = get_varint64(p, end, &r);
	if (!p || r > UINT32_MAX)
		return NULL;
	*v = (uint32_t)r;
	return p;
}

/* A length-prefixed byte string: varint32 length, then the bytes. */
static inline const uint8_t *get_lenbytes(const uint8_t *p, const uint8_t *end,
					  const uint8_t **s, size_t *len)
{
	uint32_t n;

	p = get_varint32(p, end, &n);
	if (!p || n > (size_t)(end - p))
		return NULL;
	*s = p;
	*len = n;
	return p + n;
}

#endif /* LSM_CODING_H */
