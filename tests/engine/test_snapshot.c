/* test_snapshot.c - durable named snapshots (lsm_snapshot_create & co.):
 * create, list and drop with their refusals; reads through a snapshot
 * after overwrites and deletes, after a reopen, a read-only open and a
 * kill -9; compaction keeping what a snapshot sees (and only the newest
 * version per stripe) and freeing it after the drop; manifest field 66
 * encoding and its strict decoding; the ro_compat feature bit. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "db_impl.h"
#include "lsm.h"
#include "lsm_files.h"
#include "lsm_tool.h"
#include "support.h"
#include "version.h"

static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 64u << 10;
	o->table_bytes = 64u << 10;
	o->level1_bytes = 256u << 10;
	o->level_multiplier = 4;
	o->l0_compaction_trigger = 2;
	o->reserve_bytes = 0;
}

static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t sum = 0;
	char path[4096];
	struct stat st;

	assert_non_null(d);
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

/* Value of key I in round R: LEN bytes. */
static void value_of(int i, int r, char *v, size_t len)
{
	for (size_t p = 0; p < len; p++)
		v[p] = (char)('a' + (i * 31 + r * 7 + (int)p * 13) % 26);
}

static void key_of(int i, char *k)
{
	snprintf(k, 17, "%016d", i);
}

/* Checks that SNAP shows keys 0..N-1 with round R values of LEN bytes
 * (every key present, nothing else), by point reads and by a scan. */
static void check_view(struct lsm_db *db, const struct lsm_snapshot *snap,
		       int n, int r, size_t len)
{
	char k[17], want[2048];
	void *got;
	size_t glen, klen, vlen;
	struct lsm_iter *it;
	int i = 0;

	for (int j = 0; j < n; j += 7) {
		key_of(j, k);
		value_of(j, r, want, len);
		assert_int_equal(lsm_get(db, snap, k, 16, &got, &glen, NULL), 1);
		assert_int_equal(glen, len);
		assert_memory_equal(got, want, len);
		free(got);
	}
	assert_int_equal(lsm_iter_new(db, snap, &it, NULL), 0);
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		const void *kk = lsm_iter_key(it, &klen);
		const void *vv = lsm_iter_value(it, &vlen);

		key_of(i, k);
		value_of(i, r, want, len);
		assert_int_equal(klen, 16);
		assert_memory_equal(kk, k, 16);
		assert_int_equal(vlen, len);
		assert_memory_equal(vv, want, len);
		i++;
	}
	assert_int_equal(lsm_iter_status(it, NULL), 0);
	lsm_iter_free(it);
	assert_int_equal(i, n);
}

static void write_round(struct lsm_db *db, int n, int r, size_t len)
{
	char k[17], v[2048];

	for (int i = 0; i < n; i++) {
		key_of(i, k);
		value_of(i, r, v, len);
		assert_int_equal(lsm_put(db, k, 16, v, len, NULL), 0);
	}
}

