/* ns_cap.c - the capacity bound (ns_options.max_size): the live bytes of
 * file data, counted at open (one scan of the inode records) and kept in
 * memory by every change of an inode's stored bytes; a write that would
 * pass the bound fails with ENOSPC or, with on_full_evict, first evicts
 * whole files in approximately least-recently-used order.
 *
 * Eviction samples (as Redis does) instead of keeping a global LRU list:
 * from a random point of the directory entries it looks at up to
 * NS_EVICT_SAMPLE regular files with one name and no open handle, and
 * evicts the one used longest ago (an expired one first).  "Used" is the
 * latest of: the in-memory recency clock (a direct-mapped table updated
 * by open and read, no write per read), the stored atime and the mtime.
 * With at most NS_EVICT_SAMPLE files in the store the order is exact. */
#include "ns_priv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ns_cap_full(struct ns *ns, struct lsm_err *err)
{
	ns->enospc++;
	return lsm_err_set(err, -ENOSPC,
			   "lsmfs: the store is full: max_size is %llu bytes "
			   "and %lld are in use (delete files, or mount with "
			   "a larger max_size or on_full=evict)",
			   (unsigned long long)ns->opt.max_size,
			   (long long)ns->live_bytes);
}

void ns_set_gone_fn(struct ns *ns, ns_gone_fn fn, void *ctx)
{
	ns->gone_fn = fn;
	ns->gone_ctx = ctx;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct ns_clock_slot *clock_slot(struct ns *ns, uint64_t ino)
{
	return &ns->clock[(ino * 0x9e3779b97f4a7c15ull >> 32) %
			  NS_CLOCK_SLOTS];
}

void ns_touch_access(struct ns *ns, uint64_t ino)
{
	struct ns_clock_slot *s;
	uint64_t now;

	if (!ns->clock)
		return;
	s = clock_slot(ns, ino);
	now = now_ms();
	if (atomic_load_explicit(&s->ino, memory_order_relaxed) != ino) {
		/* a new slot: its stored atime unknown, nothing to store */
		atomic_store_explicit(&s->ino, ino, memory_order_relaxed);
		atomic_store_explicit(&s->stored, now, memory_order_relaxed);
	}
	atomic_store_explicit(&s->ms, now, memory_order_relaxed);
}

void ns_cap_opened(struct ns *ns, uint64_t ino, const struct codec_inode *in)
{
	struct ns_clock_slot *s;
	uint64_t now;

	if (!ns->clock)
		return;
	s = clock_slot(ns, ino);
	now = now_ms();
	atomic_store_explicit(&s->ino, ino, memory_order_relaxed);
	atomic_store_explicit(&s->stored, in ? (uint64_t)in->atime_sec * 1000 +
			      in->atime_nsec / 1000000 : now,
			      memory_order_relaxed);
	atomic_store_explicit(&s->ms, now, memory_order_relaxed);
}

/* The last use of INO (record IN), in ms since the epoch. */
static uint64_t last_use(struct ns *ns, uint64_t ino,
			 const struct codec_inode *in)
{
	uint64_t a = (uint64_t)in->atime_sec * 1000 + in->atime_nsec / 1000000;
	uint64_t m = (uint64_t)in->mtime_sec * 1000 + in->mtime_nsec / 1000000;
	uint64_t t = a > m ? a : m;

	if (ns->clock) {
		struct ns_clock_slot *s = clock_slot(ns, ino);
		uint64_t ms = atomic_load_explicit(&s->ms,
						   memory_order_relaxed);

		if (atomic_load_explicit(&s->ino, memory_order_relaxed) == ino &&
		    ms > t)
			t = ms;
	}
	return t;
}

void ns_cap_persist_use(struct ns *ns, uint64_t ino)
{
	struct ns_clock_slot *s = clock_slot(ns, ino);
	struct lsm_batch *b;
	struct ns_lockset ls;
	struct codec_inode in;
	uint64_t ms, stored;

	if (ns->opt.read_only ||
	    atomic_load_explicit(&s->ino, memory_order_relaxed) != ino)
		return;
	ms = atomic_load_explicit(&s->ms, memory_order_relaxed);
	/* cheap test first: no record read unless a write is due */
	if (ms < atomic_load_explicit(&s->stored, memory_order_relaxed) +
		 NS_ATIME_LAZY_S * 1000ull)
		return;
	b = lsm_batch_new();
	if (!b)
		return;
	ns_lock(ns, &ls, &ino, 1, true);
	if (ns_get_inode(ns, ino, &in, NULL, NULL, NULL) == 0 &&
	    S_ISREG(in.mode) && in.nlink > 0) {
		stored = (uint64_t)in.atime_sec * 1000 + in.atime_nsec / 1000000;
		if (ms >= stored + NS_ATIME_LAZY_S * 1000ull) {
			in.atime_sec = (int64_t)(ms / 1000);
			in.atime_nsec = (uint32_t)(ms % 1000) * 1000000u;
			/* best effort: a failure only loses recency */
			if (ns_batch_inode(b, ino, &in, NULL, 0) == 0 &&
			    ns_commit(ns, b, NULL) == 0)
				stored = ms;
		}
		atomic_store_explicit(&s->stored, stored,
				      memory_order_relaxed);
	}
	ns_unlock(ns, &ls);
	lsm_batch_free(b);
}

int ns_cap_load(struct ns *ns, struct lsm_err *err)
{
	uint8_t start[1] = { CODEC_K_INODE };
	struct lsm_iter *it;
	int64_t live = 0;
	int rc;

	if (ns->opt.on_full_evict && !ns->clock) {
		ns->clock = calloc(NS_CLOCK_SLOTS, sizeof(*ns->clock));
		if (!ns->clock)
			return ns_enomem(err);
	}
	ns->evict_rng = ns_now_ns() | 1;
	rc = lsm_iter_new(ns->db, NULL, &it, err);
	if (rc < 0)
		return rc;
	for (lsm_iter_seek(it, start, 1); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);
		struct codec_inode in;

		if (klen == 0 || k[0] != CODEC_K_INODE)
			break;
		if (codec_inode_decode(v, vlen, &in, NULL, NULL) == 0)
			live += (int64_t)in.alloc;
	}
	rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	ns->live_bytes = live;
	return rc;
}

