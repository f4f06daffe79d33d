/* fake_lsm.c - an in-memory stand-in for liblsm (lsm.h) used to develop
 * and test the filesystem layer without the real engine: a sorted array
 * of refcounted immutable entries under one mutex; iterators copy the
 * array of pointers (a snapshot).  Nothing is persisted. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

struct ent {
	atomic_int ref;
	size_t klen, vlen;
	uint8_t *val;
	uint8_t key[];
};

struct lsm_db {
	pthread_mutex_t mu;
	struct ent **e;
	size_t n, cap;
};

struct bop {
	bool del;
	struct ent *e;
};

struct lsm_batch {
	struct bop *ops;
	size_t n, cap, bytes;
};

struct lsm_iter {
	struct ent **e;
	size_t n, pos;
};

static void unref(struct ent *e)
{
	if (e && atomic_fetch_sub(&e->ref, 1) == 1)
		free(e);
}

static struct ent *mk(const void *k, size_t kl, const void *v, size_t vl)
{
	struct ent *e = malloc(sizeof(*e) + kl + vl + 1);

	if (!e)
		return NULL;
	atomic_init(&e->ref, 1);
	e->klen = kl;
	e->vlen = vl;
	memcpy(e->key, k, kl);
	e->val = e->key + kl;
	if (vl)
		memcpy(e->val, v, vl);
	return e;
}

static int cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* first index with key >= K */
static size_t lb(struct ent **e, size_t n, const void *k, size_t kl)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cmp(e[mid]->key, e[mid]->klen, k, kl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void lsm_options_init(struct lsm_options *o)
{
	memset(o, 0, sizeof(*o));
	o->create_if_missing = true;
	o->memtable_bytes = 8u << 20;
	o->sync = LSM_SYNC_MANUAL;
	o->sync_interval_ms = 100;
	o->block_bytes = 4096;
	o->bloom_bits_per_key = 10;
	o->zlib_level = 1;
	o->cache_bytes = 32u << 20;
	o->max_open_tables = 512;
}

int lsm_open(const char *dir, const struct lsm_options *opts,
	     struct lsm_db **out, struct lsm_err *err)
{
	struct lsm_db *db = calloc(1, sizeof(*db));

	(void)dir;
	(void)opts;
	if (!db)
		return lsm_err_set(err, -ENOMEM, "oom");
	pthread_mutex_init(&db->mu, NULL);
	*out = db;
	return 0;
}

int lsm_close(struct lsm_db *db, struct lsm_err *err)
{
	(void)err;
	if (!db)
		return 0;
	for (size_t i = 0; i < db->n; i++)
		unref(db->e[i]);
	free(db->e);
	free(db);
	return 0;
}

struct lsm_batch *lsm_batch_new(void)
{
	return calloc(1, sizeof(struct lsm_batch));
}

void lsm_batch_clear(struct lsm_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		unref(b->ops[i].e);
	b->n = 0;
	b->bytes = 0;
}

void lsm_batch_free(struct lsm_batch *b)
{
	if (!b)
		return;
	lsm_batch_clear(b);
	free(b->ops);
	free(b);
}

static int badd(struct lsm_batch *b, bool del, const void *k, size_t kl,
		const void *v, size_t vl)
{
	struct ent *e;

	if (kl == 0 || kl > LSM_MAX_KEY_BYTES || vl > LSM_MAX_VALUE_BYTES)
		return -EINVAL;
	if (b->n == b->cap) {
		size_t c = b->cap ? 2 * b->cap : 16;
		struct bop *o = realloc(b->ops, c * sizeof(*o));

		if (!o)
			return -ENOMEM;
		b->ops = o;
		b->cap = c;
	}
	e = mk(k, kl, v, vl);
	if (!e)
		return -ENOMEM;
	b->ops[b->n].del = del;
	b->ops[b->n++].e = e;
	b->bytes += kl + vl;
	return 0;
}

int lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	return badd(b, false, key, klen, val, vlen);
}

int lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen)
{
	return badd(b, true, key, klen, NULL, 0);
}

size_t lsm_batch_count(const struct lsm_batch *b)
{
	return b->n;
}

size_t lsm_batch_bytes(const struct lsm_batch *b)
{
	return b->bytes;
}

