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

/* Writes keys 0..N-1 as "TAG-i-..." (then flushes when FLUSH; the rest
 * stays in the log: close does not flush). */
static void fill(const char *dir, const char *tag, long from, long n,
		 bool flush)
{
	struct lsm_options o;
	struct lsm_db *w;
	struct lsm_err err = { 0 };
	char k[24], v[96];

	writer_options(&o);
	assert_int_equal(lsm_open(dir, &o, &w, &err), 0);
	for (long i = from; i < n; i++) {
		key_of(i, k);
		snprintf(v, sizeof(v), "%s-%ld-%040ld", tag, i, i);
		assert_int_equal(lsm_put(w, k, strlen(k), v, strlen(v), &err),
				 0);
	}
	if (flush)
		assert_int_equal(lsm_flush(w, &err), 0);
	assert_int_equal(lsm_close(w, &err), 0);
}

/* Every key 0..N-1 reads as TAG's, by get and by a scan. */
static void expect_tag(struct lsm_db *f, const char *tag, long n)
{
	struct lsm_iter *it;
	struct lsm_err err = { 0 };
	char k[24], v[96];
	long i = 0;

	for (long j = 0; j < n; j++) {
		char got[96];
		size_t len = 0;

		key_of(j, k);
		snprintf(v, sizeof(v), "%s-%ld-%040ld", tag, j, j);
		assert_int_equal(lsm_get_buf(f, NULL, k, strlen(k), got,
					     sizeof(got), &len, &err), 1);
		if (len != strlen(v) || memcmp(got, v, len))
			fail_msg("%s reads '%.*s', not '%s'", k, (int)len, got,
				 v);
	}
	assert_int_equal(lsm_iter_new(f, NULL, &it, &err), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t vl;
		const void *vp = lsm_iter_value(it, &vl);

		snprintf(v, sizeof(v), "%s-%ld-%040ld", tag, i, i);
		if (vl != strlen(v) || memcmp(vp, v, vl))
			fail_msg("scan: '%.*s' where '%s' belongs", (int)vl,
				 (const char *)vp, v);
		i++;
	}
	assert_int_equal(lsm_iter_status(it, &err), 0);
	lsm_iter_free(it);
	assert_int_equal(i, n);
}

/* A step over store directories A and B: "copy" A to B, "install"
 * A over B (as a replica's bootstrap does: CURRENT and tables go, the new
 * files come). */
static void sh(const char *what, const char *a, const char *b)
{
	char cmd[1024];

	if (!strcmp(what, "copy"))
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", a, b);
	else if (!strcmp(what, "clone")) /* tables shared, as a bootstrap
					    * keeps the files it reuses */
		snprintf(cmd, sizeof(cmd), "mkdir '%s' && ln '%s'/*.sst '%s'/ "
			 "&& cd '%s' && for f in *; do case $f in *.sst) ;; "
			 "*) cp -a \"$f\" '%s'/;; esac; done", b, a, b, a, b);
	else if (!strcmp(what, "install-linked"))
		snprintf(cmd, sizeof(cmd), "cd '%s' && rm -f CURRENT *.sst *.wal "
			 "MANIFEST-* && ln '%s'/*.sst . && cp -a '%s'/*.wal "
			 "'%s'/MANIFEST-* . && cp -a '%s'/CURRENT .", b, a, a,
			 a, a);
	else if (!strcmp(what, "install"))
		snprintf(cmd, sizeof(cmd), "cd '%s' && rm -f CURRENT *.sst *.wal MANIFEST-* && "
			 "cp -a '%s'/. '%s'/", b, a, b);
	else
		fail_msg("no such step: %s", what);
	assert_int_equal(system(cmd), 0);
}

/* A replica's bootstrap or rebuild replaces the store a follower reads
 * with a copy of the same history (same identity and generation) whose
 * files reuse the old names for other contents: tables of the same
 * number, a manifest and a log segment of the same number.  After a
 * catch-up the follower shows the new store only: no table it held
 * open, no block it cached, no memtable entry of the old one. */
