/* transport.c - the byte streams of transport.h: buffered reads and
 * whole writes over file descriptors, with waits bounded by poll(), and
 * the secure variant (secure.c) layered over the same raw reader.
 * Timeouts bound each wait for data: a read that keeps making progress
 * never times out. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport_impl.h"

#define RAW_BUF (64u * 1024)

int lr_transport_fd(int rfd, int wfd, bool own, struct lr_transport **out)
{
	struct lr_transport *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->rfd = rfd;
	t->wfd = wfd;
	t->own = own;
	*out = t;
	return 0;
}

void lr_transport_free(struct lr_transport *t)
{
	if (!t)
		return;
	if (t->own) {
		close(t->rfd);
		if (t->wfd != t->rfd)
			close(t->wfd);
	}
	if (t->sec)
		lr_secure_free(t->sec);
	free(t->raw);
	free(t);
}

int lr_transport_fd_of(const struct lr_transport *t)
{
	return t->rfd;
}

bool lr_transport_pending(const struct lr_transport *t)
{
	return t->raw_len > t->raw_off ||
	       (t->sec && lr_secure_pending(t->sec));
}

/* 0 when FD is ready for EVENTS, -ETIMEDOUT, or a negative errno. */
int lr_wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* One read(2) into P after waiting for data: bytes read, 0 at EOF. */
static ssize_t read_some(int fd, void *p, size_t n, int timeout_ms)
{
	for (;;) {
		ssize_t r;
		int rc = lr_wait_fd(fd, POLLIN, timeout_ms);

		if (rc < 0)
			return rc;
		r = read(fd, p, n);
		if (r >= 0)
			return r;
		if (errno == ECONNRESET)
			return 0; /* a reset is the peer going away */
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

ssize_t lr_raw_read(struct lr_transport *t, void *p, size_t n, int timeout_ms)
{
	uint8_t *dst = p;
	size_t got = 0;

	while (got < n) {
		size_t have = t->raw_len - t->raw_off;
		ssize_t r;

		if (have) {
			size_t k = have < n - got ? have : n - got;

			memcpy(dst + got, t->raw + t->raw_off, k);
			t->raw_off += k;
			got += k;
			continue;
		}
		if (n - got >= RAW_BUF) { /* large: straight into P */
			r = read_some(t->rfd, dst + got, n - got, timeout_ms);
			if (r <= 0)
				return r < 0 ? r : (ssize_t)got;
			got += (size_t)r;
			continue;
		}
		if (!t->raw && !(t->raw = malloc(RAW_BUF)))
			return -ENOMEM;
		r = read_some(t->rfd, t->raw, RAW_BUF, timeout_ms);
		if (r <= 0)
			return r < 0 ? r : (ssize_t)got;
		t->raw_off = 0;
		t->raw_len = (size_t)r;
	}
	return (ssize_t)got;
}

int lr_raw_write(struct lr_transport *t, const void *p, size_t n)
{
	const uint8_t *src = p;

	while (n) {
		ssize_t r = send(t->wfd, src, n, MSG_NOSIGNAL);

		if (r < 0 && errno == ENOTSOCK)
			r = write(t->wfd, src, n);
		if (r < 0) {
			int rc = -errno;

			if (errno == EINTR)
				continue;
			if (errno == EAGAIN &&
			    (rc = lr_wait_fd(t->wfd, POLLOUT, -1)) == 0)
				continue;
			return rc == -EPIPE ? -ECONNRESET : rc;
		}
		src += r;
		n -= (size_t)r;
	}
	return 0;
}

ssize_t lr_transport_read(struct lr_transport *t, void *p, size_t n,
			  int timeout_ms)
{
	if (t->sec)
		return lr_secure_read(t, p, n, timeout_ms);
	return lr_raw_read(t, p, n, timeout_ms);
}

int lr_transport_write(struct lr_transport *t, const void *p, size_t n)
{
	if (t->sec)
		return lr_secure_write(t, p, n);
	return lr_raw_write(t, p, n);
}
