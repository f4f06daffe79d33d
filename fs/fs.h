/* fs.h - the lsmfs daemon's shared state and helpers: the mounted
 * filesystem handle, operation counters, logging, errno translation, and
 * the FUSE operation tables of the ops_*.c files.  Only fs/ daemon files
 * include this (it pulls <fuse_lowlevel.h>). */
#ifndef LSMFS_FS_H
#define LSMFS_FS_H

#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lsm.h"
#include "ns.h"

/* The hidden control directory /.lsmfs and its files: inode numbers the
 * allocator never reaches, names looked up before the store. */
#define FS_CTL_DIR_INO ((1ull << 63) + 1)
#define FS_CTL_STATS_INO ((1ull << 63) + 2)
#define FS_CTL_STATS_NAME "stats"
/* /.lsmfs/ctl: write-only requests ("compact"); a write returns when the
 * request is done, with its error if it failed. */
#define FS_CTL_CMD_INO ((1ull << 63) + 3)
#define FS_CTL_CMD_NAME "ctl"
/* /.lsmfs/snapshots (ops_snap.c): one directory per durable snapshot of
 * the engine; mkdir takes one, rmdir drops it.  Inode numbers of what a
 * snapshot shows: bit 63 set, the snapshot's id (1..255, lsm.h) in bits
 * 55-62, the inode's live number in bits 0-54 (fs/CODEC.md, "Inode
 * numbers"); id 0 is the control directory's own numbers above. */
#define FS_CTL_SNAPDIR_INO ((1ull << 63) + 4)
#define FS_CTL_SNAPDIR_NAME "snapshots"
#define FS_SNAP_SHIFT 55
#define FS_SNAP_INO_MASK ((1ull << FS_SNAP_SHIFT) - 1)
/* How long the kernel keeps names and attributes inside a snapshot: they
 * never change. */
#define FS_SNAP_TIMEOUT 3600.0

/* How often a read-only mount catches up with the store's writer (it
 * also wakes on inotify), and how long its kernel keeps names. */
#define FS_FOLLOW_MS 100
/* Default log archive (-o wal_archive, wal_archive_age): enough for a
 * replica that restarts or falls a few memtables behind. */
#define FS_WAL_ARCHIVE_BYTES (64ull << 20)
#define FS_WAL_ARCHIVE_SECONDS 86400u
#define FS_FOLLOW_ENTRY_TIMEOUT 1.0

/* Default attr_timeout and entry_timeout, in seconds.  Every change goes
 * through this mount (the store is locked by the daemon), and the kernel
 * invalidates what an operation of its own changes, so long timeouts
 * are safe; they only bound how long the kernel trusts its caches. */
#define FS_DEFAULT_TIMEOUT 60.0

/* How long a mount waits, by default, for the store's lock when no mount
 * serves the store any more: the daemon of a mount that was just
 * unmounted is still closing it (the kernel completes an unmount without
 * waiting for the daemon). */
#define FS_DEFAULT_LOCK_TIMEOUT 10.0

/* Threads per CPU with -o io_uring (uring.c): requests served at once
 * from one CPU (a request that waits, for an fsync say, holds up no
 * other; group commit needs several). */
#define FS_URING_THREADS 8
/* -o forget_wait_us: the pause after FORGETs (tmpfile.c's reader) */
#define FS_FORGET_WAIT_US 1000

enum fs_op {
	FS_OP_LOOKUP, FS_OP_GETATTR, FS_OP_SETATTR, FS_OP_READLINK,
	FS_OP_MKNOD, FS_OP_MKDIR, FS_OP_UNLINK, FS_OP_RMDIR, FS_OP_SYMLINK,
	FS_OP_RENAME, FS_OP_LINK, FS_OP_OPEN, FS_OP_READ, FS_OP_WRITE,
	FS_OP_RELEASE, FS_OP_FSYNC, FS_OP_OPENDIR,
	FS_OP_READDIR, FS_OP_RELEASEDIR, FS_OP_STATFS, FS_OP_SETXATTR,
	FS_OP_GETXATTR, FS_OP_LISTXATTR, FS_OP_REMOVEXATTR, FS_OP_CREATE,
	FS_OP_FALLOCATE, FS_OP_LSEEK,
	FS_OP__COUNT
};

