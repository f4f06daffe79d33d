/* compaction.c - leveled compaction: picks which tables to merge, merges
 * them into the next level while dropping versions no snapshot can see, and
 * installs the result.
 *
 * Scores: L0 by table count over l0_compaction_trigger; Ln (n >= 1) by
 * bytes over its target (level1_bytes * multiplier^(n-1)).  L0 compactions
 * take every L0 table; Ln compactions take one table, round-robin through
 * the key space (the compact pointer).  Outputs split at table_bytes, and
 * early when they would overlap more than 10 tables' worth of the level
 * below, so later compactions stay bounded; never inside one user key's
 * versions, so tables in L1+ never share a user key.
 *
 * Space after deletions: sizes shrink when data is deleted, so the scores
 * above never bring the tombstones down to the data they delete.  When
 * no level is over its size, a table whose entries are at least
 * tombstone_percent deletions is compacted into the level below (as
 * RocksDB's deletion-triggered compaction); its outputs there, still
 * dense while older data lies further down, are picked in turn, until the
 * tombstones reach the base of their key range and are dropped with what
 * they hid.  After idle_compaction_ms without writes, the same is done one
 * table at a time for every table above the deepest level that holds any
 * tombstone or whose counts are unknown.  Both only ever move data down,
 * so they end.
 *
 * Reads (read_sample_bytes, as LevelDB's seek compaction): iterators
 * sample the keys they visit; a sampled key held by two or more tables
 * charges the shallowest.  A lookup that read a block of one table in
 * vain on its way to a deeper one charges that table (db_read.c; LevelDB
 * charges every lookup that asks two tables, even one a filter turned
 * away: here only the reads a compaction would have spared count, so
 * lookups of absent names, which filters answer, do not compact).  A
 * table charged once per 16 KiB of its size (at least 100 times) is
 * compacted into the level below when no size or tombstone compaction is
 * due.  After a burst of writes, the scans and lookups that follow then
 * touch one table per level again, not every L0 table besides.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db_impl.h"
#include "filename.h"
#include "flush_place.h"
#include "iter.h"
#include "sst.h"
#include "vlog.h"

/* Why a compaction runs. */
enum why { WHY_SIZE, WHY_TOMBSTONES, WHY_IDLE, WHY_READS, WHY_MANUAL,
	   WHY_VLOG };

struct compaction {
	int level;                      /* inputs[0] from here, into +1 */
	enum why why;
	struct file_meta **in[2];
	size_t n[2];
	struct version *v;              /* referenced while running */
	uint64_t smallest_snapshot;
	/* Every snapshot's sequence number, in-memory and durable, and the
	 * visible one (the newest reader's) last: ascending, no repeats
	 * (db_snapshot_seqs).  Versions of a key between two neighbours
	 * form a stripe: only its newest is seen by anyone. */
	uint64_t *snaps;
	size_t nsnaps;
	uint64_t pinned;                /* of the output being written */
	struct vlog_refs vlog;          /* of the output being written */
	/* Pointers into these segments are replaced by their values (the
	 * value log's collection: db->vlog_collect when it began). */
	struct vlog_refs collect;
	struct buf inlined;             /* the value replacing one */
	struct buf ptr_key;             /* its key, typed IKEY_VALUE */
	bool manual;
	/* outputs */
	struct version_edit edit;
	struct sst_builder *b;
	uint64_t out_number;
	uint64_t bytes_read, bytes_written;
	/* grandparent overlap tracking (level + 2) */
	size_t gp_index;
	uint64_t gp_overlap;
	bool seen_key;
};

static uint64_t level_target(const struct lsm_db *db, int level)
{
	uint64_t t = db->opts.level1_bytes;

	for (int i = 1; i < level; i++)
		t = t > UINT64_MAX / db->opts.level_multiplier
			? UINT64_MAX : t * db->opts.level_multiplier;
	return t;
}

double compaction_score(struct lsm_db *db, const struct version *v, int level)
{
	if (level == 0)
		return (double)v->nfiles[0] / db->opts.l0_compaction_trigger;
	return (double)version_level_bytes(v, level) /
	       (double)level_target(db, level);
}

uint64_t compaction_pending_bytes(struct lsm_db *db, const struct version *v)
{
	uint64_t pend = 0;
	int last = (int)db->opts.max_levels - 1;

	if (v->nfiles[0] >= db->opts.l0_compaction_trigger)
		pend += version_level_bytes(v, 0);
	for (int level = 1; level < last; level++) {
		uint64_t b = version_level_bytes(v, level);
		uint64_t t = level_target(db, level);

		if (b > t)
			pend += b - t;
	}
	return pend;
}

static uint64_t files_bytes(struct file_meta **f, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += f[i]->size;
	return sum;
}

