/* proto.c - lsmfs-replicate's message payloads: the encode buffer, one
 * encoder and one decoder per message (grammar in proto.h and
 * replicate/PROTOCOL.md), and the file-name rule.  Framing is conn.c.
 * A decoder reads through struct rd, which never goes past the payload
 * and remembers the first problem; nothing is allocated for a count
 * before the bytes it implies are known to be present. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---- encode buffer ---- */

void lr_buf_free(struct lr_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

static bool buf_reserve(struct lr_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->oom)
		return false;
	if (n <= b->cap - b->len)
		return true;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return false;
	}
	cap = b->cap ? b->cap : 64;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void lr_put_bytes(struct lr_buf *b, const void *p, size_t n)
{
	if (!n || !buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void lr_put_u8(struct lr_buf *b, uint8_t v)
{
	lr_put_bytes(b, &v, 1);
}

void lr_put_u32(struct lr_buf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	lr_put_bytes(b, x, 4);
}

void lr_put_u64(struct lr_buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	lr_put_bytes(b, x, 8);
}

void lr_put_blob(struct lr_buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		b->oom = true;
		return;
	}
	lr_put_u32(b, (uint32_t)n);
	lr_put_bytes(b, p, n);
}

static void put_str(struct lr_buf *b, const char *s)
{
	lr_put_blob(b, s, s ? strlen(s) : 0);
}

static void buf_clear(struct lr_buf *b)
{
	b->len = 0;
	b->oom = false;
}

static int buf_done(struct lr_buf *b)
{
	return b->oom ? -ENOMEM : 0;
}

/* ---- decode reader ---- */

struct rd {
	const uint8_t *p;
	size_t n, off;
	const char *what; /* message name, for errors */
	struct lsm_err *err;
	int rc;           /* first error, sticky */
};

static void rd_init(struct rd *r, const uint8_t *p, size_t n,
		    const char *what, struct lsm_err *err)
{
	*r = (struct rd){ .p = p, .n = n, .what = what, .err = err };
}

static size_t rd_left(const struct rd *r)
{
	return r->n - r->off;
}

static bool rd_fail(struct rd *r, const char *why)
{
	if (!r->rc)
		r->rc = lsm_err_set(r->err, -EPROTO, "%s: %s (at byte %zu of %zu)",
				    r->what, why, r->off, r->n);
	return false;
}

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->rc)
		return false;
	if (n > rd_left(r))
		return rd_fail(r, "truncated");
	*out = r->p + r->off;
	r->off += n;
	return true;
}

static uint64_t rd_le(struct rd *r, int bytes)
{
	const uint8_t *p;
	uint64_t v = 0;

	if (!rd_take(r, (size_t)bytes, &p))
		return 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t rd_u8(struct rd *r)
{
	return (uint8_t)rd_le(r, 1);
}

static uint32_t rd_u32(struct rd *r)
{
	return (uint32_t)rd_le(r, 4);
}

static uint64_t rd_u64(struct rd *r)
{
	return rd_le(r, 8);
}

/* A blob of at most MAX bytes, borrowed from the payload. */
static bool rd_blob(struct rd *r, uint32_t max, const uint8_t **p,
		    uint32_t *len)
{
	uint32_t n = rd_u32(r);

	if (r->rc)
		return false;
	if (n > max)
		return rd_fail(r, "length over its limit");
	if (!rd_take(r, n, p))
		return false;
	*len = n;
	return true;
}

/* A string without NUL of at most MAX bytes, copied into a malloc'ed
 * NUL-terminated *OUT. */
static bool rd_str_dup(struct rd *r, uint32_t max, char **out)
{
	const uint8_t *p;
	uint32_t n;

	if (!rd_blob(r, max, &p, &n))
		return false;
	if (memchr(p, 0, n))
		return rd_fail(r, "NUL inside a string");
	*out = malloc((size_t)n + 1);
	if (!*out) {
		r->rc = lsm_err_set(r->err, -ENOMEM, "%s: out of memory",
				    r->what);
		return false;
	}
	memcpy(*out, p, n);
	(*out)[n] = 0;
	return true;
}

/* A file name (lr_name_ok) into NAME[LR_MAX_NAME + 1]. */
static bool rd_name(struct rd *r, char *name)
{
	const uint8_t *p;
	uint32_t n;

	if (!rd_blob(r, LR_MAX_NAME, &p, &n))
		return false;
	if (memchr(p, 0, n))
		return rd_fail(r, "NUL inside a file name");
	memcpy(name, p, n);
	name[n] = 0;
	if (!lr_name_ok(name))
		return rd_fail(r, "not a data-directory file name");
	return true;
}

/* Checks that COUNT items of at least MIN_BYTES each can still be present
 * (before anything is allocated for them). */
static bool rd_count_ok(struct rd *r, uint32_t count, uint32_t max,
			size_t min_bytes)
{
	if (r->rc)
		return false;
	if (count > max)
		return rd_fail(r, "count over its limit");
	if ((uint64_t)count * min_bytes > rd_left(r))
		return rd_fail(r, "count larger than the bytes present");
	return true;
}

static void *rd_array(struct rd *r, uint32_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);

	if (!p)
		r->rc = lsm_err_set(r->err, -ENOMEM, "%s: out of memory",
				    r->what);
	return p;
}

