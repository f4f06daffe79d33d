/* writeback.h - starts the writeback of a file's appended pages early, as
 * it grows, for the engine's big appenders (log segments, tables): the
 * fsync that ends the file then finds most pages written instead of
 * writing them all while its caller waits (RocksDB's bytes_per_sync).  A
 * hint through the I/O seam (lsm_io.start_writeback): it makes nothing
 * durable, and an io without the hint (NULL) gets none. */
#ifndef LSM_WRITEBACK_H
#define LSM_WRITEBACK_H

#include <stdint.h>

#include "lsm_io.h"

/* Bytes appended between two starts. */
#define WRITEBACK_BYTES (1u << 20)

struct writeback {
	uint64_t from; /* where the next start begins (0 for a new file) */
};

/* After an append through IO that brought FD's file to END bytes: once
 * WRITEBACK_BYTES have piled up since the last start, starts writing
 * them (in whole pages) without waiting.  Called on every log append:
 * the byte count comes first, as it rules out almost every call. */
static inline void writeback_note(struct writeback *wb,
				  const struct lsm_io *io, int fd,
				  uint64_t end)
{
	if (end < wb->from || end - wb->from < WRITEBACK_BYTES ||
	    !io->start_writeback)
		return;
	end &= ~(uint64_t)4095;
	io->start_writeback(io, fd, wb->from, end - wb->from);
	wb->from = end;
}

#endif /* LSM_WRITEBACK_H */