static void test_create_list_drop(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_snapshot_info a, b, *list;
	struct lsm_err err = { 0 };
	char longname[LSM_SNAPSHOT_NAME_MAX + 2];
	size_t n;

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_snapshot_list(db, &list, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(list);
	assert_int_equal(lsm_put(db, "k", 1, "1", 1, NULL), 0);
	assert_int_equal(lsm_snapshot_create(db, "daily-2026.12.02", &a, NULL),
			 0);
	assert_int_equal(lsm_put(db, "k", 1, "2", 1, NULL), 0);
	assert_int_equal(lsm_snapshot_create(db, "b_2", &b, NULL), 0);
	assert_true(a.id >= 1 && b.id >= 1 && a.id != b.id);
	assert_true(b.seq > a.seq);
	assert_true(a.time_sec > 1600000000);
	assert_true(db->vs.features.ro_compat & LSM_FEAT_RO_COMPAT_SNAPSHOTS);

	/* refusals, each with a message */
	assert_int_equal(lsm_snapshot_create(db, "b_2", NULL, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "exists"));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = { "", ".hidden", "a/b", "sp ace", "..", longname,
			      "tab\t" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		assert_int_equal(lsm_snapshot_create(db, bad[i], NULL, &err),
				 -EINVAL);
		assert_true(strlen(err.msg) > 10);
	}
	assert_int_equal(lsm_snapshot_create(db, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(lsm_snapshot_drop(db, "nope", &err), -ENOENT);
	{
		const struct lsm_snapshot *s;

		assert_int_equal(lsm_snapshot_open(db, "nope", &s, NULL, NULL),
				 -ENOENT);
	}

	assert_int_equal(lsm_snapshot_list(db, &list, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "daily-2026.12.02");
	assert_string_equal(list[1].name, "b_2");
	assert_int_equal(list[0].seq, a.seq);
	assert_int_equal(list[1].id, b.id);
	free(list);

	assert_int_equal(lsm_snapshot_drop(db, "daily-2026.12.02", NULL), 0);
	assert_int_equal(lsm_snapshot_list(db, &list, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "b_2");
	free(list);
	assert_int_equal(lsm_snapshot_drop(db, "b_2", NULL), 0);
	/* the last one gone: the store is writable by older builds again */
	assert_false(db->vs.features.ro_compat & LSM_FEAT_RO_COMPAT_SNAPSHOTS);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_too_many(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_snapshot_info si;
	struct lsm_err err = { 0 };
	bool seen[LSM_SNAPSHOT_ID_MAX + 1] = { false };
	char name[32];

	small_options(&o);
	o.io = test_io_nosync();
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	for (int i = 0; i < LSM_SNAPSHOTS_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(lsm_snapshot_create(db, name, &si, NULL), 0);
		assert_true(si.id >= 1 && si.id <= LSM_SNAPSHOT_ID_MAX);
		assert_false(seen[si.id]);
		seen[si.id] = true;
	}
	assert_int_equal(lsm_snapshot_create(db, "one-more", NULL, &err),
			 -ENOSPC);
	assert_non_null(strstr(err.msg, "drop one"));
	assert_int_equal(lsm_snapshot_drop(db, "s10", NULL), 0);
	assert_int_equal(lsm_snapshot_create(db, "one-more", &si, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* the full list survives a reopen (and the manifest's roll-over
	 * snapshot at open carries it) */
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	{
		struct lsm_snapshot_info *list;
		size_t n;

		assert_int_equal(lsm_snapshot_list(db, &list, &n, NULL), 0);
		assert_int_equal(n, LSM_SNAPSHOTS_MAX);
		assert_string_equal(list[n - 1].name, "one-more");
		free(list);
	}
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_reads_survive_reopen(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *s;
	struct lsm_snapshot_info info;
	struct lsm_err err = { 0 };
	const int n = 2000;
	char k[17];

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	write_round(db, n, 0, 100);
	assert_int_equal(lsm_snapshot_create(db, "before", NULL, NULL), 0);
	write_round(db, n, 1, 100);
	assert_int_equal(lsm_put(db, "zzzz-later", 10, "x", 1, NULL), 0);
	key_of(5, k);
	assert_int_equal(lsm_delete(db, k, 16, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "before", &s, &info, NULL), 0);
	check_view(db, s, n, 0, 100);
	lsm_snapshot_release(db, s);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);

	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "before", &s, NULL, NULL), 0);
	check_view(db, s, n, 0, 100);
	lsm_snapshot_release(db, s);
	assert_int_equal(lsm_close(db, NULL), 0);

	/* a read-only open reads it and refuses to take one */
	o.read_only = true;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "before", &s, NULL, NULL), 0);
	check_view(db, s, n, 0, 100);
	lsm_snapshot_release(db, s);
	assert_int_equal(lsm_snapshot_create(db, "ro", NULL, &err), -EROFS);
	assert_int_equal(lsm_snapshot_drop(db, "before", NULL), -EROFS);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* A child writes, takes a snapshot, goes on overwriting and is killed;
 * the snapshot reads the same after recovery. */
static void test_kill9(void **state)
{
	struct tdir *d = *state;
	const int n = 3000;
	int fds[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lsm_options o;
		struct lsm_db *db;

		close(fds[0]);
		small_options(&o);
		o.sync = LSM_SYNC_MANUAL;
		if (lsm_open(tdir_root(d), &o, &db, NULL) < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			char k[17], v[300];

			key_of(i, k);
			value_of(i, 3, v, 300);
			if (lsm_put(db, k, 16, v, 300, NULL) < 0)
				_exit(1);
		}
		if (lsm_snapshot_create(db, "crash", NULL, NULL) < 0)
			_exit(1);
		if (write(fds[1], "s", 1) != 1)
			_exit(1);
		for (int r = 4;; r++) { /* overwrite and delete until killed */
			for (int i = 0; i < n; i++) {
				char k[17], v[300];

				key_of(i, k);
				value_of(i, r, v, 300);
				if ((i % 3 ? lsm_put(db, k, 16, v, 300, NULL)
					   : lsm_delete(db, k, 16, NULL)) < 0)
					_exit(1);
			}
		}
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	usleep(200 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);

	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *s;

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "crash", &s, NULL, NULL), 0);
	check_view(db, s, n, 3, 300);
	/* writes after recovery stay out of it */
	write_round(db, n, 9, 300);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	check_view(db, s, n, 3, 300);
	lsm_snapshot_release(db, s);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static uint64_t stat_value(struct lsm_db *db, const char *name)
{
	char *text, *p, key[128];
	unsigned long long v = 0;

	assert_int_equal(lsm_stats(db, &text, NULL), 0);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(text, key);
	assert_non_null(p);
	assert_int_equal(sscanf(p + strlen(key), "%llu", &v), 1);
	free(text);
	return v;
}

static void test_compaction_pins_then_frees(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *s;
	const int n = 2000;
	const size_t len = 1000;
	const uint64_t live = (uint64_t)n * (16 + len);
	uint64_t pinned_disk, freed_disk;

	small_options(&o);
	o.io = test_io_nosync();
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	write_round(db, n, 0, len);
	assert_int_equal(lsm_snapshot_create(db, "keep", NULL, NULL), 0);
	for (int r = 1; r <= 5; r++)
		write_round(db, n, r, len);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	check_levels(db);
	/* round 0 for the snapshot and round 5 for now; rounds 1-4 are seen
	 * by nobody and go (one stripe keeps only its newest version) */
	pinned_disk = dir_bytes(tdir_root(d));
	assert_true(pinned_disk > 2 * live * 9 / 10);
	assert_true(pinned_disk < 2 * live * 13 / 10);
	assert_true(stat_value(db, "lsm_snapshot_pinned_bytes") >= live * 9 / 10);
	assert_int_equal(stat_value(db, "lsm_snapshots"), 1);
	assert_int_equal(lsm_snapshot_open(db, "keep", &s, NULL, NULL), 0);
	check_view(db, s, n, 0, len);
	check_view(db, NULL, n, 5, len);

	/* dropped, but a handle still reads: compaction keeps it for the
	 * handle's life */
	assert_int_equal(lsm_snapshot_drop(db, "keep", NULL), 0);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	check_view(db, s, n, 0, len);
	lsm_snapshot_release(db, s);

	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	freed_disk = dir_bytes(tdir_root(d));
	assert_true(freed_disk < live * 13 / 10);
	assert_true(pinned_disk - freed_disk > live * 8 / 10);
	assert_int_equal(stat_value(db, "lsm_snapshot_pinned_bytes"), 0);
	check_view(db, NULL, n, 5, len);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Two snapshots and the stripes between them: each sees its own round. */
static void test_stripes(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *a, *b;
	const int n = 500;

	small_options(&o);
	o.io = test_io_nosync();
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	write_round(db, n, 0, 50);
	write_round(db, n, 1, 50);
	assert_int_equal(lsm_snapshot_create(db, "a", NULL, NULL), 0);
	write_round(db, n, 2, 50);
	write_round(db, n, 3, 50);
	assert_int_equal(lsm_snapshot_create(db, "b", NULL, NULL), 0);
	write_round(db, n, 4, 50);
	/* an in-memory snapshot too, between b and now */
	const struct lsm_snapshot *m = lsm_snapshot_new(db);
	assert_non_null(m);
	write_round(db, n, 5, 50);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "a", &a, NULL, NULL), 0);
	assert_int_equal(lsm_snapshot_open(db, "b", &b, NULL, NULL), 0);
	check_view(db, a, n, 1, 50);
	check_view(db, b, n, 3, 50);
	check_view(db, m, n, 4, 50);
	check_view(db, NULL, n, 5, 50);
	lsm_snapshot_release(db, a);
	lsm_snapshot_release(db, b);
	lsm_snapshot_release(db, m);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Field 66: a round trip, and the damage strict decoding refuses. */
static void test_field66(void **state)
{
	struct version_edit e, back;
	struct lsm_snapshot_info s[2] = {
		{ .name = "one", .id = 1, .seq = 10, .time_sec = 1700000000,
		  .time_nsec = 5 },
		{ .name = "two", .id = 7, .seq = 20, .time_sec = 1700000001 },
	};
	struct buf out = BUF_INIT;
	struct lsm_err err = { 0 };

	(void)state;
	version_edit_init(&e);
	assert_int_equal(version_edit_set_snapshots(&e, s, 2), 0);
	version_edit_encode(&e, &out);
	assert_true(buf_ok(&out));
	assert_int_equal(out.p[0], 66);
	assert_int_equal(version_edit_decode(&back, out.p, out.len, NULL), 0);
	assert_true(back.has_snapshots);
	assert_int_equal(back.nsnaps, 2);
	assert_string_equal(back.snaps[1].name, "two");
	assert_int_equal(back.snaps[1].id, 7);
	assert_int_equal(back.snaps[0].time_nsec, 5);
	version_edit_free(&back);
	buf_free(&out);

	/* the same id twice, then a bad name, then an id of 0 */
	s[1].id = 1;
	version_edit_free(&e);
	version_edit_init(&e);
	assert_int_equal(version_edit_set_snapshots(&e, s, 2), 0);
	version_edit_encode(&e, &out);
	assert_int_equal(version_edit_decode(&back, out.p, out.len, &err),
			 -EUCLEAN);
	assert_non_null(strstr(err.msg, "repeated"));
	buf_free(&out);
	s[1].id = 2;
	strcpy(s[1].name, "a/b");
	version_edit_free(&e);
	version_edit_init(&e);
	assert_int_equal(version_edit_set_snapshots(&e, s, 2), 0);
	version_edit_encode(&e, &out);
	assert_int_equal(version_edit_decode(&back, out.p, out.len, &err),
			 -EUCLEAN);
	assert_non_null(strstr(err.msg, "name"));
	buf_free(&out);
	strcpy(s[1].name, "b");
	s[0].id = 0;
	version_edit_free(&e);
	version_edit_init(&e);
	assert_int_equal(version_edit_set_snapshots(&e, s, 2), 0);
	version_edit_encode(&e, &out);
	assert_int_equal(version_edit_decode(&back, out.p, out.len, &err),
			 -EUCLEAN);
	/* cut short */
	assert_int_equal(version_edit_decode(&back, out.p, out.len - 1, &err),
			 -EUCLEAN);
	buf_free(&out);
	version_edit_free(&e);
}


/* A following reader sees the writer's snapshots as they come and go and
 * reads them; it cannot take one.  A checkpoint carries them. */
static void test_follower_and_checkpoint(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o, fo;
	struct lsm_db *w, *f, *c;
	const struct lsm_snapshot *s;
	struct lsm_snapshot_info *list;
	struct lsm_err err = { 0 };
	const int n = 800;
	char dest[4096];
	size_t cnt;
	uint64_t seq;

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &w, NULL), 0);
	write_round(w, n, 0, 200);
	lsm_options_init(&fo);
	fo.read_only = true;
	fo.follow = true;
	fo.follow_interval_ms = 0;
	assert_int_equal(lsm_open(tdir_root(d), &fo, &f, NULL), 0);
	assert_int_equal(lsm_snapshot_create(w, "f1", NULL, NULL), 0);
	write_round(w, n, 1, 200);
	assert_int_equal(lsm_compact_range(w, NULL, 0, NULL, 0, NULL), 0);
	assert_true(lsm_catch_up(f, NULL) >= 0);
	assert_int_equal(lsm_snapshot_list(f, &list, &cnt, NULL), 0);
	assert_int_equal(cnt, 1);
	assert_string_equal(list[0].name, "f1");
	free(list);
	assert_int_equal(lsm_snapshot_open(f, "f1", &s, NULL, NULL), 0);
	check_view(f, s, n, 0, 200);
	check_view(f, NULL, n, 1, 200);
	assert_int_equal(lsm_snapshot_create(f, "nope", NULL, &err), -EROFS);
	/* the writer drops it and compacts: the follower's handle still
	 * reads (it holds its state), a new open finds nothing */
	assert_int_equal(lsm_snapshot_drop(w, "f1", NULL), 0);
	assert_int_equal(lsm_compact_range(w, NULL, 0, NULL, 0, NULL), 0);
	assert_true(lsm_catch_up(f, NULL) >= 0);
	check_view(f, s, n, 0, 200);
	lsm_snapshot_release(f, s);
	assert_int_equal(lsm_snapshot_open(f, "f1", &s, NULL, NULL), -ENOENT);
	assert_int_equal(lsm_close(f, NULL), 0);

	/* a checkpoint holds the snapshots of the store it copies */
	assert_int_equal(lsm_snapshot_create(w, "cp", NULL, NULL), 0);
	write_round(w, n, 2, 200);
	snprintf(dest, sizeof(dest), "%s/ckpt", tdir_root(d));
	assert_int_equal(lsm_checkpoint(tdir_root(d), dest, &seq, NULL), 0);
	assert_int_equal(lsm_close(w, NULL), 0);
	assert_int_equal(lsm_open(dest, &o, &c, NULL), 0);
	assert_int_equal(lsm_snapshot_open(c, "cp", &s, NULL, NULL), 0);
	check_view(c, s, n, 1, 200);
	check_view(c, NULL, n, 2, 200);
	lsm_snapshot_release(c, s);
	assert_int_equal(lsm_close(c, NULL), 0);
}

struct problems {
	unsigned n;
	char last[512];
};

static void on_problem(void *ctx, const char *file, uint64_t off,
		       const char *problem)
{
	struct problems *p = ctx;

	(void)file;
	(void)off;
	p->n++;
	snprintf(p->last, sizeof(p->last), "%s", problem);
}

/* lsmfs-ctl check (lsm_check_dir): a store with snapshots is clean; a
 * list logged without the ro_compat feature is reported. */
static void test_check(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct problems p = { 0 };
	struct version_edit e;
	unsigned problems = 0;
	struct lsm_snapshot_info si = { .name = "sneaky", .id = 9, .seq = 1 };

	small_options(&o);
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	write_round(db, 100, 0, 10);
	assert_int_equal(lsm_snapshot_create(db, "ok", NULL, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_check_dir(tdir_root(d), NULL, on_problem, NULL,
				       &p, &problems, NULL), 0);
	assert_int_equal(problems, 0);

	/* the list logged with the feature cleared, as a build that
	 * wrote field 66 carelessly would */
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	version_edit_init(&e);
	assert_int_equal(version_edit_set_snapshots(&e, &si, 1), 0);
	e.has_features = true;
	e.features = db->vs.features;
	e.features.ro_compat = 0;
	pthread_mutex_lock(&db->mu);
	assert_int_equal(db_log_and_apply(db, &e, NULL), 0);
	pthread_mutex_unlock(&db->mu);
	version_edit_free(&e);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_check_dir(tdir_root(d), NULL, on_problem, NULL,
				       &p, &problems, NULL), 0);
	assert_int_equal(problems, 1);
	assert_non_null(strstr(p.last, "ro_compat"));
}

/* Without a request: after the drop (and the last handle's release) the
 * idle pass rewrites the tables that held kept versions. */
static void test_idle_reclaim(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	const struct lsm_snapshot *s;
	const int n = 2000;
	const size_t len = 1000;
	const uint64_t live = (uint64_t)n * (16 + len);
	uint64_t bytes = 0;

	small_options(&o);
	o.io = test_io_nosync();
	o.idle_compaction_ms = 50;
	assert_int_equal(lsm_open(tdir_root(d), &o, &db, NULL), 0);
	write_round(db, n, 0, len);
	assert_int_equal(lsm_snapshot_create(db, "idle", NULL, NULL), 0);
	write_round(db, n, 1, len);
	assert_int_equal(lsm_compact_range(db, NULL, 0, NULL, 0, NULL), 0);
	assert_true(dir_bytes(tdir_root(d)) > 2 * live * 9 / 10);
	assert_int_equal(lsm_snapshot_open(db, "idle", &s, NULL, NULL), 0);
	assert_int_equal(lsm_snapshot_drop(db, "idle", NULL), 0);
	usleep(500 * 1000); /* the idle pass may run: the handle holds it */
	check_view(db, s, n, 0, len);
	lsm_snapshot_release(db, s);
	for (int i = 0; i < 100; i++) {
		bytes = dir_bytes(tdir_root(d));
		if (bytes < live * 13 / 10)
			break;
		usleep(100 * 1000);
	}
	assert_true(bytes < live * 13 / 10);
	check_view(db, NULL, n, 1, len);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Snapshots taken while a writer overwrites and compactions run: each
 * must show one instant of the writer's rounds (keys in order, so a
 * prefix at round R and the rest at R - 1), never an older version a
 * compaction should have kept. */
struct race {
	struct lsm_db *db;
	atomic_bool stop;
	int n;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	char k[17], v[16];

	for (int round = 1; !atomic_load(&r->stop); round++)
		for (int i = 0; i < r->n; i++) {
			key_of(i, k);
			snprintf(v, sizeof(v), "%08d", round);
			if (lsm_put(r->db, k, 16, v, 8, NULL) < 0)
				return NULL;
		}
	return NULL;
}

static void *race_compactor(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop))
		lsm_compact_range(r->db, NULL, 0, NULL, 0, NULL);
	return NULL;
}

static void test_race_with_writes(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct race r = { .n = 300 };
	pthread_t w, c;
	char k[17], v[16], name[16];

	small_options(&o);
	o.io = test_io_nosync();
	o.memtable_bytes = 16u << 10;
	assert_int_equal(lsm_open(tdir_root(d), &o, &r.db, NULL), 0);
	for (int i = 0; i < r.n; i++) {
		key_of(i, k);
		assert_int_equal(lsm_put(r.db, k, 16, "00000000", 8, NULL), 0);
	}
	atomic_init(&r.stop, false);
	assert_int_equal(pthread_create(&w, NULL, race_writer, &r), 0);
	assert_int_equal(pthread_create(&c, NULL, race_compactor, &r), 0);
	for (int t = 0; t < 40; t++) {
		const struct lsm_snapshot *s;
		struct lsm_iter *it;
		int prev = -1, lo = INT32_MAX, hi = -1, count = 0;

		snprintf(name, sizeof(name), "race%d", t);
		assert_int_equal(lsm_snapshot_create(r.db, name, NULL, NULL), 0);
		usleep(20 * 1000); /* writes and compactions go on */
		assert_int_equal(lsm_snapshot_open(r.db, name, &s, NULL, NULL),
				 0);
		assert_int_equal(lsm_iter_new(r.db, s, &it, NULL), 0);
		for (lsm_iter_seek_first(it); lsm_iter_valid(it);
		     lsm_iter_next(it)) {
			size_t vl;
			const char *vv = lsm_iter_value(it, &vl);
			int round;

			assert_int_equal(vl, 8);
			memcpy(v, vv, 8);
			v[8] = '\0';
			round = atoi(v);
			if (prev >= 0)
				assert_true(round <= prev);
			prev = round;
			lo = round < lo ? round : lo;
			hi = round > hi ? round : hi;
			count++;
		}
		assert_int_equal(lsm_iter_status(it, NULL), 0);
		lsm_iter_free(it);
		lsm_snapshot_release(r.db, s);
		assert_int_equal(count, r.n);
		assert_true(hi - lo <= 1);
		if (t % 2)
			assert_int_equal(lsm_snapshot_drop(r.db, name, NULL), 0);
	}
	atomic_store(&r.stop, true);
	pthread_join(w, NULL);
	pthread_join(c, NULL);
	assert_int_equal(lsm_close(r.db, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_list_drop, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_too_many, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_reads_survive_reopen, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_kill9, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_compaction_pins_then_frees, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_stripes, tdir_setup, tdir_teardown),
		cmocka_unit_test(test_field66),
		cmocka_unit_test_setup_teardown(test_follower_and_checkpoint, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_check, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_idle_reclaim, tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_race_with_writes, tdir_setup, tdir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
