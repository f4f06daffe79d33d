/* lsm.h - the public API of liblsm, an embedded log-structured merge-tree
 * key-value store.  Keys and values are arbitrary byte strings; keys sort
 * bytewise (memcmp, shorter first on a tie).  The library knows nothing of
 * paths, FUSE or sockets.
 *
 * Conventions:
 *  - Every fallible call returns 0 (or a documented non-negative value) on
 *    success and a negative errno on failure.  When ERR is non-NULL it is
 *    filled with the same code and a one-line message; the error path
 *    allocates nothing.
 *  - "No such key" is a result, not an error: lsm_get/lsm_get_buf return
 *    1 when the key is found and 0 when it is absent, so no I/O error can
 *    pass for a missing key.  -EBUSY: another process holds the data
 *    directory.  -EBADMSG: a checksum mismatch.  -EUCLEAN: a structurally
 *    corrupt file.  -EROFS: the store is read-only (opened so, or turned so
 *    after a write error it could not recover from).  -ENOMEM, -EIO,
 *    -ENOSPC, -EINVAL as usual.
 *  - Every handle is thread-safe unless stated otherwise; an lsm_iter is
 *    used by one thread at a time.
 */
#ifndef LSM_H
#define LSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSM_VERSION_STRING "0.1.0"

struct lsm_io; /* the file-I/O seam, see lsm_io.h (tests and tools only) */

struct lsm_err {
	int code;      /* negative errno, 0 when no error */
	char msg[256]; /* NUL-terminated one-line description */
};

