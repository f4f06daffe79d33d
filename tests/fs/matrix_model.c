/* matrix_model.c - the namespace model of the corruption matrix: apply an
 * operation to a store and to the model, replay it on a model alone, and
 * compare a store with a model (matrix_model.h). */
#include "matrix_model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "matrix: out of memory\n");
		abort();
	}
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static uint8_t *xmemdup(const void *p, size_t n)
{
	uint8_t *q = xrealloc(NULL, n + 1);

	if (n)
		memcpy(q, p, n);
	q[n] = 0;
	return q;
}

/* ---- the model ---- */

static size_t add_inode(struct mx_model *m, uint32_t mode, uint32_t nlink)
{
	struct mx_inode *in;

	if (m->nin == m->capin) {
		m->capin = m->capin ? 2 * m->capin : 64;
		m->in = xrealloc(m->in, m->capin * sizeof(*m->in));
	}
	in = &m->in[m->nin];
	memset(in, 0, sizeof(*in));
	in->live = true;
	in->mode = mode;
	in->nlink = nlink;
	return m->nin++;
}

static void add_entry(struct mx_model *m, const char *path, size_t inode)
{
	if (m->ne == m->cape) {
		m->cape = m->cape ? 2 * m->cape : 64;
		m->e = xrealloc(m->e, m->cape * sizeof(*m->e));
	}
	m->e[m->ne].path = xstrdup(path);
	m->e[m->ne].inode = inode;
	m->ne++;
}

void mx_init(struct mx_model *m)
{
	memset(m, 0, sizeof(*m));
	add_inode(m, S_IFDIR | 0755, 2);
	m->in[0].ino = CODEC_ROOT_INO;
}

static void free_inode_data(struct mx_inode *in)
{
	for (size_t i = 0; i < in->nxa; i++) {
		free(in->xa[i].name);
		free(in->xa[i].val);
	}
	free(in->xa);
	free(in->data);
	in->xa = NULL;
	in->nxa = 0;
	in->data = NULL;
	in->len = 0;
}

