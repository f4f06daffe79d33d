/* ns_fsck.h - the filesystem check: whether the keys of a store form a
 * consistent lsmfs namespace (fs/CODEC.md), as fsck(8) checks a disk
 * filesystem.  Reads only, through iterators over one snapshot of an open
 * lsm_db (a read-only open is enough; no ns handle is needed, so a store
 * whose superblock is damaged can still be checked).  Never repairs.
 * Checksums are not its business: lsm_check_dir() verifies those. */
#ifndef LSMFS_NS_FSCK_H
#define LSMFS_NS_FSCK_H

#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

/* What a problem is about. */
enum ns_fsck_kind {
	NS_FSCK_SUPER,  /* superblock missing, not decoding, of an unknown
	                 * format, or its inode limit not above a number
	                 * in use */
	NS_FSCK_KEY,    /* a key of no known kind, or of a malformed length */
	NS_FSCK_INODE,  /* a record that does not decode, of an unknown type,
	                 * a reserved number, a missing or non-directory root */
	NS_FSCK_ENTRY,  /* a directory entry naming no inode, of the wrong
	                 * type, in a missing, non- or removed directory, or
	                 * with an invalid name */
	NS_FSCK_NLINK,  /* a link count other than the entries naming the
	                 * inode (directories: 2 + subdirectories) */
	NS_FSCK_CHUNK,  /* data of no inode or of a non-file, a chunk holding
	                 * bytes past the size or of a bad length, an alloc
	                 * field other than the bytes the chunks hold */
	NS_FSCK_XATTR,  /* an extended attribute of no inode */
	NS_FSCK_ORPHAN, /* an inode no entry names that the orphan list does
	                 * not hold (or holds with links left), an orphan
	                 * marker of no inode or of a linked one */
	NS_FSCK_TREE,   /* a directory cycle, a directory with two names or
	                 * not reachable from the root, a wrong parent field,
	                 * an entry naming the root */
	NS_FSCK_NKINDS
};

/* "super", "key", "inode", "entry", "nlink", "chunk", "xattr", "orphan",
 * "tree". */
const char *ns_fsck_kind_name(enum ns_fsck_kind k);

/* One problem, as handed to the report callback; everything is borrowed
 * for the duration of the call. */
struct ns_fsck_problem {
	enum ns_fsck_kind kind;
	uint64_t ino;      /* the inode concerned, 0 when none */
	/* Its path, or that of the entry concerned: "/a/b" (not
	 * NUL-terminated, bytes as stored), PATH_LEN bytes; NULL when
	 * unknown.  A path that does not reach the root starts "#N", N the
	 * directory inode where the walk up stopped (it has no name). */
	const char *path;
	size_t path_len;
	const char *msg;   /* what is wrong: one line, no inode or path */
};

/* What was checked. */
struct ns_fsck_stats {
	uint64_t keys;      /* keys read, over every scan */
	uint64_t inodes;    /* inode records */
	uint64_t dirs;      /* of them, directories */
	uint64_t entries;   /* directory entries */
	uint64_t chunks;    /* data chunks */
	uint64_t xattrs;
	uint64_t orphans;   /* unlinked inodes the orphan list holds (fine:
	                     * the next mount reclaims them) */
	uint64_t problems;
	uint64_t by_kind[NS_FSCK_NKINDS];
};

struct ns_fsck_options {
	/* Called once per problem (may be NULL).  Problems about directory
	 * entries and the tree come as found; those about one inode (links,
	 * data, xattrs, orphans) come last, in inode order, once a path
	 * has been looked up for them. */
	void (*report)(void *ctx, const struct ns_fsck_problem *p);
	/* Called every NS_FSCK_PROGRESS_KEYS keys read (may be NULL), with
	 * the phase ("inodes", "entries", "names") and the keys read so far.
	 * A store of fewer keys never sees it. */
	void (*progress)(void *ctx, const char *phase, uint64_t keys);
	void *ctx;
};

#define NS_FSCK_PROGRESS_KEYS 65536u

void ns_fsck_options_init(struct ns_fsck_options *o);

/* Checks the namespace in DB (see the kinds above), filling *ST (may be
 * NULL).  Returns 0 when the check ran to the end, whatever it found, or
 * a negative errno (ERR filled) when it could not: -ENOMEM, or an error
 * an iterator stopped on (-EBADMSG, -EUCLEAN, -EIO).  An empty store is
 * clean.
 *
 * Cost: a few ordered scans (the superblock; the inode, chunk, orphan and
 * xattr ranges merged in inode order; the entries once, again only when
 * an entry is wrong, and once more to name the files that have problems).
 * Memory: 24 bytes per inode record and 40 per directory plus its name
 * (tables grown by half when full);
 * at most 4096 problems wait for their path (the later ones are reported
 * at once, by inode number).  Nothing else grows with the store. */
int ns_fsck(struct lsm_db *db, const struct ns_fsck_options *o,
	    struct ns_fsck_stats *st, struct lsm_err *err);

#endif /* LSMFS_NS_FSCK_H */
