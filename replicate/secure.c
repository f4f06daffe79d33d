/* secure.c - the PSK-authenticated encrypted transport (transport.h,
 * handshake in replicate/PROTOCOL.md): crypto_kx ephemeral keys, proofs
 * with crypto_auth over the transcript hash, session keys mixed with the
 * PSK, then one crypto_secretstream_xchacha20poly1305 per direction
 * carried as u32le-length-prefixed messages.  The key file loader too. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "transport_impl.h"

#define HELLO_MAGIC "LRS1"
#define HELLO_BYTES (4 + 32 + crypto_kx_PUBLICKEYBYTES)
#define PROOF_BYTES (crypto_auth_BYTES + \
		     crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define KEY_FILE_MAX 4096

typedef crypto_secretstream_xchacha20poly1305_state ss_state;

struct lr_secure {
	ss_state tx, rx;
	uint8_t *plain;          /* decrypted, not yet read */
	size_t p_off, p_len;
	uint8_t *cbuf;           /* 4 + LR_SECURE_MAX_CIPHER */
	int broken;              /* sticky error of the incoming stream */
	bool eof;                /* the peer sent its final message */
};

bool lr_secure_pending(const struct lr_secure *s)
{
	return s->p_len > s->p_off;
}

void lr_secure_free(struct lr_secure *s)
{
	if (!s)
		return;
	sodium_memzero(s, offsetof(struct lr_secure, plain));
	free(s->plain);
	free(s->cbuf);
	free(s);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the stream ---- */

/* Reads and decrypts one message into s->plain: 1, 0 at EOF, or < 0. */
static int secure_fill(struct lr_transport *t, int timeout_ms)
{
	struct lr_secure *s = t->sec;
	unsigned long long plen;
	unsigned char tag;
	uint32_t clen;
	ssize_t r;

	if (s->eof)
		return 0;
	r = lr_raw_read(t, s->cbuf, 4, timeout_ms);
	if (r < 4)
		return r < 0 ? (int)r : 0;
	clen = (uint32_t)s->cbuf[0] | (uint32_t)s->cbuf[1] << 8 |
	       (uint32_t)s->cbuf[2] << 16 | (uint32_t)s->cbuf[3] << 24;
	if (clen < ABYTES || clen > LR_SECURE_MAX_CIPHER)
		return s->broken = -EPROTO;
	r = lr_raw_read(t, s->cbuf + 4, clen, timeout_ms);
	if (r < (ssize_t)clen)
		return r < 0 ? (int)r : 0;
	if (crypto_secretstream_xchacha20poly1305_pull(
		    &s->rx, s->plain, &plen, &tag, s->cbuf + 4, clen, NULL,
		    0) != 0)
		return s->broken = -EBADMSG;
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
		s->eof = true;
	s->p_off = 0;
	s->p_len = (size_t)plen;
	return 1;
}

ssize_t lr_secure_read(struct lr_transport *t, void *p, size_t n,
		       int timeout_ms)
{
	struct lr_secure *s = t->sec;
	uint8_t *dst = p;
	size_t got = 0;

	while (got < n) {
		size_t have = s->p_len - s->p_off, k;
		int rc;

		if (s->broken)
			return s->broken;
		if (!have) {
			rc = secure_fill(t, timeout_ms);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			continue;
		}
		k = have < n - got ? have : n - got;
		memcpy(dst + got, s->plain + s->p_off, k);
		s->p_off += k;
		got += k;
	}
	return (ssize_t)got;
}

int lr_secure_write(struct lr_transport *t, const void *p, size_t n)
{
	struct lr_secure *s = t->sec;
	const uint8_t *src = p;

	do {
		size_t k = n < LR_SECURE_CHUNK ? n : LR_SECURE_CHUNK;
		int rc;

		crypto_secretstream_xchacha20poly1305_push(
			&s->tx, s->cbuf + 4, NULL, src, k, NULL, 0,
			crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		put_le32(s->cbuf, (uint32_t)(k + ABYTES));
		rc = lr_raw_write(t, s->cbuf, 4 + k + ABYTES);
		if (rc < 0)
			return rc;
		src += k;
		n -= k;
	} while (n);
	return 0;
}

/* ---- the handshake ---- */

struct hs {
	bool dialer;
	uint8_t nonce[32], pk[crypto_kx_PUBLICKEYBYTES];
	uint8_t sk[crypto_kx_SECRETKEYBYTES];
	uint8_t peer[HELLO_BYTES];   /* the peer's hello */
	uint8_t th[32];              /* transcript hash */
	struct timespec deadline;
	int timeout_ms;
};

static int ms_left(const struct hs *h)
{
	struct timespec now;
	long long ms;

	if (h->timeout_ms < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (h->deadline.tv_sec - now.tv_sec) * 1000LL +
	     (h->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static int hs_read(struct lr_transport *t, struct hs *h, void *p, size_t n,
		   struct lsm_err *err)
{
	ssize_t r = lr_raw_read(t, p, n, ms_left(h));

	if (r == -ETIMEDOUT)
		return lsm_err_set(err, -ETIMEDOUT,
				   "secure handshake: no answer within %d ms",
				   h->timeout_ms);
	if (r < 0)
		return lsm_err_set(err, (int)r, "secure handshake: read: %s",
				   strerror((int)-r));
	if ((size_t)r < n)
		return lsm_err_set(err, -ECONNRESET, "secure handshake: the "
				   "peer closed the connection");
	return 0;
}

/* Hash of everything both sides must agree on; the dialer's values first. */
static void transcript(struct hs *h, char role, const char *context)
{
	static const char label[] = "lsmfs-replicate secure v1";
	const uint8_t *pn = h->peer + 4, *ppk = h->peer + 36;
	crypto_generichash_state st;
	uint8_t len[4], r = (uint8_t)role;
	size_t clen = strlen(context);

	put_le32(len, (uint32_t)clen);
	crypto_generichash_init(&st, NULL, 0, sizeof(h->th));
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(&st, &r, 1);
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, (const uint8_t *)context, clen);
	crypto_generichash_update(&st, h->dialer ? h->nonce : pn, 32);
	crypto_generichash_update(&st, h->dialer ? h->pk : ppk, 32);
	crypto_generichash_update(&st, h->dialer ? pn : h->nonce, 32);
	crypto_generichash_update(&st, h->dialer ? ppk : h->pk, 32);
	crypto_generichash_final(&st, h->th, sizeof(h->th));
}

/* OUT = BLAKE2b-256 keyed with PSK over LABEL || A || B. */
static void kdf(uint8_t out[32], const uint8_t psk[32], const char *label,
		const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, psk, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)label,
				  strlen(label) + 1);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, 32);
}

/* The proof a side sends: crypto_auth over its label and the transcript. */
static void proof(uint8_t out[crypto_auth_BYTES], const struct hs *h,
		  bool of_dialer, const uint8_t psk[32])
{
	uint8_t ka[32], msg[1 + 32];

	kdf(ka, psk, "lsmfs-replicate auth", NULL, 0, NULL, 0);
	msg[0] = of_dialer ? 'D' : 'L';
	memcpy(msg + 1, h->th, 32);
	crypto_auth(out, msg, sizeof(msg), ka);
	sodium_memzero(ka, sizeof(ka));
}

/* Session keys of both directions for this side: kx keys mixed with the
 * PSK and the transcript, labelled by direction. */
static int session_keys(struct hs *h, const uint8_t psk[32], uint8_t tx[32],
			uint8_t rx[32])
{
	uint8_t krx[crypto_kx_SESSIONKEYBYTES], ktx[crypto_kx_SESSIONKEYBYTES];
	int rc = h->dialer ?
		crypto_kx_client_session_keys(krx, ktx, h->pk, h->sk,
					      h->peer + 36) :
		crypto_kx_server_session_keys(krx, ktx, h->pk, h->sk,
					      h->peer + 36);

	if (rc == 0) {
		kdf(tx, psk, h->dialer ? "dialer to listener" :
			"listener to dialer", ktx, sizeof(ktx), h->th, 32);
		kdf(rx, psk, h->dialer ? "listener to dialer" :
			"dialer to listener", krx, sizeof(krx), h->th, 32);
	}
	sodium_memzero(krx, sizeof(krx));
	sodium_memzero(ktx, sizeof(ktx));
	return rc;
}

static int hs_hello(struct lr_transport *t, struct hs *h, struct lsm_err *err)
{
	uint8_t msg[HELLO_BYTES];
	int rc;

	randombytes_buf(h->nonce, sizeof(h->nonce));
	crypto_kx_keypair(h->pk, h->sk);
	memcpy(msg, HELLO_MAGIC, 4);
	memcpy(msg + 4, h->nonce, 32);
	memcpy(msg + 36, h->pk, 32);
	if ((rc = lr_raw_write(t, msg, sizeof(msg))) < 0)
		return lsm_err_set(err, rc, "secure handshake: write: %s",
				   strerror(-rc));
	if ((rc = hs_read(t, h, h->peer, HELLO_BYTES, err)) < 0)
		return rc;
	if (memcmp(h->peer, HELLO_MAGIC, 4))
		return lsm_err_set(err, -EPROTO, "secure handshake: the peer "
				   "does not speak lsmfs-replicate's secure "
				   "transport");
	if (!sodium_memcmp(h->peer + 4, h->nonce, 32) ||
	    !sodium_memcmp(h->peer + 36, h->pk, 32))
		return lsm_err_set(err, -EACCES, "secure handshake: our own "
				   "hello came back (reflection)");
	return 0;
}

static int hs_finish(struct lr_transport *t, struct hs *h, const uint8_t psk[32],
		     struct lsm_err *err)
{
	uint8_t msg[PROOF_BYTES], peer[PROOF_BYTES], want[crypto_auth_BYTES];
	uint8_t tx[32], rx[32];
	struct lr_secure *s = t->sec;
	int rc;

	if (session_keys(h, psk, tx, rx) != 0)
		return lsm_err_set(err, -EACCES, "secure handshake: the peer's "
				   "public key is unusable");
	proof(msg, h, h->dialer, psk);
	crypto_secretstream_xchacha20poly1305_init_push(
		&s->tx, msg + crypto_auth_BYTES, tx);
	rc = lr_raw_write(t, msg, sizeof(msg));
	if (rc < 0) {
		lsm_err_set(err, rc, "secure handshake: write: %s",
			    strerror(-rc));
		goto out;
	}
	if ((rc = hs_read(t, h, peer, sizeof(peer), err)) < 0)
		goto out;
	proof(want, h, !h->dialer, psk);
	if (sodium_memcmp(want, peer, crypto_auth_BYTES)) {
		rc = lsm_err_set(err, -EACCES, "secure handshake: the peer "
				 "failed to prove it holds the key (different "
				 "key files, or a role or directory mismatch)");
		goto out;
	}
	if (crypto_secretstream_xchacha20poly1305_init_pull(
		    &s->rx, peer + crypto_auth_BYTES, rx) != 0)
		rc = lsm_err_set(err, -EPROTO, "secure handshake: bad stream "
				 "header");
out:
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(rx, sizeof(rx));
	return rc;
}

static int secure_alloc(struct lr_transport *t)
{
	struct lr_secure *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	t->sec = s;
	s->plain = malloc(LR_SECURE_CHUNK);
	s->cbuf = malloc(4 + LR_SECURE_MAX_CIPHER);
	return s->plain && s->cbuf ? 0 : -ENOMEM;
}

int lr_transport_secure(int fd, bool dialer, char role, const char *context,
			const uint8_t psk[32], int timeout_ms,
			struct lr_transport **out, struct lsm_err *err)
{
	struct lr_transport *t;
	struct hs h = { .dialer = dialer, .timeout_ms = timeout_ms };
	int rc;

	if (!context)
		context = "";
	if ((role != 'S' && role != 'R') || strlen(context) > LR_MAX_CONTEXT) {
		close(fd);
		return lsm_err_set(err, -EINVAL, "secure transport: role must "
				   "be 'S' or 'R', context at most %d bytes",
				   LR_MAX_CONTEXT);
	}
	if (sodium_init() < 0) {
		close(fd);
		return lsm_err_set(err, -EIO, "libsodium failed to initialise");
	}
	if ((rc = lr_transport_fd(fd, fd, true, &t)) < 0) {
		close(fd);
		return lsm_err_set(err, rc, "secure transport: out of memory");
	}
	if ((rc = secure_alloc(t)) < 0) {
		lsm_err_set(err, rc, "secure transport: out of memory");
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &h.deadline);
	if (timeout_ms > 0) {
		h.deadline.tv_sec += timeout_ms / 1000;
		h.deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (h.deadline.tv_nsec >= 1000000000L) {
			h.deadline.tv_sec++;
			h.deadline.tv_nsec -= 1000000000L;
		}
	}
	if ((rc = hs_hello(t, &h, err)) < 0)
		goto fail;
	transcript(&h, role, context);
	if ((rc = hs_finish(t, &h, psk, err)) < 0)
		goto fail;
	sodium_memzero(&h, sizeof(h));
	*out = t;
	return 0;
fail:
	sodium_memzero(&h, sizeof(h));
	lr_transport_free(t);
	return rc;
}

/* ---- the key file ---- */

int lr_psk_load(const char *path, uint8_t psk[32], struct lsm_err *err)
{
	uint8_t buf[KEY_FILE_MAX + 1];
	struct stat st;
	size_t n = 0;
	int fd, rc = 0;

	if (sodium_init() < 0)
		return lsm_err_set(err, -EIO, "libsodium failed to initialise");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return lsm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = lsm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = lsm_err_set(err, -EINVAL, "%s: not a regular file", path);
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = lsm_err_set(err, -EPERM, "%s: key file is accessible by "
				 "group or others (mode %03o): chmod 600 it",
				 path, (unsigned)(st.st_mode & 0777));
	} else {
		while (n < sizeof(buf)) {
			ssize_t r = read(fd, buf + n, sizeof(buf) - n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = lsm_err_set(err, -errno, "%s: %s", path,
						 strerror(errno));
				break;
			}
			if (r == 0)
				break;
			n += (size_t)r;
		}
		if (!rc && (n < 32 || n > KEY_FILE_MAX))
			rc = lsm_err_set(err, -EINVAL, "%s: a key file holds "
					 "32 to %d bytes (has %s%zu)", path,
					 KEY_FILE_MAX, n > KEY_FILE_MAX ?
					 "more than " : "", n - (n > KEY_FILE_MAX));
	}
	close(fd);
	if (!rc)
		crypto_generichash(psk, 32, buf, n,
				   (const uint8_t *)"lsmfs-replicate psk", 19);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}
