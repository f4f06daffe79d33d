/* eng_lsm.c - the lsm engine backend of lsmfs-bench, through the public
 * API (engine/lsm.h) only.  --sync=0 is LSM_SYNC_MANUAL (a process crash
 * loses nothing acknowledged), --sync=1 is LSM_SYNC_ALWAYS.  Two engines:
 * "lsm" with the library's defaults, "lsm-mmap" with mmap_reads on (the
 * option's trade is in lsm.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "lsm.h"

static void lsm_opts(const struct bench_config *cfg, struct lsm_options *o)
{
	lsm_options_init(o);
	o->mmap_reads = false;
	o->memtable_bytes = cfg->write_buffer_size;
	o->cache_bytes = cfg->cache_size;
	o->bloom_bits_per_key = cfg->bloom_bits;
	o->compression = cfg->compression ? LSM_COMPRESS_ZLIB
					  : LSM_COMPRESS_NONE;
	o->sync = cfg->sync ? LSM_SYNC_ALWAYS : LSM_SYNC_MANUAL;
}

static void settings(const struct bench_config *cfg, bool map, char *buf,
		     size_t n)
{
	struct lsm_options o;
	char a[32], b[32], c[32], d[32];

	lsm_opts(cfg, &o);
	snprintf(buf, n,
		 "liblsm %s: write buffer %s, block cache %s, bloom %u bits/key, "
		 "compression %s, block %s, table %s, L0 trigger %u, "
		 "sync %s, table reads %s", lsm_version(),
		 eng_fmt_bytes(o.memtable_bytes, a, sizeof(a)),
		 eng_fmt_bytes(o.cache_bytes, b, sizeof(b)),
		 o.bloom_bits_per_key, cfg->compression ? "zlib-1" : "none",
		 eng_fmt_bytes(o.block_bytes, d, sizeof(d)),
		 eng_fmt_bytes(o.table_bytes, c, sizeof(c)),
		 o.l0_compaction_trigger,
		 cfg->sync ? "always (fsync per write, group commit)"
			   : "manual (no fsync per write)",
		 map ? "mmap (mmap_reads)" :
		 o.map_tables ? "copies out of a mapping + block cache "
				"(default)" : "pread + block cache");
}

static void lsm_settings(const struct bench_config *cfg, char *buf, size_t n)
{
	settings(cfg, false, buf, n);
}

static void lsm_mmap_settings(const struct bench_config *cfg, char *buf,
			      size_t n)
{
	settings(cfg, true, buf, n);
}

static void copy_err(char *dst, const struct lsm_err *e)
{
	snprintf(dst, ENG_ERR_LEN, "%s", e->msg);
}

static int open_db(const struct bench_config *cfg, const char *dir,
		   bool map, void **h, char *err)
{
	struct lsm_options o;
	struct lsm_err e = { 0 };
	struct lsm_db *db;
	int rc;

	lsm_opts(cfg, &o);
	o.mmap_reads = map;
	rc = lsm_open(dir, &o, &db, &e);
	if (rc < 0) {
		copy_err(err, &e);
		return rc;
	}
	*h = db;
	return 0;
}

static int lsm_b_open(const struct bench_config *cfg, const char *dir,
		      void **h, char *err)
{
	return open_db(cfg, dir, false, h, err);
}

static int lsm_mmap_b_open(const struct bench_config *cfg, const char *dir,
			   void **h, char *err)
{
	return open_db(cfg, dir, true, h, err);
}

static void lsm_b_close(void *h)
{
	lsm_close(h, NULL);
}

static int lsm_b_put(void *h, const void *k, size_t kl, const void *v,
		     size_t vl, char *err)
{
	struct lsm_err e = { 0 };
	int rc = lsm_put(h, k, kl, v, vl, &e);

	if (rc < 0)
		copy_err(err, &e);
	return rc;
}

static int lsm_b_del(void *h, const void *k, size_t kl, char *err)
{
	struct lsm_err e = { 0 };
	int rc = lsm_delete(h, k, kl, &e);

	if (rc < 0)
		copy_err(err, &e);
	return rc;
}

static int lsm_b_get(void *h, const void *k, size_t kl, void *buf,
		     size_t cap, size_t *vlen, char *err)
{
	struct lsm_err e = { 0 };
	int rc = lsm_get_buf(h, NULL, k, kl, buf, cap, vlen, &e);

	if (rc < 0)
		copy_err(err, &e);
	if (rc == 0)
		return -ENOENT; /* engine.h: absent */
	return rc < 0 ? rc : 0;
}

static int lsm_b_iter_new(void *h, void **it, char *err)
{
	struct lsm_err e = { 0 };
	struct lsm_iter *i;
	int rc = lsm_iter_new(h, NULL, &i, &e);

	if (rc < 0) {
		copy_err(err, &e);
		return rc;
	}
	*it = i;
	return 0;
}

static void lsm_b_iter_seek(void *it, const void *k, size_t kl)
{
	if (kl)
		lsm_iter_seek(it, k, kl);
	else
		lsm_iter_seek_first(it);
}

static bool lsm_b_iter_valid(void *it)
{
	return lsm_iter_valid(it);
}

static void lsm_b_iter_next(void *it)
{
	lsm_iter_next(it);
}

static void lsm_b_iter_entry(void *it, const void **k, size_t *kl,
			     const void **v, size_t *vl)
{
	*k = lsm_iter_key(it, kl);
	*v = lsm_iter_value(it, vl);
}

static void lsm_b_iter_free(void *it)
{
	lsm_iter_free(it);
}

static int lsm_b_compact(void *h, char *err)
{
	struct lsm_err e = { 0 };
	int rc = lsm_compact_range(h, NULL, 0, NULL, 0, &e);

	if (rc < 0)
		copy_err(err, &e);
	return rc;
}

static char *lsm_b_stats(void *h)
{
	char *text = NULL;

	if (lsm_stats(h, &text, NULL) < 0)
		return NULL;
	return text;
}

const struct bench_engine eng_lsm = {
	.name = "lsm",
	.settings = lsm_settings,
	.open = lsm_b_open,
	.close = lsm_b_close,
	.put = lsm_b_put,
	.del = lsm_b_del,
	.get = lsm_b_get,
	.iter_new = lsm_b_iter_new,
	.iter_seek = lsm_b_iter_seek,
	.iter_valid = lsm_b_iter_valid,
	.iter_next = lsm_b_iter_next,
	.iter_entry = lsm_b_iter_entry,
	.iter_free = lsm_b_iter_free,
	.compact = lsm_b_compact,
	.stats = lsm_b_stats,
};

const struct bench_engine eng_lsm_mmap = {
	.name = "lsm-mmap",
	.settings = lsm_mmap_settings,
	.open = lsm_mmap_b_open,
	.close = lsm_b_close,
	.put = lsm_b_put,
	.del = lsm_b_del,
	.get = lsm_b_get,
	.iter_new = lsm_b_iter_new,
	.iter_seek = lsm_b_iter_seek,
	.iter_valid = lsm_b_iter_valid,
	.iter_next = lsm_b_iter_next,
	.iter_entry = lsm_b_iter_entry,
	.iter_free = lsm_b_iter_free,
	.compact = lsm_b_compact,
	.stats = lsm_b_stats,
};
