/* repair.c - lsm_repair (lsm_tool.h): brings a damaged data directory back
 * to its last consistent point.  Three passes under DIR/LOCK:
 *  1. find: check every table the manifest lists, then replay the log
 *     segments in order (as engine/db.c plan_wals would) up to the first
 *     damage, the cut; count what lies after it;
 *  2. act (unless a dry run): save what is dropped in DIR/lost/ (copies of
 *     log tails, whole segments, dropped tables moved), log one manifest
 *     edit that seals the cut segment at the cut and every later one at 0
 *     (and removes dropped tables), then cut the files to match;
 *  3. open the store read-write once: the normal recovery replays what is
 *     left into an L0 table and starts a fresh log and manifest.
 * Each step leaves a store that a second run repairs the same way.  Not
 * repaired: a damaged CURRENT or manifest (rebuilding it from the tables
 * is another tool's job). */
#include "lsm_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "coding.h"
#include "crc.h"
#include "filename.h"
#include "ikey.h"
#include "sst.h"
#include "version.h"
#include "vlog.h"
#include "wal.h"

/* Log bytes after a cut are parsed in memory up to this size (beyond, only
 * their bytes are counted). */
#define REPAIR_PARSE_MAX (256u << 20)
#define REPAIR_COPY_CHUNK (1u << 20)

enum rep_act {
	ACT_NONE,
	ACT_CUT,        /* save bytes [cut, size) in lost/, truncate to cut */
	ACT_CREATE,     /* create the missing segment, empty */
	ACT_MOVE_TABLE, /* move the table into lost/ */
};

/* A finding, kept (with its action) until the repair is done. */
struct rep_finding {
	struct lsm_repair_finding f;
	char *file, *problem, *saved;
	uint8_t *smallest, *largest;
	enum rep_act act;
	uint64_t cut, size;
};

struct rep {
	const char *dir;
	const struct lsm_io *io;
	const struct lsm_repair_options *o;
	struct lsm_repair_result *res;
	unsigned max_levels;
	struct version_set vs;   /* read-only, for the find pass */
	struct vlog *vlog;       /* reads what tables point to */
	/* the log segments dropped tables point into: copied into lost/
	 * beside them (the next open deletes those no table names) */
	struct vlog_refs dropped_segs;
	struct version_edit edit; /* seals and table removals */
	struct rep_finding *fs;
	size_t nfs, capfs;
	uint64_t done, total;
	bool stopped;            /* the log is cut: what follows is dropped */
	int lock_fd;
};

void lsm_repair_options_init(struct lsm_repair_options *o)
{
	memset(o, 0, sizeof(*o));
}

static void rep_progress(struct rep *r, uint64_t bytes)
{
	r->done += bytes;
	if (r->o->progress)
		r->o->progress(r->o->ctx, r->done, r->total);
}

static int enomem(struct lsm_err *err)
{
	return lsm_err_set(err, -ENOMEM, "out of memory");
}

