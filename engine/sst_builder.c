/* sst_builder.c - writes a table (format in sst.h and engine/doc/table.md)
 * from internal keys added in sorted order: data blocks as they fill, then
 * the bloom filter, the properties, the index and the footer.  Output is
 * buffered into writes of ~64 KiB through the lsm_io seam; the file is
 * fsynced before finish returns (syncing its directory is the caller's). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "block.h"
#include "bloom.h"
#include "coding.h"
#include "crc.h"
#include "sst.h"
#include "writeback.h"

#define SST_WRITE_BYTES (64 * 1024)

enum { BLOCK_RAW = 0, BLOCK_ZLIB = 1 };

struct sst_builder {
	const struct lsm_io *io;
	char *path;
	int fd;                    /* -1 once closed */
	struct sst_options o;
	struct block_builder *data, *index;
	struct buf wbuf;           /* output not yet written */
	uint64_t written;          /* file offset of wbuf.p[0] */
	struct writeback wb;       /* for the fsync at the end */
	struct buf zbuf;           /* compressed block */
	z_stream zs;
	bool zs_ready;
	struct buf first, last;    /* smallest and largest keys added */
	uint32_t *hashes;          /* bloom hashes of distinct user keys */
	size_t nhashes, hashes_cap;
	struct sst_props props;
	int status;                /* sticky error, described by err */
	struct lsm_err err;
};

static int sticky(struct sst_builder *b, struct lsm_err *err)
{
	if (err && b->status)
		*err = b->err;
	return b->status;
}

static int oom(struct sst_builder *b, struct lsm_err *err)
{
	b->status = lsm_err_set(&b->err, -ENOMEM, "%s: out of memory",
				b->path);
	return sticky(b, err);
}

static void builder_free(struct sst_builder *b)
{
	block_builder_free(b->data);
	block_builder_free(b->index);
	buf_free(&b->wbuf);
	buf_free(&b->zbuf);
	buf_free(&b->first);
	buf_free(&b->last);
	if (b->zs_ready)
		deflateEnd(&b->zs);
	free(b->hashes);
	free(b->path);
	free(b);
}

int sst_builder_new(const struct lsm_io *io, const char *path,
		    const struct sst_options *o, struct sst_builder **out,
		    struct lsm_err *err)
{
	struct sst_builder *b = calloc(1, sizeof(*b));
	unsigned ri = o->restart_interval ? o->restart_interval
					  : BLOCK_RESTART_INTERVAL;
	int rc;

	if (!b)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
	b->io = io;
	b->o = *o;
	if (b->o.block_bytes > SST_BLOCK_CUT_MAX)
		b->o.block_bytes = SST_BLOCK_CUT_MAX;
	b->fd = -1;
	b->path = mem_dup(path, strlen(path) + 1);
	b->data = block_builder_new(ri);
	b->index = block_builder_new(BLOCK_RESTART_INTERVAL);
	if (!b->path || !b->data || !b->index) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	rc = io->open(io, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0644, &b->fd);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: cannot create table: %s", path,
			    strerror(-rc));
		goto out_free;
	}
	*out = b;
	return 0;
out_free:
	builder_free(b);
	return rc;
}

static int flush_wbuf(struct sst_builder *b)
{
	int rc;

	if (b->wbuf.len == 0)
		return 0;
	rc = lsm_io_write_full(b->io, b->fd, b->wbuf.p, b->wbuf.len,
			       b->written);
	if (rc < 0) {
		b->status = lsm_err_set(&b->err, rc,
			"%s: write of %zu bytes at offset %llu failed: %s",
			b->path, b->wbuf.len, (unsigned long long)b->written,
			strerror(-rc));
		return rc;
	}
	b->written += b->wbuf.len;
	buf_clear(&b->wbuf);
	writeback_note(&b->wb, b->io, b->fd, b->written);
	return 0;
}

/* Compresses RAW into zbuf as varint32 raw length | zlib stream.  False
 * when zlib fails (the block is then stored raw). */
