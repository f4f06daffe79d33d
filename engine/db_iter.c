/* db_iter.c - user-facing iterators.  A merging iterator over the memtables
 * and every table of one super version yields all internal entries; this
 * file turns that into the user's view at a snapshot: the newest version of
 * each key with sequence <= the snapshot, tombstoned keys hidden.  Moving
 * forward, the internal iterator sits on the current entry; moving
 * backward, it sits just before the current key's entries and the current
 * key and value are copied out. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "iter.h"

struct level_ctx {
	struct lsm_db *db;
	const struct version *v;
	int level;
};

static struct iiter *level_open(void *ctx, size_t i, struct lsm_err *err)
{
	struct level_ctx *c = ctx;

	return table_cache_iter_fm(c->db->tables, c->v->files[c->level][i],
				   true, err);
}

static const uint8_t *level_last(void *ctx, size_t i, size_t *klen)
{
	struct level_ctx *c = ctx;
	const struct file_meta *f = c->v->files[c->level][i];

	*klen = f->largest_len;
	return f->largest;
}

static struct iiter *level_iter(struct lsm_db *db, const struct version *v,
				int level)
{
	struct level_ctx *c = malloc(sizeof(*c));
	struct iiter *it;

	if (!c)
		return NULL;
	c->db = db;
	c->v = v;
	c->level = level;
	it = iiter_concat(v->nfiles[level], c, level_open, level_last, free,
			  ikey_cmp);
	if (!it)
		free(c); /* concat leaves CTX to us when it fails */
	return it;
}

/* Children of an internal iterator that fit on the stack: the memtables,
 * a few L0 tables and the deeper levels. */
#define STACK_KIDS 32

struct iiter *db_internal_iter(struct lsm_db *db, struct super *sv,
			       struct lsm_err *err)
{
	const struct version *v = sv->v;
	size_t n = 0, max = 2 + v->nfiles[0] + LSM_MAX_LEVELS;
	struct iiter *stack_kids[STACK_KIDS], *it;
	struct iiter **kids = stack_kids;
	struct lsm_err e; /* not zeroed whole: this runs once per seek */

	if (max > STACK_KIDS && !(kids = malloc(max * sizeof(*kids))))
		goto oom;
	e.code = 0;
	e.msg[0] = '\0';
	/* A memtable empty now gets only entries newer than any sequence
	 * read before this call: nothing the caller may see. */
	if (memtable_count(sv->mem) && !(kids[n++] = memtable_iter(sv->mem)))
		goto oom_kids;
	if (sv->imm && memtable_count(sv->imm) &&
	    !(kids[n++] = memtable_iter(sv->imm)))
		goto oom_kids;
	for (size_t i = 0; i < v->nfiles[0]; i++) {
		kids[n] = table_cache_iter_fm(db->tables, v->files[0][i],
					      true, &e);
		if (!kids[n])
			kids[n] = iiter_error(e.code ? e.code : -EIO, e.msg);
		if (!kids[n++])
			goto oom_kids;
	}
	for (int l = 1; l < LSM_MAX_LEVELS; l++)
		if (v->nfiles[l] && !(kids[n++] = level_iter(db, v, l)))
			goto oom_kids;
	it = iiter_merge(kids, n, ikey_cmp);
	if (kids != stack_kids)
		free(kids);
	if (!it)
		goto oom;
	return it;
oom_kids:
	for (size_t i = 0; i < n; i++)
		iiter_free(kids[i]);
	if (kids != stack_kids)
		free(kids);
oom:
	lsm_err_set(err, -ENOMEM, "out of memory creating an iterator");
	return NULL;
}

enum dir { FORWARD, REVERSE };

