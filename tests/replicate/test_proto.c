/* test_proto.c - replicate/proto.h: every message round trips; malformed,
 * truncated, oversized and trailing-byte payloads are -EPROTO; the file
 * name rule; frames over a socketpair against a hostile or broken peer
 * (bad header fields, damaged bytes, compression bombs, a close in
 * mid-frame, silence). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "proto.h"
#include "transport.h"

/* ---- payload round trips ---- */

static struct lr_history hist[3] = { { 1, 1 }, { 2, 5000 }, { 7, 1ull << 40 } };
static struct lr_epoch epochs[2] = { { 0x1234567890abcdefull, 1 },
				     { UINT64_MAX, 4999 } };

static void fill_hello(struct lr_hello *m, struct lr_file_id *files)
{
	memset(m, 0, sizeof(*m));
	m->flags = LR_HELLO_HAS_STORE | LR_HELLO_COMPRESS;
	for (int i = 0; i < LR_STORE_ID_BYTES; i++)
		m->store_id[i] = (uint8_t)(i * 7 + 1);
	m->generation = 7;
	m->seq = 123456789012ull;
	m->history = hist;
	m->nhistory = 3;
	m->epochs = epochs;
	m->nepochs = 2;
	m->dir = (char *)"/srv/data";
	strcpy(files[0].name, "000012.sst");
	files[0].size = 4096;
	files[0].crc = 0xdeadbeef;
	strcpy(files[1].name, "MANIFEST-000003");
	files[1].size = 77;
	files[1].crc = 1;
	strcpy(files[2].name, "CURRENT");
	files[2].size = 16;
	files[2].crc = 0;
	m->files = files;
	m->nfiles = 3;
}

static void test_hello_round_trip(void **state)
{
	struct lr_file_id files[3];
	struct lr_hello m, d = { 0 };
	struct lr_buf b = { 0 };

	(void)state;
	fill_hello(&m, files);
	assert_int_equal(lr_enc_hello(&b, &m), 0);
	assert_int_equal(lr_dec_hello(b.p, b.len, &d, NULL), 0);
	assert_int_equal(d.flags, m.flags);
	assert_memory_equal(d.store_id, m.store_id, LR_STORE_ID_BYTES);
	assert_int_equal(d.generation, 7);
	assert_true(d.seq == m.seq);
	assert_int_equal(d.nhistory, 3);
	assert_memory_equal(d.history, hist, sizeof(hist));
	assert_int_equal(d.nepochs, 2);
	assert_memory_equal(d.epochs, epochs, sizeof(epochs));
	assert_string_equal(d.dir, "/srv/data");
	assert_int_equal(d.nfiles, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(d.files[i].name, files[i].name);
		assert_true(d.files[i].size == files[i].size);
		assert_int_equal(d.files[i].crc, files[i].crc);
	}
	lr_hello_free(&d);
	lr_hello_free(&d); /* idempotent on a freed struct */

	/* empty lists and no dir */
	m.nhistory = m.nfiles = m.nepochs = 0;
	m.history = NULL;
	m.epochs = NULL;
	m.files = NULL;
	m.dir = NULL;
	assert_int_equal(lr_enc_hello(&b, &m), 0);
	assert_int_equal(lr_dec_hello(b.p, b.len, &d, NULL), 0);
	assert_int_equal(d.nhistory, 0);
	assert_int_equal(d.nfiles, 0);
	assert_string_equal(d.dir, "");
	lr_hello_free(&d);
	lr_buf_free(&b);
}

static void test_welcome_round_trip(void **state)
{
	struct lr_welcome m = { 0 }, d = { 0 };
	struct lr_buf b = { 0 };

	(void)state;
	m.mode = LR_MODE_REBUILD;
	memset(m.store_id, 0xab, LR_STORE_ID_BYTES);
	m.generation = 9;
	m.last_seq = UINT64_MAX;
	m.history = hist;
	m.nhistory = 2;
	m.epochs = epochs;
	m.nepochs = 2;
	m.why = (char *)"diverged at seq 5000";
	m.boot_bytes = UINT64_C(1) << 40;
	m.boot_files = 77;
	assert_int_equal(lr_enc_welcome(&b, &m), 0);
	assert_int_equal(lr_dec_welcome(b.p, b.len, &d, NULL), 0);
	assert_int_equal(d.mode, LR_MODE_REBUILD);
	assert_memory_equal(d.store_id, m.store_id, LR_STORE_ID_BYTES);
	assert_int_equal(d.generation, 9);
	assert_true(d.last_seq == UINT64_MAX);
	assert_int_equal(d.nhistory, 2);
	assert_memory_equal(d.history, hist, 2 * sizeof(hist[0]));
	assert_int_equal(d.nepochs, 2);
	assert_memory_equal(d.epochs, epochs, sizeof(epochs));
	assert_string_equal(d.why, m.why);
	assert_true(d.boot_bytes == UINT64_C(1) << 40);
	assert_int_equal(d.boot_files, 77);
	lr_welcome_free(&d);
	lr_buf_free(&b);
}

