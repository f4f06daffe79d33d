/* faulty_io.c - the fault-injecting struct lsm_io used by the tests: fails
 * the Nth call of a kind, shortens writes, counts calls, and models the
 * loss of unsynced data and directory entries at a power cut (the model is
 * described in faulty_io.h).  Tracking is by path: each descriptor opened
 * for writing maps to the file it was opened on; the directory changes
 * not yet made durable by a sync_dir are kept in order, to be undone. */
#include "faulty_io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_PREFIX ".fio-bak-"

struct fio_fault {
	bool armed;
	bool persistent;      /* keeps failing once triggered */
	bool firing;          /* persistent and already triggered */
	unsigned long left;   /* calls until it triggers */
	int err;
};

struct fio_file {
	char *path;           /* current name (a backup link once unlinked);
	                       * NULL once gone for good */
	unsigned long long durable; /* bytes that survive a power cut */
	bool written;         /* written or truncated through this io */
};

struct fio_fd {
	int fd;
	size_t file;          /* index in files */
};

/* A directory change not yet made durable by a sync_dir. */
enum fio_dirop_kind { DIROP_CREATE, DIROP_RENAME, DIROP_UNLINK };

struct fio_dirop {
	enum fio_dirop_kind kind;
	char *path;           /* created or unlinked name; renamed from */
	char *to;             /* renamed to (DIROP_RENAME only) */
	char *backup;         /* hard link to the replaced target of a rename
	                       * or to the unlinked file, or NULL */
};

struct faulty_io_state {
	const struct lsm_io *base;
	pthread_mutex_t mu;
	struct fio_fault fault[FIO_NOPS];
	unsigned long count[FIO_NOPS];
	bool short_writes;
	bool dead;            /* after a power cut, until reset */
	unsigned inflight;    /* calls running their base call outside mu */
	pthread_cond_t drained; /* signalled when inflight drops to 0 */
	unsigned long backups;
	struct fio_file *files;
	size_t nfiles, capfiles;
	struct fio_fd *fds;
	size_t nfds, capfds;
	struct fio_dirop *dirops; /* pending, oldest first */
	size_t ndirops, capdirops;
};

static struct faulty_io_state *st_of(const struct lsm_io *io)
{
	return io->ctx;
}

/* Returns array P (of *CAP elements of SIZE bytes, N used) with room for
 * one more, reallocated if needed; NULL on ENOMEM (P is kept). */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 16;

	if (n < *cap)
		return p;
	p = realloc(p, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

static bool is_write_op(enum fio_op op)
{
	return op != FIO_OPEN && op != FIO_READ && op < FIO_ANY_WRITE;
}

static int fault_hit(struct fio_fault *f)
{
	if (!f->armed)
		return 0;
	if (f->firing)
		return f->err;
	if (--f->left > 0)
		return 0;
	if (f->persistent)
		f->firing = true;
	else
		f->armed = false;
	return f->err;
}

/* Counts a call of kind OP and returns the error it must fail with, or 0.
 * Called with st->mu held. */
static int fio_check(struct faulty_io_state *st, enum fio_op op)
{
	int a, b = 0;

	st->count[op]++;
	a = fault_hit(&st->fault[op]);
	if (is_write_op(op)) {
		st->count[FIO_ANY_WRITE]++;
		b = fault_hit(&st->fault[FIO_ANY_WRITE]);
		if (st->dead)
			return -EIO;
	}
	return a ? a : b;
}

static int fio_check_locked(struct faulty_io_state *st, enum fio_op op)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, op);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Like fio_check_locked, for a mutating call whose base call runs outside
 * st->mu: on 0 the call counts as in flight until fio_end, and a power cut
 * waits for it. */
static int fio_begin(struct faulty_io_state *st, enum fio_op op)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, op);
	if (!rc)
		st->inflight++;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Ends a call begun by fio_begin; called with st->mu held. */
static void fio_end(struct faulty_io_state *st)
{
	if (--st->inflight == 0)
		pthread_cond_broadcast(&st->drained);
}

/* ---- path bookkeeping (all with st->mu held) ---- */

/* The directory part of PATH into OUT, without trailing slashes. */
static void dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		snprintf(out, cap, ".");
		return;
	}
	n = (size_t)(slash - path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		n = 1; /* "/name" lives in "/" */
	snprintf(out, cap, "%.*s", (int)n, path);
}

static bool in_dir(const char *path, const char *dir)
{
	char d[4096];

	dir_of(path, d, sizeof(d));
	return !strcmp(d, dir);
}