static void compaction_free(struct compaction *c)
{
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < c->n[i]; j++)
			c->in[i][j]->compacting = false;
		free(c->in[i]);
	}
	free(c->snaps);
	if (c->v)
		version_unref(c->v);
	version_edit_free(&c->edit);
}

/* User-key range [lo, hi] covered by FILES (borrowed internal keys). */
static void files_range(struct file_meta **f, size_t n, const uint8_t **lo,
			size_t *lolen, const uint8_t **hi, size_t *hilen)
{
	*lo = f[0]->smallest;
	*lolen = f[0]->smallest_len;
	*hi = f[0]->largest;
	*hilen = f[0]->largest_len;
	for (size_t i = 1; i < n; i++) {
		if (ikey_cmp(f[i]->smallest, f[i]->smallest_len, *lo,
			     *lolen) < 0) {
			*lo = f[i]->smallest;
			*lolen = f[i]->smallest_len;
		}
		if (ikey_cmp(f[i]->largest, f[i]->largest_len, *hi,
			     *hilen) > 0) {
			*hi = f[i]->largest;
			*hilen = f[i]->largest_len;
		}
	}
}

/* Fills in[1] with the files of level+1 overlapping in[0] (under mu). */
static int add_next_level(struct compaction *c)
{
	const uint8_t *lo, *hi;
	size_t lolen, hilen;

	files_range(c->in[0], c->n[0], &lo, &lolen, &hi, &hilen);
	return version_overlapping(c->v, c->level + 1, lo, ikey_ulen(lolen),
				   hi, ikey_ulen(hilen), &c->in[1], &c->n[1]);
}

static bool any_compacting(struct file_meta **f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i]->compacting)
			return true;
	return false;
}

/* Picks an automatic compaction (under mu): 1 with C filled, 0 if none. */
static int pick_auto(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	double best = 0;
	int level = -1;
	size_t i;

	for (int l = 0; l + 1 < (int)db->opts.max_levels; l++) {
		double s = compaction_score(db, v, l);

		if (s >= 1.0 && s > best && !any_compacting(v->files[l],
							     v->nfiles[l])) {
			best = s;
			level = l;
		}
	}
	if (level < 0)
		return 0;
	c->level = level;
	c->v = v;
	version_ref(v);
	if (level == 0) {
		c->in[0] = malloc(v->nfiles[0] * sizeof(*c->in[0]));
		if (!c->in[0])
			return -ENOMEM;
		c->n[0] = v->nfiles[0];
		memcpy(c->in[0], v->files[0], c->n[0] * sizeof(*c->in[0]));
	} else {
		struct buf *ptr = &db->vs.pointers[level];

		i = 0;
		if (ptr->len >= IKEY_TAG_BYTES) {
			while (i < v->nfiles[level] &&
			       ikey_cmp(v->files[level][i]->largest,
					v->files[level][i]->largest_len,
					ptr->p, ptr->len) <= 0)
				i++;
			if (i == v->nfiles[level])
				i = 0;
		}
		c->in[0] = malloc(sizeof(*c->in[0]));
		if (!c->in[0])
			return -ENOMEM;
		c->in[0][0] = v->files[level][i];
		c->n[0] = 1;
	}
	if (add_next_level(c) < 0)
		return -ENOMEM;
	/* A manual compaction may hold the level below. */
	return any_compacting(c->in[1], c->n[1]) ? 0 : 1;
}

static int deepest_level(const struct version *v, unsigned max_levels)
{
	int deepest = 0;

	for (int l = 0; l < (int)max_levels; l++)
		if (v->nfiles[l])
			deepest = l;
	return deepest;
}

/* Inputs for compacting table F of LEVEL into LEVEL+1 (under mu): for L0
 * every L0 table overlapping it too (they may hide each other's keys).
 * 1 with C filled, 0 if an input is busy, or -ENOMEM. */
static int pick_table(struct lsm_db *db, struct compaction *c, int level,
		      struct file_meta *f, enum why why)
{
	struct version *v = db->vs.current;
	int rc;

	c->level = level;
	c->why = why;
	c->v = v;
	version_ref(v);
	if (level == 0) {
		rc = version_overlapping(v, 0, f->smallest,
					 ikey_ulen(f->smallest_len), f->largest,
					 ikey_ulen(f->largest_len), &c->in[0],
					 &c->n[0]);
		if (rc < 0)
			return rc;
	} else {
		c->in[0] = malloc(sizeof(*c->in[0]));
		if (!c->in[0])
			return -ENOMEM;
		c->in[0][0] = f;
		c->n[0] = 1;
	}
	if (add_next_level(c) < 0)
		return -ENOMEM;
	return any_compacting(c->in[0], c->n[0]) ||
	       any_compacting(c->in[1], c->n[1]) ? 0 : 1;
}

/* Deletions per million entries of F (0 when its counts are unknown). */
static uint64_t density(const struct file_meta *f)
{
	if (!f->has_counts || f->entries == 0)
		return 0;
	return f->deletions * 1000000u / f->entries;
}

