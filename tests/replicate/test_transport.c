/* test_transport.c - replicate/transport.h: plain fd streams; the secure
 * transport's handshake over a socketpair with two threads (same key,
 * different keys, role/context mismatch, both claiming to dial, our own
 * hello reflected back, silence, a stranger), data through it both ways
 * and framed, and a relay in the middle that reads or damages the
 * ciphertext; the key file loader's refusals. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"
#include "support.h"
#include "transport.h"

static const uint8_t key_a[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key_b[32] = "0123456789abcdef0123456789abcdeF";

/* ---- one side of a handshake in a thread ---- */

struct side {
	int fd;
	bool dialer;
	char role;
	const char *context;
	const uint8_t *psk;
	int timeout_ms;
	struct lr_transport *t;
	struct lsm_err err;
	int rc;
};

static void *side_run(void *arg)
{
	struct side *s = arg;

	s->rc = lr_transport_secure(s->fd, s->dialer, s->role, s->context,
				    s->psk, s->timeout_ms, &s->t, &s->err);
	return NULL;
}

/* Runs both handshakes concurrently (A in a thread, B here). */
static void handshake(struct side *a, struct side *b)
{
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, side_run, a), 0);
	side_run(b);
	pthread_join(th, NULL);
}

static void sides_init(struct side *a, struct side *b, int fa, int fb)
{
	*a = (struct side){ .fd = fa, .dialer = true, .role = 'S',
			    .context = "/srv/data", .psk = key_a,
			    .timeout_ms = 5000 };
	*b = *a;
	b->fd = fb;
	b->dialer = false;
}

static void sides_free(struct side *a, struct side *b)
{
	lr_transport_free(a->t);
	lr_transport_free(b->t);
}

/* ---- a relay between two socketpairs: reads, and may damage, what
 * the dialer sends ---- */

struct relay {
	int a, b;          /* a: the dialer's peer end, b: the listener's */
	long flip_at;      /* byte of the a->b stream to flip, -1: none */
	uint8_t *seen;     /* a->b bytes, up to seen_cap */
	size_t seen_len, seen_cap;
};

static bool relay_move(struct relay *r, int from, int to, bool forward,
		       size_t *count)
{
	uint8_t buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0) {
		shutdown(to, SHUT_WR);
		return false;
	}
	for (ssize_t i = 0; forward && i < n; i++) {
		if (r->flip_at >= 0 && *count + (size_t)i == (size_t)r->flip_at)
			buf[i] ^= 0x01;
		if (r->seen_len < r->seen_cap)
			r->seen[r->seen_len++] = buf[i];
	}
	*count += (size_t)n;
	return send(to, buf, (size_t)n, MSG_NOSIGNAL) == n;
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	size_t fwd = 0, back = 0;
	bool open_a = true, open_b = true;

	while (open_a || open_b) {
		struct pollfd p[2] = { { .fd = open_a ? r->a : -1,
					 .events = POLLIN },
				       { .fd = open_b ? r->b : -1,
					 .events = POLLIN } };

		if (poll(p, 2, 5000) <= 0)
			break;
		if (p[0].revents && !relay_move(r, r->a, r->b, true, &fwd))
			open_a = false;
		if (p[1].revents && !relay_move(r, r->b, r->a, false, &back))
			open_b = false;
	}
	close(r->a);
	close(r->b);
	return NULL;
}

/* ---- data through a transport ---- */

struct writer {
	struct lr_transport *t;
	const uint8_t *p;
	size_t n;
	int rc;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;

	w->rc = lr_transport_write(w->t, w->p, w->n);
	return NULL;
}

/* FROM writes P (in a thread), TO reads it back into GOT. */
static void pass_big(struct lr_transport *from, struct lr_transport *to,
		     const uint8_t *p, uint8_t *got, size_t n)
{
	struct writer w = { from, p, n, -1 };
	pthread_t th;

	memset(got, 0, n);
	assert_int_equal(pthread_create(&th, NULL, writer_run, &w), 0);
	assert_int_equal(lr_transport_read(to, got, n, 5000), (ssize_t)n);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_memory_equal(got, p, n);
}

/* ---- tests ---- */

