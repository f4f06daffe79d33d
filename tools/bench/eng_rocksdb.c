/* eng_rocksdb.c - the RocksDB backend of lsmfs-bench, through RocksDB's C
 * API (rocksdb/c.h).  Built only when librocksdb is found (HAVE_ROCKSDB).
 * Same knobs as the other engines (write buffer, LRU block cache, full
 * bloom filter, compression none or zlib, WAL on, sync per --sync); the
 * rest are RocksDB's defaults and are stated in the settings line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "engine.h"

#ifndef BENCH_ROCKSDB_VERSION
#define BENCH_ROCKSDB_VERSION "?"
#endif

struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *topts;
	rocksdb_cache_t *cache;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts;
};

static void rdb_settings(const struct bench_config *cfg, char *buf, size_t n)
{
	char a[32], b[32];

	snprintf(buf, n,
		 "RocksDB %s (C API): write buffer %s (x2 default), "
		 "block cache %s (LRU), bloom %u bits/key (full filter), "
		 "compression %s, block 4 KiB, target file 64 MiB, "
		 "L1 256 MiB, 2 background jobs (defaults), WAL on, sync %s",
		 BENCH_ROCKSDB_VERSION,
		 eng_fmt_bytes(cfg->write_buffer_size, a, sizeof(a)),
		 eng_fmt_bytes(cfg->cache_size, b, sizeof(b)), cfg->bloom_bits,
		 cfg->compression ? "zlib" : "none",
		 cfg->sync ? "WriteOptions.sync=true" : "off");
}

static int rdb_fail(char *err, char *msg, int code)
{
	snprintf(err, ENG_ERR_LEN, "rocksdb: %s", msg ? msg : "error");
	free(msg);
	return code;
}

static void rdb_free(struct rdb *r)
{
	if (r->db)
		rocksdb_close(r->db);
	if (r->opts)
		rocksdb_options_destroy(r->opts);
	if (r->topts)
		rocksdb_block_based_options_destroy(r->topts);
	if (r->cache)
		rocksdb_cache_destroy(r->cache);
	if (r->ropts)
		rocksdb_readoptions_destroy(r->ropts);
	if (r->wopts)
		rocksdb_writeoptions_destroy(r->wopts);
	free(r);
}

static void rdb_set_options(struct rdb *r, const struct bench_config *cfg)
{
	r->opts = rocksdb_options_create();
	r->topts = rocksdb_block_based_options_create();
	r->cache = rocksdb_cache_create_lru(cfg->cache_size);
	r->ropts = rocksdb_readoptions_create();
	r->wopts = rocksdb_writeoptions_create();
	rocksdb_options_set_create_if_missing(r->opts, 1);
	rocksdb_options_set_write_buffer_size(r->opts, cfg->write_buffer_size);
	rocksdb_block_based_options_set_block_cache(r->topts, r->cache);
	rocksdb_block_based_options_set_block_size(r->topts, 4096);
	if (cfg->bloom_bits)
		rocksdb_block_based_options_set_filter_policy(r->topts,
			rocksdb_filterpolicy_create_bloom_full(cfg->bloom_bits));
	rocksdb_options_set_block_based_table_factory(r->opts, r->topts);
	rocksdb_options_set_compression(r->opts, cfg->compression ?
		rocksdb_zlib_compression : rocksdb_no_compression);
	rocksdb_writeoptions_set_sync(r->wopts, cfg->sync);
}

static int rdb_open(const struct bench_config *cfg, const char *dir,
		    void **h, char *err)
{
	struct rdb *r = calloc(1, sizeof(*r));
	char *msg = NULL;

	if (!r)
		return -ENOMEM;
	rdb_set_options(r, cfg);
	r->db = rocksdb_open(r->opts, dir, &msg);
	if (!r->db) {
		rdb_free(r);
		return rdb_fail(err, msg, -EIO);
	}
	*h = r;
	return 0;
}

static void rdb_close(void *h)
{
	rdb_free(h);
}

static int rdb_put(void *h, const void *k, size_t kl, const void *v,
		   size_t vl, char *err)
{
	struct rdb *r = h;
	char *msg = NULL;

	rocksdb_put(r->db, r->wopts, k, kl, v, vl, &msg);
	return msg ? rdb_fail(err, msg, -EIO) : 0;
}

static int rdb_del(void *h, const void *k, size_t kl, char *err)
{
	struct rdb *r = h;
	char *msg = NULL;

	rocksdb_delete(r->db, r->wopts, k, kl, &msg);
	return msg ? rdb_fail(err, msg, -EIO) : 0;
}

static int rdb_get(void *h, const void *k, size_t kl, void *buf, size_t cap,
		   size_t *vlen, char *err)
{
	struct rdb *r = h;
	char *msg = NULL;
	rocksdb_pinnableslice_t *ps;
	const char *v;
	size_t n;

	ps = rocksdb_get_pinned(r->db, r->ropts, k, kl, &msg);
	if (msg)
		return rdb_fail(err, msg, -EIO);
	if (!ps)
		return -ENOENT;
	v = rocksdb_pinnableslice_value(ps, &n);
	memcpy(buf, v, n < cap ? n : cap);
	*vlen = n;
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

static int rdb_iter_new(void *h, void **it, char *err)
{
	struct rdb *r = h;

	(void)err;
	*it = rocksdb_create_iterator(r->db, r->ropts);
	return *it ? 0 : -ENOMEM;
}

static void rdb_iter_seek(void *it, const void *k, size_t kl)
{
	if (kl)
		rocksdb_iter_seek(it, k, kl);
	else
		rocksdb_iter_seek_to_first(it);
}

static bool rdb_iter_valid(void *it)
{
	return rocksdb_iter_valid(it);
}

static void rdb_iter_next(void *it)
{
	rocksdb_iter_next(it);
}

static void rdb_iter_entry(void *it, const void **k, size_t *kl,
			   const void **v, size_t *vl)
{
	*k = rocksdb_iter_key(it, kl);
	*v = rocksdb_iter_value(it, vl);
}

static void rdb_iter_free(void *it)
{
	rocksdb_iter_destroy(it);
}

static int rdb_compact(void *h, char *err)
{
	(void)err;
	rocksdb_compact_range(((struct rdb *)h)->db, NULL, 0, NULL, 0);
	return 0;
}

const struct bench_engine eng_rocksdb = {
	.name = "rocksdb",
	.settings = rdb_settings,
	.open = rdb_open,
	.close = rdb_close,
	.put = rdb_put,
	.del = rdb_del,
	.get = rdb_get,
	.iter_new = rdb_iter_new,
	.iter_seek = rdb_iter_seek,
	.iter_valid = rdb_iter_valid,
	.iter_next = rdb_iter_next,
	.iter_entry = rdb_iter_entry,
	.iter_free = rdb_iter_free,
	.compact = rdb_compact,
	.stats = NULL,
};
