/* test_workload.c - lsmfs-bench key and value generators: db_bench key
 * format, missing keys, the ranges and skew of the uniform, zipfian and
 * latest distributions, and the compressibility of generated values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "workload.h"

#define DRAWS 200000

static void test_key_format(void **state)
{
	char k[32];

	(void)state;
	wl_key(k, 16, 123);
	assert_memory_equal(k, "0000000000000123", 16);
	wl_key(k, 8, 0);
	assert_memory_equal(k, "00000000", 8);
	wl_key(k, 4, 123456);                /* leading digits cut */
	assert_memory_equal(k, "3456", 4);
	assert_int_equal(wl_key_index("0000000000000123", 16), 123);
	assert_int_equal(wl_key_index("00001x", 6), -1);
	assert_int_equal(wl_key_index("", 0), -1);
}

static void test_keys_sort_as_indexes(void **state)
{
	char a[16], b[16], m[16];

	(void)state;
	for (uint64_t i = 10; i < 5000; i += 7) {
		uint64_t r = i - i % 10;

		wl_key(a, 16, i - 1);
		wl_key(b, 16, i);
		assert_true(memcmp(a, b, 16) < 0);
		/* a missing key sits strictly between two written keys */
		wl_missing_key(m, 16, i);
		wl_key(a, 16, r - 1);
		wl_key(b, 16, r);
		assert_true(memcmp(a, m, 16) < 0);
		assert_true(memcmp(m, b, 16) < 0);
		assert_int_equal(wl_key_index(m, 16), -1);
	}
}

static void test_rng_below_range(void **state)
{
	struct wl_rng r;
	uint64_t hist[10] = { 0 };

	(void)state;
	wl_rng_init(&r, 42);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t v = wl_rng_below(&r, 10);

		assert_true(v < 10);
		hist[v]++;
	}
	for (int i = 0; i < 10; i++) /* each within 5% of DRAWS / 10 */
		assert_true(hist[i] > DRAWS / 10 * 95 / 100 &&
			    hist[i] < DRAWS / 10 * 105 / 100);
	for (int i = 0; i < 1000; i++) {
		double d = wl_rng_double(&r);

		assert_true(d >= 0 && d < 1);
	}
}

static void test_uniform(void **state)
{
	struct wl_keygen g;
	struct wl_rng r;
	double sum = 0;
	uint64_t n = 1000;

	(void)state;
	wl_keygen_init(&g, DIST_UNIFORM, n);
	wl_rng_init(&r, 7);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t v = wl_keygen_next(&g, &r);

		assert_true(v < n);
		sum += (double)v;
	}
	assert_true(sum / DRAWS > 490 && sum / DRAWS < 510);
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y) - (x > y);
}

static void test_zipfian_skew(void **state)
{
	uint64_t n = 10000, top = 0;
	uint64_t *cnt = calloc(n, sizeof(*cnt)), rank0 = 0;
	struct wl_keygen g;
	struct wl_rng r;
	double expect0;

	(void)state;
	assert_non_null(cnt);
	wl_keygen_init(&g, DIST_ZIPFIAN, n);
	wl_rng_init(&r, 99);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t k = wl_keygen_next(&g, &r);

		assert_true(k < n);
		cnt[k]++;
		rank0 += wl_zipf_rank(&g, &r) == 0;
	}
	/* P(rank 0) = 1 / zeta(n, 0.99): about 0.1 for n = 10^4 */
	expect0 = 1.0 / g.zetan;
	assert_true(rank0 > DRAWS * expect0 * 0.9 &&
		    rank0 < DRAWS * expect0 * 1.1);
	qsort(cnt, n, sizeof(*cnt), cmp_u64_desc);
	for (uint64_t i = 0; i < n / 100; i++)
		top += cnt[i];
	/* the hottest 1% of keys get well over a third of the draws ... */
	assert_true(top > DRAWS / 3);
	/* ... and the hottest single key about 1 / zeta(n) of them */
	assert_true(cnt[0] > DRAWS * expect0 * 0.85);
	free(cnt);
}

static void test_zipfian_scattered(void **state)
{
	struct wl_keygen g;
	struct wl_rng r;
	uint64_t n = 1000000, low = 0;

	(void)state;
	wl_keygen_init(&g, DIST_ZIPFIAN, n);
	wl_rng_init(&r, 5);
	/* scrambled: hot keys are not all at the low indexes */
	for (int i = 0; i < 20000; i++)
		low += wl_keygen_next(&g, &r) < n / 10;
	assert_true(low < 20000 / 2);
}

static void test_latest(void **state)
{
	struct wl_keygen g;
	struct wl_rng r;
	uint64_t n = 100000, recent = 0, last = 0;

	(void)state;
	wl_keygen_init(&g, DIST_LATEST, n);
	wl_rng_init(&r, 11);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t v = wl_keygen_next(&g, &r);

		assert_true(v < n);
		recent += v >= n - n / 100;
		last += v == n - 1;
	}
	assert_true(recent > DRAWS / 2);   /* newest 1% gets most draws */
	assert_true(last > DRAWS / 20);    /* the newest key is the hottest */
}

static void test_tiny_key_spaces(void **state)
{
	struct wl_keygen g;
	struct wl_rng r;

	(void)state;
	wl_rng_init(&r, 3);
	for (int d = 0; d < 3; d++) {
		wl_keygen_init(&g, (enum key_dist)d, 1);
		for (int i = 0; i < 100; i++)
			assert_int_equal(wl_keygen_next(&g, &r), 0);
		wl_keygen_init(&g, (enum key_dist)d, 2);
		for (int i = 0; i < 100; i++)
			assert_true(wl_keygen_next(&g, &r) < 2);
	}
}

static double zratio(double ratio)
{
	struct wl_values v;
	size_t n = 100000;
	uLongf out = compressBound(n);
	Bytef *buf = malloc(out);
	char *src = malloc(n);

	assert_int_equal(wl_values_init(&v, 100, ratio, 1), 0);
	for (size_t off = 0; off < n; off += 100)
		memcpy(src + off, wl_value(&v, 100), 100);
	assert_int_equal(compress2(buf, &out, (Bytef *)src, n, 6), Z_OK);
	wl_values_free(&v);
	free(buf);
	free(src);
	return (double)out / (double)n;
}

static void test_value_compressibility(void **state)
{
	double half = zratio(0.5), full = zratio(1.0);

	(void)state;
	/* printable random bytes hold ~6.6 bits: zlib gets 1.0 to ~0.85 */
	assert_true(full > 0.75);
	assert_true(half > 0.35 && half < 0.6);
}

static void test_dist_names(void **state)
{
	enum key_dist d;

	(void)state;
	assert_int_equal(wl_dist_parse("zipfian", &d), 0);
	assert_int_equal(d, DIST_ZIPFIAN);
	assert_string_equal(wl_dist_name(DIST_LATEST), "latest");
	assert_true(wl_dist_parse("pareto", &d) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_format),
		cmocka_unit_test(test_keys_sort_as_indexes),
		cmocka_unit_test(test_rng_below_range),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_zipfian_skew),
		cmocka_unit_test(test_zipfian_scattered),
		cmocka_unit_test(test_latest),
		cmocka_unit_test(test_tiny_key_spaces),
		cmocka_unit_test(test_value_compressibility),
		cmocka_unit_test(test_dist_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
