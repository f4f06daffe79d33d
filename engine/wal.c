/* wal.c - framed, checksummed records appended to a log file, and their
 * replay after a crash (format and recovery rule: engine/doc/wal.md).
 * Appends are serialized by the caller; wal_sync may run concurrently in
 * another thread.  The first append or sync error is sticky: the log is
 * then broken and every later call reports that error. */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "coding.h"
#include "crc.h"
#include "mapcopy.h"
#include "writeback.h"

/* Larger frame buffers are released after the append that needed them. */
#define WAL_KEEP_FRAME_BYTES (4u << 20)
/* A written group of at least WAL_GATHER_MIN bytes and at most
 * WAL_GATHER_RECS records goes to the file as its records lie, their
 * headers in between (io->pwritev), rather than copied behind their
 * headers into the frame buffer first: file data (a 1 MiB write of lsmfs
 * is one record) then crosses memory once less. */
#define WAL_GATHER_MIN (64u << 10)
#define WAL_GATHER_RECS 64u

/* Mapped appends (wal_create_mapped): the window of the file mapped at a
 * time, the largest group framed into it (larger ones are written), and
 * the longest a reader tailing the log waits to be told of new records
 * while records keep coming. */
#define WAL_MAP_BYTES (1u << 20)
#define WAL_MAP_MAX_GROUP (256u << 10)
#define WAL_MAP_PAGE 4096u
#define WAL_NOTIFY_NS 1000000L

struct wal {
	const struct lsm_io *io;
	int fd;
	char *path;
	struct buf frame;        /* append scratch; owned by the appender */
	_Atomic uint64_t size;   /* bytes written; stored by the appender */
	uint32_t seed;           /* CRC of the salt, 0 when unsalted */
	pthread_mutex_t mu;
	uint64_t synced;         /* bytes known durable; protected by mu */
	bool synced_once;        /* protected by mu */
	struct lsm_err broken;   /* first failure, code 0 if none; by mu */
	atomic_bool is_broken;   /* broken.code != 0, read without mu */
	/* the fsync that seals a segment at a memtable switch is in the write
	 * path: its pages are written as the segment grows (4 ms of a 4 MiB
	 * segment otherwise, about 15% of the writer's time in a 1M-key
	 * fillseq; README) */
	struct writeback wb;     /* appender */

	/* Mapped appends (engine/doc/wal.md, "Writing through a mapping").
	 * The window changes under mu (wal_sync tells the io what was
	 * stored in it); the appender reads map/map_off without it. */
	bool map_on;             /* appender: try the mapping */
	bool mapped_ever;        /* appender: the file may have a zero tail */
	uint8_t *map;            /* the window, or NULL */
	uint64_t map_off;        /* file offset of map[0] */
	uint64_t map_told;       /* by mu: stores before it were told (io) */
	/* The notifier: a thread that raises IN_MODIFY for the records
	 * stored through the mapping (io->map_notify), at most every
	 * WAL_NOTIFY_NS while they keep coming. */
	pthread_t nt_thread;
	bool nt_started;         /* appender */
	pthread_mutex_t nt_mu;
	pthread_cond_t nt_cond;
	bool nt_stop;            /* by nt_mu */
	atomic_bool nt_pending;  /* stores not yet told to watchers */
	uint64_t nt_told;        /* notifier: the end last told */
};

/* The CRC state a record's checksum starts from: nothing for the legacy
 * framing (SALT 0), else the CRC of SALT as 8 little-endian bytes, as if
 * they preceded the length. */
static uint32_t wal_seed(uint64_t salt)
{
	uint8_t b[8];

	if (!salt)
		return 0;
	put_u64le(b, salt);
	return crc32_of(b, sizeof(b));
}

/* Frames REC at DST (room for WAL_HEADER_BYTES + len): crc32 | len, both
 * u32le, then the payload; the crc covers the salt, len and payload (len
 * and payload lie contiguous here so that one crc32 call does). */
static void wal_frame(uint8_t *dst, const struct wal_rec *rec, uint32_t seed)
{
	put_u32le(dst + 4, (uint32_t)rec->len);
	memcpy(dst + WAL_HEADER_BYTES, rec->p, rec->len);
	put_u32le(dst, crc32_extend(seed, dst + 4, 4 + rec->len));
}

int wal_create(const struct lsm_io *io, const char *path, struct wal **out,
	       struct lsm_err *err)
{
	return wal_create_salted(io, path, 0, out, err);
}

int wal_create_salted(const struct lsm_io *io, const char *path,
		      uint64_t salt, struct wal **out, struct lsm_err *err)
{
	return wal_create_mapped(io, path, salt, false, out, err);
}

int wal_create_mapped(const struct lsm_io *io, const char *path,
		      uint64_t salt, bool mapped, struct wal **out,
		      struct lsm_err *err)
{
	struct wal *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
	w->path = strdup(path);
	if (!w->path) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	mapped = mapped && io->map && io->unmap && map_copy_init() == 0;
	/* a shared writable mapping needs a descriptor open for reading */
	rc = io->open(io, path, (mapped ? O_RDWR : O_WRONLY) | O_CREAT |
		      O_TRUNC, 0644, &w->fd);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: create: %s", path, strerror(-rc));
		goto out_free;
	}
	rc = pthread_mutex_init(&w->mu, NULL);
	if (rc == 0) {
		rc = pthread_mutex_init(&w->nt_mu, NULL);
		if (rc)
			pthread_mutex_destroy(&w->mu);
	}
	if (rc == 0) {
		pthread_condattr_t ca;

		rc = pthread_condattr_init(&ca);
		if (rc == 0) {
			pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
			rc = pthread_cond_init(&w->nt_cond, &ca);
			pthread_condattr_destroy(&ca);
		}
		if (rc) {
			pthread_mutex_destroy(&w->nt_mu);
			pthread_mutex_destroy(&w->mu);
		}
	}
	if (rc) {
		io->close(io, w->fd);
		rc = lsm_err_set(err, -rc, "%s: mutex: %s", path, strerror(rc));
		goto out_free;
	}
	w->map_on = mapped;
	atomic_init(&w->nt_pending, false);
	w->io = io;
	w->seed = wal_seed(salt);
	w->frame = (struct buf)BUF_INIT;
	atomic_init(&w->size, 0);
	atomic_init(&w->is_broken, false);
	*out = w;
	return 0;
