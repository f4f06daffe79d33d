/* mounts.h - finds where a data directory is mounted, from the kernel's
 * mount table (/proc/self/mountinfo): lsmfs mounts are of type
 * fuse.lsmfs with the data directory's absolute path as their source
 * (fsname).  Used by lsmfs (is the store still served, or only being
 * closed by an unmounted daemon?) and lsmfs-ctl (read a live mount's
 * figures).  No FUSE here. */
#ifndef LSMFS_MOUNTS_H
#define LSMFS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#define MOUNTS_TABLE "/proc/self/mountinfo"

/* Looks in TABLE (a mountinfo file, MOUNTS_TABLE normally) for a
 * fuse.lsmfs mount of DATADIR (absolute, as realpath(3) gives it).  A
 * read-write mount is preferred to a read-only one (a follower).  Returns
 * 1 and copies its mountpoint to MNT (SIZE bytes) and whether it is
 * read-write to *RW (may be NULL); 0 when there is none; a negative errno
 * when TABLE cannot be read or a mountpoint does not fit. */
int mounts_find(const char *table, const char *datadir, char *mnt,
		size_t size, bool *rw);

#endif /* LSMFS_MOUNTS_H */
