/* test_wal_map.c - the log's appends through a shared mapping
 * (wal_create_mapped, engine/doc/wal.md "Writing through a mapping"):
 * round trips across windows with the zero tail a live segment has, a
 * killed writer process, power cuts and faults in the emulated mapping of
 * faulty_io, the fallback to pwrite, the notifier that wakes inotify
 * watchers, wal_sync racing window changes, and readers tailing a live
 * segment. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "faulty_io.h"
#include "support.h"
#include "wal.h"

/* engine/wal.c's WAL_MAP_BYTES and WAL_MAP_MAX_GROUP: the window mapped
 * at a time and the largest group framed into it (larger ones are
 * written with pwrite). */
#define MAP_BYTES (1u << 20)
#define MAP_MAX_GROUP (256u << 10)
#define BIG_LEN (300u << 10) /* a record too big to be mapped */

/* ---- helpers ---- */

/* Replays PATH (salted with SALT) with the POSIX io into G. */
static int replay(const char *path, uint64_t salt, bool tail_ok,
		  struct rec_got *g, struct wal_replay_info *info,
		  struct lsm_err *err)
{
	rec_got_free(g);
	return wal_replay_salted(lsm_io_posix(), path, salt, tail_ok, rec_got_collect,
				 g, info, err);
}

/* Adds a record of LEN random bytes to L, the records appended so far;
 * append_lens notes where each starts in the log (from wal_append_at). */
static void log_add(struct rec_got *l, struct rng *r, size_t len)
{
	rng_bytes(r, rec_got_add(l, len, UINT64_MAX), len);
}

/* Set: append_lens appends with wal_append_synced_at (a group its caller
 * syncs at once, written into the window with pwrite). */
static bool append_synced;

/* Appends K new records of LENS[] bytes to W as one group and to L:
 * wal_append_at's result.  A failed group is taken out of L again. */
static int append_lens(struct wal *w, struct rec_got *l, struct rng *r,
		       const size_t *lens, size_t k, struct lsm_err *err)
{
	struct wal_rec grp[8];
	size_t first = l->n;
	uint64_t at = UINT64_MAX;
	int rc;

	assert_true(k >= 1 && k <= 8);
	for (size_t j = 0; j < k; j++) {
		log_add(l, r, lens[j]);
		grp[j].p = l->rec[first + j];
		grp[j].len = lens[j];
	}
	rc = (append_synced ? wal_append_synced_at : wal_append_at)(w, grp, k,
								      &at, err);
	if (rc < 0) {
		while (l->n > first)
			free(l->rec[--l->n]);
		return rc;
	}
	for (size_t j = 0; j < k; j++)
		l->off[first + j] = j == 0 ? at : l->off[first + j - 1] +
				    WAL_HEADER_BYTES + l->len[first + j - 1];
	assert_true(wal_size(w) == l->off[l->n - 1] + WAL_HEADER_BYTES +
		    l->len[l->n - 1]);
	return 0;
}

/* Picks a group of 1..4 records of 1..MAX_LEN bytes; its framed size. */
static size_t pick_small(struct rng *r, size_t max_len, size_t *lens,
			 size_t *k)
{
	size_t total = 0;

	*k = 1 + (size_t)rng_below(r, 4);
	for (size_t j = 0; j < *k; j++) {
		lens[j] = 1 + (size_t)rng_below(r, max_len);
		total += WAL_HEADER_BYTES + lens[j];
	}
	return total;
}

static void append_small(struct wal *w, struct rec_got *l, struct rng *r,
			 size_t max_len)
{
	size_t lens[4], k;

	pick_small(r, max_len, lens, &k);
	assert_int_equal(append_lens(w, l, r, lens, k, NULL), 0);
}

static void append_big(struct wal *w, struct rec_got *l, struct rng *r)
{
	size_t len = BIG_LEN;

	assert_int_equal(append_lens(w, l, r, &len, 1, NULL), 0);
}

static uint64_t log_end(const struct rec_got *l)
{
	return l->n ? l->off[l->n - 1] + WAL_HEADER_BYTES + l->len[l->n - 1]
		    : 0;
}

/* G holds the first G->N records of L, with MIN <= G->N <= MAX, each
 * intact and at its offset. */
static void expect_between(const struct rec_got *g, const struct rec_got *l,
			   size_t min, size_t max)
{
	if (g->n < min || g->n > max)
		fail_msg("replay gave %zu records, expected %zu..%zu", g->n,
			 min, max);
	for (size_t i = 0; i < g->n; i++) {
		if (g->len[i] != l->len[i] || g->off[i] != l->off[i] ||
		    memcmp(g->rec[i], l->rec[i], l->len[i]))
			fail_msg("record %zu: %zu bytes at %llu, appended %zu "
				 "at %llu%s", i, g->len[i],
				 (unsigned long long)g->off[i], l->len[i],
				 (unsigned long long)l->off[i],
				 g->len[i] == l->len[i] ? " (other bytes)" : "");
	}
}

static void expect_all(const struct rec_got *g, const struct rec_got *l)
{
	expect_between(g, l, l->n, l->n);
}

/* A replay that stopped at a clean end: the file is the records and then
 * the zeros it reported. */
static void expect_clean_end(const struct wal_replay_info *info)
{
	assert_false(info->torn);
	assert_true(info->end + info->zeros == info->size);
}