out_free:
	free(w->path);
	free(w);
	return rc;
}

/* Copies the sticky error, if any, into ERR and returns its code. */
static int wal_check_broken(struct wal *w, struct lsm_err *err)
{
	int rc;

	if (!atomic_load_explicit(&w->is_broken, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&w->mu);
	rc = w->broken.code;
	if (rc && err)
		*err = w->broken;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* Records the first failure; later ones keep the first. */
static int wal_break(struct wal *w, struct lsm_err *err, int rc,
		     const char *what, uint64_t off)
{
	struct lsm_err e;

	lsm_err_set(&e, rc, "%s: %s at offset %" PRIu64 ": %s", w->path, what,
		    off, strerror(-rc));
	pthread_mutex_lock(&w->mu);
	if (!w->broken.code)
		w->broken = e;
	atomic_store_explicit(&w->is_broken, true, memory_order_release);
	pthread_mutex_unlock(&w->mu);
	if (err)
		*err = e;
	return rc;
}

static int wal_build_frames(struct wal *w, const struct wal_rec *recs,
			    size_t n, size_t total, struct lsm_err *err)
{
	buf_clear(&w->frame);
	if (!buf_reserve(&w->frame, total))
		return lsm_err_set(err, -ENOMEM, "%s: out of memory framing "
				   "%zu bytes", w->path, total);
	for (size_t i = 0; i < n; i++) {
		wal_frame(w->frame.p + w->frame.len, &recs[i], w->seed);
		w->frame.len += WAL_HEADER_BYTES + recs[i].len;
	}
	return 0;
}

/* Writes the group RECS (N records) at OFF with pwritev: the headers are
 * framed in the frame buffer (room reserved for them), each crc computed
 * over its length field and then the record where it lies (the same value
 * as one crc32 over both).  0 or the write's -errno. */
static int wal_write_gathered(struct wal *w, const struct wal_rec *recs,
			      size_t n, uint64_t off)
{
	struct iovec iov[2 * WAL_GATHER_RECS];

	for (size_t i = 0; i < n; i++) {
		uint8_t *h = w->frame.p + i * WAL_HEADER_BYTES;

		put_u32le(h + 4, (uint32_t)recs[i].len);
		put_u32le(h, crc32_extend(crc32_extend(w->seed, h + 4, 4),
					  recs[i].p, recs[i].len));
		iov[2 * i] = (struct iovec){ h, WAL_HEADER_BYTES };
		iov[2 * i + 1] = (struct iovec){ (void *)recs[i].p,
						 recs[i].len };
	}
	w->frame.len = n * WAL_HEADER_BYTES;
	return lsm_io_writev_full(w->io, w->fd, iov, 2 * n, off);
}

/* Writes the group RECS (N records, TOTAL bytes framed) at OFF: a large
 * one as its records lie (wal_write_gathered), a small one framed into
 * the frame buffer first.  -ENOMEM when it could not be framed (nothing
 * written); else 0 with the write's result in *WRC. */
static int write_group(struct wal *w, const struct wal_rec *recs, size_t n,
		       size_t total, uint64_t off, int *wrc,
		       struct lsm_err *err)
{
	int rc;

	if (w->io->pwritev && total >= WAL_GATHER_MIN &&
	    n <= WAL_GATHER_RECS) {
		buf_clear(&w->frame);
		if (!buf_reserve(&w->frame, n * WAL_HEADER_BYTES))
			return lsm_err_set(err, -ENOMEM, "%s: out of memory "
					   "framing %zu records", w->path, n);
		*wrc = wal_write_gathered(w, recs, n, off);
		return 0;
	}
	rc = wal_build_frames(w, recs, n, total, err);
	if (rc < 0)
		return rc;
	*wrc = lsm_io_write_full(w->io, w->fd, w->frame.p, w->frame.len, off);
	return 0;
}

/* ---- appends through a mapping ---- */

/* Tells the io what was stored in the window up to END (under mu). */
static int map_tell(struct wal *w, uint64_t end)
{
	uint64_t from = w->map_told > w->map_off ? w->map_told : w->map_off;
	int rc = 0;

	if (!w->map || end <= from)
		return 0;
	if (w->io->map_stored)
		rc = w->io->map_stored(w->io, w->fd, w->map, w->map_off, from,
				       end);
	if (rc == 0)
		w->map_told = end;
	return rc;
}

/* Ends the window (appender): what was stored in it is told, and its
 * pages' writeback starts once they are out of the mapping (while mapped,
 * each page cleaned would have to be write-protected in every CPU's TLB).
 * A failure breaks the log. */
static int map_drop(struct wal *w, struct lsm_err *err)
{
	uint64_t size = atomic_load(&w->size);
	uint8_t *map = w->map;
	int rc, urc;

	if (!map)
		return 0;
	pthread_mutex_lock(&w->mu);
	rc = map_tell(w, size);
	w->map = NULL;
	pthread_mutex_unlock(&w->mu);
	urc = w->io->unmap(w->io, w->fd, map, WAL_MAP_BYTES);
	if (rc == 0)
		rc = urc;
	if (rc < 0)
		return wal_break(w, err, rc, "write through the mapping",
				 size);
	writeback_note(&w->wb, w->io, w->fd, size);
	return 0;
}

/* Waits (nt_mu held) until WAL_NOTIFY_NS have passed or the notifier is
 * told to stop: true when it is. */
static bool notifier_pause(struct wal *w)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += WAL_NOTIFY_NS;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (!w->nt_stop &&
	       pthread_cond_timedwait(&w->nt_cond, &w->nt_mu, &t) == 0)
		;
	return w->nt_stop;
}

static void *notifier_main(void *arg)
{
	struct wal *w = arg;

	pthread_mutex_lock(&w->nt_mu);
	while (!w->nt_stop) {
		uint64_t end;

		if (!atomic_load(&w->nt_pending)) {
			pthread_cond_wait(&w->nt_cond, &w->nt_mu);
			continue;
		}
		pthread_mutex_unlock(&w->nt_mu);
		end = atomic_load(&w->size);
		if (end > w->nt_told) {
			w->io->map_notify(w->io, w->fd, end);
			w->nt_told = end;
		}
		pthread_mutex_lock(&w->nt_mu);
		if (notifier_pause(w))
			break;
		/* Dekker with the appender (seq_cst): it stores the size,
		 * then looks at pending; clear pending, then look at the
		 * size.  One of the two sees the other's store. */
		atomic_store(&w->nt_pending, false);
		if (atomic_load(&w->size) != w->nt_told)
			atomic_store(&w->nt_pending, true);
	}
	pthread_mutex_unlock(&w->nt_mu);
	return NULL;
}

/* After a store through the mapping published w->size (appender). */
static void notify_soon(struct wal *w)
{
	if (!w->io->map_notify || atomic_load(&w->nt_pending))
		return;
	if (!w->nt_started) {
		/* Without the thread the readers still catch up on their
		 * timers (and every write through pwrite tells them). */
		if (pthread_create(&w->nt_thread, NULL, notifier_main, w))
			return;
		w->nt_started = true;
	}
	if (atomic_exchange(&w->nt_pending, true))
		return;
	pthread_mutex_lock(&w->nt_mu);
	pthread_cond_signal(&w->nt_cond);
	pthread_mutex_unlock(&w->nt_mu);
}

static void notifier_stop(struct wal *w)
{
	if (!w->nt_started)
		return;
	pthread_mutex_lock(&w->nt_mu);
	w->nt_stop = true;
	pthread_cond_signal(&w->nt_cond);
	pthread_mutex_unlock(&w->nt_mu);
	pthread_join(w->nt_thread, NULL);
	w->nt_started = false;
}

struct frame_job {
	uint8_t *dst;
	const struct wal_rec *recs;
	size_t n;
	uint32_t seed;
};

static int frame_into(void *arg)
{
	struct frame_job *j = arg;
	uint8_t *dst = j->dst;

	for (size_t i = 0; i < j->n; i++) {
		wal_frame(dst, &j->recs[i], j->seed);
		dst += WAL_HEADER_BYTES + j->recs[i].len;
	}
	return 0;
}

/* The group (TOTAL bytes framed, at OFF, inside the window) written
 * with pwrite (wal_append_synced_at): the stores before it are told
 * first, and later tellings start after it, so that an io emulating the
 * mapping never writes its copy of the window over these bytes.  A
 * failed write breaks the log: the window's blocks are allocated, so it
 * is not a lack of space to cut back from. */
static int write_in_window(struct wal *w, const struct wal_rec *recs,
			   size_t n, size_t total, uint64_t off,
			   struct lsm_err *err)
{
	int rc, wrc;

	pthread_mutex_lock(&w->mu);
	rc = map_tell(w, off);
	pthread_mutex_unlock(&w->mu);
	if (rc < 0)
		return wal_break(w, err, rc, "write through the mapping", off);
	rc = write_group(w, recs, n, total, off, &wrc, err);
	if (rc < 0)
		return rc; /* nothing written: the log goes on */
	if (wrc < 0)
		return wal_break(w, err, wrc, "write", off);
	pthread_mutex_lock(&w->mu);
	if (w->map_told < off + total)
		w->map_told = off + total;
	pthread_mutex_unlock(&w->mu);
	atomic_store(&w->size, off + total);
	return 1;
}

/* Frames the N records (TOTAL bytes in all, validated) straight into the
 * mapped window at OFF, mapping a new window first when they do not fit
 * in this one: 1 when done, 0 when the group is to be written instead
 * (too big, or the file cannot be mapped), or a negative errno (the log
 * is broken). */
static int append_mapped(struct wal *w, const struct wal_rec *recs,
			 size_t n, size_t total, uint64_t off, bool synced,
			 struct lsm_err *err)
{
	int rc;

	if (!w->map_on || total > WAL_MAP_MAX_GROUP) {
		rc = map_drop(w, err); /* the write goes after its stores */
		return rc < 0 ? rc : 0;
	}
	if (!w->map || off + total > w->map_off + WAL_MAP_BYTES) {
		uint64_t at = off & ~(uint64_t)(WAL_MAP_PAGE - 1);
		void *p;

		rc = map_drop(w, err);
		if (rc < 0)
			return rc;
		/* even a map that fails may have extended the file: the
		 * seal cuts it back either way */
		w->mapped_ever = true;
		rc = w->io->map(w->io, w->fd, at, WAL_MAP_BYTES, &p);
		if (rc < 0) {
			/* No space for the window, or a filesystem where
			 * stores could fail: this segment is written. */
			w->map_on = false;
			return 0;
		}
		pthread_mutex_lock(&w->mu);
		w->map = p;
		w->map_off = at;
		w->map_told = off;
		pthread_mutex_unlock(&w->mu);
	}
	if (synced)
		return write_in_window(w, recs, n, total, off, err);
	struct frame_job job = { w->map + (off - w->map_off), recs, n,
				 w->seed };

	/* A store that faults (the device failed the page, or the file was
	 * cut behind the log) fails the append with -EIO instead of killing
	 * the process; nothing of it was acknowledged. */
	rc = map_guard(job.dst, total, frame_into, &job);
	if (rc < 0)
		return wal_break(w, err, rc, "store into the mapping", off);
	atomic_store(&w->size, off + total);
	notify_soon(w);
	return 1;
}

/* *TOTAL: the bytes the N records take framed; -EINVAL when one is empty
 * or too big. */
static int frames_bytes(struct wal *w, const struct wal_rec *recs,
			size_t n, size_t *total, struct lsm_err *err)
{
	size_t t = 0;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].len == 0 || recs[i].len > WAL_MAX_RECORD)
			return lsm_err_set(err, -EINVAL, "%s: record of %zu "
					   "bytes (1..%u)", w->path,
					   recs[i].len, WAL_MAX_RECORD);
		if (recs[i].len > SIZE_MAX - WAL_HEADER_BYTES - t)
			return lsm_err_set(err, -EINVAL, "%s: append too big",
					   w->path);
		t += WAL_HEADER_BYTES + recs[i].len;
	}
	*total = t;
	return 0;
}

