/* ns_acl.c - what the namespace does with POSIX ACLs besides storing them
 * as extended attributes (acl.h has the format and the arithmetic): a set
 * access ACL gives the mode its permission bits (and is not stored when
 * the mode says it all), chmod rewrites the access ACL, and a new inode
 * inherits its directory's default ACL, masked by the requested mode, in
 * place of the umask.  All of it in the batch of the operation. */
#include "ns_priv.h"

#include "acl.h"

#include <stdlib.h>

/* ACL values the namespace handles: the kernel's own cap (a page). */
#define NS_ACL_MAX 4096u

bool ns_acl_name(const char *name)
{
	return strcmp(name, ACL_XATTR_ACCESS) == 0 ||
	       strcmp(name, ACL_XATTR_DEFAULT) == 0;
}

int ns_acl_set(struct codec_inode *in, const char *name, const void **val,
	       size_t *len, struct lsm_err *err)
{
	uint32_t perm;

	if (*len > NS_ACL_MAX)
		return lsm_err_set(err, -E2BIG, "%s: too many entries", name);
	if (acl_check(*val, *len) < 0)
		return lsm_err_set(err, -EINVAL, "%s: not a valid ACL", name);
	if (strcmp(name, ACL_XATTR_DEFAULT) == 0) {
		if (!ns_is_dir(in))
			return lsm_err_set(err, -EACCES, "default ACL on a "
					   "non-directory");
		if (acl_count(*len) == 0)
			*val = NULL;
		return 0;
	}
	if (acl_count(*len) == 0) {
		*val = NULL;
		return 0;
	}
	if (acl_equiv_mode(*val, *len, &perm))
		*val = NULL; /* the mode says it all, as on ext4 */
	in->mode = (in->mode & ~0777u) | perm;
	return 0;
}

/* Reads INO's ACL NAME into BUF (NS_ACL_MAX bytes): 1 found, 0 none. */
static int get_acl(struct ns *ns, uint64_t ino, const char *name,
		   uint8_t *buf, size_t *len, struct lsm_err *err)
{
	uint8_t key[CODEC_XATTR_KEY_MAX];
	size_t klen = codec_xattr_key(key, ino, name, strlen(name));
	int rc = lsm_get_buf(ns->db, ns->snap, key, klen, buf, NS_ACL_MAX, len,
			     err);

	if (rc == 1 && (*len > NS_ACL_MAX || acl_check(buf, *len) < 0))
		return lsm_err_set(err, -EUCLEAN, "inode %llu: corrupt %s",
				   (unsigned long long)ino, name);
	return rc;
}

static int put_acl(struct lsm_batch *b, uint64_t ino, const char *name,
		   const uint8_t *v, size_t len)
{
	uint8_t key[CODEC_XATTR_KEY_MAX];
	size_t klen = codec_xattr_key(key, ino, name, strlen(name));

	return lsm_batch_put(b, key, klen, v, len);
}

int ns_acl_chmod(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		 const struct codec_inode *in, struct lsm_err *err)
{
	uint8_t buf[NS_ACL_MAX];
	size_t len;
	int rc;

	if (S_ISLNK(in->mode))
		return 0;
	rc = get_acl(ns, ino, ACL_XATTR_ACCESS, buf, &len, err);
	if (rc <= 0)
		return rc;
	acl_chmod(buf, len, in->mode);
	return put_acl(b, ino, ACL_XATTR_ACCESS, buf, len);
}

int ns_acl_inherit(struct ns *ns, struct lsm_batch *b, uint64_t parent,
		   uint64_t ino, struct codec_inode *in, uint32_t umask,
		   struct lsm_err *err)
{
	uint8_t def[NS_ACL_MAX], acc[NS_ACL_MAX];
	size_t len;
	int rc = get_acl(ns, parent, ACL_XATTR_DEFAULT, def, &len, err);

	if (rc < 0)
		return rc;
	if (rc == 0 || acl_count(len) == 0) {
		in->mode &= ~(umask & 0777u);
		return 0;
	}
	memcpy(acc, def, len);
	rc = 0;
	if (!acl_create_masq(acc, len, &in->mode))
		rc = put_acl(b, ino, ACL_XATTR_ACCESS, acc, len);
	if (rc == 0 && ns_is_dir(in))
		rc = put_acl(b, ino, ACL_XATTR_DEFAULT, def, len);
	return rc;
}
