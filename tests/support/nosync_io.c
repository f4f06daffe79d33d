/* nosync_io.c - the POSIX I/O layer without fsyncs, for tests that check
 * logic rather than durability (model, concurrency, compaction): they run
 * many times faster.  Crash and fault tests keep the real fsyncs. */
#include <stdbool.h>

#include "lsm_io.h"
#include "support.h"

static int nosync_fsync(const struct lsm_io *io, int fd)
{
	(void)io;
	(void)fd;
	return 0;
}

static int nosync_sync_dir(const struct lsm_io *io, const char *path)
{
	(void)io;
	(void)path;
	return 0;
}

const struct lsm_io *test_io_nosync(void)
{
	static struct lsm_io io;
	static bool ready;

	if (!ready) { /* tests call this before starting threads */
		io = *lsm_io_posix();
		io.fsync = nosync_fsync;
		io.sync_dir = nosync_sync_dir;
		/* no early writeback either: it would send to the disk what
		 * these tests never sync */
		io.start_writeback = NULL;
		ready = true;
	}
	return &io;
}
