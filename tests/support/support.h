/* support.h - shared test helpers: temporary directories, a seeded RNG that
 * prints its seed, file corruption helpers and the fault-injecting I/O
 * layer (faulty_io.h). */
#ifndef LSM_TEST_SUPPORT_H
#define LSM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- temporary directories (tdir.c) ---- */
struct tdir;
/* A fresh empty directory under $TMPDIR (or /tmp), removed with its
 * contents by tdir_free unless LSM_KEEP_TMP is set in the environment. */
struct tdir *tdir_new(void);
void tdir_free(struct tdir *d);
const char *tdir_root(const struct tdir *d);
/* ROOT/NAME in a static rotating buffer (8 slots); fine for tests. */
const char *tdir_path(const struct tdir *d, const char *name);
/* cmocka group/test fixtures: *state becomes a struct tdir *. */
int tdir_setup(void **state);
int tdir_teardown(void **state);
/* rm -rf PATH (no shell). */
int tdir_rmrf(const char *path);

/* ---- random numbers (rng.c): xoshiro256** ---- */
struct rng {
	uint64_t s[4];
	uint64_t seed;
};
/* Seeds from $LSM_SEED when set, else from SEED (0 = time-based), and
 * prints "NAME: seed N" to stderr so a failure can be replayed. */
void rng_init(struct rng *r, const char *name, uint64_t seed);
uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n); /* uniform in [0, n) */
double rng_double(struct rng *r);              /* [0, 1) */
void rng_bytes(struct rng *r, void *p, size_t n);

/* ---- corruption (corrupt.c) ---- */
/* XORs the byte at OFF (negative: from the end) with MASK.  0 or -errno. */
int corrupt_flip(const char *path, long long off, uint8_t mask);
/* Truncates PATH to LEN bytes (negative: drop -LEN from the end). */
int corrupt_truncate(const char *path, long long len);
/* Overwrites N bytes at OFF with BYTE. */
int corrupt_fill(const char *path, long long off, size_t n, uint8_t byte);
/* Size of PATH, or -1. */
long long file_size(const char *path);
/* Reads the whole file into a malloc'ed buffer; NULL on error. */
void *file_read_all(const char *path, size_t *len);
int file_write_all(const char *path, const void *p, size_t len);

/* ---- I/O without fsync (nosync_io.c) ---- */
struct lsm_io;
/* lsm_io_posix() with fsync and sync_dir turned into no-ops. */
const struct lsm_io *test_io_nosync(void);

/* ---- engine invariants (levels.c) ---- */
struct lsm_db;
/* Fails the current cmocka test unless L1+ tables are sorted and never
 * overlap (version_check on the current version). */
void check_levels(struct lsm_db *db);

/* ---- the directory descriptor cache (dircache.c) ---- */
/* Fills every entry of lsm_io_posix()'s global cache of directory
 * descriptors with new directories made under ROOT, so that the blocks it
 * holds are the same number before and after a run. */
void dircache_fill(const char *root);

/* The records a log replay delivered (recgot.c): pass rec_got_collect
 * and a zeroed struct rec_got to wal_replay*.  Each record is copied. */
struct lsm_err;
struct rec_got {
	uint8_t **rec;
	size_t *len;
	uint64_t *off;
	size_t n, cap;
	size_t stop_at; /* return -ECANCELED on this record (0: never) */
};
int rec_got_collect(void *ctx, const uint8_t *rec, size_t len, uint64_t off,
		    struct lsm_err *err);
/* Frees the copies and zeroes G for the next replay. */
void rec_got_free(struct rec_got *g);
/* Appends a record of LEN bytes at OFF to G and returns its buffer, for
 * the caller to fill (it asserts on ENOMEM). */
uint8_t *rec_got_add(struct rec_got *g, size_t len, uint64_t off);

#endif /* LSM_TEST_SUPPORT_H */