static bool zlib_compress(struct sst_builder *b, const uint8_t *raw,
			  size_t len)
{
	uint8_t *p;
	int zrc;

	if (!b->zs_ready) {
		if (deflateInit(&b->zs, b->o.zlib_level) != Z_OK)
			return false;
		b->zs_ready = true;
	} else if (deflateReset(&b->zs) != Z_OK) {
		return false;
	}
	buf_clear(&b->zbuf);
	if (!buf_reserve(&b->zbuf, VARINT32_MAX_BYTES + deflateBound(&b->zs,
								    len))) {
		b->zbuf.oom = false;
		return false;
	}
	p = put_varint32(b->zbuf.p, (uint32_t)len);
	b->zs.next_in = (Bytef *)raw;
	b->zs.avail_in = (uInt)len;
	b->zs.next_out = p;
	b->zs.avail_out = (uInt)(b->zbuf.cap - (size_t)(p - b->zbuf.p));
	zrc = deflate(&b->zs, Z_FINISH);
	if (zrc != Z_STREAM_END)
		return false;
	b->zbuf.len = (size_t)(b->zs.next_out - b->zbuf.p);
	return true;
}

/* Appends block CONTENTS + trailer to the output; *OFF and *SIZE get its
 * handle.  Data blocks may be compressed when that saves >= 12.5%. */
static int emit_block(struct sst_builder *b, const uint8_t *raw, size_t len,
		      bool may_compress, uint64_t *off, uint64_t *size)
{
	const uint8_t *body = raw;
	uint8_t trailer[SST_BLOCK_TRAILER];
	size_t blen = len;

	trailer[0] = BLOCK_RAW;
	if (may_compress && b->o.compression == LSM_COMPRESS_ZLIB &&
	    zlib_compress(b, raw, len) && b->zbuf.len <= len - len / 8) {
		body = b->zbuf.p;
		blen = b->zbuf.len;
		trailer[0] = BLOCK_ZLIB;
	}
	put_u32le(trailer + 1, crc32_extend(crc32_of(body, blen), trailer, 1));
	*off = b->written + b->wbuf.len;
	*size = blen;
	buf_append(&b->wbuf, body, blen);
	buf_append(&b->wbuf, trailer, sizeof(trailer));
	if (!buf_ok(&b->wbuf)) {
		b->status = lsm_err_set(&b->err, -ENOMEM, "%s: out of memory",
					b->path);
		return -ENOMEM;
	}
	return b->wbuf.len >= SST_WRITE_BYTES ? flush_wbuf(b) : 0;
}

static int flush_data_block(struct sst_builder *b)
{
	uint8_t hv[2 * VARINT64_MAX_BYTES], *p = hv;
	const uint8_t *raw, *lk;
	size_t len, lklen;
	uint64_t off, size;
	int rc;

	raw = block_builder_finish(b->data, &len);
	if (!raw)
		goto oom;
	rc = emit_block(b, raw, len, true, &off, &size);
	if (rc < 0)
		return rc;
	p = put_varint64(p, off);
	p = put_varint64(p, size);
	lk = block_builder_last_key(b->data, &lklen);
	if (block_builder_add(b->index, lk, lklen, hv, (size_t)(p - hv)) < 0)
		goto oom;
	b->props.data_blocks++;
	block_builder_reset(b->data);
	return 0;
oom:
	b->status = lsm_err_set(&b->err, -ENOMEM, "%s: out of memory",
				b->path);
	return -ENOMEM;
}

static bool add_hash(struct sst_builder *b, uint32_t h)
{
	if (b->nhashes == b->hashes_cap) {
		size_t cap = b->hashes_cap ? 2 * b->hashes_cap : 1024;
		uint32_t *n = realloc(b->hashes, cap * sizeof(*n));

		if (!n)
			return false;
		b->hashes = n;
		b->hashes_cap = cap;
	}
	b->hashes[b->nhashes++] = h;
	return true;
}

static void count_entry(struct sst_builder *b, const uint8_t *ikey,
			size_t iklen, size_t vlen)
{
	uint64_t seq = ikey_seq(ikey, iklen);
	struct sst_props *p = &b->props;

	if (p->entries == 0 || seq < p->smallest_seq)
		p->smallest_seq = seq;
	if (p->entries == 0 || seq > p->largest_seq)
		p->largest_seq = seq;
	p->entries++;
	if (ikey_type(ikey, iklen) == IKEY_DELETE)
		p->deletions++;
	p->raw_key_bytes += iklen;
	p->raw_value_bytes += vlen;
}

