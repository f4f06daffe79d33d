/* gen_corpus.c - writes the seed corpus of the fuzz targets:
 *   fuzz_gen_corpus DIR     (DIR is tests/fuzz/corpus; files are replaced)
 * Tables, WAL segments and manifests come from the engine itself (a small
 * store in memory, plus tables built directly with a few options); codec
 * seeds from the codec's encoders, replication ones from replicate/'s.  Deterministic: rerunning it gives the
 * same files.  Each seed starts with the mode byte its target reads (see
 * the comment at the top of each fuzz_*.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"
#include "codec.h"
#include "ikey.h"
#include "lsm.h"
#include "memio.h"
#include "proto.h"
#include "sst.h"
#include "version.h"

static const char *out_dir;
static int failed;

static void put_seed(const char *target, const char *name, uint8_t mode,
		     const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fputc(mode, f) == EOF || (n && fwrite(p, 1, n, f) != n) ||
	    fclose(f) != 0) {
		perror(path);
		failed = 1;
	}
}

/* A length-prefixed record list (u16le length | bytes), as the framed
 * modes of fuzz_wal and fuzz_manifest read it. */
static void put_rec(struct buf *b, const void *p, size_t n)
{
	buf_put_u8(b, (uint8_t)n);
	buf_put_u8(b, (uint8_t)(n >> 8));
	buf_append(b, p, n);
}

/* ---- tables ---- */

static void gen_tables(void)
{
	static const struct {
		const char *name;
		struct sst_options o;
	} cfg[] = {
		{ "raw-bloom", { 4096, 16, 10, LSM_COMPRESS_NONE, 1 } },
		{ "raw-small-blocks", { 128, 2, 0, LSM_COMPRESS_NONE, 1 } },
		{ "zlib-bloom", { 256, 4, 6, LSM_COMPRESS_ZLIB, 6 } },
	};

	for (size_t c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		struct lsm_io *io = memio_new();
		struct sst_builder *b;
		struct lsm_err err;
		uint64_t size;
		const uint8_t *p;
		size_t n;
		char name[64];

		if (!io || sst_builder_new(io, "/t.sst", &cfg[c].o, &b, &err)) {
			failed = 1;
			memio_free(io);
			continue;
		}
		for (int i = 0; i < 48; i++) {
			char k[16], v[32];
			uint8_t ik[32];
			int kl = snprintf(k, sizeof(k), "key%03d", i / 2);
			int vl = snprintf(v, sizeof(v), "value-%d", i * 7);
			size_t il = ikey_encode(ik, k, (size_t)kl,
						(uint64_t)(100 - i),
						i % 5 == 3 ? IKEY_DELETE
							   : IKEY_VALUE);

			sst_builder_add(b, ik, il, (const uint8_t *)v,
					i % 5 == 3 ? 0 : (size_t)vl, &err);
		}
		if (sst_builder_finish(b, &size, &err) < 0 ||
		    !(p = memio_get(io, "/t.sst", &n))) {
			fprintf(stderr, "table: %s\n", err.msg);
			failed = 1;
		} else {
			snprintf(name, sizeof(name), "%s", cfg[c].name);
			put_seed("sst", name, 0, p, n);
			snprintf(name, sizeof(name), "%s-fixcrc", cfg[c].name);
			put_seed("sst", name, 1, p, n);
		}
		memio_free(io);
	}
	/* Mode 2: a description (block size, restart, flags, entries). */
	{
		static const uint8_t d1[] = {
			2, 1, 0x8a, 0x03, 5, 0, 'a', 'b', 'c', 2, 'x', 'y',
			0x84, 3, 0, 'a', 'b', 'c', 'd', 0, 0x02, 9, 0, 'k',
			'e', 3, 'v', 'v', 'v',
		};
		static const uint8_t d2[] = {
			0, 0, 0x0a, 1, 1, 0, 'q', 1, 'z', 1, 2, 0, 'q', 1,
			'y', 0x81, 3, 0, 'q', 0,
		};

		put_seed("sst", "build-1", 2, d1, sizeof(d1));
		put_seed("sst", "build-2", 2, d2, sizeof(d2));
	}
}

