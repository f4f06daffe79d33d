/* sst_reader.c - opens tables written by sst_builder.c: point lookups,
 * two-level iteration and a full verification.  The footer, filter, props
 * and index are read and checked at open and kept in memory (the index
 * decoded into an array of block handles); data blocks are read on demand
 * through the block cache.  No byte of the file is trusted: every offset,
 * length and checksum is checked before use. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "block.h"
#include "bloom.h"
#include "coding.h"
#include "crc.h"
#include "filename.h"
#include "mapcopy.h"
#include "memtable.h"
#include "sst.h"
#include "sst_priv.h"

/* ---- reading blocks ---- */

/* Inflates a zlib block BODY (CLEN bytes: varint32 raw length | stream). */
static int inflate_block(struct sst *t, uint64_t off, const uint8_t *body,
			 size_t clen, uint8_t **out, size_t *len,
			 struct lsm_err *err)
{
	const uint8_t *p;
	uint32_t raw;
	uLongf dlen;
	uint8_t *d;

	p = get_varint32(body, body + clen, &raw);
	if (!p || raw > SST_BLOCK_MAX_BYTES ||
	    raw > (uint64_t)clen * ZLIB_MAX_RATIO + 64)
		return lsm_err_set(err, -EUCLEAN, "%s: block at offset %llu: "
				   "bad compressed length", t->path,
				   (unsigned long long)off);
	d = malloc(raw ? raw : 1);
	if (!d)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	dlen = raw;
	if (uncompress(d, &dlen, p, (uLong)(body + clen - p)) != Z_OK ||
	    dlen != raw) {
		free(d);
		return lsm_err_set(err, -EUCLEAN, "%s: block at offset %llu: "
				   "zlib data corrupt", t->path,
				   (unsigned long long)off);
	}
	*out = d;
	*len = raw;
	return 0;
}

/* Asks for the first PREFETCH_MAX of the N bytes at P at once, so that
 * their cache misses overlap instead of following one another through a
 * lookup's dependent reads (a block in the page cache is rarely in the
 * CPU's caches). */
#define PREFETCH_MAX (16u << 10)
static inline void prefetch(const uint8_t *p, size_t n)
{
	if (n > PREFETCH_MAX)
		n = PREFETCH_MAX;
	for (size_t o = 0; o < n; o += 64)
		__builtin_prefetch(p + o);
}

static int check_block_size(struct sst *t, const struct handle *h,
			    struct lsm_err *err)
{
	if (h->size > SST_BLOCK_MAX_BYTES)
		return lsm_err_set(err, -EUCLEAN, "%s: block at offset %llu "
				   "too large", t->path,
				   (unsigned long long)h->off);
	return 0;
}

/* The read of the block at H failed with RC (-errno). */
static int read_failed(struct sst *t, const struct handle *h, int rc,
		       bool mapped, struct lsm_err *err)
{
	return lsm_err_set(err, rc, "%s: read of block at offset %llu failed: "
			   "%s%s", t->path, (unsigned long long)h->off,
			   strerror(-rc), mapped ? " (a page of the mapped "
			   "file could not be read)" : "");
}

/* Counts a read of the block at H, whose bytes and trailer are at P, and
 * checks its checksum and type. */
static int check_block(struct sst *t, const struct handle *h,
		       const uint8_t *p, struct lsm_err *err)
{
	unsigned long long off = (unsigned long long)h->off;
	size_t n = (size_t)h->size;

	STAT(t, block_reads, 1);
	STAT(t, block_read_bytes, n + SST_BLOCK_TRAILER);
	if (crc32_of(p, n + 1) != get_u32le(p + n + 1)) {
		STAT(t, checksum_errors, 1);
		return lsm_err_set(err, -EBADMSG, "%s: checksum mismatch in "
				   "block at offset %llu", t->path, off);
	}
	if (p[n] != BLOCK_RAW && p[n] != BLOCK_ZLIB)
		return lsm_err_set(err, -EUCLEAN, "%s: block at offset %llu "
				   "has unknown type %u", t->path, off, p[n]);
	return 0;
}

/* Reads the block at H with its trailer into P (h->size + trailer bytes),
 * copied out of the mapping when T is mapped and MAP is set, and checks
 * its checksum and type. */
static int read_checked(struct sst *t, const struct handle *h, uint8_t *p,
			bool map, struct lsm_err *err)
{
	size_t n = (size_t)h->size;
	bool mapped = map && t->map &&
		      h->off + n + SST_BLOCK_TRAILER <= t->data_end;
	int rc = mapped ? map_copy(p, t->map + h->off, n + SST_BLOCK_TRAILER) :
		 lsm_io_read_full(t->io, t->fd, p, n + SST_BLOCK_TRAILER,
				  h->off);

	return rc < 0 ? read_failed(t, h, rc, mapped, err)
		      : check_block(t, h, p, err);
}