/* Sets *ERR (when non-NULL) and returns CODE. */
int lsm_err_set(struct lsm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* When a write is durable (survives a power cut):
 *  LSM_SYNC_ALWAYS   - before lsm_put/lsm_delete/lsm_write returns 0.
 *                      Concurrent writers share one fsync (group commit).
 *                      A crash loses nothing acknowledged.
 *  LSM_SYNC_MANUAL   - when a later lsm_sync() returns 0, or when a
 *                      memtable is flushed.  A power cut may lose every
 *                      write since the last lsm_sync(); a crash of the
 *                      process alone loses nothing that was acknowledged
 *                      (the bytes are in the kernel's page cache).
 *  LSM_SYNC_INTERVAL - a background thread syncs the log every
 *                      sync_interval_ms; a power cut loses at most that
 *                      window of acknowledged writes.
 * In every policy, recovery yields a prefix of the acknowledged writes in
 * order: never a later write without an earlier one, never a torn batch. */
enum lsm_sync_policy {
	LSM_SYNC_ALWAYS = 0,
	LSM_SYNC_MANUAL = 1,
	LSM_SYNC_INTERVAL = 2,
};

enum lsm_compression {
	LSM_COMPRESS_NONE = 0,
	LSM_COMPRESS_ZLIB = 1,
};

/* How recovery treats a write-ahead log damaged before its end (a record
 * in the middle that fails its checksum, a missing or truncated segment
 * the manifest records; engine/doc/wal.md):
 *  LSM_WAL_STRICT        - refuse to open (-EBADMSG/-EUCLEAN): writes
 *                          after the damage would be lost.
 *  LSM_WAL_POINT_IN_TIME - honoured only with read_only: replay every
 *                          segment in order up to the first damage and stop
 *                          there, logging a warning that names the segment
 *                          and offset; what follows is not seen.  A writable
 *                          open is always strict (lsmfs-ctl repair, i.e.
 *                          lsm_repair in lsm_tool.h, cuts the log for good
 *                          and keeps what it drops). */
enum lsm_wal_recovery {
	LSM_WAL_STRICT = 0,
	LSM_WAL_POINT_IN_TIME = 1,
};

enum lsm_log_level {
	LSM_LOG_ERROR = 0,
	LSM_LOG_WARN = 1,
	LSM_LOG_INFO = 2,
	LSM_LOG_DEBUG = 3,
};

/* A store's identity (engine/doc/manifest.md, "Identity"): a random id
 * made when the store is created, and its generations.  A store's
 * history is a line of generations, each starting at a sequence number;
 * a replica shares its primary's id and history.  When a replica is
 * promoted (opened writable without the replica option) it starts a new
 * generation at its next sequence number, so any other copy that went on
 * past that point in the old generation can be told apart (diverged). */
#define LSM_STORE_ID_BYTES 16
#define LSM_HISTORY_MAX 32 /* the newest generations kept */
struct lsm_generation {
	uint64_t generation;
	uint64_t start_seq; /* its first sequence number */
};
struct lsm_identity {
	uint8_t id[LSM_STORE_ID_BYTES];
	uint64_t generation; /* the current one: history[nhistory - 1] */
	bool replica;        /* written by a replication receiver */
	unsigned nhistory;   /* 1 .. LSM_HISTORY_MAX, ascending */
	struct lsm_generation history[LSM_HISTORY_MAX];
};

/* Epochs: every writable open of a store that is not a replica begins an
 * epoch at its next sequence number, named by a random tag.  Two copies
 * of a store that went on separately from one state (a primary restored
 * from a backup, a primary that lost unsynced writes in a power cut and
 * wrote new ones) share sequence numbers but not epochs: replication
 * compares the epoch behind a replica's position with the primary's
 * (replicate/README.md).  The newest LSM_EPOCHS_MAX are kept. */
#define LSM_EPOCHS_MAX 64
struct lsm_epoch {
	uint64_t tag;       /* random, never 0 */
	uint64_t start_seq; /* its first sequence number */
};

struct lsm_options {
	bool create_if_missing;        /* default true */
	bool error_if_exists;          /* default false */
	bool read_only;                /* default false: no writes, no lock
	                                * taken for writing, WAL replayed in
	                                * memory only */
	enum lsm_wal_recovery wal_recovery; /* default LSM_WAL_STRICT */
	size_t memtable_bytes;         /* default 8 MiB; each memtable also
	                                * keeps a key filter of 1/64 of it */
	enum lsm_sync_policy sync;     /* default LSM_SYNC_MANUAL */
	unsigned sync_interval_ms;     /* default 100 (LSM_SYNC_INTERVAL) */
	size_t block_bytes;            /* default 4096 (uncompressed) */
	unsigned bloom_bits_per_key;   /* default 10; 0 = no filter */
	enum lsm_compression compression; /* default LSM_COMPRESS_NONE */
	int zlib_level;                /* default 1 (fast) */
	size_t cache_bytes;            /* block cache budget, default 32 MiB */
	unsigned max_open_tables;      /* table cache size, default 512
	                                * (rounded up to a multiple of
	                                * 16, the cache's shards).  The
	                                * first half of that many tables
	                                * read stay open while a version
	                                * names them (no cache lookup per
	                                * read): at most 1.5x this many
	                                * are open at worst */

	/* Leveled compaction. */
	unsigned l0_compaction_trigger;  /* default 4 tables */
	unsigned l0_slowdown_trigger;    /* default 8: each write waits 1 ms */
	unsigned l0_stop_trigger;        /* default 12: writes wait */
	uint64_t level1_bytes;           /* target bytes of L1, default
	                                  * LSM_LEVEL1_AUTO: a full L0,
	                                  * l0_compaction_trigger *
	                                  * memtable_bytes (32 MiB), at
	                                  * least table_bytes, at most
	                                  * 64 MiB */
	unsigned level_multiplier;       /* default 10 */
	unsigned max_levels;             /* default 7, at most LSM_MAX_LEVELS */
	uint64_t table_bytes;            /* output table size, default 4 MiB */
	uint64_t pending_slowdown_bytes; /* default 64 GiB (see README) */
	uint64_t pending_stop_bytes;     /* default 256 GiB */
	bool background_compaction;      /* default true; false: only
	                                  * lsm_compact_range compacts */
	/* Space coming back after deletions (background compaction only).
	 * When no level is over its size, a table whose entries are at
	 * least this percent deletions (tombstones) is compacted into the
	 * level below, so that the tombstones meet and drop what they
	 * delete; default 20, 0 = never. */
	unsigned tombstone_percent;
	/* After this many milliseconds without writes, the compaction
	 * thread walks the tables still holding tombstones above the
	 * deepest level (or whose counts are unknown: tables of older
	 * builds) one at a time, pushing them down until none is left;
	 * writes stop it.  Default 5000, 0 = never. */
	unsigned idle_compaction_ms;
	/* Read-triggered compaction (LevelDB's seek compaction): iterators
	 * sample a key every read_sample_bytes of keys and values they
	 * visit, on average; a sampled key that lies in two or more tables
	 * charges the shallowest.  A point lookup that read a data block of
	 * a table in vain (its filter let the key through, no version
	 * there) and then asks a deeper table charges the first.  A table
	 * charged once per 16 KiB of its size (at least 100 times) is
	 * compacted into the level below, so that the reads which follow a
	 * burst of writes touch fewer tables.  Default 1 MiB, 0 = never
	 * (neither kind of charge). */
	size_t read_sample_bytes;

	/* Disk space held back (DATADIR/RESERVE) for a full disk: when a
	 * write, flush or compaction runs out of space the reserve is
	 * released; from then on only writes that free space
	 * (LSM_WRITE_FREES, lsm_delete) are accepted, the others fail with
	 * -ENOSPC, until twice the reserve is free again.  Default
	 * LSM_RESERVE_AUTO: the memtable plus four tables (the largest
	 * flush and a compaction step); 0: none. */
	uint64_t reserve_bytes;

	/* Following a store another process writes (read_only only): the
	 * view catches up with the writer's manifest, tables and log at
	 * lsm_catch_up, and every follow_interval_ms by itself (0: only
	 * when asked).  Every table of every version the reader holds stays
	 * open (max_open_tables does not apply); the soft limit on open
	 * files is raised to the hard one. */
	bool follow;                     /* default false */
	unsigned follow_interval_ms;     /* default 200 */
	/* Called after each catch-up published a new state (in the thread
	 * that ran it, no engine lock held) with every key the records it
	 * applied wrote; and once with KEY NULL when states came in that it
	 * has no records of (the writer flushed them first, or the store
	 * was replaced): then any key may have changed.  Lets a cache above
	 * (the kernel's, for lsmfs) drop exactly what changed. */
	void (*follow_key_fn)(void *ctx, const void *key, size_t klen);
	void *follow_ctx;

	/* Replication.  REPLICA: the store is written by a replication
	 * receiver (lsmfs-replicate), only through lsm_apply at its primary's
	 * sequence numbers; lsm_write is refused (-EPERM) and the manifest
	 * marks the store a replica.  A later writable open without it
	 * promotes the store: a new generation begins (lsm_identity).
	 * WAL_ARCHIVE_BYTES / WAL_ARCHIVE_SECONDS: log segments no longer
	 * needed for recovery move to DIR/archive/ instead of being deleted,
	 * and are kept while both bounds hold (0 bytes: no archive, the
	 * default; 0 seconds: no age bound); the archive is emptied first
	 * when the disk fills (reserve_bytes).  Replication reads it to
	 * serve replicas that are behind. */
	bool replica;                    /* default false */
	uint64_t wal_archive_bytes;      /* default 0 */
	unsigned wal_archive_seconds;    /* default 0 */

	/* Diagnostics: the engine never prints; it calls log_fn (if set). */
	void (*log_fn)(void *ctx, enum lsm_log_level level, const char *msg);
	void *log_ctx;

	/* File I/O; NULL means the POSIX implementation.  Must outlive the db. */
	const struct lsm_io *io;

	/* A writable open takes DIR/LOCK (flock) for as long as the db is
	 * open.  LOCK_FD >= 0 hands it a descriptor of DIR/LOCK on which the
	 * caller already holds that lock: the db takes the lock over through
	 * a duplicate, so there is no moment between the caller's hold and
	 * the db's when another process could take the store (a replication
	 * receiver swapping a replica's files).  The caller keeps LOCK_FD and
	 * its lock past lsm_close.  -EINVAL if LOCK_FD is not locked by us. */
	int lock_fd;                     /* default -1 */

	/* Tables are cut where the first table_prefix_bytes bytes of the
	 * user key change (a shorter key is its own prefix): a flush gives
	 * a run of keys under one prefix a table of its own when that table
	 * can go below L0 (it overlaps nothing above), and compactions end
	 * their outputs at a prefix change, so that data written beside
	 * what exists (new files' chunk keys in lsmfs, whose inode records
	 * sort elsewhere) is not rewritten by L0 compactions.  Default 0:
	 * no cuts; at most 64.  (With or without it, a flush's table
	 * without deletions that overlaps nothing above goes to L1 or L2
	 * directly.) */
	unsigned table_prefix_bytes;

	/* Reads of table data through mmap(2) instead of pread(2) and the
	 * block cache (POSIX I/O only; ignored with another IO).  Default
	 * false.  Iterators then copy nothing and take no lock for a block;
	 * each block's checksum is checked the first time an iterator reads
	 * it while its table is open, not on every read from the page cache.
	 * The trade: a read error of the device under a mapped page (or a
	 * table file truncated behind the engine's back) kills the process
	 * with SIGBUS instead of failing the iterator with -EIO, and damage
	 * that appears on the device after a block was checked goes unnoticed
	 * by iterators until the table is opened again.  Point lookups are
	 * as with map_tables (checked at every read, guarded).  Compressed
	 * blocks still go through the block cache. */
	bool mmap_reads;

	/* Values of at least this many bytes are written once: a flush
	 * puts a pointer into the log segment that already holds the value
	 * in the table instead of the value (engine/doc/value-log.md), and
	 * the segment is kept while a table points into it.  Default 0:
	 * off.  Setting it marks the store with the value_log feature,
	 * which builds before it cannot open. */
	uint32_t value_log_min_bytes;

	/* Table data blocks are read through a read-only mapping of the
	 * table (mmap(2)) instead of pread(2): no system call and no lookup
	 * of the kernel's page cache per block.  Iterators copy an
	 * uncompressed block out of the mapping into a buffer of their own
	 * (reused, and kept per thread: at most 32 KiB a thread) and check
	 * it there at every load, without the block cache; compressed blocks
	 * go through the cache as with pread.  A point
	 * lookup in an uncompressed block works in the mapping: it checks the
	 * block's checksum there, at every lookup, finds the key and copies
	 * out only its value, with no copy of the block and no trip through
	 * the block cache.  Either way every block read is checked against
	 * its checksum, and a page that cannot be read (a device error, a
	 * table file cut short behind the engine's back) fails the read with
	 * -EIO, not the process: the engine installs a SIGBUS handler for its
	 * own reads of the mapping and passes any other SIGBUS to the
	 * disposition the process had (a handler the program installs later
	 * must do the same).  POSIX I/O only (ignored with another IO);
	 * compactions keep using pread.  The trade: the pages a process has
	 * read through its mappings count in its resident set (they are the
	 * kernel's page cache, shared and reclaimable).  Default true;
	 * mmap_reads takes precedence for iterators. */
	bool map_tables;

	/* Small log appends (groups of batches up to 256 KiB) are framed
	 * straight into a shared, writable mapping of the log segment, 1 MiB
	 * of it at a time, instead of written with pwrite(2): a store costs
	 * a memcpy where a write cost a system call (engine/doc/wal.md,
	 * "Writing through a mapping").  The guarantees are the same: the
	 * stores are in the page cache at once, so a crash of the process
	 * loses nothing acknowledged, and fsync makes them durable.  While
	 * a segment is written through a mapping its file is longer than
	 * its records (zeros after them, cut off when the segment is
	 * sealed); readers, followers and lsmfs-replicate take the zeros as
	 * the end.  Only where the I/O layer can map and the filesystem
	 * takes stores into allocated blocks without allocating again
	 * (ext4, xfs, tmpfs); elsewhere, or when the window's blocks cannot
	 * be allocated, the segment is written.  Default true. */
	bool map_log;
};

#define LSM_MAX_LEVELS 12
#define LSM_RESERVE_AUTO UINT64_MAX
#define LSM_LEVEL1_AUTO 0

/* Fills O with the defaults above. */
void lsm_options_init(struct lsm_options *o);

/* ---- Opening and closing ---- */

struct lsm_db;

/* Opens the store in directory DIR (created when missing and allowed),
 * taking DIR/LOCK.  Replays the write-ahead log.  On success *OUT owns a
 * handle for lsm_close().  -EBUSY names the owner's pid in ERR. */
int lsm_open(const char *dir, const struct lsm_options *opts,
	     struct lsm_db **out, struct lsm_err *err);

/* Waits for background work, syncs the log, releases the lock and frees
 * DB (also on error).  Iterators and snapshots must be freed before.
 * Accepts NULL. */
int lsm_close(struct lsm_db *db, struct lsm_err *err);

/* ---- Writes ---- */

/* A write batch: puts and deletes applied atomically and in order.
 * Not thread-safe; owned by the caller. */
struct lsm_batch;
struct lsm_batch *lsm_batch_new(void);               /* NULL on ENOMEM */
void lsm_batch_free(struct lsm_batch *b);            /* accepts NULL */
void lsm_batch_clear(struct lsm_batch *b);
int lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen,
		  const void *val, size_t vlen);      /* 0 or -ENOMEM/-EINVAL */
int lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen);
size_t lsm_batch_count(const struct lsm_batch *b);
size_t lsm_batch_bytes(const struct lsm_batch *b);

