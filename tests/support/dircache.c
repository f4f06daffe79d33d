/* dircache.c - puts lsm_io_posix()'s cache of directory descriptors
 * (engine/io_posix.c) in a known state, for tests that count the blocks
 * allocated and freed around a run (failmalloc.h): the cache is global
 * and outlives any store. */
#include <stdio.h>
#include <sys/stat.h>

#include "lsm_io.h"
#include "support.h"

void dircache_fill(const char *root)
{
	const struct lsm_io *io = lsm_io_posix();
	static unsigned long serial;
	char path[4096];

	/* The cache replaces its entries in turn: as many new directories
	 * as it has entries (8) fill every one of them. */
	for (int i = 0; i < 8; i++) {
		snprintf(path, sizeof(path), "%s/.dircache%lu", root,
			 serial++);
		if (mkdir(path, 0700) == 0)
			io->sync_dir(io, path);
	}
}
