/* db.c - opening and closing a store: options, the lock file, recovery of
 * the manifest and the write-ahead log, and removal of obsolete files.
 * Writes are in db_write.c, reads in db_read.c and db_iter.c, background
 * flushes and compactions in db_bg.c and compaction.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "db_impl.h"
#include "filename.h"

void lsm_options_init(struct lsm_options *o)
{
	memset(o, 0, sizeof(*o));
	o->create_if_missing = true;
	o->memtable_bytes = 8u << 20;
	o->sync = LSM_SYNC_MANUAL;
	o->sync_interval_ms = 100;
	o->block_bytes = 4096;
	o->bloom_bits_per_key = 10;
	o->compression = LSM_COMPRESS_NONE;
	o->zlib_level = 1;
	o->cache_bytes = 32u << 20;
	o->max_open_tables = 512;
	o->l0_compaction_trigger = 4;
	o->l0_slowdown_trigger = 8;
	o->l0_stop_trigger = 12;
	o->level1_bytes = LSM_LEVEL1_AUTO;
	o->level_multiplier = 10;
	o->max_levels = 7;
	o->table_bytes = 4u << 20;
	o->pending_slowdown_bytes = UINT64_C(64) << 30;
	o->pending_stop_bytes = UINT64_C(256) << 30;
	o->background_compaction = true;
	o->tombstone_percent = 20;
	o->idle_compaction_ms = 5000;
	o->read_sample_bytes = 1u << 20;
	o->map_tables = true;
	o->map_log = true;
	o->reserve_bytes = LSM_RESERVE_AUTO;
	o->replica = false;
	o->wal_archive_bytes = 0;
	o->wal_archive_seconds = 0;
	o->follow_interval_ms = 200;
	o->lock_fd = -1;
}

uint64_t db_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void db_log(struct lsm_db *db, enum lsm_log_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!db->opts.log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	db->opts.log_fn(db->opts.log_ctx, lvl, msg);
}

void db_set_bg_error(struct lsm_db *db, int rc, const struct lsm_err *err)
{
	stat_add(&db->stats.background_errors, 1);
	if (db->bg_error)
		return;
	db->bg_error = rc;
	atomic_store_explicit(&db->gate_failed, true, memory_order_release);
	lsm_err_set(&db->bg_err, rc, "%s; the store is now read-only "
		    "(reopen it to recover)",
		    err && err->code ? err->msg : strerror(-rc));
	db_log(db, LSM_LOG_ERROR, "%s", db->bg_err.msg);
	pthread_cond_broadcast(&db->done_cv);
}

#define LEVEL1_AUTO_MAX (UINT64_C(64) << 20) /* the L1 target before auto */

static int check_options(const struct lsm_options *o, struct lsm_err *err)
{
	if (o->memtable_bytes < 4096 || o->memtable_bytes > (1ull << 32))
		return lsm_err_set(err, -EINVAL, "memtable size %zu out of "
				   "range [4 KiB, 4 GiB]", o->memtable_bytes);
	if (o->block_bytes < 256 || o->block_bytes > (16u << 20))
		return lsm_err_set(err, -EINVAL, "block size %zu out of range "
				   "[256 B, 16 MiB]", o->block_bytes);
	if (o->bloom_bits_per_key > 64)
		return lsm_err_set(err, -EINVAL, "bloom bits per key %u > 64",
				   o->bloom_bits_per_key);
	if (o->compression != LSM_COMPRESS_NONE &&
	    o->compression != LSM_COMPRESS_ZLIB)
		return lsm_err_set(err, -EINVAL, "unknown compression %d",
				   (int)o->compression);
	if (o->zlib_level < 0 || o->zlib_level > 9)
		return lsm_err_set(err, -EINVAL, "zlib level %d not in 0..9",
				   o->zlib_level);
	if (o->sync > LSM_SYNC_INTERVAL)
		return lsm_err_set(err, -EINVAL, "unknown sync policy %d",
				   (int)o->sync);
	if (o->max_levels < 2 || o->max_levels > LSM_MAX_LEVELS)
		return lsm_err_set(err, -EINVAL, "max levels %u not in 2..%d",
				   o->max_levels, LSM_MAX_LEVELS);
	if (o->level_multiplier < 2 || o->l0_compaction_trigger < 1 ||
	    o->l0_slowdown_trigger < o->l0_compaction_trigger ||
	    o->l0_stop_trigger < o->l0_slowdown_trigger)
		return lsm_err_set(err, -EINVAL, "compaction triggers must "
				   "satisfy 1 <= compaction <= slowdown <= stop"
				   " and multiplier >= 2");
	if (o->tombstone_percent > 100)
		return lsm_err_set(err, -EINVAL, "tombstone percent %u not in "
				   "0..100", o->tombstone_percent);
	if (o->table_prefix_bytes > 64)
		return lsm_err_set(err, -EINVAL, "table prefix of %u bytes not "
				   "in 0..64", o->table_prefix_bytes);
	if (o->table_bytes < 4096 ||
	    (o->level1_bytes != LSM_LEVEL1_AUTO &&
	     o->level1_bytes < o->table_bytes))
		return lsm_err_set(err, -EINVAL, "table size must be >= 4 KiB"
				   " and <= the L1 target");
	return 0;
}

/* Writes our pid into the lock file FD holds. */
static int write_pid(struct lsm_db *db, int fd, const char *path,
		     struct lsm_err *err)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	int rc = db->io->ftruncate(db->io, fd, 0);

	if (rc == 0)
		rc = lsm_io_write_full(db->io, fd, pid, (size_t)n, 0);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot write pid: %s", path,
				   strerror(-rc));
	return 0;
}