#define LSM_MAX_KEY_BYTES (64u * 1024)
#define LSM_MAX_VALUE_BYTES (64u * 1024 * 1024)

/* Write flags. */
#define LSM_WRITE_SYNC 0x1u  /* durable before return, whatever the policy */
#define LSM_WRITE_FREES 0x2u /* the batch frees space (deletes, truncation):
                              * accepted on a full disk (reserve_bytes) */

/* Applies B atomically.  Durability follows the sync policy (or
 * LSM_WRITE_SYNC).  Visible to every reader when it returns 0. */
int lsm_write(struct lsm_db *db, const struct lsm_batch *b, unsigned flags,
	      struct lsm_err *err);
int lsm_put(struct lsm_db *db, const void *key, size_t klen,
	    const void *val, size_t vlen, struct lsm_err *err);
int lsm_delete(struct lsm_db *db, const void *key, size_t klen,
	       struct lsm_err *err);

/* A following reader (options.follow) catches up with the writer: it
 * re-reads CURRENT and the manifest when they changed, opens the new
 * tables, drops the obsolete ones, and applies the log records written
 * since, up to the last complete one.  The new state is published at
 * once: a reader sees the state before or after, never a mix, and never
 * goes backwards; iterators and snapshots keep theirs.  Returns the
 * number of log records applied (>= 0), or a negative errno (-EINVAL when
 * DB does not follow).  What it shows may include writes the writer has
 * not synced yet, which a power cut on the writer's machine can still
 * lose. */