int wal_append(struct wal *w, const struct wal_rec *recs, size_t n,
	       struct lsm_err *err)
{
	return wal_append_at(w, recs, n, NULL, err);
}

static int append_at(struct wal *w, const struct wal_rec *recs, size_t n,
		     uint64_t *at, bool synced, struct lsm_err *err)
{
	uint64_t off = atomic_load(&w->size);
	int rc, wrc;

	if (at)
		*at = off;
	size_t total = 0;

	rc = wal_check_broken(w, err);
	if (rc || n == 0)
		return rc;
	rc = frames_bytes(w, recs, n, &total, err); /* not sticky */
	if (rc < 0)
		return rc;
	rc = append_mapped(w, recs, n, total, off, synced, err);
	if (rc)
		return rc < 0 ? rc : 0;
	rc = write_group(w, recs, n, total, off, &wrc, err);
	if (rc < 0)
		return rc;
	rc = wrc;
	if ((rc == -ENOSPC || rc == -EDQUOT) &&
	    w->io->ftruncate(w->io, w->fd, off) == 0) {
		/* Out of space before anything was made durable: cut what part
		 * of the group got written and report it; the log goes on
		 * (nothing of the group was acknowledged or synced). */
		rc = lsm_err_set(err, rc, "%s: no space left to log %zu bytes "
				 "at offset %" PRIu64, w->path, total, off);
	} else if (rc < 0) {
		rc = wal_break(w, err, rc, "write", off);
	} else {
		atomic_store(&w->size, off + total);
		writeback_note(&w->wb, w->io, w->fd, off + total);
	}
	if (w->frame.cap > WAL_KEEP_FRAME_BYTES)
		buf_free(&w->frame);
	return rc;
}

