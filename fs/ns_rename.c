/* ns_rename.c - rename(2) and renameat2(2) flags in one engine batch.
 * A directory moves by its entry alone (its subtree is untouched); only
 * its record's parent field and the parents' link counts change.
 * Renames are serialised by ns->rename_mu, which keeps the ancestor walk
 * of the loop check stable. */
#include "ns_priv.h"

#include <errno.h>
#include <string.h>

struct rn_side {
	uint64_t dir;        /* parent directory */
	const char *name;
	size_t len;
	uint64_t ino;        /* 0: no entry */
	struct codec_inode in;
	char target[NS_INODE_BUF];
	size_t tlen;
};

struct rn {
	struct rn_side src, dst;
	struct codec_inode sdir, ddir; /* ddir unused when same parent */
	unsigned flags;
	bool orphan;         /* dst lost its last link */
	uint64_t wh_ino;     /* NS_RENAME_WHITEOUT: the whiteout's inode */
	struct codec_inode wh;
};

static int lookup_side(struct ns *ns, struct rn_side *s, struct lsm_err *err)
{
	uint32_t type;
	int rc = ns_get_dentry(ns, s->dir, s->name, s->len, &s->ino, &type,
			       err);

	if (rc == -ENOENT) {
		s->ino = 0;
		return 0;
	}
	return rc;
}

/* Is ANC an ancestor of (or equal to) DIR?  Walks parent fields up. */
static int is_ancestor(struct ns *ns, uint64_t anc, uint64_t dir,
		       struct lsm_err *err)
{
	struct codec_inode in;
	unsigned depth = 0;
	int rc;

	while (dir != anc) {
		if (dir == CODEC_ROOT_INO || ++depth > 100000)
			return 0;
		rc = ns_get_inode(ns, dir, &in, NULL, NULL, err);
		if (rc < 0)
			return rc;
		dir = in.parent;
	}
	return 1;
}

static int check_types(struct rn *r, struct lsm_err *err)
{
	bool sdir = ns_is_dir(&r->src.in);

	if (r->dst.ino == 0)
		return 0;
	if (r->flags & NS_RENAME_NOREPLACE)
		return lsm_err_set(err, -EEXIST, "rename: target exists");
	if (r->flags & NS_RENAME_EXCHANGE)
		return 0;
	if (sdir && !ns_is_dir(&r->dst.in))
		return lsm_err_set(err, -ENOTDIR, "rename: target not a dir");
	if (!sdir && ns_is_dir(&r->dst.in))
		return lsm_err_set(err, -EISDIR, "rename: target is a dir");
	return 0;
}

static int first_entry(void *ctx, const struct ns_dirent *d)
{
	(void)ctx;
	(void)d;
	return -ENOTEMPTY;
}

static int load(struct ns *ns, struct rn *r, struct lsm_err *err)
{
	int rc;

	rc = ns_get_inode(ns, r->src.dir, &r->sdir, NULL, NULL, err);
	if (rc == 0 && r->dst.dir != r->src.dir)
		rc = ns_get_inode(ns, r->dst.dir, &r->ddir, NULL, NULL, err);
	if (rc == 0)
		rc = ns_get_inode(ns, r->src.ino, &r->src.in, r->src.target,
				  &r->src.tlen, err);
	if (rc == 0 && r->dst.ino)
		rc = ns_get_inode(ns, r->dst.ino, &r->dst.in, r->dst.target,
				  &r->dst.tlen, err);
	if (rc < 0)
		return rc;
	if (r->dst.dir != r->src.dir &&
	    (!ns_is_dir(&r->ddir) || r->ddir.nlink == 0))
		return lsm_err_set(err, ns_is_dir(&r->ddir) ? -ENOENT : -ENOTDIR,
				   "rename: bad target directory");
	return 0;
}

static int put_entry(struct lsm_batch *b, const struct rn_side *at,
		     uint64_t ino, uint32_t mode)
{
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	uint8_t val[CODEC_DENTRY_LEN];
	size_t klen = codec_dentry_key(key, at->dir, at->name, at->len);

	codec_dentry_encode(val, ino, mode);
	return lsm_batch_put(b, key, klen, val, sizeof(val));
}

