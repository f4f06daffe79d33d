/* fuzz.h - shared by the fuzz targets (tests/fuzz/fuzz_*.c).  Each target
 * defines LLVMFuzzerTestOneInput; built with clang's -fsanitize=fuzzer it
 * is a libFuzzer binary, built with replay_main.c it replays files.
 * A failed property aborts, which libFuzzer (and meson test) report as a
 * crash together with the input. */
#ifndef LSMFS_FUZZ_H
#define LSMFS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: property failed: %s\n",   \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

/* Reads input bytes front to back; past the end every read gives 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint32_t fuzz_u16(struct fuzz_in *in)
{
	uint32_t lo = fuzz_u8(in);

	return lo | (uint32_t)fuzz_u8(in) << 8;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* Up to N bytes: *LEN gets how many were left. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n,
					size_t *len)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

#endif /* LSMFS_FUZZ_H */