/* ---- a small store: WAL segments, manifests, more tables ---- */

static void harvest(struct lsm_io *io, const char *tag)
{
	char **names;
	size_t count, i, n;
	char path[4096], seed[128];

	if (io->list_dir(io, "/db", &names, &count) < 0) {
		failed = 1;
		return;
	}
	for (i = 0; i < count; i++) {
		const char *nm = names[i], *target = NULL;
		size_t len = strlen(nm);
		uint8_t mode = 0;
		const uint8_t *p;

		if (len > 4 && !strcmp(nm + len - 4, ".wal"))
			target = "wal";
		else if (len > 4 && !strcmp(nm + len - 4, ".sst"))
			target = "sst";
		else if (!strncmp(nm, "MANIFEST-", 9))
			target = "manifest", mode = 0x18; /* raw, 7 levels */
		if (!target)
			continue;
		snprintf(path, sizeof(path), "/db/%s", nm);
		p = memio_get(io, path, &n);
		if (!p || n == 0)
			continue;
		snprintf(seed, sizeof(seed), "db-%s-%s", tag, nm);
		put_seed(target, seed, mode, p, n);
	}
	lsm_io_free_names(names, count);
}

static void gen_store(void)
{
	struct lsm_io *io = memio_new();
	struct lsm_options o;
	struct lsm_db *db = NULL;
	struct lsm_err err;
	char k[32], v[64];
	int i, kl, vl;

	lsm_options_init(&o);
	o.io = io;
	o.background_compaction = false;
	o.block_bytes = 256;
	o.max_levels = 7;
	if (!io || lsm_open("/db", &o, &db, &err) < 0) {
		fprintf(stderr, "lsm_open: %s\n", io ? err.msg : "ENOMEM");
		failed = 1;
		memio_free(io);
		return;
	}
	for (int round = 0; round < 3; round++) {
		for (i = 0; i < 40; i++) {
			kl = snprintf(k, sizeof(k), "/dir/file-%02d", i * 3 % 40);
			vl = snprintf(v, sizeof(v), "round %d value %d", round,
				      i);
			if (i % 7 == 6)
				lsm_delete(db, k, (size_t)kl, &err);
			else
				lsm_put(db, k, (size_t)kl, v, (size_t)vl,
					&err);
		}
		if (round < 2 && lsm_flush(db, &err) < 0)
			failed = 1;
	}
	if (lsm_compact_range(db, NULL, 0, NULL, 0, &err) < 0)
		failed = 1;
	for (i = 0; i < 10; i++) {
		struct lsm_batch *b = lsm_batch_new();

		kl = snprintf(k, sizeof(k), "batch-%d", i);
		lsm_batch_put(b, k, (size_t)kl, "x", 1);
		lsm_batch_delete(b, "/dir/file-03", 12);
		lsm_write(db, b, 0, &err);
		lsm_batch_free(b);
	}
	lsm_sync(db, &err);
	harvest(io, "open");
	if (lsm_close(db, &err) < 0)
		failed = 1;
	memio_free(io);
}

/* ---- framed WAL records (batches) and manifest records (edits) ---- */

/* The edits of RECS, then two snapshots taken (field 66, ro_compat
 * `snapshots`), a compaction output with pinned bytes (field 65's fourth
 * number), and one snapshot dropped: the seed "framed-snapshots". */
