/* ns_fsck_scan.c - the checks of the filesystem check that read the
 * inode and entry key ranges and walk the tables (phases 2 to 6 of
 * ns_fsck.c): each inode record with its chunks, orphan marker and
 * xattrs; each directory entry; the directory tree; link counts. */
#include "ns_fsck_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- phase 2: inode records with their chunks, orphans, xattrs ---- */

/* What the chunk and xattr checks need of a record. */
struct fsck_rec {
	bool ok;        /* decoded */
	uint32_t type;  /* S_IFMT bits */
	uint64_t size, alloc;
};

static void check_fields(struct fsck *f, uint64_t ino,
			 const struct codec_inode *in, size_t tlen)
{
	uint32_t type = in->mode & S_IFMT;

	if (ino == 0 || (ino > CODEC_ROOT_INO && ino < CODEC_FIRST_INO))
		fsck_defer(f, NS_FSCK_INODE, ino,
			   "a reserved inode number is in use");
	if (ino == CODEC_ROOT_INO && type != S_IFDIR)
		fsck_defer(f, NS_FSCK_INODE, ino,
			   "the root is %s, not a directory",
			   fsck_type_name(type >> 12));
	if (!fsck_known_type(type >> 12))
		fsck_defer(f, NS_FSCK_INODE, ino,
			   "unknown file type (mode 0%o)", in->mode);
	if (type == S_IFLNK && (tlen != in->size || tlen > CODEC_SYMLINK_MAX))
		fsck_defer(f, NS_FSCK_INODE, ino,
			   "symlink of size %llu has a %zu-byte target",
			   (unsigned long long)in->size, tlen);
	if (type != S_IFLNK && tlen)
		fsck_defer(f, NS_FSCK_INODE, ino,
			   "record has %zu bytes past its end", tlen);
}

static int add_inode(struct fsck *f, const struct fsck_cur *c,
		     struct fsck_rec *r)
{
	struct codec_inode in;
	struct fsck_ino *e;
	struct fsck_dir *d;
	const char *t;
	size_t tlen;

	e = fsck_grow(f->inos, &f->cap_inos, f->ninos, sizeof(*e));
	if (!e)
		return fsck_enomem(f);
	f->inos = e;
	e = &f->inos[f->ninos++];
	memset(e, 0, sizeof(*e));
	e->ino = c->ino;
	f->st->inodes++;
	fsck_note_ino(f, c->ino);
	memset(r, 0, sizeof(*r));
	if (codec_inode_decode(c->val, c->vlen, &in, &t, &tlen) < 0) {
		e->flags = FI_BADREC;
		fsck_defer(f, NS_FSCK_INODE, c->ino,
			   "record does not decode (%zu bytes, version %u)",
			   c->vlen, c->vlen ? c->val[0] : 0);
		return 0;
	}
	*r = (struct fsck_rec){ true, in.mode & S_IFMT, in.size, in.alloc };
	e->type = (uint8_t)((in.mode & S_IFMT) >> 12);
	e->nlink = in.nlink;
	check_fields(f, c->ino, &in, tlen);
	if (r->type != S_IFDIR)
		return 0;
	d = fsck_grow(f->dirs, &f->cap_dirs, f->ndirs, sizeof(*d));
	if (!d)
		return fsck_enomem(f);
	f->dirs = d;
	f->dirs[f->ndirs++] = (struct fsck_dir){ .ino = c->ino,
						 .parent = in.parent };
	f->st->dirs++;
	return 0;
}

static const char *kind_what(uint8_t kind, uint64_t n)
{
	switch (kind) {
	case CODEC_K_CHUNK:
		return n == 1 ? "data chunk" : "data chunks";
	case CODEC_K_XATTR:
		return n == 1 ? "extended attribute" : "extended attributes";
	default:
		return n == 1 ? "orphan marker" : "orphan markers";
	}
}

