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
 * Nothing is ever written.  Phases 2 to 6 are in ns_fsck_scan.c. */
#include "ns_fsck_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static void fsck_count(struct fsck *f, enum ns_fsck_kind k)
{
	f->st->problems++;
	f->st->by_kind[k]++;
}

void fsck_vproblem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		   const char *path, size_t plen, const char *fmt,
		   va_list ap)
{
	char msg[FSCK_MSG_MAX];
	struct ns_fsck_problem p = { k, ino, path, plen, msg };

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fsck_count(f, k);
	if (f->o.report)
		f->o.report(f->o.ctx, &p);
}

void fsck_problem(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
		  const char *path, size_t plen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fsck_vproblem(f, k, ino, path, plen, fmt, ap);
	va_end(ap);
}

/* A problem about inode INO, reported at the end with a path (or at
 * once, without one, when the queue is full or memory short). */
void fsck_defer(struct fsck *f, enum ns_fsck_kind k, uint64_t ino,
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
	fsck_problem(f, k, ino, NULL, 0, "%s", msg);
}

/* Escapes at most 48 bytes of (P, N) into OUT (200 bytes). */
static const char *fsck_esc(char *out, const uint8_t *p, size_t n)
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

bool fsck_known_type(unsigned type)
{
	switch (type << 12) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

const char *fsck_type_name(unsigned type)
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

static void fsck_tick(struct fsck *f)
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
			fsck_problem(f, NS_FSCK_KEY, 0, NULL, 0,
				     "malformed key '%s' (%zu bytes)",
				     fsck_esc(e, c->key, c->klen), c->klen);
		fsck_tick(f);
		lsm_iter_next(c->it);
	}
	if (c->kind == CODEC_K_CHUNK) {
		c->val = NULL;
		c->vlen = lsm_iter_value_len(c->it);
	} else {
		c->val = lsm_iter_value(c->it, &c->vlen);
	}
	c->ino = codec_get_be64(c->key + 1);
}

int fsck_cur_open(struct fsck *f, struct fsck_cur *c, char kind,
		  bool quiet)
{
	uint8_t k = (uint8_t)kind;
	int rc;

	memset(c, 0, sizeof(*c));
	c->kind = k;
	c->quiet = quiet;
	rc = lsm_iter_new_ex(f->db, f->snap, k == CODEC_K_CHUNK ?
			     LSM_ITER_KEYS_ONLY : 0, &c->it, f->err);
	if (rc < 0)
		return rc;
	lsm_iter_seek(c->it, &k, 1);
	cur_load(f, c);
	return 0;
}

void fsck_cur_next(struct fsck *f, struct fsck_cur *c)
{
	fsck_tick(f);
	lsm_iter_next(c->it);
	cur_load(f, c);
}

/* Frees C; RC, or the error its iterator stopped on. */
int fsck_cur_close(struct fsck *f, struct fsck_cur *c, int rc)
{
	if (c->it && rc == 0)
		rc = lsm_iter_status(c->it, f->err);
	lsm_iter_free(c->it);
	c->it = NULL;
	return rc;
}

/* ---- tables ---- */

int fsck_enomem(struct fsck *f)
{
	return lsm_err_set(f->err, -ENOMEM, "filesystem check: out of memory");
}

/* P (*CAP elements of SIZE bytes, N used) with room for one more: P
 * itself or a larger copy (*CAP updated); NULL without memory (P is
 * left as it was). */
void *fsck_grow(void *p, size_t *cap, size_t n, size_t size)
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

struct fsck_ino *fsck_find_ino(const struct fsck *f, uint64_t ino)
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

struct fsck_dir *fsck_find_dir(const struct fsck *f, uint64_t ino)
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

void fsck_note_ino(struct fsck *f, uint64_t ino)
{
	if (ino > f->max_ino)
		f->max_ino = ino;
}

