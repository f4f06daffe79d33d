/* test_wal.c - the log: round trips, torn tails versus corruption in the
 * middle, sticky errors under injected faults, short writes, concurrent
 * sync, and what a power cut keeps.  Also covers the POSIX I/O seam
 * (io_posix.c) and the fault-injecting wrapper it is tested through. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coding.h"
#include "crc.h"
#include "batch.h"
#include "faulty_io.h"
#include "support.h"
#include "wal.h"

/* ---- helpers ---- */

static int replay(const char *path, bool tail_ok, struct rec_got *g,
		  struct wal_replay_info *info, struct lsm_err *err)
{
	rec_got_free(g);
	return wal_replay(lsm_io_posix(), path, tail_ok, rec_got_collect, g, info,
			  err);
}

/* A set of records with deterministic contents. */
struct recs {
	uint8_t **p;
	size_t *len;
	uint64_t *off; /* where each record starts in the log */
	size_t n;
};

static void recs_make(struct recs *rs, struct rng *r, size_t n,
		      size_t max_len)
{
	rs->p = calloc(n, sizeof(*rs->p));
	rs->len = calloc(n, sizeof(*rs->len));
	rs->off = calloc(n, sizeof(*rs->off));
	rs->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t len = 1 + rng_below(r, max_len);

		rs->p[i] = malloc(len);
		assert_non_null(rs->p[i]);
		rng_bytes(r, rs->p[i], len);
		rs->len[i] = len;
	}
}

/* Gives record I fresh random contents of LEN bytes. */
static void recs_resize(struct recs *rs, struct rng *r, size_t i, size_t len)
{
	free(rs->p[i]);
	rs->p[i] = malloc(len);
	assert_non_null(rs->p[i]);
	rng_bytes(r, rs->p[i], len);
	rs->len[i] = len;
}

static void recs_free(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->p[i]);
	free(rs->p);
	free(rs->len);
	free(rs->off);
}

/* Appends RS through IO in groups of 1..4 records; syncs and closes. */
static void write_log(const struct lsm_io *io, const char *path,
		      struct recs *rs, struct rng *r)
{
	struct wal_rec grp[4];
	struct wal *w;
	size_t i = 0;

	assert_int_equal(wal_create(io, path, &w, NULL), 0);
	while (i < rs->n) {
		size_t k = 1 + rng_below(r, 4);

		if (k > rs->n - i)
			k = rs->n - i;
		for (size_t j = 0; j < k; j++) {
			grp[j].p = rs->p[i + j];
			grp[j].len = rs->len[i + j];
			rs->off[i + j] = wal_size(w);
			if (j > 0)
				rs->off[i + j] = rs->off[i + j - 1] + 8 +
						 rs->len[i + j - 1];
		}
		assert_int_equal(wal_append(w, grp, k, NULL), 0);
		i += k;
	}
	assert_int_equal(wal_close(w, true, NULL), 0);
}

/* Checks that G holds exactly the first N records of RS. */
static void expect_prefix(const struct rec_got *g, const struct recs *rs,
			  size_t n)
{
	assert_int_equal(g->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(g->len[i], rs->len[i]);
		assert_memory_equal(g->rec[i], rs->p[i], rs->len[i]);
		assert_true(g->off[i] == rs->off[i]);
	}
}

static uint64_t rec_end(const struct recs *rs, size_t i)
{
	return rs->off[i] + 8 + rs->len[i];
}

/* ---- round trips ---- */