static void test_small_messages_round_trip(void **state)
{
	struct lr_file_begin fb = { .reuse = 1 }, fbd;
	struct lr_file_data fd;
	struct lr_record rec = { 0 }, recd;
	uint8_t batch[22];
	struct lr_ack ack = { 10, 8, 0x12345678 }, ackd;
	struct lr_heartbeat hb = { 99, 1700000000000000000ull }, hbd;
	struct lr_buf b = { 0 };
	char msg[LR_MAX_MSG + 1];
	uint64_t seq;
	int code;

	(void)state;
	strcpy(fb.id.name, "000001.wal");
	fb.id.size = 1ull << 33;
	fb.id.crc = 42;
	assert_int_equal(lr_enc_file_begin(&b, &fb), 0);
	assert_int_equal(lr_dec_file_begin(b.p, b.len, &fbd, NULL), 0);
	assert_string_equal(fbd.id.name, "000001.wal");
	assert_true(fbd.id.size == fb.id.size);
	assert_int_equal(fbd.id.crc, 42);
	assert_int_equal(fbd.reuse, 1);

	assert_int_equal(lr_enc_file_data(&b, 1 << 20, "abcdef", 6), 0);
	assert_int_equal(lr_dec_file_data(b.p, b.len, &fd, NULL), 0);
	assert_true(fd.offset == 1 << 20);
	assert_int_equal(fd.len, 6);
	assert_memory_equal(fd.data, "abcdef", 6);
	assert_ptr_equal(fd.data, b.p + 12); /* borrowed */

	assert_int_equal(lr_enc_boot_end(&b, 77), 0);
	assert_int_equal(lr_dec_boot_end(b.p, b.len, &seq, NULL), 0);
	assert_true(seq == 77);

	/* a batch: u64le seq 1000, u32le count 3, then its operations */
	memcpy(batch, "\xe8\x03\0\0\0\0\0\0\x03\0\0\0batchbytes", 22);
	rec.primary_last_seq = 1002;
	rec.commit_ns = 123;
	rec.batch = batch;
	rec.len = 22;
	assert_int_equal(lr_enc_record(&b, &rec), 0);
	assert_int_equal(lr_dec_record(b.p, b.len, &recd, NULL), 0);
	assert_true(recd.seq == 1000 && recd.primary_last_seq == 1002);
	assert_int_equal(recd.count, 3);
	assert_true(recd.commit_ns == 123);
	assert_int_equal(recd.len, 22);
	assert_memory_equal(recd.batch, batch, 22);

	{
		uint32_t crc = 0;

		assert_int_equal(lr_enc_file_end(&b, 0xdeadbeef), 0);
		assert_int_equal(b.len, 4);
		assert_int_equal(lr_dec_file_end(b.p, b.len, &crc, NULL), 0);
		assert_true(crc == 0xdeadbeef);
		assert_int_equal(lr_dec_file_end(b.p, 3, &crc, NULL), -EPROTO);
	}
	assert_int_equal(lr_enc_ack(&b, &ack), 0);
	assert_int_equal(lr_dec_ack(b.p, b.len, &ackd, NULL), 0);
	assert_true(ackd.applied_seq == 10 && ackd.durable_seq == 8);
	assert_int_equal(ackd.batch_crc, 0x12345678);

	assert_int_equal(lr_enc_heartbeat(&b, &hb), 0);
	assert_int_equal(lr_dec_heartbeat(b.p, b.len, &hbd, NULL), 0);
	assert_true(hbd.primary_last_seq == hb.primary_last_seq &&
		    hbd.now_ns == hb.now_ns);

	assert_int_equal(lr_enc_error(&b, -ENOSPC, "replica disk full"), 0);
	assert_int_equal(lr_dec_error(b.p, b.len, &code, msg, sizeof(msg),
				      NULL), 0);
	assert_int_equal(code, -ENOSPC);
	assert_string_equal(msg, "replica disk full");
	/* a small MSG buffer truncates, NUL-terminated */
	assert_int_equal(lr_dec_error(b.p, b.len, &code, msg, 8, NULL), 0);
	assert_string_equal(msg, "replica");
	lr_buf_free(&b);
}

/* ---- malformed payloads ---- */

typedef int (*dec_fn)(const uint8_t *p, size_t n, struct lsm_err *err);

static int dec_hello(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_hello m = { 0 };
	int rc = lr_dec_hello(p, n, &m, err);

	lr_hello_free(&m);
	return rc;
}

static int dec_welcome(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_welcome m = { 0 };
	int rc = lr_dec_welcome(p, n, &m, err);

	lr_welcome_free(&m);
	return rc;
}

static int dec_file_begin(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_file_begin m;

	return lr_dec_file_begin(p, n, &m, err);
}

static int dec_file_data(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_file_data m;

	return lr_dec_file_data(p, n, &m, err);
}

static int dec_boot_end(const uint8_t *p, size_t n, struct lsm_err *err)
{
	uint64_t s;

	return lr_dec_boot_end(p, n, &s, err);
}

static int dec_record(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_record m;

	return lr_dec_record(p, n, &m, err);
}

static int dec_ack(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_ack m;

	return lr_dec_ack(p, n, &m, err);
}

static int dec_error(const uint8_t *p, size_t n, struct lsm_err *err)
{
	char msg[64];
	int code;

	return lr_dec_error(p, n, &code, msg, sizeof(msg), err);
}

static int dec_heartbeat(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_heartbeat m;

	return lr_dec_heartbeat(p, n, &m, err);
}

static int dec_epochs(const uint8_t *p, size_t n, struct lsm_err *err)
{
	struct lr_epoch *e = NULL;
	uint32_t k = 0;
	int rc = lr_dec_epochs(p, n, &e, &k, err);

	if (rc == 0) {
		assert_int_equal(k, 2);
		assert_memory_equal(e, epochs, sizeof(epochs));
	}
	free(e);
	return rc;
}

/* Every strict prefix of P is -EPROTO with a message; P plus a byte is
 * -EPROTO ("trailing"); P itself decodes.  Copies are exactly sized so
 * that a sanitizer sees any read past the end. */
