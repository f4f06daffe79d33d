/* fuzz_sst.c - the table reader (sst_open, sst_iter, sst_get, sst_verify)
 * on tables made from the input, through an in-memory lsm_io.
 *
 * The first input byte picks a mode (byte % 3):
 *   0  the rest is a table file, as is;
 *   1  the rest is a table file whose block checksums (footer, meta
 *      blocks, and the data blocks a raw index points at) the target
 *      recomputes first, so mutations reach the block parsers;
 *   2  the rest describes options and entries; the target builds a table
 *      with sst_builder and expects every property to hold.
 * Properties, for any table that opens and verifies: forward iteration
 * yields valid internal keys in strictly increasing order, as many as the
 * props say, from sst_smallest to sst_largest; backward iteration yields
 * the same entries reversed; a seek to each key lands on it; point lookups
 * agree with a model built from the iterated entries.  A table that fails
 * to open fails with -EUCLEAN or -EBADMSG and a message.  Every table that
 * opens is also written to a real file, opened through the POSIX I/O and
 * mapped (sst_map), and every point lookup made on the in-memory table is
 * made on the mapped one too: a lookup in the mapping (which seeks before
 * it checks the checksum) must give what the read path gives, the same
 * result and the same value, damaged or not. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "cache.h"
#include "crc.h"
#include "fuzz.h"
#include "memio.h"
#include "memtable.h"
#include "sst.h"

#define PATH "/db/000007.sst"
#define MAX_ENTRIES 20000
#define MAX_PROBES 300

struct entry {
	uint8_t *k, *v;
	size_t klen, vlen;
};

struct list {
	struct entry *e;
	size_t n;
};

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->e[i].k);
		free(l->e[i].v);
	}
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

static void list_push(struct list *l, const uint8_t *k, size_t klen,
		      const uint8_t *v, size_t vlen)
{
	struct entry *e;

	if ((l->n & (l->n - 1)) == 0) { /* 0 or a power of two: grow */
		e = realloc(l->e, (l->n ? 2 * l->n : 1) * sizeof(*e));
		FUZZ_CHECK(e);
		l->e = e;
	}
	e = &l->e[l->n++];
	e->k = malloc(klen ? klen : 1);
	e->v = malloc(vlen ? vlen : 1);
	FUZZ_CHECK(e->k && e->v);
	memcpy(e->k, k, klen);
	if (vlen)
		memcpy(e->v, v, vlen);
	e->klen = klen;
	e->vlen = vlen;
}

static bool same(const uint8_t *a, size_t alen, const uint8_t *b,
		 size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

/* Walks IT forward (or backward) into L; returns its status. */
static int walk(struct iiter *it, bool backward, struct list *l)
{
	struct lsm_err err = { 0 };
	int rc;

	if (backward)
		iiter_seek_last(it);
	else
		iiter_seek_first(it);
	while (iiter_valid(it) && l->n < MAX_ENTRIES) {
		size_t klen, vlen;
		const uint8_t *k = iiter_key(it, &klen);
		const uint8_t *v = iiter_value(it, &vlen);

		list_push(l, k, klen, v, vlen);
		if (backward)
			iiter_prev(it);
		else
			iiter_next(it);
	}
	rc = iiter_status(it, &err);
	if (rc < 0)
		FUZZ_CHECK(err.code == rc && err.msg[0]);
	return rc;
}

/* The table under test as a mapped table, or NULL. */
static struct sst *mapped;

/* Writes the table PATH of IO to a real file, opens it through the POSIX
 * I/O and maps it; NULL when the real file cannot be made (no check). */
static struct sst *open_mapped(struct lsm_io *io, struct cache *cache)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	struct sst *t = NULL;
	const uint8_t *p;
	size_t n;
	int fd, rc;

	p = memio_get(io, PATH, &n);
	FUZZ_CHECK(p);
	if (access("/dev/shm", W_OK) == 0)
		dir = "/dev/shm";
	snprintf(path, sizeof(path), "%s/lsmfs-fuzz-sst-%ld.sst",
		 dir ? dir : "/tmp", (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 || (n && write(fd, p, n) != (ssize_t)n) ? -1 : 0;
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		static bool told;

		if (!told)
			fprintf(stderr, "fuzz_sst: cannot write %s: mapped "
				"lookups go unchecked (set TMPDIR to a "
				"writable directory)\n", path);
		told = true;
	} else {
		struct lsm_err err = { 0 };

		/* it opened in memory: it opens here too (id 8: its blocks
		 * are not the in-memory table's in the shared cache) */
		FUZZ_CHECK(sst_open(lsm_io_posix(), path, 8, cache, NULL, &t,
				    &err) == 0);
		FUZZ_CHECK(sst_map(t, false, &err) == 0);
	}
	unlink(path); /* the mapping and descriptor keep it */
	return t;
}

/* sst_get on T and, when there is one, on its mapped twin: the same
 * result and the same value.  Returns T's result; *VAL its value. */
static int get_both(struct sst *t, const uint8_t *ik, size_t iklen,
		    struct buf *val, struct lsm_err *err)
{
	struct lsm_err merr = { 0 };
	struct buf mval = BUF_INIT;
	int rc = sst_get(t, ik, iklen, val, err), mrc;

	if (!mapped)
		return rc;
	mrc = sst_get(mapped, ik, iklen, &mval, &merr);
	if (mrc != rc)
		fprintf(stderr, "sst_get: %d, mapped: %d (%s)\n", rc, mrc,
			merr.msg);
	FUZZ_CHECK(mrc == rc);
	if (mrc < 0)
		FUZZ_CHECK(merr.code == mrc && merr.msg[0]);
	if (rc == LOOKUP_FOUND)
		FUZZ_CHECK(same(val->p, val->len, mval.p, mval.len));
	buf_free(&mval);
	return rc;
}

/* What sst_get must say for seek key IK, from the sorted entries L. */
static int model_get(const struct list *l, const uint8_t *ik, size_t iklen,
		     const struct entry **hit)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ikey_cmp(l->e[mid].k, l->e[mid].klen, ik, iklen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == l->n || ukey_cmp(l->e[lo].k, ikey_ulen(l->e[lo].klen), ik,
				   ikey_ulen(iklen)))
		return LOOKUP_MISSING;
	*hit = &l->e[lo];
	return ikey_type(l->e[lo].k, l->e[lo].klen) == IKEY_DELETE
		       ? LOOKUP_DELETED
		       : LOOKUP_FOUND;
}

