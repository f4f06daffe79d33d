/* ops_dir.c - directory listing.  opendir (and a rewind to offset 0)
 * takes one range scan over the directory's direct children into the
 * handle; readdirplus then adds each child's attributes with one point
 * lookup of its inode record, so `ls -l` needs no further requests.
 * Offsets: 1 ".", 2 "..", 3 + i the i-th scanned entry. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct dent {
	uint64_t ino;
	uint32_t type;
	char *name;
};

struct dirh {
	pthread_mutex_t mu;
	uint64_t ino, parent;
	struct dent *e;
	size_t n, cap;
};

static void dir_clear(struct dirh *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	d->n = 0;
}

static void dir_free(struct dirh *d)
{
	dir_clear(d);
	pthread_mutex_destroy(&d->mu);
	free(d->e);
	free(d);
}

static int collect(void *ctx, const struct ns_dirent *de)
{
	struct dirh *d = ctx;
	struct dent *e;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 32;

		e = realloc(d->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		d->e = e;
		d->cap = cap;
	}
	e = &d->e[d->n];
	e->name = strndup(de->name, de->nlen);
	if (!e->name)
		return -ENOMEM;
	e->ino = de->ino;
	e->type = de->type;
	d->n++;
	return 0;
}

static int dir_fill(struct lsmfs *fs, struct dirh *d, struct lsm_err *err)
{
	int rc;

	dir_clear(d);
	rc = ns_readdir(fs->ns, d->ino, NULL, collect, d, err);
	return rc == -ENOMEM ? lsm_err_set(err, rc, "readdir: no memory") : rc;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	struct dirh *d;
	int rc;

	fs_count(fs, FS_OP_OPENDIR);
	if (fs_is_ctl(ino)) {
		fi->fh = 0;
		fuse_reply_open(req, fi);
		return;
	}
	rc = ns_getattr(fs->ns, ino, &a, &err);
	if (rc == 0 && !S_ISDIR(a.in.mode))
		rc = -ENOTDIR;
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_OPENDIR, rc, &err);
	d = calloc(1, sizeof(*d));
	if (!d)
		return fs_reply_fail(req, FS_OP_OPENDIR, -ENOMEM, NULL);
	pthread_mutex_init(&d->mu, NULL);
	d->ino = ino;
	d->parent = a.in.parent ? a.in.parent : ino;
	rc = dir_fill(fs, d, &err);
	if (rc < 0) {
		dir_free(d);
		return fs_reply_fail(req, FS_OP_OPENDIR, rc, &err);
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
}

/* Adds entry number OFF (see the header) to BUF; 0 when it did not fit. */
static size_t add_one(fuse_req_t req, struct dirh *d, off_t off, char *buf,
		      size_t room, bool plus)
{
	struct lsmfs *fs = fs_of(req);
	struct fuse_entry_param e = { 0 };
	struct ns_attr a;
	const char *name;
	size_t n;

	if (off < 2) {
		name = off == 0 ? "." : "..";
		/* nodeid 0: the kernel takes no reference for these */
		e.attr.st_ino = off == 0 ? d->ino : d->parent;
		e.attr.st_mode = S_IFDIR;
	} else {
		const struct dent *de = &d->e[off - 2];

		name = de->name;
		e.attr.st_ino = de->ino;
		e.attr.st_mode = de->type;
		if (plus && ns_getattr(fs->ns, de->ino, &a, NULL) == 0)
			fs_fill_entry(fs, &a, &e);
		else if (plus) /* gone meanwhile: list it, cache nothing */
			e.ino = 0;
	}
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &e.attr, off + 1);
	n = fuse_add_direntry_plus(req, buf, room, name, &e, off + 1);
	if (n <= room && e.ino) /* the kernel counts it as a lookup */
		ns_open_ref(fs->ns, e.ino);
	return n;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	struct lsmfs *fs = fs_of(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	struct lsm_err err = { 0 };
	size_t used = 0, n;
	char *buf;
	int rc = 0;

	fs_count(fs, FS_OP_READDIR);
	if (fs_is_ctl(ino))
		return fs_ctl_readdir(req, ino, size, off, plus);
	buf = malloc(size);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	pthread_mutex_lock(&d->mu);
	if (off == 0)
		rc = dir_fill(fs, d, &err); /* rewinddir sees new entries */
	for (; rc == 0 && off >= 0 && (size_t)off < d->n + 2; off++) {
		n = add_one(req, d, off, buf + used, size - used, plus);
		if (n > size - used)
			break;
		used += n;
	}
	pthread_mutex_unlock(&d->mu);
	if (rc < 0)
		fs_reply_fail(req, FS_OP_READDIR, rc, &err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	fs_count(fs_of(req), FS_OP_RELEASEDIR);
	if (d)
		dir_free(d);
	fuse_reply_err(req, 0);
}

void fs_ops_dir(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
	ops->releasedir = op_releasedir;
	ops->fsyncdir = fs_op_fsync;
}
