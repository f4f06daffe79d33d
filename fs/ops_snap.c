/* ops_snap.c - /.lsmfs/snapshots: the engine's durable snapshots as
 * directories (README, "Snapshots").  mkdir NAME takes one
 * (lsm_snapshot_create), rmdir NAME drops it, readdir lists them with
 * their creation time as the mtime of each.  /.lsmfs/snapshots/NAME/ is a
 * read-only view of the whole tree as it was: an ns opened on an engine
 * snapshot handle (ns_options.snap), so every read goes through the same
 * namespace code as the live tree's.  Any change is EROFS.
 *
 * Numbers: a node in snapshot ID (1..255) is 1 << 63 | ID << 55 | INO,
 * INO its number in the view (fs.h, fs/CODEC.md); the FUSE generation
 * of every node of a snapshot is its creation time in nanoseconds, so a
 * later snapshot that gets the same id never passes for the old one in
 * the kernel's inode cache.  Nothing here takes ns references: a
 * snapshot's inodes are never reclaimed, so forget has nothing to do.
 *
 * Views are opened on first use and kept until rmdir or unmount.  Each
 * holds a reference for the table; a request, an open file and an open
 * directory hold one each while they use it, so a file open in a
 * snapshot keeps reading after rmdir until it is closed (as after
 * unlink), and the engine's handle, which pins the snapshot's versions,
 * goes with the last reference. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"
#include "fs.h"

struct view {
	atomic_int refs;
	struct view *prev, *next; /* every view alive, under fs_snaps.mu */
	struct lsm_snapshot_info info;
	const struct lsm_snapshot *h;
	struct ns *ns;
	uint64_t gen; /* FUSE generation: creation time in ns */
};

struct fs_snaps {
	pthread_mutex_t mu;
	struct view *slot[LSM_SNAPSHOT_ID_MAX + 1]; /* under mu */
	struct view all;  /* sentinel: the views alive, dropped ones an
			   * open file still holds too (under mu) */
};

/* A directory handle inside a snapshot. */
struct sdir {
	struct view *v;
	uint64_t ino, parent; /* view numbers */
	struct sdent {
		uint64_t ino;
		uint32_t type;
		char *name;
	} *e;
	size_t n, cap;
};

static uint64_t node_of(unsigned id, uint64_t ino)
{
	return (1ull << 63) | ((uint64_t)id << FS_SNAP_SHIFT) | ino;
}

static uint64_t ino_of(uint64_t node)
{
	return node & FS_SNAP_INO_MASK;
}

int fs_snap_init(struct lsmfs *fs)
{
	fs->snaps = calloc(1, sizeof(*fs->snaps));
	if (!fs->snaps)
		return -ENOMEM;
	pthread_mutex_init(&fs->snaps->mu, NULL);
	fs->snaps->all.prev = fs->snaps->all.next = &fs->snaps->all;
	return 0;
}

static void view_free(struct lsmfs *fs, struct view *v)
{
	ns_close(v->ns);
	lsm_snapshot_release(fs->db, v->h);
	free(v);
}

static void view_put(struct lsmfs *fs, struct view *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	pthread_mutex_lock(&fs->snaps->mu);
	v->prev->next = v->next;
	v->next->prev = v->prev;
	pthread_mutex_unlock(&fs->snaps->mu);
	view_free(fs, v);
}

/* The request loop has ended: no request holds a view any more, and
 * handles the kernel never released (a lazy unmount) will not be; every
 * view goes, its engine handle before the engine. */
void fs_snap_close(struct lsmfs *fs)
{
	struct fs_snaps *t = fs->snaps;

	if (!t)
		return;
	while (t->all.next != &t->all) {
		struct view *v = t->all.next;

		v->prev->next = v->next;
		v->next->prev = v->prev;
		view_free(fs, v);
	}
	pthread_mutex_destroy(&t->mu);
	free(t);
	fs->snaps = NULL;
}