struct metrics_http;

struct fs_counters {
	atomic_uint_fast64_t ops[FS_OP__COUNT];
	atomic_uint_fast64_t errors[FS_OP__COUNT];
	/* nanoseconds from each request's handler to its reply, on the
	 * thread that received it (fs_count, fs_count_reply) */
	atomic_uint_fast64_t op_ns[FS_OP__COUNT];
	atomic_uint_fast64_t bytes_read, bytes_written;
	atomic_uint_fast64_t corruption; /* EIO from -EBADMSG/-EUCLEAN */
	atomic_uint_fast64_t orphans_at_mount; /* reclaimed when mounting */
	atomic_uint_fast64_t uring_requests; /* served over io_uring */
	/* FORGET and BATCH_FORGET messages read, and the inodes they
	 * named (tmpfile.c's reader, ops_node.c) */
	atomic_uint_fast64_t forget_msgs, forget_inodes;
};

struct lsmfs {
	struct lsm_db *db;
	struct ns *ns;
	const char *datadir;    /* absolute */
	double attr_timeout;    /* seconds the kernel caches attributes */
	double entry_timeout;   /* ... and names (also negative lookups) */
	bool read_only;
	bool follow;            /* ro mount of a store written elsewhere */
	bool acl;               /* the kernel enforces POSIX ACLs (set by
	                         * op_init, before any other request) */
	/* The kernel left privilege killing to lsmfs (HANDLE_KILLPRIV_V2):
	 * writes, truncations and chown clear set-user-ID/set-group-ID and
	 * security.capability here.  Set before the request loop. */
	bool killpriv;
	/* -o writeback: the kernel's writeback cache (off by default: a
	 * write returns before lsmfs has it). */
	bool writeback;
	/* Requests over io_uring when the kernel offers it (the default;
	 * -o io_uring=0 turns it off), served by this many threads per CPU
	 * (uring.c); ASKED: -o io_uring given, a warning when not offered. */
	bool io_uring;
	bool io_uring_asked;
	unsigned uring_threads;
	bool uring_idle;        /* -o io_uring_idle=0|1 [1] */
	unsigned forget_wait_us; /* -o forget_wait_us=N [FS_FORGET_WAIT_US] */
	/* The running rings, or NULL: read by the session's writer on any
	 * thread (tmpfile.c). */
	struct fs_uring *_Atomic uring;
	struct fuse_session *session; /* set before the request loop */
	double lock_timeout;    /* -o lock_timeout, seconds */
	char metrics_addr[64];  /* -o metrics: numeric address ... */
	unsigned metrics_port;  /* ... and port; 0: no endpoint */
	struct metrics_http *http; /* the running endpoint, or NULL */
	struct fs_counters cnt;
	/* Followers: the session the kernel's caches are told about, NULL
	 * outside the request loop; under follow_mu (follow.c). */
	pthread_mutex_t follow_mu;
	struct fuse_session *se;
	/* Requests of /.lsmfs/ctl running in their own threads; the store
	 * closes only when none is left (fs_ctl_wait). */
	pthread_mutex_t ctl_mu;
	pthread_cond_t ctl_cv;
	unsigned ctl_jobs;      /* under ctl_mu */
	/* The snapshot views opened so far (ops_snap.c). */
	struct fs_snaps *snaps;
};

/* ---- log.c ---- */
/* The levels of logsink.h, in the same order. */
enum fs_log_level { FS_LOG_ERR, FS_LOG_WARN, FS_LOG_INFO, FS_LOG_DEBUG };
/* Sends every later line to TARGET (-o log: "syslog", "stderr" or a file;
 * NULL: stderr when FOREGROUND, else syslog) from LEVEL (-o log_level;
 * NULL: info, or debug when DEBUG).  -1 after a one-line message on
 * stderr. */
int fs_log_init(const char *target, const char *level, bool foreground,
		bool debug);
