/* test_replica.c - what the engine gives replication: a store identity
 * kept across opens, a replica that takes its primary's batches at the
 * primary's sequence numbers (lsm_apply) and nothing else, promotion to
 * a new generation, the log archive, and checkpoints of a live store. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lsm.h"
#include "lsm_files.h"
#include "support.h"

static void options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->memtable_bytes = 64 << 10;
	o->io = test_io_nosync();
}

static struct lsm_db *open_db(const char *dir, const struct lsm_options *o)
{
	struct lsm_db *db = NULL;
	struct lsm_err err = { 0 };
	int rc = lsm_open(dir, o, &db, &err);

	if (rc)
		fail_msg("open %s: %s", dir, err.msg);
	return db;
}

static void put_range(struct lsm_db *db, int from, int to)
{
	char k[32], v[64];

	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		snprintf(v, sizeof(v), "value%06d-%040d", i, i);
		assert_int_equal(lsm_put(db, k, strlen(k), v, strlen(v), NULL),
				 0);
	}
}

static void check_range(struct lsm_db *db, int from, int to, bool present)
{
	char k[32], v[64], got[64];
	size_t vlen;

	for (int i = from; i < to; i++) {
		snprintf(k, sizeof(k), "key%06d", i);
		snprintf(v, sizeof(v), "value%06d-%040d", i, i);
		int rc = lsm_get_buf(db, NULL, k, strlen(k), got, sizeof(got),
				     &vlen, NULL);
		assert_int_equal(rc, present ? 1 : 0);
		if (present) {
			assert_int_equal(vlen, strlen(v));
			assert_memory_equal(got, v, vlen);
		}
	}
}

/* options.lock_fd: the store takes over a lock its caller holds, with no
 * moment in between when another writer could open the store, and leaves
 * it with the caller after lsm_close. */
static void test_lock_handover(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o, plain;
	struct lsm_db *db, *other = NULL;
	struct lsm_err err = { 0 };
	const char *dir = tdir_path(d, "h");
	char lock[4096];
	int fd, fd2;

	options(&o);
	options(&plain);
	db = open_db(dir, &o); /* make the store */
	assert_int_equal(lsm_close(db, NULL), 0);
	snprintf(lock, sizeof(lock), "%s/LOCK", dir);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	/* not locked yet: refused */
	o.lock_fd = fd;
	assert_int_equal(lsm_open(dir, &o, &db, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "holds no lock"));
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	/* a descriptor of another file: refused */
	fd2 = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd2 >= 0);
	o.lock_fd = fd2;
	assert_int_equal(lsm_open(dir, &o, &db, &err), -EINVAL);
	close(fd2);
	/* handed over: the store opens, another writer is kept out */
	o.lock_fd = fd;
	assert_int_equal(lsm_open(dir, &o, &db, &err), 0);
	assert_int_equal(lsm_open(dir, &plain, &other, &err), -EBUSY);
	put_range(db, 0, 5);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* ... and still out after the close: the caller holds the lock */
	assert_int_equal(lsm_open(dir, &plain, &other, &err), -EBUSY);
	db = open_db(dir, &o); /* taken over again */
	check_range(db, 0, 5, true);
	assert_int_equal(lsm_close(db, NULL), 0);
	close(fd);
	/* released: a plain writer opens */
	assert_int_equal(lsm_open(dir, &plain, &other, &err), 0);
	assert_int_equal(lsm_close(other, NULL), 0);
}

/* Epochs: one per writable open that wrote something since the last; a
 * backup restored and opened again begins an epoch of its own; a replica
 * adopts its primary's list, and refuses one in which its position lies
 * in another epoch. */