/* A new finding of KIND about file (FK, NUMBER), its problem from FMT. */
static struct rep_finding *rep_add(struct rep *r, enum lsm_repair_kind kind,
				   enum file_kind fk, uint64_t number,
				   const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static struct rep_finding *rep_add(struct rep *r, enum lsm_repair_kind kind,
				   enum file_kind fk, uint64_t number,
				   const char *fmt, ...)
{
	char path[LSM_PATH_MAX], msg[512];
	struct rep_finding *x;
	va_list ap;

	if (r->nfs == r->capfs) {
		size_t cap = r->capfs ? r->capfs * 2 : 8;
		struct rep_finding *a = realloc(r->fs, cap * sizeof(*a));

		if (!a)
			return NULL;
		r->fs = a;
		r->capfs = cap;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	filename_path(path, r->dir, fk, number);
	x = &r->fs[r->nfs];
	memset(x, 0, sizeof(*x));
	x->file = strdup(path);
	x->problem = strdup(msg);
	if (!x->file || !x->problem) {
		free(x->file);
		free(x->problem);
		return NULL;
	}
	x->f.kind = kind;
	x->f.number = number;
	x->f.offset = LSM_CHECK_NO_OFFSET;
	r->nfs++;
	return x;
}

/* MSG without its leading "PATH: " when it names PATH. */
static const char *strip_path(const char *msg, const char *path)
{
	size_t n = strlen(path);

	if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}


/* ---- the lock ---- */

static int rep_lock(struct rep *r, struct lsm_err *err)
{
	char path[LSM_PATH_MAX], owner[32] = "", pid[32];
	int fd, rc, n;
	ssize_t got;

	filename_path(path, r->dir, FILE_LOCK, 0);
	rc = r->io->open(r->io, path, r->o->dry_run ? O_RDONLY :
			 O_RDWR | O_CREAT, 0644, &fd);
	if (rc == -ENOENT && r->o->dry_run)
		return 0; /* nobody can hold it */
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot open lock file: %s",
				   path, strerror(-rc));
	rc = r->io->lock(r->io, fd);
	if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
		got = r->io->pread(r->io, fd, owner, sizeof(owner) - 1, 0);
		owner[got > 0 ? got : 0] = '\0';
		owner[strcspn(owner, "\n")] = '\0';
		r->io->close(r->io, fd);
		return lsm_err_set(err, -EBUSY, "%s is in use by process %s "
				   "(it holds %s); stop that process or use "
				   "another data directory", r->dir,
				   *owner ? owner : "(unknown pid)", path);
	}
	if (rc < 0) {
		r->io->close(r->io, fd);
		return lsm_err_set(err, rc, "%s: cannot lock: %s", path,
				   strerror(-rc));
	}
	r->lock_fd = fd;
	if (r->o->dry_run)
		return 0;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (r->io->ftruncate(r->io, fd, 0) == 0)
		(void)lsm_io_write_full(r->io, fd, pid, (size_t)n, 0);
	return 0;
}

static void rep_unlock(struct rep *r)
{
	if (r->lock_fd >= 0)
		r->io->close(r->io, r->lock_fd);
	r->lock_fd = -1;
}

/* ---- tables ---- */

/* What the pointers of one table found: their count, the first message. */
struct rep_ptrs {
	struct rep *r;
	uint64_t table;
	long bad;
	char first[256];
};

static int rep_bad_pointer(void *ctx, enum vlog_bad what, const void *key,
			   size_t klen, const struct vptr *p, const char *msg)
{
	struct rep_ptrs *x = ctx;
	const struct lsm_repair_options *o = x->r->o;

	(void)what;
	(void)p;
	if (!x->bad++)
		snprintf(x->first, sizeof(x->first), "%s", msg);
	if (o->damaged_value)
		o->damaged_value(o->ctx, x->table, key, klen);
	return 0;
}

/* Whether the values table T (F) points to in the log segments all read
 * back (a lost or damaged kept segment damages the tables that point into
 * it): 1 with WHY and *BAD when not, 0, or -ENOMEM. */
static int pointers_problem(struct rep *r, const struct file_meta *f,
			    struct sst *t, char *why, size_t cap,
			    uint64_t *bad)
{
	struct rep_ptrs x = { .r = r, .table = f->number };
	struct lsm_err e = { 0 };
	long n;

	if (!(r->vs.features.incompat & LSM_FEAT_INCOMPAT_VALUE_LOG))
		return 0;
	if (!r->vlog && !(r->vlog = vlog_new(r->io, r->dir)))
		return -ENOMEM;
	n = vlog_check_table(r->vlog, t, &f->vlog, rep_bad_pointer, &x, &e);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n < 0) {
		snprintf(why, cap, "%s", e.msg);
		return 1;
	}
	if (n == 0)
		return 0;
	*bad = (uint64_t)n;
	snprintf(why, cap, "%ld value%s in the log unreadable, the first: "
		 "%s", n, n == 1 ? "" : "s", strip_path(x.first, r->dir));
	return 1;
}