static int apply(struct lsm_db *db, struct bop *op)
{
	size_t i = lb(db->e, db->n, op->e->key, op->e->klen);
	bool found = i < db->n && cmp(db->e[i]->key, db->e[i]->klen,
				      op->e->key, op->e->klen) == 0;

	if (op->del) {
		if (found) {
			unref(db->e[i]);
			memmove(db->e + i, db->e + i + 1,
				(db->n - i - 1) * sizeof(*db->e));
			db->n--;
		}
		return 0;
	}
	atomic_fetch_add(&op->e->ref, 1);
	if (found) {
		unref(db->e[i]);
		db->e[i] = op->e;
		return 0;
	}
	if (db->n == db->cap) {
		size_t c = db->cap ? 2 * db->cap : 1024;
		struct ent **p = realloc(db->e, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		db->e = p;
		db->cap = c;
	}
	memmove(db->e + i + 1, db->e + i, (db->n - i) * sizeof(*db->e));
	db->e[i] = op->e;
	db->n++;
	return 0;
}

int lsm_write(struct lsm_db *db, const struct lsm_batch *b, unsigned flags,
	      struct lsm_err *err)
{
	int rc = 0;

	(void)flags;
	pthread_mutex_lock(&db->mu);
	for (size_t i = 0; rc == 0 && i < b->n; i++)
		rc = apply(db, &b->ops[i]);
	pthread_mutex_unlock(&db->mu);
	return rc ? lsm_err_set(err, rc, "fake write failed") : 0;
}

int lsm_put(struct lsm_db *db, const void *key, size_t klen,
	    const void *val, size_t vlen, struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	int rc = b ? lsm_batch_put(b, key, klen, val, vlen) : -ENOMEM;

	if (rc == 0)
		rc = lsm_write(db, b, 0, err);
	lsm_batch_free(b);
	return rc;
}

int lsm_delete(struct lsm_db *db, const void *key, size_t klen,
	       struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	int rc = b ? lsm_batch_delete(b, key, klen) : -ENOMEM;

	if (rc == 0)
		rc = lsm_write(db, b, 0, err);
	lsm_batch_free(b);
	return rc;
}

int lsm_sync(struct lsm_db *db, struct lsm_err *err)
{
	(void)db;
	(void)err;
	return 0;
}

int lsm_flush(struct lsm_db *db, struct lsm_err *err)
{
	return lsm_sync(db, err);
}

static struct ent *find(struct lsm_db *db, const void *k, size_t kl)
{
	struct ent *e = NULL;
	size_t i;

	pthread_mutex_lock(&db->mu);
	i = lb(db->e, db->n, k, kl);
	if (i < db->n && cmp(db->e[i]->key, db->e[i]->klen, k, kl) == 0) {
		e = db->e[i];
		atomic_fetch_add(&e->ref, 1);
	}
	pthread_mutex_unlock(&db->mu);
	return e;
}

int lsm_get(struct lsm_db *db, const struct lsm_snapshot *snap,
	    const void *key, size_t klen, void **val, size_t *vlen,
	    struct lsm_err *err)
{
	struct ent *e = find(db, key, klen);

	(void)snap;
	if (!e)
		return lsm_err_set(err, -ENOENT, "not found");
	*val = malloc(e->vlen + 1);
	memcpy(*val, e->val, e->vlen);
	*vlen = e->vlen;
	unref(e);
	return 0;
}

int lsm_get_buf(struct lsm_db *db, const struct lsm_snapshot *snap,
		const void *key, size_t klen, void *buf, size_t cap,
		size_t *vlen, struct lsm_err *err)
{
	struct ent *e = find(db, key, klen);

	(void)snap;
	if (!e)
		return lsm_err_set(err, -ENOENT, "not found");
	memcpy(buf, e->val, e->vlen < cap ? e->vlen : cap);
	*vlen = e->vlen;
	unref(e);
	return 0;
}

int lsm_iter_new(struct lsm_db *db, const struct lsm_snapshot *snap,
		 struct lsm_iter **out, struct lsm_err *err)
{
	struct lsm_iter *it = calloc(1, sizeof(*it));

	(void)snap;
	if (!it)
		return lsm_err_set(err, -ENOMEM, "oom");
	pthread_mutex_lock(&db->mu);
	it->e = malloc((db->n + 1) * sizeof(*it->e));
	for (size_t i = 0; i < db->n; i++) {
		it->e[i] = db->e[i];
		atomic_fetch_add(&it->e[i]->ref, 1);
	}
	it->n = db->n;
	it->pos = it->n;
	pthread_mutex_unlock(&db->mu);
	*out = it;
	return 0;
}

void lsm_iter_free(struct lsm_iter *it)
{
	if (!it)
		return;
	for (size_t i = 0; i < it->n; i++)
		unref(it->e[i]);
	free(it->e);
	free(it);
}

void lsm_iter_seek_first(struct lsm_iter *it) { it->pos = 0; }
void lsm_iter_seek_last(struct lsm_iter *it) { it->pos = it->n ? it->n - 1 : 0; }
void lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen)
{
	it->pos = lb(it->e, it->n, key, klen);
}
bool lsm_iter_valid(const struct lsm_iter *it) { return it->pos < it->n; }
void lsm_iter_next(struct lsm_iter *it) { it->pos++; }
void lsm_iter_prev(struct lsm_iter *it)
{
	it->pos = it->pos ? it->pos - 1 : it->n;
}
const void *lsm_iter_key(const struct lsm_iter *it, size_t *klen)
{
	*klen = it->e[it->pos]->klen;
	return it->e[it->pos]->key;
}
const void *lsm_iter_value(const struct lsm_iter *it, size_t *vlen)
{
	*vlen = it->e[it->pos]->vlen;
	return it->e[it->pos]->val;
}
int lsm_iter_status(const struct lsm_iter *it, struct lsm_err *err)
{
	(void)it;
	(void)err;
	return 0;
}

int lsm_stats(struct lsm_db *db, char **text, struct lsm_err *err)
{
	(void)err;
	if (asprintf(text, "lsm_fake_keys %zu\n", db->n) < 0)
		return -ENOMEM;
	return 0;
}

int lsm_level_tables(struct lsm_db *db, unsigned *counts, unsigned levels)
{
	(void)db;
	memset(counts, 0, levels * sizeof(*counts));
	return 0;
}
