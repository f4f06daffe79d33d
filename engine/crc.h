/* crc.h - CRC-32 (the IEEE polynomial, as zlib's crc32()) over byte ranges.
 * Every checksum in the formats is this function.  When libdeflate is
 * available its crc32 computes the very same values several times faster
 * (carry-less multiply); otherwise zlib's crc32 is used.  tests/engine/
 * test_coding.c checks that both agree. */
#ifndef LSM_CRC_H
#define LSM_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#ifdef LSM_HAVE_LIBDEFLATE
#include <libdeflate.h>

static inline uint32_t crc32_extend(uint32_t crc, const void *p, size_t n)
{
	/* libdeflate, like zlib, answers 0 for a NULL buffer: extending by
	 * nothing must keep CRC. */
	return n ? libdeflate_crc32(crc, p, n) : crc;
}
#else
static inline uint32_t crc32_extend(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) { /* zlib takes a uInt length */
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = (uint32_t)crc32(crc, b, chunk);
		b += chunk;
		n -= chunk;
	}
	return crc;
}
#endif

static inline uint32_t crc32_of(const void *p, size_t n)
{
	return crc32_extend(0, p, n);
}

#endif /* LSM_CRC_H */