/* Why table F (at PATH) cannot be used, in WHY; 0 when it is fine. */
static int table_problem(struct rep *r, const struct file_meta *f,
			 const char *path, char *why, size_t cap,
			 bool *present, uint64_t *values)
{
	struct lsm_err e = { 0 };
	struct sst *t;
	uint64_t size = 0;
	int rc = lsm_io_path_size(r->io, path, &size);

	*present = rc == 0;
	if (rc < 0) {
		snprintf(why, cap, "%s", rc == -ENOENT ? "missing" :
			 strerror(-rc));
		return 1;
	}
	if (size != f->size) {
		snprintf(why, cap, "%" PRIu64 " bytes, the manifest says %"
			 PRIu64, size, f->size);
		return 1;
	}
	rc = sst_open(r->io, path, f->number, NULL, NULL, &t, &e);
	if (rc == 0) {
		rc = sst_verify(t, &e);
		if (rc == 0)
			rc = pointers_problem(r, f, t, why, cap, values);
		sst_close(t);
		if (rc > 0)
			return 1;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		snprintf(why, cap, "%s", strip_path(e.msg, path));
	return rc < 0;
}

static int rep_table(struct rep *r, unsigned level, const struct file_meta *f,
		     struct lsm_err *err)
{
	char path[LSM_PATH_MAX], why[300];
	struct rep_finding *x;
	uint64_t values = 0;
	bool present;
	int rc;

	filename_path(path, r->dir, FILE_TABLE, f->number);
	rc = table_problem(r, f, path, why, sizeof(why), &present, &values);
	rep_progress(r, f->size);
	if (rc <= 0)
		return rc == -ENOMEM ? enomem(err) : 0;
	x = rep_add(r, LSM_REPAIR_TABLE, FILE_TABLE, f->number, "%s (L%u)",
		    why, level);
	if (!x)
		return enomem(err);
	x->f.level = level;
	x->f.values = values;
	x->smallest = malloc(f->smallest_len);
	x->largest = malloc(f->largest_len);
	if (!x->smallest || !x->largest)
		return enomem(err);
	x->f.smallest_len = ikey_ulen(f->smallest_len);
	x->f.largest_len = ikey_ulen(f->largest_len);
	memcpy(x->smallest, f->smallest, f->smallest_len);
	memcpy(x->largest, f->largest, f->largest_len);
	r->res->tables_damaged++;
	if (!r->o->drop_tables)
		return 0;
	x->f.dropped = true;
	x->act = present ? ACT_MOVE_TABLE : ACT_NONE;
	for (size_t i = 0; i < f->vlog.n; i++)
		if (vlog_refs_add(&r->dropped_segs, f->vlog.v[i].segment,
				  f->vlog.v[i].bytes) < 0)
			return enomem(err);
	r->res->tables_dropped++;
	if (version_edit_delete_file(&r->edit, (int)level, f->number) < 0)
		return enomem(err);
	return 0;
}

static int rep_tables(struct rep *r, struct lsm_err *err)
{
	const struct version *v = r->vs.current;
	int rc = 0;

	for (unsigned l = 0; rc == 0 && l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; rc == 0 && i < v->nfiles[l]; i++)
			rc = rep_table(r, l, v->files[l][i], err);
	return rc;
}

/* ---- counting what a cut drops ---- */

/* The CRC state a salted record starts from (as engine/wal.c). */
static uint32_t salt_seed(uint64_t salt)
{
	uint8_t b[8];

	if (!salt)
		return 0;
	put_u64le(b, salt);
	return crc32_of(b, sizeof(b));
}

static int dropped_op(void *ctx, uint64_t seq, enum ikey_type t,
		      const uint8_t *key, size_t klen, const uint8_t *val,
		      size_t vlen)
{
	struct rep *r = ctx;

	(void)val, (void)vlen;
	r->res->keys_dropped++;
	if (r->o->dropped_key)
		r->o->dropped_key(r->o->ctx, key, klen, seq,
				  t == IKEY_DELETE);
	return 0;
}

/* 1 when a valid record (salted with SEED) starts at P, N bytes left. */
static bool frame_ok(const uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t len;

	if (n < WAL_HEADER_BYTES)
		return false;
	len = get_u32le(p + 4);
	if (len == 0 || len > WAL_MAX_RECORD || len > n - WAL_HEADER_BYTES)
		return false;
	return crc32_extend(seed, p + 4, 4 + (size_t)len) == get_u32le(p);
}

/* Counts the records in bytes P[0, N) of a log: every valid frame (found
 * again byte by byte after damage) is a dropped record whose keys go to
 * dropped_key; each unreadable stretch is one damaged record. */
static void count_frames(struct rep *r, const uint8_t *p, size_t n,
			 uint64_t salt)
{
	uint32_t seed = salt_seed(salt);
	bool garbage = false;
	size_t i = 0;

	while (i < n) {
		if (frame_ok(p + i, n - i, seed)) {
			uint32_t len = get_u32le(p + i + 4);

			if (batch_decode(p + i + WAL_HEADER_BYTES, len,
					 dropped_op, r, NULL) < 0)
				r->res->damaged_records++;
			else
				r->res->records_dropped++;
			i += WAL_HEADER_BYTES + (size_t)len;
			garbage = false;
			continue;
		}
		if (!garbage)
			r->res->damaged_records++;
		garbage = true;
		i++;
	}
}

/* Counts what bytes [FROM, SIZE) of log PATH hold (see count_frames). */
static int count_log(struct rep *r, const char *path, uint64_t salt,
		     uint64_t from, uint64_t size, struct lsm_err *err)
{
	uint8_t *buf;
	int fd, rc;

	r->res->bytes_dropped += size - from;
	if (size <= from)
		return 0;
	if (size - from > REPAIR_PARSE_MAX) {
		r->res->damaged_records++; /* too large to look into */
		return 0;
	}
	buf = malloc((size_t)(size - from));
	if (!buf)
		return enomem(err);
	rc = r->io->open(r->io, path, O_RDONLY, 0, &fd);
	if (rc == 0) {
		rc = lsm_io_read_full(r->io, fd, buf, (size_t)(size - from),
				      from);
		r->io->close(r->io, fd);
	}
	if (rc == 0)
		count_frames(r, buf, (size_t)(size - from), salt);
	free(buf);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: read: %s", path,
				   strerror(-rc));
	return 0;
}

