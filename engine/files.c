/* files.c - the public file-format API (lsm_files.h): a store's live files
 * from its manifest, its log segments record by record, its tables
 * verified, all without opening the store.  The manifest replay, the
 * segment rules and the salts are those recovery uses (version_set.c,
 * db.c plan_wals), so a reader here sees what an open would. */
#include "lsm_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "coding.h"
#include "filename.h"
#include "ikey.h"
#include "sst.h"
#include "version.h"
#include "wal.h"

_Static_assert(LSM_FEATURE_INCOMPAT_WAL_V2 == LSM_FEAT_INCOMPAT_WAL_V2,
	       "public and internal feature bits agree");

void lsm_files_free(struct lsm_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->ntables; i++) {
		free(f->tables[i].smallest);
		free(f->tables[i].largest);
	}
	free(f->tables);
	free(f->logs);
	free(f->archive);
	free(f);
}

static int copy_tables(struct lsm_files *f, const struct version *v)
{
	size_t n = 0;

	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		n += v->nfiles[l];
	f->tables = calloc(n + 1, sizeof(*f->tables));
	if (!f->tables)
		return -ENOMEM;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *m = v->files[l][i];
			struct lsm_file_table *t = &f->tables[f->ntables++];

			t->level = (unsigned)l;
			t->number = m->number;
			t->size = m->size;
			t->smallest_len = ikey_ulen(m->smallest_len);
			t->largest_len = ikey_ulen(m->largest_len);
			t->smallest = malloc(t->smallest_len + 1);
			t->largest = malloc(t->largest_len + 1);
			if (!t->smallest || !t->largest)
				return -ENOMEM;
			memcpy(t->smallest, m->smallest, t->smallest_len);
			memcpy(t->largest, m->largest, t->largest_len);
		}
	}
	return 0;
}

static uint64_t file_size_of(const struct lsm_io *io, const char *dir,
			     uint64_t number)
{
	char path[LSM_PATH_MAX];
	uint64_t size = 0;

	filename_path(path, dir, FILE_WAL, number);
	lsm_io_path_size(io, path, &size); /* gone meanwhile: 0 */
	return size;
}

/* The live segments: those on disk at or above the log number, with what
 * the manifest says of them and the salt recovery would read them with. */
static int list_logs(struct lsm_files *f, const struct version_set *vs,
		     const struct lsm_io *io, const char *dir,
		     struct lsm_err *err)
{
	uint64_t first = vs->nwals ? vs->wals[0].number : UINT64_MAX, num;
	bool v2 = vs->features.incompat & LSM_FEAT_INCOMPAT_WAL_V2;
	char **names = NULL;
	size_t count = 0;
	int rc = io->list_dir(io, dir, &names, &count);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", dir,
				   strerror(-rc));
	f->logs = calloc(count + 1, sizeof(*f->logs));
	for (size_t i = 0; f->logs && i < count; i++) {
		struct lsm_file_log *g;
		const struct edit_wal *w;

		if (filename_parse(names[i], &num) != FILE_WAL ||
		    num < vs->log_number)
			continue;
		g = &f->logs[f->nlogs++];
		w = vset_find_wal(vs, num);
		g->number = num;
		g->size = file_size_of(io, dir, num);
		g->tracked = w != NULL;
		g->sealed = w && w->sealed;
		g->sealed_size = g->sealed ? w->size : 0;
		/* untracked and older than every tracked one: written before
		 * the store had wal_v2; newer: not recorded yet (a writer
		 * records a segment before it writes to it) */
		g->salt = w || (v2 && num > first) ? num : 0;
	}
	lsm_io_free_names(names, count);
	if (!f->logs)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 1; i < f->nlogs; i++)
		for (size_t j = i; j > 0 &&
		     f->logs[j - 1].number > f->logs[j].number; j--) {
			struct lsm_file_log t = f->logs[j];

			f->logs[j] = f->logs[j - 1];
			f->logs[j - 1] = t;
		}
	return 0;
}

/* The archive's segments (db_archive.c): complete, in DIR/archive. */
static int list_archive(struct lsm_files *f, const struct lsm_io *io,
			const char *dir, struct lsm_err *err)
{
	char adir[LSM_PATH_MAX], path[LSM_PATH_MAX];
	char **names = NULL;
	size_t count = 0;
	uint64_t num;
	int rc;

	if (snprintf(adir, sizeof(adir), "%s/" LSM_ARCHIVE_DIR, dir) >= (int)sizeof(adir))
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	rc = io->list_dir(io, adir, &names, &count);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", adir,
				   strerror(-rc));
	f->archive = calloc(count + 1, sizeof(*f->archive));
	for (size_t i = 0; f->archive && i < count; i++) {
		struct lsm_file_log *g;

		if (filename_parse(names[i], &num) != FILE_WAL)
			continue;
		g = &f->archive[f->narchive++];
		g->number = num;
		filename_path(path, adir, FILE_WAL, num);
		lsm_io_path_size(io, path, &g->size);
		g->tracked = g->sealed = false;
		g->archived = true;
		g->salt = num;
	}
	lsm_io_free_names(names, count);
	if (!f->archive)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 1; i < f->narchive; i++)
		for (size_t j = i; j > 0 &&
		     f->archive[j - 1].number > f->archive[j].number; j--) {
			struct lsm_file_log t = f->archive[j];

			f->archive[j] = f->archive[j - 1];
			f->archive[j - 1] = t;
		}
	return 0;
}

