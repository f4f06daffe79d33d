/* cursor.c - the primary's log read as one stream of records: its
 * archived segments (DIR/archive, complete), then its live ones, in
 * segment-number order, resuming at a sequence number.  The writer
 * appends to the newest segment, seals it at a switch, and moves
 * segments to the archive (or deletes them) once flushed; the cursor
 * follows: a segment that leaves the live set is looked up in the
 * archive at the same offset.  Unless told otherwise, records are
 * delivered only once durable on the primary: the cursor fdatasyncs the
 * segment through its own descriptor first (the writer syncs sealed and
 * archived segments itself). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl.h"

#define STOP_SCAN (-ECANCELED)

struct cursor {
	char *dir;
	bool unsynced;
	uint64_t seq;        /* last sequence delivered (or the start) */
	uint64_t cur;        /* segment being read, 0: choose one */
	bool cur_archived;
	bool cur_final;      /* it no longer grows (read it to its end) */
	uint64_t off;        /* next record's offset in it */
	int sync_fd;         /* open on segment sync_num, for fdatasync */
	uint64_t sync_num, synced_to;
	int ino;             /* inotify fd or -1 */
	bool arch_watched;
};

static void seg_path(const struct cursor *c, uint64_t num, bool archived,
		     char *out, size_t cap)
{
	snprintf(out, cap, "%s%s/%06" PRIu64 ".wal", c->dir,
		 archived ? "/archive" : "", num);
}

static int cmp_num(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_log(const void *a, const void *b)
{
	return cmp_num(&((const struct lsm_file_log *)a)->number,
		       &((const struct lsm_file_log *)b)->number);
}

/* The live directory's segment numbers, ascending (*OUT: malloc'ed). */
static int raw_live(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t k = 0, cap = 0;
	uint64_t *v = NULL;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		unsigned long long num;
		char tail[8];
		int used = 0;

		if (sscanf(e->d_name, "%llu.%7s%n", &num, tail, &used) != 2 ||
		    strcmp(tail, "wal") || e->d_name[used])
			continue;
		if (k == cap) {
			uint64_t *nv = realloc(v, (cap ? 2 * cap : 16) *
						  sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? 2 * cap : 16;
		}
		v[k++] = num;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof(*v), cmp_num);
	*out = v;
	*n = k;
	return 0;
}

static bool has_log(const struct lsm_file_log *v, size_t n, uint64_t num)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].number == num)
			return true;
	return false;
}

/* Every segment, archived and live, ascending (*SEGS: malloc'ed; *F the
 * listing it came from, for the caller to free).
 *
 * lsm_files_list names the live segments at or above the manifest's log
 * number, then the archive.  A segment the writer has flushed is first
 * dropped from the manifest and only then moved to the archive: in that
 * window it is in neither, and a cursor choosing the segment after the
 * current one would skip it whole (its records never reached replicas).
 * So the live directory is also read as it is, before the archive is:
 * a segment missing from that read was renamed before it ended, hence is
 * in the archive read after it.  Segments found only there are obsolete
 * and complete (their records are in tables). */
static int list_segments(const char *dir, struct lsm_files **f,
			 struct lsm_file_log **segs, size_t *n,
			 struct lsm_err *err)
{
	uint64_t *raw = NULL;
	size_t nraw = 0, a = 0, b = 0, r = 0, k = 0;
	struct lsm_file_log *v;
	int rc = raw_live(dir, &raw, &nraw);

	*f = NULL;
	*segs = NULL;
	*n = 0;
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", dir,
				   strerror(-rc));
	rc = lsm_files_list(dir, f, err);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	v = calloc((*f)->narchive + (*f)->nlogs + nraw + 1, sizeof(*v));
	if (!v) {
		free(raw);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	while (a < (*f)->narchive || b < (*f)->nlogs) {
		const struct lsm_file_log *fa = &(*f)->archive[a];
		const struct lsm_file_log *fb = &(*f)->logs[b];

		if (b == (*f)->nlogs ||
		    (a < (*f)->narchive && fa->number < fb->number))
			v[k++] = (*f)->archive[a++];
		else if (a < (*f)->narchive && fa->number == fb->number)
			a++; /* renamed between two listings: the live one */
		else
			v[k++] = (*f)->logs[b++];
	}
	for (; r < nraw; r++) {
		if (has_log(v, k, raw[r]))
			continue;
		v[k].number = v[k].salt = raw[r];
		v[k].size = 0; /* obsolete, complete: read to its end */
		k++;
	}
	free(raw);
	if (k)
		qsort(v, k, sizeof(*v), cmp_log);
	*segs = v;
	*n = k;
	return 0;
}

