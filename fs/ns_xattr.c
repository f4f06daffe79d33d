/* ns_xattr.c - extended attributes as "x" ino name -> value keys.  A
 * change also bumps the inode's ctime, in the same batch.  Limits: a name
 * of 1..255 bytes, a value of at most 64 KiB, and a name list (what
 * listxattr returns: each name and its NUL) of at most 64 KiB, the most
 * the kernel can hand back: a new name past it is -ENOSPC, as on ext4. */
#include "ns_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_xname(const char *name, size_t *len, struct lsm_err *err)
{
	*len = strlen(name);
	if (*len == 0)
		return lsm_err_set(err, -EINVAL, "xattr: empty name");
	if (*len > CODEC_XATTR_NAME_MAX)
		return lsm_err_set(err, -ERANGE, "xattr: name too long");
	return 0;
}

/* Bumps INO's ctime into B; a POSIX ACL set as NAME (value *VAL) also
 * changes its mode, and may not be stored (*VAL NULL). */
static int touch_inode(struct ns *ns, uint64_t ino, const char *name,
		       const void **val, size_t *len, struct lsm_batch *b,
		       struct lsm_err *err)
{
	struct codec_inode in;
	char target[NS_INODE_BUF];
	size_t tlen;
	int rc = ns_get_inode(ns, ino, &in, target, &tlen, err);

	if (rc < 0)
		return rc;
	if (*val && ns_acl_name(name)) {
		rc = ns_acl_set(&in, name, val, len, err);
		if (rc < 0)
			return rc;
	}
	ns_touch(&in, false, true);
	return ns_batch_inode(b, ino, &in, target, tlen);
}

static int set_locked(struct ns *ns, uint64_t ino, const char *name,
		      const uint8_t *key, size_t klen, const void *val,
		      size_t len, unsigned flags, struct lsm_batch *b,
		      struct lsm_err *err)
{
	size_t old;
	uint8_t dummy;
	int rc = lsm_get_buf(ns->db, ns->snap, key, klen, &dummy, 0, &old, err);

	if (rc < 0)
		return rc;
	if (rc == 1 && (flags & NS_XATTR_CREATE))
		return lsm_err_set(err, -EEXIST, "xattr exists");
	if (rc == 0 && (flags & NS_XATTR_REPLACE))
		return lsm_err_set(err, -ENODATA, "no such xattr");
	if (rc == 0 && val) {
		rc = ns_listxattr(ns, ino, NULL, 0, &old, err);
		if (rc < 0)
			return rc;
		if (old + (klen - 9) + 1 > NS_XATTR_LIST_MAX)
			return lsm_err_set(err, -ENOSPC, "xattr: the name list "
					   "would pass %u bytes",
					   NS_XATTR_LIST_MAX);
	}
	rc = touch_inode(ns, ino, name, &val, &len, b, err);
	if (rc == 0)
		rc = val ? lsm_batch_put(b, key, klen, val, len) :
			   lsm_batch_delete(b, key, klen);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	return rc;
}

static int set_or_remove(struct ns *ns, uint64_t ino, const char *name,
			 const void *val, size_t len, unsigned flags,
			 struct lsm_err *err)
{
	uint8_t key[CODEC_XATTR_KEY_MAX];
	struct lsm_batch *b;
	struct ns_lockset ls;
	size_t nlen, klen;
	int rc = check_xname(name, &nlen, err);

	if (rc < 0)
		return rc;
	if (ns_ttl_xattr(name))
		return ns_ttl_setxattr(ns, ino, name, val, len, flags, err);
	if (len > CODEC_XATTR_VALUE_MAX)
		return lsm_err_set(err, -E2BIG, "xattr: value too large");
	klen = codec_xattr_key(key, ino, name, nlen);
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	ns_lock(ns, &ls, &ino, 1, true);
	rc = set_locked(ns, ino, name, key, klen, val, len, flags, b, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

int ns_setxattr(struct ns *ns, uint64_t ino, const char *name,
		const void *val, size_t len, unsigned flags,
		struct lsm_err *err)
{
	return set_or_remove(ns, ino, name, val ? val : "", len, flags, err);
}

int ns_removexattr(struct ns *ns, uint64_t ino, const char *name,
		   struct lsm_err *err)
{
	return set_or_remove(ns, ino, name, NULL, 0, NS_XATTR_REPLACE, err);
}

int ns_getxattr(struct ns *ns, uint64_t ino, const char *name, void *buf,
		size_t cap, size_t *len, struct lsm_err *err)
{
	uint8_t key[CODEC_XATTR_KEY_MAX];
	uint8_t dummy;
	size_t nlen;
	int rc = check_xname(name, &nlen, err);

	if (rc < 0)
		return rc;
	if (ns_ttl_xattr(name))
		return ns_ttl_getxattr(ns, ino, name, buf, cap, len, err);
	rc = lsm_get_buf(ns->db, ns->snap, key,
			 codec_xattr_key(key, ino, name, nlen),
			 cap ? buf : &dummy, cap, len, err);
	if (rc == 0)
		return lsm_err_set(err, -ENODATA, "no such xattr");
	if (rc < 0)
		return rc;
	if (cap && *len > cap)
		return lsm_err_set(err, -ERANGE, "xattr: buffer too small");
	return 0;
}

int ns_listxattr(struct ns *ns, uint64_t ino, char *buf, size_t cap,
		 size_t *len, struct lsm_err *err)
{
	uint8_t pfx[9];
	struct lsm_iter *it;
	size_t total = 0;
	int rc = ns_iter_ino(ns, 0, CODEC_K_XATTR, ino, &it, err);

	if (rc < 0)
		return rc;
	codec_prefix(pfx, CODEC_K_XATTR, ino);
	for (lsm_iter_seek(it, pfx, 9); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *k = lsm_iter_key(it, &klen);

		if (klen < 10 || memcmp(k, pfx, 9) != 0)
			break;
		if (cap && total + klen - 9 + 1 <= cap) {
			memcpy(buf + total, k + 9, klen - 9);
			buf[total + klen - 9] = '\0';
		}
		total += klen - 9 + 1;
	}
	rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	if (rc == 0 && cap && total > cap)
		rc = lsm_err_set(err, -ERANGE, "listxattr: buffer too small");
	if (rc == 0)
		*len = total;
	return rc;
}

/* The xattr the kernel checks before each write when the filesystem does
 * not kill privileges itself (cap_inode_need_killpriv). */
#define NS_CAPS_XATTR "security.capability"

int ns_kill_caps(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		 struct lsm_err *err)
{
	uint8_t key[CODEC_XATTR_KEY_MAX], dummy;
	size_t klen = codec_xattr_key(key, ino, NS_CAPS_XATTR,
				      sizeof(NS_CAPS_XATTR) - 1), len;
	int rc = lsm_get_buf(ns->db, ns->snap, key, klen, &dummy, 0, &len, err);

	if (rc == 1)
		rc = lsm_batch_delete(b, key, klen) < 0 ? ns_enomem(err) : 1;
	return rc;
}