/* Reads the block at H, checks its checksum and inflates it: *OUT gets
 * LEN malloc'ed bytes of contents. */
int sst_read_block(struct sst *t, const struct handle *h, uint8_t **out,
		      size_t *len, struct lsm_err *err)
{
	size_t n = (size_t)h->size;
	uint8_t *p;
	int rc = check_block_size(t, h, err);

	if (rc < 0)
		return rc;
	p = malloc(n + SST_BLOCK_TRAILER);
	if (!p)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	rc = read_checked(t, h, p, false, err);
	if (rc == 0 && p[n] == BLOCK_RAW) {
		*out = p;
		*len = n;
		return 0;
	}
	if (rc == 0)
		rc = inflate_block(t, h->off, p, n, out, len, err);
	free(p);
	return rc;
}

/* Parses the contents of block B read from H (the raw bytes at DATA when
 * it is compressed); on failure B is freed. */
static int parse_read(struct sst *t, const struct handle *h, struct block *b,
		      const uint8_t *data, struct block **out,
		      struct lsm_err *err)
{
	size_t n = (size_t)h->size, len;
	struct lsm_err e;
	uint8_t *raw;
	int rc;

	if (data[n] == BLOCK_RAW) {
		rc = block_parse(b, n, &e);
	} else {
		rc = inflate_block(t, h->off, data, n, &raw, &len, err);
		block_free(b);
		b = NULL;
		if (rc < 0)
			return rc;
		rc = block_new(raw, len, true, &b, &e);
		if (rc < 0)
			free(raw);
	}
	if (rc < 0) {
		block_free(b);
		return sst_block_err(t, h->off, rc, &e, err);
	}
	*out = b;
	return 0;
}

/* Reads and parses the block at H (not through the cache).  A raw block
 * takes one allocation, the block and its bytes together. */
int sst_read_parsed(struct sst *t, const struct handle *h, bool map,
		    struct block **out, struct lsm_err *err)
{
	struct block *b;
	uint8_t *p;
	int rc = check_block_size(t, h, err);

	if (rc < 0)
		return rc;
	b = block_alloc((size_t)h->size + SST_BLOCK_TRAILER, &p);
	if (!b)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	rc = read_checked(t, h, p, map, err);
	if (rc < 0) {
		block_free(b);
		return rc;
	}
	return parse_read(t, h, b, p, out, err);
}

static void block_deleter(void *value)
{
	block_free(value);
}

/* A block over the mapped bytes of the block at H (raw, its restart
 * array checked; the bytes stay the mapping's). */
static int block_in_map(struct sst *t, const struct handle *h,
			struct block **bp, struct lsm_err *err)
{
	struct lsm_err e;
	int rc = block_new(t->map + h->off, (size_t)h->size, false, bp, &e);

	if (rc < 0)
		return sst_block_err(t, h->off, rc, &e, err);
	return 0;
}

/* Data block I of a mapped table (sst_map), without a copy: its checksum
 * and type are checked in the mapping the first time, and then trusted
 * like a block in the cache.  0 with *BP a block over the mapping (the
 * caller frees it; the bytes stay the mapping's), 1 when the block is
 * compressed (read it as usual), or an error. */
static int map_block(struct sst *t, size_t i, struct block **bp,
		     struct lsm_err *err)
{
	const struct handle *h = &t->index[i].h;
	const uint8_t *p = t->map + h->off;
	size_t n = (size_t)h->size;
	int rc;

	if (atomic_load_explicit(&t->map_state[i], memory_order_acquire) ==
	    MAP_UNCHECKED) {
		rc = check_block_size(t, h, err);
		if (rc == 0)
			rc = check_block(t, h, p, err);
		if (rc < 0)
			return rc;
		atomic_store_explicit(&t->map_state[i],
				      p[n] == BLOCK_RAW ? MAP_CHECKED
							: MAP_READ,
				      memory_order_release);
		if (p[n] != BLOCK_RAW)
			return 1;
	}
	return block_in_map(t, h, bp, err);
}

