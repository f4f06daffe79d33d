/* db_impl.h - the inside of struct lsm_db, shared by db*.c, compaction.c
 * and stats.c.
 *
 * Locks (taken in this order, never the reverse):
 *   wq_mu  - the writer queue; the queue's head is the write leader, the only
 *            thread that appends to the WAL, inserts into the memtable or
 *            switches memtables.
 *   mu     - versions and the version set, background work state,
 *            snapshots, pending outputs, errors.
 *   sv_mu  - the pointer to the current super version only.
 * Readers take sv_mu just long enough to reference the super version:
 * reads never wait for a flush, a compaction or a manifest fsync.
 */
#ifndef LSM_DB_IMPL_H
#define LSM_DB_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cache.h"
#include "filename.h"
#include "lsm.h"
#include "lsm_io.h"
#include "memtable.h"
#include "stats.h"
#include "table_cache.h"
#include "version.h"
#include "wal.h"

/* What a reader needs: memtables and tables at one instant. */
struct super {
	_Atomic int refs;
	struct memtable *mem;
	struct memtable *imm; /* may be NULL */
	struct version *v;
};

struct lsm_snapshot {
	uint64_t seq;
	struct super *sv; /* followers: the state it reads, held */
	bool durable;     /* a handle of a durable snapshot */
	struct lsm_snapshot *prev, *next; /* db->snapshots list, under mu */
};

struct writer {
	struct lsm_batch *batch; /* NULL: a sync request */
	uint64_t fixed_seq;      /* lsm_apply: the batch's own sequence */
	bool sync;
	bool done;
	int rc;
	struct lsm_err err;
	pthread_cond_t cv;
	struct writer *next;
};

struct pending {
	uint64_t *numbers; /* files being written by flush/compaction */
	size_t n, cap;
};

/* A table a follower holds open: its cache key and the file it is. */
struct fl_pin {
	uint64_t key;
	struct file_id id;
};

struct lsm_db {
	char *dir;
	_Atomic uint64_t archive_bytes;   /* db_archive.c, as last counted */
	struct lsm_options opts;
	const struct lsm_io *io;
	int lock_fd;
	bool read_only;
	/* Reads charge tables for read-triggered compaction (iterators'
	 * samples, lookups' blocks read in vain): read_sample_bytes set, a
	 * compaction thread, writable, not a follower. */
	bool reads_charge;

	pthread_mutex_t wq_mu;
	struct writer *wq_head, *wq_tail; /* under wq_mu */
	unsigned wq_len;                  /* writers queued, under wq_mu */
	/* Group commit (db_write.c, under wq_mu): writers in the last group
	 * that synced and how long its sync took; they tell a sync leader how
	 * long to gather and a sync follower how long to poll. */
	unsigned sync_group;
	uint64_t sync_us;
	struct lsm_batch *group;          /* leader's scratch, under wq_mu */

	/* Write leader state (touched by the leader, or under mu). */
	struct memtable *mem;
	struct wal *wal;
	uint64_t wal_number;
	_Atomic uint64_t last_seq;        /* last visible sequence number */
	/* Write gates, copies of what make_room checks, so that a leader with
	 * room in its memtable need not take mu: stored under mu whenever
	 * vs.current or bg_error changes (db_write_gates_refresh). */
	_Atomic size_t gate_l0_files;
	_Atomic uint64_t gate_pending_bytes;
	atomic_bool gate_failed;          /* bg_error != 0 */

	pthread_mutex_t mu;
	pthread_cond_t bg_cv;     /* signalled when bg work may be needed */
	pthread_cond_t done_cv;   /* signalled when a bg job finishes */
	struct memtable *imm;     /* being flushed; under mu */
	struct version_set vs;    /* under mu */
	struct lsm_snapshot snapshots; /* sentinel; under mu */
	struct pending pending;   /* under mu */
	bool shutting_down;       /* under mu */
	bool flush_running, compaction_running; /* under mu */
	int manual_compactions;   /* callers compacting by hand; under mu */
	bool manual_running;      /* one of them is compacting; under mu */
	bool obsolete_pending;    /* a released version may free files; mu */
	int bg_error;             /* sticky: writes fail, db read-only */
	struct lsm_err bg_err;
	int flush_error;          /* last flush failure, retried */
	struct lsm_err flush_err; /* its message */
	uint64_t flush_retries;
	pthread_t flush_thread, compact_thread, sync_thread;
	bool flush_started, compact_started, sync_started;

