/* hist.h - a log-linear latency histogram: values below 128 are counted
 * exactly, above that each power of two is cut into 64 equal buckets, so a
 * percentile is within 1/128 (0.8%) of the true value from 1 ns to 2^64 ns.
 * Fixed size (about 30 KiB), no allocation on record, one per thread,
 * merged at the end.  Not thread-safe. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)                 /* 64 */
#define HIST_LINEAR (2u * HIST_SUB)                    /* 0..127 exact */
#define HIST_BUCKETS (HIST_LINEAR + (64u - HIST_SUB_BITS - 1u) * HIST_SUB)

struct hist {
	uint64_t count, sum, min, max;
	uint64_t b[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* Adds every sample of SRC to DST. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile Q in [0, 1] (nearest rank, the middle of its bucket,
 * clamped to [min, max]; exactly min and max at the ends); 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

/* The bucket of V, and the smallest and largest value of bucket I. */
unsigned hist_bucket(uint64_t v);
uint64_t hist_bucket_lo(unsigned i);
uint64_t hist_bucket_hi(unsigned i);

#endif /* BENCH_HIST_H */
