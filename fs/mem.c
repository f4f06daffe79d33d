/* mem.c - keeping the daemon's resident memory bounded (glibc malloc).
 *
 * Seen without it: RSS grew from ~50 to ~170 MB over copy/delete cycles and
 * stayed there.  FUSE serves requests from a pool of threads that come and
 * go; each thread gets a malloc arena of its own (up to 8 per core), and
 * what the engine frees in one arena (memtables, table blocks) is reused
 * only by the threads bound to it, so free memory is spread over many
 * arenas that are rarely empty enough to shrink.  glibc also raises its
 * mmap threshold each time an mmapped block is freed, so the large blocks
 * that would have gone back to the kernel at free() land in the arenas.
 * The remedies, by design rather than by environment:
 *   - at most FS_MEM_ARENAS arenas (requests spend little time in malloc);
 *   - a fixed mmap threshold (FS_MEM_MMAP_THRESHOLD): the engine's large
 *     blocks (memtable arena blocks, table buffers) are mapped and unmapped
 *     on their own, never left in an arena;
 *   - a thread that returns free arena pages to the kernel (malloc_trim)
 *     every FS_MEM_TRIM_MS while the filesystem was busy in the last minute.
 * MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ in the environment win over
 * the built-in values.  Other C libraries: nothing is done. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "fs.h"

#define FS_MEM_ARENAS 2
#define FS_MEM_MMAP_THRESHOLD (256 * 1024)
#define FS_MEM_TRIM_MS 5000
#define FS_MEM_BUSY_PERIODS 12 /* trims after the last request seen */

/* The trimming thread: one per process, as the allocator is. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool started, stop;     /* under mu */
	struct lsmfs *fs;
} trim = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

void fs_mem_init(void)
{
#ifdef __GLIBC__
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, FS_MEM_ARENAS);
	if (!getenv("MALLOC_MMAP_THRESHOLD_"))
		mallopt(M_MMAP_THRESHOLD, FS_MEM_MMAP_THRESHOLD);
#endif
}

/* Requests served so far (every operation counts one). */
static uint64_t requests(struct lsmfs *fs)
{
	uint64_t n = 0;

	for (int i = 0; i < FS_OP__COUNT; i++)
		n += atomic_load_explicit(&fs->cnt.ops[i],
					  memory_order_relaxed);
	return n;
}

static void *trim_main(void *arg)
{
	uint64_t seen = requests(trim.fs);
	unsigned busy = 0;
	struct timespec ts;

	(void)arg;
	pthread_mutex_lock(&trim.mu);
	while (!trim.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FS_MEM_TRIM_MS / 1000;
		pthread_cond_timedwait(&trim.cv, &trim.mu, &ts);
		if (trim.stop)
			break;
		uint64_t now = requests(trim.fs);

		if (now != seen)
			busy = FS_MEM_BUSY_PERIODS; /* background work follows */
		seen = now;
		if (!busy)
			continue;
		busy--;
		pthread_mutex_unlock(&trim.mu);
#ifdef __GLIBC__
		malloc_trim(0);
#endif
		pthread_mutex_lock(&trim.mu);
	}
	pthread_mutex_unlock(&trim.mu);
	return NULL;
}

void fs_mem_start(struct lsmfs *fs)
{
	pthread_mutex_lock(&trim.mu);
	trim.fs = fs;
	trim.stop = false;
	if (!trim.started &&
	    pthread_create(&trim.th, NULL, trim_main, NULL) == 0)
		trim.started = true;
	pthread_mutex_unlock(&trim.mu);
	if (!trim.started)
		fs_log(FS_LOG_WARN, "cannot start the memory trimming thread");
}

void fs_mem_stop(void)
{
	pthread_mutex_lock(&trim.mu);
	trim.stop = true;
	pthread_cond_broadcast(&trim.cv);
	pthread_mutex_unlock(&trim.mu);
	if (trim.started)
		pthread_join(trim.th, NULL);
	trim.started = false;
}

void fs_mem_trim(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
