/* test_bloom.c - bloom filters in both encodings (blocked, written now;
 * flat, of older tables, still read): layout, no false negatives, and
 * measured false-positive rates over >= 100,000 absent keys against the
 * theory for B = 5, 10 and 20 bits per key: (1 - e^(-k/B))^k flat, and
 * that averaged over the Poisson-distributed keys per 512-bit block
 * blocked. */
#include <math.h>
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

static bool flat; /* build_filter builds the flat encoding */

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
	if (flat)
		bloom_build_flat(f, h, n, bits);
	else
		bloom_build(f, h, n, bits);
	assert_true(buf_ok(f));
	free(h);
}

static void test_layout(void **state)
{
	struct buf f = BUF_INIT;

	(void)state;
	flat = true;
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
	/* blocked: whole 64-byte blocks, k flagged */
	flat = false;
	build_filter(&f, 1, 0, 10);
	assert_int_equal(f.len, 64 + 1);     /* one block at least */
	assert_int_equal(f.p[f.len - 1], BLOOM_BLOCKED | 7);
	build_filter(&f, 1, 1000, 10);       /* 10,000 bits -> 20 blocks */
	assert_int_equal(f.len, 20 * 64 + 1);
	build_filter(&f, 1, 1024, 10);       /* exactly 20 */
	assert_int_equal(f.len, 20 * 64 + 1);
	build_filter(&f, 1, 1025, 10);
	assert_int_equal(f.len, 21 * 64 + 1);
	build_filter(&f, 1, 10, 1);
	assert_int_equal(f.p[f.len - 1], BLOOM_BLOCKED | 1);
	build_filter(&f, 1, 10, 100);
	assert_int_equal(f.p[f.len - 1], BLOOM_BLOCKED | 30);
	buf_free(&f);
}

static void test_malformed_filters_say_maybe(void **state)
{
	uint8_t f[9] = { 0 }, g[129] = { 0 };

	(void)state;
	assert_true(bloom_may_contain(NULL, 0, 123));
	assert_true(bloom_may_contain(f, 1, 123));
	f[8] = 31;                             /* future encoding */
	assert_true(bloom_may_contain(f, sizeof(f), 123));
	f[8] = 0;
	assert_true(bloom_may_contain(f, sizeof(f), 123));
	f[8] = 3;                              /* a valid, empty filter */
	assert_false(bloom_may_contain(f, sizeof(f), 123));
	/* blocked: a length not of whole blocks, k of 0 or past 30 */
	f[8] = BLOOM_BLOCKED | 3;
	assert_true(bloom_may_contain(f, sizeof(f), 123));
	g[128] = BLOOM_BLOCKED | 0;
	assert_true(bloom_may_contain(g, sizeof(g), 123));
	g[128] = BLOOM_BLOCKED | 31;
	assert_true(bloom_may_contain(g, sizeof(g), 123));
	g[128] = 0xff;
	assert_true(bloom_may_contain(g, sizeof(g), 123));
	g[128] = BLOOM_BLOCKED | 3;            /* valid, empty: two blocks */
	for (uint32_t h = 0; h < 1000; h++)
		assert_false(bloom_may_contain(g, sizeof(g), h * 2654435761u));
	g[64] = BLOOM_BLOCKED | 3;             /* the same, one block */
	assert_false(bloom_may_contain(g, 65, 123));
}

/* What a reader that knows only the flat encoding makes of a blocked
 * filter: "maybe" for every key (kbyte > 30), so tables written now stay
 * readable, without filtering, by older binaries. */