/* Opens the view of snapshot NAME (under mu). */
static int view_open(struct lsmfs *fs, const char *name, struct view **out,
		     struct lsm_err *err)
{
	struct view *v = calloc(1, sizeof(*v));
	struct ns_options o;
	int rc;

	if (!v)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	rc = lsm_snapshot_open(fs->db, name, &v->h, &v->info, err);
	if (rc < 0) {
		free(v);
		return rc;
	}
	ns_options_init(&o);
	o.read_only = true;
	o.snap = v->h;
	o.frozen = true; /* expiry as of the snapshot's instant */
	o.frozen_ns = (uint64_t)v->info.time_sec * 1000000000u +
		      v->info.time_nsec;
	rc = ns_open(fs->db, &o, &v->ns, err);
	if (rc < 0) {
		lsm_snapshot_release(fs->db, v->h);
		free(v);
		return rc;
	}
	v->gen = (uint64_t)v->info.time_sec * 1000000000u + v->info.time_nsec;
	if (v->gen == 0)
		v->gen = 1;
	atomic_init(&v->refs, 1);
	v->next = &fs->snaps->all; /* under mu */
	v->prev = fs->snaps->all.prev;
	v->prev->next = v;
	fs->snaps->all.prev = v;
	*out = v;
	return 0;
}

/* Whether the snapshot V shows is still the one of its record INFO (a
 * following mount: the writer may have dropped it and given the id to a
 * new one). */
static bool same(const struct view *v, const struct lsm_snapshot_info *i)
{
	return v->info.seq == i->seq && v->info.time_sec == i->time_sec &&
	       v->info.time_nsec == i->time_nsec &&
	       strcmp(v->info.name, i->name) == 0;
}

/* The view of snapshot ID, or of NAME when ID is 0, with a reference for
 * the caller (view_put).  -ESTALE when a number's snapshot is gone,
 * -ENOENT when a name has none. */
static int view_get(struct lsmfs *fs, unsigned id, const char *name,
		    struct view **out, struct lsm_err *err)
{
	struct fs_snaps *t = fs->snaps;
	struct lsm_snapshot_info *list = NULL, *found = NULL;
	struct view *v, *old = NULL;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&t->mu);
	if (id && (v = t->slot[id]) && !fs->follow) {
		atomic_fetch_add(&v->refs, 1);
		pthread_mutex_unlock(&t->mu);
		*out = v;
		return 0;
	}
	rc = lsm_snapshot_list(fs->db, &list, &n, err);
	for (size_t i = 0; rc == 0 && i < n && !found; i++)
		if (id ? list[i].id == id : strcmp(list[i].name, name) == 0)
			found = &list[i];
	if (rc == 0 && !found)
		rc = id ? lsm_err_set(err, -ESTALE, "snapshot %u was dropped",
				      id)
			: -ENOENT;
	v = rc == 0 ? t->slot[found->id] : NULL;
	if (v && !same(v, found)) { /* replaced behind a follower */
		t->slot[found->id] = NULL;
		old = v; /* the table's reference, dropped after mu */
		v = NULL;
	}
	if (rc == 0 && !v) {
		rc = view_open(fs, found->name, &v, err);
		if (rc == 0)
			t->slot[found->id] = v;
	}
	if (rc == 0)
		atomic_fetch_add(&v->refs, 1);
	pthread_mutex_unlock(&t->mu);
	view_put(fs, old);
	free(list);
	*out = rc == 0 ? v : NULL;
	return rc;
}

/* Fills E for the view's inode A (its number in the view). */
static int fill_entry(struct view *v, const struct ns_attr *a,
		      struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	if (a->ino > FS_SNAP_INO_MASK)
		return -EOVERFLOW; /* see fs/CODEC.md, "Inode numbers" */
	ns_attr_stat(a, &e->attr);
	e->ino = node_of(v->info.id, a->ino);
	e->attr.st_ino = e->ino;
	if (a->ino == CODEC_ROOT_INO) { /* ls -l shows when it was taken */
		e->attr.st_mtim.tv_sec = v->info.time_sec;
		e->attr.st_mtim.tv_nsec = v->info.time_nsec;
	}
	e->generation = v->gen;
	e->attr_timeout = FS_SNAP_TIMEOUT;
	e->entry_timeout = FS_SNAP_TIMEOUT;
	return 0;
}