/* Checks IKEY and records its user key for the filter. */
static int admit_key(struct sst_builder *b, const uint8_t *ikey,
		     size_t iklen, struct lsm_err *err)
{
	size_t ulen = ikey_ulen(iklen);

	if (!ikey_valid(ikey, iklen)) {
		b->status = lsm_err_set(&b->err, -EINVAL,
			"%s: malformed internal key (%zu bytes)", b->path,
			iklen);
		return sticky(b, err);
	}
	if (b->props.entries &&
	    ikey_cmp(ikey, iklen, b->last.p, b->last.len) <= 0) {
		b->status = lsm_err_set(&b->err, -EINVAL,
			"%s: key %llu added out of order", b->path,
			(unsigned long long)b->props.entries);
		return sticky(b, err);
	}
	if (!b->o.bloom_bits_per_key)
		return 0;
	if (b->props.entries && ukey_cmp(ikey, ulen, b->last.p,
					 ikey_ulen(b->last.len)) == 0)
		return 0;
	return add_hash(b, bloom_hash(ikey, ulen)) ? 0 : oom(b, err);
}

int sst_builder_add(struct sst_builder *b, const uint8_t *ikey, size_t iklen,
		    const uint8_t *val, size_t vlen, struct lsm_err *err)
{
	int rc;

	if (b->status)
		return sticky(b, err);
	rc = admit_key(b, ikey, iklen, err);
	if (rc < 0)
		return rc;
	rc = block_builder_add(b->data, ikey, iklen, val, vlen);
	if (rc < 0) {
		b->status = lsm_err_set(&b->err, rc, "%s: cannot add entry "
			"of %zu + %zu bytes", b->path, iklen, vlen);
		return sticky(b, err);
	}
	if (b->props.entries == 0)
		buf_append(&b->first, ikey, iklen);
	buf_clear(&b->last);
	buf_append(&b->last, ikey, iklen);
	if (!buf_ok(&b->first) || !buf_ok(&b->last))
		return oom(b, err);
	count_entry(b, ikey, iklen, vlen);
	if (block_builder_size(b->data) >= b->o.block_bytes &&
	    flush_data_block(b) < 0)
		return sticky(b, err);
	return 0;
}

uint64_t sst_builder_entries(const struct sst_builder *b)
{
	return b->props.entries;
}

uint64_t sst_builder_deletions(const struct sst_builder *b)
{
	return b->props.deletions;
}

uint64_t sst_builder_size(const struct sst_builder *b)
{
	uint64_t filter = (uint64_t)b->nhashes * b->o.bloom_bits_per_key / 8;

	return b->written + b->wbuf.len + block_builder_size(b->data) +
	       block_builder_size(b->index) + filter + 256 + SST_FOOTER_BYTES;
}

const uint8_t *sst_builder_smallest(const struct sst_builder *b, size_t *len)
{
	*len = b->first.len;
	return b->first.p;
}

const uint8_t *sst_builder_largest(const struct sst_builder *b, size_t *len)
{
	*len = b->last.len;
	return b->last.p;
}

/* Emits the block built by BB (then reset) and records its handle. */
static int emit_builder(struct sst_builder *b, struct block_builder *bb,
			uint8_t *handle)
{
	const uint8_t *raw;
	uint64_t off, size;
	size_t len;
	int rc;

	raw = block_builder_finish(bb, &len);
	if (!raw) {
		b->status = lsm_err_set(&b->err, -ENOMEM, "%s: out of memory",
					b->path);
		return -ENOMEM;
	}
	rc = emit_block(b, raw, len, false, &off, &size);
	put_u64le(handle, off);
	put_u64le(handle + 8, size);
	return rc;
}