static void replaced_case(void **state, bool reopen)
{
	struct tdir *d = *state;
	char *old = strdup(tdir_path(d, "old")), *new = strdup(tdir_path(d,
								    "new"));
	struct lsm_db *f;
	struct lsm_err err = { 0 };
	const long n = 1500;

	assert_non_null(old);
	assert_non_null(new);
	/* one history, copied, then going two ways with the same steps */
	fill(old, "base", 0, n, true);
	sh("copy", old, new);
	fill(old, "old", 0, n, true);
	fill(new, "new", 0, n, true);
	if (reopen) /* another manifest number, the same table numbers */
		fill(new, "new", 0, 0, false);
	fill(old, "old", n, n + 300, false); /* a log tail in each */
	fill(new, "new", n, n + 300, false);

	f = open_follower(old, 0);
	expect_tag(f, "old", n + 300); /* tables open, blocks cached */
	/* the install: the old files go, the new ones come, CURRENT last */
	sh("install", new, old);
	if (lsm_catch_up(f, &err) < 0)
		fail_msg("catch-up after the install: %s", err.msg);
	expect_tag(f, "new", n + 300);
	/* and it goes on following the new one */
	fill(old, "new", n + 300, n + 400, false);
	assert_true(lsm_catch_up(f, NULL) >= 0);
	expect_tag(f, "new", n + 400);
	assert_int_equal(lsm_close(f, NULL), 0);
	free(old);
	free(new);
}

/* The store is replaced twice without the follower seeing a file it
 * holds open change (the files the copies share are the same files):
 * first by one that lacks a table the follower had read, then by one
 * that has a table of that number with other contents.  The follower
 * closed the first when the middle store dropped it; the new one must
 * not be served from blocks cached for the old. */
static void test_follow_number_reused_later(void **state)
{
	struct tdir *d = *state;
	char *base = strdup(tdir_path(d, "base"));
	char *old = strdup(tdir_path(d, "old"));
	char *mid = strdup(tdir_path(d, "mid"));
	char *new = strdup(tdir_path(d, "new"));
	struct lsm_db *f;
	struct lsm_err err = { 0 };
	const long n = 1500;

	fill(base, "base", 0, n, true);
	sh("clone", base, old);
	sh("clone", base, mid);
	sh("clone", base, new);
	fill(old, "old", 0, n, true);
	fill(new, "new", 0, n, true);
	fill(new, "new", 0, 0, false); /* another manifest number */

	{
		struct lsm_options o;

		follower_options(&o, 0);
		o.cache_bytes = 8 << 20; /* every block stays cached */
		assert_int_equal(lsm_open(old, &o, &f, &err), 0);
	}
	expect_tag(f, "old", n); /* the old tables' blocks cached */
	sh("install-linked", mid, old);
	if (lsm_catch_up(f, &err) < 0)
		fail_msg("catch-up after the first install: %s", err.msg);
	expect_tag(f, "base", n);
	sh("install-linked", new, old);
	if (lsm_catch_up(f, &err) < 0)
		fail_msg("catch-up after the second install: %s", err.msg);
	expect_tag(f, "new", n);
	assert_int_equal(lsm_close(f, NULL), 0);
	free(base);
	free(old);
	free(mid);
	free(new);
}

static void test_follow_store_replaced(void **state)
{
	replaced_case(state, false);
}

static void test_follow_store_replaced_renumbered(void **state)
{
	replaced_case(state, true);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
	const struct CMUnitTest tests[] = {
		T(test_follow_catches_up),
		T(test_follow_pins_tables),
		T(test_follow_other_process),
		T(test_follow_needs_read_only),
		T(test_follow_store_replaced),
		T(test_follow_store_replaced_renumbered),
		T(test_follow_number_reused_later),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
