/* ns.h - namespace operations over an lsm_db: inodes, directories, file
 * data in chunks, xattrs, orphans, and a path-level API for tools
 * ("a/b/c" <-> file).  Uses the codec (codec.h) for every key and value;
 * no FUSE here, so lsmfs-ctl and the tests link it as lsmfs_ns.
 *
 * Every call returns 0 (or a documented non-negative value) or a negative
 * errno with ERR filled (when non-NULL), like the engine.  Each call that
 * changes the namespace applies exactly one lsm_write batch, so it is
 * atomic across a crash (an unlink's space reclaim may take more batches;
 * the orphan record makes it resumable).  Handles are thread-safe:
 * per-inode locks (striped rwlocks) serialise read-modify-write of inode
 * records and chunks; renames are serialised among themselves. */
#ifndef LSMFS_NS_H
#define LSMFS_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "codec.h"
#include "lsm.h"

struct ns;

struct ns_options {
	uint32_t chunk_size;    /* used when formatting an empty store;
	                         * default CODEC_DEFAULT_CHUNK */
	bool read_only;         /* never write (no format, no reclaim) */
	bool follow;            /* another process writes the store (a
	                         * following engine): each read checks that
	                         * it saw one state of its file, and a file
	                         * deleted meanwhile is -ESTALE */
	unsigned write_flags;   /* lsm_write flags for every batch
	                         * (LSM_WRITE_SYNC: each op durable) */
	uint32_t root_uid, root_gid; /* owner of a freshly formatted root */
	uint32_t root_mode;     /* permission bits of that root (0755) */
	/* Non-NULL: a read view of the store at this snapshot (lsm.h;
	 * lsmfs: MNT/.lsmfs/snapshots/NAME): every read of the namespace
	 * goes through it, and it implies read_only.  It must outlive the
	 * ns. */
	const struct lsm_snapshot *snap;
	/* Expiring files (ns_expire.c): every regular file created gets
	 * this time to live, in seconds; 0: none (the default). */
	uint64_t default_ttl;
	/* Capacity bound (ns_cap.c): the live bytes of file data (the sum
	 * of the bytes stored in every inode's chunks, what st_blocks
	 * counts) never pass MAX_SIZE; 0: no
	 * bound.  A write that would pass it gets -ENOSPC, or, with
	 * ON_FULL_EVICT, first evicts unopened files, least recently used
	 * first (approximately: a sample of NS_EVICT_SAMPLE names). */
	uint64_t max_size;
	bool on_full_evict;
	/* A frozen view (a snapshot's): its clock stands still at FROZEN_NS
	 * (ns since the epoch, CLOCK_REALTIME; the snapshot's creation): a
	 * file that had expired then is absent, one that had not stays for
	 * good; expiries are shown (getfattr) as they were. */
	bool frozen;
	uint64_t frozen_ns;
};

void ns_options_init(struct ns_options *o);
/* Sets the engine options an lsmfs store is written with (on top of
 * lsm_options_init): the mount's defaults (-o memtable_size, table_size
 * override them), and the replica receiver's. */
/* Values of this many bytes and more (whole chunks of file data) are
 * written once, kept in the log (engine/doc/value-log.md); -o value_log
 * changes it, 0 turns it off. */
#define NS_VALUE_LOG_BYTES 4096u
void ns_engine_defaults(struct lsm_options *o);
/* Whether the store in DIR holds an lsmfs namespace, read from its files
 * without opening it (lsm_files.h): to open it with ns_engine_defaults
 * from the start, since an open with other options would already flush
 * its recovered log with them.  False when it cannot be told. */
bool ns_store_is_lsmfs(const char *dir);

/* Opens the namespace in DB (which must outlive it).  An empty store is
 * formatted (superblock + root directory) unless read-only; a non-empty
 * store without a superblock gives -EINVAL ("not an lsmfs store"). */
int ns_open(struct lsm_db *db, const struct ns_options *o, struct ns **out,
	    struct lsm_err *err);
