/* test_version.c - version edits (round trip, strict rejection), versions
 * (ordering, find_file, overlapping, check) and the version set: create,
 * apply, recover, manifest roll-over, damaged CURRENT and manifests, and
 * crash safety: every write/fsync/rename/sync_dir of create, apply and the
 * recovery rewrite is failed in turn (with and without a power cut) and
 * recovery must find the state before or after, never anything else. */
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

#include "buf.h"
#include "faulty_io.h"
#include "filename.h"
#include "ikey.h"
#include "lsm_io.h"
#include "support.h"
#include "version.h"
#include "wal.h"

#define LEVELS 7

/* ---- helpers ---- */

static size_t ik(uint8_t *dst, const char *ukey, uint64_t seq)
{
	return ikey_encode(dst, ukey, strlen(ukey), seq, IKEY_VALUE);
}

/* Adds table NUM holding user keys [S, L] at LEVEL. */
static void add(struct version_edit *e, int level, uint64_t num,
		const char *s, const char *l)
{
	uint8_t a[128], b[128];
	size_t al = ik(a, s, 100 + num), bl = ik(b, l, 50 + num);

	assert_int_equal(version_edit_add_file(e, level, num, 1000 + num, a,
					       al, b, bl), 0);
}

static void del(struct version_edit *e, int level, uint64_t num)
{
	assert_int_equal(version_edit_delete_file(e, level, num), 0);
}

static void ptr(struct version_edit *e, int level, const char *k)
{
	uint8_t a[128];

	assert_int_equal(version_edit_set_pointer(e, level, a, ik(a, k, 7)),
			 0);
}

static void put_ukey(struct buf *b, const uint8_t *k, size_t len)
{
	buf_append(b, k, ikey_ulen(len));
	buf_put_u8(b, '@');
	buf_put_varint(b, ikey_seq(k, len)); /* bytes, fine for equality */
}

/* The whole logical state of VS as a string, for before/after checks. */
static char *state_of(const struct version_set *vs)
{
	struct buf b = BUF_INIT;
	char t[96];

	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		const struct version *v = vs->current;

		snprintf(t, sizeof(t), "L%d:", l);
		buf_append(&b, t, strlen(t));
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *f = v->files[l][i];

			snprintf(t, sizeof(t), " %llu/%llu/",
				 (unsigned long long)f->number,
				 (unsigned long long)f->size);
			buf_append(&b, t, strlen(t));
			put_ukey(&b, f->smallest, f->smallest_len);
			buf_put_u8(&b, '-');
			put_ukey(&b, f->largest, f->largest_len);
		}
		if (vs->pointers[l].len) {
			buf_append(&b, " ptr=", 5);
			put_ukey(&b, vs->pointers[l].p, vs->pointers[l].len);
		}
		buf_put_u8(&b, '\n');
	}
	snprintf(t, sizeof(t), "log=%llu seq=%llu",
		 (unsigned long long)vs->log_number,
		 (unsigned long long)vs->last_seq);
	buf_append(&b, t, strlen(t) + 1);
	assert_true(buf_ok(&b));
	return (char *)b.p;
}

/* Next_file must lie past every file in use. */
static void check_next_file(const struct version_set *vs)
{
	assert_true(vs->next_file > vs->manifest_number);
	assert_true(vs->next_file > vs->log_number);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < vs->current->nfiles[l]; i++)
			assert_true(vs->next_file >
				    vs->current->files[l][i]->number);
}

/* Recovers DIR through IO; on success *STATE gets the state string. */
static int recover_state(const char *dir, const struct lsm_io *io, bool ro,
			 char **state, struct lsm_err *err)
{
	struct version_set vs;
	int rc;

	vset_init(&vs, io, dir, LEVELS, ro);
	rc = vset_recover(&vs, err);
	if (rc == 0) {
		assert_int_equal(version_check(vs.current, NULL), 0);
		check_next_file(&vs);
		*state = state_of(&vs);
	}
	vset_destroy(&vs);
	return rc;
}

static char *must_recover(const char *dir)
{
	struct lsm_err err = { 0 };
	char *s = NULL;
	int rc = recover_state(dir, lsm_io_posix(), false, &s, &err);

	if (rc != 0)
		fail_msg("recover %s: %d %s", dir, rc, err.msg);
	return s;
}

static void apply(struct version_set *vs, struct version_edit *e)
{
	struct lsm_err err = { 0 };
	int rc = vset_log_and_apply(vs, e, &err);

	if (rc != 0)
		fail_msg("log_and_apply: %d %s", rc, err.msg);
	version_edit_free(e);
}

/* A fresh subdirectory of the test dir. */
static const char *subdir(struct tdir *d, char *out, size_t cap,
			  const char *name, unsigned n)
{
	char leaf[64];

	snprintf(leaf, sizeof(leaf), "%s-%u", name, n);
	snprintf(out, cap, "%s", tdir_path(d, leaf));
	assert_int_equal(mkdir(out, 0755), 0);
	return out;
}

static void manifest_path(char *out, const char *dir, uint64_t n)
{
	assert_int_equal(filename_path(out, dir, FILE_MANIFEST, n), 0);
}

/* A sample edit touching every field. */
static void sample_edit(struct version_edit *e)
{
	version_edit_init(e);
	e->has_comparator = true;
	e->has_log_number = e->has_next_file = e->has_last_seq = true;
	e->log_number = 17;
	e->next_file = 300;
	e->last_seq = UINT64_C(1) << 40;
	ptr(e, 1, "mango");
	ptr(e, 3, "");
	del(e, 0, 12);
	del(e, 2, 200);
	add(e, 0, 21, "a", "z");
	add(e, 5, 22, "", "");
	add(e, 1, UINT64_C(1) << 50, "apple", "banana");
}

/* ---- edits ---- */

