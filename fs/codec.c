/* codec.c - pure encodings of the namespace schema (see codec.h and
 * fs/CODEC.md): keys, inode records, directory entries, the superblock,
 * name rules and chunk arithmetic.  No engine calls, no FUSE. */
#include "codec.h"

#include <errno.h>
#include <string.h>

void codec_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t codec_get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void codec_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t codec_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void codec_put_le64(uint8_t *p, uint64_t v)
{
	codec_put_le32(p, (uint32_t)v);
	codec_put_le32(p + 4, (uint32_t)(v >> 32));
}

uint64_t codec_get_le64(const uint8_t *p)
{
	return (uint64_t)codec_get_le32(p) |
	       (uint64_t)codec_get_le32(p + 4) << 32;
}

int codec_check_name(const char *name, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len > CODEC_NAME_MAX)
		return -ENAMETOOLONG;
	if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
		return -EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	return 0;
}

bool codec_is_reserved(uint64_t parent, const char *name, size_t len)
{
	return parent == CODEC_ROOT_INO && len == strlen(CODEC_CTL_NAME) &&
	       memcmp(name, CODEC_CTL_NAME, len) == 0;
}

int codec_path_next(const char **path, const char **comp, size_t *len)
{
	const char *p = *path;
	const char *slash;

	while (*p == '/')
		p++;
	if (*p == '\0') {
		*path = p;
		return 0;
	}
	slash = strchr(p, '/');
	*comp = p;
	*len = slash ? (size_t)(slash - p) : strlen(p);
	*path = p + *len;
	return 1;
}

int codec_check_path(const char *path)
{
	const char *p = path;
	size_t n = strlen(path);
	bool top = true;

	if (*p == '/')
		p++;
	if (n > 1 && path[n - 1] == '/')
		n--;
	n -= (size_t)(p - path);
	if (n == 0)
		return -EINVAL;
	while (n > 0) {
		const char *slash = memchr(p, '/', n);
		size_t len = slash ? (size_t)(slash - p) : n;
		int rc = codec_check_name(p, len);

		if (rc < 0)
			return rc;
		if (top && codec_is_reserved(CODEC_ROOT_INO, p, len))
			return -EPERM;
		top = false;
		p += len;
		n -= len;
		if (slash) {
			p++;
			n--;
			if (n == 0)
				return -EINVAL;
		}
	}
	return 0;
}

size_t codec_prefix(uint8_t *out, char k, uint64_t ino)
{
	out[0] = (uint8_t)k;
	codec_put_be64(out + 1, ino);
	return 9;
}

size_t codec_inode_key(uint8_t *out, uint64_t ino)
{
	return codec_prefix(out, CODEC_K_INODE, ino);
}

size_t codec_orphan_key(uint8_t *out, uint64_t ino)
{
	return codec_prefix(out, CODEC_K_ORPHAN, ino);
}

size_t codec_chunk_key(uint8_t *out, uint64_t ino, uint64_t idx)
{
	codec_prefix(out, CODEC_K_CHUNK, ino);
	codec_put_be64(out + 9, idx);
	return CODEC_CHUNK_KEY_LEN;
}

size_t codec_expiry_key(uint8_t *out, uint64_t expire_ns, uint64_t ino)
{
	codec_prefix(out, CODEC_K_EXPIRY, expire_ns);
	codec_put_be64(out + 9, ino);
	return CODEC_EXPIRY_KEY_LEN;
}

int codec_parse_expiry_key(const uint8_t *key, size_t klen,
			   uint64_t *expire_ns, uint64_t *ino)
{
	if (klen != CODEC_EXPIRY_KEY_LEN || key[0] != CODEC_K_EXPIRY)
		return -EUCLEAN;
	*expire_ns = codec_get_be64(key + 1);
	*ino = codec_get_be64(key + 9);
	return 0;
}

size_t codec_dentry_key(uint8_t *out, uint64_t parent, const char *name,
			size_t len)
{
	codec_prefix(out, CODEC_K_DENTRY, parent);
	memcpy(out + 9, name, len);
	return 9 + len;
}

size_t codec_xattr_key(uint8_t *out, uint64_t ino, const char *name,
		       size_t len)
{
	codec_prefix(out, CODEC_K_XATTR, ino);
	memcpy(out + 9, name, len);
	return 9 + len;
}

int codec_parse_dentry_key(const uint8_t *key, size_t klen, uint64_t *parent,
			   const char **name, size_t *nlen)
{
	if (klen < 10 || klen > CODEC_DENTRY_KEY_MAX ||
	    key[0] != CODEC_K_DENTRY)
		return -EUCLEAN;
	*parent = codec_get_be64(key + 1);
	*name = (const char *)key + 9;
	*nlen = klen - 9;
	return 0;
}

int codec_parse_chunk_key(const uint8_t *key, size_t klen, uint64_t *ino,
			  uint64_t *idx)
{
	if (klen != CODEC_CHUNK_KEY_LEN || key[0] != CODEC_K_CHUNK)
		return -EUCLEAN;
	*ino = codec_get_be64(key + 1);
	*idx = codec_get_be64(key + 9);
	return 0;
}

int codec_parse_ino_key(const uint8_t *key, size_t klen, char k,
			uint64_t *ino)
{
	if (klen < 9 || key[0] != (uint8_t)k)
		return -EUCLEAN;
	*ino = codec_get_be64(key + 1);
	return 0;
}

void codec_dentry_encode(uint8_t out[CODEC_DENTRY_LEN], uint64_t ino,
			 uint32_t mode)
{
	codec_put_le64(out, ino);
	out[8] = (uint8_t)((mode >> 12) & 0xf);
}

