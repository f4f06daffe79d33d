/* ns_fsck.c - the filesystem check (ns_fsck.h) over the public engine API
 * and the codec.  Phases, each an ordered scan or a walk of the tables:
 *  1. the superblock;
 *  2. the inode records merged in inode order with the chunk, orphan and
 *     xattr ranges (all keyed by ino:be64): per-inode checks, and a table
 *     of every inode (sorted, as the keys come) and of every directory;
 *  3. the entries: link and subdirectory counts, each directory's name;
 *  4. the tree, over the directory table: cycles, reachability, '..';
 *  5. the entries again, only when one was wrong, to report it by path;
 *  6. the link counts and orphan markers, over the inode table;
 *  7. the problems about an inode, waiting for a path: one more entry
 *     scan finds a name for each file among them.
 * Keys of no known kind are found by seeking past each known range.
 * Nothing is ever written. */
#include "ns_fsck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

#define FSCK_QUEUE_MAX 4096u   /* problems waiting for a path */
#define FSCK_MSG_MAX 256u

#define FI_ORPHAN 0x1u  /* an orphan marker lists the inode */
#define FI_BADREC 0x2u  /* the record does not decode: type, nlink unknown */

#define T_DIR (S_IFDIR >> 12)

/* One inode record (24 bytes); the table is sorted by ino. */
struct fsck_ino {
	uint64_t ino;
	uint32_t nlink;   /* as recorded */
	uint32_t links;   /* entries naming it */
	uint8_t type;     /* st_mode >> 12 */
	uint8_t flags;    /* FI_* */
};

enum { TS_NONE, TS_WALK, TS_ROOT, TS_DETACHED, TS_CYCLE };

/* One directory (40 bytes + its name in the names arena), sorted. */
struct fsck_dir {
	uint64_t ino;
	uint64_t parent;   /* the record's parent field ('..') */
	uint64_t up;       /* the directory holding its (first) entry, 0 */
	uint64_t name_off; /* that entry's name in fsck.names */
	uint32_t subdirs;  /* entries in it naming directories */
	uint16_t name_len;
	uint8_t state;     /* TS_*: where the walk up from it ends */
};

/* A problem about one inode, waiting for a path. */
struct fsck_pending {
	uint64_t ino, seq;
	enum ns_fsck_kind kind;
	char *msg;
	char *path; /* malloc'ed, or NULL */
	size_t path_len;
};

struct fsck {
	struct lsm_db *db;
	const struct lsm_snapshot *snap;
	struct ns_fsck_options o;
	struct ns_fsck_stats *st;
	struct lsm_err *err;
	const char *phase;
	uint64_t next_progress;
	uint32_t cs;           /* chunk size; 0 when unknown */
	uint64_t ino_limit;    /* UINT64_MAX when unknown */
	uint64_t max_ino;      /* the largest inode number in use */
	bool have_super;       /* a superblock key exists */
	bool stop;             /* unknown format: check nothing more */
	uint64_t bad_entries;  /* entries found wrong (phase 3) */
	struct fsck_ino *inos;
	size_t ninos, cap_inos;
	struct fsck_dir *dirs;
	size_t ndirs, cap_dirs;
	char *names;
	size_t names_len, names_cap;
	struct fsck_pending *pend;
	size_t npend;
	char *pbuf;            /* path scratch */
	size_t pcap;
};

/* An iterator over the keys of one kind (their first byte), skipping
 * (and, unless quiet, reporting) keys of a malformed length. */
struct fsck_cur {
	struct lsm_iter *it;
	uint8_t kind;
	bool quiet;
	bool valid;
	uint64_t ino;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

const char *ns_fsck_kind_name(enum ns_fsck_kind k)
{
	static const char *const names[NS_FSCK_NKINDS] = {
		"super", "key", "inode", "entry", "nlink", "chunk", "xattr",
		"orphan", "tree",
	};

	return (unsigned)k < NS_FSCK_NKINDS ? names[k] : "?";
}

void ns_fsck_options_init(struct ns_fsck_options *o)
{
	memset(o, 0, sizeof(*o));
}

/* ---- reporting ---- */

static void count(struct fsck *f, enum ns_fsck_kind k)
{
	f->st->problems++;
	f->st->by_kind[k]++;
}

static void vproblem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		     const char *path, size_t plen, const char *fmt,
		     va_list ap)
{
	char msg[FSCK_MSG_MAX];
	struct ns_fsck_problem p = { k, ino, path, plen, msg };

	vsnprintf(msg, sizeof(msg), fmt, ap);
	count(f, k);
	if (f->o.report)
		f->o.report(f->o.ctx, &p);
}

