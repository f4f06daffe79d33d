/* test_repair.c - lsm_repair (lsm_tool.h) and the read-only point-in-time
 * open (lsm_options.wal_recovery): a bit flip in the middle of the live
 * log, a deleted tracked segment, a truncated sealed segment, a damaged
 * table (kept listed, or dropped), a value log segment that lost a value
 * (the table pointing there is damaged: kept, or dropped with the segment
 * saved beside it), a dry run that changes nothing, a store in use.  Each store is refused before, and after the repair opens with
 * exactly the writes before the damage; what was dropped is in lost/. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "lsm_tool.h"
#include "support.h"

#define NKEYS 100

static const char *dir_of(void **state)
{
	return tdir_root(*state);
}

static struct lsm_db *open_db(const char *dir, bool ro,
			      enum lsm_wal_recovery wr, int *rc,
			      struct lsm_err *err)
{
	struct lsm_options o;
	struct lsm_db *db = NULL;

	lsm_options_init(&o);
	o.background_compaction = false;
	o.read_only = ro;
	o.wal_recovery = wr;
	*rc = lsm_open(dir, &o, &db, err);
	return *rc == 0 ? db : NULL;
}

static void put_range(struct lsm_db *db, const char *prefix, int from,
		      int to, const char *val)
{
	char k[32];

	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "%s%03d", prefix, i);
		assert_int_equal(lsm_put(db, k, strlen(k), val, strlen(val),
					 NULL), 0);
	}
}

/* 1 found, 0 absent, < 0 error; the value compared with WANT if found. */
static int get_key(struct lsm_db *db, const char *prefix, int i,
		   const char *want)
{
	char k[32];
	void *v = NULL;
	size_t n;
	int rc;

	snprintf(k, sizeof(k), "%s%03d", prefix, i);
	rc = lsm_get(db, NULL, k, strlen(k), &v, &n, NULL);
	if (rc == 1 && want) {
		assert_int_equal(n, strlen(want));
		assert_memory_equal(v, want, n);
	}
	free(v);
	return rc;
}

/* The newest file of DIR ending in SUFFIX (by name), as a path. */
static const char *newest(const char *dir, const char *suffix)
{
	static char path[4096];
	char best[256] = "";
	struct dirent *e;
	DIR *dh = opendir(dir);

	assert_non_null(dh);
	while ((e = readdir(dh))) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l > s && !strcmp(e->d_name + l - s, suffix) &&
		    strcmp(e->d_name, best) > 0 && l < sizeof(best))
			memcpy(best, e->d_name, l + 1);
	}
	closedir(dh);
	assert_true(best[0] != '\0');
	snprintf(path, sizeof(path), "%s/%s", dir, best);
	return path;
}

static int batch_offsets(void *ctx, const struct lsm_dump_rec *r)
{
	uint64_t *offs = ctx;

	if (r->kind == LSM_DUMP_BATCH && offs[0] < NKEYS)
		offs[1 + offs[0]++] = r->offset;
	return 0;
}

/* A store whose live log holds NKEYS records, "k000".."k099" (one each),
 * closed cleanly (its segment sealed); the offsets of the records in
 * OFFS[1..], their number in OFFS[0].  Returns the segment's path. */
static const char *log_store(const char *dir, uint64_t *offs)
{
	struct lsm_db *db;
	const char *wal;
	int rc;

	db = open_db(dir, false, LSM_WAL_STRICT, &rc, NULL);
	assert_non_null(db);
	put_range(db, "t", 0, 10, "table");
	assert_int_equal(lsm_flush(db, NULL), 0);
	put_range(db, "k", 0, NKEYS, "value");
	assert_int_equal(lsm_close(db, NULL), 0);
	wal = newest(dir, ".wal");
	memset(offs, 0, (NKEYS + 1) * sizeof(*offs));
	assert_int_equal(lsm_dump_file(wal, batch_offsets, offs, NULL), 0);
	assert_int_equal(offs[0], NKEYS);
	return wal;
}

struct seen {
	unsigned findings;
	struct lsm_repair_finding f[8];
	char file[8][4096], saved[8][4096], problem[8][512];
	char lo[8][64], hi[8][64];
	uint64_t keys;
	char first_key[64];
	uint64_t bad_values;    /* damaged_value calls */
	char bad_key[64];       /* the last one's key */
};