static void check_prefixes_and_trailing(dec_fn dec, const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n + 1);
	struct lsm_err err;

	assert_non_null(q);
	memcpy(q, p, n);
	q[n] = 0;
	assert_int_equal(dec(q, n, NULL), 0);
	assert_int_equal(dec(q, n + 1, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "trailing"));
	free(q);
	for (size_t k = 0; k < n; k++) {
		uint8_t *c = malloc(k ? k : 1);

		assert_non_null(c);
		memcpy(c, p, k);
		memset(&err, 0, sizeof(err));
		assert_int_equal(dec(c, k, &err), -EPROTO);
		assert_int_equal(err.code, -EPROTO);
		assert_true(err.msg[0] != 0);
		free(c);
	}
}

static void test_truncated_and_trailing(void **state)
{
	struct lr_file_id files[3];
	struct lr_hello h;
	struct lr_welcome w = { .mode = 1, .history = hist, .nhistory = 3,
				.why = (char *)"empty replica" };
	struct lr_file_begin fb = { .id = { .name = "000005.sst", .size = 9 } };
	struct lr_record rec = { .batch = (const uint8_t *)
				 "\1\0\0\0\0\0\0\0\1\0\0\0xyz", .len = 15 };
	struct lr_ack ack = { 1, 1, 1 };
	struct lr_heartbeat hb = { 1, 2 };
	struct lr_buf b = { 0 };

	(void)state;
	fill_hello(&h, files);
	assert_int_equal(lr_enc_hello(&b, &h), 0);
	check_prefixes_and_trailing(dec_hello, b.p, b.len);
	assert_int_equal(lr_enc_welcome(&b, &w), 0);
	check_prefixes_and_trailing(dec_welcome, b.p, b.len);
	assert_int_equal(lr_enc_file_begin(&b, &fb), 0);
	check_prefixes_and_trailing(dec_file_begin, b.p, b.len);
	assert_int_equal(lr_enc_file_data(&b, 5, "data", 4), 0);
	check_prefixes_and_trailing(dec_file_data, b.p, b.len);
	assert_int_equal(lr_enc_boot_end(&b, 5), 0);
	check_prefixes_and_trailing(dec_boot_end, b.p, b.len);
	assert_int_equal(lr_enc_record(&b, &rec), 0);
	check_prefixes_and_trailing(dec_record, b.p, b.len);
	assert_int_equal(lr_enc_ack(&b, &ack), 0);
	check_prefixes_and_trailing(dec_ack, b.p, b.len);
	assert_int_equal(lr_enc_error(&b, -EIO, "boom"), 0);
	check_prefixes_and_trailing(dec_error, b.p, b.len);
	assert_int_equal(lr_enc_heartbeat(&b, &hb), 0);
	check_prefixes_and_trailing(dec_heartbeat, b.p, b.len);
	assert_int_equal(lr_enc_epochs(&b, epochs, 2), 0);
	check_prefixes_and_trailing(dec_epochs, b.p, b.len);
	lr_buf_free(&b);
}

static void put_u32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* HELLO offsets: flags 0, id 4, gen 20, seq 28, nhistory 36, then (no
 * history) nepochs 40, dir 44 */
#define HELLO_NHIST 36
#define HELLO_NEPOCHS 40
#define HELLO_DIR 44

static void expect_eproto(dec_fn dec, const uint8_t *p, size_t n,
			  const char *word)
{
	struct lsm_err err = { 0 };

	assert_int_equal(dec(p, n, &err), -EPROTO);
	if (word && !strstr(err.msg, word))
		fail_msg("message '%s' lacks '%s'", err.msg, word);
}

static void test_malformed_counts_and_lengths(void **state)
{
	struct lr_hello h = { 0 };
	struct lr_buf b = { 0 };
	uint8_t *p;

	(void)state;
	/* a count bigger than the bytes present: refused before any
	 * allocation (a 4-billion-entry calloc would fail or be huge) */
	h.dir = (char *)"d";
	assert_int_equal(lr_enc_hello(&b, &h), 0);
	p = b.p;
	put_u32_at(p + HELLO_NHIST, 1000);
	expect_eproto(dec_hello, p, b.len, "count larger than the bytes");
	put_u32_at(p + HELLO_NHIST, LR_MAX_HISTORY + 1);
	expect_eproto(dec_hello, p, b.len, "count over its limit");
	put_u32_at(p + HELLO_NHIST, 0);
	/* the same for the epochs */
	put_u32_at(p + HELLO_NEPOCHS, 1000);
	expect_eproto(dec_hello, p, b.len, "count larger than the bytes");
	put_u32_at(p + HELLO_NEPOCHS, LR_MAX_EPOCHS + 1);
	expect_eproto(dec_hello, p, b.len, "count over its limit");
	put_u32_at(p + HELLO_NEPOCHS, 0);
	/* dir length 0xffffffff */
	put_u32_at(p + HELLO_DIR, UINT32_MAX);
	expect_eproto(dec_hello, p, b.len, "over its limit");
	put_u32_at(p + HELLO_DIR, 1);
	/* nfiles: last 4 bytes */
	put_u32_at(p + b.len - 4, UINT32_MAX);
	expect_eproto(dec_hello, p, b.len, "count over its limit");
	put_u32_at(p + b.len - 4, 100);
	expect_eproto(dec_hello, p, b.len, "count larger than the bytes");
	put_u32_at(p + b.len - 4, 0);
	assert_int_equal(dec_hello(p, b.len, NULL), 0);
	/* NUL inside the dir */
	p[HELLO_DIR + 4] = 0;
	expect_eproto(dec_hello, p, b.len, "NUL");

	/* a dir over LR_MAX_DIR */
	{
		char *dir = malloc(LR_MAX_DIR + 2);

		memset(dir, 'a', LR_MAX_DIR + 1);
		dir[LR_MAX_DIR + 1] = 0;
		h.dir = dir;
		assert_int_equal(lr_enc_hello(&b, &h), 0);
		expect_eproto(dec_hello, b.p, b.len, "over its limit");
		dir[LR_MAX_DIR] = 0;
		h.dir = dir;
		assert_int_equal(lr_enc_hello(&b, &h), 0);
		assert_int_equal(dec_hello(b.p, b.len, NULL), 0);
		free(dir);
	}
	lr_buf_free(&b);
}

