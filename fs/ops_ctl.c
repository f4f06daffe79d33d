/* ops_ctl.c - the hidden control directory /.lsmfs: not stored, not
 * listed in the root, looked up by name only; the root name ".lsmfs" is
 * reserved (see CODEC.md), so it cannot collide with a user's file.
 * /.lsmfs/stats holds the engine's statistics (lsm_stats) and the
 * filesystem's own counters (metrics.c), rendered when it is opened.  /.lsmfs/ctl
 * takes requests (`echo compact > /.lsmfs/ctl`); each runs in a thread of
 * its own and the write returns when it is done (see "requests" below).
 * /.lsmfs/snapshots and the read-only views inside it are ops_snap.c's:
 * every fs_ctl_* entry point hands their numbers (fs_is_snap) over. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "metrics.h"

/* The rendered text of one open: freed by whoever drops the last
 * reference, the release or a read still replying (the kernel may deliver
 * the release as soon as the reply's bytes are copied, while the replying
 * thread is still inside writev). */
struct ctl_text {
	char *text;
	size_t len;
	atomic_int refs;
};

static void text_put(struct ctl_text *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1) {
		free(t->text);
		free(t);
	}
}

void fs_ctl_stat(fuse_ino_t ino, struct stat *st)
{
	if (ino == FS_CTL_SNAPDIR_INO)
		return fs_snap_dir_stat(st);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == FS_CTL_DIR_INO ? (S_IFDIR | 0555) :
					      (S_IFREG | 0444);
	st->st_nlink = ino == FS_CTL_DIR_INO ? 3 : 1;
	if (ino == FS_CTL_CMD_INO) {
		st->st_mode = S_IFREG | 0200; /* the daemon's user only */
		st->st_uid = getuid();
		st->st_gid = getgid();
	}
}

static void ctl_entry(struct fuse_entry_param *e, fuse_ino_t ino)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	e->attr_timeout = 1.0;
	e->entry_timeout = 1.0;
	fs_ctl_stat(ino, &e->attr);
}

bool fs_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (fs_is_snap(parent)) {
		fs_snap_lookup(req, parent, name);
		return true;
	}
	if (codec_is_reserved(parent, name, strlen(name))) {
		ctl_entry(&e, FS_CTL_DIR_INO);
	} else if (parent == FS_CTL_DIR_INO) {
		if (!strcmp(name, FS_CTL_SNAPDIR_NAME)) {
			ctl_entry(&e, FS_CTL_SNAPDIR_INO);
		} else if (!strcmp(name, FS_CTL_CMD_NAME)) {
			ctl_entry(&e, FS_CTL_CMD_INO);
		} else if (strcmp(name, FS_CTL_STATS_NAME) != 0) {
			fuse_reply_err(req, ENOENT);
			return true;
		} else {
			ctl_entry(&e, FS_CTL_STATS_INO);
		}
	} else if (fs_is_ctl(parent)) {
		fuse_reply_err(req, ENOTDIR);
		return true;
	} else {
		return false;
	}
	fuse_reply_entry(req, &e);
	return true;
}

void fs_ctl_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct stat st;

	if (fs_snap_id(ino))
		return fs_snap_getattr(req, ino);
	fs_ctl_stat(ino, &st);
	fuse_reply_attr(req, &st, 1.0);
}

static int render(struct lsmfs *fs, struct ctl_text *t)
{
	return metrics_render(fs, &t->text, &t->len);
}

/* ---- requests: /.lsmfs/ctl ---- */

struct ctl_job {
	struct lsmfs *fs;
	fuse_req_t req;
	size_t size; /* the write's, answered on success */
};

static void ctl_cmd_open(fuse_req_t req, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_WRONLY)
		return fs_reply_fail(req, FS_OP_OPEN, -EACCES, NULL);
	fi->fh = 0;
	fi->direct_io = 1; /* every write reaches us */
	fuse_reply_open(req, fi);
}

void fs_ctl_setattr(fuse_req_t req, fuse_ino_t ino, int to_set)
{
	struct stat st;

	if (fs_is_snap(ino))
		return fs_reply_fail(req, FS_OP_SETATTR, -EROFS, NULL);
	if (ino != FS_CTL_CMD_INO ||
	    (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME |
			FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)))
		return fs_reply_fail(req, FS_OP_SETATTR, -EPERM, NULL);
	fs_ctl_stat(ino, &st);
	fuse_reply_attr(req, &st, 1.0);
}