/* One line "COMPONENT: message" at LVL. */
void fs_log_c(enum fs_log_level lvl, const char *component, const char *fmt,
	      ...) __attribute__((format(printf, 3, 4)));
/* The daemon's own lines: component "fs". */
#define fs_log(lvl, ...) fs_log_c(lvl, "fs", __VA_ARGS__)

/* ---- mem.c: bounded resident memory (see there) ---- */
/* Caps malloc arenas and fixes the mmap threshold; call before any thread
 * starts. */
void fs_mem_init(void);
/* Starts / stops the thread that returns free memory to the kernel while
 * FS is busy (after daemonizing: threads do not survive fork). */
void fs_mem_start(struct lsmfs *fs);
void fs_mem_stop(void);
/* Returns free memory to the kernel now (after a big job). */
void fs_mem_trim(void);

/* ---- follow.c ---- */
/* lsm_options.follow_key_fn of a following mount: turns each key a
 * catch-up applied into an invalidation of the kernel's cache (entry,
 * attributes, data range); KEY NULL drops what the kernel holds of every
 * inode it knows.  Called with no namespace lock held. */
void fs_follow_key(void *ctx, const void *key, size_t klen);
/* Starts / stops telling SE (the request loop runs between). */
void fs_follow_session(struct lsmfs *fs, struct fuse_session *se);

/* ---- expire.c: the expiry thread ---- */
/* Starts (writable mounts, once the session is mounted) / stops the
 * thread that purges expired files and tells the kernel of names that
 * purges and evictions removed. */
void fs_expire_start(struct lsmfs *fs);
void fs_expire_stop(struct lsmfs *fs);
/* A new expiry was set: the thread plans its next pass again (the
 * kernel may hold the file's name for longer than its life: the purge
 * at the expiry instant is what tells it). */
void fs_expire_kick(void);
/* ns_gone_fn: queues the kernel's notification (any thread). */
void fs_gone(void *ctx, int why, uint64_t parent, uint64_t ino,
	     const char *name, size_t nlen);

/* ---- handshake.c ---- */
/* What lsmfs asks of the INIT exchange, and what it got. */
struct fs_init {
	bool killpriv;          /* FUSE_HANDLE_KILLPRIV_V2 */
	bool uring;             /* FUSE_OVER_IO_URING (uring.c) */
	uint32_t max_write;     /* got: as libfuse answered */
	uint32_t max_pages;     /* got: 0 when not negotiated */
};
/* Runs the INIT exchange of the mounted SE before its request loop:
 * libfuse answers it (op_init runs) and lsmfs adds the flags of WANT the
 * kernel offers; *GOT says what was granted.  0, or -errno (SE is
 * unusable). */
int fs_handshake(struct fuse_session *se, const struct fs_init *want,
		 struct fs_init *got);

/* ---- killpriv.c ---- */
/* NS_SET_KILL_* for a write or truncation of INO by REQ: SUIDGID 1 when
 * the kernel asked to kill set-user-ID/set-group-ID (the writer lacks
 * CAP_FSETID), 0 when it did not, -1 when libfuse did not pass it on
 * (then any writer but root is taken to lack CAP_FSETID).  0 unless
 * fs->killpriv. */
unsigned fs_kill_for(struct lsmfs *fs, fuse_req_t req, fuse_ino_t ino,
		     int suidgid);
/* FUSE_WRITE_KILL_SUIDGID of the write whose data is BUF: 1, 0, or -1
 * when unknown.  libfuse 3.14 drops write_flags but passes the data
 * right after the request's struct fuse_write_in; that header is used
 * only when it matches what libfuse passed (size, offset, fh, flags). */
int fs_write_kill_flag(const char *buf, size_t size, off_t off,
		       const struct fuse_file_info *fi);
/* Drops the kernel's cached attributes of INO (after lsmfs changed the
 * mode on its own: a killed set-user-ID). */
void fs_inval_attr(struct lsmfs *fs, fuse_ino_t ino);

/* ---- errno.c ---- */
/* Maps an engine/ns result (negative errno) to the errno the kernel gets:
 * -EBADMSG and -EUCLEAN become EIO. */