static void test_epochs(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o, ro;
	struct lsm_epoch a[LSM_EPOCHS_MAX], b[LSM_EPOCHS_MAX], c[4];
	unsigned na, nb, nc;
	struct lsm_db *db, *r;
	struct lsm_err err = { 0 };
	char cmd[8192];
	uint64_t seq;

	options(&o);
	db = open_db(tdir_path(d, "e"), &o);
	assert_int_equal(lsm_epochs_get(db, a, LSM_EPOCHS_MAX, &na), 0);
	assert_int_equal(na, 1);
	assert_int_equal(a[0].start_seq, 1);
	assert_true(a[0].tag != 0);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* a reopen that wrote nothing: the epoch only gets a new tag */
	db = open_db(tdir_path(d, "e"), &o);
	assert_int_equal(lsm_epochs_get(db, b, LSM_EPOCHS_MAX, &nb), 0);
	assert_int_equal(nb, 1);
	assert_int_equal(b[0].start_seq, 1);
	assert_true(b[0].tag != a[0].tag);
	put_range(db, 0, 10);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* the backup: a copy of the closed store */
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", tdir_path(d, "e"),
		 tdir_path(d, "backup"));
	assert_int_equal(system(cmd), 0);
	db = open_db(tdir_path(d, "e"), &o);
	assert_int_equal(lsm_epochs_get(db, a, LSM_EPOCHS_MAX, &na), 0);
	assert_int_equal(na, 2);
	assert_int_equal(a[1].start_seq, 11);
	put_range(db, 10, 20);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* the restored backup starts an epoch at the same sequence, with
	 * another tag: the two histories are told apart */
	db = open_db(tdir_path(d, "backup"), &o);
	assert_int_equal(lsm_epochs_get(db, b, LSM_EPOCHS_MAX, &nb), 0);
	assert_int_equal(nb, 2);
	assert_int_equal(b[1].start_seq, 11);
	assert_true(b[1].tag != a[1].tag);
	assert_int_equal(b[0].tag, a[0].tag);
	put_range(db, 100, 110);
	assert_int_equal(lsm_close(db, NULL), 0);
	/* only the last CAP are handed out */
	db = open_db(tdir_path(d, "e"), &o);
	assert_int_equal(lsm_epochs_get(db, c, 1, &nc), 0);
	assert_int_equal(nc, 1);
	assert_int_equal(c[0].start_seq, 21);
	assert_int_equal(lsm_close(db, NULL), 0);

	/* a replica of "e" at sequence 20 (a checkpoint of it) */
	assert_int_equal(lsm_checkpoint(tdir_path(d, "e"), tdir_path(d, "er"),
					&seq, &err), 0);
	assert_int_equal(seq, 20);
	options(&ro);
	ro.replica = true;
	r = open_db(tdir_path(d, "er"), &ro);
	/* the restored line's list: sequence 20 lies in an epoch it lacks */
	assert_int_equal(lsm_epochs_adopt(r, b, nb, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "diverged"));
	/* its own primary's list is taken, and kept across a reopen */
	assert_int_equal(lsm_epochs_adopt(r, a, na, &err), 0);
	assert_int_equal(lsm_close(r, NULL), 0);
	r = open_db(tdir_path(d, "er"), &ro);
	assert_int_equal(lsm_epochs_get(r, c, 4, &nc), 0);
	assert_int_equal(nc, na);
	assert_memory_equal(c, a, na * sizeof(*a));
	/* a replica begins no epoch of its own */
	assert_int_equal(lsm_epochs_adopt(r, c, 0, &err), -EINVAL);
	assert_int_equal(lsm_close(r, NULL), 0);
	/* an ordinary store refuses to adopt */
	db = open_db(tdir_path(d, "e"), &o);
	assert_int_equal(lsm_epochs_adopt(db, a, na, &err), -EINVAL);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static void test_identity_persists(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_identity a, b;
	struct lsm_db *db;
	struct lsm_files *f = NULL;

	options(&o);
	db = open_db(tdir_path(d, "s"), &o);
	assert_int_equal(lsm_identity_get(db, &a), 0);
	assert_int_equal(a.generation, 1);
	assert_int_equal(a.nhistory, 1);
	assert_false(a.replica);
	put_range(db, 0, 10);
	assert_int_equal(lsm_close(db, NULL), 0);
	db = open_db(tdir_path(d, "s"), &o);
	assert_int_equal(lsm_identity_get(db, &b), 0);
	assert_memory_equal(a.id, b.id, LSM_STORE_ID_BYTES);
	assert_int_equal(b.generation, 1);
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_files_list(tdir_path(d, "s"), &f, NULL), 0);
	assert_true(f->has_identity);
	assert_memory_equal(f->identity.id, a.id, LSM_STORE_ID_BYTES);
	lsm_files_free(f);
	/* another store has another id */
	db = open_db(tdir_path(d, "t"), &o);
	assert_int_equal(lsm_identity_get(db, &b), 0);
	assert_memory_not_equal(a.id, b.id, LSM_STORE_ID_BYTES);
	assert_int_equal(lsm_close(db, NULL), 0);
}