static int emit_filter(struct sst_builder *b, uint8_t *handle)
{
	struct buf f = BUF_INIT;
	uint64_t off, size;
	int rc;

	if (b->o.bloom_bits_per_key && b->o.bloom_flat)
		bloom_build_flat(&f, b->hashes, b->nhashes,
				 b->o.bloom_bits_per_key);
	else if (b->o.bloom_bits_per_key)
		bloom_build(&f, b->hashes, b->nhashes, b->o.bloom_bits_per_key);
	if (!buf_ok(&f)) {
		buf_free(&f);
		b->status = lsm_err_set(&b->err, -ENOMEM, "%s: out of memory",
					b->path);
		return -ENOMEM;
	}
	rc = emit_block(b, f.p ? f.p : (const uint8_t *)"", f.len, false, &off,
			&size);
	buf_free(&f);
	put_u64le(handle, off);
	put_u64le(handle + 8, size);
	return rc;
}

/* props block: sorted names -> varint64 values (doc/table.md). */
static int emit_props(struct sst_builder *b, uint8_t *handle)
{
	const struct sst_props *p = &b->props;
	const struct { const char *name; uint64_t v; } props[] = {
		{ "data_blocks", p->data_blocks },
		{ "data_bytes", p->data_bytes },
		{ "deletions", p->deletions },
		{ "entries", p->entries },
		{ "largest_seq", p->largest_seq },
		{ "raw_key_bytes", p->raw_key_bytes },
		{ "raw_value_bytes", p->raw_value_bytes },
		{ "smallest_seq", p->smallest_seq },
	};
	struct block_builder *bb = block_builder_new(1);
	uint8_t v[VARINT64_MAX_BYTES];
	int rc = bb ? 0 : -ENOMEM;

	for (size_t i = 0; !rc && i < sizeof(props) / sizeof(props[0]); i++)
		rc = block_builder_add(bb, (const uint8_t *)props[i].name,
				       strlen(props[i].name), v,
				       (size_t)(put_varint64(v, props[i].v) - v));
	if (rc < 0)
		b->status = lsm_err_set(&b->err, rc, "%s: out of memory",
					b->path);
	else
		rc = emit_builder(b, bb, handle);
	block_builder_free(bb);
	return rc;
}

static int write_tail(struct sst_builder *b, uint64_t *file_size)
{
	uint8_t footer[SST_FOOTER_BYTES];
	int rc = 0;

	if (!block_builder_empty(b->data))
		rc = flush_data_block(b);
	b->props.data_bytes = b->written + b->wbuf.len;
	if (!rc)
		rc = emit_filter(b, footer);
	if (!rc)
		rc = emit_props(b, footer + 16);
	if (!rc)
		rc = emit_builder(b, b->index, footer + 32);
	if (rc < 0)
		return rc;
	put_u32le(footer + 48, SST_VERSION);
	put_u64le(footer + 52, SST_MAGIC);
	put_u32le(footer + 60, crc32_of(footer, 60));
	buf_append(&b->wbuf, footer, sizeof(footer));
	if (!buf_ok(&b->wbuf))
		return oom(b, NULL);
	rc = flush_wbuf(b);
	*file_size = b->written;
	return rc;
}

static int sync_and_close(struct sst_builder *b)
{
	int rc = b->io->fsync(b->io, b->fd);
	int crc;

	if (rc < 0)
		b->status = lsm_err_set(&b->err, rc, "%s: fsync failed: %s",
					b->path, strerror(-rc));
	crc = b->io->close(b->io, b->fd);
	b->fd = -1;
	if (crc < 0 && !rc) {
		rc = crc;
		b->status = lsm_err_set(&b->err, rc, "%s: close failed: %s",
					b->path, strerror(-rc));
	}
	return rc;
}

int sst_builder_finish(struct sst_builder *b, uint64_t *file_size,
		       struct lsm_err *err)
{
	uint64_t size = 0;
	int rc = b->status;

	if (!rc && b->props.entries == 0)
		rc = b->status = lsm_err_set(&b->err, -EINVAL,
			"%s: a table needs at least one entry", b->path);
	if (!rc)
		rc = write_tail(b, &size);
	if (!rc)
		rc = sync_and_close(b);
	if (rc < 0) {
		sticky(b, err);
		sst_builder_abandon(b);
		return rc;
	}
	if (file_size)
		*file_size = size;
	builder_free(b);
	return 0;
}

void sst_builder_abandon(struct sst_builder *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		b->io->close(b->io, b->fd);
	b->io->unlink(b->io, b->path);
	builder_free(b);
}
