/* matrix_store.c - builds the pristine stores of the corruption matrix
 * (matrix_store.h) and describes their files: kind, table regions from the
 * footer, log record offsets. */
#include "matrix_store.h"
#include "lsm_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lsm_io.h"
#include "lsm_tool.h"

const char *mx_fkind_name(enum mx_fkind k)
{
	static const char *const names[MXK_N] = {
		"table L0 raw", "table L0 zlib", "table L1 raw",
		"table L1 zlib", "wal sealed, older", "wal newest unsealed",
		"wal newest sealed", "wal kept (value log)", "MANIFEST", "CURRENT", "LOCK",
	};

	return k < MXK_N ? names[k] : "?";
}

/* ---- an I/O layer whose table creation can be made to fail ---- */

static atomic_bool fail_tables;

static int failing_open(const struct lsm_io *io, const char *path, int flags,
			mode_t mode, int *fd)
{
	const struct lsm_io *base = test_io_nosync();
	size_t n = strlen(path);

	(void)io;
	if (atomic_load(&fail_tables) && (flags & O_CREAT) && n > 4 &&
	    strcmp(path + n - 4, ".sst") == 0)
		return -EIO; /* not ENOSPC: that would start the full-disk mode */
	return base->open(base, path, flags, mode, fd);
}

static const struct lsm_io *failing_io(void)
{
	static struct lsm_io io;

	io = *test_io_nosync();
	io.open = failing_open;
	return &io;
}

void mx_lsm_options(struct lsm_options *o, bool read_only)
{
	lsm_options_init(o);
	o->io = test_io_nosync();
	o->read_only = read_only;
	o->background_compaction = false;
}

/* ---- the builder ---- */

struct bld {
	struct rng *r;
	struct mx_store *s;
	struct mx_model *m;
	struct lsm_db *db;
	struct ns *ns;
	struct ns_cred cred;
	unsigned names;
	bool tail;          /* recording the newest segment's operations */
	bool vlog_on;       /* a session used the value log */
	char wal[8192];     /* its path */
	uint64_t zlib[64];  /* tables written with zlib */
	size_t nzlib;
	uint64_t seen[256]; /* tables seen after the previous session */
	size_t nseen;
};