static void problem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		    const char *path, size_t plen, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void problem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		    const char *path, size_t plen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(f, k, ino, path, plen, fmt, ap);
	va_end(ap);
}

/* A problem about inode INO, reported at the end with a path (or at
 * once, without one, when the queue is full or memory short). */
static void defer(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void defer(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		  const char *fmt, ...)
{
	char msg[FSCK_MSG_MAX];
	struct fsck_pending *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f->pend && !(f->pend = calloc(FSCK_QUEUE_MAX, sizeof(*p))))
		goto now;
	if (f->npend == FSCK_QUEUE_MAX)
		goto now;
	p = &f->pend[f->npend];
	p->msg = strdup(msg);
	if (!p->msg)
		goto now;
	p->ino = ino;
	p->seq = f->npend++;
	p->kind = k;
	return;
now:
	problem(f, k, ino, NULL, 0, "%s", msg);
}

/* Escapes at most 48 bytes of (P, N) into OUT (200 bytes). */
static const char *esc(char *out, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && i < 48; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			out[o++] = (char)p[i];
		else
			o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
	}
	if (n > 48)
		o += (size_t)sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

static bool known_type(unsigned type)
{
	switch (type << 12) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

static const char *type_name(unsigned type)
{
	switch (type << 12) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symlink";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a fifo";
	case S_IFSOCK: return "a socket";
	default: return "of an unknown type";
	}
}

/* ---- cursors ---- */

static void tick(struct fsck *f)
{
	if (++f->st->keys < f->next_progress)
		return;
	f->next_progress += NS_FSCK_PROGRESS_KEYS;
	if (f->o.progress)
		f->o.progress(f->o.ctx, f->phase, f->st->keys);
}

static bool key_len_ok(uint8_t kind, size_t klen)
{
	switch (kind) {
	case CODEC_K_CHUNK:
		return klen == CODEC_CHUNK_KEY_LEN;
	case CODEC_K_INODE:
	case CODEC_K_ORPHAN:
		return klen == CODEC_INO_KEY_LEN;
	case CODEC_K_XATTR:
		return klen > 9 && klen <= CODEC_XATTR_KEY_MAX;
	default:
		return klen > 9 && klen <= CODEC_DENTRY_KEY_MAX;
	}
}

static void cur_load(struct fsck *f, struct fsck_cur *c)
{
	char e[200];

	for (;;) {
		c->valid = lsm_iter_valid(c->it);
		if (!c->valid)
			return;
		c->key = lsm_iter_key(c->it, &c->klen);
		if (c->klen == 0 || c->key[0] != c->kind) {
			c->valid = false;
			return;
		}
		if (key_len_ok(c->kind, c->klen))
			break;
		if (!c->quiet)
			problem(f, NS_FSCK_KEY, 0, NULL, 0,
				"malformed key '%s' (%zu bytes)",
				esc(e, c->key, c->klen), c->klen);
		tick(f);
		lsm_iter_next(c->it);
	}
	c->val = lsm_iter_value(c->it, &c->vlen);
	c->ino = codec_get_be64(c->key + 1);
}

static int cur_open(struct fsck *f, struct fsck_cur *c, char kind,
		    bool quiet)
{
	uint8_t k = (uint8_t)kind;
	int rc;

	memset(c, 0, sizeof(*c));
	c->kind = k;
	c->quiet = quiet;
	rc = lsm_iter_new(f->db, f->snap, &c->it, f->err);
	if (rc < 0)
		return rc;
	lsm_iter_seek(c->it, &k, 1);
	cur_load(f, c);
	return 0;
}

static void cur_next(struct fsck *f, struct fsck_cur *c)
{
	tick(f);
	lsm_iter_next(c->it);
	cur_load(f, c);
}

/* Frees C; RC, or the error its iterator stopped on. */
static int cur_close(struct fsck *f, struct fsck_cur *c, int rc)
{
	if (c->it && rc == 0)
		rc = lsm_iter_status(c->it, f->err);
	lsm_iter_free(c->it);
	c->it = NULL;
	return rc;
}

/* ---- tables ---- */

