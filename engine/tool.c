/* tool.c - lsm_tool.h: the table listing of an open store, the offline
 * checker of a data directory and the record dumper of one file, for
 * lsmfs-ctl.  Reads only: nothing here writes to a data directory, and the
 * checker never opens the store (no lock, no log replay into tables). */
#include "lsm_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "coding.h"
#include "db_impl.h"
#include "filename.h"
#include "ikey.h"
#include "sst.h"
#include "version.h"
#include "wal.h"

unsigned lsm_table_format_version(void)
{
	return SST_VERSION;
}

size_t lsm_escape(char *out, size_t cap, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t len = 0, written = 0;
	char tmp[5];

	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (s[i] == '\\')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\\\");
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			k = (size_t)snprintf(tmp, sizeof(tmp), "%c", s[i]);
		else
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
		if (written == len && len + k < cap) {
			memcpy(out + len, tmp, k);
			written += k;
		}
		len += k;
	}
	if (cap)
		out[written] = '\0';
	return len;
}

/* ---- lsm_tables ---- */

static uint64_t table_entries(struct lsm_db *db, uint64_t number)
{
	char path[LSM_PATH_MAX];
	struct sst *t;
	uint64_t n;

	if (filename_path(path, db->dir, FILE_TABLE, number) < 0 ||
	    sst_open(db->io, path, number, NULL, NULL, &t, NULL) < 0)
		return UINT64_MAX;
	n = sst_get_props(t)->entries;
	sst_close(t);
	return n;
}

static void table_info(struct lsm_db *db, unsigned level,
		       const struct file_meta *f, struct lsm_table_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->level = level;
	ti->number = f->number;
	ti->size = f->size;
	ti->smallest = f->smallest;
	ti->smallest_len = ikey_ulen(f->smallest_len);
	ti->smallest_seq = ikey_seq(f->smallest, f->smallest_len);
	ti->largest = f->largest;
	ti->largest_len = ikey_ulen(f->largest_len);
	ti->largest_seq = ikey_seq(f->largest, f->largest_len);
	ti->entries = table_entries(db, f->number);
}

int lsm_tables(struct lsm_db *db,
	       int (*fn)(void *ctx, const struct lsm_table_info *t),
	       void *ctx, struct lsm_err *err)
{
	struct lsm_table_info ti;
	struct version *v;
	int rc = 0;

	(void)err;
	pthread_mutex_lock(&db->mu);
	v = db->vs.current;
	version_ref(v);
	pthread_mutex_unlock(&db->mu);
	for (unsigned l = 0; rc == 0 && l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; rc == 0 && i < v->nfiles[l]; i++) {
			table_info(db, l, v->files[l][i], &ti);
			rc = fn(ctx, &ti);
		}
	}
	pthread_mutex_lock(&db->mu);
	version_unref(v);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* ---- lsm_check_dir ---- */

struct disk_file {
	enum file_kind kind;
	uint64_t number;
	uint64_t size;
	bool listed; /* tables: the manifest names it */
};

struct chk {
	const char *dir;
	const struct lsm_io *io;
	void (*report)(void *ctx, const char *file, uint64_t offset,
		       const char *problem);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	unsigned problems;
	uint64_t done, total;
	struct disk_file *files;
	size_t nfiles;
	struct version_set vs;
	bool have_current, have_manifest;
	bool torn_told; /* the manifest's damaged tail was reported */
	uint64_t newest_manifest; /* the highest MANIFEST-* here, or 0 */
	struct vlog *vlog;        /* reads what tables point to */
	struct vlog_refs kept;    /* segments tables point into */
	bool kept_listed;
};

static void chk_report(struct chk *c, const char *file, uint64_t off,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void chk_report(struct chk *c, const char *file, uint64_t off,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strncmp(msg, LSM_CHECK_WARNING, strlen(LSM_CHECK_WARNING)) != 0)
		c->problems++;
	if (c->report)
		c->report(c->ctx, file, off, msg);
}

/* Reports an engine error about FILE: the message's leading "PATH: " (when
 * it names a file of the store) picks the file, and its first "offset N"
 * the offset. */