	pthread_mutex_t sv_mu;
	struct super *sv;         /* under sv_mu */

	struct cache *block_cache;
	struct table_cache *tables;
	struct vlog *vlog;        /* reads values tables point to */
	/* The value log's collection: segments whose values compactions
	 * copy back into tables (mostly dead ones; db.c vlog_keep); under
	 * mu. */
	struct vlog_refs vlog_collect;
	bool vlog_eager;          /* an explicit compaction runs: collect
	                           * every segment a quarter dead, now */
	uint64_t vlog_linked;     /* segments up to it are in the archive
	                           * already (kept ones are linked there
	                           * early); under mu */
	struct stats stats;
	uint64_t open_time_us;

	/* Full disk (db_space.c). */
	atomic_bool space_low;    /* the reserve is released */
	bool reserve_held;        /* RESERVE exists; under mu */
	uint64_t space_poll_us;   /* last look at free space; under mu */
	_Atomic uint64_t space_frees; /* freeing writes while space_low */

	/* Following a store another process writes (db_follow.c). */
	pthread_mutex_t follow_mu;    /* one catch-up at a time; guards: */
	uint64_t fl_manifest, fl_manifest_size; /* the manifest last read */
	uint64_t fl_log_number;       /* db->mem holds segments >= this */
	uint64_t fl_wal, fl_wal_off;  /* newest segment applied, how far */
	uint64_t fl_next_seq;         /* sequence of the next batch, 0 any */
	int fl_last_err;
	bool fl_first;                /* no catch-up published yet; mu */
	struct fl_pin *fl_pinned;     /* tables held open; under mu */
	size_t fl_npinned, fl_cappinned;
	uint64_t *fl_segs;            /* log segments held open for the
	                               * pointers of pinned tables (vlog.h);
	                               * under mu */
	size_t fl_nsegs, fl_capsegs;
	/* Replacement of the followed store (a replica's bootstrap or
	 * rebuild) by one that may reuse file numbers: what we read last
	 * (zero: unknown), and the incarnation tables are keyed with. */
	struct file_id fl_manifest_id, fl_wal_id;
	uint8_t fl_incarnation;
	bool fl_replaced;             /* seen; the next attempt starts over */
	_Atomic uint64_t fl_caught_up_us;
	pthread_t follow_thread;
	bool follow_started;
	int fl_wake_fd;               /* eventfd: the db closes */
	int fl_inotify_fd;            /* changes in the directory, or -1 */
	uint64_t reclaim_frees;   /* space_frees at the last reclaim; mu */
	/* A snapshot was dropped: tables numbered below this that hold
	 * versions a snapshot kept (pinned_bytes) are rewritten once by the
	 * idle pass, to free what only the dropped one needed (0: none to
	 * look at; db_snapshot.c, compaction.c); under mu. */
	uint64_t snap_reclaim_below;
	/* A table that reads were charged enough for (read_sample_bytes):
	 * its number and level, compacted next when nothing else is due
	 * (0: none); under mu. */
	uint64_t read_compact_number;
	int read_compact_level;
	uint64_t reclaim_us;      /* last reclaim; under mu */
	unsigned reclaim_failed;  /* reclaims failed in a row; under mu */
};

/* ---- db.c ---- */
void db_log(struct lsm_db *db, enum lsm_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t db_now_us(void);
/* Makes the fatal error RC the db's sticky background error (turning it
 * read-only) and logs it.  Under mu. */
void db_set_bg_error(struct lsm_db *db, int rc, const struct lsm_err *err);
/* Appends V to the growing array *A (*N used of *CAP): 0 or -ENOMEM (the
 * array unchanged). */
int db_u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v);

/* The tables some live version or a pending output names, sorted. */
struct db_live {
	uint64_t *nums;  /* malloc'ed; free() it */
	size_t n, cap;
	bool oom;
	/* The segments tables of live versions point into, with the bytes
	 * the current version names in each (vlog.h). */
	struct vlog_refs segs;
};
/* Fills L (under mu); -ENOMEM leaves nothing to free. */
int db_live_tables(struct lsm_db *db, struct db_live *l);
void db_live_add(void *ctx, uint64_t number); /* a vset_live_tables fn */
bool db_is_live(const struct db_live *l, uint64_t number);
/* Sleeps up to MS milliseconds on bg_cv (mu held; a kick wakes it). */
void db_bg_sleep(struct lsm_db *db, unsigned ms);