/* options.lock_fd: the caller holds DIR/LOCK through that descriptor; a
 * duplicate shares its open file description and so its flock (a lock
 * call through it only confirms the hold, while a lock through a
 * description of its own must fail).  Both must name DIR/LOCK. */
static int inherit_lock(struct lsm_db *db, const char *path,
			struct lsm_err *err)
{
	struct stat a, b;
	int fd, rc;

	if (fstat(db->opts.lock_fd, &a) < 0 || stat(path, &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return lsm_err_set(err, -EINVAL, "%s: options.lock_fd is not "
				   "a descriptor of this file", path);
	rc = db->io->open(db->io, path, O_RDONLY, 0, &fd);
	if (rc == 0) {
		rc = db->io->lock(db->io, fd);
		db->io->close(db->io, fd); /* also drops a lock it got */
		if (rc == 0)
			return lsm_err_set(err, -EINVAL, "%s: options.lock_fd "
					   "holds no lock", path);
	}
	fd = fcntl(db->opts.lock_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return lsm_err_set(err, -errno, "%s: cannot take the lock over:"
				   " %s", path, strerror(errno));
	rc = db->io->lock(db->io, fd);
	if (rc < 0) {
		close(fd);
		return lsm_err_set(err, rc == -EWOULDBLOCK ? -EINVAL : rc,
				   "%s: options.lock_fd holds no lock (%s)",
				   path, strerror(-rc));
	}
	db->lock_fd = fd;
	return write_pid(db, fd, path, err);
}

/* Takes DIR/LOCK and writes our pid into it.  A read-only open of a store
 * in use goes on without the lock (it sees a possibly stale state). */
static int take_lock(struct lsm_db *db, struct lsm_err *err)
{
	char path[LSM_PATH_MAX], owner[32] = "";
	int fd, rc;
	ssize_t got;

	if (db->opts.follow && db->read_only)
		return 0; /* a follower never keeps a writer from starting */
	rc = filename_path(path, db->dir, FILE_LOCK, 0);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: path too long", db->dir);
	if (db->opts.lock_fd >= 0 && !db->read_only)
		return inherit_lock(db, path, err);
	rc = db->io->open(db->io, path, db->read_only ? O_RDONLY : O_RDWR | O_CREAT,
			  0644, &fd);
	if (rc == -ENOENT && db->read_only)
		return 0;
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot open lock file: %s",
				   path, strerror(-rc));
	rc = db->io->lock(db->io, fd);
	if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
		got = db->io->pread(db->io, fd, owner, sizeof(owner) - 1, 0);
		owner[got > 0 ? got : 0] = '\0';
		owner[strcspn(owner, "\n")] = '\0';
		db->io->close(db->io, fd);
		if (db->read_only) {
			db_log(db, LSM_LOG_WARN, "%s is in use by process %s; "
			       "reading it without the lock", db->dir,
			       *owner ? owner : "?");
			return 0;
		}
		return lsm_err_set(err, -EBUSY, "%s is in use by process %s "
				   "(it holds %s); stop that process or use "
				   "another data directory", db->dir,
				   *owner ? owner : "(unknown pid)", path);
	}
	if (rc < 0) {
		db->io->close(db->io, fd);
		return lsm_err_set(err, rc, "%s: cannot lock: %s", path,
				   strerror(-rc));
	}
	db->lock_fd = fd;
	if (db->read_only)
		return 0;
	return write_pid(db, fd, path, err);
}

/* Classifies DIR: 1 when it holds a store (CURRENT), 0 when it is empty or
 * holds only leftovers of an interrupted creation (MANIFEST-000001, a
 * temporary file; lost+found is no foreign file: a filesystem of its own
 * mounted there has it), -ENOTEMPTY (with a message) when it holds foreign
 * files, -EUCLEAN when CURRENT is gone but tables, log segments or a later
 * manifest say a store was here (formatting it anew would delete them). */
static int dir_state(struct lsm_db *db, struct lsm_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc, state = 0;
	uint64_t num;

	const char *store_file = NULL;

	rc = db->io->list_dir(db->io, db->dir, &names, &n);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", db->dir,
				   strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		enum file_kind k = filename_parse(names[i], &num);

		if (!strcmp(names[i], "lost+found"))
			continue; /* the root of a fresh ext2/3/4 filesystem */
		if (k == FILE_CURRENT) {
			state = 1;
			break;
		}
		if (!store_file && (k == FILE_TABLE || k == FILE_WAL ||
				    (k == FILE_MANIFEST && num != 1)))
			store_file = names[i];
		if (k == FILE_OTHER && state == 0)
			state = lsm_err_set(err, -ENOTEMPTY, "%s is not an lsmfs"
					    " data directory (it holds '%s' but "
					    "no CURRENT file); choose an empty "
					    "or lsmfs directory", db->dir,
					    names[i]);
	}
	if (state == 0 && store_file)
		state = lsm_err_set(err, -EUCLEAN, "%s: CURRENT is missing, but "
				    "the directory holds a store ('%s'); restore"
				    " CURRENT (one line naming the newest "
				    "MANIFEST-NNNNNN), see lsmfs-ctl check",
				    db->dir, store_file);
	lsm_io_free_names(names, n);
	return state;
}

/* Creates DIR when allowed, and refuses a foreign directory before
 * anything (the lock file included) is written into it. */
