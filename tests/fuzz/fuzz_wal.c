/* fuzz_wal.c - WAL replay (wal_replay) over a segment made from the input,
 * and batch decoding (batch_decode) of every record it delivers.
 *
 * The first input byte picks a mode (bit 0):
 *   0  the rest is a segment file, as is;
 *   1  the rest is a list of records (u16le length | bytes); the target
 *      frames them with wal_append (so checksums are right), then cuts
 *      (mode byte >> 1) bytes off the end to tear the tail.
 * Properties: records come in file order, back to back from offset 0,
 * each inside the file; the replay info agrees with what was delivered;
 * the only failure is -EBADMSG (with a message); a tail-tolerant replay
 * that ends torn fails when the tail is not tolerated, and one that ends
 * clean succeeds either way; framing the delivered records again gives
 * back the bytes replayed; in mode 1 a clean replay returns exactly the
 * records whose frames survived the cut.  A batch that decodes re-encodes
 * (lsm_batch_put/delete) to the same ops, to the same bytes unless its
 * varints were not minimal, and the re-encoding decodes to the same ops. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "batch.h"
#include "fuzz.h"
#include "memio.h"
#include "wal.h"

#define PATH "/db/000003.wal"
#define PATH2 "/db/000004.wal"

struct rec {
	uint64_t off;
	uint8_t *p;
	size_t len;
};

struct recs {
	struct rec *r;
	size_t n, cap;
	uint64_t size;     /* of the file replayed */
	uint64_t next_off; /* where the next record must start */
};

static void recs_push(struct recs *c, uint64_t off, const uint8_t *p,
		      size_t len)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 8;
		struct rec *r = realloc(c->r, ncap * sizeof(*r));

		FUZZ_CHECK(r);
		c->r = r;
		c->cap = ncap;
	}
	c->r[c->n].off = off;
	c->r[c->n].p = malloc(len ? len : 1);
	FUZZ_CHECK(c->r[c->n].p);
	if (len)
		memcpy(c->r[c->n].p, p, len);
	c->r[c->n].len = len;
	c->n++;
}

static void recs_free(struct recs *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->r[i].p);
	free(c->r);
	memset(c, 0, sizeof(*c));
}

/* ---- batches ---- */

struct op {
	uint64_t seq;
	enum ikey_type t;
	uint8_t *k, *v;
	size_t klen, vlen;
};

struct ops {
	struct op *o;
	size_t n, cap;
};

static int op_collect(void *ctx, uint64_t seq, enum ikey_type t,
		      const uint8_t *key, size_t klen, const uint8_t *val,
		      size_t vlen)
{
	struct ops *s = ctx;
	struct op *o;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? 2 * s->cap : 8;

		o = realloc(s->o, ncap * sizeof(*o));
		FUZZ_CHECK(o);
		s->o = o;
		s->cap = ncap;
	}
	o = &s->o[s->n++];
	o->seq = seq;
	o->t = t;
	o->klen = klen;
	o->vlen = vlen;
	o->k = malloc(klen ? klen : 1);
	o->v = malloc(vlen ? vlen : 1);
	FUZZ_CHECK(o->k && o->v);
	if (klen)
		memcpy(o->k, key, klen);
	if (vlen)
		memcpy(o->v, val, vlen);
	FUZZ_CHECK(t == IKEY_VALUE || (t == IKEY_DELETE && vlen == 0));
	FUZZ_CHECK(seq <= IKEY_MAX_SEQ);
	return 0;
}

static void ops_free(struct ops *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->o[i].k);
		free(s->o[i].v);
	}
	free(s->o);
	memset(s, 0, sizeof(*s));
}

static bool ops_equal(const struct ops *a, const struct ops *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct op *x = &a->o[i], *y = &b->o[i];

		if (x->seq != y->seq || x->t != y->t || x->klen != y->klen ||
		    x->vlen != y->vlen ||
		    (x->klen && memcmp(x->k, y->k, x->klen)) ||
		    (x->vlen && memcmp(x->v, y->v, x->vlen)))
			return false;
	}
	return true;
}

