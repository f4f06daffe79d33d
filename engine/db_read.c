/* db_read.c - point lookups, snapshots and super versions.
 * A lookup takes the visible sequence number first and then the current
 * super version, so every write at or below that number is inside it; it
 * then asks the memtable, the immutable memtable, L0 newest first, and one
 * table per deeper level, stopping at the first version of the key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "db_impl.h"
#include "ikey.h"
#include "sst.h"

struct super *db_super_get(struct lsm_db *db, uint64_t *seq)
{
	struct super *sv;

	pthread_mutex_lock(&db->sv_mu);
	sv = db->sv;
	atomic_fetch_add(&sv->refs, 1);
	/* Read under sv_mu, after the super version: every write at or below
	 * SEQ is in SV (a newer memtable would need a newer super), and SEQ
	 * is at least the snapshot bound of every compaction whose result SV
	 * shows (it read last_seq before installing), so no version SEQ can
	 * see was dropped from SV's tables. */
	if (seq)
		*seq = atomic_load_explicit(&db->last_seq, memory_order_acquire);
	pthread_mutex_unlock(&db->sv_mu);
	return sv;
}

void db_super_put(struct lsm_db *db, struct super *sv)
{
	if (atomic_fetch_sub(&sv->refs, 1) != 1)
		return;
	memtable_unref(sv->mem);
	memtable_unref(sv->imm);
	/* Version refs are guarded by mu; nobody calls this with mu held
	 * (db_super_install drops replaced supers itself). */
	pthread_mutex_lock(&db->mu);
	version_unref(sv->v);
	/* Its tables may be garbage now: the compaction thread looks. */
	db->obsolete_pending = true;
	db_bg_kick(db);
	pthread_mutex_unlock(&db->mu);
	free(sv);
}

struct super *db_super_new(void)
{
	return calloc(1, sizeof(struct super));
}

int db_super_install(struct lsm_db *db)
{
	return db_super_install_seq(db, NULL);
}

int db_super_install_seq(struct lsm_db *db, const uint64_t *seq)
{
	struct super *sv = db_super_new();

	if (!sv)
		return -ENOMEM;
	db_super_publish_seq(db, sv, seq);
	return 0;
}

void db_super_publish(struct lsm_db *db, struct super *sv)
{
	db_super_publish_seq(db, sv, NULL);
}

void db_super_publish_seq(struct lsm_db *db, struct super *sv,
			  const uint64_t *seq)
{
	struct super *old;

	atomic_init(&sv->refs, 1);
	sv->mem = db->mem;
	memtable_ref(sv->mem);
	sv->imm = db->imm;
	if (sv->imm)
		memtable_ref(sv->imm);
	sv->v = db->vs.current;
	version_ref(sv->v);
	pthread_mutex_lock(&db->sv_mu);
	old = db->sv;
	db->sv = sv;
	if (seq) /* with the state it belongs to (db_super_get) */
		atomic_store_explicit(&db->last_seq, *seq,
				      memory_order_release);
	pthread_mutex_unlock(&db->sv_mu);
	if (old && atomic_fetch_sub(&old->refs, 1) == 1) {
		memtable_unref(old->mem);
		memtable_unref(old->imm);
		version_unref(old->v); /* we hold mu */
		free(old);
	}
}

/* ---- snapshots ---- */

const struct lsm_snapshot *lsm_snapshot_new(struct lsm_db *db)
{
	struct lsm_snapshot *s = calloc(1, sizeof(*s));
	uint64_t seq = 0;

	if (!s)
		return NULL;
	if (db->opts.follow) /* the writer's compactions ignore our
			      * snapshots: hold the state itself */
		s->sv = db_super_get(db, &seq);
	pthread_mutex_lock(&db->mu);
	s->seq = s->sv ? seq : atomic_load(&db->last_seq);
	s->next = &db->snapshots;
	s->prev = db->snapshots.prev;
	s->prev->next = s;
	db->snapshots.prev = s;
	pthread_mutex_unlock(&db->mu);
	return s;
}