/* Copies every record of every log segment of SRC (archive first) with a
 * sequence past FROM into the replica. */
struct copy {
	struct lsm_db *dst;
	uint64_t from, applied;
	int records;
};

static int copy_record(void *ctx, const struct lsm_log_record *r)
{
	struct copy *c = ctx;
	struct lsm_err err = { 0 };

	if (r->seq <= c->from)
		return 0;
	if (lsm_apply(c->dst, r->batch, r->len, 0, &err) != 0)
		fail_msg("apply at %llu: %s", (unsigned long long)r->seq,
			 err.msg);
	c->from = r->seq + r->count - 1;
	c->records++;
	return 0;
}

static void ship(const char *src, struct copy *c)
{
	struct lsm_files *f = NULL;
	struct lsm_err err = { 0 };

	assert_int_equal(lsm_files_list(src, &f, &err), 0);
	for (size_t i = 0; i < f->narchive; i++)
		if (lsm_log_scan(src, &f->archive[i], 0, copy_record, c, NULL,
				 &err) != 0)
			fail_msg("scan archive: %s", err.msg);
	for (size_t i = 0; i < f->nlogs; i++)
		if (lsm_log_scan(src, &f->logs[i], 0, copy_record, c, NULL,
				 &err) != 0)
			fail_msg("scan: %s", err.msg);
	lsm_files_free(f);
}

/* A segment the log was given room for (a memtable's worth, allocated
 * ahead) but that a crash or a reopen cut short is archived without that
 * room: the archive's bound counts file sizes, and the blocks past the end
 * held several times the bound on a small disk (found by the soak). */
static void test_archive_gives_back_room(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_files *f = NULL;
	struct lsm_err err = { 0 };
	const char *dir = tdir_path(d, "room");

	options(&o);
	o.io = NULL; /* the kernel's: it allocates ahead (fallocate) */
	o.memtable_bytes = 1 << 20; /* a segment gets about 1.2 MiB ahead */
	o.wal_archive_bytes = 64 << 20;
	for (int round = 0; round < 3; round++) {
		db = open_db(dir, &o);
		put_range(db, round * 10, round * 10 + 10); /* a few KiB */
		assert_int_equal(lsm_close(db, NULL), 0);
	}
	db = open_db(dir, &o); /* its recovery archives the last */
	assert_int_equal(lsm_close(db, NULL), 0);
	assert_int_equal(lsm_files_list(dir, &f, &err), 0);
	assert_true(f->narchive >= 3);
	for (size_t i = 0; i < f->narchive; i++) {
		char path[512];
		struct stat st;

		snprintf(path, sizeof(path), "%s/archive/%06llu.wal",
			 dir, (unsigned long long)f->archive[i].number);
		assert_int_equal(stat(path, &st), 0);
		if ((uint64_t)st.st_blocks * 512 > (uint64_t)st.st_size + 8192)
			fail_msg("%s: %lld bytes, %lld bytes of blocks", path,
				 (long long)st.st_size,
				 (long long)st.st_blocks * 512);
	}
	lsm_files_free(f);
}

