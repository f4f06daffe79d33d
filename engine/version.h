/* version.h - which tables make up each level (a version), the edits that
 * move from one version to the next, and the version set that logs those
 * edits to the manifest and recovers them on open.
 *
 * Manifest (engine/doc/manifest.md): a wal.h-framed log whose records are
 * encoded version edits; the first record of a manifest is a full snapshot
 * of the version.  CURRENT holds "MANIFEST-NNNNNN\n"; it is replaced
 * atomically (write NNNNNN.tmp, fsync, rename, fsync dir).
 *
 *   edit  := field*
 *   field := 1 varint64 log_number        (WALs below it are obsolete)
 *          | 2 varint64 next_file_number
 *          | 3 varint64 last_sequence
 *          | 4 varint32 level | varint64 number             (table removed)
 *          | 5 varint32 level | varint64 number | varint64 size
 *              | lenbytes smallest | lenbytes largest        (table added)
 *          | 6 varint32 level | lenbytes key             (compact pointer)
 *          | 7 lenbytes "lsm.bytewise"                  (comparator name)
 *          | 8 varint64 compat | ro_compat | incompat   (format features)
 *          | 9 varint64 number                          (WAL created)
 *          | 10 varint64 number | varint64 size          (WAL sealed)
 *          | 64 lenbytes identity                       (store identity)
 *   identity := u8[16] id | varint flags (1: replica) | varint n
 *               | n x (varint generation | varint start_seq)
 *          | 68 lenbytes (varint n | n x (varint tag | varint start))
 *                                                  (epochs, ascending)
 *          | 65 lenbytes (varint64 number | varint64 entries
 *                         | varint64 deletions)   (counts of a table added
 *                                                  earlier in the same edit)
 *          | 66 lenbytes snapshots                  (the whole list of durable
 *                                                  snapshots, replacing it)
 *   snapshots := varint n | n x (varint id | varint seq | varint time_sec
 *                | varint time_nsec | lenbytes name)
 *   (tags are varint32; unknown tags below 64 are an error, from 64 on
 *   they carry their length and are skipped.)
 *
 * Locking: the version set is not internally locked.  The db serializes
 * vset_log_and_apply calls and guards refs/current with its mutex.
 */
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ikey.h"
#include "lsm.h"
#include "lsm_io.h"
#include "vlog.h"

struct file_meta {
	uint64_t number;
	uint64_t size;
	uint8_t *smallest; /* internal key, owned */
	size_t smallest_len;
	uint8_t *largest;  /* internal key, owned */
	size_t largest_len;
	int refs;          /* versions holding it; under the db mutex */
	bool compacting;   /* an input of a running compaction; db mutex */
	/* Entries and deletion entries (tombstones) in the table, known
	 * when HAS_COUNTS (manifest field 64; tables of older builds do not
	 * have it).  They drive deletion-triggered compaction. */
	bool has_counts;
	uint64_t entries, deletions;
	/* Bytes of older versions the compaction that wrote the table kept
	 * only because a snapshot sees them (field 65's fourth number; 0
	 * for flushes and older builds): the stats' pinned estimate. */
	uint64_t pinned_bytes;
	/* A follower's count of stores it saw replace the one it followed
	 * (db_follow.c): a replaced store may reuse file numbers, so the
	 * table cache keys tables by fm_key, never by number alone.  0 in
	 * every other open (the key is the number). */
	uint8_t incarnation;
	/* Reads that met the table above another holding the same key
	 * (compaction_read_sample); any thread. */
	atomic_uint read_charges;
	/* The user-key ranges of the prefix groups a flush put in the table
	 * (flush_place.c): its keys all lie within them, a finer bound than
	 * smallest..largest.  In memory only: none (NULL) for a table read
	 * from the manifest or written by a compaction. */
	struct key_span *spans;
	size_t nspans;
	/* The log segments the table's pointers name (value log; manifest
	 * field 69), owned: a segment is kept while a table of a live
	 * version names it (vlog.h). */
	struct vlog_refs vlog;
	/* The table's open handle once a read kept it (table_cache_get_fm):
	 * reads of a live version's tables then skip the table cache.  Set
	 * at most once, by any thread; released by file_meta_unref. */
	_Atomic(struct table_pin *) pin;
};

struct table_pin;

struct key_span {
	uint8_t *lo, *hi; /* first and last user key: one block, owned
	                   * through lo */
	size_t lolen, hilen;
};

/* File numbers stay below 2^56; the incarnation takes the top byte. */
#define FM_NUMBER_MASK ((UINT64_C(1) << 56) - 1)

/* The key of F's table in the table and block caches. */
static inline uint64_t fm_key(const struct file_meta *f)
{
	return f->number | (uint64_t)f->incarnation << 56;
}

struct version_set;

