/* test_recovery.c - what an open makes of a data directory that lost or
 * damaged files: a table or log segment the manifest names that is gone or
 * short refuses the open (never "key not found"), a torn tail after a
 * crash is cut off before a newer segment exists, format features gate the
 * open, and a store written before format features still opens. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "filename.h"
#include "lsm.h"
#include "lsm_tool.h"
#include "support.h"
#include "version.h"
#include "wal.h"

#define NKEYS 600

static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 16 << 10;
	o->table_bytes = 16 << 10;
	o->level1_bytes = 64 << 10;
	o->max_open_tables = 2; /* tables leave the cache often */
	o->io = test_io_nosync();
}

static struct lsm_db *open_ok(const char *dir, const struct lsm_options *o)
{
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	int rc = lsm_open(dir, o, &db, &err);

	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	return db;
}

static int open_err(const char *dir, const struct lsm_options *o,
		    struct lsm_err *err)
{
	struct lsm_db *db = NULL;
	int rc = lsm_open(dir, o, &db, err);

	if (rc == 0)
		lsm_close(db, NULL);
	return rc;
}

static void key_of(int i, char *k)
{
	snprintf(k, 16, "k%06d", i);
}

static void fill(struct lsm_db *db, int from, int to)
{
	char k[16], v[200];

	for (int i = from; i < to; i++) {
		key_of(i, k);
		memset(v, 'a' + i % 26, sizeof(v));
		snprintf(v, sizeof(v), "value-%d", i);
		assert_int_equal(lsm_put(db, k, strlen(k), v, sizeof(v), NULL),
				 0);
	}
}

/* Number of the first file ending in SUFFIX (largest when LAST). */
static uint64_t find_file(const char *dir, const char *suffix, bool last)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t best = 0, n;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l <= s || strcmp(e->d_name + l - s, suffix))
			continue;
		n = strtoull(e->d_name, NULL, 10);
		if (!best || (last ? n > best : n < best))
			best = n;
	}
	closedir(d);
	assert_true(best > 0);
	return best;
}

static const char *path_of(const char *dir, enum file_kind k, uint64_t n)
{
	static char p[LSM_PATH_MAX];

	assert_int_equal(filename_path(p, dir, k, n), 0);
	return p;
}

/* A store with tables in several levels and closed cleanly. */
static void build(const char *dir)
{
	struct lsm_options o;
	struct lsm_db *db;

	small_options(&o);
	db = open_ok(dir, &o);
	fill(db, 0, NKEYS);
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* A table listed in the manifest that was deleted: the open is refused
 * naming it (it used to open, and its keys read as absent). */
static void test_missing_table_refused(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_err err = { 0 };
	uint64_t t;

	build(tdir_root(d));
	t = find_file(tdir_root(d), ".sst", false);
	assert_int_equal(unlink(path_of(tdir_root(d), FILE_TABLE, t)), 0);
	small_options(&o);
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "missing"));
	assert_non_null(strstr(err.msg, ".sst"));
	o.read_only = true; /* a read-only open sees it too */
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
}

static void test_short_table_refused(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_err err = { 0 };
	uint64_t t;

	build(tdir_root(d));
	t = find_file(tdir_root(d), ".sst", true);
	assert_int_equal(corrupt_truncate(path_of(tdir_root(d), FILE_TABLE, t),
					  -1), 0);
	small_options(&o);
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "bytes, not"));
}

/* A table that disappears while the store is open: every read that needs
 * it is -EUCLEAN, never "absent". */
static void test_table_lost_while_open(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	struct lsm_iter *it;
	char k[16];
	int errors = 0, absent = 0;

	build(tdir_root(d));
	small_options(&o);
	o.background_compaction = false;
	o.cache_bytes = 0;
	db = open_ok(tdir_root(d), &o);
	/* a lookup of every key fills and cycles the 2-slot table cache */
	for (int i = 0; i < NKEYS; i++) {
		void *v;
		size_t n;

		key_of(i, k);
		assert_int_equal(lsm_get(db, NULL, k, strlen(k), &v, &n, NULL),
				 1);
		free(v);
	}
	for (uint64_t t = 1; t < 1000; t++)
		unlink(path_of(tdir_root(d), FILE_TABLE, t));
	for (int i = 0; i < NKEYS; i++) {
		void *v;
		size_t n;
		int rc;

		key_of(i, k);
		rc = lsm_get(db, NULL, k, strlen(k), &v, &n, &err);
		if (rc == 1)
			free(v); /* its table was still open in the cache */
		else if (rc == 0)
			absent++;
		else
			errors++;
		assert_true(rc == 1 || rc == -EUCLEAN);
	}
	assert_int_equal(absent, 0);
	assert_true(errors > 0);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(lsm_iter_new(db, NULL, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it))
		;
	assert_int_equal(lsm_iter_status(it, NULL), -EUCLEAN);
	lsm_iter_free(it);
	lsm_close(db, NULL);
}

