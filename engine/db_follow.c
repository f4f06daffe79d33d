/* db_follow.c - a read-only open that follows a store another process
 * writes (lsm_options.follow).  A catch-up re-reads the manifest when
 * CURRENT or its size changed, opens every table of the new version
 * (tables stay open while any version of ours names them: the writer
 * unlinks them after a compaction), and applies the log records written
 * since the last catch-up, stopping at the last complete record.  When the
 * writer's log number moved (it flushed), the memtable is built anew from
 * the live segments, so memory stays that of the writer's memtables.
 *
 * Races with the writer are resolved by looking again: a manifest, table
 * or segment that vanished between listing and opening makes the attempt
 * -EAGAIN, and the next attempt starts from CURRENT.  Nothing is written
 * to the data directory and the writer's lock is never taken.  The new
 * state is published with one super version install: readers see the old
 * state or the new one, and last_seq never goes back.
 *
 * A replica's bootstrap or rebuild replaces the whole store, and the new
 * one may reuse file numbers (a table NNNNNN.sst of other contents, a
 * log segment of the same name).  The follower notices: another identity
 * or generation, a manifest of the same number that is another file, a
 * table it holds open whose path now names another file, or a log
 * segment it was part-way through that is another file.  It then starts
 * over: open tables are keyed with a new incarnation (so readers of the
 * old state keep the old files while no one gets them for the new), the
 * memtable is rebuilt, last_seq may go back (another history), and the
 * caller is told that everything changed.  Blocks never mix: a follower's
 * tables cache them under an id of their own open
 * (table_cache_set_fresh_ids), not under a file number. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "coding.h"
#include "db_impl.h"
#include "filename.h"

/* Tries at a consistent look (the writer may switch files under it); from
 * the third on, a pause doubling from 4 ms to 256 ms: about 6.6 s in all.
 * (Raised from 16 when a follower of a replica failed to open in CI; the
 * cause turned out to be a gap in that replica's log, which the
 * replicator no longer leaves: replicate/cursor.c.) */
#define FOLLOW_ATTEMPTS 32

/* The memtable being filled and what it has reached. */
struct apply {
	struct lsm_db *db;
	struct memtable *mem;
	uint64_t max_seq;
	uint64_t next_seq; /* the sequence the next batch must start at;
	                    * 0: any (the first after a flush) */
	uint64_t records;
	const char *path;
	struct buf keys;   /* klen (u32le) | key, for follow_key_fn */
};

static int apply_op(void *ctx, uint64_t seq, enum ikey_type t,
		    const uint8_t *key, size_t klen, const uint8_t *val,
		    size_t vlen)
{
	struct apply *a = ctx;

	if (seq > a->max_seq)
		a->max_seq = seq;
	if (a->db->opts.follow_key_fn) {
		uint8_t len[4];

		put_u32le(len, (uint32_t)klen);
		buf_append(&a->keys, len, sizeof(len));
		buf_append(&a->keys, key, klen);
		if (!buf_ok(&a->keys))
			return -ENOMEM;
	}
	return memtable_add(a->mem, seq, t, key, klen, val, vlen);
}

static int apply_record(void *ctx, const uint8_t *rec, size_t len,
			uint64_t off, struct lsm_err *err)
{
	struct apply *a = ctx;
	struct lsm_err e = { 0 };
	uint64_t first = len >= 12 ? get_u64le(rec) : 0;
	uint32_t count = len >= 12 ? get_u32le(rec + 8) : 0;
	int rc;

	/* Batches follow each other without a gap in sequence numbers; a
	 * gap means a segment went missing between our listing and our
	 * reading (the writer flushed and deleted it): look again. */
	if (a->next_seq && first != a->next_seq)
		return lsm_err_set(err, -EAGAIN, "%s: batch at offset %llu "
				   "starts at sequence %llu, not %llu",
				   a->path, (unsigned long long)off,
				   (unsigned long long)first,
				   (unsigned long long)a->next_seq);
	rc = batch_decode(rec, len, apply_op, a, &e);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: record at offset %llu: %s",
				   a->path, (unsigned long long)off, e.msg);
	a->records++;
	a->next_seq = first + count;
	return 0;
}

/* The manifest CURRENT names and its size; -EAGAIN when CURRENT was being
 * replaced or the manifest is already gone. */