struct first {
	uint64_t seq, end;
	bool found;
};

static int first_cb(void *ctx, const struct lsm_log_record *r)
{
	struct first *f = ctx;

	f->seq = r->seq;
	f->end = r->seq + r->count - 1;
	f->found = true;
	return STOP_SCAN;
}

struct locate {
	uint64_t after;     /* the replica's position */
	bool seen_before;   /* a record ending at or before it */
	bool found;
	uint64_t off;       /* of the first record past it */
	uint64_t found_seq;
	uint64_t last_end;  /* last sequence seen */
	bool straddle;
};

static int locate_cb(void *ctx, const struct lsm_log_record *r)
{
	struct locate *l = ctx;
	uint64_t end = r->seq + r->count - 1;

	l->last_end = end;
	if (end <= l->after) {
		l->seen_before = true;
		return 0;
	}
	if (r->seq <= l->after) {
		l->straddle = true;
		return STOP_SCAN;
	}
	l->found = true;
	l->found_seq = r->seq;
	l->off = r->offset;
	return STOP_SCAN;
}

static int scan(const char *dir, const struct lsm_file_log *g, uint64_t from,
		int (*fn)(void *, const struct lsm_log_record *), void *ctx,
		struct lsm_err *err)
{
	int rc = lsm_log_scan(dir, g, from, fn, ctx, NULL, err);

	return rc == STOP_SCAN ? 0 : rc;
}

/* Watches the archive too once it exists (the writer makes it at its
 * first archived segment). */
static void watch(struct cursor *c)
{
	char adir[PATH_MAX];

	if (c->ino < 0)
		return;
	pjoin(adir, c->dir, "archive");
	if (!c->arch_watched &&
	    inotify_add_watch(c->ino, adir, IN_CREATE | IN_MOVED_TO |
			      IN_DELETE | IN_MOVED_FROM) >= 0)
		c->arch_watched = true;
}

