/* test_batch.c - write batches: building (lsm_batch_*), the encoding and
 * its decoder's validation of malformed input (batch.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "coding.h"
#include "support.h"

struct op {
	uint64_t seq;
	enum ikey_type t;
	uint8_t *key, *val;
	size_t klen, vlen;
};

struct ops {
	struct op *v;
	size_t n, cap;
	int fail_at; /* return -EIO at this op (when >= 0) */
};

static int collect(void *ctx, uint64_t seq, enum ikey_type t,
		   const uint8_t *key, size_t klen, const uint8_t *val,
		   size_t vlen)
{
	struct ops *o = ctx;
	struct op *x;

	if (o->fail_at >= 0 && (size_t)o->fail_at == o->n)
		return -EIO;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		assert_non_null(o->v);
	}
	x = &o->v[o->n++];
	x->seq = seq;
	x->t = t;
	x->key = mem_dup(key, klen);
	x->klen = klen;
	x->val = val ? mem_dup(val, vlen) : NULL;
	x->vlen = vlen;
	return 0;
}

static void ops_free(struct ops *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].key);
		free(o->v[i].val);
	}
	free(o->v);
	memset(o, 0, sizeof(*o));
	o->fail_at = -1;
}

static int decode(const void *p, size_t len, struct ops *o,
		  struct lsm_err *err)
{
	return batch_decode(p, len, collect, o, err);
}

static void test_empty(void **state)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ops o = { .fail_at = -1 };

	(void)state;
	assert_non_null(b);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(lsm_batch_bytes(b), BATCH_HEADER_BYTES);
	assert_int_equal(decode(b->rep.p, b->rep.len, &o, NULL), 0);
	assert_int_equal(o.n, 0);
	lsm_batch_free(b);
	lsm_batch_free(NULL);
}

static void test_round_trip(void **state)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ops o = { .fail_at = -1 };
	struct rng r;
	uint8_t key[300], val[5000];
	enum ikey_type types[500];
	size_t klens[500], vlens[500];

	(void)state;
	rng_init(&r, "batch_round_trip", 0);
	for (int i = 0; i < 500; i++) {
		klens[i] = rng_below(&r, sizeof(key));
		vlens[i] = rng_below(&r, 4) ? rng_below(&r, sizeof(val)) : 0;
		types[i] = rng_below(&r, 3) ? IKEY_VALUE : IKEY_DELETE;
		memset(key, i & 0xff, klens[i]);
		memset(val, ~i & 0xff, vlens[i]);
		if (types[i] == IKEY_VALUE)
			assert_int_equal(lsm_batch_put(b, key, klens[i], val,
						       vlens[i]), 0);
		else
			assert_int_equal(lsm_batch_delete(b, key, klens[i]),
					 0);
	}
	batch_set_seq(b, 1000);
	assert_true(batch_seq(b) == 1000);
	assert_int_equal(lsm_batch_count(b), 500);
	assert_int_equal(lsm_batch_bytes(b), b->rep.len);
	assert_int_equal(decode(b->rep.p, b->rep.len, &o, NULL), 0);
	assert_int_equal(o.n, 500);
	for (int i = 0; i < 500; i++) {
		struct op *x = &o.v[i];

		assert_true(x->seq == 1000 + (uint64_t)i);
		assert_int_equal(x->t, types[i]);
		assert_int_equal(x->klen, klens[i]);
		memset(key, i & 0xff, klens[i]);
		if (klens[i])
			assert_memory_equal(x->key, key, klens[i]);
		if (types[i] == IKEY_DELETE) {
			assert_null(x->val);
			assert_int_equal(x->vlen, 0);
			continue;
		}
		assert_non_null(x->val);
		assert_int_equal(x->vlen, vlens[i]);
		memset(val, ~i & 0xff, vlens[i]);
		if (vlens[i])
			assert_memory_equal(x->val, val, vlens[i]);
	}
	ops_free(&o);
	lsm_batch_clear(b);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(lsm_batch_bytes(b), BATCH_HEADER_BYTES);
	assert_true(batch_seq(b) == 0);
	assert_int_equal(lsm_batch_put(b, "k", 1, "v", 1), 0);
	assert_int_equal(decode(b->rep.p, b->rep.len, &o, NULL), 0);
	assert_int_equal(o.n, 1);
	ops_free(&o);
	lsm_batch_free(b);
}

