/* test_follow.c - a read-only open that follows a store another handle or
 * process writes: what it shows is always a prefix of the writer's
 * history (no gap, no later key without the earlier ones, never
 * backwards), through flushes, compactions that delete tables it still
 * reads, the writer's kill -9 and restart. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "support.h"

#define BATCH 7

static void writer_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 32 << 10; /* many flushes */
	o->table_bytes = 16 << 10;    /* and compactions */
	o->level1_bytes = 64 << 10;
	o->l0_compaction_trigger = 2;
	o->io = test_io_nosync();
}

static void follower_options(struct lsm_options *o, unsigned interval)
{
	lsm_options_init(o);
	o->read_only = true;
	o->follow = true;
	o->follow_interval_ms = interval;
	o->max_open_tables = 16; /* ignored: a follower pins its tables */
	o->cache_bytes = 64 << 10;
}

static void key_of(long i, char *k)
{
	snprintf(k, 24, "k%07ld", i);
}

/* Writes keys FROM..TO-1 in batches of BATCH (each batch atomic). */
static void write_range(struct lsm_db *db, long from, long to)
{
	struct lsm_batch *b = lsm_batch_new();
	char k[24], v[96];

	assert_non_null(b);
	for (long i = from; i < to;) {
		lsm_batch_clear(b);
		for (int j = 0; j < BATCH && i < to; j++, i++) {
			key_of(i, k);
			snprintf(v, sizeof(v), "value-of-%ld-%040ld", i, i);
			assert_int_equal(lsm_batch_put(b, k, strlen(k), v,
						       strlen(v)), 0);
		}
		assert_int_equal(lsm_write(db, b, 0, NULL), 0);
	}
	lsm_batch_free(b);
}

/* The number of keys the follower shows, which must be k0..k(n-1) with
 * the right values: a prefix of the writer's history. */
static long prefix_len(struct lsm_db *f)
{
	struct lsm_iter *it;
	struct lsm_err err = { 0 };
	long n = 0;
	char k[24], v[96];

	assert_int_equal(lsm_iter_new(f, NULL, &it, &err), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const void *kp = lsm_iter_key(it, &kl);
		const void *vp = lsm_iter_value(it, &vl);

		key_of(n, k);
		snprintf(v, sizeof(v), "value-of-%ld-%040ld", n, n);
		if (kl != strlen(k) || memcmp(kp, k, kl) ||
		    vl != strlen(v) || memcmp(vp, v, vl))
			fail_msg("follower shows '%.*s' where %s belongs: not a "
				 "prefix", (int)kl, (const char *)kp, k);
		n++;
	}
	if (lsm_iter_status(it, &err))
		fail_msg("follower iterator: %s", err.msg);
	lsm_iter_free(it);
	return n;
}

static struct lsm_db *open_follower(const char *dir, unsigned interval)
{
	struct lsm_options o;
	struct lsm_db *f = NULL;
	struct lsm_err err = { 0 };
	int rc;

	follower_options(&o, interval);
	rc = lsm_open(dir, &o, &f, &err);
	if (rc)
		fprintf(stderr, "follower open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return f;
}

/* A writer and a follower in one process: each catch-up shows exactly
 * what was written before it (the writer's writes are acknowledged, the
 * log is in the page cache), through flushes and compactions. */
static void test_follow_catches_up(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *w, *f;
	struct lsm_err err = { 0 };
	const struct lsm_snapshot *snap;
	long written = 0, seen = 0, at_snap;

	writer_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	write_range(w, 0, 100);
	written = 100;
	f = open_follower(tdir_root(d), 0);
	assert_int_equal(prefix_len(f), 100);
	snap = lsm_snapshot_new(f);
	at_snap = 100;
	for (int round = 0; round < 60; round++) {
		long more = 50 + round * 13;

		write_range(w, written, written + more);
		written += more;
		if (round % 7 == 3)
			assert_int_equal(lsm_flush(w, NULL), 0);
		if (round % 11 == 5)
			assert_int_equal(lsm_compact_range(w, NULL, 0, NULL, 0,
							   NULL), 0);
		if (lsm_catch_up(f, &err) < 0)
			fail_msg("catch up: %s", err.msg);
		seen = prefix_len(f);
		assert_int_equal(seen, written);
	}
	/* the snapshot still shows its state, tables compacted away or not */
	{
		struct lsm_iter *it;
		long n = 0;

		assert_int_equal(lsm_iter_new(f, snap, &it, NULL), 0);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it);
		     lsm_iter_next(it))
			n++;
		assert_int_equal(lsm_iter_status(it, NULL), 0);
		assert_int_equal(n, at_snap);
		lsm_iter_free(it);
	}
	lsm_snapshot_release(f, snap);
	/* writes to a follower are refused */
	assert_int_equal(lsm_put(f, "x", 1, "y", 1, NULL), -EROFS);
	assert_int_equal(lsm_close(f, NULL), 0);
	assert_int_equal(lsm_close(w, NULL), 0);
}

