/* test_cursor.c - replicate/cursor.c, the sender's view of a primary's
 * log: every record delivered once, in order, without a gap, across
 * segment switches and the archive; the writer's in-between states (a
 * flushed segment dropped from the manifest but not yet archived) never
 * make it skip a segment; a log that really lacks records is refused
 * (-ERANGE: bootstrap), never streamed past. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "lsm_files.h"
#include "repl.h"

#define PUTS 3000

struct store {
	char dir[64];
	uint64_t last_seq;
};

/* The store in DIR opened for writing: 32 KiB memtables, every segment
 * archived. */
static struct lsm_db *open_writer(const char *dir)
{
	struct lsm_options o;
	struct lsm_err err = { 0 };
	struct lsm_db *db = NULL;

	lsm_options_init(&o);
	o.memtable_bytes = 32 << 10;
	o.wal_archive_bytes = 1ull << 30;
	assert_int_equal(lsm_open(dir, &o, &db, &err), 0);
	return db;
}

/* A store with many small archived segments: PUTS puts of about 300
 * bytes. */
static void make_store(struct store *s)
{
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	char key[32], val[300];

	strcpy(s->dir, "/tmp/test_cursor.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	db = open_writer(s->dir);
	memset(val, 'v', sizeof(val));
	for (int i = 0; i < PUTS; i++) {
		int n = snprintf(key, sizeof(key), "key%06d", i);

		assert_int_equal(lsm_put(db, key, (size_t)n, val, sizeof(val),
					 &err), 0);
	}
	s->last_seq = lsm_last_seq(db);
	assert_int_equal(lsm_close(db, &err), 0);
}

static void rm_store(struct store *s)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	assert_int_equal(system(cmd), 0);
}

/* The archived segments, ascending (at least 3 for these tests). */
static size_t archived(const char *dir, uint64_t *nums, size_t cap)
{
	struct lsm_files *f = NULL;
	struct lsm_err err = { 0 };
	size_t n = 0;

	assert_int_equal(lsm_files_list(dir, &f, &err), 0);
	for (size_t i = 0; i < f->narchive && n < cap; i++)
		nums[n++] = f->archive[i].number;
	lsm_files_free(f);
	return n;
}

struct seen {
	uint64_t next; /* the sequence the next record must start at */
	uint64_t records;
};

static int on_record(void *ctx, const struct lsm_log_record *r)
{
	struct seen *s = ctx;

	assert_int_equal(r->seq, s->next);
	s->next = r->seq + r->count;
	s->records++;
	return 0;
}

/* Reads the cursor dry; the first error, or 0. */
static int drain(struct cursor *c, struct seen *s, struct lsm_err *err)
{
	for (int i = 0; i < 100000; i++) {
		int n = cursor_next(c, 1 << 20, on_record, s, err);

		if (n <= 0)
			return n;
	}
	fail_msg("the cursor never ran dry");
	return -1;
}

static void test_reads_everything(void **state)
{
	struct store s;
	struct cursor *c = NULL;
	struct lsm_err err = { 0 };
	struct seen seen = { .next = 1 };

	(void)state;
	make_store(&s);
	assert_int_equal(cursor_open(s.dir, 0, false, &c, &err), 0);
	assert_int_equal(drain(c, &seen, &err), 0);
	assert_int_equal(seen.next, s.last_seq + 1);
	assert_int_equal(cursor_seq(c), s.last_seq);
	cursor_free(c);
	rm_store(&s);
}

/* A flushed segment the manifest no longer names, still in the live
 * directory (the writer has not moved it to the archive yet): its
 * records are delivered, from a cursor started before it and from one
 * started inside it. */
static void test_segment_between_manifest_and_archive(void **state)
{
	struct store s;
	uint64_t nums[512];
	char from[160], to[160];
	size_t n;

	(void)state;
	make_store(&s);
	n = archived(s.dir, nums, 512);
	assert_true(n >= 4);
	snprintf(from, sizeof(from), "%s/archive/%06llu.wal", s.dir,
		 (unsigned long long)nums[n / 2]);
	snprintf(to, sizeof(to), "%s/%06llu.wal", s.dir,
		 (unsigned long long)nums[n / 2]);
	assert_int_equal(rename(from, to), 0);

	for (uint64_t at = 0; at <= s.last_seq; at += s.last_seq / 7 + 1) {
		struct cursor *c = NULL;
		struct lsm_err err = { 0 };
		struct seen seen = { .next = at + 1 };

		assert_int_equal(cursor_open(s.dir, at, false, &c, &err), 0);
		assert_int_equal(drain(c, &seen, &err), 0);
		assert_int_equal(seen.next, s.last_seq + 1);
		cursor_free(c);
	}
	rm_store(&s);
}

