/* test_tool.c - lsm_tool.h: the table listing, the offline checker on clean
 * stores and on stores damaged in known ways (each damage found, in the
 * right file; a clean store reports nothing), the file dumper and the key
 * escaper. */
#include <dirent.h>
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
#include "lsm_tool.h"
#include "support.h"

#define TABLE_KEYS 200
#define WAL_KEYS 50

/* Two L0 tables of TABLE_KEYS keys each, then WAL_KEYS keys in the log. */
static void build_store(const char *dir)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char k[32], v[100];
	int rc, i;

	lsm_options_init(&o);
	o.background_compaction = false;
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "lsm_open: %s\n", err.msg);
	assert_int_equal(rc, 0);
	memset(v, 'v', sizeof(v));
	for (i = 0; i < 2 * TABLE_KEYS + WAL_KEYS; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		assert_int_equal(lsm_put(db, k, strlen(k), v, sizeof(v), NULL),
				 0);
		if (i == TABLE_KEYS - 1 || i == 2 * TABLE_KEYS - 1)
			assert_int_equal(lsm_flush(db, NULL), 0);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* The path of the Nth (0-based, by number) file of DIR ending in SUFFIX. */
static const char *nth_file(const struct tdir *d, const char *suffix, int n)
{
	static char names[16][64];
	static char path[4096];
	struct dirent *e;
	DIR *dh = opendir(tdir_root(d));
	int count = 0;

	assert_non_null(dh);
	while ((e = readdir(dh)) && count < 16) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l > s && l < sizeof(names[0]) &&
		    strcmp(e->d_name + l - s, suffix) == 0)
			memcpy(names[count++], e->d_name, l + 1);
	}
	closedir(dh);
	qsort(names, (size_t)count, sizeof(names[0]),
	      (int (*)(const void *, const void *))strcmp);
	assert_true(n < count);
	snprintf(path, sizeof(path), "%s/%s", tdir_root(d), names[n]);
	return path;
}

struct findings {
	unsigned reports, warnings;
	char file[8][4096];
	uint64_t off[8];
	char msg[8][512];
	uint64_t done, total;
};

static void on_report(void *ctx, const char *file, uint64_t off,
		      const char *problem)
{
	struct findings *f = ctx;

	fprintf(stderr, "  finding: %s@%llu: %s\n", file,
		(unsigned long long)off, problem);
	if (strncmp(problem, LSM_CHECK_WARNING,
		    strlen(LSM_CHECK_WARNING)) == 0)
		f->warnings++;
	if (f->reports < 8) {
		snprintf(f->file[f->reports], sizeof(f->file[0]), "%s", file);
		f->off[f->reports] = off;
		snprintf(f->msg[f->reports], sizeof(f->msg[0]), "%s", problem);
	}
	f->reports++;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct findings *f = ctx;

	assert_true(done >= f->done);
	assert_true(done <= total);
	f->done = done;
	f->total = total;
}

static unsigned check(const struct tdir *d, struct findings *f)
{
	struct lsm_err err = { 0 };
	unsigned problems = 12345;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = lsm_check_dir(tdir_root(d), NULL, on_report, on_progress, f,
			   &problems, &err);
	if (rc)
		fprintf(stderr, "lsm_check_dir: %s\n", err.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(problems, f->reports - f->warnings);
	return problems;
}

/* Every finding names FILE; there is at least one problem. */
static void expect_damage(const struct tdir *d, const char *file)
{
	struct findings f;
	char want[4096];

	snprintf(want, sizeof(want), "%s", file);
	assert_true(check(d, &f) >= 1);
	for (unsigned i = 0; i < f.reports && i < 8; i++)
		assert_string_equal(f.file[i], want);
}

static void test_clean(void **state)
{
	struct tdir *d = *state;
	struct findings f;

	build_store(tdir_root(d));
	assert_int_equal(check(d, &f), 0);
	assert_int_equal(f.reports, 0);
	assert_true(f.total > 0);
	assert_int_equal(f.done, f.total);
}

struct tables {
	unsigned n;
	uint64_t entries;
};

static int on_table(void *ctx, const struct lsm_table_info *t)
{
	struct tables *ts = ctx;

	/* keys written in order: each flush overlaps nothing and goes down
	 * to L2 (engine/flush_place.c) */
	assert_int_equal(t->level, 2);
	assert_int_equal(t->smallest_len, 8);
	assert_int_equal(t->largest_len, 8);
	assert_true(memcmp(t->smallest, t->largest, 8) < 0);
	assert_true(t->size > 0);
	assert_true(t->smallest_seq > 0);
	ts->entries += t->entries;
	ts->n++;
	return 0;
}

static void test_tables(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct tables ts = { 0 };

	build_store(tdir_root(d));
	lsm_options_init(&o);
	o.read_only = true;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_tables(db, on_table, &ts, NULL), 0);
	assert_int_equal(ts.n, 2);
	assert_int_equal(ts.entries, 2 * TABLE_KEYS);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_true(lsm_table_format_version() >= 1);
}