static int enomem(struct fsck *f)
{
	return lsm_err_set(f->err, -ENOMEM, "filesystem check: out of memory");
}

/* P (*CAP elements of SIZE bytes, N used) with room for one more: P
 * itself or a larger copy (*CAP updated); NULL without memory (P is
 * left as it was). */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap + *cap / 2 : 1024;
	void *q;

	if (n < *cap)
		return p;
	q = realloc(p, ncap * size);
	if (q)
		*cap = ncap;
	return q;
}

static struct fsck_ino *find_ino(const struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->ninos;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->inos[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ninos && f->inos[lo].ino == ino ? &f->inos[lo] : NULL;
}

static struct fsck_dir *find_dir(const struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->ndirs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->dirs[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ndirs && f->dirs[lo].ino == ino ? &f->dirs[lo] : NULL;
}

static void note_ino(struct fsck *f, uint64_t ino)
{
	if (ino > f->max_ino)
		f->max_ino = ino;
}

/* Remembers (NAME, LEN) as directory D's name, entry in directory UP. */
static int name_dir(struct fsck *f, struct fsck_dir *d, uint64_t up,
		    const char *name, size_t len)
{
	if (f->names_len + len > f->names_cap) {
		size_t ncap = (f->names_cap + len) * 2;
		char *q = realloc(f->names, ncap);

		if (!q)
			return enomem(f);
		f->names = q;
		f->names_cap = ncap;
	}
	memcpy(f->names + f->names_len, name, len);
	d->up = up;
	d->name_off = f->names_len;
	d->name_len = (uint16_t)len;
	f->names_len += len;
	return 0;
}

/* ---- paths ---- */

/* The path of directory DIR, then "/NAME" when NAME is non-NULL, in
 * f->pbuf; *LEN its length.  NULL in a cycle or without memory. */
static const char *make_path(struct fsck *f, uint64_t dir, const char *name,
			     size_t nlen, size_t *len)
{
	char top[32] = "";
	size_t n = name ? nlen + 1 : 0, pos;
	const struct fsck_dir *d;
	uint64_t at = dir;

	for (; at != CODEC_ROOT_INO; at = d->up) {
		d = find_dir(f, at);
		if (d && d->state == TS_CYCLE)
			return NULL;
		if (!d || !d->up)
			break;
		n += d->name_len + 1u;
	}
	if (at != CODEC_ROOT_INO)
		n += (size_t)snprintf(top, sizeof(top), "#%llu",
				      (unsigned long long)at);
	else if (n == 0)
		n = 1; /* "/" */
	if (n + 1 > f->pcap) {
		char *q = realloc(f->pbuf, n + 1);

		if (!q)
			return NULL;
		f->pbuf = q;
		f->pcap = n + 1;
	}
	pos = n;
	if (name) {
		pos -= nlen;
		memcpy(f->pbuf + pos, name, nlen);
		f->pbuf[--pos] = '/';
	}
	for (at = dir; at != CODEC_ROOT_INO; at = d->up) {
		d = find_dir(f, at);
		if (!d || !d->up)
			break;
		pos -= d->name_len;
		memcpy(f->pbuf + pos, f->names + d->name_off, d->name_len);
		f->pbuf[--pos] = '/';
	}
	memcpy(f->pbuf, at == CODEC_ROOT_INO ? "/" : top,
	       at == CODEC_ROOT_INO ? (pos ? 1 : 0) : strlen(top));
	*len = n;
	return f->pbuf;
}

/* ---- phase 1: the superblock and keys of no known kind ---- */

static void decode_super(struct fsck *f, const uint8_t *v, size_t n)
{
	uint32_t version, cs;

	if (n != CODEC_SUPER_LEN || memcmp(v, "LSMF", 4) != 0) {
		problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			"superblock does not decode (%zu bytes%s)", n,
			n >= 4 && memcmp(v, "LSMF", 4) ? ", no LSMF magic" : "");
		return;
	}
	version = codec_get_le32(v + 4);
	cs = codec_get_le32(v + 8);
	if (version != CODEC_FORMAT_VERSION) {
		problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			"unknown format version %u (this tool knows %u): "
			"not checked further", version, CODEC_FORMAT_VERSION);
		f->stop = true;
		return;
	}
	if (cs < CODEC_MIN_CHUNK || cs > CODEC_MAX_CHUNK || (cs & (cs - 1)))
		problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			"chunk size %u is not a power of two in [%u, %u]", cs,
			CODEC_MIN_CHUNK, CODEC_MAX_CHUNK);
	else
		f->cs = cs;
	f->ino_limit = codec_get_le64(v + 16);
}