int codec_dentry_decode(const uint8_t *v, size_t len, uint64_t *ino,
			uint32_t *type_mode)
{
	/* The type is a 4-bit st_mode >> 12: more would leak into st_mode. */
	if (len != CODEC_DENTRY_LEN || v[8] > 0xf)
		return -EUCLEAN;
	*ino = codec_get_le64(v);
	*type_mode = (uint32_t)v[8] << 12;
	return 0;
}

/*
 * inode record := version:u8 mode:le32 uid:le32 gid:le32 nlink:le32
 *                 size:le64 alloc:le64 rdev:le64 parent:le64
 *                 (sec:le64 nsec:le32){atime, mtime, ctime}
 *                 target:bytes (symlinks only; the rest of the value)
 */
size_t codec_inode_encode(uint8_t *out, const struct codec_inode *in,
			  const char *target, size_t tlen)
{
	uint8_t *p = out;
	size_t fixed = CODEC_INODE_FIXED;

	*p++ = in->expire_ns ? 2 : 1;
	codec_put_le32(p, in->mode);
	codec_put_le32(p + 4, in->uid);
	codec_put_le32(p + 8, in->gid);
	codec_put_le32(p + 12, in->nlink);
	p += 16;
	codec_put_le64(p, in->size);
	codec_put_le64(p + 8, in->alloc);
	codec_put_le64(p + 16, in->rdev);
	codec_put_le64(p + 24, in->parent);
	p += 32;
	codec_put_le64(p, (uint64_t)in->atime_sec);
	codec_put_le32(p + 8, in->atime_nsec);
	codec_put_le64(p + 12, (uint64_t)in->mtime_sec);
	codec_put_le32(p + 20, in->mtime_nsec);
	codec_put_le64(p + 24, (uint64_t)in->ctime_sec);
	codec_put_le32(p + 32, in->ctime_nsec);
	p += 36;
	if (in->expire_ns) {
		codec_put_le64(p, in->expire_ns);
		p += CODEC_INODE_V2_EXTRA;
		fixed += CODEC_INODE_V2_EXTRA;
	}
	if (tlen)
		memcpy(p, target, tlen);
	return fixed + tlen;
}

int codec_inode_decode(const uint8_t *v, size_t len, struct codec_inode *in,
		       const char **target, size_t *tlen)
{
	const uint8_t *p = v + 1;
	size_t fixed = CODEC_INODE_FIXED;

	if (len < CODEC_INODE_FIXED || (v[0] != 1 && v[0] != 2))
		return -EUCLEAN;
	if (v[0] == 2)
		fixed += CODEC_INODE_V2_EXTRA;
	if (len < fixed)
		return -EUCLEAN;
	in->mode = codec_get_le32(p);
	in->uid = codec_get_le32(p + 4);
	in->gid = codec_get_le32(p + 8);
	in->nlink = codec_get_le32(p + 12);
	p += 16;
	in->size = codec_get_le64(p);
	in->alloc = codec_get_le64(p + 8);
	in->rdev = codec_get_le64(p + 16);
	in->parent = codec_get_le64(p + 24);
	p += 32;
	in->atime_sec = (int64_t)codec_get_le64(p);
	in->atime_nsec = codec_get_le32(p + 8);
	in->mtime_sec = (int64_t)codec_get_le64(p + 12);
	in->mtime_nsec = codec_get_le32(p + 20);
	in->ctime_sec = (int64_t)codec_get_le64(p + 24);
	in->ctime_nsec = codec_get_le32(p + 32);
	in->expire_ns = 0;
	if (v[0] == 2) {
		in->expire_ns = codec_get_le64(p + 36);
		if (in->expire_ns == 0)
			return -EUCLEAN;
	}
	if (target)
		*target = (const char *)v + fixed;
	if (tlen)
		*tlen = len - fixed;
	return 0;
}

/* superblock := "LSMF" version:le32 chunk_size:le32 pad:le32
 *               ino_limit:le64 */
void codec_super_encode(uint8_t out[CODEC_SUPER_LEN],
			const struct codec_super *sb)
{
	memcpy(out, "LSMF", 4);
	codec_put_le32(out + 4, sb->version);
	codec_put_le32(out + 8, sb->chunk_size);
	codec_put_le32(out + 12, 0);
	codec_put_le64(out + 16, sb->ino_limit);
}

int codec_super_decode(const uint8_t *v, size_t len, struct codec_super *sb)
{
	if (len != CODEC_SUPER_LEN || memcmp(v, "LSMF", 4) != 0)
		return -EUCLEAN;
	sb->version = codec_get_le32(v + 4);
	sb->chunk_size = codec_get_le32(v + 8);
	sb->ino_limit = codec_get_le64(v + 16);
	if ((sb->version != CODEC_FORMAT_VERSION &&
	     sb->version != CODEC_FORMAT_VERSION_TTL) ||
	    sb->chunk_size < CODEC_MIN_CHUNK ||
	    sb->chunk_size > CODEC_MAX_CHUNK ||
	    (sb->chunk_size & (sb->chunk_size - 1)) != 0)
		return -EUCLEAN;
	return 0;
}

struct codec_span codec_span_first(uint64_t off, uint64_t len, uint32_t cs)
{
	struct codec_span s;
	uint64_t room;

	s.idx = off / cs;
	s.off = (uint32_t)(off % cs);
	room = cs - s.off;
	s.len = (uint32_t)(len < room ? len : room);
	return s;
}

uint64_t codec_span_count(uint64_t off, uint64_t len, uint32_t cs)
{
	if (len == 0)
		return 0;
	return (off + len - 1) / cs - off / cs + 1;
}

uint64_t codec_chunks_for(uint64_t size, uint32_t cs)
{
	return size / cs + (size % cs != 0);
}