static int manifest_id(struct lsm_db *db, uint64_t *number, uint64_t *size,
		       struct file_id *id, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	int fd, rc = vset_read_current(&db->vs, number, err);

	if (rc == -ENOENT)
		return -EAGAIN;
	if (rc < 0)
		return rc;
	filename_path(path, db->dir, FILE_MANIFEST, *number);
	rc = db->io->open(db->io, path, O_RDONLY, 0, &fd);
	if (rc == -ENOENT)
		return -EAGAIN;
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: %s", path, strerror(-rc));
	rc = db->io->fsize(db->io, fd, size);
	if (rc == 0)
		file_id_of_fd(fd, id);
	db->io->close(db->io, fd);
	return rc < 0 ? lsm_err_set(err, rc, "%s: %s", path, strerror(-rc)) : 0;
}

static struct fl_pin *pin_find(struct lsm_db *db, uint64_t key)
{
	for (size_t i = 0; i < db->fl_npinned; i++)
		if (db->fl_pinned[i].key == key)
			return &db->fl_pinned[i];
	return NULL;
}

static int pin_add(struct lsm_db *db, uint64_t key, const struct file_id *id)
{
	if (db->fl_npinned == db->fl_cappinned) {
		size_t cap = db->fl_cappinned ? 2 * db->fl_cappinned : 64;
		struct fl_pin *p = realloc(db->fl_pinned, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		db->fl_pinned = p;
		db->fl_cappinned = cap;
	}
	db->fl_pinned[db->fl_npinned].key = key;
	db->fl_pinned[db->fl_npinned++].id = *id;
	return 0;
}

/* Keys V's tables with INC (a version just read from a manifest). */
static void set_incarnation(struct version *v, uint8_t inc)
{
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++)
			v->files[l][i]->incarnation = inc;
}

static bool seg_held(const struct lsm_db *db, uint64_t num)
{
	for (size_t i = 0; i < db->fl_nsegs; i++)
		if (db->fl_segs[i] == num)
			return true;
	return false;
}

/* Holds open the log segments table F (just pinned) points into: the
 * writer deletes a segment once no version of its own names it, and ours
 * may be older.  -EAGAIN when one is gone already (look again). */
static int hold_segments(struct lsm_db *db, const struct file_meta *f,
			 struct lsm_err *err)
{
	for (size_t i = 0; i < f->vlog.n; i++) {
		uint64_t n = f->vlog.v[i].segment;
		int rc;

		if (seg_held(db, n))
			continue;
		rc = vlog_hold(db->vlog, n);
		if (rc == -ENOENT)
			return -EAGAIN;
		if (rc == 0 && db_u64_push(&db->fl_segs, &db->fl_nsegs,
					   &db->fl_capsegs, n) < 0) {
			vlog_forget(db->vlog, n);
			rc = -ENOMEM;
		}
		if (rc < 0)
			return lsm_err_set(err, rc, "%s: cannot open log "
					   "segment %06llu: %s", db->dir,
					   (unsigned long long)n,
					   strerror(-rc));
	}
	return 0;
}

/* Lets go of the segments no table of ours points into (LIVE: those the
 * live versions name; NULL: all of them, the store was replaced and its
 * numbers mean other files now).  Under mu. */
static void release_segments(struct lsm_db *db, const struct vlog_refs *live)
{
	size_t k = 0;

	for (size_t i = 0; i < db->fl_nsegs; i++) {
		uint64_t n = db->fl_segs[i];

		if (live && vlog_refs_has(live, n))
			db->fl_segs[k++] = n;
		else
			vlog_forget(db->vlog, n);
	}
	db->fl_nsegs = k;
}

/* Opens every table of V (under mu); -EAGAIN when one is gone already
 * (the writer compacted it away after the manifest we read: read it
 * again).  A table held open already whose path names another file now
 * sets *REPLACED (nothing more is pinned then). */