static int prepare_dir(struct lsm_db *db, struct lsm_err *err)
{
	int rc = 0, state;

	if (db->opts.create_if_missing && !db->read_only)
		rc = db->io->mkdir(db->io, db->dir, 0755);
	if (rc < 0 && rc != -EEXIST)
		return lsm_err_set(err, rc, "%s: cannot create data directory:"
				   " %s", db->dir, strerror(-rc));
	state = dir_state(db, err);
	if (state == -ENOENT)
		return lsm_err_set(err, -ENOENT, "%s: no such data directory"
				   "%s", db->dir, db->read_only ? "" :
				   " (allow creating it)");
	return state < 0 ? state : 0;
}

/* ---- WAL recovery ---- */

struct replay {
	struct lsm_db *db;
	struct memtable *mem;
	struct version_edit *edit;
	uint64_t max_seq;
	uint64_t records;       /* log records replayed */
	const char *path;
};

static int replay_op(void *ctx, uint64_t seq, enum ikey_type t,
		     const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t vlen)
{
	struct replay *r = ctx;

	if (seq > r->max_seq)
		r->max_seq = seq;
	return memtable_add(r->mem, seq, t, key, klen, val, vlen);
}

static int replay_record(void *ctx, const uint8_t *rec, size_t len,
			 uint64_t off, struct lsm_err *err)
{
	struct replay *r = ctx;
	struct lsm_db *db = r->db;
	uint64_t number;
	int rc;
	struct lsm_err e = { 0 };

	r->records++;
	rc = batch_decode(rec, len, replay_op, r, &e);
	if (rc == -ENOMEM)
		return lsm_err_set(err, rc, "%s: out of memory replaying the "
				   "log", r->path);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: bad batch at offset %llu: %s",
				   r->path, (unsigned long long)off, e.msg);
	if (db->read_only || memtable_data_bytes(r->mem) < db->opts.memtable_bytes)
		return 0;
	rc = db_write_l0(db, r->mem, r->edit, &number, err);
	if (rc < 0)
		return rc;
	memtable_unref(r->mem);
	r->mem = memtable_new(db->opts.memtable_bytes);
	return r->mem ? 0 : lsm_err_set(err, -ENOMEM, "out of memory");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int db_list_wals(struct lsm_db *db, uint64_t from, uint64_t **out,
		 size_t *n, struct lsm_err *err)
{
	char **names = NULL;
	size_t count = 0, k = 0;
	uint64_t num, *nums;
	int rc = db->io->list_dir(db->io, db->dir, &names, &count);

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", db->dir,
				   strerror(-rc));
	nums = calloc(count + 1, sizeof(*nums));
	if (!nums) {
		lsm_io_free_names(names, count);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++)
		if (filename_parse(names[i], &num) == FILE_WAL && num >= from)
			nums[k++] = num;
	lsm_io_free_names(names, count);
	if (k)
		qsort(nums, k, sizeof(*nums), cmp_u64);
	*out = nums;
	*n = k;
	return 0;
}

static int wal_file_size(struct lsm_db *db, uint64_t number, uint64_t *size)
{
	char path[LSM_PATH_MAX];

	filename_path(path, db->dir, FILE_WAL, number);
	return lsm_io_path_size(db->io, path, size);
}

/* One segment to replay: its salt (0 for a segment written before the
 * store tracked its log) and whether a torn tail is allowed. */
struct wal_plan {
	uint64_t number, salt;
	bool tail_ok;
};

/* Point-in-time recovery (read-only opens only, see lsm.h): the log is
 * replayed up to its first damage, and nothing after it is seen. */
static bool wal_pit(const struct lsm_db *db)
{
	return db->read_only &&
	       db->opts.wal_recovery == LSM_WAL_POINT_IN_TIME;
}

static void pit_log(struct lsm_db *db, uint64_t number, const char *what,
		    bool after)
{
	db_log(db, LSM_LOG_WARN, "%s/%06llu.wal %s: point-in-time recovery "
	       "stops %s it; later segments are not read", db->dir,
	       (unsigned long long)number, what, after ? "after" : "before");
}

/* Checks the segments on disk (NUMS, ascending) against those the
 * manifest tracks and fills PLAN (room for N + tracked entries) with what
 * to replay, in order:
 *  - a tracked segment must exist, and a sealed one have exactly its
 *    sealed size (else -EUCLEAN: acknowledged writes would be lost);
 *  - an untracked segment older than every tracked one is a legacy
 *    segment, replayed unsalted;
 *  - an untracked segment newer than a tracked one was created but never
 *    recorded (a crash in between): it must be empty and is skipped.
 * Only the newest segment, if unsealed, may have a torn tail. */
static int plan_wals(struct lsm_db *db, const uint64_t *nums, size_t n,
		     struct wal_plan *plan, size_t *np, struct lsm_err *err)
{
	const struct version_set *vs = &db->vs;
	uint64_t first = vs->nwals ? vs->wals[0].number : UINT64_MAX;
	size_t i = 0, t = 0, k = 0;
	bool pit = wal_pit(db);
	char hint[256];

