/* ns_data.c - file contents in fixed-size chunks ("c" ino idx keys).  A
 * chunk holds at most chunk_size bytes and never bytes at or past the
 * file's size; a missing chunk or a short one reads as zeros.  A write
 * or read touches only the chunks of its byte range. */
#include "ns_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_COLLAPSE_RANGE
#define FALLOC_FL_COLLAPSE_RANGE 0x08
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#ifndef FALLOC_FL_INSERT_RANGE
#define FALLOC_FL_INSERT_RANGE 0x20
#endif

/* Reads chunk IDX of INO into BUF (CAP bytes); *LEN its stored length
 * (0 when absent). */
static int get_chunk(struct ns *ns, uint64_t ino, uint64_t idx, void *buf,
		     size_t cap, size_t *len, struct lsm_err *err)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN];
	uint8_t dummy;
	int rc;

	codec_chunk_key(key, ino, idx);
	rc = lsm_get_buf(ns->db, ns->snap, key, sizeof(key), cap ? buf : &dummy,
			 cap, len, err);
	if (rc == 0) { /* no chunk: a hole */
		*len = 0;
		return 0;
	}
	if (rc == 1 && *len > ns->cs)
		return lsm_err_set(err, -EUCLEAN,
				   "inode %llu chunk %llu: %zu bytes, larger than a chunk",
				   (unsigned long long)ino,
				   (unsigned long long)idx, *len);
	return rc < 0 ? rc : 0;
}

static int put_chunk(struct lsm_batch *b, uint64_t ino, uint64_t idx,
		     const void *data, size_t len)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN];

	codec_chunk_key(key, ino, idx);
	return lsm_batch_put(b, key, sizeof(key), data, len);
}

static int read_span(struct ns *ns, uint64_t ino, struct codec_span s,
		     uint8_t *dst, uint8_t *tmp, struct lsm_err *err)
{
	size_t len;
	int rc;

	if (s.off == 0) {
		rc = get_chunk(ns, ino, s.idx, dst, s.len, &len, err);
		if (rc == 0 && len < s.len)
			memset(dst + len, 0, s.len - len);
		return rc;
	}
	rc = get_chunk(ns, ino, s.idx, tmp, s.off + s.len, &len, err);
	if (rc < 0)
		return rc;
	if (len > s.off) {
		size_t have = len - s.off < s.len ? len - s.off : s.len;

		memcpy(dst, tmp + s.off, have);
		memset(dst + have, 0, s.len - have);
	} else {
		memset(dst, 0, s.len);
	}
	return 0;
}

/* The record of open file INO, which another process may have deleted. */
static int get_open_file(struct ns *ns, uint64_t ino, struct codec_inode *in,
			 struct lsm_err *err)
{
	int rc = ns_get_regular(ns, ino, in, -EINVAL, err);

	if (rc == -ENOENT && ns->opt.follow)
		return lsm_err_set(err, -ESTALE, "inode %llu was deleted by "
				   "the writer", (unsigned long long)ino);
	return rc;
}

static bool same_state(const struct codec_inode *a,
		       const struct codec_inode *b)
{
	/* every change of a file's bytes changes its size or mtime in the
	 * same batch (and ctime too) */
	return a->size == b->size && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec &&
	       a->ctime_nsec == b->ctime_nsec;
}

static int read_once(struct ns *ns, uint64_t ino, uint64_t off, size_t len,
		     uint8_t *buf, size_t *got, struct codec_inode *seen,
		     struct lsm_err *err);

/* Reads [OFF, OFF + LEN) of INO.  Where another process writes the store,
 * the file's record is read again after its chunks: a read that saw two
 * states (a write or a delete published between) is done again, so that
 * it never returns a mix of old and new bytes, nor zeros for chunks a
 * delete removed. */
static int read_locked(struct ns *ns, uint64_t ino, uint64_t off, size_t len,
		       uint8_t *buf, size_t *got, struct lsm_err *err)
{
	struct codec_inode before, after;
	int rc = 0;

	for (int attempt = 0; attempt < 16; attempt++) {
		rc = read_once(ns, ino, off, len, buf, got, &before, err);
		if (rc < 0 || !ns->opt.follow)
			return rc;
		rc = get_open_file(ns, ino, &after, err);
		if (rc < 0 || same_state(&before, &after))
			return rc;
	}
	return lsm_err_set(err, -EIO, "inode %llu kept changing while it was "
			   "read", (unsigned long long)ino);
}

/* A read of at least this many chunks walks them with one iterator. */
#define NS_READ_ITER_CHUNKS 3u

/* Copies chunk IDX (V, VLEN bytes) where it meets [OFF, OFF + LEN) of
 * BUF. */
