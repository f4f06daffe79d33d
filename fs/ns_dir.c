/* ns_dir.c - directory operations: lookup (also taking a reference),
 * mknod (files, directories, symlinks, devices), link, unlink, rmdir,
 * rename and readdir.  Each change is one engine batch: the entry, the
 * inode record(s) and the parent record(s) together. */
#include "ns_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int check_name(const char *name, size_t *len, struct lsm_err *err)
{
	int rc;

	*len = strlen(name);
	rc = codec_check_name(name, *len);
	if (rc == -ENAMETOOLONG)
		return lsm_err_set(err, rc, "name of %zu bytes: too long",
				   *len);
	if (rc < 0)
		return lsm_err_set(err, rc, "invalid name '%s'", name);
	return 0;
}

/* Reads PARENT's record and checks it is a live directory. */
static int get_dir(struct ns *ns, uint64_t parent, struct codec_inode *in,
		   struct lsm_err *err)
{
	int rc = ns_get_inode(ns, parent, in, NULL, NULL, err);

	if (rc < 0)
		return rc;
	if (!ns_is_dir(in))
		return lsm_err_set(err, -ENOTDIR, "inode %llu: not a directory",
				   (unsigned long long)parent);
	if (in->nlink == 0)
		return lsm_err_set(err, -ENOENT, "directory %llu was removed",
				   (unsigned long long)parent);
	return 0;
}

int ns_lookup(struct ns *ns, uint64_t parent, const char *name,
	      struct ns_attr *a, struct lsm_err *err)
{
	uint32_t type;
	size_t len = strlen(name);
	int rc;

	if (len > CODEC_NAME_MAX)
		return lsm_err_set(err, -ENAMETOOLONG, "name too long");
	rc = ns_get_dentry(ns, parent, name, len, &a->ino, &type, err);
	if (rc < 0)
		return rc;
	rc = ns_get_inode(ns, a->ino, &a->in, NULL, NULL, err);
	if (rc == 0 && a->in.expire_ns && ns_is_expired(ns, &a->in))
		return ns_absent(err); /* expired: as if unlinked */
	return rc;
}

int ns_lookup_ref(struct ns *ns, uint64_t parent, const char *name,
		  struct ns_attr *a, struct lsm_err *err)
{
	struct ns_lockset ls;
	int rc;

	/* Unlink, rmdir and rename change PARENT's entries under its write
	 * lock and look for references only after: taken in here, ours is
	 * seen, and the inode stays (an orphan) until it is dropped. */
	ns_lock(ns, &ls, &parent, 1, false);
	rc = ns_lookup(ns, parent, name, a, err);
	if (rc >= 0 && a->in.nlink == 0)
		rc = lsm_err_set(err, -EUCLEAN,
				 "directory %llu: entry '%s' names unlinked "
				 "inode %llu", (unsigned long long)parent,
				 name, (unsigned long long)a->ino);
	if (rc >= 0)
		ns_open_ref(ns, a->ino);
	ns_unlock(ns, &ls);
	return rc < 0 ? rc : 0;
}

static int batch_dentry(struct lsm_batch *b, uint64_t parent,
			const char *name, size_t len, uint64_t ino,
			uint32_t mode)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	uint8_t val[CODEC_DENTRY_LEN];
	size_t klen = codec_dentry_key(key, parent, name, len);

	codec_dentry_encode(val, ino, mode);
	return lsm_batch_put(b, key, klen, val, sizeof(val));
}

static int batch_undentry(struct lsm_batch *b, uint64_t parent,
			  const char *name, size_t len)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	size_t klen = codec_dentry_key(key, parent, name, len);

	return lsm_batch_delete(b, key, klen);
}

static int batch_orphan(struct lsm_batch *b, uint64_t ino)
{
	uint8_t key[CODEC_INO_KEY_LEN];

	codec_orphan_key(key, ino);
	return lsm_batch_put(b, key, sizeof(key), "", 0);
}

static int absent(struct ns *ns, uint64_t parent, const char *name,
		  size_t len, struct lsm_err *err)
{
	uint64_t ino;
	uint32_t type;
	int rc;

	if (codec_is_reserved(parent, name, len))
		return lsm_err_set(err, -EEXIST, "'%s' is reserved", name);
	rc = ns_get_dentry(ns, parent, name, len, &ino, &type, err);
	if (rc == 0 && ns_name_expired(ns, parent, name, len))
		return -EKEYEXPIRED; /* the caller purges it and retries */
	if (rc == 0)
		return lsm_err_set(err, -EEXIST, "'%s' exists", name);
	return rc == -ENOENT ? 0 : rc;
}