static int rd_end(struct rd *r)
{
	if (!r->rc && rd_left(r))
		rd_fail(r, "trailing bytes");
	return r->rc;
}

/* ---- history (HELLO and WELCOME) ---- */

static void put_history(struct lr_buf *b, const struct lr_history *h,
			uint32_t n)
{
	lr_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		lr_put_u64(b, h[i].gen);
		lr_put_u64(b, h[i].start_seq);
	}
}

static bool rd_history(struct rd *r, struct lr_history **out, uint32_t *n)
{
	uint32_t count = rd_u32(r);
	struct lr_history *h;

	if (!rd_count_ok(r, count, LR_MAX_HISTORY, 16))
		return false;
	if (!(h = rd_array(r, count, sizeof(*h))))
		return false;
	for (uint32_t i = 0; i < count; i++) {
		h[i].gen = rd_u64(r);
		h[i].start_seq = rd_u64(r);
	}
	*out = h;
	*n = count;
	return true;
}

static void put_epochs(struct lr_buf *b, const struct lr_epoch *e,
		       uint32_t n)
{
	lr_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		lr_put_u64(b, e[i].tag);
		lr_put_u64(b, e[i].start_seq);
	}
}

static bool rd_epochs(struct rd *r, struct lr_epoch **out, uint32_t *n)
{
	uint32_t count = rd_u32(r);
	struct lr_epoch *e;

	if (!rd_count_ok(r, count, LR_MAX_EPOCHS, 16))
		return false;
	if (!(e = rd_array(r, count, sizeof(*e))))
		return false;
	for (uint32_t i = 0; i < count; i++) {
		e[i].tag = rd_u64(r);
		e[i].start_seq = rd_u64(r);
	}
	*out = e;
	*n = count;
	return true;
}

/* ---- HELLO ---- */

int lr_enc_hello(struct lr_buf *out, const struct lr_hello *m)
{
	buf_clear(out);
	lr_put_u32(out, m->flags);
	lr_put_bytes(out, m->store_id, LR_STORE_ID_BYTES);
	lr_put_u64(out, m->generation);
	lr_put_u64(out, m->seq);
	put_history(out, m->history, m->nhistory);
	put_epochs(out, m->epochs, m->nepochs);
	put_str(out, m->dir);
	lr_put_u32(out, m->nfiles);
	for (uint32_t i = 0; i < m->nfiles; i++) {
		put_str(out, m->files[i].name);
		lr_put_u64(out, m->files[i].size);
		lr_put_u32(out, m->files[i].crc);
	}
	return buf_done(out);
}

void lr_hello_free(struct lr_hello *m)
{
	free(m->history);
	free(m->epochs);
	free(m->dir);
	free(m->files);
	m->history = NULL;
	m->epochs = NULL;
	m->dir = NULL;
	m->files = NULL;
	m->nhistory = m->nepochs = m->nfiles = 0;
}

static void rd_files(struct rd *r, struct lr_hello *m)
{
	uint32_t count = rd_u32(r);

	/* a file takes at least 4 + 8 + 4 bytes (an empty name) */
	if (!rd_count_ok(r, count, LR_MAX_FILES, 16))
		return;
	if (!(m->files = rd_array(r, count, sizeof(*m->files))))
		return;
	m->nfiles = count;
	for (uint32_t i = 0; i < count && !r->rc; i++) {
		rd_name(r, m->files[i].name);
		m->files[i].size = rd_u64(r);
		m->files[i].crc = rd_u32(r);
	}
}

int lr_dec_hello(const uint8_t *p, size_t n, struct lr_hello *out,
		 struct lsm_err *err)
{
	struct lr_hello m = { 0 };
	const uint8_t *id;
	struct rd r;