static void chk_report_err(struct chk *c, const char *file,
			   const struct lsm_err *e)
{
	char named[LSM_PATH_MAX];
	const char *msg = e->msg, *sep = strstr(msg, ": ");
	const char *o = strstr(msg, "offset ");
	uint64_t off = LSM_CHECK_NO_OFFSET;
	size_t dlen = strlen(c->dir);

	if (sep && strncmp(msg, c->dir, dlen) == 0 && msg[dlen] == '/' &&
	    (size_t)(sep - msg) < sizeof(named)) {
		memcpy(named, msg, (size_t)(sep - msg));
		named[sep - msg] = '\0';
		file = named;
		msg = sep + 2;
	} else if (sep && strncmp(msg, file, strlen(file)) == 0 &&
		   msg + strlen(file) == sep) {
		msg = sep + 2;
	}
	if (o)
		off = strtoull(o + 7, NULL, 10);
	chk_report(c, file, off, "%s", *msg ? msg : strerror(-e->code));
}

static void chk_progress(struct chk *c, uint64_t bytes)
{
	c->done += bytes;
	if (c->progress)
		c->progress(c->ctx, c->done, c->total);
}


/* Lists DIR's tables and log segments with their sizes into C->files. */
static int chk_list(struct chk *c, struct lsm_err *err)
{
	char **names = NULL, path[LSM_PATH_MAX];
	size_t n = 0;
	int rc = c->io->list_dir(c->io, c->dir, &names, &n);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", c->dir,
				   strerror(-rc));
	c->files = calloc(n + 1, sizeof(*c->files));
	if (!c->files) {
		lsm_io_free_names(names, n);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct disk_file *f = &c->files[c->nfiles];

		f->kind = filename_parse(names[i], &f->number);
		if (f->kind == FILE_CURRENT)
			c->have_current = true;
		if (f->kind == FILE_MANIFEST && f->number > c->newest_manifest)
			c->newest_manifest = f->number;
		if (f->kind != FILE_TABLE && f->kind != FILE_WAL)
			continue;
		filename_path(path, c->dir, f->kind, f->number);
		if (lsm_io_path_size(c->io, path, &f->size) < 0)
			continue; /* vanished: a missing table is caught later */
		c->total += f->size;
		c->nfiles++;
	}
	lsm_io_free_names(names, n);
	if (!c->have_current && c->nfiles == 0)
		return lsm_err_set(err, -ENOENT, "%s is not an lsmfs store (no "
				   "CURRENT file, no tables, no logs)", c->dir);
	return 0;
}

static struct disk_file *chk_find(struct chk *c, enum file_kind k,
				  uint64_t number)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].kind == k && c->files[i].number == number)
			return &c->files[i];
	return NULL;
}

static void chk_key_range(struct chk *c, const char *path, struct sst *t,
			  const struct file_meta *f)
{
	const uint8_t *k;
	size_t len;
	char a[128], b[128];

	k = sst_smallest(t, &len);
	if (len != f->smallest_len || memcmp(k, f->smallest, len) != 0) {
		lsm_escape(a, sizeof(a), k, len);
		lsm_escape(b, sizeof(b), f->smallest, f->smallest_len);
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "smallest key '%s' "
			   "differs from the manifest's '%s'", a, b);
	}
	k = sst_largest(t, &len);
	if (len != f->largest_len || memcmp(k, f->largest, len) != 0) {
		lsm_escape(a, sizeof(a), k, len);
		lsm_escape(b, sizeof(b), f->largest, f->largest_len);
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "largest key '%s' "
			   "differs from the manifest's '%s'", a, b);
	}
}

struct chk_ptr {
	struct chk *c;
	const char *path;
	unsigned found;
};

/* A bad pointer of a table: the damage of a value is its segment's, so
 * the segment is named, and the table that points there. */
static int chk_bad_pointer(void *ctx, enum vlog_bad what, const void *key,
			   size_t klen, const struct vptr *p, const char *msg)
{
	struct chk_ptr *x = ctx;
	char seg[LSM_PATH_MAX];

	(void)key;
	(void)klen;
	if (what != VLOG_BAD_VALUE) {
		chk_report(x->c, x->path, LSM_CHECK_NO_OFFSET, "%s", msg);
	} else {
		filename_path(seg, x->c->dir, FILE_WAL, p->segment);
		chk_report(x->c, seg, LSM_CHECK_NO_OFFSET, "%s (a value %s "
			   "points to)", msg, x->path);
	}
	return ++x->found >= 10;
}