int wal_append_at(struct wal *w, const struct wal_rec *recs, size_t n,
		  uint64_t *at, struct lsm_err *err)
{
	return append_at(w, recs, n, at, false, err);
}

int wal_append_synced_at(struct wal *w, const struct wal_rec *recs, size_t n,
			 uint64_t *at, struct lsm_err *err)
{
	return append_at(w, recs, n, at, true, err);
}

int wal_sync(struct wal *w, struct lsm_err *err)
{
	uint64_t target;
	bool clean;
	int rc;

	pthread_mutex_lock(&w->mu);
	rc = w->broken.code;
	if (rc && err)
		*err = w->broken;
	target = atomic_load(&w->size);
	clean = w->synced_once && target <= w->synced;
	if (!rc && !clean)
		rc = map_tell(w, target);
	pthread_mutex_unlock(&w->mu);
	if (rc < 0 && !w->broken.code)
		return wal_break(w, err, rc, "write through the mapping",
				 target);
	if (rc || clean)
		return rc;
	rc = w->io->fsync(w->io, w->fd);
	if (rc < 0)
		return wal_break(w, err, rc, "fsync", target);
	pthread_mutex_lock(&w->mu);
	if (!w->synced_once || target > w->synced)
		w->synced = target;
	w->synced_once = true;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int wal_preallocate(struct wal *w, uint64_t bytes)
{
	if (!w->io->preallocate)
		return -EOPNOTSUPP;
	return w->io->preallocate(w->io, w->fd, atomic_load(&w->size), bytes);
}

bool wal_is_broken(const struct wal *w)
{
	return atomic_load_explicit(&w->is_broken, memory_order_acquire);
}

uint64_t wal_size(const struct wal *w)
{
	return atomic_load(&w->size);
}

/* Ends mapped appends: the notifier stops, the window goes and the file
 * is cut back to its records (appender).  Nothing is synced. */
static int map_end(struct wal *w, struct lsm_err *err)
{
	uint64_t size = atomic_load(&w->size);
	int rc;

	notifier_stop(w);
	rc = map_drop(w, err);
	w->map_on = false;
	if (rc < 0 || !w->mapped_ever || wal_is_broken(w))
		return rc;
	rc = w->io->ftruncate(w->io, w->fd, size);
	if (rc < 0)
		return wal_break(w, err, rc, "cut of the mapped tail", size);
	w->mapped_ever = false;
	/* the cut size has to be durable too */
	pthread_mutex_lock(&w->mu);
	w->synced_once = false;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int wal_seal(struct wal *w, struct lsm_err *err)
{
	int rc = map_end(w, err);

	return rc < 0 ? rc : wal_sync(w, err);
}

int wal_close(struct wal *w, bool sync, struct lsm_err *err)
{
	int rc = 0, crc;

	if (!w)
		return 0;
	rc = map_end(w, err);
	if (sync && rc == 0)
		rc = wal_sync(w, err);
	crc = w->io->close(w->io, w->fd);
	if (crc < 0 && rc == 0)
		rc = lsm_err_set(err, crc, "%s: close: %s", w->path,
				 strerror(-crc));
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->nt_mu);
	pthread_cond_destroy(&w->nt_cond);
	buf_free(&w->frame);
	free(w->path);
	free(w);
	return rc;
}

/* ---- replay ---- */

#define WAL_READ_CHUNK (64u << 10)

/* A window over the file being replayed; it grows only to hold the
 * largest record seen (at least WAL_READ_CHUNK). */
struct wal_reader {
	const struct lsm_io *io;
	int fd;
	const char *path;
	uint32_t seed;  /* see wal_seed */
	wal_successor_fn successor;
	bool tail_ok;   /* the log may still be written (zeros may end it) */
	uint8_t prev[WAL_PREV_BYTES]; /* head of the last record delivered */
	size_t prevlen;
	uint64_t size;
	uint8_t *buf;
	size_t cap;
	uint64_t base; /* file offset of buf[0] */
	size_t len;    /* valid bytes in buf */
};

/* Points *P at the file bytes [OFF, OFF + N), which lie within the file. */
static int rd_get(struct wal_reader *r, uint64_t off, size_t n,
		  const uint8_t **p, struct lsm_err *err)
{
	size_t want = n > WAL_READ_CHUNK ? n : WAL_READ_CHUNK;
	int rc;

	if (off >= r->base && off - r->base <= r->len &&
	    n <= r->len - (off - r->base)) {
		*p = r->buf + (off - r->base);
		return 0;
	}
	if (want > r->size - off)
		want = (size_t)(r->size - off);
	if (want > r->cap) {
		uint8_t *nb = realloc(r->buf, want);

		if (!nb)
			return lsm_err_set(err, -ENOMEM, "%s: out of memory "
					   "reading %zu bytes", r->path, want);
		r->buf = nb;
		r->cap = want;
	}
	r->len = 0;
	rc = lsm_io_read_full(r->io, r->fd, r->buf, want, off);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: read at offset %" PRIu64
				   ": %s", r->path, off, strerror(-rc));
	r->base = off;
	r->len = want;
	*p = r->buf;
	return 0;
}