	rd_init(&r, p, n, "HELLO", err);
	m.flags = rd_u32(&r);
	if (rd_take(&r, LR_STORE_ID_BYTES, &id))
		memcpy(m.store_id, id, LR_STORE_ID_BYTES);
	m.generation = rd_u64(&r);
	m.seq = rd_u64(&r);
	if (rd_history(&r, &m.history, &m.nhistory) &&
	    rd_epochs(&r, &m.epochs, &m.nepochs) &&
	    rd_str_dup(&r, LR_MAX_DIR, &m.dir))
		rd_files(&r, &m);
	if (rd_end(&r) < 0) {
		lr_hello_free(&m);
		return r.rc;
	}
	*out = m;
	return 0;
}

/* ---- WELCOME ---- */

int lr_enc_welcome(struct lr_buf *out, const struct lr_welcome *m)
{
	buf_clear(out);
	lr_put_u8(out, m->mode);
	lr_put_bytes(out, m->store_id, LR_STORE_ID_BYTES);
	lr_put_u64(out, m->generation);
	lr_put_u64(out, m->last_seq);
	put_history(out, m->history, m->nhistory);
	put_epochs(out, m->epochs, m->nepochs);
	put_str(out, m->why);
	lr_put_u64(out, m->boot_bytes);
	lr_put_u32(out, m->boot_files);
	return buf_done(out);
}

void lr_welcome_free(struct lr_welcome *m)
{
	free(m->history);
	free(m->epochs);
	free(m->why);
	m->history = NULL;
	m->epochs = NULL;
	m->why = NULL;
	m->nhistory = m->nepochs = 0;
}

int lr_dec_welcome(const uint8_t *p, size_t n, struct lr_welcome *out,
		   struct lsm_err *err)
{
	struct lr_welcome m = { 0 };
	const uint8_t *id;
	struct rd r;

	rd_init(&r, p, n, "WELCOME", err);
	m.mode = rd_u8(&r);
	if (!r.rc && m.mode > LR_MODE_REBUILD)
		rd_fail(&r, "unknown mode");
	if (rd_take(&r, LR_STORE_ID_BYTES, &id))
		memcpy(m.store_id, id, LR_STORE_ID_BYTES);
	m.generation = rd_u64(&r);
	m.last_seq = rd_u64(&r);
	if (rd_history(&r, &m.history, &m.nhistory) &&
	    rd_epochs(&r, &m.epochs, &m.nepochs))
		rd_str_dup(&r, LR_MAX_MSG, &m.why);
	m.boot_bytes = rd_u64(&r);
	m.boot_files = rd_u32(&r);
	if (rd_end(&r) < 0) {
		lr_welcome_free(&m);
		return r.rc;
	}
	*out = m;
	return 0;
}

/* ---- FILE_BEGIN, FILE_DATA, BOOT_END ---- */

int lr_enc_file_begin(struct lr_buf *out, const struct lr_file_begin *m)
{
	buf_clear(out);
	put_str(out, m->id.name);
	lr_put_u64(out, m->id.size);
	lr_put_u32(out, m->id.crc);
	lr_put_u8(out, m->reuse);
	return buf_done(out);
}

int lr_dec_file_begin(const uint8_t *p, size_t n, struct lr_file_begin *out,
		      struct lsm_err *err)
{
	struct lr_file_begin m = { 0 };
	struct rd r;

	rd_init(&r, p, n, "FILE_BEGIN", err);
	rd_name(&r, m.id.name);
	m.id.size = rd_u64(&r);
	m.id.crc = rd_u32(&r);
	m.reuse = rd_u8(&r);
	if (!r.rc && m.reuse > 1)
		rd_fail(&r, "reuse is neither 0 nor 1");
	if (rd_end(&r) < 0)
		return r.rc;
	*out = m;
	return 0;
}

int lr_enc_file_data(struct lr_buf *out, uint64_t offset, const void *p,
		     uint32_t len)
{
	buf_clear(out);
	lr_put_u64(out, offset);
	lr_put_blob(out, p, len);
	return buf_done(out);
}

int lr_dec_file_data(const uint8_t *p, size_t n, struct lr_file_data *out,
		     struct lsm_err *err)
{
	struct lr_file_data m = { 0 };
	struct rd r;

	rd_init(&r, p, n, "FILE_DATA", err);
	m.offset = rd_u64(&r);
	rd_blob(&r, LR_FILE_CHUNK, &m.data, &m.len);
	if (!r.rc && m.len > UINT64_MAX - m.offset)
		rd_fail(&r, "offset + length overflows");
	if (rd_end(&r) < 0)
		return r.rc;
	*out = m;
	return 0;
}

int lr_enc_boot_end(struct lr_buf *out, uint64_t seq)
{
	buf_clear(out);
	lr_put_u64(out, seq);
	return buf_done(out);
}