/* ---- log segments ---- */

/* One segment on disk, as the manifest sees it. */
struct seg {
	uint64_t number, salt, size;
	const struct edit_wal *w; /* tracked: its record; else NULL */
	bool foreign;             /* untracked, newer than a tracked one */
	bool newest;              /* the last segment on disk */
	char path[LSM_PATH_MAX];
};

struct kept {
	struct rep *r;
	const char *path;
	uint64_t limit; /* the size the segment was sealed at */
	uint64_t records, keys;
};

static int kept_op(void *ctx, uint64_t seq, enum ikey_type t,
		   const uint8_t *key, size_t klen, const uint8_t *val,
		   size_t vlen)
{
	(void)seq, (void)t, (void)key, (void)klen, (void)val, (void)vlen;
	(*(uint64_t *)ctx)++;
	return 0;
}

static int kept_rec(void *ctx, const uint8_t *rec, size_t len, uint64_t off,
		    struct lsm_err *err)
{
	struct kept *k = ctx;
	struct lsm_err e = { 0 };
	uint64_t ops = 0;
	int rc;

	if (off + WAL_HEADER_BYTES + len > k->limit)
		return lsm_err_set(err, -ERANGE, "%s: record at offset %"
				   PRIu64 " runs past the size the segment "
				   "was sealed at (%" PRIu64 ")", k->path,
				   off, k->limit);
	rc = batch_decode(rec, len, kept_op, &ops, &e);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: bad batch at offset %" PRIu64
				   ": %s", k->path, off, e.msg);
	k->records++;
	k->keys += ops;
	return 0;
}

/* Everything of segment S is dropped (it lies after the cut, or is the
 * foreign segment the cut is at). */
static int seg_drop_whole(struct rep *r, struct seg *s, struct lsm_err *err)
{
	uint64_t recs = r->res->records_dropped, keys = r->res->keys_dropped;
	struct rep_finding *x;
	int rc = count_log(r, s->path, s->salt, 0, s->size, err);

	if (rc < 0)
		return rc;
	recs = r->res->records_dropped - recs;
	keys = r->res->keys_dropped - keys;
	if (s->foreign)
		x = rep_add(r, LSM_REPAIR_WAL_FOREIGN, FILE_WAL, s->number,
			    "%" PRIu64 " bytes, not in the manifest%s; "
			    "dropped whole (%" PRIu64 " intact records, %"
			    PRIu64 " keys)", s->size, r->stopped ?
			    "" : ": the log is cut before it", recs, keys);
	else
		x = rep_add(r, LSM_REPAIR_WAL_DROPPED, FILE_WAL, s->number,
			    "after the cut: dropped whole (%" PRIu64
			    " intact records, %" PRIu64 " keys)", recs,
			    keys);
	if (!x)
		return enomem(err);
	x->f.offset = 0;
	x->f.bytes = s->size;
	x->act = ACT_CUT;
	x->size = s->size;
	r->stopped = true;
	if (s->w && version_edit_seal_wal(&r->edit, s->number, 0) < 0)
		return enomem(err);
	return 0;
}

