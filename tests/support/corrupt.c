/* corrupt.c - damage files on purpose (flip, fill, truncate) and read or
 * write them whole, for tests of checksums and recovery.  Offsets may be
 * negative, counting from the end of the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Resolves OFF (negative: from the end) against PATH's size; checks that
 * [off, off + n) lies within the file. */
static int resolve(const char *path, long long off, size_t n, off_t *out)
{
	long long size = file_size(path);

	if (size < 0)
		return -errno;
	if (off < 0)
		off += size;
	if (off < 0 || off > size || (unsigned long long)(size - off) < n)
		return -ERANGE;
	*out = (off_t)off;
	return 0;
}

static int pio_full(int fd, void *p, size_t n, off_t off, bool wr)
{
	char *b = p;

	while (n > 0) {
		ssize_t r = wr ? pwrite(fd, b, n, off) : pread(fd, b, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		b += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int corrupt_flip(const char *path, long long off, uint8_t mask)
{
	uint8_t c;
	off_t at;
	int fd, rc = resolve(path, off, 1, &at);

	if (rc < 0)
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = pio_full(fd, &c, 1, at, false);
	if (rc == 0) {
		c ^= mask;
		rc = pio_full(fd, &c, 1, at, true);
	}
	close(fd);
	return rc;
}

int corrupt_truncate(const char *path, long long len)
{
	long long size = file_size(path);

	if (size < 0)
		return -errno;
	if (len < 0)
		len += size;
	if (len < 0)
		return -ERANGE;
	return truncate(path, (off_t)len) < 0 ? -errno : 0;
}

int corrupt_fill(const char *path, long long off, size_t n, uint8_t byte)
{
	uint8_t *b;
	off_t at;
	int fd, rc = resolve(path, off, n, &at);

	if (rc < 0 || n == 0)
		return rc;
	b = malloc(n);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		b[i] = byte;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	rc = fd < 0 ? -errno : pio_full(fd, b, n, at, true);
	if (fd >= 0)
		close(fd);
	free(b);
	return rc;
}

void *file_read_all(const char *path, size_t *len)
{
	long long size = file_size(path);
	uint8_t *b;
	int fd;

	if (size < 0)
		return NULL;
	b = malloc(size ? (size_t)size : 1);
	if (!b)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pio_full(fd, b, (size_t)size, 0, false) < 0) {
		if (fd >= 0)
			close(fd);
		free(b);
		return NULL;
	}
	close(fd);
	if (len)
		*len = (size_t)size;
	return b;
}

int file_write_all(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc;

	if (fd < 0)
		return -errno;
	rc = pio_full(fd, (void *)p, len, 0, true);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}
