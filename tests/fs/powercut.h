/* powercut.h - the power cut of lsmfs-test, the test build of the daemon
 * (fs/main.c compiled with -DLSMFS_TEST_POWERCUT; never installed).
 * `-o test_powercut[=SEED]` runs the engine on tests/support/faulty_io;
 * SIGUSR1 then drops from the data directory everything that was not
 * synced, as faulty_io models it, and ends the daemon at once with
 * _exit(0), the store left open: the state a machine reboots into. */
#ifndef LSMFS_TEST_POWERCUT_H
#define LSMFS_TEST_POWERCUT_H

#include "lsm.h"

/* Makes LO's engine use faulty_io and starts the thread that waits for
 * SIGUSR1 (blocked in the calling thread, so in every thread it starts
 * later).  SEED NULL: the cut loses every unsynced byte and directory
 * change (faulty_io_power_cut); a number: what survives is chosen at
 * random from it (faulty_io_power_cut_random).  Call once, after any
 * fork and before lsm_open.  -1 after printing a one-line message. */
int powercut_arm(struct lsm_options *lo, const char *seed);

#endif /* LSMFS_TEST_POWERCUT_H */