static int check_super(struct fsck *f, bool *empty)
{
	struct lsm_iter *it;
	size_t klen, vlen;
	const void *k;
	int rc = lsm_iter_new(f->db, f->snap, &it, f->err);

	if (rc < 0)
		return rc;
	lsm_iter_seek_first(it);
	*empty = !lsm_iter_valid(it);
	lsm_iter_seek(it, CODEC_SUPER_KEY, CODEC_SUPER_KEY_LEN);
	k = lsm_iter_valid(it) ? lsm_iter_key(it, &klen) : NULL;
	if (k && klen == CODEC_SUPER_KEY_LEN &&
	    memcmp(k, CODEC_SUPER_KEY, klen) == 0) {
		const uint8_t *v = lsm_iter_value(it, &vlen);

		tick(f);
		f->have_super = true;
		decode_super(f, v, vlen);
	} else if (!*empty) {
		problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			"no superblock: not an lsmfs store, or it was lost");
	}
	rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc;
}

static bool known_kind(uint8_t k)
{
	return k == CODEC_K_CHUNK || k == CODEC_K_DENTRY ||
	       k == CODEC_K_INODE || k == CODEC_K_ORPHAN || k == CODEC_K_XATTR;
}

/* Reports each run of keys of no known kind: one seek past each known
 * range, so only the stray keys themselves are read. */