int lr_dec_boot_end(const uint8_t *p, size_t n, uint64_t *seq,
		    struct lsm_err *err)
{
	struct rd r;
	uint64_t v;

	rd_init(&r, p, n, "BOOT_END", err);
	v = rd_u64(&r);
	if (rd_end(&r) < 0)
		return r.rc;
	*seq = v;
	return 0;
}

int lr_enc_file_end(struct lr_buf *out, uint32_t crc)
{
	buf_clear(out);
	lr_put_u32(out, crc);
	return buf_done(out);
}

int lr_dec_file_end(const uint8_t *p, size_t n, uint32_t *crc,
		    struct lsm_err *err)
{
	struct rd r;
	uint32_t v;

	rd_init(&r, p, n, "FILE_END", err);
	v = rd_u32(&r);
	if (rd_end(&r) < 0)
		return r.rc;
	*crc = v;
	return 0;
}

/* ---- RECORDS, ACK, HEARTBEAT ---- */

#define RECORDS_HEADER 20

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void set_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void lr_records_start(struct lr_buf *out)
{
	static const uint8_t zero[RECORDS_HEADER];

	buf_clear(out);
	lr_put_bytes(out, zero, sizeof(zero));
}

uint32_t lr_records_n(const struct lr_buf *out)
{
	return out->len >= RECORDS_HEADER && !out->oom ? le32(out->p + 16) : 0;
}

int lr_records_add(struct lr_buf *out, const void *batch, uint32_t len)
{
	uint32_t n = lr_records_n(out);

	if (out->len < RECORDS_HEADER || n >= LR_MAX_RECORDS || len < 12 ||
	    out->len + 4 + (size_t)len > LR_MAX_PAYLOAD)
		return -EINVAL;
	lr_put_blob(out, batch, len);
	if (out->oom)
		return -ENOMEM;
	set_le(out->p + 16, n + 1, 4);
	return 0;
}

int lr_records_finish(struct lr_buf *out, uint64_t primary_last_seq,
		      uint64_t commit_ns)
{
	if (out->oom)
		return -ENOMEM;
	if (out->len < RECORDS_HEADER || lr_records_n(out) == 0)
		return -EINVAL;
	set_le(out->p, primary_last_seq, 8);
	set_le(out->p + 8, commit_ns, 8);
	return 0;
}

int lr_enc_record(struct lr_buf *out, const struct lr_record *m)
{
	int rc;

	lr_records_start(out);
	rc = lr_records_add(out, m->batch, m->len);
	return rc < 0 ? rc : lr_records_finish(out, m->primary_last_seq,
					       m->commit_ns);
}

int lr_dec_records(const uint8_t *p, size_t n, struct lr_records *out,
		   struct lsm_err *err)
{
	struct lr_records m = { 0 };
	uint64_t next = 1; /* the smallest sequence the next batch may have */
	struct rd r;

	rd_init(&r, p, n, "RECORDS", err);
	m.primary_last_seq = rd_u64(&r);
	m.commit_ns = rd_u64(&r);
	m.n = rd_u32(&r);
	if (!r.rc && (m.n == 0 || m.n > LR_MAX_RECORDS))
		rd_fail(&r, "record count out of range");
	m.p = p + (r.rc ? 0 : r.off);
	for (uint32_t i = 0; !r.rc && i < m.n; i++) {
		const uint8_t *b;
		uint32_t len;
		uint64_t seq;
		uint32_t count;

		if (!rd_blob(&r, LR_MAX_PAYLOAD, &b, &len))
			break;
		if (len < 12) {
			rd_fail(&r, "a batch shorter than its header");
			break;
		}
		seq = le64(b);
		count = le32(b + 8);
		if (count == 0 || seq < next || seq > UINT64_MAX / 2) {
			rd_fail(&r, "batch sequence numbers out of order");
			break;
		}
		next = seq + count;
	}
	if (rd_end(&r) < 0)
		return r.rc;
	m.end = p + n;
	*out = m;
	return 0;
}

bool lr_records_next(struct lr_records *m, struct lr_record *r)
{
	uint32_t len;

	if (!m->p || m->end - m->p < 4)
		return false;
	len = le32(m->p);
	r->batch = m->p + 4;
	r->len = len;
	r->seq = le64(r->batch);
	r->count = le32(r->batch + 8);
	r->primary_last_seq = m->primary_last_seq;
	r->commit_ns = m->commit_ns;
	m->p += 4 + (size_t)len;
	return true;
}

int lr_dec_record(const uint8_t *p, size_t n, struct lr_record *out,
		  struct lsm_err *err)
{
	struct lr_records m;
	int rc = lr_dec_records(p, n, &m, err);