/* The densest table with at least tombstone_percent deletions above the
 * last level (under mu): 1 with C filled, 0 if none. */
static int pick_tombstones(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	uint64_t min = (uint64_t)db->opts.tombstone_percent * 10000u, best = 0;
	struct file_meta *pick = NULL;
	int level = -1;

	if (!db->opts.tombstone_percent)
		return 0;
	for (int l = 0; l + 1 < (int)db->opts.max_levels; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			struct file_meta *f = v->files[l][i];
			uint64_t d = density(f);

			if (!f->compacting && f->deletions && d >= min &&
			    d > best) {
				best = d;
				pick = f;
				level = l;
			}
		}
	return pick ? pick_table(db, c, level, pick, WHY_TOMBSTONES) : 0;
}

/* The idle pass (under mu): the shallowest table above the deepest level
 * holding data that has tombstones or unknown counts, the one with the
 * most deletions first.  1 with C filled, 0 if none. */
static int pick_idle(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	int deepest = deepest_level(v, db->opts.max_levels);

	for (int l = 0; l < deepest; l++) {
		struct file_meta *pick = NULL;

		for (size_t i = 0; i < v->nfiles[l]; i++) {
			struct file_meta *f = v->files[l][i];

			if (f->compacting || (f->has_counts && !f->deletions))
				continue;
			if (!pick || !f->has_counts ||
			    f->deletions > pick->deletions)
				pick = f;
			if (!f->has_counts)
				break;
		}
		if (pick)
			return pick_table(db, c, l, pick, WHY_IDLE);
	}
	return 0;
}

/* Is there no file below level+1 that may hold user key UKEY? */
static bool is_base_level(const struct compaction *c, const uint8_t *ukey,
			  size_t ulen)
{
	const struct version *v = c->v;
	uint8_t stack[256], *seek = stack;
	bool base = true;

	/* (ukey, max seq) sorts before every version of ukey. */
	if (ulen + IKEY_TAG_BYTES > sizeof(stack) &&
	    !(seek = malloc(ulen + IKEY_TAG_BYTES)))
		return false; /* keeping a tombstone is always safe */
	ikey_encode(seek, ukey, ulen, IKEY_MAX_SEQ, IKEY_TYPE_FOR_SEEK);
	for (int l = c->level + 2; base && l < LSM_MAX_LEVELS; l++) {
		size_t i = version_find_file(v, l, seek, ulen + IKEY_TAG_BYTES);
		const struct file_meta *f;

		if (i >= v->nfiles[l])
			continue;
		f = v->files[l][i];
		if (ukey_cmp(ukey, ulen, f->smallest,
			     ikey_ulen(f->smallest_len)) >= 0)
			base = false;
	}
	if (seek != stack)
		free(seek);
	return base;
}

static int open_output(struct lsm_db *db, struct compaction *c,
		       struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct sst_options so;
	int rc;

	pthread_mutex_lock(&db->mu);
	c->out_number = vset_new_file_number(&db->vs);
	rc = db_pending_add(db, c->out_number);
	pthread_mutex_unlock(&db->mu);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	db_sst_options(db, &so);
	filename_path(path, db->dir, FILE_TABLE, c->out_number);
	c->gp_overlap = 0;
	c->seen_key = false;
	return sst_builder_new(db->io, path, &so, &c->b, err);
}

static int finish_output(struct lsm_db *db, struct compaction *c,
			 struct lsm_err *err)
{
	const uint8_t *s, *l;
	size_t slen, llen;
	uint64_t size = 0;
	int rc;

	s = sst_builder_smallest(c->b, &slen);
	l = sst_builder_largest(c->b, &llen);
	rc = version_edit_add_file(&c->edit, c->level + 1, c->out_number, 0,
				   s, slen, l, llen);
	if (rc < 0) {
		sst_builder_abandon(c->b);
		c->b = NULL;
		return lsm_err_set(err, rc, "out of memory");
	}
	version_edit_set_counts(&c->edit, c->out_number,
				sst_builder_entries(c->b),
				sst_builder_deletions(c->b));
	rc = sst_builder_finish(c->b, &size, err);
	c->b = NULL;
	if (rc < 0)
		return rc;
	c->edit.added[c->edit.nadded - 1].f->size = size;
	c->edit.added[c->edit.nadded - 1].f->pinned_bytes = c->pinned;
	c->edit.added[c->edit.nadded - 1].f->vlog = c->vlog;
	c->pinned = 0;
	c->vlog = (struct vlog_refs){ 0 };
	c->bytes_written += size;
	(void)db;
	return 0;
}

