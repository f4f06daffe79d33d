/* fuzz_proto.c - lsmfs-replicate's wire layer (replicate/proto.h): bytes
 * from a hostile peer into lr_recv over a pipe, and into every payload
 * decoder.
 *
 * Input: a mode byte, then
 *   0  raw: the rest is the byte stream a peer sends (then it closes);
 *      every frame lr_recv accepts goes to every decoder.
 *   1  framed: the rest is items (u8 type | u8 ctl | u16le len | len
 *      bytes); the target frames each with a correct crc and sends them.
 *      ctl 0x1: deflate the payload (ZLIB flag); 0x2: set the ZLIB flag
 *      on bytes as they are; 0x4: after the crc, xor header byte
 *      (ctl >> 4) with 0x40.  Payloads go to every decoder too.
 *   2  decoders: the rest is one payload for every decoder.
 *   other: the rest, up to its first NUL, is a file name for lr_name_ok.
 * Properties: whatever a decoder accepts, its encoder writes back byte
 * for byte; a frame sent intact (framed mode, ctl 0 or 0x1, a valid
 * type) is received with its type and payload; an accepted file name
 * holds no '/' and is at most LR_MAX_NAME bytes; lr_recv ends with a
 * negative errno of its documented set (the peer closed: never a hang). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"
#include "proto.h"
#include "transport.h"

#define PIPE_BYTES (1u << 20)

static bool same(const struct lr_buf *b, const uint8_t *p, size_t n)
{
	return !b->oom && b->len == n && (!n || !memcmp(b->p, p, n));
}

/* Every decoder on P; what one accepts must encode back to P. */
static void decode_all(const uint8_t *p, size_t n)
{
	struct lr_buf b = { 0 };
	struct lr_hello h = { 0 };
	struct lr_welcome w = { 0 };
	struct lr_file_begin fb;
	struct lr_file_data fd;
	struct lr_record rec;
	struct lr_records recs;
	uint32_t crc;
	struct lr_ack ack;
	struct lr_heartbeat hb;
	char msg[LR_MAX_MSG + 1];
	uint64_t seq;
	int code;

	if (lr_dec_hello(p, n, &h, NULL) == 0) {
		FUZZ_CHECK(h.nhistory <= LR_MAX_HISTORY);
		FUZZ_CHECK(h.nepochs <= LR_MAX_EPOCHS);
		FUZZ_CHECK(h.nfiles <= LR_MAX_FILES);
		for (uint32_t i = 0; i < h.nfiles; i++)
			FUZZ_CHECK(lr_name_ok(h.files[i].name));
		FUZZ_CHECK(lr_enc_hello(&b, &h) == 0 && same(&b, p, n));
	}
	lr_hello_free(&h);
	if (lr_dec_welcome(p, n, &w, NULL) == 0) {
		FUZZ_CHECK(w.mode <= LR_MODE_REBUILD);
		FUZZ_CHECK(lr_enc_welcome(&b, &w) == 0 && same(&b, p, n));
	}
	lr_welcome_free(&w);
	if (lr_dec_file_begin(p, n, &fb, NULL) == 0) {
		FUZZ_CHECK(lr_name_ok(fb.id.name) && fb.reuse <= 1);
		FUZZ_CHECK(lr_enc_file_begin(&b, &fb) == 0 && same(&b, p, n));
	}
	if (lr_dec_file_data(p, n, &fd, NULL) == 0) {
		FUZZ_CHECK(fd.len <= LR_FILE_CHUNK);
		FUZZ_CHECK(fd.data >= p && fd.data + fd.len <= p + n);
		FUZZ_CHECK(lr_enc_file_data(&b, fd.offset, fd.data, fd.len) ==
				   0 && same(&b, p, n));
	}
	if (lr_dec_boot_end(p, n, &seq, NULL) == 0)
		FUZZ_CHECK(lr_enc_boot_end(&b, seq) == 0 && same(&b, p, n));
	if (lr_dec_file_end(p, n, &crc, NULL) == 0)
		FUZZ_CHECK(lr_enc_file_end(&b, crc) == 0 && same(&b, p, n));
	if (lr_dec_records(p, n, &recs, NULL) == 0) {
		uint32_t k = 0;

		lr_records_start(&b);
		while (lr_records_next(&recs, &rec)) {
			FUZZ_CHECK(rec.batch >= p && rec.batch + rec.len <= p + n);
			FUZZ_CHECK(rec.len >= 12 && rec.count >= 1);
			FUZZ_CHECK(lr_records_add(&b, rec.batch, rec.len) == 0);
			k++;
		}
		FUZZ_CHECK(k == recs.n);
		FUZZ_CHECK(lr_records_finish(&b, recs.primary_last_seq,
					     recs.commit_ns) == 0 &&
			   same(&b, p, n));
	}
	if (lr_dec_ack(p, n, &ack, NULL) == 0)
		FUZZ_CHECK(lr_enc_ack(&b, &ack) == 0 && same(&b, p, n));
	if (lr_dec_error(p, n, &code, msg, sizeof(msg), NULL) == 0) {
		FUZZ_CHECK(code < 0);
		FUZZ_CHECK(lr_enc_error(&b, code, msg) == 0 && same(&b, p, n));
	}
	if (lr_dec_heartbeat(p, n, &hb, NULL) == 0)
		FUZZ_CHECK(lr_enc_heartbeat(&b, &hb) == 0 && same(&b, p, n));
	{
		struct lr_epoch *e = NULL;
		uint32_t ne = 0;

		if (lr_dec_epochs(p, n, &e, &ne, NULL) == 0) {
			FUZZ_CHECK(ne <= LR_MAX_EPOCHS);
			FUZZ_CHECK(lr_enc_epochs(&b, e, ne) == 0 &&
				   same(&b, p, n));
		}
		free(e);
	}
	lr_buf_free(&b);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One frame of framed mode appended to OUT; *INTACT whether it must be
 * received as is. */
static void add_frame(struct lr_buf *out, uint8_t type, uint8_t ctl,
		      const uint8_t *p, size_t n, bool *intact)
{
	uint8_t h[LR_HEADER_BYTES] = { 'L', 'R', LR_VERSION, type };
	uint8_t z[2048];
	const uint8_t *wire = p;
	uLongf zn = sizeof(z);
	uLong crc;

	if (ctl & 0x1 && compress2(z, &zn, p, (uLong)n, 1) == Z_OK) {
		wire = z;
		n = zn;
		h[4] = LR_FLAG_ZLIB;
	}
	if (ctl & 0x2)
		h[4] |= LR_FLAG_ZLIB;
	put_le32(h + 8, (uint32_t)n);
	crc = crc32(0, h, 12);
	if (n)
		crc = crc32(crc, wire, (uInt)n);
	put_le32(h + 12, (uint32_t)crc);
	if (ctl & 0x4)
		h[(ctl >> 4) & 0xf] ^= 0x40;
	*intact = !(ctl & 0x6) && type >= 1 && type <= LR_TYPE_MAX;
	lr_put_bytes(out, h, sizeof(h));
	lr_put_bytes(out, wire, n);
}

/* Sends STREAM through a pipe (then EOF) and receives frames until an
 * error.  WANT (framed mode): the payloads expected, in order. */
struct want {
	uint8_t type;
	bool intact;
	const uint8_t *p;
	size_t n;
};

static void run_stream(const uint8_t *stream, size_t n,
		       const struct want *want, size_t nwant)
{
	struct lr_transport *t;
	struct lr_conn *c;
	int fds[2], rc;
	size_t i = 0;

	if (n > PIPE_BYTES || pipe(fds) < 0)
		return;
	if (n > 65536 && fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES) < 0) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	FUZZ_CHECK(write(fds[1], stream, n) == (ssize_t)n);
	close(fds[1]);
	FUZZ_CHECK(lr_transport_fd(fds[0], fds[0], true, &t) == 0);
	FUZZ_CHECK(lr_conn_new(t, &c) == 0);
	for (;;) {
		const uint8_t *p;
		enum lr_type type;
		size_t len;

		rc = lr_recv(c, &type, &p, &len, 1000, NULL);
		if (rc < 0)
			break;
		FUZZ_CHECK(type >= 1 && type <= LR_TYPE_MAX);
		FUZZ_CHECK(len <= LR_MAX_PAYLOAD);
		if (want && i < nwant && want[i].intact)
			FUZZ_CHECK(type == want[i].type && len == want[i].n &&
				   (!len || !memcmp(p, want[i].p, len)));
		i++;
		decode_all(p, len);
	}
	FUZZ_CHECK(rc == -ECONNRESET || rc == -EPROTO || rc == -EBADMSG);
	/* an intact frame before the first damaged one was received */
	if (want)
		for (size_t k = 0; k < nwant && want[k].intact; k++)
			FUZZ_CHECK(k < i);
	FUZZ_CHECK(lr_conn_stats(c)->frames_received == i);
	lr_conn_free(c);
}

