/* lsm_files.h - a store's files read without opening the store: what a
 * program outside the engine (lsmfs-ctl, lsmfs-replicate, a backup tool)
 * needs to list the live files of a data directory, read its log
 * segments record by record, and verify its tables.  Nothing here writes
 * to the directory or takes its lock, so it runs beside a live writer; a
 * file the writer deleted in between is -ENOENT (look again).  Formats:
 * engine/doc/{manifest,wal,table}.md.  Conventions as lsm.h. */
#ifndef LSM_FILES_H
#define LSM_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Format feature bits (engine/doc/manifest.md). */
#define LSM_FEATURE_INCOMPAT_WAL_V2 0x1u
#define LSM_FEATURE_INCOMPAT_VALUE_LOG 0x2u /* tables point into log segments */

struct lsm_file_table {
	unsigned level;
	uint64_t number;        /* NNNNNN.sst */
	uint64_t size;          /* bytes, as the manifest records them */
	void *smallest;         /* its smallest and largest user keys */
	size_t smallest_len;
	void *largest;
	size_t largest_len;
};

struct lsm_file_log {
	uint64_t number;        /* NNNNNN.wal */
	uint64_t size;          /* bytes on disk when listed */
	bool tracked;           /* the manifest records it (wal_v2) */
	bool sealed;            /* it will not grow: SEALED_SIZE is final */
	uint64_t sealed_size;
	uint64_t salt;          /* its records' salt (0: unsalted) */
	bool archived;          /* in DIR/archive/ (lsm_options.
	                         * wal_archive_bytes): complete, obsolete */
};

/* The live files of a store as of its CURRENT and manifest. */
struct lsm_files {
	uint64_t manifest_number;
	uint64_t compat, ro_compat, incompat; /* format features */
	uint64_t log_number;    /* segments below hold nothing unflushed */
	uint64_t next_file;
	uint64_t last_seq;      /* as the manifest last recorded it */
	struct lsm_file_table *tables;  /* level by level, as a version */
	size_t ntables;
	struct lsm_file_log *logs;      /* live segments, ascending: every
	                                 * one at or above log_number */
	size_t nlogs;
	struct lsm_file_log *archive;   /* archived segments, ascending */
	size_t narchive;
	bool has_identity;              /* false: made before identities */
	struct lsm_identity identity;
	unsigned nepochs;               /* lsm_epochs_get */
	struct lsm_epoch epochs[LSM_EPOCHS_MAX];
};

/* Lists the live files of data directory DIR.  *OUT is for
 * lsm_files_free.  -ENOENT (no CURRENT, or a manifest replaced under
 * us: look again), -EUCLEAN/-EBADMSG (damage), -EPROTONOSUPPORT (a
 * format this build does not know), -ENOMEM. */
int lsm_files_list(const char *dir, struct lsm_files **out,
		   struct lsm_err *err);
void lsm_files_free(struct lsm_files *f); /* accepts NULL */

/* One record of a log segment: a write batch. */
struct lsm_log_record {
	uint64_t offset;        /* where it starts in the segment */
	uint64_t end;           /* where the next one starts */
	uint64_t seq;           /* sequence number of its first operation */
	uint32_t count;         /* its operations: seq .. seq + count - 1 */
	const void *batch;      /* the encoded batch (engine/doc/wal.md),
	                         * borrowed for the call */
	size_t len;
};

/* Calls FN for each complete record of segment LOG (from lsm_files_list)
 * of DIR, from offset FROM (0, or an END a previous scan returned).  In a
 * segment that is not sealed, a record being appended ends the scan
 * without error (never delivered half); in a sealed one, and anywhere
 * before the last record, damage is -EBADMSG naming the offset.  *END
 * gets the end of the last record delivered.  A negative return of FN
 * stops the scan and is returned.  -ESTALE: the segment is now shorter
 * than FROM (the writer cut a torn tail); -ENOENT: it is gone. */
int lsm_log_scan(const char *dir, const struct lsm_file_log *log,
		 uint64_t from,
		 int (*fn)(void *ctx, const struct lsm_log_record *r),
		 void *ctx, uint64_t *end, struct lsm_err *err);

/* Calls FN for each operation of an encoded batch (a record's BATCH):
 * sequence, put or delete, key and value (borrowed).  -EUCLEAN when the
 * batch is malformed (nothing is delivered then). */
int lsm_batch_ops(const void *batch, size_t len,
		  int (*fn)(void *ctx, uint64_t seq, bool is_delete,
			    const void *key, size_t klen, const void *val,
			    size_t vlen),
		  void *ctx, struct lsm_err *err);

/* Makes DEST (which must not exist; created 0700) a checkpoint of the
 * store in DIR: a valid data directory holding the state of one moment,
 * its tables hard-linked (copied when DEST is on another filesystem), its
 * live log segments copied, and a fresh manifest and CURRENT.  Runs beside
 * a live writer without its lock (files the writer replaces meanwhile
 * make it start over, a few times at most: -EAGAIN then).  Opening DEST
 * reads back every write the store had made durable before the call,
 * and possibly later ones (a prefix of its history).  *LAST_SEQ (when
 * non-NULL) gets the checkpoint's last sequence number.  On failure DEST
 * is removed again. */
int lsm_checkpoint(const char *dir, const char *dest, uint64_t *last_seq,
		   struct lsm_err *err);

/* Reads and checks every block of table file PATH (checksums, order of
 * keys, footer, index, filter).  *ENTRIES (when non-NULL) gets its entry
 * count.  0, -EBADMSG or -EUCLEAN naming the offset, -ENOENT. */
int lsm_table_verify(const char *path, uint64_t *entries,
		     struct lsm_err *err);

#ifdef __cplusplus
}
#endif
#endif /* LSM_FILES_H */
