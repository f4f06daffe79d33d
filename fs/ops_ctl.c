/* ops_ctl.c - the hidden control directory /.lsmfs: not stored, not
 * listed in the root, looked up by name only; the root name ".lsmfs" is
 * reserved (see CODEC.md), so it cannot collide with a user's file.
 * /.lsmfs/stats holds the engine's statistics (lsm_stats) and the
 * filesystem's own counters (metrics.c), rendered when it is opened. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "metrics.h"

/* The rendered text of one open: freed by whoever drops the last
 * reference, the release or a read still replying (the kernel may deliver
 * the release as soon as the reply's bytes are copied, while the replying
 * thread is still inside writev). */
struct ctl_text {
	char *text;
	size_t len;
	atomic_int refs;
};

static void text_put(struct ctl_text *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1) {
		free(t->text);
		free(t);
	}
}

void fs_ctl_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == FS_CTL_DIR_INO ? (S_IFDIR | 0555) :
					      (S_IFREG | 0444);
	st->st_nlink = ino == FS_CTL_DIR_INO ? 2 : 1;
}

static void ctl_entry(struct fuse_entry_param *e, fuse_ino_t ino)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = 1.0;
	e->entry_timeout = 1.0;
	fs_ctl_stat(ino, &e->attr);
}

bool fs_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (codec_is_reserved(parent, name, strlen(name))) {
		ctl_entry(&e, FS_CTL_DIR_INO);
	} else if (parent == FS_CTL_DIR_INO) {
		if (strcmp(name, FS_CTL_STATS_NAME) != 0) {
			fuse_reply_err(req, ENOENT);
			return true;
		}
		ctl_entry(&e, FS_CTL_STATS_INO);
	} else {
		return false;
	}
	fuse_reply_entry(req, &e);
	return true;
}

void fs_ctl_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct stat st;

	fs_ctl_stat(ino, &st);
	fuse_reply_attr(req, &st, 1.0);
}

static int render(struct lsmfs *fs, struct ctl_text *t)
{
	return metrics_render(fs, &t->text, &t->len);
}

void fs_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ctl_text *t;
	int rc;

	if (ino != FS_CTL_STATS_INO)
		return fs_reply_fail(req, FS_OP_OPEN, -EISDIR, NULL);
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return fs_reply_fail(req, FS_OP_OPEN, -EACCES, NULL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return fs_reply_fail(req, FS_OP_OPEN, -ENOMEM, NULL);
	rc = render(fs_of(req), t);
	if (rc < 0) {
		free(t->text);
		free(t);
		return fs_reply_fail(req, FS_OP_OPEN, rc, NULL);
	}
	atomic_init(&t->refs, 1);
	fi->fh = (uintptr_t)t;
	fi->direct_io = 1; /* size 0 in stat; read until EOF */
	if (fuse_reply_open(req, fi) != 0) {
		free(t->text);
		free(t);
	}
}

void fs_ctl_read(fuse_req_t req, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct ctl_text *t = (struct ctl_text *)(uintptr_t)fi->fh;

	if (!t || off < 0 || (size_t)off >= t->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	atomic_fetch_add(&t->refs, 1);
	if (size > t->len - (size_t)off)
		size = t->len - (size_t)off;
	fuse_reply_buf(req, t->text + off, size);
	text_put(t);
}

void fs_ctl_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct ctl_text *t = (struct ctl_text *)(uintptr_t)fi->fh;

	if (t)
		text_put(t);
	fuse_reply_err(req, 0);
}

void fs_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    bool plus)
{
	static const char *const names[] = { ".", "..", FS_CTL_STATS_NAME };
	const fuse_ino_t inos[] = { FS_CTL_DIR_INO, 1, FS_CTL_STATS_INO };
	char *buf = malloc(size);
	size_t used = 0, n;

	(void)ino;
	if (!buf)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	for (; off >= 0 && off < 3; off++) {
		struct fuse_entry_param e;

		ctl_entry(&e, inos[off]);
		if (off < 2)
			e.ino = 0;
		n = plus ? fuse_add_direntry_plus(req, buf + used, size - used,
						  names[off], &e, off + 1) :
			   fuse_add_direntry(req, buf + used, size - used,
					     names[off], &e.attr, off + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}
