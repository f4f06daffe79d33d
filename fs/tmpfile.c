/* tmpfile.c - O_TMPFILE with libfuse 3.14, which predates FUSE_TMPFILE
 * (it answers ENOSYS, and the kernel then fails every O_TMPFILE with
 * EOPNOTSUPP).  The session reads requests through this reader, which
 * hands a FUSE_TMPFILE request on as the FUSE_CREATE it is shaped like
 * (the same fuse_create_in, the same entry + open reply); its name is
 * the kernel's "/", which no create can carry, so op_create knows it.
 * Needs requests read with read(2), not spliced: main.c's op_init keeps
 * FUSE_CAP_SPLICE_READ off.
 *
 * Every reply goes out through this writer too: one that answers a
 * request served over io_uring goes back on its ring (uring.c), never to
 * /dev/fuse, which knows nothing of it.  main.c's op_init keeps splice
 * writing off for that. */
#include <errno.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"

void fs_tmpfile_fix(struct fuse_in_header *h)
{
	if (h->opcode == FUSE_TMPFILE)
		h->opcode = FUSE_CREATE;
}

static ssize_t tmpfile_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n >= (ssize_t)sizeof(struct fuse_in_header))
		fs_tmpfile_fix(buf);
	fs_req_clock.op = 0; /* a new request: only its own fs_count times it */
	return n;
}

static ssize_t tmpfile_writev(int fd, struct iovec *iov, int count,
			      void *userdata)
{
	struct lsmfs *fs = userdata;
	struct fs_uring *u = atomic_load_explicit(&fs->uring,
						  memory_order_acquire);
	const struct fuse_out_header *oh = iov[0].iov_base;
	ssize_t n;

	if (count > 0 && iov[0].iov_len >= sizeof(*oh) && oh->unique != 0)
		fs_count_reply(fs); /* a reply, not a notification */
	if (u && (n = fs_uring_reply(u, iov, count)) != -ENOENT) {
		if (n >= 0)
			return n;
		errno = (int)-n;
		return -1;
	}
	return writev(fd, iov, count);
}

int fs_tmpfile_io(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = tmpfile_read,
		.writev = tmpfile_writev,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