int sst_map(struct sst *t, bool zero_copy, struct lsm_err *err)
{
	void *m;
	int rc;

	if (t->map)
		return 0;
	if (t->io != lsm_io_posix())
		return lsm_err_set(err, -EOPNOTSUPP, "%s: mapping needs the "
				   "POSIX I/O", t->path);
	if (t->data_end == 0)
		return 0;
	rc = map_copy_init();
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot guard a mapping: %s",
				   t->path, strerror(-rc));
	if (zero_copy) {
		t->map_state = calloc(t->nblocks, sizeof(*t->map_state));
		if (!t->map_state)
			return lsm_err_set(err, -ENOMEM, "%s: out of memory",
					   t->path);
	}
	m = mmap(NULL, (size_t)t->data_end, PROT_READ, MAP_SHARED, t->fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		free(t->map_state);
		t->map_state = NULL;
		return lsm_err_set(err, rc, "%s: cannot map: %s", t->path,
				   strerror(-rc));
	}
	t->map = m;
	return 0;
}

/* Gets data block I: from the mapping, the cache, or read (and cached when
 * FILL and the cache admits it: cache_admit takes a block on its second
 * miss in a while).  On success *HP is the cache handle or NULL when the
 * caller owns *BP. */
int sst_load_block(struct sst *t, size_t i, bool fill, struct block **bp,
		      struct cache_handle **hp, struct lsm_err *err)
{
	const struct handle *h = &t->index[i].h;
	struct cache_handle *ch = NULL;
	struct block *b;
	int rc;

	/* FILL is false for compactions' one pass over a table: faulting
	 * its pages in through the mapping costs more than pread. */
	if (t->map_state && fill && atomic_load_explicit(&t->map_state[i],
					   memory_order_acquire) != MAP_READ) {
		*hp = NULL;
		rc = map_block(t, i, bp, err);
		if (rc != 1)
			return rc;
	}
	if (t->cache) {
		ch = cache_lookup(t->cache, t->id, h->off);
		if (ch) {
			*bp = cache_value(ch);
			*hp = ch;
			return 0;
		}
	}
	/* compactions (!FILL) read through pread: their one pass over a
	 * table faults pages in through the mapping at a higher cost */
	rc = sst_read_parsed(t, h, fill, &b, err);
	if (rc < 0)
		return rc;
	if (t->cache && fill && cache_admit(t->cache, t->id, h->off)) {
		ch = cache_insert(t->cache, t->id, h->off, b, block_size(b),
				  block_deleter);
		if (!ch)
			return lsm_err_set(err, -ENOMEM, "%s: out of memory",
					   t->path);
	}
	*bp = b;
	*hp = ch;
	return 0;
}

/* A raw block in the mapping is copied into a buffer the iterator keeps
 * for its next block instead of a fresh allocation that goes through the
 * cache: on a seek of four sorted runs the cache's lookup, admission,
 * eviction and the allocator took about a third of loading a block, and
 * the cache mostly missed (blocks of a data set beyond it).  A mapped
 * block is in the page cache, and point lookups already read raw blocks
 * in the mapping without the block cache.  The checks are those of every
 * read: a guarded copy (-EIO for a page that cannot be read), the
 * checksum, the restart array. */
int sst_load_block_spare(struct sst *t, size_t i, struct block **spare,
			 size_t *cap, struct lsm_err *err)
{
	const struct handle *h = &t->index[i].h;
	size_t n = (size_t)h->size, need;
	struct lsm_err e;
	uint8_t *p;
	int rc;

	if (!t->map || t->map_state ||
	    atomic_load_explicit(&t->zlib_seen, memory_order_relaxed))
		return 1;
	rc = check_block_size(t, h, err);
	if (rc < 0)
		return rc;
	need = n + SST_BLOCK_TRAILER;
	if (h->off + need > t->data_end)
		return 1; /* read_checked would pread it; so does the cache */
	if (!*spare || *cap < need) {
		size_t want = need < SST_SPARE_MIN ? SST_SPARE_MIN : need;
		struct block *b = block_alloc(want, &p);

		if (!b)
			return lsm_err_set(err, -ENOMEM, "%s: out of memory",
					   t->path);
		block_free(*spare);
		*spare = b;
		*cap = want;
	}
	p = block_buffer(*spare);
	rc = read_checked(t, h, p, true, err);
	if (rc < 0)
		return rc;
	if (p[n] != BLOCK_RAW) {
		atomic_store_explicit(&t->zlib_seen, true,
				      memory_order_relaxed);
		return 1;
	}
	rc = block_parse(*spare, n, &e);
	if (rc < 0)
		return sst_block_err(t, h->off, rc, &e, err);
	return 0;
}

void sst_unload_block(struct sst *t, struct block *b,
			 struct cache_handle *h)
{
	if (h)
		cache_release(t->cache, h);
	else
		block_free(b);
}

/* ---- opening ---- */