static int pin_tables(struct lsm_db *db, const struct version *v,
		      bool *replaced, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];

	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const struct file_meta *f = v->files[l][i];
			const struct fl_pin *p = pin_find(db, fm_key(f));
			struct file_id id;
			int rc;

			if (p) {
				filename_path(path, db->dir, FILE_TABLE,
					      f->number);
				file_id_of_path(path, &id);
				if (file_id_differs(&p->id, &id)) {
					*replaced = true;
					return 0;
				}
				rc = hold_segments(db, f, err);
				if (rc < 0)
					return rc;
				continue;
			}
			rc = table_cache_pin(db->tables, fm_key(f), &id, err);
			if (rc == -EUCLEAN && strstr(err->msg, "missing"))
				return -EAGAIN;
			if (rc == 0 && pin_add(db, fm_key(f), &id) < 0)
				rc = lsm_err_set(err, -ENOMEM, "out of memory");
			if (rc == 0)
				rc = hold_segments(db, f, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Closes the tables no version of ours names any more (under mu). */
static void unpin_dead(struct lsm_db *db)
{
	struct db_live l;
	size_t k = 0;

	if (db_live_tables(db, &l) < 0)
		return; /* keep them all open: try again next time */
	for (size_t i = 0; i < db->fl_npinned; i++) {
		if (db_is_live(&l, db->fl_pinned[i].key))
			db->fl_pinned[k++] = db->fl_pinned[i];
		else
			table_cache_evict(db->tables, db->fl_pinned[i].key);
	}
	db->fl_npinned = k;
	release_segments(db, &l.segs);
	free(l.nums);
	vlog_refs_free(&l.segs);
}

/* Salt of segment NUMBER in VS's store (see plan_wals in db.c). */
static uint64_t segment_salt(const struct version_set *vs, uint64_t number)
{
	uint64_t first = vs->nwals ? vs->wals[0].number : 0;

	if (!(vs->features.incompat & LSM_FEAT_INCOMPAT_WAL_V2))
		return 0;
	return number >= first ? number : 0;
}

/* Applies the segments at or above A's start into A->mem: the segment
 * *WAL (the file *WID) from *OFF, the newer ones from 0.  Updates *WAL,
 * *WID and *OFF to how far it got.  -EAGAIN when a segment vanished or
 * shrank (look again); *MOVED when segment *WAL is another file now. */
static int apply_segments(struct lsm_db *db, const struct version_set *vs,
			  uint64_t from, struct apply *a, uint64_t *wal,
			  uint64_t *off, struct file_id *wid, bool *moved,
			  struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	struct wal_replay_info info;
	uint64_t *nums = NULL;
	size_t n = 0;
	int rc = db_list_wals(db, from, &nums, &n, err);

	/* the writer's log number names a segment that existed when it was
	 * recorded: if it is gone, the writer moved on (look again); so is
	 * the one we were part-way through */
	if (rc == 0 && (n == 0 || nums[0] != (*wal ? *wal : from)))
		rc = -EAGAIN;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint64_t start = nums[i] == *wal ? *off : 0;
		const struct edit_wal *t = vset_find_wal(vs, nums[i]);

		if (nums[i] < *wal)
			continue; /* applied whole already */
		struct file_id before, after;

		filename_path(path, db->dir, FILE_WAL, nums[i]);
		a->path = path;
		file_id_of_path(path, &before);
		if (nums[i] == *wal && file_id_differs(&before, wid)) {
			*moved = true; /* not the file we were reading */
			break;
		}
		/* the newest may be being appended to: stop at its last
		 * complete record; an older one was synced before the next
		 * began, and a sealed one is complete */
		struct wal_replay_opts wo = {
			.salt = segment_salt(vs, nums[i]), .from = start,
			.tail_ok = i + 1 == n && !(t && t->sealed),
			.successor = batch_follows,
		};

		rc = wal_replay_ex(db->io, path, &wo, apply_record, a, &info,
				   err);
		if (rc == -ENOENT || rc == -ESTALE)
			rc = -EAGAIN;
		file_id_of_path(path, &after);
		if (rc == 0 && file_id_differs(&before, &after))
			rc = lsm_err_set(err, -EAGAIN, "%s: replaced while "
					 "read", path);
		if (rc == 0) {
			*wal = nums[i];
			*off = info.end;
			*wid = after;
		}
	}
	free(nums);
	return rc;
}

/* Tells follow_key_fn what A applied (no lock held); everything when the
 * memtable was rebuilt, since the records the writer flushed between two
 * catch-ups were never seen. */
