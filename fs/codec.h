/* codec.h - the namespace codec: how inodes, directory entries, file
 * chunks, xattrs and orphans become engine keys and values.  Pure byte
 * encodings: no engine calls, no FUSE.  The exact grammar is in
 * fs/CODEC.md; this header and that page must agree.
 *
 * Keys use big-endian numbers so a range scan visits a directory's entries
 * or a file's chunks in order; values use little-endian integers. */
#ifndef LSMFS_CODEC_H
#define LSMFS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_NAME_MAX 255u        /* bytes of one path component */
#define CODEC_SYMLINK_MAX 4095u    /* bytes of a symlink target */
#define CODEC_XATTR_NAME_MAX 255u
#define CODEC_XATTR_VALUE_MAX 65536u
#define CODEC_ROOT_INO 1u
#define CODEC_FIRST_INO 16u        /* inodes 2..15 are reserved */
#define CODEC_FORMAT_VERSION 1u
/* The superblock version of a store that may hold expiring inodes
 * (version-2 inode records and 'e' expiry index keys): raised from 1 in
 * the batch that writes the first expiry, so that an older lsmfs, which
 * knows neither, refuses the store instead of ignoring expiries. */
#define CODEC_FORMAT_VERSION_TTL 2u
/* 4 KiB: an aligned 4 KiB write is a whole chunk (no read of the old
 * chunk, a quarter of the bytes through log, flush and compactions of a
 * 16 KiB chunk's rewrite: random 4 KiB writes 2-2.5x faster, streaming and
 * the tree workloads within noise; README "Performance"). Stores
 * formatted with 16 KiB (the default before) keep it. */
#define CODEC_DEFAULT_CHUNK 4096u
#define CODEC_MIN_CHUNK 4096u
#define CODEC_MAX_CHUNK (1024u * 1024)
/* The root directory name reserved for the hidden control directory. */
#define CODEC_CTL_NAME ".lsmfs"

/* Key prefixes (the first byte of every key). */
#define CODEC_K_SUPER '\0'   /* "\0sb": the superblock */
#define CODEC_K_CHUNK 'c'    /* c ino chunk-index: file data */
#define CODEC_K_DENTRY 'd'   /* d parent name: directory entry */
#define CODEC_K_EXPIRY 'e'   /* e expire_ns ino: expiry index (empty) */
#define CODEC_K_INODE 'i'    /* i ino: inode record */
#define CODEC_K_ORPHAN 'o'   /* o ino: unlinked inode awaiting reclaim */
#define CODEC_K_XATTR 'x'    /* x ino name: extended attribute */

#define CODEC_INO_KEY_LEN 9u
#define CODEC_CHUNK_KEY_LEN 17u
#define CODEC_EXPIRY_KEY_LEN 17u
#define CODEC_DENTRY_KEY_MAX (9u + CODEC_NAME_MAX)
#define CODEC_XATTR_KEY_MAX (9u + CODEC_XATTR_NAME_MAX)
#define CODEC_SUPER_KEY "\0sb"
#define CODEC_SUPER_KEY_LEN 3u

/* An inode's attributes as stored in its record ("i" key). */
struct codec_inode {
	uint32_t mode;     /* file type and permission bits (st_mode) */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;     /* bytes (symlink: target length) */
	uint64_t alloc;    /* bytes held in stored chunks (for st_blocks) */
	uint64_t rdev;
	uint64_t parent;   /* directories: the parent's ino (root: itself) */
	int64_t atime_sec, mtime_sec, ctime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec;
	/* Absolute expiry, nanoseconds since the epoch (CLOCK_REALTIME);
	 * 0: never.  Stored only in version-2 records (see CODEC.md). */
	uint64_t expire_ns;
};

#define CODEC_INODE_FIXED 85u /* encoded bytes before the symlink target
                               * (version 1; version 2 adds 8) */
#define CODEC_INODE_V2_EXTRA 8u
#define CODEC_INODE_MAX_FIXED (CODEC_INODE_FIXED + CODEC_INODE_V2_EXTRA)

/* The superblock ("\0sb" key). */
struct codec_super {
	uint32_t version;     /* CODEC_FORMAT_VERSION */
	uint32_t chunk_size;  /* bytes per data chunk, fixed at format time */
	uint64_t ino_limit;   /* inode numbers below this may be in use */
};

#define CODEC_SUPER_LEN 24u

/* ---- numbers ---- */
void codec_put_be64(uint8_t *p, uint64_t v);
uint64_t codec_get_be64(const uint8_t *p);
void codec_put_le32(uint8_t *p, uint32_t v);
uint32_t codec_get_le32(const uint8_t *p);
void codec_put_le64(uint8_t *p, uint64_t v);
uint64_t codec_get_le64(const uint8_t *p);

/* ---- names and paths ---- */