static void on_finding(void *ctx, const struct lsm_repair_finding *f)
{
	struct seen *s = ctx;
	unsigned i = s->findings++;

	assert_true(i < 8);
	s->f[i] = *f;
	snprintf(s->file[i], sizeof(s->file[i]), "%s", f->file);
	snprintf(s->problem[i], sizeof(s->problem[i]), "%s", f->problem);
	snprintf(s->saved[i], sizeof(s->saved[i]), "%s",
		 f->saved ? f->saved : "");
	if (f->kind == LSM_REPAIR_TABLE) {
		snprintf(s->lo[i], sizeof(s->lo[i]), "%.*s",
			 (int)f->smallest_len, (const char *)f->smallest);
		snprintf(s->hi[i], sizeof(s->hi[i]), "%.*s",
			 (int)f->largest_len, (const char *)f->largest);
	}
}

static void on_key(void *ctx, const void *key, size_t klen, uint64_t seq,
		   bool is_delete)
{
	struct seen *s = ctx;

	(void)seq;
	assert_false(is_delete);
	if (s->keys++ == 0)
		snprintf(s->first_key, sizeof(s->first_key), "%.*s",
			 (int)klen, (const char *)key);
}

static void on_value(void *ctx, uint64_t table, const void *key,
		     size_t klen)
{
	struct seen *s = ctx;

	assert_true(table > 0);
	s->bad_values++;
	snprintf(s->bad_key, sizeof(s->bad_key), "%.*s", (int)klen,
		 (const char *)key);
}

static int repair(const char *dir, bool dry, bool drop, struct seen *s,
		  struct lsm_repair_result *res, struct lsm_err *err)
{
	struct lsm_repair_options o;

	memset(s, 0, sizeof(*s));
	lsm_repair_options_init(&o);
	o.dry_run = dry;
	o.drop_tables = drop;
	o.finding = on_finding;
	o.dropped_key = on_key;
	o.damaged_value = on_value;
	o.ctx = s;
	return lsm_repair(dir, &o, res, err);
}

