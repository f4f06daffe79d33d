/* checkpoint.c - lsm_checkpoint: a consistent copy of a live store made
 * from outside (lsm_files.h).  The state comes from one load of the
 * manifest; its tables are immutable and hard-linked, its live log
 * segments copied (sealed ones to their sealed size, the last one as far
 * as it is written: a prefix of the history, whose torn tail recovery
 * cuts), and the state is written as a fresh manifest.  A table or
 * segment the writer deleted in between means a newer state exists:
 * start over. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filename.h"
#include "lsm_files.h"
#include "version.h"

#define CHECKPOINT_TRIES 16

/* Hard-links FROM as TO, or copies its first LIMIT bytes (UINT64_MAX: all
 * of it) when *TRY_LINK is false or linking is not possible, which then
 * clears *TRY_LINK (another filesystem: the next files go straight to a
 * copy). */
static int link_or_copy(const char *from, const char *to, uint64_t limit,
			bool *try_link)
{
	char buf[1 << 16];
	int in, out, rc = 0;
	uint64_t done = 0;

	if (try_link && *try_link) {
		if (link(from, to) == 0)
			return 0;
		if (errno != EXDEV && errno != EPERM && errno != EMLINK)
			return -errno;
		*try_link = false;
	}
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = -errno;
		close(in);
		return rc;
	}
	while (done < limit) {
		size_t want = limit - done < sizeof(buf) ? (size_t)(limit - done)
							 : sizeof(buf);
		ssize_t n = pread(in, buf, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0) {
			rc = limit == UINT64_MAX ? 0 : -ESTALE; /* shrank */
			break;
		}
		for (ssize_t w = 0; w < n;) {
			ssize_t k = pwrite(out, buf + w, (size_t)(n - w),
					   (off_t)(done + (uint64_t)w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				rc = -errno;
				break;
			}
			w += k;
		}
		if (rc < 0)
			break;
		done += (uint64_t)n;
	}
	if (rc == 0 && fsync(out) < 0)
		rc = -errno;
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static void empty_dir(const char *dir)
{
	const struct lsm_io *io = lsm_io_posix();
	char **names = NULL, path[LSM_PATH_MAX];
	size_t n = 0;

	if (io->list_dir(io, dir, &names, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) <
		    (int)sizeof(path))
			unlink(path);
	lsm_io_free_names(names, n);
}

/* One attempt: -EAGAIN when the writer moved on under us. */
static int attempt(const char *dir, const char *dest, bool *try_link,
		   struct lsm_err *err)
{
	struct version_set vs;
	const struct lsm_io *io = lsm_io_posix();
	char from[LSM_PATH_MAX], to[LSM_PATH_MAX];
	int rc;

	struct vlog_refs kept = { 0 };
	char **names = NULL;
	size_t nnames = 0;

	/* Listed before the manifest is read: a log segment a table of that
	 * manifest points into (the value log) cannot have been deleted
	 * before this listing, as no version named it any more then. */
	rc = io->list_dir(io, dir, &names, &nnames);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: cannot list: %s", dir,
				   strerror(-rc));
	vset_init(&vs, io, dir, LSM_MAX_LEVELS, true);
	rc = vset_load(&vs, err);
	if (rc == -ENOENT || rc == -EUCLEAN) /* CURRENT being switched */
		rc = -EAGAIN;
	for (int l = 0; rc == 0 && l < LSM_MAX_LEVELS; l++)
		for (size_t i = 0; rc == 0 && i < vs.current->nfiles[l]; i++) {
			uint64_t num = vs.current->files[l][i]->number;

			filename_path(from, dir, FILE_TABLE, num);
			filename_path(to, dest, FILE_TABLE, num);
			rc = link_or_copy(from, to, UINT64_MAX, try_link);
			if (rc == -ENOENT)
				rc = -EAGAIN; /* compacted away meanwhile */
			else if (rc < 0)
				lsm_err_set(err, rc, "%s -> %s: %s", from, to,
					    strerror(-rc));
		}
	/* the kept segments the tables point into, linked like tables */
	if (rc == 0 && vset_vlog_live(&vs, &kept) < 0)
		rc = lsm_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nnames; i++) {
		uint64_t num;

		if (filename_parse(names[i], &num) != FILE_WAL ||
		    num >= vs.log_number || !vlog_refs_has(&kept, num))
			continue;
		filename_path(from, dir, FILE_WAL, num);
		filename_path(to, dest, FILE_WAL, num);
		rc = link_or_copy(from, to, UINT64_MAX, try_link);
		if (rc == -ENOENT)
			rc = -EAGAIN; /* collected meanwhile */
		else if (rc < 0)
			lsm_err_set(err, rc, "%s -> %s: %s", from, to,
				    strerror(-rc));
	}
	lsm_io_free_names(names, nnames);
	vlog_refs_free(&kept);
	for (size_t i = 0; rc == 0 && i < vs.nwals; i++) {
		const struct edit_wal *w = &vs.wals[i];

		if (w->number < vs.log_number)
			continue;
		filename_path(from, dir, FILE_WAL, w->number);
		filename_path(to, dest, FILE_WAL, w->number);
		rc = link_or_copy(from, to, w->sealed ? w->size : UINT64_MAX,
				  NULL);
		if (rc == -ENOENT || rc == -ESTALE)
			rc = -EAGAIN; /* flushed (and deleted) meanwhile */
		else if (rc < 0)
			lsm_err_set(err, rc, "%s -> %s: %s", from, to,
				    strerror(-rc));
	}
	if (rc == 0 && !(vs.features.incompat & LSM_FEAT_INCOMPAT_WAL_V2))
		rc = lsm_err_set(err, -EPROTONOSUPPORT, "%s: a store of the "
				 "old log format; open it writable once to "
				 "upgrade it, then checkpoint it", dir);
	if (rc == 0)
		rc = vset_write_copy(&vs, dest, err);
	vset_destroy(&vs);
	return rc;
}

int lsm_checkpoint(const char *dir, const char *dest, uint64_t *last_seq,
		   struct lsm_err *err)
{
	bool try_link = true;
	int rc;

	if (mkdir(dest, 0700) < 0)
		return lsm_err_set(err, -errno, "%s: cannot create: %s%s", dest,
				   strerror(errno), errno == EEXIST ?
				   " (a checkpoint goes to a new directory)"
				   : "");
	for (int i = 0; i < CHECKPOINT_TRIES; i++) {
		rc = attempt(dir, dest, &try_link, err);
		if (rc != -EAGAIN)
			break;
		empty_dir(dest);
	}
	if (rc == -EAGAIN)
		rc = lsm_err_set(err, -EAGAIN, "%s: the store changed under %d "
				 "attempts at a checkpoint; try again", dir,
				 CHECKPOINT_TRIES);
	if (rc == 0) {
		const struct lsm_io *io = lsm_io_posix();
		struct lsm_options o;
		struct lsm_db *db = NULL;

		rc = io->sync_dir(io, dest);
		if (rc < 0)
			lsm_err_set(err, rc, "%s: cannot sync: %s", dest,
				    strerror(-rc));
		lsm_options_init(&o);
		o.read_only = true;
		o.cache_bytes = 1 << 20;
		if (rc == 0 && (rc = lsm_open(dest, &o, &db, err)) == 0) {
			if (last_seq)
				*last_seq = lsm_last_seq(db);
			rc = lsm_close(db, err);
		}
	}
	if (rc < 0) {
		empty_dir(dest);
		rmdir(dest);
	}
	return rc;
}
