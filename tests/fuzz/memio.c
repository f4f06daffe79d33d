/* memio.c - see memio.h.  Files are reference counted so that an unlinked
 * or renamed-over file stays readable through descriptors still open on
 * it, as on POSIX. */
#include "memio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct mfile {
	char *path;    /* NULL once unlinked or replaced */
	uint8_t *data;
	size_t len, cap;
	int refs;      /* one for the name, one per open descriptor */
};

struct memfs {
	pthread_mutex_t mu; /* the engine's flush thread shares the files */
	struct mfile **files; /* named files */
	size_t nfiles, cap_files;
	struct mfile **fds;   /* descriptor -> file, NULL when closed */
	size_t nfds;
};

static struct memfs *fs_of(const struct lsm_io *io)
{
	return io->ctx;
}

static void mfile_unref(struct mfile *f)
{
	if (!f || --f->refs > 0)
		return;
	free(f->path);
	free(f->data);
	free(f);
}

static size_t find(const struct memfs *fs, const char *path)
{
	size_t i;

	for (i = 0; i < fs->nfiles; i++)
		if (!strcmp(fs->files[i]->path, path))
			return i;
	return SIZE_MAX;
}

/* Drops the name of file I. */
static void unname(struct memfs *fs, size_t i)
{
	struct mfile *f = fs->files[i];

	free(f->path);
	f->path = NULL;
	fs->files[i] = fs->files[--fs->nfiles];
	mfile_unref(f);
}

static struct mfile *create(struct memfs *fs, const char *path)
{
	struct mfile *f;

	if (fs->nfiles == fs->cap_files) {
		size_t ncap = fs->cap_files ? 2 * fs->cap_files : 16;
		struct mfile **n = realloc(fs->files, ncap * sizeof(*n));

		if (!n)
			return NULL;
		fs->files = n;
		fs->cap_files = ncap;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		return NULL;
	}
	f->refs = 1;
	fs->files[fs->nfiles++] = f;
	return f;
}

static int reserve(struct mfile *f, size_t len)
{
	uint8_t *d;
	size_t ncap;

	if (len <= f->cap)
		return 0;
	ncap = f->cap ? f->cap : 256;
	while (ncap < len)
		ncap *= 2;
	d = realloc(f->data, ncap);
	if (!d)
		return -ENOMEM;
	f->data = d;
	f->cap = ncap;
	return 0;
}

static struct mfile *file_at(const struct lsm_io *io, int fd)
{
	struct memfs *fs = fs_of(io);

	if (fd < 0 || (size_t)fd >= fs->nfds)
		return NULL;
	return fs->fds[fd];
}