/* After -EKEYEXPIRED from absent(): removes the expired file NAME of
 * PARENT (no lock held), so that the caller can retry. */
static int purge_name(struct ns *ns, uint64_t parent, const char *name,
		      size_t len, struct lsm_err *err)
{
	uint64_t ino;
	uint32_t type;
	int rc = ns_get_dentry(ns, parent, name, len, &ino, &type, err);

	if (rc == 0)
		rc = ns_drop_name(ns, parent, name, len, ino, NS_DROP_EXPIRED,
				  err);
	if (rc == 1 && ns->gone_fn)
		ns->gone_fn(ns->gone_ctx, NS_DROP_EXPIRED, parent, ino,
			    name, len);
	return rc == -ENOENT ? 0 : rc < 0 ? rc : 0;
}

/* A new regular file IN (INO), named NAME (LEN bytes; NULL: unnamed) in
 * PARENT, gets the default expiry into B. */
static int default_expiry(struct ns *ns, struct lsm_batch *b, uint64_t ino,
			  struct codec_inode *in, uint64_t parent,
			  const char *name, size_t len)
{
	if (!ns->opt.default_ttl || !S_ISREG(in->mode))
		return 0;
	in->expire_ns = ns_now_ns() + ns->opt.default_ttl * 1000000000ull;
	return ns_expiry_put_hint(b, ino, in->expire_ns, parent, name, len);
}

/* A new inode of MODE (no umask yet: ns_acl_inherit applies it or the
 * default ACL) in directory DIR. */
static void init_inode(struct codec_inode *in, const struct codec_inode *dir,
		       uint32_t mode, const struct ns_cred *c)
{
	memset(in, 0, sizeof(*in));
	in->mode = (mode & S_IFMT) | (mode & 07777);
	in->uid = c->uid;
	in->gid = c->gid;
	if (dir->mode & S_ISGID) {
		in->gid = dir->gid;
		if (S_ISDIR(mode))
			in->mode |= S_ISGID;
	}
	in->nlink = S_ISDIR(mode) ? 2 : 1;
	ns_touch(in, true, true);
	in->atime_sec = in->mtime_sec;
	in->atime_nsec = in->mtime_nsec;
}

/* Commits B plus a new name NAME (LEN) in PARENT (record DIR, whose
 * mtime and ctime become now, in the same batch, as POSIX asks) for INO
 * (record IN, symlink TARGET of TLEN); fills OUT. */
static int commit_name(struct ns *ns, struct lsm_batch *b, uint64_t parent,
		       struct codec_inode *dir, const char *name,
		       size_t len, uint64_t ino, const struct codec_inode *in,
		       const char *target, size_t tlen, struct ns_attr *out,
		       struct lsm_err *err)
{
	int rc = ns_batch_inode(b, ino, in, target, tlen);

	dir->mtime_sec = in->ctime_sec;
	dir->mtime_nsec = in->ctime_nsec;
	dir->ctime_sec = in->ctime_sec;
	dir->ctime_nsec = in->ctime_nsec;

	if (rc == 0)
		rc = batch_dentry(b, parent, name, len, ino, in->mode);
	if (rc == 0)
		rc = ns_batch_inode(b, parent, dir, NULL, 0);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	if (rc == 0 && out) {
		out->ino = ino;
		out->in = *in;
	}
	return rc;
}

static int mknod_locked(struct ns *ns, uint64_t parent, const char *name,
			size_t len, uint32_t mode, uint64_t rdev,
			const struct ns_cred *c, const char *target,
			struct ns_attr *out, struct lsm_batch *b,
			struct lsm_err *err)
{
	struct codec_inode dir, in;
	size_t tlen = target ? strlen(target) : 0;
	uint64_t ino;
	int rc;

	if (tlen > CODEC_SYMLINK_MAX)
		return lsm_err_set(err, -ENAMETOOLONG, "symlink target too long");
	rc = get_dir(ns, parent, &dir, err);
	if (rc == 0)
		rc = absent(ns, parent, name, len, err);
	if (rc == 0)
		rc = ns_alloc_ino(ns, &ino, err);
	if (rc < 0)
		return rc;
	init_inode(&in, &dir, target ? (S_IFLNK | 0777) : mode, c);
	if (!target)
		rc = ns_acl_inherit(ns, b, parent, ino, &in, c->umask, err);
	if (rc < 0)
		return rc;
	in.rdev = rdev;
	in.size = tlen;
	in.parent = S_ISDIR(mode) && !target ? parent : 0;
	rc = default_expiry(ns, b, ino, &in, parent, name, len);
	if (rc < 0)
		return rc;
	if (S_ISDIR(in.mode))
		dir.nlink++;
	return commit_name(ns, b, parent, &dir, name, len, ino, &in, target,
			   tlen, out, err);
}

