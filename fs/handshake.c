/* handshake.c - the FUSE INIT exchange, passed through libfuse so that
 * lsmfs can grant the kernel flags this libfuse cannot ask for.
 *
 * libfuse before 3.16 has no FUSE_CAP_HANDLE_KILLPRIV_V2, and without it
 * the kernel asks getxattr("security.capability") before every write(2)
 * and a getattr before every chown (a round trip each); libfuse before
 * 3.18 has no FUSE_OVER_IO_URING (uring.c serves it).  lsmfs reads the
 * kernel's INIT request itself, hands it to libfuse over a socket pair in
 * place of /dev/fuse (libfuse answers it as always and runs op_init), adds
 * the flags to the reply, and writes that to the kernel.  Only the INIT
 * reply's flags word changes; libfuse's own view of the connection stays
 * what it negotiated. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs.h"

/* Protocol 7.42 (Linux 6.14), absent from older headers: bit 41. */
#define HS_OVER_IO_URING_FLAGS2 (1u << (41 - 32))

/* Larger than any INIT request (the kernel wants at least 8 KiB). */
#define HS_BUF (FUSE_MIN_READ_BUFFER * 2)

struct hs {
	int dev;        /* the session's descriptor number (/dev/fuse) */
	int saved;      /* a duplicate of /dev/fuse while DEV is the socket */
	int sv[2];      /* sv[0] stands in for DEV; lsmfs talks on sv[1] */
	uint8_t *buf;
};

/* Reads the kernel's INIT request into H->buf: its length, or -errno. */
static ssize_t read_init(struct hs *h, uint32_t *offered, uint32_t *offered2)
{
	const struct fuse_in_header *ih = (const void *)h->buf;
	const struct fuse_init_in *in = (const void *)(ih + 1);
	ssize_t n;

	do
		n = read(h->dev, h->buf, HS_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(*ih) + offsetof(struct fuse_init_in, flags) +
			sizeof(in->flags) || ih->opcode != FUSE_INIT)
		return -EPROTO;
	*offered = in->major == 7 ? in->flags : 0;
	*offered2 = 0;
	if ((*offered & FUSE_INIT_EXT) &&
	    (size_t)n >= sizeof(*ih) + offsetof(struct fuse_init_in, flags2) +
			 sizeof(in->flags2))
		*offered2 = in->flags2;
	return n;
}

/* Sends H's request to libfuse, which answers on sv[0]; returns the
 * reply's length in H->buf, or -errno. */
static ssize_t through_libfuse(struct fuse_session *se, struct hs *h,
			       size_t len)
{
	struct fuse_buf fb = { 0 };
	ssize_t n;
	int rc;

	if (write(h->sv[1], h->buf, len) != (ssize_t)len)
		return -errno;
	rc = fuse_session_receive_buf(se, &fb);
	if (rc > 0)
		fuse_session_process_buf(se, &fb);
	free(fb.mem);
	if (rc <= 0)
		return rc < 0 ? rc : -EPROTO;
	n = recv(h->sv[1], h->buf, HS_BUF, MSG_DONTWAIT);
	return n < 0 ? -errno : n;
}

/* Adds what the kernel offered of what WANT asks to the INIT reply in
 * H->buf (LEN bytes), and fills GOT. */
static void add_flags(struct hs *h, size_t len, const struct fs_init *want,
		      uint32_t offered, uint32_t offered2, struct fs_init *got)
{
	struct fuse_out_header *oh = (void *)h->buf;
	struct fuse_init_out *out = (void *)(oh + 1);

	memset(got, 0, sizeof(*got));
	if (len < sizeof(*oh) + offsetof(struct fuse_init_out, flags) +
		  sizeof(out->flags) || oh->error != 0)
		return;
	if (want->killpriv && (offered & FUSE_HANDLE_KILLPRIV_V2)) {
		out->flags |= FUSE_HANDLE_KILLPRIV_V2;
		got->killpriv = true;
	}
	if (len < sizeof(*oh) + offsetof(struct fuse_init_out, flags2) +
		  sizeof(out->flags2))
		return;
	got->max_write = out->max_write;
	got->max_pages = (out->flags & FUSE_MAX_PAGES) ? out->max_pages : 0;
	if (want->uring && (offered2 & HS_OVER_IO_URING_FLAGS2)) {
		out->flags |= FUSE_INIT_EXT;
		out->flags2 |= HS_OVER_IO_URING_FLAGS2;
		got->uring = true;
	}
}

static int restore(struct hs *h, int rc)
{
	if (h->saved >= 0 && dup3(h->saved, h->dev, O_CLOEXEC) < 0 && rc == 0)
		rc = -errno;
	if (h->saved >= 0)
		close(h->saved);
	if (h->sv[0] >= 0) {
		close(h->sv[0]);
		close(h->sv[1]);
	}
	free(h->buf);
	return rc;
}

int fs_handshake(struct fuse_session *se, const struct fs_init *want,
		 struct fs_init *got)
{
	struct hs h = { fuse_session_fd(se), -1, { -1, -1 }, malloc(HS_BUF) };
	uint32_t offered = 0, offered2 = 0;
	ssize_t n;

	memset(got, 0, sizeof(*got));
	if (!h.buf)
		return -ENOMEM;
	n = read_init(&h, &offered, &offered2);
	if (n < 0)
		return restore(&h, (int)n);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, h.sv) < 0)
		return restore(&h, -errno);
	h.saved = fcntl(h.dev, F_DUPFD_CLOEXEC, 0);
	if (h.saved < 0 || dup2(h.sv[0], h.dev) < 0)
		return restore(&h, -errno);
	n = through_libfuse(se, &h, (size_t)n);
	if (n < 0)
		return restore(&h, (int)n);
	add_flags(&h, (size_t)n, want, offered, offered2, got);
	if (write(h.saved, h.buf, (size_t)n) != n) {
		memset(got, 0, sizeof(*got));
		return restore(&h, -errno);
	}
	return restore(&h, 0);
}
