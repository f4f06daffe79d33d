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
 * writing off for that.
 *
 * The reader also paces FORGETs.  With the rings serving requests, what
 * still comes over /dev/fuse is mostly the kernel's FORGETs, one message
 * per inode it drops while they come one at a time, and each wakes this
 * thread: an rm -rf of a 40K-entry tree spent a third of the daemon's
 * time reading them.  After a FORGET the reader waits -o forget_wait_us
 * before it reads again; the kernel meanwhile queues the next ones and
 * hands them over as one BATCH_FORGET.  Without rings every request
 * comes this way, and nothing waits. */
#include <errno.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

void fs_tmpfile_fix(struct fuse_in_header *h)
{
	if (h->opcode == FUSE_TMPFILE)
		h->opcode = FUSE_CREATE;
}

/* Did this thread's last read return a FORGET or a BATCH_FORGET? */
static _Thread_local bool after_forget;

/* The pause before a read that follows a FORGET, when rings serve the
 * requests (see above). */
static void forget_wait(struct lsmfs *fs)
{
	struct timespec ts;

	if (!after_forget || !fs->forget_wait_us ||
	    !atomic_load_explicit(&fs->uring, memory_order_acquire))
		return;
	ts.tv_sec = fs->forget_wait_us / 1000000;
	ts.tv_nsec = (long)(fs->forget_wait_us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static ssize_t tmpfile_read(int fd, void *buf, size_t len, void *userdata)
{
	struct lsmfs *fs = userdata;
	const struct fuse_in_header *h = buf;
	ssize_t n;

	forget_wait(fs);
	n = read(fd, buf, len);
	after_forget = false;
	if (n >= (ssize_t)sizeof(*h)) {
		after_forget = h->opcode == FUSE_FORGET ||
			       h->opcode == FUSE_BATCH_FORGET;
		if (after_forget)
			atomic_fetch_add_explicit(&fs->cnt.forget_msgs, 1,
						  memory_order_relaxed);
		fs_tmpfile_fix(buf);
	}
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
