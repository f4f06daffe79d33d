/* receiver.c - the replica's side: says where the replica stands, takes
 * a bootstrap when told, then applies each record at the primary's
 * sequence numbers (lsm_apply), syncs the replica often (every 50 ms of
 * traffic, or when the stream pauses) and acknowledges what is applied
 * and durable.  It holds the replica's lock (DIR/LOCK) from start to end,
 * handing it to the store it opens (options.lock_fd) rather than letting
 * go, also while a bootstrap or a rebuild swaps the replica's files, so
 * nobody mounts the replica writable mid-stream; read-only followers are
 * fine. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "lr_crc.h"
#include "ns.h"
#include "repl.h"

#define SYNC_EVERY_MS 50

/* Counters of the process (every session adds to them). */
static struct {
	uint64_t records, ops, bytes, bootstraps, rebuilds, sessions;
	uint64_t boot_seq;
} totals;

struct rstate {
	const char *dir;
	const struct repl_opts *o;
	struct lsm_db *db;
	int lock_fd;
	uint64_t applied, durable, primary_seq;
	uint32_t last_crc;
	double lag_s;          /* sender's read of the last record -> apply */
	uint64_t last_stats_ms;
	struct lr_buf b;
	int lsmfs_store;       /* the replica holds an lsmfs namespace: 1,
	                        * 0 not, -1 not known yet */
};

/* Our own lock on DIR/LOCK while no store is open. */
static int lock_dir(struct rstate *r, struct lsm_err *err)
{
	char path[PATH_MAX];

	if (r->lock_fd >= 0)
		return 0;
	pjoin(path, r->dir, "LOCK");
	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0644);
	if (r->lock_fd < 0)
		return lsm_err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(r->lock_fd);
		r->lock_fd = -1;
		return lsm_err_set(err, e == EWOULDBLOCK ? -EBUSY : -e,
				   "%s is in use by another process (a "
				   "writable mount, or another receiver)",
				   r->dir);
	}
	return 0;
}

static void unlock_dir(struct rstate *r)
{
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	r->lock_fd = -1;
}

static int open_with(struct rstate *r, bool lsmfs, struct lsm_err *err)
{
	struct lsm_options o;
	int rc;

	lsm_options_init(&o);
	if (lsmfs)
		ns_engine_defaults(&o);
	o.replica = true;
	o.create_if_missing = false;
	o.sync = LSM_SYNC_MANUAL;
	o.log_fn = logsink_engine;
	o.lock_fd = r->lock_fd; /* handed over: never free in between */
	rc = lsm_open(r->dir, &o, &r->db, err);
	if (rc < 0) {
		r->db = NULL;
		return rc;
	}
	r->applied = r->durable = lsm_last_seq(r->db);
	return 0;
}

/* Opens the replica's store.  An lsmfs store is written with the engine
 * options its mount uses (64 MiB memtables, 16 MiB tables, tables cut at
 * a change of key kind: fs/ns.c), so that the replica flushes and
 * compacts as little as its primary and a promoted replica is laid out as
 * a primary is; any other store with the engine's defaults (cutting its
 * tables at every change of first byte would split them small).  Which it
 * is is read from the files before the first open: an open with the other
 * options would already flush its recovered log the other way (one L0
 * table across every kind of key, under which no later flush could
 * place its file data below L0). */
static int open_replica(struct rstate *r, struct lsm_err *err)
{
	if (r->lsmfs_store < 0)
		r->lsmfs_store = ns_store_is_lsmfs(r->dir);
	return open_with(r, r->lsmfs_store == 1, err);
}

/* Snapshots do not travel to replicas (README, "Snapshots"): those of
 * the primary that came with a bootstrap's checkpoint are dropped, as
 * nothing would ever drop them here (the log does not carry snapshots)
 * and they would pin the replica's space for good. */
