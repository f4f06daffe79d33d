/* writeback.h - starts the writeback of a file's appended pages early, as
 * it grows, for the engine's big appenders (log segments, tables): the
 * fsync that ends the file then finds most pages written instead of
 * writing them all while its caller waits (RocksDB's bytes_per_sync).  A
 * hint: it makes nothing durable, and its errors are ignored (the fsync
 * reports any that matter).  It goes past the I/O seam, to descriptors of
 * the POSIX io only (lsm_io_posix()); with any other io it does nothing. */
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
 * them (in whole pages) without waiting. */
void writeback_note(struct writeback *wb, const struct lsm_io *io, int fd,
		    uint64_t end);

#endif /* LSM_WRITEBACK_H */