static void copy_chunk(struct ns *ns, uint64_t idx, const uint8_t *v,
		       size_t vlen, uint64_t off, size_t len, uint8_t *buf)
{
	uint64_t start = idx * ns->cs;
	uint64_t a = start > off ? start : off;
	uint64_t b = start + vlen < off + len ? start + vlen : off + len;

	if (a < b)
		memcpy(buf + (a - off), v + (a - start), (size_t)(b - a));
}

/* Reads [OFF, OFF + LEN) (within the size) with one seek and the chunks
 * in key order: the file's chunk range is read along, block after block,
 * instead of one point lookup per chunk.  Missing chunks are holes. */
static int read_iter(struct ns *ns, uint64_t ino, uint64_t off, size_t len,
		     uint8_t *buf, struct lsm_err *err)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN], end[CODEC_CHUNK_KEY_LEN];
	uint64_t last = (off + len - 1) / ns->cs, kino, idx;
	struct lsm_iter *it;
	int rc;

	/* last + 1 cannot wrap: files end below NS_MAX_FILE_BYTES. */
	codec_chunk_key(end, ino, last + 1);
	rc = ns_iter_below(ns, 0, end, sizeof(end), &it, err);
	if (rc < 0)
		return rc;
	memset(buf, 0, len);
	codec_chunk_key(key, ino, off / ns->cs);
	for (lsm_iter_seek(it, key, sizeof(key)); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v;

		if (codec_parse_chunk_key(k, klen, &kino, &idx) < 0 ||
		    kino != ino || idx > last)
			break;
		v = lsm_iter_value(it, &vlen);
		if (vlen > ns->cs) {
			rc = lsm_err_set(err, -EUCLEAN, "inode %llu chunk %llu: "
					 "%zu bytes, larger than a chunk",
					 (unsigned long long)ino,
					 (unsigned long long)idx, vlen);
			break;
		}
		copy_chunk(ns, idx, v, vlen, off, len, buf);
	}
	if (rc == 0)
		rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc;
}

static int read_once(struct ns *ns, uint64_t ino, uint64_t off, size_t len,
		     uint8_t *buf, size_t *got, struct codec_inode *seen,
		     struct lsm_err *err)
{
	struct codec_inode in;
	uint8_t *tmp = NULL;
	size_t done = 0;
	int rc = get_open_file(ns, ino, &in, err);

	if (rc < 0)
		return rc;
	*seen = in;
	if (off >= in.size)
		len = 0;
	else if (len > in.size - off)
		len = (size_t)(in.size - off);
	if (codec_span_count(off, len, ns->cs) >= NS_READ_ITER_CHUNKS) {
		rc = read_iter(ns, ino, off, len, buf, err);
		done = len;
	}
	while (rc == 0 && done < len) {
		struct codec_span s = codec_span_first(off + done, len - done,
						       ns->cs);

		if (s.off && !tmp && !(tmp = malloc(ns->cs)))
			rc = ns_enomem(err);
		if (rc == 0)
			rc = read_span(ns, ino, s, buf + done, tmp, err);
		done += s.len;
	}
	free(tmp);
	if (rc == 0)
		*got = len;
	return rc;
}

int ns_read(struct ns *ns, uint64_t ino, uint64_t off, size_t len, void *buf,
	    size_t *got, struct lsm_err *err)
{
	struct ns_lockset ls;
	int rc;

	ns_touch_access(ns, ino);
	ns_lock(ns, &ls, &ino, 1, false);
	rc = read_locked(ns, ino, off, len, buf, got, err);
	ns_unlock(ns, &ls);
	return rc;
}

/* Adds the write of span S (bytes SRC) to B; *DELTA grows by the stored
 * bytes added. */
static int write_span(struct ns *ns, uint64_t ino, uint64_t size,
		      struct codec_span s, const uint8_t *src, uint8_t *tmp,
		      struct lsm_batch *b, int64_t *delta,
		      struct lsm_err *err)
{
	bool full = s.len == ns->cs;
	size_t old = 0, nlen;
	int rc = 0;

	if (s.idx * (uint64_t)ns->cs < size)
		rc = get_chunk(ns, ino, s.idx, tmp, full ? 0 : ns->cs, &old,
			       err);
	if (rc < 0)
		return rc;
	if (full) {
		*delta += (int64_t)ns->cs - (int64_t)old;
		return put_chunk(b, ino, s.idx, src, s.len);
	}
	if (old < s.off)
		memset(tmp + old, 0, s.off - old);
	memcpy(tmp + s.off, src, s.len);
	nlen = s.off + s.len > old ? s.off + s.len : old;
	*delta += (int64_t)nlen - (int64_t)old;
	return put_chunk(b, ino, s.idx, tmp, nlen);
}