/* Should the output end before user key IK (a new user key)? */
static bool stop_before(struct lsm_db *db, struct compaction *c,
			const uint8_t *ik, size_t iklen)
{
	const struct version *v = c->v;
	int gl = c->level + 2;

	if (sst_builder_size(c->b) >= db->opts.table_bytes)
		return true;
	if (db->opts.table_prefix_bytes) { /* see flush_place.c */
		size_t llen;
		const uint8_t *last = sst_builder_largest(c->b, &llen);

		if (!flush_same_prefix(db, ik, ikey_ulen(iklen), last,
				       ikey_ulen(llen)))
			return true;
	}
	if (gl >= (int)db->opts.max_levels)
		return false;
	while (c->gp_index < v->nfiles[gl] &&
	       ikey_cmp(ik, iklen, v->files[gl][c->gp_index]->largest,
			v->files[gl][c->gp_index]->largest_len) > 0) {
		if (c->seen_key)
			c->gp_overlap += v->files[gl][c->gp_index]->size;
		c->gp_index++;
	}
	c->seen_key = true;
	return c->gp_overlap > 10 * db->opts.table_bytes;
}

struct merge_state {
	struct buf cur_ukey;
	bool has_cur;
	uint64_t last_seq_for_key;
	size_t last_stripe;    /* stripe of last_seq_for_key */
};

/* The stripe of SEQ: the index of the first snapshot that sees it (the
 * smallest at or above it), nsnaps when none does. */
