/* lsm_tool.h - inspection and checking entry points for tools (lsmfs-ctl),
 * outside the hot API of lsm.h: list the tables of an open store, check a
 * data directory's files without opening it for writing, and dump the
 * records of one table, log segment or manifest; and repair a damaged
 * store (lsm_repair, the only entry point here that writes to a data
 * directory).  Same conventions as lsm.h (negative errno + lsm_err). */
#ifndef LSM_TOOL_H
#define LSM_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The on-disk table format version this library reads and writes. */
unsigned lsm_table_format_version(void);

/* ---- tables of an open store ---- */

struct lsm_table_info {
	unsigned level;
	uint64_t number;        /* file NNNNNN.sst */
	uint64_t size;          /* bytes, as the manifest records them */
	const void *smallest;   /* smallest user key (borrowed for the call) */
	size_t smallest_len;
	const void *largest;    /* largest user key (borrowed for the call) */
	size_t largest_len;
	uint64_t smallest_seq;  /* sequence of the smallest/largest entries */
	uint64_t largest_seq;
	uint64_t entries;       /* from the table's props; UINT64_MAX when
	                         * the table could not be opened */
};

/* Calls FN for each table of DB's current version, level by level (L0
 * newest first, L1+ in key order).  The version is pinned for the walk, so
 * a concurrent compaction does not delete the files under it.  Each table
 * is opened (footer, index and props) to count its entries.  FN returns 0
 * to go on; a non-zero return stops the walk and is returned. */
int lsm_tables(struct lsm_db *db,
	       int (*fn)(void *ctx, const struct lsm_table_info *t),
	       void *ctx, struct lsm_err *err);

/* ---- checking a data directory ---- */

/* OFFSET argument of a report that concerns a whole file. */
#define LSM_CHECK_NO_OFFSET UINT64_MAX
/* Prefix of PROBLEM for findings that are not damage (not counted). */
#define LSM_CHECK_WARNING "warning: "

/* Checks the files of data directory DIR without opening the store: no
 * lock, no log replay into tables, nothing written.  It replays CURRENT
 * and the manifest read-only, checks the level invariants, reads and
 * verifies every table (checksums, order, index, props) and compares its
 * key range and size with the manifest's, notes tables the manifest lists
 * that are missing, and replays every live log segment (a torn tail of the
 * newest is normal and not reported).  Tables on disk that the manifest
 * does not list are reported as warnings (leftovers of a crash: the next
 * writable open deletes them).  Each finding goes to REPORT with the file's
 * path, an offset in it (LSM_CHECK_NO_OFFSET when none applies) and a
 * one-line description; PROGRESS (may be NULL) is told bytes checked so far
 * and the total.  O may be NULL (defaults; only io and max_levels are used).
 * Returns 0 when the check ran, *PROBLEMS being the number of damage
 * findings (warnings excluded); a negative errno when it could not run
 * (DIR missing or unreadable, out of memory).  A store in use by another
 * process may show transient findings (files replaced while read). */
int lsm_check_dir(const char *dir, const struct lsm_options *o,
		  void (*report)(void *ctx, const char *file, uint64_t offset,
				 const char *problem),
		  void (*progress)(void *ctx, uint64_t done, uint64_t total),
		  void *ctx, unsigned *problems, struct lsm_err *err);

/* ---- dumping one file ---- */

enum lsm_dump_kind {
	LSM_DUMP_ENTRY,  /* a table entry: key, seq, type, value */
	LSM_DUMP_BATCH,  /* a log record: seq of its first op, count */
	LSM_DUMP_OP,     /* one op of the batch before it: key, seq, type,
	                  * value (puts) */
	LSM_DUMP_EDIT,   /* a manifest record: text */
};

struct lsm_dump_rec {
	enum lsm_dump_kind kind;
	uint64_t offset;      /* of the record in the file (logs, manifests);
	                       * entry ordinal for tables */
	uint64_t seq;
	bool is_delete;       /* ENTRY/OP: a tombstone (no value) */
	uint32_t count;       /* BATCH: number of ops */
	const void *key;      /* user key; borrowed for the call */
	size_t klen;
	const void *val;      /* borrowed for the call */
	size_t vlen;
	const char *text;     /* EDIT: lines "field args\n" (borrowed) */
};

/* Calls FN for each record of the file at PATH, whose kind comes from its
 * name (NNNNNN.sst, NNNNNN.wal, MANIFEST-NNNNNN; filename.h): a table's
 * entries in order, a log's batches each followed by its ops, a manifest's
 * edits.  A torn log tail ends the dump silently.  -EINVAL for another
 * kind of file; -EBADMSG/-EUCLEAN on damage, after the records before it
 * were delivered.  FN returns 0 to go on; non-zero stops (returned). */
int lsm_dump_file(const char *path,
		  int (*fn)(void *ctx, const struct lsm_dump_rec *r),
		  void *ctx, struct lsm_err *err);

/* ---- repairing a data directory ---- */

/* The directory of DIR where lsm_repair keeps what it drops (the engine
 * ignores it; nothing in it is ever deleted). */
#define LSM_REPAIR_LOST_DIR "lost"

