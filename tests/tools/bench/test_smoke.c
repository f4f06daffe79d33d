/* test_smoke.c - runs the lsmfs-bench binary (argv[1]) end to end: a short
 * engine run on lsm and on every peer built in, and the filesystem
 * workloads on a temporary directory, and checks the JSON it writes. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "jsonmini.h"

extern char **environ;
static const char *bench_bin;
static char tmp[256];

static int rm_one(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st;
	(void)f;
	return t == FTW_DP ? rmdir(p) : unlink(p);
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/bench-smoke.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (!getenv("LSM_KEEP_TMP"))
		nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int run(char *const argv[])
{
	pid_t pid;
	int status;

	if (posix_spawn(&pid, bench_bin, NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void load_json(const char *path, struct jm_doc *doc)
{
	FILE *f = fopen(path, "r");
	static char text[1 << 20];
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	assert_int_equal(jm_parse(text, doc), 0);
}

static void check_row(const struct jm_object *o, const char *engine)
{
	const struct jm_field *e = jm_get(o, "engine");
	const struct jm_field *ops = jm_get(o, "ops_per_sec");

	assert_non_null(e);
	assert_string_equal(e->str, engine);
	assert_non_null(jm_get(o, "benchmark"));
	assert_int_equal(jm_get(o, "error")->type, JM_NULL);
	assert_int_equal(ops->type, JM_NUM);
	assert_true(ops->num > 0);
	if (strcmp(jm_get(o, "benchmark")->str, "untar") == 0 ||
	    strcmp(jm_get(o, "benchmark")->str, "untar_read") == 0 ||
	    strcmp(jm_get(o, "benchmark")->str, "rmtree") == 0) {
		/* one timed command: no per-operation latency */
		assert_int_equal(jm_get(o, "p50_us")->type, JM_NULL);
		return;
	}
	assert_int_equal(jm_get(o, "p50_us")->type, JM_NUM);
	assert_int_equal(jm_get(o, "p99_us")->type, JM_NUM);
	assert_true(jm_get(o, "p99_us")->num >= jm_get(o, "p50_us")->num);
}

static void run_engine(const char *engine)
{
	char json[300], db[300], eng[64];
	char a0[] = "lsmfs-bench", a1[] = "--benchmarks=fillseq,readrandom";
	char a2[] = "--num=2000", a3[] = "--progress=0";
	char *argv[] = { a0, a1, a2, eng, json, db, a3, NULL };
	struct jm_doc doc;

	snprintf(eng, sizeof(eng), "--engines=%s", engine);
	snprintf(json, sizeof(json), "--json=%s/%s.json", tmp, engine);
	snprintf(db, sizeof(db), "--db=%s/db", tmp);
	assert_int_equal(run(argv), 0);
	load_json(json + 7, &doc);
	assert_int_equal(doc.n, 2);
	check_row(&doc.o[0], engine);
	check_row(&doc.o[1], engine);
	assert_string_equal(jm_get(&doc.o[0], "benchmark")->str, "fillseq");
	assert_true(jm_get(&doc.o[0], "ops")->num == 2000);
	assert_string_equal(jm_get(&doc.o[1], "benchmark")->str, "readrandom");
	/* every key was written by fillseq, so every read finds it */
	assert_true(jm_get(&doc.o[1], "found")->num == 2000);
	assert_int_equal(jm_get(&doc.o[0], "space_amp")->type, JM_NUM);
	assert_true(jm_get(&doc.o[0], "peak_rss_kb")->num > 0);
	jm_free(&doc);
}

static void test_engine_lsm(void **state)
{
	(void)state;
	run_engine("lsm");
}

static void test_engine_peers(void **state)
{
	(void)state;
#ifdef HAVE_LEVELDB
	run_engine("leveldb");
	run_engine("leveldb-verify");
#endif
#ifdef HAVE_ROCKSDB
	run_engine("rocksdb");
#endif
#ifdef HAVE_LMDB
	run_engine("lmdb");
#endif
}

static void make_tree(const char *root)
{
	char p[400];

	assert_int_equal(mkdir(root, 0755), 0);
	for (int d = 0; d < 3; d++) {
		snprintf(p, sizeof(p), "%s/d%d", root, d);
		assert_int_equal(mkdir(p, 0755), 0);
		for (int i = 0; i < 5; i++) {
			FILE *f;

			snprintf(p, sizeof(p), "%s/d%d/f%d", root, d, i);
			f = fopen(p, "w");
			assert_non_null(f);
			fprintf(f, "file %d of dir %d\n", i, d);
			fclose(f);
		}
	}
}