static void test_apply_archive_checkpoint(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o, ro;
	struct lsm_db *p, *r;
	struct lsm_err err = { 0 };
	struct lsm_identity pid, rid;
	struct lsm_files *f = NULL;
	uint64_t seq = 0;
	struct copy c = { 0 };
	struct stat st;

	options(&o);
	o.wal_archive_bytes = 64 << 20;
	p = open_db(tdir_path(d, "p"), &o);
	put_range(p, 0, 500);
	/* a checkpoint of the live store */
	assert_int_equal(lsm_checkpoint(tdir_path(d, "p"), tdir_path(d, "r"),
					&seq, &err), 0);
	assert_int_equal(seq, 500);
	assert_int_equal(lsm_checkpoint(tdir_path(d, "p"), tdir_path(d, "r"),
					NULL, &err), -EEXIST);
	put_range(p, 500, 3000);   /* several memtables: segments archived */
	assert_int_equal(lsm_flush(p, NULL), 0);
	assert_int_equal(lsm_identity_get(p, &pid), 0);

	assert_int_equal(lsm_files_list(tdir_path(d, "p"), &f, &err), 0);
	assert_true(f->narchive > 0);
	lsm_files_free(f);

	/* the replica opens the checkpoint and applies the rest */
	options(&ro);
	ro.replica = true;
	r = open_db(tdir_path(d, "r"), &ro);
	assert_int_equal(lsm_last_seq(r), 500);
	check_range(r, 0, 500, true);
	check_range(r, 500, 3000, false);
	assert_int_equal(lsm_identity_get(r, &rid), 0);
	assert_memory_equal(rid.id, pid.id, LSM_STORE_ID_BYTES);
	assert_true(rid.replica);
	/* a replica takes no ordinary writes */
	assert_int_equal(lsm_put(r, "x", 1, "y", 1, &err), -EPERM);
	c.dst = r;
	c.from = lsm_last_seq(r);
	ship(tdir_path(d, "p"), &c);
	assert_int_equal(lsm_last_seq(r), 3000);
	check_range(r, 0, 3000, true);
	/* a batch already applied is refused, nothing changes */
	c.from = 0;
	c.records = 0;
	{
		struct lsm_files *g = NULL;

		assert_int_equal(lsm_files_list(tdir_path(d, "p"), &g, &err),
				 0);
		assert_true(g->narchive > 0);
		lsm_files_free(g);
	}
	assert_int_equal(lsm_close(p, NULL), 0);
	assert_int_equal(lsm_close(r, NULL), 0);
	/* after a restart the replica knows where it is */
	r = open_db(tdir_path(d, "r"), &ro);
	assert_int_equal(lsm_last_seq(r), 3000);
	assert_int_equal(lsm_close(r, NULL), 0);

	/* promotion: a writable open without the replica option */
	r = open_db(tdir_path(d, "r"), &o);
	assert_int_equal(lsm_identity_get(r, &rid), 0);
	assert_false(rid.replica);
	assert_int_equal(rid.generation, 2);
	assert_int_equal(rid.nhistory, 2);
	assert_int_equal(rid.history[1].start_seq, 3001);
	put_range(r, 3000, 3010);
	assert_int_equal(lsm_close(r, NULL), 0);
	r = open_db(tdir_path(d, "r"), &o);
	assert_int_equal(lsm_identity_get(r, &rid), 0);
	assert_int_equal(rid.generation, 2);
	check_range(r, 0, 3010, true);
	assert_int_equal(lsm_close(r, NULL), 0);
	assert_int_equal(stat(tdir_path(d, "p/archive"), &st), 0);
}

