/* test_statparse.c - the tolerant lsm_stats text parser of lsmfs-bench and
 * the write amplification computed from it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "statparse.h"

static const char typical[] =
	"# HELP lsm_user_bytes_written Bytes of keys and values.\n"
	"# TYPE lsm_user_bytes_written counter\n"
	"lsm_user_bytes_written 1000\n"
	"lsm_wal_bytes_written 1100\n"
	"lsm_flush_bytes_written 900\n"
	"lsm_compaction_bytes_written 2000\n"
	"lsm_level_tables{level=\"0\"} 3\n"
	"lsm_write_amplification 4.0\n";

static void test_typical(void **state)
{
	struct stat_wamp w;
	double v;

	(void)state;
	assert_int_equal(statparse_get(typical, "lsm_wal_bytes_written", &v), 0);
	assert_true(v == 1100);
	assert_int_equal(statparse_get(typical, "lsm_level_tables", &v), 0);
	assert_true(v == 3);
	assert_int_equal(statparse_write_amp(typical, &w), 0);
	assert_true(w.user == 1000 && w.disk == 4000 && w.wamp == 4.0);
}

static void test_tolerant_forms(void **state)
{
	static const char text[] =
		"\r\n"
		"   lsm_user_bytes_written_total\t2e3\r\n"
		"lsm_wal_bytes_written{db=\"x\"} 1000 1699999999\n"
		"lsm_flush_bytes_written=500\n"
		"lsm_compaction_bytes_written: 1500.0\n"
		"lsm_manifest_bytes_written 1000";   /* no final newline */
	struct stat_wamp w;

	(void)state;
	assert_int_equal(statparse_write_amp(text, &w), 0);
	assert_true(w.user == 2000);
	assert_true(w.disk == 4000);
	assert_true(w.wamp == 2.0);
}

static void test_no_prefix_confusion(void **state)
{
	static const char text[] =
		"lsm_wal_bytes_written_extra 77\n"
		"xlsm_wal_bytes_written 66\n"
		"lsm_wal_bytes 55\n"
		"lsm_wal_bytes_written 44\n";
	double v;

	(void)state;
	assert_int_equal(statparse_get(text, "lsm_wal_bytes_written", &v), 0);
	assert_true(v == 44);
}

static void test_malformed_lines_skipped(void **state)
{
	static const char text[] =
		"lsm_user_bytes_written\n"
		"lsm_user_bytes_written abc\n"
		"lsm_user_bytes_written 12abc\n"
		"lsm_user_bytes_written{unterminated 5\n"
		"lsm_user_bytes_written nan\n"
		"# lsm_user_bytes_written 9\n"
		"lsm_user_bytes_written 42\n";
	double v;

	(void)state;
	assert_int_equal(statparse_get(text, "lsm_user_bytes_written", &v), 0);
	assert_true(v == 42);
}

/* The names lsm_stats gives since units are in the names (_total). */
static void test_current_names(void **state)
{
	static const char text[] =
		"# HELP lsm_user_written_bytes_total Bytes of keys and values.\n"
		"# TYPE lsm_user_written_bytes_total counter\n"
		"lsm_user_written_bytes_total 1000\n"
		"lsm_wal_written_bytes_total 1100\n"
		"lsm_flush_written_bytes_total 900\n"
		"lsm_compaction_written_bytes_total 2000\n"
		"lsm_manifest_written_bytes_total 0\n";
	struct stat_wamp w;

	(void)state;
	assert_int_equal(statparse_write_amp(text, &w), 0);
	assert_true(w.user == 1000 && w.disk == 4000 && w.wamp == 4.0);
}

static void test_missing(void **state)
{
	struct stat_wamp w;
	double v;

	(void)state;
	assert_int_equal(statparse_get("", "lsm_x", &v), -ENOENT);
	assert_int_equal(statparse_write_amp(NULL, &w), -ENOENT);
	assert_int_equal(statparse_write_amp("lsm_user_bytes_written 5\n", &w),
			 -ENOENT);
	assert_int_equal(statparse_write_amp("lsm_wal_bytes_written 5\n", &w),
			 -ENOENT);
	/* zero user bytes: no division by zero */
	assert_int_equal(statparse_write_amp("lsm_user_bytes_written 0\n"
					     "lsm_wal_bytes_written 5\n", &w), 0);
	assert_true(w.wamp == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typical),
		cmocka_unit_test(test_tolerant_forms),
		cmocka_unit_test(test_no_prefix_confusion),
		cmocka_unit_test(test_malformed_lines_skipped),
		cmocka_unit_test(test_current_names),
		cmocka_unit_test(test_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