static int build(struct rn *r, struct lsm_batch *b)
{
	struct codec_inode *dd = r->dst.dir == r->src.dir ? &r->sdir : &r->ddir;
	bool sdir = ns_is_dir(&r->src.in), ddir = r->dst.ino &&
		ns_is_dir(&r->dst.in);
	bool xchg = r->flags & NS_RENAME_EXCHANGE;
	uint8_t key[CODEC_DENTRY_KEY_MAX];
	int rc;

	r->sdir.nlink -= sdir;
	dd->nlink += sdir;
	if (xchg) {
		dd->nlink -= ddir;
		r->sdir.nlink += ddir;
		if (ddir)
			r->dst.in.parent = r->src.dir;
	} else if (r->dst.ino) {
		dd->nlink -= ddir;
	}
	if (sdir)
		r->src.in.parent = r->dst.dir;
	ns_touch(&r->src.in, false, true);
	ns_touch(&r->sdir, true, true);
	ns_touch(dd, true, true);
	rc = put_entry(b, &r->dst, r->src.ino, r->src.in.mode);
	if (rc == 0 && xchg)
		rc = put_entry(b, &r->src, r->dst.ino, r->dst.in.mode);
	if (rc == 0 && r->wh_ino) {
		r->wh.ctime_sec = r->sdir.ctime_sec;
		r->wh.ctime_nsec = r->sdir.ctime_nsec;
		r->wh.atime_sec = r->wh.mtime_sec = r->wh.ctime_sec;
		r->wh.atime_nsec = r->wh.mtime_nsec = r->wh.ctime_nsec;
		rc = put_entry(b, &r->src, r->wh_ino, r->wh.mode);
		if (rc == 0)
			rc = ns_batch_inode(b, r->wh_ino, &r->wh, NULL, 0);
	} else if (rc == 0 && !xchg) {
		rc = lsm_batch_delete(b, key, codec_dentry_key(key, r->src.dir,
				      r->src.name, r->src.len));
	}
	if (rc == 0)
		rc = ns_batch_inode(b, r->src.ino, &r->src.in, r->src.target,
				    r->src.tlen);
	return rc;
}

static int build_rest(struct rn *r, struct lsm_batch *b)
{
	uint8_t key[CODEC_INO_KEY_LEN];
	int rc = 0;

	if (r->dst.ino && (r->flags & NS_RENAME_EXCHANGE)) {
		ns_touch(&r->dst.in, false, true);
		rc = ns_batch_inode(b, r->dst.ino, &r->dst.in, r->dst.target,
				    r->dst.tlen);
	} else if (r->dst.ino) {
		bool dir = ns_is_dir(&r->dst.in);

		r->dst.in.nlink = dir || r->dst.in.nlink <= 1 ?
			0 : r->dst.in.nlink - 1;
		ns_touch(&r->dst.in, false, true);
		r->orphan = r->dst.in.nlink == 0;
		rc = ns_batch_inode(b, r->dst.ino, &r->dst.in, r->dst.target,
				    r->dst.tlen);
		if (rc == 0 && r->orphan)
			rc = lsm_batch_put(b, key,
					   codec_orphan_key(key, r->dst.ino),
					   "", 0);
	}
	if (rc == 0)
		rc = ns_batch_inode(b, r->src.dir, &r->sdir, NULL, 0);
	if (rc == 0 && r->dst.dir != r->src.dir)
		rc = ns_batch_inode(b, r->dst.dir, &r->ddir, NULL, 0);
	return rc;
}

static int checks(struct ns *ns, struct rn *r, struct lsm_err *err)
{
	int rc = check_types(r, err);

	if (rc < 0)
		return rc;
	if (r->dst.ino && ns_is_dir(&r->dst.in) &&
	    !(r->flags & NS_RENAME_EXCHANGE)) {
		rc = ns_readdir(ns, r->dst.ino, NULL, first_entry, NULL, err);
		if (rc == -ENOTEMPTY)
			return lsm_err_set(err, rc, "rename: target not empty");
		if (rc < 0)
			return rc;
	}
	if (r->src.dir == r->dst.dir)
		return 0;
	if (ns_is_dir(&r->src.in)) {
		rc = is_ancestor(ns, r->src.ino, r->dst.dir, err);
		if (rc > 0)
			return lsm_err_set(err, -EINVAL,
					   "rename: into its own subtree");
		if (rc < 0)
			return rc;
	}
	if (r->dst.ino && (r->flags & NS_RENAME_EXCHANGE) &&
	    ns_is_dir(&r->dst.in)) {
		rc = is_ancestor(ns, r->dst.ino, r->src.dir, err);
		if (rc > 0)
			return lsm_err_set(err, -EINVAL,
					   "rename: into its own subtree");
	}
	return rc < 0 ? rc : 0;
}