static void test_data_block(void **state)
{
	struct tdir *d = *state;
	const char *t;

	build_store(tdir_root(d));
	t = nth_file(d, ".sst", 1);
	assert_int_equal(corrupt_flip(t, 40, 0x20), 0);
	expect_damage(d, t);
}

/* Index handle: footer bytes 32..47 (u64le offset, u64le size). */
static void test_index(void **state)
{
	struct tdir *d = *state;
	uint8_t *p;
	size_t len;
	uint64_t off = 0;
	char t[4096];

	build_store(tdir_root(d));
	snprintf(t, sizeof(t), "%s", nth_file(d, ".sst", 0));
	p = file_read_all(t, &len);
	assert_non_null(p);
	for (int i = 7; i >= 0; i--)
		off = off << 8 | p[len - 64 + 32 + i];
	free(p);
	assert_true(off > 0 && off < len - 64);
	assert_int_equal(corrupt_flip(t, (long long)off + 3, 0x40), 0);
	expect_damage(d, t);
}

static void test_footer(void **state)
{
	struct tdir *d = *state;
	char t[4096];

	build_store(tdir_root(d));
	snprintf(t, sizeof(t), "%s", nth_file(d, ".sst", 0));
	assert_int_equal(corrupt_flip(t, -20, 0x01), 0);
	expect_damage(d, t);
}

static void test_truncated_table(void **state)
{
	struct tdir *d = *state;
	char t[4096];

	build_store(tdir_root(d));
	snprintf(t, sizeof(t), "%s", nth_file(d, ".sst", 1));
	assert_int_equal(corrupt_truncate(t, -100), 0);
	expect_damage(d, t);
}

static void test_missing_table(void **state)
{
	struct tdir *d = *state;
	char t[4096];

	build_store(tdir_root(d));
	snprintf(t, sizeof(t), "%s", nth_file(d, ".sst", 0));
	assert_int_equal(unlink(t), 0);
	expect_damage(d, t);
}

static void test_wal_middle(void **state)
{
	struct tdir *d = *state;
	struct findings f;
	char w[4096];
	long long size;

	build_store(tdir_root(d));
	snprintf(w, sizeof(w), "%s", nth_file(d, ".wal", 0));
	size = file_size(w);
	assert_true(size > 1000);
	assert_int_equal(corrupt_flip(w, size / 2, 0x10), 0);
	expect_damage(d, w);
	check(d, &f);
	assert_true(f.off[0] <= (uint64_t)size / 2);
	assert_true(f.off[0] + 200 > (uint64_t)size / 2);
}

/* After a clean close the log is sealed at its length: a segment cut
 * short is damage (acknowledged writes gone), not a torn tail. */
static void test_wal_truncated_after_close(void **state)
{
	struct tdir *d = *state;
	struct findings f;
	char w[4096];

	build_store(tdir_root(d));
	snprintf(w, sizeof(w), "%s", nth_file(d, ".wal", 0));
	assert_int_equal(corrupt_truncate(w, -3), 0);
	expect_damage(d, w);
	check(d, &f);
	assert_non_null(strstr(f.msg[0], "sealed"));
}

/* A sealed segment deleted outright is reported too. */
static void test_wal_missing(void **state)
{
	struct tdir *d = *state;
	struct findings f;
	char w[4096];

	build_store(tdir_root(d));
	snprintf(w, sizeof(w), "%s", nth_file(d, ".wal", 0));
	assert_int_equal(unlink(w), 0);
	assert_true(check(d, &f) >= 1);
	assert_string_equal(f.file[0], w);
	assert_non_null(strstr(f.msg[0], "missing"));
}

static void test_garbage_current(void **state)
{
	struct tdir *d = *state;

	build_store(tdir_root(d));
	assert_int_equal(file_write_all(tdir_path(d, "CURRENT"), "garbage\n",
					8), 0);
	expect_damage(d, tdir_path(d, "CURRENT"));
}

static void test_orphan_table(void **state)
{
	struct tdir *d = *state;
	struct findings f;
	void *p;
	size_t len;

	build_store(tdir_root(d));
	p = file_read_all(nth_file(d, ".sst", 0), &len);
	assert_non_null(p);
	assert_int_equal(file_write_all(tdir_path(d, "999999.sst"), p, len), 0);
	free(p);
	assert_int_equal(check(d, &f), 0);
	assert_int_equal(f.reports, 1);
	assert_int_equal(f.warnings, 1);
	assert_string_equal(f.file[0], tdir_path(d, "999999.sst"));
}