static void path_in(char *out, size_t cap, const struct tdir *d,
		    const char *name)
{
	snprintf(out, cap, "%s", tdir_path(d, name));
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_us(unsigned long us)
{
	struct timespec ts = { (time_t)(us / 1000000),
			       (long)(us % 1000000) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sleep_ms(unsigned ms)
{
	sleep_us(ms * 1000UL);
}

/* ---- records derived from their index (for readers that cannot share
 * the writer's record list: another process, another thread) ---- */

static uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* Record I of an indexed log: mostly 1..400 bytes, now and then a big one
 * (written, not mapped) when BIGS. */
static size_t idx_len(uint64_t i, bool bigs)
{
	if (bigs && i % 7919 == 7918)
		return BIG_LEN;
	return 1 + (size_t)(mix64(i) % 400);
}

static void idx_fill(uint64_t i, uint8_t *p, size_t len)
{
	uint64_t s = mix64(i ^ UINT64_C(0x5eed));

	for (size_t j = 0; j < len; j += 8) {
		uint64_t v = mix64(s + j);
		size_t k = len - j < 8 ? len - j : 8;

		memcpy(p + j, &v, k);
	}
}

/* Group I..: 1..4 records. */
static size_t idx_group(uint64_t i)
{
	return 1 + (size_t)(mix64(i * 31 + 7) % 4);
}

/* Appends the group of indexed records starting at I; their number. */
static size_t idx_append(struct wal *w, uint64_t i, bool bigs,
			 uint8_t *bufs[4], int *rc)
{
	struct wal_rec grp[4];
	size_t k = idx_group(i);

	for (size_t j = 0; j < k; j++) {
		size_t len = idx_len(i + j, bigs);

		idx_fill(i + j, bufs[j], len);
		grp[j].p = bufs[j];
		grp[j].len = len;
	}
	*rc = wal_append(w, grp, k, NULL);
	return k;
}

/* A replay callback checking indexed records in order, from NEXT on,
 * starting at offset OFF. */
struct idx_check {
	bool bigs;
	uint64_t next;     /* index of the next record expected */
	uint64_t off;      /* where it must start */
	uint8_t *buf;      /* BIG_LEN bytes */
	uint64_t bad;      /* 1 + index of the first wrong record, or 0 */
};

static int idx_check_rec(void *ctx, const uint8_t *rec, size_t len,
			 uint64_t off, struct lsm_err *err)
{
	struct idx_check *c = ctx;
	size_t want = idx_len(c->next, c->bigs);

	(void)err;
	if (len == want)
		idx_fill(c->next, c->buf, len);
	if (len != want || off != c->off || memcmp(rec, c->buf, len)) {
		if (!c->bad)
			c->bad = c->next + 1;
		return -EPROTO;
	}
	c->next++;
	c->off = off + WAL_HEADER_BYTES + len;
	return 0;
}

/* ---- 1. round trip across windows ---- */

/* A log at PATH salted with SALT, mapped through FIO's emulation. */
static struct wal *mapped_on_fio(struct faulty_io *fio, const char *path,
				 uint64_t salt)
{
	struct wal *w = NULL;

	assert_non_null(fio);
	faulty_io_allow_map(fio);
	assert_int_equal(wal_create_mapped(&fio->io, path, salt, true, &w,
					   NULL), 0);
	return w;
}

/* Small groups framed into the mapping and big ones written, through
 * six windows: a reader of the live segment sees every record and the
 * zeros after them as a clean end; sealing and closing cut the zeros. */
static void test_round_trip_posix(void **state)
{
	char path[4096];
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	size_t groups = 0, bigs = 0, len;
	long long size;
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), *state, "000001.wal");
	rng_init(&r, "wal_map_round_trip", 0);
	assert_int_equal(wal_create_mapped(lsm_io_posix(), path, 0, true, &w,
					   NULL), 0);
	while (wal_size(w) < 6ull * MAP_BYTES) {
		if (groups % 300 == 150 || rng_below(&r, 200) == 0) {
			append_big(w, &l, &r);
			bigs++;
		} else {
			append_small(w, &l, &r, 2000);
		}
		groups++;
	}
	assert_true(bigs >= 3);
	/* a group of exactly the largest mapped size, and one a byte over */
	len = MAP_MAX_GROUP - WAL_HEADER_BYTES;
	assert_int_equal(append_lens(w, &l, &r, &len, 1, NULL), 0);
	len++;
	assert_int_equal(append_lens(w, &l, &r, &len, 1, NULL), 0);
	for (int i = 0; i < 5; i++)
		append_small(w, &l, &r, 2000);

	/* live: the file runs to the end of the window, zeros after the
	 * records */
	size = file_size(path);
	assert_true(size > 0 && (uint64_t)size > wal_size(w));
	assert_true(size % 4096 == 0);
	assert_true((uint64_t)size - wal_size(w) < MAP_BYTES);
	memset(&info, 0xff, sizeof(info));
	assert_int_equal(replay(path, 0, true, &g, &info, &err), 0);
	expect_all(&g, &l);
	assert_true(info.records == l.n);
	assert_true(info.end == wal_size(w));
	assert_true(info.size == (uint64_t)size);
	assert_true(info.zeros == (uint64_t)size - wal_size(w));
	expect_clean_end(&info);
	/* a reader that takes the log for sealed calls the zeros damage */
	assert_int_equal(replay(path, 0, false, &g, &info, &err), -EBADMSG);
	assert_true(g.n == l.n);

	/* sealed: cut back to the records */
	assert_int_equal(wal_seal(w, NULL), 0);
	assert_true(file_size(path) == (long long)wal_size(w));
	assert_int_equal(replay(path, 0, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	assert_true(info.zeros == 0 && !info.torn);
	assert_true(info.size == log_end(&l));

	assert_int_equal(wal_close(w, true, NULL), 0);
	assert_true(file_size(path) == (long long)log_end(&l));
	assert_int_equal(replay(path, 0, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	assert_true(info.zeros == 0 && !info.torn);
	rec_got_free(&g);
	rec_got_free(&l);
}

/* Closed without a seal: wal_close cuts the zeros as well. */
static void test_close_cuts(void **state)
{
	char path[4096];
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), *state, "000002.wal");
	rng_init(&r, "wal_map_close_cuts", 0);
	assert_int_equal(wal_create_mapped(lsm_io_posix(), path, 9, true, &w,
					   NULL), 0);
	for (int i = 0; i < 100; i++)
		append_small(w, &l, &r, 500);
	assert_true(file_size(path) == MAP_BYTES);
	assert_int_equal(wal_close(w, false, NULL), 0);
	assert_true(file_size(path) == (long long)log_end(&l));
	assert_int_equal(replay(path, 9, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	/* the salt is part of the records */
	assert_int_equal(replay(path, 8, true, &g, &info, NULL), 0);
	assert_true(g.n == 0 && info.torn);
	rec_got_free(&g);
	rec_got_free(&l);
}

/* Which groups go through the mapping: up to WAL_MAP_MAX_GROUP framed
 * bytes make no call at all; one byte more leaves the window (its stores
 * told first) and is written; the next small group maps a new window. */
static void test_group_size_threshold(void **state)
{
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	struct rng r;
	struct wal *w;
	size_t len;

	path_in(path, sizeof(path), *state, "000003.wal");
	rng_init(&r, "wal_map_threshold", 0);
	w = mapped_on_fio(fio, path, 2);
	append_small(w, &l, &r, 100);
	assert_int_equal(faulty_io_count(fio, FIO_TRUNCATE), 1); /* mapped */
	len = MAP_MAX_GROUP - WAL_HEADER_BYTES;
	assert_int_equal(append_lens(w, &l, &r, &len, 1, NULL), 0);
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 0);
	len++;
	assert_int_equal(append_lens(w, &l, &r, &len, 1, NULL), 0);
	/* the window's stores, then the group */
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 2);
	append_small(w, &l, &r, 100);
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 2);
	assert_int_equal(faulty_io_count(fio, FIO_TRUNCATE), 2);
	assert_true(file_size(path) > (long long)wal_size(w));
	assert_int_equal(wal_close(w, true, NULL), 0);
	/* the last window's stores, then the cut */
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 3);
	assert_int_equal(faulty_io_count(fio, FIO_TRUNCATE), 3);
	assert_true(file_size(path) == (long long)log_end(&l));
	assert_int_equal(replay(path, 2, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	rec_got_free(&g);
	rec_got_free(&l);
	faulty_io_free(fio);
}

/* ---- 2. a killed writer process ---- */

#define CRASH_SALT 0x1234
#define CRASH_CAP 300000 /* the child stops appending there */

static _Noreturn void crash_child(const char *path, _Atomic uint64_t *count)
{
	uint8_t *bufs[4];
	struct wal *w;
	uint64_t i = 0;
	int rc;

	for (int j = 0; j < 4; j++) {
		bufs[j] = malloc(BIG_LEN);
		if (!bufs[j])
			_exit(2);
	}
	if (wal_create_mapped(lsm_io_posix(), path, CRASH_SALT, true, &w,
			      NULL) < 0)
		_exit(3);
	for (;;) {
		i += idx_append(w, i, true, bufs, &rc);
		if (rc < 0)
			_exit(4);
		atomic_store(count, i);
		while (i >= CRASH_CAP)
			pause();
	}
}

/* The writer dies by SIGKILL at a random moment, never having synced:
 * what it stored through the mapping is in the page cache, so a replay
 * gets every record whose append returned, in order, and at most the
 * group being appended besides. */
static void test_writer_killed(void **state)
{
	struct tdir *d = *state;
	_Atomic uint64_t *count;
	struct rng r;

	rng_init(&r, "wal_map_writer_killed", 0);
	count = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(count != MAP_FAILED);
	for (int round = 0; round < 3; round++) {
		struct idx_check c = { .bigs = true };
		struct wal_replay_info info;
		struct lsm_err err = { 0 };
		uint64_t want = 20000 + rng_below(&r, 30000), n;
		double deadline = now_ms() + 20000;
		char path[4096], name[32];
		int status, rc;
		pid_t pid;

		snprintf(name, sizeof(name), "%06d.wal", 100 + round);
		path_in(path, sizeof(path), d, name);
		atomic_store(count, 0);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			crash_child(path, count);
		while (atomic_load(count) < want) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				fail_msg("the writer exited early (status %d)",
					 status);
			if (now_ms() > deadline) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				fail_msg("the writer appended only %llu records",
					 (unsigned long long)atomic_load(count));
			}
			sleep_us(20);
		}
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		n = atomic_load(count);

		c.buf = malloc(BIG_LEN);
		assert_non_null(c.buf);
		rc = wal_replay_salted(lsm_io_posix(), path, CRASH_SALT, true,
				       idx_check_rec, &c, &info, &err);
		if (rc < 0)
			fail_msg("replay after the kill: %d %s (bad record "
				 "%llu)", rc, err.msg,
				 (unsigned long long)c.bad);
		free(c.buf);
		assert_true(c.bad == 0);
		if (c.next < n || c.next > n + 4)
			fail_msg("%llu records replayed, %llu appended",
				 (unsigned long long)c.next,
				 (unsigned long long)n);
		assert_true(info.records == c.next && info.end == c.off);
		if (!info.torn)
			expect_clean_end(&info);
		fprintf(stderr, "kill %d: %llu appended, %llu replayed, "
			"%llu bytes, %llu zeros%s\n", round,
			(unsigned long long)n, (unsigned long long)c.next,
			(unsigned long long)info.size,
			(unsigned long long)info.zeros,
			info.torn ? ", torn" : "");
		unlink(path);
	}
	munmap((void *)count, 4096);
}

/* ---- 3. power cuts in the emulated mapping ---- */

/* Random power cuts: the synced records come back, and whatever comes
 * after them is more of the same records in order, never garbage. */
static void test_power_cut_random(void **state)
{
	struct tdir *d = *state;
	unsigned more = 0, exact = 0, zeros = 0;
	char path[4096];
	struct rng r;

	path_in(path, sizeof(path), d, "000200.wal");
	rng_init(&r, "wal_map_power_cut_random", 0);
	for (uint64_t seed = 1; seed <= 30; seed++) {
		struct faulty_io *fio = faulty_io_new(lsm_io_posix());
		size_t groups = 20 + (size_t)rng_below(&r, 1200), synced = 0;
		struct wal_replay_info info;
		struct lsm_err err = { 0 };
		struct rec_got g = { 0 };
		struct rec_got l = { 0 };
		struct wal *w;
		int rc;

		assert_non_null(fio);
		faulty_io_allow_map(fio);
		assert_int_equal(wal_create_mapped(&fio->io, path, seed, true,
						   &w, NULL), 0);
		assert_int_equal(fio->io.sync_dir(&fio->io, tdir_root(d)), 0);
		for (size_t i = 0; i < groups; i++) {
			if (rng_below(&r, 150) == 0)
				append_big(w, &l, &r);
			else
				append_small(w, &l, &r, 2000);
			if (rng_below(&r, 25) == 0) {
				assert_int_equal(wal_sync(w, NULL), 0);
				synced = l.n;
			}
		}
		assert_int_equal(faulty_io_power_cut_random(fio, rng_next(&r)),
				 0);
		/* the machine is off: closing writes nothing more */
		rc = wal_close(w, false, NULL);
		assert_true(rc == 0 || rc == -EIO);
		faulty_io_reset(fio);
		rc = replay(path, seed, true, &g, &info, &err);
		if (rc < 0)
			fail_msg("seed %llu: %s", (unsigned long long)seed,
				 err.msg);
		expect_between(&g, &l, synced, l.n);
		assert_true(info.end == (g.n ? g.off[g.n - 1] +
					 WAL_HEADER_BYTES + g.len[g.n - 1] : 0));
		if (!info.torn)
			expect_clean_end(&info);
		more += g.n > synced;
		exact += g.n == synced;
		zeros += info.zeros > 0;
		rec_got_free(&g);
		rec_got_free(&l);
		faulty_io_free(fio);
		unlink(path);
	}
	fprintf(stderr, "30 cuts: %u kept more than synced, %u exactly the "
		"synced, %u ended in zeros\n", more, exact, zeros);
}

/* The deterministic cut loses every store not synced.  With CROSS the
 * stores after the sync fill the window and move on to the next, so the
 * old window's stores reach the file (map_stored) unsynced: they
 * overwrite inside the size the sync made durable, and the model then
 * counts the file durable only up to where they begin, so they are lost
 * too.  Without it they wait in the window and never reach the file,
 * which keeps the durable zero tail: a clean end. */
static void power_cut_after_sync(void **state, const char *name,
				 uint64_t salt, bool cross)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	unsigned long writes;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	size_t synced;
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), d, name);
	rng_init(&r, name, 0);
	w = mapped_on_fio(fio, path, salt);
	assert_int_equal(fio->io.sync_dir(&fio->io, tdir_root(d)), 0);
	while (wal_size(w) < 300000)
		append_small(w, &l, &r, 2000);
	assert_int_equal(wal_sync(w, NULL), 0);
	synced = l.n;
	writes = faulty_io_count(fio, FIO_WRITE);
	if (cross) {
		while (wal_size(w) < 3 * MAP_BYTES / 2)
			append_small(w, &l, &r, 2000);
		assert_true(faulty_io_count(fio, FIO_WRITE) > writes);
	} else {
		for (int i = 0; i < 50; i++)
			append_small(w, &l, &r, 500);
		assert_true(wal_size(w) < MAP_BYTES);
		/* no call at all: the stores wait in the window */
		assert_int_equal(faulty_io_count(fio, FIO_WRITE), writes);
	}
	assert_int_equal(faulty_io_power_cut(fio), 0);
	assert_int_equal(wal_close(w, false, NULL), -EIO);
	faulty_io_reset(fio);
	assert_int_equal(replay(path, salt, true, &g, &info, NULL), 0);
	expect_between(&g, &l, synced, synced);
	if (!cross) {
		assert_true(info.size == MAP_BYTES);
		assert_true(info.zeros == MAP_BYTES - info.end);
	}
	expect_clean_end(&info);
	rec_got_free(&g);
	rec_got_free(&l);
	faulty_io_free(fio);
}