/* Deletes files no live version, WAL position or pending output needs.
 * Called with mu held; drops it around the unlinks. */
void db_delete_obsolete(struct lsm_db *db);
/* Syncs the directory (new tables) and logs E to the manifest (under mu). */
/* The log archive (db_archive.c). */
bool db_archive_on(const struct lsm_db *db);
/* Moves segment NAME of DIR into the archive (no lock needed). */
/* Hard-links log segment NAME into the archive, keeping it in place (a
 * segment tables still point into, vlog.h): 0 (also when it is there
 * already) or -errno. */
int db_archive_link(struct lsm_db *db, const char *name);
int db_archive_wal(struct lsm_db *db, const char *name);
/* Drops the oldest archived segments past the bounds, or ALL. */
void db_archive_trim(struct lsm_db *db, bool all);

int db_log_and_apply(struct lsm_db *db, struct version_edit *e,
		     struct lsm_err *err);
/* Recomputes the write gates from vs.current and bg_error (under mu). */
void db_write_gates_refresh(struct lsm_db *db);
int db_pending_add(struct lsm_db *db, uint64_t number);   /* under mu */
void db_pending_remove(struct lsm_db *db, uint64_t number); /* under mu */

/* ---- super versions (db_read.c) ---- */
/* +1 ref on the current super version; *SEQ (when SEQ is non-NULL) gets
 * the visible sequence number that goes with it (see db_read.c). */
struct super *db_super_get(struct lsm_db *db, uint64_t *seq);
void db_super_put(struct lsm_db *db, struct super *sv); /* -1 ref */
/* Publishes a new super version from db->mem, db->imm and vs.current.
 * Under mu.  -ENOMEM leaves the old one (readers then miss nothing: the
 * caller keeps the old files until it can retry). */
int db_super_install(struct lsm_db *db);
/* The same, publishing *SEQ (when non-NULL) as last_seq in the same
 * instant, so that no reader sees the new number with the old state. */
int db_super_install_seq(struct lsm_db *db, const uint64_t *seq);
/* The same in two steps, for a caller that must not fail once it has
 * changed db->mem: db_super_new (NULL on ENOMEM) beforehand, then
 * db_super_publish, which takes SV and cannot fail (under mu). */
struct super *db_super_new(void);
void db_super_publish(struct lsm_db *db, struct super *sv);
void db_super_publish_seq(struct lsm_db *db, struct super *sv,
			  const uint64_t *seq);

/* ---- writes (db_write.c) ---- */
int db_write_batch(struct lsm_db *db, struct lsm_batch *b, bool sync,
		   struct lsm_err *err);

/* ---- background (db_bg.c) ---- */
int db_bg_start(struct lsm_db *db, struct lsm_err *err);
void db_bg_stop(struct lsm_db *db);
/* Writes MEM to a new L0 table, adding it to EDIT.  *NUMBER gets 0 when
 * MEM is empty (no table).  Called without mu. */
int db_write_l0(struct lsm_db *db, struct memtable *mem,
		struct version_edit *edit, uint64_t *number,
		struct lsm_err *err);
/* The table-building options of DB. */
struct sst_options;
void db_sst_options(const struct lsm_db *db, struct sst_options *o);
/* Wakes the background threads (under mu). */
void db_bg_kick(struct lsm_db *db);
/* Waits (under mu) until no flush is pending or running. */
int db_wait_flush(struct lsm_db *db, struct lsm_err *err);

/* ---- compaction (compaction.c) ---- */
/* Score >= 1 means LEVEL should be compacted (under mu). */
double compaction_score(struct lsm_db *db, const struct version *v,
			int level);
/* Bytes that compactions still have to move down (under mu). */
uint64_t compaction_pending_bytes(struct lsm_db *db, const struct version *v);
/* Runs one automatic compaction if some level needs one.  Called by the
 * compaction thread with mu held (dropped while merging).  Returns 1 if
 * it did work, 0 if none was needed, or a negative error. */
int compaction_run_auto(struct lsm_db *db, struct lsm_err *err);
/* Runs one step of the idle pass (a table holding tombstones, or of
 * unknown counts, above the deepest level, pushed down one level); same
 * contract as compaction_run_auto. */
int compaction_run_idle(struct lsm_db *db, struct lsm_err *err);
/* An iterator of version V visited internal key IKEY (a sample, taken
 * every read_sample_bytes on average): when two or more tables hold its
 * user key, the shallowest is charged, and marked for compaction when
 * charged enough.  Takes mu only then. */
