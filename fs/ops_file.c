/* ops_file.c - FUSE operations on open files: open, create, read, write,
 * flush, release, fsync and fallocate.  open truncates for O_TRUNC (with
 * atomic_o_trunc the kernel sends no setattr).  An open handle holds an
 * ns open reference, so an unlinked file lives until its last release. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs.h"

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	int rc;

	fs_count(fs, FS_OP_OPEN);
	if (fs_is_ctl(ino))
		return fs_ctl_open(req, ino, fi);
	rc = ns_getattr(fs->ns, ino, &a, &err);
	/* An inode gone (expired, evicted: the daemon removed its names)
	 * that the kernel still reached through a name it had cached: ESTALE
	 * makes the kernel look the name up again (LOOKUP_REVAL), so that
	 * open(O_CREAT) creates a new file and a plain open gets ENOENT. */
	if (rc == -ENOENT || (rc == 0 && ns_is_expired(fs->ns, &a.in)))
		rc = lsm_err_set(&err, -ESTALE, "inode %llu is gone",
				 (unsigned long long)ino);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_OPEN, rc, &err);
	if (S_ISDIR(a.in.mode))
		return fs_reply_fail(req, FS_OP_OPEN, -EISDIR, NULL);
	if ((fi->flags & O_TRUNC) && (a.in.size > 0 || fs->killpriv)) {
		/* atomic_o_trunc; libfuse does not pass on whether the
		 * kernel asked to kill set-user-ID (FUSE_OPEN_KILL_SUIDGID) */
		struct ns_setattr s = { .size = 0 };

		s.valid = NS_SET_SIZE | fs_kill_for(fs, req, ino, -1);
		rc = ns_setattr(fs->ns, ino, &s, NULL, &err);
		if (rc < 0)
			return fs_reply_fail(req, FS_OP_OPEN, rc, &err);
	}
	ns_open_handle(fs->ns, ino, &a.in);
	/* every change goes through this kernel, unless another process
	 * writes the store */
	fi->keep_cache = !fs->follow;
	fi->noflush = 1;    /* flush has nothing to do: no round trip */
	if (fuse_reply_open(req, fi) != 0) /* interrupted: no release */
		ns_close_handle(fs->ns, ino, NULL);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ns_cred c = { ctx->uid, ctx->gid, ctx->umask };
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	struct ns_attr a;
	bool tmp = strcmp(name, FS_TMPFILE_NAME) == 0; /* see tmpfile.c */
	int rc;

	fs_count(fs, FS_OP_CREATE);
	if (fs_is_ctl(parent))
		return fs_reply_fail(req, FS_OP_CREATE,
				     fs_ctl_refusal(parent), NULL);
	if (tmp)
		rc = ns_tmpfile(fs->ns, parent, mode, &c, &a, &err);
	else
		rc = ns_mknod(fs->ns, parent, name, S_IFREG | (mode & 07777),
			      0, &c, NULL, &a, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_CREATE, rc, &err);
	fs_fill_entry(fs, &a, &e);
	if (!tmp) /* ns_tmpfile took the first one */
		ns_open_ref(fs->ns, a.ino); /* the lookup count */
	ns_open_handle(fs->ns, a.ino, &a.in); /* the open handle */
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		ns_close_handle(fs->ns, a.ino, NULL);
		ns_close_ref(fs->ns, a.ino, NULL);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	size_t got = 0;
	void *buf;
	int rc;

	fs_count(fs, FS_OP_READ);
	if (fs_is_ctl(ino))
		return fs_ctl_read(req, ino, size, off, fi);
	buf = malloc(size ? size : 1);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READ, -ENOMEM, NULL);
	rc = ns_read(fs->ns, ino, (uint64_t)off, size, buf, &got, &err);
	if (rc < 0) {
		free(buf);
		return fs_reply_fail(req, FS_OP_READ, rc, &err);
	}
	atomic_fetch_add_explicit(&fs->cnt.bytes_read, got,
				  memory_order_relaxed);
	fuse_reply_buf(req, buf, got);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	int rc;

	fs_count(fs, FS_OP_WRITE);
	if (fs_is_ctl(ino))
		return fs_ctl_write(req, ino, buf, size);
	rc = ns_write_kill(fs->ns, ino, (uint64_t)off, buf, size,
			   fs->killpriv ? fs_kill_for(fs, req, ino,
					fs_write_kill_flag(buf, size, off, fi)) :
					0, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_WRITE, rc, &err);
	if (rc == 1)
		fs_inval_attr(fs, ino);
	atomic_fetch_add_explicit(&fs->cnt.bytes_written, size,
				  memory_order_relaxed);
	fuse_reply_write(req, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	int rc;

	fs_count(fs, FS_OP_RELEASE);
	if (fs_is_ctl(ino))
		return fs_ctl_release(req, ino, fi);
	rc = ns_close_handle(fs->ns, ino, &err);
	if (rc < 0) /* the orphan stays and is reclaimed at next mount */
		fs_fail(fs, FS_OP_RELEASE, rc, &err);
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	int rc;

	(void)ino;
	(void)datasync;
	(void)fi;
	fs_count(fs, FS_OP_FSYNC);
	rc = ns_sync(fs->ns, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_FSYNC, rc, &err);
	fuse_reply_err(req, 0);
}