static int read_footer(struct sst *t, uint64_t size, struct lsm_err *err)
{
	uint8_t f[SST_FOOTER_BYTES];
	uint64_t foff = size - SST_FOOTER_BYTES, end = 0;
	int rc;

	if (size < SST_FOOTER_BYTES)
		return lsm_err_set(err, -EUCLEAN, "%s: %llu bytes is too short "
				   "for a table", t->path,
				   (unsigned long long)size);
	rc = lsm_io_read_full(t->io, t->fd, f, sizeof(f), foff);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: read of footer at offset %llu "
				   "failed: %s", t->path,
				   (unsigned long long)foff, strerror(-rc));
	if (get_u64le(f + 52) != SST_MAGIC)
		return lsm_err_set(err, -EUCLEAN, "%s: bad magic at offset "
				   "%llu: not a table", t->path,
				   (unsigned long long)foff + 52);
	if (get_u32le(f + 48) != SST_VERSION)
		return lsm_err_set(err, -EUCLEAN, "%s: unsupported table "
				   "version %u", t->path, get_u32le(f + 48));
	if (crc32_of(f, 60) != get_u32le(f + 60)) {
		STAT(t, checksum_errors, 1);
		return lsm_err_set(err, -EBADMSG, "%s: footer checksum "
				   "mismatch at offset %llu", t->path,
				   (unsigned long long)foff);
	}
	/* filter, props and index follow each other, before the footer. */
	for (int i = 0; i < 3; i++) {
		struct handle *h = &t->meta[i];

		h->off = get_u64le(f + 16 * i);
		h->size = get_u64le(f + 16 * i + 8);
		if (h->off < end || h->off > foff ||
		    h->size > foff - h->off ||
		    foff - h->off - h->size < SST_BLOCK_TRAILER)
			return lsm_err_set(err, -EUCLEAN, "%s: footer at "
					   "offset %llu: bad block handle %d",
					   t->path, (unsigned long long)foff,
					   i);
		end = h->off + h->size + SST_BLOCK_TRAILER;
	}
	t->data_end = t->meta[0].off;
	return 0;
}

/* Reads the filter into memory aligned to a cache line, so that a lookup
 * in a blocked filter touches one line, not two. */
static int read_filter(struct sst *t, struct lsm_err *err)
{
	void *aligned;
	int rc = sst_read_block(t, &t->meta[0], &t->filter, &t->filter_len,
				err);

	if (rc < 0 || t->filter_len == 0 ||
	    (uintptr_t)t->filter % BLOOM_BLOCK_BYTES == 0)
		return rc;
	if (posix_memalign(&aligned, BLOOM_BLOCK_BYTES, t->filter_len) != 0)
		return 0; /* it still works unaligned */
	memcpy(aligned, t->filter, t->filter_len);
	free(t->filter);
	t->filter = aligned;
	return 0;
}

static int set_prop(struct sst_props *p, const uint8_t *k, size_t klen,
		    uint64_t v)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "data_blocks", offsetof(struct sst_props, data_blocks) },
		{ "data_bytes", offsetof(struct sst_props, data_bytes) },
		{ "deletions", offsetof(struct sst_props, deletions) },
		{ "entries", offsetof(struct sst_props, entries) },
		{ "largest_seq", offsetof(struct sst_props, largest_seq) },
		{ "raw_key_bytes", offsetof(struct sst_props, raw_key_bytes) },
		{ "raw_value_bytes",
		  offsetof(struct sst_props, raw_value_bytes) },
		{ "smallest_seq", offsetof(struct sst_props, smallest_seq) },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == klen &&
		    !memcmp(names[i].name, k, klen)) {
			memcpy((char *)p + names[i].off, &v, sizeof(v));
			return 0;
		}
	}
	return 0; /* a property from a later version: ignored */
}

/* Decodes the props block; unknown names are skipped, missing ones 0. */
static int read_props(struct sst *t, struct lsm_err *err)
{
	struct block *b;
	struct iiter *it;
	int rc = sst_read_parsed(t, &t->meta[1], false, &b, err);

	if (rc < 0)
		return rc;
	it = block_iter(b, sst_bytewise_cmp, NULL, NULL);
	if (!it) {
		block_free(b);
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	}
	for (iiter_seek_first(it); iiter_valid(it) && !rc; iiter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = iiter_key(it, &klen);
		const uint8_t *v = iiter_value(it, &vlen);
		uint64_t x = 0;

		if (get_varint64(v, v + vlen, &x) != v + vlen)
			rc = -EUCLEAN;
		else
			set_prop(&t->props, k, klen, x);
	}
	if (!rc && iiter_status(it, NULL) < 0)
		rc = iiter_status(it, NULL);
	iiter_free(it);
	block_free(b);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: malformed props block at "
				   "offset %llu", t->path,
				   (unsigned long long)t->meta[1].off);
	return 0;
}