void ns_close(struct ns *ns); /* does not close DB; accepts NULL */

uint32_t ns_chunk_size(const struct ns *ns);
struct lsm_db *ns_db(const struct ns *ns);
/* Inode numbers handed out so far (a bound, for statfs). */
uint64_t ns_inodes_used(const struct ns *ns);

/* An inode: its number, attributes, and (symlinks) target length in
 * attr.size. */
struct ns_attr {
	uint64_t ino;
	struct codec_inode in;
};

/* Fills ST from A (st_blocks from the bytes held in chunks). */
void ns_attr_stat(const struct ns_attr *a, struct stat *st);

/* Who creates: owner, group and umask applied to the new mode. */
struct ns_cred {
	uint32_t uid, gid;
	uint32_t umask;
};

/* ---- inodes ---- */
int ns_getattr(struct ns *ns, uint64_t ino, struct ns_attr *a,
	       struct lsm_err *err);
/* Looks NAME up in directory PARENT.  -ENOENT, -ENOTDIR, -ENAMETOOLONG. */
int ns_lookup(struct ns *ns, uint64_t parent, const char *name,
	      struct ns_attr *a, struct lsm_err *err);
/* ns_lookup, and an ns_open_ref on the inode found, under PARENT's lock:
 * no unlink, rmdir or rename of NAME comes between, so the reference holds
 * an inode NAME named at one instant, with links (the kernel's lookup count
 * for FUSE lookup and readdirplus).  Release it with ns_close_ref or
 * ns_unref.  On error nothing is held; an entry whose inode has no link
 * left is damage (-EUCLEAN). */
int ns_lookup_ref(struct ns *ns, uint64_t parent, const char *name,
		  struct ns_attr *a, struct lsm_err *err);

#define NS_SET_MODE 0x01u
#define NS_SET_UID 0x02u
#define NS_SET_GID 0x04u
#define NS_SET_SIZE 0x08u
#define NS_SET_ATIME 0x10u
#define NS_SET_MTIME 0x20u
#define NS_SET_ATIME_NOW 0x40u
#define NS_SET_MTIME_NOW 0x80u
#define NS_SET_CTIME 0x100u
/* Privilege killing (FUSE_HANDLE_KILLPRIV_V2: the kernel leaves it to the
 * filesystem).  KILL_SUIDGID clears set-user-ID, and set-group-ID when
 * group-executable, of a regular file; KILL_CAPS removes its
 * security.capability xattr; both in the batch of the change. */
#define NS_SET_KILL_SUIDGID 0x200u
#define NS_SET_KILL_CAPS 0x400u
/* with KILL_SUIDGID: set-group-ID goes also without group execute (the
 * writer is outside the file's group) */
#define NS_SET_KILL_SGID 0x800u

struct ns_setattr {
	unsigned valid; /* NS_SET_* */
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

/* Applies S (a truncate deletes/trims chunks in the same batch); ctime
 * becomes now.  *OUT (may be NULL) gets the new attributes.  A change of
 * owner (UID or GID, changed or not) clears set-user-ID and, when group
 * executable, set-group-ID of a non-directory unless S sets the mode, as
 * chown(2) does on local filesystems. */
int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *s,
	       struct ns_attr *out, struct lsm_err *err);

/* ---- directory operations ---- */

/* Creates NAME in PARENT with MODE (type + permissions) and RDEV; a
 * default ACL of PARENT is inherited (masking MODE), or else C's umask
 * applies; TARGET non-NULL makes a symlink (MODE ignored).
 * Directories inherit the setgid bit and setgid parents give their group.
 * -EEXIST, -ENOENT (parent deleted), -ENOTDIR, -EINVAL/-ENAMETOOLONG
 * (bad name). */
int ns_mknod(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint64_t rdev, const struct ns_cred *c, const char *target,
	     struct ns_attr *out, struct lsm_err *err);
