/* test_report.c - lsmfs-bench outputs read back: the JSON is a list of
 * objects with the promised fields (null where not measured, strings
 * escaped), the CSV has one field per header column (quoting intact), the
 * median over runs, and a well-formed SVG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonmini.h"
#include "report.h"

static void make(struct bench_result *r, const char *eng, int eidx,
		 const char *bench, int bidx, double ops)
{
	report_result_init(r);
	snprintf(r->engine, sizeof(r->engine), "%s", eng);
	snprintf(r->bench, sizeof(r->bench), "%s", bench);
	r->engine_idx = eidx;
	r->bench_idx = bidx;
	r->ops = 1000;
	r->secs = 1000 / ops;
	r->ops_per_sec = ops;
	r->mb_per_sec = ops * 116 / 1048576;
	r->p50_us = 1.5;
	r->p99_us = 9.25;
	r->p999_us = 120;
	r->threads = 1;
}

/* Renders with FN into a malloc'ed string. */
static char *render(void (*fn)(FILE *, const struct bench_result *, size_t),
		    const struct bench_result *r, size_t n)
{
	static char *buf;   /* static: GCC takes memstream's for dangling */
	static size_t len;
	FILE *f;

	buf = NULL;
	len = 0;
	f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, r, n);
	fclose(f);
	return buf;
}

static void json_plain(FILE *f, const struct bench_result *r, size_t n)
{
	report_json(f, r, n, "\"num\": 1000, \"sync\": 0");
}

/* Does the line of OUT holding ENGINE hold WANT? */
static bool row_has(const char *out, const char *engine, const char *want)
{
	const char *p = strstr(out, engine), *a, *end;

	if (!p)
		return false;
	for (a = p; a > out && a[-1] != '\n'; a--)
		;
	end = strchr(p, '\n');
	p = strstr(a, want);
	return p && (!end || p < end);
}

static void table_lsm(FILE *f, const struct bench_result *r, size_t n)
{
	report_table(f, r, n, "lsm");
}

/* One ratio convention: the reference's ops/s over each row's (lsm/peer),
 * so a peer half as fast shows 2.00 and one twice as fast 0.50. */
static void test_table_ratio(void **state)
{
	struct bench_result r[3];
	char *out;

	(void)state;
	make(&r[0], "lsm", 0, "fillseq", 0, 200);
	make(&r[1], "slow", 1, "fillseq", 0, 100);
	make(&r[2], "fast", 2, "fillseq", 0, 400);
	out = render(table_lsm, r, 3);
	assert_non_null(strstr(out, " lsm/x "));
	assert_null(strstr(out, "x ref"));
	assert_true(row_has(out, " lsm ", " 1.00 "));
	assert_true(row_has(out, " slow ", " 2.00 "));
	assert_true(row_has(out, " fast ", " 0.50 "));
	free(out);
}

static void test_json_fields(void **state)
{
	struct bench_result r[3];
	struct jm_doc doc;
	char *text;

	(void)state;
	make(&r[0], "lsm", 0, "fillseq", 0, 250000);
	make(&r[1], "rocksdb", 1, "fillseq", 0, 125000);
	r[1].write_amp_io = 1.25;
	r[1].settings = "say \"hi\"\\ \t tab";
	make(&r[2], "lmdb", 2, "readrandom", 1, 9);
	r[2].rc = -5;
	snprintf(r[2].err, sizeof(r[2].err), "open: \"boom\"");
	text = render(json_plain, r, 3);
	assert_int_equal(jm_parse(text, &doc), 0);
	assert_int_equal(doc.n, 3);
	for (size_t i = 0; i < 3; i++) {
		static const char *const keys[] = {
			"engine", "benchmark", "ops_per_sec", "p50_us",
			"p99_us", "p999_us", "mb_per_sec", "write_amp",
			"space_amp", "peak_rss_kb", "num", "error",
		};

		for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
			assert_non_null(jm_get(&doc.o[i], keys[k]));
	}
	assert_string_equal(jm_get(&doc.o[0], "engine")->str, "lsm");
	assert_string_equal(jm_get(&doc.o[0], "benchmark")->str, "fillseq");
	assert_true(jm_get(&doc.o[0], "ops_per_sec")->num == 250000);
	assert_true(jm_get(&doc.o[0], "p99_us")->num == 9.25);
	assert_int_equal(jm_get(&doc.o[0], "write_amp")->type, JM_NULL);
	assert_int_equal(jm_get(&doc.o[0], "error")->type, JM_NULL);
	assert_true(jm_get(&doc.o[1], "write_amp_io")->num == 1.25);
	assert_string_equal(jm_get(&doc.o[1], "settings")->str,
			    "say \"hi\"\\ \t tab");
	assert_string_equal(jm_get(&doc.o[2], "error")->str, "open: \"boom\"");
	assert_true(jm_get(&doc.o[2], "num")->num == 1000);
	jm_free(&doc);
	free(text);
}

