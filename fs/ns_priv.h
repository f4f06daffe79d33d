/* ns_priv.h - internals shared by the ns_*.c files: the handle, inode
 * locks, record helpers.  Not for users of lsmfs_ns. */
#ifndef LSMFS_NS_PRIV_H
#define LSMFS_NS_PRIV_H

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "ns.h"

#define NS_NLOCKS 256u        /* striped inode locks */
#define NS_INO_STEP 4096u     /* inode numbers reserved per superblock put */
#define NS_GEN_INO_SHIFT 48   /* generation G numbers inodes from G << 48 */
#define NS_OPEN_MIN_BUCKETS 1024u /* the reference table at first use */
#define NS_RECLAIM_BATCH 4096u
#define NS_INODE_BUF (CODEC_INODE_MAX_FIXED + CODEC_SYMLINK_MAX + 1)
#define NS_MAX_FILE_BYTES (1ull << 62)

struct ns_openref {
	uint64_t ino;
	uint64_t count;
	uint64_t handles; /* of COUNT, open file handles */
	struct ns_openref *next;
};

/* The references the kernel and open handles hold, per inode: a chained
 * hash table that doubles whenever it holds more entries than buckets
 * (the kernel may know millions of inodes; a fixed table made every
 * lookup, create and release walk chains of thousands).  ns_open.c. */
struct ns_openrefs {
	struct ns_openref **bucket; /* mask + 1 heads, NULL before first use */
	size_t mask;
	size_t count;
};

struct ns {
	struct lsm_db *db;
	/* What every read reads: NULL for the latest state, or a snapshot
	 * (ns_options.snap: a read-only view of the tree as it was). */
	const struct lsm_snapshot *snap;
	struct ns_options opt;
	uint32_t cs;                      /* chunk size */
	pthread_mutex_t alloc_mu;
	uint64_t next_ino;                /* protected by alloc_mu */
	uint64_t ino_limit;               /* protected by alloc_mu */
	pthread_mutex_t rename_mu;        /* serialises renames */
	pthread_rwlock_t locks[NS_NLOCKS];
	pthread_mutex_t open_mu;
	struct ns_openrefs open;          /* protected by open_mu */
	/* A reference could not be recorded (no memory): any inode may be
	 * open, so none is reclaimed before ns_clear_refs; protected by
	 * open_mu. */
	bool refs_lost;
	/* The superblock's format version (1, or CODEC_FORMAT_VERSION_TTL
	 * once an expiry was written); under alloc_mu, read unlocked as a
	 * hint (ns_ttl_on). */
	_Atomic uint32_t sb_version;
	/* Counters (ns_counters) and the capacity state (ns_cap.c). */
	_Atomic uint64_t expired_files, expired_bytes;
	_Atomic uint64_t evicted_files, evicted_bytes, enospc;
	_Atomic int64_t live_bytes;
	pthread_mutex_t evict_mu;           /* one eviction at a time */
	ns_gone_fn gone_fn;
	void *gone_ctx;
	struct ns_clock_slot *clock;        /* NS_CLOCK_SLOTS, or NULL */
	uint64_t evict_rng;                 /* under evict_mu */
};

/* The approximate recency clock: a direct-mapped table of the last use
 * (ms since the epoch) of recently used inodes; a collision forgets the
 * older one (which then falls back to its stored atime/mtime). */
#define NS_CLOCK_SLOTS 65536u
struct ns_clock_slot {
	_Atomic uint64_t ino;
	_Atomic uint64_t ms;      /* last use */
	_Atomic uint64_t stored;  /* the atime stored, as last seen (ms) */
};

/* A set of locked stripes, taken in ascending order (no deadlock). */
struct ns_lockset {
	unsigned idx[4];
	unsigned n;
};

void ns_lock(struct ns *ns, struct ns_lockset *ls, const uint64_t *inos,
	     unsigned n, bool write);
void ns_unlock(struct ns *ns, struct ns_lockset *ls);

/* Reads INO's record; TARGET (NS_INODE_BUF bytes) may be NULL.  -ENOENT
 * when absent, -EUCLEAN when malformed. */
int ns_get_inode(struct ns *ns, uint64_t ino, struct codec_inode *in,
		 char *target, size_t *tlen, struct lsm_err *err);
/* ns_get_inode of a regular file: -EISDIR for a directory, NOTREG (a
 * negative errno: the caller's operation decides which) for anything else
 * that is not a regular file. */
int ns_get_regular(struct ns *ns, uint64_t ino, struct codec_inode *in,
		   int notreg, struct lsm_err *err);
/* Adds a put of INO's record to B. */
int ns_batch_inode(struct lsm_batch *b, uint64_t ino,
		   const struct codec_inode *in, const char *target,
		   size_t tlen);
/* "No such name": -ENOENT with a fixed message.  Only for lookups that
 * the engine answered "absent" (never for an engine error); cheap, as a
 * stat of a missing name is common. */
static inline int ns_absent(struct lsm_err *err)
{
	static const char msg[] = "no such entry";

	if (err) {
		err->code = -ENOENT;
		memcpy(err->msg, msg, sizeof(msg));
	}
	return -ENOENT;
}