/* Plain fallocate (mode 0 or KEEP_SIZE) cannot reserve space in the
 * engine: it answers, honestly, only whether LEN bytes are free on the
 * data directory's filesystem now (-ENOSPC when not), like a
 * posix_fallocate caller wants to know before it writes. */
static int check_space(struct lsmfs *fs, int mode, off_t len)
{
	struct statvfs host;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return 0;
	if (statvfs(fs->datadir, &host) < 0)
		return -errno;
	if ((uint64_t)len / host.f_frsize > host.f_bavail)
		return -ENOSPC;
	return 0;
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t off, off_t len, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	int rc;

	(void)fi;
	fs_count(fs, FS_OP_FALLOCATE);
	if (fs_is_ctl(ino))
		return fs_reply_fail(req, FS_OP_FALLOCATE, fs_ctl_refusal(ino),
				     NULL);
	if (off < 0 || len <= 0)
		return fs_reply_fail(req, FS_OP_FALLOCATE, -EINVAL, NULL);
	rc = check_space(fs, mode, len);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_FALLOCATE, rc, NULL);
	rc = ns_fallocate(fs->ns, ino, mode, (uint64_t)off, (uint64_t)len,
			  &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_FALLOCATE, rc, &err);
	fuse_reply_err(req, 0);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	uint64_t res;
	int rc;

	(void)fi;
	fs_count(fs, FS_OP_LSEEK);
	if (fs_is_ctl(ino) && off >= 0)
		return fs_ctl_lseek(req, ino, off, whence);
	if (fs_is_ctl(ino) || off < 0)
		return fs_reply_fail(req, FS_OP_LSEEK,
				     off < 0 ? -ENXIO : -EINVAL, NULL);
	rc = ns_seek(fs->ns, ino, (uint64_t)off, whence, &res, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_LSEEK, rc, &err);
	fuse_reply_lseek(req, (off_t)res);
}

void fs_ops_file(struct fuse_lowlevel_ops *ops)
{
	ops->open = op_open;
	ops->create = op_create;
	ops->read = op_read;
	ops->write = op_write;
	/* No flush: writes are in the engine when they return and locks are
	 * the kernel's (no lock operations), so a FLUSH would have nothing
	 * to do.  Opens say noflush already, but the kernel ignores that
	 * under -o writeback; left unset, libfuse answers the first FLUSH
	 * ENOSYS and the kernel sends no more (fc->no_flush), after writing
	 * the file's dirty pages back at close() as before. */
	ops->release = op_release;
	ops->fsync = fs_op_fsync;
	ops->fallocate = op_fallocate;
	ops->lseek = op_lseek;
}