/* O_TMPFILE: a regular file of MODE (umask or PARENT's default ACL
 * applied as ns_mknod) with no name: an orphan (nlink 0) until ns_link
 * names it, reclaimed when its last reference goes or at the next mount.
 * On success the caller holds one ns_open_ref on it. */
int ns_tmpfile(struct ns *ns, uint64_t parent, uint32_t mode,
	       const struct ns_cred *c, struct ns_attr *out,
	       struct lsm_err *err);
/* A new name NEWNAME in NEWPARENT for INO.  -EPERM for directories.  An
 * unlinked inode (an O_TMPFILE file) is named again only while a
 * reference holds it (-ENOENT when none does). */
int ns_link(struct ns *ns, uint64_t ino, uint64_t newparent,
	    const char *newname, struct ns_attr *out, struct lsm_err *err);
/* Removes a non-directory entry (-EISDIR for directories).  The inode
 * goes when its last link goes and no ns_open_ref holds it. */
int ns_unlink(struct ns *ns, uint64_t parent, const char *name,
	      struct lsm_err *err);
/* Removes an empty directory.  -ENOTDIR, -ENOTEMPTY. */
int ns_rmdir(struct ns *ns, uint64_t parent, const char *name,
	     struct lsm_err *err);

#define NS_RENAME_NOREPLACE 0x1u
#define NS_RENAME_EXCHANGE 0x2u
#define NS_RENAME_WHITEOUT 0x4u
/* rename(2)/renameat2(2): moves one entry atomically (a directory's
 * subtree is not touched).  Replaces an existing target like rename(2):
 * -EISDIR, -ENOTDIR, -ENOTEMPTY, -EINVAL (into its own subtree), -EEXIST
 * (NOREPLACE). */
int ns_rename(struct ns *ns, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags,
	      struct lsm_err *err);
/* ns_rename, with WHITEOUT too: the source name then names a whiteout (a
 * 0:0 character device of mode 0, owned by C's uid and gid; root when C
 * is NULL), in the same batch, as overlayfs asks.  WHITEOUT or NOREPLACE
 * with EXCHANGE: -EINVAL. */
int ns_rename2(struct ns *ns, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags,
	       const struct ns_cred *c, struct lsm_err *err);
/* Copies at most CAP bytes of the target into BUF (not terminated);
 * *LEN gets the full length.  -EINVAL when INO is not a symlink. */
int ns_readlink(struct ns *ns, uint64_t ino, char *buf, size_t cap,
		size_t *len, struct lsm_err *err);

/* A directory entry as a scan yields it; NAME is borrowed for the call. */
struct ns_dirent {
	uint64_t ino;
	uint32_t type; /* S_IFMT bits */
	const char *name;
	size_t nlen;
};
/* Calls FN for each entry of DIR in name order, starting after AFTER
 * (NULL: from the first), in one range scan.  FN returns 0 to go on,
 * non-zero to stop (that value is returned). */
int ns_readdir(struct ns *ns, uint64_t dir, const char *after,
	       int (*fn)(void *ctx, const struct ns_dirent *d), void *ctx,
	       struct lsm_err *err);
/* ns_readdir that also lists expired files (NS_READDIR_ALL): for a caller
 * that looks each entry up anyway (readdirplus) or checks with
 * ns_entry_expired, so that a listing reads no record twice. */
#define NS_READDIR_ALL 0x1u
int ns_readdir_flags(struct ns *ns, uint64_t dir, const char *after,
		     unsigned flags,
		     int (*fn)(void *ctx, const struct ns_dirent *d),
		     void *ctx, struct lsm_err *err);
/* Is the entry D (of a listing) an expired file?  Reads its record only
 * in a store that uses expiry; false when it cannot tell. */
bool ns_entry_expired(struct ns *ns, const struct ns_dirent *d);

/* ---- file data ---- */

/* Reads up to LEN bytes at OFF; *GOT gets the count (short at EOF);
 * holes read as zeros. */