/* Groups its caller syncs (wal_append_synced_at) are written into the
 * window with pwrite between groups stored through it, across windows,
 * on posix and on the emulated mapping, whose copy of the window must
 * never be written over them: a strict replay after close gives every
 * record; a cut after the last sync keeps every synced record intact,
 * whatever unsynced stores followed in the same window. */
static void synced_in_window(void **state, bool emulated, bool cut)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	size_t synced = 0;
	struct rng r;
	struct wal *w = NULL;

	path_in(path, sizeof(path), d, "000210.wal");
	rng_init(&r, "wal_map_synced_in_window", (uint64_t)emulated * 2 + cut);
	if (emulated) {
		w = mapped_on_fio(fio, path, 7);
	} else {
		assert_int_equal(wal_create_mapped(lsm_io_posix(), path, 7,
						   true, &w, NULL), 0);
	}
	assert_int_equal(fio->io.sync_dir(&fio->io, tdir_root(d)), 0);
	while (wal_size(w) < 3 * MAP_BYTES + MAP_BYTES / 3) {
		append_synced = rng_below(&r, 3) == 0;
		append_small(w, &l, &r, 3000);
		if (append_synced) {
			assert_int_equal(wal_sync(w, NULL), 0);
			synced = l.n;
		}
	}
	append_synced = true; /* end on a synced group mid-window */
	append_small(w, &l, &r, 3000);
	append_synced = false;
	assert_int_equal(wal_sync(w, NULL), 0);
	synced = l.n;
	for (int i = 0; i < 20; i++) /* stores after it, never synced */
		append_small(w, &l, &r, 500);
	if (cut) {
		assert_int_equal(faulty_io_power_cut(fio), 0);
		assert_int_equal(wal_close(w, false, NULL), -EIO);
		faulty_io_reset(fio);
		assert_int_equal(replay(path, 7, true, &g, &info, NULL), 0);
		expect_between(&g, &l, synced, l.n);
	} else {
		assert_int_equal(wal_close(w, true, NULL), 0);
		assert_int_equal(replay(path, 7, false, &g, &info, NULL), 0);
		expect_between(&g, &l, l.n, l.n);
		assert_false(info.torn);
	}
	rec_got_free(&g);
	rec_got_free(&l);
	faulty_io_free(fio);
	unlink(path);
}