static void probe(struct sst *t, const struct list *l, const uint8_t *ukey,
		  size_t ulen, uint64_t seq)
{
	struct lsm_err err = { 0 };
	struct buf val = BUF_INIT;
	const struct entry *hit = NULL;
	uint8_t *ik = malloc(ulen + IKEY_TAG_BYTES);
	size_t iklen;
	int rc, want;

	FUZZ_CHECK(ik);
	iklen = ikey_encode(ik, ukey, ulen, seq, IKEY_TYPE_FOR_SEEK);
	rc = get_both(t, ik, iklen, &val, &err);
	want = model_get(l, ik, iklen, &hit);
	/* a pointer into the value log longer than any is malformed */
	if (want == LOOKUP_FOUND &&
	    ikey_type(hit->k, hit->klen) == IKEY_VALUE_PTR &&
	    hit->vlen > sizeof(((struct sst_value *)0)->ptr))
		want = -EUCLEAN;
	if (rc != want)
		fprintf(stderr, "sst_get: %d (%s), model: %d\n", rc, err.msg,
			want);
	FUZZ_CHECK(rc == want);
	if (rc < 0)
		FUZZ_CHECK(err.code == rc && err.msg[0]);
	if (rc == LOOKUP_FOUND)
		FUZZ_CHECK(same(val.p, val.len, hit->v, hit->vlen));
	buf_free(&val);
	free(ik);
}