static void test_malformed_fields(void **state)
{
	struct lr_welcome w = { .mode = 3 };
	struct lr_file_begin fb = { .id = { .name = "000005.sst" }, .reuse = 2 };
	struct lr_buf b = { 0 };
	uint8_t *big;

	(void)state;
	assert_int_equal(lr_enc_welcome(&b, &w), 0);
	expect_eproto(dec_welcome, b.p, b.len, "mode");
	assert_int_equal(lr_enc_file_begin(&b, &fb), 0);
	expect_eproto(dec_file_begin, b.p, b.len, "reuse");

	/* FILE_DATA over LR_FILE_CHUNK, even with all bytes present */
	big = calloc(1, LR_FILE_CHUNK + 1);
	assert_non_null(big);
	assert_int_equal(lr_enc_file_data(&b, 0, big, LR_FILE_CHUNK + 1), 0);
	expect_eproto(dec_file_data, b.p, b.len, "over its limit");
	assert_int_equal(lr_enc_file_data(&b, 0, big, LR_FILE_CHUNK), 0);
	assert_int_equal(dec_file_data(b.p, b.len, NULL), 0);
	free(big);
	/* offset + len wraps */
	assert_int_equal(lr_enc_file_data(&b, UINT64_MAX - 1, "ab", 2), 0);
	expect_eproto(dec_file_data, b.p, b.len, "overflow");

	/* ERROR: a non-negative code, a NUL in the message, too long */
	assert_int_equal(lr_enc_error(&b, 5, "x"), 0);
	expect_eproto(dec_error, b.p, b.len, "negative errno");
	assert_int_equal(lr_enc_error(&b, 0, "x"), 0);
	expect_eproto(dec_error, b.p, b.len, "negative errno");
	assert_int_equal(lr_enc_error(&b, -EIO, "ab"), 0);
	b.p[8] = 0;
	expect_eproto(dec_error, b.p, b.len, "NUL");
	{
		char long_msg[LR_MAX_MSG + 100];
		char out[LR_MAX_MSG + 100];
		int code;

		memset(long_msg, 'm', sizeof(long_msg) - 1);
		long_msg[sizeof(long_msg) - 1] = 0;
		/* the encoder truncates to LR_MAX_MSG */
		assert_int_equal(lr_enc_error(&b, -EIO, long_msg), 0);
		assert_int_equal(lr_dec_error(b.p, b.len, &code, out,
					      sizeof(out), NULL), 0);
		assert_int_equal(strlen(out), LR_MAX_MSG);
		put_u32_at(b.p + 4, LR_MAX_MSG + 1);
		expect_eproto(dec_error, b.p, b.len, "over its limit");
	}
	/* RECORDS: a batch length beyond the bytes present */
	{
		struct lr_record r = { .batch = (const uint8_t *)
				       "\1\0\0\0\0\0\0\0\1\0\0\0abc",
				       .len = 15 };

		assert_int_equal(lr_enc_record(&b, &r), 0);
		put_u32_at(b.p + 20, 16);
		expect_eproto(dec_record, b.p, b.len, "truncated");
		put_u32_at(b.p + 20, UINT32_MAX);
		expect_eproto(dec_record, b.p, b.len, "over its limit");
		put_u32_at(b.p + 20, 15);
		put_u32_at(b.p + 16, 0);
		expect_eproto(dec_record, b.p, b.len, "out of range");
		put_u32_at(b.p + 16, 1);
		put_u32_at(b.p + 32, 0); /* the batch's count */
		expect_eproto(dec_record, b.p, b.len, "out of order");
	}
	lr_buf_free(&b);
}

/* A name the receiver must refuse, carried in FILE_BEGIN and in HELLO. */
static void test_bad_names_in_messages(void **state)
{
	static const char *bad[] = { "../x", "a/b", "LOCK", "000001.tmp",
				     "..", "", "CURRENT.bak" };
	struct lr_file_begin fb = { 0 };
	struct lr_file_id f = { 0 };
	struct lr_hello h = { .files = &f, .nfiles = 1 };
	struct lr_buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(fb.id.name, bad[i]);
		assert_int_equal(lr_enc_file_begin(&b, &fb), 0);
		expect_eproto(dec_file_begin, b.p, b.len, "file name");
		strcpy(f.name, bad[i]);
		assert_int_equal(lr_enc_hello(&b, &h), 0);
		expect_eproto(dec_hello, b.p, b.len, "file name");
	}
	/* a 65-byte name: over LR_MAX_NAME in the wire length */
	assert_int_equal(lr_enc_file_begin(&b, &fb), 0);
	{
		struct lr_buf raw = { 0 };
		char name[LR_MAX_NAME + 1];

		memset(name, '1', sizeof(name));
		memcpy(name + LR_MAX_NAME + 1 - 4, ".sst", 4);
		lr_put_blob(&raw, name, sizeof(name));
		lr_put_u64(&raw, 0);
		lr_put_u32(&raw, 0);
		lr_put_u8(&raw, 0);
		expect_eproto(dec_file_begin, raw.p, raw.len, "over its limit");
		lr_buf_free(&raw);
	}
	lr_buf_free(&b);
}