static void test_not_a_store(void **state)
{
	struct tdir *d = *state;
	struct lsm_err err = { 0 };
	unsigned problems = 0;

	assert_int_equal(lsm_check_dir(tdir_root(d), NULL, NULL, NULL, NULL,
				       &problems, &err), -ENOENT);
	assert_int_equal(lsm_check_dir(tdir_path(d, "nope"), NULL, NULL, NULL,
				       NULL, &problems, &err), -ENOENT);
}

struct dumped {
	unsigned entries, batches, ops, edits, adds;
	uint64_t last_seq;
	char last_key[64];
};

static int on_dump(void *ctx, const struct lsm_dump_rec *r)
{
	struct dumped *d = ctx;
	char key[64];
	const char *p;

	switch (r->kind) {
	case LSM_DUMP_ENTRY:
		assert_true(r->klen < sizeof(key));
		memcpy(key, r->key, r->klen);
		key[r->klen] = '\0';
		assert_true(strcmp(key, d->last_key) > 0);
		strcpy(d->last_key, key);
		assert_int_equal(r->vlen, 100);
		assert_false(r->is_delete);
		d->entries++;
		break;
	case LSM_DUMP_BATCH:
		assert_int_equal(r->count, 1);
		assert_true(r->seq > d->last_seq);
		d->last_seq = r->seq;
		d->batches++;
		break;
	case LSM_DUMP_OP:
		assert_int_equal(r->seq, d->last_seq);
		assert_int_equal(r->klen, 8);
		d->ops++;
		break;
	case LSM_DUMP_EDIT:
		for (p = r->text; (p = strstr(p, "add L")); p++)
			d->adds++;
		d->edits++;
		break;
	}
	return 0;
}

static void test_dump(void **state)
{
	struct tdir *d = *state;
	struct dumped got = { 0 };
	struct lsm_err err = { 0 };

	build_store(tdir_root(d));
	assert_int_equal(lsm_dump_file(nth_file(d, ".sst", 0), on_dump, &got,
				       &err), 0);
	assert_int_equal(got.entries, TABLE_KEYS);
	assert_int_equal(lsm_dump_file(nth_file(d, ".wal", 0), on_dump, &got,
				       &err), 0);
	assert_int_equal(got.batches, WAL_KEYS);
	assert_int_equal(got.ops, WAL_KEYS);
	assert_int_equal(lsm_dump_file(tdir_path(d, "CURRENT"), on_dump, &got,
				       &err), -EINVAL);
}

/* MANIFEST-NNNNNN has no suffix to match: find it by prefix. */
static void test_dump_manifest(void **state)
{
	struct tdir *d = *state;
	struct dumped got = { 0 };
	struct lsm_err err = { 0 };
	char path[4096] = "";
	struct dirent *e;
	DIR *dh;

	build_store(tdir_root(d));
	dh = opendir(tdir_root(d));
	while ((e = readdir(dh)))
		if (strncmp(e->d_name, "MANIFEST-", 9) == 0)
			snprintf(path, sizeof(path), "%s/%s", tdir_root(d),
				 e->d_name);
	closedir(dh);
	assert_true(path[0] != '\0');
	assert_int_equal(lsm_dump_file(path, on_dump, &got, &err), 0);
	assert_true(got.edits >= 1);
	assert_int_equal(got.adds, 2);
}

static void test_dump_damaged_table(void **state)
{
	struct tdir *d = *state;
	struct dumped got = { 0 };
	struct lsm_err err = { 0 };
	char t[4096];

	build_store(tdir_root(d));
	snprintf(t, sizeof(t), "%s", nth_file(d, ".sst", 0));
	assert_int_equal(corrupt_flip(t, -100 - 64, 0x01), 0);
	assert_true(lsm_dump_file(t, on_dump, &got, &err) < 0);
	assert_non_null(strstr(err.msg, t));
}

static void test_escape(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(lsm_escape(out, sizeof(out), "a\\b\x01\xff", 5), 12);
	assert_string_equal(out, "a\\\\b\\x01\\xff");
	assert_int_equal(lsm_escape(out, 5, "ab\x01", 3), 6);
	assert_string_equal(out, "ab");
	assert_int_equal(lsm_escape(NULL, 0, "abc", 3), 3);
	assert_int_equal(lsm_escape(out, sizeof(out), "", 0), 0);
	assert_string_equal(out, "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_clean),
		T(test_tables),
		T(test_data_block),
		T(test_index),
		T(test_footer),
		T(test_truncated_table),
		T(test_missing_table),
		T(test_wal_middle),
		T(test_wal_truncated_after_close),
		T(test_wal_missing),
		T(test_garbage_current),
		T(test_orphan_table),
		T(test_not_a_store),
		T(test_dump),
		T(test_dump_manifest),
		T(test_dump_damaged_table),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