struct version {
	struct version_set *vs;
	int refs;                      /* db mutex */
	struct version *prev, *next;   /* live versions list of vs */
	/* Per level, sorted: L0 by number descending (newest first), L1+ by
	 * smallest key (never overlapping). */
	struct file_meta **files[LSM_MAX_LEVELS];
	size_t nfiles[LSM_MAX_LEVELS];
};

struct edit_file {
	int level;
	struct file_meta *f; /* added: owned by the edit (one ref) */
	uint64_t number;     /* deleted */
};

/* Store format features (engine/doc/manifest.md, "Format features"), ext4
 * style: a reader must know every INCOMPAT bit to open the store at all,
 * every RO_COMPAT bit to write it; COMPAT bits may be ignored. */
#define LSM_FEAT_INCOMPAT_WAL_V2 0x1u /* WAL segments tracked in the
                                       * manifest, records salted with the
                                       * segment number */
#define LSM_FEAT_COMPAT_IDENTITY 0x1u /* the manifest records the store's
                                       * identity (field 64); builds that
                                       * skip it lose nothing but the id */
#define LSM_FEAT_COMPAT_EPOCHS 0x2u   /* the manifest records epochs
                                       * (field 68); builds that skip it
                                       * start the list anew */
#define LSM_FEAT_COMPAT_KNOWN (LSM_FEAT_COMPAT_IDENTITY | \
			       LSM_FEAT_COMPAT_EPOCHS)
#define LSM_FEAT_RO_COMPAT_SNAPSHOTS 0x1u /* the manifest lists durable
                                             * snapshots (field 66): a build
                                             * that does not know them would
                                             * compact away what they pin */
#define LSM_FEAT_RO_COMPAT_KNOWN LSM_FEAT_RO_COMPAT_SNAPSHOTS
#define LSM_FEAT_INCOMPAT_VALUE_LOG 0x2u /* tables may point into log
                                          * segments (vlog.h), which are
                                          * kept while they do */
#define LSM_FEAT_INCOMPAT_KNOWN (LSM_FEAT_INCOMPAT_WAL_V2 | \
				 LSM_FEAT_INCOMPAT_VALUE_LOG)

struct lsm_features {
	uint64_t compat, ro_compat, incompat;
};

/* A WAL segment event in an edit: created (SEALED false), or sealed at
 * SIZE bytes, which it never passes again. */
struct edit_wal {
	uint64_t number;
	uint64_t size;
	bool sealed;
};

struct version_edit {
	bool has_log_number, has_next_file, has_last_seq, has_comparator;
	bool has_features, has_identity, has_epochs;
	/* Field 66: the whole list of durable snapshots (SNAPS, NSNAPS
	 * entries, malloc'ed, owned), replacing the previous one. */
	bool has_snapshots;
	struct lsm_snapshot_info *snaps;
	size_t nsnaps;
	uint64_t log_number, next_file, last_seq;
	struct lsm_identity identity;
	unsigned nepochs;      /* has_epochs: the whole list */
	struct lsm_epoch epochs[LSM_EPOCHS_MAX];
	struct lsm_features features;
	struct edit_wal *wals;
	size_t nwals, cap_wals;
	struct edit_file *added;
	size_t nadded, cap_added;
	struct edit_file *deleted;
	size_t ndeleted, cap_deleted;
	struct { int level; uint8_t *key; size_t len; } *pointers;
	size_t npointers, cap_pointers;
};

void version_edit_init(struct version_edit *e);
void version_edit_free(struct version_edit *e); /* frees contents only */
/* Copies the keys.  0 or -ENOMEM. */
int version_edit_add_file(struct version_edit *e, int level, uint64_t number,
			  uint64_t size, const uint8_t *smallest, size_t slen,
			  const uint8_t *largest, size_t llen);
int version_edit_delete_file(struct version_edit *e, int level,
			     uint64_t number);
/* Records the entry and deletion counts of table NUMBER, which must have
 * been added to E (the last such addition takes them). */
void version_edit_set_counts(struct version_edit *e, uint64_t number,
			     uint64_t entries, uint64_t deletions);
/* Copies F's counts (if known) and the segments it points into to the
 * table NUMBER added to E: 0 or -ENOMEM. */
int version_edit_copy_counts(struct version_edit *e, uint64_t number,
			     const struct file_meta *f);
int version_edit_set_pointer(struct version_edit *e, int level,
			     const uint8_t *key, size_t len);
/* Records that WAL segment NUMBER was created / sealed at SIZE bytes. */
int version_edit_add_wal(struct version_edit *e, uint64_t number);
int version_edit_seal_wal(struct version_edit *e, uint64_t number,
			  uint64_t size);
