/* mapcopy.h - copies out of a read-only file mapping that fail instead of
 * killing the process.  A page of a mapping that cannot be read (the
 * device fails the read, or the file was cut short behind the mapping)
 * raises SIGBUS on access; map_copy turns that into -EIO for the copy
 * under way.  Only the bytes being copied are guarded: a fault anywhere
 * else goes to the SIGBUS disposition the process had before. */
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

#endif /* LSM_MAPCOPY_H */