int fs_errno(int rc);
/* Counts a failed OP, logs ERR when it is corruption or an unexpected
 * error, and returns the positive errno for fuse_reply_err. */
int fs_fail(struct lsmfs *fs, enum fs_op op, int rc, const struct lsm_err *err);
const char *fs_op_name(enum fs_op op);

static inline struct lsmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The request the calling thread serves: what fs_count started, for
 * fs_count_reply to end (metrics.c). */
struct fs_req_clock {
	uint64_t t0;            /* CLOCK_MONOTONIC ns */
	int op;                 /* enum fs_op + 1; 0: none */
};
extern _Thread_local struct fs_req_clock fs_req_clock;

/* Counts a request of OP and starts its clock: every handler calls it
 * first. */
static inline void fs_count(struct lsmfs *fs, enum fs_op op)
{
	struct timespec ts;

	atomic_fetch_add_explicit(&fs->cnt.ops[op], 1, memory_order_relaxed);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fs_req_clock.t0 = (uint64_t)ts.tv_sec * 1000000000u +
			  (uint64_t)ts.tv_nsec;
	fs_req_clock.op = (int)op + 1;
}

/* Charges the time since fs_count to its operation: called with each
 * reply the daemon sends (tmpfile.c's writer), on the thread that sends
 * it.  A reply made on another thread (a /.lsmfs/ctl job) is not
 * timed. */
void fs_count_reply(struct lsmfs *fs);

/* A number of the control directory or of a snapshot: bit 63, which
 * stored inodes never reach (fs/CODEC.md). */
static inline bool fs_is_ctl(uint64_t ino)
{
	return (ino >> 63) != 0;
}

/* The snapshot id of a number in a snapshot, 0 for any other. */
static inline unsigned fs_snap_id(uint64_t ino)
{
	return (ino >> 63) ? (unsigned)((ino >> FS_SNAP_SHIFT) & 0xff) : 0;
}

/* Whether INO belongs to the snapshots: their directory or inside one. */
static inline bool fs_is_snap(uint64_t ino)
{
	return ino == FS_CTL_SNAPDIR_INO || fs_snap_id(ino) != 0;
}

/* Replies ERR for OP (counting it); always returns so callers can
 * `return fs_reply_fail(...)`. */
void fs_reply_fail(fuse_req_t req, enum fs_op op, int rc,
		   const struct lsm_err *err);
/* Answers a getxattr/listxattr of SIZE bytes: the error RC (< 0), the
 * length LEN (SIZE 0: the caller asks how much), or BUF's LEN bytes; frees
 * BUF (malloc'ed or NULL). */
void fs_reply_xattr(fuse_req_t req, enum fs_op op, int rc,
		    const struct lsm_err *err, size_t size, char *buf,
		    size_t len);
/* Replies E, taking a reference for the kernel's lookup count. */
void fs_reply_entry(fuse_req_t req, struct fuse_entry_param *e);
/* Fills E from A with the configured timeouts. */
void fs_fill_entry(struct lsmfs *fs, const struct ns_attr *a,
		   struct fuse_entry_param *e);

/* ---- uring.c: FUSE requests over io_uring ---- */
struct fs_uring;
struct fs_uring_conf {
	uint32_t max_write;     /* as INIT granted them (struct fs_init) */
	uint32_t max_pages;
	unsigned threads;       /* per CPU, each with one request at a time */
	bool idle;              /* the threads in SCHED_IDLE (uring.c) */
	atomic_uint_fast64_t *served; /* counts the requests served */
};
/* Starts C->threads threads per CPU, pinned to it, that each register a
 * ring entry of that CPU's queue with the kernel for SE (whose INIT
 * granted FUSE_OVER_IO_URING) and serve the requests put in it; *OUT
 * holds them from before the first request (the session's writer reads
 * it).  0, or -errno and *OUT NULL. */
int fs_uring_start(struct fuse_session *se, const struct fs_uring_conf *c,
		   struct fs_uring *_Atomic *out);
/* Stops the threads (after the unmount) and frees U; NULL is a no-op. */
void fs_uring_stop(struct fs_uring *u);
/* Sends the reply in IOV if it answers a request U holds: its length,
 * -ENOENT when it is not one (a notification, a /dev/fuse request), or
 * another -errno. */
