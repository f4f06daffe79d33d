/* sender.c - the primary's side of one replica's connection: hears where
 * the replica stands (HELLO), decides whether it can go on from there
 * (its position is in this store's history and the log still reaches
 * back to it), must be bootstrapped (empty, or too far behind), or has
 * diverged (another store, a generation this one never had, or a
 * position past the point where this store's history left the
 * replica's) and must be rebuilt; then streams every log record after
 * the replica's position as it is written, and a heartbeat when idle. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "repl.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct sctx {
	struct lr_conn *c;
	struct lr_buf b;
	struct lsm_err *err;
	uint64_t sent_records, sent_bytes;
	uint64_t acked, durable;
};

static int send_record(void *ctx, const struct lsm_log_record *r)
{
	struct sctx *s = ctx;
	struct lr_record m = {
		.seq = r->seq, .count = r->count,
		.primary_last_seq = r->seq + r->count - 1,
		.commit_ns = now_ns(),
		.batch = r->batch, .len = (uint32_t)r->len,
	};
	int rc = lr_enc_record(&s->b, &m);

	if (rc == 0)
		rc = lr_send(s->c, LR_RECORDS, s->b.p, s->b.len, s->err);
	if (rc == 0) {
		s->sent_records++;
		s->sent_bytes += r->len;
	}
	return rc;
}

/* Where generation GEN of history H ends (UINT64_MAX: it is current),
 * or -ENOENT when H does not know GEN. */
static int generation_end(const struct lsm_identity *h, uint64_t gen,
			  uint64_t *end)
{
	for (unsigned i = 0; i < h->nhistory; i++)
		if (h->history[i].generation == gen) {
			*end = i + 1 < h->nhistory ?
			       h->history[i + 1].start_seq - 1 : UINT64_MAX;
			return 0;
		}
	return -ENOENT;
}

static void to_wire_history(const struct lsm_identity *id,
			    struct lr_history *h)
{
	for (unsigned i = 0; i < id->nhistory; i++) {
		h[i].gen = id->history[i].generation;
		h[i].start_seq = id->history[i].start_seq;
	}
}

/* Decides how the replica goes on: LR_MODE_* and *CUR (stream). */
static int decide(const char *dir, const struct lr_hello *h,
		  const struct lsm_identity *id, bool unsynced,
		  struct cursor **cur, char *why, size_t cap,
		  struct lsm_err *err)
{
	struct lsm_err e2 = { 0 };
	uint64_t end;
	int rc = -EAGAIN;

	if (!(h->flags & LR_HELLO_HAS_STORE)) {
		snprintf(why, cap, "the replica holds no store");
		return LR_MODE_BOOTSTRAP;
	}
	if (memcmp(h->store_id, id->id, LSM_STORE_ID_BYTES) != 0) {
		snprintf(why, cap, "the replica is a copy of another store");
		return LR_MODE_REBUILD;
	}
	if (h->generation > id->generation ||
	    generation_end(id, h->generation, &end) < 0) {
		snprintf(why, cap, "the replica is in generation %" PRIu64
			 ", which this store's history does not hold",
			 h->generation);
		return LR_MODE_REBUILD;
	}
	if (h->seq > end) {
		snprintf(why, cap, "the replica went on to sequence %" PRIu64
			 " in generation %" PRIu64 ", which ended at %" PRIu64
			 " here (a promotion)", h->seq, h->generation, end);
		return LR_MODE_REBUILD;
	}
	for (int i = 0; i < 8 && rc == -EAGAIN; i++)
		rc = cursor_open(dir, h->seq, unsynced, cur, &e2);
	if (rc == 0) {
		snprintf(why, cap, "streaming from sequence %" PRIu64,
			 h->seq + 1);
		return LR_MODE_STREAM;
	}
	snprintf(why, cap, "%s", e2.msg);
	if (rc == -ERANGE)
		return LR_MODE_BOOTSTRAP;
	if (rc == -EXDEV)
		return LR_MODE_REBUILD;
	*err = e2;
	return rc;
}

static int handle_peer(struct sctx *s, bool *done)
{
	enum lr_type type;
	const uint8_t *p;
	size_t len;
	int rc;

	while (lr_conn_pending(s->c) || poll(&(struct pollfd){
			.fd = lr_conn_fd(s->c), .events = POLLIN }, 1, 0) > 0) {
		rc = lr_recv(s->c, &type, &p, &len, 5000, s->err);
		if (rc == -ECONNRESET) {
			*done = true; /* the receiver left (--once: done) */
			return 0;
		}
		if (rc < 0)
			return rc;
		if (type == LR_ACK) {
			struct lr_ack a;

			if ((rc = lr_dec_ack(p, len, &a, s->err)) < 0)
				return rc;
			s->acked = a.applied_seq;
			s->durable = a.durable_seq;
		} else if (type == LR_ERROR) {
			int code;
			char msg[256];

			rc = lr_dec_error(p, len, &code, msg, sizeof(msg),
					  s->err);
			return rc < 0 ? rc : lsm_err_set(s->err, code < 0 ?
							 code : -EIO,
							 "the replica failed: "
							 "%s", msg);
		} else {
			return lsm_err_set(s->err, -EPROTO, "unexpected "
					   "message %d from the replica",
					   (int)type);
		}
	}
	return 0;
}