static void test_synced_in_window_posix(void **state)
{
	synced_in_window(state, false, false);
}

static void test_synced_in_window_emulated(void **state)
{
	synced_in_window(state, true, false);
}

static void test_synced_in_window_cut(void **state)
{
	synced_in_window(state, true, true);
}

static void test_power_cut_exact(void **state)
{
	power_cut_after_sync(state, "000201.wal", 3, false);
}

static void test_power_cut_after_window_change(void **state)
{
	power_cut_after_sync(state, "000202.wal", 4, true);
}

/* ---- 4. a failed store reaching the file (map_stored) ---- */

/* After a store failed to reach the file: W is broken for good (appends
 * and syncs fail with -EIO although the fault is gone; close too), and
 * what reached PATH is a valid log, a prefix of L's records, then zeros.
 * Frees L. */
static void expect_broken(struct wal *w, const char *path, struct rec_got *l)
{
	struct wal_rec rec = { "record", 6 };
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };

	assert_true(wal_is_broken(w));
	assert_int_equal(wal_append(w, &rec, 1, &err), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_int_equal(wal_sync(w, NULL), -EIO);
	assert_int_equal(wal_close(w, true, NULL), -EIO);
	assert_int_equal(replay(path, 0, true, &g, &info, NULL), 0);
	expect_between(&g, l, 0, l->n);
	rec_got_free(&g);
	rec_got_free(l);
}

