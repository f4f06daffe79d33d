/* ns_extent.c - where a file's data lies, and moving it: SEEK_DATA /
 * SEEK_HOLE from the chunk layout, and fallocate's COLLAPSE_RANGE and
 * INSERT_RANGE.  Both work in blocks of NS_BLOCK bytes (the st_blksize):
 * a block is data when a stored chunk holds a non-zero byte of it, so a
 * block of zeros reads as a hole, as `cp --sparse` would make it.  Space
 * reservation and ZERO_RANGE are in ns_data.c with the other modes. */
#include "ns_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif

/* Collapse and insert move at most this many stored bytes (one batch
 * holds them all). */
#define NS_SHIFT_MAX_BYTES (256ull << 20)

static bool zero_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The scan of one seek: POS is where the answer can start; a hole seek
 * also tracks where the data seen so far ends. */
struct seek_state {
	uint64_t off, size;
	uint32_t cs;
	bool data;       /* SEEK_DATA (else SEEK_HOLE) */
	uint64_t pos;    /* hole seek: first byte not yet known to be data */
	uint64_t res;
	bool found;
};

static void seek_found(struct seek_state *s, uint64_t at)
{
	s->res = at > s->off ? at : s->off;
	s->found = true;
}

/* Looks at stored chunk IDX (VAL of VLEN bytes). */
static void seek_chunk(struct seek_state *s, uint64_t idx,
		       const uint8_t *val, size_t vlen)
{
	uint64_t base = idx * s->cs;
	uint64_t from = s->off > base ? s->off - base : 0;

	if (!s->data && base > s->pos)
		return seek_found(s, s->pos); /* a missing chunk before */
	for (uint64_t b = from / NS_BLOCK * NS_BLOCK; b < vlen; b += NS_BLOCK) {
		size_t n = vlen - b < NS_BLOCK ? vlen - b : NS_BLOCK;

		if (zero_bytes(val + b, n) != s->data)
			return seek_found(s, base + b);
	}
	if (!s->data) {
		uint64_t end = base + (vlen + NS_BLOCK - 1) / NS_BLOCK *
			       NS_BLOCK;

		if (end < base + s->cs)
			return seek_found(s, end);
		s->pos = base + s->cs;
	}
}

static int seek_scan(struct ns *ns, uint64_t ino, struct seek_state *s,
		     struct lsm_err *err)
{
	uint8_t start[CODEC_CHUNK_KEY_LEN];
	struct lsm_iter *it;
	int rc = ns_iter_ino(ns, 0, CODEC_K_CHUNK, ino, &it, err);

	if (rc < 0)
		return rc;
	codec_chunk_key(start, ino, s->off / s->cs);
	for (lsm_iter_seek(it, start, sizeof(start));
	     lsm_iter_valid(it) && !s->found; lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v;
		uint64_t kino, idx;

		if (codec_parse_chunk_key(k, klen, &kino, &idx) < 0 ||
		    kino != ino || idx * s->cs >= s->size)
			break;
		v = lsm_iter_value(it, &vlen);
		seek_chunk(s, idx, v, vlen > s->cs ? s->cs : vlen);
	}
	rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	if (rc == 0 && !s->found && !s->data)
		seek_found(s, s->pos);
	return rc;
}

int ns_seek(struct ns *ns, uint64_t ino, uint64_t off, int whence,
	    uint64_t *res, struct lsm_err *err)
{
	struct seek_state s = { .off = off, .pos = off, .cs = ns->cs };
	struct codec_inode in;
	struct ns_lockset ls;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return lsm_err_set(err, -EINVAL, "lseek: whence %d", whence);
	s.data = whence == SEEK_DATA;
	ns_lock(ns, &ls, &ino, 1, false);
	rc = ns_get_regular(ns, ino, &in, -ENODEV, err);
	s.size = in.size;
	if (rc == 0 && off >= in.size)
		rc = lsm_err_set(err, -ENXIO, "lseek: at or past the end");
	if (rc == 0)
		rc = seek_scan(ns, ino, &s, err);
	ns_unlock(ns, &ls);
	if (rc < 0)
		return rc;
	if (!s.found || s.res >= in.size) {
		if (s.data)
			return lsm_err_set(err, -ENXIO, "lseek: no data after "
					   "%llu", (unsigned long long)off);
		s.res = in.size;
	}
	*res = s.res;
	return 0;
}

/* ---- collapse and insert ---- */