int ns_mknod(struct ns *ns, uint64_t parent, const char *name, uint32_t mode,
	     uint64_t rdev, const struct ns_cred *c, const char *target,
	     struct ns_attr *out, struct lsm_err *err)
{
	struct lsm_batch *b;
	struct ns_lockset ls;
	size_t len;
	int rc = check_name(name, &len, err);

	if (rc < 0)
		return rc;
	if (ns->opt.default_ttl && (rc = ns_ttl_enable(ns, err)) < 0)
		return rc;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	for (int tries = 0;; tries++) {
		lsm_batch_clear(b);
		ns_lock(ns, &ls, &parent, 1, true);
		rc = mknod_locked(ns, parent, name, len, mode, rdev, c, target,
				  out, b, err);
		ns_unlock(ns, &ls);
		if (rc != -EKEYEXPIRED)
			break;
		if (tries == 3 || (rc = purge_name(ns, parent, name, len,
						   err)) < 0)
			break;
	}
	if (rc == -EKEYEXPIRED)
		rc = lsm_err_set(err, -EEXIST, "'%s' exists", name);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

static int tmpfile_locked(struct ns *ns, uint64_t parent, uint32_t mode,
			  const struct ns_cred *c, struct ns_attr *out,
			  struct lsm_batch *b, struct lsm_err *err)
{
	struct codec_inode dir, in;
	uint8_t key[CODEC_INO_KEY_LEN];
	uint64_t ino;
	int rc = get_dir(ns, parent, &dir, err);