static int rename_locked(struct ns *ns, struct rn *r, struct lsm_batch *b,
			 struct lsm_err *err)
{
	uint64_t sino = r->src.ino, dino = r->dst.ino;
	int rc;

	rc = lookup_side(ns, &r->src, err);
	if (rc == 0)
		rc = lookup_side(ns, &r->dst, err);
	if (rc < 0)
		return rc;
	if (r->src.ino != sino || r->dst.ino != dino)
		return -EAGAIN;
	if (sino == dino) /* same inode: rename(2) does nothing */
		return 0;
	rc = load(ns, r, err);
	if (rc == 0)
		rc = checks(ns, r, err);
	if (rc == 0)
		rc = build(r, b);
	if (rc == 0)
		rc = build_rest(r, b);
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	return rc;
}

static int prepare(struct rn *r, uint64_t parent, const char *name,
		   uint64_t newparent, const char *newname, unsigned flags,
		   struct lsm_err *err)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->src.dir = parent;
	r->src.name = name;
	r->src.len = strlen(name);
	r->dst.dir = newparent;
	r->dst.name = newname;
	r->dst.len = strlen(newname);
	r->flags = flags;
	if ((flags & NS_RENAME_EXCHANGE) &&
	    (flags & (NS_RENAME_NOREPLACE | NS_RENAME_WHITEOUT)))
		return lsm_err_set(err, -EINVAL, "rename: bad flags");
	rc = codec_check_name(name, r->src.len);
	if (rc == 0)
		rc = codec_check_name(newname, r->dst.len);
	if (rc < 0)
		return lsm_err_set(err, rc, "rename: invalid name");
	if (codec_is_reserved(newparent, newname, r->dst.len) ||
	    codec_is_reserved(parent, name, r->src.len))
		return lsm_err_set(err, -EPERM, "rename: reserved name");
	return 0;
}

/* The whiteout renameat2(RENAME_WHITEOUT) leaves: a 0:0 character
 * device of mode 0, owned as C says (root without C). */
static int prepare_whiteout(struct ns *ns, struct rn *r,
			    const struct ns_cred *c, struct lsm_err *err)
{
	int rc = ns_alloc_ino(ns, &r->wh_ino, err);

	if (rc < 0)
		return rc;
	memset(&r->wh, 0, sizeof(r->wh));
	r->wh.mode = S_IFCHR;
	r->wh.nlink = 1;
	r->wh.uid = c ? c->uid : 0;
	r->wh.gid = c ? c->gid : 0;
	return 0;
}

int ns_rename(struct ns *ns, uint64_t parent, const char *name,
	      uint64_t newparent, const char *newname, unsigned flags,
	      struct lsm_err *err)
{
	return ns_rename2(ns, parent, name, newparent, newname, flags, NULL,
			  err);
}

int ns_rename2(struct ns *ns, uint64_t parent, const char *name,
	       uint64_t newparent, const char *newname, unsigned flags,
	       const struct ns_cred *c, struct lsm_err *err)
{
	struct lsm_batch *b;
	struct ns_lockset ls;
	struct rn r;
	int rc = prepare(&r, parent, name, newparent, newname, flags, err);

	if (rc == 0 && (flags & NS_RENAME_WHITEOUT))
		rc = prepare_whiteout(ns, &r, c, err);
	if (rc < 0)
		return rc;
	b = lsm_batch_new();
	if (!b)
		return ns_enomem(err);
	pthread_mutex_lock(&ns->rename_mu);
	do {
		lsm_batch_clear(b);
		rc = lookup_side(ns, &r.src, err);
		if (rc == 0 && r.src.ino == 0)
			rc = lsm_err_set(err, -ENOENT, "rename: no source");
		if (rc == 0)
			rc = lookup_side(ns, &r.dst, err);
		if (rc == 0 && r.dst.ino == 0 && (flags & NS_RENAME_EXCHANGE))
			rc = lsm_err_set(err, -ENOENT, "rename: no target");
		if (rc < 0)
			break;
		uint64_t inos[4] = { parent, newparent, r.src.ino, r.dst.ino };

		ns_lock(ns, &ls, inos, 4, true);
		rc = rename_locked(ns, &r, b, err);
		ns_unlock(ns, &ls);
	} while (rc == -EAGAIN);
	pthread_mutex_unlock(&ns->rename_mu);
	lsm_batch_free(b);
	if (rc == 0 && r.orphan && !ns_is_open(ns, r.dst.ino))
		rc = ns_reclaim(ns, r.dst.ino, err);
	return ns_err(rc, err);
}