void version_edit_encode(const struct version_edit *e, struct buf *out);
/* -EUCLEAN on malformed input (E is then freed and re-inited). */
int version_edit_decode(struct version_edit *e, const uint8_t *p, size_t len,
			struct lsm_err *err);

struct file_meta *file_meta_new(uint64_t number, uint64_t size,
				const uint8_t *smallest, size_t slen,
				const uint8_t *largest, size_t llen);
void file_meta_unref(struct file_meta *f);

void version_ref(struct version *v);
void version_unref(struct version *v); /* frees at 0, unlinking it */

/* Sum of table sizes in LEVEL. */
uint64_t version_level_bytes(const struct version *v, int level);

/* Index of the first file in LEVEL (>= 1) whose largest key >= IKEY
 * (binary search); nfiles when none. */
size_t version_find_file(const struct version *v, int level,
			 const uint8_t *ikey, size_t iklen);

/* Whether user key U lies within F's range (so F may hold it). */
static inline bool file_range_holds(const struct file_meta *f,
				    const uint8_t *u, size_t ulen)
{
	return ukey_cmp(u, ulen, f->smallest, ikey_ulen(f->smallest_len)) >=
		       0 &&
	       ukey_cmp(u, ulen, f->largest, ikey_ulen(f->largest_len)) <= 0;
}

/* Appends to *OUT (malloc'ed array, *N entries) the files of LEVEL whose
 * user-key range overlaps [BEGIN, END] (user keys; NULL = unbounded).
 * For L0, the range grows to cover the overlapping files, transitively
 * (L0 files may overlap each other).  0 or -ENOMEM; *OUT is the
 * caller's to free either way (after -ENOMEM it may hold what was
 * gathered before). */
int version_overlapping(const struct version *v, int level,
			const uint8_t *begin, size_t blen,
			const uint8_t *end, size_t elen,
			struct file_meta ***out, size_t *n);

/* Checks that L1+ are sorted and do not overlap, and every file's
 * smallest <= largest.  0 or -EUCLEAN with a message. */
int version_check(const struct version *v, struct lsm_err *err);

struct version_set {
	const struct lsm_io *io;
	char *dir;
	unsigned max_levels;
	uint64_t next_file;    /* next unused file number */
	uint64_t last_seq;     /* last sequence number made durable in a
	                        * manifest or WAL-recovered (db updates) */
	uint64_t log_number;   /* WALs with numbers below are obsolete */
	uint64_t manifest_number;
	/* The manifest loaded last ended in a damaged record, ignored as a torn
	 * write: bytes [manifest_end, manifest_size).  Harmless after a crash
	 * mid-append, but if a log segment then looks untracked or missing,
	 * the lost edit is the likelier culprit: open and check name it. */
	uint64_t torn_manifest; /* its number; 0: ended cleanly */
	uint64_t missing_manifest; /* the load failed: CURRENT names this
	                            * number, which does not exist */
	uint64_t torn_end, torn_size;
	struct wal *manifest;  /* open manifest, NULL when read-only */
	struct version *current;
	struct version live;   /* sentinel of the live versions list */
	struct buf pointers[LSM_MAX_LEVELS]; /* compact pointers (ikeys) */
	bool read_only;
	bool want_value_log;   /* a writable open sets the feature */
	uint64_t manifest_limit; /* roll over past this many bytes; vset_init
	                          * sets VSET_MANIFEST_LIMIT (tests lower it) */
	struct lsm_features features; /* zero: a store made before format
	                               * features (legacy WAL framing) */
	/* WAL segments the manifest tracks at or above log_number,
	 * ascending (wal_v2 stores; `sealed` ones have their final size). */
	struct edit_wal *wals;
	size_t nwals, cap_wals;
	bool has_identity;     /* false: a store made before identities */
	struct lsm_identity identity;
	unsigned nepochs;      /* 0: none recorded (yet) */
	struct lsm_epoch epochs[LSM_EPOCHS_MAX];
	/* Durable snapshots (field 66), oldest first; malloc'ed. */
	struct lsm_snapshot_info *snaps;
	size_t nsnaps;
};

/* Appends to the N epochs of LIST (room for LSM_EPOCHS_MAX) a new one
 * with a random tag at START, or gives the last one a new tag when it
 * begins at START too (it holds no record: a reopen without writes).
 * 0 or -errno (no randomness). */
int epoch_begin(struct lsm_epoch *list, unsigned *n, uint64_t start);

/* Whether NAME (LEN bytes) is a valid durable snapshot name (lsm.h). */
bool snapshot_name_valid(const char *name, size_t len);
/* Sets E's snapshot list to a copy of SNAPS (N entries): 0 or -ENOMEM. */
int version_edit_set_snapshots(struct version_edit *e,
			       const struct lsm_snapshot_info *snaps, size_t n);