static void test_edit_round_trip(void **state)
{
	struct version_edit e, d;
	struct buf a = BUF_INIT, b = BUF_INIT;

	(void)state;
	sample_edit(&e);
	version_edit_encode(&e, &a);
	assert_true(buf_ok(&a));
	assert_int_equal(version_edit_decode(&d, a.p, a.len, NULL), 0);
	assert_true(d.has_comparator && d.has_log_number);
	assert_int_equal(d.log_number, 17);
	assert_int_equal(d.next_file, 300);
	assert_int_equal(d.last_seq, UINT64_C(1) << 40);
	assert_int_equal(d.nadded, 3);
	assert_int_equal(d.ndeleted, 2);
	assert_int_equal(d.npointers, 2);
	assert_int_equal(d.added[2].f->number, UINT64_C(1) << 50);
	assert_int_equal(d.added[2].level, 1);
	assert_int_equal(d.added[2].f->size, 1000 + (UINT64_C(1) << 50));
	assert_memory_equal(d.added[2].f->smallest, e.added[2].f->smallest,
			    e.added[2].f->smallest_len);
	assert_int_equal(d.deleted[1].number, 200);
	assert_int_equal(d.pointers[1].len, 8);
	version_edit_encode(&d, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	version_edit_free(&d);

	/* An empty edit is empty. */
	version_edit_init(&d);
	buf_clear(&b);
	version_edit_encode(&d, &b);
	assert_int_equal(b.len, 0);
	assert_int_equal(version_edit_decode(&d, b.p, 0, NULL), 0);
	version_edit_free(&d);
	version_edit_free(&e);
	buf_free(&a);
	buf_free(&b);
}

/* Field 65: counts of a table added in the same edit; skippable by
 * builds that do not know it, checked by this one. */
static void test_edit_table_counts(void **state)
{
	static const uint8_t orphan[] = { 65, 3, 9, 2, 1 };
	static const uint8_t longer[] = { 65, 4, 21, 5, 2, 7 };
	struct version_edit e, d;
	struct buf a = BUF_INIT;
	struct lsm_err err = { 0 };

	(void)state;
	sample_edit(&e);
	version_edit_set_counts(&e, 21, 1000, 250);
	version_edit_encode(&e, &a);
	assert_int_equal(version_edit_decode(&d, a.p, a.len, NULL), 0);
	assert_true(d.added[0].f->has_counts);
	assert_int_equal(d.added[0].f->entries, 1000);
	assert_int_equal(d.added[0].f->deletions, 250);
	assert_false(d.added[1].f->has_counts);
	version_edit_free(&d);
	/* counts of a table the edit does not add */
	assert_int_equal(version_edit_decode(&d, orphan, sizeof(orphan),
					     &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "without their table"));
	/* more deletions than entries */
	buf_clear(&a);
	version_edit_free(&e);
	version_edit_init(&e);
	add(&e, 0, 21, "a", "z");
	version_edit_encode(&e, &a);
	buf_append(&a, "\x41\x03\x15\x01\x02", 5);
	assert_int_equal(version_edit_decode(&d, a.p, a.len, &err), -EUCLEAN);
	/* bytes after the three numbers are for later additions */
	a.len -= 5;
	buf_append(&a, longer, sizeof(longer));
	assert_int_equal(version_edit_decode(&d, a.p, a.len, NULL), 0);
	assert_int_equal(d.added[0].f->deletions, 2);
	version_edit_free(&d);
	version_edit_free(&e);
	buf_free(&a);
}

static void test_edit_truncated(void **state)
{
	struct version_edit e, d;
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t ok = 0;

	(void)state;
	sample_edit(&e);
	version_edit_encode(&e, &a);
	/* A prefix decodes only when it ends on a field boundary, and then
	 * it is exactly those fields. */
	for (size_t n = 0; n <= a.len; n++) {
		struct lsm_err err = { 0 };
		int rc = version_edit_decode(&d, a.p, n, &err);

		if (rc == 0) {
			buf_clear(&b);
			version_edit_encode(&d, &b);
			assert_int_equal(b.len, n);
			assert_memory_equal(b.p, a.p, n);
			version_edit_free(&d);
			ok++;
			continue;
		}
		assert_int_equal(rc, -EUCLEAN);
		assert_int_equal(err.code, -EUCLEAN);
		assert_non_null(strstr(err.msg, "version edit"));
		assert_int_equal(d.nadded + d.ndeleted + d.npointers, 0);
	}
	assert_int_equal(ok, 1 + 4 + 2 + 2 + 3); /* empty + each field */
	version_edit_free(&e);
	buf_free(&a);
	buf_free(&b);
}

/* Decodes HEX-less raw bytes and expects -EUCLEAN mentioning WHAT. */
static void expect_bad(const uint8_t *p, size_t n, const char *what)
{
	struct version_edit d;
	struct lsm_err err = { 0 };

	if (version_edit_decode(&d, p, n, &err) != -EUCLEAN)
		fail_msg("decoded despite \"%s\"", what);
	if (!strstr(err.msg, what))
		fail_msg("expected \"%s\" in \"%s\"", what, err.msg);
	assert_int_equal(d.nadded + d.ndeleted + d.npointers, 0);
	assert_false(d.has_log_number || d.has_comparator);
}

static void test_edit_malformed(void **state)
{
	uint8_t k[16], p[128], *q;
	size_t kl = ik(k, "ab", 5);

	(void)state;
	expect_bad((const uint8_t *)"\x3f\x01", 2, "unknown tag");
	/* tags from 64 on carry their length and may be skipped... */
	expect_bad((const uint8_t *)"\x63\x05x", 3, "truncated unknown field");
	{
		struct version_edit e;

		assert_int_equal(version_edit_decode(&e, (const uint8_t *)
						     "\x63\x01x\x01\x07", 5,
						     NULL), 0);
		assert_true(e.has_log_number);
		assert_int_equal(e.log_number, 7);
		version_edit_free(&e);
	}
	/* ...but a repeated feature set or log number 0 is damage */
	expect_bad((const uint8_t *)"\x08\x00\x00\x01\x08\x00\x00\x01", 8,
		   "features repeated");
	expect_bad((const uint8_t *)"\x09\x00", 2, "log number 0");
	expect_bad((const uint8_t *)"\x0a\x05", 2, "truncated log size");
	expect_bad((const uint8_t *)"\x00", 1, "unknown tag");
	expect_bad((const uint8_t *)"\x01\x05\x01\x06", 4, "repeated");
	expect_bad((const uint8_t *)"\x03\xff\xff\xff\xff\xff\xff\xff\xff"
				    "\xff\x02", 11, "truncated number");
	expect_bad((const uint8_t *)"\x03\xff\xff\xff\xff\xff\xff\xff\xff"
				    "\x7f", 10, "last sequence out of range");
	expect_bad((const uint8_t *)"\x04\x0c\x05", 3, "level out of range");
	expect_bad((const uint8_t *)"\x07\x03" "abc", 5, "comparator");
	expect_bad((const uint8_t *)"\x07\x0clsm.bytewisX", 14, "comparator");
	expect_bad((const uint8_t *)"\x06\x01\x03" "abc", 6,
		   "invalid internal key");
	expect_bad((const uint8_t *)"\x81", 1, "truncated tag");

	/* A table with smallest > largest. */
	q = p;
	*q++ = 5;
	*q++ = 1;
	*q++ = 9;
	*q++ = 100;
	*q++ = (uint8_t)kl;
	memcpy(q, k, kl);
	q += kl;
	kl = ik(k, "aa", 5);
	*q++ = (uint8_t)kl;
	memcpy(q, k, kl);
	q += kl;
	expect_bad(p, (size_t)(q - p), "smallest key > largest");
	/* A key with an unknown type byte. */
	p[5 + 2] = 7;
	expect_bad(p, (size_t)(q - p), "invalid internal key");
}

static void test_edit_fuzz(void **state)
{
	struct version_edit e, d;
	struct buf a = BUF_INIT;
	struct rng r;
	uint8_t *m;

	(void)state;
	rng_init(&r, "edit fuzz", 0);
	sample_edit(&e);
	version_edit_encode(&e, &a);
	m = malloc(a.len);
	assert_non_null(m);
	for (int i = 0; i < 20000; i++) {
		int rc;

		memcpy(m, a.p, a.len);
		for (int j = 0, n = 1 + (int)rng_below(&r, 3); j < n; j++)
			m[rng_below(&r, a.len)] ^=
				(uint8_t)(1 + rng_below(&r, 255));
		rc = version_edit_decode(&d, m, a.len, NULL);
		assert_true(rc == 0 || rc == -EUCLEAN);
		if (rc == 0)
			version_edit_free(&d);
	}
	free(m);
	version_edit_free(&e);
	buf_free(&a);
}

/* ---- versions ---- */

static void test_version_queries(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	struct version *v;
	struct file_meta **out = NULL;
	size_t n = 0;
	uint8_t k[64];
	size_t kl;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	assert_int_equal(vs.next_file, 2);
	version_edit_init(&e);
	add(&e, 0, 10, "c", "e");
	add(&e, 0, 12, "a", "b");
	add(&e, 0, 11, "d", "g");
	add(&e, 0, 13, "x", "y");
	add(&e, 1, 20, "m", "p");
	add(&e, 1, 21, "a", "c");
	add(&e, 1, 22, "q", "t");
	add(&e, 1, 23, "e", "k");
	vs.next_file = 30;
	apply(&vs, &e);
	v = vs.current;
	assert_int_equal(v->nfiles[0], 4);
	assert_int_equal(v->files[0][0]->number, 13);
	assert_int_equal(v->files[0][3]->number, 10);
	assert_int_equal(v->files[1][0]->number, 21);
	assert_int_equal(v->files[1][1]->number, 23);
	assert_int_equal(v->files[1][2]->number, 20);
	assert_int_equal(v->files[1][3]->number, 22);
	assert_int_equal(version_level_bytes(v, 1), 4000 + 20 + 21 + 22 + 23);
	assert_int_equal(version_level_bytes(v, 2), 0);
	assert_int_equal(version_check(v, NULL), 0);

	kl = ik(k, "a", 1);
	assert_int_equal(version_find_file(v, 1, k, kl), 0);
	kl = ik(k, "d", 1);
	assert_int_equal(version_find_file(v, 1, k, kl), 1);
	kl = ik(k, "k", 200);
	assert_int_equal(version_find_file(v, 1, k, kl), 1);
	kl = ik(k, "l", 1);
	assert_int_equal(version_find_file(v, 1, k, kl), 2);
	kl = ik(k, "zz", 1);
	assert_int_equal(version_find_file(v, 1, k, kl), 4);
	assert_int_equal(version_find_file(v, 2, k, kl), 0);

	/* L1: plain overlap on user keys, bounds inclusive. */
	assert_int_equal(version_overlapping(v, 1, (const uint8_t *)"c", 1,
					     (const uint8_t *)"m", 1, &out,
					     &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0]->number, 21);
	assert_int_equal(out[2]->number, 20);
	/* Appends; NULL bounds are open. */
	assert_int_equal(version_overlapping(v, 1, NULL, 0,
					     (const uint8_t *)"b", 1, &out,
					     &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(out[3]->number, 21);
	n = 0;
	assert_int_equal(version_overlapping(v, 1, NULL, 0, NULL, 0, &out,
					     &n), 0);
	assert_int_equal(n, 4);
	/* L0: [f, f] hits 11 [d, g], which pulls in 10 [c, e]; not 12/13. */
	n = 0;
	assert_int_equal(version_overlapping(v, 0, (const uint8_t *)"f", 1,
					     (const uint8_t *)"f", 1, &out,
					     &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0]->number + out[1]->number, 21);
	n = 0;
	assert_int_equal(version_overlapping(v, 0, (const uint8_t *)"h", 1,
					     (const uint8_t *)"w", 1, &out,
					     &n), 0);
	assert_int_equal(n, 0);
	free(out);
	vset_destroy(&vs);
}

static void test_version_check(void **state)
{
	struct version v = { 0 };
	struct file_meta *f[3];
	struct lsm_err err = { 0 };
	uint8_t a[32], b[32];

	(void)state;
	f[0] = file_meta_new(5, 1, a, ik(a, "a", 1), b, ik(b, "c", 1));
	f[1] = file_meta_new(6, 1, a, ik(a, "c", 9), b, ik(b, "d", 1));
	f[2] = file_meta_new(7, 1, a, ik(a, "z", 1), b, ik(b, "y", 1));
	assert_true(f[0] && f[1] && f[2]);
	v.files[1] = f;
	v.nfiles[1] = 2; /* "c"@1 and "c"@9: c@9 sorts first -> overlap */
	assert_int_equal(version_check(&v, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "overlap"));
	/* Seq 0: c@0 sorts after c@1. */
	put_u64le(f[1]->smallest + 1, ikey_pack_tag(0, IKEY_VALUE));
	assert_int_equal(version_check(&v, NULL), 0);
	v.files[1] = f + 1;
	v.nfiles[1] = 2;
	assert_int_equal(version_check(&v, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "smallest > largest"));
	v.files[1] = NULL;
	v.nfiles[1] = 0;
	v.files[0] = f;
	v.nfiles[0] = 2; /* L0 must be newest first */
	assert_int_equal(version_check(&v, &err), -EUCLEAN);
	for (int i = 0; i < 3; i++)
		file_meta_unref(f[i]);
}

/* ---- the version set ---- */

static void three_edits(struct version_set *vs)
{
	struct version_edit e;
	uint64_t n1 = vset_new_file_number(vs), n2 = vset_new_file_number(vs);
	uint64_t n3 = vset_new_file_number(vs);

	version_edit_init(&e);
	add(&e, 0, n1, "a", "m");
	add(&e, 0, n2, "k", "z");
	vs->last_seq = 100;
	apply(vs, &e);
	version_edit_init(&e);
	del(&e, 0, n1);
	del(&e, 0, n2);
	add(&e, 1, n3, "a", "z");
	ptr(&e, 0, "m");
	e.has_log_number = true;
	e.log_number = n3 - 1;
	vs->last_seq = 250;
	apply(vs, &e);
	version_edit_init(&e);
	del(&e, 1, n3);
	add(&e, 2, n3, "a", "z"); /* a move */
	add(&e, 0, vset_new_file_number(vs), "b", "c");
	ptr(&e, 1, "q");
	apply(vs, &e);
}

static void test_vset_create_recover(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	char path[LSM_PATH_MAX], *before, *after;
	uint64_t next, old;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	three_edits(&vs);
	assert_int_equal(vs.current->nfiles[2], 1);
	assert_int_equal(vs.current->nfiles[0], 1);
	before = state_of(&vs);
	next = vs.next_file;
	old = vs.manifest_number;
	assert_int_equal(old, 1);
	vset_destroy(&vs);

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_recover(&vs, NULL), 0);
	after = state_of(&vs);
	assert_string_equal(before, after);
	assert_int_equal(vs.manifest_number, next);
	assert_int_equal(vs.next_file, next + 1);
	/* The old manifest is gone; the new one is a single snapshot. */
	manifest_path(path, tdir_root(d), old);
	assert_int_equal(file_size(path), -1);
	{
		char *cur = file_read_all(tdir_path(d, "CURRENT"), NULL);
		char want[64];

		snprintf(want, sizeof(want), "MANIFEST-%06llu\n",
			 (unsigned long long)vs.manifest_number);
		assert_non_null(cur);
		assert_memory_equal(cur, want, strlen(want));
		free(cur);
	}
	/* Applies continue on the new manifest and survive. */
	version_edit_init(&e);
	add(&e, 3, vset_new_file_number(&vs), "x", "y");
	apply(&vs, &e);
	free(after);
	after = state_of(&vs);
	vset_destroy(&vs);
	free(before);
	before = must_recover(tdir_root(d));
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static int count_cb(void *ctx, const uint8_t *rec, size_t len, uint64_t off,
		    struct lsm_err *err)
{
	(void)rec, (void)len, (void)off, (void)err;
	++*(int *)ctx;
	return 0;
}

static void test_vset_snapshot_record(void **state)
{
	static const uint8_t want[] = "\x07\x0clsm.bytewise"
				      "\x08\x03\x00\x01" /* identity + epochs, wal_v2 */
				      "\x01\x00\x02\x02\x03\x00"
				      "\x40\x14"; /* identity: 20 bytes */
	/* id (16 random bytes) | flags 0 | 1 generation: 1 from seq 1 */
	static const uint8_t id_tail[] = "\x00\x01\x01\x01";
	struct tdir *d = *state;
	struct version_set vs;
	char path[LSM_PATH_MAX];
	uint8_t *m;
	size_t len;
	int n = 0;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	/* A new store's manifest, byte by byte (engine/doc/manifest.md). */
	manifest_path(path, tdir_root(d), 1);
	m = file_read_all(path, &len);
	assert_non_null(m);
	assert_int_equal(len, WAL_HEADER_BYTES + sizeof(want) - 1 + 16 +
				      sizeof(id_tail) - 1);
	assert_int_equal(get_u32le(m + 4), sizeof(want) - 1 + 16 +
					   sizeof(id_tail) - 1);
	assert_memory_equal(m + WAL_HEADER_BYTES, want, sizeof(want) - 1);
	assert_memory_equal(m + WAL_HEADER_BYTES + sizeof(want) - 1 + 16,
			    id_tail, sizeof(id_tail) - 1);
	free(m);
	three_edits(&vs);
	vset_destroy(&vs);
	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_recover(&vs, NULL), 0);
	manifest_path(path, tdir_root(d), vs.manifest_number);
	assert_int_equal(wal_replay(lsm_io_posix(), path, false, count_cb, &n,
				    NULL, NULL), 0);
	assert_int_equal(n, 1);
	vset_destroy(&vs);
}

static void test_vset_bad_edits(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	struct lsm_err err = { 0 };
	struct version *cur;
	char *before, *after;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	three_edits(&vs);
	before = state_of(&vs);
	cur = vs.current;

	version_edit_init(&e);
	del(&e, 1, 9999);
	assert_int_equal(vset_log_and_apply(&vs, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "9999"));
	version_edit_free(&e);
	version_edit_init(&e);
	add(&e, 1, vs.current->files[0][0]->number, "a", "b");
	assert_int_equal(vset_log_and_apply(&vs, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "added twice"));
	version_edit_free(&e);
	version_edit_init(&e);
	add(&e, 2, vset_new_file_number(&vs), "b", "c"); /* overlaps L2 */
	assert_int_equal(vset_log_and_apply(&vs, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "overlap"));
	version_edit_free(&e);
	version_edit_init(&e);
	add(&e, LEVELS, vset_new_file_number(&vs), "b", "c");
	assert_int_equal(vset_log_and_apply(&vs, &e, &err), -EINVAL);
	version_edit_free(&e);
	version_edit_init(&e);
	e.has_log_number = true;
	e.log_number = 1; /* goes backwards */
	assert_int_equal(vset_log_and_apply(&vs, &e, &err), -EINVAL);
	version_edit_free(&e);
	assert_ptr_equal(vs.current, cur);
	after = state_of(&vs);
	assert_string_equal(before, after);
	free(after);
	/* Nothing reached the manifest and it is still usable. */
	version_edit_init(&e);
	add(&e, 4, vset_new_file_number(&vs), "b", "c");
	apply(&vs, &e);
	after = state_of(&vs);
	vset_destroy(&vs);
	free(before);
	before = must_recover(tdir_root(d));
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void live_cb(void *ctx, uint64_t number)
{
	uint64_t *mask = ctx;

	*mask |= UINT64_C(1) << number;
}

static void test_vset_live_tables(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	struct version *old;
	uint64_t mask = 0;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	vs.next_file = 10;
	version_edit_init(&e);
	add(&e, 0, 5, "a", "b");
	add(&e, 1, 6, "a", "b");
	apply(&vs, &e);
	old = vs.current;
	version_ref(old);
	version_edit_init(&e);
	del(&e, 0, 5);
	add(&e, 2, 7, "a", "b");
	apply(&vs, &e);
	vset_live_tables(&vs, live_cb, &mask);
	assert_int_equal(mask, (1u << 5) | (1u << 6) | (1u << 7));
	version_unref(old);
	mask = 0;
	vset_live_tables(&vs, live_cb, &mask);
	assert_int_equal(mask, (1u << 6) | (1u << 7));
	assert_ptr_equal(vs.live.next, vs.current);
	assert_ptr_equal(vs.current->next, &vs.live);
	vset_destroy(&vs);
}

static void test_vset_rollover(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	char path[LSM_PATH_MAX], *before, *after;
	uint64_t first;
	int rolled = 0;

	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	vs.manifest_limit = 300;
	for (int i = 0; i < 40; i++) {
		char k[16];

		first = vs.manifest_number;
		snprintf(k, sizeof(k), "k%03d", i);
		version_edit_init(&e);
		add(&e, 1, vset_new_file_number(&vs), k, k);
		vs.last_seq += 3;
		apply(&vs, &e);
		if (vs.manifest_number != first) {
			rolled++;
			manifest_path(path, tdir_root(d), first);
			assert_int_equal(file_size(path), -1);
		}
	}
	assert_true(rolled >= 3);
	manifest_path(path, tdir_root(d), vs.manifest_number);
	assert_true(file_size(path) > 0);
	before = state_of(&vs);
	vset_destroy(&vs);
	after = must_recover(tdir_root(d));
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* ---- damaged CURRENT and manifests ---- */

static void make_store(const char *dir, uint64_t *manifest)
{
	struct version_set vs;

	vset_init(&vs, lsm_io_posix(), dir, LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	three_edits(&vs);
	*manifest = vs.manifest_number;
	vset_destroy(&vs);
}

static void expect_recover_error(const char *dir, int want, const char *what)
{
	struct lsm_err err = { 0 };
	char *s = NULL;
	int rc = recover_state(dir, lsm_io_posix(), true, &s, &err);

	free(s);
	if (rc != want || !strstr(err.msg, what))
		fail_msg("want %d \"%s\", got %d \"%s\"", want, what, rc,
			 err.msg);
}

static void test_garbage_current(void **state)
{
	struct tdir *d = *state;
	static const struct { const char *text; size_t len; } bad[] = {
		{ "", 0 },
		{ "MANIFEST-000001", 15 },
		{ "MANIFEST-000001\n\n", 17 },
		{ "MANIFEST-0000x1\n", 16 },
		{ "000001.sst\n", 11 },
		{ "../MANIFEST-000001\n", 19 },
		{ "MANIFEST-000001\0\n", 17 },
		{ "\n", 1 },
	};
	const char *cur = tdir_path(d, "CURRENT");
	uint64_t m;
	char text[64];

	make_store(tdir_root(d), &m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(file_write_all(cur, bad[i].text, bad[i].len),
				 0);
		expect_recover_error(tdir_root(d), -EUCLEAN, "CURRENT");
	}
	/* A well-formed CURRENT naming a missing manifest. */
	snprintf(text, sizeof(text), "MANIFEST-%06llu\n",
		 (unsigned long long)(m + 1000));
	assert_int_equal(file_write_all(cur, text, strlen(text)), 0);
	expect_recover_error(tdir_root(d), -EUCLEAN, "does not exist");
	assert_int_equal(unlink(cur), 0);
	expect_recover_error(tdir_root(d), -ENOENT, "CURRENT");
	/* Back to the right one. */
	snprintf(text, sizeof(text), "MANIFEST-%06llu\n",
		 (unsigned long long)m);
	assert_int_equal(file_write_all(cur, text, strlen(text)), 0);
	free(must_recover(tdir_root(d)));
}

/* Builds a store whose manifest holds the last two applies as separate
 * records; returns the state before the last apply in *PREV. */
static void store_with_tail(const char *dir, char **prev, char **last,
			    char *mpath)
{
	struct version_set vs;
	struct version_edit e;

	vset_init(&vs, lsm_io_posix(), dir, LEVELS, false);
	assert_int_equal(vset_create(&vs, NULL), 0);
	three_edits(&vs);
	*prev = state_of(&vs);
	version_edit_init(&e);
	add(&e, 5, vset_new_file_number(&vs), "long key for the tail",
	    "long key for the tail, too");
	vs.last_seq = 999;
	apply(&vs, &e);
	*last = state_of(&vs);
	manifest_path(mpath, dir, vs.manifest_number);
	vset_destroy(&vs);
}

static void test_torn_tail(void **state)
{
	struct tdir *d = *state;
	char dir[LSM_PATH_MAX], mpath[LSM_PATH_MAX];
	char *prev, *last, *s;
	long long size;

	/* Every cut inside the last record falls back to the state before
	 * it (read-only: the manifest stays as it is). */
	for (unsigned cut = 1; cut < 60; cut += 7) {
		subdir(d, dir, sizeof(dir), "torn", cut);
		store_with_tail(dir, &prev, &last, mpath);
		size = file_size(mpath);
		assert_int_equal(corrupt_truncate(mpath, -(long long)cut), 0);
		assert_int_equal(recover_state(dir, lsm_io_posix(), true, &s,
					       NULL), 0);
		assert_string_equal(s, prev);
		assert_int_equal(file_size(mpath), size - cut);
		free(s);
		/* A read-write recovery drops it for good. */
		s = must_recover(dir);
		assert_string_equal(s, prev);
		free(s);
		s = must_recover(dir);
		assert_string_equal(s, prev);
		free(s);
		free(prev);
		free(last);
	}
	/* Garbage appended after the last record is a torn tail too. */
	subdir(d, dir, sizeof(dir), "torn-garbage", 0);
	store_with_tail(dir, &prev, &last, mpath);
	size = file_size(mpath);
	{
		FILE *f = fopen(mpath, "ab");

		assert_non_null(f);
		assert_int_equal(fwrite("\xee\xee\xee\xee\xee", 1, 5, f), 5);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(file_size(mpath), size + 5);
	}
	s = must_recover(dir);
	assert_string_equal(s, last);
	free(s);
	free(prev);
	free(last);
}

static void test_corrupt_middle(void **state)
{
	struct tdir *d = *state;
	char dir[LSM_PATH_MAX], mpath[LSM_PATH_MAX];
	char *prev, *last;
	struct lsm_err err = { 0 };
	char *s = NULL;

	subdir(d, dir, sizeof(dir), "middle", 0);
	store_with_tail(dir, &prev, &last, mpath);
	/* Byte 20 lies inside the first record (the snapshot). */
	assert_int_equal(corrupt_flip(mpath, 20, 0x10), 0);
	assert_int_equal(recover_state(dir, lsm_io_posix(), false, &s, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "MANIFEST"));
	/* Nothing was rewritten: the damage stays for inspection. */
	assert_int_equal(recover_state(dir, lsm_io_posix(), false, &s, &err),
			 -EBADMSG);
	free(prev);
	free(last);
}

/* Writes manifest 1 of DIR from N encoded edits and points CURRENT at
 * it. */
static void write_manifest(const char *dir, struct version_edit *edits,
			   size_t n)
{
	char path[LSM_PATH_MAX];
	struct wal *w;

	manifest_path(path, dir, 1);
	assert_int_equal(wal_create(lsm_io_posix(), path, &w, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		struct buf b = BUF_INIT;
		struct wal_rec r;

		version_edit_encode(&edits[i], &b);
		r = (struct wal_rec){ b.p, b.len };
		assert_int_equal(wal_append(w, &r, 1, NULL), 0);
		buf_free(&b);
		version_edit_free(&edits[i]);
	}
	assert_int_equal(wal_close(w, true, NULL), 0);
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	assert_int_equal(file_write_all(path, "MANIFEST-000001\n", 16), 0);
}

static void counters(struct version_edit *e, bool log, bool next, bool seq)
{
	version_edit_init(e);
	e->has_comparator = true;
	e->has_log_number = log;
	e->has_next_file = next;
	e->has_last_seq = seq;
	e->next_file = 50;
}

static void test_bad_manifests(void **state)
{
	struct tdir *d = *state;
	struct version_edit e[3];
	char dir[LSM_PATH_MAX];
	char *s;
	unsigned n = 0;

	/* Missing counters, even spread over records, are fine only when
	 * each one appears somewhere. */
	counters(&e[0], true, false, true);
	counters(&e[1], false, true, false);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 2);
	assert_int_equal(recover_state(dir, lsm_io_posix(), true, &s, NULL),
			 0);
	free(s);
	counters(&e[0], true, false, true);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "next file");
	counters(&e[0], false, true, true);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "log number");
	counters(&e[0], true, true, false);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "last sequence");
	/* An empty manifest has no counters either. */
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 0);
	expect_recover_error(dir, -EUCLEAN, "no log number");

	/* A table added twice, in one record or across two. */
	counters(&e[0], true, true, true);
	add(&e[0], 1, 7, "a", "b");
	version_edit_init(&e[1]);
	add(&e[1], 2, 7, "x", "y");
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 2);
	expect_recover_error(dir, -EUCLEAN, "table 7 added twice");
	counters(&e[0], true, true, true);
	add(&e[0], 1, 7, "a", "b");
	add(&e[0], 2, 7, "a", "b");
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "added twice");
	/* Deleting a table that is not there (or not at that level). */
	counters(&e[0], true, true, true);
	add(&e[0], 1, 7, "a", "b");
	version_edit_init(&e[1]);
	del(&e[1], 2, 7);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 2);
	expect_recover_error(dir, -EUCLEAN, "table 7 deleted");
	counters(&e[0], true, true, true);
	del(&e[0], 0, 3);
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "offset 0");
	/* Overlapping tables in L1. */
	counters(&e[0], true, true, true);
	add(&e[0], 1, 7, "a", "k");
	add(&e[0], 1, 8, "j", "z");
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "overlap");
	/* A level past max_levels. */
	counters(&e[0], true, true, true);
	add(&e[0], LEVELS, 7, "a", "k");
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	expect_recover_error(dir, -EUCLEAN, "level 7");
	/* A second record that does not decode names its offset. */
	counters(&e[0], true, true, true);
	add(&e[0], 1, 7, "a", "k");
	write_manifest(subdir(d, dir, sizeof(dir), "bad", n++), e, 1);
	{
		char path[LSM_PATH_MAX], want[64];
		struct buf b = BUF_INIT;
		struct wal *w;
		struct wal_rec r;

		manifest_path(path, dir, 1);
		counters(&e[0], true, true, true);
		version_edit_encode(&e[0], &b);
		version_edit_free(&e[0]);
		assert_int_equal(wal_create(lsm_io_posix(), path, &w, NULL), 0);
		r = (struct wal_rec){ b.p, b.len };
		assert_int_equal(wal_append(w, &r, 1, NULL), 0);
		r = (struct wal_rec){ "\x3f", 1 };
		assert_int_equal(wal_append(w, &r, 1, NULL), 0);
		assert_int_equal(wal_close(w, true, NULL), 0);
		snprintf(want, sizeof(want), "offset %zu: version edit: "
			 "unknown tag", (size_t)WAL_HEADER_BYTES + b.len);
		expect_recover_error(dir, -EUCLEAN, want);
		buf_free(&b);
	}
}