/* Reports the keys of C below inode BELOW: they belong to no record. */
static void drain(struct fsck *f, struct fsck_cur *c, uint64_t below)
{
	enum ns_fsck_kind k = c->kind == CODEC_K_CHUNK ? NS_FSCK_CHUNK :
			      c->kind == CODEC_K_XATTR ? NS_FSCK_XATTR :
							 NS_FSCK_ORPHAN;

	while (c->valid && c->ino < below) {
		uint64_t ino = c->ino, n = 0;

		for (; c->valid && c->ino == ino; fsck_cur_next(f, c)) {
			n++;
			f->st->chunks += c->kind == CODEC_K_CHUNK;
			f->st->xattrs += c->kind == CODEC_K_XATTR;
		}
		fsck_note_ino(f, ino);
		fsck_defer(f, k, ino, "%llu %s, but no inode record",
			   (unsigned long long)n, kind_what(c->kind, n));
	}
}

struct chunk_sum {
	uint64_t n, bytes;
	uint64_t past, first_past;  /* chunks holding bytes past the size */
	uint64_t bad, first_bad;    /* chunks of a bad length */
	size_t bad_len;
};

static void add_chunk(struct fsck *f, const struct fsck_cur *c,
		      const struct fsck_rec *r, struct chunk_sum *s)
{
	uint64_t idx = codec_get_be64(c->key + 9);
	uint64_t cs = f->cs;

	s->n++;
	s->bytes += c->vlen;
	f->st->chunks++;
	if (!cs)
		return;
	if ((c->vlen == 0 || c->vlen > cs) && !s->bad++) {
		s->first_bad = idx;
		s->bad_len = c->vlen;
	}
	if ((idx > (UINT64_MAX - c->vlen) / cs ||
	     idx * cs + c->vlen > r->size) && !s->past++)
		s->first_past = idx;
}

static void check_chunks(struct fsck *f, struct fsck_cur *c, uint64_t ino,
			 const struct fsck_rec *r)
{
	struct chunk_sum s = { 0 };

	for (; c->valid && c->ino == ino; fsck_cur_next(f, c))
		add_chunk(f, c, r, &s);
	if (!r->ok)
		return;
	if (r->type != S_IFREG) {
		if (s.n)
			fsck_defer(f, NS_FSCK_CHUNK, ino,
				   "%llu data chunk%s, but it is %s",
				   (unsigned long long)s.n, s.n == 1 ? "" : "s",
				   fsck_type_name(r->type >> 12));
		return;
	}
	if (s.bad)
		fsck_defer(f, NS_FSCK_CHUNK, ino,
			   "chunk %llu holds %zu bytes (chunk size %u)%s",
			   (unsigned long long)s.first_bad, s.bad_len, f->cs,
			   s.bad > 1 ? ", and more" : "");
	if (s.past)
		fsck_defer(f, NS_FSCK_CHUNK, ino,
			   "%llu chunk%s hold%s bytes past the size %llu (the "
			   "first: chunk %llu)", (unsigned long long)s.past,
			   s.past == 1 ? "" : "s", s.past == 1 ? "s" : "",
			   (unsigned long long)r->size,
			   (unsigned long long)s.first_past);
	if (s.bytes != r->alloc)
		fsck_defer(f, NS_FSCK_CHUNK, ino,
			   "alloc says %llu bytes, its chunks hold %llu",
			   (unsigned long long)r->alloc,
			   (unsigned long long)s.bytes);
}

static void check_orphan_key(struct fsck *f, struct fsck_cur *c,
			     struct fsck_ino *e)
{
	for (; c->valid && c->ino == e->ino; fsck_cur_next(f, c))
		e->flags |= FI_ORPHAN;
}

static void check_xattrs(struct fsck *f, struct fsck_cur *c, uint64_t ino)
{
	for (; c->valid && c->ino == ino; fsck_cur_next(f, c)) {
		f->st->xattrs++;
		if (c->vlen > CODEC_XATTR_VALUE_MAX)
			fsck_defer(f, NS_FSCK_XATTR, ino,
				   "extended attribute of %zu bytes (limit %u)",
				   c->vlen, CODEC_XATTR_VALUE_MAX);
	}
}

enum { CUR_I, CUR_C, CUR_O, CUR_X, NCUR };