int lsm_files_list(const char *dir, struct lsm_files **out,
		   struct lsm_err *err)
{
	const struct lsm_io *io = lsm_io_posix();
	struct version_set vs;
	struct lsm_files *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	vset_init(&vs, io, dir, LSM_MAX_LEVELS, true);
	rc = vset_load(&vs, err);
	if (rc == 0) {
		f->manifest_number = vs.manifest_number;
		f->compat = vs.features.compat;
		f->ro_compat = vs.features.ro_compat;
		f->incompat = vs.features.incompat;
		f->log_number = vs.log_number;
		f->next_file = vs.next_file;
		f->last_seq = vs.last_seq;
		f->has_identity = vs.has_identity;
		f->identity = vs.identity;
		f->nepochs = vs.nepochs;
		memcpy(f->epochs, vs.epochs, sizeof(f->epochs));
		rc = copy_tables(f, vs.current);
		if (rc < 0)
			rc = lsm_err_set(err, rc, "out of memory");
	}
	if (rc == 0)
		rc = list_logs(f, &vs, io, dir, err);
	if (rc == 0)
		rc = list_archive(f, io, dir, err);
	vset_destroy(&vs);
	if (rc < 0) {
		lsm_files_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

struct scan {
	int (*fn)(void *ctx, const struct lsm_log_record *r);
	void *ctx;
};

static int scan_record(void *ctx, const uint8_t *rec, size_t len,
		       uint64_t off, struct lsm_err *err)
{
	struct scan *s = ctx;
	struct lsm_log_record r = {
		.offset = off, .end = off + WAL_HEADER_BYTES + len,
		.batch = rec, .len = len,
	};

	if (len < BATCH_HEADER_BYTES)
		return lsm_err_set(err, -EUCLEAN, "record at offset %llu: %zu "
				   "bytes, not a batch",
				   (unsigned long long)off, len);
	r.seq = get_u64le(rec);
	r.count = get_u32le(rec + 8);
	return s->fn(s->ctx, &r);
}

int lsm_log_scan(const char *dir, const struct lsm_file_log *log,
		 uint64_t from,
		 int (*fn)(void *ctx, const struct lsm_log_record *r),
		 void *ctx, uint64_t *end, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct scan s = { .fn = fn, .ctx = ctx };
	struct wal_replay_info info = { 0 };
	struct wal_replay_opts o = { .salt = log->salt, .from = from,
				     .tail_ok = !log->sealed && !log->archived,
				     .successor = batch_follows };
	char adir[LSM_PATH_MAX];
	int rc;

	if (log->archived) {
		if (snprintf(adir, sizeof(adir), "%s/" LSM_ARCHIVE_DIR, dir) >=
		    (int)sizeof(adir))
			return lsm_err_set(err, -ENAMETOOLONG,
					   "%s: path too long", dir);
		dir = adir;
	}
	if (filename_path(path, dir, FILE_WAL, log->number) < 0)
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   dir);
	rc = wal_replay_ex(lsm_io_posix(), path, &o, scan_record, &s, &info,
			   err);
	if (rc == 0 && log->sealed && info.end != log->sealed_size)
		rc = lsm_err_set(err, -EUCLEAN, "%s: %llu bytes of records, "
				 "but the segment was sealed at %llu", path,
				 (unsigned long long)info.end,
				 (unsigned long long)log->sealed_size);
	if (end)
		*end = info.end;
	return rc;
}

struct ops {
	int (*fn)(void *ctx, uint64_t seq, bool is_delete, const void *key,
		  size_t klen, const void *val, size_t vlen);
	void *ctx;
};

static int one_op(void *ctx, uint64_t seq, enum ikey_type t,
		  const uint8_t *key, size_t klen, const uint8_t *val,
		  size_t vlen)
{
	struct ops *o = ctx;

	return o->fn(o->ctx, seq, t == IKEY_DELETE, key, klen, val, vlen);
}

int lsm_batch_ops(const void *batch, size_t len,
		  int (*fn)(void *ctx, uint64_t seq, bool is_delete,
			    const void *key, size_t klen, const void *val,
			    size_t vlen),
		  void *ctx, struct lsm_err *err)
{
	struct ops o = { .fn = fn, .ctx = ctx };

	return batch_decode(batch, len, one_op, &o, err);
}

int lsm_table_verify(const char *path, uint64_t *entries,
		     struct lsm_err *err)
{
	struct sst *t;
	int rc = sst_open(lsm_io_posix(), path, 0, NULL, NULL, &t, err);

	if (rc < 0)
		return rc;
	rc = sst_verify(t, err);
	if (rc == 0 && entries)
		*entries = sst_get_props(t)->entries;
	sst_close(t);
	return rc;
}