struct shift {
	struct ns *ns;
	uint64_t ino;
	uint64_t off, len, size, newsize;
	bool collapse;
	uint8_t *tmp;        /* one chunk */
	uint64_t *js;        /* new chunks to build, ascending */
	size_t njs, cap;
};

static int add_j(struct shift *sh, uint64_t j)
{
	if (j * sh->ns->cs >= sh->newsize)
		return 0;
	if (sh->njs && sh->js[sh->njs - 1] == j)
		return 0; /* runs of candidates ascend and meet at their ends */
	if (sh->njs == sh->cap) {
		size_t nc = sh->cap ? 2 * sh->cap : 64;
		uint64_t *p = realloc(sh->js, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		sh->js = p;
		sh->cap = nc;
	}
	sh->js[sh->njs++] = j;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Notes the new chunks that old chunk IDX's moving bytes land in. */
static int map_old_chunk(struct shift *sh, uint64_t idx)
{
	uint64_t cs = sh->ns->cs, a = idx * cs, e = a + cs;
	uint64_t from = sh->collapse ? sh->off + sh->len : sh->off;
	int rc = 0;

	if (e > sh->size)
		e = sh->size;
	if (a < from)
		a = from;
	if (a >= e)
		return 0;
	if (sh->collapse) {
		a -= sh->len;
		e -= sh->len;
	} else {
		a += sh->len;
		e += sh->len;
	}
	for (uint64_t j = a / cs; rc == 0 && j <= (e - 1) / cs; j++)
		rc = add_j(sh, j);
	return rc;
}

/* Deletes every stored chunk from the first touched one on into B and
 * notes the new chunks to build; *BYTES sums the deleted lengths. */
static int plan(struct shift *sh, struct lsm_batch *b, uint64_t *bytes,
		struct lsm_err *err)
{
	uint8_t start[CODEC_CHUNK_KEY_LEN];
	struct lsm_iter *it;
	uint64_t j0 = sh->off / sh->ns->cs;
	int rc = ns_iter_ino(sh->ns, LSM_ITER_KEYS_ONLY, CODEC_K_CHUNK,
			     sh->ino, &it, err);

	if (rc < 0)
		return rc;
	rc = add_j(sh, j0);
	codec_chunk_key(start, sh->ino, j0);
	for (lsm_iter_seek(it, start, sizeof(start));
	     rc == 0 && lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		uint64_t kino, idx;

		if (codec_parse_chunk_key(k, klen, &kino, &idx) < 0 ||
		    kino != sh->ino)
			break;
		*bytes += lsm_iter_value_len(it); /* not read */
		rc = lsm_batch_delete(b, k, klen);
		if (rc == 0)
			rc = map_old_chunk(sh, idx);
	}
	if (rc == -ENOMEM)
		rc = ns_enomem(err);
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	if (rc == 0 && *bytes > NS_SHIFT_MAX_BYTES)
		rc = lsm_err_set(err, -EFBIG, "fallocate: more than %llu "
				 "stored bytes to move",
				 (unsigned long long)NS_SHIFT_MAX_BYTES);
	if (rc == 0 && sh->njs > 1) { /* sorted and unique, to be sure */
		size_t n = 1;

		qsort(sh->js, sh->njs, sizeof(*sh->js), cmp_u64);
		for (size_t i = 1; i < sh->njs; i++)
			if (sh->js[i] != sh->js[n - 1])
				sh->js[n++] = sh->js[i];
		sh->njs = n;
	}
	return rc;
}

/* Copies old bytes [POS, POS+N) into DST (zeros past the old size and in
 * holes). */
static int read_old(struct shift *sh, uint64_t pos, size_t n, uint8_t *dst,
		    struct lsm_err *err)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN];
	uint32_t cs = sh->ns->cs;

	memset(dst, 0, n);
	while (n > 0 && pos < sh->size) {
		struct codec_span s = codec_span_first(pos, n, cs);
		size_t len;
		int rc;

		codec_chunk_key(key, sh->ino, s.idx);
		rc = lsm_get_buf(sh->ns->db, sh->ns->snap, key, sizeof(key),
				 sh->tmp, cs, &len, err);
		if (rc < 0)
			return rc;
		if (rc == 1 && len > s.off)
			memcpy(dst, sh->tmp + s.off,
			       len - s.off < s.len ? len - s.off : s.len);
		dst += s.len;
		pos += s.len;
		n -= s.len;
	}
	return 0;
}