void fs_snap_dir_stat(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FS_CTL_SNAPDIR_INO;
	st->st_mode = S_IFDIR | 0755; /* mkdir/rmdir: the daemon's user */
	st->st_nlink = 1; /* count unknown here: 1 tells find(1) so, where 2
			   * would promise no subdirectories */
	st->st_uid = getuid();
	st->st_gid = getgid();
}

/* The entry of snapshot NAME (or ID) in /.lsmfs/snapshots: its root. */
static int root_entry(struct lsmfs *fs, unsigned id, const char *name,
		      struct fuse_entry_param *e, struct lsm_err *err)
{
	struct view *v;
	struct ns_attr a;
	int rc = view_get(fs, id, name, &v, err);

	if (rc < 0)
		return rc;
	rc = ns_getattr(v->ns, CODEC_ROOT_INO, &a, err);
	if (rc == 0)
		rc = fill_entry(v, &a, e);
	/* the list changes (mkdir, rmdir, a follower's writer): its names
	 * are kept as briefly as the control directory's */
	e->entry_timeout = 1.0;
	view_put(fs, v);
	return rc;
}

void fs_snap_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	struct ns_attr a;
	struct view *v;
	uint64_t dir = ino_of(parent);
	int rc;

	if (parent == FS_CTL_SNAPDIR_INO) {
		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    lsm_snapshot_name_check(name, NULL) < 0)
			rc = -ENOENT;
		else
			rc = root_entry(fs, 0, name, &e, &err);
		if (rc == -ENOENT) {
			memset(&e, 0, sizeof(e));
			e.entry_timeout = 1.0;
			fuse_reply_entry(req, &e);
			return;
		}
		if (rc < 0)
			return fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
		fuse_reply_entry(req, &e);
		return;
	}
	rc = view_get(fs, fs_snap_id(parent), NULL, &v, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		rc = ns_getattr(v->ns, dir, &a, &err);
		if (rc == 0 && !strcmp(name, ".."))
			rc = ns_getattr(v->ns, a.in.parent ? a.in.parent : dir,
					&a, &err);
	} else {
		rc = ns_lookup(v->ns, dir, name, &a, &err);
	}
	if (rc == 0)
		rc = fill_entry(v, &a, &e);
	if (rc == -ENOENT) { /* a snapshot never changes: keep the miss */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = FS_SNAP_TIMEOUT;
		rc = 0;
	}
	view_put(fs, v);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_LOOKUP, rc, &err);
	fuse_reply_entry(req, &e);
}

/* The attributes of node INO of a snapshot into E. */
static int node_attr(struct lsmfs *fs, fuse_ino_t ino,
		     struct fuse_entry_param *e, struct lsm_err *err)
{
	struct view *v;
	struct ns_attr a;
	int rc = view_get(fs, fs_snap_id(ino), NULL, &v, err);

	if (rc < 0)
		return rc;
	rc = ns_getattr(v->ns, ino_of(ino), &a, err);
	if (rc == -ENOENT)
		rc = -ESTALE;
	if (rc == 0)
		rc = fill_entry(v, &a, e);
	view_put(fs, v);
	return rc;
}

void fs_snap_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	int rc = node_attr(fs_of(req), ino, &e, &err);

	if (rc < 0)
		return fs_reply_fail(req, FS_OP_GETATTR, rc, &err);
	fuse_reply_attr(req, &e.attr, FS_SNAP_TIMEOUT);
}

void fs_snap_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	char buf[CODEC_SYMLINK_MAX + 1];
	struct view *v;
	size_t len = 0;
	int rc = view_get(fs, fs_snap_id(ino), NULL, &v, &err);

	if (rc < 0)
		return fs_reply_fail(req, FS_OP_READLINK, rc, &err);
	rc = ns_readlink(v->ns, ino_of(ino), buf, sizeof(buf) - 1, &len, &err);
	view_put(fs, v);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_READLINK, rc, &err);
	buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
	fuse_reply_readlink(req, buf);
}

