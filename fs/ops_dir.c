/* ops_dir.c - directory listing.  A readdir at offset 0 (the first one,
 * and a rewind) takes one range scan over the directory's direct
 * children into the handle, and plain readdir lists those names as they
 * were then (POSIX allows it; the kernel caches nothing from them).
 * opendir only checks that the inode is a directory: every listing
 * starts at offset 0, so a scan at opendir too would read each directory
 * twice.  readdirplus hands the kernel entries it caches as lookups, so
 * each name is looked up again when replying (ns_lookup_ref: its entry
 * and its inode record, now): a name removed since the scan is left out,
 * a replaced one gets its new inode, and `ls -l` needs no further
 * requests.
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
	bool filled;                    /* e holds a scan */
};

/* References taken for the entries of one readdirplus reply, dropped
 * again if the reply does not reach the kernel. */
struct refs {
	uint64_t *ino;
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
	/* expired files are left out as the reply is built (add_one): a
	 * readdirplus looks each entry up then anyway */
	rc = ns_readdir_flags(fs->ns, d->ino, NULL, NS_READDIR_ALL, collect,
			      d, err);
	d->filled = rc == 0;
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
	if (fs_is_ctl(ino))
		return fs_ctl_opendir(req, ino, fi);
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
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
}

static int refs_add(struct refs *r, uint64_t ino)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		uint64_t *p = realloc(r->ino, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->ino = p;
		r->cap = cap;
	}
	r->ino[r->n++] = ino;
	return 0;
}

/* The readdirplus form of snapshot entry DE: its name looked up now, with
 * the reference the kernel's lookup count will hold (recorded in R).
 * -ENOENT: the name is gone; leave it out.  On other errors the entry is
 * listed without attributes (nodeid 0: the kernel caches nothing). */
static int plus_entry(struct lsmfs *fs, struct dirh *d, const struct dent *de,
		      struct fuse_entry_param *e, struct refs *r)
{
	struct lsm_err err = { 0 };
	struct ns_attr a;
	int rc = ns_lookup_ref(fs->ns, d->ino, de->name, &a, &err);

	if (rc == -ENOENT)
		return rc;
	if (rc == 0 && refs_add(r, a.ino) < 0) {
		ns_close_ref(fs->ns, a.ino, NULL);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		if (rc != -ENOMEM)
			fs_fail(fs, FS_OP_READDIR, rc, &err);
		memset(e, 0, sizeof(*e));
		e->attr.st_ino = de->ino;
		e->attr.st_mode = de->type;
		return 0;
	}
	fs_fill_entry(fs, &a, e);
	return 0;
}

/* Adds entry number OFF (see the header) to BUF: returns its size (more
 * than ROOM: it did not fit, and nothing was added or taken), or 0 when
 * readdirplus leaves out a name removed since the snapshot. */
static size_t add_one(fuse_req_t req, struct dirh *d, off_t off, char *buf,
		      size_t room, bool plus, struct refs *r)
{
	struct fuse_entry_param e = { 0 };
	const struct dent *de = off < 2 ? NULL : &d->e[off - 2];
	const char *name = de ? de->name : off == 0 ? "." : "..";
	size_t n;

	if (!de) { /* nodeid 0: the kernel takes no reference for these */
		e.attr.st_ino = off == 0 ? d->ino : d->parent;
		e.attr.st_mode = S_IFDIR;
	} else {
		e.attr.st_ino = de->ino;
		e.attr.st_mode = de->type;
	}
	if (!plus) {
		struct ns_dirent nd = { de ? de->ino : 0, e.attr.st_mode,
					name, 0 };

		if (de && ns_entry_expired(fs_of(req)->ns, &nd))
			return 0; /* expired: as if unlinked */
		return fuse_add_direntry(req, buf, room, name, &e.attr, off + 1);
	}
	n = fuse_add_direntry_plus(req, buf, 0, name, &e, off + 1);
	if (n > room) /* the size alone: look nothing up for it */
		return n;
	if (de && plus_entry(fs_of(req), d, de, &e, r) == -ENOENT)
		return 0;
	return fuse_add_direntry_plus(req, buf, room, name, &e, off + 1);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	struct lsmfs *fs = fs_of(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	struct lsm_err err = { 0 };
	struct refs r = { 0 };
	size_t used = 0, n;
	char *buf;
	int rc = 0;

	fs_count(fs, FS_OP_READDIR);
	if (fs_is_ctl(ino))
		return fs_ctl_readdir(req, ino, size, off, fi, plus);
	buf = malloc(size);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	pthread_mutex_lock(&d->mu);
	if (off == 0 || !d->filled) /* a rewind sees new entries */
		rc = dir_fill(fs, d, &err);
	for (; rc == 0 && off >= 0 && (size_t)off < d->n + 2; off++) {
		n = add_one(req, d, off, buf + used, size - used, plus, &r);
		if (n > size - used)
			break;
		used += n;
	}
	pthread_mutex_unlock(&d->mu);
	if (rc < 0)
		fs_reply_fail(req, FS_OP_READDIR, rc, &err);
	else if (fuse_reply_buf(req, buf, used) != 0) /* interrupted */
		for (size_t i = 0; i < r.n; i++)
			ns_close_ref(fs->ns, r.ino[i], NULL);
	free(r.ino);
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

	fs_count(fs_of(req), FS_OP_RELEASEDIR);
	if (fs_is_ctl(ino))
		return fs_ctl_releasedir(req, ino, fi);
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
