/* rng.c - xoshiro256** seeded by splitmix64; prints its seed. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void rng_init(struct rng *r, const char *name, uint64_t seed)
{
	const char *env = getenv("LSM_SEED");
	uint64_t x;

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else if (seed == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		       (uint64_t)getpid();
	}
	r->seed = seed;
	x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	fprintf(stderr, "%s: seed %llu (replay with LSM_SEED=%llu)\n",
		name ? name : "rng", (unsigned long long)seed,
		(unsigned long long)seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t x, lim;

	if (n <= 1)
		return 0;
	lim = UINT64_MAX - UINT64_MAX % n;
	do
		x = rng_next(r);
	while (x >= lim);
	return x % n;
}

double rng_double(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

void rng_bytes(struct rng *r, void *p, size_t n)
{
	unsigned char *b = p;

	while (n > 0) {
		uint64_t x = rng_next(r);

		for (int i = 0; i < 8 && n > 0; i++, n--) {
			*b++ = (unsigned char)x;
			x >>= 8;
		}
	}
}