/* Checks index entry N (key K, handle value V) against the one before. */
static int check_index_entry(struct sst *t, size_t n, const uint8_t *k,
			     size_t klen, const uint8_t *v, size_t vlen,
			     struct handle *h)
{
	const uint8_t *end = v + vlen;
	uint64_t prev_end = 0;
	size_t plen;

	if (!ikey_valid(k, klen))
		return -EUCLEAN;
	if (n > 0) {
		const uint8_t *pk = sst_index_key(t, n - 1, &plen);

		if (ikey_cmp(pk, plen, k, klen) >= 0)
			return -EUCLEAN;
		prev_end = t->index[n - 1].h.off + t->index[n - 1].h.size +
			   SST_BLOCK_TRAILER;
	}
	v = get_varint64(v, end, &h->off);
	v = v ? get_varint64(v, end, &h->size) : NULL;
	if (v != end || h->off < prev_end || h->off > t->data_end ||
	    t->data_end - h->off < h->size ||
	    t->data_end - h->off - h->size < SST_BLOCK_TRAILER)
		return -EUCLEAN;
	return 0;
}

/* Appends one index entry; the key arena may move (offsets do not). */
static int push_index(struct sst *t, struct buf *keys, size_t *cap,
		      const uint8_t *k, size_t klen, const struct handle *h)
{
	if (t->nblocks == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct index_entry *e = realloc(t->index, ncap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->index = e;
		*cap = ncap;
	}
	t->index[t->nblocks].h = *h;
	t->index[t->nblocks].koff = keys->len;
	t->index[t->nblocks].klen = klen;
	buf_append(keys, k, klen);
	if (!buf_ok(keys))
		return -ENOMEM;
	t->keys = keys->p;
	t->nblocks++;
	return 0;
}

static int decode_index(struct sst *t, struct iiter *it, struct buf *keys)
{
	size_t cap = 0;
	int rc = 0;

	for (iiter_seek_first(it); iiter_valid(it) && !rc; iiter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = iiter_key(it, &klen);
		const uint8_t *v = iiter_value(it, &vlen);
		struct handle h;

		rc = check_index_entry(t, t->nblocks, k, klen, v, vlen, &h);
		if (!rc)
			rc = push_index(t, keys, &cap, k, klen, &h);
	}
	if (!rc)
		rc = iiter_status(it, NULL);
	if (!rc && t->nblocks == 0)
		rc = -EUCLEAN;
	return rc;
}

/* 8 bytes of user key U (ULEN bytes) from SKIP on, big-endian, zero past
 * its end: a strictly smaller value means a strictly smaller key. */
static uint64_t key_prefix(const uint8_t *u, size_t ulen, size_t skip)
{
	uint64_t v = 0;

	for (size_t i = skip; i < skip + 8; i++)
		v = v << 8 | (i < ulen ? u[i] : 0);
	return v;
}

/* Builds t->ipfx, which lets the index search compare one word per step
 * (the index keys' own bytes sit elsewhere: a cache miss or two per step
 * in a table of thousands of blocks).  Index keys ascend, so the prefix
 * they all share is that of the first and the last.  Without memory, or
 * with a key too short to hold a tag (damage), the search compares whole
 * keys as before. */
static void build_index_prefixes(struct sst *t)
{
	const uint8_t *f, *l, *k;
	size_t flen, llen, klen, skip = 0;

	for (size_t i = 0; i < t->nblocks; i++)
		if (t->index[i].klen < IKEY_TAG_BYTES)
			return;
	f = sst_index_key(t, 0, &flen);
	l = sst_index_key(t, t->nblocks - 1, &llen);
	flen -= IKEY_TAG_BYTES;
	llen -= IKEY_TAG_BYTES;
	while (skip < flen && skip < llen && f[skip] == l[skip])
		skip++;
	t->ipfx = malloc(t->nblocks * sizeof(*t->ipfx));
	if (!t->ipfx)
		return;
	for (size_t i = 0; i < t->nblocks; i++) {
		k = sst_index_key(t, i, &klen);
		t->ipfx[i] = key_prefix(k, klen - IKEY_TAG_BYTES, skip);
	}
	t->ipfx_skip = skip;
}

static int read_index(struct sst *t, struct lsm_err *err)
{
	struct buf keys = BUF_INIT;
	struct block *b;
	struct iiter *it;
	int rc = sst_read_parsed(t, &t->meta[2], false, &b, err);

	if (rc < 0)
		return rc;
	it = block_iter(b, sst_safe_ikey_cmp, NULL, NULL);
	rc = it ? decode_index(t, it, &keys) : -ENOMEM;
	iiter_free(it);
	block_free(b);
	t->keys = keys.p; /* freed by sst_close, even on error */
	if (rc == -ENOMEM)
		return lsm_err_set(err, rc, "%s: out of memory", t->path);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: malformed index block at "
				   "offset %llu (entry %zu)", t->path,
				   (unsigned long long)t->meta[2].off,
				   t->nblocks);
	build_index_prefixes(t);
	return 0;
}