struct lsm_iter {
	struct lsm_db *db;
	struct super *sv;
	struct iiter *it;
	uint64_t seq;
	enum dir dir;
	bool valid;
	struct buf key;   /* REVERSE: current key; FORWARD: skip key */
	/* lsm_iter_set_upper_bound: keys >= UPPER are past the end */
	struct buf upper;
	bool has_upper;
	struct buf val;   /* REVERSE: current value */
	/* FORWARD: the value of the current entry when it is a pointer
	 * (IKEY_VALUE_PTR), read from the log (PVAL_ON) */
	struct buf pval;
	bool pval_on;
	bool keys_only;   /* LSM_ITER_KEYS_ONLY: pointers are not followed */
	/* the length of the current value when it is a pointer not followed
	 * (keys_only), else SIZE_MAX */
	size_t ptr_len;
	int status;
	struct lsm_err err;
	uint64_t steps;   /* internal entries visited; into stats at free */
	/* bytes of keys and values left before the next read sample
	 * (compaction_read_sample); INT64_MAX: this db takes none */
	int64_t sample_left;
	uint64_t rnd;     /* xorshift state for the sampling period */
};

/* The bytes until the next sample: uniform in [0, 2 x read_sample_bytes),
 * read_sample_bytes on average (LevelDB's period is random too, so that
 * scans of one stride do not always sample the same keys). */
static int64_t sample_period(struct lsm_iter *i)
{
	uint64_t x = i->rnd, bytes = i->db->opts.read_sample_bytes;
	uint64_t span = bytes < (UINT64_C(1) << 61) ? 2 * bytes :
			UINT64_C(1) << 62; /* no overflow, never 0 */

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	i->rnd = x;
	return (int64_t)(x % span);
}

/* Counts the entry at the internal iterator (key K) toward the next read
 * sample. */
static void sample(struct lsm_iter *i, const uint8_t *k, size_t kl)
{
	size_t vl;

	if (i->sample_left == INT64_MAX)
		return;
	(void)iiter_value(i->it, &vl);
	i->sample_left -= (int64_t)(kl + vl);
	while (i->sample_left < 0) {
		i->sample_left += sample_period(i);
		compaction_read_sample(i->db, i->sv->v, k, kl);
	}
}

static void set_error(struct lsm_iter *i, int rc, const char *msg)
{
	i->valid = false;
	if (!i->status) {
		i->status = rc;
		lsm_err_set(&i->err, rc, "%s", msg);
	}
}

/* Parses the internal iterator's entry; false (and an error) if bad. */
static bool parse(struct lsm_iter *i, const uint8_t **k, size_t *kl)
{
	*k = iiter_key(i->it, kl);
	if (ikey_valid(*k, *kl))
		return true;
	set_error(i, -EUCLEAN, "iterator met a malformed internal key");
	return false;
}

static void check_status(struct lsm_iter *i)
{
	struct lsm_err e = { 0 };
	int rc = iiter_status(i->it, &e);

	if (rc < 0)
		set_error(i, rc, e.msg);
}

static void save(struct buf *b, const void *p, size_t n)
{
	buf_clear(b);
	if (n && n <= b->cap) { /* the common case: no call, no growth */
		memcpy(b->p, p, n);
		b->len = n;
		return;
	}
	buf_append(b, p, n);
}

/* Reads the value the pointer P (PLEN bytes) names into OUT (which may
 * hold P itself: P is decoded first). */
static bool follow(struct lsm_iter *i, const uint8_t *p, size_t plen,
		   struct buf *out)
{
	struct lsm_err e = { 0 };
	struct vptr ptr;
	int rc;

	if (vptr_decode(p, plen, &ptr) < 0) {
		set_error(i, -EUCLEAN, "iterator met a malformed value pointer");
		return false;
	}
	stat_add(&i->db->stats.vlog_reads, 1);
	rc = vlog_read_buf(i->db->vlog, &ptr, out, &e);
	if (rc < 0) {
		set_error(i, rc, e.msg);
		return false;
	}
	return true;
}

/* The length of the value pointer P (PLEN bytes) names, in i->ptr_len. */
static bool pointed_len(struct lsm_iter *i, const uint8_t *p, size_t plen)
{
	struct vptr ptr;

	if (vptr_decode(p, plen, &ptr) < 0) {
		set_error(i, -EUCLEAN, "iterator met a malformed value pointer");
		return false;
	}
	i->ptr_len = ptr.length;
	return true;
}

