/* mapcopy.h - copies out of a read-only file mapping that fail instead of
 * killing the process.  A page of a mapping that cannot be read (the
 * device fails the read, or the file was cut short behind the mapping)
 * raises SIGBUS on access; map_copy turns that into -EIO for the copy
 * under way.  Only the bytes being copied are guarded: a fault anywhere
 * else goes to the SIGBUS disposition the process had before.  map_guard
 * guards any function's reads of a mapping the same way. */
#ifndef LSM_MAPCOPY_H
#define LSM_MAPCOPY_H

#include <stddef.h>

/* Installs the SIGBUS handler, unless it is installed already; one put
 * there since is chained to (call it before each mapping is used).  0, or
 * -errno when it cannot (then do not map). */
int map_copy_init(void);

/* Copies N bytes of a mapping at SRC to DST: 0, or -EIO when a page of
 * SRC could not be read.  map_copy_init must have succeeded. */
int map_copy(void *dst, const void *src, size_t n);

/* Runs FN(ARG) with the N bytes of a mapping at LO guarded as map_copy
 * guards its source: FN's return value, or -EIO when a page of them could
 * not be read.  Then FN was cut short at that access, so FN must take no
 * lock and keep whatever it allocates where ARG's owner frees it.  Guards
 * do not nest (FN must not call map_copy).  map_copy_init must have
 * succeeded. */
int map_guard(const void *lo, size_t n, int (*fn)(void *arg), void *arg);

#endif /* LSM_MAPCOPY_H */