static void drop_snapshots(struct rstate *r, const char *dir)
{
	struct lsm_snapshot_info *l = NULL;
	struct lsm_err err = { 0 };
	size_t n = 0;

	if (lsm_snapshot_list(r->db, &l, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (lsm_snapshot_drop(r->db, l[i].name, &err) < 0)
			logsink_printf(LOGSINK_WARN, "receive", "%s: dropping "
				       "the primary's snapshot '%s': %s", dir,
				       l[i].name, err.msg);
	if (n)
		logsink_printf(LOGSINK_INFO, "receive", "%s: dropped the %zu "
			       "snapshot%s the bootstrap carried (snapshots "
			       "stay on the primary)", dir, n,
			       n == 1 ? "" : "s");
	free(l);
}

static void close_replica(struct rstate *r)
{
	if (!r->db)
		return;
	lsm_close(r->db, NULL);
	r->db = NULL;
}

/* Takes the primary's epochs (the N newest, at most LSM_EPOCHS_MAX);
 * -EINVAL (diverged) when the replica's position lies in another epoch
 * there: the session ends and the next one rebuilds the replica. */
static int adopt_epochs(struct lsm_db *db, const struct lr_epoch *e,
			uint32_t n, struct lsm_err *err)
{
	struct lsm_epoch v[LSM_EPOCHS_MAX];
	uint32_t skip = n > LSM_EPOCHS_MAX ? n - LSM_EPOCHS_MAX : 0;

	if (n == 0)
		return 0; /* a primary made before epochs */
	for (uint32_t i = skip; i < n; i++) {
		v[i - skip].tag = e[i].tag;
		v[i - skip].start_seq = e[i].start_seq;
	}
	return lsm_epochs_adopt(db, v, n - skip, err);
}

/* Lists the replica's tables for the sender (files it need not send). */
static int list_held(const char *dir, struct lr_hello *h,
		     struct lsm_err *err)
{
	struct lsm_files *f = NULL;
	char path[PATH_MAX];
	int rc = lsm_files_list(dir, &f, err);

	if (rc < 0)
		return rc;
	h->files = calloc(f->ntables + 1, sizeof(*h->files));
	if (!h->files) {
		lsm_files_free(f);
		return lsm_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < f->ntables && h->nfiles < LR_MAX_FILES; i++) {
		struct lr_file_id *id = &h->files[h->nfiles];

		snprintf(id->name, sizeof(id->name), "%06" PRIu64 ".sst",
			 f->tables[i].number);
		pjoin(path, dir, id->name);
		if (file_ident(path, &id->size, &id->crc) == 0)
			h->nfiles++;
	}
	lsm_files_free(f);
	return 0;
}

static void write_stats(struct rstate *r)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (!r->o->stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->o->stats_path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f,
		"# HELP lsmfs_replica_applied_seq Last sequence applied.\n"
		"# TYPE lsmfs_replica_applied_seq gauge\n"
		"lsmfs_replica_applied_seq %" PRIu64 "\n"
		"# HELP lsmfs_replica_durable_seq Last sequence durable here.\n"
		"# TYPE lsmfs_replica_durable_seq gauge\n"
		"lsmfs_replica_durable_seq %" PRIu64 "\n"
		"# HELP lsmfs_replica_primary_seq Primary's last sequence as "
		"last heard.\n"
		"# TYPE lsmfs_replica_primary_seq gauge\n"
		"lsmfs_replica_primary_seq %" PRIu64 "\n"
		"# HELP lsmfs_replica_lag_records Sequence numbers behind.\n"
		"# TYPE lsmfs_replica_lag_records gauge\n"
		"lsmfs_replica_lag_records %" PRIu64 "\n"
		"# HELP lsmfs_replica_lag_seconds From the sender's read to "
		"the apply, last record.\n"
		"# TYPE lsmfs_replica_lag_seconds gauge\n"
		"lsmfs_replica_lag_seconds %.6f\n"
		"# HELP lsmfs_replica_records_total Records applied.\n"
		"# TYPE lsmfs_replica_records_total counter\n"
		"lsmfs_replica_records_total %" PRIu64 "\n"
		"# HELP lsmfs_replica_ops_total Operations (sequence numbers) "
		"applied.\n"
		"# TYPE lsmfs_replica_ops_total counter\n"
		"lsmfs_replica_ops_total %" PRIu64 "\n"
		"# HELP lsmfs_replica_record_bytes_total Batch bytes applied.\n"
		"# TYPE lsmfs_replica_record_bytes_total counter\n"
		"lsmfs_replica_record_bytes_total %" PRIu64 "\n"
		"# HELP lsmfs_replica_bootstraps_total Bootstraps taken.\n"
		"# TYPE lsmfs_replica_bootstraps_total counter\n"
		"lsmfs_replica_bootstraps_total %" PRIu64 "\n"
		"# HELP lsmfs_replica_rebuilds_total Rebuilds after a "
		"divergence.\n"
		"# TYPE lsmfs_replica_rebuilds_total counter\n"
		"lsmfs_replica_rebuilds_total %" PRIu64 "\n"
		"# HELP lsmfs_replica_bootstrap_seq Sequence of the last "
		"bootstrap installed.\n"
		"# TYPE lsmfs_replica_bootstrap_seq gauge\n"
		"lsmfs_replica_bootstrap_seq %" PRIu64 "\n"
		"# HELP lsmfs_replica_sessions_total Connections to the "
		"primary's side.\n"
		"# TYPE lsmfs_replica_sessions_total counter\n"
		"lsmfs_replica_sessions_total %" PRIu64 "\n",
		r->applied, r->durable, r->primary_seq,
		r->primary_seq > r->applied ? r->primary_seq - r->applied : 0,
		r->lag_s, totals.records, totals.ops, totals.bytes,
		totals.bootstraps, totals.rebuilds, totals.boot_seq,
		totals.sessions);
	if (fclose(f) == 0)
		rename(tmp, r->o->stats_path);
}

static int ack(struct rstate *r, struct lr_conn *c, struct lsm_err *err)
{
	struct lr_ack a = { .applied_seq = r->applied,
			    .durable_seq = r->durable,
			    .batch_crc = r->last_crc };
	int rc = lr_enc_ack(&r->b, &a);

	return rc < 0 ? rc : lr_send(c, LR_ACK, r->b.p, r->b.len, err);
}

static int apply(struct rstate *r, const uint8_t *p, size_t len,
		 struct lsm_err *err)
{
	struct lr_records m;
	struct lr_record rec;
	int rc = lr_dec_records(p, len, &m, err);

	if (rc < 0)
		return rc;
	const uint8_t *last = NULL;
	uint32_t last_len = 0;

	while (lr_records_next(&m, &rec)) {
		/* the stream is gapless: a record past the next sequence
		 * means the primary's side lost some, and applying it would
		 * leave the replica silently without them */
		if (rec.seq != r->applied + 1)
			return lsm_err_set(err, -EPROTO, "%s: the primary sent "
					   "sequence %" PRIu64 " after %" PRIu64
					   ": records are missing", r->dir,
					   rec.seq, r->applied);
		rc = lsm_apply(r->db, rec.batch, rec.len, 0, err);
		if (rc == -ENOSPC)
			logsink_printf(LOGSINK_ERR, "receive", "%s: the replica's disk is "
			     "full: %s", r->dir, err->msg);
		if (rc < 0)
			return rc;
		r->applied = rec.seq + rec.count - 1;
		last = rec.batch;
		last_len = rec.len;
		totals.records++;
		totals.ops += rec.count;
		totals.bytes += rec.len;
	}
	if (last) /* for the ACK: the batch it stands at, once a message */
		r->last_crc = lr_crc32(0, last, last_len);
	if (m.primary_last_seq > r->primary_seq)
		r->primary_seq = m.primary_last_seq;
	r->lag_s = (double)(repl_real_ns() - m.commit_ns) / 1e9;
	return 0;
}

/* The replica is synced by a thread of its own, every SYNC_EVERY_MS
 * while there is something to sync, so that an fsync never holds up the
 * records behind it (the engine lets lsm_sync run beside lsm_apply). */
struct syncer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lsm_db *db;
	uint64_t want, done;   /* under mu */
	bool stop;
	int rc;
	struct lsm_err err;
};

