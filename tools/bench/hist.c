/* hist.c - log-linear bucket histogram (see hist.h for the bucket layout:
 * 128 exact buckets, then 64 per power of two). */
#include <math.h>
#include <string.h>

#include "hist.h"

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned hist_bucket(uint64_t v)
{
	unsigned e, shift;

	if (v < HIST_LINEAR)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);   /* >= 7 */
	shift = e - HIST_SUB_BITS;                 /* >= 1 */
	return HIST_LINEAR + (shift - 1) * HIST_SUB +
	       (unsigned)((v >> shift) - HIST_SUB);
}

uint64_t hist_bucket_lo(unsigned i)
{
	unsigned shift;

	if (i < HIST_LINEAR)
		return i;
	shift = (i - HIST_LINEAR) / HIST_SUB + 1;
	return ((uint64_t)HIST_SUB + (i - HIST_LINEAR) % HIST_SUB) << shift;
}

uint64_t hist_bucket_hi(unsigned i)
{
	if (i + 1 >= HIST_BUCKETS)
		return UINT64_MAX;
	return hist_bucket_lo(i + 1) - 1;
}

void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_bucket(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned i;

	if (!h->count)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t)ceil(q * (double)h->count - 1e-9);
	if (rank <= 1)
		return h->min;
	if (rank >= h->count)
		return h->max;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i >= HIST_BUCKETS)
		return h->max;
	v = hist_bucket_lo(i) + (hist_bucket_hi(i) - hist_bucket_lo(i)) / 2;
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}
