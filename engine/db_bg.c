/* db_bg.c - background work: a flush thread that writes the immutable
 * memtable to an L0 table, a compaction thread (compaction.c does the
 * merging), and for LSM_SYNC_INTERVAL a thread that syncs the log.
 * A failed flush or compaction is logged, counted and retried with a
 * growing delay; only a failure that leaves the state unknown (the manifest
 * or the log) turns the store read-only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_impl.h"
#include "block.h"
#include "crc.h"
#include "filename.h"
#include "flush_place.h"
#include "memtable.h"
#include "sst.h"
#include "vlog.h"

void db_bg_kick(struct lsm_db *db)
{
	pthread_cond_broadcast(&db->bg_cv);
}

void db_sst_options(const struct lsm_db *db, struct sst_options *o)
{
	*o = (struct sst_options){
		.block_bytes = db->opts.block_bytes,
		.restart_interval = BLOCK_RESTART_INTERVAL,
		.bloom_bits_per_key = db->opts.bloom_bits_per_key,
		.compression = db->opts.compression,
		.zlib_level = db->opts.zlib_level,
	};
}

/* Starts a new table for a flush: *NUMBER, pending until the edit that
 * names it is applied (or it is abandoned). */
static int open_table(struct lsm_db *db, struct sst_builder **b,
		      uint64_t *number, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct sst_options so;
	int rc;

	pthread_mutex_lock(&db->mu);
	*number = vset_new_file_number(&db->vs);
	rc = db_pending_add(db, *number);
	pthread_mutex_unlock(&db->mu);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	db_sst_options(db, &so);
	filename_path(path, db->dir, FILE_TABLE, *number);
	rc = sst_builder_new(db->io, path, &so, b, err);
	if (rc < 0) {
		pthread_mutex_lock(&db->mu);
		db_pending_remove(db, *number);
		pthread_mutex_unlock(&db->mu);
	}
	return rc;
}

/* Finishes B (table NUMBER, whose pointers name REFS, which it takes)
 * and adds it to EDIT at level 0. */
static int finish_table(struct lsm_db *db, struct sst_builder *b,
			uint64_t number, struct vlog_refs *refs,
			struct version_edit *edit, struct lsm_err *err)
{
	const uint8_t *smallest, *largest;
	size_t slen = 0, llen = 0;
	uint64_t size = 0;
	int rc;

	smallest = sst_builder_smallest(b, &slen);
	largest = sst_builder_largest(b, &llen);
	/* The edit copies the keys before finish frees the builder. */
	rc = version_edit_add_file(edit, 0, number, 0, smallest, slen,
				   largest, llen);
	if (rc < 0) { /* not in EDIT: no longer pending here */
		vlog_refs_free(refs);
		sst_builder_abandon(b);
		pthread_mutex_lock(&db->mu);
		db_pending_remove(db, number);
		pthread_mutex_unlock(&db->mu);
		return lsm_err_set(err, rc, "out of memory");
	}
	version_edit_set_counts(edit, number, sst_builder_entries(b),
				sst_builder_deletions(b));
	stat_add(&db->stats.vlog_pointed_bytes, vlog_refs_bytes(refs));
	edit->added[edit->nadded - 1].f->vlog = *refs;
	*refs = (struct vlog_refs){ 0 };
	rc = sst_builder_finish(b, &size, err);
	if (rc < 0)
		return rc;
	edit->added[edit->nadded - 1].f->size = size;
	stat_add(&db->stats.flush_bytes_written, size);
	return 0;
}