ssize_t fs_uring_reply(struct fs_uring *u, const struct iovec *iov,
		       int count);
/* The number of queues (one per possible CPU). */
unsigned fs_uring_queues(const struct fs_uring *u);

/* ---- tmpfile.c ---- */
/* Reads SE's requests (after fuse_session_mount) through a reader that
 * turns FUSE_TMPFILE into a FUSE_CREATE of the name FS_TMPFILE_NAME, and
 * writes replies through a writer that gives those of requests served
 * over io_uring to fs->uring.  0 or a negative errno. */
int fs_tmpfile_io(struct fuse_session *se);
/* The same change to a request header H read elsewhere (uring.c). */
void fs_tmpfile_fix(struct fuse_in_header *h);
#define FS_TMPFILE_NAME "/"

/* ---- ops_ctl.c: the control directory ---- */
bool fs_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ctl_getattr(fuse_req_t req, fuse_ino_t ino);
void fs_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ctl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fs_ctl_release(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi);
void fs_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi, bool plus);
/* Fills ST for a control inode. */
void fs_ctl_stat(fuse_ino_t ino, struct stat *st);
/* A write to /.lsmfs/ctl: one request, answered when it is done. */
void fs_ctl_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		  size_t size);
/* setattr of a control inode: only the truncation a shell's `>` asks for
 * (of ctl) is accepted, and changes nothing. */
void fs_ctl_setattr(fuse_req_t req, fuse_ino_t ino, int to_set);
/* Waits until no ctl request runs (before the store closes). */
void fs_ctl_wait(struct lsmfs *fs);

/* What a change of control inode INO gets: -EROFS in the snapshots
 * (read-only views), -EPERM elsewhere. */
int fs_ctl_refusal(fuse_ino_t ino);
/* mknod/mkdir/symlink (OP) of NAME in control directory PARENT: mkdir in
 * /.lsmfs/snapshots takes a snapshot; anything else is refused. */
void fs_ctl_make(fuse_req_t req, enum fs_op op, fuse_ino_t parent,
		 const char *name);
/* unlink/rmdir (OP): rmdir in /.lsmfs/snapshots drops a snapshot. */
void fs_ctl_remove(fuse_req_t req, enum fs_op op, fuse_ino_t parent,
		   const char *name);
void fs_ctl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_ctl_releasedir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi);
void fs_ctl_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_ctl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size);
void fs_ctl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_ctl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence);

/* ---- ops_snap.c: /.lsmfs/snapshots and the views inside ---- */
/* Sets up / releases FS's snapshot views (before lsm_close). */
int fs_snap_init(struct lsmfs *fs);
void fs_snap_close(struct lsmfs *fs);
void fs_snap_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_snap_getattr(fuse_req_t req, fuse_ino_t ino);
void fs_snap_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_snap_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_snap_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fs_snap_release(fuse_req_t req, struct fuse_file_info *fi);
void fs_snap_opendir(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi);
void fs_snap_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus);
void fs_snap_releasedir(fuse_req_t req, struct fuse_file_info *fi);
void fs_snap_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      size_t size);
void fs_snap_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_snap_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence);
void fs_snap_mkdir(fuse_req_t req, const char *name);
void fs_snap_rmdir(fuse_req_t req, const char *name);
/* The entry of /.lsmfs/snapshots in /.lsmfs. */
void fs_snap_dir_stat(struct stat *st);

/* ---- ops_file.c ---- */
/* fsync and fsyncdir: makes everything written before durable
 * (lsm_sync); the store has no per-file or metadata-only sync. */
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);


/* ---- the FUSE operation table, filled by the ops_*.c files ---- */
void fs_ops_node(struct fuse_lowlevel_ops *ops);
void fs_ops_file(struct fuse_lowlevel_ops *ops);
void fs_ops_dir(struct fuse_lowlevel_ops *ops);
void fs_ops_xattr(struct fuse_lowlevel_ops *ops);

#endif /* LSMFS_FS_H */