static void gen_snapshots(const struct buf *recs)
{
	struct buf all = BUF_INIT, out = BUF_INIT;
	struct version_edit e;
	struct lsm_snapshot_info s[2] = {
		{ .name = "daily-1", .id = 1, .seq = 120,
		  .time_sec = 1764633600, .time_nsec = 5 },
		{ .name = "b.2_x", .id = 2, .seq = 150,
		  .time_sec = 1764633601 },
	};
	uint8_t lo[16], hi[16];

	buf_append(&all, recs->p, recs->len);
	version_edit_init(&e);
	e.has_features = true;
	e.features.ro_compat = 0x1;
	version_edit_set_snapshots(&e, s, 2);
	version_edit_encode(&e, &out);
	put_rec(&all, out.p, out.len);
	version_edit_free(&e);
	buf_clear(&out);

	version_edit_init(&e);
	e.has_next_file = true;
	e.next_file = 13;
	version_edit_delete_file(&e, 1, 11);
	ikey_encode(lo, "a", 1, 5, IKEY_VALUE);
	ikey_encode(hi, "a", 1, 4, IKEY_VALUE);
	version_edit_add_file(&e, 2, 12, 1300, lo, 9, hi, 9);
	version_edit_set_counts(&e, 12, 2, 0);
	e.added[0].f->pinned_bytes = 42;
	version_edit_encode(&e, &out);
	put_rec(&all, out.p, out.len);
	version_edit_free(&e);
	buf_clear(&out);

	version_edit_init(&e);
	version_edit_set_snapshots(&e, &s[1], 1);
	version_edit_encode(&e, &out);
	put_rec(&all, out.p, out.len);
	version_edit_free(&e);

	put_seed("manifest", "framed-snapshots", 0x19, all.p, all.len);
	buf_free(&all);
	buf_free(&out);
}

static void gen_framed(void)
{
	struct buf recs = BUF_INIT, e_out = BUF_INIT;
	struct lsm_batch *b = lsm_batch_new();
	struct version_edit e;
	uint8_t s[16], l[16];

	lsm_batch_put(b, "alpha", 5, "one", 3);
	lsm_batch_delete(b, "beta", 4);
	lsm_batch_put(b, "", 0, "", 0);
	batch_set_seq(b, 41);
	put_rec(&recs, b->rep.p, b->rep.len);
	lsm_batch_clear(b);
	lsm_batch_put(b, "gamma", 5, "three", 5);
	batch_set_seq(b, 44);
	put_rec(&recs, b->rep.p, b->rep.len);
	put_seed("wal", "framed-batches", 1, recs.p, recs.len);
	/* the same with the last 3 bytes torn off */
	{
		uint8_t torn[1 + 2048];

		torn[0] = 3;
		memcpy(torn + 1, recs.p, recs.len);
		put_seed("wal", "framed-torn", 1, torn, recs.len + 1);
	}
	lsm_batch_free(b);
	buf_free(&recs);

	/* A snapshot edit, then a flush, then a compaction. */
	version_edit_init(&e);
	e.has_comparator = e.has_log_number = e.has_next_file = true;
	e.has_last_seq = true;
	e.log_number = 3;
	e.next_file = 9;
	e.last_seq = 120;
	ikey_encode(s, "a", 1, 5, IKEY_VALUE);
	ikey_encode(l, "m", 1, 7, IKEY_VALUE);
	version_edit_add_file(&e, 0, 5, 1000, s, 9, l, 9);
	ikey_encode(s, "b", 1, 2, IKEY_DELETE);
	ikey_encode(l, "z", 1, 1, IKEY_VALUE);
	version_edit_add_file(&e, 1, 4, 2000, s, 9, l, 9);
	version_edit_set_pointer(&e, 1, l, 9);
	version_edit_encode(&e, &e_out);
	put_rec(&recs, e_out.p, e_out.len);
	version_edit_free(&e);
	buf_clear(&e_out);

	version_edit_init(&e);
	e.has_log_number = e.has_next_file = e.has_last_seq = true;
	e.log_number = 8;
	e.next_file = 11;
	e.last_seq = 150;
	ikey_encode(s, "c", 1, 130, IKEY_VALUE);
	ikey_encode(l, "d", 1, 121, IKEY_VALUE);
	version_edit_add_file(&e, 0, 10, 500, s, 9, l, 9);
	version_edit_encode(&e, &e_out);
	put_rec(&recs, e_out.p, e_out.len);
	version_edit_free(&e);
	buf_clear(&e_out);

	version_edit_init(&e);
	e.has_next_file = e.has_last_seq = true;
	e.next_file = 12;
	e.last_seq = 150;
	version_edit_delete_file(&e, 0, 10);
	version_edit_delete_file(&e, 0, 5);
	ikey_encode(s, "a", 1, 5, IKEY_VALUE);
	ikey_encode(l, "a", 1, 4, IKEY_VALUE);
	version_edit_add_file(&e, 1, 11, 1400, s, 9, l, 9);
	version_edit_encode(&e, &e_out);
	put_rec(&recs, e_out.p, e_out.len);
	version_edit_free(&e);

	put_seed("manifest", "framed-edits", 0x19, recs.p, recs.len);
	gen_snapshots(&recs);
	{
		/* CURRENT given by the input: byte count, then the text. */
		struct buf c = BUF_INIT;
		static const char cur[] = "MANIFEST-000042\n";

		buf_put_u8(&c, sizeof(cur) - 1);
		buf_append(&c, cur, sizeof(cur) - 1);
		buf_append(&c, recs.p, recs.len);
		put_seed("manifest", "framed-current", 0x1b, c.p, c.len);
		buf_free(&c);
	}
	buf_free(&recs);
	buf_free(&e_out);
}

