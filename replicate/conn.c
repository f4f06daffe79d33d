/* conn.c - frames over a transport (proto.h): a 16-byte checked header,
 * a crc32 over header and payload, optional zlib payloads whose inflated
 * size is bounded.  The receive buffer grows with the bytes that really
 * arrived, never to a length a peer merely announced.  Any error but an
 * idle timeout leaves the stream unsynchronised: the connection then
 * keeps returning that error (the caller closes it); sending still works
 * (to tell the peer with LR_ERROR) unless a write failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proto.h"
#include "transport.h"

#define COMPRESS_MIN 512
#define SMALL_FRAME (64u * 1024)      /* header and payload in one write */
#define RECV_STEP (1u << 20)          /* first receive buffer growth */
#define STALL_MS 10000                /* default mid-frame silence allowed */

struct lr_conn {
	struct lr_transport *t;
	bool compress;
	int stall_ms;        /* lr_conn_set_stall */
	int rx_broken, tx_broken; /* sticky negative errno, 0 while usable */
	char rx_msg[160], tx_msg[160];
	struct lr_conn_stats st;
	uint8_t *rbuf, *ibuf, *sbuf; /* received, inflated, to send */
	size_t rcap, icap, scap;
};

int lr_conn_new(struct lr_transport *t, struct lr_conn **out)
{
	struct lr_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		lr_transport_free(t);
		return -ENOMEM;
	}
	c->t = t;
	c->stall_ms = STALL_MS;
	*out = c;
	return 0;
}

void lr_conn_free(struct lr_conn *c)
{
	if (!c)
		return;
	lr_transport_free(c->t);
	free(c->rbuf);
	free(c->ibuf);
	free(c->sbuf);
	free(c);
}

void lr_conn_set_compress(struct lr_conn *c, bool on)
{
	c->compress = on;
}

void lr_conn_set_stall(struct lr_conn *c, int ms)
{
	c->stall_ms = ms;
}

int lr_conn_fd(const struct lr_conn *c)
{
	return lr_transport_fd_of(c->t);
}

bool lr_conn_pending(const struct lr_conn *c)
{
	return lr_transport_pending(c->t);
}

const struct lr_conn_stats *lr_conn_stats(const struct lr_conn *c)
{
	return &c->st;
}