/* True when the 8-byte header at HDR (at file offset OFF) announces a
 * plausible record that fits in the file. */
static bool rec_len_ok(const struct wal_reader *r, uint64_t off,
		       const uint8_t *hdr)
{
	uint32_t len = get_u32le(hdr + 4);

	return len > 0 && len <= WAL_MAX_RECORD &&
	       len <= r->size - off - WAL_HEADER_BYTES;
}

/* 1 when every byte of the file from OFF on is zero, 0 when one is not,
 * or a negative errno. */
static int rd_zeros_to_end(struct wal_reader *r, uint64_t off,
			   struct lsm_err *err)
{
	static const uint8_t zero[4096];

	while (off < r->size) {
		size_t n = r->size - off > WAL_READ_CHUNK ? WAL_READ_CHUNK :
			   (size_t)(r->size - off);
		const uint8_t *p;
		int rc = rd_get(r, off, n, &p, err);

		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i += sizeof(zero)) {
			size_t k = n - i < sizeof(zero) ? n - i : sizeof(zero);

			if (memcmp(p + i, zero, k))
				return 0;
		}
		off += n;
	}
	return 1;
}

/* Reads the record at OFF: 0 and (*PAYLOAD, *LEN) when valid, 1 and *WHY
 * when damaged, 2 and *WHY when cut short by the end of the file, 3 when
 * nothing but zeros lies from OFF to the end of the file (the unused part
 * of a segment written through a mapping), or a negative errno on I/O
 * failure. */
static int rd_record(struct wal_reader *r, uint64_t off,
		     const uint8_t **payload, uint32_t *len, const char **why,
		     struct lsm_err *err)
{
	const uint8_t *p;
	uint32_t n;
	int rc;

	if (r->size - off < WAL_HEADER_BYTES) {
		*why = "short header";
		return 1;
	}
	rc = rd_get(r, off, WAL_HEADER_BYTES, &p, err);
	if (rc < 0)
		return rc;
	n = get_u32le(p + 4);
	if (n == 0) {
		if (r->tail_ok && get_u32le(p) == 0) {
			rc = rd_zeros_to_end(r, off, err);
			if (rc)
				return rc < 0 ? rc : 3;
		}
		*why = "zero length";
		return 1;
	}
	if (!rec_len_ok(r, off, p)) {
		/* A plausible length that runs past the end is the record
		 * being appended when the writer stopped: a torn tail by
		 * construction, whatever its bytes (file data can hold
		 * valid-looking frames). */
		if (n <= WAL_MAX_RECORD) {
			*why = "record runs past end of file";
			return 2;
		}
		*why = "length over limit";
		return 1;
	}
	rc = rd_get(r, off, WAL_HEADER_BYTES + (size_t)n, &p, err);
	if (rc < 0)
		return rc;
	if (crc32_extend(r->seed, p + 4, 4 + (size_t)n) != get_u32le(p)) {
		*why = "checksum mismatch";
		return 1;
	}
	*payload = p + WAL_HEADER_BYTES;
	*len = n;
	return 0;
}