	while (i < n || t < vs->nwals) {
		const struct edit_wal *w = t < vs->nwals ? &vs->wals[t] : NULL;
		uint64_t size = 0;
		int rc;

		if (w && (i == n || w->number < nums[i])) {
			if (pit) {
				pit_log(db, w->number, "is missing", false);
				break;
			}
			return lsm_err_set(err, -EUCLEAN, "%s: log segment "
					   "%06llu.wal is missing (the manifest"
					   " records it; writes in it would be "
					   "lost)%s; restore it, or see "
					   "lsmfs-ctl check", db->dir,
					   (unsigned long long)w->number,
					   vset_torn_hint(vs, hint,
							  sizeof(hint)));
		}
		if (w && w->number == nums[i]) {
			if (w->sealed) {
				rc = wal_file_size(db, w->number, &size);
				if (pit && (rc < 0 || size != w->size)) {
					pit_log(db, w->number, "is not the size"
						" it was sealed at", true);
					plan[k++] = (struct wal_plan){
						.number = w->number,
						.salt = w->number };
					break;
				}
				if (rc < 0 || size != w->size)
					return lsm_err_set(err, -EUCLEAN,
						"%s: log segment %06llu.wal has "
						"%llu bytes, but it was sealed at"
						" %llu (truncated or damaged); "
						"see lsmfs-ctl check", db->dir,
						(unsigned long long)w->number,
						(unsigned long long)size,
						(unsigned long long)w->size);
			}
			plan[k++] = (struct wal_plan){ .number = w->number,
						       .salt = w->number,
						       .tail_ok = !w->sealed };
			i++, t++;
			continue;
		}
		/* nums[i] is not tracked */
		if (nums[i] < first) {
			plan[k++] = (struct wal_plan){ .number = nums[i],
						       .tail_ok = true };
		} else {
			rc = wal_file_size(db, nums[i], &size);
			if (pit && rc == 0 && size != 0) {
				pit_log(db, nums[i], "is not in the manifest",
					false);
				break;
			}
			if (rc == 0 && size != 0)
				return lsm_err_set(err, -EUCLEAN, "%s: log "
					"segment %06llu.wal (%llu bytes) is "
					"not in the manifest (MANIFEST-%06llu)"
					"%s; see lsmfs-ctl check", db->dir,
					(unsigned long long)nums[i],
					(unsigned long long)size,
					(unsigned long long)
						vs->manifest_number,
					vset_torn_hint(vs, hint,
						       sizeof(hint)));
		}
		i++;
	}
	/* every segment but the newest was synced before the next began */
	for (size_t j = 0; j + 1 < k; j++)
		plan[j].tail_ok = false;
	*np = k;
	return 0;
}

/* Cuts a torn tail off the newest segment before a newer one exists, so
 * that a crash after that cannot leave the torn record in the middle. */
static int cut_torn_tail(struct lsm_db *db, const char *path, uint64_t end,
			 struct lsm_err *err)
{
	int fd, rc;

	rc = db->io->open(db->io, path, O_WRONLY, 0, &fd);
	if (rc == 0) {
		rc = db->io->ftruncate(db->io, fd, end);
		if (rc == 0)
			rc = db->io->fsync(db->io, fd);
		db->io->close(db->io, fd);
	}
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot cut the torn tail at "
				   "offset %llu: %s", path,
				   (unsigned long long)end, strerror(-rc));
	return 0;
}

/* Replays the live WAL segments into memtables.  A writable db writes them
 * out as L0 tables (into EDIT); a read-only one keeps the last memtable. */
static int recover_wals(struct lsm_db *db, struct version_edit *edit,
			struct lsm_err *err)
{
	struct replay r = { .db = db, .edit = edit };
	char path[LSM_PATH_MAX];
	struct wal_replay_info info;
	struct wal_plan *plan = NULL;
	struct lsm_err e = { 0 };
	uint64_t *nums = NULL, number;
	size_t n = 0, np = 0;
	int rc;

	r.mem = memtable_new(db->opts.memtable_bytes);
	if (!r.mem)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	rc = db_list_wals(db, db->vs.log_number, &nums, &n, err);
	if (rc == 0 && !(plan = calloc(n + db->vs.nwals + 1, sizeof(*plan))))
		rc = lsm_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = plan_wals(db, nums, n, plan, &np, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (nums[i] >= db->vs.next_file)
			db->vs.next_file = nums[i] + 1;
	for (size_t i = 0; rc == 0 && i < np; i++) {
		filename_path(path, db->dir, FILE_WAL, plan[i].number);
		r.path = path;
		struct wal_replay_opts wo = { .salt = plan[i].salt,
					      .tail_ok = plan[i].tail_ok,
					      .successor = batch_follows };

		rc = wal_replay_ex(db->io, path, &wo, replay_record, &r, &info,
				   &e);
		if (wal_pit(db) && (rc == -EBADMSG || rc == -EUCLEAN)) {
			db_log(db, LSM_LOG_WARN, "%s: point-in-time recovery "
			       "stops at offset %llu, the first damage (%s); "
			       "the %llu bytes after it and later segments "
			       "are not read", path,
			       (unsigned long long)info.end, e.msg,
			       (unsigned long long)(info.size - info.end));
			rc = 0;
			break;
		}
		if (rc < 0 && err)
			*err = e;
		if (rc == 0 && info.torn) {
			db_log(db, LSM_LOG_WARN, "%s: ignored a torn tail of "
			       "%llu bytes at offset %llu (a write that was "
			       "never acknowledged)", path,
			       (unsigned long long)(info.size - info.end),
			       (unsigned long long)info.end);
			if (!db->read_only)
				rc = cut_torn_tail(db, path, info.end, err);
		} else if (rc == 0 && info.zeros && !db->read_only) {
			/* the unused part of a segment written through a
			 * mapping when the process stopped */
			db_log(db, LSM_LOG_DEBUG, "%s: cut %llu zero bytes "
			       "after its records at offset %llu", path,
			       (unsigned long long)info.zeros,
			       (unsigned long long)info.end);
			rc = cut_torn_tail(db, path, info.end, err);
		}
	}
	free(plan);
	free(nums);
	if (rc == 0 && r.records)
		db_log(db, LSM_LOG_INFO, "recovery: replayed %llu log records "
		       "from %zu segment%s, up to sequence %llu",
		       (unsigned long long)r.records, np, np == 1 ? "" : "s",
		       (unsigned long long)r.max_seq);
	if (rc == 0 && r.max_seq > db->vs.last_seq)
		db->vs.last_seq = r.max_seq;
	if (rc == 0 && !db->read_only)
		rc = db_write_l0(db, r.mem, edit, &number, err);
	if (rc < 0 || !db->read_only) {
		memtable_unref(r.mem);
		return rc;
	}
	db->mem = r.mem;
	return 0;
}

static int open_new_wal(struct lsm_db *db, struct lsm_err *err)
{
	char path[LSM_PATH_MAX];
	int rc;

	db->wal_number = vset_new_file_number(&db->vs);
	filename_path(path, db->dir, FILE_WAL, db->wal_number);
	rc = wal_create_mapped(db->io, path, db->wal_number,
			       db->opts.map_log, &db->wal, err);
	if (rc == 0) {
		db_wal_preallocate(db);
		rc = db->io->sync_dir(db->io, db->dir);
	}
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot create log: %s", path,
				   err && err->code ? err->msg : strerror(-rc));
	return 0;
}