static int inode_step(struct fsck *f, struct fsck_cur *c)
{
	uint64_t ino = c[CUR_I].ino;
	struct fsck_rec r;
	int rc;

	drain(f, &c[CUR_C], ino);
	drain(f, &c[CUR_O], ino);
	drain(f, &c[CUR_X], ino);
	rc = add_inode(f, &c[CUR_I], &r);
	if (rc < 0)
		return rc;
	check_chunks(f, &c[CUR_C], ino, &r);
	check_orphan_key(f, &c[CUR_O], &f->inos[f->ninos - 1]);
	check_xattrs(f, &c[CUR_X], ino);
	fsck_cur_next(f, &c[CUR_I]);
	return 0;
}

int fsck_scan_inodes(struct fsck *f)
{
	static const char kinds[NCUR] = { CODEC_K_INODE, CODEC_K_CHUNK,
					  CODEC_K_ORPHAN, CODEC_K_XATTR };
	struct fsck_cur c[NCUR];
	int rc = 0;

	memset(c, 0, sizeof(c));
	f->phase = "inodes";
	for (int i = 0; i < NCUR && rc == 0; i++)
		rc = fsck_cur_open(f, &c[i], kinds[i], false);
	while (rc == 0 && c[CUR_I].valid)
		rc = inode_step(f, c);
	if (rc == 0) {
		drain(f, &c[CUR_C], UINT64_MAX);
		drain(f, &c[CUR_O], UINT64_MAX);
		drain(f, &c[CUR_X], UINT64_MAX);
	}
	for (int i = 0; i < NCUR; i++)
		rc = fsck_cur_close(f, &c[i], rc);
	return rc;
}

/* After the inode scan: the root exists, the limit is above every
 * number in use. */
void fsck_check_limit(struct fsck *f)
{
	if ((f->have_super || f->ninos) && !fsck_find_ino(f, CODEC_ROOT_INO))
		fsck_problem(f, NS_FSCK_INODE, CODEC_ROOT_INO, NULL, 0,
			     "the root directory has no inode record");
	if (f->ino_limit != UINT64_MAX && f->max_ino >= f->ino_limit)
		fsck_problem(f, NS_FSCK_SUPER, f->max_ino, NULL, 0,
			     "the superblock's inode limit %llu is not above "
			     "inode %llu, in use: new files would reuse its "
			     "number",
			     (unsigned long long)f->ino_limit,
			     (unsigned long long)f->max_ino);
}

/* ---- phases 3 and 5: directory entries ---- */

/* One entry, counted (REPORT false: its problems only counted in
 * f->bad_entries) or reported (REPORT true: nothing counted). */
struct fsck_entry {
	bool report;
	uint64_t dir, child;
	uint32_t type;   /* S_IFMT bits the entry gives */
	const char *name;
	size_t nlen;
	struct fsck_ino *di, *ci;
	unsigned bad;
};