static int check_stray(struct fsck *f)
{
	struct lsm_iter *it;
	char e[200];
	int rc = lsm_iter_new(f->db, f->snap, &it, f->err);

	if (rc < 0)
		return rc;
	lsm_iter_seek_first(it);
	while (lsm_iter_valid(it)) {
		size_t klen, n = 0;
		const uint8_t *k = lsm_iter_key(it, &klen);
		uint8_t next;

		if (klen == CODEC_SUPER_KEY_LEN &&
		    memcmp(k, CODEC_SUPER_KEY, klen) == 0) {
			lsm_iter_next(it);
			continue;
		}
		if (klen > 0 && known_kind(k[0])) {
			next = (uint8_t)(k[0] + 1);
			lsm_iter_seek(it, &next, 1);
			continue;
		}
		esc(e, k, klen);
		do {
			n++;
			tick(f);
			lsm_iter_next(it);
			k = lsm_iter_valid(it) ? lsm_iter_key(it, &klen) : NULL;
		} while (k && (klen == 0 || !known_kind(k[0])) &&
			 !(klen == CODEC_SUPER_KEY_LEN &&
			   memcmp(k, CODEC_SUPER_KEY, klen) == 0));
		problem(f, NS_FSCK_KEY, 0, NULL, 0,
			"%zu key%s of no known kind, from '%s'", n,
			n == 1 ? "" : "s", e);
	}
	rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc;
}

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
		defer(f, NS_FSCK_INODE, ino, "a reserved inode number is in use");
	if (ino == CODEC_ROOT_INO && type != S_IFDIR)
		defer(f, NS_FSCK_INODE, ino, "the root is %s, not a directory",
		      type_name(type >> 12));
	if (!known_type(type >> 12))
		defer(f, NS_FSCK_INODE, ino, "unknown file type (mode 0%o)",
		      in->mode);
	if (type == S_IFLNK && (tlen != in->size || tlen > CODEC_SYMLINK_MAX))
		defer(f, NS_FSCK_INODE, ino,
		      "symlink of size %llu has a %zu-byte target",
		      (unsigned long long)in->size, tlen);
	if (type != S_IFLNK && tlen)
		defer(f, NS_FSCK_INODE, ino,
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

	e = grow(f->inos, &f->cap_inos, f->ninos, sizeof(*e));
	if (!e)
		return enomem(f);
	f->inos = e;
	e = &f->inos[f->ninos++];
	memset(e, 0, sizeof(*e));
	e->ino = c->ino;
	f->st->inodes++;
	note_ino(f, c->ino);
	memset(r, 0, sizeof(*r));
	if (codec_inode_decode(c->val, c->vlen, &in, &t, &tlen) < 0) {
		e->flags = FI_BADREC;
		defer(f, NS_FSCK_INODE, c->ino,
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
	d = grow(f->dirs, &f->cap_dirs, f->ndirs, sizeof(*d));
	if (!d)
		return enomem(f);
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

		for (; c->valid && c->ino == ino; cur_next(f, c)) {
			n++;
			f->st->chunks += c->kind == CODEC_K_CHUNK;
			f->st->xattrs += c->kind == CODEC_K_XATTR;
		}
		note_ino(f, ino);
		defer(f, k, ino, "%llu %s, but no inode record",
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

	for (; c->valid && c->ino == ino; cur_next(f, c))
		add_chunk(f, c, r, &s);
	if (!r->ok)
		return;
	if (r->type != S_IFREG) {
		if (s.n)
			defer(f, NS_FSCK_CHUNK, ino,
			      "%llu data chunk%s, but it is %s",
			      (unsigned long long)s.n, s.n == 1 ? "" : "s",
			      type_name(r->type >> 12));
		return;
	}
	if (s.bad)
		defer(f, NS_FSCK_CHUNK, ino,
		      "chunk %llu holds %zu bytes (chunk size %u)%s",
		      (unsigned long long)s.first_bad, s.bad_len, f->cs,
		      s.bad > 1 ? ", and more" : "");
	if (s.past)
		defer(f, NS_FSCK_CHUNK, ino,
		      "%llu chunk%s hold%s bytes past the size %llu (the "
		      "first: chunk %llu)", (unsigned long long)s.past,
		      s.past == 1 ? "" : "s", s.past == 1 ? "s" : "",
		      (unsigned long long)r->size,
		      (unsigned long long)s.first_past);
	if (s.bytes != r->alloc)
		defer(f, NS_FSCK_CHUNK, ino,
		      "alloc says %llu bytes, its chunks hold %llu",
		      (unsigned long long)r->alloc,
		      (unsigned long long)s.bytes);
}

static void check_orphan_key(struct fsck *f, struct fsck_cur *c,
			     struct fsck_ino *e)
{
	for (; c->valid && c->ino == e->ino; cur_next(f, c))
		e->flags |= FI_ORPHAN;
}

static void check_xattrs(struct fsck *f, struct fsck_cur *c, uint64_t ino)
{
	for (; c->valid && c->ino == ino; cur_next(f, c)) {
		f->st->xattrs++;
		if (c->vlen > CODEC_XATTR_VALUE_MAX)
			defer(f, NS_FSCK_XATTR, ino,
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
	cur_next(f, &c[CUR_I]);
	return 0;
}

static int scan_inodes(struct fsck *f)
{
	static const char kinds[NCUR] = { CODEC_K_INODE, CODEC_K_CHUNK,
					  CODEC_K_ORPHAN, CODEC_K_XATTR };
	struct fsck_cur c[NCUR];
	int rc = 0;

	memset(c, 0, sizeof(c));
	f->phase = "inodes";
	for (int i = 0; i < NCUR && rc == 0; i++)
		rc = cur_open(f, &c[i], kinds[i], false);
	while (rc == 0 && c[CUR_I].valid)
		rc = inode_step(f, c);
	if (rc == 0) {
		drain(f, &c[CUR_C], UINT64_MAX);
		drain(f, &c[CUR_O], UINT64_MAX);
		drain(f, &c[CUR_X], UINT64_MAX);
	}
	for (int i = 0; i < NCUR; i++)
		rc = cur_close(f, &c[i], rc);
	return rc;
}

/* After the inode scan: the root exists, the limit is above every
 * number in use. */
static void check_limit(struct fsck *f)
{
	if ((f->have_super || f->ninos) && !find_ino(f, CODEC_ROOT_INO))
		problem(f, NS_FSCK_INODE, CODEC_ROOT_INO, NULL, 0,
			"the root directory has no inode record");
	if (f->ino_limit != UINT64_MAX && f->max_ino >= f->ino_limit)
		problem(f, NS_FSCK_SUPER, f->max_ino, NULL, 0,
			"the superblock's inode limit %llu is not above inode "
			"%llu, in use: new files would reuse its number",
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
	path = make_path(f, e->dir, e->name, e->nlen, &plen);
	va_start(ap, fmt);
	vproblem(f, k, e->child, path, plen, fmt, ap);
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
			      (unsigned long long)e->dir, type_name(d->type));
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
			      type_name(e->type >> 12), type_name(c->type));
	if (e->child == CODEC_ROOT_INO) {
		entry_problem(f, e, NS_FSCK_TREE, "names the root directory");
		return;
	}
	d = find_dir(f, e->child);
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
	parent = find_dir(f, e->dir);
	if (parent && parent->subdirs < UINT32_MAX)
		parent->subdirs++;
	child = find_dir(f, e->child);
	if (child && !child->up)
		return name_dir(f, child, e->dir, e->name, e->nlen);
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
		e.di = find_ino(f, e.dir);
		e.ci = find_ino(f, e.child);
		entry_dir(f, &e);
		entry_child(f, &e);
		if (!report)
			rc = entry_count(f, &e);
	}
	f->bad_entries += !report && e.bad;
	return rc;
}

static int scan_entries(struct fsck *f, bool report)
{
	struct fsck_cur c;
	int rc;

	f->phase = "entries";
	rc = cur_open(f, &c, CODEC_K_DENTRY, report);
	while (rc == 0 && c.valid) {
		rc = entry(f, &c, report);
		cur_next(f, &c);
	}
	return cur_close(f, &c, rc);
}

/* ---- phase 4: the tree ---- */

static struct fsck_dir *up_of(const struct fsck *f, const struct fsck_dir *d)
{
	return d->up ? find_dir(f, d->up) : NULL;
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
	problem(f, NS_FSCK_TREE, start->ino, NULL, 0,
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
			problem(f, NS_FSCK_TREE, d->ino, "/", 1,
				"the root's parent field is %llu, not itself",
				(unsigned long long)d->parent);
		return;
	}
	if (!d->up || d->state == TS_CYCLE)
		return;
	path = make_path(f, d->ino, NULL, 0, &plen);
	if (d->parent != d->up)
		problem(f, NS_FSCK_TREE, d->ino, path, plen,
			"its parent field ('..') is %llu, but its entry is "
			"in directory %llu", (unsigned long long)d->parent,
			(unsigned long long)d->up);
	if (d->state == TS_DETACHED && u && !u->up)
		problem(f, NS_FSCK_TREE, d->ino, path, plen,
			"not reachable from the root: the directory above "
			"it (inode %llu) has no name",
			(unsigned long long)u->ino);
}

static void check_tree(struct fsck *f)
{
	struct fsck_dir *root = find_dir(f, CODEC_ROOT_INO);

	if (root)
		root->state = TS_ROOT;
	for (size_t i = 0; i < f->ndirs; i++)
		if (f->dirs[i].state == TS_NONE)
			tree_walk(f, &f->dirs[i]);
	for (size_t i = 0; i < f->ndirs; i++)
		tree_report(f, &f->dirs[i]);
}

/* ---- phase 6: link counts and orphans ---- */

static void check_links(struct fsck *f, const struct fsck_ino *e)
{
	const struct fsck_dir *d = e->type == T_DIR ? find_dir(f, e->ino) :
						      NULL;
	bool named = e->links > 0 || e->ino == CODEC_ROOT_INO;
	bool listed = e->flags & FI_ORPHAN;
	uint64_t want = d ? 2 + (uint64_t)d->subdirs : e->links;

	if (e->flags & FI_BADREC)
		return;
	if (!named && e->nlink == 0 && listed)
		f->st->orphans++;
	else if (!named && e->nlink == 0)
		defer(f, NS_FSCK_ORPHAN, e->ino, "unlinked (link count 0) but "
		      "not on the orphan list: its space is never reclaimed");
	else if (!named)
		defer(f, NS_FSCK_ORPHAN, e->ino, "lost: no entry names it, "
		      "but its link count is %u%s", e->nlink, listed ?
		      " (the orphan list holds it)" : "");
	else if (e->nlink != want && d)
		defer(f, NS_FSCK_NLINK, e->ino, "link count %u, expected "
		      "%llu (2 + %u subdirectories)", e->nlink,
		      (unsigned long long)want, d->subdirs);
	else if (e->nlink != want)
		defer(f, NS_FSCK_NLINK, e->ino, "link count %u, but %u "
		      "entr%s it", e->nlink, e->links,
		      e->links == 1 ? "y names" : "ies name");
	if (named && listed)
		defer(f, NS_FSCK_ORPHAN, e->ino,
		      "on the orphan list, but an entry still names it");
}

/* ---- phase 7: paths for the problems about one inode ---- */

static int cmp_pending(const void *a, const void *b)
{
	const struct fsck_pending *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct fsck_pending *find_pending(struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->npend;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->pend[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->npend && f->pend[lo].ino == ino ? &f->pend[lo] : NULL;
}

/* Gives every pending problem of INO (from P on) the path PATH. */
static void set_paths(struct fsck *f, struct fsck_pending *p,
		      const char *path, size_t len)
{
	uint64_t ino = p->ino;

	for (; p < f->pend + f->npend && p->ino == ino; p++) {
		if (p->path || !path)
			continue;
		p->path = malloc(len ? len : 1);
		if (p->path) {
			memcpy(p->path, path, len);
			p->path_len = len;
		}
	}
}

static int name_files(struct fsck *f)
{
	struct fsck_cur c;
	int rc;

	f->phase = "names";
	rc = cur_open(f, &c, CODEC_K_DENTRY, true);
	for (; rc == 0 && c.valid; cur_next(f, &c)) {
		uint64_t child;
		uint32_t type;
		struct fsck_pending *p;
		const char *path;
		size_t len = 0;

		if (codec_dentry_decode(c.val, c.vlen, &child, &type) < 0)
			continue;
		p = find_pending(f, child);
		if (!p || p->path || find_dir(f, child))
			continue;
		path = make_path(f, c.ino, (const char *)c.key + 9,
				 c.klen - 9, &len);
		set_paths(f, p, path, len);
	}
	return cur_close(f, &c, rc);
}

static int flush_pending(struct fsck *f)
{
	bool files = false;
	int rc = 0;

	qsort(f->pend, f->npend, sizeof(*f->pend), cmp_pending);
	for (size_t i = 0; i < f->npend; i++) {
		const struct fsck_dir *d = find_dir(f, f->pend[i].ino);
		const char *path;
		size_t len = 0;

		if (d && (d->up || d->ino == CODEC_ROOT_INO)) {
			path = make_path(f, f->pend[i].ino, NULL, 0, &len);
			set_paths(f, &f->pend[i], path, len);
		} else if (!d) {
			files = true; /* an entry may name it */
		}
	}
	if (files)
		rc = name_files(f);
	for (size_t i = 0; i < f->npend; i++) {
		struct fsck_pending *p = &f->pend[i];
		struct ns_fsck_problem pr = { p->kind, p->ino, p->path,
					      p->path_len, p->msg };

		count(f, p->kind);
		if (f->o.report)
			f->o.report(f->o.ctx, &pr);
	}
	return rc;
}

/* ---- the whole check ---- */

static int run(struct fsck *f)
{
	bool empty = false;
	int rc = check_super(f, &empty);

	if (rc < 0 || empty || f->stop)
		return rc;
	f->phase = "keys";
	rc = check_stray(f);
	if (rc == 0)
		rc = scan_inodes(f);
	if (rc < 0)
		return rc;
	check_limit(f);
	rc = scan_entries(f, false);
	if (rc < 0)
		return rc;
	check_tree(f);
	if (f->bad_entries)
		rc = scan_entries(f, true);
	for (size_t i = 0; rc == 0 && i < f->ninos; i++)
		check_links(f, &f->inos[i]);
	if (rc == 0)
		rc = flush_pending(f);
	return rc;
}

static void fsck_free(struct fsck *f)
{
	for (size_t i = 0; i < f->npend; i++) {
		free(f->pend[i].msg);
		free(f->pend[i].path);
	}
	free(f->pend);
	free(f->inos);
	free(f->dirs);
	free(f->names);
	free(f->pbuf);
}

int ns_fsck(struct lsm_db *db, const struct ns_fsck_options *o,
	    struct ns_fsck_stats *st, struct lsm_err *err)
{
	struct ns_fsck_stats local;
	struct fsck f = { .db = db, .err = err, .st = st ? st : &local,
			  .ino_limit = UINT64_MAX, .phase = "superblock",
			  .next_progress = NS_FSCK_PROGRESS_KEYS };
	int rc;

	memset(f.st, 0, sizeof(*f.st));
	if (o)
		f.o = *o;
	f.snap = lsm_snapshot_new(db);
	if (!f.snap)
		return lsm_err_set(err, -ENOMEM,
				   "filesystem check: out of memory");
	rc = run(&f);
	lsm_snapshot_release(db, f.snap);
	fsck_free(&f);
	return rc;
}
