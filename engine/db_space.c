/* db_space.c - surviving a full disk.  A ballast file, DATADIR/RESERVE,
 * holds reserve_bytes of allocated blocks.  When a write, a flush or a
 * compaction runs out of space, the ballast is deleted: its blocks let the
 * writes that free space (deletes, truncations: LSM_WRITE_FREES) and the
 * flushes and compactions that turn them into free space go through, while
 * every other write fails at once with -ENOSPC instead of turning the
 * store read-only.  The compaction thread re-makes the ballast once twice
 * its size is free again.  An open deletes the ballast before it writes
 * anything and re-makes it afterwards, so reopening a full disk works. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>

#include "db_impl.h"
#include "filename.h"
#include "wal.h"

#define SPACE_POLL_US 1000000u /* how often a full disk is looked at */
#define RECLAIM_US 5000000u    /* at most one reclaim per 5 s */

uint64_t db_reserve_bytes(const struct lsm_db *db)
{
	const struct lsm_options *o = &db->opts;

	if (o->reserve_bytes != LSM_RESERVE_AUTO)
		return o->reserve_bytes;
	return o->memtable_bytes + 4 * o->table_bytes;
}

/* Bytes an unprivileged writer may still use in DB's directory, or
 * UINT64_MAX when unknown. */
static uint64_t free_bytes(const struct lsm_db *db)
{
	struct statvfs s;

	if (statvfs(db->dir, &s) < 0)
		return UINT64_MAX;
	return (uint64_t)s.f_bavail * s.f_frsize;
}

/* Makes the ballast: 0, or -ENOSPC & co. with nothing left behind. */
static int reserve_make(struct lsm_db *db, uint64_t bytes)
{
	char path[LSM_PATH_MAX];
	int fd, rc;

	filename_path(path, db->dir, FILE_RESERVE, 0);
	rc = db->io->open(db->io, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600,
			  &fd);
	if (rc < 0)
		return rc;
	rc = db->io->preallocate ? db->io->preallocate(db->io, fd, 0, bytes)
				 : -EOPNOTSUPP;
	if (rc == 0) /* blocks allocated: show them in ls as well */
		rc = db->io->ftruncate(db->io, fd, bytes);
	if (rc == 0)
		rc = db->io->fsync(db->io, fd);
	db->io->close(db->io, fd);
	if (rc < 0)
		db->io->unlink(db->io, path);
	return rc;
}

void db_reserve_drop(struct lsm_db *db)
{
	char path[LSM_PATH_MAX];

	filename_path(path, db->dir, FILE_RESERVE, 0);
	db->io->unlink(db->io, path);
	db->reserve_held = false;
}

void db_reserve_open(struct lsm_db *db)
{
	uint64_t want = db_reserve_bytes(db);
	int rc;

	if (db->read_only || !want)
		return;
	if (free_bytes(db) < 2 * want) {
		atomic_store(&db->space_low, true);
		db_log(db, LSM_LOG_WARN, "%s: less than %llu bytes free: only "
		       "writes that free space are accepted until there is",
		       db->dir, (unsigned long long)(2 * want));
		return;
	}
	rc = reserve_make(db, want);
	if (rc == 0) {
		db->reserve_held = true;
		return;
	}
	if (rc == -EOPNOTSUPP) {
		db_log(db, LSM_LOG_INFO, "%s: the filesystem cannot preallocate:"
		       " no disk reserve", db->dir);
		return;
	}
	atomic_store(&db->space_low, true);
	db_log(db, LSM_LOG_WARN, "%s: cannot make the %llu-byte reserve: %s",
	       db->dir, (unsigned long long)want, strerror(-rc));
}

bool db_space_error(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT;
}

void db_space_exhausted(struct lsm_db *db, const char *what)
{
	if (db_archive_on(db) && atomic_load(&db->archive_bytes))
		db_archive_trim(db, true); /* the archive gives way first */
	if (!db_reserve_bytes(db) || atomic_load(&db->space_low))
		return;
	atomic_store(&db->space_low, true);
	db->space_poll_us = db_now_us();
	if (db->reserve_held)
		db_reserve_drop(db);
	stat_add(&db->stats.space_exhausted, 1);
	db_log(db, LSM_LOG_WARN, "%s: disk full (%s): released the %llu-byte "
	       "reserve; only deletes and truncations are accepted until "
	       "%llu bytes are free", db->dir, what,
	       (unsigned long long)db_reserve_bytes(db),
	       (unsigned long long)(2 * db_reserve_bytes(db)));
}

int db_space_gate(struct lsm_db *db, bool frees, struct lsm_err *err)
{
	if (frees || !atomic_load_explicit(&db->space_low,
					   memory_order_relaxed))
		return 0;
	return lsm_err_set(err, -ENOSPC, "%s: disk full: only deletes and "
			   "truncations are accepted until %llu bytes are free",
			   db->dir,
			   (unsigned long long)(2 * db_reserve_bytes(db)));
}

/* Deletes made on the full disk free nothing until compaction merges them
 * with what they delete: do that now, the whole key space, using the
 * reserve's room (compactions install level by level, so what one frees
 * stays freed if a later step fails).  Again after new deletes, or, when
 * the last try failed (a step ran out of room: the steps before it may
 * have freed enough for it now), after a backoff of 5 s doubling to 80 s
 * without them.  Under mu; drops it. */
static void reclaim(struct lsm_db *db, uint64_t now)
{
	uint64_t frees = stat_get(&db->space_frees);
	unsigned shift = db->reclaim_failed < 4 ? db->reclaim_failed : 4;
	struct lsm_err err = { 0 };
	int rc;

	if ((frees == db->reclaim_frees && !db->reclaim_failed) ||
	    now - db->reclaim_us < ((uint64_t)RECLAIM_US << shift) ||
	    db->shutting_down || db->bg_error)
		return;
	db->reclaim_frees = frees;
	db->reclaim_us = now;
	pthread_mutex_unlock(&db->mu);
	rc = lsm_compact_range(db, NULL, 0, NULL, 0, &err);
	pthread_mutex_lock(&db->mu);
	db->reclaim_failed = rc < 0 ? db->reclaim_failed + 1 : 0;
	db_log(db, rc < 0 ? LSM_LOG_WARN : LSM_LOG_INFO, "%s: disk full: "
	       "compacted to reclaim deleted space%s%s", db->dir,
	       rc < 0 ? ": " : "", rc < 0 ? err.msg : "");
}

void db_space_poll(struct lsm_db *db)
{
	uint64_t want = db_reserve_bytes(db), now = db_now_us();
	int rc;

	if (!atomic_load(&db->space_low) || now - db->space_poll_us <
	    SPACE_POLL_US)
		return;
	db->space_poll_us = now;
	if (free_bytes(db) < 2 * want) {
		reclaim(db, now);
		return;
	}
	pthread_mutex_unlock(&db->mu);
	rc = reserve_make(db, want);
	pthread_mutex_lock(&db->mu);
	if (rc < 0 && rc != -EOPNOTSUPP)
		return; /* raced with writers: look again later */
	db->reserve_held = rc == 0;
	atomic_store(&db->space_low, false);
	db_log(db, LSM_LOG_INFO, "%s: disk space is back: all writes accepted "
	       "again", db->dir);
}

bool db_space_low(struct lsm_db *db)
{
	return atomic_load(&db->space_low);
}

bool db_manifest_error_fatal(struct lsm_db *db, int rc)
{
	return !db_space_error(rc) || !vset_writable(&db->vs);
}