static void test_name_ok(void **state)
{
	char longname[LR_MAX_NAME + 8];

	(void)state;
	assert_true(lr_name_ok("000001.sst"));
	assert_true(lr_name_ok("000001.wal"));
	assert_true(lr_name_ok("1234567.wal"));
	assert_true(lr_name_ok("MANIFEST-000003"));
	assert_true(lr_name_ok("CURRENT"));
	assert_true(lr_name_ok("18446744073709551615.sst"));
	assert_false(lr_name_ok("18446744073709551616.sst")); /* overflow */
	assert_false(lr_name_ok("../x"));
	assert_false(lr_name_ok("a/b"));
	assert_false(lr_name_ok("../000001.sst"));
	assert_false(lr_name_ok("sub/000001.sst"));
	assert_false(lr_name_ok("LOCK"));
	assert_false(lr_name_ok("RESERVE"));
	assert_false(lr_name_ok("000001.tmp"));
	assert_false(lr_name_ok("00001.sst"));    /* fewer than 6 digits */
	assert_false(lr_name_ok("0000001.sst"));  /* leading zero past 6 */
	assert_false(lr_name_ok("00000a.sst"));
	assert_false(lr_name_ok("+00001.sst"));
	assert_false(lr_name_ok(".sst"));
	assert_false(lr_name_ok("MANIFEST-"));
	assert_false(lr_name_ok("MANIFEST-12"));
	assert_false(lr_name_ok("CURRENT/"));
	assert_false(lr_name_ok(""));
	assert_false(lr_name_ok(NULL));
	memset(longname, '1', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	memcpy(longname + sizeof(longname) - 5, ".sst", 4);
	assert_false(lr_name_ok(longname));
}

/* ---- frames ---- */

struct pair {
	int raw;            /* our end: write hostile bytes here */
	struct lr_conn *c;  /* the other end, framed */
};

static void pair_open(struct pair *p)
{
	struct lr_transport *t;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lr_transport_fd(sv[1], sv[1], true, &t), 0);
	assert_int_equal(lr_conn_new(t, &p->c), 0);
	p->raw = sv[0];
}

static void pair_close(struct pair *p)
{
	if (p->raw >= 0)
		close(p->raw);
	lr_conn_free(p->c);
}

static void write_all(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* A frame with the given header fields and a correct crc. */
static size_t make_frame(uint8_t *out, uint8_t type, uint8_t flags,
			 const void *payload, uint32_t len)
{
	uLong crc;

	out[0] = 'L';
	out[1] = 'R';
	out[2] = LR_VERSION;
	out[3] = type;
	out[4] = flags;
	out[5] = out[6] = out[7] = 0;
	put_u32_at(out + 8, len);
	crc = crc32(0, out, 12);
	if (len)
		crc = crc32(crc, payload, len);
	put_u32_at(out + 12, (uint32_t)crc);
	if (len) /* PAYLOAD may be NULL then (UBSan: memcpy's nonnull) */
		memcpy(out + 16, payload, len);
	return 16 + len;
}

static void fix_crc(uint8_t *f, size_t n)
{
	uLong crc = crc32(0, f, 12);

	if (n > 16)
		crc = crc32(crc, f + 16, (uInt)(n - 16));
	put_u32_at(f + 12, (uint32_t)crc);
}

static int recv_one(struct lr_conn *c, struct lsm_err *err)
{
	const uint8_t *p;
	enum lr_type type;
	size_t len;

	return lr_recv(c, &type, &p, &len, 2000, err);
}

/* Sends frame F (BYTE at OFF changed, crc fixed up when FIX) and expects
 * lr_recv to fail with RC; a second lr_recv fails the same way. */
static void expect_frame_error(uint8_t off, uint8_t byte, bool fix, int rc,
			       const char *word)
{
	uint8_t f[64];
	size_t n = make_frame(f, LR_ACK, 0, "0123456789abcdefghij", 20);
	struct lsm_err err = { 0 };
	struct pair p;

	pair_open(&p);
	f[off] = byte;
	if (fix)
		fix_crc(f, n);
	write_all(p.raw, f, n);
	assert_int_equal(recv_one(p.c, &err), rc);
	if (word && !strstr(err.msg, word))
		fail_msg("message '%s' lacks '%s'", err.msg, word);
	assert_int_equal(recv_one(p.c, NULL), rc); /* sticky */
	pair_close(&p);
}

static void test_frame_bad_headers(void **state)
{
	(void)state;
	expect_frame_error(0, 'X', true, -EPROTO, "magic");
	expect_frame_error(1, 'r', true, -EPROTO, "magic");
	expect_frame_error(2, LR_VERSION + 1, true, -EPROTO, "version");
	expect_frame_error(3, 0, true, -EPROTO, "type");
	expect_frame_error(3, LR_TYPE_MAX + 1, true, -EPROTO, "type");
	expect_frame_error(4, 0x2, true, -EPROTO, "flags");
	expect_frame_error(6, 1, true, -EPROTO, "flags");
	/* a damaged header or payload byte: checksum */
	expect_frame_error(8, 19, false, -EBADMSG, "checksum");
	expect_frame_error(12, 0, false, -EBADMSG, "checksum");
	expect_frame_error(20, 'Z', false, -EBADMSG, "checksum");
}

static void test_frame_oversized(void **state)
{
	uint8_t f[16];
	struct lsm_err err = { 0 };
	struct pair p;

	(void)state;
	pair_open(&p);
	make_frame(f, LR_RECORDS, 0, NULL, 0);
	put_u32_at(f + 8, LR_MAX_PAYLOAD + 1);
	fix_crc(f, 16);
	write_all(p.raw, f, 16);
	assert_int_equal(recv_one(p.c, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "over the limit"));
	pair_close(&p);

	/* announced at the limit but never sent: no 80 MiB buffer up front,
	 * and the close is reported as such */
	pair_open(&p);
	put_u32_at(f + 8, LR_MAX_PAYLOAD);
	write_all(p.raw, f, 16);
	write_all(p.raw, "abc", 3);
	close(p.raw);
	p.raw = -1;
	assert_int_equal(recv_one(p.c, &err), -ECONNRESET);
	assert_non_null(strstr(err.msg, "mid-frame"));
	pair_close(&p);
}

/* lr_send's bytes, one byte flipped on the way: -EBADMSG. */
static void test_flipped_byte_in_transit(void **state)
{
	struct lr_transport *t;
	struct lr_conn *tx;
	struct pair p;
	uint8_t buf[256];
	int sv[2];
	ssize_t n;

	(void)state;
	for (size_t off = 0; off < 16 + 40; off += 5) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		assert_int_equal(lr_transport_fd(sv[0], sv[0], true, &t), 0);
		assert_int_equal(lr_conn_new(t, &tx), 0);
		assert_int_equal(lr_send(tx, LR_RECORDS,
					 "0123456789012345678901234567890123456789",
					 40, NULL), 0);
		n = read(sv[1], buf, sizeof(buf));
		assert_int_equal(n, 56);
		buf[off] ^= 0x10;
		pair_open(&p);
		write_all(p.raw, buf, (size_t)n);
		shutdown(p.raw, SHUT_WR);
		/* never accepted: a header field is -EPROTO, a longer length
		 * waits for bytes that never come, the rest is -EBADMSG */
		{
			int rc = recv_one(p.c, NULL);

			if (off < 8)
				assert_int_equal(rc, -EPROTO);
			else if (off < 12 && rc != -EBADMSG)
				assert_int_equal(rc, -ECONNRESET);
			else
				assert_int_equal(rc, -EBADMSG);
		}
		pair_close(&p);
		close(sv[1]);
		lr_conn_free(tx);
	}
}