int lsm_catch_up(struct lsm_db *db, struct lsm_err *err);

/* Applies a replicated write batch (a record of the primary's log, as
 * lsm_log_scan in lsm_files.h delivers it: BATCH holds its sequence
 * number SEQ and operation count) at the primary's sequence numbers.
 * Only on a store opened with options.replica.  SEQ must lie past every
 * sequence number applied before: -ESTALE otherwise (nothing applied);
 * -EUCLEAN when the batch is malformed.  Durability as lsm_write with
 * FLAGS. */
int lsm_apply(struct lsm_db *db, const void *batch, size_t len,
	      unsigned flags, struct lsm_err *err);

/* The last sequence number applied (visible). */
uint64_t lsm_last_seq(struct lsm_db *db);

/* The store's identity and generations (see struct lsm_identity). */
int lsm_identity_get(struct lsm_db *db, struct lsm_identity *out);

/* On a replica: takes its primary's history, which must extend the
 * replica's own (same id, each generation the replica knows at the same
 * start): -EINVAL otherwise.  Durable when it returns 0. */
int lsm_identity_adopt(struct lsm_db *db, const struct lsm_identity *primary,
		       struct lsm_err *err);

/* The store's epochs, oldest first: up to CAP into OUT, their number in
 * *N (0: a store made before epochs, or a replica that adopted none). */