/*
 * The forward scan after a damaged record looks for a valid record at any
 * later offset.  Checking a candidate naively costs its length, which
 * makes a long torn tail quadratic or worse.  Instead, with R(x) the CRC
 * of the bytes [from, x):
 *	crc(bytes [a, b)) = R(b) ^ crc32_combine(R(a), 0, b - a)
 * R is kept at every K-th byte (checkpoints, one pass) and extended to any
 * x by reading fewer than K bytes, so a candidate costs O(K).
 */
#define SCAN_DIRECT_MAX 512u          /* shorter ranges: plain CRC */
#define SCAN_MIN_SHIFT 8              /* K >= 256 bytes */
#define SCAN_MAX_CHECKPOINTS (1u << 18) /* 1 MiB of checkpoints */

struct wal_scan {
	struct wal_reader *r;
	uint64_t from;
	unsigned shift;  /* K = 1 << shift */
	uint32_t *cp;    /* cp[j] = R(from + j * K) */
	uint8_t *tmp;    /* max(K, SCAN_DIRECT_MAX) bytes */
};

/* Bytes [OFF, OFF + N) from the reader's window or read into s->tmp. */
static int scan_bytes(struct wal_scan *s, uint64_t off, size_t n,
		      const uint8_t **p, struct lsm_err *err)
{
	struct wal_reader *r = s->r;
	int rc;

	if (off >= r->base && off - r->base <= r->len &&
	    n <= r->len - (off - r->base)) {
		*p = r->buf + (off - r->base);
		return 0;
	}
	rc = lsm_io_read_full(r->io, r->fd, s->tmp, n, off);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: read at offset %" PRIu64
				   ": %s", r->path, off, strerror(-rc));
	*p = s->tmp;
	return 0;
}

static int scan_checkpoints(struct wal_scan *s, struct lsm_err *err)
{
	struct wal_reader *r = s->r;
	uint64_t pos = s->from;
	uint32_t crc = 0;
	size_t j = 1;

	s->cp[0] = 0;
	while (pos < r->size) {
		size_t n = r->size - pos > WAL_READ_CHUNK ? WAL_READ_CHUNK :
			   (size_t)(r->size - pos);
		const uint8_t *p;
		size_t i = 0;
		int rc = rd_get(r, pos, n, &p, err);

		if (rc < 0)
			return rc;
		while (i < n) {
			uint64_t next = s->from + ((uint64_t)j << s->shift);
			size_t take = next - (pos + i) < n - i ?
				      (size_t)(next - (pos + i)) : n - i;

			crc = crc32_extend(crc, p + i, take);
			i += take;
			if (pos + i == next)
				s->cp[j++] = crc;
		}
		pos += n;
	}
	return 0;
}

/* R(X): the CRC of the bytes [s->from, X). */
static int scan_prefix_crc(struct wal_scan *s, uint64_t x, uint32_t *crc,
			   struct lsm_err *err)
{
	uint64_t j = (x - s->from) >> s->shift;
	uint64_t base = s->from + (j << s->shift);
	const uint8_t *p = NULL;
	int rc = 0;

	if (x > base)
		rc = scan_bytes(s, base, (size_t)(x - base), &p, err);
	if (rc < 0)
		return rc;
	*crc = crc32_extend(s->cp[j], p, (size_t)(x - base));
	return 0;
}

/* The CRC of the file bytes [A, B), A >= s->from. */
static int scan_range_crc(struct wal_scan *s, uint64_t a, uint64_t b,
			  uint32_t *crc, struct lsm_err *err)
{
	const uint8_t *p;
	uint32_t ra, rb;
	int rc;

	if (b - a <= SCAN_DIRECT_MAX) {
		rc = scan_bytes(s, a, (size_t)(b - a), &p, err);
		if (rc == 0)
			*crc = crc32_of(p, (size_t)(b - a));
		return rc;
	}
	rc = scan_prefix_crc(s, a, &ra, err);
	if (rc == 0)
		rc = scan_prefix_crc(s, b, &rb, err);
	if (rc == 0)
		*crc = rb ^ (uint32_t)crc32_combine(ra, 0, (z_off_t)(b - a));
	return rc;
}

/* 1 when the header at P (file offset OFF) starts a valid record. */
static int scan_candidate(struct wal_scan *s, uint64_t off, const uint8_t *p,
			  struct lsm_err *err)
{
	uint64_t end;
	uint32_t crc = 0;
	int rc;

	if (!rec_len_ok(s->r, off, p))
		return 0;
	end = off + WAL_HEADER_BYTES + get_u32le(p + 4);
	rc = scan_range_crc(s, off + 4, end, &crc, err);
	if (rc < 0)
		return rc;
	if (s->r->seed) /* the salt precedes the covered bytes */
		crc = (uint32_t)crc32_combine(s->r->seed, crc,
					      (z_off_t)(end - off - 4));
	return crc == get_u32le(p);
}

/* Whether the valid frame at OFF could be a record written after the
 * ones delivered (the reader's successor test; without one, any can). */
