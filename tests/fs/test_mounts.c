/* test_mounts.c - mounts_find (fs/mounts.c) on forged mountinfo tables,
 * and the log sink (fs/logsink.c): line format, levels, targets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "logsink.h"
#include "mounts.h"
#include "support.h"

static int setup(void **state)
{
	return tdir_setup(state);
}

static int teardown(void **state)
{
	return tdir_teardown(state);
}

static const char *write_table(struct tdir *d, const char *text)
{
	const char *path = tdir_path(d, "mountinfo");
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_find_prefers_rw(void **state)
{
	const char *t = write_table(*state,
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"40 22 0:40 / /mnt/follow ro,nosuid,nodev shared:9 - fuse.lsmfs "
		"/srv/data ro,user_id=0,group_id=0\n"
		"41 22 0:41 / /mnt/other rw,nosuid - fuse.lsmfs /srv/other rw\n"
		"42 22 0:42 / /mnt/main rw,nosuid,nodev shared:10 - fuse.lsmfs "
		"/srv/data rw,user_id=0,group_id=0\n"
		"43 22 0:43 / /mnt/sshfs rw - fuse.sshfs /srv/data rw\n");
	char mnt[64];
	bool rw = false;

	assert_int_equal(mounts_find(t, "/srv/data", mnt, sizeof(mnt), &rw), 1);
	assert_string_equal(mnt, "/mnt/main");
	assert_true(rw);
	assert_int_equal(mounts_find(t, "/srv/nothing", mnt, sizeof(mnt), &rw),
			 0);
	assert_int_equal(mounts_find(t, "/srv/data", mnt, 5, NULL),
			 -ENAMETOOLONG);
}

static void test_find_ro_and_escapes(void **state)
{
	const char *t = write_table(*state,
		"40 22 0:40 / /mnt/a\\040b ro shared:9 - fuse.lsmfs "
		"/srv/my\\040data ro\n"
		"garbage line\n\n");
	char mnt[64];
	bool rw = true;

	assert_int_equal(mounts_find(t, "/srv/my data", mnt, sizeof(mnt), &rw),
			 1);
	assert_string_equal(mnt, "/mnt/a b");
	assert_false(rw);
	assert_int_equal(mounts_find(tdir_path(*state, "none"), "/x", mnt,
				     sizeof(mnt), NULL), -ENOENT);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 8192);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 8191, f) > 0);
	fclose(f);
	return buf;
}

static void test_logsink_file(void **state)
{
	const char *path = tdir_path(*state, "log");
	struct lsm_err err = { 0 };
	enum logsink_level lvl;
	char *text;
	int n = 0;

	assert_int_equal(logsink_parse_level("warn", &lvl), 0);
	assert_int_equal(lvl, LOGSINK_WARN);
	assert_int_equal(logsink_parse_level("loud", &lvl), -EINVAL);
	assert_int_equal(logsink_open("t", "", lvl, &err), -EINVAL);
	assert_int_equal(logsink_open("t", tdir_path(*state, "no/such/log"),
				      lvl, &err), -ENOENT);
	assert_int_equal(logsink_open("t", path, LOGSINK_INFO, &err), 0);
	logsink_printf(LOGSINK_ERR, "fs", "broke %d", 1);
	logsink_engine(NULL, LSM_LOG_INFO, "opened");
	logsink_write(LOGSINK_DEBUG, "fs", "hidden");
	logsink_close();
	text = slurp(path);
	for (char *p = text; (p = strchr(p, '\n')); p++)
		n++;
	assert_int_equal(n, 2);
	/* 2026-12-02T06:20:01.123Z t[PID] LEVEL COMPONENT: MSG */
	assert_int_equal(text[4], '-');
	assert_int_equal(text[10], 'T');
	assert_int_equal(text[23], 'Z');
	assert_non_null(strstr(text, "] error fs: broke 1\n"));
	assert_non_null(strstr(text, "] info engine: opened\n"));
	assert_null(strstr(text, "hidden"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_find_prefers_rw, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_find_ro_and_escapes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_logsink_file, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