int lsm_epochs_get(struct lsm_db *db, struct lsm_epoch *out, unsigned cap,
		   unsigned *n);

/* On a replica: takes its primary's epochs (N of them, ascending), which
 * must include the epoch the replica's last applied sequence number lies
 * in, when the primary still keeps that far back: -EINVAL otherwise (the
 * two diverged).  Durable when it returns 0. */
int lsm_epochs_adopt(struct lsm_db *db, const struct lsm_epoch *e,
		     unsigned n, struct lsm_err *err);

/* Makes every write acknowledged before the call durable. */
int lsm_sync(struct lsm_db *db, struct lsm_err *err);

/* Writes the current memtable to an L0 table and waits for it. */
int lsm_flush(struct lsm_db *db, struct lsm_err *err);

/* Compacts every table overlapping [START, END] (NULL start/end: from the
 * first / to the last key) down to the deepest level holding data, dropping
 * overwritten versions and tombstones no snapshot can see.  Waits. */
int lsm_compact_range(struct lsm_db *db, const void *start, size_t slen,
		      const void *end, size_t elen, struct lsm_err *err);

/* ---- Reads ---- */

struct lsm_snapshot;

/* A consistent view at this instant; NULL on ENOMEM.  Release it with
 * lsm_snapshot_release before lsm_close. */