static void test_read_only(void **state)
{
	struct tdir *d = *state;
	struct version_set vs;
	struct version_edit e;
	char **names;
	size_t n1, n2;
	uint64_t m;
	char *s;

	make_store(tdir_root(d), &m);
	assert_int_equal(lsm_io_posix()->list_dir(lsm_io_posix(),
						  tdir_root(d), &names, &n1),
			 0);
	lsm_io_free_names(names, n1);
	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, true);
	assert_int_equal(vset_recover(&vs, NULL), 0);
	assert_int_equal(vs.manifest_number, m);
	assert_null(vs.manifest);
	version_edit_init(&e);
	add(&e, 3, vset_new_file_number(&vs), "x", "y");
	assert_int_equal(vset_log_and_apply(&vs, &e, NULL), -EROFS);
	version_edit_free(&e);
	vset_destroy(&vs);
	assert_int_equal(lsm_io_posix()->list_dir(lsm_io_posix(),
						  tdir_root(d), &names, &n2),
			 0);
	lsm_io_free_names(names, n2);
	assert_int_equal(n1, n2);
	vset_init(&vs, lsm_io_posix(), tdir_root(d), LEVELS, true);
	assert_int_equal(vset_create(&vs, NULL), -EROFS);
	vset_destroy(&vs);
	s = must_recover(tdir_root(d));
	free(s);
}

