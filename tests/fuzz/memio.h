/* memio.h - an in-memory struct lsm_io for the fuzz targets: a flat set of
 * named files (paths are plain strings; directories always exist), so a
 * target can hand the engine a file made of its input and read back what
 * the engine wrote, without touching the disk.  Not thread-safe. */
#ifndef LSMFS_FUZZ_MEMIO_H
#define LSMFS_FUZZ_MEMIO_H

#include <stddef.h>
#include <stdint.h>

#include "lsm_io.h"

/* A new empty file system; NULL on ENOMEM.  Free with memio_free. */
struct lsm_io *memio_new(void);
/* Frees every file (open descriptors included). */
void memio_free(struct lsm_io *io);
/* Creates or replaces PATH with the N bytes at P: 0 or -ENOMEM. */
int memio_put(struct lsm_io *io, const char *path, const void *p, size_t n);
/* The bytes of PATH (borrowed until the file changes), NULL when absent. */
const uint8_t *memio_get(const struct lsm_io *io, const char *path,
			 size_t *n);
/* Number of descriptors still open (a leak check for the targets). */
size_t memio_open_fds(const struct lsm_io *io);

#endif /* LSMFS_FUZZ_MEMIO_H */