int ns_read(struct ns *ns, uint64_t ino, uint64_t off, size_t len, void *buf,
	    size_t *got, struct lsm_err *err);
/* Writes LEN bytes at OFF in one batch (touched chunks + inode record),
 * extending the size; mtime/ctime become now. */
int ns_write(struct ns *ns, uint64_t ino, uint64_t off, const void *buf,
	     size_t len, struct lsm_err *err);
/* ns_write that also kills privileges in the same batch: KILL is
 * NS_SET_KILL_SUIDGID and/or NS_SET_KILL_CAPS (see ns_setattr).  1 when it
 * changed the mode or removed the capability (what a kernel cached of the
 * inode is stale), 0 when not, or -errno. */
int ns_write_kill(struct ns *ns, uint64_t ino, uint64_t off, const void *buf,
		  size_t len, unsigned kill, struct lsm_err *err);
/* Replaces the whole contents with DATA (one batch). */
int ns_replace(struct ns *ns, uint64_t ino, const void *data, size_t len,
	       struct lsm_err *err);
/* The block of SEEK_DATA/SEEK_HOLE, of fallocate's alignment rule and
 * of st_blksize (ext4's usual block size). */
#define NS_BLOCK 4096u

/* fallocate(2), with ext4's results.  MODE 0 extends the size (holes:
 * nothing is reserved, so a later write can still fail with -ENOSPC);
 * FALLOC_FL_KEEP_SIZE alone does nothing; PUNCH_HOLE|KEEP_SIZE and
 * ZERO_RANGE (|KEEP_SIZE) make the range a hole that reads as zeros
 * (whole chunks are deleted), ZERO_RANGE also extending the size unless
 * KEEP_SIZE; COLLAPSE_RANGE removes the range and INSERT_RANGE inserts a
 * hole there, shifting what follows: OFF and LEN must be multiples of
 * NS_BLOCK (-EINVAL), a collapse must end before the end of the file and
 * an insert start before it (-EINVAL); each moves every stored byte
 * after OFF in one batch (at most 256 MiB of them: -EFBIG).  Other modes:
 * -EOPNOTSUPP. */
int ns_fallocate(struct ns *ns, uint64_t ino, int mode, uint64_t off,
		 uint64_t len, struct lsm_err *err);
/* lseek(2) SEEK_DATA / SEEK_HOLE (WHENCE) from OFF in regular file INO:
 * the first data / hole byte at or after OFF in *RES.  Data is found in
 * NS_BLOCK blocks: a block is data when a stored chunk holds a non-zero
 * byte of it.  The end of the file is a hole.  -ENXIO when OFF is at or
 * past the end, or (SEEK_DATA) no data follows it. */
int ns_seek(struct ns *ns, uint64_t ino, uint64_t off, int whence,
	    uint64_t *res, struct lsm_err *err);

/* A reference (an open handle, or the kernel's lookup count of INO)
 * holds INO alive after its last unlink. */
void ns_open_ref(struct ns *ns, uint64_t ino);
/* Drops one reference; reclaims the inode when it was the last and no
 * link is left. */
int ns_close_ref(struct ns *ns, uint64_t ino, struct lsm_err *err);
/* Drops N references at once (FUSE forget). */
int ns_unref(struct ns *ns, uint64_t ino, uint64_t n, struct lsm_err *err);
/* Forgets every reference (at unmount, before ns_reclaim_orphans). */
void ns_clear_refs(struct ns *ns);
/* The inodes that hold references (the kernel knows them): a malloc'ed
 * array of *N numbers (free() it), or NULL on ENOMEM or when none. */
uint64_t *ns_referenced(struct ns *ns, size_t *n);
/* Reclaims every orphan (unlinked inode) no handle holds: run at mount and
 * unmount.  *N (may be NULL) gets how many were reclaimed. */