/* Builds new chunk J into OUT; *LEN its length without trailing zeros. */
static int build_chunk(struct shift *sh, uint64_t j, uint8_t *out,
		       size_t *len, struct lsm_err *err)
{
	uint64_t cs = sh->ns->cs, a = j * cs;
	uint64_t e = a + cs < sh->newsize ? a + cs : sh->newsize;
	uint64_t keep = sh->off > a ? (sh->off < e ? sh->off : e) - a : 0;
	uint64_t p = a + keep; /* first byte that moved or is new */
	int rc = read_old(sh, a, (size_t)keep, out, err);

	if (rc == 0 && p < e && sh->collapse)
		rc = read_old(sh, p + sh->len, (size_t)(e - p), out + keep,
			      err);
	if (rc == 0 && p < e && !sh->collapse) {
		uint64_t gap = sh->off + sh->len > p ?
			       sh->off + sh->len - p : 0;

		if (gap > e - p)
			gap = e - p;
		memset(out + keep, 0, (size_t)gap);
		if (p + gap < e)
			rc = read_old(sh, p + gap - sh->len,
				      (size_t)(e - p - gap), out + keep + gap,
				      err);
	}
	*len = (size_t)(e - a);
	while (*len > 0 && out[*len - 1] == 0)
		(*len)--;
	return rc;
}

static int shift_locked(struct shift *sh, struct codec_inode *in,
			struct lsm_batch *b, uint8_t *out,
			struct lsm_err *err)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN];
	uint64_t old_bytes = 0, new_bytes = 0, old_alloc = in->alloc;
	int rc = plan(sh, b, &old_bytes, err);

	for (size_t i = 0; rc == 0 && i < sh->njs; i++) {
		size_t len;

		rc = build_chunk(sh, sh->js[i], out, &len, err);
		if (rc < 0 || len == 0)
			continue;
		codec_chunk_key(key, sh->ino, sh->js[i]);
		rc = lsm_batch_put(b, key, sizeof(key), out, len);
		new_bytes += len;
	}
	if (rc < 0)
		return ns_err(rc, err);
	in->alloc = in->alloc + new_bytes > old_bytes ?
		    in->alloc + new_bytes - old_bytes : 0;
	in->size = sh->newsize;
	ns_touch(in, true, true);
	rc = ns_batch_inode(b, sh->ino, in, NULL, 0);
	if (rc == 0)
		rc = ns_commit_frees(sh->ns, b, err);
	if (rc == 0)
		ns_live_add(sh->ns, (int64_t)in->alloc - (int64_t)old_alloc);
	return rc;
}

static int check_shift(struct shift *sh, struct lsm_err *err)
{
	if (sh->off % NS_BLOCK || sh->len % NS_BLOCK)
		return lsm_err_set(err, -EINVAL, "fallocate: range not "
				   "aligned to %u-byte blocks", NS_BLOCK);
	if (sh->collapse && sh->off + sh->len >= sh->size)
		return lsm_err_set(err, -EINVAL, "collapse: range reaches "
				   "the end of the file");
	if (!sh->collapse && sh->off >= sh->size)
		return lsm_err_set(err, -EINVAL, "insert: at or past the end");
	if (!sh->collapse && sh->len > NS_MAX_FILE_BYTES - sh->size)
		return lsm_err_set(err, -EFBIG, "insert: file too large");
	sh->newsize = sh->collapse ? sh->size - sh->len : sh->size + sh->len;
	return 0;
}

int ns_falloc_shift(struct ns *ns, uint64_t ino, bool collapse, uint64_t off,
		    uint64_t len, struct lsm_err *err)
{
	struct shift sh = { .ns = ns, .ino = ino, .off = off, .len = len,
			    .collapse = collapse };
	struct lsm_batch *b = lsm_batch_new();
	uint8_t *out = malloc(ns->cs);
	struct codec_inode in;
	struct ns_lockset ls;
	int rc;

	sh.tmp = malloc(ns->cs);
	if (!b || !out || !sh.tmp) {
		rc = ns_enomem(err);
		goto out;
	}
	ns_lock(ns, &ls, &ino, 1, true);
	rc = ns_get_regular(ns, ino, &in, -ENODEV, err);
	sh.size = in.size;
	if (rc == 0)
		rc = check_shift(&sh, err);
	if (rc == 0)
		rc = shift_locked(&sh, &in, b, out, err);
	ns_unlock(ns, &ls);
out:
	free(sh.js);
	free(sh.tmp);
	free(out);
	lsm_batch_free(b);
	return ns_err(rc, err);
}