static void notify_keys(struct lsm_db *db, struct apply *a, bool all)
{
	void (*fn)(void *, const void *, size_t) = db->opts.follow_key_fn;
	const uint8_t *p = a->keys.p, *end = p + a->keys.len;

	if (!fn)
		return;
	if (all) {
		fn(db->opts.follow_ctx, NULL, 0);
		return;
	}
	while (p && end - p >= 4) {
		uint32_t n = get_u32le(p);

		fn(db->opts.follow_ctx, p + 4, n);
		p += 4 + n;
	}
}

static bool identity_changed(const struct version_set *a,
			     const struct version_set *b)
{
	if (a->has_identity != b->has_identity)
		return true;
	return a->has_identity &&
	       (memcmp(a->identity.id, b->identity.id, LSM_STORE_ID_BYTES) ||
		a->identity.generation != b->identity.generation);
}

/* Takes a new incarnation for the tables of a replaced store (under mu):
 * from now on nothing of the old one is looked up. */
static void start_over(struct lsm_db *db)
{
	db->fl_incarnation++;
	db->fl_replaced = true;
	release_segments(db, NULL);
	db->fl_manifest = 0; /* read it, whatever its number */
}

/* The manifest a catch-up looked at. */
struct mf {
	uint64_t number, size;
	struct file_id id;
};

/* Reads the manifest when it changed and opens its tables (sets
 * *LOADED); notices a replaced store on the way (sets *REPLACED). */
static int load_manifest(struct lsm_db *db, struct version_set *nvs,
			 struct mf *m, bool *loaded, bool *replaced,
			 struct lsm_err *err)
{
	bool seen = false;
	int rc = manifest_id(db, &m->number, &m->size, &m->id, err);
	uint64_t number = m->number, size = m->size;
	const struct file_id mid = m->id;

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	if (!db->fl_first && !db->fl_replaced && number == db->fl_manifest &&
	    file_id_differs(&mid, &db->fl_manifest_id))
		start_over(db); /* the same name, another manifest */
	pthread_mutex_unlock(&db->mu);
	if (number == db->fl_manifest && size == db->fl_manifest_size &&
	    !db->fl_replaced)
		return 0;
	rc = vset_load(nvs, err);
	if (rc == -ENOENT || rc == -EUCLEAN || rc == -EBADMSG) {
		/* a manifest replaced or appended to under us: the next
		 * attempt reads the new one (a real damage stays and is
		 * reported after the last attempt) */
		db->fl_last_err = rc;
		return -EAGAIN;
	}
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	if (!db->fl_first && !db->fl_replaced &&
	    identity_changed(&db->vs, nvs))
		start_over(db); /* a promotion, another primary */
	set_incarnation(nvs->current, db->fl_incarnation);
	rc = pin_tables(db, nvs->current, &seen, err);
	if (rc == 0 && seen) {
		/* a table we hold open is another file now */
		start_over(db);
		set_incarnation(nvs->current, db->fl_incarnation);
		rc = pin_tables(db, nvs->current, &seen, err);
	}
	*replaced = db->fl_replaced;
	pthread_mutex_unlock(&db->mu);
	if (rc < 0)
		return rc;
	*loaded = true;
	return 0;
}

