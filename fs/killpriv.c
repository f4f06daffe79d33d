/* killpriv.c - what a write, truncation or chown must kill when the
 * kernel leaves privilege killing to lsmfs (FUSE_HANDLE_KILLPRIV_V2, see
 * handshake.c): security.capability always; set-user-ID, and
 * set-group-ID as the kernel would (setattr_should_drop_sgid), when the
 * kernel asks, that is when the writer lacks CAP_FSETID. */
#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fs.h"

#define FS_MAX_GROUPS 64

/* Is GID the group of REQ's process or one of its supplementary groups?
 * Unknown (the process is gone, too many groups) counts as no. */
static bool in_group(fuse_req_t req, uint32_t gid)
{
	gid_t list[FS_MAX_GROUPS];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, FS_MAX_GROUPS, list);
	for (int i = 0; i < n && i < FS_MAX_GROUPS; i++)
		if (list[i] == gid)
			return true;
	return false;
}

unsigned fs_kill_for(struct lsmfs *fs, fuse_req_t req, fuse_ino_t ino,
		     int suidgid)
{
	struct lsm_err err = { 0 };
	struct ns_attr a;
	unsigned kill = NS_SET_KILL_CAPS | NS_SET_KILL_SUIDGID;

	if (!fs->killpriv)
		return 0;
	if (suidgid < 0)
		suidgid = fuse_req_ctx(req)->uid != 0;
	if (!suidgid)
		return NS_SET_KILL_CAPS;
	/* set-group-ID without group execute goes too for a writer outside
	 * the file's group */
	if (ns_getattr(fs->ns, ino, &a, &err) == 0 &&
	    (a.in.mode & (S_ISGID | S_IXGRP)) == S_ISGID &&
	    !in_group(req, a.in.gid))
		kill |= NS_SET_KILL_SGID;
	return kill;
}

int fs_write_kill_flag(const char *buf, size_t size, off_t off,
		       const struct fuse_file_info *fi)
{
	const struct fuse_write_in *in = (const void *)(buf - sizeof(*in));

	if (in->size != size || in->offset != (uint64_t)off ||
	    in->fh != fi->fh || in->flags != (uint32_t)fi->flags)
		return -1;
	return (in->write_flags & FUSE_WRITE_KILL_SUIDGID) != 0;
}

void fs_inval_attr(struct lsmfs *fs, fuse_ino_t ino)
{
	if (fs->session)
		fuse_lowlevel_notify_inval_inode(fs->session, ino, -1, 0);
}