static void test_fs(void **state)
{
	char dir[300], src[300], json[300], tar[320];
	char a0[] = "lsmfs-bench", a1[] = "fs", a2[] = "--num=200";
	char a3[] = "--stream_size=4M", a4[] = "--progress=0";
	char *argv[] = { a0, a1, dir, a2, a3, tar, json, a4, NULL };
	struct jm_doc doc;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/fs", tmp);
	snprintf(src, sizeof(src), "%s/src", tmp);
	snprintf(json, sizeof(json), "--json=%s/fs.json", tmp);
	snprintf(tar, sizeof(tar), "--tar_source=%s", src);
	assert_int_equal(mkdir(dir, 0755), 0);
	make_tree(src);
	assert_int_equal(run(argv), 0);
	load_json(json + 7, &doc);
	assert_int_equal(doc.n, 19);
	for (size_t i = 0; i < doc.n; i++)
		check_row(&doc.o[i], dir);
	assert_string_equal(jm_get(&doc.o[0], "benchmark")->str, "create_1dir");
	assert_true(jm_get(&doc.o[0], "ops")->num == 200);
	assert_true(jm_get(&doc.o[3], "ops")->num == 200);   /* list_1dir */
	assert_string_equal(jm_get(&doc.o[12], "benchmark")->str, "untar");
	assert_true(jm_get(&doc.o[12], "ops")->num == 19);   /* 15 + 3 + 1 */
	/* read back: every entry, every file's bytes */
	assert_string_equal(jm_get(&doc.o[13], "benchmark")->str, "untar_read");
	assert_true(jm_get(&doc.o[13], "ops")->num == 19);
	assert_true(jm_get(&doc.o[13], "mb_per_sec")->num > 0);
	jm_free(&doc);
	assert_int_equal(rmdir(dir), 0);  /* it cleaned up after itself */
}

/* A regular file as the target (the FUSE ceiling, libfuse's null):
 * stream_write runs on it, the rest is skipped, the run succeeds;
 * --rand_secs bounds random writes by time. */
static void test_fs_file_target(void **state)
{
	char file[300], dir[300], json[300];
	char a0[] = "lsmfs-bench", a1[] = "fs", a2[] = "--stream_size=2M";
	char a3[] = "--benchmarks=stream_write,create_1dir,randwrite_4k";
	char a4[] = "--progress=0", a5[] = "--rand_secs=1";
	char *argv[] = { a0, a1, file, dir, a2, a3, a4, a5, json, NULL };
	struct jm_doc doc;
	struct stat st;

	(void)state;
	snprintf(file, sizeof(file), "%s/sink", tmp);
	snprintf(dir, sizeof(dir), "%s/d", tmp);
	snprintf(json, sizeof(json), "--json=%s/f.json", tmp);
	assert_int_equal(close(open(file, O_CREAT | O_WRONLY, 0644)), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(run(argv), 0);
	assert_int_equal(stat(file, &st), 0);
	assert_true(st.st_size == 2 << 20);   /* written in place */
	load_json(json + 7, &doc);
	assert_int_equal(doc.n, 6);
	for (size_t i = 0; i < doc.n; i++) {
		const char *e = jm_get(&doc.o[i], "engine")->str;
		const char *b = jm_get(&doc.o[i], "benchmark")->str;
		bool skipped = strcmp(e, file) == 0 &&
			       strcmp(b, "stream_write") != 0;

		if (skipped)
			assert_non_null(strstr(jm_get(&doc.o[i], "error")->str,
					       "skipped"));
		else
			check_row(&doc.o[i], e);
		if (strcmp(e, dir) == 0 && strcmp(b, "randwrite_4k") == 0) {
			assert_true(jm_get(&doc.o[i], "seconds")->num >= 1.0);
			assert_true(jm_get(&doc.o[i], "seconds")->num < 5.0);
		}
	}
	jm_free(&doc);
	unlink(file);
	assert_int_equal(rmdir(dir), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine_lsm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_peers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fs_file_target, setup,
						teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: test_smoke PATH-TO-lsmfs-bench\n");
		return 2;
	}
	bench_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