/* The table EDIT just got holds the groups of PLAN's table TABLE. */
static int add_spans(const struct flush_plan *plan, size_t table,
		     struct version_edit *edit, struct lsm_err *err)
{
	if (flush_plan_spans(plan, table, edit->added[edit->nadded - 1].f) < 0)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* The entry at IT as a table gets it: a value the log holds (noted by
 * the write path when the value log is on) becomes a pointer there, the
 * key its type IKEY_VALUE_PTR (in KBUF, VBUF); REFS counts it. */
static void entry_for_table(struct iiter *it, const uint8_t **k, size_t *kl,
			    const uint8_t **v, size_t *vl, struct buf *kbuf,
			    uint8_t *vbuf, struct vlog_refs *refs)
{
	struct vptr p;

	if (!memtable_iter_where(it, &p.segment, &p.offset))
		return;
	p.length = (uint32_t)*vl;
	p.crc = crc32_of(*v, *vl);
	buf_clear(kbuf);
	buf_append(kbuf, *k, *kl);
	/* out of memory: the value stays in the table */
	if (!buf_ok(kbuf) || vlog_refs_add(refs, p.segment, p.length) < 0)
		return;
	put_u64le(kbuf->p + *kl - IKEY_TAG_BYTES,
		  ikey_pack_tag(ikey_seq(*k, *kl), IKEY_VALUE_PTR));
	*k = kbuf->p;
	*vl = vptr_encode(vbuf, &p);
	*v = vbuf;
}


/* Builds tables from every entry of MEM, cut where PLAN says (one table
 * without a plan); *FIRST is the first table's number. */
static int build_tables(struct lsm_db *db, struct memtable *mem,
			const struct flush_plan *plan, uint64_t *first,
			struct version_edit *edit, struct lsm_err *err)
{
	struct sst_builder *b = NULL;
	struct iiter *it = memtable_iter(mem);
	struct vlog_refs refs = { 0 };
	struct buf kbuf = BUF_INIT;
	uint8_t vbuf[VPTR_MAX_BYTES];
	uint64_t number = 0;
	size_t hint = 0, table = 0;
	int rc = 0;

	if (!it)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	for (iiter_seek_first(it); rc == 0 && iiter_valid(it);
	     iiter_next(it)) {
		size_t kl, vl, t;
		const uint8_t *k = iiter_key(it, &kl), *v = iiter_value(it, &vl);

		t = flush_plan_table(db, plan, &hint, k, ikey_ulen(kl));
		if (b && t != table) {
			rc = finish_table(db, b, number, &refs, edit, err);
			b = NULL;
			if (rc == 0)
				rc = add_spans(plan, table, edit, err);
			if (rc < 0)
				break;
		}
		table = t;
		if (!b) {
			rc = open_table(db, &b, &number, err);
			if (rc < 0)
				break;
			if (!*first)
				*first = number;
		}
		entry_for_table(it, &k, &kl, &v, &vl, &kbuf, vbuf, &refs);
		if (ikey_type(k, kl) == IKEY_VALUE_PTR)
			stat_add(&db->stats.vlog_pointers, 1);
		rc = sst_builder_add(b, k, kl, v, vl, err);
	}
	iiter_free(it);
	buf_free(&kbuf);
	if (rc == 0 && b) {
		rc = finish_table(db, b, number, &refs, edit, err);
		return rc < 0 ? rc : add_spans(plan, table, edit, err);
	}
	vlog_refs_free(&refs);
	if (b) {
		sst_builder_abandon(b);
		pthread_mutex_lock(&db->mu);
		db_pending_remove(db, number);
		pthread_mutex_unlock(&db->mu);
	}
	return rc;
}

/* The tables of EDIT from index FROM on are no longer pending (under
 * mu). */
static void pending_done(struct lsm_db *db, const struct version_edit *e,
			 size_t from)
{
	for (size_t i = from; i < e->nadded; i++)
		db_pending_remove(db, e->added[i].f->number);
}

int db_write_l0(struct lsm_db *db, struct memtable *mem,
		struct version_edit *edit, uint64_t *number,
		struct lsm_err *err)
{
	struct flush_plan plan;
	size_t before = edit->nadded;
	int rc;