static void test_apply_refuses(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o, ro;
	struct lsm_db *p, *r;
	struct lsm_err err = { 0 };
	struct copy c = { 0 };
	uint8_t junk[40] = { 0 };

	options(&o);
	p = open_db(tdir_path(d, "p2"), &o);
	put_range(p, 0, 20);
	assert_int_equal(lsm_checkpoint(tdir_path(d, "p2"), tdir_path(d, "r2"),
					NULL, &err), 0);
	options(&ro);
	ro.replica = true;
	r = open_db(tdir_path(d, "r2"), &ro);
	/* not a batch */
	assert_int_equal(lsm_apply(r, junk, 5, 0, &err), -EUCLEAN);
	junk[0] = 99; /* seq 99, count 0 */
	assert_true(lsm_apply(r, junk, 12, 0, &err) < 0);
	/* the primary's own batches, applied twice: refused the second time */
	c.dst = r;
	c.from = 0;
	put_range(p, 20, 40);
	{
		struct lsm_files *f = NULL;
		struct lsm_err e2 = { 0 };
		int n = 0;

		assert_int_equal(lsm_files_list(tdir_path(d, "p2"), &f, &e2),
				 0);
		c.from = lsm_last_seq(r);
		for (size_t i = 0; i < f->nlogs; i++)
			assert_int_equal(lsm_log_scan(tdir_path(d, "p2"),
						      &f->logs[i], 0,
						      copy_record, &c, NULL,
						      &e2), 0);
		n = c.records;
		assert_int_equal(n, 20);
		lsm_files_free(f);
	}
	check_range(r, 0, 40, true);
	/* a well-formed batch at sequence 5, long applied */
	memset(junk, 0, sizeof(junk));
	junk[0] = 5;
	junk[8] = 1;
	memcpy(junk + 12, "\x01\x01" "a" "\x01" "b", 5);
	assert_int_equal(lsm_apply(r, junk, 17, 0, &err), -ESTALE);
	assert_int_equal(lsm_last_seq(r), 40);
	assert_int_equal(lsm_get_buf(r, NULL, "a", 1, junk, sizeof(junk),
				     &(size_t){ 0 }, NULL), 0);
	/* lsm_apply on a store that is not a replica */
	assert_int_equal(lsm_apply(p, junk, 17, 0, &err), -EINVAL);
	assert_int_equal(lsm_close(p, NULL), 0);
	assert_int_equal(lsm_close(r, NULL), 0);
}

/* A checkpoint on another filesystem copies the tables (no hard links
 * across filesystems) and reads back the same. */
static void test_checkpoint_other_fs(void **state)
{
	struct tdir *d = *state;
	struct lsm_options o;
	struct lsm_db *p, *c;
	struct lsm_err err = { 0 };
	struct stat a, b;
	char dest[128];
	uint64_t seq = 0;

	if (stat("/dev/shm", &b) < 0 || stat(tdir_root(d), &a) < 0 ||
	    a.st_dev == b.st_dev)
		skip(); /* no second filesystem here */
	snprintf(dest, sizeof(dest), "/dev/shm/lsm-ckpt-%ld", (long)getpid());
	tdir_rmrf(dest);
	options(&o);
	p = open_db(tdir_path(d, "p3"), &o);
	put_range(p, 0, 3000);
	assert_int_equal(lsm_flush(p, NULL), 0);
	put_range(p, 3000, 3100);
	assert_int_equal(lsm_checkpoint(tdir_path(d, "p3"), dest, &seq, &err),
			 0);
	assert_int_equal(seq, 3100);
	assert_int_equal(lsm_close(p, NULL), 0);
	o.read_only = true;
	c = open_db(dest, &o);
	check_range(c, 0, 3100, true);
	assert_int_equal(lsm_close(c, NULL), 0);
	tdir_rmrf(dest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_persists),
		cmocka_unit_test(test_lock_handover),
		cmocka_unit_test(test_epochs),
		cmocka_unit_test(test_apply_archive_checkpoint),
		cmocka_unit_test(test_archive_gives_back_room),
		cmocka_unit_test(test_apply_refuses),
		cmocka_unit_test(test_checkpoint_other_fs),
	};

	return cmocka_run_group_tests(tests, tdir_setup, tdir_teardown);
}
