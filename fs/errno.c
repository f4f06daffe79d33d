/* errno.c - the one place engine and namespace results become the errno
 * the kernel sees, and where failed requests are counted and logged. */
#include <errno.h>

#include "fs.h"

static const char *const op_names[FS_OP__COUNT] = {
	"lookup", "getattr", "setattr", "readlink", "mknod", "mkdir",
	"unlink", "rmdir", "symlink", "rename", "link", "open", "read",
	"write", "release", "fsync", "opendir", "readdir",
	"releasedir", "statfs", "setxattr", "getxattr", "listxattr",
	"removexattr", "create", "fallocate", "lseek",
};

const char *fs_op_name(enum fs_op op)
{
	return op < FS_OP__COUNT ? op_names[op] : "?";
}

int fs_errno(int rc)
{
	if (rc == -EBADMSG || rc == -EUCLEAN)
		return EIO;
	return rc < 0 ? -rc : EIO;
}

/* Errors a local disk gives in normal use: not worth a log line. */
static bool expected(int e)
{
	switch (e) {
	case ENOENT: case ESTALE: case EEXIST: case ENOTDIR: case EISDIR: case ENOTEMPTY:
	case ENAMETOOLONG: case EINVAL: case ENODATA: case ERANGE:
	case EPERM: case EACCES: case EXDEV: case EROFS: case EFBIG:
	case EOPNOTSUPP: case EMLINK: case E2BIG: case ENXIO: case ENODEV:
		return true;
	default:
		return false;
	}
}

int fs_fail(struct lsmfs *fs, enum fs_op op, int rc, const struct lsm_err *err)
{
	int e = fs_errno(rc);

	atomic_fetch_add_explicit(&fs->cnt.errors[op], 1, memory_order_relaxed);
	if (rc == -EBADMSG || rc == -EUCLEAN) {
		atomic_fetch_add_explicit(&fs->cnt.corruption, 1,
					  memory_order_relaxed);
		fs_log(FS_LOG_ERR, "%s: corruption: %s", fs_op_name(op),
		       err && err->msg[0] ? err->msg : "(no detail)");
	} else if (!expected(e)) {
		fs_log(FS_LOG_ERR, "%s: error %d: %s", fs_op_name(op), e,
		       err && err->msg[0] ? err->msg : "(no detail)");
	}
	return e;
}

void fs_reply_fail(fuse_req_t req, enum fs_op op, int rc,
		   const struct lsm_err *err)
{
	fuse_reply_err(req, fs_fail(fs_of(req), op, rc, err));
}