/* A new random identity (generation 1 from sequence START). */
int identity_make(struct lsm_identity *id, uint64_t start);
/* Appends generation GEN starting at START (dropping the oldest when
 * full). */
void identity_push(struct lsm_identity *id, uint64_t gen, uint64_t start);

#define VSET_MANIFEST_LIMIT (UINT64_C(64) << 20)
/* File numbers stay below this, so that next_file can never wrap around
 * (to numbers in use) however the log got its numbers: a load refuses a
 * number at or past it, and nothing is written that would reach it. */
#define VSET_FILE_NUMBER_LIMIT (UINT64_C(1) << 62)

/* Initializes VS for DIR; nothing is read or written yet. */
void vset_init(struct version_set *vs, const struct lsm_io *io,
	       const char *dir, unsigned max_levels, bool read_only);
/* Releases everything (current version included).  Live versions held
 * elsewhere must have been released. */
void vset_destroy(struct version_set *vs);

/* Creates an empty store's first manifest and CURRENT. */
int vset_create(struct version_set *vs, struct lsm_err *err);

/* Checks that every table of the current version exists with the size
 * the manifest records: -EUCLEAN naming the first few otherwise (LevelDB
 * refuses such a store too; reading it would turn lost tables into
 * missing keys). */
int vset_verify_tables(struct version_set *vs, struct lsm_err *err);

/* Makes the state FROM loaded (vset_load of a newer manifest, by a reader
 * following a store another process writes) the current state of VS: its
 * version (moved, FROM keeps none), counters, pointers and tracked
 * segments.  Versions VS already has stay alive while referenced.  0 or
 * -ENOMEM (VS unchanged).  Both read-only sets. */
int vset_adopt(struct version_set *vs, struct version_set *from);

/* True while the manifest can take edits (not read-only, not broken). */
bool vset_writable(const struct version_set *vs);

/* "" or, when the manifest loaded last ended in a damaged record, a
 * clause ("; MANIFEST-... ends in ...") to append to a message that blames
 * a log segment the manifest's lost last edit may explain.  Returns BUF. */
const char *vset_torn_hint(const struct version_set *vs, char *buf,
			   size_t cap);

/* The tracked segment NUMBER, or NULL. */
const struct edit_wal *vset_find_wal(const struct version_set *vs,
				     uint64_t number);

/* Reads CURRENT and replays its manifest into the current version.  A torn
 * last record (crash while appending) is ignored; any other damage is an
 * error naming the file.  Unless read-only, then writes a fresh manifest
 * holding a snapshot of the state, points CURRENT at it and removes the
 * old manifest, so the log stays short. */
int vset_recover(struct version_set *vs, struct lsm_err *err);
/* vset_recover in two steps: the replay (which writes nothing), then the
 * fresh manifest (a writable set only), so a caller can look at the state
 * and delete leftovers in between. */
int vset_load(struct version_set *vs, struct lsm_err *err);
/* The number of the manifest CURRENT names (-ENOENT without CURRENT). */
int vset_read_current(struct version_set *vs, uint64_t *number,
		      struct lsm_err *err);
int vset_rewrite(struct version_set *vs, struct lsm_err *err);
/* Writes the state VS holds (loaded, read-only is fine) as a fresh
 * manifest with VS's manifest number, and CURRENT, into DIR: the
 * manifest of a checkpoint (lsm_checkpoint). */
int vset_write_copy(const struct version_set *vs, const char *dir,
		    struct lsm_err *err);

/* Applies E to the current version, fills in E's next_file and last_seq
 * (and log_number if unset) from VS, appends E to the manifest and syncs
 * it; only then installs the new version as current.  On failure the
 * current version is unchanged and the manifest is broken (the db turns
 * read-only).  Starts a new manifest when the current one passes
 * manifest_limit, or (past 64 KiB) eight times the size of a snapshot of
 * the state.  An edit that does not fit the current version (deletes
 * a missing table, adds a present one, overlaps in L1+, a level past
 * max_levels, log_number going backwards) is -EINVAL before anything is
 * written; -EROFS when read-only or after a failed roll-over. */
int vset_log_and_apply(struct version_set *vs, struct version_edit *e,
		       struct lsm_err *err);

static inline uint64_t vset_new_file_number(struct version_set *vs)
{
	return vs->next_file++;
}

/* Calls FN(ctx, key) for every table in any live version: its cache key
 * (fm_key), the file number in every open but a follower's. */
/* Adds to OUT every log segment a table of a live version points into,
 * with the bytes the current version names there (vlog.h): 0 or
 * -ENOMEM. */
int vset_vlog_live(struct version_set *vs, struct vlog_refs *out);
void vset_live_tables(struct version_set *vs,
		      void (*fn)(void *ctx, uint64_t number), void *ctx);

#endif /* LSM_VERSION_H */