	if (rc == 0)
		rc = ns_alloc_ino(ns, &ino, err);
	if (rc < 0)
		return rc;
	init_inode(&in, &dir, S_IFREG | (mode & 07777), c);
	in.nlink = 0;
	rc = ns_acl_inherit(ns, b, parent, ino, &in, c->umask, err);
	if (rc == 0)
		rc = default_expiry(ns, b, ino, &in, 0, NULL, 0);
	if (rc == 0)
		rc = ns_batch_inode(b, ino, &in, NULL, 0);
	if (rc == 0)
		rc = lsm_batch_put(b, key, codec_orphan_key(key, ino), "", 0);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	if (rc == 0) {
		out->ino = ino;
		out->in = in;
	}
	return rc;
}

int ns_tmpfile(struct ns *ns, uint64_t parent, uint32_t mode,
	       const struct ns_cred *c, struct ns_attr *out,
	       struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ns_lockset ls;
	int rc;

	if (!b)
		return ns_enomem(err);
	if (ns->opt.default_ttl && (rc = ns_ttl_enable(ns, err)) < 0) {
		lsm_batch_free(b);
		return rc;
	}
	ns_lock(ns, &ls, &parent, 1, true);
	rc = tmpfile_locked(ns, parent, mode, c, out, b, err);
	if (rc == 0) /* held before anyone can reclaim it */
		ns_open_ref(ns, out->ino);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

static int link_locked(struct ns *ns, uint64_t ino, uint64_t newparent,
		       const char *name, size_t len, struct ns_attr *out,
		       struct lsm_batch *b, struct lsm_err *err)
{
	struct codec_inode dir, in;
	char target[NS_INODE_BUF];
	size_t tlen;
	int rc;

	rc = ns_get_inode(ns, ino, &in, target, &tlen, err);
	if (rc < 0)
		return rc;
	if (ns_is_dir(&in))
		return lsm_err_set(err, -EPERM, "link: a directory");
	/* An unlinked inode gets a name again only while it is held (an
	 * O_TMPFILE file; the kernel refuses others): the name and the end
	 * of its orphan key go in one batch. */
	if (in.nlink == 0 && !ns_is_open(ns, ino))
		return lsm_err_set(err, -ENOENT, "link: inode was removed");
	if (in.nlink >= 65000)
		return lsm_err_set(err, -EMLINK, "link: too many links");
	rc = get_dir(ns, newparent, &dir, err);
	if (rc == 0)
		rc = absent(ns, newparent, name, len, err);
	if (rc < 0)
		return rc;
	if (in.nlink == 0) {
		uint8_t key[CODEC_INO_KEY_LEN];

		rc = lsm_batch_delete(b, key, codec_orphan_key(key, ino));
		if (rc < 0)
			return rc;
	}
	in.nlink++;
	ns_touch(&in, false, true);
	return commit_name(ns, b, newparent, &dir, name, len, ino, &in,
			   target, tlen, out, err);
}

int ns_link(struct ns *ns, uint64_t ino, uint64_t newparent,
	    const char *newname, struct ns_attr *out, struct lsm_err *err)
{
	uint64_t inos[2] = { ino, newparent };
	struct lsm_batch *b;
	struct ns_lockset ls;
	size_t len;
	int rc = check_name(newname, &len, err);

	if (rc < 0)
		return rc;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	for (int tries = 0;; tries++) {
		lsm_batch_clear(b);
		ns_lock(ns, &ls, inos, 2, true);
		rc = link_locked(ns, ino, newparent, newname, len, out, b, err);
		ns_unlock(ns, &ls);
		if (rc != -EKEYEXPIRED)
			break;
		if (tries == 3 || (rc = purge_name(ns, newparent, newname, len,
						   err)) < 0)
			break;
	}
	if (rc == -EKEYEXPIRED)
		rc = lsm_err_set(err, -EEXIST, "'%s' exists", newname);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

/* Is directory INO empty?  One seek over its entry prefix. */
static int dir_empty(struct ns *ns, uint64_t ino, struct lsm_err *err)
{
	uint8_t pfx[9];
	struct lsm_iter *it;
	size_t klen;
	int rc = ns_iter_ino(ns, LSM_ITER_KEYS_ONLY, CODEC_K_DENTRY, ino, &it,
			     err);

	if (rc < 0)
		return rc;
	codec_prefix(pfx, CODEC_K_DENTRY, ino);
	lsm_iter_seek(it, pfx, sizeof(pfx));
	if (lsm_iter_valid(it)) {
		const void *k = lsm_iter_key(it, &klen);

		if (klen >= 9 && memcmp(k, pfx, 9) == 0)
			rc = lsm_err_set(err, -ENOTEMPTY,
					 "directory %llu: not empty",
					 (unsigned long long)ino);
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

/* Drops one link of VICTIM (record IN) into B; a directory or a last
 * link becomes an orphan.  *ORPHAN tells whether it did. */
static int drop_link(struct lsm_batch *b, uint64_t victim,
		     struct codec_inode *in, const char *target, size_t tlen,
		     bool *orphan)
{
	int rc;

	in->nlink = ns_is_dir(in) || in->nlink <= 1 ? 0 : in->nlink - 1;
	ns_touch(in, false, true);
	*orphan = in->nlink == 0;
	rc = ns_batch_inode(b, victim, in, target, tlen);
	if (rc == 0 && *orphan)
		rc = batch_orphan(b, victim);
	return rc;
}

struct rm_ctx {
	uint64_t parent, child;
	const char *name;
	size_t len;
	bool dir;
	bool orphan;
};

static int remove_locked(struct ns *ns, struct rm_ctx *r, struct lsm_batch *b,
			 struct lsm_err *err)
{
	struct codec_inode dir, in;
	char target[NS_INODE_BUF];
	uint32_t type;
	uint64_t now_ino;
	size_t tlen;
	int rc;

	rc = ns_get_dentry(ns, r->parent, r->name, r->len, &now_ino, &type,
			   err);
	if (rc < 0)
		return rc;
	if (now_ino != r->child)
		return -EAGAIN; /* changed before we locked it: retry */
	rc = get_dir(ns, r->parent, &dir, err);
	if (rc == 0)
		rc = ns_get_inode(ns, r->child, &in, target, &tlen, err);
	if (rc < 0)
		return rc;
	if (r->dir && !ns_is_dir(&in))
		return lsm_err_set(err, -ENOTDIR, "rmdir: not a directory");
	if (!r->dir && ns_is_dir(&in))
		return lsm_err_set(err, -EISDIR, "unlink: a directory");
	if (r->dir && (rc = dir_empty(ns, r->child, err)) < 0)
		return rc;
	if (r->dir)
		dir.nlink--;
	ns_touch(&dir, true, true);
	rc = batch_undentry(b, r->parent, r->name, r->len);
	if (rc == 0)
		rc = drop_link(b, r->child, &in, target, tlen, &r->orphan);
	if (rc == 0)
		rc = ns_batch_inode(b, r->parent, &dir, NULL, 0);
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	return rc;
}

static int remove_entry(struct ns *ns, uint64_t parent, const char *name,
			bool dir, struct lsm_err *err)
{
	struct rm_ctx r = { .parent = parent, .name = name, .dir = dir };
	struct lsm_batch *b;
	struct ns_lockset ls;
	uint32_t type;
	int rc = check_name(name, &r.len, err);

	if (rc < 0)
		return rc;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	do {
		lsm_batch_clear(b);
		rc = ns_get_dentry(ns, parent, name, r.len, &r.child, &type,
				   err);
		if (rc < 0)
			break;
		uint64_t inos[2] = { parent, r.child };

		ns_lock(ns, &ls, inos, 2, true);
		rc = remove_locked(ns, &r, b, err);
		ns_unlock(ns, &ls);
		/* a directory that holds only expired files is empty */
		if (rc == -ENOTEMPTY && dir && ns_ttl_on(ns) &&
		    ns_expire_dir(ns, r.child, NULL) == 1)
			rc = -EAGAIN;
	} while (rc == -EAGAIN);
	lsm_batch_free(b);
	if (rc == 0 && r.orphan && !ns_is_open(ns, r.child))
		rc = ns_reclaim(ns, r.child, err);
	return ns_err(rc, err);
}

int ns_unlink(struct ns *ns, uint64_t parent, const char *name,
	      struct lsm_err *err)
{
	return remove_entry(ns, parent, name, false, err);
}

int ns_rmdir(struct ns *ns, uint64_t parent, const char *name,
	     struct lsm_err *err)
{
	return remove_entry(ns, parent, name, true, err);
}

int ns_readlink(struct ns *ns, uint64_t ino, char *buf, size_t cap,
		size_t *len, struct lsm_err *err)
{
	struct codec_inode in;
	char target[NS_INODE_BUF];
	size_t tlen;
	int rc = ns_get_inode(ns, ino, &in, target, &tlen, err);

	if (rc < 0)
		return rc;
	if (!S_ISLNK(in.mode))
		return lsm_err_set(err, -EINVAL, "readlink: not a symlink");
	memcpy(buf, target, tlen < cap ? tlen : cap);
	*len = tlen;
	return 0;
}

bool ns_entry_expired(struct ns *ns, const struct ns_dirent *d)
{
	struct codec_inode in;

	return ns_ttl_on(ns) && d->type == S_IFREG &&
	       ns_get_inode(ns, d->ino, &in, NULL, NULL, NULL) == 0 &&
	       ns_expired_at(&in, ns_view_now(ns));
}

int ns_readdir(struct ns *ns, uint64_t dir, const char *after,
	       int (*fn)(void *ctx, const struct ns_dirent *d), void *ctx,
	       struct lsm_err *err)
{
	return ns_readdir_flags(ns, dir, after, 0, fn, ctx, err);
}

int ns_readdir_flags(struct ns *ns, uint64_t dir, const char *after,
		     unsigned flags,
		     int (*fn)(void *ctx, const struct ns_dirent *d),
		     void *ctx, struct lsm_err *err)
{
	uint8_t start[CODEC_DENTRY_KEY_MAX];
	struct lsm_iter *it;
	size_t slen, alen = after ? strlen(after) : 0;
	bool ttl = ns_ttl_on(ns) && !(flags & NS_READDIR_ALL);
	uint64_t now = ttl ? ns_view_now(ns) : 0;
	int rc;

	if (alen > CODEC_NAME_MAX)
		return lsm_err_set(err, -EINVAL, "readdir: bad cursor");
	rc = ns_iter_ino(ns, 0, CODEC_K_DENTRY, dir, &it, err);
	if (rc < 0)
		return rc;
	slen = codec_dentry_key(start, dir, after ? after : "", alen);
	for (lsm_iter_seek(it, start, slen); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		struct ns_dirent d;
		uint64_t p;
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);

		if (codec_parse_dentry_key(k, klen, &p, &d.name, &d.nlen) ||
		    p != dir)
			break;
		if (after && d.nlen == alen && !memcmp(d.name, after, alen))
			continue;
		if (codec_dentry_decode(v, vlen, &d.ino, &d.type) < 0) {
			rc = lsm_err_set(err, -EUCLEAN,
					 "directory %llu: corrupt entry",
					 (unsigned long long)dir);
			break;
		}
		if (ttl && d.type == S_IFREG) { /* an expired file is gone */
			struct codec_inode in;

			if (ns_get_inode(ns, d.ino, &in, NULL, NULL, NULL) == 0 &&
			    ns_expired_at(&in, now))
				continue;
		}
		rc = fn(ctx, &d);
		if (rc)
			break;
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}
