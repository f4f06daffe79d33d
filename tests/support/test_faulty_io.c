/* test_faulty_io.c - the power-cut model of faulty_io itself: unlinks not
 * made durable come back, a random cut keeps only what a disk could
 * (a prefix of the unsynced bytes, maybe zeros after the synced size, a
 * prefix of the directory changes in order).  Faults and counts are
 * exercised by the engine tests that use them. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "faulty_io.h"
#include "support.h"

/* Creates PATH through IO holding N bytes of BYTE, fsynced; returns the
 * descriptor, still open. */
static int make_file(const struct lsm_io *io, const char *path, char byte,
		     size_t n)
{
	char buf[256];
	int fd;

	memset(buf, byte, sizeof(buf));
	assert_true(n <= sizeof(buf));
	assert_int_equal(io->open(io, path, O_RDWR | O_CREAT | O_TRUNC, 0644,
				  &fd), 0);
	assert_int_equal(lsm_io_write_full(io, fd, buf, n, 0), 0);
	assert_int_equal(io->fsync(io, fd), 0);
	return fd;
}

static void test_unlink_undone(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	const struct lsm_io *io = &fio->io;
	char a[4096], b[4096];
	int fd;

	snprintf(a, sizeof(a), "%s", tdir_path(d, "a"));
	snprintf(b, sizeof(b), "%s", tdir_path(d, "b"));
	fd = make_file(io, a, 'a', 10);
	assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	assert_int_equal(lsm_io_write_full(io, fd, "unsynced", 8, 10), 0);
	io->close(io, fd);
	io->close(io, make_file(io, b, 'b', 5));
	assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	assert_int_equal(io->unlink(io, a), 0);
	assert_int_equal(io->unlink(io, b), 0);
	assert_int_equal(file_size(a), -1);
	assert_int_equal(io->sync_dir(io, "/nonexistent-dir"), -ENOENT);
	assert_int_equal(faulty_io_power_cut(fio), 0);
	/* both back, A without its unsynced bytes */
	assert_int_equal(file_size(a), 10);
	assert_int_equal(file_size(b), 5);
	/* now with the directory synced: the unlink sticks */
	faulty_io_reset(fio);
	assert_int_equal(io->unlink(io, a), 0);
	assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	assert_int_equal(faulty_io_power_cut(fio), 0);
	assert_int_equal(file_size(a), -1);
	assert_int_equal(file_size(b), 5);
	assert_int_equal(access(tdir_path(d, ".fio-bak-1"), F_OK), -1);
	faulty_io_free(fio);
}

static void test_create_unlink_create(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	const struct lsm_io *io = &fio->io;
	char a[4096];

	snprintf(a, sizeof(a), "%s", tdir_path(d, "a"));
	io->close(io, make_file(io, a, '1', 3));
	assert_int_equal(io->unlink(io, a), 0);
	io->close(io, make_file(io, a, '2', 4));
	assert_int_equal(faulty_io_power_cut(fio), 0);
	assert_int_equal(file_size(a), -1); /* never durable */
	faulty_io_free(fio);
}

/* One random cut: file "f" has 100 synced bytes 's' and 100 unsynced
 * 'u'; "n0".."n2" are created in order, unsynced. */
static void random_cut(struct tdir *d, unsigned long long seed,
		       unsigned *kept_bytes, unsigned *kept_files)
{
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	const struct lsm_io *io = &fio->io;
	char f[4096], name[8], u[100];
	unsigned char *p;
	size_t len, i;
	bool gap = false;
	int fd;

	snprintf(f, sizeof(f), "%s", tdir_path(d, "f"));
	fd = make_file(io, f, 's', 100);
	assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	memset(u, 'u', sizeof(u));
	assert_int_equal(lsm_io_write_full(io, fd, u, sizeof(u), 100), 0);
	io->close(io, fd);
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "n%d", k);
		assert_int_equal(io->open(io, tdir_path(d, name),
					  O_WRONLY | O_CREAT, 0644, &fd), 0);
		io->close(io, fd);
	}
	assert_int_equal(faulty_io_power_cut_random(fio, seed), 0);
	p = file_read_all(f, &len);
	assert_non_null(p);
	assert_in_range(len, 100, 200);
	for (i = 0; i < len; i++) { /* synced, then 'u's, then zeros */
		if (i < 100)
			assert_int_equal(p[i], 's');
		else if (p[i] == 0)
			gap = true;
		else
			assert_true(p[i] == 'u' && !gap);
	}
	free(p);
	*kept_bytes = (unsigned)len - 100;
	*kept_files = 0;
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "n%d", k);
		if (file_size(tdir_path(d, name)) == 0) {
			assert_int_equal(*kept_files, k); /* a prefix */
			(*kept_files)++;
			unlink(tdir_path(d, name));
		}
	}
	unlink(f);
	faulty_io_free(fio);
}

static void test_random_cut(void **state)
{
	unsigned bytes, files, seen_bytes = 0, seen_files = 0;

	for (unsigned long long seed = 1; seed <= 200; seed++) {
		random_cut(*state, seed, &bytes, &files);
		seen_bytes |= 1u << (bytes == 0 ? 0 : bytes == 100 ? 1 : 2);
		seen_files |= 1u << files;
	}
	assert_int_equal(seen_bytes, 7); /* none, all and some were kept */
	assert_int_equal(seen_files, 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
		T(test_unlink_undone),
		T(test_create_unlink_create),
		T(test_random_cut),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