/* One attempt; the number of records applied, or -EAGAIN to retry. */
static int catch_up_once(struct lsm_db *db, struct lsm_err *err)
{
	struct version_set nvs;
	bool loaded = false, rebuild = false, replaced = false, first;
	struct apply a = { .db = db, .keys = BUF_INIT };
	uint64_t wal, off;
	struct file_id wid = db->fl_wal_id;
	struct mf m;
	int rc;

	vset_init(&nvs, db->io, db->dir, db->opts.max_levels, true);
	rc = load_manifest(db, &nvs, &m, &loaded, &replaced, err);
	if (rc < 0)
		goto out;
	{
		const struct version_set *vs = loaded ? &nvs : &db->vs;
		bool moved = false;

		rebuild = replaced || vs->log_number != db->fl_log_number;
		a.mem = rebuild ? memtable_new(db->opts.memtable_bytes)
				: db->mem;
		if (!a.mem) {
			rc = lsm_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		if (!rebuild)
			memtable_ref(a.mem);
		wal = rebuild ? 0 : db->fl_wal;
		off = rebuild ? 0 : db->fl_wal_off;
		a.next_seq = rebuild ? 0 : db->fl_next_seq;
		/* Only the follow lock serializes writers of db->mem here;
		 * readers see the new entries once last_seq says so. */
		rc = apply_segments(db, vs, vs->log_number, &a, &wal, &off,
				    &wid, &moved, err);
		if (rc == 0 && moved) {
			/* the segment we were part-way through is another
			 * file: the store was replaced under us */
			pthread_mutex_lock(&db->mu);
			start_over(db);
			pthread_mutex_unlock(&db->mu);
			rc = lsm_err_set(err, -EAGAIN, "%s: log segment %llu "
					 "was replaced", db->dir,
					 (unsigned long long)wal);
		}
	}
	if (rc < 0) {
		memtable_unref(a.mem);
		if (!rebuild && rc == -EAGAIN)
			db->fl_log_number = UINT64_MAX; /* rebuild next */
		goto out;
	}
	if (replaced)
		db_log(db, LSM_LOG_WARN, "follow: %s was replaced (another "
		       "store, generation or copy of it: a replica's bootstrap "
		       "or rebuild, a promotion); showing the new one",
		       db->dir);
	pthread_mutex_lock(&db->mu);
	if (replaced)
		db->vs.last_seq = 0; /* another history: it may go back */
	if (loaded && (rc = vset_adopt(&db->vs, &nvs)) < 0) {
		pthread_mutex_unlock(&db->mu);
		memtable_unref(a.mem);
		rc = lsm_err_set(err, rc, "out of memory");
		goto out;
	}
	if (loaded) {
		db->fl_manifest = m.number;
		db->fl_manifest_size = m.size;
		db->fl_manifest_id = m.id;
	}
	if (rebuild) {
		memtable_unref(db->mem);
		db->mem = a.mem;
		a.mem = NULL;
	}
	memtable_unref(a.mem);
	db->fl_log_number = db->vs.log_number;
	db->fl_wal = wal;
	db->fl_wal_off = off;
	db->fl_wal_id = wid;
	if (a.next_seq)
		db->fl_next_seq = a.next_seq;
	else if (rebuild)
		db->fl_next_seq = 0;
	if (db->vs.last_seq > a.max_seq)
		a.max_seq = db->vs.last_seq;
	if (!replaced && a.max_seq < atomic_load(&db->last_seq))
		a.max_seq = atomic_load(&db->last_seq); /* never backwards */
	db->fl_replaced = false;
	db_log(db, LSM_LOG_DEBUG, "follow: log %llu%s, segment %llu at %llu, "
	       "%llu records, sequence %llu", (unsigned long long)db->vs.log_number,
	       rebuild ? " (memtable rebuilt)" : "", (unsigned long long)wal,
	       (unsigned long long)off, (unsigned long long)a.records,
	       (unsigned long long)a.max_seq);
	rc = db_super_install_seq(db, &a.max_seq);
	if (rc == 0)
		unpin_dead(db);
	first = db->fl_first;
	db->fl_first = false;
	pthread_mutex_unlock(&db->mu);
	if (rc < 0) {
		rc = lsm_err_set(err, rc, "out of memory");
	} else {
		rc = a.records > INT32_MAX ? INT32_MAX : (int)a.records;
		if (!first) /* nobody cached anything before the first */
			notify_keys(db, &a, rebuild);
	}
out:
	buf_free(&a.keys);
	vset_destroy(&nvs);
	return rc;
}

int lsm_catch_up(struct lsm_db *db, struct lsm_err *err)
{
	int rc = -EAGAIN;

	if (!db->opts.follow)
		return lsm_err_set(err, -EINVAL, "%s is not opened to follow "
				   "(read_only and follow)", db->dir);
	pthread_mutex_lock(&db->follow_mu);
	for (int i = 0; i < FOLLOW_ATTEMPTS && rc == -EAGAIN; i++) {
		if (i >= 2) { /* the writer is busy: give it a moment */
			struct timespec ts = { 0, 1000000L << (i < 8 ? i : 8) };

			nanosleep(&ts, NULL);
		}
		if (err)
			memset(err, 0, sizeof(*err));
		rc = catch_up_once(db, err);
	}
	if (rc == -EAGAIN)
		rc = lsm_err_set(err, db->fl_last_err ? db->fl_last_err : -EIO,
				 "%s: could not catch up with the writer after "
				 "%d attempts (%s)", db->dir, FOLLOW_ATTEMPTS,
				 err && err->msg[0] ? err->msg :
				 "files kept changing");
	if (rc >= 0) {
		stat_add(&db->stats.follow_catch_ups, 1);
		stat_add(&db->stats.follow_records, (uint64_t)rc);
		atomic_store(&db->fl_caught_up_us, db_now_us());
	}
	pthread_mutex_unlock(&db->follow_mu);
	return rc;
}

/* Waits until the writer changed something in the directory (inotify:
 * a log append, a new table, CURRENT replaced), or follow_interval_ms
 * passed, or the db closes (the wake eventfd).  Events are drained, and a
 * burst of appends given 1 ms to settle, so that one catch-up takes them
 * all. */
static void follow_wait(struct lsm_db *db)
{
	struct pollfd p[2] = { { .fd = db->fl_wake_fd, .events = POLLIN },
			       { .fd = db->fl_inotify_fd, .events = POLLIN } };
	char buf[4096];

	if (poll(p, db->fl_inotify_fd >= 0 ? 2 : 1,
		 (int)db->opts.follow_interval_ms) > 0 &&
	    (p[1].revents & POLLIN)) {
		struct timespec ts = { 0, 1000000L };

		nanosleep(&ts, NULL);
		while (read(db->fl_inotify_fd, buf, sizeof(buf)) > 0)
			; /* IN_Q_OVERFLOW or not: we look at everything */
	}
}

static void *follow_main(void *arg)
{
	struct lsm_db *db = arg;
	struct lsm_err err;
	int last = 0;

	for (;;) {
		int rc;

		follow_wait(db);
		pthread_mutex_lock(&db->mu);
		if (db->shutting_down) {
			pthread_mutex_unlock(&db->mu);
			break;
		}
		pthread_mutex_unlock(&db->mu);
		rc = lsm_catch_up(db, &err);
		if (rc < 0 && rc != last)
			db_log(db, LSM_LOG_WARN, "follow: %s", err.msg);
		last = rc < 0 ? rc : 0;
	}
	return NULL;
}

void db_follow_stop(struct lsm_db *db)
{
	uint64_t one = 1;

	if (db->fl_wake_fd >= 0 &&
	    write(db->fl_wake_fd, &one, sizeof(one)) < 0)
		db_log(db, LSM_LOG_WARN, "follow: cannot wake: %s",
		       strerror(errno));
}

void db_follow_close(struct lsm_db *db)
{
	if (db->fl_inotify_fd >= 0)
		close(db->fl_inotify_fd);
	if (db->fl_wake_fd >= 0)
		close(db->fl_wake_fd);
	db->fl_inotify_fd = db->fl_wake_fd = -1;
}

int db_follow_open(struct lsm_db *db, struct lsm_err *err)
{
	struct rlimit rl;
	int rc;

	/* Tables stay open as long as a version names them. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096)
		db_log(db, LSM_LOG_WARN, "%s: only %llu open files allowed: a "
		       "follower keeps every table of the store open (raise "
		       "the limit, e.g. ulimit -n)", db->dir,
		       (unsigned long long)rl.rlim_cur);
	db->fl_log_number = UINT64_MAX;
	db->fl_first = true;
	rc = lsm_catch_up(db, err);
	if (rc < 0)
		return rc;
	if (!db->opts.follow_interval_ms)
		return 0;
	db->fl_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (db->fl_wake_fd < 0)
		return lsm_err_set(err, -errno, "cannot make an eventfd: %s",
				   strerror(errno));
	/* Where the directory gives no events (some network filesystems),
	 * the timer alone drives the catch-ups. */
	db->fl_inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (db->fl_inotify_fd >= 0 &&
	    inotify_add_watch(db->fl_inotify_fd, db->dir, IN_MODIFY |
			      IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
		db_log(db, LSM_LOG_INFO, "%s: no inotify (%s): catching up "
		       "every %u ms", db->dir, strerror(errno),
		       db->opts.follow_interval_ms);
		close(db->fl_inotify_fd);
		db->fl_inotify_fd = -1;
	}
	rc = pthread_create(&db->follow_thread, NULL, follow_main, db);
	if (rc)
		return lsm_err_set(err, -rc, "cannot start the follow thread: "
				   "%s", strerror(rc));
	db->follow_started = true;
	return 0;
}
