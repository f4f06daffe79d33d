/* powercut.c - SIGUSR1 as a power cut for lsmfs-test (see powercut.h).
 * The cut runs in a thread of its own that waits in sigwait(), not in a
 * signal handler: faulty_io takes locks and waits for the calls in flight,
 * so that an fsync that returned is honoured.  Nothing is closed after the
 * cut: the kernel sees the FUSE connection drop as the process ends. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faulty_io.h"
#include "lsm_io.h"
#include "powercut.h"

static struct faulty_io *cut_fio;
static bool cut_random;
static unsigned long long cut_seed;

static void *cut_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0, rc;

	while (sigwait(set, &sig) != 0 || sig != SIGUSR1) {
	}
	rc = cut_random ? faulty_io_power_cut_random(cut_fio, cut_seed)
			: faulty_io_power_cut(cut_fio);
	fprintf(stderr, "lsmfs-test: power cut%s: %s\n",
		cut_random ? " (random)" : "", rc ? strerror(-rc) : "done");
	_exit(rc ? 2 : 0);
}

int powercut_arm(struct lsm_options *lo, const char *seed)
{
	static sigset_t set;
	pthread_t t;
	char *end;
	int rc;

	if (seed) {
		errno = 0;
		cut_seed = strtoull(seed, &end, 0);
		if (!*seed || *end || errno) {
			fprintf(stderr, "lsmfs: bad value '%s' for -o "
				"test_powercut: not a number\n", seed);
			return -1;
		}
		cut_random = true;
	}
	cut_fio = faulty_io_new(lsm_io_posix());
	if (!cut_fio) {
		fprintf(stderr, "lsmfs: test_powercut: out of memory\n");
		return -1;
	}
	faulty_io_allow_preallocate(cut_fio); /* as lsm_io_posix does */
	lo->io = &cut_fio->io;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc == 0)
		rc = pthread_create(&t, NULL, cut_thread, &set);
	if (rc == 0)
		rc = pthread_detach(t);
	if (rc) {
		fprintf(stderr, "lsmfs: test_powercut: %s\n", strerror(rc));
		return -1;
	}
	fprintf(stderr, "lsmfs-test: SIGUSR1 (pid %ld) cuts the power\n",
		(long)getpid());
	return 0;
}
