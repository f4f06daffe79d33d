/* db_write.c - the write path: a queue of writers whose head (the leader)
 * appends the whole waiting group to the WAL with one write and at most one
 * fsync (group commit), inserts it into the memtable and publishes the new
 * sequence number.  The leader also switches to a fresh memtable and log
 * when the memtable is full, slowing or stalling writers while L0 or the
 * compaction backlog is past its bounds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "coding.h"
#include "db_impl.h"
#include "filename.h"

#define GROUP_MAX_BYTES (1u << 20)
#define GROUP_SMALL_BYTES (128u << 10)
#define GATHER_MAX_US 500u /* the longest a sync leader waits for company */
#define SPIN_MAX_US 1000u  /* the longest a sync follower polls (await_turn) */
#define SPIN_ASYNC_US 50u  /* the longest any other follower polls */

void db_wal_preallocate(struct lsm_db *db)
{
	uint64_t want = db->opts.memtable_bytes + db->opts.memtable_bytes / 8 +
			(64u << 10);
	int rc = wal_preallocate(db->wal, want);

	if (rc < 0 && rc != -EOPNOTSUPP)
		db_log(db, LSM_LOG_DEBUG, "cannot preallocate %llu bytes of log:"
		       " %s", (unsigned long long)want, strerror(-rc));
}

/* Records in the manifest that segment OLD is sealed at SIZE bytes and
 * segment NEW begins, before NEW takes a write: a segment that goes
 * missing, or a sealed one that shrinks, is then detected at open. */
static int track_switch(struct lsm_db *db, uint64_t old, uint64_t size,
			uint64_t new, struct lsm_err *err)
{
	struct version_edit e;
	int rc;

	version_edit_init(&e);
	rc = version_edit_seal_wal(&e, old, size);
	if (rc == 0)
		rc = version_edit_add_wal(&e, new);
	if (rc < 0)
		rc = lsm_err_set(err, rc, "out of memory");
	else
		rc = db_log_and_apply(db, &e, err);
	version_edit_free(&e);
	return rc;
}

/* Switches to a new memtable and WAL segment (under mu, leader only). The
 * old segment is synced first so that only the newest segment can ever
 * have a torn tail. */