static void test_frames_pass(void **state)
{
	struct pair p;
	struct lr_transport *t;
	struct lr_conn *tx;
	const uint8_t *pl;
	enum lr_type type;
	size_t len;
	int fd;

	(void)state;
	pair_open(&p);
	fd = dup(p.raw);
	assert_int_equal(lr_transport_fd(fd, fd, true, &t), 0);
	assert_int_equal(lr_conn_new(t, &tx), 0);
	assert_int_equal(lr_send(tx, LR_FILE_END, NULL, 0, NULL), 0);
	assert_int_equal(lr_send(tx, LR_HEARTBEAT, "12345678abcdefgh", 16,
				 NULL), 0);
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 1000, NULL), 0);
	assert_int_equal(type, LR_FILE_END);
	assert_int_equal(len, 0);
	/* both frames arrived in one read: the second is buffered */
	assert_true(lr_conn_pending(p.c));
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 0, NULL), 0);
	assert_int_equal(type, LR_HEARTBEAT);
	assert_int_equal(len, 16);
	assert_memory_equal(pl, "12345678abcdefgh", 16);
	assert_false(lr_conn_pending(p.c));
	assert_int_equal(lr_conn_stats(tx)->frames_sent, 2);
	assert_int_equal(lr_conn_stats(tx)->bytes_sent, 48);
	assert_int_equal(lr_conn_stats(p.c)->frames_received, 2);
	assert_int_equal(lr_conn_stats(p.c)->bytes_received, 48);
	assert_int_equal(lr_conn_stats(p.c)->payload_received, 16);
	assert_int_equal(lr_conn_fd(p.c) >= 0, 1);
	/* out of range sends */
	assert_int_equal(lr_send(tx, 0, NULL, 0, NULL), -EINVAL);
	assert_int_equal(lr_send(tx, LR_TYPE_MAX + 1, NULL, 0, NULL), -EINVAL);
	assert_int_equal(lr_send(tx, LR_RECORDS, "", LR_MAX_PAYLOAD + 1ul,
				 NULL), -EINVAL);
	lr_conn_free(tx);
	pair_close(&p);
}

struct big_send {
	struct lr_conn *c;
	const uint8_t *p;
	size_t len;
	int rc;
};

static void *big_sender(void *arg)
{
	struct big_send *s = arg;

	s->rc = lr_send(s->c, LR_RECORDS, s->p, s->len, NULL);
	return NULL;
}