static void test_json_empty(void **state)
{
	struct jm_doc doc;
	char *text = render(json_plain, NULL, 0);

	(void)state;
	assert_int_equal(jm_parse(text, &doc), 0);
	assert_int_equal(doc.n, 0);
	free(text);
	assert_true(jm_parse("[{\"a\": 1,}]", &doc) < 0); /* reader is strict */
	jm_free(&doc);
}

/* Splits one CSV line into fields (RFC 4180 quoting); returns the count. */
static int csv_fields(const char *line, char out[][128], int max)
{
	int n = 0;
	size_t k = 0;
	int quoted = 0;

	memset(out, 0, (size_t)max * 128);
	for (const char *p = line; *p && *p != '\n'; p++) {
		if (quoted && *p == '"' && p[1] == '"') {
			out[n][k++] = '"';
			p++;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (*p == ',' && !quoted) {
			if (++n >= max)
				return -1;
			k = 0;
		} else if (k < 127) {
			out[n][k++] = *p;
		}
	}
	return n + 1;
}

static void test_csv(void **state)
{
	static char f[40][128];
	struct bench_result r[2];
	char *text, *line2, *line3;
	int ncols;

	(void)state;
	make(&r[0], "lsm", 0, "fillseq", 0, 1000);
	make(&r[1], "leveldb", 1, "fillseq", 0, 2000);
	r[1].rc = -5;
	snprintf(r[1].err, sizeof(r[1].err), "a \"quoted\", comma");
	text = render(report_csv, r, 2);
	ncols = csv_fields(text, f, 40);
	assert_true(ncols > 10);
	assert_string_equal(f[0], "engine");
	assert_string_equal(f[4], "ops_per_sec");
	line2 = strchr(text, '\n') + 1;
	line3 = strchr(line2, '\n') + 1;
	assert_int_equal(csv_fields(line2, f, 40), ncols);
	assert_string_equal(f[0], "lsm");
	assert_true(atof(f[4]) == 1000);
	assert_int_equal(csv_fields(line3, f, 40), ncols);
	assert_string_equal(f[ncols - 2], "a \"quoted\", comma");
	assert_string_equal(strchr(line3, '\n'), "\n");
	free(text);
}

static void test_aggregate_median(void **state)
{
	struct bench_result in[7], out[7];
	size_t n;

	(void)state;
	/* three runs of two engines, given in rotated order, plus one more */
	make(&in[0], "b", 1, "fillseq", 0, 300);
	make(&in[1], "a", 0, "fillseq", 0, 10);
	make(&in[2], "a", 0, "fillseq", 0, 30);
	make(&in[3], "b", 1, "fillseq", 0, 100);
	make(&in[4], "a", 0, "fillseq", 0, 20);
	make(&in[5], "b", 1, "fillseq", 0, 200);
	make(&in[6], "a", 0, "readseq", 1, 5);
	in[3].p99_us = 50;
	n = report_aggregate(in, 7, out);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].engine, "a");
	assert_string_equal(out[1].engine, "b");
	assert_string_equal(out[2].bench, "readseq");
	assert_true(out[0].ops_per_sec == 20);
	assert_true(out[0].ops_min == 10 && out[0].ops_max == 30);
	assert_int_equal(out[0].runs, 3);
	assert_true(out[1].ops_per_sec == 200);
	assert_true(out[1].p99_us == 9.25);        /* median, not the outlier */
	assert_true(out[1].write_amp < 0);         /* still "not measured" */
	assert_int_equal(out[2].runs, 1);
}

static void svg_plain(FILE *f, const struct bench_result *r, size_t n)
{
	report_svg(f, r, n, "a < b & c");
}

static void test_svg(void **state)
{
	struct bench_result r[4];
	char *text;

	(void)state;
	make(&r[0], "lsm", 0, "fillseq", 0, 1000);
	make(&r[1], "leveldb", 1, "fillseq", 0, 2000);
	make(&r[2], "lsm", 0, "readrandom", 1, 3000);
	make(&r[3], "leveldb", 1, "readrandom", 1, 1500);
	text = render(svg_plain, r, 4);
	assert_memory_equal(text, "<svg ", 5);
	assert_non_null(strstr(text, "</svg>\n"));
	assert_non_null(strstr(text, "a &lt; b &amp; c"));
	assert_null(strstr(text, "a < b"));
	assert_non_null(strstr(text, ">2.0k<"));
	assert_non_null(strstr(text, ">readrandom<"));
	/* the fastest bar of each group is full height (260) */
	assert_non_null(strstr(text, "height=\"260.0\""));
	/* ratios under the peers' bars, the same convention as the table:
	 * lsm's ops/s over the bar's */
	assert_non_null(strstr(text, ">0.50x<"));
	assert_non_null(strstr(text, ">2.00x<"));
	assert_non_null(strstr(text, "lsm/x, its ops/s over the bar's"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_ratio),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_aggregate_median),
		cmocka_unit_test(test_svg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