/* ---- codec keys and values ---- */

static void gen_codec(void)
{
	uint8_t k[CODEC_DENTRY_KEY_MAX + 1];
	uint8_t v[CODEC_INODE_FIXED + 16];
	struct codec_inode in = {
		.mode = 0120777, .uid = 1000, .gid = 1000, .nlink = 1,
		.size = 11, .alloc = 0, .rdev = 0, .parent = 0,
		.atime_sec = 1700000000, .mtime_sec = -5, .ctime_sec = 3,
		.atime_nsec = 999999999, .mtime_nsec = 1, .ctime_nsec = 0,
	};
	struct codec_super sb = { CODEC_FORMAT_VERSION, CODEC_DEFAULT_CHUNK,
				  4096 };
	size_t n;

	n = codec_inode_key(k, 17);
	put_seed("codec", "key-inode", 0, k, n);
	n = codec_orphan_key(k, 1u << 20);
	put_seed("codec", "key-orphan", 0, k, n);
	n = codec_chunk_key(k, 17, 3);
	put_seed("codec", "key-chunk", 0, k, n);
	n = codec_dentry_key(k, CODEC_ROOT_INO, "hello.txt", 9);
	put_seed("codec", "key-dentry", 0, k, n);
	n = codec_xattr_key(k, 17, "user.comment", 12);
	put_seed("codec", "key-xattr", 0, k, n);
	codec_dentry_encode(v, 17, 0100644);
	put_seed("codec", "val-dentry", 0, v, CODEC_DENTRY_LEN);
	n = codec_inode_encode(v, &in, "target/file", 11);
	put_seed("codec", "val-inode-symlink", 0, v, n);
	codec_super_encode(v, &sb);
	put_seed("codec", "val-super", 0, v, CODEC_SUPER_LEN);
	put_seed("codec", "path", 0, "/a/b/.lsmfs/c/", 14);
}

/* ---- replication frames and payloads ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Appends a frame (proto.h) of TYPE around P to OUT. */
static void proto_frame(struct lr_buf *out, uint8_t type, uint8_t flags,
			const uint8_t *p, size_t n)
{
	uint8_t h[LR_HEADER_BYTES] = { 'L', 'R', LR_VERSION, type, flags };
	uLong crc;

	put_le32(h + 8, (uint32_t)n);
	crc = crc32(0, h, 12);
	if (n)
		crc = crc32(crc, p, (uInt)n);
	put_le32(h + 12, (uint32_t)crc);
	lr_put_bytes(out, h, sizeof(h));
	lr_put_bytes(out, p, n);
}

/* A framed-mode item of fuzz_proto: type | ctl | u16 len | bytes. */
static void proto_item(struct lr_buf *out, uint8_t type, uint8_t ctl,
		       const uint8_t *p, size_t n)
{
	lr_put_u8(out, type);
	lr_put_u8(out, ctl);
	lr_put_u8(out, (uint8_t)n);
	lr_put_u8(out, (uint8_t)(n >> 8));
	lr_put_bytes(out, p, n);
}