const struct lsm_snapshot *lsm_snapshot_new(struct lsm_db *db);
void lsm_snapshot_release(struct lsm_db *db, const struct lsm_snapshot *s);

/* ---- Durable snapshots (engine/db_snapshot.c) ----
 * A named snapshot is a sequence number recorded in the manifest (field
 * 66, engine/doc/manifest.md): taking one is O(1) (one manifest append,
 * fsynced before the call returns), it survives close, crash and
 * reopen, and compaction keeps every version it can see until it is
 * dropped (compaction keeps, per key, the newest version each snapshot
 * sees).  NAME: 1 to LSM_SNAPSHOT_NAME_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.'.  At most LSM_SNAPSHOTS_MAX exist at once.  Each gets
 * an ID in 1 .. LSM_SNAPSHOT_ID_MAX, the lowest free one: unique among the
 * snapshots that exist (a dropped snapshot's id may be given again; its
 * creation time tells them apart).  lsm_checkpoint copies them; the
 * stats show lsm_snapshots and lsm_snapshot_pinned_bytes (an estimate,
 * engine/doc/manifest.md "Durable snapshots"). */
#define LSM_SNAPSHOT_NAME_MAX 64
#define LSM_SNAPSHOTS_MAX 64
#define LSM_SNAPSHOT_ID_MAX 255
struct lsm_snapshot_info {
	char name[LSM_SNAPSHOT_NAME_MAX + 1];
	uint32_t id;       /* 1 .. LSM_SNAPSHOT_ID_MAX */
	uint64_t seq;      /* it sees every write up to this sequence */
	int64_t time_sec;  /* creation, CLOCK_REALTIME */
	uint32_t time_nsec;
};

/* Takes snapshot NAME of the state now (every write acknowledged before
 * the call): the log is synced first, then the snapshot is appended to
 * the manifest and fsynced.  *OUT (may be NULL) gets its record.
 * -EEXIST: the name is taken; -EINVAL: a bad name; -ENOSPC:
 * LSM_SNAPSHOTS_MAX exist already; -EROFS: a read-only or following open
 * (they read the writer's snapshots; a replica's store may take its own,
 * which lsm_apply keeps like any other; the log carries none). */
int lsm_snapshot_create(struct lsm_db *db, const char *name,
			struct lsm_snapshot_info *out, struct lsm_err *err);
/* Drops snapshot NAME (-ENOENT when there is none): compaction may then
 * free what only it kept.  A handle lsm_snapshot_open gave keeps reading
 * until it is released. */
int lsm_snapshot_drop(struct lsm_db *db, const char *name,
		      struct lsm_err *err);
/* The snapshots, oldest first: *OUT is malloc'ed (free() it; NULL when
 * *N is 0). */
int lsm_snapshot_list(struct lsm_db *db, struct lsm_snapshot_info **out,
		      size_t *n, struct lsm_err *err);
/* A read handle on snapshot NAME for lsm_get/lsm_iter_new (*INFO, may be
 * NULL, gets its record); release it with lsm_snapshot_release.
 * -ENOENT when there is no such snapshot. */
int lsm_snapshot_open(struct lsm_db *db, const char *name,
		      const struct lsm_snapshot **out,
		      struct lsm_snapshot_info *info, struct lsm_err *err);
/* 0 when NAME is a valid snapshot name, else -EINVAL with a message. */
int lsm_snapshot_name_check(const char *name, struct lsm_err *err);

/* Looks KEY up (in SNAP, or the latest state when SNAP is NULL).
 * Returns 1 when found: *VAL is a malloc'ed copy (free() it) of *VLEN
 * bytes, non-NULL even for an empty value.  Returns 0 when the key is
 * absent (*VAL and *VLEN untouched), a negative errno on failure: a table
 * the manifest lists that is missing or unreadable is -EUCLEAN/-EBADMSG/
 * -EIO, never "absent". */