static void check_batch(const uint8_t *p, size_t len)
{
	struct ops a = { 0 }, b = { 0 };
	struct lsm_err err = { 0 };
	struct lsm_batch *re;
	int rc = batch_decode(p, len, op_collect, &a, &err);

	if (rc < 0) {
		FUZZ_CHECK(rc == -EUCLEAN && err.code == rc && err.msg[0]);
		FUZZ_CHECK(a.n == 0); /* validated before the first call */
		ops_free(&a);
		return;
	}
	FUZZ_CHECK(len >= BATCH_HEADER_BYTES);
	FUZZ_CHECK(a.n == get_u32le(p + 8));
	for (size_t i = 0; i < a.n; i++)
		FUZZ_CHECK(a.o[i].seq == get_u64le(p) + i);
	re = lsm_batch_new();
	FUZZ_CHECK(re);
	for (size_t i = 0; i < a.n; i++) {
		const struct op *o = &a.o[i];

		rc = o->t == IKEY_VALUE
			     ? lsm_batch_put(re, o->k, o->klen, o->v, o->vlen)
			     : lsm_batch_delete(re, o->k, o->klen);
		FUZZ_CHECK(rc == 0);
	}
	batch_set_seq(re, get_u64le(p));
	FUZZ_CHECK(lsm_batch_count(re) == a.n);
	FUZZ_CHECK(re->rep.len <= len);
	if (re->rep.len == len) /* minimal varints: the very same bytes */
		FUZZ_CHECK(memcmp(re->rep.p, p, len) == 0);
	FUZZ_CHECK(batch_decode(re->rep.p, re->rep.len, op_collect, &b,
				&err) == 0);
	FUZZ_CHECK(ops_equal(&a, &b));
	lsm_batch_free(re);
	ops_free(&a);
	ops_free(&b);
}

/* ---- replay ---- */

static int collect(void *ctx, const uint8_t *rec, size_t len, uint64_t off,
		   struct lsm_err *err)
{
	struct recs *c = ctx;

	(void)err;
	FUZZ_CHECK(len > 0 && len <= WAL_MAX_RECORD);
	FUZZ_CHECK(off == c->next_off);
	FUZZ_CHECK(off <= c->size && WAL_HEADER_BYTES + len <= c->size - off);
	recs_push(c, off, rec, len);
	c->next_off = off + WAL_HEADER_BYTES + len;
	return 0;
}

static int replay(struct lsm_io *io, const char *path, bool tail_ok,
		  struct recs *c, struct wal_replay_info *info)
{
	struct lsm_err err = { 0 };
	size_t size;
	int rc;

	FUZZ_CHECK(memio_get(io, path, &size));
	memset(c, 0, sizeof(*c));
	c->size = size;
	rc = wal_replay(io, path, tail_ok, collect, c, info, &err);
	FUZZ_CHECK(memio_open_fds(io) == 0);
	FUZZ_CHECK(info->size == size);
	FUZZ_CHECK(info->end <= size);
	FUZZ_CHECK(info->records == c->n && info->end == c->next_off);
	if (rc < 0) {
		FUZZ_CHECK(rc == -EBADMSG);
		FUZZ_CHECK(err.code == rc && err.msg[0]);
	} else {
		/* what follows the records: nothing, a torn tail, or (a
		 * log that may still be written) zeros to the end */
		FUZZ_CHECK(!(info->torn && info->zeros));
		FUZZ_CHECK(tail_ok || !info->zeros);
		FUZZ_CHECK(info->torn ==
			   (info->end + info->zeros < (uint64_t)size));
		FUZZ_CHECK(!info->zeros || info->end + info->zeros == size);
	}
	return rc;
}

/* Frames C's records into PATH2 and expects the first BYTES of DATA.
 * (Tied to the record framing: adapt with wal.c.) */
