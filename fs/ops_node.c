/* ops_node.c - FUSE operations on names and inodes: lookup, getattr,
 * setattr, readlink, mknod, mkdir, symlink, link, unlink, rmdir, rename
 * and statfs.  Each translates once to an ns_* call and replies once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs.h"

void fs_fill_entry(struct lsmfs *fs, const struct ns_attr *a,
		   struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	if (a->in.expire_ns) {
		/* the kernel's caches must not outlive an expiring file */
		double life = ns_life_cap(a, FS_DEFAULT_TIMEOUT * 1000);

		if (e->attr_timeout > life)
			e->attr_timeout = life;
		if (e->entry_timeout > life)
			e->entry_timeout = life;
	}
	ns_attr_stat(a, &e->attr);
}

void fs_reply_entry(fuse_req_t req, struct fuse_entry_param *e)
{
	struct lsmfs *fs = fs_of(req);

	/* The kernel's lookup count holds the inode like an open handle
	 * (an unlinked file stays until the kernel forgets it). */
	ns_open_ref(fs->ns, e->ino);
	if (fuse_reply_entry(req, e) != 0)
		ns_close_ref(fs->ns, e->ino, NULL);
}

static void reply_entry(fuse_req_t req, enum fs_op op, int rc,
			const struct ns_attr *a, const struct lsm_err *err)
{
	struct fuse_entry_param e;

	if (rc < 0)
		return fs_reply_fail(req, op, rc, err);
	fs_fill_entry(fs_of(req), a, &e);
	fs_reply_entry(req, &e);
}

/* LOOKUP of "." and "..": only the kernel's file handle decoding sends
 * them (FUSE_CAP_EXPORT_SUPPORT, for NFS export and overlayfs's
 * index/nfs_export): "." of an inode number, ".." of a directory.  The
 * reference is taken before the record is read, so an unlink between
 * cannot reclaim what we hand out; an unlinked inode is stale. */
