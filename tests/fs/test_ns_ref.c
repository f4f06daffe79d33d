/* test_ns_ref.c - ns_lookup_ref against a concurrent unlink, with the
 * interleaving forced rather than hoped for: an lsm_io wrapper stops the
 * looking-up thread inside its last block read (the inode record's; the
 * entry was already read), the unlink runs meanwhile, then the lookup is let
 * go.  Whatever it returned must still be there while its reference is held
 * (FUSE hands that inode to the kernel); a lookup that found the name before
 * the unlink and took its reference after the unlink reclaimed the inode
 * would hand out an inode with no record. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "lsm_io.h"
#include "ns.h"
#include "support.h"

#define NAME "victim"

/* An lsm_io passing everything to POSIX, except that the Nth pread of the
 * target thread waits until released. */
struct pause_io {
	struct lsm_io io;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t target;       /* protected by mu, like all below */
	bool has_target;
	unsigned long reads;    /* preads of target since it was set */
	unsigned long pause_at; /* 0: never */
	bool paused, released;
};

static struct pause_io pio;

static ssize_t pause_pread(const struct lsm_io *io, int fd, void *buf,
			   size_t n, uint64_t off)
{
	const struct lsm_io *posix = lsm_io_posix();

	(void)io;
	pthread_mutex_lock(&pio.mu);
	if (pio.has_target && pthread_equal(pio.target, pthread_self()) &&
	    ++pio.reads == pio.pause_at) {
		pio.paused = true;
		pthread_cond_broadcast(&pio.cv);
		while (!pio.released)
			pthread_cond_wait(&pio.cv, &pio.mu);
	}
	pthread_mutex_unlock(&pio.mu);
	return posix->pread(posix, fd, buf, n, off);
}

/* Makes the calling thread the target: its PAUSE_AT-th pread from now
 * waits (0: none does); its reads are counted from 0. */
static void pause_target(unsigned long pause_at)
{
	pthread_mutex_lock(&pio.mu);
	pio.target = pthread_self();
	pio.has_target = true;
	pio.reads = 0;
	pio.pause_at = pause_at;
	pio.paused = pio.released = false;
	pthread_mutex_unlock(&pio.mu);
}

static unsigned long target_reads(void)
{
	unsigned long n;

	pthread_mutex_lock(&pio.mu);
	n = pio.reads;
	pio.has_target = false;
	pthread_mutex_unlock(&pio.mu);
	return n;
}

struct fx {
	struct tdir *d;
	struct lsm_db *db;
	struct ns *ns;
};

static struct fx fx;