/* An iterator opened before compactions deleted every table it reads
 * keeps reading them (the follower holds them open). */
static void test_follow_pins_tables(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *w, *f;
	struct lsm_iter *it;
	long n = 0;

	writer_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	write_range(w, 0, 3000);
	assert_int_equal(lsm_flush(w, NULL), 0);
	f = open_follower(tdir_root(d), 0);
	assert_int_equal(lsm_iter_new(f, NULL, &it, NULL), 0);
	for (int i = 0; i < 5; i++) { /* rewrite everything, compact */
		write_range(w, 0, 3000);
		assert_int_equal(lsm_compact_range(w, NULL, 0, NULL, 0, NULL),
				 0);
		assert_true(lsm_catch_up(f, NULL) >= 0);
	}
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		n++;
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	assert_int_equal(n, 3000);
	lsm_iter_free(it);
	assert_int_equal(prefix_len(f), 3000);
	assert_int_equal(lsm_close(f, NULL), 0);
	assert_int_equal(lsm_close(w, NULL), 0);
}

/* A writer process that appends until killed; it resumes after the keys
 * it finds. */
static pid_t spawn_writer(const char *dir)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct lsm_options o;
		struct lsm_db *w;
		struct lsm_iter *it;
		long n = 0;

		writer_options(&o);
		o.io = NULL;
		struct lsm_err e = { 0 };

		if (lsm_open(dir, &o, &w, &e) || lsm_iter_new(w, NULL, &it,
							       NULL)) {
			fprintf(stderr, "writer: %s\n", e.msg);
			_exit(2);
		}
		for (lsm_iter_seek_first(it); lsm_iter_valid(it);
		     lsm_iter_next(it))
			n++;
		lsm_iter_free(it);
		/* a bounded life, so that the follower's full checks stay
		 * cheap over many lives: then wait for the kill */
		for (long stop = n + 6000; n < stop; n += BATCH * 3) {
			write_range(w, n, n + BATCH * 3);
			usleep(500); /* still writing while the follower looks */
		}
		for (;;)
			pause();
	}
	return pid;
}

/* Another process writes, flushes and compacts, is killed with SIGKILL
 * and restarted, while the follower's own thread catches up every 10 ms:
 * what it shows only ever grows, and is always a prefix. */
static void test_follow_other_process(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *w, *f;
	long last = 0, n;
	pid_t pid;
	int status, lives = getenv("LSM_FOLLOW_LIVES") ?
			    atoi(getenv("LSM_FOLLOW_LIVES")) : 3;

	writer_options(&o);
	o.io = NULL;
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	write_range(w, 0, 70);
	assert_int_equal(lsm_close(w, NULL), 0);
	f = open_follower(tdir_root(d), 10);
	for (int life = 0; life < lives; life++) {
		pid = spawn_writer(tdir_root(d));
		for (int i = 0; i < 12; i++) {
			struct timespec ts = { 0, 15 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			n = prefix_len(f);
			if (n < last)
				fail_msg("follower went back from %ld to %ld "
					 "keys", last, n);
			last = n;
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fail_msg("writer exited early (status %d)", status);
	}
	assert_true(lsm_catch_up(f, NULL) >= 0);
	n = prefix_len(f);
	assert_true(n >= last);
	assert_true(n > 70); /* it did follow */
	fprintf(stderr, "follower saw %ld keys\n", n);
	assert_int_equal(lsm_close(f, NULL), 0);
}

static void test_follow_needs_read_only(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *w;
	struct lsm_err err = { 0 };

	writer_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	assert_int_equal(lsm_catch_up(w, &err), -EINVAL);
	assert_int_equal(lsm_close(w, NULL), 0);
	writer_options(&o);
	o.follow = true;
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "read-only"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
	const struct CMUnitTest tests[] = {
		T(test_follow_catches_up),
		T(test_follow_pins_tables),
		T(test_follow_other_process),
		T(test_follow_needs_read_only),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
