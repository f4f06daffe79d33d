/* ns_fsck_priv.h - what the two files of the filesystem check share:
 * the check's state, its inode and directory tables, the cursors over one
 * kind of key, reporting and paths.  ns_fsck.c holds those, the
 * superblock, stray keys and the paths of problems about one inode;
 * ns_fsck_scan.c the inode, entry, tree and link-count checks.  Not for
 * users of lsmfs_ns (see ns_fsck.h). */
#ifndef LSMFS_NS_FSCK_PRIV_H
#define LSMFS_NS_FSCK_PRIV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "ns_fsck.h"

#define FSCK_QUEUE_MAX 4096u   /* problems waiting for a path */
#define FSCK_MSG_MAX 256u

#define FI_ORPHAN 0x1u  /* an orphan marker lists the inode */
#define FI_BADREC 0x2u  /* the record does not decode: type, nlink unknown */

#define T_DIR (S_IFDIR >> 12)

/* One inode record (24 bytes); the table is sorted by ino. */
struct fsck_ino {
	uint64_t ino;
	uint32_t nlink;   /* as recorded */
	uint32_t links;   /* entries naming it */
	uint8_t type;     /* st_mode >> 12 */
	uint8_t flags;    /* FI_* */
};

enum { TS_NONE, TS_WALK, TS_ROOT, TS_DETACHED, TS_CYCLE };

/* One directory (40 bytes + its name in the names arena), sorted. */
struct fsck_dir {
	uint64_t ino;
	uint64_t parent;   /* the record's parent field ('..') */
	uint64_t up;       /* the directory holding its (first) entry, 0 */
	uint64_t name_off; /* that entry's name in fsck.names */
	uint32_t subdirs;  /* entries in it naming directories */
	uint16_t name_len;
	uint8_t state;     /* TS_*: where the walk up from it ends */
};

/* A problem about one inode, waiting for a path. */
struct fsck_pending {
	uint64_t ino, seq;
	enum ns_fsck_kind kind;
	char *msg;
	char *path; /* malloc'ed, or NULL */
	size_t path_len;
};

struct fsck {
	struct lsm_db *db;
	const struct lsm_snapshot *snap;
	struct ns_fsck_options o;
	struct ns_fsck_stats *st;
	struct lsm_err *err;
	const char *phase;
	uint64_t next_progress;
	uint32_t cs;           /* chunk size; 0 when unknown */
	uint64_t ino_limit;    /* UINT64_MAX when unknown */
	uint64_t max_ino;      /* the largest inode number in use */
	bool have_super;       /* a superblock key exists */
	uint32_t version;      /* the superblock's format version */
	bool stop;             /* unknown format: check nothing more */
	uint64_t bad_entries;  /* entries found wrong (phase 3) */
	struct fsck_ino *inos;
	size_t ninos, cap_inos;
	struct fsck_dir *dirs;
	size_t ndirs, cap_dirs;
	char *names;
	size_t names_len, names_cap;
	struct fsck_pending *pend;
	size_t npend;
	char *pbuf;            /* path scratch */
	size_t pcap;
};

/* An iterator over the keys of one kind (their first byte), skipping
 * (and, unless quiet, reporting) keys of a malformed length. */
struct fsck_cur {
	struct lsm_iter *it;
	uint8_t kind;
	bool quiet;
	bool valid;
	uint64_t ino;
	/* VAL is NULL for data chunks: their values are not read (only
	 * their lengths count here; lsm_check_dir reads every value) */
	const uint8_t *key, *val;
	size_t klen, vlen;
};

/* ---- reporting (ns_fsck.c) ---- */

/* Reports a problem at once (PATH may be NULL). */
void fsck_problem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		  const char *path, size_t plen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void fsck_vproblem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		   const char *path, size_t plen, const char *fmt,
		   va_list ap) __attribute__((format(printf, 6, 0)));
/* A problem about inode INO, reported at the end with a path (or at
 * once, without one, when the queue is full or memory short). */
void fsck_defer(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool fsck_known_type(unsigned type);       /* TYPE: st_mode >> 12 */
/* The expiry index against the inodes' expiries (ns_fsck_expiry.c). */
int fsck_check_expiry(struct fsck *f);
const char *fsck_type_name(unsigned type); /* "a directory" */

/* ---- cursors, tables, paths (ns_fsck.c) ---- */

/* Positions C at the first key of KIND (CODEC_K_*); QUIET: skip keys of
 * a malformed length without reporting them. */
int fsck_cur_open(struct fsck *f, struct fsck_cur *c, char kind, bool quiet);
void fsck_cur_next(struct fsck *f, struct fsck_cur *c);
/* Frees C; RC, or the error its iterator stopped on. */
int fsck_cur_close(struct fsck *f, struct fsck_cur *c, int rc);
int fsck_enomem(struct fsck *f); /* -ENOMEM, f->err filled */
/* P (*CAP elements of SIZE bytes, N used) with room for one more: P
 * itself or a larger copy (*CAP updated); NULL without memory (P is
 * left as it was). */
void *fsck_grow(void *p, size_t *cap, size_t n, size_t size);
struct fsck_ino *fsck_find_ino(const struct fsck *f, uint64_t ino);
struct fsck_dir *fsck_find_dir(const struct fsck *f, uint64_t ino);
void fsck_note_ino(struct fsck *f, uint64_t ino); /* an inode in use */
/* Remembers (NAME, LEN) as directory D's name, entry in directory UP. */
int fsck_name_dir(struct fsck *f, struct fsck_dir *d, uint64_t up,
		  const char *name, size_t len);
/* The path of directory DIR, then "/NAME" when NAME is non-NULL, in
 * f->pbuf (valid until the next call); *LEN its length.  NULL in a cycle
 * or without memory.  Only once fsck_check_tree has run. */
const char *fsck_make_path(struct fsck *f, uint64_t dir, const char *name,
			   size_t nlen, size_t *len);

/* ---- the phases (ns_fsck_scan.c) ---- */

/* The inode records merged with the chunk, orphan and xattr ranges:
 * builds f->inos and f->dirs. */
int fsck_scan_inodes(struct fsck *f);
/* The root exists; the superblock's limit is above every inode in use. */
void fsck_check_limit(struct fsck *f);
/* The entries: counted (REPORT false; wrong ones only counted in
 * f->bad_entries) or, again, reported by path (REPORT true). */
int fsck_scan_entries(struct fsck *f, bool report);
/* Cycles, reachability, '..' fields over f->dirs. */
void fsck_check_tree(struct fsck *f);
/* E's link count against its entries; orphan markers. */
void fsck_check_links(struct fsck *f, const struct fsck_ino *e);

#endif /* LSMFS_NS_FSCK_PRIV_H */