/* Large frames (grown receive buffer), plain and compressed. */
static void big_frame(bool compress, bool random_bytes)
{
	size_t len = 5u * 1024 * 1024 + 17;
	uint8_t *data = malloc(len);
	struct big_send s = { .p = data, .len = len };
	struct lr_transport *t;
	struct pair p;
	pthread_t th;
	const uint8_t *pl;
	enum lr_type type;
	size_t got;
	uint32_t x = 12345;
	int fd;

	assert_non_null(data);
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		data[i] = random_bytes ? (uint8_t)(x >> 24) : (uint8_t)(i / 1000);
	}
	pair_open(&p);
	fd = dup(p.raw);
	assert_int_equal(lr_transport_fd(fd, fd, true, &t), 0);
	assert_int_equal(lr_conn_new(t, &s.c), 0);
	lr_conn_set_compress(s.c, compress);
	assert_int_equal(pthread_create(&th, NULL, big_sender, &s), 0);
	assert_int_equal(lr_recv(p.c, &type, &pl, &got, 5000, NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(type, LR_RECORDS);
	assert_int_equal(got, len);
	assert_memory_equal(pl, data, len);
	assert_int_equal(lr_conn_stats(s.c)->payload_sent, len);
	assert_int_equal(lr_conn_stats(p.c)->payload_received, len);
	if (compress && !random_bytes)
		assert_true(lr_conn_stats(s.c)->bytes_sent < len / 10);
	else
		assert_int_equal(lr_conn_stats(s.c)->bytes_sent, len + 16);
	lr_conn_free(s.c);
	pair_close(&p);
	free(data);
}

static void test_big_frames(void **state)
{
	(void)state;
	big_frame(false, true);
	big_frame(true, false);
	big_frame(true, true); /* incompressible: sent as is */
}

static void test_compressed_small_not(void **state)
{
	uint8_t small[511] = { 0 }, buf[1024];
	struct lr_transport *t;
	struct lr_conn *tx;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lr_transport_fd(sv[0], sv[0], true, &t), 0);
	assert_int_equal(lr_conn_new(t, &tx), 0);
	lr_conn_set_compress(tx, true);
	assert_int_equal(lr_send(tx, LR_RECORDS, small, sizeof(small), NULL),
			 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 16 + 511);
	assert_int_equal(buf[4], 0);
	assert_int_equal(lr_send(tx, LR_RECORDS, buf, 512, NULL), 0);
	assert_true(read(sv[1], buf, sizeof(buf)) < 16 + 512);
	assert_int_equal(buf[4], LR_FLAG_ZLIB);
	lr_conn_free(tx);
	close(sv[1]);
}

struct bomb {
	int fd;
	uint8_t *z;       /* the compressed payload */
	size_t zlen;
};

/* A zlib stream of N zeros (prepared before the receiver waits, so that
 * a loaded machine cannot turn the test into a timeout). */
static void bomb_make(struct bomb *b, size_t n)
{
	static uint8_t zeros[65536];
	z_stream s = { 0 };

	b->z = malloc(1 << 20);
	assert_non_null(b->z);
	assert_int_equal(deflateInit(&s, 9), Z_OK);
	s.next_out = b->z;
	s.avail_out = 1 << 20;
	while (n) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		s.next_in = zeros;
		s.avail_in = (uInt)k;
		assert_int_equal(deflate(&s, Z_NO_FLUSH), Z_OK);
		n -= k;
	}
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	b->zlen = s.total_out;
	deflateEnd(&s);
}

/* Writes a ZLIB frame around the bomb. */
static void *bomb_writer(void *arg)
{
	struct bomb *b = arg;
	uint8_t hdr[16] = { 'L', 'R', LR_VERSION, LR_RECORDS, LR_FLAG_ZLIB };
	uLong crc;

	put_u32_at(hdr + 8, (uint32_t)b->zlen);
	crc = crc32(crc32(0, hdr, 12), b->z, (uInt)b->zlen);
	put_u32_at(hdr + 12, (uint32_t)crc);
	if (write(b->fd, hdr, 16) == 16)
		(void)!write(b->fd, b->z, b->zlen);
	return NULL;
}

static void test_compression_bomb_and_garbage(void **state)
{
	struct bomb b;
	struct lsm_err err = { 0 };
	struct pair p;
	pthread_t th;
	uint8_t f[64];
	size_t n;

	(void)state;
	/* inflates one byte past the limit */
	pair_open(&p);
	b.fd = p.raw;
	bomb_make(&b, LR_MAX_PAYLOAD + 1u);
	assert_int_equal(pthread_create(&th, NULL, bomb_writer, &b), 0);
	assert_int_equal(recv_one(p.c, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "past the limit"));
	pthread_join(th, NULL);
	free(b.z);
	pair_close(&p);

	/* not zlib at all */
	pair_open(&p);
	n = make_frame(f, LR_RECORDS, LR_FLAG_ZLIB, "not a zlib stream", 17);
	write_all(p.raw, f, n);
	assert_int_equal(recv_one(p.c, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "zlib"));
	pair_close(&p);

	/* a zlib stream then trailing bytes; an empty compressed payload */
	{
		uint8_t z[64];
		uLongf zl = sizeof(z) - 3;

		assert_int_equal(compress2(z, &zl, (const uint8_t *)"hello",
					   5, 1), Z_OK);
		memcpy(z + zl, "xyz", 3);
		pair_open(&p);
		n = make_frame(f, LR_RECORDS, LR_FLAG_ZLIB, z,
			       (uint32_t)zl + 3);
		write_all(p.raw, f, n);
		assert_int_equal(recv_one(p.c, NULL), -EPROTO);
		pair_close(&p);

		pair_open(&p);
		n = make_frame(f, LR_RECORDS, LR_FLAG_ZLIB, z, (uint32_t)zl);
		write_all(p.raw, f, n);
		{
			const uint8_t *pl;
			enum lr_type type;
			size_t len;

			assert_int_equal(lr_recv(p.c, &type, &pl, &len, 1000,
						 NULL), 0);
			assert_int_equal(len, 5);
			assert_memory_equal(pl, "hello", 5);
		}
		pair_close(&p);

		pair_open(&p);
		n = make_frame(f, LR_RECORDS, LR_FLAG_ZLIB, NULL, 0);
		write_all(p.raw, f, n);
		assert_int_equal(recv_one(p.c, NULL), -EPROTO);
		pair_close(&p);
	}
}