static size_t stripe(const struct compaction *c, uint64_t seq)
{
	size_t lo = 0, hi = c->nsnaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->snaps[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Decides whether the entry IK is dropped. */
static bool drop_entry(struct compaction *c, struct merge_state *m,
		       const uint8_t *ik, size_t iklen, bool *new_key)
{
	size_t ulen = ikey_ulen(iklen);
	uint64_t seq = ikey_seq(ik, iklen);
	size_t st = stripe(c, seq);
	bool drop = false;

	*new_key = !m->has_cur || ukey_cmp(ik, ulen, m->cur_ukey.p,
					   m->cur_ukey.len) != 0;
	if (*new_key) {
		buf_clear(&m->cur_ukey);
		buf_append(&m->cur_ukey, ik, ulen);
		m->has_cur = true;
		m->last_seq_for_key = UINT64_MAX;
	}
	if (m->last_seq_for_key != UINT64_MAX && m->last_stripe == st &&
	    st < c->nsnaps)
		drop = true; /* hidden by a newer version every reader that
			      * sees it sees (LevelDB keeps all versions past
			      * the oldest snapshot; durable snapshots live
			      * long, so each stripe keeps only its newest) */
	else if (ikey_type(ik, iklen) == IKEY_DELETE &&
		 seq <= c->smallest_snapshot && is_base_level(c, ik, ulen))
		drop = true; /* nothing older below for it to hide */
	m->last_seq_for_key = seq;
	m->last_stripe = st;
	return drop;
}

static int input_iter(struct lsm_db *db, struct compaction *c,
		      struct iiter **out, struct lsm_err *err)
{
	size_t n = c->n[0] + c->n[1], k = 0;
	struct iiter **kids = calloc(n + 1, sizeof(*kids));
	struct lsm_err e = { 0 };

	if (!kids)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < c->n[i]; j++) {
			kids[k] = table_cache_iter(db->tables,
						   fm_key(c->in[i][j]), false,
						   &e);
			if (!kids[k]) {
				while (k > 0)
					iiter_free(kids[--k]);
				free(kids);
				if (err)
					*err = e;
				return e.code ? e.code : -EIO;
			}
			k++;
		}
	*out = iiter_merge(kids, n, ikey_cmp);
	free(kids);
	return *out ? 0 : lsm_err_set(err, -ENOMEM, "out of memory");
}

/* The bytes of the value of entry (K, V): a pointer's value's length. */
static size_t value_bytes(const uint8_t *k, size_t kl, const uint8_t *v,
			  size_t vl)
{
	struct vptr p;

	if (ikey_type(k, kl) == IKEY_VALUE_PTR && vptr_decode(v, vl, &p) == 0)
		return p.length;
	return vl;
}

/* A pointer the merge meets (key K of KL bytes, value *V): counted for
 * the output, or, when it names a segment below the collection's floor,
 * replaced by the value itself (read and checked), so that the segment
 * can go. */
static int merge_pointer(struct lsm_db *db, struct compaction *c,
			 const uint8_t **k, size_t kl, const uint8_t **v,
			 size_t *vl, struct lsm_err *err)
{
	struct vptr p;
	int rc;

	if (vptr_decode(*v, *vl, &p) < 0)
		return lsm_err_set(err, -EUCLEAN, "%s: malformed value "
				   "pointer in a compaction input", db->dir);
	if (!vlog_refs_has(&c->collect, p.segment))
		return vlog_refs_add(&c->vlog, p.segment, p.length) < 0
			       ? lsm_err_set(err, -ENOMEM, "out of memory")
			       : 0;
	rc = vlog_read_buf(db->vlog, &p, &c->inlined, err);
	if (rc < 0)
		return rc;
	buf_clear(&c->ptr_key);
	buf_append(&c->ptr_key, *k, kl);
	if (!buf_ok(&c->ptr_key))
		return lsm_err_set(err, -ENOMEM, "out of memory");
	put_u64le(c->ptr_key.p + kl - IKEY_TAG_BYTES,
		  ikey_pack_tag(ikey_seq(*k, kl), IKEY_VALUE));
	*k = c->ptr_key.p;
	*v = c->inlined.p;
	*vl = p.length;
	stat_add(&db->stats.vlog_inlined_bytes, p.length);
	return 0;
}

/* Merges the inputs into new tables (mu not held). */
static int do_merge(struct lsm_db *db, struct compaction *c,
		    struct lsm_err *err)
{
	struct merge_state m = { .cur_ukey = BUF_INIT };
	struct iiter *it = NULL;
	int rc = input_iter(db, c, &it, err);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	rc = vlog_refs_copy(&c->collect, &db->vlog_collect);
	pthread_mutex_unlock(&db->mu);
	if (rc < 0) {
		iiter_free(it);
		return lsm_err_set(err, rc, "out of memory");
	}
	for (iiter_seek_first(it); iiter_valid(it); iiter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = iiter_key(it, &kl);
		const uint8_t *v = iiter_value(it, &vl);
		bool new_key, drop = drop_entry(c, &m, k, kl, &new_key);

		/* Without the current key, the next version of this key
		 * would pass for a new key: a dropped tombstone could bring
		 * back what it deleted.  Stop before deciding anything. */
		if (!buf_ok(&m.cur_ukey)) {
			rc = lsm_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (drop)
			continue;
		if (!new_key) /* an older version kept for a snapshot */
			c->pinned += kl + value_bytes(k, kl, v, vl);
		if (c->b && new_key && stop_before(db, c, k, kl)) {
			rc = finish_output(db, c, err);
			if (rc < 0)
				break;
		}
		if (!c->b && (rc = open_output(db, c, err)) < 0)
			break;
		if (ikey_type(k, kl) == IKEY_VALUE_PTR &&
		    (rc = merge_pointer(db, c, &k, kl, &v, &vl, err)) < 0)
			break;
		rc = sst_builder_add(c->b, k, kl, v, vl, err);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = iiter_status(it, err);
	if (rc == 0 && c->b)
		rc = finish_output(db, c, err);
	if (rc < 0 && c->b) {
		sst_builder_abandon(c->b);
		c->b = NULL;
	}
	iiter_free(it);
	buf_free(&m.cur_ukey);
	buf_free(&c->inlined);
	buf_free(&c->ptr_key);
	vlog_refs_free(&c->collect);
	vlog_refs_free(&c->vlog);
	return rc;
}

static void release_outputs(struct lsm_db *db, struct compaction *c)
{
	for (size_t i = 0; i < c->edit.nadded; i++)
		db_pending_remove(db, c->edit.added[i].f->number);
	if (c->out_number)
		db_pending_remove(db, c->out_number);
}

/* Records the result in the manifest and installs it (under mu). */
static int install(struct lsm_db *db, struct compaction *c,
		   struct lsm_err *err)
{
	const uint8_t *lo, *hi;
	size_t lolen, hilen;
	int rc;

	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < c->n[i]; j++)
			if (version_edit_delete_file(&c->edit, c->level + i,
						     c->in[i][j]->number) < 0)
				return lsm_err_set(err, -ENOMEM, "out of memory");
	if (c->n[0] == 0) /* a rewrite of the deepest level in place */
		goto log;
	files_range(c->in[0], c->n[0], &lo, &lolen, &hi, &hilen);
	if (c->level > 0 &&
	    version_edit_set_pointer(&c->edit, c->level, hi, hilen) < 0)
		return lsm_err_set(err, -ENOMEM, "out of memory");
log:
	db->vs.last_seq = atomic_load(&db->last_seq);
	rc = db_log_and_apply(db, &c->edit, err);
	if (rc < 0) {
		if (db_manifest_error_fatal(db, rc))
			db_set_bg_error(db, rc, err);
		return rc;
	}
	rc = version_check(db->vs.current, err);
	if (rc < 0) {
		db_set_bg_error(db, rc, err);
		return rc;
	}
	if (db_super_install(db) < 0)
		db_log(db, LSM_LOG_WARN, "out of memory publishing compaction");
	return 0;
}

/* A move of one table down a level, without rewriting it (under mu). */
static int trivial_move(struct lsm_db *db, struct compaction *c,
			struct lsm_err *err)
{
	struct file_meta *f = c->in[0][0];
	int rc;

	rc = version_edit_delete_file(&c->edit, c->level, f->number);
	if (rc == 0)
		rc = version_edit_add_file(&c->edit, c->level + 1, f->number,
					   f->size, f->smallest,
					   f->smallest_len, f->largest,
					   f->largest_len);
	if (rc == 0)
		rc = version_edit_copy_counts(&c->edit, f->number, f);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	rc = db_log_and_apply(db, &c->edit, err);
	if (rc < 0) {
		if (db_manifest_error_fatal(db, rc))
			db_set_bg_error(db, rc, err);
		return rc;
	}
	if (db_super_install(db) < 0)
		db_log(db, LSM_LOG_WARN, "out of memory publishing a move");
	return 0;
}

/* Does any level below level+1 hold keys in [LO, HI] (internal keys)? */
static bool overlaps_below(const struct compaction *c, const uint8_t *lo,
			   size_t lolen, const uint8_t *hi, size_t hilen)
{
	for (int l = c->level + 2; l < LSM_MAX_LEVELS; l++) {
		struct file_meta **f = NULL;
		size_t n = 0;
		int rc = version_overlapping(c->v, l, lo, ikey_ulen(lolen), hi,
					     ikey_ulen(hilen), &f, &n);

		free(f);
		if (rc < 0 || n > 0)
			return true; /* moving is always safe */
	}
	return false;
}

static bool can_move(struct lsm_db *db, struct compaction *c)
{
	int gl = c->level + 2;
	const uint8_t *lo, *hi;
	size_t lolen, hilen;
	struct file_meta **gp = NULL;
	size_t ngp = 0;
	bool ok;

	if (c->manual || c->n[0] != 1 || c->n[1] != 0 || c->why == WHY_VLOG)
		return false; /* (the value log's collection must rewrite) */
	files_range(c->in[0], 1, &lo, &lolen, &hi, &hilen);
	/* Tombstones with nothing below to hide are dropped by a rewrite:
	 * moving them would only carry them down. */
	if (c->why != WHY_SIZE && !overlaps_below(c, lo, lolen, hi, hilen))
		return false;
	if (gl >= (int)db->opts.max_levels)
		return true;
	if (version_overlapping(c->v, gl, lo, ikey_ulen(lolen), hi,
				ikey_ulen(hilen), &gp, &ngp) < 0) {
		free(gp); /* what it gathered before running out */
		return false;
	}
	ok = files_bytes(gp, ngp) <= 10 * db->opts.table_bytes;
	free(gp);
	return ok;
}

/* Runs compaction C (under mu; dropped while merging). */
static int run(struct lsm_db *db, struct compaction *c, struct lsm_err *err)
{
	uint64_t t0 = db_now_us();
	int rc;

	for (int i = 0; i < 2; i++)
		for (size_t j = 0; j < c->n[i]; j++)
			c->in[i][j]->compacting = true;
	c->smallest_snapshot = db_oldest_snapshot(db);
	if (db_snapshot_seqs(db, &c->snaps, &c->nsnaps) < 0)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	if (can_move(db, c)) {
		rc = trivial_move(db, c, err);
		if (rc == 0 && c->why == WHY_READS)
			stat_add(&db->stats.read_compactions, 1);
		if (rc == 0)
			db_log(db, LSM_LOG_DEBUG, "moved table %llu to L%d",
			       (unsigned long long)c->in[0][0]->number,
			       c->level + 1);
		return rc;
	}
	c->bytes_read = files_bytes(c->in[0], c->n[0]) +
			files_bytes(c->in[1], c->n[1]);
	pthread_mutex_unlock(&db->mu);
	rc = do_merge(db, c, err);
	pthread_mutex_lock(&db->mu);
	if (rc == 0)
		rc = install(db, c, err);
	release_outputs(db, c);
	if (rc == 0) {
		if (c->why == WHY_TOMBSTONES)
			stat_add(&db->stats.tombstone_compactions, 1);
		else if (c->why == WHY_IDLE)
			stat_add(&db->stats.idle_compactions, 1);
		else if (c->why == WHY_READS)
			stat_add(&db->stats.read_compactions, 1);
		stat_add(&db->stats.compactions, 1);
		stat_add(&db->stats.compaction_bytes_read, c->bytes_read);
		stat_add(&db->stats.compaction_bytes_written, c->bytes_written);
		db_log(db, LSM_LOG_INFO, "compacted %zu+%zu tables L%d->L%d: "
		       "%llu -> %llu bytes in %llu ms", c->n[0], c->n[1],
		       c->level, c->level + 1,
		       (unsigned long long)c->bytes_read,
		       (unsigned long long)c->bytes_written,
		       (unsigned long long)(db_now_us() - t0) / 1000);
	}
	return rc;
}

/* Picks with PICK (under mu) and runs what it picked: 1 if it did work,
 * 0 if there was none, or a negative error. */
static int run_picked(struct lsm_db *db,
		      int (*pick)(struct lsm_db *, struct compaction *),
		      struct lsm_err *err)
{
	struct compaction c = { 0 };
	int rc;

	if (db->bg_error)
		return 0;
	version_edit_init(&c.edit);
	rc = pick(db, &c);
	if (rc == 1) {
		rc = run(db, &c, err);
		if (rc == 0)
			rc = 1;
	} else if (rc < 0)
		lsm_err_set(err, rc, "out of memory picking a compaction");
	compaction_free(&c); /* drops the input version: inputs can go */
	if (rc == 1)
		db_delete_obsolete(db);
	return rc;
}

/* The table reads marked (db->read_compact_number), if it is still
 * where it was: 1 with C filled, 0 if none. */
static int pick_reads(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	uint64_t number = db->read_compact_number;
	int level = db->read_compact_level;

	db->read_compact_number = 0;
	if (!number || level + 1 >= (int)db->opts.max_levels)
		return 0;
	for (size_t i = 0; i < v->nfiles[level]; i++) {
		struct file_meta *f = v->files[level][i];

		if (f->number == number)
			return f->compacting ? 0 :
			       pick_table(db, c, level, f, WHY_READS);
	}
	return 0;
}

/* Table F of LEVEL rewritten: pushed into the level below, or, in the
 * DEEPEST level, merged again into that same level (in[1] only, as
 * rewrite_bottom does).  1 with C filled, 0 if an input is busy. */
static int pick_rewrite(struct lsm_db *db, struct compaction *c, int level,
			int deepest, struct file_meta *f, enum why why)
{
	if (level < deepest || level == 0)
		return pick_table(db, c, level, f, why);
	c->level = level - 1;
	c->why = why;
	c->v = db->vs.current;
	version_ref(c->v);
	c->in[1] = malloc(sizeof(*c->in[1]));
	if (!c->in[1])
		return -ENOMEM;
	c->in[1][0] = f;
	c->n[1] = 1;
	return 1;
}

/* A table pointing into a log segment the value log collects (mostly
 * dead: db_delete_obsolete listed it in db->vlog_collect), rewritten so
 * that its values there come back into the table (pick_rewrite).  1 with
 * C filled, 0 if none. */
static int pick_vlog(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	int deepest = deepest_level(v, db->opts.max_levels);

	if (!db->vlog_collect.n)
		return 0;
	for (int l = 0; l <= deepest; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			struct file_meta *f = v->files[l][i];
			bool hit = false;

			for (size_t j = 0; !hit && j < f->vlog.n; j++)
				hit = vlog_refs_has(&db->vlog_collect,
						    f->vlog.v[j].segment);
			if (hit && !f->compacting)
				return pick_rewrite(db, c, l, deepest, f,
						    WHY_VLOG);
		}
	return 0;
}

int compaction_run_auto(struct lsm_db *db, struct lsm_err *err)
{
	int rc = run_picked(db, pick_auto, err);

	if (rc == 0)
		rc = run_picked(db, pick_tombstones, err);
	if (rc == 0)
		rc = run_picked(db, pick_vlog, err);
	return rc == 0 ? run_picked(db, pick_reads, err) : rc;
}

void compaction_read_sample(struct lsm_db *db, const struct version *v,
			    const uint8_t *ikey, size_t iklen)
{
	size_t ulen = ikey_ulen(iklen);
	struct file_meta *first = NULL;
	int first_level = 0, held = 0;

	/* the tables a lookup would read, in its order: every L0 table
	 * whose range holds the key, then one per deeper level */
	for (int l = 0; l < (int)db->opts.max_levels && held < 2; l++) {
		size_t i = l ? version_find_file(v, l, ikey, iklen) : 0;
		size_t end = l ? i + 1 : v->nfiles[0];

		for (; i < end && i < v->nfiles[l] && held < 2; i++) {
			struct file_meta *f = v->files[l][i];

			if (!file_range_holds(f, ikey, ulen))
				continue;
			if (held++ == 0) {
				first = f;
				first_level = l;
			}
		}
	}
	if (held >= 2)
		compaction_read_charge(db, first, first_level);
}

void compaction_read_charge(struct lsm_db *db, struct file_meta *f,
			    int level)
{
	unsigned budget = (unsigned)(f->size / (16u << 10));

	if (budget < 100)
		budget = 100;
	/* at the budget and after it: a mark lost to a busy input (or to
	 * another table's mark) is made again by the next charge */
	if (atomic_fetch_add_explicit(&f->read_charges, 1,
				      memory_order_relaxed) + 1 < budget)
		return;
	pthread_mutex_lock(&db->mu);
	if (!db->read_compact_number) {
		db->read_compact_number = f->number;
		db->read_compact_level = level;
		db_bg_kick(db);
	}
	pthread_mutex_unlock(&db->mu);
}

/* After a snapshot was dropped (db->snap_reclaim_below), a table written
 * before the drop that holds versions a snapshot kept, rewritten: pushed
 * into the level below, or merged again into the deepest level (in[1]
 * only, as rewrite_bottom does).  Its outputs are numbered past the mark,
 * so each table is taken once.  1 with C filled, 0 if none (the mark is
 * then cleared). */
static int pick_reclaim(struct lsm_db *db, struct compaction *c)
{
	struct version *v = db->vs.current;
	int deepest = deepest_level(v, db->opts.max_levels);

	if (!db->snap_reclaim_below)
		return 0;
	for (int l = 0; l <= deepest; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			struct file_meta *f = v->files[l][i];

			if (f->compacting || !f->pinned_bytes ||
			    f->number >= db->snap_reclaim_below)
				continue;
			return pick_rewrite(db, c, l, deepest, f, WHY_IDLE);
		}
	db->snap_reclaim_below = 0;
	return 0;
}

int compaction_run_idle(struct lsm_db *db, struct lsm_err *err)
{
	int rc = run_picked(db, pick_idle, err);

	return rc == 0 ? run_picked(db, pick_reclaim, err) : rc;
}

/* The tables of the deepest level in [BEGIN, END] that hold versions a
 * snapshot kept, or tombstones, are merged again into that same level
 * (inputs in[1] only, level - 1 as the compaction's level): once the
 * snapshot is dropped, that is what gives its space back when nothing
 * is left above to compact (lsm_compact_range, under mu). */
static int rewrite_bottom(struct lsm_db *db, const uint8_t *begin,
			  size_t blen, const uint8_t *end, size_t elen,
			  struct lsm_err *err)
{
	int last = deepest_level(db->vs.current, db->opts.max_levels);
	struct compaction c = { .level = last - 1, .manual = true,
				.why = WHY_MANUAL };
	struct file_meta **all = NULL;
	size_t nall = 0;
	int rc;

	if (last < 1)
		return 0;
	if (db->bg_error)
		return lsm_err_set(err, db->bg_error, "%s", db->bg_err.msg);
	version_edit_init(&c.edit);
	c.v = db->vs.current;
	version_ref(c.v);
	rc = version_overlapping(c.v, last, begin, blen, end, elen, &all,
				 &nall);
	if (rc < 0) {
		free(all);
		compaction_free(&c);
		return lsm_err_set(err, rc, "out of memory");
	}
	/* from the first such table to the last, those between too: the
	 * outputs span the inputs' range, which must not overlap a table
	 * left in the level */
	size_t first = nall, lastt = 0;

	for (size_t i = 0; i < nall; i++)
		if (all[i]->pinned_bytes ||
		    (all[i]->has_counts && all[i]->deletions)) {
			if (first == nall)
				first = i;
			lastt = i;
		}
	for (size_t i = first; i < nall && i <= lastt; i++)
		all[c.n[1]++] = all[i];
	c.in[1] = all;
	if (c.n[1] > 0)
		rc = run(db, &c, err);
	compaction_free(&c);
	db_delete_obsolete(db);
	return rc;
}

int compaction_run_range(struct lsm_db *db, const uint8_t *begin, size_t blen,
			 const uint8_t *end, size_t elen, struct lsm_err *err)
{
	int last = deepest_level(db->vs.current, db->opts.max_levels);
	int rc = 0;

	if (last == 0)
		last = 1;
	db->vlog_eager = true; /* its sweeps list what to collect */
	for (int level = 0; level < last && rc == 0; level++) {
		struct compaction c = { .level = level, .manual = true,
					.why = WHY_MANUAL };

		if (db->bg_error) {
			db->vlog_eager = false;
			return lsm_err_set(err, db->bg_error, "%s",
					   db->bg_err.msg);
		}
		version_edit_init(&c.edit);
		c.v = db->vs.current;
		version_ref(c.v);
		rc = version_overlapping(c.v, level, begin, blen, end, elen,
					 &c.in[0], &c.n[0]);
		if (rc == 0 && c.n[0] > 0)
			rc = add_next_level(&c);
		if (rc < 0)
			lsm_err_set(err, rc, "out of memory");
		else if (c.n[0] > 0)
			rc = run(db, &c, err);
		compaction_free(&c);
		db_delete_obsolete(db);
	}
	if (rc == 0)
		rc = rewrite_bottom(db, begin, blen, end, elen, err);
	/* the log segments it left mostly dead are collected now, so that
	 * an explicit compaction gives their space back before it returns
	 * (the last sweep above listed them) */
	for (int i = 0; rc == 0 && i < 1000; i++) {
		rc = run_picked(db, pick_vlog, err);
		if (rc == 0)
			break;
		rc = rc > 0 ? 0 : rc;
	}
	db->vlog_eager = false;
	return rc;
}