/* Kills privileges per KILL (NS_SET_KILL_*) into IN and B: 1 when
 * something was dropped, 0 when not, or -errno. */
static int write_kill(struct ns *ns, uint64_t ino, struct codec_inode *in,
		      unsigned kill, struct lsm_batch *b, struct lsm_err *err)
{
	bool dropped = (kill & NS_SET_KILL_SUIDGID) &&
		       ns_kill_suidgid(in, kill);
	int rc = 0;

	if (kill & NS_SET_KILL_CAPS)
		rc = ns_kill_caps(ns, b, ino, err);
	return rc < 0 ? rc : rc == 1 || dropped;
}

static int write_locked(struct ns *ns, uint64_t ino, uint64_t off,
			const uint8_t *buf, size_t len, unsigned kill,
			struct lsm_batch *b, uint8_t *tmp,
			struct lsm_err *err)
{
	struct codec_inode in;
	int64_t delta = 0;
	size_t done = 0;
	int dropped = 0;
	int rc = ns_get_regular(ns, ino, &in, -EINVAL, err);

	if (rc == 0 && kill)
		rc = dropped = write_kill(ns, ino, &in, kill, b, err);
	if (rc > 0)
		rc = 0;

	while (rc == 0 && done < len) {
		struct codec_span s = codec_span_first(off + done, len - done,
						       ns->cs);

		rc = write_span(ns, ino, in.size, s, buf + done, tmp, b,
				&delta, err);
		done += s.len;
	}
	if (rc < 0)
		return rc;
	rc = ns_cap_check(ns, delta);
	if (rc < 0)
		return rc;
	if (off + len > in.size)
		in.size = off + len;
	in.alloc = (uint64_t)((int64_t)in.alloc + delta);
	ns_touch(&in, true, true);
	rc = ns_batch_inode(b, ino, &in, NULL, 0);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	if (rc == 0)
		ns_live_add(ns, delta);
	return rc < 0 ? rc : dropped;
}

int ns_write(struct ns *ns, uint64_t ino, uint64_t off, const void *buf,
	     size_t len, struct lsm_err *err)
{
	int rc = ns_write_kill(ns, ino, off, buf, len, 0, err);

	return rc < 0 ? rc : 0;
}

/* A write's batch and chunk buffer, kept by the thread between writes:
 * a new batch for every 1 MiB write was a fresh mapping (the daemon's
 * malloc maps blocks of 256 KiB and more on their own, fs/mem.c) whose
 * pages the kernel faulted in and zeroed again each time.  At most
 * NS_WBUF_KEEP bytes of batch are kept per thread, freed when it ends
 * (or calls ns_close). */
#define NS_WBUF_KEEP ((size_t)2 << 20)

struct ns_wbuf {
	struct lsm_batch *b;
	uint8_t *tmp;
	size_t tmp_cap;
};

static pthread_key_t wbuf_key;
static pthread_once_t wbuf_once = PTHREAD_ONCE_INIT;
static bool wbuf_ok;

static void wbuf_free(void *p)
{
	struct ns_wbuf *w = p;

	if (!w)
		return;
	lsm_batch_free(w->b);
	free(w->tmp);
	free(w);
}

static void wbuf_init(void)
{
	wbuf_ok = pthread_key_create(&wbuf_key, wbuf_free) == 0;
}

/* The thread's buffers (a chunk of CS bytes in TMP), or new ones when
 * the thread has none (or no key could be made). */
static struct ns_wbuf *wbuf_get(size_t cs)
{
	struct ns_wbuf *w = NULL;

	pthread_once(&wbuf_once, wbuf_init);
	if (wbuf_ok) {
		w = pthread_getspecific(wbuf_key);
		if (w)
			pthread_setspecific(wbuf_key, NULL); /* ours now */
	}
	if (!w)
		w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	if (!w->b)
		w->b = lsm_batch_new();
	if (w->tmp_cap < cs) {
		free(w->tmp);
		w->tmp = malloc(cs);
		w->tmp_cap = w->tmp ? cs : 0;
	}
	if (!w->b || !w->tmp) {
		wbuf_free(w);
		return NULL;
	}
	return w;
}

/* Gives W back to the thread (emptied), or frees it. */
static void wbuf_put(struct ns_wbuf *w)
{
	if (wbuf_ok && lsm_batch_bytes(w->b) <= NS_WBUF_KEEP &&
	    pthread_setspecific(wbuf_key, w) == 0) {
		lsm_batch_clear(w->b);
		return;
	}
	wbuf_free(w);
}