/* The log is cut in segment S at END (E: why). */
static int seg_cut(struct rep *r, struct seg *s, uint64_t end,
		   const struct lsm_err *e, struct lsm_err *err)
{
	bool resized = s->w && s->w->sealed && s->size != s->w->size;
	struct rep_finding *x;
	int rc;

	if (resized)
		x = rep_add(r, LSM_REPAIR_WAL_TRUNCATED, FILE_WAL, s->number,
			    "%" PRIu64 " bytes, but it was sealed at %" PRIu64
			    "; the log is cut at offset %" PRIu64 ", after "
			    "its last whole record", s->size, s->w->size,
			    end);
	else
		x = rep_add(r, LSM_REPAIR_WAL_DAMAGED, FILE_WAL, s->number,
			    "%s; the log is cut there",
			    strip_path(e->msg, s->path));
	if (!x)
		return enomem(err);
	x->f.offset = end;
	x->f.bytes = s->size - end;
	x->act = end < s->size ? ACT_CUT : ACT_NONE;
	x->cut = end;
	x->size = s->size;
	if (resized && s->size < s->w->size)
		r->res->bytes_missing += s->w->size - s->size;
	r->stopped = true;
	rc = count_log(r, s->path, s->salt, end, s->size, err);
	if (rc == 0 && s->w &&
	    version_edit_seal_wal(&r->edit, s->number, end) < 0)
		rc = enomem(err);
	return rc;
}

static int seg_replay(struct rep *r, struct seg *s, struct lsm_err *err)
{
	bool sealed = s->w && s->w->sealed;
	struct kept k = { .r = r, .path = s->path,
			  .limit = sealed ? s->w->size : UINT64_MAX };
	struct wal_replay_info info;
	struct lsm_err e = { 0 };
	struct wal_replay_opts wo = { .salt = s->salt,
				      .tail_ok = s->newest && !sealed,
				      .successor = batch_follows };
	int rc = wal_replay_ex(r->io, s->path, &wo, kept_rec, &k, &info, &e);

	r->res->records_kept += k.records;
	r->res->keys_kept += k.keys;
	if (rc < 0 && rc != -EBADMSG && rc != -EUCLEAN && rc != -ERANGE) {
		if (err)
			*err = e;
		return rc;
	}
	if (rc < 0 || (sealed && s->size != s->w->size))
		return seg_cut(r, s, info.end, &e, err);
	return 0;
}

static int seg_present(struct rep *r, struct seg *s, struct lsm_err *err)
{
	struct rep_finding *x;
	int rc;

	filename_path(s->path, r->dir, FILE_WAL, s->number);
	rc = lsm_io_path_size(r->io, s->path, &s->size);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: %s", s->path, strerror(-rc));
	rep_progress(r, s->size);
	if (s->size > 0 && (r->stopped || s->foreign))
		return seg_drop_whole(r, s, err);
	if (!r->stopped && !s->foreign)
		return seg_replay(r, s, err);
	if (!s->w || !s->w->sealed || s->w->size == 0)
		return 0; /* empty, nothing recorded: nothing lost */
	x = rep_add(r, LSM_REPAIR_WAL_TRUNCATED, FILE_WAL, s->number,
		    "empty, but it was sealed at %" PRIu64 " bytes",
		    s->w->size);
	if (!x || version_edit_seal_wal(&r->edit, s->number, 0) < 0)
		return enomem(err);
	x->f.offset = 0;
	r->res->bytes_missing += s->w->size;
	return 0;
}

static int seg_missing(struct rep *r, const struct edit_wal *w,
		       struct lsm_err *err)
{
	struct rep_finding *x;

