/* eng_lmdb.c - the LMDB backend of lsmfs-bench, through lmdb.h.  Built only
 * when liblmdb is found (HAVE_LMDB).  One write transaction per put or
 * delete, one read transaction per get or scan, as the other engines do one
 * call per operation.  --sync=0 is MDB_NOSYNC (a process crash loses
 * nothing: pages are written with write(2)); --sync=1 syncs every commit.
 * LMDB has no block cache, write buffer, bloom filter or compression: it
 * reads through the OS page cache, and the settings line says so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "engine.h"

struct mdb {
	MDB_env *env;
	MDB_dbi dbi;
};

struct mdb_it {
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	bool valid;
};

static size_t mdb_map_bytes(const struct bench_config *cfg)
{
	uint64_t want = cfg->num * (cfg->key_size + cfg->value_size) * 4;

	want += 1ull << 30;
	return want > (1ull << 40) ? (size_t)1 << 40 : (size_t)want;
}

static void mdb_settings(const struct bench_config *cfg, char *buf, size_t n)
{
	char a[32];

	snprintf(buf, n,
		 "%s: B+tree, no block cache / write buffer / bloom / "
		 "compression (reads via the OS page cache), map size %s, "
		 "one txn per operation, sync %s", MDB_VERSION_STRING,
		 eng_fmt_bytes(mdb_map_bytes(cfg), a, sizeof(a)),
		 cfg->sync ? "on every commit" : "off (MDB_NOSYNC)");
}

static int mdb_fail(char *err, const char *what, int rc)
{
	snprintf(err, ENG_ERR_LEN, "lmdb: %s: %s", what, mdb_strerror(rc));
	return rc > 0 ? -rc : -EIO;
}

static int mdb_b_open2(struct mdb *m, const struct bench_config *cfg,
		       const char *dir, char *err)
{
	unsigned flags = cfg->sync ? 0 : MDB_NOSYNC;
	MDB_txn *txn;
	int rc;

	mkdir(dir, 0755);
	rc = mdb_env_create(&m->env);
	if (rc)
		return mdb_fail(err, "env_create", rc);
	mdb_env_set_mapsize(m->env, mdb_map_bytes(cfg));
	mdb_env_set_maxreaders(m->env, 256);
	rc = mdb_env_open(m->env, dir, flags, 0644);
	if (rc)
		return mdb_fail(err, dir, rc);
	rc = mdb_txn_begin(m->env, NULL, 0, &txn);
	if (rc)
		return mdb_fail(err, "txn_begin", rc);
	rc = mdb_dbi_open(txn, NULL, 0, &m->dbi);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail(err, "dbi_open", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc ? mdb_fail(err, "txn_commit", rc) : 0;
}

static int mdb_b_open(const struct bench_config *cfg, const char *dir,
		      void **h, char *err)
{
	struct mdb *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	rc = mdb_b_open2(m, cfg, dir, err);
	if (rc < 0) {
		if (m->env)
			mdb_env_close(m->env);
		free(m);
		return rc;
	}
	*h = m;
	return 0;
}

static void mdb_b_close(void *h)
{
	struct mdb *m = h;

	mdb_env_sync(m->env, 1);
	mdb_env_close(m->env);
	free(m);
}

static int mdb_b_write(struct mdb *m, const void *k, size_t kl,
		       const void *v, size_t vl, char *err)
{
	MDB_val key = { kl, (void *)k }, val = { vl, (void *)v };
	MDB_txn *txn;
	int rc = mdb_txn_begin(m->env, NULL, 0, &txn);

	if (rc)
		return mdb_fail(err, "txn_begin", rc);
	if (v)
		rc = mdb_put(txn, m->dbi, &key, &val, 0);
	else
		rc = mdb_del(txn, m->dbi, &key, NULL);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_fail(err, v ? "put" : "del", rc);
	}
	rc = mdb_txn_commit(txn);
	return rc ? mdb_fail(err, "commit", rc) : 0;
}

static int mdb_b_put(void *h, const void *k, size_t kl, const void *v,
		     size_t vl, char *err)
{
	static const char empty;

	return mdb_b_write(h, k, kl, v ? v : &empty, vl, err);
}

static int mdb_b_del(void *h, const void *k, size_t kl, char *err)
{
	return mdb_b_write(h, k, kl, NULL, 0, err);
}

static int mdb_b_get(void *h, const void *k, size_t kl, void *buf,
		     size_t cap, size_t *vlen, char *err)
{
	struct mdb *m = h;
	MDB_val key = { kl, (void *)k }, val;
	MDB_txn *txn;
	int rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn);

	if (rc)
		return mdb_fail(err, "txn_begin", rc);
	rc = mdb_get(txn, m->dbi, &key, &val);
	if (rc == 0) {
		memcpy(buf, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
		*vlen = val.mv_size;
	}
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	return rc ? mdb_fail(err, "get", rc) : 0;
}

static int mdb_b_iter_new(void *h, void **out, char *err)
{
	struct mdb *m = h;
	struct mdb_it *it = calloc(1, sizeof(*it));
	int rc;

	if (!it)
		return -ENOMEM;
	rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &it->txn);
	if (rc == 0)
		rc = mdb_cursor_open(it->txn, m->dbi, &it->cur);
	if (rc) {
		if (it->txn)
			mdb_txn_abort(it->txn);
		free(it);
		return mdb_fail(err, "iterator", rc);
	}
	*out = it;
	return 0;
}

static void mdb_b_iter_seek(void *p, const void *k, size_t kl)
{
	struct mdb_it *it = p;

	it->k.mv_size = kl;
	it->k.mv_data = (void *)k;
	it->valid = mdb_cursor_get(it->cur, &it->k, &it->v,
				   kl ? MDB_SET_RANGE : MDB_FIRST) == 0;
}

static bool mdb_b_iter_valid(void *p)
{
	return ((struct mdb_it *)p)->valid;
}

static void mdb_b_iter_next(void *p)
{
	struct mdb_it *it = p;

	it->valid = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT) == 0;
}

static void mdb_b_iter_entry(void *p, const void **k, size_t *kl,
			     const void **v, size_t *vl)
{
	struct mdb_it *it = p;

	*k = it->k.mv_data;
	*kl = it->k.mv_size;
	*v = it->v.mv_data;
	*vl = it->v.mv_size;
}

static void mdb_b_iter_free(void *p)
{
	struct mdb_it *it = p;

	mdb_cursor_close(it->cur);
	mdb_txn_abort(it->txn);
	free(it);
}

static int mdb_b_compact(void *h, char *err)
{
	(void)h;
	(void)err;
	return 0; /* a B+tree has nothing to compact */
}

const struct bench_engine eng_lmdb = {
	.name = "lmdb",
	.settings = mdb_settings,
	.open = mdb_b_open,
	.close = mdb_b_close,
	.put = mdb_b_put,
	.del = mdb_b_del,
	.get = mdb_b_get,
	.iter_new = mdb_b_iter_new,
	.iter_seek = mdb_b_iter_seek,
	.iter_valid = mdb_b_iter_valid,
	.iter_next = mdb_b_iter_next,
	.iter_entry = mdb_b_iter_entry,
	.iter_free = mdb_b_iter_free,
	.compact = mdb_b_compact,
	.stats = NULL,
};