struct victim {
	uint64_t parent, ino, use;
	size_t nlen;
	char name[CODEC_NAME_MAX + 1];
};

static uint64_t rng_next(struct ns *ns)
{
	uint64_t x = ns->evict_rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	ns->evict_rng = x;
	return x;
}

/* Looks at up to NS_EVICT_SAMPLE candidates from a random entry on
 * (wrapping once); *V gets the best victim.  1 found, 0 none, -errno. */
static int sample(struct ns *ns, uint64_t skip, struct victim *v,
		  struct lsm_err *err)
{
	uint8_t start[9], first[1] = { CODEC_K_DENTRY };
	uint64_t span = ns_inodes_used(ns), now = ns_now_ns();
	unsigned seen = 0, visited = 0;
	bool found = false, wrapped = false;
	struct lsm_iter *it;
	int rc = lsm_iter_new(ns->db, NULL, &it, err);

	if (rc < 0)
		return rc;
	codec_prefix(start, CODEC_K_DENTRY,
		     span > 1 ? 1 + rng_next(ns) % (span - 1) : 1);
	lsm_iter_seek(it, start, sizeof(start));
	while (seen < NS_EVICT_SAMPLE && visited < 8 * NS_EVICT_SAMPLE) {
		size_t klen, vlen, nlen;
		const uint8_t *k, *val;
		struct codec_inode in;
		const char *name;
		uint64_t parent, ino, use;
		uint32_t type;

		if (!lsm_iter_valid(it) ||
		    (k = lsm_iter_key(it, &klen), klen == 0 ||
		     k[0] != CODEC_K_DENTRY)) {
			if (wrapped || lsm_iter_status(it, NULL) < 0)
				break;
			wrapped = true;
			lsm_iter_seek(it, first, 1);
			continue;
		}
		if (wrapped && memcmp(k, start, 9) >= 0)
			break; /* back where we began */
		visited++;
		val = lsm_iter_value(it, &vlen);
		if (codec_parse_dentry_key(k, klen, &parent, &name, &nlen) ||
		    codec_dentry_decode(val, vlen, &ino, &type) < 0 ||
		    type != S_IFREG || ino == skip ||
		    ns_get_inode(ns, ino, &in, NULL, NULL, NULL) < 0 ||
		    in.nlink != 1 || ns_has_handle(ns, ino)) {
			lsm_iter_next(it);
			continue;
		}
		seen++;
		use = ns_expired_at(&in, now) ? 0 : last_use(ns, ino, &in);
		if (!found || use < v->use) {
			found = true;
			v->parent = parent;
			v->ino = ino;
			v->use = use;
			v->nlen = nlen;
			memcpy(v->name, name, nlen);
			v->name[nlen] = '\0';
		}
		lsm_iter_next(it);
	}
	rc = lsm_iter_status(it, err);
	lsm_iter_free(it);
	return rc < 0 ? rc : found;
}

int ns_cap_make_room(struct ns *ns, uint64_t need, uint64_t skip,
		     struct lsm_err *err)
{
	unsigned misses = 0;
	int rc = 0;

	if (need > ns->opt.max_size) /* no eviction would do */
		return -ENOSPC;
	pthread_mutex_lock(&ns->evict_mu);
	while (ns->live_bytes + (int64_t)need > (int64_t)ns->opt.max_size) {
		struct victim v;

		rc = sample(ns, skip, &v, err);
		if (rc == 1)
			rc = ns_drop_name(ns, v.parent, v.name, v.nlen, v.ino,
					  NS_DROP_EVICT, err);
		if (rc < 0)
			break;
		if (rc == 1) {
			misses = 0;
			if (ns->gone_fn)
				ns->gone_fn(ns->gone_ctx, NS_DROP_EVICT,
					    v.parent, v.ino, v.name, v.nlen);
			continue;
		}
		if (++misses >= 4) { /* nothing evictable is left */
			rc = -ENOSPC;
			break;
		}
	}
	pthread_mutex_unlock(&ns->evict_mu);
	return rc < 0 ? rc : 0;
}