static void test_peer_closes(void **state)
{
	uint8_t f[64];
	size_t n = make_frame(f, LR_ACK, 0, "01234567890123456789", 20);
	struct lsm_err err = { 0 };
	struct pair p;

	(void)state;
	/* between frames */
	pair_open(&p);
	close(p.raw);
	p.raw = -1;
	assert_int_equal(recv_one(p.c, &err), -ECONNRESET);
	assert_non_null(strstr(err.msg, "closed the connection"));
	pair_close(&p);
	/* in the header, in the payload */
	for (size_t cut = 1; cut < n; cut += 7) {
		pair_open(&p);
		write_all(p.raw, f, cut);
		close(p.raw);
		p.raw = -1;
		assert_int_equal(recv_one(p.c, &err), -ECONNRESET);
		assert_non_null(strstr(err.msg, "closed in"));
		pair_close(&p);
	}
	/* a send to a closed peer: an error, not SIGPIPE */
	{
		struct lr_transport *t;
		struct lr_conn *tx;
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		close(sv[1]);
		assert_int_equal(lr_transport_fd(sv[0], sv[0], true, &t), 0);
		assert_int_equal(lr_conn_new(t, &tx), 0);
		assert_int_equal(lr_send(tx, LR_ACK, f, 20, NULL),
				 -ECONNRESET);
		lr_conn_free(tx);
	}
}

static void test_timeouts(void **state)
{
	uint8_t f[64];
	size_t n = make_frame(f, LR_ACK, 0, "01234567890123456789", 20);
	struct lsm_err err = { 0 };
	const uint8_t *pl;
	enum lr_type type;
	size_t len;
	struct pair p;

	(void)state;
	pair_open(&p);
	/* idle: a timeout, and the connection stays usable */
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 50, &err), -ETIMEDOUT);
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 0, &err), -ETIMEDOUT);
	write_all(p.raw, f, n);
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 1000, &err), 0);
	assert_int_equal(type, LR_ACK);
	pair_close(&p);
}

/* A peer that stops in mid-frame: -ETIMEDOUT after the stall bound, and
 * the connection is then unusable (it lost its frame boundary). */
static void test_stall_mid_frame(void **state)
{
	uint8_t f[64];
	size_t n = make_frame(f, LR_ACK, 0, "01234567890123456789", 20);
	struct lsm_err err = { 0 };
	const uint8_t *pl;
	enum lr_type type;
	size_t len;
	struct pair p;

	(void)state;
	pair_open(&p);
	lr_conn_set_stall(p.c, 100);
	write_all(p.raw, f, n - 5);
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 1, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "stalled"));
	write_all(p.raw, f + n - 5, 5);
	assert_int_equal(lr_recv(p.c, &type, &pl, &len, 1000, &err),
			 -ETIMEDOUT);
	pair_close(&p);
}

/* Several records in one message: given back in order; a batch whose
 * sequence does not lie past the one before is refused; a message of
 * many records costs less than the log's 8-byte record headers. */
static void test_records_group(void **state)
{
	uint8_t b1[16] = "\x05\0\0\0\0\0\0\0\x02\0\0\0abcd";
	uint8_t b2[13] = "\x07\0\0\0\0\0\0\0\x01\0\0\0z";
	uint8_t b3[13] = "\x06\0\0\0\0\0\0\0\x01\0\0\0y";
	struct lr_buf b = { 0 };
	struct lr_records m;
	struct lr_record r;

	(void)state;
	lr_records_start(&b);
	assert_int_equal(lr_records_finish(&b, 1, 2), -EINVAL); /* empty */
	assert_int_equal(lr_records_add(&b, b1, sizeof(b1)), 0);
	assert_int_equal(lr_records_add(&b, b2, sizeof(b2)), 0);
	assert_int_equal(lr_records_add(&b, "short", 5), -EINVAL);
	assert_int_equal(lr_records_n(&b), 2);
	assert_int_equal(lr_records_finish(&b, 7, 99), 0);
	assert_int_equal(b.len, 20 + 4 + 16 + 4 + 13);
	assert_int_equal(lr_dec_records(b.p, b.len, &m, NULL), 0);
	assert_int_equal(m.n, 2);
	assert_true(lr_records_next(&m, &r));
	assert_true(r.seq == 5 && r.count == 2 && r.len == 16);
	assert_true(r.primary_last_seq == 7 && r.commit_ns == 99);
	assert_true(lr_records_next(&m, &r));
	assert_true(r.seq == 7 && r.count == 1 && r.len == 13);
	assert_false(lr_records_next(&m, &r));
	/* one record per message is refused by lr_dec_record */
	expect_eproto(dec_record, b.p, b.len, "one expected");
	/* seq 6 after 5..6: overlaps */
	lr_records_start(&b);
	assert_int_equal(lr_records_add(&b, b1, sizeof(b1)), 0);
	assert_int_equal(lr_records_add(&b, b3, sizeof(b3)), 0);
	assert_int_equal(lr_records_finish(&b, 7, 99), 0);
	assert_int_equal(lr_dec_records(b.p, b.len, &m, NULL), -EPROTO);
	lr_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_welcome_round_trip),
		cmocka_unit_test(test_small_messages_round_trip),
		cmocka_unit_test(test_records_group),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_malformed_counts_and_lengths),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_bad_names_in_messages),
		cmocka_unit_test(test_name_ok),
		cmocka_unit_test(test_frame_bad_headers),
		cmocka_unit_test(test_frame_oversized),
		cmocka_unit_test(test_flipped_byte_in_transit),
		cmocka_unit_test(test_frames_pass),
		cmocka_unit_test(test_big_frames),
		cmocka_unit_test(test_compressed_small_not),
		cmocka_unit_test(test_compression_bomb_and_garbage),
		cmocka_unit_test(test_peer_closes),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_stall_mid_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