/* Reads every value table T (at PATH; F its manifest entry or NULL)
 * points to in the log segments and checks it (vlog_check_table), and
 * that the manifest lists each segment for the table.  At most 10
 * findings per table. */
static void chk_pointers(struct chk *c, const char *path, struct sst *t,
			 const struct file_meta *f)
{
	struct chk_ptr x = { .c = c, .path = path };
	struct lsm_err e = { 0 };

	if (!c->vlog && !(c->vlog = vlog_new(c->io, c->dir))) {
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "out of memory");
		return;
	}
	if (vlog_check_table(c->vlog, t, f ? &f->vlog : NULL,
			     chk_bad_pointer, &x, &e) < 0)
		chk_report_err(c, path, &e);
}

/* Verifies table D (F: its manifest entry, NULL when not listed). */
static void chk_table(struct chk *c, const struct disk_file *d,
		      const struct file_meta *f)
{
	char path[LSM_PATH_MAX];
	struct lsm_err e = { 0 };
	struct sst *t;

	filename_path(path, c->dir, FILE_TABLE, d->number);
	if (sst_open(c->io, path, d->number, NULL, NULL, &t, &e) < 0) {
		chk_report_err(c, path, &e);
		return;
	}
	if (sst_verify(t, &e) < 0)
		chk_report_err(c, path, &e);
	else if (c->vs.features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG)
		chk_pointers(c, path, t, f);
	if (f && f->size != d->size)
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "%" PRIu64 " bytes,"
			   " the manifest says %" PRIu64, d->size, f->size);
	if (f)
		chk_key_range(c, path, t, f);
	sst_close(t);
}

/* Checks the tables the manifest lists, then warns of unlisted ones. */
static void chk_listed_tables(struct chk *c)
{
	const struct version *v = c->vs.current;
	char path[LSM_PATH_MAX];
	struct lsm_err e = { 0 };

	if (version_check(v, &e) < 0)
		chk_report_err(c, "MANIFEST", &e);
	for (unsigned l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *f = v->files[l][i];
			struct disk_file *d = chk_find(c, FILE_TABLE,
						       f->number);

			if (!d) {
				filename_path(path, c->dir, FILE_TABLE,
					      f->number);
				chk_report(c, path, LSM_CHECK_NO_OFFSET,
					   "missing (listed in L%u of the "
					   "manifest)", l);
				continue;
			}
			d->listed = true;
			chk_table(c, d, f);
			chk_progress(c, d->size);
		}
	}
}

static void chk_tables(struct chk *c)
{
	char path[LSM_PATH_MAX];

	if (c->have_manifest)
		chk_listed_tables(c);
	for (size_t i = 0; i < c->nfiles; i++) {
		struct disk_file *d = &c->files[i];

		if (d->kind != FILE_TABLE || d->listed)
			continue;
		filename_path(path, c->dir, FILE_TABLE, d->number);
		if (c->have_manifest)
			chk_report(c, path, LSM_CHECK_NO_OFFSET,
				   LSM_CHECK_WARNING "not in the manifest "
				   "(a leftover; the next writable open "
				   "deletes it)");
		else
			chk_table(c, d, NULL);
		chk_progress(c, d->size);
	}
}

struct wal_chk {
	struct chk *c;
	const char *path;
};

static int wal_noop_op(void *ctx, uint64_t seq, enum ikey_type t,
		       const uint8_t *key, size_t klen, const uint8_t *val,
		       size_t vlen)
{
	(void)ctx, (void)seq, (void)t, (void)key, (void)klen, (void)val;
	(void)vlen;
	return 0;
}

static int wal_chk_rec(void *ctx, const uint8_t *rec, size_t len,
		       uint64_t off, struct lsm_err *err)
{
	struct wal_chk *w = ctx;
	struct lsm_err e = { 0 };

	(void)err;
	if (batch_decode(rec, len, wal_noop_op, NULL, &e) < 0)
		chk_report(w->c, w->path, off, "bad batch: %s", e.msg);
	return 0;
}

static int cmp_disk(const void *a, const void *b)
{
	const struct disk_file *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->number < y->number ? -1 : x->number > y->number;
}

/* A log segment looks untracked or missing: when the manifest ended in a
 * damaged record (ignored as a torn write), its lost last edit is the
 * likelier culprit, so the manifest is named too (once). */