void fs_snap_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	struct view *v;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return fs_reply_fail(req, FS_OP_OPEN, -EROFS, NULL);
	rc = view_get(fs, fs_snap_id(ino), NULL, &v, &err);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_OPEN, rc, &err);
	rc = ns_getattr(v->ns, ino_of(ino), &a, &err);
	if (rc == 0 && S_ISDIR(a.in.mode))
		rc = -EISDIR;
	if (rc < 0) {
		view_put(fs, v);
		return fs_reply_fail(req, FS_OP_OPEN, rc, &err);
	}
	fi->fh = (uintptr_t)v; /* the handle keeps the view */
	fi->keep_cache = 1;    /* it never changes */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		view_put(fs, v);
}

void fs_snap_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct view *v = (struct view *)(uintptr_t)fi->fh;
	struct lsm_err err = { 0 };
	size_t got = 0;
	void *buf;
	int rc;

	if (!v || off < 0)
		return fs_reply_fail(req, FS_OP_READ, -EBADF, NULL);
	buf = malloc(size ? size : 1);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READ, -ENOMEM, NULL);
	rc = ns_read(v->ns, ino_of(ino), (uint64_t)off, size, buf, &got, &err);
	if (rc < 0) {
		free(buf);
		return fs_reply_fail(req, FS_OP_READ, rc, &err);
	}
	atomic_fetch_add_explicit(&fs->cnt.bytes_read, got,
				  memory_order_relaxed);
	fuse_reply_buf(req, buf, got);
	free(buf);
}