/* The forward iterator stands on (K, KL): a pointer's value is read (its
 * length only, keys_only). */
static bool land(struct lsm_iter *i, const uint8_t *k, size_t kl)
{
	size_t vl;
	const uint8_t *v;

	i->ptr_len = SIZE_MAX;
	i->pval_on = ikey_type(k, kl) == IKEY_VALUE_PTR;
	if (!i->pval_on)
		return true;
	v = iiter_value(i->it, &vl);
	if (i->keys_only) {
		i->pval_on = false;
		return pointed_len(i, v, vl);
	}
	return follow(i, v, vl, &i->pval);
}

/* Moves forward to the next visible entry; with SKIPPING, hides entries
 * whose user key is <= i->key. */
static void find_next(struct lsm_iter *i, bool skipping)
{
	const uint8_t *k;
	size_t kl;

	for (; iiter_valid(i->it); iiter_next(i->it)) {
		if (!parse(i, &k, &kl))
			return;
		/* At the bound, whatever the entry: deleted keys beyond it
		 * are not walked (a prefix scan after mass deletes). */
		if (i->has_upper && ukey_cmp(k, ikey_ulen(kl), i->upper.p,
					     i->upper.len) >= 0) {
			i->valid = false;
			return;
		}
		i->steps++;
		sample(i, k, kl);
		if (ikey_seq(k, kl) > i->seq)
			continue;
		if (skipping && ukey_cmp(k, ikey_ulen(kl), i->key.p,
					 i->key.len) <= 0)
			continue;
		if (ikey_type(k, kl) == IKEY_DELETE) {
			save(&i->key, k, ikey_ulen(kl));
			if (!buf_ok(&i->key)) { /* would hide nothing */
				set_error(i, -ENOMEM, "out of memory");
				return;
			}
			skipping = true;
			continue;
		}
		if (!land(i, k, kl))
			return;
		i->valid = true;
		return;
	}
	i->valid = false;
	check_status(i);
}

/* Moves backward to the previous visible key, copying it out. */
static void find_prev(struct lsm_iter *i)
{
	enum ikey_type last = IKEY_DELETE;
	const uint8_t *k;
	size_t kl;

	while (iiter_valid(i->it)) {
		if (!parse(i, &k, &kl))
			return;
		i->steps++;
		sample(i, k, kl);
		if (ikey_seq(k, kl) <= i->seq) {
			if (last != IKEY_DELETE &&
			    ukey_cmp(k, ikey_ulen(kl), i->key.p, i->key.len) < 0)
				break; /* an older key: the current one is done */
			last = ikey_type(k, kl);
			if (last == IKEY_DELETE) {
				buf_clear(&i->key);
				buf_clear(&i->val);
			} else {
				size_t vl;
				const uint8_t *v = iiter_value(i->it, &vl);

				save(&i->key, k, ikey_ulen(kl));
				save(&i->val, v, vl);
				/* the key ends the loop above: must be whole */
				if (!buf_ok(&i->key) || !buf_ok(&i->val))
					break;
			}
		}
		iiter_prev(i->it);
	}
	if (!buf_ok(&i->key) || !buf_ok(&i->val)) {
		set_error(i, -ENOMEM, "out of memory");
		return;
	}
	if (!iiter_valid(i->it))
		check_status(i);
	i->ptr_len = SIZE_MAX;
	if (last == IKEY_VALUE_PTR && !i->status && i->keys_only)
		pointed_len(i, i->val.p, i->val.len);
	else if (last == IKEY_VALUE_PTR && !i->status)
		follow(i, i->val.p, i->val.len, &i->val); /* the pointer's value */
	i->valid = last != IKEY_DELETE && !i->status;
	if (!i->valid)
		i->dir = FORWARD;
}