int ns_reclaim_orphans(struct ns *ns, unsigned *n, struct lsm_err *err);
/* lsm_sync: everything acknowledged so far becomes durable. */
int ns_sync(struct ns *ns, struct lsm_err *err);

/* ---- expiring files (ns_expire.c; fs/CODEC.md "Expiry") ---- */

/* The virtual xattrs of an expiry: TTL reads as the whole seconds of
 * life left (rounded up; "0" once expired) and is set as seconds from
 * now; EXPIRES is the absolute expiry, seconds since the epoch
 * (CLOCK_REALTIME), with up to 9 decimals.  Setting either to 0, or
 * removing either, clears the expiry.  Regular files only (-EPERM). */
#define NS_XATTR_TTL "user.lsmfs.ttl"
#define NS_XATTR_EXPIRES "user.lsmfs.expires"

/* CLOCK_REALTIME in nanoseconds since the epoch. */
uint64_t ns_now_ns(void);
/* Is IN expired at NOW (ns)?  A file expires at its expiry instant. */
static inline bool ns_expired_at(const struct codec_inode *in, uint64_t now)
{
	return in->expire_ns != 0 && in->expire_ns <= now;
}
/* Is IN gone by expiry in NS (never in a frozen view)? */
bool ns_is_expired(const struct ns *ns, const struct codec_inode *in);
/* How long before an expiry the kernel's caches of the file end (ns);
 * the daemon also has the kernel drop the file's names then
 * (ns_expire_names). */
#define NS_CACHE_MARGIN_NS 1000000000ull
/* Seconds of life A has left, less NS_CACHE_MARGIN_NS, capped at CAP
 * (what the kernel may cache of it): CAP when A never expires, 0 when it
 * has expired or is about to. */
double ns_life_cap(const struct ns_attr *a, double cap);
/* Sets INO's absolute expiry (ns since the epoch; 0 clears it), with its
 * index key, in one batch; ctime becomes now.  -EPERM for anything but a
 * regular file.  The first expiry of a store raises its format version
 * (CODEC_FORMAT_VERSION_TTL). */
int ns_set_expiry(struct ns *ns, uint64_t ino, uint64_t expire_ns,
		  struct lsm_err *err);

/* Why a name went: its file expired, or was evicted for capacity. */
#define NS_DROP_EXPIRED 1
#define NS_DROP_EVICT 2
/* Told, with no lock held, of each name a purge or an eviction (WHY)
 * removed (the daemon tells the kernel to drop it). */
typedef void (*ns_gone_fn)(void *ctx, int why, uint64_t parent,
			   uint64_t ino, const char *name, size_t nlen);
/* Physically deletes up to MAX files expired by now (found by the
 * expiry index): each name of each (the name its index key remembers,
 * else found by one scan of the directory entries for all of them),
 * and with the last one the inode, data and xattrs, in one batch per
 * name; a file open by a handle becomes an orphan (its data goes at the
 * last release).  *DONE gets the files purged; *NEXT_NS the next expiry
 * in the index (0: none).  Counted in ns_counters. */
int ns_expire_run(struct ns *ns, unsigned max, ns_gone_fn fn, void *ctx,
		  unsigned *done, uint64_t *next_ns, struct lsm_err *err);

/* Tells FN (WHY 0) of every name of every file whose expiry lies in
 * (AFTER_NS, UNTIL_NS], up to MAX files (names found as ns_expire_run
 * finds them), deleting nothing: the daemon has the kernel drop those
 * names before the files expire, so that a name it cached before a TTL
 * was set does not outlive the file.  *COVERED_NS: the instant up to
 * which every file was told (UNTIL_NS unless MAX cut the pass short);
 * *NEXT_NS the first expiry after it (0: none). */
int ns_expire_names(struct ns *ns, uint64_t after_ns, uint64_t until_ns,
		    unsigned max, ns_gone_fn fn, void *ctx,
		    uint64_t *covered_ns, uint64_t *next_ns,
		    struct lsm_err *err);