static struct fio_file *file_find(struct faulty_io_state *st,
				  const char *path)
{
	for (size_t i = 0; i < st->nfiles; i++)
		if (st->files[i].path && !strcmp(st->files[i].path, path))
			return &st->files[i];
	return NULL;
}

static struct fio_file *file_of_fd(struct faulty_io_state *st, int fd)
{
	for (size_t i = 0; i < st->nfds; i++)
		if (st->fds[i].fd == fd)
			return &st->files[st->fds[i].file];
	return NULL;
}

static int file_add(struct faulty_io_state *st, const char *path,
		    size_t *idx)
{
	struct fio_file *f = file_find(st, path);

	if (f) {
		*idx = (size_t)(f - st->files);
		return 0;
	}
	f = grow(st->files, &st->capfiles, st->nfiles, sizeof(*f));
	if (!f)
		return -ENOMEM;
	st->files = f;
	f = &st->files[st->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	*idx = st->nfiles++;
	return 0;
}

static void file_rename(struct faulty_io_state *st, const char *from,
			const char *to)
{
	struct fio_file *f = file_find(st, from);
	char *p;

	if (!f)
		return;
	p = strdup(to);
	if (!p)
		return; /* tracking lost for this file; tests stay correct */
	free(f->path);
	f->path = p;
}

static void file_forget(struct faulty_io_state *st, const char *path)
{
	struct fio_file *f = file_find(st, path);

	if (f) {
		free(f->path);
		f->path = NULL;
	}
}

/* Appends a pending directory change; takes BACKUP (on failure the
 * change counts as durable: the backup link is removed). */
static int dirop_record(struct faulty_io_state *st, enum fio_dirop_kind kind,
			const char *path, const char *to, char *backup)
{
	struct fio_dirop *d;

	d = grow(st->dirops, &st->capdirops, st->ndirops, sizeof(*d));
	if (!d)
		goto out_backup;
	st->dirops = d;
	d = &st->dirops[st->ndirops];
	d->kind = kind;
	d->path = strdup(path);
	d->to = to ? strdup(to) : NULL;
	d->backup = backup;
	if (!d->path || (to && !d->to)) {
		free(d->path);
		free(d->to);
		goto out_backup;
	}
	st->ndirops++;
	return 0;
out_backup:
	if (backup) {
		unlink(backup);
		file_forget(st, backup);
	}
	free(backup);
	return -ENOMEM;
}

/* Records a descriptor opened for writing on PATH, which EXISTED (with
 * SIZE bytes) before the open with FLAGS. */
static int fd_track(struct faulty_io_state *st, int fd, const char *path,
		    int flags, bool existed, unsigned long long size)
{
	struct fio_file *f;
	struct fio_fd *fds;
	size_t idx;
	bool fresh = !file_find(st, path);

	if (file_add(st, path, &idx) < 0)
		return -ENOMEM;
	fds = grow(st->fds, &st->capfds, st->nfds, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	st->fds = fds;
	f = &st->files[idx];
	if (fresh)
		f->durable = existed ? size : 0;
	if (!existed && dirop_record(st, DIROP_CREATE, path, NULL, NULL) < 0)
		return -ENOMEM;
	if (flags & O_TRUNC) {
		f->durable = 0;
		f->written = true;
	}
	st->fds[st->nfds].fd = fd;
	st->fds[st->nfds++].file = idx;
	return 0;
}

static void fd_untrack(struct faulty_io_state *st, int fd)
{
	for (size_t i = 0; i < st->nfds; i++) {
		if (st->fds[i].fd == fd) {
			st->fds[i] = st->fds[--st->nfds];
			return;
		}
	}
}

/* ---- the wrapped calls ---- */

static int fio_open(const struct lsm_io *io, const char *path, int flags,
		    mode_t mode, int *fd)
{
	struct faulty_io_state *st = st_of(io);
	bool writes = (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
	struct stat sb;
	bool existed;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_OPEN);
	if (!rc && writes && st->dead)
		rc = -EIO;
	if (rc)
		goto out;
	existed = stat(path, &sb) == 0;
	rc = st->base->open(st->base, path, flags, mode, fd);
	if (rc == 0 && writes &&
	    fd_track(st, *fd, path, flags, existed,
		     existed ? (unsigned long long)sb.st_size : 0) < 0) {
		st->base->close(st->base, *fd);
		rc = -ENOMEM;
	}
out:
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_close(const struct lsm_io *io, int fd)
{
	struct faulty_io_state *st = st_of(io);

	pthread_mutex_lock(&st->mu);
	fd_untrack(st, fd);
	pthread_mutex_unlock(&st->mu);
	return st->base->close(st->base, fd);
}

static ssize_t fio_pread(const struct lsm_io *io, int fd, void *buf,
			 size_t n, uint64_t off)
{
	struct faulty_io_state *st = st_of(io);
	int rc = fio_check_locked(st, FIO_READ);

	if (rc)
		return rc;
	return st->base->pread(st->base, fd, buf, n, off);
}

static ssize_t fio_pwrite(const struct lsm_io *io, int fd, const void *buf,
			  size_t n, uint64_t off)
{
	struct faulty_io_state *st = st_of(io);
	struct fio_file *f;
	int rc;

	ssize_t r;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_WRITE);
	f = file_of_fd(st, fd);
	if (!rc && f)
		f->written = true;
	if (!rc && st->short_writes && n > 1)
		n /= 2;
	if (!rc)
		st->inflight++;
	pthread_mutex_unlock(&st->mu);
	if (rc)
		return rc;
	r = st->base->pwrite(st->base, fd, buf, n, off);
	pthread_mutex_lock(&st->mu);
	fio_end(st);
	pthread_mutex_unlock(&st->mu);
	return r;
}

/* A gathered write is one write here, as the model sees it: the buffers
 * are copied into one and written with fio_pwrite (counted, failed, cut
 * short and lost at a cut like any other). */
static ssize_t fio_pwritev(const struct lsm_io *io, int fd,
			   const struct iovec *iov, int cnt, uint64_t off)
{
	size_t n = 0, at = 0;
	uint8_t *buf;
	ssize_t r;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	for (int i = 0; i < cnt; i++) {
		memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	r = fio_pwrite(io, fd, buf, n, off);
	free(buf);
	return r;
}

static int fio_fsync(const struct lsm_io *io, int fd)
{
	struct faulty_io_state *st = st_of(io);
	struct fio_file *f;
	uint64_t size = 0;
	int rc = fio_begin(st, FIO_FSYNC);

	if (rc)
		return rc;
	rc = st->base->fsize(st->base, fd, &size);
	if (rc == 0)
		rc = st->base->fsync(st->base, fd);
	pthread_mutex_lock(&st->mu);
	f = file_of_fd(st, fd);
	if (rc == 0 && f) /* a cut that began meanwhile waits for this */
		f->durable = size;
	fio_end(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_ftruncate(const struct lsm_io *io, int fd, uint64_t len)
{
	struct faulty_io_state *st = st_of(io);
	struct fio_file *f;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_TRUNCATE);
	if (!rc)
		rc = st->base->ftruncate(st->base, fd, len);
	f = file_of_fd(st, fd);
	if (!rc && f) {
		f->written = true;
		if (f->durable > len)
			f->durable = len;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_fsize(const struct lsm_io *io, int fd, uint64_t *size)
{
	struct faulty_io_state *st = st_of(io);

	return st->base->fsize(st->base, fd, size);
}

/* Keeps a hard link to PATH (when it exists) so an undone rename or
 * unlink can restore it; *BACKUP is NULL when there was nothing to keep. */
static int make_backup(struct faulty_io_state *st, const char *path,
		       char **backup)
{
	char dir[4096], *b;
	size_t n;

	*backup = NULL;
	if (access(path, F_OK) < 0)
		return 0;
	dir_of(path, dir, sizeof(dir));
	n = strlen(dir) + sizeof(BACKUP_PREFIX) + 24;
	b = malloc(n);
	if (!b)
		return -ENOMEM;
	snprintf(b, n, "%s/%s%lu", dir, BACKUP_PREFIX, ++st->backups);
	if (link(path, b) < 0) {
		free(b);
		return -errno;
	}
	*backup = b;
	return 0;
}

static int fio_rename(const struct lsm_io *io, const char *from,
		      const char *to)
{
	struct faulty_io_state *st = st_of(io);
	char *backup = NULL;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_RENAME);
	if (!rc)
		rc = make_backup(st, to, &backup);
	if (!rc)
		rc = st->base->rename(st->base, from, to);
	if (!rc && backup)
		file_rename(st, to, backup);
	if (!rc) {
		file_rename(st, from, to);
		rc = dirop_record(st, DIROP_RENAME, from, to, backup);
	} else if (backup) {
		unlink(backup);
		free(backup);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_unlink(const struct lsm_io *io, const char *path)
{
	struct faulty_io_state *st = st_of(io);
	char *backup = NULL;
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_UNLINK);
	if (!rc)
		rc = make_backup(st, path, &backup);
	if (!rc)
		rc = st->base->unlink(st->base, path);
	if (!rc && backup) {
		file_rename(st, path, backup);
		rc = dirop_record(st, DIROP_UNLINK, path, NULL, backup);
	} else if (!rc) {
		file_forget(st, path);
	} else if (backup) {
		unlink(backup);
		free(backup);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_mkdir(const struct lsm_io *io, const char *path, mode_t mode)
{
	struct faulty_io_state *st = st_of(io);
	int rc = fio_begin(st, FIO_MKDIR);

	if (rc)
		return rc;
	rc = st->base->mkdir(st->base, path, mode);
	pthread_mutex_lock(&st->mu);
	fio_end(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* The pending change D is durable: drops its backup and frees it. */
static void dirop_commit(struct faulty_io_state *st, struct fio_dirop *d)
{
	if (d->backup) {
		unlink(d->backup);
		file_forget(st, d->backup);
	}
	free(d->path);
	free(d->to);
	free(d->backup);
}

/* DIR was synced: creates, unlinks and renames into it are durable. */
static void dir_commit(struct faulty_io_state *st, const char *dir)
{
	size_t i, kept = 0;

	for (i = 0; i < st->ndirops; i++) {
		struct fio_dirop *d = &st->dirops[i];

		if (in_dir(d->kind == DIROP_RENAME ? d->to : d->path, dir))
			dirop_commit(st, d);
		else
			st->dirops[kept++] = *d;
	}
	st->ndirops = kept;
}

static int fio_sync_dir(const struct lsm_io *io, const char *path)
{
	struct faulty_io_state *st = st_of(io);
	char dir[4096];
	size_t n = strlen(path);
	int rc;

	while (n > 1 && path[n - 1] == '/')
		n--;
	snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
	pthread_mutex_lock(&st->mu);
	rc = fio_check(st, FIO_SYNC_DIR);
	if (!rc)
		rc = st->base->sync_dir(st->base, path);
	if (!rc)
		dir_commit(st, dir);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_list_dir(const struct lsm_io *io, const char *dir,
			char ***names, size_t *count)
{
	struct faulty_io_state *st = st_of(io);
	size_t i, kept = 0;
	int rc = st->base->list_dir(st->base, dir, names, count);

	if (rc < 0)
		return rc;
	for (i = 0; i < *count; i++) {
		char *name = (*names)[i];

		if (!strncmp(name, BACKUP_PREFIX, strlen(BACKUP_PREFIX)))
			free(name);
		else
			(*names)[kept++] = name;
	}
	*count = kept;
	return 0;
}

/* Allocation only (the size stays), so the power-cut model ignores it;
 * not counted and never failed but after a cut. */
static int fio_preallocate(const struct lsm_io *io, int fd, uint64_t off,
			   uint64_t len)
{
	struct faulty_io_state *st = st_of(io);
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	if (st->dead)
		rc = -EIO;
	else
		st->inflight++;
	pthread_mutex_unlock(&st->mu);
	if (rc)
		return rc;
	rc = st->base->preallocate(st->base, fd, off, len);
	pthread_mutex_lock(&st->mu);
	fio_end(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_lock(const struct lsm_io *io, int fd)
{
	struct faulty_io_state *st = st_of(io);

	return st->base->lock(st->base, fd);
}

/* ---- the public functions ---- */

struct faulty_io *faulty_io_new(const struct lsm_io *base)
{
	struct faulty_io *fio = calloc(1, sizeof(*fio));
	struct faulty_io_state *st = calloc(1, sizeof(*st));

	if (!fio || !st || pthread_mutex_init(&st->mu, NULL)) {
		free(fio);
		free(st);
		return NULL;
	}
	if (pthread_cond_init(&st->drained, NULL)) {
		pthread_mutex_destroy(&st->mu);
		free(fio);
		free(st);
		return NULL;
	}
	st->base = base;
	fio->st = st;
	fio->io = (struct lsm_io){
		.open = fio_open, .close = fio_close, .pread = fio_pread,
		.pwrite = fio_pwrite, .pwritev = fio_pwritev, .fsync = fio_fsync,
		.ftruncate = fio_ftruncate, .fsize = fio_fsize,
		.rename = fio_rename, .unlink = fio_unlink,
		.mkdir = fio_mkdir, .sync_dir = fio_sync_dir,
		.list_dir = fio_list_dir, .lock = fio_lock, .ctx = st,
	};
	return fio;
}

/* The mapping, emulated: the window is a buffer of the wrapper's, and
 * what the engine says it stored there reaches the file as a pwrite
 * through this io (counted, failed and lost at a cut like any other).
 * The file is first extended to the window's end, as fallocate does. */
static int fio_map(const struct lsm_io *io, int fd, uint64_t off,
		   size_t len, void **addr)
{
	uint64_t size;
	void *p;
	int rc = fio_fsize(io, fd, &size);

	if (rc == 0 && size < off + len)
		rc = fio_ftruncate(io, fd, off + len);
	if (rc < 0)
		return rc;
	p = calloc(1, len);
	if (!p)
		return -ENOMEM;
	*addr = p;
	return 0;
}

/* Stores land inside the size the mapping made (and an fsync may have
 * made durable, zeros and all): an overwrite in place, which the
 * append-only model of a cut does not see.  So the bytes from FROM on
 * stop counting as durable until the next fsync; a cut may then leave
 * the file anywhere from FROM on, shorter than the window (which reads as
 * the zeros would). */
static int fio_map_stored(const struct lsm_io *io, int fd, void *addr,
			  uint64_t off, uint64_t from, uint64_t to)
{
	struct faulty_io_state *st = st_of(io);
	struct fio_file *f;
	int rc = lsm_io_write_full(io, fd, (uint8_t *)addr + (from - off),
				   (size_t)(to - from), from);

	pthread_mutex_lock(&st->mu);
	f = file_of_fd(st, fd);
	if (f && f->durable > from)
		f->durable = from;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static int fio_unmap(const struct lsm_io *io, int fd, void *addr,
		     size_t len)
{
	(void)io;
	(void)fd;
	(void)len;
	free(addr);
	return 0;
}

void faulty_io_allow_map(struct faulty_io *fio)
{
	fio->io.map = fio_map;
	fio->io.map_stored = fio_map_stored;
	fio->io.unmap = fio_unmap;
}

void faulty_io_allow_preallocate(struct faulty_io *fio)
{
	if (fio->st->base->preallocate)
		fio->io.preallocate = fio_preallocate;
}

/* Forgets every tracked file and pending change (removing backups, which
 * makes the changes durable). */
static void fio_forget_all(struct faulty_io_state *st)
{
	for (size_t i = 0; i < st->ndirops; i++)
		dirop_commit(st, &st->dirops[i]);
	st->ndirops = 0;
	for (size_t i = 0; i < st->nfiles; i++)
		free(st->files[i].path);
	st->nfiles = 0;
	st->nfds = 0;
}

void faulty_io_free(struct faulty_io *fio)
{
	struct faulty_io_state *st;

	if (!fio)
		return;
	st = fio->st;
	fio_forget_all(st);
	free(st->files);
	free(st->fds);
	free(st->dirops);
	pthread_cond_destroy(&st->drained);
	pthread_mutex_destroy(&st->mu);
	free(st);
	free(fio);
}

void faulty_io_fail_nth(struct faulty_io *fio, enum fio_op op,
			unsigned long nth, int err, bool persistent)
{
	struct faulty_io_state *st = fio->st;
	struct fio_fault *f;

	if ((unsigned)op >= FIO_NOPS)
		return;
	pthread_mutex_lock(&st->mu);
	f = &st->fault[op];
	f->armed = nth > 0 && err != 0;
	f->left = nth;
	f->err = err > 0 ? -err : err;
	f->firing = false;
	f->persistent = persistent;
	pthread_mutex_unlock(&st->mu);
}

void faulty_io_short_writes(struct faulty_io *fio, bool on)
{
	pthread_mutex_lock(&fio->st->mu);
	fio->st->short_writes = on;
	pthread_mutex_unlock(&fio->st->mu);
}

unsigned long faulty_io_count(struct faulty_io *fio, enum fio_op op)
{
	unsigned long n;

	if ((unsigned)op >= FIO_NOPS)
		return 0;
	pthread_mutex_lock(&fio->st->mu);
	n = fio->st->count[op];
	pthread_mutex_unlock(&fio->st->mu);
	return n;
}

void faulty_io_reset(struct faulty_io *fio)
{
	struct faulty_io_state *st = fio->st;

	pthread_mutex_lock(&st->mu);
	memset(st->fault, 0, sizeof(st->fault));
	st->short_writes = false;
	st->dead = false;
	pthread_mutex_unlock(&st->mu);
}

/* The choices of a random power cut (splitmix64); a NULL one loses all. */
struct cut_rng {
	unsigned long long x;
};

static unsigned long long cut_below(struct cut_rng *r, unsigned long long n)
{
	unsigned long long z;

	if (!r || n == 0)
		return 0;
	z = (r->x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (z ^ (z >> 31)) % n;
}

/* How many of N pending things (bytes, changes) survive: none, all or
 * some, a third of the time each. */
static unsigned long long cut_keep(struct cut_rng *r, unsigned long long n)
{
	switch (cut_below(r, 3)) {
	case 1:
		return n;
	case 2:
		return cut_below(r, n + 1);
	default:
		return 0;
	}
}

/* Takes back the pending change D; first error or 0. */
static int dirop_undo(struct faulty_io_state *st, struct fio_dirop *d)
{
	int rc = 0;

	switch (d->kind) {
	case DIROP_CREATE:
		if (unlink(d->path) < 0 && errno != ENOENT)
			rc = -errno;
		file_forget(st, d->path);
		break;
	case DIROP_RENAME:
		if (rename(d->to, d->path) == 0)
			file_rename(st, d->to, d->path);
		else if (errno != ENOENT)
			rc = -errno;
		if (d->backup && rename(d->backup, d->to) == 0)
			file_rename(st, d->backup, d->to);
		else if (d->backup && !rc)
			rc = -errno;
		break;
	case DIROP_UNLINK:
		if (rename(d->backup, d->path) == 0)
			file_rename(st, d->backup, d->path);
		else
			rc = -errno;
		break;
	}
	free(d->backup);
	d->backup = NULL; /* consumed */
	return rc;
}

/* Keeps the oldest of the pending changes (all but the newest ones, as R
 * chooses) and undoes the others, newest first; first error or 0. */
static int undo_dirops(struct faulty_io_state *st, struct cut_rng *r)
{
	size_t keep = (size_t)cut_keep(r, st->ndirops);
	int rc = 0, e;

	for (size_t i = st->ndirops; i-- > keep;) {
		e = dirop_undo(st, &st->dirops[i]);
		if (e && !rc)
			rc = e;
	}
	return rc;
}

/* Writes LEN zero bytes at OFF of PATH; 0 or -errno. */
static int zero_range(const char *path, unsigned long long off,
		      unsigned long long len)
{
	static const char zeros[4096];
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	while (len > 0 && rc == 0) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w <= 0)
			rc = w < 0 ? -errno : -EIO;
		off += (unsigned long long)(w > 0 ? w : 0);
		len -= (unsigned long long)(w > 0 ? w : 0);
	}
	close(fd);
	return rc;
}

/* Rolls one tracked file back to what survives (its synced bytes, and
 * with R perhaps some of the rest, perhaps as zeros); 0 or -errno. */
static int roll_back(const struct fio_file *f, struct cut_rng *r)
{
	unsigned long long size, keep, data;
	struct stat sb;
	int rc;

	if (!f->path || !f->written || stat(f->path, &sb) < 0)
		return 0;
	size = (unsigned long long)sb.st_size;
	if (size <= f->durable)
		return 0;
	keep = f->durable + cut_keep(r, size - f->durable);
	data = keep;
	if (r && cut_below(r, 4) == 0) /* the size made it, not the data */
		data = f->durable + cut_below(r, keep - f->durable + 1);
	if (keep < size && truncate(f->path, (off_t)keep) < 0)
		return -errno;
	rc = data < keep ? zero_range(f->path, data, keep - data) : 0;
	return rc;
}

static int power_cut(struct faulty_io *fio, struct cut_rng *r)
{
	struct faulty_io_state *st = fio->st;
	int rc, e;

	pthread_mutex_lock(&st->mu);
	st->dead = true; /* from now on nothing more reaches the disk */
	while (st->inflight > 0)
		pthread_cond_wait(&st->drained, &st->mu);
	rc = undo_dirops(st, r);
	for (size_t i = 0; i < st->nfiles; i++) {
		e = roll_back(&st->files[i], r);
		if (e && !rc)
			rc = e;
	}
	fio_forget_all(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int faulty_io_power_cut(struct faulty_io *fio)
{
	return power_cut(fio, NULL);
}

int faulty_io_power_cut_random(struct faulty_io *fio, unsigned long long seed)
{
	struct cut_rng r = { seed };

	return power_cut(fio, &r);
}
