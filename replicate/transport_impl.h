/* transport_impl.h - what transport.c and secure.c share (not for users
 * of transport.h): the transport's body and the raw reader and writer the
 * secure layer runs over. */
#ifndef LSMFS_REPL_TRANSPORT_IMPL_H
#define LSMFS_REPL_TRANSPORT_IMPL_H

#include "transport.h"

struct lr_secure;

struct lr_transport {
	int rfd, wfd;
	bool own;
	uint8_t *raw;            /* read-ahead of RAW_BUF bytes, or NULL */
	size_t raw_off, raw_len;
	struct lr_secure *sec;   /* NULL: plain */
};

/* Raw bytes from rfd (through the read-ahead), as lr_transport_read. */
ssize_t lr_raw_read(struct lr_transport *t, void *p, size_t n, int timeout_ms);
/* All N bytes to wfd (no SIGPIPE on a socket): 0, -ECONNRESET when the
 * peer is gone, or a negative errno. */
int lr_raw_write(struct lr_transport *t, const void *p, size_t n);
int lr_wait_fd(int fd, short events, int timeout_ms);

ssize_t lr_secure_read(struct lr_transport *t, void *p, size_t n,
		       int timeout_ms);
int lr_secure_write(struct lr_transport *t, const void *p, size_t n);
bool lr_secure_pending(const struct lr_secure *s);
void lr_secure_free(struct lr_secure *s);

#endif