static void chk_blame_manifest(struct chk *c, bool untracked)
{
	char path[LSM_PATH_MAX];

	if (c->torn_told || (!c->vs.torn_manifest && !untracked))
		return;
	c->torn_told = true;
	if (!c->vs.torn_manifest) {
		/* cut at a record boundary: nothing torn to point at, but a
		 * segment holding writes that no edit records means the
		 * manifest lost edits (or the segment is not this store's) */
		filename_path(path, c->dir, FILE_MANIFEST,
			      c->vs.manifest_number);
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "does not record a "
			   "log segment that holds writes (reported here): "
			   "the manifest lost its last edits, or the segment "
			   "does not belong to this store (lsmfs-ctl repair "
			   "recovers what is intact)");
		return;
	}
	filename_path(path, c->dir, FILE_MANIFEST, c->vs.torn_manifest);
	chk_report(c, path, c->vs.torn_end, "ends in %llu damaged bytes, "
		   "ignored as a torn write; the log segments reported as not "
		   "recorded or missing suggest a damaged manifest whose last "
		   "edit is lost (lsmfs-ctl repair recovers what is intact)",
		   (unsigned long long)(c->vs.torn_size - c->vs.torn_end));
}

/* CURRENT names a manifest that does not exist: with another manifest in
 * the directory CURRENT is the damaged file, without one the manifest was
 * lost. */
static void chk_no_manifest(struct chk *c, const struct lsm_err *e)
{
	char path[LSM_PATH_MAX];

	if (c->newest_manifest) {
		chk_report(c, "CURRENT", LSM_CHECK_NO_OFFSET, "names MANIFEST-"
			   "%06llu, which does not exist, while MANIFEST-%06llu"
			   " does: CURRENT is damaged",
			   (unsigned long long)c->vs.missing_manifest,
			   (unsigned long long)c->newest_manifest);
		return;
	}
	filename_path(path, c->dir, FILE_MANIFEST, c->vs.missing_manifest);
	chk_report(c, path, LSM_CHECK_NO_OFFSET, "missing (CURRENT names "
		   "it; no other manifest is here): %s", e->msg);
}

/* Segments the manifest tracks but the directory lacks. */
static void chk_missing_wals(struct chk *c)
{
	char path[LSM_PATH_MAX];

	for (size_t t = 0; c->have_manifest && t < c->vs.nwals; t++) {
		const struct edit_wal *w = &c->vs.wals[t];

		if (chk_find(c, FILE_WAL, w->number))
			continue;
		filename_path(path, c->dir, FILE_WAL, w->number);
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "missing (the manifest "
			   "records this log segment%s)", w->sealed ?
			   ", sealed" : "");
		chk_blame_manifest(c, false);
	}
}

/* Whether a table of the manifest's version points into segment NUM (a
 * segment below the log number kept by the value log; c->kept, listed at
 * the first call). */
static bool chk_kept_segment(struct chk *c, uint64_t num)
{
	if (!(c->vs.features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG))
		return false;
	if (!c->kept_listed) {
		c->kept_listed = true;
		if (vset_vlog_live(&c->vs, &c->kept) < 0)
			chk_report(c, "MANIFEST", LSM_CHECK_NO_OFFSET,
				   "out of memory listing kept log segments");
	}
	return vlog_refs_has(&c->kept, num);
}

/* Replays the live log segments as recovery would (engine/db.c
 * plan_wals): tracked segments salted, a sealed one exactly its sealed
 * size, an untracked one newer than a tracked one empty; a torn tail is
 * fine in the newest unsealed segment only. */