static bool lookup_dot(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	struct ns_attr a;
	int rc;

	if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
		return false;
	if (strcmp(name, "..") == 0) {
		rc = ns_getattr(fs->ns, ino, &a, &err);
		if (rc == 0 && !S_ISDIR(a.in.mode))
			rc = -ENOTDIR;
		if (rc < 0) {
			fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
			return true;
		}
		ino = a.in.parent;
	}
	ns_open_ref(fs->ns, ino);
	rc = ns_getattr(fs->ns, ino, &a, &err);
	if (rc == 0 && a.in.nlink == 0)
		rc = -ESTALE;
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc < 0) {
		ns_close_ref(fs->ns, ino, NULL);
		fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
		return true;
	}
	fs_fill_entry(fs, &a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		ns_close_ref(fs->ns, ino, NULL);
	return true;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	struct ns_attr a;
	int rc;

	fs_count(fs, FS_OP_LOOKUP);
	if (fs_ctl_lookup(req, parent, name) || lookup_dot(req, parent, name))
		return;
	/* The reference is taken with the lookup, not after it: an unlink
	 * in between would reclaim the inode we are about to hand out. */
	rc = ns_lookup_ref(fs->ns, parent, name, &a, &err);
	if (rc == -ENOENT) { /* cache the miss like a positive entry */
		memset(&e, 0, sizeof(e));
		/* ... except on a follower: the name may appear in a catch-up
		 * whose invalidation reaches the kernel before this reply
		 * does, and the stale miss would then hide the new file for
		 * the whole timeout (seen under a steady write load) */
		e.entry_timeout = fs->follow ? 0 : fs->entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
	fs_fill_entry(fs, &a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		ns_close_ref(fs->ns, a.ino, NULL);
}

static void forget_one(struct lsmfs *fs, fuse_ino_t ino, uint64_t n)
{
	struct lsm_err err = { 0 };

	if (!fs_is_ctl(ino) && ns_unref(fs->ns, ino, n, &err) < 0)
		fs_fail(fs, FS_OP_LOOKUP, err.code, &err);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	atomic_fetch_add_explicit(&fs_of(req)->cnt.forget_inodes, 1,
				  memory_order_relaxed);
	forget_one(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	atomic_fetch_add_explicit(&fs_of(req)->cnt.forget_inodes, count,
				  memory_order_relaxed);
	for (size_t i = 0; i < count; i++)
		forget_one(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	struct stat st;
	int rc;

	(void)fi;
	fs_count(fs, FS_OP_GETATTR);
	if (fs_is_ctl(ino))
		return fs_ctl_getattr(req, ino);
	rc = ns_getattr(fs->ns, ino, &a, &err);
	/* The kernel holds INO: where another process writes the store, an
	 * inode gone under it was deleted there (ESTALE, as NFS says). */
	if (rc == -ENOENT && fs->follow)
		rc = lsm_err_set(&err, -ESTALE, "inode %llu was deleted by the "
				 "writer", (unsigned long long)ino);
	/* An expired file is gone, as after an unlink, except for what
	 * holds it open: fstat comes here without a handle, so an open
	 * handle decides.  A stat through a name the kernel cached (set
	 * before a TTL was, or not yet dropped after a purge or an
	 * eviction) gets ESTALE, on which the kernel looks the name up
	 * again: ENOENT. */
	if (rc == 0 && ns_is_expired(fs->ns, &a.in) &&
	    !ns_has_handle(fs->ns, ino))
		rc = lsm_err_set(&err, -ESTALE, "inode %llu expired",
				 (unsigned long long)ino);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_GETATTR, rc, &err);
	ns_attr_stat(&a, &st);
	if (ns_is_expired(fs->ns, &a.in))
		st.st_nlink = 0;
	fuse_reply_attr(req, &st, ns_life_cap(&a, fs->attr_timeout));
}

/* FATTR_KILL_SUIDGID of the kernel, which libfuse 3.14 passes in to_set
 * (its FUSE_SET_ATTR_KILL_SUID). */
#define FS_SET_ATTR_KILL_SUIDGID (1 << 11)

static void to_ns_setattr(const struct stat *st, int to_set,
			  struct ns_setattr *s)
{
	memset(s, 0, sizeof(*s));
	if (to_set & FUSE_SET_ATTR_MODE)
		s->valid |= NS_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		s->valid |= NS_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		s->valid |= NS_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		s->valid |= NS_SET_SIZE;
	if (to_set & FUSE_SET_ATTR_ATIME)
		s->valid |= NS_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME)
		s->valid |= NS_SET_MTIME;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		s->valid |= NS_SET_ATIME_NOW;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		s->valid |= NS_SET_MTIME_NOW;
	if (to_set & FUSE_SET_ATTR_CTIME)
		s->valid |= NS_SET_CTIME;
	s->mode = st->st_mode;
	s->uid = st->st_uid;
	s->gid = st->st_gid;
	s->size = (uint64_t)st->st_size;
	s->atime = st->st_atim;
	s->mtime = st->st_mtim;
	s->ctime = st->st_ctim;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_setattr s;
	struct ns_attr a;
	struct stat st;
	int rc;

	(void)fi;
	fs_count(fs, FS_OP_SETATTR);
	if (fs_is_ctl(ino))
		return fs_ctl_setattr(req, ino, to_set);
	to_ns_setattr(attr, to_set, &s);
	/* a truncation (FATTR_KILL_SUIDGID: by a writer without
	 * CAP_FSETID); chown kills set-user-ID in ns_setattr */
	if (to_set & FUSE_SET_ATTR_SIZE)
		s.valid |= fs_kill_for(fs, req, ino,
				(to_set & FS_SET_ATTR_KILL_SUIDGID) != 0);
	else if (fs->killpriv && (to_set & (FUSE_SET_ATTR_UID |
					    FUSE_SET_ATTR_GID)))
		s.valid |= NS_SET_KILL_CAPS;
	rc = ns_setattr(fs->ns, ino, &s, &a, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_SETATTR, rc, &err);
	ns_attr_stat(&a, &st);
	fuse_reply_attr(req, &st, ns_life_cap(&a, fs->attr_timeout));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	char buf[CODEC_SYMLINK_MAX + 1];
	size_t len;
	int rc;

	fs_count(fs, FS_OP_READLINK);
	if (fs_is_ctl(ino))
		return fs_ctl_readlink(req, ino);
	rc = ns_readlink(fs->ns, ino, buf, sizeof(buf) - 1, &len, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_READLINK, rc, &err);
	buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

/* The caller's identity and umask (applied by us where no default ACL
 * is inherited: FUSE_CAP_DONT_MASK; applying it again where the kernel
 * already did changes nothing). */
static struct ns_cred cred_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct ns_cred c = { ctx->uid, ctx->gid, ctx->umask };

	return c;
}

static void make(fuse_req_t req, enum fs_op op, fuse_ino_t parent,
		 const char *name, mode_t mode, dev_t rdev, const char *target)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_cred c = cred_of(req);
	struct ns_attr a;
	int rc;

	fs_count(fs, op);
	if (fs_is_ctl(parent))
		return fs_ctl_make(req, op, parent, name);
	rc = ns_mknod(fs->ns, parent, name, mode, rdev, &c, target, &a, &err);
	reply_entry(req, op, rc, &a, &err);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	make(req, FS_OP_MKNOD, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	make(req, FS_OP_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0,
	     NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	make(req, FS_OP_SYMLINK, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	int rc;

	fs_count(fs, FS_OP_LINK);
	if (fs_is_ctl(ino) || fs_is_ctl(newparent))
		return fs_reply_fail(req, FS_OP_LINK,
				     fs_ctl_refusal(fs_is_ctl(ino) ? ino
								  : newparent),
				     NULL);
	rc = ns_link(fs->ns, ino, newparent, newname, &a, &err);
	reply_entry(req, FS_OP_LINK, rc, &a, &err);
}

static void remove_op(fuse_req_t req, fuse_ino_t parent, const char *name,
		      bool dir)
{
	struct lsmfs *fs = fs_of(req);
	enum fs_op op = dir ? FS_OP_RMDIR : FS_OP_UNLINK;
	struct lsm_err err = { 0 };
	int rc;

	fs_count(fs, op);
	if (fs_is_ctl(parent))
		return fs_ctl_remove(req, op, parent, name);
	if (codec_is_reserved(parent, name, strlen(name)))
		return fs_reply_fail(req, op, -EPERM, NULL);
	rc = dir ? ns_rmdir(fs->ns, parent, name, &err) :
		   ns_unlink(fs->ns, parent, name, &err);
	if (rc < 0)
		return fs_reply_fail(req, op, rc, &err);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_op(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_op(req, parent, name, true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_cred c = cred_of(req);
	unsigned nf = 0;
	int rc;

	fs_count(fs, FS_OP_RENAME);
	if (fs_is_ctl(parent) || fs_is_ctl(newparent))
		return fs_reply_fail(req, FS_OP_RENAME, fs_ctl_refusal(
					fs_is_ctl(parent) ? parent : newparent),
				     NULL);
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE |
				RENAME_WHITEOUT))
		return fs_reply_fail(req, FS_OP_RENAME, -EINVAL, NULL);
	if (flags & RENAME_NOREPLACE)
		nf |= NS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		nf |= NS_RENAME_EXCHANGE;
	if (flags & RENAME_WHITEOUT)
		nf |= NS_RENAME_WHITEOUT;
	rc = ns_rename2(fs->ns, parent, name, newparent, newname, nf, &c,
			&err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_RENAME, rc, &err);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct lsmfs *fs = fs_of(req);
	struct statvfs host, st;
	uint64_t used = ns_inodes_used(fs->ns);

	(void)ino;
	fs_count(fs, FS_OP_STATFS);
	if (statvfs(fs->datadir, &host) < 0)
		return fs_reply_fail(req, FS_OP_STATFS, -errno, NULL);
	/* Space is the data directory's filesystem's; inodes are only
	 * bounded by 64-bit numbers, shown against the free space. */
	memset(&st, 0, sizeof(st));
	st.f_bsize = host.f_bsize;
	st.f_frsize = host.f_frsize;
	st.f_blocks = host.f_blocks;
	st.f_bfree = host.f_bfree;
	st.f_bavail = host.f_bavail;
	st.f_ffree = st.f_favail = host.f_bavail * host.f_frsize / 256;
	st.f_files = st.f_ffree + used;
	st.f_namemax = CODEC_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

void fs_ops_node(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->getattr = op_getattr;
	ops->setattr = op_setattr;
	ops->readlink = op_readlink;
	ops->mknod = op_mknod;
	ops->mkdir = op_mkdir;
	ops->symlink = op_symlink;
	ops->link = op_link;
	ops->unlink = op_unlink;
	ops->rmdir = op_rmdir;
	ops->rename = op_rename;
	ops->statfs = op_statfs;
}
