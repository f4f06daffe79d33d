/* crc.h - CRC-32 (zlib's, IEEE polynomial) over byte ranges. */
#ifndef LSM_CRC_H
#define LSM_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

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

static inline uint32_t crc32_of(const void *p, size_t n)
{
	return crc32_extend(0, p, n);
}

#endif /* LSM_CRC_H */