/* Remembers (NAME, LEN) as directory D's name, entry in directory UP. */
int fsck_name_dir(struct fsck *f, struct fsck_dir *d, uint64_t up,
		  const char *name, size_t len)
{
	if (f->names_len + len > f->names_cap) {
		size_t ncap = (f->names_cap + len) * 2;
		char *q = realloc(f->names, ncap);

		if (!q)
			return fsck_enomem(f);
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
const char *fsck_make_path(struct fsck *f, uint64_t dir, const char *name,
			   size_t nlen, size_t *len)
{
	char top[32] = "";
	size_t n = name ? nlen + 1 : 0, pos;
	const struct fsck_dir *d;
	uint64_t at = dir;

	for (; at != CODEC_ROOT_INO; at = d->up) {
		d = fsck_find_dir(f, at);
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
		d = fsck_find_dir(f, at);
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
		fsck_problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			     "superblock does not decode (%zu bytes%s)", n,
			     n >= 4 && memcmp(v, "LSMF", 4) ?
			     ", no LSMF magic" : "");
		return;
	}
	version = codec_get_le32(v + 4);
	cs = codec_get_le32(v + 8);
	f->version = version;
	if (version != CODEC_FORMAT_VERSION &&
	    version != CODEC_FORMAT_VERSION_TTL) {
		fsck_problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			     "unknown format version %u (this tool knows %u "
			     "and %u): not checked further", version,
			     CODEC_FORMAT_VERSION, CODEC_FORMAT_VERSION_TTL);
		f->stop = true;
		return;
	}
	if (cs < CODEC_MIN_CHUNK || cs > CODEC_MAX_CHUNK || (cs & (cs - 1)))
		fsck_problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			     "chunk size %u is not a power of two in "
			     "[%u, %u]", cs, CODEC_MIN_CHUNK, CODEC_MAX_CHUNK);
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

		fsck_tick(f);
		f->have_super = true;
		decode_super(f, v, vlen);
	} else if (!*empty) {
		fsck_problem(f, NS_FSCK_SUPER, 0, NULL, 0,
			     "no superblock: not an lsmfs store, or it was "
			     "lost");
	}
	rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc;
}

static bool known_kind(uint8_t k)
{
	return k == CODEC_K_CHUNK || k == CODEC_K_DENTRY ||
	       k == CODEC_K_INODE || k == CODEC_K_ORPHAN || k == CODEC_K_XATTR ||
	       k == CODEC_K_EXPIRY;
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
		fsck_esc(e, k, klen);
		do {
			n++;
			fsck_tick(f);
			lsm_iter_next(it);
			k = lsm_iter_valid(it) ? lsm_iter_key(it, &klen) : NULL;
		} while (k && (klen == 0 || !known_kind(k[0])) &&
			 !(klen == CODEC_SUPER_KEY_LEN &&
			   memcmp(k, CODEC_SUPER_KEY, klen) == 0));
		fsck_problem(f, NS_FSCK_KEY, 0, NULL, 0,
			     "%zu key%s of no known kind, from '%s'", n,
			     n == 1 ? "" : "s", e);
	}
	rc = lsm_iter_status(it, f->err);
	lsm_iter_free(it);
	return rc;
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
	rc = fsck_cur_open(f, &c, CODEC_K_DENTRY, true);
	for (; rc == 0 && c.valid; fsck_cur_next(f, &c)) {
		uint64_t child;
		uint32_t type;
		struct fsck_pending *p;
		const char *path;
		size_t len = 0;

		if (codec_dentry_decode(c.val, c.vlen, &child, &type) < 0)
			continue;
		p = find_pending(f, child);
		if (!p || p->path || fsck_find_dir(f, child))
			continue;
		path = fsck_make_path(f, c.ino, (const char *)c.key + 9,
				      c.klen - 9, &len);
		set_paths(f, p, path, len);
	}
	return fsck_cur_close(f, &c, rc);
}

static int flush_pending(struct fsck *f)
{
	bool files = false;
	int rc = 0;

	if (f->npend) /* PEND is NULL then, which qsort may not take */
		qsort(f->pend, f->npend, sizeof(*f->pend), cmp_pending);
	for (size_t i = 0; i < f->npend; i++) {
		const struct fsck_dir *d = fsck_find_dir(f, f->pend[i].ino);
		const char *path;
		size_t len = 0;

		if (d && (d->up || d->ino == CODEC_ROOT_INO)) {
			path = fsck_make_path(f, f->pend[i].ino, NULL, 0, &len);
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

		fsck_count(f, p->kind);
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
		rc = fsck_check_expiry(f);
	if (rc == 0)
		rc = fsck_scan_inodes(f);
	if (rc < 0)
		return rc;
	fsck_check_limit(f);
	rc = fsck_scan_entries(f, false);
	if (rc < 0)
		return rc;
	fsck_check_tree(f);
	if (f->bad_entries)
		rc = fsck_scan_entries(f, true);
	for (size_t i = 0; rc == 0 && i < f->ninos; i++)
		fsck_check_links(f, &f->inos[i]);
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