/* The smallest key: the first key of the first data block. */
static int read_smallest(struct sst *t, struct lsm_err *err)
{
	struct cache_handle *h;
	struct block *b;
	struct iiter *it;
	size_t klen;
	const uint8_t *k;
	int rc = sst_load_block(t, 0, true, &b, &h, err);

	if (rc < 0)
		return rc;
	it = block_iter(b, sst_safe_ikey_cmp, NULL, NULL);
	if (it)
		iiter_seek_first(it);
	if (!it) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	} else if (!sst_at_ikey(it, &k, &klen)) {
		rc = lsm_err_set(err, -EUCLEAN, "%s: no valid first key in "
				 "block at offset %llu", t->path,
				 (unsigned long long)t->index[0].h.off);
	} else if (!(t->smallest = mem_dup(k, klen))) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", t->path);
	} else {
		t->smallest_len = klen;
	}
	iiter_free(it);
	sst_unload_block(t, b, h);
	return rc;
}

static int sst_load(struct sst *t, struct lsm_err *err)
{
	uint64_t size;
	int rc = t->io->fsize(t->io, t->fd, &size);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot get size: %s", t->path,
				   strerror(-rc));
	t->props.file_size = size;
	rc = read_footer(t, size, err);
	if (!rc)
		rc = read_index(t, err);
	if (!rc)
		rc = read_filter(t, err);
	if (!rc)
		rc = read_props(t, err);
	if (!rc)
		rc = read_smallest(t, err);
	return rc;
}

void sst_file_id(const struct sst *t, struct file_id *id)
{
	/* descriptors of lsm_io_posix (and of the fault layer, which wraps
	 * it) are the kernel's */
	file_id_of_fd(t->fd, id);
}

int sst_open(const struct lsm_io *io, const char *path, uint64_t id,
	     struct cache *cache, struct stats *st, struct sst **out,
	     struct lsm_err *err)
{
	struct sst *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
	t->io = io;
	t->id = id;
	t->cache = cache;
	t->st = st;
	t->fd = -1;
	t->path = mem_dup(path, strlen(path) + 1);
	if (!t->path) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out_close;
	}
	rc = io->open(io, path, O_RDONLY | O_CLOEXEC, 0, &t->fd);
	if (rc < 0) {
		t->fd = -1;
		lsm_err_set(err, rc, "%s: cannot open table: %s", path,
			    strerror(-rc));
		goto out_close;
	}
	rc = sst_load(t, err);
	if (rc < 0)
		goto out_close;
	STAT(t, table_opens, 1);
	*out = t;
	return 0;
out_close:
	sst_close(t);
	return rc;
}

void sst_close(struct sst *t)
{
	if (!t)
		return;
	if (t->map)
		munmap((void *)t->map, (size_t)t->data_end);
	free(t->map_state);
	if (t->fd >= 0)
		t->io->close(t->io, t->fd);
	free(t->index);
	free(t->keys);
	free(t->ipfx);
	free(t->filter);
	free(t->smallest);
	free(t->path);
	free(t);
}

const struct sst_props *sst_get_props(const struct sst *t)
{
	return &t->props;
}

const uint8_t *sst_smallest(const struct sst *t, size_t *len)
{
	*len = t->smallest_len;
	return t->smallest;
}

const uint8_t *sst_largest(const struct sst *t, size_t *len)
{
	return sst_index_key(t, t->nblocks - 1, len);
}

