/* ops_xattr.c - extended attributes.  POSIX ACLs (system.posix_acl_*)
 * are stored when the kernel enforces them (FUSE_CAP_POSIX_ACL, fs->acl);
 * other "system." names, and ACLs without that, are refused with
 * EOPNOTSUPP: storing an ACL the kernel would not enforce would mislead. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "fs.h"

static bool refused(struct lsmfs *fs, const char *name)
{
	if (strncmp(name, "system.", 7) != 0)
		return false;
	return !fs->acl || (strcmp(name, ACL_XATTR_ACCESS) != 0 &&
			    strcmp(name, ACL_XATTR_DEFAULT) != 0);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	unsigned nf = 0;
	int rc;

	fs_count(fs, FS_OP_SETXATTR);
	if (fs_is_ctl(ino))
		return fs_reply_fail(req, FS_OP_SETXATTR, fs_ctl_refusal(ino),
				     NULL);
	if (refused(fs, name))
		return fs_reply_fail(req, FS_OP_SETXATTR, -EOPNOTSUPP, NULL);
	if (flags & XATTR_CREATE)
		nf |= NS_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		nf |= NS_XATTR_REPLACE;
	rc = ns_setxattr(fs->ns, ino, name, value, size, nf, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_SETXATTR, rc, &err);
	if (!strcmp(name, NS_XATTR_TTL) || !strcmp(name, NS_XATTR_EXPIRES))
		fs_expire_kick();
	fuse_reply_err(req, 0);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	char *buf = NULL;
	size_t len;
	int rc;

	fs_count(fs, FS_OP_GETXATTR);
	if (fs_is_ctl(ino))
		return fs_ctl_getxattr(req, ino, name, size);
	if (refused(fs, name))
		return fs_reply_fail(req, FS_OP_GETXATTR, -EOPNOTSUPP, NULL);
	if (size && !(buf = malloc(size)))
		return fs_reply_fail(req, FS_OP_GETXATTR, -ENOMEM, NULL);
	rc = ns_getxattr(fs->ns, ino, name, buf, size, &len, &err);
	fs_reply_xattr(req, FS_OP_GETXATTR, rc, &err, size, buf, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	fs_count(fs, FS_OP_LISTXATTR);
	if (fs_is_ctl(ino))
		return fs_ctl_listxattr(req, ino, size);
	if (size && !(buf = malloc(size)))
		return fs_reply_fail(req, FS_OP_LISTXATTR, -ENOMEM, NULL);
	rc = ns_listxattr(fs->ns, ino, buf, size, &len, &err);
	fs_reply_xattr(req, FS_OP_LISTXATTR, rc, &err, size, buf, len);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	int rc;

	fs_count(fs, FS_OP_REMOVEXATTR);
	if (fs_is_ctl(ino))
		return fs_reply_fail(req, FS_OP_REMOVEXATTR,
				     fs_ctl_refusal(ino), NULL);
	if (refused(fs, name))
		return fs_reply_fail(req, FS_OP_REMOVEXATTR, -EOPNOTSUPP, NULL);
	rc = ns_removexattr(fs->ns, ino, name, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_REMOVEXATTR, rc, &err);
	fuse_reply_err(req, 0);
}

void fs_ops_xattr(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = op_setxattr;
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
	ops->removexattr = op_removexattr;
}

void fs_reply_xattr(fuse_req_t req, enum fs_op op, int rc,
		    const struct lsm_err *err, size_t size, char *buf,
		    size_t len)
{
	if (rc < 0)
		fs_reply_fail(req, op, rc, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}