static void test_same_key_both_ways(void **state)
{
	struct side a, b;
	int sv[2];
	uint8_t big[300000], got[300000];
	char small[32];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sides_init(&a, &b, sv[0], sv[1]);
	handshake(&a, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(lr_transport_write(a.t, "dialer says hi", 15), 0);
	assert_int_equal(lr_transport_read(b.t, small, 15, 1000), 15);
	assert_string_equal(small, "dialer says hi");
	assert_int_equal(lr_transport_write(b.t, "listener too", 13), 0);
	assert_int_equal(lr_transport_read(a.t, small, 13, 1000), 13);
	assert_string_equal(small, "listener too");
	/* more than one encrypted message, written from a thread */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + (i >> 9));
	pass_big(a.t, b.t, big, got, sizeof(big));
	pass_big(b.t, a.t, big, got, sizeof(big));
	/* idle: a read times out */
	assert_int_equal(lr_transport_read(a.t, small, 1, 30), -ETIMEDOUT);
	assert_false(lr_transport_pending(a.t));
	assert_true(lr_transport_fd_of(a.t) == sv[0]);
	/* the peer goes away: a short read (EOF) */
	lr_transport_free(b.t);
	b.t = NULL;
	assert_int_equal(lr_transport_read(a.t, small, 1, 1000), 0);
	sides_free(&a, &b);
}

/* Runs a handshake in which B differs from A by CHANGE; both must refuse. */
static void expect_both_refuse(void (*change)(struct side *b), int want)
{
	struct side a, b;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sides_init(&a, &b, sv[0], sv[1]);
	change(&b);
	handshake(&a, &b);
	assert_int_equal(a.rc, want);
	assert_int_equal(b.rc, want);
	assert_int_equal(a.err.code, want);
	assert_true(a.err.msg[0] != 0);
	assert_null(a.t);
	assert_null(b.t);
}

static void other_key(struct side *b)
{
	b->psk = key_b;
}

static void other_role(struct side *b)
{
	b->role = 'R';
}

static void other_context(struct side *b)
{
	b->context = "/srv/other";
}

static void also_dialer(struct side *b)
{
	b->dialer = true;
}

static void also_listener(struct side *b)
{
	b->dialer = false;
}

static void test_different_keys(void **state)
{
	(void)state;
	expect_both_refuse(other_key, -EACCES);
}

static void test_role_and_context_bound(void **state)
{
	(void)state;
	expect_both_refuse(other_role, -EACCES);
	expect_both_refuse(other_context, -EACCES);
}

/* Both sides claim the same role in the exchange: neither accepts the
 * other's proof (each proof is labelled with its side). */
static void test_same_side_claims(void **state)
{
	struct side a, b;
	int sv[2];

	(void)state;
	expect_both_refuse(also_dialer, -EACCES);
	/* both listeners */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sides_init(&a, &b, sv[0], sv[1]);
	also_listener(&a);
	handshake(&a, &b);
	assert_int_equal(a.rc, -EACCES);
	assert_int_equal(b.rc, -EACCES);
}

static void *echo_run(void *arg)
{
	int fd = *(int *)arg;
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	close(fd);
	return NULL;
}

/* Whatever we send comes straight back: the reflected hello is seen. */
static void test_reflection(void **state)
{
	struct lr_transport *t = NULL;
	struct lsm_err err = { 0 };
	pthread_t th;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pthread_create(&th, NULL, echo_run, &sv[1]), 0);
	assert_int_equal(lr_transport_secure(sv[0], true, 'S', "d", key_a,
					     2000, &t, &err), -EACCES);
	assert_non_null(strstr(err.msg, "reflection"));
	assert_null(t);
	pthread_join(th, NULL); /* our fd was closed: the echo saw EOF */
}

static void test_silence_and_strangers(void **state)
{
	struct lr_transport *t = NULL;
	struct lsm_err err = { 0 };
	uint8_t junk[68];
	int sv[2];

	(void)state;
	/* silence: -ETIMEDOUT after the handshake's bound */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lr_transport_secure(sv[1], false, 'S', "d", key_a,
					     100, &t, &err), -ETIMEDOUT);
	close(sv[0]);
	/* not our protocol */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(sv[0], junk, sizeof(junk)), 68);
	assert_int_equal(lr_transport_secure(sv[1], false, 'S', "d", key_a,
					     1000, &t, &err), -EPROTO);
	close(sv[0]);
	/* the peer hangs up in the middle of the hello */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "LRS1abc", 7), 7);
	close(sv[0]);
	assert_int_equal(lr_transport_secure(sv[1], true, 'S', "d", key_a,
					     1000, &t, &err), -ECONNRESET);
	/* bad arguments: the fd is still taken */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(lr_transport_secure(sv[1], true, 'X', "d", key_a,
					     1000, &t, &err), -EINVAL);
	assert_int_equal(read(sv[0], junk, 1), 0); /* closed */
	close(sv[0]);
	assert_null(t);
}