/* First block whose last key is >= KEY (nblocks when none). */
size_t sst_index_lower_bound(const struct sst *t, const uint8_t *key,
				size_t klen)
{
	size_t lo = 0, hi = t->nblocks;
	bool fast = t->ipfx && klen >= IKEY_TAG_BYTES;
	uint64_t kp = 0;

	if (fast) {
		/* KEY against the prefix all index keys share: before or
		 * after all of them, or the words decide (whole keys only
		 * where the words are equal) */
		size_t ulen = klen - IKEY_TAG_BYTES, skip = t->ipfx_skip;
		int c = memcmp(key, t->keys + t->index[0].koff,
			       ulen < skip ? ulen : skip);

		if (c < 0 || (c == 0 && ulen < skip))
			return 0;
		if (c > 0)
			return t->nblocks;
		kp = key_prefix(key, ulen, skip);
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, mlen;
		const uint8_t *mk;
		int c;

		if (fast && t->ipfx[mid] != kp) {
			c = t->ipfx[mid] < kp ? -1 : 1;
		} else {
			mk = sst_index_key(t, mid, &mlen);
			c = sst_safe_ikey_cmp(mk, mlen, key, klen);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- point lookups ---- */

/* Whether the entry before IT's position (IT in block I) has user key
 * UKEY: then the user key is in the table, only newer than the snapshot. */
static bool ukey_just_before(const struct sst *t, size_t i,
			     struct block_cursor *c, const uint8_t *ukey,
			     size_t ulen)
{
	const uint8_t *k;
	size_t klen;

	block_cursor_prev(c);
	if (block_cursor_valid(c))
		k = block_cursor_key(c, &klen);
	else if (i > 0 && block_cursor_status(c, NULL) == 0)
		k = sst_index_key(t, i - 1, &klen);
	else
		return false;
	return klen >= IKEY_TAG_BYTES &&
	       !ukey_cmp(k, ikey_ulen(klen), ukey, ulen);
}

/* Seeks IKEY in block I, parsed into B, with cursor C, and classifies
 * what it finds.  *PRESENT tells whether IKEY's user key is in the table
 * at all (for the filter stats). */
static int lookup_in_block(struct sst *t, size_t i, const struct block *b,
			   struct block_cursor *c, const uint8_t *ikey,
			   size_t iklen, struct sst_value *dst, bool *present,
			   struct lsm_err *err)
{
	unsigned long long off = (unsigned long long)t->index[i].h.off;
	size_t klen, vlen, ulen = ikey_ulen(iklen);
	const uint8_t *k, *v;

	block_cursor_rebind(c, b);
	block_cursor_seek(c, ikey, iklen);
	*present = true;
	k = block_cursor_key(c, &klen);
	if (!block_cursor_valid(c) || !ikey_valid(k, klen))
		return lsm_err_set(err, -EUCLEAN, "%s: malformed data block at "
				   "offset %llu", t->path, off);
	if (ukey_cmp(k, ikey_ulen(klen), ikey, ulen)) {
		*present = ukey_just_before(t, i, c, ikey, ulen);
		return LOOKUP_MISSING;
	}
	if (ikey_type(k, klen) == IKEY_DELETE)
		return LOOKUP_DELETED;
	v = block_cursor_value(c, &vlen);
	if (ikey_type(k, klen) == IKEY_VALUE_PTR) {
		if (vlen > sizeof(dst->ptr))
			return lsm_err_set(err, -EUCLEAN, "%s: malformed value "
					   "pointer in the data block at offset "
					   "%llu", t->path, off);
		memcpy(dst->ptr, v, vlen);
		dst->ptr_len = vlen;
		dst->is_ptr = true;
		return LOOKUP_FOUND;
	}
	return sst_value_put(dst, v, vlen) == 0
		       ? LOOKUP_FOUND
		       : lsm_err_set(err, -ENOMEM, "%s: out of memory",
				     t->path);
}

/* A lookup in a raw data block of a mapped table, in place: map_guard
 * runs it, so a page that cannot be read fails it with -EIO.  What it
 * allocates (the block, the cursor's key) stays here for the caller to
 * free, since a fault cuts it short. */
enum { MAPPED_READ_USUAL = 3 }; /* not a LOOKUP_* */

struct mapped_get {
	struct sst *t;
	size_t i;
	const uint8_t *ikey;
	size_t iklen;
	struct sst_value *dst;
	bool present;
	struct block *b;
	struct block_cursor c;
	struct lsm_err *err;
};

static int mapped_get_fn(void *arg)
{
	struct mapped_get *g = arg;
	struct sst *t = g->t;
	const struct handle *h = &t->index[g->i].h;
	const uint8_t *p = t->map + h->off;
	size_t n = (size_t)h->size;
	int rc, checked;

	/* a compressed block (or a damaged type byte) is read as usual,
	 * inflated into the cache */
	if (p[n] != BLOCK_RAW)
		return MAPPED_READ_USUAL;
	/* The lookup runs first (it trusts nothing in the block), the
	 * checksum after it: damage in the page at any moment of the lookup
	 * is still there for the check, so the lookup's result is given only
	 * when the bytes it read pass it.  The prefetch makes the block's
	 * cache misses overlap (the checksum reads all of it anyway). */
	prefetch(p, n + SST_BLOCK_TRAILER);
	rc = block_in_map(t, h, &g->b, g->err);
	if (rc == 0)
		rc = lookup_in_block(t, g->i, g->b, &g->c, g->ikey, g->iklen,
				     g->dst, &g->present, g->err);
	checked = check_block(t, h, p, g->err);
	return checked < 0 ? checked : rc;
}

/* Block I of a mapped table, looked up where it lies, and the value copied
 * out: no copy of the block, no trip through the block cache.  Its
 * checksum is checked in the mapping at every lookup, after it (nothing is
 * trusted from an earlier one).  MAPPED_READ_USUAL when the block must be
 * read as usual (compressed, or not wholly inside the mapping). */
static int get_in_mapped_block(struct sst *t, size_t i, const uint8_t *ikey,
			       size_t iklen, struct sst_value *dst,
			       bool *present, struct lsm_err *err)
{
	const struct handle *h = &t->index[i].h;
	struct mapped_get g = { .t = t, .i = i, .ikey = ikey, .iklen = iklen,
				.dst = dst, .err = err };
	int rc = check_block_size(t, h, err);

	if (rc < 0)
		return rc;
	if (h->off + h->size + SST_BLOCK_TRAILER > t->data_end)
		return MAPPED_READ_USUAL;
	block_cursor_init(&g.c, NULL, sst_safe_ikey_cmp);
	rc = map_guard(t->map + h->off, (size_t)h->size + SST_BLOCK_TRAILER,
		       mapped_get_fn, &g);
	if (rc == -EIO) /* only the guard fails so */
		read_failed(t, h, rc, true, err);
	block_cursor_done(&g.c);
	block_free(g.b);
	*present = g.present;
	return rc;
}

/* Seeks IKEY in block I and classifies what it finds.  *PRESENT tells
 * whether IKEY's user key is in the table at all (for the filter stats). */
static int get_in_block(struct sst *t, size_t i, const uint8_t *ikey,
			size_t iklen, struct sst_value *dst, bool *present,
			struct lsm_err *err)
{
	struct cache_handle *h;
	struct block_cursor c;
	struct block *b;
	int rc;

	if (t->map) {
		rc = get_in_mapped_block(t, i, ikey, iklen, dst, present, err);
		if (rc != MAPPED_READ_USUAL)
			return rc;
	}
	rc = sst_load_block(t, i, true, &b, &h, err);
	if (rc < 0)
		return rc;
	block_cursor_init(&c, NULL, sst_safe_ikey_cmp);
	rc = lookup_in_block(t, i, b, &c, ikey, iklen, dst, present, err);
	block_cursor_done(&c);
	sst_unload_block(t, b, h);
	return rc;
}

int sst_get(struct sst *t, const uint8_t *ikey, size_t iklen, struct buf *val,
	    struct lsm_err *err)
{
	struct sst_value dst = { .buf = val };
	int rc = sst_get_to(t, ikey, iklen, sst_key_hash(ikey, iklen), &dst,
			    err);

	/* A pointer into the value log: its bytes are the value here, as an
	 * iterator shows them (the caller follows it, vlog.h); VAL must not
	 * keep what it held before. */
	if (rc == LOOKUP_FOUND && dst.is_ptr) {
		buf_clear(val);
		buf_append(val, dst.ptr, dst.ptr_len);
		if (!buf_ok(val))
			rc = lsm_err_set(err, -ENOMEM, "%s: out of memory",
					 t->path);
	}
	return rc;
}

uint32_t sst_key_hash(const uint8_t *ikey, size_t iklen)
{
	return iklen < IKEY_TAG_BYTES ? 0 : bloom_hash(ikey, ikey_ulen(iklen));
}

int sst_get_to(struct sst *t, const uint8_t *ikey, size_t iklen,
	       uint32_t hash, struct sst_value *dst, struct lsm_err *err)
{
	bool filtered = t->filter_len > 0, present = false;
	size_t i, klen, ulen = ikey_ulen(iklen);
	const uint8_t *k;
	int rc;

	dst->block_missed = false;
	if (iklen < IKEY_TAG_BYTES)
		return lsm_err_set(err, -EINVAL, "%s: lookup key too short",
				   t->path);
	if (filtered) {
		STAT(t, bloom_checks, 1);
		if (!bloom_may_contain(t->filter, t->filter_len, hash)) {
			STAT(t, bloom_negatives, 1);
			return LOOKUP_MISSING;
		}
	}
	i = sst_index_lower_bound(t, ikey, iklen);
	if (i < t->nblocks) {
		rc = get_in_block(t, i, ikey, iklen, dst, &present, err);
		dst->block_missed = rc == LOOKUP_MISSING;
	} else {
		rc = LOOKUP_MISSING;  /* past the largest key */
		k = sst_index_key(t, t->nblocks - 1, &klen);
		present = !ukey_cmp(k, ikey_ulen(klen), ikey, ulen);
	}
	if (filtered && rc == LOOKUP_MISSING && !present)
		STAT(t, bloom_false_positives, 1);
	return rc;
}