static void entry_problem(struct fsck *f, struct fsck_entry *e,
			  enum ns_fsck_kind k, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void entry_problem(struct fsck *f, struct fsck_entry *e,
			  enum ns_fsck_kind k, const char *fmt, ...)
{
	const char *path;
	size_t plen = 0;
	va_list ap;

	e->bad++;
	if (!e->report)
		return;
	path = fsck_make_path(f, e->dir, e->name, e->nlen, &plen);
	va_start(ap, fmt);
	fsck_vproblem(f, k, e->child, path, plen, fmt, ap);
	va_end(ap);
}

static void entry_dir(struct fsck *f, struct fsck_entry *e)
{
	const struct fsck_ino *d = e->di;

	if (codec_check_name(e->name, e->nlen) < 0)
		entry_problem(f, e, NS_FSCK_ENTRY, "invalid name (%zu bytes)",
			      e->nlen);
	else if (codec_is_reserved(e->dir, e->name, e->nlen))
		entry_problem(f, e, NS_FSCK_ENTRY, "the name %s is reserved",
			      CODEC_CTL_NAME);
	if (!d)
		entry_problem(f, e, NS_FSCK_ENTRY,
			      "its directory (inode %llu) has no inode record",
			      (unsigned long long)e->dir);
	else if (!(d->flags & FI_BADREC) && d->type != T_DIR)
		entry_problem(f, e, NS_FSCK_ENTRY,
			      "its directory (inode %llu) is %s",
			      (unsigned long long)e->dir,
			      fsck_type_name(d->type));
	else if (!(d->flags & FI_BADREC) && d->nlink == 0)
		entry_problem(f, e, NS_FSCK_ENTRY,
			      "its directory (inode %llu) was removed "
			      "(link count 0)", (unsigned long long)e->dir);
}

static void entry_child(struct fsck *f, struct fsck_entry *e)
{
	const struct fsck_ino *c = e->ci;
	const struct fsck_dir *d;

	if (!c) {
		entry_problem(f, e, NS_FSCK_ENTRY,
			      "names inode %llu, which has no inode record",
			      (unsigned long long)e->child);
		return;
	}
	if (!(c->flags & FI_BADREC) && c->type != e->type >> 12)
		entry_problem(f, e, NS_FSCK_ENTRY,
			      "the entry says %s, the inode is %s",
			      fsck_type_name(e->type >> 12),
			      fsck_type_name(c->type));
	if (e->child == CODEC_ROOT_INO) {
		entry_problem(f, e, NS_FSCK_TREE, "names the root directory");
		return;
	}
	d = fsck_find_dir(f, e->child);
	if (d && d->up && (d->up != e->dir || d->name_len != e->nlen ||
			   memcmp(f->names + d->name_off, e->name, e->nlen)))
		entry_problem(f, e, NS_FSCK_TREE,
			      "a second name of a directory (inode %llu)",
			      (unsigned long long)e->child);
}

/* Counts E's link, and its directory's subdirectory; names a directory
 * by its first entry. */
static int entry_count(struct fsck *f, const struct fsck_entry *e)
{
	struct fsck_dir *parent, *child;
	bool is_dir = e->ci && !(e->ci->flags & FI_BADREC) ?
		e->ci->type == T_DIR : e->type == S_IFDIR;

	if (e->ci && e->ci->links < UINT32_MAX)
		e->ci->links++;
	if (!is_dir || e->child == CODEC_ROOT_INO)
		return 0;
	parent = fsck_find_dir(f, e->dir);
	if (parent && parent->subdirs < UINT32_MAX)
		parent->subdirs++;
	child = fsck_find_dir(f, e->child);
	if (child && !child->up)
		return fsck_name_dir(f, child, e->dir, e->name, e->nlen);
	return 0;
}

static int entry(struct fsck *f, const struct fsck_cur *c, bool report)
{
	struct fsck_entry e = { .report = report, .dir = c->ino,
				.name = (const char *)c->key + 9,
				.nlen = c->klen - 9 };
	int rc = 0;

	if (!report)
		f->st->entries++;
	if (codec_dentry_decode(c->val, c->vlen, &e.child, &e.type) < 0) {
		entry_problem(f, &e, NS_FSCK_ENTRY,
			      "entry value of %zu bytes does not decode",
			      c->vlen);
	} else {
		e.di = fsck_find_ino(f, e.dir);
		e.ci = fsck_find_ino(f, e.child);
		entry_dir(f, &e);
		entry_child(f, &e);
		if (!report)
			rc = entry_count(f, &e);
	}
	f->bad_entries += !report && e.bad;
	return rc;
}

int fsck_scan_entries(struct fsck *f, bool report)
{
	struct fsck_cur c;
	int rc;

	f->phase = "entries";
	rc = fsck_cur_open(f, &c, CODEC_K_DENTRY, report);
	while (rc == 0 && c.valid) {
		rc = entry(f, &c, report);
		fsck_cur_next(f, &c);
	}
	return fsck_cur_close(f, &c, rc);
}

/* ---- phase 4: the tree ---- */

static struct fsck_dir *up_of(const struct fsck *f, const struct fsck_dir *d)
{
	return d->up ? fsck_find_dir(f, d->up) : NULL;
}

static void report_cycle(struct fsck *f, const struct fsck_dir *start)
{
	char list[160];
	size_t n = 0;
	const struct fsck_dir *d = start;

	do {
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%llu in ",
				      (unsigned long long)d->ino);
		d = up_of(f, d);
	} while (d && d != start && n < sizeof(list) - 48);
	if (d == start)
		snprintf(list + n, sizeof(list) - n, "%llu",
			 (unsigned long long)start->ino);
	else
		snprintf(list + n, sizeof(list) - n, "...");
	fsck_problem(f, NS_FSCK_TREE, start->ino, NULL, 0,
		     "directory cycle, not reachable from the root: %s", list);
}