/* ---- crash safety ---- */

enum phase { PH_CREATE, PH_APPLY, PH_ROLL, PH_RECOVER };

/* One store with one edit applied (state *A) and, for PH_APPLY/PH_ROLL,
 * the edit to apply next in E.  VS is left open on IO. */
static void fault_setup(const char *dir, const struct lsm_io *io,
			struct version_set *vs, char **a)
{
	struct version_edit e;

	vset_init(vs, io, dir, LEVELS, false);
	assert_int_equal(vset_create(vs, NULL), 0);
	version_edit_init(&e);
	add(&e, 0, vset_new_file_number(vs), "a", "f");
	add(&e, 0, vset_new_file_number(vs), "e", "k");
	vs->last_seq = 40;
	apply(vs, &e);
	*a = state_of(vs);
}

static void next_edit(struct version_set *vs, struct version_edit *e)
{
	version_edit_init(e);
	del(e, 0, vs->current->files[0][0]->number);
	del(e, 0, vs->current->files[0][1]->number);
	add(e, 1, vset_new_file_number(vs), "a", "c");
	add(e, 1, vset_new_file_number(vs), "d", "k");
	ptr(e, 0, "k");
	e->has_log_number = true;
	e->log_number = vs->next_file - 1;
	vs->last_seq = 77;
}