static int scan_could_follow(struct wal_scan *s, uint64_t off,
			     struct lsm_err *err)
{
	struct wal_reader *r = s->r;
	const uint8_t *p;
	uint32_t len;
	int rc;

	if (!r->successor)
		return 1;
	rc = rd_get(r, off, WAL_HEADER_BYTES, &p, err);
	if (rc < 0)
		return rc;
	len = get_u32le(p + 4);
	rc = rd_get(r, off + WAL_HEADER_BYTES, len, &p, err);
	if (rc < 0)
		return rc;
	return r->successor(r->prevlen ? r->prev : NULL, r->prevlen, p, len)
	       ? 1 : 0;
}

/* Looks for a valid record starting anywhere in [s->from, size) that
 * could follow the records delivered: 1 and *FOUND when there is one, 0
 * when none, or a negative errno. */
static int scan_run(struct wal_scan *s, uint64_t *found, struct lsm_err *err)
{
	struct wal_reader *r = s->r;
	uint64_t pos = s->from;

	while (r->size - pos >= WAL_HEADER_BYTES) {
		size_t n = r->size - pos > WAL_READ_CHUNK ? WAL_READ_CHUNK :
			   (size_t)(r->size - pos);
		const uint8_t *p;
		size_t i;
		int rc = rd_get(r, pos, n, &p, err);

		if (rc < 0)
			return rc;
		for (i = 0; i + WAL_HEADER_BYTES <= n; i++) {
			rc = scan_candidate(s, pos + i, p + i, err);
			if (rc < 0)
				return rc;
			if (!rc)
				continue;
			rc = scan_could_follow(s, pos + i, err);
			if (rc < 0)
				return rc;
			if (rc) {
				*found = pos + i;
				return 1;
			}
			/* a frame of the past inside file data: the window
			 * moved, read on from the next byte */
			i++;
			break;
		}
		pos += i;
	}
	return 0;
}

static int wal_scan_valid(struct wal_reader *r, uint64_t from,
			  uint64_t *found, struct lsm_err *err)
{
	struct wal_scan s = { .r = r, .from = from, .shift = SCAN_MIN_SHIFT };
	uint64_t span = r->size - from;
	size_t tmp_bytes;
	int rc;

	while ((span >> s.shift) >= SCAN_MAX_CHECKPOINTS)
		s.shift++;
	tmp_bytes = (size_t)1 << s.shift;
	if (tmp_bytes < SCAN_DIRECT_MAX)
		tmp_bytes = SCAN_DIRECT_MAX;
	s.cp = malloc((size_t)((span >> s.shift) + 1) * sizeof(*s.cp));
	s.tmp = malloc(tmp_bytes);
	if (!s.cp || !s.tmp) {
		rc = lsm_err_set(err, -ENOMEM, "%s: out of memory", r->path);
		goto out;
	}
	rc = scan_checkpoints(&s, err);
	if (rc == 0)
		rc = scan_run(&s, found, err);
out:
	free(s.cp);
	free(s.tmp);
	return rc;
}

/* 1 when the damaged record at OFF, of a log that may still be written,
 * is a record being stored through a mapping: its CRC field still zero
 * (the CRC is stored last), its length in range, and only zeros from
 * where it ends to the end of the file.  Then it is a torn tail without
 * the scan for a later valid record, which would read and checksum the
 * rest of the mapped window at every look of a reader that tails the
 * log.  A damaged length alone does not pass (its CRC field is not
 * zero): that must be scanned, since the records it swallowed follow
 * inside its claimed extent (the corruption matrix flips such bits).
 * 0 otherwise, or a negative errno. */
static int damaged_last(struct wal_reader *r, uint64_t off,
			struct lsm_err *err)
{
	const uint8_t *p;
	uint32_t n;
	int rc;

	if (!r->tail_ok || r->size - off < WAL_HEADER_BYTES)
		return 0;
	rc = rd_get(r, off, WAL_HEADER_BYTES, &p, err);
	if (rc < 0)
		return rc;
	n = get_u32le(p + 4);
	if (get_u32le(p) != 0 || n == 0 || !rec_len_ok(r, off, p))
		return 0;
	return rd_zeros_to_end(r, off + WAL_HEADER_BYTES + n, err);
}

/* A damaged record at OFF: torn tail or corruption in the middle.  A
 * record cut by the end of the file (CUT) is scanned as well: its length
 * field may be the damage.  Frames that cannot follow what was delivered
 * (the successor test: older batches copied into file data) do not count. */
static int wal_damaged(struct wal_reader *r, uint64_t off, const char *why,
		       bool cut, bool tail_ok, struct wal_replay_info *info,
		       struct lsm_err *err)
{
	uint64_t found = 0;
	int rc = damaged_last(r, off, err);

	(void)cut;
	if (rc == 0)
		rc = wal_scan_valid(r, off + 1, &found, err);
	else if (rc > 0)
		rc = 0; /* nothing valid follows: torn */
	if (rc < 0)
		return rc;
	if (rc > 0)
		return lsm_err_set(err, -EBADMSG, "%s: corrupt record at "
				   "offset %" PRIu64 " (%s; a valid record "
				   "follows at offset %" PRIu64 ")", r->path,
				   off, why, found);
	info->torn = true;
	if (tail_ok)
		return 0;
	return lsm_err_set(err, -EBADMSG, "%s: torn record at offset %"
			   PRIu64 " (%s)", r->path, off, why);
}

static int wal_deliver(struct wal_reader *r, wal_rec_fn fn, void *ctx,
		       const uint8_t *p, uint32_t len, uint64_t off,
		       struct lsm_err *err)
{
	int rc;