void mx_free(struct mx_model *m)
{
	for (size_t i = 0; i < m->nin; i++)
		free_inode_data(&m->in[i]);
	for (size_t i = 0; i < m->ne; i++)
		free(m->e[i].path);
	free(m->in);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

void mx_clone(struct mx_model *dst, const struct mx_model *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->nin = dst->capin = src->nin;
	dst->in = xrealloc(NULL, src->nin * sizeof(*dst->in));
	for (size_t i = 0; i < src->nin; i++) {
		const struct mx_inode *s = &src->in[i];
		struct mx_inode *d = &dst->in[i];

		*d = *s;
		d->data = s->data ? xmemdup(s->data, s->len) : NULL;
		d->xa = xrealloc(NULL, s->nxa * sizeof(*d->xa));
		for (size_t k = 0; k < s->nxa; k++) {
			d->xa[k].name = xstrdup(s->xa[k].name);
			d->xa[k].val = xmemdup(s->xa[k].val, s->xa[k].len);
			d->xa[k].len = s->xa[k].len;
		}
	}
	dst->ne = dst->cape = src->ne;
	dst->e = xrealloc(NULL, src->ne * sizeof(*dst->e));
	for (size_t i = 0; i < src->ne; i++) {
		dst->e[i].path = xstrdup(src->e[i].path);
		dst->e[i].inode = src->e[i].inode;
	}
}

static size_t find_entry(const struct mx_model *m, const char *path)
{
	for (size_t i = 0; i < m->ne; i++)
		if (strcmp(m->e[i].path, path) == 0)
			return i;
	return SIZE_MAX;
}

size_t mx_find(const struct mx_model *m, const char *path)
{
	size_t i;

	if (!*path)
		return 0;
	i = find_entry(m, path);
	return i == SIZE_MAX ? SIZE_MAX : m->e[i].inode;
}

/* Splits PATH into its parent's path (in DIR) and its last component. */
static const char *split(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return slash ? slash + 1 : path;
}

static size_t parent_of(const struct mx_model *m, const char *path)
{
	char dir[4096];

	split(path, dir, sizeof(dir));
	return mx_find(m, dir);
}

static struct mx_xattr *find_xattr(struct mx_inode *in, const char *name)
{
	for (size_t i = 0; i < in->nxa; i++)
		if (strcmp(in->xa[i].name, name) == 0)
			return &in->xa[i];
	return NULL;
}

static void set_len(struct mx_inode *in, size_t len)
{
	in->data = xrealloc(in->data, len + 1);
	if (len > in->len)
		memset(in->data + in->len, 0, len - in->len);
	in->len = len;
}

static void apply_xattr(struct mx_inode *in, const struct mx_op *op)
{
	struct mx_xattr *x = find_xattr(in, op->name);

	if (op->kind == MX_RMXATTR) {
		if (!x)
			return;
		free(x->name);
		free(x->val);
		*x = in->xa[--in->nxa];
		return;
	}
	if (!x) {
		in->xa = xrealloc(in->xa, (in->nxa + 1) * sizeof(*in->xa));
		x = &in->xa[in->nxa++];
		x->name = xstrdup(op->name);
	} else {
		free(x->val);
	}
	x->val = xmemdup(op->data, op->len);
	x->len = op->len;
}

/* The model effect of OP; returns the inodes it changed (TOUCHED). */
static unsigned apply_one(struct mx_model *m, const struct mx_op *op,
			  size_t touched[MX_MAX_CAPS])
{
	size_t t = mx_find(m, op->path), p = parent_of(m, op->path), e;
	struct mx_inode *in;
	unsigned n = 0;

	switch (op->kind) {
	case MX_MKDIR:
	case MX_CREATE:
	case MX_SYMLINK:
		t = add_inode(m, op->kind == MX_MKDIR ? S_IFDIR | op->mode :
			      op->kind == MX_CREATE ? S_IFREG | op->mode :
			      S_IFLNK | 0777, op->kind == MX_MKDIR ? 2 : 1);
		m->in[t].ino = op->new_ino;
		if (op->kind == MX_SYMLINK) {
			m->in[t].data = xmemdup(op->data, op->len);
			m->in[t].len = op->len;
		}
		if (op->kind == MX_MKDIR)
			m->in[p].nlink++;
		add_entry(m, op->path, t);
		touched[n++] = t;
		touched[n++] = p;
		break;
	case MX_WRITE:
		in = &m->in[t];
		if (op->off + op->len > in->len)
			set_len(in, op->off + op->len);
		memcpy(in->data + op->off, op->data, op->len);
		touched[n++] = t;
		break;
	case MX_TRUNC:
		set_len(&m->in[t], op->off);
		touched[n++] = t;
		break;
	case MX_UNLINK:
		e = find_entry(m, op->path);
		free(m->e[e].path);
		m->e[e] = m->e[--m->ne];
		touched[n++] = p;
		if (--m->in[t].nlink == 0) {
			m->in[t].live = false;
			free_inode_data(&m->in[t]);
		} else {
			touched[n++] = t;
		}
		break;
	case MX_LINK:
		m->in[t].nlink++;
		add_entry(m, op->path2, t);
		touched[n++] = t;
		touched[n++] = parent_of(m, op->path2);
		break;
	case MX_SETXATTR:
	case MX_RMXATTR:
		apply_xattr(&m->in[t], op);
		touched[n++] = t;
		break;
	case MX_RENAME:
		e = find_entry(m, op->path);
		free(m->e[e].path);
		m->e[e].path = xstrdup(op->path2);
		touched[n++] = t;
		touched[n++] = p;
		if (parent_of(m, op->path2) != p)
			touched[n++] = parent_of(m, op->path2);
		break;
	case MX_CHMOD:
		in = &m->in[t];
		in->mode = (in->mode & S_IFMT) | (op->mode & 07777);
		touched[n++] = t;
		break;
	}
	return n;
}

void mx_apply(struct mx_model *m, const struct mx_op *op)
{
	size_t touched[MX_MAX_CAPS];

	apply_one(m, op, touched);
	for (unsigned i = 0; i < op->ncap; i++)
		m->in[op->cap[i].inode].cap = op->cap[i].in;
}

void mx_op_free(struct mx_op *op)
{
	free(op->path);
	free(op->path2);
	free(op->name);
	free(op->data);
	memset(op, 0, sizeof(*op));
}

/* ---- applying to a store ---- */

static int resolve(struct ns *ns, const char *path, uint64_t *ino,
		   struct lsm_err *err)
{
	struct ns_attr a;
	int rc = ns_resolve(ns, path, &a, err);

	if (rc == 0)
		*ino = a.ino;
	return rc;
}

static int do_ns(struct ns *ns, struct mx_op *op, const struct ns_cred *c,
		 struct lsm_err *err)
{
	char dir[4096], dir2[4096];
	const char *base = split(op->path, dir, sizeof(dir)), *base2;
	struct ns_setattr s = { 0 };
	struct ns_attr a;
	uint64_t ino = 0, p = 0, p2 = 0;
	int rc;

	switch (op->kind) {
	case MX_MKDIR:
	case MX_CREATE:
	case MX_SYMLINK:
		rc = resolve(ns, dir, &p, err);
		if (rc == 0)
			rc = ns_mknod(ns, p, base, op->kind == MX_MKDIR ?
				      S_IFDIR | op->mode : S_IFREG | op->mode,
				      0, c, op->kind == MX_SYMLINK ?
				      (const char *)op->data : NULL, &a, err);
		if (rc == 0)
			op->new_ino = a.ino;
		return rc;
	case MX_UNLINK:
		rc = resolve(ns, dir, &p, err);
		return rc ? rc : ns_unlink(ns, p, base, err);
	case MX_RENAME:
		base2 = split(op->path2, dir2, sizeof(dir2));
		rc = resolve(ns, dir, &p, err);
		if (rc == 0)
			rc = resolve(ns, dir2, &p2, err);
		return rc ? rc : ns_rename(ns, p, base, p2, base2,
					   NS_RENAME_NOREPLACE, err);
	default:
		break;
	}
	rc = resolve(ns, op->path, &ino, err);
	if (rc < 0)
		return rc;
	switch (op->kind) {
	case MX_WRITE:
		return ns_write(ns, ino, op->off, op->data, op->len, err);
	case MX_TRUNC:
		s.valid = NS_SET_SIZE;
		s.size = op->off;
		return ns_setattr(ns, ino, &s, NULL, err);
	case MX_CHMOD:
		s.valid = NS_SET_MODE;
		s.mode = op->mode;
		return ns_setattr(ns, ino, &s, NULL, err);
	case MX_LINK:
		base2 = split(op->path2, dir2, sizeof(dir2));
		rc = resolve(ns, dir2, &p2, err);
		return rc ? rc : ns_link(ns, ino, p2, base2, NULL, err);
	case MX_SETXATTR:
		return ns_setxattr(ns, ino, op->name, op->data, op->len, 0,
				   err);
	case MX_RMXATTR:
		return ns_removexattr(ns, ino, op->name, err);
	default:
		return lsm_err_set(err, -EINVAL, "bad op");
	}
}

int mx_do(struct ns *ns, struct mx_model *m, struct mx_op *op,
	  const struct ns_cred *c, struct lsm_err *err)
{
	size_t touched[MX_MAX_CAPS];
	unsigned n;
	int rc = do_ns(ns, op, c, err);

	if (rc < 0)
		return rc;
	n = apply_one(m, op, touched);
	op->ncap = 0;
	for (unsigned i = 0; i < n; i++) {
		struct mx_inode *in = &m->in[touched[i]];
		struct ns_attr a;

		rc = ns_getattr(ns, in->ino, &a, err);
		if (rc < 0)
			return rc;
		if (a.in.mode != in->mode || a.in.nlink != in->nlink ||
		    (!S_ISDIR(in->mode) && a.in.size != in->len))
			return lsm_err_set(err, -EPROTO, "%s: model and store "
					   "disagree (mode %o/%o nlink %u/%u "
					   "size %llu/%zu)", op->path,
					   a.in.mode, in->mode, a.in.nlink,
					   in->nlink,
					   (unsigned long long)a.in.size,
					   in->len);
		in->cap = a.in;
		op->cap[op->ncap].inode = touched[i];
		op->cap[op->ncap++].in = a.in;
	}
	return 0;
}

/* ---- comparing a store with the model ---- */

bool mx_is_io_error(int rc)
{
	return rc == -EIO || rc == -EUCLEAN || rc == -EBADMSG;
}

static void wrong(struct mx_verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void wrong(struct mx_verdict *v, const char *fmt, ...)
{
	va_list ap;

	if (v->wrong++ == 0) {
		va_start(ap, fmt);
		vsnprintf(v->what, sizeof(v->what), fmt, ap);
		va_end(ap);
	}
}

/* Counts RC: true when it is 0; an I/O error is counted, anything else is
 * a wrong answer about PATH. */
static bool answer(struct mx_verdict *v, int rc, const struct lsm_err *e,
		   const char *what, const char *path)
{
	if (rc >= 0)
		return true;
	if (mx_is_io_error(rc)) {
		if (v->eio++ == 0) {
			v->eio_code = rc;
			snprintf(v->eio_msg, sizeof(v->eio_msg), "%s", e->msg);
		}
	} else {
		wrong(v, "'%s': %s failed with %s (%s): a name that vanished "
		      "or an error that is not EIO", path, what, strerror(-rc),
		      e->msg);
	}
	return false;
}

static void cmp_attr(struct mx_verdict *v, const char *path,
		     const struct mx_inode *in, const struct ns_attr *a)
{
	const struct codec_inode *x = &in->cap, *y = &a->in;

	if (a->ino != in->ino)
		wrong(v, "'%s': inode %llu, expected %llu", path,
		      (unsigned long long)a->ino, (unsigned long long)in->ino);
	else if (y->mode != x->mode || y->uid != x->uid || y->gid != x->gid ||
		 y->nlink != x->nlink || y->size != x->size ||
		 y->alloc != x->alloc || y->rdev != x->rdev ||
		 y->parent != x->parent)
		wrong(v, "'%s': attributes differ (mode %o/%o nlink %u/%u size "
		      "%llu/%llu alloc %llu/%llu)", path, y->mode, x->mode,
		      y->nlink, x->nlink, (unsigned long long)y->size,
		      (unsigned long long)x->size, (unsigned long long)y->alloc,
		      (unsigned long long)x->alloc);
	else if (y->mtime_sec != x->mtime_sec ||
		 y->mtime_nsec != x->mtime_nsec ||
		 y->ctime_sec != x->ctime_sec || y->ctime_nsec != x->ctime_nsec)
		wrong(v, "'%s': times differ", path);
}

struct dir_walk {
	const struct mx_model *m;
	const char *dir;
	struct mx_verdict *v;
	unsigned seen;
};

static int on_dirent(void *ctx, const struct ns_dirent *d)
{
	struct dir_walk *w = ctx;
	char path[4096];
	size_t i;

	snprintf(path, sizeof(path), "%s%s%.*s", w->dir, *w->dir ? "/" : "",
		 (int)d->nlen, d->name);
	i = mx_find(w->m, path);
	if (i == SIZE_MAX) {
		wrong(w->v, "'%s': listed, but no such name", path);
		return 0;
	}
	w->seen++;
	if (d->ino != w->m->in[i].ino ||
	    d->type != (w->m->in[i].mode & S_IFMT))
		wrong(w->v, "'%s': listed as inode %llu type %o", path,
		      (unsigned long long)d->ino, d->type);
	return 0;
}

static void check_dir(struct ns *ns, const struct mx_model *m,
		      const char *dir, uint64_t ino, struct mx_verdict *v)
{
	struct dir_walk w = { .m = m, .dir = dir, .v = v };
	struct lsm_err e = { 0 };
	char pdir[4096];
	unsigned want = 0;
	int rc = ns_readdir(ns, ino, NULL, on_dirent, &w, &e);

	if (!answer(v, rc, &e, "readdir", dir))
		return;
	for (size_t i = 0; i < m->ne; i++) {
		split(m->e[i].path, pdir, sizeof(pdir));
		want += strcmp(pdir, dir) == 0;
	}
	if (w.seen != want)
		wrong(v, "'%s': %u names listed, expected %u", dir, w.seen,
		      want);
}

static void check_xattrs(struct ns *ns, const char *path,
			 const struct mx_inode *in, struct mx_verdict *v)
{
	struct lsm_err e = { 0 };
	char names[8192], val[4096];
	size_t len = 0, n = 0;
	int rc = ns_listxattr(ns, in->ino, names, sizeof(names), &len, &e);

	if (!answer(v, rc, &e, "listxattr", path))
		return;
	for (size_t off = 0; off < len; off += strlen(names + off) + 1)
		n++;
	if (n != in->nxa)
		wrong(v, "'%s': %zu xattrs, expected %zu", path, n, in->nxa);
	for (size_t i = 0; i < in->nxa; i++) {
		const struct mx_xattr *x = &in->xa[i];

		rc = ns_getxattr(ns, in->ino, x->name, val, sizeof(val), &len,
				 &e);
		if (!answer(v, rc, &e, "getxattr", path))
			continue;
		if (len != x->len || memcmp(val, x->val, len) != 0)
			wrong(v, "'%s': xattr %s: wrong value", path, x->name);
	}
}

static void check_data(struct ns *ns, const char *path,
		       const struct mx_inode *in, struct mx_verdict *v)
{
	struct lsm_err e = { 0 };
	uint8_t *buf = xrealloc(NULL, in->len + 1);
	size_t got = 0;
	int rc;

	if (S_ISLNK(in->mode))
		rc = ns_readlink(ns, in->ino, (char *)buf, in->len + 1, &got,
				 &e);
	else
		rc = ns_read(ns, in->ino, 0, in->len + 1, buf, &got, &e);
	if (answer(v, rc, &e, "read", path) &&
	    (got != in->len || (got && memcmp(buf, in->data, got) != 0))) {
		size_t at = 0;

		while (at < got && at < in->len && buf[at] == in->data[at])
			at++;
		wrong(v, "'%s': WRONG BYTES: read %zu bytes, expected %zu, "
		      "first difference at %zu", path, got, in->len, at);
	}
	free(buf);
}

static void check_name(struct ns *ns, const struct mx_model *m,
		       const char *path, const struct mx_inode *in,
		       struct mx_verdict *v)
{
	struct lsm_err e = { 0 };
	struct ns_attr a;
	int rc;

	v->checked++;
	rc = *path ? ns_resolve(ns, path, &a, &e) :
		     ns_getattr(ns, CODEC_ROOT_INO, &a, &e);
	if (!answer(v, rc, &e, "lookup", path))
		return;
	cmp_attr(v, path, in, &a);
	if (S_ISDIR(in->mode))
		check_dir(ns, m, path, in->ino, v);
	else
		check_data(ns, path, in, v);
	check_xattrs(ns, path, in, v);
}

void mx_verify(struct ns *ns, const struct mx_model *m, struct mx_verdict *v)
{
	memset(v, 0, sizeof(*v));
	check_name(ns, m, "", &m->in[0], v);
	for (size_t i = 0; i < m->ne; i++)
		check_name(ns, m, m->e[i].path, &m->in[m->e[i].inode], v);
}