	x = rep_add(r, LSM_REPAIR_WAL_MISSING, FILE_WAL, w->number,
		    "missing (the manifest records it%s)%s",
		    w->sealed ? ", sealed" : "", r->stopped ? "" :
		    "; the log is cut before it");
	if (!x || version_edit_seal_wal(&r->edit, w->number, 0) < 0)
		return enomem(err);
	x->f.offset = 0;
	x->act = ACT_CREATE;
	if (w->sealed)
		r->res->bytes_missing += w->size;
	r->stopped = true;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The live segments on disk (numbers at or above the log number),
 * ascending, and the bytes of the tables and segments to read. */
static int list_segments(struct rep *r, uint64_t **out, size_t *n,
			 struct lsm_err *err)
{
	char **names = NULL, path[LSM_PATH_MAX];
	size_t count = 0, k = 0;
	uint64_t num, size, *nums;
	const struct version *v = r->vs.current;
	int rc = r->io->list_dir(r->io, r->dir, &names, &count);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", r->dir,
				   strerror(-rc));
	nums = calloc(count + 1, sizeof(*nums));
	if (!nums) {
		lsm_io_free_names(names, count);
		return enomem(err);
	}
	for (size_t i = 0; i < count; i++) {
		if (filename_parse(names[i], &num) != FILE_WAL ||
		    num < r->vs.log_number)
			continue;
		nums[k++] = num;
		filename_path(path, r->dir, FILE_WAL, num);
		if (lsm_io_path_size(r->io, path, &size) == 0)
			r->total += size;
	}
	lsm_io_free_names(names, count);
	qsort(nums, k, sizeof(*nums), cmp_u64);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			r->total += v->files[l][i]->size;
	*out = nums;
	*n = k;
	return 0;
}

/* Walks the segments on disk and those the manifest tracks in number
 * order, as recovery does (engine/db.c plan_wals), up to the cut. */
static int rep_wals(struct rep *r, const uint64_t *nums, size_t n,
		    struct lsm_err *err)
{
	const struct version_set *vs = &r->vs;
	uint64_t first = vs->nwals ? vs->wals[0].number : UINT64_MAX;
	size_t i = 0, t = 0;
	int rc = 0;

	while (rc == 0 && (i < n || t < vs->nwals)) {
		const struct edit_wal *w = t < vs->nwals ? &vs->wals[t] : NULL;
		struct seg s = { 0 };

		if (w && (i == n || w->number < nums[i])) {
			rc = seg_missing(r, w, err);
			t++;
			continue;
		}
		s.number = nums[i];
		s.newest = i + 1 == n;
		if (w && w->number == nums[i]) {
			s.w = w;
			s.salt = w->number;
			t++;
		} else if (nums[i] > first) {
			s.foreign = true;
			s.salt = nums[i];
		}
		i++;
		rc = seg_present(r, &s, err);
	}
	return rc;
}

/* ---- acting ---- */

/* Creates DIR/lost/BASE (or BASE.1, BASE.2, ...) exclusively; *FD open
 * for writing, SAVED its path. */
static int lost_create(struct rep *r, const char *base, char *saved,
		       int *fd)
{
	int rc = -EEXIST;

	for (unsigned i = 0; rc == -EEXIST && i < 1000; i++) {
		if (i == 0)
			snprintf(saved, LSM_PATH_MAX, "%s/%s/%s", r->dir,
				 LSM_REPAIR_LOST_DIR, base);
		else
			snprintf(saved, LSM_PATH_MAX, "%s/%s/%s.%u", r->dir,
				 LSM_REPAIR_LOST_DIR, base, i);
		rc = r->io->open(r->io, saved, O_WRONLY | O_CREAT | O_EXCL,
				 0644, fd);
	}
	return rc;
}

/* Copies bytes [FROM, SIZE) of SRC into a new file of lost/ (synced). */
static int save_copy(struct rep *r, const char *src, uint64_t from,
		     uint64_t size, const char *base, char *saved,
		     struct lsm_err *err)
{
	uint8_t *buf = malloc(REPAIR_COPY_CHUNK);
	int in = -1, out = -1, rc;

	if (!buf)
		return enomem(err);
	rc = r->io->open(r->io, src, O_RDONLY, 0, &in);
	if (rc == 0)
		rc = lost_create(r, base, saved, &out);
	for (uint64_t off = from; rc == 0 && off < size;) {
		size_t n = size - off < REPAIR_COPY_CHUNK ?
			   (size_t)(size - off) : REPAIR_COPY_CHUNK;

		rc = lsm_io_read_full(r->io, in, buf, n, off);
		if (rc == 0)
			rc = lsm_io_write_full(r->io, out, buf, n, off - from);
		off += n;
	}
	if (rc == 0)
		rc = r->io->fsync(r->io, out);
	if (in >= 0)
		r->io->close(r->io, in);
	if (out >= 0)
		r->io->close(r->io, out);
	free(buf);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot save it in %s/%s: %s",
				   src, r->dir, LSM_REPAIR_LOST_DIR,
				   strerror(-rc));
	return 0;
}