	*number = 0;
	if (memtable_count(mem) == 0)
		return 0;
	rc = flush_plan_make(db, mem, &plan);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	rc = build_tables(db, mem, &plan, number, edit, err);
	flush_plan_free(&plan);
	if (rc < 0) {
		pthread_mutex_lock(&db->mu);
		pending_done(db, edit, before);
		pthread_mutex_unlock(&db->mu);
		while (edit->nadded > before)
			file_meta_unref(edit->added[--edit->nadded].f);
	}
	return rc;
}

/* Flushes db->imm (called by the flush thread with mu held; drops it while
 * building the table). */
static int flush_imm(struct lsm_db *db, struct lsm_err *err)
{
	struct memtable *imm = db->imm;
	struct version_edit edit;
	uint64_t number, t0 = db_now_us();
	size_t mem_bytes;
	int rc, moved = 0;

	version_edit_init(&edit);
	pthread_mutex_unlock(&db->mu);
	rc = db_write_l0(db, imm, &edit, &number, err);
	pthread_mutex_lock(&db->mu);
	if (rc < 0)
		goto out;
	moved = flush_place_edit(db, &edit, 0);
	/* Logs below the current one hold nothing unflushed any more. */
	edit.has_log_number = true;
	edit.log_number = db->wal_number;
	edit.has_last_seq = true;
	edit.last_seq = atomic_load(&db->last_seq);
	db->vs.last_seq = edit.last_seq;
	rc = db_log_and_apply(db, &edit, err);
	pending_done(db, &edit, 0);
	if (rc < 0) {
		/* A full disk is retried (the table becomes garbage). */
		if (db_manifest_error_fatal(db, rc))
			db_set_bg_error(db, rc, err);
		goto out;
	}
	db->imm = NULL;
	mem_bytes = memtable_bytes(imm);
	memtable_unref(imm);
	if (db_super_install(db) < 0)
		db_log(db, LSM_LOG_WARN, "out of memory publishing a flush");
	stat_add(&db->stats.flushes, 1);
	db_log(db, number ? LSM_LOG_INFO : LSM_LOG_DEBUG, "flushed the "
	       "memtable (%zu bytes) to table%s %06llu%s in %llu ms (%d "
	       "below L0)", mem_bytes, edit.nadded > 1 ? "s" : "",
	       (unsigned long long)number, edit.nadded > 1 ? "..." : "",
	       (unsigned long long)(db_now_us() - t0) / 1000, moved);
	db_delete_obsolete(db);
out:
	version_edit_free(&edit);
	return rc;
}

/* Sleeps up to MS milliseconds on bg_cv (mu held). */
void db_bg_sleep(struct lsm_db *db, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&db->bg_cv, &db->mu, &ts);
}

static unsigned backoff_ms(uint64_t failures)
{
	return failures > 10 ? 5000 : 50u << (failures / 2);
}