int cursor_open(const char *dir, uint64_t seq, bool unsynced,
		struct cursor **out, struct lsm_err *err)
{
	struct cursor *c = calloc(1, sizeof(*c));
	struct lsm_files *f = NULL;
	struct lsm_file_log *segs = NULL;
	struct locate l = { .after = seq };
	size_t n = 0, k;
	int rc;

	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	c->unsynced = unsynced;
	c->seq = seq;
	c->sync_fd = -1;
	c->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (c->ino >= 0 &&
	    inotify_add_watch(c->ino, dir, IN_CREATE | IN_MODIFY | IN_DELETE |
			      IN_MOVED_FROM | IN_MOVED_TO |
			      IN_CLOSE_WRITE) < 0) {
		close(c->ino);
		c->ino = -1; /* no events here: poll */
	}
	watch(c);
	rc = list_segments(dir, &f, &segs, &n, err);
	if (rc < 0)
		goto out;
	/* The last segment whose first record is at or before seq + 1:
	 * records past the position begin there or later. */
	for (k = n; rc == 0 && k-- > 0;) {
		struct first fr = { 0 };

		rc = scan(dir, &segs[k], 0, first_cb, &fr, err);
		if (rc == -ENOENT) { /* moved meanwhile: start over */
			rc = -EAGAIN;
			break;
		}
		if (rc == 0 && fr.found && fr.seq <= seq + 1)
			break;
	}
	if (rc < 0)
		goto out;
	if (k == (size_t)-1)
		k = 0; /* every record (if any) lies past seq + 1 */
	for (; k < n && !l.found && !l.straddle; k++) {
		rc = scan(dir, &segs[k], 0, locate_cb, &l, err);
		if (rc == -ENOENT)
			rc = -EAGAIN;
		if (rc < 0)
			goto out;
		if (l.found) {
			c->cur = segs[k].number;
			c->cur_archived = segs[k].archived;
			c->off = l.off;
		}
	}
	if (l.straddle) {
		rc = lsm_err_set(err, -EXDEV, "a record of the primary spans "
				 "sequence %" PRIu64 ": the replica is not a "
				 "prefix of its history", seq);
	} else if (!l.found && !l.seen_before) {
		/* no records at all: the replica must be where the
		 * manifest is, with nothing in the log after it */
		if (seq < f->last_seq)
			rc = lsm_err_set(err, -ERANGE, "the primary's log no "
					 "longer holds sequence %" PRIu64,
					 seq + 1);
		else if (seq > f->last_seq)
			rc = lsm_err_set(err, -EXDEV, "the replica is at "
					 "%" PRIu64 ", past the primary (%"
					 PRIu64 ")", seq, f->last_seq);
	} else if (l.found && l.found_seq != seq + 1) {
		/* only a record exactly at seq + 1 proves that nothing is
		 * missing: either the oldest record kept lies past the
		 * position, or the log skips over it (never written so by
		 * a primary; a bootstrap is the way out either way) */
		rc = lsm_err_set(err, -ERANGE, "the primary's log %s "
				 "sequence %" PRIu64 ", the replica needs %"
				 PRIu64, l.seen_before ? "goes on at" :
				 "begins at", l.found_seq, seq + 1);
	} else if (!l.found && l.last_end < seq) {
		/* The log ends before the position, but the primary's newest
		 * records may be in tables only (flushed by a recovery, their
		 * segments pruned from the archive): a replica at the
		 * manifest's last sequence is up to date, one before it lacks
		 * records no log holds, one past it is past the primary.
		 * (Taking the log's end alone rebuilt an up-to-date replica
		 * every session, in a loop: found by the hour-long soak.) */
		if (seq > f->last_seq)
			rc = lsm_err_set(err, -EXDEV, "the replica is at %"
					 PRIu64 ", past the primary (its log "
					 "ends at %" PRIu64 ", its tables at %"
					 PRIu64 ")", seq, l.last_end,
					 f->last_seq);
		else if (seq < f->last_seq)
			rc = lsm_err_set(err, -ERANGE, "the primary's log no "
					 "longer holds sequence %" PRIu64, seq + 1);
	}
	if (rc == 0 && !l.found && n > 0) {
		/* Up to date: go on in the newest segment after the last
		 * record at or before the position.  The writer may have
		 * appended since the look above: a record past the position
		 * found now is the next one to deliver (going on at the end
		 * of the segment instead skipped such records, and the
		 * replica silently lacked them). */
		struct lsm_file_log *g = &segs[n - 1];
		struct locate tail = { .after = seq };
		uint64_t end = 0;

		rc = lsm_log_scan(dir, g, 0, locate_cb, &tail, &end, err);
		if (rc == STOP_SCAN)
			rc = 0;
		if (rc == -ENOENT)
			rc = -EAGAIN;
		if (rc == 0 && tail.straddle)
			rc = lsm_err_set(err, -EXDEV, "a record of the primary "
					 "spans sequence %" PRIu64 ": the replica "
					 "is not a prefix of its history", seq);
		else if (rc == 0 && tail.found && tail.found_seq != seq + 1)
			rc = lsm_err_set(err, -ERANGE, "the primary's log goes "
					 "from sequence %" PRIu64 " to %" PRIu64
					 ": records are missing", seq,
					 tail.found_seq);
		c->cur = g->number;
		c->cur_archived = g->archived;
		c->off = end; /* before the record found, if any */
	}
out:
	free(segs);
	lsm_files_free(f);
	if (rc == -EAGAIN)
		lsm_err_set(err, rc, "%s: the log moved while looking for "
			    "sequence %" PRIu64 "; try again", dir, seq + 1);
	if (rc < 0) {
		cursor_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void cursor_free(struct cursor *c)
{
	if (!c)
		return;
	if (c->sync_fd >= 0)
		close(c->sync_fd);
	if (c->ino >= 0)
		close(c->ino);
	free(c->dir);
	free(c);
}

uint64_t cursor_seq(const struct cursor *c)
{
	return c->seq;
}

int cursor_wait_fd(const struct cursor *c)
{
	return c->ino;
}

void cursor_drain(struct cursor *c)
{
	char buf[4096];

	while (c->ino >= 0 && read(c->ino, buf, sizeof(buf)) > 0)
		;
	watch(c);
}

static int skip_cb(void *ctx, const struct lsm_log_record *r)
{
	(void)ctx;
	(void)r;
	return 0;
}

/* Makes the live segment durable up to at least END, a record's end. */
static int make_durable(struct cursor *c, uint64_t end, struct lsm_err *err)
{
	struct lsm_file_log g = { .number = c->cur, .salt = c->cur };
	struct lsm_err e = { 0 };
	char path[PATH_MAX];
	uint64_t upto = end;

	if (c->unsynced || c->cur_archived || end <= c->synced_to)
		return 0;
	if (c->sync_fd < 0 || c->sync_num != c->cur) {
		if (c->sync_fd >= 0)
			close(c->sync_fd);
		seg_path(c, c->cur, false, path, sizeof(path));
		c->sync_fd = open(path, O_RDONLY | O_CLOEXEC);
		c->sync_num = c->cur;
		c->synced_to = 0;
		if (c->sync_fd < 0)
			return errno == ENOENT ? 0 : /* archived: synced */
			       lsm_err_set(err, -errno, "%s: %s", path,
					   strerror(errno));
	}
	/* The sync covers what was stored before it: the records complete
	 * now.  Not the file's size, which a segment written through a
	 * mapping has ahead of its records (engine/doc/wal.md). */
	if (lsm_log_scan(c->dir, &g, end, skip_cb, NULL, &upto, &e) < 0 ||
	    upto < end)
		upto = end;
	if (fdatasync(c->sync_fd) < 0)
		return lsm_err_set(err, -errno, "fdatasync of segment %" PRIu64
				   ": %s", c->cur, strerror(errno));
	c->synced_to = upto;
	return 0;
}

struct deliver {
	struct cursor *c;
	size_t max_bytes, bytes;
	int records;
	int (*fn)(void *ctx, const struct lsm_log_record *r);
	void *ctx;
	int rc;
	struct lsm_err *err;
};

static int deliver_cb(void *ctx, const struct lsm_log_record *r)
{
	struct deliver *d = ctx;
	struct cursor *c = d->c;
	int rc;

	if (d->records && d->bytes + r->len > d->max_bytes)
		return STOP_SCAN;
	if (r->seq <= c->seq) {
		/* never again what was delivered: only a rewritten log
		 * (a restored primary) gets here */
		d->rc = lsm_err_set(d->err, -EXDEV, "the primary's log went "
				    "back from sequence %" PRIu64 " to %"
				    PRIu64, c->seq, r->seq);
		return d->rc;
	}
	if (r->seq != c->seq + 1) {
		/* a primary's log never skips: records would be missing on
		 * the replica without a word (the session ends; the next
		 * one finds the gap at its start and bootstraps) */
		d->rc = lsm_err_set(d->err, -ERANGE, "the primary's log skips "
				    "from sequence %" PRIu64 " to %" PRIu64,
				    c->seq, r->seq);
		return d->rc;
	}
	rc = make_durable(c, r->end, d->err);
	if (rc < 0) {
		d->rc = rc;
		return rc;
	}
	rc = d->fn(d->ctx, r);
	if (rc < 0) {
		d->rc = rc;
		return rc;
	}
	c->seq = r->seq + r->count - 1;
	c->off = r->end;
	d->bytes += r->len;
	d->records++;
	return 0;
}

/* Where the current segment stands: 1 finished (move on), 0 read it
 * again (it may grow, or it just became final: complete, in the archive
 * or obsolete but still here, and records may have landed since the last
 * read), -ERANGE gone unread.  *NEXT: the segment after it. */
static int segment_state(struct cursor *c, struct lsm_file_log *next,
			 bool *have_next, struct lsm_err *err)
{
	struct lsm_files *f = NULL;
	struct lsm_file_log *segs = NULL;
	char path[PATH_MAX];
	size_t n = 0;
	int rc = list_segments(c->dir, &f, &segs, &n, err), state = -ERANGE;
	bool found = false;

	*have_next = false;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (segs[i].number == c->cur) {
			found = true;
			if (segs[i].archived) {
				state = c->cur_archived && c->cur_final;
				c->cur_archived = c->cur_final = true;
			} else if (!has_log(f->logs, f->nlogs, c->cur)) {
				/* obsolete, on its way to the archive:
				 * complete; read it once more to its end */
				state = c->cur_final;
				c->cur_final = true;
			} else if (segs[i].sealed) {
				state = c->off >= segs[i].sealed_size;
			} else {
				state = 0; /* the newest: it grows */
			}
		} else if (segs[i].number > c->cur && !*have_next) {
			*next = segs[i];
			*have_next = true;
		}
	}
	if (rc == 0 && !found && c->cur == 0)
		state = 1; /* no segment yet: take the first one */
	else if (rc == 0 && !found) {
		/* obsolete (below the log number) but not yet archived or
		 * deleted: complete; read it once more to its end */
		seg_path(c, c->cur, c->cur_archived, path, sizeof(path));
		if (access(path, F_OK) == 0) {
			state = c->cur_final;
			c->cur_final = true;
		} else if (!c->cur_archived &&
			   (seg_path(c, c->cur, true, path, sizeof(path)),
			    access(path, F_OK) == 0)) {
			state = 0; /* archived since the listing */
			c->cur_archived = c->cur_final = true;
		}
	}
	free(segs);
	lsm_files_free(f);
	if (rc < 0)
		return rc;
	if (state == -ERANGE)
		return lsm_err_set(err, -ERANGE, "log segment %06" PRIu64
				   " left before it was read (deleted, not "
				   "archived): the replica needs a bootstrap",
				   c->cur);
	return state;
}

/* Is there a live segment newer than the current one?  (A cheap
 * directory read, before the manifest is read again.) */
static bool newer_segment(const struct cursor *c)
{
	uint64_t *v = NULL;
	size_t n = 0;
	bool found;

	if (raw_live(c->dir, &v, &n) < 0)
		return true; /* look at the manifest */
	found = n > 0 && v[n - 1] > c->cur;
	free(v);
	return found;
}

int cursor_next(struct cursor *c, size_t max_bytes,
		int (*fn)(void *ctx, const struct lsm_log_record *r),
		void *ctx, struct lsm_err *err)
{
	struct deliver d = { .c = c, .max_bytes = max_bytes, .fn = fn,
			     .ctx = ctx, .err = err };

	for (int round = 0; round < 64; round++) {
		struct lsm_file_log g = { .number = c->cur, .salt = c->cur,
					  .archived = c->cur_archived };
		struct lsm_file_log next;
		bool have_next;
		int rc = 0, state;

		if (c->cur) {
			rc = lsm_log_scan(c->dir, &g, c->off, deliver_cb, &d,
					  NULL, err);
			if (rc == STOP_SCAN)
				return d.records;
			if (d.rc < 0)
				return d.rc;
			if (rc == -ESTALE)
				return lsm_err_set(err, -EXDEV, "log segment %06"
						   PRIu64 " was cut below offset "
						   "%" PRIu64 " (records the "
						   "primary lost were shipped)",
						   c->cur, c->off);
			if (rc < 0 && rc != -ENOENT)
				return rc;
			if (d.records)
				return d.records;
			if (rc == 0 && !c->cur_archived && !newer_segment(c))
				return 0; /* the newest one: wait for more */
		}
		state = segment_state(c, &next, &have_next, err);
		if (state < 0)
			return state;
		if (state == 0)
			continue; /* moved to the archive: read it there */
		if (!have_next)
			return 0;
		c->cur = next.number;
		c->cur_archived = next.archived;
		c->cur_final = false;
		c->off = 0;
	}
	return 0;
}