static void chk_wals(struct chk *c)
{
	char path[LSM_PATH_MAX];
	struct wal_chk w = { .c = c, .path = path };
	struct wal_replay_info info;
	struct lsm_err e;
	size_t last = SIZE_MAX;
	uint64_t first = c->vs.nwals ? c->vs.wals[0].number : UINT64_MAX;

	qsort(c->files, c->nfiles, sizeof(*c->files), cmp_disk);
	chk_missing_wals(c);
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].kind == FILE_WAL)
			last = i;
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct disk_file *d = &c->files[i];
		const struct edit_wal *t;

		if (d->kind != FILE_WAL)
			continue;
		chk_progress(c, d->size);
		if (c->have_manifest && d->number < c->vs.log_number &&
		    !chk_kept_segment(c, d->number))
			continue;
		filename_path(path, c->dir, FILE_WAL, d->number);
		if (c->have_manifest && d->number < c->vs.log_number) {
			/* kept for the values tables point to: flushed and
			 * sealed, read strictly (its values were checked with
			 * the tables) */
			struct wal_replay_opts ko = {
				.salt = d->number, .tail_ok = false,
				.successor = batch_follows,
			};

			memset(&e, 0, sizeof(e));
			if (wal_replay_ex(c->io, path, &ko, wal_chk_rec, &w,
					  &info, &e) < 0)
				chk_report_err(c, path, &e);
			continue;
		}
		t = c->have_manifest ? vset_find_wal(&c->vs, d->number) : NULL;
		if (t && t->sealed && d->size != t->size)
			chk_report(c, path, LSM_CHECK_NO_OFFSET, "%llu bytes, "
				   "but the segment was sealed at %llu "
				   "(truncated or extended)",
				   (unsigned long long)d->size,
				   (unsigned long long)t->size);
		if (!t && c->have_manifest && d->number > first) {
			if (d->size) {
				chk_report(c, path, LSM_CHECK_NO_OFFSET,
					   "%llu bytes, not in the manifest",
					   (unsigned long long)d->size);
				chk_blame_manifest(c, true);
			}
			continue;
		}
		memset(&e, 0, sizeof(e));
		struct wal_replay_opts wo = {
			.salt = t ? d->number : 0,
			.tail_ok = i == last && !(t && t->sealed),
			.successor = batch_follows,
		};

		if (wal_replay_ex(c->io, path, &wo, wal_chk_rec, &w, &info,
				  &e) < 0)
			chk_report_err(c, path, &e);
	}
}

/* The durable snapshots (manifest field 66, decoded strictly by then):
 * the ro_compat feature that guards them, and sequence numbers the store
 * has reached. */
static void chk_snapshots(struct chk *c)
{
	const struct version_set *vs = &c->vs;
	char path[64];

	snprintf(path, sizeof(path), "MANIFEST-%06" PRIu64,
		 vs->manifest_number);
	if (vs->nsnaps &&
	    !(vs->features.ro_compat & LSM_FEAT_RO_COMPAT_SNAPSHOTS))
		chk_report(c, path, LSM_CHECK_NO_OFFSET, "lists %zu snapshots "
			   "without the ro_compat feature 'snapshots' (a build "
			   "that does not know them could compact away what "
			   "they hold)", vs->nsnaps);
	for (size_t i = 0; i < vs->nsnaps; i++)
		if (vs->snaps[i].seq > vs->last_seq)
			chk_report(c, path, LSM_CHECK_NO_OFFSET, "snapshot "
				   "'%s' at sequence %" PRIu64 ", past the "
				   "store's last sequence %" PRIu64,
				   vs->snaps[i].name, vs->snaps[i].seq,
				   vs->last_seq);
}

int lsm_check_dir(const char *dir, const struct lsm_options *o,
		  void (*report)(void *ctx, const char *file, uint64_t offset,
				 const char *problem),
		  void (*progress)(void *ctx, uint64_t done, uint64_t total),
		  void *ctx, unsigned *problems, struct lsm_err *err)
{
	struct lsm_options def;
	struct lsm_err e = { 0 };
	struct chk c = { .dir = dir, .report = report, .progress = progress,
			 .ctx = ctx };
	int rc;

	if (!o) {
		lsm_options_init(&def);
		o = &def;
	}
	c.io = o->io ? o->io : lsm_io_posix();
	rc = chk_list(&c, err);
	if (rc < 0) {
		free(c.files);
		return rc;
	}
	vset_init(&c.vs, c.io, dir, o->max_levels, true);
	rc = vset_recover(&c.vs, &e);
	if (rc == -ENOMEM) {
		lsm_err_set(err, rc, "%s", e.msg);
		goto out;
	}
	if (rc < 0 && c.vs.missing_manifest)
		chk_no_manifest(&c, &e);
	else if (rc < 0)
		chk_report_err(&c, "CURRENT", &e);
	c.have_manifest = rc == 0;
	if (c.have_manifest)
		chk_snapshots(&c);
	chk_tables(&c);
	chk_wals(&c);
	*problems = c.problems;
	rc = 0;
out:
	vset_destroy(&c.vs);
	vlog_free(c.vlog);
	vlog_refs_free(&c.kept);
	free(c.files);
	return rc;
}

/* ---- lsm_dump_file ---- */