/* A writable open marks a store opened as a replica, and promotes a
 * replica opened otherwise: a new generation begins at the next sequence
 * number, so copies that went on in the old one are told apart. */
static void replica_role(struct lsm_db *db, struct version_edit *e)
{
	struct lsm_identity id = db->vs.identity;

	if (!db->vs.has_identity || db->opts.replica == id.replica)
		return;
	if (db->opts.replica) {
		id.replica = true;
	} else {
		identity_push(&id, id.generation + 1, db->vs.last_seq + 1);
		id.replica = false;
		db_log(db, LSM_LOG_WARN, "%s: replica promoted to a primary: "
		       "generation %llu begins at sequence %llu", db->dir,
		       (unsigned long long)id.generation,
		       (unsigned long long)db->vs.last_seq + 1);
	}
	e->has_identity = true;
	e->identity = id;
}

/* A writable open of a store that is not a replica begins an epoch at the
 * next sequence number (lsm.h, "Epochs"), recorded with the new log. */
static int epoch_role(struct lsm_db *db, struct version_edit *e,
		      struct lsm_err *err)
{
	int rc;

	if (db->opts.replica)
		return 0;
	e->nepochs = db->vs.nepochs;
	memcpy(e->epochs, db->vs.epochs, sizeof(e->epochs));
	rc = epoch_begin(e->epochs, &e->nepochs, db->vs.last_seq + 1);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: no random epoch tag: %s",
				   db->dir, strerror(-rc));
	e->has_epochs = true;
	return 0;
}

/* Recovery of a writable store: replay the logs into L0 tables, start a
 * new log, and record both in the manifest. */
static int recover(struct lsm_db *db, bool fresh, struct lsm_err *err)
{
	struct version_edit edit;
	int rc;

	/* Nothing is written before the reserve and the leftovers of the
	 * last run are gone, so that a full disk can be reopened. */
	if (!db->read_only)
		db_reserve_drop(db);
	rc = fresh ? vset_create(&db->vs, err) : vset_load(&db->vs, err);
	if (rc == 0 && !fresh)
		rc = vset_verify_tables(&db->vs, err);
	if (rc == 0 && !fresh && !db->read_only) {
		pthread_mutex_lock(&db->mu);
		db_delete_obsolete(db);
		pthread_mutex_unlock(&db->mu);
		rc = vset_rewrite(&db->vs, err);
	}
	if (rc < 0)
		return rc;
	version_edit_init(&edit);
	rc = recover_wals(db, &edit, err);
	if (rc == 0 && !db->read_only) {
		replica_role(db, &edit);
		rc = epoch_role(db, &edit, err);
	}
	if (rc == 0 && !db->read_only) {
		rc = open_new_wal(db, err);
		if (rc == 0) {
			edit.has_log_number = true;
			edit.log_number = db->wal_number;
			rc = version_edit_add_wal(&edit, db->wal_number);
			if (rc < 0)
				lsm_err_set(err, rc, "out of memory");
			else
				rc = db_log_and_apply(db, &edit, err);
		}
	}
	/* The replayed tables are in the manifest now (or garbage): no
	 * longer outputs in flight, so they can be deleted once compacted
	 * away (they stayed until the next open, a leftover after a clean
	 * close). */
	for (size_t i = 0; i < edit.nadded; i++)
		db_pending_remove(db, edit.added[i].f->number);
	version_edit_free(&edit);
	if (rc < 0)
		return rc;
	atomic_store(&db->last_seq, db->vs.last_seq);
	db_write_gates_refresh(db);
	if (!db->mem)
		db->mem = memtable_new(db->opts.memtable_bytes);
	return db->mem ? 0 : lsm_err_set(err, -ENOMEM, "out of memory");
}

static struct lsm_db *db_alloc(const char *dir, const struct lsm_options *o)
{
	struct lsm_db *db = calloc(1, sizeof(*db));