static uint64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000u +
	       (uint64_t)((t.tv_nsec - t0->tv_nsec) / 1000000L);
}

/* "compact": the whole store down to the deepest level (lsm_compact_range),
 * so everything deleted or overwritten leaves the disk. */
static void *compact_job(void *arg)
{
	struct ctl_job *j = arg;
	struct lsmfs *fs = j->fs;
	struct lsm_err err = { 0 };
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	fs_log(FS_LOG_INFO, "compaction requested through .lsmfs/%s",
	       FS_CTL_CMD_NAME);
	rc = lsm_compact_range(fs->db, NULL, 0, NULL, 0, &err);
	if (rc < 0) {
		fs_log(FS_LOG_ERR, "requested compaction failed: %s", err.msg);
		fs_reply_fail(j->req, FS_OP_WRITE, rc, &err);
	} else {
		fs_log(FS_LOG_INFO, "requested compaction done in %llu ms",
		       (unsigned long long)ms_since(&t0));
		fs_mem_trim(); /* its buffers are free now */
		fuse_reply_write(j->req, j->size);
	}
	free(j);
	pthread_mutex_lock(&fs->ctl_mu);
	fs->ctl_jobs--;
	pthread_cond_broadcast(&fs->ctl_cv);
	pthread_mutex_unlock(&fs->ctl_mu);
	return NULL;
}

/* Runs FN(J) in a detached thread that answers J->req. */
static int ctl_start(struct ctl_job *j, void *(*fn)(void *))
{
	struct lsmfs *fs = j->fs;
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&fs->ctl_mu);
	rc = pthread_create(&th, &attr, fn, j);
	if (rc == 0)
		fs->ctl_jobs++;
	pthread_mutex_unlock(&fs->ctl_mu);
	pthread_attr_destroy(&attr);
	return -rc;
}

void fs_ctl_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		  size_t size)
{
	struct lsmfs *fs = fs_of(req);
	struct ctl_job *j;
	size_t n = size;
	int rc;

	if (ino != FS_CTL_CMD_INO)
		return fs_reply_fail(req, FS_OP_WRITE, fs_ctl_refusal(ino),
				     NULL);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t' || buf[n - 1] == '\r'))
		n--;
	if (n != strlen("compact") || memcmp(buf, "compact", n) != 0) {
		fs_log(FS_LOG_WARN, ".lsmfs/%s: unknown request '%.*s' (known:"
		       " compact)", FS_CTL_CMD_NAME, (int)(n < 64 ? n : 64),
		       buf);
		return fs_reply_fail(req, FS_OP_WRITE, -EINVAL, NULL);
	}
	if (fs->read_only)
		return fs_reply_fail(req, FS_OP_WRITE, -EROFS, NULL);
	j = malloc(sizeof(*j));
	if (!j)
		return fs_reply_fail(req, FS_OP_WRITE, -ENOMEM, NULL);
	*j = (struct ctl_job){ .fs = fs, .req = req, .size = size };
	rc = ctl_start(j, compact_job);
	if (rc < 0) {
		free(j);
		fs_reply_fail(req, FS_OP_WRITE, rc, NULL);
	}
}

void fs_ctl_wait(struct lsmfs *fs)
{
	pthread_mutex_lock(&fs->ctl_mu);
	while (fs->ctl_jobs)
		pthread_cond_wait(&fs->ctl_cv, &fs->ctl_mu);
	pthread_mutex_unlock(&fs->ctl_mu);
}

void fs_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ctl_text *t;
	int rc;

	if (fs_snap_id(ino))
		return fs_snap_open(req, ino, fi);
	if (ino == FS_CTL_CMD_INO)
		return ctl_cmd_open(req, fi);
	if (ino != FS_CTL_STATS_INO)
		return fs_reply_fail(req, FS_OP_OPEN, -EISDIR, NULL);
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return fs_reply_fail(req, FS_OP_OPEN, -EACCES, NULL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return fs_reply_fail(req, FS_OP_OPEN, -ENOMEM, NULL);
	rc = render(fs_of(req), t);
	if (rc < 0) {
		free(t->text);
		free(t);
		return fs_reply_fail(req, FS_OP_OPEN, rc, NULL);
	}
	atomic_init(&t->refs, 1);
	fi->fh = (uintptr_t)t;
	fi->direct_io = 1; /* size 0 in stat; read until EOF */
	if (fuse_reply_open(req, fi) != 0) {
		free(t->text);
		free(t);
	}
}