enum lsm_repair_kind {
	LSM_REPAIR_WAL_DAMAGED,   /* a damaged record: the log is cut there */
	LSM_REPAIR_WAL_TRUNCATED, /* a sealed segment shorter (or longer) than
	                           * it was sealed at: cut at its last record */
	LSM_REPAIR_WAL_MISSING,   /* a segment the manifest records is gone */
	LSM_REPAIR_WAL_FOREIGN,   /* a non-empty segment the manifest does
	                           * not record, newer than one it does */
	LSM_REPAIR_WAL_DROPPED,   /* an intact segment after the cut */
	LSM_REPAIR_TABLE,         /* a table missing, of the wrong size or
	                           * failing its checks */
};

/* One finding; everything is borrowed for the call. */
struct lsm_repair_finding {
	enum lsm_repair_kind kind;
	const char *file;        /* DIR/NNNNNN.wal or DIR/NNNNNN.sst */
	uint64_t offset;         /* logs: where this file is cut (0: all of
	                          * it); tables: LSM_CHECK_NO_OFFSET */
	uint64_t bytes;          /* logs: bytes dropped from this file */
	const char *problem;     /* what is wrong, one line */
	const char *saved;       /* where the dropped bytes or the file went
	                          * (DIR/lost/...); NULL when nothing was
	                          * saved (dry run, nothing on disk) */
	/* LSM_REPAIR_TABLE: the table and the user keys it covers. */
	unsigned level;
	uint64_t number;
	const void *smallest, *largest;
	size_t smallest_len, largest_len;
	bool dropped;            /* removed from the manifest */
	/* LSM_REPAIR_TABLE: how many of the values it points to in kept log
	 * segments (the value log) are missing or damaged; the table itself
	 * is intact when this is nonzero. */
	uint64_t values;
};

struct lsm_repair_options {
	bool dry_run;      /* find and count, change nothing */
	bool drop_tables;  /* remove damaged tables from the manifest (their
	                    * keys' older versions come back!); by default
	                    * they stay listed and reads in their range fail */
	/* Each finding, in file order, once the repair is done (may be
	 * NULL). */
	void (*finding)(void *ctx, const struct lsm_repair_finding *f);
	/* Each key of the intact log records dropped, in log order (may be
	 * NULL); KEY is borrowed for the call. */
	void (*dropped_key)(void *ctx, const void *key, size_t klen,
			    uint64_t seq, bool is_delete);
	/* Bytes of tables and logs read so far, and the total (may be NULL). */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	/* Engine options for the reading and the final open (io, max_levels,
	 * log_fn); NULL: defaults. */
	const struct lsm_options *engine;
	/* Each user key whose value in a kept log segment is missing or
	 * damaged, with the number of the table pointing there (may be
	 * NULL); KEY is borrowed for the call. */
	void (*damaged_value)(void *ctx, uint64_t table, const void *key,
			      size_t klen);
};

void lsm_repair_options_init(struct lsm_repair_options *o);

struct lsm_repair_result {
	uint64_t records_kept;    /* log records recovered */
	uint64_t keys_kept;       /* their keys (operations) */
	uint64_t records_dropped; /* intact log records after the cut */
	uint64_t keys_dropped;    /* their keys */
	uint64_t damaged_records; /* unreadable stretches after the cut (a
	                           * damaged record, or garbage) */
	uint64_t bytes_dropped;   /* log bytes after the cut, saved in lost/ */
	uint64_t bytes_missing;   /* log bytes the manifest records that the
	                           * disk lacks (missing or truncated sealed
	                           * segments; unknown for unsealed ones) */
	unsigned tables_damaged;
	unsigned tables_dropped;
	bool changed;             /* files were (dry run: would be) changed */
	/* After a repair (not a dry run): code 0 when the store opened
	 * read-write, else why it still does not (e.g. a missing table left
	 * listed). */
	struct lsm_err reopen;
};

/* Repairs the store in DIR to its last consistent point, RocksDB's
 * point-in-time recovery: the log segments are replayed in order up to the
 * first damage (a damaged record, a missing segment the manifest records,
 * a sealed segment of another size, a non-empty segment it does not
 * record); everything after it, in that segment and in later ones, is
 * dropped, first copied to DIR/lost/ (NNNNNN.wal.at-OFFSET for a tail,
 * NNNNNN.wal for a whole segment).  Tables are checked as lsm_check_dir
 * does; a damaged or missing one is reported with its key range and, with
 * drop_tables, removed from the manifest and moved to DIR/lost/.  Then the
 * manifest is made to match the disk and the store is opened read-write
 * once (without background compaction), which writes what was recovered
 * to an L0 table, starts a fresh log and manifest, and removes the
 * segments replayed.  Takes DIR/LOCK for the whole repair: -EBUSY (the
 * same message as lsm_open) when another process holds it.  A damaged
 * CURRENT or manifest is not repaired (its error is returned).  Returns 0
 * when the repair ran (see RES->reopen for how the store opens now), a
 * negative errno when it could not (nothing changed then, unless an I/O
 * error struck mid-way: every step leaves a store that a second run
 * repairs). */
int lsm_repair(const char *dir, const struct lsm_repair_options *o,
	       struct lsm_repair_result *res, struct lsm_err *err);

/* Writes (P, N) into OUT (CAP bytes, NUL-terminated, truncated to fit) with
 * printable ASCII as is, '\\' doubled and every other byte as \xNN.
 * Returns the length the full escaped text needs (without the NUL). */
size_t lsm_escape(char *out, size_t cap, const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* LSM_TOOL_H */