	if (rc < 0)
		return rc;
	if (m.n != 1)
		return lsm_err_set(err, -EPROTO, "RECORDS: %u records, one "
				   "expected", m.n);
	lr_records_next(&m, out);
	return 0;
}

int lr_enc_ack(struct lr_buf *out, const struct lr_ack *m)
{
	buf_clear(out);
	lr_put_u64(out, m->applied_seq);
	lr_put_u64(out, m->durable_seq);
	lr_put_u32(out, m->batch_crc);
	return buf_done(out);
}

int lr_dec_ack(const uint8_t *p, size_t n, struct lr_ack *out,
	       struct lsm_err *err)
{
	struct lr_ack m = { 0 };
	struct rd r;

	rd_init(&r, p, n, "ACK", err);
	m.applied_seq = rd_u64(&r);
	m.durable_seq = rd_u64(&r);
	m.batch_crc = rd_u32(&r);
	if (rd_end(&r) < 0)
		return r.rc;
	*out = m;
	return 0;
}

int lr_enc_heartbeat(struct lr_buf *out, const struct lr_heartbeat *m)
{
	buf_clear(out);
	lr_put_u64(out, m->primary_last_seq);
	lr_put_u64(out, m->now_ns);
	return buf_done(out);
}

int lr_dec_heartbeat(const uint8_t *p, size_t n, struct lr_heartbeat *out,
		     struct lsm_err *err)
{
	struct lr_heartbeat m = { 0 };
	struct rd r;

	rd_init(&r, p, n, "HEARTBEAT", err);
	m.primary_last_seq = rd_u64(&r);
	m.now_ns = rd_u64(&r);
	if (rd_end(&r) < 0)
		return r.rc;
	*out = m;
	return 0;
}

/* ---- EPOCHS ---- */

int lr_enc_epochs(struct lr_buf *out, const struct lr_epoch *e, uint32_t n)
{
	buf_clear(out);
	put_epochs(out, e, n);
	return buf_done(out);
}

int lr_dec_epochs(const uint8_t *p, size_t n, struct lr_epoch **e,
		  uint32_t *count, struct lsm_err *err)
{
	struct lr_epoch *v = NULL;
	uint32_t k = 0;
	struct rd r;

	rd_init(&r, p, n, "EPOCHS", err);
	rd_epochs(&r, &v, &k);
	if (rd_end(&r) < 0) {
		free(v);
		return r.rc;
	}
	*e = v;
	*count = k;
	return 0;
}

/* ---- ERROR ---- */

int lr_enc_error(struct lr_buf *out, int code, const char *msg)
{
	size_t n = msg ? strnlen(msg, LR_MAX_MSG) : 0;

	buf_clear(out);
	lr_put_u32(out, (uint32_t)code);
	lr_put_blob(out, msg, n);
	return buf_done(out);
}

int lr_dec_error(const uint8_t *p, size_t n, int *code, char *msg,
		 size_t cap, struct lsm_err *err)
{
	const uint8_t *s;
	uint32_t len;
	int32_t c;
	struct rd r;

	rd_init(&r, p, n, "ERROR", err);
	c = (int32_t)rd_u32(&r);
	if (!r.rc && (c >= 0 || c < -4095))
		rd_fail(&r, "code is not a negative errno");
	if (rd_blob(&r, LR_MAX_MSG, &s, &len) && memchr(s, 0, len))
		rd_fail(&r, "NUL inside the message");
	if (rd_end(&r) < 0)
		return r.rc;
	*code = c;
	if (cap) {
		size_t k = len < cap - 1 ? len : cap - 1;

		memcpy(msg, s, k);
		msg[k] = 0;
	}
	return 0;
}

/* ---- file names ---- */

/* NNNNNN as the engine writes it: at least 6 digits, no leading zero
 * beyond the padding, at most 20 digits and no overflow of a u64. */
static bool number_ok(const char *s, size_t len)
{
	uint64_t v = 0;

	if (len < 6 || len > 20 || (len > 6 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return true;
}

bool lr_name_ok(const char *name)
{
	static const char manifest[] = "MANIFEST-";
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, LR_MAX_NAME + 1);
	if (len > LR_MAX_NAME)
		return false;
	if (!strcmp(name, "CURRENT"))
		return true;
	if (!strncmp(name, manifest, sizeof(manifest) - 1))
		return number_ok(name + sizeof(manifest) - 1,
				 len - (sizeof(manifest) - 1));
	if (len > 4 && (!strcmp(name + len - 4, ".sst") ||
			!strcmp(name + len - 4, ".wal")))
		return number_ok(name, len - 4);
	return false;
}