static int setup(void **state)
{
	struct lsm_options o;
	struct lsm_err err = { 0 };
	int rc;

	(void)state;
	pio.io = *lsm_io_posix();
	pio.io.pread = pause_pread;
	pthread_mutex_init(&pio.mu, NULL);
	pthread_cond_init(&pio.cv, NULL);
	fx.d = tdir_new();
	lsm_options_init(&o);
	o.io = &pio.io;
	o.cache_bytes = 0; /* every get reads its block */
	rc = lsm_open(tdir_root(fx.d), &o, &fx.db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	rc = ns_open(fx.db, NULL, &fx.ns, &err);
	if (rc)
		fprintf(stderr, "ns_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ns_close(fx.ns);
	assert_int_equal(lsm_close(fx.db, NULL), 0);
	tdir_free(fx.d);
	pthread_cond_destroy(&pio.cv);
	pthread_mutex_destroy(&pio.mu);
	return 0;
}

struct lookup_job {
	unsigned long pause_at;
	struct ns_attr a;
	int rc;
};

static bool lookup_done; /* protected by pio.mu */

static void *lookup_thread(void *arg)
{
	struct lookup_job *j = arg;

	pause_target(j->pause_at);
	j->rc = ns_lookup_ref(fx.ns, CODEC_ROOT_INO, NAME, &j->a, NULL);
	target_reads();
	pthread_mutex_lock(&pio.mu);
	lookup_done = true;
	pthread_cond_broadcast(&pio.cv);
	pthread_mutex_unlock(&pio.mu);
	return NULL;
}

static bool unlink_done; /* protected by pio.mu */
static int unlink_rc;

static void *unlink_thread(void *arg)
{
	(void)arg;
	unlink_rc = ns_unlink(fx.ns, CODEC_ROOT_INO, NAME, NULL);
	pthread_mutex_lock(&pio.mu);
	unlink_done = true;
	pthread_cond_broadcast(&pio.cv);
	pthread_mutex_unlock(&pio.mu);
	return NULL;
}

/* Lets the unlink run while the lookup is stopped: until it is done, or
 * for half a second if it waits for the lookup (as it should). */
static void let_unlink_run(pthread_t *t)
{
	struct timespec until;

	assert_int_equal(pthread_create(t, NULL, unlink_thread, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 500 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pio.mu);
	while (!unlink_done &&
	       pthread_cond_timedwait(&pio.cv, &pio.mu, &until) == 0)
		;
	pio.released = true;
	pthread_cond_broadcast(&pio.cv);
	pthread_mutex_unlock(&pio.mu);
}

static void test_lookup_ref_vs_unlink(void **state)
{
	struct ns_cred c = { 0, 0, 022 };
	struct lookup_job j = { 0 };
	struct ns_attr a;
	pthread_t lt, ut;
	unsigned long reads;

	(void)state;
	assert_int_equal(ns_mknod(fx.ns, CODEC_ROOT_INO, NAME, S_IFREG | 0644,
				  0, &c, NULL, &a, NULL), 0);
	assert_int_equal(lsm_flush(fx.db, NULL), 0); /* reads go to a table */

	/* How many block reads one lookup makes, once the first one has
	 * opened the table. */
	for (int i = 0; i < 2; i++) {
		pause_target(0);
		assert_int_equal(ns_lookup_ref(fx.ns, CODEC_ROOT_INO, NAME,
					       &j.a, NULL), 0);
		reads = target_reads();
		assert_int_equal(ns_close_ref(fx.ns, j.a.ino, NULL), 0);
	}
	/* The entry, then the inode record: stopping in the last read stops
	 * the lookup between finding the name and taking the reference. */
	assert_true(reads >= 2);

	j.pause_at = reads;
	assert_int_equal(pthread_create(&lt, NULL, lookup_thread, &j), 0);
	pthread_mutex_lock(&pio.mu);
	while (!pio.paused && !lookup_done)
		pthread_cond_wait(&pio.cv, &pio.mu);
	pthread_mutex_unlock(&pio.mu);
	assert_true(pio.paused); /* else it read less than before */
	let_unlink_run(&ut);
	assert_int_equal(pthread_join(lt, NULL), 0);
	assert_int_equal(pthread_join(ut, NULL), 0);
	assert_int_equal(unlink_rc, 0);

	/* Either outcome is linearisable, but a found inode must be held. */
	if (j.rc == -ENOENT)
		return;
	assert_int_equal(j.rc, 0);
	assert_int_equal(j.a.ino, a.ino);
	assert_int_equal(ns_getattr(fx.ns, j.a.ino, &a, NULL), 0);
	assert_int_equal(a.in.nlink, 0); /* an orphan, kept for the ref */
	assert_int_equal(ns_close_ref(fx.ns, j.a.ino, NULL), 0);
	assert_int_equal(ns_getattr(fx.ns, j.a.ino, &a, NULL), -ENOENT);
	assert_int_equal(ns_lookup_ref(fx.ns, CODEC_ROOT_INO, NAME, &a, NULL),
			 -ENOENT);
}

/* The plain contract: a miss takes nothing; a hit holds the inode across
 * an unlink until the reference goes. */
static void test_lookup_ref_holds(void **state)
{
	struct ns_cred c = { 0, 0, 022 };
	struct ns_attr a, b;

	(void)state;
	assert_int_equal(ns_lookup_ref(fx.ns, CODEC_ROOT_INO, "nothing", &a,
				       NULL), -ENOENT);
	assert_int_equal(ns_mknod(fx.ns, CODEC_ROOT_INO, "held", S_IFREG | 0644,
				  0, &c, NULL, &a, NULL), 0);
	assert_int_equal(ns_lookup_ref(fx.ns, CODEC_ROOT_INO, "held", &b,
				       NULL), 0);
	assert_int_equal(b.ino, a.ino);
	assert_int_equal(b.in.nlink, 1);
	assert_int_equal(ns_unlink(fx.ns, CODEC_ROOT_INO, "held", NULL), 0);
	assert_int_equal(ns_getattr(fx.ns, a.ino, &b, NULL), 0);
	assert_int_equal(b.in.nlink, 0);
	assert_int_equal(ns_lookup_ref(fx.ns, CODEC_ROOT_INO, "held", &b,
				       NULL), -ENOENT);
	assert_int_equal(ns_close_ref(fx.ns, a.ino, NULL), 0);
	assert_int_equal(ns_getattr(fx.ns, a.ino, &b, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_ref_vs_unlink,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_ref_holds, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