/* After a clean close the newest segment is sealed: deleting or cutting it
 * (acknowledged writes lost) refuses the open. */
static void test_sealed_segment_damage_refused(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char copy[LSM_PATH_MAX + 16];
	const char *w;
	uint64_t n;

	small_options(&o);
	o.memtable_bytes = 1 << 20; /* the writes stay in the log */
	db = open_ok(tdir_root(d), &o);
	fill(db, 0, 100);
	assert_int_equal(lsm_close(db, NULL), 0);
	n = find_file(tdir_root(d), ".wal", true);
	w = path_of(tdir_root(d), FILE_WAL, n);
	snprintf(copy, sizeof(copy), "%s.keep", w);
	assert_int_equal(rename(w, copy), 0);
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(rename(copy, w), 0);
	assert_int_equal(corrupt_truncate(w, -10), 0);
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "sealed"));
}

/* A child that writes with every write synced and dies without closing:
 * its newest segment is not sealed. */
static void crash_writer(const char *dir, int from, int to)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct lsm_options o;
		struct lsm_db *db;

		small_options(&o);
		o.memtable_bytes = 1 << 20;
		o.sync = LSM_SYNC_ALWAYS;
		if (lsm_open(dir, &o, &db, NULL))
			_exit(2);
		for (int i = from; i < to; i++) {
			char k[16], v[100];

			key_of(i, k);
			memset(v, 'x', sizeof(v));
			if (lsm_put(db, k, strlen(k), v, sizeof(v), NULL))
				_exit(3);
		}
		_exit(0); /* no close: as kill -9 would leave it */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A torn tail in the newest segment is the write that was never
 * acknowledged: the open drops it, and cuts it off the file before it
 * starts a newer segment (else a crash right then would leave the torn
 * record in the middle of the log, and every later open would fail). */