/* Opens PATH and checks everything; STRICT: it must open and verify. */
static void check_table(struct lsm_io *io, bool strict,
			const struct list *built)
{
	struct cache *cache = cache_new(32 << 10); /* small: evictions */
	struct lsm_err err = { 0 };
	struct list fwd = { 0 }, bwd = { 0 };
	struct sst *t = NULL;
	struct iiter *it;
	const uint8_t *k;
	size_t klen, i;
	int rc, vrc, frc, brc;

	FUZZ_CHECK(cache);
	rc = sst_open(io, PATH, 7, cache, NULL, &t, &err);
	if (rc < 0) {
		if (strict)
			fprintf(stderr, "sst_open: %s\n", err.msg);
		FUZZ_CHECK(!strict);
		FUZZ_CHECK(rc == -EUCLEAN || rc == -EBADMSG);
		FUZZ_CHECK(err.code == rc && err.msg[0]);
		FUZZ_CHECK(memio_open_fds(io) == 0);
		cache_free(cache);
		return;
	}
	mapped = open_mapped(io, cache);
	vrc = sst_verify(t, &err);
	if (strict && vrc < 0)
		fprintf(stderr, "sst_verify: %s\n", err.msg);
	FUZZ_CHECK(!strict || vrc == 0);
	if (vrc < 0)
		FUZZ_CHECK(err.code == vrc && err.msg[0]);

	/* A cached and an uncached pass, forward and backward. */
	it = sst_iter(t, true, NULL, NULL);
	FUZZ_CHECK(it);
	frc = walk(it, false, &fwd);
	iiter_free(it);
	it = sst_iter(t, false, NULL, NULL);
	FUZZ_CHECK(it);
	brc = walk(it, true, &bwd);

	if (vrc == 0 && fwd.n < MAX_ENTRIES) {
		const struct sst_props *p = sst_get_props(t);

		if (frc || brc)
			fprintf(stderr, "iter status %d %d after %zu/%zu entries\n", frc, brc, fwd.n, bwd.n);
		FUZZ_CHECK(frc == 0 && brc == 0);
		FUZZ_CHECK(fwd.n == p->entries && fwd.n > 0);
		FUZZ_CHECK(bwd.n == fwd.n);
		for (i = 0; i < fwd.n; i++) {
			const struct entry *a = &fwd.e[i];
			const struct entry *b = &bwd.e[fwd.n - 1 - i];

			FUZZ_CHECK(ikey_valid(a->k, a->klen));
			if (i > 0)
				FUZZ_CHECK(ikey_cmp(fwd.e[i - 1].k,
						    fwd.e[i - 1].klen, a->k,
						    a->klen) < 0);
			FUZZ_CHECK(same(a->k, a->klen, b->k, b->klen));
			FUZZ_CHECK(same(a->v, a->vlen, b->v, b->vlen));
		}
		k = sst_smallest(t, &klen);
		FUZZ_CHECK(same(k, klen, fwd.e[0].k, fwd.e[0].klen));
		k = sst_largest(t, &klen);
		FUZZ_CHECK(same(k, klen, fwd.e[fwd.n - 1].k,
				fwd.e[fwd.n - 1].klen));
		if (built) {
			FUZZ_CHECK(built->n == fwd.n);
			for (i = 0; i < fwd.n; i++) {
				FUZZ_CHECK(same(built->e[i].k, built->e[i].klen,
						fwd.e[i].k, fwd.e[i].klen));
				FUZZ_CHECK(same(built->e[i].v, built->e[i].vlen,
						fwd.e[i].v, fwd.e[i].vlen));
			}
		}
		/* Seeks land on each key; lookups agree with the model. */
		for (i = 0; i < fwd.n && i < MAX_PROBES; i++) {
			size_t j = i * (fwd.n / MAX_PROBES + 1) % fwd.n;
			const struct entry *e = &fwd.e[j];
			size_t ulen = ikey_ulen(e->klen);
			uint64_t seq = ikey_seq(e->k, e->klen);

			iiter_seek(it, e->k, e->klen);
			FUZZ_CHECK(iiter_valid(it));
			k = iiter_key(it, &klen);
			FUZZ_CHECK(same(k, klen, e->k, e->klen));
			probe(t, &fwd, e->k, ulen, seq);
			probe(t, &fwd, e->k, ulen, IKEY_MAX_SEQ);
			if (seq > 0)
				probe(t, &fwd, e->k, ulen, seq - 1);
			if (ulen > 0)
				probe(t, &fwd, e->k, ulen - 1, IKEY_MAX_SEQ);
		}
	} else {
		/* Damaged: exercise seeks and lookups, no model to hold. */
		for (i = 0; i < fwd.n && i < 16; i++) {
			struct buf val = BUF_INIT;

			iiter_seek(it, fwd.e[i].k, fwd.e[i].klen);
			if (fwd.e[i].klen >= IKEY_TAG_BYTES)
				(void)get_both(t, fwd.e[i].k, fwd.e[i].klen,
					       &val, NULL);
			buf_free(&val);
		}
	}
	iiter_free(it);
	list_free(&fwd);
	list_free(&bwd);
	sst_close(mapped);
	mapped = NULL;
	sst_close(t);
	cache_free(cache);
	FUZZ_CHECK(memio_open_fds(io) == 0);
}

/* ---- mode 1: recompute checksums ---- */

static int bytewise(const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen)
{
	return ukey_cmp(a, alen, b, blen);
}

static void fix_block(uint8_t *p, size_t size, uint64_t off, uint64_t len)
{
	if (off > size || len > size - off ||
	    size - off - len < SST_BLOCK_TRAILER)
		return;
	put_u32le(p + off + len + 1, crc32_of(p + off, (size_t)len + 1));
}