int lsm_iter_new(struct lsm_db *db, const struct lsm_snapshot *snap,
		 struct lsm_iter **out, struct lsm_err *err)
{
	return lsm_iter_new_ex(db, snap, 0, out, err);
}

int lsm_iter_new_ex(struct lsm_db *db, const struct lsm_snapshot *snap,
		    unsigned flags, struct lsm_iter **out,
		    struct lsm_err *err)
{
	struct lsm_iter *i;

	if (flags & ~(unsigned)LSM_ITER_KEYS_ONLY)
		return lsm_err_set(err, -EINVAL, "unknown iterator flags "
				   "0x%x", flags);
	i = malloc(sizeof(*i));
	if (!i)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	/* Field by field, not calloc: err.msg alone is 256 bytes. */
	i->db = db;
	i->dir = FORWARD;
	i->valid = false;
	i->key = (struct buf)BUF_INIT;
	i->upper = (struct buf)BUF_INIT;
	i->has_upper = false;
	i->val = (struct buf)BUF_INIT;
	i->pval = (struct buf)BUF_INIT;
	i->pval_on = false;
	i->keys_only = flags & LSM_ITER_KEYS_ONLY;
	i->ptr_len = SIZE_MAX;
	i->status = 0;
	i->err.code = 0;
	i->err.msg[0] = '\0';
	i->steps = 0;
	i->rnd = ((uint64_t)(uintptr_t)i ^ (db_now_us() << 16)) | 1;
	i->sample_left = INT64_MAX;
	if (db->reads_charge)
		i->sample_left = sample_period(i);
	if (snap && snap->sv) { /* a follower's snapshot holds its state */
		i->sv = snap->sv;
		atomic_fetch_add(&i->sv->refs, 1);
		i->seq = snap->seq;
	} else {
		i->sv = db_super_get(db, &i->seq);
		if (snap)
			i->seq = snap->seq;
	}
	i->it = db_internal_iter(db, i->sv, err);
	if (!i->it) {
		db_super_put(db, i->sv);
		free(i);
		return -ENOMEM;
	}
	stat_add(&db->stats.iterators, 1);
	*out = i;
	return 0;
}

void lsm_iter_free(struct lsm_iter *i)
{
	if (!i)
		return;
	stat_add(&i->db->stats.iter_steps, i->steps);
	iiter_free(i->it);
	db_super_put(i->db, i->sv);
	buf_free(&i->key);
	buf_free(&i->upper);
	buf_free(&i->val);
	buf_free(&i->pval);
	free(i);
}

void lsm_iter_seek_first(struct lsm_iter *i)
{
	stat_add(&i->db->stats.seeks, 1);
	i->dir = FORWARD;
	iiter_seek_first(i->it);
	find_next(i, false);
}

/* Positions the internal iterator at the first entry of user key KEY or
 * above; false (and an error) when out of memory. */
static bool seek_internal(struct lsm_iter *i, const void *key, size_t klen,
			  uint64_t seq)
{
	uint8_t stackkey[256], *ik = stackkey;

	if (klen + IKEY_TAG_BYTES > sizeof(stackkey))
		ik = malloc(klen + IKEY_TAG_BYTES);
	if (!ik) {
		set_error(i, -ENOMEM, "out of memory");
		return false;
	}
	ikey_encode(ik, key, klen, seq, IKEY_TYPE_FOR_SEEK);
	iiter_seek(i->it, ik, klen + IKEY_TAG_BYTES);
	if (ik != stackkey)
		free(ik);
	return true;
}

void lsm_iter_seek_last(struct lsm_iter *i)
{
	stat_add(&i->db->stats.seeks, 1);
	i->dir = REVERSE;
	buf_clear(&i->key);
	if (!i->has_upper) {
		iiter_seek_last(i->it);
	} else {
		/* The last entry below every version of the bound. */
		struct lsm_err e;

		if (i->upper.len == 0) { /* every key is >= "" */
			i->valid = false;
			i->dir = FORWARD;
			return;
		}
		if (!seek_internal(i, i->upper.p, i->upper.len, IKEY_MAX_SEQ))
			return;
		if (iiter_valid(i->it))
			iiter_prev(i->it);
		else if (!iiter_status(i->it, &e)) /* all below the bound */
			iiter_seek_last(i->it);
	}
	find_prev(i);
}