static int op_open(const struct lsm_io *io, const char *path, int flags,
		  mode_t mode, int *fd)
{
	struct memfs *fs = fs_of(io);
	size_t i = find(fs, path), slot;
	struct mfile *f;

	(void)mode;
	if (i != SIZE_MAX && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (i == SIZE_MAX && !(flags & O_CREAT))
		return -ENOENT;
	for (slot = 0; slot < fs->nfds && fs->fds[slot]; slot++)
		;
	if (slot == fs->nfds) {
		struct mfile **n = realloc(fs->fds, (slot + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		fs->fds = n;
		fs->nfds++;
		fs->fds[slot] = NULL;
	}
	f = i == SIZE_MAX ? create(fs, path) : fs->files[i];
	if (!f)
		return -ENOMEM;
	if (flags & O_TRUNC)
		f->len = 0;
	f->refs++;
	fs->fds[slot] = f;
	*fd = (int)slot;
	return 0;
}

static int op_close(const struct lsm_io *io, int fd)
{
	struct mfile *f = file_at(io, fd);

	if (!f)
		return -EBADF;
	fs_of(io)->fds[fd] = NULL;
	mfile_unref(f);
	return 0;
}

static ssize_t op_pread(const struct lsm_io *io, int fd, void *buf, size_t n,
		       uint64_t off)
{
	struct mfile *f = file_at(io, fd);

	if (!f)
		return -EBADF;
	if (off >= f->len)
		return 0;
	if (n > f->len - off)
		n = (size_t)(f->len - off);
	if (n)
		memcpy(buf, f->data + off, n);
	return (ssize_t)n;
}

static ssize_t op_pwrite(const struct lsm_io *io, int fd, const void *buf,
			size_t n, uint64_t off)
{
	struct mfile *f = file_at(io, fd);

	if (!f)
		return -EBADF;
	if (off > (64u << 20) || n > (64u << 20))
		return -EFBIG; /* the targets never need more */
	if (reserve(f, (size_t)off + n) < 0)
		return -ENOMEM;
	if (off > f->len)
		memset(f->data + f->len, 0, (size_t)off - f->len);
	if (n)
		memcpy(f->data + off, buf, n);
	if (off + n > f->len)
		f->len = (size_t)off + n;
	return (ssize_t)n;
}

static int op_fsync(const struct lsm_io *io, int fd)
{
	return file_at(io, fd) ? 0 : -EBADF;
}

static int op_ftruncate(const struct lsm_io *io, int fd, uint64_t len)
{
	struct mfile *f = file_at(io, fd);

	if (!f)
		return -EBADF;
	if (len > (64u << 20))
		return -EFBIG;
	if (reserve(f, (size_t)len) < 0)
		return -ENOMEM;
	if (len > f->len)
		memset(f->data + f->len, 0, (size_t)len - f->len);
	f->len = (size_t)len;
	return 0;
}

static int op_fsize(const struct lsm_io *io, int fd, uint64_t *size)
{
	struct mfile *f = file_at(io, fd);

	if (!f)
		return -EBADF;
	*size = f->len;
	return 0;
}

static int op_rename(const struct lsm_io *io, const char *from, const char *to)
{
	struct memfs *fs = fs_of(io);
	size_t i = find(fs, from), j;
	char *name;

	if (i == SIZE_MAX)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	name = strdup(to);
	if (!name)
		return -ENOMEM;
	j = find(fs, to);
	if (j != SIZE_MAX) {
		unname(fs, j);
		i = find(fs, from); /* unname moves entries */
	}
	free(fs->files[i]->path);
	fs->files[i]->path = name;
	return 0;
}

static int op_unlink(const struct lsm_io *io, const char *path)
{
	struct memfs *fs = fs_of(io);
	size_t i = find(fs, path);

	if (i == SIZE_MAX)
		return -ENOENT;
	unname(fs, i);
	return 0;
}

static int m_mkdir(const struct lsm_io *io, const char *path, mode_t mode)
{
	(void)io;
	(void)path;
	(void)mode;
	return 0;
}

static int m_sync_dir(const struct lsm_io *io, const char *path)
{
	(void)io;
	(void)path;
	return 0;
}

/* The names of the files directly in DIR. */
static int op_list_dir(const struct lsm_io *io, const char *dir,
		      char ***names, size_t *count)
{
	struct memfs *fs = fs_of(io);
	size_t dlen = strlen(dir), i, n = 0;
	char **v = calloc(fs->nfiles + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (i = 0; i < fs->nfiles; i++) {
		const char *p = fs->files[i]->path;

		if (strncmp(p, dir, dlen) || p[dlen] != '/' ||
		    strchr(p + dlen + 1, '/'))
			continue;
		if (!(v[n] = strdup(p + dlen + 1))) {
			lsm_io_free_names(v, n);
			return -ENOMEM;
		}
		n++;
	}
	*names = v;
	*count = n;
	return 0;
}

static int op_lock(const struct lsm_io *io, int fd)
{
	return file_at(io, fd) ? 0 : -EBADF;
}

/* ---- the locked entry points ---- */

#define LOCKED(call)                                                       \
	do {                                                               \
		struct memfs *fs_ = fs_of(io);                             \
		__typeof__(call) r_;                                       \
		pthread_mutex_lock(&fs_->mu);                              \
		r_ = call;                                                 \
		pthread_mutex_unlock(&fs_->mu);                            \
		return r_;                                                 \
	} while (0)

static int m_open(const struct lsm_io *io, const char *path, int flags,
		  mode_t mode, int *fd)
{
	LOCKED(op_open(io, path, flags, mode, fd));
}

static int m_close(const struct lsm_io *io, int fd)
{
	LOCKED(op_close(io, fd));
}

static ssize_t m_pread(const struct lsm_io *io, int fd, void *buf, size_t n,
		       uint64_t off)
{
	LOCKED(op_pread(io, fd, buf, n, off));
}

static ssize_t m_pwrite(const struct lsm_io *io, int fd, const void *buf,
			size_t n, uint64_t off)
{
	LOCKED(op_pwrite(io, fd, buf, n, off));
}

static int m_fsync(const struct lsm_io *io, int fd)
{
	LOCKED(op_fsync(io, fd));
}

static int m_ftruncate(const struct lsm_io *io, int fd, uint64_t len)
{
	LOCKED(op_ftruncate(io, fd, len));
}

static int m_fsize(const struct lsm_io *io, int fd, uint64_t *size)
{
	LOCKED(op_fsize(io, fd, size));
}

static int m_rename(const struct lsm_io *io, const char *from, const char *to)
{
	LOCKED(op_rename(io, from, to));
}

static int m_unlink(const struct lsm_io *io, const char *path)
{
	LOCKED(op_unlink(io, path));
}

static int m_list_dir(const struct lsm_io *io, const char *dir,
		      char ***names, size_t *count)
{
	LOCKED(op_list_dir(io, dir, names, count));
}

static int m_lock(const struct lsm_io *io, int fd)
{
	LOCKED(op_lock(io, fd));
}

struct lsm_io *memio_new(void)
{
	struct lsm_io *io = calloc(1, sizeof(*io));
	struct memfs *fs = calloc(1, sizeof(*fs));

	if (!io || !fs) {
		free(io);
		free(fs);
		return NULL;
	}
	*io = (struct lsm_io){
		.open = m_open, .close = m_close, .pread = m_pread,
		.pwrite = m_pwrite, .fsync = m_fsync,
		.ftruncate = m_ftruncate, .fsize = m_fsize,
		.rename = m_rename, .unlink = m_unlink, .mkdir = m_mkdir,
		.sync_dir = m_sync_dir, .list_dir = m_list_dir,
		.lock = m_lock, .ctx = fs,
	};
	pthread_mutex_init(&fs->mu, NULL);
	return io;
}

void memio_free(struct lsm_io *io)
{
	struct memfs *fs;
	size_t i;

	if (!io)
		return;
	fs = io->ctx;
	for (i = 0; i < fs->nfds; i++)
		mfile_unref(fs->fds[i]);
	while (fs->nfiles)
		unname(fs, fs->nfiles - 1);
	free(fs->fds);
	free(fs->files);
	pthread_mutex_destroy(&fs->mu);
	free(fs);
	free(io);
}

static int op_put(struct lsm_io *io, const char *path, const void *p,
		  size_t n)
{
	struct memfs *fs = io->ctx;
	size_t i = find(fs, path);
	struct mfile *f = i == SIZE_MAX ? create(fs, path) : fs->files[i];

	if (!f || reserve(f, n) < 0)
		return -ENOMEM;
	if (n)
		memcpy(f->data, p, n);
	f->len = n;
	return 0;
}

int memio_put(struct lsm_io *io, const char *path, const void *p, size_t n)
{
	LOCKED(op_put(io, path, p, n));
}

static const uint8_t *op_get(const struct lsm_io *io, const char *path,
			     size_t *n)
{
	const struct memfs *fs = io->ctx;
	size_t i = find(fs, path);
	static const uint8_t empty[1];

	if (i == SIZE_MAX)
		return NULL;
	*n = fs->files[i]->len;
	return fs->files[i]->data ? fs->files[i]->data : empty;
}

const uint8_t *memio_get(const struct lsm_io *io, const char *path, size_t *n)
{
	LOCKED(op_get(io, path, n));
}

static size_t op_open_fds(const struct lsm_io *io)
{
	const struct memfs *fs = io->ctx;
	size_t i, n = 0;

	for (i = 0; i < fs->nfds; i++)
		n += fs->fds[i] != NULL;
	return n;
}

size_t memio_open_fds(const struct lsm_io *io)
{
	LOCKED(op_open_fds(io));
}