	if (err)
		err->code = 0;
	rc = fn(ctx, p, len, off, err);
	if (rc < 0 && err && err->code == 0)
		lsm_err_set(err, rc, "%s: replay stopped at offset %" PRIu64
			    ": %s", r->path, off, strerror(-rc));
	return rc < 0 ? rc : 0;
}

/* A damaged record that a valid one follows, in a log that may still be
 * written, is read again before it counts: a reader racing a writer that
 * stores through a mapping can read a record's bytes (or the zeros where
 * it goes) before they are stored and a later record's after.  Records
 * are stored in order, so by the time the later one was found the earlier
 * one is there too (or within a moment, where stores become visible out
 * of order).  So the record is read afresh at once and, if still damaged,
 * once more after WAL_RACE_PAUSE_NS: valid then, the replay goes on; still
 * damaged, the damage is real (a file nobody writes costs one pause).
 * 1 when it is valid now, 0 when not, or a negative errno. */
#define WAL_RACE_PAUSE_NS 100000L

static int damage_was_race(struct wal_reader *r, uint64_t off,
			   struct lsm_err *err)
{
	const struct timespec pause = { 0, WAL_RACE_PAUSE_NS };

	for (int k = 0; k < 2; k++) {
		const uint8_t *p;
		const char *why;
		uint32_t len;
		int rc;

		if (k)
			nanosleep(&pause, NULL);
		r->len = 0; /* read it from the file again */
		rc = rd_record(r, off, &p, &len, &why, err);
		if (rc <= 0)
			return rc < 0 ? rc : 1;
	}
	return 0;
}

static int wal_replay_loop(struct wal_reader *r, uint64_t off, bool tail_ok,
			   wal_rec_fn fn, void *ctx,
			   struct wal_replay_info *info, struct lsm_err *err)
{
	unsigned races = 0; /* bounds the looks again (a writer racing) */

	while (off < r->size) {
		const uint8_t *p;
		const char *why;
		uint32_t len;
		int rc = rd_record(r, off, &p, &len, &why, err);

		if (rc < 0)
			return rc;
		if (rc == 3) {
			info->zeros = r->size - off;
			return 0;
		}
		if (rc > 0) {
			struct lsm_err e = { 0 };
			int race;

			rc = wal_damaged(r, off, why, rc == 2, tail_ok, info,
					 err);
			if (rc != -EBADMSG || !tail_ok || ++races > 64)
				return rc;
			race = damage_was_race(r, off, &e);
			if (race <= 0) {
				if (race < 0 && err)
					*err = e;
				return race < 0 ? race : rc;
			}
			r->len = 0;
			continue; /* stored meanwhile: read it anew */
		}
		rc = wal_deliver(r, fn, ctx, p, len, off, err);
		if (rc < 0)
			return rc;
		r->prevlen = len < WAL_PREV_BYTES ? len : WAL_PREV_BYTES;
		memcpy(r->prev, p, r->prevlen);
		off += WAL_HEADER_BYTES + (uint64_t)len;
		info->records++;
		info->end = off;
	}
	return 0;
}

int wal_replay(const struct lsm_io *io, const char *path, bool tail_ok,
	       wal_rec_fn fn, void *ctx, struct wal_replay_info *info,
	       struct lsm_err *err)
{
	return wal_replay_salted(io, path, 0, tail_ok, fn, ctx, info, err);
}

int wal_replay_salted(const struct lsm_io *io, const char *path,
		      uint64_t salt, bool tail_ok, wal_rec_fn fn, void *ctx,
		      struct wal_replay_info *info, struct lsm_err *err)
{
	return wal_replay_at(io, path, salt, 0, tail_ok, fn, ctx, info, err);
}

int wal_replay_at(const struct lsm_io *io, const char *path, uint64_t salt,
		  uint64_t from, bool tail_ok, wal_rec_fn fn, void *ctx,
		  struct wal_replay_info *info, struct lsm_err *err)
{
	struct wal_replay_opts o = { .salt = salt, .from = from,
				     .tail_ok = tail_ok };

	return wal_replay_ex(io, path, &o, fn, ctx, info, err);
}

int wal_replay_ex(const struct lsm_io *io, const char *path,
		  const struct wal_replay_opts *o, wal_rec_fn fn, void *ctx,
		  struct wal_replay_info *info, struct lsm_err *err)
{
	struct wal_reader r = { .io = io, .path = path,
				.seed = wal_seed(o->salt),
				.successor = o->successor,
				.tail_ok = o->tail_ok };
	uint64_t from = o->from;
	bool tail_ok = o->tail_ok;
	struct wal_replay_info inf = { 0 };
	int rc;

	rc = io->open(io, path, O_RDONLY, 0, &r.fd);
	if (rc < 0)
		return lsm_err_set(err, rc, "%s: open: %s", path,
				   strerror(-rc));
	rc = io->fsize(io, r.fd, &r.size);
	if (rc < 0) {
		lsm_err_set(err, rc, "%s: stat: %s", path, strerror(-rc));
		goto out;
	}
	inf.size = r.size;
	inf.end = from;
	if (from > r.size) /* the file shrank under a reader that tails it */
		rc = lsm_err_set(err, -ESTALE, "%s: %" PRIu64 " bytes, less than"
				 " the %" PRIu64 " already read", path, r.size,
				 from);
	else
		rc = wal_replay_loop(&r, from, tail_ok, fn, ctx, &inf, err);
out:
	io->close(io, r.fd);
	free(r.buf);
	if (info)
		*info = inf;
	return rc;
}