static bool grow(uint8_t **p, size_t *cap, size_t want)
{
	uint8_t *q;

	if (want <= *cap)
		return true;
	q = realloc(*p, want);
	if (!q)
		return false;
	*p = q;
	*cap = want;
	return true;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Records RC as the fate of the receiving direction; returns it. */
static int conn_break(struct lr_conn *c, struct lsm_err *err, int rc,
		      const char *what)
{
	c->rx_broken = rc;
	snprintf(c->rx_msg, sizeof(c->rx_msg), "%s", what);
	return lsm_err_set(err, rc, "replication stream: %s", what);
}

static int send_break(struct lr_conn *c, struct lsm_err *err, int rc)
{
	c->tx_broken = rc;
	snprintf(c->tx_msg, sizeof(c->tx_msg), "%s", rc == -ECONNRESET ?
		 "peer closed the connection" : strerror(-rc));
	return lsm_err_set(err, rc, "replication stream: send: %s", c->tx_msg);
}

/* ---- sending ---- */

/* Deflates P into c->sbuf + LR_HEADER_BYTES when that saves space;
 * returns the deflated length or 0 (send as is). */
static size_t deflate_payload(struct lr_conn *c, const void *p, size_t len)
{
	uLongf zlen = compressBound((uLong)len);

	if (!grow(&c->sbuf, &c->scap, LR_HEADER_BYTES + zlen))
		return 0;
	if (compress2(c->sbuf + LR_HEADER_BYTES, &zlen, p, (uLong)len, 1) !=
	    Z_OK || zlen >= len)
		return 0;
	return zlen;
}

/* crc32 of header bytes 0..11 then the payload (zlib's crc32 of a NULL
 * buffer is its initial value, not the running crc: skip empty ones). */
static uint32_t frame_crc(const uint8_t *h, const uint8_t *p, size_t len)
{
	uLong crc = crc32(0, h, 12);

	if (len)
		crc = crc32(crc, p, (uInt)len);
	return (uint32_t)crc;
}

static void build_header(uint8_t *h, enum lr_type type, uint8_t flags,
			 const uint8_t *payload, size_t len)
{
	uint32_t crc;

	h[0] = 'L';
	h[1] = 'R';
	h[2] = LR_VERSION;
	h[3] = (uint8_t)type;
	h[4] = flags;
	h[5] = h[6] = h[7] = 0;
	put_le32(h + 8, (uint32_t)len);
	crc = frame_crc(h, payload, len);
	put_le32(h + 12, crc);
}

int lr_send(struct lr_conn *c, enum lr_type type, const void *payload,
	    size_t len, struct lsm_err *err)
{
	const uint8_t *wire = payload;
	uint8_t hdr[LR_HEADER_BYTES];
	uint8_t flags = 0;
	size_t wlen = len;
	int rc;

	if (c->tx_broken)
		return lsm_err_set(err, c->tx_broken, "replication stream: "
				   "send: %s", c->tx_msg);
	if (type < 1 || type > LR_TYPE_MAX || len > LR_MAX_PAYLOAD)
		return lsm_err_set(err, -EINVAL,
				   "lr_send: type %d or length %zu out of range",
				   (int)type, len);
	if (c->compress && len >= COMPRESS_MIN) {
		size_t z = deflate_payload(c, payload, len);

		if (z) {
			wire = c->sbuf + LR_HEADER_BYTES;
			wlen = z;
			flags = LR_FLAG_ZLIB;
		}
	}
	build_header(hdr, type, flags, wire, wlen);
	if (wlen <= SMALL_FRAME &&
	    grow(&c->sbuf, &c->scap, LR_HEADER_BYTES + wlen)) {
		if (wire != c->sbuf + LR_HEADER_BYTES && wlen)
			memcpy(c->sbuf + LR_HEADER_BYTES, wire, wlen);
		memcpy(c->sbuf, hdr, LR_HEADER_BYTES);
		rc = lr_transport_write(c->t, c->sbuf, LR_HEADER_BYTES + wlen);
	} else {
		rc = lr_transport_write(c->t, hdr, LR_HEADER_BYTES);
		if (rc == 0 && wlen)
			rc = lr_transport_write(c->t, wire, wlen);
	}
	if (rc < 0)
		return send_break(c, err, rc);
	c->st.frames_sent++;
	c->st.bytes_sent += LR_HEADER_BYTES + wlen;
	c->st.payload_sent += len;
	return 0;
}

/* ---- receiving ---- */

static int check_header(struct lr_conn *c, const uint8_t *h,
			struct lsm_err *err)
{
	char why[120];
	uint32_t len = get_le32(h + 8);

	if (h[0] != 'L' || h[1] != 'R')
		snprintf(why, sizeof(why), "bad magic %02x %02x (not a "
			 "replication peer?)", h[0], h[1]);
	else if (h[2] != LR_VERSION)
		snprintf(why, sizeof(why), "protocol version %u, this side "
			 "speaks %u", h[2], LR_VERSION);
	else if (h[3] < 1 || h[3] > LR_TYPE_MAX)
		snprintf(why, sizeof(why), "unknown frame type %u", h[3]);
	else if (h[4] & ~LR_FLAG_ZLIB || h[5] || h[6] || h[7])
		snprintf(why, sizeof(why), "unknown flags %02x %02x %02x %02x",
			 h[4], h[5], h[6], h[7]);
	else if (len > LR_MAX_PAYLOAD)
		snprintf(why, sizeof(why), "frame length %u over the limit %u",
			 len, LR_MAX_PAYLOAD);
	else
		return 0;
	return conn_break(c, err, -EPROTO, why);
}

/* Reads LEN payload bytes into c->rbuf, growing it as bytes arrive. */
static int read_payload(struct lr_conn *c, size_t len, int stall_ms,
			struct lsm_err *err)
{
	size_t got = 0;

	while (got < len) {
		size_t lim = c->rcap < len ? c->rcap : len, n;
		ssize_t r;

		if (got == lim) {
			size_t want = c->rcap ? 2 * c->rcap : RECV_STEP;

			if (!grow(&c->rbuf, &c->rcap, want < len ? want : len))
				return conn_break(c, err, -ENOMEM,
						  "out of memory");
			lim = c->rcap < len ? c->rcap : len;
		}
		n = lim - got;
		r = lr_transport_read(c->t, c->rbuf + got, n, stall_ms);
		if (r < 0)
			return conn_break(c, err, (int)r, r == -ETIMEDOUT ?
					  "peer stalled in mid-frame" :
					  "read failed in mid-frame");
		if ((size_t)r < n)
			return conn_break(c, err, -ECONNRESET,
					  "peer closed in mid-frame");
		got += n;
	}
	return 0;
}

/* Inflates c->rbuf[0..zlen) into c->ibuf; *LEN gets the size. */
static int inflate_payload(struct lr_conn *c, size_t zlen, size_t *len,
			   struct lsm_err *err)
{
	z_stream z = { 0 };
	size_t cap = zlen < 16384 ? 65536 : 4 * zlen;
	int zr;

	if (inflateInit(&z) != Z_OK)
		return conn_break(c, err, -ENOMEM, "out of memory (zlib)");
	z.next_in = c->rbuf;
	z.avail_in = (uInt)zlen;
	do {
		if (cap > LR_MAX_PAYLOAD + 1u)
			cap = LR_MAX_PAYLOAD + 1u;
		if (!grow(&c->ibuf, &c->icap, cap)) {
			inflateEnd(&z);
			return conn_break(c, err, -ENOMEM, "out of memory");
		}
		z.next_out = c->ibuf + z.total_out;
		z.avail_out = (uInt)(c->icap - z.total_out);
		zr = inflate(&z, Z_FINISH);
		cap = 2 * c->icap;
	} while ((zr == Z_OK || zr == Z_BUF_ERROR) && z.avail_out == 0 &&
		 z.total_out <= LR_MAX_PAYLOAD);
	*len = z.total_out;
	inflateEnd(&z);
	if (*len > LR_MAX_PAYLOAD)
		return conn_break(c, err, -EPROTO,
				  "compressed payload inflates past the limit");
	if (zr != Z_STREAM_END || z.avail_in)
		return conn_break(c, err, -EPROTO,
				  "compressed payload is not one zlib stream");
	return 0;
}

int lr_recv(struct lr_conn *c, enum lr_type *type, const uint8_t **payload,
	    size_t *len, int timeout_ms, struct lsm_err *err)
{
	uint8_t h[LR_HEADER_BYTES];
	int stall = timeout_ms < 0 || c->stall_ms < 0 ? -1 :
		    timeout_ms > c->stall_ms ? timeout_ms : c->stall_ms;
	size_t wlen, plen;
	ssize_t r;
	int rc;

	if (c->rx_broken)
		return lsm_err_set(err, c->rx_broken, "replication stream: %s",
				   c->rx_msg);
	/* Waiting for a frame to start may time out harmlessly. */
	r = lr_transport_read(c->t, h, 1, timeout_ms);
	if (r == -ETIMEDOUT)
		return lsm_err_set(err, -ETIMEDOUT, "no frame within %d ms",
				   timeout_ms);
	if (r == 0)
		return conn_break(c, err, -ECONNRESET,
				  "peer closed the connection");
	if (r > 0)
		r = lr_transport_read(c->t, h + 1, LR_HEADER_BYTES - 1, stall);
	if (r < 0)
		return conn_break(c, err, (int)r, r == -ETIMEDOUT ?
				  "peer stalled in a frame header" :
				  "read failed");
	if (r < LR_HEADER_BYTES - 1)
		return conn_break(c, err, -ECONNRESET,
				  "peer closed in a frame header");
	if ((rc = check_header(c, h, err)) < 0)
		return rc;
	wlen = get_le32(h + 8);
	if ((rc = read_payload(c, wlen, stall, err)) < 0)
		return rc;
	if (get_le32(h + 12) != frame_crc(h, c->rbuf, wlen))
		return conn_break(c, err, -EBADMSG,
				  "frame checksum mismatch (damaged in transit)");
	plen = wlen;
	if (h[4] & LR_FLAG_ZLIB && (rc = inflate_payload(c, wlen, &plen,
							  err)) < 0)
		return rc;
	c->st.frames_received++;
	c->st.bytes_received += LR_HEADER_BYTES + wlen;
	c->st.payload_received += plen;
	*type = (enum lr_type)h[3];
	*payload = h[4] & LR_FLAG_ZLIB ? c->ibuf : c->rbuf;
	*len = plen;
	return 0;
}
