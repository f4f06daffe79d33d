/* wal.h - append framed, checksummed records to a log file; replay them
 * after a crash.  Used for the write-ahead log segments and the manifest.
 * Knows nothing about keys or memtables: a record is opaque bytes.
 *
 * Record format (engine/doc/wal.md):
 *   record := crc32 (u32le) | length (u32le) | payload[length]
 *   crc32 is zlib's CRC-32 over [salt (u64le)] then the 4 length bytes and
 *   the payload.  0 < length <= WAL_MAX_RECORD.
 * The salt is not stored: writer and reader both know it.  WAL segments of
 * stores with the wal_v2 feature are salted with their file number, so a
 * stale frame of another segment never passes for one of this segment;
 * manifests and older segments are unsalted (salt 0).
 */
#ifndef LSM_WAL_H
#define LSM_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"
#include "lsm_io.h"

#define WAL_HEADER_BYTES 8
#define WAL_MAX_RECORD (1u << 30)

struct wal;

struct wal_rec {
	const void *p;
	size_t len;
};

/* Creates PATH (truncating any existing file) for appending.  The caller
 * syncs the directory.  On success *OUT owns a handle for wal_close(). */
int wal_create(const struct lsm_io *io, const char *path, struct wal **out,
	       struct lsm_err *err);
/* The same, with records salted with SALT (0: unsalted, as wal_create). */
int wal_create_salted(const struct lsm_io *io, const char *path,
		      uint64_t salt, struct wal **out, struct lsm_err *err);

/* The same, and when MAPPED (and IO can map) small groups are framed
 * straight into a mapped window of the file instead of written: the file
 * is then longer than its records, zeros after them, until wal_seal or
 * wal_close cut it back (engine/doc/wal.md, "Writing through a
 * mapping"); its readers treat the zeros as the end. */
int wal_create_mapped(const struct lsm_io *io, const char *path,
		      uint64_t salt, bool mapped, struct wal **out,
		      struct lsm_err *err);

/* Frames the N records and writes them with one write at the end of the
 * log.  Not durable until wal_sync() returns 0.  Calls are serialized by
 * the caller.  A write that runs out of space (-ENOSPC, -EDQUOT) is cut
 * off again and reported, and the log goes on.  After any other failed
 * append, or a failed sync, the log is broken: every later call fails with
 * the first error (the caller turns read-only). */
int wal_append(struct wal *w, const struct wal_rec *recs, size_t n,
	       struct lsm_err *err);
/* wal_append telling where the first record starts (*AT); the others
 * follow it back to back, each WAL_HEADER_BYTES + its length. */
int wal_append_at(struct wal *w, const struct wal_rec *recs, size_t n,
		  uint64_t *at, struct lsm_err *err);
/* wal_append_at for a group the caller syncs right after (a sync
 * write's group commit).  With a mapping the group is written with pwrite
 * into the window's range, inside the file's size, rather than stored
 * through the mapping: the fsync still commits no new size, and it finds
 * no page dirtied through the mapping to write-protect, which costs a TLB
 * flush on every other CPU running the process. */
int wal_append_synced_at(struct wal *w, const struct wal_rec *recs, size_t n,
			 uint64_t *at, struct lsm_err *err);

/* Makes every record appended before the call durable.  May run in another
 * thread concurrently with wal_append. */
int wal_sync(struct wal *w, struct lsm_err *err);

/* Ends the log's appends for good: cuts a mapped file back to its
 * records, then syncs as wal_sync.  Only wal_size, wal_sync and wal_close
 * may follow. */
int wal_seal(struct wal *w, struct lsm_err *err);

/* Allocates disk blocks for the next BYTES bytes of the log without
 * changing its size, so appends there cannot run out of space, neither at
 * write(2) nor later at writeback (ext4's delayed allocation).  0, or a
 * negative errno (-EOPNOTSUPP where the I/O layer or filesystem cannot). */