/* Walks up from D0 to the root, a directory already walked, one without
 * a name, or round a cycle; marks every directory passed with the end. */
static void tree_walk(struct fsck *f, struct fsck_dir *d0)
{
	struct fsck_dir *d = d0;
	uint8_t end;

	for (;;) {
		if (d->state == TS_WALK) {
			report_cycle(f, d);
			end = TS_CYCLE;
			break;
		}
		if (d->state != TS_NONE) {
			end = d->state;
			break;
		}
		d->state = TS_WALK;
		d = up_of(f, d);
		if (!d) {
			end = TS_DETACHED;
			break;
		}
	}
	for (d = d0; d && d->state == TS_WALK; d = up_of(f, d))
		d->state = end;
}

static void tree_report(struct fsck *f, const struct fsck_dir *d)
{
	const struct fsck_dir *u = up_of(f, d);
	const char *path;
	size_t plen = 0;

	if (d->ino == CODEC_ROOT_INO) {
		if (d->parent != CODEC_ROOT_INO)
			fsck_problem(f, NS_FSCK_TREE, d->ino, "/", 1,
				     "the root's parent field is %llu, not "
				     "itself",
				     (unsigned long long)d->parent);
		return;
	}
	if (!d->up || d->state == TS_CYCLE)
		return;
	path = fsck_make_path(f, d->ino, NULL, 0, &plen);
	if (d->parent != d->up)
		fsck_problem(f, NS_FSCK_TREE, d->ino, path, plen,
			     "its parent field ('..') is %llu, but its "
			     "entry is in directory %llu",
			     (unsigned long long)d->parent,
			     (unsigned long long)d->up);
	if (d->state == TS_DETACHED && u && !u->up)
		fsck_problem(f, NS_FSCK_TREE, d->ino, path, plen,
			     "not reachable from the root: the directory above "
			     "it (inode %llu) has no name",
			     (unsigned long long)u->ino);
}

void fsck_check_tree(struct fsck *f)
{
	struct fsck_dir *root = fsck_find_dir(f, CODEC_ROOT_INO);

	if (root)
		root->state = TS_ROOT;
	for (size_t i = 0; i < f->ndirs; i++)
		if (f->dirs[i].state == TS_NONE)
			tree_walk(f, &f->dirs[i]);
	for (size_t i = 0; i < f->ndirs; i++)
		tree_report(f, &f->dirs[i]);
}

/* ---- phase 6: link counts and orphans ---- */

void fsck_check_links(struct fsck *f, const struct fsck_ino *e)
{
	const struct fsck_dir *d =
		e->type == T_DIR ? fsck_find_dir(f, e->ino) : NULL;
	bool named = e->links > 0 || e->ino == CODEC_ROOT_INO;
	bool listed = e->flags & FI_ORPHAN;
	uint64_t want = d ? 2 + (uint64_t)d->subdirs : e->links;

	if (e->flags & FI_BADREC)
		return;
	if (!named && e->nlink == 0 && listed)
		f->st->orphans++;
	else if (!named && e->nlink == 0)
		fsck_defer(f, NS_FSCK_ORPHAN, e->ino,
			   "unlinked (link count 0) but not on the orphan "
			   "list: its space is never reclaimed");
	else if (!named)
		fsck_defer(f, NS_FSCK_ORPHAN, e->ino,
			   "lost: no entry names it, but its link count is "
			   "%u%s", e->nlink,
			   listed ? " (the orphan list holds it)" : "");
	else if (e->nlink != want && d)
		fsck_defer(f, NS_FSCK_NLINK, e->ino,
			   "link count %u, expected %llu (2 + %u "
			   "subdirectories)", e->nlink,
			   (unsigned long long)want, d->subdirs);
	else if (e->nlink != want)
		fsck_defer(f, NS_FSCK_NLINK, e->ino,
			   "link count %u, but %u entr%s it", e->nlink,
			   e->links, e->links == 1 ? "y names" : "ies name");
	if (named && listed)
		fsck_defer(f, NS_FSCK_ORPHAN, e->ino,
			   "on the orphan list, but an entry still names it");
}