void fs_snap_release(fuse_req_t req, struct fuse_file_info *fi)
{
	view_put(fs_of(req), (struct view *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void sdir_free(struct lsmfs *fs, struct sdir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	view_put(fs, d->v);
	free(d);
}

static int collect(void *ctx, const struct ns_dirent *de)
{
	struct sdir *d = ctx;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 32;
		struct sdent *e = realloc(d->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->e = e;
		d->cap = cap;
	}
	d->e[d->n].name = strndup(de->name, de->nlen);
	if (!d->e[d->n].name)
		return -ENOMEM;
	d->e[d->n].ino = de->ino;
	d->e[d->n].type = de->type;
	d->n++;
	return 0;
}

void fs_snap_opendir(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct ns_attr a;
	struct sdir *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return fs_reply_fail(req, FS_OP_OPENDIR, -ENOMEM, NULL);
	rc = view_get(fs, fs_snap_id(ino), NULL, &d->v, &err);
	if (rc == 0)
		rc = ns_getattr(d->v->ns, ino_of(ino), &a, &err);
	if (rc == 0 && !S_ISDIR(a.in.mode))
		rc = -ENOTDIR;
	if (rc == 0) {
		d->ino = ino_of(ino);
		d->parent = a.in.parent ? a.in.parent : d->ino;
		/* the listing is read once: it never changes */
		rc = ns_readdir(d->v->ns, d->ino, NULL, collect, d, &err);
	}
	if (rc < 0) {
		sdir_free(fs, d);
		return fs_reply_fail(req, FS_OP_OPENDIR, rc, &err);
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 1; /* the kernel may keep the listing */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		sdir_free(fs, d);
}

void fs_snap_releasedir(fuse_req_t req, struct fuse_file_info *fi)
{
	sdir_free(fs_of(req), (struct sdir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Adds one entry to BUF (its size, more than ROOM when it did not fit).
 * A readdirplus entry comes with its attributes (nodeid 0, nothing
 * cached, when they cannot be had). */
static size_t add_entry(fuse_req_t req, char *buf, size_t room,
			const char *name, struct fuse_entry_param *e,
			off_t next, bool plus)
{
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &e->attr, next);
	return fuse_add_direntry_plus(req, buf, room, name, e, next);
}

/* /.lsmfs/snapshots: ".", "..", then the snapshots in the engine's
 * order (oldest first); offset 2 + i is the i-th. */
static void list_snapshots(fuse_req_t req, size_t size, off_t off, bool plus)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_snapshot_info *list = NULL;
	struct lsm_err err = { 0 };
	size_t n = 0, used = 0, k;
	char *buf;
	int rc = lsm_snapshot_list(fs->db, &list, &n, &err);

	if (rc < 0)
		return fs_reply_fail(req, FS_OP_READDIR, rc, &err);
	buf = malloc(size);
	if (!buf) {
		free(list);
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	}
	for (; off >= 0 && (size_t)off < n + 2; off++) {
		struct fuse_entry_param e = { 0 };
		const char *name = off == 0 ? "." : off == 1 ? ".." :
			list[off - 2].name;

		if (off < 2) {
			e.attr.st_ino = off == 0 ? FS_CTL_SNAPDIR_INO
						 : FS_CTL_DIR_INO;
			e.attr.st_mode = S_IFDIR;
		} else {
			e.attr.st_ino = node_of(list[off - 2].id,
						CODEC_ROOT_INO);
			e.attr.st_mode = S_IFDIR;
			if (plus) {
				k = add_entry(req, NULL, 0, name, &e, off + 1,
					      true);
				if (k > size - used)
					break;
				unsigned id = list[off - 2].id;

				if (root_entry(fs, id, NULL, &e, NULL) < 0) {
					memset(&e, 0, sizeof(e));
					e.attr.st_ino = node_of(id,
								CODEC_ROOT_INO);
					e.attr.st_mode = S_IFDIR;
				}
			}
		}
		k = add_entry(req, buf + used, size - used, name, &e, off + 1,
			      plus);
		if (k > size - used)
			break;
		used += k;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	free(list);
}

void fs_snap_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus)
{
	struct sdir *d = (struct sdir *)(uintptr_t)fi->fh;
	size_t used = 0, k;
	char *buf;

	if (ino == FS_CTL_SNAPDIR_INO)
		return list_snapshots(req, size, off, plus);
	if (!d)
		return fs_reply_fail(req, FS_OP_READDIR, -EBADF, NULL);
	buf = malloc(size);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	for (; off >= 0 && (size_t)off < d->n + 2; off++) {
		struct fuse_entry_param e = { 0 };
		const struct sdent *de = off < 2 ? NULL : &d->e[off - 2];
		const char *name = de ? de->name : off == 0 ? "." : "..";
		struct ns_attr a;

		if (!de) {
			e.attr.st_ino = node_of(d->v->info.id,
						off == 0 ? d->ino : d->parent);
			if (off == 1 && d->ino == CODEC_ROOT_INO)
				e.attr.st_ino = FS_CTL_SNAPDIR_INO;
			e.attr.st_mode = S_IFDIR;
		} else {
			e.attr.st_ino = de->ino <= FS_SNAP_INO_MASK ?
				node_of(d->v->info.id, de->ino) : 0;
			e.attr.st_mode = de->type;
			if (plus) {
				k = add_entry(req, NULL, 0, name, &e, off + 1,
					      true);
				if (k > size - used)
					break;
				if (ns_lookup(d->v->ns, d->ino, de->name, &a,
					      NULL) < 0 ||
				    fill_entry(d->v, &a, &e) < 0) {
					memset(&e, 0, sizeof(e));
					e.attr.st_mode = de->type;
				}
			}
		}
		k = add_entry(req, buf + used, size - used, name, &e, off + 1,
			      plus);
		if (k > size - used)
			break;
		used += k;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* "system." names as ops_xattr.c treats them: ACLs only when the kernel
 * enforces them. */
static bool xattr_refused(struct lsmfs *fs, const char *name)
{
	if (strncmp(name, "system.", 7) != 0)
		return false;
	return !fs->acl || (strcmp(name, ACL_XATTR_ACCESS) != 0 &&
			    strcmp(name, ACL_XATTR_DEFAULT) != 0);
}

void fs_snap_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      size_t size)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct view *v;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (xattr_refused(fs, name))
		return fs_reply_fail(req, FS_OP_GETXATTR, -EOPNOTSUPP, NULL);
	if (size && !(buf = malloc(size)))
		return fs_reply_fail(req, FS_OP_GETXATTR, -ENOMEM, NULL);
	rc = view_get(fs, fs_snap_id(ino), NULL, &v, &err);
	if (rc == 0) {
		rc = ns_getxattr(v->ns, ino_of(ino), name, buf, size, &len,
				 &err);
		view_put(fs, v);
	}
	fs_reply_xattr(req, FS_OP_GETXATTR, rc, &err, size, buf, len);
}

void fs_snap_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct view *v;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (size && !(buf = malloc(size)))
		return fs_reply_fail(req, FS_OP_LISTXATTR, -ENOMEM, NULL);
	rc = view_get(fs, fs_snap_id(ino), NULL, &v, &err);
	if (rc == 0) {
		rc = ns_listxattr(v->ns, ino_of(ino), buf, size, &len, &err);
		view_put(fs, v);
	}
	fs_reply_xattr(req, FS_OP_LISTXATTR, rc, &err, size, buf, len);
}

void fs_snap_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct view *v;
	uint64_t res = 0;
	int rc = view_get(fs, fs_snap_id(ino), NULL, &v, &err);

	if (rc == 0) {
		rc = ns_seek(v->ns, ino_of(ino), (uint64_t)off, whence, &res,
			     &err);
		view_put(fs, v);
	}
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_LSEEK, rc, &err);
	fuse_reply_lseek(req, (off_t)res);
}

void fs_snap_mkdir(fuse_req_t req, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct lsm_err err = { 0 };
	struct fuse_entry_param e;
	int rc;

	if (fs->read_only)
		return fs_reply_fail(req, FS_OP_MKDIR, -EROFS, NULL);
	pthread_mutex_lock(&fs->snaps->mu);
	rc = lsm_snapshot_create(fs->db, name, NULL, &err);
	pthread_mutex_unlock(&fs->snaps->mu);
	if (rc == -EINVAL || rc == -EEXIST || rc == -ENOSPC)
		fs_log(FS_LOG_INFO, "mkdir .lsmfs/%s/%s: %s",
		       FS_CTL_SNAPDIR_NAME, name, err.msg);
	if (rc == 0) {
		fs_log(FS_LOG_INFO, "snapshot '%s' taken", name);
		rc = root_entry(fs, 0, name, &e, &err);
	}
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_MKDIR, rc, &err);
	fuse_reply_entry(req, &e);
}

void fs_snap_rmdir(fuse_req_t req, const char *name)
{
	struct lsmfs *fs = fs_of(req);
	struct fs_snaps *t = fs->snaps;
	struct lsm_snapshot_info *list = NULL;
	struct lsm_err err = { 0 };
	struct view *v = NULL;
	size_t n = 0;
	int rc;

	if (fs->read_only)
		return fs_reply_fail(req, FS_OP_RMDIR, -EROFS, NULL);
	if (lsm_snapshot_name_check(name, NULL) < 0)
		return fs_reply_fail(req, FS_OP_RMDIR, -ENOENT, NULL);
	pthread_mutex_lock(&t->mu);
	rc = lsm_snapshot_list(fs->db, &list, &n, &err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (strcmp(list[i].name, name) == 0) {
			v = t->slot[list[i].id];
			t->slot[list[i].id] = NULL;
		}
	if (rc == 0)
		rc = lsm_snapshot_drop(fs->db, name, &err);
	pthread_mutex_unlock(&t->mu);
	free(list);
	/* open files of it keep their reference; the engine handle, and
	 * what it pins, goes with the last */
	view_put(fs, v);
	if (rc < 0)
		return fs_reply_fail(req, FS_OP_RMDIR, rc, &err);
	fs_log(FS_LOG_INFO, "snapshot '%s' dropped", name);
	fuse_reply_err(req, 0);
}
