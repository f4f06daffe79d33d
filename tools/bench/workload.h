/* workload.h - what lsmfs-bench feeds the engines: keys as db_bench makes
 * them (the zero-padded decimal of a key index), key indexes drawn uniform,
 * zipfian or "latest", and pseudo-random values of a chosen
 * compressibility.  Pure functions and small structs, no I/O. */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random numbers: splitmix64-seeded xorshift64*, one per thread ---- */
struct wl_rng {
	uint64_t s;
};
void wl_rng_init(struct wl_rng *r, uint64_t seed);
uint64_t wl_rng_next(struct wl_rng *r);
uint64_t wl_rng_below(struct wl_rng *r, uint64_t n); /* [0, n), n > 0 */
double wl_rng_double(struct wl_rng *r);              /* [0, 1) */

/* ---- keys ---- */
/* Writes the key of index I into BUF: exactly KEY_SIZE bytes (no NUL), the
 * decimal digits of I zero-padded on the left (db_bench's keys); when
 * KEY_SIZE is too small for I the leading digits are cut. */
void wl_key(char *buf, unsigned key_size, uint64_t i);
/* The key of index I with its last byte replaced by '.': the same length,
 * never written, and inside the written key range (it sorts just before
 * the key of I rounded down to a multiple of 10, after that key's
 * predecessor), so no engine can answer it from key ranges alone. */
void wl_missing_key(char *buf, unsigned key_size, uint64_t i);
/* The index of a key made by wl_key, or -1 when BUF is not one. */
int64_t wl_key_index(const void *buf, size_t len);

/* ---- key distributions ---- */
enum key_dist {
	DIST_UNIFORM = 0,
	DIST_ZIPFIAN = 1, /* YCSB's scrambled zipfian, theta 0.99: hot keys
	                   * are scattered over the key space */
	DIST_LATEST = 2,  /* zipfian over recency: the highest indexes (the
	                   * last written by fillseq) are the hottest */
};
#define WL_ZIPF_THETA 0.99

/* Parses "uniform"/"zipfian"/"latest"; -EINVAL otherwise. */
int wl_dist_parse(const char *s, enum key_dist *out);
const char *wl_dist_name(enum key_dist d);

/* Shared, read-only after wl_keygen_init: one per benchmark, used by every
 * thread with its own wl_rng. */
struct wl_keygen {
	enum key_dist dist;
	uint64_t n;
	double theta, alpha, zetan, eta, zeta2;
};
/* Prepares draws over [0, N) (N > 0).  Zipfian setup is O(N). */
void wl_keygen_init(struct wl_keygen *g, enum key_dist d, uint64_t n);
/* A key index in [0, N). */
uint64_t wl_keygen_next(const struct wl_keygen *g, struct wl_rng *r);
/* The zipfian rank draw in [0, N): rank 0 most frequent (unscrambled). */
uint64_t wl_zipf_rank(const struct wl_keygen *g, struct wl_rng *r);
/* FNV-1a of the 8 bytes of X, used to scatter zipfian ranks. */
uint64_t wl_fnv64(uint64_t x);

/* ---- values ---- */
/* A ring of pseudo-random bytes of which a fraction RATIO is random and
 * the rest repeats it, so zlib squeezes a value to about RATIO of its
 * size (db_bench's RandomGenerator idea; our own code). */
struct wl_values {
	char *data;
	size_t len, pos;
};
/* 0 or -ENOMEM.  LEN >= the largest value asked of wl_value. */
int wl_values_init(struct wl_values *v, size_t len, double ratio,
		   uint64_t seed);
void wl_values_free(struct wl_values *v);
/* The next LEN bytes of the ring; borrowed, valid until wl_values_free. */
const char *wl_value(struct wl_values *v, size_t len);

#endif /* BENCH_WORKLOAD_H */