static int switch_memtable(struct lsm_db *db, struct lsm_err *err)
{
	struct memtable *fresh = memtable_new(db->opts.memtable_bytes);
	struct super *sv = db_super_new(); /* published below: cannot fail */
	struct wal *old = db->wal;
	uint64_t old_number = db->wal_number;
	int rc;

	if (!fresh || !sv) {
		free(sv);
		memtable_unref(fresh);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	rc = wal_seal(old, err); /* cut to its records, synced */
	if (rc == 0) {
		char path[LSM_PATH_MAX];

		db->wal_number = vset_new_file_number(&db->vs);
		filename_path(path, db->dir, FILE_WAL, db->wal_number);
		rc = wal_create_mapped(db->io, path, db->wal_number,
				       db->opts.map_log, &db->wal, err);
		if (rc == 0)
			db_wal_preallocate(db);
		if (rc == 0 && (rc = db->io->sync_dir(db->io, db->dir)) < 0)
			lsm_err_set(err, rc, "%s: cannot sync directory: %s",
				    db->dir, strerror(-rc));
		if (rc == 0)
			rc = track_switch(db, old_number, wal_size(old),
					  db->wal_number, err);
		if (rc < 0) {
			/* The new segment stays: the manifest may name it
			 * (an fsync that failed may still have written). */
			if (db->wal != old)
				wal_close(db->wal, false, NULL);
			db->wal = old;
			db->wal_number = old_number;
		}
	}
	if (rc < 0) {
		free(sv);
		memtable_unref(fresh);
		return rc;
	}
	wal_close(old, false, NULL);
	db->imm = db->mem;
	db->mem = fresh;
	/* Readers must see FRESH now: the next write goes there. */
	db_super_publish(db, sv);
	db_bg_kick(db);
	return 0;
}

static void stall_wait(struct lsm_db *db, bool slowdown)
{
	uint64_t t0 = db_now_us(), dt;

	if (slowdown) {
		pthread_mutex_unlock(&db->mu);
		usleep(1000);
		pthread_mutex_lock(&db->mu);
	} else {
		pthread_cond_wait(&db->done_cv, &db->mu);
	}
	dt = db_now_us() - t0;
	if (slowdown) {
		stat_add(&db->stats.slowdowns, 1);
		stat_add(&db->stats.slowdown_micros, dt);
	} else {
		stat_add(&db->stats.stall_micros, dt);
	}
}

/* True when the next group fits as things stand: no error, room in the
 * memtable, L0 and the compaction backlog below their slowdown bounds.
 * Reads only the write gates, so the common write takes no mu. */
static bool room_without_mu(struct lsm_db *db)
{
	const struct lsm_options *o = &db->opts;

	return !atomic_load_explicit(&db->gate_failed, memory_order_acquire) &&
	       memtable_data_bytes(db->mem) < o->memtable_bytes &&
	       atomic_load_explicit(&db->gate_l0_files, memory_order_relaxed) <
		       o->l0_slowdown_trigger &&
	       atomic_load_explicit(&db->gate_pending_bytes,
				    memory_order_relaxed) <
		       o->pending_slowdown_bytes;
}

/* Makes room in the memtable for the next group (leader, mu not held).
 * FORCE switches even a non-full memtable (lsm_flush). */
static int make_room(struct lsm_db *db, bool force, struct lsm_err *err)
{
	bool delayed = false, counted_stall = false;
	int rc = 0;

	if (!force && room_without_mu(db))
		return 0;
	pthread_mutex_lock(&db->mu);
	for (;;) {
		struct version *v = db->vs.current;
		size_t l0 = v->nfiles[0];
		uint64_t pend = compaction_pending_bytes(db, v);

		if (db->bg_error) {
			rc = lsm_err_set(err, db->bg_error, "%s", db->bg_err.msg);
			break;
		}
		if (!force && !delayed &&
		    (l0 >= db->opts.l0_slowdown_trigger ||
		     pend >= db->opts.pending_slowdown_bytes)) {
			stall_wait(db, true);
			delayed = true;
		} else if (!force &&
			   memtable_data_bytes(db->mem) < db->opts.memtable_bytes) {
			break;
		} else if (force && memtable_count(db->mem) == 0) {
			break;
		} else if (db->imm && db->flush_retries >= FLUSH_FAILS_REFUSE) {
			/* Waiting would hang the writer for as long as the
			 * disk stays full or broken: say so instead.  Writes
			 * resume by themselves once a flush succeeds. */
			rc = lsm_err_set(err, db->flush_error, "write refused: "
					 "the memtable cannot be flushed (%s); "
					 "retrying in the background",
					 db->flush_err.msg);
			break;
		} else if (db->imm || l0 >= db->opts.l0_stop_trigger ||
			   pend >= db->opts.pending_stop_bytes) {
			if (!counted_stall) {
				stat_add(&db->stats.stalls, 1);
				counted_stall = true;
			}
			db_bg_kick(db);
			stall_wait(db, false);
		} else {
			rc = switch_memtable(db, err);
			if (db_space_error(rc) && !wal_is_broken(db->wal) &&
			    vset_writable(&db->vs)) {
				/* no room for the new segment or its record:
				 * the old one goes on */
				db_space_exhausted(db, "new log segment");
				break;
			}
			if (rc < 0) {
				db_set_bg_error(db, rc, err);
				break;
			}
			force = false;
		}
	}
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static void enqueue(struct lsm_db *db, struct writer *w)
{
	w->next = NULL;
	if (db->wq_tail)
		db->wq_tail->next = w;
	else
		db->wq_head = w;
	db->wq_tail = w;
	db->wq_len++;
}

/* A sync leader alone in the queue although the last synced group
 * had company (under wq_mu): the others are on their way back from that
 * group's fsync.  Waits for them a little, so that one fsync covers them
 * all rather than one now and one for the rest (as PostgreSQL's
 * commit_delay): until as many writers are queued as were in that group,
 * for at most half of its sync's duration (and GATHER_MAX_US).  It polls,
 * yielding the CPU between looks, rather than sleeping: a sleeper's
 * wakeup would cost as much as the wait (see await_turn).  A writer that
 * stopped writing costs one such wait: the next group is smaller, and a
 * group of one never waits. */
static void gather(struct lsm_db *db)
{
	uint64_t us = db->sync_us / 2, end;

	if (db->sync_group < 2 || db->wq_len >= db->sync_group || us == 0)
		return;
	if (us > GATHER_MAX_US)
		us = GATHER_MAX_US;
	end = db_now_us() + us;
	while (db->wq_len < db->sync_group && db_now_us() < end) {
		pthread_mutex_unlock(&db->wq_mu);
		sched_yield();
		pthread_mutex_lock(&db->wq_mu);
	}
	stat_add(&db->stats.wal_gathers, 1);
}

/* Gathers the writers after the leader into one group: stops at a sync
 * writer when the leader does not sync, and at a size bound. */
static struct writer *build_group(struct writer *lead, size_t *nrec,
				  bool *sync)
{
	struct writer *last = lead, *w;
	size_t bytes = lead->batch ? lead->batch->rep.len : 0;
	size_t max = bytes <= GROUP_SMALL_BYTES ? bytes + GROUP_SMALL_BYTES
						: GROUP_MAX_BYTES;

	*sync = lead->sync;
	*nrec = lead->batch && lead->batch->count ? 1 : 0;
	for (w = lead->next; w; w = w->next) {
		size_t len = w->batch ? w->batch->rep.len : 0;

		if (w->sync && !lead->sync)
			break;
		if (bytes + len > max)
			break;
		bytes += len;
		if (w->batch && w->batch->count)
			(*nrec)++;
		last = w;
	}
	return last;
}

struct insert_ctx {
	struct memtable *mem;
	/* With the value log: the segment, and where the batch being
	 * inserted (REP) starts in it; values of MIN bytes and more are
	 * noted with their place (vlog.h). */
	uint64_t segment, base;
	const uint8_t *rep;
	size_t min;
};

static int insert_op(void *ctx, uint64_t seq, enum ikey_type t,
		     const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t vlen)
{
	struct insert_ctx *c = ctx;

	if (c->segment && t == IKEY_VALUE && vlen >= c->min)
		return memtable_add_at(c->mem, seq, t, key, klen, val, vlen,
				       c->segment,
				       c->base + (uint64_t)(val - c->rep));
	return memtable_add(c->mem, seq, t, key, klen, val, vlen);
}

/* What a group adds up to, for the counters. */
struct group_tally {
	uint64_t seq;          /* the last sequence number it uses */
	uint64_t wal_bytes, batches, user_bytes;
};

/* Stamps the batches of the group [LEAD, LAST] with sequence numbers from
 * T->seq + 1 on and lists the non-empty ones in RECS. */
static void group_stamp(struct writer *lead, struct writer *last,
			struct wal_rec *recs, struct group_tally *t)
{
	size_t i = 0;

	for (struct writer *w = lead;; w = w->next) {
		struct lsm_batch *b = w->batch;

		if (b) {
			t->batches++;
			t->user_bytes += b->rep.len - BATCH_HEADER_BYTES;
		}
		if (b && b->count) {
			if (w->fixed_seq)
				t->seq = w->fixed_seq - 1;
			batch_set_seq(b, t->seq + 1);
			t->seq += b->count;
			recs[i].p = b->rep.p;
			recs[i++].len = b->rep.len;
			t->wal_bytes += b->rep.len + WAL_HEADER_BYTES;
		}
		if (w == last)
			break;
	}
}

/* Inserts the group's batches into the memtable.  They were built by
 * lsm_batch_* and so skip batch_decode's validation pass.  AT is where
 * the group's first record starts in the log segment. */
static int group_insert(struct lsm_db *db, struct writer *lead,
			struct writer *last, uint64_t at, struct lsm_err *err)
{
	struct insert_ctx ic = { db->mem };
	int rc = 0;

	if (db->opts.value_log_min_bytes) {
		ic.segment = db->wal_number;
		ic.min = db->opts.value_log_min_bytes;
	}
	for (struct writer *w = lead; rc == 0; w = w->next) {
		if (w->batch && w->batch->count) {
			ic.rep = w->batch->rep.p;
			ic.base = at + WAL_HEADER_BYTES;
			rc = batch_iterate(w->batch, insert_op, &ic, err);
			at += WAL_HEADER_BYTES + w->batch->rep.len;
		}
		if (w == last)
			break;
	}
	return rc;
}

/* Writes the group [lead, last] to the WAL and the memtable (leader, no
 * locks held). */
static int commit_group(struct lsm_db *db, struct writer *lead,
			struct writer *last, size_t nrec, bool sync,
			uint64_t *sync_us, struct lsm_err *err)
{
	struct wal_rec stackrecs[16], *recs = stackrecs;
	/* a group that syncs at once is written, not stored in a mapping */
	int (*append)(struct wal *, const struct wal_rec *, size_t,
		      uint64_t *, struct lsm_err *) =
		sync ? wal_append_synced_at : wal_append_at;
	struct group_tally t = { .seq = atomic_load(&db->last_seq) };
	uint64_t where = 0;
	int rc = 0;

	/* Replicated batches keep the primary's sequence numbers, which must
	 * go forward.  The engine takes a gap; the receiver does not send
	 * one (a primary's log has none, and a follower of the replica
	 * would refuse it). */
	uint64_t at = t.seq;

	for (struct writer *w = lead; ; w = w->next) {
		if (w->fixed_seq && w->fixed_seq <= at)
			return lsm_err_set(err, -ESTALE, "replicated batch at "
					   "sequence %llu, but %llu is already "
					   "applied",
					   (unsigned long long)w->fixed_seq,
					   (unsigned long long)at);
		if (w->fixed_seq)
			at = w->fixed_seq + w->batch->count - 1;
		else if (w->batch)
			at += w->batch->count;
		if (w == last)
			break;
	}
	if (nrec > 16 && !(recs = malloc(nrec * sizeof(*recs))))
		return lsm_err_set(err, -ENOMEM, "out of memory");
	group_stamp(lead, last, recs, &t);
	if (nrec)
		rc = append(db->wal, recs, nrec, &where, err);
	if (db_space_error(rc) && !wal_is_broken(db->wal)) {
		/* Nothing of the group reached the log.  Release the reserve
		 * (the group was admitted before the disk filled) and try
		 * once more; if it still does not fit, say so, and the store
		 * stays writable for deletes. */
		bool was_full = db_space_low(db);

		pthread_mutex_lock(&db->mu);
		db_space_exhausted(db, "log write");
		pthread_mutex_unlock(&db->mu);
		if (!was_full)
			rc = append(db->wal, recs, nrec, &where, err);
	}
	if (recs != stackrecs)
		free(recs);
	if (rc == 0 && sync) {
		uint64_t t0 = db_now_us();

		rc = wal_sync(db->wal, err);
		*sync_us = db_now_us() - t0;
		stat_add(&db->stats.wal_syncs, 1);
	}
	if (rc == 0)
		rc = group_insert(db, lead, last, where, err);
	if (db_space_error(rc) && !wal_is_broken(db->wal))
		return rc; /* not logged, not applied: the store goes on */
	if (rc < 0) {
		pthread_mutex_lock(&db->mu);
		db_set_bg_error(db, rc, err);
		pthread_mutex_unlock(&db->mu);
		return rc;
	}
	stat_add(&db->stats.wal_bytes_written, t.wal_bytes);
	stat_add(&db->stats.wal_group_writes, 1);
	stat_add(&db->stats.wal_group_batches, nrec);
	stat_add(&db->stats.batches, t.batches);
	stat_add(&db->stats.user_bytes_written, t.user_bytes);
	atomic_store_explicit(&db->last_seq, t.seq, memory_order_release);
	return 0;
}

/* Waits (under wq_mu) until writer W is done or leads the queue.  A sync
 * writer first polls, yielding the CPU between looks, for up to 1.5 times
 * the last group's fsync (if that took at most SPIN_MAX_US), then sleeps.
 * Most of a group's time is its fsync, and a sleeper's wakeup costs tens
 * of microseconds on a virtual machine (a cross-CPU interrupt), twice per
 * group: the leader wakes the followers, whose return wakes the gathering
 * leader.  On the 2-core test machine 4 sync writers did about 2.5-3x one
 * writer when both waits slept and 3.6-4.4x when both poll (fsync 250-320
 * us; see README).  Everyone sleeps at once when fsyncs are slow (a
 * disk, not a cache), where a wakeup is small beside them.
 *
 * A write that does not sync waits for a group that takes microseconds
 * (a log append and the memtable inserts), so it polls for up to
 * SPIN_ASYNC_US.  Sleeping there cost more than the wait: under lsmfs's
 * rm -rf, the reclaims of the files removed, committed from another
 * thread, made each unlink that queued behind one sleep, and an unlink
 * took 10.4 us against 6.2 us polling (rm -rf of a 40,693-entry tree:
 * 1.47-1.69 s against 1.33-1.39 s; README, "rm -rf: reclaims without a
 * scan, writers that poll"). */
static void await_turn(struct lsm_db *db, struct writer *w)
{
	uint64_t us = db->sync_us, end;

	if (w->sync && db->sync_group >= 2 && us > 0 && us <= SPIN_MAX_US)
		us += us / 2;
	else if (!w->sync)
		us = SPIN_ASYNC_US;
	else
		us = 0;
	if (us > 0 && !w->done && db->wq_head != w) { /* no clock alone */
		end = db_now_us() + us;
		while (!w->done && db->wq_head != w && db_now_us() < end) {
			pthread_mutex_unlock(&db->wq_mu);
			sched_yield();
			pthread_mutex_lock(&db->wq_mu);
		}
	}
	while (!w->done && db->wq_head != w)
		pthread_cond_wait(&w->cv, &db->wq_mu);
}

static int write_batch(struct lsm_db *db, struct lsm_batch *b, bool sync,
		       uint64_t fixed_seq, struct lsm_err *err)
{
	struct writer w; /* not zeroed whole: err is written only on failure */
	struct writer *last;
	size_t nrec;
	uint64_t sync_us = 0;
	unsigned n = 1;
	bool gsync;
	int rc;

	if (db->read_only)
		return lsm_err_set(err, -EROFS, "%s is open read-only",
				   db->dir);
	w.batch = b;
	w.fixed_seq = fixed_seq;
	w.sync = sync;
	w.done = false;
	w.rc = 0;
	pthread_cond_init(&w.cv, NULL);
	pthread_mutex_lock(&db->wq_mu);
	enqueue(db, &w);
	await_turn(db, &w);
	if (w.done) {
		pthread_mutex_unlock(&db->wq_mu);
		pthread_cond_destroy(&w.cv);
		if (w.rc < 0 && err)
			*err = w.err;
		return w.rc;
	}
	/* We lead.  Followers may keep enqueueing behind us meanwhile. */
	if (sync && b)
		gather(db);
	rc = make_room(db, b == NULL && !sync, err);
	last = rc == 0 ? build_group(&w, &nrec, &gsync) : &w;
	pthread_mutex_unlock(&db->wq_mu);
	if (rc == 0)
		rc = commit_group(db, &w, last, nrec, gsync, &sync_us, err);
	pthread_mutex_lock(&db->wq_mu);
	for (struct writer *f = w.next, *stop = last->next; f != stop;) {
		struct writer *nx = f->next;

		f->rc = rc;
		if (rc < 0 && err)
			f->err = *err;
		f->done = true;
		pthread_cond_signal(&f->cv);
		f = nx;
		n++;
	}
	db->wq_len -= n;
	if (rc == 0 && gsync) {
		db->sync_group = n;
		db->sync_us = sync_us;
	}
	db->wq_head = last->next;
	if (!db->wq_head)
		db->wq_tail = NULL;
	else
		pthread_cond_signal(&db->wq_head->cv);
	pthread_mutex_unlock(&db->wq_mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

int db_write_batch(struct lsm_db *db, struct lsm_batch *b, bool sync,
		   struct lsm_err *err)
{
	if (db->opts.replica && b && b->count)
		return lsm_err_set(err, -EPERM, "%s is a replica: it is written "
				   "only by replication (promote it by opening "
				   "it without the replica option)", db->dir);
	return write_batch(db, b, sync, 0, err);
}

/* batch_decode checks the whole batch (and that its count agrees with
 * its operations) before the first call: nothing to do per operation. */
static int apply_check_op(void *ctx, uint64_t seq, enum ikey_type t,
			  const uint8_t *key, size_t klen, const uint8_t *val,
			  size_t vlen)
{
	(void)ctx; (void)seq; (void)t; (void)key; (void)klen; (void)val;
	(void)vlen;
	return 0;
}

int lsm_apply(struct lsm_db *db, const void *batch, size_t len,
	      unsigned flags, struct lsm_err *err)
{
	struct lsm_batch b = { .rep = BUF_INIT };
	uint64_t first;
	uint32_t count;
	bool sync = (flags & LSM_WRITE_SYNC) ||
		    db->opts.sync == LSM_SYNC_ALWAYS;
	int rc;

	if (!db->opts.replica || db->read_only)
		return lsm_err_set(err, -EINVAL, "%s: lsm_apply needs a store "
				   "opened as a replica", db->dir);
	if (!batch || len < BATCH_HEADER_BYTES)
		return lsm_err_set(err, -EUCLEAN, "replicated batch too short "
				   "(%zu bytes)", len);
	first = get_u64le(batch);
	count = get_u32le((const uint8_t *)batch + 8);
	if (first == 0 || first >= UINT64_MAX / 2 || count == 0)
		return lsm_err_set(err, -EUCLEAN, "replicated batch at sequence "
				   "%llu with %u operations",
				   (unsigned long long)first, count);
	rc = batch_decode(batch, len, apply_check_op, NULL, err);
	if (rc < 0)
		return rc;
	buf_append(&b.rep, batch, len);
	if (!buf_ok(&b.rep))
		return lsm_err_set(err, -ENOMEM, "out of memory");
	b.count = count;
	rc = db_space_gate(db, flags & LSM_WRITE_FREES, err);
	if (rc == 0)
		rc = write_batch(db, &b, sync, first, err);
	buf_free(&b.rep);
	return rc;
}

uint64_t lsm_last_seq(struct lsm_db *db)
{
	return atomic_load(&db->last_seq);
}

int lsm_write(struct lsm_db *db, const struct lsm_batch *cb, unsigned flags,
	      struct lsm_err *err)
{
	/* The leader stamps the sequence number into the batch header: the
	 * batch is the caller's and not shared while lsm_write runs. */
	struct lsm_batch *b = (struct lsm_batch *)cb;
	bool sync = (flags & LSM_WRITE_SYNC) ||
		    db->opts.sync == LSM_SYNC_ALWAYS;

	if (!b || b->oom)
		return lsm_err_set(err, b ? -ENOMEM : -EINVAL, "%s",
				   b ? "batch incomplete: out of memory"
				     : "NULL batch");
	if (b->count == 0 && !sync)
		return 0;
	if (db_space_gate(db, flags & LSM_WRITE_FREES, err) < 0)
		return -ENOSPC;
	if ((flags & LSM_WRITE_FREES) && db_space_low(db))
		stat_add(&db->space_frees, 1); /* db_space_poll reclaims */
	return db_write_batch(db, b, sync, err); /* counts the batch */
}

/* A one-operation batch backed by STACK (CAP bytes) when NEED bytes fit,
 * so small puts and deletes allocate nothing. */
static void small_batch(struct lsm_batch *b, uint8_t *stack, size_t cap,
			size_t need)
{
	memset(b, 0, sizeof(*b));
	if (need + BATCH_HEADER_BYTES + 2 * VARINT32_MAX_BYTES + 1 <= cap) {
		b->rep.p = stack;
		b->rep.cap = cap;
	} else if (!buf_reserve(&b->rep, BATCH_HEADER_BYTES)) {
		b->oom = true;
		return;
	}
	memset(b->rep.p, 0, BATCH_HEADER_BYTES);
	b->rep.len = BATCH_HEADER_BYTES;
}

static void small_batch_free(struct lsm_batch *b, const uint8_t *stack)
{
	if (b->rep.p != stack)
		buf_free(&b->rep);
}

int lsm_put(struct lsm_db *db, const void *key, size_t klen, const void *val,
	    size_t vlen, struct lsm_err *err)
{
	struct lsm_batch b;
	uint8_t stack[512];
	int rc;

	small_batch(&b, stack, sizeof(stack), klen + vlen);
	rc = b.oom ? -ENOMEM : lsm_batch_put(&b, key, klen, val, vlen);
	if (rc == 0)
		rc = lsm_write(db, &b, 0, err);
	else
		lsm_err_set(err, rc, "put of a %zu-byte key and %zu-byte value"
			    " refused (limits %u and %u bytes)", klen, vlen,
			    LSM_MAX_KEY_BYTES, LSM_MAX_VALUE_BYTES);
	if (rc == 0)
		stat_add(&db->stats.puts, 1);
	small_batch_free(&b, stack);
	return rc;
}

int lsm_delete(struct lsm_db *db, const void *key, size_t klen,
	       struct lsm_err *err)
{
	struct lsm_batch b;
	uint8_t stack[512];
	int rc;

	small_batch(&b, stack, sizeof(stack), klen);
	rc = b.oom ? -ENOMEM : lsm_batch_delete(&b, key, klen);
	if (rc == 0)
		rc = lsm_write(db, &b, LSM_WRITE_FREES, err);
	else
		lsm_err_set(err, rc, "delete of a %zu-byte key refused", klen);
	if (rc == 0)
		stat_add(&db->stats.deletes, 1);
	small_batch_free(&b, stack);
	return rc;
}

int lsm_sync(struct lsm_db *db, struct lsm_err *err)
{
	stat_add(&db->stats.syncs, 1);
	if (db->read_only)
		return 0;
	return db_write_batch(db, NULL, true, err);
}