/* At a sync: the sync fails without an fsync, and the log is broken. */
static void test_map_stored_fails_at_sync(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_err err = { 0 };
	unsigned long fsyncs;
	struct rec_got l = { 0 };
	char path[4096];
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), d, "fault.wal");
	rng_init(&r, "wal_map_stored_sync", 0);
	w = mapped_on_fio(fio, path, 0);
	faulty_io_fail_nth(fio, FIO_WRITE, 1, -EIO, false);
	for (int i = 0; i < 20; i++)
		append_small(w, &l, &r, 1000);
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 0);
	fsyncs = faulty_io_count(fio, FIO_FSYNC);
	assert_int_equal(wal_sync(w, &err), -EIO);
	assert_int_equal(err.code, -EIO);
	assert_non_null(strstr(err.msg, "fault.wal"));
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 1);
	/* no fsync could vouch for stores that did not reach the file */
	assert_int_equal(faulty_io_count(fio, FIO_FSYNC), fsyncs);
	expect_broken(w, path, &l);
	/* the sticky error made no fsync either */
	assert_int_equal(faulty_io_count(fio, FIO_FSYNC), fsyncs);
	faulty_io_free(fio);
}

/* When the window is left: the append that needed a new one fails, and
 * the log is broken. */
static void test_map_stored_fails_at_window_change(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct lsm_err err = { 0 };
	struct rec_got l = { 0 };
	size_t lens[4], k;
	char path[4096];
	uint64_t size;
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), d, "fault2.wal");
	rng_init(&r, "wal_map_stored_window", 0);
	w = mapped_on_fio(fio, path, 0);
	for (;;) {
		size_t total = pick_small(&r, 2000, lens, &k);

		if (wal_size(w) + total > MAP_BYTES)
			break; /* this group needs the next window */
		assert_int_equal(append_lens(w, &l, &r, lens, k, NULL), 0);
	}
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), 0);
	size = wal_size(w);
	faulty_io_fail_nth(fio, FIO_WRITE, 1, -EIO, false);
	assert_int_equal(append_lens(w, &l, &r, lens, k, &err), -EIO);
	assert_non_null(strstr(err.msg, "fault2.wal"));
	assert_true(wal_size(w) == size);
	expect_broken(w, path, &l);
	faulty_io_free(fio);
}

/* ---- 5. no mapping: the segment is written ---- */

/* A map that fails after it extended the file (posix: fallocate went
 * through, mmap did not): the segment is written from there on, and the
 * seal still cuts the zeros the failed map left. */
static int map_then_fail(const struct lsm_io *io, int fd, uint64_t off,
			 size_t len, void **addr)
{
	const struct lsm_io *px = lsm_io_posix();
	int rc = px->map(px, fd, off, len, addr);

	(void)io;
	if (rc == 0)
		px->unmap(px, fd, *addr, len);
	return -ENOMEM;
}

static void test_map_fails_after_extending(void **state)
{
	struct tdir *d = *state;
	struct lsm_io io = *lsm_io_posix();
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	struct rng r;
	struct wal *w;

	io.map = map_then_fail;
	path_in(path, sizeof(path), d, "000301.wal");
	rng_init(&r, "wal_map_fails_after_extending", 0);
	assert_int_equal(wal_create_mapped(&io, path, 6, true, &w, NULL), 0);
	for (int i = 0; i < 40; i++)
		append_small(w, &l, &r, 1000);
	/* the failed map left the file a window long, zeros after the
	 * records, which a live reader takes as the end */
	assert_true((uint64_t)file_size(path) == MAP_BYTES);
	assert_int_equal(replay(path, 6, true, &g, &info, NULL), 0);
	expect_between(&g, &l, l.n, l.n);
	assert_true(info.zeros == MAP_BYTES - wal_size(w));
	assert_int_equal(wal_seal(w, NULL), 0);
	assert_true((uint64_t)file_size(path) == wal_size(w));
	assert_int_equal(replay(path, 6, false, &g, &info, NULL), 0);
	expect_between(&g, &l, l.n, l.n);
	assert_int_equal(wal_close(w, true, NULL), 0);
	rec_got_free(&g);
	rec_got_free(&l);
}