static void gen_proto(void)
{
	static struct lr_history hist[2] = { { 1, 1 }, { 2, 900 } };
	struct lr_file_id files[2] = { { "000007.sst", 4096, 0x1234 },
				       { "MANIFEST-000002", 120, 7 } };
	struct lr_hello h = { .flags = LR_HELLO_HAS_STORE, .generation = 2,
			      .seq = 950, .history = hist, .nhistory = 2,
			      .dir = (char *)"/srv/data", .files = files,
			      .nfiles = 2 };
	struct lr_welcome w = { .mode = LR_MODE_STREAM, .generation = 2,
				.last_seq = 1000, .history = hist,
				.nhistory = 2, .why = (char *)"in sync" };
	struct lr_file_begin fb = { .id = { "000009.wal", 10, 99 } };
	struct lr_record rec = { .primary_last_seq = 1000, .commit_ns = 5,
				 .batch = (const uint8_t *)
				 "\xb7\x03\0\0\0\0\0\0\x02\0\0\0batch-bytes",
				 .len = 23 };
	struct lr_ack ack = { 951, 950, 0xabcd };
	struct lr_heartbeat hb = { 1000, 1700000000 };
	struct lr_buf m[9] = { 0 }, raw = { 0 }, items = { 0 };
	static const uint8_t types[9] = { LR_HELLO, LR_WELCOME, LR_FILE_BEGIN,
					  LR_FILE_DATA, LR_BOOT_END,
					  LR_RECORDS, LR_ACK, LR_ERROR,
					  LR_HEARTBEAT };
	static const char *names[9] = { "hello", "welcome", "file-begin",
					"file-data", "boot-end", "records",
					"ack", "error", "heartbeat" };
	char seed[64];

	for (int i = 0; i < 16; i++)
		h.store_id[i] = w.store_id[i] = (uint8_t)(i + 1);
	if (lr_enc_hello(&m[0], &h) || lr_enc_welcome(&m[1], &w) ||
	    lr_enc_file_begin(&m[2], &fb) ||
	    lr_enc_file_data(&m[3], 0, "0123456789", 10) ||
	    lr_enc_boot_end(&m[4], 1000) || lr_enc_record(&m[5], &rec) ||
	    lr_enc_ack(&m[6], &ack) ||
	    lr_enc_error(&m[7], -ENOSPC, "replica disk full") ||
	    lr_enc_heartbeat(&m[8], &hb)) {
		failed = 1;
		return;
	}
	for (int i = 0; i < 9; i++) {
		snprintf(seed, sizeof(seed), "dec-%s", names[i]);
		put_seed("proto", seed, 2, m[i].p, m[i].len);
		proto_frame(&raw, types[i], 0, m[i].p, m[i].len);
		proto_item(&items, types[i], i == 5 ? 0x1 : 0, m[i].p,
			   m[i].len);
		if (i == 3)
			proto_frame(&raw, LR_FILE_END, 0, NULL, 0);
	}
	put_seed("proto", "raw-session", 0, raw.p, raw.len);
	put_seed("proto", "framed-session", 1, items.p, items.len);
	{
		uint8_t z[256];
		uLongf zn = sizeof(z);
		uint8_t zeros[2000] = { 0 };

		lr_buf_free(&raw);
		if (compress2(z, &zn, zeros, sizeof(zeros), 1) == Z_OK) {
			proto_frame(&raw, LR_RECORDS, LR_FLAG_ZLIB, z, zn);
			put_seed("proto", "raw-zlib", 0, raw.p, raw.len);
		}
	}
	put_seed("proto", "name-sst", 3, "000001.sst", 10);
	put_seed("proto", "name-manifest", 3, "MANIFEST-000001", 15);
	for (int i = 0; i < 9; i++)
		lr_buf_free(&m[i]);
	lr_buf_free(&raw);
	lr_buf_free(&items);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	gen_tables();
	gen_store();
	gen_framed();
	gen_codec();
	gen_proto();
	return failed;
}