	if (!db)
		return NULL;
	db->dir = strdup(dir);
	if (!db->dir) {
		free(db);
		return NULL;
	}
	if (o)
		db->opts = *o;
	else
		lsm_options_init(&db->opts);
	if (db->opts.level1_bytes == LSM_LEVEL1_AUTO) {
		/* L1 as large as a full L0, so that an L0 compaction rewrites
		 * about as much of L1 as it brings (a larger L1 makes every
		 * L0 compaction rewrite all of it), at most LEVEL1_AUTO_MAX */
		uint64_t l1 = (uint64_t)db->opts.l0_compaction_trigger *
			      db->opts.memtable_bytes;

		if (l1 > LEVEL1_AUTO_MAX)
			l1 = LEVEL1_AUTO_MAX;
		db->opts.level1_bytes = l1 > db->opts.table_bytes
						? l1 : db->opts.table_bytes;
	}
	db->io = db->opts.io ? db->opts.io : lsm_io_posix();
	db->read_only = db->opts.read_only;
	/* only a db that compacts in the background acts on read charges */
	db->reads_charge = db->opts.read_sample_bytes &&
			   db->opts.background_compaction && !db->read_only &&
			   !db->opts.follow;
	db->lock_fd = -1;
	db->fl_wake_fd = db->fl_inotify_fd = -1;
	pthread_mutex_init(&db->follow_mu, NULL);
	pthread_mutex_init(&db->wq_mu, NULL);
	pthread_mutex_init(&db->mu, NULL);
	pthread_mutex_init(&db->sv_mu, NULL);
	pthread_cond_init(&db->bg_cv, NULL);
	pthread_cond_init(&db->done_cv, NULL);
	db->snapshots.prev = db->snapshots.next = &db->snapshots;
	db->open_time_us = db_now_us();
	vset_init(&db->vs, db->io, db->dir, db->opts.max_levels,
		  db->read_only);
	db->vs.want_value_log = db->opts.value_log_min_bytes > 0 &&
				!db->read_only && !db->opts.follow;
	return db;
}

static void db_release(struct lsm_db *db)
{
	if (db->sv)
		db_super_put(db, db->sv);
	memtable_unref(db->mem);
	memtable_unref(db->imm);
	wal_close(db->wal, false, NULL);
	vset_destroy(&db->vs);
	table_cache_free(db->tables);
	vlog_free(db->vlog);
	vlog_refs_free(&db->vlog_collect);
	cache_free(db->block_cache);
	if (db->lock_fd >= 0)
		db->io->close(db->io, db->lock_fd);
	free(db->pending.numbers);
	free(db->fl_pinned);
	free(db->fl_segs);
	db_follow_close(db);
	pthread_mutex_destroy(&db->follow_mu);
	pthread_mutex_destroy(&db->wq_mu);
	pthread_mutex_destroy(&db->mu);
	pthread_mutex_destroy(&db->sv_mu);
	pthread_cond_destroy(&db->bg_cv);
	pthread_cond_destroy(&db->done_cv);
	free(db->dir);
	free(db);
}

/* A follower starts from nothing; its first catch-up reads the store (and
 * retries where the writer changes files under it). */
static int open_follower(struct lsm_db *db, struct lsm_err *err)
{
	int rc;

	if (!db->read_only)
		return lsm_err_set(err, -EINVAL, "%s: following a store needs a "
				   "read-only open", db->dir);
	db->mem = memtable_new(db->opts.memtable_bytes);
	if (!db->mem)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	rc = vset_load(&db->vs, err); /* a first version to start from */
	for (int i = 0; i < 8 && (rc == -ENOENT || rc == -EUCLEAN); i++)
		rc = vset_load(&db->vs, err); /* CURRENT was being switched */
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	rc = db_super_install(db);
	pthread_mutex_unlock(&db->mu);
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	return db_follow_open(db, err);
}

static int open_locked(struct lsm_db *db, struct lsm_err *err)
{
	int rc, state;

	db->block_cache = cache_new(db->opts.cache_bytes);
	/* a follower keeps every table of its versions open (db_follow.c) */
	db->tables = table_cache_new(db->io, db->dir, db->opts.follow ?
				     UINT_MAX : db->opts.max_open_tables,
				     db->block_cache, &db->stats);
	db->vlog = vlog_new(db->io, db->dir);
	if (!db->block_cache || !db->tables || !db->vlog)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	table_cache_set_map(db->tables, db->opts.map_tables ||
			    db->opts.mmap_reads, db->opts.mmap_reads);
	if (db->opts.follow)
		table_cache_set_fresh_ids(db->tables);
	state = dir_state(db, err);
	if (state < 0)
		return state;
	if (state == 0 && (db->read_only || !db->opts.create_if_missing))
		return lsm_err_set(err, -ENOENT, "%s is not an lsmfs store (no"
				   " CURRENT file)%s", db->dir, db->read_only ?
				   "" : "; allow creating it");
	if (state == 1 && db->opts.error_if_exists)
		return lsm_err_set(err, -EEXIST, "%s: store already exists",
				   db->dir);
	if (db->opts.follow)
		return open_follower(db, err);
	rc = recover(db, state == 0, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&db->mu);
	rc = db_super_install(db);
	if (rc == 0 && !db->read_only)
		db_delete_obsolete(db);
	pthread_mutex_unlock(&db->mu);
	if (rc == 0 && !db->read_only && db_archive_on(db))
		db_archive_trim(db, false); /* counts it, applies new bounds */
	if (rc < 0)
		return lsm_err_set(err, rc, "out of memory");
	if (db->read_only)
		return 0;
	db_reserve_open(db);
	return db_bg_start(db, err);
}

int lsm_open(const char *dir, const struct lsm_options *opts,
	     struct lsm_db **out, struct lsm_err *err)
{
	struct lsm_db *db;
	int rc;