void ns_write_buffers_release(void)
{
	pthread_once(&wbuf_once, wbuf_init);
	if (!wbuf_ok)
		return;
	wbuf_free(pthread_getspecific(wbuf_key));
	pthread_setspecific(wbuf_key, NULL);
}

int ns_write_kill(struct ns *ns, uint64_t ino, uint64_t off, const void *buf,
		  size_t len, unsigned kill, struct lsm_err *err)
{
	struct ns_wbuf *w;
	struct ns_lockset ls;
	int rc;

	if (len == 0)
		return 0;
	if (off > NS_MAX_FILE_BYTES || len > NS_MAX_FILE_BYTES - off)
		return lsm_err_set(err, -EFBIG, "write past the maximum size");
	for (int tries = 0;; tries++) {
		w = wbuf_get(ns->cs); /* not held across an eviction */
		if (!w)
			return ns_enomem(err);
		lsm_batch_clear(w->b);
		ns_lock(ns, &ls, &ino, 1, true);
		rc = write_locked(ns, ino, off, buf, len, kill, w->b, w->tmp,
				  err);
		ns_unlock(ns, &ls);
		wbuf_put(w);
		if (rc != -EDQUOT) /* past max_size */
			break;
		if (!ns->opt.on_full_evict || tries == 3 ||
		    ns_cap_make_room(ns, len, ino, err) < 0) {
			rc = ns_cap_full(ns, err);
			break;
		}
	}
	return ns_err(rc, err);
}

/* Deleting every chunk of a file of at most this many chunks (a
 * truncation to 0, a reclaim) goes by key instead of by a scan. */
#define NS_TRUNC_BLIND_CHUNKS 64u

int ns_delete_chunks(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		     const struct codec_inode *in, uint64_t from,
		     bool commit_full, uint64_t *bytes, struct lsm_err *err)
{
	uint64_t end = codec_chunks_for(in->size, ns->cs);
	uint8_t key[CODEC_CHUNK_KEY_LEN];
	int rc = 0;

	/* No chunk holds bytes past the size, and alloc counts every byte
	 * the chunks hold: both are invariants check verifies. */
	if (from >= end || in->alloc == 0)
		return 0;
	if (from > 0 || end > NS_TRUNC_BLIND_CHUNKS)
		return ns_delete_prefix(ns, b, CODEC_K_CHUNK, ino, from,
					bytes, commit_full, err);
	for (uint64_t idx = 0; rc == 0 && idx < end; idx++) {
		codec_chunk_key(key, ino, idx);
		rc = lsm_batch_delete(b, key, sizeof(key));
	}
	*bytes += in->alloc; /* every stored byte goes */
	return rc;
}

int ns_trunc_chunks(struct ns *ns, struct lsm_batch *b, uint64_t ino,
		    struct codec_inode *in, uint64_t size, struct lsm_err *err)
{
	uint64_t bytes = 0, idx = size / ns->cs;
	size_t keep = (size_t)(size % ns->cs), len;
	uint8_t *tmp;
	int rc;

	if (size > NS_MAX_FILE_BYTES)
		return lsm_err_set(err, -EFBIG, "truncate past the maximum size");
	if (size >= in->size)
		return 0;
	rc = ns_delete_chunks(ns, b, ino, in, codec_chunks_for(size, ns->cs),
			      false, &bytes, err);
	if (rc < 0 || keep == 0)
		goto out;
	tmp = malloc(ns->cs);
	if (!tmp)
		return ns_enomem(err);
	rc = get_chunk(ns, ino, idx, tmp, ns->cs, &len, err);
	if (rc == 0 && len > keep) {
		bytes += len - keep;
		rc = put_chunk(b, ino, idx, tmp, keep);
	}
	free(tmp);
out:
	if (rc == 0)
		in->alloc = in->alloc > bytes ? in->alloc - bytes : 0;
	return rc;
}

static int replace_locked(struct ns *ns, uint64_t ino, const uint8_t *data,
			  size_t len, struct lsm_batch *b, struct lsm_err *err)
{
	struct codec_inode in;
	int rc = ns_get_regular(ns, ino, &in, -EINVAL, err);
	int64_t delta = (int64_t)len - (int64_t)in.alloc;

	if (rc == 0 && ns_cap_check(ns, delta) < 0)
		rc = ns_cap_full(ns, err); /* tools: no eviction here */
	if (rc == 0)
		rc = ns_trunc_chunks(ns, b, ino, &in, 0, err);
	for (size_t done = 0; rc == 0 && done < len;) {
		size_t n = len - done < ns->cs ? len - done : ns->cs;

		rc = put_chunk(b, ino, done / ns->cs, data + done, n);
		done += n;
	}
	if (rc < 0)
		return rc;
	in.size = len;
	in.alloc = len;
	ns_touch(&in, true, true);
	rc = ns_batch_inode(b, ino, &in, NULL, 0);
	if (rc == 0)
		rc = ns_commit(ns, b, err);
	if (rc == 0)
		ns_live_add(ns, delta);
	return rc;
}