static void test_torn_tail_cut_before_new_segment(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const char *w;
	long long before;
	uint64_t n;

	crash_writer(tdir_root(d), 0, 50);
	n = find_file(tdir_root(d), ".wal", true);
	w = path_of(tdir_root(d), FILE_WAL, n);
	before = file_size(w);
	assert_true(before > 100);
	/* a record being appended when the writer died: header, no body */
	assert_int_equal(corrupt_truncate(w, before - 7), 0);
	small_options(&o);
	o.read_only = true; /* a read-only open changes nothing */
	db = open_ok(tdir_root(d), &o);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(file_size(w), before - 7);
	o.read_only = false;
	o.memtable_bytes = 1 << 20;
	db = open_ok(tdir_root(d), &o);
	/* the old segment is obsolete now; if it is still there (a crash
	 * before its deletion), its torn record is gone */
	if (file_size(w) >= 0)
		assert_true(file_size(w) < before - 7);
	for (int i = 0; i < 49; i++) {
		char k[16];
		void *v;
		size_t len;

		key_of(i, k);
		assert_int_equal(lsm_get(db, NULL, k, strlen(k), &v, &len,
					 NULL), 1);
		free(v);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* A segment created just before a crash, before the manifest recorded it,
 * is empty and ignored; one with data that the manifest does not know is
 * refused. */
static void test_untracked_segment(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	const char *w;
	uint64_t n;

	crash_writer(tdir_root(d), 0, 20);
	n = find_file(tdir_root(d), ".wal", true);
	w = path_of(tdir_root(d), FILE_WAL, n + 5);
	assert_int_equal(file_write_all(w, "", 0), 0);
	small_options(&o);
	db = open_ok(tdir_root(d), &o);
	assert_int_equal(lsm_close(db, NULL), 0);
	crash_writer(tdir_root(d), 20, 40);
	n = find_file(tdir_root(d), ".wal", true);
	w = path_of(tdir_root(d), FILE_WAL, n + 5);
	assert_int_equal(file_write_all(w, "garbage!", 8), 0);
	assert_int_equal(open_err(tdir_root(d), &o, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "not in the manifest"));
}

/* Appends one version edit to the live manifest of DIR (framed as the
 * engine frames it, by writing it to a scratch log). */
static void append_edit(const char *dir, const uint8_t *rec, size_t len)
{
	char cur[64], path[LSM_PATH_MAX + 80], tmp[LSM_PATH_MAX + 96];
	struct wal_rec r = { rec, len };
	uint8_t *old, *img;
	size_t n, oldlen, ilen;
	char *text = file_read_all(path_of(dir, FILE_CURRENT, 0), &n);
	struct wal *w;

	assert_non_null(text);
	assert_true(n > 1 && n < sizeof(cur));
	memcpy(cur, text, n - 1);
	cur[n - 1] = '\0';
	free(text);
	snprintf(path, sizeof(path), "%s/%s", dir, cur);
	snprintf(tmp, sizeof(tmp), "%s.rec", path);
	assert_int_equal(wal_create(lsm_io_posix(), tmp, &w, NULL), 0);
	assert_int_equal(wal_append(w, &r, 1, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	img = file_read_all(tmp, &ilen);
	old = file_read_all(path, &oldlen);
	assert_true(img && old);
	old = realloc(old, oldlen + ilen);
	assert_non_null(old);
	memcpy(old + oldlen, img, ilen);
	assert_int_equal(file_write_all(path, old, oldlen + ilen), 0);
	free(img);
	free(old);
	unlink(tmp);
}

/* Features this build does not know: incompat refuses any open, ro_compat
 * refuses a writable one; a skippable unknown field is ignored. */
static void test_feature_gates(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct version_edit e;
	struct buf b = BUF_INIT;
	char dir[4096];

	for (int kind = 0; kind < 3; kind++) {
		snprintf(dir, sizeof(dir), "%s/s%d", tdir_root(d), kind);
		build(dir);
		version_edit_init(&e);
		buf_clear(&b);
		if (kind == 2) {
			buf_put_varint(&b, 99); /* unknown, skippable */
			buf_put_lenbytes(&b, "future", 6);
		} else {
			e.has_features = true;
			e.features.incompat = LSM_FEAT_INCOMPAT_WAL_V2;
			if (kind == 0)
				e.features.incompat |= 0x80;
			else
				e.features.ro_compat = 0x4;
			version_edit_encode(&e, &b);
		}
		assert_true(buf_ok(&b));
		append_edit(dir, b.p, b.len);
		small_options(&o);
		if (kind == 0) {
			assert_int_equal(open_err(dir, &o, &err),
					 -EPROTONOSUPPORT);
			assert_non_null(strstr(err.msg, "incompat 0x80"));
			o.read_only = true;
			assert_int_equal(open_err(dir, &o, &err),
					 -EPROTONOSUPPORT);
		} else if (kind == 1) {
			assert_int_equal(open_err(dir, &o, &err), -EROFS);
			assert_non_null(strstr(err.msg, "read-only"));
			o.read_only = true;
			db = open_ok(dir, &o);
			assert_int_equal(lsm_close(db, NULL), 0);
		} else {
			db = open_ok(dir, &o);
			assert_int_equal(lsm_close(db, NULL), 0);
		}
		version_edit_free(&e);
	}
	buf_free(&b);
}

static void count_report(void *ctx, const char *file, uint64_t off,
			 const char *problem)
{
	(void)off;
	fprintf(stderr, "check: %s: %s\n", file, problem);
	++*(unsigned *)ctx;
}

/* The tables a recovery writes from the log are deleted like any other
 * once compacted away: a clean close leaves no leftover. */
static void test_no_leftover_after_recovery(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	unsigned reports = 0, problems = 0;

	crash_writer(tdir_root(d), 0, 300); /* the log holds it all */
	small_options(&o);
	db = open_ok(tdir_root(d), &o);     /* replays it into L0 */
	fill(db, 300, NKEYS);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_check_dir(tdir_root(d), NULL, count_report, NULL,
				       &reports, &problems, NULL), 0);
	assert_int_equal(problems, 0);
	assert_int_equal(reports, 0); /* no "leftover" warning either */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
	const struct CMUnitTest tests[] = {
		T(test_missing_table_refused),
		T(test_short_table_refused),
		T(test_table_lost_while_open),
		T(test_sealed_segment_damage_refused),
		T(test_torn_tail_cut_before_new_segment),
		T(test_untracked_segment),
		T(test_feature_gates),
		T(test_no_leftover_after_recovery),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
