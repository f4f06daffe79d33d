/* failmalloc.h - allocation failure injection for tests.
 *
 * A test executable built with failmalloc_dep (tests/support/meson.build)
 * is linked with -Wl,--wrap=malloc,calloc,realloc,free,strdup,strndup,
 * posix_memalign,opendir: every such call in its own objects and in the
 * static libraries linked into it (liblsm, lsmfs_ns, the test support
 * library) goes through the wrappers here.  Calls made inside shared
 * libraries (libc's own, cmocka's, zlib's) are not seen.
 *
 * While armed, the wrappers count the allocation calls (free excepted)
 * of every thread, and the Nth counted call fails as out of memory would
 * (NULL with errno ENOMEM; posix_memalign returns ENOMEM) - once, or that
 * call and every later one.  A thread can exempt its own calls
 * (failmalloc_pause), e.g. a test's bookkeeping inside an armed region.
 * Independently of arming, the wrappers keep a count of the blocks they
 * handed out and that are not yet freed (failmalloc_live), so a test can
 * check that a run freed everything it allocated, also without ASan. */
#ifndef LSM_TEST_FAILMALLOC_H
#define LSM_TEST_FAILMALLOC_H

#include <stdbool.h>

/* Starts counting from 0; the NTH counted call (1 = the next) fails, and
 * with PERSISTENT every later one too.  NTH 0: count only, fail nothing. */
void failmalloc_arm(unsigned long nth, bool persistent);
/* Stops counting and failing; returns the number of calls counted since
 * failmalloc_arm (the failed ones included). */
unsigned long failmalloc_disarm(void);
/* Calls counted since failmalloc_arm (still armed or not). */
unsigned long failmalloc_count(void);
/* Calls that failed since failmalloc_arm. */
unsigned long failmalloc_failed(void);
/* While ON, the calling thread's allocations are neither counted nor
 * failed. */
void failmalloc_pause(bool on);
/* Blocks handed out by the wrappers and not freed through them. */
long failmalloc_live(void);

#endif /* LSM_TEST_FAILMALLOC_H */