struct ns_counters {
	uint64_t expired_files, expired_bytes;  /* purged by expiry */
	uint64_t evicted_files, evicted_bytes;  /* evicted for capacity */
	uint64_t enospc;                        /* writes refused: full */
	int64_t live_bytes;                     /* file data (max_size) */
	uint64_t max_size;                      /* 0: no bound */
};
void ns_counters(struct ns *ns, struct ns_counters *c);

/* ---- capacity (ns_cap.c) ---- */
/* Candidates one eviction round looks at (Redis-style sampling). */
#define NS_EVICT_SAMPLE 32u
/* FN is told of every name an eviction (in the writer's thread) or a
 * purge of an expired name met by a create removes (set once, before
 * any request; ns_expire_run takes its own). */
void ns_set_gone_fn(struct ns *ns, ns_gone_fn fn, void *ctx);
/* Records a use of INO (a read) in the approximate recency clock. */
void ns_touch_access(struct ns *ns, uint64_t ino);

/* ---- open handles ---- */
/* An open file handle: an ns_open_ref that also marks INO as in use
 * (never evicted; an expired one keeps its data until released) and
 * counts as a use in the recency clock.  IN (may be NULL) is the record
 * the caller just read: its atime lets the last close decide, without
 * reading it again, whether the use is worth storing. */
void ns_open_handle(struct ns *ns, uint64_t ino, const struct codec_inode *in);
/* Does an open handle (or a lost reference) hold INO? */
bool ns_has_handle(struct ns *ns, uint64_t ino);
int ns_close_handle(struct ns *ns, uint64_t ino, struct lsm_err *err);

/* ---- extended attributes ---- */
/* The most bytes a name list may take (each name and its NUL): the
 * kernel's XATTR_LIST_MAX.  A new name past it is -ENOSPC. */
#define NS_XATTR_LIST_MAX 65536u
#define NS_XATTR_CREATE 0x1u  /* as XATTR_CREATE */
#define NS_XATTR_REPLACE 0x2u /* as XATTR_REPLACE */
int ns_setxattr(struct ns *ns, uint64_t ino, const char *name,
		const void *val, size_t len, unsigned flags,
		struct lsm_err *err);
/* CAP 0 asks only for *LEN; -ERANGE when CAP is too small; -ENODATA. */
int ns_getxattr(struct ns *ns, uint64_t ino, const char *name, void *buf,
		size_t cap, size_t *len, struct lsm_err *err);
/* NUL-separated names, as listxattr(2). */
int ns_listxattr(struct ns *ns, uint64_t ino, char *buf, size_t cap,
		 size_t *len, struct lsm_err *err);
int ns_removexattr(struct ns *ns, uint64_t ino, const char *name,
		   struct lsm_err *err);

/* ---- paths: the key <-> file rule for tools (see fs/CODEC.md) ---- */

/* Resolves PATH ("a/b/c", no symlinks followed) from the root. */
int ns_resolve(struct ns *ns, const char *path, struct ns_attr *a,
	       struct lsm_err *err);
/* Makes PATH a regular file holding DATA, creating missing parents as
 * `mkdir -p` (mode 0777 & ~umask) and the file (0666 & ~umask) as C. */
int ns_put_path(struct ns *ns, const char *path, const void *data,
		size_t len, const struct ns_cred *c, struct lsm_err *err);
/* The contents of regular file PATH: *DATA is malloc'ed (free() it). */
int ns_get_path(struct ns *ns, const char *path, void **data, size_t *len,
		struct lsm_err *err);
/* Lists the direct children of directory PATH ("" or "/": the root). */
int ns_list_path(struct ns *ns, const char *path,
		 int (*fn)(void *ctx, const struct ns_dirent *d), void *ctx,
		 struct lsm_err *err);
/* unlink or rmdir PATH. */
int ns_delete_path(struct ns *ns, const char *path, struct lsm_err *err);

#endif /* LSMFS_NS_H */
