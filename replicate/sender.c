/* sender.c - the primary's side of one replica's connection: hears where
 * the replica stands (HELLO), decides whether it can go on from there
 * (its position is in this store's history and the log still reaches
 * back to it), must be bootstrapped (empty, or too far behind), or has
 * diverged (another store, a generation this one never had, or a
 * position past the point where this store's history left the
 * replica's) and must be rebuilt; then streams every log record after
 * the replica's position as it is written, and a heartbeat when idle. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "repl.h"

#define HEARTBEAT_GAP_MS 100

/* ---- per-replica figures (sender_stats_write) ---- */

#define SENT_RING 256

struct peer {
	struct peer *next;
	char name[96];
	bool active;
	uint64_t acked, durable, primary_seq, sent_records, sent_bytes;
	uint64_t acked_bytes, wire_bytes, bootstraps, rebuilds, errors;
	uint64_t sessions;
	double lag_s;
	/* messages sent and not yet acknowledged: (last seq, bytes so far,
	 * when), oldest first */
	struct { uint64_t seq, bytes; struct timespec at; } ring[SENT_RING];
	unsigned head, n;
};

static pthread_mutex_t peers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct peer *peers;

static struct peer *peer_get(const char *name)
{
	struct peer *p;

	pthread_mutex_lock(&peers_mu);
	for (p = peers; p; p = p->next)
		if (!strcmp(p->name, name))
			break;
	if (!p) { /* forget replicas long gone, past 64 entries */
		size_t n = 0;

		for (struct peer **pp = &peers; *pp;) {
			if (++n > 64 && !(*pp)->active) {
				struct peer *dead = *pp;

				*pp = dead->next;
				free(dead);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
	if (!p && (p = calloc(1, sizeof(*p)))) {
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->next = peers;
		peers = p;
	}
	if (p) {
		p->active = true;
		p->sessions++;
		p->n = 0;
	}
	pthread_mutex_unlock(&peers_mu);
	return p;
}

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void peer_sent(struct peer *p, uint64_t seq, uint64_t bytes)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&peers_mu);
	p->primary_seq = seq;
	p->sent_bytes += bytes;
	if (p->n == SENT_RING) { /* forget the oldest */
		p->head = (p->head + 1) % SENT_RING;
		p->n--;
	}
	i = (p->head + p->n++) % SENT_RING;
	p->ring[i].seq = seq;
	p->ring[i].bytes = p->sent_bytes;
	clock_gettime(CLOCK_MONOTONIC, &p->ring[i].at);
	pthread_mutex_unlock(&peers_mu);
}

static void peer_acked(struct peer *p, uint64_t applied, uint64_t durable)
{
	if (!p)
		return;
	pthread_mutex_lock(&peers_mu);
	p->acked = applied;
	p->durable = durable;
	while (p->n && p->ring[p->head].seq <= applied) {
		p->acked_bytes = p->ring[p->head].bytes;
		p->head = (p->head + 1) % SENT_RING;
		p->n--;
	}
	if (!p->n)
		p->acked_bytes = p->sent_bytes;
	pthread_mutex_unlock(&peers_mu);
}

void sender_stats_write(const char *path)
{
	char tmp[4200];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	pthread_mutex_lock(&peers_mu);
#define FAM(nm, type, help) \
	fprintf(f, "# HELP lsmfs_sender_" nm " " help "\n" \
		"# TYPE lsmfs_sender_" nm " " type "\n"); \
	for (struct peer *p = peers; p; p = p->next)
#define ROW(nm, fmt, val) \
		fprintf(f, "lsmfs_sender_" nm "{replica=\"%s\"} " fmt "\n", \
			p->name, val)
	FAM("connected", "gauge", "1 while the replica is connected.")
		ROW("connected", "%d", p->active ? 1 : 0);
	FAM("acked_seq", "gauge", "Last sequence the replica applied.")
		ROW("acked_seq", "%" PRIu64, p->acked);
	FAM("durable_seq", "gauge", "Last sequence durable on the replica.")
		ROW("durable_seq", "%" PRIu64, p->durable);
	FAM("lag_records", "gauge", "Sequence numbers sent or readable but "
	    "not yet acknowledged.")
		ROW("lag_records", "%" PRIu64, p->primary_seq > p->acked ?
		    p->primary_seq - p->acked : 0);
	FAM("lag_bytes", "gauge", "Record bytes sent and not yet "
	    "acknowledged.")
		ROW("lag_bytes", "%" PRIu64, p->sent_bytes - p->acked_bytes);
	FAM("lag_seconds", "gauge", "Age of the oldest unacknowledged "
	    "message.")
		ROW("lag_seconds", "%.3f", p->n ?
		    since(&p->ring[p->head].at) : 0.0);
	FAM("record_bytes_total", "counter", "Log record bytes sent.")
		ROW("record_bytes_total", "%" PRIu64, p->sent_bytes);
	FAM("wire_bytes_total", "counter", "Bytes written to the connection "
	    "(bootstraps and framing included; the TCP encryption adds 21 "
	    "bytes per 64 KiB).")
		ROW("wire_bytes_total", "%" PRIu64, p->wire_bytes);
	FAM("records_total", "counter", "Log records sent.")
		ROW("records_total", "%" PRIu64, p->sent_records);
	FAM("bootstraps_total", "counter", "Bootstraps sent (rebuilds "
	    "included).")
		ROW("bootstraps_total", "%" PRIu64, p->bootstraps);
	FAM("rebuilds_total", "counter", "Rebuilds of a diverged replica.")
		ROW("rebuilds_total", "%" PRIu64, p->rebuilds);
	FAM("errors_total", "counter", "Sessions that ended in an error.")
		ROW("errors_total", "%" PRIu64, p->errors);
	FAM("sessions_total", "counter", "Connections of the replica.")
		ROW("sessions_total", "%" PRIu64, p->sessions);
#undef FAM
#undef ROW
	pthread_mutex_unlock(&peers_mu);
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* What the manifest named by CURRENT looked like when the epochs were
 * last read (any edit changes it: size, time, or the file itself). */
struct stamp {
	char current[64];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct sctx {
	const char *dir;
	struct stamp stamp;
	struct lr_epoch sent_epochs[LSM_EPOCHS_MAX]; /* the receiver has */
	uint32_t nsent;
	struct lr_conn *c;
	struct lr_buf b;
	struct lsm_err *err;
	struct peer *peer;
	uint64_t sent_records, sent_bytes, last, msg_bytes;
	uint64_t wire_base; /* the peer's wire bytes of earlier sessions */
	uint64_t acked, durable;
};

static void epochs_to_wire(const struct lsm_files *f, struct lr_epoch *e,
			   uint32_t *n)
{
	for (unsigned i = 0; i < f->nepochs; i++) {
		e[i].tag = f->epochs[i].tag;
		e[i].start_seq = f->epochs[i].start_seq;
	}
	*n = f->nepochs;
}

static void manifest_stamp(const char *dir, struct stamp *st)
{
	char path[PATH_MAX];
	struct stat sb;
	ssize_t got;
	int fd;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	got = read(fd, st->current, sizeof(st->current) - 1);
	close(fd);
	if (got <= 0)
		return;
	st->current[got] = 0;
	st->current[strcspn(st->current, "\n")] = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, st->current);
	if (stat(path, &sb) == 0) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
		st->size = sb.st_size;
		st->mtime = sb.st_mtim;
	}
}

/* Before records go out: when the primary's manifest changed since the
 * epochs were last read, reads them again and, if they changed, sends
 * them first.  A record of a new epoch exists only once the manifest
 * records that epoch (the open that begins it writes nothing before), so
 * the receiver always knows the epoch of what it applies. */
static int epochs_update(struct sctx *s)
{
	struct stamp now;
	struct lsm_files *f = NULL;
	struct lr_epoch e[LSM_EPOCHS_MAX];
	struct lr_buf b = { 0 };
	uint32_t n;
	int rc = -ENOENT;

	manifest_stamp(s->dir, &now);
	if (!memcmp(&now, &s->stamp, sizeof(now)))
		return 0;
	for (int i = 0; i < 8 && rc == -ENOENT; i++)
		rc = lsm_files_list(s->dir, &f, s->err);
	if (rc < 0)
		return rc;
	epochs_to_wire(f, e, &n);
	lsm_files_free(f);
	s->stamp = now;
	if (n == s->nsent && !memcmp(e, s->sent_epochs, n * sizeof(*e)))
		return 0;
	rc = lr_enc_epochs(&b, e, n);
	if (rc == 0)
		rc = lr_send(s->c, LR_EPOCHS, b.p, b.len, s->err);
	lr_buf_free(&b);
	if (rc == 0) {
		memcpy(s->sent_epochs, e, n * sizeof(*e));
		s->nsent = n;
		logsink_printf(LOGSINK_INFO, "send", "%s: the primary's epochs "
			       "changed (%u, the newest from sequence %" PRIu64
			       "): sent", s->dir, n,
			       n ? e[n - 1].start_seq : 0);
	}
	return rc;
}

/* Gathers the records cursor_next delivers into one RECORDS message. */
static int add_record(void *ctx, const struct lsm_log_record *r)
{
	struct sctx *s = ctx;
	int rc;

	if (r->len > UINT32_MAX)
		return lsm_err_set(s->err, -EFBIG, "a log record of %zu bytes",
				   r->len);
	rc = lr_records_add(&s->b, r->batch, (uint32_t)r->len);
	if (rc < 0)
		return lsm_err_set(s->err, rc, "cannot frame a record of %zu "
				   "bytes", r->len);
	s->last = r->seq + r->count - 1;
	s->sent_records++;
	s->sent_bytes += r->len;
	s->msg_bytes += r->len;
	return 0;
}

/* Sends what the cursor has now, as one message (at most about 4 MiB);
 * the number of records, 0 when there was nothing new. */
static int send_available(struct sctx *s, struct cursor *cur)
{
	int n, rc;

	lr_records_start(&s->b);
	s->msg_bytes = 0;
	n = cursor_next(cur, 4u << 20, add_record, s, s->err);
	if (n <= 0)
		return n;
	rc = lr_records_finish(&s->b, s->last, repl_real_ns());
	if (rc == 0)
		rc = epochs_update(s);
	if (rc == 0)
		rc = lr_send(s->c, LR_RECORDS, s->b.p, s->b.len, s->err);
	if (rc == 0 && s->peer) {
		pthread_mutex_lock(&peers_mu);
		s->peer->sent_records += (uint64_t)n;
		s->peer->wire_bytes = s->wire_base +
				      lr_conn_stats(s->c)->bytes_sent;
		pthread_mutex_unlock(&peers_mu);
		peer_sent(s->peer, s->last, s->msg_bytes);
	}
	return rc < 0 ? rc : n;
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

/* Whether the epoch behind the replica's position (its last applied
 * sequence) is one of this store's and the position does not pass that
 * epoch's end here: 0, or LR_MODE_REBUILD with WHY.  Nothing to compare
 * (a side made before epochs, a position before the replica's first
 * epoch, or older than the oldest epoch kept here) is 0: the checks of
 * generations and of the log decide alone, as before epochs. */
static int epoch_check(const struct lr_hello *h, const struct lsm_files *f,
		       char *why, size_t cap)
{
	const struct lr_epoch *mine = NULL;
	uint64_t end;

	if (!h->nepochs || !f->nepochs)
		return 0;
	for (uint32_t i = 0; i < h->nepochs; i++)
		if (h->epochs[i].start_seq <= h->seq &&
		    (!mine || h->epochs[i].start_seq > mine->start_seq))
			mine = &h->epochs[i];
	if (!mine || mine->start_seq < f->epochs[0].start_seq)
		return 0;
	for (unsigned j = 0; j < f->nepochs; j++) {
		if (f->epochs[j].tag != mine->tag ||
		    f->epochs[j].start_seq != mine->start_seq)
			continue;
		end = j + 1 < f->nepochs ? f->epochs[j + 1].start_seq - 1
					 : UINT64_MAX;
		if (h->seq <= end)
			return 0;
		snprintf(why, cap, "the replica went on to sequence %" PRIu64
			 " in epoch %016" PRIx64 ", which ended at %" PRIu64
			 " here (this store reopened and wrote other records "
			 "at those numbers: it lost writes it had shipped)",
			 h->seq, mine->tag, end);
		return LR_MODE_REBUILD;
	}
	snprintf(why, cap, "the replica's sequence %" PRIu64 " lies in epoch "
		 "%016" PRIx64 " (from %" PRIu64 "), which this store's history "
		 "does not hold (restored from a backup, or it lost writes it "
		 "had shipped)", h->seq, mine->tag, mine->start_seq);
	return LR_MODE_REBUILD;
}

/* Decides how the replica goes on: LR_MODE_* and *CUR (stream). */
static int decide(const char *dir, const struct lr_hello *h,
		  const struct lsm_files *f, bool unsynced,
		  struct cursor **cur, char *why, size_t cap,
		  struct lsm_err *err)
{
	const struct lsm_identity *id = &f->identity;
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
	if (epoch_check(h, f, why, cap))
		return LR_MODE_REBUILD;
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
			peer_acked(s->peer, a.applied_seq, a.durable_seq);
		} else if (type == LR_ERROR) {
			return repl_peer_error(p, len, "the replica failed",
					       s->err);
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
				   .now_ns = repl_real_ns() };
	int rc = lr_enc_heartbeat(&s->b, &hb);

	return rc < 0 ? rc : lr_send(s->c, LR_HEARTBEAT, s->b.p, s->b.len,
				     s->err);
}

static int stream(struct cursor *cur, struct sctx *s,
		  const struct repl_opts *o)
{
	int idle = o->idle_ms > 0 ? o->idle_ms : 1000;
	bool done = false, told = false;
	uint64_t last_hb = 0;
	int rc = 0;

	while (!repl_stop && !done) {
		struct pollfd pf[2] = {
			{ .fd = lr_conn_fd(s->c), .events = POLLIN },
			{ .fd = cursor_wait_fd(cur), .events = POLLIN },
		};
		int n = 0;

		rc = send_available(s, cur);
		if (rc < 0)
			break;
		if (rc > 0) {
			told = false;
			continue;
		}
		/* caught up: say so (a --once receiver is waiting for it),
		 * but at most every HEARTBEAT_GAP_MS while records flow */
		if (!told && repl_mono_ms() - last_hb >= HEARTBEAT_GAP_MS) {
			rc = heartbeat(s, cursor_seq(cur));
			if (rc < 0)
				break;
			told = true;
			last_hb = repl_mono_ms();
		}
		n = poll(pf, pf[1].fd >= 0 ? 2 : 1,
			 !told ? HEARTBEAT_GAP_MS : pf[1].fd >= 0 ? idle : 50);
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
	s.peer = peer_get(o->peer ? o->peer : "?");
	if (s.peer) {
		pthread_mutex_lock(&peers_mu);
		s.wire_base = s.peer->wire_bytes;
		pthread_mutex_unlock(&peers_mu);
	}
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
	s.dir = dir;
	manifest_stamp(dir, &s.stamp); /* before the list: a change in
					* between is seen as one */
	rc = lsm_files_list(dir, &f, err);
	if (rc < 0)
		goto out;
	if (!f->has_identity) {
		rc = lsm_err_set(err, -EPROTONOSUPPORT, "%s has no store "
				 "identity yet: mount it (or open it) writable "
				 "once with this lsmfs", dir);
		goto out;
	}
	mode = decide(dir, &h, f, unsynced, &cur, why, sizeof(why), err);
	if (mode < 0) {
		rc = mode;
		goto out;
	}
	logsink_printf(mode == LR_MODE_REBUILD ? LOGSINK_WARN : LOGSINK_INFO, "send",
	     "%s: replica %s at sequence %" PRIu64 ": %s%s", dir,
	     o->peer ? o->peer : "?", h.seq,
	     mode == LR_MODE_REBUILD ? "DIVERGED, rebuilding it: " :
	     mode == LR_MODE_BOOTSTRAP ? "bootstrap: " : "", why);
	if (mode != LR_MODE_STREAM && s.peer) {
		pthread_mutex_lock(&peers_mu);
		s.peer->bootstraps++;
		s.peer->rebuilds += mode == LR_MODE_REBUILD;
		s.peer->acked = s.peer->durable = h.seq;
		pthread_mutex_unlock(&peers_mu);
	}
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
	epochs_to_wire(f, s.sent_epochs, &s.nsent);
	w.epochs = s.sent_epochs;
	w.nepochs = s.nsent;

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
	rc = stream(cur, &s, o);
out:
	if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE) {
		struct lr_buf b = { 0 };

		if (lr_enc_error(&b, rc, err->msg) == 0)
			lr_send(c, LR_ERROR, b.p, b.len, NULL);
		lr_buf_free(&b);
	}
	if (s.peer) {
		pthread_mutex_lock(&peers_mu);
		s.peer->active = false;
		if (rc < 0 && rc != -ECONNRESET && rc != -EPIPE)
			s.peer->errors++;
		pthread_mutex_unlock(&peers_mu);
	}
	boot_free(boot);
	cursor_free(cur);
	lsm_files_free(f);
	lr_hello_free(&h);
	lr_buf_free(&s.b);
	return rc;
}