/* A segment that is really gone from the middle of the archive: a
 * cursor before it stops with -ERANGE when it gets there, one opened
 * right before it is refused at once, and nothing past it is delivered
 * by either. */
static void test_missing_segment_is_refused(void **state)
{
	struct store s;
	uint64_t nums[512];
	char path[160];
	struct cursor *c = NULL;
	struct lsm_err err = { 0 };
	struct seen seen = { .next = 1 };
	size_t n;
	int rc;

	(void)state;
	make_store(&s);
	n = archived(s.dir, nums, 512);
	assert_true(n >= 4);
	snprintf(path, sizeof(path), "%s/archive/%06llu.wal", s.dir,
		 (unsigned long long)nums[n / 2]);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(cursor_open(s.dir, 0, false, &c, &err), 0);
	rc = drain(c, &seen, &err);
	assert_int_equal(rc, -ERANGE);
	assert_non_null(strstr(err.msg, "skips"));
	assert_true(seen.next < s.last_seq);
	/* a new session from where the replica got to: a bootstrap */
	cursor_free(c);
	c = NULL;
	rc = cursor_open(s.dir, seen.next - 1, false, &c, &err);
	assert_int_equal(rc, -ERANGE);
	assert_null(c);
	rm_store(&s);
}

/* Up to date, then the writer goes on: the records appended after the
 * cursor opened are all delivered, from the first one. */
static void test_up_to_date_then_more(void **state)
{
	struct store s;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct cursor *c = NULL;
	struct seen seen;

	(void)state;
	make_store(&s);
	db = open_writer(s.dir);
	s.last_seq = lsm_last_seq(db);
	assert_int_equal(cursor_open(s.dir, s.last_seq, false, &c, &err), 0);
	seen.next = s.last_seq + 1;
	seen.records = 0;
	for (int i = 0; i < 500; i++) {
		char key[32];
		int k = snprintf(key, sizeof(key), "more%06d", i);

		assert_int_equal(lsm_put(db, key, (size_t)k, "x", 1, &err),
				 0);
		if (i % 50 == 0)
			assert_true(drain(c, &seen, &err) >= 0);
	}
	assert_int_equal(lsm_sync(db, &err), 0);
	assert_int_equal(drain(c, &seen, &err), 0);
	assert_int_equal(seen.next, lsm_last_seq(db) + 1);
	cursor_free(c);
	assert_int_equal(lsm_close(db, &err), 0);
	rm_store(&s);
}

/* The primary's newest records in tables only: its recovery flushed them,
 * and their segment is gone from the archive (pruned on a full disk).  A
 * replica at the primary's last sequence is up to date (and gets what is
 * written next), one before it needs a bootstrap, one past it a rebuild.
 * (Before, the up-to-date one was rebuilt at every session: the
 * hour-long soak looped on it.) */
static void test_newest_records_in_tables_only(void **state)
{
	struct store s;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct cursor *c = NULL;
	uint64_t nums[512];
	char path[160];
	struct seen seen;
	size_t n;

	(void)state;
	make_store(&s);
	/* a reopen: the recovery turns the log into a table */
	assert_int_equal(lsm_close(open_writer(s.dir), &err), 0);
	n = archived(s.dir, nums, 512);
	assert_true(n >= 2);
	snprintf(path, sizeof(path), "%s/archive/%06llu.wal", s.dir,
		 (unsigned long long)nums[n - 1]);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(cursor_open(s.dir, s.last_seq, false, &c, &err), 0);
	assert_int_equal(cursor_open(s.dir, s.last_seq - 1, false,
				     &(struct cursor *){ NULL }, &err),
			 -ERANGE);
	assert_int_equal(cursor_open(s.dir, s.last_seq + 1, false,
				     &(struct cursor *){ NULL }, &err),
			 -EXDEV);
	/* the up-to-date cursor gets what comes next */
	db = open_writer(s.dir);
	assert_int_equal(lsm_put(db, "next", 4, "v", 1, &err), 0);
	assert_int_equal(lsm_sync(db, &err), 0);
	seen.next = s.last_seq + 1;
	seen.records = 0;
	assert_int_equal(drain(c, &seen, &err), 0);
	assert_int_equal(seen.records, 1);
	cursor_free(c);
	assert_int_equal(lsm_close(db, &err), 0);
	rm_store(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_everything),
		cmocka_unit_test(test_segment_between_manifest_and_archive),
		cmocka_unit_test(test_missing_segment_is_refused),
		cmocka_unit_test(test_up_to_date_then_more),
		cmocka_unit_test(test_newest_records_in_tables_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