/* Dialer A - relay - listener B. */
struct mitm {
	struct side a, b;
	struct relay r;
	pthread_t th;
	uint8_t seen[1 << 16];
};

static void mitm_start(struct mitm *m, long flip_at)
{
	int d[2], l[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, l), 0);
	m->r = (struct relay){ .a = d[1], .b = l[1], .flip_at = flip_at,
			       .seen = m->seen, .seen_cap = sizeof(m->seen) };
	assert_int_equal(pthread_create(&m->th, NULL, relay_run, &m->r), 0);
	sides_init(&m->a, &m->b, d[0], l[0]);
	handshake(&m->a, &m->b);
}

static void mitm_stop(struct mitm *m)
{
	sides_free(&m->a, &m->b);
	pthread_join(m->th, NULL);
}

#define HS_BYTES (68 + 32 + 24) /* hello + proof + stream header */

static void test_ciphertext_hides_and_tamper_fails(void **state)
{
	static const char secret[] = "secret plaintext, secret plaintext";
	struct mitm *m = calloc(1, sizeof(*m));
	char got[sizeof(secret)];

	(void)state;
	assert_non_null(m);
	/* a clean relay: data passes, and is not readable on the wire */
	mitm_start(m, -1);
	assert_int_equal(m->a.rc, 0);
	assert_int_equal(m->b.rc, 0);
	assert_int_equal(lr_transport_write(m->a.t, secret, sizeof(secret)), 0);
	assert_int_equal(lr_transport_read(m->b.t, got, sizeof(got), 2000),
			 (ssize_t)sizeof(got));
	assert_string_equal(got, secret);
	assert_true(m->r.seen_len >= HS_BYTES + 4 + sizeof(secret) + 17);
	assert_null(memmem(m->seen, m->r.seen_len, "secret", 6));
	mitm_stop(m);

	/* one flipped ciphertext byte: an error, never other bytes */
	mitm_start(m, HS_BYTES + 4 + 5);
	assert_int_equal(m->b.rc, 0);
	assert_int_equal(lr_transport_write(m->a.t, secret, sizeof(secret)), 0);
	assert_int_equal(lr_transport_read(m->b.t, got, sizeof(got), 2000),
			 -EBADMSG);
	assert_int_equal(lr_transport_read(m->b.t, got, 1, 2000), -EBADMSG);
	mitm_stop(m);

	/* a damaged length prefix: over the bound */
	mitm_start(m, HS_BYTES + 3);
	assert_int_equal(lr_transport_write(m->a.t, secret, sizeof(secret)), 0);
	assert_int_equal(lr_transport_read(m->b.t, got, sizeof(got), 2000),
			 -EPROTO);
	mitm_stop(m);

	/* the dialer's public key altered in its hello: both refuse */
	mitm_start(m, 40);
	assert_int_equal(m->a.rc, -EACCES);
	assert_int_equal(m->b.rc, -EACCES);
	mitm_stop(m);
	/* the dialer's proof altered: B refuses (A saw B's valid proof and
	 * finishes, but B has closed: its first read ends) */
	mitm_start(m, 68 + 3);
	assert_int_equal(m->b.rc, -EACCES);
	if (m->a.rc == 0)
		assert_int_equal(lr_transport_read(m->a.t, got, 1, 2000), 0);
	mitm_stop(m);
	free(m);
}