struct dump {
	int (*fn)(void *ctx, const struct lsm_dump_rec *r);
	void *ctx;
	const char *path;
	uint64_t off;
	struct buf text;
};

static int dump_table(struct dump *d, struct lsm_err *err)
{
	struct lsm_dump_rec r = { .kind = LSM_DUMP_ENTRY };
	struct iiter *it;
	struct sst *t;
	int rc = sst_open(lsm_io_posix(), d->path, 0, NULL, NULL, &t, err);

	if (rc < 0)
		return rc;
	it = sst_iter(t, false, NULL, NULL);
	if (!it) {
		sst_close(t);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	for (iiter_seek_first(it); rc == 0 && iiter_valid(it);
	     iiter_next(it), r.offset++) {
		const uint8_t *k = iiter_key(it, &r.klen);

		if (!ikey_valid(k, r.klen)) {
			rc = lsm_err_set(err, -EUCLEAN, "%s: entry %" PRIu64
					 ": malformed key", d->path, r.offset);
			break;
		}
		r.key = k;
		r.seq = ikey_seq(k, r.klen);
		r.is_delete = ikey_type(k, r.klen) == IKEY_DELETE;
		r.klen = ikey_ulen(r.klen);
		r.val = iiter_value(it, &r.vlen);
		rc = d->fn(d->ctx, &r);
	}
	if (rc == 0)
		rc = iiter_status(it, err);
	iiter_free(it);
	sst_close(t);
	return rc;
}

static int dump_op(void *ctx, uint64_t seq, enum ikey_type t,
		   const uint8_t *key, size_t klen, const uint8_t *val,
		   size_t vlen)
{
	struct dump *d = ctx;
	struct lsm_dump_rec r = {
		.kind = LSM_DUMP_OP, .offset = d->off, .seq = seq,
		.is_delete = t == IKEY_DELETE, .key = key, .klen = klen,
		.val = val, .vlen = vlen,
	};

	return d->fn(d->ctx, &r);
}

static int dump_batch(void *ctx, const uint8_t *rec, size_t len,
		      uint64_t off, struct lsm_err *err)
{
	struct dump *d = ctx;
	struct lsm_dump_rec r = { .kind = LSM_DUMP_BATCH, .offset = off };
	struct lsm_err e = { 0 };
	int rc = batch_decode(rec, len, wal_noop_op, NULL, &e);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: bad batch at offset %" PRIu64
				   ": %s", d->path, off, e.msg);
	r.seq = get_u64le(rec);
	r.count = get_u32le(rec + 8);
	rc = d->fn(d->ctx, &r);
	d->off = off;
	return rc ? rc : batch_decode(rec, len, dump_op, d, err);
}

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n :
			   sizeof(tmp) - 1);
}

/* Appends internal key IK as 'user-key'@seq (with "/del" for tombstones). */
static void bikey(struct buf *b, const uint8_t *ik, size_t len)
{
	size_t need;

	if (len < IKEY_TAG_BYTES) {
		bprintf(b, "(malformed key)");
		return;
	}
	need = lsm_escape(NULL, 0, ik, ikey_ulen(len));
	if (!buf_reserve(b, need + 3))
		return;
	b->p[b->len++] = '\'';
	lsm_escape((char *)b->p + b->len, need + 1, ik, ikey_ulen(len));
	b->len += need;
	bprintf(b, "'@%" PRIu64 "%s", ikey_seq(ik, len),
		ikey_type(ik, len) == IKEY_DELETE ? "/del" :
		ikey_type(ik, len) == IKEY_VALUE_PTR ? "/ptr" : "");
}