/* 0 when NAME (LEN bytes) may name a directory entry; -EINVAL when empty,
 * ".", "..", or holding '/' or NUL; -ENAMETOOLONG past CODEC_NAME_MAX. */
int codec_check_name(const char *name, size_t len);

/* Splits the next component off *PATH (a user key such as "a/b/c"):
 * skips leading '/', sets *COMP and *LEN to the component and advances *PATH
 * past it.  Returns 1 when a component was found, 0 at the end. */
int codec_path_next(const char **path, const char **comp, size_t *len);

/* 0 when PATH is a valid user key: components separated by single '/',
 * each passing codec_check_name, none being the control name at the top
 * level; a single leading or trailing '/' is allowed.  -EINVAL,
 * -ENAMETOOLONG or -EPERM (reserved name) otherwise. */
int codec_check_path(const char *path);

/* true when (PARENT, NAME) is the reserved control entry. */
bool codec_is_reserved(uint64_t parent, const char *name, size_t len);

/* ---- keys: each writes into OUT and returns the key length ---- */
size_t codec_inode_key(uint8_t *out, uint64_t ino);
size_t codec_orphan_key(uint8_t *out, uint64_t ino);
size_t codec_chunk_key(uint8_t *out, uint64_t ino, uint64_t idx);
/* 'e' expire_ns:be64 ino:be64: orders expiring inodes by expiry. */
size_t codec_expiry_key(uint8_t *out, uint64_t expire_ns, uint64_t ino);
int codec_parse_expiry_key(const uint8_t *key, size_t klen,
			   uint64_t *expire_ns, uint64_t *ino);
/* OUT needs 9 + LEN bytes (at most CODEC_DENTRY_KEY_MAX). */
size_t codec_dentry_key(uint8_t *out, uint64_t parent, const char *name,
			size_t len);
size_t codec_xattr_key(uint8_t *out, uint64_t ino, const char *name,
		       size_t len);
/* The 9-byte prefix shared by every key of kind K (CODEC_K_*) of INO. */
size_t codec_prefix(uint8_t *out, char k, uint64_t ino);

/* Decoders for scanned keys: 0, or -EUCLEAN when KEY is not of the kind. */
int codec_parse_dentry_key(const uint8_t *key, size_t klen, uint64_t *parent,
			   const char **name, size_t *nlen);
int codec_parse_chunk_key(const uint8_t *key, size_t klen, uint64_t *ino,
			  uint64_t *idx);
int codec_parse_ino_key(const uint8_t *key, size_t klen, char k,
			uint64_t *ino);

/* ---- values ---- */

/* Directory entry value: child ino (le64) + type (st_mode >> 12, 1 byte). */
#define CODEC_DENTRY_LEN 9u
void codec_dentry_encode(uint8_t out[CODEC_DENTRY_LEN], uint64_t ino,
			 uint32_t mode);
int codec_dentry_decode(const uint8_t *v, size_t len, uint64_t *ino,
			uint32_t *type_mode);

/* Inode record: CODEC_INODE_FIXED bytes (+ 8 for an expiry: version 2)
 * + TLEN bytes of symlink TARGET.  OUT needs CODEC_INODE_MAX_FIXED + TLEN
 * bytes; returns the length.  A record without expiry is version 1, byte
 * for byte what older versions wrote. */
size_t codec_inode_encode(uint8_t *out, const struct codec_inode *in,
			  const char *target, size_t tlen);
/* Decodes V; *TARGET and *TLEN point into V (the symlink target).  -EUCLEAN
 * on a short record, an unknown version, or a version-2 record of expiry 0
 * (not the canonical form). */
int codec_inode_decode(const uint8_t *v, size_t len, struct codec_inode *in,
		       const char **target, size_t *tlen);

void codec_super_encode(uint8_t out[CODEC_SUPER_LEN],
			const struct codec_super *sb);
int codec_super_decode(const uint8_t *v, size_t len, struct codec_super *sb);

/* ---- chunking ---- */

/* One piece of a byte range [OFF, OFF+LEN) split at chunk boundaries. */
struct codec_span {
	uint64_t idx;   /* chunk index */
	uint32_t off;   /* offset inside the chunk */
	uint32_t len;   /* bytes inside the chunk */
};

/* The first span of [OFF, OFF+LEN) with chunk size CS (LEN > 0). */
struct codec_span codec_span_first(uint64_t off, uint64_t len, uint32_t cs);
/* Number of chunks [OFF, OFF+LEN) touches (0 when LEN is 0). */
uint64_t codec_span_count(uint64_t off, uint64_t len, uint32_t cs);
/* Index of the first chunk wholly beyond a file of SIZE bytes. */
uint64_t codec_chunks_for(uint64_t size, uint32_t cs);

#endif /* LSMFS_CODEC_H */