static void test_map_fails_falls_back(void **state)
{
	struct tdir *d = *state;
	struct faulty_io *fio = faulty_io_new(lsm_io_posix());
	struct wal_replay_info info;
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	size_t groups = 0;
	struct rng r;
	struct wal *w;

	path_in(path, sizeof(path), d, "full.wal");
	rng_init(&r, "wal_map_fallback", 0);
	w = mapped_on_fio(fio, path, 5);
	/* the emulated map extends the file with ftruncate: no space */
	faulty_io_fail_nth(fio, FIO_TRUNCATE, 1, -ENOSPC, false);
	while (wal_size(w) < 5 * MAP_BYTES / 2) {
		append_small(w, &l, &r, 2000);
		groups++;
		/* no zero tail, ever */
		assert_true(file_size(path) == (long long)wal_size(w));
	}
	/* one pwrite per group, and the mapping was tried once only */
	assert_int_equal(faulty_io_count(fio, FIO_WRITE), groups);
	assert_int_equal(faulty_io_count(fio, FIO_TRUNCATE), 1);
	assert_int_equal(replay(path, 5, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	assert_int_equal(wal_sync(w, NULL), 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	assert_true(file_size(path) == (long long)log_end(&l));
	assert_int_equal(replay(path, 5, false, &g, &info, NULL), 0);
	expect_all(&g, &l);
	assert_true(info.zeros == 0 && !info.torn);
	rec_got_free(&g);
	rec_got_free(&l);
	faulty_io_free(fio);
}

/* ---- 6. the notifier ---- */

/* Reads the queued events; the number of IN_MODIFY among them. */
static int drain_events(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int n = 0;

	for (;;) {
		ssize_t k = read(ifd, buf, sizeof(buf));

		if (k <= 0)
			return n;
		for (char *p = buf; p < buf + k;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->mask & IN_MODIFY)
				n++;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Waits up to MS for events; the number of IN_MODIFY read. */
static int wait_modify(int ifd, int ms)
{
	double end = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = ifd, .events = POLLIN };
		int left = (int)(end - now_ms()), n;

		if (left < 0)
			left = 0;
		if (poll(&p, 1, left) > 0) {
			n = drain_events(ifd);
			if (n > 0)
				return n;
		}
		if (now_ms() >= end)
			return 0;
	}
}

static int count_rec(void *ctx, const uint8_t *rec, size_t len,
		     uint64_t off, struct lsm_err *err)
{
	(void)ctx;
	(void)rec;
	(void)len;
	(void)off;
	(void)err;
	return 0;
}

/* The records a replay of the live log finds (tail_ok). */
static size_t count_records(const char *path)
{
	struct wal_replay_info info;
	struct lsm_err err = { 0 };

	if (wal_replay(lsm_io_posix(), path, true, count_rec, NULL, &info,
		       &err) < 0)
		fail_msg("%s", err.msg);
	return (size_t)info.records;
}

struct follower {
	const char *path;
	int ifd;
	size_t want;          /* records to see */
	atomic_bool started;
	int rc;               /* replay failure */
	struct lsm_err err;
	int waits;            /* waits for an event */
	double longest;       /* ms */
	bool stuck;           /* a wait of 200 ms saw no event */
	size_t seen;
	uint64_t bad;
};

/* Tails the log as followers do: drain the events, read on from where
 * the last replay ended, and when not all records are there, wait for
 * the next IN_MODIFY: it must come within 200 ms. */
static void *follower_main(void *arg)
{
	struct follower *f = arg;
	struct idx_check c = { .bigs = false };

	c.buf = malloc(BIG_LEN);
	if (!c.buf)
		abort(); /* no cmocka assertion outside the test's thread */
	atomic_store(&f->started, true);
	for (;;) {
		struct wal_replay_info info;
		double t;

		drain_events(f->ifd);
		f->rc = wal_replay_at(lsm_io_posix(), f->path, 0, c.off, true,
				      idx_check_rec, &c, &info, &f->err);
		f->seen = c.next;
		if (f->rc < 0 || c.next >= f->want)
			break;
		t = now_ms();
		f->waits++;
		if (!wait_modify(f->ifd, 200)) {
			f->stuck = true;
			break;
		}
		if (now_ms() - t > f->longest)
			f->longest = now_ms() - t;
	}
	f->bad = c.bad;
	free(c.buf);
	return NULL;
}

static void test_notifier(void **state)
{
	struct tdir *d = *state;
	struct lsm_io quiet = *lsm_io_posix();
	struct follower f = { 0 };
	uint8_t *bufs[4];
	char path[4096], qpath[4096];
	pthread_t th;
	struct wal *w;
	uint64_t i = 0, burst;
	int ifd, rc;

	for (int j = 0; j < 4; j++) {
		bufs[j] = malloc(BIG_LEN);
		assert_non_null(bufs[j]);
	}
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(ifd >= 0);

	/* Control: an io without map_notify.  After the first append
	 * (which maps the window: fallocate raises an event of its own),
	 * stores into the mapping raise no event. */
	path_in(qpath, sizeof(qpath), d, "quiet.wal");
	quiet.map_notify = NULL;
	assert_int_equal(wal_create_mapped(&quiet, qpath, 0, true, &w, NULL),
			 0);
	assert_true(inotify_add_watch(ifd, qpath, IN_MODIFY) >= 0);
	{
		struct wal_rec a = { "first", 5 }, b = { "second", 6 };

		assert_int_equal(wal_append(w, &a, 1, NULL), 0);
		sleep_ms(20);
		drain_events(ifd);
		assert_int_equal(wal_append(w, &b, 1, NULL), 0);
		assert_int_equal(wait_modify(ifd, 100), 0);
		assert_true(count_records(qpath) == 2);
		assert_true(file_size(qpath) == MAP_BYTES); /* mapped */
	}
	assert_int_equal(wal_close(w, false, NULL), 0);
	drain_events(ifd);

	/* The notifier tells of one record... */
	path_in(path, sizeof(path), d, "notify.wal");
	assert_int_equal(wal_create_mapped(lsm_io_posix(), path, 0, true, &w,
					   NULL), 0);
	assert_true(inotify_add_watch(ifd, path, IN_MODIFY) >= 0);
	i += idx_append(w, i, false, bufs, &rc);
	assert_int_equal(rc, 0);
	assert_true(wait_modify(ifd, 200) > 0);
	assert_true(count_records(path) == i);
	/* ...of a later one in the same window (no fallocate there)... */
	sleep_ms(50);
	drain_events(ifd);
	assert_int_equal(wait_modify(ifd, 50), 0); /* quiet when idle */
	i += idx_append(w, i, false, bufs, &rc);
	assert_int_equal(rc, 0);
	assert_true(file_size(path) == MAP_BYTES); /* no new window */
	assert_true(wait_modify(ifd, 200) > 0);
	assert_true(count_records(path) == i);
	sleep_ms(20);
	drain_events(ifd);

	/* ...and, to a follower tailing the log, of the end of a burst of
	 * 1000 and of each of 30 groups appended 15 ms apart (the notifier
	 * goes idle and starts again each time) */
	f.path = path;
	f.ifd = ifd;
	atomic_init(&f.started, false);
	{
		uint64_t n = i;

		while (n < i + 1000)
			n += idx_group(n);
		burst = n;
		for (int k = 0; k < 30; k++)
			n += idx_group(n);
		f.want = n;
	}
	assert_int_equal(pthread_create(&th, NULL, follower_main, &f), 0);
	while (!atomic_load(&f.started))
		sleep_ms(1);
	sleep_ms(5);
	while (i < burst) {
		i += idx_append(w, i, false, bufs, &rc);
		assert_int_equal(rc, 0);
	}
	while (i < f.want) {
		sleep_ms(15);
		i += idx_append(w, i, false, bufs, &rc);
		assert_int_equal(rc, 0);
	}
	pthread_join(th, NULL);
	if (f.rc < 0)
		fail_msg("follower: %s", f.err.msg);
	assert_true(f.bad == 0);
	if (f.stuck)
		fail_msg("follower saw %zu of %zu records and no event came "
			 "in 200 ms", f.seen, f.want);
	assert_true(f.seen == f.want);
	assert_true(count_records(path) == i);
	fprintf(stderr, "follower: %zu records, %d waits, longest %.2f ms\n",
		f.seen, f.waits, f.longest);
	assert_true(f.waits >= 5); /* it was woken again and again */
	assert_int_equal(wal_close(w, true, NULL), 0);
	close(ifd);
	for (int j = 0; j < 4; j++)
		free(bufs[j]);
}

/* ---- 7. wal_sync racing window changes ---- */

struct sync_ctx {
	struct wal *w;
	atomic_bool done;
	atomic_ulong syncs;
	_Atomic uint64_t durable; /* the size before the last sync that
	                           * returned 0 */
	int rc;
};

static void *sync_loop(void *arg)
{
	struct sync_ctx *c = arg;

	while (!atomic_load(&c->done)) {
		uint64_t before = wal_size(c->w);
		int rc = wal_sync(c->w, NULL);

		if (rc < 0) {
			c->rc = rc;
			break;
		}
		atomic_store(&c->durable, before);
		atomic_fetch_add(&c->syncs, 1);
	}
	return NULL;
}

enum conc_kind { CONC_POSIX, CONC_FIO, CONC_FIO_CUT };

static void conc_case(struct tdir *d, enum conc_kind kind)
{
	struct faulty_io *fio = NULL;
	const struct lsm_io *io = lsm_io_posix();
	struct sync_ctx c = { 0 };
	struct wal_replay_info info;
	struct lsm_err err = { 0 };
	struct rec_got g = { 0 };
	struct rec_got l = { 0 };
	char path[4096];
	struct rng r;
	pthread_t th;
	int rc;

	path_in(path, sizeof(path), d, "conc.wal");
	rng_init(&r, "wal_map_concurrent_sync", 0);
	if (kind != CONC_POSIX) {
		fio = faulty_io_new(lsm_io_posix());
		assert_non_null(fio);
		faulty_io_allow_map(fio);
		io = &fio->io;
		assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	}
	assert_int_equal(wal_create_mapped(io, path, 77, true, &c.w, NULL), 0);
	if (fio)
		assert_int_equal(io->sync_dir(io, tdir_root(d)), 0);
	atomic_init(&c.done, false);
	atomic_init(&c.syncs, 0);
	atomic_init(&c.durable, 0);
	assert_int_equal(pthread_create(&th, NULL, sync_loop, &c), 0);
	while (atomic_load(&c.syncs) == 0)
		sleep_us(50);
	for (int i = 0; i < 50000; i++) {
		size_t len = 1 + (size_t)rng_below(&r, 200);

		if (i % 10000 == 5000)
			len = BIG_LEN; /* a window dropped for a write */
		assert_int_equal(append_lens(c.w, &l, &r, &len, 1, NULL), 0);
	}
	atomic_store(&c.done, true);
	pthread_join(th, NULL);
	assert_int_equal(c.rc, 0);
	assert_true(wal_size(c.w) > 5ull * MAP_BYTES);
	fprintf(stderr, "%lu syncs during %zu appends\n",
		(unsigned long)atomic_load(&c.syncs), l.n);
	assert_true(atomic_load(&c.syncs) >= 2);
	if (kind == CONC_FIO_CUT) {
		/* what the syncs made durable survives; nothing was synced
		 * after them */
		uint64_t durable = atomic_load(&c.durable);
		size_t min = 0;

		while (min < l.n && l.off[min] + WAL_HEADER_BYTES +
		       l.len[min] <= durable)
			min++;
		assert_int_equal(faulty_io_power_cut(fio), 0);
		rc = wal_close(c.w, false, NULL);
		assert_true(rc == 0 || rc == -EIO);
		faulty_io_reset(fio);
		rc = replay(path, 77, true, &g, &info, &err);
		if (rc < 0)
			fail_msg("%s", err.msg);
		expect_between(&g, &l, min, l.n);
		if (!info.torn)
			expect_clean_end(&info);
	} else {
		assert_int_equal(wal_close(c.w, true, NULL), 0);
		assert_true(file_size(path) == (long long)log_end(&l));
		assert_int_equal(replay(path, 77, false, &g, &info, NULL), 0);
		expect_all(&g, &l);
		assert_true(info.zeros == 0 && !info.torn);
	}
	rec_got_free(&g);
	rec_got_free(&l);
	faulty_io_free(fio);
}

static void test_concurrent_sync_posix(void **state)
{
	conc_case(*state, CONC_POSIX);
}

static void test_concurrent_sync_fio(void **state)
{
	conc_case(*state, CONC_FIO);
}

static void test_concurrent_sync_fio_cut(void **state)
{
	conc_case(*state, CONC_FIO_CUT);
}

/* ---- 8. readers of a live segment ---- */

struct tail_reader {
	const char *path;
	atomic_bool done;
	unsigned long replays, failed;
	int nmsg;
	char msg[3][400];     /* the first failures */
	uint64_t seen;
};

static void tail_failed(struct tail_reader *t, int rc, const char *how,
			const struct lsm_err *err, uint64_t bad)
{
	t->failed++;
	if (t->nmsg < 3)
		snprintf(t->msg[t->nmsg++], sizeof(t->msg[0]),
			 "%s: %d %s (bad record %llu)", how, rc, err->msg,
			 (unsigned long long)bad);
}

/* Replays the live log over and over from where the last replay ended,
 * as a follower does, and now and then from the start, as lsmfs check
 * of an unsealed segment does: each must end cleanly or torn
 * (tail_ok), with the records appended, never -EBADMSG. */
static void *tail_reader_main(void *arg)
{
	struct tail_reader *t = arg;
	struct idx_check tail = { .bigs = false };
	uint8_t *buf = malloc(BIG_LEN);

	if (!buf)
		abort(); /* no cmocka assertion outside the test's thread */
	tail.buf = buf;
	while (!atomic_load(&t->done)) {
		struct wal_replay_info info;
		struct lsm_err err = { 0 };
		int rc = wal_replay_at(lsm_io_posix(), t->path, 0, tail.off,
				       true, idx_check_rec, &tail, &info,
				       &err);

		t->replays++;
		if (rc < 0)
			tail_failed(t, rc, "from the last end", &err,
				    tail.bad);
		if (tail.bad)
			break; /* wrong bytes: no point going on */
		if (t->replays % 8 == 0) {
			struct idx_check all = { .bigs = false, .buf = buf };

			rc = wal_replay_salted(lsm_io_posix(), t->path, 0,
					       true, idx_check_rec, &all,
					       &info, &err);
			t->replays++;
			if (rc < 0)
				tail_failed(t, rc, "from the start", &err,
					    all.bad);
			if (all.bad)
				break;
		}
		t->seen = tail.next;
	}
	free(buf);
	return NULL;
}

static void live_case(struct tdir *d, bool mapped)
{
	struct tail_reader t = { 0 };
	uint64_t i = 0, size, records;
	uint8_t *bufs[4];
	char path[4096];
	pthread_t th;
	struct wal *w;
	double end;
	int rc = 0;

	for (int j = 0; j < 4; j++) {
		bufs[j] = malloc(BIG_LEN);
		assert_non_null(bufs[j]);
	}
	path_in(path, sizeof(path), d, "live.wal");
	assert_int_equal(wal_create_mapped(lsm_io_posix(), path, 0, mapped,
					   &w, NULL), 0);
	t.path = path;
	atomic_init(&t.done, false);
	assert_int_equal(pthread_create(&th, NULL, tail_reader_main, &t), 0);
	/* a steady trickle of groups for 1.2 s, across windows */
	end = now_ms() + 1200;
	while (rc == 0 && now_ms() < end && wal_size(w) < 24ull * MAP_BYTES) {
		for (int k = 0; k < 4 && rc == 0; k++)
			i += idx_append(w, i, false, bufs, &rc);
		sleep_us(20);
	}
	atomic_store(&t.done, true);
	pthread_join(th, NULL);
	for (int j = 0; j < 4; j++)
		free(bufs[j]);
	size = wal_size(w);
	assert_int_equal(rc, 0);
	assert_int_equal(wal_close(w, true, NULL), 0);
	records = count_records(path);
	fprintf(stderr, "live readers (%s): %lu replays while %llu records "
		"were appended (%llu bytes), %lu failed\n",
		mapped ? "mapped" : "written", t.replays,
		(unsigned long long)i, (unsigned long long)size, t.failed);
	for (int k = 0; k < t.nmsg; k++)
		fprintf(stderr, "  %s\n", t.msg[k]);
	assert_true(records == i);
	assert_true(size > 2ull * MAP_BYTES);
	assert_true(t.replays > 10);
	if (t.failed)
		fail_msg("%lu of %lu replays of the live log failed; the "
			 "first: %s", t.failed, t.replays, t.msg[0]);
}

/* The mapped log, stored into while it is read. */
static void test_live_readers(void **state)
{
	live_case(*state, true);
}

/* The same readers on a log written with pwrite (the control). */
static void test_live_readers_written(void **state)
{
	live_case(*state, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, tdir_setup, tdir_teardown)
		T(test_round_trip_posix),
		T(test_close_cuts),
		T(test_group_size_threshold),
		T(test_writer_killed),
		T(test_power_cut_random),
		T(test_power_cut_exact),
		T(test_synced_in_window_posix),
		T(test_synced_in_window_emulated),
		T(test_synced_in_window_cut),
		T(test_power_cut_after_window_change),
		T(test_map_stored_fails_at_sync),
		T(test_map_stored_fails_at_window_change),
		T(test_map_fails_falls_back),
		T(test_map_fails_after_extending),
		T(test_notifier),
		T(test_concurrent_sync_posix),
		T(test_concurrent_sync_fio),
		T(test_concurrent_sync_fio_cut),
		T(test_live_readers_written),
		T(test_live_readers),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