/* Reads the entry NAME of PARENT: child ino and S_IFMT type.  -ENOENT
 * when there is no such entry. */
int ns_get_dentry(struct ns *ns, uint64_t parent, const char *name,
		  size_t len, uint64_t *ino, uint32_t *type,
		  struct lsm_err *err);
int ns_commit(struct ns *ns, struct lsm_batch *b, struct lsm_err *err);
/* Privilege killing (lock of INO held): ns_kill_suidgid clears
 * set-user-ID and, when group-executable or KILL has NS_SET_KILL_SGID,
 * set-group-ID of a regular file (true when the mode changed);
 * ns_kill_caps adds to B the removal of
 * INO's security.capability xattr when it has one (1 when it has, 0 when
 * not, or -errno). */
bool ns_kill_suidgid(struct codec_inode *in, unsigned kill);
int ns_kill_caps(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		 struct lsm_err *err);
/* ns_commit for a batch that frees space (unlink, rmdir, truncation,
 * reclaim, rename, attribute changes): accepted on a full disk, where the
 * engine's reserve lets the space be given back. */
int ns_commit_frees(struct ns *ns, struct lsm_batch *b, struct lsm_err *err);
int ns_alloc_ino(struct ns *ns, uint64_t *ino, struct lsm_err *err);
bool ns_is_open(struct ns *ns, uint64_t ino);
/* A new iterator (FLAGS: LSM_ITER_*) that ends before UPPER (ULEN bytes):
 * a scan stepping past its range's last live key stops there instead of
 * walking the deleted keys beyond it (after rm -rf, thousands). */
int ns_iter_below(struct ns *ns, unsigned flags, const uint8_t *upper,
		  size_t ulen, struct lsm_iter **it, struct lsm_err *err);
/* ns_iter_below the keys of kind K of INO (those with its 9-byte
 * prefix). */
int ns_iter_ino(struct ns *ns, unsigned flags, char k, uint64_t ino,
		struct lsm_iter **it, struct lsm_err *err);
/* Deletes every key of kind K of INO into batches (committed as they
 * fill, the last left in B); *BYTES sums the deleted value lengths. */
int ns_delete_prefix(struct ns *ns, struct lsm_batch *b, char k,
		     uint64_t ino, uint64_t from_idx, uint64_t *bytes,
		     bool commit_full, struct lsm_err *err);
/* Deletes INO's data, xattrs, record and orphan key (lock held). */
int ns_reclaim_locked(struct ns *ns, uint64_t ino, struct lsm_err *err);
int ns_reclaim(struct ns *ns, uint64_t ino, struct lsm_err *err);
/* Frees the calling thread's kept write buffers (ns_data.c); other
 * threads' go when they end. */
void ns_write_buffers_release(void);

/* Deletes into B the chunks of INO (record IN) from index FROM on: by
 * key when FROM is 0 and the file has few chunks, else by
 * ns_delete_prefix (COMMIT_FULL as there).  *BYTES grows by their stored
 * length.  Lock held. */
int ns_delete_chunks(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		     const struct codec_inode *in, uint64_t from,
		     bool commit_full, uint64_t *bytes, struct lsm_err *err);
/* Truncates chunks to SIZE into B, adjusting IN->alloc (lock held). */
int ns_trunc_chunks(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		    struct codec_inode *in, uint64_t size, struct lsm_err *err);

/* fallocate COLLAPSE_RANGE (COLLAPSE) or INSERT_RANGE of [OFF, OFF+LEN)
 * of INO, in one batch (ns_extent.c; takes the inode lock). */
int ns_falloc_shift(struct ns *ns, uint64_t ino, bool collapse, uint64_t off,
		    uint64_t len, struct lsm_err *err);

/* ---- POSIX ACLs (ns_acl.c) ---- */
/* Is NAME system.posix_acl_access or system.posix_acl_default? */
bool ns_acl_name(const char *name);
/* Checks ACL *VAL (*LEN bytes) set as NAME on inode IN: an access ACL
 * gives IN's mode its permission bits; *VAL becomes NULL when nothing is
 * to be stored (an empty ACL, or one the mode says all of).  -EINVAL (not
 * an ACL), -E2BIG (past a page), -EACCES (default ACL of a non-dir). */
int ns_acl_set(struct codec_inode *in, const char *name, const void **val,
	       size_t *len, struct lsm_err *err);
/* After a chmod of INO to IN->mode: its access ACL, rewritten, into B. */
int ns_acl_chmod(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		 const struct codec_inode *in, struct lsm_err *err);
/* A new inode INO (record IN, mode as requested) in PARENT: inherits
 * PARENT's default ACL into B (access ACL, and default ACL for a
 * directory), masking IN->mode, or else applies UMASK. */
int ns_acl_inherit(struct ns *ns, struct lsm_batch *b, uint64_t parent,
		   uint64_t ino, struct codec_inode *in, uint32_t umask,
		   struct lsm_err *err);