static int heartbeat(struct sctx *s, uint64_t seq)
{
	struct lr_heartbeat hb = { .primary_last_seq = seq,
				   .now_ns = now_ns() };
	int rc = lr_enc_heartbeat(&s->b, &hb);

	return rc < 0 ? rc : lr_send(s->c, LR_HEARTBEAT, s->b.p, s->b.len,
				     s->err);
}

static int stream(const char *dir, struct cursor *cur, struct sctx *s,
		  const struct repl_opts *o)
{
	int idle = o->idle_ms > 0 ? o->idle_ms : 1000;
	bool done = false, told = false;
	int rc = 0;

	while (!repl_stop && !done) {
		struct pollfd pf[2] = {
			{ .fd = lr_conn_fd(s->c), .events = POLLIN },
			{ .fd = cursor_wait_fd(cur), .events = POLLIN },
		};
		int n = 0;

		rc = cursor_next(cur, 4u << 20, send_record, s, s->err);
		if (rc < 0)
			break;
		if (rc > 0) {
			told = false;
			continue;
		}
		if (!told) { /* caught up: say so at once */
			rc = heartbeat(s, cursor_seq(cur));
			if (rc < 0)
				break;
			told = true;
		}
		n = poll(pf, pf[1].fd >= 0 ? 2 : 1,
			 pf[1].fd >= 0 ? idle : 50);
		if (n < 0 && errno != EINTR) {
			rc = lsm_err_set(s->err, -errno, "poll: %s",
					 strerror(errno));
			break;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			rc = handle_peer(s, &done);
			if (rc < 0)
				break;
		}
		if (pf[1].fd >= 0 && (pf[1].revents & POLLIN))
			cursor_drain(cur);
		if (n == 0)
			told = false; /* idle: a heartbeat per period */
	}
	(void)dir;
	return rc;
}

int sender_run(const char *dir, struct lr_conn *c, const struct repl_opts *o,
	       struct lsm_err *err)
{
	struct sctx s = { .c = c, .err = err };
	struct lr_hello h = { 0 };
	struct lr_welcome w = { 0 };
	struct lr_history hist[LSM_HISTORY_MAX];
	struct lsm_files *f = NULL;
	struct cursor *cur = NULL;
	struct boot_set *boot = NULL;
	enum lr_type type;
	const uint8_t *p;
	size_t len;
	char why[256];
	int rc, mode;
	bool unsynced = o->unsynced;

	boot_sweep(dir);
	rc = lr_recv(c, &type, &p, &len, 30000, err);
	if (rc == 0 && type != LR_HELLO)
		rc = lsm_err_set(err, -EPROTO, "expected HELLO, got message %d",
				 (int)type);
	if (rc == 0)
		rc = lr_dec_hello(p, len, &h, err);
	if (rc < 0)
		goto out;
	if (h.flags & LR_HELLO_UNSYNCED)
		unsynced = true;
	if (h.flags & LR_HELLO_COMPRESS)
		lr_conn_set_compress(c, true);
	rc = lsm_files_list(dir, &f, err);
	if (rc < 0)
		goto out;
	if (!f->has_identity) {
		rc = lsm_err_set(err, -EPROTONOSUPPORT, "%s has no store "
				 "identity yet: mount it (or open it) writable "
				 "once with this lsmfs", dir);
		goto out;
	}
	mode = decide(dir, &h, &f->identity, unsynced, &cur, why, sizeof(why),
		      err);
	if (mode < 0) {
		rc = mode;
		goto out;
	}
	rlog(mode == LR_MODE_REBUILD ? RLOG_WARN : RLOG_INFO, "send",
	     "%s: replica %s at sequence %" PRIu64 ": %s%s", dir,
	     o->peer ? o->peer : "?", h.seq,
	     mode == LR_MODE_REBUILD ? "DIVERGED, rebuilding it: " :
	     mode == LR_MODE_BOOTSTRAP ? "bootstrap: " : "", why);
	if (mode != LR_MODE_STREAM) {
		rc = boot_prepare(dir, &h, &boot, err);
		if (rc < 0)
			goto out;
		w.boot_bytes = boot_bytes(boot);
		w.boot_files = (uint32_t)boot_files(boot);
	}
	memcpy(w.store_id, f->identity.id, LR_STORE_ID_BYTES);
	w.mode = (uint8_t)mode;
	w.generation = f->identity.generation;
	w.last_seq = f->last_seq;
	to_wire_history(&f->identity, hist);
	w.history = hist;
	w.nhistory = f->identity.nhistory;
	w.why = why;
	rc = lr_enc_welcome(&s.b, &w);
	if (rc == 0)
		rc = lr_send(c, LR_WELCOME, s.b.p, s.b.len, err);
	if (rc < 0)
		goto out;
	if (mode != LR_MODE_STREAM) {
		uint64_t seq = boot_seq(boot);

		rc = boot_send(boot, c, err);
		boot_free(boot);
		boot = NULL;
		for (int i = 0; rc == 0 && i < 8; i++) {
			rc = cursor_open(dir, seq, unsynced, &cur, err);
			if (rc != -EAGAIN)
				break;
		}
		if (rc < 0)
			goto out;
	}
	rc = stream(dir, cur, &s, o);
out:
	if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE) {
		struct lr_buf b = { 0 };

		if (lr_enc_error(&b, rc, err->msg) == 0)
			lr_send(c, LR_ERROR, b.p, b.len, NULL);
		lr_buf_free(&b);
	}
	boot_free(boot);
	cursor_free(cur);
	lsm_files_free(f);
	lr_hello_free(&h);
	lr_buf_free(&s.b);
	return rc;
}