/* How a round fails: from the Nth mutating call on (a dying disk or
 * process), then maybe a power cut; or only the Nth call, so the cleanup
 * paths run, then a power cut. */
enum fault_mode { FM_STICKY, FM_STICKY_CUT, FM_ONCE_CUT, FM_COUNT };

/* Runs PHASE with the Nth mutating call failing.  Returns false once N
 * passes the calls the phase makes (nothing failed). */
static bool fault_round(struct tdir *d, enum phase ph, unsigned n,
			enum fault_mode mode, const char *b)
{
	bool power_cut = mode != FM_STICKY;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct version_set vs;
	struct version_edit e;
	char dir[LSM_PATH_MAX], *a = NULL, *s = NULL;
	struct lsm_err err = { 0 };
	unsigned long before;
	int rc;

	assert_non_null(fio);
	subdir(d, dir, sizeof(dir), "fault",
	       (unsigned)ph * 10000 + (unsigned)mode * 1000 + n);
	if (ph == PH_CREATE)
		vset_init(&vs, &fio->io, dir, LEVELS, false);
	else
		fault_setup(dir, &fio->io, &vs, &a);
	if (ph == PH_ROLL)
		vs.manifest_limit = 0;
	if (ph == PH_RECOVER) {
		vset_destroy(&vs);
		vset_init(&vs, &fio->io, dir, LEVELS, false);
	}
	before = faulty_io_count(fio, FIO_ANY_WRITE);
	faulty_io_fail_nth(fio, FIO_ANY_WRITE, n, -EIO, mode != FM_ONCE_CUT);
	switch (ph) {
	case PH_CREATE:
		rc = vset_create(&vs, &err);
		break;
	case PH_RECOVER:
		rc = vset_recover(&vs, &err);
		break;
	default:
		next_edit(&vs, &e);
		rc = vset_log_and_apply(&vs, &e, &err);
		version_edit_free(&e);
		if (rc < 0)
			vs.last_seq = 40; /* the db's, set by next_edit */
		s = state_of(&vs); /* in memory: all or nothing */
		assert_string_equal(s, rc == 0 ? b : a);
		free(s);
		s = NULL;
		break;
	}
	if (faulty_io_count(fio, FIO_ANY_WRITE) - before < n) {
		/* The phase finished before the fault. */
		assert_int_equal(rc, 0);
		vset_destroy(&vs);
		faulty_io_free(fio);
		free(a);
		return false;
	}
	/* Only the removal of an old manifest may fail unnoticed. */
	if (rc == 0 && (ph == PH_CREATE || ph == PH_APPLY))
		fail_msg("phase %d call %u: the fault went unnoticed", ph, n);
	if (power_cut)
		assert_int_equal(faulty_io_power_cut(fio), 0);
	vset_destroy(&vs);
	faulty_io_reset(fio);
	memset(&err, 0, sizeof(err));
	rc = recover_state(dir, lsm_io_posix(), false, &s, &err);
	if (ph == PH_CREATE && rc == -ENOENT) {
		/* No CURRENT: the store was never created. */
		assert_non_null(strstr(err.msg, "CURRENT"));
	} else if (rc != 0) {
		fail_msg("phase %d mode %d call %u: recover: %d %s", ph, mode,
			 n, rc, err.msg);
	} else if (!(a && strcmp(s, a) == 0) && strcmp(s, b) != 0) {
		fail_msg("phase %d call %u: state\n%s\nis neither\n%s\nnor\n%s",
			 ph, n, s, a ? a : "(none)", b);
	}
	free(s);
	/* And it stays recoverable. */
	if (rc == 0)
		free(must_recover(dir));
	faulty_io_free(fio);
	free(a);
	return true;
}