static void run_framed(struct fuzz_in *in)
{
	struct lr_buf stream = { 0 };
	struct want want[512];
	size_t nwant = 0;

	while (in->n >= 4 && nwant < sizeof(want) / sizeof(want[0])) {
		uint8_t type = fuzz_u8(in), ctl = fuzz_u8(in);
		size_t len = fuzz_u16(in) % 1024;

		want[nwant].type = type;
		want[nwant].p = fuzz_bytes(in, len, &want[nwant].n);
		add_frame(&stream, type, ctl, want[nwant].p, want[nwant].n,
			  &want[nwant].intact);
		nwant++;
	}
	FUZZ_CHECK(!stream.oom);
	run_stream(stream.p, stream.len, want, nwant);
	lr_buf_free(&stream);
}

static void check_name(const uint8_t *p, size_t n)
{
	char name[128];
	size_t k = n < sizeof(name) - 1 ? n : sizeof(name) - 1;

	if (k)
		memcpy(name, p, k);
	name[k] = 0;
	if (lr_name_ok(name)) {
		FUZZ_CHECK(strlen(name) <= LR_MAX_NAME);
		FUZZ_CHECK(!strchr(name, '/') && strcmp(name, "..") &&
			   strcmp(name, "LOCK"));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);

	switch (mode) {
	case 0:
		run_stream(in.p, in.n, NULL, 0);
		break;
	case 1:
		run_framed(&in);
		break;
	case 2:
		decode_all(in.p, in.n);
		break;
	default:
		check_name(in.p, in.n);
	}
	return 0;
}