void lsm_snapshot_release(struct lsm_db *db, const struct lsm_snapshot *cs)
{
	struct lsm_snapshot *s = (struct lsm_snapshot *)cs;

	if (!s)
		return;
	pthread_mutex_lock(&db->mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	if (s->durable)
		db_snapshot_released(db, s);
	pthread_mutex_unlock(&db->mu);
	if (s->sv)
		db_super_put(db, s->sv);
	free(s);
}

/* ---- lookups ---- */

/* What a lookup knows for read-triggered compaction: the table that read
 * a data block in vain (MISSED, of LEVEL), until a deeper table is asked
 * and it is charged; at most one charge per lookup (OFF after it, or when
 * the db takes none). */
struct read_charge {
	struct file_meta *missed;
	int level;
	bool off;
};

/* Asks table F of LEVEL for IKEY, charging the table before it that read
 * a block in vain: pushing that one down would have spared the read. */
static int get_table(struct lsm_db *db, struct file_meta *f, int level,
		     const uint8_t *ik, size_t iklen, uint32_t hash,
		     struct sst_value *val, struct read_charge *ch,
		     struct lsm_err *err)
{
	int rc;

	if (ch->missed) {
		compaction_read_charge(db, ch->missed, ch->level);
		ch->missed = NULL;
		ch->off = true;
	}
	rc = table_cache_get_fm(db->tables, f, ik, iklen, hash, val, err);
	if (rc == LOOKUP_MISSING && val->block_missed && !ch->off) {
		ch->missed = f;
		ch->level = level;
	}
	return rc;
}

/* Finds the version of IKEY's user key, whose bloom hash is HASH, in the
 * tables of V. */
static int get_tables(struct lsm_db *db, const struct version *v,
		      const uint8_t *ik, size_t iklen, uint32_t hash,
		      struct sst_value *val, struct lsm_err *err)
{
	size_t ulen = ikey_ulen(iklen);
	struct read_charge charge = { .off = !db->reads_charge };
	int rc;

	for (size_t i = 0; i < v->nfiles[0]; i++) {
		struct file_meta *f = v->files[0][i];

		if (!file_range_holds(f, ik, ulen))
			continue;
		rc = get_table(db, f, 0, ik, iklen, hash, val, &charge, err);
		if (rc != LOOKUP_MISSING)
			return rc;
	}
	for (int level = 1; level < (int)db->opts.max_levels; level++) {
		size_t i = version_find_file(v, level, ik, iklen);
		struct file_meta *f;

		if (i >= v->nfiles[level])
			continue;
		f = v->files[level][i];
		if (ukey_cmp(ik, ulen, f->smallest,
			     ikey_ulen(f->smallest_len)) < 0)
			continue;
		rc = get_table(db, f, level, ik, iklen, hash, val, &charge,
			       err);
		if (rc != LOOKUP_MISSING)
			return rc;
	}
	return LOOKUP_MISSING;
}

/* Follows the pointer a table lookup left in VAL to the value. */
static int follow_pointer(struct lsm_db *db, struct sst_value *val,
			  struct lsm_err *err)
{
	struct buf tmp = BUF_INIT;
	struct vptr p;
	int rc;

	val->is_ptr = false;
	if (vptr_decode(val->ptr, val->ptr_len, &p) < 0)
		return lsm_err_set(err, -EUCLEAN, "%s: malformed value pointer",
				   db->dir);
	stat_add(&db->stats.vlog_reads, 1);
	if (val->buf || val->cap < p.length) {
		/* into the caller's buffer, or a whole copy to cut short */
		rc = vlog_read_buf(db->vlog, &p, val->buf ? val->buf : &tmp,
				   err);
		if (rc == 0 && !val->buf)
			rc = sst_value_put(val, tmp.p, p.length);
		val->len = p.length;
		buf_free(&tmp);
	} else { /* straight to the caller */
		rc = vlog_read_into(db->vlog, &p, val->out, err);
		val->len = p.length;
	}
	return rc < 0 ? rc : LOOKUP_FOUND;
}

/* Looks KEY up at SEQ; on LOOKUP_FOUND the value is in VAL. */
static int db_lookup(struct lsm_db *db, const struct lsm_snapshot *snap,
		     const void *key, size_t klen, struct sst_value *val,
		     struct lsm_err *err)
{
	uint64_t seq;
	struct super *sv;
	const uint8_t *v;
	size_t vlen;
	uint8_t stackkey[256], *ik = stackkey;
	/* one hash of the key for every filter the lookup asks */
	uint32_t hash = bloom_hash(key, klen);
	int rc;

	if (snap && snap->sv) { /* a follower's snapshot holds its state */
		sv = snap->sv;
		atomic_fetch_add(&sv->refs, 1);
	} else {
		sv = db_super_get(db, &seq);
	}
	if (snap)
		seq = snap->seq; /* registered: compactions keep what it sees */
	rc = memtable_get_hashed(sv->mem, key, klen, hash, seq, &v, &vlen);
	if (rc == LOOKUP_MISSING && sv->imm)
		rc = memtable_get_hashed(sv->imm, key, klen, hash, seq, &v,
					 &vlen);
	if (rc == LOOKUP_FOUND && sst_value_put(val, v, vlen) < 0)
		rc = -ENOMEM;
	if (rc == LOOKUP_MISSING) {
		if (klen + IKEY_TAG_BYTES > sizeof(stackkey))
			ik = malloc(klen + IKEY_TAG_BYTES);
		if (!ik) {
			rc = -ENOMEM;
		} else {
			ikey_encode(ik, key, klen, seq, IKEY_TYPE_FOR_SEEK);
			rc = get_tables(db, sv->v, ik, klen + IKEY_TAG_BYTES,
					hash, val, err);
			if (rc == LOOKUP_FOUND && val->is_ptr)
				rc = follow_pointer(db, val, err);
			if (ik != stackkey)
				free(ik);
		}
	}
	db_super_put(db, sv);
	if (rc == -ENOMEM)
		return lsm_err_set(err, rc, "out of memory");
	return rc;
}

static int check_key(const void *key, size_t klen, struct lsm_err *err)
{
	if (!key && klen)
		return lsm_err_set(err, -EINVAL, "NULL key");
	if (klen > LSM_MAX_KEY_BYTES)
		return lsm_err_set(err, -EINVAL, "key of %zu bytes exceeds "
				   "the limit of %u", klen, LSM_MAX_KEY_BYTES);
	return 0;
}

/* 1 found, 0 absent, < 0 error: the three never share a code. */
static int finish_get(struct lsm_db *db, int rc)
{
	stat_add(&db->stats.gets, 1);
	if (rc == LOOKUP_FOUND) {
		stat_add(&db->stats.get_hits, 1);
		return 1;
	}
	if (rc < 0)
		return rc;
	stat_add(&db->stats.get_misses, 1);
	return 0;
}

int lsm_get(struct lsm_db *db, const struct lsm_snapshot *snap,
	    const void *key, size_t klen, void **val, size_t *vlen,
	    struct lsm_err *err)
{
	struct buf b = BUF_INIT;
	struct sst_value dst = { .buf = &b };
	int rc = check_key(key, klen, err);

	if (rc < 0)
		return rc;
	rc = finish_get(db, db_lookup(db, snap, key, klen, &dst, err));
	if (rc == 1) {
		*vlen = b.len;
		*val = b.p ? b.p : malloc(1);
		if (!*val)
			return lsm_err_set(err, -ENOMEM, "out of memory");
		return 1;
	}
	buf_free(&b);
	return rc;
}

int lsm_get_buf(struct lsm_db *db, const struct lsm_snapshot *snap,
		const void *key, size_t klen, void *out, size_t cap,
		size_t *vlen, struct lsm_err *err)
{
	struct sst_value dst = { .out = out, .cap = cap };
	int rc = check_key(key, klen, err);

	if (rc < 0)
		return rc;
	/* The value goes from the memtable or block straight to OUT. */
	rc = finish_get(db, db_lookup(db, snap, key, klen, &dst, err));
	if (rc == 1)
		*vlen = dst.len;
	return rc;
}

int lsm_level_tables(struct lsm_db *db, unsigned *counts, unsigned levels)
{
	struct super *sv = db_super_get(db, NULL);

	for (unsigned i = 0; i < levels; i++)
		counts[i] = i < LSM_MAX_LEVELS ? (unsigned)sv->v->nfiles[i] : 0;
	db_super_put(db, sv);
	return 0;
}
