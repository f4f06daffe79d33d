/* test_bloom.c - bloom filters: layout, no false negatives, and measured
 * false-positive rates over >= 100,000 absent keys against the theory
 * (1 - e^(-k/B))^k for B = 5, 10 and 20 bits per key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bloom.h"
#include "support.h"

static size_t key_of(char *dst, uint64_t salt, uint64_t i)
{
	return (size_t)sprintf(dst, "user/%llx/key-%llu",
			       (unsigned long long)salt,
			       (unsigned long long)i);
}

/* A filter over keys 0..N-1 (odd numbers are kept for absent keys). */
static void build_filter(struct buf *f, uint64_t salt, size_t n,
			 unsigned bits)
{
	uint32_t *h = malloc((n ? n : 1) * sizeof(*h));
	char k[64];

	assert_non_null(h);
	for (size_t i = 0; i < n; i++)
		h[i] = bloom_hash(k, key_of(k, salt, 2 * i));
	buf_clear(f);
	bloom_build(f, h, n, bits);
	assert_true(buf_ok(f));
	free(h);
}

static void test_layout(void **state)
{
	struct buf f = BUF_INIT;

	(void)state;
	build_filter(&f, 1, 0, 10);
	assert_int_equal(f.len, 64 / 8 + 1); /* at least 64 bits */
	assert_int_equal(f.p[f.len - 1], 7);  /* round(10 * 0.69) */
	build_filter(&f, 1, 1000, 10);
	assert_int_equal(f.len, 10000 / 8 + 1);
	build_filter(&f, 1, 3, 5);
	assert_int_equal(f.p[f.len - 1], 3);
	build_filter(&f, 1, 101, 3);          /* 303 bits -> 38 bytes */
	assert_int_equal(f.len, 38 + 1);
	assert_int_equal(f.p[f.len - 1], 2);
	build_filter(&f, 1, 10, 1);
	assert_int_equal(f.p[f.len - 1], 1);  /* clamped to >= 1 */
	build_filter(&f, 1, 10, 100);
	assert_int_equal(f.p[f.len - 1], 30); /* clamped to <= 30 */
	buf_free(&f);
}

static void test_malformed_filters_say_maybe(void **state)
{
	uint8_t f[9] = { 0 };

	(void)state;
	assert_true(bloom_may_contain(NULL, 0, 123));
	assert_true(bloom_may_contain(f, 1, 123));
	f[8] = 31;                             /* future encoding */
	assert_true(bloom_may_contain(f, sizeof(f), 123));
	f[8] = 0;
	assert_true(bloom_may_contain(f, sizeof(f), 123));
	f[8] = 3;                              /* a valid, empty filter */
	assert_false(bloom_may_contain(f, sizeof(f), 123));
}

static void test_hash(void **state)
{
	char k[64];
	uint32_t a, b;
	int diff = 0;

	(void)state;
	assert_int_equal(bloom_hash("abc", 3), bloom_hash("abc", 3));
	assert_int_not_equal(bloom_hash("", 0), bloom_hash("\0", 1));
	assert_int_not_equal(bloom_hash("abc", 3), bloom_hash("abd", 3));
	/* Flipping one input bit flips about half the output bits. */
	for (int i = 0; i < 1000; i++) {
		size_t n = key_of(k, 9, (uint64_t)i);

		a = bloom_hash(k, n);
		k[i % n] ^= (char)(1 << (i % 8));
		b = bloom_hash(k, n);
		diff += __builtin_popcount(a ^ b);
	}
	assert_in_range(diff, 1000 * 14, 1000 * 18);
}

static void test_no_false_negatives(void **state)
{
	static const size_t ns[] = { 1, 2, 10, 100, 1000, 10000, 50000 };
	static const unsigned bits[] = { 1, 5, 10, 20 };
	struct buf f = BUF_INIT;
	char k[64];

	(void)state;
	for (size_t b = 0; b < 4; b++) {
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			build_filter(&f, j, ns[j], bits[b]);
			for (size_t i = 0; i < ns[j]; i++) {
				size_t n = key_of(k, j, 2 * i);

				assert_true(bloom_may_contain(f.p, f.len,
							     bloom_hash(k, n)));
			}
		}
	}
	buf_free(&f);
}

/* False-positive rate of a filter over N keys, probed with ABSENT keys. */
static double fp_rate(uint64_t salt, size_t n, unsigned bits, size_t absent)
{
	struct buf f = BUF_INIT;
	size_t fp = 0;
	char k[64];

	build_filter(&f, salt, n, bits);
	for (size_t i = 0; i < absent; i++) {
		size_t len = key_of(k, salt, 2 * i + 1);

		fp += bloom_may_contain(f.p, f.len, bloom_hash(k, len));
	}
	buf_free(&f);
	return (double)fp / (double)absent;
}

/* Theoretical rates (1 - e^(-k/B))^k with k = round(0.69 B). */
#define FP_B5 0.0918  /* k = 3 */
#define FP_B10 0.0082 /* k = 7 */
#define FP_B20 6.7e-5 /* k = 14 */

static void test_false_positive_rates(void **state)
{
	static const size_t ns[] = { 10000, 100000, 300000 };
	struct rng r;
	uint64_t salt;
	double rate, floor;

	(void)state;
	rng_init(&r, "bloom fp", 0);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		salt = rng_next(&r);
		rate = fp_rate(salt, ns[i], 10, 200000);
		print_message("n=%zu 10 bits/key: %.4f%% (theory %.4f%%)\n",
			      ns[i], 100 * rate, 100 * FP_B10);
		assert_true(rate <= 0.015);
		assert_true(rate <= FP_B10 * 1.25);
		rate = fp_rate(salt, ns[i], 5, 100000);
		print_message("n=%zu 5 bits/key: %.3f%% (theory %.3f%%)\n",
			      ns[i], 100 * rate, 100 * FP_B5);
		assert_true(rate <= FP_B5 * 1.15);
		assert_true(rate >= FP_B5 * 0.85);
	}
	/* At 20 bits/key the 32-bit hash adds a floor of n / 2^32 (an absent
	 * key whose hash equals a present one's); ~45 hits are expected. */
	salt = rng_next(&r);
	floor = 100000 / 4294967296.0;
	rate = fp_rate(salt, 100000, 20, 500000);
	print_message("n=100000 20 bits/key: %.5f%% (theory %.5f%% + %.5f%%)\n",
		      100 * rate, 100 * FP_B20, 100 * floor);
	assert_true(rate <= (FP_B20 + floor) * 1.8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_malformed_filters_say_maybe),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_no_false_negatives),
		cmocka_unit_test(test_false_positive_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