static void check_keys(const char *dir, int kept)
{
	struct lsm_db *db;
	int rc;

	db = open_db(dir, false, LSM_WAL_STRICT, &rc, NULL);
	assert_non_null(db);
	for (int i = 0; i < 10; i++)
		assert_int_equal(get_key(db, "t", i, "table"), 1);
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(get_key(db, "k", i, "value"), i < kept);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_bit_flip_in_the_middle(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	char wal[4096], lost[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct seen s;
	long long size;
	size_t n;
	uint8_t *orig, *saved;
	int rc;

	snprintf(wal, sizeof(wal), "%s", log_store(dir, offs));
	size = file_size(wal);
	orig = file_read_all(wal, &n);
	assert_non_null(orig);
	assert_int_equal(corrupt_flip(wal, (long long)offs[1 + 40] + 12, 0x10),
			 0);
	assert_null(open_db(dir, false, LSM_WAL_STRICT, &rc, &err));
	assert_int_equal(rc, -EBADMSG);

	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(res.records_kept, 40);
	assert_int_equal(res.keys_kept, 40);
	assert_int_equal(res.damaged_records, 1);
	assert_int_equal(res.records_dropped, NKEYS - 41);
	assert_int_equal(res.keys_dropped, NKEYS - 41);
	assert_int_equal(s.keys, NKEYS - 41);
	assert_string_equal(s.first_key, "k041");
	assert_int_equal(res.bytes_dropped, (uint64_t)size - offs[1 + 40]);
	assert_int_equal(res.bytes_missing, 0);
	assert_int_equal(res.tables_damaged, 0);
	assert_true(res.changed);
	assert_int_equal(res.reopen.code, 0);
	assert_int_equal(s.findings, 1);
	assert_int_equal(s.f[0].kind, LSM_REPAIR_WAL_DAMAGED);
	assert_string_equal(s.file[0], wal);
	assert_int_equal(s.f[0].offset, offs[1 + 40]);
	assert_non_null(strstr(s.problem[0], "checksum mismatch"));

	/* lost/ holds the damaged bytes as they were, never deleted */
	snprintf(lost, sizeof(lost), "%s/lost/%s.at-%llu", dir,
		 strrchr(wal, '/') + 1, (unsigned long long)offs[1 + 40]);
	assert_string_equal(s.saved[0], lost);
	saved = file_read_all(lost, &n);
	assert_non_null(saved);
	assert_int_equal(n, (uint64_t)size - offs[1 + 40]);
	orig[offs[1 + 40] + 12] ^= 0x10;
	assert_memory_equal(saved, orig + offs[1 + 40], n);
	free(saved);
	free(orig);

	check_keys(dir, 40);
	/* a second run finds nothing to do */
	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_false(res.changed);
	assert_int_equal(s.findings, 0);
	assert_int_equal(res.reopen.code, 0);
	assert_true(file_size(lost) > 0);
}

static void test_point_in_time_read_only(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	const char *wal = log_store(dir, offs);
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	int rc;

	assert_int_equal(corrupt_flip(wal, (long long)offs[1 + 70] + 9, 1), 0);
	assert_null(open_db(dir, true, LSM_WAL_STRICT, &rc, &err));
	assert_int_equal(rc, -EBADMSG);
	/* a writable open is strict whatever the option says */
	assert_null(open_db(dir, false, LSM_WAL_POINT_IN_TIME, &rc, &err));
	assert_int_equal(rc, -EBADMSG);
	db = open_db(dir, true, LSM_WAL_POINT_IN_TIME, &rc, &err);
	assert_non_null(db);
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(get_key(db, "k", i, "value"), i < 70);
	assert_int_equal(get_key(db, "t", 3, "table"), 1);
	assert_int_equal(lsm_put(db, "x", 1, "y", 1, NULL), -EROFS);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* nothing was written: still refused strictly */
	assert_null(open_db(dir, true, LSM_WAL_STRICT, &rc, &err));
}

struct logged {
	char msg[1024];
};

static void log_fn(void *ctx, enum lsm_log_level level, const char *msg)
{
	struct logged *l = ctx;

	if (level == LSM_LOG_WARN && !l->msg[0])
		snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

static void test_point_in_time_warns(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	const char *wal = log_store(dir, offs);
	struct logged l = { "" };
	struct lsm_options o;
	struct lsm_db *db;
	char want[4200];

	assert_int_equal(corrupt_flip(wal, (long long)offs[1 + 5] + 9, 1), 0);
	lsm_options_init(&o);
	o.read_only = true;
	o.wal_recovery = LSM_WAL_POINT_IN_TIME;
	o.log_fn = log_fn;
	o.log_ctx = &l;
	assert_int_equal(lsm_open(dir, &o, &db, NULL), 0);
	snprintf(want, sizeof(want), "%s: point-in-time recovery stops at "
		 "offset %llu", wal, (unsigned long long)offs[1 + 5]);
	assert_non_null(strstr(l.msg, want));
	assert_int_equal(get_key(db, "k", 4, "value"), 1);
	assert_int_equal(get_key(db, "k", 5, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_deleted_segment(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	char wal[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct seen s;
	long long size;
	int rc;

	snprintf(wal, sizeof(wal), "%s", log_store(dir, offs));
	size = file_size(wal);
	assert_int_equal(unlink(wal), 0);
	assert_null(open_db(dir, false, LSM_WAL_STRICT, &rc, &err));
	assert_int_equal(rc, -EUCLEAN);
	assert_non_null(strstr(err.msg, "is missing"));
	db = open_db(dir, true, LSM_WAL_POINT_IN_TIME, &rc, &err);
	assert_non_null(db);
	assert_int_equal(get_key(db, "k", 0, NULL), 0);
	lsm_close(db, NULL);

	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(s.findings, 1);
	assert_int_equal(s.f[0].kind, LSM_REPAIR_WAL_MISSING);
	assert_string_equal(s.file[0], wal);
	assert_int_equal(res.records_kept, 0);
	assert_int_equal(res.bytes_missing, (uint64_t)size);
	assert_int_equal(res.bytes_dropped, 0);
	assert_int_equal(res.reopen.code, 0);
	check_keys(dir, 0);
}

static void test_truncated_sealed_segment(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	char wal[4096], lost[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct seen s;
	long long size;
	int rc;

	snprintf(wal, sizeof(wal), "%s", log_store(dir, offs));
	size = file_size(wal);
	assert_int_equal(corrupt_truncate(wal, (long long)offs[1 + 60] + 5), 0);
	assert_null(open_db(dir, false, LSM_WAL_STRICT, &rc, &err));
	assert_int_equal(rc, -EUCLEAN);
	assert_non_null(strstr(err.msg, "sealed"));

	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(s.findings, 1);
	assert_int_equal(s.f[0].kind, LSM_REPAIR_WAL_TRUNCATED);
	assert_int_equal(s.f[0].offset, offs[1 + 60]);
	assert_int_equal(res.records_kept, 60);
	assert_int_equal(res.records_dropped, 0);
	assert_int_equal(res.damaged_records, 1);
	assert_int_equal(res.bytes_dropped, 5);
	assert_int_equal(res.bytes_missing,
			 (uint64_t)size - (offs[1 + 60] + 5));
	snprintf(lost, sizeof(lost), "%s/lost/%s.at-%llu", dir,
		 strrchr(wal, '/') + 1, (unsigned long long)offs[1 + 60]);
	assert_int_equal(file_size(lost), 5);
	assert_int_equal(res.reopen.code, 0);
	check_keys(dir, 60);
}

/* Keys "k000".."k099" = "old" in a deep level, then = "new" in a
 * table above it (L1: flush_place.c), whose path is returned. */
static const char *table_store(const char *dir)
{
	struct lsm_db *db;
	int rc;

	db = open_db(dir, false, LSM_WAL_STRICT, &rc, NULL);
	assert_non_null(db);
	put_range(db, "k", 0, NKEYS, "old");
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	put_range(db, "k", 0, NKEYS, "new");
	assert_int_equal(lsm_flush(db, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	return newest(dir, ".sst");
}

static void test_damaged_table_kept(void **state)
{
	const char *dir = dir_of(state);
	char sst[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct seen s;
	int rc;

	snprintf(sst, sizeof(sst), "%s", table_store(dir));
	assert_int_equal(corrupt_flip(sst, 20, 0xff), 0);
	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(res.tables_damaged, 1);
	assert_int_equal(res.tables_dropped, 0);
	assert_false(res.changed);
	assert_int_equal(res.reopen.code, 0);
	assert_int_equal(s.findings, 1);
	assert_int_equal(s.f[0].kind, LSM_REPAIR_TABLE);
	assert_string_equal(s.file[0], sst);
	assert_false(s.f[0].dropped);
	assert_string_equal(s.lo[0], "k000");
	assert_string_equal(s.hi[0], "k099");
	assert_int_equal(s.f[0].level, 1); /* placed right above "old" */
	assert_true(file_size(sst) > 0);
	/* still listed: reads in its range fail, never show "old" */
	db = open_db(dir, true, LSM_WAL_STRICT, &rc, &err);
	assert_non_null(db);
	assert_int_equal(get_key(db, "k", 50, NULL), -EBADMSG);
	lsm_close(db, NULL);
}

static void test_damaged_table_dropped(void **state)
{
	const char *dir = dir_of(state);
	char sst[4096], lost[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct seen s;
	int rc;

	snprintf(sst, sizeof(sst), "%s", table_store(dir));
	assert_int_equal(corrupt_flip(sst, 20, 0xff), 0);
	assert_int_equal(repair(dir, false, true, &s, &res, &err), 0);
	assert_int_equal(res.tables_damaged, 1);
	assert_int_equal(res.tables_dropped, 1);
	assert_true(res.changed);
	assert_int_equal(res.reopen.code, 0);
	assert_true(s.f[0].dropped);
	snprintf(lost, sizeof(lost), "%s/lost/%s", dir, strrchr(sst, '/') + 1);
	assert_string_equal(s.saved[0], lost);
	assert_true(file_size(lost) > 0);
	assert_int_equal(file_size(sst), -1);
	/* what the warning says: the older versions are back */
	db = open_db(dir, false, LSM_WAL_STRICT, &rc, &err);
	assert_non_null(db);
	assert_int_equal(get_key(db, "k", 50, "old"), 1);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_missing_table(void **state)
{
	const char *dir = dir_of(state);
	char sst[4096];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct seen s;

	snprintf(sst, sizeof(sst), "%s", table_store(dir));
	assert_int_equal(unlink(sst), 0);
	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(res.tables_damaged, 1);
	assert_int_equal(res.reopen.code, -EUCLEAN); /* kept: still refused */
	assert_non_null(strstr(s.problem[0], "missing"));
	assert_int_equal(repair(dir, false, true, &s, &res, &err), 0);
	assert_int_equal(res.tables_dropped, 1);
	assert_int_equal(res.reopen.code, 0);
	assert_string_equal(s.saved[0], ""); /* nothing to move */
}

/* A store with the value log: "k000".."k099" hold VLOG_OLD values, then
 * VLOG_NEW ones; both rounds flushed, so tables point into two kept log
 * segments.  Returns the path of the segment holding the new values and
 * the offset of key 50's new value in it (*AT). */
#define VLOG_VALUE 200
static const char *vlog_store(const char *dir, long long *at)
{
	static char found[4096];
	char val[VLOG_VALUE + 1], k[32];
	struct lsm_options o;
	struct lsm_db *db;
	struct dirent *e;
	DIR *dh;

	lsm_options_init(&o);
	o.background_compaction = false;
	o.value_log_min_bytes = 64;
	assert_int_equal(lsm_open(dir, &o, &db, NULL), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < NKEYS; i++) {
			snprintf(k, sizeof(k), "k%03d", i);
			memset(val, 'a' + i % 26, VLOG_VALUE);
			snprintf(val, sizeof(val), "%s%03d", round ? "NEW" :
				 "OLD", i);
			val[6] = '-';
			assert_int_equal(lsm_put(db, k, strlen(k), val,
						 VLOG_VALUE, NULL), 0);
		}
		assert_int_equal(lsm_flush(db, NULL), 0);
		if (round == 0)
			assert_int_equal(lsm_compact_range(db, NULL, 0, NULL,
							   0, NULL), 0);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
	found[0] = '\0';
	dh = opendir(dir);
	assert_non_null(dh);
	while ((e = readdir(dh))) {
		char path[4096];
		size_t len, l = strlen(e->d_name);
		uint8_t *all;
		const uint8_t *hit;

		if (l < 5 || strcmp(e->d_name + l - 4, ".wal"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		all = file_read_all(path, &len);
		hit = all ? memmem(all, len, "NEW050-", 7) : NULL;
		if (hit) {
			assert_true(found[0] == '\0'); /* one segment */
			snprintf(found, sizeof(found), "%s", path);
			*at = hit - all;
		}
		free(all);
	}
	closedir(dh);
	assert_true(found[0] != '\0');
	return found;
}

/* Key I's value in DIR: 1 and its first 6 bytes in HEAD, or the error. */
static int vlog_get(const char *dir, int i, char *head)
{
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	char k[32];
	void *v = NULL;
	size_t n;
	int rc;

	db = open_db(dir, true, LSM_WAL_STRICT, &rc, &err);
	assert_non_null(db);
	snprintf(k, sizeof(k), "k%03d", i);
	rc = lsm_get(db, NULL, k, strlen(k), &v, &n, NULL);
	if (rc == 1) {
		assert_int_equal(n, VLOG_VALUE);
		memcpy(head, v, 6);
		head[6] = '\0';
	}
	free(v);
	lsm_close(db, NULL);
	return rc;
}

static void test_damaged_value_segment(void **state)
{
	const char *dir = dir_of(state);
	char seg[4096], lost[4096], head[8];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	unsigned problems = 0;
	long long at = 0, seg_size;
	struct seen s;

	snprintf(seg, sizeof(seg), "%s", vlog_store(dir, &at));
	seg_size = file_size(seg);
	assert_int_equal(corrupt_flip(seg, at + 100, 0x10), 0);
	/* kept: one value reads as damaged, the others as they were */
	assert_int_equal(repair(dir, false, false, &s, &res, &err), 0);
	assert_int_equal(res.tables_damaged, 1);
	assert_int_equal(res.tables_dropped, 0);
	assert_false(res.changed);
	assert_int_equal(s.findings, 1);
	assert_int_equal(s.f[0].kind, LSM_REPAIR_TABLE);
	assert_non_null(strstr(s.problem[0], "1 value in the log unreadable"));
	assert_non_null(strstr(s.problem[0], "checksum mismatch"));
	assert_int_equal(s.f[0].values, 1);
	assert_int_equal(s.bad_values, 1);
	assert_string_equal(s.bad_key, "k050");
	assert_string_equal(s.lo[0], "k000");
	assert_string_equal(s.hi[0], "k099");
	assert_int_equal(vlog_get(dir, 50, head), -EUCLEAN);
	assert_int_equal(vlog_get(dir, 51, head), 1);
	assert_string_equal(head, "NEW051");
	/* dropped: the older values come back; the table and the segment it
	 * pointed into are both in lost/ */
	assert_int_equal(repair(dir, false, true, &s, &res, &err), 0);
	assert_int_equal(res.tables_dropped, 1);
	assert_true(res.changed);
	assert_int_equal(res.reopen.code, 0);
	snprintf(lost, sizeof(lost), "%s/lost/%s", dir, strrchr(seg, '/') + 1);
	assert_int_equal(file_size(lost), seg_size);
	/* which is why: no table names the segment any more, the reopen
	 * deleted it */
	assert_int_equal(file_size(seg), -1);
	assert_int_equal(vlog_get(dir, 50, head), 1);
	assert_string_equal(head, "OLD050");
	assert_int_equal(lsm_check_dir(dir, NULL, NULL, NULL, NULL, &problems,
				       NULL), 0);
	assert_int_equal(problems, 0);
}

static void test_missing_value_segment(void **state)
{
	const char *dir = dir_of(state);
	char seg[4096], head[8];
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	long long at = 0;
	struct seen s;

	snprintf(seg, sizeof(seg), "%s", vlog_store(dir, &at));
	assert_int_equal(unlink(seg), 0);
	assert_int_equal(repair(dir, true, false, &s, &res, &err), 0);
	assert_int_equal(res.tables_damaged, 1);
	assert_non_null(strstr(s.problem[0], "100 values in the log "
			       "unreadable"));
	assert_non_null(strstr(s.problem[0], "is missing"));
	assert_int_equal(s.f[0].values, NKEYS);
	assert_int_equal(s.bad_values, NKEYS);
	assert_int_equal(vlog_get(dir, 7, head), -EUCLEAN);
	assert_int_equal(repair(dir, false, true, &s, &res, &err), 0);
	assert_int_equal(res.tables_dropped, 1);
	assert_int_equal(res.reopen.code, 0);
	for (int i = 0; i < NKEYS; i += 33) {
		char want[8];

		snprintf(want, sizeof(want), "OLD%03d", i);
		assert_int_equal(vlog_get(dir, i, head), 1);
		assert_string_equal(head, want);
	}
}

/* Every file under DIR (one level of subdirectories) and its bytes. */
static char *snapshot(const char *dir)
{
	char *out = NULL, path[4096];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		struct stat st;
		size_t sz;
		uint8_t *p;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		assert_int_equal(stat(path, &st), 0);
		fprintf(f, "%s %lld\n", names[i]->d_name,
			(long long)st.st_size);
		if (S_ISREG(st.st_mode) && (p = file_read_all(path, &sz))) {
			fwrite(p, 1, sz, f);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	fclose(f);
	return out;
}

static void test_dry_run_changes_nothing(void **state)
{
	const char *dir = dir_of(state);
	uint64_t offs[NKEYS + 1];
	const char *wal = log_store(dir, offs);
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct seen s;
	char *before, *after;
	int rc;

	assert_int_equal(corrupt_flip(wal, (long long)offs[1 + 30] + 9, 4), 0);
	before = snapshot(dir);
	assert_int_equal(repair(dir, true, true, &s, &res, &err), 0);
	after = snapshot(dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_true(res.changed);
	assert_int_equal(res.records_kept, 30);
	assert_int_equal(res.records_dropped, NKEYS - 31);
	assert_int_equal(res.reopen.code, 0);
	assert_int_equal(s.findings, 1);
	assert_string_equal(s.saved[0], "");
	assert_null(open_db(dir, false, LSM_WAL_STRICT, &rc, &err));
	assert_int_equal(rc, -EBADMSG);
}

static void test_in_use_refused(void **state)
{
	const char *dir = dir_of(state);
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct lsm_db *db;
	struct seen s;
	char *before, *after;
	int rc;

	db = open_db(dir, false, LSM_WAL_STRICT, &rc, NULL);
	assert_non_null(db);
	put_range(db, "k", 0, 10, "v");
	assert_int_equal(lsm_sync(db, NULL), 0);
	before = snapshot(dir);
	for (int dry = 0; dry < 2; dry++) {
		assert_int_equal(repair(dir, dry, false, &s, &res, &err),
				 -EBUSY);
		assert_non_null(strstr(err.msg, "is in use by process"));
		assert_int_equal(s.findings, 0);
	}
	after = snapshot(dir);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_not_a_store(void **state)
{
	struct lsm_repair_result res;
	struct lsm_err err = { 0 };
	struct seen s;

	assert_int_equal(repair(dir_of(state), false, false, &s, &res, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "not an lsmfs store"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bit_flip_in_the_middle,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_point_in_time_read_only,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_point_in_time_warns,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_segment,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_sealed_segment,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_table_kept,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_table_dropped,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_value_segment,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_missing_value_segment,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_missing_table,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_in_use_refused,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_store,
						tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
