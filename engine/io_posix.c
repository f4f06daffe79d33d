/* io_posix.c - the default struct lsm_io over POSIX calls, and the
 * short-transfer loops every caller uses.  Descriptors are opened
 * O_CLOEXEC; EINTR is retried; errors come back as -errno, never printed.
 * fsync() (not fdatasync) is used because a log that grows needs its new
 * size on disk too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lsm_io.h"

static int posix_open(const struct lsm_io *io, const char *path, int flags,
		      mode_t mode, int *fd)
{
	int r;

	(void)io;
	do
		r = open(path, flags | O_CLOEXEC, mode);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	*fd = r;
	return 0;
}

/* Linux releases the descriptor even when close() fails with EINTR, so
 * close is never retried; EINTR is not an error. */
static int posix_close(const struct lsm_io *io, int fd)
{
	(void)io;
	if (close(fd) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static size_t clamp_io(size_t n)
{
	return n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n;
}

/* pread and pwrite as plain system calls.  glibc's wrappers are
 * cancellation points, and each call brackets the system call with two
 * atomic updates of the thread's cancellation state; nothing here is ever
 * cancelled, and for the log's append of one small record (every
 * unsynced put) those two cost about 4% of the writer's time (perf,
 * fillseq).  On 64-bit Linux the offset is one argument; elsewhere the
 * wrappers stay. */
#if defined(__linux__) && defined(__LP64__) && defined(SYS_pread64) && \
	defined(SYS_pwrite64)
static ssize_t sys_pread(int fd, void *buf, size_t n, off_t off)
{
	return syscall(SYS_pread64, fd, buf, n, off);
}

static ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return syscall(SYS_pwrite64, fd, buf, n, off);
}
#else
#define sys_pread pread
#define sys_pwrite pwrite
#endif

static ssize_t posix_pread(const struct lsm_io *io, int fd, void *buf,
			   size_t n, uint64_t off)
{
	ssize_t r;

	(void)io;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	do
		r = sys_pread(fd, buf, clamp_io(n), (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t posix_pwrite(const struct lsm_io *io, int fd, const void *buf,
			    size_t n, uint64_t off)
{
	ssize_t r;

	(void)io;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	do
		r = sys_pwrite(fd, buf, clamp_io(n), (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t posix_pwritev(const struct lsm_io *io, int fd,
			     const struct iovec *iov, int cnt, uint64_t off)
{
	ssize_t r;

	(void)io;
	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	do
		r = pwritev(fd, iov, cnt, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int posix_fsync(const struct lsm_io *io, int fd)
{
	int r;

	(void)io;
	do
		r = fsync(fd);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int posix_ftruncate(const struct lsm_io *io, int fd, uint64_t len)
{
	int r;

	(void)io;
	if (len > (uint64_t)INT64_MAX)
		return -EINVAL;
	do
		r = ftruncate(fd, (off_t)len);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int posix_fsize(const struct lsm_io *io, int fd, uint64_t *size)
{
	struct stat st;

	(void)io;
	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int posix_rename(const struct lsm_io *io, const char *from,
			const char *to)
{
	(void)io;
	return rename(from, to) < 0 ? -errno : 0;
}

static int posix_unlink(const struct lsm_io *io, const char *path)
{
	(void)io;
	return unlink(path) < 0 ? -errno : 0;
}

static int posix_mkdir(const struct lsm_io *io, const char *path, mode_t mode)
{
	(void)io;
	return mkdir(path, mode) < 0 ? -errno : 0;
}

/* Directory descriptors kept open between syncs: Linux reports a
 * writeback error of a directory only to descriptors that were open when
 * it happened, so a descriptor opened anew for each sync would never see
 * an earlier one.  A few directories, checked by (device, inode) so that a
 * directory removed and made again under the same name gets a fresh one. */
#define DIR_FDS 8

static struct {
	pthread_mutex_t mu;
	struct dir_fd {
		char *path;
		int fd;
		dev_t dev;
		ino_t ino;
	} e[DIR_FDS];
	unsigned next; /* round-robin victim */
} dir_fds = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* An open descriptor of PATH (a dup the caller closes), or -errno. */
static int dir_fd_get(const char *path)
{
	struct stat st;
	struct dir_fd *d = NULL;
	int fd;

	if (stat(path, &st) < 0)
		return -errno;
	pthread_mutex_lock(&dir_fds.mu);
	for (unsigned i = 0; i < DIR_FDS; i++)
		if (dir_fds.e[i].path && !strcmp(dir_fds.e[i].path, path))
			d = &dir_fds.e[i];
	if (d && (d->dev != st.st_dev || d->ino != st.st_ino)) {
		close(d->fd); /* replaced since: start over */
		free(d->path);
		d->path = NULL;
		d = NULL;
	}
	if (!d) {
		d = &dir_fds.e[dir_fds.next++ % DIR_FDS];
		if (d->path) {
			close(d->fd);
			free(d->path);
		}
		d->path = strdup(path);
		d->fd = d->path ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
				: -1;
		if (d->fd < 0) {
			fd = d->path ? -errno : -ENOMEM;
			free(d->path);
			d->path = NULL;
			pthread_mutex_unlock(&dir_fds.mu);
			return fd;
		}
		d->dev = st.st_dev;
		d->ino = st.st_ino;
	}
	fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		fd = -errno;
	pthread_mutex_unlock(&dir_fds.mu);
	return fd;
}

static int posix_sync_dir(const struct lsm_io *io, const char *path)
{
	int fd = dir_fd_get(path), rc;

	if (fd < 0)
		return fd;
	/* A dup shares the open file description, and with it the error
	 * state fsync reports. */
	rc = posix_fsync(io, fd);
	close(fd);
	return rc;
}

static int names_push(char ***names, size_t *count, size_t *cap,
		      const char *name)
{
	char *copy = strdup(name);
	char **v;

	if (!copy)
		return -ENOMEM;
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		v = realloc(*names, ncap * sizeof(*v));
		if (!v) {
			free(copy);
			return -ENOMEM;
		}
		*names = v;
		*cap = ncap;
	}
	(*names)[(*count)++] = copy;
	return 0;
}

static int posix_list_dir(const struct lsm_io *io, const char *dir,
			  char ***names, size_t *count)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	(void)io;
	d = opendir(dir);
	if (!d)
		return -errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = names_push(&v, &n, &cap, de->d_name);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc < 0) {
		lsm_io_free_names(v, n);
		return rc;
	}
	*names = v;
	*count = n;
	return 0;
}

static int posix_lock(const struct lsm_io *io, int fd)
{
	int r;

	(void)io;
	do
		r = flock(fd, LOCK_EX | LOCK_NB);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int posix_preallocate(const struct lsm_io *io, int fd, uint64_t off,
			     uint64_t len)
{
	int r;

	(void)io;
	do
		r = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static void posix_start_writeback(const struct lsm_io *io, int fd,
				  uint64_t off, uint64_t len)
{
	(void)io;
#ifdef SYNC_FILE_RANGE_WRITE
	(void)sync_file_range(fd, (off_t)off, (off_t)len,
			      SYNC_FILE_RANGE_WRITE);
#else
	(void)fd;
	(void)off;
	(void)len;
#endif
}

/* Filesystems where blocks allocated by fallocate take stores through a
 * shared mapping without allocating again: a store there cannot fail for
 * lack of space (which would be a SIGBUS).  Copy-on-write filesystems
 * (btrfs, bcachefs) allocate at writeback, network ones may fail at
 * fault time: they are not listed. */
static bool map_safe_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case 0xEF53UL:     /* ext2/3/4 */
	case 0x58465342UL: /* xfs */
	case 0x01021994UL: /* tmpfs */
		return true;
	default:
		return false;
	}
}

static int posix_map(const struct lsm_io *io, int fd, uint64_t off,
		     size_t len, void **addr)
{
	void *p;
	int r;

	(void)io;
	if ((off & 4095) || !len || !map_safe_fs(fd))
		return -EOPNOTSUPP;
	do
		r = fallocate(fd, 0, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

static int posix_unmap(const struct lsm_io *io, int fd, void *addr,
		       size_t len)
{
	(void)io;
	(void)fd;
	return munmap(addr, len) < 0 ? -errno : 0;
}

/* Rewrites the byte before END with its own value: a write(2) raises
 * IN_MODIFY for the readers that tail the file, and the bytes stay. */
static void posix_map_notify(const struct lsm_io *io, int fd, uint64_t end)
{
	uint8_t b;

	(void)io;
	if (end && pread(fd, &b, 1, (off_t)(end - 1)) == 1)
		(void)!pwrite(fd, &b, 1, (off_t)(end - 1));
}

static const struct lsm_io posix_io = {
	.open = posix_open,
	.close = posix_close,
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.fsync = posix_fsync,
	.ftruncate = posix_ftruncate,
	.fsize = posix_fsize,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.mkdir = posix_mkdir,
	.sync_dir = posix_sync_dir,
	.list_dir = posix_list_dir,
	.lock = posix_lock,
	.preallocate = posix_preallocate,
	.ctx = NULL,
	.start_writeback = posix_start_writeback,
	.map = posix_map,
	.map_stored = NULL,
	.unmap = posix_unmap,
	.map_notify = posix_map_notify,
	.pwritev = posix_pwritev,
};

const struct lsm_io *lsm_io_posix(void)
{
	return &posix_io;
}

void lsm_io_free_names(char **names, size_t count)
{
	if (!names)
		return;
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int lsm_io_write_full(const struct lsm_io *io, int fd, const void *buf,
		      size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = io->pwrite(io, fd, p, n, off);

		if (r < 0)
			return (int)r;
		if (r == 0) /* no progress and no error: do not spin */
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int lsm_io_writev_full(const struct lsm_io *io, int fd, struct iovec *iov,
		       size_t cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = io->pwritev(io, fd, iov,
					cnt > IOV_MAX ? IOV_MAX : (int)cnt, off);

		if (r < 0)
			return (int)r;
		if (r == 0 && iov->iov_len > 0) /* no progress, no error */
			return -EIO;
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) { /* a short write inside this buffer */
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

int lsm_io_read_full(const struct lsm_io *io, int fd, void *buf, size_t n,
		     uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = io->pread(io, fd, p, n, off);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EUCLEAN;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int lsm_io_path_size(const struct lsm_io *io, const char *path,
		     uint64_t *size)
{
	int fd, rc = io->open(io, path, O_RDONLY, 0, &fd);

	if (rc < 0)
		return rc;
	rc = io->fsize(io, fd, size);
	io->close(io, fd);
	return rc;
}