int wal_preallocate(struct wal *w, uint64_t bytes);

/* True once an append or sync failed for good (see wal_append). */
bool wal_is_broken(const struct wal *w);

/* Bytes in the log so far (appended, not necessarily synced). */
uint64_t wal_size(const struct wal *w);

/* Syncs when SYNC, closes and frees W (also on error).  Accepts NULL. */
int wal_close(struct wal *w, bool sync, struct lsm_err *err);

/* Called for each valid record in order; a negative return stops the
 * replay and is returned by wal_replay.  REC is borrowed for the call. */
typedef int (*wal_rec_fn)(void *ctx, const uint8_t *rec, size_t len,
			  uint64_t off, struct lsm_err *err);

/* Whether REC (a valid frame found after a damaged record) could be a
 * record written after PREV, the last record delivered (NULL, 0 when
 * none was; PREV holds at most WAL_PREV_BYTES of it). */
typedef bool (*wal_successor_fn)(const uint8_t *prev, size_t prevlen,
				 const uint8_t *rec, size_t len);
#define WAL_PREV_BYTES 16

struct wal_replay_opts {
	uint64_t salt;     /* 0: unsalted */
	uint64_t from;     /* offset of the first record to read */
	bool tail_ok;      /* a torn tail ends the replay silently */
	/* After a damaged record, only a later valid frame that passes this
	 * proves damage in the middle (NULL: any does).  For write batches:
	 * a sequence number past the last delivered, so that an old batch
	 * copied into file data cannot make a torn tail look like damage. */
	wal_successor_fn successor;
};

struct wal_replay_info {
	uint64_t records; /* valid records delivered */
	uint64_t end;     /* offset just past the last valid record */
	uint64_t size;    /* file size */
	bool torn;        /* a damaged tail was ignored (end < size) */
	uint64_t zeros;   /* the file ends in this many zero bytes after its
	                   * records: the unused part of a segment written
	                   * through a mapping (not torn, not damage; only
	                   * when tail_ok) */
};

/* Replays the records of PATH through FN, reading with bounded memory.
 * When TAIL_OK, zeros from a record boundary to the end of the file end
 * the records cleanly (info->zeros): a segment written through a mapping
 * is longer than its records until it is sealed (wal_create_mapped);
 * a sealed one never is.
 * A damaged record (short header, short payload, bad length, CRC mismatch)
 * after which no valid record follows anywhere in the file is a torn tail:
 * when TAIL_OK it ends the replay silently (info->torn), otherwise it is
 * -EBADMSG.  A damaged record followed by a valid one is corruption in the
 * middle of the log: -EBADMSG naming PATH and the offset (see
 * wal_replay_ex for which later frames count).  INFO (when non-NULL) is
 * filled on failure too: records/end tell how far it got. */
int wal_replay(const struct lsm_io *io, const char *path, bool tail_ok,
	       wal_rec_fn fn, void *ctx, struct wal_replay_info *info,
	       struct lsm_err *err);
/* The same for a log written with wal_create_salted(SALT). */
int wal_replay_salted(const struct lsm_io *io, const char *path,
		      uint64_t salt, bool tail_ok, wal_rec_fn fn, void *ctx,
		      struct wal_replay_info *info, struct lsm_err *err);
/* The general form: see struct wal_replay_opts. */
int wal_replay_ex(const struct lsm_io *io, const char *path,
		  const struct wal_replay_opts *o, wal_rec_fn fn, void *ctx,
		  struct wal_replay_info *info, struct lsm_err *err);
/* The same from offset FROM, the end of a record an earlier replay of a
 * growing log reached (a reader tailing it); -ESTALE when the file is now
 * shorter than FROM. */
int wal_replay_at(const struct lsm_io *io, const char *path, uint64_t salt,
		  uint64_t from, bool tail_ok, wal_rec_fn fn, void *ctx,
		  struct wal_replay_info *info, struct lsm_err *err);

#endif /* LSM_WAL_H */