static void test_empty_log(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000001.wal");
	struct wal_replay_info info = { .torn = true, .size = 9 };
	struct rec_got g = { 0 };
	struct wal *w;

	assert_int_equal(wal_create(lsm_io_posix(), path, &w, NULL), 0);
	assert_true(wal_size(w) == 0);
	assert_int_equal(wal_append(w, NULL, 0, NULL), 0);
	assert_int_equal(wal_sync(w, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	assert_int_equal(file_size(path), 0);
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	assert_int_equal(g.n, 0);
	assert_false(info.torn);
	assert_true(info.records == 0 && info.end == 0 && info.size == 0);
	assert_int_equal(wal_close(NULL, true, NULL), 0);
	rec_got_free(&g);
}

static void test_round_trip(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000002.wal");
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	size_t n;

	rng_init(&r, "wal_round_trip", 0);
	recs_make(&rs, &r, 2000, 3000);
	/* a few records larger than the 64 KiB read window */
	recs_resize(&rs, &r, 10, 65536 + 1);
	recs_resize(&rs, &r, 500, 1u << 20);
	recs_resize(&rs, &r, 1999, 200000);
	write_log(lsm_io_posix(), path, &rs, &r);
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, rs.n);
	n = rs.n;
	assert_true(info.records == n);
	assert_true(info.end == rec_end(&rs, n - 1));
	assert_true(info.size == info.end);
	assert_int_equal(file_size(path), (long long)info.end);
	assert_false(info.torn);
	rec_got_free(&g);
	recs_free(&rs);
}

/* The framing, byte by byte, as documented in wal.h. */
static void test_format(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000003.wal");
	struct wal_rec rec = { "hello", 5 };
	uint8_t *p, lenb[4];
	size_t len;
	struct wal *w;

	assert_int_equal(wal_create(lsm_io_posix(), path, &w, NULL), 0);
	assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
	assert_true(wal_size(w) == 13);
	assert_int_equal(wal_close(w, true, NULL), 0);
	p = file_read_all(path, &len);
	assert_non_null(p);
	assert_int_equal(len, 13);
	put_u32le(lenb, 5);
	assert_memory_equal(p + 4, lenb, 4);
	assert_memory_equal(p + 8, "hello", 5);
	assert_int_equal(get_u32le(p), crc32_of(p + 4, 9));
	free(p);
}

static void test_bad_append_args(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000004.wal");
	struct wal_rec recs[2] = { { "a", 1 }, { "", 0 } };
	struct lsm_err err = { 0 };
	struct wal *w;

	assert_int_equal(wal_create(lsm_io_posix(), path, &w, NULL), 0);
	assert_int_equal(wal_append(w, recs, 2, &err), -EINVAL);
	assert_true(wal_size(w) == 0);
	/* nothing was written: the log is not broken */
	assert_int_equal(wal_append(w, recs, 1, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	assert_int_equal(file_size(path), 9);
}

static void test_callback_stops(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000005.wal");
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;

	rng_init(&r, "wal_callback_stops", 0);
	recs_make(&rs, &r, 10, 100);
	write_log(lsm_io_posix(), path, &rs, &r);
	g.stop_at = 4;
	assert_int_equal(wal_replay(lsm_io_posix(), path, true, rec_got_collect, &g,
				    &info, &err), -ECANCELED);
	assert_int_equal(err.code, -ECANCELED);
	assert_non_null(strstr(err.msg, "000005.wal"));
	expect_prefix(&g, &rs, 3);
	assert_true(info.records == 3);
	rec_got_free(&g);
	recs_free(&rs);
}

static void test_missing_file(void **state)
{
	struct tdir *d = *state;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };

	assert_int_equal(replay(tdir_path(d, "nope.wal"), true, &g, NULL,
				&err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope.wal"));
}

/* ---- torn tails and corruption ---- */

/* Writes RS's log, then copies its first LEN bytes to PATH. */
static void write_prefix(const char *path, const uint8_t *img, size_t len)
{
	assert_int_equal(file_write_all(path, img, len), 0);
}

static void test_torn_every_offset(void **state)
{
	struct tdir *d = *state;
	const char *full = tdir_path(d, "full.wal");
	const char *cut = tdir_path(d, "cut.wal");
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	uint8_t *img;
	size_t len, last;
	uint64_t start;

	rng_init(&r, "wal_torn_every_offset", 0);
	recs_make(&rs, &r, 50, 300);
	recs_resize(&rs, &r, 49, 257); /* torn at each of its offsets */
	write_log(lsm_io_posix(), full, &rs, &r);
	img = file_read_all(full, &len);
	last = rs.n - 1;
	start = rs.off[last];
	for (uint64_t c = start; c <= len; c++) {
		write_prefix(cut, img, (size_t)c);
		assert_int_equal(replay(cut, true, &g, &info, NULL), 0);
		if (c == len) {
			expect_prefix(&g, &rs, rs.n);
			assert_false(info.torn);
			continue;
		}
		expect_prefix(&g, &rs, last);
		assert_true(info.end == start);
		assert_true(info.size == c);
		assert_int_equal(info.torn, c != start);
	}
	free(img);
	rec_got_free(&g);
	recs_free(&rs);
}

/* A long torn record (a big write cut short) is recognised quickly. */
static void test_torn_big_record(void **state)
{
	struct tdir *d = *state;
	const char *full = tdir_path(d, "bigfull.wal");
	const char *cut = tdir_path(d, "bigcut.wal");
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	uint8_t *img;
	size_t len;

	rng_init(&r, "wal_torn_big_record", 0);
	recs_make(&rs, &r, 4, 100);
	recs_resize(&rs, &r, 3, 6u << 20);
	write_log(lsm_io_posix(), full, &rs, &r);
	img = file_read_all(full, &len);
	for (int i = 0; i < 4; i++) {
		size_t c = (size_t)rs.off[3] + 1 +
			   rng_below(&r, rs.len[3] + 6);

		write_prefix(cut, img, c);
		assert_int_equal(replay(cut, true, &g, &info, NULL), 0);
		expect_prefix(&g, &rs, 3);
		assert_true(info.torn);
	}
	free(img);
	rec_got_free(&g);
	recs_free(&rs);
}

static void expect_corrupt(const char *path, uint64_t at)
{
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	char want[64];

	/* tail_ok does not excuse damage in the middle */
	assert_int_equal(replay(path, true, &g, &info, &err), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
	snprintf(want, sizeof(want), "offset %llu ", (unsigned long long)at);
	if (!strstr(err.msg, want) || !strstr(err.msg, path))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	assert_true(info.end == at);
	rec_got_free(&g);
}

static void test_corrupt_middle(void **state)
{
	struct tdir *d = *state;
	const char *full = tdir_path(d, "mid.wal");
	const char *bad = tdir_path(d, "midbad.wal");
	struct recs rs;
	struct rng r;
	uint8_t *img;
	size_t len;

	rng_init(&r, "wal_corrupt_middle", 0);
	recs_make(&rs, &r, 40, 2000);
	/* small and large (> checkpoint span) records after the damage */
	recs_resize(&rs, &r, 21, 3);
	recs_resize(&rs, &r, 31, 1500);
	write_log(lsm_io_posix(), full, &rs, &r);
	img = file_read_all(full, &len);
	for (size_t i = 0; i < 39; i++) {
		/* crc bytes, length bytes, payload: each flip is corruption */
		uint64_t spots[3] = {
			rs.off[i] + rng_below(&r, 4),
			rs.off[i] + 4 + rng_below(&r, 4),
			rs.off[i] + 8 + rng_below(&r, rs.len[i]),
		};

		for (int s = 0; s < 3; s++) {
			uint8_t bit = (uint8_t)(1u << rng_below(&r, 8));

			/* a length that now runs past the end included: the
			 * records after it show it is damage */
			write_prefix(bad, img, len);
			assert_int_equal(corrupt_flip(bad, (long long)spots[s],
						      bit), 0);
			expect_corrupt(bad, rs.off[i]);
		}
	}
	/* the damaged record is followed by a large record only */
	write_prefix(bad, img, (size_t)rec_end(&rs, 31));
	assert_int_equal(corrupt_flip(bad, (long long)rs.off[30] + 9, 4), 0);
	expect_corrupt(bad, rs.off[30]);
	free(img);
	recs_free(&rs);
}

static void test_flip_last_is_torn(void **state)
{
	struct tdir *d = *state;
	const char *full = tdir_path(d, "flip.wal");
	const char *bad = tdir_path(d, "flipbad.wal");
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	uint8_t *img;
	size_t len;

	rng_init(&r, "wal_flip_last", 0);
	recs_make(&rs, &r, 20, 500);
	write_log(lsm_io_posix(), full, &rs, &r);
	img = file_read_all(full, &len);
	for (uint64_t off = rs.off[19]; off < len; off += 7) {
		write_prefix(bad, img, len);
		assert_int_equal(corrupt_flip(bad, (long long)off, 0x10), 0);
		assert_int_equal(replay(bad, true, &g, &info, NULL), 0);
		expect_prefix(&g, &rs, 19);
		assert_true(info.torn);
		assert_true(info.end == rs.off[19]);
		/* without tail_ok a torn tail is an error too */
		assert_int_equal(replay(bad, false, &g, &info, &err),
				 -EBADMSG);
		assert_non_null(strstr(err.msg, "flipbad.wal"));
		expect_prefix(&g, &rs, 19);
	}
	free(img);
	rec_got_free(&g);
	recs_free(&rs);
}

static void test_zero_tail(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "zero.wal");
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	long long size;

	rng_init(&r, "wal_zero_tail", 0);
	recs_make(&rs, &r, 30, 1000);
	write_log(lsm_io_posix(), path, &rs, &r);
	size = file_size(path);
	/* the file grew, its data never made it: zeros after the records.
	 * A log that may still be written (TAIL_OK) ends there cleanly: a
	 * segment written through a mapping looks so while it is live. */
	assert_int_equal(truncate(path, size + 100000), 0);
	assert_int_equal(replay(path, true, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, 30);
	assert_true(!info.torn && info.end == (uint64_t)size);
	assert_true(info.zeros == 100000);
	/* a sealed one never ends in zeros: damage */
	assert_int_equal(replay(path, false, &g, &info, &err), -EBADMSG);
	/* zeros over the last two records, too: the same clean end, at
	 * the boundary where they start */
	assert_int_equal(corrupt_fill(path, (long long)rs.off[28],
				      (size_t)(size - (long long)rs.off[28]),
				      0), 0);
	assert_int_equal(replay(path, true, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, 28);
	assert_true(!info.torn && info.end == rs.off[28]);
	/* zeros from inside a record: its header is not zero, so that is
	 * a torn record (the scan after it finds nothing valid) */
	assert_int_equal(corrupt_fill(path, (long long)rs.off[27] + 4,
				      (size_t)(size - (long long)rs.off[27]
					       - 4), 0), 0);
	assert_int_equal(replay(path, true, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, 27);
	assert_true(info.torn && info.zeros == 0);
	rec_got_free(&g);
	recs_free(&rs);
}

/* Garbage with one valid record planted at a random offset: the scan
 * after the damaged first record must find exactly that record, whatever
 * its length (both the direct and the checkpointed CRC paths). */
static void test_scan_finds_planted(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "plant.wal");
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct rng r;
	size_t size = 300000;
	uint8_t *img = malloc(size);

	rng_init(&r, "wal_scan_planted", 0);
	for (int t = 0; t < 40; t++) {
		size_t plen = 1 + rng_below(&r, t % 2 ? 100000 : 600);
		size_t at = 1 + rng_below(&r, size - plen - 8);
		char want[48];

		/* no plausible lengths in the garbage: all top bytes 0xff */
		for (size_t i = 0; i < size; i++)
			img[i] = (uint8_t)(i % 4 == 3 ? 0xff :
					   rng_below(&r, 256));
		rng_bytes(&r, img + at + 8, plen);
		put_u32le(img + at + 4, (uint32_t)plen);
		put_u32le(img + at, crc32_of(img + at + 4, plen + 4));
		write_prefix(path, img, size);
		assert_int_equal(replay(path, true, &g, NULL, &err), -EBADMSG);
		snprintf(want, sizeof(want), "follows at offset %zu)", at);
		if (!strstr(err.msg, want))
			fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
		/* the same garbage with the record broken: a torn tail */
		img[at + 8] ^= 1;
		write_prefix(path, img, size);
		assert_int_equal(replay(path, true, &g, NULL, &err), 0);
	}
	free(img);
	rec_got_free(&g);
}

/* ---- faults ---- */

static void fault_case(struct tdir *d, enum fio_op op, int code)
{
	const char *path = tdir_path(d, "fault.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_rec rec = { "record", 6 };
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct wal *w;

	assert_non_null(fio);
	assert_int_equal(wal_create(&fio->io, path, &w, NULL), 0);
	assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
	assert_int_equal(wal_sync(w, NULL), 0);
	faulty_io_fail_nth(fio, op, 1, code, false); /* once only */
	if (op == FIO_WRITE) {
		assert_int_equal(wal_append(w, &rec, 1, &err), code);
	} else {
		assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
		assert_int_equal(wal_sync(w, &err), code);
	}
	assert_int_equal(err.code, code);
	assert_non_null(strstr(err.msg, "fault.wal"));
	/* sticky: the fault is gone but the log stays broken */
	memset(&err, 0, sizeof(err));
	assert_int_equal(wal_append(w, &rec, 1, &err), code);
	assert_int_equal(err.code, code);
	assert_int_equal(wal_sync(w, NULL), code);
	assert_int_equal(wal_close(w, true, NULL), code);
	/* what reached the file is still a valid log */
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	assert_int_equal(g.n, op == FIO_WRITE ? 1 : 2);
	rec_got_free(&g);
	faulty_io_free(fio);
}

static void test_fault_write_eio(void **state)
{
	fault_case(*state, FIO_WRITE, -EIO);
}

/* Running out of space at write(2) is not a broken log: the failed group
 * is cut off again, the error reported, and the log goes on (a full disk
 * must not turn the store read-only). */
static void test_fault_write_enospc(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "full.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_rec rec = { "record", 6 }, big = { "bigger-record", 13 };
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct wal *w;

	assert_int_equal(wal_create(&fio->io, path, &w, NULL), 0);
	assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
	faulty_io_short_writes(fio, true); /* part of the group lands */
	faulty_io_fail_nth(fio, FIO_WRITE, 2, -ENOSPC, false);
	assert_int_equal(wal_append(w, &big, 1, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "no space"));
	assert_int_equal(file_size(path), WAL_HEADER_BYTES + 6);
	assert_int_equal(wal_size(w), WAL_HEADER_BYTES + 6);
	faulty_io_short_writes(fio, false);
	assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	assert_int_equal(g.n, 2);
	assert_false(info.torn);
	rec_got_free(&g);
	faulty_io_free(fio);
}

static void test_fault_fsync_eio(void **state)
{
	fault_case(*state, FIO_FSYNC, -EIO);
}

static void test_fault_fsync_enospc(void **state)
{
	fault_case(*state, FIO_FSYNC, -ENOSPC);
}

static void test_fault_create(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_err err = { 0 };
	struct wal *w = NULL;

	faulty_io_fail_nth(fio, FIO_OPEN, 1, -EMFILE, false);
	assert_int_equal(wal_create(&fio->io, tdir_path(d, "c.wal"), &w,
				    &err), -EMFILE);
	assert_null(w);
	assert_non_null(strstr(err.msg, "c.wal"));
	faulty_io_free(fio);
}

/* A write failing midway through a group (after a short write) leaves a
 * torn tail, never a damaged middle. */
static void test_fault_partial_group(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "part.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	/* 12 + 32 + 10 bytes framed; short writes land 27 + 13 = 40 */
	struct wal_rec grp[3] = { { "aaaa", 4 },
				  { "bbbbbbbbbbbbbbbbbbbbbbbb", 24 },
				  { "cc", 2 } };
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct wal *w;

	assert_int_equal(wal_create(&fio->io, path, &w, NULL), 0);
	assert_int_equal(wal_append(w, grp, 1, NULL), 0);
	faulty_io_short_writes(fio, true);
	faulty_io_fail_nth(fio, FIO_WRITE, 3, -EIO, true);
	assert_int_equal(wal_append(w, grp, 3, NULL), -EIO);
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 4);
	assert_int_equal(wal_close(w, false, NULL), 0);
	assert_int_equal(replay(path, true, &g, &info, NULL), 0);
	assert_int_equal(g.n, 2);
	assert_true(info.torn);
	assert_true(info.end == 24);
	assert_memory_equal(g.rec[0], "aaaa", 4);
	rec_got_free(&g);
	faulty_io_free(fio);
}

static void test_short_writes(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "short.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;

	rng_init(&r, "wal_short_writes", 0);
	recs_make(&rs, &r, 200, 5000);
	faulty_io_short_writes(fio, true);
	write_log(&fio->io, path, &rs, &r);
	/* each append needed many pwrite calls */
	assert_true(faulty_io_count(fio, FIO_WRITE) > 4 * 200 / 4);
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, rs.n);
	assert_false(info.torn);
	rec_got_free(&g);
	recs_free(&rs);
	faulty_io_free(fio);
}

/* ---- groups written as they lie (pwritev) ---- */

static atomic_int gathered_calls;
static atomic_bool gathered_short;

/* posix pwritev, counted; with GATHERED_SHORT it writes only the first
 * half of what it is given (ending inside a buffer), so the caller must
 * go on from the middle of one. */
static ssize_t counting_pwritev(const struct lsm_io *io, int fd,
				const struct iovec *iov, int cnt,
				uint64_t off)
{
	const struct lsm_io *posix = lsm_io_posix();
	struct iovec part[256];
	size_t total = 0, want;
	int k = 0;

	(void)io;
	atomic_fetch_add(&gathered_calls, 1);
	if (!atomic_load(&gathered_short) || cnt > 256)
		return posix->pwritev(posix, fd, iov, cnt, off);
	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	want = total > 1 ? total / 2 : total;
	for (size_t got = 0; k < cnt && got < want; k++) {
		part[k] = iov[k];
		if (got + part[k].iov_len > want)
			part[k].iov_len = want - got;
		got += part[k].iov_len;
	}
	return posix->pwritev(posix, fd, part, k, off);
}

/* Groups of records up to 300 KiB: the large ones are written with
 * pwritev, each record where it lies behind a header framed apart, also
 * when every call writes only half, and read back byte for byte at the
 * offsets the appends gave. */
static void test_gathered_groups(void **state)
{
	struct tdir *d = *state;
	struct lsm_io io = *lsm_io_posix();
	struct wal_replay_info info;
	struct rng r;

	io.pwritev = counting_pwritev;
	for (int pass = 0; pass < 2; pass++) {
		const char *path = tdir_path(d, pass ? "gs.wal" : "g.wal");
		struct rec_got g = { 0 };
		struct recs rs;

		atomic_store(&gathered_calls, 0);
		atomic_store(&gathered_short, pass == 1);
		rng_init(&r, "wal_gathered", (uint64_t)pass);
		recs_make(&rs, &r, 80, 300000);
		/* small records among them: groups mix both */
		for (size_t i = 0; i < rs.n; i += 5)
			recs_resize(&rs, &r, i, 1 + rng_below(&r, 40));
		write_log(&io, path, &rs, &r);
		assert_true(atomic_load(&gathered_calls) > (pass ? 40 : 10));
		assert_int_equal(replay(path, false, &g, &info, NULL), 0);
		expect_prefix(&g, &rs, rs.n);
		assert_false(info.torn);
		rec_got_free(&g);
		recs_free(&rs);
	}
}

struct sync_ctx {
	struct wal *w;
	atomic_bool done;
	unsigned long syncs;
	int rc;
};

static void *sync_loop(void *arg)
{
	struct sync_ctx *c = arg;

	while (!atomic_load(&c->done)) {
		int rc = wal_sync(c->w, NULL);

		if (rc < 0) {
			c->rc = rc;
			break;
		}
		c->syncs++;
	}
	return NULL;
}

static void test_concurrent_sync(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "conc.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct sync_ctx c = { 0 };
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	pthread_t th;

	rng_init(&r, "wal_concurrent_sync", 0);
	recs_make(&rs, &r, 3000, 200);
	assert_int_equal(wal_create(&fio->io, path, &c.w, NULL), 0);
	atomic_init(&c.done, false);
	assert_int_equal(pthread_create(&th, NULL, sync_loop, &c), 0);
	for (size_t i = 0; i < rs.n; i++) {
		struct wal_rec rec = { rs.p[i], rs.len[i] };

		rs.off[i] = wal_size(c.w);
		assert_int_equal(wal_append(c.w, &rec, 1, NULL), 0);
	}
	atomic_store(&c.done, true);
	pthread_join(th, NULL);
	assert_int_equal(c.rc, 0);
	assert_int_equal(wal_sync(c.w, NULL), 0);
	/* a sync with nothing new is free */
	{
		unsigned long before = faulty_io_count(fio, FIO_FSYNC);

		assert_int_equal(wal_sync(c.w, NULL), 0);
		assert_int_equal(faulty_io_count(fio, FIO_FSYNC), before);
	}
	assert_int_equal(wal_close(c.w, true, NULL), 0);
	assert_int_equal(replay(path, false, &g, NULL, NULL), 0);
	expect_prefix(&g, &rs, rs.n);
	rec_got_free(&g);
	recs_free(&rs);
	faulty_io_free(fio);
}

/* A failing fsync in the sync thread breaks the appender too. */
static void test_concurrent_sync_failure(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "concfail.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct sync_ctx c = { 0 };
	struct wal_rec rec = { "x", 1 };
	pthread_t th;
	int rc = 0;

	assert_int_equal(wal_create(&fio->io, path, &c.w, NULL), 0);
	faulty_io_fail_nth(fio, FIO_FSYNC, 3, -EIO, false);
	atomic_init(&c.done, false);
	assert_int_equal(pthread_create(&th, NULL, sync_loop, &c), 0);
	for (int i = 0; i < 1000000 && rc == 0; i++) {
		rc = wal_append(c.w, &rec, 1, NULL);
		if (i % 64 == 0)
			usleep(100);
	}
	atomic_store(&c.done, true);
	pthread_join(th, NULL);
	assert_int_equal(rc, -EIO);
	assert_int_equal(c.rc, -EIO);
	assert_int_equal(wal_close(c.w, false, NULL), 0);
	faulty_io_free(fio);
}

/* ---- power cuts (faulty_io's model) ---- */

static void test_power_cut_unsynced(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000010.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;
	struct wal *w;

	rng_init(&r, "wal_power_cut", 0);
	recs_make(&rs, &r, 10, 1000);
	assert_int_equal(wal_create(&fio->io, path, &w, NULL), 0);
	assert_int_equal(fio->io.sync_dir(&fio->io, tdir_root(d)), 0);
	for (size_t i = 0; i < rs.n; i++) {
		struct wal_rec rec = { rs.p[i], rs.len[i] };

		rs.off[i] = wal_size(w);
		assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
		if (i == 5)
			assert_int_equal(wal_sync(w, NULL), 0);
	}
	assert_int_equal(faulty_io_power_cut(fio), 0);
	/* the machine is off: nothing more reaches the disk */
	assert_int_equal(wal_close(w, true, NULL), -EIO);
	assert_int_equal(replay(path, false, &g, &info, NULL), 0);
	expect_prefix(&g, &rs, 6);
	assert_false(info.torn);
	faulty_io_reset(fio);
	rec_got_free(&g);
	recs_free(&rs);
	faulty_io_free(fio);
}

static void test_power_cut_dir_not_synced(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000011.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_rec rec = { "durable?", 8 };
	struct wal *w;

	assert_int_equal(wal_create(&fio->io, path, &w, NULL), 0);
	assert_int_equal(wal_append(w, &rec, 1, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	/* synced data, but the directory entry never was */
	assert_int_equal(faulty_io_power_cut(fio), 0);
	assert_int_equal(file_size(path), -1);
	faulty_io_free(fio);
}

static void test_power_cut_rename(void **state)
{
	struct tdir *d = *state;
	char cur[4096], tmp[4096];
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	const struct lsm_io *io = &fio->io;
	char **names;
	size_t n, len;
	char *p;
	int fd;

	snprintf(cur, sizeof(cur), "%s", tdir_path(d, "CURRENT"));
	snprintf(tmp, sizeof(tmp), "%s", tdir_path(d, "000012.tmp"));
	assert_int_equal(file_write_all(cur, "old\n", 4), 0);
	assert_int_equal(io->open(io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644,
				  &fd), 0);
	assert_int_equal(lsm_io_write_full(io, fd, "new\n", 4, 0), 0);
	assert_int_equal(io->fsync(io, fd), 0);
	assert_int_equal(io->close(io, fd), 0);
	assert_int_equal(io->rename(io, tmp, cur), 0);
	/* the wrapper's backup link does not show */
	assert_int_equal(io->list_dir(io, tdir_root(d), &names, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_null(strstr(names[i], "fio"));
	lsm_io_free_names(names, n);
	/* no sync_dir: the rename and the creation are lost */
	assert_int_equal(faulty_io_power_cut(fio), 0);
	p = file_read_all(cur, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "old\n", 4);
	free(p);
	assert_int_equal(file_size(tmp), -1);
	/* again, with the directory synced: the new name sticks */
	faulty_io_reset(fio);
	assert_int_equal(io->open(io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644,
				  &fd), 0);
	assert_int_equal(lsm_io_write_full(io, fd, "new\n", 4, 0), 0);
	assert_int_equal(io->fsync(io, fd), 0);
	assert_int_equal(io->close(io, fd), 0);
	assert_int_equal(io->rename(io, tmp, cur), 0);
	assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	assert_int_equal(faulty_io_power_cut(fio), 0);
	p = file_read_all(cur, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "new\n", 4);
	free(p);
	assert_int_equal(io->list_dir(io, tdir_root(d), &names, &n), 0);
	assert_int_equal(n, 1); /* CURRENT only, no backup left behind */
	lsm_io_free_names(names, n);
	faulty_io_free(fio);
}

/* ---- the POSIX seam and the fault counters ---- */

static void test_io_posix(void **state)
{
	struct tdir *d = *state;
	const struct lsm_io *io = lsm_io_posix();
	const char *path = tdir_path(d, "io.dat");
	char sub[4096], buf[16], **names;
	uint64_t size;
	size_t n;
	int fd, fd2;

	assert_int_equal(io->open(io, path, O_RDWR | O_CREAT, 0644, &fd), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(lsm_io_write_full(io, fd, "0123456789", 10, 5), 0);
	assert_int_equal(io->fsync(io, fd), 0);
	assert_int_equal(io->fsize(io, fd, &size), 0);
	assert_true(size == 15);
	assert_int_equal(lsm_io_read_full(io, fd, buf, 10, 5), 0);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(lsm_io_read_full(io, fd, buf, 11, 5), -EUCLEAN);
	assert_int_equal(io->pread(io, fd, buf, 16, 15), 0);
	assert_int_equal(io->ftruncate(io, fd, 3), 0);
	assert_int_equal(io->fsize(io, fd, &size), 0);
	assert_true(size == 3);
	/* the lock is exclusive between open file descriptions */
	assert_int_equal(io->open(io, path, O_RDONLY, 0, &fd2), 0);
	assert_int_equal(io->lock(io, fd), 0);
	assert_int_equal(io->lock(io, fd2), -EWOULDBLOCK);
	assert_int_equal(io->close(io, fd2), 0);
	assert_int_equal(io->close(io, fd), 0);
	snprintf(sub, sizeof(sub), "%s", tdir_path(d, "sub"));
	assert_int_equal(io->mkdir(io, sub, 0755), 0);
	assert_int_equal(io->mkdir(io, sub, 0755), -EEXIST);
	assert_int_equal(io->sync_dir(io, sub), 0);
	assert_int_equal(io->sync_dir(io, path), -ENOTDIR);
	assert_int_equal(io->rename(io, path, tdir_path(d, "io2.dat")), 0);
	assert_int_equal(io->list_dir(io, tdir_root(d), &names, &n), 0);
	assert_int_equal(n, 2);
	assert_true(!strcmp(names[0], "io2.dat") || !strcmp(names[1],
							    "io2.dat"));
	lsm_io_free_names(names, n);
	assert_int_equal(io->unlink(io, tdir_path(d, "io2.dat")), 0);
	assert_int_equal(io->unlink(io, tdir_path(d, "io2.dat")), -ENOENT);
	assert_int_equal(io->open(io, path, O_RDONLY, 0, &fd), -ENOENT);
	assert_int_equal(io->list_dir(io, path, &names, &n), -ENOENT);
	assert_int_equal(rmdir(sub), 0);
	lsm_io_free_names(NULL, 0);
}

static void test_fault_counts(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	const struct lsm_io *io = &fio->io;
	const char *path = tdir_path(d, "cnt.dat");
	int fd;

	assert_int_equal(io->open(io, path, O_WRONLY | O_CREAT, 0644, &fd), 0);
	faulty_io_fail_nth(fio, FIO_ANY_WRITE, 2, -EIO, true);
	assert_int_equal(io->pwrite(io, fd, "a", 1, 0), 1);
	assert_int_equal(io->fsync(io, fd), -EIO);
	assert_int_equal(io->pwrite(io, fd, "a", 1, 0), -EIO);
	assert_int_equal(io->sync_dir(io, tdir_root(d)), -EIO);
	faulty_io_reset(fio);
	assert_int_equal(io->fsync(io, fd), 0);
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 2);
	assert_int_equal(faulty_io_count(fio, FIO_FSYNC), 2);
	assert_int_equal(faulty_io_count(fio, FIO_OPEN), 1);
	assert_int_equal(faulty_io_count(fio, FIO_ANY_WRITE), 5);
	/* the 2nd read from now fails, once */
	faulty_io_fail_nth(fio, FIO_READ, 2, -EIO, false);
	{
		char c;

		assert_int_equal(io->close(io, fd), 0);
		assert_int_equal(io->open(io, path, O_RDONLY, 0, &fd), 0);
		assert_int_equal(io->pread(io, fd, &c, 1, 0), 1);
		assert_int_equal(io->pread(io, fd, &c, 1, 0), -EIO);
		assert_int_equal(io->pread(io, fd, &c, 1, 0), 1);
	}
	assert_int_equal(io->close(io, fd), 0);
	faulty_io_free(fio);
}

/* A read error during replay is reported, not taken for a torn tail. */
static void test_replay_read_error(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "rderr.wal");
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct recs rs;
	struct rng r;

	rng_init(&r, "wal_replay_read_error", 0);
	recs_make(&rs, &r, 100, 3000);
	write_log(lsm_io_posix(), path, &rs, &r);
	faulty_io_fail_nth(fio, FIO_READ, 2, -EIO, false);
	assert_int_equal(wal_replay(&fio->io, path, true, rec_got_collect, &g, NULL,
				    &err), -EIO);
	assert_non_null(strstr(err.msg, "rderr.wal"));
	rec_got_free(&g);
	recs_free(&rs);
	faulty_io_free(fio);
}

/* Appends the records P[0..N) to a log salted with SALT at PATH. */
static void write_salted(const char *path, uint64_t salt,
			 const struct wal_rec *p, size_t n)
{
	struct wal *w;

	assert_int_equal(wal_create_salted(lsm_io_posix(), path, salt, &w,
					   NULL), 0);
	assert_int_equal(wal_append(w, p, n, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
}

/* A frame salted with one segment's number is not a record of another:
 * stale frames of an older segment (a reused block, a recycled file)
 * cannot pass for records of this one. */
static void test_salt_separates_segments(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000007.wal");
	struct wal_rec recs[2] = { { "first", 5 }, { "second", 6 } };
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };

	write_salted(path, 7, recs, 2);
	assert_int_equal(wal_replay_salted(lsm_io_posix(), path, 7, false,
					   rec_got_collect, &g, &info, NULL), 0);
	assert_int_equal(g.n, 2);
	assert_memory_equal(g.rec[1], "second", 6);
	rec_got_free(&g);
	/* read as segment 8, or unsalted, nothing is valid */
	assert_int_equal(wal_replay_salted(lsm_io_posix(), path, 8, false,
					   rec_got_collect, &g, &info, &err), -EBADMSG);
	assert_int_equal(g.n, 0);
	assert_int_equal(wal_replay_salted(lsm_io_posix(), path, 8, true,
					   rec_got_collect, &g, &info, NULL), 0);
	assert_int_equal(g.n, 0);
	assert_true(info.torn);
	assert_int_equal(replay(path, true, &g, &info, NULL), 0);
	assert_int_equal(g.n, 0);
	rec_got_free(&g);
}

/* A batch-shaped payload: sequence SEQ, COUNT operations (the header is
 * all the successor test reads), then FILL bytes of X. */
static size_t fake_batch(uint8_t *p, uint64_t seq, uint32_t count,
			 size_t fill, uint8_t x)
{
	put_u64le(p, seq);
	put_u32le(p + 8, count);
	memset(p + 12, x, fill);
	return 12 + fill;
}

static int replay_batches(const char *path, uint64_t salt, struct rec_got *g,
			  struct wal_replay_info *info, struct lsm_err *err)
{
	struct wal_replay_opts o = { .salt = salt, .tail_ok = true,
				     .successor = batch_follows };

	rec_got_free(g);
	return wal_replay_ex(lsm_io_posix(), path, &o, rec_got_collect, g, info, err);
}

/* A record being appended when the writer died is a torn tail even when
 * its payload (file data: say a copy of a data directory written into the
 * mount) holds frames that are valid records of this very log: they hold
 * batches of the past, which cannot follow the last record delivered. */
static void test_torn_record_with_embedded_frames(void **state)
{
	struct tdir *d = *state;
	const char *inner = tdir_path(d, "inner.wal");
	const char *path = tdir_path(d, "000009.wal");
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	uint8_t b1[32], b2[32], b3[32], head[32], *img, *payload;
	size_t ilen, len;

	for (int salt = 0; salt < 2; salt++) {
		struct wal_rec in[3] = {
			{ b1, fake_batch(b1, 1, 2, 3, 'a') },
			{ b2, fake_batch(b2, 3, 1, 4, 'b') },
			{ b3, fake_batch(b3, 4, 5, 5, 'c') },
		};
		struct wal_rec outer[2];

		/* frames of the same log (same salt) inside a payload */
		write_salted(inner, salt ? 9 : 0, in, 3);
		img = file_read_all(inner, &ilen);
		payload = malloc(3000);
		assert_non_null(payload);
		fake_batch(payload, 10, 1, 3000 - 12, 'x');
		memcpy(payload + 1500, img, ilen);
		outer[0] = (struct wal_rec){ head, fake_batch(head, 9, 1, 4,
							      'h') };
		outer[1] = (struct wal_rec){ payload, 3000 };
		write_salted(path, salt ? 9 : 0, outer, 2);
		free(img);
		img = file_read_all(path, &len);
		/* cut inside the big payload, after the embedded frames */
		write_prefix(path, img, len - 500);
		assert_int_equal(replay_batches(path, salt ? 9 : 0, &g, &info,
						NULL), 0);
		assert_int_equal(g.n, 1);
		assert_true(info.torn);
		assert_int_equal(info.end, WAL_HEADER_BYTES + outer[0].len);
		rec_got_free(&g);
		free(img);
		free(payload);
	}
}

/* A flipped bit in the length of a record in the middle of the newest
 * segment, which makes it run past the end of the file, is damage, not a
 * torn tail: the records after it (later batches) say so. */
static void test_length_flip_is_not_a_torn_tail(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "000011.wal");
	uint8_t b[4][64];
	struct wal_rec recs[4];
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };

	for (int i = 0; i < 4; i++)
		recs[i] = (struct wal_rec){ b[i], fake_batch(b[i],
					    1 + 2 * (uint64_t)i, 2, 40,
					    (uint8_t)('a' + i)) };
	write_salted(path, 11, recs, 4);
	/* record 1's length: 52 -> 52 | 0x40000 runs past the end */
	assert_int_equal(corrupt_flip(path, WAL_HEADER_BYTES + 52 + 4 + 2,
				      0x04), 0);
	assert_int_equal(replay_batches(path, 11, &g, &info, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "a valid record follows"));
	assert_int_equal(g.n, 1);
	rec_got_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_log, tdir_setup,
						tdir_teardown),
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
		T(test_round_trip),
		T(test_format),
		T(test_bad_append_args),
		T(test_callback_stops),
		T(test_missing_file),
		T(test_torn_every_offset),
		T(test_torn_big_record),
		T(test_corrupt_middle),
		T(test_flip_last_is_torn),
		T(test_zero_tail),
		T(test_scan_finds_planted),
		T(test_fault_write_eio),
		T(test_fault_write_enospc),
		T(test_fault_fsync_eio),
		T(test_fault_fsync_enospc),
		T(test_fault_create),
		T(test_fault_partial_group),
		T(test_short_writes),
		T(test_gathered_groups),
		T(test_concurrent_sync),
		T(test_concurrent_sync_failure),
		T(test_power_cut_unsynced),
		T(test_power_cut_dir_not_synced),
		T(test_power_cut_rename),
		T(test_io_posix),
		T(test_fault_counts),
		T(test_replay_read_error),
		T(test_salt_separates_segments),
		T(test_torn_record_with_embedded_frames),
		T(test_length_flip_is_not_a_torn_tail),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