	if (!dir || !*dir || !out)
		return lsm_err_set(err, -EINVAL, "no data directory given");
	if (opts && (rc = check_options(opts, err)) < 0)
		return rc;
	db = db_alloc(dir, opts);
	if (!db)
		return lsm_err_set(err, -ENOMEM, "out of memory");
	rc = prepare_dir(db, err);
	if (rc == 0)
		rc = take_lock(db, err);
	if (rc == 0)
		rc = open_locked(db, err);
	if (rc < 0) {
		db_bg_stop(db);
		db_release(db);
		return rc;
	}
	db_log(db, LSM_LOG_INFO, "opened %s%s at sequence %llu", dir,
	       db->read_only ? " read-only" : "",
	       (unsigned long long)atomic_load(&db->last_seq));
	*out = db;
	return 0;
}

static int seal_on_close(struct lsm_db *db, uint64_t size,
			 struct lsm_err *err)
{
	struct version_edit e;
	int rc;

	if (!vset_find_wal(&db->vs, db->wal_number))
		return 0; /* legacy segment of a store opened read-only */
	version_edit_init(&e);
	rc = version_edit_seal_wal(&e, db->wal_number, size);
	pthread_mutex_lock(&db->mu);
	if (rc < 0)
		rc = lsm_err_set(err, rc, "out of memory");
	else
		rc = db_log_and_apply(db, &e, err);
	pthread_mutex_unlock(&db->mu);
	version_edit_free(&e);
	return rc;
}

int lsm_close(struct lsm_db *db, struct lsm_err *err)
{
	int rc = 0;

	if (!db)
		return 0;
	db_bg_stop(db);
	if (db->wal && !db->bg_error) {
		uint64_t size = wal_size(db->wal);

		rc = wal_close(db->wal, true, err);
		db->wal = NULL;
		/* After a clean close the log's length is known: seal it, so
		 * that a later truncation is caught at open. */
		if (rc == 0)
			rc = seal_on_close(db, size, err);
	}
	if (!db->read_only && !db->bg_error) {
		pthread_mutex_lock(&db->mu);
		db_delete_obsolete(db);
		pthread_mutex_unlock(&db->mu);
	}
	db_release(db);
	return rc;
}

int db_log_and_apply(struct lsm_db *db, struct version_edit *e,
		     struct lsm_err *err)
{
	/* New tables' directory entries must be durable before the manifest
	 * names them. */
	int rc = e->nadded ? db->io->sync_dir(db->io, db->dir) : 0;

	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot sync directory: %s",
				   db->dir, strerror(-rc));
	rc = vset_log_and_apply(&db->vs, e, err);
	db_write_gates_refresh(db);
	return rc;
}

void db_write_gates_refresh(struct lsm_db *db)
{
	struct version *v = db->vs.current;

	if (!v)
		return;
	atomic_store_explicit(&db->gate_l0_files, v->nfiles[0],
			      memory_order_relaxed);
	atomic_store_explicit(&db->gate_pending_bytes,
			      compaction_pending_bytes(db, v),
			      memory_order_relaxed);
	atomic_store_explicit(&db->gate_failed, db->bg_error != 0,
			      memory_order_release);
}

/* ---- obsolete files ---- */

int db_u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint64_t *p = realloc(*a, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*a = p;
		*cap = nc;
	}
	(*a)[(*n)++] = v;
	return 0;
}

int db_pending_add(struct lsm_db *db, uint64_t number)
{
	struct pending *p = &db->pending;

	return db_u64_push(&p->numbers, &p->n, &p->cap, number);
}

void db_pending_remove(struct lsm_db *db, uint64_t number)
{
	struct pending *p = &db->pending;

	for (size_t i = 0; i < p->n; i++)
		if (p->numbers[i] == number) {
			p->numbers[i] = p->numbers[--p->n];
			return;
		}
}

void db_live_add(void *ctx, uint64_t number)
{
	struct db_live *l = ctx;

	if (db_u64_push(&l->nums, &l->n, &l->cap, number) < 0)
		l->oom = true;
}

int db_live_tables(struct lsm_db *db, struct db_live *l)
{
	memset(l, 0, sizeof(*l));
	vset_live_tables(&db->vs, db_live_add, l);
	if (vset_vlog_live(&db->vs, &l->segs) < 0)
		l->oom = true;
	for (size_t i = 0; i < db->pending.n; i++)
		db_live_add(l, db->pending.numbers[i]);
	if (l->oom) {
		free(l->nums);
		vlog_refs_free(&l->segs);
		return -ENOMEM;
	}
	if (l->n)
		qsort(l->nums, l->n, sizeof(*l->nums), cmp_u64);
	return 0;
}

bool db_is_live(const struct db_live *l, uint64_t number)
{
	return l->n && bsearch(&number, l->nums, l->n, sizeof(uint64_t),
			       cmp_u64) != NULL;
}

/* The log segments kept because tables point into them (below the log
 * number; mu not held): counted, linked into the archive when it is on
 * (a replica that is behind reads them there, as it would have read them
 * had they been archived), and weighed against what the current version
 * names in each.  A segment that holds less than half its size in named
 * values, while the kept segments hold more dead bytes than a quarter of
 * the named ones (and half a memtable at least), is collected:
 * compactions copy its values back into tables, and it goes
 * (compaction.c, pick_vlog).  During an explicit compaction (EAGER) every
 * segment a quarter dead is.  Dead segments go without any of that: no
 * table names them. */