static int save_table(struct rep *r, struct rep_finding *x, char *saved,
		      struct lsm_err *err)
{
	const char *base = strrchr(x->file, '/') + 1;
	int fd, rc = lost_create(r, base, saved, &fd);

	if (rc == 0) {
		r->io->close(r->io, fd);
		rc = r->io->rename(r->io, x->file, saved);
	}
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot move it into %s/%s: %s",
				   x->file, r->dir, LSM_REPAIR_LOST_DIR,
				   strerror(-rc));
	return 0;
}

/* Copies the log segments dropped tables point into (those present) into
 * lost/, so that the tables saved there keep their values. */
static int save_segments(struct rep *r, struct lsm_err *err)
{
	char path[LSM_PATH_MAX], saved[LSM_PATH_MAX], base[64];
	uint64_t size;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < r->dropped_segs.n; i++) {
		uint64_t num = r->dropped_segs.v[i].segment;

		filename_path(path, r->dir, FILE_WAL, num);
		if (lsm_io_path_size(r->io, path, &size) < 0)
			continue; /* missing: nothing to keep */
		snprintf(base, sizeof(base), "%06" PRIu64 ".wal", num);
		rc = save_copy(r, path, 0, size, base, saved, err);
	}
	return rc;
}

/* Step 1: what is dropped goes to lost/ (copies; tables moved). */
static int act_save(struct rep *r, struct lsm_err *err)
{
	char lost[LSM_PATH_MAX], saved[LSM_PATH_MAX], base[64];
	int rc;

	snprintf(lost, sizeof(lost), "%s/%s", r->dir, LSM_REPAIR_LOST_DIR);
	rc = r->io->mkdir(r->io, lost, 0755);
	if (rc < 0 && rc != -EEXIST)
		return lsm_err_set(err, rc, "%s: cannot create: %s", lost,
				   strerror(-rc));
	for (size_t i = 0; i < r->nfs; i++) {
		struct rep_finding *x = &r->fs[i];

		rc = 0;
		if (x->act == ACT_CUT) {
			snprintf(base, sizeof(base), x->cut ? "%06" PRIu64
				 ".wal.at-%" PRIu64 : "%06" PRIu64 ".wal",
				 x->f.number, x->cut);
			rc = save_copy(r, x->file, x->cut, x->size, base, saved,
				       err);
		} else if (x->act == ACT_MOVE_TABLE) {
			rc = save_table(r, x, saved, err);
		} else {
			continue;
		}
		if (rc < 0)
			return rc;
		if (!(x->saved = strdup(saved)))
			return enomem(err);
	}
	rc = save_segments(r, err);
	if (rc < 0)
		return rc;
	rc = r->io->sync_dir(r->io, lost);
	if (rc == 0)
		rc = r->io->sync_dir(r->io, r->dir);
	return rc < 0 ? lsm_err_set(err, rc, "%s: sync: %s", lost,
				    strerror(-rc)) : 0;
}

/* Step 2: one manifest edit (through a writable version set, which first
 * writes a fresh manifest, as every writable open does). */
static int act_manifest(struct rep *r, struct lsm_err *err)
{
	struct version_set vs;
	int rc;

	if (!r->edit.nwals && !r->edit.ndeleted)
		return 0;
	vset_init(&vs, r->io, r->dir, r->max_levels, false);
	rc = vset_recover(&vs, err);
	if (rc == 0)
		rc = vset_log_and_apply(&vs, &r->edit, err);
	vset_destroy(&vs);
	return rc;
}

/* Step 3: the segments are cut (and missing ones created) to match. */
static int act_cut(struct rep *r, struct lsm_err *err)
{
	int fd, rc = 0;

	for (size_t i = 0; rc == 0 && i < r->nfs; i++) {
		struct rep_finding *x = &r->fs[i];

		if (x->act != ACT_CUT && x->act != ACT_CREATE)
			continue;
		rc = r->io->open(r->io, x->file, x->act == ACT_CREATE ?
				 O_WRONLY | O_CREAT : O_WRONLY, 0644, &fd);
		if (rc < 0)
			break;
		if (x->act == ACT_CUT)
			rc = r->io->ftruncate(r->io, fd, x->cut);
		if (rc == 0)
			rc = r->io->fsync(r->io, fd);
		r->io->close(r->io, fd);
		if (rc < 0)
			return lsm_err_set(err, rc, "%s: cannot cut at offset %"
					   PRIu64 ": %s", x->file, x->cut,
					   strerror(-rc));
	}
	if (rc == 0)
		rc = r->io->sync_dir(r->io, r->dir);
	return rc < 0 ? lsm_err_set(err, rc, "%s: %s", r->dir,
				    strerror(-rc)) : 0;
}