static void fix_checksums(uint8_t *p, size_t size)
{
	uint8_t *f;
	uint64_t ioff, isize;
	struct block *b;

	if (size < SST_FOOTER_BYTES)
		return;
	f = p + size - SST_FOOTER_BYTES;
	ioff = get_u64le(f + 32);
	isize = get_u64le(f + 40);
	/* Data blocks first: the index block's own checksum does not cover
	 * them.  Only a raw index is walked. */
	if (ioff < size && isize < size - ioff &&
	    size - ioff - isize >= SST_BLOCK_TRAILER && p[ioff + isize] == 0 &&
	    block_new(p + ioff, (size_t)isize, false, &b, NULL) == 0) {
		struct iiter *it = block_iter(b, bytewise, NULL, NULL);

		FUZZ_CHECK(it);
		for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
			size_t vlen;
			const uint8_t *v = iiter_value(it, &vlen);
			const uint8_t *end = v + vlen;
			uint64_t off, len;

			v = get_varint64(v, end, &off);
			if (v)
				v = get_varint64(v, end, &len);
			if (v)
				fix_block(p, size, off, len);
		}
		iiter_free(it);
		block_free(b);
	}
	for (int i = 0; i < 3; i++)
		fix_block(p, size, get_u64le(f + 16 * i),
			  get_u64le(f + 16 * i + 8));
	put_u32le(f + 60, crc32_of(f, 60));
}

/* ---- mode 2: build a table from a description ---- */

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return ikey_cmp(x->k, x->klen, y->k, y->klen);
}

static void build_and_check(struct lsm_io *io, struct fuzz_in *in)
{
	struct sst_options o = { 0 };
	struct list l = { 0 };
	struct sst_builder *b;
	struct lsm_err err = { 0 };
	uint64_t size;
	size_t i, n;
	uint8_t flags;

	o.block_bytes = 32 + (size_t)fuzz_u8(in) * 16;
	o.restart_interval = 1 + fuzz_u8(in) % 16;
	flags = fuzz_u8(in);
	o.bloom_bits_per_key = flags % 16;
	o.compression = flags & 0x80 ? LSM_COMPRESS_ZLIB : LSM_COMPRESS_NONE;
	o.zlib_level = 1 + (flags >> 4) % 9;
	while (in->n > 0 && l.n < 2000) {
		uint8_t ik[64 + IKEY_TAG_BYTES], hdr = fuzz_u8(in);
		const uint8_t *u, *v;
		size_t ulen, vlen, iklen;
		uint64_t seq = fuzz_u16(in);

		u = fuzz_bytes(in, hdr % 32, &ulen);
		iklen = ikey_encode(ik, u, ulen, seq, hdr & 0x80 ? IKEY_DELETE
							  : IKEY_VALUE);
		v = fuzz_bytes(in, fuzz_u8(in) % 128, &vlen);
		list_push(&l, ik, iklen, v, vlen);
	}
	if (l.n == 0)
		return;
	qsort(l.e, l.n, sizeof(*l.e), cmp_entry);
	for (i = n = 1; i < l.n; i++) { /* one entry per internal key */
		if (cmp_entry(&l.e[n - 1], &l.e[i]) == 0) {
			free(l.e[i].k);
			free(l.e[i].v);
		} else {
			l.e[n++] = l.e[i];
		}
	}
	l.n = n;
	FUZZ_CHECK(sst_builder_new(io, PATH, &o, &b, &err) == 0);
	for (i = 0; i < l.n; i++)
		FUZZ_CHECK(sst_builder_add(b, l.e[i].k, l.e[i].klen, l.e[i].v,
					   l.e[i].vlen, &err) == 0);
	FUZZ_CHECK(sst_builder_entries(b) == l.n);
	if (sst_builder_finish(b, &size, &err) < 0)
		fprintf(stderr, "sst_builder_finish: %s\n", err.msg);
	FUZZ_CHECK(err.code == 0);
	FUZZ_CHECK(memio_get(io, PATH, &n) && n == size);
	check_table(io, true, &l);
	list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lsm_io *io;
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	uint8_t *copy;

	if (size > (1u << 20))
		return 0;
	io = memio_new();
	FUZZ_CHECK(io);
	switch (mode % 3) {
	case 0:
		FUZZ_CHECK(memio_put(io, PATH, in.p, in.n) == 0);
		check_table(io, false, NULL);
		break;
	case 1:
		copy = malloc(in.n ? in.n : 1);
		FUZZ_CHECK(copy);
		memcpy(copy, in.p, in.n);
		fix_checksums(copy, in.n);
		FUZZ_CHECK(memio_put(io, PATH, copy, in.n) == 0);
		free(copy);
		check_table(io, false, NULL);
		break;
	default:
		build_and_check(io, &in);
		break;
	}
	memio_free(io);
	return 0;
}