void fs_ctl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct ctl_text *t = (struct ctl_text *)(uintptr_t)fi->fh;

	if (fs_snap_id(ino))
		return fs_snap_read(req, ino, size, off, fi);
	if (!t || off < 0 || (size_t)off >= t->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	atomic_fetch_add(&t->refs, 1);
	if (size > t->len - (size_t)off)
		size = t->len - (size_t)off;
	fuse_reply_buf(req, t->text + off, size);
	text_put(t);
}

void fs_ctl_release(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi)
{
	struct ctl_text *t = (struct ctl_text *)(uintptr_t)fi->fh;

	if (fs_snap_id(ino))
		return fs_snap_release(req, fi);
	if (t)
		text_put(t);
	fuse_reply_err(req, 0);
}

void fs_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi, bool plus)
{
	static const char *const names[] = { ".", "..", FS_CTL_STATS_NAME,
					     FS_CTL_CMD_NAME,
					     FS_CTL_SNAPDIR_NAME };
	const fuse_ino_t inos[] = { FS_CTL_DIR_INO, 1, FS_CTL_STATS_INO,
				    FS_CTL_CMD_INO, FS_CTL_SNAPDIR_INO };
	char *buf;
	size_t used = 0, n;

	if (fs_is_snap(ino))
		return fs_snap_readdir(req, ino, size, off, fi, plus);
	if (ino != FS_CTL_DIR_INO)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOTDIR, NULL);
	buf = malloc(size);
	if (!buf)
		return fs_reply_fail(req, FS_OP_READDIR, -ENOMEM, NULL);
	for (; off >= 0 && off < 5; off++) {
		struct fuse_entry_param e;

		ctl_entry(&e, inos[off]);
		if (off < 2)
			e.ino = 0;
		n = plus ? fuse_add_direntry_plus(req, buf + used, size - used,
						  names[off], &e, off + 1) :
			   fuse_add_direntry(req, buf + used, size - used,
					     names[off], &e.attr, off + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

int fs_ctl_refusal(fuse_ino_t ino)
{
	return fs_is_snap(ino) ? -EROFS : -EPERM;
}

void fs_ctl_make(fuse_req_t req, enum fs_op op, fuse_ino_t parent,
		 const char *name)
{
	if (parent == FS_CTL_SNAPDIR_INO && op == FS_OP_MKDIR)
		return fs_snap_mkdir(req, name);
	fs_reply_fail(req, op, fs_ctl_refusal(parent), NULL);
}

void fs_ctl_remove(fuse_req_t req, enum fs_op op, fuse_ino_t parent,
		   const char *name)
{
	if (parent == FS_CTL_SNAPDIR_INO && op == FS_OP_RMDIR)
		return fs_snap_rmdir(req, name);
	fs_reply_fail(req, op, fs_ctl_refusal(parent), NULL);
}

void fs_ctl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fs_snap_id(ino))
		return fs_snap_opendir(req, ino, fi);
	if (ino != FS_CTL_DIR_INO && ino != FS_CTL_SNAPDIR_INO)
		return fs_reply_fail(req, FS_OP_OPENDIR, -ENOTDIR, NULL);
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

void fs_ctl_releasedir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	if (fs_snap_id(ino))
		return fs_snap_releasedir(req, fi);
	fuse_reply_err(req, 0);
}

void fs_ctl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (fs_snap_id(ino))
		return fs_snap_readlink(req, ino);
	fs_reply_fail(req, FS_OP_READLINK, -EINVAL, NULL);
}

void fs_ctl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size)
{
	if (fs_snap_id(ino))
		return fs_snap_getxattr(req, ino, name, size);
	fs_reply_fail(req, FS_OP_GETXATTR, -ENODATA, NULL);
}

void fs_ctl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (fs_snap_id(ino))
		return fs_snap_listxattr(req, ino, size);
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

void fs_ctl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence)
{
	if (fs_snap_id(ino))
		return fs_snap_lseek(req, ino, off, whence);
	fs_reply_fail(req, FS_OP_LSEEK, -EINVAL, NULL);
}