/* The exact bytes of a small batch, against the grammar in batch.h. */
static void test_encoding_bytes(void **state)
{
	static const uint8_t want[] = {
		0x05, 0, 0, 0, 0, 0, 0, 0, /* seq 5 */
		0x02, 0, 0, 0,             /* count 2 */
		0x01, 0x01, 'a', 0x02, 'x', 'y', /* put a=xy */
		0x00, 0x02, 'b', 'c',      /* delete bc */
	};
	struct lsm_batch *b = lsm_batch_new();

	(void)state;
	assert_int_equal(lsm_batch_put(b, "a", 1, "xy", 2), 0);
	assert_int_equal(lsm_batch_delete(b, "bc", 2), 0);
	batch_set_seq(b, 5);
	assert_int_equal(b->rep.len, sizeof(want));
	assert_memory_equal(b->rep.p, want, sizeof(want));
	lsm_batch_free(b);
}

static void test_limits(void **state)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ops o = { .fail_at = -1 };
	uint8_t *key = calloc(1, LSM_MAX_KEY_BYTES + 1);
	static const uint8_t v = 0;

	(void)state;
	assert_non_null(key);
	assert_int_equal(lsm_batch_put(b, key, LSM_MAX_KEY_BYTES + 1, "v", 1),
			 -EINVAL);
	assert_int_equal(lsm_batch_delete(b, key, LSM_MAX_KEY_BYTES + 1),
			 -EINVAL);
	/* rejected before any byte of the value is read */
	assert_int_equal(lsm_batch_put(b, "k", 1, &v,
				       (size_t)LSM_MAX_VALUE_BYTES + 1),
			 -EINVAL);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(lsm_batch_bytes(b), BATCH_HEADER_BYTES);
	assert_false(b->oom);
	assert_int_equal(lsm_batch_put(b, key, LSM_MAX_KEY_BYTES, "v", 1), 0);
	assert_int_equal(lsm_batch_delete(b, key, LSM_MAX_KEY_BYTES), 0);
	assert_int_equal(lsm_batch_put(b, "", 0, "", 0), 0); /* empty key */
	assert_int_equal(lsm_batch_count(b), 3);
	assert_int_equal(decode(b->rep.p, b->rep.len, &o, NULL), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.v[0].klen, LSM_MAX_KEY_BYTES);
	assert_int_equal(o.v[2].klen, 0);
	assert_non_null(o.v[2].val);
	ops_free(&o);
	free(key);
	lsm_batch_free(b);
}

/* A malformed encoding is rejected with -EUCLEAN and a message, and the
 * callback never runs. */
static void expect_bad(const uint8_t *p, size_t len, const char *what)
{
	struct lsm_err err = { 0 };
	struct ops o = { .fail_at = -1 };
	int rc = decode(p, len, &o, &err);

	if (rc != -EUCLEAN)
		fail_msg("%s: decode returned %d, not -EUCLEAN", what, rc);
	assert_int_equal(err.code, -EUCLEAN);
	assert_true(strlen(err.msg) > 0);
	if (o.n != 0)
		fail_msg("%s: callback ran %zu times", what, o.n);
	ops_free(&o);
}

/* Builds seq/count header + BODY into OUT; returns the length. */
static size_t mk(uint8_t *out, uint64_t seq, uint32_t count,
		 const void *body, size_t blen)
{
	put_u64le(out, seq);
	put_u32le(out + 8, count);
	memcpy(out + 12, body, blen);
	return 12 + blen;
}