static void edit_text(const struct version_edit *e, struct buf *b)
{
	if (e->has_comparator)
		bprintf(b, "comparator lsm.bytewise\n");
	if (e->has_features)
		bprintf(b, "features compat 0x%" PRIx64 " ro_compat 0x%" PRIx64
			" incompat 0x%" PRIx64 "%s\n", e->features.compat,
			e->features.ro_compat, e->features.incompat,
			e->features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG ?
			" (wal_v2, value_log)" :
			e->features.incompat & LSM_FEAT_INCOMPAT_WAL_V2 ?
			" (wal_v2)" : "");
	if (e->has_log_number)
		bprintf(b, "log_number %" PRIu64 "\n", e->log_number);
	if (e->has_next_file)
		bprintf(b, "next_file %" PRIu64 "\n", e->next_file);
	if (e->has_last_seq)
		bprintf(b, "last_seq %" PRIu64 "\n", e->last_seq);
	for (size_t i = 0; i < e->ndeleted; i++)
		bprintf(b, "delete L%d %06" PRIu64 "\n", e->deleted[i].level,
			e->deleted[i].number);
	for (size_t i = 0; i < e->nadded; i++) {
		const struct file_meta *f = e->added[i].f;

		bprintf(b, "add L%d %06" PRIu64 " %" PRIu64 " bytes ",
			e->added[i].level, f->number, f->size);
		bikey(b, f->smallest, f->smallest_len);
		bprintf(b, " .. ");
		bikey(b, f->largest, f->largest_len);
		if (f->has_counts)
			bprintf(b, " (%" PRIu64 " entries, %" PRIu64
				" deletions)", f->entries, f->deletions);
		bprintf(b, "\n");
	}
	if (e->has_snapshots)
		bprintf(b, "snapshots %zu\n", e->nsnaps);
	for (size_t i = 0; i < e->nsnaps; i++)
		bprintf(b, "snapshot %s id %u seq %" PRIu64 " time %" PRId64
			".%09u\n", e->snaps[i].name, e->snaps[i].id,
			e->snaps[i].seq, e->snaps[i].time_sec,
			e->snaps[i].time_nsec);
	for (size_t i = 0; i < e->nwals; i++) {
		if (e->wals[i].sealed)
			bprintf(b, "log_sealed %06" PRIu64 " %" PRIu64
				" bytes\n", e->wals[i].number,
				e->wals[i].size);
		else
			bprintf(b, "log_added %06" PRIu64 "\n",
				e->wals[i].number);
	}
	for (size_t i = 0; i < e->npointers; i++) {
		bprintf(b, "compact_pointer L%d ", e->pointers[i].level);
		bikey(b, e->pointers[i].key, e->pointers[i].len);
		bprintf(b, "\n");
	}
}

static int dump_edit(void *ctx, const uint8_t *rec, size_t len,
		     uint64_t off, struct lsm_err *err)
{
	struct dump *d = ctx;
	struct lsm_dump_rec r = { .kind = LSM_DUMP_EDIT, .offset = off };
	struct version_edit e;
	struct lsm_err why = { 0 };
	int rc = version_edit_decode(&e, rec, len, &why);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: record at offset %" PRIu64
				   ": %s", d->path, off, why.msg);
	buf_clear(&d->text);
	edit_text(&e, &d->text);
	buf_put_u8(&d->text, 0);
	version_edit_free(&e);
	if (!buf_ok(&d->text))
		return lsm_err_set(err, -ENOMEM, "out of memory");
	r.text = (const char *)d->text.p;
	return d->fn(d->ctx, &r);
}

/* A segment alone does not say whether it is salted (the manifest does):
 * one whose first record reads only unsalted is a legacy segment. */
static int dump_wal(struct dump *d, uint64_t number, struct lsm_err *err)
{
	struct wal_replay_info info;
	int rc = wal_replay_salted(lsm_io_posix(), d->path, number, true,
				   dump_batch, d, &info, err);

	if (rc == 0 && info.records == 0 && info.size > 0)
		rc = wal_replay(lsm_io_posix(), d->path, true, dump_batch, d,
				NULL, err);
	return rc;
}

int lsm_dump_file(const char *path,
		  int (*fn)(void *ctx, const struct lsm_dump_rec *r),
		  void *ctx, struct lsm_err *err)
{
	struct dump d = { .fn = fn, .ctx = ctx, .path = path,
			  .text = BUF_INIT };
	const char *base = strrchr(path, '/');
	uint64_t number;
	int rc;

	switch (filename_parse(base ? base + 1 : path, &number)) {
	case FILE_TABLE:
		return dump_table(&d, err);
	case FILE_WAL:
		return dump_wal(&d, number, err);
	case FILE_MANIFEST:
		rc = wal_replay(lsm_io_posix(), path, true, dump_edit, &d,
				NULL, err);
		buf_free(&d.text);
		return rc;
	default:
		return lsm_err_set(err, -EINVAL, "%s: not a table (NNNNNN.sst),"
				   " log (NNNNNN.wal) or manifest "
				   "(MANIFEST-NNNNNN)", path);
	}
}
