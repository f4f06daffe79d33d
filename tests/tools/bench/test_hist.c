/* test_hist.c - the log-linear latency histogram of lsmfs-bench: bucket
 * layout, percentiles against known data (within the 1/128 bound), merge,
 * and the empty and extreme cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "hist.h"

static void assert_close(uint64_t got, uint64_t want)
{
	double err = (double)got - (double)want;

	if (err < 0)
		err = -err;
	if (err > (double)want / 100 + 1) {
		print_error("got %llu, want %llu (+-1%%)\n",
			    (unsigned long long)got, (unsigned long long)want);
		fail();
	}
}

static void test_buckets_tile_the_range(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket_lo(0), 0);
	for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
		assert_true(hist_bucket_lo(i) <= hist_bucket_hi(i));
		assert_true(hist_bucket_hi(i) + 1 == hist_bucket_lo(i + 1));
		assert_int_equal(hist_bucket(hist_bucket_lo(i)), i);
		assert_int_equal(hist_bucket(hist_bucket_hi(i)), i);
		/* width at most 1/64 of the bucket's lower bound */
		if (i >= HIST_LINEAR)
			assert_true(hist_bucket_hi(i) - hist_bucket_lo(i) + 1 <=
				    hist_bucket_lo(i) / 64);
	}
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_bucket(127), 127);
	assert_int_equal(hist_bucket(128), 128);
}

static void test_uniform_data(void **state)
{
	struct hist *h = malloc(sizeof(*h));

	(void)state;
	hist_init(h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(h, v);
	assert_int_equal(h->count, 100000);
	assert_close(hist_quantile(h, 0.5), 50000);
	assert_close(hist_quantile(h, 0.99), 99000);
	assert_close(hist_quantile(h, 0.999), 99900);
	assert_int_equal(hist_quantile(h, 1.0), 100000);
	assert_int_equal(hist_quantile(h, 0.0), 1);
	assert_true(hist_mean(h) > 50000.4 && hist_mean(h) < 50000.6);
	free(h);
}

static void test_tail(void **state)
{
	struct hist *h = malloc(sizeof(*h));

	(void)state;
	hist_init(h);
	/* 998 fast ops, 2 stalls of 1 ms: p99.9 must see the stall */
	for (int i = 0; i < 998; i++)
		hist_add(h, 1000 + (uint64_t)i % 7);
	hist_add(h, 1000000);
	hist_add(h, 1000000);
	assert_close(hist_quantile(h, 0.5), 1003);
	assert_close(hist_quantile(h, 0.99), 1006);
	assert_close(hist_quantile(h, 0.999), 1000000);
	assert_int_equal(h->max, 1000000);
	free(h);
}

static void test_exact_small_values(void **state)
{
	struct hist *h = malloc(sizeof(*h));

	(void)state;
	hist_init(h);
	for (uint64_t v = 0; v < 100; v++)
		hist_add(h, v);
	assert_int_equal(hist_quantile(h, 0.5), 49);
	assert_int_equal(hist_quantile(h, 0.99), 98);
	free(h);
}

static void test_merge_and_empty(void **state)
{
	struct hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	(void)state;
	hist_init(a);
	hist_init(b);
	assert_int_equal(hist_quantile(a, 0.99), 0);
	assert_true(hist_mean(a) == 0);
	for (uint64_t v = 1; v <= 50000; v++)
		hist_add(a, v);
	for (uint64_t v = 50001; v <= 100000; v++)
		hist_add(b, v);
	hist_merge(a, b);
	assert_int_equal(a->count, 100000);
	assert_int_equal(a->min, 1);
	assert_int_equal(a->max, 100000);
	assert_close(hist_quantile(a, 0.75), 75000);
	hist_init(b);
	hist_add(b, UINT64_MAX);     /* the largest value has a bucket */
	assert_int_equal(hist_quantile(b, 0.5), UINT64_MAX);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_tile_the_range),
		cmocka_unit_test(test_uniform_data),
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_exact_small_values),
		cmocka_unit_test(test_merge_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