static void test_blocked_is_maybe_to_old_readers(void **state)
{
	struct buf f = BUF_INIT;

	(void)state;
	flat = false;
	build_filter(&f, 3, 1000, 10);
	assert_true(f.p[f.len - 1] > 30);
	buf_free(&f);
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
	for (size_t b = 0; b < 8; b++) {
		flat = b >= 4;
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			build_filter(&f, j, ns[j], bits[b % 4]);
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

/* The blocked filter's theory: a block of 512 bits holds a Poisson number
 * of keys (mean 512 / B); a key probes k bits of its block. */
static double blocked_theory(unsigned bits, unsigned k)
{
	double mean = 512.0 / bits, p = exp(-mean), sum = 0;

	for (unsigned n = 0; n < 1000; n++) {
		sum += p * pow(1 - pow(1 - 1 / 512.0, (double)k * n), k);
		p *= mean / (n + 1);
	}
	return sum;
}

static void test_false_positive_rates(void **state)
{
	static const size_t ns[] = { 10000, 100000, 300000 };
	struct rng r;
	uint64_t salt;
	double rate, floor, b5, b10, b20;

	(void)state;
	rng_init(&r, "bloom fp", 0);
	b5 = blocked_theory(5, 3);
	b10 = blocked_theory(10, 7);
	b20 = blocked_theory(20, 14);
	for (int enc = 0; enc < 2; enc++) {
		double t5 = enc ? FP_B5 : b5, t10 = enc ? FP_B10 : b10;

		flat = enc;
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			salt = rng_next(&r);
			rate = fp_rate(salt, ns[i], 10, 200000);
			print_message("%s n=%zu 10 bits/key: %.4f%% (theory "
				      "%.4f%%)\n", flat ? "flat" : "blocked",
				      ns[i], 100 * rate, 100 * t10);
			assert_true(rate <= 0.015);
			assert_true(rate <= t10 * 1.25);
			rate = fp_rate(salt, ns[i], 5, 100000);
			print_message("%s n=%zu 5 bits/key: %.3f%% (theory "
				      "%.3f%%)\n", flat ? "flat" : "blocked",
				      ns[i], 100 * rate, 100 * t5);
			assert_true(rate <= t5 * 1.15);
			assert_true(rate >= t5 * 0.85);
		}
		/* At 20 bits/key the 32-bit hash adds a floor of n / 2^32
		 * (an absent key whose hash equals a present one's); ~45
		 * hits are expected. */
		salt = rng_next(&r);
		floor = 100000 / 4294967296.0;
		rate = fp_rate(salt, 100000, 20, 500000);
		print_message("%s n=100000 20 bits/key: %.5f%% (theory %.5f%% "
			      "+ %.5f%%)\n", flat ? "flat" : "blocked",
			      100 * rate, 100 * (enc ? FP_B20 : b20),
			      100 * floor);
		assert_true(rate <= ((enc ? FP_B20 : b20) + floor) * 1.8);
	}
	flat = false;
}

/* The live filter (the memtable's): sized in whole 64-byte blocks, "maybe"
 * with no blocks, every key added is found, and the false-positive rate
 * is the blocked theory's for its six probes at 10 and 20 bits a key. */
static void test_live_filter(void **state)
{
	static const unsigned bits[] = { 10, 20 };
	struct bloom_live f;
	struct rng r;
	char k[64];

	(void)state;
	assert_int_equal(bloom_live_init(&f, 63), 0);
	assert_int_equal(bloom_live_bytes(&f), 0);
	assert_true(bloom_live_may_contain(&f, 12345));
	bloom_live_add(&f, 12345); /* nowhere to put it: still "maybe" */
	assert_true(bloom_live_may_contain(&f, 99));
	bloom_live_free(&f);
	rng_init(&r, "bloom live", 0);
	for (size_t b = 0; b < sizeof(bits) / sizeof(bits[0]); b++) {
		enum { N = 100000, ABSENT = 200000 };
		uint64_t salt = rng_next(&r);
		double theory = blocked_theory(bits[b], 6), rate;
		size_t fp = 0;

		assert_int_equal(bloom_live_init(&f, N * bits[b] / 8 + 10),
				 0);
		assert_int_equal(bloom_live_bytes(&f) % 64, 0);
		assert_true(bloom_live_bytes(&f) <= N * bits[b] / 8 + 10);
		assert_int_equal((uintptr_t)f.words % 64, 0);
		for (size_t i = 0; i < N; i++) {
			size_t n = key_of(k, salt, 2 * i);

			assert_false(i == 0 &&
				     bloom_live_may_contain(&f,
							    bloom_hash(k, n)));
			bloom_live_add(&f, bloom_hash(k, n));
		}
		for (size_t i = 0; i < N; i++) {
			size_t n = key_of(k, salt, 2 * i);

			assert_true(bloom_live_may_contain(&f,
							   bloom_hash(k, n)));
		}
		for (size_t i = 0; i < ABSENT; i++) {
			size_t n = key_of(k, salt, 2 * i + 1);

			fp += bloom_live_may_contain(&f, bloom_hash(k, n));
		}
		rate = (double)fp / ABSENT;
		print_message("live n=%d %u bits/key: %.4f%% (theory "
			      "%.4f%%)\n", N, bits[b], 100 * rate,
			      100 * theory);
		assert_true(rate <= theory * 1.25 + 1e-4);
		bloom_live_free(&f);
		assert_int_equal(bloom_live_bytes(&f), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_filter),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_malformed_filters_say_maybe),
		cmocka_unit_test(test_blocked_is_maybe_to_old_readers),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_no_false_negatives),
		cmocka_unit_test(test_false_positive_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