static void *sync_loop(void *arg)
{
	struct syncer *y = arg;

	pthread_mutex_lock(&y->mu);
	while (!y->stop && y->rc == 0) {
		uint64_t target = y->want;

		if (target <= y->done) {
			pthread_cond_wait(&y->cv, &y->mu);
			continue;
		}
		pthread_mutex_unlock(&y->mu);
		{
			struct lsm_err e = { 0 };
			int rc = lsm_sync(y->db, &e);

			pthread_mutex_lock(&y->mu);
			if (rc < 0) {
				y->rc = rc;
				y->err = e;
			} else if (target > y->done) {
				y->done = target;
			}
			pthread_mutex_unlock(&y->mu);
		}
		usleep(SYNC_EVERY_MS * 1000);
		pthread_mutex_lock(&y->mu);
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

static void syncer_want(struct syncer *y, uint64_t seq)
{
	pthread_mutex_lock(&y->mu);
	if (seq > y->want) {
		y->want = seq;
		pthread_cond_signal(&y->cv);
	}
	pthread_mutex_unlock(&y->mu);
}

/* What is durable now; a failed sync is returned once seen. */
static int syncer_done(struct syncer *y, uint64_t *done, struct lsm_err *err)
{
	int rc;

	pthread_mutex_lock(&y->mu);
	*done = y->done;
	rc = y->rc;
	if (rc < 0 && err)
		*err = y->err;
	pthread_mutex_unlock(&y->mu);
	return rc;
}

static int stream(struct rstate *r, struct lr_conn *c, struct lsm_err *err)
{
	struct syncer y = { .db = r->db, .want = r->durable,
			    .done = r->durable };
	uint64_t acked = r->durable;
	bool caught_up = false;
	int rc = 0;

	pthread_mutex_init(&y.mu, NULL);
	pthread_cond_init(&y.cv, NULL);
	if (pthread_create(&y.th, NULL, sync_loop, &y) != 0) {
		pthread_mutex_destroy(&y.mu);
		pthread_cond_destroy(&y.cv);
		return lsm_err_set(err, -EAGAIN, "cannot start a thread");
	}
	while (!repl_stop) {
		enum lr_type type;
		const uint8_t *p;
		size_t len;
		uint64_t now = repl_mono_ms();

		rc = syncer_done(&y, &r->durable, err);
		if (rc < 0)
			break;
		if (r->durable > acked && !lr_conn_pending(c)) {
			rc = ack(r, c, err);
			if (rc < 0)
				break;
			acked = r->durable;
		}
		if (now - r->last_stats_ms >= 1000) {
			write_stats(r);
			r->last_stats_ms = now;
			if (r->o->progress)
				fprintf(stderr, "\rcatch-up: at sequence %" PRIu64
					", the primary at %" PRIu64 ", %" PRIu64
					" to go   ", r->applied, r->primary_seq,
					r->primary_seq > r->applied ?
					r->primary_seq - r->applied : 0);
		}
		rc = lr_recv(c, &type, &p, &len, acked < r->applied ?
			     SYNC_EVERY_MS / 2 : 1000, err);
		if (rc == -ETIMEDOUT) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (type == LR_RECORDS) {
			rc = apply(r, p, len, err);
			if (rc == 0)
				syncer_want(&y, r->applied);
		} else if (type == LR_EPOCHS) {
			struct lr_epoch *e = NULL;
			uint32_t n = 0;

			rc = lr_dec_epochs(p, len, &e, &n, err);
			if (rc == 0)
				rc = adopt_epochs(r->db, e, n, err);
			free(e);
		} else if (type == LR_HEARTBEAT) {
			struct lr_heartbeat hb;

			rc = lr_dec_heartbeat(p, len, &hb, err);
			if (rc == 0 && hb.primary_last_seq > r->primary_seq)
				r->primary_seq = hb.primary_last_seq;
			if (rc == 0 && hb.primary_last_seq <= r->applied)
				caught_up = true;
			if (rc == 0)
				rc = ack(r, c, err);
		} else if (type == LR_ERROR) {
			rc = repl_peer_error(p, len, "the primary's side failed",
					     err);
		} else {
			rc = lsm_err_set(err, -EPROTO, "unexpected message %d "
					 "while streaming", (int)type);
		}
		if (rc < 0)
			break;
		if (caught_up && r->o->once)
			break; /* done: the sender sees the connection close */
		caught_up = false;
	}
	pthread_mutex_lock(&y.mu);
	y.stop = true;
	pthread_cond_signal(&y.cv);
	pthread_mutex_unlock(&y.mu);
	pthread_join(y.th, NULL);
	pthread_mutex_destroy(&y.mu);
	pthread_cond_destroy(&y.cv);
	if (r->db && r->durable < r->applied) {
		int src = lsm_sync(r->db, rc == 0 ? err : NULL);

		if (src == 0)
			r->durable = r->applied;
		else if (rc == 0)
			rc = src;
	}
	if (rc == 0 && caught_up)
		rc = ack(r, c, err);
	write_stats(r);
	return rc;
}

/* What DIR holds: 1 a replica store, 0 nothing (no CURRENT), or an
 * error (a store that is not a replica is never overwritten). */
static int look(const char *dir, struct lsm_files **f, struct lsm_err *err)
{
	char path[PATH_MAX];
	int rc;

	pjoin(path, dir, "CURRENT");
	if (access(path, F_OK) != 0)
		return 0;
	rc = lsm_files_list(dir, f, err);
	if (rc < 0)
		return rc;
	if (!(*f)->has_identity || !(*f)->identity.replica) {
		lsm_files_free(*f);
		*f = NULL;
		return lsm_err_set(err, -EEXIST, "%s holds a store that is not "
				   "a replica (a primary, or a promoted "
				   "replica); replicate into another "
				   "directory, or remove it first", dir);
	}
	return 1;
}

int receiver_run(const char *dir, struct lr_conn *c, const struct repl_opts *o,
		 struct lsm_err *err)
{
	struct rstate r = { .dir = dir, .o = o, .lock_fd = -1,
			    .lsmfs_store = -1 };
	struct lr_hello h = { 0 };
	struct lr_welcome w = { 0 };
	struct lr_history hist[LSM_HISTORY_MAX];
	struct lr_epoch ep[LSM_EPOCHS_MAX];
	struct lsm_files *f = NULL;
	enum lr_type type;
	const uint8_t *p;
	size_t len;
	int rc, held;

	totals.sessions++;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return lsm_err_set(err, -errno, "%s: cannot create: %s", dir,
				   strerror(errno));
	rc = lock_dir(&r, err);
	if (rc == 0)
		rc = boot_recover(dir, err);
	if (rc < 0)
		goto out;
	held = look(dir, &f, err);
	if (held < 0) {
		rc = held;
		goto out;
	}
	if (held) {
		rc = open_replica(&r, err);
		if (rc < 0)
			goto out;
		h.flags |= LR_HELLO_HAS_STORE;
		memcpy(h.store_id, f->identity.id, LR_STORE_ID_BYTES);
		h.generation = f->identity.generation;
		h.seq = r.applied;
		for (unsigned i = 0; i < f->identity.nhistory; i++) {
			hist[i].gen = f->identity.history[i].generation;
			hist[i].start_seq = f->identity.history[i].start_seq;
		}
		h.history = hist;
		h.nhistory = f->identity.nhistory;
		for (unsigned i = 0; i < f->nepochs; i++) {
			ep[i].tag = f->epochs[i].tag;
			ep[i].start_seq = f->epochs[i].start_seq;
		}
		h.epochs = ep;
		h.nepochs = f->nepochs;
		if ((rc = list_held(dir, &h, err)) < 0)
			goto out;
	}
	if (o->unsynced)
		h.flags |= LR_HELLO_UNSYNCED;
	if (o->compress)
		h.flags |= LR_HELLO_COMPRESS;
	h.dir = (char *)"";
	rc = lr_enc_hello(&r.b, &h);
	if (rc == 0)
		rc = lr_send(c, LR_HELLO, r.b.p, r.b.len, err);
	if (rc == 0)
		rc = lr_recv(c, &type, &p, &len, 60000, err);
	if (rc == 0 && type == LR_ERROR) {
		rc = repl_peer_error(p, len, "the primary's side refused", err);
		goto out;
	}
	if (rc == 0 && type != LR_WELCOME)
		rc = lsm_err_set(err, -EPROTO, "expected WELCOME, got %d",
				 (int)type);
	if (rc == 0)
		rc = lr_dec_welcome(p, len, &w, err);
	if (rc < 0)
		goto out;
	if (w.mode != LR_MODE_STREAM) {
		uint64_t seq = 0;

		logsink_printf(w.mode == LR_MODE_REBUILD ? LOGSINK_WARN : LOGSINK_INFO,
		     "receive", "%s: %s: %s", dir,
		     w.mode == LR_MODE_REBUILD ? "DIVERGED from the primary, "
		     "rebuilding the replica" : "bootstrap", w.why);
		close_replica(&r);
		if ((rc = lock_dir(&r, err)) < 0)
			goto out;
		rc = boot_receive(dir, c, &seq, w.boot_bytes, o, err);
		if (rc < 0)
			goto out;
		if (w.mode == LR_MODE_REBUILD)
			totals.rebuilds++;
		totals.bootstraps++;
		totals.boot_seq = seq;
		rc = open_replica(&r, err);
		if (rc < 0)
			goto out;
		if (r.applied != seq)
			logsink_printf(LOGSINK_WARN, "receive", "%s: the bootstrap set reads "
			     "back at sequence %" PRIu64 ", the primary said %"
			     PRIu64, dir, r.applied, seq);
		logsink_printf(LOGSINK_INFO, "receive", "%s: installed a bootstrap at "
		     "sequence %" PRIu64, dir, r.applied);
		drop_snapshots(&r, dir);
	} else if (!r.db) {
		rc = lsm_err_set(err, -EPROTO, "told to stream into an empty "
				 "replica");
		goto out;
	}
	{
		struct lsm_identity id = { 0 };

		memcpy(id.id, w.store_id, LSM_STORE_ID_BYTES);
		id.nhistory = w.nhistory;
		for (unsigned i = 0; i < w.nhistory && i < LSM_HISTORY_MAX;
		     i++) {
			id.history[i].generation = w.history[i].gen;
			id.history[i].start_seq = w.history[i].start_seq;
		}
		id.generation = w.generation;
		rc = lsm_identity_adopt(r.db, &id, err);
		if (rc == 0)
			rc = adopt_epochs(r.db, w.epochs, w.nepochs, err);
		if (rc < 0)
			goto out;
	}
	r.primary_seq = w.last_seq;
	rc = ack(&r, c, err);
	if (rc == 0)
		rc = stream(&r, c, err);
out:
	close_replica(&r);
	unlock_dir(&r);
	lsm_files_free(f);
	free(h.files);
	lr_welcome_free(&w);
	lr_buf_free(&r.b);
	return rc;
}
