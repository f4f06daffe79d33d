/* lr_crc.h - the CRC-32 of the replication protocol (zlib's polynomial,
 * the engine's too): libdeflate's when the build has it (the same values,
 * several times faster: a bootstrap checks every byte more than once),
 * else zlib's. */
#ifndef LSMFS_REPL_CRC_H
#define LSMFS_REPL_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#ifdef LSM_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

static inline uint32_t lr_crc32(uint32_t crc, const void *p, size_t n)
{
#ifdef LSM_HAVE_LIBDEFLATE
	return n ? libdeflate_crc32(crc, p, n) : crc;
#else
	const uint8_t *b = p;

	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = (uint32_t)crc32(crc, b, k);
		b += k;
		n -= k;
	}
	return crc;
#endif
}

#endif