int ns_replace(struct ns *ns, uint64_t ino, const void *data, size_t len,
	       struct lsm_err *err)
{
	struct lsm_batch *b = lsm_batch_new();
	struct ns_lockset ls;
	int rc;

	if (!b)
		return ns_enomem(err);
	ns_lock(ns, &ls, &ino, 1, true);
	rc = replace_locked(ns, ino, data, len, b, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	return ns_err(rc, err);
}

/* Zeroes [OFF, OFF+LEN) of a file of SIZE bytes into B. */
static int punch(struct ns *ns, uint64_t ino, struct codec_inode *in,
		 uint64_t off, uint64_t len, struct lsm_batch *b,
		 uint8_t *tmp, struct lsm_err *err)
{
	uint8_t key[CODEC_CHUNK_KEY_LEN];
	uint64_t done = 0;
	size_t old;
	int rc = 0;

	if (off >= in->size)
		return 0;
	if (len > in->size - off)
		len = in->size - off;
	while (rc == 0 && done < len) {
		struct codec_span s = codec_span_first(off + done, len - done,
						       ns->cs);

		done += s.len;
		rc = get_chunk(ns, ino, s.idx, tmp, ns->cs, &old, err);
		if (rc < 0 || old <= s.off)
			continue;
		if (s.off == 0 && s.len >= old) {
			in->alloc -= old;
			codec_chunk_key(key, ino, s.idx);
			rc = lsm_batch_delete(b, key, sizeof(key));
			continue;
		}
		memset(tmp + s.off, 0, old - s.off < s.len ? old - s.off : s.len);
		rc = put_chunk(b, ino, s.idx, tmp, old);
	}
	return rc;
}

static int falloc_locked(struct ns *ns, uint64_t ino, int mode, uint64_t off,
			 uint64_t len, struct lsm_batch *b, uint8_t *tmp,
			 struct lsm_err *err)
{
	struct codec_inode in;
	int rc = ns_get_regular(ns, ino, &in, -EINVAL, err);
	bool grow = !(mode & FALLOC_FL_KEEP_SIZE) && off + len > in.size;
	uint64_t old_alloc = in.alloc;

	if (rc < 0)
		return rc;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		rc = punch(ns, ino, &in, off, len, b, tmp, err);
	else if (!grow)
		return 0; /* nothing to reserve (see ns.h) */
	if (rc < 0)
		return rc;
	if (grow)
		in.size = off + len;
	ns_touch(&in, true, true);
	rc = ns_batch_inode(b, ino, &in, NULL, 0);
	if (rc == 0)
		rc = ns_commit_frees(ns, b, err);
	if (rc == 0)
		ns_live_add(ns, (int64_t)in.alloc - (int64_t)old_alloc);
	return rc;
}

int ns_fallocate(struct ns *ns, uint64_t ino, int mode, uint64_t off,
		 uint64_t len, struct lsm_err *err)
{
	struct lsm_batch *b;
	struct ns_lockset ls;
	uint8_t *tmp;
	int rc;

	if (len == 0)
		return lsm_err_set(err, -EINVAL, "fallocate: empty range");
	if (mode == FALLOC_FL_COLLAPSE_RANGE || mode == FALLOC_FL_INSERT_RANGE)
		return ns_falloc_shift(ns, ino, mode == FALLOC_FL_COLLAPSE_RANGE,
				       off, len, err);
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE &&
	    mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) &&
	    mode != FALLOC_FL_ZERO_RANGE &&
	    mode != (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE))
		return lsm_err_set(err, -EOPNOTSUPP, "fallocate: mode %d", mode);
	if (off > NS_MAX_FILE_BYTES || len > NS_MAX_FILE_BYTES - off)
		return lsm_err_set(err, -EFBIG, "fallocate past the maximum size");
	b = lsm_batch_new();
	tmp = malloc(ns->cs);
	if (!b || !tmp) {
		lsm_batch_free(b);
		free(tmp);
		return ns_enomem(err);
	}
	ns_lock(ns, &ls, &ino, 1, true);
	rc = falloc_locked(ns, ino, mode, off, len, b, tmp, err);
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
	free(tmp);
	return ns_err(rc, err);
}