/* The state after PH, from a run without faults. */
static char *after_state(struct tdir *d, enum phase ph)
{
	struct version_set vs;
	struct version_edit e;
	char dir[LSM_PATH_MAX], *a, *b;

	subdir(d, dir, sizeof(dir), "reference", (unsigned)ph);
	if (ph == PH_CREATE) {
		vset_init(&vs, lsm_io_posix(), dir, LEVELS, false);
		assert_int_equal(vset_create(&vs, NULL), 0);
		b = state_of(&vs);
		vset_destroy(&vs);
		return b;
	}
	fault_setup(dir, lsm_io_posix(), &vs, &a);
	if (ph == PH_RECOVER) {
		vset_destroy(&vs);
		return a;
	}
	next_edit(&vs, &e);
	apply(&vs, &e);
	b = state_of(&vs);
	assert_string_not_equal(a, b);
	vset_destroy(&vs);
	free(a);
	return b;
}

static void fault_phase(struct tdir *d, enum phase ph)
{
	char *b = after_state(d, ph);
	unsigned n;

	for (int mode = 0; mode < FM_COUNT; mode++) {
		for (n = 1; fault_round(d, ph, n, mode, b); n++)
			assert_true(n < 100);
		assert_true(n > 2); /* the phase did write */
		print_message("phase %d mode %d: %u fault points\n", ph, mode,
			      n - 1);
	}
	free(b);
}

static void test_faults_create(void **state)
{
	fault_phase(*state, PH_CREATE);
}

static void test_faults_apply(void **state)
{
	fault_phase(*state, PH_APPLY);
}

static void test_faults_rollover(void **state)
{
	fault_phase(*state, PH_ROLL);
}

static void test_faults_recover(void **state)
{
	fault_phase(*state, PH_RECOVER);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edit_round_trip),
		cmocka_unit_test(test_edit_truncated),
		cmocka_unit_test(test_edit_table_counts),
		cmocka_unit_test(test_edit_malformed),
		cmocka_unit_test(test_edit_fuzz),
		T(test_version_queries),
		cmocka_unit_test(test_version_check),
		T(test_vset_create_recover),
		T(test_vset_snapshot_record),
		T(test_vset_bad_edits),
		T(test_vset_live_tables),
		T(test_vset_rollover),
		T(test_garbage_current),
		T(test_torn_tail),
		T(test_corrupt_middle),
		T(test_bad_manifests),
		T(test_read_only),
		T(test_faults_create),
		T(test_faults_apply),
		T(test_faults_rollover),
		T(test_faults_recover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