void lsm_iter_seek(struct lsm_iter *i, const void *key, size_t klen)
{
	stat_add(&i->db->stats.seeks, 1);
	i->dir = FORWARD;
	if (seek_internal(i, key, klen, i->seq))
		find_next(i, false);
}

int lsm_iter_set_upper_bound(struct lsm_iter *i, const void *upper,
			     size_t ulen)
{
	i->valid = false;
	i->dir = FORWARD;
	i->has_upper = false;
	if (!upper)
		return 0;
	save(&i->upper, upper, ulen);
	if (!buf_ok(&i->upper)) {
		set_error(i, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	i->has_upper = true;
	return 0;
}

bool lsm_iter_valid(const struct lsm_iter *i)
{
	return i->valid;
}

void lsm_iter_next(struct lsm_iter *i)
{
	const uint8_t *k;
	size_t kl;

	if (!i->valid)
		return;
	if (i->dir == REVERSE) {
		/* The internal iterator is before the current key: step onto
		 * its entries, then skip them (i->key holds it). */
		i->dir = FORWARD;
		if (!iiter_valid(i->it))
			iiter_seek_first(i->it);
		else
			iiter_next(i->it);
	} else {
		k = iiter_key(i->it, &kl);
		save(&i->key, k, ikey_ulen(kl));
		iiter_next(i->it);
	}
	if (!buf_ok(&i->key)) {
		set_error(i, -ENOMEM, "out of memory");
		return;
	}
	find_next(i, true);
}

void lsm_iter_prev(struct lsm_iter *i)
{
	const uint8_t *k;
	size_t kl;

	if (!i->valid)
		return;
	if (i->dir == FORWARD) {
		/* Step back past every entry of the current key. */
		k = iiter_key(i->it, &kl);
		save(&i->key, k, ikey_ulen(kl));
		if (!buf_ok(&i->key)) {
			set_error(i, -ENOMEM, "out of memory");
			return;
		}
		for (;;) {
			iiter_prev(i->it);
			if (!iiter_valid(i->it))
				break;
			k = iiter_key(i->it, &kl);
			if (ukey_cmp(k, ikey_ulen(kl), i->key.p, i->key.len) < 0)
				break;
		}
		i->dir = REVERSE;
	}
	find_prev(i);
}

const void *lsm_iter_key(const struct lsm_iter *i, size_t *klen)
{
	size_t kl;
	const uint8_t *k;

	if (i->dir == REVERSE) {
		*klen = i->key.len;
		return i->key.p ? (const void *)i->key.p : "";
	}
	k = iiter_key(i->it, &kl);
	*klen = ikey_ulen(kl);
	return k;
}

const void *lsm_iter_value(const struct lsm_iter *i, size_t *vlen)
{
	if (i->keys_only) {
		*vlen = 0;
		return NULL;
	}
	if (i->dir == REVERSE) {
		*vlen = i->val.len;
		return i->val.p ? (const void *)i->val.p : "";
	}
	if (i->pval_on) {
		*vlen = i->pval.len;
		return i->pval.p;
	}
	return iiter_value(i->it, vlen);
}

int lsm_iter_status(const struct lsm_iter *i, struct lsm_err *err)
{
	if (i->status && err)
		*err = i->err;
	return i->status;
}

size_t lsm_iter_value_len(const struct lsm_iter *i)
{
	size_t vl;

	if (i->ptr_len != SIZE_MAX)
		return i->ptr_len;
	if (i->dir == REVERSE)
		return i->val.len;
	if (i->pval_on)
		return i->pval.len;
	(void)iiter_value(i->it, &vl);
	return vl;
}