static void b_open(struct bld *b, enum lsm_compression comp,
		   const struct lsm_io *io)
{
	struct lsm_options o;
	struct ns_options no;
	struct lsm_err err = { 0 };
	int rc;

	mx_lsm_options(&o, false);
	o.io = io;
	o.compression = comp;
	o.memtable_bytes = 8u << 20; /* switches only when asked */
	o.block_bytes = 1024;
	o.table_bytes = 128u << 10;
	/* whole chunks stay in the log from session 2 on, as lsmfs does; the
	 * bulk of session 1 is in the tables, so that its zlib L1 tables of
	 * file data outlive session 2's compaction (with pointers they are
	 * small, and that compaction may rewrite all of them) */
	o.value_log_min_bytes = comp == LSM_COMPRESS_ZLIB && !b->vlog_on ?
				0 : MX_CHUNK;
	b->vlog_on = true;
	o.level1_bytes = 4u << 20;
	rc = lsm_open(b->s->scen[1].dir, &o, &b->db, &err);
	if (rc == 0) {
		ns_options_init(&no);
		no.chunk_size = MX_CHUNK;
		rc = ns_open(b->db, &no, &b->ns, &err);
	}
	if (rc)
		fprintf(stderr, "matrix: open: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

static int table_number(const char *name, uint64_t *n)
{
	size_t len = strlen(name);
	char *end;

	if (len < 5 || strcmp(name + len - 4, ".sst") != 0)
		return -1;
	*n = strtoull(name, &end, 10);
	return end == name + len - 4 ? 0 : -1;
}

/* Notes the tables that appeared since the last call (zlib when ZLIB). */
static void b_note_tables(struct bld *b, bool zlib)
{
	DIR *dh = opendir(b->s->scen[1].dir);
	struct dirent *e;
	uint64_t n;
	size_t i;

	assert_non_null(dh);
	while ((e = readdir(dh))) {
		if (table_number(e->d_name, &n) < 0)
			continue;
		for (i = 0; i < b->nseen && b->seen[i] != n; i++)
			;
		if (i < b->nseen)
			continue;
		assert_true(b->nseen < 256 && b->nzlib < 64);
		b->seen[b->nseen++] = n;
		if (zlib)
			b->zlib[b->nzlib++] = n;
	}
	closedir(dh);
}

static void b_close(struct bld *b, bool zlib)
{
	struct lsm_err err = { 0 };
	int rc;

	ns_close(b->ns);
	rc = lsm_close(b->db, &err);
	if (rc)
		fprintf(stderr, "matrix: close: %s\n", err.msg);
	assert_int_equal(rc, 0);
	b->ns = NULL;
	b->db = NULL;
	b_note_tables(b, zlib);
}

static void b_flush(struct bld *b)
{
	struct lsm_err err = { 0 };
	int rc = lsm_flush(b->db, &err);

	if (rc)
		fprintf(stderr, "matrix: flush: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

static void b_compact(struct bld *b)
{
	struct lsm_err err = { 0 };
	int rc = lsm_compact_range(b->db, NULL, 0, NULL, 0, &err);

	if (rc)
		fprintf(stderr, "matrix: compact: %s\n", err.msg);
	assert_int_equal(rc, 0);
}

/* Walks the records of the log in B (LEN bytes) from its start: calls ON
 * (when not NULL) with each record's offset, and returns where they end.
 * A segment written through a mapping (map_log) ends in zeros while it
 * is live, as the crashed store's newest does: the records end at the
 * first header from which only zeros follow. */
static size_t walk_records(const uint8_t *b, size_t len,
			   void (*on)(void *ctx, size_t off), void *ctx)
{
	size_t off = 0;

	while (off + 8 <= len) {
		uint32_t n = (uint32_t)b[off + 4] | (uint32_t)b[off + 5] << 8 |
			     (uint32_t)b[off + 6] << 16 |
			     (uint32_t)b[off + 7] << 24;
		size_t z = off;

		while (z < len && b[z] == 0)
			z++;
		if (z == len)
			return off;
		if (on)
			on(ctx, off);
		off += 8 + (size_t)n;
	}
	return off;
}

static uint64_t records_end(const char *path)
{
	size_t len, end;
	uint8_t *b = file_read_all(path, &len);

	assert_non_null(b);
	end = walk_records(b, len, NULL, NULL);
	free(b);
	return end;
}

static void b_do(struct bld *b, struct mx_op *op)
{
	struct mx_store *s = b->s;
	struct lsm_err err = { 0 };
	int rc = mx_do(b->ns, b->m, op, &b->cred, &err);

	if (rc)
		fprintf(stderr, "matrix: op %d on '%s': %s\n", (int)op->kind,
			op->path, err.msg);
	assert_int_equal(rc, 0);
	if (!b->tail) {
		mx_op_free(op);
		return;
	}
	s->tail = realloc(s->tail, (s->ntail + 1) * sizeof(*s->tail));
	s->tail_end = realloc(s->tail_end,
			      (s->ntail + 1) * sizeof(*s->tail_end));
	assert_non_null(s->tail);
	assert_non_null(s->tail_end);
	s->tail[s->ntail] = *op;
	s->tail_end[s->ntail++] = records_end(b->wal);
}

/* ---- random operations ---- */

static char *path_in(struct bld *b, const char *dir, char type)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s%s%c%04u", dir, *dir ? "/" : "", type,
		 b->names++);
	return strdup(p);
}

/* Compressible bytes: 16 letters, with a random byte now and then. */
static uint8_t *content(struct bld *b, size_t n)
{
	static const char alpha[] = "abcdefghijklmnop";
	uint8_t *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = rng_below(b->r, 8) ? (uint8_t)alpha[rng_below(b->r, 16)]
					  : (uint8_t)rng_next(b->r);
	p[n] = 0;
	return p;
}

/* A random name whose inode has type FMT (0: any), or NULL. */
static const char *pick(struct bld *b, uint32_t fmt)
{
	const struct mx_model *m = b->m;
	size_t n = 0, k;

	for (size_t i = 0; i < m->ne; i++)
		n += !fmt || (m->in[m->e[i].inode].mode & S_IFMT) == fmt;
	if (n == 0)
		return NULL;
	k = rng_below(b->r, n);
	for (size_t i = 0; i < m->ne; i++)
		if ((!fmt || (m->in[m->e[i].inode].mode & S_IFMT) == fmt) &&
		    k-- == 0)
			return m->e[i].path;
	return NULL;
}

static const char *pick_dir(struct bld *b)
{
	const char *d = rng_below(b->r, 10) ? pick(b, S_IFDIR) : "";

	return d ? d : "";
}

static size_t file_len(struct bld *b)
{
	unsigned k = (unsigned)rng_below(b->r, 100);

	if (k < 5)
		return 0;
	if (k < 30)
		return 1 + rng_below(b->r, 200);
	if (k < 60)
		return 200 + rng_below(b->r, MX_CHUNK - 200);
	if (k < 90)
		return MX_CHUNK + rng_below(b->r, 4 * MX_CHUNK);
	return 5 * MX_CHUNK + rng_below(b->r, 8 * MX_CHUNK);
}

static void g_mkdir(struct bld *b, const char *parent)
{
	struct mx_op op = { .kind = MX_MKDIR,
			    .mode = rng_below(b->r, 4) ? 0755 : 0750 };

	op.path = path_in(b, parent, 'd');
	b_do(b, &op);
}

static void g_write(struct bld *b, const char *path, uint64_t off, size_t n)
{
	struct mx_op op = { .kind = MX_WRITE, .off = off, .len = n };

	op.path = strdup(path);
	op.data = content(b, n);
	b_do(b, &op);
}

static void g_file(struct bld *b, size_t len)
{
	static const uint32_t modes[] = { 0644, 0644, 0600, 0640, 0755 };
	struct mx_op op = { .kind = MX_CREATE };
	char *path;

	op.mode = modes[rng_below(b->r, 5)];
	op.path = path_in(b, pick_dir(b), 'f');
	path = strdup(op.path);
	b_do(b, &op);
	if (len && rng_below(b->r, 12) == 0) /* sparse: a hole first */
		g_write(b, path, MX_CHUNK * (1 + rng_below(b->r, 3)) +
			rng_below(b->r, 100), 1 + len % (2 * MX_CHUNK));
	else if (len)
		g_write(b, path, 0, len);
	free(path);
}

static void g_overwrite(struct bld *b)
{
	const char *p = pick(b, S_IFREG);
	size_t len;

	if (!p)
		return;
	len = b->m->in[mx_find(b->m, p)].len;
	if (rng_below(b->r, 3) == 0)
		g_write(b, p, len, 1 + rng_below(b->r, 3000)); /* append */
	else
		g_write(b, p, rng_below(b->r, len + 1),
			1 + rng_below(b->r, 6000));
}

static void g_simple(struct bld *b, enum mx_kind k, const char *p)
{
	static const uint32_t modes[] = { 0600, 0640, 0644, 0700, 0751 };
	struct mx_op op = { .kind = k };
	const struct mx_inode *in = &b->m->in[mx_find(b->m, p)];

	op.path = strdup(p);
	switch (k) {
	case MX_TRUNC:
		op.off = rng_below(b->r, 2) ? rng_below(b->r, in->len + 1)
					   : in->len + rng_below(b->r, 9000);
		break;
	case MX_CHMOD:
		op.mode = modes[rng_below(b->r, 5)];
		break;
	case MX_SETXATTR:
		op.name = malloc(16);
		snprintf(op.name, 16, "user.k%u", (unsigned)rng_below(b->r, 4));
		op.len = 1 + rng_below(b->r, 300);
		op.data = content(b, op.len);
		break;
	case MX_RMXATTR:
		if (in->nxa == 0) {
			mx_op_free(&op);
			return;
		}
		op.name = strdup(in->xa[rng_below(b->r, in->nxa)].name);
		break;
	case MX_RENAME:
	case MX_LINK:
		op.path2 = path_in(b, pick_dir(b), 'f');
		break;
	case MX_SYMLINK:
		free(op.path);
		op.path = path_in(b, pick_dir(b), 'l');
		op.data = (uint8_t *)strdup(p);
		op.len = strlen(p);
		break;
	default:
		break;
	}
	b_do(b, &op);
}

/* One random operation; while recording the newest segment only those
 * that are one batch (one record) each: no unlink. */
static void g_random(struct bld *b)
{
	unsigned k = (unsigned)rng_below(b->r, 100);
	const char *f = pick(b, S_IFREG);
	const char *any = rng_below(b->r, 3) ? f : pick(b, S_IFDIR);

	if (!f || k < 10)
		g_file(b, file_len(b));
	else if (k < 35)
		g_overwrite(b);
	else if (k < 42)
		g_simple(b, MX_TRUNC, f);
	else if (k < 48)
		g_simple(b, MX_CHMOD, any);
	else if (k < 58)
		g_simple(b, MX_SETXATTR, any);
	else if (k < 62)
		g_simple(b, MX_RMXATTR, any);
	else if (k < 70)
		g_simple(b, MX_RENAME, f);
	else if (k < 74)
		g_simple(b, MX_LINK, f);
	else if (k < 77)
		g_simple(b, MX_SYMLINK, f);
	else if (k < 80)
		g_mkdir(b, "");
	else if (b->tail)
		g_overwrite(b);
	else {
		struct mx_op op = { .kind = MX_UNLINK };
		const char *l = pick(b, S_IFLNK);

		op.path = strdup(l && rng_below(b->r, 5) == 0 ? l : f);
		b_do(b, &op);
	}
}

/* ---- the sessions ---- */

static void session1(struct bld *b)
{
	b_open(b, LSM_COMPRESS_ZLIB, test_io_nosync());
	for (int i = 0; i < 8; i++)
		g_mkdir(b, "");
	for (int i = 0; i < 6; i++)
		g_mkdir(b, pick(b, S_IFDIR));
	for (int i = 0; i < 150; i++) {
		g_file(b, file_len(b));
		if (i % 10 == 3)
			g_simple(b, MX_SETXATTR, pick(b, i % 20 == 3 ?
							  S_IFDIR : S_IFREG));
		if (i % 50 == 49)
			b_flush(b);
	}
	b_compact(b);
	b_close(b, true);
}

/* A regular file among the N most recently created inodes. */
static const char *pick_recent(struct bld *b, size_t n)
{
	const struct mx_model *m = b->m;
	size_t k = rng_below(b->r, n);

	for (size_t i = m->nin; i-- > 0;) {
		if (!m->in[i].live || !S_ISREG(m->in[i].mode) || k-- > 0)
			continue;
		for (size_t e = 0; e < m->ne; e++)
			if (m->e[e].inode == i)
				return m->e[e].path;
	}
	return pick(b, S_IFREG);
}

static void session2(struct bld *b)
{
	b_open(b, LSM_COMPRESS_NONE, test_io_nosync());
	/* Only the newest files change (no new inode, so no superblock
	 * write): the compaction rewrites the L1 tables from their chunks
	 * on, and those of older files' chunks stay zlib. */
	for (int i = 0; i < 20; i++) {
		const char *p = pick_recent(b, 30);

		g_write(b, p, rng_below(b->r, b->m->in[mx_find(b->m, p)].len +
					1), 1 + rng_below(b->r, 6000));
	}
	b_compact(b);
	for (int i = 0; i < 25; i++)
		g_file(b, file_len(b));
	g_simple(b, MX_SYMLINK, pick(b, S_IFREG));
	g_simple(b, MX_LINK, pick(b, S_IFREG));
	g_simple(b, MX_LINK, pick(b, S_IFREG));
	for (int i = 0; i < 80; i++) {
		g_random(b);
		if (i == 39)
			b_flush(b);
	}
	b_flush(b);
	b_close(b, false);
}

static void session3(struct bld *b)
{
	b_open(b, LSM_COMPRESS_ZLIB, test_io_nosync());
	for (int i = 0; i < 80; i++) {
		g_random(b);
		if (i == 39)
			b_flush(b);
	}
	b_flush(b);
	b_close(b, true);
}

/* The newest log segment of the store. */
static void newest_wal(struct bld *b)
{
	DIR *dh = opendir(b->s->scen[1].dir);
	struct dirent *e;
	char best[256] = "";

	assert_non_null(dh);
	while ((e = readdir(dh))) {
		size_t n = strlen(e->d_name);

		if (n > 4 && strcmp(e->d_name + n - 4, ".wal") == 0 &&
		    (n > strlen(best) ||
		     (n == strlen(best) && strcmp(e->d_name, best) > 0)))
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(dh);
	assert_true(best[0] != '\0');
	snprintf(b->wal, sizeof(b->wal), "%s/%s", b->s->scen[1].dir, best);
}

static void session4(struct bld *b)
{
	struct lsm_err err = { 0 };

	b_open(b, LSM_COMPRESS_NONE, failing_io());
	for (int i = 0; i < 20; i++)
		g_random(b);
	/* The switch seals this segment; its flush keeps failing. */
	atomic_store(&fail_tables, true);
	assert_true(lsm_flush(b->db, &err) < 0);
	newest_wal(b);
	mx_clone(&b->s->base, b->m);
	b->tail = true;
	for (int i = 0; i < 24; i++)
		g_random(b);
	b->tail = false;
	mx_copy_dir(b->s->scen[1].dir, b->s->scen[0].dir); /* kill -9 */
	atomic_store(&fail_tables, false);
	b_close(b, false);
}

/* ---- describing the files ---- */

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void table_regions(const char *path, struct mx_pfile *f)
{
	size_t len;
	uint8_t *b = file_read_all(path, &len);
	const uint8_t *ft;

	assert_non_null(b);
	assert_true(len > 64);
	ft = b + len - 64;
	f->reg[MXR_DATA][0] = 0;
	f->reg[MXR_DATA][1] = le64(ft);
	for (int r = 0; r < 3; r++) {
		f->reg[MXR_FILTER + r][0] = le64(ft + 16 * r);
		f->reg[MXR_FILTER + r][1] = le64(ft + 16 * r) +
					    le64(ft + 16 * r + 8) + 5;
	}
	/* the type byte of the last data block: 1 = zlib, 0 = raw */
	f->zlib = b[f->reg[MXR_DATA][1] - 5] == 1;
	f->reg[MXR_FOOTER][0] = len - 64;
	f->reg[MXR_FOOTER][1] = len;
	for (int r = 0; r < MXR_N; r++)
		assert_true(f->reg[r][0] < f->reg[r][1] &&
			    f->reg[r][1] <= len);
	free(b);
}

static void add_record(void *ctx, size_t off)
{
	struct mx_pfile *f = ctx;

	f->rec = realloc(f->rec, (f->nrec + 1) * sizeof(*f->rec));
	assert_non_null(f->rec);
	f->rec[f->nrec++] = off;
}

static void log_records(const char *path, struct mx_pfile *f)
{
	size_t len;
	uint8_t *b = file_read_all(path, &len);

	assert_non_null(b);
	f->size = walk_records(b, len, add_record, f);
	/* the records end at the file's end, or where only zeros follow */
	assert_true(f->size <= len);
	for (size_t i = f->size; i < len; i++)
		assert_int_equal(b[i], 0);
	free(b);
}

struct levels {
	uint64_t number[256];
	unsigned level[256];
	size_t n;
};

static int on_table(void *ctx, const struct lsm_table_info *t)
{
	struct levels *l = ctx;

	assert_true(l->n < 256);
	l->number[l->n] = t->number;
	l->level[l->n++] = t->level;
	return 0;
}

static void table_levels(const char *dir, struct levels *l)
{
	struct lsm_options o;
	struct lsm_db *db;
	struct lsm_err err = { 0 };
	int rc;

	mx_lsm_options(&o, true);
	rc = lsm_open(dir, &o, &db, &err);
	if (rc)
		fprintf(stderr, "matrix: %s: %s\n", dir, err.msg);
	assert_int_equal(rc, 0);
	l->n = 0;
	assert_int_equal(lsm_tables(db, on_table, l, NULL), 0);
	assert_int_equal(lsm_close(db, NULL), 0);
}

static enum mx_fkind table_kind(const struct bld *b, const struct levels *l,
				uint64_t n)
{
	bool zlib = false;
	size_t i;

	for (i = 0; i < b->nzlib; i++)
		zlib |= b->zlib[i] == n;
	for (i = 0; i < l->n && l->number[i] != n; i++)
		;
	assert_true(i < l->n); /* every table on disk is live */
	if (l->level[i] == 0)
		return zlib ? MXK_L0_ZLIB : MXK_L0_RAW;
	return zlib ? MXK_L1_ZLIB : MXK_L1_RAW;
}

static int cmp_pfile(const void *a, const void *b)
{
	const struct mx_pfile *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void describe(struct bld *b, struct mx_scenario *sc, bool crash)
{
	DIR *dh = opendir(sc->dir);
	struct dirent *e;
	struct levels l;
	char path[8192];
	uint64_t n, log_number;

	table_levels(sc->dir, &l);
	{
		struct lsm_files *lf = NULL;

		assert_int_equal(lsm_files_list(sc->dir, &lf, NULL), 0);
		log_number = lf->log_number;
		lsm_files_free(lf);
	}
	assert_non_null(dh);
	while ((e = readdir(dh))) {
		struct mx_pfile *f;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "RESERVE"))
			continue; /* RESERVE: space held for a full disk */
		sc->f = realloc(sc->f, (sc->nf + 1) * sizeof(*sc->f));
		assert_non_null(sc->f);
		f = &sc->f[sc->nf++];
		memset(f, 0, sizeof(*f));
		snprintf(f->name, sizeof(f->name), "%s", e->d_name);
		snprintf(path, sizeof(path), "%s/%s", sc->dir, e->d_name);
		f->size = (uint64_t)file_size(path);
		if (table_number(e->d_name, &n) == 0) {
			f->kind = table_kind(b, &l, n);
			table_regions(path, f);
			/* a raw session wrote no zlib block (a zlib one may
			 * store a block that did not shrink raw, so its last
			 * block says nothing) */
			if (f->zlib)
				assert_true(f->kind == MXK_L0_ZLIB ||
					    f->kind == MXK_L1_ZLIB);
		} else if (strstr(e->d_name, ".wal") &&
			   strtoull(e->d_name, NULL, 10) < log_number) {
			f->kind = MXK_WAL_KEPT;
			log_records(path, f);
		} else if (strstr(e->d_name, ".wal")) {
			f->kind = !crash ? MXK_WAL_CLOSED :
				  strcmp(e->d_name, strrchr(b->wal, '/') + 1)
				  == 0 ? MXK_WAL_NEW : MXK_WAL_OLD;
			log_records(path, f);
		} else if (strncmp(e->d_name, "MANIFEST-", 9) == 0) {
			f->kind = MXK_MANIFEST;
			log_records(path, f);
		} else if (strcmp(e->d_name, "CURRENT") == 0) {
			f->kind = MXK_CURRENT;
		} else {
			assert_string_equal(e->d_name, "LOCK");
			f->kind = MXK_LOCK;
		}
	}
	closedir(dh);
	qsort(sc->f, sc->nf, sizeof(*sc->f), cmp_pfile);
}

/* The newest segment holds the recorded operations, each ending on a
 * record boundary.  An operation may write more than one record: the first
 * create after an open rewrites the superblock's inode limit first (a
 * record of its own; fs/CODEC.md), so records are not one per operation. */
static void check_tail(struct mx_store *s, const struct mx_pfile *f)
{
	size_t r = 0;

	assert_true(f->nrec >= s->ntail);
	for (size_t i = 0; i + 1 < s->ntail; i++) {
		while (r < f->nrec && f->rec[r] < s->tail_end[i])
			r++;
		assert_true(r < f->nrec);
		assert_int_equal(f->rec[r], s->tail_end[i]);
	}
	assert_int_equal(f->size, s->tail_end[s->ntail - 1]);
}

void mx_copy_dir(const char *from, const char *to)
{
	DIR *dh = opendir(from);
	struct dirent *e;
	char a[8192], b[8192];

	assert_non_null(dh);
	assert_int_equal(mkdir(to, 0755), 0);
	while ((e = readdir(dh))) {
		void *p;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		p = file_read_all(a, &len);
		assert_non_null(p);
		assert_int_equal(file_write_all(b, p, len), 0);
		free(p);
	}
	closedir(dh);
}

void mx_store_build(struct mx_store *s, struct rng *r)
{
	struct bld b = { .r = r, .s = s, .m = &s->model };
	unsigned kinds[2][MXK_N] = { { 0 } };

	memset(s, 0, sizeof(*s));
	s->d = tdir_new();
	assert_non_null(s->d);
	s->scen[0].name = "crash";
	s->scen[1].name = "clean";
	snprintf(s->scen[0].dir, sizeof(s->scen[0].dir), "%s",
		 tdir_path(s->d, "crash"));
	snprintf(s->scen[1].dir, sizeof(s->scen[1].dir), "%s",
		 tdir_path(s->d, "clean"));
	mx_init(&s->model);
	b.cred.uid = 1000;
	b.cred.gid = 1000;
	b.cred.umask = 022;
	session1(&b);
	session2(&b);
	session3(&b);
	session4(&b);
	for (int i = 0; i < 2; i++) {
		describe(&b, &s->scen[i], i == 0);
		for (size_t k = 0; k < s->scen[i].nf; k++) {
			kinds[i][s->scen[i].f[k].kind]++;
			if (s->scen[i].f[k].kind == MXK_WAL_NEW)
				check_tail(s, &s->scen[i].f[k]);
		}
	}
	for (int k = 0; k < MXK_N; k++) { /* every kind, in its scenario */
		if (kinds[0][k] + kinds[1][k] == 0)
			fprintf(stderr, "matrix: no %s in either store\n",
				mx_fkind_name((enum mx_fkind)k));
		assert_true(kinds[0][k] + kinds[1][k] > 0);
	}
}

void mx_store_free(struct mx_store *s)
{
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < s->scen[i].nf; k++)
			free(s->scen[i].f[k].rec);
		free(s->scen[i].f);
	}
	for (size_t i = 0; i < s->ntail; i++)
		mx_op_free(&s->tail[i]);
	free(s->tail);
	free(s->tail_end);
	mx_free(&s->model);
	mx_free(&s->base);
	tdir_free(s->d);
}