static bool rep_changes(const struct rep *r)
{
	for (size_t i = 0; i < r->nfs; i++)
		if (r->fs[i].act != ACT_NONE)
			return true;
	return r->edit.nwals || r->edit.ndeleted;
}

/* Opens the store read-write once: recovery flushes what the log holds
 * into an L0 table and starts a fresh log and manifest. */
static void rep_reopen(struct rep *r)
{
	struct lsm_options o;
	struct lsm_db *db;

	if (r->o->engine)
		o = *r->o->engine;
	else
		lsm_options_init(&o);
	o.read_only = false;
	o.create_if_missing = false;
	o.background_compaction = false;
	o.wal_recovery = LSM_WAL_STRICT;
	if (lsm_open(r->dir, &o, &db, &r->res->reopen) == 0)
		lsm_close(db, &r->res->reopen);
}

static void rep_emit(struct rep *r)
{
	for (size_t i = 0; r->o->finding && i < r->nfs; i++) {
		struct rep_finding *x = &r->fs[i];

		x->f.file = x->file;
		x->f.problem = x->problem;
		x->f.saved = x->saved;
		x->f.smallest = x->smallest;
		x->f.largest = x->largest;
		r->o->finding(r->o->ctx, &x->f);
	}
}

static void rep_free(struct rep *r)
{
	for (size_t i = 0; i < r->nfs; i++) {
		free(r->fs[i].file);
		free(r->fs[i].problem);
		free(r->fs[i].saved);
		free(r->fs[i].smallest);
		free(r->fs[i].largest);
	}
	free(r->fs);
	version_edit_free(&r->edit);
	vlog_free(r->vlog);
	vlog_refs_free(&r->dropped_segs);
	vset_destroy(&r->vs);
	rep_unlock(r);
}

/* Finds what to do (the whole of a dry run). */
static int rep_find(struct rep *r, struct lsm_err *err)
{
	uint64_t *nums = NULL;
	size_t n = 0;
	int rc = vset_recover(&r->vs, err);

	if (rc < 0)
		return rc;
	rc = list_segments(r, &nums, &n, err);
	if (rc == 0)
		rc = rep_tables(r, err);
	if (rc == 0)
		rc = rep_wals(r, nums, n, err);
	free(nums);
	return rc;
}

int lsm_repair(const char *dir, const struct lsm_repair_options *o,
	       struct lsm_repair_result *res, struct lsm_err *err)
{
	struct lsm_repair_options def;
	struct rep r = { .dir = dir, .o = o, .res = res, .lock_fd = -1 };
	char path[LSM_PATH_MAX];
	uint64_t size;
	int rc;

	if (!o) {
		lsm_repair_options_init(&def);
		r.o = o = &def;
	}
	memset(res, 0, sizeof(*res));
	r.io = o->engine && o->engine->io ? o->engine->io : lsm_io_posix();
	r.max_levels = o->engine && o->engine->max_levels ?
		       o->engine->max_levels : 7;
	if (filename_path(path, dir, FILE_CURRENT, 0) < 0)
		return lsm_err_set(err, -ENAMETOOLONG, "%s: path too long",
				   dir);
	rc = lsm_io_path_size(r.io, path, &size);
	if (rc == -ENOENT)
		return lsm_err_set(err, rc, "%s is not an lsmfs store (no "
				   "CURRENT file)", dir);
	version_edit_init(&r.edit);
	vset_init(&r.vs, r.io, dir, r.max_levels, true);
	rc = rep_lock(&r, err);
	if (rc == 0)
		rc = rep_find(&r, err);
	if (rc == 0)
		res->changed = rep_changes(&r);
	if (rc == 0 && !o->dry_run && res->changed)
		rc = act_save(&r, err);
	if (rc == 0 && !o->dry_run && res->changed)
		rc = act_manifest(&r, err);
	if (rc == 0 && !o->dry_run && res->changed)
		rc = act_cut(&r, err);
	rep_unlock(&r);
	if (rc == 0 && !o->dry_run)
		rep_reopen(&r);
	if (rc == 0)
		rep_emit(&r);
	rep_free(&r);
	return rc;
}