void compaction_read_sample(struct lsm_db *db, const struct version *v,
			    const uint8_t *ikey, size_t iklen);
/* Charges table F of LEVEL with one read that went through it to a
 * deeper table (read_sample_bytes); marks it for compaction when charged
 * enough.  Takes mu only then. */
void compaction_read_charge(struct lsm_db *db, struct file_meta *f,
			    int level);
/* lsm_compact_range body, with mu held. */
int compaction_run_range(struct lsm_db *db, const uint8_t *begin, size_t blen,
			 const uint8_t *end, size_t elen, struct lsm_err *err);
/* ---- snapshots (db_snapshot.c) ---- */
/* The oldest sequence some snapshot, in-memory or durable, can see, or
 * the visible one when none (under mu). */
uint64_t db_oldest_snapshot(struct lsm_db *db);
/* Every snapshot's sequence number (in-memory and durable) and the
 * visible one, ascending without repeats: *OUT is malloc'ed (under mu).
 * 0 or -ENOMEM. */
int db_snapshot_seqs(struct lsm_db *db, uint64_t **out, size_t *n);
/* Called by lsm_snapshot_release with S unlinked (under mu): the last
 * handle of a dropped durable snapshot lets the idle pass reclaim. */
void db_snapshot_released(struct lsm_db *db, const struct lsm_snapshot *s);
/* The stats' estimate of the bytes snapshots pin: the pinned_bytes of
 * the current version's tables (under mu). */
uint64_t db_snapshot_pinned_bytes(struct lsm_db *db);

/* ---- iterators (db_iter.c) ---- */
/* An internal iterator over mem, imm and every table of SV, which the
 * caller keeps referenced for the iterator's life.  Memtables empty at the call are left out: what
 * they get later is newer than any sequence number read before it. */
struct iiter *db_internal_iter(struct lsm_db *db, struct super *sv,
			       struct lsm_err *err);

/* Preallocates the current log segment for a memtable's worth of records
 * (best effort), so appends do not run out of space at writeback. */
void db_wal_preallocate(struct lsm_db *db);

/* The numbers of the log segments at or above FROM in the directory,
 * ascending: *OUT is malloc'ed (free() it). */
int db_list_wals(struct lsm_db *db, uint64_t from, uint64_t **out,
		 size_t *n, struct lsm_err *err);

/* ---- db_follow.c ---- */
/* Starts following (open of a follower, mu not held): the first catch-up,
 * then the follow thread when follow_interval_ms is set. */
int db_follow_open(struct lsm_db *db, struct lsm_err *err);
/* Wakes the follow thread to see shutting_down (db_bg_stop). */
void db_follow_stop(struct lsm_db *db);
/* Closes the follower's descriptors (db_release). */
void db_follow_close(struct lsm_db *db);

/* ---- db_space.c ---- */
/* Bytes of the reserve (the option resolved), 0 when none. */
uint64_t db_reserve_bytes(const struct lsm_db *db);
/* Deletes the ballast file (at open before anything is written). */
void db_reserve_drop(struct lsm_db *db);
/* Makes the ballast after a writable open, or starts with the disk full
 * when there is not room for twice the reserve. */
void db_reserve_open(struct lsm_db *db);
/* True for the errors of a full disk (-ENOSPC, -EDQUOT). */
bool db_space_error(int rc);
/* A write, flush or compaction found the disk full: release the reserve
 * and accept only space-freeing writes from now on (under mu, or from the
 * write leader). */
void db_space_exhausted(struct lsm_db *db, const char *what);
/* 0, or -ENOSPC for a write that does not free space on a full disk. */
int db_space_gate(struct lsm_db *db, bool frees, struct lsm_err *err);
/* Re-makes the reserve once there is room (compaction thread, under mu;
 * may drop it). */
void db_space_poll(struct lsm_db *db);
bool db_space_low(struct lsm_db *db);
/* Whether a failed manifest write RC must turn the store read-only: not
 * when the disk was merely full and the manifest is still intact. */
bool db_manifest_error_fatal(struct lsm_db *db, int rc);

/* Failed flush attempts after which a writer needing the memtable's room,
 * or lsm_flush, gets the flush error instead of waiting. */
#define FLUSH_FAILS_REFUSE 3

#endif /* LSM_DB_IMPL_H */
