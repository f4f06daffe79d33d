/* eng_leveldb.c - the LevelDB backend of lsmfs-bench, through LevelDB's C
 * API (leveldb/c.h).  Built only when libleveldb is found (HAVE_LEVELDB).
 * --sync=0 writes without sync (a process crash loses nothing); --sync=1
 * sets WriteOptions::sync.  LevelDB has no zlib: --compression=zlib gives
 * it snappy, and the settings line says so.  "leveldb-verify" is LevelDB
 * with ReadOptions::verify_checksums on (LevelDB's default is off: a block
 * read from a table is used unchecked), for a comparison at lsm's own
 * integrity: lsm checks every block it reads from a table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "engine.h"

struct ldb {
	leveldb_t *db;
	leveldb_options_t *opts;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ropts;
	leveldb_writeoptions_t *wopts;
};

struct ldb_it {
	leveldb_iterator_t *it;
};

static void settings(const struct bench_config *cfg, char *buf, size_t n,
		     bool verify)
{
	char a[32], b[32];

	snprintf(buf, n,
		 "LevelDB %d.%d (C API): write buffer %s, block cache %s (LRU), "
		 "bloom %u bits/key, compression %s, block 4 KiB, "
		 "max file 2 MiB (default), max open files 1000 (default), "
		 "sync %s, verify_checksums %s", leveldb_major_version(),
		 leveldb_minor_version(),
		 eng_fmt_bytes(cfg->write_buffer_size, a, sizeof(a)),
		 eng_fmt_bytes(cfg->cache_size, b, sizeof(b)), cfg->bloom_bits,
		 cfg->compression ? "snappy (LevelDB has no zlib)" : "none",
		 cfg->sync ? "WriteOptions.sync=true" : "off",
		 verify ? "on" : "off (default)");
}

static void ldb_settings(const struct bench_config *cfg, char *buf, size_t n)
{
	settings(cfg, buf, n, false);
}

static void ldbv_settings(const struct bench_config *cfg, char *buf, size_t n)
{
	settings(cfg, buf, n, true);
}

static int ldb_fail(char *err, char *msg, int code)
{
	snprintf(err, ENG_ERR_LEN, "leveldb: %s", msg ? msg : "error");
	leveldb_free(msg);
	return code;
}

static void ldb_free(struct ldb *l)
{
	if (l->db)
		leveldb_close(l->db);
	if (l->opts)
		leveldb_options_destroy(l->opts);
	if (l->cache)
		leveldb_cache_destroy(l->cache);
	if (l->filter)
		leveldb_filterpolicy_destroy(l->filter);
	if (l->ropts)
		leveldb_readoptions_destroy(l->ropts);
	if (l->wopts)
		leveldb_writeoptions_destroy(l->wopts);
	free(l);
}

static int open_db(const struct bench_config *cfg, const char *dir,
		   void **h, char *err, bool verify)
{
	struct ldb *l = calloc(1, sizeof(*l));
	char *msg = NULL;

	if (!l)
		return -ENOMEM;
	l->opts = leveldb_options_create();
	l->cache = leveldb_cache_create_lru(cfg->cache_size);
	l->ropts = leveldb_readoptions_create();
	l->wopts = leveldb_writeoptions_create();
	leveldb_options_set_create_if_missing(l->opts, 1);
	leveldb_options_set_write_buffer_size(l->opts, cfg->write_buffer_size);
	leveldb_options_set_cache(l->opts, l->cache);
	leveldb_options_set_block_size(l->opts, 4096);
	if (cfg->bloom_bits) {
		l->filter = leveldb_filterpolicy_create_bloom(cfg->bloom_bits);
		leveldb_options_set_filter_policy(l->opts, l->filter);
	}
	leveldb_options_set_compression(l->opts, cfg->compression ?
		leveldb_snappy_compression : leveldb_no_compression);
	leveldb_writeoptions_set_sync(l->wopts, cfg->sync);
	leveldb_readoptions_set_verify_checksums(l->ropts, verify);
	l->db = leveldb_open(l->opts, dir, &msg);
	if (!l->db) {
		ldb_free(l);
		return ldb_fail(err, msg, -EIO);
	}
	*h = l;
	return 0;
}

static int ldb_open(const struct bench_config *cfg, const char *dir, void **h,
		    char *err)
{
	return open_db(cfg, dir, h, err, false);
}

static int ldbv_open(const struct bench_config *cfg, const char *dir,
		     void **h, char *err)
{
	return open_db(cfg, dir, h, err, true);
}

static void ldb_close(void *h)
{
	ldb_free(h);
}

static int ldb_put(void *h, const void *k, size_t kl, const void *v,
		   size_t vl, char *err)
{
	struct ldb *l = h;
	char *msg = NULL;

	leveldb_put(l->db, l->wopts, k, kl, v, vl, &msg);
	return msg ? ldb_fail(err, msg, -EIO) : 0;
}

static int ldb_del(void *h, const void *k, size_t kl, char *err)
{
	struct ldb *l = h;
	char *msg = NULL;

	leveldb_delete(l->db, l->wopts, k, kl, &msg);
	return msg ? ldb_fail(err, msg, -EIO) : 0;
}

static int ldb_get(void *h, const void *k, size_t kl, void *buf, size_t cap,
		   size_t *vlen, char *err)
{
	struct ldb *l = h;
	char *msg = NULL;
	size_t n = 0;
	char *v = leveldb_get(l->db, l->ropts, k, kl, &n, &msg);

	if (msg)
		return ldb_fail(err, msg, -EIO);
	if (!v)
		return -ENOENT;
	memcpy(buf, v, n < cap ? n : cap);
	*vlen = n;
	leveldb_free(v);
	return 0;
}

static int ldb_iter_new(void *h, void **it, char *err)
{
	struct ldb *l = h;
	struct ldb_it *i = malloc(sizeof(*i));

	(void)err;
	if (!i)
		return -ENOMEM;
	i->it = leveldb_create_iterator(l->db, l->ropts);
	*it = i;
	return 0;
}

static void ldb_iter_seek(void *it, const void *k, size_t kl)
{
	struct ldb_it *i = it;

	if (kl)
		leveldb_iter_seek(i->it, k, kl);
	else
		leveldb_iter_seek_to_first(i->it);
}

static bool ldb_iter_valid(void *it)
{
	return leveldb_iter_valid(((struct ldb_it *)it)->it);
}

static void ldb_iter_next(void *it)
{
	leveldb_iter_next(((struct ldb_it *)it)->it);
}

static void ldb_iter_entry(void *it, const void **k, size_t *kl,
			   const void **v, size_t *vl)
{
	struct ldb_it *i = it;

	*k = leveldb_iter_key(i->it, kl);
	*v = leveldb_iter_value(i->it, vl);
}

static void ldb_iter_free(void *it)
{
	struct ldb_it *i = it;

	leveldb_iter_destroy(i->it);
	free(i);
}

static int ldb_compact(void *h, char *err)
{
	(void)err;
	leveldb_compact_range(((struct ldb *)h)->db, NULL, 0, NULL, 0);
	return 0;
}

/* What both LevelDB engines share: all but the name, settings and open. */
#define LDB_OPS                                                          \
	.close = ldb_close, .put = ldb_put, .del = ldb_del, .get = ldb_get, \
	.iter_new = ldb_iter_new, .iter_seek = ldb_iter_seek,             \
	.iter_valid = ldb_iter_valid, .iter_next = ldb_iter_next,         \
	.iter_entry = ldb_iter_entry, .iter_free = ldb_iter_free,         \
	.compact = ldb_compact,                                           \
	.stats = NULL /* leveldb.stats is a table, not name/value */

const struct bench_engine eng_leveldb = {
	.name = "leveldb",
	.settings = ldb_settings,
	.open = ldb_open,
	LDB_OPS,
};

const struct bench_engine eng_leveldb_verify = {
	.name = "leveldb-verify",
	.settings = ldbv_settings,
	.open = ldbv_open,
	LDB_OPS,
};
