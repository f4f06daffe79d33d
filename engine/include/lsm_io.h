/* lsm_io.h - the thin file-I/O seam under every engine file access.
 *
 * The engine never calls open/pread/pwrite/fsync/rename/... directly: it goes
 * through a struct lsm_io, so tests can inject EIO, ENOSPC, short writes and
 * failed fsyncs (tests/support/faulty_io.c) and lose unsynced bytes as a power
 * cut would.  lsm_io_posix() is the default.  Every function returns 0 (or a
 * byte count) on success and a negative errno on failure; none prints.
 */
#ifndef LSM_IO_H
#define LSM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct lsm_io {
	/* open(2) with FLAGS/MODE; *FD receives the descriptor. */
	int (*open)(const struct lsm_io *io, const char *path, int flags,
		    mode_t mode, int *fd);
	int (*close)(const struct lsm_io *io, int fd);
	/* Reads up to N bytes at OFF; returns bytes read (0 at EOF) or -errno.
	 * May return fewer than N bytes before EOF (callers loop). */
	ssize_t (*pread)(const struct lsm_io *io, int fd, void *buf, size_t n,
			 uint64_t off);
	/* Writes up to N bytes at OFF; returns bytes written or -errno.  May
	 * be short (callers loop). */
	ssize_t (*pwrite)(const struct lsm_io *io, int fd, const void *buf,
			  size_t n, uint64_t off);
	int (*fsync)(const struct lsm_io *io, int fd); /* data + size */
	int (*ftruncate)(const struct lsm_io *io, int fd, uint64_t len);
	int (*fsize)(const struct lsm_io *io, int fd, uint64_t *size);
	int (*rename)(const struct lsm_io *io, const char *from, const char *to);
	int (*unlink)(const struct lsm_io *io, const char *path);
	int (*mkdir)(const struct lsm_io *io, const char *path, mode_t mode);
	/* fsync of a directory, so that creates/renames/unlinks in it last. */
	int (*sync_dir)(const struct lsm_io *io, const char *path);
	/* Lists the names in DIR (no "." or ".."): *NAMES is a malloc'ed
	 * array of *COUNT malloc'ed strings; free with lsm_io_free_names. */
	int (*list_dir)(const struct lsm_io *io, const char *dir, char ***names,
			size_t *count);
	/* Exclusive non-blocking advisory lock on an open FD (-EWOULDBLOCK
	 * or -EAGAIN when held elsewhere). */
	int (*lock)(const struct lsm_io *io, int fd);
	/* Allocates blocks for [OFF, OFF + LEN) without changing the file
	 * size (fallocate FALLOC_FL_KEEP_SIZE), so later writes there cannot
	 * fail for lack of space.  May be NULL (no preallocation); may fail
	 * with -EOPNOTSUPP where the filesystem cannot. */
	int (*preallocate)(const struct lsm_io *io, int fd, uint64_t off,
			   uint64_t len);
	void *ctx; /* for wrappers */
	/* Starts writing FD's dirty pages in [OFF, OFF + LEN) to the device
	 * without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so that
	 * the fsync ending a large file has little left to write.  A hint:
	 * it makes nothing durable, and it reports no error (the fsync
	 * does).  May be NULL (no hint).  (After ctx: older layouts stay
	 * valid.) */
	void (*start_writeback)(const struct lsm_io *io, int fd, uint64_t off,
				uint64_t len);

	/* Writing a file through a shared mapping (the log's small appends,
	 * engine/doc/wal.md).  All four may be NULL: without map the engine
	 * writes with pwrite only.
	 *
	 * map: makes FD's file at least OFF + LEN bytes long with blocks
	 * allocated for [OFF, OFF + LEN) (fallocate without KEEP_SIZE), so
	 * stores into the mapping cannot fail for lack of space, and maps
	 * that range shared and writable at *ADDR.  OFF is a multiple of
	 * 4096; FD was opened O_RDWR.  -EOPNOTSUPP where a store into a
	 * mapping could still fail (copy-on-write and network filesystems):
	 * the caller then writes with pwrite. */
	int (*map)(const struct lsm_io *io, int fd, uint64_t off, size_t len,
		   void **addr);
	/* The bytes [FROM, TO) of the file were stored through the mapping
	 * ADDR (made by map at OFF): called before an fsync that must cover
	 * them and before unmap.  posix has nothing to do (the stores are in
	 * the page cache already); a wrapper that emulates the mapping
	 * writes them to the file here. */
	int (*map_stored)(const struct lsm_io *io, int fd, void *addr,
			  uint64_t off, uint64_t from, uint64_t to);
	/* Ends a mapping made by map. */
	int (*unmap)(const struct lsm_io *io, int fd, void *addr, size_t len);
	/* Tells whoever watches the file (inotify IN_MODIFY) that its bytes
	 * before END changed, as a write would: stores into a mapping tell
	 * no one.  A hint; NULL where nothing watches. */
	void (*map_notify)(const struct lsm_io *io, int fd, uint64_t end);

	/* Writes the CNT buffers of IOV (CNT <= IOV_MAX), one after the
	 * other, at OFF, as pwritev(2): returns bytes written or -errno, and
	 * may be short (callers loop, lsm_io_writev_full).  May be NULL: the
	 * engine then copies the buffers into one and calls pwrite.  The log
	 * writes large groups of records this way, each record where its
	 * batch holds it, instead of copying them next to their headers. */
	ssize_t (*pwritev)(const struct lsm_io *io, int fd,
			   const struct iovec *iov, int cnt, uint64_t off);
};

const struct lsm_io *lsm_io_posix(void);
void lsm_io_free_names(char **names, size_t count);

/* Loops over short transfers: 0 when all N bytes were written/read,
 * -errno otherwise; lsm_io_read_full returns -EUCLEAN on early EOF. */
int lsm_io_write_full(const struct lsm_io *io, int fd, const void *buf,
		      size_t n, uint64_t off);
/* lsm_io_write_full of the CNT buffers of IOV (any number) with
 * io->pwritev, which must be set; IOV is consumed (its entries change). */
int lsm_io_writev_full(const struct lsm_io *io, int fd, struct iovec *iov,
		       size_t cnt, uint64_t off);
int lsm_io_read_full(const struct lsm_io *io, int fd, void *buf, size_t n,
		     uint64_t off);
/* The size of file PATH: 0 or -errno (-ENOENT when it is gone). */
int lsm_io_path_size(const struct lsm_io *io, const char *path,
		     uint64_t *size);

#endif /* LSM_IO_H */