static void check_reframe(struct lsm_io *io, const struct recs *c,
			  const uint8_t *data, uint64_t bytes)
{
	struct lsm_err err = { 0 };
	struct wal_rec *v = calloc(c->n + 1, sizeof(*v));
	struct wal *w;
	const uint8_t *p;
	size_t n;

	FUZZ_CHECK(v);
	for (size_t i = 0; i < c->n; i++)
		v[i] = (struct wal_rec){ c->r[i].p, c->r[i].len };
	FUZZ_CHECK(wal_create(io, PATH2, &w, &err) == 0);
	if (c->n)
		FUZZ_CHECK(wal_append(w, v, c->n, &err) == 0);
	FUZZ_CHECK(wal_size(w) == bytes);
	FUZZ_CHECK(wal_close(w, true, &err) == 0);
	p = memio_get(io, PATH2, &n);
	FUZZ_CHECK(p && n == bytes && (!n || !memcmp(p, data, n)));
	free(v);
}

/* Mode 1: frames the records listed in IN into PATH, then tears CUT
 * bytes off; EXPECT gets the records framed. */
static void frame_input(struct lsm_io *io, struct fuzz_in *in, size_t cut,
			struct recs *expect)
{
	struct lsm_err err = { 0 };
	struct wal *w;
	uint8_t *copy;
	const uint8_t *p;
	size_t n;

	memset(expect, 0, sizeof(*expect));
	FUZZ_CHECK(wal_create(io, PATH, &w, &err) == 0);
	while (in->n > 0) {
		size_t want = fuzz_u16(in), len;
		struct wal_rec r;

		r.p = fuzz_bytes(in, want, &len);
		r.len = len;
		if (len == 0)
			continue;
		recs_push(expect, wal_size(w), r.p, len);
		FUZZ_CHECK(wal_append(w, &r, 1, &err) == 0);
	}
	FUZZ_CHECK(wal_close(w, true, &err) == 0);
	p = memio_get(io, PATH, &n);
	FUZZ_CHECK(p);
	if (cut > n)
		cut = n;
	copy = malloc(n ? n : 1);
	FUZZ_CHECK(copy);
	if (n)
		memcpy(copy, p, n);
	FUZZ_CHECK(memio_put(io, PATH, copy, n - cut) == 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	struct recs c, c2, expect = { 0 };
	struct wal_replay_info info, info2;
	struct lsm_io *io;
	const uint8_t *file;
	uint8_t *copy;
	size_t fsize, i;
	int rc, rc2;

	if (size > (1u << 20))
		return 0;
	io = memio_new();
	FUZZ_CHECK(io);
	if (mode & 1)
		frame_input(io, &in, mode >> 1, &expect);
	else
		FUZZ_CHECK(memio_put(io, PATH, in.p, in.n) == 0);
	file = memio_get(io, PATH, &fsize);
	copy = malloc(fsize ? fsize : 1);
	FUZZ_CHECK(copy);
	if (fsize)
		memcpy(copy, file, fsize);

	rc = replay(io, PATH, true, &c, &info);
	rc2 = replay(io, PATH, false, &c2, &info2);
	/* Strict replay: the same records; fails exactly on a torn tail or
	 * on zeros after the records (a sealed log never ends in them). */
	FUZZ_CHECK(c2.n == c.n && info2.end == info.end);
	if (rc == 0)
		FUZZ_CHECK(info.torn || info.zeros ? rc2 == -EBADMSG
						   : rc2 == 0);
	else
		FUZZ_CHECK(rc2 == rc);
	if (mode & 1 && rc == 0) {
		size_t whole = 0;

		while (whole < expect.n &&
		       expect.r[whole].off + WAL_HEADER_BYTES +
				       expect.r[whole].len <= fsize)
			whole++;
		FUZZ_CHECK(c.n == whole);
		for (i = 0; i < c.n; i++)
			FUZZ_CHECK(c.r[i].off == expect.r[i].off &&
				   c.r[i].len == expect.r[i].len &&
				   !memcmp(c.r[i].p, expect.r[i].p,
					   c.r[i].len));
		FUZZ_CHECK(info.torn == (info.end != fsize));
	}
	check_reframe(io, &c, copy, info.end);
	for (i = 0; i < c.n; i++)
		check_batch(c.r[i].p, c.r[i].len);
	recs_free(&c);
	recs_free(&c2);
	recs_free(&expect);
	free(copy);
	memio_free(io);
	return 0;
}