int lsm_get(struct lsm_db *db, const struct lsm_snapshot *snap,
	    const void *key, size_t klen, void **val, size_t *vlen,
	    struct lsm_err *err);

/* Like lsm_get (1 found, 0 absent, < 0 error) but copies at most CAP
 * bytes into BUF; *VLEN gets the full length (which may exceed CAP).
 * Saves an allocation on hot paths.  After an error BUF holds nothing to
 * use: a value is checked after it is copied there (from a mapped table
 * or the value log), so it may hold the bytes that failed the check. */
int lsm_get_buf(struct lsm_db *db, const struct lsm_snapshot *snap,
		const void *key, size_t klen, void *buf, size_t cap,
		size_t *vlen, struct lsm_err *err);

/* An iterator over the keys visible in SNAP (or at creation time when
 * NULL): it does not see writes made after it was created, however long it
 * lives, and keeps the files it reads alive.  Free it before lsm_close. */
struct lsm_iter;
int lsm_iter_new(struct lsm_db *db, const struct lsm_snapshot *snap,
		 struct lsm_iter **out, struct lsm_err *err);
/* lsm_iter_new_ex's flags. */
enum {
	/* Values are not read: lsm_iter_value must not be called (it returns
	 * NULL), lsm_iter_value_len gives each value's length.  A value kept
	 * in the log (value_log_min_bytes) costs no read then: a scan that
	 * deletes keys, or counts their bytes, reads only the tables. */
	LSM_ITER_KEYS_ONLY = 1u << 0,
};
/* lsm_iter_new with FLAGS (LSM_ITER_*). */
int lsm_iter_new_ex(struct lsm_db *db, const struct lsm_snapshot *snap,
		    unsigned flags, struct lsm_iter **out,
		    struct lsm_err *err);
void lsm_iter_free(struct lsm_iter *it); /* accepts NULL */
void lsm_iter_seek_first(struct lsm_iter *it);
void lsm_iter_seek_last(struct lsm_iter *it);
/* Positions at the first key >= KEY. */
void lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen);
/* Ends the iterator's range before UPPER (ULEN bytes, copied; NULL: no
 * end): keys >= UPPER are as if absent, lsm_iter_seek_last lands on the
 * last key below it, and moving forward stops at the first stored entry
 * at or above it.  Without a bound, stepping past the last live key of a
 * range walks every deleted key after it, up to the next live one: a
 * prefix scan run after mass deletes (rm -rf) pays for all of them.
 * Leaves the iterator unpositioned (seek next).  0, or -ENOMEM (then the
 * iterator's status says so too). */
int lsm_iter_set_upper_bound(struct lsm_iter *it, const void *upper,
			     size_t ulen);
bool lsm_iter_valid(const struct lsm_iter *it);
void lsm_iter_next(struct lsm_iter *it);  /* requires valid */
void lsm_iter_prev(struct lsm_iter *it);  /* requires valid */
/* Borrowed; valid until the iterator moves or is freed. */
const void *lsm_iter_key(const struct lsm_iter *it, size_t *klen);
const void *lsm_iter_value(const struct lsm_iter *it, size_t *vlen);
/* The current value's length (without reading it under
 * LSM_ITER_KEYS_ONLY). */
size_t lsm_iter_value_len(const struct lsm_iter *it);
/* 0, or the error that made the iterator stop early (e.g. -EBADMSG).
 * Check it when lsm_iter_valid turns false. */
int lsm_iter_status(const struct lsm_iter *it, struct lsm_err *err);

/* ---- Introspection ---- */

/* Statistics in the Prometheus text exposition format (0.0.4): families
 * named lsm_*, each with # HELP and # TYPE, counters ending in _total,
 * units in the names, levels as labels.  *TEXT is malloc'ed; free() it. */
int lsm_stats(struct lsm_db *db, char **text, struct lsm_err *err);

/* Number of tables per level (LEVELS entries of COUNTS are filled). */
int lsm_level_tables(struct lsm_db *db, unsigned *counts, unsigned levels);

const char *lsm_version(void);

#ifdef __cplusplus
}
#endif
#endif /* LSM_H */