void ns_now(int64_t *sec, uint32_t *nsec);

/* ---- expiry and capacity internals (ns_expire.c, ns_cap.c) ---- */
/* The time expiry is judged at in NS: now, or a frozen view's instant. */
static inline uint64_t ns_view_now(const struct ns *ns)
{
	return ns->opt.frozen ? ns->opt.frozen_ns : ns_now_ns();
}
/* Does the store hold expiries (superblock version 2)? */
static inline bool ns_ttl_on(struct ns *ns)
{
	return ns->sb_version >= CODEC_FORMAT_VERSION_TTL;
}
/* Raises the superblock to CODEC_FORMAT_VERSION_TTL (durably before the
 * batch that writes the first expiry). */
int ns_ttl_enable(struct ns *ns, struct lsm_err *err);
/* Adds to B the index change of INO's expiry from OLD to NEW (ns). */
int ns_expiry_batch(struct lsm_batch *b, uint64_t ino, uint64_t old_ns,
		    uint64_t new_ns);
/* Adds to B the index key of INO expiring at EXP with a name hint: NAME
 * (LEN bytes) of PARENT names it (the purge tries it before scanning). */
int ns_expiry_put_hint(struct lsm_batch *b, uint64_t ino, uint64_t exp,
		       uint64_t parent, const char *name, size_t len);
/* Is the inode named NAME in PARENT expired?  (for create over it) */
bool ns_name_expired(struct ns *ns, uint64_t parent, const char *name,
		     size_t len);
/* Removes NAME of PARENT if it still names INO and INO has expired
 * (why NS_DROP_EXPIRED) or may be evicted (NS_DROP_EVICT); see
 * ns_expire.c.  1 when removed, 0 when not (changed meanwhile), -errno. */
/* The expiry an evicted file's leftover orphan record gets (see
 * ns_expire.c drop_last): expired since the epoch. */
#define NS_GONE_NS 1ull
int ns_drop_name(struct ns *ns, uint64_t parent, const char *name,
		 size_t len, uint64_t ino, int why, struct lsm_err *err);
/* Purges every expired entry of directory DIR (before an rmdir that
 * found only those): 1 when some went, 0 when none, -errno. */
int ns_expire_dir(struct ns *ns, uint64_t dir, struct lsm_err *err);
/* The virtual xattrs NS_XATTR_TTL and NS_XATTR_EXPIRES (ns_xattr.c
 * hands them here): is NAME one, and get / set (VAL NULL: remove). */
bool ns_ttl_xattr(const char *name);
int ns_ttl_setxattr(struct ns *ns, uint64_t ino, const char *name,
		    const void *val, size_t len, unsigned flags,
		    struct lsm_err *err);
int ns_ttl_getxattr(struct ns *ns, uint64_t ino, const char *name,
		    void *buf, size_t cap, size_t *len, struct lsm_err *err);
/* Capacity: counts DELTA bytes of file data into the live bytes. */
static inline void ns_live_add(struct ns *ns, int64_t delta)
{
	if (delta)
		ns->live_bytes += delta;
}
/* May DELTA more bytes of file data be stored?  0, or -EDQUOT (past
 * max_size: evict first with ns_cap_make_room, or fail with
 * ns_cap_full).  No message: the callers decide. */
static inline int ns_cap_check(struct ns *ns, int64_t delta)
{
	if (!ns->opt.max_size || delta <= 0 ||
	    ns->live_bytes + delta <= (int64_t)ns->opt.max_size)
		return 0;
	return -EDQUOT;
}
/* -ENOSPC "full" (counted), with its message. */
int ns_cap_full(struct ns *ns, struct lsm_err *err);
/* Evicts files until NEED bytes are free, never SKIP (the file being
 * written).  0, -ENOSPC when nothing more may go, -errno. */
int ns_cap_make_room(struct ns *ns, uint64_t need, uint64_t skip,
		     struct lsm_err *err);
/* The last handle of INO closed: its use in the recency clock becomes
 * its stored atime when that is NS_ATIME_LAZY_S or more older (lazily,
 * relatime-style: at most one record write per file and period). */
#define NS_ATIME_LAZY_S 60
void ns_cap_persist_use(struct ns *ns, uint64_t ino);
/* A handle of INO opened (IN: its record, or NULL): a use. */
void ns_cap_opened(struct ns *ns, uint64_t ino, const struct codec_inode *in);
/* Sums the live bytes of every inode (at open, with a bound). */
int ns_cap_load(struct ns *ns, struct lsm_err *err);
void ns_touch(struct codec_inode *in, bool mtime, bool ctime);
int ns_enomem(struct lsm_err *err);
/* Returns RC; a negative RC that ERR does not hold yet gets its message
 * there.  For the public calls whose batches were built with
 * lsm_batch_put/lsm_batch_delete, which fail (-ENOMEM) without an ERR. */
int ns_err(int rc, struct lsm_err *err);

static inline bool ns_is_dir(const struct codec_inode *in)
{
	return (in->mode & S_IFMT) == S_IFDIR;
}

#endif /* LSMFS_NS_PRIV_H */
