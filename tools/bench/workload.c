/* workload.c - key and value generators of lsmfs-bench: db_bench-style
 * keys, uniform / zipfian (Gray et al.'s rejection-free method, as YCSB
 * uses it) / latest key indexes, and values of a set compressibility. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void wl_rng_init(struct wl_rng *r, uint64_t seed)
{
	r->s = splitmix64(&seed);
	if (!r->s)
		r->s = 0x2545f4914f6cdd1dull;
}

uint64_t wl_rng_next(struct wl_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t wl_rng_below(struct wl_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32. */
	return (uint64_t)(((unsigned __int128)wl_rng_next(r) * n) >> 64);
}

double wl_rng_double(struct wl_rng *r)
{
	return (wl_rng_next(r) >> 11) * 0x1.0p-53;
}

void wl_key(char *buf, unsigned key_size, uint64_t i)
{
	for (unsigned p = key_size; p > 0; p--) {
		buf[p - 1] = (char)('0' + i % 10);
		i /= 10;
	}
}

void wl_missing_key(char *buf, unsigned key_size, uint64_t i)
{
	wl_key(buf, key_size, i);
	if (key_size)
		buf[key_size - 1] = '.';
}

int64_t wl_key_index(const void *buf, size_t len)
{
	const char *p = buf;
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	return (int64_t)v;
}

int wl_dist_parse(const char *s, enum key_dist *out)
{
	static const char *const names[] = { "uniform", "zipfian", "latest" };

	for (unsigned i = 0; i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum key_dist)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *wl_dist_name(enum key_dist d)
{
	switch (d) {
	case DIST_ZIPFIAN:
		return "zipfian";
	case DIST_LATEST:
		return "latest";
	default:
		return "uniform";
	}
}

static double zeta(uint64_t n, double theta)
{
	double sum = 0;

	for (uint64_t i = 1; i <= n; i++)
		sum += 1.0 / pow((double)i, theta);
	return sum;
}

void wl_keygen_init(struct wl_keygen *g, enum key_dist d, uint64_t n)
{
	memset(g, 0, sizeof(*g));
	g->dist = d;
	g->n = n ? n : 1;
	if (d == DIST_UNIFORM)
		return;
	g->theta = WL_ZIPF_THETA;
	g->zeta2 = zeta(2, g->theta);
	g->zetan = zeta(g->n, g->theta);
	g->alpha = 1.0 / (1.0 - g->theta);
	g->eta = (1 - pow(2.0 / (double)g->n, 1 - g->theta)) /
		 (1 - g->zeta2 / g->zetan);
}

uint64_t wl_zipf_rank(const struct wl_keygen *g, struct wl_rng *r)
{
	double u = wl_rng_double(r), uz = u * g->zetan;
	uint64_t k;

	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + pow(0.5, g->theta))
		return g->n > 1 ? 1 : 0;
	k = (uint64_t)((double)g->n * pow(g->eta * u - g->eta + 1, g->alpha));
	return k < g->n ? k : g->n - 1;
}

uint64_t wl_fnv64(uint64_t x)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < 8; i++) {
		h ^= x & 0xff;
		h *= 0x100000001b3ull;
		x >>= 8;
	}
	return h;
}

uint64_t wl_keygen_next(const struct wl_keygen *g, struct wl_rng *r)
{
	switch (g->dist) {
	case DIST_ZIPFIAN:
		return wl_fnv64(wl_zipf_rank(g, r)) % g->n;
	case DIST_LATEST:
		return g->n - 1 - wl_zipf_rank(g, r);
	default:
		return wl_rng_below(r, g->n);
	}
}

int wl_values_init(struct wl_values *v, size_t len, double ratio,
		   uint64_t seed)
{
	struct wl_rng r;
	size_t piece = 100, raw;

	if (ratio <= 0 || ratio > 1)
		ratio = 1;
	raw = (size_t)(piece * ratio);
	if (raw < 1)
		raw = 1;
	len = len < 1 << 20 ? 1 << 20 : len;
	v->data = malloc(len * 2);
	if (!v->data)
		return -ENOMEM;
	v->len = len;
	v->pos = 0;
	wl_rng_init(&r, seed);
	for (size_t off = 0; off < len * 2; off += piece) {
		size_t n = len * 2 - off < piece ? len * 2 - off : piece;

		for (size_t i = 0; i < n; i++)
			v->data[off + i] = i < raw ?
				(char)(' ' + wl_rng_below(&r, 95)) :
				v->data[off + i % raw];
	}
	return 0;
}

void wl_values_free(struct wl_values *v)
{
	free(v->data);
	v->data = NULL;
}

const char *wl_value(struct wl_values *v, size_t len)
{
	const char *p;

	if (len > v->len)
		len = v->len;
	if (v->pos + len > v->len)
		v->pos = 0;
	p = v->data + v->pos;
	v->pos += len;
	return p;
}