static void test_malformed(void **state)
{
	uint8_t b[256];
	size_t n;

	(void)state;
	expect_bad((const uint8_t *)"", 0, "empty");
	n = mk(b, 1, 0, "", 0);
	expect_bad(b, n - 1, "short header");
	n = mk(b, 1, 1, "", 0);
	expect_bad(b, n, "count 1, no ops");
	n = mk(b, 1, 1, "\x02\x01k", 3);
	expect_bad(b, n, "unknown op type");
	n = mk(b, 1, 1, "\xff\x01k", 3);
	expect_bad(b, n, "op type 0xff");
	n = mk(b, 1, 1, "\x00", 1);
	expect_bad(b, n, "missing key length");
	n = mk(b, 1, 1, "\x00\x05" "ab", 4);
	expect_bad(b, n, "key past the end");
	n = mk(b, 1, 1, "\x01\x01k", 3);
	expect_bad(b, n, "put without value length");
	n = mk(b, 1, 1, "\x01\x01k\x03vv", 6);
	expect_bad(b, n, "value past the end");
	n = mk(b, 1, 1, "\x01\x81", 2);
	expect_bad(b, n, "truncated varint");
	n = mk(b, 1, 1, "\x00\xff\xff\xff\xff\xff\x01", 7);
	expect_bad(b, n, "varint32 overflow");
	n = mk(b, 1, 1, "\x00\x81\x80\x04", 4);
	expect_bad(b, n, "key length over the limit");
	n = mk(b, 1, 2, "\x00\x01k", 3);
	expect_bad(b, n, "count 2, one op");
	n = mk(b, 1, 1, "\x00\x01k\x00\x01j", 6);
	expect_bad(b, n, "count 1, two ops");
	n = mk(b, 1, 1, "\x00\x01kZ", 4);
	expect_bad(b, n, "trailing byte");
	n = mk(b, 1, 0, "\x00\x01k", 3);
	expect_bad(b, n, "count 0 with an op");
	n = mk(b, IKEY_MAX_SEQ, 2, "\x00\x01k\x00\x01j", 6);
	expect_bad(b, n, "sequence overflow");
	n = mk(b, UINT64_MAX, 1, "\x00\x01k", 3);
	expect_bad(b, n, "sequence out of range");
	/* valid first op, malformed last: nothing delivered */
	n = mk(b, 1, 3, "\x01\x01k\x01v\x00\x01j\x07\x01x", 11);
	expect_bad(b, n, "bad last op");
}

static void test_value_limit_decode(void **state)
{
	uint8_t b[64], body[16], *q;
	size_t n;

	(void)state;
	body[0] = 0x01;
	body[1] = 0x01;
	body[2] = 'k';
	q = put_varint32(body + 3, LSM_MAX_VALUE_BYTES + 1);
	n = mk(b, 1, 1, body, (size_t)(q - body));
	expect_bad(b, n, "value length over the limit");
}

static void test_max_seq_ok(void **state)
{
	uint8_t b[64];
	struct ops o = { .fail_at = -1 };
	size_t n = mk(b, IKEY_MAX_SEQ - 1, 2, "\x00\x01k\x00\x01j", 6);

	(void)state;
	assert_int_equal(decode(b, n, &o, NULL), 0);
	assert_int_equal(o.n, 2);
	assert_true(o.v[1].seq == IKEY_MAX_SEQ);
	ops_free(&o);
}

static void test_callback_stops(void **state)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ops o = { .fail_at = 2 };
	struct lsm_err err = { 0 };

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(lsm_batch_put(b, "k", 1, "v", 1), 0);
	assert_int_equal(decode(b->rep.p, b->rep.len, &o, &err), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_int_equal(o.n, 2);
	ops_free(&o);
	lsm_batch_free(b);
}

/* Random garbage never crashes the decoder, and anything it accepts has
 * exactly the announced number of ops. */
static void test_fuzz(void **state)
{
	struct lsm_batch *b = lsm_batch_new();
	struct rng r;
	uint8_t *copy;

	(void)state;
	rng_init(&r, "batch_fuzz", 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(lsm_batch_put(b, "key", 3, "value", 5), 0);
	copy = malloc(b->rep.len);
	for (int i = 0; i < 20000; i++) {
		struct ops o = { .fail_at = -1 };
		size_t len = rng_below(&r, b->rep.len + 1);
		int rc;

		memcpy(copy, b->rep.p, b->rep.len);
		for (int k = (int)rng_below(&r, 4); k >= 0; k--)
			copy[rng_below(&r, b->rep.len)] ^=
				(uint8_t)(1u << rng_below(&r, 8));
		rc = decode(copy, len, &o, NULL);
		assert_true(rc == 0 || rc == -EUCLEAN);
		if (rc == 0)
			assert_int_equal(o.n, get_u32le(copy + 8));
		else
			assert_int_equal(o.n, 0);
		ops_free(&o);
	}
	free(copy);
	lsm_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encoding_bytes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_value_limit_decode),
		cmocka_unit_test(test_max_seq_ok),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
