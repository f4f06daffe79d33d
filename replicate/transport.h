/* transport.h - the byte streams lsmfs-replicate speaks over: a pair of
 * plain file descriptors (a pipe to ssh, a socketpair), or a TCP socket
 * secured with a pre-shared key (libsodium: mutual authentication, then
 * per-session keys and an authenticated encrypted stream).
 *
 * Secure handshake (replicate/PROTOCOL.md): the key file (32+ bytes, not
 * readable by group or others, else refused) is hashed to a 32-byte PSK.
 * Both sides send a fresh 32-byte nonce and an ephemeral crypto_kx public
 * key; each proves knowledge of the PSK with crypto_auth over the whole
 * transcript (both nonces, both public keys, the ROLE of the dialer
 * (sending or receiving) and CONTEXT, e.g. the directory served), with
 * different labels per direction, so no proof can be replayed or
 * reflected.  Session keys: crypto_kx session keys hashed with the PSK;
 * each direction then is a crypto_secretstream_xchacha20poly1305 stream
 * (fresh keys per connection: no nonce reuse across reconnects).  A
 * failed proof is -EACCES and the connection is closed. */
#ifndef LSMFS_REPL_TRANSPORT_H
#define LSMFS_REPL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lsm.h"

struct lr_transport;

/* Secure stream limits: plaintext per encrypted message, and the largest
 * ciphertext length a reader accepts (the tag adds 17 bytes). */
#define LR_SECURE_CHUNK (64u * 1024)
#define LR_SECURE_MAX_CIPHER (LR_SECURE_CHUNK + 17u)
#define LR_MAX_CONTEXT 4096

/* Plain: reads from RFD, writes to WFD (may be the same); closes both at
 * free when OWN. */
int lr_transport_fd(int rfd, int wfd, bool own, struct lr_transport **out);
/* Secure over connected socket FD (owned).  DIALER: true on the side that
 * connected.  ROLE: 'S' when the dialer sends (primary side), 'R' when it
 * receives.  CONTEXT: bound into the proofs (the remote dir).  Blocks
 * until the handshake is done or TIMEOUT_MS passed. */
int lr_transport_secure(int fd, bool dialer, char role, const char *context,
			const uint8_t psk[32], int timeout_ms,
			struct lr_transport **out, struct lsm_err *err);
/* Reads a key file into PSK: -EPERM when group/other may read it, -EINVAL
 * when shorter than 32 bytes. */
int lr_psk_load(const char *path, uint8_t psk[32], struct lsm_err *err);

/* Reads exactly N bytes (or fewer at EOF: returns the count), waiting at
 * most TIMEOUT_MS per call (-1 forever).  Negative errno on error. */
ssize_t lr_transport_read(struct lr_transport *t, void *p, size_t n,
			  int timeout_ms);
/* Writes all N bytes.  0 or negative errno. */
int lr_transport_write(struct lr_transport *t, const void *p, size_t n);
int lr_transport_fd_of(const struct lr_transport *t); /* for poll() */
bool lr_transport_pending(const struct lr_transport *t); /* buffered */
void lr_transport_free(struct lr_transport *t); /* accepts NULL */

#endif