/* Frames (proto.h) over the secure transport, compressed and not. */
static void test_frames_over_secure(void **state)
{
	struct lr_conn *ca, *cb;
	struct side a, b;
	uint8_t *big = malloc(100000);
	const uint8_t *pl;
	enum lr_type type;
	size_t len;
	int sv[2];

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (uint8_t)(i / 100);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sides_init(&a, &b, sv[0], sv[1]);
	handshake(&a, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(lr_conn_new(a.t, &ca), 0);
	assert_int_equal(lr_conn_new(b.t, &cb), 0);
	lr_conn_set_compress(ca, true);
	assert_int_equal(lr_send(ca, LR_RECORDS, big, 100000, NULL), 0);
	assert_int_equal(lr_send(ca, LR_FILE_END, NULL, 0, NULL), 0);
	assert_int_equal(lr_send(cb, LR_ACK, "ack-payload-20bytes!", 20,
				 NULL), 0);
	assert_int_equal(lr_recv(cb, &type, &pl, &len, 2000, NULL), 0);
	assert_int_equal(type, LR_RECORDS);
	assert_int_equal(len, 100000);
	assert_memory_equal(pl, big, 100000);
	assert_true(lr_conn_pending(cb)); /* FILE_END already decrypted */
	assert_int_equal(lr_recv(cb, &type, &pl, &len, 0, NULL), 0);
	assert_int_equal(type, LR_FILE_END);
	assert_int_equal(lr_recv(ca, &type, &pl, &len, 2000, NULL), 0);
	assert_int_equal(type, LR_ACK);
	assert_memory_equal(pl, "ack-payload-20bytes!", 20);
	/* the peer closes: -ECONNRESET */
	lr_conn_free(ca);
	assert_int_equal(lr_recv(cb, &type, &pl, &len, 2000, NULL),
			 -ECONNRESET);
	lr_conn_free(cb);
	free(big);
}

static void test_plain_fd_transport(void **state)
{
	struct lr_transport *t;
	char buf[16];
	int in[2], out[2];

	(void)state;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(lr_transport_fd(in[0], out[1], true, &t), 0);
	assert_int_equal(lr_transport_fd_of(t), in[0]);
	assert_int_equal(write(in[1], "abcdef", 6), 6);
	assert_int_equal(lr_transport_read(t, buf, 2, 1000), 2);
	assert_true(lr_transport_pending(t)); /* read ahead */
	assert_int_equal(lr_transport_read(t, buf + 2, 4, 0), 4);
	assert_memory_equal(buf, "abcdef", 6);
	assert_int_equal(lr_transport_read(t, buf, 1, 20), -ETIMEDOUT);
	assert_int_equal(lr_transport_write(t, "xyz", 3), 0);
	assert_int_equal(read(out[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "xyz", 3);
	/* EOF after 2 of 5 bytes: the count */
	assert_int_equal(write(in[1], "12", 2), 2);
	close(in[1]);
	assert_int_equal(lr_transport_read(t, buf, 5, 1000), 2);
	/* the reader of our output went away (SIGPIPE is ignored) */
	close(out[0]);
	assert_int_equal(lr_transport_write(t, "xyz", 3), -ECONNRESET);
	lr_transport_free(t);
}

static void test_psk_load(void **state)
{
	struct tdir *d = *state;
	const char *path = tdir_path(d, "key");
	uint8_t psk1[32], psk2[32];
	struct lsm_err err = { 0 };
	char key[64];

	memset(key, 'k', sizeof(key));
	assert_int_equal(file_write_all(path, key, sizeof(key)), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(lr_psk_load(path, psk1, &err), -EPERM);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(lr_psk_load(path, psk1, NULL), -EPERM);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(lr_psk_load(path, psk1, NULL), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(lr_psk_load(path, psk1, NULL), 0);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(lr_psk_load(path, psk2, NULL), 0);
	assert_memory_equal(psk1, psk2, 32);
	/* another key, another psk */
	key[63] = 'K';
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(file_write_all(path, key, sizeof(key)), 0);
	assert_int_equal(lr_psk_load(path, psk2, NULL), 0);
	assert_memory_not_equal(psk1, psk2, 32);
	/* too short */
	assert_int_equal(file_write_all(path, key, 31), 0);
	assert_int_equal(lr_psk_load(path, psk2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "32"));
	assert_int_equal(file_write_all(path, key, 32), 0);
	assert_int_equal(lr_psk_load(path, psk2, NULL), 0);
	/* missing, a directory */
	assert_int_equal(lr_psk_load(tdir_path(d, "nokey"), psk2, NULL),
			 -ENOENT);
	assert_int_equal(lr_psk_load(tdir_root(d), psk2, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_key_both_ways),
		cmocka_unit_test(test_different_keys),
		cmocka_unit_test(test_role_and_context_bound),
		cmocka_unit_test(test_same_side_claims),
		cmocka_unit_test(test_reflection),
		cmocka_unit_test(test_silence_and_strangers),
		cmocka_unit_test(test_ciphertext_hides_and_tamper_fails),
		cmocka_unit_test(test_frames_over_secure),
		cmocka_unit_test(test_plain_fd_transport),
		cmocka_unit_test_setup_teardown(test_psk_load, tdir_setup,
						tdir_teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* a plain pipe's writer needs this */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