static void vlog_keep(struct lsm_db *db, const struct db_live *l,
		      char **names, size_t n, bool archive,
		      uint64_t log_number, uint64_t wal_number,
		      uint64_t linked, bool eager)
{
	struct vlog_refs cand = { 0 };
	uint64_t kept = 0, named = 0, count = 0, num, size, top = 0;
	uint64_t slack = db->opts.memtable_bytes / 2;
	char path[LSM_PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		const struct vlog_ref *r;

		if (filename_parse(names[i], &num) != FILE_WAL ||
		    num >= log_number || num == wal_number ||
		    !(r = vlog_refs_find(&l->segs, num)))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]) >=
		    (int)sizeof(path) ||
		    lsm_io_path_size(db->io, path, &size) < 0)
			continue;
		count++;
		kept += size;
		named += r->bytes;
		if (r->bytes < (eager ? size / 4 * 3 : size / 2))
			(void)vlog_refs_add(&cand, num, size - r->bytes);
		if (archive && num > linked &&
		    db_archive_link(db, names[i]) == 0 && num > top)
			top = num;
	}
	stat_set(&db->stats.vlog_segments_kept, count);
	if (top) /* counted in the archive's bytes: a full disk trims them */
		db_archive_trim(db, false);
	if (!eager && (kept <= named || kept - named <= named / 4 ||
		       kept - named < slack))
		vlog_refs_free(&cand); /* not worth a rewrite yet */
	pthread_mutex_lock(&db->mu);
	if (top > db->vlog_linked)
		db->vlog_linked = top;
	if (cand.n || db->vlog_collect.n) {
		bool more = false;

		for (size_t i = 0; i < cand.n; i++)
			more |= !vlog_refs_has(&db->vlog_collect,
					       cand.v[i].segment);
		if (more)
			db_log(db, LSM_LOG_INFO, "value log: %llu segments "
			       "(%llu MiB) kept for %llu MiB of values; "
			       "collecting %zu of them",
			       (unsigned long long)count,
			       (unsigned long long)(kept >> 20),
			       (unsigned long long)(named >> 20), cand.n);
		vlog_refs_free(&db->vlog_collect);
		db->vlog_collect = cand; /* what is collected and gone
					  * is no longer listed */
		cand = (struct vlog_refs){ 0 };
		if (more)
			db_bg_kick(db);
	}
	pthread_mutex_unlock(&db->mu);
	vlog_refs_free(&cand);
}

static bool obsolete(struct lsm_db *db, const struct db_live *l,
		     enum file_kind k, uint64_t num)
{
	switch (k) {
	case FILE_TABLE:
		return !db_is_live(l, num);
	case FILE_WAL: /* and no table points into it */
		return num < db->vs.log_number && num != db->wal_number &&
		       !vlog_refs_has(&l->segs, num);
	case FILE_MANIFEST:
		return num != db->vs.manifest_number;
	case FILE_TEMP:
		return !db_is_live(l, num);
	default:
		return false;
	}
}

void db_delete_obsolete(struct lsm_db *db)
{
	struct db_live l;
	char **names = NULL, path[LSM_PATH_MAX];
	size_t n = 0;
	uint64_t num, linked, log_number, wal_number;
	bool *doomed, archive, archived = false, collecting, eager;

	if (db->read_only || db->bg_error || db_live_tables(db, &l) < 0)
		return;
	if (db->io->list_dir(db->io, db->dir, &names, &n) < 0)
		goto out;
	doomed = calloc(n + 1, sizeof(*doomed));
	if (!doomed)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enum file_kind k = filename_parse(names[i], &num);

		doomed[i] = obsolete(db, &l, k, num);
		if (doomed[i] && k == FILE_TABLE)
			table_cache_evict(db->tables, num);
		if (doomed[i] && k == FILE_WAL)
			vlog_forget(db->vlog, num);
	}
	archive = db_archive_on(db) && !atomic_load(&db->space_low);
	linked = db->vlog_linked;
	collecting = db->vlog_collect.n > 0;
	eager = db->vlog_eager;
	log_number = db->vs.log_number;
	wal_number = db->wal_number;
	pthread_mutex_unlock(&db->mu);
	if (l.segs.n || collecting)
		vlog_keep(db, &l, names, n, archive, log_number, wal_number,
			  linked, eager);
	/* Tables first, log segments after: a follower that finds a table
	 * still there knows the segments it points into are too
	 * (db_follow.c, hold_segments). */
	for (size_t j = 0; j < 2 * n; j++) {
		size_t i = j % n;

		if (!doomed[i] || (j < n) != (filename_parse(names[i], &num) !=
					      FILE_WAL) ||
		    snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]) >=
			    (int)sizeof(path))
			continue;
		if (archive && filename_parse(names[i], &num) == FILE_WAL &&
		    num > linked) {
			int rc = db_archive_wal(db, names[i]);

			if (rc == 0) {
				stat_add(&db->stats.wal_archived, 1);
				archived = true;
				continue;
			}
			/* The flush and compaction threads both sweep: the
			 * other one archived it first. */
			if (rc == -ENOENT)
				continue;
			db_log(db, LSM_LOG_WARN, "cannot archive %s: %s; "
			       "deleting it", path, strerror(-rc));
		}
		if (db->io->unlink(db->io, path) == 0)
			db_log(db, LSM_LOG_DEBUG, "deleted %s", path);
	}
	if (archived)
		db_archive_trim(db, false);
	pthread_mutex_lock(&db->mu);
	free(doomed);
out:
	lsm_io_free_names(names, n);
	free(l.nums);
	vlog_refs_free(&l.segs);
}
