/* db_archive.c - the log archive: with options.wal_archive_bytes set,
 * log segments no longer needed for recovery move to DIR/archive/
 * (same names) instead of being deleted, oldest first out once the
 * archive passes wal_archive_bytes or a segment is older than
 * wal_archive_seconds (by its last write), and all of them when the disk
 * fills.  Replication reads them (lsm_files.h) to serve a replica that is
 * behind; the store itself never reads them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_impl.h"
#include "filename.h"

bool db_archive_on(const struct lsm_db *db)
{
	return db->opts.wal_archive_bytes > 0 &&
	       (db->vs.features.incompat & LSM_FEAT_INCOMPAT_WAL_V2);
}

static int archive_dir(const struct lsm_db *db, char *out)
{
	int n = snprintf(out, LSM_PATH_MAX, "%s/" LSM_ARCHIVE_DIR, db->dir);

	return n < 0 || n >= LSM_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Gives back the blocks preallocated past the end of segment PATH (it was
 * given room for a whole memtable, db_wal_preallocate).  A segment cut
 * short by a crash and then archived held them for as long as the
 * archive kept it: the archive's bound counts file sizes, so on a small
 * disk it took several times its bound (found by the soak: 62 MiB of
 * blocks for a 16 MiB archive, with a kill -9 every few seconds).
 * Truncating to the same size frees the blocks past it (checked on ext4
 * and tmpfs); where it does not, nothing is lost but the blocks. */
static void release_tail(struct lsm_db *db, const char *path)
{
	uint64_t size;
	int fd;

	if (db->io->open(db->io, path, O_WRONLY, 0, &fd) < 0)
		return;
	if (db->io->fsize(db->io, fd, &size) == 0)
		(void)db->io->ftruncate(db->io, fd, size);
	db->io->close(db->io, fd);
}

/* Segment NAME's path FROM and its archive path TO (the archive DIR made
 * when missing), its preallocated tail given back: 0 or -errno. */
static int archive_prepare(struct lsm_db *db, const char *name, char *from,
			   char *dir, char *to)
{
	int rc;

	if (archive_dir(db, dir) < 0 ||
	    snprintf(from, LSM_PATH_MAX, "%s/%s", db->dir, name) >=
		    LSM_PATH_MAX ||
	    snprintf(to, LSM_PATH_MAX, "%s/%s", dir, name) >= LSM_PATH_MAX)
		return -ENAMETOOLONG;
	rc = db->io->mkdir(db->io, dir, 0755);
	if (rc < 0 && rc != -EEXIST)
		return rc;
	release_tail(db, from);
	return 0;
}

int db_archive_wal(struct lsm_db *db, const char *name)
{
	char from[LSM_PATH_MAX], dir[LSM_PATH_MAX], to[LSM_PATH_MAX];
	int rc = archive_prepare(db, name, from, dir, to);

	if (rc < 0)
		return rc;
	rc = db->io->rename(db->io, from, to);
	if (rc == 0)
		rc = db->io->sync_dir(db->io, dir);
	if (rc == 0)
		rc = db->io->sync_dir(db->io, db->dir);
	if (rc == 0)
		db_log(db, LSM_LOG_DEBUG, "archived %s", from);
	return rc;
}

int db_archive_link(struct lsm_db *db, const char *name)
{
	char from[LSM_PATH_MAX], dir[LSM_PATH_MAX], to[LSM_PATH_MAX];
	int rc = archive_prepare(db, name, from, dir, to);

	if (rc < 0)
		return rc;
	if (link(from, to) < 0 && errno != EEXIST)
		return -errno;
	rc = db->io->sync_dir(db->io, dir);
	if (rc == 0)
		db_log(db, LSM_LOG_DEBUG, "linked %s into the archive", from);
	return rc;
}

struct aseg {
	uint64_t number, size;
	time_t mtime;
};

static int cmp_aseg(const void *a, const void *b)
{
	const struct aseg *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

void db_archive_trim(struct lsm_db *db, bool all)
{
	char dir[LSM_PATH_MAX], path[LSM_PATH_MAX];
	char **names = NULL;
	size_t n = 0, m = 0;
	struct aseg *segs;
	uint64_t total = 0, cap = db->opts.wal_archive_bytes;
	time_t now = time(NULL);
	unsigned age = db->opts.wal_archive_seconds;

	if (archive_dir(db, dir) < 0 ||
	    db->io->list_dir(db->io, dir, &names, &n) < 0)
		return;
	segs = calloc(n + 1, sizeof(*segs));
	for (size_t i = 0; segs && i < n; i++) {
		uint64_t num;
		struct stat st;

		if (filename_parse(names[i], &num) != FILE_WAL ||
		    snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
			    (int)sizeof(path) || stat(path, &st) < 0)
			continue;
		/* archived by a build that kept the room allocated ahead */
		if ((uint64_t)st.st_blocks * 512 >
		    (uint64_t)st.st_size + (64u << 10))
			release_tail(db, path);
		segs[m++] = (struct aseg){ num, (uint64_t)st.st_size,
					   st.st_mtime };
		total += (uint64_t)st.st_size;
	}
	lsm_io_free_names(names, n);
	if (!segs)
		return;
	qsort(segs, m, sizeof(*segs), cmp_aseg);
	for (size_t i = 0; i < m; i++) {
		bool old = age && now - segs[i].mtime > (time_t)age;

		if (!all && total <= cap && !old)
			break; /* newer ones are younger */
		filename_path(path, dir, FILE_WAL, segs[i].number);
		if (db->io->unlink(db->io, path) == 0) {
			total -= segs[i].size;
			stat_add(&db->stats.wal_archive_dropped, 1);
			db_log(db, all ? LSM_LOG_WARN : LSM_LOG_DEBUG,
			       "dropped archived log %s (%s)", path,
			       all ? "disk full" : old ? "age" : "size");
		}
	}
	atomic_store(&db->archive_bytes, total);
	free(segs);
}