static void *flush_main(void *arg)
{
	struct lsm_db *db = arg;
	struct lsm_err err;
	int rc;

	pthread_mutex_lock(&db->mu);
	while (!db->shutting_down || db->imm) {
		if (!db->imm || db->bg_error) {
			if (db->shutting_down)
				break;
			pthread_cond_wait(&db->bg_cv, &db->mu);
			continue;
		}
		db->flush_running = true;
		memset(&err, 0, sizeof(err));
		rc = flush_imm(db, &err);
		db->flush_running = false;
		if (rc < 0 && !db->bg_error) {
			if (db_space_error(rc))
				db_space_exhausted(db, "flush");
			db->flush_error = rc;
			db->flush_err = err;
			db->flush_retries++;
			stat_add(&db->stats.background_errors, 1);
			db_log(db, LSM_LOG_ERROR, "flush failed (retry %llu): "
			       "%s", (unsigned long long)db->flush_retries,
			       err.msg);
			if (db->shutting_down) {
				db_set_bg_error(db, rc, &err);
				break;
			}
			db_bg_sleep(db, backoff_ms(db->flush_retries));
		} else if (rc == 0) {
			db->flush_error = 0;
			db->flush_retries = 0;
		}
		pthread_cond_broadcast(&db->done_cv);
		db_bg_kick(db); /* the compaction thread may have work now */
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* When the idle pass may run: writes (a new sequence number) restart the
 * quiet period; DONE only keeps the log quiet once nothing is left. */
struct idle {
	uint64_t seen_seq, quiet_since_us;
	bool done;
	bool pool_trimmed; /* memtable_pool_trim ran in this quiet spell */
};

/* Runs one idle step if the store has been quiet long enough (under mu):
 * a flush of a memtable holding deletions, else one compaction of the
 * idle pass.  1 did work, 0 nothing (then *WAIT_MS is how long to sleep),
 * < 0 error. */
static int idle_step(struct lsm_db *db, struct idle *st, unsigned *wait_ms,
		     struct lsm_err *err)
{
	uint64_t seq = atomic_load(&db->last_seq), now = db_now_us();
	uint64_t quiet_us = (uint64_t)db->opts.idle_compaction_ms * 1000u;
	int rc;

	*wait_ms = db->opts.idle_compaction_ms;
	if (seq != st->seen_seq) {
		st->seen_seq = seq;
		st->quiet_since_us = now;
		st->done = false;
		st->pool_trimmed = false;
	}
	if (!quiet_us)
		return 0;
	if (now - st->quiet_since_us < quiet_us) {
		*wait_ms = (unsigned)((quiet_us - (now - st->quiet_since_us)) /
				      1000u) + 1;
		return 0;
	}
	/* Quiet: the arena blocks kept for the next memtable go back. */
	if (!st->pool_trimmed) {
		memtable_pool_trim();
		st->pool_trimmed = true;
	}
	/* A flush under way may bring tombstones: look again once it is
	 * done (it kicks this thread), not "nothing left". */
	if (db->imm)
		return 0;
	/* Deletions still in the memtable reach the tables first (never
	 * when the switch could wait for this thread's own compactions:
	 * then L0 is compacted first). */
	if (memtable_deletions(db->mem)) {
		if (db->vs.current->nfiles[0] >= db->opts.l0_compaction_trigger)
			return 0;
		pthread_mutex_unlock(&db->mu);
		rc = db_write_batch(db, NULL, false, err); /* a switch */
		pthread_mutex_lock(&db->mu);
		return rc < 0 ? rc : 1;
	}
	/* Looked at again every idle period while quiet (a scan of the
	 * tables' counts): whatever a race hid from one look, the next one
	 * sees. */
	rc = compaction_run_idle(db, err);
	if (rc == 0 && !st->done)
		db_log(db, LSM_LOG_DEBUG, "idle compaction pass done");
	st->done = rc == 0;
	return rc;
}

/* Nothing to do: waits for a kick, the disk, or the idle pass (mu). */
static void compact_wait(struct lsm_db *db, unsigned idle_ms)
{
	if (db->shutting_down || db->obsolete_pending)
		return;
	if (db_space_low(db))
		db_bg_sleep(db, 1000); /* look at the disk again */
	else if (idle_ms)
		db_bg_sleep(db, idle_ms);
	else
		pthread_cond_wait(&db->bg_cv, &db->mu);
}

static void *compact_main(void *arg)
{
	struct lsm_db *db = arg;
	struct idle idle = { .seen_seq = atomic_load(&db->last_seq),
			     .quiet_since_us = db_now_us() };
	struct lsm_err err;
	uint64_t failures = 0;
	unsigned idle_ms = 0;
	int rc;

	pthread_mutex_lock(&db->mu);
	while (!db->shutting_down) {
		if (db->bg_error || db->manual_compactions ||
		    !db->opts.background_compaction) {
			db->obsolete_pending = false; /* others sweep then */
			pthread_cond_wait(&db->bg_cv, &db->mu);
			continue;
		}
		if (db->obsolete_pending) {
			db->obsolete_pending = false;
			db_delete_obsolete(db); /* drops mu: look again */
			continue;
		}
		db_space_poll(db);
		memset(&err, 0, sizeof(err));
		db->compaction_running = true;
		rc = compaction_run_auto(db, &err);
		if (rc == 0 && !db->shutting_down && !db->manual_compactions)
			rc = idle_step(db, &idle, &idle_ms, &err);
		db->compaction_running = false;
		pthread_cond_broadcast(&db->done_cv);
		if (rc == 0) {
			/* the pickers saw the state under mu; only these can
			 * have changed while mu was dropped before them */
			compact_wait(db, idle_ms);
		} else if (rc < 0) {
			failures++;
			if (db_space_error(rc))
				db_space_exhausted(db, "compaction");
			stat_add(&db->stats.compaction_errors, 1);
			db_log(db, LSM_LOG_ERROR, "compaction failed (retry "
			       "%llu): %s", (unsigned long long)failures,
			       err.msg);
			db_bg_sleep(db, backoff_ms(failures));
		} else {
			failures = 0;
		}
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

static void *sync_main(void *arg)
{
	struct lsm_db *db = arg;
	struct lsm_err err;

	pthread_mutex_lock(&db->mu);
	while (!db->shutting_down) {
		db_bg_sleep(db, db->opts.sync_interval_ms);
		if (db->shutting_down || db->bg_error)
			continue;
		pthread_mutex_unlock(&db->mu);
		/* Goes through the writer queue, so it never races a log
		 * switch; failures turn the db read-only there. */
		lsm_sync(db, &err);
		pthread_mutex_lock(&db->mu);
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

int db_bg_start(struct lsm_db *db, struct lsm_err *err)
{
	int rc;

	memtable_pool_limit(db->opts.memtable_bytes);
	rc = pthread_create(&db->flush_thread, NULL, flush_main, db);

	if (rc == 0) {
		db->flush_started = true;
		rc = pthread_create(&db->compact_thread, NULL, compact_main, db);
	}
	if (rc == 0) {
		db->compact_started = true;
		if (db->opts.sync == LSM_SYNC_INTERVAL) {
			rc = pthread_create(&db->sync_thread, NULL, sync_main,
					    db);
			db->sync_started = rc == 0;
		}
	}
	if (rc)
		return lsm_err_set(err, -rc, "cannot start background threads:"
				   " %s", strerror(rc));
	pthread_mutex_lock(&db->mu);
	db_bg_kick(db);
	pthread_mutex_unlock(&db->mu);
	return 0;
}

void db_bg_stop(struct lsm_db *db)
{
	pthread_mutex_lock(&db->mu);
	db->shutting_down = true;
	db_bg_kick(db);
	pthread_cond_broadcast(&db->done_cv);
	pthread_mutex_unlock(&db->mu);
	if (db->sync_started)
		pthread_join(db->sync_thread, NULL);
	if (db->compact_started)
		pthread_join(db->compact_thread, NULL);
	if (db->flush_started)
		pthread_join(db->flush_thread, NULL);
	if (db->follow_started) {
		db_follow_stop(db);
		pthread_join(db->follow_thread, NULL);
	}
	db->sync_started = db->compact_started = db->flush_started = false;
	db->follow_started = false;
	memtable_pool_trim();
	sst_iter_stash_trim();
}

int db_wait_flush(struct lsm_db *db, struct lsm_err *err)
{
	while (db->imm && !db->bg_error) {
		/* Waiting would last as long as the disk stays full or
		 * broken (and each kick would cut the retry back-off
		 * short): say so instead. */
		if (db->flush_retries >= FLUSH_FAILS_REFUSE)
			return lsm_err_set(err, db->flush_error, "flush keeps "
					   "failing (%s); retrying in the "
					   "background", db->flush_err.msg);
		db_bg_kick(db);
		pthread_cond_wait(&db->done_cv, &db->mu);
	}
	if (db->bg_error)
		return lsm_err_set(err, db->bg_error, "%s", db->bg_err.msg);
	return 0;
}

int lsm_flush(struct lsm_db *db, struct lsm_err *err)
{
	int rc;

	if (db->read_only)
		return 0;
	rc = db_write_batch(db, NULL, false, err); /* forces a switch */
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	rc = db_wait_flush(db, err);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

int lsm_compact_range(struct lsm_db *db, const void *start, size_t slen,
		      const void *end, size_t elen, struct lsm_err *err)
{
	int rc;

	if (db->read_only)
		return lsm_err_set(err, -EROFS, "%s is open read-only",
				   db->dir);
	rc = lsm_flush(db, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	db->manual_compactions++; /* holds the compaction thread back */
	while (db->compaction_running || db->manual_running)
		pthread_cond_wait(&db->done_cv, &db->mu);
	db->manual_running = true;
	rc = compaction_run_range(db, start, slen, end, elen, err);
	db->manual_running = false;
	db->manual_compactions--;
	pthread_cond_broadcast(&db->done_cv);
	db_bg_kick(db);
	pthread_mutex_unlock(&db->mu);
	return rc;
}
