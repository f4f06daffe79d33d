/* test_files.c - the public file-format API (lsm_files.h), used as a
 * program outside the engine would: list a store's live files, read its
 * log segments record by record (beside a live writer, resuming where a
 * scan stopped), decode batches, verify tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lsm.h"
#include "lsm_files.h"
#include "support.h"

static void options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 1 << 20;
	o->io = test_io_nosync();
}

static void put_keys(struct lsm_db *db, int from, int to)
{
	char k[32], v[32];

	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "key%05d", i);
		snprintf(v, sizeof(v), "val%05d", i);
		assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), NULL),
				 0);
	}
}

struct seen {
	uint64_t next_seq; /* expected sequence of the next record */
	int records, ops, first_key;
};

static int on_op(void *ctx, uint64_t seq, bool is_delete, const void *key,
		 size_t klen, const void *val, size_t vlen)
{
	struct seen *s = ctx;
	char k[32];

	(void)seq;
	assert_false(is_delete);
	snprintf(k, sizeof(k), "key%05d", s->first_key + s->ops);
	assert_int_equal(klen, strlen(k));
	assert_memory_equal(key, k, klen);
	assert_int_equal(vlen, 8);
	assert_memory_equal(val, "val", 3);
	s->ops++;
	return 0;
}

static int on_record(void *ctx, const struct lsm_log_record *r)
{
	struct seen *s = ctx;

	if (s->next_seq)
		assert_int_equal(r->seq, s->next_seq);
	s->next_seq = r->seq + r->count;
	assert_true(r->end > r->offset);
	s->records++;
	return lsm_batch_ops(r->batch, r->len, on_op, s, NULL);
}

static void test_list_scan_verify(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_files *f;
	struct lsm_err err = { 0 };
	struct seen s = { 0 };
	uint64_t end, entries, total = 0;
	char path[4200];

	options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_keys(db, 0, 500);
	assert_int_equal(lsm_flush(db, NULL), 0);
	put_keys(db, 500, 800); /* in the log only */
	assert_int_equal(lsm_close(db, NULL), 0);

	assert_int_equal(lsm_files_list(tdir_root(d), &f, &err), 0);
	assert_true(f->incompat & LSM_FEATURE_INCOMPAT_WAL_V2);
	assert_true(f->ntables >= 1);
	assert_int_equal(f->nlogs, 1);
	assert_true(f->logs[0].tracked && f->logs[0].sealed);
	assert_int_equal(f->logs[0].sealed_size, f->logs[0].size);
	assert_int_equal(f->logs[0].number, f->log_number);
	for (size_t i = 0; i < f->ntables; i++) {
		snprintf(path, sizeof(path), "%s/%06llu.sst", tdir_root(d),
			 (unsigned long long)f->tables[i].number);
		assert_int_equal(lsm_table_verify(path, &entries, NULL), 0);
		assert_int_equal(file_size(path), (long long)f->tables[i].size);
		assert_memory_equal(f->tables[i].smallest, "key", 3);
		total += entries;
	}
	assert_int_equal(total, 500);
	s.first_key = 500;
	assert_int_equal(lsm_log_scan(tdir_root(d), &f->logs[0], 0, on_record,
				      &s, &end, &err), 0);
	assert_int_equal(s.ops, 300);
	assert_int_equal(end, f->logs[0].sealed_size);
	/* a damaged table is reported, with its offset */
	snprintf(path, sizeof(path), "%s/%06llu.sst", tdir_root(d),
		 (unsigned long long)f->tables[0].number);
	assert_int_equal(corrupt_flip(path, 20, 0x01), 0);
	assert_true(lsm_table_verify(path, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, path));
	lsm_files_free(f);
}

/* Beside a live writer: the newest segment is not sealed, a scan stops at
 * the last complete record and the next one resumes from there. */
static void test_tail_live_writer(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_files *f;
	struct seen s = { 0 };
	uint64_t end = 0, end2;

	options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	put_keys(db, 0, 100);
	assert_int_equal(lsm_files_list(tdir_root(d), &f, NULL), 0);
	assert_int_equal(f->nlogs, 1);
	assert_true(f->logs[0].tracked);
	assert_false(f->logs[0].sealed);
	assert_int_equal(lsm_log_scan(tdir_root(d), &f->logs[0], 0, on_record,
				      &s, &end, NULL), 0);
	assert_int_equal(s.ops, 100);
	put_keys(db, 100, 250);
	assert_int_equal(lsm_log_scan(tdir_root(d), &f->logs[0], end,
				      on_record, &s, &end2, NULL), 0);
	assert_int_equal(s.ops, 250); /* only the new ones, in order */
	assert_true(end2 > end);
	assert_int_equal(lsm_close(db, NULL), 0);
	lsm_files_free(f);
	assert_int_equal(lsm_files_list(tdir_root(d), &f, NULL), 0);
	assert_true(f->logs[0].sealed); /* a clean close seals it */
	lsm_files_free(f);
}

static void test_not_a_store(void **state)
{
	struct tdir *d = *state;
	struct lsm_files *f = NULL;
	struct lsm_err err = { 0 };

	assert_true(lsm_files_list(tdir_root(d), &f, &err) < 0);
	assert_null(f);
	assert_true(strlen(err.msg) > 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
	const struct CMUnitTest tests[] = {
		T(test_list_scan_verify),
		T(test_tail_live_writer),
		T(test_not_a_store),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
